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
  second-port[:BUS]    a second enclosure 1-3 on the host router's other USB4 port (route 0x3), not
                       authorized: its tunnel lands in root port 0000:00:07.3 (buses 0x50-0x55, groups
                       30-38; GPU 0000:54:00.0); hotplug/1-3.umockdev for `plug 1-3`. With BUS (hex), its
                       buses start there and its groups move as far (60: GPU 0000:64:00.0, groups 46-54),
                       as after a replug that the kernel numbered otherwise
  daisy-chain          a second enclosure 1-301 plugged into 1-1's downstream port 3 (route 0x301), not
                       authorized: its tunnel lands below 1-1's downstream bridge 0000:2d:02.0 (buses
                       0x32-0x37, groups 30-38; GPU 0000:36:00.0); hotplug/1-301.umockdev
  dock                 1-1 is a dock, not an eGPU: its tunnel brings its PCIe switch and USB controller
                       0000:31:00.0, no GPU and no audio function (after daisy-chain, whose 1-301 keeps its
                       eGPU)
  no-nhi-links         without those device links (firmware that does not describe them): several
                       devices of a domain cannot be told apart
  Both give the root ports 0000:00:07.2 and 0000:00:07.3 their device link to the NHI 0000:00:0d.3
  (supplier:pci:0000:00:0d.3), as the thunderbolt driver makes them from ACPI (drivers/thunderbolt/acpi.c
  tb_acpi_add_link()), so that the model can tell which router each eGPU is behind.
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


SECOND_UID = 'c9030000-0060-6c0e-83b6-5e1b2f4a2e18'
TUNNEL_ROOT = '/devices/pci0000:00/0000:00:07.2'


def second_router(name, parent_path):
    """The block of a second Blackmagic eGPU Pro, 1-3 or 1-301, not authorized."""
    one = next(b for b in blocks(os.path.join(src, 'hotplug', '1-1.umockdev')))
    b = one.replace(one.split('\n')[0], f'P: {parent_path}/{name}')
    return b.replace('unique_id=c9030000-0060-6c0e-83b6-5e1b2f4a1d07', 'unique_id=' + SECOND_UID)


def clone_tunnel(name, root, bus_base, group_off):
    """1-1's tunnel again for router name, below the bridge root: buses 0x2c-0x31 become bus_base..+5,
    groups 19-27 become 19+group_off.., each iommu_group link as deep as its new path."""
    def bdf(m):
        return f'0000:{int(m.group(1), 16) - 0x2c + bus_base:02x}:{m.group(2)}'
    tdir = os.path.join(dst, 'tunnels')
    out = []
    for b in blocks(os.path.join(tdir, '1-1.umockdev')):
        b = re.sub(r'0000:(2[c-f]|3[01]):(\d\d\.\d)', bdf, b).replace('P: ' + TUNNEL_ROOT, 'P: ' + root)
        path = b.split('\n')[0][3:]
        up = '../' * (path.count('/'))
        b = re.sub(r'L: iommu_group=[./]*kernel/iommu_groups/(\d+)',
                   lambda m: f'L: iommu_group={up}kernel/iommu_groups/{int(m.group(1)) + group_off}', b)
        out.append(b)
    write_blocks(os.path.join(tdir, name + '.umockdev'), out)
    with open(os.path.join(tdir, name + '.links'), 'w') as f:
        for line in open(os.path.join(tdir, '1-1.links')):
            link, target = line.split()
            g = int(link.split('/')[2])
            link = re.sub(r'0000:(2[c-f]|3[01]):(\d\d\.\d)', bdf, link).replace(f'/{g}/', f'/{g + group_off}/')
            target = re.sub(r'0000:(2[c-f]|3[01]):(\d\d\.\d)', bdf, target).replace(TUNNEL_ROOT, root)
            f.write(f'{link} {target}\n')


def nhi_links():
    """The device links of domain1's root ports to its NHI, with the root port 0000:00:07.3 itself."""
    bs = blocks(dev)
    if not any(b.startswith('P: /devices/pci0000:00/0000:00:07.3\n') for b in bs):
        rp = next(b for b in bs if b.startswith('P: /devices/pci0000:00/0000:00:07.2\n'))
        rp = rp.replace('07.2', '07.3').replace('7EC6', '7EC7').replace('7ec6', '7ec7').replace('Port #2', 'Port #3')
        rp = rp.replace('iommu_groups/5', 'iommu_groups/6')
        bs.insert(bs.index(next(b for b in bs if b.startswith('P: /devices/pci0000:00/0000:00:07.2\n'))) + 1, rp)
        write_blocks(dev, bs)
        add_group_link(6, '0000:00:07.3', '/devices/pci0000:00/0000:00:07.3')
    with open(links, 'a') as f:
        for rp in ('0000:00:07.2', '0000:00:07.3'):
            f.write(f'devices/pci0000:00/{rp}/supplier:pci:0000:00:0d.3 ../0000:00:0d.3\n')


def add_second(name, parent_path, root, bus_base, group_off=11):
    nhi_links()
    bs = blocks(dev)
    bs.append(second_router(name, parent_path))
    write_blocks(dev, bs)
    write_blocks(os.path.join(dst, 'hotplug', name + '.umockdev'), [second_router(name, parent_path)])
    clone_tunnel(name, root, bus_base, group_off)


for change in changes:
    if change == 'unplugged':
        # every device router of domain 1 (a daisy-chained one sits below 1-1's folder)
        write_blocks(dev, [b for b in blocks(dev) if not re.search(r'^P: .*/1-0/1-1(/.*)?$|^P: .*/1-[1-9]$', b, re.M)])
    elif change.split(':')[0] == 'second-port':
        bus = int(change.split(':')[1], 16) if ':' in change else 0x50
        add_second('1-3', '/devices/pci0000:00/0000:00:0d.3/domain1/1-0', '/devices/pci0000:00/0000:00:07.3', bus,
                   11 + bus - 0x50)
    elif change == 'no-nhi-links':
        text = open(links).read()
        open(links, 'w').write(''.join(l for l in text.splitlines(True) if '/supplier:pci:' not in l))
    elif change == 'daisy-chain':
        add_second('1-301', '/devices/pci0000:00/0000:00:0d.3/domain1/1-0/1-1', TUNNEL_ROOT + '/0000:2c:00.0/0000:2d:02.0',
                   0x32)
    elif change == 'dock':
        tun = os.path.join(dst, 'tunnels', '1-1')
        kept = [b for b in blocks(tun + '.umockdev') if not re.search(r'/0000:30:00\.[01]\n', b)]
        write_blocks(tun + '.umockdev', kept)
        text = open(tun + '.links').read()
        open(tun + '.links', 'w').write(''.join(l for l in text.splitlines(True) if '0000:30:00.' not in l))
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
