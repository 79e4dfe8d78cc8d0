/* SPDX-License-Identifier: GPL-2.0-or-later */
/* egpu-sim: runs COMMAND in a umockdev testbed built from a scenario folder and plays the kernel behind it.
 * See README.md. */

#include <dlfcn.h>
#include <errno.h>
#include <getopt.h>
#include <glib-unix.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>

#include "sim-proto.h"
#include "sim.h"

#define UMOCKDEV_PRELOAD "libumockdev-preload.so.0"
#define ENV_REEXEC       "EGPU_SIM_REEXEC"
#define ENV_ORIG_PRELOAD "EGPU_SIM_ORIG_LD_PRELOAD"

Sim *sim;

/* umockdev's uevent sender (libumockdev's uevent_sender.c) sends each uevent to every listener socket it
 * finds in the testbed and aborts the process when a send fails, as it does with ECONNREFUSED for a
 * libudev monitor closed in between: parallel attaches open and close monitors while events go out. The
 * kernel's broadcast skips a listener that went away (net/netlink/af_netlink.c netlink_broadcast()
 * delivers to each socket still bound and reports no per-listener error to the sender), so here a send
 * to an address (msg_name) that finds nobody counts as sent. Defined in the executable, it stands before
 * libc's for libumockdev too. */
__attribute__((visibility("default"))) ssize_t sendmsg(int fd, const struct msghdr *msg, int flags) {
        static ssize_t (*real)(int, const struct msghdr *, int);
        ssize_t n;

        if (!real)
                real = (ssize_t(*)(int, const struct msghdr *, int)) dlsym(RTLD_NEXT, "sendmsg");
        if (!real) {
                errno = ENOSYS;
                return -1;
        }
        n = real(fd, msg, flags);
        if (n < 0 && (errno == ECONNREFUSED || errno == ENOENT) && msg && msg->msg_name) {
                size_t len = 0;

                for (size_t i = 0; i < msg->msg_iovlen; i++)
                        len += msg->msg_iov[i].iov_len;
                return (ssize_t) len;
        }
        return n;
}

static GMainLoop *loop;
static GPid child_pid;
static int child_status = -1;

/* ---------------------------------------------------------------- parsing helpers */

int parse_int(const char *s, int *ret) {
        char *end;
        long v;

        if (!s || !*s)
                return -EINVAL;
        errno = 0;
        v = strtol(s, &end, 10);
        if (errno || *end || v < INT_MIN || v > INT_MAX)
                return -EINVAL;
        *ret = (int) v;
        return 0;
}

int errno_from_name(const char *name) {
        static const struct {
                const char *name;
                int value;
        } table[] = {
                { "EPERM", EPERM },     { "ENOENT", ENOENT },       { "EINTR", EINTR },
                { "EIO", EIO },         { "ENXIO", ENXIO },         { "E2BIG", E2BIG },
                { "EAGAIN", EAGAIN },   { "ENOMEM", ENOMEM },       { "EACCES", EACCES },
                { "EFAULT", EFAULT },   { "EBUSY", EBUSY },         { "EEXIST", EEXIST },
                { "ENODEV", ENODEV },   { "EINVAL", EINVAL },       { "ENOSPC", ENOSPC },
                { "EROFS", EROFS },     { "ERANGE", ERANGE },       { "ENOSYS", ENOSYS },
                { "ENODATA", ENODATA }, { "ETIMEDOUT", ETIMEDOUT }, { "EOPNOTSUPP", EOPNOTSUPP },
                { "ENOTSUP", ENOTSUP }, { "ENOKEY", ENOKEY },       { "EKEYREJECTED", EKEYREJECTED },
                { "ENOTTY", ENOTTY },   { "EPROTO", EPROTO },       { "ESHUTDOWN", ESHUTDOWN },
        };
        int v;

        for (size_t i = 0; i < G_N_ELEMENTS(table); i++)
                if (streq0(name, table[i].name))
                        return table[i].value;
        if (parse_int(name, &v) == 0 && v > 0)
                return v;
        return -EINVAL;
}

/* Globs are matched against the path below /sys; a leading "/sys/" is allowed. */
static char *glob_from(const char *s, size_t n) {
        if (n >= 5 && strncmp(s, "/sys/", 5) == 0) {
                s += 5;
                n -= 5;
        }
        return g_strndup(s, n);
}

/* The last ':' of spec before end, NULL when there is none after spec's first character. Rule options
 * are split at their last colons, since a glob may contain ':', as PCI addresses do. */
static const char *colon_before(const char *spec, const char *end) {
        for (const char *p = end ? end - 1 : NULL; p && p > spec; p--)
                if (*p == ':')
                        return p;
        return NULL;
}

/* PATHGLOB:ERRNO[:COUNT] */
static int parse_fault(const char *spec, Rule **ret) {
        const char *last = strrchr(spec, ':'), *prev;
        int count = -1, e = -EINVAL;
        Rule *r;

        if (!last || last == spec)
                return -EINVAL;
        prev = colon_before(spec, last);
        if (prev && parse_int(last + 1, &count) == 0 && count >= 0) {
                g_autofree char *name = g_strndup(prev + 1, last - prev - 1);
                e = g_ascii_isdigit(name[0]) ? -EINVAL : errno_from_name(name);
        }
        if (e < 0) {
                /* no COUNT */
                count = -1;
                prev = last;
                e = errno_from_name(last + 1);
        }
        if (e < 0 || prev == spec)
                return -EINVAL;
        r = g_new0(Rule, 1);
        r->glob = glob_from(spec, prev - spec);
        r->value = e;
        r->count = count;
        *ret = r;
        return 0;
}

/* PATHGLOB:MS */
static int parse_block(const char *spec, Rule **ret) {
        const char *c = strrchr(spec, ':');
        Rule *r;
        int ms;

        if (!c || c == spec || parse_int(c + 1, &ms) < 0 || ms < 0)
                return -EINVAL;
        r = g_new0(Rule, 1);
        r->glob = glob_from(spec, c - spec);
        r->value = ms;
        *ret = r;
        return 0;
}

/* PATHGLOB:N:VALUE (VALUE may not hold ':') */
static int parse_change_on_read(const char *spec, Rule **ret) {
        const char *last = strrchr(spec, ':'), *prev = colon_before(spec, last);
        g_autofree char *num = NULL;
        Rule *r;
        int n;

        if (!prev)
                return -EINVAL;
        num = g_strndup(prev + 1, last - prev - 1);
        if (parse_int(num, &n) < 0 || n < 0)
                return -EINVAL;
        r = g_new0(Rule, 1);
        r->glob = glob_from(spec, prev - spec);
        r->count = n;
        r->text = g_strdup(last + 1);
        *ret = r;
        return 0;
}

/* ---------------------------------------------------------------- the preload's requests */

typedef struct Request {
        int fd;
        char *rel;
        char *data;
        size_t len;
} Request;

static gboolean on_client(int fd, GIOCondition cond, gpointer userdata);

/* A VFIO request: the reply and the text that describes a device, in one datagram. */
static void request_answer_vfio(Request *q) {
        g_autoptr(GString) out = g_string_new(NULL);
        g_autoptr(GByteArray) msg = g_byte_array_new();
        struct sim_reply reply = { .kind = SIM_REPLY_DONE };

        reply.value = sim_handle_vfio(q->rel + strlen(SIM_VFIO_PREFIX), q->data, out);
        log_debug("%s %s: %s\n", q->rel, q->data, reply.value < 0 ? g_strerror(-reply.value) : "ok");
        g_byte_array_append(msg, (const guint8 *) &reply, sizeof(reply));
        g_byte_array_append(msg, (const guint8 *) out->str, out->len);
        (void) send(q->fd, msg->data, msg->len, MSG_NOSIGNAL);
}

static void request_answer(Request *q) {
        int r = g_str_has_prefix(q->rel, SIM_VFIO_PREFIX) ? 0 : sim_handle_write(q->rel, q->data, q->len);
        struct sim_reply reply = { .kind = r == SIM_PASS ? SIM_REPLY_PASS : SIM_REPLY_DONE,
                                   .value = r == SIM_PASS ? 0 : r };

        if (g_str_has_prefix(q->rel, SIM_VFIO_PREFIX)) {
                request_answer_vfio(q);
                g_unix_fd_add(q->fd, G_IO_IN | G_IO_HUP | G_IO_ERR, on_client, NULL);
                g_free(q->rel);
                g_free(q->data);
                g_free(q);
                return;
        }

        if (r != SIM_PASS)
                log_debug(
                        "write %s \"%.*s\": %s\n",
                        q->rel,
                        (int) strcspn(q->data, "\n"),
                        q->data,
                        r < 0 ? g_strerror(-r) : "ok");
        (void) send(q->fd, &reply, sizeof(reply), MSG_NOSIGNAL);
        /* the client sends nothing while it waits, so it is watched again only now */
        g_unix_fd_add(q->fd, G_IO_IN | G_IO_HUP | G_IO_ERR, on_client, NULL);
        g_free(q->rel);
        g_free(q->data);
        g_free(q);
}

static gboolean request_blocked_cb(gpointer p) {
        request_answer(p);
        return G_SOURCE_REMOVE;
}

static gboolean on_client(int fd, GIOCondition cond, gpointer userdata) {
        static char msg[SIM_MSG_MAX];
        Request *q;
        const char *nul;
        ssize_t n;

        n = recv(fd, msg, sizeof(msg), MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
                return G_SOURCE_CONTINUE;
        if (n <= 0) {
                close(fd);
                return G_SOURCE_REMOVE;
        }
        nul = memchr(msg, '\0', n);
        if (!nul) {
                struct sim_reply reply = { SIM_REPLY_DONE, -EINVAL };
                (void) send(fd, &reply, sizeof(reply), MSG_NOSIGNAL);
                return G_SOURCE_CONTINUE;
        }
        if (nul == msg + n - 1) {
                /* no data: the program is about to open the file for reading */
                struct sim_reply reply = { SIM_REPLY_PASS, 0 };
                sim_handle_read(msg);
                (void) send(fd, &reply, sizeof(reply), MSG_NOSIGNAL);
                return G_SOURCE_CONTINUE;
        }
        q = g_new0(Request, 1);
        q->fd = fd;
        q->rel = g_strdup(msg);
        q->len = n - (nul - msg) - 1;
        q->data = g_malloc(q->len + 1);
        memcpy(q->data, nul + 1, q->len);
        q->data[q->len] = '\0';

        for (unsigned i = 0; i < sim->blocks->len; i++) {
                Rule *b = g_ptr_array_index(sim->blocks, i);
                if (sim_rule_matches(b, q->rel)) {
                        log_debug("write %s blocks %d ms\n", q->rel, b->value);
                        g_timeout_add(b->value, request_blocked_cb, q);
                        return G_SOURCE_REMOVE;
                }
        }
        request_answer(q);
        return G_SOURCE_REMOVE;
}

static gboolean on_accept(int fd, GIOCondition cond, gpointer userdata) {
        int c = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
        if (c >= 0)
                g_unix_fd_add(c, G_IO_IN | G_IO_HUP | G_IO_ERR, on_client, NULL);
        return G_SOURCE_CONTINUE;
}

/* ---------------------------------------------------------------- control channel and script */

typedef struct Ctl {
        int fd; /* -1: a script action, the reply goes to the debug log */
        GString *in;
} Ctl;

static void ctl_reply(Ctl *c, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
static void ctl_reply(Ctl *c, const char *fmt, ...) {
        g_autofree char *s = NULL;
        va_list ap;

        va_start(ap, fmt);
        s = g_strdup_vprintf(fmt, ap);
        va_end(ap);
        if (c->fd >= 0) {
                g_autofree char *line = g_strconcat(s, "\n", NULL);
                (void) send(c->fd, line, strlen(line), MSG_NOSIGNAL);
                close(c->fd);
        } else
                log_debug("script: %s\n", s);
        if (c->in)
                g_string_free(c->in, true);
        g_free(c);
}

typedef struct Waiter {
        Ctl *ctl;
        char *bdf, *driver;
        gint64 deadline;
} Waiter;

static gboolean wait_driver_cb(gpointer p) {
        Waiter *w = p;
        char buf[256];
        const char *now = sim_driver_of(w->bdf, buf, sizeof(buf)) ?: "absent";

        if (!streq0(now, w->driver) && g_get_monotonic_time() < w->deadline)
                return G_SOURCE_CONTINUE;
        if (streq0(now, w->driver))
                ctl_reply(w->ctl, "ok");
        else
                ctl_reply(w->ctl, "timeout %s", now);
        g_free(w->bdf);
        g_free(w->driver);
        g_free(w);
        return G_SOURCE_REMOVE;
}

static gboolean kill_child_cb(gpointer p) {
        if (child_pid > 0)
                kill(child_pid, SIGKILL);
        return G_SOURCE_REMOVE;
}

static void ctl_exec(Ctl *c, const char *line) {
        g_auto(GStrv) w = g_strsplit_set(line, " \t", -1);
        unsigned n = g_strv_length(w);
        int r, ms;

        log_debug("control: %s\n", line);
        if (n == 2 && (streq0(w[0], "plug") || streq0(w[0], "unplug"))) {
                r = streq0(w[0], "plug") ? sim_plug(w[1]) : sim_unplug(w[1]);
                if (r < 0)
                        ctl_reply(c, "error %s", g_strerror(-r));
                else
                        ctl_reply(c, "ok");
        } else if (
                n == 4 && streq0(w[0], "wait-driver") && c->fd >= 0 && parse_int(w[3], &ms) == 0 &&
                ms >= 0) {
                Waiter *wt = g_new0(Waiter, 1);
                wt->ctl = c;
                wt->bdf = g_strdup(w[1]);
                wt->driver = g_strdup(w[2]);
                wt->deadline = g_get_monotonic_time() + (gint64) ms * 1000;
                if (wait_driver_cb(wt) == G_SOURCE_CONTINUE)
                        g_timeout_add(5, wait_driver_cb, wt);
        } else if (n == 2 && (streq0(w[0], "fault") || streq0(w[0], "block"))) {
                /* from now on, as the option of that name would have from the start */
                Rule *rule = NULL;
                bool fault = streq0(w[0], "fault");

                r = fault ? parse_fault(w[1], &rule) : parse_block(w[1], &rule);
                if (r < 0)
                        ctl_reply(c, "error bad %s rule", w[0]);
                else {
                        g_ptr_array_add(fault ? sim->faults : sim->blocks, rule);
                        ctl_reply(c, "ok");
                }
        } else if (n == 3 && streq0(w[0], "suspend")) {
                r = sim_runtime_suspend(w[1], w[2]);
                if (r < 0)
                        ctl_reply(c, "error %s", g_strerror(-r));
                else
                        ctl_reply(c, "ok");
        } else if (n == 1 && streq0(w[0], "quit")) {
                ctl_reply(c, "ok");
                if (child_pid > 0) {
                        kill(child_pid, SIGTERM);
                        g_timeout_add_seconds(5, kill_child_cb, NULL);
                }
        } else if (n == 1 && streq0(w[0], "ping"))
                ctl_reply(c, "ok");
        else
                ctl_reply(c, "error unknown command");
}

static gboolean on_ctl_data(int fd, GIOCondition cond, gpointer p) {
        Ctl *c = p;
        char buf[512];
        char *nl;
        ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);

        if (n < 0 && (errno == EAGAIN || errno == EINTR))
                return G_SOURCE_CONTINUE;
        if (n <= 0 || c->in->len > 4096) {
                close(fd);
                g_string_free(c->in, true);
                g_free(c);
                return G_SOURCE_REMOVE;
        }
        g_string_append_len(c->in, buf, n);
        nl = strchr(c->in->str, '\n');
        if (!nl)
                return G_SOURCE_CONTINUE;
        *nl = '\0';
        /* one command a connection; the reply closes it */
        ctl_exec(c, g_strstrip(c->in->str));
        return G_SOURCE_REMOVE;
}

static gboolean on_ctl_accept(int fd, GIOCondition cond, gpointer p) {
        int c = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
        Ctl *ctl;

        if (c < 0)
                return G_SOURCE_CONTINUE;
        ctl = g_new0(Ctl, 1);
        ctl->fd = c;
        ctl->in = g_string_new(NULL);
        g_unix_fd_add(c, G_IO_IN | G_IO_HUP | G_IO_ERR, on_ctl_data, ctl);
        return G_SOURCE_CONTINUE;
}

static gboolean script_action_cb(gpointer p) {
        Ctl *c = g_new0(Ctl, 1);
        c->fd = -1;
        ctl_exec(c, p);
        return G_SOURCE_REMOVE;
}

/* --script FILE: "MS COMMAND..." lines, run MS milliseconds after COMMAND started */
static int load_script(const char *file) {
        g_autofree char *s = NULL;
        g_auto(GStrv) lines = NULL;

        if (!g_file_get_contents(file, &s, NULL, NULL))
                return -ENOENT;
        lines = g_strsplit(s, "\n", -1);
        for (char **l = lines; *l; l++) {
                g_auto(GStrv) w = g_strsplit(g_strstrip(*l), " ", 2);
                int ms;

                if (!w[0] || !*w[0] || *w[0] == '#')
                        continue;
                if (g_strv_length(w) != 2 || parse_int(w[0], &ms) < 0 || ms < 0)
                        return -EINVAL;
                g_timeout_add_full(G_PRIORITY_DEFAULT, ms, script_action_cb, g_strdup(w[1]), g_free);
        }
        return 0;
}

/* ---------------------------------------------------------------- setup */

static int listen_unix(const char *path, int type) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd;

        if (strlen(path) >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        strcpy(sa.sun_path, path);
        fd = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        (void) unlink(path);
        if (bind(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0 || listen(fd, 64) < 0) {
                int r = -errno;
                close(fd);
                return r;
        }
        return fd;
}

static void on_child_exit(GPid pid, int status, gpointer p) {
        child_status = status;
        child_pid = 0;
        g_spawn_close_pid(pid);
        g_main_loop_quit(loop);
}

static gboolean on_signal(gpointer p) {
        if (child_pid > 0)
                kill(child_pid, GPOINTER_TO_INT(p));
        return G_SOURCE_CONTINUE;
}

/* cp -a SRC/. DST: the contents of folder src into dst. */
static int copy_folder(const char *src, const char *dst) {
        g_autofree char *srcdot = g_build_filename(src, ".", NULL);
        const char *argv[] = { "cp", "-a", srcdot, dst, NULL };
        int status;

        if (!g_spawn_sync(
                    NULL,
                    (char **) argv,
                    NULL,
                    G_SPAWN_SEARCH_PATH,
                    NULL,
                    NULL,
                    NULL,
                    NULL,
                    &status,
                    NULL) ||
            !g_spawn_check_wait_status(status, NULL))
                return -EIO;
        return 0;
}

static int copy_scenario_sysfs(const char *scenario) {
        g_autofree char *src = g_build_filename(scenario, "sysfs", NULL);
        g_autofree char *links = g_build_filename(scenario, "sysfs.links", NULL);

        if (g_file_test(src, G_FILE_TEST_IS_DIR) && copy_folder(src, sim->sys) < 0)
                return -EIO;
        sim_make_links(links);
        return 0;
}

/* The scenario's root/ (its /etc, and the store and runtime folder egpuctl makes under it) is copied into
 * the testbed, so that what the command writes there goes with the testbed and the scenario folder stays
 * as it is. An empty folder when the scenario has none: a run is never pointed at the host's /etc. */
static char *copy_scenario_root(const char *scenario) {
        g_autofree char *src = g_build_filename(scenario, "root", NULL);
        g_autofree char *dst = g_build_filename(sim->root, "root", NULL);

        if (g_mkdir_with_parents(dst, 0755) < 0)
                return NULL;
        if (g_file_test(src, G_FILE_TEST_IS_DIR) && copy_folder(src, dst) < 0)
                return NULL;
        return g_steal_pointer(&dst);
}

static char *default_preload(void) {
        g_autofree char *exe = g_file_read_link("/proc/self/exe", NULL);
        g_autofree char *dir = exe ? g_path_get_dirname(exe) : NULL;
        return dir ? g_build_filename(dir, "libegpusim-preload.so", NULL) : NULL;
}

static void usage(FILE *f) {
        fputs("Usage: egpu-sim [OPTION]... SCENARIO_DIR -- COMMAND [ARG]...\n"
              "Runs COMMAND in a umockdev testbed of SCENARIO_DIR that reacts to sysfs writes like the "
              "kernel.\n\n"
              "  --tunnel-delay-ms N   PCIe tunnel changes N ms after (de)authorization (default 50; -1: "
              "never)\n"
              "  --fault GLOB:ERRNO[:COUNT]  writes to /sys paths matching GLOB fail with ERRNO (COUNT "
              "times)\n"
              "  --block GLOB:MS       such writes block MS milliseconds before they are handled\n"
              "  --vanish-on GLOB      such a write unplugs the device first and fails with ENODEV\n"
              "  --change-on-read GLOB:N:VALUE  after N reads, a file matching GLOB reads VALUE\n"
              "  --control SOCKET      accept control commands (plug, unplug, wait-driver, suspend, fault, "
              "block, "
              "quit, ping)\n"
              "  --script FILE         run \"MS COMMAND\" lines MS milliseconds after start\n"
              "  --preload PATH        libegpusim-preload.so to use (default: next to egpu-sim)\n"
              "  -h, --help            show this help\n",
              f);
}

static int reexec_with_umockdev(char **argv) {
        const char *orig = getenv("LD_PRELOAD"), *asan = getenv("ASAN_OPTIONS");
        g_autofree char *pre =
                orig && *orig ? g_strconcat(UMOCKDEV_PRELOAD, ":", orig, NULL) : g_strdup(UMOCKDEV_PRELOAD);

        /* umockdev_testbed_uevent() resolves /sys paths with libudev in this process: it needs the testbed
         */
        g_setenv(ENV_ORIG_PRELOAD, orig ?: "", true);
        /* a sanitizer runtime need not come first in the preload list (clang links it statically) */
        if (!strstr(asan ?: "", "verify_asan_link_order")) {
                g_autofree char *a = asan && *asan ? g_strconcat(asan, ":verify_asan_link_order=0", NULL)
                                                   : g_strdup("verify_asan_link_order=0");
                g_setenv("ASAN_OPTIONS", a, true);
        }
        g_setenv("LD_PRELOAD", pre, true);
        g_setenv(ENV_REEXEC, "1", true);
        execv("/proc/self/exe", argv);
        return -errno;
}

/* umockdev hands each uevent to each listener over a Unix datagram socket and aborts when one is full.
 * The kernel's netlink sockets hold far more than the 10 datagrams that net.unix.max_dgram_qlen allows
 * by default, and a tunnel brings a dozen events at once, so the simulator raises it (for this network
 * namespace) when it may; it says so with EGPU_SIM_DEBUG=1. */
static void raise_uevent_queue(void) {
        const char *p = "/proc/sys/net/unix/max_dgram_qlen";
        g_autofree char *now = NULL;
        FILE *f;

        if (!g_file_get_contents(p, &now, NULL, NULL) || g_ascii_strtoll(now, NULL, 10) >= 1024)
                return;
        f = fopen(p, "we");
        if (!f || fputs("1024\n", f) < 0 || fclose(f) != 0) {
                log_debug(
                        "cannot raise %s (now %s); bursts of uevents may abort umockdev\n",
                        p,
                        g_strstrip(now));
                return;
        }
        log_debug("raised %s from %s to 1024\n", p, g_strstrip(now));
}

int main(int argc, char **argv) {
        enum {
                OPT_DELAY = 256,
                OPT_FAULT,
                OPT_BLOCK,
                OPT_VANISH,
                OPT_READ,
                OPT_CONTROL,
                OPT_SCRIPT,
                OPT_PRELOAD
        };
        static const struct option options[] = {
                { "tunnel-delay-ms", required_argument, NULL, OPT_DELAY },
                { "fault", required_argument, NULL, OPT_FAULT },
                { "block", required_argument, NULL, OPT_BLOCK },
                { "vanish-on", required_argument, NULL, OPT_VANISH },
                { "change-on-read", required_argument, NULL, OPT_READ },
                { "control", required_argument, NULL, OPT_CONTROL },
                { "script", required_argument, NULL, OPT_SCRIPT },
                { "preload", required_argument, NULL, OPT_PRELOAD },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        g_autofree char *control = NULL, *script = NULL, *preload = NULL, *devices = NULL, *sock = NULL;
        g_autofree char *sysreal = NULL, *scenario_root = NULL, *child_preload = NULL;
        g_auto(GStrv) env = NULL;
        g_autoptr(GError) error = NULL;
        int c, r, lfd, cfd = -1, status;

        if (!getenv(ENV_REEXEC)) {
                r = reexec_with_umockdev(argv);
                g_printerr("egpu-sim: cannot re-execute itself: %s\n", g_strerror(-r));
                return 2;
        }

        sim = g_new0(Sim, 1);
        sim->kmsg_fd = -1;
        sim->tunnel_delay_ms = 50;
        sim->debug = streq0(getenv("EGPU_SIM_DEBUG"), "1");
        sim->faults = g_ptr_array_new();
        sim->blocks = g_ptr_array_new();
        sim->vanish = g_ptr_array_new();
        sim->reads = g_ptr_array_new();
        sim->dynids = g_ptr_array_new_with_free_func(sim_dynid_free);
        sim->pci = g_hash_table_new(g_str_hash, g_str_equal);
        sim->natural = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
        sim->reset = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
        sim->vendor_reset = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
        sim->device_keys = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
        sim->tunnel_timers = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
        sim->vfio_created = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);

        while ((c = getopt_long(argc, argv, "+h", options, NULL)) >= 0) {
                Rule *rule = NULL;

                switch (c) {
                case OPT_DELAY:
                        if (parse_int(optarg, &sim->tunnel_delay_ms) < 0 || sim->tunnel_delay_ms < -1) {
                                g_printerr("egpu-sim: bad --tunnel-delay-ms: %s\n", optarg);
                                return 2;
                        }
                        break;
                case OPT_FAULT:
                case OPT_BLOCK:
                        r = c == OPT_FAULT ? parse_fault(optarg, &rule) : parse_block(optarg, &rule);
                        if (r < 0) {
                                g_printerr(
                                        "egpu-sim: bad --%s: %s\n",
                                        c == OPT_FAULT ? "fault" : "block",
                                        optarg);
                                return 2;
                        }
                        g_ptr_array_add(c == OPT_FAULT ? sim->faults : sim->blocks, rule);
                        break;
                case OPT_VANISH:
                        rule = g_new0(Rule, 1);
                        rule->glob = glob_from(optarg, strlen(optarg));
                        g_ptr_array_add(sim->vanish, rule);
                        break;
                case OPT_READ:
                        if (parse_change_on_read(optarg, &rule) < 0) {
                                g_printerr("egpu-sim: bad --change-on-read: %s\n", optarg);
                                return 2;
                        }
                        g_ptr_array_add(sim->reads, rule);
                        break;
                case OPT_CONTROL:
                        g_free(control);
                        control = g_strdup(optarg);
                        break;
                case OPT_SCRIPT:
                        g_free(script);
                        script = g_strdup(optarg);
                        break;
                case OPT_PRELOAD:
                        g_free(preload);
                        preload = g_strdup(optarg);
                        break;
                case 'h':
                        usage(stdout);
                        return 0;
                default:
                        usage(stderr);
                        return 2;
                }
        }
        if (optind < argc && streq0(argv[optind - 1], "--")) {
                /* "--" came before the scenario: not our syntax */
                usage(stderr);
                return 2;
        }
        if (argc - optind < 3 || !streq0(argv[optind + 1], "--")) {
                usage(stderr);
                return 2;
        }
        sim->scenario = realpath(argv[optind], NULL);
        devices = sim->scenario ? g_build_filename(sim->scenario, "devices.umockdev", NULL) : NULL;
        if (!devices || !g_file_test(devices, G_FILE_TEST_IS_REGULAR)) {
                g_printerr("egpu-sim: no devices.umockdev in %s\n", argv[optind]);
                return 2;
        }
        if (!preload)
                preload = default_preload();
        if (!preload || !g_file_test(preload, G_FILE_TEST_IS_REGULAR)) {
                g_printerr("egpu-sim: cannot find libegpusim-preload.so (use --preload)\n");
                return 2;
        }

        raise_uevent_queue();
        sim->testbed = umockdev_testbed_new();
        sim->root = umockdev_testbed_get_root_dir(sim->testbed);
        sim->sys = umockdev_testbed_get_sys_dir(sim->testbed);
        if (!umockdev_testbed_add_from_file(sim->testbed, devices, &error)) {
                g_printerr("egpu-sim: %s: %s\n", devices, error->message);
                return 2;
        }
        if (copy_scenario_sysfs(sim->scenario) < 0 || sim_load_config(sim->scenario) < 0) {
                g_printerr("egpu-sim: cannot set up %s\n", sim->scenario);
                return 2;
        }
        sim_scan_pci();
        sim_startup_consistency();
        if (sim_kmsg_open() < 0) {
                g_printerr("egpu-sim: cannot make the kernel log %s/dev/kmsg\n", sim->root);
                return 2;
        }

        sock = g_build_filename(sim->root, "egpu-sim.sock", NULL);
        lfd = listen_unix(sock, SOCK_SEQPACKET);
        if (lfd < 0) {
                g_printerr("egpu-sim: cannot listen on %s: %s\n", sock, g_strerror(-lfd));
                return 2;
        }
        g_unix_fd_add(lfd, G_IO_IN, on_accept, NULL);
        if (control) {
                cfd = listen_unix(control, SOCK_STREAM);
                if (cfd < 0) {
                        g_printerr("egpu-sim: cannot listen on %s: %s\n", control, g_strerror(-cfd));
                        return 2;
                }
                g_unix_fd_add(cfd, G_IO_IN, on_ctl_accept, NULL);
        }

        sysreal = realpath(sim->sys, NULL);
        scenario_root = copy_scenario_root(sim->scenario);
        if (!scenario_root) {
                g_printerr("egpu-sim: cannot copy %s/root\n", sim->scenario);
                return 2;
        }
        child_preload = *getenv(ENV_ORIG_PRELOAD)
                ? g_strdup_printf("%s:%s:%s", preload, UMOCKDEV_PRELOAD, getenv(ENV_ORIG_PRELOAD))
                : g_strdup_printf("%s:%s", preload, UMOCKDEV_PRELOAD);
        env = g_get_environ();
        env = g_environ_unsetenv(env, ENV_REEXEC);
        env = g_environ_unsetenv(env, ENV_ORIG_PRELOAD);
        env = g_environ_setenv(env, "LD_PRELOAD", child_preload, true);
        env = g_environ_setenv(env, "SCENARIO_ROOT", scenario_root, true);
        env = g_environ_setenv(env, "EGPUCTL_ROOT", scenario_root, true); /* egpuctl's default --root */
        env = g_environ_setenv(env, SIM_ENV_SOCKET, sock, true);
        env = g_environ_setenv(env, SIM_ENV_SYSDIR, sysreal, true);
        if (control)
                env = g_environ_setenv(env, SIM_ENV_CONTROL, control, true);
        if (sim->reads->len > 0)
                env = g_environ_setenv(env, SIM_ENV_READS, "1", true);

        loop = g_main_loop_new(NULL, false);
        if (script && load_script(script) < 0) {
                g_printerr("egpu-sim: cannot load script %s\n", script);
                return 2;
        }
        if (!g_spawn_async(
                    NULL,
                    argv + optind + 2,
                    env,
                    G_SPAWN_SEARCH_PATH | G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_CHILD_INHERITS_STDIN,
                    NULL,
                    NULL,
                    &child_pid,
                    &error)) {
                g_printerr("egpu-sim: %s: %s\n", argv[optind + 2], error->message);
                return 127;
        }
        g_child_watch_add(child_pid, on_child_exit, NULL);
        g_unix_signal_add(SIGTERM, on_signal, GINT_TO_POINTER(SIGTERM));
        g_unix_signal_add(SIGINT, on_signal, GINT_TO_POINTER(SIGINT));
        g_unix_signal_add(SIGHUP, on_signal, GINT_TO_POINTER(SIGHUP));
        g_main_loop_run(loop);

        if (control)
                (void) unlink(control);
        g_object_unref(sim->testbed);

        status = child_status;
        if (WIFEXITED(status))
                return WEXITSTATUS(status);
        if (WIFSIGNALED(status))
                return 128 + WTERMSIG(status);
        return 1;
}
