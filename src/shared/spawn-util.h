/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Named spawn-util, not spawn: with src/shared on the include path, "spawn.h" would hide <spawn.h>. */
#pragma once

#include "macro.h"
#include "time-util.h"

/* Running an external program (qm, pvesh, udevadm, systemctl, update-initramfs) without a shell:
 * posix_spawn() with an argument vector, the program looked up in $PATH, or when $PATH is unset in
 * SPAWN_DEFAULT_PATH. Its standard input is /dev/null, its standard error is ours, and its standard
 * output is captured (at most SPAWN_MAX_OUTPUT bytes). */

#define SPAWN_DEFAULT_PATH         "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define SPAWN_MAX_OUTPUT           (16U * 1024U * 1024U)
#define SPAWN_TIMEOUT_USEC_DEFAULT (120 * USEC_PER_SEC)

/* Finds name (no '/') in $PATH or SPAWN_DEFAULT_PATH: the first executable regular file. A name with
 * a '/' is taken as it is. -ENOENT when not found. */
int spawn_find_program(const char *name, char **ret);

/* Runs argv[0] with argv, waiting at most timeout (0: SPAWN_TIMEOUT_USEC_DEFAULT); on timeout the
 * program is killed and -ETIMEDOUT returned. On success returns 0 and sets *ret_status to the exit
 * status (128+N for death by signal N) and, when ret_stdout is non-NULL, *ret_stdout to what it printed
 * (NUL-terminated). A program that could not be started gives -errno (-ENOENT: not found). */
int spawn_run(char *const argv[], usec_t timeout, int *ret_status, char **ret_stdout);
