/* SPDX-License-Identifier: GPL-2.0-or-later */

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "guest-bench.h"
#include "macro.h"

static int double_cmp(const void *a, const void *b) {
        double x = *(const double *) a, y = *(const double *) b;
        return x < y ? -1 : x > y ? 1 : 0;
}

/* The p-quantile of sorted values, interpolating linearly between neighbours. */
static double quantile(const double *v, size_t n, double p) {
        double h = (double) (n - 1) * p;
        size_t lo = (size_t) h; /* h >= 0: truncation is floor */

        if (lo + 1 >= n)
                return v[n - 1];
        return v[lo] + (h - (double) lo) * (v[lo + 1] - v[lo]);
}

int bench_stats(const double *values, size_t n, BenchStats *ret) {
        _cleanup_free_ double *v = NULL;

        if (!values || n == 0 || !ret)
                return -EINVAL;
        for (size_t i = 0; i < n; i++)
                if (!isfinite(values[i]))
                        return -EINVAL;
        v = malloc(sizeof(double) * n);
        if (!v)
                return -ENOMEM;
        memcpy(v, values, sizeof(double) * n);
        qsort(v, n, sizeof(double), double_cmp);

        *ret = (BenchStats){
                .n = n,
                .median = quantile(v, n, 0.5),
                .min = v[0],
                .max = v[n - 1],
                .q1 = quantile(v, n, 0.25),
                .q3 = quantile(v, n, 0.75),
        };
        return 0;
}

int bench_rate(uint64_t count, uint64_t duration_ns, double *ret) {
        if (!ret)
                return -EINVAL;
        if (duration_ns == 0)
                return -EDOM;
        *ret = (double) count * 1e9 / (double) duration_ns;
        return 0;
}

int bench_decode_bound(double gb_per_s, uint64_t bytes_per_token, double *ret) {
        if (!ret)
                return -EINVAL;
        if (bytes_per_token == 0 || !(gb_per_s > 0) || !isfinite(gb_per_s))
                return -EDOM;
        *ret = gb_per_s * 1e9 / (double) bytes_per_token;
        return 0;
}
