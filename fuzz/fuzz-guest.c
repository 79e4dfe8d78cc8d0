/* SPDX-License-Identifier: GPL-2.0-or-later */
/* fuzz-guest: one file of a guest, as each of the guest side's parsers of outside input reads it
 * (src/guest/guest-os.c, src/guest/guest-service.c): as etc/os-release through
 * os_release_parse() (and os_release_unquote()); as etc/passwd through guest_passwd_find() by name and by
 * uid; as etc/group through guest_group_add_memberships() and guest_group_find_name(); as a unit file or
 * drop-in through service_env_apply() (continuation lines, [Service], Environment= through
 * unit_environment_split(), EnvironmentFile=), twice, as a unit and its drop-in; and each line through
 * unit_environment_split(), parse_sec() and ollama_env_bool(), as the guest verbs take Ollama's
 * settings. The files are streams over the input (fmemopen), NULs included, as getline() reads them. */

#include "fuzz.h"
#include "guest-os.h"
#include "guest-service.h"
#include "macro.h"
#include "ollama.h"
#include "util.h"

static FILE *input(const uint8_t *data, size_t size) {
        /* fmemopen() of 0 bytes fails on some libcs: an empty file is one NUL-less stream of nothing. */
        FILE *f = fmemopen(size > 0 ? (void *) data : (void *) "", size > 0 ? size : 1, "r");

        if (!f)
                abort();
        if (size == 0)
                (void) fgetc(f);
        return f;
}

static void check_os_release(const uint8_t *data, size_t size) {
        _cleanup_fclose_ FILE *f = input(data, size);
        OsRelease o = {};
        _cleanup_free_ char *hint = NULL;

        fuzz_assert(os_release_parse(f, &o) == 0);
        fuzz_assert(gpu_driver_package_hint(&o, 0x1002, &hint) == 0 && hint);
        os_release_done(&o);
}

static void check_groups(const GuestUser *u) {
        fuzz_assert(u->name && u->n_groups >= 1 && u->groups[0] == u->gid);
        fuzz_assert(guest_user_in_group(u, u->gid));
        for (size_t i = 0; i < MIN(u->n_groups, (size_t) FUZZ_LOOKUPS); i++)
                for (size_t j = 0; j < i; j++)
                        fuzz_assert(u->groups[i] != u->groups[j]);
}

static void check_users(const uint8_t *data, size_t size) {
        static const struct {
                const char *name;
                uid_t uid;
        } lookups[] = { { "ollama", 0 }, { "root", 0 }, { NULL, 0 }, { NULL, 1000 } };

        FOREACH_ARRAY(l, lookups, ELEMENTSOF(lookups)) {
                _cleanup_fclose_ FILE *p = input(data, size);
                _cleanup_(guest_user_done) GuestUser u = {};
                _cleanup_free_ char *name = NULL;
                int r;

                r = guest_passwd_find(p, l->name, l->uid, &u);
                fuzz_assert(r == 0 || r == -ENOENT);
                if (r < 0)
                        continue;
                fuzz_assert(u.name && (l->name ? streq(u.name, l->name) : u.uid == l->uid));
                fuzz_assert(u.n_groups == 0);
                /* The primary group first, as guest_user_lookup() does, then the same text as etc/group. */
                u.groups = malloc(sizeof(gid_t));
                if (!u.groups)
                        abort();
                u.groups[u.n_groups++] = u.gid;
                {
                        _cleanup_fclose_ FILE *g = input(data, size);
                        fuzz_assert(guest_group_add_memberships(g, &u) == 0);
                }
                check_groups(&u);
                (void) guest_user_can_open(&u, 0, 44, 0660);
                {
                        _cleanup_fclose_ FILE *g = input(data, size);
                        r = guest_group_find_name(g, u.gid, &name);
                        fuzz_assert(r == 0 || r == -ENOENT);
                        fuzz_assert(r < 0 || name);
                }
        }
}

static void check_env(const ServiceEnv *e) {
        fuzz_assert(e->env);
        for (size_t i = 0; e->env[i]; i++) {
                const char *eq = strchr(e->env[i], '=');
                _cleanup_free_ char *key = NULL;

                fuzz_assert(eq && eq != e->env[i]);
                if (i >= FUZZ_LOOKUPS)
                        continue;
                /* One assignment a key, and service_env_get() finds it. */
                key = strndup(e->env[i], (size_t) (eq - e->env[i]));
                if (!key)
                        abort();
                fuzz_assert(service_env_get(e, key) == eq + 1);
        }
}

static void check_unit(const uint8_t *data, size_t size) {
        ServiceEnv e = {};

        for (int pass = 0; pass < 2; pass++) {
                _cleanup_fclose_ FILE *f = input(data, size);

                fuzz_assert(service_env_apply(f, &e) == 0);
                check_env(&e);
        }
        service_env_done(&e);
}

static void check_line(const char *line) {
        _cleanup_strv_free_ char **words = NULL;
        _cleanup_free_ char *unquoted = NULL;
        usec_t t;

        if (unit_environment_split(line, &words) >= 0)
                STRV_FOREACH(w, words)
                        fuzz_assert(strchr(*w, '=') && **w != '=');
        if (os_release_unquote(line, &unquoted) >= 0)
                fuzz_assert(strlen(unquoted) <= strlen(line));
        if (parse_sec(line, &t) >= 0) /* a sum of non-negative spans, below USEC_INFINITY */
                fuzz_assert(t < USEC_INFINITY);
        /* the default decides only an empty value: never false with default true where true with false */
        fuzz_assert(ollama_env_bool(line, true) || !ollama_env_bool(line, false));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        const uint8_t *p = data;
        size_t left = size;
        char *line;

        if (size > 1024 * 1024)
                return 0;
        check_os_release(data, size);
        check_users(data, size);
        check_unit(data, size);
        while ((line = fuzz_next_part(&p, &left, '\n'))) {
                check_line(line);
                free(line);
        }
        return 0;
}
