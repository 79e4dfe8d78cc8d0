/* SPDX-License-Identifier: GPL-2.0-or-later */

#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guest-vulkan.h"
#include "macro.h"
#include "util.h"

static const char *const device_type_table[] = {
        [VULKAN_DEVICE_OTHER] = "other",
        [VULKAN_DEVICE_INTEGRATED_GPU] = "integrated",
        [VULKAN_DEVICE_DISCRETE_GPU] = "discrete",
        [VULKAN_DEVICE_VIRTUAL_GPU] = "virtual",
        [VULKAN_DEVICE_CPU] = "cpu",
};

const char *vulkan_device_type_to_string(VulkanDeviceType t) {
        return string_table_get(device_type_table, ELEMENTSOF(device_type_table), t, "other");
}

void vulkan_devices_free(VulkanDevice *d, size_t n) {
        if (!d)
                return;
        for (size_t i = 0; i < n; i++) {
                free(d[i].name);
                free(d[i].driver_name);
                free(d[i].driver_info);
                free(d[i].heaps);
        }
        free(d);
}

const char *vulkan_loader_name(void) {
        const char *e = secure_getenv("EGPUCTL_VULKAN_LOADER");
        return e && *e ? e : VULKAN_LOADER_DEFAULT;
}

_printf_(2, 3) static void set_error(char **error, const char *fmt, ...) {
        va_list ap;
        char *s = NULL;

        if (!error)
                return;
        va_start(ap, fmt);
        if (vasprintf(&s, fmt, ap) < 0)
                s = NULL;
        va_end(ap);
        *error = s;
}

#if defined(__has_include)
#if __has_include(<vulkan/vulkan.h>)
#define HAVE_VULKAN_H 1
#endif
#endif

#if HAVE_VULKAN_H

#define VK_NO_PROTOTYPES
#include <vulkan/vulkan.h>

static VulkanDeviceType map_type(VkPhysicalDeviceType t) {
        switch (t) {
        case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU:
                return VULKAN_DEVICE_INTEGRATED_GPU;
        case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU:
                return VULKAN_DEVICE_DISCRETE_GPU;
        case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU:
                return VULKAN_DEVICE_VIRTUAL_GPU;
        case VK_PHYSICAL_DEVICE_TYPE_CPU:
                return VULKAN_DEVICE_CPU;
        default:
                return VULKAN_DEVICE_OTHER;
        }
}

/* Copies a fixed-size, NUL-terminated-or-not string from a Vulkan structure. */
static char *strndup_vk(const char *s, size_t max) {
        return strndup(s, strnlen(s, max));
}

static void dlclosep(void **h) {
        if (*h)
                dlclose(*h);
}

int vulkan_enumerate(VulkanDevice **ret, size_t *ret_n, char **error) {
        _cleanup_(dlclosep) void *lib = NULL;
        PFN_vkGetInstanceProcAddr gipa;
        PFN_vkCreateInstance create_instance;
        PFN_vkEnumerateInstanceVersion enumerate_version;
        PFN_vkDestroyInstance destroy_instance;
        PFN_vkEnumeratePhysicalDevices enumerate_devices;
        PFN_vkGetPhysicalDeviceProperties get_props;
        PFN_vkGetPhysicalDeviceProperties2 get_props2 = NULL;
        PFN_vkGetPhysicalDeviceMemoryProperties get_mem;
        VkInstance instance = VK_NULL_HANDLE;
        VkPhysicalDevice *phys = NULL;
        VulkanDevice *devices = NULL;
        uint32_t api = VK_API_VERSION_1_0, n = 0;
        VkResult vr;
        int r;

        if (!ret || !ret_n)
                return -EINVAL;

        lib = dlopen(vulkan_loader_name(), RTLD_NOW | RTLD_LOCAL);
        if (!lib) {
                set_error(error, "%s", dlerror());
                return -ELIBACC;
        }
        gipa = (PFN_vkGetInstanceProcAddr) dlsym(lib, "vkGetInstanceProcAddr");
        if (!gipa) {
                set_error(error, "%s has no vkGetInstanceProcAddr", vulkan_loader_name());
                return -ENOSYS;
        }

        create_instance = (PFN_vkCreateInstance) gipa(VK_NULL_HANDLE, "vkCreateInstance");
        enumerate_version =
                (PFN_vkEnumerateInstanceVersion) gipa(VK_NULL_HANDLE, "vkEnumerateInstanceVersion");
        if (!create_instance) {
                set_error(error, "%s has no vkCreateInstance", vulkan_loader_name());
                return -ENOSYS;
        }
        /* A Vulkan 1.0 loader has no vkEnumerateInstanceVersion; ask for 1.1 when the loader has it, for
         * vkGetPhysicalDeviceProperties2. */
        if (enumerate_version) {
                uint32_t v = 0;
                if (enumerate_version(&v) == VK_SUCCESS && v >= VK_API_VERSION_1_1)
                        api = VK_API_VERSION_1_1;
        }

        VkApplicationInfo app = {
                .sType = VK_STRUCTURE_TYPE_APPLICATION_INFO,
                .pApplicationName = "egpuctl",
                .applicationVersion = 1,
                .apiVersion = api,
        };
        VkInstanceCreateInfo ci = {
                .sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO,
                .pApplicationInfo = &app,
        };
        vr = create_instance(&ci, NULL, &instance);
        if (vr != VK_SUCCESS) {
                set_error(error, "vkCreateInstance failed (VkResult %d)", (int) vr);
                return vr == VK_ERROR_INCOMPATIBLE_DRIVER ? -ENODEV : -EIO;
        }

        destroy_instance = (PFN_vkDestroyInstance) gipa(instance, "vkDestroyInstance");
        enumerate_devices = (PFN_vkEnumeratePhysicalDevices) gipa(instance, "vkEnumeratePhysicalDevices");
        get_props = (PFN_vkGetPhysicalDeviceProperties) gipa(instance, "vkGetPhysicalDeviceProperties");
        get_mem = (PFN_vkGetPhysicalDeviceMemoryProperties) gipa(
                instance,
                "vkGetPhysicalDeviceMemoryProperties");
        if (api >= VK_API_VERSION_1_1)
                get_props2 = (PFN_vkGetPhysicalDeviceProperties2) gipa(
                        instance,
                        "vkGetPhysicalDeviceProperties2");
        if (!destroy_instance || !enumerate_devices || !get_props || !get_mem) {
                set_error(error, "%s lacks a Vulkan 1.0 core function", vulkan_loader_name());
                r = -ENOSYS;
                goto finish;
        }

        /* Twice: the count, then the devices. */
        vr = enumerate_devices(instance, &n, NULL);
        if (IN_SET(vr, VK_SUCCESS, VK_INCOMPLETE) && n > 0) {
                phys = calloc(n, sizeof(VkPhysicalDevice));
                devices = calloc(n, sizeof(VulkanDevice));
                if (!phys || !devices) {
                        r = -ENOMEM;
                        goto finish;
                }
                vr = enumerate_devices(instance, &n, phys);
        }
        if (!IN_SET(vr, VK_SUCCESS, VK_INCOMPLETE)) {
                set_error(error, "vkEnumeratePhysicalDevices failed (VkResult %d)", (int) vr);
                r = -EIO;
                goto finish;
        }

        for (uint32_t i = 0; i < n; i++) {
                VkPhysicalDeviceProperties p = {};
                VkPhysicalDeviceMemoryProperties m = {};
                VulkanDevice *d = &devices[i];

                get_props(phys[i], &p);
                get_mem(phys[i], &m);

                d->name = strndup_vk(p.deviceName, sizeof(p.deviceName));
                d->type = map_type(p.deviceType);
                d->vendor_id = p.vendorID;
                d->device_id = p.deviceID;
                d->api_version = p.apiVersion;
                if (!d->name) {
                        r = -ENOMEM;
                        goto finish;
                }

                /* VkPhysicalDeviceDriverProperties is core in Vulkan 1.2: ask only devices that have it. */
                if (get_props2 && p.apiVersion >= VK_API_VERSION_1_2) {
                        VkPhysicalDeviceDriverProperties dp = {
                                .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_DRIVER_PROPERTIES,
                        };
                        VkPhysicalDeviceProperties2 p2 = {
                                .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2,
                                .pNext = &dp,
                        };
                        get_props2(phys[i], &p2);
                        d->driver_name = strndup_vk(dp.driverName, sizeof(dp.driverName));
                        d->driver_info = strndup_vk(dp.driverInfo, sizeof(dp.driverInfo));
                        if (!d->driver_name || !d->driver_info) {
                                r = -ENOMEM;
                                goto finish;
                        }
                }

                if (m.memoryHeapCount > 0) {
                        uint32_t hc = MIN(m.memoryHeapCount, (uint32_t) VK_MAX_MEMORY_HEAPS);
                        d->heaps = calloc(hc, sizeof(VulkanHeap));
                        if (!d->heaps) {
                                r = -ENOMEM;
                                goto finish;
                        }
                        for (uint32_t h = 0; h < hc; h++)
                                d->heaps[h] = (VulkanHeap){
                                        .size = m.memoryHeaps[h].size,
                                        .device_local =
                                                m.memoryHeaps[h].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT,
                                };
                        d->n_heaps = hc;
                }
        }

        *ret = TAKE_PTR(devices);
        *ret_n = n;
        r = 0;

finish:
        vulkan_devices_free(devices, n);
        free(phys);
        if (instance != VK_NULL_HANDLE && destroy_instance)
                destroy_instance(instance, NULL);
        return r;
}

#else /* !HAVE_VULKAN_H */

int vulkan_enumerate(VulkanDevice **ret, size_t *ret_n, char **error) {
        set_error(error, "egpuctl was built without the Vulkan headers");
        return -EOPNOTSUPP;
}

#endif
