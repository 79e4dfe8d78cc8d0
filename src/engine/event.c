/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "event.h"
#include "sysfs.h"
#include "util.h"

static const char *const type_table[_EVENT_TYPE_MAX] = {
        [EVENT_TB_ADDED] = "thunderbolt-added",  [EVENT_TB_REMOVED] = "thunderbolt-removed",
        [EVENT_TB_AUTHORIZED] = "authorized",    [EVENT_TB_DEAUTHORIZED] = "deauthorized",
        [EVENT_PCI_ADDED] = "function-added",    [EVENT_PCI_REMOVED] = "function-removed",
        [EVENT_DRIVER_BOUND] = "driver-bound",   [EVENT_DRIVER_UNBOUND] = "driver-unbound",
        [EVENT_GROUP_VIABLE] = "group-viable",   [EVENT_GROUP_NOT_VIABLE] = "group-not-viable",
        [EVENT_GROUP_REMOVED] = "group-removed", [EVENT_VM_PLUGGED] = "vm-plugged",
        [EVENT_VM_RELEASED] = "vm-released",     [EVENT_DECISION] = "decision",
};

const char *event_type_to_string(EventType t) {
        return t >= 0 && t < _EVENT_TYPE_MAX ? type_table[t] : NULL;
}

EventType event_type_from_string(const char *s) {
        for (size_t i = 0; s && i < ELEMENTSOF(type_table); i++)
                if (streq(s, type_table[i]))
                        return (EventType) i;
        return _EVENT_TYPE_INVALID;
}

/* The text fields of an event, with their keys in event_serialize()'s message. */
static const struct {
        const char *key;
        size_t offset; /* of the char * in Event */
} string_fields[] = {
        { "SOURCE", offsetof(Event, source) },   { "DEVICE", offsetof(Event, device) },
        { "NAME", offsetof(Event, name) },       { "DRIVER", offsetof(Event, driver) },
        { "EGPU", offsetof(Event, egpu) },       { "VM", offsetof(Event, vm) },
        { "MESSAGE", offsetof(Event, message) },
};

static char **string_field(Event *e, size_t i) {
        return (char **) ((char *) e + string_fields[i].offset);
}

/* The text field of e that key names, NULL for any other key. */
static char **string_field_by_key(Event *e, const char *key) {
        for (size_t i = 0; i < ELEMENTSOF(string_fields); i++)
                if (streq(key, string_fields[i].key))
                        return string_field(e, i);
        return NULL;
}

int event_new(EventType t, Event **ret) {
        Event *e = calloc(1, sizeof(Event));

        if (!e)
                return -ENOMEM;
        e->type = t;
        e->group = -1;
        *ret = e;
        return 0;
}

Event *event_free(Event *e) {
        if (!e)
                return NULL;
        for (size_t i = 0; i < ELEMENTSOF(string_fields); i++)
                free(*string_field(e, i));
        return mfree(e);
}

void events_free(Event **l, size_t n) {
        for (size_t i = 0; i < n; i++)
                event_free(l[i]);
        free(l);
}

/* Sets *field to a copy of s (NULL stays NULL); -ENOMEM when the copy fails. */
static int set_string(char **field, const char *s) {
        char *c = NULL;

        if (s && !(c = strdup(s)))
                return -ENOMEM;
        free(*field);
        *field = c;
        return 0;
}

int event_uevent_monitor_open(struct udev *udev, struct udev_monitor **ret) {
        _cleanup_(udev_monitor_unrefp) struct udev_monitor *m = NULL;
        /* udevd's control socket (systemd's src/udev/udevd.c); umockdev's testbed plays udev's source. */
        bool udevd = access("/run/udev/control", F_OK) == 0 || umockdev_testbed();
        int r;

        m = udev_monitor_new_from_netlink(udev, udevd ? "udev" : "kernel");
        if (!m)
                return negative_errno();
        r = udev_monitor_filter_add_match_subsystem_devtype(m, "pci", NULL);
        if (r >= 0)
                r = udev_monitor_filter_add_match_subsystem_devtype(m, "thunderbolt", NULL);
        if (r >= 0)
                r = udev_monitor_enable_receiving(m);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(m);
        return 0;
}

static int names_of_tb_device(const TbDevice *t, char **ret) {
        char *s;

        if (asprintf(&s, "%s %s", t->vendor_name, t->device_name) < 0)
                return -ENOMEM;
        *ret = s;
        return 0;
}

/* A uevent as event_from_uevent() reads it: the device, its action, and the host before and after it. */
typedef struct Uevent {
        struct udev_device *device;
        const char *action;
        const Host *before, *after;
} Uevent;

/* A Thunderbolt uevent. The kernel sends add and remove for each router, and change with AUTHORIZED=
 * when authorized is written (drivers/thunderbolt/switch.c, tb_switch_set_authorized(), since Linux
 * 5.15: "thunderbolt: For dev authorization changes, include the actual event in udev change
 * notification"); without that property, the attribute before and after tells. */
static int event_from_tb(const Uevent *u, Event **ret) {
        const char *syspath = udev_device_get_syspath(u->device),
                   *auth = udev_device_get_property_value(u->device, "AUTHORIZED");
        const TbDevice *old = u->before ? host_find_tb_device_by_syspath(u->before, syspath) : NULL,
                       *now = u->after ? host_find_tb_device_by_syspath(u->after, syspath) : NULL,
                       *t = now ?: old;
        _cleanup_(event_freep) Event *e = NULL;
        EventType type;
        int r;

        if (!streq_ptr(udev_device_get_devtype(u->device), "thunderbolt_device") || (t && t->host_router)) {
                *ret = NULL; /* domains, host routers, XDomains, services */
                return 0;
        }
        if (streq(u->action, "add"))
                type = EVENT_TB_ADDED;
        else if (streq(u->action, "remove"))
                type = EVENT_TB_REMOVED;
        else if (streq(u->action, "change") && auth)
                type = streq(auth, "0") ? EVENT_TB_DEAUTHORIZED : EVENT_TB_AUTHORIZED;
        else if (streq(u->action, "change") && old && now && (old->authorized > 0) != (now->authorized > 0))
                type = now->authorized > 0 ? EVENT_TB_AUTHORIZED : EVENT_TB_DEAUTHORIZED;
        else {
                *ret = NULL;
                return 0;
        }
        r = event_new(type, &e);
        if (r < 0)
                return r;
        r = set_string(&e->device, udev_device_get_sysname(u->device));
        if (r >= 0 && t)
                r = names_of_tb_device(t, &e->name);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(e);
        return 0;
}

/* A PCI uevent: add, remove, and bind/unbind, which the driver core sends when a driver takes or
 * releases a device (drivers/base/dd.c, driver_bound() and __device_release_driver(), since Linux 4.14:
 * "driver core: emit uevents when device is bound to a driver"). bind carries DRIVER=; unbind is sent
 * after the driver let go, so its driver comes from the host before. */
static int event_from_pci(const Uevent *u, Event **ret) {
        const char *syspath = udev_device_get_syspath(u->device);
        const PciFunction *old = u->before ? host_find_pci_by_syspath(u->before, syspath) : NULL,
                          *now = u->after ? host_find_pci_by_syspath(u->after, syspath) : NULL;
        bool gone = streq(u->action, "remove") || streq(u->action, "unbind");
        const PciFunction *f = gone ? old ?: now : now ?: old;
        const Host *h = f == now ? u->after : u->before;
        const Egpu *g = f ? host_find_egpu_of(h, f) : NULL;
        _cleanup_(event_freep) Event *e = NULL;
        const char *driver = NULL;
        EventType type;
        int r;

        if (streq(u->action, "add"))
                type = EVENT_PCI_ADDED;
        else if (streq(u->action, "remove"))
                type = EVENT_PCI_REMOVED;
        else if (streq(u->action, "bind")) {
                type = EVENT_DRIVER_BOUND;
                driver = udev_device_get_property_value(u->device, "DRIVER")
                        ?: udev_device_get_driver(u->device);
                if (!driver && now)
                        driver = now->driver;
        } else if (streq(u->action, "unbind")) {
                type = EVENT_DRIVER_UNBOUND;
                driver = old ? old->driver : NULL;
        } else {
                *ret = NULL;
                return 0;
        }

        r = event_new(type, &e);
        if (r < 0)
                return r;
        r = set_string(&e->device, udev_device_get_sysname(u->device));
        if (r >= 0)
                r = set_string(&e->driver, driver);
        if (r >= 0 && g)
                r = set_string(&e->egpu, g->gpu->bdf);
        if (r >= 0 && f && asprintf(&e->name, "%04x:%04x", f->vendor, f->device) < 0)
                r = -ENOMEM;
        if (r >= 0 && !f) /* gone before the host was read: what the uevent says */
                r = set_string(&e->name, udev_device_get_property_value(u->device, "PCI_ID"));
        if (r < 0)
                return r;
        if (f) {
                e->group = f->iommu_group;
                e->tunnel = pci_function_is_removable(f);
        }
        *ret = TAKE_PTR(e);
        return 0;
}

int event_from_uevent(struct udev_device *d, const Host *before, const Host *after, Event **ret) {
        const char *action = udev_device_get_action(d), *subsystem = udev_device_get_subsystem(d);
        const Uevent u = { .device = d, .action = action, .before = before, .after = after };
        _cleanup_(event_freep) Event *e = NULL;
        int r;

        if (!action || !subsystem || !udev_device_get_syspath(d) || !udev_device_get_sysname(d)) {
                *ret = NULL;
                return 0;
        }
        if (streq(subsystem, "thunderbolt"))
                r = event_from_tb(&u, &e);
        else if (streq(subsystem, "pci"))
                r = event_from_pci(&u, &e);
        else
                r = 0;
        if (r < 0)
                return r;
        if (e) {
                r = set_string(&e->source, "kernel");
                if (r < 0)
                        return r;
        }
        *ret = TAKE_PTR(e);
        return 0;
}

/* The eGPU one of the group's members belongs to, or NULL. */
static const Egpu *group_egpu(const Host *h, const IommuGroup *g) {
        FOREACH_ARRAY(m, g->members, g->n_members) {
                const Egpu *e = host_find_egpu_of(h, *m);
                if (e)
                        return e;
        }
        return NULL;
}

static int push_group_event(
        const Host *h,
        const IommuGroup *g,
        EventType t,
        Event ***l,
        size_t *n,
        size_t *allocated) {
        _cleanup_(event_freep) Event *e = NULL;
        const Egpu *egpu = group_egpu(h, g);
        int r;

        r = event_new(t, &e);
        if (r < 0)
                return r;
        e->group = g->id;
        if (set_string(&e->source, "kernel") < 0 || (egpu && set_string(&e->egpu, egpu->gpu->bdf) < 0))
                return -ENOMEM;
        if (ARRAY_RESERVE(*l, *allocated, *n + 1) < 0)
                return -ENOMEM;
        (*l)[(*n)++] = TAKE_PTR(e);
        return 0;
}

int event_groups_diff(const Host *before, const Host *after, Event ***ret, size_t *ret_n) {
        Event **l = NULL;
        size_t n = 0, allocated = 0;
        int r = 0;

        /* Both lists are sorted by id: one merge. */
        for (size_t i = 0, j = 0; r >= 0 && (i < before->n_groups || j < after->n_groups);) {
                const IommuGroup *a = i < before->n_groups ? before->groups[i] : NULL,
                                 *b = j < after->n_groups ? after->groups[j] : NULL;

                if (b && (!a || b->id < a->id)) { /* appeared */
                        r = push_group_event(
                                after,
                                b,
                                iommu_group_is_viable(b) ? EVENT_GROUP_VIABLE : EVENT_GROUP_NOT_VIABLE,
                                &l,
                                &n,
                                &allocated);
                        j++;
                } else if (a && (!b || a->id < b->id)) { /* went */
                        r = push_group_event(before, a, EVENT_GROUP_REMOVED, &l, &n, &allocated);
                        i++;
                } else {
                        bool was = iommu_group_is_viable(a), is = iommu_group_is_viable(b);
                        if (was != is)
                                r = push_group_event(
                                        after,
                                        b,
                                        is ? EVENT_GROUP_VIABLE : EVENT_GROUP_NOT_VIABLE,
                                        &l,
                                        &n,
                                        &allocated);
                        i++;
                        j++;
                }
        }
        if (r < 0) {
                events_free(l, n);
                return r;
        }
        *ret = l;
        *ret_n = n;
        return 0;
}

int event_to_text(const Event *e, char **ret) {
        _cleanup_free_ char *what = NULL, *egpu = NULL;
        const char *dev = strna(e->device);
        char *s;
        int r = 0;

        if (e->egpu && asprintf(&egpu, ", eGPU %s", e->egpu) < 0)
                return -ENOMEM;
        switch (e->type) {
        case EVENT_TB_ADDED:
                r = asprintf(&what, "Thunderbolt device %s (%s) added", dev, strna(e->name));
                break;
        case EVENT_TB_REMOVED:
                r = asprintf(&what, "Thunderbolt device %s (%s) removed", dev, strna(e->name));
                break;
        case EVENT_TB_AUTHORIZED:
                r = asprintf(&what, "%s authorized: its PCIe tunnel opens", dev);
                break;
        case EVENT_TB_DEAUTHORIZED:
                r = asprintf(&what, "%s de-authorized: its PCIe tunnel closes", dev);
                break;
        case EVENT_PCI_ADDED:
        case EVENT_PCI_REMOVED:
                r = asprintf(
                        &what,
                        "PCI function %s (%s) %s%s%s",
                        dev,
                        strna(e->name),
                        e->type == EVENT_PCI_ADDED ? "added" : "removed",
                        e->tunnel ? ", behind a tunnel" : "",
                        strempty(egpu));
                break;
        case EVENT_DRIVER_BOUND:
                r = asprintf(&what, "%s bound to %s%s", dev, strna(e->driver), strempty(egpu));
                break;
        case EVENT_DRIVER_UNBOUND:
                r = asprintf(&what, "%s unbound from %s%s", dev, e->driver ?: "its driver", strempty(egpu));
                break;
        case EVENT_GROUP_VIABLE:
                r = asprintf(&what, "IOMMU group %d viable%s", e->group, strempty(egpu));
                break;
        case EVENT_GROUP_NOT_VIABLE:
                r = asprintf(
                        &what,
                        "IOMMU group %d not viable: a member is on a host driver%s",
                        e->group,
                        strempty(egpu));
                break;
        case EVENT_GROUP_REMOVED:
                r = asprintf(&what, "IOMMU group %d removed%s", e->group, strempty(egpu));
                break;
        case EVENT_VM_PLUGGED:
                r = asprintf(&what, "VM %s took eGPU %s", strna(e->vm), e->egpu ?: dev);
                break;
        case EVENT_VM_RELEASED:
                r = asprintf(&what, "VM %s released eGPU %s", strna(e->vm), e->egpu ?: dev);
                break;
        case EVENT_DECISION:
                r = asprintf(&what, "%s: %s", e->source ?: "daemon", strna(e->message));
                break;
        default:
                return -EINVAL;
        }
        if (r < 0)
                return -ENOMEM;
        s = TAKE_PTR(what);
        *ret = s;
        return 0;
}

/* Appends "KEY=value\n" with control characters as spaces; nothing for a NULL value. */
static int append_field(FILE *f, const char *key, const char *value) {
        if (!value)
                return 0;
        fprintf(f, "%s=", key);
        for (const char *p = value; *p; p++)
                fputc((unsigned char) *p < 0x20 || *p == 0x7f ? ' ' : *p, f);
        fputc('\n', f);
        return 0;
}

int event_serialize(const Event *e, char **ret, size_t *ret_size) {
        _cleanup_free_ char *buf = NULL;
        size_t size = 0;
        FILE *f;

        if (!event_type_to_string(e->type))
                return -EINVAL;
        f = open_memstream(&buf, &size);
        if (!f)
                return -ENOMEM;
        fprintf(f, "EVENT=%s\n", event_type_to_string(e->type));
        if (e->timestamp_usec > 0)
                fprintf(f, "TIMESTAMP=%llu\n", (unsigned long long) e->timestamp_usec);
        append_field(f, "SOURCE", e->source);
        append_field(f, "DEVICE", e->device);
        append_field(f, "NAME", e->name);
        append_field(f, "DRIVER", e->driver);
        if (e->group >= 0)
                fprintf(f, "GROUP=%d\n", e->group);
        append_field(f, "EGPU", e->egpu);
        if (e->tunnel)
                fputs("TUNNEL=1\n", f);
        append_field(f, "VM", e->vm);
        append_field(f, "MESSAGE", e->message);
        if (fclose(f) != 0)
                return -ENOMEM;
        if (size > EVENT_MESSAGE_MAX)
                return -EMSGSIZE;
        *ret = TAKE_PTR(buf);
        *ret_size = size;
        return 0;
}

static int parse_u64(const char *s, uint64_t *ret) {
        unsigned long long v;
        char *end;

        if (!*s || *s < '0' || *s > '9')
                return -EINVAL;
        errno = 0;
        v = strtoull(s, &end, 10);
        if (errno != 0 || *end)
                return -EINVAL;
        *ret = v;
        return 0;
}

int event_parse(const char *buf, size_t size, Event **ret) {
        _cleanup_(event_freep) Event *e = NULL;
        _cleanup_free_ char *copy = NULL;
        char *line, *save = NULL;
        bool typed = false;
        int r;

        if (size > EVENT_MESSAGE_MAX || memchr(buf, 0, size))
                return -EBADMSG;
        copy = strndup(buf, size);
        if (!copy)
                return -ENOMEM;
        r = event_new(_EVENT_TYPE_INVALID, &e);
        if (r < 0)
                return r;
        for (line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                char *v = strchr(line, '=');
                char **field;

                if (!v)
                        return -EBADMSG;
                *v++ = 0;
                if (streq(line, "EVENT")) {
                        e->type = event_type_from_string(v);
                        if (e->type < 0)
                                return -EBADMSG;
                        typed = true;
                } else if (streq(line, "TIMESTAMP")) {
                        if (parse_u64(v, &e->timestamp_usec) < 0)
                                return -EBADMSG;
                } else if (streq(line, "GROUP")) {
                        if (safe_atoi(v, &e->group) < 0 || e->group < 0)
                                return -EBADMSG;
                } else if (streq(line, "TUNNEL")) {
                        if (!streq(v, "0") && !streq(v, "1"))
                                return -EBADMSG;
                        e->tunnel = streq(v, "1");
                } else {
                        field = string_field_by_key(e, line); /* NULL: a key of a newer publisher */
                        if (field && set_string(field, v) < 0)
                                return -ENOMEM;
                }
        }
        if (!typed)
                return -EBADMSG;
        *ret = TAKE_PTR(e);
        return 0;
}
