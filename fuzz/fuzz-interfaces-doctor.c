/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Part of fuzz-interfaces: doctor's parsers of the same network files (src/lib/doctor-files.c). */

#include "doctor-files.h"
#include "fuzz.h"

void fuzz_doctor_network(const char *text);

void fuzz_doctor_network(const char *text) {
        _cleanup_(net_config_done) NetConfig nc = {};
        _cleanup_(nic_pins_done) NicPins pins = {};
        _cleanup_strv_free_ char **names = NULL;

        if (net_config_parse(&nc, "/etc/network/interfaces", text) >= 0)
                FOREACH_ARRAY(ref, nc.refs, nc.n_refs) {
                        unsigned bus;

                        fuzz_assert(ref->name && ref->file && ref->how && ref->line >= 1);
                        (void) net_config_name_is_virtual(&nc, ref->name);
                        if (nic_name_pci_bus(ref->name, &bus) >= 0)
                                fuzz_assert(bus <= 255);
                        (void) nic_names_differ_in_bus(ref->name, "enp88s0");
                }

        (void) nic_pins_parse_link(&pins, "/etc/systemd/network/10-fuzz.link", text);
        (void) nic_pins_parse_udev_rules(&pins, "/etc/udev/rules.d/70-fuzz.rules", text);
        FOREACH_ARRAY(p, pins.pins, pins.n_pins) {
                fuzz_assert(p->mac && p->name && p->file);
                if (p - pins.pins < FUZZ_LOOKUPS) {
                        fuzz_assert(nic_pins_find_mac(&pins, p->mac));
                        fuzz_assert(nic_pins_find_name(&pins, p->name));
                }
        }

        if (unit_file_get_list(text, "Link", "Name", &names) >= 0)
                STRV_FOREACH(n, names)
                        fuzz_assert(**n);
}
