/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "spawn-util.h"
#include "util.h"

extern char **environ;

static bool is_executable_file(const char *p) {
        struct stat st;

        return stat(p, &st) >= 0 && S_ISREG(st.st_mode) && access(p, X_OK) >= 0;
}

int spawn_find_program(const char *name, char **ret) {
        _cleanup_strv_free_ char **dirs = NULL;
        const char *path;
        int r;

        if (!name || !*name)
                return -EINVAL;
        if (strchr(name, '/'))
                return is_executable_file(name) ? strdup_to(ret, name) : -ENOENT;
        path = getenv("PATH");
        r = strv_split(path && *path ? path : SPAWN_DEFAULT_PATH, ":", &dirs);
        if (r < 0)
                return r;
        STRV_FOREACH(d, dirs) {
                _cleanup_free_ char *p = NULL;

                if (**d != '/')
                        continue; /* relative entries of $PATH are not trusted */
                p = path_join(*d, name);
                if (!p)
                        return -ENOMEM;
                if (is_executable_file(p)) {
                        *ret = TAKE_PTR(p);
                        return 0;
                }
        }
        return -ENOENT;
}

static void kill_and_reap(pid_t pid) {
        (void) kill(pid, SIGKILL);
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
                ;
}

/* Reads fd until its end into *buf, of *n bytes in room for *allocated (one byte more always left for a
 * NUL), growing it. Returns 0 at the end of the file, -ETIMEDOUT past deadline, -EFBIG past
 * SPAWN_MAX_OUTPUT, -errno. */
static int read_to_eof(int fd, usec_t deadline, char **buf, size_t *n, size_t *allocated) {
        for (;;) {
                struct pollfd p = { .fd = fd, .events = POLLIN };
                usec_t now = now_usec();
                ssize_t k;
                int r;

                if (now >= deadline)
                        return -ETIMEDOUT;
                r = poll(&p, 1, (int) usec_to_msec_ceil(deadline - now, 1000));
                if (r < 0 && errno == EINTR)
                        continue;
                if (r < 0)
                        return negative_errno();
                if (r == 0)
                        continue;
                if (*n + 4096 + 1 > *allocated) {
                        size_t a = MAX(*allocated * 2, (size_t) 8192);
                        char *t;

                        if (a > SPAWN_MAX_OUTPUT + 1)
                                return -EFBIG;
                        t = realloc(*buf, a);
                        if (!t)
                                return -ENOMEM;
                        *buf = t;
                        *allocated = a;
                }
                k = read(fd, *buf + *n, *allocated - *n - 1);
                if (k < 0 && IN_SET(errno, EINTR, EAGAIN))
                        continue;
                if (k < 0)
                        return negative_errno();
                if (k == 0)
                        return 0;
                *n += (size_t) k;
        }
}

int spawn_run(char *const argv[], usec_t timeout, int *ret_status, char **ret_stdout) {
        _cleanup_free_ char *exe = NULL, *buf = NULL;
        _cleanup_close_ int out_read = -EBADF, out_write = -EBADF;
        posix_spawn_file_actions_t fa;
        size_t n = 0, allocated = 0;
        usec_t deadline;
        int fds[2], status, r;
        pid_t pid;

        if (!argv || !argv[0])
                return -EINVAL;
        if (timeout == 0)
                timeout = SPAWN_TIMEOUT_USEC_DEFAULT;

        r = spawn_find_program(argv[0], &exe);
        if (r < 0)
                return r;
        if (pipe2(fds, O_CLOEXEC) < 0)
                return negative_errno();
        out_read = fds[0];
        out_write = fds[1];

        r = posix_spawn_file_actions_init(&fa);
        if (r != 0)
                return -r;
        r = posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
        if (r == 0)
                r = posix_spawn_file_actions_adddup2(&fa, out_write, STDOUT_FILENO);
        if (r == 0)
                r = posix_spawn(&pid, exe, &fa, NULL, argv, environ);
        posix_spawn_file_actions_destroy(&fa);
        if (r != 0)
                return -r;
        close(TAKE_FD(out_write));

        deadline = now_usec() + timeout;
        r = read_to_eof(out_read, deadline, &buf, &n, &allocated);
        if (r < 0) {
                kill_and_reap(pid);
                return r;
        }

        /* Output closed: wait for the exit, still bounded. */
        for (;;) {
                pid_t w = waitpid(pid, &status, WNOHANG);

                if (w < 0) {
                        if (errno == EINTR)
                                continue;
                        return negative_errno();
                }
                if (w == pid)
                        break;
                if (now_usec() >= deadline) {
                        kill_and_reap(pid);
                        return -ETIMEDOUT;
                }
                usleep(10000);
        }

        if (ret_stdout) {
                if (!buf) {
                        buf = strdup("");
                        if (!buf)
                                return -ENOMEM;
                } else
                        buf[n] = 0;
                *ret_stdout = TAKE_PTR(buf);
        }
        if (ret_status)
                *ret_status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        return 0;
}
