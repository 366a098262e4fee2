/*
 * libFuzzer target: guest statistics are untrusted input. Each input is a
 * run of cycles for up to eight guests whose balloon figures come from the
 * input (QEMU's resident size among them), read the way the libvirt layer
 * reads them (sane_figure), through the balloon model and every policy;
 * every plan must keep the rules, and
 * every resize is then taken as libvirt would take it. make fuzz.
 */
#include "mem_coordinator.c"
#include "check.h"
#include "rules.h"

#define FUZZ_GUESTS 8

struct input {
    const uint8_t *data;
    size_t left;
};

static bool take(struct input *in, void *out, size_t n)
{
    if (in->left < n)
        return false;
    memcpy(out, in->data, n);
    in->data += n;
    in->left -= n;
    return true;
}

/* A figure as libvirt hands it over: any unsigned value, often a small one. */
static bool take_figure(struct input *in, long long *figure, bool *present)
{
    uint8_t how;
    uint32_t small;
    unsigned long long raw;

    if (!take(in, &how, 1))
        return false;
    if (how % 4 == 0) {
        if (!take(in, &raw, sizeof(raw)))
            return false;
    } else {
        if (!take(in, &small, sizeof(small)))
            return false;
        raw = small;
    }
    *present = how % 8 != 7 && sane_figure(raw, figure);
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *names[FUZZ_GUESTS] = {"g0", "g1", "g2", "g3", "g4", "g5", "g6", "g7"};
    struct input in = {data, size};
    struct guest_history histories[FUZZ_GUESTS];
    uint8_t count_byte = 0;
    size_t count;
    long long now = 1800000000;

    take(&in, &count_byte, 1);
    count = count_byte % FUZZ_GUESTS + 1;
    for (size_t i = 0; i < count; i++)
        histories[i] = fresh_history();
    for (unsigned long cycle = 1; in.left > 0; cycle++, now++) {
        for (size_t p = 0; p < sizeof(policies) / sizeof(policies[0]); p++) {
            struct config cfg = default_config();
            struct guest guests[FUZZ_GUESTS];
            struct resize resizes[FUZZ_GUESTS];
            size_t slots[FUZZ_GUESTS] = {0};
            struct plan plan = {.resizes = resizes, .slot_of = slots};
            struct snapshot snap = {.guests = guests, .count = count, .period_due = cycle % 2};
            struct guest_history scratch[FUZZ_GUESTS];
            struct verdict v = {0};
            struct input again = in;
            bool present;

            cfg.policy = &policies[p];
            memcpy(scratch, histories, sizeof(scratch));
            if (!take_figure(&again, &snap.host_free_kib, &present))
                return 0;
            for (size_t i = 0; i < count; i++) {
                struct balloon_reading r = {0};
                bool has_actual, has_max;
                const char *nonsense;

                if (!take_figure(&again, &r.actual_kib, &has_actual) ||
                    !take_figure(&again, &r.max_kib, &has_max) ||
                    !take_figure(&again, &r.unused_kib, &r.has_unused) ||
                    !take_figure(&again, &r.available_kib, &r.has_available) ||
                    !take_figure(&again, &r.usable_kib, &r.has_usable) ||
                    !take_figure(&again, &r.disk_caches_kib, &r.has_disk_caches) ||
                    !take_figure(&again, &r.last_update, &r.has_last_update) ||
                    !take_figure(&again, &r.rss_kib, &r.has_rss))
                    return 0;
                if (!has_actual || !has_max) /* the layer drops such a guest */
                    r.actual_kib = r.max_kib = 1;
                guests[i].name = names[i];
                see_guest(&scratch[i], &r, &cfg, cycle, now, &guests[i], &nonsense);
                /* What QEMU holds of a guest's usable memory is part of it,
                 * and usable is never below unused. */
                if (guests[i].resident_usable_kib < 0 ||
                    guests[i].resident_usable_kib >
                        (guests[i].has_unused ? guests[i].usable_kib : 0) ||
                    (guests[i].has_unused && guests[i].usable_kib < guests[i].unused_kib)) {
                    fprintf(stderr,
                            "%s, cycle %lu: %s holds %lld KiB of %lld usable (%lld unused)\n",
                            policies[p].name, cycle, names[i], guests[i].resident_usable_kib,
                            guests[i].usable_kib, guests[i].unused_kib);
                    abort();
                }
                snap.host_promised_kib += growth_under_way(&guests[i]);
                snap.host_returning_kib += shrink_under_way(&guests[i]);
                snap.host_untouched_kib += untouched(&guests[i]);
            }
            policies[p].plan(&snap, &cfg, &plan);
            check_rules(&snap, &cfg, &plan, &v);
            if (v.failed) {
                fprintf(stderr, "%s, cycle %lu: %s\n", policies[p].name, cycle, v.why);
                abort();
            }
            for (size_t i = 0; i < plan.count; i++)
                note_resize(&scratch[plan.resizes[i].guest], &guests[plan.resizes[i].guest],
                            guests[plan.resizes[i].guest].target_kib + plan.resizes[i].delta_kib,
                            cycle);
            if (p + 1 == sizeof(policies) / sizeof(policies[0])) {
                memcpy(histories, scratch, sizeof(histories));
                in = again;
            }
        }
    }
    return 0;
}
