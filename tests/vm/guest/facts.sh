# SPDX-License-Identifier: GPL-2.0-or-later
# Case 0: kernel facts. Plain shell and vm-tool, no egpuctl. Each "fact" line goes into
# kernel-facts.txt (compared with the committed one); "info" lines are timings (not compared).
. /vmtest/lib.sh

# wr LABEL PATH VALUE: one write, recorded as a fact with its result ("ok" or the errno)
wr() { fact "$1: $(w "$2" "$3")"; }

VFIO=/sys/bus/pci/drivers/vfio-pci
VIRTIO=/sys/bus/pci/drivers/virtio-pci
F=$(below_port $RP6 00.0)          # virtio-rng-pci on virtio-pci
D=$(below_port $RP1 00.0)          # display function 0, no driver (the cloud kernel has none)
D1=$(below_port $RP1 00.1)         # its HD audio function 1
BR=$(below_port $RP4 00.0)         # pcie-pci-bridge
C=$(basename $SYSPCI/$BR/0000:*:01.0)   # display behind the bridge
CR=$(basename $SYSPCI/$BR/0000:*:02.0)  # virtio-rng behind the bridge, on virtio-pci

info "kernel: $(uname -r)"
fact "dmar units: $(ls /sys/class/iommu | tr '\n' ' ' | sed 's/ $//')"
fact "devices: F=$F (virtio-rng, rp6) D=$D D1=$D1 (display+audio, rp1) bridge=$BR C=$C CR=$CR (behind the bridge, rp4)"

# --- IOMMU groups, all of them
for g in $(ls /sys/kernel/iommu_groups | sort -n); do
        line=""
        for b in $(members $g); do
                line="$line $b($(cat $SYSPCI/$b/class),$(driver_of $b))"
        done
        fact "group $g:$line"
done
fact "bridge group: $(group_of $C) holds [$(members $(group_of $C))]; the bridge's own group is $(group_of $BR)"

# --- reset_method as read, header types
for b in $D $D1 $F $C $CR $BR; do fact "$b: header $(header_type $b), reset_method: $(reset_of $b)"; done

# --- errors around bind/unbind, F on virtio-pci
fact "F driver at boot: $(driver_of $F), driver_override: $(override_of $F)"
wr "F: vfio-pci/bind without driver_override, while on virtio-pci" $VFIO/bind $F
wr "F: write vfio-pci to driver_override" $SYSPCI/$F/driver_override vfio-pci
fact "F: driver_override reads: $(override_of $F); driver still: $(driver_of $F)"
wr "F: vfio-pci/bind with driver_override=vfio-pci, while on virtio-pci" $VFIO/bind $F
wr "F: virtio-pci/bind while already on virtio-pci" $VIRTIO/bind $F
wr "F: vfio-pci/unbind while on virtio-pci" $VFIO/unbind $F
wr "F: drivers_probe while on virtio-pci, override vfio-pci" /sys/bus/pci/drivers_probe $F
fact "F: driver after that: $(driver_of $F)"
G=$(group_of $F)
wr "F: virtio-pci/unbind" $VIRTIO/unbind $F
fact "F: driver right after unbind returned: $(driver_of $F)"
fact "F: /dev/vfio/$G before drivers_probe: $([ -e /dev/vfio/$G ] && echo present || echo absent)"
t0=$(vm-tool now)
r=$(w /sys/bus/pci/drivers_probe $F)
t1=$(vm-tool now)
drv=$(driver_of $F)
dev=$([ -e /dev/vfio/$G ] && echo present || echo absent)
fact "F: drivers_probe (unbound, override vfio-pci): $r"
fact "F: driver right after drivers_probe returned: $drv"
fact "F: /dev/vfio/$G right after drivers_probe returned: $dev"
info "drivers_probe took $((t1 - t0)) ms; /dev/vfio/$G present after $(vm-tool wait-path /dev/vfio/$G present 5000) ms more"
fact "F: /dev/vfio/$G mode: $(stat -c '%A %U:%G' /dev/vfio/$G 2>/dev/null); /dev/vfio/vfio: $(stat -c '%A' /dev/vfio/vfio 2>/dev/null)"
fact "F: VFIO_GROUP_GET_STATUS: $(vfio-group-status /dev/vfio/$G)"
exec 4<>/dev/vfio/$G
fact "F: a second open of /dev/vfio/$G while one is open: $(vfio-group-status /dev/vfio/$G)"
wr "F: vfio-pci/unbind while the group is open" $VFIO/unbind $F
fact "F: driver after that: $(driver_of $F)"
exec 4>&-
wr "F: drivers_probe while unbound, group closed" /sys/bus/pci/drivers_probe $F
wr "F: drivers_probe while on vfio-pci" /sys/bus/pci/drivers_probe $F
wr "F: vfio-pci/bind while on vfio-pci" $VFIO/bind $F
t0=$(vm-tool now)
wr "F: vfio-pci/unbind" $VFIO/unbind $F
fact "F: /dev/vfio/$G right after unbind returned: $([ -e /dev/vfio/$G ] && echo present || echo absent)"
info "/dev/vfio/$G gone $(vm-tool wait-path /dev/vfio/$G absent 5000) ms after that"
wr "F: driver_override write of a newline" $SYSPCI/$F/driver_override "
"
fact "F: driver_override reads: $(override_of $F)"
wr "F: drivers_probe, override cleared" /sys/bus/pci/drivers_probe $F
fact "F: driver after that: $(driver_of $F)"

# --- D: display function with no driver, its audio function in the same group
wr "D: vfio-pci/bind, no override, no matching id" $VFIO/bind $D
wr "D: driver_override=vfio-pci" $SYSPCI/$D/driver_override vfio-pci
mon_start
wr "D: vfio-pci/bind with the override" $VFIO/bind $D
fact "uevents on that bind:"
mon_stop | while IFS= read -r l; do fact "  $l"; done
fact "D: driver: $(driver_of $D); D1 (same group, no driver): $(driver_of $D1)"
fact "D: VFIO_GROUP_GET_STATUS with D1 unbound: $(vfio-group-status /dev/vfio/$(group_of $D))"
wr "D1: driver_override=vfio-pci" $SYSPCI/$D1/driver_override vfio-pci
wr "D1: drivers_probe" /sys/bus/pci/drivers_probe $D1
fact "D1: driver: $(driver_of $D1); group status: $(vfio-group-status /dev/vfio/$(group_of $D))"
wr "D: write reset (bound to vfio-pci)" $SYSPCI/$D/reset 1
mon_start
for b in $D1 $D; do
        w $VFIO/unbind $b >/dev/null
        w $SYSPCI/$b/driver_override "
" >/dev/null
done
fact "uevents on vfio-pci/unbind of D1 then D, overrides cleared:"
mon_stop | while IFS= read -r l; do fact "  $l"; done
fact "D, D1 given back: $(driver_of $D) $(driver_of $D1), overrides $(override_of $D) $(override_of $D1)"

# --- C: display behind the bridge, sharing a group with CR on virtio-pci
wr "C: driver_override=vfio-pci" $SYSPCI/$C/driver_override vfio-pci
wr "C: drivers_probe, group shared with CR on virtio-pci" /sys/bus/pci/drivers_probe $C
fact "C: driver: $(driver_of $C); /dev/vfio/$(group_of $C): $([ -e /dev/vfio/$(group_of $C) ] && echo present || echo absent)"
fact "C: VFIO_GROUP_GET_STATUS: $(vfio-group-status /dev/vfio/$(group_of $C))"
w $VFIO/unbind $C >/dev/null
w $SYSPCI/$C/driver_override "
" >/dev/null
fact "C given back: $(driver_of $C)"

# --- drivers_probe, new_id, remove_id
wr "drivers_probe 0000:ff:1f.7 (no such device)" /sys/bus/pci/drivers_probe 0000:ff:1f.7
wr "drivers_probe nonsense" /sys/bus/pci/drivers_probe nonsense
wr "vfio-pci/bind 0000:ff:1f.7" $VFIO/bind 0000:ff:1f.7
wr "vfio-pci/unbind 0000:ff:1f.7" $VFIO/unbind 0000:ff:1f.7
wr "vfio-pci/new_id '1b36 dead'" $VFIO/new_id "1b36 dead"
wr "vfio-pci/new_id '1b36 dead' again" $VFIO/new_id "1b36 dead"
wr "vfio-pci/remove_id '1b36 dead'" $VFIO/remove_id "1b36 dead"
wr "vfio-pci/remove_id '1b36 dead' again" $VFIO/remove_id "1b36 dead"
wr "vfio-pci/new_id 'zz'" $VFIO/new_id "zz"
wr "driver_override of 0000:ff:1f.7 (no such file)" $SYSPCI/0000:ff:1f.7/driver_override vfio-pci

# --- reset_method writes
wr "F reset_method 'bogus'" $SYSPCI/$F/reset_method bogus
wr "D reset_method 'flr' (not supported by D)" $SYSPCI/$D/reset_method flr
wr "D reset_method 'pm' (not supported by D)" $SYSPCI/$D/reset_method pm
wr "D reset_method 'device_specific' (not supported by D)" $SYSPCI/$D/reset_method device_specific
wr "D reset_method 'bus' (listed at boot, before D1 was on the bus)" $SYSPCI/$D/reset_method bus
fact "D reset_method reads: $(reset_of $D)"
wr "D reset_method 'default'" $SYSPCI/$D/reset_method default
fact "D reset_method reads: $(reset_of $D)"
wr "C reset_method 'bus' (behind the PCI bridge, CR on the same bus)" $SYSPCI/$C/reset_method bus
wr "F reset_method 'bus flr'" $SYSPCI/$F/reset_method "bus flr"
fact "F reset_method reads: $(reset_of $F)"
wr "F reset_method 'bus bogus'" $SYSPCI/$F/reset_method "bus bogus"
fact "F reset_method reads: $(reset_of $F)"
wr "F reset_method newline (none)" $SYSPCI/$F/reset_method "
"
fact "F reset_method reads: $(reset_of $F)"
wr "F reset_method 'default'" $SYSPCI/$F/reset_method default
fact "F reset_method reads: $(reset_of $F)"
wr "D1 reset_method (no file)" $SYSPCI/$D1/reset_method bus

# --- hot-plug uevents (udevadm monitor --kernel --property) for a display+audio pair in rp2
HB=$(bus_below $RP2)
H=$HB:00.0
H1=$HB:00.1
udevadm monitor --udev --subsystem-match=pci >/tmp/umon 2>&1 &
umon=$!
mon_start
t0=$(vm-tool now)
if plug_pair h; then
        t1=$(vm-tool now)
        ms=$(vm-tool wait-path $SYSPCI/$H present 20000)
        ms1=$(vm-tool wait-path $SYSPCI/$H1 present 20000)
        udevadm settle --timeout=20
        t2=$(vm-tool now)
        info "device_add x2 took $((t1 - t0)) ms; $H in sysfs $ms ms later, $H1 $ms1 ms after that; settled at +$((t2 - t0)) ms"
        fact "hot-plugged: $H ($(driver_of $H), group $(group_of $H), header $(header_type $H)) $H1 ($(driver_of $H1), group $(group_of $H1), header $(header_type $H1)), override $(override_of $H), reset_method $(reset_of $H)"
        fact "uevents on device_add (audio fn1 first, then fn0):"
        mon_stop | while IFS= read -r l; do fact "  $l"; done
        kill $umon 2>/dev/null
        wait $umon 2>/dev/null
        # udevd's workers run in parallel: the order it passes events on is not the kernel's to keep
        fact "systemd-udevd passed on (udevadm monitor --udev, pci, sorted): $(grep '^UDEV *\[' /tmp/umon | awk '{print $3, $4}' | sed 's| /devices/.*/| |' | sort | tr '\n' ';')"

        mon_start
        w $SYSPCI/$H/driver_override vfio-pci >/dev/null
        w /sys/bus/pci/drivers_probe $H >/dev/null
        fact "uevents on driver_override=vfio-pci + drivers_probe of $H:"
        mon_stop | while IFS= read -r l; do fact "  $l"; done

        mon_start
        t0=$(vm-tool now)
        r=$(unplug_pair h)
        t1=$(vm-tool now)
        udevadm settle --timeout=20
        info "device_del (while $H is on vfio-pci) until QEMU's DEVICE_DELETED: $((t1 - t0)) ms (pciehp waits 5 s after the attention button)"
        fact "after device_del: $H $([ -e $SYSPCI/$H ] && echo present || echo gone), $H1 $([ -e $SYSPCI/$H1 ] && echo present || echo gone), /dev/vfio: $(ls /dev/vfio | tr '\n' ' ')"
        fact "uevents on device_del:"
        mon_stop | while IFS= read -r l; do fact "  $l"; done
else
        mon_stop >/dev/null
        fact "hot-plug: device_add refused"
fi

tap_ok "kernel facts collected"
