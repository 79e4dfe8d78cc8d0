/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <stdarg.h>

#include "check.h"

static const char *const status_table[_CHECK_STATUS_MAX] = {
        [CHECK_OK] = "ok",
        [CHECK_SKIP] = "skip",
        [CHECK_WARN] = "warn",
        [CHECK_FAIL] = "fail",
};

const char *check_status_to_string(CheckStatus s) {
        if (s < 0 || s >= _CHECK_STATUS_MAX)
                return "invalid";
        return status_table[s];
}

CheckStatus check_status_from_string(const char *s) {
        if (!s)
                return _CHECK_STATUS_INVALID;
        for (int i = 0; i < _CHECK_STATUS_MAX; i++)
                if (streq(status_table[i], s))
                        return (CheckStatus) i;
        return _CHECK_STATUS_INVALID;
}

void check_array_free(Check *checks, size_t n) {
        for (size_t i = 0; i < n; i++) {
                free(checks[i].id);
                free(checks[i].summary);
                free(checks[i].fix);
        }
        free(checks);
}

void check_list_done(CheckList *l) {
        check_array_free(l->checks, l->n_checks);
        l->checks = NULL;
        l->n_checks = 0;
}

void check_list_steal(CheckList *l, Check **ret_checks, size_t *ret_n) {
        *ret_checks = TAKE_PTR(l->checks);
        *ret_n = l->n_checks;
        l->n_checks = 0;
}

CheckStatus checks_result(const Check *checks, size_t n) {
        CheckStatus worst = CHECK_OK;

        for (size_t i = 0; i < n; i++)
                if (checks[i].status >= CHECK_WARN)
                        worst = MAX(worst, checks[i].status);
        return worst;
}

static int vstrextendf(char **s, const char *fmt, va_list ap) {
        _cleanup_free_ char *add = NULL;
        size_t old, n;
        char *t;

        if (vasprintf(&add, fmt, ap) < 0)
                return -ENOMEM;
        if (!*s) {
                *s = TAKE_PTR(add);
                return 0;
        }
        old = strlen(*s);
        n = strlen(add);
        t = realloc(*s, old + n + 1);
        if (!t)
                return -ENOMEM;
        memcpy(t + old, add, n + 1);
        *s = t;
        return 0;
}

int strextendf(char **s, const char *fmt, ...) {
        va_list ap;
        int r;

        va_start(ap, fmt);
        r = vstrextendf(s, fmt, ap);
        va_end(ap);
        return r;
}

/* A summary is one line, whatever a device's name holds: line breaks become spaces. (Other control
 * characters stay; the output escapes them.) */
static void one_line(char *s) {
        for (; s && *s; s++)
                if (*s == '\n' || *s == '\r')
                        *s = ' ';
}

Check *check_list_begin(CheckList *l, const char *id) {
        Check *t;
        char *i;

        i = strdup(id);
        if (!i)
                return NULL;
        t = realloc(l->checks, sizeof(Check) * (l->n_checks + 1));
        if (!t) {
                free(i);
                return NULL;
        }
        l->checks = t;
        t[l->n_checks] = (Check){ .id = i, .status = CHECK_OK };
        return &t[l->n_checks++];
}

Check *check_list_add(CheckList *l, const char *id, CheckStatus status, const char *fmt, ...) {
        Check *c;
        va_list ap;
        int r;

        c = check_list_begin(l, id);
        if (!c)
                return NULL;
        c->status = status;
        va_start(ap, fmt);
        r = vstrextendf(&c->summary, fmt, ap);
        va_end(ap);
        one_line(c->summary);
        return r < 0 ? NULL : c;
}

int check_problem(Check *c, CheckStatus status, const char *fmt, ...) {
        va_list ap;
        int r;

        if (check_has_problem(c) && c->summary) {
                r = strextendf(&c->summary, "; ");
                if (r < 0)
                        return r;
        } else
                c->summary = mfree(c->summary);
        va_start(ap, fmt);
        r = vstrextendf(&c->summary, fmt, ap);
        va_end(ap);
        one_line(c->summary);
        c->status = MAX(c->status, status);
        return r;
}

/* Whether chunk is already one of the newline-separated pieces that make up fix. */
static bool fix_has_chunk(const char *fix, const char *chunk) {
        size_t n = strlen(chunk);

        for (const char *p = fix; (p = strstr(p, chunk)); p++)
                if ((p == fix || p[-1] == '\n') && (p[n] == 0 || p[n] == '\n'))
                        return true;
        return false;
}

int check_fix(Check *c, const char *fmt, ...) {
        _cleanup_free_ char *add = NULL;
        va_list ap;
        int r;

        va_start(ap, fmt);
        r = vstrextendf(&add, fmt, ap);
        va_end(ap);
        if (r < 0)
                return r;
        /* The same step asked for twice (two devices needing one command) is given once. */
        if (c->fix && fix_has_chunk(c->fix, add))
                return 0;
        return strextendf(&c->fix, "%s%s", c->fix ? "\n" : "", add);
}

int check_set_fix(Check *c, const char *fmt, ...) {
        va_list ap;
        int r;

        c->fix = mfree(c->fix);
        va_start(ap, fmt);
        r = vstrextendf(&c->fix, fmt, ap);
        va_end(ap);
        return r;
}

int check_finish(Check *c, CheckStatus status_if_no_problem, const char *fmt, ...) {
        va_list ap;
        int r = 0;

        if (check_has_problem(c)) {
                if (!c->summary)
                        return strextendf(&c->summary, "%s", "problem found");
                return 0;
        }
        /* Neither ok nor skip carries a fix. */
        c->fix = mfree(c->fix);
        c->status = status_if_no_problem;
        c->summary = mfree(c->summary);
        va_start(ap, fmt);
        r = vstrextendf(&c->summary, fmt, ap);
        va_end(ap);
        one_line(c->summary);
        return r;
}
