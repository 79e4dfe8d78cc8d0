/* SPDX-License-Identifier: GPL-2.0-or-later */

#include <stddef.h>
#include <string.h>

#include "guest-tables.h"
#include "macro.h"

/* Peak memory bandwidth by PCI id.
 *
 * Sources: device ids from the PCI ID Repository (pci.ids) and the kernel's amdgpu_drv.c pciidlist;
 * bandwidth is bus width x data rate from each vendor's product specification page (AMD
 * "Specifications" pages, NVIDIA GeForce "Specs" pages, Intel ARK). Only ids whose boards all have
 * the same memory configuration are listed, or the revision that tells them apart:
 * 1002:687f is both RX Vega 64 (revisions c0, c1: HBM2 945 MHz, 2048 bit = 483.8 GB/s) and RX Vega
 * 56 (revision c3: HBM2 800 MHz, 2048 bit = 409.6 GB/s; the seed's card, lspci "rev c3"). */
static const GpuBandwidth gpu_bandwidth_table[] = {
        /* AMD */
        { 0x1002, 0x687f, 0xc3, "Radeon RX Vega 56", 409.6 },
        { 0x1002, 0x687f, 0xc1, "Radeon RX Vega 64", 483.8 },
        { 0x1002, 0x687f, 0xc0, "Radeon RX Vega 64 Liquid", 483.8 },
        { 0x1002, 0x687f, PCI_REVISION_ANY, "Radeon RX Vega 56", 409.6 }, /* revision unknown: the lower */
        { 0x1002, 0x6863, PCI_REVISION_ANY, "Radeon Vega Frontier Edition", 483.8 },
        { 0x1002, 0x66af, PCI_REVISION_ANY, "Radeon VII", 1024.0 }, /* HBM2 4096 bit, 2.0 Gbps */
        { 0x1002, 0x73bf, PCI_REVISION_ANY, "Radeon RX 6800/6800 XT/6900 XT", 512.0 }, /* 256 bit, 16 Gbps */
        { 0x1002, 0x7480, PCI_REVISION_ANY, "Radeon RX 7600/7600 XT", 288.0 },         /* 128 bit, 18 Gbps */
        { 0x1002, 0x7550, PCI_REVISION_ANY, "Radeon RX 9070/9070 XT", 640.0 },         /* 256 bit, 20 Gbps */
        /* NVIDIA */
        { 0x10de, 0x1b80, PCI_REVISION_ANY, "GeForce GTX 1080", 320.0 },    /* 256 bit GDDR5X, 10 Gbps */
        { 0x10de, 0x1b81, PCI_REVISION_ANY, "GeForce GTX 1070", 256.0 },    /* 256 bit, 8 Gbps */
        { 0x10de, 0x1b06, PCI_REVISION_ANY, "GeForce GTX 1080 Ti", 484.0 }, /* 352 bit, 11 Gbps */
        { 0x10de, 0x1e07, PCI_REVISION_ANY, "GeForce RTX 2080 Ti", 616.0 }, /* 352 bit, 14 Gbps */
        { 0x10de, 0x2484, PCI_REVISION_ANY, "GeForce RTX 3070", 448.0 },    /* 256 bit, 14 Gbps */
        { 0x10de, 0x2206, PCI_REVISION_ANY, "GeForce RTX 3080", 760.3 },    /* 320 bit, 19 Gbps */
        { 0x10de, 0x2204, PCI_REVISION_ANY, "GeForce RTX 3090", 936.2 },    /* 384 bit, 19.5 Gbps */
        { 0x10de, 0x2704, PCI_REVISION_ANY, "GeForce RTX 4080", 716.8 },    /* 256 bit, 22.4 Gbps */
        { 0x10de, 0x2684, PCI_REVISION_ANY, "GeForce RTX 4090", 1008.0 },   /* 384 bit, 21 Gbps */
        /* Intel */
        { 0x8086, 0x56a1, PCI_REVISION_ANY, "Arc A750", 512.0 }, /* 256 bit, 16 Gbps */
        { 0x8086, 0xe20b, PCI_REVISION_ANY, "Arc B580", 456.0 }, /* 192 bit, 19 Gbps */
};

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

/* AMD PCI device id -> GPU architecture (LLVM AMDGPU target).
 * Sources: device ids from the kernel's drivers/gpu/drm/amd/amdgpu/amdgpu_drv.c pciidlist (CHIP_VEGA10,
 * CHIP_VEGA20, CHIP_POLARIS10/11/12, CHIP_FIJI, ...); chip -> gfx target from LLVM's AMDGPUUsage
 * "Processors" table (Fiji, Polaris = gfx803; Vega 10 = gfx900; Vega 20 = gfx906; Navi 21 = gfx1030;
 * Navi 31 = gfx1100; Navi 33 = gfx1102; Navi 48 = gfx1201). */
static const AmdGfxArch amd_gfx_table[] = {
        { 0x7300, "gfx803", "Fiji" },       { 0x67df, "gfx803", "Polaris 10" }, /* RX 470/480/570/580 */
        { 0x67ef, "gfx803", "Polaris 11" },                                     /* RX 460/560 */
        { 0x699f, "gfx803", "Polaris 12" },                                     /* RX 550 */
        { 0x6860, "gfx900", "Vega 10" },    { 0x6861, "gfx900", "Vega 10" },
        { 0x6862, "gfx900", "Vega 10" },    { 0x6863, "gfx900", "Vega 10" },
        { 0x6864, "gfx900", "Vega 10" },    { 0x6867, "gfx900", "Vega 10" },
        { 0x6868, "gfx900", "Vega 10" },    { 0x6869, "gfx900", "Vega 10" },
        { 0x686a, "gfx900", "Vega 10" },    { 0x686b, "gfx900", "Vega 10" },
        { 0x686c, "gfx900", "Vega 10" },    { 0x686d, "gfx900", "Vega 10" },
        { 0x686e, "gfx900", "Vega 10" },    { 0x687f, "gfx900", "Vega 10" }, /* RX Vega 56/64 */
        { 0x66a0, "gfx906", "Vega 20" },    { 0x66a1, "gfx906", "Vega 20" },
        { 0x66a2, "gfx906", "Vega 20" },    { 0x66a3, "gfx906", "Vega 20" },
        { 0x66a7, "gfx906", "Vega 20" },    { 0x66af, "gfx906", "Vega 20" }, /* Radeon VII */
        { 0x73bf, "gfx1030", "Navi 21" },   { 0x744c, "gfx1100", "Navi 31" },
        { 0x7480, "gfx1102", "Navi 33" },   { 0x7550, "gfx1201", "Navi 48" },
};

const AmdGfxArch *amd_gfx_arch_lookup(uint16_t device) {
        FOREACH_ARRAY(e, amd_gfx_table, ELEMENTSOF(amd_gfx_table))
                if (e->device == device)
                        return e;
        return NULL;
}

/* Architectures for which current ROCm ships no rocBLAS/hipBLAS kernels, so the ROCm runner that
 * Ollama bundles cannot run on them (the seed, phase 9: gfx900 segfaults on init with Ollama 0.18's
 * ROCm 7.2).
 * Sources: AMD's ROCm release notes and "GPU support" matrices (gfx803 support ended with ROCm 4/5;
 * gfx900 deprecated in 5.x and out of the compiled libraries from 6.0; gfx906 in maintenance only
 * and dropped from ROCm 7 libraries); Ollama pull request #12567 (docs: "gfx900 and gfx906 are no
 * longer supported") and #17010 (removes the gfx targets that current ROCm cannot serve, relying on
 * Vulkan for them). */
static const RocmDropped rocm_dropped_table[] = {
        { "gfx803", "not in ROCm's compiled libraries since ROCm 5" },
        { "gfx900", "removed from ROCm's compiled libraries in ROCm 6.0" },
        { "gfx906", "no kernels in the ROCm 7 libraries that Ollama bundles" },
};

const RocmDropped *rocm_dropped_lookup(const char *gfx) {
        if (!gfx)
                return NULL;
        FOREACH_ARRAY(e, rocm_dropped_table, ELEMENTSOF(rocm_dropped_table))
                if (streq(e->gfx, gfx))
                        return e;
        return NULL;
}

bool pci_vendor_is_emulated_display(uint16_t vendor) {
        switch (vendor) {
        case 0x1234: /* QEMU/Bochs std VGA */
        case 0x1af4: /* virtio-gpu */
        case 0x1b36: /* QXL (Red Hat) */
        case 0x1013: /* Cirrus Logic, QEMU's cirrus-vga */
        case 0x15ad: /* VMware SVGA */
        case 0x80ee: /* VirtualBox */
        case 0x1414: /* Hyper-V synthetic video */
        case 0x1a03: /* ASPEED BMC VGA */
        case 0x102b: /* Matrox G200 server VGA */
                return true;
        default:
                return false;
        }
}

const char *pci_vendor_name(uint16_t vendor) {
        switch (vendor) {
        case 0x1002:
                return "AMD";
        case 0x10de:
                return "NVIDIA";
        case 0x8086:
                return "Intel";
        default:
                return NULL;
        }
}

bool gpu_driver_is_known(const char *driver) {
        static const char *const known[] = {
                "amdgpu", "radeon", "nvidia", "nouveau", "i915", "xe",
        };

        if (!driver)
                return false;
        FOREACH_ARRAY(k, known, ELEMENTSOF(known))
                if (streq(*k, driver))
                        return true;
        return false;
}

const char *gpu_vendor_default_driver(uint16_t vendor) {
        switch (vendor) {
        case 0x1002:
                return "amdgpu";
        case 0x10de:
                return "nvidia";
        case 0x8086:
                return "i915";
        default:
                return NULL;
        }
}
