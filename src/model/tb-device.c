/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "sysfs.h"
#include "tb-device.h"
#include "util.h"

/* Device names are "<domain>-<route>", the route being the hex port numbers per hop; a host router's
 * route is 0 (Documentation/admin-guide/thunderbolt.rst). */
static bool name_is_host_router(const char *name) {
        const char *dash = strchr(name, '-');

        return dash && streq(dash + 1, "0");
}

int tb_device_route(const TbDevice *t, uint64_t *ret) {
        const char *dash = strchr(t->name, '-');
        uint64_t route = 0;

        if (!dash || dash[1] == '\0' || strlen(dash + 1) > 16)
                return -EINVAL;
        for (const char *c = dash + 1; *c; c++) {
                int v = unhexchar(*c);
                if (v < 0)
                        return v;
                route = route << 4 | (uint64_t) v;
        }
        *ret = route;
        return 0;
}

static int name_or_id(struct udev_device *d, const char *attr, uint32_t id, char **ret, bool *made_up) {
        int r;

        r = sysfs_attr_string(d, attr, ret);
        if (r >= 0 && **ret)
                return 0;
        if (r >= 0)
                *ret = mfree(*ret);
        if (r < 0 && r != -ENOENT)
                return r;
        *made_up = true;
        if (asprintf(ret, "0x%04x", id) < 0)
                return -ENOMEM;
        return 0;
}

int tb_device_new_from_udev(struct udev_device *d, TbDevice **ret) {
        _cleanup_(tb_device_freep) TbDevice *t = NULL;
        int r;

        t = calloc(1, sizeof(TbDevice));
        if (!t)
                return -ENOMEM;
        t->authorized = t->generation = t->rx_lanes = t->tx_lanes = t->boot = -1;

        t->syspath = strdup(udev_device_get_syspath(d));
        t->name = strdup(udev_device_get_sysname(d) ?: "");
        if (!t->syspath || !t->name)
                return -ENOMEM;
        t->host_router = name_is_host_router(t->name);

        r = sysfs_attr_string(d, "unique_id", &t->unique_id);
        if (r < 0 && r != -ENOENT)
                return r;
        (void) sysfs_attr_u32(d, "vendor", 16, &t->vendor);
        (void) sysfs_attr_u32(d, "device", 16, &t->device);
        r = name_or_id(d, "vendor_name", t->vendor, &t->vendor_name, &t->names_from_ids);
        if (r < 0)
                return r;
        r = name_or_id(d, "device_name", t->device, &t->device_name, &t->names_from_ids);
        if (r < 0)
                return r;
        if (sysfs_attr_int(d, "authorized", &t->authorized) < 0)
                t->authorized = -1;
        (void) sysfs_attr_int(d, "generation", &t->generation);
        (void) sysfs_attr_int(d, "rx_lanes", &t->rx_lanes);
        (void) sysfs_attr_int(d, "tx_lanes", &t->tx_lanes);
        (void) sysfs_attr_int(d, "boot", &t->boot);
        r = sysfs_attr_string(d, "rx_speed", &t->rx_speed);
        if (r < 0 && r != -ENOENT)
                return r;
        r = sysfs_attr_string(d, "tx_speed", &t->tx_speed);
        if (r < 0 && r != -ENOENT)
                return r;

        *ret = TAKE_PTR(t);
        return 0;
}

/* Its text fields, for tb_device_free() and tb_device_dup(): a new one goes here. */
static const size_t tb_device_strings[] = {
        offsetof(TbDevice, syspath),     offsetof(TbDevice, name),        offsetof(TbDevice, unique_id),
        offsetof(TbDevice, vendor_name), offsetof(TbDevice, device_name), offsetof(TbDevice, rx_speed),
        offsetof(TbDevice, tx_speed),
};

TbDevice *tb_device_free(TbDevice *t) {
        if (!t)
                return NULL;
        struct_strings_free(t, tb_device_strings, ELEMENTSOF(tb_device_strings));
        return mfree(t);
}

int tb_device_dup(const TbDevice *t, TbDevice **ret) {
        _cleanup_(tb_device_freep) TbDevice *c = malloc(sizeof(TbDevice));

        if (!c)
                return -ENOMEM;
        *c = *t;
        c->domain = NULL;
        c->parent = NULL;
        if (struct_strings_dup(c, t, tb_device_strings, ELEMENTSOF(tb_device_strings)) < 0)
                return -ENOMEM;
        *ret = TAKE_PTR(c);
        return 0;
}

bool tb_device_is_connected_device(const TbDevice *t) {
        return !t->host_router && t->authorized > 0;
}

static int attr_path(const char *syspath, const char *attr, char **ret) {
        char *p = path_join(syspath, attr);

        if (!p)
                return -ENOMEM;
        *ret = p;
        return 0;
}

int tb_device_read_unique_id(const char *syspath, char **ret) {
        int r = sysfs_read_attr(syspath, "unique_id", ret);
        return r == -ENOENT ? -ENODEV : r;
}

int tb_device_read_authorized(const char *syspath, int *ret) {
        _cleanup_free_ char *v = NULL;
        int r;

        r = sysfs_read_attr(syspath, "authorized", &v);
        if (r == -ENOENT)
                return -ENODEV;
        if (r < 0)
                return r;
        return safe_atoi(v, ret);
}

int tb_device_authorize(const char *syspath, const char *key_hex, bool challenge, usec_t timeout) {
        _cleanup_free_ char *path = NULL;
        int r;

        if (key_hex) {
                _cleanup_free_ char *key_path = NULL;

                r = attr_path(syspath, "key", &key_path);
                if (r < 0)
                        return r;
                r = sysfs_write_timeout(key_path, key_hex, timeout);
                if (r < 0)
                        return r;
        }
        r = attr_path(syspath, "authorized", &path);
        if (r < 0)
                return r;
        r = sysfs_write_timeout(path, key_hex && challenge ? "2" : "1", timeout);
        if (r == -ENOENT)
                return -ENODEV;
        return r;
}

int tb_device_deauthorize(const char *syspath, usec_t timeout) {
        _cleanup_free_ char *path = NULL;
        int r;

        r = attr_path(syspath, "authorized", &path);
        if (r < 0)
                return r;
        r = sysfs_write_timeout(path, "0", timeout);
        return r == -ENOENT ? -ENODEV : r;
}
