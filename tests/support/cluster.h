/*
 * Test support for the cluster suite (issues 18 and 19): what the tests of
 * tests/cluster.sh and tests/mariadb_cluster.sh share. Lists of DSNs from
 * the scripts' variables, the scripts' own sub-commands, a sleep, and a
 * thread-safe count of the pool's events.
 */
#ifndef DBMGMT_TESTS_SUPPORT_CLUSTER_H
#define DBMGMT_TESTS_SUPPORT_CLUSTER_H

#include <pthread.h>
#include <stdint.h>

#define SUPPORT_DSN_MAX 512

/* Sleeps ms milliseconds, through signals. */
void support_sleep_ms(int ms);

/* The first n space-separated words of list (a DSN list of a cluster
 * script's variable) into out; fails the test when there are fewer. */
void support_split_words(const char *list, int n, char out[][SUPPORT_DSN_MAX]);

/* Runs `bash SCRIPT ARGS` (a cluster script's sub-command, its output on
 * stderr); fails the test unless it exits 0. */
void support_cluster_command(const char *script, const char *args);

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
