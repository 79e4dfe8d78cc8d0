/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The machinery of "egpuctl doctor": what the checks share is gathered once here, then each family's table
 * (doctor-*.c) is run in the order below. */
#include <sys/stat.h>

#include "conf-files.h"
#include "doctor-files.h"
#include "doctor-internal.h"
#include "kernel-module.h"
#include "sysfs.h"
#include "usb-enclosures.h"
#include "util.h"

#define SECURE_BOOT_EFIVAR "/sys/firmware/efi/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c"

/* The families in the order their checks run and are reported. */
static const DoctorCheck *const families[] = {
        doctor_checks_iommu,   doctor_checks_thunderbolt, doctor_checks_gpu,  doctor_checks_boot,
        doctor_checks_network, doctor_checks_vm,          doctor_checks_pcie,
};

const DoctorCheck *doctor_check_by_index(size_t i) {
        FOREACH_ARRAY(f, families, ELEMENTSOF(families))
                for (const DoctorCheck *c = *f; c->id; c++)
                        if (i-- == 0)
                                return c;
        return NULL;
}

int doctor_preflight(Doctor *d, size_t i, const VfioPreflight **ret) {
        int r;

        if (i >= d->host->n_egpus)
                return -EINVAL;
        if (!d->preflights) {
                d->preflights = calloc(d->host->n_egpus, sizeof(VfioPreflight));
                d->preflight_done = calloc(d->host->n_egpus, sizeof(bool));
                if (!d->preflights || !d->preflight_done) {
                        d->preflights = mfree(d->preflights);
                        d->preflight_done = mfree(d->preflight_done);
                        return -ENOMEM;
                }
        }
        if (!d->preflight_done[i]) {
                r = vfio_preflight_egpu(d->host->egpus[i], &d->preflights[i]);
                if (r < 0)
                        return r;
                d->preflight_done[i] = true;
        }
        *ret = &d->preflights[i];
        return 0;
}

static void doctor_done(Doctor *d) {
        for (size_t i = 0; d->preflights && i < d->host->n_egpus; i++)
                vfio_preflight_done(&d->preflights[i]);
        free(d->preflights);
        free(d->preflight_done);
        nic_list_done(&d->nics);
        for (size_t i = 0; i < d->n_usb; i++) {
                free(d->usb[i].name);
                free(d->usb[i].manufacturer);
                free(d->usb[i].product_name);
        }
        free(d->usb);
        modprobe_config_done(&d->modprobe);
}

/* ---- helpers of the checks ---- */

bool doctor_root_path_exists(const Doctor *d, const char *path) {
        _cleanup_free_ char *p = path_under_root(d->root, path);
        struct stat st;

        return p && lstat(p, &st) >= 0;
}

int doctor_read_root_file(const Doctor *d, const char *path, char **ret) {
        _cleanup_free_ char *p = path_under_root(d->root, path);

        if (!p)
                return -ENOMEM;
        return read_full_file(p, DOCTOR_CONFIG_FILE_MAX, ret, NULL);
}

int doctor_list_dir(const Doctor *d, const char *dir, const char *pattern, char ***ret) {
        return conf_files_list(d->root, &dir, 1, pattern, ret);
}

bool doctor_is_vfio_driver(const char *driver) {
        return driver && driver_manages_dma(driver, false) && !streq(driver, "pci-stub");
}

bool doctor_is_audio(const PciFunction *f) {
        return (f->class >> 8) == PCI_CLASS_AUDIO;
}

/* Whether the router's own names say eGPU enclosure (data/tables/egpu-name-hints.table). */
bool doctor_tb_looks_like_egpu(const TbDevice *t) {
        return egpu_name_says_enclosure(t->vendor_name, t->device_name);
}

char *doctor_tb_label(const TbDevice *t) {
        char *s;
        if (asprintf(&s, "%s (%s %s)", t->name, t->vendor_name, t->device_name) < 0)
                return NULL;
        return s;
}

/* "0000:30:00.0 (1002:687f Vega 10 XL/XT [Radeon RX Vega 56/64])": the name as udev's hwdb gives it */
char *doctor_pci_label(const PciFunction *f) {
        char *s;
        if (asprintf(
                    &s,
                    "%s (%04x:%04x%s%s)",
                    f->bdf,
                    f->vendor,
                    f->device,
                    f->model_name ? " " : "",
                    strempty(f->model_name)) < 0)
                return NULL;
        return s;
}

bool doctor_host_is_vendor(const Host *h, uint32_t vendor) {
        const PciFunction *hb = host_find_pci(h, "0000:00:00.0");
        return hb && hb->vendor == vendor;
}

int doctor_fix_kernel_params(const Doctor *d, Check *c, const char *params) {
        bool pbt = doctor_root_path_exists(d, "/etc/kernel/cmdline"),
             grub = doctor_root_path_exists(d, "/etc/default/grub");
        int r;

        if (pbt || !grub) {
                r = check_fix(
                        c,
                        "%s# Proxmox booting through proxmox-boot-tool (/etc/kernel/cmdline, one line):\n"
                        "sed -i '1s/$/ %s/' /etc/kernel/cmdline\n"
                        "proxmox-boot-tool refresh",
                        pbt ? "" : "# Either\n",
                        params);
                if (r < 0)
                        return r;
        }
        if (grub || !pbt) {
                r = check_fix(
                        c,
                        "%s# GRUB (/etc/default/grub):\n"
                        "sed -i 's/^GRUB_CMDLINE_LINUX_DEFAULT=\"/&%s /' /etc/default/grub\n"
                        "update-grub",
                        pbt            ? "# or, when the machine boots through GRUB instead:\n"
                                : grub ? ""
                                       : "# or\n",
                        params);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* modules-load.d(5): one module a line, '#' and ';' start comments; any word naming vendor-reset will do. */
static int names_vendor_reset(const char *path, const char *text, void *userdata) {
        _cleanup_strv_free_ char **words = NULL;
        bool *found = userdata;
        int r;

        r = strv_split(text, " \t\r\n", &words);
        if (r < 0)
                return r;
        STRV_FOREACH(w, words)
                *found = *found || modprobe_name_eq(*w, "vendor_reset");
        return 0;
}

bool doctor_vendor_reset_configured(const Doctor *d) {
        static const char *const dirs[] = CONF_PATHS("modules-load.d");
        bool found = false;

        FOREACH_ARRAY(e, d->modprobe.entries, d->modprobe.n_entries)
                if (e->command == MODPROBE_SOFTDEP &&
                    (strv_contains(e->pre, "vendor_reset") || strv_contains(e->post, "vendor_reset")))
                        return true;
        (void) conf_files_parse(d->root, dirs, ELEMENTSOF(dirs), "*.conf", names_vendor_reset, &found);
        return found;
}

/* ---- gathering ---- */

static int load_usb(Doctor *d) {
        _cleanup_(udev_enumerate_unrefp) struct udev_enumerate *e = NULL;
        struct udev_list_entry *entry;
        int r;

        e = udev_enumerate_new(d->udev);
        if (!e)
                return -ENOMEM;
        r = udev_enumerate_add_match_subsystem(e, "usb");
        if (r < 0)
                return r;
        r = udev_enumerate_scan_devices(e);
        if (r < 0)
                return r;
        udev_list_entry_foreach(entry, udev_enumerate_get_list_entry(e)) {
                _cleanup_(udev_device_unrefp) struct udev_device *dev = NULL;
                struct udev_device *parent;
                UsbDev u = {};
                int k;

                dev = udev_device_new_from_syspath(d->udev, udev_list_entry_get_name(entry));
                if (!dev || !streq_ptr(udev_device_get_devtype(dev), "usb_device"))
                        continue;
                if (sysfs_attr_u32(dev, "idVendor", 16, &u.vendor) < 0 ||
                    sysfs_attr_u32(dev, "idProduct", 16, &u.product) < 0)
                        continue;
                u.name = strdup(udev_device_get_sysname(dev) ?: "");
                (void) sysfs_attr_string(dev, "manufacturer", &u.manufacturer);
                (void) sysfs_attr_string(dev, "product", &u.product_name);
                parent = udev_device_get_parent_with_subsystem_devtype(dev, "pci", NULL);
                if (parent)
                        u.controller = host_find_pci_by_syspath(d->host, udev_device_get_syspath(parent));
                k = ARRAY_RESERVE(d->usb, d->n_usb_allocated, d->n_usb + 1);
                if (!u.name || k < 0) {
                        free(u.name);
                        free(u.manufacturer);
                        free(u.product_name);
                        return -ENOMEM;
                }
                d->usb[d->n_usb++] = u;
        }
        return 0;
}

static int read_secure_boot(void) {
        _cleanup_free_ char *data = NULL;
        size_t size;
        int r;

        r = read_full_file(SECURE_BOOT_EFIVAR, 64, &data, &size);
        if (r < 0)
                return r;
        return efivar_bool_parse(data, size);
}

int doctor_run(struct udev *udev, const Host *h, const Enrolled *enrolled, const char *root, CheckList *l) {
        static const Enrolled none = {};
        _cleanup_(doctor_done) Doctor d = {
                .udev = udev,
                .host = h,
                .enrolled = enrolled ?: &none,
                .root = root ?: "",
        };
        int r;

        r = nic_list_load(udev, &d.nics);
        if (r < 0)
                return r;
        r = load_usb(&d);
        if (r < 0)
                return r;
        r = modprobe_config_load(&d.modprobe, d.root);
        if (r < 0)
                return r;
        d.secure_boot = read_secure_boot();
        d.vendor_reset_loaded = kernel_module_loaded("vendor_reset");
        d.vfio_pci_loaded = kernel_module_loaded("vfio_pci") || pci_driver_is_registered("vfio-pci");

        FOREACH_ARRAY(f, families, ELEMENTSOF(families))
                for (const DoctorCheck *dc = *f; dc->id; dc++) {
                        /* Begun here with its id: a check's function never names it again. */
                        Check *c = check_list_begin(l, dc->id);

                        if (!c)
                                return -ENOMEM;
                        if (dc->needs_egpu && h->n_egpus == 0)
                                r = check_finish(c, CHECK_SKIP, "no eGPU connected");
                        else
                                r = dc->run(&d, c);
                        if (r < 0)
                                return r;
                }
        return 0;
}
