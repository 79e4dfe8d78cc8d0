/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include "event.h"
#include "macro.h"

/* The daemon's event socket: how 'egpuctl monitor' hears what the daemon decides and what VMs do with the
 * eGPU, which no uevent tells.
 *
 * The daemon (the only publisher) listens on a SOCK_SEQPACKET unix socket RUNTIME_DIR/events
 * (runtime_dir_default(): /run/egpuctl/events, the unit's RuntimeDirectory=, mode 0600 so root's
 * only). Each monitor connects and then only reads: one message per event, in event_serialize()'s
 * format (event.h). The publisher never waits for a reader: a monitor whose socket buffer is full, or
 * that went, is dropped. A monitor that finds no socket, or loses it (the daemon stopped), connects
 * again later.
 *
 * For the daemon:
 *     EventServer *s;
 *     event_server_new(runtime_dir, &s);           at start
 *     poll event_server_fd(s) for POLLIN, then event_server_accept(s)
 *     event_server_publish_decision(s, "1-1", "attaching %s (policy auto)", "1-1");   from any thread
 *     event_server_publish(s, e)                    an Event built with event_new(), e.g. vm-plugged
 *     event_server_free(s)                          at exit: removes the socket */

#define EVENT_SOCKET_NAME "events"

typedef struct EventServer EventServer;

/* Creates runtime_dir when missing (0700, its parents 0755) and listens on runtime_dir/events, replacing a
 * stale socket left by a crash. */
int event_server_new(const char *runtime_dir, EventServer **ret);
EventServer *event_server_free(EventServer *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(EventServer *, event_server_free);
/* The listening descriptor: readable when a monitor connects. */
int event_server_fd(const EventServer *s) _pure_;
/* Accepts every monitor waiting to connect; returns how many. */
int event_server_accept(EventServer *s);
/* Sends e to every connected monitor, setting no field of e; a timestamp of 0 is sent as now, and a
 * NULL source as "daemon". Thread-safe. Returns how many monitors got it. */
int event_server_publish(EventServer *s, const Event *e);
/* A decision event (EVENT_DECISION) about device (may be NULL) in words. */
int event_server_publish_decision(EventServer *s, const char *device, const char *fmt, ...) _printf_(3, 4);

/* For a monitor: connects to runtime_dir/events; -ENOENT or -ECONNREFUSED when no daemon listens. */
int event_client_connect(const char *runtime_dir, int *ret_fd);
/* Reads one event from fd; *ret is NULL and 0 is returned when the daemon closed the connection.
 * -EBADMSG for a message that does not parse (event_parse()). */
int event_client_receive(int fd, Event **ret);

/* CLOCK_REALTIME in microseconds, for Event.timestamp_usec. */
uint64_t event_now_usec(void);
