/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <dirent.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <sys/stat.h>

#include "conf-files.h"
#include "util.h"

typedef struct ConfFile {
        char *name; /* points into path */
        char *path; /* without root */
        size_t dir; /* index of its folder: lower wins */
        bool masked;
} ConfFile;

/* By name, then by folder: the first of each name is the one that counts. */
static int cmp_conf_file(const void *a, const void *b) {
        const ConfFile *x = a, *y = b;
        int c = strcmp(x->name, y->name);

        return c != 0 ? c : (x->dir > y->dir) - (x->dir < y->dir);
}

/* Whether entry de of the open folder dir is a folder (followed through a link), and whether it is a link to
 * /dev/null. */
static void entry_kind(DIR *dir, const struct dirent *de, bool *ret_is_dir, bool *ret_masked) {
        struct stat st;
        char target[sizeof("/dev/null")];
        ssize_t k;

        *ret_is_dir = *ret_masked = false;
        if (de->d_type == DT_DIR) {
                *ret_is_dir = true;
                return;
        }
        if (de->d_type != DT_LNK && de->d_type != DT_UNKNOWN)
                return;
        k = readlinkat(dirfd(dir), de->d_name, target, sizeof(target));
        if (k == (ssize_t) strlen("/dev/null") && memcmp(target, "/dev/null", (size_t) k) == 0) {
                *ret_masked = true;
                return;
        }
        /* A relative link stays under root; an absolute one points outside it and is taken as a file. */
        if (fstatat(dirfd(dir), de->d_name, &st, 0) >= 0 && S_ISDIR(st.st_mode))
                *ret_is_dir = true;
}

int conf_files_list(
        const char *root,
        const char *const *dirs,
        size_t n_dirs,
        const char *pattern,
        char ***ret) {
        _cleanup_strv_free_ char **l = NULL;
        ConfFile *files = NULL;
        size_t n_files = 0, allocated = 0, n = 0, allocated_l = 0;
        int r = 0;

        for (size_t i = 0; i < n_dirs; i++) {
                _cleanup_free_ char *p = path_under_root(root, dirs[i]);
                _cleanup_(closedirp) DIR *d = NULL;
                struct dirent *de;

                if (!p) {
                        r = -ENOMEM;
                        goto finish;
                }
                d = opendir(p);
                if (!d)
                        continue;
                while ((de = readdir(d))) {
                        bool is_dir, masked;
                        char *path;

                        if (de->d_name[0] == '.' || fnmatch(pattern, de->d_name, 0) != 0)
                                continue;
                        entry_kind(d, de, &is_dir, &masked);
                        if (is_dir)
                                continue;
                        path = path_join(dirs[i], de->d_name);
                        if (!path || ARRAY_RESERVE(files, allocated, n_files + 1) < 0) {
                                free(path);
                                r = -ENOMEM;
                                goto finish;
                        }
                        files[n_files++] = (ConfFile){
                                .name = (char *) path_basename(path),
                                .path = path,
                                .dir = i,
                                .masked = masked,
                        };
                }
        }
        /* Sorted once: the winner of each name comes first among its equals. */
        if (n_files > 0)
                qsort(files, n_files, sizeof(ConfFile), cmp_conf_file);
        l = calloc(1, sizeof(char *));
        if (!l) {
                r = -ENOMEM;
                goto finish;
        }
        allocated_l = 1;
        for (size_t i = 0; i < n_files; i++) {
                if (i > 0 && streq(files[i].name, files[i - 1].name))
                        continue;
                if (files[i].masked)
                        continue;
                r = strv_push(&l, &n, &allocated_l, TAKE_PTR(files[i].path));
                if (r < 0)
                        goto finish;
        }
        *ret = TAKE_PTR(l);
finish:
        for (size_t i = 0; i < n_files; i++)
                free(files[i].path);
        free(files);
        return r;
}

int conf_files_parse(
        const char *root,
        const char *const *dirs,
        size_t n,
        const char *glob,
        ConfFileParser f,
        void *u) {
        _cleanup_strv_free_ char **files = NULL;
        int r;

        r = conf_files_list(root, dirs, n, glob, &files);
        if (r < 0)
                return r;
        STRV_FOREACH(p, files) {
                _cleanup_free_ char *full = path_under_root(root, *p), *text = NULL;

                if (!full)
                        return -ENOMEM;
                r = read_full_file(full, CONF_FILE_MAX, &text, NULL);
                if (r == -ENOMEM)
                        return r;
                if (r < 0)
                        continue;
                r = f(*p, text, u);
                if (r < 0)
                        return r;
        }
        return 0;
}
