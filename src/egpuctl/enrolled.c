/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "egpuctl.h"
#include "sysfs.h"
#include "util.h"

int enrolled_load_verbose(Enrolled *ret, char **ret_dir) {
        _cleanup_free_ char *dir = NULL;
        StoreError *errors = NULL;
        size_t n_errors = 0;
        Enrolled e = {};
        int r;

        r = store_dir_default(arg_global.root, &dir);
        if (r < 0)
                return log_error_errno(r, "Failed to find the enrolment store ($STATE_DIRECTORY): %m");
        r = store_load(dir, &e.list, &e.n, &errors, &n_errors);
        if (r < 0)
                return log_error_errno(r, "Failed to read the enrolment store %s: %m", dir);
        /* A broken record is reported with its place and does not stop the others. */
        for (size_t i = 0; i < n_errors; i++) {
                char *p = printable(errors[i].path), *m = printable(errors[i].message);
                log_warning(
                        "%s:%u: %s%s",
                        p,
                        errors[i].line,
                        m,
                        errors[i].skipped ? " (record skipped)" : "");
                printable_free(p);
                printable_free(m);
        }
        store_errors_free(errors, n_errors);
        *ret = e;
        if (ret_dir)
                *ret_dir = TAKE_PTR(dir);
        return 0;
}

void report_print_line(const char *line, bool change, void *userdata) {
        char *p = printable(line);

        printf("%s\n", p);
        fflush(stdout); /* as it happens, also into a pipe */
        printable_free(p);
}

void report_print_error(const Report *rep, const char *what) {
        if (rep->error) {
                char *p = printable(rep->error);
                log_error("%s: %s", what, p);
                printable_free(p);
        }
}

json_object *report_to_json(const Report *rep) {
        json_object *o = json_object_new_object(), *lines = json_object_new_array();

        if (!o || !lines) {
                json_object_put(o);
                json_object_put(lines);
                return NULL;
        }
        STRV_FOREACH(l, rep->lines)
                json_object_array_add(lines, json_string_or_null(*l));
        json_object_object_add(o, "changed", json_object_new_boolean(rep->n_changes > 0));
        json_object_object_add(o, "log", lines);
        json_object_object_add(o, "error", json_string_or_null(rep->error));
        return o;
}

void report_log(const Report *rep, bool quiet, const char *what) {
        STRV_FOREACH(l, rep->lines)
                log_printable(quiet ? LOG_DEBUG : LOG_INFO, *l);
        report_print_error(rep, what);
}

int host_load_verbose(const Enrolled *enrolled, struct udev **ret_udev, Host **ret_host) {
        _cleanup_(udev_unrefp) struct udev *udev = udev_new();
        _cleanup_(enrolled_done) Enrolled own = {};
        Host *h;
        int r;

        if (!udev) {
                log_error("Failed to create a udev context: %m");
                return -ENOMEM;
        }
        /* The store says which PCIe slots hold eGPUs; without it, Thunderbolt eGPUs are still found. */
        if (!enrolled) {
                (void) enrolled_load_verbose(&own, NULL);
                enrolled = &own;
        }
        r = host_load_enrolled(udev, enrolled, &h);
        if (r < 0)
                return log_error_errno(r, "Failed to read the devices from sysfs: %m");
        *ret_udev = TAKE_PTR(udev);
        *ret_host = h;
        return 0;
}

bool tb_device_is_enrolled(const TbDevice *t, const Enrolled *enrolled) {
        return t->unique_id && enrollments_find(enrolled->list, enrolled->n, t->unique_id);
}

size_t print_not_enrolled(FILE *f, const Host *h, const Enrolled *enrolled, const char *indent) {
        size_t n = 0;

        FOREACH_ARRAY(t, h->tb_devices, h->n_tb_devices) {
                char *v, *d;

                if ((*t)->host_router || tb_device_is_enrolled(*t, enrolled))
                        continue;
                v = printable((*t)->vendor_name);
                d = printable((*t)->device_name);
                fprintf(f,
                        "%s%s (%s %s) is connected and not enrolled; to let egpuctl attach it: %segpuctl "
                        "enroll %s%s\n",
                        indent,
                        (*t)->name,
                        v,
                        d,
                        f == stdout ? ansi_bold() : "",
                        (*t)->name,
                        f == stdout ? ansi_normal() : "");
                printable_free(v);
                printable_free(d);
                n++;
        }
        return n;
}
