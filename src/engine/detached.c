/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sys/stat.h>

#include "detached.h"
#include "lock.h"
#include "util.h"

static int mark_path(const char *root, const char *key, char **ret) {
        _cleanup_free_ char *name = NULL;

        if (!key || !*key || strchr(key, '/') || key[0] == '.')
                return -EINVAL;
        name = path_join("detached", key);
        if (!name)
                return -ENOMEM;
        return runtime_dir_path(root, name, ret);
}

static int folder_inode(const char *syspath, uint64_t *ret) {
        struct stat st;

        if (stat(syspath, &st) < 0)
                return negative_errno();
        *ret = (uint64_t) st.st_ino;
        return 0;
}

int detached_mark(const char *root, const char *key, const char *syspath) {
        _cleanup_free_ char *path = NULL, *tmp = NULL, *text = NULL, *dir = NULL;
        _cleanup_close_ int fd = -EBADF;
        uint64_t ino;
        int r;

        r = mark_path(root, key, &path);
        if (r < 0)
                return r;
        r = folder_inode(syspath, &ino);
        if (r < 0)
                return r;
        dir = strndup(path, (size_t) (strrchr(path, '/') - path));
        if (!dir)
                return -ENOMEM;
        /* the runtime folder, then ours, 0700 like the lock's */
        {
                _cleanup_free_ char *parent = strndup(dir, (size_t) (strrchr(dir, '/') - dir));
                if (!parent)
                        return -ENOMEM;
                if (mkdir(parent, 0700) < 0 && errno != EEXIST)
                        return negative_errno();
        }
        if (mkdir(dir, 0700) < 0 && errno != EEXIST)
                return negative_errno();
        if (asprintf(&text, "%s %" PRIu64 "\n", syspath, ino) < 0 || asprintf(&tmp, "%s.tmp", path) < 0)
                return -ENOMEM;
        fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
                return negative_errno();
        if (write(fd, text, strlen(text)) != (ssize_t) strlen(text) || close(TAKE_FD(fd)) < 0) {
                r = errno > 0 ? -errno : -EIO;
                (void) unlink(tmp);
                return r;
        }
        if (rename(tmp, path) < 0) {
                r = negative_errno();
                (void) unlink(tmp);
                return r;
        }
        return 0;
}

int detached_is_marked(const char *root, const char *key, const char *syspath) {
        _cleanup_free_ char *path = NULL, *text = NULL, *marked = NULL;
        uint64_t ino = 0, now;
        int r;

        r = mark_path(root, key, &path);
        if (r < 0)
                return r;
        r = read_full_file(path, 4096, &text, NULL);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return r;
        marked = malloc(strlen(text) + 1);
        if (!marked)
                return -ENOMEM;
        if (sscanf(text, "%s %" SCNu64, marked, &ino) == 2 && streq(marked, syspath) &&
            folder_inode(syspath, &now) >= 0 && now == ino)
                return 1;
        /* another device, or the same one plugged again: the person's decision is over */
        (void) unlink(path);
        return 0;
}

int detached_clear(const char *root, const char *key) {
        _cleanup_free_ char *path = NULL;
        int r;

        r = mark_path(root, key, &path);
        if (r < 0)
                return r;
        if (unlink(path) < 0 && errno != ENOENT)
                return negative_errno();
        return 0;
}

int detached_forget_syspath(const char *root, const char *syspath) {
        _cleanup_free_ char *dir = NULL;
        _cleanup_(closedirp) DIR *d = NULL;
        struct dirent *de;
        int r;

        r = runtime_dir_path(root, "detached", &dir);
        if (r < 0)
                return r;
        d = opendir(dir);
        if (!d)
                return errno == ENOENT ? 0 : negative_errno();
        while ((de = readdir(d))) {
                _cleanup_free_ char *path = NULL, *text = NULL;
                size_t n = strlen(syspath);

                if (de->d_name[0] == '.' || !(path = path_join(dir, de->d_name)))
                        continue;
                if (read_full_file(path, 4096, &text, NULL) >= 0 && strneq(text, syspath, n) &&
                    text[n] == ' ')
                        (void) unlink(path);
        }
        return 0;
}
