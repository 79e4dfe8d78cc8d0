/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <stdarg.h>

#include "check.h"
#include "util.h"

/* A piece of a check's fix: off and len in the text, hash its string_hash(); off SIZE_MAX marks an empty
 * slot. */
typedef struct Span {
        size_t off, len, hash;
} Span;

/* The distinct pieces of one text, by hash: open addressing, at most half full. */
typedef struct SpanSet {
        Span *slots;
        size_t n, n_slots; /* n_slots is 0 or a power of two */
} SpanSet;

/* What building a check keeps, so that adding a problem or a fix step costs the length of what is added,
 * not of what is there: the lengths of summary and fix (the pointers they belong to), the steps of the fix
 * given and its lines. */
struct CheckText {
        const char *summary;
        size_t summary_len, summary_allocated;
        const char *fix;
        size_t fix_len, fix_allocated;
        SpanSet steps, lines;
};

static const char *const status_table[_CHECK_STATUS_MAX] = {
        [CHECK_OK] = "ok",
        [CHECK_SKIP] = "skip",
        [CHECK_WARN] = "warn",
        [CHECK_FAIL] = "fail",
};

const char *check_status_to_string(CheckStatus s) {
        return string_table_get(status_table, _CHECK_STATUS_MAX, s, "invalid");
}

CheckStatus check_status_from_string(const char *s) {
        return (CheckStatus) string_table_lookup(status_table, _CHECK_STATUS_MAX, s);
}

static void span_set_done(SpanSet *s) {
        free(s->slots);
        *s = (SpanSet){};
}

/* The slot of the piece key (len bytes, hash its hash) of text: where it is, or the empty slot where it
 * would go. The set must have slots. */
static Span *span_set_slot(const SpanSet *s, const char *text, const char *key, size_t len, size_t hash) {
        for (size_t i = hash & (s->n_slots - 1);; i = (i + 1) & (s->n_slots - 1)) {
                Span *x = &s->slots[i];

                if (x->off == SIZE_MAX ||
                    (x->hash == hash && x->len == len && memcmp(text + x->off, key, len) == 0))
                        return x;
        }
}

static bool span_set_contains(const SpanSet *s, const char *text, const char *key, size_t len) {
        return s->n_slots > 0 && span_set_slot(s, text, key, len, string_hash(key, len))->off != SIZE_MAX;
}

/* Adds the piece of text at off, len bytes, unless an equal one is there. */
static int span_set_add(SpanSet *s, const char *text, size_t off, size_t len) {
        size_t hash = string_hash(text + off, len);
        Span *x;

        if ((s->n + 1) * 2 > s->n_slots) {
                SpanSet t = { .n = s->n, .n_slots = MAX(s->n_slots * 2, (size_t) 16) };

                t.slots = reallocarray(NULL, t.n_slots, sizeof(Span));
                if (!t.slots)
                        return -ENOMEM;
                for (size_t i = 0; i < t.n_slots; i++)
                        t.slots[i].off = SIZE_MAX;
                FOREACH_ARRAY(o, s->slots, s->n_slots)
                        if (o->off != SIZE_MAX)
                                *span_set_slot(&t, text, text + o->off, o->len, o->hash) = *o;
                free(s->slots);
                *s = t;
        }
        x = span_set_slot(s, text, text + off, len, hash);
        if (x->off == SIZE_MAX) {
                *x = (Span){ off, len, hash };
                s->n++;
        }
        return 0;
}

/* Records the step of the fix at off, len bytes, and its lines. */
static int fix_index_step(struct CheckText *t, const char *fix, size_t off, size_t len) {
        int r;

        r = span_set_add(&t->steps, fix, off, len);
        for (size_t p = off; r >= 0;) {
                const char *nl = memchr(fix + p, '\n', off + len - p);
                size_t e = nl ? (size_t) (nl - fix) : off + len;

                r = span_set_add(&t->lines, fix, p, e - p);
                if (!nl)
                        break;
                p = e + 1;
        }
        return r;
}

static void check_text_free(struct CheckText *t) {
        if (!t)
                return;
        span_set_done(&t->steps);
        span_set_done(&t->lines);
        free(t);
}

/* The check's bookkeeping, made or brought up to date with summary and fix; NULL when out of memory. A
 * summary or fix set from outside is measured once; such a fix counts as one step. */
static struct CheckText *check_text(Check *c) {
        struct CheckText *t = c->text;

        if (!t) {
                t = c->text = calloc(1, sizeof(struct CheckText));
                if (!t)
                        return NULL;
        }
        if (t->summary != c->summary) {
                t->summary = c->summary;
                t->summary_len = c->summary ? strlen(c->summary) : 0;
                t->summary_allocated = c->summary ? t->summary_len + 1 : 0;
        }
        if (t->fix != c->fix) {
                span_set_done(&t->steps);
                span_set_done(&t->lines);
                t->fix = NULL;
                t->fix_len = c->fix ? strlen(c->fix) : 0;
                t->fix_allocated = c->fix ? t->fix_len + 1 : 0;
                if (c->fix && fix_index_step(t, c->fix, 0, t->fix_len) < 0)
                        return NULL;
                t->fix = c->fix;
        }
        return t;
}

/* Drops the bookkeeping, for summary or fix replaced (a new string may have the old one's address). */
static void check_text_forget(Check *c) {
        check_text_free(c->text);
        c->text = NULL;
}

/* Appends n bytes of add to *s, which holds *len bytes in room for *allocated, doubling the room. */
static int text_append(char **s, size_t *len, size_t *allocated, const char *add, size_t n) {
        if (*len + n + 1 > *allocated) {
                size_t a = MAX(*len + n + 1, *allocated * 2);
                char *t = realloc(*s, a);

                if (!t)
                        return -ENOMEM;
                *s = t;
                *allocated = a;
        }
        memcpy(*s + *len, add, n);
        *len += n;
        (*s)[*len] = 0;
        return 0;
}

void check_array_free(Check *checks, size_t n) {
        for (size_t i = 0; i < n; i++) {
                free(checks[i].id);
                free(checks[i].summary);
                free(checks[i].fix);
                check_text_free(checks[i].text);
        }
        free(checks);
}

void check_list_done(CheckList *l) {
        check_array_free(l->checks, l->n_checks);
        *l = (CheckList){};
}

void check_list_steal(CheckList *l, Check **ret_checks, size_t *ret_n) {
        *ret_checks = TAKE_PTR(l->checks);
        *ret_n = l->n_checks;
        *l = (CheckList){};
}

CheckStatus checks_result(const Check *checks, size_t n) {
        CheckStatus worst = CHECK_OK;

        for (size_t i = 0; i < n; i++)
                if (checks[i].status >= CHECK_WARN)
                        worst = MAX(worst, checks[i].status);
        return worst;
}

/* A summary is one line, whatever a device's name holds: line breaks become spaces. (Other control
 * characters stay; the output escapes them.) */
static void one_line(char *s) {
        for (; s && *s; s++)
                if (*s == '\n' || *s == '\r')
                        *s = ' ';
}

Check *check_list_begin(CheckList *l, const char *id) {
        char *i;

        i = strdup(id);
        if (!i)
                return NULL;
        if (ARRAY_RESERVE(l->checks, l->n_allocated, l->n_checks + 1) < 0) {
                free(i);
                return NULL;
        }
        l->checks[l->n_checks] = (Check){ .id = i, .status = CHECK_OK };
        return &l->checks[l->n_checks++];
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
        _cleanup_free_ char *add = NULL;
        struct CheckText *t;
        size_t start;
        va_list ap;
        int r;

        t = check_text(c);
        if (!t)
                return -ENOMEM;
        if (check_has_problem(c) && c->summary) {
                r = text_append(&c->summary, &t->summary_len, &t->summary_allocated, "; ", 2);
                t->summary = c->summary;
                if (r < 0)
                        return r;
        } else {
                c->summary = mfree(c->summary);
                t->summary = NULL;
                t->summary_len = t->summary_allocated = 0;
        }
        /* Only what is added is made one line: the rest was when it came. */
        start = t->summary_len;
        va_start(ap, fmt);
        r = vasprintf(&add, fmt, ap) < 0 ? -ENOMEM : 0;
        va_end(ap);
        if (r >= 0) {
                r = text_append(&c->summary, &t->summary_len, &t->summary_allocated, add, strlen(add));
                t->summary = c->summary;
        }
        if (c->summary)
                one_line(c->summary + start);
        c->status = MAX(c->status, status);
        return r;
}

/* Where chunk is one of the newline-separated pieces that make up fix, or NULL. */
static const char *fix_find_chunk(const char *fix, const char *chunk) {
        size_t n = strlen(chunk);

        for (const char *p = fix; (p = strstr(p, chunk)); p++)
                if ((p == fix || p[-1] == '\n') && (p[n] == 0 || p[n] == '\n'))
                        return p;
        return NULL;
}

/* Whether add (n bytes) is already some consecutive lines of the fix: a step given before, a line of it,
 * or (looked for in the whole text, once) lines that are all there, of different steps. */
static bool fix_has(struct CheckText *t, const char *fix, const char *add, size_t n) {
        const char *p;
        bool single = true;

        if (span_set_contains(&t->steps, fix, add, n))
                return true;
        for (const char *l = add;;) {
                const char *nl = memchr(l, '\n', (size_t) (add + n - l));
                size_t k = nl ? (size_t) (nl - l) : (size_t) (add + n - l);

                if (!span_set_contains(&t->lines, fix, l, k))
                        return false;
                if (!nl)
                        break;
                single = false;
                l = nl + 1;
        }
        if (single)
                return true;
        p = fix_find_chunk(fix, add);
        if (!p)
                return false;
        /* Found the long way: the next time as a step. */
        (void) span_set_add(&t->steps, fix, (size_t) (p - fix), n);
        return true;
}

int check_fix(Check *c, const char *fmt, ...) {
        _cleanup_free_ char *add = NULL;
        struct CheckText *t;
        size_t n, start;
        va_list ap;
        int r;

        va_start(ap, fmt);
        r = vasprintf(&add, fmt, ap) < 0 ? -ENOMEM : 0;
        va_end(ap);
        if (r < 0)
                return r;
        t = check_text(c);
        if (!t)
                return -ENOMEM;
        n = strlen(add);
        /* The same step asked for twice (two devices needing one command) is given once. */
        if (c->fix && fix_has(t, c->fix, add, n))
                return 0;
        if (c->fix) {
                r = text_append(&c->fix, &t->fix_len, &t->fix_allocated, "\n", 1);
                t->fix = c->fix;
                if (r < 0)
                        return r;
        }
        start = t->fix_len;
        r = text_append(&c->fix, &t->fix_len, &t->fix_allocated, add, n);
        t->fix = c->fix;
        if (r < 0)
                return r;
        return fix_index_step(t, c->fix, start, n);
}

int check_set_fix(Check *c, const char *fmt, ...) {
        va_list ap;
        int r;

        c->fix = mfree(c->fix);
        check_text_forget(c);
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
        check_text_forget(c);
        va_start(ap, fmt);
        r = vstrextendf(&c->summary, fmt, ap);
        va_end(ap);
        one_line(c->summary);
        return r;
}
