#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Boot a real Debian kernel under QEMU (TCG, emulated Intel IOMMU, PCIe hot-plug root ports)
and run one of the guest scripts of tests/vm in it. Prints TAP on stdout.

    vmtest.py --mode facts|cases [--cases 1,3] --work DIR [--egpuctl PATH]
              --helper PATH [--helper PATH...] [--update-facts]

Exit 77 (skip) when QEMU, busybox or the kernel package cannot be had. See README.md.
"""

import argparse
import base64
import glob
import json
import os
import re
import select
import shutil
import socket
import stat
import subprocess
import sys
import time

SKIP = 77
HERE = os.path.dirname(os.path.abspath(__file__))
GUEST = os.path.join(HERE, "guest")

# Kernel modules the initramfs loads, with whatever they depend on (found in .modinfo).
MODULES = ["vfio-pci", "vfio_iommu_type1", "vfio_virqfd", "virtio_pci"]

# The machine. Root ports sit at fixed slots so that the guest finds devices by port.
#   rp1 00:10.0 eGPU "A": display fn0 + HD audio fn1, present at boot (cases 1, 6)
#   rp2 00:11.0 empty hot-plug slot (case 0's uevents, case 2)
#   rp3 00:12.0 virtio-gpu-pci, bound to virtio-pci at boot (case 3)
#   rp4 00:13.0 pcie-pci-bridge with a display function and a virtio-rng on virtio-pci (case 4)
#   rp5 00:14.0 eGPU "B": same ids as A (case 5)
#   rp6 00:15.0 virtio-rng-pci on virtio-pci: case 0's driver writes
DEVICES = [
    "pcie-root-port,id=rp1,bus=pcie.0,addr=0x10.0,chassis=1,slot=1",
    "pcie-root-port,id=rp2,bus=pcie.0,addr=0x11.0,chassis=2,slot=2",
    "pcie-root-port,id=rp3,bus=pcie.0,addr=0x12.0,chassis=3,slot=3",
    "pcie-root-port,id=rp4,bus=pcie.0,addr=0x13.0,chassis=4,slot=4",
    "pcie-root-port,id=rp5,bus=pcie.0,addr=0x14.0,chassis=5,slot=5",
    "pcie-root-port,id=rp6,bus=pcie.0,addr=0x15.0,chassis=6,slot=6",
    "ich9-intel-hda,id=a_hda,bus=rp1,addr=0.1",
    "secondary-vga,id=a_vga,bus=rp1,addr=0.0,multifunction=on",
    "virtio-gpu-pci,id=vgpu,bus=rp3,addr=0.0",
    "pcie-pci-bridge,id=pbr,bus=rp4,addr=0.0",
    "secondary-vga,id=c_vga,bus=pbr,addr=1.0",
    "virtio-rng-pci,id=c_rng,bus=pbr,addr=2.0",
    "ich9-intel-hda,id=b_hda,bus=rp5,addr=0.1",
    "secondary-vga,id=b_vga,bus=rp5,addr=0.0,multifunction=on",
    "virtio-rng-pci,id=f_rng,bus=rp6,addr=0.0",
]


def log(msg):
    for line in str(msg).splitlines() or [""]:
        print("# " + line, flush=True)


TAP_MODE = "--tap" in sys.argv


def skip(reason):
    # Under meson's TAP protocol an exit code other than 0 is an error: the plan says skip.
    print("1..0 # SKIP " + reason, flush=True)
    sys.exit(0 if TAP_MODE else SKIP)


def run(cmd, **kw):
    try:
        return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kw)
    except OSError as e:
        return subprocess.CompletedProcess(cmd, 127, str(e))


# ---------------------------------------------------------------- kernel


def find_kernel(cache):
    """Returns (version, vmlinuz, modules dir). Uses the newest kernel already unpacked in the
    cache; else fetches linux-image-*-cloud-amd64 with apt-get download (not installed)."""
    os.makedirs(cache, exist_ok=True)
    deb = os.environ.get("EGPUCTL_VM_KERNEL_DEB")
    if not deb and not os.environ.get("EGPUCTL_VM_REFRESH"):
        have = sorted(glob.glob(os.path.join(cache, "kernel-*", "boot", "vmlinuz-*")))
        if have:
            return kernel_from(os.path.dirname(os.path.dirname(have[-1])))
    if not deb:
        if not shutil.which("apt-get") or not shutil.which("dpkg-deb"):
            skip("no kernel in %s and no apt-get/dpkg-deb to fetch one" % cache)
        r = run(["apt-cache", "depends", "linux-image-cloud-amd64"])
        m = re.search(r"Depends: (linux-image-[^\s]+-cloud-amd64)", r.stdout)
        if not m:
            skip("apt-cache knows no linux-image-cloud-amd64 (run apt-get update?): " + r.stdout.strip()[:200])
        pkg = m.group(1)
        for old in glob.glob(os.path.join(cache, pkg + "_*.deb")):
            os.unlink(old)
        r = run(["apt-get", "download", pkg], cwd=cache)
        debs = glob.glob(os.path.join(cache, pkg + "_*.deb"))
        if r.returncode != 0 or not debs:
            skip("apt-get download %s failed: %s" % (pkg, r.stdout.strip()[-300:]))
        deb = debs[0]
    dest = os.path.join(cache, "kernel-" + os.path.basename(deb).split("_")[0].replace("linux-image-", ""))
    shutil.rmtree(dest, ignore_errors=True)
    r = run(["dpkg-deb", "-x", deb, dest])
    if r.returncode != 0:
        skip("dpkg-deb -x %s failed: %s" % (deb, r.stdout.strip()))
    return kernel_from(dest)


def kernel_from(root):
    vmlinuz = sorted(glob.glob(os.path.join(root, "boot", "vmlinuz-*")))
    if not vmlinuz:
        skip("no vmlinuz under " + root)
    version = os.path.basename(vmlinuz[-1])[len("vmlinuz-"):]
    mods = os.path.join(root, "lib", "modules", version)
    if not os.path.isdir(mods):
        mods = os.path.join(root, "usr", "lib", "modules", version)
    return version, vmlinuz[-1], mods


def module_files(moddir):
    files = {}
    for dirpath, _, names in os.walk(moddir):
        for n in names:
            m = re.match(r"(.+)\.ko(\.xz|\.zst|\.gz)?$", n)
            if m:
                files[m.group(1).replace("-", "_")] = os.path.join(dirpath, n)
    return files


def module_bytes(path):
    if path.endswith(".ko"):
        with open(path, "rb") as f:
            return f.read()
    tool = {".xz": ["xz", "-dc"], ".zst": ["zstd", "-dc"], ".gz": ["gzip", "-dc"]}[os.path.splitext(path)[1]]
    return subprocess.run(tool + [path], stdout=subprocess.PIPE, check=True).stdout


def module_order(moddir, wanted):
    """Resolves dependencies from each module's .modinfo "depends=" and returns (name, bytes)
    in load order. Built-in modules (modules.builtin) and missing optional ones are left out."""
    files = module_files(moddir)
    order, seen = [], set()

    def visit(name):
        name = name.replace("-", "_")
        if name in seen:
            return
        seen.add(name)
        if name not in files:
            return
        data = module_bytes(files[name])
        m = re.search(rb"(?:^|\0)depends=([^\0]*)\0", data)
        for dep in (m.group(1).decode().split(",") if m and m.group(1) else []):
            visit(dep)
        order.append((os.path.basename(files[name]).split(".ko")[0], data))

    for w in wanted:
        visit(w)
    return order


# ---------------------------------------------------------------- initramfs


class Cpio:
    """Writes a newc archive, adding parent folders as needed."""

    def __init__(self, path):
        self.f = open(path, "wb")
        self.ino = 1
        self.dirs = set()

    def _entry(self, name, mode, data=b"", rdev=(0, 0)):
        name = name.lstrip("/")
        hdr = "070701" + "".join("%08x" % v for v in (
            self.ino, mode, 0, 0, 2 if stat.S_ISDIR(mode) else 1, 0, len(data), 0, 0,
            rdev[0], rdev[1], len(name) + 1, 0))
        self.ino += 1
        out = hdr.encode() + name.encode() + b"\0"
        out += b"\0" * (-len(out) % 4)
        out += data + b"\0" * (-len(data) % 4)
        self.f.write(out)

    def dir(self, path):
        path = path.strip("/")
        if not path or path in self.dirs:
            return
        self.dir(os.path.dirname(path))
        self.dirs.add(path)
        self._entry(path, stat.S_IFDIR | 0o755)

    def file(self, path, data, mode=0o755):
        self.dir(os.path.dirname(path.strip("/")))
        self._entry(path, stat.S_IFREG | mode, data)

    def copy(self, src, dest=None, mode=None):
        with open(src, "rb") as f:
            self.file(dest or src, f.read(), mode if mode is not None else os.stat(src).st_mode & 0o777)

    def symlink(self, path, target):
        self.dir(os.path.dirname(path.strip("/")))
        self._entry(path, stat.S_IFLNK | 0o777, target.encode())

    def chardev(self, path, major, minor):
        self.dir(os.path.dirname(path.strip("/")))
        self._entry(path, stat.S_IFCHR | 0o600, rdev=(major, minor))

    def close(self):
        self._entry("TRAILER!!!", 0)
        self.f.write(b"\0" * (-self.f.tell() % 512))
        self.f.close()


def shared_libs(binary):
    """The libraries (and the loader) that ldd says BINARY needs; [] for a static one."""
    r = run(["ldd", binary])
    libs = []
    for line in r.stdout.splitlines():
        m = re.search(r"(?:=>\s*)?(/\S+)\s+\(0x", line)
        if m:
            libs.append(m.group(1))
    return libs


def add_binary(cpio, src, dest, libs_done):
    cpio.copy(src, dest, 0o755)
    for lib in shared_libs(src):
        if lib not in libs_done:
            libs_done.add(lib)
            cpio.copy(os.path.realpath(lib), lib, 0o755)


def build_base(path, version, moddir, busybox):
    """Busybox, the kernel's modules in load order, udevd/udevadm and their libraries."""
    tmp = path + ".tmp"
    c = Cpio(tmp)
    for d in ("bin", "sbin", "usr/bin", "usr/sbin", "proc", "sys", "dev", "run", "tmp", "etc", "root", "var/lib"):
        c.dir(d)
    c.chardev("dev/console", 5, 1)
    c.copy(busybox, "bin/busybox", 0o755)
    c.symlink("bin/sh", "busybox")
    names = []
    for name, data in module_order(moddir, MODULES):
        c.file("lib/vmtest/modules/%s.ko" % name, data, 0o644)
        names.append(name)
    c.file("lib/vmtest/modules.order", ("\n".join(names) + "\n").encode(), 0o644)
    libs = set()
    udevadm = shutil.which("udevadm") or "/bin/udevadm"
    if os.path.exists(udevadm) and shared_libs(udevadm):
        add_binary(c, udevadm, "bin/udevadm", libs)
        c.symlink("lib/systemd/systemd-udevd", "/bin/udevadm")
    c.file("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n", 0o644)
    c.file("etc/group", b"root:x:0:\n", 0o644)
    c.file("etc/udev/udev.conf", b"", 0o644)
    c.close()
    os.replace(tmp, path)
    return names


# Mode systemd: systemd is PID 1 and runs egpuctl.service as shipped (data/egpuctl.service.in).
# vmtest.target (the default target) wants egpuctl.service, vmtest.service (guest/systemd.sh, after
# egpuctl.service) and vmtest-guard.service, ordered before egpuctl.service so that at shutdown it
# stops after it: its ExecStop (guest/systemd-stop.sh) sees what egpuctl's stop left.
# pve-guests.service stands in for Proxmox's: egpuctl.service's Before= must hold it back until the
# eGPU present at boot (enrolled by guest/init) is bound; guest/pve-guests.sh checks that.
VMTEST_UNITS = {
    "vmtest.target": "[Unit]\nDescription=tests/vm\n"
                     "Wants=egpuctl.service vmtest-guard.service pve-guests.service vmtest.service\n",
    "pve-guests.service": "[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/bin/sh /vmtest/pve-guests.sh\n",
    "vmtest.service": "[Unit]\nAfter=egpuctl.service pve-guests.service\n[Service]\nType=oneshot\n"
                      "ExecStart=/bin/sh /vmtest/systemd.sh\n",
    "vmtest-guard.service": "[Unit]\nBefore=egpuctl.service\n[Service]\nType=oneshot\nRemainAfterExit=yes\n"
                            "ExecStart=/bin/true\nExecStop=/bin/sh /vmtest/systemd-stop.sh\n",
}


SYSTEMD_UNITS = ("sysinit.target", "basic.target", "sockets.target", "paths.target", "timers.target",
                 "slices.target", "local-fs.target", "swap.target", "shutdown.target", "umount.target",
                 "final.target", "poweroff.target", "systemd-poweroff.service")


def add_systemd(c, libs):
    systemd = "/lib/systemd/systemd"
    systemctl = shutil.which("systemctl") or "/bin/systemctl"
    if not os.path.exists(systemd) or not os.path.exists(systemctl):
        return
    add_binary(c, systemd, "lib/systemd/systemd", libs)
    add_binary(c, systemctl, "bin/systemctl", libs)
    if os.path.exists("/lib/systemd/systemd-shutdown"):
        add_binary(c, "/lib/systemd/systemd-shutdown", "lib/systemd/systemd-shutdown", libs)
    # egpuctl loads libsystemd with dlopen() when it stops, to ask for the system's state
    for lib in ("/lib/x86_64-linux-gnu/libsystemd.so.0", "/usr/lib/x86_64-linux-gnu/libsystemd.so.0"):
        if os.path.exists(lib):
            add_binary(c, os.path.realpath(lib), lib.lstrip("/"), libs)
            break
    with open(os.path.join(HERE, "..", "..", "data", "egpuctl.service.in")) as f:
        unit = f.read().replace("@sbindir@", "/usr/bin")
    c.file("etc/systemd/system/egpuctl.service", unit.encode(), 0o644)
    for name, text in VMTEST_UNITS.items():
        c.file("etc/systemd/system/" + name, text.encode(), 0o644)
    c.symlink("etc/systemd/system/default.target", "vmtest.target")
    c.file("etc/machine-id", b"", 0o444)
    c.file("etc/os-release", b"ID=debian\nNAME=tests/vm\n", 0o644)
    # The standard units that services' default dependencies and a poweroff need, from the host.
    for u in SYSTEMD_UNITS:
        src = os.path.join("/lib/systemd/system", u)
        if os.path.exists(src):
            c.copy(src, "lib/systemd/system/" + u, 0o644)
    for d in ("var", "var/tmp", "home"):
        c.dir(d)


def add_qemu(c, qemu, libs):
    """A QEMU for the guest to run a VM with (tests/vm README, mode live): the binary and its libraries,
    its TCG accelerator (a module in Debian's build: QEMU_MODULE_DIR), SeaBIOS."""
    add_binary(c, qemu, "usr/bin/qemu-system-x86_64", libs)
    moddir = "/usr/lib/x86_64-linux-gnu/qemu"
    for m in ("accel-tcg-x86_64.so",):
        if os.path.exists(os.path.join(moddir, m)):
            add_binary(c, os.path.join(moddir, m), "usr/lib/vmtest-qemu/" + m, libs)
    # SeaBIOS, and the option ROM a q35 machine loads even under TCG ("Could not open option rom
    # 'kvmvapic.bin'" without it), into the folder the guest names with -L
    for f in ("bios-256k.bin", "kvmvapic.bin"):
        for d in ("/usr/share/seabios", "/usr/share/qemu"):
            if os.path.exists(os.path.join(d, f)):
                c.copy(os.path.realpath(os.path.join(d, f)), "usr/share/seabios/" + f, 0o644)
                break


def build_payload(path, args, mode):
    """This run's scripts, egpuctl with its libraries, the helpers."""
    c = Cpio(path)
    libs = set()
    # The base archive already carries udevadm's libraries; carrying some again is harmless.
    c.copy(os.path.join(GUEST, "init"), "init", 0o755)
    for n in os.listdir(GUEST):
        if n != "init":
            c.copy(os.path.join(GUEST, n), "vmtest/" + n, 0o755)
    for h in args.helper:
        add_binary(c, h, "usr/bin/" + os.path.basename(h), libs)
    if args.egpuctl and os.access(args.egpuctl, os.X_OK):
        add_binary(c, args.egpuctl, "usr/bin/egpuctl", libs)
    if mode == "systemd":
        add_systemd(c, libs)
    if mode == "live":
        add_qemu(c, args.qemu, libs)
    c.file("vmtest/runs", ("%d\n" % args.runs).encode(), 0o644)
    c.file("vmtest/mode", (mode + "\n").encode(), 0o644)
    c.file("vmtest/cases", ((args.cases or "all") + "\n").encode(), 0o644)
    c.close()


# ---------------------------------------------------------------- QMP


class Qmp:
    def __init__(self, path, timeout=30):
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self.s.connect(path)
                break
            except OSError:
                self.s.close()
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        self.buf = b""
        self.events = []
        self._read()  # greeting
        self.cmd("qmp_capabilities")

    def _read(self, timeout=30):
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.s], [], [], left)[0]:
                raise TimeoutError("QMP: no answer")
            chunk = self.s.recv(65536)
            if not chunk:
                raise EOFError("QMP: closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def cmd(self, name, **arguments):
        msg = {"execute": name}
        if arguments:
            msg["arguments"] = arguments
        self.s.sendall(json.dumps(msg).encode() + b"\n")
        while True:
            r = self._read()
            if "event" in r:
                self.events.append(r)
                continue
            return r

    def wait_event(self, name, device, timeout):
        deadline = time.monotonic() + timeout
        while True:
            for e in self.events:
                if e["event"] == name and e.get("data", {}).get("device") == device:
                    self.events.remove(e)
                    return True
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            try:
                r = self._read(left)
            except TimeoutError:
                return False
            if "event" in r:
                self.events.append(r)


# ---------------------------------------------------------------- the run


class Tap:
    def __init__(self):
        self.n = 0
        self.failed = []
        self.skipped = 0

    def result(self, line):
        # line: "ok - NAME", "not ok - NAME", "ok - NAME # SKIP reason"
        self.n += 1
        ok = line.startswith("ok")
        rest = line.split(" ", 2 if not ok else 1)[-1]
        print("%s %d %s" % ("ok" if ok else "not ok", self.n, rest), flush=True)
        if not ok:
            self.failed.append(rest)
        elif "# SKIP" in rest:
            self.skipped += 1

    def ok(self, name):
        self.result("ok - " + name)

    def not_ok(self, name, why):
        self.result("not ok - " + name)
        log(why)


# Mode live: two more root ports for hot-plugs: rp7 (00:16.0), so that one can come while rp2's removal
# waits for a VM, and rp8 (00:17.0), for a second eGPU plugged together with rp2's. Only in modes live and
# bench: the facts' group numbers stay as recorded.
LIVE_DEVICES = ["pcie-root-port,id=rp7,bus=pcie.0,addr=0x16.0,chassis=7,slot=7",
                "pcie-root-port,id=rp8,bus=pcie.0,addr=0x17.0,chassis=8,slot=8"]


def qemu_command(args, kernel, initrd, qmp_path, console, mode):
    devices = DEVICES + (LIVE_DEVICES if mode in ("live", "bench") else [])
    return [
        args.qemu,
        "-machine", "q35,kernel-irqchip=split",
        "-accel", "tcg",
        # mode live carries a QEMU (about 50 MB unpacked in the initramfs) and runs it with -m 64
        "-m", "1536" if mode == "live" else "512",
        # one vCPU in every mode: two under TCG on a busy 2-core host stalled the guest's RCU at boot
        "-smp", "1",
        "-nodefaults",
        "-display", "none",
        "-no-reboot",
        "-device", "intel-iommu,intremap=on",
        "-global", "ICH9-LPC.acpi-pci-hotplug-with-bridge-support=off",
        "-kernel", kernel,
        "-initrd", initrd,
        "-append", "console=ttyS0 intel_iommu=on panic=-1 loglevel=4 vmtest.mode=" + mode,
        "-chardev", "file,id=con,path=" + console,
        "-serial", "chardev:con",
        "-serial", "stdio",
        "-qmp", "unix:%s,server=on,wait=off" % qmp_path,
    ] + sum((["-device", d] for d in devices), [])


def host_request(req, qmp):
    """Carries out what the guest asks with '@@REQ ...'. Returns the answer line."""
    verb, _, rest = req.partition(" ")
    t0 = time.monotonic()
    if verb == "device_add":
        r = qmp.cmd("device_add", **json.loads(rest))
    elif verb == "device_del_nowait":
        # the request only: the guest's removal may wait for a VM (mode live); wait_deleted later
        r = qmp.cmd("device_del", id=rest.split()[0])
    elif verb == "wait_deleted":
        dev, secs = rest.split()
        if not qmp.wait_event("DEVICE_DELETED", dev, float(secs)):
            return "error no DEVICE_DELETED for %s within %s s" % (dev, secs)
        r = {}
    elif verb == "device_del":
        ids = rest.split()
        r = qmp.cmd("device_del", id=ids[0])
        if "error" not in r:
            # QEMU sends DEVICE_DELETED for function 0 only; the slot's other functions go
            # with it: wait until they are gone from /machine/peripheral too.
            if not qmp.wait_event("DEVICE_DELETED", ids[0], 30):
                return "error no DEVICE_DELETED for %s within 30 s" % ids[0]
            deadline = time.monotonic() + 10
            while True:
                have = {c["name"] for c in qmp.cmd("qom-list", path="/machine/peripheral").get("return", [])}
                left = [i for i in ids if i in have]
                if not left:
                    break
                if time.monotonic() > deadline:
                    return "error still there after DEVICE_DELETED: " + " ".join(left)
                time.sleep(0.05)
    else:
        return "error unknown request " + verb
    if "error" in r:
        return "error " + r["error"].get("desc", "?")
    return "ok %d" % ((time.monotonic() - t0) * 1000)


def check_json(tap, name, blob, truth):
    """Sanity of egpuctl's --json output on the real sysfs, without relying on its exact
    schema: it parses; every BDF it names exists; where an object names a BDF next to a
    "driver" or an "iommu_group", those match what sysfs said."""
    try:
        data = json.loads(blob)
    except ValueError as e:
        tap.not_ok(name, "not JSON: %s\n%s" % (e, blob[:2000]))
        return
    problems = []
    seen = set()

    def walk(o, where):
        if isinstance(o, dict):
            bdf = next((o[k] for k in ("bdf", "address", "slot", "pci") if isinstance(o.get(k), str)
                        and re.fullmatch(r"[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]", o[k])), None)
            if bdf:
                t = truth.get(bdf)
                seen.add(bdf)
                if t is None:
                    problems.append("%s: names %s, which sysfs does not have" % (where, bdf))
                else:
                    drv = o.get("driver")
                    if isinstance(drv, str) or (drv is None and "driver" in o):
                        if (drv or "none") not in (t["driver"], "" if t["driver"] == "none" else t["driver"]):
                            problems.append("%s: %s driver %r, sysfs says %s" % (where, bdf, drv, t["driver"]))
                    if "driver_override" in o:
                        ov = o["driver_override"]
                        if (ov or "(null)") != t["override"]:
                            problems.append("%s: %s driver_override %r, sysfs says %s" % (where, bdf, ov, t["override"]))
                    if "reset_methods" in o:
                        rm = o["reset_methods"]
                        want = None if t["reset"] == "-" else t["reset"].split(",")
                        if (rm or None) != want and not (rm == [] and want is None):
                            problems.append("%s: %s reset_methods %r, sysfs says %r" % (where, bdf, rm, want))
                    link = o.get("link")
                    if isinstance(link, dict) and "current_speed" in link and t["speed"] != "-":
                        if link["current_speed"] != t["speed"]:
                            problems.append("%s: %s link speed %r, sysfs says %r" % (where, bdf, link["current_speed"], t["speed"]))
                    for k in ("iommu_group", "group"):
                        g = o.get(k)
                        if isinstance(g, (int, str)) and not isinstance(g, bool) and str(g) != t["group"]:
                            problems.append("%s: %s %s %r, sysfs says %s" % (where, bdf, k, g, t["group"]))
            for k, v in o.items():
                walk(v, where + "." + k)
        elif isinstance(o, list):
            for i, v in enumerate(o):
                walk(v, "%s[%d]" % (where, i))

    walk(data, name)
    note = ""
    if not seen:
        note = " (it lists no PCI function)"
    iommu = data.get("iommu") if isinstance(data, dict) else None
    if isinstance(iommu, dict):
        groups = {t["group"] for t in truth.values() if t["group"] != "none"}
        if iommu.get("active") is not True:
            problems.append("iommu.active is %r; the kernel has DMAR on and %d groups" % (iommu.get("active"), len(groups)))
        if isinstance(iommu.get("groups"), int) and iommu["groups"] != len(groups):
            problems.append("iommu.groups is %d; /sys/kernel/iommu_groups has %d" % (iommu["groups"], len(groups)))
        if isinstance(iommu.get("units"), int) and iommu["units"] != 1:
            problems.append("iommu.units is %d; /sys/class/iommu has dmar0 only" % iommu["units"])
        note += ", iommu active with %s groups" % iommu.get("groups")
    if "doctor" in name:
        checks = data.get("checks") if isinstance(data, dict) else None
        iommu = None
        if isinstance(checks, dict):
            iommu = checks.get("iommu")
            if isinstance(iommu, dict):
                iommu = iommu.get("status") or iommu.get("verdict")
        elif isinstance(checks, list):
            for c in checks:
                if isinstance(c, dict) and c.get("id") == "iommu":
                    iommu = c.get("status") or c.get("verdict")
        if iommu != "ok":
            problems.append("doctor: check 'iommu' is %r, want 'ok' (DMAR is on, groups exist)" % (iommu,))
    if problems:
        tap.not_ok(name, "\n".join(problems) + "\n" + blob[:3000])
    else:
        tap.ok("%s: parses, its %d functions agree with sysfs (driver, override, group, reset, link)%s"
               % (name, len(seen), note))


def compare_facts(tap, facts, committed):
    def stable(lines):
        return [l for l in lines if l.strip() and not l.startswith("#")]

    want = stable(committed)
    got = stable(facts)
    if want == got:
        tap.ok("kernel facts match tests/vm/kernel-facts.txt")
        return
    import difflib
    diff = "\n".join(difflib.unified_diff(want, got, "tests/vm/kernel-facts.txt", "this kernel", lineterm=""))
    tap.not_ok("kernel facts match tests/vm/kernel-facts.txt",
               "the kernel now behaves differently from the committed facts (the simulator follows "
               "those); rerun with --update-facts once understood:\n" + diff)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--mode", choices=("facts", "cases", "systemd", "live", "bench"), required=True)
    p.add_argument("--runs", type=int, default=5, help="mode bench: how many times each (bench/run-vm-bench)")
    p.add_argument("--cases", default=os.environ.get("EGPUCTL_VM_CASES"),
                   help="comma-separated case numbers to run (default: all, or $EGPUCTL_VM_CASES)")
    p.add_argument("--tap", action="store_true", help="exit 0 even on failure or skip (meson's TAP protocol)")
    p.add_argument("--work", required=True, help="folder for the initramfs and logs (the build dir)")
    p.add_argument("--cache", default=os.environ.get("EGPUCTL_VM_CACHE", os.path.join(HERE, "cache")))
    p.add_argument("--egpuctl")
    p.add_argument("--helper", action="append", default=[])
    p.add_argument("--qemu", default=shutil.which("qemu-system-x86_64"))
    p.add_argument("--update-facts", action="store_true")
    p.add_argument("--timeout", type=int, default=int(os.environ.get("EGPUCTL_VM_TIMEOUT", "400")))
    p.add_argument("--skip", help="skip at once, for this reason (a build the guest cannot run)")
    args = p.parse_args()

    if args.skip:
        skip(args.skip)
    if not args.qemu:
        skip("qemu-system-x86_64 not found (Debian: apt-get install qemu-system-x86)")
    busybox = next((b for b in ("/bin/busybox", "/usr/bin/busybox") if os.path.exists(b)), None)
    if not busybox or shared_libs(busybox):
        skip("no static busybox (Debian: apt-get install busybox-static)")
    for h in args.helper:
        if not os.access(h, os.X_OK):
            skip("helper %s not built" % h)

    os.makedirs(args.work, exist_ok=True)
    version, vmlinuz, moddir = find_kernel(args.cache)
    base = os.path.join(args.cache, "initramfs-base-%s-%s.cpio" % (version, os.path.basename(busybox)))
    if not os.path.exists(base) or os.path.getmtime(base) < os.path.getmtime(__file__):
        build_base(base, version, moddir, busybox)
    payload = os.path.join(args.work, "payload-%s.cpio" % args.mode)
    build_payload(payload, args, args.mode)
    initrd = os.path.join(args.work, "initrd-%s.cpio" % args.mode)
    with open(initrd, "wb") as out:
        for part in (base, payload):
            with open(part, "rb") as f:
                shutil.copyfileobj(f, out)

    qmp_path = os.path.join(args.work, "qmp-%s.sock" % args.mode)
    console = os.path.join(args.work, "console-%s.log" % args.mode)
    for f in (qmp_path, console):
        if os.path.exists(f):
            os.unlink(f)
    cmd = qemu_command(args, vmlinuz, initrd, qmp_path, console, args.mode)
    log("kernel %s, QEMU: %s" % (version, " ".join(cmd)))
    t_start = time.monotonic()
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    tap = Tap()
    facts = []
    truth = {}
    done = False
    booted = None
    try:
        qmp = Qmp(qmp_path)
        buf = b""
        deadline = t_start + args.timeout
        while not done:
            left = deadline - time.monotonic()
            if left <= 0:
                tap.not_ok("guest finished", "timed out after %ds" % args.timeout)
                break
            r = select.select([proc.stdout], [], [], min(left, 5))[0]
            if not r:
                if proc.poll() is not None:
                    break
                continue
            chunk = os.read(proc.stdout.fileno(), 65536)
            if not chunk:
                break
            buf += chunk
            while b"\n" in buf:
                raw, buf = buf.split(b"\n", 1)
                line = raw.decode(errors="replace").rstrip("\r")
                if not line.startswith("@@"):
                    continue
                kind, _, rest = line.partition(" ")
                if kind == "@@BOOTED":
                    booted = time.monotonic() - t_start
                    log("guest up after %.1fs (kernel + initramfs + modules + udevd)" % booted)
                elif kind == "@@TAP":
                    tap.result(rest)
                elif kind == "@@LOG":
                    log(rest)
                elif kind == "@@FACT":
                    facts.append(rest)
                    log("fact: " + rest)
                elif kind == "@@REQ":
                    answer = host_request(rest, qmp)
                    log("host: %s -> %s" % (rest, answer))
                    proc.stdin.write(("@@ACK " + answer + "\n").encode())
                    proc.stdin.flush()
                elif kind == "@@TRUTH":
                    bdf, drv, grp, override, speed, reset = (rest.split() + ["-"] * 6)[:6]
                    truth[bdf] = {"driver": drv, "group": grp, "override": override,
                                  "speed": speed.replace("_", " "), "reset": reset}
                elif kind == "@@JSON":
                    name, _, b64 = rest.partition(" ")
                    check_json(tap, name, base64.b64decode(b64).decode(errors="replace"), truth)
                elif kind == "@@DONE":
                    done = True
    finally:
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        err = proc.stderr.read().decode(errors="replace").strip()
    total = time.monotonic() - t_start

    if not done:
        tap.not_ok("guest ran to the end", "QEMU exited %s before the guest said @@DONE. stderr: %s"
                   % (proc.returncode, err))
    if err and done:
        log("QEMU stderr: " + err)

    if args.mode == "facts" and facts:
        head = ["# Kernel facts: what a real kernel did for egpuctl's sysfs writes.",
                "# Made by tests/vm (meson test --suite vm vm-kernel-facts) on Debian's",
                "# linux-image-%s under QEMU (q35, intel-iommu, pcie-root-port)." % version,
                "# Lines starting with '#' are informational (timings) and are not compared.",
                "# BDFs: see the topology in tests/vm/README.md.", ""]
        text = "\n".join(head + facts) + "\n"
        out = os.path.join(args.work, "kernel-facts.txt")
        with open(out, "w") as f:
            f.write(text)
        print("# ---- kernel facts (%s) ----" % out)
        log(text)
        committed = os.path.join(HERE, "kernel-facts.txt")
        if args.update_facts:
            with open(committed, "w") as f:
                f.write(text)
            log("wrote " + committed)
        elif os.path.exists(committed):
            with open(committed) as f:
                compare_facts(tap, text.splitlines(), f.read().splitlines())

    if tap.failed or not done:
        log("---- guest console (%s) ----" % console)
        try:
            with open(console, errors="replace") as f:
                log("".join(f.readlines()[-150:]))
        except OSError:
            pass
    log("boot to userspace: %s, whole run: %.1fs" % ("%.1fs" % booted if booted else "n/a", total))
    print("1..%d" % tap.n, flush=True)
    if tap.failed:
        log("failed: " + "; ".join(tap.failed))
        return 0 if args.tap else 1
    if tap.n and tap.n == tap.skipped and not args.tap:
        return SKIP
    return 0


if __name__ == "__main__":
    sys.exit(main())
