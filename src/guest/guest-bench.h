/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* The arithmetic of `egpuctl bench`. */

typedef struct BenchStats {
        size_t n;
        double median;
        double min;
        double max;
        double q1; /* quartiles, linear interpolation between the sorted values */
        double q3;
} BenchStats;

/* -EINVAL when n is 0 or a value is not finite. */
int bench_stats(const double *values, size_t n, BenchStats *ret);

/* count / (duration_ns / 1e9); -EDOM when the duration is 0. */
int bench_rate(uint64_t count, uint64_t duration_ns, double *ret);

/* Decode speed is bounded by memory bandwidth over the bytes read for every token, about the
 * model's size in GPU memory: bound = gb_per_s * 1e9 / bytes_per_token. -EDOM when bytes is 0 or
 * the bandwidth is not positive. */
int bench_decode_bound(double gb_per_s, uint64_t bytes_per_token, double *ret);
