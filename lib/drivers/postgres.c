/*
 * The PostgreSQL driver over libpq: connections, statements, transactions
 * and the vtable (postgres_impl.h lists the other files). `?` placeholders
 * are rewritten to $n by the SQL lexer; one-off queries run with
 * PQexecParams (one round trip),
 * prepared statements are named server-side statements. Server notices go
 * to the logger, never to stderr.
 */
#include <libpq-fe.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/sha256.h"
#include "dm_config.h"
#include "lazy.h"
#include "postgres_impl.h"
#include "sql/split.h"

dm_libpq_functions dm_libpq;

static const dm_lazy_symbol libpq_symbols[] = {
#define DM_FUNCTION_SYMBOL(name) {#name, offsetof(dm_libpq_functions, name)},
    DM_LIBPQ_FUNCTIONS(DM_FUNCTION_SYMBOL)
#undef DM_FUNCTION_SYMBOL
};

static dm_lazy_library libpq_library =
    DM_LAZY_LIBRARY_INIT(DM_LIBPQ_SONAME, "the PostgreSQL client library (libpq)", "postgres://",
                         "-Dpostgres", libpq_symbols, &dm_libpq);

#define PG_DEFAULT_CONNECT_TIMEOUT "10"
#define PG_BOOL_OID 16
#define PG_BYTEA_OID 17
#define PG_INT8_OID 20
#define PG_INT2_OID 21
#define PG_INT4_OID 23
#define PG_OID_OID 26
#define PG_FLOAT4_OID 700
#define PG_FLOAT8_OID 701

struct dm_dstmt {
    dm_dconn *conn;
    char *sql;         /* with $n placeholders */
    int32_t nparams;
    char name[32];     /* server-side name; "" for a one-shot statement */
    int simple;        /* one-shot, one statement, no parameters: the simple protocol */
    char **values;     /* bind values (owned copies; NULL = SQL NULL) */
    int *lengths;
    int *formats;      /* 1 = binary (blobs), 0 = text */
    PGresult *res;
    int row;           /* current row, -1 before the first */
    int64_t affected;
    unsigned char *blob; /* bytea of the current cell, decoded on demand */
    size_t blob_len;
    int blob_row, blob_col;
};

/* A connection is broken when libpq says so or the server ended the
 * session (class 08, admin shutdown / terminate 57P01..57P03). */
int dm_pg_is_broken(PGconn *pg, const char *sqlstate)
{
    if (dm_libpq.PQstatus(pg) == CONNECTION_BAD)
        return 1;
    return sqlstate && (strncmp(sqlstate, "08", 2) == 0 || strcmp(sqlstate, "57P01") == 0 ||
                        strcmp(sqlstate, "57P02") == 0 || strcmp(sqlstate, "57P03") == 0);
}

/* libpq messages end with a newline and may span lines: keep one line. */
static void one_line(char *s, size_t cap, const char *from)
{
    snprintf(s, cap, "%s", from ? from : "");
    size_t n = strlen(s);
    while (n && (s[n - 1] == '\n' || s[n - 1] == ' '))
        s[--n] = '\0';
    for (char *p = s; *p; p++)
        if (*p == '\n' || *p == '\t')
            *p = ' ';
}

int dm_pg_fail(dm_dconn *c, PGresult *res, dm_error *err, const char *context)
{
    const char *sqlstate = res ? dm_libpq.PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    char primary[600], detail[300];
    one_line(primary, sizeof primary,
             res && dm_libpq.PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY)
                 ? dm_libpq.PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY)
                 : dm_libpq.PQerrorMessage(c->pg));
    one_line(detail, sizeof detail, res ? dm_libpq.PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL) : NULL);
    int broken = dm_pg_is_broken(c->pg, sqlstate);
    if (!sqlstate || !*sqlstate)
        sqlstate = broken ? "08006" : "XX000";
    return dm_error_set_sql(err, broken ? DBMGMT_ERR_CLOSED : DBMGMT_ERR_SQL, sqlstate,
                            "%s%sPostgreSQL: %s (SQLSTATE %s)%s%s%s", context ? context : "",
                            context ? ": " : "", primary, sqlstate, detail[0] ? ": " : "",
                            detail, broken ? " [connection lost]" : "");
}

/* Route server notices (WARNING, NOTICE) to the host's logger. */
static void pg_notice_to_log(void *arg, const char *message)
{
    (void)arg;
    if (dm_log_enabled(DBMGMT_LOG_INFO)) {
        char line[1024];
        one_line(line, sizeof line, message);
        dm_log(strncmp(line, "WARNING", 7) == 0 ? DBMGMT_LOG_WARN : DBMGMT_LOG_INFO,
               "PostgreSQL: %s", line);
    }
}

/* One-row, one-column query with text parameters; *out (PQclear) or an error. */
int dm_pg_params(dm_dconn *c, const char *sql, int n, const char *const *values, PGresult **out,
                     dm_error *err, const char *context)
{
    PGresult *res = dm_libpq.PQexecParams(c->pg, sql, n, NULL, values, NULL, NULL, 0);
    if (dm_libpq.PQresultStatus(res) != PGRES_TUPLES_OK && dm_libpq.PQresultStatus(res) != PGRES_COMMAND_OK) {
        int rc = dm_pg_fail(c, res, err, context);
        dm_libpq.PQclear(res);
        return rc;
    }
    *out = res;
    return DBMGMT_OK;
}

static int pg_connect(const dm_dsn *dsn, dm_dconn **out, dm_error *err)
{
    int rc = dm_lazy_load(&libpq_library, err);
    if (rc != DBMGMT_OK)
        return rc;
    dm_dconn *c = dm_calloc(1, sizeof *c);
    if (!c)
        return dm_error_set(err, DBMGMT_ERR_NOMEM, "out of memory opening a PostgreSQL connection");
    /* The DSN is handed to libpq whole (it knows its own URIs and keyword
     * strings); our defaults come after it only where it has none. */
    const char *keys[4] = {"dbname", "fallback_application_name", NULL, NULL};
    const char *values[4] = {dsn->raw, "libdbmgmt", NULL, NULL};
    if (!strstr(dsn->raw, "connect_timeout")) {
        keys[2] = "connect_timeout";
        values[2] = PG_DEFAULT_CONNECT_TIMEOUT;
    }
    c->pg = dm_libpq.PQconnectdbParams(keys, values, 1);
    if (!c->pg) {
        dm_free(c);
        return dm_error_set(err, DBMGMT_ERR_NOMEM, "out of memory opening a PostgreSQL connection");
    }
    if (dm_libpq.PQstatus(c->pg) != CONNECTION_OK) {
        char msg[700];
        char *shown = dm_dsn_render_redacted(dsn);
        one_line(msg, sizeof msg, dm_libpq.PQerrorMessage(c->pg));
        dm_error_set_sql(err, DBMGMT_ERR_CONNECT, strstr(msg, "password authentication") ? "28P01" : "08001",
                         "cannot connect to PostgreSQL (%s): %s", shown ? shown : "postgres", msg);
        dm_free(shown);
        dm_libpq.PQfinish(c->pg);
        dm_free(c);
        return DBMGMT_ERR_CONNECT;
    }
    dm_libpq.PQsetNoticeProcessor(c->pg, pg_notice_to_log, NULL);
    *out = c;
    return DBMGMT_OK;
}

static void pg_close(dm_dconn *c)
{
    if (!c)
        return;
    dm_libpq.PQfinish(c->pg); /* the server rolls back an open transaction */
    dm_free(c);
}

/* Drain what is left of a command's results, so the connection is ready. */
static void pg_drain(dm_dconn *c)
{
    PGresult *res;
    while ((res = dm_libpq.PQgetResult(c->pg)) != NULL)
        dm_libpq.PQclear(res);
}

/* Run a statement without parameters; OK for commands and row results. */
int dm_pg_simple(dm_dconn *c, const char *sql, dm_error *err, const char *context)
{
    PGresult *res = dm_libpq.PQexec(c->pg, sql);
    ExecStatusType st = dm_libpq.PQresultStatus(res);
    int rc = DBMGMT_OK;
    if (st == PGRES_COPY_IN) { /* COPY FROM STDIN needs its data: end it */
        dm_libpq.PQputCopyEnd(c->pg, "COPY FROM STDIN data must be sent with the statement");
        dm_libpq.PQclear(res);
        res = dm_libpq.PQgetResult(c->pg);
        st = dm_libpq.PQresultStatus(res);
    }
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK && st != PGRES_EMPTY_QUERY)
        rc = dm_pg_fail(c, res, err, context);
    dm_libpq.PQclear(res);
    pg_drain(c);
    return rc;
}

static int pg_exec(dm_dconn *c, const char *sql, dm_error *err)
{
    return dm_pg_simple(c, sql, err, NULL);
}

/* COPY ... FROM STDIN with its data block (as pg_dump writes it in plain
 * format): the rows go in pieces of at most 1 MB, then the end of data;
 * the server's verdict (a bad row names its line) comes with the end. */
static int pg_exec_copy(dm_dconn *c, const char *command, const char *data, size_t len,
                        dm_error *err)
{
    PGresult *res = dm_libpq.PQexec(c->pg, command);
    ExecStatusType st = dm_libpq.PQresultStatus(res);
    if (st != PGRES_COPY_IN) {
        int rc = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK
                     ? dm_error_set_sql(err, DBMGMT_ERR_SQL, "42601",
                                        "a data block follows a statement that did not start a "
                                        "COPY FROM STDIN")
                     : dm_pg_fail(c, res, err, NULL);
        dm_libpq.PQclear(res);
        pg_drain(c);
        return rc;
    }
    dm_libpq.PQclear(res);
    const size_t piece = (size_t)1 << 20;
    int sent = 1;
    for (size_t at = 0; sent == 1 && at < len; at += piece) {
        size_t n = len - at < piece ? len - at : piece;
        sent = dm_libpq.PQputCopyData(c->pg, data + at, (int)n);
    }
    if (sent == 1)
        sent = dm_libpq.PQputCopyEnd(c->pg, NULL);
    int rc = DBMGMT_OK;
    res = dm_libpq.PQgetResult(c->pg);
    if (sent != 1 || dm_libpq.PQresultStatus(res) != PGRES_COMMAND_OK) {
        rc = dm_pg_fail(c, res, err, NULL);
        /* the server's context says which row: "COPY t, line 2, column id: ..." */
        const char *where = res ? dm_libpq.PQresultErrorField(res, PG_DIAG_CONTEXT) : NULL;
        size_t used = strlen(err->msg);
        if (where && used + 4 < sizeof err->msg) {
            char line[300];
            one_line(line, sizeof line, where);
            snprintf(err->msg + used, sizeof err->msg - used, " [%s]", line);
        }
    }
    dm_libpq.PQclear(res);
    pg_drain(c);
    return rc;
}

static void pg_clear_result(dm_dstmt *s)
{
    dm_libpq.PQclear(s->res);
    s->res = NULL;
    s->row = -1;
    if (s->blob)
        dm_libpq.PQfreemem(s->blob);
    s->blob = NULL;
}

static int pg_prepare(dm_dconn *c, const char *sql, int one_shot, dm_dstmt **out, dm_error *err)
{
    dm_dstmt *s = dm_calloc(1, sizeof *s);
    if (!s)
        return dm_error_set(err, DBMGMT_ERR_NOMEM, "out of memory preparing a statement");
    s->conn = c;
    s->row = -1;
    int single = 0;
    int rc = dm_sql_rewrite_placeholders_single(sql, strlen(sql), &s->sql, &s->nparams, &single,
                                                err);
    if (rc != DBMGMT_OK)
        goto fail;
    /* One message (Query) instead of Parse, Bind, Describe, Execute and Sync:
     * the same round trip, less work on the server - what a pooled SELECT 1
     * costs (issue 23). Only for one statement: the simple protocol would run
     * every statement of a string, which PQexecParams refuses. */
    s->simple = one_shot && s->nparams == 0 && single;
    size_t n = (size_t)s->nparams;
    if (n) {
        s->values = dm_calloc(n, sizeof *s->values);
        s->lengths = dm_calloc(n, sizeof *s->lengths);
        s->formats = dm_calloc(n, sizeof *s->formats);
        if (!s->values || !s->lengths || !s->formats) {
            rc = dm_error_set(err, DBMGMT_ERR_NOMEM, "out of memory preparing a statement");
            goto fail;
        }
    }
    if (!one_shot) {
        snprintf(s->name, sizeof s->name, "dbmgmt_s%u", ++c->next_statement_id);
        PGresult *res = dm_libpq.PQprepare(c->pg, s->name, s->sql, 0, NULL);
        if (dm_libpq.PQresultStatus(res) != PGRES_COMMAND_OK) {
            rc = dm_pg_fail(c, res, err, NULL);
            dm_libpq.PQclear(res);
            s->name[0] = '\0';
            goto fail;
        }
        dm_libpq.PQclear(res);
    }
    *out = s;
    return DBMGMT_OK;
fail:
    dm_free(s->values);
    dm_free(s->lengths);
    dm_free(s->formats);
    dm_free(s->sql);
    dm_free(s);
    return rc;
}

static int32_t pg_param_count(const dm_dstmt *s)
{
    return s->nparams;
}

/* Text form of a double that PostgreSQL parses back exactly. */
static void format_double(char *out, size_t cap, double d)
{
    if (isnan(d))
        snprintf(out, cap, "NaN");
    else if (isinf(d))
        snprintf(out, cap, d > 0 ? "Infinity" : "-Infinity");
    else
        snprintf(out, cap, "%.17g", d);
}

static int pg_bind(dm_dstmt *s, int32_t index, const dm_value *v, dm_error *err)
{
    size_t i = (size_t)index - 1;
    char number[40];
    const void *bytes = NULL;
    size_t len = 0;
    switch (v->type) {
    case DM_VALUE_NULL: break;
    case DM_VALUE_INT64:
        snprintf(number, sizeof number, "%lld", (long long)v->i);
        bytes = number;
        len = strlen(number);
        break;
    case DM_VALUE_DOUBLE:
        format_double(number, sizeof number, v->d);
        bytes = number;
        len = strlen(number);
        break;
    default:
        bytes = v->bytes ? v->bytes : "";
        len = v->len;
    }
    if (len > 0x7fffffff)
        return dm_error_set(err, DBMGMT_ERR_INVALID, "parameter %d is larger than 2 GiB",
                            (int)index);
    char *copy = NULL;
    if (v->type != DM_VALUE_NULL) {
        copy = dm_strndup(bytes, len);
        if (!copy)
            return dm_error_set(err, DBMGMT_ERR_NOMEM, "out of memory binding parameter %d",
                                (int)index);
    }
    dm_free(s->values[i]);
    s->values[i] = copy;
    s->lengths[i] = (int)len;
    s->formats[i] = v->type == DM_VALUE_BLOB;
    return DBMGMT_OK;
}

static int pg_execute(dm_dstmt *s, dm_error *err)
{
    pg_clear_result(s);
    s->affected = 0;
    const char *const *values = (const char *const *)s->values;
    PGresult *res =
        s->simple    ? dm_libpq.PQexec(s->conn->pg, s->sql)
        : s->name[0] ? dm_libpq.PQexecPrepared(s->conn->pg, s->name, s->nparams, values,
                                               s->lengths, s->formats, 0)
                     : dm_libpq.PQexecParams(s->conn->pg, s->sql, s->nparams, NULL, values,
                                             s->lengths, s->formats, 0);
    ExecStatusType st = dm_libpq.PQresultStatus(res);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        int rc = dm_pg_fail(s->conn, res, err, NULL);
        dm_libpq.PQclear(res);
        return rc;
    }
    s->res = res;
    const char *tuples = dm_libpq.PQcmdTuples(res);
    s->affected = (st == PGRES_COMMAND_OK && tuples && *tuples) ? strtoll(tuples, NULL, 10) : 0;
    return DBMGMT_OK;
}

static int pg_next(dm_dstmt *s, dm_error *err)
{
    (void)err;
    if (!s->res || s->row + 1 >= dm_libpq.PQntuples(s->res)) {
        if (s->res)
            s->row = dm_libpq.PQntuples(s->res);
        return 0;
    }
    s->row++;
    return 1;
}

static int32_t pg_column_count(const dm_dstmt *s)
{
    return s->res ? dm_libpq.PQnfields(s->res) : 0;
}

static const char *pg_column_name(const dm_dstmt *s, int32_t col)
{
    return s->res ? dm_libpq.PQfname(s->res, col) : NULL;
}

static int pg_column_is_null(dm_dstmt *s, int32_t col)
{
    return dm_libpq.PQgetisnull(s->res, s->row, col);
}

static const char *pg_column_text(dm_dstmt *s, int32_t col)
{
    return dm_libpq.PQgetvalue(s->res, s->row, col);
}

static const void *pg_column_blob(dm_dstmt *s, int32_t col, size_t *len)
{
    if (dm_libpq.PQgetisnull(s->res, s->row, col)) {
        *len = 0;
        return NULL;
    }
    if (dm_libpq.PQftype(s->res, col) != PG_BYTEA_OID) {
        *len = (size_t)dm_libpq.PQgetlength(s->res, s->row, col);
        return dm_libpq.PQgetvalue(s->res, s->row, col);
    }
    if (!s->blob || s->blob_row != s->row || s->blob_col != col) {
        if (s->blob)
            dm_libpq.PQfreemem(s->blob);
        s->blob = dm_libpq.PQunescapeBytea((const unsigned char *)dm_libpq.PQgetvalue(s->res, s->row, col),
                                  &s->blob_len);
        s->blob_row = s->row;
        s->blob_col = col;
        if (!s->blob) {
            *len = 0;
            return NULL;
        }
    }
    *len = s->blob_len;
    return s->blob;
}

static int64_t pg_column_int64(dm_dstmt *s, int32_t col)
{
    const char *v = dm_libpq.PQgetvalue(s->res, s->row, col);
    if (dm_libpq.PQftype(s->res, col) == PG_BOOL_OID)
        return v[0] == 't';
    return strtoll(v, NULL, 10);
}

static double pg_column_double(dm_dstmt *s, int32_t col)
{
    return strtod(dm_libpq.PQgetvalue(s->res, s->row, col), NULL);
}

static dm_value_type pg_column_type(dm_dstmt *s, int32_t col)
{
    switch (dm_libpq.PQftype(s->res, col)) {
    case PG_BOOL_OID:
    case PG_INT8_OID:
    case PG_INT2_OID:
    case PG_INT4_OID:
    case PG_OID_OID:
        return DM_VALUE_INT64;
    case PG_FLOAT4_OID:
    case PG_FLOAT8_OID:
        return DM_VALUE_DOUBLE;
    case PG_BYTEA_OID:
        return DM_VALUE_BLOB;
    default:
        return DM_VALUE_TEXT;
    }
}

static int64_t pg_affected_rows(const dm_dstmt *s)
{
    return s->affected;
}

static void pg_reset(dm_dstmt *s)
{
    pg_clear_result(s);
}

static void pg_finalize(dm_dstmt *s)
{
    if (!s)
        return;
    pg_clear_result(s);
    if (s->name[0] && dm_libpq.PQstatus(s->conn->pg) == CONNECTION_OK) {
        char sql[64];
        snprintf(sql, sizeof sql, "DEALLOCATE %s", s->name);
        dm_libpq.PQclear(dm_libpq.PQexec(s->conn->pg, sql));
    }
    for (int32_t i = 0; i < s->nparams; i++)
        dm_free(s->values[i]);
    dm_free(s->values);
    dm_free(s->lengths);
    dm_free(s->formats);
    dm_free(s->sql);
    dm_free(s);
}

static int pg_begin(dm_dconn *c, dm_error *err)
{
    return dm_pg_simple(c, "BEGIN", err, "BEGIN");
}

static int pg_commit(dm_dconn *c, dm_error *err)
{
    return dm_pg_simple(c, "COMMIT", err, "COMMIT");
}

static int pg_rollback(dm_dconn *c, dm_error *err)
{
    return dm_pg_simple(c, "ROLLBACK", err, "ROLLBACK");
}

static int pg_in_transaction(const dm_dconn *c)
{
    PGTransactionStatusType st = dm_libpq.PQtransactionStatus(c->pg);
    return st == PQTRANS_INTRANS || st == PQTRANS_INERROR || st == PQTRANS_ACTIVE;
}

/* An empty query: a round trip that succeeds even inside a failed
 * transaction, so only a dead connection fails it. */
static int pg_ping(dm_dconn *c, dm_error *err)
{
    PGresult *res = dm_libpq.PQexec(c->pg, "");
    int ok = dm_libpq.PQresultStatus(res) == PGRES_EMPTY_QUERY;
    if (!ok)
        dm_pg_fail(c, res, err, "ping");
    dm_libpq.PQclear(res);
    if (ok)
        return DBMGMT_OK;
    err->code = DBMGMT_ERR_CLOSED;
    return DBMGMT_ERR_CLOSED;
}

static void *pg_native(dm_dconn *c)
{
    return c->pg;
}

const dm_driver dm_postgres_driver = {
    .engine = DBMGMT_ENGINE_POSTGRES,
    .name = "postgres",
    .ddl_transactional = 1,
    .connect = pg_connect,
    .close = pg_close,
    .exec = pg_exec,
    .exec_copy = pg_exec_copy,
    .prepare = pg_prepare,
    .param_count = pg_param_count,
    .bind = pg_bind,
    .execute = pg_execute,
    .next = pg_next,
    .column_count = pg_column_count,
    .column_name = pg_column_name,
    .column_is_null = pg_column_is_null,
    .column_text = pg_column_text,
    .column_blob = pg_column_blob,
    .column_int64 = pg_column_int64,
    .column_double = pg_column_double,
    .column_type = pg_column_type,
    .affected_rows = pg_affected_rows,
    .reset = pg_reset,
    .finalize = pg_finalize,
    .begin = pg_begin,
    .commit = pg_commit,
    .rollback = pg_rollback,
    .in_transaction = pg_in_transaction,
    .ping = pg_ping,
    .native = pg_native,
    .lock = dm_pg_lock,
    .unlock = dm_pg_unlock,
    .migration_lock = dm_pg_migration_lock,
    .migration_unlock = dm_pg_migration_unlock,
    .standby_reason = dm_pg_standby_reason,
    .settings_transactional = 1,
    .catalog = dm_pg_catalog,
    .table_exists = dm_pg_table_exists,
    .session_save = dm_pg_session_save,
    .session_schema = dm_pg_session_schema,
    .session_restore = dm_pg_session_restore,
    .quote_ident = dm_quote_ident_standard,
    .whatif_open = dm_pg_whatif_open,
    .whatif_index = dm_pg_whatif_index,
    .whatif_explain = dm_pg_whatif_explain,
    .whatif_close = dm_pg_whatif_close,
    .column_distinct = dm_pg_column_distinct,
    .workload = dm_pg_workload,
    .repl_state = dm_pg_repl_state,
#if DM_HAVE_HEALTH /* -Dhealth=false leaves lib/health and its callers out */
    .health = dm_pg_health,
#endif
    .position_diff = dm_pg_position_diff,
    .wait_position = dm_pg_wait_position,
};
