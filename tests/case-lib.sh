# SPDX-License-Identifier: GPL-2.0-or-later
# Sourced by the shell test scripts that take a CASE (tests/sim/sim-test.sh, tests/engine/engine-test.sh):
# a temporary folder $TMP removed at exit, the checks, and run_case, which runs t_CASE.

TMP=$(mktemp -d)
finished=0
trap 'rc=$?; rm -rf "$TMP"; [ $finished = 1 ] || echo "FAIL: stopped early (exit status $rc)" >&2' EXIT

fail() {
        echo "FAIL: $*" >&2
        exit 1
}

# skip REASON: the case cannot run here (meson's exit status 77)
skip() {
        echo "SKIP: $*"
        finished=1
        exit 77
}

# expect NAME EXPECTED ACTUAL
expect() {
        [ "$2" = "$3" ] && return 0
        printf 'FAIL: %s\n--- expected\n%s\n--- actual\n%s\n' "$1" "$2" "$3" >&2
        exit 1
}

# contains NAME NEEDLE HAYSTACK
contains() {
        case "$3" in
        *"$2"*) return 0 ;;
        esac
        printf 'FAIL: %s: no "%s" in\n%s\n' "$1" "$2" "$3" >&2
        exit 1
}

# run_case CASE: runs t_CASE (dashes as underscores); "ok CASE" when it returns
run_case() {
        fn=t_$(echo "${1:-}" | tr - _)
        if [ -z "${1:-}" ] || ! command -v "$fn" >/dev/null 2>&1; then
                echo "usage: $(basename "$0") CASE" >&2
                exit 2
        fi
        "$fn"
        finished=1
        echo "ok $1"
}
