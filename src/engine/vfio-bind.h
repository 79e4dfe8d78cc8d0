/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include "egpu.h"
#include "host.h"
#include "report.h"
#include "vfio.h"

/* Checks that binding the eGPU's functions to vfio-pci cannot take a device from the host: every group
 * of the eGPU may hold only its functions, bridges, and devices that are unbound or on a driver that
 * manages DMA itself. -EBUSY with the offending members in the report otherwise. Changes nothing. */
int vfio_bind_check_groups(const Host *h, const Egpu *e, Report *rep);

/* Binds every function of the eGPU to vfio-pci: reset method (device_specific for vendor-reset's ids
 * when the module is loaded), driver_override, unbind from the host driver, drivers_probe; then reads
 * back that the driver is vfio-pci and /dev/vfio/GROUP exists. Functions already on vfio-pci are left
 * alone. When a step fails, the functions changed in this call are put back as they were, so nothing is
 * left half-bound. Each write waits at most timeout_ms. Returns >0 when something changed, 0 when all was
 * already bound, -errno on failure. */
int vfio_bind_egpu(const Host *h, const Egpu *e, int timeout_ms, Report *rep);

/* Undoes the binding: clears driver_override and unbinds from vfio-pci; with reprobe, lets the kernel
 * give each function to its own driver again. */
int vfio_unbind_egpu(const Egpu *e, bool reprobe, int timeout_ms, Report *rep);

/* The VFIO pre-flight of an eGPU: vfio_probe_group() for each of its groups with the eGPU's functions in
 * that group, in e->groups order. It does what QEMU does at a VM's start (model/vfio.h), so run it only
 * when no VM should have the eGPU yet or to look at one that has it (a held group is not touched). */
typedef struct VfioPreflight {
        VfioProbe *groups;
        size_t n_groups;
} VfioPreflight;

void vfio_preflight_done(VfioPreflight *p);
int vfio_preflight_egpu(const Egpu *e, VfioPreflight *ret);
/* Whether every group went through, or is held by a process (a VM runs with it). */
bool vfio_preflight_ok(const VfioPreflight *p) _pure_;
/* One line about a group's probe for a person: "IOMMU group 25: ready for a VM (...)", "IOMMU group 25:
 * held by process 1234", "IOMMU group 25: VFIO_SET_IOMMU failed: ...". */
int vfio_probe_describe(const VfioProbe *p, char **ret);
/* Why the failed step of a probe fails, for a person, and what mends it: a command, or a line starting
 * with '#' where no command can. Never NULL: the one explanation that attach's report points to and doctor's
 * vfio-usable gives. The probe must have failed (p->failed, else p->iommufd_failed). */
void vfio_probe_help(const VfioProbe *p, const char **ret_why, const char **ret_fix);
/* Adds the pre-flight to a report: a note for each group that is ready or held, an error (the first)
 * for a group QEMU could not use, with what to do. Returns 0, or the error's -errno. */
int vfio_preflight_report(const VfioPreflight *p, Report *rep);
