/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <ctype.h>
#include <inttypes.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include "util.h"

/* After strtoul()/strtol() parsed s up to end: -errno from it, -EINVAL unless a number was there and only
 * white space follows it. */
static int number_parsed(const char *s, const char *end) {
        if (errno > 0)
                return -errno;
        if (end == s)
                return -EINVAL;
        end += strspn(end, " \t\n\r\f\v");
        return *end ? -EINVAL : 0;
}

int safe_atou32(const char *s, int base, uint32_t *ret) {
        char *end = NULL;
        unsigned long v;
        int r;

        if (!s || !*s || isspace((unsigned char) *s) || *s == '-' || *s == '+')
                return -EINVAL;
        errno = 0;
        v = strtoul(s, &end, base);
        r = number_parsed(s, end);
        if (r < 0)
                return r;
        if (v > UINT32_MAX)
                return -ERANGE;
        *ret = (uint32_t) v;
        return 0;
}

int safe_atoi(const char *s, int *ret) {
        char *end = NULL;
        long v;
        int r;

        if (!s || !*s || isspace((unsigned char) *s))
                return -EINVAL;
        errno = 0;
        v = strtol(s, &end, 10);
        r = number_parsed(s, end);
        if (r < 0)
                return r;
        if (v < INT_MIN || v > INT_MAX)
                return -ERANGE;
        *ret = (int) v;
        return 0;
}

const char *string_table_get(const char *const *table, size_t n, ssize_t i, const char *fallback) {
        return i >= 0 && (size_t) i < n && table[i] ? table[i] : fallback;
}

ssize_t string_table_lookup(const char *const *table, size_t n, const char *s) {
        for (size_t i = 0; s && i < n; i++)
                if (table[i] && streq(table[i], s))
                        return (ssize_t) i;
        return -EINVAL;
}

int unhexchar(char c) {
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -EINVAL;
}

char *strstrip_trailing(char *s) {
        size_t n;

        if (!s)
                return NULL;
        n = strlen(s);
        while (n > 0 && isspace((unsigned char) s[n - 1]))
                s[--n] = 0;
        return s;
}

char *strstrip(char *s) {
        s += strspn(s, " \t\r\n");
        return strstrip_trailing(s);
}

int strdup_to(char **ret, const char *s) {
        char *c = strdup(s);

        if (!c)
                return -ENOMEM;
        *ret = c;
        return 0;
}

void struct_strings_free(void *p, const size_t *offsets, size_t n) {
        for (size_t i = 0; i < n; i++) {
                char **field = (char **) ((uint8_t *) p + offsets[i]);

                *field = mfree(*field);
        }
}

int struct_strings_dup(void *p, const void *src, const size_t *offsets, size_t n) {
        int r = 0;

        for (size_t i = 0; i < n; i++)
                *(char **) ((uint8_t *) p + offsets[i]) = NULL;
        for (size_t i = 0; i < n; i++) {
                const char *s = *(char *const *) ((const uint8_t *) src + offsets[i]);

                if (s && strdup_to((char **) ((uint8_t *) p + offsets[i]), s) < 0)
                        r = -ENOMEM;
        }
        return r;
}

const char *path_basename(const char *path) {
        const char *p = strrchr(path, '/');
        return p ? p + 1 : path;
}

/* Length of the valid UTF-8 sequence at s (1-4), or 0 when invalid. The lead byte gives the length and the
 * range of the second byte, which rules out overlongs and surrogates; each further byte is 80..BF (the
 * Unicode Standard's table of well-formed sequences, Table 3-7). */
static size_t utf8_valid_length(const unsigned char *s) {
        unsigned char lo = 0x80, hi = 0xbf;
        size_t n;

        if (s[0] < 0x80)
                return 1;
        if (s[0] < 0xc2 || s[0] > 0xf4)
                return 0;
        n = s[0] < 0xe0 ? 2 : s[0] < 0xf0 ? 3 : 4;
        if (s[0] == 0xe0)
                lo = 0xa0;
        else if (s[0] == 0xed)
                hi = 0x9f;
        else if (s[0] == 0xf0)
                lo = 0x90;
        else if (s[0] == 0xf4)
                hi = 0x8f;
        if (s[1] < lo || s[1] > hi)
                return 0;
        for (size_t i = 2; i < n; i++)
                if ((s[i] & 0xc0) != 0x80)
                        return 0;
        return n;
}

int utf8_sanitize(const char *s, char **ret) {
        _cleanup_free_ char *buf = NULL;
        const unsigned char *p = (const unsigned char *) s;
        size_t len = strlen(s), n = 0;

        /* Each invalid byte becomes 3 bytes of U+FFFD at most. */
        buf = malloc(len * 3 + 1);
        if (!buf)
                return -ENOMEM;
        while (*p) {
                size_t k = utf8_valid_length(p);
                if (k == 0) {
                        memcpy(buf + n, "\xef\xbf\xbd", 3);
                        n += 3;
                        p++;
                        continue;
                }
                memcpy(buf + n, p, k);
                n += k;
                p += k;
        }
        buf[n] = 0;
        *ret = TAKE_PTR(buf);
        return 0;
}

int str_printable(const char *s, size_t max_len, char **ret) {
        _cleanup_free_ char *buf = NULL;
        const unsigned char *p = (const unsigned char *) s;
        size_t len = MIN(strlen(s), max_len), n = 0;

        buf = malloc(len * 4 + 4);
        if (!buf)
                return -ENOMEM;
        while ((size_t) (p - (const unsigned char *) s) < len && *p) {
                size_t k = utf8_valid_length(p);
                size_t left = len - (size_t) (p - (const unsigned char *) s);

                if (k > 1 && k <= left && !(p[0] == 0xc2 && p[1] < 0xa0)) {
                        /* Valid multi-byte character, and not a C1 control (U+0080..U+009F). */
                        memcpy(buf + n, p, k);
                        n += k;
                        p += k;
                        continue;
                }
                if (k == 1 && *p >= 0x20 && *p < 0x7f && *p != '\\') {
                        buf[n++] = (char) *p++;
                        continue;
                }
                if (*p == '\\') {
                        memcpy(buf + n, "\\\\", 2);
                        n += 2;
                } else if (*p == '\n') {
                        memcpy(buf + n, "\\n", 2);
                        n += 2;
                } else if (*p == '\t') {
                        memcpy(buf + n, "\\t", 2);
                        n += 2;
                } else {
                        snprintf(buf + n, 5, "\\x%02x", *p);
                        n += 4;
                }
                p++;
        }
        if (strlen(s) > max_len) {
                memcpy(buf + n, "...", 3);
                n += 3;
        }
        buf[n] = 0;
        *ret = TAKE_PTR(buf);
        return 0;
}

int readlinkat_malloc(int dirfd, const char *path, char **ret) {
        size_t l = 128;

        for (;;) {
                _cleanup_free_ char *c = malloc(l);
                ssize_t n;

                if (!c)
                        return -ENOMEM;
                n = readlinkat(dirfd, path, c, l);
                if (n < 0)
                        return negative_errno();
                if ((size_t) n < l) {
                        c[n] = 0;
                        *ret = TAKE_PTR(c);
                        return 0;
                }
                if (l > 64 * 1024)
                        return -ENAMETOOLONG;
                l *= 2;
        }
}

int link_target_basename(const char *dir, const char *name, char **ret) {
        _cleanup_free_ char *p = NULL, *target = NULL;
        int r;

        p = path_join(dir, name);
        if (!p)
                return -ENOMEM;
        r = readlinkat_malloc(AT_FDCWD, p, &target);
        if (r < 0)
                return r;
        return strdup_to(ret, path_basename(target));
}

int read_full_file(const char *path, size_t max_size, char **ret, size_t *ret_size) {
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ char *buf = NULL;
        size_t n = 0, allocated = 0;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return negative_errno();
        for (;;) {
                ssize_t k;

                if (n + 1 >= allocated) {
                        size_t a = allocated ? allocated * 2 : 4096;
                        char *t;

                        if (allocated > max_size + 1)
                                return -EFBIG;
                        t = realloc(buf, a);
                        if (!t)
                                return -ENOMEM;
                        buf = t;
                        allocated = a;
                }
                k = read(fd, buf + n, allocated - n - 1);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return negative_errno();
                }
                if (k == 0)
                        break;
                n += (size_t) k;
                if (n > max_size)
                        return -EFBIG;
        }
        if (!buf) {
                buf = strdup("");
                if (!buf)
                        return -ENOMEM;
        }
        buf[n] = 0;
        *ret = TAKE_PTR(buf);
        if (ret_size)
                *ret_size = n;
        return 0;
}

char *path_join(const char *a, const char *b) {
        char *p;
        size_t la = strlen(a);
        bool slash = la > 0 && a[la - 1] == '/';

        while (*b == '/' && (slash || la == 0))
                b++;
        if (asprintf(&p, "%s%s%s", a, (slash || la == 0 || *b == '/') ? "" : "/", b) < 0)
                return NULL;
        return p;
}

char *path_under_root(const char *root, const char *path) {
        if (!root || !*root || streq(root, "/"))
                return strdup(path);
        return path_join(root, path);
}

int exec_directory(const char *env, const char *root, const char *path, char **ret) {
        const char *e = getenv(env);
        char *p;

        if (e && *e) {
                /* systemd lists one path per RuntimeDirectory=, StateDirectory=… entry, separated by ':'. */
                if (e[0] != '/')
                        return -EINVAL;
                p = strndup(e, strcspn(e, ":"));
        } else
                p = path_under_root(root, path);
        if (!p)
                return -ENOMEM;
        *ret = p;
        return 0;
}

const char *umockdev_testbed(void) {
        const char *testbed = getenv("UMOCKDEV_DIR");

        return testbed && *testbed ? testbed : NULL;
}

bool path_passes_testbed(const char *path) {
        _cleanup_free_ char *in = NULL;
        const char *testbed = umockdev_testbed();

        if (!testbed || !(strneq(path, "/dev/", 5) || strneq(path, "/proc/", 6)))
                return false;
        in = path_join(testbed, path);
        /* Out of memory: say it passes, so that nothing of the host is opened. */
        return !in || access(in, F_OK) < 0;
}

int udev_db_path(const char *name, char **ret) {
        char *p;

        if (asprintf(&p, "%s/run/udev/data/%s", strempty(umockdev_testbed()), name) < 0)
                return -ENOMEM;
        *ret = p;
        return 0;
}

int mkdir_with_parents(const char *path, mode_t mode) {
        _cleanup_free_ char *p = NULL;

        if (mkdir(path, mode) >= 0 || errno == EEXIST)
                return 0;
        if (errno != ENOENT)
                return negative_errno();
        p = strdup(path);
        if (!p)
                return -ENOMEM;
        for (char *slash = strchr(p + 1, '/'); slash; slash = strchr(slash + 1, '/')) {
                *slash = 0;
                if (mkdir(p, 0755) < 0 && errno != EEXIST)
                        return negative_errno();
                *slash = '/';
        }
        if (mkdir(path, mode) < 0 && errno != EEXIST)
                return negative_errno();
        return 0;
}

size_t strv_length(char **l) {
        size_t n = 0;

        STRV_FOREACH(s, l)
                n++;
        return n;
}

int strv_consume(char ***l, char *s) {
        size_t n = strv_length(*l);
        char **t;

        if (!s)
                return -ENOMEM;
        t = realloc(*l, sizeof(char *) * (n + 2));
        if (!t) {
                free(s);
                return -ENOMEM;
        }
        t[n] = s;
        t[n + 1] = NULL;
        *l = t;
        return 0;
}

int strv_extend(char ***l, const char *s) {
        return strv_consume(l, strdup(s));
}

int strv_pushf(char ***l, size_t *n, size_t *allocated, const char *fmt, ...) {
        va_list ap;
        char *s;
        int r;

        va_start(ap, fmt);
        r = vasprintf(&s, fmt, ap);
        va_end(ap);
        return strv_push(l, n, allocated, r < 0 ? NULL : s);
}

bool strv_contains(char **l, const char *s) {
        STRV_FOREACH(i, l)
                if (streq(*i, s))
                        return true;
        return false;
}

int strv_push(char ***l, size_t *n, size_t *allocated, char *s) {
        if (!s)
                return -ENOMEM;
        if (*n + 2 > *allocated) {
                size_t a = MAX(*allocated * 2, (size_t) 2);
                char **t = reallocarray(*l, a, sizeof(char *));

                if (!t) {
                        free(s);
                        return -ENOMEM;
                }
                *l = t;
                *allocated = a;
        }
        (*l)[(*n)++] = s;
        (*l)[*n] = NULL;
        return 0;
}

size_t string_hash(const char *s, size_t n) {
        uint64_t h = 0xcbf29ce484222325ULL;

        for (size_t i = 0; i < n; i++)
                h = (h ^ (unsigned char) s[i]) * 0x100000001b3ULL;
        return (size_t) h;
}

int array_reserve(void **array, size_t *allocated, size_t need, size_t size) {
        size_t a;
        void *t;

        if (need <= *allocated)
                return 0;
        a = MAX(need, MAX(*allocated * 2, (size_t) 4));
        t = reallocarray(*array, a, size);
        if (!t)
                return -ENOMEM;
        *array = t;
        *allocated = a;
        return 0;
}

/* The words of s between separators; with keep_empty, also the empty ones (lines), where one separator
 * ends each and a last one does not start another. */
static int split(const char *s, const char *separators, bool keep_empty, char ***ret, size_t *ret_n) {
        _cleanup_strv_free_ char **l = NULL;
        size_t n = 0, allocated = 1;
        const char *p = s;

        l = calloc(allocated, sizeof(char *));
        if (!l)
                return -ENOMEM;
        while (*p) {
                size_t k;

                if (!keep_empty)
                        p += strspn(p, separators);
                k = strcspn(p, separators);
                if (k > 0 || (keep_empty && *p)) {
                        int r = strv_push(&l, &n, &allocated, strndup(p, k));
                        if (r < 0)
                                return r;
                }
                p += k;
                if (keep_empty && *p)
                        p++;
        }
        *ret = TAKE_PTR(l);
        if (ret_n)
                *ret_n = n;
        return 0;
}

int strv_split(const char *s, const char *separators, char ***ret) {
        return split(s, separators, false, ret, NULL);
}

int strv_split_lines(const char *text, char ***ret, size_t *ret_n) {
        return split(text, "\n", true, ret, ret_n);
}

static int cmp_uniq(const void *a, const void *b, void *strings) {
        size_t x = *(const size_t *) a, y = *(const size_t *) b;
        int c = strcmp(((char **) strings)[x], ((char **) strings)[y]);

        return c != 0 ? c : x < y ? -1 : x > y;
}

int strv_uniq(char **l, size_t n) {
        _cleanup_free_ size_t *idx = NULL;
        size_t k = 0;

        if (n == SIZE_MAX)
                n = strv_length(l);
        if (n > INT_MAX)
                return -E2BIG;
        if (n < 2)
                return (int) n;
        idx = reallocarray(NULL, n, sizeof(size_t));
        if (!idx)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++)
                idx[i] = i;
        qsort_r(idx, n, sizeof(size_t), cmp_uniq, l);
        /* Equal strings are next to each other, the first occurrence first: free the others, from the
         * end, so that each is compared before it is freed. */
        for (size_t i = n; i-- > 1;)
                if (streq(l[idx[i]], l[idx[i - 1]]))
                        l[idx[i]] = mfree(l[idx[i]]);
        for (size_t i = 0; i < n; i++)
                if (l[i])
                        l[k++] = l[i];
        l[k] = NULL;
        return (int) k;
}

char *format_bytes(char *buf, size_t l, uint64_t n) {
        static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
        uint64_t unit = 1, whole, tenths;
        size_t u = 0;

        while (u + 1 < ELEMENTSOF(units) && n / unit >= 1024) {
                unit *= 1024;
                u++;
        }
        if (n % unit == 0) {
                snprintf(buf, l, "%" PRIu64 " %s", n / unit, units[u]);
                return buf;
        }
        /* Tenths, rounded to the nearest; (n % unit) * 10 + unit / 2 fits: unit is at most 2^60. */
        whole = n / unit;
        tenths = ((n % unit) * 10 + unit / 2) / unit;
        if (tenths == 10) {
                whole++;
                tenths = 0;
        }
        if (whole == 1024 && u + 1 < ELEMENTSOF(units)) {
                whole = 1;
                u++;
        }
        snprintf(buf, l, "%" PRIu64 ".%" PRIu64 " %s", whole, tenths, units[u]);
        return buf;
}

static const char *str_index_key(const StrIndex *ix, const void *base, size_t i) {
        return *(char *const *) ((const char *) base + i * ix->size + ix->offset);
}

static int str_index_cmp_strings(const StrIndex *ix, const char *a, const char *b) {
        return ix->icase ? strcasecmp(a, b) : strcmp(a, b);
}

typedef struct StrIndexSort {
        const StrIndex *ix;
        const void *base;
} StrIndexSort;

static int cmp_str_index(const void *a, const void *b, void *userdata) {
        const StrIndexSort *s = userdata;
        size_t x = *(const size_t *) a, y = *(const size_t *) b;
        int c = str_index_cmp_strings(
                s->ix,
                str_index_key(s->ix, s->base, x),
                str_index_key(s->ix, s->base, y));

        return c != 0 ? c : x < y ? -1 : x > y;
}

int str_index_build(StrIndex *ix, const void *base, size_t n, size_t size, size_t offset, bool icase) {
        size_t *pos = reallocarray(ix->pos, MAX(n, (size_t) 1), sizeof(size_t));

        if (!pos)
                return -ENOMEM;
        *ix = (StrIndex){ .pos = pos, .size = size, .offset = offset, .icase = icase };
        for (size_t i = 0; i < n; i++)
                if (str_index_key(ix, base, i))
                        pos[ix->n++] = i;
        qsort_r(pos, ix->n, sizeof(size_t), cmp_str_index, &(StrIndexSort){ ix, base });
        return 0;
}

size_t str_index_find(const StrIndex *ix, const void *base, const char *key) {
        size_t lo = 0, hi = ix->n;

        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;

                if (str_index_cmp_strings(ix, str_index_key(ix, base, ix->pos[mid]), key) < 0)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        if (lo < ix->n && str_index_cmp_strings(ix, str_index_key(ix, base, ix->pos[lo]), key) == 0)
                return ix->pos[lo];
        return SIZE_MAX;
}

void str_index_done(StrIndex *ix) {
        free(ix->pos);
        *ix = (StrIndex){};
}

int process_get_cmdline(pid_t pid, char ***ret) {
        _cleanup_free_ char *path = NULL, *buf = NULL;
        _cleanup_strv_free_ char **l = NULL;
        size_t size = 0, n = 0, allocated = 0;
        int r;

        if (asprintf(&path, "/proc/%d/cmdline", (int) pid) < 0)
                return -ENOMEM;
        r = read_full_file(path, 1024 * 1024, &buf, &size);
        if (r == -ENOENT)
                return -ESRCH;
        if (r < 0)
                return r;
        for (size_t i = 0; i < size;) {
                size_t len = strnlen(buf + i, size - i);

                r = strv_push(&l, &n, &allocated, strndup(buf + i, len));
                if (r < 0)
                        return r;
                i += len + 1;
        }
        if (!l && !(l = calloc(1, sizeof(char *))))
                return -ENOMEM;
        *ret = TAKE_PTR(l);
        return 0;
}

int vstrextendf(char **s, const char *fmt, va_list ap) {
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

int strextendf_with_separator(char **s, const char *separator, const char *fmt, ...) {
        va_list ap;
        int r = 0;

        if (*s)
                r = strextendf(s, "%s", separator);
        if (r < 0)
                return r;
        va_start(ap, fmt);
        r = vstrextendf(s, fmt, ap);
        va_end(ap);
        return r;
}
