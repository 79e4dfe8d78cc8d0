#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Tests of egpu-sim itself: sim-test.sh CASE. meson sets EGPU_SIM, EGPU_SIM_CTL, EGPU_SIM_PRELOAD, SIM_PROBE,
# SIM_SCENARIOS (tests/sim/scenarios) and SIM_TOP_SCENARIOS (tests/scenarios).
set -eu

: "${EGPU_SIM:?}" "${EGPU_SIM_CTL:?}" "${EGPU_SIM_PRELOAD:?}" "${SIM_PROBE:?}" "${SIM_SCENARIOS:?}" "${VARIANT:?}"
export EGPU_SIM_CTL SIM_PROBE
EGPU=$SIM_SCENARIOS/egpu
SECURE=$SIM_SCENARIOS/secure
. "$(dirname "$0")/../case-lib.sh"

# Shell functions every COMMAND script gets. All waits are bounded (2 s).
PRELUDE='
set -u
D=/sys/bus/thunderbolt/devices/1-1
GPU=/sys/bus/pci/devices/0000:30:00.0
AUDIO=/sys/bus/pci/devices/0000:30:00.1
P=$SIM_PROBE
wait_exists() { i=0; while [ ! -e "$1" ] && [ $i -lt 200 ]; do sleep 0.01; i=$((i + 1)); done; [ -e "$1" ]; }
wait_gone() { i=0; while [ -e "$1" ] && [ $i -lt 200 ]; do sleep 0.01; i=$((i + 1)); done; [ ! -e "$1" ]; }
drv() { if [ -e "$1/driver" ]; then basename "$(readlink "$1/driver")"; else echo none; fi; }
# authorizes 1-1 and waits until the GPU audio function is bound, its uevent file saying so too
# (the driver link comes a moment before DRIVER= there)
attach() {
        echo 1 >$D/authorized && wait_exists $AUDIO/driver || return 1
        i=0; while ! grep -q "^DRIVER=" $AUDIO/uevent 2>/dev/null && [ $i -lt 200 ]; do sleep 0.01; i=$((i + 1)); done
}
'

sim() {
        "$EGPU_SIM" --preload "$EGPU_SIM_PRELOAD" "$@"
}

# sim [OPTION]... SCENARIO SCRIPT: runs SCRIPT with sh inside egpu-sim
sim_sh() {
        script=$1
        shift
        sim "$@" -- sh -c "$PRELUDE
$script
exit 0"
}

t_load_seeds() {
        n=0
        for s in "$SIM_SCENARIOS"/*/ ${SIM_TOP_SCENARIOS:+"$SIM_TOP_SCENARIOS"/*/}; do
                [ -f "$s/devices.umockdev" ] || continue
                out=$(sim "$s" -- sh -c 'ls /sys/bus/pci/devices | wc -l; test -d /sys/bus/thunderbolt/devices && echo tb') ||
                        fail "$s does not load"
                [ "$(echo "$out" | head -n1)" -gt 0 ] || fail "$s: no PCI devices"
                n=$((n + 1))
        done
        [ $n -ge 2 ] || fail "too few scenarios"
        echo "$n scenarios load"
}

# Resizable BAR (resource0_resize): EBUSY while any driver holds the function, vfio-pci included; EINVAL for
# a size the BAR lacks; a size the bridge window holds moves BAR 0 there; ENOSPC past the window.
t_resize_bar() {
        "$VARIANT" "$EGPU" "$TMP/rebar" rebar
        "$VARIANT" "$EGPU" "$TMP/small" rebar-small-window
        script='
attach
cat $GPU/resource0_resize
$P write $GPU/resource0_resize 13
$P write /sys/bus/pci/drivers/amdgpu/unbind 0000:30:00.0
$P write $GPU/resource0_resize 14
$P write $GPU/resource0_resize nonsense
$P write $GPU/resource0_resize 13
$P write $GPU/resource0_resize 8
head -n 3 $GPU/resource
echo vfio-pci >$GPU/driver_override
$P write /sys/bus/pci/drivers_probe 0000:30:00.0
drv $GPU
$P write $GPU/resource0_resize 8
head -n 1 $GPU/resource'
        out=$(sim_sh "$script" --tunnel-delay-ms 0 "$TMP/rebar")
        expect "rebar" "0000000000003f00
err EBUSY
ok 12
err EINVAL
err EINVAL
ok 2
ok 1
0x0000006000000000 0x000000600fffffff 0x000000000014220c
0x0000000000000000 0x0000000000000000 0x0000000000000000
0x0000006010000000 0x00000060101fffff 0x000000000014220c
ok 12
vfio-pci
err EBUSY
0x0000006000000000 0x000000600fffffff 0x000000000014220c" "$out"
        out=$(sim_sh '
attach
$P write /sys/bus/pci/drivers/amdgpu/unbind 0000:30:00.0
$P write $GPU/resource0_resize 13
head -n 1 $GPU/resource' --tunnel-delay-ms 0 "$TMP/rebar")
        # 8 GiB aligned, past BAR 2 at 0x6010000000
        expect "grown" "ok 12
ok 2
0x0000006200000000 0x00000063ffffffff 0x000000000014220c" "$out"
        out=$(sim_sh '
attach
$P write /sys/bus/pci/drivers/amdgpu/unbind 0000:30:00.0
$P write $GPU/resource0_resize 13
$P write $GPU/resource0_resize 9
$P write $GPU/resource0_resize 8
head -n 1 $GPU/resource' --tunnel-delay-ms 0 "$TMP/small")
        # 512 MiB would fill the 512 MiB window, where BAR 2 takes 2 MiB
        expect "small window" "ok 12
err ENOSPC
err ENOSPC
ok 1
0x0000006000000000 0x000000600fffffff 0x000000000014220c" "$out"
}

t_stdout_clean() {
        out=$(env -u EGPU_SIM_DEBUG "$EGPU_SIM" --preload "$EGPU_SIM_PRELOAD" "$EGPU" -- true 2>"$TMP/err")
        expect "stdout" "" "$out"
        expect "stderr" "" "$(cat "$TMP/err")"
        rc=0
        sim "$EGPU" -- sh -c 'exit 7' || rc=$?
        expect "exit status" 7 $rc
        rc=0
        sim "$EGPU" -- sh -c 'kill -TERM $$' || rc=$?
        expect "killed" 143 $rc
        # root/ is a copy in the testbed: what the command writes there never reaches the scenario folder
        out=$(sim "$EGPU" -- sh -c 'echo hello; test -n "$UMOCKDEV_DIR" && echo umockdev
[ "$SCENARIO_ROOT" = "$UMOCKDEV_DIR/root" ] && [ "$EGPUCTL_ROOT" = "$SCENARIO_ROOT" ] && echo root-in-testbed
diff -r "'"$EGPU"'/root" "$SCENARIO_ROOT" && echo root-copied')
        expect "command output" "hello
umockdev
root-in-testbed
root-copied" "$out"
}

t_authorize_async() {
        out=$(sim_sh '
$P watch-write $D/authorized "1\n" bind:0000:30:00.1 3000
cat $D/authorized' --tunnel-delay-ms 300 "$EGPU")
        expect "authorize" "ok 2
now absent
change 1-1 AUTHORIZED=1
add 0000:2c:00.0
bind 0000:2c:00.0 DRIVER=pcieport
add 0000:2d:01.0
bind 0000:2d:01.0 DRIVER=pcieport
add 0000:2d:02.0
bind 0000:2d:02.0 DRIVER=pcieport
add 0000:2d:04.0
bind 0000:2d:04.0 DRIVER=pcieport
add 0000:2e:00.0
bind 0000:2e:00.0 DRIVER=pcieport
add 0000:2f:00.0
bind 0000:2f:00.0 DRIVER=pcieport
add 0000:30:00.0
bind 0000:30:00.0 DRIVER=amdgpu
add 0000:30:00.1
bind 0000:30:00.1 DRIVER=snd_hda_intel
done
1" "$out"
        # the functions come with their IOMMU groups and driver links
        out=$(sim_sh '
attach
readlink /sys/kernel/iommu_groups/25/devices/0000:30:00.0
cat /sys/kernel/iommu_groups/25/type
ls /sys/bus/pci/drivers/amdgpu/
grep DRIVER $GPU/uevent' --tunnel-delay-ms 0 "$EGPU")
        expect "links" "../../../../devices/pci0000:00/0000:00:07.2/0000:2c:00.0/0000:2d:01.0/0000:2e:00.0/0000:2f:00.0/0000:30:00.0
DMA-FQ
0000:30:00.0
bind
new_id
remove_id
unbind
DRIVER=amdgpu" "$out"
}

t_authorize_einval() {
        out=$(sim_sh '
$P write /sys/bus/thunderbolt/devices/1-0/authorized 1
$P write /sys/bus/thunderbolt/devices/1-0/authorized 0
$P write $D/authorized 0
$P write $D/authorized 3
$P write $D/authorized abc
$P write $D/authorized " 1"
$P write $D/authorized "0x1\n"
$P write $D/authorized 1
$P write $D/authorized 2
cat $D/authorized' --tunnel-delay-ms -1 "$EGPU")
        expect "EINVAL" "err EINVAL
err EINVAL
err EINVAL
err EINVAL
err EINVAL
err EINVAL
ok 4
err EINVAL
err EINVAL
1" "$out"
}

t_deauthorize() {
        out=$(sim_sh '
attach
$P watch-write $D/authorized 0 remove:0000:2c:00.0 3000 | grep -v "^add \|^bind "
cat $D/authorized
wait_gone /sys/bus/pci/devices/0000:2c:00.0 && echo gone
ls /sys/kernel/iommu_groups/25 2>/dev/null || echo "no group 25"' --tunnel-delay-ms 0 "$EGPU")
        expect "deauthorize" "ok 1
now present
change 1-1 AUTHORIZED=0
unbind 0000:31:00.0
remove 0000:31:00.0
unbind 0000:30:00.1
remove 0000:30:00.1
unbind 0000:30:00.0
remove 0000:30:00.0
unbind 0000:2f:00.0
remove 0000:2f:00.0
unbind 0000:2e:00.0
remove 0000:2e:00.0
unbind 0000:2d:04.0
remove 0000:2d:04.0
unbind 0000:2d:02.0
remove 0000:2d:02.0
unbind 0000:2d:01.0
remove 0000:2d:01.0
unbind 0000:2c:00.0
remove 0000:2c:00.0
done
0
gone
no group 25" "$out"
        # authorized again: the tunnel comes back
        out=$(sim_sh '
attach; echo 0 >$D/authorized; wait_gone $GPU; echo 1 >$D/authorized; wait_exists $AUDIO/driver && drv $GPU' \
                --tunnel-delay-ms 0 "$EGPU")
        expect "re-authorize" "amdgpu" "$out"
}

t_deauthorize_eperm() {
        out=$(sim_sh '
$P write $D/authorized 1
$P write $D/authorized 0
cat $D/authorized' --tunnel-delay-ms -1 "$SECURE")
        expect "no deauthorization on the firmware connection manager" "ok 1
err EPERM
1" "$out"
}

KEY=3f0c8d0e2a1b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5
OTHER=00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff

t_key() {
        out=$(sim_sh '
$P write $D/key xyz
$P write $D/key 0123456789abcdef
$P write $D/key "'"$(echo $OTHER | tr a-f A-F)"'\n"
cat $D/key
$P write $D/key "\n"
cat $D/key
$P write $D/key '$OTHER'
$P write $D/authorized 1
$P write $D/key '$KEY'
$P write $D/key "\n"' --tunnel-delay-ms -1 "$SECURE")
        expect "key" "err EINVAL
err EINVAL
ok 65
$OTHER
ok 1

ok 64
ok 1
err EBUSY
err EBUSY" "$out"
}

t_challenge() {
        out=$(sim_sh '
$P write $D/authorized 2
$P write $D/key '$OTHER'
$P write $D/authorized 2
cat $D/authorized
sleep 0.2; [ -e $GPU ] && echo "tunnel?!"
$P write $D/key '$KEY'
$P write $D/authorized 2
cat $D/authorized
wait_exists $GPU && echo tunnel' --tunnel-delay-ms 0 "$SECURE")
        expect "challenge" "err EINVAL
ok 64
err EKEYREJECTED
0
ok 64
ok 1
2
tunnel" "$out"
}

t_stdio() {
        out=$(sim_sh '
$P fprintf $D/authorized "1\n"
$P fprintf $D/authorized "1\n"
$P fflush $D/authorized "1\n"
echo 1 >$D/authorized 2>/dev/null || echo "echo failed"
cat $D/authorized' --tunnel-delay-ms -1 "$EGPU")
        expect "stdio" "ok
err EINVAL
err EINVAL
echo failed
1" "$out"
}

t_driver_override() {
        out=$(sim_sh '
attach
cat $GPU/driver_override
$P write $GPU/driver_override "vfio-pci\n"; cat $GPU/driver_override
$P write $GPU/driver_override "\n"; cat $GPU/driver_override
$P write $GPU/driver_override "amdgpu\nxyz"; cat $GPU/driver_override
drv $GPU' --tunnel-delay-ms 0 "$EGPU")
        expect "driver_override" "(null)
ok 9
vfio-pci
ok 1
(null)
ok 10
amdgpu
amdgpu" "$out"
}

t_drivers_probe() {
        out=$(sim_sh '
attach
$P write /sys/bus/pci/drivers_probe 0000:99:00.0
echo vfio-pci >$GPU/driver_override
$P write /sys/bus/pci/drivers_probe 0000:30:00.0
drv $GPU
echo 0000:30:00.0 >$GPU/driver/unbind
$P write /sys/bus/pci/drivers_probe "0000:30:00.0\n"
drv $GPU
echo nosuch >$AUDIO/driver_override
echo 0000:30:00.1 >/sys/bus/pci/drivers/snd_hda_intel/unbind
$P write /sys/bus/pci/drivers_probe 0000:30:00.1
drv $AUDIO
echo >$AUDIO/driver_override
$P write /sys/bus/pci/drivers_probe 0000:30:00.1
drv $AUDIO' --tunnel-delay-ms 0 "$EGPU")
        expect "drivers_probe" "err ENODEV
ok 12
amdgpu
ok 13
vfio-pci
ok 12
none
ok 12
snd_hda_intel" "$out"
}

# Power: power/control "on" forbids runtime PM and resumes to D0, "auto" allows it, anything else EINVAL;
# binding to vfio-pci allows runtime PM (and puts the function in D0), unbinding forbids it again; the
# control command "suspend" is runtime PM suspending an idle function, refused while it is forbidden.
t_power() {
        sock=$TMP/ctl
        out=$(sim_sh '
C="$EGPU_SIM_CTL $EGPU_SIM_CONTROL"
attach
echo "$(cat $GPU/power_state) $(cat $GPU/power/control)"
$C suspend 0000:30:00.0 D3cold || true
$P write $GPU/power/control auto
$C suspend 0000:30:00.0 D3cold
cat $GPU/power_state
$P write $GPU/power/control sometimes
$P write $GPU/power/control "on\n"
echo "$(cat $GPU/power_state) $(cat $GPU/power/control)"
$C suspend 0000:30:00.0 D2 || true
$C suspend 0000:99:00.0 D3hot || true
$P write $GPU/driver/unbind 0000:30:00.0
echo vfio-pci >$GPU/driver_override
$P write /sys/bus/pci/drivers/vfio-pci/bind 0000:30:00.0
cat $GPU/power/control
$C suspend 0000:30:00.0 D3hot
$P write $GPU/driver/unbind 0000:30:00.0
echo "$(cat $GPU/power_state) $(cat $GPU/power/control)"' --tunnel-delay-ms 0 --control "$sock" "$EGPU")
        expect "power" "D0 on
error Operation not permitted
ok 4
ok
D3cold
err EINVAL
ok 3
D0 on
error Invalid argument
error No such device
ok 12
ok 12
auto
ok
ok 12
D3hot on" "$out"
}

t_bind_unbind() {
        out=$(sim_sh '
attach
$P write /sys/bus/pci/drivers/vfio-pci/unbind 0000:30:00.0
$P write /sys/bus/pci/drivers/amdgpu/unbind 0000:30:00.0
drv $GPU; grep -c DRIVER $GPU/uevent || true; ls /sys/bus/pci/drivers/amdgpu | grep -c 0000 || true
$P write /sys/bus/pci/drivers/amdgpu/unbind 0000:30:00.0
$P write /sys/bus/pci/drivers/vfio-pci/bind 0000:30:00.0
$P write /sys/bus/pci/drivers/amdgpu/bind 0000:30:00.0
drv $GPU
$P write /sys/bus/pci/drivers/amdgpu/bind 0000:30:00.0
$P write /sys/bus/pci/drivers/snd_hda_intel/bind 0000:30:00.0
echo vfio-pci >$GPU/driver_override
$P write /sys/bus/pci/drivers/vfio-pci/bind 0000:30:00.0
$P write $GPU/driver/unbind 0000:30:00.0
$P write /sys/bus/pci/drivers/amdgpu/bind 0000:30:00.0
$P write /sys/bus/pci/drivers/vfio-pci/bind 0000:30:00.0
drv $GPU' --tunnel-delay-ms 0 "$EGPU")
        # unbind: ENODEV unless bound to that driver; bind: ENODEV unless the driver matches, EBUSY when bound
        expect "bind/unbind" "err ENODEV
ok 12
none
0
0
err ENODEV
err ENODEV
ok 12
amdgpu
err EBUSY
err ENODEV
err EBUSY
ok 12
err ENODEV
ok 12
vfio-pci" "$out"
}

t_new_id() {
        out=$(sim_sh '
attach
echo 0000:30:00.0 >$GPU/driver/unbind
echo 0000:30:00.1 >$AUDIO/driver/unbind
echo snd_hda_intel >$AUDIO/driver_override
$P write /sys/bus/pci/drivers/vfio-pci/new_id 1002
$P write /sys/bus/pci/drivers/vfio-pci/new_id "1002 687f"
drv $GPU
$P write /sys/bus/pci/drivers/vfio-pci/new_id "1002 687f"
$P write /sys/bus/pci/drivers/amdgpu/new_id "1002 687f"
$P write /sys/bus/pci/drivers/vfio-pci/new_id "1002 aaf8"
drv $AUDIO
$P write /sys/bus/pci/drivers/vfio-pci/remove_id "1002 687f"
$P write /sys/bus/pci/drivers/vfio-pci/remove_id "1002 687f"
$P write /sys/bus/pci/drivers/vfio-pci/new_id "1002 687f"' --tunnel-delay-ms 0 "$EGPU")
        expect "new_id" "err EINVAL
ok 9
vfio-pci
err EEXIST
err EEXIST
ok 9
none
ok 9
err ENODEV
ok 9" "$out"
}

t_reset_method() {
        out=$(sim_sh '
attach
cat $GPU/reset_method
$P write $GPU/reset_method flr
cat $GPU/reset_method
$P write $GPU/reset_method "bus\n"
cat $GPU/reset_method
$P write $GPU/reset_method "bus nonsense"
$P write $GPU/reset_method default
cat $GPU/reset_method
$P write $GPU/reset_method "\n"
wc -c <$GPU/reset_method
$P write $GPU/reset_method " bus  device_specific "
cat $GPU/reset_method' --tunnel-delay-ms 0 "$EGPU")
        expect "reset_method" "device_specific bus
err EINVAL
device_specific bus
ok 4
bus
err EINVAL
ok 7
device_specific bus
ok 1
0
ok 22
bus device_specific" "$out"
        # without vendor_reset loaded, device_specific is not available for the Vega 10
        cp -a "$EGPU" "$TMP/noreset"
        rm -rf "$TMP/noreset/sysfs/module/vendor_reset"
        out=$(sim_sh '
attach
$P write $GPU/reset_method device_specific
$P write $GPU/reset_method default
cat $GPU/reset_method' --tunnel-delay-ms 0 "$TMP/noreset")
        expect "no vendor_reset" "err EINVAL
ok 7
bus" "$out"
}

t_vfio_dev() {
        out=$(sim_sh '
attach
ls /dev/vfio
echo 0000:30:00.0 >$GPU/driver/unbind
echo vfio-pci >$GPU/driver_override
echo 0000:30:00.0 >/sys/bus/pci/drivers_probe
ls /dev/vfio
stat -c %F /dev/vfio/25
echo 0000:30:00.0 >/sys/bus/pci/drivers/vfio-pci/unbind
ls /dev/vfio' --tunnel-delay-ms 0 "$EGPU")
        expect "/dev/vfio" "vfio
25
vfio
character special file
vfio" "$out"
}

# The VFIO steps of QEMU on the simulated kernel: one open of a group at a time, the group viable only
# once no host driver is left in it, a device descriptor only with the IOMMU set and only for the group's
# functions, the device's regions and its hot-reset set. tests/vm records the same steps on a real kernel.
t_vfio_ioctl() {
        out=$(sim_sh '
attach
bind() { echo $1 >/sys/bus/pci/devices/$1/driver/unbind; echo vfio-pci >/sys/bus/pci/devices/$1/driver_override; echo $1 >/sys/bus/pci/drivers_probe; }
bind 0000:30:00.0
$P vfio 25 0000:30:00.0 0000:30:00.1
echo --
exec 3</dev/vfio/25
$P vfio 25 0000:30:00.0 - | head -n 1
exec 3<&-
echo --
$P vfio 25 0000:30:00.1 - | grep DEVICE_FD:' --tunnel-delay-ms 0 "$EGPU")
        expect "vfio ioctls" "open group: ok
second open of the group: EBUSY
VFIO_GROUP_GET_STATUS: viable
open container: ok
VFIO_GET_API_VERSION: 0
VFIO_CHECK_EXTENSION TYPE1v2: 1
VFIO_SET_IOMMU before a group is set: EINVAL
VFIO_GROUP_SET_CONTAINER: ok
VFIO_GROUP_GET_DEVICE_FD before VFIO_SET_IOMMU: EINVAL
VFIO_SET_IOMMU: ok
VFIO_GROUP_GET_DEVICE_FD of a function outside the group: ENODEV
VFIO_GROUP_GET_DEVICE_FD: ok
VFIO_DEVICE_GET_INFO: pci=1 reset=1 regions=9 irqs=5
region 0: size>0 read=1 write=1
region 2: size>0 read=1 write=1
region 4: size>0 read=1 write=1
region 5: size>0 read=1 write=1
region 6: size>0 read=1 write=0
region 7: size>0 read=1 write=1
region 8: EINVAL
VFIO_DEVICE_GET_PCI_HOT_RESET_INFO with no room: ENOSPC, count=2
--
open group: EBUSY
--
VFIO_GROUP_GET_DEVICE_FD: ENODEV" "$out"
}

# A group with a member on a host driver is not viable, and cannot be put in a container.
t_vfio_not_viable() {
        out=$(sim_sh '
attach
echo 0000:30:00.0 >/sys/bus/pci/devices/0000:30:00.0/driver/unbind
echo vfio-pci >/sys/bus/pci/devices/0000:30:00.0/driver_override
echo 0000:30:00.0 >/sys/bus/pci/drivers_probe
# 30:00.1 (still on snd_hda_intel) moves into group 25: both of the links the kernel makes
ln -s ../../../../devices/pci0000:00/0000:00:07.2/0000:2c:00.0/0000:2d:01.0/0000:2e:00.0/0000:2f:00.0/0000:30:00.1 $UMOCKDEV_DIR/sys/kernel/iommu_groups/25/devices/0000:30:00.1
ln -sfn ../../../../../../../../kernel/iommu_groups/25 $UMOCKDEV_DIR/sys/devices/pci0000:00/0000:00:07.2/0000:2c:00.0/0000:2d:01.0/0000:2e:00.0/0000:2f:00.0/0000:30:00.1/iommu_group
$P vfio 25 0000:30:00.0 - | sed -n "3p;8p"' --tunnel-delay-ms 0 "$EGPU")
        expect "vfio not viable" "VFIO_GROUP_GET_STATUS: not viable
VFIO_GROUP_SET_CONTAINER: EPERM" "$out"
}

t_enumerate() {
        out=$(sim_sh '
attach
$P enumerate pci DRIVER | grep 0000:30:00
echo 0000:30:00.0 >$GPU/driver/unbind
$P enumerate pci DRIVER | grep 0000:30:00.0
$P enumerate thunderbolt DEVTYPE | grep -c "^1-1 "' --tunnel-delay-ms 0 "$EGPU")
        expect "enumerate" "0000:30:00.0 DRIVER=amdgpu
0000:30:00.1 DRIVER=snd_hda_intel
0000:30:00.0 DRIVER=
1" "$out"
}

t_fault() {
        out=$(sim_sh '
$P write $D/authorized 1
$P write $D/authorized 1
cat $D/authorized
$P write /sys/bus/pci/drivers_probe 0000:00:02.0
$P write /sys/bus/pci/drivers_probe 0000:00:02.0
$P write /sys/bus/pci/devices/0000:00:02.0/d3cold_allowed 0
cat /sys/bus/pci/devices/0000:00:02.0/d3cold_allowed
$P write /sys/bus/pci/devices/0000:00:14.0/d3cold_allowed 0' \
                --tunnel-delay-ms -1 --fault '*/1-1/authorized:EIO:1' --fault '/sys/bus/pci/drivers_probe:EBUSY' \
                --fault 'devices/*/0000:00:02.0/d3cold_allowed:13' "$EGPU")
        expect "faults" "err EIO
ok 1
1
err EBUSY
err EBUSY
err EACCES
1
ok 1" "$out"
}

t_block() {
        out=$(sim_sh '
$P timed-write $D/authorized 1 | tr "\n" " "; echo
$P timed-write /sys/bus/pci/drivers_probe 0000:00:02.0 | head -n1
timeout 0.2 $P write $D/authorized 0 || echo "timed out: $?"' \
                --tunnel-delay-ms -1 --block '*/1-1/authorized:400' "$EGPU")
        ms=$(echo "$out" | head -n1 | sed -n 's/^ok 1 ms \([0-9]*\) $/\1/p')
        [ -n "$ms" ] && [ "$ms" -ge 380 ] || fail "the write did not block: $out"
        expect "block" "ok 12
timed out: 124" "$(echo "$out" | tail -n2)"
}

t_vanish() {
        out=$(sim_sh '
attach
$P write $GPU/driver_override vfio-pci
[ -e $GPU ] && echo "still there" || echo "GPU gone"
drv $AUDIO
$P write /sys/bus/pci/drivers/vfio-pci/bind 0000:30:00.1
[ -e $AUDIO ] && echo "still there" || echo "audio gone"
[ -e /sys/bus/pci/devices/0000:31:00.0 ] && echo "xhci there"' \
                --tunnel-delay-ms 0 --vanish-on '*/0000:30:00.0/driver_override' \
                --vanish-on 'bus/pci/drivers/vfio-pci/bind' "$EGPU")
        expect "vanish pci" "err ENODEV
GPU gone
snd_hda_intel
err ENODEV
audio gone
xhci there" "$out"
        # a descriptor opened before the device went away: ENODEV
        out=$(sim_sh '
attach
exec 3>$AUDIO/driver_override
$P write $AUDIO/reset_method bus
wait_gone $AUDIO && echo "audio gone"
echo vfio-pci >&3 2>/dev/null || echo "write failed"' --tunnel-delay-ms 0 --vanish-on '*/0000:30:00.1/reset_method' "$EGPU")
        expect "vanish open fd" "err ENODEV
audio gone
write failed" "$out"
        out=$(sim_sh '
$P watch-write $D/authorized 1 remove:1-1 2000
[ -e $D ] && echo "1-1 there" || echo "1-1 gone"' --tunnel-delay-ms 0 --vanish-on '*/1-1/authorized' "$EGPU")
        expect "vanish thunderbolt" "err ENODEV
now absent
remove 1-1
done
1-1 gone" "$out"
}

# --change-on-read: the first two reads see the old value (through the symlinked path too), every later one
# the new; other files keep theirs; a glob holding ':' is split at the last two colons.
t_change_on_read() {
        out=$(sim_sh '
cat $D/unique_id
cat /sys/devices/pci0000:00/0000:00:0d.3/domain1/1-0/1-1/unique_id
cat $D/unique_id
cat $D/unique_id
cat $D/vendor_name
cat /sys/bus/pci/devices/0000:00:02.0/vendor' \
                --change-on-read '*/1-1/unique_id:2:11111111-2222-3333-4444-555555555555' \
                --change-on-read '*/0000:00:02.0/vendor:0:0x1234' "$EGPU")
        expect "change on read" "c9030000-0060-6c0e-83b6-5e1b2f4a1d07
c9030000-0060-6c0e-83b6-5e1b2f4a1d07
11111111-2222-3333-4444-555555555555
11111111-2222-3333-4444-555555555555
Blackmagic Design
0x1234" "$out"
        if sim --change-on-read '*/unique_id:x:1' "$EGPU" -- true 2>/dev/null; then
                fail "a count that is not a number was taken"
        fi
}

t_uevent_file() {
        out=$(sim_sh '
$P watch-write /sys/bus/pci/devices/0000:00:02.0/uevent "change\n" change:0000:00:02.0 2000
$P write /sys/bus/pci/devices/0000:00:02.0/uevent bogus
grep PCI_ID /sys/bus/pci/devices/0000:00:02.0/uevent' "$EGPU")
        expect "uevent" "ok 7
now present
change 0000:00:02.0
done
err EINVAL
PCI_ID=8086:7D55" "$out"
}

t_tunnel_never() {
        out=$(sim_sh '
$P write $D/authorized 1
sleep 0.5
ls /sys/bus/pci/devices | grep -c 0000:2c || true
cat $D/authorized' --tunnel-delay-ms -1 "$EGPU")
        expect "never" "ok 1
0
1" "$out"
}

t_control() {
        sock=$TMP/ctl
        out=$(sim_sh '
C="$EGPU_SIM_CTL $EGPU_SIM_CONTROL"
$C ping
$C plug 1-1 || true
$C unplug 1-1
[ -e $D ] || echo "1-1 gone"
$C unplug 1-1 || true
$C plug 1-1
cat $D/authorized
echo 1 >$D/authorized
$C wait-driver 0000:30:00.0 amdgpu 3000
$C wait-driver 0000:30:00.0 vfio-pci 100 || echo "exit $?"
$C unplug 1-1
wait_gone $GPU && echo "GPU gone"
$C frobnicate || true
$C fault "*/0000:00:02.0/d3cold_allowed:EIO:1"
$P write /sys/bus/pci/devices/0000:00:02.0/d3cold_allowed 0
$P write /sys/bus/pci/devices/0000:00:02.0/d3cold_allowed 0
$C block "*/0000:00:02.0/d3cold_allowed:300"
$P timed-write /sys/bus/pci/devices/0000:00:02.0/d3cold_allowed 1 | sed -n "s/^ms \([0-9]*\)$/\1/p" | while read ms; do [ "$ms" -ge 280 ] && echo blocked; done
$C fault "nonsense" || true' --tunnel-delay-ms 200 --control "$sock" "$EGPU")
        expect "control" "ok
error File exists
ok
1-1 gone
error No such device
ok
0
ok
timeout amdgpu
exit 1
ok
GPU gone
error unknown command
ok
err EIO
ok 1
ok
blocked
error bad fault rule" "$out"
        # quit ends COMMAND with SIGTERM
        start=$(date +%s)
        rc=0
        sim_sh '$EGPU_SIM_CTL $EGPU_SIM_CONTROL quit >/dev/null; sleep 30' --control "$sock" "$EGPU" || rc=$?
        [ $(($(date +%s) - start)) -lt 10 ] || fail "quit did not end the command"
        [ $rc -ne 0 ] || fail "quit: exit status 0"
}

t_script() {
        printf '# unplug 1-1 after 100 ms\n100 unplug 1-1\n' >"$TMP/script"
        out=$(sim_sh '
[ -e $D ] && echo "1-1 there"
wait_gone $D && echo "1-1 gone"' --script "$TMP/script" "$EGPU")
        expect "script" "1-1 there
1-1 gone" "$out"
}

t_e2big() {
        long=$(printf '%5000s' x)
        out=$(sim_sh '
attach
$P write $GPU/driver_override "'"$long"'"
$P write $GPU/driver_override "'"$(printf '%4095s' x)"'"
cat $GPU/driver_override' --tunnel-delay-ms 0 "$EGPU")
        expect "E2BIG" "err E2BIG
err EINVAL
(null)" "$out"
}

t_passthrough() {
        : >"$TMP/plain"
        out=$(sim_sh '
$P write /sys/bus/pci/devices/0000:00:02.0/d3cold_allowed 0
cat /sys/bus/pci/devices/0000:00:02.0/d3cold_allowed
$P write '"$TMP"'/plain "hello\n"
cat '"$TMP"'/plain
echo done' "$EGPU")
        expect "passthrough" "ok 1
0
ok 6
hello
done" "$out"
}

run_case "${1:-}"
