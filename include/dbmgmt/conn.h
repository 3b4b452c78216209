/*
 * libdbmgmt — connections, queries, prepared statements, results.
 *
 * Threads: a dbmgmt_conn and everything made from it (statements, results)
 * belong to one thread at a time; different connections may be used from
 * different threads at once. Error detail is on the connection
 * (dbmgmt_conn_errmsg) and mirrored per thread (dbmgmt_errmsg).
 */
#ifndef DBMGMT_CONN_H
#define DBMGMT_CONN_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct dbmgmt_conn dbmgmt_conn;
typedef struct dbmgmt_stmt dbmgmt_stmt;
typedef struct dbmgmt_result dbmgmt_result;

/*
 * Open a connection. dsn is a URL (DESIGN §3):
 *   sqlite:///abs/path.db   sqlite:relative.db   sqlite::memory:
 *   sqlite:app.db?mode=ro&busy_timeout=2000   (mode: ro, rw, rwc (default), memory)
 *   postgres://user:pass@host:port/db?sslmode=require
 *   mysql://user:pass@host:port/db?ssl-mode=REQUIRED
 * NULL means getenv("DATABASE_URL"). On success *out is the connection; on
 * failure *out is NULL and the status is DBMGMT_ERR_PARSE (malformed DSN),
 * DBMGMT_ERR_UNSUPPORTED (engine not built: the message names the meson
 * option), DBMGMT_ERR_CONNECT (cannot open or reach it), DBMGMT_ERR_NOMEM or
 * DBMGMT_ERR_INVALID (out is NULL). Detail in dbmgmt_errmsg(); it never
 * contains the password.
 * SQLite connections have foreign keys on, extended error codes and a busy
 * timeout (5000 ms unless busy_timeout= says otherwise).
 */
DBMGMT_API int dbmgmt_conn_open(dbmgmt_conn **out, const char *dsn);

/* Close the connection, rolling back any open transaction. Statements and
 * results made from it must be freed first. Accepts NULL. */
DBMGMT_API void dbmgmt_conn_close(dbmgmt_conn *conn);

/* The engine of the connection; DBMGMT_ENGINE_NONE for NULL. */
DBMGMT_API dbmgmt_engine dbmgmt_conn_engine(const dbmgmt_conn *conn);

/*
 * Run a script of one or more statements, one after the other, discarding
 * any rows. Stops at the first failing statement (earlier ones stay done,
 * unless the caller wrapped the call in a transaction); the message then
 * names the statement's number and line, and the engine's own message.
 */
DBMGMT_API int dbmgmt_conn_exec(dbmgmt_conn *conn, const char *sql_script);

/*
 * Run one statement with `?` placeholders bound to text parameters (NULL
 * entries are SQL NULL). On success *out is a result to read with
 * dbmgmt_result_next() and free with dbmgmt_result_free(); for statements
 * without rows it still reports dbmgmt_result_affected_rows().
 */
DBMGMT_API int dbmgmt_conn_query(dbmgmt_conn *conn, dbmgmt_result **out, const char *sql,
                                 size_t nparams, const char *const *params);

/* Prepare one statement with `?` placeholders for typed binds. */
DBMGMT_API int dbmgmt_conn_prepare(dbmgmt_conn *conn, dbmgmt_stmt **out, const char *sql);
/* Binds; indexes start at 1. A bind stays until it is replaced; the library
 * copies text and blob values. */
DBMGMT_API int dbmgmt_stmt_bind_null(dbmgmt_stmt *stmt, int32_t index);
DBMGMT_API int dbmgmt_stmt_bind_int64(dbmgmt_stmt *stmt, int32_t index, int64_t value);
DBMGMT_API int dbmgmt_stmt_bind_double(dbmgmt_stmt *stmt, int32_t index, double value);
DBMGMT_API int dbmgmt_stmt_bind_text(dbmgmt_stmt *stmt, int32_t index, const char *utf8);
DBMGMT_API int dbmgmt_stmt_bind_blob(dbmgmt_stmt *stmt, int32_t index, const void *data,
                                     size_t len);
/* The number of placeholders in the statement (0 for NULL). */
DBMGMT_API int32_t dbmgmt_stmt_param_count(const dbmgmt_stmt *stmt);
/*
 * Execute the statement with its current binds. With out non-NULL, *out is
 * a result the caller frees before executing the statement again; with out
 * NULL the statement runs to completion and any rows are discarded.
 */
DBMGMT_API int dbmgmt_stmt_execute(dbmgmt_stmt *stmt, dbmgmt_result **out_or_null);
/* Free a statement; accepts NULL. */
DBMGMT_API void dbmgmt_stmt_free(dbmgmt_stmt *stmt);

/* Advance to the next row: 1 = a row is current, 0 = no more rows, negative
 * = a status (the detail is on the connection). */
DBMGMT_API int dbmgmt_result_next(dbmgmt_result *result);
DBMGMT_API int32_t dbmgmt_result_column_count(const dbmgmt_result *result);
/* Column name, owned by the result; NULL for a bad index. */
DBMGMT_API const char *dbmgmt_result_column_name(const dbmgmt_result *result, int32_t col);
/* Column values of the current row (columns from 0). 1 if SQL NULL. */
DBMGMT_API int dbmgmt_result_is_null(const dbmgmt_result *result, int32_t col);
/* Text of the value; NULL for SQL NULL or a bad index. Owned by the result,
 * valid until the next dbmgmt_result_next() or dbmgmt_result_free(). */
DBMGMT_API const char *dbmgmt_result_text(dbmgmt_result *result, int32_t col);
/* Numeric values; 0 for NULL, a bad index or text that is not a number. */
DBMGMT_API int64_t dbmgmt_result_int64(dbmgmt_result *result, int32_t col);
DBMGMT_API double dbmgmt_result_double(dbmgmt_result *result, int32_t col);
/* Bytes of the value and their count in *len (which may be NULL); NULL for
 * SQL NULL. A zero-length non-NULL value returns a non-NULL pointer. Same
 * lifetime as dbmgmt_result_text(). */
DBMGMT_API const void *dbmgmt_result_blob(dbmgmt_result *result, int32_t col, size_t *len);
/*
 * The type of column col's value in the current row, so that a binding can
 * hand back its own language's int, float, str, bytes or None without
 * guessing from text:
 *   SQLite: the value's storage class;
 *   PostgreSQL: from the column's type: int2/int4/int8/oid and bool (0/1)
 *   INT64, float4/float8 DOUBLE, bytea BLOB, anything else TEXT (numeric
 *   too: its exact decimal digits);
 *   MySQL/MariaDB: integer types (not BIGINT UNSIGNED) INT64, FLOAT/DOUBLE
 *   DOUBLE, binary strings and BLOBs BLOB, anything else TEXT (DECIMAL too).
 * DBMGMT_TYPE_NULL for an SQL NULL. A negative status
 * (DBMGMT_ERR_INVALID) for a NULL result, a bad index or no current row.
 * Read the value with the matching accessor: dbmgmt_result_int64(),
 * _double(), _text() or _blob().
 */
typedef enum dbmgmt_value_type {
    DBMGMT_TYPE_NULL = 0,
    DBMGMT_TYPE_INT64 = 1,
    DBMGMT_TYPE_DOUBLE = 2,
    DBMGMT_TYPE_TEXT = 3,
    DBMGMT_TYPE_BLOB = 4
} dbmgmt_value_type;
DBMGMT_API int32_t dbmgmt_result_column_type(dbmgmt_result *result, int32_t col);
/* Rows changed by an INSERT, UPDATE or DELETE; 0 for others. */
DBMGMT_API int64_t dbmgmt_result_affected_rows(const dbmgmt_result *result);
/* Free a result; accepts NULL. */
DBMGMT_API void dbmgmt_result_free(dbmgmt_result *result);

/* Transactions. begin inside a transaction is DBMGMT_ERR_BUSY. */
DBMGMT_API int dbmgmt_conn_begin(dbmgmt_conn *conn);
DBMGMT_API int dbmgmt_conn_commit(dbmgmt_conn *conn);
DBMGMT_API int dbmgmt_conn_rollback(dbmgmt_conn *conn);
/* 1 if a transaction is open, 0 if not, negative status on misuse. No
 * round trip to the server. */
DBMGMT_API int dbmgmt_conn_in_transaction(const dbmgmt_conn *conn);
/* Round trip to check that the connection still works: DBMGMT_OK or
 * DBMGMT_ERR_CLOSED. */
DBMGMT_API int dbmgmt_conn_ping(dbmgmt_conn *conn);
/*
 * Read your writes (issue 18): after a commit on the primary, the position
 * its changes are at, as a printable, opaque string (PostgreSQL: the WAL
 * LSN, like "0/16B3748") that may travel in a cookie or a queue message to
 * another process, which passes it to dbmgmt_pool_acquire_read_after() to
 * get a replica that has replayed past it. At most 64 bytes with its NUL.
 * DBMGMT_ERR_INVALID inside a transaction or on a standby,
 * DBMGMT_ERR_UNSUPPORTED on an engine without replicas (SQLite).
 */
DBMGMT_API int dbmgmt_conn_write_position(dbmgmt_conn *conn, char *buf, size_t len);

/*
 * A named lock between sessions, held until dbmgmt_conn_unlock() or until the
 * connection closes (also when the process dies): PostgreSQL advisory lock
 * on a 64-bit key derived from the name, MySQL/MariaDB GET_LOCK(name), and on
 * SQLite the database's write lock (BEGIN IMMEDIATE; the name is not used
 * and the lock is a transaction that unlock commits). Waits up to timeout_ms
 * (0: try once) and then returns DBMGMT_ERR_TIMEOUT.
 */
DBMGMT_API int dbmgmt_conn_lock(dbmgmt_conn *conn, const char *name, int32_t timeout_ms);
/* Release a lock taken with dbmgmt_conn_lock; DBMGMT_ERR_NOTFOUND if it is
 * not held by this connection. */
DBMGMT_API int dbmgmt_conn_unlock(dbmgmt_conn *conn, const char *name);

/* 1 if DDL statements take part in transactions on this engine (PostgreSQL,
 * SQLite), 0 if they commit implicitly (MySQL/MariaDB). */
DBMGMT_API int dbmgmt_conn_ddl_transactional(const dbmgmt_conn *conn);

/*
 * The schema of the current database / schema as JSON (docs/schema-json.md):
 * tables with columns, indexes with their key columns in order, foreign
 * keys, row estimates and index usage counters where the engine keeps them,
 * in a canonical order so the same schema reads the same on every engine.
 * *out is the caller's, freed with dbmgmt_free().
 */
DBMGMT_API int dbmgmt_conn_schema_json(dbmgmt_conn *conn, char **out);

/* The engine's own handle: sqlite3 *, PGconn * or MYSQL *. Owned by the
 * connection; do not close it. NULL for NULL. */
DBMGMT_API void *dbmgmt_conn_native(dbmgmt_conn *conn);

/* The message and SQLSTATE-like code (5 characters, "" if none) of the last
 * failure on this connection. Owned by the connection; valid until its next
 * call. SQLite has no SQLSTATE: its extended result codes are mapped (see
 * docs/errors.md). */
DBMGMT_API const char *dbmgmt_conn_errmsg(const dbmgmt_conn *conn);
DBMGMT_API const char *dbmgmt_conn_sqlstate(const dbmgmt_conn *conn);

#ifdef __cplusplus
}
#endif
#endif /* DBMGMT_CONN_H */
