/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The check of the VMs: Proxmox configurations that pass the eGPU through. */
#include "doctor-files.h"
#include "doctor-internal.h"
#include "proxmox.h"
#include "util.h"

static int check_one_vm(Doctor *d, Check *c, const char *vmid, const PveVm *vm, char **ok) {
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
                        r = r < 0 ? r : pve_mapping_paths(text, hp->mapping, &mapped);
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
                        if (h->n_egpus > 0) {
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
        _cleanup_free_ char *ok = NULL;
        size_t n_vms = 0;
        int r;

        r = doctor_list_dir(d, "/etc/pve/qemu-server", "*.conf", &files);
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
                r = check_one_vm(d, c, vmid, &vm, &ok);
                if (r < 0)
                        return r;
        }
        if (files[0] == NULL)
                return check_finish(c, CHECK_SKIP, "no Proxmox VM configuration (/etc/pve/qemu-server)");
        if (n_vms == 0 || !ok)
                return check_finish(c, CHECK_SKIP, "no VM passes through a GPU");
        return check_finish(c, CHECK_OK, "%s", ok);
}

const DoctorCheck doctor_checks_vm[] = {
        { "vm-config",
          "Proxmox VMs pass the eGPU as it is now: q35, pcie=1, no ROM BAR where there is no ROM",
          check_vm_config },
        {},
};
