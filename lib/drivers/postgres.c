/*
 * The PostgreSQL driver over libpq. `?` placeholders are rewritten to $n by
 * the SQL lexer; one-off queries run with PQexecParams (one round trip),
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
#include "driver.h"
#include "lazy.h"
#include "sql/split.h"

/* The libpq functions this driver calls, through `libpq.NAME(...)`: a table
 * filled when the first postgres:// DSN is opened (lazy.h), so a process
 * that never uses PostgreSQL never loads libpq. */
#define DM_LIBPQ_FUNCTIONS(X) \
    X(PQclear) X(PQcmdTuples) X(PQconnectdbParams) X(PQerrorMessage) X(PQexec) \
    X(PQexecParams) X(PQexecPrepared) X(PQfinish) X(PQfname) X(PQfreemem) X(PQftype) \
    X(PQgetResult) X(PQgetisnull) X(PQgetlength) X(PQgetvalue) X(PQnfields) X(PQntuples) \
    X(PQprepare) X(PQputCopyData) X(PQputCopyEnd) X(PQresultErrorField) X(PQresultStatus) \
    X(PQsetNoticeProcessor) X(PQstatus) X(PQtransactionStatus) X(PQunescapeBytea)

typedef struct dm_libpq_functions {
#define DM_FUNCTION_POINTER(name) __typeof__(name) *name;
    DM_LIBPQ_FUNCTIONS(DM_FUNCTION_POINTER)
#undef DM_FUNCTION_POINTER
} dm_libpq_functions;

static dm_libpq_functions libpq;

static const dm_lazy_symbol libpq_symbols[] = {
#define DM_FUNCTION_SYMBOL(name) {#name, offsetof(dm_libpq_functions, name)},
    DM_LIBPQ_FUNCTIONS(DM_FUNCTION_SYMBOL)
#undef DM_FUNCTION_SYMBOL
};

static dm_lazy_library libpq_library =
    DM_LAZY_LIBRARY_INIT(DM_LIBPQ_SONAME, "the PostgreSQL client library (libpq)", "postgres://",
                         "-Dpostgres", libpq_symbols, &libpq);

#define PG_DEFAULT_CONNECT_TIMEOUT "10"
#define PG_BOOL_OID 16
#define PG_BYTEA_OID 17
#define PG_INT8_OID 20
#define PG_INT2_OID 21
#define PG_INT4_OID 23
#define PG_OID_OID 26
#define PG_FLOAT4_OID 700
#define PG_FLOAT8_OID 701

struct dm_dconn {
    PGconn *pg;
    unsigned next_statement_id;
};

struct dm_dstmt {
    dm_dconn *conn;
    char *sql;         /* with $n placeholders */
    int32_t nparams;
    char name[32];     /* server-side name; "" for a one-shot statement */
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
static int pg_is_broken(PGconn *pg, const char *sqlstate)
{
    if (libpq.PQstatus(pg) == CONNECTION_BAD)
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

static int pg_fail(dm_dconn *c, PGresult *res, dm_error *err, const char *context)
{
    const char *sqlstate = res ? libpq.PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    char primary[600], detail[300];
    one_line(primary, sizeof primary,
             res && libpq.PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY)
                 ? libpq.PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY)
                 : libpq.PQerrorMessage(c->pg));
    one_line(detail, sizeof detail, res ? libpq.PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL) : NULL);
    int broken = pg_is_broken(c->pg, sqlstate);
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
    c->pg = libpq.PQconnectdbParams(keys, values, 1);
    if (!c->pg) {
        dm_free(c);
        return dm_error_set(err, DBMGMT_ERR_NOMEM, "out of memory opening a PostgreSQL connection");
    }
    if (libpq.PQstatus(c->pg) != CONNECTION_OK) {
        char msg[700];
        char *shown = dm_dsn_render_redacted(dsn);
        one_line(msg, sizeof msg, libpq.PQerrorMessage(c->pg));
        dm_error_set_sql(err, DBMGMT_ERR_CONNECT, strstr(msg, "password authentication") ? "28P01" : "08001",
                         "cannot connect to PostgreSQL (%s): %s", shown ? shown : "postgres", msg);
        dm_free(shown);
        libpq.PQfinish(c->pg);
        dm_free(c);
        return DBMGMT_ERR_CONNECT;
    }
    libpq.PQsetNoticeProcessor(c->pg, pg_notice_to_log, NULL);
    *out = c;
    return DBMGMT_OK;
}

static void pg_close(dm_dconn *c)
{
    if (!c)
        return;
    libpq.PQfinish(c->pg); /* the server rolls back an open transaction */
    dm_free(c);
}

/* Drain what is left of a command's results, so the connection is ready. */
static void pg_drain(dm_dconn *c)
{
    PGresult *res;
    while ((res = libpq.PQgetResult(c->pg)) != NULL)
        libpq.PQclear(res);
}

/* Run a statement without parameters; OK for commands and row results. */
static int pg_simple(dm_dconn *c, const char *sql, dm_error *err, const char *context)
{
    PGresult *res = libpq.PQexec(c->pg, sql);
    ExecStatusType st = libpq.PQresultStatus(res);
    int rc = DBMGMT_OK;
    if (st == PGRES_COPY_IN) { /* COPY FROM STDIN needs its data: end it */
        libpq.PQputCopyEnd(c->pg, "COPY FROM STDIN data must be sent with the statement");
        libpq.PQclear(res);
        res = libpq.PQgetResult(c->pg);
        st = libpq.PQresultStatus(res);
    }
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK && st != PGRES_EMPTY_QUERY)
        rc = pg_fail(c, res, err, context);
    libpq.PQclear(res);
    pg_drain(c);
    return rc;
}

static int pg_exec(dm_dconn *c, const char *sql, dm_error *err)
{
    return pg_simple(c, sql, err, NULL);
}

/* COPY ... FROM STDIN with its data block (as pg_dump writes it in plain
 * format): the rows go in pieces of at most 1 MB, then the end of data;
 * the server's verdict (a bad row names its line) comes with the end. */
static int pg_exec_copy(dm_dconn *c, const char *command, const char *data, size_t len,
                        dm_error *err)
{
    PGresult *res = libpq.PQexec(c->pg, command);
    ExecStatusType st = libpq.PQresultStatus(res);
    if (st != PGRES_COPY_IN) {
        int rc = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK
                     ? dm_error_set_sql(err, DBMGMT_ERR_SQL, "42601",
                                        "a data block follows a statement that did not start a "
                                        "COPY FROM STDIN")
                     : pg_fail(c, res, err, NULL);
        libpq.PQclear(res);
        pg_drain(c);
        return rc;
    }
    libpq.PQclear(res);
    const size_t piece = (size_t)1 << 20;
    int sent = 1;
    for (size_t at = 0; sent == 1 && at < len; at += piece) {
        size_t n = len - at < piece ? len - at : piece;
        sent = libpq.PQputCopyData(c->pg, data + at, (int)n);
    }
    if (sent == 1)
        sent = libpq.PQputCopyEnd(c->pg, NULL);
    int rc = DBMGMT_OK;
    res = libpq.PQgetResult(c->pg);
    if (sent != 1 || libpq.PQresultStatus(res) != PGRES_COMMAND_OK) {
        rc = pg_fail(c, res, err, NULL);
        /* the server's context says which row: "COPY t, line 2, column id: ..." */
        const char *where = res ? libpq.PQresultErrorField(res, PG_DIAG_CONTEXT) : NULL;
        size_t used = strlen(err->msg);
        if (where && used + 4 < sizeof err->msg) {
            char line[300];
            one_line(line, sizeof line, where);
            snprintf(err->msg + used, sizeof err->msg - used, " [%s]", line);
        }
    }
    libpq.PQclear(res);
    pg_drain(c);
    return rc;
}

static void pg_clear_result(dm_dstmt *s)
{
    libpq.PQclear(s->res);
    s->res = NULL;
    s->row = -1;
    if (s->blob)
        libpq.PQfreemem(s->blob);
    s->blob = NULL;
}

static int pg_prepare(dm_dconn *c, const char *sql, int one_shot, dm_dstmt **out, dm_error *err)
{
    dm_dstmt *s = dm_calloc(1, sizeof *s);
    if (!s)
        return dm_error_set(err, DBMGMT_ERR_NOMEM, "out of memory preparing a statement");
    s->conn = c;
    s->row = -1;
    int rc = dm_sql_rewrite_placeholders(sql, strlen(sql), &s->sql, &s->nparams, err);
    if (rc != DBMGMT_OK)
        goto fail;
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
        PGresult *res = libpq.PQprepare(c->pg, s->name, s->sql, 0, NULL);
        if (libpq.PQresultStatus(res) != PGRES_COMMAND_OK) {
            rc = pg_fail(c, res, err, NULL);
            libpq.PQclear(res);
            s->name[0] = '\0';
            goto fail;
        }
        libpq.PQclear(res);
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
    PGresult *res = s->name[0]
                        ? libpq.PQexecPrepared(s->conn->pg, s->name, s->nparams, values, s->lengths,
                                         s->formats, 0)
                        : libpq.PQexecParams(s->conn->pg, s->sql, s->nparams, NULL, values, s->lengths,
                                       s->formats, 0);
    ExecStatusType st = libpq.PQresultStatus(res);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        int rc = pg_fail(s->conn, res, err, NULL);
        libpq.PQclear(res);
        return rc;
    }
    s->res = res;
    const char *tuples = libpq.PQcmdTuples(res);
    s->affected = (st == PGRES_COMMAND_OK && tuples && *tuples) ? strtoll(tuples, NULL, 10) : 0;
    return DBMGMT_OK;
}

static int pg_next(dm_dstmt *s, dm_error *err)
{
    (void)err;
    if (!s->res || s->row + 1 >= libpq.PQntuples(s->res)) {
        if (s->res)
            s->row = libpq.PQntuples(s->res);
        return 0;
    }
    s->row++;
    return 1;
}

static int32_t pg_column_count(const dm_dstmt *s)
{
    return s->res ? libpq.PQnfields(s->res) : 0;
}

static const char *pg_column_name(const dm_dstmt *s, int32_t col)
{
    return s->res ? libpq.PQfname(s->res, col) : NULL;
}

static int pg_column_is_null(dm_dstmt *s, int32_t col)
{
    return libpq.PQgetisnull(s->res, s->row, col);
}

static const char *pg_column_text(dm_dstmt *s, int32_t col)
{
    return libpq.PQgetvalue(s->res, s->row, col);
}

static const void *pg_column_blob(dm_dstmt *s, int32_t col, size_t *len)
{
    if (libpq.PQgetisnull(s->res, s->row, col)) {
        *len = 0;
        return NULL;
    }
    if (libpq.PQftype(s->res, col) != PG_BYTEA_OID) {
        *len = (size_t)libpq.PQgetlength(s->res, s->row, col);
        return libpq.PQgetvalue(s->res, s->row, col);
    }
    if (!s->blob || s->blob_row != s->row || s->blob_col != col) {
        if (s->blob)
            libpq.PQfreemem(s->blob);
        s->blob = libpq.PQunescapeBytea((const unsigned char *)libpq.PQgetvalue(s->res, s->row, col),
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
    const char *v = libpq.PQgetvalue(s->res, s->row, col);
    if (libpq.PQftype(s->res, col) == PG_BOOL_OID)
        return v[0] == 't';
    return strtoll(v, NULL, 10);
}

static double pg_column_double(dm_dstmt *s, int32_t col)
{
    return strtod(libpq.PQgetvalue(s->res, s->row, col), NULL);
}

static dm_value_type pg_column_type(dm_dstmt *s, int32_t col)
{
    switch (libpq.PQftype(s->res, col)) {
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
    if (s->name[0] && libpq.PQstatus(s->conn->pg) == CONNECTION_OK) {
        char sql[64];
        snprintf(sql, sizeof sql, "DEALLOCATE %s", s->name);
        libpq.PQclear(libpq.PQexec(s->conn->pg, sql));
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
    return pg_simple(c, "BEGIN", err, "BEGIN");
}

static int pg_commit(dm_dconn *c, dm_error *err)
{
    return pg_simple(c, "COMMIT", err, "COMMIT");
}

static int pg_rollback(dm_dconn *c, dm_error *err)
{
    return pg_simple(c, "ROLLBACK", err, "ROLLBACK");
}

static int pg_in_transaction(const dm_dconn *c)
{
    PGTransactionStatusType st = libpq.PQtransactionStatus(c->pg);
    return st == PQTRANS_INTRANS || st == PQTRANS_INERROR || st == PQTRANS_ACTIVE;
}

/* An empty query: a round trip that succeeds even inside a failed
 * transaction, so only a dead connection fails it. */
static int pg_ping(dm_dconn *c, dm_error *err)
{
    PGresult *res = libpq.PQexec(c->pg, "");
    int ok = libpq.PQresultStatus(res) == PGRES_EMPTY_QUERY;
    if (!ok)
        pg_fail(c, res, err, "ping");
    libpq.PQclear(res);
    if (ok)
        return DBMGMT_OK;
    err->code = DBMGMT_ERR_CLOSED;
    return DBMGMT_ERR_CLOSED;
}

static void *pg_native(dm_dconn *c)
{
    return c->pg;
}

/* The advisory-lock key for a name: the first 8 bytes of its SHA-256. */
static long long pg_lock_key(const char *name)
{
    dm_sha256 ctx;
    uint8_t digest[32];
    dm_sha256_init(&ctx);
    dm_sha256_update(&ctx, name, strlen(name));
    dm_sha256_final(&ctx, digest);
    uint64_t key = 0;
    for (int i = 0; i < 8; i++)
        key = key << 8 | digest[i];
    return (long long)key;
}

/* SELECT fn($1::bigint) with the name's key: 1 true, 0 false, <0 error. */
static int pg_lock_call(dm_dconn *c, const char *fn, const char *name, dm_error *err)
{
    char sql[80], key[32];
    snprintf(sql, sizeof sql, "SELECT %s($1::bigint)", fn);
    snprintf(key, sizeof key, "%lld", pg_lock_key(name));
    const char *params[] = {key};
    PGresult *res = libpq.PQexecParams(c->pg, sql, 1, NULL, params, NULL, NULL, 0);
    int rc;
    if (libpq.PQresultStatus(res) != PGRES_TUPLES_OK || libpq.PQntuples(res) != 1)
        rc = pg_fail(c, res, err, fn);
    else
        rc = libpq.PQgetvalue(res, 0, 0)[0] == 't';
    libpq.PQclear(res);
    return rc;
}

/* pg_try_advisory_lock polled on this session (never pg_advisory_lock, which
 * would sit inside the server where a concurrent CREATE INDEX CONCURRENTLY
 * could wait on it). */
static int pg_lock(dm_dconn *c, const char *name, int32_t timeout_ms, dm_error *err)
{
    int64_t deadline = dm_monotonic_ms() + (timeout_ms > 0 ? timeout_ms : 0);
    int64_t pause = 5;
    for (;;) {
        int rc = pg_lock_call(c, "pg_try_advisory_lock", name, err);
        if (rc != 0)
            return rc < 0 ? rc : DBMGMT_OK;
        int64_t left = deadline - dm_monotonic_ms();
        if (left <= 0)
            return dm_error_set_sql(err, DBMGMT_ERR_TIMEOUT, "55P03",
                                    "lock '%s' is held by another session; waited %d ms", name,
                                    (int)(timeout_ms > 0 ? timeout_ms : 0));
        dm_sleep_ms(pause < left ? pause : left);
        pause = pause * 2 > 50 ? 50 : pause * 2;
    }
}

static int pg_unlock(dm_dconn *c, const char *name, dm_error *err)
{
    int rc = pg_lock_call(c, "pg_advisory_unlock", name, err);
    if (rc < 0)
        return rc;
    if (rc == 0)
        return dm_error_set(err, DBMGMT_ERR_NOTFOUND,
                            "lock '%s' is not held by this session", name);
    return DBMGMT_OK;
}

/* Run a catalog query; *out is the rows. */
static int catalog_query(dm_dconn *c, const char *sql, PGresult **out, dm_error *err)
{
    PGresult *res = libpq.PQexec(c->pg, sql);
    if (libpq.PQresultStatus(res) != PGRES_TUPLES_OK) {
        int rc = pg_fail(c, res, err, "reading the catalog");
        libpq.PQclear(res);
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
    for (int i = 0; i < libpq.PQntuples(res); i++)
        dm_catalog_add_table(cat, libpq.PQgetvalue(res, i, 0), strtoll(libpq.PQgetvalue(res, i, 1), NULL, 10));
    libpq.PQclear(res);
    rc = catalog_query(c, pg_columns_sql, &res, err);
    if (rc != DBMGMT_OK)
        return rc;
    for (int i = 0; i < libpq.PQntuples(res); i++)
        dm_catalog_add_column(cat, dm_catalog_find_table(cat, libpq.PQgetvalue(res, i, 0)),
                              libpq.PQgetvalue(res, i, 1), libpq.PQgetvalue(res, i, 2),
                              libpq.PQgetvalue(res, i, 3)[0] == 't', atoi(libpq.PQgetvalue(res, i, 4)));
    libpq.PQclear(res);
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
    for (int i = 0; i < libpq.PQntuples(res); i++) {
        const char *name = libpq.PQgetvalue(res, i, 0);
        if (!current || strcmp(current, name) != 0) {
            ix = dm_catalog_add_index(cat, name, libpq.PQgetvalue(res, i, 1),
                                      libpq.PQgetvalue(res, i, 2)[0] == 't', libpq.PQgetvalue(res, i, 3)[0] == 't',
                                      libpq.PQgetvalue(res, i, 4)[0] == 't',
                                      strtoll(libpq.PQgetvalue(res, i, 5), NULL, 10));
            current = name;
        }
        dm_catalog_index_add_column(cat, ix, libpq.PQgetisnull(res, i, 6) ? NULL : libpq.PQgetvalue(res, i, 6));
    }
    libpq.PQclear(res);
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
    for (int i = 0; i < libpq.PQntuples(res); i++) {
        const char *name = libpq.PQgetvalue(res, i, 0), *table = libpq.PQgetvalue(res, i, 1);
        if (!current_name || strcmp(current_name, name) || strcmp(current_table, table)) {
            fk = dm_catalog_add_fk(cat, name, table, libpq.PQgetvalue(res, i, 2));
            current_name = name;
            current_table = table;
        }
        dm_catalog_fk_add_column(cat, fk, libpq.PQgetvalue(res, i, 3), libpq.PQgetvalue(res, i, 4));
    }
    libpq.PQclear(res);
    return DBMGMT_OK;
}

static int pg_table_exists(dm_dconn *c, const char *schema, const char *name, dm_error *err)
{
    const char *params[] = {name, schema};
    PGresult *res = libpq.PQexecParams(c->pg,
                                 schema ? "SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = "
                                          "c.relnamespace WHERE n.nspname = $2 AND "
                                          "c.relname = $1 AND c.relkind IN ('r', 'p')"
                                        : "SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = "
                                          "c.relnamespace WHERE n.nspname = current_schema() AND "
                                          "c.relname = $1 AND c.relkind IN ('r', 'p')",
                                 schema ? 2 : 1, NULL, params, NULL, NULL, 0);
    int rc = libpq.PQresultStatus(res) == PGRES_TUPLES_OK ? libpq.PQntuples(res) > 0
                                                    : pg_fail(c, res, err, "looking up a table");
    libpq.PQclear(res);
    return rc;
}

/* The schema is current_schema(): the first schema on the search_path
 * that exists. The session is put back with RESET ALL (every setting to the
 * value the session started with: server, database, role and connection
 * options) followed by set_config() of each setting the session had SET
 * when it was saved (the host's own, e.g. a search_path of its choosing),
 * quoted by the server itself. */
static int pg_session_save(dm_dconn *c, dm_session_state *st, dm_error *err)
{
    memset(st, 0, sizeof *st);
    PGresult *res = libpq.PQexec(
        c->pg, "SELECT current_schema(), current_setting('search_path'), "
               "(SELECT string_agg(format('set_config(%L, %L, false)', name, setting), ', ') "
               "FROM pg_settings WHERE source = 'session' AND context IN ('user', 'superuser'))");
    if (libpq.PQresultStatus(res) != PGRES_TUPLES_OK || libpq.PQntuples(res) != 1) {
        int rc = pg_fail(c, res, err, "reading the session's settings");
        libpq.PQclear(res);
        return rc;
    }
    dm_buf restore = DM_BUF_INIT;
    dm_buf_puts(&restore, "RESET ALL");
    if (!libpq.PQgetisnull(res, 0, 2)) {
        dm_buf_puts(&restore, "; SELECT ");
        dm_buf_puts(&restore, libpq.PQgetvalue(res, 0, 2));
    }
    st->restore = dm_buf_detach(&restore);
    int rc = DBMGMT_OK;
    if (!st->restore)
        rc = dm_error_set(err, DBMGMT_ERR_NOMEM, "out of memory reading the session's settings");
    else if (libpq.PQgetisnull(res, 0, 0))
        rc = dm_error_set(err, DBMGMT_ERR_NOTFOUND,
                          "PostgreSQL: no schema to keep the migration history in: the "
                          "search_path '%s' names no schema that exists; create one, or give "
                          "the history table a schema (schema.table)",
                          libpq.PQgetvalue(res, 0, 1));
    else if (strlen(libpq.PQgetvalue(res, 0, 0)) >= sizeof st->schema)
        rc = dm_error_set(err, DBMGMT_ERR_INVALID, "PostgreSQL: the current schema's name is "
                          "longer than %d bytes", (int)sizeof st->schema - 1);
    else
        snprintf(st->schema, sizeof st->schema, "%s", libpq.PQgetvalue(res, 0, 0));
    libpq.PQclear(res);
    if (rc != DBMGMT_OK && rc != DBMGMT_ERR_NOTFOUND)
        dm_session_state_clear(st);
    return rc;
}

static int pg_session_restore(dm_dconn *c, const dm_session_state *st, dm_error *err)
{
    return pg_simple(c, st->restore ? st->restore : "RESET ALL", err,
                     "putting the session's settings back");
}

static int pg_catalog(dm_dconn *c, dm_catalog *cat, dm_error *err)
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

/* --- Index advice (issue 9): HypoPG what-if sessions, statistics, workload -- */

struct dm_whatif {
    dm_dconn *conn;
};

/* One-row, one-column query with text parameters; *out (PQclear) or an error. */
static int pg_params(dm_dconn *c, const char *sql, int n, const char *const *values, PGresult **out,
                     dm_error *err, const char *context)
{
    PGresult *res = libpq.PQexecParams(c->pg, sql, n, NULL, values, NULL, NULL, 0);
    if (libpq.PQresultStatus(res) != PGRES_TUPLES_OK && libpq.PQresultStatus(res) != PGRES_COMMAND_OK) {
        int rc = pg_fail(c, res, err, context);
        libpq.PQclear(res);
        return rc;
    }
    *out = res;
    return DBMGMT_OK;
}

static int pg_whatif_open(dm_dconn *c, dm_whatif **out, dm_error *err)
{
    *out = NULL;
    PGresult *res = NULL;
    int rc = pg_params(c, "SELECT 1 FROM pg_extension WHERE extname = 'hypopg'", 0, NULL, &res,
                       err, "looking for HypoPG");
    if (rc != DBMGMT_OK)
        return rc;
    int installed = libpq.PQntuples(res) > 0;
    libpq.PQclear(res);
    if (!installed) {
        dm_error tried = {0};
        if (pg_simple(c, "CREATE EXTENSION IF NOT EXISTS hypopg", &tried, NULL) != DBMGMT_OK)
            return dm_error_set(err, DBMGMT_ERR_UNSUPPORTED,
                                "HypoPG is not available in this database, so the planner was "
                                "not asked (install postgresql-15-hypopg and run CREATE "
                                "EXTENSION hypopg): %s",
                                tried.msg);
    }
    rc = pg_simple(c, "SELECT hypopg_reset()", err, "HypoPG");
    if (rc != DBMGMT_OK)
        return rc;
    dm_whatif *w = dm_calloc(1, sizeof *w);
    if (!w)
        return dm_error_set(err, DBMGMT_ERR_NOMEM, "out of memory");
    w->conn = c;
    *out = w;
    return DBMGMT_OK;
}

static int pg_whatif_index(dm_whatif *w, const char *ddl, const char *name, dm_buf *plan_name,
                           dm_error *err)
{
    (void)name;
    PGresult *res = NULL;
    const char *values[1] = {ddl};
    int rc = pg_params(w->conn, "SELECT indexname FROM hypopg_create_index($1)", 1, values, &res,
                       err, "HypoPG");
    if (rc != DBMGMT_OK)
        return rc;
    if (libpq.PQntuples(res) > 0)
        dm_buf_puts(plan_name, libpq.PQgetvalue(res, 0, 0));
    libpq.PQclear(res);
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
    int rc = pg_simple(c, q.data, err, "PREPARE for EXPLAIN");
    dm_buf_clear(&q);
    if (rc == DBMGMT_OK)
        rc = pg_simple(c, "SET plan_cache_mode = force_generic_plan", err, "EXPLAIN");
    if (rc == DBMGMT_OK) {
        dm_buf_puts(&q, "EXPLAIN EXECUTE dbmgmt_whatif(");
        for (int32_t i = 0; i < nparams; i++)
            dm_buf_puts(&q, i ? ", NULL" : "NULL");
        dm_buf_putc(&q, ')');
        rc = dm_buf_failed(&q) ? dm_error_set(err, DBMGMT_ERR_NOMEM, "out of memory")
                               : pg_params(c, q.data, 0, NULL, out, err, "EXPLAIN");
    }
    dm_error ignored = {0};
    (void)pg_simple(c, "RESET plan_cache_mode", &ignored, NULL);
    (void)pg_simple(c, "DEALLOCATE dbmgmt_whatif", &ignored, NULL);
    dm_buf_free(&q);
    return rc;
}

static int pg_whatif_explain(dm_whatif *w, const char *sql, dm_buf *plan, double *cost,
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
                               : pg_params(w->conn, q.data, 0, NULL, &res, err, "EXPLAIN");
        dm_buf_free(&q);
    }
    dm_free(rewritten);
    if (rc != DBMGMT_OK)
        return rc;
    for (int i = 0; i < libpq.PQntuples(res); i++) {
        const char *line = libpq.PQgetvalue(res, i, 0);
        if (i == 0) { /* "... (cost=0.00..35.50 rows=..." : the total cost */
            const char *dots = strstr(line, "cost=");
            dots = dots ? strstr(dots, "..") : NULL;
            if (dots)
                *cost = strtod(dots + 2, NULL);
        }
        dm_buf_puts(plan, line);
        dm_buf_putc(plan, '\n');
    }
    libpq.PQclear(res);
    return dm_buf_failed(plan) ? dm_error_set(err, DBMGMT_ERR_NOMEM, "out of memory reading a plan")
                               : DBMGMT_OK;
}

static void pg_whatif_close(dm_whatif *w)
{
    if (!w)
        return;
    dm_error ignored = {0};
    (void)pg_simple(w->conn, "SELECT hypopg_reset()", &ignored, NULL);
    dm_free(w);
}

/* pg_stats.n_distinct (negative: a fraction of the rows) and reltuples. */
static int pg_column_distinct(dm_dconn *c, const char *table, const char *column, double *distinct,
                              double *rows, dm_error *err)
{
    *distinct = *rows = -1;
    PGresult *res = NULL;
    const char *values[2] = {table, column};
    int rc = pg_params(c,
                       "SELECT s.n_distinct, c.reltuples FROM pg_stats s JOIN pg_class c ON "
                       "c.relname = s.tablename AND c.relnamespace = to_regnamespace(s.schemaname) "
                       "WHERE s.schemaname = current_schema() AND s.tablename = $1 "
                       "AND s.attname = $2",
                       2, values, &res, err, "reading column statistics");
    if (rc != DBMGMT_OK)
        return rc;
    if (libpq.PQntuples(res) > 0) {
        double nd = strtod(libpq.PQgetvalue(res, 0, 0), NULL), n = strtod(libpq.PQgetvalue(res, 0, 1), NULL);
        if (n >= 0) {
            *rows = n;
            *distinct = nd < 0 ? -nd * n : nd;
        }
    }
    libpq.PQclear(res);
    return DBMGMT_OK;
}

/* pg_stat_statements of the current database (its texts use $n placeholders). */
static int pg_workload(dm_dconn *c, void (*fn)(void *userdata, const char *sql, double calls),
                       void *userdata, dm_error *err)
{
    PGresult *res = NULL;
    int rc = pg_params(c,
                       "SELECT query, calls FROM pg_stat_statements s JOIN pg_database d ON "
                       "d.oid = s.dbid WHERE d.datname = current_database() AND calls > 0 "
                       "ORDER BY calls DESC LIMIT 10000",
                       0, NULL, &res, err, "reading pg_stat_statements");
    if (rc != DBMGMT_OK)
        return rc;
    for (int i = 0; i < libpq.PQntuples(res); i++)
        fn(userdata, libpq.PQgetvalue(res, i, 0), strtod(libpq.PQgetvalue(res, i, 1), NULL));
    libpq.PQclear(res);
    return DBMGMT_OK;
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
    .lock = pg_lock,
    .unlock = pg_unlock,
    .catalog = pg_catalog,
    .table_exists = pg_table_exists,
    .session_save = pg_session_save,
    .session_restore = pg_session_restore,
    .quote_ident = dm_quote_ident_standard,
    .whatif_open = pg_whatif_open,
    .whatif_index = pg_whatif_index,
    .whatif_explain = pg_whatif_explain,
    .whatif_close = pg_whatif_close,
    .column_distinct = pg_column_distinct,
    .workload = pg_workload,
};
