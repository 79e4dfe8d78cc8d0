/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * bench-rusage COMMAND [ARG...]: runs COMMAND with stdout on /dev/null and prints
 * "EXIT SECONDS MAXRSS_KIB" on its own stdout: the exit code (128+N for signal N), the wall
 * time from fork to wait4, and the child's ru_maxrss from wait4.
 *
 * Why not wait4 from Python: Linux counts the memory that a process had before execve in its
 * ru_maxrss, and a child spawned by a Python interpreter starts as a copy of it (10-15 MiB),
 * which would hide the difference between small programs. This wrapper is small, so what it
 * adds is the same few hundred KiB for every command measured.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char *argv[]) {
        if (argc < 2) {
                fprintf(stderr, "usage: bench-rusage COMMAND [ARG...]\n");
                return 2;
        }
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        pid_t pid = fork();
        if (pid < 0) {
                perror("bench-rusage: fork");
                return 2;
        }
        if (pid == 0) {
                int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
                if (fd < 0 || dup2(fd, STDOUT_FILENO) < 0)
                        _exit(127);
                execv(argv[1], argv + 1);
                perror("bench-rusage: execv");
                _exit(127);
        }
        int status;
        struct rusage ru;
        if (wait4(pid, &status, 0, &ru) < 0) {
                perror("bench-rusage: wait4");
                return 2;
        }
        clock_gettime(CLOCK_MONOTONIC, &t1);
        int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        double secs = (double) (t1.tv_sec - t0.tv_sec) + (double) (t1.tv_nsec - t0.tv_nsec) / 1e9;
        printf("%d %.6f %ld\n", code, secs, ru.ru_maxrss);
        return 0;
}
