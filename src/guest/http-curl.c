/* SPDX-License-Identifier: GPL-2.0-or-later */

#include <curl/curl.h>
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http.h"
#include "macro.h"

#define HTTP_DEFAULT_CONNECT_MS 2000L
#define HTTP_DEFAULT_TOTAL_MS   30000L
#define HTTP_DEFAULT_MAX_BODY   ((size_t) 64 * 1024 * 1024)

typedef struct Buffer {
        char *data;
        size_t size;
        size_t allocated;
        size_t max;
        bool too_big;
} Buffer;

void http_response_done(HttpResponse *r) {
        if (!r)
                return;
        free(r->body);
        *r = (HttpResponse){};
}

/* libcurl is loaded when a request is first made, not at start: only the guest verbs speak HTTP, and
 * libcurl with the TLS and Kerberos libraries it pulls in would more than double the resident size of
 * every egpuctl process, the daemon's included. */
static struct {
        void *handle;
        CURL *(*easy_init)(void);
        CURLcode (*easy_setopt)(CURL *, CURLoption, ...);
        CURLcode (*easy_perform)(CURL *);
        CURLcode (*easy_getinfo)(CURL *, CURLINFO, ...);
        void (*easy_cleanup)(CURL *);
        const char *(*easy_strerror)(CURLcode);
        struct curl_slist *(*slist_append)(struct curl_slist *, const char *);
        void (*slist_free_all)(struct curl_slist *);
} curl;

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_load(void) {
        void *h = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);

        if (!h)
                return;
        *(void **) &curl.easy_init = dlsym(h, "curl_easy_init");
        *(void **) &curl.easy_setopt = dlsym(h, "curl_easy_setopt");
        *(void **) &curl.easy_perform = dlsym(h, "curl_easy_perform");
        *(void **) &curl.easy_getinfo = dlsym(h, "curl_easy_getinfo");
        *(void **) &curl.easy_cleanup = dlsym(h, "curl_easy_cleanup");
        *(void **) &curl.easy_strerror = dlsym(h, "curl_easy_strerror");
        *(void **) &curl.slist_append = dlsym(h, "curl_slist_append");
        *(void **) &curl.slist_free_all = dlsym(h, "curl_slist_free_all");
        if (!curl.easy_init || !curl.easy_setopt || !curl.easy_perform || !curl.easy_getinfo ||
            !curl.easy_cleanup || !curl.easy_strerror || !curl.slist_append || !curl.slist_free_all) {
                dlclose(h);
                curl.easy_init = NULL;
                return;
        }
        curl.handle = h;
}

int http_supported(void) {
        pthread_once(&curl_once, curl_load);
        return curl.handle ? 1 : 0;
}

static size_t write_cb(char *ptr, size_t size, size_t nmemb, void *userdata) {
        Buffer *b = userdata;
        size_t n = size * nmemb;

        if (n > b->max || b->size > b->max - n) {
                b->too_big = true;
                return 0; /* aborts the transfer with CURLE_WRITE_ERROR */
        }
        if (b->size + n + 1 > b->allocated) {
                size_t a = MAX(b->allocated * 2, b->size + n + 1);
                char *p = realloc(b->data, a);
                if (!p)
                        return 0;
                b->data = p;
                b->allocated = a;
        }
        memcpy(b->data + b->size, ptr, n);
        b->size += n;
        b->data[b->size] = 0;
        return n;
}

static int curl_code_to_errno(CURLcode c) {
        switch (c) {
        case CURLE_COULDNT_CONNECT:
                return -ECONNREFUSED;
        case CURLE_COULDNT_RESOLVE_HOST:
        case CURLE_COULDNT_RESOLVE_PROXY:
                return -EHOSTUNREACH;
        case CURLE_OPERATION_TIMEDOUT:
                return -ETIMEDOUT;
        case CURLE_PARTIAL_FILE:
        case CURLE_RECV_ERROR:
        case CURLE_GOT_NOTHING:
        case CURLE_SEND_ERROR:
                return -EPIPE;
        case CURLE_URL_MALFORMAT:
        case CURLE_UNSUPPORTED_PROTOCOL:
                return -EINVAL;
        case CURLE_OUT_OF_MEMORY:
                return -ENOMEM;
        default:
                return -EIO;
        }
}

static bool url_scheme_ok(const char *url) {
        return strncasecmp(url, "http://", 7) == 0 || strncasecmp(url, "https://", 8) == 0;
}

int http_request(
        const char *url,
        const char *json_body,
        const HttpLimits *limits,
        HttpResponse *ret,
        char **error) {
        HttpLimits l = limits ? *limits : (HttpLimits){};
        char errbuf[CURL_ERROR_SIZE] = "";
        struct curl_slist *headers = NULL;
        Buffer b = {};
        CURLcode c;
        long status = 0;
        CURL *h;
        int r;

        if (!url || !ret)
                return -EINVAL;
        if (!http_supported()) {
                if (error)
                        *error = strdup("libcurl (libcurl.so.4) is not installed: apt-get install libcurl4");
                return -ENOPKG;
        }
        if (!url_scheme_ok(url)) {
                if (error)
                        *error = strdup("only http:// and https:// URLs are supported");
                return -EINVAL;
        }

        if (l.connect_timeout_ms <= 0)
                l.connect_timeout_ms = HTTP_DEFAULT_CONNECT_MS;
        if (l.total_timeout_ms <= 0)
                l.total_timeout_ms = HTTP_DEFAULT_TOTAL_MS;
        b.max = l.max_body > 0 ? l.max_body : HTTP_DEFAULT_MAX_BODY;

        h = curl.easy_init();
        if (!h)
                return -ENOMEM;

        (void) curl.easy_setopt(h, CURLOPT_URL, url);
        (void) curl.easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
        (void) curl.easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, l.connect_timeout_ms);
        (void) curl.easy_setopt(h, CURLOPT_TIMEOUT_MS, l.total_timeout_ms);
        (void) curl.easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
        (void) curl.easy_setopt(h, CURLOPT_WRITEFUNCTION, write_cb);
        (void) curl.easy_setopt(h, CURLOPT_WRITEDATA, &b);
        (void) curl.easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
        /* A loopback service is never reached through a proxy, whatever http_proxy says. */
        (void) curl.easy_setopt(h, CURLOPT_NOPROXY, "localhost,127.0.0.1,::1");
#if LIBCURL_VERSION_NUM >= 0x075500
        (void) curl.easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
#else
        (void) curl.easy_setopt(h, CURLOPT_PROTOCOLS, (long) (CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
        (void) curl.easy_setopt(h, CURLOPT_USERAGENT, "egpuctl");

        if (json_body) {
                headers = curl.slist_append(headers, "Content-Type: application/json");
                if (!headers) {
                        curl.easy_cleanup(h);
                        return -ENOMEM;
                }
                (void) curl.easy_setopt(h, CURLOPT_HTTPHEADER, headers);
                (void) curl.easy_setopt(h, CURLOPT_POSTFIELDS, json_body);
                (void) curl.easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long) strlen(json_body));
        }

        c = curl.easy_perform(h);
        if (c == CURLE_OK)
                (void) curl.easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
        curl.slist_free_all(headers);
        curl.easy_cleanup(h);

        if (c != CURLE_OK) {
                if (b.too_big)
                        r = -EFBIG;
                else
                        r = curl_code_to_errno(c);
                if (error)
                        *error = strdup(errbuf[0] ? errbuf : curl.easy_strerror(c));
                free(b.data);
                return r;
        }

        if (!b.data) {
                b.data = strdup("");
                if (!b.data)
                        return -ENOMEM;
        }
        *ret = (HttpResponse){
                .status = status,
                .body = TAKE_PTR(b.data),
                .body_size = b.size,
        };
        return 0;
}
