/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <fcntl.h>
#include <pthread.h>
#include <time.h>

#include "sysfs.h"
#include "util.h"

int sysfs_attr_string(struct udev_device *d, const char *attr, char **ret) {
        const char *v;
        char *c;

        v = udev_device_get_sysattr_value(d, attr);
        if (!v)
                return -ENOENT;
        c = strdup(v);
        if (!c)
                return -ENOMEM;
        *ret = strstrip_trailing(c);
        return 0;
}

int sysfs_attr_u32(struct udev_device *d, const char *attr, int base, uint32_t *ret) {
        const char *v;

        v = udev_device_get_sysattr_value(d, attr);
        if (!v)
                return -ENOENT;
        return safe_atou32(v, base, ret);
}

int sysfs_attr_int(struct udev_device *d, const char *attr, int *ret) {
        const char *v;

        v = udev_device_get_sysattr_value(d, attr);
        if (!v)
                return -ENOENT;
        return safe_atoi(v, ret);
}

int sysfs_write(const char *path, const char *value) {
        _cleanup_close_ int fd = -EBADF;
        size_t len = strlen(value);
        ssize_t n;

        fd = open(path, O_WRONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return negative_errno();
        do
                n = write(fd, value, len);
        while (n < 0 && errno == EINTR);
        if (n < 0)
                return negative_errno();
        if ((size_t) n != len)
                return -EIO;
        return 0;
}

int sysfs_write_attr(const char *syspath, const char *attr, const char *value) {
        _cleanup_free_ char *p = path_join(syspath, attr);

        if (!p)
                return -ENOMEM;
        return sysfs_write(p, value);
}

int sysfs_read_attr(const char *syspath, const char *attr, char **ret) {
        _cleanup_free_ char *p = path_join(syspath, attr), *v = NULL;
        int r;

        if (!p)
                return -ENOMEM;
        r = read_full_file(p, 64 * 1024, &v, NULL);
        if (r < 0)
                return r;
        *ret = strstrip_trailing(TAKE_PTR(v));
        return 0;
}

/* Shared between the caller and the thread that writes (value set) or reads (value NULL, what was read
 * in read); the last one out frees it. */
typedef struct TimedWrite {
        pthread_mutex_t lock;
        pthread_cond_t done_cond;
        unsigned refs;
        bool done;
        int result;
        char *path;
        char *value;
        char *read;
} TimedWrite;

static void timed_write_unref(TimedWrite *w) {
        bool last;

        pthread_mutex_lock(&w->lock);
        last = --w->refs == 0;
        pthread_mutex_unlock(&w->lock);
        if (!last)
                return;
        pthread_mutex_destroy(&w->lock);
        pthread_cond_destroy(&w->done_cond);
        free(w->path);
        free(w->value);
        free(w->read);
        free(w);
}

static void *timed_write_thread(void *p) {
        TimedWrite *w = p;
        char *v = NULL;
        int r = w->value ? sysfs_write(w->path, w->value) : read_full_file(w->path, 4096, &v, NULL);

        pthread_mutex_lock(&w->lock);
        w->result = r;
        w->read = v;
        w->done = true;
        pthread_cond_signal(&w->done_cond);
        pthread_mutex_unlock(&w->lock);
        timed_write_unref(w);
        return NULL;
}

/* Runs the write (value) or the read (value NULL) in a thread, waiting at most timeout for it. */
static int timed_io(const char *path, const char *value, usec_t timeout, char **ret_read) {
        pthread_attr_t tattr;
        pthread_t thread;
        struct timespec deadline;
        TimedWrite *w;
        int r;

        w = calloc(1, sizeof(TimedWrite));
        if (!w)
                return -ENOMEM;
        w->path = strdup(path);
        w->value = value ? strdup(value) : NULL;
        if (!w->path || (value && !w->value)) {
                free(w->path);
                free(w->value);
                free(w);
                return -ENOMEM;
        }
        pthread_mutex_init(&w->lock, NULL);
        cond_init_monotonic(&w->done_cond);
        w->refs = 2;

        pthread_attr_init(&tattr);
        pthread_attr_setdetachstate(&tattr, PTHREAD_CREATE_DETACHED);
        r = pthread_create(&thread, &tattr, timed_write_thread, w);
        pthread_attr_destroy(&tattr);
        if (r != 0) {
                w->refs = 1;
                timed_write_unref(w);
                return -r;
        }

        /* pthread_cond_timedwait() takes the deadline as a timespec on the condition's clock. */
        timespec_from_usec(&deadline, usec_add(now_usec(), timeout));

        pthread_mutex_lock(&w->lock);
        while (!w->done) {
                if (pthread_cond_timedwait(&w->done_cond, &w->lock, &deadline) == ETIMEDOUT)
                        break;
        }
        r = w->done ? w->result : -ETIMEDOUT;
        if (r >= 0 && ret_read)
                *ret_read = TAKE_PTR(w->read);
        pthread_mutex_unlock(&w->lock);
        timed_write_unref(w);
        return r;
}

int sysfs_write_timeout(const char *path, const char *value, usec_t timeout) {
        return timed_io(path, value, timeout, NULL);
}

int sysfs_read_timeout(const char *path, usec_t timeout, char **ret) {
        char *v = NULL;
        int r;

        r = timed_io(path, NULL, timeout, &v);
        if (r < 0)
                return r;
        *ret = strstrip_trailing(v);
        return 0;
}
