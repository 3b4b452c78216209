/*
 * The SQLite driver: foreign keys on, extended result codes, a busy
 * timeout, and SQLSTATE-like codes mapped from SQLite's result codes
 * (docs/errors.md).
 */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "dm_config.h"
#include "sqlite_impl.h"

#define SQLITE_DEFAULT_BUSY_TIMEOUT_MS 5000

struct dm_dconn {
    sqlite3 *db;
    int busy_timeout_ms; /* the connection's own, restored after a lock wait */
    int holds_lock;      /* lock() opened the write transaction */
};

struct dm_dstmt {
    dm_dconn *conn;
    sqlite3_stmt *stmt;
    int pending_row;  /* execute stepped onto a row that next() has not returned */
    int done;         /* stepping reached SQLITE_DONE */
    int64_t affected; /* rows changed by this execution */
    int64_t total_changes_before;
};

typedef struct code_info {
    int code;
    const char *name;
    const char *sqlstate;
} code_info;

/* Extended codes first (looked up exactly), then primary codes. The
 * SQLSTATEs follow PostgreSQL's classes so callers can test one code for
 * every engine: 23505 unique violation, 23503 foreign key, and so on. */
static const code_info sqlite_codes[] = {
    {SQLITE_CONSTRAINT_UNIQUE, "SQLITE_CONSTRAINT_UNIQUE", "23505"},
    {SQLITE_CONSTRAINT_PRIMARYKEY, "SQLITE_CONSTRAINT_PRIMARYKEY", "23505"},
    {SQLITE_CONSTRAINT_NOTNULL, "SQLITE_CONSTRAINT_NOTNULL", "23502"},
    {SQLITE_CONSTRAINT_FOREIGNKEY, "SQLITE_CONSTRAINT_FOREIGNKEY", "23503"},
    {SQLITE_CONSTRAINT_CHECK, "SQLITE_CONSTRAINT_CHECK", "23514"},
    {SQLITE_CONSTRAINT_TRIGGER, "SQLITE_CONSTRAINT_TRIGGER", "23000"},
    {SQLITE_BUSY_SNAPSHOT, "SQLITE_BUSY_SNAPSHOT", "40001"},
    {SQLITE_READONLY_DBMOVED, "SQLITE_READONLY_DBMOVED", "25006"},
    {SQLITE_CANTOPEN_ISDIR, "SQLITE_CANTOPEN_ISDIR", "08001"},
    {SQLITE_ERROR, "SQLITE_ERROR", "42000"},
    {SQLITE_INTERNAL, "SQLITE_INTERNAL", "XX000"},
    {SQLITE_PERM, "SQLITE_PERM", "42501"},
    {SQLITE_ABORT, "SQLITE_ABORT", "40000"},
    {SQLITE_BUSY, "SQLITE_BUSY", "55P03"},
    {SQLITE_LOCKED, "SQLITE_LOCKED", "55P03"},
    {SQLITE_NOMEM, "SQLITE_NOMEM", "53200"},
    {SQLITE_READONLY, "SQLITE_READONLY", "25006"},
    {SQLITE_INTERRUPT, "SQLITE_INTERRUPT", "57014"},
    {SQLITE_IOERR, "SQLITE_IOERR", "58030"},
    {SQLITE_CORRUPT, "SQLITE_CORRUPT", "XX001"},
    {SQLITE_NOTFOUND, "SQLITE_NOTFOUND", "HY000"},
    {SQLITE_FULL, "SQLITE_FULL", "53100"},
    {SQLITE_CANTOPEN, "SQLITE_CANTOPEN", "08001"},
    {SQLITE_PROTOCOL, "SQLITE_PROTOCOL", "08P01"},
    {SQLITE_SCHEMA, "SQLITE_SCHEMA", "HY000"},
    {SQLITE_TOOBIG, "SQLITE_TOOBIG", "54000"},
    {SQLITE_CONSTRAINT, "SQLITE_CONSTRAINT", "23000"},
    {SQLITE_MISMATCH, "SQLITE_MISMATCH", "42804"},
    {SQLITE_MISUSE, "SQLITE_MISUSE", "HY010"},
    {SQLITE_RANGE, "SQLITE_RANGE", "22023"},
    {SQLITE_NOTADB, "SQLITE_NOTADB", "XX001"},
};

static const code_info *sqlite_code_info(int code)
{
    size_t n = sizeof sqlite_codes / sizeof sqlite_codes[0];
    for (size_t i = 0; i < n; i++)
        if (sqlite_codes[i].code == code)
            return &sqlite_codes[i];
    for (size_t i = 0; i < n; i++)
        if (sqlite_codes[i].code == (code & 0xff))
            return &sqlite_codes[i];
    return NULL;
}

static int status_for_sqlite(int code)
{
    switch (code & 0xff) {
    case SQLITE_NOMEM: return DBMGMT_ERR_NOMEM;
    case SQLITE_BUSY:
    case SQLITE_LOCKED: return DBMGMT_ERR_BUSY;
    case SQLITE_CANTOPEN:
    case SQLITE_NOTADB: return DBMGMT_ERR_CONNECT;
    case SQLITE_IOERR:
    case SQLITE_FULL: return DBMGMT_ERR_IO;
    case SQLITE_MISUSE:
    case SQLITE_RANGE: return DBMGMT_ERR_INVALID;
    default: return DBMGMT_ERR_SQL;
    }
}

/* Record the connection's last SQLite error, prefixed by context. */
static int sqlite_fail(sqlite3 *db, int code, dm_error *err, const char *context)
{
    const code_info *info = sqlite_code_info(code);
    const char *msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(code);
    return dm_error_set_sql(err, status_for_sqlite(code), info ? info->sqlstate : "HY000",
                            "%s%sSQLite: %s (%s, SQLSTATE %s)", context ? context : "",
                            context ? ": " : "", msg, info ? info->name : "SQLITE_UNKNOWN",
                            info ? info->sqlstate : "HY000");
}

int dm_sqlite_fail(sqlite3 *db, int code, dm_error *err, const char *context)
{
    return sqlite_fail(db, code, err, context);
}

static int open_flags_for_mode(const char *mode)
{
    int base = SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE;
    if (!mode || strcmp(mode, "rwc") == 0)
        return base | SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
    if (strcmp(mode, "ro") == 0)
        return base | SQLITE_OPEN_READONLY;
    if (strcmp(mode, "rw") == 0)
        return base | SQLITE_OPEN_READWRITE;
    return base | SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_MEMORY;
}

static int sqlite_connect(const dm_dsn *dsn, dm_dconn **out, dm_error *err)
{
    const char *mode = dm_dsn_param_get(dsn, "mode");
    const char *busy = dm_dsn_param_get(dsn, "busy_timeout");
    int busy_ms = busy ? atoi(busy) : SQLITE_DEFAULT_BUSY_TIMEOUT_MS;
    dm_dconn *c = dm_calloc(1, sizeof *c);
    if (!c)
        return dm_error_set(err, DBMGMT_ERR_NOMEM, "out of memory opening a SQLite connection");
    int rc = sqlite3_open_v2(dsn->database, &c->db, open_flags_for_mode(mode), NULL);
    if (rc != SQLITE_OK) {
        const code_info *info = sqlite_code_info(rc);
        dm_error_set_sql(err, rc == SQLITE_NOMEM ? DBMGMT_ERR_NOMEM : DBMGMT_ERR_CONNECT,
                         info ? info->sqlstate : "08001",
                         "cannot open SQLite database '%s' (mode=%s): %s (%s)", dsn->database,
                         mode ? mode : "rwc", c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc),
                         info ? info->name : "SQLITE_CANTOPEN");
        goto fail;
    }
    sqlite3_extended_result_codes(c->db, 1);
    sqlite3_busy_timeout(c->db, busy_ms);
    c->busy_timeout_ms = busy_ms;
    rc = sqlite3_exec(c->db, "PRAGMA foreign_keys = ON", NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        sqlite_fail(c->db, rc, err, "enabling foreign keys");
        goto fail;
    }
    *out = c;
    return DBMGMT_OK;
fail:
    sqlite3_close_v2(c->db);
    dm_free(c);
    return err ? err->code : DBMGMT_ERR_CONNECT;
}

static void sqlite_close(dm_dconn *c)
{
    if (!c)
        return;
    if (!sqlite3_get_autocommit(c->db))
        sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
    sqlite3_close_v2(c->db);
    dm_free(c);
}

/* 1-based line of byte offset `at` in sql. */
static int line_of_offset(const char *sql, size_t at)
{
    int line = 1;
    for (size_t i = 0; i < at && sql[i]; i++)
        line += sql[i] == '\n';
    return line;
}

/* Runs every statement of a script, as SQLite itself splits it. */
static int sqlite_exec(dm_dconn *c, const char *sql, dm_error *err)
{
    const char *tail = sql;
    int number = 0;
    while (*tail) {
        sqlite3_stmt *stmt = NULL;
        const char *start = tail;
        int rc = sqlite3_prepare_v2(c->db, start, -1, &stmt, &tail);
        if (rc == SQLITE_OK && !stmt) /* only white space or comments left */
            break;
        number++;
        if (rc == SQLITE_OK) {
            while ((rc = sqlite3_step(stmt)) == SQLITE_ROW)
                ;
            if (rc == SQLITE_DONE)
                rc = SQLITE_OK;
        }
        if (rc != SQLITE_OK) {
            while (*start == ' ' || *start == '\t' || *start == '\r' || *start == '\n')
                start++;
            char context[96];
            snprintf(context, sizeof context, "statement %d (line %d)", number,
                     line_of_offset(sql, (size_t)(start - sql)));
            sqlite_fail(c->db, rc, err, context);
            sqlite3_finalize(stmt);
            return err->code;
        }
        sqlite3_finalize(stmt);
    }
    return DBMGMT_OK;
}

static int sqlite_prepare(dm_dconn *c, const char *sql, int one_shot, dm_dstmt **out,
                          dm_error *err)
{
    (void)one_shot; /* SQLite prepares locally either way */
    dm_dstmt *s = dm_calloc(1, sizeof *s);
    if (!s)
        return dm_error_set(err, DBMGMT_ERR_NOMEM, "out of memory preparing a statement");
    const char *tail = NULL;
    int rc = sqlite3_prepare_v2(c->db, sql, -1, &s->stmt, &tail);
    if (rc != SQLITE_OK) {
        sqlite_fail(c->db, rc, err, NULL);
        dm_free(s);
        return err->code;
    }
    if (!s->stmt) {
        dm_free(s);
        return dm_error_set(err, DBMGMT_ERR_INVALID, "the SQL text holds no statement");
    }
    while (tail && (*tail == ' ' || *tail == '\t' || *tail == '\r' || *tail == '\n' ||
                    *tail == ';'))
        tail++;
    if (tail && *tail) {
        sqlite3_finalize(s->stmt);
        dm_free(s);
        return dm_error_set(err, DBMGMT_ERR_INVALID,
                            "a prepared statement must hold one statement; text follows the "
                            "first one (use dbmgmt_conn_exec for scripts)");
    }
    s->conn = c;
    *out = s;
    return DBMGMT_OK;
}

static int32_t sqlite_param_count(const dm_dstmt *s)
{
    return sqlite3_bind_parameter_count(s->stmt);
}

static int sqlite_bind(dm_dstmt *s, int32_t index, const dm_value *v, dm_error *err)
{
    int rc;
    switch (v->type) {
    case DM_VALUE_NULL: rc = sqlite3_bind_null(s->stmt, index); break;
    case DM_VALUE_INT64: rc = sqlite3_bind_int64(s->stmt, index, v->i); break;
    case DM_VALUE_DOUBLE: rc = sqlite3_bind_double(s->stmt, index, v->d); break;
    case DM_VALUE_TEXT:
        rc = sqlite3_bind_text64(s->stmt, index, v->bytes, v->len, SQLITE_TRANSIENT, SQLITE_UTF8);
        break;
    default:
        rc = sqlite3_bind_blob64(s->stmt, index, v->len ? v->bytes : "", v->len,
                                 SQLITE_TRANSIENT);
        break;
    }
    return rc == SQLITE_OK ? DBMGMT_OK : sqlite_fail(s->conn->db, rc, err, "binding a parameter");
}

static int sqlite_step(dm_dstmt *s, dm_error *err)
{
    int rc = sqlite3_step(s->stmt);
    if (rc == SQLITE_ROW)
        return 1;
    s->done = 1;
    if (rc == SQLITE_DONE) {
        int64_t delta = sqlite3_total_changes64(s->conn->db) - s->total_changes_before;
        s->affected = delta ? sqlite3_changes64(s->conn->db) : 0;
        return 0;
    }
    return sqlite_fail(s->conn->db, rc, err, NULL);
}

static int sqlite_execute(dm_dstmt *s, dm_error *err)
{
    sqlite3_reset(s->stmt);
    s->done = 0;
    s->pending_row = 0;
    s->affected = 0;
    s->total_changes_before = sqlite3_total_changes64(s->conn->db);
    int rc = sqlite_step(s, err);
    if (rc < 0) {
        sqlite3_reset(s->stmt);
        return rc;
    }
    s->pending_row = rc == 1;
    return DBMGMT_OK;
}

static int sqlite_next(dm_dstmt *s, dm_error *err)
{
    if (s->pending_row) {
        s->pending_row = 0;
        return 1;
    }
    if (s->done)
        return 0;
    return sqlite_step(s, err);
}

static int32_t sqlite_column_count(const dm_dstmt *s)
{
    return sqlite3_column_count(s->stmt);
}

static const char *sqlite_column_name(const dm_dstmt *s, int32_t col)
{
    return sqlite3_column_name(s->stmt, col);
}

static int sqlite_column_is_null(dm_dstmt *s, int32_t col)
{
    return sqlite3_column_type(s->stmt, col) == SQLITE_NULL;
}

static const char *sqlite_column_text(dm_dstmt *s, int32_t col)
{
    return (const char *)sqlite3_column_text(s->stmt, col);
}

static const void *sqlite_column_blob(dm_dstmt *s, int32_t col, size_t *len)
{
    if (sqlite3_column_type(s->stmt, col) == SQLITE_NULL) {
        *len = 0;
        return NULL;
    }
    const void *p = sqlite3_column_blob(s->stmt, col);
    *len = (size_t)sqlite3_column_bytes(s->stmt, col);
    return p ? p : "";
}

static int64_t sqlite_column_int64(dm_dstmt *s, int32_t col)
{
    return sqlite3_column_int64(s->stmt, col);
}

static double sqlite_column_double(dm_dstmt *s, int32_t col)
{
    return sqlite3_column_double(s->stmt, col);
}

static dm_value_type sqlite_column_type(dm_dstmt *s, int32_t col)
{
    switch (sqlite3_column_type(s->stmt, col)) {
    case SQLITE_INTEGER:
        return DM_VALUE_INT64;
    case SQLITE_FLOAT:
        return DM_VALUE_DOUBLE;
    case SQLITE_BLOB:
        return DM_VALUE_BLOB;
    default:
        return DM_VALUE_TEXT;
    }
}

static int64_t sqlite_affected_rows(const dm_dstmt *s)
{
    return s->affected;
}

static void sqlite_reset(dm_dstmt *s)
{
    sqlite3_reset(s->stmt);
    s->pending_row = 0;
    s->done = 0;
}

static void sqlite_finalize(dm_dstmt *s)
{
    if (!s)
        return;
    sqlite3_finalize(s->stmt);
    dm_free(s);
}

static int sqlite_begin(dm_dconn *c, dm_error *err)
{
    int rc = sqlite3_exec(c->db, "BEGIN", NULL, NULL, NULL);
    return rc == SQLITE_OK ? DBMGMT_OK : sqlite_fail(c->db, rc, err, "BEGIN");
}

static int sqlite_commit(dm_dconn *c, dm_error *err)
{
    int rc = sqlite3_exec(c->db, "COMMIT", NULL, NULL, NULL);
    return rc == SQLITE_OK ? DBMGMT_OK : sqlite_fail(c->db, rc, err, "COMMIT");
}

static int sqlite_rollback(dm_dconn *c, dm_error *err)
{
    int rc = sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
    return rc == SQLITE_OK ? DBMGMT_OK : sqlite_fail(c->db, rc, err, "ROLLBACK");
}

static int sqlite_in_transaction(const dm_dconn *c)
{
    return !sqlite3_get_autocommit(c->db);
}

static int sqlite_ping(dm_dconn *c, dm_error *err)
{
    int rc = sqlite3_exec(c->db, "SELECT 1", NULL, NULL, NULL);
    if (rc == SQLITE_OK)
        return DBMGMT_OK;
    sqlite_fail(c->db, rc, err, "ping");
    err->code = DBMGMT_ERR_CLOSED;
    return DBMGMT_ERR_CLOSED;
}

static void *sqlite_native(dm_dconn *c)
{
    return c->db;
}

/* The lock is the database's write lock: BEGIN IMMEDIATE, waiting up to
 * timeout_ms for other writers, held until unlock (COMMIT). */
static int sqlite_lock(dm_dconn *c, const char *name, int32_t timeout_ms, dm_error *err)
{
    (void)name;
    if (!sqlite3_get_autocommit(c->db))
        return dm_error_set(err, DBMGMT_ERR_BUSY,
                            "cannot take the SQLite write lock inside an open transaction");
    sqlite3_busy_timeout(c->db, timeout_ms < 0 ? 0 : timeout_ms);
    int rc = sqlite3_exec(c->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    sqlite3_busy_timeout(c->db, c->busy_timeout_ms);
    if ((rc & 0xff) == SQLITE_BUSY)
        return dm_error_set_sql(err, DBMGMT_ERR_TIMEOUT, "55P03",
                                "the SQLite database is locked by another writer; waited %d ms",
                                (int)timeout_ms);
    if (rc != SQLITE_OK)
        return sqlite_fail(c->db, rc, err, "BEGIN IMMEDIATE");
    c->holds_lock = 1;
    return DBMGMT_OK;
}

static int sqlite_unlock(dm_dconn *c, const char *name, dm_error *err)
{
    (void)name;
    if (!c->holds_lock || sqlite3_get_autocommit(c->db)) {
        c->holds_lock = 0;
        return dm_error_set(err, DBMGMT_ERR_NOTFOUND, "the SQLite write lock is not held");
    }
    c->holds_lock = 0;
    int rc = sqlite3_exec(c->db, "COMMIT", NULL, NULL, NULL);
    return rc == SQLITE_OK ? DBMGMT_OK : sqlite_fail(c->db, rc, err, "COMMIT (unlock)");
}

/* Prepare sql and bind text parameter 1 (if arg). */
static int catalog_prepare(dm_dconn *c, const char *sql, const char *arg, sqlite3_stmt **out,
                           dm_error *err)
{
    int rc = sqlite3_prepare_v2(c->db, sql, -1, out, NULL);
    if (rc == SQLITE_OK && arg)
        rc = sqlite3_bind_text(*out, 1, arg, -1, SQLITE_TRANSIENT);
    if (rc != SQLITE_OK) {
        sqlite3_finalize(*out);
        *out = NULL;
        return sqlite_fail(c->db, rc, err, "reading the catalog");
    }
    return DBMGMT_OK;
}

static const char *column_str(sqlite3_stmt *st, int col)
{
    const unsigned char *s = sqlite3_column_text(st, col);
    return s ? (const char *)s : "";
}

/* Row count from sqlite_stat1 (the first number of any row of the table),
 * or -1 when ANALYZE has not run. */
static int64_t sqlite_row_estimate(dm_dconn *c, const char *table)
{
    sqlite3_stmt *st = NULL;
    int64_t rows = -1;
    if (sqlite3_prepare_v2(c->db, "SELECT CAST(stat AS INTEGER) FROM sqlite_stat1 WHERE tbl = ?1 "
                                  "ORDER BY idx IS NOT NULL LIMIT 1", -1, &st, NULL) != SQLITE_OK) {
        sqlite3_finalize(st); /* no sqlite_stat1 table */
        return -1;
    }
    sqlite3_bind_text(st, 1, table, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(st) == SQLITE_ROW)
        rows = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return rows;
}

static int catalog_columns(dm_dconn *c, dm_catalog *cat, dm_cat_table *t, dm_error *err)
{
    sqlite3_stmt *st = NULL;
    int rc = catalog_prepare(c, "SELECT name, type, \"notnull\", pk FROM pragma_table_info(?1) "
                                "ORDER BY cid", t->name, &st, err);
    if (rc != DBMGMT_OK)
        return rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        dm_catalog_add_column(cat, t, column_str(st, 0), column_str(st, 1),
                              !sqlite3_column_int(st, 2), sqlite3_column_int(st, 3));
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? DBMGMT_OK : sqlite_fail(c->db, rc, err, "reading columns");
}

static int catalog_index_columns(dm_dconn *c, dm_catalog *cat, dm_cat_index *ix, dm_error *err)
{
    sqlite3_stmt *st = NULL;
    int rc = catalog_prepare(c, "SELECT name FROM pragma_index_xinfo(?1) WHERE key = 1 ORDER BY seqno",
                             ix->name, &st, err);
    if (rc != DBMGMT_OK)
        return rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        dm_catalog_index_add_column(cat, ix, (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? DBMGMT_OK : sqlite_fail(c->db, rc, err, "reading index columns");
}

/* A rowid table's INTEGER PRIMARY KEY is the rowid itself: it has no index
 * of its own and table_info says notnull = 0, though it can never be NULL.
 * Describe it as the NOT NULL primary index it is, as other engines do. */
static void catalog_rowid_primary(dm_catalog *cat, dm_cat_table *t)
{
    int pk_columns = 0;
    for (size_t i = 0; i < t->ncolumns; i++)
        pk_columns += t->columns[i].pk_position > 0;
    if (pk_columns == 0)
        return;
    char name[300];
    snprintf(name, sizeof name, "%s_rowid_pk", t->name);
    dm_cat_index *ix = dm_catalog_add_index(cat, name, t->name, 1, 1, 0, -1);
    for (int pos = 1; pos <= pk_columns; pos++)
        for (size_t i = 0; i < t->ncolumns; i++)
            if (t->columns[i].pk_position == pos) {
                t->columns[i].nullable = 0;
                dm_catalog_index_add_column(cat, ix, t->columns[i].name);
            }
}

static int catalog_indexes(dm_dconn *c, dm_catalog *cat, dm_cat_table *t, dm_error *err)
{
    sqlite3_stmt *st = NULL;
    int rc = catalog_prepare(c, "SELECT name, \"unique\", origin, partial FROM pragma_index_list(?1) "
                                "ORDER BY name", t->name, &st, err);
    if (rc != DBMGMT_OK)
        return rc;
    int has_pk_index = 0;
    char *table = t->name; /* t may move when the catalog grows: keep the name */
    while (rc == DBMGMT_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        int primary = strcmp(column_str(st, 2), "pk") == 0;
        has_pk_index |= primary;
        dm_cat_index *ix = dm_catalog_add_index(cat, column_str(st, 0), table,
                                                sqlite3_column_int(st, 1), primary,
                                                sqlite3_column_int(st, 3), -1);
        rc = ix ? catalog_index_columns(c, cat, ix, err) : DBMGMT_OK;
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE && rc != DBMGMT_OK)
        return rc < 0 ? rc : sqlite_fail(c->db, rc, err, "reading indexes");
    if (!has_pk_index)
        catalog_rowid_primary(cat, dm_catalog_find_table(cat, table));
    return DBMGMT_OK;
}

/* Columns of the parent's primary key, for a foreign key that names none. */
static const char *parent_pk_column(dm_catalog *cat, const char *parent, int seq)
{
    dm_cat_table *p = dm_catalog_find_table(cat, parent);
    for (size_t i = 0; p && i < p->ncolumns; i++)
        if (p->columns[i].pk_position == seq + 1)
            return p->columns[i].name;
    return "";
}

static int catalog_fks(dm_dconn *c, dm_catalog *cat, const char *table, dm_error *err)
{
    sqlite3_stmt *st = NULL;
    int rc = catalog_prepare(c, "SELECT id, seq, \"table\", \"from\", \"to\" FROM "
                                "pragma_foreign_key_list(?1) ORDER BY id, seq", table, &st, err);
    if (rc != DBMGMT_OK)
        return rc;
    dm_cat_fk *fk = NULL;
    int current_id = -1;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int id = sqlite3_column_int(st, 0);
        if (id != current_id) {
            char name[300];
            snprintf(name, sizeof name, "fk_%s_%d", table, id);
            fk = dm_catalog_add_fk(cat, name, table, column_str(st, 2));
            current_id = id;
        }
        const char *to = sqlite3_column_type(st, 4) == SQLITE_NULL
                             ? parent_pk_column(cat, column_str(st, 2), sqlite3_column_int(st, 1))
                             : column_str(st, 4);
        dm_catalog_fk_add_column(cat, fk, column_str(st, 3), to);
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? DBMGMT_OK : sqlite_fail(c->db, rc, err, "reading foreign keys");
}

static int sqlite_table_exists(dm_dconn *c, const char *schema, const char *name, dm_error *err)
{
    /* on the stack: the boot asks this before anything else, where an
     * allocation it cannot report must not happen */
    char sql[2 * DM_SCHEMA_MAX + 80] = "SELECT 1 FROM ";
    size_t n = strlen(sql);
    if (schema) {
        sql[n++] = '"';
        for (const char *p = schema; *p && n < 2 * DM_SCHEMA_MAX + 10; p++) {
            if (*p == '"')
                sql[n++] = '"';
            sql[n++] = *p;
        }
        sql[n++] = '"';
        sql[n++] = '.';
    }
    snprintf(sql + n, sizeof sql - n, "sqlite_schema WHERE type = 'table' AND name = ?1");
    sqlite3_stmt *st = NULL;
    int rc = catalog_prepare(c, sql, name, &st, err);
    if (rc != DBMGMT_OK)
        return rc;
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc == SQLITE_ROW)
        return 1;
    return rc == SQLITE_DONE ? 0 : sqlite_fail(c->db, rc, err, "looking up a table");
}

/* The migrator's tables live in "main". What a migration may change that
 * outlives it is foreign key enforcement (PRAGMA foreign_keys = OFF in a
 * migration that runs outside a transaction, as SQLite's own recipe for
 * rebuilding a table does); it is read and set through the C API, at no
 * cost to a migration. */
static int sqlite_session_save(dm_dconn *c, dm_session_state *st, dm_error *err)
{
    memset(st, 0, sizeof *st);
    snprintf(st->schema, sizeof st->schema, "main");
    int on = 0;
    int rc = sqlite3_db_config(c->db, SQLITE_DBCONFIG_ENABLE_FKEY, -1, &on);
    if (rc != SQLITE_OK)
        return sqlite_fail(c->db, rc, err, "reading the foreign keys setting");
    st->flags = on;
    return DBMGMT_OK;
}

static int sqlite_session_restore(dm_dconn *c, const dm_session_state *st, dm_error *err)
{
    int on = 0;
    int rc = sqlite3_db_config(c->db, SQLITE_DBCONFIG_ENABLE_FKEY, st->flags, &on);
    if (rc != SQLITE_OK)
        return sqlite_fail(c->db, rc, err, "setting foreign keys back");
    return DBMGMT_OK;
}

static int sqlite_catalog(dm_dconn *c, dm_catalog *cat, dm_error *err)
{
    sqlite3_stmt *st = NULL;
    int rc = catalog_prepare(c, "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT "
                                "LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name", NULL, &st, err);
    if (rc != DBMGMT_OK)
        return rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *name = column_str(st, 0);
        dm_catalog_add_table(cat, name, sqlite_row_estimate(c, name));
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return sqlite_fail(c->db, rc, err, "listing tables");
    size_t ntables = cat->ntables;
    for (size_t i = 0; i < ntables && !cat->failed; i++) {
        rc = catalog_columns(c, cat, &cat->tables[i], err);
        if (rc == DBMGMT_OK)
            rc = catalog_indexes(c, cat, &cat->tables[i], err);
        if (rc != DBMGMT_OK)
            return rc;
    }
    for (size_t i = 0; i < ntables && !cat->failed; i++) {
        rc = catalog_fks(c, cat, cat->tables[i].name, err);
        if (rc != DBMGMT_OK)
            return rc;
    }
    if (cat->failed)
        return dm_error_set(err, DBMGMT_ERR_NOMEM, "out of memory reading the catalog");
    return DBMGMT_OK;
}

/* --- Index advice (issue 9): what-if sessions and statistics -------------- */

/* A scratch in-memory database holding a copy of the schema and of
 * sqlite_stat1, where candidate indexes are created for real: SQLite's
 * planner then sees them as sqlite3_expert's does. */
struct dm_whatif {
    sqlite3 *db;
};

/* Replay the source's tables, views and indexes in the scratch database.
 * A statement the scratch cannot run (a virtual table whose module is not
 * loaded there) is left out: the planner simply does not see that object. */
static int whatif_copy_schema(sqlite3 *src, sqlite3 *dst, dm_error *err)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(src,
                                "SELECT sql FROM sqlite_schema WHERE sql IS NOT NULL "
                                "AND type IN ('table', 'index', 'view') "
                                "AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' "
                                "ORDER BY CASE type WHEN 'table' THEN 0 WHEN 'index' THEN 1 "
                                "ELSE 2 END, rowid",
                                -1, &st, NULL);
    if (rc != SQLITE_OK)
        return sqlite_fail(src, rc, err, "reading the schema for the scratch copy");
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        (void)sqlite3_exec(dst, (const char *)sqlite3_column_text(st, 0), NULL, NULL, NULL);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? DBMGMT_OK
                             : sqlite_fail(src, rc, err, "reading the schema for the scratch copy");
}

/* sqlite_stat1 of the source, so the scratch planner estimates as the real
 * one does. No sqlite_stat1 in the source (never analysed) is not an error. */
static int whatif_copy_stats(sqlite3 *src, sqlite3 *dst, dm_error *err)
{
    sqlite3_stmt *rd = NULL, *wr = NULL;
    if (sqlite3_prepare_v2(src, "SELECT tbl, idx, stat FROM sqlite_stat1", -1, &rd, NULL) !=
        SQLITE_OK) {
        sqlite3_finalize(rd);
        return DBMGMT_OK;
    }
    /* creates sqlite_stat1 (a CREATE TABLE of that name is refused as
     * reserved, IF NOT EXISTS or not) */
    int rc = sqlite3_exec(dst, "ANALYZE sqlite_schema", NULL, NULL, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(dst, "DELETE FROM sqlite_stat1", NULL, NULL, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(dst, "INSERT INTO sqlite_stat1 VALUES (?1, ?2, ?3)", -1, &wr, NULL);
    while (rc == SQLITE_OK && sqlite3_step(rd) == SQLITE_ROW) {
        for (int i = 0; i < 3; i++)
            sqlite3_bind_value(wr, i + 1, sqlite3_column_value(rd, i));
        rc = sqlite3_step(wr) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
        sqlite3_reset(wr);
    }
    sqlite3_finalize(rd);
    sqlite3_finalize(wr);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(dst, "ANALYZE sqlite_schema", NULL, NULL, NULL); /* reload the stats */
    return rc == SQLITE_OK ? DBMGMT_OK : sqlite_fail(dst, rc, err, "copying sqlite_stat1");
}

static int sqlite_whatif_open(dm_dconn *c, dm_whatif **out, dm_error *err)
{
    *out = NULL;
    dm_whatif *w = dm_calloc(1, sizeof *w);
    if (!w)
        return dm_error_set(err, DBMGMT_ERR_NOMEM, "out of memory");
    int rc = sqlite3_open_v2(":memory:", &w->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
    if (rc != SQLITE_OK) {
        rc = sqlite_fail(w->db, rc, err, "opening the scratch database");
        goto fail;
    }
    rc = whatif_copy_schema(c->db, w->db, err);
    if (rc == DBMGMT_OK)
        rc = whatif_copy_stats(c->db, w->db, err);
    if (rc != DBMGMT_OK)
        goto fail;
    *out = w;
    return DBMGMT_OK;
fail:
    sqlite3_close(w->db);
    dm_free(w);
    return rc;
}

static int sqlite_whatif_index(dm_whatif *w, const char *ddl, const char *name, dm_buf *plan_name,
                               dm_error *err)
{
    int rc = sqlite3_exec(w->db, ddl, NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        return sqlite_fail(w->db, rc, err, "creating a candidate index in the scratch database");
    dm_buf_puts(plan_name, name);
    return DBMGMT_OK;
}

static int sqlite_whatif_explain(dm_whatif *w, const char *sql, dm_buf *plan, double *cost,
                                 dm_error *err)
{
    *cost = -1;
    sqlite3_stmt *st = NULL;
    dm_buf q = DM_BUF_INIT;
    dm_buf_puts(&q, "EXPLAIN QUERY PLAN ");
    dm_buf_puts(&q, sql);
    if (dm_buf_failed(&q)) {
        dm_buf_free(&q);
        return dm_error_set(err, DBMGMT_ERR_NOMEM, "out of memory");
    }
    int rc = sqlite3_prepare_v2(w->db, q.data, -1, &st, NULL);
    dm_buf_free(&q);
    if (rc != SQLITE_OK) {
        rc = sqlite_fail(w->db, rc, err, "EXPLAIN QUERY PLAN");
        sqlite3_finalize(st);
        return rc;
    }
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        dm_buf_puts(plan, column_str(st, 3));
        dm_buf_putc(plan, '\n');
    }
    sqlite3_finalize(st);
    if (rc == SQLITE_DONE && dm_buf_failed(plan))
        return dm_error_set(err, DBMGMT_ERR_NOMEM, "out of memory reading a query plan");
    return rc == SQLITE_DONE ? DBMGMT_OK : sqlite_fail(w->db, rc, err, "EXPLAIN QUERY PLAN");
}

static void sqlite_whatif_close(dm_whatif *w)
{
    if (!w)
        return;
    sqlite3_close(w->db);
    dm_free(w);
}

/* From sqlite_stat1: the first number is the table's rows, the second the
 * average rows per distinct value of an index's leading column. */
static int sqlite_column_distinct(dm_dconn *c, const char *table, const char *column,
                                  double *distinct, double *rows, dm_error *err)
{
    (void)err;
    *distinct = -1;
    *rows = -1;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(c->db,
                           "SELECT s.stat FROM sqlite_stat1 s JOIN pragma_index_list(?1) l "
                           "ON l.name = s.idx WHERE s.tbl = ?1 AND (SELECT name FROM "
                           "pragma_index_info(s.idx) WHERE seqno = 0) = ?2 LIMIT 1",
                           -1, &st, NULL) != SQLITE_OK) {
        sqlite3_finalize(st);
        return DBMGMT_OK; /* never analysed */
    }
    sqlite3_bind_text(st, 1, table, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, column, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(st) == SQLITE_ROW) {
        double n = 0, per = 0;
        if (sscanf(column_str(st, 0), "%lf %lf", &n, &per) == 2 && per > 0) {
            *rows = n;
            *distinct = n / per;
        }
    }
    sqlite3_finalize(st);
    return DBMGMT_OK;
}

const dm_driver dm_sqlite_driver = {
    .engine = DBMGMT_ENGINE_SQLITE,
    .name = "sqlite",
    .ddl_transactional = 1,
    .exec_takes_scripts = 1,
    .lock_is_transaction = 1,
    .connect = sqlite_connect,
    .close = sqlite_close,
    .exec = sqlite_exec,
    .prepare = sqlite_prepare,
    .param_count = sqlite_param_count,
    .bind = sqlite_bind,
    .execute = sqlite_execute,
    .next = sqlite_next,
    .column_count = sqlite_column_count,
    .column_name = sqlite_column_name,
    .column_is_null = sqlite_column_is_null,
    .column_text = sqlite_column_text,
    .column_blob = sqlite_column_blob,
    .column_int64 = sqlite_column_int64,
    .column_double = sqlite_column_double,
    .column_type = sqlite_column_type,
    .affected_rows = sqlite_affected_rows,
    .reset = sqlite_reset,
    .finalize = sqlite_finalize,
    .begin = sqlite_begin,
    .commit = sqlite_commit,
    .rollback = sqlite_rollback,
    .in_transaction = sqlite_in_transaction,
    .ping = sqlite_ping,
    .native = sqlite_native,
    .lock = sqlite_lock,
    .unlock = sqlite_unlock,
    .catalog = sqlite_catalog,
    .table_exists = sqlite_table_exists,
    .session_save = sqlite_session_save,
    .session_restore = sqlite_session_restore,
    .quote_ident = dm_quote_ident_standard,
    .whatif_open = sqlite_whatif_open,
    .whatif_index = sqlite_whatif_index,
    .whatif_explain = sqlite_whatif_explain,
    .whatif_close = sqlite_whatif_close,
    .column_distinct = sqlite_column_distinct,
#if DM_HAVE_HEALTH /* -Dhealth=false leaves lib/health and its callers out */
    .health = dm_sqlite_health,
#endif
};
