/*
 * mem_coordinator: balance memory between the running guests of a
 * libvirt/QEMU host by resizing their virtio balloons.
 *
 * Every second it reads each running guest's balloon statistics, hands a
 * snapshot of them to a policy (a pure function), and applies the resizes
 * the policy plans. Starved guests are fed from wasteful guests first, else
 * from the host, in the second they are seen; wasteful guests give memory
 * back once a PERIOD while the host has room, and faster as it runs short.
 *
 * The file reads top to bottom: tunables, types, policy (what both
 * policies share, seed, adaptive, the policies and their config), balloon
 * model, messages, libvirt layer (statistics, domain XML, metadata, reading a
 * cycle, resizing), cycle output, options, main loop (a cycle, signals and
 * sleep, the lock, connection and reconnection, the loop).
 */

#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <getopt.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <libxml/parser.h>
#include <libxml/uri.h>
#include <libxml/xpath.h>

/* Tunables: edit and run make again. The flags in -h override them. */
#define STARVATION_THRESHOLD 150  /* MiB: less free than this and a guest is starved */
#define WASTE_THRESHOLD      300  /* MiB: more free than this and a guest is wasteful */
#define MIN_GUEST_MEMORY     200  /* MiB: no balloon is shrunk below this */
#define HOST_RESERVE         256  /* MiB: host free memory never handed to guests */
#define HOST_COMFORT         1024 /* MiB above HOST_RESERVE: with less, memory goes back by need */
#define MIN_STEP             16   /* MiB: smaller resizes are not worth a balloon operation */
#define GROWN_HOLD_DECISIONS 5    /* decisions: a guest that grew gives nothing back this long */
#define DEFAULT_SHARES       1000 /* a guest's priority, unless its libvirt metadata says */
#define CLAIM_S              10   /* s: how far ahead a grower's claim looks under contention */
#define BURST_MEMORY_S       60   /* s: a guest keeps room this long for a burst no look followed */
#define DEFAULT_POLICY       "adaptive"

#ifndef VERSION
#define VERSION "unknown"
#endif

#define PROGRAM              "mem_coordinator"
#define MAX_PERIOD           86400      /* s: a day; longer is surely a typo */
#define MAX_MIB              16777216LL /* MiB: 16 TiB, the bound for any size flag */
#define MIN_GUEST_FLOOR      64 /* MiB: --min-guest below this would starve any Linux guest */
#define STATS_GRACE_CYCLES   3  /* cycles a guest may lack statistics before we say so */
#define BALLOON_STUCK_CYCLES 3  /* cycles a balloon may stand short of its target */
#define LOCK_DIR             "/run/mem_coordinator" /* every user's lock for a shared libvirt */
#define LOCK_GROUP           "libvirt" /* who may reach qemu:///system, and so its lock */
#define ARRIVED_KIB          2048      /* KiB: a balloon this close to its target is there */
#define UNRESPONSIVE_BACKOFF 10   /* cycles: first wait before a stuck balloon is asked again */
#define UNRESPONSIVE_MAX     320  /* cycles: the longest such wait */
#define USE_SAMPLES          4    /* statistics a guest's rate of use is measured over */
#define LOOK_S               1    /* s: every guest is read, and the needy fed, this often */
#define BALLOON_LAG_S        2    /* s: statistics' age plus a balloon's move, beyond a look */
#define GROWING_RATE         1024 /* KiB/s: use that grows slower than this counts as flat */
#define RETURN_AFTER_CYCLES  2    /* looks above WASTE_THRESHOLD before adaptive takes back */
#define RETURN_STEP          512  /* MiB: the most adaptive takes back from a guest at once */
#define STALE_STATS_S        10   /* s: older statistics are stale, unless two periods are longer */
#define SLOWEST_STATS_S      30   /* s: the longest statistics period followed; slower go stale */
#define KEEPALIVE_INTERVAL_S 3    /* s: a silent libvirtd is asked whether it lives this often */
#define KEEPALIVE_COUNT      3    /* unanswered asks before its connection counts as dead */
#define STOP_WAIT_S          5    /* s: the longest a stop waits on libvirt (a period if shorter) */
#define STOP_RESIZE_WAIT_S   15   /* s: the longest a stop waits for the resizes under way */
#define RECONNECT_MAX_S      30   /* s: the longest wait to reconnect (a period if shorter) */
#define SETTINGS_URI         "urn:mem-coordinator:guest:1" /* its metadata's namespace */
#define MAX_SHARES           1000000
#define SETTINGS_REREAD_S    60 /* s: without metadata events, settings are read again this often */
#define WARN_REPEAT_S        300 /* s: a warning said again sooner is held back, and counted */
#define WARNINGS_KEPT        32  /* recent warnings remembered for that */
#define WATCHDOG_PING_S      5   /* s: the longest sleep without telling systemd's watchdog */

/* Documented in mem_coordinator.1, EXIT STATUS. */
enum exit_status {
    EXIT_OK = 0,      /* no running guest left, --once done, or stopped by a signal */
    EXIT_RUNTIME = 1, /* cannot go on: out of memory, no lock, or --once's cycle failed */
    EXIT_USAGE = 2,   /* bad command line */
    EXIT_CONNECT = 3, /* could not connect to libvirt */
    EXIT_LOCKED = 4,  /* another coordinator balances the same libvirt */
};

/* Types */

struct policy;

/* Everything a policy may consult besides the snapshot; sizes in KiB, as libvirt counts. */
struct config {
    const struct policy *policy;
    long long starve_kib;         /* free memory below this: starved */
    long long waste_kib;          /* free memory above this: wasteful */
    long long min_guest_kib;      /* floor for any balloon */
    long long host_reserve_kib;   /* host free memory never given away */
    long long host_comfort_kib;   /* room above the reserve below which memory goes back by need */
    long long min_step_kib;       /* smallest resize made */
    unsigned long hold_decisions; /* a guest that grew gives nothing back for this many decisions */
    int period_s;                 /* how often what can wait is decided (seed: everything) */
    int look_s;                   /* how often guests are read and the needy fed */
    int lag_s;                    /* statistics' age plus a balloon's move, beyond a look */
    long long growing_kib_s;      /* use that grows slower than this counts as flat */
    unsigned long return_after;   /* looks above the waste threshold before adaptive takes back */
    long long return_step_kib;    /* the most adaptive takes back from a guest at once */
    int claim_s;                  /* under contention: how far ahead a grower's claim looks */
    int burst_memory_s;           /* how long a guest keeps room for a burst no look could follow */
};

/* One running guest as the policy sees it. The balloon model fills in where
 * its balloon is heading and what getting there will do to its free memory. */
struct guest {
    const char *name;
    long long actual_kib;          /* balloon size now, as libvirt reports it */
    long long target_kib;          /* where its balloon is heading: our last resize, or actual */
    long long max_kib;             /* the most its balloon may give it */
    long long unused_kib;          /* MemFree in its last statistics (not "available", its total) */
    long long usable_kib;          /* MemFree and the page cache it may drop (usable_of) */
    long long coming_kib;          /* what its balloon will still add (+) or take (-) from both */
    long long use_rate_kib_s;      /* how fast its used memory grows; negative: shrinks */
    int stats_interval_s;          /* between its last two statistics; 0: not known yet */
    long long resident_usable_kib; /* of usable, what QEMU holds: taking it back frees it */
    long long unheld_kib;    /* of its balloon, what QEMU does not hold, whatever it reports */
    long long qemu_own_kib;  /* of resident_usable, what is QEMU's and its kernel's, at least */
    long long guarantee_kib; /* never shrunk below this (nor below the guest floor) */
    long long deflated_kib;  /* its balloon deflated itself to this on an OOM: its floor for now */
    unsigned shares;         /* its priority against the other guests */
    long long burst_kib;     /* how far its use rose in its last burst above its use now */
    long long cache_rate_kib_s; /* how fast its page cache grew between its last two statistics */
    unsigned long cycles_wasteful;     /* in a row with more usable than the waste threshold */
    unsigned long cycles_since_growth; /* ULONG_MAX: never grown */
    bool has_unused;                   /* false while its balloon reports no statistics */
    bool settling;     /* in motion, and its statistics cannot tell where: sits out */
    bool unresponsive; /* its balloon stopped short of our last target: not asked to give */
    bool refused;      /* libvirt refused its last resize: left alone for a while */
};

struct snapshot {
    const struct guest *guests; /* sorted by name */
    size_t count;
    long long host_free_kib;
    long long host_promised_kib;  /* growths under way, not yet drawn from the host */
    long long host_returning_kib; /* shrinks under way, not yet back on the host */
    long long host_untouched_kib; /* guests' free memory QEMU does not hold: theirs to touch */
    bool period_due;              /* a PERIOD has passed: decide what waits for one */
};

#define PEER_HOST SIZE_MAX /* a resize whose memory comes from or goes to the host */

enum outcome { PLANNED, APPLIED, FAILED, SKIPPED };

struct resize {
    size_t guest;         /* index into the snapshot */
    long long delta_kib;  /* positive: grow; negative: shrink */
    size_t peer;          /* the guest on the other side of a move, or PEER_HOST */
    enum outcome outcome; /* filled in when the plan is applied */
};

/* A policy's answer: each guest at most once. The caller sizes both arrays
 * to the snapshot, slot_of zeroed. */
struct plan {
    struct resize *resizes;
    size_t *slot_of; /* per guest: 1 + the index of its resize; 0: none */
    size_t count;
    long long host_given_kib; /* taken from the host by the grows so far */
    long long *unmet_kib;     /* per guest, if the caller wants it: need left unfed */
    long long available_kib;  /* all the host could muster for growers, as the plan began */
};

typedef void plan_fn(const struct snapshot *snap, const struct config *cfg, struct plan *plan);

struct policy {
    const char *name;
    const char *summary;
    plan_fn *plan;
    long long (*free_of)(const struct guest *g); /* the free memory it measures a guest by */
    bool once_a_period; /* decides only when a PERIOD is due; else at every look */
};

/* The daemon around the policy. */

struct options {
    const char *uri; /* NULL: libvirt's default, as for virsh */
    int period_s;
    bool dry_run;
    bool once;
    bool wait; /* keep going while no guest runs */
    const char *trace_path;
    const char *metrics_path;  /* Prometheus text, rewritten each cycle */
    bool syslog;               /* messages to syslog(3) once the command line is read */
    const char *guest_pattern; /* only guests whose names match; NULL: all */
    bool lock_memory;          /* never paged out, when the host is short of it */
};

/* One guest's balloon figures as libvirt reported them this cycle. The
 * statistics (unused, usable, available, last_update) are one sample the guest took
 * on its own timer; actual is read whenever libvirt is asked. */
struct balloon_reading {
    long long actual_kib, max_kib, unused_kib, available_kib;
    long long last_update;     /* s since the epoch, when the guest took its statistics */
    long long rss_kib;         /* what its QEMU holds on the host, now */
    long long usable_kib;      /* MemAvailable: what it could use without the host */
    long long disk_caches_kib; /* page cache, tmpfs and dirty pages: reported, never subtracted */
    bool has_unused, has_available, has_usable, has_disk_caches, has_last_update, has_rss;
    bool queried; /* libvirt asked the guest's QEMU; not when NOWAIT found it busy */
};

/* What an admin set for a guest in its libvirt metadata (virsh metadata),
 * else the defaults. */
struct guest_settings {
    unsigned shares;
    long long guarantee_kib;
    bool left_alone; /* manage="no", or metadata that makes no sense: never read nor resized */
    char wrong[160]; /* what in it makes no sense, as said; empty when all of it does */
};

/* What a guest's balloon does of itself, as its live XML says. */
struct balloon_features {
    bool free_page_reporting; /* the guest hands pages it frees back to the host */
    bool deflate_on_oom;      /* autodeflate: the guest deflates it rather than kill */
};

/* A guest's virtio-mem devices, as its live XML describes them; the first is
 * the one the coordinator drives. All zero without any. */
struct virtio_mem {
    long long sizes_kib;     /* all of them: libvirt counts them in the maximum */
    long long size_kib;      /* the first: what it can plug at most */
    long long block_kib;     /* the first's block: what it plugs in */
    long long requested_kib; /* the first's request: what the guest heads for */
};

/* What the daemon remembers of a guest between cycles. Keyed by UUID, since
 * a new guest may take a gone one's name. */
struct guest_history {
    unsigned char uuid[VIR_UUID_BUFLEN];
    bool seen;                         /* this cycle; the unseen are forgotten */
    bool stats_period_set;             /* we asked its balloon for statistics */
    bool no_stats_reported;            /* and said so when it still gave none */
    bool nonsense_reported;            /* said that its figures make no sense */
    bool unreadable_reported;          /* said that its metadata cannot be read */
    bool short_reported;               /* said that it was left short of its need */
    bool no_usable_reported;           /* said that it reports no MemAvailable */
    bool short_said;                   /* and the warning was not held back (warn) */
    bool in_job;                       /* runs a job (a migration): left alone until it ends */
    unsigned long settings_generation; /* of the settings read; 0: none yet */
    struct guest_settings settings;
    int cycles_without_stats;
    /* The balloon model: where we sent the balloon, and how its statistics
     * tell where it stood when they were taken. */
    bool read_before;          /* the fields below hold last cycle's reading */
    long long last_actual_kib; /* its balloon size last cycle */
    long long last_read_at;    /* s since the epoch, when we read it last cycle */
    long long at_size_since;   /* s since the epoch: the first read that found it at that size */
    int cycles_unmoved;        /* how long its balloon has stood at that size */
    long long target_kib;      /* where we sent its balloon; 0: no resize of ours under way */
    long long span_low_kib;    /* the sizes it may pass through on its way there */
    long long span_high_kib;
    long long overhead_kib;    /* balloon size less the guest's total ("available"); -1: unknown */
    long long qemu_own_kib;    /* least QEMU held beyond the guest's pages; -1: unknown */
    unsigned long grown_cycle; /* when we last grew it; 0: never */
    unsigned long unresponsive_until; /* cycle before which it is not asked to give */
    unsigned long refused_until;      /* cycle before which it is left alone */
    unsigned long refused_backoff;    /* the wait after libvirt refused it, doubling */
    unsigned long backoff_cycles;     /* the wait before it is asked again, doubling */
    long long deflated_kib;           /* its balloon deflated itself to this on an OOM; 0: not */
    long long deflated_used_kib;      /* its use then; -1: not known yet */
    /* Its used memory (available - usable) at its last statistics, oldest
     * first: what its rate of use is measured from. */
    struct {
        long long at; /* last_update */
        long long used_kib;
        long long cache_kib; /* its page cache then (usable - unused) */
    } use[USE_SAMPLES];
    int use_count;
    long long rss_at_sample_kib; /* QEMU's resident set when its latest statistics came; -1: none */
    long long burst_peak_kib;    /* the most it used in its last burst */
    long long burst_at;     /* its last statistics that rose faster than a look follows; 0: never */
    long long last_rss_kib; /* QEMU's resident set at the last look, and when; 0: none */
    long long last_rss_at;
    unsigned long cycles_wasteful;
    unsigned long grows, shrinks; /* resizes libvirt took, for the metrics */
    /* Its virtio-mem and balloon features, from its XML, read again when
     * its maximum (balloon.maximum, which counts virtio-mem) changes. */
    long long devices_read_at_max_kib; /* 0: not read yet */
    struct virtio_mem mem;
    struct balloon_features balloon;
};

struct coordinator {
    struct options opt;
    struct config cfg;
    virConnectPtr conn;
    FILE *trace;
    struct guest_history *history; /* the first history_known sorted by UUID */
    size_t history_count, history_known, history_capacity;
    bool host_estimate_noted;
    bool constant_stats;         /* the test driver's: the same figures, stamped 1989, for ever */
    unsigned long cycle;         /* cycles that read the guests */
    unsigned long failed_cycles; /* cycles that could not */
    unsigned long failing;       /* cycles failed since the last that worked */
    unsigned long reconnects;
    bool settings_events;  /* libvirt says when a guest's metadata changes */
    int settings_callback; /* its id, to deregister before the connection closes */
    bool under_pressure;   /* said that the host is short of room */
    bool metrics_failing;  /* said that the metrics cannot be written */
    bool none_balanced;    /* said that guests run but none is balanced */
    bool pressure_said;    /* and the warning was not held back (warn) */
    uint64_t guests_seen;  /* which guests the last look saw (guest_set) */
    struct timespec started;
    struct timespec next_period; /* when the next PERIOD is due */
};

/* Policy: pure functions of a const snapshot and config. */

static long long min_ll(long long a, long long b)
{
    return a < b ? a : b;
}

static long long max_ll(long long a, long long b)
{
    return a > b ? a : b;
}

static long long clamp_ll(long long value, long long low, long long high)
{
    return max_ll(low, min_ll(value, high));
}

/* The band between the thresholds: a guest's free memory wobbles by about
 * this much while it is fed and trimmed, so smaller swings are no signal. */
static long long band_kib(const struct config *cfg)
{
    return cfg->waste_kib - cfg->starve_kib;
}

/* A guest's free memory once its balloon has arrived: policies size guests
 * by their targets, never by a balloon caught half-way. Seed, the original
 * algorithm, measures MemFree, which a guest's page cache fills whatever it
 * needs; adaptive measures MemAvailable, which counts clean cache as free,
 * since the guest drops it the moment a program wants the memory. */
static long long expected_unused(const struct guest *g)
{
    return g->unused_kib + g->coming_kib;
}

static long long expected_usable(const struct guest *g)
{
    return g->usable_kib + g->coming_kib;
}

/* Resizes go in whole MiB: balloon targets stay page-aligned and printed figures exact. */
static long long whole_mib(long long kib)
{
    return kib - kib % 1024;
}

static const struct resize *plan_find(const struct plan *plan, size_t guest)
{
    return plan->slot_of[guest] ? &plan->resizes[plan->slot_of[guest] - 1] : NULL;
}

static void plan_add(struct plan *plan, size_t guest, long long delta_kib, size_t peer)
{
    plan->slot_of[guest] = plan->count + 1;
    plan->resizes[plan->count++] = (struct resize){
        .guest = guest,
        .delta_kib = delta_kib,
        .peer = peer,
        .outcome = PLANNED,
    };
}

/* The host's free memory above its reserve, less the growths under way and
 * this plan's: what it has now, if no guest touches what it holds. */
static long long host_free_room(const struct plan *plan, const struct snapshot *snap,
                                const struct config *cfg)
{
    return max_ll(0, snap->host_free_kib - snap->host_promised_kib - cfg->host_reserve_kib -
                         plan->host_given_kib);
}

/* What the host can still hand out. A balloon deflated into a guest costs
 * the host nothing until the guest touches the pages, and then it costs
 * without asking: unused memory QEMU does not hold is the guests' to touch,
 * and growths still under way will draw on the host too. Neither can be
 * handed out a second time. */
static long long host_room(const struct plan *plan, const struct snapshot *snap,
                           const struct config *cfg)
{
    return max_ll(0, host_free_room(plan, snap, cfg) - snap->host_untouched_kib);
}

/* The host's free memory beyond its comfort: what a bare need or a move may
 * take whatever the guests may touch later. */
static long long host_free_beyond_comfort(const struct plan *plan, const struct snapshot *snap,
                                          const struct config *cfg)
{
    return host_free_room(plan, snap, cfg) - cfg->host_comfort_kib;
}

/* What the host can carry of a move between guests: its room, or its free
 * memory while it keeps its comfort. A move costs the host nothing once the
 * donor has given, so what guests may touch later does not bar it; counted
 * against the room alone, moves stopped on hosts whose balloons add up to
 * more than they have, and a grower was left unfed beside gigabytes free
 * while donor after donor gave to the host instead. */
static long long host_carries(const struct plan *plan, const struct snapshot *snap,
                              const struct config *cfg)
{
    return max_ll(host_room(plan, snap, cfg), host_free_beyond_comfort(plan, snap, cfg));
}

static bool worth_a_resize(long long kib, const struct config *cfg)
{
    return kib > 0 && kib >= cfg->min_step_kib;
}

/* Whether growing a guest by kib leaves it within a MiB of its max. */
static bool reaches_max(const struct guest *g, long long kib)
{
    return g->max_kib - g->target_kib - kib < 1024;
}

/* A growth worth a resize, or the last few MiB to a guest's max: a guest fed
 * that close to its max and still needy runs out without them (the
 * simulator lost 256 guests on 10,000 hosts 1 to 15 MiB below their max). */
static bool worth_growing(const struct guest *g, long long kib, const struct config *cfg)
{
    return worth_a_resize(kib, cfg) || (kib > 0 && reaches_max(g, kib));
}

/* The least a guest may hold: the floor for every guest, its guarantee, or
 * what its balloon deflated itself to when the guest ran out. */
static long long guest_floor(const struct guest *g, const struct config *cfg)
{
    return max_ll(max_ll(cfg->min_guest_kib, g->guarantee_kib), g->deflated_kib);
}

/* Grow a guest by up to want_kib of host memory, within its max and the
 * host's free memory above its reserve. The caller bounds want_kib by the
 * host's room where it must. */
static bool plan_grow_from_host(struct plan *plan, const struct snapshot *snap,
                                const struct config *cfg, size_t guest, long long want_kib)
{
    const struct guest *g = &snap->guests[guest];
    long long kib =
        min_ll(want_kib, min_ll(g->max_kib - g->target_kib, host_free_room(plan, snap, cfg)));

    kib = whole_mib(kib);
    if (!worth_growing(g, kib, cfg) || plan_find(plan, guest))
        return false;
    plan_add(plan, guest, kib, PEER_HOST);
    plan->host_given_kib += kib;
    return true;
}

/* The hold after a growth in looks: it counts the policy's decisions, so a
 * policy that decides once a PERIOD holds for that many PERIODs, and a guest
 * fed at one decision is not trimmed at the next. */
static unsigned long hold_looks(const struct config *cfg)
{
    bool once_a_period = cfg->policy && cfg->policy->once_a_period;

    return cfg->hold_decisions *
           (unsigned long)(once_a_period ? max_ll(1, cfg->period_s / cfg->look_s) : 1);
}

/* A guest that grew within the hold keeps what it was given: handing it
 * straight back is ping-pong, and the guest was starved a moment ago. A
 * balloon that did not follow its last target would not give either. */
static bool may_give(const struct guest *g, const struct config *cfg)
{
    return g->cycles_since_growth >= hold_looks(cfg) && !g->unresponsive;
}

/* Shrink a guest by up to want_kib, never below the guest floor. The caller
 * has asked its policy whether the guest may give. */
static bool plan_shrink_to_host(struct plan *plan, const struct snapshot *snap,
                                const struct config *cfg, size_t guest, long long want_kib)
{
    const struct guest *g = &snap->guests[guest];
    long long kib = whole_mib(min_ll(want_kib, g->target_kib - guest_floor(g, cfg)));

    if (!worth_a_resize(kib, cfg) || plan_find(plan, guest))
        return false;
    plan_add(plan, guest, -kib, PEER_HOST);
    return true;
}

/* Move up to want_kib from one guest to another; both ends clamp together, so
 * the receiver gets exactly what the donor gives. A receiver's balloon
 * deflates faster than its donor's inflates, so for a moment the host
 * carries both: a move is bounded by carry_kib, and counted as given by the
 * host like a growth. The caller has asked its policy whether the donor may
 * give. */
static bool plan_move(struct plan *plan, const struct snapshot *snap, const struct config *cfg,
                      size_t donor, size_t receiver, long long want_kib, long long carry_kib)
{
    const struct guest *from = &snap->guests[donor];
    const struct guest *to = &snap->guests[receiver];
    long long kib = min_ll(
        want_kib, min_ll(to->max_kib - to->target_kib, from->target_kib - guest_floor(from, cfg)));

    kib = whole_mib(min_ll(kib, carry_kib));
    if (!worth_growing(to, kib, cfg) || donor == receiver || plan_find(plan, donor) ||
        plan_find(plan, receiver))
        return false;
    plan_add(plan, donor, -kib, receiver);
    plan_add(plan, receiver, kib, donor);
    plan->host_given_kib += kib;
    return true;
}

/* A guest whose figures can be trusted this cycle, and that may be resized. */
static bool guest_measured(const struct guest *g)
{
    return g->has_unused && !g->settling && !g->refused;
}

/* Policy: seed */

/* A guest at its max cannot be fed, and one at the floor cannot give: as the
 * most starved or most wasteful they would only block the next guest in line,
 * who may be starving. */
static bool can_grow(const struct guest *g, const struct config *cfg)
{
    return g->max_kib - g->target_kib >= max_ll(cfg->min_step_kib, 1024);
}

static bool can_shrink(const struct guest *g, const struct config *cfg)
{
    return g->target_kib - guest_floor(g, cfg) >= max_ll(cfg->min_step_kib, 1024) &&
           may_give(g, cfg);
}

/* The measured guest that can grow with the least unused memory; the first
 * by name on a tie. */
static size_t most_starved(const struct snapshot *snap, const struct config *cfg)
{
    size_t found = SIZE_MAX;

    for (size_t i = 0; i < snap->count; i++)
        if (guest_measured(&snap->guests[i]) && can_grow(&snap->guests[i], cfg) &&
            (found == SIZE_MAX ||
             expected_unused(&snap->guests[i]) < expected_unused(&snap->guests[found])))
            found = i;
    return found;
}

/* The measured guest that can shrink with the most unused memory, other than except. */
static size_t most_wasteful(const struct snapshot *snap, const struct config *cfg, size_t except)
{
    size_t found = SIZE_MAX;

    for (size_t i = 0; i < snap->count; i++)
        if (i != except && guest_measured(&snap->guests[i]) && can_shrink(&snap->guests[i], cfg) &&
            (found == SIZE_MAX ||
             expected_unused(&snap->guests[i]) > expected_unused(&snap->guests[found])))
            found = i;
    return found;
}

/*
 * The original algorithm: at most one decision a PERIOD.
 * A starved guest gets half of the most wasteful guest's unused memory (half
 * of the unused part, which keeps the donor clear of starving), or else
 * WASTE_THRESHOLD from the host. With nobody starved, the most wasteful guest
 * shrinks until WASTE_THRESHOLD of it is left unused.
 * Half of a little over WASTE_THRESHOLD would leave the donor right on the
 * starvation line, which the balloon's own bookkeeping takes it a few KiB
 * below, to be fed from the host at once: a donor keeps MIN_STEP above it.
 */
static void plan_seed(const struct snapshot *snap, const struct config *cfg, struct plan *plan)
{
    size_t starved = most_starved(snap, cfg);
    size_t wasteful;
    long long spare_kib;

    if (!snap->period_due)
        return; /* its one decision is a PERIOD's */
    if (starved != SIZE_MAX && expected_unused(&snap->guests[starved]) < cfg->starve_kib) {
        wasteful = most_wasteful(snap, cfg, starved);
        spare_kib = wasteful == SIZE_MAX ? 0 : expected_unused(&snap->guests[wasteful]);
        /* A donor that cannot give a worthwhile step (the receiver near its
         * max, the donor near the floor) leaves the host to feed the guest. */
        if (spare_kib > cfg->waste_kib &&
            plan_move(plan, snap, cfg, wasteful, starved,
                      min_ll(spare_kib / 2, spare_kib - cfg->starve_kib - cfg->min_step_kib),
                      host_room(plan, snap, cfg)))
            return;
        plan_grow_from_host(plan, snap, cfg, starved,
                            min_ll(cfg->waste_kib, host_room(plan, snap, cfg)));
        return;
    }
    wasteful = most_wasteful(snap, cfg, SIZE_MAX);
    if (wasteful == SIZE_MAX)
        return;
    spare_kib = expected_unused(&snap->guests[wasteful]);
    if (spare_kib > cfg->waste_kib)
        plan_shrink_to_host(plan, snap, cfg, wasteful, spare_kib - cfg->waste_kib);
}

/* Policy: adaptive */

static bool growing(const struct guest *g, const struct config *cfg)
{
    return g->has_unused && g->use_rate_kib_s >= cfg->growing_kib_s;
}

/* Adaptive: how long a guest must last on what it has, from this look until
 * the next look's resize has taken effect. A guest that sends statistics
 * less often than we look is seen only that often. */
static long long horizon_s(const struct guest *g, const struct config *cfg)
{
    return max_ll(cfg->look_s, g->stats_interval_s) + cfg->lag_s;
}

/* What a guest needs free to last that long, at the rate its use grows. */
static long long needed_usable(const struct guest *g, const struct config *cfg)
{
    return cfg->starve_kib + max_ll(0, g->use_rate_kib_s) * horizon_s(g, cfg);
}

/* Of a guest's balloon, what its QEMU will not hold once the move under way
 * is done: free to the guest whatever it reports. */
static long long unheld_then(const struct guest *g)
{
    return g->unheld_kib + g->target_kib - g->actual_kib;
}

/* What the host owes a guest is counted from what the host sees, never from
 * the guest's figures alone: memory its QEMU never touched is free to the
 * guest whatever it reports, so a guest that claims little free memory while
 * its balloon holds more than its QEMU does is not fed. A guest's own use is
 * in QEMU's resident set (without swap on the host), so an honest guest
 * never has more untouched than free. */
static bool needy(const struct guest *g, const struct config *cfg)
{
    long long need_kib = needed_usable(g, cfg);

    return guest_measured(g) && !reaches_max(g, 0) && expected_usable(g) < need_kib &&
           unheld_then(g) < need_kib;
}

/* Seconds until a guest runs out at its rate; one whose use does not grow
 * counts as growing by 1 MiB/s, so the poorest of those goes first. */
static double seconds_left(const struct guest *g)
{
    return (double)max_ll(0, expected_usable(g)) / (double)max_ll(1024, g->use_rate_kib_s);
}

/* How many looks ago a guest was last fed, up to its claim's horizon (for
 * longer or never). Under contention the guest fed last stays ahead, so the
 * memory goes to one grower whole instead of a slice to each in turn, which
 * would keep neither alive: with three looks, a grower fed 200 MiB at once
 * fell behind the other while it lived on that, and both died (e2e s15). */
static unsigned long fed_ago(const struct guest *g, const struct config *cfg)
{
    unsigned long horizon = (unsigned long)max_ll(1, cfg->claim_s / cfg->look_s);

    return g->cycles_since_growth < horizon ? g->cycles_since_growth : horizon;
}

struct urgency {
    size_t guest;
    unsigned shares;
    unsigned long fed_ago;
    double seconds_left;
};

/* More shares first; then the guest fed last; then the least time left.
 * Ties go by name: the snapshot is sorted by name. */
static int first_served(const void *a, const void *b)
{
    const struct urgency *ua = a, *ub = b;

    if (ua->shares != ub->shares)
        return ua->shares > ub->shares ? -1 : 1;
    if (ua->fed_ago != ub->fed_ago)
        return ua->fed_ago < ub->fed_ago ? -1 : 1;
    if (ua->seconds_left != ub->seconds_left)
        return ua->seconds_left < ub->seconds_left ? -1 : 1;
    return (ua->guest > ub->guest) - (ua->guest < ub->guest);
}

/* Order needy guests by the turn they are served in. */
static void sort_by_turn(const struct snapshot *snap, const struct config *cfg, size_t *guests,
                         size_t count)
{
    struct urgency *order = calloc(count + 1, sizeof(*order));

    if (!order)
        return; /* name order: every needy guest is still served */
    for (size_t i = 0; i < count; i++) {
        const struct guest *g = &snap->guests[guests[i]];

        order[i] = (struct urgency){guests[i], g->shares, fed_ago(g, cfg), seconds_left(g)};
    }
    qsort(order, count, sizeof(*order), first_served);
    for (size_t i = 0; i < count; i++)
        guests[i] = order[i].guest;
    free(order);
}

/* The free memory a needy guest is fed up to: its need and a quarter of
 * the band between the thresholds. The need already holds the rate's
 * headroom, and a guest that dips below it is fed at the next look. */
static long long target_usable(const struct guest *g, const struct config *cfg)
{
    return needed_usable(g, cfg) + band_kib(cfg) / 4;
}

/* A guest whose use falls faster than the band between the thresholds a
 * second frees memory of its own. Slower falls may be a balloon's move
 * caught half-way in its statistics, which make a guest's use wobble by
 * tens of MiB while it is fed and trimmed. */
static bool freeing(const struct guest *g, const struct config *cfg)
{
    return g->use_rate_kib_s < -band_kib(cfg);
}

/* Seed's hold after a growth, but for a guest that frees memory: that is
 * its own, not what it was fed. */
static bool may_give_back(const struct guest *g, const struct config *cfg)
{
    return may_give(g, cfg) || (freeing(g, cfg) && !g->unresponsive);
}

/* How short the host is, from 0 with host_comfort_kib or more above its
 * reserve, once growths under way and this plan's own are drawn, to 1 at
 * the reserve; counted two ways. */
struct pressure {
    double room;   /* the room it can hand out, less what guests may touch without
                    * asking: when memory goes back, and how much */
    double memory; /* its free memory alone: how deep a guest is trimmed */
};

static const struct pressure NO_PRESSURE = {0, 0};
static const struct pressure FULL_PRESSURE = {1, 1};

static double pressure_of(long long room_kib, const struct config *cfg)
{
    if (max_ll(0, room_kib) >= cfg->host_comfort_kib)
        return 0;
    return 1 - (double)max_ll(0, room_kib) / (double)cfg->host_comfort_kib;
}

/* On a host whose balloons add up to more than it has, the memory guests
 * never touched is owed: the host takes it back while it lacks room, but
 * trims guests below the waste threshold only as its free memory itself
 * runs short. Trimmed to their bare need while gigabytes stood free, guests
 * had no headroom for their next burst. */
static struct pressure host_pressure(const struct plan *plan, const struct snapshot *snap,
                                     const struct config *cfg)
{
    long long free_kib = snap->host_free_kib - snap->host_promised_kib - cfg->host_reserve_kib -
                         plan->host_given_kib;

    return (struct pressure){pressure_of(host_room(plan, snap, cfg), cfg),
                             pressure_of(free_kib, cfg)};
}

/* What a guest keeps free when memory is taken from it. On a roomy host,
 * the waste threshold and a horizon of its growth, or room for its last
 * burst no look could follow while it remembers one: a quiet guest starts
 * its next burst on what it has, where memory taken back would gain the
 * host nothing. As the host's free memory nears its reserve, less, down to
 * what a needy guest is fed up to at the reserve. Trimmed to the waste line
 * after a burst, guests were killed by their next (two in three of the
 * simulator's lost bursters had burst before); trimmed to their bare need
 * at the reserve, guests starved at every dip of their use and were fed
 * straight back (9% more starved guest-seconds in the simulator). */
static long long kept_usable(const struct guest *g, const struct config *cfg,
                             struct pressure pressure)
{
    long long roomy_kib = needed_usable(g, cfg) + max_ll(band_kib(cfg), g->burst_kib);
    long long at_reserve_kib = target_usable(g, cfg);

    return at_reserve_kib +
           (long long)((double)(roomy_kib - at_reserve_kib) * (1 - pressure.memory));
}

/* Of a guest's MemFree, what QEMU holds: its usable memory held, less the
 * page cache in it (cache is always resident), less what QEMU holds for
 * itself and the guest's kernel, which no balloon gives back. */
static long long resident_unused(const struct guest *g)
{
    return max_ll(0, g->resident_usable_kib - max_ll(0, g->usable_kib - g->unused_kib) -
                         g->qemu_own_kib);
}

/* What a guest can give, to another guest or to the host. On a roomy host
 * only what costs the host: MemFree above its line that QEMU holds. Its
 * page cache stays (a reader keeps what it has read), and so does memory
 * it never touched, which costs nothing and is its next burst's headroom.
 * While the host is short of room, all of it above its line, the cache
 * first of all, since the guest drops it without harm. */
static long long spare(const struct guest *g, const struct config *cfg, struct pressure pressure)
{
    long long above = expected_usable(g) - kept_usable(g, cfg, pressure);

    if (!guest_measured(g) || !may_give_back(g, cfg))
        return 0;
    if (pressure.room == 0)
        above = min_ll(min_ll(above, expected_unused(g) - kept_usable(g, cfg, NO_PRESSURE)),
                       resident_unused(g));
    return max_ll(0, above);
}

/* What a guest gives back to the host at once, return_step_kib at most. On
 * a roomy host only what it has held above the waste threshold for
 * return_after looks: a passing peak is left alone. Under pressure, its
 * spare at that pressure. */
static long long due_back(const struct guest *g, const struct config *cfg, struct pressure pressure)
{
    if (pressure.room == 0 && g->cycles_wasteful < cfg->return_after)
        return 0;
    return min_ll(spare(g, cfg, pressure), cfg->return_step_kib);
}

/* A guest that can give, and how much; the later ones are asked last. */
struct donor {
    size_t guest;
    long long kib;
    bool later;
    unsigned shares;
    long long resident_kib; /* what its giving frees on the host */
};

static struct donor donor_of(const struct snapshot *snap, size_t guest, long long kib, bool later)
{
    const struct guest *g = &snap->guests[guest];

    return (struct donor){guest, kib, later, g->shares, min_ll(kib, g->resident_usable_kib)};
}

/* Fewer shares give first (VMware ESX reclaims by shares the same way); then
 * the most memory QEMU holds for it, which frees the host as it goes, where
 * memory the guest never touched frees nothing; then the richest. */
static int giver_first(const void *a, const void *b)
{
    const struct donor *da = a, *db = b;

    if (da->later != db->later)
        return da->later ? 1 : -1;
    if (da->shares != db->shares)
        return da->shares < db->shares ? -1 : 1;
    if (da->resident_kib != db->resident_kib)
        return da->resident_kib > db->resident_kib ? -1 : 1;
    if (da->kib != db->kib)
        return da->kib > db->kib ? -1 : 1;
    return (da->guest > db->guest) - (da->guest < db->guest);
}

/* What a donor gives a needy guest: to one with fewer shares, only what lies
 * above its line on a roomy host, so that no claim of a guest of lesser
 * priority takes memory a guest of more would keep under pressure. */
static long long spare_for(const struct snapshot *snap, const struct config *cfg,
                           const struct donor *donor, const struct guest *receiver)
{
    if (donor->shares <= receiver->shares)
        return donor->kib;
    return min_ll(donor->kib, spare(&snap->guests[donor->guest], cfg, NO_PRESSURE));
}

/* What of room_kib the host may give a guest: a guest with fewer shares than
 * another may not take the host's last comfort, so that its claims never put
 * the host under the pressure that takes memory back from guests of more
 * shares. */
static long long room_for(long long room_kib, const struct config *cfg, const struct guest *g,
                          unsigned top_shares)
{
    return g->shares < top_shares ? max_ll(0, room_kib - cfg->host_comfort_kib) : room_kib;
}

/* What the host may give a needy guest short_of_need below its bare need
 * (the starvation line and its growth over its horizon): its room, or that
 * need from its free memory itself where the guests' untouched memory
 * leaves no room, while the host keeps its comfort. A guest that runs out
 * now is sure harm, the others touching all they hold at once only a
 * possible one, which take_back meets by taking their memory back; nearer
 * the reserve, what guests and their QEMUs touch next would take the host
 * below it. Shares do not bar a bare need: they say who gives back first
 * when a guest of more shares needs the memory, not who starves while it
 * stands free. */
static long long host_gives(const struct plan *plan, const struct snapshot *snap,
                            const struct config *cfg, const struct guest *g,
                            long long short_of_need, unsigned top_shares)
{
    long long room_kib = room_for(host_room(plan, snap, cfg), cfg, g, top_shares);

    return max_ll(room_kib, min_ll(short_of_need, host_free_beyond_comfort(plan, snap, cfg)));
}

/* Where a look's needy guests are fed from. */
struct supply {
    const struct donor *donors; /* giver_first order */
    size_t count;
    size_t next;         /* donors before it have given */
    unsigned top_shares; /* the most shares of any guest measured */
};

/* Feed one needy guest up to its target: from the next donor in line if
 * that lifts it to its need at least (it is fed again at the next look if
 * it must be), else from the host, else from whichever of the two has more.
 * Each donor gives once, so they are taken down the list. A donor with
 * memory due back (later) gives it to the host, and the host feeds instead
 * while it can: as a donor it gave a grower a few dozen MiB a look and held
 * the rest. A move the host cannot carry for a moment (host_carries) becomes
 * the donor's memory back to the host, and the guest is fed from there once
 * it has come. */
static void feed(const struct snapshot *snap, const struct config *cfg, struct plan *plan,
                 size_t needy_guest, struct supply *supply)
{
    const struct guest *g = &snap->guests[needy_guest];
    long long short_of_need = needed_usable(g, cfg) - expected_usable(g);
    long long want = target_usable(g, cfg) - expected_usable(g);
    long long host_kib = host_gives(plan, snap, cfg, g, short_of_need, supply->top_shares);
    const struct donor *donor = NULL;
    long long donor_kib = 0;

    while (supply->next < supply->count && plan_find(plan, supply->donors[supply->next].guest))
        supply->next++;
    /* A donor that can give this guest too little (one of more shares, whose
     * spare above its roomy line is small) does not block the next. */
    for (size_t i = supply->next; !donor && i < supply->count; i++)
        if (!plan_find(plan, supply->donors[i].guest) &&
            spare_for(snap, cfg, &supply->donors[i], g) >= cfg->min_step_kib)
            donor = &supply->donors[i];
    if (donor && donor->later && host_kib >= want)
        donor = NULL;
    if (donor)
        donor_kib = spare_for(snap, cfg, donor, g);
    if (donor && (donor_kib >= short_of_need || donor_kib > host_kib)) {
        if (plan_move(plan, snap, cfg, donor->guest, needy_guest, min_ll(want, donor_kib),
                      host_carries(plan, snap, cfg)) ||
            (host_room(plan, snap, cfg) < cfg->min_step_kib &&
             host_pressure(plan, snap, cfg).room > 0 &&
             plan_shrink_to_host(plan, snap, cfg, donor->guest, min_ll(want, donor_kib))))
            return;
    }
    plan_grow_from_host(plan, snap, cfg, needy_guest, min_ll(want, host_kib));
}

/* A needy guest left out under contention is still fed its bare need from
 * the host's free memory beyond its comfort that the room does not hold:
 * claims count on the room, which owes every guest's untouched memory, so
 * with gigabytes of that owed a claim fails to fit beside gigabytes free.
 * Skipped outright, 1667 needy guests on 10,000 simulated hosts went unfed
 * beside it (923 of them beside a gigabyte or more). */
static void feed_bare_need(const struct snapshot *snap, const struct config *cfg, struct plan *plan,
                           size_t needy_guest)
{
    const struct guest *g = &snap->guests[needy_guest];
    long long short_of_need = needed_usable(g, cfg) - expected_usable(g);
    long long unclaimed_kib =
        host_free_beyond_comfort(plan, snap, cfg) - host_room(plan, snap, cfg);

    plan_grow_from_host(plan, snap, cfg, needy_guest, min_ll(short_of_need, unclaimed_kib));
}

/* What a needy guest will want over the claim horizon, beyond what it has,
 * up to its max: a guest claiming a growth it cannot be given claims no more
 * than its room. */
static long long claim(const struct guest *g, const struct config *cfg)
{
    long long ahead = cfg->starve_kib + max_ll(0, g->use_rate_kib_s) * cfg->claim_s;

    return clamp_ll(ahead - expected_usable(g), 0, g->max_kib - g->target_kib);
}

/* A grower fed within its claim's horizon that still grows, though not
 * needy at this look (fed enough for a few seconds): under contention it
 * stays chosen, and its claim stands, until it stops growing. Served in
 * turn look by look, two growers on a host with room for one took turns
 * whenever the one being fed sat out a few looks, and both were OOM-killed
 * half-way (e2e s15). */
static bool chosen(const struct guest *g, const struct config *cfg)
{
    return guest_measured(g) && growing(g, cfg) &&
           fed_ago(g, cfg) < (unsigned long)max_ll(1, cfg->claim_s / cfg->look_s);
}

/* What is left of a needy guest's need once the plan has fed it. */
static long long unmet_need(const struct guest *g, const struct config *cfg,
                            const struct plan *plan, size_t guest)
{
    const struct resize *r = plan_find(plan, guest);

    return max_ll(0, needed_usable(g, cfg) - expected_usable(g) - (r ? r->delta_kib : 0));
}

/* What givers give above a level: each what it has beyond it. */
static long long above_level(const struct donor *givers, size_t count, long long level_kib)
{
    long long sum_kib = 0;

    for (size_t i = 0; i < count; i++)
        sum_kib += max_ll(0, givers[i].kib - level_kib);
    return sum_kib;
}

/* The highest level at which givers together give wanted_kib, the richest
 * first; 0 when all they have is not enough. */
static long long level_for(const struct donor *givers, size_t count, long long wanted_kib)
{
    long long low = 0, high = 0;

    for (size_t i = 0; i < count; i++)
        high = max_ll(high, givers[i].kib);
    while (low < high) {
        long long mid = low + (high - low + 1) / 2;

        if (above_level(givers, count, mid) >= wanted_kib)
            low = mid;
        else
            high = mid - 1;
    }
    return low;
}

/* Past the last giver sorted beside first that is of its kind: growing or
 * not, and of its shares. */
static size_t end_of_kind(const struct donor *givers, size_t count, size_t first)
{
    size_t end = first + 1;

    while (end < count && givers[end].later == givers[first].later &&
           givers[end].shares == givers[first].shares)
        end++;
    return end;
}

/* A guest whose page cache grows and whose use does not: a reader. */
static bool filling_cache(const struct guest *g, const struct config *cfg)
{
    return g->cache_rate_kib_s >= cfg->growing_kib_s && !growing(g, cfg);
}

/* Memory goes back to the host by the host's need. Under pressure, at every
 * look, a guest filling its page cache gives first, all it has above its
 * line: its cache costs the host and it drops it without harm, and its
 * untouched memory is what the cache fills next (on 3,000 simulated hosts
 * 787 of 933 host OOM kills struck while a reader filled its cache). Then
 * idle guests (VMware ESX taxes idle memory the same way), then
 * those of fewer shares (giver_first), until the host has its comfort
 * again, counting what is already on its way back. Guests of one kind give
 * the richest first, down to a level all keep above their lines: taken down
 * to its line one after another, a guest that burst next was left its bare
 * need while others kept gigabytes. Once a PERIOD, every guest gives what
 * it has held above its waste threshold, whatever the host's room. givers:
 * scratch room for every guest. */
static void take_back(const struct snapshot *snap, const struct config *cfg, struct plan *plan,
                      struct donor *givers)
{
    struct pressure pressure = host_pressure(plan, snap, cfg);
    long long wanted =
        cfg->host_comfort_kib - host_room(plan, snap, cfg) - snap->host_returning_kib;
    size_t count = 0;

    for (size_t i = 0; pressure.room > 0 && i < snap->count; i++)
        if (filling_cache(&snap->guests[i], cfg) &&
            plan_shrink_to_host(
                plan, snap, cfg, i,
                min_ll(spare(&snap->guests[i], cfg, pressure), cfg->return_step_kib)))
            wanted += plan->resizes[plan->count - 1].delta_kib;
    for (size_t i = 0; pressure.room > 0 && i < snap->count; i++) {
        long long kib = whole_mib(spare(&snap->guests[i], cfg, pressure));

        if (worth_a_resize(kib, cfg) && !plan_find(plan, i))
            givers[count++] = donor_of(snap, i, kib, growing(&snap->guests[i], cfg));
    }
    qsort(givers, count, sizeof(*givers), giver_first);
    for (size_t kind = 0, next; kind < count && wanted > 0; kind = next) {
        long long level_kib;

        next = end_of_kind(givers, count, kind);
        level_kib = level_for(givers + kind, next - kind, wanted);
        for (size_t i = kind; i < next && wanted > 0; i++)
            if (plan_shrink_to_host(plan, snap, cfg, givers[i].guest,
                                    min_ll(givers[i].kib - level_kib, cfg->return_step_kib)))
                wanted += plan->resizes[plan->count - 1].delta_kib;
    }
    for (size_t i = 0; snap->period_due && i < snap->count; i++)
        plan_shrink_to_host(plan, snap, cfg, i, due_back(&snap->guests[i], cfg, NO_PRESSURE));
}

/* On a host with room, a guest below the line it keeps free there
 * (kept_usable) grows back up to it from the host, while the host keeps its
 * comfort after the growth, where take_back leaves it alone: headroom taken
 * under pressure, or never given to a guest that booted low, is what its
 * next burst runs on before any look sees it, and a deflated balloon costs
 * the host nothing until touched. Memory QEMU does not hold counts as free
 * whatever the guest reports. A guest short by less than half the band
 * between the thresholds waits: smaller restores followed every wobble of
 * its rate (6% more resizes on 10,000 simulated hosts, no guest more kept). */
static void restore_headroom(const struct snapshot *snap, const struct config *cfg,
                             struct plan *plan)
{
    for (size_t i = 0; i < snap->count; i++) {
        const struct guest *g = &snap->guests[i];
        long long short_kib =
            kept_usable(g, cfg, NO_PRESSURE) - max_ll(expected_usable(g), unheld_then(g));

        if (guest_measured(g) && !needy(g, cfg) && short_kib >= band_kib(cfg) / 2 &&
            host_room(plan, snap, cfg) - short_kib >= cfg->host_comfort_kib)
            plan_grow_from_host(plan, snap, cfg, i, short_kib);
    }
}

/*
 * Serves every needy guest at every look and sizes what it gets by how fast
 * its use grows: a guest that waits until it is starved is too late for a
 * fast grower, whose statistics arrive once a second and whose balloon takes
 * another to move. Guests with more shares are served first, then the guest
 * fed last, then the one that runs out soonest. When all the host could
 * muster (its room, shrinks on their way back, what every other guest could
 * give under full pressure) cannot cover every grower's claim, a grower
 * whose claim does not fit beside those served before it is left short, so
 * that the others are fed whole, but for its bare need from free memory no
 * claim counts on. Donors give what lies above what they keep at the host's
 * pressure; what goes back to the host follows the host's need (take_back),
 * and comes back once the host has room again (restore_headroom).
 * Sorting keeps a look O(n log n) in the guests.
 */
static void plan_adaptive(const struct snapshot *snap, const struct config *cfg, struct plan *plan)
{
    struct pressure pressure = host_pressure(plan, snap, cfg);
    size_t *by_turn = calloc(snap->count + 1, sizeof(*by_turn));
    struct donor *donors = calloc(snap->count + 1, sizeof(*donors));
    size_t needy_count = 0, donor_count = 0;
    long long claimed_kib = 0;
    struct supply supply = {.donors = donors};

    if (!by_turn || !donors)
        goto cleanup; /* no plan is always a safe plan */
    plan->available_kib = host_room(plan, snap, cfg) + snap->host_returning_kib;
    for (size_t i = 0; i < snap->count; i++) {
        const struct guest *g = &snap->guests[i];
        long long spare_kib = spare(g, cfg, pressure);

        if (guest_measured(g) && g->shares > supply.top_shares)
            supply.top_shares = g->shares;
        if (needy(g, cfg)) {
            by_turn[needy_count++] = i;
            continue;
        }
        if (chosen(g, cfg))
            claimed_kib += claim(g, cfg);
        if (worth_a_resize(whole_mib(spare_kib), cfg))
            donors[donor_count++] = donor_of(
                snap, i, spare_kib, worth_a_resize(whole_mib(due_back(g, cfg, pressure)), cfg));
        plan->available_kib += spare(g, cfg, FULL_PRESSURE);
    }
    sort_by_turn(snap, cfg, by_turn, needy_count);
    qsort(donors, donor_count, sizeof(*donors), giver_first);
    supply.count = donor_count;
    for (size_t i = 0; i < needy_count; i++) {
        long long claim_kib = claim(&snap->guests[by_turn[i]], cfg);

        /* A guest whose claim does not fit beside those served before it,
         * and those chosen before, is left short: feeding it a slice of the
         * room would keep neither alive. Its claim is not counted, so a
         * later guest that needs little is fed. */
        if ((i > 0 || claimed_kib > 0) && claimed_kib + claim_kib > plan->available_kib) {
            feed_bare_need(snap, cfg, plan, by_turn[i]);
            continue;
        }
        claimed_kib += claim_kib;
        if (!plan_find(plan, by_turn[i]))
            feed(snap, cfg, plan, by_turn[i], &supply);
    }
    for (size_t i = 0; plan->unmet_kib && i < needy_count; i++)
        plan->unmet_kib[by_turn[i]] = unmet_need(&snap->guests[by_turn[i]], cfg, plan, by_turn[i]);
    take_back(snap, cfg, plan, donors);
    restore_headroom(snap, cfg, plan);
cleanup:
    free(donors);
    free(by_turn);
}

/* Policy: the policies and their config */

static const struct policy policies[] = {
    {"seed", "feed the most starved guest, trim the most wasteful (the original)", plan_seed,
     expected_unused, true},
    {"adaptive", "feed every needy guest ahead of its rate of use, give back slowly", plan_adaptive,
     expected_usable, false},
};

static const struct policy *find_policy(const char *name)
{
    for (size_t i = 0; i < sizeof(policies) / sizeof(policies[0]); i++)
        if (strcmp(policies[i].name, name) == 0)
            return &policies[i];
    return NULL;
}

/* The tunables at the top of this file, before any flag. */
static struct config default_config(void)
{
    return (struct config){
        .policy = find_policy(DEFAULT_POLICY),
        .starve_kib = STARVATION_THRESHOLD * 1024LL,
        .waste_kib = WASTE_THRESHOLD * 1024LL,
        .min_guest_kib = MIN_GUEST_MEMORY * 1024LL,
        .host_reserve_kib = HOST_RESERVE * 1024LL,
        .host_comfort_kib = HOST_COMFORT * 1024LL,
        .min_step_kib = MIN_STEP * 1024LL,
        .hold_decisions = GROWN_HOLD_DECISIONS,
        .period_s = 1,
        .look_s = LOOK_S,
        .lag_s = BALLOON_LAG_S,
        .growing_kib_s = GROWING_RATE,
        .return_after = RETURN_AFTER_CYCLES,
        .return_step_kib = RETURN_STEP * 1024LL,
        .claim_s = CLAIM_S,
        .burst_memory_s = BURST_MEMORY_S,
    };
}

/* Balloon model: where each guest's balloon is heading, and what its
 * statistics say about the way there. No libvirt here, so that recorded
 * readings can be replayed through it (tests/test_model.c). */

static struct guest_history fresh_history(void)
{
    return (struct guest_history){
        .overhead_kib = -1, .qemu_own_kib = -1, .deflated_used_kib = -1, .rss_at_sample_kib = -1};
}

/*
 * Where the balloon stood when the guest took its statistics. Linux's
 * virtio_balloon takes ballooned pages out of the guest's total memory
 * ("available"), and unused and available come from one sample, so available
 * plus a constant overhead (what the guest's kernel keeps for itself) is the
 * balloon size at that moment. libvirt's balloon size is read at another
 * moment, up to a statistics period apart: it cannot tell how much of a move
 * the unused figure already shows. The answer is kept within the sizes the
 * balloon can have passed through, so a wrong overhead or a lying guest can
 * mislead it by no more than the move itself.
 */
static bool balloon_when_sampled(const struct guest_history *h, const struct balloon_reading *r,
                                 long long *kib)
{
    if (!r->has_available || h->overhead_kib < 0)
        return false;
    *kib = clamp_ll(r->available_kib + h->overhead_kib, h->span_low_kib, h->span_high_kib);
    return true;
}

/* The overhead is learned while the balloon stands still: on first sight, and
 * whenever the guest took its statistics after the balloon was already at its
 * size when we read it last cycle. */
static void learn_overhead(struct guest_history *h, const struct balloon_reading *r, bool at_rest)
{
    bool sampled_at_rest = at_rest && (!r->has_last_update || r->last_update > h->last_read_at);

    if (r->has_available && (!h->read_before || sampled_at_rest))
        h->overhead_kib = r->actual_kib - r->available_kib;
}

/* Balloon figures that cannot be true, or NULL. A guest's balloon driver
 * writes them, and so can anything that owns the guest. now: s since the
 * epoch, the host's clock, which also stamps last_update. */
static const char *nonsense_in(const struct balloon_reading *r, long long now)
{
    if (r->actual_kib <= 0)
        return "a balloon of 0";
    if (r->max_kib < r->actual_kib)
        return "a max below the balloon";
    /* Statistics and balloon size are read at different moments, so only the
     * max bounds them; unused and available are one sample. */
    if (r->has_available && r->available_kib > r->max_kib)
        return "a total above the max";
    if (r->has_unused && r->unused_kib > r->max_kib)
        return "more unused than the max";
    if (r->has_unused && r->has_available && r->unused_kib > r->available_kib)
        return "more unused than its total";
    if (r->has_usable && r->usable_kib > r->max_kib)
        return "more usable than the max";
    if (r->has_usable && r->has_available && r->usable_kib > r->available_kib)
        return "more usable than its total";
    if (r->has_disk_caches && r->has_available && r->disk_caches_kib > r->available_kib)
        return "more cache than its total";
    if (r->has_last_update && r->last_update > now + 60)
        return "statistics from the future";
    return NULL;
}

/* The time between a guest's last two samples of its statistics, the
 * period it sends them at; 0 while fewer are known. */
static long long statistics_interval(const struct guest_history *h)
{
    return h->use_count < 2 ? 0 : h->use[h->use_count - 1].at - h->use[h->use_count - 2].at;
}

/* Statistics a guest stopped sending (its balloon driver gone, its period set
 * to 0) stay in libvirt, ever older, and would describe a guest long changed:
 * Linux's driver sends one sample when it loads, so a guest whose period is
 * 0 shows its free memory at boot for ever. The period is not in them, but
 * the last two samples tell it, and a guest is followed at its own pace:
 * its statistics are fresh for two periods (one answer may come late or
 * not at all) of up to SLOWEST_STATS_S, and for STALE_STATS_S at least,
 * which is all one sample alone gets. */
static bool statistics_stale(const struct guest_history *h, const struct balloon_reading *r,
                             long long now)
{
    long long fresh_s = max_ll(STALE_STATS_S, 2 * min_ll(statistics_interval(h), SLOWEST_STATS_S));

    return r->has_last_update && now - r->last_update > fresh_s;
}

enum balloon_event { BALLOON_QUIET, BALLOON_ARRIVED, BALLOON_STOPPED_SHORT, BALLOON_DEFLATED };

/* The wait before a guest that failed us is asked again: UNRESPONSIVE_BACKOFF
 * cycles, doubling each time up to UNRESPONSIVE_MAX (Xen's squeezed does so). */
static unsigned long next_backoff(unsigned long backoff)
{
    return backoff ? (unsigned long)min_ll(2 * (long long)backoff, UNRESPONSIVE_MAX)
                   : UNRESPONSIVE_BACKOFF;
}

/* The balloon has gone as far as it will: take it where it is. One that
 * stopped short did not follow (a guest that could not give what was asked,
 * or a balloon driver that does not answer): it is not asked to give again
 * until a backoff, doubling, has passed, as Xen's squeezed does. */
static enum balloon_event balloon_stopped(struct guest_history *h, const struct balloon_reading *r,
                                          unsigned long cycle, struct guest *g)
{
    bool short_of_target = llabs(h->target_kib - r->actual_kib) >= ARRIVED_KIB;

    h->target_kib = 0;
    g->target_kib = r->actual_kib;
    g->coming_kib = 0;
    g->settling = false;
    if (!short_of_target) {
        h->backoff_cycles = 0;
        return BALLOON_ARRIVED;
    }
    h->backoff_cycles = next_backoff(h->backoff_cycles);
    h->unresponsive_until = cycle + h->backoff_cycles;
    g->unresponsive = true;
    return BALLOON_STOPPED_SHORT;
}

/* What a guest could use without the host: MemAvailable, which adds the
 * page cache it can drop to MemFree, or MemFree from a guest that does not
 * report it (an old kernel or balloon driver). MemAvailable also holds back
 * the kernel's watermark reserve (70 MiB below MemFree on an idle 512 MiB
 * test guest), which the starvation line already keeps a guest above:
 * never less than MemFree, so a guest without cache is measured as before. */
static long long usable_of(const struct balloon_reading *r)
{
    return r->has_usable ? max_ll(r->usable_kib, r->unused_kib) : r->unused_kib;
}

/* What a guest uses, from one sample of its statistics; -1 without one. */
static long long used_of(const struct balloon_reading *r)
{
    return r->has_unused && r->has_available ? r->available_kib - usable_of(r) : -1;
}

/* What a guest uses as far as the host can tell: no more than its QEMU holds
 * (without swap on the host, every page a guest uses is resident), so a
 * guest that claims memory it never touched as used shows no growth. */
static long long used_seen(const struct balloon_reading *r)
{
    return r->has_rss ? min_ll(used_of(r), r->rss_kib) : used_of(r);
}

/*
 * A balloon with deflate-on-OOM gives its pages back to a guest that runs
 * out, instead of letting the guest's OOM killer act: a balloon that grew
 * since the last look, where no target of ours took it, is the guest in
 * need. Its size then is its floor until its use has fallen by more than
 * band_kib, so that the memory is not taken straight back into the next
 * OOM. True when it deflated itself this cycle.
 */
static bool follow_deflation(struct guest_history *h, const struct balloon_reading *r,
                             unsigned long cycle, long long band_kib)
{
    long long used_kib = used_of(r);
    bool grew = h->read_before && r->actual_kib >= h->last_actual_kib + ARRIVED_KIB;
    bool past_ours = !h->target_kib || r->actual_kib >= h->target_kib + ARRIVED_KIB;

    if (h->balloon.deflate_on_oom && grew && past_ours) {
        h->deflated_kib = r->actual_kib;
        h->deflated_used_kib = used_kib;
        h->grown_cycle = cycle;
        h->target_kib = 0; /* ours is moot: the guest took what it needed */
        return true;
    }
    if (h->deflated_kib && h->deflated_used_kib < 0)
        h->deflated_used_kib = used_kib;
    if (h->deflated_kib && used_kib >= 0 && used_kib < h->deflated_used_kib - band_kib)
        h->deflated_kib = 0;
    return false;
}

/*
 * Whether a balloon libvirt puts at its target is there in the guest's
 * statistics too: their available places it there, or the guest took them
 * in a later second than the read that first found it at that size (within
 * that second they may precede it). Until then they show free memory from
 * before the move, which coming_kib makes up for; taken as arrived sooner,
 * a guest that sends them every few seconds would be judged by them with
 * nothing to come, and shrunk or fed twice. A look without statistics (a
 * busy QEMU) shows nothing, and statistics that stopped keep it waiting,
 * sitting out as stale. Without a time they cannot tell: the balloon
 * arrives once it has stood BALLOON_STUCK_CYCLES looks.
 */
static bool arrived_in_statistics(const struct guest_history *h, const struct balloon_reading *r,
                                  const struct guest *g)
{
    if (!g->settling && llabs(g->coming_kib) < ARRIVED_KIB)
        return true;
    if (r->has_last_update)
        return r->last_update > h->at_size_since;
    return r->has_unused && h->cycles_unmoved >= BALLOON_STUCK_CYCLES;
}

/* One cycle's reading of a guest, as the policy should see it. now: s since
 * the epoch, the clock of last_update. */
static enum balloon_event follow_balloon(struct guest_history *h, const struct balloon_reading *r,
                                         unsigned long cycle, long long now, struct guest *g)
{
    bool at_rest = h->read_before && r->actual_kib == h->last_actual_kib;
    enum balloon_event event = BALLOON_QUIET;
    long long sampled_kib;

    h->cycles_unmoved = at_rest ? h->cycles_unmoved + 1 : 0;
    if (!at_rest)
        h->at_size_since = now;
    g->actual_kib = g->target_kib = r->actual_kib;
    g->max_kib = r->max_kib;
    g->unused_kib = r->unused_kib;
    g->usable_kib = usable_of(r);
    g->has_unused = r->has_unused;
    g->deflated_kib = h->deflated_kib;
    g->coming_kib = 0;
    g->settling = false;
    g->cycles_since_growth = h->grown_cycle ? cycle - h->grown_cycle : ULONG_MAX;
    g->unresponsive = cycle < h->unresponsive_until;
    g->refused = cycle < h->refused_until;
    if (h->target_kib) {
        g->target_kib = h->target_kib;
        if (balloon_when_sampled(h, r, &sampled_kib))
            g->coming_kib = h->target_kib - sampled_kib;
        else
            g->settling = true; /* no telling how much of the move unused shows */
        if (llabs(h->target_kib - r->actual_kib) < ARRIVED_KIB
                ? arrived_in_statistics(h, r, g)
                : h->cycles_unmoved >= BALLOON_STUCK_CYCLES)
            event = balloon_stopped(h, r, cycle, g);
    }
    if (!h->target_kib)
        learn_overhead(h, r, at_rest);
    h->read_before = true;
    h->last_actual_kib = r->actual_kib;
    h->last_read_at = now;
    return event;
}

/* libvirt took a resize: the balloon heads for target_kib. A move still under
 * way widens the sizes it may pass through rather than restarting them, since
 * the statistics may not have seen that move yet either. */
static void note_resize(struct guest_history *h, const struct guest *g, long long target_kib,
                        unsigned long cycle)
{
    long long sampled_kib = g->target_kib - g->coming_kib;

    if (!h->target_kib)
        h->span_low_kib = h->span_high_kib = g->settling ? g->actual_kib : sampled_kib;
    h->span_low_kib = min_ll(h->span_low_kib, min_ll(target_kib, g->actual_kib));
    h->span_high_kib = max_ll(h->span_high_kib, max_ll(target_kib, g->actual_kib));
    h->target_kib = target_kib;
    h->cycles_unmoved = 0;
    if (target_kib > g->target_kib)
        h->grown_cycle = cycle;
}

/*
 * What QEMU holds for itself (its code, device state, TCG's translations)
 * and for the guest's kernel is in its resident set too, and no balloon
 * gives it back: counted as the guest's free memory, a guest at rest would
 * be trimmed of untouched pages at every PERIOD, each trim freeing nothing.
 * Its least is learned: QEMU's resident set less the guest's use and page
 * cache is that and the free pages the guest touched, never less than that.
 * Taken with the balloon still and the use not falling: a move or a fall
 * caught between the statistics and QEMU's figure would read too low, where
 * a growth reads high, which the least discards. Taken only with the use
 * flat, a guest first seen growing, then freeing 1.2 GiB (make bench's
 * give-and-take) had all of it learned as QEMU's own, and nothing went back
 * while that stood. */
static void learn_qemu_own(struct guest_history *h, const struct balloon_reading *r,
                           struct guest *g)
{
    long long own_kib = r->rss_kib - used_of(r) - (g->usable_kib - g->unused_kib);
    bool steady = !h->target_kib && h->cycles_unmoved > 0 && g->use_rate_kib_s > -GROWING_RATE;

    if (steady && (h->qemu_own_kib < 0 || own_kib < h->qemu_own_kib))
        h->qemu_own_kib = max_ll(0, own_kib);
    g->qemu_own_kib = max_ll(0, h->qemu_own_kib);
}

/* How fast a guest's page cache grew between its last two statistics. */
static long long cache_rate(const struct guest_history *h)
{
    int n = h->use_count;

    if (n < 2 || h->use[n - 1].at <= h->use[n - 2].at)
        return 0;
    return max_ll(0, (h->use[n - 1].cache_kib - h->use[n - 2].cache_kib) /
                         (h->use[n - 1].at - h->use[n - 2].at));
}

/*
 * The guest's statistics come on its own timer, every few seconds for some
 * guests and late while it is busy (1-3 s under TCG for a guest growing at
 * full speed); QEMU's resident set is read at every look. What QEMU newly
 * holds since the latest statistics is memory the guest touched since: its
 * free memory, and the part of it QEMU holds, are that much less than they
 * say (left in that part, it was use that looked like memory a trim frees),
 * and its use grows at least as fast as QEMU's resident set does, less its
 * page cache. Pages it touches again after freeing them are not seen, so
 * this never overstates a guest's use. No move of a balloon raises QEMU's resident set: one
 * that grows hands the guest pages QEMU holds only once the guest touches
 * them, and one that shrinks lowers it, which reads as a rate below the
 * statistics' and is not taken. Read only while no move of ours was under
 * way, a guest fed between statistics every few seconds starved on the
 * rate it grew at before: on 10,000 simulated hosts, reading it during our
 * moves kept 310 more guests, most of them fed late or bursting unseen.
 */
static void see_touches(struct guest_history *h, const struct balloon_reading *r, long long now,
                        struct guest *g)
{
    if (h->rss_at_sample_kib >= 0 && r->rss_kib > h->rss_at_sample_kib) {
        long long touched_kib = r->rss_kib - h->rss_at_sample_kib;

        g->usable_kib = max_ll(0, g->usable_kib - touched_kib);
        g->unused_kib = max_ll(0, g->unused_kib - touched_kib);
        g->resident_usable_kib = clamp_ll(g->resident_usable_kib - touched_kib, 0, g->usable_kib);
    }
    /* The page cache is not use: counted as use, a reader was fed as a
     * grower, its cache filled what it was fed, and readers took simulated
     * hosts to their OOM killer. */
    if (h->last_rss_at && now > h->last_rss_at)
        g->use_rate_kib_s =
            max_ll(g->use_rate_kib_s,
                   (r->rss_kib - h->last_rss_kib) / (now - h->last_rss_at) - g->cache_rate_kib_s);
    h->last_rss_kib = r->rss_kib;
    h->last_rss_at = now;
}

/* How fast used memory grew between two of a guest's samples. */
static long long rate_between(const struct guest_history *h, int from, int to)
{
    return (h->use[to].used_kib - h->use[from].used_kib) / (h->use[to].at - h->use[from].at);
}

/* A rise in use within a guest's horizon beyond what it keeps free at rest
 * is a burst no look can follow: by the time it is seen and fed the guest is
 * dead, and only the room it had saves it. Bursts come again (a build, a
 * batch, a storm of requests), so the guest keeps room to reach the peak of
 * its last for burst_memory_s after it. A guest touches what it bursts into,
 * so the rise is in QEMU's resident set too (used_seen): a burst claimed in
 * the statistics alone wins nothing. */
static void note_burst(struct guest_history *h, const struct config *cfg, const struct guest *g)
{
    int n = h->use_count;
    long long at = h->use[n - 1].at, used_kib = h->use[n - 1].used_kib, low_kib = used_kib;

    for (int k = n - 2; k >= 0 && at - h->use[k].at <= horizon_s(g, cfg); k--)
        low_kib = min_ll(low_kib, h->use[k].used_kib);
    if (used_kib - low_kib <= cfg->waste_kib)
        return;
    if (!h->burst_at || at - h->burst_at >= cfg->burst_memory_s)
        h->burst_peak_kib = 0;
    h->burst_peak_kib = max_ll(h->burst_peak_kib, used_kib);
    h->burst_at = at;
}

/* How fast a guest's used memory grows, from its own statistics: used is
 * available - unused, which a balloon's move leaves alone. The rate is the
 * whole window's, or the last interval's where that grows faster, so a
 * guest that starts to grow is seen at once, one that stops only after a
 * few samples, and one that freed memory for as long as the fall is in the
 * window. A growth that starts reads low in its first interval, which it
 * filled only in part; the next look, a second later, sees it whole.
 * Readings are taken as they come: under emulation a steady growth can read
 * a few MiB/s in one interval and its full rate in the next. */
static void track_use(struct guest_history *h, const struct balloon_reading *r,
                      const struct config *cfg, long long now, struct guest *g)
{
    long long at = r->has_last_update ? r->last_update : now;
    long long window, last;
    bool fresh;
    int n;

    h->cycles_wasteful =
        guest_measured(g) && expected_usable(g) > cfg->waste_kib ? h->cycles_wasteful + 1 : 0;
    g->cycles_wasteful = h->cycles_wasteful;
    g->use_rate_kib_s = 0;
    g->stats_interval_s = 0;
    g->burst_kib = 0;
    g->cache_rate_kib_s = 0;
    g->resident_usable_kib = r->has_unused ? g->usable_kib : 0;
    g->qemu_own_kib = 0;
    g->unheld_kib = r->has_rss ? max_ll(0, r->actual_kib - r->rss_kib) : 0;
    if (!r->has_unused || !r->has_available)
        return;
    fresh = h->use_count == 0 || at > h->use[h->use_count - 1].at;
    if (fresh) {
        h->rss_at_sample_kib = r->has_rss ? r->rss_kib : -1;
        if (h->use_count == USE_SAMPLES)
            memmove(h->use, h->use + 1, sizeof(h->use[0]) * --h->use_count);
        h->use[h->use_count].at = at;
        h->use[h->use_count].cache_kib = usable_of(r) - r->unused_kib;
        h->use[h->use_count++].used_kib = used_seen(r);
    }
    n = h->use_count;
    if (n >= 2) {
        g->stats_interval_s = (int)min_ll(statistics_interval(h), SLOWEST_STATS_S);
        window = rate_between(h, 0, n - 1);
        last = rate_between(h, n - 2, n - 1);
        g->use_rate_kib_s = last > 0 && last > window ? last : window;
        g->cache_rate_kib_s = cache_rate(h);
        if (fresh)
            note_burst(h, cfg, g);
    }
    if (h->burst_at && now - h->burst_at < cfg->burst_memory_s)
        g->burst_kib = max_ll(0, h->burst_peak_kib - h->use[n - 1].used_kib);
    /* QEMU's resident memory beyond what the guest uses: its page cache,
     * and pages it touched and freed, which its balloon hands back to the
     * host. Pages it never touched cost the host nothing, and taking them
     * back frees nothing. Without QEMU's figure, all of it may be resident. */
    if (r->has_rss) {
        g->resident_usable_kib = clamp_ll(r->rss_kib - used_of(r), 0, g->usable_kib);
        learn_qemu_own(h, r, g);
        see_touches(h, r, now, g);
    }
}

/* What a guest's growth under way will still draw from the host: libvirt's
 * balloon size up to its target. */
static long long growth_under_way(const struct guest *g)
{
    return max_ll(0, g->target_kib - g->actual_kib);
}

/* Free memory a guest may touch at any moment, at the host's cost. */
static long long untouched(const struct guest *g)
{
    return g->has_unused ? max_ll(0, g->usable_kib - g->resident_usable_kib) : 0;
}

/* What a guest's shrink under way will still give the host. */
static long long shrink_under_way(const struct guest *g)
{
    return max_ll(0, g->actual_kib - g->target_kib);
}

/* A guest as the policy should see it, from this cycle's reading: through
 * the balloon model and the rate of use, or sitting out while its figures
 * make no sense (*nonsense says why). Stale statistics are dropped from r,
 * which leaves the guest without any. g->name is the caller's. */
static enum balloon_event see_guest(struct guest_history *h, struct balloon_reading *r,
                                    const struct config *cfg, unsigned long cycle, long long now,
                                    struct guest *g, const char **nonsense)
{
    enum balloon_event event;
    bool deflated;

    if (statistics_stale(h, r, now))
        r->has_unused = r->has_available = r->has_usable = r->has_disk_caches = false;
    *nonsense = nonsense_in(r, now);
    if (*nonsense) {
        *g = (struct guest){.name = g->name,
                            .actual_kib = r->actual_kib,
                            .target_kib = r->actual_kib,
                            .max_kib = r->max_kib,
                            .cycles_since_growth = ULONG_MAX,
                            .settling = true};
        return BALLOON_QUIET;
    }
    deflated = follow_deflation(h, r, cycle, band_kib(cfg));
    event = follow_balloon(h, r, cycle, now, g);
    track_use(h, r, cfg, now, g);
    return deflated ? BALLOON_DEFLATED : event;
}

/* Messages */

static int verbosity = 1; /* 0: -q, 1: default, 2: -v (guest table), 3: -vv (libvirt calls) */

static bool to_syslog; /* --syslog: messages go to syslog(3), the journal under systemd */

/* One line on stderr: "mem_coordinator: KIND MESSAGE TAIL"; with --syslog,
 * at the priority given. */
static void complain(int priority, const char *kind, const char *tail, const char *fmt, va_list ap)
{
    if (to_syslog) {
        vsyslog(priority, fmt, ap);
        return;
    }
    fflush(stdout);
    fprintf(stderr, PROGRAM ": %s", kind);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "%s\n", tail);
}

static void complain_text(int priority, const char *kind, const char *text, const char *tail)
{
    if (to_syslog) {
        syslog(priority, "%s%s", text, tail);
        return;
    }
    fflush(stdout);
    fprintf(stderr, PROGRAM ": %s%s%s\n", kind, text, tail);
}

__attribute__((format(printf, 2, 3), noreturn)) static void die(int status, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    complain(LOG_ERR, "", "", fmt, ap);
    va_end(ap);
    exit(status);
}

static long long monotonic_s(void)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return now.tv_sec;
}

/* A warning as one number, its figures left out: "vm1: cannot resize to
 * 900 MiB" and "vm1: ... 700 MiB" are one warning, vm1's and vm2's two.
 * A run of digits after a letter, digit or dash is part of a name. */
static uint64_t warning_kind(const char *text)
{
    uint64_t hash = 14695981039346656037ULL; /* FNV-1a */
    char last = ' ';

    for (const char *c = text; *c; last = *c++) {
        bool in_name = (last >= 'a' && last <= 'z') || (last >= 'A' && last <= 'Z') ||
                       (last >= '0' && last <= '9') || last == '-' || last == '_';

        if (*c >= '0' && *c <= '9' && !in_name) {
            while (c[1] >= '0' && c[1] <= '9')
                c++;
            continue;
        }
        hash = (hash ^ (unsigned char)*c) * 1099511628211ULL;
    }
    return hash;
}

/* Warnings said lately, so that one a fault repeats at every look (a
 * resize refused, a file that cannot be written) fills neither the journal
 * nor the terminal: the same warning is said once each WARN_REPEAT_S, with
 * how often it was held back meanwhile. */
static struct warning_said {
    uint64_t kind;
    long long at_s;
    unsigned long held_back;
} warnings_said[WARNINGS_KEPT];

/* Whether it was said, not held back. */
__attribute__((format(printf, 1, 2))) static bool warn(const char *fmt, ...)
{
    char text[1024], tail[64] = "";
    struct warning_said *w = &warnings_said[0];
    long long now_s = monotonic_s();
    uint64_t kind;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    kind = warning_kind(text);
    for (size_t i = 0; i < WARNINGS_KEPT; i++) {
        if (warnings_said[i].kind == kind && warnings_said[i].at_s) {
            w = &warnings_said[i];
            break;
        }
        if (warnings_said[i].at_s < w->at_s)
            w = &warnings_said[i]; /* the oldest makes room */
    }
    if (w->kind == kind && w->at_s && now_s - w->at_s < WARN_REPEAT_S) {
        w->held_back++;
        return false;
    }
    if (w->kind == kind && w->held_back)
        snprintf(tail, sizeof(tail), " (%lu more like it in the last %lld s)", w->held_back,
                 now_s - w->at_s);
    *w = (struct warning_said){.kind = kind, .at_s = now_s ? now_s : 1};
    complain_text(LOG_WARNING, "warning: ", text, tail);
    return true;
}

/* A warning of a fault that has ended, forgotten: the next time the fault
 * comes it is news, not a repeat to hold back. */
static void forget_warning(const char *text)
{
    uint64_t kind = warning_kind(text);

    for (size_t i = 0; i < WARNINGS_KEPT; i++)
        if (warnings_said[i].kind == kind)
            warnings_said[i] = (struct warning_said){0};
}

static void say(int level, const char *fmt, va_list ap)
{
    if (verbosity < level)
        return;
    if (to_syslog) {
        vsyslog(level >= 3 ? LOG_DEBUG : LOG_INFO, fmt, ap);
        return;
    }
    vprintf(fmt, ap);
    putchar('\n');
}

__attribute__((format(printf, 1, 2))) static void info(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    say(1, fmt, ap);
    va_end(ap);
}

__attribute__((format(printf, 1, 2))) static void debug(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    say(3, fmt, ap);
    va_end(ap);
}

/* libvirt prints every error itself unless told otherwise; we report ours once, in context. */
static void ignore_libvirt_error(void *opaque, virErrorPtr error)
{
    (void)opaque;
    (void)error;
}

static long long mib(long long kib)
{
    return kib / 1024;
}

/* A command-line argument or a guest's setting fit to quote in a one-line
 * message: control characters escaped, and cut short past 80 bytes. */
static const char *quotable(const char *text)
{
    static char quoted[128];
    size_t at = 0;

    for (; *text && at < 80; text++) {
        unsigned char c = (unsigned char)*text;

        if (c < 0x20 || c == 0x7f)
            at += (size_t)snprintf(quoted + at, sizeof(quoted) - at, "\\x%02x", c);
        else
            quoted[at++] = (char)c;
    }
    snprintf(quoted + at, sizeof(quoted) - at, "%s", *text ? "..." : "");
    return quoted;
}

/* libvirt layer */

enum cycle_result { CYCLE_DONE, CYCLE_NO_GUESTS, CYCLE_FAILED };

/* One cycle's view of the world. It holds the libvirt records, which own the
 * domain handles and the names the snapshot points to. */
struct cycle {
    int active; /* guests that run or are paused, balanced or not: while any is, we go on */
    virDomainStatsRecordPtr *records;
    struct guest *guests;
    struct balloon_reading *readings; /* parallel to guests */
    virDomainPtr *domains;            /* parallel to guests */
    size_t *history_at;               /* parallel to guests: index into the history */
    long long *balloon_kib;           /* parallel to guests: the balloon alone */
    struct snapshot snap;
    struct plan plan;
    double pressure;        /* how short of room the host was, 0 to 1 (host_pressure) */
    double wall_us, cpu_us; /* what reading, deciding and resizing took */
};

static void free_cycle(struct cycle *cycle)
{
    free(cycle->plan.resizes);
    free(cycle->plan.slot_of);
    free(cycle->plan.unmet_kib);
    free(cycle->domains);
    free(cycle->history_at);
    free(cycle->balloon_kib);
    free(cycle->readings);
    free(cycle->guests);
    virDomainStatsRecordListFree(cycle->records);
    *cycle = (struct cycle){0};
}

static int compare_uuids(const void *a, const void *b)
{
    return memcmp(((const struct guest_history *)a)->uuid, ((const struct guest_history *)b)->uuid,
                  VIR_UUID_BUFLEN);
}

/* The history of a guest, by index: found by binary search among those known
 * before this cycle, or new at the end. A domain is read once a cycle, so
 * the new ones need no search. SIZE_MAX when the guest is gone. */
static size_t history_of(struct coordinator *co, virDomainPtr dom)
{
    struct guest_history key, *found, *grown;

    if (virDomainGetUUID(dom, key.uuid) < 0)
        return SIZE_MAX;
    found = co->history_known
                ? bsearch(&key, co->history, co->history_known, sizeof(key), compare_uuids)
                : NULL;
    if (found)
        return (size_t)(found - co->history);
    if (co->history_count == co->history_capacity) {
        co->history_capacity = co->history_capacity ? 2 * co->history_capacity : 16;
        grown = realloc(co->history, co->history_capacity * sizeof(*grown));
        if (!grown)
            die(EXIT_RUNTIME, "out of memory");
        co->history = grown;
    }
    co->history[co->history_count] = fresh_history();
    memcpy(co->history[co->history_count].uuid, key.uuid, sizeof(key.uuid));
    return co->history_count++;
}

/* Before a cycle: forget the guests last cycle did not see, and sort the rest
 * for history_of. */
static void forget_unseen_guests(struct coordinator *co)
{
    size_t kept = 0;

    for (size_t i = 0; i < co->history_count; i++) {
        if (!co->history[i].seen)
            continue;
        co->history[kept] = co->history[i];
        co->history[kept++].seen = false;
    }
    co->history_count = co->history_known = kept;
    if (kept > 1)
        qsort(co->history, kept, sizeof(*co->history), compare_uuids);
}

/* libvirt layer: statistics */

/* libvirt's figures are unsigned, and a guest may report anything. One past
 * any real memory size (or date) is taken as absent, so that sums of them
 * cannot overflow. */
static bool sane_figure(unsigned long long value, long long *figure)
{
    if (value > (unsigned long long)MAX_MIB * 1024)
        return false;
    *figure = (long long)value;
    return true;
}

static bool find_kib(virTypedParameterPtr params, int nparams, const char *field, long long *kib)
{
    unsigned long long value;

    return virTypedParamsGetULLong(params, nparams, field, &value) == 1 && sane_figure(value, kib);
}

static bool find_memory_stat(const virDomainMemoryStatStruct *stats, int count, int tag,
                             long long *value)
{
    for (int i = 0; i < count; i++)
        if (stats[i].tag == tag)
            return sane_figure(stats[i].val, value);
    return false;
}

/* Whether a record holds any balloon figure beyond the two libvirt keeps
 * itself (balloon.current and .maximum): with NOWAIT, the others come only
 * from a QEMU that was free to answer, and all of them, its resident size
 * at least, when it was. */
static bool balloon_queried(virDomainStatsRecordPtr record)
{
    for (int i = 0; i < record->nparams; i++) {
        const char *field = record->params[i].field;

        if (strncmp(field, "balloon.", 8) == 0 && strcmp(field, "balloon.current") != 0 &&
            strcmp(field, "balloon.maximum") != 0)
            return true;
    }
    return false;
}

/* From bulk stats; false where the record has no balloon size. */
static bool read_bulk_balloon(virDomainStatsRecordPtr record, struct balloon_reading *r)
{
    virTypedParameterPtr params = record->params;
    int n = record->nparams;

    r->queried = balloon_queried(record);
    r->has_unused = find_kib(params, n, "balloon.unused", &r->unused_kib);
    r->has_available = find_kib(params, n, "balloon.available", &r->available_kib);
    r->has_usable = find_kib(params, n, "balloon.usable", &r->usable_kib);
    r->has_disk_caches = find_kib(params, n, "balloon.disk_caches", &r->disk_caches_kib);
    r->has_last_update = find_kib(params, n, "balloon.last-update", &r->last_update) &&
                         r->last_update > 0; /* 0: never */
    r->has_rss = find_kib(params, n, "balloon.rss", &r->rss_kib);
    return find_kib(params, n, "balloon.current", &r->actual_kib) &&
           find_kib(params, n, "balloon.maximum", &r->max_kib);
}

/* For drivers whose bulk stats carry no balloon fields (the test driver). */
static bool read_domain_balloon(virDomainPtr dom, struct balloon_reading *r)
{
    const char *name = virDomainGetName(dom); /* before the call whose error we report */
    virDomainMemoryStatStruct stats[VIR_DOMAIN_MEMORY_STAT_NR];
    int count = virDomainMemoryStats(dom, stats, VIR_DOMAIN_MEMORY_STAT_NR, 0);
    virDomainInfo dominfo;

    if (count < 0) {
        debug("%s: no memory statistics: %s", name, virGetLastErrorMessage());
        count = 0;
    }
    r->has_unused = find_memory_stat(stats, count, VIR_DOMAIN_MEMORY_STAT_UNUSED, &r->unused_kib);
    r->has_available =
        find_memory_stat(stats, count, VIR_DOMAIN_MEMORY_STAT_AVAILABLE, &r->available_kib);
    r->has_usable = find_memory_stat(stats, count, VIR_DOMAIN_MEMORY_STAT_USABLE, &r->usable_kib);
    r->has_disk_caches =
        find_memory_stat(stats, count, VIR_DOMAIN_MEMORY_STAT_DISK_CACHES, &r->disk_caches_kib);
    r->has_last_update =
        find_memory_stat(stats, count, VIR_DOMAIN_MEMORY_STAT_LAST_UPDATE, &r->last_update) &&
        r->last_update > 0; /* 0: never */
    r->queried = true;
    if (virDomainGetInfo(dom, &dominfo) < 0)
        return false;
    if (!find_memory_stat(stats, count, VIR_DOMAIN_MEMORY_STAT_ACTUAL_BALLOON, &r->actual_kib) &&
        !sane_figure(dominfo.memory, &r->actual_kib))
        return false;
    return sane_figure(dominfo.maxMem, &r->max_kib);
}

/* libvirt layer: domain XML */

/* A whole number from low to high, and nothing else: what the command line
 * and libvirt's XML say, and what a guest's metadata may. strtoll would
 * skip leading blanks: ' 700' is a typo, not a number. */
static bool whole_number(const char *text, long long low, long long high, long long *value)
{
    char *end;

    errno = 0;
    *value = strtoll(text, &end, 10);
    return !errno && end != text && !isspace((unsigned char)*text) && *end == '\0' &&
           *value >= low && *value <= high;
}

/* A size element of libvirt's XML in KiB, by its unit attribute (libvirt
 * writes KiB in live XML, but the schema allows others); -1 when unreadable. */
static long long xml_size_kib(xmlNodePtr node)
{
    static const struct {
        const char *unit;
        long long kib, per;
    } units[] = {{"b", 1, 1024},   {"bytes", 1, 1024}, {"KiB", 1, 1},       {"k", 1, 1},
                 {"MiB", 1024, 1}, {"M", 1024, 1},     {"GiB", 1048576, 1}, {"G", 1048576, 1}};
    xmlChar *unit = xmlGetProp(node, (const xmlChar *)"unit");
    xmlChar *text = xmlNodeGetContent(node);
    long long kib = -1, value;

    if (text && whole_number((const char *)text, 0, MAX_MIB * 1024, &value))
        for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
            if (strcmp(unit ? (const char *)unit : "KiB", units[i].unit) == 0)
                kib = value * units[i].kib / units[i].per;
    xmlFree(unit);
    xmlFree(text);
    return kib;
}

/* A guest's live XML, parsed; NULL when it cannot be had. */
static xmlDocPtr read_domain_xml(virDomainPtr dom)
{
    char *xml = virDomainGetXMLDesc(dom, 0);
    xmlDocPtr doc;

    if (!xml)
        return NULL;
    doc = xmlReadMemory(xml, (int)strlen(xml), "domain.xml", NULL,
                        XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    free(xml);
    return doc;
}

/* The nodes an XPath expression finds in doc; free with xmlXPathFreeObject. */
static xmlXPathObjectPtr find_nodes(xmlDocPtr doc, const char *path)
{
    xmlXPathContextPtr context = xmlXPathNewContext(doc);
    xmlXPathObjectPtr found =
        context ? xmlXPathEvalExpression((const xmlChar *)path, context) : NULL;

    xmlXPathFreeContext(context);
    return found;
}

static int node_count(const xmlXPathObject *found)
{
    return found && found->nodesetval ? found->nodesetval->nodeNr : 0;
}

static xmlNodePtr child_named(xmlNodePtr node, const char *name)
{
    for (xmlNodePtr c = node ? node->children : NULL; c; c = c->next)
        if (c->type == XML_ELEMENT_NODE && strcmp((const char *)c->name, name) == 0)
            return c;
    return NULL;
}

/* The size element named child of node, in KiB; -1 when missing or unreadable. */
static long long child_size_kib(xmlNodePtr node, const char *child)
{
    xmlNodePtr size = child_named(node, child);

    return size ? xml_size_kib(size) : -1;
}

#define VIRTIO_MEM_PATH "/domain/devices/memory[@model='virtio-mem']"

/* Whether doc has a node at path, an attribute's path with its value. */
static bool has_node(xmlDocPtr doc, const char *path)
{
    xmlXPathObjectPtr found = find_nodes(doc, path);
    bool any = node_count(found) > 0;

    xmlXPathFreeObject(found);
    return any;
}

static struct balloon_features read_balloon_features(xmlDocPtr doc)
{
    return (struct balloon_features){
        .free_page_reporting = has_node(doc, "/domain/devices/memballoon[@freePageReporting='on']"),
        .deflate_on_oom = has_node(doc, "/domain/devices/memballoon[@autodeflate='on']"),
    };
}

/* A guest's virtio-mem devices and balloon features from its live XML;
 * false when it cannot be read or makes no sense. */
static bool read_memory_devices(virDomainPtr dom, struct virtio_mem *mem,
                                struct balloon_features *balloon)
{
    xmlDocPtr doc = read_domain_xml(dom);
    xmlXPathObjectPtr devices = doc ? find_nodes(doc, VIRTIO_MEM_PATH) : NULL;
    bool ok = devices != NULL;

    *mem = (struct virtio_mem){0};
    if (ok)
        *balloon = read_balloon_features(doc);
    for (int i = 0; ok && i < node_count(devices); i++) {
        xmlNodePtr target = child_named(devices->nodesetval->nodeTab[i], "target");
        long long size = child_size_kib(target, "size");

        ok = size > 0;
        mem->sizes_kib += size;
        if (i > 0)
            continue;
        mem->size_kib = size;
        mem->block_kib = child_size_kib(target, "block");
        mem->requested_kib = child_size_kib(target, "requested");
        ok = ok && mem->block_kib > 0 && mem->requested_kib >= 0 &&
             mem->requested_kib <= mem->size_kib;
    }
    xmlXPathFreeObject(devices);
    xmlFreeDoc(doc);
    return ok;
}

/* Ask a guest's first virtio-mem device to plug requested_kib: its live XML
 * with a new <requested>, as virsh update-memory-device does. */
static bool request_virtio_mem(virDomainPtr dom, long long requested_kib)
{
    xmlDocPtr doc = read_domain_xml(dom);
    xmlXPathObjectPtr devices = doc ? find_nodes(doc, VIRTIO_MEM_PATH) : NULL;
    xmlNodePtr device = node_count(devices) ? devices->nodesetval->nodeTab[0] : NULL;
    xmlNodePtr requested = child_named(child_named(device, "target"), "requested");
    xmlBufferPtr xml = xmlBufferCreate();
    char figure[32];
    bool ok = false;

    if (requested && xml) {
        snprintf(figure, sizeof(figure), "%lld", requested_kib);
        xmlNodeSetContent(requested, (const xmlChar *)figure);
        xmlSetProp(requested, (const xmlChar *)"unit", (const xmlChar *)"KiB");
        ok = xmlNodeDump(xml, doc, device, 0, 0) > 0 &&
             virDomainUpdateDeviceFlags(dom, (const char *)xmlBufferContent(xml),
                                        VIR_DOMAIN_AFFECT_LIVE) == 0;
    }
    xmlBufferFree(xml);
    xmlXPathFreeObject(devices);
    xmlFreeDoc(doc);
    return ok;
}

/* The balloon of a guest with virtio-mem: bulk statistics' balloon.current
 * counts plugged virtio-mem memory too, virDomainMemoryStats' actual does not. */
static bool read_balloon_alone(virDomainPtr dom, long long *actual_kib)
{
    virDomainMemoryStatStruct stats[VIR_DOMAIN_MEMORY_STAT_NR];
    int count = virDomainMemoryStats(dom, stats, VIR_DOMAIN_MEMORY_STAT_NR, 0);

    return count > 0 &&
           find_memory_stat(stats, count, VIR_DOMAIN_MEMORY_STAT_ACTUAL_BALLOON, actual_kib);
}

/*
 * A guest with virtio-mem has two mechanisms, and the policy sees one size:
 * its balloon and its plugged memory together (bulk statistics' balloon.current),
 * up to its boot memory and its first device's size. libvirt counts every
 * device in balloon.maximum, but refuses a balloon above the boot memory.
 * The devices are read from the live XML when the guest is first seen and
 * whenever its maximum changes. *balloon_kib: the balloon alone. false when
 * that cannot be told: the guest then sits out.
 */
static bool read_mechanisms(virDomainPtr dom, struct guest_history *history,
                            struct balloon_reading *r, long long *balloon_kib)
{
    *balloon_kib = r->actual_kib;
    if (history->devices_read_at_max_kib != r->max_kib) {
        if (!read_memory_devices(dom, &history->mem, &history->balloon)) {
            history->devices_read_at_max_kib = 0;
            return false;
        }
        history->devices_read_at_max_kib = r->max_kib;
        if (history->mem.size_kib)
            info("%s: its balloon holds up to %lld MiB, and virtio-mem %lld MiB more",
                 virDomainGetName(dom), mib(r->max_kib - history->mem.sizes_kib),
                 mib(history->mem.size_kib));
    }
    if (!history->mem.size_kib)
        return true;
    r->max_kib += history->mem.size_kib - history->mem.sizes_kib;
    return r->queried && read_balloon_alone(dom, balloon_kib); /* else it would wait on QEMU */
}

/*
 * Where a guest's memory goes between its mechanisms, for a total: the balloon
 * up to its ceiling first, virtio-mem beyond it (in whole blocks). So a guest
 * grows by virtio-mem only once its balloon has nothing left to give back,
 * and gives back by unplugging what lies above its boot memory: unplugged
 * blocks leave the guest and its host accounting, while ballooned boot
 * memory still counts in its maximum.
 */
static void split_memory(const struct virtio_mem *mem, long long ceiling_kib, long long total_kib,
                         long long *balloon_kib, long long *requested_kib)
{
    long long plugged = clamp_ll(total_kib - ceiling_kib, 0, mem->size_kib);

    if (mem->block_kib > 0 && plugged % mem->block_kib)
        plugged = min_ll(mem->size_kib, plugged + mem->block_kib - plugged % mem->block_kib);
    *requested_kib = plugged;
    *balloon_kib = total_kib - plugged;
}

/* A guest without an unused figure, or with only stale ones, has balloon
 * statistics off: turn them on once, as often as we look (not in a dry run,
 * which changes nothing), and if that does not help, say so once. */
static void handle_missing_stats(struct coordinator *co, virDomainPtr dom,
                                 struct guest_history *history, const struct balloon_reading *r,
                                 long long now)
{
    const char *name = virDomainGetName(dom);

    if (!history->stats_period_set && !co->opt.dry_run) {
        history->stats_period_set = true;
        if (virDomainSetMemoryStatsPeriod(dom, LOOK_S, VIR_DOMAIN_AFFECT_LIVE) < 0) {
            history->no_stats_reported = true; /* nothing else will change that */
            warn("%s: cannot turn on balloon statistics (%s); leaving it alone", name,
                 virGetLastErrorMessage());
        } else {
            info("%s: balloon statistics turned on, every %d s", name, LOOK_S);
        }
    }
    if (++history->cycles_without_stats > STATS_GRACE_CYCLES && !history->no_stats_reported) {
        history->no_stats_reported = true;
        if (r->has_last_update)
            warn("%s: its balloon statistics are %lld s old; leaving it alone", name,
                 now - r->last_update);
        else
            warn("%s: its balloon reports no unused memory; leaving it alone", name);
    }
}

/* libvirt layer: metadata (a guest's settings) */

/* Bumped when libvirt says a guest's metadata in our namespace changed (on
 * libvirt's event thread), and by the main thread to read them all again. */
static unsigned long settings_generation = 1;

static void settings_changed(virConnectPtr conn, virDomainPtr dom, int type, const char *nsuri,
                             void *opaque)
{
    (void)conn;
    (void)dom;
    (void)opaque;
    if (type == VIR_DOMAIN_METADATA_ELEMENT && nsuri && strcmp(nsuri, SETTINGS_URI) == 0)
        __atomic_add_fetch(&settings_generation, 1, __ATOMIC_RELAXED);
}

static struct guest_settings default_settings(void)
{
    return (struct guest_settings){.shares = DEFAULT_SHARES};
}

/* The first thing in a guest's metadata that makes no sense is said; any
 * such thing leaves the guest alone. */
__attribute__((format(printf, 2, 3))) static void settings_wrong(struct guest_settings *settings,
                                                                 const char *fmt, ...)
{
    va_list ap;

    settings->left_alone = true;
    if (settings->wrong[0])
        return;
    va_start(ap, fmt);
    vsnprintf(settings->wrong, sizeof(settings->wrong), fmt, ap);
    va_end(ap);
}

/* One attribute of a guest's <guest> element. A manage that is not "yes"
 * leaves the guest alone, whatever else it says: an admin who wrote
 * manage='No' meant to keep us off it. */
static void read_setting(struct guest_settings *settings, const char *name, const char *text,
                         long long max_kib)
{
    long long value;

    if (strcmp(name, "manage") == 0) {
        if (strcmp(text, "yes") != 0)
            settings->left_alone = true;
        if (strcmp(text, "yes") != 0 && strcmp(text, "no") != 0)
            settings_wrong(settings, "manage='%s' is not yes or no", quotable(text));
    } else if (strcmp(name, "shares") == 0) {
        if (whole_number(text, 1, MAX_SHARES, &value))
            settings->shares = (unsigned)value;
        else
            settings_wrong(settings, "shares='%s' is not a whole number from 1 to %d",
                           quotable(text), MAX_SHARES);
    } else if (strcmp(name, "guarantee") == 0) {
        if (!whole_number(text, 0, MAX_MIB, &value))
            settings_wrong(settings, "guarantee='%s' is not a whole number of MiB", quotable(text));
        else if (value * 1024 > max_kib)
            settings_wrong(settings, "guarantee='%s' is above its maximum of %lld MiB",
                           quotable(text), mib(max_kib));
        else
            settings->guarantee_kib = value * 1024;
    } else {
        settings_wrong(settings, "%.40s='%s' is not shares, guarantee or manage", name,
                       quotable(text));
    }
}

/*
 * A guest's settings from the element in our namespace of its metadata, as
 * virsh metadata DOMAIN --uri urn:mem-coordinator:guest:1 --key mc --set
 * '<guest shares="2000" guarantee="1024" manage="no"/>' writes it: shares
 * from 1 to MAX_SHARES, a guarantee in MiB up to the guest's max_kib, and
 * manage yes or no, as attributes. Without one, the defaults. What makes no
 * sense leaves the guest alone, said in settings->wrong, unless manage="no"
 * says so plainly. False when libvirt cannot give them: settings->wrong
 * then says why.
 */
static bool read_settings(virDomainPtr dom, long long max_kib, struct guest_settings *settings)
{
    char *xml = virDomainGetMetadata(dom, VIR_DOMAIN_METADATA_ELEMENT, SETTINGS_URI, 0);
    xmlDocPtr doc;
    xmlNodePtr guest;
    bool manage_no = false;

    *settings = default_settings();
    if (!xml) {
        /* A driver that keeps no metadata cannot say manage="no" either. */
        if (virGetLastErrorCode() == VIR_ERR_NO_DOMAIN_METADATA ||
            virGetLastErrorCode() == VIR_ERR_NO_SUPPORT)
            return true;
        snprintf(settings->wrong, sizeof(settings->wrong), "%s", virGetLastErrorMessage());
        return false;
    }
    doc = xmlReadMemory(xml, (int)strlen(xml), "metadata.xml", NULL,
                        XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    free(xml);
    guest = doc ? xmlDocGetRootElement(doc) : NULL;
    if (!guest || strcmp((const char *)guest->name, "guest") != 0)
        settings_wrong(settings, "no <guest> element");
    for (xmlAttrPtr a = guest ? guest->properties : NULL; a; a = a->next) {
        xmlChar *text = xmlNodeListGetString(doc, a->children, 1);
        const char *t = text ? (const char *)text : "";

        manage_no |= strcmp((const char *)a->name, "manage") == 0 && strcmp(t, "no") == 0;
        read_setting(settings, (const char *)a->name, t, max_kib);
        xmlFree(text);
    }
    for (xmlNodePtr child = guest ? guest->children : NULL; child; child = child->next)
        if (child->type == XML_ELEMENT_NODE)
            settings_wrong(settings, "<%s> inside <guest>, where only its attributes count",
                           quotable((const char *)child->name));
    xmlFreeDoc(doc);
    if (manage_no) /* said plainly: nothing else it says matters */
        settings->wrong[0] = '\0';
    if (settings->left_alone) {
        settings->shares = DEFAULT_SHARES;
        settings->guarantee_kib = 0;
    }
    return true;
}

/* What is said of a guest's settings as they change: once each. */
static void say_settings(const char *name, const struct guest_settings *now,
                         const struct guest_settings *before)
{
    if (before && now->left_alone == before->left_alone && strcmp(now->wrong, before->wrong) == 0)
        return;
    if (now->wrong[0])
        warn("%s: its mem_coordinator metadata makes no sense: %s; leaving it alone", name,
             now->wrong);
    else if (now->left_alone)
        info("%s: its metadata says manage=\"no\"; leaving it alone", name);
    else if (before)
        info("%s: its metadata lets it be balanced again", name);
}

/*
 * A guest's settings, read when it is first seen, whenever libvirt says
 * they changed, and at every look while libvirt cannot give them. Metadata
 * errors leave a guest alone rather than managed: settings that cannot be
 * read keep those last read, and a guest whose settings were never read is
 * left alone until they are. False: leave it alone. g takes its shares and
 * guarantee; max_kib: the most its balloon may give it.
 */
static bool use_settings(virDomainPtr dom, long long max_kib, struct guest_history *history,
                         struct guest *g)
{
    unsigned long generation = __atomic_load_n(&settings_generation, __ATOMIC_RELAXED);
    const char *name = virDomainGetName(dom);
    struct guest_settings read;

    if (history->settings_generation != generation) {
        if (!read_settings(dom, max_kib, &read)) {
            if (virGetLastErrorCode() == VIR_ERR_NO_DOMAIN) {
                debug("%s: gone while its metadata was read", name);
            } else if (!history->unreadable_reported) {
                warn("%s: cannot read its mem_coordinator metadata (%s); %s", name, read.wrong,
                     history->settings_generation ? "keeping the settings last read"
                                                  : "leaving it alone until it can");
                history->unreadable_reported = true;
            }
        } else {
            say_settings(name, &read, history->settings_generation ? &history->settings : NULL);
            if (history->unreadable_reported)
                info("%s: its mem_coordinator metadata can be read again", name);
            history->unreadable_reported = false;
            history->settings = read;
            history->settings_generation = generation;
        }
    }
    g->shares = history->settings.shares;
    g->guarantee_kib = history->settings.guarantee_kib;
    return history->settings_generation && !history->settings.left_alone;
}

/* libvirt layer: reading a cycle */

/* A guest's balloon figures this cycle: from its record, or asked one by
 * one for drivers whose bulk statistics carry none; false when it is gone. */
static bool read_balloon(const struct coordinator *co, virDomainStatsRecordPtr record,
                         struct balloon_reading *r)
{
    if (!read_bulk_balloon(record, r) && !read_domain_balloon(record->dom, r))
        return false;
    if (co->constant_stats)
        r->has_last_update = false; /* a stamp that says nothing, and would make them stale */
    return true;
}

/* Figures that make no sense are said once, and once more when they make
 * sense again; true while they make none. */
static bool note_nonsense(struct guest_history *history, const char *name, const char *nonsense)
{
    if (nonsense) {
        if (!history->nonsense_reported)
            warn("%s: its balloon figures make no sense (%s); leaving it alone while they do", name,
                 nonsense);
        history->nonsense_reported = true;
        return true;
    }
    if (history->nonsense_reported)
        info("%s: its balloon figures make sense again", name);
    history->nonsense_reported = false;
    return false;
}

/* A guest's statistics, missing or back. A busy QEMU is not a balloon
 * without statistics: nothing to turn on, and a call to do so would wait
 * on it. */
static void note_statistics(struct coordinator *co, virDomainPtr dom, struct guest_history *history,
                            const struct balloon_reading *r, long long now)
{
    if (!r->has_unused) {
        if (r->queried)
            handle_missing_stats(co, dom, history, r, now);
        else
            debug("%s: busy; no statistics this look", virDomainGetName(dom));
        return;
    }
    if (history->no_stats_reported)
        info("%s: balloon statistics now available", virDomainGetName(dom));
    history->cycles_without_stats = 0;
    history->no_stats_reported = false;
    /* Said once: an old guest kernel or balloon driver goes on without it. */
    if (!r->has_usable && !history->no_usable_reported &&
        co->cfg.policy->free_of == expected_usable) {
        history->no_usable_reported = true;
        info("%s: reports no usable memory (MemAvailable); measured by its free memory, "
             "which counts its page cache as need",
             virDomainGetName(dom));
    }
}

/* Guests that run a job (a migration, a save, a dump) are left alone until
 * it ends: a resize would change the memory the job is copying. Drivers
 * without jobs (the test driver) run none. Asked only of a guest about to
 * be resized, and then at each look until its job ends, so that a look
 * stays one bulk call. */
static bool runs_a_job(virDomainPtr dom)
{
    const char *name = virDomainGetName(dom); /* first: it resets libvirt's last error */
    virDomainJobInfo job;

    if (virDomainGetJobInfo(dom, &job) < 0) {
        debug("%s: no job information: %s", name, virGetLastErrorMessage());
        return false;
    }
    return job.type == VIR_DOMAIN_JOB_BOUNDED || job.type == VIR_DOMAIN_JOB_UNBOUNDED;
}

/* A guest known to run a job, asked again: true while it still does. */
static bool job_goes_on(virDomainPtr dom, struct guest_history *history)
{
    if (runs_a_job(dom))
        return true;
    history->in_job = false;
    info("%s: its job has ended; balancing it again", virDomainGetName(dom));
    return false;
}

/* Read one guest into g and r, its history's index into *at: its settings,
 * its balloon, its mechanisms, and the balloon model's view of them, saying
 * what changed. False when it vanished while we looked, or is to be left
 * alone. now: when the cycle read the guests, s since the epoch. */
static bool read_guest(struct coordinator *co, virDomainStatsRecordPtr record, long long now,
                       struct guest *g, struct balloon_reading *r, size_t *at,
                       long long *balloon_kib)
{
    struct guest_history *history;
    long long sent_to_kib;
    enum balloon_event event;
    const char *nonsense;

    /* Named first: any libvirt call, virDomainGetName too, frees the last
     * error's message. */
    g->name = virDomainGetName(record->dom);
    *at = history_of(co, record->dom);
    history = *at == SIZE_MAX ? NULL : &co->history[*at];
    if (!history || !read_balloon(co, record, r)) {
        debug("%s: gone while being read: %s", g->name, virGetLastErrorMessage());
        return false;
    }
    history->seen = true;
    if (history->in_job && job_goes_on(record->dom, history))
        return false;
    if (!use_settings(record->dom, r->max_kib, history, g))
        return false;
    if (!read_mechanisms(record->dom, history, r, balloon_kib)) {
        debug("%s: cannot read its virtio-mem: %s", g->name, virGetLastErrorMessage());
        return false;
    }
    sent_to_kib = history->target_kib;
    event = see_guest(history, r, &co->cfg, co->cycle, now, g, &nonsense);
    if (note_nonsense(history, g->name, nonsense))
        return true;
    if (event == BALLOON_STOPPED_SHORT)
        warn("%s: its balloon stopped at %lld MiB, short of %lld MiB; not asking it to give "
             "for %lu cycles",
             g->name, mib(r->actual_kib), mib(sent_to_kib), history->backoff_cycles);
    if (event == BALLOON_DEFLATED)
        warn("%s: ran out of memory, and its balloon deflated itself to %lld MiB "
             "(deflate-on-OOM); not shrinking it below that until its use falls",
             g->name, mib(r->actual_kib));
    note_statistics(co, record->dom, history, r, now);
    return true;
}

static int compare_record_names(const void *a, const void *b)
{
    virDomainStatsRecordPtr const *ra = a, *rb = b;

    return strcmp(virDomainGetName((*ra)->dom), virDomainGetName((*rb)->dom));
}

/* Why a cycle failed. A live connection whose calls fail (libvirtd short
 * of memory, a driver's transient error) would say so every second for as
 * long as it lasts: the first failure of a run is warned, the others only
 * with -vv, and run_cycle says when cycles work again. */
__attribute__((format(printf, 2, 3))) static void cycle_failed(const struct coordinator *co,
                                                               const char *fmt, ...)
{
    char message[1024];
    va_list ap;

    /* Written out first: any libvirt call, virConnectIsAlive too, frees the
     * last error's message that the arguments point to. */
    va_start(ap, fmt);
    vsnprintf(message, sizeof(message), fmt, ap);
    va_end(ap);
    if (co->failing)
        debug("%s", message);
    else if (!co->opt.once && virConnectIsAlive(co->conn) == 1)
        warn("%s; trying again at each look", message);
    else
        warn("%s", message); /* what follows, reconnect says */
}

/* Host free memory across all NUMA cells: free + buffers + cached. Drivers
 * without node memory statistics (the test driver) get an estimate: node
 * memory less what the running guests hold. */
static bool read_host_free(struct coordinator *co, struct snapshot *snap)
{
    virNodeMemoryStatsPtr params = NULL;
    int nparams = 0;
    bool ok = false;
    virNodeInfo node;
    long long held_kib = 0;

    if (virNodeGetMemoryStats(co->conn, VIR_NODE_MEMORY_STATS_ALL_CELLS, NULL, &nparams, 0) == 0 &&
        nparams > 0) {
        params = calloc((size_t)nparams, sizeof(*params));
        if (!params)
            die(EXIT_RUNTIME, "out of memory");
        if (virNodeGetMemoryStats(co->conn, VIR_NODE_MEMORY_STATS_ALL_CELLS, params, &nparams, 0) <
            0) {
            cycle_failed(co, "cannot read host memory statistics: %s", virGetLastErrorMessage());
            goto cleanup;
        }
        snap->host_free_kib = 0;
        for (int i = 0; i < nparams; i++)
            if (strcmp(params[i].field, VIR_NODE_MEMORY_STATS_FREE) == 0 ||
                strcmp(params[i].field, VIR_NODE_MEMORY_STATS_BUFFERS) == 0 ||
                strcmp(params[i].field, VIR_NODE_MEMORY_STATS_CACHED) == 0)
                snap->host_free_kib += (long long)params[i].value;
        ok = true;
        goto cleanup;
    }
    if (virGetLastErrorCode() != VIR_ERR_NO_SUPPORT) {
        cycle_failed(co, "cannot read host memory statistics: %s", virGetLastErrorMessage());
        goto cleanup;
    }
    if (virNodeGetInfo(co->conn, &node) < 0) {
        cycle_failed(co, "cannot read host memory size: %s", virGetLastErrorMessage());
        goto cleanup;
    }
    for (size_t i = 0; i < snap->count; i++)
        held_kib += snap->guests[i].actual_kib;
    snap->host_free_kib = max_ll(0, (long long)node.memory - held_kib);
    if (!co->host_estimate_noted) {
        co->host_estimate_noted = true;
        info("host free memory is an estimate (node memory less the guests' balloons): "
             "this driver has no host memory statistics");
    }
    ok = true;
cleanup:
    free(params);
    return ok;
}

/* Guests are listed active, not running: a paused guest is listed too, so
 * that it keeps its history (guest_runs), and its state comes along. NOWAIT:
 * a guest whose QEMU is busy (a migration, a snapshot) comes without the
 * statistics it would have to answer, rather than stalling every other
 * guest's look until it is free. */
#define GUEST_STATS  (VIR_DOMAIN_STATS_BALLOON | VIR_DOMAIN_STATS_STATE)
#define STATS_NOWAIT VIR_CONNECT_GET_ALL_DOMAINS_STATS_NOWAIT

/* The statistics of every active guest; -1, said, when they cannot be had.
 * *active: how many there are. */
static int read_all_stats(struct coordinator *co, virDomainStatsRecordPtr **records, int *active)
{
    int found = virConnectGetAllDomainStats(
        co->conn, GUEST_STATS, records, VIR_CONNECT_GET_ALL_DOMAINS_STATS_ACTIVE | STATS_NOWAIT);

    if (found < 0)
        cycle_failed(co, "cannot read the guests' statistics: %s", virGetLastErrorMessage());
    *active = found;
    return found;
}

/* The balloon statistics of the active guests whose names match the
 * pattern, and no other guest's: list them, then read only those. -1,
 * said, when they cannot be had. *active: how many there are, matching
 * or not. */
static int read_matching_stats(struct coordinator *co, virDomainStatsRecordPtr **records,
                               int *active)
{
    virDomainPtr *domains = NULL;
    int listed = virConnectListAllDomains(co->conn, &domains, VIR_CONNECT_LIST_DOMAINS_ACTIVE);
    int matching = 0, found = -1;

    if (listed < 0) {
        cycle_failed(co, "cannot list the guests: %s", virGetLastErrorMessage());
        return -1;
    }
    *active = listed;
    for (int i = 0; i < listed; i++) {
        if (fnmatch(co->opt.guest_pattern, virDomainGetName(domains[i]), 0) == 0)
            domains[matching++] = domains[i];
        else
            virDomainFree(domains[i]);
    }
    domains[matching] = NULL; /* the list is NULL-terminated, with room for it */
    found = matching ? virDomainListGetStats(domains, GUEST_STATS, records, STATS_NOWAIT) : 0;
    if (found < 0) /* said before virDomainFree resets libvirt's error */
        cycle_failed(co, "cannot read the guests' statistics: %s", virGetLastErrorMessage());
    for (int i = 0; i < matching; i++)
        virDomainFree(domains[i]);
    free(domains);
    return found;
}

/* Whether a listed guest runs. One paused (virsh suspend, a snapshot, a
 * migration's last phase) keeps its history but sits out: its balloon
 * driver cannot answer a resize, and its statistics stand still. */
static bool guest_runs(virDomainStatsRecordPtr record)
{
    int state;

    if (virTypedParamsGetInt(record->params, record->nparams, "state.state", &state) != 1 &&
        virDomainGetState(record->dom, &state, NULL, 0) < 0)
        return true; /* read_guest finds out what became of it */
    return state == VIR_DOMAIN_RUNNING;
}

/* A guest listed but left out of this cycle is not forgotten. */
static void keep_history(struct coordinator *co, virDomainPtr dom)
{
    size_t at = history_of(co, dom);

    if (at != SIZE_MAX)
        co->history[at].seen = true;
}

/* List the active guests anew and read the running ones and the host in one
 * snapshot. */
static bool read_cycle(struct coordinator *co, struct cycle *cycle)
{
    int found = co->opt.guest_pattern ? read_matching_stats(co, &cycle->records, &cycle->active)
                                      : read_all_stats(co, &cycle->records, &cycle->active);
    long long now = (long long)time(NULL);

    if (found < 0)
        return false;
    co->cycle++;
    if (!co->settings_events && co->cycle % SETTINGS_REREAD_S == 0)
        __atomic_add_fetch(&settings_generation, 1, __ATOMIC_RELAXED);
    forget_unseen_guests(co);
    if (found > 0)
        qsort(cycle->records, (size_t)found, sizeof(*cycle->records), compare_record_names);
    /* One spare slot keeps calloc from ever being asked for nothing. */
    cycle->guests = calloc((size_t)found + 1, sizeof(*cycle->guests));
    cycle->readings = calloc((size_t)found + 1, sizeof(*cycle->readings));
    cycle->domains = calloc((size_t)found + 1, sizeof(*cycle->domains));
    cycle->history_at = calloc((size_t)found + 1, sizeof(*cycle->history_at));
    cycle->balloon_kib = calloc((size_t)found + 1, sizeof(*cycle->balloon_kib));
    cycle->plan.resizes = calloc((size_t)found + 1, sizeof(*cycle->plan.resizes));
    cycle->plan.slot_of = calloc((size_t)found + 1, sizeof(*cycle->plan.slot_of));
    cycle->plan.unmet_kib = calloc((size_t)found + 1, sizeof(*cycle->plan.unmet_kib));
    if (!cycle->guests || !cycle->readings || !cycle->domains || !cycle->history_at ||
        !cycle->balloon_kib || !cycle->plan.resizes || !cycle->plan.slot_of ||
        !cycle->plan.unmet_kib)
        die(EXIT_RUNTIME, "out of memory");
    for (int i = 0; i < found; i++) {
        size_t n = cycle->snap.count;

        if (!guest_runs(cycle->records[i])) {
            debug("%s: not running; left alone, its history kept",
                  virDomainGetName(cycle->records[i]->dom));
            keep_history(co, cycle->records[i]->dom);
            continue;
        }
        if (!read_guest(co, cycle->records[i], now, &cycle->guests[n], &cycle->readings[n],
                        &cycle->history_at[n], &cycle->balloon_kib[n]))
            continue;
        cycle->domains[n] = cycle->records[i]->dom;
        cycle->snap.host_promised_kib += growth_under_way(&cycle->guests[n]);
        cycle->snap.host_returning_kib += shrink_under_way(&cycle->guests[n]);
        cycle->snap.host_untouched_kib += untouched(&cycle->guests[n]);
        cycle->snap.count++;
    }
    cycle->snap.guests = cycle->guests;
    return read_host_free(co, &cycle->snap);
}

/* The connection every cycle from now on goes through. libvirt's test
 * driver answers every guest's statistics with the same figures stamped
 * 1989: taken at their word, they would be stale. */
static void use_connection(struct coordinator *co, virConnectPtr conn)
{
    const char *type = virConnectGetType(conn);

    co->conn = conn;
    co->constant_stats = type && strcmp(type, "TEST") == 0;
    co->settings_callback =
        virConnectDomainEventRegisterAny(conn, NULL, VIR_DOMAIN_EVENT_ID_METADATA_CHANGE,
                                         VIR_DOMAIN_EVENT_CALLBACK(settings_changed), NULL, NULL);
    co->settings_events = co->settings_callback >= 0;
    if (!co->settings_events)
        debug("no metadata events (%s): settings are read again every %d s",
              virGetLastErrorMessage(), SETTINGS_REREAD_S);
    /* Changes made while we were away went unheard. */
    __atomic_add_fetch(&settings_generation, 1, __ATOMIC_RELAXED);
}

/* A callback left registered holds the connection: virConnectClose would
 * leave it open, and a reconnection leak one each time. */
static void close_connection(struct coordinator *co)
{
    if (co->settings_events &&
        virConnectDomainEventDeregisterAny(co->conn, co->settings_callback) < 0)
        debug("cannot deregister the metadata events: %s", virGetLastErrorMessage());
    co->settings_events = false;
    virConnectClose(co->conn);
    co->conn = NULL;
}

/* libvirt layer: resizing */

static bool guest_vanished(void)
{
    int code = virGetLastErrorCode();

    return code == VIR_ERR_NO_DOMAIN || code == VIR_ERR_OPERATION_INVALID;
}

static bool set_balloon(virDomainPtr dom, const char *name, long long kib)
{
    debug("virDomainSetMemoryFlags(%s, %lld KiB, LIVE)", name, kib);
    return virDomainSetMemoryFlags(dom, (unsigned long)kib, VIR_DOMAIN_AFFECT_LIVE) == 0;
}

static bool set_virtio_mem(virDomainPtr dom, const char *name, long long kib)
{
    debug("virDomainUpdateDeviceFlags(%s, virtio-mem requested %lld KiB, LIVE)", name, kib);
    return request_virtio_mem(dom, kib);
}

/* The mechanism layer: a guest's new total, by balloon or virtio-mem or both
 * (growing, the balloon goes first; giving back, virtio-mem). *reached_kib:
 * the total its mechanisms now head for, 0 when none moved. One may move
 * and the other fail: what moved counts against the host all the same. */
static bool set_total(struct guest_history *history, virDomainPtr dom, const char *name,
                      long long balloon_now_kib, long long ceiling_kib, long long total_kib,
                      long long *reached_kib)
{
    long long balloon_kib, requested_kib;
    bool growing;

    *reached_kib = 0;
    if (!history->mem.size_kib) {
        if (!set_balloon(dom, name, total_kib))
            return false;
        *reached_kib = total_kib;
        return true;
    }
    split_memory(&history->mem, ceiling_kib, total_kib, &balloon_kib, &requested_kib);
    growing = requested_kib > history->mem.requested_kib || balloon_kib > balloon_now_kib;
    if (growing && balloon_kib != balloon_now_kib) {
        if (!set_balloon(dom, name, balloon_kib))
            return false;
        *reached_kib = balloon_kib + history->mem.requested_kib;
    }
    if (requested_kib != history->mem.requested_kib) {
        if (!set_virtio_mem(dom, name, requested_kib))
            return false;
        history->mem.requested_kib = requested_kib;
        *reached_kib = (growing ? balloon_kib : balloon_now_kib) + requested_kib;
    }
    if (!growing && balloon_kib != balloon_now_kib && !set_balloon(dom, name, balloon_kib))
        return false;
    *reached_kib = total_kib;
    return true;
}

static void apply_resize(struct coordinator *co, const struct cycle *cycle, struct resize *r)
{
    struct guest_history *history = &co->history[cycle->history_at[r->guest]];
    const struct guest *g = &cycle->snap.guests[r->guest];
    long long target_kib = g->target_kib + r->delta_kib;
    long long ceiling_kib = g->max_kib - history->mem.size_kib, reached_kib;
    bool done = set_total(history, cycle->domains[r->guest], g->name, cycle->balloon_kib[r->guest],
                          ceiling_kib, target_kib, &reached_kib);

    if (reached_kib) {
        note_resize(history, g, reached_kib, co->cycle);
        if (r->delta_kib > 0)
            history->grows++;
        else
            history->shrinks++;
    }
    if (!done) {
        r->outcome = FAILED;
        if (guest_vanished()) {
            warn("%s: gone before it could be resized", g->name);
            return;
        }
        /* Asking again each cycle would fail each cycle. */
        history->refused_backoff = next_backoff(history->refused_backoff);
        history->refused_until = co->cycle + history->refused_backoff;
        warn("%s: cannot resize to %lld MiB: %s; leaving it alone for %lu cycles", g->name,
             mib(target_kib), virGetLastErrorMessage(), history->refused_backoff);
        return;
    }
    history->refused_backoff = 0;
    r->outcome = APPLIED;
}

/* Resizes of guests that run a job are skipped, and so is the other end of
 * a move with one: a donor gives only to the receiver it was planned for. */
static void skip_guests_in_jobs(struct coordinator *co, struct cycle *cycle)
{
    struct plan *plan = &cycle->plan;

    for (size_t i = 0; i < plan->count; i++) {
        struct resize *r = &plan->resizes[i];

        if (!runs_a_job(cycle->domains[r->guest]))
            continue;
        r->outcome = SKIPPED;
        co->history[cycle->history_at[r->guest]].in_job = true;
        info("%s: runs a job (a migration, a save or a dump); left alone until it ends",
             cycle->snap.guests[r->guest].name);
    }
    for (size_t i = 0; i < plan->count; i++) {
        struct resize *r = &plan->resizes[i];
        const struct resize *peer = r->peer == PEER_HOST ? NULL : plan_find(plan, r->peer);

        if (peer && peer->outcome == SKIPPED)
            r->outcome = SKIPPED;
    }
}

/* Shrinks go first, so that memory a move hands over has left the donor
 * before the receiver takes it; a receiver whose donor failed gets nothing,
 * since the host never agreed to feed it. */
static void apply_plan(struct coordinator *co, struct cycle *cycle)
{
    const struct snapshot *snap = &cycle->snap;
    struct plan *plan = &cycle->plan;

    skip_guests_in_jobs(co, cycle);
    for (size_t i = 0; i < plan->count; i++) {
        struct resize *r = &plan->resizes[i];

        if (r->delta_kib < 0 && r->outcome == PLANNED)
            apply_resize(co, cycle, r);
    }
    for (size_t i = 0; i < plan->count; i++) {
        struct resize *r = &plan->resizes[i];
        const struct resize *donor = r->peer == PEER_HOST ? NULL : plan_find(plan, r->peer);

        if (r->delta_kib < 0 || r->outcome == SKIPPED)
            continue;
        if (donor && donor->outcome != APPLIED) {
            r->outcome = SKIPPED;
            warn("%s: not grown, since %s did not give its memory", snap->guests[r->guest].name,
                 snap->guests[r->peer].name);
            continue;
        }
        apply_resize(co, cycle, r);
    }
}

/* Cycle output */

static const char *outcome_name(enum outcome outcome, bool dry_run)
{
    switch (outcome) {
    case PLANNED:
        return dry_run ? "dry-run" : "planned";
    case APPLIED:
        return "applied";
    case FAILED:
        return "failed";
    case SKIPPED:
        return "skipped";
    }
    return "?";
}

/* "+300 MiB (host)", "-256 MiB (to vm1)", "+256 MiB (from vm3)" */
static void print_change(FILE *out, const struct snapshot *snap, const struct resize *r,
                         bool dry_run)
{
    const char *peer = r->peer == PEER_HOST ? "host" : snap->guests[r->peer].name;

    fprintf(out, "%+lld MiB (%s%s)", mib(r->delta_kib),
            r->delta_kib > 0 ? (r->peer == PEER_HOST ? "" : "from ") : "to ", peer);
    if (r->outcome != APPLIED)
        fprintf(out, " [%s]", outcome_name(r->outcome, dry_run));
}

/* A figure of a guest's statistics for the guest table: "-" when it has none. */
static const char *table_figure(char *text, size_t size, bool present, long long kib)
{
    if (!present)
        return "-";
    snprintf(text, size, "%lld", mib(kib));
    return text;
}

/* What a guest's balloon does of itself: free page reporting, deflate-on-OOM. */
static const char *features_name(const struct balloon_features *f)
{
    if (f->free_page_reporting)
        return f->deflate_on_oom ? "fpr,oom" : "fpr";
    return f->deflate_on_oom ? "oom" : "-";
}

/* usable is what adaptive measures a guest by: MemFree where the guest
 * reports no MemAvailable. cache is the guest's own figure, for a look. */
static void print_guest_table(FILE *out, const struct coordinator *co, const struct cycle *cycle)
{
    const struct snapshot *snap = &cycle->snap;

    fprintf(out, "  %-20s %8s %8s %8s %8s %8s %8s %8s %8s  %s\n", "guest", "actual", "target",
            "unused", "usable", "cache", "coming", "max", "balloon", "MiB");
    for (size_t i = 0; i < snap->count; i++) {
        const struct guest *g = &snap->guests[i];
        const struct balloon_reading *reading = &cycle->readings[i];
        const struct resize *r = plan_find(&cycle->plan, i);
        char unused[24], usable[24], cache[24];

        fprintf(out, "  %-20s %8lld %8lld %8s %8s %8s %+8lld %8lld %8s", g->name,
                mib(g->actual_kib), mib(g->target_kib),
                table_figure(unused, sizeof(unused), g->has_unused, g->unused_kib),
                table_figure(usable, sizeof(usable), g->has_unused, g->usable_kib),
                table_figure(cache, sizeof(cache), g->has_unused && reading->has_disk_caches,
                             reading->disk_caches_kib),
                mib(g->coming_kib), mib(g->max_kib),
                features_name(&co->history[cycle->history_at[i]].balloon));
        if (r) {
            fputs("  ", out);
            print_change(out, snap, r, co->opt.dry_run);
        } else if (g->settling) {
            fputs("  settling", out);
        } else if (g->refused) {
            fputs("  refused", out);
        } else if (g->unresponsive) {
            fputs("  unresponsive", out);
        }
        fputc('\n', out);
    }
}

/* Which guests a look saw, as one number, whatever their order: it changes
 * when a guest comes or goes. */
static uint64_t guest_set(const struct snapshot *snap)
{
    uint64_t set = 0;

    for (size_t i = 0; i < snap->count; i++) {
        uint64_t hash = 14695981039346656037ULL; /* FNV-1a */

        for (const char *c = snap->guests[i].name; *c; c++)
            hash = (hash ^ (unsigned char)*c) * 1099511628211ULL;
        set += hash;
    }
    return set ? set : 1; /* 0 is for before the first look */
}

/* On the terminal, one line a PERIOD, and one for each look between that
 * moved something: the time, the guests, the host, and what moved; -v puts
 * the guest table above it. The journal keeps what changes: a line only
 * for a look that moves something or finds a guest come or gone. Written
 * whole, then said line by line, so that syslog gets lines too. */
static void report_cycle(const struct coordinator *co, const struct cycle *cycle,
                         bool guests_changed)
{
    const struct snapshot *snap = &cycle->snap;
    const struct plan *plan = &cycle->plan;
    char clock[16], *text = NULL, *line, *rest;
    size_t length = 0;
    time_t now = time(NULL);
    struct tm local;
    FILE *out;

    if (verbosity < 1 || !(plan->count || (to_syslog ? guests_changed : snap->period_due)) ||
        !(out = open_memstream(&text, &length)))
        return;
    if (verbosity >= 2)
        print_guest_table(out, co, cycle);
    /* syslog stamps its lines itself. */
    if (!to_syslog) {
        strftime(clock, sizeof(clock), "%H:%M:%S", localtime_r(&now, &local));
        fprintf(out, "%s  ", clock);
    }
    fprintf(out, "%zu guest%s  host %lld MiB free", snap->count, snap->count == 1 ? "" : "s",
            mib(snap->host_free_kib));
    for (size_t i = 0; i < plan->count; i++) {
        const struct resize *r = &plan->resizes[i];

        fprintf(out, "  %s ", snap->guests[r->guest].name);
        print_change(out, snap, r, co->opt.dry_run);
    }
    fputs(plan->count ? "" : "  no change", out);
    if (fclose(out) == 0)
        for (line = strtok_r(text, "\n", &rest); line; line = strtok_r(NULL, "\n", &rest))
            info("%s", line);
    free(text);
}

/* Said once as the host comes short of room and once as it has room again:
 * while it is short, memory goes back at every look. "Again" only follows
 * a warning that was not held back. */
static void report_pressure(struct coordinator *co, const struct cycle *cycle)
{
    long long room_kib = host_room(&(struct plan){0}, &cycle->snap, &co->cfg);

    if (cycle->pressure > 0 && !co->under_pressure)
        co->pressure_said =
            warn("host short of room: %lld MiB free above its reserve of %lld MiB, under its "
                 "comfort of %lld MiB; taking memory back by need",
                 mib(room_kib), mib(co->cfg.host_reserve_kib), mib(co->cfg.host_comfort_kib));
    else if (cycle->pressure == 0 && co->under_pressure && co->pressure_said)
        info("host has room again: %lld MiB free above its reserve", mib(room_kib));
    co->under_pressure = cycle->pressure > 0;
}

/* A guest the plan left short of its need is said once, with what there was
 * to give, and once more when its need is met again. */
static void report_shortfalls(struct coordinator *co, const struct cycle *cycle)
{
    for (size_t i = 0; i < cycle->snap.count; i++) {
        struct guest_history *h = &co->history[cycle->history_at[i]];
        long long unmet_kib = cycle->plan.unmet_kib[i];

        if (unmet_kib >= co->cfg.min_step_kib && !h->short_reported)
            h->short_said =
                warn("%s: left %lld MiB short of its need; the host and the other guests could "
                     "give %lld MiB in all this look",
                     cycle->snap.guests[i].name, mib(unmet_kib), mib(cycle->plan.available_kib));
        else if (unmet_kib == 0 && h->short_reported && h->short_said)
            info("%s: its need is met again", cycle->snap.guests[i].name);
        h->short_reported = unmet_kib >= co->cfg.min_step_kib || (h->short_reported && unmet_kib);
    }
}

/* Guests that run though none is balanced (paused, left alone by their
 * metadata, or not matching --guests) keep the program running: said once,
 * since it then changes nothing. */
static void report_none_balanced(struct coordinator *co, const struct cycle *cycle)
{
    bool none = cycle->active > 0 && cycle->snap.count == 0;

    if (none && !co->none_balanced)
        info("%d guest%s run, none of them balanced (paused, running a job, left alone by "
             "their metadata, or not matching --guests); waiting",
             cycle->active, cycle->active == 1 ? "" : "s");
    co->none_balanced = none;
}

/* A stream on a file opened for writing with flags, or NULL. Files we
 * write are never written through a symlink planted in their place (root
 * writes them), and are not made writable by others. */
static FILE *open_stream(const char *path, int flags, const char *mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC | flags, 0644);
    FILE *out;

    if (fd < 0)
        return NULL;
    out = fdopen(fd, mode);
    if (!out)
        close(fd);
    return out;
}

/* The trace is appended to. */
static FILE *open_output(const char *path)
{
    return open_stream(path, O_APPEND, "a");
}

static void json_string(FILE *out, const char *s)
{
    fputc('"', out);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;

        if (c == '"' || c == '\\')
            fprintf(out, "\\%c", c);
        else if (c < 0x20)
            fprintf(out, "\\u%04x", c);
        else
            fputc(c, out);
    }
    fputc('"', out);
}

static double seconds_between(const struct timespec *from, const struct timespec *to)
{
    return (double)(to->tv_sec - from->tv_sec) + (double)(to->tv_nsec - from->tv_nsec) / 1e9;
}

/* One JSON object a line per cycle, for tests and plots. Thresholds ride in
 * every line: a policy may move them from one cycle to the next. */
static void json_figure(FILE *out, const char *key, bool present, long long value)
{
    if (present)
        fprintf(out, ",\"%s\":%lld", key, value);
    else
        fprintf(out, ",\"%s\":null", key);
}

/* Each guest's raw reading rides along, so that a trace can be replayed
 * through the balloon model (tests/test_model.c). */
static void trace_cycle(const struct coordinator *co, const struct cycle *cycle)
{
    const struct snapshot *snap = &cycle->snap;
    const struct balloon_reading *readings = cycle->readings;
    const struct plan *plan = &cycle->plan;
    FILE *out = co->trace;
    struct timespec now;

    if (!out)
        return;
    clock_gettime(CLOCK_MONOTONIC, &now);
    fprintf(out,
            "{\"cycle\":%lu,\"t\":%.3f,\"time\":%lld,\"policy\":\"%s\",\"starve_kib\":%lld,"
            "\"waste_kib\":%lld,\"min_guest_kib\":%lld,\"min_step_kib\":%lld,"
            "\"host_reserve_kib\":%lld,\"host_comfort_kib\":%lld,\"host_free_kib\":%lld,"
            "\"host_promised_kib\":%lld,\"host_returning_kib\":%lld,\"host_untouched_kib\":%lld,"
            "\"period_due\":%s,"
            "\"host_pressure\":%.3f,\"available_kib\":%lld,"
            "\"wall_us\":%.0f,\"cpu_us\":%.0f,\"dry_run\":%s,\"guests\":[",
            co->cycle, seconds_between(&co->started, &now), (long long)time(NULL),
            co->cfg.policy->name, co->cfg.starve_kib, co->cfg.waste_kib, co->cfg.min_guest_kib,
            co->cfg.min_step_kib, co->cfg.host_reserve_kib, co->cfg.host_comfort_kib,
            snap->host_free_kib, snap->host_promised_kib, snap->host_returning_kib,
            snap->host_untouched_kib, snap->period_due ? "true" : "false", cycle->pressure,
            plan->available_kib, cycle->wall_us, cycle->cpu_us, co->opt.dry_run ? "true" : "false");
    for (size_t i = 0; i < snap->count; i++) {
        const struct guest *g = &snap->guests[i];
        const struct balloon_reading *reading = &readings[i];
        const struct balloon_features *balloon = &co->history[cycle->history_at[i]].balloon;
        const struct resize *r = plan_find(plan, i);

        fputs(i ? ",{\"name\":" : "{\"name\":", out);
        json_string(out, g->name);
        fprintf(out,
                ",\"actual_kib\":%lld,\"balloon_kib\":%lld,\"target_kib\":%lld,\"max_kib\":%lld",
                g->actual_kib, cycle->balloon_kib[i], g->target_kib, g->max_kib);
        json_figure(out, "unused_kib", g->has_unused, g->unused_kib);
        json_figure(out, "usable_kib", reading->has_usable, reading->usable_kib);
        json_figure(out, "disk_caches_kib", reading->has_disk_caches, reading->disk_caches_kib);
        json_figure(out, "available_kib", reading->has_available, reading->available_kib);
        json_figure(out, "last_update", reading->has_last_update, reading->last_update);
        json_figure(out, "rss_kib", reading->has_rss, reading->rss_kib);
        fprintf(out,
                ",\"resident_usable_kib\":%lld,\"shares\":%u,"
                "\"guarantee_kib\":%lld,\"deflated_kib\":%lld,\"unmet_kib\":%lld",
                g->resident_usable_kib, g->shares, g->guarantee_kib, g->deflated_kib,
                plan->unmet_kib[i]);
        fprintf(out, ",\"free_page_reporting\":%s,\"deflate_on_oom\":%s",
                balloon->free_page_reporting ? "true" : "false",
                balloon->deflate_on_oom ? "true" : "false");
        fprintf(out,
                ",\"coming_kib\":%lld,\"use_rate_kib_s\":%lld,\"burst_kib\":%lld,"
                "\"cache_rate_kib_s\":%lld,\"settling\":%s,\"unresponsive\":%s,\"refused\":%s,"
                "\"delta_kib\":%lld",
                g->coming_kib, g->use_rate_kib_s, g->burst_kib, g->cache_rate_kib_s,
                g->settling ? "true" : "false", g->unresponsive ? "true" : "false",
                g->refused ? "true" : "false", r ? r->delta_kib : 0);
        if (r) {
            fputs(",\"peer\":", out);
            json_string(out, r->peer == PEER_HOST ? "host" : snap->guests[r->peer].name);
            fprintf(out, ",\"outcome\":\"%s\"", outcome_name(r->outcome, co->opt.dry_run));
        }
        fputc('}', out);
    }
    fputs("]}\n", out);
    if (fflush(out) == EOF)
        warn("cannot write the trace: %s", strerror(errno));
}

/* A label value in the Prometheus text format: \\, \" and \n escaped. */
static void prometheus_label(FILE *out, const char *s)
{
    for (; *s; s++) {
        if (*s == '\\' || *s == '"')
            fprintf(out, "\\%c", *s);
        else if (*s == '\n')
            fputs("\\n", out);
        else
            fputc(*s, out);
    }
}

static void metric_header(FILE *out, const char *name, const char *type, const char *help)
{
    fprintf(out, "# HELP mem_coordinator_%s %s\n# TYPE mem_coordinator_%s %s\n", name, help, name,
            type);
}

static void guest_sample(FILE *out, const char *name, const char *guest, const char *direction,
                         long long value)
{
    fprintf(out, "mem_coordinator_%s{guest=\"", name);
    prometheus_label(out, guest);
    if (direction)
        fprintf(out, "\",direction=\"%s", direction);
    fprintf(out, "\"} %lld\n", value);
}

/* A file of our own, new: O_EXCL fails on anything planted at its path
 * since it was unlinked (a hard link O_NOFOLLOW would follow, or a file
 * another user keeps open), which is then never written through. */
static FILE *create_new(const char *path)
{
    return open_stream(path, O_EXCL, "w");
}

/* Why no metrics file may stand at path, or NULL. It is replaced whole by
 * a rename, so only a regular file may be there, or none: as root,
 * --metrics /dev/null would otherwise make the device a file. */
static const char *not_replaceable(const char *path)
{
    struct stat st;

    if (lstat(path, &st) < 0)
        return errno == ENOENT ? NULL : strerror(errno);
    return S_ISREG(st.st_mode) ? NULL : "not a regular file, which the metrics would replace";
}

/* FILE.tmp, new, for the metrics of FILE; NULL, and why in *why, when it
 * cannot be had. */
static FILE *create_temporary(const char *path, char *temporary, size_t size, const char **why)
{
    FILE *out = NULL;

    if (snprintf(temporary, size, "%s.tmp", path) >= (int)size)
        *why = strerror(ENAMETOOLONG);
    else if (!(*why = not_replaceable(temporary)) &&
             ((unlink(temporary) < 0 && errno != ENOENT) || !(out = create_new(temporary))))
        *why = strerror(errno);
    return out;
}

/* Why the metrics cannot be written to path, or NULL: asked at start, so
 * that a bad path is one line and exit status 2, as a bad --trace is. Its
 * folder is tried with a file of another name than FILE.tmp, which a
 * coordinator already running may be writing. */
static const char *metrics_unwritable(const char *path)
{
    const char *why = not_replaceable(path);
    char probe[PATH_MAX];
    int fd;

    if (why)
        return why;
    if (snprintf(probe, sizeof(probe), "%s.XXXXXX", path) >= (int)sizeof(probe))
        return strerror(ENAMETOOLONG);
    fd = mkstemp(probe);
    if (fd < 0)
        return strerror(errno);
    close(fd);
    unlink(probe);
    return NULL;
}

/* A failure to write the metrics is said once, and again only after they
 * were written: at every look it would flood the log. */
__attribute__((format(printf, 2, 3))) static void metrics_failed(struct coordinator *co,
                                                                 const char *fmt, ...)
{
    char message[PATH_MAX + 128];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(message, sizeof(message), fmt, ap);
    va_end(ap);
    if (co->metrics_failing)
        debug("%s", message);
    else
        warn("%s; trying again at each look", message);
    co->metrics_failing = true;
}

/* The Prometheus text format that node_exporter's textfile collector reads,
 * rewritten whole each cycle: written to a temporary file, then renamed over
 * the last, so that a scrape never sees half of it. A temporary that cannot
 * take its place is removed. cycle is NULL after a cycle that failed. */
static void write_metrics(struct coordinator *co, const struct cycle *cycle)
{
    const struct guest *guests = cycle ? cycle->snap.guests : NULL;
    size_t count = cycle ? cycle->snap.count : 0, unresponsive = 0;
    char temporary[PATH_MAX];
    const char *why;
    FILE *out;
    int error;

    if (!co->opt.metrics_path)
        return;
    out = create_temporary(co->opt.metrics_path, temporary, sizeof(temporary), &why);
    if (!out) {
        metrics_failed(co, "cannot write the metrics to '%s': %s", temporary, why);
        return;
    }
    metric_header(out, "guest_balloon_bytes", "gauge", "Memory the guest's balloon leaves it.");
    for (size_t i = 0; i < count; i++)
        guest_sample(out, "guest_balloon_bytes", guests[i].name, NULL, guests[i].actual_kib * 1024);
    metric_header(out, "guest_target_bytes", "gauge", "Where the guest's balloon is heading.");
    for (size_t i = 0; i < count; i++)
        guest_sample(out, "guest_target_bytes", guests[i].name, NULL, guests[i].target_kib * 1024);
    metric_header(out, "guest_max_bytes", "gauge", "The most the guest's balloon may give it.");
    for (size_t i = 0; i < count; i++)
        guest_sample(out, "guest_max_bytes", guests[i].name, NULL, guests[i].max_kib * 1024);
    metric_header(out, "guest_unused_bytes", "gauge",
                  "Free memory in the guest's last balloon statistics.");
    for (size_t i = 0; i < count; i++)
        if (guests[i].has_unused)
            guest_sample(out, "guest_unused_bytes", guests[i].name, NULL,
                         guests[i].unused_kib * 1024);
    metric_header(out, "guest_usable_bytes", "gauge",
                  "Memory the guest could use without the host (MemAvailable: free and cache).");
    for (size_t i = 0; i < count; i++)
        if (cycle->readings[i].has_usable && guests[i].has_unused)
            guest_sample(out, "guest_usable_bytes", guests[i].name, NULL,
                         cycle->readings[i].usable_kib * 1024);
    metric_header(out, "guest_disk_caches_bytes", "gauge",
                  "The guest's page cache, tmpfs and dirty pages, as it reports them.");
    for (size_t i = 0; i < count; i++)
        if (cycle->readings[i].has_disk_caches && guests[i].has_unused)
            guest_sample(out, "guest_disk_caches_bytes", guests[i].name, NULL,
                         cycle->readings[i].disk_caches_kib * 1024);
    metric_header(out, "guest_starved", "gauge",
                  "1 when the guest will have less free memory than the starvation threshold, "
                  "as its policy measures it.");
    for (size_t i = 0; i < count; i++)
        if (guests[i].has_unused)
            guest_sample(out, "guest_starved", guests[i].name, NULL,
                         co->cfg.policy->free_of(&guests[i]) < co->cfg.starve_kib);
    metric_header(out, "guest_free_page_reporting", "gauge",
                  "1 when the guest's balloon hands the pages it frees back to the host.");
    for (size_t i = 0; i < count; i++)
        guest_sample(out, "guest_free_page_reporting", guests[i].name, NULL,
                     co->history[cycle->history_at[i]].balloon.free_page_reporting);
    metric_header(out, "guest_deflate_on_oom", "gauge",
                  "1 when the guest's balloon deflates itself rather than let the guest run out.");
    for (size_t i = 0; i < count; i++)
        guest_sample(out, "guest_deflate_on_oom", guests[i].name, NULL,
                     co->history[cycle->history_at[i]].balloon.deflate_on_oom);
    metric_header(out, "guest_unmet_need_bytes", "gauge",
                  "Need the guest was left short of: the host and the others had no more.");
    for (size_t i = 0; i < count; i++)
        guest_sample(out, "guest_unmet_need_bytes", guests[i].name, NULL,
                     cycle->plan.unmet_kib[i] * 1024);
    metric_header(out, "guest_shares", "gauge", "The guest's priority (its libvirt metadata).");
    for (size_t i = 0; i < count; i++)
        guest_sample(out, "guest_shares", guests[i].name, NULL, guests[i].shares);
    metric_header(out, "guest_resizes_total", "counter",
                  "Balloon resizes libvirt took for the guest, by direction.");
    for (size_t i = 0; i < count; i++) {
        const struct guest_history *h = &co->history[cycle->history_at[i]];

        guest_sample(out, "guest_resizes_total", guests[i].name, "grow", (long long)h->grows);
        guest_sample(out, "guest_resizes_total", guests[i].name, "shrink", (long long)h->shrinks);
        unresponsive += guests[i].unresponsive;
    }
    metric_header(out, "unresponsive_guests", "gauge",
                  "Guests whose balloon did not follow their last resize.");
    fprintf(out, "mem_coordinator_unresponsive_guests %zu\n", unresponsive);
    if (cycle) {
        metric_header(out, "host_free_bytes", "gauge",
                      "Host memory free, in buffers or cached, on all NUMA cells.");
        fprintf(out, "mem_coordinator_host_free_bytes %lld\n", cycle->snap.host_free_kib * 1024);
        metric_header(out, "host_pressure_ratio", "gauge",
                      "How short of room the host is: 0 with its comfort free above its "
                      "reserve, 1 at the reserve.");
        fprintf(out, "mem_coordinator_host_pressure_ratio %.3f\n", cycle->pressure);
    }
    metric_header(out, "cycles_total", "counter", "Cycles that read the guests.");
    fprintf(out, "mem_coordinator_cycles_total %lu\n", co->cycle);
    metric_header(out, "failed_cycles_total", "counter", "Cycles that could not read them.");
    fprintf(out, "mem_coordinator_failed_cycles_total %lu\n", co->failed_cycles);
    metric_header(out, "reconnects_total", "counter", "Connections to libvirt opened anew.");
    fprintf(out, "mem_coordinator_reconnects_total %lu\n", co->reconnects);
    metric_header(out, "last_cycle_timestamp_seconds", "gauge", "When the last cycle ended.");
    fprintf(out, "mem_coordinator_last_cycle_timestamp_seconds %lld\n", (long long)time(NULL));
    why = not_replaceable(co->opt.metrics_path);
    error = fclose(out) == EOF || (!why && rename(temporary, co->opt.metrics_path) < 0) ? errno : 0;
    if (why || error) {
        unlink(temporary);
        metrics_failed(co, "cannot write the metrics to '%s': %s", co->opt.metrics_path,
                       why ? why : strerror(error));
        return;
    }
    if (co->metrics_failing)
        info("the metrics are written again to '%s'", co->opt.metrics_path);
    co->metrics_failing = false;
}

/* Options */

static void print_usage(FILE *out)
{
    fprintf(out, "usage: " PROGRAM " [-1hnqvV] [-c uri] [-s MiB] [-w MiB] [--policy name]\n"
                 "                       [--host-reserve MiB] [--min-guest MiB] [--min-step MiB]\n"
                 "                       [--guests pattern] [--trace file] [--metrics file]\n"
                 "                       [--syslog] [--wait] [--lock-memory] period\n");
}

static void print_help(void)
{
    print_usage(stdout);
    printf("\nBalance memory between running libvirt guests by resizing their balloons.\n"
           "Every guest is read and the needy fed every second; PERIOD (1 to %d s)\n"
           "paces what can wait: memory back to a host with room, seed's decisions.\n\n"
           "  -c, --connect URI      libvirt connection URI (default: libvirt's default)\n"
           "  -s, --starve MiB       starved below this much free memory (default %d)\n"
           "  -w, --waste MiB        wasteful above this much free memory (default %d)\n"
           "      --policy NAME      decision policy (default %s)\n"
           "      --host-reserve MiB host free memory never given to guests (default %d)\n"
           "      --min-guest MiB    no balloon shrinks below this (default %d, at least %d)\n"
           "      --min-step MiB     smaller resizes are not made (default %d, at least 1)\n"
           "  -n, --dry-run          decide and report, resize nothing\n"
           "  -1, --once             run one look, a PERIOD's, then exit\n"
           "      --guests PATTERN   balance only guests whose names match this shell\n"
           "                         pattern; others are neither read nor resized\n"
           "      --wait             keep running while no guest runs\n"
           "      --trace FILE       append one JSON line per cycle to FILE\n"
           "      --metrics FILE     rewrite FILE each cycle in Prometheus's text format\n"
           "      --syslog           send messages to syslog (the journal), not the terminal\n"
           "      --lock-memory      keep this program's memory from being paged out\n"
           "  -q, --quiet            print warnings only\n"
           "  -v, --verbose          print a table of the guests above each line; twice\n"
           "                         (-vv): each resize call and debugging notes too\n"
           "  -h, --help             print this help\n"
           "  -V, --version          print the version\n\n"
           "policies:\n",
           MAX_PERIOD, STARVATION_THRESHOLD, WASTE_THRESHOLD, DEFAULT_POLICY, HOST_RESERVE,
           MIN_GUEST_MEMORY, MIN_GUEST_FLOOR, MIN_STEP);
    for (size_t i = 0; i < sizeof(policies) / sizeof(policies[0]); i++)
        printf("  %-22s %s\n", policies[i].name, policies[i].summary);
    printf("\nexit status: %d done, %d cannot go on, %d bad usage, %d cannot connect,\n"
           "             %d another coordinator balances the same libvirt\n",
           EXIT_OK, EXIT_RUNTIME, EXIT_USAGE, EXIT_CONNECT, EXIT_LOCKED);
}

__attribute__((format(printf, 1, 2), noreturn)) static void usage_error(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    complain(LOG_ERR, "", " (see -h)", fmt, ap);
    va_end(ap);
    exit(EXIT_USAGE);
}

/* A whole decimal number in [min, max], or a usage error naming what it was for. */
static long long parse_number(const char *text, long long min, long long max, const char *what)
{
    long long value;

    if (!whole_number(text, min, max, &value))
        usage_error("%s must be a whole number from %lld to %lld, not '%s'", what, min, max,
                    quotable(text));
    return value;
}

static long long parse_mib(const char *text, long long min, const char *what)
{
    return parse_number(text, min, MAX_MIB, what) * 1024;
}

enum long_only_option {
    OPT_POLICY = 256,
    OPT_HOST_RESERVE,
    OPT_MIN_GUEST,
    OPT_MIN_STEP,
    OPT_WAIT,
    OPT_TRACE,
    OPT_GUESTS,
    OPT_METRICS,
    OPT_SYSLOG,
    OPT_LOCK_MEMORY,
};

/* systemd passes the quotes of MEM_COORDINATOR_OPTS="--guests 'web-*'" on
 * as they stand: a pattern or path that keeps them matches nothing. Said,
 * not refused, since a name may hold a quote. */
static void warn_of_quotes(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        size_t length = strlen(argv[i]);

        if (length && (strchr("'\"", argv[i][0]) || strchr("'\"", argv[i][length - 1])))
            warn("the argument %s keeps its quotes, which match nothing: none are needed, in "
                 "the default file either",
                 quotable(argv[i]));
    }
}

static void parse_options(int argc, char **argv, struct options *opt, struct config *cfg)
{
    static const struct option long_options[] = {
        {"connect", required_argument, NULL, 'c'},
        {"starve", required_argument, NULL, 's'},
        {"waste", required_argument, NULL, 'w'},
        {"policy", required_argument, NULL, OPT_POLICY},
        {"host-reserve", required_argument, NULL, OPT_HOST_RESERVE},
        {"min-guest", required_argument, NULL, OPT_MIN_GUEST},
        {"min-step", required_argument, NULL, OPT_MIN_STEP},
        {"dry-run", no_argument, NULL, 'n'},
        {"once", no_argument, NULL, '1'},
        {"wait", no_argument, NULL, OPT_WAIT},
        {"trace", required_argument, NULL, OPT_TRACE},
        {"guests", required_argument, NULL, OPT_GUESTS},
        {"metrics", required_argument, NULL, OPT_METRICS},
        {"syslog", no_argument, NULL, OPT_SYSLOG},
        {"lock-memory", no_argument, NULL, OPT_LOCK_MEMORY},
        {"quiet", no_argument, NULL, 'q'},
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    int c;

    opterr = 0; /* our own message, in our own words */
    while ((c = getopt_long(argc, argv, ":c:s:w:n1qvhV", long_options, NULL)) != -1) {
        switch (c) {
        case 'c':
            opt->uri = optarg;
            break;
        case 's':
            cfg->starve_kib = parse_mib(optarg, 0, "--starve");
            break;
        case 'w':
            cfg->waste_kib = parse_mib(optarg, 0, "--waste");
            break;
        case OPT_POLICY:
            cfg->policy = find_policy(optarg);
            if (!cfg->policy)
                usage_error("unknown policy '%s'", quotable(optarg));
            break;
        case OPT_HOST_RESERVE:
            cfg->host_reserve_kib = parse_mib(optarg, 0, "--host-reserve");
            break;
        case OPT_MIN_GUEST:
            cfg->min_guest_kib = parse_mib(optarg, MIN_GUEST_FLOOR, "--min-guest");
            break;
        case OPT_MIN_STEP:
            cfg->min_step_kib = parse_mib(optarg, 1, "--min-step");
            break;
        case 'n':
            opt->dry_run = true;
            break;
        case '1':
            opt->once = true;
            break;
        case OPT_WAIT:
            opt->wait = true;
            break;
        case OPT_TRACE:
            opt->trace_path = optarg;
            break;
        case OPT_SYSLOG:
            opt->syslog = true;
            break;
        case OPT_LOCK_MEMORY:
            opt->lock_memory = true;
            break;
        case OPT_METRICS:
            if (!*optarg)
                usage_error("--metrics needs a file name");
            opt->metrics_path = optarg;
            break;
        case OPT_GUESTS:
            opt->guest_pattern = optarg;
            break;
        case 'q':
            verbosity = 0;
            break;
        case 'v':
            verbosity = verbosity < 1 ? 2 : verbosity + 1;
            break;
        case 'h':
            print_help();
            exit(EXIT_OK);
        case 'V':
            printf(PROGRAM " %s\n", VERSION);
            exit(EXIT_OK);
        case ':':
            usage_error("option '%s' needs a value", quotable(argv[optind - 1]));
        default:
            usage_error("unknown option '%s'", quotable(argv[optind - 1]));
        }
    }
    if (optind == argc)
        usage_error("missing PERIOD, in seconds");
    opt->period_s = (int)parse_number(argv[optind++], 1, MAX_PERIOD, "PERIOD (seconds)");
    if (optind < argc)
        usage_error("unexpected argument '%s'", quotable(argv[optind]));
    /* Given the service's options, a dry run would overwrite its metrics
     * with figures of resizes never made. */
    if (opt->dry_run && opt->metrics_path)
        usage_error("a dry run writes no metrics: drop --metrics or -n");
    if (cfg->starve_kib >= cfg->waste_kib)
        usage_error("the starvation threshold (%lld MiB) must be below the waste threshold "
                    "(%lld MiB)",
                    mib(cfg->starve_kib), mib(cfg->waste_kib));
    warn_of_quotes(argc, argv); /* after any usage error, which stays one line */
}

/* Main loop: a cycle */

/* True while a plan's resizes are made: a stop lets them finish, so that no
 * donor gives without its receiver taking (stop_if_stuck). Shared with
 * libvirt's event loop thread. */
static bool resizing;

/* One cycle, a look at every guest: read, decide, apply, report. period_due:
 * a PERIOD has passed, and what waits for one is decided too. */
static enum cycle_result run_cycle(struct coordinator *co, bool period_due)
{
    struct cycle cycle = {.snap.period_due = period_due};
    enum cycle_result result = CYCLE_FAILED;
    struct timespec wall[2], cpu[2];
    uint64_t guests_seen;

    clock_gettime(CLOCK_MONOTONIC, &wall[0]);
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cpu[0]);
    if (!read_cycle(co, &cycle))
        goto cleanup;
    cycle.pressure = host_pressure(&(struct plan){0}, &cycle.snap, &co->cfg).room;
    co->cfg.policy->plan(&cycle.snap, &co->cfg, &cycle.plan);
    if (!co->opt.dry_run) {
        __atomic_store_n(&resizing, true, __ATOMIC_SEQ_CST);
        apply_plan(co, &cycle);
        __atomic_store_n(&resizing, false, __ATOMIC_SEQ_CST);
    }
    report_pressure(co, &cycle);
    report_shortfalls(co, &cycle);
    report_none_balanced(co, &cycle);
    clock_gettime(CLOCK_MONOTONIC, &wall[1]);
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cpu[1]);
    cycle.wall_us = seconds_between(&wall[0], &wall[1]) * 1e6;
    cycle.cpu_us = seconds_between(&cpu[0], &cpu[1]) * 1e6;
    guests_seen = guest_set(&cycle.snap);
    report_cycle(co, &cycle, guests_seen != co->guests_seen);
    co->guests_seen = guests_seen;
    trace_cycle(co, &cycle);
    write_metrics(co, &cycle);
    result = cycle.active ? CYCLE_DONE : CYCLE_NO_GUESTS;
    if (co->failing)
        info("cycles work again, after %lu that failed", co->failing);
    co->failing = 0;
cleanup:
    if (result == CYCLE_FAILED) {
        co->failed_cycles++;
        co->failing++;
        write_metrics(co, NULL);
    }
    free_cycle(&cycle);
    return result;
}

/* Main loop: signals and sleep */

static volatile sig_atomic_t stop_requested, reopen_requested, cycle_requested;

static void handle_signal(int signo)
{
    if (signo == SIGHUP)
        reopen_requested = 1;
    else if (signo == SIGUSR1)
        cycle_requested = 1;
    else
        stop_requested = 1;
}

/* SIGINT and SIGTERM stop, SIGHUP reopens the trace (log rotation), SIGUSR1
 * runs a cycle at once. All stay blocked but while we sleep, so a signal can
 * never slip in between checking its flag and going to sleep. Returns the
 * mask to sleep with. */
static sigset_t install_signal_handlers(void)
{
    static const int handled[] = {SIGINT, SIGTERM, SIGHUP, SIGUSR1};
    struct sigaction action = {.sa_handler = handle_signal}; /* no SA_RESTART */
    sigset_t blocked, sleeping;

    sigemptyset(&action.sa_mask);
    sigemptyset(&blocked);
    for (size_t i = 0; i < sizeof(handled) / sizeof(handled[0]); i++) {
        sigaction(handled[i], &action, NULL);
        sigaddset(&blocked, handled[i]);
    }
    signal(SIGPIPE, SIG_IGN);
    sigprocmask(SIG_BLOCK, &blocked, &sleeping);
    for (size_t i = 0; i < sizeof(handled) / sizeof(handled[0]); i++)
        sigdelset(&sleeping, handled[i]);
    return sleeping;
}

/* Tells systemd (Type=notify) that the coordinator is ready, and with each
 * look that it is not stuck: WatchdogSec= restarts one that stops saying so
 * (a libvirt call that never returns). The protocol by hand, one datagram
 * to $NOTIFY_SOCKET ('@': abstract), rather than a libsystemd dependency
 * for one call. Without systemd, nothing. */
static void notify_systemd(const char *state)
{
    const char *path = getenv("NOTIFY_SOCKET");
    struct sockaddr_un address = {.sun_family = AF_UNIX};
    size_t length = path ? strlen(path) : 0;
    int fd;

    if (length < 2 || length >= sizeof(address.sun_path) || (path[0] != '/' && path[0] != '@'))
        return;
    memcpy(address.sun_path, path, length);
    if (path[0] == '@')
        address.sun_path[0] = '\0';
    fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&address,
                         (socklen_t)(offsetof(struct sockaddr_un, sun_path) + length)) < 0)
        debug("cannot tell systemd %s: %s", state, strerror(errno));
    if (fd >= 0)
        close(fd);
}

static bool timespec_before(const struct timespec *a, const struct timespec *b)
{
    return a->tv_sec < b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

/* The next deadline comes interval_s after the last, keeping the rhythm, or
 * now if the last cycle overran. */
static void advance_deadline(struct timespec *deadline, int interval_s)
{
    struct timespec now;

    deadline->tv_sec += interval_s;
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (timespec_before(deadline, &now))
        *deadline = now;
}

/* Sleep until the deadline on CLOCK_MONOTONIC, or a signal asks for more.
 * With no time left, still unblock the signals for a moment: cycles that
 * overrun their look run back to back, and a stop must not wait for one
 * that does not. A sleep is no hang: systemd's watchdog hears every
 * WATCHDOG_PING_S, even through a reconnection's backoff. */
static void sleep_until(const struct timespec *deadline, const sigset_t *sleeping_mask)
{
    struct timespec now, left;

    while (!stop_requested && !cycle_requested && !reopen_requested) {
        notify_systemd("WATCHDOG=1");
        clock_gettime(CLOCK_MONOTONIC, &now);
        left = (struct timespec){0};
        if (timespec_before(&now, deadline)) {
            left.tv_sec = deadline->tv_sec - now.tv_sec;
            left.tv_nsec = deadline->tv_nsec - now.tv_nsec;
            if (left.tv_nsec < 0) {
                left.tv_sec--;
                left.tv_nsec += 1000000000L;
            }
        }
        if (left.tv_sec >= WATCHDOG_PING_S)
            left = (struct timespec){.tv_sec = WATCHDOG_PING_S};
        ppoll(NULL, 0, &left, sleeping_mask);
        if (!left.tv_sec && !left.tv_nsec)
            return;
    }
}

/* Main loop: the lock */

/*
 * What names a libvirt for the lock: its URI's driver without the transport
 * (qemu+unix:// and qemu+ssh:// reach the same qemu driver), the URI's path
 * (system or session), and the host libvirt says it runs on. So
 * qemu:///system, qemu+unix:///system?socket=... and an alias of either
 * are one libvirt, and qemu+ssh:// to two names of one host too. The host's
 * name rather than its UUID: every driver answers virConnectGetHostname,
 * where the UUID (virConnectGetSysinfo) needs dmidecode and root, and a name
 * two hosts share can only refuse a second coordinator, never let two in.
 * Without it, the URI's text. Free with free().
 */
static char *libvirt_identity(virConnectPtr conn, const char *uri)
{
    char *host = virConnectGetHostname(conn);
    xmlURIPtr parsed = xmlParseURI(uri);
    char *identity = NULL;

    if (!host)
        debug("cannot tell which host %s runs on: %s; locking by its URI", uri,
              virGetLastErrorMessage());
    if (host && parsed && parsed->scheme &&
        asprintf(&identity, "%.*s%s@%s", (int)strcspn(parsed->scheme, "+"), parsed->scheme,
                 parsed->path ? parsed->path : "", host) < 0)
        identity = NULL;
    if (!identity)
        identity = strdup(uri);
    if (!identity)
        die(EXIT_RUNTIME, "out of memory");
    xmlFreeURI(parsed);
    free(host);
    return identity;
}

/* A per-user daemon's libvirt (qemu:///session) is the user's alone, and
 * so is its lock; every other libvirt may be reached by several users. */
static bool per_user_libvirt(const char *uri)
{
    xmlURIPtr parsed = xmlParseURI(uri);
    bool per_user = parsed && parsed->path && strcmp(parsed->path, "/session") == 0;

    xmlFreeURI(parsed);
    return per_user;
}

/* The per-user lock's folder, opened: the user's XDG_RUNTIME_DIR, or else
 * one under /tmp, where anyone may have planted it, or a symlink to their
 * own, to hold or swap the lock: it must be this user's own and writable by
 * nobody else. Exits otherwise. */
static int open_user_lock_dir(char *dir, size_t size)
{
    const char *runtime = getenv("XDG_RUNTIME_DIR");
    struct stat st;
    int fd;

    if (runtime && *runtime)
        snprintf(dir, size, "%s/mem_coordinator", runtime);
    else
        snprintf(dir, size, "/tmp/mem_coordinator-%u", (unsigned)geteuid());
    if (mkdir(dir, 0700) < 0 && errno != EEXIST)
        die(EXIT_RUNTIME, "cannot make the lock folder %s: %s", dir, strerror(errno));
    fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 && (errno == ELOOP || errno == ENOTDIR))
        die(EXIT_RUNTIME,
            "the lock folder %s is not this user's own: it is a symbolic link or "
            "no folder; remove it",
            dir);
    if (fd < 0 || fstat(fd, &st) < 0)
        die(EXIT_RUNTIME, "cannot open the lock folder %s: %s", dir, strerror(errno));
    if (st.st_uid != geteuid() || (st.st_mode & (S_IWGRP | S_IWOTH)))
        die(EXIT_RUNTIME,
            "the lock folder %s is not this user's own: owner %u, mode %03o; "
            "remove it",
            dir, (unsigned)st.st_uid, (unsigned)(st.st_mode & 07777));
    return fd;
}

/* LOCK_DIR, opened: one folder for every user who may reach a shared
 * libvirt, so that root, the service's dynamic user and a member of
 * LOCK_GROUP find one lock. It is root's, of LOCK_GROUP, mode 3770: others
 * can neither enter it to take or hold a lock, nor members remove one
 * another's files (sticky), and files made in it get its group (setgid).
 * systemd-tmpfiles makes it at boot, or root when it is missing; one root
 * alone may enter is safe too, only closed to the group. Exits if it is
 * missing or unsafe. */
static int open_shared_lock_dir(char *dir, size_t size)
{
    const struct group *group = getgrnam(LOCK_GROUP);
    bool made = false;
    struct stat st;
    int fd;

    snprintf(dir, size, "%s", LOCK_DIR);
    if (geteuid() == 0 && !(made = mkdir(dir, 0700) == 0) && errno != EEXIST)
        die(EXIT_RUNTIME, "cannot make the lock folder %s: %s", dir, strerror(errno));
    fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT)
        die(EXIT_RUNTIME,
            "no lock folder %s: root makes it (systemd-tmpfiles --create, or any run as "
            "root)",
            dir);
    if (fd < 0 && errno == EACCES)
        die(EXIT_RUNTIME,
            "cannot open the lock folder %s: %s; a coordinator for a libvirt several users "
            "share needs root or group %s, and the folder as systemd-tmpfiles makes it "
            "(group %s, mode 3770)",
            dir, strerror(errno), LOCK_GROUP, LOCK_GROUP);
    if (fd < 0 || fstat(fd, &st) < 0)
        die(EXIT_RUNTIME, "cannot open the lock folder %s: %s", dir, strerror(errno));
    if (st.st_uid != 0 || (st.st_mode & S_IWOTH) ||
        ((st.st_mode & S_IWGRP) && !(st.st_mode & S_ISVTX)))
        die(EXIT_RUNTIME, "the lock folder %s is not root's own: owner %u, mode %04o; remove it",
            dir, (unsigned)st.st_uid, (unsigned)(st.st_mode & 07777));
    if (made &&
        (fchown(fd, 0, group ? group->gr_gid : 0) < 0 || fchmod(fd, S_ISGID | S_ISVTX | 0770) < 0))
        die(EXIT_RUNTIME, "cannot give the lock folder %s to group %s: %s", dir, LOCK_GROUP,
            strerror(errno));
    return fd;
}

/* Two coordinators resizing the same balloons fight over them, each undoing
 * the other: one per libvirt, whoever runs it, held by an flock on a file
 * named for it (libvirt_identity), released when the process ends however
 * it ends. The file holds the holder's pid, for the message; it is readable
 * only by its folder's group, since flock needs no more than a read. Exits
 * if it is held. */
static void lock_connection(virConnectPtr conn)
{
    static const char safe[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-";
    char dir[PATH_MAX / 2], name[NAME_MAX + 1], holder[32] = "?";
    char *uri = virConnectGetURI(conn), *identity;
    size_t at = 0;
    int dir_fd, fd;
    ssize_t length;
    struct stat dir_st, st;

    if (!uri)
        debug("cannot read the connection's URI: %s", virGetLastErrorMessage());
    identity = libvirt_identity(conn, uri ? uri : "default");
    for (const char *c = identity; *c && at < sizeof(name) - 8; c++)
        name[at++] = strchr(safe, *c) ? *c : '_';
    snprintf(name + at, sizeof(name) - at, ".lock");
    dir_fd = uri && per_user_libvirt(uri) ? open_user_lock_dir(dir, sizeof(dir))
                                          : open_shared_lock_dir(dir, sizeof(dir));
    fd = openat(dir_fd, name, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0660);
    if (fd < 0)
        die(EXIT_RUNTIME, "cannot open the lock %s/%s: %s", dir, name, strerror(errno));
    /* The umask (the unit's is 0077) would keep the group out; a file an
     * older version made has the wrong group and mode. The mode first: the
     * unit's system call filter refuses any fchown. */
    if (fstat(dir_fd, &dir_st) == 0 && fstat(fd, &st) == 0 && st.st_uid == geteuid() &&
        (fchmod(fd, 0660) < 0 ||
         (st.st_gid != dir_st.st_gid && fchown(fd, (uid_t)-1, dir_st.st_gid) < 0)))
        debug("cannot open the lock %s/%s to its folder's group: %s", dir, name, strerror(errno));
    close(dir_fd);
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        length = pread(fd, holder, sizeof(holder) - 1, 0);
        holder[length > 0 ? length : 0] = '\0';
        holder[strcspn(holder, "\n")] = '\0';
        die(EXIT_LOCKED, "another coordinator (pid %s) already balances %s (lock %s/%s)", holder,
            uri ? uri : "libvirt's default URI", dir, name);
    }
    length = snprintf(holder, sizeof(holder), "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) < 0 || pwrite(fd, holder, (size_t)length, 0) != length)
        debug("cannot write the pid into the lock %s/%s: %s", dir, name, strerror(errno));
    free(identity);
    free(uri); /* the descriptor stays open, and the lock held, until exit */
}

/* Main loop: connection and reconnection */

/*
 * libvirt's event loop runs in a thread of its own, for two things a call
 * blocked on a silent libvirtd (hung, stopped, or a remote host gone from the
 * network) would otherwise wait on forever:
 * - the connection's keepalive: after KEEPALIVE_COUNT unanswered asks libvirt
 *   closes the connection, the waiting call fails, and we reconnect;
 * - a stop request: SIGINT and SIGTERM stay blocked outside our sleep, so one
 *   still pending a period after this thread first saw it means the main
 *   thread is stuck in libvirt, and we stop without it (after STOP_WAIT_S
 *   at most: a cycle takes milliseconds). Resizes under way are let finish,
 *   for up to STOP_RESIZE_WAIT_S, longer than keepalive takes to fail a
 *   call to a dead libvirtd: stopped between a donor's shrink and its
 *   receiver's growth, a move would leave the receiver unfed.
 * The thread inherits the blocked signals, so it never takes one itself.
 */
static int stop_grace_s = 1;

static void stop_if_stuck(int timer, void *opaque)
{
    static long long pending_since;
    long long waited_s;
    sigset_t pending;

    (void)timer;
    (void)opaque;
    if (sigpending(&pending) < 0 ||
        !(sigismember(&pending, SIGINT) || sigismember(&pending, SIGTERM))) {
        pending_since = 0;
        return;
    }
    if (!pending_since) {
        pending_since = monotonic_s();
        return;
    }
    waited_s = monotonic_s() - pending_since;
    if (waited_s < stop_grace_s)
        return;
    if (!__atomic_load_n(&resizing, __ATOMIC_SEQ_CST))
        warn("libvirt has not answered in the %lld s since the stop request; stopping "
             "without it",
             waited_s);
    else if (waited_s >= STOP_RESIZE_WAIT_S)
        warn("the resizes under way have not finished in the %lld s since the stop request; "
             "stopping without them",
             waited_s);
    else
        return;
    _exit(EXIT_OK); /* the main thread is inside a libvirt call: nothing else to undo */
}

static void *run_event_loop(void *unused)
{
    (void)unused;
    for (;;)
        if (virEventRunDefaultImpl() < 0)
            debug("libvirt's event loop: %s", virGetLastErrorMessage());
    return NULL;
}

static void start_event_loop(int period_s)
{
    pthread_t thread;

    stop_grace_s = period_s < STOP_WAIT_S ? period_s : STOP_WAIT_S;
    if (virEventRegisterDefaultImpl() < 0 ||
        virEventAddTimeout(1000, stop_if_stuck, NULL, NULL) < 0 ||
        pthread_create(&thread, NULL, run_event_loop, NULL) != 0) {
        warn("cannot start libvirt's event loop: a libvirtd that stops answering will not be "
             "noticed");
        return;
    }
    pthread_detach(thread);
}

static const char *uri_name(const char *uri)
{
    return uri ? uri : "libvirt's default URI";
}

/* A connection with keepalive on, or NULL. Drivers that run in this process
 * (test:///) have no keepalive and need none. */
static virConnectPtr open_connection(const char *uri)
{
    virConnectPtr conn = virConnectOpenAuth(uri, virConnectAuthPtrDefault, 0);

    if (conn && virConnectSetKeepAlive(conn, KEEPALIVE_INTERVAL_S, KEEPALIVE_COUNT) < 0)
        debug("no keepalive on %s: %s", uri_name(uri), virGetLastErrorMessage());
    return conn;
}

static virConnectPtr connect_libvirt(const char *uri)
{
    virConnectPtr conn = open_connection(uri);

    if (!conn)
        die(EXIT_CONNECT, "cannot connect to %s: %s", uri_name(uri), virGetLastErrorMessage());
    return conn;
}

/* After logrotate moved the trace away: a new one at the same path. */
static void reopen_trace(struct coordinator *co)
{
    if (!co->opt.trace_path)
        return;
    if (co->trace)
        fclose(co->trace);
    co->trace = open_output(co->opt.trace_path);
    if (co->trace)
        info("reopened the trace %s", co->opt.trace_path);
    else
        warn("cannot reopen the trace '%s': %s; not tracing", quotable(co->opt.trace_path),
             strerror(errno));
}

/* Sleep out a reconnection's backoff. sleep_until wakes on SIGHUP and
 * SIGUSR1, whose flags would then cut every later backoff short: the trace
 * is reopened here, and a cycle asked for is left for after the
 * reconnection, when there is a connection to run it on. */
static void sleep_out_backoff(struct coordinator *co, const struct timespec *deadline,
                              const sigset_t *sleeping_mask)
{
    bool cycle_asked = false;
    struct timespec now;

    for (;;) {
        sleep_until(deadline, sleeping_mask);
        if (reopen_requested) {
            reopen_requested = 0;
            reopen_trace(co);
        }
        if (cycle_requested) {
            cycle_requested = 0;
            cycle_asked = true;
        }
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (stop_requested || !timespec_before(&now, deadline))
            break;
    }
    if (cycle_asked)
        cycle_requested = 1;
}

/* The wait before the next reconnection: double the last, up to a period
 * and never above RECONNECT_MAX_S, since guests go unserved meanwhile. */
static int next_reconnect_wait(int wait_s, int period_s)
{
    return (int)min_ll(2 * (long long)wait_s, min_ll(period_s, RECONNECT_MAX_S));
}

/* libvirtd restarts (an upgrade, a crash) and its guests run on: a lost
 * connection is opened anew, trying again after a backoff that doubles
 * (next_reconnect_wait), and every guest's history is kept. Said once each
 * way, each outage. */
static void reconnect(struct coordinator *co, struct timespec *deadline,
                      const sigset_t *sleeping_mask)
{
    int backoff_s = 1;
    virConnectPtr conn;
    char lost[PATH_MAX + 64];

    snprintf(lost, sizeof(lost), "lost the connection to %s; reconnecting", uri_name(co->opt.uri));
    warn("%s", lost);
    while (!stop_requested) {
        conn = open_connection(co->opt.uri);
        if (conn) {
            close_connection(co);
            use_connection(co, conn);
            co->reconnects++;
            co->failing = 0; /* the reconnection is what said it works again */
            info("reconnected to %s", uri_name(co->opt.uri));
            forget_warning(lost);
            break;
        }
        debug("cannot reconnect: %s", virGetLastErrorMessage());
        clock_gettime(CLOCK_MONOTONIC, deadline);
        deadline->tv_sec += backoff_s;
        sleep_out_backoff(co, deadline, sleeping_mask);
        backoff_s = next_reconnect_wait(backoff_s, co->opt.period_s);
    }
    clock_gettime(CLOCK_MONOTONIC, deadline);
}

/* Main loop: the loop */

/* Sleep until the next look is due: reopen the trace on SIGHUP meanwhile,
 * and make a PERIOD's look due at once on SIGUSR1. */
static void wait_for_next_cycle(struct coordinator *co, struct timespec *deadline,
                                const sigset_t *sleeping_mask)
{
    for (;;) {
        sleep_until(deadline, sleeping_mask);
        if (reopen_requested) {
            reopen_requested = 0;
            reopen_trace(co);
            continue;
        }
        if (cycle_requested) {
            cycle_requested = 0;
            clock_gettime(CLOCK_MONOTONIC, deadline);
            co->next_period = *deadline;
        }
        return;
    }
}

/* Whether this look is a PERIOD's; PERIODs keep the rhythm of the first look. */
static bool period_due(struct coordinator *co)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    if (timespec_before(&now, &co->next_period))
        return false;
    advance_deadline(&co->next_period, co->opt.period_s);
    return true;
}

#ifndef MEM_COORDINATOR_NO_MAIN
int main(int argc, char **argv)
{
    struct coordinator co = {.cfg = default_config()};
    int status = EXIT_OK;
    struct timespec deadline;
    sigset_t sleeping_mask;

    parse_options(argc, argv, &co.opt, &co.cfg);
    if (co.opt.trace_path) {
        co.trace = open_output(co.opt.trace_path);
        if (!co.trace)
            usage_error("cannot open trace file '%s': %s", quotable(co.opt.trace_path),
                        strerror(errno));
    }
    if (co.opt.metrics_path) {
        const char *why = metrics_unwritable(co.opt.metrics_path);

        if (why)
            usage_error("cannot write the metrics to '%s': %s", quotable(co.opt.metrics_path), why);
    }
    /* From here on, with --syslog, the journal hears what goes wrong. */
    if (co.opt.syslog) {
        openlog(PROGRAM, LOG_PID, LOG_DAEMON);
        to_syslog = true;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    sleeping_mask = install_signal_handlers();
    virSetErrorFunc(NULL, ignore_libvirt_error);
    co.cfg.period_s = co.opt.period_s;
    start_event_loop(co.opt.period_s);
    use_connection(&co, connect_libvirt(co.opt.uri));
    /* A dry run changes nothing, so it may watch beside the one that does. */
    if (!co.opt.dry_run)
        lock_connection(co.conn);
    /* Under memory pressure, when it is needed most, a page of it on swap
     * would stall it. */
    if (co.opt.lock_memory && mlockall(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT) < 0)
        warn("cannot lock its memory: %s; it may be paged out when the host runs short",
             strerror(errno));
    notify_systemd("READY=1");
    clock_gettime(CLOCK_MONOTONIC, &co.started);
    deadline = co.next_period = co.started;

    while (!stop_requested) {
        enum cycle_result result = run_cycle(&co, period_due(&co));

        /* Only a dead connection is opened anew; on a live one the next
         * look tries again, every guest's history kept. */
        if (result == CYCLE_FAILED && virConnectIsAlive(co.conn) != 1) {
            reconnect(&co, &deadline, &sleeping_mask);
            continue; /* a cycle at once: guests went unserved meanwhile */
        }
        if (result == CYCLE_NO_GUESTS && !co.opt.wait) {
            info("no running guests; stopping");
            break;
        }
        if (co.opt.once) {
            status = result == CYCLE_FAILED ? EXIT_RUNTIME : EXIT_OK;
            break;
        }
        advance_deadline(&deadline, co.cfg.look_s);
        wait_for_next_cycle(&co, &deadline, &sleeping_mask);
    }
    if (stop_requested)
        info("stopping on signal");
    notify_systemd("STOPPING=1");

    close_connection(&co);
    free(co.history);
    if (co.trace)
        fclose(co.trace);
    return status;
}
#endif
