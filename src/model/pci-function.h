/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <libudev.h>
#include <stdint.h>

#include "macro.h"
#include "time-util.h"

/* The kernel's "removable" attribute: devices below an external-facing port (a Thunderbolt/USB4
 * PCIe downstream port) read "removable". */
typedef enum PciRemovable {
        PCI_REMOVABLE_UNKNOWN,
        PCI_REMOVABLE_FIXED,
        PCI_REMOVABLE_REMOVABLE,
} PciRemovable;

/* The kernel's "power_state" attribute: the state it last put the function in, pdev->current_state as
 * pci_power_name() names it (drivers/pci/pci-sysfs.c power_state_show(), which reads that field and wakes
 * nothing: a function in D3cold stays there, unlike under lspci, which has to resume it to read its config
 * space; Documentation/ABI/testing/sysfs-bus-pci, added in Linux 5.11, so Debian's 6.1 has it). Absent (an
 * older kernel, a test bed without it) or a word it does not name: PCI_POWER_UNKNOWN. */
typedef enum PciPowerState {
        PCI_POWER_UNKNOWN,
        PCI_POWER_ERROR, /* "error": the kernel could not read it (PCI_POWER_ERROR) */
        PCI_POWER_D0,
        PCI_POWER_D1,
        PCI_POWER_D2,
        PCI_POWER_D3HOT,
        PCI_POWER_D3COLD,
} PciPowerState;

#define PCI_CLASS_DISPLAY    0x03
#define PCI_CLASS_BRIDGE_PCI 0x0604

typedef struct PciFunction {
        char *syspath;
        char *bdf; /* "0000:30:00.0" */
        uint32_t vendor, device;
        uint32_t subsystem_vendor, subsystem_device;
        uint32_t class;           /* 0x030000 */
        char *driver;             /* the driver link's name, NULL when unbound */
        int iommu_group;          /* -1 when the function has no group (IOMMU off) */
        char **reset_methods;     /* NULL when the attribute is absent (no reset at all, or an old kernel) */
        char *current_link_speed; /* "8.0 GT/s PCIe", NULL when absent */
        char *max_link_speed;
        int current_link_width; /* -1 when absent */
        int max_link_width;
        PciRemovable removable;
        PciPowerState power_state;
        int d3cold_allowed; /* "d3cold_allowed" (drivers/pci/pci-sysfs.c d3cold_allowed_show()): 1 while the
                               kernel may cut the function's power when it is idle; -1 when absent */
        char *vendor_name;  /* udev's hwdb, as lspci names it (ID_VENDOR_FROM_DATABASE): NULL when udev has
                               none */
        char *model_name;   /* likewise ID_MODEL_FROM_DATABASE: "Vega 10 XL/XT [Radeon RX Vega 56/64]" */
        struct PciFunction *parent; /* the bridge above, NULL on a root bus; set by host_load() */
} PciFunction;

int pci_function_new_from_udev(struct udev_device *d, PciFunction **ret);
PciFunction *pci_function_free(PciFunction *f);
/* A copy of f with every field its own, but parent NULL: host_dup() links the copies again. */
int pci_function_dup(const PciFunction *f, PciFunction **ret);
DEFINE_TRIVIAL_CLEANUP_FUNC(PciFunction *, pci_function_free);

/* Base class (0x03 display, 0x06 bridge, ...). */
static inline unsigned pci_function_base_class(const PciFunction *f) {
        return f->class >> 16;
}
bool pci_function_is_bridge(const PciFunction *f) _pure_;
bool pci_function_is_display(const PciFunction *f) _pure_;
/* Whether the two functions sit in the same slot (domain, bus and device number). */
bool pci_function_same_slot(const PciFunction *a, const PciFunction *b) _pure_;
/* The function number, 0-7. */
unsigned pci_function_number(const PciFunction *f) _pure_;
/* Whether the function or a bridge above it is behind an external-facing (Thunderbolt/USB4) port. */
bool pci_function_is_removable(const PciFunction *f) _pure_;
/* The root port at the top of the function's chain (the function itself when on a root bus). */
const PciFunction *pci_function_root_port(const PciFunction *f) _pure_;
bool pci_function_has_reset_method(const PciFunction *f, const char *method) _pure_;
/* The port the function sits below, as a path that survives bus renumbering: the root bus, then the
 * device.function of each bridge from the root port down ("pci0000:00/1c.0" for a card in root port
 * 00:1c.0, "pci0000:00/01.0/00.0/03.0" behind a switch). -EINVAL on a root bus. */
int pci_function_port_path(const PciFunction *f, char **ret);

/* Whether s is a port path as pci_function_port_path() writes one: the root bus as the kernel names it,
 * "pci" and the domain (at least four hex digits: "pci%04x:%02x" in drivers/pci/probe.c, more for a
 * domain past 0xffff) ":" and the bus, then for each bridge down to the port "/" and its device (00-1f)
 * "." function (0-7), all in lowercase, at most 64 bridges. "pci0000:00/../../x" is not one. */
bool pci_port_path_is_valid(const char *s) _pure_;

const char *pci_removable_to_string(PciRemovable r) _pure_;
/* "D0", "D3cold", ... as the kernel writes them; "unknown" for PCI_POWER_UNKNOWN. */
const char *pci_power_state_to_string(PciPowerState s) _pure_;
/* The kernel's word back to the state; PCI_POWER_UNKNOWN for NULL or a word it does not write. */
PciPowerState pci_power_state_from_string(const char *s) _pure_;

/* One line of a function's "resource" attribute: start, end and flags of a BAR (lines 0-5), the ROM
 * (line 6), then bridge windows (drivers/pci/pci-sysfs.c, resource_show()). */
typedef struct PciResource {
        uint64_t start, end, flags;
} PciResource;

#define PCI_RESOURCE_ROM      6
#define PCI_IORESOURCE_IO     0x00000100ULL /* include/linux/ioport.h */
#define PCI_IORESOURCE_MEM    0x00000200ULL
#define PCI_IORESOURCE_PREF   0x00002000ULL
#define PCI_IORESOURCE_MEM_64 0x00100000ULL
/* Parses the text of the attribute; lines that do not parse end the list. */
int pci_resource_parse(const char *text, PciResource **ret, size_t *ret_n);
/* Reads and parses the function's "resource" attribute; -ENOENT when sysfs does not show it. */
int pci_function_read_resources(const PciFunction *f, PciResource **ret, size_t *ret_n);
/* Whether a BAR exists (has flags) but got no address: the kernel found no room for it. */
static inline bool pci_resource_unassigned(const PciResource *r) {
        return r->flags != 0 && r->start == 0;
}
static inline uint64_t pci_resource_size(const PciResource *r) {
        return r->end >= r->start && r->flags != 0 ? r->end - r->start + 1 : 0;
}
static inline bool pci_resource_is_prefetchable_mem(const PciResource *r) {
        return (r->flags & PCI_IORESOURCE_MEM) && (r->flags & PCI_IORESOURCE_PREF);
}

/* The one ROM rule, for "vm attach" (rombar) and doctor (vm-config): whether the function has a ROM BAR.
 * The kernel shows the "rom" attribute exactly when the ROM BAR has a size (pci_dev_rom_attr_is_visible()
 * in drivers/pci/pci-sysfs.c); without it, line 6 of "resource" (flags set). 1 or 0; -ENOENT when sysfs
 * shows neither (a test bed that recorded neither), for the caller to leave the default alone. */
int pci_function_has_rom(const PciFunction *f);

/* PCI ids as a person writes them, "VVVV:DDDD" or "VVVV:DDDD:SSSS:SSSS" (subsystem vendor and device):
 * exactly four hex digits each, any case, as lspci -n prints them. The one parser of ids given on the
 * command line and kept in enrolment records. */
typedef struct PciIds {
        uint32_t vendor, device;
        uint32_t subsystem_vendor, subsystem_device; /* 0 without has_subsystem */
        bool has_subsystem;
} PciIds;
int pci_ids_parse(const char *s, PciIds *ret);

/* Whether s is a PCI address "DDDD:BB:DD.F" in lowercase hex, as sysfs names functions. */
bool pci_bdf_is_valid(const char *s) _pure_;

/* Writes. Each works on the function's address, not on a snapshot, does one write, and reads back what
 * the kernel did: -EIO when the kernel accepted the write but the state did not change. -ENODEV when
 * the function is gone. A write waits at most timeout for the kernel (-ETIMEDOUT): unbinding from
 * vfio-pci waits for the VM to let go of the device, and a host driver's probe or remove may take
 * seconds. */
/* The driver bound now (NULL when unbound). */
int pci_function_read_driver(const char *bdf, char **ret);
/* driver NULL clears the override. */
int pci_function_set_driver_override(const char *bdf, const char *driver, usec_t timeout);
/* The override (NULL when the kernel reads "(null)"), waiting at most timeout: the kernel shows it under the
 * device's lock (drivers/pci/pci-sysfs.c driver_override_show()), held for as long as a driver's remove
 * runs, and vfio-pci's waits for a VM to let go. That is why a host snapshot never reads it. */
int pci_function_read_driver_override(const char *bdf, usec_t timeout, char **ret);
/* Unbinds from whatever driver holds it; 0 when it was not bound. */
int pci_function_unbind(const char *bdf, usec_t timeout);
/* Asks the kernel to probe drivers for it (drivers_probe), which honours driver_override. Returns the
 * driver bound afterwards in *ret (NULL when none took it). */
int pci_function_probe(const char *bdf, usec_t timeout, char **ret);
/* Writes a reset method list ("device_specific bus"); -EINVAL from the kernel when unsupported. */
int pci_function_set_reset_method(const char *bdf, const char *methods, usec_t timeout);
/* The function's power_state now, read afresh; -ENOENT when the kernel does not show it (before 5.11). */
int pci_function_read_power_state(const char *bdf, PciPowerState *ret);
/* Writes "on" or "auto" to the function's power/control (Documentation/ABI/testing/sysfs-devices-power):
 * "on" forbids runtime power management, which resumes the function to D0 before the write returns and
 * keeps it there (drivers/base/power/sysfs.c control_store() → pm_runtime_forbid(), whose rpm_resume()
 * is synchronous); "auto" allows it again. Reads the value back (-EIO when it differs). */
int pci_function_set_power_control(const char *bdf, const char *value, usec_t timeout);
/* Whether the PCI driver is registered (its folder under /sys/bus/pci/drivers exists). */
bool pci_driver_is_registered(const char *driver);
