/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <ctype.h>
#include <inttypes.h>
#include <limits.h>
#include <json-c/json.h>
#include <sys/utsname.h>

#include "proxmox.h"
#include "store.h"
#include "spawn-util.h"
#include "util.h"

#define PROXMOX_TIMEOUT_USEC (120 * USEC_PER_SEC)

void prop_string_done(PropString *p) {
        strv_free(p->keys);
        strv_free(p->values);
        *p = (PropString){};
}

int prop_string_next(const char **p, char **ret_key, char **ret_value) {
        _cleanup_free_ char *k = NULL, *v = NULL;
        const char *s = *p + strspn(*p, ","), *eq;
        size_t len = strcspn(s, ",");

        if (len == 0) {
                *p = s;
                return 0;
        }
        eq = memchr(s, '=', len);
        if (eq) {
                k = strndup(s, (size_t) (eq - s));
                if (!k)
                        return -ENOMEM;
                v = strndup(eq + 1, len - (size_t) (eq - s) - 1);
        } else
                v = strndup(s, len);
        if (!v)
                return -ENOMEM;
        *ret_key = TAKE_PTR(k);
        *ret_value = TAKE_PTR(v);
        *p = s + len;
        return 1;
}

int prop_string_parse(const char *s, const char *default_key, PropString *ret) {
        _cleanup_(prop_string_done) PropString p = {};
        size_t n_keys = 0, allocated_keys = 0, allocated_values = 0;
        int r;

        for (;;) {
                _cleanup_free_ char *k = NULL, *v = NULL;

                r = prop_string_next(&s, &k, &v);
                if (r < 0)
                        return r;
                if (r == 0)
                        break;
                if (!k) {
                        /* Only the first element may leave out its key. */
                        if (p.n > 0 || !default_key)
                                return -EINVAL;
                        k = strdup(default_key);
                }
                r = strv_push(&p.keys, &n_keys, &allocated_keys, TAKE_PTR(k));
                if (r < 0)
                        return r;
                r = strv_push(&p.values, &p.n, &allocated_values, TAKE_PTR(v));
                if (r < 0)
                        return r;
        }
        *ret = p;
        p = (PropString){};
        return 0;
}

const char *prop_string_get(const PropString *p, const char *key) {
        for (size_t i = 0; i < p->n; i++)
                if (streq(p->keys[i], key))
                        return p->values[i];
        return NULL;
}

void vm_config_done(VmConfig *c) {
        strv_free(c->keys);
        strv_free(c->values);
        free(c->lines);
        *c = (VmConfig){};
}

int vm_config_parse(const char *text, VmConfig *ret) {
        _cleanup_(vm_config_done) VmConfig c = {};
        size_t n_keys = 0, allocated_keys = 0, allocated_values = 0, allocated_lines = 0;
        unsigned line = 0;
        int r;

        /* One pass over the text, each line taken where it stands: linear in the size. */
        for (const char *p = text; *p; p += *p == '\n') {
                const char *s = p, *end, *colon, *v;

                line++;
                p += strcspn(p, "\n");
                s += strspn(s, " \t");
                end = p;
                while (end > s && isspace((unsigned char) end[-1]))
                        end--;
                if (s == end || *s == '#')
                        continue;
                if (*s == '[')
                        break; /* a snapshot or pending section */
                colon = memchr(s, ':', (size_t) (end - s));
                if (!colon)
                        continue;
                v = colon + 1;
                v += strspn(v, " \t");
                if (v > end)
                        v = end;
                if (ARRAY_RESERVE(c.lines, allocated_lines, c.n + 1) < 0)
                        return -ENOMEM;
                r = strv_push(&c.keys, &n_keys, &allocated_keys, strndup(s, (size_t) (colon - s)));
                if (r < 0)
                        return r;
                r = strv_push(&c.values, &c.n, &allocated_values, strndup(v, (size_t) (end - v)));
                if (r < 0)
                        return r;
                c.lines[c.n - 1] = line;
        }
        *ret = c;
        c = (VmConfig){};
        return 0;
}

const char *vm_config_get(const VmConfig *c, const char *key) {
        for (size_t i = 0; i < c->n; i++)
                if (streq(c->keys[i], key))
                        return c->values[i];
        return NULL;
}

void pci_map_entry_done(PciMapEntry *e) {
        free(e->node);
        free(e->path);
        free(e->id);
        free(e->subsystem_id);
        free(e->description);
        *e = (PciMapEntry){ .iommugroup = -1 };
}

bool proxmox_configid_is_valid(const char *s) {
        return store_mapping_valid(s);
}

/* pve-node of pve-common's JSONSchema.pm: m/^([a-zA-Z0-9]([a-zA-Z0-9\-]*[a-zA-Z0-9])?)$/ */
static bool node_valid(const char *s) {
        size_t n = strlen(s);

        if (n == 0 || !isalnum((unsigned char) s[0]) || !isalnum((unsigned char) s[n - 1]))
                return false;
        for (size_t i = 0; i < n; i++)
                if (!isalnum((unsigned char) s[i]) && s[i] != '-')
                        return false;
        return true;
}

/* id and subsystem-id of $map_fmt (pve-guest-common's src/PVE/Mapping/PCI.pm):
 * ^[0-9A-Fa-f]{4}:[0-9A-Fa-f]{4}$ */
static bool map_id_valid(const char *s) {
        if (strlen(s) != 9 || s[4] != ':')
                return false;
        for (size_t i = 0; i < 9; i++)
                if (i != 4 && !isxdigit((unsigned char) s[i]))
                        return false;
        return true;
}

/* path of $map_fmt: (?:$PCI_RE;)*$PCI_RE, $PCI_RE being [a-f0-9]{4,}:[a-f0-9]{2}:[a-f0-9]{2}(?:\.[a-f0-9])?
 */
static bool map_path_valid(const char *s) {
        for (;;) {
                size_t n = 0;

                while ((s[n] >= '0' && s[n] <= '9') || (s[n] >= 'a' && s[n] <= 'f'))
                        n++;
                if (n < 4 || s[n] != ':')
                        return false;
                s += n + 1;
                for (int part = 0; part < 2; part++) {
                        if (!isxdigit((unsigned char) s[0]) || !isxdigit((unsigned char) s[1]) ||
                            isupper((unsigned char) s[0]) || isupper((unsigned char) s[1]))
                                return false;
                        s += 2;
                        if (part == 0 && *s++ != ':')
                                return false;
                }
                if (*s == '.') {
                        if (!((s[1] >= '0' && s[1] <= '9') || (s[1] >= 'a' && s[1] <= 'f')))
                                return false;
                        s += 2;
                }
                if (!*s)
                        return true;
                if (*s++ != ';')
                        return false;
        }
}

/* An integer as PVE::JSONSchema's is_integer() takes one, m/^[+-]?\d+$/, that fits an int. */
static int parse_integer(const char *s, int *ret) {
        const char *d = s + (*s == '+' || *s == '-');
        char *end;
        long v;

        if (!*d || strspn(d, "0123456789") != strlen(d))
                return -EINVAL;
        errno = 0;
        v = strtol(s, &end, 10);
        if (errno > 0 || v < INT_MIN || v > INT_MAX)
                return -ERANGE;
        *ret = (int) v;
        return 0;
}

int pci_map_entry_parse(const char *s, PciMapEntry *ret) {
        PciMapEntry e = { .iommugroup = -1 };
        bool has_group = false;
        int r = 0;

        /* As parse_property_string() of pve-common's JSONSchema.pm with $map_fmt: split at ',', parts of
         * white space skipped, each "key=value" with a value (^([^=]+)=(.+)$), a key once, only the keys of
         * the format; then each value checked against it. */
        for (const char *p = s; r >= 0;) {
                size_t len = strcspn(p, ",");
                const char *eq = memchr(p, '=', len);
                _cleanup_free_ char *k = NULL, *v = NULL;
                char **slot = NULL;

                if (strspn(p, " \t\r\n\f\v") >= len)
                        goto next; /* next if $part =~ /^\s*$/ */
                if (!eq || eq == p || eq + 1 == p + len) {
                        r = -EINVAL;
                        break;
                }
                k = strndup(p, (size_t) (eq - p));
                v = strndup(eq + 1, len - (size_t) (eq - p) - 1);
                if (!k || !v) {
                        r = -ENOMEM;
                        break;
                }
                if (streq(k, "node"))
                        slot = &e.node;
                else if (streq(k, "path"))
                        slot = &e.path;
                else if (streq(k, "id"))
                        slot = &e.id;
                else if (streq(k, "subsystem-id"))
                        slot = &e.subsystem_id;
                else if (streq(k, "description"))
                        slot = &e.description;
                else if (streq(k, "iommugroup")) {
                        if (has_group || parse_integer(v, &e.iommugroup) < 0)
                                r = -EINVAL;
                        has_group = true;
                        goto next;
                } else
                        r = -EINVAL; /* "invalid key in comma-separated list property" */
                if (slot && *slot)
                        r = -EINVAL; /* "duplicate key in comma-separated list property" */
                else if (slot)
                        *slot = TAKE_PTR(v);
next:
                p += len;
                if (!*p)
                        break;
                p++;
        }
        if (r >= 0 &&
            (!e.node || !e.path || !e.id || !node_valid(e.node) || !map_path_valid(e.path) ||
             !map_id_valid(e.id) || (e.subsystem_id && !map_id_valid(e.subsystem_id)) ||
             (e.description && strlen(e.description) > PROXMOX_DESCRIPTION_MAX)))
                r = -EINVAL;
        if (r < 0) {
                pci_map_entry_done(&e);
                return r;
        }
        *ret = e;
        return 0;
}

/* Whether value may stand in a property string that reads back as written: no ',' (print_property_string()
 * dies on one), not empty (parse_property_string() wants a value), and no line break (the section config
 * holds it on one line). */
static bool prop_value_writable(const char *v) {
        return *v && !strpbrk(v, ",\n\r");
}

int pci_map_entry_format(const PciMapEntry *e, char **ret) {
        _cleanup_(pci_map_entry_done) PciMapEntry back = { .iommugroup = -1 };
        _cleanup_free_ char *s = NULL;
        size_t size = 0;
        FILE *f;

        if (!e->node || !e->path || !e->id || !prop_value_writable(e->node) ||
            !prop_value_writable(e->path) || !prop_value_writable(e->id) ||
            (e->subsystem_id && !prop_value_writable(e->subsystem_id)) ||
            (e->description && !prop_value_writable(e->description)))
                return -EINVAL;
        /* id, iommugroup, node, path, subsystem-id, then description: only the fields the entry has, any
         * group but "absent" (-1) as it is. */
        f = open_memstream(&s, &size);
        if (!f)
                return -ENOMEM;
        fprintf(f, "id=%s,", e->id);
        if (e->iommugroup != -1)
                fprintf(f, "iommugroup=%d,", e->iommugroup);
        fprintf(f, "node=%s,path=%s", e->node, e->path);
        if (e->subsystem_id)
                fprintf(f, ",subsystem-id=%s", e->subsystem_id);
        if (e->description)
                fprintf(f, ",description=%s", e->description);
        if (fclose(f) != 0 || !s)
                return -ENOMEM;
        /* What Proxmox would refuse to read is not written. */
        if (pci_map_entry_parse(s, &back) < 0 || !pci_map_entry_equal(e, &back) ||
            !streq_ptr(e->description, back.description))
                return -EINVAL;
        *ret = TAKE_PTR(s);
        return 0;
}

int pci_map_entry_for_egpu(const Egpu *e, const char *node, PciMapEntry *ret) {
        const PciFunction *f = e->functions[0];
        PciMapEntry x = { .iommugroup = f->iommu_group };
        const char *dot = strrchr(f->bdf, '.');

        x.node = strdup(node);
        /* The slot: every function, one multifunction device in the guest. */
        x.path = e->n_functions > 1 && dot ? strndup(f->bdf, (size_t) (dot - f->bdf)) : strdup(f->bdf);
        if (asprintf(&x.id, "%04x:%04x", f->vendor, f->device) < 0)
                x.id = NULL;
        if (asprintf(&x.subsystem_id, "%04x:%04x", f->subsystem_vendor, f->subsystem_device) < 0)
                x.subsystem_id = NULL;
        if (!x.node || !x.path || !x.id || !x.subsystem_id) {
                pci_map_entry_done(&x);
                return -ENOMEM;
        }
        *ret = x;
        return 0;
}

bool pci_map_entry_equal(const PciMapEntry *a, const PciMapEntry *b) {
        return streq_ptr(a->node, b->node) && streq_ptr(a->path, b->path) && streq_ptr(a->id, b->id) &&
                streq_ptr(a->subsystem_id, b->subsystem_id) && a->iommugroup == b->iommugroup;
}

void pci_map_entries_free(PciMapEntry *l, size_t n) {
        for (size_t i = 0; l && i < n; i++)
                pci_map_entry_done(&l[i]);
        free(l);
}

int pci_map_entries_wanted(
        const Host *h,
        const Enrolled *enrolled,
        const char *mapping,
        const char *node,
        PciMapEntry **ret,
        size_t *ret_n) {
        PciMapEntry *l = NULL;
        size_t n = 0;
        int named = 0, r;

        FOREACH_ARRAY(x, enrolled->list, enrolled->n)
                if (streq_ptr((*x)->mapping, mapping))
                        named++;
        l = calloc(h->n_egpus + 1, sizeof(PciMapEntry));
        if (!l)
                return -ENOMEM;
        /* h->egpus is in the order of their addresses. */
        FOREACH_ARRAY(e, h->egpus, h->n_egpus) {
                const Enrollment *rec = enrolled_find_egpu(enrolled, *e);

                if (!rec || !streq_ptr(rec->mapping, mapping))
                        continue;
                r = pci_map_entry_for_egpu(*e, node, &l[n]);
                if (r < 0) {
                        pci_map_entries_free(l, n);
                        return r;
                }
                n++;
        }
        if (n == 0)
                l = mfree(l);
        *ret = l;
        *ret_n = n;
        return named;
}

int pci_map_set_node(
        char **map,
        const char *node,
        const PciMapEntry *want,
        size_t n_want,
        char ***ret,
        bool *ret_changed) {
        _cleanup_strv_free_ char **others = NULL, **mine = NULL, **out = NULL, **descriptions = NULL;
        _cleanup_free_ bool *taken = NULL;
        size_t n_old = 0, at = SIZE_MAX;
        bool changed = false;
        int r;

        /* This node's old entries, in order, with their descriptions. */
        STRV_FOREACH(s, map) {
                _cleanup_(pci_map_entry_done) PciMapEntry e = { .iommugroup = -1 };

                if (pci_map_entry_parse(*s, &e) < 0 || !streq(e.node, node)) {
                        r = strv_extend(&others, *s);
                        if (r < 0)
                                return r;
                        continue;
                }
                if (at == SIZE_MAX)
                        at = strv_length(others);
                if (n_old >= n_want || !pci_map_entry_equal(&e, &want[n_old]))
                        changed = true;
                r = strv_extend(&descriptions, e.description ?: "");
                if (r < 0)
                        return r;
                r = strv_extend(&descriptions, e.path);
                if (r < 0)
                        return r;
                n_old++;
        }
        if (n_old != n_want)
                changed = true;
        if (at == SIZE_MAX)
                at = strv_length(others);

        taken = calloc(n_old + 1, sizeof(bool));
        if (!taken)
                return -ENOMEM;
        for (size_t i = 0; i < n_want; i++) {
                _cleanup_(pci_map_entry_done) PciMapEntry x = {};
                _cleanup_free_ char *s = NULL;
                size_t from = SIZE_MAX;

                /* The description of the old entry at this path, else the next one not yet passed on. */
                for (size_t j = 0; j < n_old && from == SIZE_MAX; j++)
                        if (!taken[j] && streq(descriptions[2 * j + 1], want[i].path))
                                from = j;
                for (size_t j = 0; j < n_old && from == SIZE_MAX; j++)
                        if (!taken[j])
                                from = j;
                x = (PciMapEntry){
                        .node = (char *) want[i].node,
                        .path = (char *) want[i].path,
                        .id = (char *) want[i].id,
                        .subsystem_id = (char *) want[i].subsystem_id,
                        .iommugroup = want[i].iommugroup,
                        .description = (char *) want[i].description,
                };
                if (from != SIZE_MAX) {
                        taken[from] = true;
                        if (!x.description && descriptions[2 * from][0])
                                x.description = descriptions[2 * from];
                }
                r = pci_map_entry_format(&x, &s);
                x = (PciMapEntry){}; /* borrowed */
                if (r < 0)
                        return r;
                r = strv_extend(&mine, s);
                if (r < 0)
                        return r;
        }
        for (size_t i = 0; i <= strv_length(others); i++) {
                if (i == at)
                        STRV_FOREACH(m, mine)
                                if ((r = strv_extend(&out, *m)) < 0)
                                        return r;
                if (others && others[i] && (r = strv_extend(&out, others[i])) < 0)
                        return r;
        }
        *ret = TAKE_PTR(out);
        *ret_changed = changed;
        return 0;
}

int hostpci_value_for_egpu(const char *old, const char *mapping, const Egpu *e, char **ret) {
        _cleanup_(prop_string_done) PropString p = {};
        bool romfile = false;
        int rom;

        /* rombar reaches the entry's first device only (qemu-server's print_hostpci_devices(),
         * PVE/QemuServer/PCI.pm: "if ($j == 0)"): the slot's function 0. */
        rom = pci_function_has_rom(e->functions[0]);
        if (rom == -ENOMEM)
                return rom;
        if (old && prop_string_parse(old, "host", &p) >= 0)
                romfile = prop_string_get(&p, "romfile") != NULL;
        return hostpci_value_set(strempty(old), mapping, 1, rom == 0 && !romfile ? 0 : -1, ret);
}

int pci_address_normalize(const char *s, char **ret) {
        size_t colons = 0;
        char *c;

        for (const char *p = s; *p; p++) {
                if (*p == ':')
                        colons++;
                else if (*p != '.' && !isxdigit((unsigned char) *p))
                        return -EINVAL;
        }
        if (colons == 1) {
                if (asprintf(&c, "0000:%s", s) < 0)
                        return -ENOMEM;
        } else if (colons == 2) {
                c = strdup(s);
                if (!c)
                        return -ENOMEM;
        } else
                return -EINVAL;
        for (char *p = c; *p; p++)
                *p = (char) tolower((unsigned char) *p);
        *ret = c;
        return 0;
}

int proxmox_live_port_device(uint64_t window, char **ret) {
        static const char suffix[] = "KMGT";
        uint64_t v = window;
        size_t i = 0;
        char size[32];

        /* QEMU's size syntax (util/cutils.c qemu_strtosz()): a number with a binary suffix */
        while (v >= 1024 && v % 1024 == 0 && i < sizeof(suffix) - 1) {
                v /= 1024;
                i++;
        }
        if (i == 0)
                snprintf(size, sizeof(size), "%" PRIu64, v);
        else
                snprintf(size, sizeof(size), "%" PRIu64 "%c", v, suffix[i - 1]);
        return asprintf(
                       ret,
                       "pcie-root-port,id=%s,bus=pcie.0,addr=0x8,chassis=200,port=200,x-speed=16,"
                       "x-width=32%s%s",
                       PROXMOX_LIVE_PORT_ID,
                       window > 0 ? ",pref64-reserve=" : "",
                       window > 0 ? size : "") < 0
                ? -ENOMEM
                : 0;
}

/* One word of args as Proxmox splits them (PVE::Tools::split_args(), Text::ParseWords' shellwords): its
 * place in the text and its value without quotes. */
typedef struct ArgWord {
        size_t start, end;
        char *value;
} ArgWord;

static void arg_words_free(ArgWord *w, size_t n) {
        for (size_t i = 0; i < n; i++)
                free(w[i].value);
        free(w);
}

static int args_split(const char *args, ArgWord **ret, size_t *ret_n) {
        ArgWord *w = NULL;
        size_t n = 0, allocated = 0, i = 0, len = strlen(args);

        while (i < len) {
                _cleanup_free_ char *value = malloc(len + 1);
                size_t start, k = 0;
                char quote = 0;

                if (!value) {
                        arg_words_free(w, n);
                        return -ENOMEM;
                }
                while (i < len && isspace((unsigned char) args[i]))
                        i++;
                if (i >= len)
                        break;
                start = i;
                for (; i < len && (quote || !isspace((unsigned char) args[i])); i++) {
                        char c = args[i];

                        if (quote && c == quote)
                                quote = 0;
                        else if (!quote && (c == '\'' || c == '"'))
                                quote = c;
                        else if (c == '\\' && quote != '\'' && i + 1 < len)
                                value[k++] = args[++i];
                        else
                                value[k++] = c;
                }
                value[k] = 0;
                if (ARRAY_RESERVE(w, allocated, n + 1) < 0) {
                        arg_words_free(w, n);
                        return -ENOMEM;
                }
                w[n++] = (ArgWord){ .start = start, .end = i, .value = TAKE_PTR(value) };
        }
        *ret = w;
        *ret_n = n;
        return 0;
}

/* Whether word i is "-device" (or "--device") and the next one a pcie-root-port: its properties then. */
static int arg_root_port(const ArgWord *w, size_t n, size_t i, PropString *ret) {
        if (i + 1 >= n || !(streq(w[i].value, "-device") || streq(w[i].value, "--device")))
                return 0;
        if (!strneq(w[i + 1].value, "pcie-root-port,", strlen("pcie-root-port,")))
                return 0;
        return prop_string_parse(w[i + 1].value, "driver", ret) < 0 ? 0 : 1;
}

int proxmox_args_set_live_port(const char *args, const char *device, char **ret) {
        _cleanup_free_ char *out = strdup("");
        ArgWord *w = NULL;
        size_t n = 0, copied = 0;
        int r;

        if (!out)
                return -ENOMEM;
        r = args_split(args ?: "", &w, &n);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n; i++) {
                _cleanup_(prop_string_done) PropString p = {};

                if (arg_root_port(w, n, i, &p) <= 0 ||
                    !streq_ptr(prop_string_get(&p, "id"), PROXMOX_LIVE_PORT_ID))
                        continue;
                /* the text before this element, then skip it */
                if (strextendf(&out, "%.*s", (int) (w[i].start - copied), args + copied) < 0) {
                        arg_words_free(w, n);
                        return -ENOMEM;
                }
                copied = w[i + 1].end;
                i++;
        }
        if (args && strextendf(&out, "%s", args + copied) < 0) {
                arg_words_free(w, n);
                return -ENOMEM;
        }
        arg_words_free(w, n);
        /* tidy the white space the element left */
        {
                char *d = out;
                for (const char *c = out; *c; c++)
                        if (!(isspace((unsigned char) *c) && (d == out || isspace((unsigned char) d[-1]))))
                                *d++ = *c;
                while (d > out && isspace((unsigned char) d[-1]))
                        d--;
                *d = 0;
        }
        if (device && strextendf(&out, "%s-device %s", *out ? " " : "", device) < 0)
                return -ENOMEM;
        *ret = *out ? TAKE_PTR(out) : NULL;
        return 0;
}

/* A size in QEMU's syntax: digits and an optional K, M, G, T (binary) or B suffix. */
static int parse_qemu_size(const char *s, uint64_t *ret) {
        uint64_t v, mult = 1;
        char *end;

        if (!s || !isdigit((unsigned char) *s))
                return -EINVAL;
        errno = 0;
        v = strtoull(s, &end, 10);
        if (errno != 0)
                return -EINVAL;
        if (*end) {
                /* A suffix's place among the units is its power of 1024. */
                static const char units[] = "bkmgt";
                const char *u = strchr(units, tolower((unsigned char) *end));

                if (!u || end[1])
                        return -EINVAL;
                mult = UINT64_C(1) << (10 * (u - units));
        }
        if (v > UINT64_MAX / mult)
                return -ERANGE;
        *ret = v * mult;
        return 0;
}

int proxmox_args_live_ports(const char *args, uint64_t *ret_window, bool *ret_mine) {
        ArgWord *w = NULL;
        size_t n = 0;
        uint64_t window = 0;
        bool mine = false;
        int r, count = 0;

        r = args_split(args ?: "", &w, &n);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n; i++) {
                _cleanup_(prop_string_done) PropString p = {};
                uint64_t v;

                if (arg_root_port(w, n, i, &p) <= 0)
                        continue;
                count++;
                if (streq_ptr(prop_string_get(&p, "id"), PROXMOX_LIVE_PORT_ID))
                        mine = true;
                if (parse_qemu_size(prop_string_get(&p, "pref64-reserve"), &v) >= 0)
                        window = MAX(window, v);
        }
        arg_words_free(w, n);
        *ret_window = window;
        *ret_mine = mine;
        return count;
}

bool hostpci_refers_to(const char *value, const char *mapping, const Egpu *e) {
        _cleanup_(prop_string_done) PropString p = {};
        _cleanup_strv_free_ char **hosts = NULL;
        const char *m, *host;

        if (prop_string_parse(value, "host", &p) < 0)
                return false;
        m = prop_string_get(&p, "mapping");
        if (m)
                return mapping && streq(m, mapping);
        host = prop_string_get(&p, "host");
        if (!host || strv_split(host, ";", &hosts) < 0)
                return false;
        STRV_FOREACH(hp, hosts) {
                _cleanup_free_ char *n = NULL;
                int r = pci_address_normalize(*hp, &n);

                if (r == -EINVAL)
                        continue; /* not an address: it cannot be the eGPU's */
                if (r < 0)
                        return false;
                FOREACH_ARRAY(f, e->functions, e->n_functions) {
                        size_t l = strlen(n);
                        /* A function, or its slot (no ".N"). */
                        if (streq((*f)->bdf, n) || (strneq((*f)->bdf, n, l) && (*f)->bdf[l] == '.'))
                                return true;
                }
        }
        return false;
}

/* The short name of host name s: up to its first dot. */
static int short_host_name(const char *s, char **ret) {
        char *n = strndup(s, strcspn(s, "."));

        if (!n)
                return -ENOMEM;
        *ret = n;
        return 0;
}

/* The host name that /etc/hostname's text names: its first line that is neither empty nor a comment ("#"),
 * without the white space around it (hostname(5)). NULL when there is none. */
static char *hostname_file_name(char *text) {
        for (char *line = text, *next; line; line = next) {
                next = strchr(line, '\n');
                if (next)
                        *next++ = '\0';
                line = strstrip(line);
                if (*line && *line != '#')
                        return line;
        }
        return NULL;
}

int proxmox_node_name(const char *root, char **ret) {
        struct utsname u;

        if (root && *root && !streq(root, "/")) {
                _cleanup_free_ char *path = path_join(root, "/etc/hostname"), *text = NULL;
                const char *name;
                int r;

                if (!path)
                        return -ENOMEM;
                r = read_full_file(path, 4096, &text, NULL);
                if (r == -ENOMEM)
                        return r;
                name = r >= 0 ? hostname_file_name(text) : NULL;
                if (name && *name != '.')
                        return short_host_name(name, ret);
        }
        if (uname(&u) < 0)
                return negative_errno();
        return short_host_name(u.nodename, ret);
}

void pci_mapping_done(PciMapping *m) {
        free(m->id);
        free(m->description);
        free(m->digest);
        strv_free(m->map);
        *m = (PciMapping){};
}

/* Whether a line is false in Perl, which ends a section of a section config: "" or "0". */
static bool perl_false(const char *s, size_t n) {
        return n == 0 || (n == 1 && s[0] == '0');
}

int pci_mapping_from_cfg(const char *text, const char *id, PciMapping *ret) {
        _cleanup_(pci_mapping_done) PciMapping m = {};
        size_t n_map = 0, allocated_map = 0;
        bool in_section = false, target = false, found = false, have_description = false;
        int r;

        /* As parse_config() of pve-common's src/PVE/SectionConfig.pm reads it, with the section header of
         * PVE::Mapping::PCI (the id alone): comment lines (^\s*#) are skipped; outside a section, a line
         * "ID" (^(\S+)\s*$) starts one; a section runs to the next line that Perl takes for false, an empty
         * one (or "0"), whatever stands in between; in it, "\tKEY VALUE" lines (^\s+(\S+)(\s+(.*\S))?\s*$),
         * the rest ignored. A later section of the same id replaces an earlier one; a map entry that does
         * not check against the format is dropped (check_value()), as is a second description. */
        for (const char *p = text; *p; p += *p == '\n') {
                const char *s = p, *end, *k, *v;
                size_t kl;

                p += strcspn(p, "\n");
                if (s[strspn(s, " \t\r\f\v")] == '#')
                        continue;
                if (!in_section) {
                        if (perl_false(s, (size_t) (p - s)))
                                continue;
                        end = s + strcspn(s, " \t\r\f\v\n");
                        if (end == s || s + (end - s) + strspn(end, " \t\r\f\v") != p)
                                continue; /* not a header: ignored */
                        in_section = true;
                        target = (size_t) (end - s) == strlen(id) && strneq(s, id, (size_t) (end - s)) &&
                                proxmox_configid_is_valid(id);
                        if (target) {
                                /* A section of the same id again replaces what the earlier one had. */
                                strv_free(m.map);
                                m.map = NULL;
                                n_map = allocated_map = 0;
                                m.description = mfree(m.description);
                                have_description = false;
                                found = true;
                        }
                        continue;
                }
                if (perl_false(s, (size_t) (p - s))) {
                        in_section = target = false;
                        continue;
                }
                if (!target || !strchr(" \t\r\f\v", *s))
                        continue;
                end = p;
                while (end > s && isspace((unsigned char) end[-1]))
                        end--;
                k = s + strspn(s, " \t\r\f\v");
                kl = strcspn(k, " \t\r\f\v\n");
                if (k + kl >= end)
                        continue; /* a key without value: "got undefined value" */
                v = k + kl + strspn(k + kl, " \t\r\f\v");
                if (kl == 3 && strneq(k, "map", 3)) {
                        _cleanup_(pci_map_entry_done) PciMapEntry e = { .iommugroup = -1 };
                        _cleanup_free_ char *value = strndup(v, (size_t) (end - v));

                        if (!value)
                                return -ENOMEM;
                        r = pci_map_entry_parse(value, &e);
                        if (r == -ENOMEM)
                                return r;
                        if (r < 0)
                                continue;
                        r = strv_push(&m.map, &n_map, &allocated_map, TAKE_PTR(value));
                        if (r < 0)
                                return r;
                } else if (kl == 11 && strneq(k, "description", 11) && !have_description) {
                        m.description = strndup(v, (size_t) (end - v));
                        if (!m.description)
                                return -ENOMEM;
                        have_description = true;
                }
        }
        if (!found)
                return 0;
        m.id = strdup(id);
        if (!m.id)
                return -ENOMEM;
        *ret = m;
        m = (PciMapping){};
        return 1;
}

int hostpci_value_set(const char *raw, const char *mapping, int pcie, int rombar, char **ret) {
        _cleanup_free_ char *s = NULL;
        const char *sep = "", *p = raw;
        bool pcie_done = pcie < 0, rombar_done = rombar < 0;
        size_t size = 0;
        FILE *f;
        int r = 0;

        /* A stream rather than appending to a string: linear however many options there are. */
        f = open_memstream(&s, &size);
        if (!f)
                return -ENOMEM;
        if (mapping) {
                fprintf(f, "mapping=%s", mapping);
                sep = ",";
        }
        for (;;) {
                _cleanup_free_ char *k = NULL, *v = NULL;

                r = prop_string_next(&p, &k, &v);
                if (r <= 0)
                        break;
                if (mapping && (!k || streq(k, "host") || streq(k, "mapping")))
                        continue; /* the device: the mapping now */
                /* pcie= and rombar= where they stand, once. */
                if (k && pcie >= 0 && streq(k, "pcie")) {
                        if (!pcie_done)
                                fprintf(f, "%spcie=%d", sep, pcie);
                        pcie_done = true;
                } else if (k && rombar >= 0 && streq(k, "rombar")) {
                        if (!rombar_done)
                                fprintf(f, "%srombar=%d", sep, rombar);
                        rombar_done = true;
                } else
                        fprintf(f, "%s%s%s%s", sep, strempty(k), k ? "=" : "", v);
                sep = ",";
        }
        if (r >= 0 && !pcie_done) {
                fprintf(f, "%spcie=%d", sep, pcie);
                sep = ",";
        }
        if (r >= 0 && !rombar_done)
                fprintf(f, "%srombar=%d", sep, rombar);
        if (fclose(f) != 0 && r >= 0)
                r = -ENOMEM;
        if (r < 0)
                return r;
        if (!s && !(s = strdup("")))
                return -ENOMEM;
        *ret = TAKE_PTR(s);
        return 0;
}

static int json_dup_string(json_object *o, const char *key, char **ret) {
        json_object *v;

        *ret = NULL;
        if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
                return 0;
        *ret = strdup(json_object_get_string(v));
        return *ret ? 0 : -ENOMEM;
}

int pci_mapping_from_json(const char *json, PciMapping *ret) {
        _cleanup_(pci_mapping_done) PciMapping m = {};
        json_object *o, *map;
        size_t n_map = 0, allocated_map = 0;
        int r = 0;

        o = json_tokener_parse(json);
        if (!o || !json_object_is_type(o, json_type_object)) {
                json_object_put(o);
                return -EBADMSG;
        }
        if ((r = json_dup_string(o, "id", &m.id)) < 0 ||
            (r = json_dup_string(o, "description", &m.description)) < 0 ||
            (r = json_dup_string(o, "digest", &m.digest)) < 0)
                goto finish;
        if (json_object_object_get_ex(o, "map", &map)) {
                if (json_object_is_type(map, json_type_string))
                        r = strv_push(&m.map, &n_map, &allocated_map, strdup(json_object_get_string(map)));
                else if (json_object_is_type(map, json_type_array))
                        for (size_t i = 0; i < json_object_array_length(map) && r >= 0; i++) {
                                json_object *v = json_object_array_get_idx(map, i);
                                if (json_object_is_type(v, json_type_string))
                                        r = strv_push(
                                                &m.map,
                                                &n_map,
                                                &allocated_map,
                                                strdup(json_object_get_string(v)));
                        }
                if (r < 0)
                        goto finish;
        }
        *ret = m;
        m = (PciMapping){};
finish:
        json_object_put(o);
        return r;
}

int proxmox_run(char *const argv[], char **ret_stdout, int *ret_status) {
        int status = 0, r;

        r = spawn_run(argv, PROXMOX_TIMEOUT_USEC, &status, ret_stdout);
        if (r < 0)
                return r;
        if (ret_status)
                *ret_status = status;
        if (status != 0) {
                if (ret_stdout)
                        *ret_stdout = mfree(*ret_stdout);
                return -EPROTO;
        }
        return 0;
}

/* What pvesh get answers for an API path, as JSON text in *ret. */
static int pvesh_get_json(const char *path, char **ret) {
        return proxmox_run(
                (char *[]){ (char *) "pvesh",
                            (char *) "get",
                            (char *) path,
                            (char *) "--output-format",
                            (char *) "json",
                            NULL },
                ret,
                NULL);
}

int proxmox_mapping_get(const char *id, PciMapping *ret) {
        _cleanup_free_ char *list = NULL, *out = NULL, *path = NULL;
        json_object *o;
        bool found = false;
        int r;

        /* The index first: a failing get could be a missing mapping or any other error. */
        r = pvesh_get_json("/cluster/mapping/pci", &list);
        if (r < 0)
                return r;
        o = json_tokener_parse(list);
        if (!o || !json_object_is_type(o, json_type_array)) {
                json_object_put(o);
                return -EBADMSG;
        }
        for (size_t i = 0; i < json_object_array_length(o); i++) {
                json_object *v = json_object_array_get_idx(o, i), *idv;
                if (json_object_object_get_ex(v, "id", &idv) && json_object_is_type(idv, json_type_string) &&
                    streq(json_object_get_string(idv), id))
                        found = true;
        }
        json_object_put(o);
        if (!found)
                return 0;

        if (asprintf(&path, "/cluster/mapping/pci/%s", id) < 0)
                return -ENOMEM;
        r = pvesh_get_json(path, &out);
        if (r < 0)
                return r;
        r = pci_mapping_from_json(out, ret);
        return r < 0 ? r : 1;
}
