/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <ctype.h>
#include <time.h>

#include "time-util.h"

usec_t now_usec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (usec_t) ts.tv_sec * USEC_PER_SEC + (usec_t) ts.tv_nsec / NSEC_PER_USEC;
}

struct timespec *timespec_from_usec(struct timespec *ts, usec_t t) {
        usec_t most = now_usec() + 365 * 24 * 3600 * USEC_PER_SEC;

        t = t > most ? most : t;
        ts->tv_sec = (time_t) (t / USEC_PER_SEC);
        ts->tv_nsec = (long) (t % USEC_PER_SEC * NSEC_PER_USEC);
        return ts;
}

void cond_init_monotonic(pthread_cond_t *c) {
        pthread_condattr_t attr;

        pthread_condattr_init(&attr);
        pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
        pthread_cond_init(c, &attr);
        pthread_condattr_destroy(&attr);
}

/* The units of parse_sec(), longest name first among those that share a beginning ("ms" before "m"). */
static const struct {
        const char *name;
        usec_t usec;
} units[] = {
        { "us", 1 },
        { "ms", USEC_PER_MSEC },
        { "sec", USEC_PER_SEC },
        { "s", USEC_PER_SEC },
        { "min", 60 * USEC_PER_SEC },
        { "m", 60 * USEC_PER_SEC },
        { "hr", 3600 * USEC_PER_SEC },
        { "h", 3600 * USEC_PER_SEC },
};

/* One "NUMBER[.FRACTION][UNIT]" at *p: its span added to *sum, *p moved past it. */
static int parse_one(const char **p, usec_t *sum) {
        const char *s = *p, *unit;
        usec_t whole = 0, frac = 0, frac_div = 1, mult = USEC_PER_SEC, v;
        size_t unit_len = 0;

        if (!isdigit((unsigned char) *s))
                return -EINVAL;
        for (; isdigit((unsigned char) *s); s++) {
                if (whole > (UINT64_MAX - 9) / 10)
                        return -ERANGE;
                whole = whole * 10 + (usec_t) (*s - '0');
        }
        if (*s == '.') {
                for (s++; isdigit((unsigned char) *s); s++)
                        if (frac_div < USEC_PER_SEC * 1000) { /* digits past a nanosecond are dropped */
                                frac = frac * 10 + (usec_t) (*s - '0');
                                frac_div *= 10;
                        }
        }
        s += strspn(s, " \t");
        unit = s;
        FOREACH_ARRAY(u, units, ELEMENTSOF(units)) {
                size_t l = strlen(u->name);

                if (strneq(unit, u->name, l) && !isalpha((unsigned char) unit[l])) {
                        mult = u->usec;
                        unit_len = l;
                        break;
                }
        }
        if (unit_len == 0 && isalpha((unsigned char) *unit))
                return -EINVAL; /* a unit we do not know */
        if (whole > (UINT64_MAX - 1) / mult)
                return -ERANGE;
        v = whole * mult + frac * mult / frac_div;
        if (v > UINT64_MAX - 1 - *sum)
                return -ERANGE;
        *sum += v;
        *p = unit + unit_len;
        return 0;
}

int parse_sec(const char *s, usec_t *ret) {
        const char *p = s;
        usec_t sum = 0;
        int r;

        if (!s)
                return -EINVAL;
        p += strspn(p, " \t");
        if (!*p)
                return -EINVAL;
        while (*p) {
                r = parse_one(&p, &sum);
                if (r < 0)
                        return r;
                p += strspn(p, " \t");
        }
        *ret = sum;
        return 0;
}
