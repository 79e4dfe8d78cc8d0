/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <getopt.h>

#include "check-output.h"
#include "doctor.h"
#include "egpuctl.h"
#include "host.h"
#include "sysfs.h"

/* doctor --list: the checks in their order, from the one table (doctor_check_by_index()). JSON: an array of
 * {"id", "description"}; text: one check a line, its id first. */
static int list_checks(void) {
        const DoctorCheck *dc;

        if (arg_global.json) {
                _cleanup_(json_object_putp) json_object *a = json_object_new_array();

                if (!a)
                        return log_error("Out of memory"), EXIT_PROBLEM;
                for (size_t i = 0; (dc = doctor_check_by_index(i)); i++) {
                        json_object *o = json_object_new_object();

                        if (!o || json_object_array_add(a, o) < 0 || json_add_string(o, "id", dc->id) < 0 ||
                            json_add_string(o, "description", dc->description) < 0) {
                                json_object_put(o);
                                return log_error("Out of memory"), EXIT_PROBLEM;
                        }
                }
                return json_print(a) < 0 ? EXIT_PROBLEM : EXIT_OK;
        }
        for (size_t i = 0; (dc = doctor_check_by_index(i)); i++)
                printf("%-16s %s\n", dc->id, dc->description);
        return EXIT_OK;
}

int verb_doctor(int argc, char *argv[]) {
        _cleanup_(udev_unrefp) struct udev *udev = NULL;
        _cleanup_(host_freep) Host *h = NULL;
        _cleanup_(check_list_done) CheckList l = {};
        _cleanup_(enrolled_done) Enrolled enrolled = {};
        bool list = false;
        int r;

        r = verb_parse_flag("doctor", argc, argv, "list", &list);
        if (r != 0)
                return r < 0 ? EXIT_OK : r;
        if (list)
                return list_checks();

        /* The records once, for the model (which PCIe slots hold eGPUs) and the checks (which VM each is
         * for); without them, Thunderbolt eGPUs are still found. */
        (void) enrolled_load_verbose(&enrolled, NULL);
        if (host_load_verbose(&enrolled, &udev, &h) < 0)
                return EXIT_PROBLEM;
        r = doctor_run(udev, h, &enrolled, arg_global.root, &l);
        if (r < 0)
                return log_error_errno(r, "Failed to run the checks: %m"), EXIT_PROBLEM;
        r = checks_print(l.checks, l.n_checks, "egpuctl doctor: eGPU passthrough checks");
        if (r < 0)
                return log_error_errno(r, "Failed to print the checks: %m"), EXIT_PROBLEM;
        return checks_exit_status(l.checks, l.n_checks);
}
