/*
 * The coordinator against real libvirt: the test driver, in this process,
 * loaded from a node XML. Each test opens its own connection, and with it a
 * fresh copy of the node. Usage: test_libvirt NODES_DIR (an absolute path).
 */
#include "mem_coordinator.c"
#include "check.h"

#include <fcntl.h>
#include <unistd.h>

#ifdef __SANITIZE_ADDRESS__
#define UNDER_ASAN 1
#else
#define UNDER_ASAN 0
#endif

static const char *nodes_dir;

/* Each test starts with no warning said yet: one a test before it said
 * would be held back as a repeat. */
static struct coordinator open_node(const char *node_file)
{
    struct coordinator co = {.cfg = default_config(), .opt = {.period_s = 1}};
    char uri[PATH_MAX + 16];

    memset(warnings_said, 0, sizeof(warnings_said));

    co.cfg.policy = find_policy("seed"); /* the decisions these tests expect are seed's */
    snprintf(uri, sizeof(uri), "test://%s/%s", nodes_dir, node_file);
    use_connection(&co, connect_libvirt(uri));
    clock_gettime(CLOCK_MONOTONIC, &co.started);
    return co;
}

static void close_node(struct coordinator *co)
{
    close_connection(co);
    free(co->history);
}

/* A guest's balloon size in MiB as libvirt reports it, or -1. */
static long long balloon_mib(struct coordinator *co, const char *name)
{
    virDomainPtr dom = virDomainLookupByName(co->conn, name);
    virDomainInfo info;
    long long size = -1;

    if (dom && virDomainGetInfo(dom, &info) == 0)
        size = (long long)info.memory / 1024;
    if (dom)
        virDomainFree(dom);
    return size;
}

static void expect_balloon(struct coordinator *co, const char *name, long long mib_expected,
                           struct verdict *v)
{
    long long size = balloon_mib(co, name);

    if (size != mib_expected)
        fail(v, "%s holds %lld MiB, expected %lld", name, size, mib_expected);
}

static void destroy_guest(struct coordinator *co, const char *name)
{
    virDomainPtr dom = virDomainLookupByName(co->conn, name);

    if (dom) {
        virDomainDestroy(dom);
        virDomainFree(dom);
    }
}

static const struct guest *find_guest(const struct snapshot *snap, const char *name)
{
    for (size_t i = 0; i < snap->count; i++)
        if (strcmp(snap->guests[i].name, name) == 0)
            return &snap->guests[i];
    return NULL;
}

static const struct resize *resize_of(const struct cycle *cycle, const char *name)
{
    for (size_t i = 0; i < cycle->plan.count; i++)
        if (strcmp(cycle->snap.guests[cycle->plan.resizes[i].guest].name, name) == 0)
            return &cycle->plan.resizes[i];
    return NULL;
}

/* What f said on stderr, and on stdout too when it may speak there. */
static char said[1 << 18];

/* Run f with stderr, and stdout at the verbosity given (0: stdout left
 * alone), in a file kept in said; how often needle appears there. */
static int count_said(void (*f)(struct coordinator *), struct coordinator *co, int level,
                      const char *needle)
{
    char path[] = "/tmp/mc-test-stderr-XXXXXX";
    int fd = mkstemp(path), saved = dup(STDERR_FILENO), saved_out = dup(STDOUT_FILENO);
    int count = 0, saved_verbosity = verbosity;
    ssize_t length;

    fflush(stdout);
    fflush(stderr);
    dup2(fd, STDERR_FILENO);
    if (level) {
        dup2(fd, STDOUT_FILENO);
        verbosity = level;
    }
    f(co);
    fflush(stdout);
    fflush(stderr);
    verbosity = saved_verbosity;
    dup2(saved, STDERR_FILENO);
    dup2(saved_out, STDOUT_FILENO);
    close(saved);
    close(saved_out);
    length = pread(fd, said, sizeof(said) - 1, 0);
    close(fd);
    unlink(path);
    said[length > 0 ? length : 0] = '\0';
    for (const char *at = said; (at = strstr(at, needle)); at += strlen(needle))
        count++;
    return count;
}

/* How often needle appears in what the last count_said kept. */
static int count_in_said(const char *needle)
{
    int count = 0;

    for (const char *at = said; (at = strstr(at, needle)); at += strlen(needle))
        count++;
    return count;
}

/* Run f with stderr in a file, and return how often needle appears there. */
static int count_in_stderr(void (*f)(struct coordinator *), struct coordinator *co,
                           const char *needle)
{
    return count_said(f, co, 0, needle);
}

static void test_move_through_libvirt(void)
{
    struct coordinator co = open_node("four_guests.xml");
    struct verdict v = {0};

    if (run_cycle(&co, true) != CYCLE_DONE)
        fail(&v, "the cycle did not complete");
    /* vm-big has 512 MiB unused and gives half to vm-small. */
    expect_balloon(&co, "vm-big", 1024 - 256, &v);
    expect_balloon(&co, "vm-small", 200 + 256, &v);
    expect_balloon(&co, "vm-mid", 512, &v);
    close_node(&co);
    report("libvirt: a starved guest is fed from the wasteful one through virDomainSetMemory", &v);
}

static void test_snapshot_figures(void)
{
    struct coordinator co = open_node("four_guests.xml");
    struct cycle cycle = {0};
    struct verdict v = {0};
    const struct guest *big;

    if (!read_cycle(&co, &cycle))
        fail(&v, "cannot read the node");
    if (cycle.snap.count != 3)
        fail(&v, "%zu guests read, expected the 3 running ones", cycle.snap.count);
    if (find_guest(&cycle.snap, "vm-off"))
        fail(&v, "a shut-off guest was read");
    if (cycle.snap.count == 3 && strcmp(cycle.snap.guests[0].name, "vm-big") != 0)
        fail(&v, "guests are not sorted by name: %s first", cycle.snap.guests[0].name);
    big = find_guest(&cycle.snap, "vm-big");
    if (!big || !big->has_unused || big->actual_kib != 1024 * 1024 ||
        big->unused_kib != 512 * 1024 || big->max_kib != 2048 * 1024)
        fail(&v, "vm-big read wrongly");
    /* The test driver has no host statistics: 16 GiB less the balloons. */
    if (cycle.snap.host_free_kib != (16384 - 1024 - 512 - 200) * 1024LL)
        fail(&v, "host free %lld KiB, expected the estimate", cycle.snap.host_free_kib);
    free_cycle(&cycle);
    close_node(&co);
    report("libvirt: the snapshot holds the running guests' balloon figures", &v);
}

/* The test driver's balloons jump to their targets, and its statistics
 * (available = the balloon) follow at once: the next cycle reads a resized
 * guest where it is, with nothing left to come. */
static void test_resized_guest_read_where_its_balloon_is(void)
{
    struct coordinator co = open_node("four_guests.xml");
    struct cycle cycle = {0};
    struct verdict v = {0};
    const struct guest *small, *big;

    run_cycle(&co, true);
    read_cycle(&co, &cycle);
    small = find_guest(&cycle.snap, "vm-small");
    big = find_guest(&cycle.snap, "vm-big");
    if (!small || !big) {
        fail(&v, "vm-small or vm-big not read");
    } else {
        if (small->settling || small->actual_kib != 456 * 1024 || small->target_kib != 456 * 1024 ||
            small->unused_kib != 228 * 1024 || small->coming_kib != 0)
            fail(&v, "vm-small not read where its balloon is");
        if (small->cycles_since_growth != 1 || big->cycles_since_growth != ULONG_MAX)
            fail(&v, "cycles since growth %lu and %lu, expected 1 and never",
                 small->cycles_since_growth, big->cycles_since_growth);
    }
    free_cycle(&cycle);
    close_node(&co);
    report("libvirt: a resized guest is read where its balloon is, and known to have grown", &v);
}

/* Histories are kept by UUID and looked up by binary search: each guest
 * keeps its own across cycles, and a gone guest's is forgotten. */
static void test_histories_follow_guests(void)
{
    struct coordinator co = open_node("four_guests.xml");
    struct verdict v = {0};
    unsigned long small_grown;

    run_cycle(&co, true);
    run_cycle(&co, true);
    small_grown = co.history_count == 3 ? co.history[0].grown_cycle + co.history[1].grown_cycle +
                                              co.history[2].grown_cycle
                                        : 0;
    if (co.history_count != 3 || small_grown != 1)
        fail(&v, "%zu histories with %lu cycles of growth, expected 3 and vm-small's cycle 1",
             co.history_count, small_grown);
    destroy_guest(&co, "vm-mid");
    run_cycle(&co, true);
    run_cycle(&co, true);
    if (co.history_count != 2 || co.history_known != 2)
        fail(&v, "%zu histories (%zu sorted) after vm-mid went, expected 2", co.history_count,
             co.history_known);
    for (size_t i = 1; i < co.history_count; i++)
        if (memcmp(co.history[i - 1].uuid, co.history[i].uuid, VIR_UUID_BUFLEN) >= 0)
            fail(&v, "histories not sorted by UUID");
    close_node(&co);
    report("libvirt: each guest keeps its history across cycles; a gone guest's is forgotten", &v);
}

static long resident_kib(void)
{
    long pages = -1, resident = -1;
    FILE *statm = fopen("/proc/self/statm", "r");

    if (statm) {
        if (fscanf(statm, "%ld %ld", &pages, &resident) != 2)
            resident = -1;
        fclose(statm);
    }
    return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

/* A thousand cycles while guests come and go: every history of a gone guest
 * forgotten, and the resident memory flat once the first cycles have warmed
 * the allocator (under valgrind, tests/valgrind.sh, no leak either). */
static void test_thousand_cycles(void)
{
    struct coordinator co = open_node("four_guests.xml");
    struct verdict v = {0};
    long warm_kib = 0, end_kib;
    char xml[512];

    for (int i = 1; i <= 1000; i++) {
        if (i % 10 == 0) {
            virDomainPtr dom;

            destroy_guest(&co, i % 20 ? "churn-a" : "churn-b");
            snprintf(xml, sizeof(xml),
                     "<domain type='test'><name>%s</name><memory unit='MiB'>2048</memory>"
                     "<currentMemory unit='MiB'>%d</currentMemory><os><type>hvm</type></os>"
                     "<devices><memballoon model='virtio'/></devices></domain>",
                     i % 20 ? "churn-b" : "churn-a", 256 + i % 512);
            dom = virDomainCreateXML(co.conn, xml, 0);
            if (!dom)
                fail(&v, "cycle %d: cannot start a guest: %s", i, virGetLastErrorMessage());
            else
                virDomainFree(dom);
        }
        if (run_cycle(&co, true) != CYCLE_DONE)
            fail(&v, "cycle %d did not complete", i);
        if (i == 200)
            warm_kib = resident_kib();
    }
    end_kib = resident_kib();
    run_cycle(&co, true); /* forgets the guest that went in the last one */
    if (co.history_count != 4)
        fail(&v, "%zu histories for 4 running guests", co.history_count);
    /* valgrind's shadow memory and ASan's quarantine of freed blocks grow
     * with what they watch: there their leak checks speak instead
     * (tests/valgrind.sh sets MC_UNDER_VALGRIND). */
    if (!getenv("MC_UNDER_VALGRIND") && !UNDER_ASAN && (warm_kib <= 0 || end_kib - warm_kib > 256))
        fail(&v, "resident memory grew from %ld KiB at cycle 200 to %ld KiB at 1000", warm_kib,
             end_kib);
    close_node(&co);
    report("libvirt: a thousand cycles with guests coming and going keep memory flat", &v);
}

static void test_dry_run(void)
{
    struct coordinator co = open_node("four_guests.xml");
    struct verdict v = {0};

    co.opt.dry_run = true;
    /* The same guests as test_move_through_libvirt's, where a cycle moves
     * 256 MiB: two that read them and decide change nothing. */
    for (int i = 0; i < 2; i++)
        if (run_cycle(&co, true) != CYCLE_DONE)
            fail(&v, "cycle %d did not complete", i + 1);
    expect_balloon(&co, "vm-big", 1024, &v);
    expect_balloon(&co, "vm-small", 200, &v);
    close_node(&co);
    report("libvirt: a dry run resizes nothing", &v);
}

static void plan_then_lose(struct coordinator *co, const char *lost, struct cycle *cycle)
{
    cycle->snap.period_due = true;
    read_cycle(co, cycle);
    co->cfg.policy->plan(&cycle->snap, &co->cfg, &cycle->plan);
    destroy_guest(co, lost);
    apply_plan(co, cycle);
}

static struct cycle lost_cycle;

static void lose_donor(struct coordinator *co)
{
    plan_then_lose(co, "vm-big", &lost_cycle);
}

static void lose_receiver(struct coordinator *co)
{
    plan_then_lose(co, "vm-small", &lost_cycle);
}

static void test_donor_vanishes(void)
{
    struct coordinator co = open_node("four_guests.xml");
    struct verdict v = {0};
    const struct resize *donor, *receiver;

    if (count_in_stderr(lose_donor, &co, "vm-big: gone before it could be resized") != 1)
        fail(&v, "no warning for the vanished donor");
    donor = resize_of(&lost_cycle, "vm-big");
    receiver = resize_of(&lost_cycle, "vm-small");
    if (!donor || donor->outcome != FAILED || !receiver || receiver->outcome != SKIPPED)
        fail(&v, "the donor's resize should fail and the receiver's be skipped");
    expect_balloon(&co, "vm-small", 200, &v);
    free_cycle(&lost_cycle);
    close_node(&co);
    report("libvirt: a receiver whose donor vanished is not grown, and the run goes on", &v);
}

static void test_receiver_vanishes(void)
{
    struct coordinator co = open_node("four_guests.xml");
    struct verdict v = {0};
    const struct resize *receiver;

    if (count_in_stderr(lose_receiver, &co, "vm-small: gone before it could be resized") != 1)
        fail(&v, "no warning for the vanished receiver");
    receiver = resize_of(&lost_cycle, "vm-small");
    if (!receiver || receiver->outcome != FAILED)
        fail(&v, "the receiver's resize should fail");
    expect_balloon(&co, "vm-big", 768, &v);
    free_cycle(&lost_cycle);
    if (run_cycle(&co, true) != CYCLE_DONE)
        fail(&v, "the next cycle did not run");
    close_node(&co);
    report("libvirt: a guest vanishing before its resize is a warning, not an exit", &v);
}

static void six_cycles(struct coordinator *co)
{
    for (int i = 0; i < 6; i++)
        run_cycle(co, true);
}

static void test_guest_without_balloon(void)
{
    struct coordinator co = open_node("no_balloon.xml");
    struct verdict v = {0};
    int warnings = count_in_stderr(six_cycles, &co, "leaving it alone");

    if (warnings != 1)
        fail(&v, "reported %d times in six cycles, expected once", warnings);
    expect_balloon(&co, "no-balloon", 200, &v);
    close_node(&co);
    report("libvirt: a guest without balloon statistics is left alone and reported once", &v);
}

/* A guest booted with 512 MiB and a 2048 MiB virtio-mem device: libvirt counts
 * the device in its maximum but refuses a balloon above 512 MiB, so memory
 * past that goes by virtio-mem. The test driver takes the balloon and
 * refuses the device update (it has none): the guest, kept starved here,
 * is then left alone rather than asked again every cycle. */
static void test_virtio_mem_guest(void)
{
    struct coordinator co = open_node("virtio_mem.xml");
    struct cycle cycle = {0};
    struct verdict v = {0};
    const struct guest *vmem;
    int refusals;

    co.cfg.starve_kib = 300 * 1024; /* the driver leaves it half its balloon unused */
    co.cfg.waste_kib = 600 * 1024;
    if (!read_cycle(&co, &cycle))
        fail(&v, "cannot read the node");
    vmem = find_guest(&cycle.snap, "vmem");
    if (!vmem || vmem->max_kib != 2560 * 1024)
        fail(&v, "it may hold %lld KiB, expected 2560 MiB", vmem ? vmem->max_kib : -1);
    free_cycle(&cycle);
    refusals = count_in_stderr(six_cycles, &co, "vmem: cannot resize");
    expect_balloon(&co, "vmem", 512, &v);
    if (refusals != 1)
        fail(&v, "refused %d times in six cycles, expected once", refusals);
    close_node(&co);
    report("libvirt: a virtio-mem guest's balloon stops at its boot memory, and a refused "
           "resize is not asked again at once",
           &v);
}

/* The test driver takes the balloon and refuses the device: the guest's
 * balloon has grown to its boot memory all the same, and that move is
 * recorded, where it heads and what it costs the host, though the resize
 * as a whole failed. */
static void one_look(struct coordinator *co)
{
    run_cycle(co, true);
}

static void test_virtio_mem_half_done(void)
{
    struct coordinator co = open_node("virtio_mem.xml");
    struct cycle cycle = {0};
    struct verdict v = {0};
    const struct guest *vmem;

    co.cfg.starve_kib = 300 * 1024;
    co.cfg.waste_kib = 600 * 1024; /* seed feeds it 600 MiB: 256 by balloon, 344 by virtio-mem */
    if (count_in_stderr(one_look, &co, "vmem: cannot resize") != 1)
        fail(&v, "the refused device update was not warned");
    expect_balloon(&co, "vmem", 512, &v);
    if (co.history_count != 1 || co.history[0].target_kib != 512 * 1024 || co.history[0].grows != 1)
        fail(&v, "its balloon heads for %lld KiB after %lu grows, expected 512 MiB after one",
             co.history_count ? co.history[0].target_kib : -1,
             co.history_count ? co.history[0].grows : 0);
    read_cycle(&co, &cycle);
    vmem = find_guest(&cycle.snap, "vmem");
    if (!vmem || vmem->cycles_since_growth != 1)
        fail(&v, "the next look does not know that it grew: %lu looks since",
             vmem ? vmem->cycles_since_growth : 0);
    free_cycle(&cycle);
    close_node(&co);
    report("libvirt: a virtio-mem resize that fails after its balloon moved records the move", &v);
}

/* A guest paused (virsh suspend, a snapshot, a migration's last phase)
 * keeps its history, and its balloon, whose driver cannot answer, is never
 * resized: run again, it is the guest it was, not a stranger. */
static void test_paused_guest_keeps_its_history(void)
{
    struct coordinator co = open_node("four_guests.xml");
    virDomainPtr small = virDomainLookupByName(co.conn, "vm-small");
    virDomainPtr mid = virDomainLookupByName(co.conn, "vm-mid");
    struct cycle cycle = {0};
    struct verdict v = {0};
    const struct guest *g;

    run_cycle(&co, true); /* vm-small is fed from vm-big */
    /* vm-mid paused with 1024 MiB unused: the most wasteful, were it running */
    if (!small || !mid || virDomainSuspend(small) < 0 || virDomainSuspend(mid) < 0 ||
        virDomainSetMemoryFlags(mid, 2048 * 1024, VIR_DOMAIN_AFFECT_LIVE) < 0)
        fail(&v, "cannot pause the guests: %s", virGetLastErrorMessage());
    for (int i = 0; i < 5; i++)
        run_cycle(&co, true);
    expect_balloon(&co, "vm-mid", 2048, &v);
    expect_balloon(&co, "vm-small", 456, &v);
    if (small)
        virDomainResume(small);
    if (mid)
        virDomainResume(mid);
    read_cycle(&co, &cycle);
    g = find_guest(&cycle.snap, "vm-small");
    if (!g || g->cycles_since_growth != co.cycle - 1)
        fail(&v, "vm-small came back a stranger: %lu cycles since its growth, expected %lu",
             g ? g->cycles_since_growth : 0, co.cycle - 1);
    free_cycle(&cycle);
    if (small)
        virDomainFree(small);
    if (mid)
        virDomainFree(mid);
    close_node(&co);
    report("libvirt: a paused guest keeps its history and is not resized", &v);
}

/* What libvirt hands over, with NOWAIT, for a guest whose QEMU is busy
 * (a migration, a snapshot): the balloon size it keeps itself, and none of
 * the statistics it would have had to wait for. */
static virDomainStatsRecord busy_record;

static size_t history_index(struct coordinator *co, virDomainPtr dom)
{
    unsigned char uuid[VIR_UUID_BUFLEN];

    if (virDomainGetUUID(dom, uuid) == 0)
        for (size_t i = 0; i < co->history_count; i++)
            if (memcmp(co->history[i].uuid, uuid, VIR_UUID_BUFLEN) == 0)
                return i;
    return SIZE_MAX;
}

static void read_busy_guest_six_times(struct coordinator *co)
{
    struct guest g;
    struct balloon_reading r;
    size_t at;
    long long balloon_kib;

    for (int i = 0; i < 6; i++) {
        co->cycle++;
        forget_unseen_guests(co); /* as read_cycle does: the others are forgotten */
        r = (struct balloon_reading){0};
        if (!read_guest(co, &busy_record, (long long)time(NULL), &g, &r, &at, &balloon_kib) ||
            g.has_unused)
            busy_record.nparams = -1; /* not read as a guest without statistics */
    }
}

static void test_busy_guest_keeps_its_history(void)
{
    struct coordinator co = open_node("four_guests.xml");
    virDomainPtr big = virDomainLookupByName(co.conn, "vm-big");
    virTypedParameterPtr params = NULL;
    int nparams = 0, most = 0, warnings;
    struct verdict v = {0};
    size_t at;
    struct cycle cycle = {0};
    const struct guest *g;

    run_cycle(&co, true);
    at = big ? history_index(&co, big) : SIZE_MAX;
    if (at == SIZE_MAX || !co.history[at].read_before) {
        fail(&v, "vm-big not known after a cycle");
        goto cleanup;
    }
    virTypedParamsAddULLong(&params, &nparams, &most, "balloon.current",
                            (unsigned long long)balloon_mib(&co, "vm-big") * 1024);
    virTypedParamsAddULLong(&params, &nparams, &most, "balloon.maximum", 2048 * 1024);
    busy_record = (virDomainStatsRecord){.dom = big, .params = params, .nparams = nparams};
    warnings = count_in_stderr(read_busy_guest_six_times, &co, "leaving it alone");
    at = history_index(&co, big);
    if (at == SIZE_MAX || co.history_count != 1) {
        fail(&v, "vm-big lost its history while busy");
        goto cleanup;
    }
    if (busy_record.nparams < 0)
        fail(&v, "a busy guest was not read as a guest without statistics");
    if (warnings || co.history[at].stats_period_set || co.history[at].cycles_without_stats)
        fail(&v,
             "a busy guest was taken for one without balloon statistics: %d warnings, "
             "statistics period %s, %d cycles without",
             warnings,
             co.history[at].stats_period_set ? "set (a call that waits on it)" : "not set",
             co.history[at].cycles_without_stats);
    if (!co.history[at].read_before || !co.history[at].seen || !co.history[at].use_count)
        fail(&v, "vm-big lost what it was known by while busy");
    /* Its statistics back, it is read as before, the same guest. */
    read_cycle(&co, &cycle);
    g = find_guest(&cycle.snap, "vm-big");
    if (!g || !g->has_unused || history_index(&co, big) == SIZE_MAX)
        fail(&v, "vm-big not read with its statistics after being busy");
    free_cycle(&cycle);
cleanup:
    virTypedParamsFree(params, nparams);
    if (big)
        virDomainFree(big);
    close_node(&co);
    report("libvirt: a guest whose statistics did not come (NOWAIT) keeps its history, and "
           "nothing waits on it",
           &v);
}

static void destroy_all(struct coordinator *co)
{
    destroy_guest(co, "vm-big");
    destroy_guest(co, "vm-mid");
    destroy_guest(co, "vm-small");
}

static void test_no_running_guests(void)
{
    struct coordinator co = open_node("four_guests.xml");
    struct verdict v = {0};

    destroy_all(&co);
    if (run_cycle(&co, true) != CYCLE_NO_GUESTS)
        fail(&v, "a cycle without running guests is not reported as such");
    close_node(&co);
    report("libvirt: a cycle with no running guest says so", &v);
}

/* A guest that is paused, or left alone by its metadata, still runs: the
 * program runs on while any does, though it has none to balance. */
static void test_guests_run_though_none_is_balanced(void)
{
    static const char *const names[] = {"vm-big", "vm-mid", "vm-small"};
    struct coordinator co = open_node("four_guests.xml");
    struct verdict v = {0};
    enum cycle_result result;

    for (size_t i = 0; i < 3; i++) {
        virDomainPtr dom = virDomainLookupByName(co.conn, names[i]);

        if (!dom ||
            (i == 0 ? virDomainSuspend(dom)
                    : virDomainSetMetadata(dom, VIR_DOMAIN_METADATA_ELEMENT, "<guest manage='no'/>",
                                           "mc", SETTINGS_URI, VIR_DOMAIN_AFFECT_LIVE)) < 0)
            fail(&v, "cannot pause %s or leave it alone: %s", names[i], virGetLastErrorMessage());
        if (dom)
            virDomainFree(dom);
    }
    result = run_cycle(&co, true);
    if (result != CYCLE_DONE || !co.none_balanced)
        fail(&v, "the look %s, %s that none is balanced",
             result == CYCLE_NO_GUESTS ? "says that no guest runs" : "did not complete",
             co.none_balanced ? "and says" : "and does not say");
    close_node(&co);
    report("libvirt: guests paused or left alone still run: the look says so, not that none runs",
           &v);
}

static void three_looks(struct coordinator *co)
{
    for (int i = 0; i < 3; i++)
        run_cycle(co, true);
}

/* Shares, a guarantee and manage="no" from each guest's metadata; a
 * malformed element is warned of once, naming what is wrong, and leaves
 * its guest alone. */
static void test_settings_from_metadata(void)
{
    struct coordinator co = open_node("settings.xml");
    struct cycle cycle = {.snap.period_due = true};
    struct verdict v = {0};
    const struct guest *prio, *plain, *bad;
    int warnings;

    co.cfg.policy = find_policy("adaptive");
    warnings = count_in_stderr(three_looks, &co,
                               "vm-bad: its mem_coordinator metadata makes no sense: "
                               "shares='lots' is not a whole number from 1 to 1000000; "
                               "leaving it alone");
    if (warnings != 1)
        fail(&v, "vm-bad's nonsense warned %d times in three looks, not once", warnings);
    if (!read_cycle(&co, &cycle)) {
        fail(&v, "cannot read the node");
        goto done;
    }
    prio = find_guest(&cycle.snap, "vm-prio");
    plain = find_guest(&cycle.snap, "vm-plain");
    bad = find_guest(&cycle.snap, "vm-bad");
    if (!prio || prio->shares != 2000 || prio->guarantee_kib != 700 * 1024)
        fail(&v, "vm-prio: shares %u, guarantee %lld KiB; its metadata says 2000 and 700 MiB",
             prio ? prio->shares : 0, prio ? prio->guarantee_kib : -1);
    if (!plain || plain->shares != DEFAULT_SHARES || plain->guarantee_kib != 0)
        fail(&v, "vm-plain has no metadata: the defaults, not shares %u",
             plain ? plain->shares : 0);
    if (bad)
        fail(&v, "vm-bad's metadata makes no sense, but it is in the snapshot");
    if (find_guest(&cycle.snap, "vm-alone"))
        fail(&v, "vm-alone says manage=\"no\", but it is in the snapshot");
    free_cycle(&cycle);
    expect_balloon(&co, "vm-alone", 1024, &v);
    expect_balloon(&co, "vm-bad", 512, &v);
    /* Trimmed above the waste threshold, vm-prio stops within MIN_STEP of its guarantee. */
    if (balloon_mib(&co, "vm-prio") < 700 || balloon_mib(&co, "vm-prio") >= 700 + MIN_STEP)
        fail(&v, "vm-prio holds %lld MiB, not down to its 700 MiB guarantee",
             balloon_mib(&co, "vm-prio"));
done:
    close_node(&co);
    report("libvirt: shares, guarantee and manage=no from metadata; nonsense warned once", &v);
}

/* Metadata that makes no sense leaves its guest alone, and says once what
 * is wrong: a manage other than yes or no, a guarantee above the guest's
 * maximum or with a blank in it, a setting as a child element. manage="no"
 * wins over anything else the element says. */
static void test_nonsense_in_metadata(void)
{
    static const struct {
        const char *guest, *said;
    } rows[] = {
        {"vm-case", "manage='No' is not yes or no"},
        {"vm-child", "<shares> inside <guest>, where only its attributes count"},
        {"vm-huge", "guarantee='4096' is above its maximum of 2048 MiB"},
        {"vm-space", "guarantee=' 700' is not a whole number of MiB"},
    };
    struct coordinator co = open_node("bad_settings.xml");
    struct cycle cycle = {0};
    struct verdict v = {0};
    char needle[256];

    count_said(three_looks, &co, 0, "metadata makes no sense");
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        snprintf(needle, sizeof(needle),
                 "%s: its mem_coordinator metadata makes no sense: %s; leaving it alone",
                 rows[i].guest, rows[i].said);
        if (count_in_said(needle) != 1)
            fail(&v, "'%s' said %d times in three looks, not once: %s", needle,
                 count_in_said(needle), said);
        expect_balloon(&co, rows[i].guest, 1024, &v);
    }
    if (count_in_said("vm-no-zero"))
        fail(&v, "vm-no-zero says manage='no', but its shares='0' was warned of: %s", said);
    expect_balloon(&co, "vm-no-zero", 1024, &v);
    if (balloon_mib(&co, "vm-fine") >= 1024)
        fail(&v, "vm-fine, without metadata, was not balanced");
    read_cycle(&co, &cycle);
    if (cycle.snap.count != 1 || !find_guest(&cycle.snap, "vm-fine"))
        fail(&v, "%zu guests in the snapshot, expected vm-fine alone", cycle.snap.count);
    free_cycle(&cycle);
    close_node(&co);
    report("libvirt: metadata that makes no sense leaves its guest alone, said once, naming "
           "what is wrong; manage=no wins",
           &v);
}

/* A change of a guest's settings is read at the next look: libvirt's
 * metadata event, through its event loop, marks them for reading. */
static void test_settings_change(void)
{
    struct coordinator co = open_node("settings.xml");
    struct cycle cycle = {.snap.period_due = true};
    struct verdict v = {0};
    virDomainPtr dom = virDomainLookupByName(co.conn, "vm-plain");
    const struct guest *plain;

    count_in_stderr(three_looks, &co, "vm-bad"); /* its warning, out of the way */
    if (!co.settings_events)
        fail(&v, "no metadata events");
    if (!dom || virDomainSetMetadata(dom, VIR_DOMAIN_METADATA_ELEMENT, "<guest shares='3000'/>",
                                     "mc", SETTINGS_URI, VIR_DOMAIN_AFFECT_LIVE) < 0)
        fail(&v, "cannot set vm-plain's metadata: %s", virGetLastErrorMessage());
    virEventRunDefaultImpl(); /* the test driver queues the event on the loop */
    if (!read_cycle(&co, &cycle))
        fail(&v, "the look after the change failed");
    else if (!(plain = find_guest(&cycle.snap, "vm-plain")))
        fail(&v, "vm-plain is not in the look after its change");
    else if (plain->shares != 3000)
        fail(&v, "vm-plain: shares %u after its metadata said 3000", plain->shares);
    free_cycle(&cycle);
    if (dom)
        virDomainFree(dom);
    close_node(&co);
    report("libvirt: a change of a guest's metadata is read at the next look", &v);
}

static void reconnect_now(struct coordinator *co)
{
    struct timespec deadline;
    sigset_t sleeping_mask;

    sigemptyset(&sleeping_mask);
    reconnect(co, &deadline, &sleeping_mask);
}

static void two_outages(struct coordinator *co)
{
    reconnect_now(co);
    reconnect_now(co);
}

/* Each outage is said, and each reconnection: a lost connection that came
 * back is no fault repeating at every look, to be held back. */
static void test_each_outage_said(void)
{
    static char uri[PATH_MAX + 16];
    struct coordinator co = open_node("four_guests.xml");
    struct verdict v = {0};
    int lost;

    snprintf(uri, sizeof(uri), "test://%s/four_guests.xml", nodes_dir);
    co.opt.uri = uri;
    lost = count_said(two_outages, &co, 1, "lost the connection");
    if (lost != 2 || count_in_said("reconnected to") != 2)
        fail(&v, "two outages: said lost %d times, reconnected %d: %.300s", lost,
             count_in_said("reconnected to"), said);
    close_node(&co);
    report("libvirt: each outage is said, though warnings that repeat are held back", &v);
}

/* A reconnection closes the connection it replaces: the metadata callback
 * registered on it would hold it open, one connection leaked each time. */
static void test_reconnect_closes_the_old_connection(void)
{
    static char uri[PATH_MAX + 16];
    struct coordinator co = open_node("four_guests.xml");
    virConnectPtr old = co.conn;
    struct verdict v = {0};
    int references;

    snprintf(uri, sizeof(uri), "test://%s/four_guests.xml", nodes_dir);
    co.opt.uri = uri;
    virConnectRef(old); /* ours: the last one left once the program has closed it */
    if (count_in_stderr(reconnect_now, &co, "lost the connection") != 1)
        fail(&v, "the lost connection was not said once");
    if (co.conn == old || !co.settings_events || co.reconnects != 1)
        fail(&v, "not reconnected: %lu reconnections, metadata events %s", co.reconnects,
             co.settings_events ? "on" : "off");
    references = virConnectClose(old);
    if (references != 0)
        fail(&v, "the old connection is still held by %d references after the reconnection",
             references);
    close_node(&co);
    report("libvirt: a reconnection closes the old connection, its metadata callback "
           "deregistered",
           &v);
}

/* The waits between reconnections: doubling from 1 s, up to a period, and
 * never above RECONNECT_MAX_S whatever the period. */
static void test_reconnect_waits(void)
{
    static const struct {
        int wait_s, period_s, next_s;
    } rows[] = {
        {1, 600, 2},
        {2, 600, 4},
        {8, 600, 16},
        {16, 600, RECONNECT_MAX_S},
        {RECONNECT_MAX_S, 600, RECONNECT_MAX_S},
        {1, 1, 1},
        {2, 3, 3},
        {3, 3, 3},
    };
    struct verdict v = {0};

    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        int next = next_reconnect_wait(rows[i].wait_s, rows[i].period_s);

        if (next != rows[i].next_s)
            fail(&v, "after %d s at PERIOD %d: %d s, expected %d", rows[i].wait_s, rows[i].period_s,
                 next, rows[i].next_s);
    }
    report("libvirt: reconnections wait twice as long each time, up to a period and at most "
           "30 s",
           &v);
}

/* vm-plain's shares at the next look, or 0 when it is not read. */
static unsigned plain_shares(struct coordinator *co)
{
    struct cycle cycle = {0};
    const struct guest *plain;
    unsigned shares = 0;

    if (read_cycle(co, &cycle) && (plain = find_guest(&cycle.snap, "vm-plain")))
        shares = plain->shares;
    free_cycle(&cycle);
    return shares;
}

/* Without metadata events (a driver or libvirtd that has none), a look
 * reads no metadata, and the settings are read again once a minute:
 * SETTINGS_REREAD_S looks. The change is made with no event delivered
 * (this test never runs libvirt's event loop). */
static void test_settings_reread_without_events(void)
{
    struct coordinator co = open_node("settings.xml");
    struct verdict v = {0};
    virDomainPtr dom = virDomainLookupByName(co.conn, "vm-plain");
    unsigned shares;

    co.settings_events = false;
    count_in_stderr(three_looks, &co, "vm-bad"); /* its warning, out of the way */
    if (!dom || virDomainSetMetadata(dom, VIR_DOMAIN_METADATA_ELEMENT, "<guest shares='3000'/>",
                                     "mc", SETTINGS_URI, VIR_DOMAIN_AFFECT_LIVE) < 0)
        fail(&v, "cannot set vm-plain's metadata: %s", virGetLastErrorMessage());
    while (co.cycle + 1 < SETTINGS_REREAD_S && !v.failed)
        if ((shares = plain_shares(&co)) != DEFAULT_SHARES)
            fail(&v, "look %lu read vm-plain's shares %u: a look reads no metadata", co.cycle,
                 shares);
    if (!v.failed && (shares = plain_shares(&co)) != 3000)
        fail(&v, "look %lu, a minute in, read vm-plain's shares %u, not the 3000 set", co.cycle,
             shares);
    if (dom)
        virDomainFree(dom);
    close_node(&co);
    report("libvirt: without metadata events, settings are read again once a minute, not at "
           "every look",
           &v);
}

/* Each look's warnings said, none held back as a repeat of the last. */
static void seventy_five_looks(struct coordinator *co)
{
    for (int i = 0; i < 75; i++) {
        memset(warnings_said, 0, sizeof(warnings_said));
        run_cycle(co, true);
    }
}

/* A resize libvirt refuses leaves the guest alone for UNRESPONSIVE_BACKOFF
 * looks, then twice as long after each refusal: asked at looks 1, 11, 31
 * and 71 of 75 (the test driver refuses the virtio-mem device's update). */
static void test_refused_resize_backs_off(void)
{
    struct coordinator co = open_node("virtio_mem.xml");
    struct verdict v = {0};
    int refusals;

    co.cfg.starve_kib = 300 * 1024; /* kept starved: asked again whenever it may be */
    co.cfg.waste_kib = 600 * 1024;
    refusals = count_in_stderr(seventy_five_looks, &co, "vmem: cannot resize");
    if (refusals != 4 || count_in_said("leaving it alone for 10 cycles") != 1 ||
        count_in_said("leaving it alone for 20 cycles") != 1 ||
        count_in_said("leaving it alone for 40 cycles") != 1 ||
        count_in_said("leaving it alone for 80 cycles") != 1)
        fail(&v, "refused %d times in 75 looks, expected 4, left alone 10, 20, 40, 80: %.300s",
             refusals, said);
    close_node(&co);
    report("libvirt: after each refused resize the guest is left alone twice as long", &v);
}

/* host_reserve_kib for the next looks: the host short of room or roomy. */
static long long reserve_kib;

static void three_looks_at_reserve(struct coordinator *co)
{
    co->cfg.host_reserve_kib = reserve_kib;
    three_looks(co);
}

/* The host coming short of room is said once, and once its room is back. */
static void test_pressure_said_each_way(void)
{
    struct coordinator co = open_node("four_guests.xml");
    struct verdict v = {0};
    int short_of_room, room_again;

    reserve_kib = 16384 * 1024LL; /* all the node's memory: no room */
    short_of_room = count_said(three_looks_at_reserve, &co, 1, "host short of room");
    if (short_of_room != 1 || count_in_said("has room again"))
        fail(&v, "in three looks short of room, said short %d times, roomy %d: %.300s",
             short_of_room, count_in_said("has room again"), said);
    reserve_kib = HOST_RESERVE * 1024LL;
    room_again = count_said(three_looks_at_reserve, &co, 1, "host has room again");
    if (!v.failed && (room_again != 1 || count_in_said("short of room")))
        fail(&v, "in three roomy looks, said roomy %d times, short %d: %.300s", room_again,
             count_in_said("short of room"), said);
    close_node(&co);
    report("libvirt: the host short of room is said once, and once when it has room again", &v);
}

static void two_looks_starved_or_not(struct coordinator *co)
{
    co->cfg.host_reserve_kib = reserve_kib;
    /* A floor above every balloon: no guest can give. */
    co->cfg.min_guest_kib = reserve_kib > HOST_RESERVE * 1024LL ? 4096 * 1024 : MIN_GUEST_MEMORY;
    run_cycle(co, true);
    run_cycle(co, true);
}

/* A guest left short of its need is said once, and once when it is met
 * again: vm-small, starved, with neither the host nor a donor to feed it,
 * then with both. */
static void test_need_met_again(void)
{
    struct coordinator co = open_node("four_guests.xml");
    struct verdict v = {0};
    int short_said, met_said;

    co.cfg.policy = find_policy("adaptive");
    reserve_kib = 16384 * 1024LL;
    short_said = count_said(two_looks_starved_or_not, &co, 1, "vm-small: left ");
    if (short_said != 1 || count_in_said("its need is met again"))
        fail(&v, "left short for two looks: said short %d times, met %d: %.300s", short_said,
             count_in_said("its need is met again"), said);
    reserve_kib = HOST_RESERVE * 1024LL;
    met_said = count_said(two_looks_starved_or_not, &co, 1, "vm-small: its need is met again");
    if (!v.failed && (met_said != 1 || count_in_said("short of its need")))
        fail(&v, "fed for two looks: said met %d times, short %d: %.300s", met_said,
             count_in_said("short of its need"), said);
    close_node(&co);
    report("libvirt: a guest left short of its need is said once, and once when it is met again",
           &v);
}

/* Under --syslog: the first look, then one that changes nothing, then
 * one after a guest went. */
static void journal_looks(struct coordinator *co)
{
    run_cycle(co, true);
    run_cycle(co, false);
    destroy_guest(co, "vm-mid");
    run_cycle(co, false);
}

/* The journal gets a line for a look that finds a guest gone, as for one
 * that resizes, and none for a look that changes nothing. syslog's
 * LOG_PERROR copies each line to stderr, where the test counts it. */
static void test_journal_says_guests_come_and_go(void)
{
    struct coordinator co = open_node("four_guests.xml");
    struct verdict v = {0};
    int lines;

    openlog("test_libvirt", LOG_PERROR, LOG_USER);
    to_syslog = true;
    verbosity = 1;
    lines = count_in_stderr(journal_looks, &co, "guests  host");
    verbosity = 0;
    to_syslog = false;
    closelog();
    if (lines != 2)
        fail(&v, "%d lines for a first look, an idle one and one with a guest gone; expected 2",
             lines);
    close_node(&co);
    report("libvirt: under --syslog a look gets a line when a guest goes, none when idle", &v);
}

static void repeated_warnings(struct coordinator *co)
{
    (void)co;
    warn("vm-a: cannot resize to %d MiB", 900);
    warn("vm-a: cannot resize to %d MiB", 700); /* the same warning, other figures */
    warn("vm-b: cannot resize to %d MiB", 900); /* another guest's */
    for (size_t i = 0; i < WARNINGS_KEPT; i++)
        warnings_said[i].at_s -= WARN_REPEAT_S; /* WARN_REPEAT_S later */
    warn("vm-a: cannot resize to %d MiB", 800);
}

/* A warning repeated at every look is said once each WARN_REPEAT_S, saying
 * how often it was held back; another guest's is its own. */
static void test_repeated_warnings_held_back(void)
{
    struct coordinator co = {0};
    struct verdict v = {0};
    int vm_a, vm_b, counted;

    memset(warnings_said, 0, sizeof(warnings_said));
    vm_a = count_in_stderr(repeated_warnings, &co, "vm-a: cannot resize");
    memset(warnings_said, 0, sizeof(warnings_said));
    vm_b = count_in_stderr(repeated_warnings, &co, "vm-b: cannot resize");
    memset(warnings_said, 0, sizeof(warnings_said));
    counted = count_in_stderr(repeated_warnings, &co, "800 MiB (1 more like it in the last 300 s)");
    memset(warnings_said, 0, sizeof(warnings_said));
    if (vm_a != 2 || vm_b != 1 || counted != 1)
        fail(&v,
             "vm-a said %d times (expected 2), vm-b %d (1), the count of those held back %d (1)",
             vm_a, vm_b, counted);
    report("messages: a repeated warning is said once each WARN_REPEAT_S, with how often it "
           "was held back",
           &v);
}

/* Run f with stdout and stderr in a file, and return how often needle
 * appears there. */
static int count_in_output(void (*f)(struct coordinator *), struct coordinator *co,
                           const char *needle)
{
    char path[] = "/tmp/mc-test-output-XXXXXX";
    char text[65536];
    int fd = mkstemp(path), saved_out = dup(STDOUT_FILENO), saved_err = dup(STDERR_FILENO);
    int count = 0;
    ssize_t length;

    fflush(stdout);
    fflush(stderr);
    dup2(fd, STDOUT_FILENO);
    dup2(fd, STDERR_FILENO);
    f(co);
    fflush(stdout);
    fflush(stderr);
    dup2(saved_out, STDOUT_FILENO);
    dup2(saved_err, STDERR_FILENO);
    close(saved_out);
    close(saved_err);
    length = pread(fd, text, sizeof(text) - 1, 0);
    close(fd);
    unlink(path);
    text[length > 0 ? length : 0] = '\0';
    for (const char *at = text; (at = strstr(at, needle)); at += strlen(needle))
        count++;
    return count;
}

/* Short of room, room again, short again at once, room again. */
static void pressure_flaps(struct coordinator *co)
{
    static const double pressures[] = {0.5, 0, 0.5, 0};
    struct cycle cycle = {0};

    verbosity = 1;
    for (size_t i = 0; i < sizeof(pressures) / sizeof(pressures[0]); i++) {
        cycle.pressure = pressures[i];
        report_pressure(co, &cycle);
        fflush(stdout);
    }
    verbosity = 0;
}

/* A host short of room twice within WARN_REPEAT_S: the second warning is
 * held back, and so is the "room again" that would answer it. */
static void test_held_back_warning_has_no_answer(void)
{
    struct coordinator co = {.cfg = default_config()};
    struct verdict v = {0};
    int short_of_room, room_again;

    memset(warnings_said, 0, sizeof(warnings_said));
    short_of_room = count_in_output(pressure_flaps, &co, "host short of room");
    memset(warnings_said, 0, sizeof(warnings_said));
    co.under_pressure = false;
    room_again = count_in_output(pressure_flaps, &co, "host has room again");
    memset(warnings_said, 0, sizeof(warnings_said));
    if (short_of_room != 1 || room_again != 1)
        fail(&v, "short of room said %d times, room again %d, in two flaps; expected 1 and 1",
             short_of_room, room_again);
    report("messages: a held-back warning of a host short of room gets no \"room again\"", &v);
}

int main(int argc, char **argv)
{
    if (argc != 2 || argv[1][0] != '/') {
        fprintf(stderr, "usage: test_libvirt ABSOLUTE_NODES_DIR\n");
        return 2;
    }
    nodes_dir = argv[1];
    verbosity = 0;
    virSetErrorFunc(NULL, ignore_libvirt_error);
    virEventRegisterDefaultImpl(); /* for metadata events, as the daemon's loop */
    test_move_through_libvirt();
    test_snapshot_figures();
    test_resized_guest_read_where_its_balloon_is();
    test_histories_follow_guests();
    test_thousand_cycles();
    test_dry_run();
    test_donor_vanishes();
    test_receiver_vanishes();
    test_guest_without_balloon();
    test_virtio_mem_guest();
    test_virtio_mem_half_done();
    test_no_running_guests();
    test_guests_run_though_none_is_balanced();
    test_settings_from_metadata();
    test_settings_change();
    test_nonsense_in_metadata();
    test_settings_reread_without_events();
    test_refused_resize_backs_off();
    test_pressure_said_each_way();
    test_need_met_again();
    test_paused_guest_keeps_its_history();
    test_busy_guest_keeps_its_history();
    test_reconnect_closes_the_old_connection();
    test_each_outage_said();
    test_reconnect_waits();
    test_journal_says_guests_come_and_go();
    test_repeated_warnings_held_back();
    test_held_back_warning_has_no_answer();
    return tests_status();
}
