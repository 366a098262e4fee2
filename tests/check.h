/*
 * A small test harness shared by the C tests. Each test prints one line,
 * "ok - NAME" or "not ok - NAME: WHY", which tests/run counts. The tests
 * include mem_coordinator.c whole (built with MEM_COORDINATOR_NO_MAIN) to
 * reach its static functions.
 */
#ifndef CHECK_H
#define CHECK_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>

struct verdict {
    bool failed;
    char why[1024];
};

static int tests_failed;

/* Keep the first failure: later ones usually follow from it. */
__attribute__((format(printf, 2, 3))) static void fail(struct verdict *v, const char *fmt, ...)
{
    va_list ap;

    if (v->failed)
        return;
    v->failed = true;
    va_start(ap, fmt);
    vsnprintf(v->why, sizeof(v->why), fmt, ap);
    va_end(ap);
}

static void report(const char *name, const struct verdict *v)
{
    if (v->failed) {
        tests_failed++;
        printf("not ok - %s: %s\n", name, v->why);
    } else {
        printf("ok - %s\n", name);
    }
    fflush(stdout);
}

static int tests_status(void)
{
    return tests_failed ? 1 : 0;
}

#endif
