#!/usr/bin/env bash
# The libvirt tests again under valgrind: every domain handle, stats record
# and allocation freed, and no invalid access.
# shellcheck source=tests/lib.sh
source "$(dirname "$0")/lib.sh"

MC_UNDER_VALGRIND=1 valgrind -q --leak-check=full --errors-for-leak-kinds=definite,indirect --error-exitcode=99 \
    "$top/bin/test_libvirt" "$nodes" >"$scratch/out" 2>&1
status=$?
expect "valgrind: the libvirt tests leak nothing and touch nothing invalid" \
    "status $status: $(grep -m10 '==' "$scratch/out")" test "$status" = 0
