/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
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

/* Decode speed is bounded by memory bandwidth over the bytes read for every token (the weights, not what
 * the model takes in GPU memory, which adds the KV cache and compute buffers): bound = gb_per_s * 1e9 /
 * bytes_per_token. -EDOM when bytes is 0 or the bandwidth is not positive. */
int bench_decode_bound(double gb_per_s, uint64_t bytes_per_token, double *ret);

/* The prompt of a bench run: its own number first ("3. ..."), then the same few hundred words every time.
 * Sent raw (no template), each prompt differs from the one before from its first token on, so that Ollama's
 * prompt cache (which keeps the longest common prefix with the last prompt) can give at most the leading
 * BOS token and a first digit, out of some 300: the prompt rate is the rate of evaluated tokens. */
int bench_prompt(unsigned run, char **ret);

typedef struct OllamaShow OllamaShow;

/* The bytes generating one token reads: the model's weights (weights_bytes, /api/tags' size), and for a
 * mixture of experts (show->expert_count > 0) only the experts in use: the expert tensors' bytes (names with
 * "_exps", as Ollama's converters name them: convert/convert_mixtral.go "blk.%d.ffn_gate_exps.weight"),
 * counted from show->tensors with data/tables/ggml-types.table, times (expert_count - expert_used_count) /
 * expert_count, are left out. -ENODATA for a mixture of experts without tensors, -EOPNOTSUPP when a tensor's
 * type is not in the table, -EINVAL when the counts make no sense. */
int bench_bytes_per_token(uint64_t weights_bytes, const OllamaShow *show, uint64_t *ret);

typedef enum BenchBoundState {
        BENCH_BOUND_NONE,     /* no bound: why says why */
        BENCH_BOUND_HOLDS,    /* the median is within the bound: share is its fraction */
        BENCH_BOUND_EXCEEDED, /* the median is above it: the bound does not hold, why says what that means */
} BenchBoundState;

typedef struct BenchBound {
        BenchBoundState state;
        double tokens_per_s; /* 0 with BENCH_BOUND_NONE */
        double share;        /* median / bound, <= 1, with BENCH_BOUND_HOLDS; else 0 */
        const char *why;     /* a sentence, with NONE and EXCEEDED; NULL otherwise */
} BenchBound;

/* The decode bound for gb_per_s (0: unknown) over bytes_per_token (0: unknown) and what the measured median
 * says of it. A model only partly in GPU memory has no GPU bound (its layers on the CPU set the pace); a
 * share above 1 is never given: the bound then does not hold. */
void bench_bound(
        double gb_per_s,
        uint64_t bytes_per_token,
        bool fully_on_gpu,
        double median,
        BenchBound *ret);
