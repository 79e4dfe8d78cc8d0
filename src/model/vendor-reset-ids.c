/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "vendor-reset-ids-table.h"
#include "vendor-reset-ids.h"

#define PCI_VENDOR_ID_ATI 0x1002

typedef struct VendorResetId {
        uint16_t vendor, device;
        const char *family;
} VendorResetId;

/* Generated from data/tables/vendor-reset-ids.table, where each id has its line of device-db.h. */
static const VendorResetId vendor_reset_ids[] = { VENDOR_RESET_IDS_TABLE };

const char vendor_reset_commit[] = VENDOR_RESET_IDS_COMMIT;

const char *vendor_reset_family(uint16_t vendor, uint16_t device) {
        FOREACH_ARRAY(i, vendor_reset_ids, ELEMENTSOF(vendor_reset_ids))
                if (i->vendor == vendor && i->device == device)
                        return i->family;
        return NULL;
}

bool vendor_reset_supports(uint16_t vendor, uint16_t device) {
        return vendor_reset_family(vendor, device) != NULL;
}

VendorResetSupport vendor_reset_support(const PciFunction *f, bool module_loaded) {
        if (module_loaded && f->vendor == PCI_VENDOR_ID_ATI &&
            pci_function_has_reset_method(f, "device_specific"))
                return VENDOR_RESET_OFFERED;
        if (f->vendor <= UINT16_MAX && f->device <= UINT16_MAX &&
            vendor_reset_supports((uint16_t) f->vendor, (uint16_t) f->device))
                return VENDOR_RESET_LISTED;
        return VENDOR_RESET_NO;
}
