/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <linux/vfio.h>
#include <stdint.h>
#include <sys/types.h>

#include "macro.h"

/* VFIO as a VM's QEMU uses it, asked without keeping anything open.
 *
 * vfio_probe_group() does what QEMU does when it starts with, or hot-adds, a vfio-pci device
 * (hw/vfio/common.c vfio_get_group() and vfio_connect_container(), hw/vfio/pci.c vfio_realize(), QEMU
 * v7.2.0): open the group node, check that it is viable (VFIO_GROUP_GET_STATUS), open the container,
 * check the API version (VFIO_GET_API_VERSION == VFIO_API_VERSION) and the type1 IOMMU
 * (VFIO_CHECK_EXTENSION: TYPE1v2, else TYPE1), put the group in the container (VFIO_GROUP_SET_CONTAINER),
 * set the IOMMU (VFIO_SET_IOMMU), get a descriptor for each function (VFIO_GROUP_GET_DEVICE_FD), read
 * its flags (VFIO_DEVICE_GET_INFO: VFIO_DEVICE_FLAGS_RESET), its regions (VFIO_DEVICE_GET_REGION_INFO:
 * BARs, ROM, config space) and the devices a bus or slot reset would take with it
 * (VFIO_DEVICE_GET_PCI_HOT_RESET_INFO), then close everything.
 *
 * The kernel lets one process at a time open a group (include/uapi/linux/vfio.h; a second open fails
 * with EBUSY, tests/vm/kernel-facts.txt): a group a VM holds is reported as held, with the holder's PID
 * when /proc lets us see it, and nothing of it is touched. Opening a function's descriptor makes
 * vfio-pci enable and reset it (drivers/vfio/pci/vfio_pci_core.c vfio_pci_core_enable(): "ret =
 * pci_try_reset_function(pdev)"), exactly as a VM's start does.
 *
 * Where the kernel has iommufd and VFIO device nodes (/dev/iommu, /dev/vfio/devices/vfioN, the
 * function's vfio-dev/vfioN folder; Linux 6.6+), that path is checked too, after the group's: open
 * the device node, VFIO_DEVICE_BIND_IOMMUFD, IOMMU_IOAS_ALLOC, VFIO_DEVICE_ATTACH_IOMMUFD_PT,
 * VFIO_DEVICE_GET_INFO (include/uapi/linux/vfio.h and iommufd.h, Linux v6.6). */

/* One region of a function: a BAR, the expansion ROM or the config space. */
typedef struct VfioRegion {
        uint32_t index; /* VFIO_PCI_BAR0_REGION_INDEX (0) ... VFIO_PCI_CONFIG_REGION_INDEX (7) */
        uint32_t flags; /* VFIO_REGION_INFO_FLAG_READ, _WRITE, _MMAP */
        uint64_t size;
} VfioRegion;

/* A device that a bus or slot reset of a function resets too, the function itself included. */
typedef struct VfioResetDependency {
        uint32_t group;
        char bdf[16]; /* "0000:30:00.1" */
} VfioResetDependency;

typedef struct VfioFunction {
        char *bdf;
        uint32_t flags; /* VFIO_DEVICE_FLAGS_PCI, VFIO_DEVICE_FLAGS_RESET */
        uint32_t num_regions, num_irqs;
        VfioRegion *regions; /* the BARs, the ROM and the config space that have a size */
        size_t n_regions;
        /* VFIO_DEVICE_GET_PCI_HOT_RESET_INFO: 0 with the dependencies listed, -ENODEV when no bus or slot
         * reset can reach the function, another -errno when the kernel refused the question. */
        int hot_reset;
        VfioResetDependency *hot_reset_deps;
        size_t n_hot_reset_deps;
} VfioFunction;

/* Whether a function can be reset the way QEMU resets it at a VM's start and stop: by itself
 * (VFIO_DEVICE_FLAGS_RESET: FLR, PM, a device-specific reset), or else by a bus reset. */
static inline bool vfio_function_can_reset(const VfioFunction *f) {
        return (f->flags & VFIO_DEVICE_FLAGS_RESET) || f->hot_reset == 0;
}

typedef struct VfioProbe {
        int group;
        bool held;    /* another process has the group (or one of its functions' nodes) open */
        pid_t holder; /* its PID when held, 0 when /proc does not tell */
        bool viable;  /* VFIO_GROUP_FLAGS_VIABLE */
        int api_version;
        uint32_t iommu_type; /* VFIO_TYPE1v2_IOMMU (3) or VFIO_TYPE1_IOMMU (1), once set */
        VfioFunction *functions;
        size_t n_functions;
        /* The first step that failed: its name ("VFIO_GROUP_SET_CONTAINER", "open /dev/vfio/7") and
         * -errno. NULL when every step went through (or the group is held). */
        const char *failed;
        int error;
        /* iommufd: present when /dev/iommu and the functions' device nodes exist. */
        bool iommufd;
        const char *iommufd_failed;
        int iommufd_error;
} VfioProbe;

void vfio_probe_done(VfioProbe *p);

/* Probes group with the functions bdfs (NULL-terminated) as described above. Returns 0 with *ret
 * filled whatever the kernel answered (a refused step is data: failed, error); -ENOMEM. Every
 * descriptor opened here is closed before it returns. */
int vfio_probe_group(int group, char *const *bdfs, VfioProbe *ret);

/* Whether a process holds /dev/vfio/GROUP open (a running VM): 1 with the holder's PID in *ret_pid,
 * or 0 in *ret_pid when the kernel says the group is busy (EBUSY on open) but the holder cannot be
 * seen (/proc of another process needs CAP_SYS_PTRACE); 0 when nobody holds it. */
int vfio_group_holder(int group, pid_t *ret_pid);
