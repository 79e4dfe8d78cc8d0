/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdint.h>

#include "macro.h"

/* The GPUs that the vendor-reset module (gnif/vendor-reset, out of tree, DKMS) gives a device-specific
 * reset: AMD GPUs without a working FLR (Polaris, Vega, Navi 1x). For these, a VM start needs vendor-reset
 * loaded and "device_specific" first in the function's reset_method. */
bool vendor_reset_supports(uint16_t vendor, uint16_t device) _pure_;

/* The family name ("Vega 10", "Navi 10", ...) for a supported id, NULL otherwise. */
const char *vendor_reset_family(uint16_t vendor, uint16_t device) _pure_;
