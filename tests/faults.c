/*
 * Faults the test driver cannot have, for tests/program.sh: loaded into the
 * program with LD_PRELOAD, it makes libvirt itself fail while the file
 * MC_FAULT names exists, by what that file says:
 *   fail  the bulk statistics calls fail on a live connection (libvirt
 *         rejects a flag the shim adds: a real libvirt error, not a mock);
 *   down  the connection is dead: that call fails, virConnectIsAlive says
 *         so, and every reconnection fails (each attempt is a line in
 *         MC_FAULT_LOG).
 * With MC_PLANT set, a hard link to that file is planted wherever the
 * program has just unlinked a *.tmp, as a local attacker racing it would.
 * With MC_URI set, libvirt names every connection so: the test driver
 * passes for a per-user daemon (qemu:///session), which no test may start.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libvirt/libvirt.h>

#define UNKNOWN_FLAG (1U << 27) /* no virConnectGetAllDomainsStatsFlags has it */

/* "fail", "down" or "" (no fault). */
static const char *fault(void)
{
    static char what[16];
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

typedef int get_all_fn(virConnectPtr, unsigned int, virDomainStatsRecordPtr **, unsigned int);
typedef int list_fn(virDomainPtr *, unsigned int, virDomainStatsRecordPtr **, unsigned int);
typedef int is_alive_fn(virConnectPtr);
typedef virConnectPtr open_auth_fn(const char *, virConnectAuthPtr, unsigned int);
typedef int unlink_fn(const char *);
typedef char *get_uri_fn(virConnectPtr);

int virConnectGetAllDomainStats(virConnectPtr conn, unsigned int stats,
                                virDomainStatsRecordPtr **records, unsigned int flags)
{
    get_all_fn *real = (get_all_fn *)dlsym(RTLD_NEXT, "virConnectGetAllDomainStats");

    if (*fault())
        flags |= UNKNOWN_FLAG;
    return real(conn, stats, records, flags);
}

int virDomainListGetStats(virDomainPtr *domains, unsigned int stats,
                          virDomainStatsRecordPtr **records, unsigned int flags)
{
    list_fn *real = (list_fn *)dlsym(RTLD_NEXT, "virDomainListGetStats");

    if (*fault())
        flags |= UNKNOWN_FLAG;
    return real(domains, stats, records, flags);
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
    FILE *out;

    if (strcmp(fault(), "down") != 0)
        return real(name, auth, flags);
    if (log && (out = fopen(log, "a"))) {
        fputs("reconnect\n", out);
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

char *virConnectGetURI(virConnectPtr conn)
{
    get_uri_fn *real = (get_uri_fn *)dlsym(RTLD_NEXT, "virConnectGetURI");
    const char *uri = getenv("MC_URI");

    return uri ? strdup(uri) : real(conn);
}
