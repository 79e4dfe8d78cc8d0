/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "iommu-group.h"
#include "util.h"

IommuGroup *iommu_group_free(IommuGroup *g) {
        if (!g)
                return NULL;
        free(g->members);
        return mfree(g);
}

int iommu_group_add_member(IommuGroup *g, PciFunction *f) {
        if (ARRAY_RESERVE(g->members, g->n_members_allocated, g->n_members + 1) < 0)
                return -ENOMEM;
        g->members[g->n_members++] = f;
        return 0;
}

bool driver_manages_dma(const char *driver, bool is_bridge) {
        size_t n;

        if (!driver)
                return true;
        if (streq(driver, "pci-stub") || streq(driver, "vfio-pci"))
                return true;
        /* Vendor variants of vfio-pci ("mlx5_vfio_pci", "hisi-acc-vfio-pci") are vfio-pci too. */
        n = strlen(driver);
        if (n > 8 && (streq(driver + n - 8, "vfio-pci") || streq(driver + n - 8, "vfio_pci")))
                return true;
        return is_bridge && streq(driver, "pcieport");
}

bool iommu_group_is_viable(const IommuGroup *g) {
        FOREACH_ARRAY(m, g->members, g->n_members)
                if (!driver_manages_dma((*m)->driver, pci_function_is_bridge(*m)))
                        return false;
        return true;
}
