/*
 * Library threads and signals (issue 17, lib/core/thread.h): the pool's,
 * the backup scheduler's and the boot's folder reader block every
 * asynchronous signal, so a signal sent to the process runs the host's
 * handler on a host thread only; code of the host's that a library thread
 * runs (a backup hook), and a child it starts, get the host's mask back.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/thread.h"
#include "dbmgmt.h"
#include "support/files.h"

/* ---- the helper itself ---------------------------------------------------- */

typedef struct mask_probe {
    sigset_t in_thread, as_host, after, host_reported;
} mask_probe;

static int read_mask(void *arg)
{
    pthread_sigmask(SIG_SETMASK, NULL, (sigset_t *)arg);
    return 7;
}

static void *probe_main(void *arg)
{
    mask_probe *p = arg;
    pthread_sigmask(SIG_SETMASK, NULL, &p->in_thread);
    assert_int_equal(dm_thread_as_host(read_mask, &p->as_host), 7);
    pthread_sigmask(SIG_SETMASK, NULL, &p->after);
    dm_thread_host_mask(&p->host_reported);
    return NULL;
}

static void test_library_thread_blocks_asynchronous_signals_and_runs_host_code_unblocked(void **state)
{
    (void)state;
    /* the host thread has its own mask: SIGUSR2 blocked, the rest open */
    sigset_t host, before;
    sigemptyset(&host);
    sigaddset(&host, SIGUSR2);
    pthread_sigmask(SIG_SETMASK, &host, &before);
    mask_probe p;
    dm_thread_start start;
    pthread_t t;
    assert_int_equal(dm_thread_create(&t, NULL, &start, probe_main, &p), 0);
    sigset_t now;
    pthread_sigmask(SIG_SETMASK, NULL, &now);
    assert_int_equal(sigismember(&now, SIGTERM), 0); /* the caller's mask is as it was */
    assert_int_equal(sigismember(&now, SIGUSR2), 1);
    pthread_join(t, NULL);
    pthread_sigmask(SIG_SETMASK, &before, NULL);
    static const int asynchronous[] = {SIGTERM, SIGINT, SIGHUP, SIGUSR1, SIGUSR2, SIGCHLD,
                                       SIGPIPE, SIGALRM, SIGQUIT};
    for (size_t i = 0; i < sizeof asynchronous / sizeof asynchronous[0]; i++) {
        assert_int_equal(sigismember(&p.in_thread, asynchronous[i]), 1);
        assert_int_equal(sigismember(&p.after, asynchronous[i]), 1);
    }
    static const int synchronous[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL};
    for (size_t i = 0; i < sizeof synchronous / sizeof synchronous[0]; i++)
        assert_int_equal(sigismember(&p.in_thread, synchronous[i]), 0);
    /* the host's code ran with the host's mask, which the thread reports */
    assert_int_equal(sigismember(&p.as_host, SIGTERM), 0);
    assert_int_equal(sigismember(&p.as_host, SIGUSR1), 0);
    assert_int_equal(sigismember(&p.as_host, SIGUSR2), 1);
    assert_int_equal(sigismember(&p.host_reported, SIGTERM), 0);
    assert_int_equal(sigismember(&p.host_reported, SIGUSR2), 1);
}

/* ---- a process with all three kinds of library thread running -------------- */

#define MAX_HANDLED 512
static pthread_t handled_on[MAX_HANDLED];
static atomic_int handled;

static void on_signal(int sig)
{
    (void)sig;
    int i = atomic_fetch_add(&handled, 1);
    if (i < MAX_HANDLED)
        handled_on[i] = pthread_self();
}

static atomic_int stop_hosts;

/* A host thread that takes the process's signals. */
static void *signal_thread(void *arg)
{
    (void)arg;
    while (!atomic_load(&stop_hosts)) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    return NULL;
}

typedef struct booter {
    char dsn[300], dir[256];
    int boots, failures;
} booter;

/* A host thread booting again and again: each boot starts a folder reader. */
static void *boot_thread(void *arg)
{
    booter *b = arg;
    while (!atomic_load(&stop_hosts)) {
        if (dbmgmt_migrate_on_boot(b->dsn, b->dir, NULL, NULL) != DBMGMT_OK)
            b->failures++;
        b->boots++;
    }
    return NULL;
}

static void write_migration(const char *dir, int n)
{
    char path[400];
    snprintf(path, sizeof path, "%s/%03d_t%d.sql", dir, n, n);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "-- migrate:up\nCREATE TABLE t%d (id INTEGER PRIMARY KEY);\n", n);
    fclose(f);
}

static void test_process_signals_reach_only_host_threads(void **state)
{
    (void)state;
    char top[64];
    assert_int_equal(support_scratch_dir(top, sizeof top, "dbmgmt-signals"), 0);
    booter boot;
    memset(&boot, 0, sizeof boot);
    snprintf(boot.dir, sizeof boot.dir, "%s/migrations", top);
    snprintf(boot.dsn, sizeof boot.dsn, "sqlite://%s/boot.db", top);
    assert_int_equal(mkdir(boot.dir, 0700), 0);
    for (int i = 1; i <= 40; i++)
        write_migration(boot.dir, i);
    char dsn[300], backups[300];
    snprintf(dsn, sizeof dsn, "sqlite://%s/pool.db", top);
    snprintf(backups, sizeof backups, "%s/backups", top);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    struct sigaction old_usr1, old_term;
    assert_int_equal(sigaction(SIGUSR1, &sa, &old_usr1), 0);
    assert_int_equal(sigaction(SIGTERM, &sa, &old_term), 0);

    /* The library's threads are started while this thread takes signals:
     * without blocking of their own they would inherit that. */
    dbmgmt_pool_config *cfg = NULL;
    assert_int_equal(dbmgmt_pool_config_new(&cfg), DBMGMT_OK);
    assert_int_equal(dbmgmt_pool_config_set_min_idle(cfg, 2), DBMGMT_OK);
    dbmgmt_pool *pool = NULL;
    assert_int_equal(dbmgmt_pool_open(&pool, dsn, cfg), DBMGMT_OK);
    dbmgmt_pool_config_free(cfg);
    dbmgmt_backup *backup = NULL;
    assert_int_equal(dbmgmt_backup_new(&backup, dsn, backups), DBMGMT_OK);
    assert_int_equal(dbmgmt_backup_add_schedule(backup, "hourly", "@hourly", "hourly"), DBMGMT_OK);
    assert_int_equal(dbmgmt_backup_start(backup), DBMGMT_OK);
    /* the first boot applies the folder; the booter's are then quick, each
     * starting a folder reader while the signals come */
    assert_int_equal(dbmgmt_migrate_on_boot(boot.dsn, boot.dir, NULL, NULL), DBMGMT_OK);
    atomic_store(&stop_hosts, 0);
    pthread_t taker, booting;
    assert_int_equal(pthread_create(&taker, NULL, signal_thread, NULL), 0);
    assert_int_equal(pthread_create(&booting, NULL, boot_thread, &boot), 0);

    /* This thread now blocks them, as a host that leaves signals to one
     * thread of its own does: the taker and the booter are the only host
     * threads that can take one. */
    sigset_t block, before;
    sigemptyset(&block);
    sigaddset(&block, SIGUSR1);
    sigaddset(&block, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &block, &before);
    atomic_store(&handled, 0);
    enum { SIGNALS = 300 };
    int sent = 0;
    for (; sent < SIGNALS; sent++) {
        kill(getpid(), sent % 2 ? SIGUSR1 : SIGTERM);
        /* one at a time, so none merges with another; a hang guard of 10 s */
        for (int spins = 0; atomic_load(&handled) <= sent && spins < 10000; spins++) {
            struct timespec ts = {0, 1000000};
            nanosleep(&ts, NULL);
        }
        if (atomic_load(&handled) <= sent)
            break;
    }
    atomic_store(&stop_hosts, 1);
    pthread_join(taker, NULL);
    pthread_join(booting, NULL);
    assert_int_equal(dbmgmt_backup_stop(backup), DBMGMT_OK);
    dbmgmt_backup_free(backup);
    assert_int_equal(dbmgmt_pool_close(pool, 1000), DBMGMT_OK);
    pthread_sigmask(SIG_SETMASK, &before, NULL);
    sigaction(SIGUSR1, &old_usr1, NULL);
    sigaction(SIGTERM, &old_term, NULL);

    printf("signals: %d sent, %d handled, %d boots meanwhile\n", sent, atomic_load(&handled),
           boot.boots);
    assert_int_equal(sent, SIGNALS);
    assert_int_equal(boot.failures, 0);
    assert_true(boot.boots > 0);
    int n = atomic_load(&handled);
    for (int i = 0; i < n && i < MAX_HANDLED; i++)
        if (!pthread_equal(handled_on[i], taker) && !pthread_equal(handled_on[i], booting))
            fail_msg("signal %d of %d ran its handler on a library thread", i + 1, n);
    assert_int_equal(support_remove_tree(top), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_library_thread_blocks_asynchronous_signals_and_runs_host_code_unblocked),
        cmocka_unit_test(test_process_signals_reach_only_host_threads),
    };
    return cmocka_run_group_tests_name("signals", tests, NULL, NULL);
}
