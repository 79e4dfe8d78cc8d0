/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vm-tool: the small things the guest's busybox shell cannot do, for tests/vm.
 *
 *   vm-tool write PATH VALUE          one write(2) of VALUE; prints "ok" or the errno's name
 *                                     ("EBUSY"), exits 0 or 1
 *   vm-tool now                       CLOCK_MONOTONIC in milliseconds
 *   vm-tool wait-driver BDF[,BDF]... DRIVER MS
 *                                     polls /sys/bus/pci/devices/BDF/driver until it names DRIVER
 *                                     ("none": no driver), for each BDF; prints the milliseconds
 *                                     waited, exits 1 on timeout
 *   vm-tool seen-driver BDF[,BDF]... DRIVER MS
 *                                     the same, but prints the CLOCK_MONOTONIC milliseconds (as
 *                                     "now") at which it saw them: a benchmark's end stamped when
 *                                     seen, not after this process exits and the next one starts
 *   vm-tool wait-path PATH present|absent MS
 *                                     polls until PATH exists (or not); same output
 *   vm-tool nocaps COMMAND [ARG]...   runs COMMAND as uid 0 with no capability at all (bounding,
 *                                     ambient, inheritable, permitted and effective sets emptied,
 *                                     no_new_privs set), as a unit with CapabilityBoundingSet= empty
 *   vm-tool qmp SOCKET JSON           one QMP command on SOCKET (after the greeting and
 *                                     qmp_capabilities); prints the answer's line, exits 1 on an error
 *                                     answer or none within 30 s; waits up to 30 s for the socket
 *   vm-tool vfio GROUP BDF OTHER      QEMU's VFIO steps for GROUP and BDF (tests/common/vfio-steps.c)
 *
 * Static, so that it needs nothing in the initramfs.
 */

#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* strerrorname_np() */
#endif

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <linux/capability.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

static void closep(int *fd) {
        if (*fd >= 0)
                close(*fd);
}
#define _cleanup_close_ __attribute__((cleanup(closep)))

static uint64_t now_us(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000u + (uint64_t) ts.tv_nsec / 1000u;
}

static const char *errno_name(int e) {
        const char *n = strerrorname_np(e);
        return n ?: "E?";
}

static const char *errname(int e) {
        return errno_name(e);
}

#include "../common/vfio-steps.c"

/* Reads one line (a QMP message) into buf; 0 on success. Events ({"event": ...}) are skipped. */
static int qmp_line(int fd, char *buf, size_t size, bool skip_events) {
        for (;;) {
                size_t n = 0;

                for (;;) {
                        struct pollfd p = { .fd = fd, .events = POLLIN };
                        char c;

                        if (poll(&p, 1, 30000) <= 0 || read(fd, &c, 1) != 1)
                                return -1;
                        if (c == '\n')
                                break;
                        if (n + 1 < size)
                                buf[n++] = c;
                }
                buf[n] = 0;
                if (!skip_events || !strstr(buf, "\"event\""))
                        return 0;
        }
}

static int do_qmp(const char *path, const char *json) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        _cleanup_close_ int fd = -EBADF;
        static char buf[1 << 20];
        uint64_t start = now_us();

        if (strlen(path) >= sizeof(sa.sun_path))
                return 2;
        strcpy(sa.sun_path, path);
        for (;;) {
                fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
                if (fd >= 0 && connect(fd, (struct sockaddr *) &sa, sizeof(sa)) == 0)
                        break;
                if (fd >= 0)
                        close(fd);
                fd = -EBADF;
                if (now_us() - start > 30000000u) {
                        printf("connect %s: %s\n", path, errno_name(errno));
                        return 1;
                }
                usleep(50000);
        }
        static const char caps[] = "{\"execute\":\"qmp_capabilities\"}\n";

        if (qmp_line(fd, buf, sizeof(buf), true) < 0 ||
            write(fd, caps, strlen(caps)) != (ssize_t) strlen(caps) ||
            qmp_line(fd, buf, sizeof(buf), true) < 0 ||
            write(fd, json, strlen(json)) != (ssize_t) strlen(json) || write(fd, "\n", 1) != 1 ||
            qmp_line(fd, buf, sizeof(buf), true) < 0) {
                printf("no answer\n");
                return 1;
        }
        printf("%s\n", buf);
        return strstr(buf, "\"error\"") ? 1 : 0;
}

static int do_write(const char *path, const char *value) {
        _cleanup_close_ int fd = -EBADF;
        ssize_t n;

        fd = open(path, O_WRONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0) {
                printf("%s (open)\n", errno_name(errno));
                return 1;
        }
        n = write(fd, value, strlen(value));
        if (n < 0) {
                printf("%s\n", errno_name(errno));
                return 1;
        }
        if ((size_t) n != strlen(value)) {
                printf("short write %zd\n", n);
                return 1;
        }
        printf("ok\n");
        return 0;
}

/* Whether the function at bdf (its first len bytes) is on driver. */
static bool one_driver_is(const char *bdf, size_t len, const char *driver) {
        char path[PATH_MAX], target[PATH_MAX];
        ssize_t n;
        const char *base;

        snprintf(path, sizeof(path), "/sys/bus/pci/devices/%.*s/driver", (int) len, bdf);
        n = readlink(path, target, sizeof(target) - 1);
        if (n < 0)
                return strcmp(driver, "none") == 0 && errno == ENOENT;
        target[n] = 0;
        base = strrchr(target, '/');
        base = base ? base + 1 : target;
        return strcmp(base, driver) == 0;
}

/* Whether each function of the comma-separated list is on driver: one process polls them all, so that
 * a benchmark's observer starts no process per function. */
static bool driver_is(const char *bdfs, const char *driver) {
        for (const char *p = bdfs; *p;) {
                size_t len = strcspn(p, ",");

                if (!one_driver_is(p, len, driver))
                        return false;
                p += len + (p[len] == ',');
        }
        return true;
}

static bool path_is(const char *path, const char *state) {
        bool exists = access(path, F_OK) >= 0;

        return strcmp(state, "present") == 0 ? exists : !exists;
}

/* Polls pred every 2 ms; prints the milliseconds waited, or with at the clock's milliseconds then. */
static int do_wait(
        bool (*pred)(const char *, const char *),
        const char *a,
        const char *b,
        const char *ms,
        bool at) {
        uint64_t start = now_us(), limit = strtoull(ms, NULL, 10) * 1000u;

        for (;;) {
                uint64_t now = now_us(), t = now - start;

                if (pred(a, b)) {
                        printf("%llu\n", (unsigned long long) ((at ? now : t) / 1000u));
                        return 0;
                }
                if (t >= limit) {
                        printf("timeout\n");
                        return 1;
                }
                usleep(2000);
        }
}

static int do_nocaps(char *argv[]) {
        struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
        struct __user_cap_data_struct d[2] = {};
        unsigned long last = CAP_LAST_CAP;
        FILE *f = fopen("/proc/sys/kernel/cap_last_cap", "re");

        if (f) {
                if (fscanf(f, "%lu", &last) != 1)
                        last = CAP_LAST_CAP;
                fclose(f);
        }
        for (unsigned long c = 0; c <= last; c++)
                if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0 && errno != EINVAL) {
                        perror("vm-tool: PR_CAPBSET_DROP");
                        return 1;
                }
        if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 || syscall(SYS_capset, &h, d) < 0 ||
            prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
                perror("vm-tool: dropping capabilities");
                return 1;
        }
        execvp(argv[0], argv);
        perror("vm-tool: exec");
        return 127;
}

int main(int argc, char *argv[]) {
        if (argc == 4 && strcmp(argv[1], "write") == 0)
                return do_write(argv[2], argv[3]);
        if (argc == 2 && strcmp(argv[1], "now") == 0) {
                printf("%llu\n", (unsigned long long) (now_us() / 1000u));
                return 0;
        }
        if (argc == 5 && strcmp(argv[1], "wait-driver") == 0)
                return do_wait(driver_is, argv[2], argv[3], argv[4], false);
        if (argc == 5 && strcmp(argv[1], "seen-driver") == 0)
                return do_wait(driver_is, argv[2], argv[3], argv[4], true);
        if (argc == 5 && strcmp(argv[1], "wait-path") == 0)
                return do_wait(path_is, argv[2], argv[3], argv[4], false);
        if (argc >= 3 && strcmp(argv[1], "nocaps") == 0)
                return do_nocaps(argv + 2);
        if (argc == 4 && strcmp(argv[1], "qmp") == 0)
                return do_qmp(argv[2], argv[3]);
        if (argc == 5 && strcmp(argv[1], "vfio") == 0)
                return vfio_steps((int) strtol(argv[2], NULL, 10), argv[3], argv[4]);

        fprintf(stderr,
                "usage: vm-tool write PATH VALUE | now | wait-driver|seen-driver BDF[,BDF]... DRIVER MS | "
                "wait-path "
                "PATH "
                "present|absent MS | nocaps COMMAND [ARG]... | qmp SOCKET JSON | vfio GROUP BDF OTHER\n");
        return 2;
}
