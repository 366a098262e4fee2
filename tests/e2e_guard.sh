#!/usr/bin/env bash
# make e2e's scenarios 6 and 7 disturb the host's libvirtd: the check that
# refuses them on a host with guests of its own (tests/e2e/lib.sh,
# e2e_may_disrupt_libvirtd), run alone against libvirt's test driver, whose
# nodes stand for hosts. No libvirtd, no guest.
# shellcheck source=tests/lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=tests/e2e/lib.sh
source "$top/tests/e2e/lib.sh"

# may_disrupt URI [ENV...]: the check's status on that host, with env's
# options and settings ENV; its words in $scratch/guard.err.
may_disrupt() {
    local uri=$1
    shift
    # shellcheck disable=SC2016 # expanded by the inner shell
    env "$@" MC_LIBVIRT_URI="$uri" bash -c 'source "$1" && e2e_may_disrupt_libvirtd "scenario 6"' \
        sh "$top/tests/e2e/lib.sh" >"$scratch/guard.out" 2>"$scratch/guard.err"
}

names() {
    needs "e2e guard: $1" virsh libvirt-clients
}

name="e2e guard: a host with a guest the tests did not create refuses scenarios 6 and 7, naming it"
if names "$name"; then
    may_disrupt test:///default -u MC_E2E_DISRUPT_HOST
    status=$?
    expect "$name" "status $status: $(cat "$scratch/guard.err")" \
        test "$status" = 1 -a -n "$(grep -E 'REFUSED: scenario 6 .*' "$scratch/guard.err")" -a \
        -n "$(grep -E '^e2e: test\.$' "$scratch/guard.err")"
fi

name="e2e guard: a guest defined but shut off counts as the host's own"
if names "$name"; then
    may_disrupt "test://$nodes/all_off.xml" -u MC_E2E_DISRUPT_HOST
    status=$?
    expect "$name" "status $status: $(cat "$scratch/guard.err")" \
        test "$status" = 1 -a -n "$(grep '^e2e: vm-off\.$' "$scratch/guard.err")"
fi

name="e2e guard: MC_E2E_DISRUPT_HOST=1 runs them on such a host"
if names "$name"; then
    may_disrupt test:///default MC_E2E_DISRUPT_HOST=1
    status=$?
    expect "$name" "status $status: $(cat "$scratch/guard.err")" test "$status" = 0
fi

name="e2e guard: a host with only the tests' guests, running or defined, runs them"
if names "$name"; then
    may_disrupt "test://$nodes/test_guests_only.xml" -u MC_E2E_DISRUPT_HOST
    status=$?
    expect "$name" "status $status: $(cat "$scratch/guard.err")" \
        test "$status" = 0 -a ! -s "$scratch/guard.err"
fi

name="e2e guard: a host whose guests cannot be listed refuses them"
if names "$name"; then
    may_disrupt "qemu+unix:///system?socket=/nonexistent/libvirt-sock" -u MC_E2E_DISRUPT_HOST
    status=$?
    expect "$name" "status $status: $(cat "$scratch/guard.err")" \
        test "$status" = 1 -a -n "$(grep 'REFUSED: scenario 6: cannot tell' "$scratch/guard.err")"
fi
