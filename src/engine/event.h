/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <libudev.h>
#include <stdint.h>

#include "host.h"
#include "macro.h"

/* What happens to the eGPU and its way to a VM, one event at a time: the kernel's uevents read against
 * the host before and after them (event_from_uevent(), event_groups_diff()), and what the daemon decides
 * or sees a VM do, which it publishes on its socket (event-socket.h). 'egpuctl monitor' prints them. */

typedef enum EventType {
        EVENT_TB_ADDED,         /* "thunderbolt-added": a Thunderbolt/USB4 device appeared */
        EVENT_TB_REMOVED,       /* "thunderbolt-removed" */
        EVENT_TB_AUTHORIZED,    /* "authorized": its PCIe tunnel may open (authorized 1 or 2) */
        EVENT_TB_DEAUTHORIZED,  /* "deauthorized" */
        EVENT_PCI_ADDED,        /* "function-added": a PCI function appeared (a tunnel's, when behind one) */
        EVENT_PCI_REMOVED,      /* "function-removed" */
        EVENT_DRIVER_BOUND,     /* "driver-bound" */
        EVENT_DRIVER_UNBOUND,   /* "driver-unbound" */
        EVENT_GROUP_VIABLE,     /* "group-viable": appeared viable, or became so (iommu_group_is_viable()) */
        EVENT_GROUP_NOT_VIABLE, /* "group-not-viable" */
        EVENT_GROUP_REMOVED,    /* "group-removed" */
        EVENT_VM_PLUGGED,       /* "vm-plugged": a VM took the eGPU (published) */
        EVENT_VM_RELEASED,      /* "vm-released": a VM let go of it (published) */
        EVENT_DECISION,         /* "decision": what the daemon decided or did, in words (published) */
        _EVENT_TYPE_MAX,
        _EVENT_TYPE_INVALID = -EINVAL,
} EventType;

typedef struct Event {
        EventType type;
        uint64_t timestamp_usec; /* CLOCK_REALTIME, when it was seen or published; 0: not set */
        char *source;            /* "kernel" for uevents, else the publisher ("daemon") */
        char *device;  /* the Thunderbolt device ("1-1") or PCI function ("0000:30:00.0"), or NULL */
        char *name;    /* "Blackmagic Design eGPU Pro", a function's ids "1002:687f", or NULL */
        char *driver;  /* driver-bound, driver-unbound (NULL when the kernel did not say) */
        int group;     /* the IOMMU group of group-* and of a function; -1 when none */
        char *egpu;    /* the BDF of the eGPU the event concerns; NULL when none or not certain */
        bool tunnel;   /* function-*: behind a Thunderbolt/USB4 tunnel (removable) */
        char *vm;      /* vm-*: the VM's id */
        char *message; /* decision: the words; NULL for the others */
} Event;

const char *event_type_to_string(EventType t) _pure_;
EventType event_type_from_string(const char *s) _pure_;

/* A new event of type t, all else empty (group -1). */
int event_new(EventType t, Event **ret);
Event *event_free(Event *e);
DEFINE_TRIVIAL_CLEANUP_FUNC(Event *, event_free);
void events_free(Event **l, size_t n);

/* Opens a monitor of the kernel's pci and thunderbolt uevents, receiving: udev's, after its rules ran,
 * when a udev daemon runs (or in a umockdev testbed), else the kernel's own. */
int event_uevent_monitor_open(struct udev *udev, struct udev_monitor **ret);

/* Reads uevent d against the host before it (before) and after it (after; after a batch, the state at
 * its end). *ret is NULL when the event says nothing a monitor shows (a host router, a domain, a
 * change without news). Never fails on what the device says; -ENOMEM only. The timestamp is not set. */
int event_from_uevent(struct udev_device *d, const Host *before, const Host *after, Event **ret);

/* The IOMMU groups whose viability differs between before and after: group-viable or group-not-viable
 * for a group that appeared or changed, group-removed for one that went, by group id. */
int event_groups_diff(const Host *before, const Host *after, Event ***ret, size_t *ret_n);

/* One line of text for a person, without the time: "1-1 authorized (Blackmagic Design eGPU Pro)". */
int event_to_text(const Event *e, char **ret);

/* The wire format of the event socket (event-socket.h): one message per event, lines "KEY=value\n" with
 * KEY one of EVENT (the type's string, required), TIMESTAMP (microseconds since the epoch), SOURCE,
 * DEVICE, NAME, DRIVER, GROUP, EGPU, TUNNEL (0/1), VM, MESSAGE. Control characters in values are sent
 * as spaces. event_parse() ignores unknown keys (a newer publisher), refuses a message over
 * EVENT_MESSAGE_MAX bytes, a line without '=', a bad number and an unknown or missing EVENT (-EBADMSG). */
#define EVENT_MESSAGE_MAX (16U * 1024U)
int event_serialize(const Event *e, char **ret, size_t *ret_size);
int event_parse(const char *buf, size_t size, Event **ret);
