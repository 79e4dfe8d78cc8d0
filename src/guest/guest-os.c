/* SPDX-License-Identifier: GPL-2.0-or-later */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guest-os.h"
#include "macro.h"
#include "util.h"

int guest_root_path(const char *root, const char *path, char **ret) {
        char *p;

        if (!path || path[0] != '/' || !ret)
                return -EINVAL;
        p = path_under_root(root, path);
        if (!p)
                return -ENOMEM;
        *ret = p;
        return 0;
}

int guest_root_fopen(const char *root, const char *path, FILE **ret) {
        _cleanup_free_ char *p = NULL;
        FILE *f;
        int r;

        r = guest_root_path(root, path, &p);
        if (r < 0)
                return r;
        f = fopen(p, "re");
        if (!f)
                return negative_errno();
        *ret = f;
        return 0;
}

void os_release_done(OsRelease *o) {
        if (!o)
                return;
        free(o->id);
        free(o->id_like);
        free(o->version_id);
        free(o->pretty_name);
        *o = (OsRelease){};
}

int os_release_unquote(const char *value, char **ret) {
        _cleanup_free_ char *s = NULL;
        size_t n, i, j = 0;
        char q = 0;

        if (!value || !ret)
                return -EINVAL;
        n = strlen(value);
        s = malloc(n + 1);
        if (!s)
                return -ENOMEM;
        for (i = 0; i < n; i++) {
                char c = value[i];

                if (q) {
                        if (c == q) {
                                q = 0;
                                continue;
                        }
                        if (q == '"' && c == '\\' && i + 1 < n && strchr("\"\\$`", value[i + 1]))
                                c = value[++i];
                } else if (c == '"' || c == '\'') {
                        q = c;
                        continue;
                } else if (c == '\\' && i + 1 < n)
                        c = value[++i];
                else if (c == ' ' || c == '\t' || c == '#')
                        break;
                s[j++] = c;
        }
        if (q)
                return -EINVAL;
        s[j] = 0;
        *ret = TAKE_PTR(s);
        return 0;
}

int os_release_parse(FILE *f, OsRelease *ret) {
        _cleanup_free_ char *line = NULL;
        OsRelease o = {};
        const struct {
                const char *key;
                char **field;
        } keys[] = {
                { "ID", &o.id },
                { "ID_LIKE", &o.id_like },
                { "VERSION_ID", &o.version_id },
                { "PRETTY_NAME", &o.pretty_name },
        };
        size_t sz = 0;

        if (!f || !ret)
                return -EINVAL;
        while (getline(&line, &sz, f) >= 0) {
                char *eq, **field = NULL, *v = NULL;

                line[strcspn(line, "\n")] = 0;
                eq = strchr(line, '=');
                if (!eq || line[0] == '#')
                        continue;
                *eq = 0;
                FOREACH_ARRAY(k, keys, ELEMENTSOF(keys))
                        if (streq(line, k->key))
                                field = k->field;
                if (!field)
                        continue;
                if (os_release_unquote(eq + 1, &v) < 0)
                        continue; /* a bad line is skipped, like systemd does */
                free(*field);
                *field = v;
        }
        *ret = o;
        return 0;
}

int os_release_read(const char *root, OsRelease *ret) {
        _cleanup_fclose_ FILE *f = NULL;
        int r;

        if (!ret)
                return -EINVAL;
        r = guest_root_fopen(root, "/etc/os-release", &f);
        if (r == -ENOENT)
                r = guest_root_fopen(root, "/usr/lib/os-release", &f);
        if (r < 0)
                return r;
        return os_release_parse(f, ret);
}

static bool os_is_like(const OsRelease *os, const char *id) {
        const char *p;
        size_t n = strlen(id);

        if (!os)
                return false;
        if (streq_ptr(os->id, id))
                return true;
        for (p = os->id_like; p && *p;) {
                size_t l = strcspn(p, " ");
                if (l == n && strneq(p, id, n))
                        return true;
                p += l;
                p += strspn(p, " ");
        }
        return false;
}

int gpu_driver_package_hint(const OsRelease *os, uint16_t vendor, char **ret) {
        const char *s;
        bool amd = vendor == 0x1002, nvidia = vendor == 0x10de, intel = vendor == 0x8086;

        if (!ret)
                return -EINVAL;

        if (os && streq_ptr(os->id, "ubuntu")) {
                /* Ubuntu's cloud/virtual kernels ship amdgpu and i915 in linux-modules-extra. */
                if (nvidia)
                        s = "install the NVIDIA driver: ubuntu-drivers install (or apt-get install "
                            "nvidia-driver-<version>)";
                else
                        s = "apt-get install linux-modules-extra-$(uname -r) linux-firmware";
        } else if (os_is_like(os, "debian") && !(os && streq_ptr(os->id, "ubuntu"))) {
                /* Debian: the modules are in the kernel package; the firmware is in non-free-firmware. */
                if (amd)
                        s = "apt-get install firmware-amd-graphics (Debian's non-free-firmware component)";
                else if (nvidia)
                        s = "apt-get install nvidia-driver (Debian's non-free component)";
                else if (intel)
                        s = "apt-get install firmware-misc-nonfree (Debian's non-free-firmware component)";
                else
                        s = "install the GPU's kernel driver and firmware packages";
        } else if (os_is_like(os, "fedora") || os_is_like(os, "rhel")) {
                if (nvidia)
                        s = "dnf install akmod-nvidia (RPM Fusion)";
                else
                        s = "dnf install kernel-modules linux-firmware";
        } else if (os_is_like(os, "arch")) {
                if (nvidia)
                        s = "pacman -S nvidia";
                else
                        s = "pacman -S linux-firmware";
        } else
                s = nvidia ? "install the NVIDIA driver for this distribution"
                           : "install the kernel modules and linux-firmware packages of this distribution";

        return strdup_to(ret, s);
}

void guest_user_done(GuestUser *u) {
        if (!u)
                return;
        free(u->name);
        free(u->groups);
        *u = (GuestUser){};
}

static int parse_id(const char *s, unsigned long *ret) {
        char *end;
        unsigned long v;

        if (!s || !*s)
                return -EINVAL;
        errno = 0;
        v = strtoul(s, &end, 10);
        if (errno != 0 || *end || v > UINT32_MAX - 1)
                return -EINVAL;
        *ret = v;
        return 0;
}

/* Splits "a:b:c" in place into at most n fields; returns the count. */
static size_t split_colon(char *s, char **fields, size_t n) {
        size_t i = 0;

        while (i < n) {
                fields[i++] = s;
                s = strchr(s, ':');
                if (!s)
                        break;
                *s++ = 0;
        }
        return i;
}

static bool member_list_contains(const char *list, const char *name) {
        size_t n = strlen(name);

        for (const char *p = list; p && *p;) {
                size_t l = strcspn(p, ",");
                if (l == n && strneq(p, name, n))
                        return true;
                p += l;
                if (*p == ',')
                        p++;
        }
        return false;
}

/* Appends g, doubling the room when needed; no check for a repeat (gids_uniq() takes those out). */
static int gid_push(GuestUser *u, gid_t g) {
        if (ARRAY_RESERVE(u->groups, u->n_groups_allocated, u->n_groups + 1) < 0)
                return -ENOMEM;
        u->groups[u->n_groups++] = g;
        return 0;
}

static int cmp_gid_index(const void *a, const void *b, void *groups) {
        const gid_t *g = groups;
        size_t x = *(const size_t *) a, y = *(const size_t *) b;

        if (g[x] != g[y])
                return g[x] < g[y] ? -1 : 1;
        return x < y ? -1 : x > y;
}

/* Takes out the later copies of groups listed more than once, keeping the first in place and the order:
 * through a sorted index, where a search of the list per group is quadratic. */
static int gids_uniq(GuestUser *u) {
        _cleanup_free_ size_t *idx = NULL;
        _cleanup_free_ bool *drop = NULL;
        size_t k = 0;

        if (u->n_groups < 2)
                return 0;
        idx = reallocarray(NULL, u->n_groups, sizeof(size_t));
        drop = calloc(u->n_groups, sizeof(bool));
        if (!idx || !drop)
                return -ENOMEM;
        for (size_t i = 0; i < u->n_groups; i++)
                idx[i] = i;
        qsort_r(idx, u->n_groups, sizeof(size_t), cmp_gid_index, u->groups);
        for (size_t i = 1; i < u->n_groups; i++)
                drop[idx[i]] = u->groups[idx[i]] == u->groups[idx[i - 1]];
        for (size_t i = 0; i < u->n_groups; i++)
                if (!drop[i])
                        u->groups[k++] = u->groups[i];
        u->n_groups = k;
        return 0;
}

int guest_passwd_find(FILE *f, const char *name, uid_t uid, GuestUser *ret) {
        _cleanup_free_ char *line = NULL;
        size_t sz = 0;

        if (!f || !ret)
                return -EINVAL;
        while (getline(&line, &sz, f) >= 0) {
                char *fld[7], *n;
                unsigned long pu, pg;

                line[strcspn(line, "\n")] = 0;
                if (split_colon(line, fld, 7) < 4)
                        continue;
                if (parse_id(fld[2], &pu) < 0 || parse_id(fld[3], &pg) < 0)
                        continue;
                if (name ? !streq(fld[0], name) : (uid_t) pu != uid)
                        continue;
                n = strdup(fld[0]);
                if (!n)
                        return -ENOMEM;
                *ret = (GuestUser){ .name = n, .uid = (uid_t) pu, .gid = (gid_t) pg };
                return 0;
        }
        return -ENOENT;
}

int guest_group_add_memberships(FILE *f, GuestUser *u) {
        _cleanup_free_ char *line = NULL;
        size_t sz = 0;
        int r;

        if (!f || !u || !u->name)
                return -EINVAL;
        while (getline(&line, &sz, f) >= 0) {
                char *fld[4];
                unsigned long g;

                line[strcspn(line, "\n")] = 0;
                if (split_colon(line, fld, 4) < 4 || parse_id(fld[2], &g) < 0)
                        continue;
                if (!member_list_contains(fld[3], u->name))
                        continue;
                r = gid_push(u, (gid_t) g);
                if (r < 0)
                        return r;
        }
        return gids_uniq(u);
}

int guest_user_lookup(const char *root, const char *name, uid_t uid, GuestUser *ret) {
        _cleanup_(guest_user_done) GuestUser u = {};
        _cleanup_fclose_ FILE *f = NULL;
        int r;

        if (!ret)
                return -EINVAL;
        r = guest_root_fopen(root, "/etc/passwd", &f);
        if (r < 0)
                return r;
        r = guest_passwd_find(f, name, uid, &u);
        if (r < 0)
                return r;
        fclose(TAKE_PTR(f));

        r = gid_push(&u, u.gid);
        if (r < 0)
                return r;
        r = guest_root_fopen(root, "/etc/group", &f);
        if (r >= 0) {
                r = guest_group_add_memberships(f, &u);
                if (r < 0)
                        return r;
        } else if (r != -ENOENT)
                return r;

        *ret = u;
        u = (GuestUser){};
        return 0;
}

int guest_group_find_name(FILE *f, gid_t gid, char **ret) {
        _cleanup_free_ char *line = NULL;
        size_t sz = 0;

        if (!f || !ret)
                return -EINVAL;
        while (getline(&line, &sz, f) >= 0) {
                char *fld[4];
                unsigned long g;

                line[strcspn(line, "\n")] = 0;
                if (split_colon(line, fld, 4) < 3 || parse_id(fld[2], &g) < 0 || (gid_t) g != gid)
                        continue;
                return strdup_to(ret, fld[0]);
        }
        return -ENOENT;
}

int guest_group_name(const char *root, gid_t gid, char **ret) {
        _cleanup_fclose_ FILE *f = NULL;
        int r;

        if (!ret)
                return -EINVAL;
        r = guest_root_fopen(root, "/etc/group", &f);
        if (r < 0)
                return r;
        return guest_group_find_name(f, gid, ret);
}

bool guest_user_in_group(const GuestUser *u, gid_t gid) {
        for (size_t i = 0; i < u->n_groups; i++)
                if (u->groups[i] == gid)
                        return true;
        return false;
}

bool guest_user_can_open(const GuestUser *u, uid_t node_uid, gid_t node_gid, unsigned mode) {
        if (u->uid == 0)
                return true;
        if (u->uid == node_uid)
                return (mode & 0600) == 0600;
        if (guest_user_in_group(u, node_gid))
                return (mode & 0060) == 0060;
        return (mode & 0006) == 0006;
}
