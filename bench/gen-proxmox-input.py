#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
# Writes large Proxmox inputs for bench-proxmox-parse: a property string and a VM config, each SIZE bytes
# (default 1 MiB).  bench/gen-proxmox-input.py DIR [SIZE]  ->  DIR/prop-string, DIR/vm-config, DIR/pci-cfg
import os
import sys

out = sys.argv[1]
size = int(sys.argv[2]) if len(sys.argv) > 2 else 1024 * 1024
os.makedirs(out, exist_ok=True)


def fill(path, first, item):
    parts, n, i = [first], len(first), 0
    while n < size:
        s = item(i)
        parts.append(s)
        n += len(s)
        i += 1
    with open(path, "w") as f:
        f.write("".join(parts)[:size])


# host=...,k0=v0,k1=v1,...: one element each, as a hostpci value or a map entry could be written.
fill(os.path.join(out, "prop-string"), "0000:30:00.0", lambda i: ",k%d=v%d" % (i, i))
# qm config: key: value lines, with comments and blank lines among them.
fill(os.path.join(out, "vm-config"), "name: big\n",
     lambda i: "# comment %d\n" % i if i % 10 == 9 else ("\n" if i % 10 == 8 else
                                                        "hostpci%d: 0000:%02x:00.0,pcie=1\n" % (i, i % 256)))
# /etc/pve/mapping/pci.cfg: one mapping with many map lines.
fill(os.path.join(out, "pci-cfg"), "egpu\n",
     lambda i: "\tmap id=1002:687f,iommugroup=%d,node=pve%d,path=%04x:%02x:00.0\n" % (i % 64, i, i // 256, i % 256))
