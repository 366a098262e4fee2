#!/usr/bin/env bash
# The program as a user runs it, against libvirt's test driver: its output,
# its trace, its loop and its signals.
# shellcheck source=tests/lib.sh
source "$(dirname "$0")/lib.sh"

four="test://$nodes/four_guests.xml"

# One cycle with a trace: with seed, the original policy, vm-big (512 MiB
# unused) gives half to vm-small.
bounded "$program" -c "$four" --once --policy seed --trace "$scratch/once.json" 1 >"$scratch/once.out" 2>&1
status=$?
expect "program: --once exits 0" "status $status: $(cat "$scratch/once.out")" test "$status" = 0
expect "program: --once writes one trace line" "$(wc -l <"$scratch/once.json") lines" \
    test "$(wc -l <"$scratch/once.json")" = 1
move=$(jq -c '[.guests[] | {name, delta_kib, peer, outcome}]' "$scratch/once.json")
expect "program: the trace shows the move vm-big to vm-small, applied" "$move" \
    test "$move" = '[{"name":"vm-big","delta_kib":-262144,"peer":"vm-small","outcome":"applied"},{"name":"vm-mid","delta_kib":0,"peer":null,"outcome":null},{"name":"vm-small","delta_kib":262144,"peer":"vm-big","outcome":"applied"}]'
figures=$(jq -c '[.policy, .starve_kib, .waste_kib, .host_free_kib, (.guests[0] | .actual_kib, .unused_kib, .max_kib)]' "$scratch/once.json")
expect "program: the trace carries the policy, thresholds and figures" "$figures" \
    test "$figures" = '["seed",153600,307200,14999552,1048576,524288,2097152]'
expect "program: the cycle's line names what moved" "$(cat "$scratch/once.out")" \
    grep -qE '^[0-9:]{8}  3 guests  host 14648 MiB free  vm-big -256 MiB \(to vm-small\)  vm-small \+256 MiB \(from vm-big\)$' "$scratch/once.out"
expect "program: the host estimate is said to be one" "$(cat "$scratch/once.out")" \
    grep -q 'host free memory is an estimate' "$scratch/once.out"

# The README's first look: test:///default has one guest with 1 GiB unused
# on a host with 1 GiB free, short of HOST_COMFORT above its reserve: what
# the host lacks goes back at once, then the rest above the waste threshold.
"$program" -c test:///default -v --trace "$scratch/default.json" 1 >"$scratch/default.out" 2>&1 &
first_look=$!
trace_lines "$scratch/default.json" 2
signal_and_wait INT "$first_look" 5
expect "program: -v prints the guest table; a host short of room gets what it lacks at the first look" \
    "status $status: $(cat "$scratch/default.out")" \
    test "$status" = 0 -a \
    -n "$(grep -E '^  test +2048 +2048 +1024 +1024 +256 +\+0 +8192 +-  -256 MiB \(to host\)$' "$scratch/default.out")" -a \
    -n "$(grep -E '^  test +1792 +1792 +896 +896 +224 +\+0 +8192 +-  -512 MiB \(to host\)$' "$scratch/default.out")"

# --guests leaves the others out: vm-big, alone with vm-mid, gives to the host.
bounded "$program" -c "$four" --once --policy seed --guests 'vm-[bm]*' --trace "$scratch/only.json" 1 \
    >/dev/null 2>&1
only=$(jq -c '[.guests[] | {name, delta_kib, peer}]' "$scratch/only.json")
expect "program: --guests balances only the guests it matches" "$only" \
    test "$only" = '[{"name":"vm-big","delta_kib":-217088,"peer":"host"},{"name":"vm-mid","delta_kib":0,"peer":null}]'

# Each balloon's features come from its guest's XML, and what adaptive
# measures a guest by (usable: MemAvailable) and its cache ride beside its
# unused memory in the guest table, the trace and the metrics.
features="test://$nodes/balloon_features.xml"
bounded "$program" -c "$features" --once -v --trace "$scratch/features.json" \
    --metrics "$scratch/features.prom" 1 >"$scratch/features.out" 2>&1
seen=$(jq -c '[.guests[] | [.name, .free_page_reporting, .deflate_on_oom, .usable_kib, .disk_caches_kib]]' \
    "$scratch/features.json")
expect "program: the trace carries each balloon's features, its usable memory and its cache" "$seen" \
    test "$seen" = '[["vm-fpr",true,false,262144,65536],["vm-oom",false,true,262144,65536],["vm-plain",false,false,262144,65536]]'
expect "program: -v shows each guest's usable memory, its cache and its balloon's features" \
    "$(cat "$scratch/features.out")" \
    test -n "$(grep -E '^  vm-fpr +512 +512 +256 +256 +64 +\+0 +2048 +fpr$' "$scratch/features.out")" \
    -a -n "$(grep -E '^  vm-oom +512 +512 +256 +256 +64 +\+0 +2048 +oom$' "$scratch/features.out")" \
    -a -n "$(grep -E '^  vm-plain +512 +512 +256 +256 +64 +\+0 +2048 +-$' "$scratch/features.out")"
expect "program: the metrics carry usable memory, cache and balloon features" \
    "$(grep -v '^#' "$scratch/features.prom")" \
    test -n "$(grep -x 'mem_coordinator_guest_usable_bytes{guest="vm-oom"} 268435456' "$scratch/features.prom")" \
    -a -n "$(grep -x 'mem_coordinator_guest_disk_caches_bytes{guest="vm-oom"} 67108864' "$scratch/features.prom")" \
    -a -n "$(grep -x 'mem_coordinator_guest_free_page_reporting{guest="vm-fpr"} 1' "$scratch/features.prom")" \
    -a -n "$(grep -x 'mem_coordinator_guest_free_page_reporting{guest="vm-oom"} 0' "$scratch/features.prom")" \
    -a -n "$(grep -x 'mem_coordinator_guest_deflate_on_oom{guest="vm-oom"} 1' "$scratch/features.prom")"

# A guest that reports no usable memory (an old guest kernel) is measured by
# its unused memory, said once per guest, and only by adaptive, which
# measures usable.
echo no-usable >"$scratch/no-usable"
for policy in adaptive seed; do
    MC_FAULT="$scratch/no-usable" LD_PRELOAD="$top/bin/faults.so" "$program" -c "$features" \
        --policy $policy --trace "$scratch/no-usable-$policy.json" 1 >"$scratch/no-usable-$policy.out" 2>&1 &
    running=$!
    trace_lines "$scratch/no-usable-$policy.json" 3
    signal_and_wait INT "$running" 5
done
said=$(grep -c 'vm-oom: reports no usable memory (MemAvailable); measured by its free memory' \
    "$scratch/no-usable-adaptive.out")
usable=$(jq -cs '[.[].guests[].usable_kib] | unique' "$scratch/no-usable-adaptive.json")
expect "program: a guest without usable is measured by unused, said once per guest by adaptive" \
    "said $said times in 3 looks, usable in the trace $usable: $(cat "$scratch/no-usable-adaptive.out")" \
    test "$said" = 1 -a "$usable" = '[null]' -a "$(grep -c 'reports no usable memory' "$scratch/no-usable-adaptive.out")" = 3
expect "program: seed, which measures unused, says nothing of a missing usable" \
    "$(cat "$scratch/no-usable-seed.out")" test -z "$(grep 'usable' "$scratch/no-usable-seed.out")"

# libvirt's own debug log names every API call the program makes.
api_calls() {
    grep -o "debug : $1:" "$2" | wc -l
}
LIBVIRT_LOG_FILTERS="1:libvirt" LIBVIRT_LOG_OUTPUTS="1:file:$scratch/only.log" \
    bounded "$program" -c "$four" --once -q --guests 'vm-[bm]*' 1 >/dev/null 2>&1
read_all=$(api_calls virConnectGetAllDomainStats "$scratch/only.log")
read_each=$(api_calls virDomainMemoryStats "$scratch/only.log")
expect "program: --guests reads only the guests it matches" \
    "$read_all calls to read every guest, $read_each guests read one by one" \
    test "$read_all" = 0 -a "$read_each" = 2

# A look reads no metadata: each guest's settings are read when it is first
# seen, and again only when libvirt says they changed (design.md), so that
# a look stays one bulk call whatever the number of guests.
LIBVIRT_LOG_FILTERS="1:libvirt" LIBVIRT_LOG_OUTPUTS="1:file:$scratch/looks.log" \
    "$program" -c "$four" -n -q --trace "$scratch/looks.json" 1 >/dev/null 2>&1 &
pid=$!
trace_lines "$scratch/looks.json" 4
signal_and_wait TERM "$pid" 5
looks=$(wc -l <"$scratch/looks.json")
reads=$(api_calls virDomainGetMetadata "$scratch/looks.log")
expect "program: a look reads no metadata" \
    "$reads metadata reads in $looks looks of 3 guests, expected 3" \
    test "$looks" -ge 4 -a "$reads" = 3

# Statistics are read with NOWAIT, so that a guest whose QEMU is busy (a
# migration, a snapshot) does not stall every other guest's look.
flags_of() {
    grep -o "debug : $1:[0-9]* : .*flags=0x[0-9a-f]*" "$2" | head -1 | grep -o '0x[0-9a-f]*$'
}
LIBVIRT_LOG_FILTERS="1:libvirt" LIBVIRT_LOG_OUTPUTS="1:file:$scratch/nowait.log" \
    bounded "$program" -c "$four" --once -q 1 >/dev/null 2>&1
all_flags=$(flags_of virConnectGetAllDomainStats "$scratch/nowait.log")
list_flags=$(flags_of virDomainListGetStats "$scratch/only.log")
expect "program: statistics are read without waiting on a busy guest (NOWAIT)" \
    "virConnectGetAllDomainStats flags ${all_flags:-none}, virDomainListGetStats flags ${list_flags:-none}" \
    test -n "$all_flags" -a -n "$list_flags" -a $((${all_flags:-0} & 0x20000000)) != 0 -a \
    $((${list_flags:-0} & 0x20000000)) != 0

# A dry run changes nothing on the host, not even a statistics period.
for dry in -n ""; do
    LIBVIRT_LOG_FILTERS="1:libvirt" LIBVIRT_LOG_OUTPUTS="1:file:$scratch/period$dry.log" \
        bounded "$program" -c "test://$nodes/no_balloon.xml" --once -q $dry 1 >/dev/null 2>&1
done
expect "program: a dry run sets no statistics period" \
    "$(api_calls virDomainSetMemoryStatsPeriod "$scratch/period-n.log") calls with -n, $(api_calls virDomainSetMemoryStatsPeriod "$scratch/period.log") without" \
    test "$(api_calls virDomainSetMemoryStatsPeriod "$scratch/period-n.log")" = 0 -a \
    "$(api_calls virDomainSetMemoryStatsPeriod "$scratch/period.log")" = 1

# The trace is never written through a symlink planted in its place.
echo "precious" >"$scratch/precious"
ln -s "$scratch/precious" "$scratch/planted.json"
bounded "$program" -c "$four" --once -q --trace "$scratch/planted.json" 1 >"$scratch/planted.out" 2>&1
status=$?
expect "program: a trace path that is a symlink is refused with status 2, its target untouched" \
    "status $status, target: $(cat "$scratch/precious"): $(cat "$scratch/planted.out")" \
    test "$status" = 2 -a "$(cat "$scratch/precious")" = precious
# Under umask 0, so that the mode is the program's own choice.
(umask 0 && bounded "$program" -c "$four" --once -q --trace "$scratch/mode.json" 1 >/dev/null 2>&1)
expect "program: the trace is not writable by others" "$(stat -c %A "$scratch/mode.json" 2>&1)" \
    test -f "$scratch/mode.json" -a -z "$(find "$scratch/mode.json" -perm /022)"
expect "program: adaptive is the default policy" "$(jq -r .policy "$scratch/mode.json")" \
    test "$(jq -r .policy "$scratch/mode.json")" = adaptive

# --metrics: Prometheus's text format, read by Prometheus's own parser
# (python3-prometheus-client), each figure as the same cycle's trace has it.
if /usr/bin/python3 -c 'import prometheus_client' 2>/dev/null; then
    bounded "$program" -c "$four" --once -q --metrics "$scratch/m.prom" --trace "$scratch/m.json" 1 \
        >"$scratch/m.out" 2>&1
    expect "program: --metrics writes what the trace says, in Prometheus's format" \
        "$(cat "$scratch/m.out"; "$top/tests/check_metrics.py" "$scratch/m.prom" "$scratch/m.json" 2>&1)" \
        "$top/tests/check_metrics.py" "$scratch/m.prom" "$scratch/m.json"
    expect "program: --metrics leaves no temporary file" "$(ls "$scratch"/m.prom*)" \
        test ! -e "$scratch/m.prom.tmp"
else
    for name in "writes what the trace says, in Prometheus's format" "leaves no temporary file"; do
        not_ok "program: --metrics $name" "needs python3-prometheus-client (apt-get install python3-prometheus-client)"
    done
fi

# Faults the test driver cannot have: bin/faults.so makes libvirt fail, or
# plants files, from inside the program (tests/faults.c).
faults="$top/bin/faults.so"

# The metrics' temporary is created anew, never opened where a file was
# planted between its unlink and its open (here a hard link, which no
# O_NOFOLLOW stops).
echo precious >"$scratch/precious-metrics"
MC_PLANT="$scratch/precious-metrics" LD_PRELOAD="$faults" \
    bounded "$program" -c "$four" --once -q --metrics "$scratch/planted.prom" 1 >"$scratch/planted-m.out" 2>&1
expect "program: the metrics' temporary is never written through a file planted in its place" \
    "the planted file holds $(wc -c <"$scratch/precious-metrics") bytes, not 9: $(cat "$scratch/planted-m.out")" \
    test "$(cat "$scratch/precious-metrics")" = precious -a \
    -n "$(grep "cannot write the metrics to '$scratch/planted.prom.tmp': File exists" "$scratch/planted-m.out")"

# --metrics replaces its file by a rename: what is not a regular file (a
# device, a pipe) is never replaced, and refused at start in one line.
mkfifo "$scratch/pipe.prom"
bounded "$program" -c "$four" --once -q --metrics "$scratch/pipe.prom" 1 >"$scratch/pipe.out" 2>&1
status=$?
expect "program: --metrics refuses at start a path that is not a regular file, and leaves it be" \
    "status $status, $(stat -c %F "$scratch/pipe.prom"): $(cat "$scratch/pipe.out")" \
    test "$status" = 2 -a -p "$scratch/pipe.prom" -a "$(wc -l <"$scratch/pipe.out")" = 1 -a \
    ! -e "$scratch/pipe.prom.tmp"

# A dry run writes no metrics: with the service's options it would
# overwrite the service's file.
echo precious >"$scratch/service.prom"
bounded "$program" -c "$four" --once -n --metrics "$scratch/service.prom" 1 >"$scratch/dry-m.out" 2>&1
status=$?
expect "program: a dry run refuses --metrics, and leaves the file alone" \
    "status $status, the file: $(cat "$scratch/service.prom"): $(cat "$scratch/dry-m.out")" \
    test "$status" = 2 -a "$(cat "$scratch/service.prom")" = precious

# While it runs, a metrics file that became a pipe is left be, and a rename
# that fails leaves no temporary behind; each is warned once, and said when
# the metrics are written again.
MC_FAULT="$scratch/fault" LD_PRELOAD="$faults" "$program" -c "$four" --wait \
    --metrics "$scratch/run.prom" --trace "$scratch/run-m.json" 1 >"$scratch/run-m.out" 2>&1 &
pid=$!
trace_lines "$scratch/run-m.json" 1
# A pipe made between a look's check and its rename is replaced: no rename
# can refuse what stands at its target. On a loaded machine that window
# can be hit, so the pipe is planted again, up to three times; a pipe that
# stands at the path when a look begins must be left be every time.
piped=no
for try in 1 2 3; do
    rm -f "$scratch/run.prom" && mkfifo "$scratch/run.prom"
    lines=$(wc -l <"$scratch/run-m.json")
    trace_lines "$scratch/run-m.json" $((lines + 2))
    [ -p "$scratch/run.prom" ] && piped=yes && break
done
rm -f "$scratch/run.prom"
lines=$(wc -l <"$scratch/run-m.json")
trace_lines "$scratch/run-m.json" $((lines + 1))
echo rename >"$scratch/fault"
trace_lines "$scratch/run-m.json" $((lines + 4))
signal_and_wait TERM "$pid" 5
rm -f "$scratch/fault"
expect "program: a metrics file that is no longer a regular file is left be" \
    "still a pipe two looks later: $piped: $(cat "$scratch/run-m.out")" test "$piped" = yes
expect "program: a metrics file that cannot take its place leaves no temporary behind" \
    "$(ls "$scratch"/run.prom*)" test ! -e "$scratch/run.prom.tmp"
expect "program: metrics that cannot be written are warned once a failure, and said when written again" \
    "$(grep metrics "$scratch/run-m.out")" \
    test "$(grep -c "cannot write the metrics to '$scratch/run.prom': not a regular file" "$scratch/run-m.out")" = 1 -a \
    "$(grep -c "cannot write the metrics to '$scratch/run.prom': Input/output error" "$scratch/run-m.out")" = 1 -a \
    "$(grep -c 'the metrics are written again' "$scratch/run-m.out")" = 1

# One coordinator per libvirt connection: a second refuses with status 4
# while the first runs, and starts once it has gone.
"$program" -c "$four" -q --wait --trace "$scratch/first.json" 1 >/dev/null 2>&1 &
first=$!
trace_lines "$scratch/first.json" 1 # it holds the lock before its first cycle
bounded "$program" -c "$four" -q --once 1 >"$scratch/second.out" 2>&1
second=$?
# The same libvirt by another URI text: a transport parameter, or libvirt's
# default URI.
bounded "$program" -c "$four?no_verify=1" -q --once 1 >"$scratch/alias.out" 2>&1
alias=$?
LIBVIRT_DEFAULT_URI="$four" bounded "$program" -q --once 1 >"$scratch/default-uri.out" 2>&1
default_uri=$?
# A dry run changes nothing: it runs beside the coordinator that holds the lock.
bounded "$program" -c "$four" -n --once 1 >"$scratch/dry-beside.out" 2>&1
dry_beside=$?
kill -TERM "$first" 2>/dev/null
wait_for_exit "$first" 5
bounded "$program" -c "$four" -q --once 1 >/dev/null 2>&1
third=$?
expect "program: a second coordinator for the same libvirt refuses with status 4, and says who holds it" \
    "status $second: $(cat "$scratch/second.out")" \
    test "$second" = 4 -a -n "$(grep "another coordinator (pid $first) already balances" "$scratch/second.out")"
expect "program: the lock goes with the coordinator that held it" "status $third" test "$third" = 0
expect "program: the lock is the libvirt's, not the URI's text: the same one by another URI is refused" \
    "status $alias with a transport parameter, $default_uri by libvirt's default URI: $(cat "$scratch/alias.out")" \
    test "$alias" = 4 -a "$default_uri" = 4
expect "program: a dry run runs beside the coordinator that holds the lock" \
    "status $dry_beside: $(cat "$scratch/dry-beside.out")" \
    test "$dry_beside" = 0 -a -n "$(grep -F '[dry-run]' "$scratch/dry-beside.out")"

# Dry run: decides, reports, changes nothing.
bounded "$program" -c "$four" --once -n --policy seed --trace "$scratch/dry.json" 1 >"$scratch/dry.out" 2>&1
outcomes=$(jq -r '[.dry_run, (.guests[] | select(.outcome) | .outcome)] | join(",")' "$scratch/dry.json")
expect "program: a dry run marks its resizes as such" "$outcomes" test "$outcomes" = "true,dry-run,dry-run"
expect "program: a dry run says so on the terminal" "$(cat "$scratch/dry.out")" \
    grep -q 'vm-small +256 MiB (from vm-big) \[dry-run\]' "$scratch/dry.out"

# A running loop: cycles a period apart, a clean stop on SIGTERM and SIGINT;
# seed's moves, for the sizes the second cycle reads.
for signal in TERM INT; do
    "$program" -c "$four" --policy seed --trace "$scratch/loop-$signal.json" 1 >"$scratch/loop.out" 2>&1 &
    pid=$!
    sleep 3.5
    signal_and_wait "$signal" "$pid" 5
    expect "program: SIG$signal stops it with status 0" "running when signalled: $sent; status $status" \
        test "$sent" = yes -a "$status" = 0
    expect "program: SIG$signal is reported" "$(tail -2 "$scratch/loop.out")" \
        grep -q 'stopping on signal' "$scratch/loop.out"
done
cycles=$(jq -s 'length' "$scratch/loop-TERM.json")
expect "program: one cycle per period" "$cycles cycles in 3.5 s" test "$cycles" -ge 3 -a "$cycles" -le 5
numbered=$(jq -s '[.[].cycle] == [range(1; length + 1)]' "$scratch/loop-TERM.json")
expect "program: cycles are numbered in order" "$(jq -c '.cycle' "$scratch/loop-TERM.json")" \
    test "$numbered" = true
spaced=$(jq -s '[range(1; length) as $i | .[$i].t - .[$i - 1].t] | all(. > 0.9)' "$scratch/loop-TERM.json")
expect "program: cycles are a period apart" "$(jq -c '.t' "$scratch/loop-TERM.json")" test "$spaced" = true
# Second cycle: the test driver's balloons are already where they were sent,
# and its statistics show it: nothing is left to come, nobody sits out.
second=$(jq -s -c '.[1].guests | map({name, actual_kib, coming_kib, settling})' "$scratch/loop-TERM.json")
expect "program: the next cycle reads the new sizes, with nothing left to come" "$second" \
    test "$second" = '[{"name":"vm-big","actual_kib":786432,"coming_kib":0,"settling":false},{"name":"vm-mid","actual_kib":524288,"coming_kib":0,"settling":false},{"name":"vm-small","actual_kib":466944,"coming_kib":0,"settling":false}]'

# At a long PERIOD every guest is still read every second, and what waits
# for a PERIOD is decided once: seed, whose one decision is a PERIOD's,
# moves memory at the first look only, and says so on one line.
"$program" -c "$four" --policy seed --trace "$scratch/p60.json" 60 >"$scratch/p60.out" 2>&1 &
pid=$!
sleep 3.5
signal_and_wait TERM "$pid" 5
looks=$(jq -sc '[.[] | [.period_due, ([.guests[] | select(.delta_kib != 0)] | length)]]' "$scratch/p60.json")
expect "program: at PERIOD 60 it looks every second and decides once" "$looks" \
    test "$(jq -s 'length >= 3 and .[0].period_due and ([.[1:][] | select(.period_due)] | length == 0)
        and ([.[1:][].guests[] | select(.delta_kib != 0)] | length == 0)' "$scratch/p60.json")" = true
expect "program: looks that change nothing print no line" "$(cat "$scratch/p60.out")" \
    test "$(grep -c ' guests  host ' "$scratch/p60.out")" = 1

# A signal in the middle of a long sleep ends it at once.
"$program" -c "$four" -q 60 >"$scratch/long.out" 2>&1 &
pid=$!
sleep 1
signal_and_wait INT "$pid" 10
expect "program: a signal wakes a long sleep" \
    "running when signalled: $sent; status $status after $waited s" \
    test "$sent" = yes -a "$status" = 0 -a "$waited" -le 2

# A libvirtd that accepts the connection and never answers (hung, or
# stopped with SIGSTOP): a stop request still ends the program, a period
# after it came, though the call it waits on never returns.
/usr/bin/python3 - "$scratch/silent.sock" <<'PYTHON' &
import socket, sys, time
listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
listener.bind(sys.argv[1])
listener.listen(4)
held = [listener.accept()[0]]
time.sleep(60)
PYTHON
silent=$!
for _ in $(seq 50); do [ -S "$scratch/silent.sock" ] && break; sleep 0.1; done
"$program" -c "qemu+unix:///system?socket=$scratch/silent.sock" 1 >"$scratch/silent.out" 2>&1 &
pid=$!
sleep 2
signal_and_wait TERM "$pid" 15
kill "$silent" 2>/dev/null
wait "$silent" 2>/dev/null
expect "program: SIGTERM ends it while libvirtd never answers" \
    "waiting on libvirt when signalled: $sent; status $status after $waited s: $(cat "$scratch/silent.out")" \
    test "$sent" = yes -a "$status" = 0
expect "program: it says that libvirt did not answer" "$(cat "$scratch/silent.out")" \
    grep -q 'libvirt has not answered in the [0-9]* s since the stop request; stopping without it' "$scratch/silent.out"

# A stop lets the resizes under way finish (here each takes 2 s, the move
# from vm-big to vm-small 4 s, beyond the 1 s a stop waits on a libvirt
# that does not answer): stopped between the donor's shrink and the
# receiver's growth, the receiver would go unfed. A resize that hangs is
# waited for STOP_RESIZE_WAIT_S (15 s) at most; that run, on a copy of the
# node (a lock of its own), goes on while the next tests run.
cp "$nodes/four_guests.xml" "$scratch/four_copy.xml"
echo hang >"$scratch/hang-fault"
MC_FAULT="$scratch/hang-fault" MC_FAULT_LOG="$scratch/hang.log" LD_PRELOAD="$faults" \
    "$program" -c "test://$scratch/four_copy.xml" --policy seed 1 >"$scratch/hang.out" 2>&1 &
hung=$!
echo slow >"$scratch/slow-fault"
MC_FAULT="$scratch/slow-fault" MC_FAULT_LOG="$scratch/slow.log" LD_PRELOAD="$faults" \
    "$program" -c "$four" --policy seed --trace "$scratch/slow.json" 1 >"$scratch/slow.out" 2>&1 &
pid=$!
for _ in $(seq 100); do grep -qs resizing "$scratch/slow.log" && grep -qs resizing "$scratch/hang.log" && break; sleep 0.1; done
kill -TERM "$hung" 2>/dev/null
hung_at=$SECONDS
signal_and_wait TERM "$pid" 15
expect "program: a stop lets the resizes under way finish, both ends of a move" \
    "status $status after $waited s; resizes: $(cat "$scratch/slow.log"); trace: $(jq -c '[.guests[] | .outcome]' "$scratch/slow.json" 2>&1); $(cat "$scratch/slow.out")" \
    test "$sent" = yes -a "$status" = 0 -a "$(grep -c '^resized ' "$scratch/slow.log")" = 2 -a \
    "$(jq -c '[.guests[] | .outcome]' "$scratch/slow.json")" = '["applied",null,"applied"]'
# A guest that runs a job (a migration, here faked: the test driver has
# none) is left alone until it ends, and the other end of a move with it
# too.
echo "job vm-small" >"$scratch/job-fault"
MC_FAULT="$scratch/job-fault" LD_PRELOAD="$faults" "$program" -c "$four" --policy seed \
    --trace "$scratch/job.json" 1 >"$scratch/job.out" 2>&1 &
pid=$!
trace_lines "$scratch/job.json" 3
rm -f "$scratch/job-fault"
trace_lines "$scratch/job.json" 5
signal_and_wait TERM "$pid" 5
looks=$(jq -sc '[.[] | [.guests[] | "\(.name):\(.actual_kib / 1024):\(.outcome)"] | join(" ")]' "$scratch/job.json")
expect "program: a guest that runs a job is not resized, nor its donor, and sits out until the job ends" \
    "looks: $looks: $(cat "$scratch/job.out")" \
    test "$(jq -sc '.[0].guests | map(.outcome)' "$scratch/job.json")" = '["skipped",null,"skipped"]' -a \
    "$(jq -sc '[.[1:3][] | [.guests[].name] | index("vm-small")]' "$scratch/job.json")" = '[null,null]' -a \
    "$(jq -sc '[.[1:][].guests[] | select(.name == "vm-small")][0].actual_kib' "$scratch/job.json")" = 204800
expect "program: a guest's job is said once as it is found, and once as it ends" "$(cat "$scratch/job.out")" \
    test "$(grep -c 'vm-small: runs a job' "$scratch/job.out")" = 1 -a \
    "$(grep -c 'vm-small: its job has ended' "$scratch/job.out")" = 1

# The run whose resize hangs, stopped before the test of jobs.
wait_for_exit "$hung" 30
status=$?
waited=$((SECONDS - hung_at))
expect "program: a stop waits 15 s at most for a resize that hangs" \
    "status $status after $waited s: $(cat "$scratch/hang.out")" \
    test "$status" = 0 -a "$waited" -ge 14 -a "$waited" -le 20 -a \
    -n "$(grep 'the resizes under way have not finished in the [0-9]* s since the stop request' "$scratch/hang.out")"

# A cycle whose libvirt calls fail on a live connection is warned, counted
# and tried again the next second: the run goes on with every guest's
# history, and says once that cycles fail and once that they work again.
MC_FAULT="$scratch/fault" LD_PRELOAD="$faults" "$program" -c "$four" --wait \
    --trace "$scratch/fail.json" --metrics "$scratch/fail.prom" 1 >"$scratch/fail.out" 2>&1 &
pid=$!
trace_lines "$scratch/fail.json" 1
echo fail >"$scratch/fault"
sleep 3.5
rm -f "$scratch/fault"
trace_lines "$scratch/fail.json" 3
signal_and_wait TERM "$pid" 5
expect "program: a failed cycle on a live connection is not an exit: the next one tries again" \
    "running when signalled: $sent; status $status; $(wc -l <"$scratch/fail.json") cycles: $(cat "$scratch/fail.out")" \
    test "$sent" = yes -a "$status" = 0 -a "$(wc -l <"$scratch/fail.json")" -ge 3
expect "program: cycles that keep failing are said once, and once when they work again" \
    "$(cat "$scratch/fail.out")" \
    test "$(grep -c "cannot read the guests' statistics: unsupported flags" "$scratch/fail.out")" = 1 -a \
    "$(grep -c 'cycles work again' "$scratch/fail.out")" = 1
failed=$(sed -n 's/^mem_coordinator_failed_cycles_total //p' "$scratch/fail.prom")
expect "program: the failed cycles are counted in the metrics" "failed_cycles_total ${failed:-absent}" \
    test "${failed:-0}" -ge 2

# --once whose one cycle fails exits 1, and the warning carries libvirt's
# own words (with --guests, after the domain handles it frees).
echo fail >"$scratch/fault"
MC_FAULT="$scratch/fault" LD_PRELOAD="$faults" \
    bounded "$program" -c "$four" --once -q --guests 'vm-*' 1 >"$scratch/once-fail.out" 2>&1
status=$?
rm -f "$scratch/fault"
expect "program: --once whose cycle fails exits 1, saying libvirt's error" \
    "status $status: $(cat "$scratch/once-fail.out")" \
    test "$status" = 1 -a -n "$(grep "cannot read the guests' statistics: unsupported flags" "$scratch/once-fail.out")"

# Metadata libvirt cannot give (virDomainGetMetadata fails) leaves a guest
# whose settings were never read alone until they are, and keeps the
# settings last read of a guest read before (here read again after a
# reconnection, as after any metadata event).
echo metadata >"$scratch/fault"
MC_FAULT="$scratch/fault" LD_PRELOAD="$faults" "$program" -c "test://$nodes/settings.xml" --wait \
    --trace "$scratch/meta.json" 1 >"$scratch/meta.out" 2>&1 &
pid=$!
trace_lines "$scratch/meta.json" 2
rm -f "$scratch/fault"
trace_lines "$scratch/meta.json" 3
echo down >"$scratch/fault"
for _ in $(seq 50); do grep -q 'lost the connection' "$scratch/meta.out" && break; sleep 0.1; done
echo metadata >"$scratch/fault"
for _ in $(seq 50); do grep -q 'reconnected to' "$scratch/meta.out" && break; sleep 0.1; done
trace_lines "$scratch/meta.json" $(($(wc -l <"$scratch/meta.json") + 2))
signal_and_wait TERM "$pid" 5
rm -f "$scratch/fault"
looks=$(jq -sc '[.[] | [.guests[] | "\(.name):\(.shares)"] | join(" ")]' "$scratch/meta.json")
expect "program: a guest whose metadata cannot be read, and never was, is left alone until it is" \
    "guests at each look: $looks: $(cat "$scratch/meta.out")" \
    test "$(jq -sc '[.[:3][] | [.guests[].name]]' "$scratch/meta.json")" = '[[],[],["vm-plain","vm-prio"]]' -a \
    "$(grep -c "vm-plain: cannot read its mem_coordinator metadata (.*unsupported flags.*); leaving it alone until it can" "$scratch/meta.out")" = 1
expect "program: metadata that cannot be read keeps the settings last read" \
    "guests at each look: $looks: $(cat "$scratch/meta.out")" \
    test "$(jq -sc '.[-1] | [.guests[] | "\(.name):\(.shares)"]' "$scratch/meta.json")" = '["vm-plain:1000","vm-prio:2000"]' -a \
    "$(grep -c "vm-prio: cannot read its mem_coordinator metadata (.*); keeping the settings last read" "$scratch/meta.out")" = 1

# A libvirtd gone for a while: reconnections back off, 1 s apart, then
# twice that up to the PERIOD (1, 2, 2 s at PERIOD 2), and a SIGHUP or
# SIGUSR1 meanwhile (1.5 s in) does not cut the backoff short.
MC_FAULT="$scratch/fault" MC_FAULT_LOG="$scratch/reconnects" LD_PRELOAD="$faults" \
    "$program" -c "$four" --wait --trace "$scratch/down.json" 2 >"$scratch/down.out" 2>&1 &
pid=$!
trace_lines "$scratch/down.json" 1
echo down >"$scratch/fault"
sleep 1.5
kill -HUP "$pid"
kill -USR1 "$pid"
for _ in $(seq 100); do [ "$(wc -l <"$scratch/reconnects" 2>/dev/null)" -ge 4 ] 2>/dev/null && break; sleep 0.1; done
rm -f "$scratch/fault"
gaps=$(awk 'NR > 1 { printf "%.1f ", $2 - last } { last = $2 }' "$scratch/reconnects" 2>/dev/null)
for _ in $(seq 60); do grep -q 'reconnected to' "$scratch/down.out" && break; sleep 0.1; done
signal_and_wait TERM "$pid" 5
expect "program: reconnections wait 1 s, then twice as long up to the PERIOD, whatever SIGHUP or SIGUSR1 say" \
    "seconds between reconnections: ${gaps:-none}; expected 1 2 2" \
    awk -v gaps="$gaps" 'BEGIN { n = split(gaps, g, " "); exit !(n >= 3 && g[1] >= 0.8 && g[1] <= 1.6 &&
        g[2] >= 1.8 && g[2] <= 2.6 && g[3] >= 1.8 && g[3] <= 2.6) }'
expect "program: after the outage it reconnects, and stops cleanly" \
    "running when signalled: $sent; status $status: $(cat "$scratch/down.out")" \
    test "$sent" = yes -a "$status" = 0 -a -n "$(grep 'reconnected to' "$scratch/down.out")"

# SIGUSR1 runs a PERIOD's cycle at once; SIGHUP reopens the trace after a
# rotation. Looks between PERIODs go on every second meanwhile.
"$program" -c "$four" -q --trace "$scratch/rotate.json" 60 >"$scratch/rotate.out" 2>&1 &
pid=$!
trace_lines "$scratch/rotate.json" 1 # its handlers are in place
kill -USR1 "$pid"
sleep 0.5
mv "$scratch/rotate.json" "$scratch/rotate.json.1"
kill -HUP "$pid"
trace_lines "$scratch/rotate.json" 1
kill -TERM "$pid"
wait_for_exit "$pid" 5
expect "program: SIGUSR1 runs a PERIOD's cycle at once, not a PERIOD later" \
    "$(jq -c '[.cycle, .t, .period_due]' "$scratch/rotate.json.1" 2>&1)" \
    test "$(jq -s '[.[] | select(.period_due)] | length == 2 and .[1].t < 2' "$scratch/rotate.json.1")" = true
expect "program: SIGHUP reopens the trace, and the next cycle goes to the new one" \
    "$(jq -c .cycle "$scratch/rotate.json.1" "$scratch/rotate.json" 2>&1)" \
    test "$(jq -s '.[-1].cycle + 1' "$scratch/rotate.json.1")" = "$(jq -s '.[0].cycle' "$scratch/rotate.json" 2>/dev/null)"

# --syslog: the cycle's line and the notes go to syslog, none to the
# terminal. The program runs in a mount namespace of its own whose /dev holds
# only null and, as log, a socket the test listens on: the host's /dev/log
# and its syslog daemon, if one runs, see nothing of it.
name="program: --syslog sends the cycle's line to syslog, nothing to the terminal"
# Who is not root mounts as root of a user namespace, and the program runs
# as that user again in one more.
private=(unshare -m) as_self=()
if [ "$(id -u)" != 0 ]; then
    private=(unshare -rm) as_self=(unshare -U --map-user="$(id -u)" --map-group="$(id -g)")
fi
if ! refused=$("${private[@]}" true 2>&1); then
    not_ok "$name" "needs a mount namespace of its own (${private[*]}): $refused"
    not_ok "program: under --syslog, looks that change nothing log nothing; the first says what it found" \
        "needs a mount namespace of its own"
else
    mkdir "$scratch/dev"
    touch "$scratch/dev/null"
    ln -s "$scratch/syslog.sock" "$scratch/dev/log"
    # listen FILE: what comes to the socket, into FILE, until 3 s of silence.
    listen() {
        rm -f "$scratch/syslog.sock"
        /usr/bin/python3 - "$scratch/syslog.sock" "$1" <<'PYTHON' &
import socket, sys
listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
listener.bind(sys.argv[1])
listener.settimeout(3)
with open(sys.argv[2], "w", encoding="utf-8") as out:
    try:
        while True:
            out.write(listener.recv(4096).decode(errors="replace") + "\n")
            out.flush()
    except socket.timeout:
        pass
PYTHON
        listener=$!
        for _ in $(seq 50); do [ -S "$scratch/syslog.sock" ] && break; sleep 0.1; done
    }
    # in_private SECONDS ARGS...: the program with ARGS in that namespace,
    # stopped with SIGTERM after SECONDS.
    in_private() {
        local seconds=$1
        shift
        # shellcheck disable=SC2016 # expanded by the inner shell
        timeout -k 5 "$seconds" "${private[@]}" sh -c 'mount --bind /dev/null "$1/null" && mount --rbind "$1" /dev && shift && exec "$@"' \
            sh "$scratch/dev" "${as_self[@]}" "$program" "$@"
    }
    listen "$scratch/syslog.txt"
    in_private 30 -c "$four" --once --syslog 1 >"$scratch/syslog.out" 2>&1
    wait "$listener"
    expect "$name" "terminal: $(cat "$scratch/syslog.out"); syslog: $(cat "$scratch/syslog.txt" 2>&1)" \
        test ! -s "$scratch/syslog.out" -a -n "$(grep -E 'mem_coordinator\[[0-9]+\]: 3 guests  host [0-9]+ MiB free  vm-big -[0-9]+ MiB \(to vm-small\)' "$scratch/syslog.txt")"
    # Looks that change nothing, a PERIOD apart, leave the journal alone:
    # the first look's line says what it found, and then nothing comes.
    listen "$scratch/quiet.txt"
    in_private 3.5 -c "test://$nodes/all_off.xml" --wait --syslog 1 >"$scratch/quiet.out" 2>&1
    wait "$listener"
    expect "program: under --syslog, looks that change nothing log nothing; the first says what it found" \
        "syslog: $(cat "$scratch/quiet.txt" 2>&1)" \
        test "$(grep -c 'guests  host' "$scratch/quiet.txt")" = 1 -a \
        -n "$(grep -E 'mem_coordinator\[[0-9]+\]: 0 guests  host [0-9]+ MiB free  no change' "$scratch/quiet.txt")"
fi

# Under systemd (Type=notify, WatchdogSec=): READY=1 once it holds the
# lock, then WATCHDOG=1 at every look, each a datagram to $NOTIFY_SOCKET;
# with --lock-memory its memory is locked.
/usr/bin/python3 - "$scratch/notify.sock" "$scratch/notify.txt" <<'PYTHON' &
import socket, sys
listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
listener.bind(sys.argv[1])
listener.settimeout(3)
with open(sys.argv[2], "w", encoding="utf-8") as out:
    try:
        while True:
            out.write(listener.recv(4096).decode(errors="replace") + "\n")
            out.flush()
    except socket.timeout:
        pass
PYTHON
listener=$!
for _ in $(seq 50); do [ -S "$scratch/notify.sock" ] && break; sleep 0.1; done
NOTIFY_SOCKET="$scratch/notify.sock" "$program" -c "$four" -q --lock-memory --trace "$scratch/notify.json" 1 \
    >"$scratch/notify.out" 2>&1 &
pid=$!
trace_lines "$scratch/notify.json" 3
locked=$(awk '/^VmLck:/ { print $2 }' "/proc/$pid/status")
signal_and_wait TERM "$pid" 5
wait "$listener"
expect "program: it tells systemd it is ready, then that it lives at every look" \
    "$(tr '\n' ' ' <"$scratch/notify.txt"): $(cat "$scratch/notify.out")" \
    test "$(head -1 "$scratch/notify.txt")" = READY=1 -a "$(grep -c '^WATCHDOG=1$' "$scratch/notify.txt")" -ge 2
expect "program: --lock-memory locks its memory" "VmLck ${locked:-absent} kB: $(cat "$scratch/notify.out")" \
    test "${locked:-0}" -gt 0

# systemd hands MEM_COORDINATOR_OPTS="--guests 'web-*'" the quotes as they
# stand: a warning says so, and the run goes on.
bounded "$program" -c "$four" -q --once -n --guests "'vm-*'" 1 >"$scratch/quoted.out" 2>&1
status=$?
expect "program: an argument wrapped in quotes is warned of, and the run goes on" \
    "status $status: $(cat "$scratch/quoted.out")" \
    test "$status" = 0 -a -n "$(grep "the argument 'vm-\*' keeps its quotes" "$scratch/quoted.out")"

# No running guest: it stops, unless --wait.
off="test://$nodes/all_off.xml"
bounded "$program" -c "$off" 1 >"$scratch/off.out" 2>&1
status=$?
expect "program: it stops when no guest runs, with status 0" "status $status: $(cat "$scratch/off.out")" \
    test "$status" = 0 -a -n "$(grep 'no running guests; stopping' "$scratch/off.out")"
"$program" -c "$off" --wait --trace "$scratch/wait.json" 1 >"$scratch/wait.out" 2>&1 &
pid=$!
sleep 2.5
if kill -0 "$pid" 2>/dev/null; then alive=yes; else alive=no; fi
kill -TERM "$pid" 2>/dev/null
wait_for_exit "$pid" 5
expect "program: --wait keeps it running with no guest" "alive: $alive" test "$alive" = yes
expect "program: --wait still traces its empty cycles" "$(cat "$scratch/wait.json")" \
    test "$(jq -s '[.[].guests | length] | (length >= 2) and all(. == 0)' "$scratch/wait.json")" = true

# Guests that run though none is balanced (here none matches --guests;
# paused ones and ones left alone are the libvirt tests'): it runs on, and
# says so once.
"$program" -c "$four" --guests 'nomatch*' 1 >"$scratch/nomatch.out" 2>&1 &
pid=$!
sleep 2.5
if kill -0 "$pid" 2>/dev/null; then alive=yes; else alive=no; fi
kill -TERM "$pid" 2>/dev/null
wait_for_exit "$pid" 5
expect "program: it runs on while guests run, though none is balanced, and says so once" \
    "alive after 2.5 s: $alive: $(cat "$scratch/nomatch.out")" \
    test "$alive" = yes -a "$(grep -c '3 guests run, none of them balanced' "$scratch/nomatch.out")" = 1

# Every handle and record freed.
if needs "program: one cycle is valgrind-clean" valgrind valgrind; then
    timeout -k 5 120 valgrind -q --leak-check=full --errors-for-leak-kinds=definite,indirect --error-exitcode=99 \
        "$program" -c "$four" -v --once --trace "$scratch/vg.json" 1 >"$scratch/vg.out" 2>&1
    status=$?
    expect "program: one cycle is valgrind-clean" "status $status: $(grep -m5 '==' "$scratch/vg.out")" \
        test "$status" = 0
fi

# make install and uninstall honour DESTDIR and PREFIX.
root="$scratch/root"
make -s -C "$top" install DESTDIR="$root" PREFIX=/usr >"$scratch/install.out" 2>&1
unit="$root/usr/lib/systemd/system/mem_coordinator.service"
defaults="$root/etc/default/mem_coordinator"
expect "program: make install puts the program, its man page, its unit, lock folder and polkit rule under DESTDIR/PREFIX" \
    "$(cat "$scratch/install.out"; find "$root" -type f)" \
    test -x "$root/usr/bin/mem_coordinator" -a -f "$root/usr/share/man/man1/mem_coordinator.1" \
    -a -n "$(grep -sx 'd /run/mem_coordinator 3770 root libvirt -' "$root/usr/lib/tmpfiles.d/mem_coordinator.conf")" \
    -a -f "$root/usr/share/polkit-1/rules.d/60-mem_coordinator.rules" \
    -a -n "$(grep -s '^ExecStart=/usr/bin/mem_coordinator .*\$MEM_COORDINATOR_OPTS$' "$unit")"
expect "program: make install puts the default file the unit reads under DESTDIR/SYSCONFDIR" \
    "$(grep -s '^EnvironmentFile=' "$unit"; find "$root" -type f)" \
    test -n "$(grep -s '^MEM_COORDINATOR_OPTS=' "$defaults")" \
    -a -n "$(grep -sx 'EnvironmentFile=-/etc/default/mem_coordinator' "$unit")"
# The default file's options are ones the program takes: one cycle with
# them, on the test driver and with the metrics in the scratch directory
# (this tree's own nodes: test:///default's lock may be held by a make
# test in another checkout).
opts=$(sh -c '. "$1" && echo "$MEM_COORDINATOR_OPTS"' sh "$defaults" |
    sed -e "s|qemu:///system|$four|" -e "s|--metrics [^ ]*|--metrics $scratch/default.prom|")
# shellcheck disable=SC2086 # split as systemd splits $MEM_COORDINATOR_OPTS
bounded "$program" --once $opts >"$scratch/defaults.out" 2>&1
status=$?
expect "program: the default file's options run a cycle and write the metrics" \
    "status $status, options '$opts': $(cat "$scratch/defaults.out")" \
    test "$status" = 0 -a -s "$scratch/default.prom"
echo "# changed by the admin" >>"$defaults"
make -s -C "$top" install DESTDIR="$root" PREFIX=/usr >/dev/null 2>&1
expect "program: make install again leaves the admin's default file alone" "$(tail -1 "$defaults")" \
    test "$(tail -1 "$defaults")" = "# changed by the admin"
# The unit as systemd reads it, pointed at the program where DESTDIR put it.
if needs "program: systemd-analyze verify finds nothing to say about the unit" systemd-analyze systemd; then
    sed -e "s|^ExecStart=/usr/bin/|ExecStart=$root/usr/bin/|" \
        -e "s|^EnvironmentFile=-/etc/|EnvironmentFile=-$root/etc/|" "$unit" >"$scratch/mem_coordinator.service"
    verified=$(MANPATH="$root/usr/share/man" systemd-analyze verify "$scratch/mem_coordinator.service" 2>&1)
    status=$?
    expect "program: systemd-analyze verify finds nothing to say about the unit" \
        "status $status: $verified" test "$status" = 0 -a -z "$verified"
fi
make -s -C "$top" uninstall DESTDIR="$root" PREFIX=/usr >"$scratch/uninstall.out" 2>&1
expect "program: make uninstall takes them away, but keeps a default file the admin edited" \
    "$(cat "$scratch/uninstall.out"; find "$root" -type f)" \
    test "$(find "$root" -type f)" = "$defaults" -a "$(tail -1 "$defaults")" = "# changed by the admin"
cp "$top/mem_coordinator.default" "$defaults"
make -s -C "$top" uninstall DESTDIR="$root" PREFIX=/usr >/dev/null 2>&1
expect "program: make uninstall takes away the default file as shipped" "$(find "$root" -type f)" \
    test -z "$(find "$root" -type f)"

# The license the README names is the one LICENSE and the package carry.
expect "program: LICENSE, debian/copyright and the README say MIT" \
    "$(head -1 "$top/LICENSE"; grep '^License:' "$top/debian/copyright"; grep -A2 '^## License' "$top/README.md")" \
    test "$(head -1 "$top/LICENSE")" = "MIT License" -a \
    "$(grep -c '^License: Expat$' "$top/debian/copyright")" = 2 -a \
    -n "$(grep -A2 '^## License' "$top/README.md" | grep 'MIT')"
