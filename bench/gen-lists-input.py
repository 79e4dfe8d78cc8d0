#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
# Writes large inputs for bench-lists: lists that outside input makes long (the nic-names check of doctor,
# a unit file's Environment=, a guest's /etc/group, a "resource" attribute, nic pin's names).
#   bench/gen-lists-input.py DIR [N]  (N entries each, default 20000)
# DIR/root: a --root with /etc/network/interfaces naming N interfaces, and a udev rule pinning each name
#           to the MAC of eth0 (so that every reference resolves through a pin), N pins in all, in files
#           of 10000
# DIR/unit: a unit file with N Environment= assignments (N/2 keys, each set twice) and N continuation lines
# DIR/passwd, DIR/group: one user in N groups, each group listed twice
# DIR/resource: N lines of a PCI "resource" attribute
# DIR/interfaces: N iface stanzas, for bench-lists rename (a map of N names)
# DIR/root-problems: a --root whose interfaces names N interfaces that exist nowhere (N problems, each with
#           its fix, in nic-names) and whose /etc/udev/rules.d holds N rules of the hand-made setup (N files
#           listed, N problems in services)
# DIR/nics: a scenario (tests/run-scenario) of seed-attached with N more (virtual) NICs, each named in
#           its root's interfaces and bridged into vmbr0, for
#           tests/run-scenario DIR/nics build/bench/bench-lists doctor DIR/nics/root
# DIR/root-bridge: a --root whose management bridge has as ports the N NICs that bench-lists nic-pin N
#           makes up (each checked to exist after pinning)
# DIR/root-moved: a --root whose interfaces names the N NICs of bench-lists nic-pin-moved N by their old
#           names (another bus number), for build/bench/bench-lists nic-pin-moved N DIR/root-moved
# DIR/root-modprobe: a --root whose /etc/modprobe.d holds N/4 files of a few commands each, the same
#           names again in /lib/modprobe.d (hidden by them), and one file of just under 1 MiB of commands
#           (options, softdep, aliases, a few continued and invalid lines), for
#           build/bench/bench-lists modprobe DIR/root-modprobe
import os
import shutil
import sys

out = sys.argv[1]
n = int(sys.argv[2]) if len(sys.argv) > 2 else 20000
mac = open("/sys/class/net/eth0/address").read().strip() if os.path.exists("/sys/class/net/eth0/address") \
    else "02:00:00:00:00:01"


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


# Names that are not virtual (no vmbr, bond, br, ... prefix), pinned in one rules file: doctor's
# nic-names looks each reference up among the pins. A hundred names twice, unresolved: reported once.
names = ["lan%d" % i for i in range(100, 100 + n)]
write(os.path.join(out, "root/etc/network/interfaces"),
      "".join("auto %s\niface %s inet manual\n" % (x, x) for x in names) +
      "".join("auto gone%d\n" % (i % 100) for i in range(200)))
# In files of at most 1 MiB, as doctor reads.
for k in range(0, n, 10000):
    write(os.path.join(out, "root/etc/udev/rules.d/70-names-%02d.rules" % (k // 10000)),
          "".join('SUBSYSTEM=="net", ATTR{address}=="%s", NAME="%s"\n' % (mac, x) for x in names[k:k + 10000]))

write(os.path.join(out, "unit"),
      "[Service]\n" + "".join("Environment=K%d=v%d\n" % (i % (n // 2), i) for i in range(n)) +
      "Environment=A=1 \\\n" + "".join("  B%d=%d \\\n" % (i, i) for i in range(n)) + "  C=2\n")

write(os.path.join(out, "passwd"), "u:x:1000:1000::/home/u:/bin/sh\n")
write(os.path.join(out, "group"), "".join("g%d:x:%d:root,u\n" % (i, 2000 + i % (n // 2)) for i in range(n)))

write(os.path.join(out, "resource"),
      "".join("0x%016x 0x%016x 0x0000000000040200\n" % (i << 20, (i << 20) + 0xfffff) for i in range(n)))

write(os.path.join(out, "interfaces"),
      "".join("auto enp%ds%d\niface enp%ds%d inet manual\n" % (i // 32, i % 32, i // 32, i % 32)
              for i in range(n)))

# A unit with N/2 drop-ins in /etc/systemd/system and the same names again in /lib/systemd/system (hidden).
for d in ("etc", "lib"):
    base = os.path.join(out, "guest", d, "systemd/system")
    os.makedirs(os.path.join(base, "b.service.d"), exist_ok=True)
    if d == "etc":
        write(os.path.join(base, "b.service"), "[Service]\nEnvironment=A=1\n")
    for i in range(n // 2):
        write(os.path.join(base, "b.service.d", "%06d.conf" % i), "[Service]\nEnvironment=D%d=%s\n" % (i, d))

# Many problems in one check, many files in one folder.
write(os.path.join(out, "root-problems/etc/network/interfaces"),
      "".join("auto miss%d\niface miss%d inet manual\n" % (i, i) for i in range(n)))
for i in range(n):
    write(os.path.join(out, "root-problems/etc/udev/rules.d/%06d-egpu.rules" % i),
          'ACTION=="add", SUBSYSTEM=="thunderbolt", ATTR{vendor_name}=="Razer", RUN+="/bin/true"\n')

# Many NICs: the seed scenario with N virtual interfaces, each referenced by the configuration.
seed = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "scenarios", "seed-attached")
nics = os.path.join(out, "nics")
shutil.rmtree(nics, ignore_errors=True)
shutil.copytree(seed, nics, symlinks=True)
with open(os.path.join(nics, "devices.umockdev"), "a") as f:
    for i in range(n):
        f.write("\nP: /devices/virtual/net/vnic%d\nE: INTERFACE=vnic%d\nE: IFINDEX=%d\nE: SUBSYSTEM=net\n"
                "A: address=02:01:00:%02x:%02x:%02x\\n\nA: ifindex=%d\\n\n"
                % (i, i, 100 + i, i >> 16 & 0xff, i >> 8 & 0xff, i & 0xff, 100 + i))
with open(os.path.join(nics, "root/etc/network/interfaces"), "a") as f:
    f.write("".join("auto vnic%d\niface vnic%d inet manual\n" % (i, i) for i in range(n)))
    f.write("\nauto vmbr1\niface vmbr1 inet static\n  address 10.0.0.1/24\n  gateway 10.0.0.254\n"
            "  bridge-ports %s\n" % " ".join("vnic%d" % i for i in range(n)))

# A management bridge over the NICs that bench-lists nic-pin makes up.
ports = ["enp%ds%df%d" % (i // 256 % 256, i // 8 % 32, i % 8) for i in range(n)]
write(os.path.join(out, "root-bridge/etc/network/interfaces"),
      "auto vmbr0\niface vmbr0 inet static\n  address 10.0.0.1/24\n  gateway 10.0.0.254\n"
      "  bridge-ports %s\n" % " ".join(ports))

# The N NICs of bench-lists nic-pin-moved under their old bus number: each name is one NIC's moved.
write(os.path.join(out, "root-moved/etc/network/interfaces"),
      "".join("iface enP%dp2s0 inet manual\n" % i for i in range(n)))

# Many modprobe.d files, and one large one (modprobe_config_load() reads files of up to 1 MiB).
for d in ("etc", "lib"):
    base = os.path.join(out, "root-modprobe", d, "modprobe.d")
    os.makedirs(base, exist_ok=True)
    for i in range(n // 4):
        with open(os.path.join(base, "%06d-m.conf" % i), "w") as f:
            f.write("# file %d of %s\noptions mod_%d p%d=1 q=\"a b\"\nsoftdep mod-%d pre: vfio-pci post: x%d\n"
                    "blacklist drv%d\n" % (i, d, i, i, i, i, i))
big = []
size = 0
i = 0
while True:
    k = i % 5
    if k == 0:
        line = "options big_%d a=%d b=%d c=\"x y\"\n" % (i, i, i)
    elif k == 1:
        line = "softdep big-%d pre: vfio-pci snd_hda_intel post: big_%d\n" % (i, i + 1)
    elif k == 2:
        line = "alias pci:v%08Xd*sv*sd*bc03sc*i* big_%d\n" % (i, i)
    elif k == 3:
        line = "install big_%d /sbin/modprobe \\\n  --ignore-install big_%d $CMDLINE_OPTS\n" % (i, i)
    else:
        line = "bogus line %d\n" % i
    if size + len(line) >= 1024 * 1024 - 1:
        break
    big.append(line)
    size += len(line)
    i += 1
write(os.path.join(out, "root-modprobe/etc/modprobe.d/zz-big.conf"), "".join(big))
