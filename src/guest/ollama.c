/* SPDX-License-Identifier: GPL-2.0-or-later */

#include <ctype.h>
#include <errno.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "guest-service.h"
#include "ollama.h"

struct OllamaClient {
        char *url;
        HttpLimits limits;
        char *error;
};

DEFINE_TRIVIAL_CLEANUP_FUNC(json_object *, json_object_put);

int ollama_client_new(const char *url, long connect_timeout_ms, long total_timeout_ms, OllamaClient **ret) {
        OllamaClient *c;
        size_t n;

        if (!ret)
                return -EINVAL;
        if (!url || !*url)
                url = OLLAMA_DEFAULT_URL;

        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        c->url = strdup(url);
        if (!c->url) {
                free(c);
                return -ENOMEM;
        }
        n = strlen(c->url);
        while (n > 0 && c->url[n - 1] == '/')
                c->url[--n] = 0;
        c->limits.connect_timeout_ms = connect_timeout_ms > 0 ? connect_timeout_ms : 2000;
        c->limits.total_timeout_ms = total_timeout_ms > 0 ? total_timeout_ms : 30000;
        *ret = c;
        return 0;
}

OllamaClient *ollama_client_free(OllamaClient *c) {
        if (!c)
                return NULL;
        free(c->url);
        free(c->error);
        free(c);
        return NULL;
}

const char *ollama_client_url(const OllamaClient *c) {
        return c ? c->url : NULL;
}

const char *ollama_client_error(const OllamaClient *c) {
        return c ? c->error : NULL;
}

_printf_(3, 4) static int fail(OllamaClient *c, int r, const char *fmt, ...) {
        va_list ap;
        char *s = NULL;

        va_start(ap, fmt);
        if (vasprintf(&s, fmt, ap) < 0)
                s = NULL;
        va_end(ap);
        free(c->error);
        c->error = s;
        return r;
}

static void clear_error(OllamaClient *c) {
        c->error = mfree(c->error);
}

static const char *transport_problem(int r) {
        switch (r) {
        case -ECONNREFUSED:
                return "connection refused (is Ollama running?)";
        case -ETIMEDOUT:
                return "timed out";
        case -EHOSTUNREACH:
                return "host unreachable";
        case -EPIPE:
                return "the connection ended before the whole answer arrived (truncated)";
        case -EFBIG:
                return "the answer is too large";
        case -EINVAL:
                return "invalid URL";
        case -EOPNOTSUPP:
                return "egpuctl was built without libcurl";
        default:
                return "transfer failed";
        }
}

/* Parses exactly one JSON object from the body. */
static int parse_object(OllamaClient *c, const char *endpoint, const HttpResponse *resp, json_object **ret) {
        _cleanup_(json_object_putp) json_object *o = NULL;
        struct json_tokener *tok;
        enum json_tokener_error jerr;
        size_t end, i;

        if (resp->body_size == 0)
                return fail(c, -EBADMSG, "empty answer to %s", endpoint);
        if (resp->body_size > INT32_MAX)
                return fail(c, -EBADMSG, "answer to %s is too large", endpoint);

        tok = json_tokener_new();
        if (!tok)
                return -ENOMEM;
        o = json_tokener_parse_ex(tok, resp->body, (int) resp->body_size);
        jerr = json_tokener_get_error(tok);
        end = json_tokener_get_parse_end(tok);
        json_tokener_free(tok);

        if (jerr == json_tokener_continue)
                return fail(
                        c,
                        -EBADMSG,
                        "truncated JSON in the answer to %s: it ends after %zu bytes, inside a value",
                        endpoint,
                        resp->body_size);
        if (jerr != json_tokener_success || !o)
                return fail(
                        c,
                        -EBADMSG,
                        "malformed JSON in the answer to %s at byte %zu: %s",
                        endpoint,
                        end,
                        json_tokener_error_desc(jerr));
        for (i = end; i < resp->body_size; i++)
                if (!isspace((unsigned char) resp->body[i]))
                        return fail(
                                c,
                                -EBADMSG,
                                "malformed JSON in the answer to %s: data after the object at byte %zu",
                                endpoint,
                                i);
        if (!json_object_is_type(o, json_type_object))
                return fail(c, -EBADMSG, "malformed answer to %s: not a JSON object", endpoint);

        *ret = TAKE_PTR(o);
        return 0;
}

/* Does the request and checks the status; on a non-2xx status takes Ollama's {"error": "..."}. */
static int request(OllamaClient *c, const char *endpoint, const char *body, json_object **ret) {
        _cleanup_free_ char *url = NULL, *err = NULL;
        _cleanup_(json_object_putp) json_object *o = NULL;
        HttpResponse resp = {};
        int r;

        clear_error(c);
        if (asprintf(&url, "%s%s", c->url, endpoint) < 0)
                return -ENOMEM;

        r = http_request(url, body, &c->limits, &resp, &err);
        if (r == -ETIMEDOUT)
                return fail(
                        c,
                        r,
                        "%s: no answer within %.1f s",
                        endpoint,
                        (double) c->limits.total_timeout_ms / 1000.0);
        if (r == -EIO || r == -EHOSTUNREACH)
                /* The library's own words say more than ours here. */
                return fail(
                        c,
                        r,
                        "%s: %s%s%s",
                        endpoint,
                        transport_problem(r),
                        err ? ": " : "",
                        strempty(err));
        if (r < 0)
                return fail(c, r, "%s: %s", endpoint, transport_problem(r));

        if (resp.status < 200 || resp.status > 299) {
                const char *msg = NULL;
                json_object *e;

                /* Ollama answers errors as {"error": "model 'x' not found"}. */
                if (parse_object(c, endpoint, &resp, &o) >= 0 && json_object_object_get_ex(o, "error", &e) &&
                    json_object_is_type(e, json_type_string))
                        msg = json_object_get_string(e);
                r = resp.status == 404 ? -ENOENT : -EPROTO;
                r = fail(c, r, "%s: HTTP %ld%s%s", url, resp.status, msg ? ": " : "", strempty(msg));
                http_response_done(&resp);
                return r;
        }

        r = parse_object(c, endpoint, &resp, &o);
        http_response_done(&resp);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(o);
        return 0;
}

static int get_string(
        OllamaClient *c,
        const char *endpoint,
        json_object *o,
        const char *key,
        bool required,
        char **ret) {
        json_object *v;
        char *s;

        if (!json_object_object_get_ex(o, key, &v) || json_object_is_type(v, json_type_null)) {
                if (required)
                        return fail(c, -EBADMSG, "the answer to %s lacks \"%s\"", endpoint, key);
                *ret = NULL;
                return 0;
        }
        if (!json_object_is_type(v, json_type_string))
                return fail(c, -EBADMSG, "in the answer to %s, \"%s\" is not a string", endpoint, key);
        s = strdup(json_object_get_string(v));
        if (!s)
                return -ENOMEM;
        *ret = s;
        return 0;
}

static int get_u64(OllamaClient *c, const char *endpoint, json_object *o, const char *key, uint64_t *ret) {
        json_object *v;
        int64_t i;

        if (!json_object_object_get_ex(o, key, &v))
                return fail(c, -EBADMSG, "the answer to %s lacks \"%s\"", endpoint, key);
        if (!json_object_is_type(v, json_type_int))
                return fail(c, -EBADMSG, "in the answer to %s, \"%s\" is not an integer", endpoint, key);
        errno = 0;
        i = json_object_get_int64(v);
        if (i < 0 || errno != 0)
                return fail(c, -EBADMSG, "in the answer to %s, \"%s\" is out of range", endpoint, key);
        *ret = (uint64_t) i;
        return 0;
}

int ollama_get_version(OllamaClient *c, char **ret_version) {
        _cleanup_(json_object_putp) json_object *o = NULL;
        char *v;
        int r;

        if (!c || !ret_version)
                return -EINVAL;
        r = request(c, "/api/version", NULL, &o);
        if (r < 0)
                return r;
        r = get_string(c, "/api/version", o, "version", true, &v);
        if (r < 0)
                return r;
        *ret_version = v;
        return 0;
}

void ollama_models_free(OllamaModel *m, size_t n) {
        if (!m)
                return;
        for (size_t i = 0; i < n; i++) {
                free(m[i].name);
                free(m[i].model);
                free(m[i].parameter_size);
                free(m[i].quantization);
        }
        free(m);
}

int ollama_ps(OllamaClient *c, OllamaModel **ret, size_t *ret_n) {
        static const char endpoint[] = "/api/ps";
        _cleanup_(json_object_putp) json_object *o = NULL;
        OllamaModel *models = NULL;
        json_object *arr;
        size_t n = 0, len;
        int r;

        if (!c || !ret || !ret_n)
                return -EINVAL;
        r = request(c, endpoint, NULL, &o);
        if (r < 0)
                return r;

        if (!json_object_object_get_ex(o, "models", &arr))
                return fail(c, -EBADMSG, "the answer to %s lacks \"models\"", endpoint);
        if (json_object_is_type(arr, json_type_null))
                len = 0;
        else if (!json_object_is_type(arr, json_type_array))
                return fail(c, -EBADMSG, "in the answer to %s, \"models\" is not an array", endpoint);
        else
                len = json_object_array_length(arr);

        if (len > 0) {
                models = calloc(len, sizeof(OllamaModel));
                if (!models)
                        return -ENOMEM;
        }
        for (size_t i = 0; i < len; i++, n++) {
                json_object *m = json_object_array_get_idx(arr, i), *details;
                OllamaModel *x = &models[i];

                if (!json_object_is_type(m, json_type_object)) {
                        r = fail(c, -EBADMSG, "in the answer to %s, a model is not an object", endpoint);
                        goto fail;
                }
                r = get_string(c, endpoint, m, "name", true, &x->name);
                if (r < 0)
                        goto fail;
                r = get_string(c, endpoint, m, "model", false, &x->model);
                if (r < 0)
                        goto fail;
                r = get_u64(c, endpoint, m, "size", &x->size);
                if (r < 0)
                        goto fail;
                r = get_u64(c, endpoint, m, "size_vram", &x->size_vram);
                if (r < 0)
                        goto fail;
                if (json_object_object_get_ex(m, "details", &details) &&
                    json_object_is_type(details, json_type_object)) {
                        r = get_string(c, endpoint, details, "parameter_size", false, &x->parameter_size);
                        if (r < 0)
                                goto fail;
                        r = get_string(c, endpoint, details, "quantization_level", false, &x->quantization);
                        if (r < 0)
                                goto fail;
                }
        }

        *ret = models;
        *ret_n = len;
        return 0;

fail:
        ollama_models_free(models, len);
        return r;
}

bool ollama_model_name_matches(const char *loaded, const char *wanted) {
        size_t n;

        if (!loaded || !wanted)
                return false;
        if (streq(loaded, wanted))
                return true;
        /* "llama3.2" means "llama3.2:latest". */
        n = strlen(wanted);
        if (!strchr(wanted, ':') && strneq(loaded, wanted, n) && streq(loaded + n, ":latest"))
                return true;
        n = strlen(loaded);
        if (!strchr(loaded, ':') && strneq(wanted, loaded, n) && streq(wanted + n, ":latest"))
                return true;
        return false;
}

int ollama_generate_body(const OllamaGenerateRequest *req, char **ret) {
        _cleanup_(json_object_putp) json_object *o = NULL;
        json_object *opts;
        char *s;

        if (!req || !req->model || !req->prompt || !ret)
                return -EINVAL;

        o = json_object_new_object();
        opts = json_object_new_object();
        if (!o || !opts) {
                json_object_put(opts);
                return -ENOMEM;
        }
        if (json_object_object_add(o, "model", json_object_new_string(req->model)) < 0 ||
            json_object_object_add(o, "prompt", json_object_new_string(req->prompt)) < 0 ||
            json_object_object_add(o, "stream", json_object_new_boolean(0)) < 0 ||
            json_object_object_add(opts, "seed", json_object_new_int64(req->seed)) < 0 ||
            json_object_object_add(opts, "num_predict", json_object_new_int64(req->num_predict)) < 0 ||
            json_object_object_add(opts, "temperature", json_object_new_double(req->temperature)) < 0 ||
            json_object_object_add(o, "options", opts) < 0)
                return -ENOMEM;

        s = strdup(
                json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
        if (!s)
                return -ENOMEM;
        *ret = s;
        return 0;
}

int ollama_generate(OllamaClient *c, const OllamaGenerateRequest *req, OllamaGenerateResult *ret) {
        static const char endpoint[] = "/api/generate";
        _cleanup_(json_object_putp) json_object *o = NULL;
        _cleanup_free_ char *body = NULL;
        OllamaGenerateResult g = {};
        json_object *done;
        int r;

        if (!c || !req || !ret)
                return -EINVAL;
        r = ollama_generate_body(req, &body);
        if (r < 0)
                return r;
        r = request(c, endpoint, body, &o);
        if (r < 0)
                return r;

        if (json_object_object_get_ex(o, "error", &done) && json_object_is_type(done, json_type_string))
                return fail(c, -EPROTO, "%s: %s", endpoint, json_object_get_string(done));
        if (json_object_object_get_ex(o, "done", &done) && json_object_is_type(done, json_type_boolean) &&
            !json_object_get_boolean(done))
                return fail(
                        c,
                        -EBADMSG,
                        "the answer to %s is not the final one (\"done\": false)",
                        endpoint);

        if ((r = get_u64(c, endpoint, o, "total_duration", &g.total_duration)) < 0 ||
            (r = get_u64(c, endpoint, o, "load_duration", &g.load_duration)) < 0 ||
            (r = get_u64(c, endpoint, o, "prompt_eval_count", &g.prompt_eval_count)) < 0 ||
            (r = get_u64(c, endpoint, o, "prompt_eval_duration", &g.prompt_eval_duration)) < 0 ||
            (r = get_u64(c, endpoint, o, "eval_count", &g.eval_count)) < 0 ||
            (r = get_u64(c, endpoint, o, "eval_duration", &g.eval_duration)) < 0)
                return r;

        *ret = g;
        return 0;
}

int ollama_version_parse(const char *s, unsigned ret[3]) {
        unsigned v[3] = {};

        if (!s || !ret)
                return -EINVAL;
        if (*s == 'v')
                s++;
        for (int i = 0; i < 3; i++) {
                char *end;
                unsigned long x;

                if (!isdigit((unsigned char) *s))
                        return i == 0 ? -EINVAL : (memcpy(ret, v, sizeof(v)), 0);
                errno = 0;
                x = strtoul(s, &end, 10);
                if (errno != 0 || x > 1000000)
                        return -EINVAL;
                v[i] = (unsigned) x;
                s = end;
                if (*s != '.')
                        break;
                s++;
        }
        memcpy(ret, v, sizeof(v));
        return 0;
}

int ollama_version_compare(const unsigned a[3], const unsigned b[3]) {
        for (int i = 0; i < 3; i++)
                if (a[i] != b[i])
                        return a[i] < b[i] ? -1 : 1;
        return 0;
}

OllamaVulkanState ollama_vulkan_state(const char *version, const char *env_value) {
        unsigned v[3], since[3];

        if (env_value && *env_value)
                /* Ollama reads it with Go's strconv.ParseBool; anything else we count as not enabled. */
                return parse_go_bool(env_value) == 1 ? OLLAMA_VULKAN_ON_BY_ENV : OLLAMA_VULKAN_OFF_BY_ENV;

        if (version && ollama_version_parse(version, v) >= 0 &&
            ollama_version_parse(OLLAMA_VULKAN_DEFAULT_SINCE, since) >= 0 &&
            ollama_version_compare(v, since) >= 0)
                return OLLAMA_VULKAN_ON_BY_DEFAULT;
        return OLLAMA_VULKAN_OFF;
}
