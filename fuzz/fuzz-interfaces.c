/* SPDX-License-Identifier: GPL-2.0-or-later */
/* fuzz-interfaces: one network configuration file: /etc/network/interfaces through interfaces_parse(),
 * the lookups and interfaces_rename() of "egpuctl nic pin" (src/lib/netif.c), the same text as a systemd
 * .link file through link_file_parse(), and each word through netif_path_name_key(); then doctor's
 * parsers of the same files (fuzz-interfaces-doctor.c: src/lib/doctor-files.c). */

#include "fuzz.h"
#include "netif.h"
#include "util.h"

/* In fuzz-interfaces-doctor.c: doctor-files.h and netif.h both define a NicPin, so they cannot meet in
 * one file. */
void fuzz_doctor_network(const char *text);

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
                fuzz_assert(g->n_stanzas == f->n_stanzas);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_(interfaces_freep) InterfacesFile *f = NULL;
        _cleanup_free_ char *text = NULL, *mac = NULL, *name = NULL;
        _cleanup_strv_free_ char **words = NULL;
        int r;

        if (size > INTERFACES_MAX_SIZE) /* read_full_file() refuses larger files */
                return 0;
        text = fuzz_string(data, size);

        r = interfaces_parse(text, &f);
        fuzz_assert(r >= 0 || r == -EFBIG || r == -ENOMEM);
        if (r >= 0) {
                _cleanup_free_ const IfaceStanza **bridges = NULL;

                FOREACH_ARRAY(s, f->stanzas, f->n_stanzas) {
                        fuzz_assert(s->name && s->first_line <= s->last_line && s->last_line < f->n_lines);
                        if (s - f->stanzas < FUZZ_LOOKUPS)
                                fuzz_assert(interfaces_find(f, s->name));
                        FOREACH_ARRAY(o, s->options, s->n_options) {
                                fuzz_assert(o->key && o->value);
                                (void) iface_option_names_interfaces(o->key);
                                if (o - s->options < FUZZ_LOOKUPS)
                                        fuzz_assert(iface_option(s, o->key));
                        }
                }
                if (interfaces_management_bridges(f, &bridges) >= 0)
                        for (const IfaceStanza **b = bridges; *b; b++)
                                fuzz_assert(iface_option(*b, "bridge-ports"));
                check_rename(f, text);
        }

        if (link_file_parse(text, &mac, &name) >= 0) {
                fuzz_assert(strlen(mac) == 17 && *name);
                for (const char *c = mac; *c; c++)
                        fuzz_assert(!(*c >= 'A' && *c <= 'Z'));
        }

        if (strv_split(text, " \t\n", &words) >= 0)
                STRV_FOREACH(w, words) {
                        _cleanup_free_ char *key = NULL;
                        unsigned bus;

                        if (netif_path_name_key(*w, &key, &bus) >= 0)
                                fuzz_assert(bus <= 255);
                }

        fuzz_doctor_network(text);
        return 0;
}
