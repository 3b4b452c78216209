/* The PostgreSQL driver: the catalog (tables, columns, indexes, foreign keys
 * of the current schema), table lookup, and a session's state saved and
 * restored around a migration. */
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

/* Run a catalog query; *out is the rows. */
static int catalog_query(dm_dconn *c, const char *sql, PGresult **out, dm_error *err)
{
    PGresult *res = dm_libpq.PQexec(c->pg, sql);
    if (dm_libpq.PQresultStatus(res) != PGRES_TUPLES_OK) {
        int rc = dm_pg_fail(c, res, err, "reading the catalog");
        dm_libpq.PQclear(res);
        return rc;
    }
    *out = res;
    return DBMGMT_OK;
}

static const char *const pg_tables_sql =
    "SELECT c.relname, CASE WHEN c.reltuples < 0 THEN -1 ELSE c.reltuples::bigint END "
    "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') ORDER BY c.relname";

static const char *const pg_columns_sql =
    "SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), NOT a.attnotnull, "
    "COALESCE((SELECT k.ord FROM pg_index i "
    "          CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord) "
    "          WHERE i.indrelid = c.oid AND i.indisprimary AND k.attnum = a.attnum), 0) "
    "FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
    "JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') AND a.attnum > 0 "
    "AND NOT a.attisdropped ORDER BY c.relname, a.attnum";

static const char *const pg_indexes_sql =
    "SELECT ic.relname, t.relname, ix.indisunique, ix.indisprimary, ix.indpred IS NOT NULL, "
    "COALESCE(st.idx_scan, -1), a.attname "
    "FROM pg_index ix JOIN pg_class ic ON ic.oid = ix.indexrelid "
    "JOIN pg_class t ON t.oid = ix.indrelid JOIN pg_namespace n ON n.oid = t.relnamespace "
    "LEFT JOIN pg_stat_user_indexes st ON st.indexrelid = ix.indexrelid "
    "CROSS JOIN LATERAL unnest(ix.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord) "
    "LEFT JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum AND k.attnum > 0 "
    "WHERE n.nspname = current_schema() AND t.relkind IN ('r', 'p') AND k.ord <= ix.indnkeyatts "
    "ORDER BY t.relname, ic.relname, k.ord";

static const char *const pg_fks_sql =
    "SELECT con.conname, t.relname, rt.relname, a.attname, ra.attname "
    "FROM pg_constraint con JOIN pg_class t ON t.oid = con.conrelid "
    "JOIN pg_class rt ON rt.oid = con.confrelid JOIN pg_namespace n ON n.oid = t.relnamespace "
    "CROSS JOIN LATERAL unnest(con.conkey, con.confkey) WITH ORDINALITY AS k(attnum, refnum, ord) "
    "JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum "
    "JOIN pg_attribute ra ON ra.attrelid = rt.oid AND ra.attnum = k.refnum "
    "WHERE con.contype = 'f' AND n.nspname = current_schema() "
    "ORDER BY t.relname, con.conname, k.ord";

static int catalog_tables_and_columns(dm_dconn *c, dm_catalog *cat, dm_error *err)
{
    PGresult *res = NULL;
    int rc = catalog_query(c, pg_tables_sql, &res, err);
    if (rc != DBMGMT_OK)
        return rc;
    for (int i = 0; i < dm_libpq.PQntuples(res); i++)
        dm_catalog_add_table(cat, dm_libpq.PQgetvalue(res, i, 0), strtoll(dm_libpq.PQgetvalue(res, i, 1), NULL, 10));
    dm_libpq.PQclear(res);
    rc = catalog_query(c, pg_columns_sql, &res, err);
    if (rc != DBMGMT_OK)
        return rc;
    for (int i = 0; i < dm_libpq.PQntuples(res); i++)
        dm_catalog_add_column(cat, dm_catalog_find_table(cat, dm_libpq.PQgetvalue(res, i, 0)),
                              dm_libpq.PQgetvalue(res, i, 1), dm_libpq.PQgetvalue(res, i, 2),
                              dm_libpq.PQgetvalue(res, i, 3)[0] == 't', atoi(dm_libpq.PQgetvalue(res, i, 4)));
    dm_libpq.PQclear(res);
    return DBMGMT_OK;
}

static int catalog_indexes(dm_dconn *c, dm_catalog *cat, dm_error *err)
{
    PGresult *res = NULL;
    int rc = catalog_query(c, pg_indexes_sql, &res, err);
    if (rc != DBMGMT_OK)
        return rc;
    dm_cat_index *ix = NULL;
    const char *current = NULL;
    for (int i = 0; i < dm_libpq.PQntuples(res); i++) {
        const char *name = dm_libpq.PQgetvalue(res, i, 0);
        if (!current || strcmp(current, name) != 0) {
            ix = dm_catalog_add_index(cat, name, dm_libpq.PQgetvalue(res, i, 1),
                                      dm_libpq.PQgetvalue(res, i, 2)[0] == 't', dm_libpq.PQgetvalue(res, i, 3)[0] == 't',
                                      dm_libpq.PQgetvalue(res, i, 4)[0] == 't',
                                      strtoll(dm_libpq.PQgetvalue(res, i, 5), NULL, 10));
            current = name;
        }
        dm_catalog_index_add_column(cat, ix, dm_libpq.PQgetisnull(res, i, 6) ? NULL : dm_libpq.PQgetvalue(res, i, 6));
    }
    dm_libpq.PQclear(res);
    return DBMGMT_OK;
}

static int catalog_fks(dm_dconn *c, dm_catalog *cat, dm_error *err)
{
    PGresult *res = NULL;
    int rc = catalog_query(c, pg_fks_sql, &res, err);
    if (rc != DBMGMT_OK)
        return rc;
    dm_cat_fk *fk = NULL;
    const char *current_name = NULL, *current_table = NULL;
    for (int i = 0; i < dm_libpq.PQntuples(res); i++) {
        const char *name = dm_libpq.PQgetvalue(res, i, 0), *table = dm_libpq.PQgetvalue(res, i, 1);
        if (!current_name || strcmp(current_name, name) || strcmp(current_table, table)) {
            fk = dm_catalog_add_fk(cat, name, table, dm_libpq.PQgetvalue(res, i, 2));
            current_name = name;
            current_table = table;
        }
        dm_catalog_fk_add_column(cat, fk, dm_libpq.PQgetvalue(res, i, 3), dm_libpq.PQgetvalue(res, i, 4));
    }
    dm_libpq.PQclear(res);
    return DBMGMT_OK;
}

int dm_pg_table_exists(dm_dconn *c, const char *schema, const char *name, dm_error *err)
{
    const char *params[] = {name, schema};
    PGresult *res = dm_libpq.PQexecParams(c->pg,
                                 schema ? "SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = "
                                          "c.relnamespace WHERE n.nspname = $2 AND "
                                          "c.relname = $1 AND c.relkind IN ('r', 'p')"
                                        : "SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = "
                                          "c.relnamespace WHERE n.nspname = current_schema() AND "
                                          "c.relname = $1 AND c.relkind IN ('r', 'p')",
                                 schema ? 2 : 1, NULL, params, NULL, NULL, 0);
    int rc = dm_libpq.PQresultStatus(res) == PGRES_TUPLES_OK ? dm_libpq.PQntuples(res) > 0
                                                    : dm_pg_fail(c, res, err, "looking up a table");
    dm_libpq.PQclear(res);
    return rc;
}

/* st->schema from the current_schema() text in value (NULL: none exists
 * on the search_path, which is given for the message). */
static int schema_of(const char *value, const char *search_path, dm_session_state *st,
                     dm_error *err)
{
    if (!value)
        return dm_error_set(err, DBMGMT_ERR_NOTFOUND,
                            "PostgreSQL: no schema to keep the migration history in: the "
                            "search_path '%s' names no schema that exists; create one, or give "
                            "the history table a schema (schema.table)", search_path);
    if (strlen(value) >= sizeof st->schema)
        return dm_error_set(err, DBMGMT_ERR_INVALID, "PostgreSQL: the current schema's name is "
                            "longer than %d bytes", (int)sizeof st->schema - 1);
    snprintf(st->schema, sizeof st->schema, "%s", value);
    return DBMGMT_OK;
}

int dm_pg_session_schema(dm_dconn *c, const char *schema, const char *table,
                         dm_session_state *st, int *table_exists, dm_error *err)
{
    memset(st, 0, sizeof *st);
    *table_exists = 0;
    const char *params[] = {table, schema};
    PGresult *res = dm_libpq.PQexecParams(
        c->pg, "SELECT current_schema(), current_setting('search_path'), EXISTS (SELECT 1 FROM "
               "pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = "
               "COALESCE($2, current_schema()) AND c.relname = $1 AND c.relkind IN ('r', 'p'))",
        2, NULL, params, NULL, NULL, 0);
    int rc;
    if (dm_libpq.PQresultStatus(res) != PGRES_TUPLES_OK || dm_libpq.PQntuples(res) != 1)
        rc = dm_pg_fail(c, res, err, "reading the session's schema");
    else
        rc = schema_of(dm_libpq.PQgetisnull(res, 0, 0) ? NULL : dm_libpq.PQgetvalue(res, 0, 0),
                       dm_libpq.PQgetvalue(res, 0, 1), st, err);
    if (rc == DBMGMT_OK || rc == DBMGMT_ERR_NOTFOUND)
        *table_exists = strcmp(dm_libpq.PQgetvalue(res, 0, 2), "t") == 0;
    dm_libpq.PQclear(res);
    return rc;
}

/* The schema is current_schema(): the first schema on the search_path
 * that exists. The session is put back with RESET ALL (every setting to the
 * value the session started with: server, database, role and connection
 * options) followed by set_config() of each setting the session had SET
 * when it was saved (the host's own, e.g. a search_path of its choosing),
 * quoted by the server itself. */
int dm_pg_session_save(dm_dconn *c, dm_session_state *st, dm_error *err)
{
    memset(st, 0, sizeof *st);
    PGresult *res = dm_libpq.PQexec(
        c->pg, "SELECT current_schema(), current_setting('search_path'), "
               "(SELECT string_agg(format('set_config(%L, %L, false)', name, setting), ', ') "
               "FROM pg_settings WHERE source = 'session' AND context IN ('user', 'superuser'))");
    if (dm_libpq.PQresultStatus(res) != PGRES_TUPLES_OK || dm_libpq.PQntuples(res) != 1) {
        int rc = dm_pg_fail(c, res, err, "reading the session's settings");
        dm_libpq.PQclear(res);
        return rc;
    }
    dm_buf restore = DM_BUF_INIT;
    dm_buf_puts(&restore, "RESET ALL");
    if (!dm_libpq.PQgetisnull(res, 0, 2)) {
        dm_buf_puts(&restore, "; SELECT ");
        dm_buf_puts(&restore, dm_libpq.PQgetvalue(res, 0, 2));
    }
    st->restore = dm_buf_detach(&restore);
    int rc = DBMGMT_OK;
    if (!st->restore)
        rc = dm_error_set(err, DBMGMT_ERR_NOMEM, "out of memory reading the session's settings");
    else
        rc = schema_of(dm_libpq.PQgetisnull(res, 0, 0) ? NULL : dm_libpq.PQgetvalue(res, 0, 0),
                       dm_libpq.PQgetvalue(res, 0, 1), st, err);
    dm_libpq.PQclear(res);
    if (rc != DBMGMT_OK && rc != DBMGMT_ERR_NOTFOUND)
        dm_session_state_clear(st);
    return rc;
}

int dm_pg_session_restore(dm_dconn *c, const dm_session_state *st, dm_error *err)
{
    return dm_pg_simple(c, st->restore ? st->restore : "RESET ALL", err,
                     "putting the session's settings back");
}

int dm_pg_catalog(dm_dconn *c, dm_catalog *cat, dm_error *err)
{
    int rc = catalog_tables_and_columns(c, cat, err);
    if (rc == DBMGMT_OK)
        rc = catalog_indexes(c, cat, err);
    if (rc == DBMGMT_OK)
        rc = catalog_fks(c, cat, err);
    if (rc == DBMGMT_OK && cat->failed)
        rc = dm_error_set(err, DBMGMT_ERR_NOMEM, "out of memory reading the catalog");
    return rc;
}
