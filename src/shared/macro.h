/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define _cleanup_(f)         __attribute__((cleanup(f)))
#define _unused_             __attribute__((unused))
#define _pure_               __attribute__((pure))
#define _const_              __attribute__((const))
#define _printf_(a, b)       __attribute__((format(printf, a, b)))
#define _warn_unused_result_ __attribute__((warn_unused_result))
#define _public_             __attribute__((visibility("default")))

#define ELEMENTSOF(x)        (sizeof(x) / sizeof((x)[0]))
#define MIN(a, b)            ((a) < (b) ? (a) : (b))
#define MAX(a, b)            ((a) > (b) ? (a) : (b))

#define streq(a, b)          (strcmp((a), (b)) == 0)
#define strneq(a, b, n)      (strncmp((a), (b), (n)) == 0)

static inline bool streq_ptr(const char *a, const char *b) {
        if (!a || !b)
                return a == b;
        return streq(a, b);
}

static inline const char *strna(const char *s) {
        return s ?: "n/a";
}

static inline const char *strempty(const char *s) {
        return s ?: "";
}

static inline void *mfree(void *p) {
        free(p);
        return NULL;
}

/* Takes the pointer out of a cleanup variable, so that it is not freed at the end of the scope. */
#define TAKE_PTR(p)                       \
        ({                                \
                __typeof__(p) _tp_ = (p); \
                (p) = NULL;               \
                _tp_;                     \
        })

#define TAKE_FD(fd)              \
        ({                       \
                int _tf_ = (fd); \
                (fd) = -EBADF;   \
                _tf_;            \
        })

/* Defines func##p(type **p), suitable for _cleanup_(), calling func(*p) when *p is set. */
#define DEFINE_TRIVIAL_CLEANUP_FUNC(type, func) \
        static inline void func##p(type *p) {   \
                if (*p)                         \
                        func(*p);               \
        }

static inline void freep(void *p) {
        free(*(void **) p);
}
#define _cleanup_free_ _cleanup_(freep)

static inline void closep(int *fd) {
        if (*fd >= 0) {
                int saved = errno;
                close(*fd);
                errno = saved;
        }
}
#define _cleanup_close_ _cleanup_(closep)

static inline void fclosep(FILE **f) {
        if (*f)
                fclose(*f);
}
#define _cleanup_fclose_ _cleanup_(fclosep)

/* Frees a NULL-terminated array of strings and the array. */
static inline void strv_free(char **l) {
        if (!l)
                return;
        for (char **i = l; *i; i++)
                free(*i);
        free(l);
}
DEFINE_TRIVIAL_CLEANUP_FUNC(char **, strv_free);
#define _cleanup_strv_free_ _cleanup_(strv_freep)

#define STRV_FOREACH(s, l)  for (char **s = (l); s && *s; s++)

/* Iterates over an array of n elements: p points to each. A NULL array is empty (NULL + 0 is undefined). */
#define FOREACH_ARRAY(p, array, n) \
        for (__typeof__(*(array)) *p = (array), *_end_##p = p ? p + (n) : p; p < _end_##p; p++)

/* Returns -errno, never 0, from the errno of the last failing call. */
static inline int negative_errno(void) {
        return errno > 0 ? -errno : -EIO;
}

/* Sets errno from a -errno value and returns -1, so that %m prints it. */
static inline int errno_set(int r) {
        errno = r < 0 ? -r : r;
        return -1;
}

/* IN_SET(x, a, b, ...): whether x equals one of the values. */
#define IN_SET(x, first, ...)                                             \
        ({                                                                \
                bool _found_ = false;                                     \
                const __typeof__(first) _xv_ = (x);                       \
                const __typeof__(first) _set_[] = { first, __VA_ARGS__ }; \
                for (size_t _i_ = 0; _i_ < ELEMENTSOF(_set_); _i_++)      \
                        if (_set_[_i_] == _xv_) {                         \
                                _found_ = true;                           \
                                break;                                    \
                        }                                                 \
                _found_;                                                  \
        })

#include <dirent.h>
static inline void closedirp(DIR **d) {
        if (*d)
                closedir(*d);
}
