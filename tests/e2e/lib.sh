# shellcheck shell=bash
# Helpers for mem_coordinator's end-to-end tests: bring up libvirtd on a
# machine without systemd and run throwaway guests built by guest/build-image.
# Source it from bash. Every function returns non-zero on failure, with a
# line on stderr saying why; none of them exits.
#
# Environment (defaults in brackets):
#   MC_GUEST_DIR         guest kernel and initramfs [/var/tmp/mem_coordinator-guest]
#   MC_E2E_DIR           console files and domain XML [/var/tmp/mem_coordinator-e2e]
#   MC_LIBVIRT_URI       libvirt connection [qemu:///system]
#   MC_BALLOON_TOL_MIB   how close e2e_wait_balloon must get [8]

: "${MC_GUEST_DIR:=/var/tmp/mem_coordinator-guest}"
: "${MC_E2E_DIR:=/var/tmp/mem_coordinator-e2e}"
: "${MC_LIBVIRT_URI:=qemu:///system}"
: "${MC_BALLOON_TOL_MIB:=8}"

e2e_log() {
    echo "e2e: $*" >&2
}

# On a terminal virsh looks for a polkit agent on every call, and says each
# time that none runs: not news as root without systemd.
e2e_virsh() {
    virsh -q -c "$MC_LIBVIRT_URI" "$@" 2> >(grep -v '^Authorization not available' >&2)
}

# Seconds since the epoch with a fraction, for timings and deadlines.
e2e_now() {
    date +%s.%N
}

# e2e_deadline_passed DEADLINE: true once e2e_now is past DEADLINE.
e2e_deadline_passed() {
    awk -v now="$(e2e_now)" -v d="$1" 'BEGIN { exit !(now > d) }'
}

e2e_deadline() {
    awk -v now="$(e2e_now)" -v t="$1" 'BEGIN { printf "%.3f\n", now + t }'
}

# e2e_install_packages GROUP...: install what tools/deps lists for those
# groups and is not installed yet (as root).
e2e_install_packages() {
    "$(dirname "${BASH_SOURCE[0]}")/../../tools/deps" "$@"
}

# e2e_libvirtd_up: start virtlogd and libvirtd unless they run, and wait
# until libvirtd answers. Safe to call again.
e2e_libvirtd_up() {
    local deadline

    mkdir -p /run/libvirt /var/log/libvirt || return 1
    # Without group access QEMU (user libvirt-qemu, group kvm) falls back
    # to TCG only after probing KVM for about 45 s per guest start.
    if [[ -e /dev/kvm && -z $(find /dev/kvm -group kvm -perm -060) ]]; then
        chgrp kvm /dev/kvm && chmod 660 /dev/kvm || return 1
    fi
    # libvirtd has virtlogd write each QEMU's log and starts no guest
    # without it. A daemon killed under a parent that never reaps it lingers
    # as a zombie, which plain pgrep would count as running.
    if ! pgrep -x -r D,R,S virtlogd >/dev/null; then
        virtlogd -d || { e2e_log "virtlogd did not start"; return 1; }
    fi
    if ! pgrep -x -r D,R,S libvirtd >/dev/null; then
        libvirtd -d || { e2e_log "libvirtd did not start"; return 1; }
    fi
    deadline=$(e2e_deadline 30)
    until e2e_virsh version >/dev/null 2>&1; do
        if e2e_deadline_passed "$deadline"; then
            e2e_log "libvirtd does not answer on $MC_LIBVIRT_URI after 30 s"
            return 1
        fi
        sleep 0.2
    done
}

# e2e_libvirtd_restart [CONF]: stop libvirtd (by its pid file) and start it
# again, listening as CONF says when one is given (libvirtd --listen -f).
# Guests keep running meanwhile.
e2e_libvirtd_restart() {
    local pid deadline

    pid=$(cat /run/libvirtd.pid 2>/dev/null)
    if [[ -n $pid ]] && kill -TERM "$pid" 2>/dev/null; then
        deadline=$(e2e_deadline 30)
        while kill -0 "$pid" 2>/dev/null; do
            if e2e_deadline_passed "$deadline"; then
                e2e_log "libvirtd (pid $pid) did not stop"
                return 1
            fi
            sleep 0.2
        done
    fi
    if [[ -n ${1:-} ]]; then
        libvirtd -d --listen -f "$1" || { e2e_log "libvirtd --listen -f $1 did not start"; return 1; }
    fi
    e2e_libvirtd_up
}

# e2e_disk_file NAME: the disk image of guest NAME.
e2e_disk_file() {
    echo "$MC_E2E_DIR/$1.img"
}

# e2e_console_file NAME: where the serial console of guest NAME is written.
e2e_console_file() {
    echo "$MC_E2E_DIR/$1.console"
}

# e2e_guest_xml NAME CURRENT_MIB MAX_MIB WORKLOAD_SCRIPT [OPTIONS]: the
# domain XML. OPTIONS, comma-separated: nostats (balloon statistics period
# 0), noballoon (<memballoon model='none'/>), nodriver (the guest loads no
# balloon driver), virtiomem (a 2048 MiB virtio-mem device beside the MAX_MIB
# the guest boots with, none of it plugged; memory it plugs comes online
# movable, so that it can be unplugged again), disk (a 4 GiB virtio disk,
# /dev/vda in the guest, for its workload's read phase), fpr (the balloon
# has free page reporting), autodeflate (the balloon deflates on an OOM).
e2e_guest_xml() {
    local name=$1 cur=$2 max=$3 script=$4 options=,${5:-}, cmdline balloon
    local numa='' virtio_mem='' max_memory='' disk='' features=''

    # loglevel=4 keeps errors such as the OOM killer's on the console but
    # not the boot chatter. The machine has no ACPI tables, which the kernel
    # would report as an error without acpi=off. panic=1 with on_reboot
    # makes a guest whose init died disappear instead of hang.
    cmdline="console=ttyS0 loglevel=4 panic=1 acpi=off"
    [[ -z $script ]] || cmdline+=" workload=$script"
    [[ $options != *,nodriver,* ]] || cmdline+=" mc_no_balloon_driver"
    [[ $options != *,fpr,* ]] || features+=" freePageReporting='on'"
    [[ $options != *,autodeflate,* ]] || features+=" autodeflate='on'"
    balloon="<memballoon model='virtio'$features>
      <stats period='1'/>
    </memballoon>"
    [[ $options != *,nostats,* ]] || balloon="<memballoon model='virtio'$features/>"
    [[ $options != *,noballoon,* ]] || balloon="<memballoon model='none'/>"
    if [[ $options == *,virtiomem,* ]]; then
        cmdline+=" memhp_default_state=online_movable"
        max_memory="<maxMemory slots='2' unit='MiB'>$((max + 4096))</maxMemory>"
        numa="<cpu><numa><cell id='0' cpus='0' memory='$max' unit='MiB'/></numa></cpu>"
        virtio_mem="<memory model='virtio-mem'>
      <target>
        <size unit='MiB'>2048</size>
        <node>0</node>
        <block unit='MiB'>2</block>
        <requested unit='MiB'>0</requested>
      </target>
    </memory>"
    fi
    # cache='none': the host's page cache holds no second copy of what the
    # guest caches, so the host's free memory is what the guests leave.
    # The image is sparse: its reads cost the host no memory either.
    [[ $options != *,disk,* ]] || disk="<disk type='file' device='disk'>
      <driver name='qemu' type='raw' cache='none'/>
      <source file='$(e2e_disk_file "$name")'/>
      <target dev='vda' bus='virtio'/>
    </disk>"
    cat <<EOF
<domain type='qemu'>
  <name>$name</name>
  $max_memory
  <memory unit='MiB'>$max</memory>
  <currentMemory unit='MiB'>$cur</currentMemory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>$MC_GUEST_DIR/vmlinuz</kernel>
    <initrd>$MC_GUEST_DIR/initramfs.gz</initrd>
    <cmdline>$cmdline</cmdline>
  </os>
  $numa
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>destroy</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <controller type='usb' model='none'/>
    <serial type='pty'>
      <log file='$(e2e_console_file "$name")' append='off'/>
      <target port='0'/>
    </serial>
    $balloon
    $virtio_mem
    $disk
  </devices>
</domain>
EOF
}

# e2e_guest_start NAME CURRENT_MIB MAX_MIB WORKLOAD_SCRIPT [OPTIONS]: start a
# transient guest that boots with MAX_MIB and whose balloon then inflates to
# leave CURRENT_MIB. An empty WORKLOAD_SCRIPT leaves the guest idle. OPTIONS
# as for e2e_guest_xml.
e2e_guest_start() {
    if [[ $# -ne 4 && $# -ne 5 ]]; then
        e2e_log "usage: e2e_guest_start NAME CURRENT_MIB MAX_MIB WORKLOAD_SCRIPT [OPTIONS]"
        return 1
    fi
    local name=$1 cur=$2 max=$3 script=$4 options=${5:-} xml

    # The name and script land in XML and on the kernel command line.
    if [[ ! $name =~ ^[A-Za-z0-9_.-]+$ ]]; then
        e2e_log "guest name '$name': use letters, digits, _ . - only"
        return 1
    fi
    if [[ ! $cur =~ ^[0-9]+$ || ! $max =~ ^[0-9]+$ ]] || ((cur == 0 || cur > max)); then
        e2e_log "guest $name: need 0 < CURRENT_MIB ($cur) <= MAX_MIB ($max)"
        return 1
    fi
    if [[ ! $options =~ ^((nostats|noballoon|nodriver|virtiomem|disk|fpr|autodeflate),?)*$ ]]; then
        e2e_log "guest $name: options '$options': expected nostats, noballoon, nodriver, virtiomem, disk, fpr, autodeflate"
        return 1
    fi
    if [[ ! $script =~ ^[a-z0-9:,]*$ ]]; then
        e2e_log "guest $name: workload script '$script' has characters beyond a-z 0-9 : ,"
        return 1
    fi
    if [[ ! -r $MC_GUEST_DIR/vmlinuz || ! -r $MC_GUEST_DIR/initramfs.gz ]]; then
        e2e_log "no guest image in $MC_GUEST_DIR; run guest/build-image"
        return 1
    fi
    if [[ $MC_GUEST_DIR$MC_E2E_DIR == *[\'\"\&\<\>]* ]]; then
        e2e_log "MC_GUEST_DIR and MC_E2E_DIR must not hold ' \" & < > (they go into XML)"
        return 1
    fi
    # libvirtd opens the console file itself (root, mode 600) and hands
    # QEMU the descriptor; 755 lets other users read the XML at least.
    mkdir -p "$MC_E2E_DIR" && chmod 755 "$MC_E2E_DIR" || return 1
    # QEMU appends to it, and old lines would satisfy e2e_wait_console.
    rm -f "$(e2e_console_file "$name")"
    # A fresh sparse image: what it holds does not matter, only that reads
    # go through the guest's page cache.
    if [[ ,$options, == *,disk,* ]]; then
        rm -f "$(e2e_disk_file "$name")"
        truncate -s 4G "$(e2e_disk_file "$name")" && chmod 644 "$(e2e_disk_file "$name")" || return 1
    fi
    xml=$MC_E2E_DIR/$name.xml
    e2e_guest_xml "$name" "$cur" "$max" "$script" "$options" >"$xml" || return 1
    if ! e2e_virsh create "$xml" >/dev/null; then
        e2e_log "guest $name did not start (domain XML in $xml)"
        return 1
    fi
}

# e2e_guests_go NAME...: type a line on each guest's serial console, which
# a workload's go phase waits for, so that loads start together and only
# after the test is ready: loads that start at boot race the balloon's
# inflation. QEMU notices a client on the pty only by polling it, about once
# a second, so the line is written a moment after opening and the pty held
# open a moment after.
e2e_guests_go() {
    local name tty rc=0 pids=()

    for name in "$@"; do
        tty=$(e2e_virsh ttyconsole "$name") && [[ -c $tty ]] || {
            e2e_log "guest $name has no console to type on"
            return 1
        }
        { sleep 1.5; printf 'go\n'; sleep 1.5; } >"$tty" &
        pids+=($!)
    done
    for name in "${pids[@]}"; do
        wait "$name" || rc=1
    done
    return $rc
}

# e2e_memstat NAME FIELD: the FIELD (actual, unused, available, rss, ...) of
# virsh dommemstat in KiB; fails when the guest does not report it.
e2e_memstat() {
    e2e_virsh dommemstat "$1" 2>/dev/null |
        awk -v f="$2" '$1 == f { print $2; found = 1 } END { exit !found }'
}

# e2e_wait_balloon NAME MIB TIMEOUT_S: wait until the balloon of guest NAME
# leaves it MIB (within MC_BALLOON_TOL_MIB) and the guest has sent its
# statistics since, so that unused and available describe the guest after
# the inflation rather than during it.
e2e_wait_balloon() {
    local name=$1 mib=$2 timeout=$3 deadline stats actual updated settled_at=

    deadline=$(e2e_deadline "$timeout")
    while :; do
        stats=$(e2e_virsh dommemstat "$name" 2>/dev/null) || stats=
        actual=$(awk '$1 == "actual" { print int($2 / 1024) }' <<<"$stats")
        if [[ -n $actual ]] && ((actual - mib <= MC_BALLOON_TOL_MIB &&
            mib - actual <= MC_BALLOON_TOL_MIB)) &&
            grep -q '^unused ' <<<"$stats"; then
            updated=$(awk '$1 == "last_update" { print $2 }' <<<"$stats")
            [[ -n $settled_at ]] || settled_at=$updated
            ((updated > settled_at)) && return 0
        else
            settled_at=
        fi
        if e2e_deadline_passed "$deadline"; then
            e2e_log "guest $name: balloon at ${actual:-?} MiB, not $mib MiB with fresh statistics, after $timeout s"
            return 1
        fi
        sleep 0.5
    done
}

# e2e_wait_console NAME PATTERN TIMEOUT_S: wait until the console of guest
# NAME has a line matching the extended regular expression PATTERN. Gives
# up early when the guest is gone. The guest's tty ends lines in \r\n, so
# a PATTERN ending in $ never matches.
e2e_wait_console() {
    local name=$1 pattern=$2 timeout=$3 deadline file

    file=$(e2e_console_file "$name")
    deadline=$(e2e_deadline "$timeout")
    while :; do
        grep -Eq -- "$pattern" "$file" 2>/dev/null && return 0
        if ! e2e_virsh domstate "$name" 2>/dev/null | grep -qx running; then
            # It may have written the line just before it went.
            grep -Eq -- "$pattern" "$file" 2>/dev/null && return 0
            e2e_log "guest $name is not running, and its console never showed '$pattern'"
            break
        fi
        if e2e_deadline_passed "$deadline"; then
            e2e_log "guest $name: no '$pattern' on the console after $timeout s"
            break
        fi
        sleep 0.5
    done
    e2e_log "last lines of $file:"
    tail -n 5 "$file" 2>/dev/null | sed 's/^/  /' >&2
    return 1
}

# e2e_destroy_all PREFIX: destroy the running guests whose names start with
# PREFIX, and no other. For traps, so it tries every one even if some fail.
e2e_destroy_all() {
    local prefix=$1 name rc=0

    if [[ -z $prefix ]]; then
        e2e_log "e2e_destroy_all: refusing an empty prefix"
        return 1
    fi
    for name in $(e2e_virsh list --name 2>/dev/null); do
        [[ $name == "$prefix"* ]] || continue
        e2e_virsh destroy "$name" >/dev/null || rc=1
        rm -f "$(e2e_disk_file "$name")"
    done
    return $rc
}
