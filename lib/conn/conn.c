/* The public connection API: argument checks, then the engine's driver. */
#include "conn.h"

#include <string.h>

#include "core/alloc.h"
#include "core/log.h"
#include "sql/split.h"

/* A failure's message must not carry the DSN's password even when the
 * engine quotes it back: scrub it on the connection and the thread. */
static int conn_failed(dbmgmt_conn *conn, int rc)
{
    if (rc == DBMGMT_ERR_CLOSED)
        conn->broken = 1; /* drivers report a lost session this way; the pool discards it */
    else if (rc < 0 && strcmp(conn->err.sqlstate, "25006") == 0)
        conn->read_only_seen = 1; /* a write on a server that turned standby (failover) */
    if (rc < 0 && conn->dsn->password && strstr(conn->err.msg, conn->dsn->password)) {
        dm_redact_secret(conn->err.msg, sizeof conn->err.msg, conn->dsn->password);
        dm_error_copy(NULL, &conn->err);
    }
    return rc;
}

int dm_conn_failed(dbmgmt_conn *conn, int rc)
{
    return conn_failed(conn, rc);
}

#define CHECK_ARG(cond, fn, what)                                                                 \
    do {                                                                                          \
        if (!(cond))                                                                              \
            return dm_error_invalid(fn, what);                                                    \
    } while (0)

DBMGMT_API int dbmgmt_conn_open(dbmgmt_conn **out, const char *dsn)
{
    CHECK_ARG(out, "dbmgmt_conn_open", "out is NULL");
    *out = NULL;
    dm_dsn *parsed = NULL;
    int rc = dm_dsn_parse(dsn, &parsed, NULL);
    if (rc != DBMGMT_OK)
        return rc;
    const dm_driver *drv = dm_driver_for(parsed->engine, NULL);
    if (!drv) {
        dm_dsn_free(parsed);
        return dbmgmt_errcode();
    }
    dbmgmt_conn *conn = dm_calloc(1, sizeof *conn);
    if (!conn) {
        dm_dsn_free(parsed);
        return dm_error_set(NULL, DBMGMT_ERR_NOMEM, "out of memory opening a connection");
    }
    conn->drv = drv;
    conn->dsn = parsed;
    rc = drv->connect(parsed, &conn->dc, &conn->err);
    if (rc != DBMGMT_OK) {
        conn_failed(conn, rc);
        dm_error_copy(NULL, &conn->err);
        dm_dsn_free(parsed);
        dm_free(conn);
        return rc;
    }
    if (dm_log_enabled(DBMGMT_LOG_DEBUG)) {
        char *shown = dm_dsn_render_redacted(parsed);
        dm_log(DBMGMT_LOG_DEBUG, "connected to %s", shown ? shown : drv->name);
        dm_free(shown);
    }
    *out = conn;
    return DBMGMT_OK;
}

DBMGMT_API void dbmgmt_conn_close(dbmgmt_conn *conn)
{
    if (!conn)
        return;
    if (conn->pool_return) { /* a pooled connection goes back to its pool */
        conn->pool_return(conn);
        return;
    }
    conn->drv->close(conn->dc);
    dm_dsn_free(conn->dsn);
    dm_free(conn);
}

DBMGMT_API dbmgmt_engine dbmgmt_conn_engine(const dbmgmt_conn *conn)
{
    return conn ? conn->drv->engine : DBMGMT_ENGINE_NONE;
}

/* One statement of a split script, with its COPY data block if it has one. */
static int exec_split(dbmgmt_conn *conn, const dm_sql_stmt *st)
{
    if (st->command_len >= st->len) /* an ordinary statement */
        return conn->drv->exec(conn->dc, st->text, &conn->err);
    /* COPY ... FROM stdin: the command, then its data block */
    if (!conn->drv->exec_copy)
        return dm_error_set(&conn->err, DBMGMT_ERR_UNSUPPORTED,
                            "COPY ... FROM stdin data blocks are PostgreSQL's");
    char *command = dm_strndup(st->text, st->command_len);
    if (!command)
        return dm_conn_fail(conn, DBMGMT_ERR_NOMEM, "out of memory running a script");
    int rc = conn->drv->exec_copy(conn->dc, command, st->text + st->data_offset, st->data_len,
                                  &conn->err);
    dm_free(command);
    return rc;
}

/* Run one statement of a split script; a failure names its number and line. */
static int exec_statement(dbmgmt_conn *conn, const dm_sql_stmt *st, size_t number)
{
    int rc = exec_split(conn, st);
    if (rc != DBMGMT_OK) {
        dm_error failed = conn->err;
        dm_error_set_sql(&conn->err, failed.code, failed.sqlstate, "statement %zu (line %d): %s",
                         number, (int)st->line, failed.msg);
    }
    return rc;
}

int dm_conn_exec_statement(dbmgmt_conn *conn, const char *sql)
{
    dm_error_reset(&conn->err);
    return conn_failed(conn, conn->drv->exec(conn->dc, sql, &conn->err));
}

int dm_conn_exec_split(dbmgmt_conn *conn, const dm_sql_stmt *st)
{
    dm_error_reset(&conn->err);
    return conn_failed(conn, exec_split(conn, st));
}

int dm_conn_exec_followed(dbmgmt_conn *conn, const dm_sql_stmt *st, const char *follow)
{
    dm_error_reset(&conn->err);
    if (conn->drv->exec_followed && st->command_len >= st->len)
        return conn_failed(conn,
                           conn->drv->exec_followed(conn->dc, st->text, follow, &conn->err));
    int rc = exec_split(conn, st);
    if (rc == DBMGMT_OK)
        rc = conn->drv->exec(conn->dc, follow, &conn->err);
    return conn_failed(conn, rc);
}

int dm_conn_exec_followed_end(dbmgmt_conn *conn)
{
    dm_error_reset(&conn->err);
    if (!conn->drv->exec_followed_end)
        return DBMGMT_OK;
    return conn_failed(conn, conn->drv->exec_followed_end(conn->dc, &conn->err));
}

DBMGMT_API int dbmgmt_conn_exec(dbmgmt_conn *conn, const char *sql_script)
{
    CHECK_ARG(conn, "dbmgmt_conn_exec", "conn is NULL");
    CHECK_ARG(sql_script, "dbmgmt_conn_exec", "sql_script is NULL");
    dm_error_reset(&conn->err);
    if (conn->drv->exec_takes_scripts)
        return conn_failed(conn, conn->drv->exec(conn->dc, sql_script, &conn->err));
    dbmgmt_statements *list = NULL;
    int rc = dm_sql_split(conn->drv->engine, sql_script, strlen(sql_script), NULL, &list,
                          &conn->err);
    if (rc != DBMGMT_OK)
        return conn_failed(conn, rc);
    size_t count = dbmgmt_statements_count(list);
    for (size_t i = 0; i < count && rc == DBMGMT_OK; i++)
        rc = exec_statement(conn, dm_sql_statement_at(list, i), i + 1);
    dbmgmt_statements_free(list);
    return conn_failed(conn, rc);
}

static int conn_prepare(dbmgmt_conn *conn, dbmgmt_stmt **out, const char *sql, int one_shot)
{
    dm_error_reset(&conn->err);
    dbmgmt_stmt *stmt = dm_calloc(1, sizeof *stmt);
    if (!stmt)
        return dm_conn_fail(conn, DBMGMT_ERR_NOMEM, "out of memory preparing a statement");
    int rc = conn->drv->prepare(conn->dc, sql, one_shot, &stmt->ds, &conn->err);
    if (rc != DBMGMT_OK) {
        dm_free(stmt);
        return conn_failed(conn, rc);
    }
    stmt->conn = conn;
    *out = stmt;
    return DBMGMT_OK;
}

DBMGMT_API int dbmgmt_conn_prepare(dbmgmt_conn *conn, dbmgmt_stmt **out, const char *sql)
{
    CHECK_ARG(out, "dbmgmt_conn_prepare", "out is NULL");
    *out = NULL;
    CHECK_ARG(conn, "dbmgmt_conn_prepare", "conn is NULL");
    CHECK_ARG(sql, "dbmgmt_conn_prepare", "sql is NULL");
    return conn_prepare(conn, out, sql, 0);
}

DBMGMT_API int32_t dbmgmt_stmt_param_count(const dbmgmt_stmt *stmt)
{
    return stmt ? stmt->conn->drv->param_count(stmt->ds) : 0;
}

static int stmt_bind(dbmgmt_stmt *stmt, const char *fn, int32_t index, const dm_value *v)
{
    CHECK_ARG(stmt, fn, "stmt is NULL");
    dbmgmt_conn *conn = stmt->conn;
    dm_error_reset(&conn->err);
    int32_t count = conn->drv->param_count(stmt->ds);
    if (index < 1 || index > count)
        return dm_conn_fail(conn, DBMGMT_ERR_INVALID,
                            "%s: parameter index %d is out of range (the statement has %d "
                            "placeholder%s; indexes start at 1)", fn, (int)index, (int)count,
                            count == 1 ? "" : "s");
    if (stmt->active)
        return dm_conn_fail(conn, DBMGMT_ERR_BUSY,
                            "%s: the statement's result is still open; free it before binding",
                            fn);
    return conn_failed(conn, conn->drv->bind(stmt->ds, index, v, &conn->err));
}

DBMGMT_API int dbmgmt_stmt_bind_null(dbmgmt_stmt *stmt, int32_t index)
{
    dm_value v = {.type = DM_VALUE_NULL};
    return stmt_bind(stmt, "dbmgmt_stmt_bind_null", index, &v);
}

DBMGMT_API int dbmgmt_stmt_bind_int64(dbmgmt_stmt *stmt, int32_t index, int64_t value)
{
    dm_value v = {.type = DM_VALUE_INT64, .i = value};
    return stmt_bind(stmt, "dbmgmt_stmt_bind_int64", index, &v);
}

DBMGMT_API int dbmgmt_stmt_bind_double(dbmgmt_stmt *stmt, int32_t index, double value)
{
    dm_value v = {.type = DM_VALUE_DOUBLE, .d = value};
    return stmt_bind(stmt, "dbmgmt_stmt_bind_double", index, &v);
}

DBMGMT_API int dbmgmt_stmt_bind_text(dbmgmt_stmt *stmt, int32_t index, const char *utf8)
{
    dm_value v = {.type = utf8 ? DM_VALUE_TEXT : DM_VALUE_NULL,
                  .bytes = utf8,
                  .len = utf8 ? strlen(utf8) : 0};
    return stmt_bind(stmt, "dbmgmt_stmt_bind_text", index, &v);
}

DBMGMT_API int dbmgmt_stmt_bind_blob(dbmgmt_stmt *stmt, int32_t index, const void *data,
                                     size_t len)
{
    if (!data && len)
        return dm_error_invalid("dbmgmt_stmt_bind_blob", "data is NULL but len is not 0");
    dm_value v = {.type = DM_VALUE_BLOB, .bytes = data, .len = len};
    return stmt_bind(stmt, "dbmgmt_stmt_bind_blob", index, &v);
}

/* Run the statement; with out, hand back a result reading its rows. */
static int stmt_run(dbmgmt_stmt *stmt, dbmgmt_result **out, int owns_stmt)
{
    dbmgmt_conn *conn = stmt->conn;
    dbmgmt_result *result = NULL;
    if (out) {
        result = dm_calloc(1, sizeof *result);
        if (!result)
            return dm_conn_fail(conn, DBMGMT_ERR_NOMEM, "out of memory creating a result");
    }
    int rc = conn->drv->execute(stmt->ds, &conn->err);
    if (rc != DBMGMT_OK) {
        dm_free(result);
        return conn_failed(conn, rc);
    }
    if (!out) {
        while ((rc = conn->drv->next(stmt->ds, &conn->err)) == 1)
            ;
        conn->drv->reset(stmt->ds);
        return rc < 0 ? conn_failed(conn, rc) : DBMGMT_OK;
    }
    result->conn = conn;
    result->stmt = stmt;
    result->owns_stmt = owns_stmt;
    stmt->active = result;
    *out = result;
    return DBMGMT_OK;
}

DBMGMT_API int dbmgmt_stmt_execute(dbmgmt_stmt *stmt, dbmgmt_result **out_or_null)
{
    if (out_or_null)
        *out_or_null = NULL;
    CHECK_ARG(stmt, "dbmgmt_stmt_execute", "stmt is NULL");
    dm_error_reset(&stmt->conn->err);
    if (stmt->active)
        return dm_conn_fail(stmt->conn, DBMGMT_ERR_BUSY,
                            "dbmgmt_stmt_execute: the previous result of this statement is "
                            "still open; free it first");
    return stmt_run(stmt, out_or_null, 0);
}

DBMGMT_API void dbmgmt_stmt_free(dbmgmt_stmt *stmt)
{
    if (!stmt)
        return;
    if (stmt->active) /* a result outliving its statement would dangle */
        stmt->active->stmt = NULL;
    stmt->conn->drv->finalize(stmt->ds);
    dm_free(stmt);
}

DBMGMT_API int dbmgmt_conn_query(dbmgmt_conn *conn, dbmgmt_result **out, const char *sql,
                                 size_t nparams, const char *const *params)
{
    CHECK_ARG(out, "dbmgmt_conn_query", "out is NULL");
    *out = NULL;
    CHECK_ARG(conn, "dbmgmt_conn_query", "conn is NULL");
    CHECK_ARG(sql, "dbmgmt_conn_query", "sql is NULL");
    CHECK_ARG(nparams == 0 || params, "dbmgmt_conn_query", "params is NULL but nparams is not 0");
    dbmgmt_stmt *stmt = NULL;
    int rc = conn_prepare(conn, &stmt, sql, 1);
    if (rc != DBMGMT_OK)
        return rc;
    int32_t count = conn->drv->param_count(stmt->ds);
    if ((size_t)count != nparams) {
        rc = dm_conn_fail(conn, DBMGMT_ERR_INVALID,
                          "dbmgmt_conn_query: the statement has %d placeholder%s but %zu "
                          "parameter%s were given", (int)count, count == 1 ? "" : "s", nparams,
                          nparams == 1 ? "" : "s");
        goto fail;
    }
    for (size_t i = 0; i < nparams; i++) {
        rc = dbmgmt_stmt_bind_text(stmt, (int32_t)(i + 1), params[i]);
        if (rc != DBMGMT_OK)
            goto fail;
    }
    rc = stmt_run(stmt, out, 1);
    if (rc != DBMGMT_OK)
        goto fail;
    return DBMGMT_OK;
fail:
    dbmgmt_stmt_free(stmt);
    return rc;
}

DBMGMT_API int dbmgmt_result_next(dbmgmt_result *result)
{
    CHECK_ARG(result, "dbmgmt_result_next", "result is NULL");
    if (!result->stmt)
        return dm_error_set(&result->conn->err, DBMGMT_ERR_CLOSED,
                            "dbmgmt_result_next: the statement of this result was freed");
    int rc = result->conn->drv->next(result->stmt->ds, &result->conn->err);
    result->on_row = rc == 1;
    return rc < 0 ? conn_failed(result->conn, rc) : rc;
}

/* The driver statement when col names a column of a current row, else NULL. */
static dm_dstmt *result_row_column(const dbmgmt_result *r, int32_t col)
{
    if (!r || !r->stmt || !r->on_row || col < 0 ||
        col >= r->conn->drv->column_count(r->stmt->ds))
        return NULL;
    return r->stmt->ds;
}

DBMGMT_API int32_t dbmgmt_result_column_count(const dbmgmt_result *result)
{
    if (!result || !result->stmt)
        return 0;
    return result->conn->drv->column_count(result->stmt->ds);
}

DBMGMT_API const char *dbmgmt_result_column_name(const dbmgmt_result *result, int32_t col)
{
    if (!result || !result->stmt || col < 0 || col >= dbmgmt_result_column_count(result))
        return NULL;
    return result->conn->drv->column_name(result->stmt->ds, col);
}

DBMGMT_API int dbmgmt_result_is_null(const dbmgmt_result *result, int32_t col)
{
    dm_dstmt *ds = result_row_column(result, col);
    return ds ? result->conn->drv->column_is_null(ds, col) : 1;
}

DBMGMT_API const char *dbmgmt_result_text(dbmgmt_result *result, int32_t col)
{
    dm_dstmt *ds = result_row_column(result, col);
    if (!ds || result->conn->drv->column_is_null(ds, col))
        return NULL;
    return result->conn->drv->column_text(ds, col);
}

DBMGMT_API int64_t dbmgmt_result_int64(dbmgmt_result *result, int32_t col)
{
    dm_dstmt *ds = result_row_column(result, col);
    return ds ? result->conn->drv->column_int64(ds, col) : 0;
}

DBMGMT_API double dbmgmt_result_double(dbmgmt_result *result, int32_t col)
{
    dm_dstmt *ds = result_row_column(result, col);
    return ds ? result->conn->drv->column_double(ds, col) : 0.0;
}

DBMGMT_API const void *dbmgmt_result_blob(dbmgmt_result *result, int32_t col, size_t *len)
{
    size_t ignored;
    if (!len)
        len = &ignored;
    *len = 0;
    dm_dstmt *ds = result_row_column(result, col);
    return ds ? result->conn->drv->column_blob(ds, col, len) : NULL;
}

DBMGMT_API int32_t dbmgmt_result_column_type(dbmgmt_result *result, int32_t col)
{
    dm_dstmt *ds = result_row_column(result, col);
    if (!ds)
        return dm_error_invalid("dbmgmt_result_column_type",
                                "result is NULL, the column index is out of range or no row is current");
    if (result->conn->drv->column_is_null(ds, col))
        return DBMGMT_TYPE_NULL;
    switch (result->conn->drv->column_type(ds, col)) {
    case DM_VALUE_INT64:
        return DBMGMT_TYPE_INT64;
    case DM_VALUE_DOUBLE:
        return DBMGMT_TYPE_DOUBLE;
    case DM_VALUE_BLOB:
        return DBMGMT_TYPE_BLOB;
    case DM_VALUE_NULL: /* drivers never say so for a non-NULL value */
    case DM_VALUE_TEXT:
        break;
    }
    return DBMGMT_TYPE_TEXT;
}

DBMGMT_API int64_t dbmgmt_result_affected_rows(const dbmgmt_result *result)
{
    if (!result || !result->stmt)
        return 0;
    return result->conn->drv->affected_rows(result->stmt->ds);
}

DBMGMT_API void dbmgmt_result_free(dbmgmt_result *result)
{
    if (!result)
        return;
    dbmgmt_stmt *stmt = result->stmt;
    if (stmt) {
        result->conn->drv->reset(stmt->ds);
        stmt->active = NULL;
        if (result->owns_stmt)
            dbmgmt_stmt_free(stmt);
    }
    dm_free(result);
}

DBMGMT_API int dbmgmt_conn_begin(dbmgmt_conn *conn)
{
    CHECK_ARG(conn, "dbmgmt_conn_begin", "conn is NULL");
    dm_error_reset(&conn->err);
    if (conn->drv->in_transaction(conn->dc))
        return dm_conn_fail(conn, DBMGMT_ERR_BUSY,
                            "dbmgmt_conn_begin: a transaction is already open on this connection");
    return conn_failed(conn, conn->drv->begin(conn->dc, &conn->err));
}

DBMGMT_API int dbmgmt_conn_commit(dbmgmt_conn *conn)
{
    CHECK_ARG(conn, "dbmgmt_conn_commit", "conn is NULL");
    dm_error_reset(&conn->err);
    return conn_failed(conn, conn->drv->commit(conn->dc, &conn->err));
}

DBMGMT_API int dbmgmt_conn_rollback(dbmgmt_conn *conn)
{
    CHECK_ARG(conn, "dbmgmt_conn_rollback", "conn is NULL");
    dm_error_reset(&conn->err);
    return conn_failed(conn, conn->drv->rollback(conn->dc, &conn->err));
}

DBMGMT_API int dbmgmt_conn_in_transaction(const dbmgmt_conn *conn)
{
    CHECK_ARG(conn, "dbmgmt_conn_in_transaction", "conn is NULL");
    return conn->drv->in_transaction(conn->dc);
}

DBMGMT_API int dbmgmt_conn_ping(dbmgmt_conn *conn)
{
    CHECK_ARG(conn, "dbmgmt_conn_ping", "conn is NULL");
    dm_error_reset(&conn->err);
    return conn_failed(conn, conn->drv->ping(conn->dc, &conn->err));
}

DBMGMT_API int dbmgmt_conn_write_position(dbmgmt_conn *conn, char *buf, size_t len)
{
    CHECK_ARG(conn, "dbmgmt_conn_write_position", "conn is NULL");
    CHECK_ARG(buf && len > 0, "dbmgmt_conn_write_position", "buf is NULL or len is 0");
    buf[0] = '\0';
    dm_error_reset(&conn->err);
    if (!conn->drv->repl_state)
        return dm_error_set(&conn->err, DBMGMT_ERR_UNSUPPORTED,
                            "dbmgmt_conn_write_position: %s has no replication positions",
                            conn->drv->name);
    if (conn->drv->in_transaction(conn->dc) == 1)
        return dm_error_set(&conn->err, DBMGMT_ERR_INVALID,
                            "dbmgmt_conn_write_position: a transaction is open; the position "
                            "of a write is known after its commit");
    dm_repl_state st;
    int rc = conn_failed(conn, conn->drv->repl_state(conn->dc, &st, &conn->err));
    if (rc != DBMGMT_OK)
        return rc;
    if (st.standby)
        return dm_error_set(&conn->err, DBMGMT_ERR_INVALID,
                            "dbmgmt_conn_write_position: the server is a standby (it "
                            "replays another server's writes; writes go to the primary)");
    if (strlen(st.position) >= len)
        return dm_error_set(&conn->err, DBMGMT_ERR_INVALID,
                            "dbmgmt_conn_write_position: the position needs %zu bytes, buf "
                            "has %zu",
                            strlen(st.position) + 1, len);
    memcpy(buf, st.position, strlen(st.position) + 1);
    return DBMGMT_OK;
}

DBMGMT_API void *dbmgmt_conn_native(dbmgmt_conn *conn)
{
    return conn ? conn->drv->native(conn->dc) : NULL;
}

DBMGMT_API const char *dbmgmt_conn_errmsg(const dbmgmt_conn *conn)
{
    return conn ? conn->err.msg : "dbmgmt_conn_errmsg: conn is NULL";
}

DBMGMT_API const char *dbmgmt_conn_sqlstate(const dbmgmt_conn *conn)
{
    return conn ? conn->err.sqlstate : "";
}

DBMGMT_API int dbmgmt_conn_lock(dbmgmt_conn *conn, const char *name, int32_t timeout_ms)
{
    CHECK_ARG(conn, "dbmgmt_conn_lock", "conn is NULL");
    CHECK_ARG(name && *name, "dbmgmt_conn_lock", "name is NULL or empty");
    dm_error_reset(&conn->err);
    return conn_failed(conn, conn->drv->lock(conn->dc, name, timeout_ms, &conn->err));
}

DBMGMT_API int dbmgmt_conn_unlock(dbmgmt_conn *conn, const char *name)
{
    CHECK_ARG(conn, "dbmgmt_conn_unlock", "conn is NULL");
    CHECK_ARG(name && *name, "dbmgmt_conn_unlock", "name is NULL or empty");
    dm_error_reset(&conn->err);
    return conn_failed(conn, conn->drv->unlock(conn->dc, name, &conn->err));
}

DBMGMT_API int dbmgmt_conn_ddl_transactional(const dbmgmt_conn *conn)
{
    CHECK_ARG(conn, "dbmgmt_conn_ddl_transactional", "conn is NULL");
    return conn->drv->ddl_transactional;
}

DBMGMT_API int dbmgmt_conn_schema_json(dbmgmt_conn *conn, char **out)
{
    CHECK_ARG(out, "dbmgmt_conn_schema_json", "out is NULL");
    *out = NULL;
    CHECK_ARG(conn, "dbmgmt_conn_schema_json", "conn is NULL");
    dm_error_reset(&conn->err);
    dm_catalog cat = {0};
    int rc = conn->drv->catalog(conn->dc, &cat, &conn->err);
    if (rc == DBMGMT_OK && cat.failed)
        rc = dm_conn_fail(conn, DBMGMT_ERR_NOMEM, "out of memory reading the catalog");
    if (rc == DBMGMT_OK) {
        dm_buf b = DM_BUF_INIT;
        dm_catalog_sort(&cat);
        dm_catalog_to_json(&cat, &b);
        *out = dm_buf_detach(&b);
        if (!*out)
            rc = dm_conn_fail(conn, DBMGMT_ERR_NOMEM, "out of memory rendering the catalog");
    }
    dm_catalog_clear(&cat);
    return conn_failed(conn, rc);
}
