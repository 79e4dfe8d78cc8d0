/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <libudev.h>
#include <stdint.h>

#include "macro.h"
#include "time-util.h"
#include "tb-domain.h"

/* A Thunderbolt/USB4 router: a host router ("1-0") or a device ("1-1", "1-301"). */
typedef struct TbDevice {
        char *syspath;
        char *name;      /* "1-1" */
        char *unique_id; /* NULL when absent */
        uint32_t vendor; /* 0 when absent */
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
        int boot;                /* 0/1, -1 when absent */
        bool host_router;        /* route 0 */
        TbDomain *domain;        /* set by host_load() */
        struct TbDevice *parent; /* the router above, NULL for a host router; set by host_load() */
} TbDevice;

int tb_device_new_from_udev(struct udev_device *d, TbDevice **ret);
TbDevice *tb_device_free(TbDevice *d);
/* A copy of t with every field its own, but domain and parent NULL: host_dup() links the copies again. */
int tb_device_dup(const TbDevice *t, TbDevice **ret);
DEFINE_TRIVIAL_CLEANUP_FUNC(TbDevice *, tb_device_free);

/* Whether the device has a PCIe tunnel open: authorized, and a device rather than a host router. */
bool tb_device_is_connected_device(const TbDevice *d) _pure_;

/* The router's route string from its name ("1-301" → 0x301): one byte per hop from the host router, the
 * lowest the host router's port (Documentation/admin-guide/thunderbolt.rst). -EINVAL for another name. */
int tb_device_route(const TbDevice *t, uint64_t *ret);

/* Fresh reads of a router's attributes, bypassing any snapshot: -ENODEV when the router is gone. */
int tb_device_read_unique_id(const char *syspath, char **ret);
int tb_device_read_authorized(const char *syspath, int *ret);

/* Opens the router's PCIe tunnel: for a secure-level domain, key_hex (64 hex digits) is written to
 * "key" first and challenge says whether to write 2 (the device already holds this key) or 1 (the key
 * is new to it). Each write is bounded by timeout (-ETIMEDOUT). The kernel's errors come back as they
 * are: -EKEYREJECTED when the device's answer to the challenge does not match the key, -EINVAL when it
 * is already in that state. */
int tb_device_authorize(const char *syspath, const char *key_hex, bool challenge, usec_t timeout);
/* Closes the tunnel (writes 0); the domain must support deauthorization. */
int tb_device_deauthorize(const char *syspath, usec_t timeout);
