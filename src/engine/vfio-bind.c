/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <dirent.h>
#include <fcntl.h>

#include "kernel-module.h"
#include "pci-bar.h"
#include "sysfs.h"
#include "util.h"
#include "vendor-reset-ids.h"
#include "vfio-bind.h"

#define VFIO_DRIVER "vfio-pci"

/* "0000:04:00.0 (bridge, no driver), 0000:05:01.0 (eGPU, vfio-pci), 0000:05:02.0 (virtio-pci)" */
static int group_members_string(const Egpu *e, const IommuGroup *g, char **ret) {
        _cleanup_free_ char *s = strdup("");

        if (!s)
                return -ENOMEM;
        FOREACH_ARRAY(m, g->members, g->n_members) {
                char *t;

                if (asprintf(
                            &t,
                            "%s%s%s (%s%s)",
                            s,
                            *s ? ", " : "",
                            (*m)->bdf,
                            pci_function_is_bridge(*m)         ? "bridge, "
                                    : egpu_has_function(e, *m) ? "eGPU, "
                                                               : "",
                            (*m)->driver ?: "no driver") < 0)
                        return -ENOMEM;
                free(s);
                s = t;
        }
        *ret = TAKE_PTR(s);
        return 0;
}

int vfio_bind_check_groups(const Host *h, const Egpu *e, Report *rep) {
        int r = 0;

        (void) h;
        FOREACH_ARRAY(f, e->functions, e->n_functions)
                if ((*f)->iommu_group < 0)
                        return report_error(
                                rep,
                                -ENXIO,
                                "%s has no IOMMU group: the IOMMU is off (intel_iommu=on or "
                                "amd_iommu=on, and VT-d/AMD-Vi in the firmware)",
                                (*f)->bdf);

        FOREACH_ARRAY(g, e->groups, e->n_groups)
                FOREACH_ARRAY(m, (*g)->members, (*g)->n_members) {
                        _cleanup_free_ char *members = NULL;

                        if (!egpu_member_is_foreign(e, *m) || driver_manages_dma((*m)->driver, false))
                                continue;
                        if (group_members_string(e, *g, &members) < 0)
                                return -ENOMEM;
                        r = report_error(
                                rep,
                                -EBUSY,
                                "IOMMU group %d of eGPU %s holds %s; binding would take %s (%04x:%04x) "
                                "from the host's driver %s, so nothing was changed",
                                (*g)->id,
                                e->gpu->bdf,
                                members,
                                (*m)->bdf,
                                (*m)->vendor,
                                (*m)->device,
                                (*m)->driver);
                }
        return r;
}

/* "device_specific" first, then the methods the function had, without repeating it. */
static int reset_list_device_specific_first(char **methods, char **ret) {
        _cleanup_free_ char *s = strdup("device_specific");

        if (!s)
                return -ENOMEM;
        STRV_FOREACH(m, methods) {
                char *t;
                if (streq(*m, "device_specific"))
                        continue;
                if (asprintf(&t, "%s %s", s, *m) < 0)
                        return -ENOMEM;
                free(s);
                s = t;
        }
        *ret = TAKE_PTR(s);
        return 0;
}

static int choose_reset_method(const PciFunction *f, int timeout_ms, Report *rep) {
        _cleanup_free_ char *list = NULL;
        int r;

        if (!vendor_reset_supports(f->vendor, f->device))
                return 0;
        if (!kernel_module_loaded("vendor_reset")) {
                report_note(
                        rep,
                        "%s (%04x:%04x) needs vendor-reset, which is not loaded",
                        f->bdf,
                        f->vendor,
                        f->device);
                return 0;
        }
        if (f->reset_methods && f->reset_methods[0] && streq(f->reset_methods[0], "device_specific"))
                return 0;
        r = reset_list_device_specific_first(f->reset_methods, &list);
        if (r < 0)
                return r;
        r = pci_function_set_reset_method(f->bdf, list, timeout_ms * USEC_PER_MSEC);
        if (r < 0)
                return report_error(
                        rep,
                        r,
                        "Failed to set the reset method of %s to '%s': %m",
                        f->bdf,
                        list);
        return report_change(rep, "%s: reset method set to '%s' (vendor-reset)", f->bdf, list);
}

/* What one function looked like before we touched it, to put it back on failure. */
typedef struct Undo {
        const char *bdf;
        char *driver;          /* bound before */
        char *driver_override; /* before, NULL when none */
        bool touched;
} Undo;

static void undo_function(Undo *u, int timeout_ms, Report *rep) {
        _cleanup_free_ char *now = NULL;

        if (!u->touched)
                return;
        (void) pci_function_set_driver_override(u->bdf, u->driver_override, timeout_ms * USEC_PER_MSEC);
        if (pci_function_read_driver(u->bdf, &now) < 0)
                return;
        if (!streq_ptr(now, u->driver)) {
                _cleanup_free_ char *after = NULL;
                if (now)
                        (void) pci_function_unbind(u->bdf, timeout_ms * USEC_PER_MSEC);
                if (u->driver)
                        (void) pci_function_probe(u->bdf, timeout_ms * USEC_PER_MSEC, &after);
        }
        report_note(rep, "%s: put back as it was (driver %s)", u->bdf, u->driver ?: "none");
}

/* Grows each Resizable BAR of f to what pci_function_plan_bars() plans (the size doctor's bar-size check
 * names too), while f is bound to no driver: the kernel refuses with EBUSY while one is, vfio-pci included
 * (drivers/pci/pci-sysfs.c __resource_resize_store()), so this runs between the unbind and the probe. When
 * the kernel finds no room (ENOSPC from drivers/pci/setup-bus.c pci_reassign_bridge_resources(), or ENOENT
 * when it found no window it could release), the next smaller size is tried. A BAR that cannot grow costs
 * the guest memory bandwidth, not the attach: anything else is a note. */
static int grow_bars(const Host *h, const PciFunction *f, int timeout_ms, Report *rep) {
        _cleanup_free_ PciBarPlan *plans = NULL;
        size_t n = 0;
        int r;

        r = pci_function_plan_bars(f, h->pci, h->n_pci, &plans, &n);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return 0;
        FOREACH_ARRAY(p, plans, n) {
                char now[FORMAT_BYTES_MAX], to[FORMAT_BYTES_MAX], most[FORMAT_BYTES_MAX];
                uint64_t size;

                format_bytes(now, sizeof(now), p->current);
                format_bytes(most, sizeof(most), p->largest);
                if (p->planned <= p->current) {
                        if (p->current < p->largest && p->window == 0)
                                report_note(
                                        rep,
                                        "%s: BAR %u stays at %s of up to %s: sysfs shows "
                                        "no bridge window above it",
                                        f->bdf,
                                        p->index,
                                        now,
                                        most);
                        else if (p->current < p->largest)
                                report_note(
                                        rep,
                                        "%s: BAR %u stays at %s of up to %s: the bridge window "
                                        "above holds no more (egpuctl doctor, check bar-size)",
                                        f->bdf,
                                        p->index,
                                        now,
                                        most);
                        continue;
                }
                r = -ENOSPC;
                for (size = p->planned; size > p->current; size >>= 1) {
                        if (pci_rebar_size_to_bit(size) < 0 ||
                            !(p->sizes & (UINT64_C(1) << pci_rebar_size_to_bit(size))))
                                continue;
                        r = pci_function_resize_bar(f->bdf, p->index, size, timeout_ms * USEC_PER_MSEC);
                        if (IN_SET(r, -ENOSPC, -ENOENT))
                                continue;
                        break;
                }
                format_bytes(to, sizeof(to), size);
                if (size > p->current && r >= 0)
                        report_change(
                                rep,
                                "%s: BAR %u grown from %s to %s (up to %s)",
                                f->bdf,
                                p->index,
                                now,
                                to,
                                most);
                else if (r == -ENOMEM)
                        return r;
                else if (IN_SET(r, -ENOSPC, -ENOENT))
                        report_note(
                                rep,
                                "%s: BAR %u stays at %s: the kernel found no room in the bridge window",
                                f->bdf,
                                p->index,
                                now);
                else {
                        errno = -r;
                        report_note(
                                rep,
                                "%s: BAR %u stays at %s: the kernel refused to grow it: %m",
                                f->bdf,
                                p->index,
                                now);
                }
        }
        return 0;
}

static int bind_function(const Host *h, const PciFunction *f, Undo *u, int timeout_ms, Report *rep) {
        _cleanup_free_ char *driver = NULL, *after = NULL, *override = NULL;
        int r;

        r = pci_function_read_driver(f->bdf, &driver);
        if (r < 0)
                return report_error(rep, r, "Failed to read the driver of %s: %m", f->bdf);
        r = pci_function_read_driver_override(f->bdf, timeout_ms * USEC_PER_MSEC, &override);
        if (r < 0)
                return report_error(rep, r, "Failed to read the driver_override of %s: %m", f->bdf);
        u->driver = driver ? strdup(driver) : NULL;
        u->driver_override = override ? strdup(override) : NULL;

        if (streq_ptr(driver, VFIO_DRIVER) && streq_ptr(override, VFIO_DRIVER)) {
                report_note(rep, "%s: already on vfio-pci", f->bdf);
                return 0;
        }

        u->touched = true;
        r = choose_reset_method(f, timeout_ms, rep);
        if (r < 0)
                return r;

        r = pci_function_set_driver_override(f->bdf, VFIO_DRIVER, timeout_ms * USEC_PER_MSEC);
        if (r < 0)
                return report_error(rep, r, "Failed to set driver_override of %s to vfio-pci: %m", f->bdf);

        if (streq_ptr(driver, VFIO_DRIVER)) {
                report_change(rep, "%s: driver_override set to vfio-pci (already bound)", f->bdf);
                return 1;
        }
        if (driver) {
                r = pci_function_unbind(f->bdf, timeout_ms * USEC_PER_MSEC);
                if (r < 0)
                        return report_error(rep, r, "Failed to unbind %s from %s: %m", f->bdf, driver);
        }
        /* Unbound now, and driver_override keeps every host driver away until the probe. */
        r = grow_bars(h, f, timeout_ms, rep);
        if (r < 0)
                return r;
        r = pci_function_probe(f->bdf, timeout_ms * USEC_PER_MSEC, &after);
        if (r < 0)
                return report_error(rep, r, "Failed to probe %s for vfio-pci: %m", f->bdf);
        if (after && !streq(after, VFIO_DRIVER) && !driver) {
                /* The kernel's own first probe of a function that just appeared was under way when we
                 * read it unbound, and a host driver won: take it from that driver once (and give it
                 * back to that driver should anything fail). */
                driver = TAKE_PTR(after);
                free(u->driver);
                u->driver = strdup(driver);
                r = pci_function_unbind(f->bdf, timeout_ms * USEC_PER_MSEC);
                if (r >= 0)
                        r = pci_function_probe(f->bdf, timeout_ms * USEC_PER_MSEC, &after);
                if (r < 0)
                        return report_error(rep, r, "Failed to take %s from %s: %m", f->bdf, strna(driver));
        }
        if (!streq_ptr(after, VFIO_DRIVER))
                return report_error(
                        rep,
                        -EIO,
                        "%s is on %s after the probe, not on vfio-pci",
                        f->bdf,
                        after ?: "no driver");
        if (driver)
                report_change(rep, "%s: moved from %s to vfio-pci", f->bdf, driver);
        else
                report_change(rep, "%s: bound to vfio-pci", f->bdf);
        return 1;
}

/* Reads the kernel's member list of the group afresh (iommu_groups/N/devices): a device that joined
 * since the snapshot (a tunnel's functions appear one after another) counts too. A member that is not
 * one of the eGPU's functions, not a bridge, and on a host driver makes the group unusable. */
static int check_group_fresh(const Egpu *e, int group, Report *rep) {
        _cleanup_(closedirp) DIR *d = NULL;
        _cleanup_free_ char *path = NULL;
        struct dirent *de;

        if (asprintf(&path, "/sys/kernel/iommu_groups/%d/devices", group) < 0)
                return -ENOMEM;
        d = opendir(path);
        if (!d && errno == ENOENT)
                return report_error(
                        rep,
                        -ENODEV,
                        "IOMMU group %d is gone: the eGPU %s went away",
                        group,
                        e->gpu->bdf);
        if (!d)
                return report_error(rep, negative_errno(), "Failed to list IOMMU group %d: %m", group);
        while ((de = readdir(d))) {
                _cleanup_free_ char *driver = NULL, *dir = NULL, *class = NULL;
                uint32_t cls = 0;
                bool ours = false;

                if (!pci_bdf_is_valid(de->d_name))
                        continue;
                FOREACH_ARRAY(f, e->functions, e->n_functions)
                        ours = ours || streq((*f)->bdf, de->d_name);
                if (ours)
                        continue;
                if (pci_function_read_driver(de->d_name, &driver) < 0 || !driver)
                        continue;
                if (asprintf(&dir, "/sys/bus/pci/devices/%s", de->d_name) < 0)
                        return -ENOMEM;
                if (sysfs_read_attr(dir, "class", &class) >= 0)
                        (void) safe_atou32(class, 16, &cls);
                if (driver_manages_dma(driver, (cls >> 8) == PCI_CLASS_BRIDGE_PCI))
                        continue;
                return report_error(
                        rep,
                        -EBUSY,
                        "IOMMU group %d of eGPU %s now also holds %s on the host's driver %s; binding "
                        "would take it from the host",
                        group,
                        e->gpu->bdf,
                        de->d_name,
                        driver);
        }
        return 0;
}

static int check_vfio_node(int group, Report *rep) {
        _cleanup_free_ char *p = NULL;

        if (asprintf(&p, "/dev/vfio/%d", group) < 0)
                return -ENOMEM;
        if (access(p, F_OK) < 0)
                return report_error(
                        rep,
                        negative_errno(),
                        "%s is missing although the group is on vfio-pci",
                        p);
        return 0;
}

int vfio_bind_egpu(const Host *h, const Egpu *e, int timeout_ms, Report *rep) {
        _cleanup_free_ Undo *undo = NULL;
        bool changed = false;
        int r;

        r = vfio_bind_check_groups(h, e, rep);
        if (r < 0)
                return r;
        FOREACH_ARRAY(g, e->groups, e->n_groups) {
                r = check_group_fresh(e, (*g)->id, rep);
                if (r < 0)
                        return r;
        }
        if (!pci_driver_is_registered(VFIO_DRIVER))
                return report_error(rep, -ENOPKG, "The vfio-pci driver is not loaded (modprobe vfio-pci)");

        undo = calloc(e->n_functions, sizeof(Undo));
        if (!undo)
                return -ENOMEM;
        for (size_t i = 0; i < e->n_functions; i++) {
                undo[i].bdf = e->functions[i]->bdf;
                r = bind_function(h, e->functions[i], &undo[i], timeout_ms, rep);
                if (r < 0)
                        break;
                if (r > 0)
                        changed = true;
        }
        /* Read back: the node of each group, and no host device joined a group meanwhile. */
        if (r >= 0)
                FOREACH_ARRAY(g, e->groups, e->n_groups) {
                        r = check_vfio_node((*g)->id, rep);
                        if (r >= 0)
                                r = check_group_fresh(e, (*g)->id, rep);
                        if (r < 0)
                                break;
                }
        if (r < 0)
                for (size_t i = e->n_functions; i > 0; i--)
                        undo_function(&undo[i - 1], timeout_ms, rep);
        for (size_t i = 0; i < e->n_functions; i++) {
                free(undo[i].driver);
                free(undo[i].driver_override);
        }
        if (r < 0)
                return r;
        return changed ? 1 : 0;
}

int vfio_unbind_egpu(const Egpu *e, bool reprobe, int timeout_ms, Report *rep) {
        int r, ret = 0;

        for (size_t i = e->n_functions; i > 0; i--) {
                const PciFunction *f = e->functions[i - 1];
                _cleanup_free_ char *driver = NULL, *after = NULL, *override = NULL;

                r = pci_function_read_driver(f->bdf, &driver);
                if (r >= 0)
                        r = pci_function_read_driver_override(f->bdf, timeout_ms * USEC_PER_MSEC, &override);
                if (r < 0) {
                        ret = report_error(rep, r, "Failed to read the driver of %s: %m", f->bdf);
                        continue;
                }
                if (override) {
                        r = pci_function_set_driver_override(f->bdf, NULL, timeout_ms * USEC_PER_MSEC);
                        if (r < 0) {
                                ret = report_error(
                                        rep,
                                        r,
                                        "Failed to clear driver_override of %s: %m",
                                        f->bdf);
                                continue;
                        }
                        report_change(rep, "%s: driver_override cleared", f->bdf);
                }
                if (streq_ptr(driver, VFIO_DRIVER)) {
                        r = pci_function_unbind(f->bdf, timeout_ms * USEC_PER_MSEC);
                        if (r < 0) {
                                ret = report_error(rep, r, "Failed to unbind %s from vfio-pci: %m", f->bdf);
                                continue;
                        }
                        report_change(rep, "%s: unbound from vfio-pci", f->bdf);
                }
                if (reprobe) {
                        r = pci_function_probe(f->bdf, timeout_ms * USEC_PER_MSEC, &after);
                        if (r < 0) {
                                ret = report_error(rep, r, "Failed to give %s back to the host: %m", f->bdf);
                                continue;
                        }
                        if (after)
                                report_change(rep, "%s: given back to %s", f->bdf, after);
                }
        }
        return ret;
}

void vfio_preflight_done(VfioPreflight *p) {
        FOREACH_ARRAY(g, p->groups, p->n_groups)
                vfio_probe_done(g);
        free(p->groups);
        *p = (VfioPreflight){};
}

int vfio_preflight_egpu(const Egpu *e, VfioPreflight *ret) {
        _cleanup_(vfio_preflight_done) VfioPreflight p = {};
        int r;

        p.groups = calloc(e->n_groups, sizeof(VfioProbe));
        if (e->n_groups > 0 && !p.groups)
                return -ENOMEM;
        FOREACH_ARRAY(g, e->groups, e->n_groups) {
                _cleanup_strv_free_ char **bdfs = NULL;

                FOREACH_ARRAY(f, e->functions, e->n_functions)
                        if ((*f)->iommu_group == (*g)->id && (r = strv_extend(&bdfs, (*f)->bdf)) < 0)
                                return r;
                r = vfio_probe_group((*g)->id, bdfs, &p.groups[p.n_groups]);
                if (r < 0)
                        return r;
                p.n_groups++;
        }
        *ret = p;
        p = (VfioPreflight){};
        return 0;
}

bool vfio_preflight_ok(const VfioPreflight *p) {
        FOREACH_ARRAY(g, p->groups, p->n_groups)
                if (g->failed || (g->iommufd_failed && !g->held))
                        return false;
        return true;
}

/* "reset by itself", "bus reset (also resets 0000:30:00.1)", "no reset" */
static int describe_reset(const VfioFunction *f, char **ret) {
        _cleanup_free_ char *others = strdup("");

        if (!others)
                return -ENOMEM;
        if (f->flags & VFIO_DEVICE_FLAGS_RESET)
                return (*ret = strdup("resets by itself")) ? 0 : -ENOMEM;
        if (f->hot_reset != 0)
                return (*ret = strdup("no reset QEMU can use")) ? 0 : -ENOMEM;
        FOREACH_ARRAY(d, f->hot_reset_deps, f->n_hot_reset_deps) {
                char *t;

                if (streq(d->bdf, f->bdf))
                        continue;
                if (asprintf(&t, "%s%s%s", others, *others ? ", " : "", d->bdf) < 0)
                        return -ENOMEM;
                free(others);
                others = t;
        }
        if (asprintf(ret, "bus reset%s%s%s", *others ? " (also resets " : "", others, *others ? ")" : "") <
            0)
                return -ENOMEM;
        return 0;
}

int vfio_probe_describe(const VfioProbe *p, char **ret) {
        _cleanup_free_ char *functions = strdup("");

        if (!functions)
                return -ENOMEM;
        if (p->held) {
                if (p->holder > 0)
                        return asprintf(
                                       ret,
                                       "IOMMU group %d: held by process %d",
                                       p->group,
                                       (int) p->holder) < 0
                                ? -ENOMEM
                                : 0;
                return asprintf(
                               ret,
                               "IOMMU group %d: held by a process egpuctl may not look into ('fuser -v "
                               "/dev/vfio/%d' names it)",
                               p->group,
                               p->group) < 0
                        ? -ENOMEM
                        : 0;
        }
        if (p->failed) {
                errno = -p->error;
                return asprintf(ret, "IOMMU group %d: %s failed: %m", p->group, p->failed) < 0 ? -ENOMEM : 0;
        }
        if (p->iommufd_failed) {
                errno = -p->iommufd_error;
                return asprintf(
                               ret,
                               "IOMMU group %d: the container path works, but iommufd's %s failed: %m",
                               p->group,
                               p->iommufd_failed) < 0
                        ? -ENOMEM
                        : 0;
        }
        FOREACH_ARRAY(f, p->functions, p->n_functions) {
                _cleanup_free_ char *reset = NULL;
                char *t;
                int r;

                r = describe_reset(f, &reset);
                if (r < 0)
                        return r;
                if (asprintf(
                            &t,
                            "%s; %s: %zu region%s, %s",
                            functions,
                            f->bdf,
                            f->n_regions,
                            f->n_regions == 1 ? "" : "s",
                            reset) < 0)
                        return -ENOMEM;
                free(functions);
                functions = t;
        }
        if (asprintf(
                    ret,
                    "IOMMU group %d: ready for a VM (%s container%s%s)",
                    p->group,
                    p->iommu_type == VFIO_TYPE1v2_IOMMU ? "type1v2" : "type1",
                    p->iommufd ? ", iommufd too" : "",
                    functions) < 0)
                return -ENOMEM;
        return 0;
}

/* The steps' reasons (Linux 6.1): drivers/vfio/group.c (vfio_group_fops_open(), VFIO_GROUP_GET_STATUS
 * and VFIO_GROUP_SET_CONTAINER: not viable while a driver owns the group's DMA), drivers/vfio/container.c
 * (the container, VFIO_CHECK_EXTENSION of the loaded IOMMU backends), drivers/vfio/vfio_iommu_type1.c
 * vfio_iommu_type1_attach_group() ("No interrupt remapping support", -EPERM unless
 * allow_unsafe_interrupts), drivers/vfio/vfio_main.c (a device opened by one user at a time). */
static const struct {
        const char *step;
        int error; /* the -errno it applies to; 0 for any */
        const char *why;
        const char *fix; /* a command, or a '#' line where no command can do it */
} probe_help[] = {
        { "open /dev/vfio/GROUP",
          -ENOENT,
          "the group has no node: none of its devices is on vfio-pci",
          "egpuctl attach" },
        { "open /dev/vfio/GROUP",
          -EACCES,
          "only root (or the node's owner) may open the group",
          "# run egpuctl as root" },
        { "VFIO_GROUP_GET_STATUS (not viable)",
          0,
          "a device of the group is on a host driver, and the kernel gives a VM a group only when every "
          "device in it is on vfio-pci, pci-stub or no driver",
          "# iommu-isolation names the device that shares the group, and what to do" },
        { "VFIO_GROUP_SET_CONTAINER",
          -EPERM,
          "a device of the group is on a host driver",
          "# iommu-isolation names the device that shares the group, and what to do" },
        { "open /dev/vfio/vfio",
          -ENOENT,
          "there is no VFIO container: the vfio module is not loaded",
          "modprobe vfio-pci" },
        { "VFIO_CHECK_EXTENSION (no type1 IOMMU)",
          0,
          "no type1 IOMMU backend: vfio_iommu_type1 is not loaded or the IOMMU is off",
          "modprobe vfio_iommu_type1" },
        { "VFIO_SET_IOMMU",
          -EPERM,
          "the type1 IOMMU refuses this platform: it has no interrupt remapping",
          "# turn on interrupt remapping in the firmware (VT-d or AMD-Vi); vfio_iommu_type1's "
          "allow_unsafe_interrupts=1 would let it, at the cost of letting the device forge interrupts" },
        { "VFIO_GROUP_GET_DEVICE_FD",
          -EBUSY,
          "another user has the function open",
          "fuser -v /dev/vfio/devices/*" },
        { "open /dev/iommu",
          -ENOENT,
          "the kernel has no iommufd: only a VM set to use it (QEMU's -object iommufd) minds; the "
          "container works",
          "# nothing to do unless the VM uses iommufd" },
};

void vfio_probe_help(const VfioProbe *p, const char **ret_why, const char **ret_fix) {
        const char *step = p->failed ?: p->iommufd_failed;
        int error = p->failed ? p->error : p->iommufd_error;

        for (size_t i = 0; step && i < ELEMENTSOF(probe_help); i++)
                if (streq(probe_help[i].step, step) &&
                    (probe_help[i].error == 0 || probe_help[i].error == error)) {
                        *ret_why = probe_help[i].why;
                        *ret_fix = probe_help[i].fix;
                        return;
                }
        *ret_why = "QEMU would fail at the same step when the VM starts";
        *ret_fix = "# the kernel log (dmesg) says why, at this step and at the VM's start";
}

int vfio_preflight_report(const VfioPreflight *p, Report *rep) {
        int ret = 0;

        FOREACH_ARRAY(g, p->groups, p->n_groups) {
                _cleanup_free_ char *line = NULL;
                int r;

                r = vfio_probe_describe(g, &line);
                if (r < 0)
                        return r;
                if (!g->failed && !(g->iommufd_failed && !g->held)) {
                        report_note(rep, "%s", line);
                        continue;
                }
                if (ret == 0)
                        ret = report_error(
                                rep,
                                g->failed ? g->error : g->iommufd_error,
                                "%s; a VM could not use it either (egpuctl doctor explains the steps)",
                                line);
        }
        return ret;
}
