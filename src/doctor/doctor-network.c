/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The check of the network: names that /etc/network/interfaces uses exist, NICs named after a PCI bus
 * number are pinned by MAC. Its fix is the plan of egpuctl nic pin (src/system/netif.c). */
#include <glob.h>

#include "doctor-files.h"
#include "doctor-internal.h"
#include "util.h"

/* Loads /etc/network/interfaces under root and the files it sources. Returns 0 when it is missing. */
static int load_net_config(const Doctor *d, NetConfig *nc, bool *ret_found) {
        _cleanup_free_ char *text = NULL;
        size_t done_sources = 0, done_dirs = 0;
        int r;

        *ret_found = false;
        r = doctor_read_root_file(d, "/etc/network/interfaces", &text);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return 0;
        *ret_found = true;
        /* A file that interfaces_parse() refuses (-EFBIG: a line over 64 KiB) is passed over, as one that
         * cannot be read. */
        r = net_config_parse(nc, "/etc/network/interfaces", text);
        if (r < 0 && r != -EFBIG)
                return r;

        /* Sourced files may source more; bounded against loops. */
        for (unsigned round = 0; round < 8; round++) {
                size_t ns = strv_length(nc->sources), nd = strv_length(nc->source_dirs);

                if (done_sources == ns && done_dirs == nd)
                        break;
                for (; done_sources < ns; done_sources++) {
                        const char *src = nc->sources[done_sources];
                        _cleanup_free_ char *rel =
                                src[0] == '/' ? strdup(src) : path_join("/etc/network", src);
                        _cleanup_free_ char *pattern = NULL;
                        glob_t g = {};

                        if (!rel)
                                return -ENOMEM;
                        pattern = path_under_root(d->root, rel);
                        if (!pattern)
                                return -ENOMEM;
                        if (glob(pattern, 0, NULL, &g) != 0) {
                                globfree(&g);
                                continue;
                        }
                        for (size_t i = 0; i < g.gl_pathc; i++) {
                                _cleanup_free_ char *t = NULL;
                                const char *shown = g.gl_pathv[i] +
                                        (d->root && *d->root && !streq(d->root, "/") ? strlen(d->root) : 0);
                                if (read_full_file(g.gl_pathv[i], DOCTOR_CONFIG_FILE_MAX, &t, NULL) < 0)
                                        continue;
                                r = net_config_parse(nc, shown, t);
                                if (r < 0 && r != -EFBIG) {
                                        globfree(&g);
                                        return r;
                                }
                        }
                        globfree(&g);
                        ns = strv_length(nc->sources);
                }
                for (; done_dirs < nd; done_dirs++) {
                        const char *dir = nc->source_dirs[done_dirs];
                        _cleanup_free_ char *rel =
                                dir[0] == '/' ? strdup(dir) : path_join("/etc/network", dir);
                        _cleanup_strv_free_ char **files = NULL;

                        if (!rel)
                                return -ENOMEM;
                        /* run-parts names: letters, digits, '_' and '-'. */
                        r = doctor_list_dir(d, rel, "*", &files);
                        if (r < 0)
                                return r;
                        STRV_FOREACH(f, files) {
                                _cleanup_free_ char *t = NULL;
                                const char *name = path_basename(*f);

                                if (strspn(name,
                                           "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_"
                                           "-") != strlen(name))
                                        continue;
                                if (doctor_read_root_file(d, *f, &t) < 0)
                                        continue;
                                r = net_config_parse(nc, *f, t);
                                if (r < 0 && r != -EFBIG)
                                        return r;
                        }
                        nd = strv_length(nc->source_dirs);
                }
        }
        return 0;
}

/* Whether name will exist: a NIC has it now, a pin gives it to a NIC that is there, or the configuration
 * makes it (bridges, bonds, VLANs on something that exists). */
static bool net_name_resolves(
        const Doctor *d,
        const NetConfig *nc,
        const NicPins *pins,
        const char *name,
        unsigned depth) {
        const NicPin *pin;
        const char *dot;

        if (net_config_name_is_virtual(nc, name))
                return true;
        pin = nic_pins_find_name(pins, name);
        if (pin && nic_list_find_mac(&d->nics, pin->mac))
                return true;
        if (nic_list_has_name(&d->nics, name)) {
                /* A NIC pinned to another name will not keep this one. */
                const Nic *n = nic_list_find(&d->nics, name);
                const NicPin *p = n ? nic_pins_find_mac(pins, n->mac) : NULL;
                return !p || streq(p->name, name);
        }
        dot = strrchr(name, '.');
        if (dot && depth < 4 && dot[1] && strspn(dot + 1, "0123456789") == strlen(dot + 1)) {
                _cleanup_free_ char *parent = strndup(name, (size_t) (dot - name));
                return parent && net_name_resolves(d, nc, pins, parent, depth + 1);
        }
        return false;
}

/* The configuration's references sorted by name, then by position: the first of each name first. */
typedef struct RefIndex {
        const IfaceRef *refs;
        size_t *idx;
        size_t n;
} RefIndex;

static int cmp_ref(const void *a, const void *b, void *refs) {
        const IfaceRef *r = refs;
        size_t x = *(const size_t *) a, y = *(const size_t *) b;
        int c = strcmp(r[x].name, r[y].name);

        return c != 0 ? c : x < y ? -1 : x > y;
}

static int ref_index_make(const NetConfig *nc, RefIndex *ret) {
        size_t *idx = reallocarray(NULL, MAX(nc->n_refs, (size_t) 1), sizeof(size_t));

        if (!idx)
                return -ENOMEM;
        for (size_t i = 0; i < nc->n_refs; i++)
                idx[i] = i;
        qsort_r(idx, nc->n_refs, sizeof(size_t), cmp_ref, nc->refs);
        *ret = (RefIndex){ nc->refs, idx, nc->n_refs };
        return 0;
}

static void ref_index_done(RefIndex *x) {
        free(x->idx);
        *x = (RefIndex){};
}

/* The position in x->idx of the first reference to name, or x->n when none. */
static size_t ref_index_find(const RefIndex *x, const char *name) {
        size_t lo = 0, hi = x->n;

        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;

                if (strcmp(x->refs[x->idx[mid]].name, name) < 0)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return lo < x->n && streq(x->refs[x->idx[lo]].name, name) ? lo : x->n;
}

static bool referenced(const RefIndex *x, const char *name) {
        return ref_index_find(x, name) < x->n;
}

/* Whether reference i is the first to its name (a later one is reported with it, or resolves as it does). */
static bool ref_is_first(const RefIndex *x, size_t i) {
        size_t k = ref_index_find(x, x->refs[i].name);
        return k < x->n && x->idx[k] == i;
}

/* The physical NICs' names, ", " between them, NULL when there is none: once, for every name that does not
 * exist (a stream: linear however many there are). */
static int physical_nic_names(const Doctor *d, char **ret) {
        _cleanup_free_ char *s = NULL;
        size_t size = 0;
        FILE *f;

        f = open_memstream(&s, &size);
        if (!f)
                return -ENOMEM;
        FOREACH_ARRAY(n, d->nics.nics, d->nics.n)
                fprintf(f, "%s%s", n == d->nics.nics ? "" : ", ", n->name);
        if (fclose(f) != 0)
                return -ENOMEM;
        *ret = d->nics.n > 0 ? TAKE_PTR(s) : NULL;
        return 0;
}

/* The fix: what egpuctl nic pin does (its plan, src/system/netif.c), and the same by hand. */
static int fix_from_plan(Check *c, const NicPinPlan *plan) {
        int r;

        r = check_fix(
                c,
                "# egpuctl nic pin does the following (egpuctl nic pin --dry-run shows it):\negpuctl nic "
                "pin");
        STRV_FOREACH(p, plan->problems)
                if (r >= 0)
                        r = check_fix(c, "# It refuses while %s: mend that first.", *p);
        if (r >= 0 && (plan->n_links > 0 || plan->interfaces_renames.n > 0))
                r = check_fix(c, "# or by hand, the same:");
        FOREACH_ARRAY(l, plan->links, plan->n_links)
                if (r >= 0)
                        r = check_fix(c, "cat > %s <<'EOF'\n%sEOF", l->path, l->text);
        if (r >= 0 && plan->interfaces_renames.n > 0) {
                _cleanup_free_ char *sed = NULL;

                for (size_t i = 0; i < plan->interfaces_renames.n && r >= 0; i++)
                        r = strextendf(
                                &sed,
                                " -e 's/\\b%s\\b/%s/g'",
                                plan->interfaces_renames.old_names[i],
                                plan->interfaces_renames.new_names[i]);
                if (r >= 0)
                        r = check_fix(
                                c,
                                "cp %s %s\nsed -i%s %s",
                                INTERFACES_PATH,
                                INTERFACES_BACKUP_PATH,
                                sed,
                                INTERFACES_PATH);
        }
        /* The .link files take effect from the initramfs at the next boot; a renamed interfaces file now. */
        if (r >= 0 && plan->n_links > 0)
                r = check_fix(c, "update-initramfs -u -k all\nreboot");
        else if (r >= 0 && plan->interfaces_renames.n > 0)
                r = check_fix(c, "ifreload -a");
        return r;
}

static int check_nic_names(Doctor *d, Check *c) {
        const Host *h = d->host;
        _cleanup_(net_config_done) NetConfig nc = {};
        _cleanup_(nic_pins_done) NicPins pins = {};
        _cleanup_(nic_pin_plan_done) NicPinPlan plan = {};
        _cleanup_(ref_index_done) RefIndex refs = {};
        _cleanup_free_ char *ok = NULL, *physical = NULL;
        _cleanup_free_ bool *moved_here = NULL; /* per NIC: a stale name of it is in the configuration */
        bool found, shift_possible = h->n_domains > 0, physical_listed = false, plan_fix = false;
        int r;

        r = load_net_config(d, &nc, &found);
        if (r < 0)
                return r;
        if (!found && d->nics.n == 0)
                return check_finish(
                        c,
                        CHECK_SKIP,
                        "no /etc/network/interfaces and no physical network interface");
        /* The pins and the plan of egpuctl nic pin, read from the same folders with the same NICs. */
        r = nic_pins_load(d->root, &pins);
        if (r >= 0)
                r = nic_pin_plan(&d->nics, d->root, &plan);
        if (r >= 0)
                r = ref_index_make(&nc, &refs);
        if (r < 0)
                return r;
        moved_here = calloc(d->nics.n + 1, sizeof(bool));
        if (!moved_here)
                return -ENOMEM;

        /* 1. Names in the configuration that will not exist, each once: at its first reference. */
        FOREACH_ARRAY(ref, nc.refs, nc.n_refs) {
                const Nic *moved = NULL;

                if (!ref_is_first(&refs, (size_t) (ref - nc.refs)) ||
                    net_name_resolves(d, &nc, &pins, ref->name, 0))
                        continue;
                r = nic_list_find_moved(&d->nics, ref->name, &moved);
                if (r == -ENOMEM)
                        return r;
                if (r > 0) {
                        _cleanup_free_ char *old_key = NULL, *new_key = NULL;
                        unsigned old_bus = 0, new_bus = 0;
                        const char *new_name = name_map_lookup(&plan.map, moved->name);

                        (void) netif_path_name_key(ref->name, &old_key, &old_bus);
                        (void) netif_path_name_key(moved->path_name, &new_key, &new_bus);
                        moved_here[moved - d->nics.nics] = true;
                        r = check_problem(
                                c,
                                CHECK_FAIL,
                                "%s:%u uses %s (%s), which does not exist: the NIC %s (%s) is on PCI bus %u "
                                "now, no longer %u, since the eGPU's bridges shifted the bus numbers, so "
                                "the host is off the network after a reboot",
                                ref->file,
                                ref->line,
                                ref->name,
                                ref->how,
                                moved->name,
                                moved->mac,
                                new_bus,
                                old_bus);
                        if (r < 0)
                                return r;
                        /* /etc/network/interfaces is mended by the plan; a file it sources, here. */
                        if (streq(ref->file, INTERFACES_PATH) &&
                            name_map_lookup(&plan.interfaces_renames, ref->name))
                                plan_fix = true;
                        else
                                r = check_fix(
                                        c,
                                        "sed -i 's/\\b%s\\b/%s/g' %s\nifreload -a",
                                        ref->name,
                                        new_name ?: moved->name,
                                        ref->file);
                } else {
                        if (!physical_listed) {
                                r = physical_nic_names(d, &physical);
                                if (r < 0)
                                        return r;
                                physical_listed = true;
                        }
                        r = check_problem(
                                c,
                                CHECK_FAIL,
                                "%s:%u uses %s (%s), which does not exist (NICs: %s)",
                                ref->file,
                                ref->line,
                                ref->name,
                                ref->how,
                                strna(physical));
                        if (r >= 0)
                                r = check_fix(
                                        c,
                                        "# Edit %s:%u to name an existing interface (ip -br link).",
                                        ref->file,
                                        ref->line);
                }
                if (r < 0)
                        return r;
        }

        /* 2. NICs named after a PCI bus number that the eGPU can shift, and not pinned by MAC: those the
         * plan pins. */
        FOREACH_ARRAY(n, d->nics.nics, d->nics.n) {
                const PciFunction *f = host_find_pci(h, n->bdf);
                const NicPin *pin = nic_pins_find_mac(&pins, n->mac);
                bool used = moved_here[n - d->nics.nics] || referenced(&refs, n->name);

                if (f && pci_function_is_removable(f))
                        continue; /* it goes with the eGPU's enclosure or dock, not shifted by it */
                if (pin) {
                        r = strextendf_with_separator(
                                &ok,
                                "; ",
                                "%s pinned to %s by %s",
                                n->mac,
                                pin->name,
                                pin->file);
                        if (r < 0)
                                return r;
                        continue;
                }
                if (!nic_pin_plan_find_link(&plan, n->name))
                        continue; /* not named after its PCI path */
                if (!shift_possible && !moved_here[n - d->nics.nics])
                        continue;
                r = check_problem(
                        c,
                        used ? CHECK_FAIL : CHECK_WARN,
                        "%s (%s) is named after its PCI bus number, which the eGPU's bridges shift when "
                        "it is connected at boot, and no .link file or udev rule pins it by MAC%s",
                        n->name,
                        n->mac,
                        used ? "" : " (not used by /etc/network/interfaces)");
                if (r < 0)
                        return r;
                plan_fix = true;
        }
        if (plan_fix) {
                r = fix_from_plan(c, &plan);
                if (r < 0)
                        return r;
        }

        if (check_has_problem(c))
                return 0;
        if (!found)
                return check_finish(
                        c,
                        CHECK_OK,
                        "no /etc/network/interfaces; %s",
                        ok ?: "no NIC is named after a PCI bus the eGPU can shift");
        return check_finish(
                c,
                CHECK_OK,
                "every interface in /etc/network/interfaces exists%s%s",
                ok ? "; " : "",
                strempty(ok));
}

const DoctorCheck doctor_checks_network[] = {
        { "nic-names",
          "the network configuration survives the eGPU shifting PCI bus numbers",
          check_nic_names },
        {},
};
