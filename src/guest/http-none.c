/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Stand-in for http-curl.c when egpuctl is built without libcurl (-Dguest=disabled). */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"

void http_response_done(HttpResponse *r) {
        if (!r)
                return;
        free(r->body);
        *r = (HttpResponse){};
}

int http_request(
        const char *url,
        const char *json_body,
        const HttpLimits *limits,
        HttpResponse *ret,
        char **error) {
        if (error) {
                *error = strdup("egpuctl was built without libcurl");
        }
        return -EOPNOTSUPP;
}

int http_supported(void) {
        return 0;
}
