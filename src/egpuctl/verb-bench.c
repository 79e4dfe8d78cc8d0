/* SPDX-License-Identifier: GPL-2.0-or-later */
/* egpuctl bench: Ollama's generation speed on the passed-through GPU, against what the GPU's memory
 * bandwidth allows. */

#include <errno.h>
#include <inttypes.h>
#include <getopt.h>
#include <limits.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "egpuctl.h"
#include "guest-bench.h"
#include "guest-gpu.h"
#include "guest-tables.h"
#include "output.h"
#include "macro.h"
#include "ollama.h"

/* Declared in egpuctl.h by the verb table's owner; repeated here so that this file builds alone. */
int verb_bench(int argc, char *argv[]);

#define BENCH_DEFAULT_MODEL       "llama3.2"
#define BENCH_DEFAULT_RUNS        5
#define BENCH_MAX_RUNS            1000
#define BENCH_DEFAULT_NUM_PREDICT 128
#define BENCH_SEED                42
static int parse_uint(const char *s, unsigned long min, unsigned long max, unsigned long *ret) {
        unsigned long v;
        char *end;

        errno = 0;
        if (!s || !*s || *s == '-' || *s == '+')
                return -EINVAL;
        v = strtoul(s, &end, 10);
        if (errno != 0 || *end || v < min || v > max)
                return -EINVAL;
        *ret = v;
        return 0;
}

static int parse_positive_double(const char *s, double *ret) {
        double d;
        char *end;

        errno = 0;
        d = strtod(s, &end);
        if (errno != 0 || end == s || *end || !(d > 0) || d > 1e6)
                return -EINVAL;
        *ret = d;
        return 0;
}

/* Logs Ollama's failure, made printable, and a hint for the usual causes. */
static int log_ollama_failure(const OllamaClient *c, int r, const char *model, const char *what) {
        char *p = printable(ollama_client_error(c) ?: strerror(-r));

        log_error("%s: %s", what, p);
        printable_free(p);
        if (r == -ECONNREFUSED)
                log_error(
                        "Ollama is not running at %s: start it (systemctl start ollama, or ollama serve)",
                        ollama_client_url(c));
        else if (r == -ETIMEDOUT)
                log_error("Ollama did not answer in time: raise --timeout, or see journalctl -u ollama");
        else if (r == -ENOENT)
                log_error("the model is not there: ollama pull %s", model);
        else if (r == -EBADMSG)
                log_error("the answer is not what Ollama's API sends: is %s Ollama?", ollama_client_url(c));
        return EXIT_PROBLEM;
}

static json_object *stats_to_json(const BenchStats *st) {
        json_object *o;

        if (!st || st->n == 0)
                return NULL;
        o = json_object_new_object();
        if (!o)
                return NULL;
        if (json_object_object_add(o, "median", json_object_new_double(st->median)) < 0 ||
            json_object_object_add(o, "min", json_object_new_double(st->min)) < 0 ||
            json_object_object_add(o, "max", json_object_new_double(st->max)) < 0 ||
            json_object_object_add(o, "q1", json_object_new_double(st->q1)) < 0 ||
            json_object_object_add(o, "q3", json_object_new_double(st->q3)) < 0 ||
            json_object_object_add(o, "n", json_object_new_int64((int64_t) st->n)) < 0) {
                json_object_put(o);
                return NULL;
        }
        return o;
}

typedef struct BenchResult {
        const char *url;
        char *version;
        const char *model;
        unsigned long runs;
        unsigned long num_predict;
        const GuestGpu *gpu;
        const GpuBandwidth *bw_entry;
        double bandwidth; /* GB/s used for the bound, 0 when unknown */
        bool bandwidth_given;
        bool have_ps;
        uint64_t size, size_vram; /* what the loaded model takes (weights, KV cache, buffers), /api/ps */
        uint64_t weights;         /* the model's files, /api/tags; 0 when unknown */
        OllamaShow show;          /* expert counts (and tensors for a mixture of experts) */
        bool have_show;
        uint64_t bytes_per_token; /* 0 when unknown */
        const char *bytes_note;   /* why bytes_per_token is unknown */
        OllamaGenerateResult warmup;
        OllamaGenerateResult *samples;
        BenchStats eval, prompt;
        bool have_prompt;
        BenchBound bound;
} BenchResult;

static bool bench_fully_on_gpu(const BenchResult *b) {
        return b->have_ps && b->size_vram >= b->size;
}

static bool bench_moe(const BenchResult *b) {
        return b->have_show && b->show.expert_count > 0;
}

static const char *const prompt_cache_note =
        "each run's prompt differs from the one before from its first token on and is sent raw (no "
        "template): "
        "Ollama's prompt cache can give at most a leading BOS token and a first digit, of some 300";

static const char *gpu_name(const BenchResult *b) {
        return b->gpu->model ?: b->bw_entry ? b->bw_entry->boards : NULL;
}

static int print_json(const BenchResult *b) {
        _cleanup_(json_object_putp) json_object *o = json_object_new_object();
        json_object *gpu = NULL, *samples, *warnings, *moe = NULL;

        if (!o)
                return -ENOMEM;
        if (b->gpu) {
                char id[8];
                gpu = json_object_new_object();
                if (!gpu || json_object_object_add(o, "gpu", gpu) < 0) {
                        json_object_put(gpu);
                        return -ENOMEM;
                }
                if (json_add_string(gpu, "slot", b->gpu->slot) < 0)
                        return -ENOMEM;
                snprintf(id, sizeof(id), "%04x", b->gpu->vendor);
                if (json_add_string(gpu, "vendor_id", id) < 0)
                        return -ENOMEM;
                snprintf(id, sizeof(id), "%04x", b->gpu->device);
                if (json_add_string(gpu, "device_id", id) < 0 ||
                    json_add_string(gpu, "vendor_name", b->gpu->vendor_name) < 0 ||
                    json_add_string(gpu, "name", b->gpu->model) < 0 ||
                    json_add_string(gpu, "boards", b->bw_entry ? b->bw_entry->boards : NULL) < 0 ||
                    json_object_object_add(
                            gpu,
                            "bandwidth_gb_per_s",
                            b->bandwidth > 0 ? json_object_new_double(b->bandwidth) : NULL) < 0 ||
                    json_object_object_add(
                            gpu,
                            "bandwidth_min_gb_per_s",
                            b->bw_entry && !b->bandwidth_given
                                    ? json_object_new_double(b->bw_entry->gb_per_s_min)
                                    : NULL) < 0)
                        return -ENOMEM;
        } else if (json_object_object_add(o, "gpu", NULL) < 0)
                return -ENOMEM;

        if (bench_moe(b)) {
                moe = json_object_new_object();
                if (!moe || json_object_object_add(o, "mixture_of_experts", moe) < 0) {
                        json_object_put(moe);
                        return -ENOMEM;
                }
                if (json_object_object_add(
                            moe,
                            "expert_count",
                            json_object_new_int64((int64_t) b->show.expert_count)) < 0 ||
                    json_object_object_add(
                            moe,
                            "expert_used_count",
                            json_object_new_int64((int64_t) b->show.expert_used_count)) < 0)
                        return -ENOMEM;
        } else if (json_object_object_add(o, "mixture_of_experts", NULL) < 0)
                return -ENOMEM;

        if (json_add_string(o, "url", b->url) < 0 || json_add_string(o, "ollama_version", b->version) < 0 ||
            json_add_string(o, "model", b->model) < 0 ||
            json_object_object_add(o, "runs", json_object_new_int64((int64_t) b->runs)) < 0 ||
            json_object_object_add(o, "num_predict", json_object_new_int64((int64_t) b->num_predict)) < 0 ||
            json_object_object_add(o, "seed", json_object_new_int64(BENCH_SEED)) < 0 ||
            json_object_object_add(o, "size", b->have_ps ? json_object_new_int64((int64_t) b->size) : NULL) <
                    0 ||
            json_object_object_add(
                    o,
                    "size_vram",
                    b->have_ps ? json_object_new_int64((int64_t) b->size_vram) : NULL) < 0 ||
            json_object_object_add(
                    o,
                    "fully_on_gpu",
                    b->have_ps ? json_object_new_boolean(bench_fully_on_gpu(b)) : NULL) < 0 ||
            json_object_object_add(
                    o,
                    "weights_bytes",
                    b->weights > 0 ? json_object_new_int64((int64_t) b->weights) : NULL) < 0 ||
            json_object_object_add(
                    o,
                    "bytes_per_token",
                    b->bytes_per_token > 0 ? json_object_new_int64((int64_t) b->bytes_per_token) : NULL) <
                    0 ||
            json_object_object_add(o, "eval_tokens_per_s", stats_to_json(&b->eval)) < 0 ||
            json_object_object_add(
                    o,
                    "prompt_tokens_per_s",
                    b->have_prompt ? stats_to_json(&b->prompt) : NULL) < 0 ||
            json_add_string(o, "prompt_cache", prompt_cache_note) < 0 ||
            json_object_object_add(
                    o,
                    "load_duration_s",
                    json_object_new_double((double) b->warmup.load_duration / 1e9)) < 0 ||
            json_object_object_add(
                    o,
                    "bound_tokens_per_s",
                    b->bound.state != BENCH_BOUND_NONE ? json_object_new_double(b->bound.tokens_per_s)
                                                       : NULL) < 0 ||
            json_object_object_add(
                    o,
                    "share_of_bound",
                    b->bound.state == BENCH_BOUND_HOLDS ? json_object_new_double(b->bound.share) : NULL) <
                    0 ||
            json_object_object_add(
                    o,
                    "bound_holds",
                    b->bound.state != BENCH_BOUND_NONE
                            ? json_object_new_boolean(b->bound.state == BENCH_BOUND_HOLDS)
                            : NULL) < 0 ||
            json_add_string(o, "bound_note", b->bound.why) < 0)
                return -ENOMEM;

        samples = json_object_new_array();
        if (!samples || json_object_object_add(o, "samples", samples) < 0) {
                json_object_put(samples);
                return -ENOMEM;
        }
        for (unsigned long i = 0; i < b->runs; i++) {
                const OllamaGenerateResult *g = &b->samples[i];
                const struct {
                        const char *key;
                        uint64_t value;
                } fields[] = {
                        { "eval_count", g->eval_count },
                        { "eval_duration", g->eval_duration },
                        { "prompt_eval_count", g->prompt_eval_count },
                        { "prompt_eval_duration", g->prompt_eval_duration },
                        { "load_duration", g->load_duration },
                        { "total_duration", g->total_duration },
                };
                json_object *s = json_object_new_object();

                if (!s || json_object_array_add(samples, s) < 0) {
                        json_object_put(s);
                        return -ENOMEM;
                }
                FOREACH_ARRAY(f, fields, ELEMENTSOF(fields))
                        if (json_object_object_add(s, f->key, json_object_new_int64((int64_t) f->value)) < 0)
                                return -ENOMEM;
        }

        warnings = json_object_new_array();
        if (!warnings || json_object_object_add(o, "warnings", warnings) < 0) {
                json_object_put(warnings);
                return -ENOMEM;
        }
        if (b->have_ps && !bench_fully_on_gpu(b) &&
            json_object_array_add(warnings, json_object_new_string("model not fully in GPU memory")) < 0)
                return -ENOMEM;
        if (!b->gpu &&
            json_object_array_add(warnings, json_object_new_string("no passed-through GPU found")) < 0)
                return -ENOMEM;
        if (b->bytes_note && json_object_array_add(warnings, json_object_new_string(b->bytes_note)) < 0)
                return -ENOMEM;

        return json_print(o);
}

static void print_gb(const char *label, uint64_t bytes) {
        printf("%s%.2f GB", label, (double) bytes / 1e9);
}

static void print_text(const BenchResult *b) {
        char *model = printable(b->model), *version = printable(b->version), *url = printable(b->url);

        if (b->gpu) {
                char *gpuname = printable(gpu_name(b));
                printf("GPU:          %s %04x:%04x %s",
                       b->gpu->slot,
                       b->gpu->vendor,
                       b->gpu->device,
                       gpuname);
                printable_free(gpuname);
                if (b->bandwidth > 0 && (b->bandwidth_given || !b->bw_entry))
                        printf(" (%.1f GB/s)\n", b->bandwidth);
                else if (b->bandwidth > 0 && b->bw_entry->gb_per_s_min == b->bw_entry->gb_per_s_max) {
                        char *boards = printable(b->bw_entry->boards);
                        printf(" (%s: %.1f GB/s)\n", boards, b->bandwidth);
                        printable_free(boards);
                } else if (b->bandwidth > 0) {
                        char *boards = printable(b->bw_entry->boards);
                        printf(" (%.1f GB/s: the fastest of the boards with this id, %s, %.1f to %.1f GB/s; "
                               "--bandwidth gives yours)\n",
                               b->bandwidth,
                               boards,
                               b->bw_entry->gb_per_s_min,
                               b->bw_entry->gb_per_s_max);
                        printable_free(boards);
                } else
                        printf(" (memory bandwidth unknown: pass --bandwidth)\n");
        } else
                printf("GPU:          none found on the PCI bus\n");
        printf("Ollama:       %s at %s\n", version, url);

        printf("Model:        %s", model);
        if (b->weights > 0)
                print_gb(", weights ", b->weights);
        if (bench_moe(b))
                printf(", a mixture of experts (%" PRIu64 " of %" PRIu64 " experts per token)",
                       b->show.expert_used_count,
                       b->show.expert_count);
        if (b->have_ps) {
                print_gb("; loaded ", b->size);
                if (bench_fully_on_gpu(b))
                        printf(", all in GPU memory\n");
                else
                        printf(", %.2f GB of it in GPU memory (%.0f%%): only partly on the GPU\n",
                               (double) b->size_vram / 1e9,
                               b->size > 0 ? 100.0 * (double) b->size_vram / (double) b->size : 0.0);
        } else
                printf(" (not listed by /api/ps after the warm-up)\n");
        printf("Runs:         %lu after a warm-up, %lu tokens each, seed %d, temperature 0\n",
               b->runs,
               b->num_predict,
               BENCH_SEED);
        printf("Generation:   %.1f tokens/s median (min %.1f, max %.1f)\n",
               b->eval.median,
               b->eval.min,
               b->eval.max);
        if (b->have_prompt)
                printf("Prompt:       %.1f tokens/s median (min %.1f, max %.1f); %s\n",
                       b->prompt.median,
                       b->prompt.min,
                       b->prompt.max,
                       prompt_cache_note);
        else
                printf("Prompt:       not measured (Ollama reported no prompt_eval_duration)\n");
        printf("Load time:    %.2f s (warm-up)\n", (double) b->warmup.load_duration / 1e9);
        if (b->bytes_per_token > 0 && b->bytes_per_token != b->weights)
                printf("Read/token:   %.2f GB (the weights less the experts not in use)\n",
                       (double) b->bytes_per_token / 1e9);
        switch (b->bound.state) {
        case BENCH_BOUND_HOLDS:
                printf("Bound:        %.1f tokens/s (%.1f GB/s / %.2f GB read per token); reached %.0f%%\n",
                       b->bound.tokens_per_s,
                       b->bandwidth,
                       (double) b->bytes_per_token / 1e9,
                       100.0 * b->bound.share);
                break;
        case BENCH_BOUND_EXCEEDED:
                printf("Bound:        %.1f tokens/s (%.1f GB/s / %.2f GB read per token); %s\n",
                       b->bound.tokens_per_s,
                       b->bandwidth,
                       (double) b->bytes_per_token / 1e9,
                       b->bound.why);
                break;
        default:
                printf("Bound:        none: %s%s%s\n",
                       b->bound.why,
                       b->bytes_note ? "; " : "",
                       strempty(b->bytes_note));
        }
        if (b->have_ps && !bench_fully_on_gpu(b))
                printf("Warning:      the model is not fully in GPU memory (size_vram < size): the layers "
                       "on the CPU\n"
                       "              set the pace, which explains a CPU-like figure\n");
        printable_free(model);
        printable_free(version);
        printable_free(url);
}

/* What the model reads per token: its weights (/api/tags), and for a mixture of experts only the experts in
 * use (/api/show, verbose for the tensors). Failures leave the figure unknown, with a note; only running out
 * of memory is an error. */
static int bench_weights(OllamaClient *client, BenchResult *b) {
        int r;

        r = ollama_model_size(client, b->model, &b->weights);
        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                b->bytes_note = "the model's size is unknown (/api/tags did not list it)";
                return 0;
        }
        r = ollama_show(client, b->model, false, &b->show);
        if (r == -ENOMEM)
                return r;
        b->have_show = r >= 0;
        if (r < 0)
                /* Then the weights are the figure, as for a dense model; a bound exceeded says why. */
                b->bytes_note =
                        "/api/show did not answer: whether the model is a mixture of experts is unknown";
        if (bench_moe(b)) {
                OllamaShow full;

                r = ollama_show(client, b->model, true, &full);
                if (r == -ENOMEM)
                        return r;
                if (r >= 0) {
                        ollama_show_done(&b->show);
                        b->show = full;
                } else {
                        b->bytes_note =
                                "a mixture of experts whose tensors /api/show did not give: the bytes read "
                                "per token are unknown";
                        return 0;
                }
        }
        r = bench_bytes_per_token(b->weights, b->have_show ? &b->show : NULL, &b->bytes_per_token);
        if (r < 0)
                b->bytes_note = r == -EOPNOTSUPP ? "a mixture of experts with a tensor type egpuctl has no "
                                                   "size for: the bytes read per "
                                                   "token are unknown"
                                                 : "a mixture of experts whose expert tensors do not add "
                                                   "up: the bytes read per token are "
                                                   "unknown";
        return 0;
}

enum { ARG_URL = ARG_VERB_FIRST, ARG_MODEL, ARG_RUNS, ARG_NUM_PREDICT, ARG_TIMEOUT, ARG_BANDWIDTH };

/* Where bench_option() puts what the options say. */
typedef struct BenchArgs {
        BenchResult *b;
        usec_t *timeout;
        double *bandwidth;
} BenchArgs;

static int bench_option(int c, const char *arg, void *userdata) {
        BenchArgs *a = userdata;

        switch (c) {
        case ARG_URL:
                a->b->url = arg;
                return 0;
        case ARG_MODEL:
                if (!*arg)
                        return usage_error("bench", "empty --model");
                a->b->model = arg;
                return 0;
        case ARG_RUNS:
                if (parse_uint(arg, 1, BENCH_MAX_RUNS, &a->b->runs) < 0)
                        return usage_error("bench", "invalid --runs: %s (1 to %d)", arg, BENCH_MAX_RUNS);
                return 0;
        case ARG_NUM_PREDICT:
                if (parse_uint(arg, 1, 1000000, &a->b->num_predict) < 0)
                        return usage_error("bench", "invalid --num-predict: %s", arg);
                return 0;
        case ARG_TIMEOUT:
                if (parse_timeout_arg(arg, 1, 3600 * USEC_PER_SEC, a->timeout) < 0)
                        return usage_error("bench", "invalid --timeout: %s (seconds, up to 3600)", arg);
                return 0;
        case ARG_BANDWIDTH:
                if (parse_positive_double(arg, a->bandwidth) < 0)
                        return usage_error("bench", "invalid --bandwidth: %s (GB/s)", arg);
                return 0;
        default:
                return verb_common_option("bench", c);
        }
}

int verb_bench(int argc, char *argv[]) {
        static const struct option options[] = {
                COMMON_OPTIONS,
                { "url", required_argument, NULL, ARG_URL },
                { "model", required_argument, NULL, ARG_MODEL },
                { "runs", required_argument, NULL, ARG_RUNS },
                { "num-predict", required_argument, NULL, ARG_NUM_PREDICT },
                { "timeout", required_argument, NULL, ARG_TIMEOUT },
                { "bandwidth", required_argument, NULL, ARG_BANDWIDTH },
                {},
        };
        _cleanup_ollama_client_ OllamaClient *client = NULL;
        _cleanup_free_ double *eval_rates = NULL, *prompt_rates = NULL;
        _cleanup_free_ OllamaGenerateResult *samples = NULL;
        GuestGpu *gpus = NULL;
        size_t n_gpus = 0, n_prompt = 0, n_eval = 0;
        _cleanup_free_ char *prompt = NULL;
        OllamaModel *models = NULL;
        size_t n_models = 0;
        BenchResult b = {
                .url = OLLAMA_DEFAULT_URL,
                .model = BENCH_DEFAULT_MODEL,
                .runs = BENCH_DEFAULT_RUNS,
                .num_predict = BENCH_DEFAULT_NUM_PREDICT,
        };
        usec_t timeout = 300 * USEC_PER_SEC;
        double bandwidth_arg = 0;
        BenchArgs args = { &b, &timeout, &bandwidth_arg };
        bool progress;
        int r, ret = EXIT_PROBLEM;

        r = verb_parse("bench", argc, argv, options, bench_option, &args);
        if (r != 0)
                return r < 0 ? EXIT_OK : r;
        if (optind < argc)
                return usage_error("bench", "unexpected argument '%s'", argv[optind]);

        progress = isatty(STDOUT_FILENO);

        /* The GPU and its bandwidth. */
        r = guest_gpus_enumerate(&gpus, &n_gpus);
        if (r < 0)
                log_warning("cannot list PCI devices: %s", strerror(-r));
        else
                b.gpu = guest_gpus_pick(gpus, n_gpus);
        if (b.gpu)
                b.bw_entry = gpu_bandwidth_lookup(b.gpu->vendor, b.gpu->device, b.gpu->revision);
        /* Boards sharing an id differ: the fastest one's figure is a bound for each of them. */
        b.bandwidth_given = bandwidth_arg > 0;
        b.bandwidth = b.bandwidth_given ? bandwidth_arg : b.bw_entry ? b.bw_entry->gb_per_s_max : 0;

        /* libcurl takes milliseconds (CURLOPT_CONNECTTIMEOUT_MS, CURLOPT_TIMEOUT_MS). */
        r = ollama_client_new(
                b.url,
                usec_to_msec_ceil(MIN(timeout, 5 * USEC_PER_SEC), LONG_MAX),
                usec_to_msec_ceil(timeout, LONG_MAX),
                &client);
        if (r < 0)
                goto oom;
        r = ollama_get_version(client, &b.version);
        if (r < 0) {
                ret = log_ollama_failure(client, r, b.model, "Ollama does not answer");
                goto finish;
        }

        OllamaGenerateRequest req = {
                .model = b.model,
                .raw = true,
                .seed = BENCH_SEED,
                .num_predict = (int64_t) b.num_predict,
                .temperature = 0,
        };

        if (progress)
                fprintf(stderr, "\rwarm-up (loads %s)...", b.model);
        r = bench_prompt(0, &prompt);
        if (r < 0)
                goto oom;
        req.prompt = prompt;
        r = ollama_generate(client, &req, &b.warmup);
        if (r < 0) {
                if (progress)
                        fputs("\r\033[K", stderr);
                ret = log_ollama_failure(client, r, b.model, "warm-up run failed");
                goto finish;
        }

        /* What the model takes in GPU memory, now that it is loaded. */
        r = ollama_ps(client, &models, &n_models);
        if (r < 0) {
                if (progress)
                        fputs("\r\033[K", stderr);
                ret = log_ollama_failure(client, r, b.model, "cannot list the loaded models");
                goto finish;
        }
        for (size_t i = 0; i < n_models; i++)
                if (ollama_model_name_matches(models[i].name, b.model) ||
                    ollama_model_name_matches(models[i].model, b.model)) {
                        b.have_ps = true;
                        b.size = models[i].size;
                        b.size_vram = models[i].size_vram;
                        break;
                }

        r = bench_weights(client, &b);
        if (r < 0)
                goto oom;

        samples = calloc(b.runs, sizeof(OllamaGenerateResult));
        eval_rates = calloc(b.runs, sizeof(double));
        prompt_rates = calloc(b.runs, sizeof(double));
        if (!samples || !eval_rates || !prompt_rates)
                goto oom;

        for (unsigned long i = 0; i < b.runs; i++) {
                if (progress)
                        fprintf(stderr, "\r\033[Krun %lu/%lu...", i + 1, b.runs);
                prompt = mfree(prompt);
                r = bench_prompt((unsigned) i + 1, &prompt);
                if (r < 0)
                        goto oom;
                req.prompt = prompt;
                r = ollama_generate(client, &req, &samples[i]);
                if (r < 0) {
                        if (progress)
                                fputs("\r\033[K", stderr);
                        ret = log_ollama_failure(client, r, b.model, "run failed");
                        goto finish;
                }
                /* A statistic Ollama left out is 0: a run without eval_duration has no rate. */
                if (bench_rate(samples[i].eval_count, samples[i].eval_duration, &eval_rates[n_eval]) >= 0)
                        n_eval++;
                if (bench_rate(
                            samples[i].prompt_eval_count,
                            samples[i].prompt_eval_duration,
                            &prompt_rates[n_prompt]) >= 0)
                        n_prompt++;
        }
        if (progress)
                fputs("\r\033[K", stderr);

        if (n_eval == 0) {
                log_error("Ollama reported no eval_duration in any run: cannot compute tokens/s");
                goto finish;
        }
        b.samples = samples;
        if (bench_stats(eval_rates, n_eval, &b.eval) < 0)
                goto oom;
        b.have_prompt = n_prompt > 0 && bench_stats(prompt_rates, n_prompt, &b.prompt) >= 0;
        bench_bound(b.bandwidth, b.bytes_per_token, bench_fully_on_gpu(&b), b.eval.median, &b.bound);

        if (arg_global.json) {
                if (print_json(&b) < 0)
                        goto oom;
        } else
                print_text(&b);
        ret = EXIT_OK;
        goto finish;

oom:
        log_error("out of memory");
        ret = EXIT_PROBLEM;
finish:
        free(b.version);
        ollama_show_done(&b.show);
        ollama_models_free(models, n_models);
        guest_gpus_free(gpus, n_gpus);
        return ret;
}
