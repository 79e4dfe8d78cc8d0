/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include "egpu.h"
#include "host.h"
#include "report.h"

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

/* Whether a process holds /dev/vfio/GROUP open (a running VM): the holder's PID in *ret_pid, or 0 when
 * the kernel says the group is busy but the holder cannot be seen. */
int vfio_group_holder(int group, pid_t *ret_pid);
