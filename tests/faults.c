/*
 * Faults the test driver cannot have, for tests/program.sh: loaded into the
 * program with LD_PRELOAD, it makes libvirt itself fail while the file
 * MC_FAULT names exists, by what that file says:
 *   fail  the bulk statistics calls fail on a live connection (libvirt
 *         rejects a flag the shim adds: a real libvirt error, not a mock);
 *   down  the connection is dead: that call fails, virConnectIsAlive says
 *         so, and every reconnection fails (each attempt is a line in
 *         MC_FAULT_LOG, "reconnect" and the CLOCK_MONOTONIC seconds);
 *   rename  rename(2) fails with EIO, as on a failing disk;
 *   metadata  virDomainGetMetadata fails (libvirt rejects a flag the shim
 *         adds);
 *   slow, hang  each virDomainSetMemoryFlags takes 2 s, or 60 s, as on a
 *         slow or a hung libvirtd (a line in MC_FAULT_LOG as each begins,
 *         and as each ends);
 *   job NAME  guest NAME runs a job, as a migration: virDomainGetJobInfo
 *         says so (the test driver has no jobs);
 *   no-usable  the guests' statistics lack "usable" (MemAvailable), as an
 *         old guest kernel's do: the driver's answer without that tag.
 * With MC_PLANT set, a hard link to that file is planted wherever the
 * program has just unlinked a *.tmp, as a local attacker racing it would.
 * With MC_URI set, libvirt names every connection so: the test driver
 * passes for a per-user daemon (qemu:///session), which no test may start.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libvirt/libvirt.h>

#define UNKNOWN_FLAG (1U << 27) /* no virConnectGetAllDomainsStatsFlags has it */

/* What the fault file says, or "" (no fault). */
static const char *fault(void)
{
    static char what[64];
    const char *path = getenv("MC_FAULT");
    FILE *file = path ? fopen(path, "r") : NULL;

    what[0] = '\0';
    if (file) {
        if (!fgets(what, sizeof(what), file))
            what[0] = '\0';
        what[strcspn(what, "\n")] = '\0';
        fclose(file);
    }
    return what;
}

typedef int memory_stats_fn(virDomainPtr, virDomainMemoryStatPtr, unsigned int, unsigned int);
typedef int get_all_fn(virConnectPtr, unsigned int, virDomainStatsRecordPtr **, unsigned int);
typedef int list_fn(virDomainPtr *, unsigned int, virDomainStatsRecordPtr **, unsigned int);
typedef int is_alive_fn(virConnectPtr);
typedef virConnectPtr open_auth_fn(const char *, virConnectAuthPtr, unsigned int);
typedef int unlink_fn(const char *);
typedef int rename_fn(const char *, const char *);
typedef char *metadata_fn(virDomainPtr, int, const char *, unsigned int);
typedef int set_memory_fn(virDomainPtr, unsigned long, unsigned int);
typedef int job_info_fn(virDomainPtr, virDomainJobInfoPtr);

/* A line in MC_FAULT_LOG. */
static void log_line(const char *what, const char *name)
{
    const char *log = getenv("MC_FAULT_LOG");
    struct timespec now;
    FILE *out;

    clock_gettime(CLOCK_MONOTONIC, &now);
    if (log && (out = fopen(log, "a"))) {
        fprintf(out, "%s %lld.%03ld %s\n", what, (long long)now.tv_sec, now.tv_nsec / 1000000,
                name);
        fclose(out);
    }
}

static bool libvirt_fails(void)
{
    const char *what = fault();

    return strcmp(what, "fail") == 0 || strcmp(what, "down") == 0;
}
typedef char *get_uri_fn(virConnectPtr);

int virConnectGetAllDomainStats(virConnectPtr conn, unsigned int stats,
                                virDomainStatsRecordPtr **records, unsigned int flags)
{
    get_all_fn *real = (get_all_fn *)dlsym(RTLD_NEXT, "virConnectGetAllDomainStats");

    if (libvirt_fails())
        flags |= UNKNOWN_FLAG;
    return real(conn, stats, records, flags);
}

int virDomainListGetStats(virDomainPtr *domains, unsigned int stats,
                          virDomainStatsRecordPtr **records, unsigned int flags)
{
    list_fn *real = (list_fn *)dlsym(RTLD_NEXT, "virDomainListGetStats");

    if (libvirt_fails())
        flags |= UNKNOWN_FLAG;
    return real(domains, stats, records, flags);
}

int virDomainMemoryStats(virDomainPtr dom, virDomainMemoryStatPtr stats, unsigned int nr_stats,
                         unsigned int flags)
{
    memory_stats_fn *real = (memory_stats_fn *)dlsym(RTLD_NEXT, "virDomainMemoryStats");
    int count = real(dom, stats, nr_stats, flags), kept = 0;

    if (count < 0 || strcmp(fault(), "no-usable") != 0)
        return count;
    for (int i = 0; i < count; i++)
        if (stats[i].tag != VIR_DOMAIN_MEMORY_STAT_USABLE)
            stats[kept++] = stats[i];
    return kept;
}

int virConnectIsAlive(virConnectPtr conn)
{
    is_alive_fn *real = (is_alive_fn *)dlsym(RTLD_NEXT, "virConnectIsAlive");

    return strcmp(fault(), "down") == 0 ? 0 : real(conn);
}

virConnectPtr virConnectOpenAuth(const char *name, virConnectAuthPtr auth, unsigned int flags)
{
    open_auth_fn *real = (open_auth_fn *)dlsym(RTLD_NEXT, "virConnectOpenAuth");
    const char *log = getenv("MC_FAULT_LOG");
    struct timespec now;
    FILE *out;

    if (strcmp(fault(), "down") != 0)
        return real(name, auth, flags);
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (log && (out = fopen(log, "a"))) {
        fprintf(out, "reconnect %lld.%03ld\n", (long long)now.tv_sec, now.tv_nsec / 1000000);
        fclose(out);
    }
    return real("bogus:///down", auth, flags); /* fails with libvirt's own error */
}

int unlink(const char *path)
{
    unlink_fn *real = (unlink_fn *)dlsym(RTLD_NEXT, "unlink");
    const char *plant = getenv("MC_PLANT");
    size_t length = strlen(path);
    int result = real(path);

    if (plant && length > 4 && strcmp(path + length - 4, ".tmp") == 0)
        link(plant, path);
    return result;
}

int rename(const char *from, const char *to)
{
    rename_fn *real = (rename_fn *)dlsym(RTLD_NEXT, "rename");

    if (strcmp(fault(), "rename") == 0) {
        errno = EIO;
        return -1;
    }
    return real(from, to);
}

char *virDomainGetMetadata(virDomainPtr domain, int type, const char *uri, unsigned int flags)
{
    metadata_fn *real = (metadata_fn *)dlsym(RTLD_NEXT, "virDomainGetMetadata");

    if (strcmp(fault(), "metadata") == 0)
        flags |= UNKNOWN_FLAG;
    return real(domain, type, uri, flags);
}

int virDomainSetMemoryFlags(virDomainPtr domain, unsigned long memory, unsigned int flags)
{
    set_memory_fn *real = (set_memory_fn *)dlsym(RTLD_NEXT, "virDomainSetMemoryFlags");
    const char *what = fault();
    unsigned seconds = strcmp(what, "slow") == 0 ? 2 : strcmp(what, "hang") == 0 ? 60 : 0;
    int result;

    if (!seconds)
        return real(domain, memory, flags);
    log_line("resizing", virDomainGetName(domain));
    sleep(seconds);
    result = real(domain, memory, flags);
    log_line("resized", virDomainGetName(domain));
    return result;
}

int virDomainGetJobInfo(virDomainPtr domain, virDomainJobInfoPtr info)
{
    job_info_fn *real = (job_info_fn *)dlsym(RTLD_NEXT, "virDomainGetJobInfo");
    const char *what = fault();

    if (strncmp(what, "job ", 4) != 0 || strcmp(what + 4, virDomainGetName(domain)) != 0)
        return real(domain, info);
    memset(info, 0, sizeof(*info));
    info->type = VIR_DOMAIN_JOB_UNBOUNDED;
    return 0;
}

char *virConnectGetURI(virConnectPtr conn)
{
    get_uri_fn *real = (get_uri_fn *)dlsym(RTLD_NEXT, "virConnectGetURI");
    const char *uri = getenv("MC_URI");

    return uri ? strdup(uri) : real(conn);
}
