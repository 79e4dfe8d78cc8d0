/* SPDX-License-Identifier: GPL-2.0-or-later */

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "guest-text.h"
#include "macro.h"

void text_format_bytes(uint64_t b, char *buf, size_t size) {
        if (b >= 1024ULL * 1024 * 1024)
                snprintf(buf, size, "%.1f GiB", (double) b / (1024.0 * 1024 * 1024));
        else if (b >= 1024ULL * 1024)
                snprintf(buf, size, "%.1f MiB", (double) b / (1024.0 * 1024));
        else
                snprintf(buf, size, "%" PRIu64 " B", b);
}

int text_parse_seconds(const char *s, long *ret_ms) {
        char *end;
        double d;

        if (!s || !ret_ms)
                return -EINVAL;
        errno = 0;
        d = strtod(s, &end);
        if (errno != 0 || end == s || *end || !(d > 0) || d > 3600)
                return -EINVAL;
        *ret_ms = MAX((long) (d * 1000.0), 1L);
        return 0;
}
