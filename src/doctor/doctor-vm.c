/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The check of the VMs: Proxmox configurations that pass the eGPU through. */
#include <inttypes.h>

#include "doctor-files.h"
#include "doctor-internal.h"
#include "live.h"
#include "vfio.h"
#include "proxmox.h"
#include "util.h"

/* node: this Proxmox node's name, whose entries of a PCI mapping count. */
static int check_one_vm(
        Doctor *d,
        Check *c,
        const char *node,
        const char *vmid,
        const PveVm *vm,
        char **ok) {
        const Host *h = d->host;
        bool relevant = false, pcie_missing = false;
        int r;

        FOREACH_ARRAY(hp, vm->hostpci, vm->n_hostpci) {
                _cleanup_strv_free_ char **mapped = NULL;
                char **hosts = hp->hosts;
                bool fix_rombar = false, first_seen = false;

                if (hp->mapping) {
                        _cleanup_free_ char *text = NULL;

                        r = doctor_read_root_file(d, "/etc/pve/mapping/pci.cfg", &text);
                        if (r == -ENOMEM)
                                return r;
                        r = r < 0 ? r : pve_mapping_paths(text, hp->mapping, node, &mapped);
                        if (r == -ENOMEM)
                                return r;
                        if (r < 0) {
                                r = check_problem(
                                        c,
                                        CHECK_FAIL,
                                        "VM %s hostpci%u uses the PCI mapping \"%s\", which "
                                        "/etc/pve/mapping/pci.cfg does not define",
                                        vmid,
                                        hp->index,
                                        hp->mapping);
                                if (r >= 0)
                                        r = check_fix(
                                                c,
                                                "egpuctl vm attach %s --mapping %s",
                                                vmid,
                                                hp->mapping);
                                if (r < 0)
                                        return r;
                                continue;
                        }
                        hosts = mapped;
                }
                STRV_FOREACH(host, hosts) {
                        size_t n_found = 0;

                        FOREACH_ARRAY(fp, h->pci, h->n_pci) {
                                const PciFunction *f = *fp;
                                bool first = !first_seen;

                                if (!pve_host_matches(*host, f->bdf))
                                        continue;
                                n_found++;
                                first_seen = true;
                                if (!host_find_egpu_of(h, f) && !pci_function_is_display(f) &&
                                    !doctor_is_audio(f))
                                        continue; /* an internal device passed through on purpose */
                                relevant = true;
                                /* rombar and romfile reach the entry's first device only (qemu-server's
                                 * print_hostpci_devices(), PVE/QemuServer/PCI.pm: "if ($j == 0)"): the first
                                 * listed, or of a mapping's alternatives the first there is. The ROM rule is
                                 * the one vm attach applies, pci_function_has_rom(). */
                                if (!first || hp->rombar == 0 || hp->romfile)
                                        continue;
                                r = pci_function_has_rom(f);
                                if (r == -ENOMEM)
                                        return r;
                                if (r == 0) {
                                        r = check_problem(
                                                c,
                                                CHECK_FAIL,
                                                "VM %s hostpci%u gives a ROM BAR to %s, which has no ROM "
                                                "(no "
                                                "rom in sysfs, no ROM resource)%s: the guest can fail to "
                                                "boot",
                                                vmid,
                                                hp->index,
                                                f->bdf,
                                                hp->rombar < 0 ? " (rombar is on unless set to 0)" : "");
                                        if (r < 0)
                                                return r;
                                        fix_rombar = true;
                                }
                        }
                        if (n_found > 0)
                                continue;
                        relevant = true;
                        if (hp->mapping && h->n_egpus > 0) {
                                /* The mapping's entry for this node, not hostpciN, is what is wrong: the
                                 * hookscript's pre-start points this node's entries at the eGPUs present
                                 * (verb-vm.c vm_hook_pre_start()); a raw address here would undo the
                                 * mapping. */
                                r = check_problem(
                                        c,
                                        CHECK_FAIL,
                                        "VM %s hostpci%u uses the PCI mapping \"%s\", whose entry for node "
                                        "%s "
                                        "lists %s, where no PCI function is; the eGPU is at %s",
                                        vmid,
                                        hp->index,
                                        hp->mapping,
                                        node,
                                        *host,
                                        h->egpus[0]->gpu->bdf);
                                if (r >= 0)
                                        r = check_fix(
                                                c,
                                                "# Points mapping %s's entries for node %s at the eGPUs "
                                                "present, as the hookscript does before the VM starts:\n"
                                                "egpuctl vm hook %s pre-start",
                                                hp->mapping,
                                                node,
                                                vmid);
                        } else if (h->n_egpus > 0) {
                                const Egpu *e = h->egpus[0];
                                const char *dot = strrchr(*host, '.');
                                unsigned fn = dot ? (unsigned) (dot[1] - '0') : 0;
                                const PciFunction *target = e->gpu;
                                _cleanup_free_ char *nv = NULL, *slot = NULL;

                                FOREACH_ARRAY(fp, e->functions, e->n_functions)
                                        if (pci_function_number(*fp) == fn)
                                                target = *fp;
                                r = check_problem(
                                        c,
                                        CHECK_FAIL,
                                        "VM %s hostpci%u passes %s, where no PCI function is; the eGPU is "
                                        "at %s",
                                        vmid,
                                        hp->index,
                                        *host,
                                        e->gpu->bdf);
                                if (r < 0)
                                        return r;
                                /* Keep the form: a whole slot, or one function. */
                                if (dot)
                                        slot = strdup(target->bdf);
                                else
                                        slot = strndup(target->bdf, strlen(target->bdf) - 2);
                                if (!slot)
                                        return -ENOMEM;
                                r = hostpci_value_set(
                                        slot,
                                        NULL,
                                        1,
                                        pci_function_has_rom(target) == 0 ? 0 : hp->rombar,
                                        &nv);
                                if (r < 0)
                                        return r;
                                r = check_fix(c, "qm set %s -hostpci%u %s", vmid, hp->index, nv);
                        } else {
                                r = check_problem(
                                        c,
                                        CHECK_WARN,
                                        "VM %s hostpci%u passes %s, which is not there now (no eGPU "
                                        "connected): the VM cannot start until it is",
                                        vmid,
                                        hp->index,
                                        *host);
                                if (r >= 0)
                                        r = check_fix(
                                                c,
                                                "# Connect the eGPU and attach it before starting VM %s:\n"
                                                "egpuctl attach",
                                                vmid);
                        }
                        if (r < 0)
                                return r;
                }
                if (!relevant)
                        continue;
                if (hp->pcie != 1) {
                        r = check_problem(
                                c,
                                CHECK_FAIL,
                                "VM %s hostpci%u has no pcie=1: the GPU sits in a legacy PCI slot",
                                vmid,
                                hp->index);
                        if (r < 0)
                                return r;
                        pcie_missing = true;
                }
                if (fix_rombar || hp->pcie != 1) {
                        _cleanup_free_ char *nv = NULL;

                        r = hostpci_value_set(hp->raw, NULL, 1, fix_rombar ? 0 : -1, &nv);
                        if (r >= 0)
                                r = check_fix(c, "qm set %s -hostpci%u %s", vmid, hp->index, nv);
                        if (r < 0)
                                return r;
                }
        }
        if (relevant && !pve_machine_is_q35(vm->machine)) {
                r = check_problem(
                        c,
                        CHECK_FAIL,
                        "VM %s uses the machine type %s, which has no PCIe slots: passthrough needs q35",
                        vmid,
                        vm->machine ?: "i440fx (the default)");
                if (r >= 0)
                        r = check_fix(c, "qm set %s -machine q35", vmid);
                if (r < 0)
                        return r;
        }
        if (relevant) {
                _cleanup_free_ char *list = NULL;
                FOREACH_ARRAY(hp, vm->hostpci, vm->n_hostpci)
                        if (strextendf_with_separator(&list, ", ", "%s%s", hp->mapping ? "mapping " : "",
                                       hp->mapping ?: hp->hosts[0] ?: "?") < 0)
                                return -ENOMEM;
                r = strextendf_with_separator(
                        ok,
                        "; ",
                        "VM %s%s%s%s: %s on %s%s",
                        vmid,
                        vm->name ? " (" : "",
                        strempty(vm->name),
                        vm->name ? ")" : "",
                        strna(list),
                        strna(vm->machine),
                        pcie_missing ? "" : " with pcie=1");
                if (r < 0)
                        return r;
        }
        return 0;
}

static int check_vm_config(Doctor *d, Check *c) {
        _cleanup_strv_free_ char **files = NULL;
        _cleanup_free_ char *ok = NULL, *node = NULL;
        size_t n_vms = 0;
        int r;

        r = doctor_list_dir(d, "/etc/pve/qemu-server", "*.conf", &files);
        if (r < 0)
                return r;
        r = proxmox_node_name(d->root, &node); /* the node whose entries of a mapping count */
        if (r < 0)
                return r;
        STRV_FOREACH(f, files) {
                _cleanup_free_ char *text = NULL, *vmid = NULL;
                _cleanup_(pve_vm_done) PveVm vm = {};
                const char *name = path_basename(*f);

                if (doctor_read_root_file(d, *f, &text) < 0)
                        continue;
                r = pve_vm_parse(&vm, text);
                if (r < 0)
                        return r;
                if (vm.n_hostpci == 0)
                        continue;
                n_vms++;
                vmid = strndup(name, strlen(name) - 5);
                if (!vmid)
                        return -ENOMEM;
                r = check_one_vm(d, c, node, vmid, &vm, &ok);
                if (r < 0)
                        return r;
        }
        if (files[0] == NULL)
                return check_finish(c, CHECK_SKIP, "no Proxmox VM configuration (/etc/pve/qemu-server)");
        if (n_vms == 0 || !ok)
                return check_finish(c, CHECK_SKIP, "no VM passes through a GPU");
        return check_finish(c, CHECK_OK, "%s", ok);
}

/* How long doctor waits for a running VM's QMP socket: a busy monitor (Proxmox's own status calls) is
 * read from the VM's configuration instead. */
#define DOCTOR_QMP_TIMEOUT_MS 2000

/* The connected eGPU a record is for, NULL when it is not connected. */
static const Egpu *egpu_of_record(const Doctor *d, const Enrollment *rec) {
        FOREACH_ARRAY(e, d->host->egpus, d->host->n_egpus) {
                Enrollment *one[] = { (Enrollment *) rec };
                Enrolled just = { .list = one, .n = 1 };

                if (enrolled_find_egpu(&just, *e))
                        return *e;
        }
        return NULL;
}

/* The fix for a running VM without the port it needs: vm attach --live and a restart for a Proxmox VM,
 * the QEMU option for another. */
static int fix_port(Check *c, const LiveVm *vm, const char *want) {
        int r;

        if (!vm->vmid)
                return check_fix(
                        c,
                        "# start the VM with -device pcie-root-port,id=egpu-port,pref64-reserve=%s",
                        want);
        r = check_fix(c, "egpuctl vm attach %s --live", vm->vmid);
        return r < 0 ? r : check_fix(c, "qm reboot %s", vm->vmid);
}

/* A running VM: the port vm plug would use, from query-pci. 1 when it answered, 0 when not. */
static int vm_live_running(
        Doctor *d,
        Check *c,
        const LiveVm *vm,
        const char *who,
        const Egpu *e,
        uint64_t need,
        char **ok) {
        _cleanup_(live_port_done) LivePort port = {};
        _cleanup_(report_done) Report rep = {};
        const LiveOptions o = { .qmp_timeout_ms = DOCTOR_QMP_TIMEOUT_MS,
                                .unplug_timeout_ms = DOCTOR_QMP_TIMEOUT_MS };
        char have[32], want[32];
        int r;

        if (live_find_port(e, vm, &o, &port, &rep) < 0)
                return 0;
        /* the eGPU in this VM already: its port is taken, by the eGPU */
        FOREACH_ARRAY(g, e ? e->groups : NULL, e ? e->n_groups : 0) {
                _cleanup_(live_vm_done) LiveVm holder_vm = {};
                pid_t holder = 0;

                if (vfio_group_holder((*g)->id, &holder) > 0 && holder > 0 &&
                    live_vm_from_pid(holder, &holder_vm) >= 0 && streq(holder_vm.qmp_path, vm->qmp_path)) {
                        r = strextendf_with_separator(
                                ok,
                                "; ",
                                "%s runs with eGPU %s in it",
                                who,
                                e->gpu->bdf);
                        return r < 0 ? r : 1;
                }
        }
        format_bytes(have, sizeof(have), port.window);
        format_bytes(want, sizeof(want), need);
        if (!port.id) {
                r = check_problem(
                        c,
                        CHECK_FAIL,
                        "%s runs without a free hot-pluggable PCIe port, so vm plug has nowhere to put the "
                        "eGPU",
                        who);
                if (r >= 0)
                        r = fix_port(c, vm, want);
                return r < 0 ? r : 1;
        }
        if (need > 0 && !live_port_fits(&port)) {
                r = check_problem(
                        c,
                        CHECK_WARN,
                        "%s: its free port %s has a %s prefetchable window, and eGPU %s needs %s: the guest "
                        "may not map its BARs",
                        who,
                        port.id,
                        port.window ? have : "firmware's default",
                        e->gpu->bdf,
                        want);
                if (r >= 0)
                        r = fix_port(c, vm, want);
                return r < 0 ? r : 1;
        }
        r = strextendf_with_separator(
                ok,
                "; ",
                "%s runs with the free port %s (%s window%s%s)",
                who,
                port.id,
                port.window ? have : "unknown",
                need ? "; the eGPU needs " : "",
                need ? want : "");
        return r < 0 ? r : 1;
}

/* A Proxmox VM that does not run (or did not answer): the port in its configuration, which vm attach
 * --live writes. */
static int vm_live_config(Doctor *d, Check *c, const char *vmid, const Egpu *e, uint64_t need, char **ok) {
        _cleanup_(vm_config_done) VmConfig cfg = {};
        _cleanup_free_ char *path = NULL, *text = NULL;
        char have[32], want[32];
        uint64_t window = 0;
        bool mine = false;
        int r, n;

        if (asprintf(&path, "/etc/pve/qemu-server/%s.conf", vmid) < 0)
                return -ENOMEM;
        r = doctor_read_root_file(d, path, &text);
        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                r = check_problem(
                        c,
                        CHECK_FAIL,
                        "an eGPU is recorded for VM %s, which has no configuration (%s)",
                        vmid,
                        path);
                if (r >= 0)
                        r = check_fix(c, "egpuctl enroll DEVICE --vm VMID   # the VM it is for");
                return r;
        }
        r = vm_config_parse(text, &cfg);
        if (r < 0)
                return r;
        n = proxmox_args_live_ports(vm_config_get(&cfg, "args"), &window, &mine);
        if (n < 0)
                return n;
        format_bytes(have, sizeof(have), window);
        format_bytes(want, sizeof(want), need);
        if (!pve_machine_is_q35(vm_config_get(&cfg, "machine")))
                r = check_problem(
                        c,
                        CHECK_FAIL,
                        "VM %s is not q35: it has no PCIe port to plug the eGPU into",
                        vmid);
        else if (n == 0)
                r = check_problem(
                        c,
                        CHECK_FAIL,
                        "VM %s has no hot-pluggable port with a window reserve: Proxmox's own ports have "
                        "none, and its hostpciN entries only reach the VM at its start",
                        vmid);
        else if (need > 0 && window < need)
                r = check_problem(
                        c,
                        CHECK_WARN,
                        "VM %s's ports reserve a %s prefetchable window at most, and eGPU %s needs %s",
                        vmid,
                        have,
                        e->gpu->bdf,
                        want);
        else {
                r = 0;
                for (int i = 0; e && i < PROXMOX_MAX_HOSTPCI; i++) {
                        char key[32];
                        const char *v;

                        snprintf(key, sizeof(key), "hostpci%d", i);
                        v = vm_config_get(&cfg, key);
                        if (v && hostpci_refers_to(v, "egpu", e) && r >= 0)
                                r = check_problem(
                                        c,
                                        CHECK_WARN,
                                        "VM %s gets eGPU %s at its start too (%s), which keeps it there: a "
                                        "VM has it from the start or live, not both",
                                        vmid,
                                        e->gpu->bdf,
                                        key);
                }
                if (r < 0)
                        return r;
                if (!check_has_problem(c))
                        return strextendf_with_separator(
                                ok,
                                "; ",
                                "VM %s (not running) has %s with a %s window%s%s",
                                vmid,
                                mine ? PROXMOX_LIVE_PORT_ID : "a pcie-root-port",
                                have,
                                need ? "; the eGPU needs " : "",
                                need ? want : "");
        }
        if (r >= 0)
                r = check_fix(c, "egpuctl vm attach %s --live", vmid);
        return r;
}

static int check_vm_live(Doctor *d, Check *c) {
        _cleanup_free_ char *ok = NULL;
        size_t n = 0;
        int r;

        FOREACH_ARRAY(rp, d->enrolled->list, d->enrolled->n) {
                const Enrollment *rec = *rp;
                _cleanup_(live_vm_done) LiveVm vm = {};
                _cleanup_free_ char *who = NULL;
                const Egpu *e;
                uint64_t need = 0;

                if (!rec->vm && !rec->qmp)
                        continue;
                n++;
                e = egpu_of_record(d, rec);
                if (e)
                        (void) egpu_prefetchable_window(e, &need);
                r = live_vm_new(d->root, rec->vm, rec->qmp, &vm);
                if (r >= 0)
                        r = live_vm_describe(&vm, &who);
                if (r < 0)
                        return r;
                r = vm_live_running(d, c, &vm, who, e, need, &ok);
                if (r != 0) {
                        if (r < 0)
                                return r;
                        continue;
                }
                if (rec->vm)
                        r = vm_live_config(d, c, rec->vm, e, need, &ok);
                else
                        r = strextendf_with_separator(
                                &ok,
                                "; ",
                                "%s does not run now; its ports are checked while it runs",
                                who);
                if (r < 0)
                        return r;
        }
        if (n == 0)
                return check_finish(
                        c,
                        CHECK_SKIP,
                        "no eGPU is recorded for a VM (egpuctl vm attach VMID --live, or enroll --vm)");
        return check_finish(c, CHECK_OK, "%s", strna(ok));
}

const DoctorCheck doctor_checks_vm[] = {
        { "vm-config",
          "Proxmox VMs pass the eGPU as it is now: q35, pcie=1, no ROM BAR where there is no ROM",
          check_vm_config },
        { "vm-live",
          "each VM an eGPU is recorded for has a free hot-pluggable PCIe port whose prefetchable window "
          "holds the eGPU's BARs (query-pci while it runs, else its configuration)",
          check_vm_live },
        {},
};
