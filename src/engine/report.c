/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <stdarg.h>

#include "report.h"
#include "util.h"

void report_done(Report *r) {
        strv_free(r->lines);
        free(r->error);
        *r = (Report){};
}

_printf_(3, 0) static int add_line(Report *r, bool change, const char *fmt, va_list ap) {
        char *s;
        int k;

        if (vasprintf(&s, fmt, ap) < 0)
                return -ENOMEM;
        k = strv_push(&r->lines, &r->n_lines, &r->n_lines_allocated, s);
        if (k < 0)
                return k;
        if (change)
                r->n_changes++;
        if (r->on_line)
                r->on_line(s, change, r->userdata);
        return k;
}

int report_change(Report *r, const char *fmt, ...) {
        va_list ap;
        int k;

        va_start(ap, fmt);
        k = add_line(r, true, fmt, ap);
        va_end(ap);
        return k;
}

int report_note(Report *r, const char *fmt, ...) {
        va_list ap;
        int k;

        va_start(ap, fmt);
        k = add_line(r, false, fmt, ap);
        va_end(ap);
        return k;
}

int report_error(Report *r, int error, const char *fmt, ...) {
        va_list ap;

        if (r->error)
                return error;
        /* "%m" in fmt names the error, as in systemd's log_error_errno() */
        errno = error < 0 ? -error : error;
        va_start(ap, fmt);
        if (vasprintf(&r->error, fmt, ap) < 0)
                r->error = NULL;
        va_end(ap);
        return error;
}
