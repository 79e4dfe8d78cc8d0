/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include "attach.h"
#include "event-socket.h"
#include "live.h"

/* The daemon's logic: the engine driven by device events. The caller (egpuctl daemon) owns the process:
 * signals, systemd's notifications, the poll() loop over hotplug_fd()'s descriptors; this module decides.
 *
 * - At start and on each batch of uevents (thunderbolt, pci), every enrolled device with policy auto that
 *   is connected and not fully on vfio-pci is attached, in a worker thread, so that a write that blocks
 *   for seconds never stalls the loop. An event for a device whose attach runs makes it run once more.
 *   The loop decides on a snapshot of the devices that each batch refreshes with the devices it names
 *   (host_refresh()); the worker reads the host afresh under the lock.
 * - One writer: a worker takes the lock (lock.h) that the verbs take, so it never runs beside a person's
 *   attach, detach, eject, enroll or forget, and it then reads the store and sysfs afresh.
 * - What a person detached or ejected stays detached (detached.h) until the device is plugged again.
 * - An eGPU whose record names a VM (vm=, qmp=) is plugged into that VM when the VM runs (live.h).
 * - A surprise unplug while a VM holds the eGPU (the kernel's "vfio-pci BDF: Relaying device request to
 *   user" in /dev/kmsg: vfio-pci's remove waits for the VM, drivers/vfio/pci/vfio_pci_core.c
 *   vfio_pci_core_request(); no uevent marks it, tests/vm): the VM is asked to let go (device_del); if it
 *   has not within the unplug bound, on_surprise_unplug says what happens: wait (log the VM, its PID and
 *   the command that frees the host) or stop the VM (qm stop VMID for a Proxmox VM, else QMP quit). This
 *   runs in a worker too: the loop keeps serving other events meanwhile.
 * - A VM that holds an eGPU (one the daemon plugged in, or found held at its start or at a plug) is watched
 *   by its process: closing /dev/vfio/N sends no uevent, but the process's pidfd polls readable when it
 *   ends. Then, in a worker and under the lock, the eGPU is brought back to D0 and checked for the next
 *   start (egpu_after_release(), release.h), as the hookscript's post-stop does. */

typedef enum SurprisePolicy {
        SURPRISE_WAIT,
        SURPRISE_STOP_VM,
        _SURPRISE_POLICY_MAX,
        _SURPRISE_POLICY_INVALID = -EINVAL,
} SurprisePolicy;

const char *surprise_policy_to_string(SurprisePolicy p) _pure_;
SurprisePolicy surprise_policy_from_string(const char *s) _pure_;

/* How the daemon tells what it does: priority as syslog's (LOG_ERR ... LOG_DEBUG), one line. Called from
 * worker threads too, one call at a time. What it logs at LOG_INFO or above also goes to the event socket
 * as a decision, and a VM taking or letting go of an eGPU as vm-plugged or vm-released. */
typedef void (*HotplugLogFunction)(int priority, const char *line);

typedef struct HotplugOptions {
        AttachOptions attach; /* store_dir included */
        LiveOptions live;
        SurprisePolicy on_surprise_unplug;
        const char *root;      /* where Proxmox's QMP sockets are looked for (--root), "" for / */
        const char *kmsg_path; /* the kernel log, /dev/kmsg */
        int lock_timeout_ms;   /* how long a worker waits for the lock */
        HotplugLogFunction log;
        EventServer *events; /* where 'egpuctl monitor' hears the decisions and what VMs do; NULL */
} HotplugOptions;

typedef struct Hotplug Hotplug;

/* Opens the device monitor (before anything is read, so that nothing is missed) and the kernel log (a
 * warning when it cannot be read: then surprise unplugs under a VM are not seen). */
int hotplug_new(const HotplugOptions *o, Hotplug **ret);
/* Waits for the workers (bounded by the attach and write timeouts) and frees. */
Hotplug *hotplug_free(Hotplug *d);
DEFINE_TRIVIAL_CLEANUP_FUNC(Hotplug *, hotplug_free);

/* The descriptors to poll for input: the device monitor, the kernel log (-1 when not open), the
 * workers' wake-up and the VMs' ends (an epoll set of pidfds). */
#define HOTPLUG_N_FDS 4
void hotplug_fds(const Hotplug *d, int ret[HOTPLUG_N_FDS]);
/* Attaches every connected enrolled device with policy auto, in workers (boot with the eGPU connected). */
void hotplug_start(Hotplug *d);
/* Handles what the descriptors have: events, kernel log records, finished workers. */
void hotplug_process(Hotplug *d);
/* How many workers run. */
unsigned hotplug_running(Hotplug *d);
/* Waits until no worker runs, at most timeout_ms. */
void hotplug_wait(Hotplug *d, int timeout_ms);
/* Detaches every connected enrolled device: the system shuts down, after the guests stopped. */
void hotplug_detach_all(Hotplug *d);
