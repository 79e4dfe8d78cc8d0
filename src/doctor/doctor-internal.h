/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* For the checks only: what doctor gathers once, the helpers the families share, and the families'
 * tables. A family is one file, doctor-FAMILY.c, ending in its table:
 *
 *   const DoctorCheck doctor_checks_FAMILY[] = {
 *           { "id", "what it looks at", check_function },
 *           { "id", "what it looks at", check_function, .needs_egpu = true },
 *           {},
 *   };
 *
 * A check with needs_egpu is skipped as "no eGPU connected" while none is (doctor.c), so that its function
 * does not test for that itself.
 *
 * Adding a check to a family is its function and its table line there, and a scenario folder in
 * tests/doctor/scenarios that the check fails or warns on. */

#include "doctor.h"
#include "modprobe-config.h"
#include "netif.h"
#include "vfio-bind.h"

#define PCI_VENDOR_INTEL  0x8086
#define PCI_VENDOR_AMD    0x1022
#define PCI_VENDOR_ATI    0x1002
#define PCI_VENDOR_NVIDIA 0x10de
#define PCI_CLASS_AUDIO   0x0403

typedef struct UsbDev {
        char *name; /* "3-3" */
        uint32_t vendor, product;
        char *manufacturer, *product_name;
        const PciFunction *controller; /* the host controller it hangs off, NULL when unknown */
} UsbDev;

struct Doctor {
        struct udev *udev;
        const Host *host;
        const Enrolled *enrolled; /* the enrolled devices, never NULL */
        const char *root;
        NicList nics; /* the physical NICs and every interface's name (nic_list_load()) */
        UsbDev *usb;
        size_t n_usb, n_usb_allocated;
        ModprobeConfig modprobe;
        int secure_boot; /* 1 on, 0 off, negative when unknown (no EFI) */
        bool vendor_reset_loaded;
        bool vfio_pci_loaded;
        /* The VFIO pre-flight of each eGPU (h->egpus order), run once by doctor_preflight(): it resets each
         * function, as a VM's start does, so vfio-usable and reset-scope share one run. */
        VfioPreflight *preflights;
        bool *preflight_done;
};

/* The families, in the order doctor runs them (doctor.c). */
extern const DoctorCheck doctor_checks_iommu[];
extern const DoctorCheck doctor_checks_thunderbolt[];
extern const DoctorCheck doctor_checks_gpu[];
extern const DoctorCheck doctor_checks_boot[];
extern const DoctorCheck doctor_checks_network[];
extern const DoctorCheck doctor_checks_vm[];
extern const DoctorCheck doctor_checks_pcie[];

/* The VFIO pre-flight of the i-th eGPU (vfio_preflight_egpu()), run on the first call and kept for the
 * others: the answer vfio-usable and reset-scope both read. Only for an eGPU whose functions are all on
 * vfio-pci. */
int doctor_preflight(Doctor *d, size_t i, const VfioPreflight **ret);

/* Configuration files larger than this are not read. */
#define DOCTOR_CONFIG_FILE_MAX (1024U * 1024U)

/* Whether path exists under root. A symbolic link counts even when it dangles: under --root, an absolute
 * target ("/usr/lib/systemd/system/egpuctl.service") points outside the root. */
bool doctor_root_path_exists(const Doctor *d, const char *path);
/* Reads a configuration file under root. -ENOENT when it is not there. */
int doctor_read_root_file(const Doctor *d, const char *path, char **ret);
/* The files of one folder under root matching the glob pattern (conf_files_list() of that folder): paths
 * without root, sorted; an empty list when the folder is missing. */
int doctor_list_dir(const Doctor *d, const char *dir, const char *pattern, char ***ret);

bool doctor_is_vfio_driver(const char *driver) _pure_;
bool doctor_is_audio(const PciFunction *f) _pure_;
/* Whether a Thunderbolt device looks like an eGPU enclosure: by its ids or its names. */
bool doctor_tb_looks_like_egpu(const TbDevice *t) _pure_;
/* "1-1 (Blackmagic Design eGPU Pro)", "0000:30:00.0 (1002:687f)"; NULL when out of memory. */
char *doctor_tb_label(const TbDevice *t);
char *doctor_pci_label(const PciFunction *f);
/* Whether the host bridge is of that vendor (Intel or AMD platform). */
bool doctor_host_is_vendor(const Host *h, uint32_t vendor) _pure_;
/* The fix lines that add kernel parameters params, for the boot loader this root uses. */
int doctor_fix_kernel_params(const Doctor *d, Check *c, const char *params);
/* Whether the configuration asks for vendor-reset (modules-load.d or a softdep). */
bool doctor_vendor_reset_configured(const Doctor *d);
