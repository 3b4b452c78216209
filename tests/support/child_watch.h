/*
 * Test support: watch the command lines (and environments) of the tools a
 * test makes run, for secrets (passwords, keys) that must never be there.
 *
 * A thread reads /proc/PID/comm of every process, and for those whose comm
 * is one of the tools, /proc/PID/cmdline (and /proc/PID/environ when asked)
 * many times a millisecond, until stopped. Only the test's own children
 * when children_only (a process forked but not yet exec-ed still has the
 * test's comm and is passed over); any process otherwise (pgBackRest's
 * archive-push runs under the server).
 *
 * Sampling can miss a tool that ends within a few milliseconds on a busy
 * machine, so the tools found on PATH are also wrapped: the watch puts a
 * folder first on PATH whose script of each tool's name appends its own
 * command line (and environment) to a log and execs the real tool. Every
 * run the library starts by PATH is thus seen, however short; the tools it
 * takes from /usr/lib/postgresql/N/bin are sampled only. PATH is restored
 * at stop. Plain C: no libdbmgmt.
 */
#ifndef DBMGMT_TESTS_SUPPORT_CHILD_WATCH_H
#define DBMGMT_TESTS_SUPPORT_CHILD_WATCH_H

#include <stddef.h>

/* One secret: bytes that must not appear (not necessarily a C string). */
typedef struct support_secret {
    const void *data;
    size_t len;
} support_secret;

/* What the watch saw between start and stop. */
typedef struct support_watch_result {
    int seen;          /* command lines of the tools read (sampled or wrapped) */
    int wrapped;       /* runs of a wrapped tool (each one, however short) */
    int leaks;         /* reads that held a secret */
    char leaked[256];  /* the last leak: "TOOL's cmdline" (never the secret) */
} support_watch_result;

typedef struct support_child_watch support_child_watch;

/* tools: NULL-terminated comm names; secrets: nsecrets entries, copied.
 * Fails the test when the thread cannot start. */
support_child_watch *support_child_watch_start(const char *const *tools, int children_only,
                                               int with_environ, const support_secret *secrets,
                                               size_t nsecrets);
/* The figures so far (the watch goes on). */
void support_child_watch_peek(support_child_watch *w, support_watch_result *out);
/* Stop and free the watch; out receives its figures. */
void support_child_watch_stop(support_child_watch *w, support_watch_result *out);

#endif
