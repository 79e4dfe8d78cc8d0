/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include "egpu.h"
#include "host.h"
#include "vfio.h"

/* How QEMU will reset each function of an eGPU at a VM's start and reset, and what else that takes with
 * it: the one answer for status, doctor's reset-scope and the check after a VM let go.
 *
 * QEMU (hw/vfio/pci.c, v7.2.0) resets a function by itself with VFIO_DEVICE_RESET when the kernel says it
 * can (VFIO_DEVICE_FLAGS_RESET, set by vfio-pci when pci_try_reset_function() worked at open:
 * drivers/vfio/pci/vfio_pci_core.c vfio_pci_core_enable(), "vdev->reset_works = !ret") and that reset is
 * not only a PM reset (vfio_pci_reset(): "reset_works && (has_flr || !has_pm_reset)"). Otherwise it
 * needs a bus reset (vfio_pci_compute_needs_reset(): "!reset_works || (!has_flr && has_pm_reset)"):
 * VFIO_DEVICE_GET_PCI_HOT_RESET_INFO lists every device the reset takes with it
 * (vfio_pci_ioctl_get_pci_hot_reset_info(): pci_walk_bus() over the function's bus, or its slot), and
 * vfio_pci_hot_reset() gives up, "vfio: Cannot reset device %s, depends on group %d which is not owned.",
 * when one of them is in an IOMMU group the VM does not hold. So a bus reset that reaches a device outside
 * the eGPU's groups fails at every VM start: the GPU then keeps the state the last guest left. One that
 * reaches a device of the eGPU's groups that is not the eGPU's (behind a PCIe-to-PCI bridge, say) works,
 * but resets that device at every VM start: a failure too, not a detail.
 *
 * Where the VFIO pre-flight opened the function (model/vfio.h), its flags and the kernel's hot-reset list
 * are the answer. Otherwise (status, which opens nothing; a group a VM holds) it is read from sysfs as the
 * kernel would decide: reset_method (Linux 5.15+, drivers/pci/pci-sysfs.c reset_method_show()) with a
 * method other than "bus", or "bus" for a function alone on its bus, for a reset by itself, "flr"/"af_flr"
 * for has_flr, "pm" for has_pm_reset (the kernel's pci_pm_reset() probe is QEMU's vfio_check_pm_reset()
 * test: a PM capability without No_Soft_Reset), and every function below the function's bridge for the
 * hot-reset list (a slot reset, rare behind a Thunderbolt switch, takes fewer). */

typedef enum EgpuResetVerdict {
        EGPU_RESET_OWN,         /* resets by itself: FLR, a device-specific reset, ... */
        EGPU_RESET_BUS,         /* a bus reset, which takes only the eGPU's functions */
        EGPU_RESET_BUS_OUTSIDE, /* a bus reset that takes another device too (QEMU refuses one outside the
                                 * eGPU's groups) */
        EGPU_RESET_NONE,        /* no reset QEMU can use */
} EgpuResetVerdict;

typedef struct EgpuFunctionReset {
        const PciFunction *function;
        bool from_kernel;  /* the flags and the list are the pre-flight's, not read from sysfs */
        bool resets_alone; /* VFIO_DEVICE_FLAGS_RESET */
        bool needs_bus_reset;
        int hot_reset; /* 0 with the list below; -ENODEV: no bus or slot reset reaches it (a root bus) */
        char **hot_reset_set; /* every device the bus reset resets, the function included */
        char **outside;       /* of those, the ones that are not functions of the eGPU */
        bool outside_groups;  /* one of them is in an IOMMU group that is not one of the eGPU's */
        EgpuResetVerdict verdict;
} EgpuFunctionReset;

typedef struct EgpuReset {
        EgpuFunctionReset *functions; /* in e->functions order */
        size_t n_functions;
} EgpuReset;

void egpu_reset_done(EgpuReset *r);

/* The verdict for each function of e. probes: the VFIO pre-flight's groups (n_probes of them), or NULL;
 * a function the pre-flight did not open (its group held, or failed) is read from sysfs. Returns 0 or
 * -ENOMEM; *ret is written only on success. */
int egpu_reset_check(const Host *h, const Egpu *e, const VfioProbe *probes, size_t n_probes, EgpuReset *ret);

/* Whether every function's verdict lets QEMU reset it (own or bus). */
bool egpu_reset_ok(const EgpuReset *r) _pure_;

const char *egpu_reset_verdict_to_string(EgpuResetVerdict v) _pure_;

/* One phrase for a person: "resets by itself", "bus reset (also resets 0000:30:00.1)", "bus reset would
 * also reset 0000:30:01.0, outside the eGPU's IOMMU groups: QEMU cannot reset it", "no reset QEMU can
 * use". */
int egpu_function_reset_describe(const EgpuFunctionReset *f, char **ret);
