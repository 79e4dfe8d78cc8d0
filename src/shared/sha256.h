/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* SHA-256 (FIPS 180-4), for the install manifest's content hashes. */
#define SHA256_DIGEST_SIZE 32
#define SHA256_HEX_SIZE    (SHA256_DIGEST_SIZE * 2 + 1)

void sha256(const void *data, size_t len, uint8_t ret[SHA256_DIGEST_SIZE]);
/* The digest as 64 lowercase hex digits and a NUL. */
void sha256_hex(const void *data, size_t len, char ret[SHA256_HEX_SIZE]);
