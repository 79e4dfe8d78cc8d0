/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <sys/types.h>

#include "egpu.h"
#include "report.h"

/* The eGPU in a running VM: hot-adding its functions to the VM's QEMU and taking them out again, through
 * the QEMU Machine Protocol (src/shared/qmp.h), the way QEMU's own docs/pcie.txt describes PCI Express
 * hot-plug: a vfio-pci device per function on a free hot-pluggable pcie-root-port, the functions other
 * than 0 first and function 0 last with multifunction=on, since QEMU shows the slot to the guest when
 * function 0 arrives (hw/pci/pcie.c pcie_cap_slot_plug_cb()); device_del of function 0 takes the whole slot
 * away once the guest powered it off, with one DEVICE_DELETED event for the device named
 * (pcie_cap_slot_unplug_request_cb(), QEMU v7.2.0). */

/* Proxmox VE's QMP sockets: /var/run/qemu-server/VMID.qmp (qemu-server, src/PVE/QemuServer/Helpers.pm
 * qmp_socket() and $var_run_tmpdir). */
#define LIVE_PROXMOX_RUN_DIR "/var/run/qemu-server"

/* Bounds on the waits: a QMP answer (device_add of vfio-pci maps and pins the guest's memory for DMA, which
 * takes seconds for a large guest), and a VM giving a device back (a Linux guest's pciehp waits 5 s after
 * the attention button before it powers the slot off: drivers/pci/hotplug/pciehp_ctrl.c). */
#define LIVE_QMP_TIMEOUT_MS_DEFAULT    30000
#define LIVE_UNPLUG_TIMEOUT_MS_DEFAULT 15000

typedef struct LiveOptions {
        int qmp_timeout_ms;
        int unplug_timeout_ms;
} LiveOptions;

/* A running VM as egpuctl reaches it. */
typedef struct LiveVm {
        char *qmp_path; /* its QMP socket */
        char *vmid;     /* its Proxmox VM id, NULL when not known */
        pid_t pid;      /* its QEMU process, 0 when not known */
} LiveVm;

void live_vm_done(LiveVm *v);
/* The socket of Proxmox VM vmid (LIVE_PROXMOX_RUN_DIR below root), or qmp_path when given. */
int live_vm_new(const char *root, const char *vmid, const char *qmp_path, LiveVm *ret);
/* The VM a QEMU command line describes: its QMP socket from "-qmp unix:PATH[,...]" or "-chardev
 * socket,id=ID,path=PATH,server=on..." with "-mon chardev=ID,mode=control" (Proxmox starts its VMs so:
 * qemu-server's config_to_command()), and its VM id from "-id N" or a socket LIVE_PROXMOX_RUN_DIR/N.qmp.
 * -ENOENT when it has no QMP socket. */
int live_vm_from_cmdline(char *const *argv, pid_t pid, LiveVm *ret);
/* The same for a running process (/proc/PID/cmdline). -ESRCH when it is gone. */
int live_vm_from_pid(pid_t pid, LiveVm *ret);
/* "VM 100 (PID 1234)", "QEMU PID 1234 (/run/x.qmp)". */
int live_vm_describe(const LiveVm *v, char **ret);

/* Whether the VM runs: its QMP socket answers. -errno with the reason in the report ("VM 100 is not
 * running: nothing listens on ..."). */
int live_vm_check(const LiveVm *vm, const LiveOptions *o, Report *rep);

/* Stops the VM: `qm stop VMID` for a Proxmox VM when qm is there (so that Proxmox knows), else, or when
 * that fails, QMP's quit. */
int live_vm_stop(const LiveVm *vm, const LiveOptions *o);

/* The qdev id egpuctl gives a function it plugs: "egpuctl-" and the address with ':' as '-'
 * ("egpuctl-0000-30-00.0"); QEMU's ids start with a letter and hold letters, digits, '-', '.', '_'
 * (util/id.c id_wellformed()). */
int live_device_id(const char *bdf, char **ret);

/* The port vm plug puts an eGPU on, in a running VM: a free hot-pluggable PCIe port (query-pci, qom-get
 * hotplug) whose prefetchable window (as the guest set it up, else the port's pref64-reserve) holds the
 * eGPU's BARs (egpu_prefetchable_window()), the smallest such; else the free port with the largest
 * window. */
typedef struct LivePort {
        char *id;        /* its qdev id; NULL when the VM has no free hot-pluggable port */
        uint64_t window; /* its prefetchable window in bytes, 0 when unknown */
        uint64_t need;   /* what the eGPU's BARs need, 0 when unknown (no eGPU given) */
        int64_t bus;     /* its secondary bus, 0 while no firmware or guest numbered it */
        size_t n_free;   /* how many free hot-pluggable ports the VM has */
} LivePort;

void live_port_done(LivePort *p);
/* Whether the port's window holds what the eGPU needs. */
bool live_port_fits(const LivePort *p) _pure_;
/* The port live_plug() would choose for eGPU e (NULL: for any eGPU) in the running VM; ret->id NULL when
 * there is none. -errno with the reason in the report when the VM does not answer. */
int live_find_port(const Egpu *e, const LiveVm *vm, const LiveOptions *o, LivePort *ret, Report *rep);

/* Hot-adds every function of the eGPU, which must be on vfio-pci, into the VM: finds a free hot-pluggable
 * PCIe port (query-pci, qom-get hotplug), the one with a prefetchable window large enough for the eGPU's
 * BARs first (egpu_prefetchable_window()), adds the functions (device_add vfio-pci host=, id=, bus=,
 * addr=0.F), and checks with query-pci that the VM lists them. Devices it added are removed again when a
 * later step fails. Returns >0 when plugged, 0 when the VM had every function already, -errno with the
 * reason (QEMU's own message included) in the report. */
int live_plug(const Egpu *e, const LiveVm *vm, const LiveOptions *o, Report *rep);

/* Asks the VM to give back every device that passes one of the eGPU's functions through (whoever added
 * it: egpuctl or the VM's own configuration), waits for them to go and for the VM to let go of the
 * eGPU's groups, both bounded by o->unplug_timeout_ms. A VM that stops meanwhile lets go too. Returns >0
 * when something was removed, 0 when the VM had none, -ETIMEDOUT when the VM did not let go in time (a
 * guest that does not answer the hot-unplug request), -errno otherwise. */
int live_unplug(const Egpu *e, const LiveVm *vm, const LiveOptions *o, Report *rep);
