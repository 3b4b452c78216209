/*
 * Lag-aware and causal reads on real MariaDB clusters (issue 19): the GTID
 * primary with two replicas and the three-node Galera cluster of
 * tests/mariadb_cluster.sh. Suite `cluster`; skipped (77) without
 * DBMGMT_TEST_MYREPL_PRIMARY_DSN unless CI=true.
 *
 * - replication stopped on one replica (STOP SLAVE SQL_THREAD) with a lag
 *   bound of 500 ms: acquire_read stops handing it out, and hands it out
 *   again after START SLAVE;
 * - 8 threads x 1,000 write-then-acquire_read_after pairs read 0 stale rows
 *   (MASTER_GTID_WAIT); plain acquire_read shows stale reads, so the check
 *   can fail;
 * - on Galera, the other nodes serve reads and read-your-writes holds
 *   (wsrep_sync_wait).
 *
 * Timing: the pool runs without its background thread and the test calls
 * dbmgmt_pool_maintain() itself; the only waits are sleeps that make real
 * lag (lower bounds) and bounded waits for a replica to catch up.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "dbmgmt.h"
#include "support/cluster.h"
#include "support/engine.h"

#define MEMBERS 3 /* p r1 r2, or g1 g2 g3 */
#define LAG_BOUND_MS 500
#define CHECK_INTERVAL_MS 100

typedef struct cluster {
    char app[MEMBERS][SUPPORT_DSN_MAX];   /* the app user's DSN of each member */
    char admin[MEMBERS][SUPPORT_DSN_MAX]; /* root's */
    int port[MEMBERS];
} cluster;

static cluster repl, galera;

static void find_ports(cluster *cl)
{
    for (int i = 0; i < MEMBERS; i++)
        cl->port[i] = (int)support_query_int_on(cl->admin[i], "SELECT @@port");
}

static int member_of(const cluster *cl, dbmgmt_conn *c)
{
    int port = (int)support_query_int(c, "SELECT @@port");
    for (int i = 0; i < MEMBERS; i++)
        if (cl->port[i] == port)
            return i;
    fail_msg("port %d is no member's", port);
    return -1;
}

/* Bounded: member i (a replica) has applied everything the primary has. */
static void wait_caught_up(int i)
{
    dbmgmt_conn *p = NULL;
    assert_int_equal(dbmgmt_conn_open(&p, repl.admin[0]), DBMGMT_OK);
    char pos[64];
    assert_int_equal(dbmgmt_conn_write_position(p, pos, sizeof pos), DBMGMT_OK);
    dbmgmt_conn_close(p);
    char sql[200];
    snprintf(sql, sizeof sql, "SELECT MASTER_GTID_WAIT('%s', 60)", pos);
    if (support_query_int_on(repl.admin[i], sql) != 0)
        fail_msg("replica %d did not reach %s within 60 s", i, pos);
}

/* A pool writing to member 0 and reading from 1 and 2, no background thread. */
static dbmgmt_pool *open_pool(const cluster *cl, int32_t bound, int32_t fallback,
                              support_event_log *log)
{
    dbmgmt_pool_config *cfg = NULL;
    assert_int_equal(dbmgmt_pool_config_new(&cfg), DBMGMT_OK);
    assert_int_equal(dbmgmt_pool_config_set_min_idle(cfg, 0), DBMGMT_OK);
    assert_int_equal(dbmgmt_pool_config_set_max_size(cfg, 8), DBMGMT_OK);
    assert_int_equal(dbmgmt_pool_config_set_background_thread(cfg, 0), DBMGMT_OK);
    assert_int_equal(dbmgmt_pool_config_set_max_replica_lag_ms(cfg, bound), DBMGMT_OK);
    assert_int_equal(dbmgmt_pool_config_set_replica_fallback(cfg, fallback), DBMGMT_OK);
    assert_int_equal(dbmgmt_pool_config_set_replica_check_interval_ms(cfg, CHECK_INTERVAL_MS),
                     DBMGMT_OK);
    if (log)
        assert_int_equal(dbmgmt_pool_config_set_event_callback(cfg, support_on_event, log),
                         DBMGMT_OK);
    for (int i = 1; i < MEMBERS; i++)
        assert_int_equal(dbmgmt_pool_config_add_replica(cfg, cl->app[i]), DBMGMT_OK);
    dbmgmt_pool *pool = NULL;
    if (dbmgmt_pool_open(&pool, cl->app[0], cfg) != DBMGMT_OK)
        fail_msg("dbmgmt_pool_open: %s", dbmgmt_errmsg());
    dbmgmt_pool_config_free(cfg);
    return pool;
}

static void two_checks(dbmgmt_pool *pool)
{
    for (int i = 0; i < 2; i++) {
        support_sleep_ms(CHECK_INTERVAL_MS + 10);
        assert_true(dbmgmt_pool_maintain(pool) >= 0);
    }
}

/* Which members acquire_read hands out over n borrows (a bit each). */
static unsigned read_members(const cluster *cl, dbmgmt_pool *pool, int n)
{
    unsigned seen = 0;
    for (int k = 0; k < n; k++) {
        dbmgmt_conn *c = NULL;
        if (dbmgmt_pool_acquire_read(pool, &c, 5000) != DBMGMT_OK)
            fail_msg("acquire_read: %s", dbmgmt_errmsg());
        seen |= 1u << member_of(cl, c);
        dbmgmt_pool_release(pool, c);
    }
    return seen;
}

/* Whatever a test did, both replicas replicate again. */
static int start_replication(void **state)
{
    (void)state;
    for (int i = 1; i < MEMBERS; i++)
        support_exec_on(repl.admin[i], "START SLAVE");
    return 0;
}

static void test_lag_bound_excludes_a_stopped_replica_and_takes_it_back(void **state)
{
    (void)state;
    support_exec_on(repl.app[0], "CREATE TABLE IF NOT EXISTS lag_probe (id BIGINT "
                                 "AUTO_INCREMENT PRIMARY KEY, at DATETIME(6) DEFAULT NOW(6))");
    wait_caught_up(1);
    wait_caught_up(2);
    support_event_log log = SUPPORT_EVENT_LOG_INIT;
    dbmgmt_pool *pool = open_pool(&repl, LAG_BOUND_MS, DBMGMT_REPLICA_FALLBACK_PRIMARY, &log);
    two_checks(pool);
    unsigned seen = read_members(&repl, pool, 6);
    assert_int_equal(seen, 1u << 1 | 1u << 2);

    /* the SQL thread stopped on r1 while the primary writes: past the bound
     * once it lacks LAG_BOUND_MS of writes */
    support_exec_on(repl.admin[1], "STOP SLAVE SQL_THREAD");
    support_exec_on(repl.app[0], "INSERT INTO lag_probe () VALUES ()");
    support_sleep_ms(LAG_BOUND_MS + 200);
    support_exec_on(repl.app[0], "INSERT INTO lag_probe () VALUES ()");
    two_checks(pool);
    assert_true(dbmgmt_pool_metric(pool, DBMGMT_POOL_REPLICA_LAG_MS) > LAG_BOUND_MS);
    seen = read_members(&repl, pool, 8);
    if (seen != 1u << 2)
        fail_msg("acquire_read handed out members %#x with r1 stopped (stats: %s)", seen,
                 dbmgmt_pool_stats_json(pool));
    assert_true(support_event_count(&log, DBMGMT_POOL_EVENT_REPLICA_LAGGING) >= 1);
    char *json = dbmgmt_pool_stats_json(pool);
    assert_non_null(strstr(json, "\"serves_reads\":false"));
    fprintf(stderr, "r1 stopped: %s\n", json);
    dbmgmt_free(json);

    /* started again: caught up, within the bound, and reads again */
    support_exec_on(repl.admin[1], "START SLAVE SQL_THREAD");
    wait_caught_up(1);
    two_checks(pool);
    seen = read_members(&repl, pool, 6);
    assert_int_equal(seen, 1u << 1 | 1u << 2);
    assert_true(support_event_count(&log, DBMGMT_POOL_EVENT_REPLICA_CAUGHT_UP) >= 1);
    assert_int_equal(dbmgmt_pool_close(pool, 1000), DBMGMT_OK);
}

/* ---- read your writes ------------------------------------------------------------- */

#define THREADS 8

/* the port of the server the writes go to: a read there is not a replica's */
static int64_t writer_port;

typedef struct ryw_run {
    dbmgmt_pool *pool;
    int after; /* acquire_read_after (1) or plain acquire_read (0) */
    int thread, pairs;
    long stale, reads_on_primary, errors;
    char first_error[300];
} ryw_run;

static void ryw_error(ryw_run *r, const char *what)
{
    if (r->errors++ == 0)
        snprintf(r->first_error, sizeof r->first_error, "%s: %s", what, dbmgmt_errmsg());
}

static void *ryw_thread(void *arg)
{
    ryw_run *r = arg;
    char sql[200], pos[64];
    for (int seq = 0; seq < r->pairs; seq++) {
        dbmgmt_conn *w = NULL, *rd = NULL;
        if (dbmgmt_pool_acquire(r->pool, &w, 10000) != DBMGMT_OK) {
            ryw_error(r, "acquire");
            continue;
        }
        snprintf(sql, sizeof sql, "INSERT INTO ryw (thread, seq, after) VALUES (%d, %d, %d)",
                 r->thread, seq, r->after);
        int rc = dbmgmt_conn_exec(w, sql);
        if (rc == DBMGMT_OK)
            rc = dbmgmt_conn_write_position(w, pos, sizeof pos);
        dbmgmt_pool_release(r->pool, w);
        if (rc != DBMGMT_OK) {
            ryw_error(r, "write");
            continue;
        }
        rc = r->after ? dbmgmt_pool_acquire_read_after(r->pool, &rd, pos, 10000)
                      : dbmgmt_pool_acquire_read(r->pool, &rd, 10000);
        if (rc != DBMGMT_OK) {
            ryw_error(r, "acquire_read");
            continue;
        }
        snprintf(sql, sizeof sql,
                 "SELECT COUNT(*), @@port FROM ryw WHERE thread = %d AND seq = %d AND after = %d",
                 r->thread, seq, r->after);
        dbmgmt_result *res = NULL;
        if (dbmgmt_conn_query(rd, &res, sql, 0, NULL) == DBMGMT_OK &&
            dbmgmt_result_next(res) == 1) {
            if (dbmgmt_result_int64(res, 0) != 1)
                r->stale++;
            if (dbmgmt_result_int64(res, 1) == writer_port)
                r->reads_on_primary++;
        } else {
            ryw_error(r, "read");
        }
        dbmgmt_result_free(res);
        dbmgmt_pool_release(r->pool, rd);
    }
    return NULL;
}

/* THREADS threads x pairs write-then-read pairs; returns the stale reads. */
static long ryw_loop(dbmgmt_pool *pool, int after, int pairs, long *on_primary)
{
    ryw_run runs[THREADS];
    pthread_t threads[THREADS];
    for (int t = 0; t < THREADS; t++) {
        runs[t] = (ryw_run){.pool = pool, .after = after, .thread = t, .pairs = pairs};
        assert_int_equal(pthread_create(&threads[t], NULL, ryw_thread, &runs[t]), 0);
    }
    long stale = 0, errors = 0;
    *on_primary = 0;
    for (int t = 0; t < THREADS; t++) {
        pthread_join(threads[t], NULL);
        stale += runs[t].stale;
        errors += runs[t].errors;
        *on_primary += runs[t].reads_on_primary;
        if (runs[t].errors)
            fprintf(stderr, "thread %d: %ld errors, first: %s\n", t, runs[t].errors,
                    runs[t].first_error);
    }
    assert_int_equal(errors, 0);
    return stale;
}

static void create_ryw(const char *dsn)
{
    support_exec_on(dsn, "DROP TABLE IF EXISTS ryw");
    support_exec_on(dsn, "CREATE TABLE ryw (thread INT, seq INT, after INT, "
                         "PRIMARY KEY (thread, seq, after))");
}

static void test_read_your_writes_on_gtid_replicas(void **state)
{
    (void)state;
    create_ryw(repl.app[0]);
    writer_port = support_query_int_on(repl.app[0], "SELECT @@port");
    wait_caught_up(1);
    wait_caught_up(2);
    dbmgmt_pool *pool = open_pool(&repl, -1, DBMGMT_REPLICA_FALLBACK_PRIMARY, NULL);
    long on_primary = 0;
    long stale = ryw_loop(pool, 1, 1000, &on_primary);
    fprintf(stderr, "acquire_read_after: %ld stale reads of %d (%ld read on the primary)\n",
            stale, THREADS * 1000, on_primary);
    assert_int_equal(stale, 0);
    support_exec_on(repl.app[0], "DELETE FROM ryw");
    long plain = ryw_loop(pool, 0, 1000, &on_primary);
    fprintf(stderr, "plain acquire_read: %ld stale reads of %d\n", plain, THREADS * 1000);
    if (plain == 0) {
        /* replication on one machine can beat the next query: make r1
         * late, so that the check itself is seen to work */
        support_exec_on(repl.admin[1], "STOP SLAVE SQL_THREAD");
        support_exec_on(repl.app[0], "DELETE FROM ryw");
        plain = ryw_loop(pool, 0, 200, &on_primary);
        fprintf(stderr, "plain acquire_read, r1 stopped: %ld stale reads of %d\n", plain,
                THREADS * 200);
        support_exec_on(repl.app[0], "DELETE FROM ryw");
        long again = ryw_loop(pool, 1, 200, &on_primary);
        fprintf(stderr, "acquire_read_after, r1 stopped: %ld stale reads of %d\n", again,
                THREADS * 200);
        assert_int_equal(again, 0);
        support_exec_on(repl.admin[1], "START SLAVE SQL_THREAD");
        wait_caught_up(1);
    }
    assert_true(plain > 0);
    assert_int_equal(dbmgmt_pool_close(pool, 5000), DBMGMT_OK);
}

static void test_write_position_rules(void **state)
{
    (void)state;
    dbmgmt_conn *c = NULL;
    char pos[64];
    assert_int_equal(dbmgmt_conn_open(&c, repl.app[1]), DBMGMT_OK);
    assert_int_equal(dbmgmt_conn_write_position(c, pos, sizeof pos), DBMGMT_ERR_INVALID);
    assert_non_null(strstr(dbmgmt_conn_errmsg(c), "standby"));
    dbmgmt_conn_close(c);
    assert_int_equal(dbmgmt_conn_open(&c, repl.app[0]), DBMGMT_OK);
    support_exec_ok(c, "CREATE TABLE IF NOT EXISTS lag_probe (id BIGINT AUTO_INCREMENT "
                       "PRIMARY KEY, at DATETIME(6) DEFAULT NOW(6))");
    support_exec_ok(c, "INSERT INTO lag_probe () VALUES ()");
    assert_int_equal(dbmgmt_conn_write_position(c, pos, sizeof pos), DBMGMT_OK);
    fprintf(stderr, "a write's position: %s\n", pos);
    assert_non_null(strchr(pos, '-'));
    dbmgmt_conn_close(c);
    dbmgmt_pool *pool = open_pool(&repl, -1, DBMGMT_REPLICA_FALLBACK_PRIMARY, NULL);
    dbmgmt_conn *r = NULL;
    assert_int_equal(dbmgmt_pool_acquire_read_after(pool, &r, "not a position", 100),
                     DBMGMT_ERR_PARSE);
    assert_null(r);
    assert_int_equal(dbmgmt_pool_acquire_read_after(pool, &r, pos, 5000), DBMGMT_OK);
    assert_true(member_of(&repl, r) >= 0);
    dbmgmt_pool_release(pool, r);
    assert_int_equal(dbmgmt_pool_close(pool, 1000), DBMGMT_OK);
}

/* Galera: every node is writable and current after wsrep_sync_wait; the
 * other nodes serve reads, and read-your-writes holds through them. */
static void test_galera_nodes_serve_reads_after_writes(void **state)
{
    (void)state;
    create_ryw(galera.app[0]);
    writer_port = support_query_int_on(galera.app[0], "SELECT @@port");
    support_event_log log = SUPPORT_EVENT_LOG_INIT;
    dbmgmt_pool *pool = open_pool(&galera, LAG_BOUND_MS, DBMGMT_REPLICA_FALLBACK_PRIMARY, &log);
    two_checks(pool);
    unsigned seen = read_members(&galera, pool, 6);
    assert_int_equal(seen, 1u << 1 | 1u << 2);
    assert_int_equal(support_event_count(&log, DBMGMT_POOL_EVENT_REPLICA_PROMOTED), 0);
    char pos[64];
    dbmgmt_conn *c = NULL;
    assert_int_equal(dbmgmt_conn_open(&c, galera.app[0]), DBMGMT_OK);
    support_exec_ok(c, "INSERT INTO ryw VALUES (99, 0, 0)");
    assert_int_equal(dbmgmt_conn_write_position(c, pos, sizeof pos), DBMGMT_OK);
    fprintf(stderr, "a Galera write's position: %s\n", pos);
    assert_int_equal(strncmp(pos, "wsrep:", 6), 0);
    dbmgmt_conn_close(c);
    long on_primary = 0;
    long stale = ryw_loop(pool, 1, 250, &on_primary);
    fprintf(stderr, "Galera acquire_read_after: %ld stale reads of %d (%ld on the writer)\n",
            stale, THREADS * 250, on_primary);
    assert_int_equal(stale, 0);
    assert_int_equal(dbmgmt_pool_close(pool, 5000), DBMGMT_OK);
}

int main(void)
{
    const char *primary = getenv("DBMGMT_TEST_MYREPL_PRIMARY_DSN");
    const char *ci = getenv("CI");
    if (!primary || !*primary) {
        if (ci && (strcmp(ci, "true") == 0 || strcmp(ci, "1") == 0)) {
            fprintf(stderr, "CI=true and no MariaDB cluster (DBMGMT_TEST_MYREPL_PRIMARY_DSN "
                            "unset)\n");
            return 1;
        }
        fprintf(stderr, "no MariaDB cluster: DBMGMT_TEST_MYREPL_PRIMARY_DSN is unset "
                        "(tests/mariadb_cluster.sh)\n");
        return 77;
    }
    snprintf(repl.app[0], sizeof repl.app[0], "%s", primary);
    support_split_words(getenv("DBMGMT_TEST_MYREPL_REPLICA_DSNS"), MEMBERS - 1, &repl.app[1]);
    support_split_words(getenv("DBMGMT_TEST_MYREPL_ADMIN_DSNS"), MEMBERS, repl.admin);
    support_split_words(getenv("DBMGMT_TEST_GALERA_DSNS"), MEMBERS, galera.app);
    support_split_words(getenv("DBMGMT_TEST_GALERA_ADMIN_DSNS"), MEMBERS, galera.admin);
    find_ports(&repl);
    find_ports(&galera);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_write_position_rules),
        cmocka_unit_test_teardown(test_lag_bound_excludes_a_stopped_replica_and_takes_it_back,
                                  start_replication),
        cmocka_unit_test_teardown(test_read_your_writes_on_gtid_replicas, start_replication),
        cmocka_unit_test(test_galera_nodes_serve_reads_after_writes),
    };
    return cmocka_run_group_tests_name("mariadb-cluster/reads", tests, NULL, NULL);
}
