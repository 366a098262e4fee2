#!/usr/bin/env bash
# Command-line tests as a table: arguments, the exit status, and a piece of
# what must be said (on stderr, or stdout when the status is 0).
# shellcheck source=tests/lib.sh
source "$(dirname "$0")/lib.sh"

unreachable='qemu+unix:///system?socket=/nonexistent/libvirt-sock'
# A symlink to a file the program could write: only O_NOFOLLOW refuses it.
echo precious >"$scratch/precious"
ln -s "$scratch/precious" "$scratch/planted"
# What --metrics would replace with a rename, were it not a regular file.
mkfifo "$scratch/pipe"

# name | status | expected text | arguments, one per line after the third field
cases=(
    "no PERIOD|2|missing PERIOD"
    "zero PERIOD|2|PERIOD (seconds) must be a whole number from 1 to 86400, not '0'|0"
    "negative PERIOD|2|not '-5'|--|-5"
    "negative PERIOD read as an option|2|unknown option '-5'|-5"
    "non-numeric PERIOD|2|not 'abc'|abc"
    "PERIOD with trailing junk|2|not '3s'|3s"
    "PERIOD with a leading blank|2|not ' 3'| 3"
    "empty PERIOD|2|not ''|"
    "fractional PERIOD|2|not '1.5'|1.5"
    "PERIOD above a day|2|not '86401'|86401"
    "PERIOD beyond any integer|2|not '99999999999999999999999'|99999999999999999999999"
    "two PERIODs|2|unexpected argument '2'|1|2"
    "starve equal to waste|2|starvation threshold (300 MiB) must be below the waste threshold (300 MiB)|-s|300|-w|300|1"
    "starve above waste|2|must be below the waste threshold|--starve=500|1"
    "negative threshold|2|--waste must be a whole number from 0|-w|-1|1"
    "absurd threshold|2|--starve must be a whole number from 0 to 16777216|-s|99999999999|1"
    "guest floor below 64 MiB|2|--min-guest must be a whole number from 64|--min-guest|10|1"
    "zero minimum step|2|--min-step must be a whole number from 1|--min-step|0|1"
    "unknown option|2|unknown option '--bogus'|--bogus|1"
    "unknown short option|2|unknown option '-x'|-x|1"
    "option without its value|2|option '--connect' needs a value|1|--connect"
    "unknown policy|2|unknown policy 'nope'|--policy|nope|1"
    "unreachable URI|3|cannot connect to $unreachable: Failed to connect socket|-c|$unreachable|1"
    "unknown URI scheme|3|cannot connect to bogus:///x|-c|bogus:///x|1"
    "trace file in a missing folder|2|cannot open trace file '/nonexistent/trace'|--trace|/nonexistent/trace|-c|test:///default|1"
    "PERIOD with a newline: still one line|2|not '1\\x0a2'|1"$'\n'"2"
    "option with a tab quoted|2|unknown policy 'a\\x09b'|--policy|a"$'\t'"b|1"
    "argument in quotes beside a bad PERIOD: still one line|2|not '0'|--guests|'vm-*'|0"
    "trace path that is a planted symlink|2|cannot open trace file '$scratch/planted': Too many levels of symbolic links|--trace|$scratch/planted|-c|test:///default|--once|1"
    "metrics without a file name|2|--metrics needs a file name|--metrics||1"
    "metrics in a missing folder|2|cannot write the metrics to '/nonexistent/m.prom': No such file or directory|--metrics|/nonexistent/m.prom|-c|test:///default|--once|1"
    "metrics path that is not a regular file|2|cannot write the metrics to '$scratch/pipe': not a regular file|--metrics|$scratch/pipe|-c|test:///default|--once|1"
    "metrics with a dry run|2|a dry run writes no metrics|-n|--metrics|$scratch/m.prom|1"
    "help|0|usage: mem_coordinator [-1hnqvV] [-c uri]|-h"
    "version|0|mem_coordinator |-V"
)

for row in "${cases[@]}"; do
    readarray -d '|' -t fields < <(printf '%s|' "$row") # keeps an empty last argument
    name=${fields[0]} status=${fields[1]} text=${fields[2]}
    args=("${fields[@]:3}")
    bounded "$program" "${args[@]}" >"$scratch/out" 2>"$scratch/err"
    got=$?
    [ "$status" = 0 ] && said="$scratch/out" || said="$scratch/err"
    if [ "$got" != "$status" ]; then
        not_ok "cli: $name" "exit status $got, expected $status ($(head -c 300 "$scratch/err"))"
    elif ! grep -qF -- "$text" "$said"; then
        not_ok "cli: $name" "'$text' not in: $(head -c 300 "$said")"
    elif [ "$status" != 0 ] && [ "$(wc -l <"$scratch/err")" != 1 ]; then
        not_ok "cli: $name" "expected one line on stderr, got: $(cat "$scratch/err")"
    else
        ok "cli: $name"
    fi
done

# -h's synopsis is the man page's.
if needs "cli: -h matches the man page's synopsis" man man-db; then
    synopsis=$("$program" -h | sed -n '1,/^$/p' | tr -s ' \n' ' ' | sed 's/^usage: //;s/ $//')
    man_synopsis=$(MANWIDTH=200 man "$top/mem_coordinator.1" 2>/dev/null | sed -n '/^SYNOPSIS/,/^DESCRIPTION/p' |
        sed '1d;$d' | tr -s ' \n' ' ' | sed 's/^ //;s/ $//')
    expect "cli: -h matches the man page's synopsis" "-h: '$synopsis' man: '$man_synopsis'" \
        test "$synopsis" = "$man_synopsis"
fi
