/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Vulkan physical devices, enumerated through the real Vulkan API. The loader is opened with
 * dlopen() at run time, so egpuctl starts on machines without Vulkan; $EGPUCTL_VULKAN_LOADER names
 * another loader library (a path or a soname; tests point it at a missing file). */

#define VULKAN_LOADER_DEFAULT "libvulkan.so.1"

typedef enum VulkanDeviceType {
        VULKAN_DEVICE_OTHER,
        VULKAN_DEVICE_INTEGRATED_GPU,
        VULKAN_DEVICE_DISCRETE_GPU,
        VULKAN_DEVICE_VIRTUAL_GPU,
        VULKAN_DEVICE_CPU,
} VulkanDeviceType;

typedef struct VulkanHeap {
        uint64_t size;
        bool device_local;
} VulkanHeap;

typedef struct VulkanDevice {
        char *name; /* deviceName: "AMD Radeon RX Vega (RADV VEGA10)" */
        VulkanDeviceType type;
        uint32_t vendor_id; /* PCI vendor id for GPUs; 0x10005 (Mesa) for llvmpipe */
        uint32_t device_id;
        uint32_t api_version;
        char *driver_name; /* "radv", "llvmpipe"; NULL when VkPhysicalDeviceDriverProperties is unavailable
                            */
        char *driver_info; /* "Mesa 22.3.6" */
        VulkanHeap *heaps;
        size_t n_heaps;
} VulkanDevice;

void vulkan_devices_free(VulkanDevice *d, size_t n);

/* The loader library that vulkan_enumerate() opens. */
const char *vulkan_loader_name(void);

/* Enumerates the physical devices. Returns
 *   -ELIBACC  the loader could not be opened (not installed)
 *   -ENOSYS   the loader lacks vkGetInstanceProcAddr or a core function
 *   -ENODEV   vkCreateInstance failed with VK_ERROR_INCOMPATIBLE_DRIVER (no driver at all)
 *   -EIO      another Vulkan error
 * and when error is not NULL, on failure, sets *error to a description (dlerror(), the VkResult). */
int vulkan_enumerate(VulkanDevice **ret, size_t *ret_n, char **error);

const char *vulkan_device_type_to_string(VulkanDeviceType t); /* "discrete", "cpu", ... */
