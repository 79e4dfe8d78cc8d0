/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The display-class (0x03) PCI functions that a VM guest sees, found with libudev (so that tests can
 * run them under umockdev). */

typedef struct GuestGpu {
        char *syspath;
        char *slot; /* "0000:01:00.0" */
        uint16_t vendor;
        uint16_t device;
        int revision;      /* -1 when unknown */
        uint32_t class;    /* 0x030000 */
        char *driver;      /* bound kernel driver, NULL when none */
        char *vendor_name; /* udev's hwdb, as lspci names it (ID_VENDOR_FROM_DATABASE), NULL when unknown */
        char *model;       /* ID_MODEL_FROM_DATABASE, NULL when unknown */
        bool emulated;     /* the hypervisor's own display (QEMU VGA, virtio-gpu, ...) */
        char **render_nodes; /* DRM render nodes of the function: "renderD128"; NULL-terminated, may be empty
                              */
} GuestGpu;

void guest_gpus_free(GuestGpu *gpus, size_t n);

/* Every PCI function of class 0x03, in PCI address order. */
int guest_gpus_enumerate(GuestGpu **ret, size_t *ret_n);

/* The passed-through GPU: the first function that is not emulated (one with a driver bound first);
 * NULL when there is none. */
const GuestGpu *guest_gpus_pick(const GuestGpu *gpus, size_t n);
