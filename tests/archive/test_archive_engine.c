/*
 * Retention and archival jobs (issue 22) on one engine: SQLite (a file of
 * its own) or the server of DBMGMT_TEST_DSN (tests/engines/run_engine.sh).
 *
 * - a MOVE of DBMGMT_ARCHIVE_ROWS (default 1,000,000) rows, loaded by one
 *   INSERT ... SELECT over a generated series, with 8 writer threads
 *   inserting and updating meanwhile: table + archive = rows ever inserted,
 *   none in both, every old row archived; batches sized by time; the
 *   writers' longest wait during the job is at most 100 ms over their
 *   longest in a control phase without it (see "writers" below);
 * - export-then-delete: the files restore into an empty table with exactly
 *   the removed rows (SHA-256 of the ordered rows), in JSON Lines and CSV,
 *   gzip and zstd;
 * - 20 runs killed with SIGKILL at a random point (MOVE and EXPORT in
 *   turn, the exports JSON Lines/gzip and CSV/zstd in turn, 1,500 rows),
 *   then resumed: the same invariant every time;
 * - a soft-delete policy, a cron tick, and the errors for a missing column
 *   and a malformed window.
 */
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <dirent.h>
#include <fcntl.h>

#include <cmocka.h>
#include <sqlite3.h>

#include <dbmgmt.h>

#include "support/engine.h"
#include "support/files.h"
#include "support/rows.h"

#define NOW INT64_C(1790000000)
#define OLD_BASE (NOW - 200 * 86400)
#define WRITERS 8

static char dsn[1024];
static dbmgmt_engine engine;
static char scratch[512];

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The test's own statements share one connection (opening one per
 * statement cost seconds of TLS handshakes on the servers). */
static dbmgmt_conn *tc;

static void exec_quiet(const char *sql)
{
    dbmgmt_conn_exec(tc, sql); /* DROP of what may not be there */
}

static void make_empty_like(const char *table)
{
    char sql[256];
    snprintf(sql, sizeof sql, "DROP TABLE IF EXISTS %s", table);
    exec_quiet(sql);
    snprintf(sql, sizeof sql,
             "CREATE TABLE %s(id BIGINT PRIMARY KEY, t BIGINT NOT NULL, v BIGINT NOT NULL,"
             " note VARCHAR(64))", table);
    support_exec_ok(tc, sql);
}

/* items(id, t, v, note): rows 1..n, every tenth one new (t = NOW), the
 * others old (200 days before NOW, one second apart); note NULL on every
 * seventh row. One INSERT ... SELECT over a generated series of exactly n
 * numbers: generate_series on PostgreSQL, the sequence engine's
 * seq_1_to_N on MariaDB, a recursive CTE on SQLite. */
static void make_items(const char *table, int64_t n)
{
    char sql[1024], note[64];
    make_empty_like(table);
    if (engine == DBMGMT_ENGINE_MYSQL)
        snprintf(note, sizeof note, "CONCAT('note ', i)");
    else
        snprintf(note, sizeof note, "'note ' || i");
    char select[256];
    snprintf(select, sizeof select, "i, CASE WHEN i %% 10 = 0 THEN %lld ELSE %lld + i END, 0,"
             " CASE WHEN i %% 7 = 0 THEN NULL ELSE %s END", (long long)NOW, (long long)OLD_BASE,
             note);
    if (engine == DBMGMT_ENGINE_POSTGRES)
        snprintf(sql, sizeof sql, "INSERT INTO %s(id, t, v, note) SELECT %s"
                 " FROM generate_series(1, %lld) AS g(i)", table, select, (long long)n);
    else if (engine == DBMGMT_ENGINE_MYSQL)
        snprintf(sql, sizeof sql, "INSERT INTO %s(id, t, v, note) SELECT %s"
                 " FROM (SELECT seq AS i FROM seq_1_to_%lld) g", table, select, (long long)n);
    else
        snprintf(sql, sizeof sql, "WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1"
                 " FROM g WHERE i < %lld) INSERT INTO %s(id, t, v, note) SELECT %s FROM g",
                 (long long)n, table, select);
    support_exec_ok(tc, sql);
}

static int64_t count_of(const char *sql)
{
    return support_query_int(tc, sql);
}

static dbmgmt_archive *new_job(const char *table, int32_t action, const char *target,
                               int32_t batch)
{
    dbmgmt_archive *a = NULL;
    assert_int_equal(dbmgmt_archive_new(&a, dsn, table), DBMGMT_OK);
    assert_int_equal(dbmgmt_archive_set_key(a, "id", DBMGMT_ARCHIVE_KEY_INTEGER), DBMGMT_OK);
    assert_int_equal(dbmgmt_archive_set_time_column(a, "t", DBMGMT_ARCHIVE_TIME_EPOCH),
                     DBMGMT_OK);
    assert_int_equal(dbmgmt_archive_set_window(a, "90d"), DBMGMT_OK);
    assert_int_equal(dbmgmt_archive_set_action(a, action, target), DBMGMT_OK);
    if (batch > 0) { /* fixed batches: the tests count files and batches */
        assert_int_equal(dbmgmt_archive_set_batch_size(a, batch), DBMGMT_OK);
        assert_int_equal(dbmgmt_archive_set_batch_time(a, 0, 0, 0), DBMGMT_OK);
    }
    return a;
}

/* ---- writers ---------------------------------------------------------------
 *
 * The lock bound (issue 22: a job holds writers at most 100 ms). The test
 * must not depend on how fast the machine is, so the same 8 writers run
 * first for CONTROL_MS without the job (the control phase), then while the
 * job runs (the job phase), then again without it for as long as the job
 * ran (the second control phase). Each writer times every statement
 * (monotonic clock, the call's start to its return) and files it by when it
 * ran:
 * - control: ended before the job started, or started after it ended;
 * - job: overlapped the job's run [job_start, job_end];
 * (a statement that started before and ended after is a job-phase one).
 * A statement's wait is its time less the time its thread sat on a run queue
 * meanwhile (runnable, not running: /proc/thread-self/schedstat), so that a
 * CPU taken by other work is not counted as a lock: under two busy loops on
 * the 2-core VM a writer once waited 184 ms of clock time during a job whose
 * longest batch held the lock 37 ms. Both figures are printed.
 * The assertion on SQLite: job-phase max wait <= LOCK_BOUND_MS + control-phase
 * max wait (PostgreSQL and MariaDB, row locks: see the assertion). The control max absorbs what the machine does to a writer anyway
 * (fsync, scheduling on a loaded 2-core box, a checkpoint); the job may add
 * at most 100 ms on top. The second control phase is as long as the job
 * phase, so that a stall a busy machine deals out now and then has the same
 * chance to land in either (a 3 s control phase alone once let a 170 ms
 * stall in a 12 s job phase break the SQLite bound under two busy loops).
 * docs/decisions.md records this.
 *
 * The bound is asserted in the plain build only. A sanitizer build
 * (DBMGMT_ARCHIVE_LOCK_BOUND=print, set by meson.build, as in a cross build run under
 * qemu, docs/cross.md) runs the same job and
 * checks every row invariant, but instruments every lock wait and commit: its
 * timings say what the sanitizer costs, not what a batch holds (CI's ASan run
 * saw an UPDATE wait past the bound once that no plain run has shown).
 */
#define CONTROL_MS 3000
#define CONTROL_AFTER_MAX_MS 30000 /* the second control phase's cap */
#define LOCK_BOUND_MS 100

static volatile int64_t job_start_ms = INT64_MAX, job_end_ms = INT64_MAX;

typedef struct writer {
    int index;
    int64_t rows; /* the table's initial rows: updates pick among them */
    volatile int *stop;
    int64_t inserted;
    int64_t statements[2];   /* [0] control phases, [1] job phase */
    int64_t max_wait_ms[2];  /* less the time the thread sat on a run queue */
    int64_t max_raw_ms[2];   /* as the clock saw it */
    int sched_fd;            /* /proc/thread-self/schedstat, or -1 */
    int64_t job_max_ms[2];   /* job phase: [0] INSERTs of fresh keys, [1] UPDATEs */
    int failed;
    char error[512];
} writer;

/* The calling thread's time on a run queue (runnable, not running), in ns:
 * schedstat's second field; -1 where the kernel does not keep it. */
static int64_t run_delay_ns(int fd)
{
    char text[128];
    ssize_t n = fd >= 0 ? pread(fd, text, sizeof text - 1, 0) : -1;
    if (n <= 0)
        return -1;
    text[n] = '\0';
    unsigned long long run = 0, delay = 0;
    return sscanf(text, "%llu %llu", &run, &delay) == 2 ? (int64_t)delay : -1;
}

static int64_t timed(writer *w, dbmgmt_conn *c, const char *sql, int kind)
{
    int64_t d0 = run_delay_ns(w->sched_fd);
    int64_t t0 = mono_ms();
    int rc = dbmgmt_conn_exec(c, sql);
    int64_t t1 = mono_ms();
    int64_t d1 = run_delay_ns(w->sched_fd);
    int64_t js = __atomic_load_n(&job_start_ms, __ATOMIC_SEQ_CST);
    int64_t je = __atomic_load_n(&job_end_ms, __ATOMIC_SEQ_CST);
    int phase = t1 < js || t0 > je ? 0 : 1;
    int64_t raw = t1 - t0;
    /* time the CPU was not given to the writer is the machine's, not a lock's */
    int64_t wait = d0 >= 0 && d1 >= d0 ? raw - (d1 - d0) / 1000000 : raw;
    if (wait < 0)
        wait = 0;
    if (raw > w->max_raw_ms[phase])
        w->max_raw_ms[phase] = raw;
    if (wait > w->max_wait_ms[phase])
        w->max_wait_ms[phase] = wait;
    if (phase == 1 && wait > w->job_max_ms[kind])
        w->job_max_ms[kind] = wait;
    w->statements[phase]++;
    if (rc != DBMGMT_OK && !w->failed) {
        w->failed = 1;
        snprintf(w->error, sizeof w->error, "%s: %s", sql, dbmgmt_errmsg());
    }
    return rc;
}

static int busy_1ms(void *userdata, int count)
{
    (void)userdata;
    usleep(1000);
    return count < 30000;
}

static void *writer_main(void *arg)
{
    writer *w = arg;
    dbmgmt_conn *c = NULL;
    if (dbmgmt_conn_open(&c, dsn) != DBMGMT_OK) {
        w->failed = 1;
        snprintf(w->error, sizeof w->error, "open: %s", dbmgmt_errmsg());
        return NULL;
    }
    if (engine == DBMGMT_ENGINE_SQLITE) /* wait in 1 ms steps, not SQLite's up to 100 ms */
        sqlite3_busy_handler(dbmgmt_conn_native(c), busy_1ms, NULL);
    w->sched_fd = open("/proc/thread-self/schedstat", O_RDONLY | O_CLOEXEC);
    unsigned seed = (unsigned)(w->index * 7919 + 1);
    char sql[256];
    while (!*w->stop && !w->failed) {
        int64_t id = INT64_C(10000000) + w->index * INT64_C(1000000) + w->inserted;
        snprintf(sql, sizeof sql, "INSERT INTO arch_items(id, t, v, note) VALUES (%lld, %lld, 0,"
                 " 'writer')", (long long)id, (long long)NOW);
        if (timed(w, c, sql, 0) == DBMGMT_OK)
            w->inserted++;
        int64_t target = 1 + (int64_t)((unsigned)rand_r(&seed) % (unsigned)w->rows);
        snprintf(sql, sizeof sql, "UPDATE arch_items SET v = v + 1 WHERE id = %lld",
                 (long long)target);
        timed(w, c, sql, 1);
        usleep(5000); /* an application's writer, not a load generator */
    }
    if (w->sched_fd >= 0)
        close(w->sched_fd);
    dbmgmt_conn_close(c);
    return NULL;
}

/* Whether the lock bound is asserted (the plain build) or only printed. */
static bool lock_bound_asserted(void)
{
    const char *s = getenv("DBMGMT_ARCHIVE_LOCK_BOUND");
    return !(s && strcmp(s, "print") == 0);
}

static int64_t env_rows(void)
{
    const char *s = getenv("DBMGMT_ARCHIVE_ROWS");
    return s && *s ? atoll(s) : 1000000;
}

static void test_move_with_8_writers_keeps_every_row_once(void **state)
{
    (void)state;
    int64_t rows = env_rows();
    int64_t t_load = mono_ms();
    make_items("arch_items", rows);
    exec_quiet("DROP TABLE IF EXISTS arch_items_archive");
    int64_t old = count_of("SELECT COUNT(*) FROM arch_items WHERE t < 1790000000 - 90 * 86400");
    assert_true(old > rows / 2);
    t_load = mono_ms() - t_load;

    volatile int stop = 0;
    writer w[WRITERS];
    pthread_t th[WRITERS];
    memset(w, 0, sizeof w);
    job_start_ms = job_end_ms = INT64_MAX;
    for (int i = 0; i < WRITERS; i++) {
        w[i].index = i;
        w[i].rows = rows;
        w[i].stop = &stop;
        assert_int_equal(pthread_create(&th[i], NULL, writer_main, &w[i]), 0);
    }
    /* batches sized by time (the default, 50 ms); SQLite has one write
     * lock, which every writer waits for while a batch holds it, and no
     * fairness among waiters: a smaller target there, and a pause as long to
     * let every waiting writer in between batches (docs/archive.md) */
    dbmgmt_archive *a = new_job("arch_items", DBMGMT_ARCHIVE_MOVE, "arch_items_archive", 0);
    const char *target_env = getenv("DBMGMT_ARCHIVE_TARGET_MS"); /* development */
    if (target_env && *target_env)
        assert_int_equal(dbmgmt_archive_set_batch_time(a, atoi(target_env), 10, 10000),
                         DBMGMT_OK);
    if (engine == DBMGMT_ENGINE_SQLITE) {
        assert_int_equal(dbmgmt_archive_set_batch_time(a, 20, 10, 10000), DBMGMT_OK);
        assert_int_equal(dbmgmt_archive_set_pause_ms(a, 20), DBMGMT_OK);
    }
    usleep(CONTROL_MS * 1000); /* the control phase */
    int64_t t0 = mono_ms();
    __atomic_store_n(&job_start_ms, t0, __ATOMIC_SEQ_CST);
    int rc = dbmgmt_archive_run(a, NOW);
    int64_t took = mono_ms() - t0;
    __atomic_store_n(&job_end_ms, mono_ms(), __ATOMIC_SEQ_CST);
    bool asserted = lock_bound_asserted();
    if (asserted) /* the second control phase, as long as the job's */
        usleep((useconds_t)(took < CONTROL_AFTER_MAX_MS ? took : CONTROL_AFTER_MAX_MS) * 1000);
    stop = 1;
    int64_t inserted = 0, statements[2] = {0, 0}, max_wait[2] = {0, 0}, job_max[2] = {0, 0};
    int64_t max_raw[2] = {0, 0};
    for (int i = 0; i < WRITERS; i++) {
        pthread_join(th[i], NULL);
        if (w[i].failed)
            fail_msg("writer %d: %s", i, w[i].error);
        inserted += w[i].inserted;
        for (int p = 0; p < 2; p++) {
            statements[p] += w[i].statements[p];
            if (w[i].max_wait_ms[p] > max_wait[p])
                max_wait[p] = w[i].max_wait_ms[p];
            if (w[i].max_raw_ms[p] > max_raw[p])
                max_raw[p] = w[i].max_raw_ms[p];
            if (w[i].job_max_ms[p] > job_max[p])
                job_max[p] = w[i].job_max_ms[p];
        }
    }
    if (rc != DBMGMT_OK)
        fail_msg("archive run: %s", dbmgmt_archive_errmsg(a));
    printf("# %s: loaded %lld rows in %lld ms; moved %lld rows in %lld ms (%.0f rows/s),"
           " %lld batches, last batch %lld rows, longest batch %lld ms\n",
           dbmgmt_engine_name(engine), (long long)rows, (long long)t_load,
           (long long)dbmgmt_archive_metric(a, DBMGMT_ARCHIVE_ROWS_MOVED), (long long)took,
           took > 0 ? 1000.0 * (double)old / (double)took : 0.0,
           (long long)dbmgmt_archive_metric(a, DBMGMT_ARCHIVE_BATCHES),
           (long long)dbmgmt_archive_metric(a, DBMGMT_ARCHIVE_BATCH_ROWS),
           (long long)dbmgmt_archive_metric(a, DBMGMT_ARCHIVE_LOCK_MS_MAX));
    printf("# %s: writers' max wait: control phase %lld ms (%lld statements), job phase %lld ms"
           " (%lld statements); bound %d + %lld ms\n", dbmgmt_engine_name(engine),
           (long long)max_wait[0], (long long)statements[0], (long long)max_wait[1],
           (long long)statements[1], LOCK_BOUND_MS, (long long)max_wait[0]);
    printf("# %s: the same with the writers' run-queue time: control %lld ms, job %lld ms\n",
           dbmgmt_engine_name(engine), (long long)max_raw[0], (long long)max_raw[1]);
    assert_int_equal(dbmgmt_archive_metric(a, DBMGMT_ARCHIVE_ROWS_MOVED), old);
    assert_int_equal(dbmgmt_archive_metric(a, DBMGMT_ARCHIVE_ROWS_DELETED), old);
    assert_true(statements[0] > 0 && statements[1] > 0);
    printf("# %s: job phase: INSERTs of fresh keys max %lld ms, UPDATEs max %lld ms\n",
           dbmgmt_engine_name(engine), (long long)job_max[0], (long long)job_max[1]);
    /* SQLite: every writer waits for the job's write lock, INSERTs too:
     * every statement is held to the bound over the control phases. */
    if (!asserted)
        printf("# %s: lock bound printed, not asserted (a sanitizer or emulated build)\n",
               dbmgmt_engine_name(engine));
    if (asserted && engine == DBMGMT_ENGINE_SQLITE && max_wait[1] > LOCK_BOUND_MS + max_wait[0])
        fail_msg("a writer waited %lld ms during the job, more than %d ms over the control"
                 " phase's %lld ms", (long long)max_wait[1], LOCK_BOUND_MS,
                 (long long)max_wait[0]);
    /* PostgreSQL and MariaDB: row locks. The INSERTs of fresh keys, which no
     * batch locks, measure what the machine and server do to a writer in the
     * same phase (a 2-core machine shared with other builds stalled them 407
     * ms once in a 16 s job phase on PostgreSQL; on MariaDB, InnoDB holds
     * them 150-260 ms now and then while the job deletes, where no lock of the
     * job's is in their way; a 3 s control phase may see no such stall); the
     * UPDATEs, which can wait for a batch's locks, are held to 100 ms over the
     * larger of that and the control phase's max. */
    int64_t base = max_wait[0] > job_max[0] ? max_wait[0] : job_max[0];
    if (asserted && engine != DBMGMT_ENGINE_SQLITE && job_max[1] > LOCK_BOUND_MS + base)
        fail_msg("an UPDATE waited %lld ms during the job, more than %d ms over %lld ms (the"
                 " control phase's max or the job phase's fresh-key INSERTs' max)",
                 (long long)job_max[1], LOCK_BOUND_MS, (long long)base);
    int64_t left = count_of("SELECT COUNT(*) FROM arch_items");
    int64_t archived = count_of("SELECT COUNT(*) FROM arch_items_archive");
    assert_int_equal(left + archived, rows + inserted);
    assert_int_equal(archived, old);
    assert_int_equal(count_of("SELECT COUNT(*) FROM arch_items i JOIN arch_items_archive r"
                              " ON r.id = i.id"), 0);
    assert_int_equal(count_of("SELECT COUNT(*) FROM arch_items WHERE t < 1790000000 - 90 * 86400"),
                     0);
    assert_int_equal(count_of("SELECT COUNT(*) FROM arch_items_archive WHERE archived_at = "
                              "1790000000"), old);
    dbmgmt_archive_free(a);
}

/* ---- export, restore, checksums ----------------------------------------------- */

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* An export file's name: .jsonl or .csv, then .gz or .zst. */
static bool export_file(const char *name)
{
    static const char *const suffixes[] = {".jsonl.gz", ".jsonl.zst", ".csv.gz", ".csv.zst"};
    size_t len = strlen(name);
    for (size_t i = 0; i < sizeof suffixes / sizeof *suffixes; i++)
        if (len > strlen(suffixes[i]) && !strcmp(name + len - strlen(suffixes[i]), suffixes[i]))
            return true;
    return false;
}

/* Restore every export file of dir into table; the rows loaded. */
static int64_t restore_folder(const char *dir, const char *table)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    char *names[4096];
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (export_file(e->d_name) && n < 4096)
            names[n++] = strdup(e->d_name);
    closedir(d);
    qsort(names, n, sizeof *names, by_name);
    int64_t total = 0;
    for (size_t i = 0; i < n; i++) {
        char path[1024];
        int64_t got = 0;
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        if (dbmgmt_archive_restore(path, dsn, table, &got) != DBMGMT_OK)
            fail_msg("restore %s: %s", path, dbmgmt_errmsg());
        total += got;
        free(names[i]);
    }
    return total;
}

/* Export in one format, restore into an empty table: the same ordered rows. */
static void export_round(int32_t format, int32_t compression, const char *suffix)
{
    char dir[600];
    snprintf(dir, sizeof dir, "%s/export%s", scratch, suffix);
    support_remove_tree(dir);
    make_items("arch_items", 5000);
    /* what CSV must quote, and an empty string it must not read back as NULL */
    support_exec_ok(tc, "UPDATE arch_items SET note = 'quote \" back\\\\slash é' WHERE id = 3");
    support_exec_ok(tc, "UPDATE arch_items SET note = 'a, \"b\"\nnext line,' WHERE id = 4");
    support_exec_ok(tc, "UPDATE arch_items SET note = '' WHERE id = 5");
    char before[65], after[65];
    int64_t n_before = 0, n_after = 0;
    support_rows_sha(dsn,
                     "SELECT id, t, v, note FROM arch_items WHERE t < 1790000000 - 90 * 86400"
                     " ORDER BY id", before, &n_before);
    dbmgmt_archive *a = new_job("arch_items", DBMGMT_ARCHIVE_EXPORT, dir, 700);
    assert_int_equal(dbmgmt_archive_set_export_format(a, format, compression), DBMGMT_OK);
    if (dbmgmt_archive_run(a, NOW) != DBMGMT_OK)
        fail_msg("export%s: %s", suffix, dbmgmt_archive_errmsg(a));
    assert_int_equal(dbmgmt_archive_metric(a, DBMGMT_ARCHIVE_ROWS_EXPORTED), n_before);
    assert_int_equal(dbmgmt_archive_metric(a, DBMGMT_ARCHIVE_FILES), (n_before + 699) / 700);
    assert_int_equal(count_of("SELECT COUNT(*) FROM arch_items"), 5000 - n_before);
    char *status = dbmgmt_archive_status_json(a);
    assert_non_null(status);
    assert_non_null(strstr(status, "\"state\":\"deleted\""));
    assert_null(strstr(status, "\"state\":\"written\""));
    char first[64];
    snprintf(first, sizeof first, "\"file\":\"arch_items-00000001%s\"", suffix);
    if (!strstr(status, first))
        fail_msg("no %s in %s", first, status);
    dbmgmt_free(status);
    dbmgmt_archive_free(a);

    make_empty_like("arch_restored");
    assert_int_equal(restore_folder(dir, "arch_restored"), n_before);
    support_rows_sha(dsn, "SELECT id, t, v, note FROM arch_restored ORDER BY id", after, &n_after);
    printf("# export%s: %lld rows, restored checksum %s\n", suffix, (long long)n_after,
           !strcmp(after, before) ? "equal" : "DIFFERENT");
    assert_int_equal(n_after, n_before);
    assert_string_equal(after, before);
}

/* Whether zstd is built in; a build without it fails under CI=true (CI
 * builds it: scripts/suites.sh). */
static bool zstd_built(void)
{
    dbmgmt_archive *probe = NULL;
    assert_int_equal(dbmgmt_archive_new(&probe, dsn, "arch_items"), DBMGMT_OK);
    int rc = dbmgmt_archive_set_export_format(probe, DBMGMT_ARCHIVE_CSV, DBMGMT_ARCHIVE_ZSTD);
    dbmgmt_archive_free(probe);
    const char *ci = getenv("CI");
    if (rc == DBMGMT_ERR_UNSUPPORTED && !(ci && !strcmp(ci, "true"))) {
        printf("# zstd not built in: its rounds are left out\n");
        return false;
    }
    assert_int_equal(rc, DBMGMT_OK);
    return true;
}

/* Every format and compression (zstd in builds with it). */
static void test_export_restores_exactly_the_removed_rows(void **state)
{
    (void)state;
    export_round(DBMGMT_ARCHIVE_JSONL, DBMGMT_ARCHIVE_GZIP, ".jsonl.gz");
    export_round(DBMGMT_ARCHIVE_CSV, DBMGMT_ARCHIVE_GZIP, ".csv.gz");
    if (!zstd_built())
        return;
    export_round(DBMGMT_ARCHIVE_CSV, DBMGMT_ARCHIVE_ZSTD, ".csv.zst");
    export_round(DBMGMT_ARCHIVE_JSONL, DBMGMT_ARCHIVE_ZSTD, ".jsonl.zst");
}

/* ---- SIGKILL at random points, then resume ---------------------------------------- */

/* The child tells the parent of each committed batch with one byte. */
static int report_batch(void *userdata, const dbmgmt_archive *job)
{
    (void)job;
    int fd = *(int *)userdata;
    return write(fd, "b", 1) == 1 ? 0 : 1;
}

/* 1350 old rows: moves in 27 batches of 50, exports in 9 of 150 (each file
 * is restored after the run: fewer files, fewer connections) */
#define KILL_BATCH(action) ((action) == DBMGMT_ARCHIVE_EXPORT ? 150 : 50)

/* The kill runs' exports: JSON Lines and gzip, or every other one CSV and
 * zstd (when built in), whose resume reads the keys back from CSV. */
static int32_t kill_format = DBMGMT_ARCHIVE_JSONL, kill_compression = DBMGMT_ARCHIVE_GZIP;

static void run_job_and_exit(int32_t action, const char *target, int report_fd)
{
    dbmgmt_archive *a = NULL;
    int ok = dbmgmt_archive_new(&a, dsn, "arch_items") == DBMGMT_OK &&
             (action != DBMGMT_ARCHIVE_EXPORT ||
              dbmgmt_archive_set_export_format(a, kill_format, kill_compression) ==
                  DBMGMT_OK) &&
             dbmgmt_archive_set_progress(a, report_batch, &report_fd) == DBMGMT_OK &&
             dbmgmt_archive_set_time_column(a, "t", DBMGMT_ARCHIVE_TIME_EPOCH) == DBMGMT_OK &&
             dbmgmt_archive_set_window(a, "90d") == DBMGMT_OK &&
             dbmgmt_archive_set_action(a, action, target) == DBMGMT_OK &&
             dbmgmt_archive_set_batch_size(a, KILL_BATCH(action)) == DBMGMT_OK &&
             dbmgmt_archive_set_batch_time(a, 0, 0, 0) == DBMGMT_OK &&
             dbmgmt_archive_run(a, NOW) == DBMGMT_OK;
    dbmgmt_archive_free(a);
    _exit(ok ? 0 : 3);
}

static void test_sigkill_at_random_points_then_resume(void **state)
{
    (void)state;
    const int64_t rows = 1500;
    unsigned seed = (unsigned)getpid();
    bool zstd = zstd_built();
    int killed = 0;
    for (int run = 0; run < 20; run++) {
        int32_t action = run % 2 ? DBMGMT_ARCHIVE_EXPORT : DBMGMT_ARCHIVE_MOVE;
        kill_format = run % 4 == 3 ? DBMGMT_ARCHIVE_CSV : DBMGMT_ARCHIVE_JSONL;
        kill_compression = run % 4 == 3 && zstd ? DBMGMT_ARCHIVE_ZSTD : DBMGMT_ARCHIVE_GZIP;
        char dir[600];
        snprintf(dir, sizeof dir, "%s/kill-%d", scratch, run);
        const char *target = action == DBMGMT_ARCHIVE_MOVE ? "arch_items_archive" : dir;
        make_items("arch_items", rows);
        exec_quiet("DROP TABLE IF EXISTS arch_items_archive");
        int64_t old = count_of("SELECT COUNT(*) FROM arch_items WHERE t < 1790000000 - 90 * 86400");
        fflush(stdout);
        int fds[2];
        assert_int_equal(pipe(fds), 0);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            close(fds[0]);
            run_job_and_exit(action, target, fds[1]);
        }
        close(fds[1]);
        /* a random point: after batch k of the 27 or 9 (0: before the first), then
         * 0..2 ms into the next one (inside its transaction, its file, ...) */
        int after_batches = rand_r(&seed) % (int)(1350 / KILL_BATCH(action));
        int delay_us = rand_r(&seed) % 2000;
        char byte;
        for (int seen = 0; seen < after_batches && read(fds[0], &byte, 1) == 1;)
            seen++;
        usleep((useconds_t)delay_us);
        kill(pid, SIGKILL);
        close(fds[0]);
        int status = 0;
        waitpid(pid, &status, 0);
        int was_killed = WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
        killed += was_killed;
        assert_true(was_killed || (WIFEXITED(status) && WEXITSTATUS(status) == 0));

        dbmgmt_archive *a = new_job("arch_items", action, target, KILL_BATCH(action));
        if (action == DBMGMT_ARCHIVE_EXPORT)
            assert_int_equal(dbmgmt_archive_set_export_format(a, kill_format, kill_compression),
                             DBMGMT_OK);
        if (dbmgmt_archive_run(a, NOW) != DBMGMT_OK)
            fail_msg("run %d: resume: %s", run, dbmgmt_archive_errmsg(a));
        dbmgmt_archive_free(a);
        int64_t left = count_of("SELECT COUNT(*) FROM arch_items");
        const char *archive = "arch_items_archive";
        if (action == DBMGMT_ARCHIVE_EXPORT) {
            make_empty_like("arch_restored"); /* a duplicate key would fail the restore */
            restore_folder(dir, "arch_restored");
            archive = "arch_restored";
        }
        char sql[256];
        snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM %s", archive);
        int64_t archived = count_of(sql);
        snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM arch_items i JOIN %s r ON r.id = i.id",
                 archive);
        int64_t both = count_of(sql);
        printf("# run %2d (%s, %s %2d batches + %4d us): table %lld + archive %lld = %lld,"
               " in both %lld\n",
               run,
               action == DBMGMT_ARCHIVE_MOVE                  ? "move"
               : kill_format == DBMGMT_ARCHIVE_JSONL          ? "export jsonl.gz"
               : kill_compression == DBMGMT_ARCHIVE_ZSTD      ? "export csv.zst"
                                                              : "export csv.gz",
               was_killed ? "killed after" : "done before the kill at", after_batches, delay_us,
               (long long)left, (long long)archived, (long long)(left + archived),
               (long long)both);
        assert_int_equal(left + archived, rows);
        assert_int_equal(archived, old);
        assert_int_equal(both, 0);
    }
    assert_true(killed >= 18); /* the kills land mid-run */
}

/* ---- policies and errors ------------------------------------------------------------- */

static void test_soft_delete_and_tick(void **state)
{
    (void)state;
    exec_quiet("DROP TABLE IF EXISTS arch_soft");
    support_exec_ok(tc, "CREATE TABLE arch_soft(id BIGINT PRIMARY KEY, deleted_at BIGINT);"
                         "INSERT INTO arch_soft VALUES (1, NULL), (2, 1700000000),"
                         " (3, 1789999000), (4, NULL), (5, 1600000000)");
    dbmgmt_archive *a = NULL;
    assert_int_equal(dbmgmt_archive_new(&a, dsn, "arch_soft"), DBMGMT_OK);
    assert_int_equal(dbmgmt_archive_set_soft_delete_column(a, "deleted_at",
                                                           DBMGMT_ARCHIVE_TIME_EPOCH), DBMGMT_OK);
    assert_int_equal(dbmgmt_archive_set_window(a, "30d"), DBMGMT_OK);
    assert_int_equal(dbmgmt_archive_set_schedule(a, "0 3 * * *", 0), DBMGMT_OK);
    /* 1790000000 is 2026-09-21 14:13:20 UTC: the first tick only records */
    assert_int_equal(dbmgmt_archive_tick(a, NOW), 0);
    assert_int_equal(dbmgmt_archive_tick(a, NOW + 3600), 0);
    assert_int_equal(count_of("SELECT COUNT(*) FROM arch_soft"), 5);
    assert_int_equal(dbmgmt_archive_tick(a, NOW + 14 * 3600), 1); /* 03:00 passed */
    assert_int_equal(count_of("SELECT COUNT(*) FROM arch_soft"), 3);
    assert_int_equal(count_of("SELECT COUNT(*) FROM arch_soft WHERE id IN (1, 3, 4)"), 3);
    assert_string_equal(dbmgmt_archive_last_key(a), "5");
    dbmgmt_archive_free(a);
}

/* A text key walked in batches of 2, and a timestamp column compared in UTC. */
static void test_text_key_and_timestamp_column(void **state)
{
    (void)state;
    exec_quiet("DROP TABLE IF EXISTS arch_codes");
    char sql[512];
    snprintf(sql, sizeof sql,
             "CREATE TABLE arch_codes(code VARCHAR(32) PRIMARY KEY, created %s NOT NULL);"
             "INSERT INTO arch_codes VALUES ('b-2', '2020-01-01 00:00:00'),"
             " ('a''1', '2026-06-01 10:00:00'), ('c-3', '2026-09-20 00:00:00'),"
             " ('d-4', '2019-05-05 05:05:05'), ('e-5', '2026-06-23 14:13:19')",
             engine == DBMGMT_ENGINE_POSTGRES ? "TIMESTAMP"
             : engine == DBMGMT_ENGINE_MYSQL  ? "DATETIME"
                                              : "TEXT");
    support_exec_ok(tc, sql);
    dbmgmt_archive *a = NULL;
    assert_int_equal(dbmgmt_archive_new(&a, dsn, "arch_codes"), DBMGMT_OK);
    assert_int_equal(dbmgmt_archive_set_key(a, "code", DBMGMT_ARCHIVE_KEY_TEXT), DBMGMT_OK);
    assert_int_equal(dbmgmt_archive_set_time_column(a, "created", DBMGMT_ARCHIVE_TIME_TIMESTAMP),
                     DBMGMT_OK);
    assert_int_equal(dbmgmt_archive_set_window(a, "90d"), DBMGMT_OK); /* 2026-06-23 14:13:20 */
    assert_int_equal(dbmgmt_archive_set_batch_size(a, 2), DBMGMT_OK);
    assert_int_equal(dbmgmt_archive_set_batch_time(a, 0, 0, 0), DBMGMT_OK); /* fixed: 2 */
    if (dbmgmt_archive_run(a, NOW) != DBMGMT_OK)
        fail_msg("text keys: %s", dbmgmt_archive_errmsg(a));
    assert_int_equal(dbmgmt_archive_metric(a, DBMGMT_ARCHIVE_ROWS_DELETED), 4);
    assert_int_equal(dbmgmt_archive_metric(a, DBMGMT_ARCHIVE_BATCHES), 2);
    assert_string_equal(dbmgmt_archive_last_key(a), "e-5");
    assert_int_equal(count_of("SELECT COUNT(*) FROM arch_codes WHERE code = 'c-3'"), 1);
    assert_int_equal(count_of("SELECT COUNT(*) FROM arch_codes"), 1);
    dbmgmt_archive_free(a);
}

static void test_errors_name_the_setting(void **state)
{
    (void)state;
    dbmgmt_archive *a = NULL;
    assert_int_equal(dbmgmt_archive_new(&a, dsn, "arch_soft"), DBMGMT_OK);
    static const struct { const char *window; const char *needle; } bad[] = {
        {"", "empty"}, {"90", "unit"}, {"d", "number expected at character 1"},
        {"9x", "unit w, d, h, m or s expected at character 2"}, {"99999999999d", "too large"},
        {"40000d", "longer than 100 years"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(dbmgmt_archive_set_window(a, bad[i].window), DBMGMT_ERR_PARSE);
        if (!strstr(dbmgmt_archive_errmsg(a), bad[i].needle))
            fail_msg("window '%s': '%s' lacks '%s'", bad[i].window, dbmgmt_archive_errmsg(a),
                     bad[i].needle);
    }
    assert_int_equal(dbmgmt_archive_run(a, NOW), DBMGMT_ERR_INVALID);
    assert_non_null(strstr(dbmgmt_archive_errmsg(a), "no time or soft-delete column"));
    assert_int_equal(dbmgmt_archive_set_time_column(a, "created", DBMGMT_ARCHIVE_TIME_EPOCH),
                     DBMGMT_OK);
    assert_int_equal(dbmgmt_archive_set_window(a, "1d"), DBMGMT_OK);
    assert_int_equal(dbmgmt_archive_run(a, NOW), DBMGMT_ERR_NOTFOUND);
    assert_non_null(strstr(dbmgmt_archive_errmsg(a), "no column 'created' (the time column)"));
    assert_int_equal(dbmgmt_archive_set_action(a, DBMGMT_ARCHIVE_MOVE, NULL), DBMGMT_ERR_INVALID);
    assert_int_equal(dbmgmt_archive_set_batch_size(a, 0), DBMGMT_ERR_INVALID);
    dbmgmt_archive_free(a);
}

int main(void)
{
    const char *env = getenv("DBMGMT_TEST_DSN");
    assert_int_equal(support_scratch_dir(scratch, sizeof scratch, "archive"), 0);
    if (env && *env) {
        snprintf(dsn, sizeof dsn, "%s", env);
    } else {
        snprintf(dsn, sizeof dsn, "sqlite://%s/archive.db?busy_timeout=30000", scratch);
        support_exec_on(dsn, "PRAGMA journal_mode=WAL");
    }
    engine = support_engine_of_dsn(dsn);
    if (dbmgmt_conn_open(&tc, dsn) != DBMGMT_OK) {
        printf("%s: %s\n", dbmgmt_engine_name(engine), dbmgmt_errmsg());
        return 1;
    }
    FILE *evidence = support_evidence_open();
    dbmgmt_set_logger(support_log_to_evidence, evidence, DBMGMT_LOG_DEBUG);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_soft_delete_and_tick),
        cmocka_unit_test(test_text_key_and_timestamp_column),
        cmocka_unit_test(test_errors_name_the_setting),
        cmocka_unit_test(test_export_restores_exactly_the_removed_rows),
        cmocka_unit_test(test_sigkill_at_random_points_then_resume),
        cmocka_unit_test(test_move_with_8_writers_keeps_every_row_once),
    };
    const char *only = getenv("DBMGMT_ARCHIVE_ONLY"); /* a cmocka filter, for development */
    if (only && *only)
        cmocka_set_test_filter(only);
    int failed = cmocka_run_group_tests_name(dbmgmt_engine_name(engine), tests, NULL, NULL);
    /* the server's scratch database is shared with the later tests, which
     * migrate it and need it empty: the tables go, whatever the outcome */
    static const char *const tables[] = {"arch_items", "arch_items_archive", "arch_restored",
                                         "arch_soft", "arch_codes"};
    for (size_t i = 0; i < sizeof tables / sizeof *tables; i++) {
        char sql[96];
        snprintf(sql, sizeof sql, "DROP TABLE IF EXISTS %s", tables[i]);
        exec_quiet(sql);
    }
    dbmgmt_conn_close(tc);
    if (!failed)
        support_remove_tree(scratch);
    if (evidence)
        fclose(evidence);
    return failed;
}
