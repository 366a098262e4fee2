/*
 * The rules every plan of every policy keeps, whatever it decides: checked
 * by the policy table, the property tests and the fuzzer. Include after
 * mem_coordinator.c and check.h.
 */
#ifndef RULES_H
#define RULES_H

static const char *peer_name(const struct snapshot *snap, const struct resize *r)
{
    if (r->peer == PEER_HOST)
        return "host";
    return r->peer < snap->count ? snap->guests[r->peer].name : "a guest past the snapshot";
}

/* Whether a resize takes the guest it feeds (itself, or its peer in a move)
 * to within a MiB of its max. */
static bool to_its_max(const struct snapshot *snap, const struct resize *r)
{
    const struct guest *fed = r->delta_kib > 0       ? &snap->guests[r->guest]
                              : r->peer != PEER_HOST ? &snap->guests[r->peer]
                                                     : NULL;

    return fed && reaches_max(fed, llabs(r->delta_kib));
}

/* The rules every policy keeps, whatever it decides. */
static void check_rules(const struct snapshot *snap, const struct config *cfg,
                        const struct plan *plan, struct verdict *v)
{
    long long from_host_kib = 0, moved_kib = 0, bare_needs_kib = 0;

    for (size_t i = 0; i < plan->count; i++) {
        const struct resize *r = &plan->resizes[i];
        const struct guest *g;
        long long target;

        /* Before anything reads the guest it names. */
        if (r->guest >= snap->count || (r->peer != PEER_HOST && r->peer >= snap->count)) {
            fail(v, "resize of guest %zu with peer %zu, of %zu guests", r->guest, r->peer,
                 snap->count);
            return;
        }
        g = &snap->guests[r->guest];
        target = g->target_kib + r->delta_kib;
        for (size_t j = 0; j < i; j++)
            if (plan->resizes[j].guest == r->guest)
                fail(v, "%s resized twice in one cycle", g->name);
        if (!guest_measured(g))
            fail(v, "%s resized without fresh statistics", g->name);
        if (r->delta_kib > 0 && target > g->max_kib)
            fail(v, "%s grown to %lld KiB, above its max %lld", g->name, target, g->max_kib);
        if (r->delta_kib < 0 && target < guest_floor(g, cfg))
            fail(v, "%s shrunk to %lld KiB, below its floor %lld", g->name, target,
                 guest_floor(g, cfg));
        /* What a guest frees is its own, not what it was fed. */
        if (r->delta_kib < 0 && g->cycles_since_growth < hold_looks(cfg) && !freeing(g, cfg))
            fail(v, "%s shrunk %lu cycles after it grew: ping-pong", g->name,
                 g->cycles_since_growth);
        if (r->delta_kib < 0 && g->unresponsive)
            fail(v, "%s shrunk though its balloon did not follow the last shrink", g->name);
        /* Smaller steps only to take a guest to its max, the last MiB it can have. */
        if ((llabs(r->delta_kib) < cfg->min_step_kib && !to_its_max(snap, r)) || r->delta_kib == 0)
            fail(v, "%s changed by %lld KiB, under the minimum step", g->name, r->delta_kib);
        if (r->delta_kib % 1024)
            fail(v, "%s changed by %lld KiB, not whole MiB", g->name, r->delta_kib);
        /* A move draws on the host too until its donor has given. */
        if (r->delta_kib > 0) {
            from_host_kib += r->delta_kib;
            bare_needs_kib += max_ll(0, needed_usable(g, cfg) - expected_usable(g));
        }
        if (r->peer == PEER_HOST)
            continue;
        moved_kib += max_ll(0, r->delta_kib);
        const struct resize *back = plan_find(plan, r->peer);
        if (!back || back->peer != r->guest || back->delta_kib != -r->delta_kib)
            fail(v, "%s's move with %s does not balance", g->name, peer_name(snap, r));
    }
    if (from_host_kib > 0 &&
        snap->host_free_kib - snap->host_promised_kib - from_host_kib < cfg->host_reserve_kib)
        fail(v, "host gives %lld KiB of %lld free (%lld promised), into its reserve", from_host_kib,
             snap->host_free_kib, snap->host_promised_kib);
    /* Memory the guests may touch is given only to meet a bare need; a move,
     * which the host carries only until its donor has given, also while the
     * host keeps its comfort. */
    if (from_host_kib >
            bare_needs_kib + max_ll(0, snap->host_free_kib - snap->host_promised_kib -
                                           snap->host_untouched_kib - cfg->host_reserve_kib) &&
        (from_host_kib > moved_kib + bare_needs_kib ||
         from_host_kib > snap->host_free_kib - snap->host_promised_kib - cfg->host_reserve_kib -
                             cfg->host_comfort_kib))
        fail(v,
             "host gives %lld KiB (%lld of it moves), beyond its room, its comfort and the %lld "
             "KiB its guests lack of their bare needs",
             from_host_kib, moved_kib, bare_needs_kib);
    /* Taken back between PERIODs only by the host's need. */
    for (size_t i = 0; i < plan->count && !snap->period_due; i++)
        if (plan->resizes[i].peer == PEER_HOST && plan->resizes[i].delta_kib < 0 &&
            snap->host_free_kib - snap->host_promised_kib - snap->host_untouched_kib -
                    from_host_kib - cfg->host_reserve_kib >=
                cfg->host_comfort_kib)
            fail(v, "%s gives back to a roomy host between two PERIODs",
                 snap->guests[plan->resizes[i].guest].name);
}

#endif
