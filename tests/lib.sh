# shellcheck shell=bash disable=SC2034 # its variables are for the tests that source it
# Shared by the shell tests: each test prints "ok - NAME" or
# "not ok - NAME: WHY", which tests/run counts.

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
program="$top/bin/mem_coordinator"
nodes="$top/tests/nodes"
scratch=$(mktemp -d /tmp/mc-test.XXXXXX)
trap 'rm -rf "$scratch"' EXIT

ok() { echo "ok - $1"; }
not_ok() { echo "not ok - $1: $2"; }

# needs NAME COMMAND PACKAGE: true when COMMAND is there; else NAME fails in
# one line naming the package, not as if the code were wrong.
needs() {
    command -v "$2" >/dev/null && return
    not_ok "$1" "needs $2 (apt-get install $3)"
    return 1
}

# expect NAME WHY COMMAND...: ok when COMMAND succeeds.
expect() {
    local name=$1 why=$2
    shift 2
    if "$@"; then ok "$name"; else not_ok "$name" "$why"; fi
}

# bounded COMMAND...: a run that should take a moment may take 30 s at most,
# so that a hang fails its test instead of stalling the suite (status 124).
bounded() {
    timeout -k 5 30 "$@"
}

# trace_lines FILE N: wait up to 10 s until FILE has N lines.
trace_lines() {
    for _ in $(seq 100); do
        [ "$(wc -l 2>/dev/null <"$1")" = "$2" ] && return
        sleep 0.1
    done
}

# signal_and_wait SIGNAL PID TIMEOUT_S: send SIGNAL to PID and wait for it.
# sent says whether it was still running (one that had already ended would
# pass for one the signal stopped); status is its exit status, or 124;
# waited the seconds since the signal.
signal_and_wait() {
    local started=$SECONDS
    if kill -"$1" "$2" 2>/dev/null; then sent=yes; else sent=no; fi
    wait_for_exit "$2" "$3"
    status=$?
    waited=$((SECONDS - started))
}

# Wait up to $2 seconds for process $1 to end; its exit status, or 124.
wait_for_exit() {
    local pid=$1 deadline=$((SECONDS + $2))
    while kill -0 "$pid" 2>/dev/null; do
        if ((SECONDS >= deadline)); then
            kill -KILL "$pid" 2>/dev/null
            wait "$pid" 2>/dev/null
            return 124
        fi
        sleep 0.1
    done
    wait "$pid"
}
