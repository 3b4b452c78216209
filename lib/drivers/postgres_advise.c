/* The PostgreSQL driver for index advice (issue 9): HypoPG what-if
 * sessions, column statistics and the pg_stat_statements workload. */
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/sha256.h"
#include "postgres_impl.h"
#include "sql/split.h"

/* --- Index advice (issue 9): HypoPG what-if sessions, statistics, workload -- */

struct dm_whatif {
    dm_dconn *conn;
};


int dm_pg_whatif_open(dm_dconn *c, dm_whatif **out, dm_error *err)
{
    *out = NULL;
    PGresult *res = NULL;
    int rc = dm_pg_params(c, "SELECT 1 FROM pg_extension WHERE extname = 'hypopg'", 0, NULL, &res,
                       err, "looking for HypoPG");
    if (rc != DBMGMT_OK)
        return rc;
    int installed = dm_libpq.PQntuples(res) > 0;
    dm_libpq.PQclear(res);
    if (!installed) {
        dm_error tried = {0};
        if (dm_pg_simple(c, "CREATE EXTENSION IF NOT EXISTS hypopg", &tried, NULL) != DBMGMT_OK)
            return dm_error_set(err, DBMGMT_ERR_UNSUPPORTED,
                                "HypoPG is not available in this database, so the planner was "
                                "not asked (install postgresql-15-hypopg and run CREATE "
                                "EXTENSION hypopg): %s",
                                tried.msg);
    }
    rc = dm_pg_simple(c, "SELECT hypopg_reset()", err, "HypoPG");
    if (rc != DBMGMT_OK)
        return rc;
    dm_whatif *w = dm_calloc(1, sizeof *w);
    if (!w)
        return dm_error_set(err, DBMGMT_ERR_NOMEM, "out of memory");
    w->conn = c;
    *out = w;
    return DBMGMT_OK;
}

int dm_pg_whatif_index(dm_whatif *w, const char *ddl, const char *name, dm_buf *plan_name,
                           dm_error *err)
{
    (void)name;
    PGresult *res = NULL;
    const char *values[1] = {ddl};
    int rc = dm_pg_params(w->conn, "SELECT indexname FROM hypopg_create_index($1)", 1, values, &res,
                       err, "HypoPG");
    if (rc != DBMGMT_OK)
        return rc;
    if (dm_libpq.PQntuples(res) > 0)
        dm_buf_puts(plan_name, dm_libpq.PQgetvalue(res, 0, 0));
    dm_libpq.PQclear(res);
    return DBMGMT_OK;
}

/* EXPLAIN a statement with placeholders (`?` or $n, as applications and
 * pg_stat_statements write them): prepared, then explained as the generic
 * plan (plan_cache_mode = force_generic_plan) with NULL arguments, so the
 * plan does not depend on values the advisor does not have. */
static int pg_explain_generic(dm_dconn *c, const char *sql, int32_t nparams, PGresult **out,
                              dm_error *err)
{
    dm_buf q = DM_BUF_INIT;
    dm_buf_puts(&q, "PREPARE dbmgmt_whatif AS ");
    dm_buf_puts(&q, sql);
    if (dm_buf_failed(&q)) {
        dm_buf_free(&q);
        return dm_error_set(err, DBMGMT_ERR_NOMEM, "out of memory");
    }
    int rc = dm_pg_simple(c, q.data, err, "PREPARE for EXPLAIN");
    dm_buf_clear(&q);
    if (rc == DBMGMT_OK)
        rc = dm_pg_simple(c, "SET plan_cache_mode = force_generic_plan", err, "EXPLAIN");
    if (rc == DBMGMT_OK) {
        dm_buf_puts(&q, "EXPLAIN EXECUTE dbmgmt_whatif(");
        for (int32_t i = 0; i < nparams; i++)
            dm_buf_puts(&q, i ? ", NULL" : "NULL");
        dm_buf_putc(&q, ')');
        rc = dm_buf_failed(&q) ? dm_error_set(err, DBMGMT_ERR_NOMEM, "out of memory")
                               : dm_pg_params(c, q.data, 0, NULL, out, err, "EXPLAIN");
    }
    dm_error ignored = {0};
    (void)dm_pg_simple(c, "RESET plan_cache_mode", &ignored, NULL);
    (void)dm_pg_simple(c, "DEALLOCATE dbmgmt_whatif", &ignored, NULL);
    dm_buf_free(&q);
    return rc;
}

int dm_pg_whatif_explain(dm_whatif *w, const char *sql, dm_buf *plan, double *cost,
                             dm_error *err)
{
    *cost = -1;
    char *rewritten = NULL;
    int32_t nparams = 0;
    int rc = dm_sql_rewrite_placeholders(sql, strlen(sql), &rewritten, &nparams, err);
    if (rc != DBMGMT_OK)
        return rc;
    PGresult *res = NULL;
    if (nparams > 0) {
        rc = pg_explain_generic(w->conn, rewritten, nparams, &res, err);
    } else {
        dm_buf q = DM_BUF_INIT;
        dm_buf_puts(&q, "EXPLAIN ");
        dm_buf_puts(&q, rewritten);
        rc = dm_buf_failed(&q) ? dm_error_set(err, DBMGMT_ERR_NOMEM, "out of memory")
                               : dm_pg_params(w->conn, q.data, 0, NULL, &res, err, "EXPLAIN");
        dm_buf_free(&q);
    }
    dm_free(rewritten);
    if (rc != DBMGMT_OK)
        return rc;
    for (int i = 0; i < dm_libpq.PQntuples(res); i++) {
        const char *line = dm_libpq.PQgetvalue(res, i, 0);
        if (i == 0) { /* "... (cost=0.00..35.50 rows=..." : the total cost */
            const char *dots = strstr(line, "cost=");
            dots = dots ? strstr(dots, "..") : NULL;
            if (dots)
                *cost = strtod(dots + 2, NULL);
        }
        dm_buf_puts(plan, line);
        dm_buf_putc(plan, '\n');
    }
    dm_libpq.PQclear(res);
    return dm_buf_failed(plan) ? dm_error_set(err, DBMGMT_ERR_NOMEM, "out of memory reading a plan")
                               : DBMGMT_OK;
}

void dm_pg_whatif_close(dm_whatif *w)
{
    if (!w)
        return;
    dm_error ignored = {0};
    (void)dm_pg_simple(w->conn, "SELECT hypopg_reset()", &ignored, NULL);
    dm_free(w);
}

/* pg_stats.n_distinct (negative: a fraction of the rows) and reltuples. */
int dm_pg_column_distinct(dm_dconn *c, const char *table, const char *column, double *distinct,
                              double *rows, dm_error *err)
{
    *distinct = *rows = -1;
    PGresult *res = NULL;
    const char *values[2] = {table, column};
    int rc = dm_pg_params(c,
                       "SELECT s.n_distinct, c.reltuples FROM pg_stats s JOIN pg_class c ON "
                       "c.relname = s.tablename AND c.relnamespace = to_regnamespace(s.schemaname) "
                       "WHERE s.schemaname = current_schema() AND s.tablename = $1 "
                       "AND s.attname = $2",
                       2, values, &res, err, "reading column statistics");
    if (rc != DBMGMT_OK)
        return rc;
    if (dm_libpq.PQntuples(res) > 0) {
        double nd = strtod(dm_libpq.PQgetvalue(res, 0, 0), NULL), n = strtod(dm_libpq.PQgetvalue(res, 0, 1), NULL);
        if (n >= 0) {
            *rows = n;
            *distinct = nd < 0 ? -nd * n : nd;
        }
    }
    dm_libpq.PQclear(res);
    return DBMGMT_OK;
}

/* pg_stat_statements of the current database (its texts use $n placeholders). */
int dm_pg_workload(dm_dconn *c, void (*fn)(void *userdata, const char *sql, double calls),
                       void *userdata, dm_error *err)
{
    PGresult *res = NULL;
    int rc = dm_pg_params(c,
                       "SELECT query, calls FROM pg_stat_statements s JOIN pg_database d ON "
                       "d.oid = s.dbid WHERE d.datname = current_database() AND calls > 0 "
                       "ORDER BY calls DESC LIMIT 10000",
                       0, NULL, &res, err, "reading pg_stat_statements");
    if (rc != DBMGMT_OK)
        return rc;
    for (int i = 0; i < dm_libpq.PQntuples(res); i++)
        fn(userdata, dm_libpq.PQgetvalue(res, i, 0), strtod(dm_libpq.PQgetvalue(res, i, 1), NULL));
    dm_libpq.PQclear(res);
    return DBMGMT_OK;
}
