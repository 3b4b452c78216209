/*
 * Test support for the cluster suite (issues 18 and 19): what the tests of
 * tests/cluster.sh and tests/mariadb_cluster.sh share. Lists of DSNs from
 * the scripts' variables, the scripts' own sub-commands, a sleep, a
 * standby's replay (waiting for it, resuming it), and a thread-safe count of
 * the pool's events.
 */
#ifndef DBMGMT_TESTS_SUPPORT_CLUSTER_H
#define DBMGMT_TESTS_SUPPORT_CLUSTER_H

#include <pthread.h>
#include <stdint.h>

#define SUPPORT_DSN_MAX 512

/* A program's exit status when tests/cluster.sh's cluster is not there
 * (DBMGMT_TEST_CLUSTER_DSN or DBMGMT_TEST_CLUSTER_SCRIPT unset): 1 under
 * CI=true, where a missing cluster is a failure, else 77 (skip), with the
 * reason on stderr; 0 when both are set. */
int support_pg_cluster_missing(const char *cluster_dsn, const char *script);

/* Sleeps ms milliseconds, through signals. */
void support_sleep_ms(int ms);

/* The first n space-separated words of list (a DSN list of a cluster
 * script's variable) into out; fails the test when there are fewer. */
void support_split_words(const char *list, int n, char out[][SUPPORT_DSN_MAX]);

/* Runs `bash SCRIPT ARGS` (a cluster script's sub-command, its output on
 * stderr); fails the test unless it exits 0. */
void support_cluster_command(const char *script, const char *args);

/* PostgreSQL (tests/cluster.sh): until the member behind member_admin_dsn
 * (a superuser's DSN) has replayed everything the leader wrote; fails the
 * test after 60 s. */
void support_pg_wait_caught_up(const char *leader_admin_dsn, const char *member_admin_dsn);

/* The cleanup after pausing replay: replay resumed on every member but the
 * leader (admin_dsns: the members' superuser DSNs), Patroni out of
 * maintenance (script: tests/cluster.sh). */
void support_pg_resume_replicas(char admin_dsns[][SUPPORT_DSN_MAX], int n, int leader,
                                const char *script);

/* The pool's events, counted by type; give support_on_event and the log
 * to dbmgmt_pool_config_set_event_callback. Each event is also printed. */
#define SUPPORT_EVENT_TYPES 16
typedef struct support_event_log {
    pthread_mutex_t lock;
    int counts[SUPPORT_EVENT_TYPES];
} support_event_log;
#define SUPPORT_EVENT_LOG_INIT {PTHREAD_MUTEX_INITIALIZER, {0}}

void support_on_event(void *userdata, int32_t event, const char *message);
int support_event_count(support_event_log *log, int event);

#endif
