/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "json-util.h"

json_object *json_get(json_object *o, const char *key, json_type type) {
        json_object *v;

        if (!o || !json_object_is_type(o, json_type_object) || !json_object_object_get_ex(o, key, &v) ||
            !json_object_is_type(v, type))
                return NULL;
        return v;
}

const char *json_get_string(json_object *o, const char *key) {
        json_object *v = json_get(o, key, json_type_string);
        return v ? json_object_get_string(v) : NULL;
}

int64_t json_get_int(json_object *o, const char *key, int64_t fallback) {
        json_object *v = json_get(o, key, json_type_int);
        return v ? json_object_get_int64(v) : fallback;
}
