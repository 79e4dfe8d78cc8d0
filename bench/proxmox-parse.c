/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Times the Proxmox parsers on one file (bench/gen-proxmox-input.py writes large ones):
 *   bench-proxmox-parse prop|vm|doctor-vm|mapping FILE
 * prints the elements found and the microseconds the parse took. */
#include <inttypes.h>

#include "doctor-files.h"
#include "proxmox.h"
#include "util.h"

int main(int argc, char *argv[]) {
        _cleanup_free_ char *text = NULL;
        size_t n = 0;
        uint64_t t0, t1;
        int r;

        if (argc != 3) {
                fprintf(stderr, "usage: %s prop|vm|doctor-vm|mapping FILE\n", argv[0]);
                return 2;
        }
        r = read_full_file(argv[2], 64 * 1024 * 1024, &text, NULL);
        if (r < 0) {
                fprintf(stderr, "%s: %s\n", argv[2], strerror(-r));
                return 1;
        }
        t0 = now_usec();
        if (streq(argv[1], "prop")) {
                _cleanup_(prop_string_done) PropString p = {};
                r = prop_string_parse(text, "host", &p);
                n = p.n;
        } else if (streq(argv[1], "vm")) {
                _cleanup_(vm_config_done) VmConfig c = {};
                r = vm_config_parse(text, &c);
                n = c.n;
        } else if (streq(argv[1], "doctor-vm")) {
                _cleanup_(pve_vm_done) PveVm vm = {};
                r = pve_vm_parse(&vm, text);
                n = vm.n_hostpci;
        } else if (streq(argv[1], "mapping")) {
                _cleanup_strv_free_ char **paths = NULL;
                r = pve_mapping_paths(text, "egpu", NULL, &paths);
                n = r >= 0 ? strv_length(paths) : 0;
        } else {
                fprintf(stderr, "unknown parser %s\n", argv[1]);
                return 2;
        }
        t1 = now_usec();
        if (r < 0) {
                fprintf(stderr, "parse failed: %s\n", strerror(-r));
                return 1;
        }
        printf("%s: %zu elements in %" PRIu64 " us\n", argv[1], n, t1 - t0);
        return 0;
}
