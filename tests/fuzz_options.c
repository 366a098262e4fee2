/*
 * libFuzzer target: the command line. Each input is split at NUL bytes into
 * up to 16 arguments and parsed. Parsing must end in options that hold
 * together, or in exit status 2 with exactly one line on stderr (-h and -V
 * end in status 0). A bad command line ends the program by design, so the
 * target is linked with -Wl,--wrap=exit and exit returns here instead of
 * ending the process, which keeps coverage in this process. make fuzz.
 */
#include "mem_coordinator.c"

#include <setjmp.h>

#define FUZZ_ARGS 16

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
void __wrap_exit(int status);
void __real_exit(int status);

static jmp_buf parsed;
static bool parsing;

/* exit while parsing returns to the target; libFuzzer's own exit is exit. */
void __wrap_exit(int status)
{
    if (parsing)
        longjmp(parsed, status + 1); /* 0 is setjmp's own return */
    __real_exit(status);
}

/* What parsing promises of the options it accepts. */
static bool hold_together(const struct options *opt, const struct config *cfg)
{
    return opt->period_s >= 1 && opt->period_s <= MAX_PERIOD && cfg->policy &&
           cfg->starve_kib < cfg->waste_kib && cfg->min_step_kib >= 1024 &&
           cfg->min_guest_kib >= MIN_GUEST_FLOOR * 1024LL && cfg->host_reserve_kib >= 0 &&
           cfg->waste_kib <= MAX_MIB * 1024;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char *text;
    static char *args[FUZZ_ARGS + 2];
    static struct options opt;
    static struct config cfg;
    static int quiet = -1, said_fd = -1;
    char said[512];
    ssize_t said_length;
    int argc = 1, status, saved_stdout, saved_stderr;

    text = realloc(text, size + 1);
    if (quiet < 0)
        quiet = open("/dev/null", O_WRONLY);
    if (said_fd < 0)
        said_fd = fileno(tmpfile());
    if (!text || quiet < 0 || said_fd < 0)
        abort();
    memcpy(text, data, size);
    text[size] = '\0';
    args[0] = PROGRAM;
    for (size_t at = 0; at <= size && argc <= FUZZ_ARGS; at += strlen(text + at) + 1)
        args[argc++] = text + at;
    args[argc] = NULL;
    opt = (struct options){0};
    cfg = default_config();
    verbosity = 1;
    optind = 0; /* getopt starts afresh */
    /* What the parser says goes to a file of ours, by descriptor. */
    fflush(stdout);
    fflush(stderr);
    saved_stdout = dup(STDOUT_FILENO);
    saved_stderr = dup(STDERR_FILENO);
    if (ftruncate(said_fd, 0) < 0 || lseek(said_fd, 0, SEEK_SET) < 0)
        abort();
    dup2(quiet, STDOUT_FILENO);
    dup2(said_fd, STDERR_FILENO);
    parsing = true;
    status = setjmp(parsed);
    if (status == 0) {
        parse_options(argc, args, &opt, &cfg);
        status = hold_together(&opt, &cfg) ? EXIT_OK + 1 : -1;
    }
    parsing = false;
    fflush(stdout);
    fflush(stderr);
    dup2(saved_stdout, STDOUT_FILENO);
    dup2(saved_stderr, STDERR_FILENO);
    close(saved_stdout);
    close(saved_stderr);
    said_length = pread(said_fd, said, sizeof(said) - 1, 0);
    said_length = said_length < 0 ? 0 : said_length;
    said[said_length] = '\0';
    if (status != EXIT_OK + 1 && status != EXIT_USAGE + 1) {
        fprintf(stderr, "parsing ended with status %d: %s\n", status - 1, said);
        abort();
    }
    if (status == EXIT_USAGE + 1 &&
        (said_length == 0 || strchr(said, '\n') != said + said_length - 1)) {
        fprintf(stderr, "a usage error said not one line: '%s'\n", said);
        abort();
    }
    return 0;
}
