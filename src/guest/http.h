/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stddef.h>

/* A small HTTP client for talking to local services (Ollama). Implemented with libcurl in
 * http-curl.c; http-none.c stands in when egpuctl is built without libcurl and fails every
 * request with -EOPNOTSUPP. */

typedef struct HttpResponse {
        long status; /* HTTP status code */
        char *body;  /* NUL-terminated; may hold NUL bytes before body_size */
        size_t body_size;
} HttpResponse;

void http_response_done(HttpResponse *r);

/* Limits of one request. Zero means the default (2 s to connect, 30 s in all). */
typedef struct HttpLimits {
        long connect_timeout_ms;
        long total_timeout_ms;
        size_t max_body; /* 0: 64 MiB */
} HttpLimits;

/* Sends one request: GET when body is NULL, else POST with a JSON body. On success (any HTTP
 * status) fills *ret. Returns:
 *   -ECONNREFUSED  nothing listens there
 *   -EHOSTUNREACH  the host name did not resolve, or the network is unreachable
 *   -ETIMEDOUT     connecting or the whole request took longer than the limits
 *   -EPIPE         the connection ended before the whole response arrived
 *   -EFBIG         the response is larger than max_body
 *   -EINVAL        the URL is not a valid http:// or https:// URL
 *   -EOPNOTSUPP    built without libcurl
 *   -EIO           any other transfer error
 * and when error is not NULL, on failure, sets *error to a newly allocated one-line description of the
 * failure from the HTTP library (may be left NULL). */
int http_request(
        const char *url,
        const char *json_body,
        const HttpLimits *limits,
        HttpResponse *ret,
        char **error);

/* Whether the library was built with an HTTP implementation. */
int http_supported(void);
