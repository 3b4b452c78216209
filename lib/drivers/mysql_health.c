/*
 * The MySQL / MariaDB driver's health op (issue 20, docs/health.md): the
 * figures of a snapshot from information_schema (TABLES, GLOBAL_STATUS,
 * PROCESSLIST, the InnoDB lock views), performance_schema when it is on,
 * and SHOW ALL SLAVES STATUS. What the session may not read (PROCESS,
 * SLAVE MONITOR not granted) is left absent.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/log.h"
#include "health/health_collect.h"
#include "mysql_impl.h"

#define MY_REFUSED 1 /* my_rows: the server refused the read; its figures stay absent */

typedef int (*my_row_fn)(dm_dstmt *s, dbmgmt_health *h, void *state);

/* Run sql and hand each row to fn. optional: a refusal (an SQL error:
 * privileges, a view the server lacks) is MY_REFUSED instead of an error. */
static int my_rows(dm_dconn *c, const char *sql, my_row_fn fn, dbmgmt_health *h, void *state,
                   int optional, dm_error *err, const char *context)
{
    dm_error local = {0};
    dm_dstmt *s = NULL;
    int rc = dm_my_prepare(c, sql, 1, &s, &local);
    if (rc == DBMGMT_OK)
        rc = dm_my_execute(s, &local);
    while (rc == DBMGMT_OK) {
        rc = dm_my_next(s, &local);
        if (rc == 1)
            rc = fn(s, h, state);
        else if (rc == 0)
            break;
    }
    dm_my_finalize(s);
    if (rc == DBMGMT_ERR_NOMEM && !local.msg[0])
        return dm_error_set(err, rc, "out of memory %s", context);
    if (rc < 0 && optional && rc == DBMGMT_ERR_SQL) {
        dm_log(DBMGMT_LOG_DEBUG, "health: %s on %s: %s", context, c->where, local.msg);
        return MY_REFUSED;
    }
    if (rc < 0)
        return dm_error_set_sql(err, rc, local.sqlstate, "%s on %s: %s", context, c->where,
                                local.msg);
    return DBMGMT_OK;
}

static int my_num(dm_dstmt *s, int32_t col, double *v)
{
    if (dm_my_column_is_null(s, col))
        return 0;
    const char *t = dm_my_column_text(s, col);
    if (!t)
        return 0;
    *v = strtod(t, NULL);
    return 1;
}

/* A one-row, one-value query: the value into state's metric. */
typedef struct my_metric {
    int32_t metric;
} my_metric;

static int metric_row(dm_dstmt *s, dbmgmt_health *h, void *state)
{
    double v;
    if (my_num(s, 0, &v))
        dm_health_set(h, ((my_metric *)state)->metric, v);
    return DBMGMT_OK;
}

/* ---- the session: its database, settings and whether it is local ---------- */

typedef struct my_base {
    int has_database;
    int performance_schema;
    int local;
    char datadir[1024];
} my_base;

static int base_row(dm_dstmt *s, dbmgmt_health *h, void *state)
{
    my_base *b = state;
    double v;
    b->has_database = !dm_my_column_is_null(s, 0);
    if (my_num(s, 1, &v))
        dm_health_set(h, DBMGMT_HEALTH_CONNECTIONS_MAX, v);
    b->performance_schema = my_num(s, 2, &v) && v == 1;
    const char *dir = dm_my_column_is_null(s, 3) ? NULL : dm_my_column_text(s, 3);
    snprintf(b->datadir, sizeof b->datadir, "%s", dir ? dir : "");
    /* the client as the server sees it: on the server's own machine? */
    b->local = !dm_my_column_is_null(s, 4) && dm_health_address_is_local(dm_my_column_text(s, 4));
    return DBMGMT_OK;
}

static const char base_sql[] =
    "SELECT DATABASE(), @@max_connections, @@performance_schema, @@datadir, "
    "(SELECT HOST FROM information_schema.PROCESSLIST WHERE ID = CONNECTION_ID())";

/* ---- the schema's size and largest tables --------------------------------- */

static int table_row(dm_dstmt *s, dbmgmt_health *h, void *state)
{
    (void)state;
    double v = 0;
    my_num(s, 1, &v);
    const char *name = dm_my_column_text(s, 0);
    return dm_health_add_table(h, name ? name : "", (int64_t)v);
}

static const char size_sql[] =
    "SELECT COALESCE(SUM(DATA_LENGTH + INDEX_LENGTH), 0) FROM information_schema.TABLES "
    "WHERE TABLE_SCHEMA = DATABASE()";

static const char tables_sql[] =
    "SELECT CONCAT(TABLE_SCHEMA, '.', TABLE_NAME), DATA_LENGTH + INDEX_LENGTH AS bytes "
    "FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() "
    "AND TABLE_TYPE = 'BASE TABLE' ORDER BY bytes DESC, 1 LIMIT 10";

/* ---- GLOBAL_STATUS ----------------------------------------------------------- */

typedef struct my_status {
    double requests, reads, questions, commits, rollbacks, slow, connected, running, deadlocks;
    unsigned seen; /* bit per field above */
} my_status;

static const struct {
    const char *name;
    size_t offset;
} status_names[] = {
    {"INNODB_BUFFER_POOL_READ_REQUESTS", offsetof(my_status, requests)},
    {"INNODB_BUFFER_POOL_READS", offsetof(my_status, reads)},
    {"QUESTIONS", offsetof(my_status, questions)},
    {"COM_COMMIT", offsetof(my_status, commits)},
    {"COM_ROLLBACK", offsetof(my_status, rollbacks)},
    {"SLOW_QUERIES", offsetof(my_status, slow)},
    {"THREADS_CONNECTED", offsetof(my_status, connected)},
    {"THREADS_RUNNING", offsetof(my_status, running)},
    {"INNODB_DEADLOCKS", offsetof(my_status, deadlocks)},
};
#define MY_NSTATUS (sizeof status_names / sizeof status_names[0])

static const char status_sql[] =
    "SELECT UPPER(VARIABLE_NAME), VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS "
    "WHERE VARIABLE_NAME IN ('INNODB_BUFFER_POOL_READ_REQUESTS', 'INNODB_BUFFER_POOL_READS', "
    "'QUESTIONS', 'COM_COMMIT', 'COM_ROLLBACK', 'SLOW_QUERIES', 'THREADS_CONNECTED', "
    "'THREADS_RUNNING', 'INNODB_DEADLOCKS')";

static int status_row(dm_dstmt *s, dbmgmt_health *h, void *state)
{
    (void)h;
    my_status *st = state;
    const char *name = dm_my_column_text(s, 0);
    double v;
    if (!name || !my_num(s, 1, &v))
        return DBMGMT_OK;
    for (size_t i = 0; i < MY_NSTATUS; i++)
        if (strcmp(name, status_names[i].name) == 0) {
            *(double *)((char *)st + status_names[i].offset) = v;
            st->seen |= 1u << i;
        }
    return DBMGMT_OK;
}

static int status_has(const my_status *st, size_t offset)
{
    for (size_t i = 0; i < MY_NSTATUS; i++)
        if (status_names[i].offset == offset)
            return (st->seen >> i) & 1u;
    return 0;
}

#define HAS(field) status_has(&st, offsetof(my_status, field))

static int my_global_status(dm_dconn *c, dbmgmt_health *h, dm_error *err)
{
    my_status st = {0};
    int rc = my_rows(c, status_sql, status_row, h, &st, 0, err,
                     "reading information_schema.GLOBAL_STATUS");
    if (rc != DBMGMT_OK)
        return rc;
    if (HAS(requests) && HAS(reads)) /* a read request not served by a disk read was a hit */
        dm_health_set_cache(h, st.requests > st.reads ? st.requests - st.reads : 0, st.reads);
    if (HAS(questions))
        dm_health_set(h, DBMGMT_HEALTH_QUERIES_TOTAL, st.questions);
    if (HAS(commits) && HAS(rollbacks))
        dm_health_set(h, DBMGMT_HEALTH_TRANSACTIONS_TOTAL, st.commits + st.rollbacks);
    if (HAS(slow))
        dm_health_set(h, DBMGMT_HEALTH_SLOW_QUERIES_TOTAL, st.slow);
    if (HAS(connected))
        dm_health_set(h, DBMGMT_HEALTH_CONNECTIONS_TOTAL, st.connected);
    if (HAS(running))
        dm_health_set(h, DBMGMT_HEALTH_CONNECTIONS_ACTIVE, st.running);
    if (HAS(connected) && HAS(running))
        dm_health_set(h, DBMGMT_HEALTH_CONNECTIONS_IDLE,
                      st.connected > st.running ? st.connected - st.running : 0);
    if (HAS(deadlocks))
        dm_health_set(h, DBMGMT_HEALTH_DEADLOCKS_TOTAL, st.deadlocks);
    return DBMGMT_OK;
}

#undef HAS

/* ---- locks (PROCESS) ------------------------------------------------------------ */

static const char lock_waits_sql[] =
    "SELECT COUNT(DISTINCT REQUESTED_LOCK_ID) FROM information_schema.INNODB_LOCK_WAITS";

/* Sessions waiting on a lock: a row lock (INNODB_TRX in LOCK WAIT), or a
 * metadata or table lock (the thread's state says so). */
static const char waiting_sql[] =
    "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE COMMAND <> 'Daemon' "
    "AND (STATE LIKE '%lock%' OR ID IN (SELECT trx_mysql_thread_id FROM "
    "information_schema.INNODB_TRX WHERE trx_state = 'LOCK WAIT'))";

static int my_locks(dm_dconn *c, dbmgmt_health *h, dm_error *err)
{
    my_metric m = {DBMGMT_HEALTH_LOCK_WAITS};
    int rc = my_rows(c, lock_waits_sql, metric_row, h, &m, 1, err,
                     "reading information_schema.INNODB_LOCK_WAITS");
    if (rc < 0)
        return rc;
    m.metric = DBMGMT_HEALTH_CONNECTIONS_WAITING;
    rc = my_rows(c, waiting_sql, metric_row, h, &m, 1, err,
                 "reading information_schema.PROCESSLIST and INNODB_TRX");
    return rc < 0 ? rc : DBMGMT_OK;
}

/* ---- replication (SLAVE MONITOR) ------------------------------------------------ */

typedef struct my_replica {
    int32_t col; /* Seconds_Behind_Master's column, -1 before the first row */
    int found;
    double worst;
} my_replica;

static int replica_row(dm_dstmt *s, dbmgmt_health *h, void *state)
{
    (void)h;
    my_replica *r = state;
    if (r->col < 0) {
        for (int32_t i = 0; i < dm_my_column_count(s); i++) {
            const char *name = dm_my_column_name(s, i);
            if (name && strcasecmp(name, "Seconds_Behind_Master") == 0)
                r->col = i;
        }
        if (r->col < 0)
            return DBMGMT_OK;
    }
    double v;
    if (my_num(s, r->col, &v) && (!r->found || v > r->worst)) { /* NULL: not replicating */
        r->worst = v;
        r->found = 1;
    }
    return DBMGMT_OK;
}

static int my_replication(dm_dconn *c, dbmgmt_health *h, dm_error *err)
{
    my_replica r = {.col = -1};
    int rc = my_rows(c, "SHOW ALL SLAVES STATUS", replica_row, h, &r, 1, err,
                     "reading SHOW ALL SLAVES STATUS");
    if (rc < 0)
        return rc;
    if (rc == DBMGMT_OK && r.found)
        dm_health_set(h, DBMGMT_HEALTH_REPLICATION_LAG_SECONDS, r.worst);
    return DBMGMT_OK;
}

/* ---- performance_schema ---------------------------------------------------------- */

/* Secondary indexes of this schema's tables that performance_schema saw
 * opened but never read through. */
static const char unused_sql[] =
    "SELECT COUNT(*) FROM performance_schema.table_io_waits_summary_by_index_usage u "
    "WHERE u.OBJECT_SCHEMA = DATABASE() AND u.INDEX_NAME IS NOT NULL "
    "AND u.INDEX_NAME <> 'PRIMARY' AND u.COUNT_STAR = 0 AND EXISTS (SELECT 1 FROM "
    "information_schema.STATISTICS s WHERE s.TABLE_SCHEMA = u.OBJECT_SCHEMA "
    "AND s.TABLE_NAME = u.OBJECT_NAME AND s.INDEX_NAME = u.INDEX_NAME AND s.NON_UNIQUE = 1)";

/* Timers are in picoseconds. */
static const char mean_sql[] =
    "SELECT SUM(SUM_TIMER_WAIT) / SUM(COUNT_STAR) / 1e12 FROM "
    "performance_schema.events_statements_summary_global_by_event_name "
    "WHERE EVENT_NAME LIKE 'statement/sql/%' AND COUNT_STAR > 0";

static int my_performance_schema(dm_dconn *c, dbmgmt_health *h, int has_database,
                                 dm_error *err)
{
    my_metric m = {DBMGMT_HEALTH_UNUSED_INDEXES};
    int rc = has_database ? my_rows(c, unused_sql, metric_row, h, &m, 1, err,
                                    "reading performance_schema index usage")
                          : DBMGMT_OK;
    if (rc < 0)
        return rc;
    m.metric = DBMGMT_HEALTH_MEAN_QUERY_SECONDS;
    rc = my_rows(c, mean_sql, metric_row, h, &m, 1, err,
                 "reading performance_schema statement timers");
    return rc < 0 ? rc : DBMGMT_OK;
}

int dm_my_health(dm_dconn *c, dbmgmt_health *h, dm_error *err)
{
    my_base b = {0};
    int rc = my_rows(c, base_sql, base_row, h, &b, 0, err, "reading the session's settings");
    if (rc == DBMGMT_OK && b.has_database) {
        my_metric m = {DBMGMT_HEALTH_DATABASE_SIZE_BYTES};
        rc = my_rows(c, size_sql, metric_row, h, &m, 0, err,
                     "reading information_schema.TABLES");
        if (rc == DBMGMT_OK)
            rc = my_rows(c, tables_sql, table_row, h, NULL, 0, err,
                         "reading information_schema.TABLES");
        if (rc == DBMGMT_ERR_NOMEM)
            rc = dm_error_set(err, rc, "out of memory reading table sizes");
    }
    if (rc == DBMGMT_OK)
        rc = my_global_status(c, h, err);
    if (rc == DBMGMT_OK)
        rc = my_locks(c, h, err);
    if (rc == DBMGMT_OK)
        rc = my_replication(c, h, err);
    if (rc == DBMGMT_OK && b.performance_schema)
        rc = my_performance_schema(c, h, b.has_database, err);
    /* the data directory only when this client is on the server's machine */
    if (rc == DBMGMT_OK && b.local)
        dm_health_set_disk(h, b.datadir);
    return rc;
}
