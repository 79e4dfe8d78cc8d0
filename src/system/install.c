/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <ctype.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "sha256.h"
#include "install.h"
#include "util.h"

typedef struct ManifestEntry {
        char kind;   /* 'f' file, 'l' link, 'd' folder */
        char *path;  /* absolute, without the root */
        char *value; /* hash for 'f', target for 'l', NULL for 'd' */
} ManifestEntry;

typedef struct Manifest {
        ManifestEntry *e;
        size_t n, allocated; /* e grows by doubling */
} Manifest;

static void manifest_done(Manifest *m) {
        FOREACH_ARRAY(i, m->e, m->n) {
                free(i->path);
                free(i->value);
        }
        free(m->e);
        *m = (Manifest){};
}

static ManifestEntry *manifest_find(Manifest *m, char kind, const char *path) {
        FOREACH_ARRAY(i, m->e, m->n)
                if (i->kind == kind && streq(i->path, path))
                        return i;
        return NULL;
}

/* Appends without looking for an earlier entry: manifest_dedup() afterwards. */
static int manifest_append(Manifest *m, char kind, const char *path, const char *value) {
        char *p, *v = NULL;

        if (value) {
                v = strdup(value);
                if (!v)
                        return -ENOMEM;
        }
        p = strdup(path);
        if (!p || ARRAY_RESERVE(m->e, m->allocated, m->n + 1) < 0) {
                free(p);
                free(v);
                return -ENOMEM;
        }
        m->e[m->n++] = (ManifestEntry){ kind, p, v };
        return 0;
}

static int manifest_set(Manifest *m, char kind, const char *path, const char *value) {
        ManifestEntry *e = manifest_find(m, kind, path);
        char *v = NULL;

        if (!e)
                return manifest_append(m, kind, path, value);
        if (value) {
                v = strdup(value);
                if (!v)
                        return -ENOMEM;
        }
        free(e->value);
        e->value = v;
        return 0;
}

static int entry_ptr_cmp(const void *a, const void *b) {
        const ManifestEntry *x = *(const ManifestEntry *const *) a, *y = *(const ManifestEntry *const *) b;
        int c;

        if (x->kind != y->kind)
                return x->kind < y->kind ? -1 : 1;
        c = strcmp(x->path, y->path);
        if (c != 0)
                return c;
        return x < y ? -1 : x > y; /* by position: the first one leads its run */
}

/* Leaves one entry per kind and path, as manifest_set() one by one would have: in the place of the first,
 * with the value of the last. Sorts an index, so O(n log n). */
static int manifest_dedup(Manifest *m) {
        _cleanup_free_ ManifestEntry **idx = NULL;
        size_t k = 0;

        if (m->n < 2)
                return 0;
        idx = malloc(sizeof(ManifestEntry *) * m->n);
        if (!idx)
                return -ENOMEM;
        for (size_t i = 0; i < m->n; i++)
                idx[i] = &m->e[i];
        qsort(idx, m->n, sizeof(ManifestEntry *), entry_ptr_cmp);
        for (size_t i = 0, j; i < m->n; i = j) {
                ManifestEntry *first = idx[i];

                for (j = i + 1; j < m->n && first->kind == idx[j]->kind && streq(first->path, idx[j]->path);
                     j++) {
                        free(first->value);
                        first->value = TAKE_PTR(idx[j]->value);
                        idx[j]->path = mfree(idx[j]->path); /* dropped below */
                }
        }
        for (size_t i = 0; i < m->n; i++)
                if (m->e[i].path)
                        m->e[k++] = m->e[i];
        m->n = k;
        return 0;
}

static void manifest_remove(Manifest *m, ManifestEntry *e) {
        size_t i = (size_t) (e - m->e);

        free(e->path);
        free(e->value);
        memmove(m->e + i, m->e + i + 1, (m->n - i - 1) * sizeof(ManifestEntry));
        m->n--;
}

/* Paths in the manifest: absolute, no whitespace or control characters, no "." or ".." parts. */
static bool manifest_path_valid(const char *p) {
        if (!p || p[0] != '/' || strlen(p) > 4096)
                return false;
        for (const char *c = p; *c; c++)
                if ((unsigned char) *c <= ' ' || *c == 0x7f)
                        return false;
        return !strstr(p, "/../") && !strstr(p, "/./") && !strstr(p, "//") &&
                !(strlen(p) >= 3 && streq(p + strlen(p) - 3, "/..")) &&
                !(strlen(p) >= 2 && streq(p + strlen(p) - 2, "/."));
}

static bool hash_valid(const char *h) {
        if (strlen(h) != SHA256_HEX_SIZE - 1)
                return false;
        for (const char *c = h; *c; c++)
                if (!isxdigit((unsigned char) *c) || isupper((unsigned char) *c))
                        return false;
        return true;
}

/* Lines that do not parse are skipped: what is not listed is never removed. */
static int manifest_parse(const char *text, Manifest *m) {
        _cleanup_strv_free_ char **lines = NULL;
        int r;

        r = strv_split(text, "\n", &lines);
        if (r < 0)
                return r;
        STRV_FOREACH(l, lines) {
                _cleanup_strv_free_ char **w = NULL;

                if (**l == '#')
                        continue;
                r = strv_split(*l, " \t", &w);
                if (r < 0)
                        return r;
                if (strv_length(w) == 3 && streq(w[0], "file") && hash_valid(w[1]) &&
                    manifest_path_valid(w[2]))
                        r = manifest_append(m, 'f', w[2], w[1]);
                else if (strv_length(w) == 3 && streq(w[0], "link") && manifest_path_valid(w[2]))
                        r = manifest_append(m, 'l', w[2], w[1]);
                else if (strv_length(w) == 2 && streq(w[0], "dir") && manifest_path_valid(w[1]))
                        r = manifest_append(m, 'd', w[1], NULL);
                else
                        r = 0;
                if (r < 0)
                        return r;
        }
        /* A path listed again: the last line's value, in the first line's place (as manifest_set()). */
        return manifest_dedup(m);
}

static int manifest_format(const Manifest *m, char **ret) {
        _cleanup_free_ char *buf = NULL;
        size_t size = 0;
        FILE *f;

        f = open_memstream(&buf, &size);
        if (!f)
                return -ENOMEM;
        fputs("# Written by egpuctl install: what it wrote, for egpuctl uninstall. Do not edit.\n"
              "# file SHA256 PATH | link TARGET PATH | dir PATH\n",
              f);
        /* Files and links first, folders last: the order uninstall removes them in. */
        FOREACH_ARRAY(e, m->e, m->n)
                if (e->kind == 'f')
                        fprintf(f, "file %s %s\n", e->value, e->path);
        FOREACH_ARRAY(e, m->e, m->n)
                if (e->kind == 'l')
                        fprintf(f, "link %s %s\n", e->value, e->path);
        FOREACH_ARRAY(e, m->e, m->n)
                if (e->kind == 'd')
                        fprintf(f, "dir %s\n", e->path);
        if (fclose(f) != 0)
                return -ENOMEM;
        *ret = TAKE_PTR(buf);
        return 0;
}

void install_item_done(InstallItem *i) {
        free(i->path);
        free(i->content);
        free(i->target);
        *i = (InstallItem){};
}

void install_items_free(InstallItem *items, size_t n) {
        for (size_t i = 0; i < n; i++)
                install_item_done(&items[i]);
        free(items);
}

static int items_add(InstallItem **items, size_t *n, InstallItem *it) {
        InstallItem *t = realloc(*items, (*n + 1) * sizeof(InstallItem));

        if (!t)
                return -ENOMEM;
        t[(*n)++] = *it;
        *items = t;
        *it = (InstallItem){};
        return 0;
}

int install_items_add_file(
        InstallItem **items,
        size_t *n,
        const char *path,
        const char *content,
        mode_t mode) {
        InstallItem it = { .kind = INSTALL_FILE, .mode = mode ?: 0644 };
        int r;

        if (!manifest_path_valid(path))
                return -EINVAL;
        it.path = strdup(path);
        it.content = content ? strdup(content) : NULL;
        if (!it.path || (content && !it.content)) {
                install_item_done(&it);
                return -ENOMEM;
        }
        r = items_add(items, n, &it);
        install_item_done(&it);
        return r;
}

int install_items_add_link(InstallItem **items, size_t *n, const char *path, const char *target) {
        InstallItem it = { .kind = INSTALL_LINK };
        int r;

        if (!manifest_path_valid(path) || !manifest_path_valid(target))
                return -EINVAL;
        it.path = strdup(path);
        it.target = strdup(target);
        if (!it.path || !it.target) {
                install_item_done(&it);
                return -ENOMEM;
        }
        r = items_add(items, n, &it);
        install_item_done(&it);
        return r;
}

static const char *const action_table[_INSTALL_ACTION_MAX] = {
        [INSTALL_UNCHANGED] = "unchanged",
        [INSTALL_CREATE] = "created",
        [INSTALL_UPDATE] = "updated",
        [INSTALL_REMOVE] = "removed",
        [INSTALL_KEEP_EDITED] = "kept (edited since egpuctl wrote it)",
        [INSTALL_KEEP_FOREIGN] = "kept (not written by egpuctl)",
        [INSTALL_FORGET] = "already gone",
};

const char *install_action_to_string(InstallAction a) {
        return string_table_get(action_table, _INSTALL_ACTION_MAX, a, NULL);
}

bool install_action_changes(InstallAction a) {
        return IN_SET(a, INSTALL_CREATE, INSTALL_UPDATE, INSTALL_REMOVE);
}

void install_results_free(InstallResult *r, size_t n) {
        for (size_t i = 0; i < n; i++) {
                free(r[i].path);
                free(r[i].old_text);
                free(r[i].new_text);
        }
        free(r);
}

typedef struct Results {
        InstallResult *r;
        size_t n;
} Results;

static int results_add(
        Results *res,
        const char *path,
        InstallKind kind,
        InstallAction action,
        const char *old_text,
        const char *new_text) {
        InstallResult x = { .kind = kind, .action = action }, *t;

        x.path = strdup(path);
        x.old_text = old_text ? strdup(old_text) : NULL;
        x.new_text = new_text ? strdup(new_text) : NULL;
        t = realloc(res->r, (res->n + 1) * sizeof(InstallResult));
        if (!x.path || (old_text && !x.old_text) || (new_text && !x.new_text) || !t) {
                if (t)
                        res->r = t;
                free(x.path);
                free(x.old_text);
                free(x.new_text);
                return -ENOMEM;
        }
        t[res->n++] = x;
        res->r = t;
        return 0;
}

/* What is at full now: *ret_type S_IFREG/S_IFLNK/other or 0 when absent; the content or link target. */
static int read_current(const char *full, mode_t *ret_type, char **ret_text) {
        struct stat st;
        int r;

        *ret_text = NULL;
        if (lstat(full, &st) < 0) {
                if (errno == ENOENT) {
                        *ret_type = 0;
                        return 0;
                }
                return negative_errno();
        }
        *ret_type = st.st_mode & S_IFMT;
        if (S_ISREG(st.st_mode)) {
                r = read_full_file(full, INSTALL_MAX_FILE_SIZE, ret_text, NULL);
                if (r < 0)
                        return r;
        } else if (S_ISLNK(st.st_mode)) {
                r = readlinkat_malloc(AT_FDCWD, full, ret_text);
                if (r < 0)
                        return r;
        }
        return 0;
}

static char *text_hash(const char *text) {
        char h[SHA256_HEX_SIZE];

        sha256_hex(text, strlen(text), h);
        return strdup(h);
}

/* Creates the missing folders above path (absolute, without root), recording them in the manifest. */
static int mkdir_parents(const char *root, const char *path, Manifest *m) {
        _cleanup_free_ char *p = strdup(path);
        int r;

        if (!p)
                return -ENOMEM;
        for (char *slash = strchr(p + 1, '/'); slash; slash = strchr(slash + 1, '/')) {
                _cleanup_free_ char *full = NULL;

                *slash = 0;
                full = path_under_root(root, p);
                if (!full)
                        return -ENOMEM;
                if (mkdir(full, 0755) >= 0) {
                        r = manifest_set(m, 'd', p, NULL);
                        if (r < 0)
                                return r;
                } else if (errno != EEXIST)
                        return negative_errno();
                *slash = '/';
        }
        return 0;
}

int install_write_atomic(const char *full, const char *content, mode_t mode) {
        _cleanup_free_ char *tmp = NULL;
        _cleanup_close_ int fd = -EBADF;
        size_t len = strlen(content), done = 0;
        const char *slash = strrchr(full, '/');

        if (asprintf(&tmp, "%.*s/.#egpuctl-XXXXXX", slash ? (int) (slash - full) : 1, slash ? full : ".") <
            0)
                return -ENOMEM;
        fd = mkostemp(tmp, O_CLOEXEC);
        if (fd < 0)
                return negative_errno();
        if (fchmod(fd, mode) < 0)
                goto fail;
        while (done < len) {
                ssize_t k = write(fd, content + done, len - done);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        goto fail;
                }
                done += (size_t) k;
        }
        if (fsync(fd) < 0)
                goto fail;
        if (rename(tmp, full) < 0)
                goto fail;
        return 0;
fail:;
        int r = negative_errno();
        (void) unlink(tmp);
        return r;
}

int install_mkdir_parents(const char *full) {
        _cleanup_free_ char *p = strdup(full);

        if (!p)
                return -ENOMEM;
        for (char *slash = strchr(p + 1, '/'); slash; slash = strchr(slash + 1, '/')) {
                *slash = 0;
                if (mkdir(p, 0755) < 0 && errno != EEXIST)
                        return negative_errno();
                *slash = '/';
        }
        return 0;
}

static int symlink_atomic(const char *full, const char *target) {
        _cleanup_free_ char *tmp = NULL;

        if (asprintf(&tmp, "%s.#egpuctl-%ld", full, (long) getpid()) < 0)
                return -ENOMEM;
        (void) unlink(tmp);
        if (symlink(target, tmp) < 0)
                return negative_errno();
        if (rename(tmp, full) < 0) {
                int r = negative_errno();
                (void) unlink(tmp);
                return r;
        }
        return 0;
}

static int save_manifest(const char *root, Manifest *m) {
        _cleanup_free_ char *full = path_under_root(root, INSTALL_MANIFEST_PATH), *text = NULL;
        int r;

        if (!full)
                return -ENOMEM;
        if (m->n == 0) {
                if (unlink(full) < 0 && errno != ENOENT)
                        return negative_errno();
                return 0;
        }
        r = mkdir_parents(root, INSTALL_MANIFEST_PATH, m);
        if (r < 0)
                return r;
        r = manifest_format(m, &text);
        if (r < 0)
                return r;
        return install_write_atomic(full, text, 0644);
}

static int cmp_len_desc(const void *a, const void *b) {
        size_t x = strlen(*(char *const *) a), y = strlen(*(char *const *) b);
        return (x < y) - (x > y);
}

/* Removes the recorded folders that are empty now, deepest first; keeps the entries of the others. */
static int remove_dirs(const char *root, Manifest *m) {
        _cleanup_strv_free_ char **dirs = NULL;
        size_t n = 0, allocated = 0;
        int r;

        FOREACH_ARRAY(e, m->e, m->n)
                if (e->kind == 'd') {
                        r = strv_push(&dirs, &n, &allocated, strdup(e->path));
                        if (r < 0)
                                return r;
                }
        if (!dirs)
                return 0;
        qsort(dirs, n, sizeof(char *), cmp_len_desc);
        STRV_FOREACH(d, dirs) {
                _cleanup_free_ char *full = path_under_root(root, *d);

                if (!full)
                        return -ENOMEM;
                if (rmdir(full) >= 0 || errno == ENOENT)
                        manifest_remove(m, manifest_find(m, 'd', *d));
        }
        return 0;
}

/* Removes (or keeps) one entry of the manifest that is no longer wanted. */
static int retire_entry(const char *root, Manifest *m, ManifestEntry *e, bool dry_run, Results *res) {
        _cleanup_free_ char *full = path_under_root(root, e->path), *cur = NULL, *h = NULL;
        _cleanup_free_ char *path = strdup(e->path);
        InstallKind kind = e->kind == 'l' ? INSTALL_LINK : INSTALL_FILE;
        InstallAction action;
        mode_t type;
        int r;

        if (!full || !path)
                return -ENOMEM;
        r = read_current(full, &type, &cur);
        if (r < 0)
                return r;
        if (type == 0)
                action = INSTALL_FORGET;
        else if (kind == INSTALL_FILE && type == S_IFREG) {
                h = text_hash(cur);
                if (!h)
                        return -ENOMEM;
                action = streq(h, e->value) ? INSTALL_REMOVE : INSTALL_KEEP_EDITED;
        } else if (kind == INSTALL_LINK && type == S_IFLNK)
                action = streq(cur, e->value) ? INSTALL_REMOVE : INSTALL_KEEP_EDITED;
        else
                action = INSTALL_KEEP_EDITED;

        if (action == INSTALL_REMOVE && !dry_run && unlink(full) < 0 && errno != ENOENT)
                return negative_errno();
        /* Kept files are the person's now: they leave the manifest either way. */
        manifest_remove(m, e);
        return results_add(res, path, kind, action, cur, NULL);
}

static int install_one(const char *root, const InstallItem *it, Manifest *m, bool dry_run, Results *res) {
        _cleanup_free_ char *full = path_under_root(root, it->path), *cur = NULL, *want_hash = NULL,
                            *cur_hash = NULL;
        const char *want = it->kind == INSTALL_FILE ? it->content : it->target;
        ManifestEntry *e = manifest_find(m, it->kind == INSTALL_FILE ? 'f' : 'l', it->path);
        InstallAction action;
        mode_t type;
        int r;

        if (!full)
                return -ENOMEM;
        r = read_current(full, &type, &cur);
        if (r < 0)
                return r;

        if (it->kind == INSTALL_FILE && !it->content) {
                /* Keep whatever is there, and egpuctl's claim on it. */
                return results_add(res, it->path, it->kind, INSTALL_UNCHANGED, cur, cur);
        }
        if (type == 0)
                action = INSTALL_CREATE;
        else if (type != (it->kind == INSTALL_FILE ? S_IFREG : S_IFLNK))
                action = e ? INSTALL_KEEP_EDITED : INSTALL_KEEP_FOREIGN;
        else if (streq(cur, want))
                action = INSTALL_UNCHANGED;
        else if (!e)
                action = INSTALL_KEEP_FOREIGN;
        else if (it->kind == INSTALL_FILE) {
                cur_hash = text_hash(cur);
                if (!cur_hash)
                        return -ENOMEM;
                action = streq(cur_hash, e->value) ? INSTALL_UPDATE : INSTALL_KEEP_EDITED;
        } else
                action = streq(cur, e->value) ? INSTALL_UPDATE : INSTALL_KEEP_EDITED;

        if (!dry_run && IN_SET(action, INSTALL_CREATE, INSTALL_UPDATE)) {
                r = mkdir_parents(root, it->path, m);
                if (r < 0)
                        return r;
                r = it->kind == INSTALL_FILE ? install_write_atomic(full, it->content, it->mode ?: 0644)
                                             : symlink_atomic(full, it->target);
                if (r < 0)
                        return r;
        }
        if (IN_SET(action, INSTALL_CREATE, INSTALL_UPDATE, INSTALL_UNCHANGED)) {
                if (it->kind == INSTALL_FILE) {
                        want_hash = text_hash(want);
                        if (!want_hash)
                                return -ENOMEM;
                }
                r = manifest_set(
                        m,
                        it->kind == INSTALL_FILE ? 'f' : 'l',
                        it->path,
                        it->kind == INSTALL_FILE ? want_hash : want);
                if (r < 0)
                        return r;
        } else if (action == INSTALL_KEEP_EDITED && e)
                manifest_remove(m, e); /* the person's file now */

        return results_add(
                res,
                it->path,
                it->kind,
                action,
                cur,
                IN_SET(action, INSTALL_CREATE, INSTALL_UPDATE) ? want : cur);
}

int install_apply(
        const char *root,
        const InstallItem *items,
        size_t n_items,
        bool uninstall,
        bool dry_run,
        InstallResult **ret,
        size_t *ret_n) {
        _cleanup_free_ char *mpath = path_under_root(root, INSTALL_MANIFEST_PATH), *mtext = NULL;
        Manifest m = {};
        Results res = {};
        int r;

        if (!mpath)
                return -ENOMEM;
        r = read_full_file(mpath, INSTALL_MAX_FILE_SIZE, &mtext, NULL);
        if (r < 0 && r != -ENOENT)
                return r;
        if (mtext) {
                r = manifest_parse(mtext, &m);
                if (r < 0)
                        goto finish;
        }

        if (!uninstall)
                FOREACH_ARRAY(it, items, n_items) {
                        r = install_one(root, it, &m, dry_run, &res);
                        if (r < 0)
                                goto finish;
                }

        /* Entries no longer wanted (all of them for uninstall). */
        for (size_t i = 0; i < m.n;) {
                ManifestEntry *e = &m.e[i];
                bool wanted = false;

                if (e->kind == 'd') {
                        i++;
                        continue;
                }
                if (!uninstall)
                        FOREACH_ARRAY(it, items, n_items)
                                if (streq(it->path, e->path) &&
                                    (it->kind == INSTALL_LINK) == (e->kind == 'l'))
                                        wanted = true;
                if (wanted) {
                        i++;
                        continue;
                }
                r = retire_entry(root, &m, e, dry_run, &res); /* removes m.e[i] */
                if (r < 0)
                        goto finish;
        }

        if (!dry_run) {
                bool only_dirs = true;

                FOREACH_ARRAY(e, m.e, m.n)
                        if (e->kind != 'd')
                                only_dirs = false;
                if (only_dirs) {
                        /* Nothing of egpuctl's left: the manifest goes, then the folders it made. */
                        r = unlink(mpath);
                        if (r < 0 && errno != ENOENT) {
                                r = negative_errno();
                                goto finish;
                        }
                        /* Folders that are not empty stay, with what a person put there. */
                        r = remove_dirs(root, &m);
                        if (r < 0)
                                goto finish;
                } else {
                        r = save_manifest(root, &m);
                        if (r < 0)
                                goto finish;
                }
        }

        *ret = TAKE_PTR(res.r);
        *ret_n = res.n;
        res.n = 0;
        r = 0;
finish:
        install_results_free(res.r, res.n);
        manifest_done(&m);
        return r;
}
