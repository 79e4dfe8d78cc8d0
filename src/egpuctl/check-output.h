/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdio.h>

#include "check.h"
#include "output.h"

/* The output of a list of checks, shared by "egpuctl doctor" and "egpuctl guest check".
 *
 * JSON: {"checks": [{"id", "status", "summary", "fix"}], "result": "ok|warn|fail"}, the checks in the
 * order given, "fix" null when there is none. Device strings are made valid UTF-8 (json_string_or_null()).
 *
 * Text: the checks grouped by status, the worst first (failed, warnings, passed, not applicable), each
 * with its summary and, for warn/fail, its fix indented below; then a result line. Every string passes
 * through printable(); colours only when arg_global.no_color is false. */

/* Builds the JSON object described above. NULL when out of memory. */
json_object *checks_to_json(const Check *checks, size_t n);
/* Prints to stdout as JSON or text, as arg_global.json says. title (text only, may be NULL) heads the
 * report. Returns 0 or -errno. */
int checks_print(const Check *checks, size_t n, const char *title);
int checks_print_text(FILE *f, const Check *checks, size_t n, const char *title);
/* EXIT_PROBLEM when any check failed, else EXIT_OK. */
int checks_exit_status(const Check *checks, size_t n);
