/* SPDX-License-Identifier: GPL-2.0-or-later */
/* fuzz-interfaces: one network configuration file: /etc/network/interfaces through interfaces_parse(),
 * the lookups and interfaces_rename() of "egpuctl nic pin" and doctor's view of it, net_config_parse();
 * the same text as a systemd .link file and as udev rules through the pin parsers, and as a unit file
 * through unit_file_get_list(); each word through netif_path_name_key() and doctor's NIC name checks. */

#include "doctor-files.h"
#include "fuzz.h"
#include "netif.h"
#include "util.h"

static void check_rename(const InterfacesFile *f, const char *text) {
        _cleanup_(name_map_done) NameMap empty = {}, map = {};
        _cleanup_(interfaces_freep) InterfacesFile *g = NULL;
        _cleanup_free_ char *same = NULL, *renamed = NULL;

        /* "Comments and everything else stay byte for byte": with nothing to rename, nothing changes. */
        if (interfaces_rename(f, &empty, &same) >= 0)
                fuzz_assert(streq(same, text));

        /* Rename every interface the file names; the result still parses into as many stanzas. */
        for (size_t i = 0; i < MIN(f->n_stanzas, (size_t) FUZZ_LOOKUPS); i++) {
                char name[32];

                if (!*f->stanzas[i].name || strpbrk(f->stanzas[i].name, ".:"))
                        continue;
                snprintf(name, sizeof(name), "nic%zu", i);
                if (name_map_add(&map, f->stanzas[i].name, name) < 0)
                        return;
        }
        STRV_FOREACH(a, f->auto_names) {
                _cleanup_free_ char *n = NULL;
                (void) name_map_apply(&map, *a, &n);
        }
        if (interfaces_rename(f, &map, &renamed) < 0)
                return;
        if (interfaces_parse(renamed, &g) >= 0)
                fuzz_assert(g->n_stanzas == f->n_stanzas && g->n_autos == f->n_autos);
}

static void check_interfaces(const InterfacesFile *f, const char *text) {
        _cleanup_free_ const IfaceStanza **bridges = NULL;
        size_t n_names = strv_length(f->auto_names);

        FOREACH_ARRAY(s, f->stanzas, f->n_stanzas) {
                fuzz_assert(s->name && s->first_line <= s->last_line && s->last_line < f->n_lines);
                if (s - f->stanzas < FUZZ_LOOKUPS)
                        fuzz_assert(interfaces_find(f, s->name));
                FOREACH_ARRAY(o, s->options, s->n_options) {
                        fuzz_assert(
                                o->key && o->value && o->line > s->first_line && o->line <= s->last_line);
                        (void) iface_option_names_interfaces(o->key);
                        if (o - s->options < FUZZ_LOOKUPS)
                                fuzz_assert(iface_option(s, o->key));
                }
        }
        /* Every auto name once in auto_names, in the order of first appearance (checked on a prefix). */
        fuzz_assert(n_names <= f->n_autos && (f->n_autos == 0) == (n_names == 0));
        FOREACH_ARRAY(a, f->autos, f->n_autos) {
                fuzz_assert(a->name && a->line < f->n_lines);
                if (a > f->autos)
                        fuzz_assert(a->line >= a[-1].line);
        }
        for (size_t i = 0, k = 0; i < MIN(f->n_autos, (size_t) FUZZ_LOOKUPS); i++) {
                bool seen = false;
                for (size_t j = 0; j < i; j++)
                        seen = seen || streq(f->autos[j].name, f->autos[i].name);
                if (!seen)
                        fuzz_assert(k < n_names && streq(f->auto_names[k++], f->autos[i].name));
        }
        if (interfaces_management_bridges(f, &bridges) >= 0)
                for (const IfaceStanza **b = bridges; *b; b++)
                        fuzz_assert(iface_option(*b, "bridge-ports"));
        check_rename(f, text);
}

/* Doctor's view of the same parse. */
static void check_net_config(const char *text, const InterfacesFile *f) {
        _cleanup_(net_config_done) NetConfig nc = {};
        int r;

        r = net_config_parse(&nc, "/etc/network/interfaces", text);
        fuzz_assert((r >= 0) == (f != NULL));
        if (r < 0)
                return;
        fuzz_assert(nc.n_refs >= f->n_autos);
        FOREACH_ARRAY(ref, nc.refs, nc.n_refs) {
                _cleanup_free_ char *key = NULL;
                unsigned bus;

                fuzz_assert(ref->name && ref->file && ref->how && ref->line >= 1 && ref->line <= f->n_lines);
                if (ref > nc.refs)
                        fuzz_assert(ref->line >= ref[-1].line);
                (void) net_config_name_is_virtual(&nc, ref->name);
                if (netif_path_name_key(ref->name, &key, &bus) >= 0)
                        fuzz_assert(bus <= 255 && key);
        }
        for (size_t i = 1; i < nc.n_virtual_names; i++)
                fuzz_assert(strcmp(nc.virtual_names[i - 1], nc.virtual_names[i]) < 0);
        FOREACH_ARRAY(v, nc.virtual_names, nc.n_virtual_names)
                fuzz_assert(net_config_name_is_virtual(&nc, *v));
}

static void check_pins(const char *text) {
        _cleanup_(nic_pins_done) NicPins pins = {};
        _cleanup_strv_free_ char **names = NULL;

        (void) nic_pins_parse_link(&pins, "/etc/systemd/network/10-fuzz.link", text);
        (void) nic_pins_parse_udev_rules(&pins, "/etc/udev/rules.d/70-fuzz.rules", text);
        FOREACH_ARRAY(p, pins.pins, pins.n_pins) {
                fuzz_assert(p->mac && p->name && *p->name && p->file && strlen(p->mac) == 17);
                for (const char *c = p->mac; *c; c++)
                        fuzz_assert(!(*c >= 'A' && *c <= 'Z') && *c != '-');
                if (p - pins.pins < FUZZ_LOOKUPS) {
                        fuzz_assert(nic_pins_find_mac(&pins, p->mac));
                        fuzz_assert(nic_pins_find_name(&pins, p->name));
                }
        }
        if (unit_file_get_list(text, "Link", "Name", &names) >= 0)
                STRV_FOREACH(n, names)
                        fuzz_assert(**n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_(interfaces_freep) InterfacesFile *f = NULL;
        _cleanup_free_ char *text = NULL;
        _cleanup_strv_free_ char **words = NULL;
        int r;

        if (size > INTERFACES_MAX_SIZE) /* read_full_file() refuses larger files */
                return 0;
        text = fuzz_string(data, size);

        r = interfaces_parse(text, &f);
        fuzz_assert(r >= 0 || r == -EFBIG || r == -ENOMEM);
        if (r >= 0)
                check_interfaces(f, text);
        if (r != -ENOMEM)
                check_net_config(text, f);
        check_pins(text);

        if (strv_split(text, " \t\n", &words) >= 0)
                STRV_FOREACH(w, words) {
                        _cleanup_free_ char *key = NULL;
                        unsigned bus;

                        if (netif_path_name_key(*w, &key, &bus) >= 0)
                                fuzz_assert(bus <= 255);
                }
        return 0;
}
