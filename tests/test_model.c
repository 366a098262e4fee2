/*
 * The balloon model: how a guest's statistics, taken on its own timer, are
 * read while its balloon moves. First short made-up sequences, one per rule;
 * then traces recorded on real guests, replayed cycle by cycle through the
 * model and the policies. Usage: test_model REPLAY_DIR (traces and
 * flatten.jq, which turns a trace into lines this file reads).
 */
#include "mem_coordinator.c"
#include "check.h"

/* Rows leave their trailing fields zero. */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

#define MIB          1024LL
#define OVERHEAD_MIB 68 /* what the test guest's kernel keeps: its balloon less MemTotal */

/* A reading of a guest whose statistics were taken with its balloon at
 * sampled_mib, while libvirt reports actual_mib. */
static struct balloon_reading reading(long long actual_mib, long long sampled_mib,
                                      long long unused_mib, long long last_update)
{
    return (struct balloon_reading){
        .actual_kib = actual_mib * MIB,
        .max_kib = 2048 * MIB,
        .unused_kib = unused_mib * MIB,
        .available_kib = (sampled_mib - OVERHEAD_MIB) * MIB,
        .last_update = last_update,
        .has_unused = true,
        .has_available = true,
        .has_last_update = true,
    };
}

/* The same, with QEMU's resident set as libvirt reads it at the look. */
static struct balloon_reading reading_rss(long long actual_mib, long long sampled_mib,
                                          long long unused_mib, long long last_update,
                                          long long rss_mib)
{
    struct balloon_reading r = reading(actual_mib, sampled_mib, unused_mib, last_update);

    r.rss_kib = rss_mib * MIB;
    r.has_rss = true;
    return r;
}

/* A guest seen at rest at size_mib for two cycles, so its overhead is known. */
static struct guest_history settled_at(long long size_mib, unsigned long *cycle, long long *now)
{
    struct guest_history h = fresh_history();
    struct guest g;

    for (int i = 0; i < 2; i++) {
        struct balloon_reading r = reading(size_mib, size_mib, 300, *now);

        follow_balloon(&h, &r, ++*cycle, ++*now, &g);
    }
    return h;
}

/* Resize a guest last read as g, as apply_resize does once libvirt took it. */
static void resize(struct guest_history *h, const struct guest *g, long long target_mib,
                   unsigned long cycle)
{
    note_resize(h, g, target_mib * MIB, cycle);
}

static void expect_unused(const char *what, const struct guest *g, long long mib_expected,
                          struct verdict *v)
{
    if (g->settling)
        fail(v, "%s: settling, expected %lld MiB unused", what, mib_expected);
    else if (llabs(expected_unused(g) - mib_expected * MIB) > MIB)
        fail(v, "%s: expected unused %lld KiB (unused %lld, coming %lld), not %lld MiB", what,
             expected_unused(g), g->unused_kib, g->coming_kib, mib_expected);
}

/* One move of a balloon and the readings that follow it. Sizes in MiB. */
struct move_case {
    const char *rule;
    long long rest, rest_unused, target; /* the balloon at rest, then sent to target */
    struct {
        long long actual;        /* as libvirt reports it; 0 ends the steps */
        long long sampled;       /* where the balloon stood when the statistics were taken */
        long long unused;        /* what they said */
        long long expect_unused; /* what the guest will have once the balloon arrives */
        bool arrives;            /* the model takes the balloon as there */
    } steps[3];
};

static const struct move_case move_cases[] = {
    /* vm4 of tests/replay/seed-s3.json, t=9 and 10: libvirt still said 404
     * while the guest's statistics already showed the shrink done. */
    {"a shrink the statistics already show is not counted twice",
     405,
     300,
     255,
     {{404, 254, 149, 150}, {255, 254, 149, 149, true}}},
    {"a shrink the statistics do not show yet is counted once, whole",
     405,
     300,
     255,
     {{330, 405, 300, 150}, {300, 330, 225, 150}}},
    /* vm1 of tests/replay/seed-s3.json, t=7 and 8. */
    {"a growth the statistics already show is not counted twice",
     405,
     134,
     555,
     {{406, 554, 234, 235}}},
    {"a growth the statistics do not show yet is counted as coming",
     405,
     100,
     705,
     {{405, 405, 100, 400}}},
    /* A guest may report any available figure: the balloon is never taken
     * to be outside the sizes it can have passed through. */
    {"a lying available figure misleads by no more than the move itself",
     1000,
     600,
     700,
     {{900, 1800, 600, 300}, {900, 100, 600, 600}}},
};

static void run_move_case(const struct move_case *row)
{
    unsigned long cycle = 0;
    long long now = 1000;
    struct guest_history h = settled_at(row->rest, &cycle, &now);
    struct guest g;
    struct balloon_reading r = reading(row->rest, row->rest, row->rest_unused, now);
    struct verdict v = {0};
    char name[256];

    follow_balloon(&h, &r, ++cycle, ++now, &g);
    resize(&h, &g, row->target, cycle);
    for (size_t i = 0; i < 3 && row->steps[i].actual; i++) {
        char what[32];
        enum balloon_event event;

        snprintf(what, sizeof(what), "reading %zu", i + 1);
        r = reading(row->steps[i].actual, row->steps[i].sampled, row->steps[i].unused, now);
        event = follow_balloon(&h, &r, ++cycle, ++now, &g);
        expect_unused(what, &g, row->steps[i].expect_unused, &v);
        if ((event == BALLOON_ARRIVED) != row->steps[i].arrives)
            fail(&v, "%s: %s as arrived", what, row->steps[i].arrives ? "not taken" : "taken");
        if (!row->steps[i].arrives && g.target_kib != row->target * MIB)
            fail(&v, "%s: heading for %lld KiB, not its target", what, g.target_kib);
        if (row->target > row->rest && g.cycles_since_growth != i + 1)
            fail(&v, "%s: %lu cycles since its growth", what, g.cycles_since_growth);
    }
    snprintf(name, sizeof(name), "model: %s", row->rule);
    report(name, &v);
}

static void test_balloon_that_stops_short(void)
{
    unsigned long cycle = 0;
    long long now = 1000;
    struct guest_history h = settled_at(1000, &cycle, &now);
    struct guest g;
    struct balloon_reading r = reading(1000, 1000, 600, now);
    struct verdict v = {0};
    int cycles_short = 0;

    follow_balloon(&h, &r, ++cycle, ++now, &g);
    resize(&h, &g, 500, cycle);
    r = reading(800, 800, 400, now);
    for (int i = 0; i < 10 && follow_balloon(&h, &r, ++cycle, ++now, &g) != BALLOON_STOPPED_SHORT;
         i++)
        cycles_short++;
    if (cycles_short != BALLOON_STUCK_CYCLES)
        fail(&v, "stopped short after %d cycles at 800 MiB, expected %d", cycles_short,
             BALLOON_STUCK_CYCLES);
    if (!g.unresponsive || g.target_kib != 800 * MIB || g.coming_kib != 0)
        fail(&v, "not taken where it stopped, or still asked to give");
    for (int i = 1; i < UNRESPONSIVE_BACKOFF; i++) {
        follow_balloon(&h, &r, ++cycle, ++now, &g);
        if (!g.unresponsive)
            fail(&v, "asked to give again %d cycles after it stopped short", i);
    }
    follow_balloon(&h, &r, ++cycle, ++now, &g);
    if (g.unresponsive)
        fail(&v, "still not asked to give after the backoff of %d cycles", UNRESPONSIVE_BACKOFF);
    resize(&h, &g, 500, cycle);
    for (int i = 0; i < 10 && follow_balloon(&h, &r, ++cycle, ++now, &g) != BALLOON_STOPPED_SHORT;
         i++)
        ;
    if (h.unresponsive_until != cycle + 2 * UNRESPONSIVE_BACKOFF)
        fail(&v, "a second stop waits %lu cycles, expected the backoff doubled",
             h.unresponsive_until - cycle);
    report("model: a balloon that stops short is taken where it is and not asked to give for a "
           "backoff, doubling",
           &v);
}

/* A balloon that reached its target, looked at every second while the guest
 * takes its statistics on its own timer. Sizes in MiB; looks and times in
 * seconds from the resize. */
struct arrival_case {
    const char *rule;
    int period;             /* the guest takes its statistics every period looks */
    long long target;       /* from a balloon at rest at 1000 MiB with 600 unused */
    int moved;              /* the look that first reads the balloon at its target */
    int arrives;            /* the look that takes it as arrived */
    int phase;              /* its statistics come at looks phase + k * period */
    bool no_available;      /* so only their time can say they show the move */
    bool no_time;           /* statistics without last_update */
    bool taken_before;      /* those of the look at moved predate the move, in the same second */
    int busy_from, busy_to; /* looks without statistics: a busy QEMU */
};

static const struct arrival_case arrival_cases[] = {
    {"statistics every second show the balloon there at once", 1, 500, 2, 2},
    {"statistics every 8 s: a shrink arrives with the first taken after it", 8, 500, 2, 8},
    {"statistics every 8 s: a growth arrives with the first taken after it", 8, 1500, 2, 8},
    {"statistics every 8 s without available: it sits out until one is taken after it", 8, 500, 2,
     8, .no_available = true},
    {"statistics stamped the second the balloon was first read there may predate it", 8, 500, 2, 10,
     .phase = 2, .no_available = true, .taken_before = true},
    {"looks without statistics (a busy QEMU) do not make it arrive", 8, 500, 2, 8, .busy_from = 3,
     .busy_to = 7},
    {"statistics without a time: it arrives after BALLOON_STUCK_CYCLES looks", 8, 500, 2,
     2 + BALLOON_STUCK_CYCLES, .no_time = true},
};

/* Until its statistics show the move, the guest is judged by what they say
 * plus what the move will bring; once they do, by what they say. */
static void run_arrival_case(const struct arrival_case *row)
{
    unsigned long cycle = 0;
    long long now = 1000;
    struct guest_history h = settled_at(1000, &cycle, &now);
    struct balloon_reading r = reading(1000, 1000, 600, now);
    long long unused_there = 600 + row->target - 1000, start = now + 1;
    long long actual = 1000, sampled = 1000, stamp = now;
    int arrived = 0;
    struct verdict v = {0};
    struct guest g;
    char name[256];

    follow_balloon(&h, &r, ++cycle, ++now, &g);
    resize(&h, &g, row->target, cycle);
    for (int look = 1; look <= 2 * row->period + BALLOON_STUCK_CYCLES && !arrived; look++) {
        bool busy = look >= row->busy_from && look < row->busy_to;

        now = start + look;
        if (look == row->moved)
            actual = row->target;
        if (look % row->period == row->phase) {
            sampled = row->taken_before && look == row->moved ? 1000 : actual;
            stamp = now;
        }
        r = reading(actual, sampled, 600 + sampled - 1000, stamp);
        r.has_available = !row->no_available;
        r.has_last_update = !row->no_time;
        if (busy)
            r.has_unused = r.has_available = r.has_last_update = false;
        if (follow_balloon(&h, &r, ++cycle, now, &g) == BALLOON_ARRIVED)
            arrived = look;
        if (arrived && row->no_time)
            break; /* no telling whether they show the move: judged by them as they are */
        if (busy || (row->no_available && !arrived)) {
            if (!g.settling)
                fail(&v, "look %d: judged by statistics that cannot show the move", look);
        } else if (llabs(expected_unused(&g) - unused_there * MIB) > MIB || g.settling) {
            fail(&v, "look %d: judged by %lld MiB unused (%s), not %lld", look,
                 expected_unused(&g) / MIB, g.settling ? "settling" : "not settling", unused_there);
        }
    }
    if (arrived != row->arrives)
        fail(&v, "taken as arrived at look %d, expected %d", arrived, row->arrives);
    snprintf(name, sizeof(name), "model: %s", row->rule);
    report(name, &v);
}

/* A guest whose statistics stop as its balloon reaches its target waits for
 * them with its target kept: it sits out once they are stale, promising and
 * returning nothing, and arrives when they come back. */
static void test_statistics_stop_on_arrival(void)
{
    struct config cfg = default_config();
    struct guest_history h = fresh_history();
    struct guest g = {.name = "vm"};
    struct balloon_reading r;
    struct verdict v = {0};
    const char *nonsense;
    unsigned long cycle = 0;
    long long now = 100000;
    enum balloon_event event = BALLOON_QUIET;

    for (int k = 0; k < 3; k++) {
        r = reading(1000, 1000, 600, now);
        see_guest(&h, &r, &cfg, ++cycle, now++, &g, &nonsense);
    }
    resize(&h, &g, 500, cycle);
    for (int k = 0; k < 60 && event == BALLOON_QUIET; k++) {
        r = reading(500, 1000, 600, 100002);
        event = see_guest(&h, &r, &cfg, ++cycle, now++, &g, &nonsense);
        if (guest_measured(&g) && llabs(expected_unused(&g) - 100 * MIB) > MIB)
            fail(&v, "%lld s after its last statistics: judged by %lld MiB unused, not 100",
                 now - 1 - 100002, expected_unused(&g) / MIB);
    }
    if (event != BALLOON_QUIET || guest_measured(&g) || growth_under_way(&g) ||
        shrink_under_way(&g))
        fail(&v,
             "a minute without statistics: event %d, measured %d, %lld KiB promised and %lld "
             "returning",
             event, guest_measured(&g), growth_under_way(&g), shrink_under_way(&g));
    r = reading(500, 500, 100, now);
    event = see_guest(&h, &r, &cfg, ++cycle, now++, &g, &nonsense);
    if (event != BALLOON_ARRIVED || !guest_measured(&g) || expected_unused(&g) != 100 * MIB)
        fail(&v, "statistics back: event %d, measured %d", event, guest_measured(&g));
    report("model: a guest whose statistics stop as its balloon arrives sits out until they come "
           "back",
           &v);
}

/* Without available (or while its overhead is unknown) the statistics cannot
 * say where a moving balloon stood: the guest sits out until it is still,
 * and they were taken since. Here they come every second. */
static void test_unknown_position_sits_out(void)
{
    unsigned long cycle = 0;
    long long now = 1000;
    struct guest_history h = fresh_history();
    struct guest g;
    struct balloon_reading r = reading(1000, 1000, 600, now);
    struct verdict v = {0};
    int settling = 0;

    r.has_available = false;
    follow_balloon(&h, &r, ++cycle, ++now, &g);
    resize(&h, &g, 700, cycle);
    r.actual_kib = 700 * MIB;
    r.unused_kib = 300 * MIB;
    for (int i = 0; i < 10; i++) {
        r.last_update = now;
        follow_balloon(&h, &r, ++cycle, ++now, &g);
        if (!g.settling)
            break;
        settling++;
    }
    if (settling == 0 || settling > BALLOON_STUCK_CYCLES)
        fail(&v, "sat out %d cycles, expected 1 to %d", settling, BALLOON_STUCK_CYCLES);
    if (g.settling || g.target_kib != 700 * MIB || expected_unused(&g) != 300 * MIB)
        fail(&v, "not read as it is once still");
    report("model: without available a moving balloon sits out until it stands still", &v);
}

static void test_overhead_learned_at_rest(void)
{
    unsigned long cycle = 0;
    long long now = 1000;
    struct guest_history h = fresh_history();
    struct guest g;
    struct balloon_reading r = reading(1000, 1000, 600, now);
    struct verdict v = {0};

    follow_balloon(&h, &r, ++cycle, ++now, &g);
    if (h.overhead_kib != OVERHEAD_MIB * MIB)
        fail(&v, "overhead %lld KiB on first sight, expected %d MiB", h.overhead_kib, OVERHEAD_MIB);
    r = reading(900, 950, 550, now); /* someone else moves it */
    follow_balloon(&h, &r, ++cycle, ++now, &g);
    if (h.overhead_kib != OVERHEAD_MIB * MIB)
        fail(&v, "overhead relearned from a moving balloon");
    r = reading(900, 950, 550, now - 5); /* still, but the statistics are older */
    follow_balloon(&h, &r, ++cycle, ++now, &g);
    if (h.overhead_kib != OVERHEAD_MIB * MIB)
        fail(&v, "overhead relearned from statistics older than the balloon's rest");
    r = reading(900, 900 - 12, 550, now + 1); /* fresh: the kernel now keeps 12 MiB more */
    follow_balloon(&h, &r, ++cycle, ++now, &g);
    if (h.overhead_kib != (OVERHEAD_MIB + 12) * MIB)
        fail(&v, "overhead %lld KiB, not relearned from fresh statistics at rest", h.overhead_kib);
    report("model: the overhead is learned only from statistics taken at rest", &v);
}

/* Guest statistics are untrusted: figures that cannot be true are caught,
 * and figures merely read at different moments are not. */
static void test_nonsense(void)
{
    static const struct {
        const char *what;
        long long actual, max, unused, available, last_update; /* MiB; s after now */
        const char *nonsense;
    } rows[] = {
        {"a guest at rest", 512, 2048, 300, 444, 0, NULL},
        {"statistics from before a shrink, libvirt already there", 405, 2048, 400, 443, -1, NULL},
        {"statistics a few seconds ahead of the host's clock", 512, 2048, 300, 444, 30, NULL},
        {"a balloon of 0", 0, 2048, 0, 0, 0, "a balloon of 0"},
        {"a max below the balloon", 2048, 1024, 300, 1980, 0, "a max below the balloon"},
        {"a total above the max", 512, 2048, 300, 4096, 0, "a total above the max"},
        {"more unused than the max", 512, 2048, 3000, 444, 0, "more unused than the max"},
        {"more unused than its total", 512, 2048, 500, 444, 0, "more unused than its total"},
        {"statistics from the future", 512, 2048, 300, 444, 3600, "statistics from the future"},
    };
    struct verdict v = {0};

    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct balloon_reading r = reading(rows[i].actual, rows[i].available + OVERHEAD_MIB,
                                           rows[i].unused, 1000 + rows[i].last_update);
        const char *found;

        r.max_kib = rows[i].max * MIB;
        found = nonsense_in(&r, 1000);
        if ((found == NULL) != (rows[i].nonsense == NULL) ||
            (found && strcmp(found, rows[i].nonsense) != 0))
            fail(&v, "%s: %s", rows[i].what, found ? found : "taken as sense");
    }
    report("model: figures that cannot be true are caught, figures read apart are not", &v);
}

/* Statistics that stopped coming are not used once they are older than two
 * of the guest's periods, known from its last two samples, or than
 * STALE_STATS_S while it is not known; a guest whose period is 0 sends one
 * sample, at boot. The period is the guest's interval, for its horizon. */
static void test_stale_statistics(void)
{
    static const struct {
        const char *what;
        int readings_before; /* fresh readings, interval s apart, before the one judged */
        long long interval;  /* s: the guest's period */
        long long age;       /* s: how old the judged reading's statistics are */
        bool has_last_update;
        bool stale;
    } rows[] = {
        {"fresh statistics", 3, 1, 1, true, false},
        {"statistics as old as STALE_STATS_S", 3, 1, STALE_STATS_S, true, false},
        {"statistics that stopped coming", 3, 1, STALE_STATS_S + 1, true, true},
        {"statistics from boot, never sent again (period 0)", 0, 1, 3600, true, true},
        {"one sample, its period unknown", 0, 1, STALE_STATS_S + 1, true, true},
        {"statistics every 15 s, 20 s old", 3, 15, 20, true, false},
        {"statistics every 15 s that stopped coming", 3, 15, 31, true, true},
        {"statistics every 60 s, twice SLOWEST_STATS_S old", 3, 60, 2 * SLOWEST_STATS_S, true,
         false},
        {"statistics every 60 s, older", 3, 60, 2 * SLOWEST_STATS_S + 1, true, true},
        {"statistics without a time", 3, 1, 3600, false, false},
    };
    struct verdict v = {0};
    struct config cfg = default_config();

    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct guest_history h = fresh_history();
        struct guest g = {.name = "vm"};
        struct balloon_reading r;
        const char *nonsense;
        long long now = 100000, at = now - rows[i].age;
        unsigned long cycle = 0;

        for (int k = 0; k < rows[i].readings_before; k++) {
            long long before = at - (rows[i].readings_before - k) * rows[i].interval;

            r = reading(512, 512, 300, before);
            see_guest(&h, &r, &cfg, ++cycle, before, &g, &nonsense);
        }
        r = reading(512, 512, 300, at);
        r.has_last_update = rows[i].has_last_update;
        see_guest(&h, &r, &cfg, ++cycle, now, &g, &nonsense);
        if (g.has_unused == rows[i].stale)
            fail(&v, "%s: %s", rows[i].what, g.has_unused ? "used" : "dropped");
        else if (!rows[i].stale && rows[i].has_last_update && rows[i].readings_before &&
                 g.stats_interval_s != min_ll(rows[i].interval, SLOWEST_STATS_S))
            fail(&v, "%s: an interval of %d s", rows[i].what, g.stats_interval_s);
    }
    report("model: statistics are dropped once older than two of the guest's periods, or "
           "STALE_STATS_S while it is unknown",
           &v);
}

/* Adaptive measures a guest by MemAvailable, and by MemFree where the guest
 * reports none; its rate of use follows the same measure, so a page cache
 * that fills is no growth. */
static void test_usable(void)
{
    struct verdict v = {0};
    struct config cfg = default_config();
    struct guest_history h = fresh_history();
    struct guest g = {.name = "vm"};
    struct balloon_reading r;
    const char *nonsense;
    long long now = 100000;

    /* A reader: its cache grows from 100 to 700 MiB, MemFree falls to 70. */
    for (int k = 0; k < 4; k++) {
        r = reading(1024, 1024, 670 - 200 * k, now);
        r.unused_kib = max_ll(70, 670 - 200 * k) * MIB;
        r.usable_kib = 800 * MIB;
        r.has_usable = true;
        see_guest(&h, &r, &cfg, (unsigned long)k + 1, now++, &g, &nonsense);
    }
    if (g.usable_kib != 800 * MIB || g.unused_kib != 70 * MIB)
        fail(&v, "a reader: usable %lld KiB, unused %lld KiB; expected 800 and 70 MiB",
             g.usable_kib, g.unused_kib);
    if (g.use_rate_kib_s != 0)
        fail(&v, "a reader whose cache fills: rate %lld KiB/s, expected none", g.use_rate_kib_s);
    r.has_usable = false;
    see_guest(&h, &r, &cfg, 5, now++, &g, &nonsense);
    if (g.usable_kib != g.unused_kib)
        fail(&v, "a guest without usable: %lld KiB usable, expected its unused %lld", g.usable_kib,
             g.unused_kib);
    /* MemAvailable below MemFree: the kernel's watermark reserve held back. */
    r.usable_kib = r.unused_kib - 70 * MIB;
    r.has_usable = true;
    see_guest(&h, &r, &cfg, 6, now++, &g, &nonsense);
    if (g.usable_kib != g.unused_kib)
        fail(&v, "usable 70 MiB below unused: measured %lld KiB, expected its unused %lld",
             g.usable_kib, g.unused_kib);
    r.usable_kib = 2000 * MIB;
    see_guest(&h, &r, &cfg, 7, now++, &g, &nonsense);
    if (!nonsense)
        fail(&v, "more usable than its total is taken as true");
    report("model: a guest is measured by usable, never below unused, or by unused where it "
           "reports none",
           &v);
}

/* What QEMU holds for itself and the guest's kernel is learned at rest, and
 * only free pages the guest touched beyond it count as resident: those a
 * roomy host takes back. */
static void test_qemu_own(void)
{
    struct verdict v = {0};
    struct config cfg = default_config();
    struct guest_history h = fresh_history();
    struct guest g = {.name = "vm"};
    struct balloon_reading r;
    const char *nonsense;
    long long now = 100000, used_mib = 1024 - OVERHEAD_MIB - 800;

    for (unsigned long k = 1; k <= 3; k++) {
        r = reading_rss(1024, 1024, 800, now, used_mib + 250);
        see_guest(&h, &r, &cfg, k, now++, &g, &nonsense);
    }
    if (g.qemu_own_kib != 250 * MIB || resident_unused(&g) != 0)
        fail(&v,
             "at rest: QEMU's own %lld KiB, resident unused %lld KiB; expected 250 MiB and none",
             g.qemu_own_kib, resident_unused(&g));
    /* It touches 300 MiB and frees it: QEMU holds those pages now. */
    r = reading_rss(1024, 1024, 800, now, used_mib + 550);
    see_guest(&h, &r, &cfg, 4, now++, &g, &nonsense);
    if (g.qemu_own_kib != 250 * MIB || resident_unused(&g) != 300 * MIB)
        fail(&v,
             "touched and freed 300 MiB: QEMU's own %lld KiB, resident unused %lld KiB; "
             "expected 250 and 300 MiB",
             g.qemu_own_kib, resident_unused(&g));
    report("model: QEMU's own memory is learned at rest, and only pages the guest touched beyond "
           "it count as resident",
           &v);
}

/* make bench's give-and-take: a guest first seen growing 20 MiB/s with 200
 * MiB free, its QEMU holding 150 MiB of its own, then freeing 1000 MiB. What
 * it freed is resident and goes back; it is not QEMU's own. */
static void test_qemu_own_seen_growing(void)
{
    struct verdict v = {0};
    struct config cfg = default_config();
    struct guest_history h = fresh_history();
    struct guest g = {.name = "vm"};
    struct balloon_reading r;
    const char *nonsense;
    long long now = 100000, peak_used_mib = 1536 - OVERHEAD_MIB - 140;

    for (unsigned long k = 1; k <= 8; k++, now++) {
        long long unused_mib = k <= 3 ? 200 - 20 * (long long)k : 1200;

        r = reading_rss(1536, 1536, unused_mib, now, peak_used_mib + 150);
        see_guest(&h, &r, &cfg, k, now, &g, &nonsense);
    }
    if (g.qemu_own_kib > 150 * MIB + 2 * 20 * MIB || resident_unused(&g) < 950 * MIB)
        fail(&v, "QEMU's own %lld KiB, resident unused %lld KiB; expected about 150 and 1000 MiB",
             g.qemu_own_kib, resident_unused(&g));
    report("model: QEMU's own memory is learned from a guest seen growing, not from what it freed "
           "later",
           &v);
}

/* Between two of a guest's statistics, what its QEMU newly holds is memory
 * the guest touched: its free memory falls, and its use grows, by that much
 * at least, before its statistics say so. */
static void test_touched_between_statistics(void)
{
    struct verdict v = {0};
    struct config cfg = default_config();
    struct guest_history h = fresh_history();
    struct guest g = {.name = "vm"};
    struct balloon_reading r;
    const char *nonsense;
    long long now = 100000, sampled = now;

    for (unsigned long k = 1; k <= 6; k++) {
        /* Statistics every 5 s, at rest at 800 MiB free; from the fourth
         * look its QEMU holds 100 MiB more each second. */
        if (k == 1 || k == 6)
            sampled = now;
        r = reading_rss(1024, 1024, 800, sampled, 300 + 100 * max_ll(0, (long long)k - 3));
        see_guest(&h, &r, &cfg, k, now++, &g, &nonsense);
        if (k == 5 && (g.usable_kib != 600 * MIB || g.use_rate_kib_s < 100 * MIB))
            fail(&v,
                 "200 MiB touched since its statistics: usable %lld KiB, rate %lld KiB/s; "
                 "expected 600 MiB and 100 MiB/s at least",
                 g.usable_kib, g.use_rate_kib_s);
        /* Of its free memory QEMU held 300 - 156 MiB used at its statistics;
         * what it touched since is use, not free memory a trim would free. */
        if (k == 5 && g.resident_usable_kib != 144 * MIB)
            fail(&v,
                 "200 MiB touched since its statistics: QEMU holds %lld KiB of its free "
                 "memory, expected 144 MiB",
                 g.resident_usable_kib);
    }
    if (g.usable_kib != 800 * MIB)
        fail(&v, "new statistics: usable %lld KiB, expected what they say, 800 MiB", g.usable_kib);
    report("model: memory QEMU newly holds between two statistics is the guest's use, seen at once",
           &v);
}

/* A guest resized between two of its statistics (every 5 s): what QEMU
 * newly holds, while its balloon moves and once it has, is the guest's use,
 * since no move raises QEMU's resident set. A shrink that lowers it leaves
 * the rate its statistics say. */
static void test_touched_while_moved(void)
{
    struct verdict v = {0};
    struct config cfg = default_config();
    const char *nonsense;
    const struct {
        const char *what;
        long long target, actual_after[3]; /* MiB; the balloon at the next three looks */
        long long rss_step;                /* MiB QEMU holds more at each of them */
        long long rate;                    /* MiB/s at least, or exactly when 0 */
    } moves[] = {
        {"fed, QEMU holding 100 MiB more each second", 1536, {1280, 1536, 1536}, 100, 100},
        {"trimmed while it grows", 768, {900, 800, 768}, 100, 100},
        {"trimmed, QEMU letting go of what the balloon takes", 768, {900, 800, 768}, -100, 0},
    };

    for (size_t m = 0; m < sizeof(moves) / sizeof(moves[0]); m++) {
        struct guest_history h = fresh_history();
        struct guest g = {.name = "vm"};
        struct balloon_reading r;
        long long now = 100000, actual = 1024, rss = 600;

        for (unsigned long k = 1; k <= 5; k++) {
            if (k >= 3) {
                actual = moves[m].actual_after[k - 3];
                rss += moves[m].rss_step;
            }
            r = reading_rss(actual, 1024, 400, 100000, rss);
            see_guest(&h, &r, &cfg, k, now++, &g, &nonsense);
            if (k == 2)
                note_resize(&h, &g, moves[m].target * MIB, k);
        }
        if (moves[m].rate ? g.use_rate_kib_s < moves[m].rate * MIB : g.use_rate_kib_s != 0)
            fail(&v, "%s: rate %lld KiB/s, expected %s%lld MiB/s", moves[m].what, g.use_rate_kib_s,
                 moves[m].rate ? "at least " : "", moves[m].rate);
    }
    report("model: a guest resized between its statistics grows at the rate QEMU's resident set "
           "does",
           &v);
}

/* A reader: its page cache grows 100 MiB a second (MemFree falls, what it
 * could use does not) and QEMU's resident set with it; its use is flat.
 * A grower with the same resident set and no cache grows. */
static void test_page_cache_not_use(void)
{
    struct verdict v = {0};
    struct config cfg = default_config();
    struct guest_history reader = fresh_history(), grower = fresh_history();
    struct guest g = {.name = "vm"};
    struct balloon_reading r;
    const char *nonsense;
    long long now = 100000;

    for (unsigned long k = 1; k <= 6; k++, now++) {
        long long cache_mib = 100 * (long long)k;

        r = reading_rss(2048, 2048, 1500 - cache_mib, now, 400 + cache_mib);
        r.usable_kib = 1500 * MIB;
        r.has_usable = true;
        see_guest(&reader, &r, &cfg, k, now, &g, &nonsense);
        if (k > 2 && g.use_rate_kib_s >= cfg.growing_kib_s)
            fail(&v, "look %lu: the reader grows %lld KiB/s, its use flat", k, g.use_rate_kib_s);
        r = reading_rss(2048, 2048, 1500 - cache_mib, now, 400 + cache_mib);
        see_guest(&grower, &r, &cfg, k, now, &g, &nonsense);
        if (k > 2 && g.use_rate_kib_s < 100 * MIB)
            fail(&v, "look %lu: the grower grows %lld KiB/s, expected 100 MiB/s", k,
                 g.use_rate_kib_s);
    }
    report("model: QEMU's resident set growing with the page cache is not use", &v);
}

/* A guest whose statistics say its use grows 400 MiB a sample while its QEMU
 * holds no more (the simulator's rate liar) shows no growth; one whose QEMU
 * holds what it says shows its rate. */
static void test_use_bounded_by_qemu(void)
{
    struct verdict v = {0};
    struct config cfg = default_config();

    for (int honest = 0; honest <= 1; honest++) {
        struct guest_history h = fresh_history();
        struct guest g = {.name = "vm"};
        struct balloon_reading r;
        const char *nonsense;
        long long now = 100000;

        for (unsigned long k = 1; k <= 4; k++, now++) {
            long long used_mib = 300 + 400 * (long long)(k - 1);

            r = reading_rss(2048, 2048, 2048 - OVERHEAD_MIB - used_mib, now,
                            honest ? used_mib + 80 : 300);
            see_guest(&h, &r, &cfg, k, now, &g, &nonsense);
        }
        if (honest ? g.use_rate_kib_s < 400 * MIB : g.use_rate_kib_s >= cfg.growing_kib_s)
            fail(&v, "%s: rate %lld KiB/s, expected %s", honest ? "honest" : "liar",
                 g.use_rate_kib_s, honest ? "400 MiB/s" : "none");
    }
    report("model: a guest uses no more than its QEMU holds, whatever it reports", &v);
}

/* A fresh history of a guest seen twice at rest at 1024 MiB, its balloon
 * deflating itself on an OOM or not. */
static struct guest_history at_rest_1024(bool deflate_on_oom, const struct config *cfg,
                                         unsigned long *cycle, long long *now, struct guest *g)
{
    struct guest_history h = fresh_history();
    struct balloon_reading r;
    const char *nonsense;

    h.balloon.deflate_on_oom = deflate_on_oom;
    for (int k = 0; k < 2; k++) {
        r = reading(1024, 1024, 300, *now);
        see_guest(&h, &r, cfg, ++*cycle, (*now)++, g, &nonsense);
    }
    return h;
}

/* A balloon with deflate-on-OOM that grows where no target of ours took it
 * is the guest in need: its size is its floor until its use falls. */
static void test_deflate_on_oom(void)
{
    struct verdict v = {0};
    struct config cfg = default_config();
    struct guest g = {.name = "vm"};
    struct balloon_reading r;
    const char *nonsense;
    unsigned long cycle = 0;
    long long now = 100000;
    struct guest_history h = at_rest_1024(true, &cfg, &cycle, &now, &g);
    enum balloon_event event = BALLOON_QUIET;

    /* Sent to 512 MiB; the guest runs out on the way and takes 300 MiB back. */
    resize(&h, &g, 512, cycle);
    r = reading(700, 700, 20, now);
    see_guest(&h, &r, &cfg, ++cycle, now++, &g, &nonsense);
    r = reading(1000, 1000, 40, now);
    event = see_guest(&h, &r, &cfg, ++cycle, now++, &g, &nonsense);
    if (event != BALLOON_DEFLATED || g.deflated_kib != 1000 * MIB)
        fail(&v, "a balloon back to 1000 MiB from a target of 512: event %d, floor %lld KiB", event,
             g.deflated_kib);
    if (guest_floor(&g, &cfg) != 1000 * MIB || g.target_kib != 1000 * MIB)
        fail(&v, "floor %lld KiB, target %lld KiB: expected both at 1000 MiB",
             guest_floor(&g, &cfg), g.target_kib);
    /* Its use falls by less than the band: the floor holds; by more: it goes. */
    r = reading(1000, 1000, 140, now);
    see_guest(&h, &r, &cfg, ++cycle, now++, &g, &nonsense);
    if (g.deflated_kib != 1000 * MIB)
        fail(&v, "use down 100 MiB: the floor went");
    r = reading(1000, 1000, 400, now);
    see_guest(&h, &r, &cfg, ++cycle, now++, &g, &nonsense);
    if (g.deflated_kib != 0)
        fail(&v, "use down 360 MiB: the floor stayed at %lld KiB", g.deflated_kib);
    /* Without the feature, a balloon that grows is not the guest's OOM. */
    h = at_rest_1024(false, &cfg, &cycle, &now, &g);
    r = reading(1500, 1500, 700, now);
    event = see_guest(&h, &r, &cfg, ++cycle, now++, &g, &nonsense);
    if (event == BALLOON_DEFLATED || g.deflated_kib)
        fail(&v, "a balloon without deflate-on-OOM taken for one");
    /* A growth of ours is not a deflation either. */
    h = at_rest_1024(true, &cfg, &cycle, &now, &g);
    resize(&h, &g, 1536, cycle);
    r = reading(1300, 1300, 500, now);
    event = see_guest(&h, &r, &cfg, ++cycle, now++, &g, &nonsense);
    if (event == BALLOON_DEFLATED || g.deflated_kib)
        fail(&v, "a growth of ours taken for a deflation");
    report("model: a balloon that deflates itself on an OOM is the guest's floor until its use "
           "falls",
           &v);
}

/* The rate of use, from a guest's used memory at its statistics, a second apart. */
static void test_use_rate(void)
{
    static const struct {
        const char *what;
        int samples;
        long long used[USE_SAMPLES + 1]; /* MiB, oldest first */
        long long rate;                  /* MiB/s expected */
    } rows[] = {
        {"flat use: no rate", 4, {300, 300, 300, 300}, 0},
        {"a steady growth at its rate", 4, {300, 360, 420, 480}, 60},
        {"a first interval is taken as it reads", 2, {300, 325}, 25},
        {"a growth that just started is seen at once", 4, {300, 300, 300, 325}, 25},
        {"a burst in a steady growth counts", 4, {300, 360, 400, 470}, 70},
        {"a growth that stopped is seen over the window", 4, {300, 360, 420, 420}, 40},
        {"a guest that frees memory falls, over the window", 4, {900, 900, 900, 201}, -233},
        {"a fall stays in the rate while it is in the window", 4, {900, 900, 201, 201}, -233},
        {"a guest that grows again after a fall grows", 4, {900, 201, 201, 261}, 60},
        {"the window holds the last USE_SAMPLES statistics", 5, {0, 900, 900, 900, 900}, 0},
    };
    struct config cfg = default_config();
    struct verdict v = {0};

    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct guest_history h = fresh_history();
        struct guest g = {.name = "vm"};

        for (int k = 0; k < rows[i].samples; k++) {
            /* used is available - unused: a balloon of 2048 MiB holds it */
            struct balloon_reading r =
                reading(2048, 2048, 2048 - OVERHEAD_MIB - rows[i].used[k], 1000 + k);

            track_use(&h, &r, &cfg, 1000 + k, &g);
        }
        if (g.use_rate_kib_s / MIB != rows[i].rate)
            fail(&v, "%s: %lld MiB/s, expected %lld", rows[i].what, g.use_rate_kib_s / MIB,
                 rows[i].rate);
    }
    report("model: the rate of use sees a growth at once, its end slowly, a fall while it lasts",
           &v);
}

/* The room a guest keeps for a burst, from its used memory at its statistics,
 * a second apart, and a look some seconds after the last. */
static void test_burst_room(void)
{
    static const struct {
        const char *what;
        int samples;
        long long used[USE_SAMPLES + 1]; /* MiB, oldest first */
        long long rss;                   /* MiB QEMU holds at every look; 0: not read */
        int look_after;                  /* s after the last statistics */
        long long room;                  /* MiB of burst room expected */
    } rows[] = {
        {"a rise no look can follow leaves room for its peak once it falls",
         4,
         {200, 200, 900, 200},
         0,
         0,
         700},
        {"the room is what the burst rose above the use now", 4, {200, 900, 600, 600}, 0, 0, 300},
        {"at its peak, no room beyond it", 3, {200, 900, 900}, 0, 0, 0},
        {"a growth a look can follow leaves none", 5, {200, 300, 400, 500, 200}, 0, 0, 0},
        {"the room is kept BURST_MEMORY_S", 4, {200, 200, 900, 200}, 0, BURST_MEMORY_S - 2, 700},
        {"and no longer", 4, {200, 200, 900, 200}, 0, BURST_MEMORY_S, 0},
        {"a burst claimed in the statistics but not in QEMU's resident set leaves none",
         4,
         {200, 200, 900, 200},
         400,
         0,
         0},
    };
    struct config cfg = default_config();
    struct verdict v = {0};

    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct guest_history h = fresh_history();
        struct guest g = {.name = "vm"};

        for (int k = 0; k < rows[i].samples; k++) {
            long long unused = 2048 - OVERHEAD_MIB - rows[i].used[k];
            struct balloon_reading r = rows[i].rss
                                           ? reading_rss(2048, 2048, unused, 1000 + k, rows[i].rss)
                                           : reading(2048, 2048, unused, 1000 + k);
            bool last = k == rows[i].samples - 1;

            track_use(&h, &r, &cfg, 1000 + k + (last ? rows[i].look_after : 0), &g);
        }
        if (g.burst_kib / MIB != rows[i].room)
            fail(&v, "%s: %lld MiB, expected %lld", rows[i].what, g.burst_kib / MIB, rows[i].room);
    }
    report("model: a guest keeps room for a burst no look could follow, for a while", &v);
}

/* Replay */

#define MAX_GUESTS 16
#define MAX_CYCLES 1024
#define PING_PONG  3 /* cycles: memory given back this soon after it came went ping-pong */

struct replay_guest {
    char name[64];
    double load_rate; /* MiB/s: how fast its workload can change its use */
    struct guest_history history;
    /* the model's forecast since its last resize: what unused will be on arrival */
    int forecasts;
    long long forecast_kib[MAX_CYCLES];
    double forecast_t[MAX_CYCLES];
    long long forecast_used_kib[MAX_CYCLES];
    unsigned long grown_cycle; /* as recorded; 0: never */
};

struct replay {
    const char *file;
    struct replay_guest guests[MAX_GUESTS];
    size_t count;
    int forecasts_checked;
};

static struct replay_guest *replay_guest(struct replay *rp, const char *name, double rate)
{
    for (size_t i = 0; i < rp->count; i++)
        if (strcmp(rp->guests[i].name, name) == 0)
            return &rp->guests[i];
    if (rp->count == MAX_GUESTS)
        return NULL;
    struct replay_guest *rg = &rp->guests[rp->count++];
    *rg = (struct replay_guest){.load_rate = rate, .history = fresh_history()};
    snprintf(rg->name, sizeof(rg->name), "%s", name);
    return rg;
}

/* On arrival the guest's own statistics say what its unused became: every
 * forecast since the resize must have said so, give or take the guest's own
 * drift (a few MiB of kernel memory) and what its load did meanwhile. A load
 * that freed memory (or was killed) says nothing about the forecast. */
static void check_forecasts(struct replay *rp, struct replay_guest *rg, const struct guest *g,
                            const struct balloon_reading *r, double t, unsigned long cycle,
                            struct verdict *v)
{
    long long used_kib = r->available_kib - r->unused_kib;

    for (int i = 0; i < rg->forecasts; i++) {
        double allowed_mib = 8 + rg->load_rate * (t - rg->forecast_t[i]);
        long long error_kib = rg->forecast_kib[i] - expected_unused(g);

        if (rg->forecast_used_kib[i] - used_kib > 8 * MIB)
            continue;
        rp->forecasts_checked++;
        if ((double)llabs(error_kib) > allowed_mib * MIB)
            fail(v,
                 "%s, cycle %lu: %s arrived with %lld MiB unused; %.1f s before, the model "
                 "said %lld",
                 rp->file, cycle, rg->name, mib(expected_unused(g)), t - rg->forecast_t[i],
                 mib(rg->forecast_kib[i]));
    }
    rg->forecasts = 0;
}

/* Rates are the workloads' own: guests whose names hold a listed part grow by
 * up to that many MiB/s, the others idle. */
struct load {
    const char *name_part;
    double rate;
};

static double load_rate(const char *name, const struct load *loads)
{
    for (; loads->name_part; loads++)
        if (strstr(name, loads->name_part))
            return loads->rate;
    return 0;
}

static void replay_trace(const char *dir, const char *file, const struct load *loads,
                         const struct policy *policy)
{
    struct replay rp = {.file = file};
    struct config cfg = default_config();
    struct verdict v = {0};
    char command[PATH_MAX * 2 + 64], name[256];
    unsigned long cycle;
    long long now, host_free_kib;
    double t;
    size_t count;
    FILE *in;

    cfg.policy = policy;
    /* Without jq the replay reads nothing, and would fail as if the model
     * foresaw nothing. */
    if (system("command -v jq >/dev/null 2>&1") != 0) {
        fail(&v, "needs jq (apt-get install jq)");
        snprintf(name, sizeof(name), "replay %s (%s)", file, policy->name);
        report(name, &v);
        return;
    }
    snprintf(command, sizeof(command), "jq -r -f '%s/flatten.jq' '%s/%s'", dir, dir, file);
    in = popen(command, "r");
    if (!in) {
        fail(&v, "cannot run %s", command);
        goto done;
    }
    while (fscanf(in, " cycle %lu %lld %lf %lld %zu", &cycle, &now, &t, &host_free_kib, &count) ==
           5) {
        struct guest guests[MAX_GUESTS];
        struct balloon_reading readings[MAX_GUESTS];
        struct replay_guest *replayed[MAX_GUESTS];
        long long requested_kib[MAX_GUESTS];
        int applied[MAX_GUESTS];
        struct resize resizes[MAX_GUESTS];
        size_t slots[MAX_GUESTS] = {0};
        struct plan plan = {.resizes = resizes, .slot_of = slots};
        struct snapshot snap = {
            .guests = guests, .count = count, .host_free_kib = host_free_kib, .period_due = true};

        if (count > MAX_GUESTS || cycle >= MAX_CYCLES) {
            fail(&v, "cycle %lu: more than the replay holds", cycle);
            break;
        }
        for (size_t i = 0; i < count; i++) {
            struct balloon_reading *r = &readings[i];
            const char *nonsense;
            char guest_name[64];

            if (fscanf(in, " guest %63s %lld %lld %lld %lld %lld %lld %d", guest_name,
                       &r->actual_kib, &r->max_kib, &r->unused_kib, &r->available_kib,
                       &r->last_update, &requested_kib[i], &applied[i]) != 8 ||
                !(replayed[i] = replay_guest(&rp, guest_name, load_rate(guest_name, loads)))) {
                fail(&v, "cycle %lu: unreadable guest line", cycle);
                goto done;
            }
            r->has_unused = r->unused_kib >= 0;
            r->has_available = r->available_kib >= 0;
            r->has_last_update = r->last_update >= 0;
            guests[i].name = replayed[i]->name;
            if (see_guest(&replayed[i]->history, r, &cfg, cycle, now, &guests[i], &nonsense) ==
                BALLOON_ARRIVED)
                check_forecasts(&rp, replayed[i], &guests[i], r, t, cycle, &v);
            if (nonsense)
                fail(&v, "%s, cycle %lu: %s taken for nonsense (%s)", file, cycle,
                     replayed[i]->name, nonsense);
            snap.host_promised_kib += growth_under_way(&guests[i]);
            snap.host_returning_kib += shrink_under_way(&guests[i]);
            snap.host_untouched_kib += untouched(&guests[i]);
        }
        policy->plan(&snap, &cfg, &plan);
        for (size_t i = 0; i < plan.count; i++) {
            const struct replay_guest *rg = replayed[plan.resizes[i].guest];

            if (plan.resizes[i].delta_kib < 0 && rg->grown_cycle &&
                cycle - rg->grown_cycle < PING_PONG &&
                !freeing(&guests[plan.resizes[i].guest], &cfg))
                fail(&v, "%s, cycle %lu: %s would give %lld MiB %lu cycles after it grew", file,
                     cycle, rg->name, -mib(plan.resizes[i].delta_kib), cycle - rg->grown_cycle);
        }
        /* The world goes on as recorded: the resizes made then drive the model. */
        for (size_t i = 0; i < count; i++) {
            struct replay_guest *rg = replayed[i];

            if (rg->history.target_kib && !guests[i].settling && rg->forecasts < MAX_CYCLES) {
                rg->forecast_kib[rg->forecasts] = expected_unused(&guests[i]);
                rg->forecast_t[rg->forecasts] = t;
                rg->forecast_used_kib[rg->forecasts++] =
                    readings[i].available_kib - readings[i].unused_kib;
            }
            if (!applied[i])
                continue;
            if (requested_kib[i] > guests[i].target_kib)
                rg->grown_cycle = cycle;
            rg->forecasts = 0;
            note_resize(&rg->history, &guests[i], requested_kib[i], cycle);
        }
    }
    if (rp.forecasts_checked == 0)
        fail(&v, "%s: no forecast could be checked", file);
done:
    if (in && pclose(in) != 0)
        fail(&v, "%s: jq failed", file);
    snprintf(name, sizeof(name),
             "replay %s (%s): the model foresees what guests report on arrival (%d forecasts), "
             "and nobody gives back what it was just given",
             file, policy->name, rp.forecasts_checked);
    report(name, &v);
}

int main(int argc, char **argv)
{
    static const struct load s3_loads[] = {{"-vm1", 35}, {"-vm3", 35}, {NULL, 0}};
    static const struct load s2_loads[] = {{"-vm", 35}, {NULL, 0}};

    if (argc != 2) {
        fprintf(stderr, "usage: test_model REPLAY_DIR\n");
        return 2;
    }
    for (size_t i = 0; i < sizeof(move_cases) / sizeof(move_cases[0]); i++)
        run_move_case(&move_cases[i]);
    for (size_t i = 0; i < sizeof(arrival_cases) / sizeof(arrival_cases[0]); i++)
        run_arrival_case(&arrival_cases[i]);
    test_balloon_that_stops_short();
    test_statistics_stop_on_arrival();
    test_unknown_position_sits_out();
    test_overhead_learned_at_rest();
    test_nonsense();
    test_stale_statistics();
    test_usable();
    test_qemu_own();
    test_qemu_own_seen_growing();
    test_touched_between_statistics();
    test_touched_while_moved();
    test_page_cache_not_use();
    test_use_bounded_by_qemu();
    test_deflate_on_oom();
    test_use_rate();
    test_burst_room();
    for (size_t i = 0; i < sizeof(policies) / sizeof(policies[0]); i++) {
        replay_trace(argv[1], "seed-s3.json", s3_loads, &policies[i]);
        replay_trace(argv[1], "seed-s2.json", s2_loads, &policies[i]);
    }
    return tests_status();
}
