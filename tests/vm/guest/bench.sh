# SPDX-License-Identifier: GPL-2.0-or-later
# Mode bench (bench/run-vm-bench): two eGPU pairs enrolled by port, on rp2 (00:11.0) and rp8 (00:17.0),
# hot-plugged into this real kernel's pciehp slots. RUNS times each, interleaved: each pair alone, then
# both at once, with egpuctl's daemon binding them; then the attach floor (a few lines of shell: wait for
# the function, driver_override, unbind, drivers_probe) for one pair and for both at once, the daemon
# stopped. Each figure is the milliseconds from the first device_add until every function is on
# vfio-pci, said as "@@LOG bench NAME MS". It measures only; bench/run-vm-bench compares.
. /vmtest/lib.sh

export STATE_DIRECTORY=/var/lib/egpuctl RUNTIME_DIRECTORY=/run/egpuctl
mkdir -p $RUNTIME_DIRECTORY
RUNS=$(cat /vmtest/runs 2>/dev/null || echo 5)
RP8=0000:00:17.0
H0=$(bus_below $RP2):00.0 H1=$(bus_below $RP2):00.1
M0=$(bus_below $RP8):00.0 M1=$(bus_below $RP8):00.1

# add PORT: the pair's audio function, then its display function (function 0 last, as QEMU wants)
add() {
        host device_add "{\"driver\":\"ich9-intel-hda\",\"id\":\"b_$1_hda\",\"bus\":\"$1\",\"addr\":\"0.1\"}" >/dev/null &&
                host device_add "{\"driver\":\"secondary-vga\",\"id\":\"b_$1_vga\",\"bus\":\"$1\",\"addr\":\"0.0\",\"multifunction\":true}" >/dev/null
}
# del PORT BDF...: unplugs the pair and waits until its functions are gone
del() {
        p=$1
        shift
        host device_del "b_${p}_vga" "b_${p}_hda" >/dev/null
        for f in "$@"; do vm-tool wait-path $SYSPCI/$f absent 10000 >/dev/null; done
}
# bound BDF...: waits (30 s at most) until every function is on vfio-pci, polled by one process, and
# keeps in /tmp/seen the clock's milliseconds when it saw them
bound() {
        vm-tool seen-driver "$(echo "$@" | tr " " ",")" vfio-pci 30000 >/tmp/seen
}
# floor BDF0 BDF1: the least a script can do for one pair once it is plugged in
floor() {
        for f in "$2" "$1"; do
                vm-tool wait-path $SYSPCI/$f present 30000 >/dev/null
                echo vfio-pci >$SYSPCI/$f/driver_override
                [ -e $SYSPCI/$f/driver ] && echo $f >$SYSPCI/$f/driver/unbind
                echo $f >/sys/bus/pci/drivers_probe
        done
}
# cpu_ms PID: milliseconds of CPU the process has used, user and system, its ended threads included
# (proc(5): /proc/PID/stat utime and stime, fields 14 and 15, in clock ticks of 10 ms)
cpu_ms() {
        set -- $(sed 's/.*) //' /proc/$1/stat)
        echo $(((${12} + ${13}) * 10))
}
# time NAME COMMAND...: runs it, says how long it took until the observer saw every function bound (or
# "timeout"), and until the shell could stamp the end with a new process ("bench late-NAME MS": what
# this bench said before, which counts the observer's exit and the next process's start, both slower
# while the daemon's pre-flight runs); with the daemon running, also how much CPU time it used from the
# plug until it went idle again ("bench cpu-NAME MS")
time_it() {
        name=$1
        shift
        [ -z "$DPID" ] || c0=$(cpu_ms $DPID)
        rm -f /tmp/seen
        t0=$(vm-tool now)
        if "$@"; then
                t1=$(vm-tool now)
                diag "bench $name $(($(cat /tmp/seen) - t0))"
                diag "bench late-$name $((t1 - t0))"
        else
                diag "bench $name timeout"
        fi
        if [ -n "$DPID" ]; then
                sleep 1 # the echo of its own binds
                diag "bench cpu-$name $(($(cpu_ms $DPID) - c0))"
        fi
}
one_rp2() { add rp2 && bound $H0 $H1; }
one_rp8() { add rp8 && bound $M0 $M1; }
both() { add rp2 && add rp8 && bound $H0 $H1 $M0 $M1; }
floor_one() { add rp2 && floor $H0 $H1 && bound $H0 $H1; }
floor_two() {
        add rp2 && add rp8 || return 1
        floor $H0 $H1 &
        floor $M0 $M1
        wait
        bound $H0 $H1 $M0 $M1
}

egpuctl enroll --port pci0000:00/11.0 --ids 1234:1111 >/dev/null
egpuctl enroll --port pci0000:00/17.0 --ids 1234:1111 >/dev/null
egpuctl daemon >/tmp/daemon.log 2>&1 &
DPID=$!
t0=$(vm-tool now)
while ! grep -q Ready /tmp/daemon.log && [ $(($(vm-tool now) - t0)) -lt 60000 ]; do sleep 0.1; done
i=0
while [ $i -lt "$RUNS" ]; do
        time_it 1-rp2 one_rp2
        del rp2 $H0 $H1
        time_it 1-rp8 one_rp8
        del rp8 $M0 $M1
        time_it both both
        del rp2 $H0 $H1
        del rp8 $M0 $M1
        i=$((i + 1))
done
kill $DPID
vm-tool wait-path /proc/$DPID absent 10000 >/dev/null
DPID=
i=0
while [ $i -lt "$RUNS" ]; do
        time_it floor floor_one
        del rp2 $H0 $H1
        time_it floor-2 floor_two
        del rp2 $H0 $H1
        del rp8 $M0 $M1
        i=$((i + 1))
done
grep -c "^<[0-3]>" /tmp/daemon.log | while read -r n; do diag "bench daemon-errors $n"; done
tap_ok "bench ran"
