/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http.h"

/* A client for Ollama's HTTP API (docs/api.md): /api/version, /api/ps and non-streaming
 * /api/generate. Every call has a connect and a total timeout. On failure a call returns -errno and
 * leaves a one-line description of what went wrong in ollama_client_error() (the server's own
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

typedef struct OllamaGenerateRequest {
        const char *model;
        const char *prompt;
        int64_t seed;
        int64_t num_predict;
        double temperature;
} OllamaGenerateRequest;

/* The statistics of a non-streaming /api/generate answer; durations in nanoseconds. */
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
 * (malformed, truncated, or lacking a statistic); -EPROTO: another HTTP error status; the transport
 * errors of http_request(). */
int ollama_generate(OllamaClient *c, const OllamaGenerateRequest *req, OllamaGenerateResult *ret);

/* Builds the JSON body of the request above (exposed for tests). */
int ollama_generate_body(const OllamaGenerateRequest *req, char **ret);

/* Parses "0.18.2", "v0.12.11-rc1", "0.5" into three numbers. -EINVAL when it does not start with
 * a number. */
int ollama_version_parse(const char *s, unsigned ret[3]);
/* strcmp-like comparison of two parsed versions. */
int ollama_version_compare(const unsigned a[3], const unsigned b[3]);

/* Ollama's Vulkan backend is opt-in (OLLAMA_VULKAN=1, since 0.12.11) before this version and on by
 * default from it on (the project's working assumption, see docs; kept in one place to update). */
#define OLLAMA_VULKAN_DEFAULT_SINCE "0.30.0"

typedef enum OllamaVulkanState {
        OLLAMA_VULKAN_OFF,           /* OLLAMA_VULKAN unset and the version needs it (or is unknown) */
        OLLAMA_VULKAN_OFF_BY_ENV,    /* OLLAMA_VULKAN=0 (or not a boolean) */
        OLLAMA_VULKAN_ON_BY_ENV,     /* OLLAMA_VULKAN=1 */
        OLLAMA_VULKAN_ON_BY_DEFAULT, /* unset, and the version enables it by default */
} OllamaVulkanState;

/* version: Ollama's version, NULL when unknown; env_value: OLLAMA_VULKAN in the service's
 * environment, NULL when unset. */
OllamaVulkanState ollama_vulkan_state(const char *version, const char *env_value);

static inline bool ollama_vulkan_state_on(OllamaVulkanState s) {
        return s == OLLAMA_VULKAN_ON_BY_ENV || s == OLLAMA_VULKAN_ON_BY_DEFAULT;
}
