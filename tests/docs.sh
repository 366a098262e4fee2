#!/usr/bin/env bash
# The documents against the code: what the README, the man page and
# docs/design.md say the program has (its tunables, options, defaults,
# floors, metrics and trace fields) is read from the program itself, from
# its source's tunables and from what it writes, never from a list kept
# here, so that a change to either side that the other does not follow
# fails.
# shellcheck source=tests/lib.sh
source "$(dirname "$0")/lib.sh"

readme="$top/README.md"
manpage="$top/mem_coordinator.1"
design="$top/docs/design.md"

# same NAME WHAT EXPECTED GOT: ok when the two sorted lists are equal; else
# what one has and the other lacks.
same() {
    local lacking extra difference
    lacking=$(comm -23 <(sort -u <<<"$3") <(sort -u <<<"$4") | paste -sd, -)
    extra=$(comm -13 <(sort -u <<<"$3") <(sort -u <<<"$4") | paste -sd, -)
    difference=${lacking:+the code has, the docs lack: $lacking}${lacking:+${extra:+; }}
    difference+=${extra:+the docs have, the code lacks: $extra}
    if [ -z "$3" ]; then
        not_ok "$1" "read nothing from the code for $2"
    elif [ -z "$difference" ]; then
        ok "$1"
    else
        not_ok "$1" "$2: $difference"
    fi
}

# The tunables: the #defines of the block at the top of mem_coordinator.c,
# as NAME VALUE lines.
tunables=$(awk '/^\/\* Tunables/ { on = 1; next } on && /^$/ { exit }
    on && /^#define/ { value = $3; gsub(/"/, "", value); print $2, value }' "$top/mem_coordinator.c")

# The man page lists them under FILES, each ".It Dv NAME" then "VALUE ...".
man_tunables=$(awk '/^\.It Pa mem_coordinator\.c$/ { on = 1; next } on && /^\.El$/ { exit }
    on && /^\.It Dv [A-Z_]+$/ { name = $3; getline; sub(/:$/, "", $1); print name, $1 }' "$manpage")
same "docs: the man page lists every tunable at its value" "constants" "$tunables" "$man_tunables"

# The README's table under "Tuning": | `NAME` | VALUE unit | flag | meaning |.
readme_tunables=$(sed -n '/^## Tuning/,/^## /p' "$readme" |
    awk -F'|' '$2 ~ /^ `[A-Z_]+` $/ { gsub(/[ `]/, "", $2); split($3, v, " "); gsub(/`/, "", v[1]); print $2, v[1] }')
same "docs: the README's table lists every tunable at its value" "constants" "$tunables" "$readme_tunables"

# What the program writes: a look on libvirt's test driver that moves memory
# between two guests (seed's), so that every field of a resize is there
# too, on a node of this tree (its lock is this checkout's own); and a dry
# look on test:///default (a dry run takes no lock, which a make test in
# another checkout may hold), whose one guest gives back to the host.
bounded "$program" -c "test://$nodes/four_guests.xml" --once -q --policy seed \
    --trace "$scratch/docs.json" --metrics "$scratch/docs.prom" 1 >"$scratch/docs.out" 2>&1
bounded "$program" -c test:///default --once -n -q --trace "$scratch/docs.json" 1 \
    >>"$scratch/docs.out" 2>&1
metrics=$(sed -n 's/^# TYPE \(mem_coordinator_[a-z_]*\) .*/\1/p' "$scratch/docs.prom" 2>/dev/null)
readme_metrics=$(sed -n '/^## Metrics/,/^## /p' "$readme" | grep -o 'mem_coordinator_[a-z_]*')
man_metrics=$(sed -n '/^\.It Fl -metrics/,/^\.It Fl -syslog/p' "$manpage" | grep -o 'mem_coordinator_[a-z_]*')
same "docs: the README names every metric the program writes, and no other" "metrics" "$metrics" "$readme_metrics"
same "docs: the man page names every metric the program writes, and no other" "metrics" "$metrics" "$man_metrics"

fields=$(jq -r 'keys[], (.guests[] | keys[])' "$scratch/docs.json" 2>/dev/null)
# shellcheck disable=SC2016 # Markdown's backticks
design_fields=$(sed -n '/^## The output and the trace/,/^## /p' "$design" | sed -n 's/^| `\([a-z_]*\)` |.*/\1/p')
man_fields=$(sed -n '/^\.It Fl -trace/,/^\.It Fl -metrics/p' "$manpage" | sed -n 's/^\.It Li \([a-z_]*\)$/\1/p')
same "docs: design.md's trace tables hold every field the program writes, and no other" "trace fields" \
    "$fields" "$design_fields"
same "docs: the man page lists every trace field the program writes, and no other" "trace fields" \
    "$fields" "$man_fields"

# The options: -h's against the man page's OPTIONS, rendered, and the README.
help=$("$program" -h)
man_text=$(MANWIDTH=200 man "$manpage" 2>/dev/null)
man_options=$(sed -n '/^OPTIONS/,/^[A-Z]/p' <<<"$man_text")
help_flags=$(sed -nE 's/^  (-[a-zA-Z0-9]), (--[a-z-]+).*/\1 \2/p; s/^      (--[a-z-]+).*/\1/p' <<<"$help")
man_flags=$(sed -nE 's/^     (-[a-zA-Z0-9]), (--[a-z-]+).*/\1 \2/p; s/^     (--[a-z-]+).*/\1/p' <<<"$man_options")
same "docs: the man page's OPTIONS are -h's" "options" "$help_flags" "$man_flags"

# An option's block in the rendered man page: its line and the lines after
# it up to the next blank one.
man_block() {
    awk -v flag="$1" '$0 ~ "^     (-[a-zA-Z0-9], )?" flag "( |$)" { on = 1 } on && /^$/ { exit } on' <<<"$man_options" |
        tr -s ' \n' ' '
}

missing_in_readme=()
wrong_defaults=()
while read -r short long; do
    [ -n "$long" ] || long=$short short=
    grep -qE -- "(^|[ \`(])($long|${short:-$long})([ \`=)]|$)" "$readme" || missing_in_readme+=("$long")
    default=$(grep -E -- "^ +(-[a-zA-Z0-9], )?$long " <<<"$help" | grep -oE '\(default [^,)]+' | cut -d' ' -f2)
    [ -z "$default" ] || man_block "$long" | grep -qF "(default $default" || wrong_defaults+=("$long $default")
done <<<"$help_flags"
expect "docs: the README names every option -h lists" "not in the README: ${missing_in_readme[*]}" \
    test ${#missing_in_readme[@]} = 0
expect "docs: the man page gives every option the default -h gives" "-h's defaults not in the man page: ${wrong_defaults[*]}" \
    test ${#wrong_defaults[@]} = 0

# The floors of --min-guest and --min-step, as the program enforces them
# (its refusal of 0 names the range), said alike by -h, the man page and
# the README's table.
for flag in --min-guest --min-step; do
    floor=$("$program" "$flag" 0 1 2>&1 | sed -n 's/.* must be a whole number from \([0-9]*\) to .*/\1/p')
    said=()
    grep -E -- "^ +$flag " <<<"$help" | grep -q "at least $floor)" || said+=("-h")
    man_block "$flag" | grep -q "at least $floor)" || said+=("the man page")
    grep -F -- "\`$flag\`" "$readme" | grep -q "takes $floor at least" || said+=("the README")
    expect "docs: the floor of $flag is the program's, in -h, the man page and the README" \
        "the program's floor is ${floor:-unknown}; not said so by: ${said[*]}" \
        test -n "$floor" -a ${#said[@]} = 0
done

# The man page's date is no older than the last change to the program.
if git -C "$top" rev-parse --git-dir >/dev/null 2>&1; then
    man_date=$(date -d "$(sed -n 's/^\.Dd //p' "$manpage")" +%s 2>/dev/null)
    changed=$(git -C "$top" log -1 --format=%cd --date=format:%Y-%m-%d -- mem_coordinator.c 2>/dev/null)
    expect "docs: the man page's date is not older than the program's last change" \
        "man page $(sed -n 's/^\.Dd //p' "$manpage"), mem_coordinator.c last changed $changed" \
        test -n "$man_date" -a "${man_date:-0}" -ge "$(date -d "${changed:-now}" +%s)"
else
    ok "docs: the man page's date is not older than the program's last change # not a git checkout"
fi
