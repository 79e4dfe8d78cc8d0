/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http.h"
#include "macro.h"

/* A client for Ollama's HTTP API (docs/api.md): /api/version, /api/ps, /api/tags, /api/show and
 * non-streaming /api/generate. Every call has a connect and a total timeout. On failure a call returns
 * -errno and leaves a one-line description of what went wrong in ollama_client_error() (the server's own
 * "error" message where it sent one): the library never prints. */

#define OLLAMA_DEFAULT_URL "http://127.0.0.1:11434"

typedef struct OllamaClient OllamaClient;

/* url: base URL such as "http://127.0.0.1:11434" (a trailing '/' is dropped). Timeouts in ms; 0 picks
 * the defaults of http.h. */
int ollama_client_new(const char *url, long connect_timeout_ms, long total_timeout_ms, OllamaClient **ret);
OllamaClient *ollama_client_free(OllamaClient *c);
static inline void ollama_client_freep(OllamaClient **c) {
        if (*c)
                ollama_client_free(*c);
}
#define _cleanup_ollama_client_ __attribute__((cleanup(ollama_client_freep)))

const char *ollama_client_url(const OllamaClient *c);
/* The description of the last failure, or NULL. Valid until the next call on c. */
const char *ollama_client_error(const OllamaClient *c);

/* GET /api/version: {"version": "0.18.2"}. */
int ollama_get_version(OllamaClient *c, char **ret_version);

typedef struct OllamaModel {
        char *name;           /* "llama3.2:latest" */
        char *model;          /* usually the same as name */
        uint64_t size;        /* bytes the loaded model takes, GPU and system memory together */
        uint64_t size_vram;   /* of which in GPU memory */
        char *parameter_size; /* "3.2B", may be NULL */
        char *quantization;   /* "Q4_K_M", may be NULL */
} OllamaModel;

void ollama_models_free(OllamaModel *m, size_t n);

/* GET /api/ps: the models loaded now. */
int ollama_ps(OllamaClient *c, OllamaModel **ret, size_t *ret_n);

/* Whether a model name from /api/ps is the one asked for ("llama3.2" is "llama3.2:latest"). */
bool ollama_model_name_matches(const char *loaded, const char *wanted);

/* GET /api/tags: the bytes of the model's files as Ollama lists them ("size": the weights, and a vision
 * model's projector), that is what generating a token reads from memory for a dense model. -ENOENT when the
 * model is not listed. */
int ollama_model_size(OllamaClient *c, const char *model, uint64_t *ret);

typedef struct OllamaTensor {
        char *name;        /* "blk.0.ffn_gate_exps.weight" */
        char *type;        /* "Q4_K" */
        uint64_t elements; /* the product of its shape */
} OllamaTensor;

typedef struct OllamaShow {
        /* model_info's "<architecture>.expert_count" and "...expert_used_count": a mixture of experts reads
         * expert_used_count of expert_count experts per token. 0 when absent (a dense model). */
        uint64_t expert_count;
        uint64_t expert_used_count;
        OllamaTensor *tensors; /* with verbose: every tensor of the model; NULL otherwise */
        size_t n_tensors;
} OllamaShow;

void ollama_show_done(OllamaShow *s);

/* POST /api/show {"model", "verbose"}: what the model is made of (verbose adds the tensors, and makes the
 * answer as large as the model's vocabulary). -ENOENT when the model is not there. */
int ollama_show(OllamaClient *c, const char *model, bool verbose, OllamaShow *ret);

typedef struct OllamaGenerateRequest {
        const char *model;
        const char *prompt;
        bool raw; /* "raw": true: the prompt as it is, without the model's template */
        int64_t seed;
        int64_t num_predict;
        double temperature;
} OllamaGenerateRequest;

/* The statistics of a non-streaming /api/generate answer; durations in nanoseconds. Ollama leaves out a
 * statistic that is zero (api.Metrics: every field "omitempty"): a missing one reads as 0. Since 0.30.1
 * prompt_eval_count counts the prompt's tokens found in the cache too (ollama 35fa277fa, #16428, "include
 * cached prompt tokens in llama-server counts", as the runners before 0.30 did), while prompt_eval_duration
 * covers only the tokens evaluated. */
typedef struct OllamaGenerateResult {
        uint64_t total_duration;
        uint64_t load_duration;
        uint64_t prompt_eval_count;
        uint64_t prompt_eval_duration;
        uint64_t eval_count;
        uint64_t eval_duration;
} OllamaGenerateResult;

/* POST /api/generate with "stream": false and options {seed, num_predict, temperature}.
 * -ENOENT: the model is not there (HTTP 404); -EBADMSG: the answer is not the JSON expected
 * (malformed, truncated, a statistic that is not a number); -EPROTO: another HTTP error status; the
 * transport errors of http_request(). */
int ollama_generate(OllamaClient *c, const OllamaGenerateRequest *req, OllamaGenerateResult *ret);

/* Builds the JSON body of the request above (exposed for tests). */
int ollama_generate_body(const OllamaGenerateRequest *req, char **ret);

/* An Ollama version. Ollama compares versions as semantic versions (golang.org/x/mod/semver, after
 * prefixing "v": parser/parser.go, x/create/client/create.go): MAJOR.MINOR.PATCH, then an optional
 * pre-release after '-' ("rc24"), which comes before the release, and build metadata after '+', ignored. */
typedef struct OllamaVersion {
        unsigned major, minor, patch;
        char prerelease[64]; /* "" for a release */
} OllamaVersion;

/* Parses "0.18.2", "v0.30.0-rc24", "0.5" (MINOR and PATCH default to 0). -EINVAL when it is not a version.
 */
int ollama_version_parse(const char *s, OllamaVersion *ret);
/* strcmp-like. Pre-releases compare as in semver (identifiers separated by '.', numbers numerically and
 * before words, a shorter list first), except that a word made of letters then digits ("rc24") compares by
 * the letters, then the digits as a number: Ollama tags rc0 ... rc32 in that order, where plain semver would
 * put rc3 after rc24. */
int ollama_version_compare(const OllamaVersion *a, const OllamaVersion *b) _pure_;
/* Whether version (a string as /api/version gives it) is since or later; -EINVAL when it does not parse. */
int ollama_version_at_least(const char *version, const char *since);

/* How Ollama reads a boolean setting such as OLLAMA_VULKAN (envconfig.BoolWithDefault): spaces, then quotes
 * (" and ') trimmed from both ends (envconfig.Var); what is left empty (or value NULL) means default_value;
 * a Go boolean (strconv.ParseBool: 1 t T TRUE true True, 0 f F FALSE false False) means itself; anything
 * else means true ("yes" included). */
bool ollama_env_bool(const char *value, bool default_value) _pure_;

typedef enum OllamaVulkanState {
        OLLAMA_VULKAN_UNAVAILABLE, /* the version reads no OLLAMA_VULKAN: before 0.12.11 */
        OLLAMA_VULKAN_OFF, /* OLLAMA_VULKAN unset (or empty) and off by default (or version unknown) */
        OLLAMA_VULKAN_OFF_BY_ENV,    /* OLLAMA_VULKAN a Go false: 0, f, false, ... */
        OLLAMA_VULKAN_ON_BY_ENV,     /* OLLAMA_VULKAN set to anything else */
        OLLAMA_VULKAN_ON_BY_DEFAULT, /* unset, and the version enables it by default (0.30.0-rc24 on) */
} OllamaVulkanState;

/* version: Ollama's version, NULL when unknown; env_value: OLLAMA_VULKAN in the service's environment, NULL
 * when unset. The versions are data/tables/ollama-versions.table's. */
OllamaVulkanState ollama_vulkan_state(const char *version, const char *env_value);

/* The versions of ollama_vulkan_state(): since when OLLAMA_VULKAN is read, and since when it is on unless
 * set. */
extern const char ollama_vulkan_opt_in_since[];
extern const char ollama_vulkan_default_since[];

static inline bool ollama_vulkan_state_on(OllamaVulkanState s) {
        return s == OLLAMA_VULKAN_ON_BY_ENV || s == OLLAMA_VULKAN_ON_BY_DEFAULT;
}
