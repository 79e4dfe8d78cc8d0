/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <getopt.h>
#include <sys/stat.h>

#include "egpuctl.h"
#include "file-diff.h"
#include "install.h"
#include "netif.h"
#include "output.h"
#include "sysfs.h"
#include "util.h"

static void print_strv(char **l, bool warning) {
        STRV_FOREACH(s, l)
                log_printable(warning ? LOG_WARNING : LOG_ERR, *s);
}

static int write_plan(const NicPinPlan *p) {
        _cleanup_free_ char *ipath = path_under_root(arg_global.root, INTERFACES_PATH),
                            *bpath = path_under_root(arg_global.root, INTERFACES_BACKUP_PATH);
        int r;

        if (!ipath || !bpath)
                return -ENOMEM;
        FOREACH_ARRAY(l, p->links, p->n_links) {
                _cleanup_free_ char *full = path_under_root(arg_global.root, l->path);

                if (!full)
                        return -ENOMEM;
                r = install_mkdir_parents(full);
                if (r < 0)
                        return r;
                r = install_write_atomic(full, l->text, 0644);
                if (r < 0)
                        return r;
                printf("wrote      %s\n", l->path);
        }
        if (p->interfaces_new) {
                struct stat st;
                mode_t mode = stat(ipath, &st) >= 0 ? st.st_mode & 07777 : 0644;

                /* The backup first: the file as it was before this change. */
                r = install_write_atomic(bpath, p->interfaces_old, mode);
                if (r < 0)
                        return r;
                printf("wrote      %s\n", INTERFACES_BACKUP_PATH);
                r = install_write_atomic(ipath, p->interfaces_new, mode);
                if (r < 0)
                        return r;
                printf("updated    %s\n", INTERFACES_PATH);
        }
        return 0;
}

static int nic_pin(void) {
        _cleanup_(udev_unrefp) struct udev *udev = NULL;
        _cleanup_(nic_list_done) NicList nics = {};
        _cleanup_(nic_pin_plan_done) NicPinPlan plan = {};
        int r;

        udev = udev_new();
        if (!udev) {
                log_error("Failed to create a udev context: %m");
                return EXIT_PROBLEM;
        }
        r = nic_list_load(udev, &nics);
        if (r < 0)
                return log_error_errno(r, "Failed to list the network interfaces: %m"), EXIT_PROBLEM;
        r = nic_pin_plan(&nics, arg_global.root, &plan);
        if (r < 0)
                return log_error_errno(r, "Failed to plan the NIC pinning: %m"), EXIT_PROBLEM;

        for (size_t i = 0; i < plan.map.n; i++) {
                char *a = printable(plan.map.old_names[i]), *b = printable(plan.map.new_names[i]);
                printf("%s -> %s\n", a, b);
                printable_free(a);
                printable_free(b);
        }
        print_strv(plan.notes, true);
        if (plan.problems) {
                print_strv(plan.problems, false);
                log_error(
                        "Refusing to pin: the host would lose its management network. Nothing was written.");
                return EXIT_PROBLEM;
        }
        if (plan.n_links == 0 && !plan.interfaces_new) {
                printf("Nothing to change: every NIC named after its PCI path is pinned, and %s uses the "
                       "pinned names.\n",
                       INTERFACES_PATH);
                return EXIT_OK;
        }
        if (arg_global.dry_run) {
                FOREACH_ARRAY(l, plan.links, plan.n_links) {
                        _cleanup_free_ char *b = NULL;
                        if (asprintf(&b, "b%s", l->path) >= 0)
                                (void) diff_unified(stdout, b, NULL, b, l->text);
                }
                if (plan.interfaces_new)
                        (void) diff_unified(
                                stdout,
                                "a" INTERFACES_PATH,
                                plan.interfaces_old,
                                "b" INTERFACES_PATH,
                                plan.interfaces_new);
                printf("--dry-run: nothing was written.\n");
                return EXIT_OK;
        }
        r = write_plan(&plan);
        if (r < 0)
                return log_error_errno(r, "Failed to write the pinning: %m"), EXIT_PROBLEM;
        printf("The new names apply from the next boot: run update-initramfs -u (the initramfs carries the\n"
               ".link files), then reboot.\n");
        return EXIT_OK;
}

int verb_nic(int argc, char *argv[]) {
        static const struct option options[] = { COMMON_OPTIONS, {} };
        int r;

        r = verb_parse("nic", argc, argv, options, NULL, NULL);
        if (r != 0)
                return r < 0 ? EXIT_OK : r;
        if (streq(argv[optind], "pin"))
                return nic_pin();
        return usage_error("nic", "unknown command '%s'; usage: egpuctl nic pin", argv[optind]);
}
