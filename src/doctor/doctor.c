/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <dirent.h>
#include <fnmatch.h>
#include <glob.h>
#include <inttypes.h>
#include <sys/stat.h>

#include "doctor-files.h"
#include "doctor.h"
#include "modprobe-config.h"
#include "sysfs.h"
#include "usb-enclosures.h"
#include "util.h"
#include "vendor-reset-ids.h"

/* Configuration files larger than this are not read. */
#define CONFIG_FILE_MAX    (1024U * 1024U)

#define SECURE_BOOT_EFIVAR "/sys/firmware/efi/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c"
#define PCI_CLASS_AUDIO    0x0403

const char *const doctor_check_ids[] = {
        "iommu",           "tb-cable",   "tb-authorized", "tb-security",    "gpu-present",
        "iommu-isolation", "vfio-bound", "gpu-reset",     "module-signing", "vfio-config",
        "services",        "nic-names",  "vm-config",     "pcie-link",
};
const size_t doctor_n_check_ids = ELEMENTSOF(doctor_check_ids);

typedef struct NetDev {
        char *name;
        char *path_name; /* ID_NET_NAME_PATH, NULL when udev gave none */
        char *mac;
        const PciFunction *pci; /* the PCI function it belongs to; NULL for virtual interfaces */
} NetDev;

typedef struct UsbDev {
        char *name; /* "3-3" */
        uint32_t vendor, product;
        char *manufacturer, *product_name;
        const PciFunction *controller; /* the host controller it hangs off, NULL when unknown */
} UsbDev;

typedef struct Doctor {
        struct udev *udev;
        const Host *host;
        const char *root;
        NetDev *nics;
        size_t n_nics, n_nics_allocated;
        StrIndex nics_by_name, nics_by_mac; /* for find_nic() and find_nic_by_mac() per reference */
        UsbDev *usb;
        size_t n_usb, n_usb_allocated;
        ModprobeConfig modprobe;
        int secure_boot; /* 1 on, 0 off, negative when unknown (no EFI) */
        bool vendor_reset_loaded;
        bool vfio_pci_loaded;
} Doctor;

static void doctor_done(Doctor *d) {
        for (size_t i = 0; i < d->n_nics; i++) {
                free(d->nics[i].name);
                free(d->nics[i].path_name);
                free(d->nics[i].mac);
        }
        free(d->nics);
        str_index_done(&d->nics_by_name);
        str_index_done(&d->nics_by_mac);
        for (size_t i = 0; i < d->n_usb; i++) {
                free(d->usb[i].name);
                free(d->usb[i].manufacturer);
                free(d->usb[i].product_name);
        }
        free(d->usb);
        modprobe_config_done(&d->modprobe);
}

/* ---- small helpers ---- */

static bool path_exists(const char *p) {
        return access(p, F_OK) >= 0;
}

/* Whether path exists under root. A symbolic link counts even when it dangles: under --root, an absolute
 * target ("/usr/lib/systemd/system/egpuctl.service") points outside the root. */
static bool root_path_exists(const Doctor *d, const char *path) {
        _cleanup_free_ char *p = path_under_root(d->root, path);
        struct stat st;

        return p && lstat(p, &st) >= 0;
}

/* Reads a configuration file under root. -ENOENT when it is not there. */
static int read_root_file(const Doctor *d, const char *path, char **ret) {
        _cleanup_free_ char *p = path_under_root(d->root, path);

        if (!p)
                return -ENOMEM;
        return read_full_file(p, CONFIG_FILE_MAX, ret, NULL);
}

static int cmp_str(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

/* The names in folder dir under root that match the glob pattern, sorted; an empty list when the folder
 * is missing. */
static int list_root_dir(const Doctor *d, const char *dir, const char *pattern, char ***ret) {
        _cleanup_free_ char *p = path_under_root(d->root, dir);
        _cleanup_(closedirp) DIR *dh = NULL;
        _cleanup_strv_free_ char **l = NULL;
        size_t n = 0, allocated = 1;
        struct dirent *de;
        int r;

        if (!p)
                return -ENOMEM;
        l = calloc(allocated, sizeof(char *));
        if (!l)
                return -ENOMEM;
        dh = opendir(p);
        if (dh)
                while ((de = readdir(dh))) {
                        if (de->d_name[0] == '.' || fnmatch(pattern, de->d_name, 0) != 0)
                                continue;
                        r = strv_push(&l, &n, &allocated, strdup(de->d_name));
                        if (r < 0)
                                return r;
                }
        qsort(l, n, sizeof(char *), cmp_str);
        *ret = TAKE_PTR(l);
        return 0;
}

static bool is_vfio_driver(const char *driver) {
        return driver && driver_manages_dma(driver, false) && !streq(driver, "pci-stub");
}

static bool is_audio(const PciFunction *f) {
        return (f->class >> 8) == PCI_CLASS_AUDIO;
}

/* Whether the router's own names say eGPU enclosure (data/tables/egpu-name-hints.table). */
static bool tb_looks_like_egpu(const TbDevice *t) {
        return egpu_name_says_enclosure(t->vendor_name, t->device_name);
}

/* "1-1 (Blackmagic Design eGPU Pro)" */
static char *tb_label(const TbDevice *t) {
        char *s;
        if (asprintf(&s, "%s (%s %s)", t->name, t->vendor_name, t->device_name) < 0)
                return NULL;
        return s;
}

/* "0000:30:00.0 (1002:687f Vega 10 XL/XT [Radeon RX Vega 56/64])": the name as udev's hwdb gives it */
static char *pci_label(const PciFunction *f) {
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

/* Whether any eGPU sits behind router t (or, where the model could not tell which router, any eGPU). */
static bool tb_has_egpu(const Host *h, const TbDevice *t) {
        FOREACH_ARRAY(e, h->egpus, h->n_egpus)
                if ((*e)->tb_device == t || !(*e)->tb_device)
                        return true;
        return false;
}

static bool host_is_vendor(const Host *h, uint32_t vendor) {
        const PciFunction *hb = host_find_pci(h, "0000:00:00.0");
        return hb && hb->vendor == vendor;
}

#define PCI_VENDOR_INTEL  0x8086
#define PCI_VENDOR_AMD    0x1022
#define PCI_VENDOR_ATI    0x1002
#define PCI_VENDOR_NVIDIA 0x10de

/* ---- gathering ---- */

/* NICs by name and by MAC (any case), the first loaded first among equal ones. */
static int nics_index(Doctor *d) {
        int r = str_index_build(
                &d->nics_by_name,
                d->nics,
                d->n_nics,
                sizeof(NetDev),
                offsetof(NetDev, name),
                false);

        if (r < 0)
                return r;
        return str_index_build(
                &d->nics_by_mac,
                d->nics,
                d->n_nics,
                sizeof(NetDev),
                offsetof(NetDev, mac),
                true);
}

static int load_nics(Doctor *d) {
        _cleanup_(udev_enumerate_unrefp) struct udev_enumerate *e = NULL;
        struct udev_list_entry *entry;
        int r;

        e = udev_enumerate_new(d->udev);
        if (!e)
                return -ENOMEM;
        r = udev_enumerate_add_match_subsystem(e, "net");
        if (r < 0)
                return r;
        r = udev_enumerate_scan_devices(e);
        if (r < 0)
                return r;
        udev_list_entry_foreach(entry, udev_enumerate_get_list_entry(e)) {
                _cleanup_(udev_device_unrefp) struct udev_device *dev = NULL;
                struct udev_device *parent;
                const char *name, *v;
                NetDev n = {};
                int k;

                dev = udev_device_new_from_syspath(d->udev, udev_list_entry_get_name(entry));
                if (!dev)
                        continue;
                name = udev_device_get_sysname(dev);
                if (!name)
                        continue;
                n.name = strdup(name);
                v = udev_device_get_property_value(dev, "ID_NET_NAME_PATH");
                n.path_name = v ? strdup(v) : NULL;
                (void) sysfs_attr_string(dev, "address", &n.mac);
                parent = udev_device_get_parent_with_subsystem_devtype(dev, "pci", NULL);
                if (parent)
                        n.pci = host_find_pci_by_syspath(d->host, udev_device_get_syspath(parent));
                k = ARRAY_RESERVE(d->nics, d->n_nics_allocated, d->n_nics + 1);
                if (!n.name || (v && !n.path_name) || k < 0) {
                        free(n.name);
                        free(n.path_name);
                        free(n.mac);
                        return -ENOMEM;
                }
                d->nics[d->n_nics++] = n;
        }
        return nics_index(d);
}

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

/* ---- the checks ---- */

/* The fix lines that add kernel parameters params, for the boot loader this root uses. */
static int fix_kernel_params(const Doctor *d, Check *c, const char *params) {
        bool pbt = root_path_exists(d, "/etc/kernel/cmdline"),
             grub = root_path_exists(d, "/etc/default/grub");
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

static int check_iommu(Doctor *d, CheckList *l) {
        const Host *h = d->host;
        bool intel = host_is_vendor(h, PCI_VENDOR_INTEL), amd = host_is_vendor(h, PCI_VENDOR_AMD);
        Check *c;
        int r;

        c = check_list_begin(l, "iommu");
        if (!c)
                return -ENOMEM;
        if (host_iommu_active(h))
                return check_finish(
                        c,
                        CHECK_OK,
                        "IOMMU active: %zu unit%s, %zu group%s",
                        h->n_iommu_units,
                        h->n_iommu_units == 1 ? "" : "s",
                        h->n_groups,
                        h->n_groups == 1 ? "" : "s");

        r = check_problem(
                c,
                CHECK_FAIL,
                "no IOMMU is active (no units in /sys/class/iommu, no IOMMU groups): nothing can be "
                "passed through to a VM");
        if (r < 0)
                return r;
        r = check_fix(
                c,
                "# 1. In the firmware setup, turn on %s.\n# 2. Add the kernel parameters %s:",
                intel         ? "VT-d (Intel Virtualization Technology for Directed I/O)"
                        : amd ? "AMD-Vi (IOMMU, sometimes under SVM or NBIO settings)"
                              : "VT-d (Intel) or AMD-Vi/IOMMU (AMD)",
                intel         ? "intel_iommu=on iommu=pt"
                        : amd ? "amd_iommu=on iommu=pt"
                              : "intel_iommu=on iommu=pt (Intel) or amd_iommu=on iommu=pt (AMD)");
        if (r < 0)
                return r;
        r = fix_kernel_params(
                d,
                c,
                intel         ? "intel_iommu=on iommu=pt"
                        : amd ? "amd_iommu=on iommu=pt"
                              : "intel_iommu=on iommu=pt");
        if (r < 0)
                return r;
        return check_fix(
                c,
                "# 3. Reboot, then check that these list entries:\nls /sys/class/iommu "
                "/sys/kernel/iommu_groups");
}

static int check_tb_cable(Doctor *d, CheckList *l) {
        const Host *h = d->host;
        size_t n_devices = 0, n_enclosures = 0;
        Check *c;
        int r;

        c = check_list_begin(l, "tb-cable");
        if (!c)
                return -ENOMEM;
        FOREACH_ARRAY(t, h->tb_devices, h->n_tb_devices)
                if (!(*t)->host_router)
                        n_devices++;

        FOREACH_ARRAY(u, d->usb, d->n_usb) {
                _cleanup_free_ char *what = NULL;
                bool matched = false, other_tb = false;
                UsbEnclosure enc;

                if (u->vendor > 0xffff || u->product > 0xffff ||
                    !usb_egpu_enclosure(
                            (uint16_t) u->vendor,
                            (uint16_t) u->product,
                            u->manufacturer,
                            u->product_name,
                            &enc))
                        continue;
                n_enclosures++;
                /* Behind a tunnel, the enclosure's own USB controller is a removable PCI function: fine. */
                if (u->controller && pci_function_is_removable(u->controller))
                        continue;
                /* A USB4 host tunnels USB3 through its own controller: then its router is there too. */
                FOREACH_ARRAY(t, h->tb_devices, h->n_tb_devices) {
                        if ((*t)->host_router)
                                continue;
                        if (streq_ptr((*t)->device_name, u->product_name) || tb_looks_like_egpu(*t))
                                matched = true;
                        else
                                other_tb = true;
                }
                if (matched)
                        continue;

                r = usb_egpu_enclosure_describe(&enc, u->manufacturer, u->product_name, &what);
                if (r < 0)
                        return r;
                r = check_problem(
                        c,
                        other_tb ? CHECK_WARN : CHECK_FAIL,
                        "%s (USB %04x:%04x at %s) is connected over USB only and %s: the cable %s "
                        "Thunderbolt signalling, so the PCIe tunnel to the GPU cannot open",
                        what,
                        u->vendor,
                        u->product,
                        u->name,
                        other_tb ? "no Thunderbolt device that looks like it is there"
                                 : "no Thunderbolt device is there",
                        other_tb ? "probably carries no" : "carries no");
                if (r < 0)
                        return r;
        }
        if (check_has_problem(c)) {
                if (h->n_domains == 0)
                        r = check_fix(
                                c,
                                "# This host shows no Thunderbolt/USB4 controller: load the driver, and\n"
                                "# turn on Thunderbolt/USB4 support in the firmware setup if it is off:\n"
                                "modprobe thunderbolt");
                else
                        r = check_fix(
                                c,
                                "# Replace the cable with a Thunderbolt 3/4 or USB4 40 Gb/s cable "
                                "(lightning\n"
                                "# bolt or \"40Gbps\" printed on it; a USB-C charging or USB 3 cable will "
                                "not do),\n"
                                "# plugged into a Thunderbolt/USB4 port of the host. Then a device such as "
                                "1-1\n"
                                "# appears here:\n"
                                "ls /sys/bus/thunderbolt/devices/");
                if (r < 0)
                        return r;
        }
        if (n_devices == 0 && n_enclosures == 0)
                return check_finish(c, CHECK_SKIP, "no eGPU enclosure connected, over USB or Thunderbolt");
        return check_finish(
                c,
                CHECK_OK,
                "%zu Thunderbolt device%s connected; no eGPU enclosure is on USB without Thunderbolt",
                n_devices,
                n_devices == 1 ? "" : "s");
}

static const char *security_reason(TbSecurity s) {
        switch (s) {
        case TB_SECURITY_USER:
                return "the domain's security level \"user\" needs each device approved";
        case TB_SECURITY_SECURE:
                return "the domain's security level \"secure\" needs each device approved, and a stored key "
                       "on later connects (a key rejected by the device also leaves it at 0)";
        case TB_SECURITY_NONE:
                return "the domain's security level is \"none\", which connects devices by itself: the "
                       "firmware "
                       "or the kernel refused it";
        case TB_SECURITY_DPONLY:
        case TB_SECURITY_USBONLY:
        case TB_SECURITY_NOPCIE:
                return "the domain's security level allows no PCIe tunnel at all";
        default:
                return "the domain's security level is unknown";
        }
}

static int check_tb_authorized(Doctor *d, CheckList *l) {
        const Host *h = d->host;
        _cleanup_free_ char *names = NULL;
        size_t n = 0;
        Check *c;
        int r;

        c = check_list_begin(l, "tb-authorized");
        if (!c)
                return -ENOMEM;
        FOREACH_ARRAY(tp, h->tb_devices, h->n_tb_devices) {
                const TbDevice *t = *tp;
                _cleanup_free_ char *label = NULL;
                TbSecurity sec = t->domain ? t->domain->security : TB_SECURITY_UNKNOWN;

                if (t->host_router)
                        continue;
                n++;
                label = tb_label(t);
                if (!label)
                        return -ENOMEM;
                if (t->authorized != 0) {
                        r = strextendf(&names, "%s%s", names ? ", " : "", label);
                        if (r < 0)
                                return r;
                        continue;
                }
                /* A device that is not an eGPU (a dock) may be left out on purpose: warn only, unless no
                 * eGPU is there at all, when it may well be the one. */
                r = check_problem(
                        c,
                        tb_looks_like_egpu(t) || h->n_egpus == 0 ? CHECK_FAIL : CHECK_WARN,
                        "%s is not authorized (authorized=0), so its PCIe tunnel is closed and no GPU "
                        "can appear: %s",
                        label,
                        security_reason(sec));
                if (r < 0)
                        return r;
                if (!tb_security_allows_pcie(sec))
                        r = check_fix(
                                c,
                                "# In the firmware setup, set the Thunderbolt security level of %s to "
                                "\"User\n"
                                "# Authorization\" (SL1), or turn on PCIe tunnelling for USB4; then:\n"
                                "egpuctl enroll %s\negpuctl attach",
                                t->domain ? t->domain->name : "the port",
                                t->name);
                else
                        r = check_fix(
                                c,
                                "# Enrol the device once, then open its tunnel (egpuctl does this by itself "
                                "at\n"
                                "# boot and on hot-plug for enrolled devices):\n"
                                "egpuctl enroll %s\negpuctl attach\n"
                                "# for a one-off test instead: echo 1 > "
                                "/sys/bus/thunderbolt/devices/%s/authorized",
                                t->name,
                                t->name);
                if (r < 0)
                        return r;
        }
        if (n == 0)
                return check_finish(c, CHECK_SKIP, "no Thunderbolt device connected");
        return check_finish(c, CHECK_OK, "authorized: %s", strna(names));
}

static int check_tb_security(Doctor *d, CheckList *l) {
        const Host *h = d->host;
        _cleanup_free_ char *ok = NULL;
        bool fix_level = false, fix_dma = false;
        Check *c;
        int r;

        c = check_list_begin(l, "tb-security");
        if (!c)
                return -ENOMEM;
        if (h->n_domains == 0)
                return check_finish(c, CHECK_SKIP, "no Thunderbolt/USB4 domain");
        FOREACH_ARRAY(dp, h->domains, h->n_domains) {
                const TbDomain *dom = *dp;

                if (!tb_security_allows_pcie(dom->security)) {
                        r = check_problem(
                                c,
                                CHECK_WARN,
                                "%s has security level \"%s\", which allows no PCIe tunnel: an eGPU "
                                "cannot work on its ports",
                                dom->name,
                                tb_security_to_string(dom->security));
                        if (r < 0)
                                return r;
                        fix_level = true;
                }
                if (dom->iommu_dma_protection == 0) {
                        r = check_problem(
                                c,
                                CHECK_WARN,
                                "%s has no IOMMU DMA protection (iommu_dma_protection=0): a device "
                                "there can read and write memory before it is authorized",
                                dom->name);
                        if (r < 0)
                                return r;
                        fix_dma = true;
                }
                r = strextendf(
                        &ok,
                        "%s%s security \"%s\"%s",
                        ok ? ", " : "",
                        dom->name,
                        tb_security_to_string(dom->security),
                        dom->iommu_dma_protection > 0 ? " with DMA protection" : "");
                if (r < 0)
                        return r;
        }
        if (fix_level) {
                r = check_fix(
                        c,
                        "# In the firmware setup, set Thunderbolt security to \"User Authorization\" (SL1)\n"
                        "# and, for USB4, turn on PCIe tunnelling. Then check:\n"
                        "cat /sys/bus/thunderbolt/devices/domain*/security");
                if (r < 0)
                        return r;
        }
        if (fix_dma) {
                r = check_fix(
                        c,
                        "# Turn on \"Kernel DMA Protection\" (Thunderbolt pre-boot DMA protection) and\n"
                        "# VT-d/AMD-Vi in the firmware setup, and boot with the IOMMU on (see the iommu\n"
                        "# check). Then check:\n"
                        "cat /sys/bus/thunderbolt/devices/domain*/iommu_dma_protection");
                if (r < 0)
                        return r;
        }
        return check_finish(c, CHECK_OK, "%s", ok);
}

static uint64_t round_up_pow2(uint64_t v) {
        uint64_t p = 1;
        while (p < v && p < (UINT64_C(1) << 62))
                p <<= 1;
        return p;
}

static int check_gpu_present(Doctor *d, CheckList *l) {
        const Host *h = d->host;
        _cleanup_free_ char *ok = NULL;
        uint64_t missing = 0;
        size_t n_authorized = 0;
        Check *c;
        int r;

        c = check_list_begin(l, "gpu-present");
        if (!c)
                return -ENOMEM;

        FOREACH_ARRAY(tp, h->tb_devices, h->n_tb_devices) {
                const TbDevice *t = *tp;
                _cleanup_free_ char *label = NULL;

                if (!tb_device_is_connected_device(t))
                        continue;
                n_authorized++;
                if (!tb_looks_like_egpu(t) || tb_has_egpu(h, t))
                        continue;
                label = tb_label(t);
                if (!label)
                        return -ENOMEM;
                r = check_problem(
                        c,
                        CHECK_FAIL,
                        "%s is authorized, but no GPU (display-class PCI function) appeared behind it",
                        label);
                if (r < 0)
                        return r;
                r = check_fix(
                        c,
                        "# Ask the kernel to look for it again:\n"
                        "echo 1 > /sys/bus/pci/rescan\n"
                        "# If it still is not there, read why (\"BAR ... no space\", \"bridge window\"):\n"
                        "journalctl -k -b | grep -iE 'pci|thunderbolt' | tail -50\n"
                        "# and give the hot-plug ports more room with the kernel parameters\n"
                        "# pci=realloc,hpbussize=0x33,hpmmioprefsize=16G,hpmmiosize=256M:");
                if (r < 0)
                        return r;
                r = fix_kernel_params(d, c, "pci=realloc,hpbussize=0x33,hpmmioprefsize=16G,hpmmiosize=256M");
                if (r < 0)
                        return r;
        }

        FOREACH_ARRAY(ep, h->egpus, h->n_egpus) {
                const Egpu *e = *ep;
                bool all_read = true;

                FOREACH_ARRAY(fp, e->functions, e->n_functions) {
                        _cleanup_free_ PciResource *res = NULL;
                        size_t n_res = 0;

                        r = pci_function_read_resources((*fp)->syspath, &res, &n_res);
                        if (r == -ENOMEM)
                                return r;
                        if (r < 0) {
                                all_read = false;
                                continue;
                        }
                        for (size_t i = 0; i < MIN(n_res, (size_t) PCI_RESOURCE_ROM); i++) {
                                _cleanup_free_ char *size = NULL;

                                if (!pci_resource_unassigned(&res[i]))
                                        continue;
                                size = format_bytes(pci_resource_size(&res[i]));
                                if (!size)
                                        return -ENOMEM;
                                missing += pci_resource_size(&res[i]);
                                r = check_problem(
                                        c,
                                        CHECK_WARN,
                                        "%s BAR %zu (%s) has no address: the memory window of the "
                                        "hot-plug port above it is too small, and the driver will fail",
                                        (*fp)->bdf,
                                        i,
                                        size);
                                if (r < 0)
                                        return r;
                        }
                }
                r = strextendf(
                        &ok,
                        "%seGPU %s (%04x:%04x) behind %s%s",
                        ok ? "; " : "",
                        e->gpu->bdf,
                        e->gpu->vendor,
                        e->gpu->device,
                        e->tb_device ? e->tb_device->name : "a Thunderbolt/USB4 port",
                        all_read ? ", every BAR assigned" : "");
                if (r < 0)
                        return r;
        }
        if (missing > 0) {
                uint64_t gib = round_up_pow2((missing + (UINT64_C(1) << 30) - 1) >> 30);
                _cleanup_free_ char *params = NULL;

                if (asprintf(&params, "pci=realloc,hpmmioprefsize=%" PRIu64 "G", MAX(gib, UINT64_C(1))) < 0)
                        return -ENOMEM;
                r = check_fix(
                        c,
                        "# Let the kernel resize the bridge windows, with room for the GPU's BARs:");
                if (r < 0)
                        return r;
                r = fix_kernel_params(d, c, params);
                if (r < 0)
                        return r;
                r = check_fix(
                        c,
                        "# then reboot (or detach and attach the eGPU) and check that no BAR starts at 0:\n"
                        "cat /sys/bus/pci/devices/%s/resource",
                        h->egpus[0]->gpu->bdf);
                if (r < 0)
                        return r;
        }
        if (h->n_egpus > 0)
                return check_finish(c, CHECK_OK, "%s", ok);
        if (n_authorized == 0)
                return check_finish(c, CHECK_SKIP, "no authorized Thunderbolt device: no GPU is expected");
        return check_finish(
                c,
                CHECK_SKIP,
                "no eGPU enclosure among the %zu authorized Thunderbolt device%s",
                n_authorized,
                n_authorized == 1 ? "" : "s");
}

static int check_iommu_isolation(Doctor *d, CheckList *l) {
        const Host *h = d->host;
        _cleanup_free_ char *ok = NULL;
        bool no_groups = false;
        Check *c;
        int r;

        c = check_list_begin(l, "iommu-isolation");
        if (!c)
                return -ENOMEM;
        if (h->n_egpus == 0)
                return check_finish(c, CHECK_SKIP, "no eGPU connected");
        if (!host_iommu_active(h))
                return check_finish(
                        c,
                        CHECK_SKIP,
                        "no IOMMU groups, since no IOMMU is active (see the iommu check)");

        FOREACH_ARRAY(ep, h->egpus, h->n_egpus) {
                const Egpu *e = *ep;
                _cleanup_free_ char *ids = NULL;

                FOREACH_ARRAY(fp, e->functions, e->n_functions)
                        if ((*fp)->iommu_group < 0) {
                                r = check_problem(c, CHECK_FAIL, "%s has no IOMMU group", (*fp)->bdf);
                                if (r < 0)
                                        return r;
                                no_groups = true;
                        }
                FOREACH_ARRAY(gp, e->groups, e->n_groups) {
                        const IommuGroup *g = *gp;
                        _cleanup_free_ char *foreign = NULL;

                        r = strextendf(&ids, "%s%d", ids ? ", " : "", g->id);
                        if (r < 0)
                                return r;
                        FOREACH_ARRAY(m, g->members, g->n_members) {
                                if (!egpu_member_is_foreign(e, *m))
                                        continue;
                                r = strextendf(
                                        &foreign,
                                        "%s%s (%04x:%04x, %s)",
                                        foreign ? ", " : "",
                                        (*m)->bdf,
                                        (*m)->vendor,
                                        (*m)->device,
                                        (*m)->driver ?: "no driver");
                                if (r < 0)
                                        return r;
                        }
                        if (!foreign)
                                continue;
                        r = check_problem(
                                c,
                                CHECK_FAIL,
                                "IOMMU group %d of eGPU %s also holds %s, which would have to leave the "
                                "host and go to the VM with it",
                                g->id,
                                e->gpu->bdf,
                                foreign);
                        if (r < 0)
                                return r;
                }
                r = strextendf(
                        &ok,
                        "%seGPU %s: group%s %s hold%s only its functions and bridges",
                        ok ? "; " : "",
                        e->gpu->bdf,
                        e->n_groups == 1 ? "" : "s",
                        strna(ids),
                        e->n_groups == 1 ? "s" : "");
                if (r < 0)
                        return r;
        }
        if (check_has_problem(c)) {
                r = no_groups
                        ? check_fix(
                                  c,
                                  "# A function without a group cannot be passed through: check the iommu "
                                  "check, then detach and attach the eGPU.")
                        : check_fix(
                                  c,
                                  "# Plug the enclosure into another Thunderbolt/USB4 port (another root "
                                  "port), or pass the\n"
                                  "# other devices of the group to the VM as well. As a last resort, the "
                                  "Proxmox kernel's\n"
                                  "# ACS override splits groups, at the cost of isolation between them:");
                if (r < 0)
                        return r;
                if (!no_groups) {
                        r = fix_kernel_params(d, c, "pcie_acs_override=downstream,multifunction");
                        if (r < 0)
                                return r;
                }
        }
        return check_finish(c, CHECK_OK, "%s", ok);
}

static int check_vfio_bound(Doctor *d, CheckList *l) {
        const Host *h = d->host;
        _cleanup_free_ char *ok = NULL;
        bool need_modprobe = false;
        Check *c;
        int r;

        c = check_list_begin(l, "vfio-bound");
        if (!c)
                return -ENOMEM;
        if (h->n_egpus == 0)
                return check_finish(c, CHECK_SKIP, "no eGPU connected");

        FOREACH_ARRAY(ep, h->egpus, h->n_egpus)
                FOREACH_ARRAY(fp, (*ep)->functions, (*ep)->n_functions) {
                        const PciFunction *f = *fp;
                        _cleanup_free_ char *label = pci_label(f);

                        if (!label)
                                return -ENOMEM;
                        if (is_vfio_driver(f->driver)) {
                                r = strextendf(&ok, "%s%s", ok ? ", " : "", f->bdf);
                                if (r < 0)
                                        return r;
                                continue;
                        }
                        if (!f->driver)
                                r = check_problem(
                                        c,
                                        CHECK_WARN,
                                        "%s has no driver: nothing keeps a host driver from taking it "
                                        "before the VM starts",
                                        label);
                        else if (streq(f->driver, "pci-stub"))
                                r = check_problem(
                                        c,
                                        CHECK_WARN,
                                        "%s is held by pci-stub: QEMU needs vfio-pci, which the VM start "
                                        "must then bind",
                                        label);
                        else
                                r = check_problem(
                                        c,
                                        CHECK_FAIL,
                                        "%s is on the host driver %s instead of vfio-pci",
                                        label,
                                        f->driver);
                        if (r < 0)
                                return r;
                        if (!d->vfio_pci_loaded && !need_modprobe) {
                                need_modprobe = true;
                                r = check_fix(c, "modprobe vfio-pci");
                                if (r < 0)
                                        return r;
                        }
                        r = check_fix(c, "echo vfio-pci > /sys/bus/pci/devices/%s/driver_override", f->bdf);
                        if (r >= 0 && f->driver)
                                r = check_fix(
                                        c,
                                        "echo %s > /sys/bus/pci/devices/%s/driver/unbind",
                                        f->bdf,
                                        f->bdf);
                        if (r >= 0)
                                r = check_fix(c, "echo %s > /sys/bus/pci/drivers_probe", f->bdf);
                        if (r < 0)
                                return r;
                }
        if (check_has_problem(c)) {
                r = check_fix(
                        c,
                        "# (unbinding a GPU that the host is using for a display can hang that display;\n"
                        "# stop what uses it first). To keep it from happening again, see vfio-config.");
                if (r < 0)
                        return r;
        }
        return check_finish(c, CHECK_OK, "on vfio-pci: %s", strna(ok));
}

static int fix_install_vendor_reset(Check *c) {
        return check_fix(
                c,
                "# Build and install vendor-reset (https://github.com/gnif/vendor-reset) with DKMS. Linux "
                "6.12\n"
                "# moved <asm/unaligned.h> to <linux/unaligned.h>, which its src/amd/amdgpu/atom.c "
                "includes\n"
                "# (gnif/vendor-reset issue 87, pull request 86): on such a kernel, change that line "
                "first.\n"
                "apt-get install -y proxmox-default-headers dkms git build-essential\n"
                "git clone https://github.com/gnif/vendor-reset.git /usr/src/vendor-reset\n"
                "cd /usr/src/vendor-reset\n"
                "if dpkg --compare-versions \"$(uname -r)\" ge 6.12; then\n"
                "        sed -i 's|<asm/unaligned.h>|<linux/unaligned.h>|' src/amd/amdgpu/atom.c\n"
                "fi\n"
                "dkms install .\n"
                "echo vendor-reset > /etc/modules-load.d/vendor-reset.conf\n"
                "modprobe vendor-reset");
}

static int check_gpu_reset(Doctor *d, CheckList *l) {
        const Host *h = d->host;
        _cleanup_free_ char *ok = NULL;
        bool install_fix = false;
        Check *c;
        int r;

        c = check_list_begin(l, "gpu-reset");
        if (!c)
                return -ENOMEM;
        if (h->n_egpus == 0)
                return check_finish(c, CHECK_SKIP, "no eGPU connected");

        FOREACH_ARRAY(ep, h->egpus, h->n_egpus) {
                const PciFunction *g = (*ep)->gpu;
                /* The running kernel's reset_method first, vendor-reset's own list otherwise. */
                VendorResetSupport vr = vendor_reset_support(g, d->vendor_reset_loaded);
                _cleanup_free_ char *label = pci_label(g);

                if (!label)
                        return -ENOMEM;
                if (vr != VENDOR_RESET_NO) {
                        if (!d->vendor_reset_loaded) {
                                r = check_problem(
                                        c,
                                        CHECK_FAIL,
                                        "%s has no working FLR and needs vendor-reset (its device list, "
                                        "gnif/vendor-reset %s, has it), which is not loaded: starting the "
                                        "VM fails to reset the GPU (\"Inappropriate ioctl for device\") and "
                                        "can hang the host",
                                        label,
                                        vendor_reset_commit);
                                if (r < 0)
                                        return r;
                                if (!install_fix) {
                                        install_fix = true;
                                        r = check_fix(
                                                c,
                                                "# If vendor-reset is installed already, load it; with "
                                                "Secure "
                                                "Boot on, see module-signing:\n"
                                                "modprobe vendor-reset");
                                        if (r >= 0)
                                                r = fix_install_vendor_reset(c);
                                        if (r < 0)
                                                return r;
                                }
                                r = check_fix(
                                        c,
                                        "echo device_specific > /sys/bus/pci/devices/%s/reset_method",
                                        g->bdf);
                                if (r < 0)
                                        return r;
                        } else if (!g->reset_methods) {
                                r = check_problem(
                                        c,
                                        CHECK_WARN,
                                        "%s: vendor-reset is loaded, but the kernel shows no "
                                        "reset_method, so whether its reset is used cannot be told "
                                        "(kernel older than 5.15?)",
                                        label);
                                if (r < 0)
                                        return r;
                                r = check_fix(
                                        c,
                                        "# Use a kernel of 5.15 or later, then:\n"
                                        "echo device_specific > /sys/bus/pci/devices/%s/reset_method",
                                        g->bdf);
                                if (r < 0)
                                        return r;
                        } else if (!streq(g->reset_methods[0], "device_specific")) {
                                r = check_problem(
                                        c,
                                        CHECK_FAIL,
                                        "%s: vendor-reset is loaded, but reset_method starts "
                                        "with \"%s\", not device_specific, so its reset is not used",
                                        label,
                                        g->reset_methods[0]);
                                if (r < 0)
                                        return r;
                                r = check_fix(
                                        c,
                                        "echo device_specific > /sys/bus/pci/devices/%s/reset_method",
                                        g->bdf);
                                if (r < 0)
                                        return r;
                        } else {
                                r = strextendf(
                                        &ok,
                                        "%s%s: vendor-reset's device-specific reset%s",
                                        ok ? "; " : "",
                                        label,
                                        vr == VENDOR_RESET_OFFERED ? " (the kernel offers device_specific)"
                                                                   : "");
                                if (r < 0)
                                        return r;
                        }
                        continue;
                }

                if (pci_function_has_reset_method(g, "flr"))
                        r = strextendf(&ok, "%s%s: function-level reset", ok ? "; " : "", label);
                else if (
                        pci_function_has_reset_method(g, "bus") ||
                        pci_function_has_reset_method(g, "cxl_bus"))
                        r = strextendf(
                                &ok,
                                "%s%s: no FLR, secondary bus reset of %s",
                                ok ? "; " : "",
                                label,
                                g->parent ? g->parent->bdf : "its bridge");
                else if (g->reset_methods && g->reset_methods[0]) {
                        r = check_problem(
                                c,
                                CHECK_WARN,
                                "%s has neither FLR nor a bus reset, only \"%s\": it may keep its state "
                                "between VM starts",
                                label,
                                g->reset_methods[0]);
                        if (r >= 0)
                                r = check_fix(
                                        c,
                                        "# Detach and attach the eGPU between VM starts (egpuctl detach; "
                                        "egpuctl attach) to power-cycle it.");
                } else {
                        r = check_problem(
                                c,
                                CHECK_FAIL,
                                "%s offers no reset method at all: the GPU keeps its state between VM "
                                "starts, and QEMU may refuse it",
                                label);
                        if (r >= 0)
                                r = check_fix(
                                        c,
                                        "# Detach and attach the eGPU between VM starts (egpuctl detach; "
                                        "egpuctl attach) to power-cycle it.");
                }
                if (r < 0)
                        return r;
        }
        return check_finish(c, CHECK_OK, "%s", ok);
}

/* Whether vendor-reset.ko is installed for some kernel under root (DKMS puts it in updates/dkms). */
static bool vendor_reset_installed(const Doctor *d) {
        _cleanup_strv_free_ char **kernels = NULL;
        static const char *const places[] = {
                "updates/dkms/vendor-reset.ko",
                "updates/dkms/vendor-reset.ko.xz",
                "updates/dkms/vendor-reset.ko.zst",
                "updates/dkms/vendor-reset.ko.gz",
                "extra/vendor-reset.ko",
                "updates/vendor-reset.ko",
        };

        if (list_root_dir(d, "/lib/modules", "*", &kernels) < 0)
                return false;
        STRV_FOREACH(k, kernels)
                FOREACH_ARRAY(p, places, ELEMENTSOF(places)) {
                        _cleanup_free_ char *path = NULL;
                        if (asprintf(&path, "/lib/modules/%s/%s", *k, *p) < 0)
                                return false;
                        if (root_path_exists(d, path))
                                return true;
                }
        return false;
}

/* Whether the configuration asks for vendor-reset (modules-load.d or a softdep). */
static bool vendor_reset_configured(const Doctor *d) {
        static const char *const dirs[] = { "/etc/modules-load.d",
                                            "/run/modules-load.d",
                                            "/usr/lib/modules-load.d" };

        FOREACH_ARRAY(e, d->modprobe.entries, d->modprobe.n_entries)
                if (e->command == MODPROBE_SOFTDEP &&
                    (strv_contains(e->pre, "vendor_reset") || strv_contains(e->post, "vendor_reset")))
                        return true;
        FOREACH_ARRAY(dir, dirs, ELEMENTSOF(dirs)) {
                _cleanup_strv_free_ char **files = NULL;

                if (list_root_dir(d, *dir, "*.conf", &files) < 0)
                        return false;
                STRV_FOREACH(f, files) {
                        _cleanup_free_ char *path = path_join(*dir, *f), *text = NULL;
                        _cleanup_strv_free_ char **words = NULL;

                        if (!path || read_root_file(d, path, &text) < 0)
                                continue;
                        if (strv_split(text, " \t\r\n", &words) < 0)
                                return false;
                        STRV_FOREACH(w, words)
                                if (modprobe_name_eq(*w, "vendor_reset"))
                                        return true;
                }
        }
        return false;
}

static int check_module_signing(Doctor *d, CheckList *l) {
        const Host *h = d->host;
        _cleanup_free_ char *needers = NULL;
        Check *c;
        int r;

        c = check_list_begin(l, "module-signing");
        if (!c)
                return -ENOMEM;
        if (d->secure_boot < 0)
                return check_finish(
                        c,
                        CHECK_SKIP,
                        "no SecureBoot EFI variable (not booted through EFI): unsigned modules load");
        if (d->secure_boot == 0)
                return check_finish(c, CHECK_OK, "Secure Boot is off: out-of-tree modules load unsigned");

        FOREACH_ARRAY(ep, h->egpus, h->n_egpus) {
                const PciFunction *g = (*ep)->gpu;
                if (g->vendor <= 0xffff && g->device <= 0xffff &&
                    vendor_reset_supports((uint16_t) g->vendor, (uint16_t) g->device)) {
                        r = strextendf(&needers, "%s%s", needers ? ", " : "", g->bdf);
                        if (r < 0)
                                return r;
                }
        }
        if (!needers && !vendor_reset_configured(d))
                return check_finish(c, CHECK_OK, "Secure Boot is on; no out-of-tree module is needed");
        if (d->vendor_reset_loaded)
                return check_finish(
                        c,
                        CHECK_OK,
                        "Secure Boot is on and vendor-reset is loaded: its signing key is enrolled");

        r = check_problem(
                c,
                CHECK_FAIL,
                "Secure Boot is on and vendor-reset, which %s needs, is not loaded: the kernel refuses "
                "modules signed by a key it does not know (DKMS signs with /var/lib/dkms/mok.pub)%s",
                needers ?: "the configuration",
                vendor_reset_installed(d) ? ""
                                          : "; no vendor-reset.ko was found under /lib/modules either: "
                                            "build it first (see gpu-reset)");
        if (r < 0)
                return r;
        return check_fix(
                c,
                "# Enrol DKMS's signing key as a Machine Owner Key; mokutil asks for a one-time password:\n"
                "mokutil --import /var/lib/dkms/mok.pub\n"
                "reboot\n"
                "# At the blue MOK manager screen: Enroll MOK, Continue, Yes, the password, Reboot. Then:\n"
                "mokutil --test-key /var/lib/dkms/mok.pub\n"
                "modprobe vendor-reset");
}

/* The host drivers that would take f: the one bound now, else the usual ones for its vendor and class. */
static size_t host_drivers_for(const PciFunction *f, const char *ret[static 2]) {
        if (f->driver && !is_vfio_driver(f->driver) && !streq(f->driver, "pci-stub")) {
                ret[0] = f->driver;
                return 1;
        }
        if (is_audio(f)) {
                ret[0] = "snd_hda_intel";
                return 1;
        }
        if (!pci_function_is_display(f))
                return 0;
        switch (f->vendor) {
        case PCI_VENDOR_ATI:
                ret[0] = "amdgpu";
                return 1;
        case PCI_VENDOR_NVIDIA:
                ret[0] = "nouveau";
                ret[1] = "nvidia";
                return 2;
        case PCI_VENDOR_INTEL:
                ret[0] = "i915";
                ret[1] = "xe";
                return 2;
        default:
                return 0;
        }
}

static bool udev_rules_installed(const Doctor *d, const char *pattern, char **ret_path);

static int check_vfio_config(Doctor *d, CheckList *l) {
        const Host *h = d->host;
        const ModprobeConfig *m = &d->modprobe;
        const ModprobeEntry *ids_entry;
        const char *ids_value = NULL;
        uint32_t ids[64][2];
        size_t n_ids = 0;
        _cleanup_strv_free_ char **checked = NULL, **new_softdeps = NULL;
        size_t n_checked = 0, allocated_checked = 0, n_new_softdeps = 0, allocated_new_softdeps = 0;
        _cleanup_free_ char *ok = NULL;
        bool egpuctl_rules, need_vr = false;
        Check *c;
        int r;

        c = check_list_begin(l, "vfio-config");
        if (!c)
                return -ENOMEM;

        ids_entry = modprobe_find_option(m, "vfio_pci", "ids", &ids_value);
        if (ids_entry)
                n_ids = vfio_ids_parse(ids_value, ids, ELEMENTSOF(ids));
        egpuctl_rules = udev_rules_installed(d, "*egpuctl*.rules", NULL);

        if (h->n_egpus == 0 && !ids_entry && !vendor_reset_configured(d))
                return check_finish(c, CHECK_SKIP, "no eGPU connected, and no vfio-pci configuration");

        /* Global ids also take identical internal devices. */
        for (size_t i = 0; i < n_ids; i++)
                FOREACH_ARRAY(fp, h->pci, h->n_pci) {
                        const PciFunction *f = *fp;
                        if (f->vendor != ids[i][0] || f->device != ids[i][1] ||
                            pci_function_is_removable(f) || host_find_egpu_of(h, f))
                                continue;
                        r = check_problem(
                                c,
                                CHECK_FAIL,
                                "\"options vfio-pci ids=\" (%s:%u) lists %04x:%04x, which the internal "
                                "%s has too: vfio-pci takes it from the host at boot",
                                ids_entry->file,
                                ids_entry->line,
                                ids[i][0],
                                ids[i][1],
                                f->bdf);
                        if (r < 0)
                                return r;
                        r = check_fix(
                                c,
                                "# Stop claiming by id (egpuctl binds the eGPU by its address instead):\n"
                                "sed -i '%us/^/# /' %s\nupdate-initramfs -u -k all",
                                ids_entry->line,
                                ids_entry->file);
                        if (r < 0)
                                return r;
                }

        FOREACH_ARRAY(ep, h->egpus, h->n_egpus) {
                const PciFunction *g = (*ep)->gpu;

                if (g->vendor <= 0xffff && g->device <= 0xffff &&
                    vendor_reset_supports((uint16_t) g->vendor, (uint16_t) g->device))
                        need_vr = true;
                FOREACH_ARRAY(fp, (*ep)->functions, (*ep)->n_functions) {
                        const PciFunction *f = *fp;
                        const char *drivers[2] = {};
                        size_t n_drivers = host_drivers_for(f, drivers);
                        bool by_id = false;

                        for (size_t i = 0; i < n_ids; i++)
                                by_id = by_id || (ids[i][0] == f->vendor && ids[i][1] == f->device);
                        if (!by_id && !egpuctl_rules) {
                                r = check_problem(
                                        c,
                                        is_vfio_driver(f->driver) ? CHECK_WARN : CHECK_FAIL,
                                        "nothing makes vfio-pci claim %s (%04x:%04x): no \"options "
                                        "vfio-pci ids=\" with it and no egpuctl udev rules",
                                        f->bdf,
                                        f->vendor,
                                        f->device);
                                if (r < 0)
                                        return r;
                        }
                        for (size_t k = 0; k < n_drivers; k++) {
                                const char *drv = drivers[k];
                                const ModprobeEntry *sd, *inst;
                                _cleanup_free_ char *norm = modprobe_normalize(drv);

                                if (!norm)
                                        return -ENOMEM;
                                if (strv_contains(checked, norm))
                                        continue;
                                r = strv_push(&checked, &n_checked, &allocated_checked, strdup(norm));
                                if (r < 0)
                                        return r;
                                inst = modprobe_find_install(m, drv);
                                if (modprobe_has_softdep_pre(m, drv, "vfio_pci") ||
                                    modprobe_find_blacklist(m, drv) ||
                                    (inst && inst->args[0] && strstr(inst->args[0], "vfio"))) {
                                        r = strextendf(&ok, "%svfio-pci before %s", ok ? ", " : "", drv);
                                        if (r < 0)
                                                return r;
                                        continue;
                                }
                                r = check_problem(
                                        c,
                                        streq_ptr(f->driver, drv) ? CHECK_FAIL : CHECK_WARN,
                                        "nothing loads vfio-pci before %s (for %s), so %s can claim it "
                                        "first at boot or on hot-plug%s",
                                        drv,
                                        f->bdf,
                                        drv,
                                        streq_ptr(f->driver, drv) ? ", as it did now" : "");
                                if (r < 0)
                                        return r;
                                sd = modprobe_find_softdep(m, drv);
                                if (sd)
                                        r = check_fix(
                                                c,
                                                "# kmod reads only the first softdep line of a module: add "
                                                "vfio-pci to %s:%u\n"
                                                "sed -i '%us/softdep[[:space:]]*[^[:space:]]*/& pre: "
                                                "vfio-pci/' %s",
                                                sd->file,
                                                sd->line,
                                                sd->line,
                                                sd->file);
                                else
                                        r = strv_push(
                                                &new_softdeps,
                                                &n_new_softdeps,
                                                &allocated_new_softdeps,
                                                strdup(drv));
                                if (r < 0)
                                        return r;
                        }
                }
        }
        if (h->n_egpus == 0 && vendor_reset_configured(d))
                need_vr = true;
        if (need_vr) {
                if (!modprobe_has_softdep_pre(m, "vfio_pci", "vendor_reset")) {
                        const ModprobeEntry *sd = modprobe_find_softdep(m, "vfio_pci");

                        r = check_problem(
                                c,
                                CHECK_WARN,
                                "vendor-reset is not loaded before vfio-pci (no \"softdep vfio-pci pre: "
                                "vendor-reset\"), so the GPU can be bound before its reset is hooked");
                        if (r < 0)
                                return r;
                        if (sd)
                                r = check_fix(
                                        c,
                                        "# kmod reads only the first softdep line of a module: add "
                                        "vendor-reset to %s:%u\n"
                                        "sed -i '%us/softdep[[:space:]]*[^[:space:]]*/& pre: vendor-reset/' "
                                        "%s",
                                        sd->file,
                                        sd->line,
                                        sd->line,
                                        sd->file);
                        else
                                r = strv_push(
                                        &new_softdeps,
                                        &n_new_softdeps,
                                        &allocated_new_softdeps,
                                        strdup("vfio-pci"));
                        if (r < 0)
                                return r;
                } else {
                        r = strextendf(&ok, "%svendor-reset before vfio-pci", ok ? ", " : "");
                        if (r < 0)
                                return r;
                }
        }
        if (n_new_softdeps > 0) {
                r = check_fix(
                        c,
                        "# egpuctl install --apply writes these lines to /etc/modprobe.d/egpuctl.conf; or "
                        "by "
                        "hand:\ncat >> /etc/modprobe.d/egpuctl.conf <<'EOF'");
                STRV_FOREACH(s, new_softdeps)
                        if (r >= 0)
                                r = streq(*s, "vfio-pci")
                                        ? check_fix(c, "softdep vfio-pci pre: vendor-reset")
                                        : check_fix(c, "softdep %s pre: vfio-pci", *s);
                if (r >= 0)
                        r = check_fix(c, "EOF");
                if (r < 0)
                        return r;
        }
        if (check_has_problem(c) && c->fix && !strstr(c->fix, "update-initramfs")) {
                r = check_fix(c, "update-initramfs -u -k all");
                if (r < 0)
                        return r;
        }
        if (h->n_egpus == 0)
                return check_finish(
                        c,
                        CHECK_OK,
                        "%s; connect the eGPU to check the driver order",
                        ids_entry ? "\"options vfio-pci ids=\" claims no internal device"
                                  : "no global vfio-pci ids");
        return check_finish(
                c,
                CHECK_OK,
                "%s%s",
                strna(ok),
                n_ids > 0 ? "; \"options vfio-pci ids=\" claims no internal device" : "");
}

static const char *const udev_rules_dirs[] = { "/etc/udev/rules.d",
                                               "/run/udev/rules.d",
                                               "/usr/lib/udev/rules.d",
                                               "/lib/udev/rules.d" };
static const char *const unit_dirs[] = { "/etc/systemd/system",
                                         "/run/systemd/system",
                                         "/usr/lib/systemd/system",
                                         "/lib/systemd/system" };

static bool udev_rules_installed(const Doctor *d, const char *pattern, char **ret_path) {
        FOREACH_ARRAY(dir, udev_rules_dirs, ELEMENTSOF(udev_rules_dirs)) {
                _cleanup_strv_free_ char **files = NULL;

                if (list_root_dir(d, *dir, pattern, &files) < 0)
                        return false;
                if (files[0]) {
                        if (ret_path)
                                *ret_path = path_join(*dir, files[0]);
                        return true;
                }
        }
        return false;
}

/* The path (without root) of unit name in the unit folders, NULL when not installed. */
static char *unit_path(const Doctor *d, const char *name) {
        FOREACH_ARRAY(dir, unit_dirs, ELEMENTSOF(unit_dirs)) {
                _cleanup_free_ char *p = path_join(*dir, name);
                if (p && root_path_exists(d, p))
                        return TAKE_PTR(p);
        }
        return NULL;
}

/* Whether unit name is enabled: a link or file of that name in some *.wants/ or *.requires/ folder. */
static bool unit_enabled(const Doctor *d, const char *name) {
        static const char *const dirs[] = { "/etc/systemd/system",
                                            "/usr/lib/systemd/system",
                                            "/lib/systemd/system" };

        FOREACH_ARRAY(dir, dirs, ELEMENTSOF(dirs)) {
                _cleanup_strv_free_ char **sub = NULL;

                if (list_root_dir(d, *dir, "*.wants", &sub) < 0)
                        return false;
                STRV_FOREACH(s, sub) {
                        _cleanup_free_ char *p = NULL;
                        if (asprintf(&p, "%s/%s/%s", *dir, *s, name) < 0)
                                return false;
                        if (root_path_exists(d, p))
                                return true;
                }
        }
        return false;
}

/* The files that make up a unit: the unit file and its drop-ins in /etc/systemd/system/NAME.d/. */
static int unit_files(const Doctor *d, const char *path, const char *name, char ***ret) {
        _cleanup_strv_free_ char **files = NULL, **dropins = NULL;
        _cleanup_free_ char *dropin_dir = NULL;
        size_t n = 0, allocated = 0;
        int r;

        r = strv_push(&files, &n, &allocated, strdup(path));
        if (r < 0)
                return r;
        if (asprintf(&dropin_dir, "/etc/systemd/system/%s.d", name) < 0)
                return -ENOMEM;
        r = list_root_dir(d, dropin_dir, "*.conf", &dropins);
        if (r < 0)
                return r;
        STRV_FOREACH(f, dropins) {
                r = strv_push(&files, &n, &allocated, path_join(dropin_dir, *f));
                if (r < 0)
                        return r;
        }
        *ret = TAKE_PTR(files);
        return 0;
}

/* The udev rules of the old guide's kind: match a Thunderbolt device by its vendor name and run a script. */
static int find_old_udev_rules(const Doctor *d, Check *c) {
        _cleanup_strv_free_ char **files = NULL;
        int r;

        r = list_root_dir(d, "/etc/udev/rules.d", "*.rules", &files);
        if (r < 0)
                return r;
        STRV_FOREACH(f, files) {
                _cleanup_free_ char *p = path_join("/etc/udev/rules.d", *f), *text = NULL;

                if (!p)
                        return -ENOMEM;
                if (strstr(*f, "egpuctl") || read_root_file(d, p, &text) < 0)
                        continue;
                if (!(streq(*f, "99-egpu-vfio.rules") ||
                      (strstr(text, "SUBSYSTEM==\"thunderbolt\"") && strstr(text, "ATTR{vendor_name}") &&
                       strstr(text, "RUN"))))
                        continue;
                r = check_problem(
                        c,
                        CHECK_WARN,
                        "%s (from the hand-made setup) authorizes Thunderbolt devices by vendor name, "
                        "any device of that vendor, and races egpuctl: superseded by egpuctl's rules",
                        p);
                if (r >= 0)
                        r = check_fix(c, "rm %s\nudevadm control --reload-rules", p);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int check_services(Doctor *d, CheckList *l) {
        _cleanup_free_ char *unit = NULL, *rules = NULL, *old = NULL;
        _cleanup_strv_free_ char **files = NULL;
        Check *c;
        int r;

        c = check_list_begin(l, "services");
        if (!c)
                return -ENOMEM;

        unit = unit_path(d, "egpuctl.service");
        if (!unit) {
                r = check_problem(
                        c,
                        CHECK_FAIL,
                        "egpuctl.service is not installed (not in /etc/systemd/system nor "
                        "/usr/lib/systemd/system): nothing attaches the eGPU at boot before the VMs start");
                if (r >= 0)
                        r = check_fix(
                                c,
                                "# Writes egpuctl.service (enabled), its udev rule, the modprobe and "
                                "modules-load files:\n"
                                "egpuctl install --apply\nsystemctl start egpuctl.service");
                if (r < 0)
                        return r;
        } else {
                if (!unit_enabled(d, "egpuctl.service")) {
                        r = check_problem(c, CHECK_FAIL, "egpuctl.service is installed but not enabled");
                        if (r >= 0)
                                r = check_fix(c, "systemctl enable --now egpuctl.service");
                        if (r < 0)
                                return r;
                }
                r = unit_files(d, unit, "egpuctl.service", &files);
                if (r < 0)
                        return r;
                STRV_FOREACH(f, files) {
                        _cleanup_free_ char *text = NULL;
                        _cleanup_strv_free_ char **after = NULL;

                        if (read_root_file(d, *f, &text) < 0)
                                continue;
                        r = unit_file_get_list(text, "Unit", "After", &after);
                        if (r < 0)
                                return r;
                        STRV_FOREACH(a, after) {
                                if (!streq(*a, "pve-guests.service") && !streq(*a, "libvirt-guests.service"))
                                        continue;
                                r = check_problem(
                                        c,
                                        CHECK_FAIL,
                                        "egpuctl.service is ordered after %s (%s), so the VMs autostart "
                                        "before the eGPU is attached",
                                        *a,
                                        *f);
                                if (r >= 0)
                                        r = check_fix(
                                                c,
                                                "sed -i '/^After=/s/[[:space:]]*%s//' %s\nsystemctl "
                                                "daemon-reload",
                                                *a,
                                                *f);
                                if (r < 0)
                                        return r;
                        }
                }
        }
        if (!udev_rules_installed(d, "*egpuctl*.rules", &rules)) {
                r = check_problem(
                        c,
                        CHECK_FAIL,
                        "no egpuctl udev rules (*egpuctl*.rules in /etc/udev/rules.d or "
                        "/usr/lib/udev/rules.d): a hot-plugged eGPU is not attached");
                if (r >= 0)
                        r = check_fix(c, "egpuctl install --apply");
                if (r < 0)
                        return r;
        }

        old = unit_path(d, "egpu-boot-auth.service");
        if (old) {
                r = check_problem(
                        c,
                        CHECK_WARN,
                        "%s (from the hand-made setup) runs after multi-user.target, that is after the "
                        "VMs autostart: superseded by egpuctl.service",
                        old);
                if (r >= 0)
                        r = check_fix(
                                c,
                                "systemctl disable --now egpu-boot-auth.service\n"
                                "rm %s /usr/local/bin/egpu-boot-auth.sh\nsystemctl daemon-reload",
                                old);
                if (r < 0)
                        return r;
        }
        r = find_old_udev_rules(d, c);
        if (r < 0)
                return r;

        return check_finish(
                c,
                CHECK_OK,
                "egpuctl.service (%s) enabled and ordered before the guests; rules %s",
                unit,
                rules);
}

/* Loads /etc/network/interfaces under root and the files it sources. Returns 0 when it is missing. */
static int load_net_config(const Doctor *d, NetConfig *nc, bool *ret_found) {
        _cleanup_free_ char *text = NULL;
        size_t done_sources = 0, done_dirs = 0;
        int r;

        *ret_found = false;
        r = read_root_file(d, "/etc/network/interfaces", &text);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return 0;
        *ret_found = true;
        /* A file that interfaces_parse() refuses (-EFBIG: a line over 64 KiB) is passed over, as one that
         * cannot be read. */
        r = net_config_parse(nc, "/etc/network/interfaces", text);
        if (r < 0 && r != -EFBIG)
                return r;

        /* Sourced files may source more; bounded against loops. */
        for (unsigned round = 0; round < 8; round++) {
                size_t ns = strv_length(nc->sources), nd = strv_length(nc->source_dirs);

                if (done_sources == ns && done_dirs == nd)
                        break;
                for (; done_sources < ns; done_sources++) {
                        const char *src = nc->sources[done_sources];
                        _cleanup_free_ char *rel =
                                src[0] == '/' ? strdup(src) : path_join("/etc/network", src);
                        _cleanup_free_ char *pattern = NULL;
                        glob_t g = {};

                        if (!rel)
                                return -ENOMEM;
                        pattern = path_under_root(d->root, rel);
                        if (!pattern)
                                return -ENOMEM;
                        if (glob(pattern, 0, NULL, &g) != 0) {
                                globfree(&g);
                                continue;
                        }
                        for (size_t i = 0; i < g.gl_pathc; i++) {
                                _cleanup_free_ char *t = NULL;
                                const char *shown = g.gl_pathv[i] +
                                        (d->root && *d->root && !streq(d->root, "/") ? strlen(d->root) : 0);
                                if (read_full_file(g.gl_pathv[i], CONFIG_FILE_MAX, &t, NULL) < 0)
                                        continue;
                                r = net_config_parse(nc, shown, t);
                                if (r < 0 && r != -EFBIG) {
                                        globfree(&g);
                                        return r;
                                }
                        }
                        globfree(&g);
                        ns = strv_length(nc->sources);
                }
                for (; done_dirs < nd; done_dirs++) {
                        const char *dir = nc->source_dirs[done_dirs];
                        _cleanup_free_ char *rel =
                                dir[0] == '/' ? strdup(dir) : path_join("/etc/network", dir);
                        _cleanup_strv_free_ char **files = NULL;

                        if (!rel)
                                return -ENOMEM;
                        /* run-parts names: letters, digits, '_' and '-'. */
                        r = list_root_dir(d, rel, "*", &files);
                        if (r < 0)
                                return r;
                        STRV_FOREACH(f, files) {
                                _cleanup_free_ char *p = NULL, *t = NULL;

                                if (strspn(*f,
                                           "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_"
                                           "-") != strlen(*f))
                                        continue;
                                p = path_join(rel, *f);
                                if (!p)
                                        return -ENOMEM;
                                if (read_root_file(d, p, &t) < 0)
                                        continue;
                                r = net_config_parse(nc, p, t);
                                if (r < 0 && r != -EFBIG)
                                        return r;
                        }
                        nd = strv_length(nc->source_dirs);
                }
        }
        return 0;
}

static int load_nic_pins(const Doctor *d, NicPins *pins) {
        static const char *const link_dirs[] = { "/etc/systemd/network",
                                                 "/run/systemd/network",
                                                 "/usr/lib/systemd/network",
                                                 "/lib/systemd/network" };
        int r;

        FOREACH_ARRAY(dir, link_dirs, ELEMENTSOF(link_dirs)) {
                _cleanup_strv_free_ char **files = NULL;

                r = list_root_dir(d, *dir, "*.link", &files);
                if (r < 0)
                        return r;
                STRV_FOREACH(f, files) {
                        _cleanup_free_ char *p = path_join(*dir, *f), *t = NULL;

                        if (!p)
                                return -ENOMEM;
                        if (read_root_file(d, p, &t) < 0)
                                continue;
                        r = nic_pins_parse_link(pins, p, t);
                        if (r < 0)
                                return r;
                }
        }
        FOREACH_ARRAY(dir, udev_rules_dirs, ELEMENTSOF(udev_rules_dirs)) {
                _cleanup_strv_free_ char **files = NULL;

                r = list_root_dir(d, *dir, "*.rules", &files);
                if (r < 0)
                        return r;
                STRV_FOREACH(f, files) {
                        _cleanup_free_ char *p = path_join(*dir, *f), *t = NULL;

                        if (!p)
                                return -ENOMEM;
                        if (read_root_file(d, p, &t) < 0)
                                continue;
                        r = nic_pins_parse_udev_rules(pins, p, t);
                        if (r < 0)
                                return r;
                }
        }
        return nic_pins_index(pins);
}

/* The first NIC (in the order loaded) whose name, or MAC (any case), is key; NULL when none. */
static const NetDev *nics_search(const Doctor *d, const char *key, bool by_mac) {
        size_t i = str_index_find(by_mac ? &d->nics_by_mac : &d->nics_by_name, d->nics, key);

        return i == SIZE_MAX ? NULL : &d->nics[i];
}

static const NetDev *find_nic(const Doctor *d, const char *name) {
        return nics_search(d, name, false);
}

static const NetDev *find_nic_by_mac(const Doctor *d, const char *mac) {
        return nics_search(d, mac, true);
}

/* Whether a NIC's name is its path-based name, which holds the PCI bus number. */
static bool nic_named_by_bus(const NetDev *n) {
        unsigned bus;
        return n->pci && n->path_name && streq(n->name, n->path_name) &&
                nic_name_pci_bus(n->name, &bus) >= 0;
}

/* Whether name will exist: a NIC has it now, a pin gives it to a NIC that is there, or the configuration
 * makes it (bridges, bonds, VLANs on something that exists). */
static bool net_name_resolves(
        const Doctor *d,
        const NetConfig *nc,
        const NicPins *pins,
        const char *name,
        unsigned depth) {
        const NicPin *pin;
        const char *dot;

        if (net_config_name_is_virtual(nc, name))
                return true;
        pin = nic_pins_find_name(pins, name);
        if (pin && find_nic_by_mac(d, pin->mac))
                return true;
        if (find_nic(d, name)) {
                /* A NIC pinned to another name will not keep this one. */
                const NetDev *n = find_nic(d, name);
                const NicPin *p = n->mac ? nic_pins_find_mac(pins, n->mac) : NULL;
                return !p || streq(p->name, name);
        }
        dot = strrchr(name, '.');
        if (dot && depth < 4 && dot[1] && strspn(dot + 1, "0123456789") == strlen(dot + 1)) {
                _cleanup_free_ char *parent = strndup(name, (size_t) (dot - name));
                return parent && net_name_resolves(d, nc, pins, parent, depth + 1);
        }
        return false;
}

/* The configuration's references sorted by name, then by position: the first of each name first. */
typedef struct RefIndex {
        const IfaceRef *refs;
        size_t *idx;
        size_t n;
} RefIndex;

static int cmp_ref(const void *a, const void *b, void *refs) {
        const IfaceRef *r = refs;
        size_t x = *(const size_t *) a, y = *(const size_t *) b;
        int c = strcmp(r[x].name, r[y].name);

        return c != 0 ? c : x < y ? -1 : x > y;
}

static int ref_index_make(const NetConfig *nc, RefIndex *ret) {
        size_t *idx = reallocarray(NULL, MAX(nc->n_refs, (size_t) 1), sizeof(size_t));

        if (!idx)
                return -ENOMEM;
        for (size_t i = 0; i < nc->n_refs; i++)
                idx[i] = i;
        qsort_r(idx, nc->n_refs, sizeof(size_t), cmp_ref, nc->refs);
        *ret = (RefIndex){ nc->refs, idx, nc->n_refs };
        return 0;
}

static void ref_index_done(RefIndex *x) {
        free(x->idx);
        *x = (RefIndex){};
}

/* The position in x->idx of the first reference to name, or x->n when none. */
static size_t ref_index_find(const RefIndex *x, const char *name) {
        size_t lo = 0, hi = x->n;

        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;

                if (strcmp(x->refs[x->idx[mid]].name, name) < 0)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return lo < x->n && streq(x->refs[x->idx[lo]].name, name) ? lo : x->n;
}

static bool referenced(const RefIndex *x, const char *name) {
        return ref_index_find(x, name) < x->n;
}

/* Whether reference i is the first to its name (a later one is reported with it, or resolves as it does). */
static bool ref_is_first(const RefIndex *x, size_t i) {
        size_t k = ref_index_find(x, x->refs[i].name);
        return k < x->n && x->idx[k] == i;
}

/* A name for NIC n that nothing else uses: "lan0", "lan1", ... */
static char *free_lan_name(const Doctor *d, const RefIndex *refs, const NicPins *pins) {
        for (unsigned i = 0; i < 100; i++) {
                char *s;

                if (asprintf(&s, "lan%u", i) < 0)
                        return NULL;
                if (!find_nic(d, s) && !nic_pins_find_name(pins, s) && !referenced(refs, s))
                        return s;
                free(s);
        }
        return NULL;
}

/* The physical NICs' names, ", " between them, NULL when there is none: once, for every name that does not
 * exist (a stream: linear however many there are). */
static int physical_nic_names(const Doctor *d, char **ret) {
        _cleanup_free_ char *s = NULL;
        size_t size = 0;
        bool any = false;
        FILE *f;

        f = open_memstream(&s, &size);
        if (!f)
                return -ENOMEM;
        FOREACH_ARRAY(n, d->nics, d->n_nics)
                if (n->pci) {
                        fprintf(f, "%s%s", any ? ", " : "", n->name);
                        any = true;
                }
        if (fclose(f) != 0)
                return -ENOMEM;
        *ret = any ? TAKE_PTR(s) : NULL;
        return 0;
}

static int check_nic_names(Doctor *d, CheckList *l) {
        const Host *h = d->host;
        _cleanup_(net_config_done) NetConfig nc = {};
        _cleanup_(nic_pins_done) NicPins pins = {};
        _cleanup_(ref_index_done) RefIndex refs = {};
        _cleanup_free_ char *ok = NULL, *physical = NULL;
        bool found, shift_possible = h->n_domains > 0, physical_listed = false;
        size_t n_physical = 0;
        Check *c;
        int r;

        c = check_list_begin(l, "nic-names");
        if (!c)
                return -ENOMEM;
        r = load_net_config(d, &nc, &found);
        if (r < 0)
                return r;
        r = load_nic_pins(d, &pins);
        if (r < 0)
                return r;
        r = ref_index_make(&nc, &refs);
        if (r < 0)
                return r;
        FOREACH_ARRAY(n, d->nics, d->n_nics)
                if (n->pci)
                        n_physical++;
        if (!found && n_physical == 0)
                return check_finish(
                        c,
                        CHECK_SKIP,
                        "no /etc/network/interfaces and no physical network interface");

        /* 1. Names in the configuration that will not exist, each once: at its first reference. */
        FOREACH_ARRAY(ref, nc.refs, nc.n_refs) {
                const NetDev *moved = NULL;

                if (!ref_is_first(&refs, (size_t) (ref - nc.refs)) ||
                    net_name_resolves(d, &nc, &pins, ref->name, 0))
                        continue;
                FOREACH_ARRAY(n, d->nics, d->n_nics)
                        if (n->pci && nic_names_differ_in_bus(ref->name, n->name))
                                moved = n;
                if (moved) {
                        unsigned old_bus = 0, new_bus = 0;
                        (void) nic_name_pci_bus(ref->name, &old_bus);
                        (void) nic_name_pci_bus(moved->name, &new_bus);
                        const NicPin *pin = moved->mac ? nic_pins_find_mac(&pins, moved->mac) : NULL;

                        r = check_problem(
                                c,
                                CHECK_FAIL,
                                "%s:%u uses %s (%s), which does not exist: the NIC %s (%s) is on PCI bus %u "
                                "now, no longer %u, since the eGPU's bridges shifted the bus numbers, so "
                                "the host is off the network after a reboot",
                                ref->file,
                                ref->line,
                                ref->name,
                                ref->how,
                                moved->name,
                                strna(moved->mac),
                                new_bus,
                                old_bus);
                        /* Unpinned, the NIC gets its fix below; pinned, only the configuration is stale. */
                        if (r >= 0 && pin)
                                r = check_fix(
                                        c,
                                        "sed -i 's/\\b%s\\b/%s/g' %s\nifreload -a",
                                        ref->name,
                                        pin->name,
                                        ref->file);
                } else {
                        if (!physical_listed) {
                                r = physical_nic_names(d, &physical);
                                if (r < 0)
                                        return r;
                                physical_listed = true;
                        }
                        r = check_problem(
                                c,
                                CHECK_FAIL,
                                "%s:%u uses %s (%s), which does not exist (NICs: %s)",
                                ref->file,
                                ref->line,
                                ref->name,
                                ref->how,
                                strna(physical));
                        if (r >= 0)
                                r = check_fix(
                                        c,
                                        "# Edit %s:%u to name an existing interface (ip -br link).",
                                        ref->file,
                                        ref->line);
                }
                if (r < 0)
                        return r;
        }

        /* 2. NICs named after a PCI bus number that the eGPU can shift, and not pinned by MAC. */
        FOREACH_ARRAY(n, d->nics, d->n_nics) {
                _cleanup_free_ char *newname = NULL, *sed = NULL;
                const NicPin *pin = n->mac ? nic_pins_find_mac(&pins, n->mac) : NULL;
                bool used = referenced(&refs, n->name), renamed = false;

                if (!n->pci || pci_function_is_removable(n->pci))
                        continue;
                if (pin) {
                        r = strextendf(
                                &ok,
                                "%s%s pinned to %s by %s",
                                ok ? "; " : "",
                                n->mac,
                                pin->name,
                                pin->file);
                        if (r < 0)
                                return r;
                        continue;
                }
                if (!nic_named_by_bus(n) || !n->mac)
                        continue;
                /* Names of the configuration that are this NIC under an older bus number. */
                FOREACH_ARRAY(ref, nc.refs, nc.n_refs)
                        if (nic_names_differ_in_bus(ref->name, n->name)) {
                                used = renamed = true;
                                if (!sed || !strstr(sed, ref->name))
                                        if (strextendf(&sed, " -e 's/\\b%s\\b/@NEW@/g'", ref->name) < 0)
                                                return -ENOMEM;
                        }
                if (!shift_possible && !renamed)
                        continue;
                if (used && strextendf(&sed, " -e 's/\\b%s\\b/@NEW@/g'", n->name) < 0)
                        return -ENOMEM;

                r = check_problem(
                        c,
                        used ? CHECK_FAIL : CHECK_WARN,
                        "%s (%s) is named after its PCI bus number, which the eGPU's bridges shift when "
                        "it is connected at boot, and no .link file or udev rule pins it by MAC%s",
                        n->name,
                        n->mac,
                        used ? "" : " (not used by /etc/network/interfaces)");
                if (r < 0)
                        return r;
                newname = free_lan_name(d, &refs, &pins);
                if (!newname)
                        return -ENOMEM;
                r = check_fix(
                        c,
                        "# egpuctl nic pin does the following; by hand, pin %s to the name %s by its MAC:\n"
                        "cat > /etc/systemd/network/10-%s.link <<'EOF'\n"
                        "[Match]\nMACAddress=%s\n\n[Link]\nName=%s\nEOF\n"
                        "update-initramfs -u -k all",
                        n->mac,
                        newname,
                        newname,
                        n->mac,
                        newname);
                if (r < 0)
                        return r;
                if (sed) {
                        /* Put the new name in place of the placeholder. */
                        _cleanup_free_ char *s = NULL;
                        for (const char *p = sed; *p;) {
                                const char *at = strstr(p, "@NEW@");
                                size_t k = at ? (size_t) (at - p) : strlen(p);
                                if (strextendf(&s, "%.*s%s", (int) k, p, at ? newname : "") < 0)
                                        return -ENOMEM;
                                p += k + (at ? 5 : 0);
                        }
                        r = check_fix(c, "sed -i%s /etc/network/interfaces", s);
                        if (r < 0)
                                return r;
                }
                r = check_fix(c, "reboot");
                if (r < 0)
                        return r;
        }

        if (check_has_problem(c))
                return 0;
        if (!found)
                return check_finish(
                        c,
                        CHECK_OK,
                        "no /etc/network/interfaces; %s",
                        ok ?: "no NIC is named after a PCI bus the eGPU can shift");
        return check_finish(
                c,
                CHECK_OK,
                "every interface in /etc/network/interfaces exists%s%s",
                ok ? "; " : "",
                strempty(ok));
}

/* Whether function f has a ROM BAR: the "rom" attribute, else line 6 of "resource". -ENOENT when sysfs
 * tells neither (a test bed without them). */
static int pci_has_rom(const PciFunction *f) {
        _cleanup_free_ char *p = path_join(f->syspath, "rom");
        _cleanup_free_ PciResource *res = NULL;
        size_t n = 0;
        int r;

        if (!p)
                return -ENOMEM;
        if (path_exists(p))
                return 1;
        r = pci_function_read_resources(f->syspath, &res, &n);
        if (r < 0)
                return r;
        return n > PCI_RESOURCE_ROM && res[PCI_RESOURCE_ROM].flags != 0;
}

static int check_one_vm(Doctor *d, Check *c, const char *vmid, const PveVm *vm, char **ok) {
        const Host *h = d->host;
        bool relevant = false, pcie_missing = false;
        int r;

        FOREACH_ARRAY(hp, vm->hostpci, vm->n_hostpci) {
                _cleanup_strv_free_ char **mapped = NULL;
                char **hosts = hp->hosts;
                bool fix_rombar = false;

                if (hp->mapping) {
                        _cleanup_free_ char *text = NULL;

                        r = read_root_file(d, "/etc/pve/mapping/pci.cfg", &text);
                        if (r == -ENOMEM)
                                return r;
                        r = r < 0 ? r : pve_mapping_paths(text, hp->mapping, &mapped);
                        if (r == -ENOMEM)
                                return r;
                        if (r < 0) {
                                r = check_problem(
                                        c,
                                        CHECK_FAIL,
                                        "VM %s hostpci%u uses the PCI mapping \"%s\", which "
                                        "/etc/pve/mapping/pci.cfg does not define",
                                        vmid,
                                        hp->index,
                                        hp->mapping);
                                if (r >= 0)
                                        r = check_fix(
                                                c,
                                                "egpuctl vm attach %s --mapping %s",
                                                vmid,
                                                hp->mapping);
                                if (r < 0)
                                        return r;
                                continue;
                        }
                        hosts = mapped;
                }
                STRV_FOREACH(host, hosts) {
                        size_t n_found = 0;

                        FOREACH_ARRAY(fp, h->pci, h->n_pci) {
                                const PciFunction *f = *fp;
                                bool audio = is_audio(f);

                                if (!pve_host_matches(*host, f->bdf))
                                        continue;
                                n_found++;
                                if (!host_find_egpu_of(h, f) && !pci_function_is_display(f) && !audio)
                                        continue; /* an internal device passed through on purpose */
                                relevant = true;
                                if (hp->rombar == 0 || hp->romfile)
                                        continue;
                                r = audio ? 0 : pci_has_rom(f);
                                if (r == -ENOMEM)
                                        return r;
                                if (audio || r == 0) {
                                        r = check_problem(
                                                c,
                                                CHECK_FAIL,
                                                "VM %s hostpci%u gives a ROM BAR to %s (%s), which has no "
                                                "ROM%s: the guest can fail to boot",
                                                vmid,
                                                hp->index,
                                                f->bdf,
                                                audio ? "HDMI audio" : "no rom in sysfs",
                                                hp->rombar < 0 ? " (rombar is on unless set to 0)" : "");
                                        if (r < 0)
                                                return r;
                                        fix_rombar = true;
                                }
                        }
                        if (n_found > 0)
                                continue;
                        relevant = true;
                        if (h->n_egpus > 0) {
                                const Egpu *e = h->egpus[0];
                                const char *dot = strrchr(*host, '.');
                                unsigned fn = dot ? (unsigned) (dot[1] - '0') : 0;
                                const PciFunction *target = e->gpu;
                                _cleanup_free_ char *nv = NULL, *slot = NULL;

                                FOREACH_ARRAY(fp, e->functions, e->n_functions)
                                        if (pci_function_number(*fp) == fn)
                                                target = *fp;
                                r = check_problem(
                                        c,
                                        CHECK_FAIL,
                                        "VM %s hostpci%u passes %s, where no PCI function is; the eGPU is "
                                        "at %s",
                                        vmid,
                                        hp->index,
                                        *host,
                                        e->gpu->bdf);
                                if (r < 0)
                                        return r;
                                /* Keep the form: a whole slot, or one function. */
                                if (dot)
                                        slot = strdup(target->bdf);
                                else
                                        slot = strndup(target->bdf, strlen(target->bdf) - 2);
                                if (!slot)
                                        return -ENOMEM;
                                nv = pve_hostpci_with(slot, 1, is_audio(target) ? 0 : hp->rombar);
                                if (!nv)
                                        return -ENOMEM;
                                r = check_fix(c, "qm set %s -hostpci%u %s", vmid, hp->index, nv);
                        } else {
                                r = check_problem(
                                        c,
                                        CHECK_WARN,
                                        "VM %s hostpci%u passes %s, which is not there now (no eGPU "
                                        "connected): the VM cannot start until it is",
                                        vmid,
                                        hp->index,
                                        *host);
                                if (r >= 0)
                                        r = check_fix(
                                                c,
                                                "# Connect the eGPU and attach it before starting VM %s:\n"
                                                "egpuctl attach",
                                                vmid);
                        }
                        if (r < 0)
                                return r;
                }
                if (!relevant)
                        continue;
                if (hp->pcie != 1) {
                        r = check_problem(
                                c,
                                CHECK_FAIL,
                                "VM %s hostpci%u has no pcie=1: the GPU sits in a legacy PCI slot",
                                vmid,
                                hp->index);
                        if (r < 0)
                                return r;
                        pcie_missing = true;
                }
                if (fix_rombar || hp->pcie != 1) {
                        _cleanup_free_ char *nv = pve_hostpci_with(hp->raw, 1, fix_rombar ? 0 : -1);
                        if (!nv)
                                return -ENOMEM;
                        r = check_fix(c, "qm set %s -hostpci%u %s", vmid, hp->index, nv);
                        if (r < 0)
                                return r;
                }
        }
        if (relevant && !pve_machine_is_q35(vm->machine)) {
                r = check_problem(
                        c,
                        CHECK_FAIL,
                        "VM %s uses the machine type %s, which has no PCIe slots: passthrough needs q35",
                        vmid,
                        vm->machine ?: "i440fx (the default)");
                if (r >= 0)
                        r = check_fix(c, "qm set %s -machine q35", vmid);
                if (r < 0)
                        return r;
        }
        if (relevant) {
                _cleanup_free_ char *list = NULL;
                FOREACH_ARRAY(hp, vm->hostpci, vm->n_hostpci)
                        if (strextendf(&list, "%s%s%s", list ? ", " : "", hp->mapping ? "mapping " : "",
                                       hp->mapping ?: hp->hosts[0] ?: "?") < 0)
                                return -ENOMEM;
                r = strextendf(
                        ok,
                        "%sVM %s%s%s%s: %s on %s%s",
                        *ok ? "; " : "",
                        vmid,
                        vm->name ? " (" : "",
                        strempty(vm->name),
                        vm->name ? ")" : "",
                        strna(list),
                        strna(vm->machine),
                        pcie_missing ? "" : " with pcie=1");
                if (r < 0)
                        return r;
        }
        return 0;
}

static int check_vm_config(Doctor *d, CheckList *l) {
        _cleanup_strv_free_ char **files = NULL;
        _cleanup_free_ char *ok = NULL;
        size_t n_vms = 0;
        Check *c;
        int r;

        c = check_list_begin(l, "vm-config");
        if (!c)
                return -ENOMEM;
        r = list_root_dir(d, "/etc/pve/qemu-server", "*.conf", &files);
        if (r < 0)
                return r;
        STRV_FOREACH(f, files) {
                _cleanup_free_ char *p = path_join("/etc/pve/qemu-server", *f), *text = NULL, *vmid = NULL;
                _cleanup_(pve_vm_done) PveVm vm = {};

                if (!p)
                        return -ENOMEM;
                if (read_root_file(d, p, &text) < 0)
                        continue;
                r = pve_vm_parse(&vm, text);
                if (r < 0)
                        return r;
                if (vm.n_hostpci == 0)
                        continue;
                n_vms++;
                vmid = strndup(*f, strlen(*f) - 5);
                if (!vmid)
                        return -ENOMEM;
                r = check_one_vm(d, c, vmid, &vm, &ok);
                if (r < 0)
                        return r;
        }
        if (files[0] == NULL)
                return check_finish(c, CHECK_SKIP, "no Proxmox VM configuration (/etc/pve/qemu-server)");
        if (n_vms == 0 || !ok)
                return check_finish(c, CHECK_SKIP, "no VM passes through a GPU");
        return check_finish(c, CHECK_OK, "%s", ok);
}

static const char *speed_or_unknown(const char *s) {
        return s ?: "?";
}

static int check_pcie_link(Doctor *d, CheckList *l) {
        const Host *h = d->host;
        _cleanup_free_ char *ok = NULL;
        Check *c;
        int r;

        c = check_list_begin(l, "pcie-link");
        if (!c)
                return -ENOMEM;
        if (h->n_egpus == 0)
                return check_finish(c, CHECK_SKIP, "no eGPU connected");

        FOREACH_ARRAY(ep, h->egpus, h->n_egpus) {
                const Egpu *e = *ep;
                _cleanup_free_ char *real = NULL, *tunnel = NULL;
                uint64_t narrowest = UINT64_MAX;

                for (const PciFunction *dn = e->gpu; dn && dn->parent; dn = dn->parent) {
                        const PciFunction *up = dn->parent;
                        unsigned cur, max_dn, max_up, best;
                        int width_best;

                        /* The first link behind the external-facing port is the tunnel: its numbers are
                         * nominal. Links between two ports of one switch (same vendor, both bridges; the
                         * Thunderbolt controller's own ports, a GPU's internal switch) are not physical
                         * links. */
                        if (pci_function_is_removable(dn) && !pci_function_is_removable(up)) {
                                free(tunnel);
                                if (asprintf(
                                            &tunnel,
                                            "%s -> %s (%s x%d)",
                                            up->bdf,
                                            dn->bdf,
                                            speed_or_unknown(dn->current_link_speed),
                                            dn->current_link_width) < 0)
                                        return -ENOMEM;
                                continue;
                        }
                        if (pci_function_is_bridge(dn) && pci_function_is_bridge(up) &&
                            dn->vendor == up->vendor)
                                continue;
                        if (pcie_speed_parse(dn->current_link_speed, &cur) < 0 ||
                            pcie_speed_parse(dn->max_link_speed, &max_dn) < 0 ||
                            pcie_speed_parse(up->max_link_speed, &max_up) < 0)
                                continue;
                        best = MIN(max_dn, max_up);
                        width_best = MIN(dn->max_link_width, up->max_link_width);
                        if (cur < best ||
                            (dn->current_link_width > 0 && width_best > 0 &&
                             dn->current_link_width < width_best)) {
                                r = check_problem(
                                        c,
                                        CHECK_WARN,
                                        "the link %s -> %s runs at %u.%u GT/s x%d, below the %u.%u GT/s "
                                        "x%d that both ends support%s",
                                        up->bdf,
                                        dn->bdf,
                                        cur / 1000,
                                        cur % 1000 / 100,
                                        dn->current_link_width,
                                        best / 1000,
                                        best % 1000 / 100,
                                        width_best,
                                        dn == e->gpu && dn->current_link_width >= width_best
                                                ? " (a GPU lowers its link speed when idle: check under "
                                                  "load)"
                                                : "");
                                if (r < 0)
                                        return r;
                                r = check_fix(
                                        c,
                                        "# Reseat the GPU in the enclosure and check its power cables; "
                                        "then read the link while the GPU is busy:\n"
                                        "cat /sys/bus/pci/devices/%s/current_link_speed "
                                        "/sys/bus/pci/devices/%s/current_link_width",
                                        dn->bdf,
                                        dn->bdf);
                                if (r < 0)
                                        return r;
                        } else if ((uint64_t) cur * (uint64_t) MAX(dn->current_link_width, 1) < narrowest) {
                                /* Report the narrowest physical link: it bounds the GPU's bandwidth. */
                                narrowest = (uint64_t) cur * (uint64_t) MAX(dn->current_link_width, 1);
                                free(real);
                                if (asprintf(
                                            &real,
                                            "%s -> %s at %u.%u GT/s x%d, the most both ends support",
                                            up->bdf,
                                            dn->bdf,
                                            cur / 1000,
                                            cur % 1000 / 100,
                                            dn->current_link_width) < 0) {
                                        real = NULL;
                                        return -ENOMEM;
                                }
                        }
                }
                if (e->tb_device && e->tb_device->rx_lanes == 1 && e->tb_device->tx_lanes <= 1) {
                        r = check_problem(
                                c,
                                CHECK_WARN,
                                "the Thunderbolt link of %s runs on one lane (%s x1): half the bandwidth, "
                                "usually a cable or port problem",
                                e->tb_device->name,
                                strna(e->tb_device->rx_speed));
                        if (r >= 0)
                                r = check_fix(
                                        c,
                                        "# Try another Thunderbolt cable (40 Gb/s, at most 0.8 m passive) "
                                        "or port, then:\ncat /sys/bus/thunderbolt/devices/%s/rx_lanes",
                                        e->tb_device->name);
                        if (r < 0)
                                return r;
                }
                r = strextendf(
                        &ok,
                        "%seGPU %s: %s%s%s",
                        ok ? "; " : "",
                        e->gpu->bdf,
                        real ?: "no physical link to compare",
                        tunnel ? "; the tunnel link " : "",
                        strempty(tunnel));
                if (r < 0)
                        return r;
                if (tunnel) {
                        r = strextendf(
                                &ok,
                                " is virtual: Thunderbolt bridges report a nominal speed, not the "
                                "tunnel's bandwidth");
                        if (r >= 0 && e->tb_device && e->tb_device->rx_speed)
                                r = strextendf(
                                        &ok,
                                        " (the Thunderbolt link of %s: %s x%d)",
                                        e->tb_device->name,
                                        e->tb_device->rx_speed,
                                        e->tb_device->rx_lanes);
                        if (r < 0)
                                return r;
                }
        }
        return check_finish(c, CHECK_OK, "%s", ok);
}

int doctor_run(struct udev *udev, const Host *h, const char *root, CheckList *l) {
        static int (*const checks[])(Doctor * d, CheckList * l) = {
                check_iommu,          check_tb_cable,        check_tb_authorized, check_tb_security,
                check_gpu_present,    check_iommu_isolation, check_vfio_bound,    check_gpu_reset,
                check_module_signing, check_vfio_config,     check_services,      check_nic_names,
                check_vm_config,      check_pcie_link,
        };
        _cleanup_(doctor_done) Doctor d = {
                .udev = udev,
                .host = h,
                .root = root ?: "",
        };
        int r;

        _Static_assert(ELEMENTSOF(checks) == ELEMENTSOF(doctor_check_ids), "one id per check");

        r = load_nics(&d);
        if (r < 0)
                return r;
        r = load_usb(&d);
        if (r < 0)
                return r;
        r = modprobe_config_load(&d.modprobe, d.root);
        if (r < 0)
                return r;
        d.secure_boot = read_secure_boot();
        d.vendor_reset_loaded = path_exists("/sys/module/vendor_reset");
        d.vfio_pci_loaded =
                path_exists("/sys/module/vfio_pci") || path_exists("/sys/bus/pci/drivers/vfio-pci");

        FOREACH_ARRAY(fn, checks, ELEMENTSOF(checks)) {
                r = (*fn)(&d, l);
                if (r < 0)
                        return r;
        }
        return 0;
}
