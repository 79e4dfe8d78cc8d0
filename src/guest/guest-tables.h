/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>

/* Facts about GPUs and Ollama's builds: data/tables/NAME.table, each row with its source, embedded at build
 * time. */

#define PCI_REVISION_ANY (-1)

typedef struct GpuBandwidth {
        uint16_t vendor;
        uint16_t device;
        int revision; /* PCI_REVISION_ANY, or the revision that tells boards with one device id apart */
        const char *boards;  /* "Radeon RX 9070/9070 XT/9070 GRE" */
        double gb_per_s_min; /* peak memory bandwidth, 10^9 bytes per second, of the slowest of the boards */
        double gb_per_s_max; /* and of the fastest: the figure a bound must use */
} GpuBandwidth;

/* The entry for a PCI id (an entry for the exact revision first, then one for any revision), or NULL
 * (gpu-bandwidth.table). */
const GpuBandwidth *gpu_bandwidth_lookup(uint16_t vendor, uint16_t device, int revision);

typedef struct AmdGfxArch {
        uint16_t device;  /* PCI device id, vendor 0x1002 */
        const char *gfx;  /* LLVM target name: "gfx900" */
        const char *chip; /* "Vega 10" */
} AmdGfxArch;

/* The GPU architecture of an AMD PCI device id, or NULL when not in amd-gfx.table. */
const AmdGfxArch *amd_gfx_arch_lookup(uint16_t device);

typedef struct RocmDropped {
        const char *gfx;
        const char *since; /* the first Ollama version whose ROCm runner has no kernels for it; "0.0.0": none
                              had */
        const char *note;  /* what happened, and where */
} RocmDropped;

/* The entry when Ollama's bundled ROCm runner lacks kernels for the target in some version, else NULL
 * (ollama-rocm.table). */
const RocmDropped *rocm_dropped_lookup(const char *gfx);
/* Whether Ollama version (NULL or unparsable: unknown, taken for a current one) is one without them. */
bool rocm_dropped_in(const RocmDropped *d, const char *version);

/* Display functions of hypervisors' emulated graphics (QEMU std VGA, virtio-gpu, QXL, Cirrus,
 * VMware SVGA, VirtualBox, Hyper-V) and of server management controllers: these are never the
 * passed-through GPU (emulated-display-vendors.table). */
bool pci_vendor_is_emulated_display(uint16_t vendor);

/* Kernel drivers that drive a GPU (amdgpu, radeon, nvidia, nouveau, i915, xe: gpu-drivers.table). */
bool gpu_driver_is_known(const char *driver);

/* The kernel module that should bind a GPU of this vendor ("amdgpu", "nvidia", "i915"), or NULL. */
const char *gpu_vendor_default_driver(uint16_t vendor);

typedef struct GgmlType {
        const char *name; /* "Q4_K" */
        unsigned block;   /* elements per block */
        unsigned bytes;   /* bytes per block */
} GgmlType;

/* A GGML tensor type by the name /api/show gives it, or NULL (ggml-types.table). */
const GgmlType *ggml_type_lookup(const char *name);
