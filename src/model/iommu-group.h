/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include "macro.h"
#include "pci-function.h"

/* An IOMMU group: the smallest set of devices the IOMMU can isolate from the rest. Its members come
 * from the functions' iommu_group links. */
typedef struct IommuGroup {
        int id;
        PciFunction **members; /* sorted by BDF; not owned */
        size_t n_members;
        size_t n_members_allocated; /* room in members, which grows by doubling */
} IommuGroup;

IommuGroup *iommu_group_free(IommuGroup *g);
DEFINE_TRIVIAL_CLEANUP_FUNC(IommuGroup *, iommu_group_free);
int iommu_group_add_member(IommuGroup *g, PciFunction *f);

/* Whether a driver declares that it manages DMA itself, so that the kernel lets vfio use the rest of
 * the group while the device is bound (driver_managed_dma, Linux 5.19). */
bool driver_manages_dma(const char *driver, bool is_bridge) _pure_;
/* The kernel's viability rule: every member unbound or on a driver that manages DMA itself. */
bool iommu_group_is_viable(const IommuGroup *g) _pure_;
