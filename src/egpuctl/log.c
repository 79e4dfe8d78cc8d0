/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <stdarg.h>
#include <syslog.h>

#include "egpuctl.h"

static int max_level = LOG_INFO;
static bool prefix_priority = false;

void log_set_max_level(int level) {
        max_level = level;
}

void log_set_prefix_priority(bool b) {
        prefix_priority = b;
}

static void log_va(int level, const char *fmt, va_list ap) {
        int saved = errno;

        if (level > max_level)
                return;
        if (prefix_priority)
                fprintf(stderr, "<%d>", level);
        else
                fputs("egpuctl: ", stderr);
        errno = saved; /* so that %m prints the caller's errno */
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
        errno = saved;
}

_printf_(2, 3) static void log_at(int level, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        log_va(level, fmt, ap);
        va_end(ap);
}

#define DEFINE_LOG(name, level)           \
        void name(const char *fmt, ...) { \
                va_list ap;               \
                va_start(ap, fmt);        \
                log_va(level, fmt, ap);   \
                va_end(ap);               \
        }

DEFINE_LOG(log_error, LOG_ERR)
DEFINE_LOG(log_warning, LOG_WARNING)
DEFINE_LOG(log_info, LOG_INFO)
DEFINE_LOG(log_debug, LOG_DEBUG)

int log_error_errno(int error, const char *fmt, ...) {
        va_list ap;

        errno_set(error);
        va_start(ap, fmt);
        log_va(LOG_ERR, fmt, ap);
        va_end(ap);
        return error;
}

void log_printable(int level, const char *s) {
        char *p = printable(s);

        log_at(level, "%s", p);
        printable_free(p);
}

int usage_error(const char *verb, const char *fmt, ...) {
        va_list ap;

        fprintf(stderr, "egpuctl%s%s: ", verb ? " " : "", verb ?: "");
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputs("\nTry 'egpuctl --help'.\n", stderr);
        return EXIT_USAGE;
}
