/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include "iommu-group.h"
#include "macro.h"
#include "pci-function.h"
#include "tb-device.h"

/* A PCIe-attached eGPU (OCuLink dock, M.2 adapter, hot-plug slot) as enrolled: the port it sits below
 * and the ids it must have. */
typedef struct PciePort {
        const char *port;
        uint32_t vendor, device;
        uint32_t subsystem_vendor, subsystem_device;
        bool has_subsystem;
} PciePort;

/* An eGPU: a display-class function behind a Thunderbolt/USB4 tunnel, or below an enrolled PCIe port
 * with the enrolled ids, with every function of its slot. */
typedef struct Egpu {
        PciFunction *gpu;        /* the display function; not owned */
        PciFunction **functions; /* every function of the slot, by function number, gpu first; not owned */
        size_t n_functions;
        TbDevice *tb_device; /* the router whose tunnel it is behind, NULL unless certain; not owned */
        char *port;          /* for a PCIe eGPU, the enrolled port it sits below; NULL for Thunderbolt */
        IommuGroup **groups; /* the distinct groups of the functions; not owned */
        size_t n_groups;
        bool groups_viable;   /* every group viable, and every function has a group */
        bool groups_isolated; /* no group holds anything but these functions and bridges */
} Egpu;

Egpu *egpu_free(Egpu *e);
DEFINE_TRIVIAL_CLEANUP_FUNC(Egpu *, egpu_free);

/* Whether f is one of the eGPU's functions. */
bool egpu_has_function(const Egpu *e, const PciFunction *f) _pure_;
/* Whether a group member is foreign to the eGPU: neither one of its functions nor a bridge. */
bool egpu_member_is_foreign(const Egpu *e, const PciFunction *member) _pure_;

/* Whether every function of the eGPU is bound to driver. */
bool egpu_all_on_driver(const Egpu *e, const char *driver) _pure_;

/* The room the eGPU's prefetchable memory BARs need in the window of the port they sit below in a VM:
 * their sizes added up (each a power of two, placed largest first, so they stay aligned) and rounded up
 * to a power of two, so that the window's alignment fits its largest BAR. Read from the functions'
 * resource attributes; -ENOENT when sysfs shows none. This is the size `vm attach --live` reserves on the
 * port it adds (pref64-reserve), that `vm plug` looks for and that doctor's vm-live check wants. */
int egpu_prefetchable_window(const Egpu *e, uint64_t *ret);
