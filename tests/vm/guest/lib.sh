# SPDX-License-Identifier: GPL-2.0-or-later
# Sourced by the guest scripts. fd 3 is the channel to the host (ttyS1): every line starting
# with "@@" is read by tests/vm/vmtest.py.

say() { printf '%s\n' "$*" >&3; }
diag() { say "@@LOG $*"; }
fact() { say "@@FACT $*"; }
info() { say "@@FACT # $*"; }
tap_ok() { say "@@TAP ok - $1"; }
tap_skip() { say "@@TAP ok - $1 # SKIP $2"; }
tap_fail() {
        say "@@TAP not ok - $1"
        shift
        for l in "$@"; do printf '%s\n' "$l" | while IFS= read -r _l; do diag "$_l"; done; done
}
# check NAME CONDITION-COMMAND... : ok when the command succeeds
check() {
        _n=$1
        shift
        if "$@"; then tap_ok "$_n"; else tap_fail "$_n" "failed: $*"; fi
}

# host VERB ARGS: asks the host to do something through QMP, waits for the answer.
host() {
        say "@@REQ $*"
        IFS= read -r _ack <&3
        _ack=${_ack#@@ACK }
        echo "$_ack"
        case $_ack in ok*) return 0 ;; *) return 1 ;; esac
}

SYSPCI=/sys/bus/pci/devices

# driver_of BDF: the bound driver's name, or "none"
driver_of() {
        if [ -L $SYSPCI/$1/driver ]; then
                basename "$(readlink $SYSPCI/$1/driver)"
        else
                echo none
        fi
}
group_of() {
        if [ -L $SYSPCI/$1/iommu_group ]; then
                basename "$(readlink $SYSPCI/$1/iommu_group)"
        else
                echo none
        fi
}
override_of() { cat $SYSPCI/$1/driver_override 2>/dev/null || echo "n/a"; }
reset_of() { cat $SYSPCI/$1/reset_method 2>/dev/null || echo "(no reset_method file)"; }

# below_port PORT-BDF FUNCTION: the BDF of function FUNCTION (e.g. "00.0") on the bus below a port
below_port() {
        for d in $SYSPCI/$1/0000:*:$2; do
                [ -e "$d" ] && { basename "$d"; return 0; }
        done
        return 1
}

# members GROUP: the BDFs in an IOMMU group, on one line
members() { ls /sys/kernel/iommu_groups/$1/devices 2>/dev/null | tr '\n' ' ' | sed 's/ $//'; }

# w PATH VALUE: one write(2); prints "ok" or the errno's name
w() { vm-tool write "$1" "$2"; }

# The ports (see vmtest.py's DEVICES)
RP1=0000:00:10.0 RP2=0000:00:11.0 RP3=0000:00:12.0 RP4=0000:00:13.0 RP5=0000:00:14.0 RP6=0000:00:15.0

# Hot-plug a display + audio pair into rp2 (audio first, function 0 last): ID prefix $1
plug_pair() {
        host device_add "{\"driver\":\"ich9-intel-hda\",\"id\":\"$1_hda\",\"bus\":\"rp2\",\"addr\":\"0.1\"}" >/dev/null &&
        host device_add "{\"driver\":\"secondary-vga\",\"id\":\"$1_vga\",\"bus\":\"rp2\",\"addr\":\"0.0\",\"multifunction\":true}" >/dev/null
}
unplug_pair() { host device_del "$1_vga" "$1_hda" >/dev/null; }
# plug_pair_bound ID BDF0 BDF1: plug_pair, then waits up to 30 s for both functions on vfio-pci;
# prints the milliseconds from device_add, or "timeout" (and fails)
plug_pair_bound() {
        _t0=$(vm-tool now)
        plug_pair "$1" || { echo timeout; return 1; }
        _ok0=$(vm-tool wait-driver "$2" vfio-pci 30000)
        _ok1=$(vm-tool wait-driver "$3" vfio-pci 30000)
        if [ "$_ok0" = timeout ] || [ "$_ok1" = timeout ]; then
                echo timeout
                return 1
        fi
        echo $(($(vm-tool now) - _t0))
}

# bus_below PORT-BDF: "0000:02", the bus a port leads to (also while its slot is empty)
bus_below() { ls $SYSPCI/$1/pci_bus; }

# header_type BDF: the header type byte (bit 7: multi-function)
header_type() { hexdump -s 14 -n 1 -e '1/1 "0x%02x"' $SYSPCI/$1/config; }

# uevent monitor: mon_start; ...; mon_stop prints "ACTION SUBSYSTEM DEVPATH [DRIVER=...]" lines
mon_start() {
        udevadm monitor --kernel --property >/tmp/mon 2>&1 &
        _mon=$!
        sleep 0.3
}
mon_stop() {
        sleep 0.3
        kill $_mon 2>/dev/null
        wait $_mon 2>/dev/null
        awk '/^KERNEL\[/ {if (a) print a " " s " " p (d ? " DRIVER=" d : ""); a=$2; p=$3; s=""; d=""; next}
             /^SUBSYSTEM=/ {s=substr($0,11)} /^DRIVER=/ {d=substr($0,8)}
             END {if (a) print a " " s " " p (d ? " DRIVER=" d : "")}' /tmp/mon
}
