/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* Small formatting and parsing shared by the guest verbs. */

/* "3.2 GiB", "512.0 MiB", "100 B" into buf. */
void text_format_bytes(uint64_t b, char *buf, size_t size);

/* Parses a positive number of seconds (at most 3600, fractions allowed) into milliseconds. */
int text_parse_seconds(const char *s, long *ret_ms);
