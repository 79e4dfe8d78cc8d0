/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <getopt.h>
#include <time.h>

#include "egpuctl.h"
#include "host.h"
#include "lock.h"
#include "sysfs.h"
#include "util.h"

enum { ARG_POLICY = ARG_VERB_FIRST, ARG_PORT, ARG_IDS, ARG_VM, ARG_QMP };

/* What enroll's options ask for. */
typedef struct EnrollArgs {
        EnrollPolicy policy;
        const char *port, *ids, *vm, *qmp;
} EnrollArgs;

/* A PCIe-attached eGPU: by one of its display functions now (bdf), or else by a->port and a->ids for an
 * empty slot; with a->policy. */
static int enroll_pcie(const Host *h, const char *bdf, const EnrollArgs *a, Enrollment **ret) {
        _cleanup_(enrollment_freep) Enrollment *e = NULL;
        int r;

        r = enrollment_new(ENROLL_PCIE, &e);
        if (r < 0)
                return log_error("Out of memory"), r;
        e->policy = a->policy;
        e->enrolled = (int64_t) time(NULL);
        if (bdf) {
                const PciFunction *f = host_find_pci(h, bdf);

                if (!f) {
                        log_error("No PCI function %s", bdf);
                        return -ENODEV;
                }
                if (!pci_function_is_display(f)) {
                        log_error(
                                "%s is not a display function (class %06x); enroll the GPU's function",
                                bdf,
                                f->class);
                        return -EINVAL;
                }
                if (pci_function_is_removable(f)) {
                        log_error(
                                "%s is behind a Thunderbolt/USB4 tunnel; enroll its Thunderbolt device "
                                "instead (see 'egpuctl status')",
                                bdf);
                        return -EINVAL;
                }
                r = pci_function_port_path(f, &e->port);
                if (r < 0)
                        return log_error_errno(
                                r,
                                "%s sits on a root bus, not below a port: it is not pluggable: %m",
                                bdf);
                e->pci_vendor = f->vendor;
                e->pci_device = f->device;
                e->pci_subsystem_vendor = f->subsystem_vendor;
                e->pci_subsystem_device = f->subsystem_device;
                e->has_subsystem = true;
                e->name = strdup(bdf);
                if (!e->name)
                        return -ENOMEM;
        } else {
                if (!pci_port_path_is_valid(a->port)) {
                        usage_error(
                                "enroll",
                                "--port takes a port path, the root bus and the device.function of each "
                                "bridge down to the slot (pci0000:00/1c.0), not '%s'",
                                a->port);
                        return -EINVAL;
                }
                e->port = strdup(a->port);
                if (!e->port)
                        return -ENOMEM;
                if (enrollment_set_ids(e, a->ids) < 0) {
                        usage_error(
                                "enroll",
                                "--ids takes VVVV:DDDD or VVVV:DDDD:SSSS:SSSS in hex, not '%s'",
                                a->ids);
                        return -EINVAL;
                }
        }
        *ret = TAKE_PTR(e);
        return 0;
}

/* A Thunderbolt router, by name or unique_id. */
static int enroll_thunderbolt(
        const Host *h,
        const Enrolled *enrolled,
        const char *device,
        EnrollPolicy policy,
        Enrollment **ret) {
        _cleanup_(enrollment_freep) Enrollment *e = NULL;
        const Enrollment *old;
        TbDevice *t;
        int r;

        t = host_find_tb_device(h, device);
        if (!t) {
                char *p = printable(device);
                log_error("No Thunderbolt device '%s' is connected (see 'egpuctl status')", p);
                printable_free(p);
                return -ENODEV;
        }
        if (t->host_router) {
                log_error("%s is a host router; enroll the device plugged into it", t->name);
                return -EINVAL;
        }
        if (!t->unique_id || !store_unique_id_valid(t->unique_id)) {
                log_error("%s reports no usable unique_id; it cannot be enrolled", t->name);
                return -EINVAL;
        }
        if (t->domain && !tb_security_allows_pcie(t->domain->security))
                log_warning(
                        "Domain %s has security level '%s': no PCIe tunnel is possible until it is changed "
                        "in the firmware",
                        t->domain->name,
                        tb_security_to_string(t->domain->security));

        r = enrollment_new(ENROLL_THUNDERBOLT, &e);
        if (r < 0)
                return r;
        e->unique_id = strdup(t->unique_id);
        e->name = strdup(t->name);
        e->vendor_name = strdup(t->vendor_name);
        e->device_name = strdup(t->device_name);
        if (!e->unique_id || !e->name || !e->vendor_name || !e->device_name)
                return -ENOMEM;
        e->vendor = t->vendor;
        e->device = t->device;
        e->policy = policy;
        e->enrolled = (int64_t) time(NULL);

        /* Enrolling again changes the policy and names but keeps the key the device already holds. */
        old = enrollments_find(enrolled->list, enrolled->n, t->unique_id);
        if (old && old->has_key) {
                memcpy(e->key, old->key, sizeof(e->key));
                e->has_key = true;
                e->key_approved = old->key_approved;
                e->enrolled = old->enrolled;
        } else if (t->domain && t->domain->security == TB_SECURITY_SECURE) {
                r = enrollment_generate_key(e);
                if (r < 0)
                        return log_error_errno(r, "Failed to make a key for %s: %m", t->name);
        }
        *ret = TAKE_PTR(e);
        return 0;
}

static int enroll_option(int c, const char *arg, void *userdata) {
        EnrollArgs *a = userdata;

        switch (c) {
        case ARG_POLICY:
                a->policy = enroll_policy_from_string(arg);
                if (a->policy < 0)
                        return usage_error("enroll", "--policy must be auto or manual, not '%s'", arg);
                return 0;
        case ARG_PORT:
                a->port = arg;
                return 0;
        case ARG_IDS:
                a->ids = arg;
                return 0;
        case ARG_VM:
                if (!store_vmid_valid(arg))
                        return usage_error(
                                "enroll",
                                "--vm takes a Proxmox VM id, 100 to 999999999, not '%s'",
                                arg);
                a->vm = arg;
                return 0;
        case ARG_QMP:
                if (arg[0] != '/')
                        return usage_error("enroll", "--qmp takes the absolute path of the VM's QMP socket");
                a->qmp = arg;
                return 0;
        default:
                return verb_common_option("enroll", c);
        }
}

int verb_enroll(int argc, char *argv[]) {
        static const struct option options[] = {
                COMMON_OPTIONS,
                { "policy", required_argument, NULL, ARG_POLICY },
                { "port", required_argument, NULL, ARG_PORT },
                { "ids", required_argument, NULL, ARG_IDS },
                { "vm", required_argument, NULL, ARG_VM },
                { "qmp", required_argument, NULL, ARG_QMP },
                {},
        };
        _cleanup_lock_ int lock_fd = -EBADF;
        _cleanup_(udev_unrefp) struct udev *udev = NULL;
        _cleanup_(host_freep) Host *h = NULL;
        _cleanup_(enrolled_done) Enrolled enrolled = {};
        _cleanup_(enrollment_freep) Enrollment *e = NULL;
        _cleanup_free_ char *dir = NULL, *key = NULL;
        EnrollArgs a = { .policy = ENROLL_POLICY_AUTO };
        const char *device;
        const Enrollment *old;
        bool existed;
        int r;

        r = verb_parse("enroll", argc, argv, options, enroll_option, &a);
        if (r != 0)
                return r < 0 ? EXIT_OK : r;
        device = optind < argc ? argv[optind] : NULL;
        if (!!a.port != !!a.ids)
                return usage_error("enroll", "--port and --ids go together");
        if (!device == !a.port)
                return usage_error(
                        "enroll",
                        "give either DEVICE, or --port PORT --ids VVVV:DDDD[:SSSS:SSSS]");

        /* One writer at a time, the daemon included. */
        if (lock_take_verbose(&lock_fd) < 0)
                return EXIT_PROBLEM;
        if (enrolled_load_verbose(&enrolled, &dir) < 0 || host_load_verbose(&enrolled, &udev, &h) < 0)
                return EXIT_PROBLEM;

        if (a.port || pci_bdf_is_valid(device))
                r = enroll_pcie(h, a.port ? NULL : device, &a, &e);
        else
                r = enroll_thunderbolt(h, &enrolled, device, a.policy, &e);
        if (r < 0)
                return EXIT_PROBLEM;

        r = enrollment_key(e, &key);
        if (r < 0) {
                log_error(
                        "'%s' cannot be enrolled: not a valid unique_id or port",
                        strna(e->unique_id ?: e->port));
                return EXIT_PROBLEM;
        }
        old = e->type == ENROLL_PCIE ? enrollments_find_port(enrolled.list, enrolled.n, e->port)
                                     : enrollments_find(enrolled.list, enrolled.n, e->unique_id);
        existed = old != NULL;
        /* The VM it belongs to: as given, else as recorded before. */
        {
                const char *want_vm = a.vm ?: !a.qmp && old ? old->vm : NULL;
                const char *want_qmp = a.qmp ?: !a.vm && old ? old->qmp : NULL;

                if ((want_vm && !(e->vm = strdup(want_vm))) || (want_qmp && !(e->qmp = strdup(want_qmp))) ||
                    (old && old->mapping && !(e->mapping = strdup(old->mapping))))
                        return log_error("Out of memory"), EXIT_PROBLEM;
        }
        r = store_save(dir, e);
        if (r < 0)
                return log_error_errno(r, "Failed to save the record in %s: %m", dir), EXIT_PROBLEM;
        if (e->type == ENROLL_PCIE)
                printf("%s PCIe eGPU %04x:%04x below port %s (record %s), policy %s\n",
                       existed ? "Updated" : "Enrolled",
                       e->pci_vendor,
                       e->pci_device,
                       e->port,
                       key,
                       enroll_policy_to_string(a.policy));
        else {
                char *vn = printable(e->vendor_name), *dn = printable(e->device_name);
                printf("%s %s (%s %s, unique_id %s), policy %s%s\n",
                       existed ? "Updated" : "Enrolled",
                       e->name,
                       vn,
                       dn,
                       e->unique_id,
                       enroll_policy_to_string(a.policy),
                       e->has_key ? ", with a secure-connect key" : "");
                printable_free(vn);
                printable_free(dn);
        }
        if (e->vm || e->qmp)
                printf("The daemon plugs it into %s%s when it appears while that VM runs.\n",
                       e->vm ? "VM " : "the VM at ",
                       e->vm ?: e->qmp);
        return EXIT_OK;
}

int verb_forget(int argc, char *argv[]) {
        static const struct option options[] = { COMMON_OPTIONS, {} };
        _cleanup_free_ char *dir = NULL, *port_key = NULL;
        _cleanup_lock_ int lock_fd = -EBADF;
        const char *key;
        int r;

        r = verb_parse("forget", argc, argv, options, NULL, NULL);
        if (r != 0)
                return r < 0 ? EXIT_OK : r;
        key = argv[optind];
        if (strneq(key, "pci", 3) && !store_key_valid(key)) {
                /* A port: its record's key is the port's hash. */
                r = store_key_from_port(key, &port_key);
                if (r < 0)
                        return usage_error("forget", "'%s' is not a port", key);
                key = port_key;
        }
        if (!store_key_valid(key))
                return usage_error("forget", "'%s' is not a unique_id, a port or a record key", key);

        /* One writer at a time: not while the daemon attaches the device. */
        if (lock_take_verbose(&lock_fd) < 0)
                return EXIT_PROBLEM;
        r = store_dir_default(arg_global.root, &dir);
        if (r >= 0)
                r = store_remove(dir, key);
        if (r == -ENOENT) {
                log_error("%s is not enrolled", key);
                return EXIT_PROBLEM;
        }
        if (r < 0)
                return log_error_errno(r, "Failed to forget %s: %m", key), EXIT_PROBLEM;
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
        int r;

        r = verb_parse("list", argc, argv, options, NULL, NULL);
        if (r != 0)
                return r < 0 ? EXIT_OK : r;
        if (enrolled_load_verbose(&enrolled, NULL) < 0 || host_load_verbose(&enrolled, &udev, &h) < 0)
                return EXIT_PROBLEM;

        root = json_object_new_object();
        devices = json_object_new_array();
        table = table_new(7);
        if (!root || !devices || !table) {
                json_object_put(devices);
                return log_error("Out of memory"), EXIT_PROBLEM;
        }
        json_object_object_add(root, "devices", devices);
        table_add_row(table, "UNIQUE ID", "NAME", "VENDOR", "DEVICE", "POLICY", "STATE", "VM");

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
                json_object_object_add(
                        o,
                        "policy",
                        json_object_new_string(enroll_policy_to_string((*e)->policy)));
                json_object_object_add(o, "secure_key", json_object_new_boolean((*e)->has_key));
                json_object_object_add(o, "connected", json_object_new_boolean(t != NULL));
                json_object_object_add(o, "authorized", json_int_or_null(t ? t->authorized : -1));
                json_object_object_add(o, "gpu", json_string_or_null(g ? g->gpu->bdf : NULL));
                /* the VM the eGPU belongs to (enroll --vm, vm attach) */
                json_object_object_add(o, "vm", json_string_or_null((*e)->vm));
                json_object_object_add(o, "qmp", json_string_or_null((*e)->qmp));
                json_object_array_add(devices, o);
                table_add_row(
                        table,
                        (*e)->unique_id ?: (*e)->port,
                        t ? t->name : strna((*e)->name),
                        (*e)->vendor_name,
                        (*e)->device_name,
                        enroll_policy_to_string((*e)->policy),
                        connection_state(t),
                        (*e)->vm ?: (*e)->qmp ?: "-");
        }
        /* Connected devices that are not enrolled, so that the user sees what could be. */
        FOREACH_ARRAY(t, h->tb_devices, h->n_tb_devices) {
                json_object *o;

                if ((*t)->host_router ||
                    ((*t)->unique_id && enrollments_find(enrolled.list, enrolled.n, (*t)->unique_id)))
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
                table_add_row(
                        table,
                        (*t)->unique_id,
                        (*t)->name,
                        (*t)->vendor_name,
                        (*t)->device_name,
                        "-",
                        (*t)->authorized > 0 ? "connected, not enrolled" : "connected, closed, not enrolled",
                        "-");
        }

        if (arg_global.json)
                return json_print(root) < 0 ? EXIT_PROBLEM : EXIT_OK;
        table_print(table, stdout, 0, true);
        return EXIT_OK;
}
