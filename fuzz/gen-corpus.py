#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Writes the seed corpora fuzz/corpus/<target>/ from the test data: the seed scenarios' files
(tests/scenarios/*/root/etc), the guest scenarios' (tests/guest/scenarios/*/root/etc), their sysfs values and uevent properties (tests/scenarios/*/devices.umockdev)
and the answer shapes of tests/guest/fake-ollama.py, plus a few hand-written records. Run from the
repository root; it replaces the seeds it writes and keeps the other files of fuzz/corpus (seeds added by
hand, reproducers of fixed findings), except the ones named like its own (16 hex digits, a hash of the
content) that it no longer writes: those came from test data that has changed since. The seeds are
committed: rerun only when the test data changes."""

import glob
import hashlib
import json
import os
import re

OUT = "fuzz/corpus"
WRITTEN = set()


def put(target, data, name=None):
    if isinstance(data, str):
        data = data.encode()
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    name = name or hashlib.sha1(data).hexdigest()[:16]
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)
    WRITTEN.add(os.path.join(target, name))


def umockdev_devices():
    """Each device of every devices.umockdev: (path, properties, attributes)."""
    for path in sorted(glob.glob("tests/scenarios/*/devices.umockdev") + glob.glob("tests/guest/scenarios/*/devices.umockdev")):
        dev = None
        for line in open(path, encoding="utf-8", errors="surrogateescape"):
            line = line.rstrip("\n")
            if line.startswith("P: "):
                if dev:
                    yield dev
                dev = (line[3:], {}, {})
            elif dev and line.startswith("E: ") and "=" in line:
                k, v = line[3:].split("=", 1)
                dev[1][k] = v
            elif dev and line.startswith("A: ") and "=" in line:
                k, v = line[3:].split("=", 1)
                dev[2][k] = v.replace("\\n", "\n")
        if dev:
            yield dev


def sysfs_values(devices):
    seen = set()
    for _, _, attrs in devices:
        for v in attrs.values():
            if v not in seen:
                seen.add(v)
    extra = ["none\n", "secure\n", "dponly\n", "usbonly\n", "nopcie\n", "unknown\n",
             "device_specific bus\n", "flr pm bus\n", "2.5 GT/s PCIe\n", "16.0 GT/s PCIe\n", "Unknown\n",
             "40.0 Gb/s\n", "-1\n", "4294967295\n", "0xffffffff\n", "0000:30:00.0\n", "0000:30:00.7",
             "0x0000000060000000 0x000000006fffffff 0x000000000014220c\n"
             "0x0000000000000000 0x0000000000000000 0x0000000000000000\n",
             "evil\x1b[31m\xc2\x9b\xff\xfe name\n"]
    for v in extra:
        seen.add(v)
    for v in sorted(seen):
        put("fuzz-sysfs-values", v)
    put("fuzz-sysfs-values", b"\x06\x00\x00\x00\x01", "efivar-secureboot-on")


def uevents(devices):
    for devpath, props, attrs in devices:
        lines = [f"ACTION=add", f"DEVPATH={devpath}"] + [f"{k}={v}" for k, v in props.items()]
        # The attributes the daemon's models read, as KEY=VALUE too.
        lines += [f"{k}={v.rstrip()}" for k, v in attrs.items()]
        put("fuzz-uevent", "\n".join(lines) + "\n")
        # The kernel's netlink form: "ACTION@DEVPATH" then NUL-separated properties.
        put("fuzz-uevent", f"add@{devpath}\0" + "\0".join(lines[1:]) + "\0")
    put("fuzz-uevent", "ACTION=remove\nSUBSYSTEM=thunderbolt\nDEVTYPE=thunderbolt_device\nDEVPATH=/devices/pci0000:00/0000:00:0d.2/domain0/0-0/0-1\n")


def pci_key(port):
    """store_key_from_port(): "pci-" and the 64-bit FNV-1a hash of the port path."""
    h = 0xcbf29ce484222325
    for b in port.encode():
        h = ((h ^ b) * 0x100000001b3) & 0xffffffffffffffff
    return f"pci-{h:016x}"


def store_records():
    records = {
        "tb-auto": ("c9030000-0060-6c0e-83b6-5e1b2f4a1d07",
                    "# egpuctl enrolment record\ntype=thunderbolt\nunique_id=c9030000-0060-6c0e-83b6-5e1b2f4a1d07\n"
                    "name=0-1\nvendor_name=Razer\ndevice_name=Core X Chroma\nvendor=0x0127\ndevice=0x0002\n"
                    "policy=auto\nenrolled=1764000000\n"),
        "tb-key": ("d2010000-0082-8e0e-83b6-7a14e1c2d0a1",
                   "type=thunderbolt\nunique_id=d2010000-0082-8e0e-83b6-7a14e1c2d0a1\nvendor_name=\\xff\\x1b[31m\\\\\n"
                   "device_name=a\\tb\\nc\npolicy=manual\nenrolled=0\n"
                   "key=00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\nkey_approved=1\n"),
        "pcie": (pci_key("pci0000:00/1c.0"),
                 "type=pcie\nport=pci0000:00/1c.0\nids=1002:687f:1002:0b36\nname=0000:30:00.0\npolicy=auto\n"
                 "enrolled=1764000000\n"),
        "pcie-short-ids": (pci_key("pci0000:00/01.0/00.0/03.0"), "type=pcie\nport=pci0000:00/01.0/00.0/03.0\nids=10de:1b80\n"),
        "unknown-key": ("good", "type=thunderbolt\nunique_id=good\npolicy=auto\nfuture_field=1\n"),
        "truncated": ("a2", "type=thunderbolt\nunique_id=a2\npolicy=au"),
        "bad-escape": ("a7", "type=thunderbolt\nunique_id=a7\nname=\\x0\n"),
        "duplicate": ("b3", "type=thunderbolt\nunique_id=b3\nunique_id=b3\n"),
    }
    for name, (stem, text) in records.items():
        put("fuzz-store-record", stem + "\n" + text, name)


def etc_files():
    by_target = {
        "fuzz-modprobe": ["modprobe.d/*.conf", "modules-load.d/*.conf"],
        "fuzz-interfaces": ["network/interfaces", "systemd/network/*.link"],
        "fuzz-proxmox": ["pve/qemu-server/*.conf"],
    }
    for target, patterns in by_target.items():
        for p in patterns:
            for f in sorted(glob.glob(f"tests/scenarios/*/root/etc/{p}")):
                put(target, open(f, "rb").read())
    put("fuzz-modprobe", "softdep amdgpu pre: vfio-pci\noptions vfio-pci ids=1002:687f,1002:aaf8 disable_vga=1\n"
        "blacklist radeon\ninstall nouveau /bin/false\nalias pci:v00001002d0000687F* vfio-pci\n"
        "options vfio_pci \\\n  ids=\"10de:1b80,10de:10f0\"\n# comment\n")
    put("fuzz-interfaces", "auto lo\niface lo inet loopback\n\nauto vmbr0\niface vmbr0 inet static\n"
        "\taddress 192.168.1.2/24\n\tgateway 192.168.1.1\n\tbridge-ports enp88s0 \\\n\t  enp86s0.10\n"
        "\tbridge-stp off\nsource /etc/network/interfaces.d/*\n")
    put("fuzz-interfaces", 'SUBSYSTEM=="net", ACTION=="add", ATTR{address}=="88:ae:dd:72:13:25", NAME="lan0"\n')
    # Repeated auto and allow-* names (auto_names once each, doctor's refs every time), an option on a
    # continued line, and the things of .link files and udev rules in one text.
    put("fuzz-interfaces", "auto lo eth0 lo\nallow-hotplug eth0 eth1\nauto eth1 eth0\niface eth0 inet manual\n"
        "iface bond0 inet manual\n\tbond-slaves eth0 \\\n\t  eth1\n\tbond-mode 802.3ad\nauto bond0 lo bond0\n"
        "source-directory interfaces.d\n")
    put("fuzz-interfaces", "[Match]\nMACAddress=88:AE:DD:72:13:25 aa-bb-cc-dd-ee-ff\nPermanentMACAddress=\n"
        "PermanentMACAddress=11:22:33:44:55:66\nType=ether\n\n[Link]\nName=old\nName=\nName=lan1\n"
        "# ATTR{address}==\"00:11:22:33:44:55\", NAME=\"x\"\n"
        "SUBSYSTEM==\"net\", ATTR{address}==\"02:00:00:00:00:01\", NAME:=\"wan0\"\nauto wan0\n")
    put("fuzz-proxmox", "name: win11\nmachine: pc-q35-8.1+pve0\nhostpci0: 0000:30:00,pcie=1,x-vga=1\n"
        "hostpci1: mapping=egpu,rombar=0\nhostpci2: host=30:00.0;30:00.1,romfile=vbios.rom\n"
        "[snapshot]\nhostpci3: 0000:31:00.0\n")


def guest_files():
    """The guest scenarios' os-release, passwd, group and ollama.service files, and a hand-written drop-in."""
    seen = set()
    for p in ["os-release", "passwd", "group", "systemd/system/ollama.service",
              "systemd/system/ollama.service.d/*.conf"]:
        for f in sorted(glob.glob(f"tests/guest/scenarios/*/root/etc/{p}")):
            data = open(f, "rb").read()
            if data not in seen:
                seen.add(data)
                put("fuzz-guest", data)
    put("fuzz-guest", "[Unit]\nDescription=Ollama\n\n[Service]\nEnvironment=\n"
        "Environment=\"OLLAMA_HOST=0.0.0.0:11434\" 'OLLAMA_MODELS=/srv/ollama models' OLLAMA_DEBUG=1\n"
        "Environment=HSA_OVERRIDE_GFX_VERSION=10.3.0 \\\n  OLLAMA_KEEP_ALIVE=5m\\tx =bad noequals\n"
        "EnvironmentFile=-/etc/default/ollama\n; comment\n# comment\n", "dropin-quotes")
    put("fuzz-guest", "NAME=\"Debian GNU/Linux\"\nID=debian\nID_LIKE='ubuntu debian'\nVERSION_ID=\"12\"\n"
        "PRETTY_NAME=\"Debian \\\"bookworm\\\" \\$HOME\" # comment\nID=\"unterminated\n", "os-release-quotes")


def ollama():
    def put_answer(call, status_index, body, name):
        put("fuzz-ollama", bytes([call, status_index]) + body, name)

    put_answer(0, 0, json.dumps({"version": "0.18.2"}).encode(), "version")
    put_answer(0, 0, b'{"version": "v0.12.11-rc1"}', "version-rc")
    model = {
        "name": "llama3.2:latest", "model": "llama3.2:latest", "size": 2048000000,
        "digest": "a80c4f17acd55265feec403c7aef86be0c25983ab279d83f3bcd3abbcb5b8b72",
        "details": {"parent_model": "", "format": "gguf", "family": "llama", "families": ["llama"],
                    "parameter_size": "3.2B", "quantization_level": "Q4_K_M"},
        "expires_at": "2026-11-25T15:00:00.000000000Z", "size_vram": 1024000000, "context_length": 4096,
    }
    put_answer(1, 0, json.dumps({"models": [model]}).encode(), "ps")
    put_answer(1, 0, b'{"models": []}', "ps-empty")
    hostile = dict(model, name="evil\u001b[31m\u001b]0;pwned\u0007model")
    put_answer(1, 0, json.dumps({"models": [hostile]}).encode().replace(b"model\"", b"model\xff\"", 1), "ps-hostile")
    gen = {
        "model": "llama3.2", "created_at": "2026-11-25T14:00:00.000000000Z",
        "response": "Memory bandwidth bounds decoding. ", "done": True, "done_reason": "length",
        "context": [1, 2, 3], "total_duration": 3600000000, "load_duration": 2500000000,
        "prompt_eval_count": 20, "prompt_eval_duration": 100000000, "eval_count": 128,
        "eval_duration": 1000000000,
    }
    body = json.dumps(gen).encode()
    put_answer(2, 0, body, "generate")
    put_answer(2, 0, body[: len(body) // 2], "generate-truncated")
    put_answer(2, 0, b'{"model": "llama3.2", "done": tru, "eval_count": 128}', "generate-malformed")
    put_answer(2, 1, b'{"error": "model \'llama3.2\' not found"}', "generate-404")
    put_answer(2, 2, b"404 page not found", "generate-500-text")
    # Ollama leaves out statistics that are 0 (omitempty)
    put_answer(2, 0, json.dumps({k: v for k, v in gen.items() if k not in ("prompt_eval_duration", "load_duration")})
               .encode(), "generate-omitempty")
    put_answer(0, 0, b'{"version": "0.30.0-rc24+build.1"}', "version-rc24")
    tags = {"models": [dict(model, size=2000000000, modified_at="2026-11-25T14:00:00Z")]}
    put_answer(3, 0, json.dumps(tags).encode(), "tags")
    show = {"model_info": {"general.architecture": "llama", "llama.expert_count": 8, "llama.expert_used_count": 2},
            "tensors": [{"name": "blk.0.attn_q.weight", "type": "F16", "shape": [100, 1000]},
                        {"name": "blk.0.ffn_gate_exps.weight", "type": "Q8_0", "shape": [32, 1000, 8]}]}
    put_answer(4, 0, json.dumps(show).encode(), "show-moe")
    put_answer(4, 1, b'{"error": "model \'llama3.2\' not found"}', "show-404")


def remove_stale():
    """Removes the seeds named by their hash that this run did not write; keeps every other file."""
    for t in sorted(os.listdir(OUT)):
        for name in sorted(os.listdir(os.path.join(OUT, t))):
            rel = os.path.join(t, name)
            if rel in WRITTEN:
                continue
            if re.fullmatch(r"[0-9a-f]{16}", name):
                os.remove(os.path.join(OUT, rel))
            else:
                print(f"kept {rel} (not written here)")


def main():
    devices = list(umockdev_devices())
    sysfs_values(devices)
    uevents(devices)
    store_records()
    etc_files()
    guest_files()
    ollama()
    remove_stale()
    for t in sorted(os.listdir(OUT)):
        print(f"{t}: {len(os.listdir(os.path.join(OUT, t)))} seeds")


if __name__ == "__main__":
    main()
