/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include "macro.h"

/* What a person detached or ejected stays detached while the daemon runs, until the device is unplugged
 * and plugged again, or `egpuctl attach` is run. The decision is kept in the runtime folder
 * (runtime_dir_default(root)/detached/KEY, root as --root gives it, KEY the device's enrolment key), with
 * the device's sysfs folder and that folder's inode number: a device plugged again gets a new sysfs folder
 * (the kernel gives every kernfs node a new inode number: fs/kernfs/dir.c, kernfs_new_node() with
 * idr_alloc_cyclic()), so a mark whose inode no longer matches is stale and ignored. The runtime folder is
 * emptied at boot. */

/* Marks key as detached by a person while the device sits at syspath. */
int detached_mark(const char *root, const char *key, const char *syspath);
/* Whether key is marked for the device at syspath as it is now: 1 yes, 0 no (no mark, or a stale one,
 * which is removed). */
int detached_is_marked(const char *root, const char *key, const char *syspath);
/* Removes the mark (an attach by a person, or the device seen gone). 0 also when there was none. */
int detached_clear(const char *root, const char *key);
/* Removes every mark of a device at syspath: the daemon saw it go (its remove event). */
int detached_forget_syspath(const char *root, const char *syspath);
