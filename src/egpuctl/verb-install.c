/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <getopt.h>

#include "config.h"
#include "egpuctl.h"
#include "file-diff.h"
#include "host.h"
#include "install-config.h"
#include "install.h"
#include "output.h"
#include "spawn-util.h"
#include "sysfs.h"

static bool root_is_host(void) {
        return !*arg_global.root || streq(arg_global.root, "/");
}

/* Runs a program to make the system pick the new files up; a failure is reported, not fatal. */
static bool run_step(char *const argv[]) {
        int status = 0, r;

        log_info(
                "Running %s %s%s%s",
                argv[0],
                argv[1] ?: "",
                argv[1] && argv[2] ? " " : "",
                argv[1] ? argv[2] ?: "" : "");
        r = spawn_run(argv, 30ULL * 60 * 1000000, &status, NULL);
        if (r < 0)
                return log_error_errno(r, "Failed to run %s: %m", argv[0]), false;
        if (status != 0) {
                log_error("%s exited with status %d", argv[0], status);
                return false;
        }
        return true;
}

static void print_results(const InstallResult *res, size_t n, bool uninstall) {
        size_t changed = 0;

        if (arg_global.json) {
                _cleanup_(json_object_putp) json_object *a = json_object_new_array();

                if (!a)
                        return;
                for (size_t i = 0; i < n; i++) {
                        json_object *o = json_object_new_object();
                        if (!o)
                                continue;
                        json_object_object_add(o, "path", json_string_or_null(res[i].path));
                        json_object_object_add(
                                o,
                                "action",
                                json_string_or_null(install_action_to_string(res[i].action)));
                        json_object_object_add(
                                o,
                                "changes",
                                json_object_new_boolean(install_action_changes(res[i].action)));
                        json_object_array_add(a, o);
                }
                json_print(a);
                return;
        }
        for (size_t i = 0; i < n; i++) {
                const InstallResult *x = &res[i];
                char *p = printable(x->path);

                if (install_action_changes(x->action))
                        changed++;
                if (arg_global.dry_run && install_action_changes(x->action)) {
                        if (x->kind == INSTALL_LINK) {
                                char *o = printable(x->old_text), *t = printable(x->new_text);
                                printf("%s: link %s%s-> %s\n",
                                       p,
                                       x->old_text ? o : "",
                                       x->old_text ? " " : "",
                                       x->new_text ? t : "(removed)");
                                printable_free(o);
                                printable_free(t);
                        } else {
                                _cleanup_free_ char *a = NULL, *b = NULL;
                                if (asprintf(&a, "a%s", x->path) >= 0 && asprintf(&b, "b%s", x->path) >= 0)
                                        (void) diff_unified(stdout, a, x->old_text, b, x->new_text);
                        }
                } else if (x->action != INSTALL_UNCHANGED || !arg_global.dry_run)
                        printf("%-10s %s\n",
                               x->action == INSTALL_UNCHANGED ? "unchanged"
                                       : arg_global.dry_run   ? "would keep"
                                                              : install_action_to_string(x->action),
                               p);
                if (IN_SET(x->action, INSTALL_KEEP_EDITED, INSTALL_KEEP_FOREIGN))
                        log_warning("%s: %s", p, install_action_to_string(x->action));
                printable_free(p);
        }
        if (changed == 0)
                printf("Nothing to change: %s.\n",
                       uninstall ? "nothing of egpuctl's is installed" : "everything is installed");
        else if (arg_global.dry_run)
                printf("--dry-run: %zu file(s) would change; nothing was written.\n", changed);
}

static int run(const char *name, int argc, char *argv[], bool uninstall) {
        _cleanup_(udev_unrefp) struct udev *udev = NULL;
        _cleanup_(host_freep) Host *h = NULL;
        _cleanup_(install_config_done) InstallConfig cfg = {};
        _cleanup_(egpu_list_done) EgpuList sel = {};
        _cleanup_(enrolled_done) Enrolled enrolled = {};
        InstallResult *res = NULL;
        size_t n_res = 0, changed = 0;
        bool apply = false, ok = true;
        int r;

        r = verb_parse_flag(name, argc, argv, "apply", &apply);
        if (r != 0)
                return r < 0 ? EXIT_OK : r;
        if (apply && !root_is_host())
                return usage_error(
                        name,
                        "--apply acts on the running system and cannot be used with --root");
        if (!root_is_host() && access(arg_global.root, F_OK) < 0) {
                log_error("--root %s: %m", arg_global.root);
                return EXIT_PROBLEM;
        }
        if (apply && arg_global.dry_run)
                return usage_error(name, "--apply and --dry-run exclude each other");

        if (!uninstall) {
                /* The store once: it says which PCIe slots hold eGPUs, and which eGPUs to configure. */
                r = enrolled_load_verbose(&enrolled, NULL);
                if (r < 0)
                        return EXIT_PROBLEM;
                if (host_load_verbose(&enrolled, &udev, &h) < 0)
                        return EXIT_PROBLEM;
                r = install_select_enrolled(h, enrolled.list, enrolled.n, &sel);
                if (r < 0)
                        return log_error_errno(r, "Failed to select the enrolled eGPUs: %m"), EXIT_PROBLEM;
                r = install_config_build(&sel, arg_global.root, EGPUCTL_SBINDIR, &cfg);
                if (r < 0)
                        return log_error_errno(r, "Failed to generate the configuration: %m"), EXIT_PROBLEM;
        }

        r = install_apply(
                arg_global.root,
                cfg.items,
                cfg.n_items,
                uninstall,
                arg_global.dry_run,
                &res,
                &n_res);
        if (r < 0)
                return log_error_errno(r, "Failed to %s: %m", name), EXIT_PROBLEM;
        print_results(res, n_res, uninstall);
        for (size_t i = 0; i < n_res; i++)
                if (install_action_changes(res[i].action))
                        changed++;
        install_results_free(res, n_res);
        STRV_FOREACH(note, cfg.notes)
                log_warning("%s", *note);

        if (arg_global.dry_run || changed == 0)
                return EXIT_OK;
        if (!apply) {
                if (!arg_global.json)
                        printf("Next: systemctl daemon-reload; udevadm control --reload; update-initramfs "
                               "-u -k all\n"
                               "(or run egpuctl %s --apply), so that early boot uses the module order "
                               "too.\n",
                               name);
                return EXIT_OK;
        }
        ok = run_step((char *[]){ (char *) "systemctl", (char *) "daemon-reload", NULL }) && ok;
        ok = run_step((char *[]){ (char *) "udevadm", (char *) "control", (char *) "--reload", NULL }) && ok;
        ok = run_step((char *[]){ (char *) "update-initramfs",
                                  (char *) "-u",
                                  (char *) "-k",
                                  (char *) "all",
                                  NULL }) &&
                ok;
        return ok ? EXIT_OK : EXIT_PROBLEM;
}

int verb_install(int argc, char *argv[]) {
        return run("install", argc, argv, false);
}

int verb_uninstall(int argc, char *argv[]) {
        return run("uninstall", argc, argv, true);
}
