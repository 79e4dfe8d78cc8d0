/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include "attach.h"
#include "live.h"

/* The safe-unplug button. For each of the eGPU's groups that a process holds, finds the VM (the holder's
 * command line names its QMP socket: live_vm_from_pid()) and takes the eGPU out of it (live_unplug());
 * then detaches the device as a person does (detach_by_person(): unbind, close the tunnel, and the daemon
 * leaves it detached). The report ends with "DEVICE: safe to unplug", or its error names the VM that did
 * not let go and what to do. Returns >0 when something changed, 0 when it was detached already, -errno. */
int eject_device(
        struct udev *udev,
        const Enrolled *enrolled,
        const char *device,
        const AttachOptions *o,
        const LiveOptions *lo,
        Report *rep);
