/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <ctype.h>
#include <inttypes.h>
#include <strings.h>

#include "check.h"
#include "doctor-files.h"
#include "proxmox.h"
#include "util.h"

#define FOREACH_LINE(line, lines) for (char **line = (lines); *line; line++)
/* The 1-based number of the line that the FOREACH_LINE() iterator points to. */
#define LINE_NUMBER(line, lines) ((unsigned) ((line) - (lines)) + 1)

static char *skip_space(const char *s) {
        while (*s == ' ' || *s == '\t')
                s++;
        return (char *) s;
}

int pcie_speed_parse(const char *s, unsigned *ret) {
        unsigned whole = 0, frac = 0, frac_digits = 0;
        const char *p = s;

        if (!s || !isdigit((unsigned char) *p))
                return -EINVAL;
        for (; isdigit((unsigned char) *p); p++) {
                whole = whole * 10 + (unsigned) (*p - '0');
                if (whole > 1000)
                        return -ERANGE;
        }
        if (*p == '.') {
                for (p++; isdigit((unsigned char) *p); p++)
                        if (frac_digits < 3) {
                                frac = frac * 10 + (unsigned) (*p - '0');
                                frac_digits++;
                        }
        }
        while (frac_digits < 3) {
                frac *= 10;
                frac_digits++;
        }
        p = skip_space(p);
        if (!strneq(p, "GT/s", 4))
                return -EINVAL;
        *ret = whole * 1000 + frac;
        return 0;
}

int efivar_bool_parse(const void *data, size_t size) {
        const uint8_t *b = data;

        if (!data || size != 5)
                return -EINVAL;
        return b[4] != 0;
}

/* ---- /etc/network/interfaces ---- */

void net_config_done(NetConfig *c) {
        for (size_t i = 0; i < c->n_refs; i++) {
                free(c->refs[i].name);
                free(c->refs[i].file);
        }
        free(c->refs);
        strv_free(c->virtual_names);
        strv_free(c->sources);
        strv_free(c->source_dirs);
        *c = (NetConfig){};
}

static int add_ref(NetConfig *c, const char *name, const char *file, unsigned line, const char *how) {
        char *n, *f;

        n = strdup(name);
        f = strdup(file);
        if (!n || !f || ARRAY_RESERVE(c->refs, c->n_refs_allocated, c->n_refs + 1) < 0) {
                free(n);
                free(f);
                return -ENOMEM;
        }
        c->refs[c->n_refs++] = (IfaceRef){ .name = n, .file = f, .line = line, .how = how };
        return 0;
}

/* Options of an iface stanza that list other interfaces (ifupdown, ifupdown2, bridge-utils, ifenslave,
 * vlan), and whether they make the stanza's interface virtual. */
static const struct {
        const char *option;
        const char *how;
} member_options[] = {
        { "bridge-ports", "bridge-ports" },
        { "bridge_ports", "bridge-ports" },
        { "bond-slaves", "bond-slaves" },
        { "bond_slaves", "bond-slaves" },
        { "slaves", "bond-slaves" },
        { "vlan-raw-device", "vlan-raw-device" },
        { "vlan_raw_device", "vlan-raw-device" },
        { "ovs_bridge", NULL },
        { "ovs_type", NULL },
        { "ovs_ports", NULL },
        { "bond-primary", "bond-primary" },
        { "bond_primary", "bond-primary" },
};

/* Adds the references of one iface stanza: its name, and the members its options list. */
static int add_stanza_refs(NetConfig *c, const char *file, const IfaceStanza *s) {
        size_t n_virtual = c->n_virtual_names;
        int r;

        r = add_ref(c, s->name, file, (unsigned) s->first_line + 1, "iface");
        if (r < 0)
                return r;
        FOREACH_ARRAY(opt, s->options, s->n_options)
                FOREACH_ARRAY(o, member_options, ELEMENTSOF(member_options)) {
                        _cleanup_strv_free_ char **w = NULL;

                        if (!streq(opt->key, o->option))
                                continue;
                        if (c->n_virtual_names == n_virtual) {
                                r = strv_push(
                                        &c->virtual_names,
                                        &c->n_virtual_names,
                                        &c->n_virtual_names_allocated,
                                        strdup(s->name));
                                if (r < 0)
                                        return r;
                        }
                        if (!o->how)
                                break;
                        r = strv_split(opt->value, " \t\r\v\f", &w);
                        if (r < 0)
                                return r;
                        STRV_FOREACH(m, w) {
                                if (streq(*m, "none"))
                                        continue;
                                r = add_ref(c, *m, file, (unsigned) opt->line + 1, o->how);
                                if (r < 0)
                                        return r;
                        }
                        break;
                }
        return 0;
}

/* Adds the names of auto and allow-* lines from *next on that stand before line before. */
static int add_auto_refs(
        NetConfig *c,
        const char *file,
        const InterfacesFile *f,
        size_t *next,
        size_t before) {
        for (; *next < f->n_autos && f->autos[*next].line < before; (*next)++) {
                const IfaceAuto *a = &f->autos[*next];
                int r =
                        add_ref(c,
                                a->name,
                                file,
                                (unsigned) a->line + 1,
                                a->allow ? "allow-hotplug" : "auto");

                if (r < 0)
                        return r;
        }
        return 0;
}

static int cmp_str(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

/* Appends the strings of *from to *to, taking them over. */
static int strv_append_take(char ***to, char ***from) {
        size_t n = strv_length(*to), k = strv_length(*from);
        char **t;

        if (k == 0)
                return 0;
        t = reallocarray(*to, n + k + 1, sizeof(char *));
        if (!t)
                return -ENOMEM;
        memcpy(t + n, *from, (k + 1) * sizeof(char *));
        *to = t;
        *from = mfree(*from);
        return 0;
}

/* A view of interfaces_parse()'s result (src/system/netif.c): the names the file refers to, in the order
 * of its lines, and the interfaces it makes itself. */
int net_config_parse(NetConfig *c, const char *file, const char *text) {
        _cleanup_(interfaces_freep) InterfacesFile *f = NULL;
        size_t a = 0;
        int r;

        r = interfaces_parse(text, &f);
        if (r < 0)
                return r;
        FOREACH_ARRAY(s, f->stanzas, f->n_stanzas) {
                /* The auto lines before this stanza, so that the references stay in line order. */
                r = add_auto_refs(c, file, f, &a, s->first_line);
                if (r < 0)
                        return r;
                if (!*s->name)
                        continue; /* "iface" alone: nothing to refer to */
                r = add_stanza_refs(c, file, s);
                if (r < 0)
                        return r;
        }
        r = add_auto_refs(c, file, f, &a, SIZE_MAX);
        if (r < 0)
                return r;

        /* Sorted and once each, for net_config_name_is_virtual(). */
        if (c->n_virtual_names > 0) {
                qsort(c->virtual_names, c->n_virtual_names, sizeof(char *), cmp_str);
                r = strv_uniq(c->virtual_names, c->n_virtual_names);
                if (r < 0)
                        return r;
                c->n_virtual_names = (size_t) r;
        }
        r = strv_append_take(&c->sources, &f->sources);
        if (r < 0)
                return r;
        return strv_append_take(&c->source_dirs, &f->source_dirs);
}

bool net_config_name_is_virtual(const NetConfig *c, const char *name) {
        static const char *const prefixes[] = { "vmbr", "bond", "br",   "virbr", "docker", "veth", "tap",
                                                "fwbr", "fwpr", "fwln", "vxlan", "wg",     "tun",  "ovs" };

        if (streq(name, "lo") ||
            (c->n_virtual_names > 0 &&
             bsearch(&name, c->virtual_names, c->n_virtual_names, sizeof(char *), cmp_str)))
                return true;
        FOREACH_ARRAY(p, prefixes, ELEMENTSOF(prefixes))
                if (strneq(name, *p, strlen(*p)))
                        return true;
        /* A VLAN "eth0.10" is made by the kernel but needs its parent: the caller checks that one. */
        return false;
}

/* ---- Proxmox VM configuration ---- */

void pve_vm_done(PveVm *vm) {
        free(vm->name);
        free(vm->machine);
        for (size_t i = 0; i < vm->n_hostpci; i++) {
                strv_free(vm->hostpci[i].hosts);
                free(vm->hostpci[i].mapping);
                free(vm->hostpci[i].romfile);
                free(vm->hostpci[i].raw);
        }
        free(vm->hostpci);
        *vm = (PveVm){};
}

/* Appends the addresses of a host= or path= value ("0000:30:00.0;30:00.1") to *l, the domain added;
 * malformed ones are left out. */
static int push_addresses(char ***l, size_t *n, size_t *allocated, const char *value) {
        _cleanup_strv_free_ char **hosts = NULL;
        int r;

        r = strv_split(value, ";", &hosts);
        if (r < 0)
                return r;
        STRV_FOREACH(h, hosts) {
                char *a;

                r = pci_address_normalize(*h, &a);
                if (r == -EINVAL)
                        continue;
                if (r < 0)
                        return r;
                r = strv_push(l, n, allocated, a);
                if (r < 0)
                        return r;
        }
        return 0;
}

static bool option_true(const char *v) {
        return streq(v, "1") || streq(v, "on") || streq(v, "yes") || streq(v, "true");
}

/* A hostpciN value, through the property string tokenizer of proxmox.c. More lenient than
 * prop_string_parse(): every element without a key is a host, and the last of a key written twice wins. */
static int parse_hostpci(PveHostpci *hp, const char *value) {
        size_t n_hosts = 0, allocated = 1; /* kept here, so that a long host list stays linear */
        const char *p = value;
        int r;

        hp->pcie = hp->rombar = -1;
        hp->hosts = calloc(allocated, sizeof(char *));
        hp->raw = strdup(value);
        if (!hp->hosts || !hp->raw)
                return -ENOMEM;
        for (;;) {
                _cleanup_free_ char *k = NULL, *v = NULL;

                r = prop_string_next(&p, &k, &v);
                if (r <= 0)
                        return r;
                if (!k || streq(k, "host")) {
                        r = push_addresses(&hp->hosts, &n_hosts, &allocated, v);
                        if (r < 0)
                                return r;
                } else if (streq(k, "mapping")) {
                        free(hp->mapping);
                        hp->mapping = TAKE_PTR(v);
                } else if (streq(k, "pcie"))
                        hp->pcie = option_true(v);
                else if (streq(k, "rombar"))
                        hp->rombar = option_true(v);
                else if (streq(k, "romfile")) {
                        free(hp->romfile);
                        hp->romfile = TAKE_PTR(v);
                }
        }
}

int pve_vm_parse(PveVm *vm, const char *text) {
        _cleanup_(vm_config_done) VmConfig c = {};
        size_t n = 0;
        int r;

        /* The one VM config parser (proxmox.c); here only what doctor asks of the entries. */
        r = vm_config_parse(text, &c);
        if (r < 0)
                return r;
        for (size_t i = 0; i < c.n; i++)
                if (strneq(c.keys[i], "hostpci", 7))
                        n++;
        if (n > 0) {
                PveHostpci *t = reallocarray(vm->hostpci, vm->n_hostpci + n, sizeof(PveHostpci));

                if (!t)
                        return -ENOMEM;
                vm->hostpci = t;
        }
        for (size_t i = 0; i < c.n; i++) {
                const char *key = c.keys[i], *value = c.values[i];

                if (streq(key, "name")) {
                        free(vm->name);
                        vm->name = strdup(value);
                        if (!vm->name)
                                return -ENOMEM;
                } else if (streq(key, "machine")) {
                        /* "machine: type=q35,viommu=..." is the newer form. */
                        const char *type = strneq(value, "type=", 5) ? value + 5 : value;

                        free(vm->machine);
                        vm->machine = strndup(type, strcspn(type, ","));
                        if (!vm->machine)
                                return -ENOMEM;
                } else if (strneq(key, "hostpci", 7)) {
                        uint32_t idx;

                        if (safe_atou32(key + 7, 10, &idx) < 0 || key[7] == 0)
                                continue;
                        vm->hostpci[vm->n_hostpci] = (PveHostpci){ .index = idx, .line = c.lines[i] };
                        vm->n_hostpci++;
                        r = parse_hostpci(&vm->hostpci[vm->n_hostpci - 1], value);
                        if (r < 0)
                                return r;
                }
        }
        return 0;
}

bool pve_machine_is_q35(const char *machine) {
        return machine && (streq(machine, "q35") || strneq(machine, "pc-q35-", 7));
}

bool pve_host_matches(const char *host, const char *bdf) {
        size_t l = strlen(host);

        if (strchr(host, '.'))
                return streq(host, bdf);
        return strneq(host, bdf, l) && bdf[l] == '.';
}

static int compare_entries(const void *a, const void *b) {
        char *const *x = *(char *const *const *) a, *const *y = *(char *const *const *) b;
        int c = strcmp(*x, *y);

        /* Equal strings in the order they stand in the list. */
        return c != 0 ? c : x < y ? -1 : x > y;
}

/* Drops the later copies of a string that stands more than once in l (n strings), keeping the order of the
 * rest: n log n, where a strv_contains() before each append is quadratic. */
static int strv_uniq_in_order(char **l, size_t n) {
        _cleanup_free_ char ***sorted = NULL;
        size_t k = 0;

        if (n < 2)
                return 0;
        sorted = reallocarray(NULL, n, sizeof(char **));
        if (!sorted)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++)
                sorted[i] = &l[i];
        qsort(sorted, n, sizeof(char **), compare_entries);
        for (size_t i = 1, first = 0; i < n; i++)
                if (streq(*sorted[i], *sorted[first]))
                        *sorted[i] = mfree(*sorted[i]);
                else
                        first = i;
        for (size_t i = 0; i < n; i++)
                if (l[i])
                        l[k++] = l[i];
        l[k] = NULL;
        return 0;
}

int pve_mapping_paths(const char *text, const char *name, const char *node, char ***ret) {
        _cleanup_(pci_mapping_done) PciMapping m = {};
        _cleanup_strv_free_ char **paths = NULL;
        size_t n = 0, allocated = 1;
        int r;

        /* The one pci.cfg parser (proxmox.c), which keeps the map entries Proxmox accepts, then each
         * entry's path= (pci_map_entry_parse(), which each kept entry passed). */
        r = pci_mapping_from_cfg(text, name, &m);
        if (r < 0)
                return r;
        if (r == 0)
                return -ENOENT;
        paths = calloc(allocated, sizeof(char *));
        if (!paths)
                return -ENOMEM;
        STRV_FOREACH(e, m.map) {
                _cleanup_(pci_map_entry_done) PciMapEntry entry = { .iommugroup = -1 };

                r = pci_map_entry_parse(*e, &entry);
                if (r < 0)
                        return r;
                if (node && !streq_ptr(entry.node, node))
                        continue;
                r = push_addresses(&paths, &n, &allocated, entry.path);
                if (r < 0)
                        return r;
        }
        r = strv_uniq_in_order(paths, n);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(paths);
        return 0;
}
