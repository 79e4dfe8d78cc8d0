#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# The engine (enroll, attach, detach, daemon) on the simulated kernel: engine-test.sh CASE.
# meson sets EGPUCTL, EGPU_SIM, EGPU_SIM_CTL, EGPU_SIM_PRELOAD, SIM_SCENARIOS and VARIANT.
set -eu

: "${EGPUCTL:?}" "${EGPU_SIM:?}" "${EGPU_SIM_CTL:?}" "${EGPU_SIM_PRELOAD:?}" "${SIM_SCENARIOS:?}" "${VARIANT:?}" "${QMP_STANDIN:?}"
. "$(dirname "$0")/../case-lib.sh"
export STATE_DIRECTORY="$TMP/state" RUNTIME_DIRECTORY="$TMP/run" EGPUCTL EGPU_SIM_CTL QMP_STANDIN

# Shell functions every command script gets; every wait is bounded.
PRELUDE='
set -u
E=$EGPUCTL
D=/sys/bus/thunderbolt/devices/1-1
GPU=/sys/bus/pci/devices/0000:30:00.0
AUDIO=/sys/bus/pci/devices/0000:30:00.1
drv() { if [ -e "$1/driver" ]; then basename "$(readlink "$1/driver")"; else echo none; fi; }
ovr() { if [ -e "$1/driver_override" ]; then cat "$1/driver_override"; else echo gone; fi; }
auth() { cat $D/authorized 2>/dev/null || echo gone; }
state() { echo "auth=$(auth) gpu=$(drv $GPU)/$(ovr $GPU) audio=$(drv $AUDIO)/$(ovr $AUDIO)"; }
ctl() { "$EGPU_SIM_CTL" "$EGPU_SIM_CONTROL" "$@"; }
wait_bound() { ctl wait-driver 0000:30:00.0 vfio-pci ${1:-5000} >/dev/null && ctl wait-driver 0000:30:00.1 vfio-pci ${1:-5000} >/dev/null; }
# pair 0000:54:00: the drivers of the GPU and audio functions of that slot; wait_pair SLOT: both on vfio-pci
pair() { echo "$1 $(drv /sys/bus/pci/devices/$1.0)/$(drv /sys/bus/pci/devices/$1.1)"; }
wait_pair() { ctl wait-driver $1.0 vfio-pci 5000 >/dev/null && ctl wait-driver $1.1 vfio-pci 5000 >/dev/null; }
wait_file() { i=0; while [ ! -e "$1" ] && [ $i -lt 500 ]; do sleep 0.01; i=$((i + 1)); done; [ -e "$1" ]; }
wait_gone() { i=0; while [ -e "$1" ] && [ $i -lt 500 ]; do sleep 0.01; i=$((i + 1)); done; [ ! -e "$1" ]; }
# The daemon ($pid, its log in $TMPDIR/log) in the middle of attaching 1-1, enrolled and then plugged:
# the tunnel is authorized, its functions not there yet (with --tunnel-delay-ms).
daemon_attaching() {
        ctl plug 1-1 >/dev/null; $E enroll 1-1 >/dev/null; ctl unplug 1-1 >/dev/null
        $E daemon 2>$TMPDIR/log &
        pid=$!
        wait_log Ready
        ctl plug 1-1 >/dev/null
        wait_log "1-1: authorized"
}
# A stand-in VM holding /dev/vfio/$1 ($vm: its PID), once the group can be opened: the kernel lets one
# process at a time open it, and the VFIO pre-flight of egpuctl has it for a moment after binding, so
# the holder retries its own open (a probe first, then a shell redirection, lost that race in CI).
hold_group() {
        rm -f $TMPDIR/held.$1
        python3 -c "
import os, sys, time
for _ in range(250):
    try:
        fd = os.open(sys.argv[1], os.O_RDONLY)
        break
    except OSError:
        time.sleep(0.02)
else:
    sys.exit(1)
os.close(os.open(sys.argv[2], os.O_CREAT | os.O_WRONLY))
time.sleep(30)" /dev/vfio/$1 $TMPDIR/held.$1 &
        vm=$!
        wait_file $TMPDIR/held.$1
}
# start_vm VMID [QEMU ARGS]: a stand-in for the QEMU of VM VMID (tests/engine/qmp-standin.py), its QMP
# socket at ${QMP_DIR:-$TMPDIR}/VMID.qmp; its PID in $vm once it listens.
start_vm() {
        id=$1
        shift
        rm -f $TMPDIR/vm$id.ready
        python3 "$QMP_STANDIN" -id $id -chardev socket,id=qmp,path=${QMP_DIR:-$TMPDIR}/$id.qmp,server=on,wait=off \
                -mon chardev=qmp,mode=control "$@" --ready $TMPDIR/vm$id.ready &
        vm=$!
        wait_file $TMPDIR/vm$id.ready
}
# waits (at most 30 s) until the daemon logged a line matching $1 in $TMPDIR/log
wait_log() { i=0; while ! grep -qs "$1" $TMPDIR/log && [ $i -lt 3000 ]; do sleep 0.01; i=$((i + 1)); done; }
# whether a process holds /dev/vfio/$1 (a VM runs with it)
held() { if (exec 2>/dev/null; : </dev/vfio/$1); then echo free; else echo held; fi; }
pids() { sed -e "s/PID [0-9]*/PID N/g" -e "s|$TMPDIR|TMP|g"; }
PORTS="-device pcie-root-port,id=rp1,chassis=1 -device pcie-root-port,id=rp2,chassis=2,pref64-reserve=16G"
COLD="-device pcie-root-port,id=rp1,chassis=1 -device vfio-pci,host=0000:30:00.1,id=hostpci0.1,bus=rp1,addr=0.1 -device vfio-pci,host=0000:30:00.0,id=hostpci0.0,bus=rp1,addr=0.0,multifunction=on"
# The same as a QEMU command line by hand often has it: devices without id=, in QOM /machine/peripheral-anon
ANON="-device pcie-root-port,id=rp1,chassis=1 -device vfio-pci,host=0000:30:00.1,bus=rp1,addr=0.1 -device vfio-pci,host=0000:30:00.0,bus=rp1,addr=0.0,multifunction=on"
'

# sim_sh [OPTION]... SCENARIO SCRIPT: runs SCRIPT with sh inside egpu-sim; prints what it prints.
sim_sh() {
        n=$#
        script=$(eval echo "\"\${$n}\"")
        i=1
        set -- "$@"
        args=""
        while [ $i -lt $n ]; do
                args="$args \"\${$i}\""
                i=$((i + 1))
        done
        eval "\"\$EGPU_SIM\" --preload \"\$EGPU_SIM_PRELOAD\" --control \"\$TMP/ctl\" $args -- sh -c \"\$PRELUDE
\$script\""
}

EGPU=$SIM_SCENARIOS/egpu
SECURE=$SIM_SCENARIOS/secure
variant() {
        name=$1
        shift
        rm -rf "$TMP/$name"
        "$VARIANT" "$EGPU" "$TMP/$name" "$@" >&2
        echo "$TMP/$name"
}

# Hot-plug's host-driver race included: the simulated kernel gives the functions to amdgpu and
# snd_hda_intel first; attach moves them, verifies, and a second run changes nothing.
t_attach() {
        out=$(sim_sh "$EGPU" '
$E enroll 1-1 >/dev/null
$E attach; echo "rc=$?"
state
test -c /dev/vfio/25 && test -c /dev/vfio/26 && echo vfio-nodes
$E attach; echo "rc=$?"' 2>&1)
        expect "attach" "1-1: authorized (user level)
1-1: tunnel up, eGPU 0000:30:00.0 appeared: 0000:30:00.0, 0000:30:00.1
0000:30:00.0: moved from amdgpu to vfio-pci
0000:30:00.1: moved from snd_hda_intel to vfio-pci
IOMMU group 25: ready for a VM (type1v2 container; 0000:30:00.0: 6 regions, resets by itself)
IOMMU group 26: ready for a VM (type1v2 container; 0000:30:00.1: 2 regions, bus reset (also resets 0000:30:00.0))
rc=0
auth=1 gpu=vfio-pci/vfio-pci audio=vfio-pci/vfio-pci
vfio-nodes
1-1: already authorized
0000:30:00.0: already on vfio-pci
0000:30:00.1: already on vfio-pci
1-1: nothing to do, already attached
rc=0" "$out"
}

# Resizable BAR: attach grows the Vega's BAR 0 from 256 MiB to the 8 GiB the bridge window holds, while it is
# unbound (between amdgpu and vfio-pci: the kernel refuses while any driver holds it), and binds as before.
# With a window too small it stays at 256 MiB, said so, and the attach goes on.
t_rebar() {
        v=$(variant rebar rebar)
        out=$(sim_sh "$v" '
$E enroll 1-1 >/dev/null
$E attach; echo "rc=$?"
state
head -n 1 $GPU/resource
$E attach >/dev/null; echo "rc=$?"
head -n 1 $GPU/resource
$E status | grep -c "resizable up to"
$E doctor | grep "bar-size"
$E status --json | python3 -c "
import json, sys
b = json.load(sys.stdin)[\"gpus\"][0][\"functions\"][0][\"bars\"]
print(\"bar\", b[0][\"index\"], b[0][\"size\"], b[0][\"prefetchable\"], b[0][\"64bit\"], b[0][\"resizable_sizes\"])
print(\"bar\", b[1][\"index\"], b[1][\"size\"], b[1][\"resizable_sizes\"])"' 2>&1)
        contains "doctor: at its largest" "0
  ok   bar-size         0000:30:00.0 BAR 0 at its largest size, 8 GiB" "$out"
        contains "status --json" "bar 0 8589934592 True True [268435456, 536870912, 1073741824, 2147483648, 4294967296, 8589934592]
bar 2 2097152 None" "$out"
        contains "grown before the bind" "0000:30:00.0: BAR 0 grown from 256 MiB to 8 GiB (up to 8 GiB)
0000:30:00.0: moved from amdgpu to vfio-pci" "$out"
        contains "bound, BAR 0 8 GiB" "rc=0
auth=1 gpu=vfio-pci/vfio-pci audio=vfio-pci/vfio-pci
0x0000006200000000 0x00000063ffffffff 0x000000000014220c
rc=0
0x0000006200000000 0x00000063ffffffff 0x000000000014220c" "$out"
        v=$(variant small rebar-small-window)
        out=$(sim_sh "$v" '
$E enroll 1-1 >/dev/null
$E attach; echo "rc=$?"
state
head -n 1 $GPU/resource
$E status | grep "resizable up to"
$E doctor --json | python3 -c "
import json, sys
c = [c for c in json.load(sys.stdin)[\"checks\"] if c[\"id\"] == \"bar-size\"][0]
print(c[\"status\"], c[\"summary\"])
print(c[\"fix\"])"' 2>&1)
        # doctor names the size attach left: one plan (pci_function_plan_bars()) for both
        contains "doctor bar-size" "warn 0000:30:00.0 BAR 0: the guest will see 256 MiB instead of 8 GiB: the bridge window above it is 512 MiB, the largest size needs a 16 GiB window" "$out"
        contains "doctor's fix" "pci=realloc,hpmmioprefsize=16G" "$out"
        contains "doctor's fix: attach" "# Then reboot; attach grows the BAR before it binds the eGPU to vfio-pci:
egpuctl detach && egpuctl attach" "$out"
        contains "small window: status" "  BAR 0 of 0000:30:00.0: 256 MiB, resizable up to 8 GiB" "$out"
        contains "small window" "0000:30:00.0: BAR 0 stays at 256 MiB of up to 8 GiB: the bridge window above holds no more (egpuctl doctor, check bar-size)" "$out"
        contains "small window: bound" "rc=0
auth=1 gpu=vfio-pci/vfio-pci audio=vfio-pci/vfio-pci
0x0000006000000000 0x000000600fffffff 0x000000000014220c" "$out"
}

t_attach_json() {
        out=$(sim_sh "$EGPU" '$E enroll 1-1 >/dev/null; $E attach --json')
        echo "$out" | python3 -c '
import json, sys
d = json.load(sys.stdin)["devices"][0]
assert d["device"] == "1-1" and d["changed"] and d["error"] is None, d
assert "0000:30:00.1: moved from snd_hda_intel to vfio-pci" in d["log"], d' || fail "attach --json: $out"
}

t_detach() {
        out=$(sim_sh "$EGPU" '
$E enroll 1-1 >/dev/null
$E attach >/dev/null
$E detach; echo "rc=$?"
wait_gone $GPU
state' 2>&1)
        expect "detach" "0000:30:00.1: driver_override cleared
0000:30:00.1: unbound from vfio-pci
0000:30:00.0: driver_override cleared
0000:30:00.0: unbound from vfio-pci
1-1: de-authorized, tunnel closed
rc=0
auth=0 gpu=none/gone audio=none/gone" "$out"
}

# A VM holds /dev/vfio/25: detach refuses and changes nothing; --force goes on.
t_detach_held() {
        out=$(sim_sh "$EGPU" '
$E enroll 1-1 >/dev/null
$E attach >/dev/null
sleep 30 </dev/vfio/25 &
vm=$!
wait_file /proc/$vm/fd/0
$E detach; echo "rc=$?"
state
$E detach --force >/dev/null; echo "rc=$?"
kill $vm' 2>&1)
        contains "refused" "/dev/vfio/25 is held by process" "$out"
        contains "refused" "rc=1
auth=1 gpu=vfio-pci/vfio-pci audio=vfio-pci/vfio-pci
rc=0" "$out"
}

t_not_enrolled() {
        out=$(sim_sh "$EGPU" '$E attach 1-1; echo "rc=$?"; state' 2>&1)
        contains "refused" "1-1 is not enrolled" "$out"
        contains "closed" "rc=1
auth=0 gpu=none/gone audio=none/gone" "$out"
        # Nothing enrolled: say so, name the command that enrols the connected device, exit 1.
        out=$(sim_sh "$EGPU" '$E attach; echo "rc=$?"; state' 2>&1)
        contains "nothing enrolled" "Nothing is enrolled, so there is nothing to attach" "$out"
        contains "what to run" "1-1 (Blackmagic Design eGPU Pro) is connected and not enrolled; to let egpuctl attach it: egpuctl enroll 1-1" "$out"
        contains "closed" "rc=1
auth=0" "$out"
        out=$(sim_sh "$EGPU" '$E detach; echo "rc=$?"' 2>&1)
        contains "detach: nothing enrolled" "Nothing is enrolled, so there is nothing to detach" "$out"
        contains "detach: exit" "rc=1" "$out"
}

# Enrolled by unique_id: a device that shows the same names but another unique_id stays closed.
t_impostor() {
        v=$(variant impostor uuid=c9030000-0060-6c0e-83b6-ffffffffffff)
        sim_sh "$EGPU" '$E enroll 1-1 >/dev/null'
        out=$(sim_sh "$v" '$E list; $E attach 1-1; echo "rc=$?"; $E attach; echo "rc=$?"; state' 2>&1)
        contains "names match" "Blackmagic Design  eGPU Pro" "$out"
        contains "refused" "1-1 is not enrolled (unique_id c9030000-0060-6c0e-83b6-ffffffffffff)" "$out"
        contains "closed" "rc=1" "$out"
        contains "closed" "auth=0" "$out"
}

# A unique_id that changes between reads (the device behind 1-1 replaced while attach runs): for every
# point at which it may change, attach either refuses with the tunnel closed, or the change came only
# after the authorizing write. The read right before the write must catch it at least once.
t_uid_changes() {
        sim_sh "$EGPU" '$E enroll 1-1 >/dev/null'
        caught=0
        for n in 0 1 2 3 4 5; do
                out=$(EGPU_SIM_DEBUG=1 sim_sh --change-on-read "*/1-1/unique_id:$n:c9030000-0060-6c0e-83b6-ffffffffffff" \
                        "$EGPU" '$E attach; echo "rc=$?"; echo "auth=$(auth)"' 2>&1)
                case "$out" in
                *"changed its unique_id to c9030000-0060-6c0e-83b6-ffffffffffff while being authorized; refusing"*)
                        caught=1 ;;
                esac
                case "$out" in
                *auth=0*) contains "after $n reads: refused" "rc=" "$out" ;;
                *auth=1*)
                        # authorized: only if the new value was first read after the write
                        echo "$out" | grep -E "now reads|write .*/1-1/authorized" | head -1 | grep -q "write" ||
                                fail "after $n reads: authorized a device whose unique_id had changed: $out" ;;
                *) fail "after $n reads: $out" ;;
                esac
        done
        [ $caught = 1 ] || fail "the read before authorizing never saw the change"
}

# Secure level, firmware connection manager: the first connect stores the key (1) and records it; a
# device that fails the challenge (2) is refused and stays closed.
t_secure() {
        out=$(sim_sh "$SECURE" '
$E enroll 1-1; $E attach; echo "rc=$?"; state
grep -c "^key=" $STATE_DIRECTORY/devices/*.conf; grep "^key_approved" $STATE_DIRECTORY/devices/*.conf' 2>&1)
        contains "enrolled" "with a secure-connect key" "$out"
        contains "stored" "1-1: authorized (key stored in the device)" "$out"
        contains "bound" "rc=0
auth=1 gpu=vfio-pci/vfio-pci audio=vfio-pci/vfio-pci
1
key_approved=1" "$out"
        # The next connect challenges the device with the record's key, which it does not hold.
        out=$(sim_sh "$SECURE" '$E attach; echo "rc=$?"; state' 2>&1)
        contains "refused" "REFUSED 1-1" "$out"
        contains "closed" "rc=1
auth=0 gpu=none/gone audio=none/gone" "$out"
}

t_shared_group() {
        v=$(variant shared shared-group)
        out=$(sim_sh "$v" '$E enroll 1-1 >/dev/null; $E attach; echo "rc=$?"; state
echo "usb=$(drv /sys/bus/pci/devices/0000:31:00.0)"' 2>&1)
        contains "refused" "IOMMU group 25 of eGPU 0000:30:00.0 holds 0000:30:00.0 (eGPU, amdgpu), 0000:31:00.0 (xhci_hcd)" "$out"
        contains "nothing changed" "rc=1
auth=1 gpu=amdgpu/(null) audio=snd_hda_intel/(null)
usb=xhci_hcd" "$out"
}

t_twin_untouched() {
        v=$(variant twin internal-twin)
        out=$(sim_sh "$v" '$E enroll 1-1 >/dev/null; $E status --json | python3 -c "import json,sys; print([g[\"bdf\"] for g in json.load(sys.stdin)[\"gpus\"]])"
$E attach >/dev/null; echo "rc=$?"; state
T=/sys/bus/pci/devices/0000:59:00.0; echo "twin=$(drv $T)/$(ovr $T)"' 2>&1)
        expect "twin" "[]
rc=0
auth=1 gpu=vfio-pci/vfio-pci audio=vfio-pci/vfio-pci
twin=amdgpu/(null)" "$out"
}

# A write that fails: the error is named, and nothing is left half-bound.
t_fault_eio() {
        out=$(sim_sh --fault '*/0000:30:00.1/driver_override:EIO:1' "$EGPU" '
$E enroll 1-1 >/dev/null; $E attach; echo "rc=$?"; state' 2>&1)
        contains "error" "Failed to attach '1-1': Failed to set driver_override of 0000:30:00.1 to vfio-pci" "$out"
        contains "put back" "0000:30:00.0: put back as it was (driver amdgpu)" "$out"
        contains "state" "rc=1
auth=1 gpu=amdgpu/(null) audio=snd_hda_intel/(null)" "$out"
}

t_fault_ebusy() {
        out=$(sim_sh --fault '*/drivers/snd_hda_intel/unbind:EBUSY:1' "$EGPU" '
$E enroll 1-1 >/dev/null; $E attach; echo "rc=$?"; state; $E attach >/dev/null; echo "rc=$?"; state' 2>&1)
        contains "error" "Failed to unbind 0000:30:00.1 from snd_hda_intel" "$out"
        contains "state" "rc=1
auth=1 gpu=amdgpu/(null) audio=snd_hda_intel/(null)
rc=0
auth=1 gpu=vfio-pci/vfio-pci audio=vfio-pci/vfio-pci" "$out"
}

# Every write attach makes, failing with each errno the kernel gives for it (Documentation/ABI and the
# kernel facts of tests/vm): a clear error naming the write, exit 1, and nothing left half-bound: the
# functions are either on vfio-pci with the override (the failure came after) or as the kernel left them.
t_fault_matrix() {
        for spec in '*/1-1/authorized:EINVAL' '*/1-1/authorized:EPERM' '*/1-1/authorized:ENOMEM' \
                '*/1-1/authorized:EIO' '*/0000:30:00.0/driver_override:EINVAL' \
                '*/0000:30:00.0/driver_override:ENOMEM' '*/drivers/amdgpu/unbind:ENODEV' \
                '*/drivers/amdgpu/unbind:EBUSY' 'bus/pci/drivers_probe:ENODEV' 'bus/pci/drivers_probe:ENOMEM'; do
                out=$(sim_sh --fault "$spec:1" "$EGPU" '
$E enroll 1-1 >/dev/null
$E attach; echo "rc=$?"
for f in $GPU $AUDIO; do
        d=$(drv $f); o=$(ovr $f)
        case "$d/$o" in
        vfio-pci/vfio-pci|amdgpu/\(null\)|snd_hda_intel/\(null\)|none/gone|none/\(null\)) ;;
        *) echo "half-bound: $f $d/$o" ;;
        esac
done' 2>&1)
                contains "$spec: error" "egpuctl: Failed to attach '1-1': " "$out"
                contains "$spec: exit" "rc=1" "$out"
                case "$out" in
                *half-bound*) fail "$spec: $out" ;;
                esac
        done
}

# The writes attach makes only in some setups, failing with each errno the kernel gives: a secure-level
# domain's key (EINVAL: not 64 hex digits, EBUSY: a key operation runs, ENOMEM, EPERM: the software
# connection manager has no key support) and vendor-reset's reset_method (EINVAL: a method the device
# lacks). A clear error, exit 1, the tunnel left closed after a key failure, and nothing half-bound.
t_fault_matrix_more() {
        for spec in '*/1-1/key:EINVAL' '*/1-1/key:EBUSY' '*/1-1/key:ENOMEM' '*/1-1/key:EPERM'; do
                out=$(sim_sh --fault "$spec:1" "$SECURE" '
$E enroll 1-1 >/dev/null
$E attach; echo "rc=$?"; state' 2>&1)
                contains "$spec: error" "egpuctl: Failed to attach '1-1': Failed to authorize 1-1: " "$out"
                contains "$spec: closed" "rc=1
auth=0 gpu=none/gone audio=none/gone" "$out"
        done
        v=$(variant pcie pcie-gpu)
        out=$(sim_sh --fault '*/0000:01:00.0/reset_method:EINVAL:1' "$v" '
P=/sys/bus/pci/devices/0000:01:00.0; A=/sys/bus/pci/devices/0000:01:00.1
$E enroll 0000:01:00.0 >/dev/null
$E attach; echo "rc=$?"
echo "$(drv $P)/$(ovr $P) $(drv $A)/$(ovr $A) [$(cat $P/reset_method)]"' 2>&1)
        contains "reset_method: error" "Failed to set the reset method of 0000:01:00.0 to 'device_specific bus': Invalid argument" "$out"
        contains "reset_method: as it was" "rc=1
amdgpu/(null) snd_hda_intel/(null) [bus]" "$out"
}

# Every write detach makes, failing with each errno the kernel gives for it: clearing driver_override
# (ENODEV: the device went; clearing only frees, so nothing else), vfio-pci's unbind (ENODEV: not bound
# to it), de-authorizing (EINVAL: already in that state, EPERM: the connection manager cannot, EIO and
# ETIMEDOUT from the firmware). The fault is armed after a good attach. A clear error naming the write
# and exit 1; the tunnel stays open while a function is still on vfio-pci; a second detach finishes.
t_fault_matrix_detach() {
        for spec in '*/0000:30:00.1/driver_override:ENODEV' '*/0000:30:00.0/driver_override:ENODEV' \
                '*/drivers/vfio-pci/unbind:ENODEV' '*/1-1/authorized:EINVAL' '*/1-1/authorized:EPERM' \
                '*/1-1/authorized:EIO' '*/1-1/authorized:ETIMEDOUT'; do
                case "$spec" in
                *0000:30:00.1/driver_override*) what="Failed to clear driver_override of 0000:30:00.1" ;;
                *0000:30:00.0/driver_override*) what="Failed to clear driver_override of 0000:30:00.0" ;;
                *unbind*) what="Failed to unbind 0000:30:00.1 from vfio-pci" ;;
                *) what="Failed to detach '1-1': Failed to de-authorize 1-1" ;;
                esac
                out=$(sim_sh "$EGPU" '
$E enroll 1-1 >/dev/null
$E attach >/dev/null || echo "attach failed"
ctl fault "'"$spec"':1" >/dev/null
$E detach; echo "rc=$?"
state
$E detach >/dev/null; echo "again rc=$?"
wait_gone $GPU
state' 2>&1)
                contains "$spec: error" "$what" "$out"
                contains "$spec: exit" "rc=1" "$out"
                case "$out" in
                *"attach failed"*) fail "$spec: $out" ;;
                *"auth=0 gpu=vfio-pci"* | *"auth=0 gpu=*audio=vfio-pci"*) fail "$spec: tunnel closed under vfio-pci: $out" ;;
                esac
                contains "$spec: second detach" "again rc=0
auth=0 gpu=none/gone audio=none/gone" "$out"
        done
}

# A PCIe eGPU's detach gives the functions back with drivers_probe, which fails with ENODEV when the
# device is dead: said, exit 1, and a second detach gives them back.
t_fault_pcie_detach() {
        v=$(variant pcie pcie-gpu)
        out=$(sim_sh "$v" '
P=/sys/bus/pci/devices/0000:01:00.0; A=/sys/bus/pci/devices/0000:01:00.1
$E enroll 0000:01:00.0 >/dev/null
$E attach >/dev/null || echo "attach failed"
ctl fault "bus/pci/drivers_probe:ENODEV:1" >/dev/null
$E detach 0000:01:00.0; echo "rc=$?"
$E detach 0000:01:00.0 >/dev/null; echo "again rc=$?"
echo "$(drv $P)/$(ovr $P) $(drv $A)/$(ovr $A)"' 2>&1)
        contains "error" "Failed to give 0000:01:00.1 back to the host: No such device" "$out"
        contains "converges" "rc=1
again rc=0
amdgpu/(null) snd_hda_intel/(null)" "$out"
}

# vfio-pci's unbind waits for the VM to let go of the device; detach does not wait past its bound, says
# so, and leaves the tunnel open.
t_fault_detach_block() {
        out=$(sim_sh "$EGPU" '
$E enroll 1-1 >/dev/null
$E attach >/dev/null || echo "attach failed"
ctl block "*/drivers/vfio-pci/unbind:8000" >/dev/null
$E detach; echo "rc=$?"; echo "auth=$(auth)"' 2>&1)
        contains "timeout" "Failed to unbind 0000:30:00.1 from vfio-pci: Connection timed out" "$out"
        contains "rc" "rc=1
auth=1" "$out"
}

# authorized blocks past the bound: a clear error after 5 s, and the program does not hang.
t_fault_block() {
        out=$(sim_sh --block '*/1-1/authorized:8000' "$EGPU" '$E enroll 1-1 >/dev/null; $E attach; echo "rc=$?"' 2>&1)
        contains "timeout" "Authorizing 1-1 did not finish within 5000 ms" "$out"
        contains "rc" "rc=1" "$out"
}

# The device vanishing between read and write, at each write of attach: the router at authorization,
# either function at its override, unbind or probe. A clear error (ENODEV), exit 1, and what is left is
# on its host driver with no override: nothing half-bound.
t_fault_vanish() {
        for spec in '*/1-1/authorized' '*/0000:30:00.0/driver_override' '*/0000:30:00.1/driver_override' \
                '*/drivers/amdgpu/unbind' '*/drivers/snd_hda_intel/unbind' 'bus/pci/drivers_probe'; do
                out=$(sim_sh --vanish-on "$spec" "$EGPU" '
$E enroll 1-1 >/dev/null; $E attach; echo "rc=$?"
for f in $GPU $AUDIO; do
        d=$(drv $f); o=$(ovr $f)
        case "$d/$o" in
        amdgpu/\(null\)|snd_hda_intel/\(null\)|none/gone) ;;
        *) echo "half-bound: $f $d/$o" ;;
        esac
done' 2>&1)
                contains "$spec: error" "egpuctl: Failed to attach '1-1': " "$out"
                contains "$spec: errno" "No such device" "$out"
                contains "$spec: exit" "rc=1" "$out"
                case "$out" in
                *half-bound*) fail "$spec: $out" ;;
                esac
        done
}

t_fault_never() {
        out=$(sim_sh --tunnel-delay-ms -1 "$EGPU" '$E enroll 1-1 >/dev/null; $E attach --timeout 1; echo "rc=$?"' 2>&1)
        contains "timeout" "No eGPU appeared behind 1-1 within 1000 ms" "$out"
        contains "rc" "rc=1" "$out"
}

# Two attaches at once: the second waits for the lock and then finds nothing to do.
t_two_attach() {
        out=$(sim_sh --block '*/1-1/authorized:1500' "$EGPU" '
$E enroll 1-1 >/dev/null
$E attach >$TMPDIR/a 2>&1 &
first=$!
sleep 0.3
$E attach; echo "second rc=$?"
wait $first; echo "first rc=$?"; state' 2>&1)
        contains "second" "nothing to do, already attached
second rc=0
first rc=0
auth=1 gpu=vfio-pci/vfio-pci audio=vfio-pci/vfio-pci" "$out"
}

# Boot with the eGPU connected: the daemon attaches it before it says it is ready; on shutdown it
# closes the tunnel.
t_daemon_boot() {
        out=$(sim_sh "$EGPU" '
$E enroll 1-1 >/dev/null
EGPUCTL_SYSTEM_STATE=stopping $E daemon 2>$TMPDIR/log &
pid=$!
wait_bound
state
kill -TERM $pid; wait $pid; echo "daemon rc=$?"
wait_gone $GPU
state
grep -c "^<[0-7]>" $TMPDIR/log >/dev/null && echo "priorities"' 2>&1)
        expect "boot" "auth=1 gpu=vfio-pci/vfio-pci audio=vfio-pci/vfio-pci
daemon rc=0
auth=0 gpu=none/gone audio=none/gone
priorities" "$out"
}

# Hot-plug with the daemon running: plugged after start, bound by events.
t_daemon_hotplug() {
        v=$(variant hotplug unplugged)
        out=$(sim_sh "$v" '
$E daemon 2>$TMPDIR/log &
pid=$!
sleep 0.2
ctl plug 1-1 >/dev/null
$E enroll 1-1 >/dev/null
ctl unplug 1-1 >/dev/null
ctl plug 1-1 >/dev/null
wait_bound && state
kill -TERM $pid; wait $pid; echo "daemon rc=$?"; state' 2>&1)
        expect "hot-plug" "auth=1 gpu=vfio-pci/vfio-pci audio=vfio-pci/vfio-pci
daemon rc=0
auth=1 gpu=vfio-pci/vfio-pci audio=vfio-pci/vfio-pci" "$out"
}

# A plain restart while a VM holds the group changes nothing, and even at shutdown a held group is
# not pulled away.
t_daemon_restart_vm() {
        out=$(sim_sh "$EGPU" '
$E enroll 1-1 >/dev/null
$E daemon 2>/dev/null &
pid=$!
wait_bound
hold_group 25
EGPUCTL_SYSTEM_STATE=running kill -TERM $pid; wait $pid
state
EGPUCTL_SYSTEM_STATE=stopping $E daemon 2>$TMPDIR/log &
pid=$!
sleep 0.3
kill -TERM $pid; wait $pid
state
grep -c "is held by process" $TMPDIR/log
kill $vm' 2>&1)
        expect "restart" "auth=1 gpu=vfio-pci/vfio-pci audio=vfio-pci/vfio-pci
auth=1 gpu=vfio-pci/vfio-pci audio=vfio-pci/vfio-pci
1" "$out"
}

# A host driver that binds after the attach (a late probe) is moved to vfio-pci by the daemon.
t_daemon_host_driver() {
        out=$(sim_sh "$EGPU" '
$E enroll 1-1 >/dev/null
$E daemon 2>$TMPDIR/log &
pid=$!
wait_bound
# ready: the start-up attaches are over, so what follows is the daemon reacting to the host driver
wait_log Ready
before=$(wc -l <$TMPDIR/log)
echo > $AUDIO/driver_override
echo 0000:30:00.1 > /sys/bus/pci/drivers/vfio-pci/unbind
echo 0000:30:00.1 > /sys/bus/pci/drivers_probe
ctl wait-driver 0000:30:00.1 vfio-pci 5000 >/dev/null
wait_bound && state
kill -TERM $pid; wait $pid
tail -n +$((before + 1)) $TMPDIR/log | grep -E "0000:30:00.1: (moved from snd_hda_intel to|bound to) vfio-pci"' 2>&1)
        expect "host driver" "auth=1 gpu=vfio-pci/vfio-pci audio=vfio-pci/vfio-pci
<6>0000:30:00.1: moved from snd_hda_intel to vfio-pci" "$out"
}

# The daemon killed in the middle of an attach, then started again: it converges. Each step of the
# attach in turn is made to block for a second (authorize, reset method, override, unbind, probe), and
# the daemon is killed while it waits there.
t_daemon_killed() {
        for spec in '*/1-1/authorized' '*/0000:30:00.0/driver_override' '*/drivers/amdgpu/unbind' \
                'bus/pci/drivers_probe' '*/drivers/snd_hda_intel/unbind'; do
                out=$(sim_sh --block "$spec:1000" "$EGPU" '
$E enroll 1-1 >/dev/null
$E daemon 2>/dev/null &
pid=$!
sleep 0.4
kill -KILL $pid; wait $pid 2>/dev/null
$E daemon 2>/dev/null &
pid=$!
wait_bound 8000 && state
kill -TERM $pid; wait $pid' 2>&1)
                expect "killed while blocked in $spec" "auth=1 gpu=vfio-pci/vfio-pci audio=vfio-pci/vfio-pci" "$out"
        done
}

# The unit's SystemCallFilter= allows every system call the daemon makes from start to shutdown
# (start-up attach, ready, an unplug and a hot-plug attach, detach at shutdown), as strace sees them.
# Skips without strace or systemd-analyze, or where ptrace is not allowed.
t_daemon_syscalls() {
        command -v strace >/dev/null && command -v systemd-analyze >/dev/null ||
                skip "needs strace and systemd-analyze"
        sim_sh "$EGPU" '
$E enroll 1-1 >/dev/null
EGPUCTL_SYSTEM_STATE=stopping strace -f -qq -o $TMPDIR/trace $E daemon 2>$TMPDIR/log &
s=$!
wait_bound 8000
wait_log Ready
ctl unplug 1-1 >/dev/null
ctl plug 1-1 >/dev/null
wait_bound 8000
kill -TERM $(cat /proc/$s/task/$s/children)
wait $s
wait_gone $GPU' >/dev/null 2>&1 || true
        [ -s "$TMP/trace" ] && grep -q "detached for shutdown" "$TMP/log" 2>/dev/null ||
                skip "strace could not trace the daemon here: $(head -c 300 "$TMP/log" 2>/dev/null)"
        [ "$(grep -c "1-1: attached" "$TMP/log")" = 2 ] || fail "no hot-plug attach: $(cat "$TMP/log")"
        python3 - "$TMP/trace" "$UNIT_IN" <<'PY' || fail "system calls outside the unit's filter"
import re, subprocess, sys

def expand(name, seen):
    out = subprocess.run(["systemd-analyze", "syscall-filter", name], capture_output=True, text=True,
                         check=True).stdout
    calls = set()
    for line in out.splitlines():
        w = line.split()
        if not w or w[0].startswith("#") or w[0].endswith(":"):
            continue
        if w[0].startswith("@"):
            if w[0] not in seen:
                seen.add(w[0])
                calls |= expand(w[0], seen)
        else:
            calls.add(w[0])
    return calls

allow, deny = None, set()
for line in open(sys.argv[2]):
    m = re.match(r"SystemCallFilter=(~?)(.*)", line.strip())
    if not m:
        continue
    names = set()
    for n in m.group(2).split():
        names |= expand(n, set()) if n.startswith("@") else {n}
    if m.group(1):
        deny |= names
    else:
        allow = names if allow is None else allow | names
made = set()
for line in open(sys.argv[1]):
    m = re.match(r"\d+\s+([a-z0-9_]+)\(", line)
    if m:
        made.add(m.group(1))
bad = sorted(c for c in made if (allow is not None and c not in allow) or c in deny)
print("%d system calls, outside the filter: %s" % (len(made), bad or "none"))
sys.exit(1 if bad else 0)
PY
}

# PCIe-attached (OCuLink) eGPU: enrolled by port, attached without a tunnel, given back on detach.
t_pcie() {
        v=$(variant pcie pcie-gpu internal-twin)
        out=$(sim_sh "$v" '
P=/sys/bus/pci/devices/0000:01:00.0; A=/sys/bus/pci/devices/0000:01:00.1; T=/sys/bus/pci/devices/0000:59:00.0
$E enroll 0000:01:00.0 | sed "s/record pci-[0-9a-f]*/record pci-HASH/"
$E status --json | python3 -c "import json,sys; g=json.load(sys.stdin)[\"gpus\"]; print([(x[\"bdf\"], x[\"kind\"], x[\"port\"], x[\"thunderbolt_device\"]) for x in g])"
$E attach; echo "rc=$?"
echo "$(drv $P) $(drv $A) twin=$(drv $T)"
$E detach; echo "rc=$?"
echo "$(drv $P)/$(ovr $P) $(drv $A)/$(ovr $A) twin=$(drv $T)"' 2>&1)
        expect "pcie" "Enrolled PCIe eGPU 1002:687f below port pci0000:00/01.0 (record pci-HASH), policy auto
[('0000:01:00.0', 'pcie', 'pci0000:00/01.0', None)]
0000:01:00.0: reset method set to 'device_specific bus' (vendor-reset)
0000:01:00.0: moved from amdgpu to vfio-pci
0000:01:00.1: moved from snd_hda_intel to vfio-pci
IOMMU group 43: ready for a VM (type1v2 container; 0000:01:00.0: 1 region, resets by itself)
IOMMU group 44: ready for a VM (type1v2 container; 0000:01:00.1: 1 region, bus reset (also resets 0000:01:00.0))
rc=0
vfio-pci vfio-pci twin=amdgpu
0000:01:00.1: driver_override cleared
0000:01:00.1: unbound from vfio-pci
0000:01:00.1: given back to snd_hda_intel
0000:01:00.0: driver_override cleared
0000:01:00.0: unbound from vfio-pci
0000:01:00.0: given back to amdgpu
0000:01:00.0 is PCIe-attached: there is no tunnel to close; unplug it when the slot allows
rc=0
amdgpu/(null) snd_hda_intel/(null) twin=amdgpu" "$out"
}

# ---------------------------------------------------------------- the eGPU in a running VM (stand-in QEMU)

# vm plug attaches the eGPU, then hot-adds both functions to the port whose prefetchable window holds the
# BARs (rp2: 16 GiB reserved; rp1 has none); the VM then holds both groups, and says so when asked again.
t_live_plug() {
        out=$(sim_sh "$EGPU" '
$E enroll 1-1 >/dev/null
start_vm 100 $PORTS
{ $E vm plug 100 --qmp $TMPDIR/100.qmp; echo "rc=$?"; } 2>&1 | pids
echo "groups $(held 25) $(held 26)"
$E vm plug 100 --qmp $TMPDIR/100.qmp 2>&1 | pids | tail -n 1
kill $vm' 2>&1)
        expect "vm plug" "1-1: authorized (user level)
1-1: tunnel up, eGPU 0000:30:00.0 appeared: 0000:30:00.0, 0000:30:00.1
0000:30:00.0: moved from amdgpu to vfio-pci
0000:30:00.1: moved from snd_hda_intel to vfio-pci
IOMMU group 25: ready for a VM (type1v2 container; 0000:30:00.0: 6 regions, resets by itself)
IOMMU group 26: ready for a VM (type1v2 container; 0000:30:00.1: 2 regions, bus reset (also resets 0000:30:00.0))
VM 100: eGPU 0000:30:00.0 plugged into port rp2
VM 100 lists every function of eGPU 0000:30:00.0 behind rp2
rc=0
groups held held
VM 100 has eGPU 0000:30:00.0 already" "$out"
}

# vm unplug: the VM gives the functions back (no guest powered the slot on: at once), lets go of the groups,
# and the functions stay on vfio-pci for the next VM.
t_live_unplug() {
        out=$(sim_sh "$EGPU" '
$E enroll 1-1 >/dev/null
start_vm 100 $PORTS
$E vm plug 100 --qmp $TMPDIR/100.qmp >/dev/null 2>&1
{ $E vm unplug 100 --qmp $TMPDIR/100.qmp; echo "rc=$?"; } 2>&1 | pids
echo "groups $(held 25) $(held 26)"
state
kill $vm' 2>&1)
        expect "vm unplug" "VM 100: egpuctl-0000-30-00.0 (0000:30:00.0) taken out
VM 100 let go of eGPU 0000:30:00.0
eGPU 0000:30:00.0 is free: its functions stay on vfio-pci for the next VM.
0000:30:00.0: in D0 (power/control on)
0000:30:00.1: in D0 (power/control on)
0000:30:00.0: resets by itself
0000:30:00.1: bus reset (also resets 0000:30:00.0)
rc=0
groups free free
auth=1 gpu=vfio-pci/vfio-pci audio=vfio-pci/vfio-pci" "$out"
}

# eject: finds the VM by the group holder's command line, takes the eGPU out, detaches, says it is safe.
t_live_eject() {
        out=$(sim_sh "$EGPU" '
$E enroll 1-1 >/dev/null
start_vm 100 $PORTS
$E vm plug 100 --qmp $TMPDIR/100.qmp >/dev/null 2>&1
{ $E eject; echo "rc=$?"; } 2>&1 | pids
wait_gone $GPU
state
kill $vm' 2>&1)
        expect "eject" "VM 100 (PID N): egpuctl-0000-30-00.0 (0000:30:00.0) taken out
VM 100 (PID N) let go of eGPU 0000:30:00.0
0000:30:00.1: driver_override cleared
0000:30:00.1: unbound from vfio-pci
0000:30:00.0: driver_override cleared
0000:30:00.0: unbound from vfio-pci
1-1: de-authorized, tunnel closed
1-1: safe to unplug
rc=0
auth=0 gpu=none/gone audio=none/gone" "$out"
}

# A VM that never lets go (the functions given at its start sit in a powered slot, and no guest answers):
# eject gives up at its bound, names the VM and what to do, and changes nothing on the host.
t_live_eject_held() {
        out=$(sim_sh "$EGPU" '
$E enroll 1-1 >/dev/null
$E attach >/dev/null
start_vm 100 $COLD
{ $E eject --timeout 1; echo "rc=$?"; } 2>&1 | pids | tail -n 2
state
echo "groups $(held 25) $(held 26)"
kill $vm' 2>&1)
        expect "eject held" "egpuctl: Failed to eject '1-1': VM 100 (PID N) did not let go of eGPU 0000:30:00.0: shut the guest down or stop the VM (qm stop 100), then run egpuctl eject again
rc=1
auth=1 gpu=vfio-pci/vfio-pci audio=vfio-pci/vfio-pci
groups held held" "$out"
}

# No VM listens on the socket: a clear error, and the host as it was (nothing attached).
t_live_no_vm() {
        out=$(sim_sh "$EGPU" '
$E enroll 1-1 >/dev/null
{ $E vm plug 100 --qmp $TMPDIR/none.qmp; echo "rc=$?"; } 2>&1 | pids
state' 2>&1)
        expect "no VM" "egpuctl: vm: VM 100 is not running: nothing listens on TMP/none.qmp
rc=1
auth=0 gpu=none/gone audio=none/gone" "$out"
}

# A VM whose ports cannot take hot-plugged devices: a clear error, and what vm plug attached goes back.
t_live_no_port() {
        out=$(sim_sh "$EGPU" '
$E enroll 1-1 >/dev/null
start_vm 100 -device pcie-root-port,id=rp1,chassis=1,hotplug=off
$E vm plug 100 --qmp $TMPDIR/100.qmp 2>&1 | pids | grep -E "Failed|de-authorized"
wait_gone $GPU
state
kill $vm' 2>&1)
        expect "no port" "egpuctl: Failed to plug eGPU 0000:30:00.0: VM 100 has no free hot-pluggable PCIe port (pcie-root-port with hotplug=on and nothing behind it); egpuctl vm attach VMID --live adds one for the next start
1-1: de-authorized, tunnel closed
auth=0 gpu=none/gone audio=none/gone" "$out"
}

# QEMU refuses a function (another process has its group): its own words in the error, the function added
# before it taken out again, its group free again.
t_live_qemu_refuses() {
        out=$(sim_sh "$EGPU" '
$E enroll 1-1 >/dev/null
$E attach >/dev/null
hold_group 25
holder=$vm
start_vm 100 $PORTS
$E vm plug 100 --qmp $TMPDIR/100.qmp 2>&1 | pids | grep Failed
echo "group 26 $(held 26)"
kill $vm $holder' 2>&1)
        expect "QEMU refuses" "egpuctl: Failed to plug eGPU 0000:30:00.0: VM 100 refused 0000:30:00.0 on port rp2: GenericError: vfio 0000:30:00.0: failed to open /dev/vfio/25: Device or resource busy
group 26 free" "$out"
}

# The VM stops while vm unplug waits for it: it let go of everything, which is what was asked.
t_live_vm_stops() {
        out=$(sim_sh "$EGPU" '
$E enroll 1-1 >/dev/null
$E attach >/dev/null
start_vm 100 $COLD
( sleep 0.5; kill $vm ) &
{ $E vm unplug 100 --qmp $TMPDIR/100.qmp --timeout 20; echo "rc=$?"; } 2>&1 | pids
echo "groups $(held 25) $(held 26)"' 2>&1)
        expect "VM stops" "VM 100 stopped while giving back eGPU 0000:30:00.0
VM 100 let go of eGPU 0000:30:00.0
eGPU 0000:30:00.0 is free: its functions stay on vfio-pci for the next VM.
0000:30:00.0: in D0 (power/control on)
0000:30:00.1: in D0 (power/control on)
0000:30:00.0: resets by itself
0000:30:00.1: bus reset (also resets 0000:30:00.0)
rc=0
groups free free" "$out"
}

# What a person detaches stays detached while the daemon runs: its own events do not bring it back,
# plugging it in again does, and so does a person's attach.
t_daemon_detach_stays() {
        out=$(sim_sh "$EGPU" '
$E enroll 1-1 >/dev/null
$E daemon 2>$TMPDIR/log &
pid=$!
wait_bound
$E detach >/dev/null; echo "detach rc=$?"
echo add >$D/uevent
wait_log "1-1: left detached, as a person asked"
wait_gone $GPU && wait_gone $AUDIO
state
ctl unplug 1-1 >/dev/null; ctl plug 1-1 >/dev/null
wait_bound && state
$E detach >/dev/null
$E attach >/dev/null; echo "attach rc=$?"
state
kill -TERM $pid; wait $pid' 2>&1)
        expect "detach stays" "detach rc=0
auth=0 gpu=none/gone audio=none/gone
auth=1 gpu=vfio-pci/vfio-pci audio=vfio-pci/vfio-pci
attach rc=0
auth=1 gpu=vfio-pci/vfio-pci audio=vfio-pci/vfio-pci" "$out"
}

# The daemon's loop leaves the echoes of its binds (bind to vfio-pci, unbind) for later, but reads their
# devices before the next event that decides anything: a "change" of router 1-1 after its attach finds
# its eGPU on vfio-pci, not on amdgpu and snd_hda_intel as the snapshot had them when the tunnel came up,
# and starts no attach. Plugging 1-3 next shows, in the log's order, that the loop got that far. Only
# what the log says after 1-1's attach counts: a change handled while that attach was still binding
# rightly named 1-1.
t_daemon_echoes() {
        v=$(variant second-port second-port unplugged)
        out=$(sim_sh "$v" '
for t in 1-1 1-3; do ctl plug $t >/dev/null; $E enroll $t >/dev/null; ctl unplug $t >/dev/null; done
EGPUCTL_LOG_LEVEL=debug $E daemon 2>$TMPDIR/log &
pid=$!
wait_log Ready
ctl plug 1-1 >/dev/null
wait_bound && wait_log "1-1: attached"
n=$(wc -l <$TMPDIR/log)
echo change >$D/uevent
ctl plug 1-3 >/dev/null
wait_log ": attaching 1-3"
tail -n +$((n + 1)) $TMPDIR/log | grep -c "^<7>change 1-1: attaching"
wait_pair 0000:54:00 && pair 0000:54:00
kill -TERM $pid; wait $pid' 2>&1)
        expect "daemon echoes" "0
0000:54:00 vfio-pci/vfio-pci" "$out"
}

# An eGPU enrolled for a VM, plugged in while that VM runs, goes into the VM.
t_daemon_live_plug() {
        out=$(sim_sh "$EGPU" '
start_vm 100 $PORTS
$E enroll 1-1 --qmp $TMPDIR/100.qmp | tail -n 1 | pids
$E daemon 2>$TMPDIR/log &
pid=$!
wait_log "plugged into"
echo "groups $(held 25) $(held 26)"
grep "plugged into" $TMPDIR/log | pids
kill -TERM $pid; wait $pid
kill $vm' 2>&1)
        expect "daemon plugs" "The daemon plugs it into the VM at TMP/100.qmp when it appears while that VM runs.
groups held held
<6>the VM at TMP/100.qmp: eGPU 0000:30:00.0 plugged into port rp2" "$out"
}

# The VM the daemon plugged the eGPU into ends with no hookscript (its QEMU killed, a VM by hand): the daemon
# sees its process end (a pidfd) and brings the eGPU back to D0 (idle on vfio-pci it had suspended).
t_daemon_vm_ends() {
        out=$(sim_sh "$EGPU" '
start_vm 100 $PORTS
$E enroll 1-1 --qmp $TMPDIR/100.qmp >/dev/null
$E daemon 2>$TMPDIR/log &
pid=$!
wait_log "plugged into"
ctl suspend 0000:30:00.0 D3hot >/dev/null && ctl suspend 0000:30:00.1 D3hot >/dev/null
echo "before: $(cat $GPU/power_state) $(cat $AUDIO/power_state)"
kill $vm; wait $vm 2>/dev/null
wait_log "ready for the next VM"
grep -E "which held it, ended|back in D0|ready for the next VM" $TMPDIR/log | pids
echo "after: $(cat $GPU/power_state) $(cat $AUDIO/power_state) $(cat $GPU/power/control) $(cat $AUDIO/power/control) $(held 25)"
kill -TERM $pid; wait $pid' 2>&1)
        expect "daemon: the VM ends" "before: D3hot D3hot
<6>eGPU 0000:30:00.0: PID N, which held it, ended
<6>0000:30:00.0: back in D0 from D3hot (power/control on)
<6>0000:30:00.1: back in D0 from D3hot (power/control on)
<6>eGPU 0000:30:00.0: let go of; ready for the next VM
after: D0 D0 on on free" "$out"
}

# Unplugged while a VM keeps it, the VM not letting go: with stop-vm the daemon stops the VM and the
# host's removal completes; the log names the VM.
t_daemon_surprise_stop() {
        out=$(sim_sh "$EGPU" '
$E enroll 1-1 >/dev/null
$E attach >/dev/null
start_vm 100 $COLD
$E daemon --on-surprise-unplug stop-vm --unplug-timeout 1 2>$TMPDIR/log &
pid=$!
wait_log Ready
ctl unplug 1-1 >/dev/null
ctl wait-driver 0000:30:00.0 absent 10000
grep -E "Stopping|stopped" $TMPDIR/log | pids
kill -TERM $pid; wait $pid' 2>&1)
        expect "surprise stop-vm" "ok
<4>Stopping VM 100 (PID N), which keeps eGPU 0000:30:00.1 whose device is gone (--on-surprise-unplug=stop-vm)
<6>VM 100 (PID N) stopped; the host's removal of eGPU 0000:30:00.1 goes on" "$out"
}

# The same with wait: the daemon logs the VM and the command that frees the host, and keeps serving:
# a PCIe eGPU enrolled meanwhile is still bound when its driver takes it. With anon, the VM's devices have
# no id (found by their QOM path); the daemon waits all the same.
t_daemon_surprise_wait() {
        v=$(variant pcie pcie-gpu)
        out=$(sim_sh "$v" "
DEVICES=\$${1:-COLD}"'
$E enroll 1-1 >/dev/null
$E attach >/dev/null
start_vm 100 $DEVICES
$E daemon --unplug-timeout 1 2>$TMPDIR/log &
pid=$!
wait_log Ready
ctl unplug 1-1 >/dev/null
wait_log "still holds"
grep "still holds" $TMPDIR/log | pids
$E enroll 0000:01:00.0 >/dev/null
echo add >/sys/bus/pci/devices/0000:01:00.0/uevent
ctl wait-driver 0000:01:00.0 vfio-pci 5000
echo "groups $(held 25) $(held 26)"
kill $vm
ctl wait-driver 0000:30:00.0 absent 5000
kill -TERM $pid; wait $pid' 2>&1)
        expect "surprise wait" "<4>VM 100 (PID N) still holds eGPU 0000:30:00.1, whose device is gone; the host's removal waits until the VM lets go: 'qm stop 100' frees it (or run the daemon with --on-surprise-unplug=stop-vm)
ok
groups held held
ok" "$out"
}

t_daemon_surprise_wait_anon() {
        t_daemon_surprise_wait ANON
}

# A Proxmox VM with a free port (vm attach --live's): doctor's vm-live names the port vm plug would take;
# the hookscript's post-start plugs the eGPU recorded for the VM into it; doctor then sees it there, and
# vfio-usable names the VM that holds it; post-start again changes nothing.
t_hook_post_start() {
        out=$(sim_sh "$EGPU" '
live() { $E doctor --json | python3 -c "import json, sys
for c in json.load(sys.stdin)[\"checks\"]:
    if c[\"id\"] in (\"vm-live\", \"vfio-usable\"): print(c[\"id\"], c[\"status\"], c[\"summary\"])" | pids; }
QMP_DIR=$EGPUCTL_ROOT/var/run/qemu-server
mkdir -p $QMP_DIR
start_vm 100 $PORTS
$E enroll 1-1 --vm 100 >/dev/null
$E attach >/dev/null
live
ln -s $E $TMPDIR/egpuctl-hook
$TMPDIR/egpuctl-hook 100 post-start >/dev/null; echo "post-start rc=$?"
echo "groups $(held 25) $(held 26)"
live
$TMPDIR/egpuctl-hook 100 post-start | grep -c "plugged into"
kill $vm' 2>&1)
        expect "hook post-start" "vfio-usable ok IOMMU group 25: ready for a VM (type1v2 container; 0000:30:00.0: 6 regions, resets by itself); IOMMU group 26: ready for a VM (type1v2 container; 0000:30:00.1: 2 regions, bus reset (also resets 0000:30:00.0))
vm-live ok VM 100 runs with the free port rp2 (16 GiB window; the eGPU needs 16 GiB)
post-start rc=0
groups held held
vfio-usable ok IOMMU group 25 of eGPU 0000:30:00.0: in VM 100 (PID N); IOMMU group 26 of eGPU 0000:30:00.0: in VM 100 (PID N)
vm-live ok VM 100 runs with eGPU 0000:30:00.0 in it
0" "$out"
}

# The hookscript's post-stop: vfio-pci let the idle eGPU suspend (D3cold, D3hot) once the VM closed it;
# post-stop brings each function back to D0 and keeps it there (power/control on: runtime PM can no longer
# suspend it), then checks the reset QEMU will use. A group a VM still holds is left alone.
t_hook_post_stop() {
        out=$(sim_sh "$EGPU" '
pw() { $E status --json | python3 -c "import json, sys
for f in json.load(sys.stdin)[\"gpus\"][0][\"functions\"]: print(f[\"bdf\"], f[\"power_state\"], f[\"reset\"][\"verdict\"])"; }
$E enroll 1-1 >/dev/null
$E attach >/dev/null
ctl suspend 0000:30:00.0 D3cold >/dev/null && ctl suspend 0000:30:00.1 D3hot >/dev/null
pw
$E status | grep -c "D3cold"
ln -s $E $TMPDIR/egpuctl-hook
hold_group 25
$TMPDIR/egpuctl-hook 100 post-stop >$TMPDIR/held.out; echo "held: post-stop rc=$? $(cat $GPU/power_state)"
sed "s/process [0-9]*/process N/" $TMPDIR/held.out
kill $vm; wait $vm 2>/dev/null
$TMPDIR/egpuctl-hook 100 post-stop; echo "post-stop rc=$?"
pw
echo "control $(cat $GPU/power/control) $(cat $AUDIO/power/control)"
ctl suspend 0000:30:00.0 D3cold; cat $GPU/power_state' 2>&1)
        expect "hook post-stop" "0000:30:00.0 D3cold own
0000:30:00.1 D3hot bus
1
held: post-stop rc=0 D3cold
IOMMU group 25 of eGPU 0000:30:00.0 is still held by process N: nothing to do until it lets go
0000:30:00.0: back in D0 from D3cold (power/control on)
0000:30:00.1: back in D0 from D3hot (power/control on)
0000:30:00.0: resets by itself
0000:30:00.1: bus reset (also resets 0000:30:00.0)
post-stop rc=0
0000:30:00.0 D0 own
0000:30:00.1 D0 bus
control on on
error Operation not permitted
D0" "$out"
}

# A USB controller on the eGPU's bus, in a group of its own, and an audio function with only a PM reset:
# QEMU needs a bus reset of the audio function, which would reset the controller too, and refuses it.
# status (from sysfs), doctor (over the VFIO pre-flight) and the hookscript's post-stop say so.
t_reset_shared() {
        v=$(variant resetshared reset-shared)
        out=$(sim_sh "$v" '
$E enroll 1-1 >/dev/null
$E attach >/dev/null; echo "attach rc=$?"
$E status | grep "QEMU.s reset"
$E status --json | python3 -c "import json, sys
g = json.load(sys.stdin)[\"gpus\"][0]
print(\"reset_ok\", g[\"reset_ok\"])
for f in g[\"functions\"]: print(f[\"bdf\"], f[\"reset\"])"
$E doctor --json | python3 -c "import json, sys
for c in json.load(sys.stdin)[\"checks\"]:
    if c[\"id\"] == \"reset-scope\": print(c[\"status\"], c[\"fix\"])"
ln -s $E $TMPDIR/egpuctl-hook
$TMPDIR/egpuctl-hook 100 post-stop; echo "post-stop rc=$?"' 2>&1)
        expect "reset shared" "attach rc=0
  QEMU's reset: fails (0000:30:00.0 resets by itself; 0000:30:00.1 a bus reset would also reset 0000:30:01.0, outside the eGPU's IOMMU groups: QEMU cannot reset it); egpuctl doctor says what to do
reset_ok False
0000:30:00.0 {'verdict': 'own', 'needs_bus_reset': False, 'hot_reset_set': ['0000:30:00.0', '0000:30:00.1', '0000:30:01.0'], 'outside_devices': ['0000:30:01.0']}
0000:30:00.1 {'verdict': 'bus-outside', 'needs_bus_reset': True, 'hot_reset_set': ['0000:30:00.0', '0000:30:00.1', '0000:30:01.0'], 'outside_devices': ['0000:30:01.0']}
fail # A bus reset of 0000:30:00.1 also resets 0000:30:01.0 (xhci_hcd). Put that device on another port (or the eGPU in another slot), or pass it to the same VM with the eGPU (a hostpci entry of its own), so that the VM holds its group.
0000:30:00.0: in D0 (power/control on)
0000:30:00.1: in D0 (power/control on)
0000:30:00.0: resets by itself
egpuctl: VM 100 stopped, eGPU 0000:30:00.0: 0000:30:00.1: a bus reset would also reset 0000:30:01.0, outside the eGPU's IOMMU groups: QEMU cannot reset it; egpuctl doctor (reset-scope) says what to do
post-stop rc=1" "$out"
}

# One writer: a person's attach while the daemon attaches the same hot-plugged eGPU waits for the
# daemon's lock, finds it attached and succeeds; the daemon logs no error.
t_attach_with_daemon() {
        v=$(variant together unplugged)
        out=$(sim_sh --tunnel-delay-ms 300 "$v" '
daemon_attaching
$E attach >$TMPDIR/attach.out 2>&1; echo "attach rc=$?"
wait_bound && state
echo "daemon errors: $(grep -c "^<[0-3]>" $TMPDIR/log)"
kill -TERM $pid; wait $pid' 2>&1)
        expect "attach with the daemon" "attach rc=0
auth=1 gpu=vfio-pci/vfio-pci audio=vfio-pci/vfio-pci
daemon errors: 0" "$out"
}

# One writer: forget while the daemon attaches waits for the daemon's lock; the attach that began with
# the record ends, and the next plug, with no record, is left alone.
t_forget_during_daemon_attach() {
        v=$(variant forgetting unplugged)
        out=$(sim_sh --tunnel-delay-ms 500 "$v" '
daemon_attaching
$E forget $(cat $D/unique_id) >/dev/null; echo "forget rc=$?"
state
echo "enrolled: $($E list --json | tr -d " \n" | grep -o "\"enrolled\":true" | wc -l)"
ctl unplug 1-1 >/dev/null; ctl plug 1-1 >/dev/null
sleep 1
state
kill -TERM $pid; wait $pid' 2>&1)
        expect "forget during the daemon's attach" "forget rc=0
auth=1 gpu=vfio-pci/vfio-pci audio=vfio-pci/vfio-pci
enrolled: 0
auth=0 gpu=none/gone audio=none/gone" "$out"
}

# host_refresh(), which attach uses on each batch of events, sees what a whole new read sees: after an
# authorization (the tunnel's bridges and functions appear, the natural drivers bind), a plug and an unplug.
t_host_refresh() {
        out=$(sim_sh "$EGPU" '$HOST_REFRESH_CHECK sh -c "echo 1 >$D/authorized" >$TMPDIR/refresh; echo "rc=$?"
grep "^egpu" $TMPDIR/refresh' 2>&1)
        expect "host_refresh after authorize" "rc=0
egpu 0000:30:00.0 router=1-1 viable=0 isolated=1 groups=2: 0000:30:00.0 0000:30:00.1" "$out"
        v=$(variant refresh-plug unplugged)
        out=$(sim_sh "$v" '$HOST_REFRESH_CHECK "$EGPU_SIM_CTL" "$EGPU_SIM_CONTROL" plug 1-1 >/dev/null; echo "plug rc=$?"
echo 1 >$D/authorized; ctl wait-driver 0000:30:00.0 amdgpu 5000 >/dev/null
$HOST_REFRESH_CHECK "$EGPU_SIM_CTL" "$EGPU_SIM_CONTROL" unplug 1-1 >$TMPDIR/refresh; echo "unplug rc=$?"
grep -c "^pci 0000:30" $TMPDIR/refresh || :' 2>&1)
        expect "host_refresh after plug and unplug" "plug rc=0
unplug rc=0
0" "$out"
}

# Two enclosures, on the host router's two ports (1-3's tunnel in root port 0000:00:07.3) or daisy-chained
# (1-301 behind 1-1): attach attaches both at once, each tunnel opened before either eGPU appeared (with
# --tunnel-delay-ms 300 one after the other would show a tunnel up between the two authorizations), and
# status names the router of each.
two_enclosures() {
        v=$(variant "$1" "$1")
        out=$(sim_sh --tunnel-delay-ms 300 "$v" '
$E enroll 1-1 >/dev/null; $E enroll '"$2"' >/dev/null
$E attach >$TMPDIR/out; echo "rc=$?"
grep -o "authorized (user level)\|tunnel up" $TMPDIR/out | head -3
pair 0000:30:00; pair '"$3"'
$E status | grep "^eGPU" | sed "s/ *1002:687f.*] */ /"' 2>&1)
        expect "$1" "rc=0
authorized (user level)
authorized (user level)
tunnel up
0000:30:00 vfio-pci/vfio-pci
$3 vfio-pci/vfio-pci
eGPU 0000:30:00.0 behind Thunderbolt device 1-1 (Blackmagic Design eGPU Pro)
eGPU $3.0 behind Thunderbolt device $2 (Blackmagic Design eGPU Pro)" "$out"
}

t_two_ports() {
        two_enclosures second-port 1-3 0000:54:00
}

t_daisy_chain() {
        two_enclosures daisy-chain 1-301 0000:36:00
}

# The pre-flight of an eGPU that is bound waits while the other attach still binds (its eGPU's audio
# function's driver_override write blocked 600 ms): the simulator's log shows no VFIO group opened before
# that write returned, and both pairs bound and checked after.
t_two_preflight_yields() {
        v=$(variant preflight-yields second-port)
        out=$(EGPU_SIM_DEBUG=1 sim_sh --block '*/0000:54:00.1/driver_override:600' "$v" '
$E enroll 1-1 >/dev/null; $E enroll 1-3 >/dev/null
$E attach >$TMPDIR/out; echo "rc=$?"
grep -c "ready for a VM" $TMPDIR/out
pair 0000:30:00; pair 0000:54:00' 2>$TMP/sim-log)
        order=$(grep -o "@vfio/open\|0000:54:00.1/driver_override \"vfio-pci\": ok" $TMP/sim-log |
                sed "s/.*driver_override.*/bound/; s/@vfio.*/open/" | uniq | tr "\n" " ")
        expect "pre-flight yields" "rc=0
4
0000:30:00 vfio-pci/vfio-pci
0000:54:00 vfio-pci/vfio-pci
bound open " "$out
$order"
}

# The daisy chain's second tunnel opens a second after the first (its authorized write blocked): 1-1's
# eGPU appears, is bound and its attach is done while 1-301's attach still waits, and that one must not
# take 1-1's eGPU for its own (the one new eGPU it saw while the chain cannot be told apart yet).
t_daisy_chain_late() {
        v=$(variant daisy-late daisy-chain)
        out=$(sim_sh --block '*/1-301/authorized:1000' "$v" '
$E enroll 1-1 >/dev/null; $E enroll 1-301 >/dev/null
$E attach >/dev/null; echo "rc=$?"
pair 0000:30:00; pair 0000:36:00' 2>&1)
        expect "daisy late" "rc=0
0000:30:00 vfio-pci/vfio-pci
0000:36:00 vfio-pci/vfio-pci" "$out"
}

# attach 1-301 alone opens 1-1's tunnel on the way, whose eGPU appears first: that one is not 1-301's and
# stays with the host's drivers.
t_daisy_child() {
        v=$(variant daisy-child daisy-chain)
        out=$(sim_sh --block '*/1-301/authorized:500' "$v" '
$E enroll 1-1 >/dev/null; $E enroll 1-301 >/dev/null
$E attach 1-301 >/dev/null; echo "rc=$?"
pair 0000:30:00; pair 0000:36:00' 2>&1)
        expect "daisy child" "rc=0
0000:30:00 amdgpu/snd_hda_intel
0000:36:00 vfio-pci/vfio-pci" "$out"
}

# Without the root ports' links to the NHI the model cannot tell the two apart: the attaches still run
# in parallel, each tunnel's eGPU taken as the one new eGPU while no other tunnel is pending, and both
# end on vfio-pci.
t_two_unlinked() {
        v=$(variant unlinked second-port no-nhi-links)
        out=$(sim_sh "$v" '
$E enroll 1-1 >/dev/null; $E enroll 1-3 >/dev/null
$E attach >$TMPDIR/out; echo "rc=$?"
grep -c "tunnel up" $TMPDIR/out
pair 0000:30:00; pair 0000:54:00
$E status | grep -c "Thunderbolt device not certain"' 2>&1)
        expect "unlinked" "rc=0
2
0000:30:00 vfio-pci/vfio-pci
0000:54:00 vfio-pci/vfio-pci
2" "$out"
}

# One of the two fails to open (EIO on its authorized): the other is attached all the same, the error
# names the one that failed, and the exit status says that one did.
t_two_one_fails() {
        v=$(variant second-port second-port)
        out=$(sim_sh --fault '*/1-3/authorized:EIO' "$v" '
$E enroll 1-1 >/dev/null; $E enroll 1-3 >/dev/null
$E attach; echo "rc=$?"
pair 0000:30:00; cat /sys/bus/thunderbolt/devices/1-3/authorized' 2>&1)
        contains "error" "Failed to attach '1-3': Failed to authorize 1-3: Input/output error" "$out"
        contains "other bound" "rc=1
0000:30:00 vfio-pci/vfio-pci
0" "$out"
}

# Each eGPU belongs to its own VM: list and status say which (text and --json).
t_two_vms() {
        v=$(variant two-vms second-port)
        out=$(sim_sh "$v" '
$E enroll 1-1 --vm 100 >/dev/null; $E enroll 1-3 --vm 101 >/dev/null
$E list | awk "{ print \$2, \$NF }"
$E list --json | python3 -c "import json, sys; print(sorted((d[\"name\"], d[\"vm\"]) for d in json.load(sys.stdin)[\"devices\"]))"
$E attach >/dev/null
$E status | grep -A1 "^eGPU" | sed -e "s/ *1002:687f.*] */ /" -e "s/ (Blackmagic.*//"
$E status --json | python3 -c "import json, sys; print(sorted((g[\"bdf\"], g[\"vm\"]) for g in json.load(sys.stdin)[\"gpus\"]))"' 2>&1)
        expect "two VMs" "ID VM
1-1 100
1-3 101
[('1-1', '100'), ('1-3', '101')]
eGPU 0000:30:00.0 behind Thunderbolt device 1-1
  belongs to VM 100
--
eGPU 0000:54:00.0 behind Thunderbolt device 1-3
  belongs to VM 101
[('0000:30:00.0', '100'), ('0000:54:00.0', '101')]" "$out"
}

# Unplugged as soon as it is bound, 30 times (no tunnel delay), often while the attach still runs its
# VFIO pre-flight: each such attach ends as "went away", never as a failure, and the daemon (which opens
# the group nodes that vanish under it) still attaches the next plug.
t_daemon_replug_fast() {
        v=$(variant replug-fast unplugged)
        out=$(sim_sh --tunnel-delay-ms 0 "$v" '
ctl plug 1-1 >/dev/null; $E enroll 1-1 >/dev/null; ctl unplug 1-1 >/dev/null
$E daemon 2>$TMPDIR/log &
pid=$!
wait_log Ready
round=0
while [ $round -lt 30 ]; do
        ctl plug 1-1 >/dev/null; wait_pair 0000:30:00 || echo "not bound in round $round"
        ctl unplug 1-1 >/dev/null; wait_gone /sys/bus/pci/devices/0000:30:00.0
        round=$((round + 1))
done
ctl plug 1-1 >/dev/null; wait_pair 0000:30:00; pair 0000:30:00
echo "daemon errors: $(grep -c "^<[0-3]>" $TMPDIR/log)"
kill -TERM $pid; wait $pid; echo "daemon exit $?"' 2>&1)
        expect "replug fast" "0000:30:00 vfio-pci/vfio-pci
daemon errors: 0
daemon exit 0" "$out"
}

# The daemon, both enclosures plugged at once (two ports, and a daisy chain): both pairs on vfio-pci.
daemon_two() {
        v=$(variant "$1" "$1" unplugged)
        out=$(sim_sh "$v" '
for t in 1-1 '"$2"'; do ctl plug $t >/dev/null; done
$E enroll 1-1 >/dev/null; $E enroll '"$2"' >/dev/null
ctl unplug 1-1 >/dev/null; ctl unplug '"$2"' >/dev/null 2>&1
$E daemon 2>$TMPDIR/log &
pid=$!
wait_log Ready
ctl plug 1-1 >/dev/null; ctl plug '"$2"' >/dev/null
wait_pair 0000:30:00; wait_pair '"$3"'
pair 0000:30:00; pair '"$3"'
echo "daemon errors: $(grep -c "^<[0-3]>" $TMPDIR/log)"
kill -TERM $pid; wait $pid' 2>&1)
        expect "$1" "0000:30:00 vfio-pci/vfio-pci
$3 vfio-pci/vfio-pci
daemon errors: 0" "$out"
}

t_daemon_two_ports() {
        daemon_two second-port 1-3 0000:54:00
}

t_daemon_daisy_chain() {
        daemon_two daisy-chain 1-301 0000:36:00
}

# An eGPU daisy-chained behind a dock (1-1: a PCIe switch and a USB controller, no GPU) that something
# else opened, as boltd does: the daemon opens 1-301 alone, so the one eGPU that comes is its own,
# though the model cannot place it (two routers on the port, one eGPU below it). The dock, not enrolled,
# is left open.
t_daemon_behind_dock() {
        v=$(variant daisy-chain daisy-chain dock unplugged)
        out=$(sim_sh "$v" '
ctl plug 1-1 >/dev/null; ctl plug 1-301 >/dev/null; $E enroll 1-301 >/dev/null
ctl unplug 1-1 >/dev/null 2>&1; ctl unplug 1-301 >/dev/null 2>&1
$E daemon 2>$TMPDIR/log &
pid=$!
wait_log Ready
ctl plug 1-1 >/dev/null
echo 1 >$D/authorized
ctl wait-driver 0000:31:00.0 xhci_hcd 5000 >/dev/null && echo "dock up: $(drv /sys/bus/pci/devices/0000:31:00.0)"
ctl plug 1-301 >/dev/null
wait_pair 0000:36:00; pair 0000:36:00
echo "dock authorized: $(cat $D/authorized)"
echo "daemon errors: $(grep -c "^<[0-3]>" $TMPDIR/log)"
kill -TERM $pid; wait $pid' 2>&1)
        expect "behind a dock" "dock up: xhci_hcd
0000:36:00 vfio-pci/vfio-pci
dock authorized: 1
daemon errors: 0" "$out"
}

export TMPDIR="$TMP"
run_case "${1:-}"
