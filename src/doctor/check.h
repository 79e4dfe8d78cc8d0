/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include "macro.h"
#include "util.h"

/* The verdict of one check. Ordered from best to worst, so that MAX() gives the worse. */
typedef enum CheckStatus {
        CHECK_OK,
        CHECK_SKIP, /* does not apply to this machine */
        CHECK_WARN,
        CHECK_FAIL,
        _CHECK_STATUS_MAX,
        _CHECK_STATUS_INVALID = -EINVAL,
} CheckStatus;

/* One check, as "egpuctl doctor" and "egpuctl guest check" report it. */
typedef struct Check {
        char *id; /* stable, for scripts: "iommu", "vfio-bound", ... */
        CheckStatus status;
        char *summary; /* one line naming the devices involved; never NULL once finished */
        char *fix;     /* for warn/fail: commands or file contents that mend it, lines joined by '\n';
                        * NULL when there is nothing to do */
        /* The builder's bookkeeping (check.c): the lengths of summary and fix, the steps and lines of the
         * fix given so far. NULL until needed. Change summary and fix only through the functions below
         * once a check is being built; one set from outside is measured again, not tracked. */
        struct CheckText *text;
} Check;

/* A growing list of checks. */
typedef struct CheckList {
        Check *checks;
        size_t n_checks;
        size_t n_allocated; /* room in checks, doubled as it grows */
} CheckList;

const char *check_status_to_string(CheckStatus s) _pure_;
CheckStatus check_status_from_string(const char *s) _pure_;

void check_list_done(CheckList *l);
/* Moves the array out: *ret_checks and *ret_n take ownership, the list is left empty. */
void check_list_steal(CheckList *l, Check **ret_checks, size_t *ret_n);
void check_array_free(Check *checks, size_t n);

/* The worst status in the list; CHECK_OK for an empty list. SKIP does not make the result worse than OK. */
CheckStatus checks_result(const Check *checks, size_t n) _pure_;

/* Adds a finished check with a printf-style summary; the fix can be set afterwards with check_set_fix().
 * Returns the new check (valid until the next addition) or NULL when out of memory. */
Check *check_list_add(CheckList *l, const char *id, CheckStatus status, const char *fmt, ...) _printf_(4, 5);

/* Building a check step by step: begin with status OK and no summary; each problem raises the status and
 * adds a sentence to the summary ("; " between them); each fix line is appended to the fix. Finish with
 * check_finish(), which puts ok_summary in place when no problem was added. All return -ENOMEM on
 * allocation failure and leave the check usable. */
Check *check_list_begin(CheckList *l, const char *id);
int check_problem(Check *c, CheckStatus status, const char *fmt, ...) _printf_(3, 4);
int check_fix(Check *c, const char *fmt, ...) _printf_(2, 3);
int check_set_fix(Check *c, const char *fmt, ...) _printf_(2, 3);
int check_finish(Check *c, CheckStatus status_if_no_problem, const char *fmt, ...) _printf_(3, 4);
/* Whether a problem has been added. */
static inline bool check_has_problem(const Check *c) {
        return c->status >= CHECK_WARN;
}
