/*
 * Health on replicated servers (issue 20, docs/health.md), suite `cluster`:
 * the PostgreSQL members of tests/cluster.sh (DBMGMT_TEST_CLUSTER_MEMBER_DSNS)
 * and the MariaDB GTID primary and replicas of tests/mariadb_cluster.sh
 * (DBMGMT_TEST_MYREPL_*). Skipped (77) without either unless CI=true.
 *
 * - a standby reports its replication lag (0 when it has replayed what it
 *   received), its primary none, but lists its streaming standbys by
 *   application_name with their replay lag;
 * - a pool over the primary and its standbys reports each replica by
 *   host:port (no password) and the worst lag the pool measured;
 * - a MariaDB replica reports Seconds_Behind_Master, its primary nothing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "dbmgmt.h"
#include "support/cluster.h"
#include "support/engine.h"

#define MAX_MEMBERS 3
#define WAIT_MS 20000

static char members[MAX_MEMBERS][SUPPORT_DSN_MAX]; /* PostgreSQL members, then found roles */
static int nmembers;
static char my_primary[SUPPORT_DSN_MAX];
static char my_replicas[2][SUPPORT_DSN_MAX];

static dbmgmt_health *collect_on(const char *dsn)
{
    dbmgmt_conn *c = NULL;
    if (dbmgmt_conn_open(&c, dsn) != DBMGMT_OK)
        fail_msg("open: %s", dbmgmt_errmsg());
    dbmgmt_health *h = NULL;
    int rc = dbmgmt_health_collect(c, &h);
    if (rc != DBMGMT_OK)
        fail_msg("dbmgmt_health_collect: %s (%s)", dbmgmt_status_name(rc),
                 dbmgmt_conn_errmsg(c));
    dbmgmt_conn_close(c);
    return h;
}

static int has(const dbmgmt_health *h, int32_t metric, double *v)
{
    return dbmgmt_health_get(h, metric, v) == DBMGMT_OK;
}

/* The leader's index among the members, the others' in standbys. */
static int find_roles(int standbys[MAX_MEMBERS], int *nstandbys)
{
    int leader = -1;
    *nstandbys = 0;
    for (int i = 0; i < nmembers; i++) {
        if (support_query_int_on(members[i], "SELECT pg_is_in_recovery()::int") == 0)
            leader = i;
        else
            standbys[(*nstandbys)++] = i;
    }
    if (leader < 0 || *nstandbys == 0)
        fail_msg("a leader and at least one standby are needed");
    return leader;
}

static void test_postgres_standby(void **state)
{
    (void)state;
    int standbys[MAX_MEMBERS], n;
    int leader = find_roles(standbys, &n);
    /* a commit to replay, then the standby catches up: lag 0 */
    support_exec_on(members[leader], "CREATE TABLE IF NOT EXISTS health_probe(x INT); "
                                     "INSERT INTO health_probe VALUES (1)");
    double lag = -1;
    for (int waited = 0; waited <= WAIT_MS; waited += 200) {
        dbmgmt_health *h = collect_on(members[standbys[0]]);
        int present = has(h, DBMGMT_HEALTH_REPLICATION_LAG_SECONDS, &lag);
        dbmgmt_health_free(h);
        if (present && lag == 0)
            break;
        support_sleep_ms(200);
    }
    if (lag != 0)
        fail_msg("a caught-up standby's replication_lag_seconds is %g", lag);

    dbmgmt_health *h = collect_on(members[leader]);
    double v;
    assert_false(has(h, DBMGMT_HEALTH_REPLICATION_LAG_SECONDS, &v)); /* a primary */
    assert_true(dbmgmt_health_replica_count(h) >= 1);
    for (size_t i = 0; i < dbmgmt_health_replica_count(h); i++) {
        assert_true(strlen(dbmgmt_health_replica_name(h, i)) > 0);
        assert_true(dbmgmt_health_replica_lag_seconds(h, i) >= -1);
    }
    dbmgmt_health_free(h);
}

static void test_postgres_pool(void **state)
{
    (void)state;
    int standbys[MAX_MEMBERS], n;
    int leader = find_roles(standbys, &n);
    dbmgmt_pool_config *cfg = NULL;
    assert_int_equal(dbmgmt_pool_config_new(&cfg), DBMGMT_OK);
    assert_int_equal(dbmgmt_pool_config_set_max_size(cfg, 2), DBMGMT_OK);
    assert_int_equal(dbmgmt_pool_config_set_min_idle(cfg, 0), DBMGMT_OK);
    assert_int_equal(dbmgmt_pool_config_set_replica_check_interval_ms(cfg, 100), DBMGMT_OK);
    for (int i = 0; i < n; i++)
        assert_int_equal(dbmgmt_pool_config_add_replica(cfg, members[standbys[i]]), DBMGMT_OK);
    dbmgmt_pool *pool = NULL;
    if (dbmgmt_pool_open(&pool, members[leader], cfg) != DBMGMT_OK)
        fail_msg("dbmgmt_pool_open: %s", dbmgmt_errmsg());
    dbmgmt_pool_config_free(cfg);
    dbmgmt_health *h = NULL;
    double worst = -1;
    for (int waited = 0; waited <= WAIT_MS; waited += 200) {
        assert_int_equal(dbmgmt_health_collect_pool(pool, &h), DBMGMT_OK);
        if (has(h, DBMGMT_HEALTH_POOL_REPLICA_LAG_SECONDS, &worst))
            break;
        dbmgmt_health_free(h);
        h = NULL;
        support_sleep_ms(200);
    }
    if (!h)
        fail_msg("the pool measured no replica's lag within %d ms", WAIT_MS);
    assert_true(worst >= 0);
    assert_int_equal(dbmgmt_health_replica_count(h), (size_t)n);
    for (int i = 0; i < n; i++) {
        const char *name = dbmgmt_health_replica_name(h, (size_t)i);
        const char *host = strchr(members[standbys[i]], '@') + 1;
        size_t len = strcspn(host, "/?");
        if (strncmp(name, host, len) != 0 || name[len])
            fail_msg("replica %d is named '%s', expected its host:port", i, name);
        assert_true(dbmgmt_health_replica_lag_seconds(h, (size_t)i) <= worst);
    }
    dbmgmt_health_free(h);
    assert_int_equal(dbmgmt_pool_close(pool, 5000), DBMGMT_OK);
}

static void test_mariadb_replica(void **state)
{
    (void)state;
    double lag = -1;
    dbmgmt_health *h = NULL;
    for (int waited = 0; waited <= WAIT_MS; waited += 200) {
        h = collect_on(my_replicas[0]);
        if (has(h, DBMGMT_HEALTH_REPLICATION_LAG_SECONDS, &lag))
            break;
        dbmgmt_health_free(h);
        h = NULL;
        support_sleep_ms(200);
    }
    if (!h)
        fail_msg("a GTID replica reported no replication_lag_seconds");
    assert_true(lag >= 0);
    dbmgmt_health_free(h);
    h = collect_on(my_primary);
    assert_false(has(h, DBMGMT_HEALTH_REPLICATION_LAG_SECONDS, &lag));
    dbmgmt_health_free(h);
}

int main(void)
{
    const char *pg = getenv("DBMGMT_TEST_CLUSTER_MEMBER_DSNS");
    const char *my = getenv("DBMGMT_TEST_MYREPL_PRIMARY_DSN");
    const char *ci = getenv("CI");
    int in_ci = ci && strcmp(ci, "true") == 0;
    int have_pg = pg && *pg, have_my = my && *my;
    if (!have_pg || !have_my) {
        if (in_ci) {
            printf("CI=true and %s is not set: start tests/cluster.sh and "
                   "tests/mariadb_cluster.sh\n",
                   have_pg ? "DBMGMT_TEST_MYREPL_PRIMARY_DSN" : "DBMGMT_TEST_CLUSTER_MEMBER_DSNS");
            return 1;
        }
        if (!have_pg && !have_my) {
            printf("no cluster: DBMGMT_TEST_CLUSTER_MEMBER_DSNS / DBMGMT_TEST_MYREPL_* unset\n");
            return 77;
        }
    }
    int failed = 0;
    if (have_pg) {
        char copy[MAX_MEMBERS * SUPPORT_DSN_MAX];
        snprintf(copy, sizeof copy, "%s", pg);
        for (char *w = strtok(copy, " "); w && nmembers < MAX_MEMBERS; w = strtok(NULL, " "))
            snprintf(members[nmembers++], SUPPORT_DSN_MAX, "%s", w);
        const struct CMUnitTest tests[] = {cmocka_unit_test(test_postgres_standby),
                                           cmocka_unit_test(test_postgres_pool)};
        failed += cmocka_run_group_tests_name("health-postgres-cluster", tests, NULL, NULL);
    }
    if (have_my) {
        snprintf(my_primary, sizeof my_primary, "%s", my);
        support_split_words(getenv("DBMGMT_TEST_MYREPL_REPLICA_DSNS"), 2, my_replicas);
        const struct CMUnitTest tests[] = {cmocka_unit_test(test_mariadb_replica)};
        failed += cmocka_run_group_tests_name("health-mariadb-replication", tests, NULL, NULL);
    }
    return failed ? 1 : 0;
}
