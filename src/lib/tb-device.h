/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <libudev.h>
#include <stdint.h>

#include "macro.h"
#include "tb-domain.h"

/* A Thunderbolt/USB4 router: a host router ("1-0") or a device ("1-1", "1-301"). */
typedef struct TbDevice {
        char *syspath;
        char *name;          /* "1-1" */
        char *unique_id;     /* NULL when absent */
        uint32_t vendor;     /* 0 when absent */
        uint32_t device;
        char *vendor_name;   /* never NULL: the attribute, else a name made from the id */
        char *device_name;   /* never NULL, likewise */
        bool names_from_ids; /* the names above were made up because the device reports none */
        int authorized;      /* 0, 1, 2; -1 when the attribute is absent */
        int generation;      /* -1 when absent */
        char *rx_speed;      /* "20.0 Gb/s", NULL when absent */
        char *tx_speed;
        int rx_lanes; /* -1 when absent */
        int tx_lanes;
        int boot;        /* 0/1, -1 when absent */
        bool host_router; /* route 0 */
        TbDomain *domain;   /* set by host_load() */
        struct TbDevice *parent; /* the router above, NULL for a host router; set by host_load() */
} TbDevice;

int tb_device_new_from_udev(struct udev_device *d, TbDevice **ret);
TbDevice *tb_device_free(TbDevice *d);
DEFINE_TRIVIAL_CLEANUP_FUNC(TbDevice *, tb_device_free);

/* Whether the device has a PCIe tunnel open: authorized, and a device rather than a host router. */
bool tb_device_is_connected_device(const TbDevice *d) _pure_;
