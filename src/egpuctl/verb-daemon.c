/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <dlfcn.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <syslog.h>
#include <systemd/sd-bus.h>

#include "egpuctl.h"
#include "hotplug.h"
#include "lock.h"
#include "util.h"

/* The daemon: the engine's hot-plug logic (src/engine/hotplug.h) driven by a poll() loop, with what only a
 * process started by systemd has: signals, READY=1 and STOPPING=1, and whether the system shuts down. */

static void log_line(int priority, const char *line) {
        char *p = printable(line);

        switch (priority) {
        case LOG_ERR:
                log_error("%s", p);
                break;
        case LOG_WARNING:
                log_warning("%s", p);
                break;
        case LOG_INFO:
                log_info("%s", p);
                break;
        default:
                log_debug("%s", p);
        }
        printable_free(p);
}

/* Tells systemd our state ($NOTIFY_SOCKET), as sd_notify() does; nothing when not run by systemd. The
 * few lines here spare the daemon libsystemd and the libraries it pulls in while it idles. */
static void notify(const char *state) {
        _cleanup_close_ int fd = -EBADF;
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        const char *path = getenv("NOTIFY_SOCKET");
        size_t len;

        if (!path || (path[0] != '/' && path[0] != '@') || strlen(path) >= sizeof(sa.sun_path))
                return;
        len = strlen(path);
        memcpy(sa.sun_path, path, len);
        if (sa.sun_path[0] == '@')
                sa.sun_path[0] = 0; /* abstract namespace */
        fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (fd < 0 ||
            sendto(fd,
                   state,
                   strlen(state),
                   MSG_NOSIGNAL,
                   (struct sockaddr *) &sa,
                   (socklen_t) (offsetof(struct sockaddr_un, sun_path) + len)) < 0)
                log_warning("Failed to notify systemd (%s): %m", state);
}

/* Whether the system is shutting down (systemd's SystemState "stopping"), asked over systemd's private
 * socket because the bus daemon may be gone by then. libsystemd is loaded only now, on the way out.
 * $EGPUCTL_SYSTEM_STATE stands in for it in tests. */
static bool system_is_stopping(void) {
        int (*bus_new)(sd_bus **), (*set_address)(sd_bus *, const char *), (*start)(sd_bus *);
        int (*get_property_string)(
                sd_bus *,
                const char *,
                const char *,
                const char *,
                const char *,
                sd_bus_error *,
                char **);
        sd_bus *(*flush_close_unref)(sd_bus *);
        void (*error_free)(sd_bus_error *);
        sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_free_ char *state = NULL;
        const char *e = getenv("EGPUCTL_SYSTEM_STATE");
        sd_bus *bus = NULL;
        void *lib;
        int r;

        if (e)
                return streq(e, "stopping");
        lib = dlopen("libsystemd.so.0", RTLD_NOW | RTLD_LOCAL);
        if (!lib) {
                log_warning("libsystemd is missing, so whether the system shuts down is unknown; leaving "
                            "devices as they are");
                return false;
        }
        *(void **) &bus_new = dlsym(lib, "sd_bus_new");
        *(void **) &set_address = dlsym(lib, "sd_bus_set_address");
        *(void **) &start = dlsym(lib, "sd_bus_start");
        *(void **) &get_property_string = dlsym(lib, "sd_bus_get_property_string");
        *(void **) &flush_close_unref = dlsym(lib, "sd_bus_flush_close_unref");
        *(void **) &error_free = dlsym(lib, "sd_bus_error_free");
        if (!bus_new || !set_address || !start || !get_property_string || !flush_close_unref || !error_free)
                r = -ENOSYS;
        else {
                r = bus_new(&bus);
                if (r >= 0)
                        r = set_address(bus, "unix:path=/run/systemd/private");
                if (r >= 0)
                        r = start(bus);
                if (r >= 0)
                        r = get_property_string(
                                bus,
                                "org.freedesktop.systemd1",
                                "/org/freedesktop/systemd1",
                                "org.freedesktop.systemd1.Manager",
                                "SystemState",
                                &error,
                                &state);
                error_free(&error);
                if (bus)
                        flush_close_unref(bus);
        }
        dlclose(lib);
        if (r < 0) {
                errno_set(r);
                log_warning(
                        "Failed to ask systemd whether the system is shutting down (%m); leaving devices as "
                        "they are");
                return false;
        }
        return streq_ptr(state, "stopping");
}

enum { ARG_ON_SURPRISE_UNPLUG = ARG_VERB_FIRST, ARG_UNPLUG_TIMEOUT };

static int daemon_option(int c, const char *arg, void *userdata) {
        HotplugOptions *o = userdata;
        uint32_t seconds;

        if (c == ARG_ON_SURPRISE_UNPLUG) {
                o->on_surprise_unplug = surprise_policy_from_string(arg);
                if (o->on_surprise_unplug < 0)
                        return usage_error(
                                "daemon",
                                "--on-surprise-unplug takes wait or stop-vm, not '%s'",
                                arg);
                return 0;
        }
        /* ARG_UNPLUG_TIMEOUT */
        if (safe_atou32(arg, 10, &seconds) < 0 || seconds == 0 || seconds > 600)
                return usage_error("daemon", "--unplug-timeout takes seconds, 1 to 600, not '%s'", arg);
        o->live.unplug_timeout_ms = (int) seconds * 1000;
        return 0;
}

int verb_daemon(int argc, char *argv[]) {
        static const struct option options[] = {
                COMMON_OPTIONS,
                { "on-surprise-unplug", required_argument, NULL, ARG_ON_SURPRISE_UNPLUG },
                { "unplug-timeout", required_argument, NULL, ARG_UNPLUG_TIMEOUT },
                {},
        };
        _cleanup_(hotplug_freep) Hotplug *d = NULL;
        _cleanup_(event_server_freep) EventServer *events = NULL;
        _cleanup_close_ int sfd = -EBADF;
        _cleanup_free_ char *dir = NULL, *runtime = NULL;
        HotplugOptions o = {
                .attach = { .timeout_ms = ATTACH_TIMEOUT_MS_DEFAULT,
                            .write_timeout_ms = ATTACH_WRITE_TIMEOUT_MS_DEFAULT },
                .live = { .qmp_timeout_ms = LIVE_QMP_TIMEOUT_MS_DEFAULT,
                          .unplug_timeout_ms = LIVE_UNPLUG_TIMEOUT_MS_DEFAULT },
                .on_surprise_unplug = SURPRISE_WAIT,
                .kmsg_path = "/dev/kmsg",
                .lock_timeout_ms = 120000,
                .log = log_line,
        };
        bool starting;
        sigset_t mask;
        int r;

        r = verb_parse("daemon", argc, argv, options, daemon_option, &o);
        if (r != 0)
                return r < 0 ? EXIT_OK : r;

        log_set_prefix_priority(true);
        r = store_dir_default(arg_global.root, &dir);
        if (r < 0)
                return log_error_errno(r, "Failed to find the enrolment store: %m"), EXIT_PROBLEM;
        o.attach.store_dir = dir;
        o.attach.root = o.root = arg_global.root;

        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        pthread_sigmask(SIG_BLOCK, &mask, NULL); /* before any thread starts, so they inherit it */
        sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
        if (sfd < 0)
                return log_error("Failed to set up signals: %m"), EXIT_PROBLEM;

        /* What egpuctl monitor hears from us: a daemon without it still works. */
        r = runtime_dir_default(arg_global.root, &runtime);
        if (r >= 0)
                r = event_server_new(runtime, &events);
        if (r < 0) {
                errno_set(r);
                log_warning("Failed to open the event socket for egpuctl monitor: %m");
        }
        o.events = events;

        /* Watch first, then attach what is there: nothing that appears in between is missed. */
        r = hotplug_new(&o, &d);
        if (r < 0)
                return log_error_errno(r, "Failed to watch device events: %m"), EXIT_PROBLEM;
        /* Boot with the eGPU connected: attach what is there, in workers, while the loop keeps reading
         * events; ready once those attaches ended, so that guests ordered after us find their GPU. */
        warn_if_boltd();
        hotplug_start(d);
        starting = true;

        for (;;) {
                struct pollfd fds[HOTPLUG_N_FDS + 2];
                int hfds[HOTPLUG_N_FDS];
                const size_t SIG = HOTPLUG_N_FDS, EVENTS = HOTPLUG_N_FDS + 1;

                hotplug_fds(d, hfds);
                for (size_t i = 0; i < HOTPLUG_N_FDS; i++)
                        fds[i] = (struct pollfd){ .fd = hfds[i], .events = POLLIN };
                fds[SIG] = (struct pollfd){ .fd = sfd, .events = POLLIN };
                fds[EVENTS] =
                        (struct pollfd){ .fd = events ? event_server_fd(events) : -1, .events = POLLIN };
                if (poll(fds, ELEMENTSOF(fds), starting && hotplug_running(d) == 0 ? 0 : -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        log_error("poll() failed: %m");
                        break;
                }
                if (fds[EVENTS].revents & POLLIN)
                        (void) event_server_accept(events);
                hotplug_process(d);
                if (starting && hotplug_running(d) == 0) {
                        starting = false;
                        notify("READY=1\nSTATUS=Watching Thunderbolt and PCI events");
                        log_info("Ready; watching Thunderbolt and PCI events");
                }
                if (fds[SIG].revents & POLLIN) {
                        struct signalfd_siginfo si;
                        (void) !read(sfd, &si, sizeof(si));
                        break;
                }
        }

        notify("STOPPING=1");
        hotplug_wait(d, o.attach.timeout_ms + 2 * o.attach.write_timeout_ms);
        if (system_is_stopping()) {
                log_info("The system is shutting down: detaching eGPUs");
                hotplug_detach_all(d);
        } else
                log_info("Stopping without touching devices (the system is not shutting down)");
        return EXIT_OK;
}
