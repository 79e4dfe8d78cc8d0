#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""A stand-in for a VM's QEMU on the simulated kernel: the QMP that egpuctl speaks, and the VFIO groups a
QEMU holds. It takes the part of QEMU's command line that matters here, so that egpuctl finds its QMP socket
in /proc/PID/cmdline as it finds a real one's:

  qmp-standin.py [-name N] [-id VMID] (-qmp unix:PATH,server=on,wait=off |
                 -chardev socket,id=ID,path=PATH,server=on,wait=off -mon chardev=ID,mode=control)
                 [-device pcie-root-port,id=ID[,hotplug=off][,pref64-reserve=SIZE]]...
                 [-device vfio-pci,host=BDF[,id=ID],bus=PORT,addr=0.F[,multifunction=on]]...
                 [-S] [--guest MS] [--ready FILE] [--events FILE]

What it answers, as QEMU 7.2 does (qapi/pci.json, qapi/qom.json, hw/pci/pcie.c, hw/vfio/common.c and
pci.c, softmmu/qdev-monitor.c; tests/vm judges the same flows on a real QEMU):
- the greeting, qmp_capabilities, query-status, query-pci (the port's secondary bus is numbered, as SeaBIOS
  does at boot, unless -S), qom-list /machine/peripheral, qom-get of a device's host, a port's hotplug and
  pref64-reserve (18446744073709551615 when unset), quit; a device given without id= is
  /machine/peripheral-anon/device[N], listed there, and device_del takes that path;
- device_add vfio-pci: opens the group as QEMU does (one process at a time: EBUSY from the kernel), checks
  that it is viable and the function is on vfio-pci, refuses a port without hot-plug ("Hot-plug failed:
  unsupported by the port device 'ID'"), a taken slot and a duplicate id;
- device_del: without a guest (the default), a hot-added device sits in a slot no guest powered on and goes
  at once (DEVICE_DELETED after about 50 ms, measured with QEMU 7.2 and recorded in tests/vm), while a
  device given with -device at start sits in a powered slot and never goes; with --guest MS a guest powers
  the slot off MS ms after the request. Function 0's request takes the whole slot; only the named device
  gets DEVICE_DELETED. A second request within 5 s: "Device ID is already in the process of unplug".
A group is closed when no device of it is left, so the kernel lets egpuctl have it again.
--events FILE gets a line "plugged T" when a slot's function 0 arrives (the VM then lists its functions)
and "deleted T" at each DEVICE_DELETED, T being time.monotonic() (CLOCK_MONOTONIC), for bench/.
"""
import json
import os
import selectors
import signal
import socket
import sys
import time

HOTPLUG_NO_GUEST_S = 0.05
PENDING_S = 5.0
UNSET = 18446744073709551615  # QEMU's size -1
ANON = "/machine/peripheral-anon"


def opts(s):
    """QEMU option string -> (backend, dict)."""
    parts = s.split(",")
    first = None
    d = {}
    for i, p in enumerate(parts):
        if "=" in p:
            k, v = p.split("=", 1)
            d[k] = v
        elif i == 0:
            first = p
        else:
            d[p] = "on"
    return first, d


def deleted_data(id_):
    """DEVICE_DELETED's data: an anonymous device has only its path (qapi/qdev.json: device is optional)."""
    if id_.startswith(ANON + "/"):
        return {"path": id_}
    return {"device": id_, "path": "/machine/peripheral/" + id_}


def size(s):
    mult = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
    if s and s[-1].upper() in mult:
        return int(s[:-1]) * mult[s[-1].upper()]
    return int(s)


def sysread(path):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None


class Vm:
    def __init__(self, argv):
        self.qmp_path = None
        self.ports = {}  # id -> dict
        self.devices = {}  # id -> dict
        self.groups = {}  # group -> fd
        self.numbered = True
        self.n_anon = 0
        self.guest_ms = None
        self.ready = None
        self.events_file = None
        self.events = []  # (time, callable)
        chardevs, mons = {}, []
        cold = []
        i = 0
        while i < len(argv):
            a = argv[i]
            v = argv[i + 1] if i + 1 < len(argv) else None
            if a == "-S":
                self.numbered = False
                i += 1
                continue
            if a == "--guest":
                self.guest_ms = int(v)
            elif a == "--ready":
                self.ready = v
            elif a == "--events":
                self.events_file = v
            elif a in ("-qmp",):
                self.qmp_path = v[len("unix:"):].split(",")[0]
            elif a == "-chardev":
                backend, d = opts(v)
                if backend == "socket":
                    chardevs[d.get("id")] = d.get("path")
            elif a == "-mon":
                _, d = opts(v)
                if d.get("mode") == "control":
                    mons.append(d.get("chardev"))
            elif a == "-device":
                driver, d = opts(v)
                if driver == "pcie-root-port":
                    self.ports[d["id"]] = {
                        "hotplug": d.get("hotplug", "on") != "off",
                        "reserve": size(d["pref64-reserve"]) if "pref64-reserve" in d else UNSET,
                        "bus": 0,
                    }
                elif driver == "vfio-pci":
                    cold.append(d)
            elif a in ("-name", "-id", "-pidfile", "-machine", "-m", "-accel", "-global", "-nodefaults",
                       "-display", "-L"):
                pass
            else:
                i += 1
                continue
            i += 2
        if not self.qmp_path:
            for m in mons:
                if m in chardevs:
                    self.qmp_path = chardevs[m]
                    break
        if not self.qmp_path:
            sys.exit("qmp-standin: no QMP socket on the command line")
        if self.numbered:
            for n, p in enumerate(self.ports.values(), 1):
                p["bus"] = n
        for d in cold:
            err = self.add_vfio(d, hotplugged=False)
            if err:
                sys.exit("qmp-standin: -device vfio-pci,host=%s: %s" % (d.get("host"), err))

    # ---------------------------------------------------------------- devices

    def add_vfio(self, d, hotplugged):
        host, id_, bus, addr = d.get("host"), d.get("id"), d.get("bus"), d.get("addr", "0.0")
        if not host:
            return "Parameter 'host' is missing"
        if not id_:
            # QEMU names a device without an id by its QOM path (qdev_set_id(): peripheral-anon/device[N])
            id_ = "%s/device[%d]" % (ANON, self.n_anon)
            self.n_anon += 1
        if id_ in self.devices or id_ in self.ports:
            return "Duplicate device ID '%s'" % id_
        if bus not in self.ports:
            return "Bus '%s' not found" % bus
        port = self.ports[bus]
        fn = int(addr.split(".")[1], 16) if "." in addr else 0
        for other_id, o in self.devices.items():
            if o["bus"] == bus and o["fn"] == fn:
                return "PCI: slot 0 function %d not available for vfio-pci, in use by vfio-pci,id=%s" % (fn, other_id)
        if hotplugged and not port["hotplug"]:
            return "Hot-plug failed: unsupported by the port device '%s'" % bus
        if len(host) == 7:
            host = "0000:" + host
        link = "/sys/bus/pci/devices/%s/iommu_group" % host
        try:
            group = int(os.path.basename(os.readlink(link)))
        except OSError as e:
            return "vfio %s: no iommu_group found: %s" % (host, e.strerror)
        if group not in self.groups:
            try:
                fd = os.open("/dev/vfio/%d" % group, os.O_RDWR | os.O_CLOEXEC)
            except OSError as e:
                return "vfio %s: failed to open /dev/vfio/%d: %s" % (host, group, e.strerror)
            # VFIO_GROUP_GET_STATUS through the simulated kernel
            import fcntl
            import struct
            buf = bytearray(struct.pack("II", 8, 0))
            try:
                fcntl.ioctl(fd, 0x3B67, buf)  # _IO(';', 100 + 3)
            except OSError as e:
                os.close(fd)
                return "vfio %s: VFIO_GROUP_GET_STATUS: %s" % (host, e.strerror)
            if not struct.unpack("II", buf)[1] & 1:
                os.close(fd)
                return ("vfio %s: group %d is not viable\nPlease ensure all devices within the iommu_group "
                        "are bound to their vfio bus driver." % (host, group))
            self.groups[group] = fd
        drv = os.path.basename(os.readlink("/sys/bus/pci/devices/%s/driver" % host)) \
            if os.path.exists("/sys/bus/pci/devices/%s/driver" % host) else None
        if drv != "vfio-pci":
            self.release_groups()
            return ("vfio %s: error getting device from group %d: No such device\nVerify all devices in group "
                    "%d are bound to vfio-<bus> or pci-stub and not already in use" % (host, group, group))
        self.devices[id_] = {"host": host, "bus": bus, "fn": fn, "group": group, "hotplugged": hotplugged,
                             "pending": None}
        if fn == 0:
            self.note("plugged")
        return None

    def note(self, what):
        if self.events_file:
            with open(self.events_file, "a") as f:
                f.write("%s %.6f\n" % (what, time.monotonic()))

    def release_groups(self):
        used = {d["group"] for d in self.devices.values()}
        for g in list(self.groups):
            if g not in used:
                os.close(self.groups.pop(g))

    def ids(self, host):
        try:
            return (int(sysread("/sys/bus/pci/devices/%s/vendor" % host), 16),
                    int(sysread("/sys/bus/pci/devices/%s/device" % host), 16),
                    int(sysread("/sys/bus/pci/devices/%s/class" % host), 16) >> 8)
        except (TypeError, ValueError):
            return (0xffff, 0xffff, 0)

    def remove_slot(self, port, named):
        for id_ in [i for i, d in self.devices.items() if d["bus"] == port]:
            del self.devices[id_]
        self.release_groups()
        self.emit("DEVICE_DELETED", deleted_data(named))

    def device_del(self, id_):
        if id_.startswith("/machine/peripheral/"):  # a QOM path names the device too
            id_ = id_[len("/machine/peripheral/"):]
        d = self.devices.get(id_)
        if not d:
            return "Device '%s' not found" % id_
        now = time.monotonic()
        if d["pending"] is not None and now < d["pending"] + PENDING_S:
            return "Device %s is already in the process of unplug" % id_
        d["pending"] = now
        slot_has_fn0 = any(o["bus"] == d["bus"] and o["fn"] == 0 for o in self.devices.values())
        if d["fn"] != 0 and not slot_has_fn0:
            # a function the guest never saw goes at once (pcie_cap_slot_unplug_request_cb)
            self.later(0, lambda: self.remove_one(id_))
        elif self.guest_ms is not None:
            self.later(self.guest_ms / 1000.0, lambda: self.remove_slot(d["bus"], id_) if id_ in self.devices else None)
        elif d["hotplugged"]:
            self.later(HOTPLUG_NO_GUEST_S, lambda: self.remove_slot(d["bus"], id_) if id_ in self.devices else None)
        # else: a powered slot and no guest to answer: it stays
        return None

    def remove_one(self, id_):
        if id_ in self.devices:
            del self.devices[id_]
            self.release_groups()
            self.emit("DEVICE_DELETED", deleted_data(id_))

    def later(self, delay, fn):
        self.events.append((time.monotonic() + delay, fn))

    # ---------------------------------------------------------------- QMP

    def query_pci(self):
        ports = []
        for slot, (pid, p) in enumerate(self.ports.items(), 16):
            kids = []
            if self.numbered:
                for id_, d in self.devices.items():
                    if d["bus"] != pid:
                        continue
                    v, dev, cls = self.ids(d["host"])
                    kids.append({"bus": p["bus"], "slot": 0, "function": d["fn"], "class_info": {"class": cls},
                                 "id": {"vendor": v, "device": dev},
                                 "qdev_id": "" if id_.startswith(ANON) else id_, "regions": []})
            pref = {"base": 0x800000000, "limit": 0x800000000 + p["reserve"] - 1} \
                if p["reserve"] != UNSET and self.numbered else {"base": 0xfffffffffff00000, "limit": 0xfffff}
            ports.append({"bus": 0, "slot": slot, "function": 0,
                          "class_info": {"class": 0x0604, "desc": "PCI bridge"},
                          "id": {"vendor": 0x1b36, "device": 0x000c}, "qdev_id": pid, "regions": [],
                          "pci_bridge": {"bus": {"number": 0, "secondary": p["bus"], "subordinate": p["bus"],
                                                 "io_range": {"base": 0xf000, "limit": 0xfff},
                                                 "memory_range": {"base": 0xfff00000, "limit": 0xfffff},
                                                 "prefetchable_range": pref},
                                         "devices": kids}})
        return [{"bus": 0, "devices": ports}]

    def qom_get(self, path, prop):
        name = path.rsplit("/", 1)[-1]
        if path.startswith("/machine/peripheral/") and name in self.ports:
            if prop == "hotplug":
                return self.ports[name]["hotplug"], None
            if prop == "pref64-reserve":
                return self.ports[name]["reserve"], None
        if path.startswith("/machine/peripheral/") and name in self.devices and prop == "host":
            return self.devices[name]["host"], None
        if path in self.devices and prop == "host":
            return self.devices[path]["host"], None
        return None, {"class": "GenericError", "desc": "Property '%s.%s' not found" % (name, prop)}

    def execute(self, cmd, args):
        if cmd in ("qmp_capabilities",):
            return {}, None
        if cmd == "query-status":
            return {"running": True, "singlestep": False, "status": "running"}, None
        if cmd == "query-pci":
            return self.query_pci(), None
        if cmd == "qom-list" and args.get("path") == "/machine/peripheral":
            return ([{"name": i, "type": "child<pcie-root-port>"} for i in self.ports] +
                    [{"name": i, "type": "child<vfio-pci>"} for i in self.devices if not i.startswith(ANON)]), None
        if cmd == "qom-list" and args.get("path") == ANON:
            return [{"name": i[len(ANON) + 1:], "type": "child<vfio-pci>"} for i in self.devices
                    if i.startswith(ANON + "/")], None
        if cmd == "qom-get":
            return self.qom_get(args.get("path", ""), args.get("property", ""))
        if cmd == "device_add":
            if args.get("driver") != "vfio-pci":
                return None, {"class": "GenericError", "desc": "stand-in: only vfio-pci"}
            d = {k: ("on" if v is True else "off" if v is False else str(v)) for k, v in args.items()}
            err = self.add_vfio(d, hotplugged=True)
            return (None, {"class": "GenericError", "desc": err}) if err else ({}, None)
        if cmd == "device_del":
            err = self.device_del(args.get("id", ""))
            return (None, {"class": "GenericError", "desc": err}) if err else ({}, None)
        if cmd == "quit":
            self.quitting = True
            return {}, None
        return None, {"class": "CommandNotFound", "desc": "The command %s has not been found" % cmd}

    def emit(self, name, data):
        if name == "DEVICE_DELETED":
            self.note("deleted")
        t = time.time()
        msg = {"event": name, "data": data,
               "timestamp": {"seconds": int(t), "microseconds": int((t % 1) * 1e6)}}
        if self.client:
            try:
                self.client.sendall((json.dumps(msg) + "\r\n").encode())
            except OSError:
                pass

    def serve(self):
        self.client = None
        self.quitting = False
        try:
            os.unlink(self.qmp_path)
        except OSError:
            pass
        srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        srv.bind(self.qmp_path)
        srv.listen(1)
        if self.ready:
            with open(self.ready, "w") as f:
                f.write("%d\n" % os.getpid())
        sel = selectors.DefaultSelector()
        sel.register(srv, selectors.EVENT_READ, "listen")
        buf = b""
        signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
        while not self.quitting:
            timeout = None
            if self.events:
                timeout = max(0.0, min(t for t, _ in self.events) - time.monotonic())
            for key, _ in sel.select(timeout):
                if key.data == "listen":
                    self.client, _ = srv.accept()
                    sel.unregister(srv)  # one client at a time, as a QEMU monitor
                    sel.register(self.client, selectors.EVENT_READ, "client")
                    self.client.sendall((json.dumps({"QMP": {"version": {"qemu": {"major": 7, "minor": 2, "micro": 0},
                                                                           "package": "stand-in"},
                                                               "capabilities": ["oob"]}}) + "\r\n").encode())
                    buf = b""
                    continue
                data = self.client.recv(65536)
                if not data:
                    sel.unregister(self.client)
                    self.client.close()
                    self.client = None
                    sel.register(srv, selectors.EVENT_READ, "listen")
                    continue
                buf += data
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    if not line.strip():
                        continue
                    req = json.loads(line)
                    ret, err = self.execute(req.get("execute"), req.get("arguments") or {})
                    reply = {"error": err} if err else {"return": ret}
                    if "id" in req:
                        reply["id"] = req["id"]
                    self.client.sendall((json.dumps(reply) + "\r\n").encode())
            now = time.monotonic()
            due = [e for e in self.events if e[0] <= now]
            self.events = [e for e in self.events if e[0] > now]
            for _, fn in due:
                fn()
        if self.client:
            self.client.close()
        os.unlink(self.qmp_path)


if __name__ == "__main__":
    Vm(sys.argv[1:]).serve()
