/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <ctype.h>
#include <json-c/json.h>
#include <sys/utsname.h>

#include "proxmox.h"
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
                if (c.n + 1 > allocated_lines) {
                        size_t a = MAX(allocated_lines * 2, (size_t) 8);
                        unsigned *t = reallocarray(c.lines, a, sizeof(unsigned));

                        if (!t)
                                return -ENOMEM;
                        c.lines = t;
                        allocated_lines = a;
                }
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

static int dup_opt(const PropString *p, const char *key, char **ret) {
        const char *v = prop_string_get(p, key);

        *ret = NULL;
        if (!v)
                return 0;
        *ret = strdup(v);
        return *ret ? 0 : -ENOMEM;
}

int pci_map_entry_parse(const char *s, PciMapEntry *ret) {
        _cleanup_(prop_string_done) PropString p = {};
        PciMapEntry e = { .iommugroup = -1 };
        const char *g;
        int r;

        r = prop_string_parse(s, NULL, &p);
        if (r < 0)
                return r;
        if ((r = dup_opt(&p, "node", &e.node)) < 0 || (r = dup_opt(&p, "path", &e.path)) < 0 ||
            (r = dup_opt(&p, "id", &e.id)) < 0 || (r = dup_opt(&p, "subsystem-id", &e.subsystem_id)) < 0 ||
            (r = dup_opt(&p, "description", &e.description)) < 0) {
                pci_map_entry_done(&e);
                return r;
        }
        g = prop_string_get(&p, "iommugroup");
        if (g && safe_atoi(g, &e.iommugroup) < 0)
                e.iommugroup = -1;
        if (!e.node || !e.path) {
                pci_map_entry_done(&e);
                return -EINVAL;
        }
        *ret = e;
        return 0;
}

int pci_map_entry_format(const PciMapEntry *e, char **ret) {
        _cleanup_free_ char *s = NULL;
        size_t size = 0;
        FILE *f;

        /* Only what the entry has, so that the string parses back into the same entry: no "id=" for an
         * absent id (that would read back as an empty one), and any group but "absent" (-1) as it is. */
        f = open_memstream(&s, &size);
        if (!f)
                return -ENOMEM;
        if (e->id)
                fprintf(f, "id=%s,", e->id);
        if (e->iommugroup != -1)
                fprintf(f, "iommugroup=%d,", e->iommugroup);
        fprintf(f, "node=%s,path=%s", strempty(e->node), strempty(e->path));
        if (e->subsystem_id)
                fprintf(f, ",subsystem-id=%s", e->subsystem_id);
        if (e->description)
                fprintf(f, ",description=%s", e->description);
        if (fclose(f) != 0 || !s)
                return -ENOMEM;
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

int proxmox_node_name(char **ret) {
        struct utsname u;
        char *s;

        if (uname(&u) < 0)
                return negative_errno();
        s = strndup(u.nodename, strcspn(u.nodename, "."));
        if (!s)
                return -ENOMEM;
        *ret = s;
        return 0;
}

void pci_mapping_done(PciMapping *m) {
        free(m->id);
        free(m->description);
        free(m->digest);
        strv_free(m->map);
        *m = (PciMapping){};
}

int pci_mapping_from_cfg(const char *text, const char *id, PciMapping *ret) {
        _cleanup_(pci_mapping_done) PciMapping m = {};
        size_t n_map = 0, allocated_map = 0;
        bool in = false, found = false;
        int r;

        for (const char *p = text; *p; p += *p == '\n') {
                const char *s = p, *end, *v;
                size_t kl;

                p += strcspn(p, "\n");
                end = p;
                while (end > s && isspace((unsigned char) end[-1]))
                        end--;
                if (s == end || *s == '#')
                        continue;
                if (*s != ' ' && *s != '\t') {
                        /* A section header: the mapping's id. */
                        in = strlen(id) == (size_t) (end - s) && strneq(s, id, (size_t) (end - s));
                        found = found || in;
                        continue;
                }
                if (!in)
                        continue;
                /* "\tKEY VALUE" */
                s += strspn(s, " \t");
                kl = strcspn(s, " \t");
                if (s + kl >= end)
                        continue; /* a key without value */
                v = s + kl + strspn(s + kl, " \t");
                if (kl == 3 && strneq(s, "map", 3)) {
                        r = strv_push(&m.map, &n_map, &allocated_map, strndup(v, (size_t) (end - v)));
                        if (r < 0)
                                return r;
                } else if (kl == 11 && strneq(s, "description", 11)) {
                        free(m.description);
                        m.description = strndup(v, (size_t) (end - v));
                        if (!m.description)
                                return -ENOMEM;
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

int proxmox_mapping_get(const char *id, PciMapping *ret) {
        _cleanup_free_ char *list = NULL, *out = NULL, *path = NULL;
        json_object *o;
        bool found = false;
        int r;

        /* The index first: a failing get could be a missing mapping or any other error. */
        r = proxmox_run(
                (char *[]){ (char *) "pvesh",
                            (char *) "get",
                            (char *) "/cluster/mapping/pci",
                            (char *) "--output-format",
                            (char *) "json",
                            NULL },
                &list,
                NULL);
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
        r = proxmox_run(
                (char *[]){ (char *) "pvesh",
                            (char *) "get",
                            path,
                            (char *) "--output-format",
                            (char *) "json",
                            NULL },
                &out,
                NULL);
        if (r < 0)
                return r;
        r = pci_mapping_from_json(out, ret);
        if (r < 0)
                return r;
        return 1;
}
