/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <inttypes.h>
#include <poll.h>

#include "live.h"
#include "qmp.h"
#include "spawn-util.h"
#include "util.h"
#include "vfio.h"

/* QEMU's pcie-root-port: PCI_VENDOR_ID_REDHAT 0x1b36, PCI_DEVICE_ID_REDHAT_PCIE_RP 0x000c
 * (include/hw/pci/pci_ids.h); and the class of every PCI-to-PCI bridge. */
#define PCI_CLASS_BRIDGE_PCI_ 0x0604

void live_vm_done(LiveVm *v) {
        free(v->qmp_path);
        free(v->vmid);
        *v = (LiveVm){};
}

static bool vmid_is_valid(const char *s) {
        uint32_t v;
        return s && safe_atou32(s, 10, &v) >= 0 && v >= 100 && s[0] != '0';
}

int live_vm_new(const char *root, const char *vmid, const char *qmp_path, LiveVm *ret) {
        _cleanup_(live_vm_done) LiveVm v = {};

        if (vmid && !(v.vmid = strdup(vmid)))
                return -ENOMEM;
        if (qmp_path)
                v.qmp_path = strdup(qmp_path);
        else if (vmid_is_valid(vmid)) {
                _cleanup_free_ char *p = NULL;

                if (asprintf(&p, LIVE_PROXMOX_RUN_DIR "/%s.qmp", vmid) < 0)
                        return -ENOMEM;
                v.qmp_path = path_under_root(root, p);
        } else
                return -EINVAL;
        if (!v.qmp_path)
                return -ENOMEM;
        *ret = v;
        v = (LiveVm){};
        return 0;
}

/* The value of key in a QEMU option string ("socket,id=qmp,path=/x,server=on"); a first element without
 * '=' is the backend, asked for with key "". QEMU writes a ',' inside a value as ",,"; values with one are
 * not egpuctl's concern and come back cut there. */
static char *qemu_opt_get(const char *opts, const char *key) {
        size_t klen = strlen(key);

        for (const char *p = opts; p && *p;) {
                const char *end = strchr(p, ','), *eq = strchr(p, '=');
                size_t len = end ? (size_t) (end - p) : strlen(p);

                if (!*key && p == opts && (!eq || (end && eq > end)))
                        return strndup(p, len);
                if (*key && len > klen && strneq(p, key, klen) && p[klen] == '=')
                        return strndup(p + klen + 1, len - klen - 1);
                p = end ? end + 1 : NULL;
        }
        return NULL;
}

/* "100" from LIVE_PROXMOX_RUN_DIR/100.qmp (or the same below /run). */
static char *vmid_from_socket(const char *path) {
        const char *base = path_basename(path);
        _cleanup_free_ char *id = NULL;
        size_t n = strlen(base);

        if (n < 5 || !streq(base + n - 4, ".qmp"))
                return NULL;
        if (!strneq(path, LIVE_PROXMOX_RUN_DIR "/", strlen(LIVE_PROXMOX_RUN_DIR) + 1) &&
            !strneq(path, "/run/qemu-server/", strlen("/run/qemu-server/")))
                return NULL;
        id = strndup(base, n - 4);
        return id && vmid_is_valid(id) ? TAKE_PTR(id) : NULL;
}

int live_vm_from_cmdline(char *const *argv, pid_t pid, LiveVm *ret) {
        _cleanup_strv_free_ char **chardev_ids = NULL, **chardev_paths = NULL, **monitors = NULL;
        _cleanup_free_ char *qmp = NULL, *vmid = NULL;
        int r;

        for (size_t i = 0; argv[i] && argv[i + 1]; i++) {
                const char *opt = argv[i], *val = argv[i + 1];

                if (opt[0] == '-' && opt[1] == '-')
                        opt++;
                if (streq(opt, "-qmp") && strneq(val, "unix:", 5) && !qmp) {
                        qmp = strndup(val + 5, strcspn(val + 5, ","));
                        if (!qmp)
                                return -ENOMEM;
                } else if (streq(opt, "-chardev")) {
                        _cleanup_free_ char *backend = qemu_opt_get(val, ""), *id = qemu_opt_get(val, "id"),
                                            *path = qemu_opt_get(val, "path");

                        if (streq_ptr(backend, "socket") && id && path) {
                                r = strv_consume(&chardev_ids, TAKE_PTR(id));
                                if (r >= 0)
                                        r = strv_consume(&chardev_paths, TAKE_PTR(path));
                                if (r < 0)
                                        return r;
                        }
                } else if (streq(opt, "-mon")) {
                        _cleanup_free_ char *chardev = qemu_opt_get(val, "chardev"),
                                            *mode = qemu_opt_get(val, "mode");

                        if (chardev && streq_ptr(mode, "control") &&
                            (r = strv_consume(&monitors, TAKE_PTR(chardev))) < 0)
                                return r;
                } else if (streq(opt, "-id") && vmid_is_valid(val) && !vmid) {
                        vmid = strdup(val);
                        if (!vmid)
                                return -ENOMEM;
                } else
                        continue;
                i++;
        }
        /* The first control monitor on a socket, as QEMU lists them. */
        STRV_FOREACH(m, monitors) {
                for (size_t j = 0; !qmp && chardev_ids && chardev_ids[j]; j++)
                        if (streq(chardev_ids[j], *m) && !(qmp = strdup(chardev_paths[j])))
                                return -ENOMEM;
                if (qmp)
                        break;
        }
        if (!qmp)
                return -ENOENT;
        if (!vmid)
                vmid = vmid_from_socket(qmp);
        *ret = (LiveVm){ .qmp_path = TAKE_PTR(qmp), .vmid = TAKE_PTR(vmid), .pid = pid };
        return 0;
}

int live_vm_from_pid(pid_t pid, LiveVm *ret) {
        _cleanup_strv_free_ char **argv = NULL;
        int r;

        r = process_get_cmdline(pid, &argv);
        if (r < 0)
                return r;
        return live_vm_from_cmdline(argv, pid, ret);
}

int live_vm_describe(const LiveVm *v, char **ret) {
        int r;

        if (v->vmid && v->pid > 0)
                r = asprintf(ret, "VM %s (PID %d)", v->vmid, (int) v->pid);
        else if (v->vmid)
                r = asprintf(ret, "VM %s", v->vmid);
        else if (v->pid > 0)
                r = asprintf(ret, "the VM of PID %d (%s)", (int) v->pid, strna(v->qmp_path));
        else
                r = asprintf(ret, "the VM at %s", strna(v->qmp_path));
        return r < 0 ? -ENOMEM : 0;
}

int live_device_id(const char *bdf, char **ret) {
        char *s;

        if (asprintf(&s, "egpuctl-%s", bdf) < 0)
                return -ENOMEM;
        for (char *p = s; *p; p++)
                if (*p == ':')
                        *p = '-';
        *ret = s;
        return 0;
}

static uint64_t deadline_in(int ms) {
        return now_usec() + (uint64_t) (ms > 0 ? ms : 0) * 1000ULL;
}

/* A device in the VM that passes one of the eGPU's functions through. */
typedef struct Passed {
        char *id;
        const PciFunction *f;
} Passed;

/* The devices found so far, in the order found. */
typedef struct PassedList {
        Passed *l;
        size_t n, allocated;
} PassedList;

/* Frees the list's devices and leaves it empty. */
static void passed_list_done(PassedList *p) {
        FOREACH_ARRAY(x, p->l, p->n)
                free(x->id);
        free(p->l);
        *p = (PassedList){};
}

/* The VM's vfio-pci devices whose host= is one of the eGPU's functions: those with an id (qom-list
 * /machine/peripheral: every device Proxmox, libvirt or egpuctl adds), named by it, and those without one
 * (/machine/peripheral-anon, as a person's "-device vfio-pci,host=..." makes them), named by their QOM path,
 * which device_del takes too ("the device's ID or QOM path", qapi/qdev.json). */
static int find_passed_in(
        Qmp *q,
        const Egpu *e,
        const LiveOptions *o,
        const char *container,
        PassedList *p) {
        _cleanup_(json_object_putp) json_object *list = NULL, *args = NULL;
        bool anon = !streq(container, "/machine/peripheral");
        int r;

        args = json_object_new_object();
        if (!args || json_object_object_add(args, "path", json_object_new_string(container)) < 0)
                return -ENOMEM;
        r = qmp_execute(q, "qom-list", args, deadline_in(o->qmp_timeout_ms), &list, NULL);
        if (r < 0)
                return anon ? 0 : r; /* a QEMU without anonymous devices has no such container */
        for (size_t i = 0; json_object_is_type(list, json_type_array) && i < json_object_array_length(list);
             i++) {
                json_object *item = json_object_array_get_idx(list, i);
                const char *name = json_get_string(item, "name"), *type = json_get_string(item, "type");
                _cleanup_(json_object_putp) json_object *ga = NULL, *host = NULL;
                _cleanup_free_ char *path = NULL;

                if (!name || !type || !streq(type, "child<vfio-pci>"))
                        continue;
                if (asprintf(&path, "%s/%s", container, name) < 0 || !(ga = json_object_new_object()) ||
                    json_object_object_add(ga, "path", json_object_new_string(path)) < 0 ||
                    json_object_object_add(ga, "property", json_object_new_string("host")) < 0)
                        return -ENOMEM;
                if (qmp_execute(q, "qom-get", ga, deadline_in(o->qmp_timeout_ms), &host, NULL) < 0 ||
                    !json_object_is_type(host, json_type_string))
                        continue;
                FOREACH_ARRAY(f, e->functions, e->n_functions) {
                        const char *h = json_object_get_string(host);

                        /* QEMU shows host= as the address it was given, a domain added ("0000:30:00.0"). */
                        if (!streq((*f)->bdf, h) && !(strlen(h) == 7 && streq((*f)->bdf + 5, h)))
                                continue;
                        if (ARRAY_RESERVE(p->l, p->allocated, p->n + 1) < 0 ||
                            !(p->l[p->n].id = strdup(anon ? path : name)))
                                return -ENOMEM;
                        p->l[p->n++].f = *f;
                }
        }
        return 0;
}

/* A failure goes to the report, naming the VM as who. */
static int find_passed(
        Qmp *q,
        const Egpu *e,
        const LiveOptions *o,
        const char *who,
        PassedList *ret,
        Report *rep) {
        _cleanup_(passed_list_done) PassedList p = {};
        int r;

        r = find_passed_in(q, e, o, "/machine/peripheral", &p);
        if (r >= 0)
                r = find_passed_in(q, e, o, "/machine/peripheral-anon", &p);
        if (r < 0)
                return report_error(rep, r, "Failed to list the devices of %s: %m", who);
        *ret = p;
        p = (PassedList){};
        return 0;
}

/* A hot-pluggable PCIe port of the VM with nothing behind it. */
typedef struct Port {
        char *id;
        uint64_t window; /* its prefetchable window as the guest set it up, else QEMU's reserve hint; 0
                            unknown */
        int64_t bus;     /* its secondary bus number; 0 while no firmware or guest numbered it */
} Port;

static void ports_free(Port *p, size_t n) {
        for (size_t i = 0; i < n; i++)
                free(p[i].id);
        free(p);
}

static int qom_get(Qmp *q, const char *id, const char *property, const LiveOptions *o, json_object **ret) {
        _cleanup_(json_object_putp) json_object *args = json_object_new_object();
        _cleanup_free_ char *path = NULL;

        if (!args || asprintf(&path, "/machine/peripheral/%s", id) < 0 ||
            json_object_object_add(args, "path", json_object_new_string(path)) < 0 ||
            json_object_object_add(args, "property", json_object_new_string(property)) < 0)
                return -ENOMEM;
        return qmp_execute(q, "qom-get", args, deadline_in(o->qmp_timeout_ms), ret, NULL);
}

/* Walks query-pci's buses and bridges for empty bridges with an id whose "hotplug" property is true: the
 * PCIe slots (pcie-root-port, ioh3420, xio3130-downstream: hw/pci/pcie_port.c pcie_slot_props, since QEMU
 * 5.0). A bridge without that property (pci-bridge, pcie-pci-bridge) is no PCIe slot. */
static int collect_ports(
        Qmp *q,
        json_object *devices,
        const LiveOptions *o,
        Port **ports,
        size_t *n,
        size_t *allocated) {
        for (size_t i = 0;
             json_object_is_type(devices, json_type_array) && i < json_object_array_length(devices);
             i++) {
                json_object *d = json_object_array_get_idx(devices, i), *bridge, *bus, *children, *pref;
                _cleanup_(json_object_putp) json_object *hotplug = NULL, *reserve = NULL;
                const char *id = json_get_string(d, "qdev_id");
                int64_t base, limit;
                int r;

                bridge = json_get(d, "pci_bridge", json_type_object);
                if (!bridge ||
                    json_get_int(json_get(d, "class_info", json_type_object), "class", 0) !=
                            PCI_CLASS_BRIDGE_PCI_)
                        continue;
                children = json_get(bridge, "devices", json_type_array);
                r = collect_ports(q, children, o, ports, n, allocated);
                if (r < 0)
                        return r;
                if (!id || !*id || (children && json_object_array_length(children) > 0))
                        continue;
                if (qom_get(q, id, "hotplug", o, &hotplug) < 0 ||
                    !json_object_is_type(hotplug, json_type_boolean) || !json_object_get_boolean(hotplug))
                        continue;
                if (ARRAY_RESERVE(*ports, *allocated, *n + 1) < 0)
                        return -ENOMEM;
                bus = json_get(bridge, "bus", json_type_object);
                pref = json_get(bus, "prefetchable_range", json_type_object);
                base = json_get_int(pref, "base", -1);
                limit = json_get_int(pref, "limit", -1);
                (*ports)[*n] = (Port){ .bus = json_get_int(bus, "secondary", 0) };
                if (base >= 0 && limit > base)
                        (*ports)[*n].window = (uint64_t) (limit - base) + 1;
                else if (
                        qom_get(q, id, "pref64-reserve", o, &reserve) >= 0 &&
                        json_object_is_type(reserve, json_type_int) && json_object_get_uint64(reserve) > 0 &&
                        json_object_get_uint64(reserve) != UINT64_MAX)
                        /* hw/pci-bridge/gen_pcie_root_port.c: pref64-reserve, a size, -1 (unset) by default
                         */
                        (*ports)[*n].window = json_object_get_uint64(reserve);
                (*ports)[*n].id = strdup(id);
                if (!(*ports)[*n].id)
                        return -ENOMEM;
                (*n)++;
        }
        return 0;
}

static int find_ports(Qmp *q, const LiveOptions *o, Port **ret, size_t *ret_n) {
        _cleanup_(json_object_putp) json_object *buses = NULL;
        Port *ports = NULL;
        size_t n = 0, allocated = 0;
        int r;

        r = qmp_execute(q, "query-pci", NULL, deadline_in(o->qmp_timeout_ms), &buses, NULL);
        if (r < 0)
                return r;
        for (size_t i = 0;
             json_object_is_type(buses, json_type_array) && i < json_object_array_length(buses);
             i++) {
                r = collect_ports(
                        q,
                        json_get(json_object_array_get_idx(buses, i), "devices", json_type_array),
                        o,
                        &ports,
                        &n,
                        &allocated);
                if (r < 0) {
                        ports_free(ports, n);
                        return r;
                }
        }
        *ret = ports;
        *ret_n = n;
        return 0;
}

/* Whether query-pci lists, on the bus behind port id, a function with each of the eGPU's ids. */
static int port_lists_egpu(Qmp *q, const Egpu *e, const char *port, const LiveOptions *o, bool *ret) {
        _cleanup_(json_object_putp) json_object *buses = NULL;
        json_object *found = NULL;
        int r;

        r = qmp_execute(q, "query-pci", NULL, deadline_in(o->qmp_timeout_ms), &buses, NULL);
        if (r < 0)
                return r;
        /* the port itself, at any depth */
        for (size_t i = 0;
             !found && json_object_is_type(buses, json_type_array) && i < json_object_array_length(buses);
             i++) {
                json_object *stack[32];
                size_t depth = 0;

                stack[depth++] = json_get(json_object_array_get_idx(buses, i), "devices", json_type_array);
                while (depth > 0 && !found) {
                        json_object *list = stack[--depth];

                        for (size_t j = 0; json_object_is_type(list, json_type_array) &&
                             j < json_object_array_length(list);
                             j++) {
                                json_object *d = json_object_array_get_idx(list, j);
                                json_object *kids = json_get(
                                        json_get(d, "pci_bridge", json_type_object),
                                        "devices",
                                        json_type_array);

                                if (streq_ptr(json_get_string(d, "qdev_id"), port)) {
                                        found = kids;
                                        break;
                                }
                                if (kids && depth < ELEMENTSOF(stack))
                                        stack[depth++] = kids;
                        }
                }
        }
        FOREACH_ARRAY(f, e->functions, e->n_functions) {
                bool seen = false;

                for (size_t j = 0; found && j < json_object_array_length(found); j++) {
                        json_object *id =
                                json_get(json_object_array_get_idx(found, j), "id", json_type_object);

                        if (json_get_int(id, "vendor", -1) == (int64_t) (*f)->vendor &&
                            json_get_int(id, "device", -1) == (int64_t) (*f)->device)
                                seen = true;
                }
                if (!seen) {
                        *ret = false;
                        return 0;
                }
        }
        *ret = true;
        return 0;
}

static int device_add(
        Qmp *q,
        const PciFunction *f,
        const char *port,
        bool last,
        const LiveOptions *o,
        char **ret_error) {
        _cleanup_(json_object_putp) json_object *args = json_object_new_object();
        _cleanup_free_ char *id = NULL, *addr = NULL;
        int r;

        r = live_device_id(f->bdf, &id);
        if (r < 0)
                return r;
        if (!args || asprintf(&addr, "0.%u", pci_function_number(f)) < 0 ||
            json_object_object_add(args, "driver", json_object_new_string("vfio-pci")) < 0 ||
            json_object_object_add(args, "host", json_object_new_string(f->bdf)) < 0 ||
            json_object_object_add(args, "id", json_object_new_string(id)) < 0 ||
            json_object_object_add(args, "bus", json_object_new_string(port)) < 0 ||
            json_object_object_add(args, "addr", json_object_new_string(addr)) < 0 ||
            (last && json_object_object_add(args, "multifunction", json_object_new_boolean(true)) < 0))
                return -ENOMEM;
        return qmp_execute(q, "device_add", args, deadline_in(o->qmp_timeout_ms), NULL, ret_error);
}

static int device_del(Qmp *q, const char *id, const LiveOptions *o, char **ret_error) {
        _cleanup_(json_object_putp) json_object *args = json_object_new_object();

        if (!args || json_object_object_add(args, "id", json_object_new_string(id)) < 0)
                return -ENOMEM;
        return qmp_execute(q, "device_del", args, deadline_in(o->qmp_timeout_ms), NULL, ret_error);
}

/* Connects to the VM's QMP socket; a failure goes to the report, naming the VM as live_vm_describe() does.
 * That name goes to *ret_who (when not NULL), for the caller's report. */
static int connect_vm(const LiveVm *vm, const LiveOptions *o, char **ret_who, Qmp **ret, Report *rep) {
        _cleanup_(qmp_closep) Qmp *q = NULL;
        _cleanup_free_ char *who = NULL;
        int r;

        r = live_vm_describe(vm, &who);
        if (r < 0)
                return r;
        r = qmp_connect(vm->qmp_path, deadline_in(o->qmp_timeout_ms), &q);
        if (r == -ENOENT || r == -ECONNREFUSED)
                return report_error(rep, r, "%s is not running: nothing listens on %s", who, vm->qmp_path);
        if (r == -ETIMEDOUT)
                return report_error(
                        rep,
                        r,
                        "%s did not answer on %s within %d ms (another client on its monitor?)",
                        who,
                        vm->qmp_path,
                        o->qmp_timeout_ms);
        if (r < 0)
                return report_error(rep, r, "Failed to talk to %s over %s: %m", who, vm->qmp_path);
        if (ret_who)
                *ret_who = TAKE_PTR(who);
        *ret = TAKE_PTR(q);
        return 0;
}

int live_vm_check(const LiveVm *vm, const LiveOptions *o, Report *rep) {
        _cleanup_(qmp_closep) Qmp *q = NULL;

        return connect_vm(vm, o, NULL, &q, rep);
}

int live_vm_stop(const LiveVm *vm, const LiveOptions *o) {
        _cleanup_(qmp_closep) Qmp *q = NULL;
        _cleanup_free_ char *qm = NULL;
        int r, status = 0;

        if (vm->vmid && spawn_find_program("qm", &qm) >= 0) {
                char *argv[] = { (char *) "qm", (char *) "stop", vm->vmid, NULL };

                r = spawn_run(argv, (uint64_t) o->qmp_timeout_ms * 1000ULL, &status, NULL);
                if (r >= 0 && status == 0)
                        return 0;
        }
        r = qmp_connect(vm->qmp_path, deadline_in(o->qmp_timeout_ms), &q);
        if (r >= 0)
                r = qmp_execute(q, "quit", NULL, deadline_in(o->qmp_timeout_ms), NULL, NULL);
        /* QEMU may close the socket before its answer arrives */
        return r == -ECONNRESET ? 0 : r;
}

/* The functions in the order they go in: every function but 0, then function 0. */
static const PciFunction *plug_order(const Egpu *e, size_t i) {
        size_t n = e->n_functions, zero = 0;

        for (size_t j = 0; j < n; j++)
                if (pci_function_number(e->functions[j]) == 0)
                        zero = j;
        if (i == n - 1)
                return e->functions[zero];
        return e->functions[i < zero ? i : i + 1];
}

/* DEVICE_DELETED of the device named by id or QOM path (an anonymous device's event has only its path). */
static bool event_names_device(json_object *data, void *userdata) {
        return streq_ptr(json_get_string(data, "device"), userdata) ||
                streq_ptr(json_get_string(data, "path"), userdata);
}

/* Takes the functions egpuctl added in this call out again, in the order they went in, each waited for
 * (bounded): without function 0 the guest never saw them, so QEMU removes them at once. */
static void roll_back(Qmp *q, const Egpu *e, size_t added, const LiveOptions *o) {
        uint64_t deadline = deadline_in(o->unplug_timeout_ms);

        for (size_t i = 0; i < added; i++) {
                _cleanup_free_ char *id = NULL;

                if (live_device_id(plug_order(e, i)->bdf, &id) >= 0 && device_del(q, id, o, NULL) >= 0)
                        (void) qmp_wait_event(q, "DEVICE_DELETED", event_names_device, id, deadline, NULL);
        }
}

void live_port_done(LivePort *p) {
        p->id = mfree(p->id);
}

bool live_port_fits(const LivePort *p) {
        return p->id && p->need > 0 && p->window >= p->need;
}

/* The one choice of a port, for vm plug and for doctor: a free port whose window holds the eGPU's BARs
 * (the smallest such), else the free port with the largest window; the first listed on a tie. */
static int choose_port(Qmp *q, const Egpu *e, const LiveOptions *o, LivePort *ret) {
        Port *ports = NULL;
        size_t n_ports = 0;
        Port *best = NULL;
        uint64_t need = 0;
        int r;

        r = find_ports(q, o, &ports, &n_ports);
        if (r < 0)
                return r;
        if (e)
                (void) egpu_prefetchable_window(e, &need);
        FOREACH_ARRAY(p, ports, n_ports) {
                bool fits = need > 0 && p->window >= need;
                bool best_fits = best && need > 0 && best->window >= need;

                if (!best || (fits && !best_fits) || (fits && best_fits && p->window < best->window) ||
                    (!fits && !best_fits && p->window > best->window))
                        best = p;
        }
        *ret = (LivePort){ .need = need, .n_free = n_ports };
        if (best) {
                ret->window = best->window;
                ret->bus = best->bus;
                ret->id = TAKE_PTR(best->id);
        }
        ports_free(ports, n_ports);
        return 0;
}

int live_find_port(const Egpu *e, const LiveVm *vm, const LiveOptions *o, LivePort *ret, Report *rep) {
        _cleanup_(qmp_closep) Qmp *q = NULL;
        _cleanup_free_ char *who = NULL;
        int r;

        r = connect_vm(vm, o, &who, &q, rep);
        if (r < 0)
                return r;
        r = choose_port(q, e, o, ret);
        if (r < 0)
                return report_error(rep, r, "Failed to list the PCI devices of %s: %m", who);
        return 0;
}

int live_plug(const Egpu *e, const LiveVm *vm, const LiveOptions *o, Report *rep) {
        _cleanup_(qmp_closep) Qmp *q = NULL;
        _cleanup_free_ char *who = NULL, *qemu_error = NULL;
        _cleanup_(passed_list_done) PassedList passed = {};
        _cleanup_(live_port_done) LivePort port = {};
        size_t added = 0;
        bool listed = false;
        int r;

        FOREACH_ARRAY(f, e->functions, e->n_functions)
                if (!streq_ptr((*f)->driver, "vfio-pci"))
                        return report_error(
                                rep,
                                -EBUSY,
                                "%s is not on vfio-pci; attach it first",
                                (*f)->bdf);
        r = connect_vm(vm, o, &who, &q, rep);
        if (r < 0)
                return r;

        r = find_passed(q, e, o, who, &passed, rep);
        if (r < 0)
                return r;
        if (passed.n == e->n_functions)
                return report_note(rep, "%s has eGPU %s already", who, e->gpu->bdf) < 0 ? -ENOMEM : 0;
        if (passed.n > 0)
                return report_error(
                        rep,
                        -EBUSY,
                        "%s has %zu of the %zu functions of eGPU %s; take them out first (egpuctl vm "
                        "unplug)",
                        who,
                        passed.n,
                        e->n_functions,
                        e->gpu->bdf);

        r = choose_port(q, e, o, &port);
        if (r < 0)
                return report_error(rep, r, "Failed to list the PCI devices of %s: %m", who);
        if (port.id && port.need > 0 && !live_port_fits(&port))
                report_note(
                        rep,
                        "No free port of %s has a prefetchable window of %" PRIu64 " MiB for eGPU %s; using "
                        "%s, where the guest may not fit its BARs (egpuctl vm attach VMID --live gives the "
                        "VM such a port)",
                        who,
                        port.need >> 20,
                        e->gpu->bdf,
                        port.id);
        if (!port.id)
                return report_error(
                        rep,
                        -ENOSPC,
                        "%s has no free hot-pluggable PCIe port (pcie-root-port with hotplug=on and nothing "
                        "behind it); egpuctl vm attach VMID --live adds one for the next start",
                        who);

        for (added = 0; added < e->n_functions; added++) {
                r = device_add(
                        q,
                        plug_order(e, added),
                        port.id,
                        added == e->n_functions - 1,
                        o,
                        &qemu_error);
                if (r < 0)
                        break;
        }
        if (r < 0) {
                const PciFunction *f = plug_order(e, added);

                roll_back(q, e, added, o);
                r = report_error(
                        rep,
                        r,
                        "%s refused %s on port %s: %s",
                        who,
                        f->bdf,
                        port.id,
                        qemu_error ?: strerror(-r));
                return r;
        }
        report_change(rep, "%s: eGPU %s plugged into port %s", who, e->gpu->bdf, port.id);

        /* The guest sees the slot once its firmware or kernel numbered the port's bus. */
        if (port.bus == 0)
                report_note(
                        rep,
                        "%s has not numbered the bus behind %s yet, so query-pci cannot list the eGPU",
                        who,
                        port.id);
        else {
                r = port_lists_egpu(q, e, port.id, o, &listed);
                if (r >= 0 && !listed)
                        r = -EIO;
                if (r < 0)
                        return report_error(
                                rep,
                                r,
                                "%s does not list eGPU %s behind %s after device_add",
                                who,
                                e->gpu->bdf,
                                port.id);
                report_note(rep, "%s lists every function of eGPU %s behind %s", who, e->gpu->bdf, port.id);
        }
        return 1;
}

/* Waits, bounded, until no process other than one we may not see holds the eGPU's groups. */
static int wait_groups_released(const Egpu *e, uint64_t deadline, pid_t *ret_holder) {
        for (int wait_ms = 5;; wait_ms = MIN(wait_ms * 2, 100)) {
                pid_t holder = 0;
                bool held = false;

                FOREACH_ARRAY(g, e->groups, e->n_groups) {
                        int r = vfio_group_holder((*g)->id, &holder);
                        if (r < 0)
                                return r;
                        if (r > 0) {
                                held = true;
                                break;
                        }
                }
                if (!held)
                        return 0;
                if (now_usec() >= deadline) {
                        *ret_holder = holder;
                        return -ETIMEDOUT;
                }
                /* No event tells that a process closed a file: look again, soon, until the deadline. */
                (void) poll(NULL, 0, wait_ms);
        }
}

int live_unplug(const Egpu *e, const LiveVm *vm, const LiveOptions *o, Report *rep) {
        _cleanup_(qmp_closep) Qmp *q = NULL;
        _cleanup_free_ char *who = NULL;
        uint64_t deadline = deadline_in(o->unplug_timeout_ms);
        _cleanup_(passed_list_done) PassedList passed = {};
        pid_t holder = 0;
        int r;

        r = connect_vm(vm, o, &who, &q, rep);
        if (r < 0)
                return r;
        r = find_passed(q, e, o, who, &passed, rep);
        if (r < 0)
                return r;
        if (passed.n == 0)
                return report_note(rep, "%s has none of the functions of eGPU %s", who, e->gpu->bdf) < 0
                        ? -ENOMEM
                        : 0;

        /* Function 0 first: its slot's other functions go with it. Then whatever is left, one at a time. */
        for (size_t round = 0; passed.n > 0; round++) {
                _cleanup_free_ char *qemu_error = NULL;
                const Passed *p = &passed.l[0];

                FOREACH_ARRAY(x, passed.l, passed.n)
                        if (pci_function_number(x->f) == 0)
                                p = x;
                if (round > e->n_functions)
                        return report_error(rep, -EBUSY, "%s keeps functions of eGPU %s", who, e->gpu->bdf);
                r = device_del(q, p->id, o, &qemu_error);
                /* A request already pending (QEMU: "is already in the process of unplug") is what we want.
                 */
                if (r < 0 && !(qemu_error && strstr(qemu_error, "already in the process of unplug")))
                        return report_error(
                                rep,
                                r,
                                "%s refused to give back %s: %s",
                                who,
                                p->id,
                                qemu_error ?: strerror(-r));
                r = qmp_wait_event(q, "DEVICE_DELETED", event_names_device, p->id, deadline, NULL);
                if (r == -ECONNRESET) {
                        /* The VM stopped meanwhile: its QEMU let go of everything. */
                        report_note(rep, "%s stopped while giving back eGPU %s", who, e->gpu->bdf);
                        passed_list_done(&passed);
                        break;
                }
                if (r == -ETIMEDOUT)
                        return report_error(
                                rep,
                                r,
                                "%s did not give back eGPU %s within %d ms: its guest did not answer the "
                                "hot-unplug request",
                                who,
                                e->gpu->bdf,
                                o->unplug_timeout_ms);
                if (r < 0)
                        return report_error(
                                rep,
                                r,
                                "Lost %s while waiting for it to give back %s: %m",
                                who,
                                p->id);
                report_change(rep, "%s: %s (%s) taken out", who, p->id, p->f->bdf);
                passed_list_done(&passed);
                r = find_passed(q, e, o, who, &passed, rep);
                if (r < 0)
                        return r;
        }

        r = wait_groups_released(e, deadline, &holder);
        if (r == -ETIMEDOUT)
                return report_error(
                        rep,
                        r,
                        "%s took the devices out but process %d still holds the eGPU's VFIO group",
                        who,
                        (int) holder);
        if (r < 0)
                return report_error(rep, r, "Failed to check who holds the eGPU's groups: %m");
        report_note(rep, "%s let go of eGPU %s", who, e->gpu->bdf);
        return 1;
}
