/* SPDX-License-Identifier: GPL-2.0-or-later */

#include <errno.h>
#include <stdio.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "guest-bench.h"
#include "guest-tables.h"
#include "macro.h"
#include "ollama.h"

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

/* About three hundred tokens of plain prose; the same for every run, after the run's own number. */
#define BENCH_PROMPT_BODY                                                                                   \
        "Explain in three short paragraphs how a GPU's memory bandwidth limits the speed at which a large " \
        "language model generates text. Consider a model whose weights take a few gigabytes and a "         \
        "graphics card "                                                                                    \
        "in an external enclosure, connected to a small computer over a Thunderbolt cable. When the model " \
        "generates one token, every layer multiplies the activations by its weight matrices, and each of "  \
        "those "                                                                                            \
        "weights has to travel from the card's memory into its compute units. Because a single token "      \
        "needs "                                                                                            \
        "little arithmetic for each byte it reads, the time per token is set by how fast the memory can "   \
        "deliver "                                                                                          \
        "the weights, not by how fast the card can multiply. Describe why the prompt, which is evaluated "  \
        "many "                                                                                             \
        "tokens at a time, behaves differently: there the same weights serve a whole batch of tokens, so "  \
        "the "                                                                                              \
        "card's arithmetic becomes the limit. Then say what changes when part of the model does not fit "   \
        "in the "                                                                                           \
        "card's memory and stays on the computer's processor, and what changes for a mixture of experts, "  \
        "which "                                                                                            \
        "reads only some of its experts for each token. Mention the key-value cache and why it grows with " \
        "the "                                                                                              \
        "length of the context, and whether reading it matters at short contexts. Finally, give a rough "   \
        "rule "                                                                                             \
        "that a user could apply to the bandwidth of a card and the size of a model file to know what "     \
        "speed to "                                                                                         \
        "expect, and say which measurements would show that a setup falls short of that speed, such as a "  \
        "card "                                                                                             \
        "running at a lower link speed, a driver that falls back to the processor, or a model that is "     \
        "only "                                                                                             \
        "partly loaded onto the card."

int bench_prompt(unsigned run, char **ret) {
        return asprintf(ret, "%u. %s", run, BENCH_PROMPT_BODY) < 0 ? -ENOMEM : 0;
}

int bench_bytes_per_token(uint64_t weights_bytes, const OllamaShow *show, uint64_t *ret) {
        uint64_t expert_bytes = 0, unused;

        if (!ret || weights_bytes == 0)
                return -EINVAL;
        if (!show || show->expert_count == 0) {
                *ret = weights_bytes;
                return 0;
        }
        if (show->expert_used_count == 0 || show->expert_used_count > show->expert_count)
                return -EINVAL;
        if (!show->tensors)
                return -ENODATA;
        for (size_t i = 0; i < show->n_tensors; i++) {
                const OllamaTensor *t = &show->tensors[i];
                const GgmlType *type;

                if (!strstr(t->name, "_exps"))
                        continue;
                type = ggml_type_lookup(t->type);
                if (!type)
                        return -EOPNOTSUPP;
                if (t->elements % type->block != 0 || t->elements / type->block > UINT64_MAX / type->bytes)
                        return -EINVAL;
                expert_bytes += t->elements / type->block * type->bytes;
        }
        if (expert_bytes == 0 || expert_bytes > weights_bytes)
                return -EINVAL;
        /* experts left unread for each token: (count - used) of count */
        unused = (uint64_t) ((double) expert_bytes * (double) (show->expert_count - show->expert_used_count) /
                             (double) show->expert_count);
        *ret = weights_bytes - unused;
        return 0;
}

void bench_bound(
        double gb_per_s,
        uint64_t bytes_per_token,
        bool fully_on_gpu,
        double median,
        BenchBound *ret) {
        double bound;

        *ret = (BenchBound){ .state = BENCH_BOUND_NONE };
        if (!fully_on_gpu) {
                ret->why = "the model is only partly in GPU memory: its layers on the CPU set the pace, and "
                           "the "
                           "GPU's bandwidth bounds nothing";
                return;
        }
        if (!(gb_per_s > 0)) {
                ret->why = "the GPU's memory bandwidth is unknown (pass --bandwidth)";
                return;
        }
        if (bench_decode_bound(gb_per_s, bytes_per_token, &bound) < 0) {
                ret->why = "the bytes read per token are unknown";
                return;
        }
        ret->tokens_per_s = bound;
        if (median > bound) {
                ret->state = BENCH_BOUND_EXCEEDED;
                ret->why =
                        "the measured rate is above it, so the bound does not hold here: the bandwidth is "
                        "not "
                        "this board's (pass --bandwidth), or fewer bytes are read per token than counted (a "
                        "mixture of experts Ollama does not report, speculative decoding)";
                return;
        }
        ret->state = BENCH_BOUND_HOLDS;
        ret->share = median / bound;
}
