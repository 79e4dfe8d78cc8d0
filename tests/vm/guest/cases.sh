# SPDX-License-Identifier: GPL-2.0-or-later
# Cases 1-6 in one boot (see README.md). A case whose egpuctl verb does not exist yet is a
# SKIP naming the verb, never a pass.
. /vmtest/lib.sh
export STATE_DIRECTORY=/var/lib/egpuctl
CASES=$(cat /vmtest/cases)
want() { [ "$CASES" = all ] && return 0; case ",$CASES," in *,"$1",*) return 0 ;; esac; return 1; }

A0=$(below_port $RP1 00.0) A1=$(below_port $RP1 00.1)   # eGPU A: display + audio, at boot
B0=$(below_port $RP5 00.0) B1=$(below_port $RP5 00.1)   # eGPU B: same ids, another port
V=$(below_port $RP3 00.0)                                # virtio-gpu on virtio-pci
BR=$(below_port $RP4 00.0)
C=$(basename $SYSPCI/$BR/0000:*:01.0)                    # display behind the PCI bridge
CR=$(basename $SYSPCI/$BR/0000:*:02.0)                   # virtio-rng there, on virtio-pci
HB=$(bus_below $RP2)                                     # the hot-plug slot's bus
H0=$HB:00.0 H1=$HB:00.1

# why_missing VERB...: prints why a verb can't be used and succeeds; fails when all are there
why_missing() {
        command -v egpuctl >/dev/null 2>&1 || { echo "egpuctl is not built"; return 0; }
        for v in "$@"; do
                o=$(egpuctl "$v" --help 2>&1)
                r=$?
                if [ $r = 2 ] && printf '%s' "$o" | grep -qi "unknown verb"; then
                        echo "egpuctl has no '$v' verb yet"
                        return 0
                fi
                [ $r = 0 ] || { echo "egpuctl $v --help exited $r: $(printf '%s' "$o" | head -n 1)"; return 0; }
        done
        return 1
}

# e ARGS...: runs egpuctl, logs its output; sets $out, $rc, and $unimpl when it said the verb
# (or this form of it) is not implemented
e() {
        out=$(egpuctl "$@" 2>&1)
        rc=$?
        diag "\$ egpuctl $* -> exit $rc"
        printf '%s\n' "$out" | while IFS= read -r l; do diag "    $l"; done
        unimpl=
        if [ $rc != 0 ] && printf '%s' "$out" | grep -qi "not implemented\|not yet implemented\|unknown verb"; then
                unimpl="egpuctl $1: $(printf '%s' "$out" | grep -i "implemented\|unknown verb" | head -n 1)"
        fi
        # A verb that only knows Thunderbolt devices yet: PCIe-attached enrolment is still to come.
        if [ $rc != 0 ] && printf '%s' "$out" | grep -q "No Thunderbolt device '0000:"; then
                unimpl="egpuctl $1 does not take a PCIe-attached function yet ($(printf '%s' "$out" | head -n 1))"
        fi
        return $rc
}

# snap BDF...: driver, override, reset_method of each, one line (to show that nothing changed)
snap() {
        for b in "$@"; do printf '%s=%s/%s/[%s] ' "$b" "$(driver_of $b)" "$(override_of $b)" "$(reset_of $b)"; done
}

# truth: tells the host what sysfs says about every function, for checking --json output
truth() {
        for d in $SYSPCI/*; do
                b=$(basename $d)
                sp=$(cat $d/current_link_speed 2>/dev/null | tr ' ' '_')
                rm=$(cat $d/reset_method 2>/dev/null | tr ' ' ',')
                say "@@TRUTH $b $(driver_of $b) $(group_of $b) $(override_of $b) ${sp:--} ${rm:--}"
        done
}
# send_json NAME ARGS...: runs egpuctl ARGS, hands its stdout to the host's JSON checks
send_json() {
        n=$1
        shift
        j=$(egpuctl "$@" 2>/tmp/json.err)
        r=$?
        diag "\$ egpuctl $* -> exit $r; stderr: $(head -c 400 /tmp/json.err | tr '\n' ' ')"
        if [ -z "$j" ]; then
                tap_fail "$n" "egpuctl $* printed nothing (exit $r)"
                return
        fi
        truth
        say "@@JSON $n $(printf '%s' "$j" | base64 | tr -d '\n')"
}

# skip_or_fail NAME WHY: a SKIP when the verb said it is not implemented, else a failure
skip_or_fail() {
        if [ -n "$unimpl" ]; then tap_skip "$1" "$unimpl"; else tap_fail "$@"; fi
}

B_BEFORE=$(snap $B0 $B1)
diag "at boot: $(snap $A0 $A1 $B0 $B1 $V $C $CR)"
diag "egpuctl: $(command -v egpuctl >/dev/null && egpuctl --version 2>&1 | head -n 1 || echo "not in the image")"

# ---------------------------------------------------------------- case 6 (a): status/doctor
if want 6; then
        if why=$(why_missing status); then tap_skip "6: status --json on real sysfs" "$why"
        else send_json "6-status-json-at-boot" status --json; fi
        if why=$(why_missing doctor); then tap_skip "6: doctor --json on real sysfs" "$why"
        else send_json "6-doctor-json-at-boot" doctor --json; fi
fi

# ---------------------------------------------------------------- case 1: attach/detach A
if want 1 || want 6; then
        if why=$(why_missing enroll attach detach); then
                tap_skip "1: enrolled display+audio pair attached to vfio-pci, then detached" "$why"
                want 6 && tap_skip "6: reset_method that attach writes is accepted" "$why"
        else
                reset_before=$(reset_of $A0)
                if ! e enroll $A0; then
                        skip_or_fail "1: egpuctl enroll $A0 (PCIe-attached, by port path + ids)" "exit $rc: $out"
                elif ! e attach $A0; then
                        skip_or_fail "1: egpuctl attach $A0" "exit $rc; kernel shows: $(snap $A0 $A1)"
                else
                        g=$(group_of $A0)
                        if [ "$(driver_of $A0)" = vfio-pci ] && [ "$(driver_of $A1)" = vfio-pci ]; then
                                tap_ok "1: attach put $A0 and $A1 on vfio-pci"
                                ATTACHED=1
                        else
                                tap_fail "1: attach put $A0 and $A1 on vfio-pci" "kernel shows: $(snap $A0 $A1)"
                        fi
                        st=$(vfio-group-status /dev/vfio/$g)
                        if [ "${st%% *}" = viable ]; then
                                tap_ok "1: /dev/vfio/$g opens, VFIO_GROUP_GET_STATUS viable"
                        else
                                tap_fail "1: /dev/vfio/$g opens, VFIO_GROUP_GET_STATUS viable" "got: $st; group $g: $(members $g); $(snap $(members $g))"
                        fi
                        if want 6; then
                                ra=$(reset_of $A0)
                                if printf '%s' "$out" | grep -qi "reset_method.*\(invalid\|fail\|error\)"; then
                                        tap_fail "6: reset_method that attach writes is accepted" "attach said: $out"
                                else
                                        tap_ok "6: reset_method that attach writes is accepted (before [$reset_before], after [$ra])"
                                fi
                                r=$(w $SYSPCI/$A0/reset_method flr)
                                if [ "$r" = EINVAL ]; then tap_ok "6: unsupported reset_method 'flr' on $A0: kernel says EINVAL"
                                else tap_fail "6: unsupported reset_method 'flr' on $A0: kernel says EINVAL" "got $r"; fi
                                send_json "6-status-json-attached" status --json
                        fi
                        if e detach $A0; then
                                if [ "$(driver_of $A0)" != vfio-pci ] && [ "$(driver_of $A1)" != vfio-pci ] &&
                                   [ "$(override_of $A0)" = "(null)" ] && [ "$(override_of $A1)" = "(null)" ]; then
                                        tap_ok "1: detach gave $A0 and $A1 back (overrides cleared)"
                                else
                                        tap_fail "1: detach gave $A0 and $A1 back (overrides cleared)" "kernel shows: $(snap $A0 $A1)"
                                fi
                        else
                                skip_or_fail "1: egpuctl detach $A0" "exit $rc; kernel shows: $(snap $A0 $A1)"
                        fi
                fi
        fi
fi

# ---------------------------------------------------------------- case 3: host driver at boot
if want 3; then
        if why=$(why_missing enroll attach detach); then
                tap_skip "3: function on virtio-pci at boot moved to vfio-pci" "$why"
        elif ! e enroll $V; then
                skip_or_fail "3: egpuctl enroll $V (virtio-gpu on virtio-pci)" "exit $rc"
        elif ! e attach $V; then
                skip_or_fail "3: egpuctl attach $V" "exit $rc; kernel shows: $(snap $V)"
        else
                if [ "$(driver_of $V)" = vfio-pci ]; then tap_ok "3: $V moved from virtio-pci to vfio-pci"; ATTACHED=1
                else tap_fail "3: $V moved from virtio-pci to vfio-pci" "kernel shows: $(snap $V)"; fi
                if e detach $V && [ "$(driver_of $V)" = virtio-pci ]; then tap_ok "3: detach gave $V back to virtio-pci"
                else tap_fail "3: detach gave $V back to virtio-pci" "exit $rc; kernel shows: $(snap $V)"; fi
        fi
fi

# ---------------------------------------------------------------- case 7: no capabilities
# What egpuctl.service grants: uid 0 and no capability at all (CapabilityBoundingSet= empty).
# en ARGS...: as e, with egpuctl run through vm-tool nocaps
en() {
        out=$(vm-tool nocaps egpuctl "$@" 2>&1)
        rc=$?
        diag "\$ (no capabilities) egpuctl $* -> exit $rc"
        printf '%s\n' "$out" | while IFS= read -r l; do diag "    $l"; done
        return $rc
}
if want 7; then
        if why=$(why_missing enroll attach detach); then
                tap_skip "7: attach and detach as uid 0 without any capability" "$why"
        else
                en enroll $V
                if ! en attach $V || [ "$(driver_of $V)" != vfio-pci ]; then
                        tap_fail "7: attach without capabilities" "exit $rc: $out; kernel shows: $(snap $V)"
                else
                        tap_ok "7: attach without capabilities put $V on vfio-pci"
                        g=$(group_of $V)
                        sleep 60 </dev/vfio/$g &
                        holder=$!
                        vm-tool wait-path /proc/$holder/fd/0 present 5000 >/dev/null
                        en detach $V
                        if [ $rc != 0 ] && printf '%s' "$out" | grep -q "/dev/vfio/$g is held" &&
                           [ "$(driver_of $V)" = vfio-pci ]; then
                                tap_ok "7: detach without capabilities sees the held group and refuses"
                        else
                                tap_fail "7: detach without capabilities refuses while the group is held" "exit $rc: $out; kernel shows: $(snap $V)"
                        fi
                        kill $holder
                        wait $holder 2>/dev/null
                        if en detach $V && [ "$(driver_of $V)" = virtio-pci ]; then
                                tap_ok "7: detach without capabilities gave $V back to virtio-pci"
                        else
                                tap_fail "7: detach without capabilities" "exit $rc: $out; kernel shows: $(snap $V)"
                        fi
                fi
                if en status --json; then tap_ok "7: status --json without capabilities"
                else tap_fail "7: status --json without capabilities" "exit $rc"; fi
        fi
fi

# ---------------------------------------------------------------- case 4: shared group
if want 4; then
        if why=$(why_missing enroll attach); then
                tap_skip "4: attach refuses a display function that shares its group" "$why"
        else
                g=$(group_of $C)
                before=$(snap $(members $g))
                e enroll $C
                if [ -n "$unimpl" ]; then
                        tap_skip "4: attach refuses a display function that shares its group" "$unimpl"
                        CASE4_DONE=1
                elif [ $rc != 0 ]; then
                        diag "enroll refused $C (exit $rc), which may be right for a shared group; attach must refuse too"
                fi
                [ -z "$CASE4_DONE" ] && e attach $C
                after=$(snap $(members $g))
                missing=
                for m in $(members $g); do
                        [ $m = $C ] && continue
                        printf '%s' "$out" | grep -q "$m" || missing="$missing $m"
                done
                if [ -n "$CASE4_DONE" ]; then
                        :
                elif [ -n "$unimpl" ]; then
                        tap_skip "4: attach refuses a display function that shares its group" "$unimpl"
                elif [ $rc = 0 ]; then
                        tap_fail "4: attach refuses $C (group $g: $(members $g))" "attach exited 0; kernel shows: $after"
                elif [ -n "$missing" ]; then
                        tap_fail "4: attach refuses $C naming the group's members" "exit $rc but the message does not name:$missing"
                else
                        tap_ok "4: attach refuses $C, naming group $g's members"
                fi
                if [ -n "$CASE4_DONE" ]; then :
                elif [ "$before" = "$after" ]; then tap_ok "4: nothing changed in group $g"
                else tap_fail "4: nothing changed in group $g" "before: $before" "after:  $after"; fi
        fi
fi

# ---------------------------------------------------------------- case 2: daemon + hot-plug
if want 2; then
        if why=$(why_missing enroll daemon status); then
                tap_skip "2: hot-plugged enrolled device bound to vfio-pci by the daemon" "$why"
        elif [ -e /run/vmtest-no-udevd ]; then
                tap_skip "2: hot-plugged enrolled device bound to vfio-pci by the daemon" "no systemd-udevd on the host to copy (Debian: udev)"
        elif ! plug_pair p1; then
                tap_fail "2: QMP device_add into rp2" "QEMU refused"
        else
                vm-tool wait-path $SYSPCI/$H0 present 20000 >/dev/null
                udevadm settle --timeout=20
                e enroll $H0
                erc=$rc
                unplug_pair p1
                udevadm settle --timeout=20
                if [ $erc != 0 ]; then
                        skip_or_fail "2: egpuctl enroll $H0 (hot-plugged)" "exit $erc"
                else
                        # as egpuctl.service runs it: uid 0, no capability
                        vm-tool nocaps egpuctl daemon >/tmp/daemon.log 2>&1 &
                        dpid=$!
                        sleep 2
                        if ! kill -0 $dpid 2>/dev/null; then
                                wait $dpid
                                rc=$?
                                out=$(cat /tmp/daemon.log)
                                diag "daemon exited $rc: $out"
                                unimpl=
                                printf '%s' "$out" | grep -qi "not implemented" && unimpl="egpuctl daemon: $(grep -i 'not implemented' /tmp/daemon.log | head -n 1)"
                                skip_or_fail "2: egpuctl daemon keeps running" "exited $rc: $out"
                        else
                                diag "daemon up; at this point: $(snap $A0 $A1 $B0 $B1)"
                                if ms=$(plug_pair_bound p2 $H0 $H1); then
                                        tap_ok "2: hot-plugged $H0 and $H1 on vfio-pci $ms ms after device_add"
                                        ATTACHED=1
                                        info "hot-plug to both bound: $ms ms"
                                else
                                        tap_fail "2: hot-plugged $H0 and $H1 on vfio-pci by events" "after 30 s the kernel shows: $(snap $H0 $H1)" "daemon log: $(tail -n 20 /tmp/daemon.log)"
                                fi
                                unplug_pair p2
                                udevadm settle --timeout=20
                                sleep 1
                                if kill -0 $dpid 2>/dev/null; then tap_ok "2: daemon survives hot-unplug while bound"
                                else tap_fail "2: daemon survives hot-unplug while bound" "$(tail -n 20 /tmp/daemon.log)"; fi
                                if e status && ! printf '%s' "$out" | grep -q "$H0"; then
                                        tap_ok "2: status after unplug is clean (exit 0, $H0 not listed)"
                                else
                                        tap_fail "2: status after unplug is clean" "exit $rc"
                                fi
                                kill $dpid 2>/dev/null
                                wait $dpid
                                diag "daemon log: $(tail -n 30 /tmp/daemon.log | tr '\n' '|')"
                        fi
                fi
        fi
fi

# ---------------------------------------------------------------- case 5: twin untouched
if want 5; then
        B_AFTER=$(snap $B0 $B1)
        if why=$(why_missing enroll attach); then
                tap_skip "5: same ids on another port untouched" "$why"
        elif [ -z "$ATTACHED" ]; then
                tap_skip "5: same ids on another port untouched" "no case attached anything (see above), so there was nothing to stay untouched by"
        elif [ "$B_BEFORE" = "$B_AFTER" ] && [ "$(driver_of $B0)" != vfio-pci ]; then
                tap_ok "5: $B0/$B1 (same ids, rp5) untouched by all the above"
        else
                tap_fail "5: $B0/$B1 (same ids, rp5) untouched" "before: $B_BEFORE" "after:  $B_AFTER"
        fi
fi

# ---------------------------------------------------------------- case 8: a bus reset that takes another device
# C shares the bus behind rp4's PCIe-to-PCI bridge with CR. With CR unbound the group is viable and attach
# binds C; C has no reset of its own there (the kernel refuses reset_method 'bus' with CR on the bus, see
# the facts), so QEMU needs a bus reset, which takes CR with it: status (from sysfs) and doctor's
# reset-scope (the VFIO pre-flight's hot-reset list) report CR.
if want 8; then
        if why=$(why_missing enroll attach status doctor); then
                tap_skip "8: a hot-reset set with a device outside the eGPU is reported" "$why"
        else
                [ "$(driver_of $CR)" = none ] || echo $CR >$SYSPCI/$CR/driver/unbind
                e enroll $C
                e attach $C
                if [ "$(driver_of $C)" != vfio-pci ]; then
                        tap_fail "8: attach binds $C once $CR is unbound" "exit $rc: $(snap $C $CR)"
                else
                        e status --json
                        flat=$(printf '%s' "$out" | tr -d ' \n')
                        if printf '%s' "$flat" | grep -q "\"outside_devices\":\[\"$CR\"\]" &&
                                printf '%s' "$flat" | grep -q '"verdict":"bus-outside"'; then
                                tap_ok "8: status --json: the bus reset $C needs also resets $CR (bus-outside)"
                        else
                                tap_fail "8: status --json names $CR in $C's hot-reset set" "$out"
                        fi
                        e doctor --json
                        flat=$(printf '%s' "$out" | tr -d '\n')
                        if printf '%s' "$flat" | grep -q '"reset-scope"[^}]*"fail"' && printf '%s' "$out" | grep -q "also reset $CR"; then
                                tap_ok "8: doctor reset-scope fails, naming $CR from the kernel's hot-reset list"
                        else
                                tap_fail "8: doctor reset-scope names $CR" "$out"
                        fi
                fi
        fi
fi

# ---------------------------------------------------------------- case 6 (b): at the end
if want 6; then
        if ! why_missing status >/dev/null; then send_json "6-status-json-at-end" status --json; fi
        if ! why_missing doctor >/dev/null; then send_json "6-doctor-json-at-end" doctor --json; fi
fi
