/* Internal view of connections, shared with pool/migrate/backup/advise. */
#ifndef DM_CONN_CONN_H
#define DM_CONN_CONN_H

#include "dbmgmt/conn.h"
#include "drivers/driver.h"

struct dbmgmt_conn {
    const dm_driver *drv;
    dm_dconn *dc;
    dm_dsn *dsn;
    dm_error err;
    int broken; /* a call returned DBMGMT_ERR_CLOSED: the session is gone for good */
    int read_only_seen; /* a write failed as read-only (SQLSTATE 25006): a demoted primary */
    /* Pooled connections (lib/pool): the pool's entry for this connection,
     * and what dbmgmt_conn_close() does instead of closing it (returns it to
     * the pool). Both NULL for a connection that is not pooled. */
    void *pool_slot;
    void (*pool_return)(dbmgmt_conn *conn);
};

struct dbmgmt_stmt {
    dbmgmt_conn *conn;
    dm_dstmt *ds;
    dbmgmt_result *active; /* the result of the current execution, if any */
};

struct dbmgmt_result {
    dbmgmt_conn *conn;
    dbmgmt_stmt *stmt;
    int owns_stmt; /* made by dbmgmt_conn_query: freed with the result */
    int on_row;    /* a row is current */
};

/* Run one statement already split by the caller (no second split, no
 * "statement N" prefix on errors). */
int dm_conn_exec_statement(dbmgmt_conn *conn, const char *sql);
/* The same for a statement from the splitter: a PostgreSQL COPY ... FROM
 * stdin is run with its data block. */
struct dm_sql_stmt;
int dm_conn_exec_split(dbmgmt_conn *conn, const struct dm_sql_stmt *st);
/* A statement from the splitter, then - only when it succeeded - follow
 * (one statement of ours returning no rows), in one round trip where the
 * driver can (driver.h exec_followed); either failure is returned.
 * dm_conn_exec_followed_end puts the session back as it was: call it once
 * after a run of these. */
int dm_conn_exec_followed(dbmgmt_conn *conn, const struct dm_sql_stmt *st, const char *follow);
int dm_conn_exec_followed_end(dbmgmt_conn *conn);

/* After a driver call outside conn.c returned rc: a lost session marks the
 * connection broken, and the password is scrubbed from the message (on the
 * connection and the thread). Returns rc. */
int dm_conn_failed(dbmgmt_conn *conn, int rc);

/* Record a failure on the connection (and the thread). Returns code. */
#define dm_conn_fail(conn, ...) dm_error_set(&(conn)->err, __VA_ARGS__)

#endif
