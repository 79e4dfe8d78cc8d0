/* SPDX-License-Identifier: GPL-2.0-or-later */

#include <stddef.h>
#include <string.h>

#include "amd-gfx-table.h"
#include "emulated-display-vendors-table.h"
#include "ggml-types-table.h"
#include "gpu-bandwidth-table.h"
#include "gpu-drivers-table.h"
#include "guest-tables.h"
#include "macro.h"
#include "ollama-rocm-table.h"
#include "ollama.h"

/* Each table is generated from data/tables/NAME.table, where every row has its source. */
static const GpuBandwidth gpu_bandwidth_table[] = { GPU_BANDWIDTH_TABLE };
static const AmdGfxArch amd_gfx_table[] = { AMD_GFX_TABLE };
static const RocmDropped rocm_dropped_table[] = { OLLAMA_ROCM_DROPPED_TABLE };
static const GgmlType ggml_types[] = { GGML_TYPES_TABLE };

static const struct {
        uint16_t vendor;
        const char *what;
} emulated_display_vendors[] = { EMULATED_DISPLAY_VENDORS_TABLE };

static const struct {
        const char *driver;
        uint16_t vendor;
        int suggest;
} gpu_drivers[] = { GPU_DRIVERS_TABLE };

const GpuBandwidth *gpu_bandwidth_lookup(uint16_t vendor, uint16_t device, int revision) {
        const GpuBandwidth *any = NULL;

        FOREACH_ARRAY(e, gpu_bandwidth_table, ELEMENTSOF(gpu_bandwidth_table)) {
                if (e->vendor != vendor || e->device != device)
                        continue;
                if (e->revision == PCI_REVISION_ANY) {
                        if (!any)
                                any = e;
                } else if (revision >= 0 && e->revision == revision)
                        return e;
        }
        return any;
}

const AmdGfxArch *amd_gfx_arch_lookup(uint16_t device) {
        FOREACH_ARRAY(e, amd_gfx_table, ELEMENTSOF(amd_gfx_table))
                if (e->device == device)
                        return e;
        return NULL;
}

const RocmDropped *rocm_dropped_lookup(const char *gfx) {
        if (!gfx)
                return NULL;
        FOREACH_ARRAY(e, rocm_dropped_table, ELEMENTSOF(rocm_dropped_table))
                if (streq(e->gfx, gfx))
                        return e;
        return NULL;
}

bool rocm_dropped_in(const RocmDropped *d, const char *version) {
        int r;

        if (!d)
                return false;
        r = version ? ollama_version_at_least(version, d->since) : -EINVAL;
        return r != 0;
}

bool pci_vendor_is_emulated_display(uint16_t vendor) {
        FOREACH_ARRAY(e, emulated_display_vendors, ELEMENTSOF(emulated_display_vendors))
                if (e->vendor == vendor)
                        return true;
        return false;
}

bool gpu_driver_is_known(const char *driver) {
        if (!driver)
                return false;
        FOREACH_ARRAY(d, gpu_drivers, ELEMENTSOF(gpu_drivers))
                if (streq(d->driver, driver))
                        return true;
        return false;
}

const char *gpu_vendor_default_driver(uint16_t vendor) {
        FOREACH_ARRAY(d, gpu_drivers, ELEMENTSOF(gpu_drivers))
                if (d->vendor == vendor && d->suggest)
                        return d->driver;
        return NULL;
}

const GgmlType *ggml_type_lookup(const char *name) {
        if (!name)
                return NULL;
        FOREACH_ARRAY(t, ggml_types, ELEMENTSOF(ggml_types))
                if (streq(t->name, name))
                        return t;
        return NULL;
}
