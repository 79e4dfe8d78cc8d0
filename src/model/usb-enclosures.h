/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdint.h>

#include "macro.h"

/* eGPU enclosures as the devices show themselves: a USB device of the enclosure's own (on a USB-only cable,
 * or behind the tunnel), a Thunderbolt router (on a Thunderbolt cable). egpuctl names a model only for ids
 * with a source (data/tables/usb-egpu-enclosures.table); otherwise it goes by the device's own name
 * (egpu-name-hints.table) and says whose device it is (usb-egpu-makers.table). Used to tell "the enclosure
 * is plugged in with a USB-C cable" from "nothing is there". */

typedef struct UsbEnclosure {
        const char *maker; /* "Razer": from the tables, NULL when the vendor is not a known eGPU maker */
        const char *model; /* "Core X Chroma": only for ids with a source, NULL otherwise */
} UsbEnclosure;

/* Whether the USB device with these ids and these strings of its own (manufacturer, product; either may be
 * NULL) is an eGPU enclosure: its ids are an enclosure's with a source, or its product name carries a hint
 * (egpu_name_says_enclosure()). The maker and model egpuctl knows go to *ret (may be NULL). */
bool usb_egpu_enclosure(
        uint16_t vendor,
        uint16_t product,
        const char *manufacturer,
        const char *product_name,
        UsbEnclosure *ret);

/* The maker of eGPU enclosures with this USB vendor id, NULL when not in the table. */
const char *usb_egpu_maker(uint16_t vendor) _pure_;

/* Whether a device's own name says it is an eGPU enclosure: it holds one of the hint words, any case, and a
 * hint tied to a vendor also needs that vendor in vendor_name (may be NULL). */
bool egpu_name_says_enclosure(const char *vendor_name, const char *name) _pure_;

/* One line for a USB enclosure: "Razer Core X Chroma" for a sourced id; otherwise "a device from an eGPU
 * maker (Blackmagic Design) that calls itself "eGPU Pro"", or "a USB device that calls itself ..." when the
 * maker is not known either. */
int usb_egpu_enclosure_describe(
        const UsbEnclosure *e,
        const char *manufacturer,
        const char *product_name,
        char **ret);
