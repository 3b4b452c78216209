/*
 * The default alert rules fired by real causes on real servers (issue 20,
 * docs/alerts.md), through the public API only: dbmgmt_health_collect_pool()
 * or a sampler's dbmgmt_health_sample_at(), then dbmgmt_alerts_evaluate().
 * No figure is made up; each cause is made for real and then taken away:
 *
 *   pool_usage_high, pool_waiting_high  9 of 10 connections held; 10 held and
 *                                       11 threads blocked in acquire (every engine)
 *   disk_usage_high      a SQLite file grown past 80 % of a 2 MB tmpfs the
 *                        test mounts, then emptied and vacuumed (SQLite)
 *   deadlocks_high       six deadlocks of two sessions (PostgreSQL, MariaDB)
 *   slow_queries_high    statements slower than the slow bound (PostgreSQL,
 *                        MariaDB)
 *
 * Rates come from two samples; the sampler's clock is injected so that the
 * deadlocks fall in "one hour" and the slow statements in "one minute" or
 * less: the clock is what turns counts into the rates the rules judge, so
 * stamping it is the behaviour under test, not a mock of the cause.
 * Nothing asserts on how fast the machine is: waits poll with generous
 * deadlines. One program, run once per engine (DBMGMT_TEST_DSN); without a
 * prerequisite (a server's DSN, the right to mount) a test is skipped,
 * unless CI=true, where it fails.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "dbmgmt.h"
#include "support/cluster.h"
#include "support/engine.h"
#include "support/files.h"

static const char *test_dsn;
static dbmgmt_engine test_engine;
static FILE *evidence;

/* Injected clock: an arbitrary wall time, stepped by the tests. */
#define T0_MS INT64_C(1780000000000)
#define MINUTE_MS INT64_C(60000)
#define HOUR_MS INT64_C(3600000)

static int in_ci(void)
{
    const char *ci = getenv("CI");
    return ci && (!strcmp(ci, "true") || !strcmp(ci, "1"));
}

static int64_t monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits are generous: a busy CI machine is slow, never wrong. */
#define DEADLINE_MS 60000

/* ---- the alerts' callback ------------------------------------------------- */

#define MAX_NOTES 64
typedef struct notes {
    int count;
    char rule[MAX_NOTES][64];
    int32_t state[MAX_NOTES];
    int32_t severity[MAX_NOTES];
    double value[MAX_NOTES];
} notes;

static void record(void *userdata, const char *rule, int32_t state, int32_t severity,
                   double value, const char *message)
{
    notes *log = userdata;
    if (evidence)
        fprintf(evidence, "alert: %s\n", message);
    if (log->count >= MAX_NOTES)
        fail_msg("more than %d alert callbacks", MAX_NOTES);
    int i = log->count++;
    snprintf(log->rule[i], sizeof log->rule[i], "%s", rule);
    log->state[i] = state;
    log->severity[i] = severity;
    log->value[i] = value;
}

static int count_notes(const notes *log, const char *rule, int32_t state)
{
    int k = 0;
    for (int i = 0; i < log->count; i++)
        k += !strcmp(log->rule[i], rule) && log->state[i] == state;
    return k;
}

/* The value of the rule's last callback. */
static double last_value(const notes *log, const char *rule)
{
    for (int i = log->count - 1; i >= 0; i--)
        if (!strcmp(log->rule[i], rule))
            return log->value[i];
    fail_msg("no callback for %s", rule);
    return 0;
}

static dbmgmt_alerts *alerts_with(notes *log)
{
    dbmgmt_alerts *a = NULL;
    assert_int_equal(dbmgmt_alerts_new(&a), DBMGMT_OK);
    memset(log, 0, sizeof *log);
    assert_int_equal(dbmgmt_alerts_set_callback(a, record, log), DBMGMT_OK);
    return a;
}

/* A figure the snapshot must have. */
static double figure(const dbmgmt_health *h, int32_t metric)
{
    double v = 0;
    int rc = dbmgmt_health_get(h, metric, &v);
    if (rc != DBMGMT_OK)
        fail_msg("the snapshot has no %s (status %d)", dbmgmt_health_metric_name(metric), rc);
    return v;
}

/* ---- pools ------------------------------------------------------------------ */

static dbmgmt_pool *open_pool(int32_t max_size)
{
    dbmgmt_pool_config *cfg = NULL;
    assert_int_equal(dbmgmt_pool_config_new(&cfg), DBMGMT_OK);
    assert_int_equal(dbmgmt_pool_config_set_max_size(cfg, max_size), DBMGMT_OK);
    assert_int_equal(dbmgmt_pool_config_set_min_idle(cfg, 0), DBMGMT_OK);
    dbmgmt_pool *pool = NULL;
    int rc = dbmgmt_pool_open(&pool, test_dsn, cfg);
    dbmgmt_pool_config_free(cfg);
    if (rc != DBMGMT_OK)
        fail_msg("dbmgmt_pool_open: %s", dbmgmt_errmsg());
    return pool;
}

/* collect_pool and evaluate; returns the rules firing. */
static int32_t evaluate_pool(dbmgmt_alerts *a, dbmgmt_pool *pool, double *usage,
                             double *waiting)
{
    dbmgmt_health *h = NULL;
    int rc = dbmgmt_health_collect_pool(pool, &h);
    if (rc != DBMGMT_OK)
        fail_msg("dbmgmt_health_collect_pool: %d %s", rc, dbmgmt_errmsg());
    if (usage)
        *usage = figure(h, DBMGMT_HEALTH_POOL_USAGE_RATIO);
    if (waiting)
        *waiting = figure(h, DBMGMT_HEALTH_POOL_WAITING);
    int32_t firing = dbmgmt_alerts_evaluate(a, h);
    dbmgmt_health_free(h);
    assert_true(firing >= 0);
    return firing;
}

static void test_pool_usage_high_fires_with_nine_of_ten_held_and_resolves(void **state)
{
    (void)state;
    notes log;
    dbmgmt_alerts *a = alerts_with(&log);
    dbmgmt_pool *pool = open_pool(10);
    double usage = -1;
    evaluate_pool(a, pool, &usage, NULL);
    assert_true(usage < 0.8);
    assert_int_equal(log.count, 0);

    dbmgmt_conn *held[9];
    for (int i = 0; i < 9; i++)
        assert_int_equal(dbmgmt_pool_acquire(pool, &held[i], 30000), DBMGMT_OK);
    evaluate_pool(a, pool, &usage, NULL);
    assert_true(usage > 0.89 && usage < 0.91); /* 9 / 10 */
    assert_int_equal(count_notes(&log, "pool_usage_high", DBMGMT_ALERT_FIRING), 1);
    assert_true(last_value(&log, "pool_usage_high") == usage);

    for (int i = 0; i < 9; i++)
        assert_int_equal(dbmgmt_pool_release(pool, held[i]), DBMGMT_OK);
    evaluate_pool(a, pool, &usage, NULL);
    assert_true(usage <= 0.72);
    assert_int_equal(count_notes(&log, "pool_usage_high", DBMGMT_ALERT_RESOLVED), 1);
    assert_int_equal(count_notes(&log, "pool_usage_high", DBMGMT_ALERT_FIRING), 1);
    assert_int_equal(count_notes(&log, "pool_waiting_high", DBMGMT_ALERT_FIRING), 0);
    assert_int_equal(dbmgmt_pool_close(pool, 10000), DBMGMT_OK);
    dbmgmt_alerts_free(a);
}

typedef struct waiter {
    dbmgmt_pool *pool;
    pthread_t thread;
    int rc;
    char msg[256];
} waiter;

/* Blocks in acquire until the test gives connections back, then returns
 * the one it got. */
static void *wait_in_acquire(void *arg)
{
    waiter *w = arg;
    dbmgmt_conn *c = NULL;
    w->rc = dbmgmt_pool_acquire(w->pool, &c, 2 * DEADLINE_MS);
    if (w->rc == DBMGMT_OK)
        w->rc = dbmgmt_pool_release(w->pool, c);
    else
        snprintf(w->msg, sizeof w->msg, "%s", dbmgmt_errmsg());
    return NULL;
}

#define NWAITERS 11

static void test_pool_waiting_high_fires_with_eleven_blocked_and_resolves(void **state)
{
    (void)state;
    notes log;
    dbmgmt_alerts *a = alerts_with(&log);
    dbmgmt_pool *pool = open_pool(10);
    dbmgmt_conn *held[10];
    for (int i = 0; i < 10; i++)
        assert_int_equal(dbmgmt_pool_acquire(pool, &held[i], 30000), DBMGMT_OK);
    waiter w[NWAITERS];
    for (int i = 0; i < NWAITERS; i++) {
        w[i] = (waiter){.pool = pool, .rc = -1};
        assert_int_equal(pthread_create(&w[i].thread, NULL, wait_in_acquire, &w[i]), 0);
    }
    int64_t deadline = monotonic_ms() + DEADLINE_MS;
    while (dbmgmt_pool_metric(pool, DBMGMT_POOL_WAITING) < NWAITERS) {
        if (monotonic_ms() > deadline)
            fail_msg("only %lld of %d threads wait in acquire after %d ms",
                     (long long)dbmgmt_pool_metric(pool, DBMGMT_POOL_WAITING), NWAITERS,
                     DEADLINE_MS);
        support_sleep_ms(10);
    }
    /* the pool is exhausted and 11 threads wait: the snapshot must say so
     * (the health check cannot borrow a connection here) */
    double waiting = -1, usage = -1;
    evaluate_pool(a, pool, &usage, &waiting);
    assert_true(waiting >= NWAITERS);
    assert_true(usage >= 1.0);
    assert_int_equal(count_notes(&log, "pool_waiting_high", DBMGMT_ALERT_FIRING), 1);
    for (int i = 0; i < log.count; i++)
        if (!strcmp(log.rule[i], "pool_waiting_high"))
            assert_int_equal(log.severity[i], DBMGMT_ALERT_CRITICAL);
    assert_int_equal(count_notes(&log, "pool_usage_high", DBMGMT_ALERT_FIRING), 1);

    for (int i = 0; i < 10; i++)
        assert_int_equal(dbmgmt_pool_release(pool, held[i]), DBMGMT_OK);
    for (int i = 0; i < NWAITERS; i++) {
        pthread_join(w[i].thread, NULL);
        if (w[i].rc != DBMGMT_OK)
            fail_msg("waiter %d: %d %s", i, w[i].rc, w[i].msg);
    }
    evaluate_pool(a, pool, &usage, &waiting);
    assert_true(waiting == 0);
    assert_int_equal(count_notes(&log, "pool_waiting_high", DBMGMT_ALERT_RESOLVED), 1);
    assert_int_equal(count_notes(&log, "pool_usage_high", DBMGMT_ALERT_RESOLVED), 1);
    assert_int_equal(count_notes(&log, "pool_waiting_high", DBMGMT_ALERT_FIRING), 1);
    assert_int_equal(dbmgmt_pool_close(pool, 10000), DBMGMT_OK);
    dbmgmt_alerts_free(a);
}

/* ---- samplers on a connection ---------------------------------------------------- */

static dbmgmt_conn *open_conn(void)
{
    dbmgmt_conn *c = NULL;
    if (dbmgmt_conn_open(&c, test_dsn) != DBMGMT_OK)
        fail_msg("dbmgmt_conn_open: %s", dbmgmt_errmsg());
    return c;
}

/* One sample stamped at_ms, evaluated; returns the counter's value. */
static double sample_and_evaluate(dbmgmt_alerts *a, dbmgmt_health_sampler *s, dbmgmt_conn *c,
                                  int64_t at_ms, int32_t counter)
{
    dbmgmt_health *h = NULL;
    int rc = dbmgmt_health_sample_at(s, c, NULL, at_ms, &h);
    if (rc != DBMGMT_OK)
        fail_msg("dbmgmt_health_sample_at: %d %s", rc, dbmgmt_conn_errmsg(c));
    assert_int_equal(dbmgmt_health_collected_at_ms(h), at_ms);
    double v = figure(h, counter);
    assert_true(dbmgmt_alerts_evaluate(a, h) >= 0);
    dbmgmt_health_free(h);
    return v;
}

/* Statistics reach the engine's views on their own schedule (PostgreSQL
 * flushes a backend's counters when it goes idle, within seconds): poll,
 * outside the sampler, until the counter shows at least want. */
static void wait_for_counter(dbmgmt_conn *c, int32_t counter, double want)
{
    int64_t deadline = monotonic_ms() + DEADLINE_MS;
    for (;;) {
        dbmgmt_health *h = NULL;
        if (dbmgmt_health_collect(c, &h) != DBMGMT_OK)
            fail_msg("dbmgmt_health_collect: %s", dbmgmt_conn_errmsg(c));
        double v = figure(h, counter);
        dbmgmt_health_free(h);
        if (v >= want)
            return;
        if (monotonic_ms() > deadline)
            fail_msg("%s is %g after %d ms, not yet %g", dbmgmt_health_metric_name(counter), v,
                     DEADLINE_MS, want);
        support_sleep_ms(100);
    }
}

/* ---- deadlocks -------------------------------------------------------------------- */

typedef struct blocked_update {
    dbmgmt_conn *conn;
    const char *sql;
    pthread_t thread;
    int rc;
    char sqlstate[8];
} blocked_update;

static void *run_update(void *arg)
{
    blocked_update *u = arg;
    u->rc = dbmgmt_conn_exec(u->conn, u->sql);
    snprintf(u->sqlstate, sizeof u->sqlstate, "%s",
             u->rc == DBMGMT_OK ? "" : dbmgmt_conn_sqlstate(u->conn));
    return NULL;
}

/* Two sessions lock rows 1 and 2, then each wants the other's: the engine
 * breaks the cycle by failing one of them (40P01 on PostgreSQL, 1213 =
 * 40001 on MariaDB). */
static void make_one_deadlock(dbmgmt_conn *x, dbmgmt_conn *y, const char *table)
{
    char lock1[160], lock2[160];
    snprintf(lock1, sizeof lock1, "UPDATE %s SET v = v + 1 WHERE id = 1", table);
    snprintf(lock2, sizeof lock2, "UPDATE %s SET v = v + 1 WHERE id = 2", table);
    assert_int_equal(dbmgmt_conn_begin(x), DBMGMT_OK);
    support_exec_ok(x, lock1);
    assert_int_equal(dbmgmt_conn_begin(y), DBMGMT_OK);
    support_exec_ok(y, lock2);
    blocked_update ux = {.conn = x, .sql = lock2}, uy = {.conn = y, .sql = lock1};
    assert_int_equal(pthread_create(&ux.thread, NULL, run_update, &ux), 0);
    run_update(&uy);
    pthread_join(ux.thread, NULL);
    dbmgmt_conn_rollback(x);
    dbmgmt_conn_rollback(y);
    const char *want = test_engine == DBMGMT_ENGINE_POSTGRES ? "40P01" : "40001";
    int victims = (ux.rc != DBMGMT_OK) + (uy.rc != DBMGMT_OK);
    if (victims != 1)
        fail_msg("%d of the two sessions failed (want 1): %d/%s %d/%s", victims, ux.rc,
                 ux.sqlstate, uy.rc, uy.sqlstate);
    assert_string_equal(ux.rc != DBMGMT_OK ? ux.sqlstate : uy.sqlstate, want);
}

#define NDEADLOCKS 6

static void test_deadlocks_high_fires_on_six_deadlocks_in_an_hour_and_resolves(void **state)
{
    (void)state;
    char table[64];
    snprintf(table, sizeof table, "alerts_deadlock_%ld", (long)getpid());
    dbmgmt_conn *probe = open_conn(), *x = open_conn(), *y = open_conn();
    char sql[512];
    snprintf(sql, sizeof sql, "DROP TABLE IF EXISTS %s; CREATE TABLE %s (id INT PRIMARY KEY, "
             "v INT NOT NULL)%s; INSERT INTO %s VALUES (1, 0), (2, 0)",
             table, table, test_engine == DBMGMT_ENGINE_MYSQL ? " ENGINE=InnoDB" : "", table);
    support_exec_ok(probe, sql);

    notes log;
    dbmgmt_alerts *a = alerts_with(&log);
    dbmgmt_health_sampler *s = NULL;
    assert_int_equal(dbmgmt_health_sampler_new(&s), DBMGMT_OK);
    int32_t total = DBMGMT_HEALTH_DEADLOCKS_TOTAL;
    double before = sample_and_evaluate(a, s, probe, T0_MS, total);
    for (int i = 0; i < NDEADLOCKS; i++)
        make_one_deadlock(x, y, table);
    wait_for_counter(probe, total, before + NDEADLOCKS);

    /* six (or more) deadlocks between samples an hour apart: >= 6/h > 5 */
    sample_and_evaluate(a, s, probe, T0_MS + HOUR_MS, total);
    assert_int_equal(count_notes(&log, "deadlocks_high", DBMGMT_ALERT_FIRING), 1);
    assert_true(last_value(&log, "deadlocks_high") >= NDEADLOCKS);
    /* the next hour has none: 0/h resolves */
    sample_and_evaluate(a, s, probe, T0_MS + 2 * HOUR_MS, total);
    assert_int_equal(count_notes(&log, "deadlocks_high", DBMGMT_ALERT_RESOLVED), 1);
    assert_true(last_value(&log, "deadlocks_high") <= 4.5);
    assert_int_equal(count_notes(&log, "deadlocks_high", DBMGMT_ALERT_FIRING), 1);

    snprintf(sql, sizeof sql, "DROP TABLE %s", table);
    support_exec_ok(probe, sql);
    dbmgmt_health_sampler_free(s);
    dbmgmt_alerts_free(a);
    dbmgmt_conn_close(x);
    dbmgmt_conn_close(y);
    dbmgmt_conn_close(probe);
}

/* ---- slow queries ------------------------------------------------------------------ */

/*
 * MariaDB counts in Slow_queries every statement slower than the session's
 * long_query_time (the slow log need not be on): 101 SLEEP(0.02) under a
 * bound of 0.01 s between samples a minute apart are >= 101/min > 100.
 */
static int run_slow_statements_mysql(dbmgmt_conn *worker)
{
    support_exec_ok(worker, "SET SESSION long_query_time = 0.01");
    for (int i = 0; i < 101; i++)
        support_exec_ok(worker, "SELECT SLEEP(0.02)");
    return 101;
}

/*
 * PostgreSQL counts (pg_stat_statements) the calls of statements whose mean
 * time is at least a second. The statement calls a function of the test's
 * own, so that its entry is not shared with anyone's faster pg_sleep calls:
 * three calls of 1.05 s. Their samples are stamped one second apart (3 in
 * 1/60 min = 180/min): the injected clock, not the machine, makes the rate.
 */
static int run_slow_statements_postgres(dbmgmt_conn *worker)
{
    support_exec_ok(worker,
                    "CREATE OR REPLACE FUNCTION alerts_test_slow_sleep(seconds float8) "
                    "RETURNS void LANGUAGE sql AS $$ SELECT pg_sleep(seconds) $$");
    for (int i = 0; i < 3; i++)
        support_exec_ok(worker, "SELECT alerts_test_slow_sleep(1.05)");
    return 3;
}

static void test_slow_queries_high_fires_on_slow_statements_and_resolves(void **state)
{
    (void)state;
    int pg = test_engine == DBMGMT_ENGINE_POSTGRES;
    dbmgmt_conn *probe = open_conn(), *worker = open_conn();
    notes log;
    dbmgmt_alerts *a = alerts_with(&log);
    dbmgmt_health_sampler *s = NULL;
    assert_int_equal(dbmgmt_health_sampler_new(&s), DBMGMT_OK);
    int32_t total = DBMGMT_HEALTH_SLOW_QUERIES_TOTAL;
    double before = sample_and_evaluate(a, s, probe, T0_MS, total);
    int n = pg ? run_slow_statements_postgres(worker) : run_slow_statements_mysql(worker);
    wait_for_counter(probe, total, before + n);

    int64_t span = pg ? 1000 : MINUTE_MS;
    sample_and_evaluate(a, s, probe, T0_MS + span, total);
    assert_int_equal(count_notes(&log, "slow_queries_high", DBMGMT_ALERT_FIRING), 1);
    assert_true(last_value(&log, "slow_queries_high") >= (double)n * MINUTE_MS / (double)span);
    /* an hour with none: resolves */
    sample_and_evaluate(a, s, probe, T0_MS + span + HOUR_MS, total);
    assert_int_equal(count_notes(&log, "slow_queries_high", DBMGMT_ALERT_RESOLVED), 1);
    assert_true(last_value(&log, "slow_queries_high") <= 90);
    assert_int_equal(count_notes(&log, "slow_queries_high", DBMGMT_ALERT_FIRING), 1);

    dbmgmt_health_sampler_free(s);
    dbmgmt_alerts_free(a);
    dbmgmt_conn_close(worker);
    dbmgmt_conn_close(probe);
}

/* ---- disk usage (SQLite on a small tmpfs) ----------------------------------------------- */

#define TMPFS_OPTIONS "size=2m,mode=0700"

/* A 2 MB tmpfs of the test's own at dir; 0, or skips (fails with CI=true)
 * when this process may not mount. */
static int mount_small_tmpfs(char *dir, size_t cap)
{
    if (support_scratch_dir(dir, cap, "dbmgmt-alerts-disk") != 0)
        fail_msg("cannot make a scratch folder in /tmp");
    if (mount("tmpfs", dir, "tmpfs", 0, TMPFS_OPTIONS) == 0)
        return 0;
    int e = errno;
    support_remove_tree(dir);
    if (in_ci())
        fail_msg("CI=true and mount -t tmpfs -o %s failed: %s (the test needs root)",
                 TMPFS_OPTIONS, strerror(e));
    print_message("skipped: mount -t tmpfs failed: %s (run as root)\n", strerror(e));
    return -1;
}

static double disk_evaluate(dbmgmt_alerts *a, dbmgmt_conn *c)
{
    dbmgmt_health *h = NULL;
    if (dbmgmt_health_collect(c, &h) != DBMGMT_OK)
        fail_msg("dbmgmt_health_collect: %s", dbmgmt_conn_errmsg(c));
    double used = figure(h, DBMGMT_HEALTH_DISK_USED_RATIO);
    assert_true(dbmgmt_alerts_evaluate(a, h) >= 0);
    dbmgmt_health_free(h);
    return used;
}

static void test_disk_usage_high_fires_as_the_database_fills_its_disk_and_resolves(void **state)
{
    (void)state;
    char dir[256];
    if (mount_small_tmpfs(dir, sizeof dir) != 0) {
        skip();
        return;
    }
    char dsn[320], file[300];
    snprintf(file, sizeof file, "%s/alerts.db", dir);
    snprintf(dsn, sizeof dsn, "sqlite://%s", file);
    dbmgmt_conn *c = NULL;
    if (dbmgmt_conn_open(&c, dsn) != DBMGMT_OK)
        fail_msg("dbmgmt_conn_open %s: %s", dsn, dbmgmt_errmsg());
    /* the journal and VACUUM's copy stay in memory: only the database
     * itself takes room on the small file system */
    support_exec_ok(c, "PRAGMA journal_mode = MEMORY; PRAGMA temp_store = MEMORY; "
                       "CREATE TABLE filler (b BLOB NOT NULL)");
    notes log;
    dbmgmt_alerts *a = alerts_with(&log);
    double used = disk_evaluate(a, c);
    assert_true(used < 0.5);

    /* 32 KB at a time until the rule fires; 2 MB fills after 64 */
    for (int i = 0; i < 64 && !count_notes(&log, "disk_usage_high", DBMGMT_ALERT_FIRING); i++) {
        if (dbmgmt_conn_exec(c, "INSERT INTO filler VALUES (randomblob(32768))") != DBMGMT_OK)
            fail_msg("row %d: %s (the disk filled before the alert fired at %g)", i,
                     dbmgmt_conn_errmsg(c), used);
        used = disk_evaluate(a, c);
    }
    assert_int_equal(count_notes(&log, "disk_usage_high", DBMGMT_ALERT_FIRING), 1);
    assert_true(used > 0.8);
    struct stat st;
    struct statvfs fs;
    assert_int_equal(stat(file, &st), 0);
    assert_int_equal(statvfs(dir, &fs), 0);
    /* the database is what filled it */
    assert_true((double)st.st_size > 0.75 * (double)fs.f_blocks * (double)fs.f_frsize);

    support_exec_ok(c, "DELETE FROM filler; VACUUM");
    used = disk_evaluate(a, c);
    assert_true(used <= 0.72);
    assert_int_equal(count_notes(&log, "disk_usage_high", DBMGMT_ALERT_RESOLVED), 1);
    assert_int_equal(count_notes(&log, "disk_usage_high", DBMGMT_ALERT_FIRING), 1);

    dbmgmt_alerts_free(a);
    dbmgmt_conn_close(c);
    if (umount2(dir, MNT_DETACH) != 0)
        fail_msg("umount %s: %s", dir, strerror(errno));
    support_remove_tree(dir);
}

int main(void)
{
    test_dsn = getenv("DBMGMT_TEST_DSN");
    if (!test_dsn || !*test_dsn) {
        printf("DBMGMT_TEST_DSN is not set (tests/alerts/meson.build sets it)\n");
        return in_ci() ? 1 : 77;
    }
    test_engine = support_engine_of_dsn(test_dsn);
    evidence = support_evidence_open();
    const struct CMUnitTest pools[] = {
        cmocka_unit_test(test_pool_usage_high_fires_with_nine_of_ten_held_and_resolves),
        cmocka_unit_test(test_pool_waiting_high_fires_with_eleven_blocked_and_resolves),
    };
    const struct CMUnitTest sqlite_only[] = {
        cmocka_unit_test(test_disk_usage_high_fires_as_the_database_fills_its_disk_and_resolves),
    };
    const struct CMUnitTest servers_only[] = {
        cmocka_unit_test(test_deadlocks_high_fires_on_six_deadlocks_in_an_hour_and_resolves),
        cmocka_unit_test(test_slow_queries_high_fires_on_slow_statements_and_resolves),
    };
    int failed = cmocka_run_group_tests_name("alerts-causes-pool", pools, NULL, NULL);
    if (test_engine == DBMGMT_ENGINE_SQLITE)
        failed += cmocka_run_group_tests_name("alerts-causes-sqlite", sqlite_only, NULL, NULL);
    else
        failed += cmocka_run_group_tests_name("alerts-causes-server", servers_only, NULL, NULL);
    if (evidence)
        fclose(evidence);
    return failed ? 1 : 0;
}
