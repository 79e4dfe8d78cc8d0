# SPDX-License-Identifier: GPL-2.0-or-later
# Mode systemd: run by vmtest.service once egpuctl.service has started (see vmtest.py). The unit is
# data/egpuctl.service.in as shipped, sandboxing and system call filter included.
. /vmtest/lib.sh
exec 3<>/dev/ttyS1
export STATE_DIRECTORY=/var/lib/egpuctl

state=$(systemctl is-active egpuctl.service)
if [ "$state" = active ]; then
        tap_ok "systemd: egpuctl.service is active (Type=notify, READY=1 arrived)"
else
        tap_fail "systemd: egpuctl.service is active" "it is $state"
fi
# unit_diag: what systemd says of egpuctl.service, a line each
unit_diag() {
        { systemctl show egpuctl.service -p ActiveState -p SubState -p Result -p ExecMainCode -p ExecMainStatus \
                -p StatusText -p NRestarts; systemctl status egpuctl.service; } 2>&1 | head -n 40 |
                while IFS= read -r l; do diag "    $l"; done
}
unit_diag

HB=$(bus_below $RP2)
H0=$HB:00.0 H1=$HB:00.1
plug_pair p1
vm-tool wait-path $SYSPCI/$H0 present 20000 >/dev/null
udevadm settle --timeout=20
out=$(egpuctl enroll $H0 2>&1) || tap_fail "systemd: enroll $H0" "$out"
unplug_pair p1
udevadm settle --timeout=20

if ms=$(plug_pair_bound p2 $H0 $H1); then
        tap_ok "systemd: the sandboxed daemon bound hot-plugged $H0 and $H1 to vfio-pci ($ms ms)"
else
        tap_fail "systemd: the sandboxed daemon bound hot-plugged $H0 and $H1 to vfio-pci" \
                "after 30 s: $H0 $(driver_of $H0), $H1 $(driver_of $H1)"
        unit_diag
fi

# A restart (the system is running) leaves a bound GPU alone.
systemctl restart egpuctl.service
if [ "$(systemctl is-active egpuctl.service)" = active ] && [ "$(driver_of $H0)" = vfio-pci ] &&
   [ "$(driver_of $H1)" = vfio-pci ]; then
        tap_ok "systemd: systemctl restart egpuctl leaves $H0 and $H1 on vfio-pci"
else
        tap_fail "systemd: systemctl restart egpuctl leaves the GPU bound" \
                "$H0 $(driver_of $H0), $H1 $(driver_of $H1), unit $(systemctl is-active egpuctl.service)"
fi
echo "$H0 $H1" >/run/vmtest-bound
diag "powering off: egpuctl.service stops with the system in state 'stopping'"
systemctl poweroff --no-block
