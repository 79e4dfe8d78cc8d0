/* SPDX-License-Identifier: GPL-2.0-or-later */
/* egpu-sim-ctl SOCKET COMMAND...: sends one control command to egpu-sim and prints its reply.
 * Exits 0 when the reply is "ok", 1 for any other reply, 2 when egpu-sim cannot be reached. */

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define REPLY_TIMEOUT_MS 120000

int main(int argc, char **argv) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        char line[1024] = "", reply[1024];
        size_t len = 0, got = 0;
        int fd;

        if (argc < 3) {
                fprintf(stderr, "Usage: egpu-sim-ctl SOCKET COMMAND [ARG]...\n");
                return 2;
        }
        for (int i = 2; i < argc; i++) {
                int n = snprintf(line + len, sizeof(line) - len, "%s%s", i > 2 ? " " : "", argv[i]);
                if (n < 0 || (size_t) n >= sizeof(line) - len - 1) {
                        fprintf(stderr, "egpu-sim-ctl: command too long\n");
                        return 2;
                }
                len += n;
        }
        line[len++] = '\n';
        if (strlen(argv[1]) >= sizeof(sa.sun_path)) {
                fprintf(stderr, "egpu-sim-ctl: socket path too long\n");
                return 2;
        }
        strcpy(sa.sun_path, argv[1]);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0 ||
            send(fd, line, len, MSG_NOSIGNAL) != (ssize_t) len) {
                fprintf(stderr, "egpu-sim-ctl: %s: %s\n", argv[1], strerror(errno));
                return 2;
        }
        for (;;) {
                struct pollfd p = { .fd = fd, .events = POLLIN };
                ssize_t n;
                int r = poll(&p, 1, REPLY_TIMEOUT_MS);

                if (r < 0 && errno == EINTR)
                        continue;
                if (r <= 0) {
                        fprintf(stderr, "egpu-sim-ctl: no reply\n");
                        return 2;
                }
                n = recv(fd, reply + got, sizeof(reply) - 1 - got, 0);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0 || (got += n) >= sizeof(reply) - 1 || memchr(reply, '\n', got))
                        break;
        }
        close(fd);
        reply[got] = '\0';
        fputs(reply, stdout);
        if (got == 0 || reply[got - 1] != '\n')
                fputc('\n', stdout);
        return strncmp(reply, "ok", 2) == 0 && (reply[2] == '\n' || reply[2] == '\0') ? 0 : 1;
}
