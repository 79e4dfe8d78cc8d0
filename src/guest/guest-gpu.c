/* SPDX-License-Identifier: GPL-2.0-or-later */

#include <errno.h>
#include <libudev.h>
#include <stdlib.h>
#include <string.h>

#include "guest-gpu.h"
#include "guest-tables.h"
#include "macro.h"
#include "util.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(struct udev *, udev_unref);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct udev_enumerate *, udev_enumerate_unref);

static void guest_gpu_done(GuestGpu *g) {
        free(g->syspath);
        free(g->slot);
        free(g->driver);
        free(g->vendor_name);
        free(g->model);
        strv_free(g->render_nodes);
}

void guest_gpus_free(GuestGpu *gpus, size_t n) {
        if (!gpus)
                return;
        for (size_t i = 0; i < n; i++)
                guest_gpu_done(&gpus[i]);
        free(gpus);
}

static int parse_hex_attr(struct udev_device *d, const char *attr, unsigned long max, unsigned long *ret) {
        const char *s = udev_device_get_sysattr_value(d, attr);
        unsigned long v;
        char *end;

        if (!s)
                return -ENOENT;
        errno = 0;
        v = strtoul(s, &end, 16);
        if (errno != 0 || end == s || v > max)
                return -EINVAL;
        while (*end == '\n' || *end == ' ')
                end++;
        if (*end)
                return -EINVAL;
        *ret = v;
        return 0;
}

/* The drm render nodes that are children of the PCI function. */
static int find_render_nodes(struct udev *udev, struct udev_device *pci, char ***ret) {
        _cleanup_(udev_enumerate_unrefp) struct udev_enumerate *e = NULL;
        struct udev_list_entry *item;
        _cleanup_strv_free_ char **l = NULL;
        size_t n = 0, allocated = 1;
        int r;

        l = calloc(allocated, sizeof(char *));
        if (!l)
                return -ENOMEM;

        e = udev_enumerate_new(udev);
        if (!e)
                return -ENOMEM;
        if (udev_enumerate_add_match_subsystem(e, "drm") < 0 || udev_enumerate_add_match_parent(e, pci) < 0)
                return -ENOMEM;
        r = udev_enumerate_scan_devices(e);
        if (r < 0)
                return r;

        udev_list_entry_foreach(item, udev_enumerate_get_list_entry(e)) {
                const char *sysname = strrchr(udev_list_entry_get_name(item), '/');

                if (!sysname || !strneq(sysname + 1, "renderD", 7))
                        continue;
                r = strv_push(&l, &n, &allocated, strdup(sysname + 1));
                if (r < 0)
                        return r;
        }
        *ret = TAKE_PTR(l);
        return 0;
}

static int gpu_cmp(const void *a, const void *b) {
        const GuestGpu *x = a, *y = b;
        return strcmp(x->slot, y->slot);
}

int guest_gpus_enumerate(GuestGpu **ret, size_t *ret_n) {
        _cleanup_(udev_unrefp) struct udev *udev = NULL;
        _cleanup_(udev_enumerate_unrefp) struct udev_enumerate *e = NULL;
        struct udev_list_entry *item;
        GuestGpu *gpus = NULL;
        size_t n = 0, allocated = 0;
        int r;

        if (!ret || !ret_n)
                return -EINVAL;

        udev = udev_new();
        if (!udev)
                return -ENOMEM;
        e = udev_enumerate_new(udev);
        if (!e)
                return -ENOMEM;
        if (udev_enumerate_add_match_subsystem(e, "pci") < 0)
                return -ENOMEM;
        r = udev_enumerate_scan_devices(e);
        if (r < 0)
                return r;

        udev_list_entry_foreach(item, udev_enumerate_get_list_entry(e)) {
                struct udev_device *d = udev_device_new_from_syspath(udev, udev_list_entry_get_name(item));
                unsigned long class, vendor, device, revision;
                const char *s;
                bool oom = false;
                GuestGpu *g;

                if (!d)
                        continue;
                if (parse_hex_attr(d, "class", 0xffffff, &class) < 0 || (class >> 16) != 0x03 ||
                    parse_hex_attr(d, "vendor", 0xffff, &vendor) < 0 ||
                    parse_hex_attr(d, "device", 0xffff, &device) < 0) {
                        udev_device_unref(d);
                        continue;
                }

                if (ARRAY_RESERVE(gpus, allocated, n + 1) < 0) {
                        udev_device_unref(d);
                        r = -ENOMEM;
                        goto fail;
                }
                g = &gpus[n++];
                *g = (GuestGpu){
                        .vendor = (uint16_t) vendor,
                        .device = (uint16_t) device,
                        .class = (uint32_t) class,
                        .revision =
                                parse_hex_attr(d, "revision", 0xff, &revision) >= 0 ? (int) revision : -1,
                        .emulated = pci_vendor_is_emulated_display((uint16_t) vendor),
                };
                g->syspath = strdup(udev_device_get_syspath(d));
                g->slot = strdup(udev_device_get_sysname(d));
                if ((s = udev_device_get_driver(d)))
                        g->driver = strdup(s);
                /* The names udev's hwdb gives the ids, as lspci shows them. */
                if ((s = udev_device_get_property_value(d, "ID_VENDOR_FROM_DATABASE")) && *s &&
                    !(g->vendor_name = strdup(s)))
                        oom = true;
                if ((s = udev_device_get_property_value(d, "ID_MODEL_FROM_DATABASE")) && *s &&
                    !(g->model = strdup(s)))
                        oom = true;
                if (!g->syspath || !g->slot || (udev_device_get_driver(d) && !g->driver) || oom) {
                        udev_device_unref(d);
                        r = -ENOMEM;
                        goto fail;
                }
                r = find_render_nodes(udev, d, &g->render_nodes);
                udev_device_unref(d);
                if (r < 0)
                        goto fail;
        }

        if (n > 1)
                qsort(gpus, n, sizeof(GuestGpu), gpu_cmp);
        *ret = gpus;
        *ret_n = n;
        return 0;

fail:
        guest_gpus_free(gpus, n);
        return r;
}

const GuestGpu *guest_gpus_pick(const GuestGpu *gpus, size_t n) {
        const GuestGpu *first = NULL;

        for (size_t i = 0; i < n; i++) {
                if (gpus[i].emulated)
                        continue;
                if (gpus[i].driver)
                        return &gpus[i];
                if (!first)
                        first = &gpus[i];
        }
        return first;
}
