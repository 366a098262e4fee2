#!/usr/bin/env bash
# The lock as users other than root meet it: one for every user who can
# reach a libvirt, in root's folder of group libvirt, and a per-user one for
# a per-user libvirt. As root, since it runs the program as other users.
#
# It runs in a mount namespace of its own with an empty /run, so that the
# lock folder it checks is the one the program makes, whatever the host's
# /run/mem_coordinator holds, and the host's is left alone.
if [ -z "${MC_OWN_RUN:-}" ] && [ "$(id -u)" = 0 ]; then
    # shellcheck disable=SC2016 # expanded by the inner shell
    exec env MC_OWN_RUN=1 unshare -m sh -c 'mount -t tmpfs -o mode=0755 tmpfs /run && exec "$0"' "$0"
fi
# shellcheck source=tests/lib.sh
source "$(dirname "$0")/lib.sh"

names=("the lock is in root's folder of group libvirt, mode 3770, readable by its group alone"
    "a user outside group libvirt can neither take the lock nor hold it"
    "a member of group libvirt is refused root's lock with status 4, and takes it once free"
    "a /tmp lock folder another user owns, or a symlink, is refused with one line"
    "a /tmp lock folder is made the user's own, mode 0700")
if [ -z "${MC_OWN_RUN:-}" ] || ! command -v setpriv >/dev/null; then
    for name in "${names[@]}"; do
        not_ok "lock: $name" "needs root, unshare and setpriv (Debian's util-linux)"
    done
    exit 1
fi

# Other users run the program from a copy they can reach: the tree may be
# in a folder only root can enter (a clone under /root).
reachable=$(mktemp -d /tmp/mc-reachable.XXXXXX)
trap 'rm -rf "$scratch" "$reachable"' EXIT
chmod 755 "$reachable"
cp "$program" "$top/bin/faults.so" "$nodes/four_guests.xml" "$reachable/"
chmod a+r "$reachable"/*
four="test://$reachable/four_guests.xml"
as_nobody() {
    setpriv --reuid=65534 --regid=65534 --clear-groups env -u XDG_RUNTIME_DIR "$@"
}
coordinator=(timeout -k 5 30 "$reachable/mem_coordinator" -c "$four" -q --once 1)

# One lock for every user who can reach a libvirt: a user outside its
# group can neither take the lock nor open the file to hold it; a member
# finds the service's lock and is refused.
# Under the service's umask, which would keep the group out of the file.
(umask 077 && exec "$reachable/mem_coordinator" -c "$four" -q --wait --trace "$scratch/held.json" 1) \
    >/dev/null 2>&1 &
held=$!
trace_lines "$scratch/held.json" 1
lock=$(find /run/mem_coordinator -maxdepth 1 -name "*${reachable##*/}*.lock" 2>/dev/null)
group=$(stat -c %g /run/mem_coordinator)
as_member() {
    setpriv --reuid=65534 --regid=65534 --groups="$group" env -u XDG_RUNTIME_DIR "$@"
}
as_nobody "${coordinator[@]}" >"$scratch/outsider.out" 2>&1
outsider=$?
as_nobody flock -n -s "${lock:-/nonexistent}" true 2>/dev/null
outsider_holds=$?
as_member "${coordinator[@]}" >"$scratch/member.out" 2>&1
member=$?
kill -TERM "$held" 2>/dev/null
wait_for_exit "$held" 5
as_nobody "${coordinator[@]}" >"$scratch/outsider-free.out" 2>&1
outsider_free=$?
as_member "${coordinator[@]}" >"$scratch/member-free.out" 2>&1
member_free=$?
libvirt_gid=$(getent group libvirt | cut -d: -f3)
expect "lock: ${names[0]}" \
    "folder $(stat -c '%U %G %a' /run/mem_coordinator), group libvirt '$libvirt_gid', lock '$lock' $(stat -c %a "${lock:-/nonexistent}" 2>&1)" \
    test "$(stat -c '%u %g %a' /run/mem_coordinator)" = "0 ${libvirt_gid:-0} 3770" -a \
    "$(stat -c %a "${lock:-/nonexistent}" 2>&1)" = 660
expect "lock: ${names[1]}" \
    "status $outsider while held and $outsider_free once free: $(cat "$scratch/outsider.out" "$scratch/outsider-free.out"); flock by that user: status $outsider_holds" \
    test "$outsider" = 1 -a "$outsider_free" = 1 -a "$outsider_holds" != 0 -a \
    -n "$(grep "needs root or group libvirt" "$scratch/outsider.out")"
expect "lock: ${names[2]}" \
    "status $member while held, $member_free once free: $(cat "$scratch/member.out" "$scratch/member-free.out")" \
    test "$member" = 4 -a "$member_free" = 0 -a -n "$(grep "another coordinator (pid $held)" "$scratch/member.out")"

# A per-user libvirt (qemu:///session, here the test driver named so by
# bin/faults.so: no test may start a per-user daemon) keeps a per-user
# lock; without XDG_RUNTIME_DIR, under /tmp, in a folder that must be the
# user's own and writable by nobody else: one planted by another user, or
# a symlink, is refused with status 1; a new one is made 0700.
nobody_dir=/tmp/mem_coordinator-65534
as_session() {
    as_nobody env MC_URI=qemu:///session LD_PRELOAD="$reachable/faults.so" "${coordinator[@]}"
}
rm -rf "$nobody_dir"
mkdir -m 0777 "$nobody_dir" # root's, and writable by all
as_session >"$scratch/planted-dir.out" 2>&1
planted_dir=$?
rm -rf "$nobody_dir"
mkdir -m 0700 "$scratch/elsewhere" && chown 65534:65534 "$scratch/elsewhere"
ln -s "$scratch/elsewhere" "$nobody_dir"
as_session >"$scratch/linked-dir.out" 2>&1
linked_dir=$?
rm -f "$nobody_dir"
as_session >"$scratch/own-dir.out" 2>&1
own_dir=$?
made=$(stat -c '%u %a' "$nobody_dir" 2>&1)
rm -rf "$nobody_dir"
expect "lock: ${names[3]}" \
    "status $planted_dir: $(cat "$scratch/planted-dir.out"); status $linked_dir: $(cat "$scratch/linked-dir.out")" \
    test "$planted_dir" = 1 -a "$linked_dir" = 1 -a \
    "$(grep -c "is not this user's own" "$scratch/planted-dir.out" "$scratch/linked-dir.out" | grep -c ':1$')" = 2 -a \
    "$(cat "$scratch/planted-dir.out" "$scratch/linked-dir.out" | wc -l)" = 2
expect "lock: ${names[4]}" "status $own_dir, folder: $made: $(cat "$scratch/own-dir.out")" \
    test "$own_dir" = 0 -a "$made" = "65534 700"
