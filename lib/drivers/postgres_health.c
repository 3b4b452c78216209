/*
 * The PostgreSQL driver's health op (issue 20, docs/health.md): the
 * figures of a snapshot from the server's own statistics views. What the
 * session may not read (pg_stat_statements not preloaded, data_directory
 * hidden from a role without pg_read_all_settings) is left absent.
 */
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/log.h"
#include "health/health_collect.h"
#include "postgres_impl.h"

#define PG_REFUSED 1 /* pg_try: the server refused the read; its figures stay absent */

/* sql's result, or PG_REFUSED when the server refused it (privileges, an
 * extension not loaded, a lock not granted in time): inside the caller's
 * transaction it runs under a savepoint, so the refusal does not abort that
 * transaction. < 0: the session is gone (or out of memory). */
static int pg_try(dm_dconn *c, const char *sql, PGresult **out, dm_error *err,
                  const char *context)
{
    *out = NULL;
    int in_tx = dm_libpq.PQtransactionStatus(c->pg) == PQTRANS_INTRANS;
    int rc = in_tx ? dm_pg_simple(c, "SAVEPOINT dbmgmt_health", err, context) : DBMGMT_OK;
    if (rc != DBMGMT_OK)
        return rc;
    dm_error refused = {0};
    rc = dm_pg_params(c, sql, 0, NULL, out, &refused, context);
    if (rc != DBMGMT_OK && rc != DBMGMT_ERR_SQL)
        return dm_error_copy(err, &refused);
    if (in_tx) {
        int back = dm_pg_simple(c,
                                rc == DBMGMT_OK ? "RELEASE SAVEPOINT dbmgmt_health"
                                                : "ROLLBACK TO SAVEPOINT dbmgmt_health; "
                                                  "RELEASE SAVEPOINT dbmgmt_health",
                                err, context);
        if (back != DBMGMT_OK) {
            dm_libpq.PQclear(*out);
            *out = NULL;
            return back;
        }
    }
    if (rc != DBMGMT_OK) {
        dm_log(DBMGMT_LOG_DEBUG, "health: %s", refused.msg);
        return PG_REFUSED;
    }
    return DBMGMT_OK;
}

/* A non-NULL value of the result as a number into *v; 0 when it is NULL. */
static int pg_num(PGresult *r, int row, int col, double *v)
{
    if (row >= dm_libpq.PQntuples(r) || dm_libpq.PQgetisnull(r, row, col))
        return 0;
    *v = strtod(dm_libpq.PQgetvalue(r, row, col), NULL);
    return 1;
}

static void pg_set(dbmgmt_health *h, int32_t metric, PGresult *r, int col)
{
    double v;
    if (pg_num(r, 0, col, &v))
        dm_health_set(h, metric, v);
}

/* The database, its statistics, the server's settings and locks. Also
 * whether the server is in recovery, whether this client is on the
 * server's machine, and the data directory (NULL when hidden). */
static const char base_sql[] =
    "SELECT pg_database_size(current_database()), d.blks_hit, d.blks_read, d.deadlocks, "
    "d.xact_commit + d.xact_rollback, "
    "(SELECT setting::bigint FROM pg_settings WHERE name = 'max_connections'), "
    "(SELECT count(*) FROM pg_locks WHERE NOT granted), "
    "pg_is_in_recovery(), "
    "coalesce(inet_client_addr() <<= '127.0.0.0/8' OR inet_client_addr() = '::1', true), "
    "(SELECT setting FROM pg_settings WHERE name = 'data_directory') "
    "FROM (SELECT 1) one LEFT JOIN pg_stat_database d ON d.datname = current_database()";

static const char activity_sql[] =
    "SELECT count(*) FILTER (WHERE state = 'active'), "
    "count(*) FILTER (WHERE state LIKE 'idle%'), "
    "count(*) FILTER (WHERE wait_event_type = 'Lock'), count(*) "
    "FROM pg_stat_activity WHERE datname = current_database() "
    "AND backend_type = 'client backend'";

static const char unused_sql[] =
    "SELECT count(*) FROM pg_stat_user_indexes s JOIN pg_index i ON i.indexrelid = s.indexrelid "
    "WHERE s.idx_scan = 0 AND NOT i.indisunique AND NOT i.indisprimary";

/* pg_total_relation_size locks each table (AccessShareLock): a bounded wait
 * behind a migration's ALTER TABLE instead of hanging the health check. */
static const char tables_sql[] =
    "SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname), "
    "pg_total_relation_size(c.oid) AS bytes FROM pg_class c "
    "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind IN ('r', 'm') "
    "AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
    "AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp\\_%' "
    "ORDER BY bytes DESC, 1 LIMIT 10";

static const char standby_lag_sql[] =
    "SELECT CASE WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0 "
    "ELSE extract(epoch FROM now() - pg_last_xact_replay_timestamp()) END";

static const char standbys_sql[] =
    "SELECT coalesce(nullif(application_name, ''), host(client_addr), 'pid ' || pid), "
    "extract(epoch FROM replay_lag) FROM pg_stat_replication ORDER BY 1";

static int pg_base(dm_dconn *c, dbmgmt_health *h, int *standby, dm_error *err)
{
    PGresult *r = NULL;
    int rc = dm_pg_params(c, base_sql, 0, NULL, &r, err,
                          "reading pg_database_size, pg_stat_database and pg_locks");
    if (rc != DBMGMT_OK)
        return rc;
    double hits, reads;
    pg_set(h, DBMGMT_HEALTH_DATABASE_SIZE_BYTES, r, 0);
    if (pg_num(r, 0, 1, &hits) && pg_num(r, 0, 2, &reads))
        dm_health_set_cache(h, hits, reads);
    pg_set(h, DBMGMT_HEALTH_DEADLOCKS_TOTAL, r, 3);
    pg_set(h, DBMGMT_HEALTH_TRANSACTIONS_TOTAL, r, 4);
    pg_set(h, DBMGMT_HEALTH_CONNECTIONS_MAX, r, 5);
    pg_set(h, DBMGMT_HEALTH_LOCK_WAITS, r, 6);
    *standby = strcmp(dm_libpq.PQgetvalue(r, 0, 7), "t") == 0;
    int local = strcmp(dm_libpq.PQgetvalue(r, 0, 8), "t") == 0;
    /* the data directory only when this client is on the server's machine:
     * a path of the same name here would be another file system */
    if (local && !dm_libpq.PQgetisnull(r, 0, 9))
        dm_health_set_disk(h, dm_libpq.PQgetvalue(r, 0, 9));
    dm_libpq.PQclear(r);
    return DBMGMT_OK;
}

static int pg_activity(dm_dconn *c, dbmgmt_health *h, dm_error *err)
{
    PGresult *r = NULL;
    int rc = dm_pg_params(c, activity_sql, 0, NULL, &r, err, "reading pg_stat_activity");
    if (rc != DBMGMT_OK)
        return rc;
    pg_set(h, DBMGMT_HEALTH_CONNECTIONS_ACTIVE, r, 0);
    pg_set(h, DBMGMT_HEALTH_CONNECTIONS_IDLE, r, 1);
    pg_set(h, DBMGMT_HEALTH_CONNECTIONS_WAITING, r, 2);
    pg_set(h, DBMGMT_HEALTH_CONNECTIONS_TOTAL, r, 3);
    dm_libpq.PQclear(r);
    rc = dm_pg_params(c, unused_sql, 0, NULL, &r, err, "reading pg_stat_user_indexes");
    if (rc != DBMGMT_OK)
        return rc;
    pg_set(h, DBMGMT_HEALTH_UNUSED_INDEXES, r, 0);
    dm_libpq.PQclear(r);
    return DBMGMT_OK;
}

/* pg_stat_statements of this database, when the extension is installed
 * here (and preloaded: otherwise reading it is refused). The slow ones are
 * approximated by statement: the calls of the statements whose mean time is
 * at least a second (the view keeps no per-call times). */
static int pg_statements(dm_dconn *c, dbmgmt_health *h, dm_error *err)
{
    PGresult *r = NULL;
    int rc = dm_pg_params(c,
                          "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON "
                          "n.oid = e.extnamespace WHERE e.extname = 'pg_stat_statements'",
                          0, NULL, &r, err, "looking for pg_stat_statements in pg_extension");
    if (rc != DBMGMT_OK)
        return rc;
    if (dm_libpq.PQntuples(r) == 0) {
        dm_libpq.PQclear(r);
        return DBMGMT_OK;
    }
    dm_buf q = DM_BUF_INIT;
    dm_buf_puts(&q, "SELECT coalesce(sum(calls), 0), sum(total_exec_time), "
                    "coalesce(sum(calls) FILTER (WHERE mean_exec_time >= 1000), 0) FROM ");
    dm_quote_ident_standard(&q, dm_libpq.PQgetvalue(r, 0, 0));
    dm_buf_puts(&q, ".pg_stat_statements WHERE dbid = "
                    "(SELECT oid FROM pg_database WHERE datname = current_database())");
    dm_libpq.PQclear(r);
    r = NULL;
    rc = dm_buf_failed(&q) ? dm_error_set(err, DBMGMT_ERR_NOMEM, "out of memory")
                           : pg_try(c, q.data, &r, err, "reading pg_stat_statements");
    dm_buf_free(&q);
    if (rc != DBMGMT_OK)
        return rc == PG_REFUSED ? DBMGMT_OK : rc;
    double calls = 0, ms = 0;
    pg_set(h, DBMGMT_HEALTH_QUERIES_TOTAL, r, 0);
    pg_set(h, DBMGMT_HEALTH_SLOW_QUERIES_TOTAL, r, 2);
    if (pg_num(r, 0, 0, &calls) && calls > 0 && pg_num(r, 0, 1, &ms))
        dm_health_set(h, DBMGMT_HEALTH_MEAN_QUERY_SECONDS, ms / calls / 1000.0);
    dm_libpq.PQclear(r);
    return DBMGMT_OK;
}

/* A standby's own lag (0 when it replayed all it received), or a
 * primary's streaming standbys, each with its replay lag (-1 unknown). */
static int pg_replication(dm_dconn *c, dbmgmt_health *h, int standby, dm_error *err)
{
    PGresult *r = NULL;
    int rc = pg_try(c, standby ? standby_lag_sql : standbys_sql, &r, err,
                    standby ? "reading the replay lag" : "reading pg_stat_replication");
    if (rc != DBMGMT_OK)
        return rc == PG_REFUSED ? DBMGMT_OK : rc;
    if (standby)
        pg_set(h, DBMGMT_HEALTH_REPLICATION_LAG_SECONDS, r, 0);
    for (int i = 0; !standby && i < dm_libpq.PQntuples(r) && rc == DBMGMT_OK; i++) {
        double lag = -1;
        pg_num(r, i, 1, &lag);
        if (dm_health_add_replica(h, dm_libpq.PQgetvalue(r, i, 0), lag) != DBMGMT_OK)
            rc = dm_error_set(err, DBMGMT_ERR_NOMEM, "out of memory reading pg_stat_replication");
    }
    dm_libpq.PQclear(r);
    return rc;
}

/* The largest tables, under a lock_timeout of its own, put back after:
 * inside the caller's transaction as a SET LOCAL would (so a SET LOCAL of
 * the caller's still ends with the transaction), else for the session. */
static int pg_tables(dm_dconn *c, dbmgmt_health *h, dm_error *err)
{
    PGresult *r = NULL;
    int rc = dm_pg_params(c, "SELECT current_setting('lock_timeout')", 0, NULL, &r, err,
                          "reading lock_timeout");
    if (rc != DBMGMT_OK)
        return rc;
    char before[64];
    snprintf(before, sizeof before, "%s", dm_libpq.PQgetvalue(r, 0, 0));
    dm_libpq.PQclear(r);
    const char *local = dm_libpq.PQtransactionStatus(c->pg) == PQTRANS_INTRANS ? "t" : "f";
    const char *values[2] = {"2s", local};
    rc = dm_pg_params(c, "SELECT set_config('lock_timeout', $1, $2::boolean)", 2, values, &r,
                      err, "setting lock_timeout");
    if (rc != DBMGMT_OK)
        return rc;
    dm_libpq.PQclear(r);
    rc = pg_try(c, tables_sql, &r, err, "reading pg_total_relation_size");
    values[0] = before;
    PGresult *back = NULL;
    int brc = dm_pg_params(c, "SELECT set_config('lock_timeout', $1, $2::boolean)", 2, values,
                           &back, err, "putting lock_timeout back");
    dm_libpq.PQclear(back);
    if ((rc == DBMGMT_OK || rc == PG_REFUSED) && brc != DBMGMT_OK)
        rc = brc;
    if (rc != DBMGMT_OK) {
        dm_libpq.PQclear(r);
        return rc == PG_REFUSED ? DBMGMT_OK : rc;
    }
    for (int i = 0; i < dm_libpq.PQntuples(r) && rc == DBMGMT_OK; i++)
        if (dm_health_add_table(h, dm_libpq.PQgetvalue(r, i, 0),
                                strtoll(dm_libpq.PQgetvalue(r, i, 1), NULL, 10)) != DBMGMT_OK)
            rc = dm_error_set(err, DBMGMT_ERR_NOMEM, "out of memory reading table sizes");
    dm_libpq.PQclear(r);
    return rc;
}

int dm_pg_health(dm_dconn *c, dbmgmt_health *h, dm_error *err)
{
    int standby = 0;
    int rc = pg_base(c, h, &standby, err);
    if (rc == DBMGMT_OK)
        rc = pg_activity(c, h, err);
    if (rc == DBMGMT_OK)
        rc = pg_statements(c, h, err);
    if (rc == DBMGMT_OK)
        rc = pg_replication(c, h, standby, err);
    if (rc == DBMGMT_OK)
        rc = pg_tables(c, h, err);
    return rc;
}
