/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>

#include "lock.h"
#include "util.h"

#define LOCK_DIR_DEFAULT "/run/egpuctl"
#define LOCK_NAME        "lock"
#define LOCK_POLL_MIN_MS 2
#define LOCK_POLL_MAX_MS 20

int runtime_dir_default(const char *root, char **ret) {
        return exec_directory("RUNTIME_DIRECTORY", root, LOCK_DIR_DEFAULT, ret);
}

int runtime_dir_path(const char *root, const char *name, char **ret) {
        _cleanup_free_ char *dir = NULL;
        char *p;
        int r;

        r = runtime_dir_default(root, &dir);
        if (r < 0)
                return r;
        p = path_join(dir, name);
        if (!p)
                return -ENOMEM;
        *ret = p;
        return 0;
}

int lock_path_default(const char *root, char **ret) {
        return runtime_dir_path(root, LOCK_NAME, ret);
}

static int lock_open(const char *path) {
        int fd, r;

        for (unsigned attempt = 0;; attempt++) {
                _cleanup_free_ char *dir = NULL;
                const char *slash;

                fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0600);
                if (fd >= 0)
                        return fd;
                if (errno != ENOENT || attempt > 0)
                        return negative_errno();

                /* Create the folder (and, under --root, what is missing above it), and try again. */
                slash = strrchr(path, '/');
                if (!slash || slash == path)
                        return -ENOENT;
                dir = strndup(path, (size_t) (slash - path));
                if (!dir)
                        return -ENOMEM;
                r = mkdir_with_parents(dir, 0700);
                if (r < 0)
                        return r;
        }
}

static void sleep_ms(int ms) {
        struct timespec ts = {
                .tv_sec = ms / 1000,
                .tv_nsec = (long) (ms % 1000) * 1000000L,
        };

        (void) nanosleep(&ts, NULL); /* EINTR: we simply try again earlier */
}

static int write_pid(int fd) {
        char buf[32];
        int n;

        n = snprintf(buf, sizeof(buf), "%d\n", (int) getpid());
        if (ftruncate(fd, 0) < 0)
                return negative_errno();
        if (pwrite(fd, buf, (size_t) n, 0) != n)
                return errno > 0 ? -errno : -EIO;
        return 0;
}

int lock_acquire(const char *path, int timeout_ms, int *ret_fd) {
        _cleanup_close_ int fd = -EBADF;
        uint64_t start = now_usec();
        int poll_ms = LOCK_POLL_MIN_MS, r;

        fd = lock_open(path);
        if (fd < 0)
                return fd;

        for (;;) {
                uint64_t elapsed_ms;

                if (flock(fd, LOCK_EX | LOCK_NB) >= 0)
                        break;
                if (errno == EINTR)
                        continue;
                if (errno != EWOULDBLOCK)
                        return negative_errno();

                elapsed_ms = (now_usec() - start) / 1000;
                if (timeout_ms >= 0 && elapsed_ms >= (uint64_t) timeout_ms)
                        return -EBUSY;
                if (timeout_ms >= 0)
                        sleep_ms((int) MIN((uint64_t) poll_ms, (uint64_t) timeout_ms - elapsed_ms));
                else
                        sleep_ms(poll_ms);
                poll_ms = MIN(poll_ms * 2, LOCK_POLL_MAX_MS);
        }

        r = write_pid(fd);
        if (r < 0)
                return r;
        *ret_fd = TAKE_FD(fd);
        return 0;
}

int lock_release(int fd) {
        if (fd < 0)
                return -EBADF;
        (void) ftruncate(fd, 0);
        close(fd);
        return -EBADF;
}

int lock_holder_pid(const char *path, pid_t *ret) {
        _cleanup_free_ char *s = NULL;
        int pid, r;

        r = read_full_file(path, 64, &s, NULL);
        if (r < 0)
                return r;
        if (!*strstrip_trailing(s))
                return -ENODATA;
        r = safe_atoi(s, &pid);
        if (r < 0)
                return r;
        if (pid <= 0)
                return -EINVAL;
        if (kill(pid, 0) < 0 && errno == ESRCH)
                return -ESRCH;
        *ret = pid;
        return 0;
}
