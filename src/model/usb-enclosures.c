/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <strings.h>

#include "usb-enclosures.h"

/* Sources:
 *   Blackmagic eGPU Pro: USB 1edb:be55 "eGPU Pro" by "Blackmagic Design" seen over a USB-C-only cable, and
 *   Thunderbolt vendor 0x4 device 0xa153 over a Thunderbolt cable ("thunderbolt 1-1: new device found,
 *   vendor=0x4 device=0xa153"): the TB4 eGPU passthrough guide this program replaces (Phase 2 and 3).
 *   1edb is Blackmagic Design's USB vendor id (usb.ids).
 * Only ids seen on real hardware belong here; the name hint covers the rest. */
static const EgpuEnclosure enclosures[] = {
        { 0x1edb, 0xbe55, 0x0004, 0xa153, "Blackmagic Design", "eGPU Pro" },
};

const EgpuEnclosure *egpu_enclosure_by_usb(uint16_t vendor, uint16_t product) {
        FOREACH_ARRAY(e, enclosures, ELEMENTSOF(enclosures))
                if (e->usb_vendor != 0 && e->usb_vendor == vendor && e->usb_product == product)
                        return e;
        return NULL;
}

const EgpuEnclosure *egpu_enclosure_by_tb(uint32_t vendor, uint32_t device) {
        FOREACH_ARRAY(e, enclosures, ELEMENTSOF(enclosures))
                if (e->tb_vendor != 0 && e->tb_vendor == vendor && e->tb_device == device)
                        return e;
        return NULL;
}

bool egpu_name_hint(const char *name) {
        if (!name)
                return false;
        for (const char *p = name; *p; p++)
                if (strncasecmp(p, "egpu", 4) == 0)
                        return true;
        return false;
}
