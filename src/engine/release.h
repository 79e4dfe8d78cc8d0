/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include "egpu.h"
#include "host.h"
#include "report.h"

/* After a VM let go of an eGPU (the hookscript's post-stop, vm unplug): the eGPU back in D0, and a check
 * that QEMU can reset it at the next start.
 *
 * Why it is needed: when the last user closes a function, vfio-pci drops the runtime-PM reference it took
 * at open (drivers/vfio/pci/vfio_pci_core.c vfio_pci_core_disable(): "if (!disable_idle_d3)
 * pm_runtime_put()"), and since it allowed runtime PM at bind (vfio_pci_core_register_device():
 * pm_runtime_allow()), the idle function suspends: D3hot, or D3cold where the platform can cut its power
 * and d3cold_allowed is 1 (commit 7ab5e10eda02, Linux 5.19, so Debian's 6.1; the module parameter
 * disable_idle_d3 turns it off). An eGPU that does not come back from D3cold fails the next VM's start.
 * Writing "on" to each function's power/control forbids runtime PM: the kernel resumes the function to D0
 * before the write returns and keeps it there until someone writes "auto" or the function is bound again
 * (Documentation/ABI/testing/sysfs-devices-power; drivers/base/power/sysfs.c control_store() →
 * pm_runtime_forbid()). power_state is then read back (drivers/pci/pci-sysfs.c power_state_show(), which
 * wakes nothing).
 *
 * egpu_after_release(): when a process still holds one of the eGPU's groups, a note and nothing else (the
 * VM has not let go). Otherwise, for each function, power/control "on" and power_state read back: a
 * function not in D0 afterwards is the error (-EIO); a kernel that shows neither (no CONFIG_PM, before
 * 5.11) gets a note. Then, when every function is on vfio-pci, the VFIO
 * pre-flight (vfio-bind.h, which resets each function as QEMU's open will) and egpu_reset_check()
 * (egpu-reset.h) over its answer: a bus reset that takes a device outside the eGPU's groups, or no reset
 * at all, is the error (-EPERM, what QEMU's vfio_pci_hot_reset() gets). Everything goes to the report,
 * line by line; the first error is returned, 0 otherwise. Each write waits at most timeout_ms. */
int egpu_after_release(const Host *h, const Egpu *e, int timeout_ms, Report *rep);
