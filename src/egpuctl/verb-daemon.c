/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <getopt.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <syslog.h>
#include <dlfcn.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <systemd/sd-bus.h>

#include "egpuctl.h"
#include "sysfs.h"
#include "util.h"

/* The daemon: attaches enrolled devices at start (boot with the eGPU connected), then follows udev
 * events for hot-plug and for host drivers that grab a function first. Attaches run in worker threads,
 * so that a write that blocks for seconds never stalls the event loop; idle, it sleeps in poll() with
 * no timeout. On stop it detaches only when the system is shutting down. */

typedef struct Job {
        char *device; /* Thunderbolt name */
        bool again;   /* an event came while it ran: run once more */
        struct Job *next;
} Job;

typedef struct Daemon {
        AttachOptions options;
        char *store_dir;
        int done_fd; /* eventfd: a worker finished */
        pthread_mutex_t lock;
        Job *jobs; /* in flight */
        unsigned n_running;
} Daemon;

typedef struct WorkerArgs {
        Daemon *daemon;
        Job *job;
} WorkerArgs;

static int load_enrolled_quiet(const char *dir, Enrolled *ret) {
        StoreError *errors = NULL;
        size_t n_errors = 0;
        int r;

        r = store_load(dir, &ret->list, &ret->n, &errors, &n_errors);
        for (size_t i = 0; i < n_errors; i++) {
                char *p = printable(errors[i].path), *m = printable(errors[i].message);
                log_warning("%s:%u: %s", p, errors[i].line, m);
                printable_free(p);
                printable_free(m);
        }
        store_errors_free(errors, n_errors);
        return r;
}

static void run_attach(Daemon *d, const char *device) {
        _cleanup_(udev_unrefp) struct udev *udev = udev_new();
        _cleanup_(enrolled_done) Enrolled enrolled = {};
        _cleanup_(report_done) Report rep = {};
        _cleanup_free_ char *what = NULL;
        int r;

        if (!udev) {
                log_error("Failed to create a udev context: %m");
                return;
        }
        r = load_enrolled_quiet(d->store_dir, &enrolled);
        if (r < 0) {
                errno_set(r);
                log_error("Failed to read the enrolment store %s: %m", d->store_dir);
                return;
        }
        r = attach_device(udev, &enrolled, device, &d->options, &rep);
        if (r == -ENODEV && rep.error) {
                /* Unplugged while we worked on it: not a failure of ours; its add event comes next. */
                char *p = printable(rep.error);
                log_info("%s: went away during the attach (%s)", device, p);
                printable_free(p);
                return;
        }
        if (asprintf(&what, "Failed to attach %s", device) < 0)
                what = NULL;
        /* Nothing to do is the common answer to the events of our own attach: not worth a line. */
        report_log(&rep, r == 0, what ?: "attach");
        if (r > 0)
                log_info("%s: attached", device);
        else if (r == 0)
                log_debug("%s: already attached", device);
}

static void *worker(void *p) {
        WorkerArgs *a = p;
        Daemon *d = a->daemon;
        Job *job = a->job;
        uint64_t one = 1;

        free(a);
        for (;;) {
                run_attach(d, job->device);
                pthread_mutex_lock(&d->lock);
                if (!job->again) {
                        /* Done: unlink the job. */
                        for (Job **j = &d->jobs; *j; j = &(*j)->next)
                                if (*j == job) {
                                        *j = job->next;
                                        break;
                                }
                        d->n_running--;
                        pthread_mutex_unlock(&d->lock);
                        break;
                }
                job->again = false;
                pthread_mutex_unlock(&d->lock);
        }
        free(job->device);
        free(job);
        (void) !write(d->done_fd, &one, sizeof(one));
        return NULL;
}

/* Starts an attach of device in a worker, or asks the running one to go once more. */
static void schedule_attach(Daemon *d, const char *device) {
        pthread_attr_t attr;
        pthread_t thread;
        WorkerArgs *a;
        Job *job;

        pthread_mutex_lock(&d->lock);
        for (Job *j = d->jobs; j; j = j->next)
                if (streq(j->device, device)) {
                        j->again = true;
                        pthread_mutex_unlock(&d->lock);
                        return;
                }
        job = calloc(1, sizeof(Job));
        a = calloc(1, sizeof(WorkerArgs));
        if (!job || !a || !(job->device = strdup(device))) {
                pthread_mutex_unlock(&d->lock);
                free(job ? job->device : NULL);
                free(job);
                free(a);
                log_error("Out of memory; not attaching %s", device);
                return;
        }
        a->daemon = d;
        a->job = job;
        job->next = d->jobs;
        d->jobs = job;
        d->n_running++;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        if (pthread_create(&thread, &attr, worker, a) != 0) {
                d->jobs = job->next;
                d->n_running--;
                free(job->device);
                free(job);
                free(a);
                log_error("Failed to start a worker for %s", device);
        }
        pthread_attr_destroy(&attr);
        pthread_mutex_unlock(&d->lock);
}

/* The router (or PCIe port) an event concerns, when it is enrolled with policy auto and its eGPU is not
 * bound yet: its name, else NULL. */
static char *event_router(const Host *h, struct udev_device *dev, const Enrolled *enrolled) {
        const char *subsystem = udev_device_get_subsystem(dev), *action = udev_device_get_action(dev);
        const Enrollment *e;
        const TbDevice *t = NULL;

        if (!subsystem || !action || streq(action, "remove") || streq(action, "unbind"))
                return NULL;

        if (streq(subsystem, "thunderbolt")) {
                if (!streq_ptr(udev_device_get_devtype(dev), "thunderbolt_device"))
                        return NULL;
                t = host_find_tb_device(h, udev_device_get_sysname(dev));
                if (!t || t->host_router)
                        return NULL;
                /* A tunnel already open with its eGPU on vfio-pci needs nothing. */
                if (t->authorized > 0) {
                        const Egpu *g = host_find_egpu_of_router(h, t);
                        if (!g || egpu_all_on_driver(g, "vfio-pci"))
                                return NULL;
                }
        } else if (streq(subsystem, "pci")) {
                const PciFunction *f = host_find_pci(h, udev_device_get_sysname(dev));
                const Egpu *g = f ? host_find_egpu_of(h, f) : NULL;

                if (!g || streq_ptr(f->driver, "vfio-pci"))
                        return NULL;
                if (g->port) {
                        e = enrollments_find_port(enrolled->list, enrolled->n, g->port);
                        return e && e->policy == ENROLL_POLICY_AUTO ? strdup(g->port) : NULL;
                }
                if (!g->tb_device)
                        return NULL;
                t = g->tb_device;
        } else
                return NULL;

        e = t->unique_id ? enrollments_find(enrolled->list, enrolled->n, t->unique_id) : NULL;
        if (!e || e->policy != ENROLL_POLICY_AUTO)
                return NULL;
        return strdup(t->name);
}

/* Reads every pending event first, so that a burst (a tunnel brings a dozen) never fills the socket,
 * then reads the store and sysfs once for all of them. */
static void handle_events(Daemon *d, struct udev *udev, struct udev_monitor *mon) {
        _cleanup_(enrolled_done) Enrolled enrolled = {};
        _cleanup_(host_freep) Host *h = NULL;
        _cleanup_strv_free_ char **routers = NULL;
        struct udev_device **events = NULL, *dev;
        size_t n = 0, allocated = 0, n_routers = 0, routers_allocated = 0;

        while ((dev = udev_monitor_receive_device(mon))) {
                if (ARRAY_RESERVE(events, allocated, n + 1) < 0) {
                        udev_device_unref(dev);
                        break;
                }
                events[n++] = dev;
        }
        if (n > 0 && load_enrolled_quiet(d->store_dir, &enrolled) >= 0 &&
            host_load_enrolled(udev, &enrolled, &h) >= 0)
                for (size_t i = 0; i < n; i++) {
                        _cleanup_free_ char *router = event_router(h, events[i], &enrolled);

                        if (!router || strv_contains(routers, router))
                                continue;
                        log_debug(
                                "%s %s: attaching %s",
                                udev_device_get_action(events[i]),
                                udev_device_get_sysname(events[i]),
                                router);
                        if (strv_push(&routers, &n_routers, &routers_allocated, strdup(router)) >= 0)
                                schedule_attach(d, router);
                }
        for (size_t i = 0; i < n; i++)
                udev_device_unref(events[i]);
        free(events);
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

static void for_each_enrolled_connected(Daemon *d, bool attach) {
        _cleanup_(udev_unrefp) struct udev *udev = udev_new();
        _cleanup_(enrolled_done) Enrolled enrolled = {};
        _cleanup_(host_freep) Host *h = NULL;

        if (!udev || load_enrolled_quiet(d->store_dir, &enrolled) < 0 ||
            host_load_enrolled(udev, &enrolled, &h) < 0) {
                log_error("Failed to read the devices or the enrolment store");
                return;
        }
        /* PCIe eGPUs present below their enrolled ports. */
        FOREACH_ARRAY(g, h->egpus, h->n_egpus) {
                _cleanup_(report_done) Report rep = {};
                const Enrollment *e;
                int r;

                if (!(*g)->port)
                        continue;
                e = enrollments_find_port(enrolled.list, enrolled.n, (*g)->port);
                if (!e || (attach && e->policy != ENROLL_POLICY_AUTO))
                        continue;
                if (attach) {
                        schedule_attach(d, (*g)->port);
                        continue;
                }
                r = detach_pcie(udev, &enrolled, (*g)->port, &d->options, &rep);
                report_log(&rep, false, "Failed to detach");
                if (r >= 0)
                        log_info("%s: detached for shutdown", (*g)->port);
        }
        FOREACH_ARRAY(t, h->tb_devices, h->n_tb_devices) {
                _cleanup_(report_done) Report rep = {};
                const Enrollment *e;
                int r;

                if ((*t)->host_router || !(*t)->unique_id)
                        continue;
                e = enrollments_find(enrolled.list, enrolled.n, (*t)->unique_id);
                if (!e || (attach && e->policy != ENROLL_POLICY_AUTO))
                        continue;
                if (attach) {
                        schedule_attach(d, (*t)->name);
                        continue;
                }
                r = detach_thunderbolt(udev, &enrolled, (*t)->name, &d->options, &rep);
                report_log(&rep, false, "Failed to detach");
                if (r >= 0)
                        log_info("%s: detached for shutdown", (*t)->name);
        }
}

static void wait_workers(Daemon *d, int timeout_ms) {
        uint64_t deadline = now_usec() + (uint64_t) timeout_ms * 1000ULL;

        for (;;) {
                struct pollfd p = { .fd = d->done_fd, .events = POLLIN };
                uint64_t v, now = now_usec();
                unsigned running;

                pthread_mutex_lock(&d->lock);
                running = d->n_running;
                pthread_mutex_unlock(&d->lock);
                if (running == 0 || now >= deadline)
                        return;
                if (poll(&p, 1, (int) ((deadline - now) / 1000) + 1) > 0)
                        (void) !read(d->done_fd, &v, sizeof(v));
        }
}

int verb_daemon(int argc, char *argv[]) {
        static const struct option options[] = { COMMON_OPTIONS, {} };
        _cleanup_(udev_unrefp) struct udev *udev = NULL;
        _cleanup_(udev_monitor_unrefp) struct udev_monitor *mon = NULL;
        _cleanup_close_ int sfd = -EBADF, done_fd = -EBADF;
        _cleanup_free_ char *dir = NULL;
        Daemon d = {
                .options = { .timeout_ms = ATTACH_TIMEOUT_MS_DEFAULT,
                             .write_timeout_ms = ATTACH_WRITE_TIMEOUT_MS_DEFAULT },
        };
        bool udevd, starting;
        sigset_t mask;
        int c, r;

        while ((c = getopt_long(argc, argv, COMMON_SHORT_OPTIONS, options, NULL)) >= 0) {
                r = verb_common_option("daemon", c);
                if (r != 0)
                        return r < 0 ? EXIT_OK : r;
        }
        r = verb_check_args("daemon", argc, argv, optind);
        if (r != 0)
                return r;

        log_set_prefix_priority(true);
        r = store_dir_default(arg_global.root, &dir);
        if (r < 0) {
                errno_set(r);
                return log_error("Failed to find the enrolment store: %m"), EXIT_PROBLEM;
        }
        d.store_dir = dir;
        d.options.store_dir = dir;
        pthread_mutex_init(&d.lock, NULL);

        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        pthread_sigmask(SIG_BLOCK, &mask, NULL); /* before any thread starts, so they inherit it */
        sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
        done_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (sfd < 0 || done_fd < 0)
                return log_error("Failed to set up signals: %m"), EXIT_PROBLEM;
        d.done_fd = done_fd;

        udev = udev_new();
        if (!udev)
                return log_error("Failed to create a udev context: %m"), EXIT_PROBLEM;
        /* Watch first, then attach what is there: nothing that appears in between is missed. */
        udevd = access("/run/udev/control", F_OK) == 0 || getenv("UMOCKDEV_DIR");
        mon = udev_monitor_new_from_netlink(udev, udevd ? "udev" : "kernel");
        if (!mon || udev_monitor_filter_add_match_subsystem_devtype(mon, "thunderbolt", NULL) < 0 ||
            udev_monitor_filter_add_match_subsystem_devtype(mon, "pci", NULL) < 0 ||
            udev_monitor_enable_receiving(mon) < 0)
                return log_error("Failed to watch device events: %m"), EXIT_PROBLEM;

        /* Boot with the eGPU connected: attach what is there, in workers, while the loop keeps reading
         * events; ready once those attaches ended, so that guests ordered after us find their GPU. */
        warn_if_boltd();
        for_each_enrolled_connected(&d, true);
        starting = true;

        for (;;) {
                struct pollfd fds[] = {
                        { .fd = udev_monitor_get_fd(mon), .events = POLLIN },
                        { .fd = sfd, .events = POLLIN },
                        { .fd = done_fd, .events = POLLIN },
                };

                unsigned running;

                pthread_mutex_lock(&d.lock);
                running = d.n_running;
                pthread_mutex_unlock(&d.lock);
                if (poll(fds, ELEMENTSOF(fds), starting && running == 0 ? 0 : -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        log_error("poll() failed: %m");
                        break;
                }
                if (fds[2].revents & POLLIN) {
                        uint64_t v;
                        (void) !read(done_fd, &v, sizeof(v));
                }
                if (starting) {
                        pthread_mutex_lock(&d.lock);
                        running = d.n_running;
                        pthread_mutex_unlock(&d.lock);
                        if (running == 0) {
                                starting = false;
                                notify("READY=1\nSTATUS=Watching Thunderbolt and PCI events");
                                log_info("Ready; watching Thunderbolt and PCI events");
                        }
                }
                if (fds[0].revents & POLLIN)
                        handle_events(&d, udev, mon);
                if (fds[1].revents & POLLIN) {
                        struct signalfd_siginfo si;
                        (void) !read(sfd, &si, sizeof(si));
                        break;
                }
        }

        notify("STOPPING=1");
        wait_workers(&d, d.options.timeout_ms + 2 * d.options.write_timeout_ms);
        if (system_is_stopping()) {
                log_info("The system is shutting down: detaching eGPUs");
                for_each_enrolled_connected(&d, false);
        } else
                log_info("Stopping without touching devices (the system is not shutting down)");
        return EXIT_OK;
}
