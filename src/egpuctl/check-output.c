/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <sys/ioctl.h>

#include "check-output.h"
#include "egpuctl.h"
#include "util.h"

/* Longest string shown; longer ones end in "...". */
#define CHECK_TEXT_MAX 8192

static char printable_oom[] = "?";

/* As printable(), with room for a whole summary or fix line. Never NULL. */
static char *printable_long(const char *s) {
        char *p;

        if (str_printable(s ?: "-", CHECK_TEXT_MAX, &p) < 0)
                return printable_oom;
        return p;
}

static void printable_long_free(char *p) {
        if (p != printable_oom)
                free(p);
}

json_object *checks_to_json(const Check *checks, size_t n) {
        _cleanup_(json_object_putp) json_object *root = json_object_new_object();
        json_object *array = json_object_new_array();

        if (!root || !array) {
                json_object_put(array);
                return NULL;
        }
        json_object_object_add(root, "checks", array);
        for (size_t i = 0; i < n; i++) {
                json_object *o = json_object_new_object(), *v;

                if (!o)
                        return NULL;
                if (json_object_array_add(array, o) < 0) {
                        json_object_put(o);
                        return NULL;
                }
                /* json_object_object_add() takes NULL as JSON null, so check each value. */
                v = json_string_or_null(checks[i].id);
                if ((checks[i].id && !v) || json_object_object_add(o, "id", v) < 0)
                        return NULL;
                v = json_object_new_string(check_status_to_string(checks[i].status));
                if (!v || json_object_object_add(o, "status", v) < 0)
                        return NULL;
                v = json_string_or_null(checks[i].summary);
                if ((checks[i].summary && !v) || json_object_object_add(o, "summary", v) < 0)
                        return NULL;
                /* JSON null is a NULL json_object in json-c. */
                v = json_string_or_null(checks[i].fix);
                if ((checks[i].fix && !v) || json_object_object_add(o, "fix", v) < 0)
                        return NULL;
        }
        json_object *result = json_object_new_string(check_status_to_string(checks_result(checks, n)));
        if (!result || json_object_object_add(root, "result", result) < 0)
                return NULL;
        return TAKE_PTR(root);
}

static const struct {
        CheckStatus status;
        const char *heading;
        const char *mark;
} groups[] = {
        { CHECK_FAIL, "Failed", "FAIL" },
        { CHECK_WARN, "Warnings", "WARN" },
        { CHECK_OK, "Passed", "ok" },
        { CHECK_SKIP, "Not applicable", "skip" },
};

static const char *status_color(CheckStatus s) {
        switch (s) {
        case CHECK_FAIL:
                return ansi_red();
        case CHECK_WARN:
                return ansi_yellow();
        case CHECK_OK:
                return ansi_green();
        default:
                return "";
        }
}

/* A copy of s safe for a terminal: control characters and invalid UTF-8 escaped as by str_printable(), but
 * backslashes kept as they are, so that fix commands can be pasted. Never NULL. */
static char *printable_keep_backslash(const char *s) {
        char *p, *w;

        p = printable_long(s);
        if (p == printable_oom)
                return p;
        /* str_printable() writes a backslash as "\\"; every other escape is a single backslash. */
        w = p;
        for (const char *r = p; *r; r++) {
                *w++ = *r;
                if (r[0] == '\\' && r[1] == '\\')
                        r++;
        }
        *w = 0;
        return p;
}

/* Prints text line by line, each made printable and indented. */
static void print_lines(FILE *f, const char *text, unsigned indent) {
        const char *p = text;

        while (*p) {
                size_t len = strcspn(p, "\n");
                _cleanup_free_ char *line = strndup(p, len);

                if (line) {
                        char *pr = printable_keep_backslash(line);
                        fprintf(f, "%*s%s\n", (len > 0) * (int) indent, "", pr);
                        printable_long_free(pr);
                }
                p += len;
                if (*p)
                        p++;
        }
}

/* Display width of a printable UTF-8 string: one column per character. */
static size_t text_columns(const char *s, size_t n) {
        size_t w = 0;

        for (size_t i = 0; i < n && s[i]; i++)
                if (((unsigned char) s[i] & 0xc0) != 0x80)
                        w++;
        return w;
}

/* Prints s (printable already) wrapped at spaces to fit width columns, continuation lines indented. */
static void print_wrapped(FILE *f, const char *s, size_t first_column, size_t indent, size_t width) {
        size_t col = first_column;
        bool line_start = true;

        while (*s) {
                size_t word = strcspn(s, " "), w = text_columns(s, word);

                if (!line_start && col + 1 + w > width) {
                        fprintf(f, "\n%*s", (int) indent, "");
                        col = indent;
                        line_start = true;
                }
                if (!line_start) {
                        fputc(' ', f);
                        col++;
                }
                fwrite(s, 1, word, f);
                col += w;
                line_start = false;
                s += word;
                s += strspn(s, " ");
        }
        fputc('\n', f);
}

static size_t output_width(FILE *f) {
        struct winsize ws = {};
        const char *e = getenv("COLUMNS");
        uint32_t v;

        if (e && safe_atou32(e, 10, &v) >= 0 && v >= 40 && v <= 1000)
                return v;
        if (ioctl(fileno(f), TIOCGWINSZ, &ws) >= 0 && ws.ws_col >= 40)
                return ws.ws_col;
        return 100;
}

int checks_print_text(FILE *f, const Check *checks, size_t n, const char *title) {
        size_t counts[_CHECK_STATUS_MAX] = {};
        size_t id_width = 0, width = output_width(f);
        CheckStatus result = checks_result(checks, n);
        bool blank = false; /* the last line printed was empty */

        for (size_t i = 0; i < n; i++) {
                if (checks[i].status >= 0 && checks[i].status < _CHECK_STATUS_MAX)
                        counts[checks[i].status]++;
                id_width = MAX(id_width, strlen(checks[i].id));
        }
        if (title)
                fprintf(f, "%s%s%s\n", ansi_bold(), title, ansi_normal());
        else
                blank = true;

        FOREACH_ARRAY(g, groups, ELEMENTSOF(groups)) {
                if (counts[g->status] == 0)
                        continue;
                fprintf(f,
                        "%s%s%s (%zu)%s\n",
                        blank ? "" : "\n",
                        ansi_bold(),
                        g->heading,
                        counts[g->status],
                        ansi_normal());
                blank = false;
                for (size_t i = 0; i < n; i++) {
                        const Check *c = &checks[i];
                        char *id, *summary;

                        if (c->status != g->status)
                                continue;
                        id = printable(c->id);
                        summary = printable_long(c->summary);
                        fprintf(f,
                                "  %s%-4s%s %-*s  ",
                                status_color(c->status),
                                g->mark,
                                ansi_normal(),
                                (int) id_width,
                                id);
                        print_wrapped(f, summary, id_width + 9, id_width + 9, width);
                        printable_free(id);
                        printable_long_free(summary);
                        if (c->fix && c->status >= CHECK_WARN) {
                                fprintf(f,
                                        "%*s%sFix:%s\n",
                                        (int) id_width + 9,
                                        "",
                                        ansi_bold(),
                                        ansi_normal());
                                print_lines(f, c->fix, (unsigned) id_width + 11);
                                fputc('\n', f);
                                blank = true;
                        } else
                                blank = false;
                }
        }
        fprintf(f,
                "%s%sResult: %s%s%s: %zu failed, %zu warning%s, %zu passed, %zu not applicable\n",
                blank ? "" : "\n",
                ansi_bold(),
                status_color(result),
                check_status_to_string(result),
                ansi_normal(),
                counts[CHECK_FAIL],
                counts[CHECK_WARN],
                counts[CHECK_WARN] == 1 ? "" : "s",
                counts[CHECK_OK],
                counts[CHECK_SKIP]);
        return fflush(f) == 0 ? 0 : -EIO;
}

int checks_print(const Check *checks, size_t n, const char *title) {
        if (arg_global.json) {
                _cleanup_(json_object_putp) json_object *o = checks_to_json(checks, n);

                if (!o)
                        return -ENOMEM;
                return json_print(o);
        }
        return checks_print_text(stdout, checks, n, title);
}

int checks_exit_status(const Check *checks, size_t n) {
        return checks_result(checks, n) == CHECK_FAIL ? EXIT_PROBLEM : EXIT_OK;
}
