/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <getopt.h>

#include "check-output.h"
#include "doctor.h"
#include "egpuctl.h"
#include "host.h"
#include "sysfs.h"

int verb_doctor(int argc, char *argv[]) {
        static const struct option options[] = { COMMON_OPTIONS, {} };
        _cleanup_(udev_unrefp) struct udev *udev = NULL;
        _cleanup_(host_freep) Host *h = NULL;
        _cleanup_(check_list_done) CheckList l = {};
        int c, r;

        while ((c = getopt_long(argc, argv, COMMON_SHORT_OPTIONS, options, NULL)) >= 0) {
                r = verb_common_option("doctor", c);
                if (r != 0)
                        return r < 0 ? EXIT_OK : r;
        }
        r = verb_check_args("doctor", argc, argv, optind);
        if (r != 0)
                return r;

        if (host_load_verbose(NULL, &udev, &h) < 0)
                return EXIT_PROBLEM;
        r = doctor_run(udev, h, arg_global.root, &l);
        if (r < 0) {
                errno_set(r);
                log_error("Failed to run the checks: %m");
                return EXIT_PROBLEM;
        }
        r = checks_print(l.checks, l.n_checks, "egpuctl doctor: eGPU passthrough checks");
        if (r < 0) {
                errno_set(r);
                log_error("Failed to print the checks: %m");
                return EXIT_PROBLEM;
        }
        return checks_exit_status(l.checks, l.n_checks);
}
