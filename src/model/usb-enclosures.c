/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "egpu-name-hints-table.h"
#include "usb-egpu-enclosures-table.h"
#include "usb-egpu-makers-table.h"
#include "usb-enclosures.h"

typedef struct EnclosureId {
        uint16_t vendor, product;
        const char *maker, *model;
} EnclosureId;

typedef struct Maker {
        uint16_t vendor;
        const char *maker;
} Maker;

typedef struct NameHint {
        const char *word, *vendor;
} NameHint;

/* Generated from data/tables/, each row with its source there. */
static const EnclosureId enclosures[] = { USB_EGPU_ENCLOSURES_TABLE };
static const Maker makers[] = { USB_EGPU_MAKERS_TABLE };
static const NameHint hints[] = { EGPU_NAME_HINTS_TABLE };

const char *usb_egpu_maker(uint16_t vendor) {
        FOREACH_ARRAY(m, makers, ELEMENTSOF(makers))
                if (m->vendor == vendor)
                        return m->maker;
        return NULL;
}

bool egpu_name_says_enclosure(const char *vendor_name, const char *name) {
        if (!name)
                return false;
        FOREACH_ARRAY(h, hints, ELEMENTSOF(hints)) {
                if (!strcasestr(name, h->word))
                        continue;
                if (!*h->vendor || (vendor_name && strcasestr(vendor_name, h->vendor)))
                        return true;
        }
        return false;
}

bool usb_egpu_enclosure(
        uint16_t vendor,
        uint16_t product,
        const char *manufacturer,
        const char *product_name,
        UsbEnclosure *ret) {
        const char *maker = usb_egpu_maker(vendor);

        FOREACH_ARRAY(e, enclosures, ELEMENTSOF(enclosures))
                if (e->vendor == vendor && e->product == product) {
                        if (ret)
                                *ret = (UsbEnclosure){ .maker = e->maker, .model = e->model };
                        return true;
                }
        /* A hint tied to a vendor matches the device's manufacturer string or, failing that, its maker. */
        if (!egpu_name_says_enclosure(manufacturer, product_name) &&
            !(maker && egpu_name_says_enclosure(maker, product_name)))
                return false;
        if (ret)
                *ret = (UsbEnclosure){ .maker = maker };
        return true;
}

int usb_egpu_enclosure_describe(
        const UsbEnclosure *e,
        const char *manufacturer,
        const char *product_name,
        char **ret) {
        int k;

        if (e->model)
                k = asprintf(ret, "%s %s", e->maker, e->model);
        else if (e->maker)
                k = asprintf(
                        ret,
                        "a device from an eGPU maker (%s) that calls itself \"%s\"",
                        e->maker,
                        strna(product_name));
        else
                k = asprintf(
                        ret,
                        "a USB device by \"%s\" that calls itself \"%s\"",
                        strna(manufacturer),
                        strna(product_name));
        return k < 0 ? -ENOMEM : 0;
}
