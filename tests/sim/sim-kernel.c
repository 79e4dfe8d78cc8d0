/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The kernel behaviours egpu-sim models: Thunderbolt authorization and PCIe tunnels, PCI driver binding,
 * driver_override, new_id/remove_id, reset_method, /dev/vfio group nodes. README.md lists the sources. */

#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "sim-proto.h"
#include "sim.h"
#include "vendor-reset-ids-table.h"

#define PCI_ANY_ID        0xffffffffu
#define VFIO_GROUP_MAJOR  511
#define RESET_METHODS_MAX 7

/* Devices vendor-reset's device table handles: data/tables/vendor-reset-ids.table, upstream's
 * src/device-db.h (gnif/vendor-reset), the same list egpuctl reads; sim.conf may add more. */
static const struct {
        uint16_t vendor, device;
        const char *family;
} vendor_reset_builtin[] = { VENDOR_RESET_IDS_TABLE };

/* the kernel's pci_reset_fn_methods[] names, in its order of preference */
static const char *const reset_names[] = {
        "device_specific", "acpi", "flr", "af_flr", "pm", "bus", "cxl_bus"
};

/* ---------------------------------------------------------------- small helpers */

char *sys_path(const char *rel) {
        return g_build_filename(sim->sys, rel, NULL);
}

static char *id_key(unsigned vendor, unsigned device) {
        return g_strdup_printf("%04x:%04x", vendor & 0xffff, device & 0xffff);
}

/* Contents of an attribute file, without one trailing newline; NULL if it cannot be read. */
char *read_attr(const char *devrel, const char *name) {
        g_autofree char *p = g_build_filename(sim->sys, devrel, name, NULL);
        char *s = NULL;
        size_t n;

        if (!g_file_get_contents(p, &s, &n, NULL))
                return NULL;
        if (n > 0 && s[n - 1] == '\n')
                s[n - 1] = '\0';
        return s;
}

/* Rewrites a file in place: replacing it would turn the descriptors programs hold into "(deleted)" ones. */
static int write_file(const char *path, const char *value) {
        _cleanup_close_ int fd = open(path, O_WRONLY | O_TRUNC | O_CREAT | O_CLOEXEC, 0644);
        size_t len = strlen(value);

        if (fd < 0)
                return -errno;
        if (write(fd, value, len) != (ssize_t) len)
                return -EIO;
        return 0;
}

static int write_attr(const char *devrel, const char *name, const char *value) {
        g_autofree char *p = g_build_filename(sim->sys, devrel, name, NULL);
        return write_file(p, value);
}

static bool is_dev(const char *rel) {
        g_autofree char *p = sys_path(rel);
        g_autofree char *u = g_build_filename(p, "uevent", NULL);
        return g_file_test(u, G_FILE_TEST_IS_REGULAR) && !g_file_test(p, G_FILE_TEST_IS_SYMLINK);
}

/* A udev property from the device's uevent file. */
static char *uevent_get(const char *devrel, const char *key) {
        g_autofree char *s = read_attr(devrel, "uevent");
        g_auto(GStrv) lines = NULL;
        size_t klen = strlen(key);

        if (!s)
                return NULL;
        lines = g_strsplit(s, "\n", -1);
        for (char **l = lines; *l; l++)
                if (strncmp(*l, key, klen) == 0 && (*l)[klen] == '=')
                        return g_strdup(*l + klen + 1);
        return NULL;
}

/* Sets (value != NULL) or drops a property in the uevent file, which libudev enumeration reads. */
static void uevent_set(const char *devrel, const char *key, const char *value) {
        g_autofree char *s = read_attr(devrel, "uevent");
        g_autoptr(GString) out = g_string_new(NULL);
        g_auto(GStrv) lines = NULL;
        size_t klen = strlen(key);

        lines = g_strsplit(s ?: "", "\n", -1);
        for (char **l = lines; *l; l++) {
                if (**l == '\0' || (strncmp(*l, key, klen) == 0 && (*l)[klen] == '='))
                        continue;
                g_string_append_printf(out, "%s\n", *l);
        }
        if (value)
                g_string_append_printf(out, "%s=%s\n", key, value);
        (void) write_attr(devrel, "uevent", out->str);
}

/* Sends a uevent through umockdev; it carries the uevent file's properties, plus @extra ("KEY=value") the
 * way kobject_uevent_env() adds environment that the uevent file does not show. */
static void send_uevent(const char *devrel, const char *action, const char *extra) {
        g_autofree char *upath = g_strconcat("/sys/", devrel, NULL);
        g_autofree char *saved = NULL;

        log_debug("uevent %s %s%s%s\n", action, devrel, extra ? " " : "", extra ?: "");
        if (extra) {
                g_autofree char *p = g_build_filename(sim->sys, devrel, "uevent", NULL);
                g_autofree char *with = NULL;

                if (g_file_get_contents(p, &saved, NULL, NULL)) {
                        with = g_strconcat(saved, extra, "\n", NULL);
                        (void) write_file(p, with);
                }
        }
        umockdev_testbed_uevent(sim->testbed, upath, action);
        if (saved) {
                g_autofree char *p = g_build_filename(sim->sys, devrel, "uevent", NULL);
                (void) write_file(p, saved);
        }
}

/* Basename of a symlink's target, or NULL. */
static char *link_basename(const char *devrel, const char *name) {
        g_autofree char *p = g_build_filename(sim->sys, devrel, name, NULL);
        g_autofree char *t = g_file_read_link(p, NULL);
        return t ? g_path_get_basename(t) : NULL;
}

static char *relative_dots(const char *rel) {
        g_autoptr(GString) s = g_string_new(NULL);
        for (const char *c = rel; *c; c++)
                if (*c == '/')
                        g_string_append(s, "../");
        g_string_append(s, "../");
        return g_string_free(g_steal_pointer(&s), false);
}

/* sysfs_streq(): equal, ignoring one trailing newline on either side */
static bool sysfs_streq(const char *a, const char *b) {
        size_t la = strlen(a), lb = strlen(b);
        if (la > 0 && a[la - 1] == '\n')
                la--;
        if (lb > 0 && b[lb - 1] == '\n')
                lb--;
        return la == lb && strncmp(a, b, la) == 0;
}

/* kstrtouint(s, 0, ...): optional '+', 0x/0 prefixes, one trailing newline. */
static int kstrtouint(const char *s, unsigned *ret) {
        unsigned base = 10;
        uint64_t v = 0;
        const char *p = s;

        if (*p == '+')
                p++;
        if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X') && g_ascii_isxdigit(p[2])) {
                base = 16;
                p += 2;
        } else if (p[0] == '0')
                base = 8;
        if (!g_ascii_isxdigit(*p))
                return -EINVAL;
        for (; *p && *p != '\n'; p++) {
                int d = g_ascii_xdigit_value(*p);
                if (d < 0 || (unsigned) d >= base)
                        return -EINVAL;
                v = v * base + d;
                if (v > UINT_MAX)
                        return -ERANGE;
        }
        if (*p == '\n' && p[1] != '\0')
                return -EINVAL;
        *ret = (unsigned) v;
        return 0;
}

bool sim_rule_matches(const Rule *r, const char *rel) {
        return fnmatch(r->glob, rel, 0) == 0;
}

void sim_dynid_free(gpointer p) {
        DynId *id = p;
        g_free(id->driver);
        g_free(id);
}

/* ---------------------------------------------------------------- configuration */

static unsigned parse_hex(const char *s) {
        return (unsigned) g_ascii_strtoull(s, NULL, 16);
}

static bool parse_id(const char *s, unsigned *vendor, unsigned *device) {
        g_auto(GStrv) v = g_strsplit(s, ":", 2);
        if (g_strv_length(v) != 2 || !g_ascii_isxdigit(v[0][0]) || !g_ascii_isxdigit(v[1][0]))
                return false;
        *vendor = parse_hex(v[0]);
        *device = parse_hex(v[1]);
        return true;
}

int sim_load_config(const char *scenario) {
        g_autofree char *path = g_build_filename(scenario, "sim.conf", NULL), *s = NULL;
        g_auto(GStrv) lines = NULL;
        int lineno = 0;

        for (size_t i = 0; i < G_N_ELEMENTS(vendor_reset_builtin); i++)
                g_hash_table_add(
                        sim->vendor_reset,
                        id_key(vendor_reset_builtin[i].vendor, vendor_reset_builtin[i].device));

        if (!g_file_get_contents(path, &s, NULL, NULL))
                return 0; /* no sim.conf: no reactions that need one */
        lines = g_strsplit(s, "\n", -1);
        for (char **l = lines; *l; l++) {
                g_auto(GStrv) w = NULL;
                unsigned v, d;
                size_t n;

                lineno++;
                g_strstrip(*l);
                if (**l == '\0' || **l == '#')
                        continue;
                w = g_strsplit_set(*l, " \t", -1);
                n = 0;
                for (char **x = w; *x; x++)
                        if (**x)
                                w[n++] = *x;
                        else
                                g_free(*x);
                w[n] = NULL;

                if (streq0(w[0], "driver") && n == 3 && parse_id(w[1], &v, &d))
                        g_hash_table_replace(sim->natural, id_key(v, d), g_strdup(w[2]));
                else if (streq0(w[0], "dynid") && n == 3 && parse_id(w[2], &v, &d)) {
                        DynId *id = g_new0(DynId, 1);
                        *id = (DynId){ g_strdup(w[1]), v, d, PCI_ANY_ID, PCI_ANY_ID, 0, 0 };
                        g_ptr_array_add(sim->dynids, id);
                } else if (streq0(w[0], "reset") && n >= 2 && parse_id(w[1], &v, &d))
                        g_hash_table_replace(sim->reset, id_key(v, d), g_strjoinv(" ", w + 2));
                else if (streq0(w[0], "vendor-reset") && n == 2 && parse_id(w[1], &v, &d))
                        g_hash_table_add(sim->vendor_reset, id_key(v, d));
                else if (streq0(w[0], "key") && n == 3 && strlen(w[2]) == 64)
                        g_hash_table_replace(sim->device_keys, g_strdup(w[1]), g_ascii_strdown(w[2], -1));
                else {
                        g_printerr("egpu-sim: %s:%d: cannot parse \"%s\"\n", path, lineno, *l);
                        return -EINVAL;
                }
        }
        return 0;
}

/* ---------------------------------------------------------------- PCI functions */

static void pci_dev_free(PciDev *d) {
        if (!d)
                return;
        g_free(d->bdf);
        g_free(d->path);
        g_free(d->natural);
        g_free(d->initial_reset);
        g_free(d);
}

static unsigned attr_hex(const char *devrel, const char *name) {
        g_autofree char *s = read_attr(devrel, name);
        return s ? parse_hex(s) : 0;
}

/* Registers the PCI function at @devrel; @driver_hint is the driver its definition recorded. */
/* udev's database entry of a PCI device, /run/udev/data/+pci:BDF, as udevd writes it once it handled the
 * device's "add" (systemd, src/libsystemd/sd-device/device-private.c device_update_db()): "I:" the time it
 * was first seen, then "E:KEY=VALUE" for the properties udev added, here the scenario's ID_* ones (the
 * hwdb's names). umockdev redirects /run/udev/data into the testbed. Not present: the entry goes. */
static void udev_db_update(const char *devrel, bool present) {
        g_autofree char *bdf = g_path_get_basename(devrel);
        g_autofree char *dir = g_build_filename(sim->root, "run", "udev", "data", NULL);
        g_autofree char *name = g_strconcat("+pci:", bdf, NULL);
        g_autofree char *path = g_build_filename(dir, name, NULL);
        g_autofree char *uevent = present ? read_attr(devrel, "uevent") : NULL;
        g_autoptr(GString) db = g_string_new(NULL);
        g_auto(GStrv) lines = NULL;

        if (!present) {
                (void) unlink(path);
                return;
        }
        g_string_append_printf(db, "I:%" G_GINT64_FORMAT "\n", g_get_monotonic_time());
        lines = g_strsplit(uevent ?: "", "\n", -1);
        for (char **l = lines; *l; l++)
                if (g_str_has_prefix(*l, "ID_"))
                        g_string_append_printf(db, "E:%s\n", *l);
        (void) g_mkdir_with_parents(dir, 0755);
        (void) write_file(path, db->str);
}

/* ---------------------------------------------------------------- power (drivers/pci/pci.c, pci-sysfs.c,
 * drivers/base/power/sysfs.c, drivers/vfio/pci/vfio_pci_core.c) */

static void power_control_set(const PciDev *d, const char *value) {
        g_autofree char *dir = g_build_filename(sim->sys, d->path, "power", NULL);

        (void) g_mkdir_with_parents(dir, 0755);
        (void) write_attr(d->path, "power/control", value);
}

/* Every PCI function shows power_state (pci-sysfs.c power_state_show(): "D0" once it is enabled) and
 * power/control: "on" from pci_pm_init()'s pm_runtime_forbid() until a driver allows runtime PM, as
 * vfio-pci does; driver is the one bound now. What the scenario defines stays. */
static void pci_power_init(const PciDev *d, const char *driver) {
        g_autofree char *state = read_attr(d->path, "power_state"),
                        *control = read_attr(d->path, "power/control");

        if (!state)
                (void) write_attr(d->path, "power_state", "D0\n");
        if (!control)
                power_control_set(d, streq0(driver, "vfio-pci") ? "auto\n" : "on\n");
}

/* control_store(): "on" forbids runtime PM, which resumes the device (rpm_resume(), synchronous: D0 when
 * the write returns); "auto" allows it; anything else EINVAL. */
static int pci_write_power_control(PciDev *d, const char *buf, size_t len) {
        if (sysfs_streq(buf, "on")) {
                power_control_set(d, "on\n");
                (void) write_attr(d->path, "power_state", "D0\n");
        } else if (sysfs_streq(buf, "auto"))
                power_control_set(d, "auto\n");
        else
                return -EINVAL;
        return (int) len;
}

int sim_runtime_suspend(const char *bdf, const char *state) {
        PciDev *d = g_hash_table_lookup(sim->pci, bdf);
        g_autofree char *control = NULL, *value = NULL;

        if (!d)
                return -ENODEV;
        if (!streq0(state, "D3hot") && !streq0(state, "D3cold"))
                return -EINVAL;
        control = read_attr(d->path, "power/control");
        if (control && sysfs_streq(control, "on"))
                return -EPERM; /* runtime PM forbidden: rpm_suspend() gives -EACCES and nothing moves */
        value = g_strconcat(state, "\n", NULL);
        log_debug("runtime suspend %s to %s\n", bdf, state);
        return write_attr(d->path, "power_state", value);
}

static PciDev *pci_register(const char *devrel, const char *driver_hint) {
        PciDev *d = g_new0(PciDev, 1);
        g_autofree char *key = NULL;
        const char *natural;

        d->path = g_strdup(devrel);
        d->bdf = g_path_get_basename(devrel);
        d->vendor = attr_hex(devrel, "vendor");
        d->device = attr_hex(devrel, "device");
        d->subvendor = attr_hex(devrel, "subsystem_vendor");
        d->subdevice = attr_hex(devrel, "subsystem_device");
        d->class = attr_hex(devrel, "class");
        d->initial_reset = read_attr(devrel, "reset_method");
        key = id_key(d->vendor, d->device);
        natural = g_hash_table_lookup(sim->natural, key);
        /* vfio-pci and pci-stub match only through driver_override or new_id, never by their id table */
        if (!natural && driver_hint && !streq0(driver_hint, "vfio-pci") && !streq0(driver_hint, "pci-stub"))
                natural = driver_hint;
        d->natural = g_strdup(natural);
        g_hash_table_replace(sim->pci, d->bdf, d);
        udev_db_update(devrel, true);
        log_debug("pci %s %04x:%04x natural driver %s\n", d->bdf, d->vendor, d->device, d->natural ?: "-");
        return d;
}

int sim_scan_pci(void) {
        g_autofree char *dir = sys_path("bus/pci/devices"), *sysreal = realpath(sim->sys, NULL);
        g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
        const char *name;

        if (!d || !sysreal)
                return 0;
        while ((name = g_dir_read_name(d))) {
                g_autofree char *p = g_build_filename(dir, name, NULL), *real = realpath(p, NULL);
                g_autofree char *drv = NULL;
                const char *rel;

                if (!real || !g_str_has_prefix(real, sysreal) || real[strlen(sysreal)] != '/')
                        continue;
                rel = real + strlen(sysreal) + 1;
                drv = uevent_get(rel, "DRIVER");
                pci_power_init(pci_register(rel, drv), drv);
        }
        return 0;
}

static PciDev *pci_find(const char *name) {
        GHashTableIter i;
        PciDev *d;

        g_hash_table_iter_init(&i, sim->pci);
        while (g_hash_table_iter_next(&i, NULL, (gpointer *) &d))
                if (sysfs_streq(d->bdf, name))
                        return d;
        return NULL;
}

static PciDev *pci_find_path(const char *devrel) {
        g_autofree char *bdf = g_path_get_basename(devrel);
        PciDev *d = g_hash_table_lookup(sim->pci, bdf);
        return d && streq0(d->path, devrel) ? d : NULL;
}

static char *driver_of(const PciDev *d) {
        return link_basename(d->path, "driver");
}

const char *sim_driver_of(const char *bdf, char *buf, size_t size) {
        PciDev *d = g_hash_table_lookup(sim->pci, bdf);
        g_autofree char *drv = d ? driver_of(d) : NULL;

        if (!d)
                return NULL;
        g_strlcpy(buf, drv ?: "none", size);
        return buf;
}

static char *group_of(const PciDev *d) {
        return link_basename(d->path, "iommu_group");
}

static bool driver_exists(const char *drv) {
        g_autofree char *p = g_build_filename(sim->sys, "bus/pci/drivers", drv, NULL);
        return g_file_test(p, G_FILE_TEST_IS_DIR);
}

static bool dynid_matches(const DynId *id, const PciDev *d) {
        return (id->vendor == PCI_ANY_ID || id->vendor == d->vendor) &&
                (id->device == PCI_ANY_ID || id->device == d->device) &&
                (id->subvendor == PCI_ANY_ID || id->subvendor == d->subvendor) &&
                (id->subdevice == PCI_ANY_ID || id->subdevice == d->subdevice) &&
                ((id->class ^ d->class) & id->class_mask) == 0;
}

static char *override_of(const PciDev *d) {
        g_autofree char *o = read_attr(d->path, "driver_override");
        return o && *o && !streq0(o, "(null)") ? g_steal_pointer(&o) : NULL;
}

/* pci_match_device(): driver_override decides alone; otherwise dynamic ids, then the id table */
static bool driver_matches(const PciDev *d, const char *drv) {
        g_autofree char *o = override_of(d);

        if (o)
                return streq0(o, drv);
        for (unsigned i = 0; i < sim->dynids->len; i++) {
                DynId *id = g_ptr_array_index(sim->dynids, i);
                if (streq0(id->driver, drv) && dynid_matches(id, d))
                        return true;
        }
        return streq0(d->natural, drv);
}

/* /dev/vfio/N exists while a member of group N is bound to vfio-pci. umockdev 0.17 asserts when a node
 * it removed is created again, so the group's device is created once, and afterwards its node is
 * hidden and shown again around remove and add uevents (its /sys/devices/virtual/vfio/N stays). */
static void vfio_group_update(const char *group) {
        g_autofree char *rel = g_strdup_printf("devices/virtual/vfio/%s", group);
        g_autofree char *node = g_strdup_printf("%s/dev/vfio/%s", sim->root, group);
        g_autofree char *hidden = g_strdup_printf("%s/dev/vfio/.removed-%s", sim->root, group);
        g_autofree char *mark = g_strdup_printf("%s/dev/.node/vfio_%s", sim->root, group);
        g_autofree char *hidden_mark = g_strdup_printf("%s/dev/.node/.removed-vfio_%s", sim->root, group);
        bool need = false, have = g_file_test(node, G_FILE_TEST_IS_SYMLINK);
        GHashTableIter i;
        PciDev *d;

        g_hash_table_iter_init(&i, sim->pci);
        while (g_hash_table_iter_next(&i, NULL, (gpointer *) &d)) {
                g_autofree char *g = group_of(d), *drv = driver_of(d);
                if (streq0(g, group) && streq0(drv, "vfio-pci"))
                        need = true;
        }
        if (need && !have) {
                log_debug("add /dev/vfio/%s\n", group);
                if (!g_hash_table_contains(sim->vfio_created, group)) {
                        g_autofree char *def = g_strdup_printf(
                                "P: /devices/virtual/vfio/%1$s\nN: vfio/%1$s\nE: SUBSYSTEM=vfio\nE: "
                                "DEVNAME=/dev/vfio/%1$s\n"
                                "E: MAJOR=%2$d\nE: MINOR=%1$s\nA: dev=%2$d:%1$s\\n\n\n",
                                group,
                                VFIO_GROUP_MAJOR);
                        g_hash_table_add(sim->vfio_created, g_strdup(group));
                        (void) umockdev_testbed_add_from_string(sim->testbed, def, NULL);
                } else if (rename(hidden, node) < 0 || rename(hidden_mark, mark) < 0)
                        log_debug("failed to show /dev/vfio/%s again: %s\n", group, g_strerror(errno));
                else
                        send_uevent(rel, "add", NULL);
        } else if (!need && have) {
                log_debug("remove /dev/vfio/%s\n", group);
                if (rename(node, hidden) < 0 || rename(mark, hidden_mark) < 0)
                        log_debug("failed to hide /dev/vfio/%s: %s\n", group, g_strerror(errno));
                send_uevent(rel, "remove", NULL);
        }
}

static void pci_bind(PciDev *d, const char *drv) {
        g_autofree char *dots = relative_dots(d->path);
        g_autofree char *target = g_strconcat(dots, "bus/pci/drivers/", drv, NULL);
        g_autofree char *lnk = g_build_filename(sim->sys, d->path, "driver", NULL);
        g_autofree char *dlnk = g_build_filename(sim->sys, "bus/pci/drivers", drv, d->bdf, NULL);
        g_autofree char *dtarget = g_strconcat("../../../../", d->path, NULL);
        g_autofree char *group = group_of(d);

        log_debug("bind %s to %s\n", d->bdf, drv);
        (void) symlink(target, lnk);
        (void) symlink(dtarget, dlnk);
        uevent_set(d->path, "DRIVER", drv);
        send_uevent(d->path, "bind", NULL);
        if (streq0(drv, "vfio-pci")) {
                /* vfio_pci_core_register_device(): D0, then pm_runtime_allow() */
                (void) write_attr(d->path, "power_state", "D0\n");
                power_control_set(d, "auto\n");
        }
        if (group && streq0(drv, "vfio-pci"))
                vfio_group_update(group);
}

static void pci_unbind(PciDev *d) {
        g_autofree char *drv = driver_of(d), *group = group_of(d);
        g_autofree char *lnk = g_build_filename(sim->sys, d->path, "driver", NULL);
        g_autofree char *dlnk = NULL;

        if (!drv)
                return;
        log_debug("unbind %s from %s\n", d->bdf, drv);
        dlnk = g_build_filename(sim->sys, "bus/pci/drivers", drv, d->bdf, NULL);
        (void) unlink(lnk);
        (void) unlink(dlnk);
        uevent_set(d->path, "DRIVER", NULL);
        send_uevent(d->path, "unbind", NULL);
        if (streq0(drv, "vfio-pci")) /* vfio_pci_core_unregister_device(): pm_runtime_forbid() */
                power_control_set(d, "on\n");
        if (group && streq0(drv, "vfio-pci"))
                vfio_group_update(group);
}

/* device_attach(): binds an unbound function to the first driver that matches and is loaded */
static void pci_probe(PciDev *d) {
        g_autofree char *bound = driver_of(d), *o = NULL;

        if (bound)
                return;
        o = override_of(d);
        if (o) {
                if (driver_exists(o))
                        pci_bind(d, o);
                return;
        }
        for (unsigned i = 0; i < sim->dynids->len; i++) {
                DynId *id = g_ptr_array_index(sim->dynids, i);
                if (dynid_matches(id, d) && driver_exists(id->driver)) {
                        pci_bind(d, id->driver);
                        return;
                }
        }
        if (d->natural && driver_exists(d->natural))
                pci_bind(d, d->natural);
}

/* ---------------------------------------------------------------- device removal */

static void remove_device(const char *rel) {
        g_autofree char *upath = g_strconcat("/sys/", rel, NULL), *base = g_path_get_basename(rel);
        g_autofree char *subsystem = uevent_get(rel, "SUBSYSTEM");
        PciDev *d = pci_find_path(rel);

        if (d) {
                g_autofree char *group = NULL;

                pci_unbind(d);
                udev_db_update(rel, false);
                group = group_of(d);
                /* the kernel frees a group with its last device */
                if (group) {
                        g_autofree char *gdir =
                                g_build_filename(sim->sys, "kernel/iommu_groups", group, NULL);
                        g_autofree char *glnk = g_build_filename(gdir, "devices", d->bdf, NULL);
                        g_autofree char *gdevs = g_build_filename(gdir, "devices", NULL);
                        g_autofree char *gtype = g_build_filename(gdir, "type", NULL);

                        if (unlink(glnk) == 0 && rmdir(gdevs) == 0) {
                                (void) unlink(gtype);
                                (void) rmdir(gdir);
                        }
                }
        }
        if (streq0(subsystem, "thunderbolt")) {
                g_autofree char *blnk = g_build_filename(sim->sys, "bus/thunderbolt/devices", base, NULL);
                (void) unlink(blnk);
        }
        send_uevent(rel, "remove", NULL);
        umockdev_testbed_remove_device(sim->testbed, upath);
        if (d) {
                g_hash_table_remove(sim->pci, d->bdf);
                pci_dev_free(d);
        }
}

static int strcmp_desc(gconstpointer a, gconstpointer b) {
        return -strcmp(*(char *const *) a, *(char *const *) b);
}

/* vfio-pci's remove waits until the group's user lets go: the kernel asks it to (the request eventfd) and
 * says so in its log, "vfio-pci BDF: Relaying device request to user (#N)" (drivers/vfio/vfio_main.c
 * vfio_unregister_group_dev(), drivers/vfio/pci/vfio_pci_core.c vfio_pci_core_request()); no uevent marks
 * it, and every removal after it in the same hot-unplug waits too (tests/vm, nested QEMU). */
static bool removal_blocked(const char *rel) {
        PciDev *d = pci_find_path(rel);
        g_autofree char *drv = d ? driver_of(d) : NULL, *group = d ? group_of(d) : NULL;
        int g;

        return d && streq0(drv, "vfio-pci") && group && parse_int(group, &g) == 0 && sim_vfio_group_open(g);
}

/* The kernel asks the user of the function whose removal is under way, the head of the line, once. */
static void deferred_tell(void) {
        const char *head = g_queue_peek_head(sim->deferred);
        static char *told;

        if (!head || streq0(head, told) || !removal_blocked(head))
                return;
        g_free(told);
        told = g_strdup(head);
        g_autofree char *bdf = g_path_get_basename(head);
        sim_kmsg(5, bdf, "vfio-pci %s: Relaying device request to user (#0)", bdf);
}

static gboolean deferred_cb(gpointer p) {
        const char *head;

        while ((head = g_queue_peek_head(sim->deferred))) {
                g_autofree char *rel = NULL;

                if (removal_blocked(head)) {
                        deferred_tell();
                        return G_SOURCE_CONTINUE;
                }
                rel = g_queue_pop_head(sim->deferred);
                log_debug("removal of %s goes on\n", rel);
                if (is_dev(rel))
                        remove_device(rel);
        }
        sim->deferred_timer = 0;
        return G_SOURCE_REMOVE;
}

/* Removes @rel, or puts it in line behind a removal that waits for a VM. */
static void remove_or_defer(const char *rel) {
        if (!sim->deferred)
                sim->deferred = g_queue_new();
        if (g_queue_is_empty(sim->deferred) && !removal_blocked(rel)) {
                remove_device(rel);
                return;
        }
        g_queue_push_tail(sim->deferred, g_strdup(rel));
        deferred_tell();
        if (!sim->deferred_timer)
                sim->deferred_timer = g_timeout_add(20, deferred_cb, NULL);
}

/* Whether the device at @rel is locked (device_lock()) by a removal that waits for a VM: the head of the
 * line, whose vfio-pci remove holds the lock while it waits (drivers/base/dd.c
 * __device_release_driver() under device_lock(); vfio_unregister_group_dev()). The attributes whose
 * show() takes that lock, driver_override (drivers/pci/pci-sysfs.c driver_override_show()) and, in
 * Debian's 6.1.192, uevent (uevent_show(): tests/vm found the daemon and enroll blocked there), cannot be
 * read meanwhile. */
bool sim_device_locked(const char *rel) {
        const char *head = sim->deferred ? g_queue_peek_head(sim->deferred) : NULL;

        return head && streq0(head, rel) && removal_blocked(head);
}

/* Whether a removal of BDF waits in line. */
static bool removal_deferred(const char *bdf) {
        for (GList *l = sim->deferred ? sim->deferred->head : NULL; l; l = l->next) {
                g_autofree char *base = g_path_get_basename(l->data);
                if (streq0(base, bdf))
                        return true;
        }
        return false;
}

/* Removes @rel and every device below it, children first. */
static void remove_subtree(const char *rel) {
        g_autofree char *p = sys_path(rel);
        g_autoptr(GDir) dir = g_dir_open(p, 0, NULL);
        g_autoptr(GPtrArray) children = g_ptr_array_new_with_free_func(g_free);
        const char *name;

        if (!is_dev(rel))
                return;
        while (dir && (name = g_dir_read_name(dir))) {
                g_autofree char *c = g_build_filename(rel, name, NULL);
                if (is_dev(c))
                        g_ptr_array_add(children, g_steal_pointer(&c));
        }
        g_ptr_array_sort(children, strcmp_desc);
        for (unsigned i = 0; i < children->len; i++)
                remove_subtree(g_ptr_array_index(children, i));
        remove_or_defer(rel);
}

/* ---------------------------------------------------------------- Thunderbolt */

static bool has_devtype(const char *rel, const char *devtype) {
        g_autofree char *t = uevent_get(rel, "DEVTYPE");
        return streq0(t, devtype);
}

/* umockdev links Thunderbolt devices from /sys/bus/thunderbolt/devices (older versions: /sys/class) */
static char *tb_find(const char *name) {
        g_autofree char *sysreal = realpath(sim->sys, NULL);

        for (const char *const *d =
                     (const char *const[]){ "bus/thunderbolt/devices", "class/thunderbolt", NULL };
             *d;
             d++) {
                g_autofree char *p = g_build_filename(sim->sys, *d, name, NULL);
                g_autofree char *real = realpath(p, NULL);

                if (real && sysreal && g_str_has_prefix(real, sysreal) && real[strlen(sysreal)] == '/')
                        return g_strdup(real + strlen(sysreal) + 1);
        }
        return NULL;
}

static char *tb_domain_of(const char *rel) {
        g_autofree char *p = g_strdup(rel);
        while (strchr(p, '/')) {
                *strrchr(p, '/') = '\0';
                if (has_devtype(p, "thunderbolt_domain"))
                        return g_steal_pointer(&p);
        }
        return NULL;
}

static GPtrArray *tb_children(const char *rel) {
        g_autofree char *p = sys_path(rel);
        g_autoptr(GDir) dir = g_dir_open(p, 0, NULL);
        GPtrArray *a = g_ptr_array_new_with_free_func(g_free);
        const char *name;

        while (dir && (name = g_dir_read_name(dir))) {
                g_autofree char *c = g_build_filename(rel, name, NULL);
                if (is_dev(c) && has_devtype(c, "thunderbolt_device"))
                        g_ptr_array_add(a, g_steal_pointer(&c));
        }
        g_ptr_array_sort(a, strcmp_desc);
        return a;
}

/* The paragraphs of a umockdev file, one per device, in file order. */
static GPtrArray *read_paragraphs(const char *file) {
        g_autofree char *s = NULL;
        g_auto(GStrv) parts = NULL;
        GPtrArray *a = g_ptr_array_new_with_free_func(g_free);

        if (!g_file_get_contents(file, &s, NULL, NULL))
                return a;
        parts = g_strsplit(s, "\n\n", -1);
        for (char **p = parts; *p; p++) {
                g_strstrip(*p);
                if (g_str_has_prefix(*p, "P: /devices/"))
                        g_ptr_array_add(a, g_strdup(*p));
        }
        return a;
}

/* "devices/..." from a paragraph's "P: /devices/..." line */
static char *paragraph_devrel(const char *para) {
        const char *nl = strchr(para, '\n');
        return g_strndup(para + 4, nl ? (size_t) (nl - para - 4) : strlen(para + 4));
}

/* Creates the links of a ".links" file (PATH TARGET, PATH relative to /sys). */
void sim_make_links(const char *file) {
        g_autofree char *s = NULL;
        g_auto(GStrv) lines = NULL;

        if (!g_file_get_contents(file, &s, NULL, NULL))
                return;
        lines = g_strsplit(s, "\n", -1);
        for (char **l = lines; *l; l++) {
                g_auto(GStrv) w = g_strsplit(g_strstrip(*l), " ", 2);
                g_autofree char *p = NULL, *dir = NULL;

                if (g_strv_length(w) != 2)
                        continue;
                p = sys_path(w[0]);
                dir = g_path_get_dirname(p);
                (void) g_mkdir_with_parents(dir, 0755);
                (void) symlink(g_strstrip(w[1]), p);
                /* a group the kernel creates has a type */
                if (g_str_has_prefix(w[0], "kernel/iommu_groups/") && g_str_has_suffix(dir, "/devices")) {
                        g_autofree char *gdir = g_path_get_dirname(dir);
                        g_autofree char *type = g_build_filename(gdir, "type", NULL);
                        if (!g_file_test(type, G_FILE_TEST_EXISTS))
                                (void) write_file(type, "DMA-FQ\n");
                }
        }
}

static char *tunnel_file(const char *tbname, const char *ext) {
        g_autofree char *f = g_strconcat(tbname, ext, NULL);
        return g_build_filename(sim->scenario, "tunnels", f, NULL);
}

/* The PCIe tunnel is up: its functions appear, parents first, each with "add" and, if a driver takes it,
 * "bind" (pci_bus_add_device() attaches drivers right after the device is added). */
static void tunnel_up(const char *tbname) {
        g_autofree char *links = tunnel_file(tbname, ".links"), *file = tunnel_file(tbname, ".umockdev");
        g_autoptr(GPtrArray) paras = read_paragraphs(file);

        log_debug("tunnel to %s up: %u devices\n", tbname, paras->len);
        sim_make_links(links);
        for (unsigned i = 0; i < paras->len; i++) {
                const char *para = g_ptr_array_index(paras, i);
                g_autofree char *devrel = paragraph_devrel(para);
                g_autoptr(GString) def = g_string_new(NULL);
                g_auto(GStrv) lines = g_strsplit(para, "\n", -1);
                g_autofree char *hint = NULL;
                const char *rel = devrel;
                bool pci = false;

                if (is_dev(rel))
                        continue;
                for (char **l = lines; *l; l++) {
                        if (g_str_has_prefix(*l, "E: DRIVER=")) {
                                g_free(hint);
                                hint = g_strdup(*l + 10);
                                continue;
                        }
                        if (g_str_has_prefix(*l, "L: driver="))
                                continue;
                        if (streq0(*l, "E: SUBSYSTEM=pci"))
                                pci = true;
                        g_string_append_printf(def, "%s\n", *l);
                }
                g_string_append_c(def, '\n');
                if (!umockdev_testbed_add_from_string(sim->testbed, def->str, NULL)) {
                        g_printerr("egpu-sim: %s: cannot add %s\n", file, devrel);
                        continue;
                }
                if (pci) {
                        PciDev *d = pci_register(rel, hint);

                        pci_power_init(d, NULL); /* unbound until pci_probe() */
                        pci_probe(d);
                }
        }
}

/* The tunnel is down: pciehp removes its functions, children first. */
static void tunnel_down(const char *tbname) {
        g_autofree char *links = tunnel_file(tbname, ".links"), *file = tunnel_file(tbname, ".umockdev");
        g_autoptr(GPtrArray) paras = read_paragraphs(file);
        g_autofree char *s = NULL;

        log_debug("tunnel to %s down\n", tbname);
        for (unsigned i = paras->len; i > 0; i--) {
                g_autofree char *devrel = paragraph_devrel(g_ptr_array_index(paras, i - 1));
                remove_subtree(devrel);
        }
        if (g_file_get_contents(links, &s, NULL, NULL)) {
                g_auto(GStrv) lines = g_strsplit(s, "\n", -1);
                for (char **l = lines; *l; l++) {
                        g_auto(GStrv) w = g_strsplit(g_strstrip(*l), " ", 2);
                        g_autofree char *p = NULL;
                        if (g_strv_length(w) != 2)
                                continue;
                        g_autofree char *base = g_path_get_basename(w[0]);

                        /* the group link of a device whose removal waits goes with the device */
                        if (removal_deferred(base))
                                continue;
                        p = sys_path(w[0]);
                        (void) unlink(p);
                }
        }
}

typedef struct TunnelChange {
        char *tbname;
        bool up;
} TunnelChange;

static void tunnel_change_free(gpointer p) {
        TunnelChange *c = p;
        g_free(c->tbname);
        g_free(c);
}

static gboolean tunnel_change_cb(gpointer p) {
        TunnelChange *c = p;

        g_hash_table_remove(sim->tunnel_timers, c->tbname);
        if (c->up)
                tunnel_up(c->tbname);
        else
                tunnel_down(c->tbname);
        return G_SOURCE_REMOVE;
}

static void tunnel_cancel(const char *tbname) {
        guint id = GPOINTER_TO_UINT(g_hash_table_lookup(sim->tunnel_timers, tbname));
        if (id) {
                g_source_remove(id);
                g_hash_table_remove(sim->tunnel_timers, tbname);
        }
}

/* Tunnels change after the write returned, like the kernel's PCIe hotplug does. */
static void tunnel_schedule(const char *tbname, bool up) {
        TunnelChange *c;
        guint id;

        tunnel_cancel(tbname);
        if (up && sim->tunnel_delay_ms < 0)
                return; /* --tunnel-delay-ms -1: the functions never appear */
        c = g_new0(TunnelChange, 1);
        c->tbname = g_strdup(tbname);
        c->up = up;
        id = g_timeout_add_full(
                G_PRIORITY_DEFAULT,
                MAX(sim->tunnel_delay_ms, 0),
                tunnel_change_cb,
                c,
                tunnel_change_free);
        g_hash_table_replace(sim->tunnel_timers, g_strdup(tbname), GUINT_TO_POINTER(id));
}

static unsigned tb_authorized(const char *rel) {
        g_autofree char *a = read_attr(rel, "authorized");
        unsigned v = 0;
        return a && kstrtouint(a, &v) == 0 ? v : 0;
}

static bool domain_deauthorization(const char *rel) {
        g_autofree char *dom = tb_domain_of(rel);
        g_autofree char *v = dom ? read_attr(dom, "deauthorization") : NULL;
        return streq0(v, "1");
}

/* disapprove_switch(): children first; needs a connection manager with deauthorization */
static int tb_disapprove(const char *rel) {
        g_autoptr(GPtrArray) children = NULL;
        g_autofree char *name = NULL;

        if (tb_authorized(rel) == 0)
                return 0;
        children = tb_children(rel);
        for (unsigned i = 0; i < children->len; i++) {
                int r = tb_disapprove(g_ptr_array_index(children, i));
                if (r < 0)
                        return r;
        }
        if (!domain_deauthorization(rel))
                return -EPERM;
        name = g_path_get_basename(rel);
        tunnel_schedule(name, false);
        (void) write_attr(rel, "authorized", "0\n");
        send_uevent(rel, "change", "AUTHORIZED=0");
        return 0;
}

/* authorized_store() and tb_switch_set_authorized(). The domain's "deauthorization" tells the connection
 * managers apart: 1 is the software one (can deauthorize, has no key operations), 0 is the firmware one
 * (ICM: keys, no deauthorization). */
static int tb_write_authorized(const char *rel, const char *buf, size_t len) {
        g_autofree char *parent = g_path_get_dirname(rel), *key = NULL, *name = g_path_get_basename(rel);
        g_autofree char *envp = NULL;
        unsigned val, cur = tb_authorized(rel);
        bool sw_cm = domain_deauthorization(rel);
        int r;

        r = kstrtouint(buf, &val);
        if (r < 0)
                return r;
        if (val > 2)
                return -EINVAL;
        if (!!cur == !!val)
                return -EINVAL;
        if (val == 0) {
                /* the host router (route 0) cannot be deauthorized */
                if (!has_devtype(parent, "thunderbolt_device"))
                        return -EINVAL;
                r = tb_disapprove(rel);
                return r < 0 ? r : (int) len;
        }

        /* the parent router must be authorized first */
        if (!has_devtype(parent, "thunderbolt_device") || tb_authorized(parent) == 0)
                return -EINVAL;
        key = read_attr(rel, "key");
        if (key && *key == '\0')
                g_clear_pointer(&key, g_free);
        if (val == 1 && key) {
                if (sw_cm)
                        return -EPERM; /* no add_switch_key */
                g_hash_table_replace(sim->device_keys, g_strdup(name), g_strdup(key));
        } else if (val == 2) {
                const char *stored;
                if (!key)
                        return -EINVAL; /* challenge without a key */
                if (sw_cm)
                        return -EPERM; /* no challenge_switch_key */
                stored = g_hash_table_lookup(sim->device_keys, name);
                if (!stored || g_ascii_strcasecmp(stored, key) != 0)
                        return -EKEYREJECTED;
        }
        envp = g_strdup_printf("%u\n", val);
        (void) write_attr(rel, "authorized", envp);
        g_free(envp);
        envp = g_strdup_printf("AUTHORIZED=%u", val);
        send_uevent(rel, "change", envp);
        tunnel_schedule(name, true);
        return (int) len;
}

/* key_store(): 64 hex digits (what follows is ignored) or "\n" to clear; EBUSY once authorized */
static int tb_write_key(const char *rel, const char *buf, size_t len) {
        char hex[65];
        bool clear = streq0(buf, "\n");

        if (!clear) {
                for (int i = 0; i < 64; i++) {
                        if (!g_ascii_isxdigit(buf[i]))
                                return -EINVAL;
                        hex[i] = g_ascii_tolower(buf[i]);
                }
                hex[64] = '\0';
        }
        if (tb_authorized(rel) != 0)
                return -EBUSY;
        if (clear)
                (void) write_attr(rel, "key", "\n");
        else {
                g_autofree char *v = g_strconcat(hex, "\n", NULL);
                (void) write_attr(rel, "key", v);
        }
        return (int) len;
}

static void tb_unplug(const char *rel) {
        g_autoptr(GPtrArray) children = tb_children(rel);
        g_autofree char *name = g_path_get_basename(rel);

        for (unsigned i = 0; i < children->len; i++)
                tb_unplug(g_ptr_array_index(children, i));
        tunnel_cancel(name);
        tunnel_down(name);
        remove_subtree(rel);
}

int sim_unplug(const char *tbname) {
        g_autofree char *rel = tb_find(tbname);

        if (!rel || !is_dev(rel))
                return -ENODEV;
        log_debug("unplug %s\n", tbname);
        tb_unplug(rel);
        return 0;
}

int sim_plug(const char *tbname) {
        g_autofree char *f = g_strconcat(tbname, ".umockdev", NULL),
                        *l = g_strconcat(tbname, ".links", NULL);
        g_autofree char *file = g_build_filename(sim->scenario, "hotplug", f, NULL);
        g_autofree char *links = g_build_filename(sim->scenario, "hotplug", l, NULL);
        g_autofree char *rel = tb_find(tbname);
        g_autoptr(GPtrArray) paras = NULL;

        if (rel && is_dev(rel))
                return -EEXIST;
        if (!g_file_test(file, G_FILE_TEST_IS_REGULAR))
                return -ENOENT;
        log_debug("plug %s\n", tbname);
        sim_make_links(links);
        paras = read_paragraphs(file);
        for (unsigned i = 0; i < paras->len; i++) {
                const char *para = g_ptr_array_index(paras, i);
                g_autofree char *def = g_strconcat(para, "\n\n", NULL);

                if (!umockdev_testbed_add_from_string(sim->testbed, def, NULL))
                        return -EINVAL;
        }
        return 0;
}

/* ---------------------------------------------------------------- PCI attributes */

/* driver_set_override(): up to the first newline; "\n" (or a string of NULs) clears to "(null)" */
static int pci_write_driver_override(PciDev *d, const char *buf, size_t len) {
        size_t n = strlen(buf);
        const char *nl;

        if (len >= SIM_PAGE_SIZE - 1)
                return -EINVAL;
        nl = memchr(buf, '\n', n);
        if (nl)
                n = nl - buf;
        if (n == 0)
                (void) write_attr(d->path, "driver_override", "(null)\n");
        else {
                g_autofree char *v = g_strdup_printf("%.*s\n", (int) n, buf);
                (void) write_attr(d->path, "driver_override", v);
        }
        return (int) len;
}

static bool module_loaded(const char *module) {
        g_autofree char *p = g_build_filename(sim->sys, "module", module, NULL);
        return g_file_test(p, G_FILE_TEST_IS_DIR);
}

/* The reset methods the device supports now: sim.conf's "reset" line or the reset_method it was created
 * with; device_specific for vendor-reset's devices while vendor_reset is loaded (it hooks the kernel's
 * probe). */
static bool reset_supported(const PciDev *d, const char *method) {
        g_autofree char *key = id_key(d->vendor, d->device);
        const char *conf = g_hash_table_lookup(sim->reset, key);
        bool vr = g_hash_table_contains(sim->vendor_reset, key);
        g_auto(GStrv) m = g_strsplit(conf ?: d->initial_reset ?: "", " ", -1);

        if (vr && streq0(method, "device_specific") && module_loaded("vendor_reset"))
                return true;
        if (vr && !conf && streq0(method, "device_specific"))
                return false;
        return g_strv_contains((const char *const *) m, method);
}

/* reset_method_store() */
static int pci_write_reset_method(PciDev *d, const char *buf, size_t len) {
        g_autoptr(GString) out = g_string_new(NULL);
        g_auto(GStrv) tokens = NULL;
        unsigned n = 0;

        if (sysfs_streq(buf, "")) {
                (void) write_attr(d->path, "reset_method", "");
                return (int) len;
        }
        if (sysfs_streq(buf, "default")) {
                for (size_t i = 0; i < G_N_ELEMENTS(reset_names); i++)
                        if (reset_supported(d, reset_names[i]))
                                g_string_append_printf(out, "%s%s", out->len ? " " : "", reset_names[i]);
        } else {
                tokens = g_strsplit(buf, " ", -1);
                for (char **t = tokens; *t; t++) {
                        bool known = false;

                        g_strstrip(*t);
                        if (**t == '\0')
                                continue;
                        for (size_t i = 0; i < G_N_ELEMENTS(reset_names); i++)
                                known = known || streq0(*t, reset_names[i]);
                        if (!known || !reset_supported(d, *t) || n == RESET_METHODS_MAX)
                                return -EINVAL;
                        g_string_append_printf(out, "%s%s", n++ ? " " : "", *t);
                }
        }
        if (out->len)
                g_string_append_c(out, '\n');
        (void) write_attr(d->path, "reset_method", out->str);
        return (int) len;
}

/* ---------------------------------------------------------------- Resizable BARs */

typedef struct SimRes {
        unsigned long long start, end, flags;
} SimRes;

/* The lines of a device's "resource" attribute; NULL when it has none. */
static GArray *resources_read(const char *devrel) {
        g_autofree char *text = read_attr(devrel, "resource");
        g_auto(GStrv) lines = text ? g_strsplit(text, "\n", -1) : NULL;
        GArray *a;

        if (!lines)
                return NULL;
        a = g_array_new(FALSE, TRUE, sizeof(SimRes));
        for (char **l = lines; *l && **l; l++) {
                SimRes r = {};
                if (sscanf(*l, "%llx %llx %llx", &r.start, &r.end, &r.flags) != 3)
                        break;
                g_array_append_val(a, r);
        }
        return a;
}

static void resources_write(const char *devrel, GArray *a) {
        g_autoptr(GString) out = g_string_new(NULL);

        for (unsigned i = 0; i < a->len; i++) {
                SimRes *r = &g_array_index(a, SimRes, i);
                g_string_append_printf(out, "0x%016llx 0x%016llx 0x%016llx\n", r->start, r->end, r->flags);
        }
        (void) write_attr(devrel, "resource", out->str);
}

static bool res_inside(const SimRes *r, const SimRes *w) {
        return r->flags && r->start && r->end > r->start && r->start >= w->start && r->end <= w->end;
}

/* resourceN_resize (drivers/pci/pci-sysfs.c __resource_resize_store(), since 6.1, commit 91fa127794ac;
 * drivers/pci/setup-res.c pci_resize_resource(); drivers/pci/setup-bus.c pci_reassign_bridge_resources()):
 * kstrtoul() of the size's bit, EINVAL when it does not parse; EBUSY while any driver is bound (vfio-pci
 * included); EINVAL for a bit not in the BAR's mask; ENOSPC when the bridge window above (the prefetchable
 * one for a prefetchable BAR, when the bridge has one, else the memory window: lines 13-15 of a bridge's
 * "resource" with CONFIG_PCI_IOV, 7-9 without) has no free range of the new size aligned to it, besides what
 * the other functions below the bridge and the device's other BARs take. Else line N of "resource" gets the
 * lowest such range and the write returns the byte count. The bridge windows themselves never grow here. */
static int pci_write_resource_resize(PciDev *d, unsigned n, const char *buf, size_t len) {
        g_autofree char *attr = g_strdup_printf("resource%u_resize", n),
                        *mask_text = read_attr(d->path, attr);
        g_autofree char *drv = driver_of(d), *parent = g_path_get_dirname(d->path);
        g_autoptr(GArray) res = resources_read(d->path), pres = resources_read(parent);
        unsigned long long mask = mask_text ? strtoull(mask_text, NULL, 16) : 0, size;
        unsigned bit, base;
        SimRes win = {}, *bar;
        GHashTableIter it;
        PciDev *e;

        if (kstrtouint(buf, &bit) < 0)
                return -EINVAL;
        if (drv)
                return -EBUSY;
        if (bit > 43 || !(mask & (1ULL << bit)) || !res || res->len <= n)
                return -EINVAL;
        size = 1ULL << (20 + bit);
        bar = &g_array_index(res, SimRes, n);
        if (!pres || (pres->len != 17 && pres->len != 11))
                return -ENOSPC;
        base = pres->len - 4;
        if ((bar->flags & 0x2000) && g_array_index(pres, SimRes, base + 2).flags)
                win = g_array_index(pres, SimRes, base + 2);
        else
                win = g_array_index(pres, SimRes, base + 1);
        if (!win.flags || win.end <= win.start)
                return -ENOSPC;

        for (unsigned long long at = (win.start + size - 1) & ~(size - 1);
             at + size - 1 <= win.end && at >= win.start;
             at += size) {
                SimRes want = { at, at + size - 1, bar->flags };
                bool clash = false;

                g_hash_table_iter_init(&it, sim->pci);
                while (!clash && g_hash_table_iter_next(&it, NULL, (gpointer *) &e)) {
                        g_autofree char *ep = g_path_get_dirname(e->path);
                        g_autoptr(GArray) er = NULL;

                        if (!streq0(ep, parent))
                                continue;
                        er = e == d ? NULL : resources_read(e->path);
                        for (unsigned i = 0; i < (e == d ? res->len : er ? er->len : 0); i++) {
                                SimRes *o = e == d ? &g_array_index(res, SimRes, i)
                                                   : &g_array_index(er, SimRes, i);
                                if ((e == d && i == n) || !res_inside(o, &win))
                                        continue;
                                if (o->start <= want.end && want.start <= o->end)
                                        clash = true;
                        }
                }
                if (clash)
                        continue;
                bar->start = want.start;
                bar->end = want.end;
                resources_write(d->path, res);
                log_debug("resize %s BAR %u: %llu MiB at 0x%llx\n", d->bdf, n, size >> 20, want.start);
                return (int) len;
        }
        return -ENOSPC;
}

/* ---------------------------------------------------------------- bus and driver files */

static int compare_pci(gconstpointer a, gconstpointer b) {
        return strcmp((*(PciDev *const *) a)->bdf, (*(PciDev *const *) b)->bdf);
}

/* new_id_store(): "VVVV DDDD [SVVV SDDD [CLASS MASK [DATA]]]" */
static int drv_write_new_id(const char *drv, const char *buf, size_t len) {
        unsigned vendor, device, subvendor = PCI_ANY_ID, subdevice = PCI_ANY_ID, class = 0, mask = 0;
        unsigned long data = 0;
        g_autoptr(GPtrArray) all = NULL;
        GHashTableIter it;
        PciDev *p;
        DynId *id;
        int fields;

        fields =
                sscanf(buf,
                       "%x %x %x %x %x %x %lx",
                       &vendor,
                       &device,
                       &subvendor,
                       &subdevice,
                       &class,
                       &mask,
                       &data);
        if (fields < 2)
                return -EINVAL;
        if (fields != 7) {
                /* an id the driver already matches: EEXIST */
                PciDev fake = { .vendor = vendor,
                                .device = device,
                                .subvendor = subvendor & 0xffff,
                                .subdevice = subdevice & 0xffff,
                                .class = class };
                g_autofree char *key = id_key(vendor, device);

                for (unsigned i = 0; i < sim->dynids->len; i++) {
                        id = g_ptr_array_index(sim->dynids, i);
                        if (streq0(id->driver, drv) && dynid_matches(id, &fake))
                                return -EEXIST;
                }
                if (streq0(g_hash_table_lookup(sim->natural, key), drv))
                        return -EEXIST;
                g_hash_table_iter_init(&it, sim->pci);
                while (g_hash_table_iter_next(&it, NULL, (gpointer *) &p))
                        if (p->vendor == vendor && p->device == device && streq0(p->natural, drv))
                                return -EEXIST;
        }
        id = g_new0(DynId, 1);
        *id = (DynId){ g_strdup(drv), vendor, device, subvendor, subdevice, class, mask };
        g_ptr_array_add(sim->dynids, id);
        log_debug("new_id %s %04x:%04x\n", drv, vendor, device);

        /* driver_attach(): every unbound function the driver now matches */
        all = g_ptr_array_new();
        g_hash_table_iter_init(&it, sim->pci);
        while (g_hash_table_iter_next(&it, NULL, (gpointer *) &p))
                g_ptr_array_add(all, p);
        g_ptr_array_sort(all, compare_pci);
        for (unsigned i = 0; i < all->len; i++) {
                g_autofree char *bound = NULL;
                p = g_ptr_array_index(all, i);
                bound = driver_of(p);
                if (!bound && driver_matches(p, drv))
                        pci_bind(p, drv);
        }
        return (int) len;
}

static int drv_write_remove_id(const char *drv, const char *buf, size_t len) {
        unsigned vendor, device, subvendor = PCI_ANY_ID, subdevice = PCI_ANY_ID, class = 0, mask = 0;
        int fields =
                sscanf(buf, "%x %x %x %x %x %x", &vendor, &device, &subvendor, &subdevice, &class, &mask);

        if (fields < 2)
                return -EINVAL;
        for (unsigned i = 0; i < sim->dynids->len; i++) {
                DynId *id = g_ptr_array_index(sim->dynids, i);
                if (streq0(id->driver, drv) && id->vendor == vendor && id->device == device &&
                    id->subvendor == subvendor && id->subdevice == subdevice && id->class == class &&
                    id->class_mask == mask) {
                        g_ptr_array_remove_index(sim->dynids, i);
                        return (int) len;
                }
        }
        return -ENODEV;
}

static int drv_write(const char *drv, const char *file, const char *buf, size_t len) {
        PciDev *d;

        if (streq0(file, "new_id"))
                return drv_write_new_id(drv, buf, len);
        if (streq0(file, "remove_id"))
                return drv_write_remove_id(drv, buf, len);
        d = pci_find(buf);
        if (streq0(file, "bind")) {
                g_autofree char *bound = NULL;
                /* bind_store(): ENODEV unless the driver matches; device_driver_attach(): EBUSY if bound */
                if (!d || !driver_matches(d, drv))
                        return -ENODEV;
                bound = driver_of(d);
                if (bound)
                        return -EBUSY;
                pci_bind(d, drv);
                return (int) len;
        }
        /* unbind_store(): only a device bound to this driver */
        if (d) {
                g_autofree char *bound = driver_of(d);
                if (streq0(bound, drv)) {
                        pci_unbind(d);
                        return (int) len;
                }
        }
        return -ENODEV;
}

/* kobject_synth_uevent(): "ACTION [UUID [KEY=VALUE...]]" */
static int dev_write_uevent(const char *rel, const char *buf, size_t len) {
        static const char *const actions[] = { "add",    "remove",  "change", "move",
                                               "online", "offline", "bind",   "unbind" };
        size_t n = strcspn(buf, " \n");

        for (size_t i = 0; i < G_N_ELEMENTS(actions); i++)
                if (strlen(actions[i]) == n && strncmp(buf, actions[i], n) == 0) {
                        send_uevent(rel, actions[i], NULL);
                        return (int) len;
                }
        return -EINVAL;
}

/* The device an attribute or a driver-file write concerns, for --vanish-on. */
static char *vanish_target(const char *rel, const char *buf) {
        if (g_str_has_prefix(rel, "devices/")) {
                g_autofree char *p = g_path_get_dirname(rel);
                while (strchr(p, '/') && !is_dev(p))
                        *strrchr(p, '/') = '\0';
                return is_dev(p) ? g_steal_pointer(&p) : NULL;
        }
        if (g_str_has_prefix(rel, "bus/pci/")) {
                PciDev *d = pci_find(buf);
                return d ? g_strdup(d->path) : NULL;
        }
        return NULL;
}

static void vanish(const char *devrel) {
        log_debug("vanish %s\n", devrel);
        if (has_devtype(devrel, "thunderbolt_device"))
                tb_unplug(devrel);
        else
                remove_subtree(devrel);
}

/* --change-on-read: the program opens @rel for reading. The rule's count falls with each read of a matching
 * file; once it is spent, the file holds the rule's value (a device replaced between two reads). */
void sim_handle_read(const char *rel) {
        g_autofree char *path = sys_path(rel), *real = realpath(path, NULL);
        g_autofree char *sysreal = realpath(sim->sys, NULL);
        const char *canon;

        if (!real || !sysreal || !g_str_has_prefix(real, sysreal) || real[strlen(sysreal)] != '/')
                return;
        canon = real + strlen(sysreal) + 1;
        for (unsigned i = 0; i < sim->reads->len; i++) {
                Rule *r = g_ptr_array_index(sim->reads, i);
                g_autofree char *value = NULL;

                if (r->count < 0 || !sim_rule_matches(r, canon))
                        continue;
                if (r->count-- > 0)
                        continue;
                value = g_strconcat(r->text, "\n", NULL);
                log_debug("read %s: now reads %s\n", canon, r->text);
                (void) g_file_set_contents(real, value, -1, NULL);
        }
}

int sim_handle_write(const char *rel, const char *buf, size_t len) {
        g_autofree char *dir = g_path_get_dirname(rel), *base = g_path_get_basename(rel);
        g_auto(GStrv) parts = g_strsplit(rel, "/", -1);
        enum {
                NONE,
                AUTHORIZED,
                KEY,
                OVERRIDE,
                RESET,
                RESIZE,
                UEVENT,
                PROBE,
                DRIVER,
                POWER_CONTROL
        } what = NONE;
        unsigned bar = 0;
        PciDev *d = NULL;

        for (unsigned i = 0; i < sim->faults->len; i++) {
                Rule *f = g_ptr_array_index(sim->faults, i);
                if (f->count != 0 && sim_rule_matches(f, rel)) {
                        if (f->count > 0)
                                f->count--;
                        log_debug("fault %s: %s\n", rel, g_strerror(f->value));
                        return -f->value;
                }
        }
        for (unsigned i = 0; i < sim->vanish->len; i++)
                if (sim_rule_matches(g_ptr_array_index(sim->vanish, i), rel)) {
                        g_autofree char *target = vanish_target(rel, buf);
                        if (target)
                                vanish(target);
                        return -ENODEV;
                }

        if (g_str_has_prefix(rel, "devices/") && is_dev(dir)) {
                bool tb = has_devtype(dir, "thunderbolt_device");

                d = pci_find_path(dir);
                if (streq0(base, "uevent"))
                        what = UEVENT;
                else if (tb && streq0(base, "authorized"))
                        what = AUTHORIZED;
                else if (tb && streq0(base, "key"))
                        what = KEY;
                else if (d && streq0(base, "driver_override"))
                        what = OVERRIDE;
                else if (d && streq0(base, "reset_method"))
                        what = RESET;
                else if (
                        d && sscanf(base, "resource%u_resize", &bar) == 1 && bar < 6 &&
                        g_str_has_suffix(base, "_resize"))
                        what = RESIZE;
        } else if (g_str_has_suffix(dir, "/power") && streq0(base, "control")) {
                g_autofree char *devrel = g_path_get_dirname(dir);

                d = pci_find_path(devrel);
                if (d)
                        what = POWER_CONTROL;
        } else if (streq0(rel, "bus/pci/drivers_probe"))
                what = PROBE;
        else if (
                g_strv_length(parts) == 5 && streq0(parts[0], "bus") && streq0(parts[1], "pci") &&
                streq0(parts[2], "drivers") &&
                (streq0(parts[4], "bind") || streq0(parts[4], "unbind") || streq0(parts[4], "new_id") ||
                 streq0(parts[4], "remove_id")))
                what = DRIVER;

        if (what == NONE)
                return SIM_PASS;
        if (len > SIM_PAGE_SIZE)
                return -E2BIG;
        switch (what) {
        case AUTHORIZED:
                return tb_write_authorized(dir, buf, len);
        case KEY:
                return tb_write_key(dir, buf, len);
        case OVERRIDE:
                return pci_write_driver_override(d, buf, len);
        case RESET:
                return pci_write_reset_method(d, buf, len);
        case RESIZE:
                return pci_write_resource_resize(d, bar, buf, len);
        case POWER_CONTROL:
                return pci_write_power_control(d, buf, len);
        case UEVENT:
                return dev_write_uevent(dir, buf, len);
        case PROBE:
                /* drivers_probe_store(): ENODEV for an unknown name; no driver found is still success */
                d = pci_find(buf);
                if (!d)
                        return -ENODEV;
                pci_probe(d);
                return (int) len;
        case DRIVER:
                return drv_write(parts[3], parts[4], buf, len);
        default:
                return SIM_PASS;
        }
}

/* What the kernel would show for the loaded scenario: driver directories link their devices, DRIVER= in the
 * uevent files agrees with the driver links, /dev/vfio has a node for each group on vfio-pci. */
void sim_startup_consistency(void) {
        GHashTableIter i;
        PciDev *d;

        g_hash_table_iter_init(&i, sim->pci);
        while (g_hash_table_iter_next(&i, NULL, (gpointer *) &d)) {
                g_autofree char *drv = driver_of(d), *group = group_of(d);

                uevent_set(d->path, "DRIVER", drv);
                if (drv && driver_exists(drv)) {
                        g_autofree char *dlnk =
                                g_build_filename(sim->sys, "bus/pci/drivers", drv, d->bdf, NULL);
                        g_autofree char *target = g_strconcat("../../../../", d->path, NULL);
                        (void) symlink(target, dlnk);
                }
                if (group && streq0(drv, "vfio-pci"))
                        vfio_group_update(group);
        }
        if (module_loaded("vfio"))
                (void) umockdev_testbed_add_from_string(
                        sim->testbed,
                        "P: /devices/virtual/misc/vfio\nN: vfio/vfio\nE: SUBSYSTEM=misc\nE: "
                        "DEVNAME=/dev/vfio/vfio\n"
                        "E: MAJOR=10\nE: MINOR=196\nA: dev=10:196\\n\n\n",
                        NULL);
}
