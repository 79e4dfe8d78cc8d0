# SPDX-License-Identifier: GPL-2.0-or-later
# Mode live: the eGPU moves between this host and a running VM. The VM is a second, real QEMU started
# here (TCG, q35 with native PCIe hot-plug, two pcie-root-ports, a QMP socket where Proxmox keeps them),
# with no guest OS: a device hot-added into a slot no guest powered on goes at once on device_del, one
# given at its start sits in a powered slot and is never given back (tests/vm/README.md).
#   (a) vm plug hot-adds eGPU A; the VM's query-pci lists both ids; its PID holds the group; the VFIO
#       pre-flight passes before and names the holder during
#   (b) eject takes it out, detaches it and says it is safe
#   (d) an eGPU enrolled for the VM, hot-plugged while the VM runs, goes into the VM (the daemon)
#   (e) egpuctl detach while the daemon runs: it stays detached until plugged again
#   (c) a surprise unplug while a VM keeps the eGPU: with wait the daemon names the VM and keeps serving
#       (an eGPU enrolled meanwhile is bound); with stop-vm the host's removal completes within a bound
#   (f) two eGPUs enrolled for two VMs, plugged at once: each goes into its own VM; each back in D0 after
#       its VM stops: by the hookscript's post-stop, or by the daemon, which sees the VM's process end
. /vmtest/lib.sh

export STATE_DIRECTORY=/var/lib/egpuctl RUNTIME_DIRECTORY=/run/egpuctl
export QEMU_MODULE_DIR=/usr/lib/vmtest-qemu
mkdir -p /var/run/qemu-server $RUNTIME_DIRECTORY
RP7=0000:00:16.0

A0=$(below_port $RP1 00.0) A1=$(below_port $RP1 00.1)
HB=$(bus_below $RP2)
H0=$HB:00.0 H1=$HB:00.1
K0=$(bus_below $RP7):00.0 K1=$(bus_below $RP7):00.1

e() {
        out=$(egpuctl "$@" 2>&1)
        rc=$?
        diag "\$ egpuctl $* -> exit $rc"
        printf '%s\n' "$out" | while IFS= read -r l; do diag "    $l"; done
        return $rc
}
has() { printf '%s' "$out" | grep -q -- "$1"; }
qmp() { vm-tool qmp /var/run/qemu-server/$1.qmp "$2"; }

# start_vm VMID [-device ...]: the VM's QEMU, once its firmware numbered the ports' buses (query-pci lists
# rp1's secondary bus), at most 120 s; its PID in QPID
start_vm() {
        id=$1
        shift
        rm -f /var/run/qemu-server/$id.qmp
        qemu-system-x86_64 -machine q35 -accel tcg -m 64 -nodefaults -display none -L /usr/share/seabios \
                -global ICH9-LPC.acpi-pci-hotplug-with-bridge-support=off \
                -device pcie-root-port,id=rp1,bus=pcie.0,addr=0x10.0,chassis=1,pref64-reserve=64M \
                -device pcie-root-port,id=rp2,bus=pcie.0,addr=0x11.0,chassis=2 \
                -chardev socket,id=qmp,path=/var/run/qemu-server/$id.qmp,server=on,wait=off \
                -mon chardev=qmp,mode=control "$@" >/tmp/vm$id.log 2>&1 &
        QPID=$!
        _t0=$(vm-tool now)
        while [ $(($(vm-tool now) - _t0)) -lt 120000 ]; do
                kill -0 $QPID 2>/dev/null || break
                if qmp $id '{"execute":"query-pci"}' 2>/dev/null | grep -q '"secondary": [1-9]'; then
                        info "VM $id: QEMU up and its buses numbered after $(($(vm-tool now) - _t0)) ms"
                        return 0
                fi
                sleep 1
        done
        diag "VM $id did not come up: $(cat /tmp/vm$id.log)"
        return 1
}
stop_vm() { kill $QPID 2>/dev/null; vm-tool wait-path /proc/$QPID absent 10000 >/dev/null; }
# whether process $1 holds /dev/vfio/$2
holds() { ls -l /proc/$1/fd 2>/dev/null | grep -q "/dev/vfio/$2\$"; }
# the VM's query-pci lists the pair's ids: 1234:1111 (secondary-vga) and 8086:293e (ich9-intel-hda)
lists_pair() {
        _q=$(qmp $1 '{"execute":"query-pci"}')
        printf '%s' "$_q" | grep -Eq '"device": 4369[^}]*"vendor": 4660' &&
                printf '%s' "$_q" | grep -Eq '"device": 10558[^}]*"vendor": 32902'
}
# wait_log PATTERN SECONDS: the daemon's log says it
wait_log() {
        _t0=$(vm-tool now)
        while ! grep -q "$1" /tmp/daemon.log 2>/dev/null; do
                [ $(($(vm-tool now) - _t0)) -lt $(($2 * 1000)) ] || return 1
                sleep 0.2
        done
}
start_daemon() {
        EGPUCTL_LOG_LEVEL=debug egpuctl daemon "$@" >/tmp/daemon.log 2>&1 &
        DPID=$!
        wait_log Ready 60
}
# bounded: a daemon stuck in the kernel (D state) must not stop the test
stop_daemon() {
        kill $DPID 2>/dev/null
        if ! vm-tool wait-path /proc/$DPID absent 10000 >/dev/null; then
                for t in /proc/$DPID/task/*; do
                        diag "the daemon did not end: thread ${t##*/}: $(tr '\n' '|' <$t/stack 2>/dev/null)"
                done
        fi
        diag "daemon log: $(tr '\n' '|' </tmp/daemon.log)"
}

if ! command -v qemu-system-x86_64 >/dev/null || [ ! -e /usr/share/seabios/bios-256k.bin ]; then
        tap_skip "live: a VM inside the guest" "no QEMU or SeaBIOS to copy from the host (Debian: qemu-system-x86)"
        exit 0
fi
GA=$(group_of $A0)

# A watchdog: an egpuctl thread found in D state twice, 5 s apart, gets its kernel stack logged once, so
# that a run that hangs in the kernel says where.
(
        prev="" seen=""
        while sleep 5; do
                now=""
                for t in /proc/[0-9]*/task/[0-9]*; do
                        [ "$(cat $t/comm 2>/dev/null)" = egpuctl ] || continue
                        [ "$(cut -d' ' -f3 $t/stat 2>/dev/null)" = D ] || continue
                        id=${t#/proc/}
                        now="$now $id"
                        case " $prev " in *" $id "*) ;; *) continue ;; esac
                        case " $seen " in *" $id "*) continue ;; esac
                        seen="$seen $id"
                        diag "watchdog: egpuctl $id in D state: $(tr '\0' ' ' <${t%/task/*}/cmdline 2>/dev/null): $(tr '\n' '|' <$t/stack 2>/dev/null)"
                done
                prev=$now
        done
) &
WATCHDOG=$!

# ---------------------------------------------------------------- (a) vm plug
e enroll $A0 && e attach $A0
if has "IOMMU group $GA: ready for a VM"; then tap_ok "a: the VFIO pre-flight passes after attach (group $GA)"
else tap_fail "a: the VFIO pre-flight passes after attach" "$out"; fi
if start_vm 100; then
        e doctor --json
        if printf '%s' "$out" | tr -d '\n' | grep -q '"vfio-usable"[^}]*"ok"'; then tap_ok "a: doctor vfio-usable ok before the plug"
        else tap_fail "a: doctor vfio-usable ok before the plug" "$out"; fi
        _t0=$(vm-tool now)
        if e vm plug 100 && has "plugged into port rp1"; then
                tap_ok "a: vm plug 100 hot-adds $A0 and $A1 ($(($(vm-tool now) - _t0)) ms)"
                info "vm plug: $(($(vm-tool now) - _t0)) ms"
        else
                tap_fail "a: vm plug 100" "$out" "$(cat /tmp/vm100.log)"
        fi
        if lists_pair 100; then tap_ok "a: the VM's query-pci lists 1234:1111 and 8086:293e"
        else tap_fail "a: the VM's query-pci lists both ids" "$(qmp 100 '{"execute":"query-pci"}')"; fi
        if holds $QPID $GA; then tap_ok "a: the VM's QEMU (PID $QPID) holds /dev/vfio/$GA"
        else tap_fail "a: the VM's QEMU holds /dev/vfio/$GA" "$(ls -l /proc/$QPID/fd)"; fi
        e doctor --json
        if printf '%s' "$out" | grep -q "in VM 100 (PID $QPID)"; then tap_ok "a: doctor vfio-usable names VM 100 (PID $QPID) as the holder"
        else tap_fail "a: doctor vfio-usable names the holder" "$out"; fi

        # ---------------------------------------------------------------- (b) eject
        _t0=$(vm-tool now)
        if e eject $A0 && has "safe to unplug"; then
                tap_ok "b: eject takes $A0 out of VM 100 (PID $QPID), detaches it, says it is safe ($(($(vm-tool now) - _t0)) ms)"
                info "eject: $(($(vm-tool now) - _t0)) ms"
        else
                tap_fail "b: eject" "$out"
        fi
        if ! holds $QPID $GA && [ "$(driver_of $A0)" != vfio-pci ] && kill -0 $QPID 2>/dev/null && ! lists_pair 100; then
                tap_ok "b: the VM runs on without the eGPU, the group is free, $A0 is off vfio-pci"
        else
                tap_fail "b: after eject" "driver $(driver_of $A0)" "$(qmp 100 '{"execute":"query-pci"}')"
        fi
else
        tap_fail "a: a VM (QEMU) starts inside the guest" "$(cat /tmp/vm100.log)"
fi

# ---------------------------------------------------------------- (d) the daemon plugs into the running VM
# the pair of rp2, enrolled by port for VM 100 (present once, so that enroll can take it by address)
plug_pair p1 && vm-tool wait-path $SYSPCI/$H0 present 20000 >/dev/null && udevadm settle --timeout=20
e enroll $H0 --vm 100
unplug_pair p1
udevadm settle --timeout=20
# and rp7's, for (c), present and not enrolled: enrolled while a removal waits for a VM, the daemon must
# still bind it. (A new hot-plug cannot be the test: while vfio-pci's remove waits, the kernel holds the
# PCI rescan/remove lock, pci_lock_rescan_remove() in pciehp_unconfigure_device(), so no PCI device comes
# or goes until the VM lets go, whatever the daemon does.)
host device_add '{"driver":"ich9-intel-hda","id":"k1_hda","bus":"rp7","addr":"0.1"}' >/dev/null &&
        host device_add '{"driver":"secondary-vga","id":"k1_vga","bus":"rp7","addr":"0.0","multifunction":true}' >/dev/null &&
        vm-tool wait-path $SYSPCI/$K0 present 20000 >/dev/null && udevadm settle --timeout=20

if kill -0 $QPID 2>/dev/null && start_daemon; then
        _t0=$(vm-tool now)
        plug_pair p2
        if wait_log "VM 100: eGPU $H0 plugged into port" 90 && lists_pair 100 && holds $QPID $(group_of $H0); then
                tap_ok "d: hot-plugged while VM 100 runs, the daemon attaches the pair and plugs it into the VM ($(($(vm-tool now) - _t0)) ms from device_add)"
                info "hot-plug to in the VM: $(($(vm-tool now) - _t0)) ms"
        else
                tap_fail "d: the daemon plugs the hot-plugged pair into VM 100" "$(tail -n 20 /tmp/daemon.log)"
        fi

        # ------------------------------------------------------------ (e) detach stays while the daemon runs
        e vm unplug 100 --gpu $H0
        e detach $H0
        echo add >$SYSPCI/$H0/uevent
        if wait_log "left detached, as a person asked" 30 && [ "$(driver_of $H0)" != vfio-pci ]; then
                tap_ok "e: detached while the daemon runs, $H0 stays detached (driver $(driver_of $H0))"
        else
                tap_fail "e: detached while the daemon runs, it stays detached" "driver $(driver_of $H0)" "$(tail -n 20 /tmp/daemon.log)"
        fi
        unplug_pair p2
        udevadm settle --timeout=20
        plug_pair p3
        if vm-tool wait-driver $H0 vfio-pci 60000 >/dev/null && vm-tool wait-driver $H1 vfio-pci 60000 >/dev/null; then
                tap_ok "e: plugged in again, the daemon attaches it again"
        else
                tap_fail "e: plugged in again, the daemon attaches it again" "$(tail -n 20 /tmp/daemon.log)"
        fi
        wait_log "VM 100: eGPU $H0 plugged into port" 60 >/dev/null
        stop_daemon
else
        tap_fail "d: the daemon starts with VM 100 running" "$(cat /tmp/daemon.log)"
fi
stop_vm

# ---------------------------------------------------------------- (c) surprise unplug under a VM
# VM 101 gets the pair at its start: a powered slot that no guest gives back
if [ "$(driver_of $H0)" = vfio-pci ] && start_vm 101 -device vfio-pci,host=$H1,bus=rp1,addr=0.1 \
        -device vfio-pci,host=$H0,bus=rp1,addr=0.0,multifunction=on; then
        start_daemon --on-surprise-unplug wait --unplug-timeout 3
        host device_del_nowait p3_vga >/dev/null
        if wait_log "VM 101 (PID $QPID) still holds eGPU" 90; then
                tap_ok "c: wait: the daemon names VM 101 (PID $QPID) that keeps the unplugged eGPU"
        else
                tap_fail "c: wait: the daemon names the VM" "$(tail -n 20 /tmp/daemon.log)" "$(dmesg | tail -n 20)"
        fi
        if e enroll $K0 && echo add >$SYSPCI/$K0/uevent && vm-tool wait-driver $K0 vfio-pci 60000 >/dev/null &&
                kill -0 $DPID; then
                tap_ok "c: wait: meanwhile the daemon binds another eGPU enrolled then ($K0)"
        else
                tap_fail "c: wait: the daemon keeps serving" "$K0: $(driver_of $K0)" "$(tail -n 20 /tmp/daemon.log)"
        fi
        stop_daemon
        stop_vm
        host wait_deleted p3_vga 60 >/dev/null || diag "p3 not deleted after VM 101 ended"
        udevadm settle --timeout=20
else
        tap_fail "c: VM 101 starts with the pair" "$(cat /tmp/vm101.log)"
fi

# stop-vm: the same, and the daemon stops the VM so that the removal completes
plug_pair p4 && vm-tool wait-path $SYSPCI/$H0 present 20000 >/dev/null && udevadm settle --timeout=20
if e attach $H0 && [ "$(driver_of $H0)" = vfio-pci ]; then
        if start_vm 102 -device vfio-pci,host=$H1,bus=rp1,addr=0.1 -device vfio-pci,host=$H0,bus=rp1,addr=0.0,multifunction=on; then
                start_daemon --on-surprise-unplug stop-vm --unplug-timeout 3
                _t0=$(vm-tool now)
                host device_del_nowait p4_vga >/dev/null
                if host wait_deleted p4_vga 90 >/dev/null; then
                        ms=$(($(vm-tool now) - _t0))
                        if grep -q "Stopping VM 102 (PID $QPID)" /tmp/daemon.log; then
                                tap_ok "c: stop-vm: the host's removal completes ($ms ms from device_del), the log names VM 102 (PID $QPID)"
                                info "surprise unplug to removal, stop-vm, unplug timeout 3 s: $ms ms"
                        else
                                tap_fail "c: stop-vm: the log names the VM" "$(cat /tmp/daemon.log)"
                        fi
                else
                        tap_fail "c: stop-vm: the host's removal completes" "$(tail -n 20 /tmp/daemon.log)" "$(dmesg | tail -n 20)"
                fi
                stop_daemon
                stop_vm
        else
                tap_fail "c: VM 102 starts with the pair" "$(cat /tmp/vm102.log)"
        fi
else
        tap_fail "c: stop-vm: the pair is on vfio-pci for VM 102" "$(driver_of $H0)"
fi
# ---------------------------------------------------------------- (f) two eGPUs for two VMs
# Two pairs enrolled by port for VMs 103 and 104, plugged at once into rp2 and rp8 while both VMs run: the
# daemon attaches both and plugs each into its own VM. When a VM stops, its pair is back in D0.
RP8=0000:00:17.0
M0=$(bus_below $RP8):00.0 M1=$(bus_below $RP8):00.1
power_of() { cat $SYSPCI/$1/power_state 2>/dev/null || echo "no power_state"; }
control_of() { cat $SYSPCI/$1/power/control 2>/dev/null || echo "no power/control"; }
e enroll --port pci0000:00/11.0 --ids 1234:1111 --vm 103
e enroll --port pci0000:00/17.0 --ids 1234:1111 --vm 104
Q103= Q104=
start_vm 103 && Q103=$QPID
start_vm 104 && Q104=$QPID
if [ -n "$Q103" ] && [ -n "$Q104" ] && start_daemon; then
        _t0=$(vm-tool now)
        for p in rp2 rp8; do
                host device_add "{\"driver\":\"ich9-intel-hda\",\"id\":\"f_${p}_hda\",\"bus\":\"$p\",\"addr\":\"0.1\"}" >/dev/null
                host device_add "{\"driver\":\"secondary-vga\",\"id\":\"f_${p}_vga\",\"bus\":\"$p\",\"addr\":\"0.0\",\"multifunction\":true}" >/dev/null
        done
        if wait_log "VM 103: eGPU $H0 plugged into port" 120 && wait_log "VM 104: eGPU $M0 plugged into port" 120 &&
                lists_pair 103 && lists_pair 104 && holds $Q103 $(group_of $H0) && holds $Q104 $(group_of $M0); then
                tap_ok "f: two pairs plugged at once on rp2 and rp8, the daemon attaches both and plugs each into its own VM, 103 and 104 ($(($(vm-tool now) - _t0)) ms from the first device_add)"
                info "two eGPUs into two VMs: $(($(vm-tool now) - _t0)) ms"
        else
                tap_fail "f: the daemon plugs each pair into its own VM" "$(tail -n 30 /tmp/daemon.log)"
        fi
        # VM 103 stops as Proxmox stops one: its QEMU ends, then the hookscript's post-stop
        kill $Q103 2>/dev/null
        vm-tool wait-path /proc/$Q103 absent 10000 >/dev/null
        e vm hook 103 post-stop
        if has "$H0: .*D0 (power/control on)" && has "$H1: .*D0 (power/control on)" && [ "$(power_of $H0)" = D0 ] &&
                [ "$(power_of $H1)" = D0 ] && [ "$(control_of $H0)" = on ] && [ "$(driver_of $H0)" = vfio-pci ]; then
                tap_ok "f: VM 103 stopped, post-stop: $H0 and $H1 read back D0 (power/control on), on vfio-pci"
        else
                tap_fail "f: VM 103 stopped: the pair in D0" "$H0 $(power_of $H0) $(control_of $H0) $(driver_of $H0), $H1 $(power_of $H1)" "$out"
        fi
        # VM 104 ends without a hookscript (its QEMU killed): the daemon sees its process end
        kill $Q104 2>/dev/null
        if wait_log "eGPU $M0: let go of; ready for the next VM" 60 && [ "$(power_of $M0)" = D0 ] &&
                [ "$(power_of $M1)" = D0 ] && [ "$(control_of $M0)" = on ] && [ "$(control_of $M1)" = on ]; then
                tap_ok "f: VM 104 ended: the daemon saw it, $M0 and $M1 read back D0 (power/control on)"
        else
                tap_fail "f: VM 104 ended: the daemon brings the pair to D0" "$M0 $(power_of $M0) $(control_of $M0), $M1 $(power_of $M1) $(control_of $M1)" "$(tail -n 10 /tmp/daemon.log)"
        fi
        stop_daemon
else
        tap_fail "f: VMs 103 and 104 and the daemon start" "$(cat /tmp/vm103.log /tmp/vm104.log /tmp/daemon.log 2>/dev/null)"
fi
kill $WATCHDOG 2>/dev/null
