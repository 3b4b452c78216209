/* Test support for the cluster suite: see cluster.h. */
#include "cluster.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "dbmgmt.h"
#include "engine.h"

int support_pg_cluster_missing(const char *cluster_dsn, const char *script)
{
    if (cluster_dsn && *cluster_dsn && script)
        return 0;
    const char *ci = getenv("CI");
    if (ci && (strcmp(ci, "true") == 0 || strcmp(ci, "1") == 0)) {
        fprintf(stderr, "CI=true and no cluster (DBMGMT_TEST_CLUSTER_DSN unset)\n");
        return 1;
    }
    fprintf(stderr, "no cluster: DBMGMT_TEST_CLUSTER_DSN is unset (tests/cluster.sh)\n");
    return 77;
}

void support_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

void support_split_words(const char *list, int n, char out[][SUPPORT_DSN_MAX])
{
    const char *p = list ? list : "";
    for (int i = 0; i < n; i++) {
        while (*p == ' ')
            p++;
        size_t len = strcspn(p, " ");
        if (len == 0 || len >= SUPPORT_DSN_MAX)
            fail_msg("expected %d DSNs in a list", n);
        memcpy(out[i], p, len);
        out[i][len] = '\0';
        p += len;
    }
}

void support_cluster_command(const char *script, const char *args)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "bash '%s' %s >&2", script, args);
    assert_int_equal(system(cmd), 0);
}

void support_pg_wait_caught_up(const char *leader_admin_dsn, const char *member_admin_dsn)
{
    for (int tries = 0; tries < 1200; tries++) {
        dbmgmt_conn *l = NULL;
        assert_int_equal(dbmgmt_conn_open(&l, leader_admin_dsn), DBMGMT_OK);
        char pos[64], sql[200];
        assert_int_equal(dbmgmt_conn_write_position(l, pos, sizeof pos), DBMGMT_OK);
        dbmgmt_conn_close(l);
        snprintf(sql, sizeof sql, "SELECT (pg_last_wal_replay_lsn() >= '%s'::pg_lsn)::int", pos);
        if (support_query_int_on(member_admin_dsn, sql))
            return;
        support_sleep_ms(50);
    }
    fail_msg("a standby did not catch up with the leader within 60 s");
}

void support_pg_resume_replicas(char admin_dsns[][SUPPORT_DSN_MAX], int n, int leader,
                                const char *script)
{
    for (int i = 0; i < n; i++)
        if (i != leader)
            support_exec_on(admin_dsns[i], "SELECT pg_wal_replay_resume()");
    support_cluster_command(script, "maintenance off");
}

void support_on_event(void *userdata, int32_t event, const char *message)
{
    support_event_log *log = userdata;
    fprintf(stderr, "event %d: %s\n", (int)event, message);
    pthread_mutex_lock(&log->lock);
    if (event >= 0 && event < SUPPORT_EVENT_TYPES)
        log->counts[event]++;
    pthread_mutex_unlock(&log->lock);
}

int support_event_count(support_event_log *log, int event)
{
    pthread_mutex_lock(&log->lock);
    int n = event >= 0 && event < SUPPORT_EVENT_TYPES ? log->counts[event] : 0;
    pthread_mutex_unlock(&log->lock);
    return n;
}
