/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "vendor-reset-ids.h"

/* The device table of vendor-reset, src/device-db.h of https://github.com/gnif/vendor-reset: the ids and
 * the family each belongs to, taken as facts (no code copied). Two revisions of that file were compared:
 * commit ca6a270487f3 and commit 03e525d31ed2. Ids present in only one of them are marked; both are kept,
 * since a user may run either (the reset_method check shows what the loaded module really handles). */

#define PCI_VENDOR_ID_ATI 0x1002

typedef struct VendorResetId {
        uint16_t device;
        const char *family;
} VendorResetId;

static const VendorResetId vendor_reset_ids[] = {
        /* Polaris 10 */
        { 0x67c0, "Polaris 10" },
        { 0x67c1, "Polaris 10" },
        { 0x67c2, "Polaris 10" },
        { 0x67c4, "Polaris 10" },
        { 0x67c7, "Polaris 10" },
        { 0x67d0, "Polaris 10" },
        { 0x67df, "Polaris 10" },
        { 0x67c8, "Polaris 10" },
        { 0x67c9, "Polaris 10" },
        { 0x67ca, "Polaris 10" },
        { 0x67cc, "Polaris 10" },
        { 0x67cf, "Polaris 10" },
        { 0x6fdf, "Polaris 10" },
        /* Polaris 11 */
        { 0x67e0, "Polaris 11" },
        { 0x67e3, "Polaris 11" },
        { 0x67e8, "Polaris 11" },
        { 0x67eb, "Polaris 11" },
        { 0x67ef, "Polaris 11" },
        { 0x67ff, "Polaris 11" },
        { 0x67e1, "Polaris 11" },
        { 0x67e7, "Polaris 11" },
        { 0x67e9, "Polaris 11" },
        /* Polaris 12 */
        { 0x6980, "Polaris 12" },
        { 0x6981, "Polaris 12" },
        { 0x6985, "Polaris 12" },
        { 0x6986, "Polaris 12" },
        { 0x6987, "Polaris 12" },
        { 0x6995, "Polaris 12" },
        { 0x6997, "Polaris 12" },
        { 0x699f, "Polaris 12" },
        /* Vega 10 (0x687f: Radeon RX Vega 56/64, the seed's GPU) */
        { 0x6860, "Vega 10" },
        { 0x6861, "Vega 10" },
        { 0x6862, "Vega 10" },
        { 0x6863, "Vega 10" },
        { 0x6864, "Vega 10" },
        { 0x6867, "Vega 10" },
        { 0x6868, "Vega 10" },
        { 0x6869, "Vega 10" },
        { 0x686a, "Vega 10" },
        { 0x686b, "Vega 10" },
        { 0x686c, "Vega 10" },
        { 0x686d, "Vega 10" },
        { 0x686e, "Vega 10" },
        { 0x686f, "Vega 10" },
        { 0x687f, "Vega 10" },
        /* Vega 20 */
        { 0x66a0, "Vega 20" },
        { 0x66a1, "Vega 20" },
        { 0x66a2, "Vega 20" },
        { 0x66a3, "Vega 20" },
        { 0x66a4, "Vega 20" },
        { 0x66a7, "Vega 20" },
        { 0x66af, "Vega 20" },
        /* Arcturus (Instinct MI100), reset as Vega 20 */
        { 0x738c, "Arcturus" },
        /* Navi 10 */
        { 0x7310, "Navi 10" },
        { 0x7312, "Navi 10" },
        { 0x7318, "Navi 10" },
        { 0x7319, "Navi 10" },
        { 0x731a, "Navi 10" },
        { 0x731b, "Navi 10" },
        { 0x731e, "Navi 10" },
        { 0x731f, "Navi 10" },
        { 0x1681, "Navi 10" }, /* only in ca6a270487f3 */
        /* only in 03e525d31ed2, listed under Navi 10 there */
        { 0x15bf, "Navi 10" },
        { 0x15dd, "Navi 10" },
        { 0x15de, "Navi 10" },
        { 0x15e7, "Navi 10" },
        { 0x1636, "Navi 10" },
        { 0x1638, "Navi 10" },
        { 0x164c, "Navi 10" },
        /* Navi 14 */
        { 0x7340, "Navi 14" },
        { 0x7341, "Navi 14" },
        { 0x7347, "Navi 14" },
        { 0x734f, "Navi 14" },
        /* Navi 12 */
        { 0x7360, "Navi 12" },
        { 0x7362, "Navi 12" },
        /* Navi 23 (Radeon RX 6600/6600 XT), only in 03e525d31ed2 */
        { 0x73ff, "Navi 23" },
};

const char *vendor_reset_family(uint16_t vendor, uint16_t device) {
        if (vendor != PCI_VENDOR_ID_ATI)
                return NULL;
        FOREACH_ARRAY(i, vendor_reset_ids, ELEMENTSOF(vendor_reset_ids))
                if (i->device == device)
                        return i->family;
        return NULL;
}

bool vendor_reset_supports(uint16_t vendor, uint16_t device) {
        return vendor_reset_family(vendor, device) != NULL;
}
