/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <pthread.h>
#include <stdint.h>
#include <time.h>

#include "macro.h"

/* The one time unit of the code: microseconds in a usec_t, as systemd counts time (src/basic/time-util.h
 * of systemd). Timeouts, deadlines and clock readings are usec_t; a value in another unit exists only at
 * the edge where an interface asks for one (poll()'s milliseconds, a timespec). */
typedef uint64_t usec_t;

#define USEC_INFINITY ((usec_t) UINT64_MAX)
#define USEC_PER_SEC  ((usec_t) 1000000ULL)
#define USEC_PER_MSEC ((usec_t) 1000ULL)
#define NSEC_PER_USEC ((uint64_t) 1000ULL)

/* a + b, USEC_INFINITY where that does not fit (systemd's usec_add()). */
static inline usec_t usec_add(usec_t a, usec_t b) {
        return a > USEC_INFINITY - b ? USEC_INFINITY : a + b;
}

/* CLOCK_MONOTONIC in microseconds. */
usec_t now_usec(void);
/* A point in time on CLOCK_MONOTONIC as a timespec, for pthread_cond_timedwait() on a condition made with
 * that clock; USEC_INFINITY and anything past a year from now become a year from now. */
struct timespec *timespec_from_usec(struct timespec *ts, usec_t t);
/* Initializes c as a condition whose pthread_cond_timedwait() deadlines are on CLOCK_MONOTONIC. */
void cond_init_monotonic(pthread_cond_t *c);

/* A span of time as systemd's parse_sec() reads one: a number, with a fraction or not, is seconds ("1.5");
 * numbers may carry a unit ("500ms", "1min 30s": us, ms, s, sec, m, min, h, hr), summed. Each number starts
 * with a digit; no sign, no empty string. -EINVAL when it does not parse, -ERANGE when it does not fit. */
int parse_sec(const char *s, usec_t *ret);

/* Milliseconds for an interface that takes them (poll(), libcurl's *_MS options), rounded up so that a
 * non-zero span never becomes 0, and capped at max_ms. */
static inline long usec_to_msec_ceil(usec_t t, long max_ms) {
        usec_t ms = t / USEC_PER_MSEC + (t % USEC_PER_MSEC != 0);
        return ms > (usec_t) max_ms ? max_ms : (long) ms;
}
