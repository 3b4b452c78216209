/*
 * The replication lag rules fired by a real lagging replica (issue 20,
 * docs/alerts.md), on the Patroni cluster of tests/cluster.sh (suite
 * `cluster`): replay is paused on one streaming standby while the leader
 * writes, so the standby's own lag (now − its last replayed commit) grows
 * in real time: past 10 s replication_lag_high fires, past 60 s
 * replication_lag_critical too; replay resumed, the lag falls to 0 and both
 * resolve. Lag is seconds of real time, so this test takes more than a
 * minute; it polls, and asserts nothing about how fast it went.
 * Skipped (77) without DBMGMT_TEST_CLUSTER_DSN, unless CI=true.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <time.h>

#include "dbmgmt.h"
#include "support/cluster.h"
#include "support/engine.h"

#define MEMBERS 3
#define DEADLINE_MS 120000
#define POLL_MS 500

static char member_dsn[MEMBERS][SUPPORT_DSN_MAX], admin_dsn[MEMBERS][SUPPORT_DSN_MAX];
static int leader = -1;
static const char *script;

static int64_t monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void find_leader(void)
{
    leader = -1;
    for (int i = 0; i < MEMBERS; i++)
        if (support_query_int_on(admin_dsn[i], "SELECT pg_is_in_recovery()::int") == 0)
            leader = i;
    assert_true(leader >= 0);
}

typedef struct notes {
    int fired_high, resolved_high, fired_critical, resolved_critical;
    double value;
} notes;

static void record(void *userdata, const char *rule, int32_t state, int32_t severity,
                   double value, const char *message)
{
    notes *n = userdata;
    fprintf(stderr, "alert: %s\n", message);
    int high = !strcmp(rule, "replication_lag_high");
    int critical = !strcmp(rule, "replication_lag_critical");
    if (high)
        assert_int_equal(severity, DBMGMT_ALERT_WARNING);
    if (critical)
        assert_int_equal(severity, DBMGMT_ALERT_CRITICAL);
    if (state == DBMGMT_ALERT_FIRING) {
        n->fired_high += high;
        n->fired_critical += critical;
    } else {
        n->resolved_high += high;
        n->resolved_critical += critical;
    }
    if (high)
        n->value = value;
}

/* Collect from the standby and evaluate; returns its lag. */
static double evaluate_standby(dbmgmt_alerts *a, dbmgmt_conn *standby)
{
    dbmgmt_health *h = NULL;
    if (dbmgmt_health_collect(standby, &h) != DBMGMT_OK)
        fail_msg("dbmgmt_health_collect on the standby: %s", dbmgmt_conn_errmsg(standby));
    double lag = -1;
    if (dbmgmt_health_get(h, DBMGMT_HEALTH_REPLICATION_LAG_SECONDS, &lag) != DBMGMT_OK)
        fail_msg("the standby's snapshot has no replication_lag_seconds");
    assert_true(dbmgmt_alerts_evaluate(a, h) >= 0);
    dbmgmt_health_free(h);
    return lag;
}

static int resume_all(void **state)
{
    (void)state;
    support_pg_resume_replicas(admin_dsn, MEMBERS, leader, script);
    return 0;
}

static void test_replication_lag_rules_fire_on_a_paused_standby_and_resolve(void **state)
{
    (void)state;
    find_leader();
    int paused = (leader + 1) % MEMBERS;
    support_exec_on(member_dsn[leader], "CREATE TABLE IF NOT EXISTS alerts_lag_probe "
                                        "(id bigserial PRIMARY KEY, at timestamptz DEFAULT now())");
    support_exec_on(member_dsn[leader], "INSERT INTO alerts_lag_probe DEFAULT VALUES");
    support_pg_wait_caught_up(admin_dsn[leader], admin_dsn[paused]);

    notes n = {0};
    dbmgmt_alerts *a = NULL;
    assert_int_equal(dbmgmt_alerts_new(&a), DBMGMT_OK);
    assert_int_equal(dbmgmt_alerts_set_callback(a, record, &n), DBMGMT_OK);
    dbmgmt_conn *standby = NULL;
    assert_int_equal(dbmgmt_conn_open(&standby, member_dsn[paused]), DBMGMT_OK);
    assert_true(evaluate_standby(a, standby) < 10);
    assert_int_equal(n.fired_high, 0);

    /* maintenance: else Patroni resumes replay at its next loop */
    support_cluster_command(script, "maintenance on");
    support_exec_on(admin_dsn[paused], "SELECT pg_wal_replay_pause()");
    support_exec_on(member_dsn[leader], "INSERT INTO alerts_lag_probe DEFAULT VALUES");
    int64_t deadline = monotonic_ms() + DEADLINE_MS;
    double lag = 0;
    while (!n.fired_high) {
        if (monotonic_ms() > deadline)
            fail_msg("replication_lag_high did not fire within %d ms (lag %g s)", DEADLINE_MS,
                     lag);
        support_sleep_ms(POLL_MS);
        lag = evaluate_standby(a, standby);
    }
    assert_int_equal(n.fired_high, 1);
    assert_true(n.value > 10 && n.value == lag);
    assert_int_equal(n.fired_critical, 0); /* polled every half second: far below 60 s */

    /* still paused: past a minute the critical rule fires too */
    deadline = monotonic_ms() + DEADLINE_MS;
    while (!n.fired_critical) {
        if (monotonic_ms() > deadline)
            fail_msg("replication_lag_critical did not fire within %d ms (lag %g s)",
                     DEADLINE_MS, lag);
        support_sleep_ms(POLL_MS);
        lag = evaluate_standby(a, standby);
    }
    assert_true(lag > 60);
    assert_int_equal(n.fired_high, 1);

    support_exec_on(admin_dsn[paused], "SELECT pg_wal_replay_resume()");
    deadline = monotonic_ms() + DEADLINE_MS;
    while (!n.resolved_high) {
        if (monotonic_ms() > deadline)
            fail_msg("replication_lag_high did not resolve within %d ms of resuming (lag %g s)",
                     DEADLINE_MS, lag);
        support_sleep_ms(POLL_MS);
        lag = evaluate_standby(a, standby);
    }
    assert_true(lag <= 9);
    assert_int_equal(n.fired_high, 1);
    assert_int_equal(n.resolved_high, 1);
    assert_int_equal(n.fired_critical, 1);
    assert_int_equal(n.resolved_critical, 1);
    dbmgmt_conn_close(standby);
    dbmgmt_alerts_free(a);
}

int main(void)
{
    const char *cluster_dsn = getenv("DBMGMT_TEST_CLUSTER_DSN");
    script = getenv("DBMGMT_TEST_CLUSTER_SCRIPT");
    int missing = support_pg_cluster_missing(cluster_dsn, script);
    if (missing)
        return missing;
    support_split_words(getenv("DBMGMT_TEST_CLUSTER_MEMBER_DSNS"), MEMBERS, member_dsn);
    support_split_words(getenv("DBMGMT_TEST_CLUSTER_ADMIN_DSNS"), MEMBERS, admin_dsn);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_replication_lag_rules_fire_on_a_paused_standby_and_resolve,
                                  resume_all),
    };
    return cmocka_run_group_tests_name("cluster/alerts-lag", tests, NULL, NULL);
}
