/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdint.h>

#include "macro.h"

/* eGPU enclosures, known by the ids their controllers show when the cable carries USB only, or by their
 * Thunderbolt ids. Used to tell "the enclosure is plugged in with a USB-C cable" from "nothing is there". */
typedef struct EgpuEnclosure {
        uint16_t usb_vendor, usb_product; /* 0 when not known */
        uint16_t tb_vendor, tb_device;    /* 0 when not known */
        const char *vendor_name;
        const char *product_name;
} EgpuEnclosure;

/* The enclosure whose USB controller has these ids, NULL when not in the table. */
const EgpuEnclosure *egpu_enclosure_by_usb(uint16_t vendor, uint16_t product) _pure_;
/* The enclosure whose Thunderbolt router has these ids, NULL when not in the table. */
const EgpuEnclosure *egpu_enclosure_by_tb(uint32_t vendor, uint32_t device) _pure_;
/* The secondary hint: a product name that says "eGPU" (any case), as enclosures commonly do. */
bool egpu_name_hint(const char *name) _pure_;
