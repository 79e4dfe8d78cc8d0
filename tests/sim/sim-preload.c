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
#include <linux/vfio.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include "sim-proto.h"

#define EXPORT    __attribute__((visibility("default")))
#define MIN(a, b) ((a) < (b) ? (a) : (b))

/* glibc's flag for a stream's error indicator (libio.h) */
#define SIM_IO_ERR_SEEN 0x0020

/* Each thread talks to the simulator on a connection of its own, as the kernel serves each writer on its
 * own: a write the simulator blocks (--block) holds up its thread only. The key's destructor closes the
 * connection when the thread ends (its value is the descriptor + 1). */
static pthread_once_t sim_key_once = PTHREAD_ONCE_INIT;
static pthread_key_t sim_key;
static __thread int sim_fd = -1;
static __thread pid_t sim_fd_pid;

static void sim_fd_close(void *v) {
        syscall(SYS_close, (int) (intptr_t) v - 1);
}

static void sim_key_make(void) {
        (void) pthread_key_create(&sim_key, sim_fd_close);
}

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

/* @path (as the program passed it) relative to /sys when it is a file below /sys or below the testbed's sys
 * dir, else NULL. */
static const char *path_sysfs_rel(const char *path) {
        const char *sd = sysdir();
        size_t n;

        if (!sd || !path)
                return NULL;
        if (strncmp(path, "/sys/", 5) == 0)
                return path + 5;
        n = strlen(sd);
        return strncmp(path, sd, n) == 0 && path[n] == '/' ? path + n + 1 : NULL;
}

static bool path_is_sysfs(const char *path) {
        return path_sysfs_rel(path) != NULL;
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

static int sim_connect(void) {
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
        pthread_once(&sim_key_once, sim_key_make);
        (void) pthread_setspecific(sim_key, (void *) (intptr_t) (fd + 1));
        return fd;
}

/* Sends "rel\0data" to the simulator and reads its answer: the reply, and what follows it (the text of
 * a VFIO device's description) into out (NUL-terminated; out_size 0 when none is wanted). Returns true
 * with *result set when the simulator handled it (a count, a return value, or -errno), false when the
 * real call is to be done or the simulator is gone. */
static bool sim_call(
        const char *rel,
        const void *buf,
        size_t count,
        ssize_t *result,
        char *out,
        size_t out_size) {
        static __thread char msg[SIM_MSG_MAX];
        struct sim_reply reply;
        size_t plen = strlen(rel) + 1, dlen = count > SIM_PAGE_SIZE ? SIM_PAGE_SIZE + 1 : count;
        bool handled = false;
        int saved_errno = errno, fd;
        ssize_t n;

        if (plen + dlen > sizeof(msg))
                return false;

        fd = sim_connect();
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
                n = syscall(SYS_recvfrom, fd, msg, sizeof(msg), 0, NULL, NULL);
        while (n < 0 && errno == EINTR);
        if (n < (ssize_t) sizeof(reply))
                goto broken;
        memcpy(&reply, msg, sizeof(reply));
        if (out_size > 0) {
                size_t extra = MIN((size_t) n - sizeof(reply), out_size - 1);
                memcpy(out, msg + sizeof(reply), extra);
                out[extra] = '\0';
        }
        if (reply.kind == SIM_REPLY_DONE) {
                *result = reply.value;
                handled = true;
        }
        goto out;
broken:
        /* the simulator is gone: behave like plain umockdev */
        syscall(SYS_close, fd);
        sim_fd = -1;
        (void) pthread_setspecific(sim_key, NULL);
out:
        errno = saved_errno;
        return handled;
}

/* Asks the simulator about a write. Returns true with *result set (count or -errno) when the simulator
 * handled it, false when the real write is to be done. */
static bool sim_ask(const char *rel, const void *buf, size_t count, ssize_t *result) {
        return sim_call(rel, buf, count, result, NULL, 0);
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

/* ---------------------------------------------------------------- VFIO
 *
 * The kernel's VFIO objects behind the testbed's /dev/vfio nodes: the container (/dev/vfio/vfio), the groups
 * (/dev/vfio/N, one open at a time) and the device descriptors a group hands out. This library keeps which
 * descriptor is which; egpu-sim decides what the kernel would answer (sim-vfio.c). */

typedef enum VfioKind { VF_NONE, VF_CONTAINER, VF_GROUP, VF_DEVICE } VfioKind;

typedef struct VfioFd {
        VfioKind kind;
        int group;     /* VF_GROUP */
        int container; /* VF_GROUP: the container it was put in, -1 when none */
        bool iommu;    /* VF_CONTAINER: VFIO_SET_IOMMU done */
        char bdf[32];  /* VF_DEVICE */
} VfioFd;

#define VFIO_MAX_FD 4096
static VfioFd vfio_fds[VFIO_MAX_FD];
static pthread_mutex_t vfio_lock = PTHREAD_MUTEX_INITIALIZER;

/* The node a path names: VF_CONTAINER, VF_GROUP (with *group), or VF_NONE. Only with the simulator. */
static VfioKind vfio_node(const char *path, int *group) {
        const char *p;
        char *end;
        long n;

        if (!sysdir() || !path || strncmp(path, "/dev/vfio/", 10) != 0)
                return VF_NONE;
        p = path + 10;
        if (strcmp(p, "vfio") == 0)
                return VF_CONTAINER;
        if (*p < '0' || *p > '9')
                return VF_NONE;
        errno = 0;
        n = strtol(p, &end, 10);
        if (*end || errno || n < 0 || n > 1000000)
                return VF_NONE;
        *group = (int) n;
        return VF_GROUP;
}

/* Asks the simulator; returns its value (or -errno), or -ENOSYS when it is gone. */
static ssize_t vfio_ask(const char *what, char *out, size_t out_size, const char *fmt, ...) {
        char rel[64], args[256];
        va_list ap;
        ssize_t r;

        snprintf(rel, sizeof(rel), "%s%s", SIM_VFIO_PREFIX, what);
        va_start(ap, fmt);
        vsnprintf(args, sizeof(args), fmt, ap);
        va_end(ap);
        /* a zero-length datagram body would read as "about to open": always send the NUL too */
        if (!sim_call(rel, args, strlen(args) + 1, &r, out, out_size))
                return -ENOSYS;
        return r;
}

static void vfio_after_open(int fd, const char *path) {
        int group = -1;
        VfioKind k = vfio_node(path, &group);

        if (fd < 0 || fd >= VFIO_MAX_FD || k == VF_NONE)
                return;
        pthread_mutex_lock(&vfio_lock);
        vfio_fds[fd] = (VfioFd){ .kind = k, .group = group, .container = -1 };
        pthread_mutex_unlock(&vfio_lock);
}

/* Opens a group node, /dev/vfio/N, as the kernel would: one open at a time (the simulator answers EBUSY
 * while another process has it open, ENOENT while no member is on vfio-pci). The node is opened here, in
 * the testbed, and not through umockdev's open(): umockdev 0.17 hands every open of a /dev path, a failed
 * one too (fd -1), to its ioctl emulation, which then keeps a socket and one of its 50 descriptor slots
 * for good, and aborts the program ("fd_map_add(): overflow") after 50 such failures (martinpitt/umockdev
 * src/libumockdev-preload.c: the open wrappers call ioctl_emulate_open() with the result, FD_MAP_MAX 50;
 * read at 39f785a); our ioctls are answered by this library anyway. Returns 1 with *ret_fd set (-1 and errno
 * on failure) when path is a group node, 0 for any other path. */
static int vfio_open(const char *path, int flags, int *ret_fd) {
        const char *dir = getenv("UMOCKDEV_DIR");
        char node[PATH_MAX];
        ssize_t r;
        int group, fd;

        if (vfio_node(path, &group) != VF_GROUP || !dir)
                return 0;
        r = vfio_ask("open", NULL, 0, "%d", group);
        if (r < 0 && r != -ENOSYS) {
                errno = (int) -r;
                *ret_fd = -1;
                return 1;
        }
        if ((size_t) snprintf(node, sizeof(node), "%s%s", dir, path) >= sizeof(node)) {
                errno = ENAMETOOLONG;
                *ret_fd = -1;
                return 1;
        }
        fd = syscall(SYS_openat, AT_FDCWD, node, flags, 0);
        vfio_after_open(fd, path);
        *ret_fd = fd;
        return 1;
}

static unsigned vfio_container_groups(int container) {
        unsigned n = 0;
        for (int i = 0; i < VFIO_MAX_FD; i++)
                if (vfio_fds[i].kind == VF_GROUP && vfio_fds[i].container == container)
                        n++;
        return n;
}

/* An ioctl on a descriptor of ours, answered as the kernel would. *handled false: not ours. */
static int vfio_ioctl(int fd, unsigned long request, void *arg, bool *handled) {
        char out[4096];
        VfioFd f;
        ssize_t r;

        *handled = false;
        if (fd < 0 || fd >= VFIO_MAX_FD)
                return 0;
        pthread_mutex_lock(&vfio_lock);
        f = vfio_fds[fd];
        pthread_mutex_unlock(&vfio_lock);
        if (f.kind == VF_NONE)
                return 0;
        *handled = true;

#define FAIL(e)                    \
        do {                       \
                errno = (int) (e); \
                return -1;         \
        } while (0)
#define ASK(...)                                          \
        do {                                              \
                r = vfio_ask(__VA_ARGS__);                \
                if (r < 0)                                \
                        FAIL(r == -ENOSYS ? ENOTTY : -r); \
        } while (0)

        switch (f.kind) {
        case VF_CONTAINER:
                if (request == VFIO_GET_API_VERSION) {
                        ASK("VFIO_GET_API_VERSION", NULL, 0, "");
                        return (int) r;
                }
                if (request == VFIO_CHECK_EXTENSION) {
                        ASK("VFIO_CHECK_EXTENSION", NULL, 0, "%lu", (unsigned long) arg);
                        return (int) r;
                }
                if (request == VFIO_SET_IOMMU) {
                        pthread_mutex_lock(&vfio_lock);
                        unsigned groups = vfio_container_groups(fd);
                        pthread_mutex_unlock(&vfio_lock);
                        ASK("VFIO_SET_IOMMU", NULL, 0, "%lu %u %d", (unsigned long) arg, groups, f.iommu);
                        pthread_mutex_lock(&vfio_lock);
                        vfio_fds[fd].iommu = true;
                        pthread_mutex_unlock(&vfio_lock);
                        return 0;
                }
                FAIL(ENOTTY);
        case VF_GROUP:
                if (request == VFIO_GROUP_GET_STATUS) {
                        struct vfio_group_status *st = arg;
                        if (!st || st->argsz < sizeof(*st))
                                FAIL(EINVAL);
                        ASK("VFIO_GROUP_GET_STATUS", NULL, 0, "%d", f.group);
                        st->flags = (r > 0 ? VFIO_GROUP_FLAGS_VIABLE : 0) |
                                (f.container >= 0 ? VFIO_GROUP_FLAGS_CONTAINER_SET : 0);
                        return 0;
                }
                if (request == VFIO_GROUP_SET_CONTAINER) {
                        int c = arg ? *(int *) arg : -1;
                        if (f.container >= 0)
                                FAIL(EINVAL);
                        if (c < 0 || c >= VFIO_MAX_FD || vfio_fds[c].kind != VF_CONTAINER)
                                FAIL(EBADF);
                        ASK("VFIO_GROUP_SET_CONTAINER", NULL, 0, "%d", f.group);
                        pthread_mutex_lock(&vfio_lock);
                        vfio_fds[fd].container = c;
                        pthread_mutex_unlock(&vfio_lock);
                        return 0;
                }
                if (request == VFIO_GROUP_GET_DEVICE_FD) {
                        const char *name = arg;
                        bool iommu = f.container >= 0 && vfio_fds[f.container].iommu;
                        int dev;

                        if (!name)
                                FAIL(EFAULT);
                        ASK("VFIO_GROUP_GET_DEVICE_FD", NULL, 0, "%d %s %d", f.group, name, iommu);
                        dev = (int) syscall(SYS_openat, AT_FDCWD, "/dev/null", O_RDWR | O_CLOEXEC);
                        if (dev < 0)
                                return -1;
                        if (dev >= VFIO_MAX_FD) {
                                syscall(SYS_close, dev);
                                FAIL(EMFILE);
                        }
                        pthread_mutex_lock(&vfio_lock);
                        vfio_fds[dev] = (VfioFd){ .kind = VF_DEVICE, .group = f.group, .container = -1 };
                        snprintf(vfio_fds[dev].bdf, sizeof(vfio_fds[dev].bdf), "%s", name);
                        pthread_mutex_unlock(&vfio_lock);
                        return dev;
                }
                FAIL(ENOTTY);
        case VF_DEVICE:
                if (request == VFIO_DEVICE_GET_INFO) {
                        struct vfio_device_info *info = arg;
                        unsigned flags = 0, regions = 0, irqs = 0;
                        if (!info || info->argsz < sizeof(*info))
                                FAIL(EINVAL);
                        ASK("VFIO_DEVICE_GET_INFO", out, sizeof(out), "%s", f.bdf);
                        if (sscanf(out, "%u %u %u", &flags, &regions, &irqs) != 3)
                                FAIL(EIO);
                        info->flags = flags;
                        info->num_regions = regions;
                        info->num_irqs = irqs;
                        return 0;
                }
                if (request == VFIO_DEVICE_GET_REGION_INFO) {
                        struct vfio_region_info *info = arg;
                        unsigned flags = 0;
                        unsigned long long size = 0;
                        if (!info || info->argsz < sizeof(*info))
                                FAIL(EINVAL);
                        ASK("VFIO_DEVICE_GET_REGION_INFO", out, sizeof(out), "%s %u", f.bdf, info->index);
                        if (sscanf(out, "%u %llu", &flags, &size) != 2)
                                FAIL(EIO);
                        info->flags = flags;
                        info->size = size;
                        info->offset = (unsigned long long) info->index << 40; /* VFIO_PCI_INDEX_TO_OFFSET */
                        return 0;
                }
                if (request == VFIO_DEVICE_GET_PCI_HOT_RESET_INFO) {
                        struct vfio_pci_hot_reset_info *info = arg;
                        unsigned count = 0, room, group, seg, bus, dev, fn;
                        const char *line;
                        if (!info || info->argsz < sizeof(*info))
                                FAIL(EINVAL);
                        ASK("VFIO_DEVICE_GET_PCI_HOT_RESET_INFO", out, sizeof(out), "%s", f.bdf);
                        room = (info->argsz - sizeof(*info)) / sizeof(info->devices[0]);
                        for (line = out; *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : "") {
                                if (sscanf(line, "%u %x:%x:%x.%x", &group, &seg, &bus, &dev, &fn) != 5)
                                        continue;
                                if (count < room)
                                        info->devices[count] = (struct vfio_pci_dependent_device){
                                                .group_id = group,
                                                .segment = (uint16_t) seg,
                                                .bus = (uint8_t) bus,
                                                .devfn = (uint8_t) ((dev << 3) | fn),
                                        };
                                count++;
                        }
                        info->flags = 0;
                        info->count = count;
                        if (count > room)
                                FAIL(ENOSPC);
                        return 0;
                }
                FAIL(ENOTTY);
        default:
                break;
        }
        *handled = false;
        return 0;
#undef ASK
#undef FAIL
}

EXPORT int ioctl(int fd, unsigned long request, ...) {
        NEXT(ioctl, int, int, unsigned long, ...);
        va_list ap;
        void *arg;
        bool handled;
        int r;

        va_start(ap, request);
        arg = va_arg(ap, void *);
        va_end(ap);
        r = vfio_ioctl(fd, request, arg, &handled);
        if (handled)
                return r;
        return next_ioctl(fd, request, arg);
}

EXPORT int close(int fd) {
        NEXT(close, int, int);

        if (fd >= 0 && fd < VFIO_MAX_FD && vfio_fds[fd].kind != VF_NONE) {
                pthread_mutex_lock(&vfio_lock);
                vfio_fds[fd] = (VfioFd){};
                for (int i = 0; i < VFIO_MAX_FD; i++)
                        if (vfio_fds[i].kind == VF_GROUP && vfio_fds[i].container == fd)
                                vfio_fds[i].container =
                                        -1; /* the kernel keeps the container alive; enough */
                pthread_mutex_unlock(&vfio_lock);
        }
        return next_close(fd);
}

/* With --change-on-read rules, the simulator hears of each open for reading of a file below /sys before it
 * happens, so that it can change the file's content between two reads. */
static void sim_tell_read(const char *path, int flags) {
        const char *rel;
        ssize_t ignored;

        if ((flags & O_ACCMODE) != O_RDONLY || !getenv(SIM_ENV_READS))
                return;
        rel = path_sysfs_rel(path);
        if (rel)
                (void) sim_ask(rel, "", 0, &ignored);
}

/* A read of an attribute whose show() takes the device's lock waits, as in the kernel, while a removal
 * that waits for a VM holds that lock (sim-kernel.c sim_device_locked()). The kernel's wait has no bound;
 * so has this one, polling every 20 ms. */
static void wait_device_unlocked(const char *path, int flags) {
        const char *sd = sysdir(), *rel, *base;
        char dev[PATH_MAX];

        if ((flags & O_ACCMODE) != O_RDONLY)
                return;
        rel = path_sysfs_rel(path);
        base = rel ? strrchr(rel, '/') : NULL;
        if (!base || !(strcmp(base, "/uevent") == 0 || strcmp(base, "/driver_override") == 0))
                return;
        snprintf(dev, sizeof(dev), "%.*s", (int) (base - rel), rel);
        /* a path through /sys/bus/pci/devices/BDF: the device's own directory is the link's target */
        {
                char full[2 * PATH_MAX + 2], real[PATH_MAX];
                const char *real_rel;
                snprintf(full, sizeof(full), "%s/%s", sd, dev);
                if (realpath(full, real) && (real_rel = path_sysfs_rel(real)))
                        snprintf(dev, sizeof(dev), "%s", real_rel);
        }
        while (vfio_ask("locked", NULL, 0, "%s", dev) == 1)
                usleep(20 * 1000);
}

/* What every open wrapper does before the real open: tells the simulator of a read (--change-on-read),
 * waits while the device's lock is held, and drops O_TRUNC below /sys, which sysfs ignores (a truncated
 * testbed file would read back empty). Returns the flags to open with. */
static int before_open(const char *path, int flags) {
        sim_tell_read(path, flags);
        wait_device_unlocked(path, flags);
        return path_is_sysfs(path) ? flags & ~O_TRUNC : flags;
}

#define OPEN_WRAPPER(name)                                              \
        EXPORT int name(const char *path, int flags, ...) {             \
                NEXT(name, int, const char *, int, ...);                \
                mode_t mode = 0;                                        \
                if (flags & (O_CREAT | O_TMPFILE)) {                    \
                        va_list ap;                                     \
                        va_start(ap, flags);                            \
                        mode = va_arg(ap, mode_t);                      \
                        va_end(ap);                                     \
                }                                                       \
                int fd;                                                 \
                if (vfio_open(path, flags, &fd))                        \
                        return fd;                                      \
                fd = next_##name(path, before_open(path, flags), mode); \
                vfio_after_open(fd, path);                              \
                return fd;                                              \
        }

OPEN_WRAPPER(open)
OPEN_WRAPPER(open64)

#define OPENAT_WRAPPER(name)                                                   \
        EXPORT int name(int dirfd, const char *path, int flags, ...) {         \
                NEXT(name, int, int, const char *, int, ...);                  \
                mode_t mode = 0;                                               \
                if (flags & (O_CREAT | O_TMPFILE)) {                           \
                        va_list ap;                                            \
                        va_start(ap, flags);                                   \
                        mode = va_arg(ap, mode_t);                             \
                        va_end(ap);                                            \
                }                                                              \
                int fd;                                                        \
                if (vfio_open(path, flags, &fd))                               \
                        return fd;                                             \
                fd = next_##name(dirfd, path, before_open(path, flags), mode); \
                vfio_after_open(fd, path);                                     \
                return fd;                                                     \
        }

OPENAT_WRAPPER(openat)
OPENAT_WRAPPER(openat64)

int __open_2(const char *path, int flags);
int __open64_2(const char *path, int flags);
int __openat_2(int dirfd, const char *path, int flags);

EXPORT int __open_2(const char *path, int flags) {
        NEXT(__open_2, int, const char *, int);
        int fd;

        if (vfio_open(path, flags, &fd))
                return fd;
        fd = next___open_2(path, before_open(path, flags));
        vfio_after_open(fd, path);
        return fd;
}

EXPORT int __open64_2(const char *path, int flags) {
        NEXT(__open64_2, int, const char *, int);
        int fd;

        if (vfio_open(path, flags, &fd))
                return fd;
        fd = next___open64_2(path, before_open(path, flags));
        vfio_after_open(fd, path);
        return fd;
}

EXPORT int __openat_2(int dirfd, const char *path, int flags) {
        NEXT(__openat_2, int, int, const char *, int);
        int fd;

        if (vfio_open(path, flags, &fd))
                return fd;
        fd = next___openat_2(dirfd, path, before_open(path, flags));
        vfio_after_open(fd, path);
        return fd;
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
