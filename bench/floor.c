/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * bench-floor: the least work that `egpuctl status` has to do, as a baseline for its speed.
 *
 * Enumerates the pci and thunderbolt subsystems with libudev and reads, for each device, the
 * attributes that status reads, and nothing else: no model, no JSON, no sorting. Prints the
 * number of devices and of values read. run-status-bench compares egpuctl with this.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libudev.h>

static const char *const pci_attrs[] = {
        "vendor",          "device",       "subsystem_vendor",   "subsystem_device",   "class",
        "driver_override", "reset_method", "current_link_speed", "current_link_width", "max_link_speed",
        "max_link_width",  "removable",
};
static const char *const pci_links[] = { "driver", "iommu_group" };

static const char *const tb_attrs[] = {
        "security",
        "iommu_dma_protection",
        "deauthorization",
        "authorized",
        "vendor",
        "device",
        "vendor_name",
        "device_name",
        "unique_id",
        "generation",
        "rx_speed",
        "tx_speed",
        "rx_lanes",
        "tx_lanes",
        "boot",
};

#define ELEMENTSOF(a) (sizeof(a) / sizeof((a)[0]))

/* Adds up the bytes read so that the compiler cannot drop a read. */
static unsigned long sink;

static int scan(
        struct udev *udev,
        const char *subsystem,
        const char *const *attrs,
        size_t n_attrs,
        const char *const *links,
        size_t n_links,
        unsigned long *n_devices,
        unsigned long *n_values) {
        struct udev_enumerate *e = udev_enumerate_new(udev);
        if (!e)
                return -1;
        if (udev_enumerate_add_match_subsystem(e, subsystem) < 0 || udev_enumerate_scan_devices(e) < 0) {
                udev_enumerate_unref(e);
                return -1;
        }
        struct udev_list_entry *entry;
        udev_list_entry_foreach(entry, udev_enumerate_get_list_entry(e)) {
                const char *syspath = udev_list_entry_get_name(entry);
                struct udev_device *d = udev_device_new_from_syspath(udev, syspath);
                if (!d)
                        continue;
                (*n_devices)++;
                for (size_t i = 0; i < n_attrs; i++) {
                        const char *v = udev_device_get_sysattr_value(d, attrs[i]);
                        if (v) {
                                sink += strlen(v);
                                (*n_values)++;
                        }
                }
                for (size_t i = 0; i < n_links; i++) {
                        char path[PATH_MAX], target[PATH_MAX];
                        int r = snprintf(path, sizeof path, "%s/%s", syspath, links[i]);
                        if (r < 0 || (size_t) r >= sizeof path)
                                continue;
                        ssize_t l = readlink(path, target, sizeof target - 1);
                        if (l >= 0) {
                                target[l] = '\0';
                                sink += (unsigned long) l;
                                (*n_values)++;
                        }
                }
                udev_device_unref(d);
        }
        udev_enumerate_unref(e);
        return 0;
}

int main(void) {
        struct udev *udev = udev_new();
        if (!udev) {
                fprintf(stderr, "bench-floor: udev_new() failed\n");
                return 1;
        }
        unsigned long pci = 0, tb = 0, values = 0;
        int r =
                scan(udev,
                     "pci",
                     pci_attrs,
                     ELEMENTSOF(pci_attrs),
                     pci_links,
                     ELEMENTSOF(pci_links),
                     &pci,
                     &values);
        if (r >= 0)
                r = scan(udev, "thunderbolt", tb_attrs, ELEMENTSOF(tb_attrs), NULL, 0, &tb, &values);
        udev_unref(udev);
        if (r < 0) {
                fprintf(stderr, "bench-floor: enumeration failed\n");
                return 1;
        }
        printf("bench-floor: %lu pci devices, %lu thunderbolt devices, %lu values (%lu bytes)\n",
               pci,
               tb,
               values,
               sink);
        return 0;
}
