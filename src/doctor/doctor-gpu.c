/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The checks of the eGPU itself: present with its BARs, isolated, on vfio-pci, resettable, its reset
 * module signed. */
#include <inttypes.h>

#include "doctor-internal.h"
#include "egpu-reset.h"
#include "kernel-module.h"
#include "live.h"
#include "pci-bar.h"
#include "vfio-bind.h"
#include "util.h"
#include "vendor-reset-ids.h"

/* Whether any eGPU sits behind router t (or, where the model could not tell which router, any eGPU). */
static bool tb_has_egpu(const Host *h, const TbDevice *t) {
        FOREACH_ARRAY(e, h->egpus, h->n_egpus)
                if ((*e)->tb_device == t || !(*e)->tb_device)
                        return true;
        return false;
}

static uint64_t round_up_pow2(uint64_t v) {
        uint64_t p = 1;
        while (p < v && p < (UINT64_C(1) << 62))
                p <<= 1;
        return p;
}

static int check_gpu_present(Doctor *d, Check *c) {
        const Host *h = d->host;
        _cleanup_free_ char *ok = NULL;
        uint64_t missing = 0;
        size_t n_authorized = 0;
        int r;

        FOREACH_ARRAY(tp, h->tb_devices, h->n_tb_devices) {
                const TbDevice *t = *tp;
                _cleanup_free_ char *label = NULL;

                if (!tb_device_is_connected_device(t))
                        continue;
                n_authorized++;
                if (!doctor_tb_looks_like_egpu(t) || tb_has_egpu(h, t))
                        continue;
                label = doctor_tb_label(t);
                if (!label)
                        return -ENOMEM;
                r = check_problem(
                        c,
                        CHECK_FAIL,
                        "%s is authorized, but no GPU (display-class PCI function) appeared behind it",
                        label);
                if (r < 0)
                        return r;
                r = check_fix(
                        c,
                        "# Ask the kernel to look for it again:\n"
                        "echo 1 > /sys/bus/pci/rescan\n"
                        "# If it still is not there, read why (\"BAR ... no space\", \"bridge window\"):\n"
                        "journalctl -k -b | grep -iE 'pci|thunderbolt' | tail -50\n"
                        "# and give the hot-plug ports more room with the kernel parameters\n"
                        "# pci=realloc,hpbussize=0x33,hpmmioprefsize=16G,hpmmiosize=256M:");
                if (r < 0)
                        return r;
                r = doctor_fix_kernel_params(
                        d,
                        c,
                        "pci=realloc,hpbussize=0x33,hpmmioprefsize=16G,hpmmiosize=256M");
                if (r < 0)
                        return r;
        }

        FOREACH_ARRAY(ep, h->egpus, h->n_egpus) {
                const Egpu *e = *ep;
                bool all_read = true;

                FOREACH_ARRAY(fp, e->functions, e->n_functions) {
                        _cleanup_free_ PciResource *res = NULL;
                        size_t n_res = 0;

                        r = pci_function_read_resources(*fp, &res, &n_res);
                        if (r == -ENOMEM)
                                return r;
                        if (r < 0) {
                                all_read = false;
                                continue;
                        }
                        for (size_t i = 0; i < MIN(n_res, (size_t) PCI_RESOURCE_ROM); i++) {
                                char size[FORMAT_BYTES_MAX];

                                if (!pci_resource_unassigned(&res[i]))
                                        continue;
                                format_bytes(size, sizeof(size), pci_resource_size(&res[i]));
                                missing += pci_resource_size(&res[i]);
                                r = check_problem(
                                        c,
                                        CHECK_WARN,
                                        "%s BAR %zu (%s) has no address: the memory window of the "
                                        "hot-plug port above it is too small, and the driver will fail",
                                        (*fp)->bdf,
                                        i,
                                        size);
                                if (r < 0)
                                        return r;
                        }
                }
                r = strextendf_with_separator(
                        &ok,
                        "; ",
                        "eGPU %s (%04x:%04x) behind %s%s",
                        e->gpu->bdf,
                        e->gpu->vendor,
                        e->gpu->device,
                        e->tb_device ? e->tb_device->name : "a Thunderbolt/USB4 port",
                        all_read ? ", every BAR assigned" : "");
                if (r < 0)
                        return r;
        }
        if (missing > 0) {
                uint64_t gib = round_up_pow2((missing + (UINT64_C(1) << 30) - 1) >> 30);
                _cleanup_free_ char *params = NULL;

                if (asprintf(&params, "pci=realloc,hpmmioprefsize=%" PRIu64 "G", MAX(gib, UINT64_C(1))) < 0)
                        return -ENOMEM;
                r = check_fix(
                        c,
                        "# Let the kernel resize the bridge windows, with room for the GPU's BARs:");
                if (r < 0)
                        return r;
                r = doctor_fix_kernel_params(d, c, params);
                if (r < 0)
                        return r;
                r = check_fix(
                        c,
                        "# then reboot (or detach and attach the eGPU) and check that no BAR starts at 0:\n"
                        "cat /sys/bus/pci/devices/%s/resource",
                        h->egpus[0]->gpu->bdf);
                if (r < 0)
                        return r;
        }
        if (h->n_egpus > 0)
                return check_finish(c, CHECK_OK, "%s", ok);
        if (n_authorized == 0)
                return check_finish(c, CHECK_SKIP, "no authorized Thunderbolt device: no GPU is expected");
        return check_finish(
                c,
                CHECK_SKIP,
                "no eGPU enclosure among the %zu authorized Thunderbolt device%s",
                n_authorized,
                n_authorized == 1 ? "" : "s");
}

/* A window size as the kernel's memparse() reads it (lib/cmdline.c: a number, then K, M, G, T, ... for
 * powers of 1024): size rounded up to a power of two, in GiB from 1 GiB on, else in MiB (at least 1M). */
static void format_memparse(char *buf, size_t l, uint64_t size) {
        uint64_t p = round_up_pow2(MAX(size, UINT64_C(1) << 20));

        if (p >= UINT64_C(1) << 30)
                snprintf(buf, l, "%" PRIu64 "G", p >> 30);
        else
                snprintf(buf, l, "%" PRIu64 "M", p >> 20);
}

/* Whether each Resizable BAR of the eGPUs gets its largest size: the plan is attach's
 * (pci_function_plan_bars(), the size it grows a BAR to before binding to vfio-pci), so the fix names
 * what attach will do. A window too small needs the kernel's hot-plug windows widened
 * (Documentation/admin-guide/kernel-parameters.txt, pci=: hpmmioprefsize= the hot-plug bridges'
 * prefetchable window, hpmmiosize= their memory window, realloc to reassign windows the firmware made too
 * small). */
static int check_bar_size(Doctor *d, Check *c) {
        const Host *h = d->host;
        _cleanup_free_ char *ok = NULL;
        uint64_t need_pref = 0, need_mem = 0;
        bool regrow = false;
        size_t n_resizable = 0;
        int r;

        FOREACH_ARRAY(ep, h->egpus, h->n_egpus)
                FOREACH_ARRAY(fp, (*ep)->functions, (*ep)->n_functions) {
                        _cleanup_free_ PciBarPlan *plans = NULL;
                        size_t n = 0;

                        r = pci_function_plan_bars(*fp, h->pci, h->n_pci, &plans, &n);
                        if (r == -ENOMEM)
                                return r;
                        if (r < 0)
                                continue;
                        FOREACH_ARRAY(p, plans, n) {
                                char now[FORMAT_BYTES_MAX], most[FORMAT_BYTES_MAX], plan[FORMAT_BYTES_MAX],
                                        window[FORMAT_BYTES_MAX];

                                n_resizable++;
                                format_bytes(now, sizeof(now), p->current);
                                format_bytes(most, sizeof(most), p->largest);
                                format_bytes(plan, sizeof(plan), p->planned);
                                format_bytes(window, sizeof(window), p->window);
                                if (p->current >= p->largest)
                                        r = strextendf_with_separator(
                                                &ok,
                                                "; ",
                                                "%s BAR %u at its largest size, %s",
                                                (*fp)->bdf,
                                                p->index,
                                                most);
                                else if (p->window == 0)
                                        r = strextendf_with_separator(
                                                &ok,
                                                "; ",
                                                "%s BAR %u at %s of up to %s "
                                                "(no bridge window shown above it)",
                                                (*fp)->bdf,
                                                p->index,
                                                now,
                                                most);
                                else if (p->planned >= p->largest) {
                                        r = check_problem(
                                                c,
                                                CHECK_WARN,
                                                "%s BAR %u is %s of up to %s, and the bridge window "
                                                "holds the largest: attach grows it while the eGPU "
                                                "is unbound",
                                                (*fp)->bdf,
                                                p->index,
                                                now,
                                                most);
                                        regrow = true;
                                } else {
                                        char need[FORMAT_BYTES_MAX];

                                        format_bytes(need, sizeof(need), round_up_pow2(p->needed));
                                        r = check_problem(
                                                c,
                                                CHECK_WARN,
                                                "%s BAR %u: the guest will see %s instead of %s: "
                                                "the bridge window above it is %s, the largest "
                                                "size needs a %s window",
                                                (*fp)->bdf,
                                                p->index,
                                                plan,
                                                most,
                                                window,
                                                need);
                                        if (p->prefetchable)
                                                need_pref = MAX(need_pref, p->needed);
                                        else
                                                need_mem = MAX(need_mem, p->needed);
                                }
                                if (r < 0)
                                        return r;
                        }
                }
        if (need_pref > 0 || need_mem > 0) {
                _cleanup_free_ char *params = strdup("pci=realloc");
                char size[32];

                if (!params)
                        return -ENOMEM;
                if (need_pref > 0) {
                        format_memparse(size, sizeof(size), need_pref);
                        r = strextendf_with_separator(&params, ",", "hpmmioprefsize=%s", size);
                        if (r < 0)
                                return r;
                }
                if (need_mem > 0) {
                        format_memparse(size, sizeof(size), need_mem);
                        r = strextendf_with_separator(&params, ",", "hpmmiosize=%s", size);
                        if (r < 0)
                                return r;
                }
                r = check_fix(
                        c,
                        "# Give the hot-plug ports' bridge windows room for the BAR at its largest size:");
                if (r >= 0)
                        r = doctor_fix_kernel_params(d, c, params);
                if (r < 0)
                        return r;
                regrow = true;
        }
        if (regrow) {
                r = check_fix(
                        c,
                        "# %s attach grows the BAR before it binds the eGPU to vfio-pci:\n"
                        "egpuctl detach && egpuctl attach",
                        need_pref > 0 || need_mem > 0 ? "Then reboot;" : "While the eGPU is unbound,");
                if (r < 0)
                        return r;
        }
        if (n_resizable == 0)
                return check_finish(c, CHECK_OK, "no Resizable BAR on the eGPUs' functions");
        return check_finish(c, CHECK_OK, "%s", strna(ok));
}

static int check_iommu_isolation(Doctor *d, Check *c) {
        const Host *h = d->host;
        _cleanup_free_ char *ok = NULL;
        bool no_groups = false;
        int r;

        if (!host_iommu_active(h))
                return check_finish(
                        c,
                        CHECK_SKIP,
                        "no IOMMU groups, since no IOMMU is active (see the iommu check)");

        FOREACH_ARRAY(ep, h->egpus, h->n_egpus) {
                const Egpu *e = *ep;
                _cleanup_free_ char *ids = NULL;

                FOREACH_ARRAY(fp, e->functions, e->n_functions)
                        if ((*fp)->iommu_group < 0) {
                                r = check_problem(c, CHECK_FAIL, "%s has no IOMMU group", (*fp)->bdf);
                                if (r < 0)
                                        return r;
                                no_groups = true;
                        }
                FOREACH_ARRAY(gp, e->groups, e->n_groups) {
                        const IommuGroup *g = *gp;
                        _cleanup_free_ char *foreign = NULL;

                        r = strextendf_with_separator(&ids, ", ", "%d", g->id);
                        if (r < 0)
                                return r;
                        FOREACH_ARRAY(m, g->members, g->n_members) {
                                if (!egpu_member_is_foreign(e, *m))
                                        continue;
                                r = strextendf_with_separator(
                                        &foreign,
                                        ", ",
                                        "%s (%04x:%04x, %s)",
                                        (*m)->bdf,
                                        (*m)->vendor,
                                        (*m)->device,
                                        (*m)->driver ?: "no driver");
                                if (r < 0)
                                        return r;
                        }
                        if (!foreign)
                                continue;
                        r = check_problem(
                                c,
                                CHECK_FAIL,
                                "IOMMU group %d of eGPU %s also holds %s, which would have to leave the "
                                "host and go to the VM with it",
                                g->id,
                                e->gpu->bdf,
                                foreign);
                        if (r < 0)
                                return r;
                }
                r = strextendf_with_separator(
                        &ok,
                        "; ",
                        "eGPU %s: group%s %s hold%s only its functions and bridges",
                        e->gpu->bdf,
                        e->n_groups == 1 ? "" : "s",
                        strna(ids),
                        e->n_groups == 1 ? "s" : "");
                if (r < 0)
                        return r;
        }
        if (check_has_problem(c)) {
                r = no_groups
                        ? check_fix(
                                  c,
                                  "# A function without a group cannot be passed through: check the iommu "
                                  "check, then detach and attach the eGPU.")
                        : check_fix(
                                  c,
                                  "# Plug the enclosure into another Thunderbolt/USB4 port (another root "
                                  "port), or pass the\n"
                                  "# other devices of the group to the VM as well. As a last resort, the "
                                  "Proxmox kernel's\n"
                                  "# ACS override splits groups, at the cost of isolation between them:");
                if (r < 0)
                        return r;
                if (!no_groups) {
                        r = doctor_fix_kernel_params(d, c, "pcie_acs_override=downstream,multifunction");
                        if (r < 0)
                                return r;
                }
        }
        return check_finish(c, CHECK_OK, "%s", ok);
}

static int check_vfio_bound(Doctor *d, Check *c) {
        const Host *h = d->host;
        _cleanup_free_ char *ok = NULL;
        bool need_modprobe = false;
        int r;

        FOREACH_ARRAY(ep, h->egpus, h->n_egpus)
                FOREACH_ARRAY(fp, (*ep)->functions, (*ep)->n_functions) {
                        const PciFunction *f = *fp;
                        _cleanup_free_ char *label = doctor_pci_label(f);

                        if (!label)
                                return -ENOMEM;
                        if (doctor_is_vfio_driver(f->driver)) {
                                r = strextendf_with_separator(&ok, ", ", "%s", f->bdf);
                                if (r < 0)
                                        return r;
                                continue;
                        }
                        if (!f->driver)
                                r = check_problem(
                                        c,
                                        CHECK_WARN,
                                        "%s has no driver: nothing keeps a host driver from taking it "
                                        "before the VM starts",
                                        label);
                        else if (streq(f->driver, "pci-stub"))
                                r = check_problem(
                                        c,
                                        CHECK_WARN,
                                        "%s is held by pci-stub: QEMU needs vfio-pci, which the VM start "
                                        "must then bind",
                                        label);
                        else
                                r = check_problem(
                                        c,
                                        CHECK_FAIL,
                                        "%s is on the host driver %s instead of vfio-pci",
                                        label,
                                        f->driver);
                        if (r < 0)
                                return r;
                        if (!d->vfio_pci_loaded && !need_modprobe) {
                                need_modprobe = true;
                                r = check_fix(c, "modprobe vfio-pci");
                                if (r < 0)
                                        return r;
                        }
                        r = check_fix(c, "echo vfio-pci > /sys/bus/pci/devices/%s/driver_override", f->bdf);
                        if (r >= 0 && f->driver)
                                r = check_fix(
                                        c,
                                        "echo %s > /sys/bus/pci/devices/%s/driver/unbind",
                                        f->bdf,
                                        f->bdf);
                        if (r >= 0)
                                r = check_fix(c, "echo %s > /sys/bus/pci/drivers_probe", f->bdf);
                        if (r < 0)
                                return r;
                }
        if (check_has_problem(c)) {
                r = check_fix(
                        c,
                        "# (unbinding a GPU that the host is using for a display can hang that display;\n"
                        "# stop what uses it first). To keep it from happening again, see vfio-config.");
                if (r < 0)
                        return r;
        }
        return check_finish(c, CHECK_OK, "on vfio-pci: %s", strna(ok));
}

static int fix_install_vendor_reset(Check *c) {
        return check_fix(
                c,
                "# Build and install vendor-reset (https://github.com/gnif/vendor-reset) with DKMS. Linux "
                "6.12\n"
                "# moved <asm/unaligned.h> to <linux/unaligned.h>, which its src/amd/amdgpu/atom.c "
                "includes\n"
                "# (gnif/vendor-reset issue 87, pull request 86): on such a kernel, change that line "
                "first.\n"
                "apt-get install -y proxmox-default-headers dkms git build-essential\n"
                "git clone https://github.com/gnif/vendor-reset.git /usr/src/vendor-reset\n"
                "cd /usr/src/vendor-reset\n"
                "if dpkg --compare-versions \"$(uname -r)\" ge 6.12; then\n"
                "        sed -i 's|<asm/unaligned.h>|<linux/unaligned.h>|' src/amd/amdgpu/atom.c\n"
                "fi\n"
                "dkms install .\n"
                "echo vendor-reset > /etc/modules-load.d/vendor-reset.conf\n"
                "modprobe vendor-reset");
}

static int check_gpu_reset(Doctor *d, Check *c) {
        const Host *h = d->host;
        _cleanup_free_ char *ok = NULL;
        bool install_fix = false;
        int r;

        FOREACH_ARRAY(ep, h->egpus, h->n_egpus) {
                const PciFunction *g = (*ep)->gpu;
                /* The running kernel's reset_method first, vendor-reset's own list otherwise. */
                VendorResetSupport vr = vendor_reset_support(g, d->vendor_reset_loaded);
                _cleanup_free_ char *label = doctor_pci_label(g);

                if (!label)
                        return -ENOMEM;
                if (vr != VENDOR_RESET_NO) {
                        if (!d->vendor_reset_loaded) {
                                r = check_problem(
                                        c,
                                        CHECK_FAIL,
                                        "%s has no working FLR and needs vendor-reset (its device list, "
                                        "gnif/vendor-reset %s, has it), which is not loaded: starting the "
                                        "VM fails to reset the GPU (\"Inappropriate ioctl for device\") and "
                                        "can hang the host",
                                        label,
                                        vendor_reset_commit);
                                if (r < 0)
                                        return r;
                                if (!install_fix) {
                                        install_fix = true;
                                        r = check_fix(
                                                c,
                                                "# If vendor-reset is installed already, load it; with "
                                                "Secure "
                                                "Boot on, see module-signing:\n"
                                                "modprobe vendor-reset");
                                        if (r >= 0)
                                                r = fix_install_vendor_reset(c);
                                        if (r < 0)
                                                return r;
                                }
                                r = check_fix(
                                        c,
                                        "echo device_specific > /sys/bus/pci/devices/%s/reset_method",
                                        g->bdf);
                                if (r < 0)
                                        return r;
                        } else if (!g->reset_methods) {
                                r = check_problem(
                                        c,
                                        CHECK_WARN,
                                        "%s: vendor-reset is loaded, but the kernel shows no "
                                        "reset_method, so whether its reset is used cannot be told "
                                        "(kernel older than 5.15?)",
                                        label);
                                if (r < 0)
                                        return r;
                                r = check_fix(
                                        c,
                                        "# Use a kernel of 5.15 or later, then:\n"
                                        "echo device_specific > /sys/bus/pci/devices/%s/reset_method",
                                        g->bdf);
                                if (r < 0)
                                        return r;
                        } else if (!streq(g->reset_methods[0], "device_specific")) {
                                r = check_problem(
                                        c,
                                        CHECK_FAIL,
                                        "%s: vendor-reset is loaded, but reset_method starts "
                                        "with \"%s\", not device_specific, so its reset is not used",
                                        label,
                                        g->reset_methods[0]);
                                if (r < 0)
                                        return r;
                                r = check_fix(
                                        c,
                                        "echo device_specific > /sys/bus/pci/devices/%s/reset_method",
                                        g->bdf);
                                if (r < 0)
                                        return r;
                        } else {
                                r = strextendf_with_separator(
                                        &ok,
                                        "; ",
                                        "%s: vendor-reset's device-specific reset%s",
                                        label,
                                        vr == VENDOR_RESET_OFFERED ? " (the kernel offers device_specific)"
                                                                   : "");
                                if (r < 0)
                                        return r;
                        }
                        continue;
                }

                if (pci_function_has_reset_method(g, "flr"))
                        r = strextendf_with_separator(&ok, "; ", "%s: function-level reset", label);
                else if (
                        pci_function_has_reset_method(g, "bus") ||
                        pci_function_has_reset_method(g, "cxl_bus"))
                        r = strextendf_with_separator(
                                &ok,
                                "; ",
                                "%s: no FLR, secondary bus reset of %s",
                                label,
                                g->parent ? g->parent->bdf : "its bridge");
                else if (g->reset_methods && g->reset_methods[0]) {
                        r = check_problem(
                                c,
                                CHECK_WARN,
                                "%s has neither FLR nor a bus reset, only \"%s\": it may keep its state "
                                "between VM starts",
                                label,
                                g->reset_methods[0]);
                        if (r >= 0)
                                r = check_fix(
                                        c,
                                        "# Detach and attach the eGPU between VM starts (egpuctl detach; "
                                        "egpuctl attach) to power-cycle it.");
                } else {
                        r = check_problem(
                                c,
                                CHECK_FAIL,
                                "%s offers no reset method at all: the GPU keeps its state between VM "
                                "starts, and QEMU may refuse it",
                                label);
                        if (r >= 0)
                                r = check_fix(
                                        c,
                                        "# Detach and attach the eGPU between VM starts (egpuctl detach; "
                                        "egpuctl attach) to power-cycle it.");
                }
                if (r < 0)
                        return r;
        }
        return check_finish(c, CHECK_OK, "%s", ok);
}

static int check_module_signing(Doctor *d, Check *c) {
        const Host *h = d->host;
        _cleanup_free_ char *needers = NULL;
        int r;

        if (d->secure_boot < 0)
                return check_finish(
                        c,
                        CHECK_SKIP,
                        "no SecureBoot EFI variable (not booted through EFI): unsigned modules load");
        if (d->secure_boot == 0)
                return check_finish(c, CHECK_OK, "Secure Boot is off: out-of-tree modules load unsigned");

        FOREACH_ARRAY(ep, h->egpus, h->n_egpus) {
                const PciFunction *g = (*ep)->gpu;
                if (g->vendor <= 0xffff && g->device <= 0xffff &&
                    vendor_reset_supports((uint16_t) g->vendor, (uint16_t) g->device)) {
                        r = strextendf_with_separator(&needers, ", ", "%s", g->bdf);
                        if (r < 0)
                                return r;
                }
        }
        if (!needers && !doctor_vendor_reset_configured(d))
                return check_finish(c, CHECK_OK, "Secure Boot is on; no out-of-tree module is needed");
        if (d->vendor_reset_loaded)
                return check_finish(
                        c,
                        CHECK_OK,
                        "Secure Boot is on and vendor-reset is loaded: its signing key is enrolled");

        r = check_problem(
                c,
                CHECK_FAIL,
                "Secure Boot is on and vendor-reset, which %s needs, is not loaded: the kernel refuses "
                "modules signed by a key it does not know (DKMS signs with /var/lib/dkms/mok.pub)%s",
                needers ?: "the configuration",
                kernel_module_installed(d->root, "vendor-reset")
                        ? ""
                        : "; no vendor-reset.ko was found under /lib/modules either: "
                          "build it first (see gpu-reset)");
        if (r < 0)
                return r;
        return check_fix(
                c,
                "# Enrol DKMS's signing key as a Machine Owner Key; mokutil asks for a one-time password:\n"
                "mokutil --import /var/lib/dkms/mok.pub\n"
                "reboot\n"
                "# At the blue MOK manager screen: Enroll MOK, Continue, Yes, the password, Reboot. Then:\n"
                "mokutil --test-key /var/lib/dkms/mok.pub\n"
                "modprobe vendor-reset");
}

/* The VFIO pre-flight (engine/vfio-bind.h) of each eGPU on vfio-pci: what QEMU does with the groups at a
 * VM's start, so that a VM that would fail is known before. A group a VM holds is named with the VM. */
static int check_vfio_usable(Doctor *d, Check *c) {
        const Host *h = d->host;
        _cleanup_free_ char *ok = NULL;
        size_t n_checked = 0;
        int r;

        FOREACH_ARRAY(ep, h->egpus, h->n_egpus) {
                const VfioPreflight *p;

                if (!egpu_all_on_driver(*ep, "vfio-pci"))
                        continue; /* vfio-bound says what to do first */
                n_checked++;
                r = doctor_preflight(d, ep - h->egpus, &p);
                if (r < 0)
                        return r;
                FOREACH_ARRAY(g, p->groups, p->n_groups) {
                        _cleanup_free_ char *line = NULL, *who = NULL;
                        const char *why, *fix;

                        if (g->held) {
                                _cleanup_(live_vm_done) LiveVm vm = {};

                                if (g->holder > 0 && live_vm_from_pid(g->holder, &vm) >= 0 &&
                                    live_vm_describe(&vm, &who) < 0)
                                        return -ENOMEM;
                                if (who)
                                        r = strextendf_with_separator(
                                                &ok,
                                                "; ",
                                                "IOMMU group %d of eGPU %s: in %s",
                                                g->group,
                                                (*ep)->gpu->bdf,
                                                who);
                                else {
                                        r = vfio_probe_describe(g, &line);
                                        if (r >= 0)
                                                r = strextendf_with_separator(&ok, "; ", "%s", line);
                                }
                                if (r < 0)
                                        return r;
                                continue;
                        }
                        r = vfio_probe_describe(g, &line);
                        if (r < 0)
                                return r;
                        if (!g->failed && !g->iommufd_failed) {
                                r = strextendf_with_separator(&ok, "; ", "%s", line);
                                if (r < 0)
                                        return r;
                                continue;
                        }
                        vfio_probe_help(g, &why, &fix);
                        /* QEMU's default is the container: iommufd's failure only matters to a VM set to
                         * use it. */
                        r = check_problem(c, g->failed ? CHECK_FAIL : CHECK_WARN, "%s: %s", line, why);
                        if (r >= 0)
                                r = check_fix(c, "%s", fix);
                        if (r < 0)
                                return r;
                }
        }
        if (n_checked == 0)
                return check_finish(c, CHECK_SKIP, "no eGPU is on vfio-pci (vfio-bound)");
        return check_finish(c, CHECK_OK, "%s", strna(ok));
}

/* The power state each function is in now (model/pci-function.h PciPowerState). vfio-pci lets an unused
 * function suspend (release.h says when and why); egpuctl's hookscript brings it back to D0 after each VM
 * stop. D3cold is the state an eGPU may not come back from: the kernel cut its power. */
static int check_power_state(Doctor *d, Check *c) {
        const Host *h = d->host;
        _cleanup_free_ char *ok = NULL;
        int r;

        FOREACH_ARRAY(ep, h->egpus, h->n_egpus)
                FOREACH_ARRAY(f, (*ep)->functions, (*ep)->n_functions) {
                        const char *state = pci_power_state_to_string((*f)->power_state);

                        if ((*f)->power_state != PCI_POWER_D3COLD) {
                                r = strextendf_with_separator(
                                        &ok,
                                        "; ",
                                        "%s: %s%s",
                                        (*f)->bdf,
                                        (*f)->power_state == PCI_POWER_UNKNOWN ? "power state not shown"
                                                                               : state,
                                        (*f)->power_state == PCI_POWER_D3HOT
                                                ? " (idle on vfio-pci; the next VM's start wakes it)"
                                                : "");
                                if (r < 0)
                                        return r;
                                continue;
                        }
                        r = check_problem(
                                c,
                                CHECK_WARN,
                                "%s is in D3cold: the kernel cut its power while it was idle (vfio-pci lets "
                                "an unused function suspend since Linux 5.19, and d3cold_allowed is %s); an "
                                "eGPU that does not wake from D3cold fails the next VM's start",
                                (*f)->bdf,
                                (*f)->d3cold_allowed < 0       ? "not shown"
                                        : (*f)->d3cold_allowed ? "1"
                                                               : "0");
                        if (r >= 0)
                                r = check_fix(
                                        c,
                                        "# wake it and keep it in D0 (the hookscript's post-stop does this "
                                        "after "
                                        "each VM stop)\n"
                                        "echo on > /sys/bus/pci/devices/%1$s/power/control\n"
                                        "# and keep the kernel from cutting its power again\n"
                                        "echo 0 > /sys/bus/pci/devices/%1$s/d3cold_allowed",
                                        (*f)->bdf);
                        if (r < 0)
                                return r;
                }
        return check_finish(c, CHECK_OK, "%s", strna(ok));
}

/* How QEMU will reset each function at the next VM's start (egpu-reset.h), over the VFIO pre-flight's
 * answer where the eGPU is on vfio-pci: a bus reset that takes a device outside the eGPU's IOMMU groups
 * fails in QEMU (hw/vfio/pci.c vfio_pci_hot_reset(): "depends on group %d which is not owned"); one that
 * takes another device of its groups resets that device at every VM start. Both fail the check. */
static int check_reset_scope(Doctor *d, Check *c) {
        const Host *h = d->host;
        _cleanup_free_ char *ok = NULL;
        int r;

        FOREACH_ARRAY(ep, h->egpus, h->n_egpus) {
                _cleanup_(egpu_reset_done) EgpuReset reset = {};
                const VfioPreflight *p = NULL;

                if (egpu_all_on_driver(*ep, "vfio-pci")) {
                        r = doctor_preflight(d, ep - h->egpus, &p);
                        if (r < 0)
                                return r;
                }
                r = egpu_reset_check(h, *ep, p ? p->groups : NULL, p ? p->n_groups : 0, &reset);
                if (r < 0)
                        return r;
                FOREACH_ARRAY(f, reset.functions, reset.n_functions) {
                        _cleanup_free_ char *what = NULL, *others = NULL;

                        r = egpu_function_reset_describe(f, &what);
                        if (r < 0)
                                return r;
                        if (IN_SET(f->verdict, EGPU_RESET_OWN, EGPU_RESET_BUS)) {
                                r = strextendf_with_separator(&ok, "; ", "%s: %s", f->function->bdf, what);
                                if (r < 0)
                                        return r;
                                continue;
                        }
                        if (f->verdict == EGPU_RESET_NONE) {
                                r = check_problem(
                                        c,
                                        CHECK_FAIL,
                                        "%s: %s: the kernel offers no reset of it and no bus reset reaches "
                                        "it, so it keeps its state between VM starts",
                                        f->function->bdf,
                                        what);
                                if (r >= 0)
                                        r = check_fix(
                                                c,
                                                "# Detach and attach the eGPU between VM starts (egpuctl "
                                                "detach; egpuctl attach) to power-cycle it.");
                                if (r < 0)
                                        return r;
                                continue;
                        }
                        STRV_FOREACH(o, f->outside) {
                                const PciFunction *x = host_find_pci(h, *o);

                                r = strextendf_with_separator(
                                        &others,
                                        ", ",
                                        "%s (%s)",
                                        *o,
                                        x && x->driver ? x->driver : "no driver");
                                if (r < 0)
                                        return r;
                        }
                        r = check_problem(
                                c,
                                CHECK_FAIL,
                                f->outside_groups
                                        ? "%s: %s; QEMU needs that bus reset (the function has %s) and "
                                          "refuses it (\"vfio: Cannot reset device ..., depends on group "
                                          "... which is not owned\"), so the GPU keeps the last guest's "
                                          "state"
                                        : "%s: %s; QEMU needs that bus reset (the function has %s), so "
                                          "every VM start resets a device that is not the eGPU's",
                                f->function->bdf,
                                what,
                                f->resets_alone ? "only a PM reset, no FLR" : "no reset of its own");
                        if (r >= 0)
                                r = check_fix(
                                        c,
                                        "# A bus reset of %s also resets %s. Put that device on another "
                                        "port (or the eGPU in another slot), or pass it to the same VM "
                                        "with the eGPU (a hostpci entry of its own), so that the VM holds "
                                        "its group.",
                                        f->function->bdf,
                                        others);
                        if (r < 0)
                                return r;
                }
        }
        return check_finish(c, CHECK_OK, "%s", strna(ok));
}

const DoctorCheck doctor_checks_gpu[] = {
        { "gpu-present",
          "each authorized eGPU enclosure shows its GPU, with every BAR given an address",
          check_gpu_present },
        { "bar-size",
          "each Resizable BAR of the eGPU can have its largest size, which attach gives it before "
          "binding: the bridge window above holds it",
          check_bar_size,
          .needs_egpu = true },
        { "iommu-isolation",
          "the eGPU's IOMMU groups hold only its functions and bridges",
          check_iommu_isolation,
          .needs_egpu = true },
        { "vfio-bound", "the eGPU's functions are bound to vfio-pci", check_vfio_bound, .needs_egpu = true },
        { "vfio-usable",
          "QEMU can use the eGPU's groups: VFIO's steps at a VM's start, done and undone (each function is "
          "reset, as a VM's start does); a group a VM holds is named with the VM",
          check_vfio_usable,
          .needs_egpu = true },
        { "gpu-reset",
          "the GPU can be reset between VM starts (vendor-reset for AMD GPUs without one)",
          check_gpu_reset,
          .needs_egpu = true },
        { "reset-scope",
          "QEMU can reset each function at a VM's start: by itself, or by a bus reset that takes no "
          "device but the eGPU's functions",
          check_reset_scope,
          .needs_egpu = true },
        { "power-state",
          "no eGPU function is in D3cold, a state an eGPU may not wake from (vfio-pci lets idle functions "
          "suspend)",
          check_power_state,
          .needs_egpu = true },
        { "module-signing",
          "with Secure Boot on, the out-of-tree module the eGPU needs can load",
          check_module_signing },
        {},
};
