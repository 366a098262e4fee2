/*
 * Table-driven tests of the policies: one row per situation, named for the
 * rule it shows, then the rules every plan must keep, checked on every row
 * and on random snapshots.
 */
#include "mem_coordinator.c"
#include "check.h"
#include "rules.h"

/* Rows leave their trailing fields zero. */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

#define ROW_GUESTS 6
#define NO_STATS   -1 /* in the unused column: the balloon reports no statistics */

struct guest_row {
    const char *name;
    long long actual, unused, max; /* MiB */
    bool settling;
    long long target;    /* MiB; 0: no resize under way, the balloon is at actual */
    long long coming;    /* MiB the balloon will still add to (take from) unused */
    unsigned long grown; /* cycles since it grew; 0: never */
    bool unresponsive;
    long long rate;         /* MiB/s its use grows */
    unsigned long wasteful; /* looks in a row above the waste threshold */
    int interval;           /* s between its statistics; 0: not known */
    unsigned shares;        /* 0 for every guest of a row: all equal */
    long long guarantee;    /* MiB */
    long long untouched;    /* MiB of its usable memory it never touched: QEMU holds the rest */
    long long cache;        /* MiB of page cache it may drop: usable is unused and cache */
    long long deflated;     /* MiB its balloon deflated itself to on an OOM */
    long long unheld;       /* MiB of its balloon QEMU does not hold, whatever it reports */
    long long burst;        /* MiB its use rose in its last burst above its use now */
    long long cache_rate;   /* MiB/s its page cache grew between its last two statistics */
};

struct expected_resize {
    const char *guest;
    long long delta;  /* MiB */
    const char *peer; /* "host" or a guest's name */
};

struct policy_case {
    const char *rule;
    struct guest_row guests[ROW_GUESTS];
    long long host_free;                       /* MiB */
    long long min_guest;                       /* MiB; 0: MIN_GUEST_MEMORY */
    struct expected_resize expect[ROW_GUESTS]; /* none: no resize at all */
    long long host_promised;                   /* MiB of growths under way; 0: the guests' sum */
    int period;                                /* s; 0: 1 */
    bool between;        /* a look between two PERIODs; false: a PERIOD's look */
    long long returning; /* MiB of shrinks under way; 0: the guests' sum */
    long long untouched; /* MiB of unused memory QEMU does not hold; 0: the sum */
};

static const struct policy_case seed_cases[] = {
    {"nobody starved or wasteful: no change",
     {{"vm1", 512, 200, 2048}, {"vm2", 512, 250, 2048}},
     4096},
    {"a starved guest gets half of the most wasteful guest's unused memory",
     {{"vm1", 512, 100, 2048}, {"vm2", 1024, 800, 2048}, {"vm3", 1024, 500, 2048}},
     4096,
     0,
     {{"vm2", -400, "vm1"}, {"vm1", +400, "vm2"}}},
    {"without a wasteful guest the host feeds the starved one WASTE_THRESHOLD",
     {{"vm1", 512, 100, 2048}, {"vm2", 512, 250, 2048}},
     4096,
     0,
     {{"vm1", +300, "host"}}},
    {"unused exactly at WASTE_THRESHOLD is not wasteful",
     {{"vm1", 512, 100, 2048}, {"vm2", 512, 300, 2048}},
     4096,
     0,
     {{"vm1", +300, "host"}}},
    {"unused exactly at STARVATION_THRESHOLD is not starved",
     {{"vm1", 512, 150, 2048}, {"vm2", 1024, 400, 2048}},
     4096,
     0,
     {{"vm2", -100, "host"}}},
    {"with nobody starved the most wasteful shrinks to keep WASTE_THRESHOLD unused",
     {{"vm1", 512, 200, 2048}, {"vm2", 1024, 700, 2048}, {"vm3", 1024, 600, 2048}},
     4096,
     0,
     {{"vm2", -400, "host"}}},
    {"a shrink stops at the guest floor",
     {{"vm1", 512, 200, 2048}, {"vm2", 1200, 900, 2048}},
     4096,
     1000,
     {{"vm2", -200, "host"}}},
    {"a donor gives no more than it has above the floor",
     {{"vm1", 512, 100, 2048}, {"vm2", 1300, 1000, 2048}},
     4096,
     1000,
     {{"vm2", -300, "vm1"}, {"vm1", +300, "vm2"}}},
    {"a donor at the floor leaves the host to feed the starved guest",
     {{"vm1", 512, 100, 2048}, {"vm2", 1024, 800, 2048}},
     4096,
     1024,
     {{"vm1", +300, "host"}}},
    {"a move stops at the receiver's max and both sides give the same",
     {{"vm1", 1900, 100, 2000}, {"vm2", 1024, 800, 2048}},
     4096,
     0,
     {{"vm2", -100, "vm1"}, {"vm1", +100, "vm2"}}},
    {"growth from the host stops at the guest's max",
     {{"vm1", 2000, 100, 2048}},
     4096,
     0,
     {{"vm1", +48, "host"}}},
    {"a starved guest at its max gets nothing, and the wasteful one is trimmed as usual",
     {{"vm1", 2048, 50, 2048}, {"vm2", 1024, 800, 2048}},
     4096,
     0,
     {{"vm2", -500, "host"}}},
    {"a guest at its max does not keep the next starved guest from being fed",
     {{"vm1", 2048, 50, 2048}, {"vm2", 2048, 60, 2048}, {"vm3", 1024, 100, 2048}},
     4096,
     0,
     {{"vm3", +300, "host"}}},
    {"a guest at the floor is not taken for the most wasteful",
     {{"vm1", 512, 100, 2048}, {"vm2", 1024, 800, 2048}, {"vm3", 1200, 500, 2048}},
     4096,
     1024,
     {{"vm3", -176, "vm1"}, {"vm1", +176, "vm3"}}},
    {"the host gives only what lies above HOST_RESERVE",
     {{"vm1", 512, 100, 2048}},
     400,
     0,
     {{"vm1", +144, "host"}}},
    {"a host at its reserve gives nothing", {{"vm1", 512, 100, 2048}}, 256},
    {"an empty host gives nothing", {{"vm1", 512, 0, 2048}, {"vm2", 512, 200, 2048}}, 0},
    {"a growth smaller than MIN_STEP is not made", {{"vm1", 2040, 100, 2048}}, 4096},
    {"a shrink smaller than MIN_STEP is not made",
     {{"vm1", 512, 200, 2048}, {"vm2", 1024, 310, 2048}},
     4096},
    {"a guest within MIN_STEP of its max is not fed, not even by a move",
     {{"vm1", 2040, 100, 2048}, {"vm2", 1024, 400, 2048}},
     4096,
     0,
     {{"vm2", -100, "host"}}},
    {"on a tie the first guest by name is the most starved",
     {{"vm1", 512, 100, 2048}, {"vm2", 512, 100, 2048}, {"vm3", 1024, 800, 2048}},
     4096,
     0,
     {{"vm3", -400, "vm1"}, {"vm1", +400, "vm3"}}},
    {"on a tie the first guest by name is the most wasteful",
     {{"vm1", 512, 100, 2048}, {"vm2", 1024, 800, 2048}, {"vm3", 1024, 800, 2048}},
     4096,
     0,
     {{"vm2", -400, "vm1"}, {"vm1", +400, "vm2"}}},
    {"when all guests tie nobody gives to itself",
     {{"vm1", 1024, 100, 2048}, {"vm2", 1024, 100, 2048}},
     4096,
     0,
     {{"vm1", +300, "host"}}},
    {"seed decides once a PERIOD: between two, a starved guest waits",
     {{"vm1", 512, 100, 2048}, {"vm2", 1024, 800, 2048}},
     4096,
     0,
     {},
     0,
     3,
     true},
    {"a single starved guest is fed by the host",
     {{"vm1", 512, 100, 2048}},
     4096,
     0,
     {{"vm1", +300, "host"}}},
    {"a single wasteful guest shrinks",
     {{"vm1", 1024, 700, 2048}},
     4096,
     0,
     {{"vm1", -400, "host"}}},
    {"no guests: no change", {{NULL}}, 4096},
    {"a guest without balloon statistics is left alone",
     {{"vm1", 512, NO_STATS, 2048}, {"vm2", 512, 250, 2048}},
     4096},
    {"a guest without statistics never donates",
     {{"vm1", 512, 100, 2048}, {"vm2", 1024, NO_STATS, 2048}},
     4096,
     0,
     {{"vm1", +300, "host"}}},
    {"a settling guest is neither fed nor trimmed",
     {{"vm1", 512, 50, 2048, true}, {"vm2", 1024, 800, 2048, true}},
     4096},
    {"a settling guest does not hide a starved one",
     {{"vm1", 512, 20, 2048, true}, {"vm2", 512, 100, 2048}, {"vm3", 1024, 700, 2048}},
     4096,
     0,
     {{"vm3", -350, "vm2"}, {"vm2", +350, "vm3"}}},
    {"a shrink the statistics do not show yet counts as coming: the guest is not shrunk twice",
     {{"vm1", 1245, 985, 2048, .target = 450, .coming = -795}, {"vm2", 512, 250, 2048}},
     4096},
    {"a shrink the statistics already show is not counted twice: the donor is not starved",
     {{"vm1", 1245, 190, 2048, .target = 450, .coming = 0}, {"vm2", 512, 250, 2048}},
     4096},
    {"a growth under way counts as coming: a guest about to get it is not fed twice",
     {{"vm1", 512, 40, 2048, .target = 762, .coming = 250, .grown = 1}, {"vm2", 512, 250, 2048}},
     4096},
    {"a growth that falls short still leaves a starved guest fed",
     {{"vm1", 512, 40, 2048, .target = 562, .coming = 50, .grown = 1}, {"vm2", 512, 250, 2048}},
     4096,
     0,
     {{"vm1", +300, "host"}}},
    {"a guest whose shrink under way would starve it is fed back",
     {{"vm1", 1200, 500, 2048, .target = 700, .coming = -500}, {"vm2", 512, 250, 2048}},
     4096,
     0,
     {{"vm1", +300, "host"}}},
    {"a new resize counts from the target, not from where the balloon stands",
     {{"vm1", 1200, 1050, 2048, .target = 600, .coming = -600}},
     4096,
     500,
     {{"vm1", -100, "host"}}},
    {"growth room counts from the target",
     {{"vm1", 1900, 0, 2048, .target = 2000, .coming = 100}, {"vm2", 512, 200, 2048}},
     4096,
     0,
     {{"vm1", +48, "host"}}},
    {"a guest just fed is not trimmed: what it was given would go straight back",
     {{"vm1", 1025, 492, 2048, .target = 1716, .grown = 1}, {"vm2", 1536, 250, 2048}},
     4096},
    {"a guest that grew within the hold gives nothing back",
     {{"vm1", 1024, 700, 2048, .grown = GROWN_HOLD_DECISIONS - 1}},
     4096},
    {"a guest that grew a hold ago gives back again",
     {{"vm1", 1024, 700, 2048, .grown = GROWN_HOLD_DECISIONS}},
     4096,
     0,
     {{"vm1", -400, "host"}}},
    {"the hold counts decisions: at PERIOD 6 a guest fed at the last one keeps what it got",
     {{"vm1", 1024, 700, 2048, .grown = 6}},
     4096,
     0,
     {},
     0,
     6},
    {"at PERIOD 6 a guest fed a hold of decisions ago gives back again",
     {{"vm1", 1024, 700, 2048, .grown = 6 * GROWN_HOLD_DECISIONS}},
     4096,
     0,
     {{"vm1", -400, "host"}},
     0,
     6},
    {"a guest just fed is no donor: the host feeds the next starved guest",
     {{"vm1", 512, 100, 2048}, {"vm2", 1024, 800, 2048, .grown = 1}},
     4096,
     0,
     {{"vm1", +300, "host"}}},
    {"a guest just fed is no donor, but a guest that did not grow is",
     {{"vm1", 512, 100, 2048}, {"vm2", 1024, 800, 2048, .grown = 1}, {"vm3", 1024, 600, 2048}},
     4096,
     0,
     {{"vm3", -300, "vm1"}, {"vm1", +300, "vm3"}}},
    {"a balloon that did not follow its last shrink is not asked to give",
     {{"vm1", 512, 100, 2048}, {"vm2", 1024, 800, 2048, .unresponsive = true}},
     4096,
     0,
     {{"vm1", +300, "host"}}},
    {"an unresponsive balloon is not trimmed either",
     {{"vm1", 1024, 800, 2048, .unresponsive = true}},
     4096},
    {"a donor keeps MIN_STEP above the starvation line",
     {{"vm1", 512, 100, 2048}, {"vm2", 1024, 310, 2048}},
     4096,
     0,
     {{"vm2", -144, "vm1"}, {"vm1", +144, "vm2"}}},
    {"growths under way count against the host: it gives only what lies above them and the reserve",
     {{"vm1", 512, 100, 2048}, {"vm2", 512, 100, 2048, .target = 912, .coming = 400, .grown = 1}},
     800,
     0,
     {{"vm1", +144, "host"}}},
    {"a host whose free memory is all promised gives nothing",
     {{"vm1", 512, 100, 2048}, {"vm2", 512, 100, 2048, .target = 1256, .coming = 744, .grown = 1}},
     1000},
    {"half of an odd unused figure is rounded down to whole MiB",
     {{"vm1", 512, 100, 2048}, {"vm2", 1024, 801, 2048}},
     4096,
     0,
     {{"vm2", -400, "vm1"}, {"vm1", +400, "vm2"}}},
    {"seed measures MemFree: a reader whose cache fills its memory is starved, and fed",
     {{"reader", 1024, 70, 2048, .cache = 730}},
     4096,
     0,
     {{"reader", +300, "host"}}},
};

/* PERIOD 1: a guest must last 1 + BALLOON_LAG_S = 3 s on what it has. */
static const struct policy_case adaptive_cases[] = {
    {"nobody needy or wasteful: no change",
     {{"vm1", 512, 240, 2048}, {"vm2", 512, 250, 2048}},
     4096},
    {"a starved guest whose use is flat is fed a quarter into the band",
     {{"vm1", 512, 100, 2048}},
     4096,
     0,
     {{"vm1", +87, "host"}}},
    {"a guest growing fast is fed before it starves, a horizon of its rate ahead",
     {{"vm1", 512, 300, 2048, .rate = 80}},
     4096,
     0,
     {{"vm1", +127, "host"}}},
    {"every needy guest is fed in the same cycle",
     {{"vm1", 512, 100, 2048}, {"vm2", 512, 120, 2048}, {"vm3", 512, 140, 2048}},
     4096,
     0,
     {{"vm1", +87, "host"}, {"vm2", +67, "host"}, {"vm3", +47, "host"}}},
    {"short of memory, the guest that runs out first is fed first",
     {{"vm1", 512, 100, 2048}, {"vm2", 512, 200, 2048, .rate = 50}},
     393,
     0,
     {{"vm2", +137, "host"}}},
    {"the richest donor feeds a needy guest before the host does",
     {{"vm1", 512, 100, 2048}, {"vm2", 1024, 800, 2048}, {"vm3", 1024, 600, 2048}},
     4096,
     0,
     {{"vm2", -87, "vm1"}, {"vm1", +87, "vm2"}}},
    {"each needy guest gets its own donor, then the host",
     {{"vm1", 512, 100, 2048},
      {"vm2", 512, 110, 2048},
      {"vm3", 512, 120, 2048},
      {"vm4", 1024, 800, 2048},
      {"vm5", 1024, 600, 2048}},
     4096,
     0,
     {{"vm4", -87, "vm1"},
      {"vm1", +87, "vm4"},
      {"vm5", -77, "vm2"},
      {"vm2", +77, "vm5"},
      {"vm3", +67, "host"}}},
    {"a donor whose use grows keeps what its growth needs, and a roomy host grows it to its line",
     {{"vm1", 512, 100, 2048}, {"vm2", 1024, 500, 2048, .rate = 100}},
     4096,
     0,
     {{"vm1", +87, "host"}, {"vm2", +100, "host"}}},
    {"on a roomy host a donor gives only what lies above its waste threshold",
     {{"vm1", 512, 100, 2048}, {"vm2", 1024, 380, 2048}},
     4096,
     0,
     {{"vm2", -80, "vm1"}, {"vm1", +80, "vm2"}}},
    {"a donor too poor for the need still gives when the host has less, what the host can carry",
     {{"vm1", 512, 100, 2048, .rate = 50}, {"vm2", 1024, 350, 2048}},
     300,
     0,
     {{"vm2", -44, "vm1"}, {"vm1", +44, "vm2"}}},
    {"a donor that lifts a needy guest to its need gives, though not up to its target",
     {{"vm1", 512, 100, 2048}, {"vm2", 1024, 360, 2048}},
     4096,
     0,
     {{"vm2", -60, "vm1"}, {"vm1", +60, "vm2"}}},
    {"a donor short of the need leaves the host to feed, then gives back down to its line",
     {{"vm1", 512, 100, 2048}, {"vm2", 1024, 230, 2048}},
     300,
     0,
     {{"vm1", +44, "host"}, {"vm2", -42, "host"}}},
    {"a donor with memory due back gives it to the host, which feeds the needy guest",
     {{"vm1", 512, 100, 2048}, {"vm2", 1024, 900, 2048, .wasteful = RETURN_AFTER_CYCLES}},
     4096,
     0,
     {{"vm1", +87, "host"}, {"vm2", -512, "host"}}},
    {"a donor with memory due back feeds the needy guest when the host cannot, what it can carry",
     {{"vm1", 512, 100, 2048}, {"vm2", 1024, 900, 2048, .wasteful = RETURN_AFTER_CYCLES}},
     306,
     0,
     {{"vm2", -50, "vm1"}, {"vm1", +50, "vm2"}}},
    {"a guest that reports little free while its QEMU never touched its memory is not fed",
     {{"liar", 1024, 100, 16384, .unheld = 700}},
     4096},
    {"a guest whose QEMU holds what it reports in use is fed",
     {{"honest", 1024, 100, 16384, .unheld = 100}},
     4096,
     0,
     {{"honest", +87, "host"}}},
    {"a guest at its max is not fed, and the next needy guest is",
     {{"vm1", 2048, 50, 2048, .rate = 50}, {"vm2", 512, 100, 2048}},
     4096,
     0,
     {{"vm2", +87, "host"}}},
    {"a needy guest within MIN_STEP of its max gets the last MiB: without them it runs out",
     {{"vm1", 2040, 100, 2048, .rate = 20}},
     4096,
     0,
     {{"vm1", +8, "host"}}},
    {"and by a move as well as from the host",
     {{"vm1", 2040, 100, 2048, .rate = 20}, {"vm2", 1024, 800, 2048}},
     4096,
     0,
     {{"vm2", -8, "vm1"}, {"vm1", +8, "vm2"}}},
    {"a guest with virtio-mem is one size to the policy, fed up to its max (boot + device)",
     {{"vmem", 2500, 50, 2560}},
     4096,
     0,
     {{"vmem", +60, "host"}}},
    {"a balloon-only guest gives to a virtio-mem guest already past its boot memory",
     {{"vm2", 1024, 800, 2048}, {"vmem", 1500, 100, 2560}},
     4096,
     0,
     {{"vm2", -87, "vmem"}, {"vmem", +87, "vm2"}}},
    {"a growth under way counts: a guest about to get memory is not fed twice",
     {{"vm1", 512, 40, 2048, .target = 762, .coming = 250, .grown = 1}},
     4096},
    {"hysteresis: a guest above the waste threshold for a moment keeps its memory",
     {{"vm1", 1024, 700, 2048, .wasteful = RETURN_AFTER_CYCLES - 1}},
     4096},
    {"memory goes back from a quiet wasteful guest a bounded step a cycle",
     {{"vm1", 1024, 900, 2048, .wasteful = RETURN_AFTER_CYCLES}},
     4096,
     0,
     {{"vm1", -RETURN_STEP, "host"}}},
    {"on a roomy host a guest at rest gives back only what its QEMU holds",
     {{"vm1", 1024, 900, 2048, .wasteful = RETURN_AFTER_CYCLES, .untouched = 700}},
     4096,
     0,
     {{"vm1", -200, "host"}}},
    {"on a roomy host memory a guest never touched stays: its next burst's headroom",
     {{"vm1", 512, 406, 2048, .wasteful = 9, .untouched = 406}},
     4096},
    {"a guest that burst faster than a look can follow keeps room for that burst a while",
     {{"vm1", 1024, 900, 2048, .wasteful = 9, .burst = 800}},
     4096},
    {"and gives back only what lies beyond it",
     {{"vm1", 1600, 1400, 2048, .wasteful = 9, .burst = 800}},
     4096,
     0,
     {{"vm1", -450, "host"}}},
    {"the last step back leaves the waste threshold unused",
     {{"vm1", 1024, 400, 2048, .wasteful = RETURN_AFTER_CYCLES}},
     4096,
     0,
     {{"vm1", -100, "host"}}},
    {"a wasteful guest whose use grows keeps the waste threshold a horizon ahead",
     {{"vm1", 1024, 580, 2048, .rate = 100, .wasteful = 9}},
     4096},
    {"a wasteful guest whose use grows gives back what lies beyond a horizon's growth",
     {{"vm1", 1024, 900, 2048, .rate = 100, .wasteful = 9}},
     4096,
     0,
     {{"vm1", -300, "host"}}},
    {"a guest just fed gives nothing back, though its use dips as a balloon's move can show",
     {{"vm1", 1024, 700, 2048, .rate = -50, .grown = 1, .wasteful = 9}},
     4096},
    {"a guest that frees memory gives back though just fed: what it freed was its own",
     {{"vm1", 1024, 700, 2048, .rate = -200, .grown = 1, .wasteful = 9}},
     4096,
     0,
     {{"vm1", -400, "host"}}},
    {"a donor that frees memory gives though just fed",
     {{"vm1", 512, 100, 2048}, {"vm2", 1024, 800, 2048, .rate = -200, .grown = 1}},
     4096,
     0,
     {{"vm2", -87, "vm1"}, {"vm1", +87, "vm2"}}},
    {"a growth first seen between two PERIODs is served in the same second",
     {{"vm1", 512, 300, 2048, .rate = 80}},
     4096,
     0,
     {{"vm1", +127, "host"}},
     0,
     10,
     true},
    {"a guest that sends statistics every 5 s must last until its next ones",
     {{"vm1", 512, 300, 2048, .rate = 80, .interval = 5}},
     4096,
     0,
     {{"vm1", +447, "host"}}},
    {"between two PERIODs a roomy host takes nothing back",
     {{"vm1", 1024, 900, 2048, .wasteful = 9}},
     4096,
     0,
     {},
     0,
     10,
     true},
    {"a guest at rest on a roomy host keeps what lies below the waste threshold",
     {{"vm1", 1024, 290, 2048}},
     4096},
    {"the same guest on a host at its reserve gives down to what a needy guest is fed up to",
     {{"vm1", 1024, 290, 2048}},
     256,
     0,
     {{"vm1", -102, "host"}},
     0,
     10,
     true},
    {"near its reserve the host takes back deeper, the nearer the deeper",
     {{"vm1", 1024, 290, 2048}},
     256 + 512,
     0,
     {{"vm1", -46, "host"}},
     0,
     10,
     true},
    {"under pressure an idle guest gives before a growing one, only what the host lacks",
     {{"vm1", 1024, 500, 2048}, {"vm2", 1024, 900, 2048, .rate = 20}},
     256 + 824,
     0,
     {{"vm1", -200, "host"}},
     0,
     10,
     true},
    {"under pressure a growing guest gives when the idle ones cannot cover the need",
     {{"vm1", 1024, 300, 2048}, {"vm2", 1024, 900, 2048, .rate = 20}},
     256 + 200,
     0,
     {{"vm1", -90, "host"}, {"vm2", -512, "host"}},
     0,
     10,
     true},
    {"memory the guests may touch at any moment is not the host's to give",
     {{"vm1", 512, 100, 2048}, {"vm2", 1024, 550, 2048, .grown = 1, .untouched = 550}},
     256 + 600,
     0,
     {{"vm1", +50, "host"}}},
    {"nor when the guests owe the host all its room and it is near its reserve",
     {{"vm1", 512, 100, 2048}, {"vm2", 1024, 600, 2048, .grown = 1, .untouched = 600}},
     256 + 600},
    {"a guest short of its bare need is fed that from free memory the guests may touch, while the "
     "host keeps its comfort",
     {{"vm1", 512, 100, 2048}, {"vm2", 2048, 1500, 4096, .grown = 1, .untouched = 1500}},
     256 + 1500,
     0,
     {{"vm1", +50, "host"}}},
    {"a donor feeds a needy guest where the guests' untouched memory leaves no room: the host "
     "carries the move from its free memory while it keeps its comfort",
     {{"vm1", 512, 100, 2048},
      {"vm2", 1024, 700, 2048, .wasteful = 9},
      {"vm3", 4096, 3000, 4096, .grown = 1, .untouched = 3000}},
     256 + 1024 + 1000,
     0,
     {{"vm2", -87, "vm1"}, {"vm1", +87, "vm2"}}},
    {"a guest of fewer shares too: shares say who gives back first, not who starves beside free "
     "memory",
     {{"vm1", 512, 100, 2048, .shares = 500},
      {"vm2", 2048, 1500, 4096, .grown = 1, .untouched = 1500, .shares = 1000}},
     256 + 1500,
     0,
     {{"vm1", +50, "host"}}},
    {"but only its bare need, not the quarter band a roomy host adds",
     {{"vm1", 512, 120, 2048, .shares = 500},
      {"vm2", 2048, 1500, 4096, .grown = 1, .untouched = 1500, .shares = 1000}},
     256 + 1500,
     0,
     {{"vm1", +30, "host"}}},
    {"memory on its way back to the host counts: no more is taken",
     {{"vm1", 1024, 500, 2048}, {"vm2", 1848, 200, 2048, .target = 1024}},
     256 + 200,
     0,
     {},
     0,
     10,
     true},
    {"no guest shrinks below its guarantee",
     {{"vm1", 1024, 900, 2048, .wasteful = 9, .guarantee = 1000}},
     4096,
     0,
     {{"vm1", -24, "host"}}},
    {"a donor at its guarantee gives nothing: the host feeds",
     {{"vm1", 512, 100, 2048}, {"vm2", 1024, 800, 2048, .guarantee = 1024}},
     4096,
     0,
     {{"vm1", +87, "host"}}},
    {"a guest with more shares is fed first when the host cannot feed both",
     {{"vm1", 512, 100, 2048, .rate = 30, .shares = 1000},
      {"vm2", 512, 100, 2048, .rate = 30, .shares = 2000}},
     256 + 100,
     0,
     {{"vm2", +100, "host"}}},
    {"equal shares under contention: the guest being fed is fed whole, the other left short",
     {{"vm1", 512, 100, 2048, .grown = 1, .rate = 30}, {"vm2", 512, 90, 2048, .rate = 30}},
     256 + 250,
     0,
     {{"vm1", +177, "host"}}},
    {"equal shares under contention: the guest fed last stays ahead of one fed before",
     {{"vm1", 512, 90, 2048, .grown = 2, .rate = 30},
      {"vm2", 512, 100, 2048, .grown = 1, .rate = 30}},
     256 + 250,
     0,
     {{"vm2", +177, "host"}}},
    {"equal shares, none being fed: the one that runs out first is fed whole",
     {{"vm1", 512, 100, 2048, .rate = 30}, {"vm2", 512, 90, 2048, .rate = 30}},
     256 + 250,
     0,
     {{"vm2", +187, "host"}}},
    {"under contention a grower fed a look ago stays chosen while it grows, though not needy now",
     {{"g1", 512, 400, 2048, .grown = 1, .rate = 61}, {"g2", 512, 64, 2048, .rate = 58}},
     256 + 519},
    {"a claim that does not fit is not counted: a later guest that needs little is still fed",
     {{"a-fast", 512, 100, 8192, .grown = 1, .rate = 30},
      {"b-big", 512, 100, 8192, .rate = 200},
      {"c-flat", 512, 140, 2048}},
     256 + 600,
     0,
     {{"a-fast", +177, "host"}, {"c-flat", +47, "host"}}},
    {"a grower left out under contention is still fed its bare need from free memory beyond the "
     "host's comfort, where the guests' untouched memory leaves no room",
     {{"vm1", 512, 100, 2048, .grown = 1, .rate = 30},
      {"vm2", 512, 90, 2048, .rate = 30},
      {"vm3", 2048, 1400, 2048, .grown = 1, .untouched = 1400}},
     256 + 1024 + 300,
     0,
     {{"vm1", +140, "host"}, {"vm2", +150, "host"}}},
    {"but not from free memory the chosen grower's claim counts on",
     {{"vm1", 512, 100, 4096, .grown = 1, .rate = 100}, {"vm2", 512, 90, 4096, .rate = 100}},
     256 + 1024 + 600,
     0,
     {{"vm1", +387, "host"}}},
    {"a donor too poor to give blocks no richer donor behind it",
     {{"low", 512, 40, 2048, .shares = 500},
      {"rich", 1024, 900, 2048, .shares = 1000, .wasteful = 5},
      {"tiny", 1024, 305, 2048, .shares = 1000, .wasteful = 5}},
     256 + 1024,
     0,
     {{"rich", -147, "low"}, {"low", +147, "rich"}, {"tiny", -21, "host"}}},
    {"with room for every claim, every grower is fed",
     {{"vm1", 512, 100, 2048, .grown = 1, .rate = 30}, {"vm2", 512, 90, 2048, .rate = 30}},
     4096,
     0,
     {{"vm1", +177, "host"}, {"vm2", +187, "host"}}},
    {"a hostile claim by a guest of fewer shares takes none of the host's last comfort",
     {{"vm1", 512, 100, 2048, .rate = 5000, .shares = 1000},
      {"vm2", 1024, 220, 2048, .shares = 2000}},
     256 + 500},
    {"the same claim by a guest of equal shares is fed what the host has",
     {{"vm1", 512, 100, 2048, .rate = 5000, .shares = 2000},
      {"vm2", 1024, 220, 2048, .shares = 2000}},
     256 + 500,
     0,
     {{"vm1", +500, "host"}, {"vm2", -32, "host"}}},
    {"under pressure, untouched memory goes back too: the host owes it to the guest",
     {{"vm1", 1024, 600, 2048, .untouched = 600}},
     256 + 824 + 600, /* the host holds what the guests never touched */
     0,
     {{"vm1", -200, "host"}},
     0,
     10,
     true},
    {"short of room only for what guests may touch, the host trims them level, no deeper than "
     "the waste line",
     {{"vm1", 1024, 700, 2048, .untouched = 700}, {"vm2", 2048, 1500, 4096, .untouched = 1500}},
     256 + 2000, /* gigabytes free, but the guests may touch more */
     0,
     {{"vm2", -512, "host"}, {"vm1", -112, "host"}},
     0,
     10,
     true},
    {"short of room only for what guests may touch, a guest that burst keeps room for its burst",
     {{"vm1", 1024, 700, 2048, .untouched = 700, .burst = 600},
      {"vm2", 2048, 1500, 4096, .untouched = 1500}},
     256 + 2000, /* gigabytes free, but the guests may touch more */
     0,
     {{"vm2", -512, "host"}},
     0,
     10,
     true},
    {"on a roomy host a guest trimmed below its line grows back to it: here, room for its burst",
     {{"vm1", 1024, 300, 2048, .burst = 600}},
     256 + 1024 + 450,
     0,
     {{"vm1", +450, "host"}}},
    {"but not where its growth would take the host's comfort",
     {{"vm1", 1024, 300, 2048, .burst = 600}},
     256 + 1024 + 449},
    {"nor by less than half the band: its line wobbles with its rate",
     {{"vm1", 1024, 226, 2048}},
     4096},
    {"memory its QEMU does not hold counts as free to a guest's line, whatever it reports",
     {{"vm1", 1024, 300, 2048, .unheld = 700, .burst = 600}},
     4096},
    {"near its reserve the host takes a burst's room back too",
     {{"vm1", 1024, 900, 2048, .burst = 800}},
     256 + 100,
     0,
     {{"vm1", -512, "host"}},
     0,
     10,
     true},
    {"under pressure, guests of equal shares give the richest first, down to one level",
     {{"vm1", 1024, 600, 2048, .untouched = 600}, {"vm2", 1024, 900, 2048, .untouched = 900}},
     256 + 624 + 1500, /* the host holds what the guests never touched */
     0,
     {{"vm1", -50, "host"}, {"vm2", -350, "host"}},
     0,
     10,
     true},
    {"under pressure, a guest with fewer shares gives back first",
     {{"vm1", 1024, 600, 2048, .shares = 2000, .untouched = 100},
      {"vm2", 1024, 600, 2048, .shares = 1000, .untouched = 300}},
     256 + 824 + 400, /* the host holds what the guests never touched */
     0,
     {{"vm2", -200, "host"}},
     0,
     10,
     true},
    {"under pressure a donor gives a guest of fewer shares only what lies above its waste line",
     {{"vm1", 512, 100, 2048, .rate = 50, .shares = 1000},
      {"vm2", 1024, 500, 2048, .shares = 2000}},
     256 + 400,
     0,
     {{"vm2", -200, "vm1"}, {"vm1", +200, "vm2"}}},
    {"a donor below its waste threshold keeps its memory on a roomy host, which feeds",
     {{"vm1", 512, 100, 2048}, {"vm2", 1024, 250, 2048}},
     4096,
     0,
     {{"vm1", +87, "host"}}},
    {"on a host at its reserve the donor gives down to its line, to the host, which feeds later",
     {{"vm1", 512, 100, 2048}, {"vm2", 1024, 250, 2048}},
     256,
     0,
     {{"vm2", -62, "host"}}},
    {"growths under way count against the host",
     {{"vm1", 512, 100, 2048}, {"vm2", 512, 100, 2048, .target = 1212, .coming = 700, .grown = 1}},
     1000,
     0,
     {{"vm1", +44, "host"}}},
    {"a reader whose page cache fills its free memory is not fed: it can drop the cache",
     {{"reader", 1024, 70, 2048, .cache = 730}},
     4096},
    {"on a roomy host a reader keeps its cache, a PERIOD's look too",
     {{"reader", 1024, 70, 2048, .wasteful = 9, .cache = 730}},
     4096},
    {"on a roomy host a reader gives only what its MemFree holds above the waste threshold",
     {{"reader", 1024, 400, 2048, .wasteful = 9, .cache = 400}},
     4096,
     0,
     {{"reader", -100, "host"}}},
    {"on a roomy host a reader's cache feeds no needy guest: the host does",
     {{"grower", 512, 100, 2048}, {"reader", 1024, 70, 2048, .cache = 730}},
     4096,
     0,
     {{"grower", +87, "host"}}},
    {"a host short of room feeds a grower, and a reader's cache goes back first, a step whole",
     {{"grower", 512, 100, 2048, .rate = 30},
      {"idle", 1024, 400, 2048},
      {"reader", 1024, 70, 2048, .cache = 730}},
     256 + 300,
     0,
     {{"grower", +177, "host"}, {"reader", -512, "host"}, {"idle", -198, "host"}}},
    {"a host at its reserve feeds a grower from a reader's cache once the host can carry it",
     {{"grower", 512, 100, 2048, .rate = 30}, {"reader", 1024, 70, 2048, .cache = 730}},
     256,
     0,
     {{"reader", -177, "host"}}},
    {"under pressure a guest filling its page cache gives first all above its line, at once",
     {{"vm1", 1024, 500, 2048}, {"reader", 2048, 70, 2048, .cache = 900, .cache_rate = 50}},
     256 + 824,
     0,
     {{"reader", -512, "host"}},
     0,
     10,
     true},
    {"under pressure a reader's cache and a guest's free memory QEMU never touched go back level",
     {{"idle", 1024, 600, 2048, .untouched = 600}, {"reader", 1024, 70, 2048, .cache = 530}},
     256 + 824 + 600,
     0,
     {{"idle", -100, "host"}, {"reader", -100, "host"}},
     0,
     10,
     true,
     0,
     600},
    {"a balloon that deflated itself on an OOM is not shrunk below that size",
     {{"vm1", 1024, 900, 2048, .wasteful = 9, .deflated = 1024}},
     256,
     0,
     {{NULL}},
     0,
     10},
    {"a balloon that deflated itself and grew since is shrunk down to that size at most",
     {{"vm1", 1536, 900, 2048, .wasteful = 9, .deflated = 1024}},
     256,
     0,
     {{"vm1", -512, "host"}},
     0,
     10},
};

static struct config test_config(const struct policy *policy, long long min_guest_mib)
{
    struct config cfg = default_config();

    cfg.policy = policy;
    if (min_guest_mib)
        cfg.min_guest_kib = min_guest_mib * 1024;
    return cfg;
}

static size_t build_guests(const struct guest_row *rows, struct guest *guests)
{
    size_t n = 0;

    for (; n < ROW_GUESTS && rows[n].name; n++)
        guests[n] = (struct guest){
            .name = rows[n].name,
            .actual_kib = rows[n].actual * 1024,
            .target_kib = (rows[n].target ? rows[n].target : rows[n].actual) * 1024,
            .unused_kib = rows[n].unused == NO_STATS ? 0 : rows[n].unused * 1024,
            .coming_kib = rows[n].coming * 1024,
            .max_kib = rows[n].max * 1024,
            .use_rate_kib_s = rows[n].rate * 1024,
            /* A rate is measured over statistics a second apart or more. */
            .stats_interval_s = rows[n].interval ? rows[n].interval
                                : rows[n].rate   ? 1
                                                 : 0,
            .shares = rows[n].shares,
            .guarantee_kib = rows[n].guarantee * 1024,
            .usable_kib = rows[n].unused == NO_STATS ? 0 : (rows[n].unused + rows[n].cache) * 1024,
            .resident_usable_kib = (rows[n].unused + rows[n].cache - rows[n].untouched) * 1024,
            .deflated_kib = rows[n].deflated * 1024,
            .unheld_kib = rows[n].unheld * 1024,
            .burst_kib = rows[n].burst * 1024,
            .cache_rate_kib_s = rows[n].cache_rate * 1024,

            .cycles_wasteful = rows[n].wasteful,
            .cycles_since_growth = rows[n].grown ? rows[n].grown : ULONG_MAX,
            .has_unused = rows[n].unused != NO_STATS,
            .settling = rows[n].settling,
            .unresponsive = rows[n].unresponsive,
        };
    return n;
}

static void check_expected(const struct policy_case *row, const struct snapshot *snap,
                           const struct plan *plan, struct verdict *v)
{
    size_t expected = 0;

    for (; expected < ROW_GUESTS && row->expect[expected].guest; expected++) {
        const struct expected_resize *e = &row->expect[expected];
        const struct resize *r = NULL;

        for (size_t i = 0; i < plan->count; i++)
            if (plan->resizes[i].guest < snap->count && /* else the rules said so */
                strcmp(snap->guests[plan->resizes[i].guest].name, e->guest) == 0)
                r = &plan->resizes[i];
        if (!r)
            fail(v, "%s not resized, expected %+lld MiB (%s)", e->guest, e->delta, e->peer);
        else if (r->delta_kib != e->delta * 1024 || strcmp(peer_name(snap, r), e->peer) != 0)
            fail(v, "%s %+lld KiB (%s), expected %+lld MiB (%s)", e->guest, r->delta_kib,
                 peer_name(snap, r), e->delta, e->peer);
    }
    if (plan->count != expected) {
        char planned[512] = "";

        for (size_t i = 0; i < plan->count && plan->resizes[i].guest < snap->count; i++)
            snprintf(planned + strlen(planned), sizeof(planned) - strlen(planned), " %s %+lld KiB",
                     snap->guests[plan->resizes[i].guest].name, plan->resizes[i].delta_kib);
        fail(v, "%zu resizes, expected %zu:%s", plan->count, expected, planned);
    }
}

/* A snapshot read_cycle could hand the policy: the host's growths, shrinks
 * and untouched memory are its guests' sums, and a guest (see_guest) counts
 * looks above the waste threshold only while it is there, and has a rate of
 * use only once it has sent two statistics. A row the daemon could never produce
 * tests a situation that never happens, and hides the one it meant to. */
static void check_producible(const struct snapshot *snap, const struct config *cfg,
                             struct verdict *v)
{
    long long promised = 0, returning = 0, untouched_kib = 0;

    for (size_t i = 0; i < snap->count; i++) {
        const struct guest *g = &snap->guests[i];

        promised += growth_under_way(g);
        returning += shrink_under_way(g);
        untouched_kib += untouched(g);
        if (g->cycles_wasteful && !(guest_measured(g) && expected_usable(g) > cfg->waste_kib))
            fail(v, "%s wasteful for %lu looks with %lld KiB usable: no daemon sees that", g->name,
                 g->cycles_wasteful, expected_usable(g));
        if (g->use_rate_kib_s && !g->stats_interval_s)
            fail(v, "%s has a rate of use from fewer than two statistics", g->name);
    }
    if (snap->host_promised_kib != promised || snap->host_returning_kib != returning ||
        snap->host_untouched_kib != untouched_kib)
        fail(v,
             "the host owes %lld, gets back %lld and lends %lld KiB; its guests add up to "
             "%lld, %lld and %lld: no daemon reads that",
             snap->host_promised_kib, snap->host_returning_kib, snap->host_untouched_kib, promised,
             returning, untouched_kib);
}

static void run_case(const struct policy *policy, const struct policy_case *row)
{
    struct guest guests[ROW_GUESTS];
    struct resize resizes[ROW_GUESTS];
    struct config cfg = test_config(policy, row->min_guest);
    struct snapshot snap = {.guests = guests,
                            .host_free_kib = row->host_free * 1024,
                            .host_promised_kib = row->host_promised * 1024,
                            .host_returning_kib = row->returning * 1024,
                            .host_untouched_kib = row->untouched * 1024,
                            .period_due = !row->between};
    size_t slots[ROW_GUESTS] = {0};
    struct plan plan = {.resizes = resizes, .slot_of = slots};
    struct verdict v = {0};
    char name[256];

    if (row->period)
        cfg.period_s = row->period;
    snap.count = build_guests(row->guests, guests);
    /* As read_cycle sums them; a row that says otherwise fails. */
    for (size_t i = 0; i < snap.count; i++) {
        snap.host_promised_kib += row->host_promised ? 0 : growth_under_way(&guests[i]);
        snap.host_returning_kib += row->returning ? 0 : shrink_under_way(&guests[i]);
        snap.host_untouched_kib += row->untouched ? 0 : untouched(&guests[i]);
    }
    check_producible(&snap, &cfg, &v);
    policy->plan(&snap, &cfg, &plan);
    check_rules(&snap, &cfg, &plan, &v);
    check_expected(row, &snap, &plan, &v);
    snprintf(name, sizeof(name), "%s: %s", policy->name, row->rule);
    report(name, &v);
}

/* Small numbers, near the thresholds and limits, make the rules' edges likely. */
static long long random_mib(unsigned *seed, long long low, long long high)
{
    return low + (long long)(rand_r(seed) % (unsigned)(high - low + 1));
}

static void random_snapshots(const struct policy *policy, int rounds)
{
    unsigned seed = 20261126;
    struct verdict v = {0};
    char name[256];

    for (int round = 0; round < rounds && !v.failed; round++) {
        struct guest guests[ROW_GUESTS];
        struct resize resizes[ROW_GUESTS];
        struct config cfg = test_config(policy, random_mib(&seed, 64, 600));
        struct snapshot snap = {.guests = guests,
                                .count = (size_t)random_mib(&seed, 0, ROW_GUESTS)};
        size_t slots[ROW_GUESTS] = {0};
        struct plan plan = {.resizes = resizes, .slot_of = slots};

        cfg.min_step_kib = random_mib(&seed, 1, 64) * 1024;
        cfg.host_reserve_kib = random_mib(&seed, 0, 512) * 1024;
        cfg.hold_decisions = (unsigned long)random_mib(&seed, 0, 8);
        cfg.period_s = (int)random_mib(&seed, 1, 10);
        cfg.host_comfort_kib = random_mib(&seed, 0, 2048) * 1024;
        snap.period_due = random_mib(&seed, 0, 1);
        snap.host_free_kib = random_mib(&seed, 0, 2048) * 1024 + random_mib(&seed, 0, 1023);
        snap.host_promised_kib = random_mib(&seed, 0, 3) ? 0 : random_mib(&seed, 0, 1024) * 1024;
        snap.host_returning_kib = random_mib(&seed, 0, 3) ? 0 : random_mib(&seed, 0, 1024) * 1024;
        snap.host_untouched_kib = random_mib(&seed, 0, 3) ? 0 : random_mib(&seed, 0, 1024) * 1024;
        for (size_t i = 0; i < snap.count; i++) {
            long long max = random_mib(&seed, 128, 4096) * 1024;
            long long actual = random_mib(&seed, 64 * 1024, max);
            bool moving = random_mib(&seed, 0, 3) == 0;
            long long target = moving ? random_mib(&seed, 64 * 1024, max) : actual;

            guests[i] = (struct guest){
                .name = "guest",
                .actual_kib = actual,
                .target_kib = target,
                .unused_kib = random_mib(&seed, 0, actual),
                .usable_kib = random_mib(&seed, 0, actual),
                .coming_kib = moving ? random_mib(&seed, min_ll(0, target - actual),
                                                  max_ll(0, target - actual))
                                     : 0,
                .max_kib = max,
                .cycles_since_growth =
                    random_mib(&seed, 0, 1) ? ULONG_MAX : (unsigned long)random_mib(&seed, 0, 9),
                .use_rate_kib_s = random_mib(&seed, -200, 300) * 1024,
                .stats_interval_s = (int)random_mib(&seed, 0, STALE_STATS_S),
                .shares = (unsigned)random_mib(&seed, 1, 3) * 1000,
                .guarantee_kib = random_mib(&seed, 0, 3) ? 0 : random_mib(&seed, 0, 4096) * 1024,
                .resident_usable_kib = random_mib(&seed, -100, 512) * 1024,
                .deflated_kib = random_mib(&seed, 0, 3) ? 0 : random_mib(&seed, 0, 4096) * 1024,
                .cycles_wasteful = (unsigned long)random_mib(&seed, 0, 5),
                .has_unused = random_mib(&seed, 0, 9) > 0,
                .settling = random_mib(&seed, 0, 9) == 0,
                .unresponsive = random_mib(&seed, 0, 9) == 0,
            };
        }
        policy->plan(&snap, &cfg, &plan);
        check_rules(&snap, &cfg, &plan, &v);
        if (v.failed)
            fail(&v, "round %d", round);
    }
    snprintf(name, sizeof(name), "%s: the rules hold on %d random snapshots", policy->name, rounds);
    report(name, &v);
}

/* A figure at or near a limit more often than not: zero, a page, a MiB, the
 * largest the daemon lets through (MAX_MIB), or anything in between. */
static long long edgy_kib(unsigned *seed)
{
    static const long long edges[] = {
        0, 1, 4, 1023, 1024, 1025, MAX_MIB * 1024 - 1, MAX_MIB * 1024};

    if (rand_r(seed) % 2)
        return edges[rand_r(seed) % (sizeof(edges) / sizeof(edges[0]))];
    return (long long)((unsigned long long)rand_r(seed) * (unsigned long long)rand_r(seed) %
                       (unsigned long long)(MAX_MIB * 1024 + 1));
}

/* Up to 500 guests whose figures need not make sense together (unused above
 * the balloon, a balloon above its max, zeros), with thresholds and host
 * figures at their limits too: whatever the policy decides keeps the rules. */
static void nonsense_snapshots(const struct policy *policy, int rounds)
{
    unsigned seed = 8;
    struct verdict v = {0};
    char name[256];
    struct guest *guests = calloc(501, sizeof(*guests));
    struct resize *resizes = calloc(501, sizeof(*resizes));
    size_t *slots = calloc(501, sizeof(*slots));

    for (int round = 0; round < rounds && !v.failed && guests && resizes && slots; round++) {
        struct config cfg = test_config(policy, 0);
        struct snapshot snap = {.guests = guests, .count = (size_t)rand_r(&seed) % 501};
        struct plan plan = {.resizes = resizes, .slot_of = slots};

        memset(slots, 0, 501 * sizeof(*slots));
        cfg.starve_kib = edgy_kib(&seed);
        cfg.waste_kib = cfg.starve_kib + 1 + edgy_kib(&seed) % (MAX_MIB * 1024);
        cfg.min_guest_kib = edgy_kib(&seed);
        cfg.host_reserve_kib = edgy_kib(&seed);
        cfg.min_step_kib = 1 + edgy_kib(&seed);
        cfg.hold_decisions = (unsigned long)rand_r(&seed) % 10;
        cfg.period_s = 1 + rand_r(&seed) % MAX_PERIOD;
        cfg.host_comfort_kib = edgy_kib(&seed);
        snap.period_due = rand_r(&seed) % 2;
        snap.host_free_kib = edgy_kib(&seed);
        snap.host_promised_kib = edgy_kib(&seed);
        snap.host_returning_kib = edgy_kib(&seed);
        snap.host_untouched_kib = edgy_kib(&seed);
        for (size_t i = 0; i < snap.count; i++) {
            long long actual = edgy_kib(&seed),
                      target = rand_r(&seed) % 2 ? actual : edgy_kib(&seed);

            guests[i] = (struct guest){
                .name = "guest",
                .actual_kib = actual,
                .target_kib = target,
                .max_kib = edgy_kib(&seed),
                .unused_kib = edgy_kib(&seed),
                .usable_kib = edgy_kib(&seed),
                .coming_kib = rand_r(&seed) % 2 ? 0 : target - actual,
                .use_rate_kib_s = edgy_kib(&seed) - edgy_kib(&seed),
                .stats_interval_s = rand_r(&seed) % (STALE_STATS_S + 1),
                .shares = (unsigned)rand_r(&seed),
                .guarantee_kib = edgy_kib(&seed),
                .resident_usable_kib = edgy_kib(&seed),
                .deflated_kib = edgy_kib(&seed),
                .cycles_wasteful = (unsigned long)rand_r(&seed) % 6,
                .cycles_since_growth =
                    rand_r(&seed) % 2 ? ULONG_MAX : (unsigned long)rand_r(&seed) % 9,
                .has_unused = rand_r(&seed) % 8 != 0,
                .settling = rand_r(&seed) % 8 == 0,
                .unresponsive = rand_r(&seed) % 8 == 0,
            };
        }
        policy->plan(&snap, &cfg, &plan);
        check_rules(&snap, &cfg, &plan, &v);
        if (v.failed)
            fail(&v, "round %d", round);
    }
    if (!guests || !resizes || !slots)
        fail(&v, "out of memory");
    free(guests);
    free(resizes);
    free(slots);
    snprintf(name, sizeof(name),
             "%s: the rules hold on %d snapshots of up to 500 guests with figures at their limits",
             policy->name, rounds);
    report(name, &v);
}

/* The mechanism layer: where a guest's new total goes between its balloon
 * (ceiling: its boot memory) and its virtio-mem (2 MiB blocks). */
static void test_split(void)
{
    static const struct {
        const char *rule;
        long long size, ceiling, total; /* MiB; size 0: no virtio-mem */
        long long balloon, requested;   /* MiB expected */
    } rows[] = {
        {"a guest without virtio-mem: all of it is balloon", 0, 2048, 700, 700, 0},
        {"below the balloon's ceiling: balloon only", 2048, 512, 400, 400, 0},
        {"at the ceiling: balloon only", 2048, 512, 512, 512, 0},
        {"past the ceiling: virtio-mem plugs the rest", 2048, 512, 1500, 512, 988},
        {"virtio-mem plugs whole blocks; the balloon gives back the odd MiB", 2048, 512, 1001, 511,
         490},
        {"giving back above the ceiling, only virtio-mem shrinks", 2048, 512, 700, 512, 188},
        {"no more than the device holds", 2048, 512, 2560, 512, 2048},
    };
    struct verdict v = {0};

    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct virtio_mem mem = {.sizes_kib = rows[i].size * 1024,
                                 .size_kib = rows[i].size * 1024,
                                 .block_kib = rows[i].size ? 2048 : 0};
        long long balloon, requested;

        split_memory(&mem, rows[i].ceiling * 1024, rows[i].total * 1024, &balloon, &requested);
        if (balloon != rows[i].balloon * 1024 || requested != rows[i].requested * 1024)
            fail(&v, "%s: balloon %lld KiB, virtio-mem %lld KiB", rows[i].rule, balloon, requested);
    }
    report("mechanism: a total splits into balloon up to its ceiling, virtio-mem beyond", &v);
}

int main(void)
{
    const struct policy *seed = find_policy("seed");

    const struct policy *adaptive = find_policy("adaptive");

    for (size_t i = 0; i < sizeof(seed_cases) / sizeof(seed_cases[0]); i++)
        run_case(seed, &seed_cases[i]);
    for (size_t i = 0; i < sizeof(adaptive_cases) / sizeof(adaptive_cases[0]); i++)
        run_case(adaptive, &adaptive_cases[i]);
    for (size_t i = 0; i < sizeof(policies) / sizeof(policies[0]); i++) {
        random_snapshots(&policies[i], 20000);
        nonsense_snapshots(&policies[i], 300);
    }
    test_split();
    return tests_status();
}
