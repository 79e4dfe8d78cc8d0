/* SPDX-License-Identifier: GPL-2.0-or-later */
/* sim-probe: the small programs the simulator's tests run as COMMAND inside egpu-sim.
 *
 *   sim-probe write PATH DATA          write(2) once; prints "ok N" or "err ENAME"
 *   sim-probe timed-write PATH DATA    the same, then "ms N" (how long write() took)
 *   sim-probe fprintf PATH DATA        fopen("w"), fputs, fclose; prints "ok" or "err ENAME" (from fclose)
 *   sim-probe fflush PATH DATA         fopen("w"), fputs, fflush; prints "ok" or "err ENAME" (from fflush)
 *   sim-probe watch-write PATH DATA ACTION:SYSNAME TIMEOUT_MS
 *        with a libudev monitor listening, writes DATA to PATH, prints the write's result, whether SYSNAME
 *        exists right after write() returned ("now present" / "now absent"), then every uevent as
 *        "ACTION SYSNAME [DRIVER=..] [AUTHORIZED=..]" until ACTION for SYSNAME came ("done") or the timeout
 *   sim-probe enumerate SUBSYSTEM PROPERTY
 *        libudev enumeration: "SYSNAME PROPERTY=VALUE" for each device of SUBSYSTEM
 *   sim-probe vfio GROUP BDF OTHER
 *        the VFIO steps of QEMU for GROUP and its function BDF (tests/common/vfio-steps.c), OTHER a function
 *        outside the group ("-": none)
 *
 * DATA may use \n. Exit status: 0 on success, 1 on failure, 2 on usage errors. */

#include <errno.h>
#include <fcntl.h>
#include <libudev.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../common/vfio-steps.c"

static const char *errname(int e) {
        switch (e) {
        case EPERM:
                return "EPERM";
        case ENOENT:
                return "ENOENT";
        case EIO:
                return "EIO";
        case E2BIG:
                return "E2BIG";
        case EAGAIN:
                return "EAGAIN";
        case EACCES:
                return "EACCES";
        case EBUSY:
                return "EBUSY";
        case EEXIST:
                return "EEXIST";
        case ENODEV:
                return "ENODEV";
        case EINVAL:
                return "EINVAL";
        case ERANGE:
                return "ERANGE";
        case ETIMEDOUT:
                return "ETIMEDOUT";
        case ENOKEY:
                return "ENOKEY";
        case EKEYREJECTED:
                return "EKEYREJECTED";
        case EOPNOTSUPP:
                return "EOPNOTSUPP";
        case ENOTTY:
                return "ENOTTY";
        case ENOSPC:
                return "ENOSPC";
        case EBADF:
                return "EBADF";
        default:
                return "E?";
        }
}

static char *unescape(const char *s) {
        char *r = strdup(s), *o = r;
        if (!r)
                abort();
        for (; *s; s++) {
                if (s[0] == '\\' && s[1] == 'n') {
                        *o++ = '\n';
                        s++;
                } else
                        *o++ = *s;
        }
        *o = '\0';
        return r;
}

static long long now_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

static int do_write(const char *path, const char *data) {
        int fd = open(path, O_WRONLY | O_CLOEXEC);
        ssize_t n;

        if (fd < 0) {
                printf("err %s\n", errname(errno));
                return 1;
        }
        n = write(fd, data, strlen(data));
        if (n < 0)
                printf("err %s\n", errname(errno));
        else
                printf("ok %zd\n", n);
        close(fd);
        return n < 0;
}

static int do_stdio(const char *path, const char *data, int use_fflush) {
        FILE *f = fopen(path, "we");
        int r;

        if (!f) {
                printf("err %s\n", errname(errno));
                return 1;
        }
        fputs(data, f);
        if (use_fflush) {
                r = fflush(f);
                int e = errno;
                (void) fclose(f);
                errno = e;
        } else
                r = fclose(f);
        if (r != 0)
                printf("err %s\n", errname(errno));
        else
                printf("ok\n");
        return r != 0;
}

static void print_event(struct udev_device *d) {
        const char *drv = udev_device_get_property_value(d, "DRIVER");
        const char *auth = udev_device_get_property_value(d, "AUTHORIZED");

        printf("%s %s", udev_device_get_action(d), udev_device_get_sysname(d));
        if (drv && strcmp(udev_device_get_action(d), "bind") == 0)
                printf(" DRIVER=%s", drv);
        if (auth)
                printf(" AUTHORIZED=%s", auth);
        printf("\n");
        fflush(stdout);
}

static int do_watch_write(const char *path, const char *data, const char *until, int timeout_ms) {
        struct udev *udev = udev_new();
        struct udev_monitor *mon = udev_monitor_new_from_netlink(udev, "udev");
        const char *colon = strchr(until, ':');
        char devpath[512];
        long long deadline;
        int r = 1;

        if (!mon || !colon || udev_monitor_enable_receiving(mon) < 0) {
                fprintf(stderr, "sim-probe: cannot set up the monitor\n");
                return 2;
        }
        (void) do_write(path, data);
        snprintf(devpath, sizeof(devpath), "/sys/bus/pci/devices/%s", colon + 1);
        printf("now %s\n", access(devpath, F_OK) == 0 ? "present" : "absent");
        fflush(stdout);

        deadline = now_ms() + timeout_ms;
        while (now_ms() < deadline) {
                struct pollfd p = { .fd = udev_monitor_get_fd(mon), .events = POLLIN };
                struct udev_device *d;

                if (poll(&p, 1, (int) (deadline - now_ms())) <= 0)
                        continue;
                d = udev_monitor_receive_device(mon);
                if (!d)
                        continue;
                print_event(d);
                if (strncmp(udev_device_get_action(d), until, colon - until) == 0 &&
                    strlen(udev_device_get_action(d)) == (size_t) (colon - until) &&
                    strcmp(udev_device_get_sysname(d), colon + 1) == 0)
                        r = 0;
                udev_device_unref(d);
                if (r == 0)
                        break;
        }
        printf("%s\n", r == 0 ? "done" : "timeout");
        udev_monitor_unref(mon);
        udev_unref(udev);
        return r;
}

static int do_enumerate(const char *subsystem, const char *property) {
        struct udev *udev = udev_new();
        struct udev_enumerate *e = udev_enumerate_new(udev);
        struct udev_list_entry *l;

        udev_enumerate_add_match_subsystem(e, subsystem);
        udev_enumerate_scan_devices(e);
        udev_list_entry_foreach(l, udev_enumerate_get_list_entry(e)) {
                struct udev_device *d = udev_device_new_from_syspath(udev, udev_list_entry_get_name(l));
                const char *v;

                if (!d)
                        continue;
                v = udev_device_get_property_value(d, property);
                printf("%s %s=%s\n", udev_device_get_sysname(d), property, v ?: "");
                udev_device_unref(d);
        }
        udev_enumerate_unref(e);
        udev_unref(udev);
        return 0;
}

int main(int argc, char **argv) {
        const char *verb = argc > 1 ? argv[1] : "";
        char *data = argc > 3 ? unescape(argv[3]) : NULL;
        int r = 2;

        if (strcmp(verb, "write") == 0 && argc == 4)
                r = do_write(argv[2], data);
        else if (strcmp(verb, "timed-write") == 0 && argc == 4) {
                long long t = now_ms();
                r = do_write(argv[2], data);
                printf("ms %lld\n", now_ms() - t);
        } else if ((strcmp(verb, "fprintf") == 0 || strcmp(verb, "fflush") == 0) && argc == 4)
                r = do_stdio(argv[2], data, strcmp(verb, "fflush") == 0);
        else if (strcmp(verb, "watch-write") == 0 && argc == 6) {
                char *end;
                long ms = strtol(argv[5], &end, 10);
                if (!*end && ms >= 0 && ms <= 600000)
                        r = do_watch_write(argv[2], data, argv[4], (int) ms);
        } else if (strcmp(verb, "enumerate") == 0 && argc == 4)
                r = do_enumerate(argv[2], argv[3]);
        else if (strcmp(verb, "vfio") == 0 && argc == 5) {
                char *end;
                long group = strtol(argv[2], &end, 10);
                if (!*end && group >= 0 && group < 100000)
                        r = vfio_steps((int) group, argv[3], argv[4]);
        } else
                fprintf(stderr, "usage: see the comment at the top of sim-probe.c\n");
        free(data);
        return r;
}
