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

#include "core/alloc.h"
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

/*
 * One round trip for the database, its statistics, the settings, locks,
 * sessions, unused indexes, where pg_stat_statements lives, and a standby's
 * own lag: each round trip costs more than the reads (issue 20's cost bound,
 * docs/health.md). Settings come from current_setting(), not pg_settings
 * (which builds the whole view); data_directory only for a role that may
 * read it (pg_read_all_settings), else NULL. A standby's lag is 0 when it
 * replayed all it received. The statistics are read through the functions
 * under pg_stat_database, pg_stat_activity, pg_locks and pg_stat_user_indexes
 * (the same columns, the views' own definitions): planning the views cost
 * more than running the query (3 ms of 6 on a warm session, PostgreSQL 15).
 */
static const char main_sql[] =
    "SELECT pg_database_size(d.oid), pg_stat_get_db_blocks_hit(d.oid), "
    "pg_stat_get_db_blocks_fetched(d.oid) - pg_stat_get_db_blocks_hit(d.oid), "
    "pg_stat_get_db_deadlocks(d.oid), "
    "pg_stat_get_db_xact_commit(d.oid) + pg_stat_get_db_xact_rollback(d.oid), "
    "current_setting('max_connections')::bigint, "
    "(SELECT count(*) FROM pg_lock_status() l WHERE NOT l.granted), pg_is_in_recovery(), "
    "coalesce(inet_client_addr() <<= '127.0.0.0/8' OR inet_client_addr() = '::1', true), "
    "CASE WHEN pg_has_role('pg_read_all_settings', 'USAGE') "
    "THEN current_setting('data_directory') END, "
    "a.active, a.idle, a.waiting, a.total, "
    "(SELECT count(*) FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid "
    "WHERE NOT i.indisunique AND NOT i.indisprimary "
    "AND pg_stat_get_numscans(i.indexrelid) = 0 AND t.relkind IN ('r', 'm') "
    "AND t.relnamespace NOT IN ('pg_catalog'::regnamespace, "
    "'information_schema'::regnamespace, 'pg_toast'::regnamespace)), "
    "(SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace "
    "WHERE e.extname = 'pg_stat_statements'), "
    "CASE WHEN NOT pg_is_in_recovery() THEN NULL "
    "WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0 "
    "ELSE extract(epoch FROM now() - pg_last_xact_replay_timestamp()) END "
    "FROM pg_database d, (SELECT count(*) FILTER (WHERE s.state = 'active') AS active, "
    "count(*) FILTER (WHERE s.state LIKE 'idle%') AS idle, "
    "count(*) FILTER (WHERE s.wait_event_type = 'Lock') AS waiting, count(*) AS total "
    "FROM pg_stat_get_activity(NULL) s WHERE s.backend_type = 'client backend' "
    "AND s.datid = (SELECT oid FROM pg_database WHERE datname = current_database())) a "
    "WHERE d.datname = current_database()";

/*
 * The largest tables (kind 't') and a primary's streaming standbys (kind
 * 'r', replay lag in seconds, NULL unknown) in one result.
 * pg_total_relation_size locks each table (AccessShareLock): the query sets
 * its own lock_timeout with set_config(..., true) first, a bounded wait
 * behind a migration's ALTER TABLE instead of a hung health check. Outside
 * a transaction the setting ends with the statement; inside the caller's,
 * the statement runs in a savepoint that is rolled back, which takes the
 * setting back with it (pg_tables).
 */
static const char tables_sql[] =
    "SELECT 't', name, bytes::float8 FROM (SELECT quote_ident(n.nspname) || '.' || "
    "quote_ident(c.relname) AS name, pg_total_relation_size(c.oid) AS bytes "
    "FROM (SELECT set_config('lock_timeout', '2s', true)) lt, pg_class c "
    "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind IN ('r', 'm') "
    "AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
    "AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp\\_%' "
    "ORDER BY bytes DESC, name LIMIT 10) t "
    "UNION ALL (SELECT 'r', coalesce(nullif(application_name, ''), host(client_addr), "
    "'pid ' || pid), extract(epoch FROM replay_lag)::float8 FROM pg_stat_replication "
    "WHERE NOT pg_is_in_recovery() ORDER BY 2)";

static int pg_main(dm_dconn *c, dbmgmt_health *h, char **stmts_schema, dm_error *err)
{
    PGresult *r = NULL;
    int rc = dm_pg_params(c, main_sql, 0, NULL, &r, err,
                          "reading pg_database_size, pg_stat_database, pg_stat_activity, "
                          "pg_locks and pg_stat_user_indexes");
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
    int local = strcmp(dm_libpq.PQgetvalue(r, 0, 8), "t") == 0;
    /* the data directory only when this client is on the server's machine:
     * a path of the same name here would be another file system */
    if (local && !dm_libpq.PQgetisnull(r, 0, 9))
        dm_health_set_disk(h, dm_libpq.PQgetvalue(r, 0, 9));
    pg_set(h, DBMGMT_HEALTH_CONNECTIONS_ACTIVE, r, 10);
    pg_set(h, DBMGMT_HEALTH_CONNECTIONS_IDLE, r, 11);
    pg_set(h, DBMGMT_HEALTH_CONNECTIONS_WAITING, r, 12);
    pg_set(h, DBMGMT_HEALTH_CONNECTIONS_TOTAL, r, 13);
    pg_set(h, DBMGMT_HEALTH_UNUSED_INDEXES, r, 14);
    pg_set(h, DBMGMT_HEALTH_REPLICATION_LAG_SECONDS, r, 16);
    *stmts_schema = NULL;
    if (!dm_libpq.PQgetisnull(r, 0, 15)) {
        *stmts_schema = dm_strdup(dm_libpq.PQgetvalue(r, 0, 15));
        if (!*stmts_schema)
            rc = dm_error_set(err, DBMGMT_ERR_NOMEM, "out of memory reading pg_extension");
    }
    dm_libpq.PQclear(r);
    return rc;
}

/* pg_stat_statements of this database, when the extension is installed
 * here (and preloaded: otherwise reading it is refused). The slow ones are
 * approximated by statement: the calls of the statements whose mean time is
 * at least a second (the view keeps no per-call times). */
static int pg_statements(dm_dconn *c, dbmgmt_health *h, const char *schema, dm_error *err)
{
    dm_buf q = DM_BUF_INIT;
    dm_buf_puts(&q, "SELECT coalesce(sum(calls), 0), sum(total_exec_time), "
                    "coalesce(sum(calls) FILTER (WHERE mean_exec_time >= 1000), 0) FROM ");
    dm_quote_ident_standard(&q, schema);
    dm_buf_puts(&q, ".pg_stat_statements WHERE dbid = "
                    "(SELECT oid FROM pg_database WHERE datname = current_database())");
    PGresult *r = NULL;
    int rc = dm_buf_failed(&q) ? dm_error_set(err, DBMGMT_ERR_NOMEM, "out of memory")
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

/* The largest tables and a primary's standbys (tables_sql). Inside the
 * caller's transaction, in a savepoint rolled back afterwards, so that the
 * query's lock_timeout does not outlive it and a refusal aborts nothing. */
static int pg_tables(dm_dconn *c, dbmgmt_health *h, dm_error *err)
{
    int in_tx = dm_libpq.PQtransactionStatus(c->pg) == PQTRANS_INTRANS;
    const char *context = "reading pg_total_relation_size and pg_stat_replication";
    int rc = in_tx ? dm_pg_simple(c, "SAVEPOINT dbmgmt_health", err, context) : DBMGMT_OK;
    if (rc != DBMGMT_OK)
        return rc;
    PGresult *r = NULL;
    dm_error refused = {0};
    rc = dm_pg_params(c, tables_sql, 0, NULL, &r, &refused, context);
    if (rc != DBMGMT_OK && rc != DBMGMT_ERR_SQL)
        return dm_error_copy(err, &refused);
    if (in_tx) {
        int back = dm_pg_simple(c, "ROLLBACK TO SAVEPOINT dbmgmt_health; "
                                   "RELEASE SAVEPOINT dbmgmt_health", err, context);
        if (back != DBMGMT_OK) {
            dm_libpq.PQclear(r);
            return back;
        }
    }
    if (rc != DBMGMT_OK) { /* a table locked past the timeout: no sizes, no standbys */
        dm_log(DBMGMT_LOG_DEBUG, "health: %s", refused.msg);
        return DBMGMT_OK;
    }
    for (int i = 0; i < dm_libpq.PQntuples(r) && rc == DBMGMT_OK; i++) {
        const char *name = dm_libpq.PQgetvalue(r, i, 1);
        double v = -1;
        pg_num(r, i, 2, &v);
        int ok = dm_libpq.PQgetvalue(r, i, 0)[0] == 't'
                     ? dm_health_add_table(h, name, (int64_t)v)
                     : dm_health_add_replica(h, name, v);
        if (ok != DBMGMT_OK)
            rc = dm_error_set(err, DBMGMT_ERR_NOMEM, "out of memory reading %s", context);
    }
    dm_libpq.PQclear(r);
    return rc;
}

int dm_pg_health(dm_dconn *c, dbmgmt_health *h, dm_error *err)
{
    char *schema = NULL;
    int rc = pg_main(c, h, &schema, err);
    if (rc == DBMGMT_OK && schema)
        rc = pg_statements(c, h, schema, err);
    dm_free(schema);
    if (rc == DBMGMT_OK)
        rc = pg_tables(c, h, err);
    return rc;
}
