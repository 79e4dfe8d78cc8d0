/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <ctype.h>
#include <stdarg.h>

#include "netif.h"
#include "sysfs.h"
#include "util.h"

#define LINE_MAX_LEN (64U * 1024U)

/* ---- small helpers ---- */

static char *skip_space(const char *s) {
        while (*s == ' ' || *s == '\t')
                s++;
        return (char *) s;
}

static bool is_blank(char c) {
        return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

/* Splits s at blanks into words (no quoting in ifupdown). */
static int split_words(const char *s, char ***ret) {
        return strv_split(s, " \t\r\v\f", ret);
}

/* ---- /etc/network/interfaces ---- */

static void stanza_done(IfaceStanza *s) {
        free(s->name);
        free(s->family);
        free(s->method);
        FOREACH_ARRAY(o, s->options, s->n_options) {
                free(o->key);
                free(o->value);
        }
        free(s->options);
}

InterfacesFile *interfaces_free(InterfacesFile *f) {
        if (!f)
                return NULL;
        strv_free(f->lines);
        FOREACH_ARRAY(s, f->stanzas, f->n_stanzas)
                stanza_done(s);
        free(f->stanzas);
        FOREACH_ARRAY(a, f->autos, f->n_autos)
                free(a->name);
        free(f->autos);
        strv_free(f->auto_names);
        strv_free(f->sources);
        strv_free(f->source_dirs);
        return mfree(f);
}

static int split_physical_lines(const char *text, InterfacesFile *f) {
        size_t len = strlen(text);
        int r;

        r = strv_split_lines(text, &f->lines, &f->n_lines);
        if (r < 0)
                return r;
        for (size_t i = 0; i < f->n_lines; i++)
                if (strlen(f->lines[i]) > LINE_MAX_LEN)
                        return -EFBIG;
        f->final_newline = len == 0 || text[len - 1] == '\n';
        return 0;
}

/* The logical line starting at physical line i: joined continuation lines; *ret_last is its last
 * physical line. Measured first, then copied: one allocation however many lines it joins. */
static int logical_line(const InterfacesFile *f, size_t i, char **ret, size_t *ret_last) {
        size_t len = 0, j = i, p = 0;
        char *buf;

        for (;; j++) {
                size_t k = strlen(f->lines[j]);
                bool cont = k > 0 && f->lines[j][k - 1] == '\\';

                len += k - cont + 1;
                if (len + 1 > LINE_MAX_LEN * 4)
                        return -EFBIG;
                if (!cont || j + 1 >= f->n_lines)
                        break;
        }
        buf = malloc(len + 1);
        if (!buf)
                return -ENOMEM;
        for (size_t x = i; x <= j; x++) {
                size_t k = strlen(f->lines[x]);

                if (k > 0 && f->lines[x][k - 1] == '\\')
                        k--;
                memcpy(buf + p, f->lines[x], k);
                p += k;
                buf[p++] = ' ';
        }
        buf[p] = 0;
        *ret = buf;
        *ret_last = j;
        return 0;
}

typedef enum LineKind {
        LINE_BLANK,
        LINE_COMMENT,
        LINE_IFACE,
        LINE_AUTO,         /* auto, allow-* */
        LINE_OTHER_STANZA, /* mapping, source, source-directory, unknown top level */
        LINE_OPTION,
} LineKind;

static LineKind classify(char **words, bool in_iface) {
        if (!words || !words[0])
                return LINE_BLANK;
        if (words[0][0] == '#')
                return LINE_COMMENT;
        if (streq(words[0], "iface"))
                return LINE_IFACE;
        if (streq(words[0], "auto") || strneq(words[0], "allow-", 6))
                return LINE_AUTO;
        if (streq(words[0], "mapping") || strneq(words[0], "source", 6))
                return LINE_OTHER_STANZA;
        return in_iface ? LINE_OPTION : LINE_OTHER_STANZA;
}

static int stanza_add_option(
        IfaceStanza *s,
        size_t *allocated,
        char **words,
        const char *logical,
        size_t line) {
        const char *v;
        char *key, *value;

        if (ARRAY_RESERVE(s->options, *allocated, s->n_options + 1) < 0)
                return -ENOMEM;
        /* The value: the logical line after the key, trimmed. */
        v = logical + strspn(logical, " \t\r\v\f");
        v += strlen(words[0]);
        v += strspn(v, " \t\r\v\f");
        key = strdup(words[0]);
        value = strdup(v);
        if (!key || !value) {
                free(key);
                free(value);
                return -ENOMEM;
        }
        strstrip_trailing(value);
        s->options[s->n_options++] = (IfaceOption){ key, value, line };
        return 0;
}

/* Appends the words after the first to *l, which holds *n in room for *allocated. */
static int push_words(char ***l, size_t *n, size_t *allocated, char **words) {
        for (size_t w = 1; words[w]; w++) {
                int r = strv_push(l, n, allocated, strdup(words[w]));
                if (r < 0)
                        return r;
        }
        return 0;
}

int interfaces_parse(const char *text, InterfacesFile **ret) {
        _cleanup_(interfaces_freep) InterfacesFile *f = NULL;
        size_t allocated_stanzas = 0, allocated_options = 0, allocated_autos = 0;
        size_t n_sources = 0, allocated_sources = 0, n_dirs = 0, allocated_dirs = 0;
        IfaceStanza *cur = NULL;
        int r;

        if (strlen(text) > INTERFACES_MAX_SIZE)
                return -EFBIG;
        f = calloc(1, sizeof(InterfacesFile));
        if (!f)
                return -ENOMEM;
        r = split_physical_lines(text, f);
        if (r < 0)
                return r;

        for (size_t i = 0; i < f->n_lines;) {
                _cleanup_free_ char *logical = NULL;
                _cleanup_strv_free_ char **words = NULL;
                size_t last;

                r = logical_line(f, i, &logical, &last);
                if (r < 0)
                        return r;
                r = split_words(logical, &words);
                if (r < 0)
                        return r;
                switch (classify(words, cur != NULL)) {
                case LINE_BLANK:
                case LINE_COMMENT:
                        break;
                case LINE_IFACE: {
                        size_t n = strv_length(words);

                        if (ARRAY_RESERVE(f->stanzas, allocated_stanzas, f->n_stanzas + 1) < 0)
                                return -ENOMEM;
                        cur = &f->stanzas[f->n_stanzas++];
                        allocated_options = 0;
                        *cur = (IfaceStanza){ .first_line = i, .last_line = last };
                        cur->name = strdup(n > 1 ? words[1] : "");
                        cur->family = n > 2 ? strdup(words[2]) : NULL;
                        cur->method = n > 3 ? strdup(words[3]) : NULL;
                        if (!cur->name || (n > 2 && !cur->family) || (n > 3 && !cur->method))
                                return -ENOMEM;
                        break;
                }
                case LINE_AUTO:
                        cur = NULL;
                        for (size_t w = 1; words[w]; w++) {
                                char *name = strdup(words[w]);

                                if (!name || ARRAY_RESERVE(f->autos, allocated_autos, f->n_autos + 1) < 0) {
                                        free(name);
                                        return -ENOMEM;
                                }
                                f->autos[f->n_autos++] = (IfaceAuto){
                                        .name = name,
                                        .line = i,
                                        .allow = !streq(words[0], "auto"),
                                };
                        }
                        break;
                case LINE_OTHER_STANZA:
                        cur = NULL;
                        r = 0;
                        if (strneq(words[0], "source", 6))
                                f->has_source = true;
                        if (streq(words[0], "source"))
                                r = push_words(&f->sources, &n_sources, &allocated_sources, words);
                        else if (streq(words[0], "source-directory"))
                                r = push_words(&f->source_dirs, &n_dirs, &allocated_dirs, words);
                        if (r < 0)
                                return r;
                        break;
                case LINE_OPTION:
                        r = stanza_add_option(cur, &allocated_options, words, logical, i);
                        if (r < 0)
                                return r;
                        cur->last_line = last;
                        break;
                }
                i = last + 1;
        }

        /* The auto names once each: all of them, then the repeats taken out by sorting, not by a search
         * of the list per name (which made 1 MiB of auto lines take seconds). */
        f->auto_names = reallocarray(NULL, f->n_autos + 1, sizeof(char *));
        if (!f->auto_names)
                return -ENOMEM;
        f->auto_names[0] = NULL;
        for (size_t i = 0; i < f->n_autos; i++) {
                f->auto_names[i] = strdup(f->autos[i].name);
                f->auto_names[i + 1] = NULL;
                if (!f->auto_names[i])
                        return -ENOMEM;
        }
        r = strv_uniq(f->auto_names, f->n_autos);
        if (r < 0)
                return r;

        *ret = TAKE_PTR(f);
        return 0;
}

const IfaceStanza *interfaces_find(const InterfacesFile *f, const char *name) {
        FOREACH_ARRAY(s, f->stanzas, f->n_stanzas)
                if (streq(s->name, name))
                        return s;
        return NULL;
}

/* Whether two option keys are the same, '-' and '_' alike. */
static bool key_eq(const char *a, const char *b) {
        for (; *a && *b; a++, b++)
                if (*a != *b && !((*a == '-' || *a == '_') && (*b == '-' || *b == '_')))
                        return false;
        return *a == *b;
}

const char *iface_option(const IfaceStanza *s, const char *key) {
        FOREACH_ARRAY(o, s->options, s->n_options)
                if (key_eq(o->key, key))
                        return o->value;
        return NULL;
}

bool iface_option_names_interfaces(const char *key) {
        static const char *const keys[] = {
                "bridge-ports",    "bond-slaves", "slaves",    "bond-primary",
                "vlan-raw-device", "ovs_ports",   "ovs_bonds",
        };
        FOREACH_ARRAY(k, keys, ELEMENTSOF(keys))
                if (key_eq(key, *k))
                        return true;
        return false;
}

void name_map_done(NameMap *m) {
        strv_free(m->old_names);
        strv_free(m->new_names);
        free(m->slots);
        *m = (NameMap){};
}

/* The slot of m->slots that holds the first entry of name, or the free one where it goes. */
static size_t *name_map_slot(const NameMap *m, const char *name) {
        size_t mask = m->n_slots - 1;

        for (size_t i = string_hash(name, strlen(name)) & mask;; i = (i + 1) & mask)
                if (m->slots[i] == 0 || streq(m->old_names[m->slots[i] - 1], name))
                        return &m->slots[i];
}

int name_map_add(NameMap *m, const char *old_name, const char *new_name) {
        size_t n = m->n, allocated = m->n_allocated, *slot;
        int r;

        /* The hash table at most half full: doubled, the names put in again, the first of each kept. */
        if ((m->n + 1) * 2 > m->n_slots) {
                size_t k = MAX(m->n_slots * 2, (size_t) 16), *t = calloc(k, sizeof(size_t));

                if (!t)
                        return -ENOMEM;
                free(m->slots);
                m->slots = t;
                m->n_slots = k;
                for (size_t i = 0; i < m->n; i++) {
                        slot = name_map_slot(m, m->old_names[i]);
                        if (*slot == 0)
                                *slot = i + 1;
                }
        }
        r = strv_push(&m->old_names, &n, &allocated, strdup(old_name));
        if (r < 0)
                return r;
        n = m->n;
        allocated = m->n_allocated;
        r = strv_push(&m->new_names, &n, &allocated, strdup(new_name));
        if (r < 0) {
                free(m->old_names[m->n]);
                m->old_names[m->n] = NULL;
                return r;
        }
        m->n_allocated = allocated;
        slot = name_map_slot(m, old_name);
        if (*slot == 0)
                *slot = m->n + 1;
        m->n++;
        return 0;
}

const char *name_map_lookup(const NameMap *m, const char *name) {
        size_t i;

        if (m->n_slots == 0)
                return NULL;
        i = *name_map_slot(m, name);
        return i > 0 ? m->new_names[i - 1] : NULL;
}

int name_map_apply(const NameMap *m, const char *name, char **ret) {
        const char *n = name_map_lookup(m, name);
        size_t k;
        char *s;

        if (n)
                return strdup_to(ret, n) < 0 ? -ENOMEM : 1;
        /* "enp86s0.10" (VLAN) or "enp86s0:1" (alias): map the base, keep the suffix. */
        k = strcspn(name, ".:");
        if (k > 0 && name[k]) {
                _cleanup_free_ char *base = strndup(name, k);

                if (!base)
                        return -ENOMEM;
                n = name_map_lookup(m, base);
                if (n) {
                        if (asprintf(&s, "%s%s", n, name + k) < 0)
                                return -ENOMEM;
                        *ret = s;
                        return 1;
                }
        }
        *ret = NULL;
        return 0;
}

/* Appends line to out with the words at positions >= from_word (or only word only_word when >= 0)
 * renamed by map; blanks are kept as they are. */
static int rename_words(FILE *out, const char *line, const NameMap *map, size_t from_word, int only_word) {
        const char *p = line;
        size_t w = 0;

        while (*p) {
                size_t blanks = 0, len;

                while (p[blanks] && is_blank(p[blanks]))
                        blanks++;
                fwrite(p, 1, blanks, out);
                p += blanks;
                if (!*p)
                        break;
                len = 0;
                while (p[len] && !is_blank(p[len]))
                        len++;
                if (p[0] == '\\' && len == 1) {
                        fputc('\\', out); /* continuation mark */
                } else if (
                        (only_word >= 0 && w == (size_t) only_word) || (only_word < 0 && w >= from_word)) {
                        _cleanup_free_ char *word = strndup(p, len), *renamed = NULL;
                        int r;

                        if (!word)
                                return -ENOMEM;
                        /* A word with a trailing backslash continues the line. */
                        bool cont = len > 1 && word[len - 1] == '\\';
                        if (cont)
                                word[len - 1] = 0;
                        r = name_map_apply(map, word, &renamed);
                        if (r < 0)
                                return r;
                        fputs(renamed ?: word, out);
                        if (cont)
                                fputc('\\', out);
                } else
                        fwrite(p, 1, len, out);
                p += len;
                w++;
        }
        return 0;
}

int interfaces_rename(const InterfacesFile *f, const NameMap *map, char **ret) {
        _cleanup_free_ char *buf = NULL;
        size_t size = 0;
        bool in_iface = false;
        FILE *out;
        int r = 0;

        out = open_memstream(&buf, &size);
        if (!out)
                return -ENOMEM;
        for (size_t i = 0; i < f->n_lines && r >= 0;) {
                _cleanup_free_ char *logical = NULL;
                _cleanup_strv_free_ char **words = NULL;
                size_t last;
                LineKind kind;

                r = logical_line(f, i, &logical, &last);
                if (r < 0)
                        break;
                r = split_words(logical, &words);
                if (r < 0)
                        break;
                /* As interfaces_parse() saw it: an iface line starts a stanza, which other stanzas end. */
                kind = classify(words, in_iface);
                if (kind == LINE_IFACE)
                        in_iface = true;
                else if (IN_SET(kind, LINE_AUTO, LINE_OTHER_STANZA))
                        in_iface = false;

                for (size_t j = i; j <= last && r >= 0; j++) {
                        const char *line = f->lines[j];
                        bool first = j == i;

                        if (kind == LINE_IFACE && first)
                                r = rename_words(out, line, map, 0, 1);
                        else if (kind == LINE_AUTO)
                                r = rename_words(out, line, map, first ? 1 : 0, -1);
                        else if (kind == LINE_OPTION && iface_option_names_interfaces(words[0]))
                                r = rename_words(out, line, map, first ? 1 : 0, -1);
                        else
                                fputs(line, out);
                        if (j + 1 < f->n_lines || f->final_newline)
                                fputc('\n', out);
                }
                i = last + 1;
        }
        if (fclose(out) != 0 && r >= 0)
                r = -ENOMEM;
        if (r < 0)
                return r;
        if (!buf) {
                buf = strdup("");
                if (!buf)
                        return -ENOMEM;
        }
        *ret = TAKE_PTR(buf);
        return 0;
}

static bool stanza_is_bridge(const IfaceStanza *s) {
        return iface_option(s, "bridge-ports") != NULL;
}

static int cmp_stanza_name(const void *a, const void *b, void *stanzas) {
        const IfaceStanza *s = stanzas;
        size_t x = *(const size_t *) a, y = *(const size_t *) b;
        int c = strcmp(s[x].name, s[y].name);

        return c != 0 ? c : x < y ? -1 : x > y;
}

#define HAS_GATEWAY 1U
#define HAS_ADDRESS 2U

int interfaces_management_bridges(const InterfacesFile *f, const IfaceStanza ***ret) {
        _cleanup_free_ size_t *idx = NULL;
        _cleanup_free_ unsigned *has = NULL;
        const IfaceStanza **l;
        size_t n = 0;

        idx = reallocarray(NULL, f->n_stanzas + 1, sizeof(size_t));
        has = calloc(f->n_stanzas + 1, sizeof(unsigned));
        if (!idx || !has)
                return -ENOMEM;
        /* The same interface may have an inet and an inet6 stanza: what one has, the name has. The
         * stanzas sorted by name put those next to each other, where a search per bridge is quadratic. */
        for (size_t i = 0; i < f->n_stanzas; i++)
                idx[i] = i;
        qsort_r(idx, f->n_stanzas, sizeof(size_t), cmp_stanza_name, (void *) f->stanzas);
        for (size_t g = 0, e; g < f->n_stanzas; g = e) {
                unsigned flags = 0;

                for (e = g; e < f->n_stanzas && streq(f->stanzas[idx[e]].name, f->stanzas[idx[g]].name); e++)
                        flags |= (iface_option(&f->stanzas[idx[e]], "gateway") ? HAS_GATEWAY : 0) |
                                (iface_option(&f->stanzas[idx[e]], "address") ? HAS_ADDRESS : 0);
                for (size_t k = g; k < e; k++)
                        has[idx[k]] = flags;
        }

        l = calloc(f->n_stanzas + 1, sizeof(IfaceStanza *));
        if (!l)
                return -ENOMEM;
        for (int pass = 0; pass < 2 && n == 0; pass++)
                for (size_t i = 0; i < f->n_stanzas; i++)
                        if (stanza_is_bridge(&f->stanzas[i]) &&
                            (has[i] & (pass == 0 ? HAS_GATEWAY : HAS_ADDRESS)))
                                l[n++] = &f->stanzas[i];
        *ret = l;
        return 0;
}

/* ---- NICs ---- */

static void nic_done(Nic *n) {
        free(n->name);
        free(n->mac);
        free(n->path_name);
        free(n->bdf);
}

struct NicKey {
        char *key;    /* netif_path_name_key() of the NIC's path name */
        unsigned bus; /* the bus in it */
        size_t nic;   /* index in nics */
};

void nic_list_done(NicList *l) {
        FOREACH_ARRAY(n, l->nics, l->n)
                nic_done(n);
        free(l->nics);
        strv_free(l->all_names);
        free(l->sorted_names); /* the strings are all_names' */
        str_index_done(&l->by_mac);
        FOREACH_ARRAY(k, l->keys, l->n_keys)
                free(k->key);
        free(l->keys);
        *l = (NicList){};
}

static bool mac_valid(const char *m) {
        if (strlen(m) != 17)
                return false;
        for (size_t i = 0; i < 17; i++)
                if (i % 3 == 2 ? m[i] != ':' : !isxdigit((unsigned char) m[i]))
                        return false;
        return !streq(m, "00:00:00:00:00:00");
}

static void ascii_lower(char *s) {
        for (; *s; s++)
                *s = (char) tolower((unsigned char) *s);
}

static int cmp_nic(const void *a, const void *b) {
        return strcmp(((const Nic *) a)->name, ((const Nic *) b)->name);
}

int nic_list_load(struct udev *udev, NicList *ret) {
        _cleanup_(udev_enumerate_unrefp) struct udev_enumerate *e = NULL;
        struct udev_list_entry *entry;
        NicList l = {};
        size_t n_names = 0, names_allocated = 0, nics_allocated = 0;
        int r;

        e = udev_enumerate_new(udev);
        if (!e)
                return -ENOMEM;
        r = udev_enumerate_add_match_subsystem(e, "net");
        if (r >= 0)
                r = udev_enumerate_scan_devices(e);
        if (r < 0)
                return r;
        udev_list_entry_foreach(entry, udev_enumerate_get_list_entry(e)) {
                _cleanup_(udev_device_unrefp) struct udev_device *d = NULL;
                _cleanup_free_ char *mac = NULL, *physfn = NULL;
                struct udev_device *pci;
                const char *name, *path_name, *aat;
                Nic n = {};

                d = udev_device_new_from_syspath(udev, udev_list_entry_get_name(entry));
                if (!d)
                        continue;
                name = udev_device_get_sysname(d);
                if (!name)
                        continue;
                r = strv_push(&l.all_names, &n_names, &names_allocated, strdup(name));
                if (r < 0)
                        goto fail;
                pci = udev_device_get_parent_with_subsystem_devtype(d, "pci", NULL);
                if (!pci)
                        continue; /* virtual: bridges, bonds, taps, lo */
                physfn = path_join(udev_device_get_syspath(pci), "physfn");
                if (!physfn) {
                        r = -ENOMEM;
                        goto fail;
                }
                if (access(physfn, F_OK) >= 0)
                        continue; /* an SR-IOV virtual function */
                aat = udev_device_get_sysattr_value(d, "addr_assign_type");
                if (aat && strtoul(aat, NULL, 10) != 0)
                        continue; /* a random or stolen MAC: no stable match */
                if (sysfs_attr_string(d, "address", &mac) < 0 || !mac_valid(mac))
                        continue;
                ascii_lower(mac);
                path_name = udev_device_get_property_value(d, "ID_NET_NAME_PATH");
                n.name = strdup(name);
                n.mac = TAKE_PTR(mac);
                n.path_name = path_name ? strdup(path_name) : NULL;
                n.bdf = strdup(udev_device_get_sysname(pci) ?: "");
                if (!n.name || (path_name && !n.path_name) || !n.bdf ||
                    ARRAY_RESERVE(l.nics, nics_allocated, l.n + 1) < 0) {
                        nic_done(&n);
                        r = -ENOMEM;
                        goto fail;
                }
                l.nics[l.n++] = n;
        }
        r = nic_list_index(&l);
        if (r < 0)
                goto fail;
        *ret = l;
        return 0;
fail:
        nic_list_done(&l);
        return r;
}

static int cmp_str(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

static int cmp_nic_key(const void *a, const void *b) {
        const struct NicKey *x = a, *y = b;
        int c = strcmp(x->key, y->key);

        return c != 0 ? c : (x->nic > y->nic) - (x->nic < y->nic);
}

int nic_list_index(NicList *l) {
        size_t n_names = strv_length(l->all_names);
        int r;

        if (l->n > 0)
                qsort(l->nics, l->n, sizeof(Nic), cmp_nic);
        free(l->sorted_names);
        l->sorted_names = reallocarray(NULL, n_names + 1, sizeof(char *));
        if (!l->sorted_names)
                return -ENOMEM;
        for (size_t i = 0; i < n_names; i++)
                l->sorted_names[i] = l->all_names[i];
        l->sorted_names[n_names] = NULL;
        if (n_names > 0)
                qsort(l->sorted_names, n_names, sizeof(char *), cmp_str);
        r = str_index_build(&l->by_mac, l->nics, l->n, sizeof(Nic), offsetof(Nic, mac), true);
        if (r < 0)
                return r;
        FOREACH_ARRAY(k, l->keys, l->n_keys)
                free(k->key);
        l->keys = mfree(l->keys);
        l->n_keys = 0;
        l->keys = calloc(l->n + 1, sizeof(struct NicKey));
        if (!l->keys)
                return -ENOMEM;
        for (size_t i = 0; i < l->n; i++) {
                struct NicKey *k = &l->keys[l->n_keys];

                if (!l->nics[i].path_name)
                        continue;
                r = netif_path_name_key(l->nics[i].path_name, &k->key, &k->bus);
                if (r == -ENOMEM)
                        return r;
                if (r < 0)
                        continue;
                k->nic = i;
                l->n_keys++;
        }
        if (l->n_keys > 0)
                qsort(l->keys, l->n_keys, sizeof(struct NicKey), cmp_nic_key);
        return 0;
}

const Nic *nic_list_find(const NicList *l, const char *name) {
        Nic key = { .name = (char *) name };

        return l->n > 0 ? bsearch(&key, l->nics, l->n, sizeof(Nic), cmp_nic) : NULL;
}

const Nic *nic_list_find_mac(const NicList *l, const char *mac) {
        size_t i = str_index_find(&l->by_mac, l->nics, mac);

        return i == SIZE_MAX ? NULL : &l->nics[i];
}

bool nic_list_has_name(const NicList *l, const char *name) {
        size_t n = strv_length(l->sorted_names);

        return n > 0 && bsearch(&name, l->sorted_names, n, sizeof(char *), cmp_str);
}

int nic_list_find_moved(const NicList *l, const char *name, const Nic **ret) {
        _cleanup_free_ char *key = NULL;
        const Nic *found = NULL;
        size_t lo = 0, hi = l->n_keys;
        unsigned bus;
        int r;

        r = netif_path_name_key(name, &key, &bus);
        if (r == -EINVAL)
                return 0;
        if (r < 0)
                return r;
        /* The first NIC of that key, then each of them: the names that differ only in the bus. */
        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;

                if (strcmp(l->keys[mid].key, key) < 0)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        for (; lo < l->n_keys && streq(l->keys[lo].key, key); lo++) {
                if (l->keys[lo].bus == bus)
                        continue;
                if (found)
                        return -ENOTUNIQ;
                found = &l->nics[l->keys[lo].nic];
        }
        if (!found)
                return 0;
        *ret = found;
        return 1;
}

/* ---- systemd unit and .link files ---- */

int unit_file_get_list(const char *text, const char *section, const char *key, char ***ret) {
        _cleanup_strv_free_ char **l = NULL, **lines = NULL;
        bool in_section = false;
        size_t kl = strlen(key), n = 0, allocated = 1; /* n kept here: linear in the number of words */
        int r;

        r = strv_split_lines(text, &lines, NULL);
        if (r < 0)
                return r;
        l = calloc(allocated, sizeof(char *));
        if (!l)
                return -ENOMEM;
        STRV_FOREACH(line, lines) {
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

/* ---- pins: .link files and udev rules ---- */

void nic_pins_done(NicPins *p) {
        for (size_t i = 0; i < p->n_pins; i++) {
                free(p->pins[i].mac);
                free(p->pins[i].name);
                free(p->pins[i].file);
        }
        free(p->pins);
        str_index_done(&p->by_mac);
        str_index_done(&p->by_name);
        *p = (NicPins){};
}

static bool pin_mac_valid(const char *s) {
        if (strlen(s) != 17)
                return false;
        for (size_t i = 0; i < 17; i++)
                if (i % 3 == 2 ? s[i] != ':' && s[i] != '-' : !isxdigit((unsigned char) s[i]))
                        return false;
        return true;
}

static int add_pin(NicPins *p, const char *mac, const char *name, const char *file) {
        char *m, *n, *f;

        if (!pin_mac_valid(mac) || !*name)
                return 0;
        m = strdup(mac);
        n = strdup(name);
        f = strdup(file);
        if (!m || !n || !f || ARRAY_RESERVE(p->pins, p->n_allocated, p->n_pins + 1) < 0) {
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
        size_t n_names;
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
        n_names = strv_length(names);
        if (n_names == 0)
                return 0;
        /* A .link file with several MACs gives each the same name: only one of them may exist. */
        STRV_FOREACH(m, macs) {
                r = add_pin(p, *m, names[n_names - 1], file);
                if (r < 0)
                        return r;
        }
        STRV_FOREACH(m, perm) {
                r = add_pin(p, *m, names[n_names - 1], file);
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

        r = strv_split_lines(text, &lines, NULL);
        if (r < 0)
                return r;
        STRV_FOREACH(line, lines) {
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

int nic_pins_index(NicPins *p) {
        int r;

        p->n_indexed = 0;
        r = str_index_build(&p->by_mac, p->pins, p->n_pins, sizeof(NicPin), offsetof(NicPin, mac), true);
        if (r < 0)
                return r;
        r = str_index_build(&p->by_name, p->pins, p->n_pins, sizeof(NicPin), offsetof(NicPin, name), false);
        if (r < 0)
                return r;
        p->n_indexed = p->n_pins;
        return 0;
}

/* The first pin whose MAC (by_mac) or name equals key: the lowest position among the equal ones, so the
 * pin a scan of the list finds. */
static const NicPin *pins_search(const NicPins *p, const char *key, bool by_mac) {
        size_t i = str_index_find(by_mac ? &p->by_mac : &p->by_name, p->pins, key);

        return i == SIZE_MAX ? NULL : &p->pins[i];
}

const NicPin *nic_pins_find_mac(const NicPins *p, const char *mac) {
        if (p->n_pins > 0 && p->n_indexed == p->n_pins)
                return pins_search(p, mac, true);
        FOREACH_ARRAY(i, p->pins, p->n_pins)
                if (strcasecmp(i->mac, mac) == 0)
                        return i;
        return NULL;
}

const NicPin *nic_pins_find_name(const NicPins *p, const char *name) {
        if (p->n_pins > 0 && p->n_indexed == p->n_pins)
                return pins_search(p, name, false);
        FOREACH_ARRAY(i, p->pins, p->n_pins)
                if (streq(i->name, name))
                        return i;
        return NULL;
}

static int parse_link_file(const char *path, const char *text, void *userdata) {
        return nic_pins_parse_link(userdata, path, text);
}

static int parse_rules_file(const char *path, const char *text, void *userdata) {
        return nic_pins_parse_udev_rules(userdata, path, text);
}

int nic_pins_load(const char *root, NicPins *ret) {
        static const char *const link_dirs[] = NIC_PIN_LINK_DIRS, *const rules_dirs[] = NIC_PIN_RULES_DIRS;
        _cleanup_(nic_pins_done) NicPins p = {};
        int r;

        r = conf_files_parse(root, link_dirs, ELEMENTSOF(link_dirs), "*.link", parse_link_file, &p);
        if (r >= 0)
                r = conf_files_parse(
                        root,
                        rules_dirs,
                        ELEMENTSOF(rules_dirs),
                        "*.rules",
                        parse_rules_file,
                        &p);
        if (r >= 0)
                r = nic_pins_index(&p);
        if (r < 0)
                return r;
        *ret = p;
        p = (NicPins){};
        return 0;
}

int netif_path_name_key(const char *name, char **ret_key, unsigned *ret_bus) {
        const char *p = name, *dom_start, *dom_end, *bus_start;
        unsigned long bus;
        char *end;

        /* The prefixes of systemd.net-naming-scheme(7). */
        if (strlen(name) < 5 ||
            !(strneq(name, "en", 2) || strneq(name, "ib", 2) || strneq(name, "sl", 2) ||
              strneq(name, "wl", 2) || strneq(name, "ww", 2)))
                return -EINVAL;
        p = name + 2;
        dom_start = p;
        if (*p == 'P') {
                p++;
                if (!isdigit((unsigned char) *p))
                        return -EINVAL;
                while (isdigit((unsigned char) *p))
                        p++;
        }
        dom_end = p;
        if (*p != 'p')
                return -EINVAL;
        bus_start = ++p;
        if (!isdigit((unsigned char) *p))
                return -EINVAL;
        errno = 0;
        bus = strtoul(bus_start, &end, 10);
        if (errno > 0 || bus > 255 || *end != 's' || !isdigit((unsigned char) end[1]))
                return -EINVAL;
        if (asprintf(ret_key, "%.2s %.*s %s", name, (int) (dom_end - dom_start), dom_start, end) < 0)
                return -ENOMEM;
        *ret_bus = (unsigned) bus;
        return 0;
}

/* ---- the plan ---- */

static void nic_pin_link_done(NicPinLink *l) {
        free(l->nic);
        free(l->mac);
        free(l->name);
        free(l->path);
        free(l->text);
}

void nic_pin_plan_done(NicPinPlan *p) {
        name_map_done(&p->map);
        FOREACH_ARRAY(l, p->links, p->n_links)
                nic_pin_link_done(l);
        free(p->links);
        name_map_done(&p->interfaces_renames);
        free(p->interfaces_old);
        free(p->interfaces_new);
        strv_free(p->problems);
        strv_free(p->notes);
        *p = (NicPinPlan){};
}

const NicPinLink *nic_pin_plan_find_link(const NicPinPlan *p, const char *nic) {
        FOREACH_ARRAY(l, p->links, p->n_links)
                if (streq(l->nic, nic))
                        return l;
        return NULL;
}

/* The .link file that pins NIC n to new_name. */
static int plan_add_link(NicPinPlan *p, const Nic *n, const char *new_name) {
        NicPinLink l = {
                .nic = strdup(n->name),
                .mac = strdup(n->mac),
                .name = strdup(new_name),
        };

        if (asprintf(&l.path, NIC_PIN_LINK_DIR "/10-egpuctl-%s.link", new_name) < 0)
                l.path = NULL;
        if (asprintf(
                    &l.text,
                    "# Written by egpuctl nic pin; see egpuctl(8). The NIC with this MAC address is\n"
                    "# %s whatever bus number the PCI topology (an eGPU's bridges) gives it; its\n"
                    "# name from the PCI path was %s (PCI function %s).\n"
                    "[Match]\n"
                    "MACAddress=%s\n"
                    "Type=ether\n"
                    "\n"
                    "[Link]\n"
                    "Name=%s\n",
                    new_name,
                    n->name,
                    n->bdf,
                    n->mac,
                    new_name) < 0)
                l.text = NULL;
        if (!l.nic || !l.mac || !l.name || !l.path || !l.text ||
            ARRAY_RESERVE(p->links, p->n_links_allocated, p->n_links + 1) < 0) {
                nic_pin_link_done(&l);
                return -ENOMEM;
        }
        p->links[p->n_links++] = l;
        return 0;
}

/* Records the renames that the interfaces file's names (refs) undergo: the base of each ("enp86s0" of
 * "enp86s0.10") once. */
static int plan_interfaces_renames(NicPinPlan *p, char **refs) {
        STRV_FOREACH(ref, refs) {
                _cleanup_free_ char *base = strndup(*ref, strcspn(*ref, ".:"));
                const char *n;
                int r;

                if (!base)
                        return -ENOMEM;
                n = name_map_lookup(&p->map, base);
                if (!n || name_map_lookup(&p->interfaces_renames, base))
                        continue;
                r = name_map_add(&p->interfaces_renames, base, n);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* The names that interfaces refers to: iface stanzas, auto lines and options naming interfaces; once
 * each, in the order they first appear. */
static int referenced_names(const InterfacesFile *f, char ***ret) {
        _cleanup_strv_free_ char **l = NULL;
        size_t n = 0, allocated = 0;
        int r;

        STRV_FOREACH(a, f->auto_names)
                if ((r = strv_push(&l, &n, &allocated, strdup(*a))) < 0)
                        return r;
        FOREACH_ARRAY(s, f->stanzas, f->n_stanzas) {
                if (*s->name && (r = strv_push(&l, &n, &allocated, strdup(s->name))) < 0)
                        return r;
                FOREACH_ARRAY(o, s->options, s->n_options) {
                        _cleanup_strv_free_ char **w = NULL;

                        if (!iface_option_names_interfaces(o->key))
                                continue;
                        r = split_words(o->value, &w);
                        if (r < 0)
                                return r;
                        STRV_FOREACH(x, w)
                                if ((r = strv_push(&l, &n, &allocated, strdup(*x))) < 0)
                                        return r;
                }
        }
        r = strv_uniq(l, n);
        if (r < 0)
                return r;
        if (!l && !(l = calloc(1, sizeof(char *))))
                return -ENOMEM;
        *ret = TAKE_PTR(l);
        return 0;
}

typedef struct SortedNames {
        char **names;
        size_t n;
} SortedNames;

static void sorted_names_done(SortedNames *s) {
        strv_free(s->names);
        *s = (SortedNames){};
}

/* The interfaces that a stanza makes (bond, bridge, VLAN, OVS), which exist by configuration, and lo:
 * sorted, for defined_virtual(). */
static int virtual_names(const InterfacesFile *f, SortedNames *ret) {
        _cleanup_strv_free_ char **l = NULL;
        size_t n = 0, allocated = 0;
        int r;

        r = strv_push(&l, &n, &allocated, strdup("lo"));
        if (r < 0)
                return r;
        FOREACH_ARRAY(s, f->stanzas, f->n_stanzas)
                FOREACH_ARRAY(o, s->options, s->n_options)
                        if (iface_option_names_interfaces(o->key) || key_eq(o->key, "ovs_type") ||
                            key_eq(o->key, "bond-mode") || key_eq(o->key, "vxlan-id") ||
                            strneq(o->key, "pre-up", 6)) {
                                r = strv_push(&l, &n, &allocated, strdup(s->name));
                                if (r < 0)
                                        return r;
                                break;
                        }
        qsort(l, n, sizeof(char *), cmp_str);
        *ret = (SortedNames){ TAKE_PTR(l), n };
        return 0;
}

static bool defined_virtual(const SortedNames *virt, const char *name) {
        return virt->n > 0 && bsearch(&name, virt->names, virt->n, sizeof(char *), cmp_str) != NULL;
}

/* Copies of the names of a and b (either may be NULL), sorted, for defined_virtual()'s search. */
static int sorted_names_of(char **a, char **b, SortedNames *ret) {
        _cleanup_strv_free_ char **l = NULL;
        size_t n = 0, allocated = 0;
        int r;

        STRV_FOREACH(x, a)
                if ((r = strv_push(&l, &n, &allocated, strdup(*x))) < 0)
                        return r;
        STRV_FOREACH(x, b)
                if ((r = strv_push(&l, &n, &allocated, strdup(*x))) < 0)
                        return r;
        if (n > 0)
                qsort(l, n, sizeof(char *), cmp_str);
        *ret = (SortedNames){ TAKE_PTR(l), n };
        return 0;
}

/* The name each NIC will have after pinning (its pin, its new pin, or its name now). */
static const char *final_name(const NicPinPlan *p, const Nic *n) {
        return name_map_lookup(&p->map, n->name) ?: n->name;
}

/* The NICs' names now and after pinning, each sorted: searched per bridge port rather than the NICs. */
static int nic_names_now_and_after(
        const NicPinPlan *p,
        const NicList *nics,
        SortedNames *ret_now,
        SortedNames *ret_after) {
        _cleanup_strv_free_ char **now = NULL, **after = NULL;
        size_t n_now = 0, allocated_now = 0, n_after = 0, allocated_after = 0;
        int r;

        FOREACH_ARRAY(n, nics->nics, nics->n)
                if ((r = strv_push(&now, &n_now, &allocated_now, strdup(n->name))) < 0 ||
                    (r = strv_push(&after, &n_after, &allocated_after, strdup(final_name(p, n)))) < 0)
                        return r;
        if (n_now > 0) {
                qsort(now, n_now, sizeof(char *), cmp_str);
                qsort(after, n_after, sizeof(char *), cmp_str);
        }
        *ret_now = (SortedNames){ TAKE_PTR(now), n_now };
        *ret_after = (SortedNames){ TAKE_PTR(after), n_after };
        return 0;
}

/* Whether an interface name will exist after pinning: a NIC will have it (nics_after), an interface that
 * exists now (all) has it and is neither a NIC (nics_now) nor renamed, or the configuration makes it
 * (virt); a VLAN or alias when its base does. */
static bool exists_after(
        const NicPinPlan *p,
        const SortedNames *nics_now,
        const SortedNames *nics_after,
        const SortedNames *all,
        const SortedNames *virt,
        const char *name,
        unsigned depth) {
        size_t k;

        if (depth > 8)
                return false;
        if (defined_virtual(nics_after, name))
                return true;
        /* Interfaces that exist now and are neither physical nor renamed (vmbr0, bond0, ...). */
        if (defined_virtual(all, name) && !name_map_lookup(&p->map, name) &&
            !defined_virtual(nics_now, name))
                return true;
        if (defined_virtual(virt, name))
                return true;
        k = strcspn(name, ".:");
        if (k > 0 && name[k]) {
                _cleanup_free_ char *base = strndup(name, k);
                return base && exists_after(p, nics_now, nics_after, all, virt, base, depth + 1);
        }
        return false;
}

int nic_pin_plan(const NicList *nics, const char *root, NicPinPlan *ret) {
        _cleanup_(nic_pin_plan_done) NicPinPlan p = {};
        _cleanup_(interfaces_freep) InterfacesFile *f = NULL, *nf = NULL;
        _cleanup_strv_free_ char **refs = NULL, **pin_names = NULL;
        _cleanup_free_ char *ipath = NULL;
        _cleanup_free_ const IfaceStanza **bridges = NULL;
        _cleanup_(sorted_names_done) SortedNames virt = {}, new_virt = {}, all = {}, taken = {},
                                                 nics_now = {}, nics_after = {};
        _cleanup_(nic_pins_done) NicPins pins = {};
        size_t n_pin_names = 0, allocated_pin_names = 0, n_notes = 0, allocated_notes = 0, n_problems = 0,
               allocated_problems = 0;
        unsigned index = 0;
        int r;

        r = nic_pins_load(root, &pins);
        if (r < 0)
                return r;

        /* Names taken: every interface now, every pinned name; sorted, searched per candidate. The names
         * given here need not join them: the candidates' numbers only go up. */
        FOREACH_ARRAY(i, pins.pins, pins.n_pins)
                if ((r = strv_push(&pin_names, &n_pin_names, &allocated_pin_names, strdup(i->name))) < 0)
                        return r;
        r = sorted_names_of(nics->all_names, pin_names, &taken);
        if (r >= 0)
                r = sorted_names_of(nics->all_names, NULL, &all);
        if (r < 0)
                return r;

        FOREACH_ARRAY(n, nics->nics, nics->n) {
                const NicPin *pin = nic_pins_find_mac(&pins, n->mac);
                _cleanup_free_ char *new_name = NULL;

                if (pin) {
                        /* Pinned already; a different name now means the pin takes effect at the next boot.
                         */
                        if (!streq(pin->name, n->name) && (r = name_map_add(&p.map, n->name, pin->name)) < 0)
                                return r;
                        continue;
                }
                if (!n->path_name || !streq(n->name, n->path_name))
                        continue; /* not named after its PCI path: nothing moves it */
                do {
                        free(new_name);
                        if (asprintf(&new_name, NIC_PIN_PREFIX "%u", index++) < 0)
                                return -ENOMEM;
                } while (defined_virtual(&taken, new_name));
                r = name_map_add(&p.map, n->name, new_name);
                if (r >= 0)
                        r = plan_add_link(&p, n, new_name);
                if (r < 0)
                        return r;
        }

        ipath = path_under_root(root, INTERFACES_PATH);
        if (!ipath)
                return -ENOMEM;
        r = read_full_file(ipath, INTERFACES_MAX_SIZE, &p.interfaces_old, NULL);
        if (r == -ENOENT) {
                r = strv_pushf(
                        &p.notes,
                        &n_notes,
                        &allocated_notes,
                        "%s does not exist: only .link files are written",
                        INTERFACES_PATH);
                if (r < 0)
                        return r;
                goto done;
        }
        if (r < 0)
                return r;
        r = interfaces_parse(p.interfaces_old, &f);
        if (r < 0)
                return r;
        if (f->has_source &&
            (r = strv_pushf(
                     &p.notes,
                     &n_notes,
                     &allocated_notes,
                     "%s sources other files; egpuctl does not change "
                     "them, check them for the old names yourself",
                     INTERFACES_PATH)) < 0)
                return r;

        /* Names in the file that exist nowhere now, whose PCI path matches a NIC's but for the bus
         * number: the NIC moved (an eGPU's bridges took bus numbers). */
        r = referenced_names(f, &refs);
        if (r >= 0)
                r = virtual_names(f, &virt);
        if (r < 0)
                return r;
        STRV_FOREACH(ref, refs) {
                const Nic *match = NULL;

                if (defined_virtual(&all, *ref) || name_map_lookup(&p.map, *ref) ||
                    defined_virtual(&virt, *ref) || strchr(*ref, '.') || strchr(*ref, ':'))
                        continue;
                r = nic_list_find_moved(nics, *ref, &match);
                if (r == -ENOTUNIQ) {
                        r = strv_pushf(
                                &p.notes,
                                &n_notes,
                                &allocated_notes,
                                "%s: several NICs could be it; not renamed",
                                *ref);
                        if (r < 0)
                                return r;
                        continue;
                }
                if (r < 0)
                        return r;
                if (r == 0)
                        continue;
                r = name_map_add(&p.map, *ref, final_name(&p, match));
                if (r >= 0)
                        r = strv_pushf(
                                &p.notes,
                                &n_notes,
                                &allocated_notes,
                                "%s in %s is gone: it is the NIC now named %s (%s), bus changed",
                                *ref,
                                INTERFACES_PATH,
                                match->name,
                                match->mac);
                if (r < 0)
                        return r;
        }

        r = interfaces_rename(f, &p.map, &p.interfaces_new);
        if (r >= 0)
                r = plan_interfaces_renames(&p, refs);
        if (r < 0)
                return r;
        if (streq(p.interfaces_new, p.interfaces_old))
                p.interfaces_new = mfree(p.interfaces_new);

        /* Refuse a file that leaves a management bridge without a port. */
        r = interfaces_parse(p.interfaces_new ?: p.interfaces_old, &nf);
        if (r < 0)
                return r;
        r = interfaces_management_bridges(nf, &bridges);
        if (r >= 0)
                r = virtual_names(nf, &new_virt);
        if (r >= 0)
                r = nic_names_now_and_after(&p, nics, &nics_now, &nics_after);
        if (r < 0)
                return r;
        for (const IfaceStanza **b = bridges; *b; b++) {
                _cleanup_strv_free_ char **ports = NULL;

                r = split_words(iface_option(*b, "bridge-ports"), &ports);
                if (r < 0)
                        return r;
                STRV_FOREACH(port, ports)
                        if (!streq(*port, "none") &&
                            !exists_after(&p, &nics_now, &nics_after, &all, &new_virt, *port, 0) &&
                            (r = strv_pushf(
                                     &p.problems,
                                     &n_problems,
                                     &allocated_problems,
                                     "bridge %s (the management bridge) would have port %s, and no "
                                     "interface would be named %s after pinning",
                                     (*b)->name,
                                     *port,
                                     *port)) < 0)
                                return r;
        }

done:
        *ret = p;
        p = (NicPinPlan){};
        return 0;
}
