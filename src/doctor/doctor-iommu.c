/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The checks of the IOMMU: is one active. */
#include "doctor-internal.h"
#include "util.h"

static int check_iommu(Doctor *d, Check *c) {
        const Host *h = d->host;
        bool intel = doctor_host_is_vendor(h, PCI_VENDOR_INTEL),
             amd = doctor_host_is_vendor(h, PCI_VENDOR_AMD);
        int r;

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
        r = doctor_fix_kernel_params(
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

const DoctorCheck doctor_checks_iommu[] = {
        { "iommu", "the IOMMU is on: DMA remapping units and IOMMU groups exist", check_iommu },
        {},
};
