#!/bin/sh
# The floor for hot-plug to bound: authorize, then bind both functions with no checks and no waiting
# beyond a busy poll. Started at the plug, as a udev rule would. attach-floor.sh [TBNAME [SLOT]]
# (default 1-1 0000:30:00).
tb=${1:-1-1}
slot=${2:-0000:30:00}
echo 1 > /sys/bus/thunderbolt/devices/$tb/authorized
for f in $slot.0 $slot.1; do
        d=/sys/bus/pci/devices/$f
        while [ ! -e $d/driver ]; do :; done
        echo vfio-pci > $d/driver_override
        echo $f > $d/driver/unbind
        echo $f > /sys/bus/pci/drivers_probe
done
