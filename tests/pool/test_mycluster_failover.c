/*
 * Failover between the hosts of a multi-host DSN on MariaDB (issue 19): the
 * GTID cluster of tests/mariadb_cluster.sh, the pool writing through
 * mysql://u:p@P,R1,R2/db (target read-write: the host with read_only = 0).
 *
 * 8 writer threads insert rows one autocommit INSERT at a time. The
 * writable host p is SIGKILLed under them (`mariadb_cluster.sh kill p`);
 * in-flight and following writes fail with a clear error (the session was
 * lost, or no host of the DSN accepts writes) and are never retried
 * blindly. The test then makes r1 writable (`promote r1`, what an operator
 * or an orchestrator does); with no action from the host application,
 * every writer's writes resume on r1. Afterwards r1 has exactly the
 * sessions the pool holds (information_schema.PROCESSLIST by user), r2 none
 * of the pool's, and closing the pool leaves none.
 *
 * It kills the primary: meson runs it after the other cluster tests
 * (priority), and the cluster is not put back (it is stopped after the
 * suite). Waits are bounded polls (hang guards), never timed assertions.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
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

#define WRITERS 8
#define MEMBERS 3

static char admin[MEMBERS][SUPPORT_DSN_MAX];
static const char *hosts_dsn, *script, *passwords;

static atomic_int phase; /* 0 before the kill, 1 after it, 2 after the promotion, 3 stop */

typedef struct writer {
    dbmgmt_pool *pool;
    int id;
    long ok[3], failed[3];
    long seq;
    int bad_code;        /* a failure with a status other than the expected ones */
    char first_failure[400];
    char bad_failure[400];
} writer;

static void note_failure(writer *w, int p, int rc, const char *msg)
{
    w->failed[p]++;
    if (!w->first_failure[0])
        snprintf(w->first_failure, sizeof w->first_failure, "%d %s", rc, msg);
    /* what a failover may say: the session was lost, no host takes writes
     * (yet), the server went read-only, or the acquire timed out meanwhile */
    if (rc != DBMGMT_ERR_CLOSED && rc != DBMGMT_ERR_CONNECT && rc != DBMGMT_ERR_TIMEOUT &&
        rc != DBMGMT_ERR_SQL && !w->bad_code) {
        w->bad_code = 1;
        snprintf(w->bad_failure, sizeof w->bad_failure, "%d %s", rc, msg);
    }
}

static void *writer_main(void *arg)
{
    writer *w = arg;
    char sql[160];
    int p;
    while ((p = atomic_load(&phase)) < 3) {
        dbmgmt_conn *c = NULL;
        int rc = dbmgmt_pool_acquire(w->pool, &c, 5000);
        if (rc != DBMGMT_OK) {
            note_failure(w, p, rc, dbmgmt_errmsg());
            support_sleep_ms(20);
            continue;
        }
        snprintf(sql, sizeof sql, "INSERT INTO failover_rows (writer, seq) VALUES (%d, %ld)",
                 w->id, w->seq++);
        rc = dbmgmt_conn_exec(c, sql);
        if (rc == DBMGMT_OK)
            w->ok[p]++;
        else
            note_failure(w, p, rc, dbmgmt_conn_errmsg(c));
        dbmgmt_pool_release(w->pool, c);
        if (rc != DBMGMT_OK)
            support_sleep_ms(20);
    }
    return NULL;
}

static long sum(writer *w, int which_ok, int p)
{
    long n = 0;
    for (int i = 0; i < WRITERS; i++)
        n += which_ok ? w[i].ok[p] : w[i].failed[p];
    return n;
}

/* Sessions of the application's user on a member (the pool's only user). */
static int64_t app_sessions(int member, const char *user)
{
    char sql[300];
    snprintf(sql, sizeof sql,
             "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER = '%s'", user);
    return support_query_int_on(admin[member], sql);
}

static void test_writes_move_to_the_new_writable_host(void **state)
{
    (void)state;
    support_exec_on(hosts_dsn, "DROP TABLE IF EXISTS failover_rows");
    support_exec_on(hosts_dsn, "CREATE TABLE failover_rows (writer INT NOT NULL, seq BIGINT NOT "
                               "NULL, PRIMARY KEY (writer, seq))");
    /* the table must be on r1 before r1 takes over */
    dbmgmt_conn *p = NULL;
    char pos[64], sql[200];
    assert_int_equal(dbmgmt_conn_open(&p, admin[0]), DBMGMT_OK);
    assert_int_equal(dbmgmt_conn_write_position(p, pos, sizeof pos), DBMGMT_OK);
    dbmgmt_conn_close(p);
    snprintf(sql, sizeof sql, "SELECT MASTER_GTID_WAIT('%s', 60)", pos);
    assert_int_equal(support_query_int_on(admin[1], sql), 0);

    dbmgmt_pool_config *cfg = NULL;
    assert_int_equal(dbmgmt_pool_config_new(&cfg), DBMGMT_OK);
    assert_int_equal(dbmgmt_pool_config_set_max_size(cfg, 12), DBMGMT_OK);
    assert_int_equal(dbmgmt_pool_config_set_min_idle(cfg, 4), DBMGMT_OK);
    dbmgmt_pool *pool = NULL;
    if (dbmgmt_pool_open(&pool, hosts_dsn, cfg) != DBMGMT_OK)
        fail_msg("pool: %s", dbmgmt_errmsg());
    dbmgmt_pool_config_free(cfg);

    writer w[WRITERS];
    pthread_t threads[WRITERS];
    memset(w, 0, sizeof w);
    atomic_store(&phase, 0);
    for (int i = 0; i < WRITERS; i++) {
        w[i].pool = pool;
        w[i].id = i;
        assert_int_equal(pthread_create(&threads[i], NULL, writer_main, &w[i]), 0);
    }
    /* writes flow to p (hang guard 60 s) */
    for (int t = 0; t < 600 && sum(w, 1, 0) < 200; t++)
        support_sleep_ms(100);
    support_cluster_command(script, "kill p");
    atomic_store(&phase, 1);
    /* writes fail now: p is gone and r1, r2 are read-only (hang guard 60 s) */
    for (int t = 0; t < 600 && sum(w, 0, 1) < WRITERS; t++)
        support_sleep_ms(100);
    support_cluster_command(script, "promote r1");
    atomic_store(&phase, 2);
    /* every writer writes again, with nothing done by the application */
    int resumed = 0;
    for (int t = 0; t < 600 && !resumed; t++) {
        support_sleep_ms(100);
        resumed = 1;
        for (int i = 0; i < WRITERS; i++)
            resumed &= w[i].ok[2] >= 20;
    }
    atomic_store(&phase, 3);
    for (int i = 0; i < WRITERS; i++)
        pthread_join(threads[i], NULL);

    fprintf(stderr, "writes: %ld ok / %ld failed before the kill, %ld / %ld after it, %ld / %ld "
                    "after r1 was promoted\n",
            sum(w, 1, 0), sum(w, 0, 0), sum(w, 1, 1), sum(w, 0, 1), sum(w, 1, 2), sum(w, 0, 2));
    for (int i = 0; i < WRITERS; i++) {
        if (w[i].first_failure[0])
            fprintf(stderr, "writer %d first failure: %s\n", i, w[i].first_failure);
        if (w[i].bad_code)
            fail_msg("writer %d failed with an unexpected status: %s", i, w[i].bad_failure);
        for (const char *pw = passwords; pw && *pw;) {
            size_t n = strcspn(pw, " ");
            if (n && (memmem(w[i].first_failure, strlen(w[i].first_failure), pw, n) ||
                      memmem(w[i].bad_failure, strlen(w[i].bad_failure), pw, n)))
                fail_msg("a password appears in a writer's error");
            pw += n;
            while (*pw == ' ')
                pw++;
        }
    }
    assert_true(resumed);
    assert_true(sum(w, 0, 1) + sum(w, 0, 2) > 0); /* the failover was seen */

    /* every write acknowledged after the promotion is on r1 */
    int64_t on_r1 =
        support_query_int_on(admin[1], "SELECT COUNT(*) FROM dbmgmt_test.failover_rows");
    assert_true(on_r1 >= sum(w, 1, 2));

    /* no leaked connections: r1 has the pool's, r2 none */
    char user[64] = "";
    const char *at = strstr(hosts_dsn, "://");
    assert_non_null(at);
    snprintf(user, sizeof user, "%.*s", (int)strcspn(at + 3, ":@"), at + 3);
    int64_t total = dbmgmt_pool_metric(pool, DBMGMT_POOL_TOTAL);
    int64_t r1_sessions = app_sessions(1, user), r2_sessions = app_sessions(2, user);
    fprintf(stderr, "pool holds %lld connections; r1 has %lld sessions of %s, r2 %lld\n",
            (long long)total, (long long)r1_sessions, user, (long long)r2_sessions);
    assert_int_equal(r1_sessions, total);
    assert_int_equal(r2_sessions, 0);
    assert_int_equal(dbmgmt_pool_close(pool, 5000), DBMGMT_OK);
    int64_t left = -1;
    for (int t = 0; t < 100 && left != 0; t++) { /* the server reaps closed sessions */
        left = app_sessions(1, user);
        if (left)
            support_sleep_ms(50);
    }
    assert_int_equal(left, 0);
}

int main(void)
{
    hosts_dsn = getenv("DBMGMT_TEST_MYREPL_HOSTS_DSN");
    script = getenv("DBMGMT_TEST_MYCLUSTER_SCRIPT");
    passwords = getenv("DBMGMT_TEST_MYCLUSTER_PASSWORDS");
    const char *ci = getenv("CI");
    if (!hosts_dsn || !*hosts_dsn || !script) {
        if (ci && (strcmp(ci, "true") == 0 || strcmp(ci, "1") == 0)) {
            fprintf(stderr, "CI=true and no MariaDB cluster (DBMGMT_TEST_MYREPL_HOSTS_DSN "
                            "unset)\n");
            return 1;
        }
        fprintf(stderr, "no MariaDB cluster: DBMGMT_TEST_MYREPL_HOSTS_DSN is unset "
                        "(tests/mariadb_cluster.sh)\n");
        return 77;
    }
    const char *list = getenv("DBMGMT_TEST_MYREPL_ADMIN_DSNS");
    for (int i = 0; i < MEMBERS; i++) {
        while (list && *list == ' ')
            list++;
        size_t n = list ? strcspn(list, " ") : 0;
        assert_true(n > 0 && n < sizeof admin[i]);
        memcpy(admin[i], list, n);
        admin[i][n] = '\0';
        list += n;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_writes_move_to_the_new_writable_host),
    };
    return cmocka_run_group_tests_name("mariadb-cluster/failover", tests, NULL, NULL);
}
