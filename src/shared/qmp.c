/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "qmp.h"
#include "util.h"

/* A message larger than this is not QMP as QEMU speaks it (query-pci of a large VM is some 100 KiB). */
#define QMP_MAX_MESSAGE (16U * 1024U * 1024U)

typedef struct QmpEvent {
        char *name;
        json_object *data;
} QmpEvent;

struct Qmp {
        int fd;
        char *buf; /* what was read and not parsed yet */
        size_t len, allocated;
        QmpEvent *events; /* kept for qmp_wait_event(), oldest first */
        size_t n_events, events_allocated;
        uint64_t next_id;
};

Qmp *qmp_close(Qmp *q) {
        if (!q)
                return NULL;
        if (q->fd >= 0)
                close(q->fd);
        free(q->buf);
        FOREACH_ARRAY(e, q->events, q->n_events) {
                free(e->name);
                json_object_put(e->data);
        }
        free(q->events);
        free(q);
        return NULL;
}

/* Waits until fd is ready for events, or -ETIMEDOUT at deadline. */
static int wait_fd(int fd, short events, uint64_t deadline) {
        for (;;) {
                struct pollfd p = { .fd = fd, .events = events };
                uint64_t now = now_usec();
                int r;

                if (now >= deadline)
                        return -ETIMEDOUT;
                r = poll(&p, 1, (int) MIN((deadline - now + 999) / 1000, (uint64_t) INT32_MAX));
                if (r < 0 && errno == EINTR)
                        continue;
                if (r < 0)
                        return negative_errno();
                if (r > 0)
                        return 0;
        }
}

/* Reads one message (a line) into *ret, before deadline. */
static int read_message(Qmp *q, uint64_t deadline, json_object **ret) {
        for (;;) {
                char *nl = q->len > 0 ? memchr(q->buf, '\n', q->len) : NULL;
                ssize_t n;
                int r;

                if (nl) {
                        size_t line = (size_t) (nl - q->buf) + 1;
                        json_object *o;

                        *nl = '\0';
                        o = json_tokener_parse(q->buf);
                        memmove(q->buf, q->buf + line, q->len - line);
                        q->len -= line;
                        if (!o || !json_object_is_type(o, json_type_object)) {
                                json_object_put(o);
                                return -EBADMSG;
                        }
                        *ret = o;
                        return 0;
                }
                if (q->len >= QMP_MAX_MESSAGE)
                        return -EMSGSIZE;
                r = ARRAY_RESERVE(q->buf, q->allocated, q->len + 65536);
                if (r < 0)
                        return r;
                r = wait_fd(q->fd, POLLIN, deadline);
                if (r < 0)
                        return r;
                n = read(q->fd, q->buf + q->len, q->allocated - q->len - 1);
                if (n < 0 && (errno == EINTR || errno == EAGAIN))
                        continue;
                if (n < 0)
                        return negative_errno();
                if (n == 0)
                        return -ECONNRESET;
                q->len += (size_t) n;
        }
}

static int send_all(Qmp *q, const char *s, uint64_t deadline) {
        size_t len = strlen(s), done = 0;

        while (done < len) {
                ssize_t n = send(q->fd, s + done, len - done, MSG_NOSIGNAL);
                int r;

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && errno == EAGAIN) {
                        r = wait_fd(q->fd, POLLOUT, deadline);
                        if (r < 0)
                                return r;
                        continue;
                }
                if (n < 0)
                        return negative_errno();
                done += (size_t) n;
        }
        return 0;
}

/* Keeps an event for qmp_wait_event(); takes msg over. */
static int keep_event(Qmp *q, json_object *msg) {
        json_object *data = NULL;
        char *name;
        int r;

        name = strdup(json_get_string(msg, "event"));
        if (!name) {
                json_object_put(msg);
                return -ENOMEM;
        }
        if (json_object_object_get_ex(msg, "data", &data))
                json_object_get(data);
        json_object_put(msg);
        r = ARRAY_RESERVE(q->events, q->events_allocated, q->n_events + 1);
        if (r < 0) {
                free(name);
                json_object_put(data);
                return r;
        }
        q->events[q->n_events++] = (QmpEvent){ .name = name, .data = data };
        return 0;
}

int qmp_execute(
        Qmp *q,
        const char *command,
        json_object *args,
        uint64_t deadline,
        json_object **ret,
        char **ret_error) {
        _cleanup_(json_object_putp) json_object *req = json_object_new_object();
        uint64_t id = ++q->next_id;
        int r;

        if (!req || json_object_object_add(req, "execute", json_object_new_string(command)) < 0 ||
            json_object_object_add(req, "id", json_object_new_int64((int64_t) id)) < 0 ||
            (args && json_object_object_add(req, "arguments", json_object_get(args)) < 0))
                return -ENOMEM;
        {
                _cleanup_free_ char *line = NULL;

                if (asprintf(&line, "%s\r\n", json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN)) <
                    0)
                        return -ENOMEM;
                r = send_all(q, line, deadline);
                if (r < 0)
                        return r;
        }
        for (;;) {
                json_object *msg = NULL, *v;

                r = read_message(q, deadline, &msg);
                if (r < 0)
                        return r;
                if (json_get_string(msg, "event")) {
                        r = keep_event(q, msg);
                        if (r < 0)
                                return r;
                        continue;
                }
                if (json_get_int(msg, "id", -1) != (int64_t) id) {
                        json_object_put(msg); /* an answer to a command that timed out before */
                        continue;
                }
                if ((v = json_get(msg, "error", json_type_object))) {
                        if (ret_error &&
                            asprintf(
                                    ret_error,
                                    "%s: %s",
                                    strna(json_get_string(v, "class")),
                                    strna(json_get_string(v, "desc"))) < 0)
                                *ret_error = NULL;
                        json_object_put(msg);
                        return -EREMOTEIO;
                }
                if (!json_object_object_get_ex(msg, "return", &v)) {
                        json_object_put(msg);
                        return -EBADMSG;
                }
                if (ret)
                        *ret = json_object_get(v);
                json_object_put(msg);
                return 0;
        }
}

int qmp_wait_event(
        Qmp *q,
        const char *name,
        bool (*match)(json_object *data, void *userdata),
        void *userdata,
        uint64_t deadline,
        json_object **ret_data) {
        for (size_t checked = 0;;) {
                json_object *msg = NULL;
                int r;

                for (; checked < q->n_events; checked++) {
                        QmpEvent *e = &q->events[checked];

                        if (!streq(e->name, name) || (match && !match(e->data, userdata)))
                                continue;
                        if (ret_data)
                                *ret_data = e->data;
                        else
                                json_object_put(e->data);
                        free(e->name);
                        memmove(e, e + 1, (q->n_events - checked - 1) * sizeof(QmpEvent));
                        q->n_events--;
                        return 0;
                }
                r = read_message(q, deadline, &msg);
                if (r < 0)
                        return r;
                if (!json_get_string(msg, "event")) {
                        json_object_put(msg); /* a late answer */
                        continue;
                }
                r = keep_event(q, msg);
                if (r < 0)
                        return r;
        }
}

int qmp_connect(const char *path, uint64_t deadline, Qmp **ret) {
        _cleanup_(qmp_closep) Qmp *q = NULL;
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        json_object *greeting = NULL;
        int r;

        if (strlen(path) >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        memcpy(sa.sun_path, path, strlen(path));
        q = calloc(1, sizeof(Qmp));
        if (!q)
                return -ENOMEM;
        q->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (q->fd < 0)
                return negative_errno();
        /* A unix socket connects at once, or says EAGAIN while the listener's backlog is full (QEMU serves
         * one client of a monitor at a time): then again, until the deadline. */
        while (connect(q->fd, (struct sockaddr *) &sa, sizeof(sa)) < 0) {
                if (errno != EAGAIN)
                        return negative_errno();
                if (now_usec() >= deadline)
                        return -ETIMEDOUT;
                (void) poll(NULL, 0, 10);
        }
        r = read_message(q, deadline, &greeting);
        if (r < 0)
                return r;
        r = json_get(greeting, "QMP", json_type_object) ? 0 : -EPROTO;
        json_object_put(greeting);
        if (r < 0)
                return r;
        r = qmp_execute(q, "qmp_capabilities", NULL, deadline, NULL, NULL);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(q);
        return 0;
}
