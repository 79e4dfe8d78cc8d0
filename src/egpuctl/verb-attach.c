/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <dirent.h>
#include <getopt.h>

#include "egpuctl.h"
#include "eject.h"
#include "lock.h"
#include "sysfs.h"
#include "util.h"

/* boltd writes the same authorized files; two writers race. */
static bool boltd_running(void) {
        _cleanup_(closedirp) DIR *proc = opendir("/proc");
        struct dirent *de;

        if (!proc)
                return false;
        while ((de = readdir(proc))) {
                _cleanup_free_ char *p = NULL, *comm = NULL;
                uint32_t pid;

                if (safe_atou32(de->d_name, 10, &pid) < 0)
                        continue;
                if (asprintf(&p, "/proc/%s/comm", de->d_name) < 0)
                        return false;
                if (read_full_file(p, 64, &comm, NULL) < 0)
                        continue;
                if (streq(strstrip_trailing(comm), "boltd"))
                        return true;
        }
        return false;
}

void warn_if_boltd(void) {
        if (boltd_running())
                log_warning(
                        "boltd is running and authorizes Thunderbolt devices too, racing egpuctl for the "
                        "same 'authorized' files. Let one of them decide: 'systemctl mask --now "
                        "bolt.service' "
                        "(egpuctl enrols and authorizes), or keep bolt and do not enrol devices in "
                        "egpuctl.");
}

int lock_take_verbose(int *ret_fd) {
        _cleanup_free_ char *path = NULL;
        int r;

        r = lock_path_default(arg_global.root, &path);
        if (r >= 0)
                r = lock_acquire(path, 10000, ret_fd);
        if (r == -EBUSY || r == -EWOULDBLOCK) {
                pid_t pid;
                if (lock_holder_pid(path, &pid) >= 0)
                        log_error(
                                "Another egpuctl (PID %d) is changing devices; waited 10 s for it to finish",
                                (int) pid);
                else
                        log_error("Another egpuctl is changing devices; waited 10 s for it to finish");
                return r;
        }
        if (r < 0)
                log_error_errno(r, "Failed to take the lock %s: %m", strna(path));
        return r;
}

/* eject's bounds on the VM that holds the eGPU (--timeout) */
static LiveOptions live_options = {
        .qmp_timeout_ms = LIVE_QMP_TIMEOUT_MS_DEFAULT,
        .unplug_timeout_ms = LIVE_UNPLUG_TIMEOUT_MS_DEFAULT,
};

static int eject_action(
        struct udev *udev,
        const Enrolled *enrolled,
        const char *device,
        const AttachOptions *o,
        Report *rep) {
        return eject_device(udev, enrolled, device, o, &live_options, rep);
}

static int parse_timeout(const char *verb, const char *s, int *ret) {
        usec_t t;

        if (parse_timeout_arg(s, USEC_PER_SEC, 600 * USEC_PER_SEC, &t) < 0)
                return usage_error(verb, "--timeout takes seconds, 1 to 600, not '%s'", s);
        *ret = (int) (t / USEC_PER_MSEC);
        return 0;
}

/* No target: say why, and what to run. Nothing enrolled is a mistake (exit 1); enrolled devices that are
 * not connected are not. */
static int nothing_to_do(const char *verb, const Host *h, const Enrolled *enrolled) {
        bool none = enrolled->n == 0;

        if (arg_global.json)
                puts("{ \"devices\": [ ] }");
        if (none)
                log_error(
                        "Nothing is enrolled, so there is nothing to %s: egpuctl works on enrolled devices "
                        "only.",
                        verb);
        else if (!arg_global.json)
                printf("No enrolled eGPU is connected; nothing to %s.\n", verb);
        if (!streq(verb, "attach")) {
                if (none)
                        fputs("'egpuctl list' shows what is connected and what is enrolled.\n", stderr);
        } else if (print_not_enrolled(stderr, h, enrolled, "") == 0 && none)
                fputs("Connect the eGPU; 'egpuctl list' then shows the name to give 'egpuctl enroll'.\n",
                      stderr);
        return none ? EXIT_PROBLEM : EXIT_OK;
}

static int run_action(const char *verb, AttachAction fn, int argc, char *argv[]) {
        enum { ARG_TIMEOUT = ARG_VERB_FIRST, ARG_FORCE };
        static const struct option options[] = {
                COMMON_OPTIONS,
                { "timeout", required_argument, NULL, ARG_TIMEOUT },
                { "force", no_argument, NULL, ARG_FORCE },
                {},
        };
        _cleanup_(udev_unrefp) struct udev *udev = NULL;
        _cleanup_(enrolled_done) Enrolled enrolled = {};
        _cleanup_(host_freep) Host *h = NULL;
        _cleanup_(json_object_putp) json_object *root = NULL;
        _cleanup_strv_free_ char **targets = NULL;
        _cleanup_lock_ int lock_fd = -EBADF;
        _cleanup_free_ char *dir = NULL;
        AttachOptions o = {
                .timeout_ms = ATTACH_TIMEOUT_MS_DEFAULT,
                .write_timeout_ms = ATTACH_WRITE_TIMEOUT_MS_DEFAULT,
                .root = arg_global.root,
        };
        _cleanup_free_ Report *reports = NULL;
        _cleanup_free_ int *results = NULL;
        json_object *jresults;
        bool failed = false;
        size_t n = 0;
        int c, r;

        while ((c = getopt_long(argc, argv, COMMON_SHORT_OPTIONS, options, NULL)) >= 0) {
                if (c == ARG_TIMEOUT) {
                        r = parse_timeout(
                                verb,
                                optarg,
                                streq(verb, "eject") ? &live_options.unplug_timeout_ms : &o.timeout_ms);
                        if (r != 0)
                                return r;
                        continue;
                }
                if (c == ARG_FORCE && streq(verb, "detach")) {
                        o.force = true;
                        continue;
                }
                r = verb_common_option(verb, c == ARG_FORCE ? '?' : c);
                if (r != 0)
                        return r < 0 ? EXIT_OK : r;
        }
        r = verb_check_args(verb, argc, argv, optind);
        if (r != 0)
                return r;

        udev = udev_new();
        if (!udev)
                return log_error("Failed to create a udev context: %m"), EXIT_PROBLEM;
        if (lock_take_verbose(&lock_fd) < 0)
                return EXIT_PROBLEM;
        if (enrolled_load_verbose(&enrolled, &dir) < 0)
                return EXIT_PROBLEM;
        o.store_dir = dir;
        if (streq(verb, "attach"))
                warn_if_boltd();

        if (optind < argc)
                r = strv_extend(&targets, argv[optind]);
        else {
                /* Every connected enrolled device. */
                r = host_load_enrolled(udev, &enrolled, &h);
                if (r < 0)
                        return log_error_errno(r, "Failed to read the devices from sysfs: %m"), EXIT_PROBLEM;
                r = attach_targets(h, &enrolled, &targets);
        }
        if (r < 0)
                return log_error("Out of memory"), EXIT_PROBLEM;
        if (!targets)
                return nothing_to_do(verb, h, &enrolled);

        root = json_object_new_object();
        jresults = json_object_new_array();
        if (!root || !jresults) {
                json_object_put(jresults);
                return log_error("Out of memory"), EXIT_PROBLEM;
        }
        json_object_object_add(root, "devices", jresults);

        n = strv_length(targets);
        reports = calloc(n, sizeof(Report));
        results = calloc(n, sizeof(int));
        if (!reports || !results)
                return log_error("Out of memory"), EXIT_PROBLEM;
        for (size_t i = 0; i < n; i++)
                if (!arg_global.json)
                        reports[i].on_line = report_print_line; /* each step as it happens */
        if (streq(verb, "attach"))
                /* Two eGPUs plugged together: each attached in its own thread, with its own timeouts
                 * and errors, under the one lock this process holds. */
                (void) attach_run_parallel(fn, &enrolled, targets, &o, reports, results);
        else
                for (size_t i = 0; i < n; i++)
                        results[i] = fn(udev, &enrolled, targets[i], &o, &reports[i]);

        for (size_t i = 0; i < n; i++) {
                _cleanup_free_ char *what = NULL;
                json_object *o_json;

                r = results[i];
                if (r < 0)
                        failed = true;
                if (arg_global.json) {
                        o_json = report_to_json(&reports[i]);
                        if (o_json) {
                                json_object_object_add(o_json, "device", json_string_or_null(targets[i]));
                                json_object_array_add(jresults, o_json);
                        }
                        continue;
                }
                if (asprintf(&what, "Failed to %s '%s'", verb, targets[i]) < 0)
                        what = NULL;
                report_print_error(&reports[i], what ?: verb);
                if (r == 0 && reports[i].n_changes == 0)
                        printf("%s: nothing to do, already %sed\n", targets[i], verb);
        }
        if (arg_global.json)
                (void) json_print(root);
        for (size_t i = 0; i < n; i++)
                report_done(&reports[i]);
        return failed ? EXIT_PROBLEM : EXIT_OK;
}

int verb_attach(int argc, char *argv[]) {
        return run_action("attach", attach_by_person, argc, argv);
}

int verb_detach(int argc, char *argv[]) {
        return run_action("detach", detach_by_person, argc, argv);
}

int verb_eject(int argc, char *argv[]) {
        return run_action("eject", eject_action, argc, argv);
}
