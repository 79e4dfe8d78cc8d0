/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <getopt.h>
#include <poll.h>
#include <time.h>

#include "egpuctl.h"
#include "event-socket.h"
#include "lock.h"
#include "sysfs.h"
#include "util.h"

/* How often to look for the daemon's socket while it is not there. */
#define MONITOR_DAEMON_RETRY_MS 1000

static json_object *event_to_json(const Event *e, const char *text) {
        json_object *o = json_object_new_object();
        time_t sec = (time_t) (e->timestamp_usec / 1000000ULL);
        char stamp[sizeof("2025-01-01T00:00:00.000000Z") + 16];
        struct tm tm;

        if (!o)
                return NULL;
        if (!gmtime_r(&sec, &tm) || strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm) == 0)
                stamp[0] = 0;
        else
                snprintf(
                        stamp + strlen(stamp),
                        sizeof(stamp) - strlen(stamp),
                        ".%06lluZ",
                        (unsigned long long) (e->timestamp_usec % 1000000ULL));
        json_object_object_add(o, "timestamp", json_string_or_null(stamp));
        json_object_object_add(o, "timestamp_usec", json_object_new_int64((int64_t) e->timestamp_usec));
        json_object_object_add(o, "event", json_string_or_null(event_type_to_string(e->type)));
        json_object_object_add(o, "source", json_string_or_null(e->source));
        json_object_object_add(o, "device", json_string_or_null(e->device));
        json_object_object_add(o, "name", json_string_or_null(e->name));
        json_object_object_add(o, "driver", json_string_or_null(e->driver));
        json_object_object_add(o, "group", json_int_or_null(e->group));
        json_object_object_add(o, "egpu", json_string_or_null(e->egpu));
        json_object_object_add(o, "tunnel", json_object_new_boolean(e->tunnel));
        json_object_object_add(o, "vm", json_string_or_null(e->vm));
        json_object_object_add(o, "message", json_string_or_null(e->message));
        json_object_object_add(o, "text", json_string_or_null(text));
        return o;
}

/* One line per event, flushed, so that a pipe sees it when it happens. */
static void print_event(Event *e) {
        _cleanup_free_ char *text = NULL;

        if (e->timestamp_usec == 0)
                e->timestamp_usec = event_now_usec();
        if (event_to_text(e, &text) < 0)
                return;
        if (arg_global.json) {
                _cleanup_(json_object_putp) json_object *o = event_to_json(e, text);
                const char *s = o ? json_object_to_json_string_ext(
                                            o,
                                            JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)
                                  : NULL;
                if (s)
                        puts(s);
        } else {
                time_t sec = (time_t) (e->timestamp_usec / 1000000ULL);
                char clock[sizeof("00:00:00")];
                struct tm tm;
                char *p = printable(text);

                if (!localtime_r(&sec, &tm) || strftime(clock, sizeof(clock), "%H:%M:%S", &tm) == 0)
                        clock[0] = 0;
                printf("%s%s.%03u%s  %s\n",
                       ansi_bold(),
                       clock,
                       (unsigned) (e->timestamp_usec % 1000000ULL / 1000ULL),
                       ansi_normal(),
                       p);
                printable_free(p);
        }
        fflush(stdout);
}

/* A batch of uevents: each read against the host before and after the batch, then the groups that
 * changed. The host after becomes the next batch's before. */
static int handle_uevents(struct udev *udev, struct udev_monitor *m, const Enrolled *enrolled, Host **host) {
        _cleanup_(host_freep) Host *after = NULL;
        struct udev_device **batch = NULL;
        size_t n = 0, allocated = 0;
        Event **groups = NULL;
        size_t n_groups = 0;
        uint64_t now = event_now_usec();
        struct udev_device *d;
        int r = 0;

        while ((d = udev_monitor_receive_device(m))) {
                if (ARRAY_RESERVE(batch, allocated, n + 1) < 0) {
                        udev_device_unref(d);
                        r = -ENOMEM;
                        break;
                }
                batch[n++] = d;
        }
        /* A device that goes while the host is read may fail the reading: the events are then read
         * against the host before, and the groups compared at the next batch. */
        if (r >= 0 && host_load_enrolled(udev, enrolled, &after) < 0)
                log_debug("Failed to read the devices after a batch of events; reading them without");
        for (size_t i = 0; r >= 0 && i < n; i++) {
                _cleanup_(event_freep) Event *e = NULL;

                r = event_from_uevent(batch[i], *host, after ?: *host, &e);
                if (r >= 0 && e) {
                        e->timestamp_usec = now;
                        print_event(e);
                }
        }
        if (r >= 0 && after)
                r = event_groups_diff(*host, after, &groups, &n_groups);
        for (size_t i = 0; r >= 0 && i < n_groups; i++) {
                groups[i]->timestamp_usec = now;
                print_event(groups[i]);
        }
        events_free(groups, n_groups);
        for (size_t i = 0; i < n; i++)
                udev_device_unref(batch[i]);
        free(batch);
        if (r < 0)
                return r;
        if (after) {
                host_free(*host);
                *host = TAKE_PTR(after);
        }
        return 0;
}

int verb_monitor(int argc, char *argv[]) {
        static const struct option options[] = { COMMON_OPTIONS, {} };
        _cleanup_(udev_monitor_unrefp) struct udev_monitor *m = NULL;
        _cleanup_(udev_unrefp) struct udev *udev = NULL;
        _cleanup_(enrolled_done) Enrolled enrolled = {};
        _cleanup_(host_freep) Host *host = NULL;
        _cleanup_free_ char *runtime_dir = NULL;
        _cleanup_close_ int daemon_fd = -EBADF;
        int r;

        r = verb_parse("monitor", argc, argv, options, NULL, NULL);
        if (r != 0)
                return r < 0 ? EXIT_OK : r;

        udev = udev_new();
        if (!udev)
                return log_error("Failed to create a udev context: %m"), EXIT_PROBLEM;
        (void) enrolled_load_verbose(&enrolled, NULL); /* for PCIe eGPUs; Thunderbolt ones need none */
        /* The monitor first, so that nothing between the first snapshot and the first event is lost. */
        r = event_uevent_monitor_open(udev, &m);
        if (r < 0)
                return log_error_errno(r, "Failed to watch for device events: %m"), EXIT_PROBLEM;
        r = host_load_enrolled(udev, &enrolled, &host);
        if (r < 0)
                return log_error_errno(r, "Failed to read the devices from sysfs: %m"), EXIT_PROBLEM;
        r = runtime_dir_default(arg_global.root, &runtime_dir);
        if (r < 0)
                return log_error_errno(r, "Failed to find the runtime folder ($RUNTIME_DIRECTORY): %m"),
                       EXIT_PROBLEM;
        if (!arg_global.json) {
                printf("Watching Thunderbolt devices, PCI functions, drivers and IOMMU groups, and the "
                       "daemon's decisions while it runs. Ctrl-C ends.\n");
                fflush(stdout);
        }

        for (;;) {
                struct pollfd p[2] = {
                        { .fd = udev_monitor_get_fd(m), .events = POLLIN },
                        { .fd = daemon_fd, .events = POLLIN },
                };

                if (daemon_fd < 0 && event_client_connect(runtime_dir, &daemon_fd) >= 0) {
                        p[1].fd = daemon_fd;
                        log_debug(
                                "Connected to the daemon's events at %s/%s",
                                runtime_dir,
                                EVENT_SOCKET_NAME);
                }
                if (poll(p, 2, daemon_fd < 0 ? MONITOR_DAEMON_RETRY_MS : -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        return log_error("poll() failed: %m"), EXIT_PROBLEM;
                }
                if (p[0].revents & POLLIN) {
                        r = handle_uevents(udev, m, &enrolled, &host);
                        if (r < 0)
                                return log_error_errno(r, "Failed to read the device events: %m"),
                                       EXIT_PROBLEM;
                }
                if (daemon_fd >= 0 && p[1].revents) {
                        _cleanup_(event_freep) Event *e = NULL;

                        r = event_client_receive(daemon_fd, &e);
                        if (r < 0 && r != -EBADMSG) {
                                errno_set(r);
                                log_debug("Lost the daemon's events: %m");
                        }
                        if (e)
                                print_event(e);
                        else if (r != -EBADMSG) {
                                close(daemon_fd); /* it stopped: look again later */
                                daemon_fd = -EBADF;
                        }
                }
        }
}
