/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <sys/types.h>

#include "macro.h"

/* The lock that lets one process at a time change devices: an flock(LOCK_EX) on a file, which holds the
 * PID of its holder (as "<pid>\n") so that a process that waits can say who holds it.
 *
 * The lock belongs to the open file: it is released when the last descriptor of it is closed, including
 * by the exit of the process (a crash included). Children that fork() share it until they close it; it
 * is not passed on by exec() (O_CLOEXEC). */

/* egpuctl's runtime folder: $RUNTIME_DIRECTORY (its first entry) when set and not empty, else
 * /run/egpuctl under root ("" or NULL: the host's). -EINVAL when $RUNTIME_DIRECTORY is not an absolute
 * path. It holds the lock and the daemon's event socket (event-socket.h). */
int runtime_dir_default(const char *root, char **ret);
/* name (a file or folder) in runtime_dir_default(). */
int runtime_dir_path(const char *root, const char *name, char **ret);
/* The lock file in runtime_dir_default(): $RUNTIME_DIRECTORY/lock, else ROOT/run/egpuctl/lock. */
int lock_path_default(const char *root, char **ret);

/* Opens or creates the lock file (0600, and its folder, 0700, and the folders above when missing) and takes
 * the lock, retrying (every 2 ms at first, then every 20 ms) for up to timeout_ms: 0 tries once, < 0 waits
 * indefinitely. Returns -EBUSY when another process still holds it at the end. On success writes the
 * PID into the file and returns the descriptor in *ret_fd: close it, or pass it to lock_release(), to
 * release the lock. */
int lock_acquire(const char *path, int timeout_ms, int *ret_fd);

/* Empties the file (so that no stale PID is left) and closes fd, which releases the lock. Always
 * returns -EBADF, to be assigned to the variable that held fd. */
int lock_release(int fd);

static inline void lock_releasep(int *fd) {
        if (*fd >= 0)
                *fd = lock_release(*fd);
}
#define _cleanup_lock_ _cleanup_(lock_releasep)

/* The PID written in the lock file by its last holder. -ENOENT when there is no lock file, -ENODATA
 * when it holds no PID (unlocked, or a holder that has not written it yet), -ESRCH when that process
 * no longer exists (a holder that crashed: the lock is free). Meant for reporting, after
 * lock_acquire() gave -EBUSY: the holder may change at any time. */
int lock_holder_pid(const char *path, pid_t *ret);
