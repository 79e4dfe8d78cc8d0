/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Wire format between libegpusim-preload.so (in the tested program) and egpu-sim (the "kernel").
 *
 * The preload connects a SOCK_SEQPACKET unix socket to $EGPU_SIM_SOCKET and sends one datagram per write(2)
 * to a file below the testbed's /sys:
 *
 *     "<path relative to /sys>\0<the bytes written>"
 *
 * egpu-sim answers with one struct sim_reply. When $EGPU_SIM_READS is set (egpu-sim has --change-on-read
 * rules), the preload also sends "<path relative to /sys>\0", with no data, before a file below /sys is
 * opened for reading, and opens it once the simulator has answered (SIM_REPLY_PASS). */
/*
 * VFIO: the preload hands the open of a group node (/dev/vfio/N) and every VFIO ioctl on the container,
 * group and device descriptors to egpu-sim as
 *
 *     "@vfio/<WHAT>\0<arguments as text>"
 *
 * (WHAT: "open", or the ioctl's name such as "VFIO_GROUP_GET_STATUS"; a fault rule's GLOB can match
 * "@vfio/VFIO_SET_IOMMU"). egpu-sim answers with a struct sim_reply (value: the ioctl's return or -errno)
 * followed, for the device ioctls, by text lines that describe the device (sim-vfio.c). */
#pragma once

#include <stdint.h>

#define SIM_ENV_SOCKET  "EGPU_SIM_SOCKET"
#define SIM_ENV_SYSDIR  "EGPU_SIM_SYSDIR"
#define SIM_ENV_CONTROL "EGPU_SIM_CONTROL"
#define SIM_ENV_READS   "EGPU_SIM_READS"

/* sysfs hands at most one page to a store() method; longer writes fail with E2BIG */
#define SIM_PAGE_SIZE 4096
#define SIM_MSG_MAX   (4096 + SIM_PAGE_SIZE + 16)

enum {
        SIM_REPLY_DONE = 0, /* value: bytes written (>= 0) or -errno */
        SIM_REPLY_PASS = 1, /* not an attribute the simulator handles: do the real write */
};

#define SIM_VFIO_PREFIX "@vfio/"

struct sim_reply {
        int32_t kind;
        int32_t value;
};
