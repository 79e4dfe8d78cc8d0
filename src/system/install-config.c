/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <ctype.h>
#include <dirent.h>
#include <stdarg.h>
#include <sys/stat.h>

#include "egpuctl-unit.h"
#include "install-config.h"
#include "kernel-module.h"
#include "modprobe-config.h"
#include "util.h"

#include "vendor-reset-ids.h"

#define HEADER                                                                                              \
        "# Written by egpuctl install; see egpuctl(8). egpuctl rewrites this file while it is as egpuctl\n" \
        "# wrote it. Once edited, it is yours: egpuctl install keeps it and egpuctl uninstall leaves it.\n"

void install_config_done(InstallConfig *c) {
        install_items_free(c->items, c->n_items);
        strv_free(c->notes);
        *c = (InstallConfig){};
}

void egpu_list_done(EgpuList *l) {
        free(l->egpus);
        *l = (EgpuList){};
}

int install_select_enrolled(const Host *h, Enrollment **list, size_t n, EgpuList *ret) {
        EgpuList l = {};

        l.egpus = calloc(h->n_egpus + 1, sizeof(Egpu *));
        if (!l.egpus)
                return -ENOMEM;
        FOREACH_ARRAY(e, h->egpus, h->n_egpus)
                if (((*e)->tb_device && (*e)->tb_device->unique_id &&
                     enrollments_find(list, n, (*e)->tb_device->unique_id)) ||
                    ((*e)->port && enrollments_find_port(list, n, (*e)->port)))
                        l.egpus[l.n_egpus++] = *e;
        *ret = l;
        return 0;
}

/* The unit; data/egpuctl.service.in is the same text for packages (a test compares them). */
int install_unit_text(const char *sbindir, char **ret) {
        char *s;

        if (asprintf(&s, EGPUCTL_UNIT_FORMAT, sbindir) < 0)
                return -ENOMEM;
        *ret = s;
        return 0;
}

static bool exists_under_root(const char *root, const char *path) {
        _cleanup_free_ char *p = path_under_root(root, path);
        return p && access(p, F_OK) >= 0;
}

/* Whether vendor-reset is loaded, or installed for some kernel under root. */
static bool vendor_reset_present(const char *root) {
        return kernel_module_loaded("vendor_reset") || kernel_module_installed(root, "vendor-reset");
}

static bool function_wants_vendor_reset(const PciFunction *f) {
        if (!pci_function_is_display(f))
                return false;
        return vendor_reset_supports(f->vendor, f->device);
}

/* The host drivers that could claim the function before vfio-pci: the one bound now, and the usual
 * ones for its class and vendor. */
static int add_host_drivers(const PciFunction *f, char ***drivers) {
        static const struct {
                uint32_t class_mask, class, vendor; /* vendor 0: any */
                const char *driver;
        } table[] = {
                { 0xff0000, 0x030000, 0x1002, "amdgpu" }, { 0xff0000, 0x030000, 0x10de, "nouveau" },
                { 0xff0000, 0x030000, 0x10de, "nvidia" }, { 0xff0000, 0x030000, 0x8086, "i915" },
                { 0xff0000, 0x030000, 0x8086, "xe" },     { 0xffff00, 0x040300, 0, "snd_hda_intel" },
                { 0xffff00, 0x0c0300, 0, "xhci_pci" },    { 0xffff00, 0x0c8000, 0x10de, "i2c_nvidia_gpu" },
        };
        int r;

        if (f->driver && !streq(f->driver, "vfio-pci") && !strv_contains(*drivers, f->driver)) {
                _cleanup_free_ char *d = strdup(f->driver);

                if (!d)
                        return -ENOMEM;
                for (char *c = d; *c; c++)
                        if (*c == '-')
                                *c = '_';
                if (!strv_contains(*drivers, d)) {
                        r = strv_extend(drivers, d);
                        if (r < 0)
                                return r;
                }
        }
        FOREACH_ARRAY(t, table, ELEMENTSOF(table))
                if ((f->class & t->class_mask) == t->class && (!t->vendor || t->vendor == f->vendor) &&
                    !strv_contains(*drivers, t->driver)) {
                        r = strv_extend(drivers, t->driver);
                        if (r < 0)
                                return r;
                }
        return 0;
}

/* "/devices/pci0000:00/0000:00:07.2" from a syspath, when it has only the characters of PCI paths. */
static char *devpath_of(const char *syspath) {
        const char *p = strstr(syspath, "/devices/");

        if (!p)
                return NULL;
        for (const char *c = p; *c; c++)
                if (!isalnum((unsigned char) *c) && !strchr(":._/-", *c))
                        return NULL;
        return strdup(p);
}

static int rules_text(const EgpuList *h, InstallConfig *c, FILE *f) {
        FOREACH_ARRAY(ep, h->egpus, h->n_egpus) {
                const Egpu *e = *ep;
                const PciFunction *root = pci_function_root_port(e->gpu);
                _cleanup_free_ char *devpath = devpath_of(root->syspath);

                if (root == e->gpu || !devpath) {
                        int r = strv_pushf(
                                &c->notes,
                                &c->n_notes,
                                &c->n_notes_allocated,
                                "eGPU %s: no usable root port path, no udev rule for it",
                                e->gpu->bdf);
                        if (r < 0)
                                return r;
                        continue;
                }
                fprintf(f,
                        "\n# eGPU %s behind root port %s%s%s%s\n",
                        e->gpu->bdf,
                        root->bdf,
                        e->tb_device ? ", Thunderbolt device " : "",
                        e->tb_device ? e->tb_device->name : "",
                        e->port ? ", PCIe-attached (the kernel does not mark it removable)" : "");
                FOREACH_ARRAY(fp, e->functions, e->n_functions) {
                        const PciFunction *fn = *fp;

                        fprintf(f,
                                "ACTION==\"add\", SUBSYSTEM==\"pci\", DEVPATH==\"%s/*\", "
                                "%sATTR{vendor}==\"0x%04x\", "
                                "ATTR{device}==\"0x%04x\", ATTR{subsystem_vendor}==\"0x%04x\", "
                                "ATTR{subsystem_device}==\"0x%04x\", ATTR{driver_override}=\"vfio-pci\"%s\n",
                                devpath,
                                e->port ? "" : "ATTR{removable}==\"removable\", ",
                                fn->vendor,
                                fn->device,
                                fn->subsystem_vendor,
                                fn->subsystem_device,
                                c->vendor_reset && function_wants_vendor_reset(fn)
                                        ? ", ATTR{reset_method}=\"device_specific\""
                                        : "");
                }
        }
        return 0;
}

/* Adds the file at path (0644) whose text is HEADER, then what fn writes. */
static int add_text_file(
        InstallConfig *c,
        const char *path,
        int (*fn)(const EgpuList *, InstallConfig *, FILE *, void *),
        const EgpuList *h,
        void *userdata) {
        _cleanup_free_ char *buf = NULL;
        size_t size = 0;
        FILE *f;
        int r;

        f = open_memstream(&buf, &size);
        if (!f)
                return -ENOMEM;
        fputs(HEADER, f);
        r = fn(h, c, f, userdata);
        if (fclose(f) != 0 && r >= 0)
                r = -ENOMEM;
        if (r < 0)
                return r;
        return install_items_add_file(&c->items, &c->n_items, path, buf, 0644);
}

static int rules_cb(const EgpuList *h, InstallConfig *c, FILE *f, void *userdata) {
        fputs("# Makes vfio-pci, never a host driver, claim the functions of the enrolled eGPUs: each rule\n"
              "# matches the ids AND a path below the eGPU's root port AND (behind Thunderbolt) a "
              "removable\n"
              "# device, so that an identical internal device is never matched.\n",
              f);
        return rules_text(h, c, f);
}

static int modprobe_cb(const EgpuList *h, InstallConfig *c, FILE *f, void *userdata) {
        char **drivers = userdata;

        fputs("# Module order instead of a global 'options vfio-pci ids=', which would also claim an\n"
              "# identical internal device: vfio-pci loads before the eGPU functions' host drivers, so "
              "that\n"
              "# the udev rule's driver_override=vfio-pci wins.\n",
              f);
        if (c->vendor_reset)
                fputs("softdep vfio-pci pre: vendor-reset\n", f);
        STRV_FOREACH(d, drivers)
                fprintf(f, "softdep %s pre: vfio-pci\n", *d);
        return 0;
}

static int modules_load_cb(const EgpuList *h, InstallConfig *c, FILE *f, void *userdata) {
        if (c->vendor_reset)
                fputs("vendor-reset\n", f);
        fputs("vfio\nvfio_iommu_type1\nvfio_pci\n", f);
        return 0;
}

/* A global "options vfio-pci ids=", read as kmod reads modprobe.d (modprobe_config_load()). */
static int conflicting_files(const char *root, InstallConfig *c) {
        _cleanup_(modprobe_config_done) ModprobeConfig m = {};
        const char *noted = NULL;
        int r;

        r = modprobe_config_load(&m, root);
        if (r < 0)
                return r;
        FOREACH_ARRAY(e, m.entries, m.n_entries) {
                bool ids = false;

                if (e->command != MODPROBE_OPTIONS || !modprobe_name_eq(e->module, "vfio_pci") ||
                    streq(e->file, INSTALL_MODPROBE_PATH) || streq_ptr(noted, e->file))
                        continue;
                STRV_FOREACH(o, e->args)
                        ids = ids || strneq(*o, "ids=", 4);
                if (!ids)
                        continue;
                r = strv_pushf(
                        &c->notes,
                        &c->n_notes,
                        &c->n_notes_allocated,
                        "%s has a global 'options vfio-pci ids=...', which also claims identical internal "
                        "devices; egpuctl's rule replaces it, remove that line yourself",
                        e->file);
                if (r < 0)
                        return r;
                noted = e->file; /* one note a file: its entries stand together */
        }
        return 0;
}

int install_config_build(const EgpuList *h, const char *root, const char *sbindir, InstallConfig *ret) {
        static const char *const packaged_units[] = {
                "/usr/lib/systemd/system/" INSTALL_UNIT_NAME,
                "/lib/systemd/system/" INSTALL_UNIT_NAME,
        };
        _cleanup_(install_config_done) InstallConfig c = {};
        _cleanup_strv_free_ char **drivers = NULL;
        _cleanup_free_ char *text = NULL, *binary = NULL;
        const char *unit_path = NULL;
        bool needs_vendor_reset = false;
        int r;

        /* The unit: the package's when there is one, else egpuctl's own in /etc. */
        FOREACH_ARRAY(u, packaged_units, ELEMENTSOF(packaged_units))
                if (exists_under_root(root, *u)) {
                        unit_path = *u;
                        break;
                }
        if (!unit_path) {
                unit_path = "/etc/systemd/system/" INSTALL_UNIT_NAME;
                r = install_unit_text(sbindir, &text);
                if (r < 0)
                        return r;
                r = install_items_add_file(&c.items, &c.n_items, unit_path, text, 0644);
                if (r < 0)
                        return r;
                text = mfree(text);
        }
        r = install_items_add_link(
                &c.items,
                &c.n_items,
                "/etc/systemd/system/multi-user.target.wants/" INSTALL_UNIT_NAME,
                unit_path);
        if (r < 0)
                return r;

        /* The enrolled eGPUs that are present now. TODO: an enrolled eGPU that is unplugged now cannot
         * be described (the store does not keep its functions' ids and root port). */
        FOREACH_ARRAY(e, h->egpus, h->n_egpus)
                FOREACH_ARRAY(f, (*e)->functions, (*e)->n_functions) {
                        needs_vendor_reset = needs_vendor_reset || function_wants_vendor_reset(*f);
                        r = add_host_drivers(*f, &drivers);
                        if (r < 0)
                                return r;
                }
        if (needs_vendor_reset) {
                c.vendor_reset = vendor_reset_present(root);
                if (!c.vendor_reset) {
                        r = strv_pushf(
                                &c.notes,
                                &c.n_notes,
                                &c.n_notes_allocated,
                                "the eGPU needs vendor-reset for a working reset between VM starts, and "
                                "vendor-reset is not installed; install it (DKMS) and run egpuctl install "
                                "again");
                        if (r < 0)
                                return r;
                }
        }

        if (h->n_egpus > 0) {
                r = add_text_file(&c, INSTALL_RULES_PATH, rules_cb, h, NULL);
                if (r < 0)
                        return r;
        } else {
                /* Keep the rules of an earlier run: the eGPU is just not plugged in. */
                r = install_items_add_file(&c.items, &c.n_items, INSTALL_RULES_PATH, NULL, 0644);
                if (r < 0)
                        return r;
                r = strv_pushf(
                        &c.notes,
                        &c.n_notes,
                        &c.n_notes_allocated,
                        "no enrolled eGPU is connected: enroll it (egpuctl enroll), plug it in and run "
                        "egpuctl install again to write its udev rule");
                if (r < 0)
                        return r;
        }

        r = add_text_file(&c, INSTALL_MODPROBE_PATH, modprobe_cb, h, drivers);
        if (r < 0)
                return r;

        r = add_text_file(&c, INSTALL_MODULES_LOAD_PATH, modules_load_cb, h, NULL);
        if (r < 0)
                return r;

        /* Proxmox VE: the hookscript is the binary itself (see egpuctl vm hook). */
        if (exists_under_root(root, "/etc/pve")) {
                binary = path_join(sbindir, "egpuctl");
                if (!binary)
                        return -ENOMEM;
                r = install_items_add_link(&c.items, &c.n_items, INSTALL_HOOK_SNIPPET_PATH, binary);
                if (r < 0)
                        return r;
        }

        r = conflicting_files(root, &c);
        if (r < 0)
                return r;

        *ret = c;
        c = (InstallConfig){};
        return 0;
}
