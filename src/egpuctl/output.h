/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <json-c/json.h>

#include "json-util.h"
#include "macro.h"

/* A JSON string of s with invalid UTF-8 replaced (json-c escapes quotes and control characters),
 * or JSON null for NULL (json-c's null is the NULL pointer, so NULL also comes back when out of
 * memory, and is then printed as null). */
json_object *json_string_or_null(const char *s);
/* An integer, or null when negative (the model's "absent"). */
json_object *json_int_or_null(int v);
/* "0x1002"-style id strings are not used: ids are printed as 4-digit hex strings "1002". */
json_object *json_hex16(unsigned v);

/* Adds key: s as a JSON string (invalid UTF-8 replaced), or null; -ENOMEM when that fails. */
int json_add_string(json_object *o, const char *key, const char *s);

/* Prints o to stdout, pretty, with a newline. */
int json_print(json_object *o);

/* Text output: a copy of s made printable for a terminal (see str_printable()); "-" for NULL.
 * Never returns NULL: on allocation failure it returns a static "?". The result is freed with
 * printable_free(). */
char *printable(const char *s);
void printable_free(char *p);

/* Colour escapes, empty when colours are off. */
const char *ansi_bold(void);
const char *ansi_red(void);
const char *ansi_yellow(void);
const char *ansi_green(void);
const char *ansi_normal(void);

/* A table of text cells printed with aligned columns. Cells are copied and made printable. */
typedef struct Table Table;
Table *table_new(size_t n_columns);
Table *table_free(Table *t);
DEFINE_TRIVIAL_CLEANUP_FUNC(Table *, table_free);
/* Adds one row of n_columns cells (NULL shows as "-"). */
int table_add_row(Table *t, ...);
/* Prints the rows, each indented by indent spaces, the first row in bold when header is true. */
void table_print(const Table *t, FILE *f, unsigned indent, bool header);
