/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "pci-function.h"
#include "sysfs.h"
#include "util.h"

static int read_optional_string(struct udev_device *d, const char *attr, char **ret) {
        int r = sysfs_attr_string(d, attr, ret);
        return r == -ENOENT ? 0 : r;
}

int pci_function_new_from_udev(struct udev_device *d, PciFunction **ret) {
        _cleanup_(pci_function_freep) PciFunction *f = NULL;
        _cleanup_free_ char *override = NULL, *reset = NULL, *removable = NULL, *group = NULL;
        const char *driver;
        int r;

        f = calloc(1, sizeof(PciFunction));
        if (!f)
                return -ENOMEM;
        f->iommu_group = f->current_link_width = f->max_link_width = -1;

        f->syspath = strdup(udev_device_get_syspath(d));
        f->bdf = strdup(udev_device_get_sysname(d) ?: "");
        if (!f->syspath || !f->bdf)
                return -ENOMEM;

        (void) sysfs_attr_u32(d, "vendor", 16, &f->vendor);
        (void) sysfs_attr_u32(d, "device", 16, &f->device);
        (void) sysfs_attr_u32(d, "subsystem_vendor", 16, &f->subsystem_vendor);
        (void) sysfs_attr_u32(d, "subsystem_device", 16, &f->subsystem_device);
        (void) sysfs_attr_u32(d, "class", 16, &f->class);

        driver = udev_device_get_driver(d);
        if (driver) {
                f->driver = strdup(driver);
                if (!f->driver)
                        return -ENOMEM;
        }

        r = read_optional_string(d, "driver_override", &override);
        if (r < 0)
                return r;
        if (override && *override && !streq(override, "(null)"))
                f->driver_override = TAKE_PTR(override);

        r = read_optional_string(d, "reset_method", &reset);
        if (r < 0)
                return r;
        if (reset) {
                r = strv_split(reset, " \t\n", &f->reset_methods);
                if (r < 0)
                        return r;
        }

        r = read_optional_string(d, "current_link_speed", &f->current_link_speed);
        if (r < 0)
                return r;
        r = read_optional_string(d, "max_link_speed", &f->max_link_speed);
        if (r < 0)
                return r;
        (void) sysfs_attr_int(d, "current_link_width", &f->current_link_width);
        (void) sysfs_attr_int(d, "max_link_width", &f->max_link_width);

        r = read_optional_string(d, "removable", &removable);
        if (r < 0)
                return r;
        if (streq_ptr(removable, "removable"))
                f->removable = PCI_REMOVABLE_REMOVABLE;
        else if (streq_ptr(removable, "fixed"))
                f->removable = PCI_REMOVABLE_FIXED;

        /* libudev only resolves the driver/subsystem/module links, so read iommu_group ourselves. */
        r = link_target_basename(f->syspath, "iommu_group", &group);
        if (r >= 0) {
                if (safe_atoi(group, &f->iommu_group) < 0 || f->iommu_group < 0)
                        f->iommu_group = -1;
        } else if (r != -ENOENT)
                return r;

        *ret = TAKE_PTR(f);
        return 0;
}

PciFunction *pci_function_free(PciFunction *f) {
        if (!f)
                return NULL;
        free(f->syspath);
        free(f->bdf);
        free(f->driver);
        free(f->driver_override);
        strv_free(f->reset_methods);
        free(f->current_link_speed);
        free(f->max_link_speed);
        return mfree(f);
}

bool pci_function_is_bridge(const PciFunction *f) {
        return (f->class >> 8) == PCI_CLASS_BRIDGE_PCI;
}

bool pci_function_is_display(const PciFunction *f) {
        return pci_function_base_class(f) == PCI_CLASS_DISPLAY;
}

bool pci_function_same_slot(const PciFunction *a, const PciFunction *b) {
        const char *da = strrchr(a->bdf, '.'), *db = strrchr(b->bdf, '.');

        if (!da || !db || da - a->bdf != db - b->bdf)
                return false;
        return strneq(a->bdf, b->bdf, (size_t) (da - a->bdf));
}

unsigned pci_function_number(const PciFunction *f) {
        const char *dot = strrchr(f->bdf, '.');

        if (!dot || dot[1] < '0' || dot[1] > '7')
                return 0;
        return (unsigned) (dot[1] - '0');
}

bool pci_function_is_removable(const PciFunction *f) {
        for (; f; f = f->parent)
                if (f->removable == PCI_REMOVABLE_REMOVABLE)
                        return true;
        return false;
}

const PciFunction *pci_function_root_port(const PciFunction *f) {
        while (f->parent)
                f = f->parent;
        return f;
}

bool pci_function_has_reset_method(const PciFunction *f, const char *method) {
        return strv_contains(f->reset_methods, method);
}

const char *pci_removable_to_string(PciRemovable r) {
        switch (r) {
        case PCI_REMOVABLE_FIXED:
                return "fixed";
        case PCI_REMOVABLE_REMOVABLE:
                return "removable";
        default:
                return "unknown";
        }
}
