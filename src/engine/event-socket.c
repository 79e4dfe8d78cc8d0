/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "event-socket.h"
#include "util.h"

struct EventServer {
        int fd;
        char *path;
        pthread_mutex_t lock; /* the clients: publish() runs in the daemon's workers */
        int *clients;
        size_t n_clients, n_clients_allocated;
};

uint64_t event_now_usec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        return (uint64_t) ts.tv_sec * 1000000ULL + (uint64_t) ts.tv_nsec / 1000ULL;
}

static int socket_address(const char *runtime_dir, struct sockaddr_un *ret, char **ret_path) {
        _cleanup_free_ char *path = path_join(runtime_dir, EVENT_SOCKET_NAME);
        struct sockaddr_un sa = { .sun_family = AF_UNIX };

        if (!path)
                return -ENOMEM;
        if (strlen(path) >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        memcpy(sa.sun_path, path, strlen(path) + 1);
        *ret = sa;
        if (ret_path)
                *ret_path = TAKE_PTR(path);
        return 0;
}

int event_server_new(const char *runtime_dir, EventServer **ret) {
        _cleanup_(event_server_freep) EventServer *s = NULL;
        struct sockaddr_un sa;
        int r;

        s = calloc(1, sizeof(EventServer));
        if (!s)
                return -ENOMEM;
        s->fd = -EBADF;
        pthread_mutex_init(&s->lock, NULL);
        r = socket_address(runtime_dir, &sa, &s->path);
        if (r < 0) {
                s->path = NULL;
                return r;
        }
        r = mkdir_with_parents(runtime_dir, 0700);
        if (r < 0)
                return r;
        s->fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (s->fd < 0)
                return negative_errno();
        (void) unlink(s->path); /* a socket left by a daemon that crashed */
        {
                mode_t old = umask(0177); /* 0600: a monitor must be root, as the daemon */
                r = bind(s->fd, (struct sockaddr *) &sa, sizeof(sa));
                umask(old);
        }
        if (r < 0 || listen(s->fd, 16) < 0)
                return negative_errno();
        *ret = TAKE_PTR(s);
        return 0;
}

EventServer *event_server_free(EventServer *s) {
        if (!s)
                return NULL;
        for (size_t i = 0; i < s->n_clients; i++)
                close(s->clients[i]);
        free(s->clients);
        if (s->fd >= 0) {
                close(s->fd);
                if (s->path)
                        (void) unlink(s->path);
        }
        free(s->path);
        pthread_mutex_destroy(&s->lock);
        return mfree(s);
}

int event_server_fd(const EventServer *s) {
        return s->fd;
}

int event_server_accept(EventServer *s) {
        int n = 0;

        for (;;) {
                int fd = accept4(s->fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

                if (fd < 0) {
                        if (errno == EINTR || errno == ECONNABORTED)
                                continue;
                        if (errno == EAGAIN)
                                return n;
                        return negative_errno();
                }
                (void) shutdown(fd, SHUT_RD); /* monitors only listen */
                pthread_mutex_lock(&s->lock);
                if (ARRAY_RESERVE(s->clients, s->n_clients_allocated, s->n_clients + 1) < 0) {
                        pthread_mutex_unlock(&s->lock);
                        close(fd);
                        return -ENOMEM;
                }
                s->clients[s->n_clients++] = fd;
                pthread_mutex_unlock(&s->lock);
                n++;
        }
}

int event_server_publish(EventServer *s, const Event *e) {
        _cleanup_free_ char *buf = NULL;
        Event copy = *e;
        size_t size;
        int r, n = 0;

        if (copy.timestamp_usec == 0)
                copy.timestamp_usec = event_now_usec();
        if (!copy.source)
                copy.source = (char *) "daemon";
        r = event_serialize(&copy, &buf, &size);
        if (r < 0)
                return r;

        pthread_mutex_lock(&s->lock);
        for (size_t i = 0; i < s->n_clients;) {
                /* Never wait for a reader: one that cannot take it now (EAGAIN) or went (EPIPE) is
                 * dropped, and may connect again. */
                if (send(s->clients[i], buf, size, MSG_DONTWAIT | MSG_NOSIGNAL) == (ssize_t) size) {
                        n++;
                        i++;
                        continue;
                }
                close(s->clients[i]);
                s->clients[i] = s->clients[--s->n_clients];
        }
        pthread_mutex_unlock(&s->lock);
        return n;
}

int event_server_publish_decision(EventServer *s, const char *device, const char *fmt, ...) {
        _cleanup_(event_freep) Event *e = NULL;
        va_list ap;
        int r;

        r = event_new(EVENT_DECISION, &e);
        if (r < 0)
                return r;
        va_start(ap, fmt);
        r = vasprintf(&e->message, fmt, ap);
        va_end(ap);
        if (r < 0) {
                e->message = NULL;
                return -ENOMEM;
        }
        if (device && !(e->device = strdup(device)))
                return -ENOMEM;
        return event_server_publish(s, e);
}

int event_client_connect(const char *runtime_dir, int *ret_fd) {
        _cleanup_close_ int fd = -EBADF;
        struct sockaddr_un sa;
        int r;

        r = socket_address(runtime_dir, &sa, NULL);
        if (r < 0)
                return r;
        fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return negative_errno();
        if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0)
                return negative_errno();
        *ret_fd = TAKE_FD(fd);
        return 0;
}

int event_client_receive(int fd, Event **ret) {
        _cleanup_free_ char *buf = malloc(EVENT_MESSAGE_MAX + 1);
        ssize_t n;

        if (!buf)
                return -ENOMEM;
        do
                n = recv(fd, buf, EVENT_MESSAGE_MAX + 1, MSG_TRUNC);
        while (n < 0 && errno == EINTR);
        if (n < 0)
                return errno == ECONNRESET ? (*ret = NULL, 0) : negative_errno();
        if (n == 0) {
                *ret = NULL;
                return 0;
        }
        if ((size_t) n > EVENT_MESSAGE_MAX)
                return -EBADMSG;
        return event_parse(buf, (size_t) n, ret);
}
