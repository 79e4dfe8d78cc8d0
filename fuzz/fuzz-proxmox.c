/* SPDX-License-Identifier: GPL-2.0-or-later */
/* fuzz-proxmox: one Proxmox VM configuration (/etc/pve/qemu-server/VMID.conf, or `qm config` output)
 * through the parsers of src/system/proxmox.c: vm_config_parse(), each value as a property string, a hostpci
 * value through hostpci_refers_to(), and as a mapping's map entry through pci_map_entry_parse() and back
 * through pci_map_entry_format() (which must give back an equal entry). Then doctor's view of the same
 * (src/doctor/doctor-files.c, built on those): pve_vm_parse(), what doctor asks of each hostpciN entry, and
 * hostpci_value_set() (proxmox.c), whose result must parse back with the pcie= and rombar= asked for. The
 * same text also goes to pci_mapping_from_json() (pvesh's answer) and, as /etc/pve/mapping/pci.cfg, to
 * pci_mapping_from_cfg() and doctor's pve_mapping_paths() (check: no address twice). */

#include "doctor-files.h"
#include "fuzz.h"
#include "proxmox.h"

static void check_map_entry(const char *s) {
        _cleanup_(pci_map_entry_done) PciMapEntry e = { .iommugroup = -1 }, again = { .iommugroup = -1 };
        _cleanup_free_ char *f = NULL, *g = NULL;

        if (pci_map_entry_parse(s, &e) < 0)
                return;
        fuzz_assert(e.node && e.path);
        /* What egpuctl writes reads back as the same entry, and is written the same again. */
        fuzz_assert(pci_map_entry_format(&e, &f) >= 0);
        fuzz_assert(pci_map_entry_parse(f, &again) >= 0);
        fuzz_assert(pci_map_entry_equal(&e, &again));
        fuzz_assert(streq_ptr(e.description, again.description));
        fuzz_assert(pci_map_entry_format(&again, &g) >= 0);
        fuzz_assert(streq(f, g));
}

static void check_proxmox(const char *text) {
        _cleanup_(vm_config_done) VmConfig c = {};
        PciFunction f0 = { .bdf = (char *) "0000:30:00.0" }, f1 = { .bdf = (char *) "0000:30:00.1" };
        PciFunction *functions[] = { &f0, &f1 };
        Egpu egpu = { .gpu = &f0, .functions = functions, .n_functions = ELEMENTSOF(functions) };
        PciMapping m;

        if (vm_config_parse(text, &c) >= 0)
                for (size_t i = 0; i < c.n; i++) {
                        _cleanup_(prop_string_done) PropString p = {};

                        fuzz_assert(c.keys[i] && c.values[i]);
                        if (i < FUZZ_LOOKUPS)
                                fuzz_assert(vm_config_get(&c, c.keys[i]));
                        if (prop_string_parse(c.values[i], "host", &p) >= 0)
                                for (size_t k = 0; k < MIN(p.n, (size_t) FUZZ_LOOKUPS); k++)
                                        fuzz_assert(prop_string_get(&p, p.keys[k]));
                        (void) hostpci_refers_to(c.values[i], "egpu", &egpu);
                        check_map_entry(c.values[i]);
                }

        if (pci_mapping_from_json(text, &m) >= 0) {
                STRV_FOREACH(e, m.map)
                        check_map_entry(*e);
                pci_mapping_done(&m);
        }

        /* The same text as /etc/pve/mapping/pci.cfg, and doctor's view of it. */
        if (pci_mapping_from_cfg(text, "egpu", &m) > 0) {
                _cleanup_strv_free_ char **paths = NULL;

                fuzz_assert(m.id && streq(m.id, "egpu"));
                STRV_FOREACH(e, m.map)
                        check_map_entry(*e);
                pci_mapping_done(&m);
                fuzz_assert(pve_mapping_paths(text, "egpu", NULL, &paths) >= 0);
                for (size_t i = 0; paths[i] && i < FUZZ_LOOKUPS; i++)
                        for (size_t j = 0; j < i; j++)
                                fuzz_assert(!streq(paths[i], paths[j]));
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_(pve_vm_done) PveVm vm = {};
        _cleanup_free_ char *text = NULL;

        if (size > 1024 * 1024) /* doctor reads at most CONFIG_FILE_MAX (1 MiB) */
                return 0;
        text = fuzz_string(data, size);
        check_proxmox(text);
        if (pve_vm_parse(&vm, text) < 0)
                return 0;

        (void) pve_machine_is_q35(vm.machine);
        FOREACH_ARRAY(hp, vm.hostpci, vm.n_hostpci) {
                _cleanup_(pve_vm_done) PveVm again = {};
                _cleanup_free_ char *with = NULL, *line = NULL;

                fuzz_assert(hp->hosts && hp->raw);
                fuzz_assert(hp->pcie >= -1 && hp->pcie <= 1 && hp->rombar >= -1 && hp->rombar <= 1);
                STRV_FOREACH(h, hp->hosts) {
                        (void) pve_host_matches(*h, "0000:30:00.0");
                        (void) pve_host_matches(*h, "0000:30:00.1");
                }

                if (hostpci_value_set(hp->raw, NULL, 1, 0, &with) < 0)
                        continue;
                if (asprintf(&line, "hostpci%u: %s\n", hp->index, with) < 0)
                        continue;
                if (pve_vm_parse(&again, line) < 0)
                        continue;
                fuzz_assert(again.n_hostpci == 1);
                fuzz_assert(again.hostpci[0].pcie == 1 && again.hostpci[0].rombar == 0);
        }
        return 0;
}
