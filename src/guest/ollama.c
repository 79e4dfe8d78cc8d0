/* SPDX-License-Identifier: GPL-2.0-or-later */

#include <ctype.h>
#include <errno.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json-util.h"
#include "macro.h"
#include "ollama-versions-table.h"
#include "ollama.h"
#include "util.h"

#define CMP(a, b) ((a) < (b) ? -1 : (a) > (b) ? 1 : 0)

struct OllamaClient {
        char *url;
        HttpLimits limits;
        char *error;
};

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
        return mfree(c);
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

        if (!json_object_object_get_ex(o, key, &v) || json_object_is_type(v, json_type_null)) {
                if (required)
                        return fail(c, -EBADMSG, "the answer to %s lacks \"%s\"", endpoint, key);
                *ret = NULL;
                return 0;
        }
        if (!json_object_is_type(v, json_type_string))
                return fail(c, -EBADMSG, "in the answer to %s, \"%s\" is not a string", endpoint, key);
        return strdup_to(ret, json_object_get_string(v));
}

/* An integer that must be there; get_u64_or_zero() for one Ollama leaves out when it is 0. */
static int get_u64_impl(
        OllamaClient *c,
        const char *endpoint,
        json_object *o,
        const char *key,
        bool required,
        uint64_t *ret) {
        json_object *v;
        int64_t i;

        if (!json_object_object_get_ex(o, key, &v)) {
                if (required)
                        return fail(c, -EBADMSG, "the answer to %s lacks \"%s\"", endpoint, key);
                *ret = 0;
                return 0;
        }
        if (!json_object_is_type(v, json_type_int))
                return fail(c, -EBADMSG, "in the answer to %s, \"%s\" is not an integer", endpoint, key);
        errno = 0;
        i = json_object_get_int64(v);
        if (i < 0 || errno != 0)
                return fail(c, -EBADMSG, "in the answer to %s, \"%s\" is out of range", endpoint, key);
        *ret = (uint64_t) i;
        return 0;
}

static int get_u64(OllamaClient *c, const char *endpoint, json_object *o, const char *key, uint64_t *ret) {
        return get_u64_impl(c, endpoint, o, key, true, ret);
}

/* Ollama's api.Metrics marks every statistic "omitempty": Go leaves a zero out of the JSON. */
static int get_u64_or_zero(
        OllamaClient *c,
        const char *endpoint,
        json_object *o,
        const char *key,
        uint64_t *ret) {
        return get_u64_impl(c, endpoint, o, key, false, ret);
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

/* GET endpoint, whose answer is {"models": [...]} (/api/ps, /api/tags): the answer in *ret (which holds the
 * array), the array in *ret_arr and its length (0 for null) in *ret_len. */
static int get_models(
        OllamaClient *c,
        const char *endpoint,
        json_object **ret,
        json_object **ret_arr,
        size_t *ret_len) {
        _cleanup_(json_object_putp) json_object *o = NULL;
        json_object *arr;
        int r;

        r = request(c, endpoint, NULL, &o);
        if (r < 0)
                return r;
        if (!json_object_object_get_ex(o, "models", &arr))
                return fail(c, -EBADMSG, "the answer to %s lacks \"models\"", endpoint);
        if (json_object_is_type(arr, json_type_null))
                *ret_len = 0;
        else if (!json_object_is_type(arr, json_type_array))
                return fail(c, -EBADMSG, "in the answer to %s, \"models\" is not an array", endpoint);
        else
                *ret_len = json_object_array_length(arr);
        *ret_arr = arr;
        *ret = TAKE_PTR(o);
        return 0;
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
        r = get_models(c, endpoint, &o, &arr, &len);
        if (r < 0)
                return r;

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

int ollama_model_size(OllamaClient *c, const char *model, uint64_t *ret) {
        static const char endpoint[] = "/api/tags";
        _cleanup_(json_object_putp) json_object *o = NULL;
        json_object *arr;
        size_t len;
        int r;

        if (!c || !model || !ret)
                return -EINVAL;
        r = get_models(c, endpoint, &o, &arr, &len);
        if (r < 0)
                return r;
        for (size_t i = 0; i < len; i++) {
                json_object *m = json_object_array_get_idx(arr, i), *name, *mod;

                if (!json_object_is_type(m, json_type_object))
                        return fail(c, -EBADMSG, "in the answer to %s, a model is not an object", endpoint);
                if (!(json_object_object_get_ex(m, "name", &name) &&
                      json_object_is_type(name, json_type_string) &&
                      ollama_model_name_matches(json_object_get_string(name), model)) &&
                    !(json_object_object_get_ex(m, "model", &mod) &&
                      json_object_is_type(mod, json_type_string) &&
                      ollama_model_name_matches(json_object_get_string(mod), model)))
                        continue;
                return get_u64(c, endpoint, m, "size", ret);
        }
        return fail(c, -ENOENT, "%s does not list the model %s", endpoint, model);
}

void ollama_show_done(OllamaShow *s) {
        if (!s)
                return;
        for (size_t i = 0; i < s->n_tensors; i++) {
                free(s->tensors[i].name);
                free(s->tensors[i].type);
        }
        free(s->tensors);
        *s = (OllamaShow){};
}

static bool str_endswith(const char *s, const char *suffix) {
        size_t n = strlen(s), m = strlen(suffix);
        return n >= m && streq(s + n - m, suffix);
}

/* One tensor of /api/show's "tensors": {"name", "type", "shape": [n, ...]}. */
static int parse_tensor(OllamaClient *c, const char *endpoint, json_object *t, OllamaTensor *ret) {
        json_object *shape;
        uint64_t elements = 1;
        int r;

        if (!json_object_is_type(t, json_type_object))
                return fail(c, -EBADMSG, "in the answer to %s, a tensor is not an object", endpoint);
        r = get_string(c, endpoint, t, "name", true, &ret->name);
        if (r < 0)
                return r;
        r = get_string(c, endpoint, t, "type", true, &ret->type);
        if (r < 0)
                return r;
        if (!json_object_object_get_ex(t, "shape", &shape) || !json_object_is_type(shape, json_type_array))
                return fail(c, -EBADMSG, "in the answer to %s, tensor %s has no shape", endpoint, ret->name);
        for (size_t k = 0; k < json_object_array_length(shape); k++) {
                json_object *d = json_object_array_get_idx(shape, k);
                int64_t n;

                errno = 0;
                n = json_object_is_type(d, json_type_int) ? json_object_get_int64(d) : -1;
                if (n < 0 || errno != 0 || (n > 0 && elements > UINT64_MAX / (uint64_t) n))
                        return fail(
                                c,
                                -EBADMSG,
                                "in the answer to %s, the shape of %s is not a size",
                                endpoint,
                                ret->name);
                elements *= (uint64_t) n;
        }
        ret->elements = elements;
        return 0;
}

int ollama_show(OllamaClient *c, const char *model, bool verbose, OllamaShow *ret) {
        static const char endpoint[] = "/api/show";
        _cleanup_(json_object_putp) json_object *o = NULL, *req = NULL;
        _cleanup_(ollama_show_done) OllamaShow s = {};
        json_object *info, *tensors;
        int r;

        if (!c || !model || !ret)
                return -EINVAL;
        req = json_object_new_object();
        if (!req || json_object_object_add(req, "model", json_object_new_string(model)) < 0 ||
            json_object_object_add(req, "verbose", json_object_new_boolean(verbose)) < 0)
                return -ENOMEM;
        r = request(c, endpoint, json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN), &o);
        if (r < 0)
                return r;

        /* The architecture's keys: "qwen3moe.expert_count", "llama.expert_count", ... */
        if (json_object_object_get_ex(o, "model_info", &info) &&
            json_object_is_type(info, json_type_object)) {
                json_object_object_foreach(info, key, value) {
                        uint64_t *dst = str_endswith(key, ".expert_count") ? &s.expert_count
                                : str_endswith(key, ".expert_used_count")  ? &s.expert_used_count
                                                                           : NULL;
                        if (!dst)
                                continue;
                        r = get_u64(c, endpoint, info, key, dst);
                        if (r < 0)
                                return r;
                        (void) value;
                }
        }
        if (verbose && json_object_object_get_ex(o, "tensors", &tensors) &&
            json_object_is_type(tensors, json_type_array)) {
                size_t n = json_object_array_length(tensors);

                s.tensors = calloc(n ?: 1, sizeof(OllamaTensor));
                if (!s.tensors)
                        return -ENOMEM;
                for (size_t i = 0; i < n; i++) {
                        r = parse_tensor(c, endpoint, json_object_array_get_idx(tensors, i), &s.tensors[i]);
                        s.n_tensors = i + 1; /* freed by ollama_show_done() either way */
                        if (r < 0)
                                return r;
                }
        }
        *ret = s;
        s = (OllamaShow){};
        return 0;
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
            (req->raw && json_object_object_add(o, "raw", json_object_new_boolean(1)) < 0) ||
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

        if ((r = get_u64_or_zero(c, endpoint, o, "total_duration", &g.total_duration)) < 0 ||
            (r = get_u64_or_zero(c, endpoint, o, "load_duration", &g.load_duration)) < 0 ||
            (r = get_u64_or_zero(c, endpoint, o, "prompt_eval_count", &g.prompt_eval_count)) < 0 ||
            (r = get_u64_or_zero(c, endpoint, o, "prompt_eval_duration", &g.prompt_eval_duration)) < 0 ||
            (r = get_u64_or_zero(c, endpoint, o, "eval_count", &g.eval_count)) < 0 ||
            (r = get_u64_or_zero(c, endpoint, o, "eval_duration", &g.eval_duration)) < 0)
                return r;

        *ret = g;
        return 0;
}

int ollama_version_parse(const char *s, OllamaVersion *ret) {
        OllamaVersion v = {};
        unsigned *parts[3] = { &v.major, &v.minor, &v.patch };
        const char *end;
        size_t n;

        if (!s || !ret)
                return -EINVAL;
        if (*s == 'v')
                s++;
        for (int i = 0; i < 3; i++) {
                char *e;
                unsigned long x;

                if (!isdigit((unsigned char) *s))
                        return -EINVAL;
                errno = 0;
                x = strtoul(s, &e, 10);
                if (errno != 0 || x > 1000000)
                        return -EINVAL;
                *parts[i] = (unsigned) x;
                s = e;
                if (*s != '.')
                        break;
                s++;
        }
        if (*s == '-') {
                s++;
                end = s + strcspn(s, "+");
                n = (size_t) (end - s);
                if (n == 0 || n >= sizeof(v.prerelease) ||
                    strspn(s,
                           "0123456789abcdefghijklmnopqrstuvwxyz"
                           "ABCDEFGHIJKLMNOPQRSTUVWXYZ-.") < n)
                        return -EINVAL;
                memcpy(v.prerelease, s, n);
                s = end;
        }
        if (*s && *s != '+')
                return -EINVAL;
        *ret = v;
        return 0;
}

/* One pre-release identifier against another: numbers numerically and before words; a word of letters then
 * digits by the letters, then the digits as a number; other words as strings. */
static int prerelease_part_compare(const char *a, size_t na, const char *b, size_t nb) {
        size_t da = strspn(a, "0123456789"), db = strspn(b, "0123456789");
        bool num_a = da >= na, num_b = db >= nb;

        if (num_a && num_b) {
                /* without leading zeros in semver; compare by length, then digits */
                if (na != nb)
                        return na < nb ? -1 : 1;
                return CMP(memcmp(a, b, na), 0);
        }
        if (num_a != num_b)
                return num_a ? -1 : 1;
        /* letters then digits ("rc24"): the letters, then the number */
        size_t la = strcspn(a, "0123456789"), lb = strcspn(b, "0123456789");
        if (la < na && lb < nb && strspn(a + la, "0123456789") == na - la &&
            strspn(b + lb, "0123456789") == nb - lb && la == lb && memcmp(a, b, la) == 0)
                return prerelease_part_compare(a + la, na - la, b + lb, nb - lb);
        int k = memcmp(a, b, MIN(na, nb));
        return k != 0 ? CMP(k, 0) : CMP(na, nb);
}

int ollama_version_compare(const OllamaVersion *a, const OllamaVersion *b) {
        const char *pa = a->prerelease, *pb = b->prerelease;

        if (a->major != b->major)
                return CMP(a->major, b->major);
        if (a->minor != b->minor)
                return CMP(a->minor, b->minor);
        if (a->patch != b->patch)
                return CMP(a->patch, b->patch);
        /* a release comes after its pre-releases */
        if (!*pa || !*pb)
                return !*pa && !*pb ? 0 : !*pa ? 1 : -1;
        for (;;) {
                size_t na = strcspn(pa, "."), nb = strcspn(pb, ".");
                int k = prerelease_part_compare(pa, na, pb, nb);

                if (k != 0)
                        return k;
                pa += na;
                pb += nb;
                if (!*pa || !*pb)
                        return !*pa && !*pb ? 0 : !*pa ? -1 : 1;
                pa++;
                pb++;
        }
}

int ollama_version_at_least(const char *version, const char *since) {
        OllamaVersion v, s;

        if (ollama_version_parse(version, &v) < 0 || ollama_version_parse(since, &s) < 0)
                return -EINVAL;
        return ollama_version_compare(&v, &s) >= 0;
}

/* The length of the Unicode white space (Go's unicode.IsSpace: the ASCII ones, U+0085, U+00A0, U+1680,
 * U+2000-U+200A, U+2028, U+2029, U+202F, U+205F, U+3000) that s starts with, in UTF-8 bytes. */
static size_t space_prefix(const char *s) {
        static const char *const spaces[] = {
                "\xc2\x85",     "\xc2\xa0",     "\xe1\x9a\x80", "\xe2\x80\x80", "\xe2\x80\x81",
                "\xe2\x80\x82", "\xe2\x80\x83", "\xe2\x80\x84", "\xe2\x80\x85", "\xe2\x80\x86",
                "\xe2\x80\x87", "\xe2\x80\x88", "\xe2\x80\x89", "\xe2\x80\x8a", "\xe2\x80\xa8",
                "\xe2\x80\xa9", "\xe2\x80\xaf", "\xe2\x81\x9f", "\xe3\x80\x80",
        };

        if (strchr(" \t\n\v\f\r", *s) && *s)
                return 1;
        FOREACH_ARRAY(sp, spaces, ELEMENTSOF(spaces))
                if (strneq(s, *sp, strlen(*sp)))
                        return strlen(*sp);
        return 0;
}

/* Whether s, n bytes long, ends in Unicode white space; its length in *ret. */
static bool space_suffix(const char *s, size_t n, size_t *ret) {
        for (size_t k = 1; k <= 3 && k <= n; k++)
                if (space_prefix(s + n - k) == k) {
                        *ret = k;
                        return true;
                }
        return false;
}

bool ollama_env_bool(const char *value, bool default_value) {
        static const char *const yes[] = { "1", "t", "T", "TRUE", "true", "True" };
        static const char *const no[] = { "0", "f", "F", "FALSE", "false", "False" };
        const char *s = value;
        size_t n, k;

        if (!s)
                return default_value;
        /* envconfig.Var: strings.Trim(strings.TrimSpace(v), "\"'") */
        while ((k = space_prefix(s)) > 0)
                s += k;
        n = strlen(s);
        while (space_suffix(s, n, &k))
                n -= k;
        while (n > 0 && (*s == '"' || *s == '\'')) {
                s++;
                n--;
        }
        while (n > 0 && (s[n - 1] == '"' || s[n - 1] == '\''))
                n--;
        if (n == 0)
                return default_value;
        /* BoolWithDefault: strconv.ParseBool, and true when that fails */
        FOREACH_ARRAY(y, yes, ELEMENTSOF(yes))
                if (strlen(*y) == n && strneq(s, *y, n))
                        return true;
        FOREACH_ARRAY(f, no, ELEMENTSOF(no))
                if (strlen(*f) == n && strneq(s, *f, n))
                        return false;
        return true;
}

const char ollama_vulkan_opt_in_since[] = OLLAMA_VERSION_VULKAN_OPT_IN;
const char ollama_vulkan_default_since[] = OLLAMA_VERSION_VULKAN_DEFAULT_ON;

OllamaVulkanState ollama_vulkan_state(const char *version, const char *env_value) {
        int on_by_default =
                version ? ollama_version_at_least(version, ollama_vulkan_default_since) : -EINVAL;

        if (version && ollama_version_at_least(version, ollama_vulkan_opt_in_since) == 0)
                return OLLAMA_VULKAN_UNAVAILABLE;
        /* Set but empty after trimming counts as unset, as in Ollama. */
        if (ollama_env_bool(env_value, false) != ollama_env_bool(env_value, true))
                return on_by_default > 0 ? OLLAMA_VULKAN_ON_BY_DEFAULT : OLLAMA_VULKAN_OFF;
        return ollama_env_bool(env_value, false) ? OLLAMA_VULKAN_ON_BY_ENV : OLLAMA_VULKAN_OFF_BY_ENV;
}
