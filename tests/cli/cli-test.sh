#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# The command line as a person meets it: cli-test.sh CASE.
# meson sets EGPUCTL, EGPU_SIM, EGPU_SIM_CTL, EGPU_SIM_PRELOAD, TOP_SRCDIR and BUILD_ROOT.
set -eu

: "${EGPUCTL:?}" "${EGPU_SIM:?}" "${EGPU_SIM_CTL:?}" "${EGPU_SIM_PRELOAD:?}" "${TOP_SRCDIR:?}" "${BUILD_ROOT:?}"
. "$(dirname "$0")/../case-lib.sh"
SEEDS=$TOP_SRCDIR/tests/scenarios
RUN_SCENARIO=$TOP_SRCDIR/tests/run-scenario
# The simulated kernel of this build, for run-scenario --sim; no store, lock or root from outside.
export EGPU_SIM EGPUCTL EGPU_SIM_CTL NO_COLOR=1
unset STATE_DIRECTORY RUNTIME_DIRECTORY EGPUCTL_ROOT SCENARIO_ROOT

# A whole session of verbs inside a simulated scenario, run with no --root and no $STATE_DIRECTORY, under
# strace: it must work (the tunnel opens, the store takes the record) and never write to the host's /etc,
# /var/lib/egpuctl, /run/egpuctl nor the other folders egpuctl reads or writes, nor read its
# configuration there (libc's and libudev's own files under /etc aside).
t_isolation() {
        command -v strace >/dev/null 2>&1 || skip "strace is not installed"
        # LeakSanitizer cannot run under ptrace ("LeakSanitizer does not work under ptrace") and aborts
        # every process at exit: the sanitizer build checks leaks in the other tests, not under strace.
        ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
        export ASAN_OPTIONS
        out=$(strace -f -qq -o "$TMP/trace" -e trace=%file "$RUN_SCENARIO" --sim "$SEEDS/seed-unauthorized" sh -c '
E=$EGPUCTL
$E enroll 1-1 >/dev/null; echo "enroll rc=$?"
$E list >/dev/null; echo "list rc=$?"
$E attach >/dev/null; echo "attach rc=$?"
$E status --json >/dev/null; echo "status rc=$?"
$E doctor >/dev/null; echo "doctor ran"
$E install >/dev/null 2>&1; echo "install rc=$?"
$E nic pin --dry-run >/dev/null; echo "nic ran"
timeout 1 $E monitor --json >/dev/null; echo "monitor ran"
$E detach >/dev/null; echo "detach rc=$?"
$E forget c9030000-0060-6c0e-83b6-5e1b2f4a1d07 >/dev/null; echo "forget rc=$?"
test -f "$EGPUCTL_ROOT/etc/modprobe.d/egpuctl.conf" && echo "installed under the root"
test -d "$EGPUCTL_ROOT/var/lib/egpuctl/devices" && echo "store under the root"
test -f "$EGPUCTL_ROOT/run/egpuctl/lock" && echo "lock under the root"' 2>&1)
        expect "session" "enroll rc=0
list rc=0
attach rc=0
status rc=0
doctor ran
install rc=0
nic ran
monitor ran
detach rc=0
forget rc=0
installed under the root
store under the root
lock under the root" "$out"
        python3 - "$TMP/trace" <<'PY' || fail "the session touched the host (above)"
import re, sys
# Folders whose contents are egpuctl's configuration, store or runtime state on a host.
HOST = ('/etc/', '/var/lib/egpuctl', '/run/egpuctl', '/var/lib/vz', '/lib/modules', '/usr/lib/modules',
        '/usr/lib/modprobe.d', '/lib/modprobe.d', '/usr/local/lib/modprobe.d', '/run/modprobe.d',
        '/usr/lib/modules-load.d', '/run/modules-load.d', '/usr/lib/systemd/system', '/lib/systemd/system',
        '/run/systemd/system', '/usr/lib/systemd/network', '/lib/systemd/network', '/run/systemd/network',
        '/usr/lib/udev/rules.d', '/lib/udev/rules.d', '/run/udev/rules.d')
# Files the C library, the loader, libudev and the shell read on their own.
LIBC = {'/etc/ld.so.cache', '/etc/ld.so.preload', '/etc/localtime', '/etc/udev/udev.conf',
        '/etc/nsswitch.conf', '/etc/passwd', '/etc/group', '/etc/gconv', '/etc/locale.alias',
        '/etc/selinux/config'}
WRITE = re.compile(r'O_WRONLY|O_RDWR|O_CREAT|O_TRUNC')
bad = []
n = 0
for line in open(sys.argv[1]):
    m = re.match(r'\d+\s+(\w+)\((.*)\)\s+=\s+(-?\d+)', line)
    if not m:
        continue
    n += 1
    call, args = m.group(1), m.group(2)
    strings = re.findall(r'"([^"]*)"', args)
    if call in ('symlink', 'symlinkat'):  # the first is the link's text, not a file touched
        strings = strings[1:]
    elif call in ('readlink', 'readlinkat'):  # the second is the text read back (a holder search of
        strings = strings[:1]                 # /proc/PID/fd sees other processes' files), not a file touched
    paths = [p for p in strings if p.startswith('/')]
    for path in paths:
        if not path.startswith(HOST) and path.rstrip('/') not in ('/etc', '/var/lib/egpuctl', '/run/egpuctl'):
            continue
        reading = call in ('openat', 'open', 'stat', 'lstat', 'newfstatat', 'statx', 'access',
                           'faccessat', 'faccessat2', 'readlink', 'readlinkat') and not WRITE.search(args)
        if reading and path in LIBC:
            continue
        bad.append(line.rstrip())
if n < 100:
    print(f'only {n} system calls traced'); sys.exit(1)
for b in bad[:20]:
    print(b)
sys.exit(1 if bad else 0)
PY
}

# doctor inside a scenario without --root reads the scenario's /etc: the same verdicts as with an
# explicit --root of the scenario's root, and not the host's (whose unit and NICs it would report).
t_doctor_root() {
        a=$("$RUN_SCENARIO" "$SEEDS/seed-attached" sh -c '$EGPUCTL doctor --json; echo "rc=$?"' | grep -v '"root"')
        b=$("$RUN_SCENARIO" "$SEEDS/seed-attached" sh -c '$EGPUCTL doctor --json --root "$SCENARIO_ROOT"; echo "rc=$?"' |
                grep -v '"root"')
        expect "doctor without --root = doctor --root \$SCENARIO_ROOT" "$b" "$a"
        contains "the scenario's NIC pin" "lan0" "$a"
}

# Every seed scenario works with the simulated kernel: its tunnel (tunnels/1-1.*) opens and closes, and
# the main job (enroll, attach, detach) does in each what the seed's state allows: without an IOMMU
# attach refuses and leaves the functions as the seed has them; seed-unplugged gets 1-1 plugged
# (hotplug/1-1.umockdev); the USB-C cable has no Thunderbolt device to enrol.
t_seeds() {
        for s in "$SEEDS"/seed-*/; do
                name=$(basename "$s")
                [ -d "$s/tunnels" ] || [ "$name" = seed-usb-cable ] || fail "$name has no tunnels/"
                out=$("$EGPU_SIM" --preload "$EGPU_SIM_PRELOAD" --control "$TMP/ctl" "$s" -- sh -c '
E=$EGPUCTL
gpu() { $E status --json | python3 -c "import json,sys; print(\" \".join(f[\"driver\"] or \"none\" for g in json.load(sys.stdin)[\"gpus\"] for f in g[\"functions\"]) or \"no-gpu\")"; }
[ -e /sys/bus/thunderbolt/devices/1-1 ] || "$EGPU_SIM_CTL" "$EGPU_SIM_CONTROL" plug 1-1 >/dev/null 2>&1
$E enroll 1-1 >/dev/null 2>&1; echo "enroll rc=$?"
$E attach >/dev/null 2>&1; echo "attach rc=$?"; echo "gpu: $(gpu)"
$E detach >/dev/null 2>&1; echo "detach rc=$?"
for i in $(seq 100); do [ -e /sys/bus/pci/devices/0000:30:00.0 ] || break; sleep 0.02; done
echo "after detach: $(gpu) auth=$(cat /sys/bus/thunderbolt/devices/1-1/authorized 2>/dev/null || echo none)"' 2>&1)
                case "$name" in
                seed-usb-cable) want="enroll rc=1
attach rc=1
gpu: no-gpu
detach rc=1
after detach: no-gpu auth=none" ;;
                seed-no-iommu) want="enroll rc=0
attach rc=1
gpu: vfio-pci vfio-pci
detach rc=0
after detach: no-gpu auth=0" ;;
                *) want="enroll rc=0
attach rc=0
gpu: vfio-pci vfio-pci
detach rc=0
after detach: no-gpu auth=0" ;;
                esac
                expect "$name" "$want" "$out"
        done
}

# Everyday messages. status names a connected device that is not enrolled, with the command that
# enrols it, and stops once it is; --json says "enrolled". attach and detach with nothing enrolled say
# what to run and fail (tests/engine not-enrolled covers their wording in full).
t_messages() {
        out=$("$RUN_SCENARIO" --sim "$SEEDS/seed-unauthorized" sh -c '
E=$EGPUCTL
$E status; echo "rc=$?"
$E status --json | python3 -c "import json,sys; print([(d[\"name\"], d[\"enrolled\"]) for d in json.load(sys.stdin)[\"thunderbolt\"][\"devices\"]])"
$E attach; echo "attach rc=$?"
$E enroll 1-1 >/dev/null
$E status | grep -c "not enrolled"
$E attach >/dev/null
$E status --json | python3 -c "import json,sys; print([(g[\"bdf\"], g[\"enrolled\"]) for g in json.load(sys.stdin)[\"gpus\"]])"' 2>&1)
        contains "status: not enrolled" "  1-1 (Blackmagic Design eGPU Pro) is connected and not enrolled; to let egpuctl attach it: egpuctl enroll 1-1" "$out"
        contains "status: exit" "rc=0" "$out"
        contains "status --json" "[('0-0', None), ('1-0', None), ('1-1', False)]" "$out"
        contains "attach: what to run" "egpuctl: Nothing is enrolled, so there is nothing to attach" "$out"
        contains "attach: exit" "enroll 1-1
attach rc=1" "$out"
        contains "status once enrolled" "
0
[('0000:30:00.0', True)]" "$out"
}

# --help: every verb's summary starts in one column, whatever the length of its synopsis (a long one
# stands on its own line), continuation lines too, and no line is wider than 100; in each VERB --help
# the options' descriptions share a column.
t_help() {
        "$EGPUCTL" --help >"$TMP/help"
        for v in $("$EGPUCTL" --list-verbs 2>/dev/null || sed -n 's/^  \([a-z]*\) .*/\1/p' "$TMP/help"); do
                echo "== $v" >>"$TMP/verbs"
                "$EGPUCTL" "$v" --help >>"$TMP/verbs"
        done
        python3 - "$TMP/help" "$TMP/verbs" <<'PY' || fail "--help is not aligned (above)"
import re, sys
def column(l, first):
    """Where the description starts: after two spaces past the first word(s), or a continuation's indent."""
    m = re.match(first + r'.*?\S( {2,})\S', l)
    if m:
        return m.end() - 1
    m = re.match(r'^( {3,})\S', l)
    if m and not l.lstrip().startswith('-'):
        return len(m.group(1))
    return None  # a synopsis or option alone on its line
bad = []
lines = open(sys.argv[1]).read().split('\n')
verbs = lines[lines.index('Verbs:') + 1:lines.index('Options (also after the verb):') - 1]
cols = {column(l, r'^  \S') for l in verbs} - {None}
bad += ['too wide: ' + l for l in verbs if len(l) > 100]
if len(cols) != 1:
    bad.append(f'summaries start in columns {sorted(cols)}')
verb, block = None, None
for l in open(sys.argv[2]).read().split('\n') + ['== end']:
    if l.startswith('== ') or l.startswith('Common options'):
        cols = {column(o, r'^ +-') for o in block or []} - {None}
        if len(cols) > 1:
            bad.append(f'{verb} --help: options described from columns {sorted(cols)}')
        block = None
        if l.startswith('== '):
            verb = l[3:]
    elif l == 'Options:':
        block = []
    elif block is not None and l.strip():
        block.append(l)
for b in bad:
    print(b)
sys.exit(1 if bad else 0)
PY
}

# Colour on a terminal only: escapes on a pseudo-terminal, none with $NO_COLOR (not empty), TERM=dumb,
# --no-color, or into a pipe; an empty $NO_COLOR does not count (https://no-color.org).
t_color() {
        python3 - "$RUN_SCENARIO" "$SEEDS/seed-attached" "$EGPUCTL" <<'PY' || fail "colours (above)"
import os, pty, subprocess, sys
run, seed, egpuctl = sys.argv[1:4]
def status(env_extra, tty=True, args=()):
    env = dict(os.environ, TERM='xterm')
    env.pop('NO_COLOR', None)
    env.update(env_extra)
    if not tty:
        return subprocess.run([run, seed, egpuctl, 'status', *args], env=env, capture_output=True).stdout
    master, slave = pty.openpty()
    p = subprocess.Popen([run, seed, egpuctl, 'status', *args], env=env, stdout=slave, stderr=subprocess.DEVNULL)
    os.close(slave)
    out = b''
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    p.wait()
    return out
cases = [('terminal', {}, True, (), True), ('NO_COLOR=1', {'NO_COLOR': '1'}, True, (), False),
         ('NO_COLOR empty', {'NO_COLOR': ''}, True, (), True), ('TERM=dumb', {'TERM': 'dumb'}, True, (), False),
         ('--no-color', {}, True, ('--no-color',), False), ('pipe', {}, False, (), False)]
bad = 0
for name, env, tty, args, want in cases:
    out = status(env, tty, args)
    if b'eGPU 0000:30:00.0' not in out:
        print(f'{name}: no status: {out[:300]!r}'); bad = 1
    elif (b'\x1b[' in out) != want:
        print(f'{name}: colour {"missing" if want else "present"}'); bad = 1
sys.exit(bad)
PY
}

# wait_socket PID [N]: until the process has N sockets open (default 1: monitor's uevent monitor; 2 once
# monitor is connected to the daemon's events too), at most 5 s
WAIT_SOCKET='wait_socket() { i=0; while [ "$(ls -l /proc/$1/fd 2>/dev/null | grep -c socket:)" -lt "${2:-1}" ] && [ $i -lt 500 ]; do sleep 0.01; i=$((i + 1)); done; }'

# monitor --json through a simulated hot-plug with the daemon attaching: one JSON line per event, as it
# happens, with a timestamp; the eGPU's way is there in order: 1-1 added, authorized, its functions
# added, each bound to vfio-pci.
t_monitor() {
        "$EGPU_SIM" --preload "$EGPU_SIM_PRELOAD" --control "$TMP/ctl" "$SEEDS/seed-unplugged" -- sh -c "$WAIT_SOCKET"'
E=$EGPUCTL
ctl() { "$EGPU_SIM_CTL" "$EGPU_SIM_CONTROL" "$@" >/dev/null; }
ctl plug 1-1 && $E enroll 1-1 >/dev/null && ctl unplug 1-1
$E monitor --json >'"$TMP/events"' 2>'"$TMP/monitor.err"' &
monitor=$!
wait_socket $monitor
$E daemon 2>/dev/null &
daemon=$!
wait_socket $daemon
wait_socket $monitor 2
ctl plug 1-1
ctl wait-driver 0000:30:00.1 vfio-pci 5000
i=0; while ! grep -q "\"0000:30:00.1\".*vfio-pci" '"$TMP/events"' && [ $i -lt 500 ]; do sleep 0.01; i=$((i + 1)); done
i=0; while ! grep -q "\"1-1: attached\"" '"$TMP/events"' && [ $i -lt 500 ]; do sleep 0.01; i=$((i + 1)); done
kill $monitor; kill -TERM $daemon; wait' || fail "the session failed"
        [ ! -s "$TMP/monitor.err" ] || fail "monitor wrote to stderr: $(cat "$TMP/monitor.err")"
        python3 - "$TMP/events" <<'PY' || fail "monitor --json (above)"
import datetime, json, sys
events = [json.loads(l) for l in open(sys.argv[1])]
for e in events:
    datetime.datetime.strptime(e['timestamp'], '%Y-%m-%dT%H:%M:%S.%fZ')
    assert e['source'] in ('kernel', 'daemon') and e['text'], e
# the daemon's own words come too, from its socket
assert any(e['event'] == 'decision' and e['message'] == '1-1: attached' for e in events), 'no decision from the daemon'
events = [e for e in events if e['source'] == 'kernel']
def first(kind, device, driver=None):
    for i, e in enumerate(events):
        if e['event'] == kind and e['device'] == device and (driver is None or e['driver'] == driver):
            return i
    sys.exit(f'no {kind} {device} {driver or ""} in:\n' + '\n'.join(e['text'] for e in events))
order = [first('thunderbolt-added', '1-1'), first('authorized', '1-1'),
         first('function-added', '0000:30:00.0'), first('function-added', '0000:30:00.1'),
         first('driver-bound', '0000:30:00.0', 'vfio-pci'), first('driver-bound', '0000:30:00.1', 'vfio-pci')]
assert order == sorted(order), [events[i]['text'] for i in order]
gpu = events[first('function-added', '0000:30:00.0')]
assert gpu['tunnel'] and gpu['egpu'] == '0000:30:00.0' and gpu['group'] == 25 and gpu['name'] == '1002:687f', gpu
stamps = [e['timestamp_usec'] for e in events]
assert stamps == sorted(stamps), stamps
assert any(e['event'] == 'group-viable' and e['group'] == 25 for e in events), 'group 25 never viable'
print(len(events), 'events in order')
PY
}

# The daemon's decisions reach monitor through its socket ($RUNTIME_DIRECTORY/events, event-socket.h): a
# stand-in daemon listens there, as the real one does, and publishes a decision and a VM taking the eGPU
# in the documented format; monitor prints both, as JSON lines and as text, and carries on after the
# daemon went. monitor only reads: it sends nothing.
t_monitor_daemon() {
        export RUNTIME_DIRECTORY="$TMP/run"
        mkdir -p "$RUNTIME_DIRECTORY"
        for mode in --json text; do
                python3 - "$RUNTIME_DIRECTORY/events" "$EGPUCTL" "$mode" "$RUN_SCENARIO" "$SEEDS/seed-attached" <<'PY' >"$TMP/out" ||
import json, os, socket, subprocess, sys, time
path, egpuctl, mode, run, seed = sys.argv[1:6]
srv = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
srv.bind(path)
srv.listen(4)
srv.settimeout(10)
args = [run, seed, egpuctl, 'monitor'] + (['--json'] if mode == '--json' else [])
mon = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
conn, _ = srv.accept()
conn.send(b'EVENT=decision\nTIMESTAMP=1764000000000000\nSOURCE=daemon\nDEVICE=1-1\nMESSAGE=attaching 1-1 (policy auto)\n')
conn.send(b'EVENT=vm-plugged\nTIMESTAMP=1764000001000000\nSOURCE=daemon\nEGPU=0000:30:00.0\nVM=100\nNEWKEY=ignored\n')
conn.settimeout(0.3)
try:
    sent_by_monitor = conn.recv(100)
except (socket.timeout, OSError):
    sent_by_monitor = b''
conn.close()
srv.close()
os.unlink(path)
time.sleep(0.3)
if mon.poll() is not None:
    sys.exit('monitor ended when the daemon went')
mon.terminate()
out = mon.communicate(timeout=10)[0]
if sent_by_monitor:
    sys.exit(f'monitor sent {sent_by_monitor!r}')
print(out, end='')
PY
                        fail "monitor $mode with a stand-in daemon"
                if [ "$mode" = --json ]; then
                        python3 - "$TMP/out" <<'PY' || fail "monitor --json: $(cat "$TMP/out")"
import json, sys
e = [json.loads(l) for l in open(sys.argv[1])]
assert [x['event'] for x in e] == ['decision', 'vm-plugged'], e
assert e[0]['timestamp'] == '2025-11-24T16:00:00.000000Z' and e[0]['device'] == '1-1', e[0]
assert e[0]['message'] == 'attaching 1-1 (policy auto)' and e[0]['source'] == 'daemon', e[0]
assert e[1]['vm'] == '100' and e[1]['egpu'] == '0000:30:00.0', e[1]
PY
                else
                        out=$(cat "$TMP/out")
                        contains "text: decision" "  daemon: attaching 1-1 (policy auto)" "$out"
                        contains "text: vm" "  VM 100 took eGPU 0000:30:00.0" "$out"
                fi
        done
}

# Every option that 'VERB --list-options' gives completion is one the verb accepts, with a value exactly
# when it is listed with one: 'VERB --OPTION=VALUE --help' or 'VERB --OPTION --help' prints the verb's
# usage (getopt refuses an unknown option, and a value given to an option that takes none). In a
# scenario, so that nothing could reach the host.
t_list_options() {
        "$RUN_SCENARIO" "$SEEDS/seed-attached" sh -c '
for v in $($EGPUCTL --list-verbs); do
        $EGPUCTL $v --list-options | while read -r opt arg; do
                case "$arg" in
                "") set -- "$opt" ;;
                DIR) set -- "$opt=/tmp" ;;
                URL) set -- "$opt=http://127.0.0.1:1" ;;
                *"|"*) set -- "$opt=${arg%%|*}" ;;
                BDF) set -- "$opt=0000:30:00.0" ;;
                NAME) set -- "$opt=egpu" ;;
                VMID) set -- "$opt=100" ;;
                SOCKET) set -- "$opt=/run/vm.qmp" ;;
                DOMAIN) set -- "$opt=vm" ;;
                *) set -- "$opt=1" ;;
                esac
                out=$($EGPUCTL $v "$1" --help 2>&1) || { echo "egpuctl $v $1 --help: $out"; continue; }
                case "$out" in "Usage: egpuctl $v"*) ;; *) echo "egpuctl $v $1 --help: $out" ;; esac
        done
done' >"$TMP/out" 2>&1
        [ ! -s "$TMP/out" ] || fail "options listed that the verbs do not take as listed:
$(cat "$TMP/out")"
        contains "vm forms" "attach VMID
plug VMID
unplug VMID
hook VMID PHASE
xml" "$("$EGPUCTL" vm --list-arguments)"
        contains "enroll" "--policy auto|manual" "$("$EGPUCTL" enroll --list-options)"
}

# A stand-in for Proxmox's qm: 'qm list' prints what qemu-server's PVE/CLI/qm.pm prints.
make_qm() {
        mkdir -p "$TMP/bin"
        cat >"$TMP/bin/qm" <<'QM'
#!/bin/sh
[ "$1" = list ] || exit 2
printf '%10s %-20s %-10s %-10s %12s %-10s\n' VMID NAME STATUS 'MEM(MB)' 'BOOTDISK(GB)' PID
printf '%10s %-20s %-10s %-10s %12.2f %-10s\n' 100 ollama running 16384 64 4242
printf '%10s %-20s %-10s %-10s %12.2f %-10s\n' 9000 template stopped 2048 8 0
QM
        chmod +x "$TMP/bin/qm"
}

# A stand-in egpuctl with the verbs the lead adds later (vm plug, vm unplug, eject): the completion
# scripts offer them from the listings alone.
make_future_egpuctl() {
        cat >"$TMP/bin/egpuctl-next" <<'NEXT'
#!/bin/sh
case "$*" in
--list-verbs) printf '%s\n' status vm eject ;;
"vm --list-arguments") printf '%s\n' "attach VMID" "plug VMID" "unplug VMID" ;;
"vm --list-options") printf '%s\n' --help "--gpu BDF" ;;
"eject --list-arguments") echo DEVICE ;;
"eject --list-options") printf '%s\n' --help --force ;;
--list-devices) echo 1-1 ;;
*) exit 2 ;;
esac
NEXT
        chmod +x "$TMP/bin/egpuctl-next"
}

# bash: source the script, set COMP_WORDS, call _egpuctl, read COMPREPLY; with bash-completion
# loaded as on Debian, and without it.
t_completion_bash() {
        command -v bash >/dev/null 2>&1 || skip "no bash"
        make_qm
        make_future_egpuctl
        for with in bash-completion plain; do
                out=$(PATH="$TMP/bin:$PATH" WITH=$with "$RUN_SCENARIO" "$SEEDS/seed-attached" bash -c '
[ "$WITH" = plain ] || . /usr/share/bash-completion/bash_completion 2>/dev/null || echo "no bash-completion"
. "$TOP_SRCDIR/completion/egpuctl"
comp() { COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}; COMPREPLY=(); _egpuctl; echo "${COMPREPLY[*]}"; }
E=$EGPUCTL
$E enroll 1-1 >/dev/null
echo "verbs: $(comp $E "")"
echo "mo: $(comp $E mo)"
echo "vm: $(comp $E vm "")"
echo "vm attach: $(comp $E vm attach "")"
echo "vm hook: $(comp $E vm hook 100 "")"
echo "attach: $(comp $E attach "")"
echo "attach 1: $(comp $E attach 1)"
echo "detach opts: $(comp $E detach --f)"
echo "policy: $(comp $E enroll --policy "")"
echo "after option value: $(comp $E enroll --policy auto "")"
echo "root: $(comp $E --root "$TOP_SRCDIR/complet")"
echo "next vm: $(comp egpuctl-next vm "")"
echo "next vm plug: $(comp egpuctl-next vm plug "")"
echo "next eject: $(comp egpuctl-next eject "") $(comp egpuctl-next eject --)"
echo "next verbs: $(comp egpuctl-next "")"' 2>&1)
                expect "bash ($with)" "verbs: $("$EGPUCTL" --list-verbs | tr '\n' ' ' | sed 's/ $//')
mo: monitor
vm: attach plug unplug hook xml
vm attach: 100 9000
vm hook: pre-start post-start pre-stop post-stop
attach: 1-1 c9030000-0060-6c0e-83b6-5e1b2f4a1d07
attach 1: 1-1
detach opts: --force
policy: auto manual
after option value: 1-1 c9030000-0060-6c0e-83b6-5e1b2f4a1d07
root: $TOP_SRCDIR/completion
next vm: attach plug unplug
next vm plug: 100 9000
next eject: 1-1 --help --force
next verbs: status vm eject" "$out"
        done
}

# zsh: the script is sourced as compinit would run it, with words and CURRENT set, and compadd and
# _files standing in for the completion system's (they print what they are given).
t_completion_zsh() {
        command -v zsh >/dev/null 2>&1 || skip "zsh is not installed (Debian: apt-get install zsh)"
        make_qm
        make_future_egpuctl
        out=$(PATH="$TMP/bin:$PATH" "$RUN_SCENARIO" "$SEEDS/seed-attached" zsh -f -c '
compadd() { while [[ $1 == -* && $1 != -- ]]; do shift; done; [[ $1 == -- ]] && shift; print -r -- "${(j: :)@}"; }
_files() { print -r -- "FILES $*"; }
comp() { words=("$@"); CURRENT=$#; PREFIX=${@[-1]}; source "$TOP_SRCDIR/completion/_egpuctl"; }
E=$EGPUCTL
$E enroll 1-1 >/dev/null
print "verbs: $(comp $E "")"
print "vm: $(comp $E vm "")"
print "vm attach: $(comp $E vm attach "")"
print "attach: $(comp $E attach "")"
print "detach opts: $(comp $E detach --)"
print "policy: $(comp $E enroll --policy "")"
print "root: $(comp $E nic pin --root "")"
print "next vm: $(comp egpuctl-next vm "")"
print "next eject: $(comp egpuctl-next eject "")"' 2>&1)
        expect "zsh" "verbs: $("$EGPUCTL" --list-verbs | tr '\n' ' ' | sed 's/ $//')
vm: attach plug unplug hook xml
vm attach: 100 9000
attach: 1-1 c9030000-0060-6c0e-83b6-5e1b2f4a1d07
detach opts: $("$EGPUCTL" detach --list-options | cut -d' ' -f1 | tr '\n' ' ' | sed 's/ $//')
policy: auto manual
root: FILES -/
next vm: attach plug unplug
next eject: 1-1" "$out"
}

# The README's first command: two commands at the top, the first one installing, building and running
# the main job; its last step, run as a newcomer would (from the top of the tree, build/ being this
# build), enrols 1-1, attaches it step by step (authorized, the eGPU appearing, each function on
# vfio-pci, each group checked) and shows the status. Then, with a tunnel that takes 400 ms to come up,
# attach's lines are shown as they happen: the first before the tunnel is up, the rest after.
t_first_run() {
        step=$(python3 - "$TOP_SRCDIR/README.md" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
top = text[:text.index('\n## ')]
blocks = re.findall(r'^    (\S.*)$', top, re.M)
assert len(blocks) == 2, f'not two commands at the top of README.md: {blocks}'
first, second = blocks
assert second.startswith('.ci/install-deps && ') and '.ci/test' in second, second
# the steps: split at each "&&" outside quotes
steps, cur, quote, i = [], '', None, 0
while i < len(first):
    c = first[i]
    if quote is None and first.startswith(' && ', i):
        steps.append(cur)
        cur, i = '', i + 4
        continue
    if quote is None and c in '"\'':
        quote = c
    elif c == quote:
        quote = None
    cur += c
    i += 1
steps.append(cur)
steps = [x.strip() for x in steps]
assert steps[:3] == ['.ci/install-deps', 'meson setup build', 'meson compile -C build'], steps
print(steps[-1])
PY
) || fail "README.md's first command"
        mkdir "$TMP/clone"
        ln -s "$BUILD_ROOT" "$TMP/clone/build"
        ln -s "$TOP_SRCDIR/tests" "$TMP/clone/tests"
        out=$(cd "$TMP/clone" && env -u EGPU_SIM sh -c "$step" 2>&1) || fail "the README's last step failed: $out"
        python3 - "$out" <<'PY' || fail "the README's last step (above)"
import sys
out = sys.argv[1]
want = ['Enrolled 1-1 (Blackmagic Design eGPU Pro',
        '1-1: authorized (user level)',
        '1-1: tunnel up, eGPU 0000:30:00.0 appeared: 0000:30:00.0, 0000:30:00.1',
        '0000:30:00.0: bound to vfio-pci',
        '0000:30:00.1: bound to vfio-pci',
        'IOMMU group 25: ready for a VM (type1v2 container; 0000:30:00.0:',
        'IOMMU group 26: ready for a VM (type1v2 container; 0000:30:00.1:',
        'eGPU 0000:30:00.0  1002:687f Vega 10 XL/XT [Radeon RX Vega 56/64]  behind Thunderbolt device 1-1 (Blackmagic Design eGPU Pro)',
        '0000:30:00.0  1002:687f  030000  vfio-pci (override vfio-pci)',
        '0000:30:00.1  1002:aaf8  040300  vfio-pci (override vfio-pci)',
        'IOMMU groups: 25, 26 (viable, isolated)']
at = 0
for w in want:
    i = out.find(w, at)
    if i < 0:
        sys.exit(f'no "{w}" after position {at} in:\n{out}')
    at = i + len(w)
PY
        "$EGPU_SIM" --preload "$EGPU_SIM_PRELOAD" --tunnel-delay-ms 400 "$SEEDS/seed-unauthorized" -- python3 -c '
import os, subprocess, sys, time
e = os.environ["EGPUCTL"]
subprocess.run([e, "enroll", "1-1"], check=True, stdout=subprocess.DEVNULL)
p = subprocess.Popen([e, "attach"], stdout=subprocess.PIPE)
seen = []
for line in iter(p.stdout.readline, b""):
    seen.append((time.monotonic(), line.decode().rstrip()))
p.wait()
auth = next(s for s, l in seen if "authorized" in l)
bound = next(s for s, l in seen if "0000:30:00.0: bound to vfio-pci" in l)
print("\n".join(l for _, l in seen))
sys.exit(0 if p.returncode == 0 and bound - auth >= 0.3 else f"authorized at {auth}, bound at {bound}: not as it happens")' \
                >"$TMP/live" 2>&1 || fail "attach's lines do not come as they happen: $(cat "$TMP/live")"
}

run_case "$@"
