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
        *e = (ServiceEnv){};
}

int unit_environment_split(const char *value, char ***ret) {
        _cleanup_strv_free_ char **l = NULL;
        const char *p = value, *end;
        size_t n_words = 0, allocated = 1;
        int r;

        if (!value || !ret)
                return -EINVAL;
        end = value + strlen(value);
        l = calloc(allocated, sizeof(char *));
        if (!l)
                return -ENOMEM;

        for (;;) {
                _cleanup_free_ char *w = NULL;
                size_t n = 0, a = (size_t) (end - p) + 1; /* a word is no longer than what is left */
                char q = 0;

                p += strspn(p, " \t");
                if (!*p)
                        break;
                w = malloc(a);
                if (!w)
                        return -ENOMEM;
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
                r = strv_push(&l, &n_words, &allocated, TAKE_PTR(w));
                if (r < 0)
                        return r;
        }
        *ret = TAKE_PTR(l);
        return 0;
}

/* Sets or replaces KEY=VALUE in env. */
static int env_set(char ***env, const char *assignment) {
        size_t k = strcspn(assignment, "=");

        STRV_FOREACH(s, *env)
                if (strneq(*s, assignment, k) && (*s)[k] == '=') {
                        char *c = strdup(assignment);
                        if (!c)
                                return -ENOMEM;
                        free(*s);
                        *s = c;
                        return 0;
                }
        return strv_consume(env, strdup(assignment));
}

int service_env_apply(FILE *f, ServiceEnv *e) {
        _cleanup_free_ char *line = NULL, *joined = NULL;
        bool in_service = false;
        size_t sz = 0;
        int r;

        if (!f || !e)
                return -EINVAL;
        if (!e->env) {
                e->env = calloc(1, sizeof(char *));
                if (!e->env)
                        return -ENOMEM;
        }
        while (getline(&line, &sz, f) >= 0) {
                char *l, *eq, *key, *value;
                size_t n;

                /* Continuation lines: a trailing backslash joins the next line. */
                line[strcspn(line, "\n")] = 0;
                n = strlen(line);
                if (n > 0 && line[n - 1] == '\\') {
                        char *j;
                        line[n - 1] = ' ';
                        if (asprintf(&j, "%s%s", strempty(joined), line) < 0)
                                return -ENOMEM;
                        free(joined);
                        joined = j;
                        continue;
                }
                if (joined) {
                        char *j;
                        if (asprintf(&j, "%s%s", joined, line) < 0)
                                return -ENOMEM;
                        joined = mfree(joined);
                        free(line);
                        line = j;
                        sz = strlen(j) + 1;
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
                                strv_free(e->env);
                                e->env = calloc(1, sizeof(char *));
                                if (!e->env)
                                        return -ENOMEM;
                                continue;
                        }
                        if (unit_environment_split(value, &words) < 0)
                                continue;
                        STRV_FOREACH(w, words) {
                                r = env_set(&e->env, *w);
                                if (r < 0)
                                        return r;
                        }
                } else if (streq(key, "EnvironmentFile") && *value) {
                        r = strv_consume(&e->env_files, strdup(value));
                        if (r < 0)
                                return r;
                }
        }
        return 0;
}

static int apply_unit_file(const char *root, const char *path, ServiceEnv *e) {
        _cleanup_fclose_ FILE *f = NULL;
        int r;

        r = guest_root_fopen(root, path, &f);
        if (r < 0)
                return r;
        r = strv_consume(&e->files, strdup(path));
        if (r < 0)
                return r;
        return service_env_apply(f, e);
}

static int name_cmp(const void *a, const void *b) {
        const char *const *x = a, *const *y = b;
        const char *bx = strrchr(*x, '/'), *by = strrchr(*y, '/');
        return strcmp(bx ? bx + 1 : *x, by ? by + 1 : *y);
}

static bool has_suffix(const char *s, const char *suffix) {
        size_t a = strlen(s), b = strlen(suffix);
        return a >= b && streq(s + a - b, suffix);
}

int service_env_read(const char *root, const char *unit, ServiceEnv *ret) {
        _cleanup_strv_free_ char **dropins = NULL;
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
                r = apply_unit_file(root, p, &e);
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
                        bool dup = false;
                        char *p;

                        if (de->d_name[0] == '.' || !has_suffix(de->d_name, ".conf"))
                                continue;
                        STRV_FOREACH(x, dropins)
                                if (streq(strrchr(*x, '/') + 1, de->d_name))
                                        dup = true;
                        if (dup)
                                continue;
                        if (asprintf(&p, "%s/%s", rel, de->d_name) < 0)
                                p = NULL;
                        r = strv_consume(&dropins, p);
                        if (r < 0) {
                                closedir(dir);
                                goto fail;
                        }
                }
                closedir(dir);
        }
        if (dropins)
                qsort(dropins, strv_length(dropins), sizeof(char *), name_cmp);
        STRV_FOREACH(p, dropins) {
                r = apply_unit_file(root, *p, &e);
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

int parse_go_bool(const char *s) {
        static const char *const yes[] = { "1", "t", "T", "TRUE", "true", "True" };
        static const char *const no[] = { "0", "f", "F", "FALSE", "false", "False" };

        if (!s)
                return -EINVAL;
        FOREACH_ARRAY(y, yes, ELEMENTSOF(yes))
                if (streq(s, *y))
                        return 1;
        FOREACH_ARRAY(n, no, ELEMENTSOF(no))
                if (streq(s, *n))
                        return 0;
        return -EINVAL;
}
