/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <getopt.h>
#include <time.h>

#include "egpuctl.h"
#include "host.h"
#include "sysfs.h"
#include "util.h"

static int load_host(struct udev **ret_udev, Host **ret_host) {
        _cleanup_(udev_unrefp) struct udev *udev = udev_new();
        Host *h;
        int r;

        if (!udev) {
                log_error("Failed to create a udev context: %m");
                return -ENOMEM;
        }
        r = host_load(udev, &h);
        if (r < 0) {
                errno_set(r);
                log_error("Failed to read the devices from sysfs: %m");
                return r;
        }
        *ret_udev = TAKE_PTR(udev);
        *ret_host = h;
        return 0;
}

int verb_enroll(int argc, char *argv[]) {
        enum { ARG_POLICY = ARG_VERB_FIRST };
        static const struct option options[] = {
                COMMON_OPTIONS,
                { "policy", required_argument, NULL, ARG_POLICY },
                {},
        };
        _cleanup_(udev_unrefp) struct udev *udev = NULL;
        _cleanup_(host_freep) Host *h = NULL;
        _cleanup_(enrolled_done) Enrolled enrolled = {};
        _cleanup_(enrollment_freep) Enrollment *e = NULL;
        _cleanup_free_ char *dir = NULL;
        EnrollPolicy policy = ENROLL_POLICY_AUTO;
        const Enrollment *old;
        char *vn, *dn;
        TbDevice *t;
        int c, r;

        while ((c = getopt_long(argc, argv, COMMON_SHORT_OPTIONS, options, NULL)) >= 0) {
                if (c == ARG_POLICY) {
                        policy = enroll_policy_from_string(optarg);
                        if (policy < 0)
                                return usage_error("enroll", "--policy must be auto or manual, not '%s'", optarg);
                        continue;
                }
                r = verb_common_option("enroll", c);
                if (r != 0)
                        return r < 0 ? EXIT_OK : r;
        }
        r = verb_check_args("enroll", argc, argv, optind);
        if (r != 0)
                return r;

        if (load_host(&udev, &h) < 0 || enrolled_load_verbose(&enrolled, &dir) < 0)
                return EXIT_PROBLEM;

        t = host_find_tb_device(h, argv[optind]);
        if (!t) {
                char *p = printable(argv[optind]);
                log_error("No Thunderbolt device '%s' is connected (see 'egpuctl status')", p);
                printable_free(p);
                return EXIT_PROBLEM;
        }
        if (t->host_router) {
                log_error("%s is a host router; enroll the device plugged into it", t->name);
                return EXIT_PROBLEM;
        }
        if (!t->unique_id || !store_unique_id_valid(t->unique_id)) {
                log_error("%s reports no usable unique_id; it cannot be enrolled", t->name);
                return EXIT_PROBLEM;
        }

        r = enrollment_new(ENROLL_THUNDERBOLT, &e);
        if (r < 0)
                return log_error("Out of memory"), EXIT_PROBLEM;
        e->unique_id = strdup(t->unique_id);
        e->name = strdup(t->name);
        e->vendor_name = strdup(t->vendor_name);
        e->device_name = strdup(t->device_name);
        if (!e->unique_id || !e->name || !e->vendor_name || !e->device_name)
                return log_error("Out of memory"), EXIT_PROBLEM;
        e->vendor = t->vendor;
        e->device = t->device;
        e->policy = policy;
        e->enrolled = (int64_t) time(NULL);

        /* Enrolling again changes the policy and names but keeps the key the device already holds. */
        old = enrollments_find(enrolled.list, enrolled.n, t->unique_id);
        if (old && old->has_key) {
                memcpy(e->key, old->key, sizeof(e->key));
                e->has_key = true;
                e->key_approved = old->key_approved;
                e->enrolled = old->enrolled;
        } else if (t->domain && t->domain->security == TB_SECURITY_SECURE) {
                r = enrollment_generate_key(e);
                if (r < 0) {
                        errno_set(r);
                        log_error("Failed to make a key for %s: %m", t->name);
                        return EXIT_PROBLEM;
                }
        }

        r = store_save(dir, e);
        if (r < 0) {
                errno_set(r);
                log_error("Failed to save the record of %s in %s: %m", t->name, dir);
                return EXIT_PROBLEM;
        }
        vn = printable(t->vendor_name);
        dn = printable(t->device_name);
        printf("%s %s (%s %s, unique_id %s), policy %s%s\n", old ? "Updated" : "Enrolled", t->name, vn, dn,
               t->unique_id, enroll_policy_to_string(policy),
               e->has_key ? ", with a secure-connect key" : "");
        printable_free(vn);
        printable_free(dn);
        return EXIT_OK;
}

int verb_forget(int argc, char *argv[]) {
        static const struct option options[] = { COMMON_OPTIONS, {} };
        _cleanup_free_ char *dir = NULL;
        const char *key;
        int c, r;

        while ((c = getopt_long(argc, argv, COMMON_SHORT_OPTIONS, options, NULL)) >= 0) {
                r = verb_common_option("forget", c);
                if (r != 0)
                        return r < 0 ? EXIT_OK : r;
        }
        r = verb_check_args("forget", argc, argv, optind);
        if (r != 0)
                return r;
        key = argv[optind];
        if (!store_key_valid(key))
                return usage_error("forget", "'%s' is not a unique_id", key);

        r = store_dir_default(&dir);
        if (r >= 0)
                r = store_remove(dir, key);
        if (r == -ENOENT) {
                log_error("%s is not enrolled", key);
                return EXIT_PROBLEM;
        }
        if (r < 0) {
                errno_set(r);
                log_error("Failed to forget %s: %m", key);
                return EXIT_PROBLEM;
        }
        printf("Forgot %s; it will not be authorized again\n", key);
        return EXIT_OK;
}

static const char *connection_state(const TbDevice *t) {
        if (!t)
                return "not connected";
        return t->authorized > 0 ? "connected, authorized" : "connected, closed";
}

int verb_list(int argc, char *argv[]) {
        static const struct option options[] = { COMMON_OPTIONS, {} };
        _cleanup_(udev_unrefp) struct udev *udev = NULL;
        _cleanup_(host_freep) Host *h = NULL;
        _cleanup_(enrolled_done) Enrolled enrolled = {};
        _cleanup_(json_object_putp) json_object *root = NULL;
        _cleanup_(table_freep) Table *table = NULL;
        json_object *devices = NULL;
        int c, r;

        while ((c = getopt_long(argc, argv, COMMON_SHORT_OPTIONS, options, NULL)) >= 0) {
                r = verb_common_option("list", c);
                if (r != 0)
                        return r < 0 ? EXIT_OK : r;
        }
        r = verb_check_args("list", argc, argv, optind);
        if (r != 0)
                return r;
        if (load_host(&udev, &h) < 0 || enrolled_load_verbose(&enrolled, NULL) < 0)
                return EXIT_PROBLEM;

        root = json_object_new_object();
        devices = json_object_new_array();
        table = table_new(6);
        if (!root || !devices || !table) {
                json_object_put(devices);
                return log_error("Out of memory"), EXIT_PROBLEM;
        }
        json_object_object_add(root, "devices", devices);
        table_add_row(table, "UNIQUE ID", "NAME", "VENDOR", "DEVICE", "POLICY", "STATE");

        FOREACH_ARRAY(e, enrolled.list, enrolled.n) {
                const TbDevice *t = (*e)->unique_id ? host_find_tb_device(h, (*e)->unique_id) : NULL;
                const Egpu *g = t ? host_find_egpu_of_router(h, t) : NULL;
                json_object *o = json_object_new_object();

                if (!o)
                        continue;
                json_object_object_add(o, "type", json_object_new_string(enroll_type_to_string((*e)->type)));
                json_object_object_add(o, "unique_id", json_string_or_null((*e)->unique_id));
                json_object_object_add(o, "port", json_string_or_null((*e)->port));
                json_object_object_add(o, "enrolled", json_object_new_boolean(true));
                json_object_object_add(o, "name", json_string_or_null(t ? t->name : (*e)->name));
                json_object_object_add(o, "vendor_name", json_string_or_null((*e)->vendor_name));
                json_object_object_add(o, "device_name", json_string_or_null((*e)->device_name));
                json_object_object_add(o, "policy", json_object_new_string(enroll_policy_to_string((*e)->policy)));
                json_object_object_add(o, "secure_key", json_object_new_boolean((*e)->has_key));
                json_object_object_add(o, "connected", json_object_new_boolean(t != NULL));
                json_object_object_add(o, "authorized", json_int_or_null(t ? t->authorized : -1));
                json_object_object_add(o, "gpu", json_string_or_null(g ? g->gpu->bdf : NULL));
                json_object_array_add(devices, o);
                table_add_row(table, (*e)->unique_id ?: (*e)->port, t ? t->name : strna((*e)->name),
                              (*e)->vendor_name, (*e)->device_name, enroll_policy_to_string((*e)->policy),
                              connection_state(t));
        }
        /* Connected devices that are not enrolled, so that the user sees what could be. */
        FOREACH_ARRAY(t, h->tb_devices, h->n_tb_devices) {
                json_object *o;

                if ((*t)->host_router || ((*t)->unique_id && enrollments_find(enrolled.list, enrolled.n, (*t)->unique_id)))
                        continue;
                o = json_object_new_object();
                if (!o)
                        continue;
                json_object_object_add(o, "type", json_object_new_string("thunderbolt"));
                json_object_object_add(o, "unique_id", json_string_or_null((*t)->unique_id));
                json_object_object_add(o, "enrolled", json_object_new_boolean(false));
                json_object_object_add(o, "name", json_string_or_null((*t)->name));
                json_object_object_add(o, "vendor_name", json_string_or_null((*t)->vendor_name));
                json_object_object_add(o, "device_name", json_string_or_null((*t)->device_name));
                json_object_object_add(o, "connected", json_object_new_boolean(true));
                json_object_object_add(o, "authorized", json_int_or_null((*t)->authorized));
                json_object_array_add(devices, o);
                table_add_row(table, (*t)->unique_id, (*t)->name, (*t)->vendor_name, (*t)->device_name, "-",
                              (*t)->authorized > 0 ? "connected, not enrolled" : "connected, closed, not enrolled");
        }

        if (arg_global.json)
                return json_print(root) < 0 ? EXIT_PROBLEM : EXIT_OK;
        table_print(table, stdout, 0, true);
        return EXIT_OK;
}
