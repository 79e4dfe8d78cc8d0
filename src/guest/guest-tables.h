/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>

/* Data tables about GPUs, kept in guest-tables.c with the source of every entry. */

#define PCI_REVISION_ANY (-1)

typedef struct GpuBandwidth {
        uint16_t vendor;
        uint16_t device;
        int revision; /* PCI_REVISION_ANY, or the revision that tells boards with one device id apart */
        const char *name;
        double gb_per_s; /* peak memory bandwidth, 10^9 bytes per second */
} GpuBandwidth;

/* The entry for a PCI id (an entry for the exact revision first, then one for any revision), or NULL. */
const GpuBandwidth *gpu_bandwidth_lookup(uint16_t vendor, uint16_t device, int revision);

typedef struct AmdGfxArch {
        uint16_t device;  /* PCI device id, vendor 0x1002 */
        const char *gfx;  /* LLVM target name: "gfx900" */
        const char *chip; /* "Vega 10" */
} AmdGfxArch;

/* The GPU architecture of an AMD PCI device id, or NULL when not in the table. */
const AmdGfxArch *amd_gfx_arch_lookup(uint16_t device);

typedef struct RocmDropped {
        const char *gfx;
        const char *note; /* when and where support ended */
} RocmDropped;

/* Non-NULL when current ROCm (and so the ROCm runner bundled with Ollama) ships no kernels for the
 * architecture. */
const RocmDropped *rocm_dropped_lookup(const char *gfx);

/* Display functions of hypervisors' emulated graphics (QEMU std VGA, virtio-gpu, QXL, Cirrus,
 * VMware SVGA, VirtualBox, Hyper-V) and of server management controllers: these are never the
 * passed-through GPU. */
bool pci_vendor_is_emulated_display(uint16_t vendor);

/* "AMD", "NVIDIA", "Intel", or NULL. */
const char *pci_vendor_name(uint16_t vendor);

/* Kernel drivers that drive a GPU for compute (amdgpu, radeon, nvidia, nouveau, i915, xe, ...). */
bool gpu_driver_is_known(const char *driver);

/* The kernel module that should bind a GPU of this vendor ("amdgpu", "nvidia", "i915"), or NULL. */
const char *gpu_vendor_default_driver(uint16_t vendor);
