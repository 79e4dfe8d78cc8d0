/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The check of the eGPU's PCIe links. */
#include "doctor-files.h"
#include "doctor-internal.h"
#include "util.h"

static const char *speed_or_unknown(const char *s) {
        return s ?: "?";
}

static int check_pcie_link(Doctor *d, Check *c) {
        const Host *h = d->host;
        _cleanup_free_ char *ok = NULL;
        int r;

        FOREACH_ARRAY(ep, h->egpus, h->n_egpus) {
                const Egpu *e = *ep;
                _cleanup_free_ char *real = NULL, *tunnel = NULL;
                uint64_t narrowest = UINT64_MAX;

                for (const PciFunction *dn = e->gpu; dn && dn->parent; dn = dn->parent) {
                        const PciFunction *up = dn->parent;
                        unsigned cur, max_dn, max_up, best;
                        int width_best;

                        /* The first link behind the external-facing port is the tunnel: its numbers are
                         * nominal. Links between two ports of one switch (same vendor, both bridges; the
                         * Thunderbolt controller's own ports, a GPU's internal switch) are not physical
                         * links. */
                        if (pci_function_is_removable(dn) && !pci_function_is_removable(up)) {
                                free(tunnel);
                                if (asprintf(
                                            &tunnel,
                                            "%s -> %s (%s x%d)",
                                            up->bdf,
                                            dn->bdf,
                                            speed_or_unknown(dn->current_link_speed),
                                            dn->current_link_width) < 0)
                                        return -ENOMEM;
                                continue;
                        }
                        if (pci_function_is_bridge(dn) && pci_function_is_bridge(up) &&
                            dn->vendor == up->vendor)
                                continue;
                        if (pcie_speed_parse(dn->current_link_speed, &cur) < 0 ||
                            pcie_speed_parse(dn->max_link_speed, &max_dn) < 0 ||
                            pcie_speed_parse(up->max_link_speed, &max_up) < 0)
                                continue;
                        best = MIN(max_dn, max_up);
                        width_best = MIN(dn->max_link_width, up->max_link_width);
                        if (cur < best ||
                            (dn->current_link_width > 0 && width_best > 0 &&
                             dn->current_link_width < width_best)) {
                                r = check_problem(
                                        c,
                                        CHECK_WARN,
                                        "the link %s -> %s runs at %u.%u GT/s x%d, below the %u.%u GT/s "
                                        "x%d that both ends support%s",
                                        up->bdf,
                                        dn->bdf,
                                        cur / 1000,
                                        cur % 1000 / 100,
                                        dn->current_link_width,
                                        best / 1000,
                                        best % 1000 / 100,
                                        width_best,
                                        dn == e->gpu && dn->current_link_width >= width_best
                                                ? " (a GPU lowers its link speed when idle: check under "
                                                  "load)"
                                                : "");
                                if (r < 0)
                                        return r;
                                r = check_fix(
                                        c,
                                        "# Reseat the GPU in the enclosure and check its power cables; "
                                        "then read the link while the GPU is busy:\n"
                                        "cat /sys/bus/pci/devices/%s/current_link_speed "
                                        "/sys/bus/pci/devices/%s/current_link_width",
                                        dn->bdf,
                                        dn->bdf);
                                if (r < 0)
                                        return r;
                        } else if ((uint64_t) cur * (uint64_t) MAX(dn->current_link_width, 1) < narrowest) {
                                /* Report the narrowest physical link: it bounds the GPU's bandwidth. */
                                narrowest = (uint64_t) cur * (uint64_t) MAX(dn->current_link_width, 1);
                                free(real);
                                if (asprintf(
                                            &real,
                                            "%s -> %s at %u.%u GT/s x%d, the most both ends support",
                                            up->bdf,
                                            dn->bdf,
                                            cur / 1000,
                                            cur % 1000 / 100,
                                            dn->current_link_width) < 0) {
                                        real = NULL;
                                        return -ENOMEM;
                                }
                        }
                }
                if (e->tb_device && e->tb_device->rx_lanes == 1 && e->tb_device->tx_lanes <= 1) {
                        r = check_problem(
                                c,
                                CHECK_WARN,
                                "the Thunderbolt link of %s runs on one lane (%s x1): half the bandwidth, "
                                "usually a cable or port problem",
                                e->tb_device->name,
                                strna(e->tb_device->rx_speed));
                        if (r >= 0)
                                r = check_fix(
                                        c,
                                        "# Try another Thunderbolt cable (40 Gb/s, at most 0.8 m passive) "
                                        "or port, then:\ncat /sys/bus/thunderbolt/devices/%s/rx_lanes",
                                        e->tb_device->name);
                        if (r < 0)
                                return r;
                }
                r = strextendf_with_separator(
                        &ok,
                        "; ",
                        "eGPU %s: %s%s%s",
                        e->gpu->bdf,
                        real ?: "no physical link to compare",
                        tunnel ? "; the tunnel link " : "",
                        strempty(tunnel));
                if (r < 0)
                        return r;
                if (tunnel) {
                        r = strextendf(
                                &ok,
                                " is virtual: Thunderbolt bridges report a nominal speed, not the "
                                "tunnel's bandwidth");
                        if (r >= 0 && e->tb_device && e->tb_device->rx_speed)
                                r = strextendf(
                                        &ok,
                                        " (the Thunderbolt link of %s: %s x%d)",
                                        e->tb_device->name,
                                        e->tb_device->rx_speed,
                                        e->tb_device->rx_lanes);
                        if (r < 0)
                                return r;
                }
        }
        return check_finish(c, CHECK_OK, "%s", ok);
}

const DoctorCheck doctor_checks_pcie[] = {
        { "pcie-link",
          "the eGPU's physical PCIe links run at the speed and width both ends support",
          check_pcie_link,
          .needs_egpu = true },
        {},
};
