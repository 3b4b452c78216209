/*
 * Masking a scratch database (docs/snapshots.md): the rules checked
 * against its schema, every table with masked columns masked by key, then
 * rewritten so that no old row version keeps a source value: SQLite with
 * secure_delete on and a VACUUM of the file, PostgreSQL VACUUM FULL of each
 * masked table, MariaDB/MySQL ALTER TABLE ... FORCE (a rebuild of InnoDB's
 * clustered index) of each masked table.
 */
#include "snapshot_impl.h"

#include <stdio.h>
#include <string.h>

#include "conn/conn.h"
#include "core/alloc.h"

static int add_result(dbmgmt_snapshot *s, const char *table, dm_snap_table_result **out)
{
    if (s->ntables == s->tables_cap) {
        size_t cap = s->tables_cap ? s->tables_cap * 2 : 16;
        dm_snap_table_result *v = dm_realloc(s->tables, cap * sizeof *v);
        if (!v)
            return dm_error_set(&s->err, DBMGMT_ERR_NOMEM, "out of memory");
        s->tables = v;
        s->tables_cap = cap;
    }
    dm_snap_table_result *r = &s->tables[s->ntables];
    memset(r, 0, sizeof *r);
    if (!(r->table = dm_strdup(table)))
        return dm_error_set(&s->err, DBMGMT_ERR_NOMEM, "out of memory");
    s->ntables++;
    *out = r;
    return DBMGMT_OK;
}

static int run_sql(dbmgmt_snapshot *s, dbmgmt_conn *conn, const char *sql, const char *what,
                   const char *table)
{
    int rc = dm_conn_exec_statement(conn, sql);
    if (rc != DBMGMT_OK)
        return dm_error_set(&s->err, rc, "%s of table %s: %s", what, table,
                            dbmgmt_conn_errmsg(conn));
    return DBMGMT_OK;
}

/* Rewrite a masked table so that its old row versions are gone. */
static int rewrite_table(dbmgmt_snapshot *s, dbmgmt_conn *conn, const char *table)
{
    dbmgmt_engine e = dbmgmt_conn_engine(conn);
    if (e == DBMGMT_ENGINE_SQLITE)
        return DBMGMT_OK; /* the whole file is vacuumed at the end */
    dm_buf sql = {0};
    dm_buf_puts(&sql, e == DBMGMT_ENGINE_POSTGRES ? "VACUUM FULL " : "ALTER TABLE ");
    conn->drv->quote_ident(&sql, table);
    if (e == DBMGMT_ENGINE_MYSQL)
        dm_buf_puts(&sql, " FORCE");
    int rc = dm_buf_failed(&sql) ? dm_error_set(&s->err, DBMGMT_ERR_NOMEM, "out of memory")
                                 : run_sql(s, conn, sql.data, "the rewrite", table);
    dm_buf_free(&sql);
    return rc;
}

/* The masked columns of t (rules other than keep) and its primary key. */
static int table_plan(dbmgmt_snapshot *s, const dm_cat_table *t, dm_snap_col *cols,
                      size_t *ncols, const char **pk, size_t *npk)
{
    *ncols = *npk = 0;
    for (size_t c = 0; c < t->ncolumns; c++) {
        const dm_cat_column *col = &t->columns[c];
        if (col->pk_position > 0 && (size_t)col->pk_position <= t->ncolumns) {
            pk[col->pk_position - 1] = col->name;
            (*npk)++;
        }
        const dm_snap_rule *r = dm_snap_rules_find(&s->rules, t->name, col->name);
        if (!r || r->kind == DM_SNAP_KEEP)
            continue;
        if (col->pk_position > 0)
            return dm_error_set(&s->err, DBMGMT_ERR_POLICY,
                                "%s:%d: %s.%s is in the table's primary key: only keep is "
                                "allowed there", s->rules.file, r->line, t->name, col->name);
        if (r->kind == DM_SNAP_NULL && !col->nullable)
            return dm_error_set(&s->err, DBMGMT_ERR_POLICY,
                                "%s:%d: %s.%s is NOT NULL: the null rule cannot apply",
                                s->rules.file, r->line, t->name, col->name);
        dm_snap_col *m = &cols[(*ncols)++];
        m->name = col->name;
        m->kind = r->kind;
        dm_snap_classify(col->type, m);
        if (r->kind == DM_SNAP_NULL)
            continue;
        char why[128];
        if (dm_snap_value(m, (const unsigned char *)"k", 1, "x", why, sizeof why) != 0)
            return dm_error_set(&s->err, DBMGMT_ERR_POLICY, "%s:%d: %s.%s (%s): %s",
                                s->rules.file, r->line, t->name, col->name, col->type, why);
    }
    if (*ncols && !*npk)
        return dm_error_set(&s->err, DBMGMT_ERR_POLICY,
                            "table %s has masked columns and no primary key: masking is "
                            "by key, add one or use keep", t->name);
    return DBMGMT_OK;
}

static int mask_all(dbmgmt_snapshot *s, dbmgmt_conn *conn, const dm_catalog *cat)
{
    int rc = DBMGMT_OK;
    for (size_t k = 0; rc == DBMGMT_OK && k < cat->ntables; k++) {
        const dm_cat_table *t = &cat->tables[k];
        dm_snap_col *cols = dm_calloc(t->ncolumns ? t->ncolumns : 1, sizeof *cols);
        const char **pk = dm_calloc(t->ncolumns ? t->ncolumns : 1, sizeof *pk);
        size_t ncols = 0, npk = 0;
        dm_snap_table_result *res = NULL;
        if (!cols || !pk)
            rc = dm_error_set(&s->err, DBMGMT_ERR_NOMEM, "out of memory");
        if (rc == DBMGMT_OK)
            rc = table_plan(s, t, cols, &ncols, pk, &npk);
        if (rc == DBMGMT_OK)
            rc = add_result(s, t->name, &res);
        if (rc == DBMGMT_OK && ncols) {
            res->columns = (int64_t)ncols;
            rc = dm_snap_mask_table(s, conn, t->name, pk, npk, cols, ncols, res);
            if (rc == DBMGMT_OK)
                rc = rewrite_table(s, conn, t->name);
        }
        dm_free(cols);
        dm_free(pk);
    }
    return rc;
}

/* PostgreSQL: the schema read and masked is the connection's current one; a
 * table in another schema could hold personal data nobody checked, so it
 * refuses the snapshot, every such table named. */
static int pg_refuse_other_schemas(dbmgmt_snapshot *s, dbmgmt_conn *conn)
{
    dbmgmt_result *r = NULL;
    int rc = dbmgmt_conn_query(conn, &r,
                               "SELECT n.nspname || '.' || c.relname FROM pg_class c JOIN "
                               "pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind IN "
                               "('r', 'p') AND n.nspname NOT IN ('pg_catalog', "
                               "'information_schema') AND n.nspname NOT LIKE 'pg_toast%' AND "
                               "n.nspname <> current_schema() ORDER BY 1",
                               0, NULL);
    if (rc != DBMGMT_OK)
        return dm_error_set(&s->err, rc, "listing the scratch database's schemas: %s",
                            dbmgmt_conn_errmsg(conn));
    dm_buf names = {0};
    size_t n = 0;
    while (dbmgmt_result_next(r) == 1)
        dm_buf_printf(&names, "%s%s", n++ ? ", " : "", dbmgmt_result_text(r, 0));
    dbmgmt_result_free(r);
    if (dm_buf_failed(&names))
        rc = dm_error_set(&s->err, DBMGMT_ERR_NOMEM, "out of memory");
    else if (n)
        rc = dm_error_set(&s->err, DBMGMT_ERR_POLICY,
                          "%zu table(s) outside the current schema, which snapshots do not "
                          "mask: %s", n, names.data);
    dm_buf_free(&names);
    return rc;
}

int dm_snap_mask_database(dbmgmt_snapshot *s, const char *dsn)
{
    dbmgmt_conn *conn = NULL;
    int rc = dbmgmt_conn_open(&conn, dsn);
    if (rc != DBMGMT_OK)
        return dm_error_set(&s->err, rc, "opening the scratch database: %s", dbmgmt_errmsg());
    dm_catalog cat = {0};
    dm_error cerr = {0};
    rc = conn->drv->catalog(conn->dc, &cat, &cerr);
    if (rc != DBMGMT_OK)
        rc = dm_error_set(&s->err, rc, "reading the scratch database's schema: %s", cerr.msg);
    else if (cat.failed)
        rc = dm_error_set(&s->err, DBMGMT_ERR_NOMEM, "out of memory reading the schema");
    if (rc == DBMGMT_OK && dbmgmt_conn_engine(conn) == DBMGMT_ENGINE_POSTGRES)
        rc = pg_refuse_other_schemas(s, conn);
    if (rc == DBMGMT_OK) {
        dm_catalog_sort(&cat);
        rc = dm_snap_rules_check(&s->rules, &cat, &s->err);
    }
    int sqlite = dbmgmt_conn_engine(conn) == DBMGMT_ENGINE_SQLITE;
    if (rc == DBMGMT_OK && sqlite)
        rc = run_sql(s, conn, "PRAGMA secure_delete = ON", "secure_delete", "(all)");
    if (rc == DBMGMT_OK)
        rc = mask_all(s, conn, &cat);
    if (rc == DBMGMT_OK && sqlite)
        rc = run_sql(s, conn, "VACUUM", "the VACUUM", "(all)");
    dm_catalog_clear(&cat);
    dbmgmt_conn_close(conn);
    return rc;
}
