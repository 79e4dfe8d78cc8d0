/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <json-c/json.h>
#include <stdint.h>

#include "macro.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(json_object *, json_object_put);

/* The member key of object o when it has that type, else NULL (o may be NULL or not an object). */
json_object *json_get(json_object *o, const char *key, json_type type);
/* The member key of o as a string (NULL when absent or not a string). */
const char *json_get_string(json_object *o, const char *key);
/* The member key of o as an integer, fallback when absent or not an integer. */
int64_t json_get_int(json_object *o, const char *key, int64_t fallback);
