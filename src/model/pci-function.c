/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "pci-function.h"
#include "sysfs.h"
#include "time-util.h"
#include "util.h"

static int read_optional_string(struct udev_device *d, const char *attr, char **ret) {
        int r = sysfs_attr_string(d, attr, ret);
        return r == -ENOENT ? 0 : r;
}

/* How long a snapshot waits for the kernel's uevent attribute, read where udev keeps no database. */

/* The value of KEY in lines "PREFIXKEY=VALUE" of text; NULL in *ret when there is none. */
static int find_property(const char *text, const char *prefix, const char *key, char **ret) {
        size_t lp = strlen(prefix), lk = strlen(key);

        for (const char *l = text; l && *l;) {
                const char *end = strchrnul(l, '\n');

                if (strneq(l, prefix, lp) && strneq(l + lp, key, lk) && l[lp + lk] == '=') {
                        const char *v = l + lp + lk + 1;

                        *ret = v < end ? strndup(v, end - v) : NULL;
                        return v < end && !*ret ? -ENOMEM : 0;
                }
                l = *end ? end + 1 : NULL;
        }
        *ret = NULL;
        return 0;
}

/* The names udev's hwdb gave the function: from udev's database, /run/udev/data/+pci:BDF, its "E:KEY=VALUE"
 * lines (systemd, src/libsystemd/sd-device/device-private.c device_update_db()). Not through libudev's
 * properties, which read the kernel's uevent attribute too: its show() takes the device's lock in some
 * kernels (Debian's 6.1.192: uevent_show()), which vfio-pci's remove holds for as long as it waits for a VM,
 * and a snapshot must never wait on that (tests/vm, mode live, found the daemon and enroll stuck there).
 * Not even bounded in a thread: a process cannot exit while one of its threads sleeps uninterruptibly, so
 * a timed-out read kept the daemon's and enroll's exit waiting for the VM too. Without an entry (udev not
 * running, or no hwdb names) there are no names, and the ids say it; only inside a umockdev testbed, which
 * keeps udev's properties in a plain uevent file, is that file read. */
static int read_names(const char *bdf, const char *syspath, char **ret_vendor, char **ret_model) {
        _cleanup_free_ char *db = NULL, *text = NULL, *vendor = NULL, *model = NULL;
        const char *prefix = "E:";
        int r;

        {
                _cleanup_free_ char *name = NULL;

                if (asprintf(&name, "+pci:%s", bdf) < 0)
                        return -ENOMEM;
                r = udev_db_path(name, &db);
                if (r < 0)
                        return r;
        }
        r = read_full_file(db, 64 * 1024, &text, NULL);
        if (r < 0 && r != -ENOMEM && umockdev_testbed()) {
                _cleanup_free_ char *uevent = path_join(syspath, "uevent");

                if (!uevent)
                        return -ENOMEM;
                prefix = "";
                r = read_full_file(uevent, 64 * 1024, &text, NULL);
        }
        if (r == -ENOMEM)
                return r;
        if (r < 0) { /* no names: the ids say it */
                *ret_vendor = *ret_model = NULL;
                return 0;
        }
        r = find_property(text, prefix, "ID_VENDOR_FROM_DATABASE", &vendor);
        if (r >= 0)
                r = find_property(text, prefix, "ID_MODEL_FROM_DATABASE", &model);
        if (r < 0)
                return r;
        *ret_vendor = TAKE_PTR(vendor);
        *ret_model = TAKE_PTR(model);
        return 0;
}

int pci_function_new_from_udev(struct udev_device *d, PciFunction **ret) {
        _cleanup_(pci_function_freep) PciFunction *f = NULL;
        _cleanup_free_ char *reset = NULL, *removable = NULL, *group = NULL, *power = NULL;
        const char *driver;
        int r;

        f = calloc(1, sizeof(PciFunction));
        if (!f)
                return -ENOMEM;
        f->iommu_group = f->current_link_width = f->max_link_width = f->d3cold_allowed = -1;

        f->syspath = strdup(udev_device_get_syspath(d));
        f->bdf = strdup(udev_device_get_sysname(d) ?: "");
        if (!f->syspath || !f->bdf)
                return -ENOMEM;

        (void) sysfs_attr_u32(d, "vendor", 16, &f->vendor);
        (void) sysfs_attr_u32(d, "device", 16, &f->device);
        (void) sysfs_attr_u32(d, "subsystem_vendor", 16, &f->subsystem_vendor);
        (void) sysfs_attr_u32(d, "subsystem_device", 16, &f->subsystem_device);
        (void) sysfs_attr_u32(d, "class", 16, &f->class);

        /* The names udev's hwdb gives the ids (50-udev-default.rules: IMPORT{builtin}="hwdb
         * --subsystem=$env{SUBSYSTEM}" for every device with a MODALIAS), as lspci would print them;
         * egpuctl keeps no table of names of its own. */
        r = read_names(f->bdf, f->syspath, &f->vendor_name, &f->model_name);
        if (r < 0)
                return r;

        driver = udev_device_get_driver(d);
        if (driver) {
                f->driver = strdup(driver);
                if (!f->driver)
                        return -ENOMEM;
        }

        /* Not driver_override: the kernel shows it under the device's lock, which a driver's remove holds
         * for as long as it runs (pci_function_read_driver_override()). */

        r = read_optional_string(d, "reset_method", &reset);
        if (r < 0)
                return r;
        if (reset) {
                r = strv_split(reset, " \t\n", &f->reset_methods);
                if (r < 0)
                        return r;
        }

        r = read_optional_string(d, "current_link_speed", &f->current_link_speed);
        if (r < 0)
                return r;
        r = read_optional_string(d, "max_link_speed", &f->max_link_speed);
        if (r < 0)
                return r;
        (void) sysfs_attr_int(d, "current_link_width", &f->current_link_width);
        (void) sysfs_attr_int(d, "max_link_width", &f->max_link_width);

        r = read_optional_string(d, "removable", &removable);
        if (r < 0)
                return r;
        if (streq_ptr(removable, "removable"))
                f->removable = PCI_REMOVABLE_REMOVABLE;
        else if (streq_ptr(removable, "fixed"))
                f->removable = PCI_REMOVABLE_FIXED;

        /* Neither takes the device's lock nor wakes the function (power_state_show(),
         * d3cold_allowed_show() in drivers/pci/pci-sysfs.c). */
        r = read_optional_string(d, "power_state", &power);
        if (r < 0)
                return r;
        f->power_state = pci_power_state_from_string(power);
        (void) sysfs_attr_int(d, "d3cold_allowed", &f->d3cold_allowed);

        /* libudev only resolves the driver/subsystem/module links, so read iommu_group ourselves. */
        r = link_target_basename(f->syspath, "iommu_group", &group);
        if (r >= 0) {
                if (safe_atoi(group, &f->iommu_group) < 0 || f->iommu_group < 0)
                        f->iommu_group = -1;
        } else if (r != -ENOENT)
                return r;

        *ret = TAKE_PTR(f);
        return 0;
}

/* Its text fields, for pci_function_free() and pci_function_dup(): a new one goes here. */
static const size_t pci_function_strings[] = {
        offsetof(PciFunction, syspath),        offsetof(PciFunction, bdf),
        offsetof(PciFunction, driver),         offsetof(PciFunction, current_link_speed),
        offsetof(PciFunction, max_link_speed), offsetof(PciFunction, vendor_name),
        offsetof(PciFunction, model_name),
};

PciFunction *pci_function_free(PciFunction *f) {
        if (!f)
                return NULL;
        struct_strings_free(f, pci_function_strings, ELEMENTSOF(pci_function_strings));
        strv_free(f->reset_methods);
        return mfree(f);
}

int pci_function_dup(const PciFunction *f, PciFunction **ret) {
        _cleanup_(pci_function_freep) PciFunction *c = malloc(sizeof(PciFunction));

        if (!c)
                return -ENOMEM;
        *c = *f;
        c->reset_methods = NULL;
        c->parent = NULL;
        if (struct_strings_dup(c, f, pci_function_strings, ELEMENTSOF(pci_function_strings)) < 0)
                return -ENOMEM;
        STRV_FOREACH(m, f->reset_methods)
                if (strv_extend(&c->reset_methods, *m) < 0)
                        return -ENOMEM;
        *ret = TAKE_PTR(c);
        return 0;
}

bool pci_function_is_bridge(const PciFunction *f) {
        return (f->class >> 8) == PCI_CLASS_BRIDGE_PCI;
}

bool pci_function_is_display(const PciFunction *f) {
        return pci_function_base_class(f) == PCI_CLASS_DISPLAY;
}

bool pci_function_same_slot(const PciFunction *a, const PciFunction *b) {
        const char *da = strrchr(a->bdf, '.'), *db = strrchr(b->bdf, '.');

        if (!da || !db || da - a->bdf != db - b->bdf)
                return false;
        return strneq(a->bdf, b->bdf, (size_t) (da - a->bdf));
}

unsigned pci_function_number(const PciFunction *f) {
        const char *dot = strrchr(f->bdf, '.');

        if (!dot || dot[1] < '0' || dot[1] > '7')
                return 0;
        return (unsigned) (dot[1] - '0');
}

bool pci_function_is_removable(const PciFunction *f) {
        for (; f; f = f->parent)
                if (f->removable == PCI_REMOVABLE_REMOVABLE)
                        return true;
        return false;
}

const PciFunction *pci_function_root_port(const PciFunction *f) {
        while (f->parent)
                f = f->parent;
        return f;
}

bool pci_function_has_reset_method(const PciFunction *f, const char *method) {
        return strv_contains(f->reset_methods, method);
}

int pci_function_port_path(const PciFunction *f, char **ret) {
        const PciFunction *chain[64];
        const char *root, *end;
        size_t n = 0, len;
        char *p, *q;

        if (!f->parent)
                return -EINVAL;
        for (const PciFunction *b = f->parent; b; b = b->parent) {
                if (n >= ELEMENTSOF(chain))
                        return -ELOOP;
                chain[n++] = b;
        }
        /* The root bus is the folder above the root port: ".../devices/pci0000:00/0000:00:1c.0". */
        root = strstr(chain[n - 1]->syspath, "/pci");
        if (!root)
                return -EINVAL;
        root++;
        end = strchr(root, '/');
        if (!end)
                return -EINVAL;
        len = (size_t) (end - root) + 1 + n * 5;
        p = q = malloc(len);
        if (!p)
                return -ENOMEM;
        q = mempcpy(q, root, (size_t) (end - root));
        for (size_t i = n; i > 0; i--) {
                const char *bdf = chain[i - 1]->bdf, *devfn = strrchr(bdf, ':');
                if (!devfn || strlen(devfn + 1) != 4) {
                        free(p);
                        return -EINVAL;
                }
                *q++ = '/';
                q = mempcpy(q, devfn + 1, 4);
        }
        *q = 0;
        *ret = p;
        return 0;
}

static const char *const removable_table[] = {
        [PCI_REMOVABLE_UNKNOWN] = "unknown",
        [PCI_REMOVABLE_FIXED] = "fixed",
        [PCI_REMOVABLE_REMOVABLE] = "removable",
};

const char *pci_removable_to_string(PciRemovable r) {
        return string_table_get(removable_table, ELEMENTSOF(removable_table), r, "unknown");
}

/* pci_power_names[] in drivers/pci/pci.c, pci_power_name() */
static const char *const power_state_names[] = {
        [PCI_POWER_ERROR] = "error", [PCI_POWER_D0] = "D0",       [PCI_POWER_D1] = "D1",
        [PCI_POWER_D2] = "D2",       [PCI_POWER_D3HOT] = "D3hot", [PCI_POWER_D3COLD] = "D3cold",
};

const char *pci_power_state_to_string(PciPowerState s) {
        if (s > PCI_POWER_UNKNOWN && (size_t) s < ELEMENTSOF(power_state_names))
                return power_state_names[s];
        return "unknown";
}

PciPowerState pci_power_state_from_string(const char *s) {
        for (size_t i = 0; s && i < ELEMENTSOF(power_state_names); i++)
                if (power_state_names[i] && streq(s, power_state_names[i]))
                        return (PciPowerState) i;
        return PCI_POWER_UNKNOWN;
}

static bool is_lower_hex(char c) {
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

bool pci_port_path_is_valid(const char *s) {
        size_t n = 0, bridges = 0;

        if (!strneq(s, "pci", 3))
                return false;
        s += 3;
        while (is_lower_hex(s[n]))
                n++;
        /* domain: 4 to 8 hex digits (an int), then ":" and two for the bus */
        if (n < 4 || n > 8 || s[n] != ':' || !is_lower_hex(s[n + 1]) || !is_lower_hex(s[n + 2]))
                return false;
        s += n + 3;
        for (; *s; s += 5) {
                /* "/DD.F": device 00-1f, function 0-7 (PCI_SLOT(), PCI_FUNC() of a devfn) */
                if (s[0] != '/' || (s[1] != '0' && s[1] != '1') || !is_lower_hex(s[2]) || s[3] != '.' ||
                    s[4] < '0' || s[4] > '7')
                        return false;
                if (++bridges > 64)
                        return false;
        }
        return bridges > 0;
}

int pci_resource_parse(const char *text, PciResource **ret, size_t *ret_n) {
        _cleanup_free_ PciResource *res = NULL;
        _cleanup_strv_free_ char **lines = NULL;
        size_t n = 0, allocated = 0;
        int r;

        r = strv_split_lines(text, &lines, NULL);
        if (r < 0)
                return r;
        STRV_FOREACH(line, lines) {
                unsigned long long st, e, f;
                int consumed = 0;

                /* "0x%016llx 0x%016llx 0x%016llx" per line (resource_show()) */
                if (sscanf(*line, "%llx %llx %llx%n", &st, &e, &f, &consumed) != 3 || consumed <= 0)
                        break;
                if (ARRAY_RESERVE(res, allocated, n + 1) < 0)
                        return -ENOMEM;
                res[n++] = (PciResource){ .start = st, .end = e, .flags = f };
        }
        *ret = TAKE_PTR(res);
        *ret_n = n;
        return 0;
}

int pci_function_read_resources(const PciFunction *f, PciResource **ret, size_t *ret_n) {
        _cleanup_free_ char *text = NULL;
        int r;

        r = sysfs_read_attr(f->syspath, "resource", &text);
        if (r < 0)
                return r;
        return pci_resource_parse(text, ret, ret_n);
}

int pci_function_has_rom(const PciFunction *f) {
        _cleanup_free_ char *p = path_join(f->syspath, "rom");
        _cleanup_free_ PciResource *res = NULL;
        size_t n = 0;
        int r;

        if (!p)
                return -ENOMEM;
        if (access(p, F_OK) >= 0)
                return 1;
        r = pci_function_read_resources(f, &res, &n);
        if (r < 0)
                return r;
        return n > PCI_RESOURCE_ROM && res[PCI_RESOURCE_ROM].flags != 0;
}

/* Exactly four hex digits, any case. */
static int parse_hex16(const char *s, size_t n, uint32_t *ret) {
        uint32_t v = 0;

        if (n != 4)
                return -EINVAL;
        for (size_t i = 0; i < n; i++) {
                int d = unhexchar(s[i]);

                if (d < 0)
                        return -EINVAL;
                v = v << 4 | (uint32_t) d;
        }
        *ret = v;
        return 0;
}

int pci_ids_parse(const char *s, PciIds *ret) {
        uint32_t v[4];
        size_t n = 0;

        for (const char *p = s;;) {
                size_t k = strcspn(p, ":");

                if (n >= 4 || parse_hex16(p, k, &v[n]) < 0)
                        return -EINVAL;
                n++;
                p += k;
                if (!*p)
                        break;
                p++;
        }
        if (n != 2 && n != 4)
                return -EINVAL;
        *ret = (PciIds){
                .vendor = v[0],
                .device = v[1],
                .has_subsystem = n == 4,
                .subsystem_vendor = n == 4 ? v[2] : 0,
                .subsystem_device = n == 4 ? v[3] : 0,
        };
        return 0;
}

#define PCI_DEVICES "/sys/bus/pci/devices/"

bool pci_bdf_is_valid(const char *s) {
        static const char pattern[] = "hhhh:hh:hh.f";

        if (strlen(s) != sizeof(pattern) - 1)
                return false;
        for (size_t i = 0; pattern[i]; i++) {
                char c = s[i];
                switch (pattern[i]) {
                case 'h':
                        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
                                return false;
                        break;
                case 'f':
                        if (c < '0' || c > '7')
                                return false;
                        break;
                default:
                        if (c != pattern[i])
                                return false;
                }
        }
        return true;
}

static int function_path(const char *bdf, const char *attr, char **ret) {
        char *p;

        if (!pci_bdf_is_valid(bdf))
                return -EINVAL;
        if (asprintf(&p, PCI_DEVICES "%s%s%s", bdf, attr ? "/" : "", strempty(attr)) < 0)
                return -ENOMEM;
        *ret = p;
        return 0;
}

int pci_function_read_driver(const char *bdf, char **ret) {
        _cleanup_free_ char *dir = NULL, *driver = NULL;
        int r;

        r = function_path(bdf, NULL, &dir);
        if (r < 0)
                return r;
        if (access(dir, F_OK) < 0)
                return errno == ENOENT ? -ENODEV : negative_errno();
        r = link_target_basename(dir, "driver", &driver);
        if (r == -ENOENT) {
                *ret = NULL;
                return 0;
        }
        if (r < 0)
                return r;
        *ret = TAKE_PTR(driver);
        return 0;
}

/* What the kernel shows, "(null)" included. */
static int read_override(const char *bdf, usec_t timeout, char **ret) {
        _cleanup_free_ char *path = NULL, *v = NULL;
        int r;

        r = function_path(bdf, "driver_override", &path);
        if (r < 0)
                return r;
        r = sysfs_read_timeout(path, timeout, &v);
        if (r == -ENOENT)
                return -ENODEV;
        if (r < 0)
                return r;
        *ret = TAKE_PTR(v);
        return 0;
}

int pci_function_read_driver_override(const char *bdf, usec_t timeout, char **ret) {
        _cleanup_free_ char *v = NULL;
        int r;

        r = read_override(bdf, timeout, &v);
        if (r < 0)
                return r;
        *ret = *v && !streq(v, "(null)") ? TAKE_PTR(v) : NULL;
        return 0;
}

int pci_function_set_driver_override(const char *bdf, const char *driver, usec_t timeout) {
        _cleanup_free_ char *path = NULL, *now = NULL;
        int r;

        r = function_path(bdf, "driver_override", &path);
        if (r < 0)
                return r;
        /* An empty write (a lone newline) clears the override. */
        r = sysfs_write_timeout(path, driver ?: "\n", timeout);
        if (r == -ENOENT)
                return -ENODEV;
        if (r < 0)
                return r;
        r = read_override(bdf, timeout, &now);
        if (r < 0)
                return r;
        if (driver ? !streq(now, driver) : !(streq(now, "(null)") || streq(now, "")))
                return -EIO;
        return 0;
}

int pci_function_unbind(const char *bdf, usec_t timeout) {
        _cleanup_free_ char *driver = NULL, *path = NULL, *after = NULL;
        int r;

        r = pci_function_read_driver(bdf, &driver);
        if (r < 0)
                return r;
        if (!driver)
                return 0;
        if (asprintf(&path, "/sys/bus/pci/drivers/%s/unbind", driver) < 0)
                return -ENOMEM;
        r = sysfs_write_timeout(path, bdf, timeout);
        if (r < 0 && r != -ENODEV)
                return r;
        /* ENODEV: the driver no longer holds it, someone unbound it meanwhile: what counts is that it
         * is unbound now. */
        r = pci_function_read_driver(bdf, &after);
        if (r < 0)
                return r;
        return after ? -EIO : 0;
}

int pci_function_probe(const char *bdf, usec_t timeout, char **ret) {
        _cleanup_free_ char *driver = NULL;
        int r;

        if (!pci_bdf_is_valid(bdf))
                return -EINVAL;
        r = sysfs_write_timeout("/sys/bus/pci/drivers_probe", bdf, timeout);
        if (r < 0)
                return r;
        r = pci_function_read_driver(bdf, &driver);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(driver);
        return 0;
}

/* Writes value to the function's attribute attr (a path below its folder), then reads it back: -EIO when
 * the kernel took the write but shows something else. */
static int function_write_read_back(const char *bdf, const char *attr, const char *value, usec_t timeout) {
        _cleanup_free_ char *path = NULL, *dir = NULL, *now = NULL;
        int r;

        r = function_path(bdf, attr, &path);
        if (r < 0)
                return r;
        r = sysfs_write_timeout(path, value, timeout);
        if (r < 0)
                return r;
        r = function_path(bdf, NULL, &dir);
        if (r < 0)
                return r;
        r = sysfs_read_attr(dir, attr, &now);
        if (r < 0)
                return r;
        return streq(now, value) ? 0 : -EIO;
}

int pci_function_set_reset_method(const char *bdf, const char *methods, usec_t timeout) {
        return function_write_read_back(bdf, "reset_method", methods, timeout);
}

int pci_function_read_power_state(const char *bdf, PciPowerState *ret) {
        _cleanup_free_ char *dir = NULL, *v = NULL;
        int r;

        r = function_path(bdf, NULL, &dir);
        if (r < 0)
                return r;
        r = sysfs_read_attr(dir, "power_state", &v);
        if (r < 0)
                return r;
        *ret = pci_power_state_from_string(v);
        return 0;
}

int pci_function_set_power_control(const char *bdf, const char *value, usec_t timeout) {
        return function_write_read_back(bdf, "power/control", value, timeout);
}

bool pci_driver_is_registered(const char *driver) {
        _cleanup_free_ char *p = NULL;

        if (!driver || strchr(driver, '/') || streq(driver, "..") || streq(driver, "."))
                return false;
        if (asprintf(&p, "/sys/bus/pci/drivers/%s", driver) < 0)
                return false;
        return access(p, F_OK) == 0;
}
