/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <stdio.h>

/* The environment that systemd gives ollama.service, read from its unit file and drop-ins under a
 * root folder: the first of /etc, /run, /usr/lib, /lib systemd/system/ollama.service, then every
 * ollama.service.d/ *.conf of those folders in the order of their file names (a name in /etc hides
 * the same name further down), applying Environment= lines of [Service] as systemd does
 * ("Environment=" alone empties the list; a later assignment replaces an earlier one). Files named by
 * EnvironmentFile= are not read; their names are reported. */

typedef struct ServiceEnv {
        char **env;       /* "KEY=VALUE", NULL-terminated */
        char **files;     /* the unit files read, in order (paths without the root) */
        char **env_files; /* EnvironmentFile= values seen */

        /* Kept by service_env_apply(), not for callers: the lengths of env and env_files and their room,
         * and a hash table of env's keys (position + 1; 0: a free slot), so that an assignment finds the
         * one it replaces without a scan of the list. */
        size_t n_env, n_env_allocated, n_env_files, n_env_files_allocated;
        size_t *env_slots, n_env_slots;
} ServiceEnv;

void service_env_done(ServiceEnv *e);

/* -ENOENT when there is no ollama.service at all. */
int ollama_service_env(const char *root, ServiceEnv *ret);

/* The same for any unit name (exposed for tests). */
int service_env_read(const char *root, const char *unit, ServiceEnv *ret);

/* Applies one open unit file or drop-in to e, as service_env_read() does for each (exposed for
 * fuzz-guest); e->env is made an empty list when NULL. */
int service_env_apply(FILE *f, ServiceEnv *e);

/* Splits the value of an Environment= line into assignments, honouring quotes and backslash escapes
 * (exposed for tests). Assignments without '=' are dropped, as systemd does. */
int unit_environment_split(const char *value, char ***ret);

/* The value of KEY in an env list, or NULL. */
const char *service_env_get(const ServiceEnv *e, const char *key);
