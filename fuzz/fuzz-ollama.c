/* SPDX-License-Identifier: GPL-2.0-or-later */
/* fuzz-ollama: Ollama's answers through the real client (src/guest/ollama.c): ollama_get_version(),
 * ollama_ps(), ollama_generate(), ollama_model_size() (/api/tags) and ollama_show() (/api/show, verbose),
 * with http_request() replaced by the stub below, which answers with the fuzzer's bytes. This file defines
 * every function of http.h, so that neither http-curl.c nor http-none.c is linked in. Input: byte 0 picks
 * the call (mod 5), byte 1 the HTTP status (200, 404, 500, 201, 302); the rest is the body, NUL bytes
 * included. The version's and the body's text also go through the version parser and ollama_env_bool(). */

#include "fuzz.h"
#include "guest-bench.h"
#include "http.h"
#include "macro.h"
#include "ollama.h"

static const uint8_t *answer;
static size_t answer_size;
static long answer_status;

int http_request(
        const char *url,
        const char *json_body,
        const HttpLimits *limits,
        HttpResponse *ret,
        char **error) {
        char *b;

        fuzz_assert(url && limits && ret);
        if (error)
                *error = NULL;
        b = malloc(answer_size + 1);
        if (!b)
                return -ENOMEM;
        memcpy(b, answer, answer_size);
        b[answer_size] = 0;
        *ret = (HttpResponse){ .status = answer_status, .body = b, .body_size = answer_size };
        return 0;
}

void http_response_done(HttpResponse *r) {
        r->body = mfree(r->body);
        r->body_size = 0;
}

int http_supported(void) {
        return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static const long statuses[] = { 200, 404, 500, 201, 302 };
        _cleanup_ollama_client_ OllamaClient *c = NULL;
        int r;

        if (size < 2)
                return 0;
        answer = data + 2;
        answer_size = size - 2;
        answer_status = statuses[data[1] % ELEMENTSOF(statuses)];

        if (ollama_client_new(NULL, 0, 0, &c) < 0)
                return 0;

        switch (data[0] % 5) {
        case 0: {
                _cleanup_free_ char *version = NULL;
                OllamaVersion v, w;

                r = ollama_get_version(c, &version);
                if (r >= 0) {
                        fuzz_assert(version);
                        if (ollama_version_parse(version, &v) >= 0) {
                                /* a version is equal to itself, and on one side of the Vulkan threshold */
                                fuzz_assert(ollama_version_compare(&v, &v) == 0);
                                fuzz_assert(ollama_version_parse(ollama_vulkan_default_since, &w) >= 0);
                                fuzz_assert(
                                        ollama_version_compare(&v, &w) == -ollama_version_compare(&w, &v));
                                (void) ollama_vulkan_state(version, NULL);
                        }
                        (void) ollama_vulkan_state(version, version);
                        fuzz_assert(
                                ollama_env_bool(version, true) || !ollama_env_bool(version, false) ||
                                ollama_env_bool(version, false) == ollama_env_bool(version, true));
                }
                break;
        }
        case 1: {
                OllamaModel *models = NULL;
                size_t n = 0;

                r = ollama_ps(c, &models, &n);
                if (r >= 0) {
                        for (size_t i = 0; i < n; i++) {
                                fuzz_assert(models[i].name);
                                (void) ollama_model_name_matches(models[i].name, "llama3.2");
                                (void) ollama_model_name_matches(models[i].model, models[i].name);
                        }
                        ollama_models_free(models, n);
                }
                break;
        }
        case 3: {
                uint64_t model_size;

                r = ollama_model_size(c, "llama3.2", &model_size);
                break;
        }
        case 4: {
                OllamaShow show = {};

                r = ollama_show(c, "llama3.2", true, &show);
                if (r >= 0) {
                        uint64_t bytes;
                        for (size_t i = 0; i < show.n_tensors; i++)
                                fuzz_assert(show.tensors[i].name && show.tensors[i].type);
                        /* the bytes per token of a model of 1 GB never exceed its weights */
                        if (bench_bytes_per_token(1000000000, &show, &bytes) >= 0)
                                fuzz_assert(bytes <= 1000000000);
                        ollama_show_done(&show);
                }
                break;
        }
        default: {
                OllamaGenerateRequest req = { .model = "llama3.2",
                                              .prompt = "Why is the sky blue?",
                                              .seed = 42,
                                              .num_predict = 64 };
                OllamaGenerateResult g;

                r = ollama_generate(c, &req, &g);
                break;
        }
        }
        /* Every failure leaves a description, and every success is from a 2xx answer. */
        if (r < 0 && r != -ENOMEM)
                fuzz_assert(ollama_client_error(c));
        if (r >= 0)
                fuzz_assert(answer_status >= 200 && answer_status <= 299);
        return 0;
}
