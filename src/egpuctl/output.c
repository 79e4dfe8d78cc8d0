/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <stdarg.h>

#include "egpuctl.h"
#include "output.h"
#include "util.h"

/* Longest device string shown in text output; longer ones end in "...". */
#define PRINTABLE_MAX 256

json_object *json_string_or_null(const char *s) {
        _cleanup_free_ char *clean = NULL;

        if (!s)
                return json_object_new_null();
        if (utf8_sanitize(s, &clean) < 0)
                return NULL;
        return json_object_new_string(clean);
}

json_object *json_int_or_null(int v) {
        return v < 0 ? json_object_new_null() : json_object_new_int(v);
}

json_object *json_hex16(unsigned v) {
        char buf[sizeof("ffffffff")];

        snprintf(buf, sizeof(buf), "%04x", v);
        return json_object_new_string(buf);
}

int json_add_string(json_object *o, const char *key, const char *s) {
        json_object *v;

        if (!s) /* json-c's null is the NULL pointer */
                return json_object_object_add(o, key, NULL) < 0 ? -ENOMEM : 0;
        v = json_string_or_null(s);
        if (!v || json_object_object_add(o, key, v) < 0) {
                json_object_put(v);
                return -ENOMEM;
        }
        return 0;
}

int json_print(json_object *o) {
        const char *s;

        s = json_object_to_json_string_ext(
                o,
                JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED | JSON_C_TO_STRING_NOSLASHESCAPE);
        if (!s)
                return -ENOMEM;
        if (puts(s) < 0 || fflush(stdout) != 0)
                return -EIO;
        return 0;
}

static char printable_oom[] = "?";

char *printable(const char *s) {
        char *p;

        if (str_printable(s ?: "-", PRINTABLE_MAX, &p) < 0)
                return printable_oom;
        return p;
}

void printable_free(char *p) {
        if (p != printable_oom)
                free(p);
}

#define ANSI(name, code)                                \
        const char *name(void) {                        \
                return arg_global.no_color ? "" : code; \
        }
ANSI(ansi_bold, "\x1b[1m")
ANSI(ansi_red, "\x1b[31m")
ANSI(ansi_yellow, "\x1b[33m")
ANSI(ansi_green, "\x1b[32m")
ANSI(ansi_normal, "\x1b[0m")

struct Table {
        size_t n_columns;
        char **cells; /* rows * n_columns */
        size_t n_rows;
};

Table *table_new(size_t n_columns) {
        Table *t = calloc(1, sizeof(Table));

        if (!t)
                return NULL;
        t->n_columns = n_columns;
        return t;
}

Table *table_free(Table *t) {
        if (!t)
                return NULL;
        for (size_t i = 0; i < t->n_rows * t->n_columns; i++)
                printable_free(t->cells[i]);
        free(t->cells);
        return mfree(t);
}

int table_add_row(Table *t, ...) {
        char **c;
        va_list ap;

        c = realloc(t->cells, sizeof(char *) * (t->n_rows + 1) * t->n_columns);
        if (!c)
                return -ENOMEM;
        t->cells = c;
        va_start(ap, t);
        for (size_t i = 0; i < t->n_columns; i++)
                c[t->n_rows * t->n_columns + i] = printable(va_arg(ap, const char *));
        va_end(ap);
        t->n_rows++;
        return 0;
}

/* Display width of a printable UTF-8 string: one column per character. */
static size_t text_width(const char *s) {
        size_t w = 0;

        for (; *s; s++)
                if (((unsigned char) *s & 0xc0) != 0x80)
                        w++;
        return w;
}

void table_print(const Table *t, FILE *f, unsigned indent, bool header) {
        _cleanup_free_ size_t *width = calloc(t->n_columns, sizeof(size_t));

        if (!width)
                return;
        for (size_t r = 0; r < t->n_rows; r++)
                for (size_t c = 0; c < t->n_columns; c++)
                        width[c] = MAX(width[c], text_width(t->cells[r * t->n_columns + c]));

        for (size_t r = 0; r < t->n_rows; r++) {
                bool bold = header && r == 0;

                fprintf(f, "%*s%s", (int) indent, "", bold ? ansi_bold() : "");
                for (size_t c = 0; c < t->n_columns; c++) {
                        const char *cell = t->cells[r * t->n_columns + c];
                        bool last = c + 1 == t->n_columns;

                        fputs(cell, f);
                        if (!last)
                                fprintf(f, "%*s", (int) (width[c] - text_width(cell) + 2), "");
                }
                fprintf(f, "%s\n", bold ? ansi_normal() : "");
        }
}
