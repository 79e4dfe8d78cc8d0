/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The checks of Thunderbolt/USB4: the cable, the authorization, the security level. */
#include "doctor-internal.h"
#include "usb-enclosures.h"
#include "util.h"

static int check_tb_cable(Doctor *d, Check *c) {
        const Host *h = d->host;
        size_t n_devices = 0, n_enclosures = 0;
        int r;

        FOREACH_ARRAY(t, h->tb_devices, h->n_tb_devices)
                if (!(*t)->host_router)
                        n_devices++;

        FOREACH_ARRAY(u, d->usb, d->n_usb) {
                _cleanup_free_ char *what = NULL;
                bool matched = false, other_tb = false;
                UsbEnclosure enc;

                if (u->vendor > 0xffff || u->product > 0xffff ||
                    !usb_egpu_enclosure(
                            (uint16_t) u->vendor,
                            (uint16_t) u->product,
                            u->manufacturer,
                            u->product_name,
                            &enc))
                        continue;
                n_enclosures++;
                /* Behind a tunnel, the enclosure's own USB controller is a removable PCI function: fine. */
                if (u->controller && pci_function_is_removable(u->controller))
                        continue;
                /* A USB4 host tunnels USB3 through its own controller: then its router is there too. */
                FOREACH_ARRAY(t, h->tb_devices, h->n_tb_devices) {
                        if ((*t)->host_router)
                                continue;
                        if (streq_ptr((*t)->device_name, u->product_name) || doctor_tb_looks_like_egpu(*t))
                                matched = true;
                        else
                                other_tb = true;
                }
                if (matched)
                        continue;

                r = usb_egpu_enclosure_describe(&enc, u->manufacturer, u->product_name, &what);
                if (r < 0)
                        return r;
                r = check_problem(
                        c,
                        other_tb ? CHECK_WARN : CHECK_FAIL,
                        "%s (USB %04x:%04x at %s) is connected over USB only and %s: the cable %s "
                        "Thunderbolt signalling, so the PCIe tunnel to the GPU cannot open",
                        what,
                        u->vendor,
                        u->product,
                        u->name,
                        other_tb ? "no Thunderbolt device that looks like it is there"
                                 : "no Thunderbolt device is there",
                        other_tb ? "probably carries no" : "carries no");
                if (r < 0)
                        return r;
        }
        if (check_has_problem(c)) {
                if (h->n_domains == 0)
                        r = check_fix(
                                c,
                                "# This host shows no Thunderbolt/USB4 controller: load the driver, and\n"
                                "# turn on Thunderbolt/USB4 support in the firmware setup if it is off:\n"
                                "modprobe thunderbolt");
                else
                        r = check_fix(
                                c,
                                "# Replace the cable with a Thunderbolt 3/4 or USB4 40 Gb/s cable "
                                "(lightning\n"
                                "# bolt or \"40Gbps\" printed on it; a USB-C charging or USB 3 cable will "
                                "not do),\n"
                                "# plugged into a Thunderbolt/USB4 port of the host. Then a device such as "
                                "1-1\n"
                                "# appears here:\n"
                                "ls /sys/bus/thunderbolt/devices/");
                if (r < 0)
                        return r;
        }
        if (n_devices == 0 && n_enclosures == 0)
                return check_finish(c, CHECK_SKIP, "no eGPU enclosure connected, over USB or Thunderbolt");
        return check_finish(
                c,
                CHECK_OK,
                "%zu Thunderbolt device%s connected; no eGPU enclosure is on USB without Thunderbolt",
                n_devices,
                n_devices == 1 ? "" : "s");
}

static const char *security_reason(TbSecurity s) {
        switch (s) {
        case TB_SECURITY_USER:
                return "the domain's security level \"user\" needs each device approved";
        case TB_SECURITY_SECURE:
                return "the domain's security level \"secure\" needs each device approved, and a stored key "
                       "on later connects (a key rejected by the device also leaves it at 0)";
        case TB_SECURITY_NONE:
                return "the domain's security level is \"none\", which connects devices by itself: the "
                       "firmware "
                       "or the kernel refused it";
        case TB_SECURITY_DPONLY:
        case TB_SECURITY_USBONLY:
        case TB_SECURITY_NOPCIE:
                return "the domain's security level allows no PCIe tunnel at all";
        default:
                return "the domain's security level is unknown";
        }
}

static int check_tb_authorized(Doctor *d, Check *c) {
        const Host *h = d->host;
        _cleanup_free_ char *names = NULL;
        size_t n = 0;
        int r;

        FOREACH_ARRAY(tp, h->tb_devices, h->n_tb_devices) {
                const TbDevice *t = *tp;
                _cleanup_free_ char *label = NULL;
                TbSecurity sec = t->domain ? t->domain->security : TB_SECURITY_UNKNOWN;

                if (t->host_router)
                        continue;
                n++;
                label = doctor_tb_label(t);
                if (!label)
                        return -ENOMEM;
                if (t->authorized != 0) {
                        r = strextendf_with_separator(&names, ", ", "%s", label);
                        if (r < 0)
                                return r;
                        continue;
                }
                /* A device that is not an eGPU (a dock) may be left out on purpose: warn only, unless no
                 * eGPU is there at all, when it may well be the one. */
                r = check_problem(
                        c,
                        doctor_tb_looks_like_egpu(t) || h->n_egpus == 0 ? CHECK_FAIL : CHECK_WARN,
                        "%s is not authorized (authorized=0), so its PCIe tunnel is closed and no GPU "
                        "can appear: %s",
                        label,
                        security_reason(sec));
                if (r < 0)
                        return r;
                if (!tb_security_allows_pcie(sec))
                        r = check_fix(
                                c,
                                "# In the firmware setup, set the Thunderbolt security level of %s to "
                                "\"User\n"
                                "# Authorization\" (SL1), or turn on PCIe tunnelling for USB4; then:\n"
                                "egpuctl enroll %s\negpuctl attach",
                                t->domain ? t->domain->name : "the port",
                                t->name);
                else
                        r = check_fix(
                                c,
                                "# Enrol the device once, then open its tunnel (egpuctl does this by itself "
                                "at\n"
                                "# boot and on hot-plug for enrolled devices):\n"
                                "egpuctl enroll %s\negpuctl attach\n"
                                "# for a one-off test instead: echo 1 > "
                                "/sys/bus/thunderbolt/devices/%s/authorized",
                                t->name,
                                t->name);
                if (r < 0)
                        return r;
        }
        if (n == 0)
                return check_finish(c, CHECK_SKIP, "no Thunderbolt device connected");
        return check_finish(c, CHECK_OK, "authorized: %s", strna(names));
}

static int check_tb_security(Doctor *d, Check *c) {
        const Host *h = d->host;
        _cleanup_free_ char *ok = NULL;
        bool fix_level = false, fix_dma = false;
        int r;

        if (h->n_domains == 0)
                return check_finish(c, CHECK_SKIP, "no Thunderbolt/USB4 domain");
        FOREACH_ARRAY(dp, h->domains, h->n_domains) {
                const TbDomain *dom = *dp;

                if (!tb_security_allows_pcie(dom->security)) {
                        r = check_problem(
                                c,
                                CHECK_WARN,
                                "%s has security level \"%s\", which allows no PCIe tunnel: an eGPU "
                                "cannot work on its ports",
                                dom->name,
                                tb_security_to_string(dom->security));
                        if (r < 0)
                                return r;
                        fix_level = true;
                }
                if (dom->iommu_dma_protection == 0) {
                        r = check_problem(
                                c,
                                CHECK_WARN,
                                "%s has no IOMMU DMA protection (iommu_dma_protection=0): a device "
                                "there can read and write memory before it is authorized",
                                dom->name);
                        if (r < 0)
                                return r;
                        fix_dma = true;
                }
                r = strextendf_with_separator(
                        &ok,
                        ", ",
                        "%s security \"%s\"%s",
                        dom->name,
                        tb_security_to_string(dom->security),
                        dom->iommu_dma_protection > 0 ? " with DMA protection" : "");
                if (r < 0)
                        return r;
        }
        if (fix_level) {
                r = check_fix(
                        c,
                        "# In the firmware setup, set Thunderbolt security to \"User Authorization\" (SL1)\n"
                        "# and, for USB4, turn on PCIe tunnelling. Then check:\n"
                        "cat /sys/bus/thunderbolt/devices/domain*/security");
                if (r < 0)
                        return r;
        }
        if (fix_dma) {
                r = check_fix(
                        c,
                        "# Turn on \"Kernel DMA Protection\" (Thunderbolt pre-boot DMA protection) and\n"
                        "# VT-d/AMD-Vi in the firmware setup, and boot with the IOMMU on (see the iommu\n"
                        "# check). Then check:\n"
                        "cat /sys/bus/thunderbolt/devices/domain*/iommu_dma_protection");
                if (r < 0)
                        return r;
        }
        return check_finish(c, CHECK_OK, "%s", ok);
}

const DoctorCheck doctor_checks_thunderbolt[] = {
        { "tb-cable",
          "no eGPU enclosure is connected over USB only (a cable without Thunderbolt)",
          check_tb_cable },
        { "tb-authorized",
          "every connected Thunderbolt device is authorized: its PCIe tunnel is open",
          check_tb_authorized },
        { "tb-security",
          "each domain's security level allows PCIe tunnels, with IOMMU DMA protection",
          check_tb_security },
        {},
};
