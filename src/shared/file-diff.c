/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <stdint.h>

#include "file-diff.h"

typedef struct Line {
        const char *p;
        size_t len; /* without the newline */
} Line;

/* Splits text into lines; a last line without a newline counts as a line. */
static int split_lines(const char *text, Line **ret, size_t *ret_n, bool *ret_no_newline) {
        Line *l = NULL;
        size_t n = 0, allocated = 0;
        const char *p = text;

        *ret_no_newline = false;
        while (text && *p) {
                const char *nl = strchr(p, '\n');
                size_t len = nl ? (size_t) (nl - p) : strlen(p);

                if (n == allocated) {
                        size_t a = allocated ? allocated * 2 : 64;
                        Line *t = realloc(l, a * sizeof(Line));
                        if (!t) {
                                free(l);
                                return -ENOMEM;
                        }
                        l = t;
                        allocated = a;
                }
                l[n++] = (Line){ p, len };
                if (!nl) {
                        *ret_no_newline = true;
                        break;
                }
                p = nl + 1;
        }
        *ret = l;
        *ret_n = n;
        return 0;
}

static bool line_eq(const Line *a, const Line *b) {
        return a->len == b->len && memcmp(a->p, b->p, a->len) == 0;
}

/* An edit script entry: ' ' both, '-' only in a, '+' only in b; ia/ib index the lines. */
typedef struct Op {
        char kind;
        size_t ia, ib;
} Op;

static int build_ops(const Line *a, size_t na, const Line *b, size_t nb, Op **ret, size_t *ret_n) {
        _cleanup_free_ uint32_t *lcs = NULL;
        _cleanup_free_ Op *ops = NULL;
        size_t i = 0, j = 0, n = 0, w = nb + 1;

        ops = calloc(na + nb + 1, sizeof(Op));
        if (!ops)
                return -ENOMEM;
        if (na > DIFF_MAX_LINES || nb > DIFF_MAX_LINES) {
                for (i = 0; i < na; i++)
                        ops[n++] = (Op){ '-', i, 0 };
                for (j = 0; j < nb; j++)
                        ops[n++] = (Op){ '+', na, j };
                *ret = TAKE_PTR(ops);
                *ret_n = n;
                return 0;
        }
        /* lcs[i][j]: length of the LCS of a[i..] and b[j..]. */
        lcs = calloc((na + 1) * w, sizeof(uint32_t));
        if (!lcs)
                return -ENOMEM;
        for (size_t x = na; x-- > 0;)
                for (size_t y = nb; y-- > 0;)
                        lcs[x * w + y] = line_eq(&a[x], &b[y])
                                ? lcs[(x + 1) * w + y + 1] + 1
                                : MAX(lcs[(x + 1) * w + y], lcs[x * w + y + 1]);
        while (i < na || j < nb) {
                if (i < na && j < nb && line_eq(&a[i], &b[j])) {
                        ops[n++] = (Op){ ' ', i++, j++ };
                } else if (j < nb && (i == na || lcs[i * w + j + 1] >= lcs[(i + 1) * w + j])) {
                        ops[n++] = (Op){ '+', i, j++ };
                } else
                        ops[n++] = (Op){ '-', i++, j };
        }
        /* Within each run of changes, print removals before additions, as diff -u does. */
        for (size_t s = 0; s < n;) {
                size_t e = s, k = s;
                _cleanup_free_ Op *tmp = NULL;

                if (ops[s].kind == ' ') {
                        s++;
                        continue;
                }
                while (e < n && ops[e].kind != ' ')
                        e++;
                tmp = malloc((e - s) * sizeof(Op));
                if (!tmp)
                        return -ENOMEM;
                for (size_t x = s; x < e; x++)
                        if (ops[x].kind == '-')
                                tmp[k++ - s] = ops[x];
                for (size_t x = s; x < e; x++)
                        if (ops[x].kind == '+')
                                tmp[k++ - s] = ops[x];
                memcpy(ops + s, tmp, (e - s) * sizeof(Op));
                s = e;
        }
        *ret = TAKE_PTR(ops);
        *ret_n = n;
        return 0;
}

static void print_line(FILE *out, char kind, const Line *l, bool last_without_newline) {
        fputc(kind, out);
        fwrite(l->p, 1, l->len, out);
        fputc('\n', out);
        if (last_without_newline)
                fputs("\\ No newline at end of file\n", out);
}

/* "start,count" of a hunk side, as diff -u prints it (start is 1-based; 0 for an empty side). */
static void print_range(FILE *out, size_t start, size_t count) {
        if (count == 1)
                fprintf(out, "%zu", start + 1);
        else
                fprintf(out, "%zu,%zu", count == 0 ? start : start + 1, count);
}

int diff_unified(FILE *out, const char *a_label, const char *a, const char *b_label, const char *b) {
        _cleanup_free_ Line *la = NULL, *lb = NULL;
        _cleanup_free_ Op *ops = NULL;
        size_t na, nb, n;
        bool a_nonl, b_nonl;
        const size_t ctx = 3;
        int r;

        if (streq_ptr(a, b))
                return 0;
        r = split_lines(a, &la, &na, &a_nonl);
        if (r < 0)
                return r;
        r = split_lines(b, &lb, &nb, &b_nonl);
        if (r < 0)
                return r;
        r = build_ops(la, na, lb, nb, &ops, &n);
        if (r < 0)
                return r;

        fprintf(out, "--- %s\n+++ %s\n", a ? a_label : "/dev/null", b ? b_label : "/dev/null");
        for (size_t i = 0; i < n;) {
                size_t start, end, ca = 0, cb = 0, sa, sb;

                if (ops[i].kind == ' ') {
                        i++;
                        continue;
                }
                /* A hunk: from ctx lines before this change to ctx lines after the last change that
                 * is at most 2*ctx unchanged lines away from the next. */
                start = i >= ctx ? i - ctx : 0;
                while (start < i && ops[start].kind != ' ')
                        start++;
                end = i;
                for (;;) {
                        size_t k = end, s2;

                        while (k < n && ops[k].kind != ' ')
                                k++;
                        s2 = k;
                        while (s2 < n && ops[s2].kind == ' ')
                                s2++;
                        if (s2 < n && s2 - k <= 2 * ctx) {
                                end = s2; /* the next change is close: same hunk */
                                continue;
                        }
                        end = k + MIN(ctx, s2 - k);
                        break;
                }
                sa = ops[start].ia;
                sb = ops[start].ib;
                for (size_t k = start; k < end; k++) {
                        if (ops[k].kind != '+')
                                ca++;
                        if (ops[k].kind != '-')
                                cb++;
                }
                fputs("@@ -", out);
                print_range(out, sa, ca);
                fputs(" +", out);
                print_range(out, sb, cb);
                fputs(" @@\n", out);
                for (size_t k = start; k < end; k++) {
                        const Op *o = &ops[k];
                        if (o->kind == '+')
                                print_line(out, '+', &lb[o->ib], b_nonl && o->ib == nb - 1);
                        else if (o->kind == '-')
                                print_line(out, '-', &la[o->ia], a_nonl && o->ia == na - 1);
                        else
                                print_line(out, ' ', &la[o->ia], a_nonl && o->ia == na - 1);
                }
                i = end;
        }
        return 1;
}
