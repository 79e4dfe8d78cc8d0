/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>

#include "macro.h"

/* Told each line as it is added, before the adding function returns; change says whether it is a change
 * (report_change()) or a note. The line stays owned by the Report. */
typedef void (*ReportLineFunction)(const char *line, bool change, void *userdata);

/* What an action changed and, when it failed, why: lines for the caller to print. The library does not
 * print; it tells, at the end through lines, or as it goes through on_line. */
typedef struct Report {
        char **lines; /* what happened, in order: changes made, and notes that changed nothing */
        size_t n_lines, n_lines_allocated; /* strv_push() */
        size_t n_changes;                  /* how many of the lines are changes */
        char *error;                       /* why it failed, naming the devices; NULL when it did not */
        ReportLineFunction on_line;        /* NULL, or told each line as it is added */
        void *userdata;                    /* for on_line */
} Report;

void report_done(Report *r);
int report_change(Report *r, const char *fmt, ...) _printf_(2, 3);
int report_note(Report *r, const char *fmt, ...) _printf_(2, 3);
/* Records why the action failed (the first reason wins) and returns error, a -errno. */
int report_error(Report *r, int error, const char *fmt, ...) _printf_(3, 4);
