/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <fcntl.h>
#include <getopt.h>

#include "egpuctl.h"
#include "live.h"
#include "lock.h"
#include "spawn-util.h"
#include "host.h"
#include "install-config.h"
#include "libvirt.h"
#include "output.h"
#include "proxmox.h"
#include "release.h"
#include "sysfs.h"
#include "util.h"

static const char *arg_mapping = "egpu";
static const char *arg_gpu = NULL;
static const char *arg_node = NULL;
static const char *arg_qmp = NULL;
static const char *arg_libvirt = NULL;
static bool arg_attach_live = false;
static bool arg_pool = false;
static LiveOptions arg_live = {
        .qmp_timeout_ms = LIVE_QMP_TIMEOUT_MS_DEFAULT,
        .unplug_timeout_ms = LIVE_UNPLUG_TIMEOUT_MS_DEFAULT,
};

static bool vmid_valid(const char *s) {
        uint32_t v;
        return safe_atou32(s, 10, &v) >= 0 && v >= 100 && v <= 999999999 && s[0] != '0';
}

/* Prints a command line, each argument made printable. */
static void print_argv(const char *prefix, char *const argv[]) {
        fputs(prefix, stdout);
        for (char *const *a = argv; *a; a++) {
                char *p = printable(*a);
                printf("%s%s", a == argv ? "" : " ", p);
                printable_free(p);
        }
        fputc('\n', stdout);
}

static int run_or_show(char *const argv[]) {
        int status = 0, r;

        print_argv(arg_global.dry_run ? "would run: " : "running: ", argv);
        if (arg_global.dry_run)
                return 0;
        r = proxmox_run(argv, NULL, &status);
        if (r == -EPROTO) {
                log_error("%s exited with status %d", argv[0], status);
                return r;
        }
        if (r < 0)
                log_error_errno(r, "Failed to run %s: %m", argv[0]);
        return r;
}

/* Loads the host and picks the eGPU: --gpu BDF, else the only enrolled eGPU that is connected. The records
 * in *ret_enrolled when it is not NULL. */
static int load_egpu(Enrolled *ret_enrolled, struct udev **ret_udev, Host **ret_host, Egpu **ret) {
        _cleanup_(udev_unrefp) struct udev *udev = NULL;
        _cleanup_(host_freep) Host *h = NULL;
        _cleanup_(egpu_list_done) EgpuList sel = {};
        _cleanup_(enrolled_done) Enrolled enrolled = {};
        Egpu *found = NULL;
        int r;

        /* The records first: a PCIe eGPU is one only below an enrolled port. */
        r = enrolled_load_verbose(&enrolled, NULL);
        if (r < 0)
                return r;
        r = host_load_verbose(&enrolled, &udev, &h);
        if (r < 0)
                return r;
        if (arg_gpu) {
                FOREACH_ARRAY(e, h->egpus, h->n_egpus)
                        if (streq((*e)->gpu->bdf, arg_gpu))
                                found = *e;
                if (!found) {
                        log_error("No eGPU at %s (egpuctl status lists them)", arg_gpu);
                        return -ENODEV;
                }
        } else {
                r = install_select_enrolled(h, enrolled.list, enrolled.n, &sel);
                if (r < 0)
                        return log_error_errno(r, "Failed to select the enrolled eGPUs: %m");
                if (sel.n_egpus != 1 && !(arg_pool && sel.n_egpus > 1)) {
                        log_error(
                                sel.n_egpus == 0
                                        ? "No enrolled eGPU is connected (egpuctl enroll, then plug it in)"
                                        : "Several enrolled eGPUs are connected; choose one with --gpu BDF");
                        return -ENODEV;
                }
                found = sel.egpus[0];
        }
        *ret = found;
        *ret_host = TAKE_PTR(h);
        *ret_udev = TAKE_PTR(udev);
        if (ret_enrolled) {
                *ret_enrolled = enrolled;
                enrolled = (Enrolled){};
        }
        return 0;
}

static int node_name(char **ret) {
        /* vm acts on this host's Proxmox (qm, pvesh): its own name. */
        return arg_node ? strdup_to(ret, arg_node) : proxmox_node_name(NULL, ret);
}

/* "PATH (group G), ..." of entries, for people. */
static char *entries_to_string(const PciMapEntry *l, size_t n) {
        _cleanup_free_ char *s = NULL;

        for (size_t i = 0; i < n; i++)
                if (strextendf_with_separator(&s, ", ", "%s (group %d)", l[i].path, l[i].iommugroup) < 0)
                        return NULL;
        return TAKE_PTR(s);
}

/* Sets mapping name's entries for node to want (pci_map_set_node(): other nodes' entries and a person's
 * descriptions kept), creating the mapping with description when there is none. */
static int ensure_mapping(
        const char *name,
        const char *node,
        const PciMapEntry *want,
        size_t n_want,
        const char *description,
        bool *ret_changed) {
        _cleanup_(pci_mapping_done) PciMapping m = {};
        _cleanup_free_ char *path = NULL, *what = NULL;
        _cleanup_strv_free_ char **args = NULL, **map = NULL;
        bool changed = false;
        int r;

        *ret_changed = false;
        r = proxmox_mapping_get(name, &m);
        if (r < 0)
                return log_error_errno(r, "Failed to read the PCI mapping %s through pvesh: %m", name);
        r = pci_map_set_node(r > 0 ? m.map : NULL, node, want, n_want, &map, &changed);
        if (r < 0)
                return log_error_errno(
                        r,
                        "Cannot write the map entries for node %s: Proxmox would not read them back (a node "
                        "name of letters, digits and '-'): %m",
                        node);
        what = entries_to_string(want, n_want);
        if (!what)
                return -ENOMEM;
        if (m.id && !changed) {
                printf("PCI mapping %s already maps %s on node %s.\n", name, what, node);
                return 0;
        }
        if (strv_extend(&args, "pvesh") < 0 || strv_extend(&args, m.id ? "set" : "create") < 0)
                return -ENOMEM;
        if (m.id ? asprintf(&path, "/cluster/mapping/pci/%s", name) < 0
                 : !(path = strdup("/cluster/mapping/pci")))
                return -ENOMEM;
        if (strv_extend(&args, path) < 0 ||
            (!m.id && (strv_extend(&args, "--id") < 0 || strv_extend(&args, name) < 0)))
                return -ENOMEM;
        STRV_FOREACH(s, map)
                if (strv_extend(&args, "--map") < 0 || strv_extend(&args, *s) < 0)
                        return -ENOMEM;
        if (!m.id && (strv_extend(&args, "--description") < 0 || strv_extend(&args, description) < 0))
                return -ENOMEM;
        if (m.digest && (strv_extend(&args, "--digest") < 0 || strv_extend(&args, m.digest) < 0))
                return -ENOMEM;
        *ret_changed = true;
        return run_or_show(args);
}

/* vm attach --mapping NAME: the eGPU e alone is the mapping's (a record that named it before leaves);
 * --pool NAME: every enrolled eGPU present joins it, and the absent ones that are in it stay. Recorded in
 * the records (mapping=), from which pci_map_entries_wanted() answers the mapping's entries for vm attach
 * and the hookscript. Changes the records in memory, and in the store unless --dry-run. */
static int record_mapping(const Host *h, Enrolled *enrolled, const Egpu *e) {
        const Enrollment *mine = enrolled_find_egpu(enrolled, e);
        _cleanup_free_ char *dir = NULL;
        int r;

        FOREACH_ARRAY(x, enrolled->list, enrolled->n) {
                bool present = false, want, has = streq_ptr((*x)->mapping, arg_mapping);

                FOREACH_ARRAY(g, h->egpus, h->n_egpus)
                        present = present || enrolled_find_egpu(enrolled, *g) == *x;
                want = arg_pool ? present || has : *x == mine;
                if (want == has)
                        continue;
                free((*x)->mapping);
                (*x)->mapping = NULL;
                if (want && !((*x)->mapping = strdup(arg_mapping)))
                        return -ENOMEM;
                printf("%s %s %s mapping %s.\n",
                       arg_global.dry_run ? "Would record" : "Recorded",
                       (*x)->unique_id ?: (*x)->port,
                       want ? "in" : "out of",
                       arg_mapping);
                if (arg_global.dry_run)
                        continue;
                if (!dir && (r = store_dir_default(arg_global.root, &dir)) < 0)
                        return r;
                r = store_save(dir, *x);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int vm_config_load(const char *vmid, VmConfig *ret) {
        _cleanup_free_ char *out = NULL;
        int r;

        r = proxmox_run((char *[]){ (char *) "qm", (char *) "config", (char *) vmid, NULL }, &out, NULL);
        if (r < 0)
                return log_error_errno(r, "Failed to read the configuration of VM %s (qm config): %m", vmid);
        r = vm_config_parse(out, ret);
        if (r < 0)
                log_error_errno(r, "Failed to parse the configuration of VM %s: %m", vmid);
        return r;
}

/* What every VM with the eGPU needs, as "qm set" arguments added to args: q35 (PCIe), the host's CPU
 * model, and egpuctl's hookscript when install put it in place and the VM has none of its own. */
static int vm_base_settings(const VmConfig *cfg, const char *vmid, char ***args) {
        _cleanup_free_ char *hook = NULL;
        const char *v;
        int r = 0;

        v = vm_config_get(cfg, "machine");
        if (r >= 0 && (!v || !strstr(v, "q35"))) {
                r = strv_extend(args, "--machine");
                if (r >= 0)
                        r = strv_extend(args, "q35");
        }
        v = vm_config_get(cfg, "cpu");
        if (r >= 0 && (!v || !(streq(v, "host") || strneq(v, "host,", 5) || strstr(v, "cputype=host")))) {
                r = strv_extend(args, "--cpu");
                if (r >= 0)
                        r = strv_extend(args, "host");
        }
        /* The hookscript, when egpuctl install put it in place and the VM has none of its own. */
        hook = path_under_root(arg_global.root, INSTALL_HOOK_SNIPPET_PATH);
        v = vm_config_get(cfg, "hookscript");
        if (r >= 0 && hook && access(hook, F_OK) >= 0) {
                if (!v) {
                        r = strv_extend(args, "--hookscript");
                        if (r >= 0)
                                r = strv_extend(args, PROXMOX_HOOK_VOLUME);
                } else if (!streq(v, PROXMOX_HOOK_VOLUME))
                        log_warning(
                                "VM %s has the hookscript %s; add 'egpuctl vm hook VMID PHASE' to it, or "
                                "the "
                                "mapping will not follow the eGPU when its bus number changes",
                                vmid,
                                v);
        } else if (r >= 0 && !streq_ptr(v, PROXMOX_HOOK_VOLUME))
                log_warning(
                        "No hookscript snippet (%s): run egpuctl install, then qm set %s --hookscript %s",
                        INSTALL_HOOK_SNIPPET_PATH,
                        vmid,
                        PROXMOX_HOOK_VOLUME);
        return r;
}

/* "--delete hostpci1,hostpci2" for the keys in deletes, when there are any. */
static int args_add_deletes(char ***args, char **deletes) {
        _cleanup_free_ char *list = NULL;
        int r;

        STRV_FOREACH(d, deletes) {
                r = strextendf_with_separator(&list, ",", "%s", *d);
                if (r < 0)
                        return r;
        }
        if (!list)
                return 0;
        r = strv_extend(args, "--delete");
        return r < 0 ? r : strv_extend(args, list);
}

/* vm attach --live: the VM gets a hot-pluggable port sized for the eGPU (its args), no hostpciN entry for
 * it (it goes in and out while the VM runs), and the eGPU's record names the VM, so that the daemon and
 * the hookscript's post-start plug it in whenever both are there. */
static int vm_attach_live(const char *vmid) {
        _cleanup_(udev_unrefp) struct udev *udev = NULL;
        _cleanup_(host_freep) Host *h = NULL;
        _cleanup_(enrolled_done) Enrolled enrolled = {};
        _cleanup_(vm_config_done) VmConfig cfg = {};
        _cleanup_strv_free_ char **args = NULL, **deletes = NULL;
        _cleanup_free_ char *dir = NULL, *device = NULL, *new_args = NULL;
        _cleanup_lock_ int lock_fd = -EBADF;
        char size[32];
        Enrollment *rec;
        uint64_t window = 0;
        Egpu *e = NULL;
        bool record;
        int r;

        /* One writer at a time: the record changes. */
        if (lock_take_verbose(&lock_fd) < 0)
                return EXIT_PROBLEM;
        if (load_egpu(&enrolled, &udev, &h, &e) < 0)
                return EXIT_PROBLEM;
        rec = enrolled_find_egpu(&enrolled, e);
        if (!rec) {
                log_error(
                        "eGPU %s is not enrolled; egpuctl enroll DEVICE --vm %s records it for the VM",
                        e->gpu->bdf,
                        vmid);
                return EXIT_PROBLEM;
        }
        r = egpu_prefetchable_window(e, &window);
        if (r < 0)
                return log_error_errno(r, "Failed to read the memory BARs of eGPU %s: %m", e->gpu->bdf),
                       EXIT_PROBLEM;
        r = proxmox_live_port_device(window, &device);
        if (r < 0)
                return log_error("Out of memory"), EXIT_PROBLEM;
        if (vm_config_load(vmid, &cfg) < 0)
                return EXIT_PROBLEM;
        r = proxmox_args_set_live_port(vm_config_get(&cfg, "args"), device, &new_args);
        if (r < 0)
                return log_error("Out of memory"), EXIT_PROBLEM;

        r = strv_extend(&args, "qm");
        if (r >= 0)
                r = strv_extend(&args, "set");
        if (r >= 0)
                r = strv_extend(&args, vmid);
        if (r >= 0 && !streq_ptr(vm_config_get(&cfg, "args"), new_args)) {
                r = strv_extend(&args, "--args");
                if (r >= 0)
                        r = strv_extend(&args, new_args);
        }
        if (r >= 0)
                r = vm_base_settings(&cfg, vmid, &args);
        /* The eGPU goes in while the VM runs: an entry that gives it at the start would hold it there. */
        for (int i = 0; r >= 0 && i < PROXMOX_MAX_HOSTPCI; i++) {
                char key[32];
                const char *v;

                snprintf(key, sizeof(key), "hostpci%d", i);
                v = vm_config_get(&cfg, key);
                if (v && hostpci_refers_to(v, arg_mapping, e))
                        r = strv_extend(&deletes, key);
        }
        if (r >= 0)
                r = args_add_deletes(&args, deletes);
        if (r < 0)
                return log_error("Out of memory"), EXIT_PROBLEM;

        printf("VM %s: a hot-pluggable port %s with a %s prefetchable window for eGPU %s.\n",
               vmid,
               PROXMOX_LIVE_PORT_ID,
               format_bytes(size, sizeof(size), window),
               e->gpu->bdf);
        if (strv_length(args) > 3 && run_or_show(args) < 0)
                return EXIT_PROBLEM;
        if (strv_length(args) == 3)
                printf("VM %s has it already.\n", vmid);

        record = !streq_ptr(rec->vm, vmid) || rec->qmp;
        if (record && arg_global.dry_run)
                printf("would record eGPU %s for VM %s\n", e->gpu->bdf, vmid);
        else if (record) {
                char *v = strdup(vmid);

                if (!v)
                        return log_error("Out of memory"), EXIT_PROBLEM;
                free(rec->vm);
                rec->vm = v;
                rec->qmp = mfree(rec->qmp);
                r = store_dir_default(arg_global.root, &dir);
                if (r >= 0)
                        r = store_save(dir, rec);
                if (r < 0)
                        return log_error_errno(r, "Failed to record the VM in the enrolment store: %m"),
                               EXIT_PROBLEM;
                printf("Recorded eGPU %s for VM %s.\n", e->gpu->bdf, vmid);
        }
        printf("The port is there from the VM's next start (qm shutdown %s, then qm start %s). From then on "
               "the eGPU goes into the running VM when it is plugged in (egpuctl daemon) or when the VM "
               "starts (the hookscript), and egpuctl eject takes it out.\n",
               vmid,
               vmid);
        return EXIT_OK;
}

static int vm_attach(const char *vmid) {
        _cleanup_(udev_unrefp) struct udev *udev = NULL;
        _cleanup_(host_freep) Host *h = NULL;
        _cleanup_(enrolled_done) Enrolled enrolled = {};
        _cleanup_(vm_config_done) VmConfig cfg = {};
        _cleanup_strv_free_ char **args = NULL, **deletes = NULL;
        _cleanup_free_ char *node = NULL, *description = NULL, *hostpci_value = NULL;
        _cleanup_lock_ int lock_fd = -EBADF;
        PciMapEntry *want = NULL;
        size_t n_want = 0;
        Egpu *e = NULL;
        bool mapping_changed = false;
        int index = -1, r;
        const char *v;

        /* One writer at a time: the records change. */
        if (lock_take_verbose(&lock_fd) < 0)
                return EXIT_PROBLEM;
        if (load_egpu(&enrolled, &udev, &h, &e) < 0)
                return EXIT_PROBLEM;
        if (!e->groups_viable)
                log_warning(
                        "The IOMMU groups of eGPU %s are not viable: the VM will not start until they are "
                        "(egpuctl status)",
                        e->gpu->bdf);
        r = node_name(&node);
        if (r < 0)
                return log_error_errno(r, "Failed to get the node name: %m"), EXIT_PROBLEM;
        r = record_mapping(h, &enrolled, e);
        if (r < 0)
                return log_error_errno(
                               r,
                               "Failed to record mapping %s in the enrolment store: %m",
                               arg_mapping),
                       EXIT_PROBLEM;
        /* The mapping's entries from the records; an eGPU without one (not enrolled) is its only entry. */
        r = enrolled_find_egpu(&enrolled, e)
                ? pci_map_entries_wanted(h, &enrolled, arg_mapping, node, &want, &n_want)
                : 0;
        if (r >= 0 && n_want == 0) {
                want = calloc(1, sizeof(PciMapEntry));
                r = want ? pci_map_entry_for_egpu(e, node, want) : -ENOMEM;
                n_want = r >= 0;
        }
        if (r < 0) {
                pci_map_entries_free(want, n_want);
                return log_error_errno(r, "Failed to describe the eGPU: %m"), EXIT_PROBLEM;
        }
        if (arg_pool ? asprintf(
                               &description,
                               "eGPU pool (egpuctl; the hookscript keeps this node's entries to the eGPUs "
                               "present)") < 0
                     : asprintf(
                               &description,
                               "eGPU %04x:%04x behind Thunderbolt (egpuctl; the hookscript follows bus "
                               "changes)",
                               e->gpu->vendor,
                               e->gpu->device) < 0) {
                pci_map_entries_free(want, n_want);
                return log_error("Out of memory"), EXIT_PROBLEM;
        }
        r = ensure_mapping(arg_mapping, node, want, n_want, description, &mapping_changed);
        pci_map_entries_free(want, n_want);
        if (r < 0)
                return EXIT_PROBLEM;

        if (vm_config_load(vmid, &cfg) < 0)
                return EXIT_PROBLEM;

        /* The hostpciN to use: the one that points at the eGPU already, else the first free one. Any
         * other entry for the eGPU's functions goes (the mapping covers them all). */
        for (int i = 0; i < PROXMOX_MAX_HOSTPCI; i++) {
                char key[32];

                snprintf(key, sizeof(key), "hostpci%d", i);
                v = vm_config_get(&cfg, key);
                if (!v || !hostpci_refers_to(v, arg_mapping, e))
                        continue;
                if (index < 0)
                        index = i;
                else if ((r = strv_extend(&deletes, key)) < 0)
                        return log_error("Out of memory"), EXIT_PROBLEM;
        }
        for (int i = 0; index < 0 && i < PROXMOX_MAX_HOSTPCI; i++) {
                char key[32];

                snprintf(key, sizeof(key), "hostpci%d", i);
                if (!vm_config_get(&cfg, key))
                        index = i;
        }
        if (index < 0) {
                log_error("VM %s uses all %d hostpci slots", vmid, PROXMOX_MAX_HOSTPCI);
                return EXIT_PROBLEM;
        }

        /* The entry as it should be: the person's options in the one there kept. */
        {
                char key[32];

                snprintf(key, sizeof(key), "hostpci%d", index);
                r = hostpci_value_for_egpu(vm_config_get(&cfg, key), arg_mapping, e, &hostpci_value);
                if (r < 0)
                        return log_error_errno(r, "Failed to make the hostpci%d value: %m", index),
                               EXIT_PROBLEM;
        }

        r = strv_extend(&args, "qm");
        if (r >= 0)
                r = strv_extend(&args, "set");
        if (r >= 0)
                r = strv_extend(&args, vmid);
        {
                char key[32];

                snprintf(key, sizeof(key), "--hostpci%d", index);
                snprintf(key + 2, sizeof(key) - 2, "hostpci%d", index);
                v = vm_config_get(&cfg, key + 2);
                if (r >= 0 && !streq_ptr(v, hostpci_value)) {
                        r = strv_extend(&args, key);
                        if (r >= 0)
                                r = strv_extend(&args, hostpci_value);
                }
        }
        if (r >= 0)
                r = vm_base_settings(&cfg, vmid, &args);
        if (r >= 0)
                r = args_add_deletes(&args, deletes);
        if (r < 0)
                return log_error("Out of memory"), EXIT_PROBLEM;

        if (strv_length(args) == 3) {
                printf("VM %s already uses mapping %s (hostpci%d).\n", vmid, arg_mapping, index);
                if (!mapping_changed)
                        printf("Nothing to change.\n");
                return EXIT_OK;
        }
        return run_or_show(args) < 0 ? EXIT_PROBLEM : EXIT_OK;
}

/* The hookscript's pre-start for a mapping that records name: this node's entries set to the eGPUs present
 * whose records name it (pci_map_entries_wanted(), as vm attach wrote them), other nodes' entries and a
 * person's descriptions kept. Returns 0 when no record names the mapping (then its entries are matched by
 * ids), 1 when done, -errno (logged) on failure. */
static int hook_mapping_from_records(
        const char *vmid,
        const char *name,
        const char *node,
        const Host *h,
        const Enrolled *enrolled,
        const PciMapping *m) {
        _cleanup_strv_free_ char **args = NULL, **map = NULL;
        _cleanup_free_ char *path = NULL, *what = NULL;
        PciMapEntry *want = NULL;
        size_t n_want = 0;
        bool changed;
        int r;

        r = pci_map_entries_wanted(h, enrolled, name, node, &want, &n_want);
        if (r <= 0) {
                if (r < 0)
                        log_error_errno(r, "VM %s: mapping %s: %m", vmid, name);
                return r;
        }
        if (n_want == 0) {
                /* Left as it is: its entries still tell which eGPUs to look for next time. */
                log_error(
                        "VM %s: mapping %s: none of its %d eGPUs is connected on node %s",
                        vmid,
                        name,
                        r,
                        node);
                return -ENODEV;
        }
        r = pci_map_set_node(m->map, node, want, n_want, &map, &changed);
        what = r >= 0 ? entries_to_string(want, n_want) : NULL;
        pci_map_entries_free(want, n_want);
        if (r < 0 || !what)
                return log_error_errno(
                        r < 0 ? r : -ENOMEM,
                        "VM %s: cannot write mapping %s's entries for node %s: %m",
                        vmid,
                        name,
                        node);
        if (!changed)
                return 1;
        printf("VM %s: mapping %s on %s now maps %s\n", vmid, name, node, what);
        if (asprintf(&path, "/cluster/mapping/pci/%s", name) < 0 || strv_extend(&args, "pvesh") < 0 ||
            strv_extend(&args, "set") < 0 || strv_extend(&args, path) < 0)
                return -ENOMEM;
        STRV_FOREACH(s, map)
                if (strv_extend(&args, "--map") < 0 || strv_extend(&args, *s) < 0)
                        return -ENOMEM;
        if (m->digest && (strv_extend(&args, "--digest") < 0 || strv_extend(&args, m->digest) < 0))
                return -ENOMEM;
        r = run_or_show(args);
        return r < 0 ? r : 1;
}

/* The hookscript's pre-start: attach the eGPU, then point the VM's egpuctl mappings at where it is now. */
static int vm_hook_pre_start(const char *vmid) {
        _cleanup_(udev_unrefp) struct udev *udev = NULL;
        _cleanup_(enrolled_done) Enrolled enrolled = {};
        _cleanup_(host_freep) Host *h = NULL;
        _cleanup_(vm_config_done) VmConfig cfg = {};
        _cleanup_free_ char *node = NULL;
        int r, failed = 0;

        /* Authorize and bind every connected enrolled eGPU, as egpuctl attach does. */
        {
                char *attach_argv[] = { (char *) "attach", NULL };
                int saved_optind = optind;

                optind = 0;
                r = verb_attach(1, attach_argv);
                optind = saved_optind;
                if (r != EXIT_OK) {
                        log_error("VM %s: attaching the eGPU failed; the VM is not started", vmid);
                        return EXIT_PROBLEM;
                }
        }

        if (vm_config_load(vmid, &cfg) < 0)
                return EXIT_PROBLEM;
        r = node_name(&node);
        if (r < 0)
                return log_error_errno(r, "Failed to get the node name: %m"), EXIT_PROBLEM;
        if (enrolled_load_verbose(&enrolled, NULL) < 0 || host_load_verbose(&enrolled, &udev, &h) < 0)
                return EXIT_PROBLEM;

        for (int i = 0; i < PROXMOX_MAX_HOSTPCI; i++) {
                _cleanup_(prop_string_done) PropString p = {};
                _cleanup_(pci_mapping_done) PciMapping m = {};
                _cleanup_strv_free_ char **args = NULL;
                _cleanup_free_ char *path = NULL, *entry_s = NULL;
                char key[32];
                const char *v, *name;
                bool changed = false, mine = false;

                snprintf(key, sizeof(key), "hostpci%d", i);
                v = vm_config_get(&cfg, key);
                if (!v || prop_string_parse(v, "host", &p) < 0 || !(name = prop_string_get(&p, "mapping")))
                        continue;
                r = proxmox_mapping_get(name, &m);
                if (r <= 0) {
                        if (r < 0) {
                                log_error_errno(r, "Failed to read PCI mapping %s: %m", name);
                                failed++;
                        }
                        continue;
                }
                if (asprintf(&path, "/cluster/mapping/pci/%s", name) < 0 ||
                    strv_extend(&args, "pvesh") < 0 || strv_extend(&args, "set") < 0 ||
                    strv_extend(&args, path) < 0)
                        return log_error("Out of memory"), EXIT_PROBLEM;

                /* A mapping that records name (vm attach --mapping, --pool): this node's entries are
                 * exactly the eGPUs present whose records name it. */
                r = hook_mapping_from_records(vmid, name, node, h, &enrolled, &m);
                if (r < 0)
                        failed++;
                if (r != 0)
                        continue;

                STRV_FOREACH(s, m.map) {
                        _cleanup_(pci_map_entry_done) PciMapEntry e = { .iommugroup = -1 },
                                                                  now = { .iommugroup = -1 };
                        const Egpu *match = NULL;
                        unsigned n_match = 0;

                        r = strv_extend(&args, "--map");
                        if (r < 0)
                                return log_error("Out of memory"), EXIT_PROBLEM;
                        if (pci_map_entry_parse(*s, &e) < 0 || !streq(e.node, node) || !e.id) {
                                if (strv_extend(&args, *s) < 0)
                                        return log_error("Out of memory"), EXIT_PROBLEM;
                                continue;
                        }
                        /* The eGPU with the entry's ids (function 0, and subsystem ids when recorded). Only
                         * eGPUs are candidates, never an internal device. */
                        FOREACH_ARRAY(x, h->egpus, h->n_egpus) {
                                char id[10], sub[10];
                                const PciFunction *f0 = (*x)->functions[0];

                                snprintf(id, sizeof(id), "%04x:%04x", f0->vendor, f0->device);
                                snprintf(
                                        sub,
                                        sizeof(sub),
                                        "%04x:%04x",
                                        f0->subsystem_vendor,
                                        f0->subsystem_device);
                                if (strcasecmp(id, e.id) == 0 &&
                                    (!e.subsystem_id || strcasecmp(sub, e.subsystem_id) == 0)) {
                                        match = *x;
                                        n_match++;
                                }
                        }
                        if (n_match == 0) {
                                log_error(
                                        "VM %s: mapping %s: no eGPU %s is connected on node %s",
                                        vmid,
                                        name,
                                        e.id,
                                        node);
                                failed++;
                        } else if (n_match > 1) {
                                log_error(
                                        "VM %s: mapping %s: several eGPUs %s are connected; not guessing",
                                        vmid,
                                        name,
                                        e.id);
                                failed++;
                        } else if (pci_map_entry_for_egpu(match, node, &now) >= 0) {
                                mine = true;
                                if (!pci_map_entry_equal(&e, &now)) {
                                        free(now.description);
                                        now.description = TAKE_PTR(e.description);
                                        r = pci_map_entry_format(&now, &entry_s);
                                        if (r < 0)
                                                return log_error_errno(
                                                               r,
                                                               "VM %s: cannot write mapping %s's entry for "
                                                               "node %s: %m",
                                                               vmid,
                                                               name,
                                                               node),
                                                       EXIT_PROBLEM;
                                        printf("VM %s: mapping %s on %s moves from %s (group %d) to %s "
                                               "(group %d)\n",
                                               vmid,
                                               name,
                                               node,
                                               e.path,
                                               e.iommugroup,
                                               now.path,
                                               now.iommugroup);
                                        changed = true;
                                        if (strv_extend(&args, entry_s) < 0)
                                                return log_error("Out of memory"), EXIT_PROBLEM;
                                        entry_s = mfree(entry_s);
                                        continue;
                                }
                        }
                        if (strv_extend(&args, *s) < 0)
                                return log_error("Out of memory"), EXIT_PROBLEM;
                }
                if (!mine || !changed)
                        continue;
                if (m.digest && (strv_extend(&args, "--digest") < 0 || strv_extend(&args, m.digest) < 0))
                        return log_error("Out of memory"), EXIT_PROBLEM;
                if (run_or_show(args) < 0)
                        failed++;
        }
        return failed ? EXIT_PROBLEM : EXIT_OK;
}

static int vm_live(const char *vmid, bool plug);

/* The hookscript's post-start: each connected eGPU whose record names this VM (vm attach --live, enroll
 * --vm) goes into it, as vm plug does. */
static int vm_hook_post_start(const char *vmid) {
        _cleanup_(udev_unrefp) struct udev *udev = NULL;
        _cleanup_(enrolled_done) Enrolled enrolled = {};
        _cleanup_(host_freep) Host *h = NULL;
        _cleanup_strv_free_ char **gpus = NULL;
        int r, ret = EXIT_OK;

        if (enrolled_load_verbose(&enrolled, NULL) < 0 || host_load_verbose(&enrolled, &udev, &h) < 0)
                return EXIT_PROBLEM;
        FOREACH_ARRAY(e, h->egpus, h->n_egpus) {
                const Enrollment *rec = enrolled_find_egpu(&enrolled, *e);

                if (rec && streq_ptr(rec->vm, vmid) && strv_extend(&gpus, (*e)->gpu->bdf) < 0)
                        return log_error("Out of memory"), EXIT_PROBLEM;
        }
        STRV_FOREACH(g, gpus) {
                arg_gpu = *g;
                r = vm_live(vmid, true);
                if (r != EXIT_OK)
                        ret = r;
        }
        arg_gpu = NULL;
        return ret;
}

/* The hookscript's post-stop: the VM let go of its devices, so each eGPU on vfio-pci that no process holds
 * goes back to D0 and is checked for the next start (egpu_after_release()); one another VM holds is left
 * alone. */
static int vm_hook_post_stop(const char *vmid) {
        _cleanup_(udev_unrefp) struct udev *udev = NULL;
        _cleanup_(enrolled_done) Enrolled enrolled = {};
        _cleanup_(host_freep) Host *h = NULL;
        _cleanup_lock_ int lock_fd = -EBADF;
        int ret = EXIT_OK;

        if (lock_take_verbose(&lock_fd) < 0)
                return EXIT_PROBLEM;
        if (enrolled_load_verbose(&enrolled, NULL) < 0 || host_load_verbose(&enrolled, &udev, &h) < 0)
                return EXIT_PROBLEM;
        FOREACH_ARRAY(e, h->egpus, h->n_egpus) {
                _cleanup_(report_done) Report rep = { .on_line = report_print_line };
                _cleanup_free_ char *what = NULL;

                if (!egpu_all_on_driver(*e, "vfio-pci"))
                        continue;
                if (egpu_after_release(h, *e, ATTACH_WRITE_TIMEOUT_MS_DEFAULT, &rep) < 0)
                        ret = EXIT_PROBLEM;
                if (asprintf(&what, "VM %s stopped, eGPU %s", vmid, (*e)->gpu->bdf) < 0)
                        what = NULL;
                report_print_error(&rep, what ?: "post-stop");
        }
        return ret;
}

static int vm_hook(const char *vmid, const char *phase) {
        if (!vmid_valid(vmid))
                return usage_error("vm", "'%s' is not a VM id", vmid);
        if (streq(phase, "pre-start"))
                return vm_hook_pre_start(vmid);
        if (streq(phase, "post-start"))
                return vm_hook_post_start(vmid);
        if (streq(phase, "post-stop"))
                return vm_hook_post_stop(vmid);
        if (streq(phase, "pre-stop"))
                return EXIT_OK; /* nothing to do: detaching is the daemon's and egpuctl detach's */
        log_warning("Unknown hookscript phase '%s', ignored", phase);
        return EXIT_OK;
}

/* The device vm plug and unplug act on, by the name attach takes: --gpu BDF's eGPU, else the only enrolled
 * device that is connected. */
static int live_target(const Host *h, const Enrolled *enrolled, char **ret) {
        _cleanup_strv_free_ char **targets = NULL;
        int r;

        if (arg_gpu) {
                FOREACH_ARRAY(e, h->egpus, h->n_egpus)
                        if (streq((*e)->gpu->bdf, arg_gpu)) {
                                const char *name = (*e)->port
                                        ?: (*e)->tb_device ? (*e)->tb_device->name
                                                           : NULL;

                                if (!name) {
                                        log_error(
                                                "eGPU %s sits behind a Thunderbolt device egpuctl cannot "
                                                "name for "
                                                "certain; attach it by name first (egpuctl attach 1-1)",
                                                arg_gpu);
                                        return -ENODEV;
                                }
                                *ret = strdup(name);
                                return *ret ? 0 : -ENOMEM;
                        }
                log_error("No eGPU at %s (egpuctl status lists them)", arg_gpu);
                return -ENODEV;
        }
        r = attach_targets(h, enrolled, &targets);
        if (r < 0)
                return log_error_errno(r, "Failed to list the enrolled devices: %m");
        if (strv_length(targets) != 1) {
                log_error(
                        targets ? "Several enrolled eGPUs are connected; choose one with --gpu BDF"
                                : "No enrolled eGPU is connected (egpuctl enroll, then plug it in)");
                return -ENODEV;
        }
        *ret = strdup(targets[0]);
        return *ret ? 0 : -ENOMEM;
}

/* libvirt: each function through virsh attach-device|detach-device --live, function 0 last on the way in. */
static int libvirt_live(const Egpu *e, bool plug) {
        int failed = 0;

        for (size_t k = 0; k < e->n_functions; k++) {
                const PciFunction *f = e->functions[plug ? (k + 1) % e->n_functions : k];
                _cleanup_strv_free_ char **argv = NULL;
                _cleanup_free_ char *xml = NULL;
                char path[] = "/tmp/egpuctl-hostdev-XXXXXX";
                _cleanup_close_ int fd = -EBADF;
                size_t len = 0;
                FILE *m;
                int r;

                m = open_memstream(&xml, &len);
                if (!m)
                        return log_error("Out of memory"), EXIT_PROBLEM;
                r = libvirt_hostdev_function_xml(m, f, -1, false);
                fclose(m);
                if (r < 0)
                        return log_error("Failed to describe %s for libvirt", f->bdf), EXIT_PROBLEM;
                fd = mkostemp(path, O_CLOEXEC);
                if (fd < 0 || write(fd, xml, len) != (ssize_t) len)
                        return log_error("Failed to write %s: %m", path), EXIT_PROBLEM;
                if (libvirt_live_argv(arg_libvirt, plug, path, &argv) < 0)
                        return log_error("Out of memory"), EXIT_PROBLEM;
                if (run_or_show(argv) < 0)
                        failed++;
                (void) unlink(path);
        }
        return failed ? EXIT_PROBLEM : EXIT_OK;
}

/* vm plug and vm unplug: the eGPU into a running VM, or out of it. */
static int vm_live(const char *vmid, bool plug) {
        _cleanup_(udev_unrefp) struct udev *udev = NULL;
        _cleanup_(enrolled_done) Enrolled enrolled = {};
        _cleanup_(host_freep) Host *h = NULL;
        _cleanup_(report_done) Report rep = { .on_line = report_print_line }; /* each step as it happens */
        _cleanup_(live_vm_done) LiveVm vm = {};
        _cleanup_lock_ int lock_fd = -EBADF;
        _cleanup_free_ char *dir = NULL, *target = NULL, *what = NULL;
        AttachOptions o = {
                .timeout_ms = ATTACH_TIMEOUT_MS_DEFAULT,
                .write_timeout_ms = ATTACH_WRITE_TIMEOUT_MS_DEFAULT,
                .root = arg_global.root,
        };
        Egpu *e = NULL;
        int r, attached = 0;

        if (lock_take_verbose(&lock_fd) < 0)
                return EXIT_PROBLEM;
        if (enrolled_load_verbose(&enrolled, &dir) < 0)
                return EXIT_PROBLEM;
        o.store_dir = dir;
        if (host_load_verbose(&enrolled, &udev, &h) < 0)
                return EXIT_PROBLEM;
        if (live_target(h, &enrolled, &target) < 0)
                return EXIT_PROBLEM;
        if (!arg_libvirt) {
                r = live_vm_new(arg_global.root, vmid, arg_qmp, &vm);
                if (r < 0)
                        return log_error_errno(r, "Failed to find the QMP socket of VM %s: %m", vmid),
                               EXIT_PROBLEM;
                /* The VM first: a VM that does not run leaves the host as it is. */
                if (!arg_global.dry_run && live_vm_check(&vm, &arg_live, &rep) < 0) {
                        report_print_error(&rep, "vm");
                        return EXIT_PROBLEM;
                }
        }
        if (plug) {
                /* Bound to vfio-pci first, if it is not: a person's attach. */
                attached = attach_by_person(udev, &enrolled, target, &o, &rep);
                if (attached < 0) {
                        report_print_error(&rep, "Failed to attach");
                        return EXIT_PROBLEM;
                }
                h = host_free(h);
                r = host_load_enrolled(udev, &enrolled, &h);
                if (r < 0)
                        return log_error_errno(r, "Failed to read the devices from sysfs: %m"), EXIT_PROBLEM;
        }
        r = attach_find_egpu(h, &enrolled, target, &e);
        if (r < 0 || !e) {
                report_print_error(&rep, "Failed to attach");
                if (!plug) {
                        printf("%s has no eGPU bound now; nothing to take out of the VM.\n", target);
                        return EXIT_OK;
                }
                return log_error("%s shows no eGPU after attaching it", target), EXIT_PROBLEM;
        }
        if (arg_libvirt) {
                report_print_error(&rep, "Failed to attach");
                return libvirt_live(e, plug);
        }
        if (arg_global.dry_run) {
                report_print_error(&rep, "Failed to attach");
                printf("would %s eGPU %s %s the VM at %s\n",
                       plug ? "plug" : "unplug",
                       e->gpu->bdf,
                       plug ? "into" : "out of",
                       vm.qmp_path);
                return EXIT_OK;
        }
        r = plug ? live_plug(e, &vm, &arg_live, &rep) : live_unplug(e, &vm, &arg_live, &rep);
        if (asprintf(&what, "Failed to %s eGPU %s", plug ? "plug" : "unplug", e->gpu->bdf) < 0)
                what = NULL;
        report_print_error(&rep, what ?: "vm");
        if (r < 0 && attached > 0) {
                /* the host as it was: what this call attached goes back */
                _cleanup_(report_done) Report undo = { .on_line = report_print_line };

                (void) detach_device(udev, &enrolled, target, &o, &undo);
                report_print_error(&undo, "Failed to detach again");
        }
        if (r >= 0 && !plug) {
                _cleanup_(report_done) Report after = { .on_line = report_print_line };

                printf("eGPU %s is free: its functions stay on vfio-pci for the next VM.\n", e->gpu->bdf);
                /* Back in D0, and resettable by the next VM's QEMU. */
                r = egpu_after_release(h, e, o.write_timeout_ms, &after);
                report_print_error(&after, "eGPU out of the VM");
        }
        return r < 0 ? EXIT_PROBLEM : EXIT_OK;
}

static int vm_xml(void) {
        _cleanup_(udev_unrefp) struct udev *udev = NULL;
        _cleanup_(host_freep) Host *h = NULL;
        Egpu *e = NULL;

        if (load_egpu(NULL, &udev, &h, &e) < 0)
                return EXIT_PROBLEM;
        return libvirt_hostdev_xml(stdout, e, -1) < 0 ? EXIT_PROBLEM : EXIT_OK;
}

enum {
        ARG_MAPPING = ARG_VERB_FIRST,
        ARG_GPU,
        ARG_NODE,
        ARG_QMP,
        ARG_LIBVIRT,
        ARG_TIMEOUT,
        ARG_LIVE,
        ARG_POOL
};

static int vm_option(int c, const char *arg, void *userdata) {
        uint32_t seconds;

        switch (c) {
        case ARG_MAPPING:
        case ARG_POOL:
                if (!proxmox_configid_is_valid(arg))
                        return usage_error(
                                "vm",
                                "--mapping: '%s' is not a mapping id (a letter, then at least one letter, "
                                "digit, "
                                "'-' or '_')",
                                arg);
                arg_mapping = arg;
                arg_pool = c == ARG_POOL;
                return 0;
        case ARG_GPU:
                arg_gpu = arg;
                return 0;
        case ARG_QMP:
                arg_qmp = arg;
                return 0;
        case ARG_LIBVIRT:
                arg_libvirt = arg;
                return 0;
        case ARG_LIVE:
                arg_attach_live = true;
                return 0;
        case ARG_TIMEOUT:
                if (safe_atou32(arg, 10, &seconds) < 0 || seconds == 0 || seconds > 600)
                        return usage_error("vm", "--timeout takes seconds, 1 to 600, not '%s'", arg);
                arg_live.unplug_timeout_ms = (int) seconds * 1000;
                return 0;
        default: /* ARG_NODE */
                arg_node = arg;
                return 0;
        }
}

int verb_vm(int argc, char *argv[]) {
        static const struct option options[] = {
                COMMON_OPTIONS,
                { "mapping", required_argument, NULL, ARG_MAPPING },
                { "gpu", required_argument, NULL, ARG_GPU },
                { "node", required_argument, NULL, ARG_NODE },
                { "qmp", required_argument, NULL, ARG_QMP },
                { "libvirt", required_argument, NULL, ARG_LIBVIRT },
                { "timeout", required_argument, NULL, ARG_TIMEOUT },
                { "live", no_argument, NULL, ARG_LIVE },
                { "pool", required_argument, NULL, ARG_POOL },
                {},
        };
        const char *cmd;
        int r, n;

        r = verb_parse("vm", argc, argv, options, vm_option, NULL);
        if (r != 0)
                return r < 0 ? EXIT_OK : r;
        cmd = argv[optind];
        n = argc - optind - 1;
        if (streq(cmd, "attach")) {
                if (n != 1)
                        return usage_error(
                                "vm",
                                "usage: egpuctl vm attach VMID [--live] [--mapping NAME | --pool NAME] "
                                "[--gpu "
                                "BDF]");
                if (!vmid_valid(argv[optind + 1]))
                        return usage_error("vm", "'%s' is not a VM id", argv[optind + 1]);
                if (arg_pool && (arg_attach_live || arg_gpu))
                        return usage_error(
                                "vm",
                                "--pool takes every enrolled eGPU present: no --live, no --gpu");
                return arg_attach_live ? vm_attach_live(argv[optind + 1]) : vm_attach(argv[optind + 1]);
        }
        if (streq(cmd, "hook")) {
                if (n != 2)
                        return usage_error("vm", "usage: egpuctl vm hook VMID PHASE");
                return vm_hook(argv[optind + 1], argv[optind + 2]);
        }
        if (streq(cmd, "plug") || streq(cmd, "unplug")) {
                if (n != 1)
                        return usage_error(
                                "vm",
                                "usage: egpuctl vm %s VMID [--gpu BDF] [--qmp SOCKET | --libvirt DOMAIN]",
                                cmd);
                if (!arg_qmp && !arg_libvirt && !vmid_valid(argv[optind + 1]))
                        return usage_error(
                                "vm",
                                "'%s' is not a VM id; name the VM's socket with --qmp",
                                argv[optind + 1]);
                return vm_live(argv[optind + 1], streq(cmd, "plug"));
        }
        if (streq(cmd, "xml")) {
                if (n != 0)
                        return usage_error("vm", "usage: egpuctl vm xml [--gpu BDF]");
                return vm_xml();
        }
        return usage_error("vm", "unknown command '%s'; usage: egpuctl vm attach|plug|unplug|hook|xml", cmd);
}

bool invoked_as_hookscript(const char *argv0) {
        return argv0 && streq(path_basename(argv0), "egpuctl-hook");
}

/* Proxmox runs a hookscript as "SCRIPT VMID PHASE". */
int verb_vm_hookscript(int argc, char *argv[]) {
        if (argc != 3)
                return usage_error("vm", "as a hookscript: egpuctl-hook VMID PHASE");
        return vm_hook(argv[1], argv[2]);
}
