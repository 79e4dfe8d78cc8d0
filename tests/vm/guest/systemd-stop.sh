# SPDX-License-Identifier: GPL-2.0-or-later
# Mode systemd: vmtest-guard.service's ExecStop, which runs at shutdown after egpuctl.service stopped.
. /vmtest/lib.sh
exec 3<>/dev/ttyS1
if read -r H0 H1 </run/vmtest-bound; then
        if [ "$(driver_of $H0)" != vfio-pci ] && [ "$(driver_of $H1)" != vfio-pci ]; then
                tap_ok "systemd: at shutdown egpuctl.service gave $H0 and $H1 back (now $(driver_of $H0), $(driver_of $H1))"
        else
                tap_fail "systemd: at shutdown egpuctl.service gave the GPU back" "$H0 $(driver_of $H0), $H1 $(driver_of $H1)"
        fi
fi
say "@@DONE"
