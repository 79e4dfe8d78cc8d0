/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "egpu-reset.h"
#include "util.h"

void egpu_reset_done(EgpuReset *r) {
        FOREACH_ARRAY(f, r->functions, r->n_functions) {
                strv_free(f->hot_reset_set);
                strv_free(f->outside);
        }
        free(r->functions);
        *r = (EgpuReset){};
}

static bool egpu_has_group(const Egpu *e, int group) {
        FOREACH_ARRAY(g, e->groups, e->n_groups)
                if ((*g)->id == group)
                        return true;
        return false;
}

static const VfioFunction *probed(const VfioProbe *probes, size_t n_probes, const char *bdf) {
        for (size_t i = 0; i < n_probes; i++) {
                if (probes[i].held || probes[i].failed)
                        continue;
                FOREACH_ARRAY(f, probes[i].functions, probes[i].n_functions)
                        if (streq(f->bdf, bdf))
                                return f;
        }
        return NULL;
}

static bool egpu_has_bdf(const Egpu *e, const char *bdf) {
        FOREACH_ARRAY(f, e->functions, e->n_functions)
                if (streq((*f)->bdf, bdf))
                        return true;
        return false;
}

static int add_device(const Egpu *e, EgpuFunctionReset *r, const char *bdf, int group) {
        int k = strv_extend(&r->hot_reset_set, bdf);

        if (k < 0 || egpu_has_bdf(e, bdf))
                return k;
        if (group < 0 || !egpu_has_group(e, group))
                r->outside_groups = true;
        return strv_extend(&r->outside, bdf);
}

/* What the kernel's VFIO_DEVICE_GET_PCI_HOT_RESET_INFO walks without a slot reset: pci_walk_bus() over
 * the function's bus, the devices on it and below its bridges. */
static int hot_reset_set_from_sysfs(
        const Host *h,
        const Egpu *e,
        const PciFunction *f,
        EgpuFunctionReset *r) {
        int k;

        if (!f->parent) {
                r->hot_reset = -ENODEV; /* a root bus: pci_probe_reset_bus() has no bridge to reset */
                return 0;
        }
        FOREACH_ARRAY(x, h->pci, h->n_pci)
                for (const PciFunction *p = (*x)->parent; p; p = p->parent)
                        if (p == f->parent) {
                                k = add_device(e, r, (*x)->bdf, (*x)->iommu_group);
                                if (k < 0)
                                        return k;
                                break;
                        }
        return 0;
}

/* Whether vfio-pci's pci_try_reset_function() at open would work, read from sysfs: a method the kernel
 * lists other than "bus", or "bus" for a function alone on its bus. The kernel probes reset_method when
 * the function is added, maybe before its siblings are (tests/vm kernel-facts: "bus" listed at boot for a
 * function that shares its bus), while the reset itself refuses a function with a sibling:
 * drivers/pci/pci.c pci_reset_bus_function() tries pci_dev_reset_slot_function(), which refuses a
 * multi-function device, then pci_parent_bus_reset(), which refuses any device that is not alone on its
 * bus. The VFIO pre-flight's answer is the kernel's own and wins where there is one. */
static bool resets_alone_from_sysfs(const Host *h, const PciFunction *f) {
        STRV_FOREACH(m, f->reset_methods)
                if (!streq(*m, "bus"))
                        return true;
        if (!pci_function_has_reset_method(f, "bus") || !f->parent)
                return false;
        FOREACH_ARRAY(x, h->pci, h->n_pci)
                if (*x != f && (*x)->parent == f->parent)
                        return false;
        return true;
}

static int check_function(
        const Host *h,
        const Egpu *e,
        const PciFunction *f,
        const VfioFunction *v,
        EgpuFunctionReset *r) {
        bool has_flr = pci_function_has_reset_method(f, "flr") || pci_function_has_reset_method(f, "af_flr"),
             has_pm = pci_function_has_reset_method(f, "pm");
        int k;

        r->function = f;
        if (v) {
                r->from_kernel = true;
                r->resets_alone = v->flags & VFIO_DEVICE_FLAGS_RESET;
                r->hot_reset = v->hot_reset;
                FOREACH_ARRAY(d, v->hot_reset_deps, v->n_hot_reset_deps) {
                        k = add_device(e, r, d->bdf, (int) d->group);
                        if (k < 0)
                                return k;
                }
        } else {
                r->resets_alone = resets_alone_from_sysfs(h, f);
                k = hot_reset_set_from_sysfs(h, e, f, r);
                if (k < 0)
                        return k;
        }
        r->needs_bus_reset = !r->resets_alone || (!has_flr && has_pm);
        if (!r->needs_bus_reset)
                r->verdict = EGPU_RESET_OWN;
        else if (r->hot_reset != 0)
                /* QEMU's last resort, vfio_pci_reset(): the PM reset, when that is what the kernel has */
                r->verdict = r->resets_alone ? EGPU_RESET_OWN : EGPU_RESET_NONE;
        else
                r->verdict = r->outside ? EGPU_RESET_BUS_OUTSIDE : EGPU_RESET_BUS;
        return 0;
}

int egpu_reset_check(
        const Host *h,
        const Egpu *e,
        const VfioProbe *probes,
        size_t n_probes,
        EgpuReset *ret) {
        _cleanup_(egpu_reset_done) EgpuReset r = {};
        int k;

        r.functions = calloc(e->n_functions, sizeof(EgpuFunctionReset));
        if (e->n_functions > 0 && !r.functions)
                return -ENOMEM;
        FOREACH_ARRAY(f, e->functions, e->n_functions) {
                k = check_function(
                        h,
                        e,
                        *f,
                        probed(probes, n_probes, (*f)->bdf),
                        &r.functions[r.n_functions++]);
                if (k < 0)
                        return k;
        }
        *ret = r;
        r = (EgpuReset){};
        return 0;
}

bool egpu_reset_ok(const EgpuReset *r) {
        FOREACH_ARRAY(f, r->functions, r->n_functions)
                if (IN_SET(f->verdict, EGPU_RESET_BUS_OUTSIDE, EGPU_RESET_NONE))
                        return false;
        return true;
}

const char *egpu_reset_verdict_to_string(EgpuResetVerdict v) {
        switch (v) {
        case EGPU_RESET_OWN:
                return "own";
        case EGPU_RESET_BUS:
                return "bus";
        case EGPU_RESET_BUS_OUTSIDE:
                return "bus-outside";
        default:
                return "none";
        }
}

int egpu_function_reset_describe(const EgpuFunctionReset *f, char **ret) {
        _cleanup_free_ char *others = NULL, *outside = NULL, *s = NULL;
        int k;

        switch (f->verdict) {
        case EGPU_RESET_OWN:
                s = strdup(
                        f->needs_bus_reset ? "PM reset only (no bus reset reaches it)" : "resets by itself");
                break;
        case EGPU_RESET_NONE:
                s = strdup("no reset QEMU can use");
                break;
        case EGPU_RESET_BUS:
                STRV_FOREACH(d, f->hot_reset_set)
                        if (!streq(*d, f->function->bdf) &&
                            (k = strextendf_with_separator(&others, ", ", "%s", *d)) < 0)
                                return k;
                if (asprintf(
                            &s,
                            "bus reset%s%s%s",
                            others ? " (also resets " : "",
                            strempty(others),
                            others ? ")" : "") < 0)
                        s = NULL;
                break;
        case EGPU_RESET_BUS_OUTSIDE:
                STRV_FOREACH(d, f->outside)
                        if ((k = strextendf_with_separator(&outside, ", ", "%s", *d)) < 0)
                                return k;
                if (asprintf(
                            &s,
                            f->outside_groups
                                    ? "a bus reset would also reset %s, outside the eGPU's IOMMU "
                                      "groups: QEMU cannot reset it"
                                    : "a bus reset would also reset %s, which is not the eGPU's "
                                      "(it shares the eGPU's IOMMU group): every VM start resets it",
                            outside) < 0)
                        s = NULL;
                break;
        }
        if (!s)
                return -ENOMEM;
        *ret = TAKE_PTR(s);
        return 0;
}
