/* SPDX-License-Identifier: GPL-2.0-or-later */

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guest-os.h"
#include "guest-service.h"
#include "macro.h"
#include "util.h"

static const char *const unit_dirs[] = {
        "/etc/systemd/system",
        "/run/systemd/system",
        "/usr/lib/systemd/system",
        "/lib/systemd/system",
};

void service_env_done(ServiceEnv *e) {
        if (!e)
                return;
        strv_free(e->env);
        strv_free(e->files);
        strv_free(e->env_files);
        free(e->env_slots);
        *e = (ServiceEnv){};
}

int unit_environment_split(const char *value, char ***ret) {
        _cleanup_strv_free_ char **l = NULL;
        _cleanup_free_ char *w = NULL;
        const char *p = value;
        size_t n_words = 0, allocated = 1;
        int r;

        if (!value || !ret)
                return -EINVAL;
        l = calloc(allocated, sizeof(char *));
        /* One buffer for every word, as long as the value: a word is no longer. */
        w = malloc(strlen(value) + 1);
        if (!l || !w)
                return -ENOMEM;

        for (;;) {
                size_t n = 0;
                char q = 0;

                p += strspn(p, " \t");
                if (!*p)
                        break;
                for (; *p; p++) {
                        char c = *p;

                        if (q) {
                                if (c == q) {
                                        q = 0;
                                        continue;
                                }
                        } else if (c == '"' || c == '\'') {
                                q = c;
                                continue;
                        } else if (c == ' ' || c == '\t')
                                break;
                        if (c == '\\' && p[1] && q != '\'') {
                                p++;
                                switch (*p) {
                                case 'n':
                                        c = '\n';
                                        break;
                                case 't':
                                        c = '\t';
                                        break;
                                default:
                                        c = *p;
                                }
                        }
                        w[n++] = c;
                }
                if (q)
                        return -EINVAL; /* unbalanced quote: systemd ignores the whole line */
                w[n] = 0;
                if (!strchr(w, '=') || w[0] == '=')
                        continue;
                r = strv_push(&l, &n_words, &allocated, strdup(w));
                if (r < 0)
                        return r;
        }
        *ret = TAKE_PTR(l);
        return 0;
}

/* The slot of e->env_slots that holds the assignment of key s (k bytes), or the free one where it goes. */
static size_t *env_slot(const ServiceEnv *e, const char *s, size_t k) {
        size_t mask = e->n_env_slots - 1;

        for (size_t i = string_hash(s, k) & mask;; i = (i + 1) & mask) {
                size_t *slot = &e->env_slots[i];
                const char *x;

                if (*slot == 0)
                        return slot;
                x = e->env[*slot - 1];
                if (strneq(x, s, k) && x[k] == '=')
                        return slot;
        }
}

/* Makes room in the hash table for one more key: at most half full, doubling, the keys put in again. */
static int env_slots_reserve(ServiceEnv *e) {
        size_t n;

        if ((e->n_env + 1) * 2 <= e->n_env_slots)
                return 0;
        n = MAX(e->n_env_slots * 2, (size_t) 16);
        free(e->env_slots);
        e->env_slots = calloc(n, sizeof(size_t));
        e->n_env_slots = e->env_slots ? n : 0;
        if (!e->env_slots)
                return -ENOMEM;
        for (size_t i = 0; i < e->n_env; i++)
                *env_slot(e, e->env[i], strcspn(e->env[i], "=")) = i + 1;
        return 0;
}

/* Empties e->env ("Environment=" alone). */
static int env_reset(ServiceEnv *e) {
        strv_free(e->env);
        e->env_slots = mfree(e->env_slots);
        e->n_env = e->n_env_slots = 0;
        e->n_env_allocated = 1;
        e->env = calloc(1, sizeof(char *));
        return e->env ? 0 : -ENOMEM;
}

/* Sets or replaces KEY=VALUE in e->env: found through the hash table, appended by doubling. */
static int env_set(ServiceEnv *e, const char *assignment) {
        size_t k = strcspn(assignment, "="), *slot;
        char *c;
        int r;

        r = env_slots_reserve(e);
        if (r < 0)
                return r;
        c = strdup(assignment);
        if (!c)
                return -ENOMEM;
        slot = env_slot(e, assignment, k);
        if (*slot != 0) {
                free(e->env[*slot - 1]);
                e->env[*slot - 1] = c;
                return 0;
        }
        r = strv_push(&e->env, &e->n_env, &e->n_env_allocated, c);
        if (r < 0)
                return r;
        *slot = e->n_env;
        return 0;
}

/* Appends k bytes of s to the string *buf of length *n in room for *allocated, doubling the room. */
static int buf_append(char **buf, size_t *n, size_t *allocated, const char *s, size_t k) {
        if (ARRAY_RESERVE(*buf, *allocated, *n + k + 1) < 0)
                return -ENOMEM;
        memcpy(*buf + *n, s, k);
        *n += k;
        (*buf)[*n] = 0;
        return 0;
}

int service_env_apply(FILE *f, ServiceEnv *e) {
        _cleanup_free_ char *line = NULL, *joined = NULL;
        size_t n_joined = 0, joined_allocated = 0;
        bool in_service = false;
        size_t sz = 0;
        int r;

        if (!f || !e)
                return -EINVAL;
        if (!e->env) {
                r = env_reset(e);
                if (r < 0)
                        return r;
        }
        while (getline(&line, &sz, f) >= 0) {
                char *l, *eq, *key, *value;
                size_t n;

                /* Continuation lines: a trailing backslash joins the next line. Appended to one buffer
                 * that doubles, not copied again for each line. */
                line[strcspn(line, "\n")] = 0;
                n = strlen(line);
                if (n > 0 && line[n - 1] == '\\') {
                        line[n - 1] = ' ';
                        r = buf_append(&joined, &n_joined, &joined_allocated, line, n);
                        if (r < 0)
                                return r;
                        continue;
                }
                if (joined) {
                        r = buf_append(&joined, &n_joined, &joined_allocated, line, n);
                        if (r < 0)
                                return r;
                        free(line);
                        line = TAKE_PTR(joined);
                        sz = joined_allocated;
                        n_joined = joined_allocated = 0;
                }

                l = strstrip(line);
                if (!*l || *l == '#' || *l == ';')
                        continue;
                if (*l == '[') {
                        in_service = streq(l, "[Service]");
                        continue;
                }
                if (!in_service)
                        continue;
                eq = strchr(l, '=');
                if (!eq)
                        continue;
                *eq = 0;
                key = strstrip(l);
                value = strstrip(eq + 1);

                if (streq(key, "Environment")) {
                        _cleanup_strv_free_ char **words = NULL;

                        if (!*value) {
                                r = env_reset(e);
                                if (r < 0)
                                        return r;
                                continue;
                        }
                        if (unit_environment_split(value, &words) < 0)
                                continue;
                        STRV_FOREACH(w, words) {
                                r = env_set(e, *w);
                                if (r < 0)
                                        return r;
                        }
                } else if (streq(key, "EnvironmentFile") && *value) {
                        r = strv_push(
                                &e->env_files,
                                &e->n_env_files,
                                &e->n_env_files_allocated,
                                strdup(value));
                        if (r < 0)
                                return r;
                }
        }
        return 0;
}

/* Applies the file at path, which goes to e->files, of length *n_files in room for *allocated. */
static int apply_unit_file(
        const char *root,
        const char *path,
        ServiceEnv *e,
        size_t *n_files,
        size_t *allocated) {
        _cleanup_fclose_ FILE *f = NULL;
        int r;

        r = guest_root_fopen(root, path, &f);
        if (r < 0)
                return r;
        r = strv_push(&e->files, n_files, allocated, strdup(path));
        if (r < 0)
                return r;
        return service_env_apply(f, e);
}

static bool has_suffix(const char *s, const char *suffix) {
        size_t a = strlen(s), b = strlen(suffix);
        return a >= b && streq(s + a - b, suffix);
}

static const char *dropin_name(const char *path) {
        const char *b = strrchr(path, '/');
        return b ? b + 1 : path;
}

/* By file name, then by the order found (the folder's rank). */
static int cmp_dropin(const void *a, const void *b, void *paths) {
        char **l = paths;
        size_t x = *(const size_t *) a, y = *(const size_t *) b;
        int c = strcmp(dropin_name(l[x]), dropin_name(l[y]));

        return c != 0 ? c : x < y ? -1 : x > y;
}

/* Sorts the drop-ins (n of them, in the order of their folders) by file name, keeping of each name the
 * first folder's: one sort, where a search of the list per file found is quadratic. */
static int dropins_sort_uniq(char **l, size_t n) {
        _cleanup_free_ size_t *idx = NULL;
        _cleanup_free_ char **sorted = NULL;
        size_t k = 0;

        if (n == 0)
                return 0;
        idx = reallocarray(NULL, n, sizeof(size_t));
        sorted = reallocarray(NULL, n, sizeof(char *));
        if (!idx || !sorted)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++)
                idx[i] = i;
        qsort_r(idx, n, sizeof(size_t), cmp_dropin, l);
        for (size_t i = 0; i < n; i++)
                if (k > 0 && streq(dropin_name(l[idx[i]]), dropin_name(sorted[k - 1])))
                        free(l[idx[i]]);
                else
                        sorted[k++] = l[idx[i]];
        memcpy(l, sorted, k * sizeof(char *));
        l[k] = NULL;
        return 0;
}

int service_env_read(const char *root, const char *unit, ServiceEnv *ret) {
        _cleanup_strv_free_ char **dropins = NULL;
        size_t n_dropins = 0, dropins_allocated = 0, n_files = 0, files_allocated = 0;
        ServiceEnv e = {};
        bool found = false;
        int r;

        if (!unit || !ret)
                return -EINVAL;
        e.env = calloc(1, sizeof(char *));
        if (!e.env)
                return -ENOMEM;

        /* The unit file: the first one found hides the others. */
        FOREACH_ARRAY(d, unit_dirs, ELEMENTSOF(unit_dirs)) {
                _cleanup_free_ char *p = NULL;

                if (asprintf(&p, "%s/%s", *d, unit) < 0) {
                        r = -ENOMEM;
                        goto fail;
                }
                r = apply_unit_file(root, p, &e, &n_files, &files_allocated);
                if (r == -ENOENT)
                        continue;
                if (r < 0)
                        goto fail;
                found = true;
                break;
        }

        /* Drop-ins: by file name across the folders; the first folder's file of a name wins. */
        FOREACH_ARRAY(d, unit_dirs, ELEMENTSOF(unit_dirs)) {
                _cleanup_free_ char *rel = NULL, *full = NULL;
                DIR *dir;
                struct dirent *de;

                if (asprintf(&rel, "%s/%s.d", *d, unit) < 0) {
                        r = -ENOMEM;
                        goto fail;
                }
                r = guest_root_path(root, rel, &full);
                if (r < 0)
                        goto fail;
                dir = opendir(full);
                if (!dir)
                        continue;
                while ((de = readdir(dir))) {
                        char *p;

                        if (de->d_name[0] == '.' || !has_suffix(de->d_name, ".conf"))
                                continue;
                        if (asprintf(&p, "%s/%s", rel, de->d_name) < 0)
                                p = NULL;
                        r = strv_push(&dropins, &n_dropins, &dropins_allocated, p);
                        if (r < 0) {
                                closedir(dir);
                                goto fail;
                        }
                }
                closedir(dir);
        }
        /* Each name once, the first folder's, in the order of the names. */
        r = dropins_sort_uniq(dropins, n_dropins);
        if (r < 0)
                goto fail;
        STRV_FOREACH(p, dropins) {
                r = apply_unit_file(root, *p, &e, &n_files, &files_allocated);
                if (r == -ENOENT)
                        continue;
                if (r < 0)
                        goto fail;
                found = true;
        }

        if (!found) {
                r = -ENOENT;
                goto fail;
        }
        *ret = e;
        return 0;
fail:
        service_env_done(&e);
        return r;
}

int ollama_service_env(const char *root, ServiceEnv *ret) {
        return service_env_read(root, "ollama.service", ret);
}

const char *service_env_get(const ServiceEnv *e, const char *key) {
        size_t k;

        if (!e || !key)
                return NULL;
        k = strlen(key);
        STRV_FOREACH(s, e->env)
                if (strneq(*s, key, k) && (*s)[k] == '=')
                        return *s + k + 1;
        return NULL;
}
