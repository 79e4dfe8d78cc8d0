/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "eject.h"
#include "util.h"
#include "vfio.h"

/* What to tell a person whose VM keeps the eGPU. */
static int stop_hint(const LiveVm *vm, char **ret) {
        if (vm->vmid)
                return asprintf(ret, "shut the guest down or stop the VM (qm stop %s)", vm->vmid) < 0
                        ? -ENOMEM
                        : 0;
        if (vm->pid > 0)
                return asprintf(ret, "shut the guest down or stop its QEMU (PID %d)", (int) vm->pid) < 0
                        ? -ENOMEM
                        : 0;
        return (*ret = strdup("shut the guest down or stop the VM")) ? 0 : -ENOMEM;
}

/* Takes the eGPU out of the VM that holds group g. */
static int release_group(const Egpu *egpu, int group, pid_t holder, const LiveOptions *lo, Report *rep) {
        _cleanup_(live_vm_done) LiveVm vm = {};
        _cleanup_free_ char *who = NULL, *hint = NULL;
        int r;

        if (holder == 0)
                return report_error(
                        rep,
                        -EBUSY,
                        "/dev/vfio/%d is held by a process egpuctl may not look into ('fuser -v "
                        "/dev/vfio/%d' "
                        "names it); stop it, then run egpuctl eject again",
                        group,
                        group);
        r = live_vm_from_pid(holder, &vm);
        if (r == -ESRCH)
                return 0; /* gone meanwhile */
        if (r == -ENOENT)
                return report_error(
                        rep,
                        -EBUSY,
                        "/dev/vfio/%d is held by process %d, which has no QMP socket to ask it to let go; "
                        "stop it, then run egpuctl eject again",
                        group,
                        (int) holder);
        if (r < 0)
                return report_error(
                        rep,
                        r,
                        "Failed to read the command line of process %d: %m",
                        (int) holder);
        r = live_unplug(egpu, &vm, lo, rep);
        if (r >= 0)
                return r;
        if (live_vm_describe(&vm, &who) < 0 || stop_hint(&vm, &hint) < 0)
                return -ENOMEM;
        /* the report holds why; the last word says what to do */
        free(rep->error);
        rep->error = NULL;
        return report_error(
                rep,
                r,
                "%s did not let go of eGPU %s: %s, then run egpuctl eject again",
                who,
                egpu->gpu->bdf,
                hint);
}

int eject_device(
        struct udev *udev,
        const Enrolled *enrolled,
        const char *device,
        const AttachOptions *o,
        const LiveOptions *lo,
        Report *rep) {
        _cleanup_(host_freep) Host *h = NULL;
        bool changed = false;
        Egpu *egpu = NULL;
        int r;

        r = host_load_enrolled(udev, enrolled, &h);
        if (r < 0)
                return report_error(rep, r, "Failed to read the devices: %m");
        r = attach_find_egpu(h, enrolled, device, &egpu);
        if (r == -ENODEV)
                return report_error(rep, r, "No device '%s' is connected", device);
        if (r == -EPERM)
                return report_error(rep, r, "%s is not enrolled", device);
        if (r < 0)
                return r;
        if (egpu)
                FOREACH_ARRAY(g, egpu->groups, egpu->n_groups) {
                        pid_t holder = 0;

                        r = vfio_group_holder((*g)->id, &holder);
                        if (r < 0)
                                return report_error(
                                        rep,
                                        r,
                                        "Failed to check who uses /dev/vfio/%d: %m",
                                        (*g)->id);
                        if (r == 0)
                                continue;
                        r = release_group(egpu, (*g)->id, holder, lo, rep);
                        if (r < 0)
                                return r;
                        if (r > 0)
                                changed = true;
                }
        r = detach_by_person(udev, enrolled, device, o, rep);
        if (r < 0)
                return r;
        report_change(rep, "%s: safe to unplug", device);
        return changed || r > 0 ? 1 : 0;
}
