/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "pci-bar.h"
#include "sysfs.h"
#include "util.h"

int pci_rebar_sizes_parse(const char *text, uint64_t *ret) {
        uint64_t v = 0;
        size_t n = 0;
        const char *p;

        if (!text)
                return -EINVAL;
        for (p = text; *p && !strchr(" \t\n", *p); p++, n++) {
                int d = unhexchar(*p);

                if (d < 0 || n >= 16)
                        return -EINVAL;
                v = v << 4 | (uint64_t) d;
        }
        if (n == 0 || p[strspn(p, " \t\n")] != '\0')
                return -EINVAL;
        *ret = v;
        return 0;
}

uint64_t pci_rebar_sizes_max(uint64_t sizes) {
        for (unsigned bit = PCI_REBAR_MAX_BIT + 1; bit > 0; bit--)
                if (sizes & (UINT64_C(1) << (bit - 1)))
                        return PCI_REBAR_MIN_SIZE << (bit - 1);
        return 0;
}

int pci_rebar_size_to_bit(uint64_t size) {
        for (unsigned bit = 0; bit <= PCI_REBAR_MAX_BIT; bit++)
                if (size == PCI_REBAR_MIN_SIZE << bit)
                        return (int) bit;
        return -EINVAL;
}

int pci_function_read_bars(const PciFunction *f, PciBar **ret, size_t *ret_n) {
        _cleanup_free_ PciResource *res = NULL;
        _cleanup_free_ PciBar *bars = NULL;
        size_t n_res = 0, n = 0;
        int r;

        r = pci_function_read_resources(f, &res, &n_res);
        if (r < 0)
                return r;
        bars = calloc(PCI_STD_NUM_BARS, sizeof(PciBar));
        if (!bars)
                return -ENOMEM;
        for (unsigned i = 0; i < MIN(n_res, (size_t) PCI_STD_NUM_BARS); i++) {
                _cleanup_free_ char *attr = NULL, *text = NULL;
                PciBar *b = &bars[n];

                if (res[i].flags == 0)
                        continue;
                *b = (PciBar){
                        .index = i,
                        .start = res[i].start,
                        .size = pci_resource_size(&res[i]),
                        .flags = res[i].flags,
                };
                if (asprintf(&attr, "resource%u_resize", i) < 0)
                        return -ENOMEM;
                r = sysfs_read_attr(f->syspath, attr, &text);
                if (r == -ENOMEM)
                        return r;
                /* Absent: the BAR is not resizable (resource_resize_is_visible()). */
                if (r >= 0 && pci_rebar_sizes_parse(text, &b->resizable_sizes) < 0)
                        b->resizable_sizes = 0;
                n++;
        }
        *ret = TAKE_PTR(bars);
        *ret_n = n;
        return 0;
}

int pci_bridge_windows_index(size_t n_lines) {
        /* PCI_BRIDGE_RESOURCE_NUM is 4 (three P2P windows, a fourth for CardBus) and they are last. */
        if (n_lines == 17 || n_lines == 11)
                return (int) n_lines - 4;
        return -EINVAL;
}

static bool window_holds(const PciResource *w, uint64_t start, uint64_t size) {
        return w->flags != 0 && w->start != 0 && w->end > w->start && size > 0 && start >= w->start &&
                start - w->start <= w->end - w->start && size - 1 <= w->end - start;
}

static bool bar_is_prefetchable(const PciBar *bar) {
        return pci_resource_is_prefetchable_mem(&(PciResource){ .flags = bar->flags });
}

int pci_bridge_window_find(const PciResource *res, size_t n, const PciBar *bar, PciResource *ret) {
        int base = pci_bridge_windows_index(n);

        if (base < 0)
                return -ENOENT;
        /* base + 1: the memory window; base + 2: the prefetchable one (PCI_BRIDGE_MEM_WINDOW,
         * PCI_BRIDGE_PREF_MEM_WINDOW). */
        for (int w = bar_is_prefetchable(bar) ? 2 : 1; w >= 1; w--)
                if (window_holds(&res[base + w], bar->start, bar->size)) {
                        *ret = res[base + w];
                        return 0;
                }
        return -ENOENT;
}

static int cmp_desc(const void *a, const void *b) {
        uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;
        return x < y ? 1 : x > y ? -1 : 0;
}

uint64_t pci_bars_packed_end(uint64_t base, const uint64_t *sizes, size_t n) {
        _cleanup_free_ uint64_t *s = NULL;
        uint64_t at = base;

        if (n == 0)
                return 0;
        s = malloc(n * sizeof(uint64_t));
        if (!s)
                return UINT64_MAX;
        memcpy(s, sizes, n * sizeof(uint64_t));
        qsort(s, n, sizeof(uint64_t), cmp_desc);
        for (size_t i = 0; i < n; i++) {
                uint64_t sz = s[i] ?: 1;

                if (at > UINT64_MAX - (sz - 1))
                        return UINT64_MAX;
                at = (at + sz - 1) & ~(sz - 1);
                if (at > UINT64_MAX - sz)
                        return UINT64_MAX;
                at += sz;
        }
        return at - base;
}

int pci_bar_fit_size(
        const PciResource *window,
        uint64_t sizes,
        const uint64_t *others,
        size_t n_others,
        uint64_t *ret) {
        _cleanup_free_ uint64_t *all = NULL;
        uint64_t room;

        if (!window || window->end < window->start)
                return -EINVAL;
        room = window->end - window->start + 1;
        all = calloc(n_others + 1, sizeof(uint64_t));
        if (!all)
                return -ENOMEM;
        if (n_others > 0)
                memcpy(all, others, n_others * sizeof(uint64_t));
        for (unsigned bit = PCI_REBAR_MAX_BIT + 1; bit > 0; bit--) {
                if (!(sizes & (UINT64_C(1) << (bit - 1))))
                        continue;
                all[n_others] = PCI_REBAR_MIN_SIZE << (bit - 1);
                if (pci_bars_packed_end(window->start, all, n_others + 1) <= room) {
                        *ret = all[n_others];
                        return 0;
                }
        }
        return -ENOSPC;
}

/* Adds to *others the resources among res (BARs 0-5, and a bridge's windows) that lie inside window, but
 * BAR skip (-1: none). */
static int collect_in_window(
        const PciResource *res,
        size_t n,
        const PciResource *window,
        int skip,
        uint64_t **others,
        size_t *n_others) {
        int windows = pci_bridge_windows_index(n);

        for (size_t i = 0; i < n; i++) {
                bool bar = i < PCI_STD_NUM_BARS, bridge_window = windows >= 0 && i >= (size_t) windows;
                uint64_t size = pci_resource_size(&res[i]);
                uint64_t *grown;

                if ((int) i == skip || !(bar || bridge_window) || pci_resource_unassigned(&res[i]) ||
                    !window_holds(window, res[i].start, size))
                        continue;
                grown = reallocarray(*others, *n_others + 1, sizeof(uint64_t));
                if (!grown)
                        return -ENOMEM;
                *others = grown;
                (*others)[(*n_others)++] = size;
        }
        return 0;
}

static int plan_one(
        const PciFunction *f,
        const PciBar *bar,
        PciFunction *const *functions,
        size_t n_functions,
        PciBarPlan *ret) {
        _cleanup_free_ PciResource *pres = NULL;
        _cleanup_free_ uint64_t *others = NULL;
        PciResource window;
        size_t n_pres = 0, n_others = 0;
        uint64_t fit;
        int r;

        *ret = (PciBarPlan){
                .index = bar->index,
                .prefetchable = bar_is_prefetchable(bar),
                .sizes = bar->resizable_sizes,
                .current = bar->size,
                .largest = pci_rebar_sizes_max(bar->resizable_sizes),
                .planned = bar->size,
        };
        if (!f->parent ||
            pci_resource_unassigned(&(PciResource){ .start = bar->start, .flags = bar->flags }))
                return 0;
        r = pci_function_read_resources(f->parent, &pres, &n_pres);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return 0;
        r = pci_bridge_window_find(pres, n_pres, bar, &window);
        if (r < 0)
                return 0;

        for (size_t i = 0; i < n_functions; i++) {
                _cleanup_free_ PciResource *res = NULL;
                size_t n_res = 0;

                if (functions[i]->parent != f->parent)
                        continue;
                r = pci_function_read_resources(functions[i], &res, &n_res);
                if (r == -ENOMEM)
                        return r;
                if (r < 0)
                        continue;
                r = collect_in_window(
                        res,
                        n_res,
                        &window,
                        functions[i] == f ? (int) bar->index : -1,
                        &others,
                        &n_others);
                if (r < 0)
                        return r;
        }

        ret->window = window.end - window.start + 1;
        r = pci_bar_fit_size(&window, bar->resizable_sizes, others, n_others, &fit);
        if (r == -ENOMEM)
                return r;
        if (r >= 0 && fit > ret->planned)
                ret->planned = fit;
        if (ret->largest > 0) {
                uint64_t *grown = reallocarray(others, n_others + 1, sizeof(uint64_t));

                if (!grown)
                        return -ENOMEM;
                others = grown;
                others[n_others] = ret->largest;
                ret->needed = pci_bars_packed_end(0, others, n_others + 1);
        }
        return 0;
}

int pci_function_plan_bars(
        const PciFunction *f,
        PciFunction *const *functions,
        size_t n_functions,
        PciBarPlan **ret,
        size_t *ret_n) {
        _cleanup_free_ PciBarPlan *plans = NULL;
        _cleanup_free_ PciBar *bars = NULL;
        size_t n_bars = 0, n = 0;
        int r;

        r = pci_function_read_bars(f, &bars, &n_bars);
        if (r < 0)
                return r;
        plans = calloc(MAX(n_bars, (size_t) 1), sizeof(PciBarPlan));
        if (!plans)
                return -ENOMEM;
        FOREACH_ARRAY(b, bars, n_bars) {
                if (b->resizable_sizes == 0)
                        continue;
                r = plan_one(f, b, functions, n_functions, &plans[n]);
                if (r < 0)
                        return r;
                n++;
        }
        *ret = TAKE_PTR(plans);
        *ret_n = n;
        return 0;
}

int pci_function_resize_bar(const char *bdf, unsigned index, uint64_t size, usec_t timeout) {
        _cleanup_free_ char *dir = NULL, *path = NULL, *text = NULL;
        _cleanup_free_ PciResource *res = NULL;
        char bit[16];
        size_t n = 0;
        int b, r;

        if (!pci_bdf_is_valid(bdf) || index >= PCI_STD_NUM_BARS)
                return -EINVAL;
        b = pci_rebar_size_to_bit(size);
        if (b < 0)
                return b;
        if (asprintf(&dir, "/sys/bus/pci/devices/%s", bdf) < 0 ||
            asprintf(&path, "%s/resource%u_resize", dir, index) < 0)
                return -ENOMEM;
        snprintf(bit, sizeof(bit), "%d", b);
        /* The attribute's absence first: the kernel's own ENOENT means no room (see the header). */
        if (access(path, F_OK) < 0)
                return errno != ENOENT ? -errno : access(dir, F_OK) < 0 ? -ENODEV : -EOPNOTSUPP;
        r = sysfs_write_timeout(path, bit, timeout);
        if (r < 0)
                return r;
        r = sysfs_read_attr(dir, "resource", &text);
        if (r < 0)
                return r;
        r = pci_resource_parse(text, &res, &n);
        if (r < 0)
                return r;
        if (n <= index || pci_resource_size(&res[index]) != size)
                return -EIO;
        return 0;
}
