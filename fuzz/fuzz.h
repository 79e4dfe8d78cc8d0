/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* Shared by the libFuzzer targets (fuzz/README.md). */

#include <stddef.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The input as a NUL-terminated string, as the program gets it from a file or attribute (an embedded
 * NUL ends it early, as it would for the C string the parser sees). */
static inline char *fuzz_string(const uint8_t *data, size_t size) {
        char *s = malloc(size + 1);

        if (!s)
                abort();
        memcpy(s, data, size);
        s[size] = 0;
        return s;
}

/* Takes the next part of the input up to a separator byte (or the end) as a new string, and advances
 * the input pointer and size past it. Returns NULL when the input is used up. */
static inline char *fuzz_next_part(const uint8_t **data, size_t *size, char separator) {
        const uint8_t *p = *data, *e;
        size_t n;
        char *s;

        if (*size == 0)
                return NULL;
        e = memchr(p, separator, *size);
        n = e ? (size_t) (e - p) : *size;
        s = fuzz_string(p, n);
        *data += e ? n + 1 : n;
        *size -= e ? n + 1 : n;
        return s;
}

/* Lookups that scan a list, done for each element of the list, are quadratic: the targets do them for
 * the first FUZZ_LOOKUPS elements only, so that a long input is slow only when the code under test is. */
#define FUZZ_LOOKUPS 32

/* Checks an invariant of the code under test: a failure is a finding, so abort (libFuzzer saves the
 * input as crash-<sha1>). */
#define fuzz_assert(expr)                                                                              \
        do {                                                                                           \
                if (!(expr)) {                                                                         \
                        fprintf(stderr, "%s:%d: fuzz_assert(%s) failed\n", __FILE__, __LINE__, #expr); \
                        abort();                                                                       \
                }                                                                                      \
        } while (0)
