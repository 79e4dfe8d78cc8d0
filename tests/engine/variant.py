#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Makes a variant of a simulator scenario for the engine tests: variant.py SRC DST CHANGE...

Changes:
  unplugged            1-1 is not connected at the start (the simulator's `plug 1-1` brings it)
  uuid=NEW             1-1 reports another unique_id (same names)
  shared-group         the enclosure's USB controller 0000:31:00.0 (xhci_hcd) shares group 25 with the GPU
  internal-twin        an internal Vega 56 + audio with the eGPU's ids at 0000:59:00.0, on amdgpu
  pcie-gpu             a PCIe-attached Vega 56 + audio in root port 0000:00:01.0 (0000:01:00.0/.1, amdgpu)
  rebar                the tunnel's Vega 56 0000:30:00.0 has a Resizable BAR 0 (resource0_resize: 256 MiB to
                       8 GiB) left at 256 MiB, its BAR 2 (2 MiB) after it, and the switch's downstream port
                       0000:2f:00.0 above it a 16 GiB prefetchable window (line 15 of its resource, as a
                       kernel with CONFIG_PCI_IOV shows it), 2 MiB memory and 4 KiB I/O windows
  rebar-small-window   the same with a 512 MiB prefetchable window: BAR 0 cannot grow
  reset-shared         a USB controller 0000:30:01.0 (xhci_hcd, group 28) on the eGPU's bus, and the audio
                       function 0000:30:00.1 with only a PM reset: QEMU's bus reset of it would take the controller
"""
import os
import re
import shutil
import struct
import sys

src, dst, changes = sys.argv[1], sys.argv[2], sys.argv[3:]
shutil.copytree(src, dst, symlinks=True)
dev = os.path.join(dst, 'devices.umockdev')
links = os.path.join(dst, 'sysfs.links')


def blocks(path):
    return [b for b in open(path).read().split('\n\n') if b.strip()]


def write_blocks(path, bs):
    open(path, 'w').write('\n\n'.join(b.strip('\n') for b in bs) + '\n')


def config(v, d, cls, multi):
    b = bytearray(64)
    struct.pack_into('<HH', b, 0, v, d)
    b[9], b[10], b[11] = cls & 0xff, (cls >> 8) & 0xff, cls >> 16
    b[0x0e] = 0x80 if multi else 0
    return b.hex()


def pci_block(path, bdf, v, d, cls, driver, group, depth, removable='fixed', reset='bus'):
    up = '../' * depth
    lines = [f'P: {path}', f'E: PCI_ID={v:04X}:{d:04X}', f'E: PCI_CLASS={cls:06X}', f'E: PCI_SLOT_NAME={bdf}',
             f'E: MODALIAS=pci:v0000{v:04X}d0000{d:04X}']
    if driver:
        lines.append(f'E: DRIVER={driver}')
    lines += ['E: SUBSYSTEM=pci', f'A: vendor=0x{v:04x}\\n', f'A: device=0x{d:04x}\\n', f'A: class=0x{cls:06x}\\n',
              'A: subsystem_vendor=0x1002\\n', f'A: subsystem_device=0x{d:04x}\\n', 'A: driver_override=(null)\\n',
              f'A: removable={removable}\\n', 'A: current_link_speed=8.0 GT/s PCIe\\n', 'A: current_link_width=16\\n',
              'A: max_link_speed=8.0 GT/s PCIe\\n', 'A: max_link_width=16\\n']
    if reset:
        lines.append(f'A: reset_method={reset}\\n')
    if cls >> 16 != 6:
        lines.append('H: config=' + config(v, d, cls, True))
    if driver:
        lines.append(f'L: driver={up}bus/pci/drivers/{driver}')
    lines.append(f'L: iommu_group={up}kernel/iommu_groups/{group}')
    return '\n'.join(lines)


def add_group_link(group, bdf, path):
    with open(links, 'a') as f:
        f.write(f'kernel/iommu_groups/{group}/devices/{bdf} ../../../..{path}\n')


for change in changes:
    if change == 'unplugged':
        write_blocks(dev, [b for b in blocks(dev) if not re.search(r'^P: .*/1-1$', b, re.M)])
    elif change.startswith('uuid='):
        text = open(dev).read()
        text = re.sub(r'(P: [^\n]*/1-1\n(?:[^\n]+\n)*?A: unique_id=)[^\\\n]*', r'\g<1>' + change[5:], text)
        open(dev, 'w').write(text)
    elif change == 'shared-group':
        for name in ('1-1.umockdev', '1-1.links'):
            p = os.path.join(dst, 'tunnels', name)
            text = open(p).read()
            if name.endswith('.umockdev'):
                text = re.sub(r'(0000:31:00\.0\n(?:[^\n]+\n)*?L: iommu_group=[./]*kernel/iommu_groups/)27', r'\g<1>25',
                              text)
                # The controller comes before the GPU, so the group is complete when the GPU appears;
                # a member that joins later is caught when attach reads the group back.
                bs = [b for b in text.split('\n\n') if b.strip()]
                usb = [b for b in bs if '/0000:31:00.0\n' in b]
                rest = [b for b in bs if b not in usb]
                gpu_at = next(i for i, b in enumerate(rest) if '/0000:30:00.0\n' in b)
                text = '\n\n'.join(rest[:gpu_at] + usb + rest[gpu_at:]) + '\n'
            else:
                text = text.replace('iommu_groups/27/devices/0000:31:00.0', 'iommu_groups/25/devices/0000:31:00.0')
            open(p, 'w').write(text)
    elif change == 'internal-twin':
        bs = blocks(dev)
        for fn, d, cls, drv, g in ((0, 0x687f, 0x030000, 'amdgpu', 40), (1, 0xaaf8, 0x040300, 'snd_hda_intel', 41)):
            bdf = f'0000:59:00.{fn}'
            path = f'/devices/pci0000:00/0000:00:1c.0/{bdf}'
            bs.append(pci_block(path, bdf, 0x1002, d, cls, drv, g, 4))
            add_group_link(g, bdf, path)
        write_blocks(dev, bs)
    elif change == 'pcie-gpu':
        bs = blocks(dev)
        rp = '/devices/pci0000:00/0000:00:01.0'
        bs.append(pci_block(rp, '0000:00:01.0', 0x8086, 0x7ecc, 0x060400, 'pcieport', 42, 3, reset=None))
        add_group_link(42, '0000:00:01.0', rp)
        for fn, d, cls, drv, g in ((0, 0x687f, 0x030000, 'amdgpu', 43), (1, 0xaaf8, 0x040300, 'snd_hda_intel', 44)):
            bdf = f'0000:01:00.{fn}'
            bs.append(pci_block(f'{rp}/{bdf}', bdf, 0x1002, d, cls, drv, g, 4))
            add_group_link(g, bdf, f'{rp}/{bdf}')
        write_blocks(dev, bs)
    elif change in ('rebar', 'rebar-small-window'):
        p = os.path.join(dst, 'tunnels', '1-1.umockdev')
        text = open(p).read()
        zero = '0x0000000000000000 0x0000000000000000 0x0000000000000000\\n'
        pref_end = 0x63ffffffff if change == 'rebar' else 0x601fffffff
        gpu = re.search(r'P: [^\n]*/0000:30:00\.0\n(?:[^\n]+\n)*', text).group(0)
        # BAR 0 at 256 MiB, BAR 2 right after it (the file's "\\n" are umockdev's escapes)
        new = gpu.replace('A: resource=0x0000006000000000 0x00000061ffffffff',
                          'A: resource=0x0000006000000000 0x000000600fffffff')
        new = new.replace('0x0000006200000000 0x00000062001fffff', '0x0000006010000000 0x00000060101fffff')
        new = new.replace('L: iommu_group=', 'A: resource0_resize=0000000000003f00\\n\nL: iommu_group=', 1)
        assert new != gpu, 'variant.py: the GPU block changed its shape'
        text = text.replace(gpu, new)
        windows = (f'0x0000000000003000 0x0000000000003fff 0x0000000000000100\\n'
                   f'0x0000000078000000 0x00000000781fffff 0x0000000000000200\\n'
                   f'0x0000006000000000 0x{pref_end:016x} 0x0000000000102201\\n')
        text = re.sub(r'(P: [^\n]*/0000:2f:00\.0\n(?:[^\n]+\n)*?)(L: iommu_group=)',
                      lambda m: m.group(1) + 'A: resource=' + zero * 13 + windows + zero + '\n' + m.group(2), text, count=1)
        open(p, 'w').write(text)
    elif change == 'reset-shared':
        tun = os.path.join(dst, 'tunnels', '1-1.umockdev')
        text = open(tun).read()
        text = re.sub(r'(0000:30:00\.1\n(?:[^\n]+\n)*?A: reset_method=)bus', r'\g<1>pm', text)
        path = ('/devices/pci0000:00/0000:00:07.2/0000:2c:00.0/0000:2d:01.0/0000:2e:00.0/0000:2f:00.0/'
                '0000:30:01.0')
        text = text.rstrip('\n') + '\n\n' + pci_block(path, '0000:30:01.0', 0x1b21, 0x2142, 0x0c0330, 'xhci_hcd', 28, 8,
                                                     removable='removable', reset='flr bus') + '\n'
        open(tun, 'w').write(text)
        with open(os.path.join(dst, 'tunnels', '1-1.links'), 'a') as f:
            f.write(f'kernel/iommu_groups/28/devices/0000:30:01.0 ../../../..{path}\n')
    else:
        sys.exit(f'variant.py: unknown change {change}')
