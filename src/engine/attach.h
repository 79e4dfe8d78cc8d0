/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <libudev.h>

#include "host.h"
#include "report.h"
#include "store.h"

/* How an attach or detach goes: bounds on every wait. */
typedef struct AttachOptions {
        const char *store_dir; /* the enrolment store */
        int timeout_ms;        /* for the tunnel's functions to appear (default 10 s) */
        int write_timeout_ms; /* for each sysfs write that may block: authorized, unbind, drivers_probe (5 s)
                               */
        bool force;           /* detach even while a VM holds the group */
        const char *root;     /* --root: where the runtime folder is (a person's detach is kept there) */
} AttachOptions;

#define ATTACH_TIMEOUT_MS_DEFAULT       10000
#define ATTACH_WRITE_TIMEOUT_MS_DEFAULT 5000

/* The enrolled devices, loaded once per action. */
typedef struct Enrolled {
        Enrollment **list;
        size_t n;
} Enrolled;

void enrolled_done(Enrolled *e);

/* What an attach works on: the device events, watched from before the snapshot was taken so that none
 * between the two is lost, and the snapshot of the host, which the attach reloads as events come. A
 * caller that decides on the snapshot first (the daemon: left detached?) hands it on, and the attach
 * reads sysfs again only when events say something changed. */
typedef struct AttachContext {
        struct udev *udev;
        const Enrolled *enrolled; /* not owned */
        struct udev_monitor *monitor;
        Host *host;
} AttachContext;

/* Opens the monitor, then loads the host with the enrolled PCIe ports. -errno, ret untouched, on failure. */
int attach_context_open(struct udev *udev, const Enrolled *enrolled, AttachContext *ret);
/* The same from a monitor and a snapshot the caller made, in that order (the daemon's loop copies its own
 * after reading every event that came before the monitor opened): takes both, even on failure, reads again
 * the devices of the events the monitor has had since, and builds the eGPUs with the enrolled ports. */
int attach_context_adopt(
        struct udev *udev,
        const Enrolled *enrolled,
        struct udev_monitor *monitor,
        Host *host,
        AttachContext *ret);
void attach_context_done(AttachContext *c);

/* Attaches one Thunderbolt router given by name ("1-1") or unique_id: refuses unless it is enrolled
 * (by unique_id, re-read just before the write), authorizes its parents and then it according to the
 * domain's security level, waits for its eGPU's functions by uevents (bounded by timeout_ms), checks
 * the IOMMU groups and binds the functions to vfio-pci. Returns >0 when something changed, 0 when all
 * was in place already, -errno with the reason in the report. */
int attach_thunderbolt(AttachContext *c, const char *device, const AttachOptions *o, Report *rep);

/* Detaches the eGPU behind a router: refuses while a process holds a group's /dev/vfio node unless
 * o->force, clears driver_override, unbinds from vfio-pci, and closes the tunnel when the domain allows
 * deauthorization. */
int detach_thunderbolt(
        struct udev *udev,
        const Enrolled *enrolled,
        const char *device,
        const AttachOptions *o,
        Report *rep);

/* The record of an eGPU: its enclosure's by unique_id, or for a PCIe eGPU the record of the port it sits
 * below. NULL when it has none. */
Enrollment *enrolled_find_egpu(const Enrolled *enrolled, const Egpu *e) _pure_;

/* Whether any record names a VM (enroll --vm, --qmp). */
bool enrolled_any_vm(const Enrolled *enrolled) _pure_;

/* The enrolled PCIe ports, pointing into enrolled (valid while it is). */
int enrolled_pcie_ports(const Enrolled *enrolled, PciePort **ret, size_t *ret_n);
/* host_load_with_ports() with the enrolled PCIe ports. */
int host_load_enrolled(struct udev *udev, const Enrolled *enrolled, Host **ret);

/* Attaches a PCIe-attached eGPU, given by its enrolled port, its record key ("pci-...") or the address
 * of one of its functions: waits for it below the port (bounded), checks the groups, binds. There is no
 * tunnel to authorize. */
int attach_pcie(AttachContext *c, const char *device, const AttachOptions *o, Report *rep);
/* Unbinds it from vfio-pci, clears the override and gives the functions back to their host drivers. */
int detach_pcie(
        struct udev *udev,
        const Enrolled *enrolled,
        const char *device,
        const AttachOptions *o,
        Report *rep);

/* Either of the above, by what device names: a PCIe record (port, key, or a function of its eGPU) or a
 * Thunderbolt router (name or unique_id). One attach per context: it closes c's monitor when its wait is
 * over, and leaves in c->host its last read of the host, from before the binding. */
int attach_device(AttachContext *c, const char *device, const AttachOptions *o, Report *rep);
int detach_device(
        struct udev *udev,
        const Enrolled *enrolled,
        const char *device,
        const AttachOptions *o,
        Report *rep);

/* The eGPU behind router t in h, where the association is certain; NULL when none. */
Egpu *host_find_egpu_of_router(const Host *h, const TbDevice *t);

/* The devices attach and detach act on when none is named: every connected Thunderbolt device that is
 * enrolled (its name, "1-1"), then every PCIe eGPU present below its enrolled port (the port). The one
 * answer to "which enrolled devices are connected", for the verbs and the daemon. */
int attach_targets(const Host *h, const Enrolled *enrolled, char ***ret);

/* The eGPU a device name (as attach_device() takes it) stands for now, NULL in *ret when it has none
 * (a closed tunnel). -ENODEV when the name is no connected device, -EPERM when it is not enrolled. */
int attach_find_egpu(const Host *h, const Enrolled *enrolled, const char *device, Egpu **ret);
/* The same in c->host, with the eGPU's functions read again first: after an attach, its snapshot is from
 * before the binding. */
int attach_context_reread_egpu(AttachContext *c, const char *device, Egpu **ret);

/* An action on one device, as attach_device() and attach_by_person() take it. */
typedef int (*AttachAction)(
        struct udev *udev,
        const Enrolled *enrolled,
        const char *device,
        const AttachOptions *o,
        Report *rep);

/* Runs action on every device of the list at once, one thread each with a udev context of its own: two
 * eGPUs plugged together are attached in parallel, each within its own timeouts, each with its own
 * report in reports[i] and result in results[i] (as action returns it), so that one failing does not
 * stop the others. The caller holds the lock (lock.h): one writer process, several threads in it. Each
 * report's on_line is told from its own thread. Returns -errno when a thread could not be started (its
 * report says so), else 0. */
int attach_run_parallel(
        AttachAction action,
        const Enrolled *enrolled,
        char **devices,
        const AttachOptions *o,
        Report *reports,
        int *results);

/* A person's attach and detach: the same as attach_device() and detach_device(), and the device stays
 * detached while the daemon runs until it is plugged again or attached by a person (detached.h). */
int attach_by_person(
        struct udev *udev,
        const Enrolled *enrolled,
        const char *device,
        const AttachOptions *o,
        Report *rep);
int detach_by_person(
        struct udev *udev,
        const Enrolled *enrolled,
        const char *device,
        const AttachOptions *o,
        Report *rep);
/* Whether a person detached the device (a name as attach_device() takes it) and it was not plugged again
 * since. */
bool attach_held_detached(const Host *h, const Enrolled *enrolled, const char *device, const char *root);
