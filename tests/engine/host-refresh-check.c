/* SPDX-License-Identifier: GPL-2.0-or-later */
/* host-refresh-check COMMAND [ARG]...: host_refresh() against host_load(), on the simulated kernel.
 *
 * Loads the host, runs COMMAND (which plugs, authorizes or unplugs something) and, until the events have
 * been quiet for 300 ms (at most 10 s), brings the snapshot up to date with host_refresh() and the devices
 * of each batch of uevents, as attach does. Then it loads the host again from scratch and compares the two
 * field by field: the attach that refreshes must see what a full read sees. A copy of the refreshed
 * snapshot (host_dup(), what the daemon hands each attach) must be the same again, and stay so once the
 * snapshot it was made from is gone. Prints the descriptions when they differ. Exit status: 0 when they
 * agree, 1 when they differ, 2 on errors. */

#include <libudev.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "event.h"
#include "host.h"
#include "sysfs.h"
#include "time-util.h"
#include "util.h"

static void describe(const Host *h, FILE *f) {
        FOREACH_ARRAY(d, h->domains, h->n_domains)
                fprintf(f, "domain %s nhi=%s\n", (*d)->name, strna((*d)->nhi_bdf));
        FOREACH_ARRAY(t, h->tb_devices, h->n_tb_devices)
                fprintf(f,
                        "router %s authorized=%d unique_id=%s names=%s/%s parent=%s domain=%s\n",
                        (*t)->name,
                        (*t)->authorized,
                        strna((*t)->unique_id),
                        (*t)->vendor_name,
                        (*t)->device_name,
                        (*t)->parent ? (*t)->parent->name : "-",
                        (*t)->domain ? (*t)->domain->name : "-");
        FOREACH_ARRAY(p, h->pci, h->n_pci) {
                fprintf(f,
                        "pci %s %04x:%04x class=%06x driver=%s group=%d parent=%s link=%s power=%d reset=",
                        (*p)->bdf,
                        (*p)->vendor,
                        (*p)->device,
                        (*p)->class,
                        strna((*p)->driver),
                        (*p)->iommu_group,
                        (*p)->parent ? (*p)->parent->bdf : "-",
                        strna((*p)->current_link_speed),
                        (int) (*p)->power_state);
                STRV_FOREACH(m, (*p)->reset_methods)
                        fprintf(f, "%s,", *m);
                fputc('\n', f);
        }
        FOREACH_ARRAY(g, h->groups, h->n_groups) {
                fprintf(f, "group %d:", (*g)->id);
                FOREACH_ARRAY(m, (*g)->members, (*g)->n_members)
                        fprintf(f, " %s", (*m)->bdf);
                fputc('\n', f);
        }
        FOREACH_ARRAY(e, h->egpus, h->n_egpus) {
                fprintf(f,
                        "egpu %s router=%s viable=%d isolated=%d groups=%zu:",
                        (*e)->gpu->bdf,
                        (*e)->tb_device ? (*e)->tb_device->name : "-",
                        (*e)->groups_viable,
                        (*e)->groups_isolated,
                        (*e)->n_groups);
                FOREACH_ARRAY(x, (*e)->functions, (*e)->n_functions)
                        fprintf(f, " %s", (*x)->bdf);
                fputc('\n', f);
        }
}

static char *description(const Host *h) {
        char *buf = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&buf, &size);

        if (!f)
                return NULL;
        describe(h, f);
        if (fclose(f) != 0)
                return mfree(buf);
        return buf;
}

/* Drains the monitor into *syspaths. Returns how many events came. */
static int drain(struct udev_monitor *m, char ***syspaths) {
        int n = 0;

        for (struct udev_device *d; (d = udev_monitor_receive_device(m)); udev_device_unref(d)) {
                const char *s = udev_device_get_syspath(d);

                n++;
                if (s && !strv_contains(*syspaths, s) && strv_extend(syspaths, s) < 0)
                        exit(2);
        }
        return n;
}

int main(int argc, char **argv) {
        _cleanup_(udev_unrefp) struct udev *udev = udev_new();
        _cleanup_(udev_monitor_unrefp) struct udev_monitor *m = NULL;
        _cleanup_(host_freep) Host *h = NULL, *full = NULL, *copy = NULL;
        _cleanup_free_ char *a = NULL, *b = NULL, *c = NULL;
        uint64_t deadline = now_usec() + 10 * USEC_PER_SEC;
        unsigned batches = 0;
        int status;
        pid_t pid;

        if (argc < 2) {
                fprintf(stderr, "usage: host-refresh-check COMMAND [ARG]...\n");
                return 2;
        }
        if (!udev || event_uevent_monitor_open(udev, &m) < 0 || host_load(udev, &h) < 0) {
                fprintf(stderr, "host-refresh-check: cannot read the host\n");
                return 2;
        }
        pid = fork();
        if (pid < 0)
                return 2;
        if (pid == 0) {
                execvp(argv[1], argv + 1);
                _exit(127);
        }
        if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                fprintf(stderr, "host-refresh-check: %s failed\n", argv[1]);
                return 2;
        }
        while (now_usec() < deadline) {
                struct pollfd p = { .fd = udev_monitor_get_fd(m), .events = POLLIN };
                _cleanup_strv_free_ char **changed = NULL;

                if (poll(&p, 1, 300) <= 0)
                        break; /* quiet for 300 ms */
                if (drain(m, &changed) == 0)
                        continue;
                batches++;
                if (host_refresh(h, udev, changed, NULL, 0) < 0) {
                        fprintf(stderr, "host-refresh-check: host_refresh() failed\n");
                        return 2;
                }
        }
        if (host_load(udev, &full) < 0 || host_dup(h, NULL, 0, &copy) < 0)
                return 2;
        a = description(h);
        h = host_free(h); /* the copy shares nothing with it */
        b = description(full);
        c = description(copy);
        if (!a || !b || !c)
                return 2;
        if (batches == 0) {
                fprintf(stderr, "host-refresh-check: no event came: the test tests nothing\n");
                return 1;
        }
        if (!streq(a, b)) {
                printf("refreshed (%u batches):\n%s\nread again:\n%s", batches, a, b);
                return 1;
        }
        if (!streq(a, c)) {
                printf("refreshed:\n%s\nits copy:\n%s", a, c);
                return 1;
        }
        printf("refreshed in %u batches, as read again:\n%s", batches, a);
        return 0;
}
