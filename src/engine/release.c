/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "egpu-reset.h"
#include "release.h"
#include "util.h"
#include "vfio-bind.h"
#include "vfio.h"

static int power_up(const PciFunction *f, int timeout_ms, Report *rep) {
        PciPowerState now;
        int r;

        r = pci_function_set_power_control(f->bdf, "on", timeout_ms * USEC_PER_MSEC);
        if (r == -ENOENT) /* drivers/base/power/sysfs.c shows it only with CONFIG_PM: nothing suspends */
                return report_note(rep, "%s: no power/control (a kernel without runtime PM)", f->bdf);
        if (r < 0)
                return report_error(rep, r, "Failed to write 'on' to power/control of %s: %m", f->bdf);
        r = pci_function_read_power_state(f->bdf, &now);
        if (r == -ENOENT)
                return report_note(
                        rep,
                        "%s: runtime power management off (power/control on); the kernel does not show "
                        "power_state (before 5.11)",
                        f->bdf);
        if (r < 0)
                return report_error(rep, r, "Failed to read power_state of %s: %m", f->bdf);
        if (now != PCI_POWER_D0)
                return report_error(
                        rep,
                        -EIO,
                        "%s is in %s after power/control on; egpuctl doctor (power-state) says why",
                        f->bdf,
                        pci_power_state_to_string(now));
        if (f->power_state != PCI_POWER_D0)
                return report_change(
                        rep,
                        "%s: back in D0 from %s (power/control on)",
                        f->bdf,
                        pci_power_state_to_string(f->power_state));
        return report_note(rep, "%s: in D0 (power/control on)", f->bdf);
}

int egpu_after_release(const Host *h, const Egpu *e, int timeout_ms, Report *rep) {
        _cleanup_(vfio_preflight_done) VfioPreflight p = {};
        _cleanup_(egpu_reset_done) EgpuReset reset = {};
        int r, ret = 0;

        FOREACH_ARRAY(g, e->groups, e->n_groups) {
                pid_t pid = 0;

                if (vfio_group_holder((*g)->id, &pid) > 0) {
                        if (pid > 0)
                                return report_note(
                                        rep,
                                        "IOMMU group %d of eGPU %s is still held by process %d: nothing to "
                                        "do until it lets go",
                                        (*g)->id,
                                        e->gpu->bdf,
                                        (int) pid);
                        return report_note(
                                rep,
                                "IOMMU group %d of eGPU %s is still held: nothing to do until it lets go",
                                (*g)->id,
                                e->gpu->bdf);
                }
        }

        FOREACH_ARRAY(f, e->functions, e->n_functions) {
                r = power_up(*f, timeout_ms, rep);
                if (r < 0 && ret == 0)
                        ret = r;
        }

        if (!egpu_all_on_driver(e, "vfio-pci"))
                return ret;
        r = vfio_preflight_egpu(e, &p);
        if (r >= 0)
                r = egpu_reset_check(h, e, p.groups, p.n_groups, &reset);
        if (r < 0)
                return report_error(rep, r, "Failed to check the eGPU's reset: %m");
        FOREACH_ARRAY(f, reset.functions, reset.n_functions) {
                _cleanup_free_ char *what = NULL;

                r = egpu_function_reset_describe(f, &what);
                if (r < 0)
                        return r;
                if (IN_SET(f->verdict, EGPU_RESET_OWN, EGPU_RESET_BUS))
                        r = report_note(rep, "%s: %s", f->function->bdf, what);
                else
                        r = report_error(
                                rep,
                                -EPERM,
                                "%s: %s; egpuctl doctor (reset-scope) says what to do",
                                f->function->bdf,
                                what);
                if (r < 0 && ret == 0)
                        ret = r;
        }
        return ret;
}
