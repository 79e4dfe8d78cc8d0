/* SPDX-License-Identifier: GPL-2.0-or-later */
/* libegpusim-preload.so: stacked before umockdev's preload, it hands every write to a file below the
 * testbed's /sys to egpu-sim and returns the simulator's answer, so that the "kernel" reacts before write()
 * returns, with the kernel's errno.
 *
 * glibc's stdio writes through an internal write that no preload can see, so the pending bytes of a FILE
 * whose descriptor is such a file are taken out of its buffer in fflush() and fclose(). Like sysfs, files
 * below /sys are never truncated by open(O_TRUNC) or fopen("w").
 *
 * Without $EGPU_SIM_SOCKET and $EGPU_SIM_SYSDIR every call goes straight to the next library. */

/* open64() and friends are interposed separately; no redirection of open() to them */
#undef _FILE_OFFSET_BITS

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include "sim-proto.h"

#define EXPORT __attribute__((visibility("default")))

/* glibc's flag for a stream's error indicator (libio.h) */
#define SIM_IO_ERR_SEEN 0x0020

static pthread_mutex_t sim_lock = PTHREAD_MUTEX_INITIALIZER;
static int sim_fd = -1;
static pid_t sim_fd_pid;

static void *next_func(const char *name) {
        void *f = dlsym(RTLD_NEXT, name);
        if (!f) {
                fprintf(stderr, "libegpusim-preload: no next %s()\n", name);
                abort();
        }
        return f;
}

#define NEXT(name, ret, ...)                    \
        static ret (*next_##name)(__VA_ARGS__); \
        if (!next_##name)                       \
        next_##name = next_func(#name)

static const char *sysdir(void) {
        const char *s = getenv(SIM_ENV_SYSDIR);
        return s && s[0] == '/' && getenv(SIM_ENV_SOCKET) ? s : NULL;
}

/* Is @path (as the program passed it) a file below /sys or below the testbed's sys dir? */
static bool path_is_sysfs(const char *path) {
        const char *sd = sysdir();
        size_t n;

        if (!sd || !path)
                return false;
        if (strncmp(path, "/sys/", 5) == 0)
                return true;
        n = strlen(sd);
        return strncmp(path, sd, n) == 0 && path[n] == '/';
}

/* Writes the path of @fd relative to the testbed's /sys into @rel; returns false if @fd is not below it. */
static bool fd_sysfs_rel(int fd, char *rel, size_t size) {
        char link[64], target[PATH_MAX];
        const char *sd = sysdir();
        ssize_t n;
        size_t sdlen;

        if (!sd || fd < 0)
                return false;
        snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
        n = syscall(SYS_readlink, link, target, sizeof(target) - 1);
        if (n <= 0)
                return false;
        target[n] = '\0';
        sdlen = strlen(sd);
        if (strncmp(target, sd, sdlen) != 0 || target[sdlen] != '/')
                return false;
        if ((size_t) snprintf(rel, size, "%s", target + sdlen + 1) >= size)
                return false;
        return true;
}

static int sim_connect_locked(void) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        const char *path = getenv(SIM_ENV_SOCKET);
        int fd;

        if (sim_fd >= 0 && sim_fd_pid == getpid())
                return sim_fd;
        /* a forked child must not share its parent's connection; the inherited fd stays the parent's */
        sim_fd = -1;
        if (!path || strlen(path) >= sizeof(sa.sun_path))
                return -EINVAL;
        strcpy(sa.sun_path, path);
        fd = syscall(SYS_socket, AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        if (syscall(SYS_connect, fd, &sa, sizeof(sa)) < 0) {
                int r = -errno;
                syscall(SYS_close, fd);
                return r;
        }
        sim_fd = fd;
        sim_fd_pid = getpid();
        return fd;
}

/* Asks the simulator about a write. Returns true with *result set (count or -errno) when the simulator
 * handled it, false when the real write is to be done. */
static bool sim_ask(const char *rel, const void *buf, size_t count, ssize_t *result) {
        static char msg[SIM_MSG_MAX];
        struct sim_reply reply;
        size_t plen = strlen(rel) + 1, dlen = count > SIM_PAGE_SIZE ? SIM_PAGE_SIZE + 1 : count;
        bool handled = false;
        int saved_errno = errno, fd;
        ssize_t n;

        if (plen + dlen > sizeof(msg))
                return false;

        pthread_mutex_lock(&sim_lock);
        fd = sim_connect_locked();
        if (fd < 0)
                goto out;
        memcpy(msg, rel, plen);
        memcpy(msg + plen, buf, dlen);
        do
                n = syscall(SYS_sendto, fd, msg, plen + dlen, MSG_NOSIGNAL, NULL, 0);
        while (n < 0 && errno == EINTR);
        if (n < 0)
                goto broken;
        do
                n = syscall(SYS_recvfrom, fd, &reply, sizeof(reply), 0, NULL, NULL);
        while (n < 0 && errno == EINTR);
        if (n != sizeof(reply))
                goto broken;
        if (reply.kind == SIM_REPLY_DONE) {
                *result = reply.value;
                handled = true;
        }
        goto out;
broken:
        /* the simulator is gone: behave like plain umockdev */
        syscall(SYS_close, fd);
        sim_fd = -1;
out:
        pthread_mutex_unlock(&sim_lock);
        errno = saved_errno;
        return handled;
}

/* Returns true when the write to @fd was handled by the simulator, with *ret set like write(2) would. */
static bool sim_write(int fd, const void *buf, size_t count, ssize_t *ret) {
        char rel[PATH_MAX];
        ssize_t r;
        size_t n;

        if (count == 0 || !fd_sysfs_rel(fd, rel, sizeof(rel)))
                return false;
        n = strlen(rel);
        if (n > 10 && strcmp(rel + n - 10, " (deleted)") == 0) {
                /* the attribute's device is gone */
                errno = ENODEV;
                *ret = -1;
                return true;
        }
        if (!sim_ask(rel, buf, count, &r))
                return false;
        if (r < 0) {
                errno = (int) -r;
                *ret = -1;
        } else
                *ret = r;
        return true;
}

EXPORT ssize_t write(int fd, const void *buf, size_t count) {
        NEXT(write, ssize_t, int, const void *, size_t);
        ssize_t r;

        if (sim_write(fd, buf, count, &r))
                return r;
        return next_write(fd, buf, count);
}

/* Moves the pending output of @f to the simulator. Returns 1 when nothing was pending or it was not a sysfs
 * file, 0 when handled, -1 (errno set, error indicator set) when the "kernel" refused the write. */
static int stdio_flush_sysfs(FILE *f) {
        size_t pending, done = 0;
        ssize_t r;

        if (!f || !f->_IO_write_base || f->_IO_write_ptr <= f->_IO_write_base)
                return 1;
        pending = f->_IO_write_ptr - f->_IO_write_base;
        while (done < pending) {
                if (!sim_write(fileno(f), f->_IO_write_base + done, pending - done, &r))
                        return done == 0 ? 1 : 0;
                if (r < 0) {
                        f->_IO_write_ptr = f->_IO_write_base;
                        f->_flags |= SIM_IO_ERR_SEEN;
                        return -1;
                }
                if (r == 0)
                        break;
                done += r;
        }
        f->_IO_write_ptr = f->_IO_write_base;
        return 0;
}

EXPORT int fflush(FILE *f) {
        NEXT(fflush, int, FILE *);
        int r;

        if (f && sysdir()) {
                flockfile(f);
                r = stdio_flush_sysfs(f);
                funlockfile(f);
                if (r < 0)
                        return EOF;
        }
        return next_fflush(f);
}

EXPORT int fclose(FILE *f) {
        NEXT(fclose, int, FILE *);
        int r = 1, saved_errno = 0;

        if (f && sysdir()) {
                flockfile(f);
                r = stdio_flush_sysfs(f);
                funlockfile(f);
                saved_errno = errno;
        }
        if (next_fclose(f) != 0 && r >= 0)
                return EOF;
        if (r < 0) {
                errno = saved_errno;
                return EOF;
        }
        return 0;
}

EXPORT int vdprintf(int fd, const char *fmt, va_list ap) {
        char *s = NULL;
        ssize_t r;
        int n;

        n = vasprintf(&s, fmt, ap);
        if (n < 0)
                return -1;
        r = write(fd, s, n);
        free(s);
        return r < 0 ? -1 : (int) r;
}

EXPORT int dprintf(int fd, const char *fmt, ...) {
        va_list ap;
        int r;

        va_start(ap, fmt);
        r = vdprintf(fd, fmt, ap);
        va_end(ap);
        return r;
}

/* With --change-on-read rules, the simulator hears of each open for reading of a file below /sys before it
 * happens, so that it can change the file's content between two reads. */
static void sim_tell_read(const char *path, int flags) {
        const char *sd = sysdir(), *rel = NULL;
        ssize_t ignored;
        size_t n;

        if ((flags & O_ACCMODE) != O_RDONLY || !sd || !path || !getenv(SIM_ENV_READS))
                return;
        n = strlen(sd);
        if (strncmp(path, "/sys/", 5) == 0)
                rel = path + 5;
        else if (strncmp(path, sd, n) == 0 && path[n] == '/')
                rel = path + n + 1;
        if (rel)
                (void) sim_ask(rel, "", 0, &ignored);
}

/* What every open wrapper does before the real open: tells the simulator of a read (--change-on-read),
 * and drops O_TRUNC below /sys, which sysfs ignores (a truncated testbed file would read back empty).
 * Returns the flags to open with. */
static int before_open(const char *path, int flags) {
        sim_tell_read(path, flags);
        return path_is_sysfs(path) ? flags & ~O_TRUNC : flags;
}

#define OPEN_WRAPPER(name)                                                \
        EXPORT int name(const char *path, int flags, ...) {               \
                NEXT(name, int, const char *, int, ...);                  \
                mode_t mode = 0;                                          \
                if (flags & (O_CREAT | O_TMPFILE)) {                      \
                        va_list ap;                                       \
                        va_start(ap, flags);                              \
                        mode = va_arg(ap, mode_t);                        \
                        va_end(ap);                                       \
                }                                                         \
                return next_##name(path, before_open(path, flags), mode); \
        }

OPEN_WRAPPER(open)
OPEN_WRAPPER(open64)

#define OPENAT_WRAPPER(name)                                                     \
        EXPORT int name(int dirfd, const char *path, int flags, ...) {           \
                NEXT(name, int, int, const char *, int, ...);                    \
                mode_t mode = 0;                                                 \
                if (flags & (O_CREAT | O_TMPFILE)) {                             \
                        va_list ap;                                              \
                        va_start(ap, flags);                                     \
                        mode = va_arg(ap, mode_t);                               \
                        va_end(ap);                                              \
                }                                                                \
                return next_##name(dirfd, path, before_open(path, flags), mode); \
        }

OPENAT_WRAPPER(openat)
OPENAT_WRAPPER(openat64)

int __open_2(const char *path, int flags);
int __open64_2(const char *path, int flags);
int __openat_2(int dirfd, const char *path, int flags);

EXPORT int __open_2(const char *path, int flags) {
        NEXT(__open_2, int, const char *, int);
        return next___open_2(path, before_open(path, flags));
}

EXPORT int __open64_2(const char *path, int flags) {
        NEXT(__open64_2, int, const char *, int);
        return next___open64_2(path, before_open(path, flags));
}

EXPORT int __openat_2(int dirfd, const char *path, int flags) {
        NEXT(__openat_2, int, int, const char *, int);
        return next___openat_2(dirfd, path, before_open(path, flags));
}

/* fopen(path, "w") below /sys: open without O_TRUNC and wrap the descriptor */
static FILE *fopen_sysfs(const char *path, const char *mode) {
        int flags = strchr(mode, '+') ? O_RDWR : O_WRONLY, fd;
        FILE *f;

        if (strchr(mode, 'e'))
                flags |= O_CLOEXEC;
        fd = open(path, flags);
        if (fd < 0)
                return NULL;
        f = fdopen(fd, mode);
        if (!f) {
                int saved_errno = errno;
                close(fd);
                errno = saved_errno;
        }
        return f;
}

EXPORT FILE *fopen(const char *path, const char *mode) {
        NEXT(fopen, FILE *, const char *, const char *);
        if (mode && mode[0] == 'w' && path_is_sysfs(path))
                return fopen_sysfs(path, mode);
        return next_fopen(path, mode);
}

EXPORT FILE *fopen64(const char *path, const char *mode) {
        NEXT(fopen64, FILE *, const char *, const char *);
        if (mode && mode[0] == 'w' && path_is_sysfs(path))
                return fopen_sysfs(path, mode);
        return next_fopen64(path, mode);
}
