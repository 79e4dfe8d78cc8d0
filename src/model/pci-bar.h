/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* A function's BARs, the bridge window that holds each, and how far a Resizable BAR may grow: the one
 * answer that attach (which grows the BAR before binding to vfio-pci) and doctor's bar-size check ask.
 *
 * Sources: the "resource" attribute (drivers/pci/pci-sysfs.c resource_show(): one line per resource of
 * the function, the BARs 0-5, the ROM 6, then for a bridge the SR-IOV BARs and the windows); the
 * "resourceN_resize" attribute (Documentation/ABI/testing/sysfs-bus-pci; drivers/pci/pci-sysfs.c
 * resource_resize_show()/__resource_resize_store(), since Linux 6.1, commit 91fa127794ac "PCI: Expose PCIe
 * Resizable BAR support via sysfs"): it reads the sizes the BAR supports as a hex bitmask, bit n = 1 MiB <<
 * n as in the Resizable BAR capability (PCIe r6.0 sec. 7.8.6.2), and takes the bit of the new size. */

#include "pci-function.h"

#define PCI_STD_NUM_BARS 6
/* Bit 0 of a resourceN_resize mask (drivers/pci/rebar.c, PCI_REBAR_MIN_SIZE, pci_rebar_size_to_bytes()). */
#define PCI_REBAR_MIN_SIZE (UINT64_C(1) << 20)
/* The highest bit whose size fits 64 bits. */
#define PCI_REBAR_MAX_BIT 43U

/* One BAR of a function. */
typedef struct PciBar {
        unsigned index;           /* 0-5, the line of "resource" and N of resourceN_resize */
        uint64_t start, size;     /* start 0: the kernel found no room for it */
        uint64_t flags;           /* PCI_IORESOURCE_* */
        uint64_t resizable_sizes; /* resourceN_resize: bit n = 1 MiB << n; 0 when the BAR is not resizable */
} PciBar;

/* Parses the text of resourceN_resize ("%016llx\n"): hex digits, at most 16, trailing whitespace allowed.
 * -EINVAL otherwise. */
int pci_rebar_sizes_parse(const char *text, uint64_t *ret);
/* The largest size in bytes of a mask, 0 for an empty one. */
uint64_t pci_rebar_sizes_max(uint64_t sizes) _const_;
/* The bit of a size (what resourceN_resize takes): -EINVAL unless size is 1 MiB << n, n <= 43. */
int pci_rebar_size_to_bit(uint64_t size) _const_;

/* The BARs 0-5 that exist (flags set; the upper half of a 64-bit BAR has none), each with its
 * resourceN_resize mask where the kernel shows one. -ENOENT when sysfs shows no "resource". */
int pci_function_read_bars(const PciFunction *f, PciBar **ret, size_t *ret_n);

/* The line of a bridge's "resource" where its windows begin (PCI_BRIDGE_RESOURCES, include/linux/pci.h:
 * I/O, memory, prefetchable memory follow): resource_show() prints DEVICE_COUNT_RESOURCE lines for a
 * bridge, 17 with CONFIG_PCI_IOV (the windows are 13-15, after the six SR-IOV BARs 7-12, as Debian builds
 * it), 11 without (7-9). -EINVAL for any other count. */
int pci_bridge_windows_index(size_t n_lines) _const_;

/* The window of a bridge, from its "resource" lines (n of them), that holds bar: the prefetchable window
 * for a prefetchable BAR when the bridge has one, else the memory window (where the kernel puts them:
 * drivers/pci/setup-bus.c __pci_bus_size_bridges()). 0 with *ret set, -ENOENT when neither holds it. */
int pci_bridge_window_find(const PciResource *res, size_t n, const PciBar *bar, PciResource *ret);

/* The room that BARs of the given sizes (powers of two) take when placed largest first, each aligned to
 * its size, from base: the end of the last, minus base. */
uint64_t pci_bars_packed_end(uint64_t base, const uint64_t *sizes, size_t n);

/* The largest size of sizes (a resourceN_resize mask) with which a BAR fits the window together with the
 * others that the window holds (their sizes): all placed largest first, each aligned to its size, from
 * the window's start, the last ending inside it. -ENOSPC when not even the smallest fits. Pure: the
 * planning both attach and doctor use through pci_function_plan_bars(). */
int pci_bar_fit_size(
        const PciResource *window,
        uint64_t sizes,
        const uint64_t *others,
        size_t n_others,
        uint64_t *ret);

/* What to do with one resizable BAR. */
typedef struct PciBarPlan {
        unsigned index;
        bool prefetchable;
        uint64_t sizes;   /* the sizes it supports, as resourceN_resize */
        uint64_t current; /* its size now */
        uint64_t largest; /* the largest size it supports */
        uint64_t
                planned; /* what attach grows it to: the largest that fits the window, never below current */
        uint64_t window; /* the size of the bridge window that holds it; 0 when sysfs shows none */
        uint64_t needed; /* the window that the largest size needs, with what else the window holds */
} PciBarPlan;

/* The plan for each resizable BAR of f. functions (the Host's, with parent set) give what else the
 * window holds: the BARs and windows of the other functions below the same bridge, and f's other BARs,
 * that lie inside it. A BAR whose window cannot be read keeps its size (planned = current, window 0).
 * An empty list when f has no resizable BAR; -ENOENT when sysfs shows no "resource". */
int pci_function_plan_bars(
        const PciFunction *f,
        PciFunction *const *functions,
        size_t n_functions,
        PciBarPlan **ret,
        size_t *ret_n);

/* Grows (or shrinks) BAR index of the function at bdf to size: writes its bit to resourceN_resize, then
 * reads "resource" back. The kernel refuses with -EBUSY while any driver, vfio-pci included, is bound
 * (__resource_resize_store()), -EINVAL for a size the BAR does not support, and -ENOSPC (or -ENOENT on
 * older kernels) when the bridge windows cannot hold it (drivers/pci/setup-res.c pci_resize_resource(),
 * drivers/pci/setup-bus.c pci_reassign_bridge_resources()), leaving the old size. -EIO when the kernel
 * accepted the write but "resource" does not show the new size; -EOPNOTSUPP when the BAR has no
 * resourceN_resize (not resizable, or a kernel before 6.1), -ENODEV when the function is gone. Waits at most
 * timeout. */
int pci_function_resize_bar(const char *bdf, unsigned index, uint64_t size, usec_t timeout);
