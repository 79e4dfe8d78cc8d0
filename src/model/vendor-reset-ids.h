/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdint.h>

#include "macro.h"
#include "pci-function.h"

/* The GPUs that the vendor-reset module (gnif/vendor-reset, out of tree, DKMS) gives a device-specific
 * reset: AMD GPUs without a working FLR (Polaris, Vega, Navi 1x, Arcturus). For these, a VM start needs
 * vendor-reset loaded and "device_specific" first in the function's reset_method. The list is
 * data/tables/vendor-reset-ids.table, upstream's src/device-db.h at the commit VENDOR_RESET_COMMIT. */

/* The upstream commit the list was taken from ("084881c6e9e1"). */
extern const char vendor_reset_commit[];

/* Whether vendor-reset's list at that commit has these ids. */
bool vendor_reset_supports(uint16_t vendor, uint16_t device) _pure_;

/* The family device-db.h files the id under ("Vega 10", "Navi 10", ...), NULL when it has no such id. */
const char *vendor_reset_family(uint16_t vendor, uint16_t device) _pure_;

typedef enum VendorResetSupport {
        VENDOR_RESET_NO,     /* not in the list, and the kernel offers no device-specific reset */
        VENDOR_RESET_LISTED, /* in the list; the running kernel does not say (vendor-reset not loaded, or the
                              * function was probed before it loaded) */
        VENDOR_RESET_OFFERED, /* vendor-reset is loaded and the kernel offers "device_specific" in the
                               * function's reset_method: the running system says vendor-reset handles it */
} VendorResetSupport;

/* Asks the running system before the list: with vendor_reset loaded, an AMD function (vendor 0x1002) whose
 * reset_method lists device_specific is handled by it. The kernel lists device_specific when its probe of
 * pci_dev_specific_reset() succeeds; its own table of such resets (drivers/pci/quirks.c,
 * pci_dev_reset_methods[]) has no 0x1002 entry, and vendor-reset hooks that function to answer for its
 * devices (src/hook.c). Otherwise the list decides. */
VendorResetSupport vendor_reset_support(const PciFunction *f, bool module_loaded) _pure_;
