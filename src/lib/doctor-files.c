/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <ctype.h>
#include <inttypes.h>
#include <strings.h>

#include "check.h"
#include "doctor-files.h"
#include "proxmox.h"
#include "util.h"

/* Splits text into its lines, empty ones kept, so that index + 1 is the line number. */
static int split_lines(const char *text, char ***ret) {
        _cleanup_strv_free_ char **l = NULL;
        size_t n = 0, allocated = 1;
        const char *p = text;

        l = calloc(allocated, sizeof(char *));
        if (!l)
                return -ENOMEM;
        while (*p) {
                size_t len = strcspn(p, "\n");
                int r = strv_push(&l, &n, &allocated, strndup(p, len));

                if (r < 0)
                        return r;
                p += len;
                if (*p)
                        p++;
        }
        *ret = TAKE_PTR(l);
        return 0;
}

#define FOREACH_LINE(line, lines) for (char **line = (lines); *line; line++)
/* The 1-based number of the line that the FOREACH_LINE() iterator points to. */
#define LINE_NUMBER(line, lines) ((unsigned) ((line) - (lines)) + 1)

static char *skip_space(const char *s) {
        while (*s == ' ' || *s == '\t')
                s++;
        return (char *) s;
}

int pci_resource_parse(const char *text, PciResource **ret, size_t *ret_n) {
        _cleanup_free_ PciResource *res = NULL;
        _cleanup_strv_free_ char **lines = NULL;
        size_t n = 0;
        int r;

        r = split_lines(text, &lines);
        if (r < 0)
                return r;
        FOREACH_LINE(line, lines) {
                unsigned long long s, e, f;
                int consumed = 0;
                PciResource *t;

                if (sscanf(*line, "%llx %llx %llx%n", &s, &e, &f, &consumed) != 3 || consumed <= 0)
                        break;
                t = realloc(res, sizeof(PciResource) * (n + 1));
                if (!t)
                        return -ENOMEM;
                res = t;
                res[n++] = (PciResource){ .start = s, .end = e, .flags = f };
        }
        *ret = TAKE_PTR(res);
        *ret_n = n;
        return 0;
}

char *format_bytes(uint64_t n) {
        static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
        size_t u = 0;
        char *s;

        while (u + 1 < ELEMENTSOF(units) && n >= 1024 && n % 1024 == 0) {
                n /= 1024;
                u++;
        }
        if (asprintf(&s, "%" PRIu64 " %s", n, units[u]) < 0)
                return NULL;
        return s;
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
        IfaceRef *t;
        char *n, *f;

        n = strdup(name);
        f = strdup(file);
        t = realloc(c->refs, sizeof(IfaceRef) * (c->n_refs + 1));
        if (!n || !f || !t) {
                free(n);
                free(f);
                if (t)
                        c->refs = t;
                return -ENOMEM;
        }
        c->refs = t;
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

int net_config_parse(NetConfig *c, const char *file, const char *text) {
        _cleanup_free_ char *stanza = NULL; /* the interface of the current iface stanza */
        _cleanup_strv_free_ char **lines = NULL;
        int r;

        r = split_lines(text, &lines);
        if (r < 0)
                return r;
        FOREACH_LINE(line, lines) {
                _cleanup_strv_free_ char **w = NULL;
                size_t n;

                r = strv_split(*line, " \t\r", &w);
                if (r < 0)
                        return r;
                n = strv_length(w);
                if (n == 0 || w[0][0] == '#')
                        continue;

                if (streq(w[0], "iface") || streq(w[0], "mapping")) {
                        free(stanza);
                        stanza = n >= 2 ? strdup(w[1]) : NULL;
                        if (n >= 2 && !stanza)
                                return -ENOMEM;
                        if (n >= 2 && streq(w[0], "iface")) {
                                r = add_ref(c, w[1], file, LINE_NUMBER(line, lines), "iface");
                                if (r < 0)
                                        return r;
                        }
                        continue;
                }
                if (streq(w[0], "auto") || strneq(w[0], "allow-", 6)) {
                        stanza = mfree(stanza);
                        for (size_t i = 1; i < n; i++) {
                                r =
                                        add_ref(c,
                                                w[i],
                                                file,
                                                LINE_NUMBER(line, lines),
                                                streq(w[0], "auto") ? "auto" : "allow-hotplug");
                                if (r < 0)
                                        return r;
                        }
                        continue;
                }
                if (streq(w[0], "source") || streq(w[0], "source-directory")) {
                        stanza = mfree(stanza);
                        for (size_t i = 1; i < n; i++) {
                                r = strv_extend(streq(w[0], "source") ? &c->sources : &c->source_dirs, w[i]);
                                if (r < 0)
                                        return r;
                        }
                        continue;
                }
                if (!stanza)
                        continue;
                FOREACH_ARRAY(o, member_options, ELEMENTSOF(member_options)) {
                        if (!streq(w[0], o->option))
                                continue;
                        if (!net_config_name_is_virtual(c, stanza)) {
                                r = strv_extend(&c->virtual_names, stanza);
                                if (r < 0)
                                        return r;
                        }
                        if (!o->how)
                                break;
                        for (size_t i = 1; i < n; i++) {
                                if (streq(w[i], "none"))
                                        continue;
                                r = add_ref(c, w[i], file, LINE_NUMBER(line, lines), o->how);
                                if (r < 0)
                                        return r;
                        }
                        break;
                }
        }
        return 0;
}

bool net_config_name_is_virtual(const NetConfig *c, const char *name) {
        static const char *const prefixes[] = { "vmbr", "bond", "br",   "virbr", "docker", "veth", "tap",
                                                "fwbr", "fwpr", "fwln", "vxlan", "wg",     "tun",  "ovs" };

        if (streq(name, "lo") || strv_contains(c->virtual_names, name))
                return true;
        FOREACH_ARRAY(p, prefixes, ELEMENTSOF(prefixes))
                if (strneq(name, *p, strlen(*p)))
                        return true;
        /* A VLAN "eth0.10" is made by the kernel but needs its parent: the caller checks that one. */
        return false;
}

/* ---- NIC name pinning ---- */

void nic_pins_done(NicPins *p) {
        for (size_t i = 0; i < p->n_pins; i++) {
                free(p->pins[i].mac);
                free(p->pins[i].name);
                free(p->pins[i].file);
        }
        free(p->pins);
        *p = (NicPins){};
}

static bool mac_is_valid(const char *s) {
        if (strlen(s) != 17)
                return false;
        for (size_t i = 0; i < 17; i++)
                if (i % 3 == 2 ? s[i] != ':' && s[i] != '-' : !isxdigit((unsigned char) s[i]))
                        return false;
        return true;
}

static int add_pin(NicPins *p, const char *mac, const char *name, const char *file) {
        NicPin *t;
        char *m, *n, *f;

        if (!mac_is_valid(mac) || !*name)
                return 0;
        m = strdup(mac);
        n = strdup(name);
        f = strdup(file);
        t = realloc(p->pins, sizeof(NicPin) * (p->n_pins + 1));
        if (t)
                p->pins = t;
        if (!m || !n || !f || !t) {
                free(m);
                free(n);
                free(f);
                return -ENOMEM;
        }
        for (char *c = m; *c; c++)
                *c = *c == '-' ? ':' : (char) tolower((unsigned char) *c);
        p->pins[p->n_pins++] = (NicPin){ .mac = m, .name = n, .file = f };
        return 0;
}

int nic_pins_parse_link(NicPins *p, const char *file, const char *text) {
        _cleanup_strv_free_ char **macs = NULL, **perm = NULL, **names = NULL;
        int r;

        r = unit_file_get_list(text, "Match", "MACAddress", &macs);
        if (r < 0)
                return r;
        r = unit_file_get_list(text, "Match", "PermanentMACAddress", &perm);
        if (r < 0)
                return r;
        r = unit_file_get_list(text, "Link", "Name", &names);
        if (r < 0)
                return r;
        if (strv_length(names) == 0)
                return 0;
        /* A .link file with several MACs gives each the same name: only one of them may exist. */
        STRV_FOREACH(m, macs) {
                r = add_pin(p, *m, names[strv_length(names) - 1], file);
                if (r < 0)
                        return r;
        }
        STRV_FOREACH(m, perm) {
                r = add_pin(p, *m, names[strv_length(names) - 1], file);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* The value of KEY=="value" / KEY="value" / KEY:="value" in a udev rule line, for KEY with the given
 * operator class (match: "==", assign: "=" or ":="). NULL when absent. */
static char *udev_rule_value(const char *line, const char *key, bool match) {
        size_t kl = strlen(key);

        for (const char *p = line; (p = strstr(p, key)); p += kl) {
                const char *v, *end;

                /* Keys start a rule token: at the line start or after a comma or space. */
                if (p != line && !strchr(", \t", p[-1]))
                        continue;
                v = skip_space(p + kl);
                if (match) {
                        if (!strneq(v, "==", 2))
                                continue;
                        v += 2;
                } else if (strneq(v, ":=", 2))
                        v += 2;
                else if (*v == '=' && v[1] != '=')
                        v += 1;
                else
                        continue;
                v = skip_space(v);
                if (*v != '"')
                        continue;
                end = strchr(v + 1, '"');
                if (!end)
                        continue;
                return strndup(v + 1, (size_t) (end - v - 1));
        }
        return NULL;
}

int nic_pins_parse_udev_rules(NicPins *p, const char *file, const char *text) {
        _cleanup_strv_free_ char **lines = NULL;
        int r;

        r = split_lines(text, &lines);
        if (r < 0)
                return r;
        FOREACH_LINE(line, lines) {
                _cleanup_free_ char *mac = NULL, *name = NULL;
                const char *s = skip_space(*line);

                if (*s == '#' || !*s)
                        continue;
                mac = udev_rule_value(s, "ATTR{address}", true);
                name = udev_rule_value(s, "NAME", false);
                if (!mac || !name)
                        continue;
                r = add_pin(p, mac, name, file);
                if (r < 0)
                        return r;
        }
        return 0;
}

const NicPin *nic_pins_find_mac(const NicPins *p, const char *mac) {
        FOREACH_ARRAY(i, p->pins, p->n_pins)
                if (strcasecmp(i->mac, mac) == 0)
                        return i;
        return NULL;
}

const NicPin *nic_pins_find_name(const NicPins *p, const char *name) {
        FOREACH_ARRAY(i, p->pins, p->n_pins)
                if (streq(i->name, name))
                        return i;
        return NULL;
}

/* The span of the bus number in a path-based name: after "p" following the "en"/"wl"/"ww"/"ib" prefix and an
 * optional "P<domain>". */
static const char *bus_span(const char *name, size_t *ret_len) {
        const char *p;
        size_t l;

        if (strlen(name) < 5 ||
            !(strneq(name, "en", 2) || strneq(name, "wl", 2) || strneq(name, "ww", 2) ||
              strneq(name, "ib", 2) || strneq(name, "sl", 2)))
                return NULL;
        p = name + 2;
        if (*p == 'P') {
                p++;
                p += strspn(p, "0123456789");
        }
        if (*p != 'p')
                return NULL;
        p++;
        l = strspn(p, "0123456789");
        if (l == 0 || p[l] != 's')
                return NULL;
        *ret_len = l;
        return p;
}

int nic_name_pci_bus(const char *name, unsigned *ret) {
        _cleanup_free_ char *digits = NULL;
        const char *p;
        uint32_t v;
        size_t l;

        p = bus_span(name, &l);
        if (!p)
                return -EINVAL;
        digits = strndup(p, l);
        if (!digits)
                return -ENOMEM;
        if (safe_atou32(digits, 10, &v) < 0 || v > 255)
                return -EINVAL;
        *ret = v;
        return 0;
}

bool nic_names_differ_in_bus(const char *a, const char *b) {
        const char *pa, *pb;
        size_t la, lb;

        pa = bus_span(a, &la);
        pb = bus_span(b, &lb);
        if (!pa || !pb || pa - a != pb - b || !strneq(a, b, (size_t) (pa - a)))
                return false;
        return streq(pa + la, pb + lb) && !(la == lb && strneq(pa, pb, la));
}

/* ---- systemd unit files ---- */

int unit_file_get_list(const char *text, const char *section, const char *key, char ***ret) {
        _cleanup_strv_free_ char **l = NULL, **lines = NULL;
        bool in_section = false;
        size_t kl = strlen(key), n = 0, allocated = 1; /* n kept here: linear in the number of words */
        int r;

        r = split_lines(text, &lines);
        if (r < 0)
                return r;
        l = calloc(allocated, sizeof(char *));
        if (!l)
                return -ENOMEM;
        FOREACH_LINE(line, lines) {
                char *s = skip_space(*line), *v;

                strstrip_trailing(s);
                if (*s == '#' || *s == ';' || !*s)
                        continue;
                if (*s == '[') {
                        char *end = strchr(s, ']');
                        in_section = end && (size_t) (end - s - 1) == strlen(section) &&
                                strneq(s + 1, section, strlen(section));
                        continue;
                }
                if (!in_section || !strneq(s, key, kl))
                        continue;
                v = skip_space(s + kl);
                if (*v != '=')
                        continue;
                v = skip_space(v + 1);
                if (!*v) {
                        for (; n > 0; n--)
                                l[n - 1] = mfree(l[n - 1]);
                        continue;
                }
                _cleanup_strv_free_ char **w = NULL;
                r = strv_split(v, " \t", &w);
                if (r < 0)
                        return r;
                STRV_FOREACH(i, w) {
                        r = strv_push(&l, &n, &allocated, strdup(*i));
                        if (r < 0)
                                return r;
                }
        }
        *ret = TAKE_PTR(l);
        return 0;
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

char *pve_hostpci_with(const char *raw, int pcie, int rombar) {
        const char *sep = "", *p = raw;
        char *s = NULL;
        size_t size = 0;
        FILE *f;

        /* A stream rather than appending to a string: linear however many options there are. */
        f = open_memstream(&s, &size);
        if (!f)
                return NULL;
        for (;;) {
                _cleanup_free_ char *k = NULL, *v = NULL;
                int r = prop_string_next(&p, &k, &v);

                if (r < 0) {
                        fclose(f);
                        free(s);
                        return NULL;
                }
                if (r == 0)
                        break;
                if (k && ((pcie >= 0 && streq(k, "pcie")) || (rombar >= 0 && streq(k, "rombar"))))
                        continue;
                fprintf(f, "%s%s%s%s", sep, strempty(k), k ? "=" : "", v);
                sep = ",";
        }
        if (pcie >= 0) {
                fprintf(f, "%spcie=%d", sep, pcie);
                sep = ",";
        }
        if (rombar >= 0)
                fprintf(f, "%srombar=%d", sep, rombar);
        if (fclose(f) != 0) {
                free(s);
                return NULL;
        }
        return s ?: strdup("");
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

int pve_mapping_paths(const char *text, const char *name, char ***ret) {
        _cleanup_(pci_mapping_done) PciMapping m = {};
        _cleanup_strv_free_ char **paths = NULL;
        size_t n = 0, allocated = 1;
        int r;

        /* The one pci.cfg parser (proxmox.c), then each map entry through the property string tokenizer:
         * every path= of it, even in an entry that pci_map_entry_parse() would refuse. */
        r = pci_mapping_from_cfg(text, name, &m);
        if (r < 0)
                return r;
        if (r == 0)
                return -ENOENT;
        paths = calloc(allocated, sizeof(char *));
        if (!paths)
                return -ENOMEM;
        STRV_FOREACH(e, m.map) {
                const char *p = *e;

                for (;;) {
                        _cleanup_free_ char *k = NULL, *v = NULL;

                        r = prop_string_next(&p, &k, &v);
                        if (r < 0)
                                return r;
                        if (r == 0)
                                break;
                        if (k && streq(k, "path")) {
                                r = push_addresses(&paths, &n, &allocated, v);
                                if (r < 0)
                                        return r;
                        }
                }
        }
        r = strv_uniq_in_order(paths, n);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(paths);
        return 0;
}
