# SPDX-License-Identifier: GPL-2.0-or-later
# Mode systemd: ExecStart of the stand-in pve-guests.service. egpuctl.service is ordered before it and
# says READY=1 only after its start-up attaches: eGPU A, enrolled and present at boot, must be on
# vfio-pci by now, before any guest would start.
. /vmtest/lib.sh
exec 3<>/dev/ttyS1
A0=$(below_port $RP1 00.0) A1=$(below_port $RP1 00.1)
if [ "$(driver_of $A0)" = vfio-pci ] && [ "$(driver_of $A1)" = vfio-pci ]; then
        tap_ok "systemd: pve-guests.service starts with the eGPU present at boot already on vfio-pci ($A0, $A1)"
else
        tap_fail "systemd: pve-guests.service starts with the eGPU present at boot already on vfio-pci" \
                "$A0 $(driver_of $A0), $A1 $(driver_of $A1), egpuctl.service $(systemctl is-active egpuctl.service)"
fi
