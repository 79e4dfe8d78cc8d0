/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Times the parsers and checks that build lists from outside input (bench/gen-lists-input.py writes large
 * inputs), each of which once scanned its whole list per item:
 *   bench-lists doctor ROOT          doctor's checks (nic-names: references, pins) under ROOT; with
 *                                    tests/run-scenario, on a scenario's devices (many NICs)
 *   bench-lists unit FILE            service_env_apply(): Environment= assignments, continuation lines
 *   bench-lists service ROOT         service_env_read() of b.service: its drop-ins across the folders
 *   bench-lists groups PASSWD GROUP  guest_passwd_find() of "u", guest_group_add_memberships()
 *   bench-lists resource FILE        pci_resource_parse()
 *   bench-lists rename FILE          a NameMap of every stanza's name, interfaces_rename() with it
 *   bench-lists nic-pin N ROOT       nic_pin_plan() for N NICs named after their PCI path under ROOT
 *   bench-lists nic-pin-moved N ROOT the same, N NICs each in its own PCI domain, whose old names (another
 *                                    bus) ROOT's interfaces uses: each stale name matched to its NIC
 *   bench-lists modprobe ROOT        modprobe_config_load() of ROOT's modprobe.d folders
 * Prints what was found and the microseconds it took. */
#include <inttypes.h>

#include "check.h"
#include "doctor-files.h"
#include "doctor.h"
#include "guest-os.h"
#include "guest-service.h"
#include "host.h"
#include "modprobe-config.h"
#include "netif.h"
#include "sysfs.h"
#include "util.h"

static int read_text(const char *path, char **ret) {
        int r = read_full_file(path, 64 * 1024 * 1024, ret, NULL);
        if (r < 0)
                fprintf(stderr, "%s: %s\n", path, strerror(-r));
        return r;
}

static int bench_doctor(const char *root, size_t *ret_n, uint64_t *ret_us) {
        _cleanup_(udev_unrefp) struct udev *udev = udev_new();
        _cleanup_(host_freep) Host *h = NULL;
        _cleanup_(check_list_done) CheckList l = {};
        uint64_t t0;
        int r;

        if (!udev)
                return -ENOMEM;
        r = host_load(udev, &h);
        if (r < 0)
                return r;
        t0 = now_usec();
        r = doctor_run(udev, h, NULL, root, &l);
        *ret_us = now_usec() - t0;
        FOREACH_ARRAY(c, l.checks, l.n_checks)
                if (streq(c->id, "nic-names") || strlen(strempty(c->summary)) > 4096)
                        printf("%s: %s: %zu bytes of summary, %zu of fix\n",
                               c->id,
                               check_status_to_string(c->status),
                               strlen(strempty(c->summary)),
                               strlen(strempty(c->fix)));
        *ret_n = l.n_checks;
        return r;
}

static int bench_unit(const char *path, size_t *ret_n, uint64_t *ret_us) {
        _cleanup_(service_env_done) ServiceEnv e = {};
        _cleanup_fclose_ FILE *f = fopen(path, "re");
        uint64_t t0;
        int r;

        if (!f)
                return -errno;
        t0 = now_usec();
        r = service_env_apply(f, &e);
        *ret_us = now_usec() - t0;
        *ret_n = strv_length(e.env);
        return r;
}

static int bench_service(const char *root, size_t *ret_n, uint64_t *ret_us) {
        _cleanup_(service_env_done) ServiceEnv e = {};
        uint64_t t0;
        int r;

        t0 = now_usec();
        r = service_env_read(root, "b.service", &e);
        *ret_us = now_usec() - t0;
        *ret_n = strv_length(e.env);
        if (r >= 0)
                printf("service: %zu files read\n", strv_length(e.files));
        return r;
}

static int bench_groups(const char *passwd, const char *group, size_t *ret_n, uint64_t *ret_us) {
        _cleanup_(guest_user_done) GuestUser u = {};
        _cleanup_fclose_ FILE *p = fopen(passwd, "re"), *g = fopen(group, "re");
        uint64_t t0;
        int r;

        if (!p || !g)
                return -errno;
        t0 = now_usec();
        r = guest_passwd_find(p, "u", 0, &u);
        if (r >= 0)
                r = guest_group_add_memberships(g, &u);
        *ret_us = now_usec() - t0;
        *ret_n = u.n_groups;
        return r;
}

static int bench_resource(const char *path, size_t *ret_n, uint64_t *ret_us) {
        _cleanup_free_ char *text = NULL;
        _cleanup_free_ PciResource *res = NULL;
        uint64_t t0;
        int r;

        r = read_text(path, &text);
        if (r < 0)
                return r;
        t0 = now_usec();
        r = pci_resource_parse(text, &res, ret_n);
        *ret_us = now_usec() - t0;
        return r;
}

static int bench_rename(const char *path, size_t *ret_n, uint64_t *ret_us) {
        _cleanup_(interfaces_freep) InterfacesFile *f = NULL;
        _cleanup_(name_map_done) NameMap m = {};
        _cleanup_free_ char *text = NULL, *out = NULL;
        uint64_t t0;
        int r;

        r = read_text(path, &text);
        if (r < 0)
                return r;
        r = interfaces_parse(text, &f);
        if (r < 0)
                return r;
        t0 = now_usec();
        FOREACH_ARRAY(s, f->stanzas, f->n_stanzas) {
                _cleanup_free_ char *new_name = NULL;

                if (asprintf(&new_name, "nic%zu", (size_t) (s - f->stanzas)) < 0)
                        return -ENOMEM;
                r = name_map_add(&m, s->name, new_name);
                if (r < 0)
                        return r;
        }
        r = interfaces_rename(f, &m, &out);
        *ret_us = now_usec() - t0;
        *ret_n = m.n;
        return r;
}

/* N NICs named after their PCI path: "enp0s0f0"... (moved false), or each in its own PCI domain,
 * "enP0p1s0"..., so that each stale name of root-moved ("enP0p2s0") is one NIC's. */
static int bench_nic_pin(const char *count, const char *root, bool moved, size_t *ret_n, uint64_t *ret_us) {
        _cleanup_(nic_list_done) NicList l = {};
        _cleanup_(nic_pin_plan_done) NicPinPlan p = {};
        uint32_t n;
        uint64_t t0;
        int r;

        r = safe_atou32(count, 10, &n);
        if (r < 0)
                return r;
        l.nics = calloc(n, sizeof(Nic));
        l.all_names = calloc((size_t) n + 1, sizeof(char *));
        if (!l.nics || !l.all_names)
                return -ENOMEM;
        for (uint32_t i = 0; i < n; i++, l.n++) {
                Nic *x = &l.nics[i];

                r = moved ? asprintf(&x->name, "enP%up1s0", i)
                          : asprintf(&x->name, "enp%us%uf%u", i / 256 % 256, i / 8 % 32, i % 8);
                if (r < 0 ||
                    asprintf(&x->mac, "02:00:00:%02x:%02x:%02x", i >> 16 & 0xff, i >> 8 & 0xff, i & 0xff) <
                            0 ||
                    !(x->path_name = strdup(x->name)) || !(x->bdf = strdup("0000:01:00.0")) ||
                    !(l.all_names[i] = strdup(x->name)))
                        return -ENOMEM;
        }
        r = nic_list_index(&l);
        if (r < 0)
                return r;
        t0 = now_usec();
        r = nic_pin_plan(&l, root, &p);
        *ret_us = now_usec() - t0;
        *ret_n = p.map.n;
        return r;
}

static int bench_modprobe(const char *root, size_t *ret_n, uint64_t *ret_us) {
        _cleanup_(modprobe_config_done) ModprobeConfig c = {};
        uint64_t t0;
        int r;

        t0 = now_usec();
        r = modprobe_config_load(&c, root);
        *ret_us = now_usec() - t0;
        *ret_n = c.n_entries;
        if (r >= 0)
                printf("modprobe: %u invalid, first at %s\n", c.n_invalid, strna(c.first_invalid));
        return r;
}

int main(int argc, char *argv[]) {
        uint64_t us = 0;
        size_t n = 0;
        int r;

        if (argc == 3 && streq(argv[1], "doctor"))
                r = bench_doctor(argv[2], &n, &us);
        else if (argc == 3 && streq(argv[1], "unit"))
                r = bench_unit(argv[2], &n, &us);
        else if (argc == 3 && streq(argv[1], "service"))
                r = bench_service(argv[2], &n, &us);
        else if (argc == 4 && streq(argv[1], "groups"))
                r = bench_groups(argv[2], argv[3], &n, &us);
        else if (argc == 3 && streq(argv[1], "resource"))
                r = bench_resource(argv[2], &n, &us);
        else if (argc == 3 && streq(argv[1], "rename"))
                r = bench_rename(argv[2], &n, &us);
        else if (argc == 4 && streq(argv[1], "nic-pin"))
                r = bench_nic_pin(argv[2], argv[3], false, &n, &us);
        else if (argc == 4 && streq(argv[1], "nic-pin-moved"))
                r = bench_nic_pin(argv[2], argv[3], true, &n, &us);
        else if (argc == 3 && streq(argv[1], "modprobe"))
                r = bench_modprobe(argv[2], &n, &us);
        else {
                fprintf(stderr,
                        "usage: %s doctor ROOT | unit FILE | service ROOT | groups PASSWD GROUP | resource "
                        "FILE | "
                        "rename FILE | nic-pin N ROOT | nic-pin-moved N ROOT | modprobe ROOT\n",
                        argv[0]);
                return 2;
        }
        if (r < 0) {
                fprintf(stderr, "%s failed: %s\n", argv[1], strerror(-r));
                return 1;
        }
        printf("%s: %zu elements in %" PRIu64 " us\n", argv[1], n, us);
        return 0;
}
