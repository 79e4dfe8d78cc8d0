/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Times hot-plug to bound on the simulated kernel, from inside its testbed:
 *
 *     attach-timer [--device TBNAME=SLOT]... CONTROL_SOCKET RUNS [PROGRAM [ARG...]]
 *
 * Each run sends "plug TBNAME" to egpu-sim's control socket for each device (default 1-1=0000:30:00),
 * one right after the other (plugged at once), starts PROGRAM (when given) right then, as a udev rule
 * would, and waits (a libudev monitor, no polling) until functions SLOT.0 and SLOT.1 of every device are
 * bound to vfio-pci; then "unplug TBNAME" for each and waits until they are gone. Without PROGRAM whatever
 * runs already (egpuctl daemon) does the work. Prints one line per run: the milliseconds from the first
 * plug to all bound. Gives up on a run after 30 s (exit 1). */
#include <errno.h>
#include <libudev.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_DEVICES 8
static const char *names[MAX_DEVICES] = { "1-1" };
static char functions[2 * MAX_DEVICES][32] = { "0000:30:00.0", "0000:30:00.1" };
static size_t n_devices = 1;

static double now_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec * 1e3 + (double) ts.tv_nsec / 1e6;
}

static int control(const char *path, const char *line) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        char reply[256] = "";
        ssize_t n;
        int fd;

        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
        if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0 || write(fd, line, strlen(line)) < 0 ||
            write(fd, "\n", 1) < 0) {
                close(fd);
                return -errno;
        }
        n = read(fd, reply, sizeof(reply) - 1);
        close(fd);
        return n > 1 && strncmp(reply, "ok", 2) == 0 ? 0 : -EIO;
}

/* The driver a function is bound to now ("" when unbound, NULL when absent). */
static const char *driver_of(const char *bdf, char *buf, size_t size) {
        char path[128];
        ssize_t n;

        snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s", bdf);
        if (access(path, F_OK) < 0)
                return NULL;
        snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver", bdf);
        n = readlink(path, buf, size - 1);
        if (n < 0)
                return "";
        buf[n] = 0;
        return strrchr(buf, '/') ? strrchr(buf, '/') + 1 : buf;
}

static bool all_bound(void) {
        char buf[256];
        for (size_t i = 0; i < 2 * n_devices; i++) {
                const char *d = driver_of(functions[i], buf, sizeof(buf));
                if (!d || strcmp(d, "vfio-pci") != 0)
                        return false;
        }
        return true;
}

static bool all_gone(void) {
        char buf[256];
        for (size_t i = 0; i < 2 * n_devices; i++)
                if (driver_of(functions[i], buf, sizeof(buf)))
                        return false;
        return true;
}

/* Waits, by events, until done() holds; false after timeout_ms. */
static bool wait_for(struct udev_monitor *m, bool (*done)(void), double timeout_ms) {
        double deadline = now_ms() + timeout_ms;

        while (!done()) {
                struct pollfd p = { .fd = udev_monitor_get_fd(m), .events = POLLIN };
                double left = deadline - now_ms();
                struct udev_device *d;

                if (left <= 0)
                        return false;
                if (poll(&p, 1, (int) left + 1) < 0 && errno != EINTR)
                        return false;
                while ((d = udev_monitor_receive_device(m)))
                        udev_device_unref(d);
        }
        return true;
}

int main(int argc, char *argv[]) {
        struct udev *udev = udev_new();
        struct udev_monitor *m;
        char line[64];
        long runs;

        for (n_devices = 0; argc > 2 && strcmp(argv[1], "--device") == 0; argc -= 2, argv += 2) {
                char *eq = strchr(argv[2], '=');

                if (!eq || n_devices >= MAX_DEVICES || strlen(eq + 1) > 20) {
                        fprintf(stderr, "attach-timer: --device TBNAME=SLOT, at most %d\n", MAX_DEVICES);
                        return 2;
                }
                *eq = '\0';
                names[n_devices] = argv[2];
                snprintf(functions[2 * n_devices], sizeof(functions[0]), "%s.0", eq + 1);
                snprintf(functions[2 * n_devices + 1], sizeof(functions[0]), "%s.1", eq + 1);
                n_devices++;
        }
        if (n_devices == 0)
                n_devices = 1;
        if (argc < 3 || (runs = strtol(argv[2], NULL, 10)) < 1) {
                fprintf(stderr,
                        "usage: attach-timer [--device TBNAME=SLOT]... CONTROL_SOCKET RUNS [PROGRAM "
                        "[ARG...]]\n");
                return 2;
        }
        m = udev_monitor_new_from_netlink(udev, "udev");
        if (!m || udev_monitor_filter_add_match_subsystem_devtype(m, "pci", NULL) < 0 ||
            udev_monitor_enable_receiving(m) < 0) {
                fprintf(stderr, "attach-timer: cannot watch uevents\n");
                return 2;
        }
        for (long i = 0; i < runs; i++) {
                pid_t child = 0;
                double t0 = now_ms();

                for (size_t d = 0; d < n_devices; d++) {
                        snprintf(line, sizeof(line), "plug %s", names[d]);
                        if (control(argv[1], line) < 0) {
                                fprintf(stderr, "attach-timer: %s failed\n", line);
                                return 1;
                        }
                }
                if (argc > 3) {
                        child = fork();
                        if (child == 0) {
                                execvp(argv[3], argv + 3);
                                _exit(127);
                        }
                }
                if (!wait_for(m, all_bound, 30000)) {
                        fprintf(stderr, "attach-timer: run %ld: not bound after 30 s\n", i);
                        return 1;
                }
                printf("%.3f\n", now_ms() - t0);
                fflush(stdout);
                if (child > 0)
                        waitpid(child, NULL, 0);
                /* The last plugged first: a daisy-chained device goes with the one it hangs on. */
                for (size_t d = n_devices; d > 0; d--) {
                        snprintf(line, sizeof(line), "unplug %s", names[d - 1]);
                        if (control(argv[1], line) < 0) {
                                fprintf(stderr, "attach-timer: %s failed\n", line);
                                return 1;
                        }
                }
                if (!wait_for(m, all_gone, 30000)) {
                        fprintf(stderr, "attach-timer: unplug failed\n");
                        return 1;
                }
        }
        udev_monitor_unref(m);
        udev_unref(udev);
        return 0;
}
