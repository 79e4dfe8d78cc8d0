/* SPDX-License-Identifier: GPL-2.0-or-later */
/* fuzz-modprobe: one modprobe.d file through modprobe_config_parse() (src/system/modprobe-config.c), then
 * the queries that doctor and install ask of the result, and vfio_ids_parse() on every options value. */

#include "fuzz.h"
#include "modprobe-config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_(modprobe_config_done) ModprobeConfig c = {};
        _cleanup_free_ char *text = NULL;
        const char *value;
        unsigned n_invalid;

        if (size > 1024 * 1024) /* modprobe_config_load() reads at most 1 MiB a file */
                return 0;
        text = fuzz_string(data, size);
        if (modprobe_config_parse(&c, "/etc/modprobe.d/fuzz.conf", text) < 0)
                return 0;
        n_invalid = c.n_invalid;
        fuzz_assert((n_invalid == 0) == (c.first_invalid == NULL));

        FOREACH_ARRAY(e, c.entries, c.n_entries) {
                fuzz_assert(e->command >= 0 && e->command < _MODPROBE_COMMAND_MAX);
                fuzz_assert(e->module && e->args && e->pre && e->post && e->file);
                fuzz_assert(e->line >= 1);
                (void) modprobe_command_to_string(e->command);
                if (e->command != MODPROBE_ALIAS)
                        fuzz_assert(!strchr(e->module, '-'));
                if (e - c.entries < FUZZ_LOOKUPS) {
                        (void) modprobe_find_softdep(&c, e->module);
                        (void) modprobe_has_softdep_pre(&c, e->module, "vfio_pci");
                        (void) modprobe_find_blacklist(&c, e->module);
                        (void) modprobe_find_install(&c, e->module);
                }
                STRV_FOREACH(a, e->args) {
                        uint32_t ids[16][2];
                        size_t n = vfio_ids_parse(*a, ids, ELEMENTSOF(ids));

                        fuzz_assert(n <= ELEMENTSOF(ids));
                        for (size_t i = 0; i < n; i++)
                                fuzz_assert(ids[i][0] <= 0xffff && ids[i][1] <= 0xffff);
                }
        }
        (void) modprobe_find_option(&c, "vfio_pci", "ids", &value);
        (void) modprobe_find_option(&c, "vfio-pci", "disable_vga", &value);
        (void) modprobe_has_softdep_pre(&c, "amdgpu", "vfio-pci");

        /* Parsing the same text again appends the same entries. */
        size_t n = c.n_entries;
        if (modprobe_config_parse(&c, "/etc/modprobe.d/fuzz.conf", text) >= 0)
                fuzz_assert(c.n_entries == 2 * n && c.n_invalid == 2 * n_invalid);
        return 0;
}
