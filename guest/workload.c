/*
 * workload: the memory load inside a mem_coordinator test guest.
 *
 * The script comes from the kernel command line, parameter workload=, as
 * comma-separated phases run in order:
 *
 *   grow:TARGET_MIB:RATE  grow the allocation to TARGET_MIB at RATE MiB/s
 *   hold:SECONDS          keep what is allocated for SECONDS
 *   free                  give everything back to the guest kernel
 *   course[:RATE]         realloc one buffer a page bigger at a time at
 *                         RATE MiB/s (default 30) until realloc fails
 *   go                    wait for a line on standard input, the console:
 *                         the tests type one to start all guests at once
 *   read:MIB:RATE         read MIB MiB of the guest's disk (/dev/vda) through
 *                         its page cache at RATE MiB/s, from where the last
 *                         read stopped, round from its end to its start:
 *                         the cache fills the guest's free memory, as on a
 *                         real guest, and is dropped when a program needs it
 *   write:MIB:RATE        write MIB MiB of files at RATE MiB/s on an ext4
 *                         filesystem made on the guest's disk at its first
 *                         write (mounted on /mnt), then delete them: the
 *                         cache fills with dirty, then clean pages, and
 *                         deleting the files frees them
 *   loop                  start again at the first phase after the last go
 *   unbind                unbind the virtio balloon driver from its device,
 *                         as in a guest whose driver went away: the balloon
 *                         gives the guest all its memory back, and the
 *                         guest's balloon statistics stop; only in a test
 *                         guest, from workload=, never on a host
 *
 * Without workload= it idles forever. To try it on a host, pass the script
 * as the only argument instead.
 *
 * Progress goes to stdout, the guest's serial console, about once a second;
 * the end-to-end tests wait for these lines, so their wording is an interface.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PAGE_BYTES    4096
#define MIB_BYTES     (1024 * 1024)
#define COURSE_RATE   30  /* MiB/s, course without RATE */
#define COURSE_BATCH  64  /* pages between clock checks in course */
#define REPORT_PERIOD 1.0 /* s between progress lines */
#define MAX_PHASES    64
#define MAX_MIB       (1024 * 1024) /* 1 TiB: catches typos, not limits */
#define MAX_RATE      100000        /* MiB/s */
#define MAX_SECONDS   (365 * 24 * 3600)

#define EXIT_BADSCRIPT 2

#define BALLOON_DRIVER "/sys/bus/virtio/drivers/virtio_balloon"
#define DISK           "/dev/vda"
#define FILES          "/mnt"
#define FILE_MIB       64 /* write: the size of each file */

enum kind { GROW, HOLD, FREE, COURSE, GO, LOOP, UNBIND, READ, WRITE };

struct phase {
    enum kind kind;
    unsigned long target;  /* MiB, grow */
    unsigned long rate;    /* MiB/s, grow and course */
    unsigned long seconds; /* hold */
    char *text;            /* as written, for the phase line */
};

/*
 * grow keeps 1 MiB mmap chunks rather than one heap buffer so that free
 * really unmaps them: heap memory freed below the top of the heap would
 * stay with the process.
 */
static char **chunks;
static size_t nchunks, chunks_cap;

static char *course_buf;
static size_t course_len; /* bytes */

static double last_report;

static int disk = -1;
static unsigned long long read_mib;    /* since the workload started */
static unsigned long long written_mib; /* since the workload started */
static int mounted;

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void sleep_until(double t)
{
    struct timespec ts;

    if (t <= now_s())
        return;
    ts.tv_sec = (time_t)t;
    ts.tv_nsec = (long)((t - ts.tv_sec) * 1e9);
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
        ;
}

static size_t allocated_mib(void)
{
    return nchunks + course_len / MIB_BYTES;
}

static void report(void)
{
    double now = now_s();

    if (now - last_report < REPORT_PERIOD)
        return;
    if (mounted)
        printf("workload: %zu MiB, written %llu MiB\n", allocated_mib(), written_mib);
    else if (disk >= 0)
        printf("workload: %zu MiB, read %llu MiB\n", allocated_mib(), read_mib);
    else
        printf("workload: %zu MiB\n", allocated_mib());
    last_report = now;
}

/* Write to every page so the guest kernel must back it with real memory. */
static void touch(char *p, size_t len)
{
    volatile char *v = p;
    size_t off;

    for (off = 0; off < len; off += PAGE_BYTES)
        v[off] = 1;
}

static int add_chunk(void)
{
    char **grown;
    char *p;

    if (nchunks == chunks_cap) {
        size_t cap = chunks_cap ? 2 * chunks_cap : 256;

        if (!(grown = realloc(chunks, cap * sizeof(*chunks))))
            return -1;
        chunks = grown;
        chunks_cap = cap;
    }
    p = mmap(NULL, MIB_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return -1;
    touch(p, MIB_BYTES);
    chunks[nchunks++] = p;
    return 0;
}

/*
 * The clock paces the growth: the n-th MiB of this phase may start n/rate
 * seconds after the phase did. Sleeping per page instead would add the
 * sleep's overhead 256 times per MiB, far too slow under QEMU's TCG.
 */
static int grow(const struct phase *p)
{
    double start = now_s();
    size_t base = allocated_mib();

    while (allocated_mib() < p->target) {
        sleep_until(start + (double)(allocated_mib() - base) / p->rate);
        if (add_chunk() < 0)
            return -1;
        report();
    }
    return 0;
}

/*
 * Guests have no swap, so what was touched stays resident without being
 * touched again.
 */
static void hold(const struct phase *p)
{
    double end = now_s() + p->seconds;
    double next;

    while ((next = now_s()) < end) {
        next += REPORT_PERIOD;
        sleep_until(next < end ? next : end);
        report();
    }
}

static void release(void)
{
    size_t i;

    for (i = 0; i < nchunks; i++)
        munmap(chunks[i], MIB_BYTES);
    nchunks = 0;
    free(course_buf);
    course_buf = NULL;
    course_len = 0;
    /* A course buffer below the mmap threshold sits on the heap. */
    malloc_trim(0);
}

/*
 * The load of the course exercise: one buffer, a page bigger at a time.
 * Returns only when realloc fails; usually the guest's OOM killer ends it.
 */
static void course(const struct phase *p)
{
    double start = now_s();
    size_t base = course_len;
    char *b;
    int i;

    for (;;) {
        for (i = 0; i < COURSE_BATCH; i++) {
            if (!(b = realloc(course_buf, course_len + PAGE_BYTES)))
                return;
            course_buf = b;
            /* The new bytes straddle two pages when b is unaligned. */
            memset(course_buf + course_len, 1, PAGE_BYTES);
            course_len += PAGE_BYTES;
        }
        sleep_until(start + (double)(course_len - base) / MIB_BYTES / p->rate);
        report();
    }
}

/*
 * Buffered reads, so that what is read stays in the page cache: the load
 * of a file server or a backup. Paced like grow; at the disk's end it
 * starts again at its beginning, where the oldest cache is dropped first.
 */
static int read_disk(const struct phase *p)
{
    static char buffer[MIB_BYTES];
    double start = now_s();
    unsigned long done = 0;
    ssize_t got;

    if (disk < 0 && (disk = open(DISK, O_RDONLY)) < 0) {
        printf("workload: cannot open %s: %s\n", DISK, strerror(errno));
        return -1;
    }
    while (done < p->target) {
        sleep_until(start + (double)done / p->rate);
        got = read(disk, buffer, sizeof(buffer));
        if (got == 0 && lseek(disk, 0, SEEK_SET) == 0)
            continue;
        if (got < 0) {
            printf("workload: cannot read %s: %s\n", DISK, strerror(errno));
            return -1;
        }
        done++;
        read_mib++;
        report();
    }
    return 0;
}

/* The guest's disk as a fresh ext4 filesystem on /mnt: busybox's mke2fs
 * makes ext2, which the kernel's ext4 driver (built in) mounts. */
static int mount_files(void)
{
    pid_t child;
    int status;

    if (mounted)
        return 0;
    child = fork();
    if (child == 0) {
        execl("/bin/mke2fs", "mke2fs", "-q", DISK, (char *)NULL);
        _exit(127);
    }
    if (child < 0 || waitpid(child, &status, 0) < 0 || !WIFEXITED(status) ||
        WEXITSTATUS(status) != 0) {
        printf("workload: cannot make a filesystem on %s\n", DISK);
        return -1;
    }
    if (mount(DISK, FILES, "ext4", 0, NULL) < 0) {
        printf("workload: cannot mount %s: %s\n", DISK, strerror(errno));
        return -1;
    }
    mounted = 1;
    return 0;
}

/*
 * Files written through the page cache, FILE_MIB each, paced like grow,
 * then deleted: what a build or a log rotation does to a guest's memory.
 */
static int write_files(const struct phase *p)
{
    static char buffer[MIB_BYTES];
    double start = now_s();
    unsigned long done = 0, files = 0;
    char path[64];
    int fd = -1;

    if (mount_files() < 0)
        return -1;
    memset(buffer, 1, sizeof(buffer));
    while (done < p->target) {
        if (done % FILE_MIB == 0) {
            if (fd >= 0)
                close(fd);
            snprintf(path, sizeof(path), FILES "/file%lu", files++);
            if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644)) < 0) {
                printf("workload: cannot create %s: %s\n", path, strerror(errno));
                return -1;
            }
        }
        sleep_until(start + (double)done / p->rate);
        if (write(fd, buffer, sizeof(buffer)) != (ssize_t)sizeof(buffer)) {
            printf("workload: cannot write %s: %s\n", path, strerror(errno));
            close(fd);
            return -1;
        }
        done++;
        written_mib++;
        report();
    }
    if (fd >= 0)
        close(fd);
    while (files > 0) {
        snprintf(path, sizeof(path), FILES "/file%lu", --files);
        unlink(path);
    }
    printf("workload: files deleted\n");
    return 0;
}

/* Without a console to read, there is nothing to wait for. */
static void wait_for_go(void)
{
    char line[256];

    if (!fgets(line, sizeof(line), stdin))
        printf("workload: no console input, going on\n");
    last_report = now_s();
}

static int parse_ulong(const char *s, unsigned long min, unsigned long max, unsigned long *out)
{
    char *end;
    unsigned long v;

    if (!s || *s == '\0' || *s == '-')
        return -1;
    errno = 0;
    v = strtoul(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

/* The driver's folder lists its devices as virtio0, virtio1, ... A host that
 * is itself a virtual machine has one too: tried there, this would take
 * that machine's balloon away. */
static void unbind_balloon(int in_test_guest)
{
    DIR *dir;
    struct dirent *entry;
    FILE *unbind;

    if (!in_test_guest) {
        printf("workload: unbind runs only in a test guest, from workload=\n");
        return;
    }
    dir = opendir(BALLOON_DRIVER);
    while (dir && (entry = readdir(dir)) != NULL) {
        if (strncmp(entry->d_name, "virtio", 6) != 0)
            continue;
        unbind = fopen(BALLOON_DRIVER "/unbind", "w");
        if (unbind && fputs(entry->d_name, unbind) >= 0 && fclose(unbind) == 0) {
            printf("workload: balloon driver unbound from %s\n", entry->d_name);
            closedir(dir);
            return;
        }
        if (unbind)
            fclose(unbind);
        break;
    }
    printf("workload: cannot unbind the balloon driver: %s\n",
           dir ? strerror(errno) : "no " BALLOON_DRIVER);
    if (dir)
        closedir(dir);
}

static void bad_script(const char *phase, const char *why)
{
    fprintf(stderr, "workload: bad script at '%s': %s\n", phase, why);
    exit(EXIT_BADSCRIPT);
}

/* Returns the number of phases; exits on any mistake. */
static int parse_script(char *script, struct phase *ph)
{
    char *tok, *name, *arg1, *arg2;
    int n = 0, has_wait = 0;
    struct phase *p;

    while ((tok = strsep(&script, ",")) != NULL) {
        if (n > 0 && ph[n - 1].kind == LOOP)
            bad_script(tok, "loop must be the last phase");
        if (n == MAX_PHASES)
            bad_script(tok, "too many phases");
        p = &ph[n++];
        memset(p, 0, sizeof(*p));
        if (!(p->text = strdup(tok))) {
            fprintf(stderr, "workload: out of memory\n");
            exit(1);
        }
        name = strsep(&tok, ":");
        if (*name == '\0')
            bad_script(p->text, "empty phase");
        arg1 = strsep(&tok, ":");
        arg2 = strsep(&tok, ":");
        if (tok != NULL)
            bad_script(p->text, "too many arguments");

        if (strcmp(name, "grow") == 0) {
            p->kind = GROW;
            if (parse_ulong(arg1, 1, MAX_MIB, &p->target) < 0 ||
                parse_ulong(arg2, 1, MAX_RATE, &p->rate) < 0)
                bad_script(p->text, "expected grow:TARGET_MIB:RATE, both above 0");
        } else if (strcmp(name, "read") == 0) {
            p->kind = READ;
            if (parse_ulong(arg1, 1, MAX_MIB, &p->target) < 0 ||
                parse_ulong(arg2, 1, MAX_RATE, &p->rate) < 0)
                bad_script(p->text, "expected read:MIB:RATE, both above 0");
            has_wait = 1;
        } else if (strcmp(name, "write") == 0) {
            p->kind = WRITE;
            if (parse_ulong(arg1, 1, MAX_MIB, &p->target) < 0 ||
                parse_ulong(arg2, 1, MAX_RATE, &p->rate) < 0)
                bad_script(p->text, "expected write:MIB:RATE, both above 0");
            has_wait = 1;
        } else if (strcmp(name, "hold") == 0) {
            p->kind = HOLD;
            if (arg2 || parse_ulong(arg1, 0, MAX_SECONDS, &p->seconds) < 0)
                bad_script(p->text, "expected hold:SECONDS");
            has_wait = 1;
        } else if (strcmp(name, "free") == 0) {
            p->kind = FREE;
            if (arg1)
                bad_script(p->text, "free takes no argument");
        } else if (strcmp(name, "course") == 0) {
            p->kind = COURSE;
            p->rate = COURSE_RATE;
            if (arg2 || (arg1 && parse_ulong(arg1, 1, MAX_RATE, &p->rate) < 0))
                bad_script(p->text, "expected course or course:RATE");
            has_wait = 1;
        } else if (strcmp(name, "go") == 0) {
            p->kind = GO;
            if (arg1)
                bad_script(p->text, "go takes no argument");
            has_wait = 0; /* a loop comes back after it */
        } else if (strcmp(name, "loop") == 0) {
            p->kind = LOOP;
            if (arg1)
                bad_script(p->text, "loop takes no argument");
            /* Otherwise a looping script could spin on the CPU. */
            if (!has_wait)
                bad_script(p->text, "loop needs a hold or course phase before it");
        } else if (strcmp(name, "unbind") == 0) {
            p->kind = UNBIND;
            if (arg1)
                bad_script(p->text, "unbind takes no argument");
        } else {
            bad_script(p->text,
                       "unknown phase; expected grow, hold, free, course, read, write, go, "
                       "loop or unbind");
        }
    }
    return n;
}

/* Returns a copy of the value of workload= in /proc/cmdline, or NULL. */
static char *script_from_cmdline(void)
{
    char buf[4096], *s, *tok;
    FILE *f;
    size_t len;

    if (!(f = fopen("/proc/cmdline", "r"))) {
        fprintf(stderr, "workload: /proc/cmdline: %s\n", strerror(errno));
        exit(1);
    }
    len = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[len] = '\0';
    s = buf;
    while ((tok = strsep(&s, " \t\n")) != NULL)
        if (strncmp(tok, "workload=", 9) == 0)
            return strdup(tok + 9);
    return NULL;
}

int main(int argc, char *argv[])
{
    struct phase ph[MAX_PHASES];
    char *script;
    int n, i, resume = 0;

    /* The console is a file on the host that tests read as it grows. */
    setvbuf(stdout, NULL, _IOLBF, 0);

    if (argc > 2) {
        fprintf(stderr, "usage: workload [script]\n");
        return EXIT_BADSCRIPT;
    }
    script = argc == 2 ? strdup(argv[1]) : script_from_cmdline();
    if (!script) {
        printf("workload: no workload= on the command line, idling\n");
        for (;;)
            pause();
    }
    n = parse_script(script, ph);

    last_report = now_s();
    for (i = 0; i < n; i++) {
        printf("workload: phase %s\n", ph[i].text);
        switch (ph[i].kind) {
        case GROW:
            if (grow(&ph[i]) < 0)
                printf("workload: allocation failed at %zu MiB\n", allocated_mib());
            break;
        case HOLD:
            hold(&ph[i]);
            break;
        case FREE:
            release();
            break;
        case COURSE:
            course(&ph[i]);
            printf("workload: allocation failed at %zu MiB\n", allocated_mib());
            break;
        case GO:
            wait_for_go();
            resume = i + 1; /* a go is typed once: loops come back after it */
            break;
        case LOOP:
            i = resume - 1;
            break;
        case UNBIND:
            unbind_balloon(argc == 1);
            break;
        case READ:
            if (read_disk(&ph[i]) < 0)
                printf("workload: reading stopped at %llu MiB\n", read_mib);
            break;
        case WRITE:
            if (write_files(&ph[i]) < 0)
                printf("workload: writing stopped at %llu MiB\n", written_mib);
            break;
        }
    }
    printf("workload: done\n");
    return 0;
}
