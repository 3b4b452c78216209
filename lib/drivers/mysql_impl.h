/*
 * What the MySQL / MariaDB driver's files share (lib/drivers/mysql*.c):
 * mysql.c (the Connector/C table, errors, connections, transactions, the
 * vtable), mysql_stmt.c (prepared statements and their results),
 * mysql_schema.c (catalog, table lookup, session state, index-advice
 * statistics), mysql_cluster.c (named locks, replication and Galera) and
 * mysql_health.c (the health op, issue 20).
 */
#ifndef DM_DRIVERS_MYSQL_IMPL_H
#define DM_DRIVERS_MYSQL_IMPL_H

#include <mysql.h>
#include <stdint.h>

#include "driver.h"

#ifndef MARIADB_PACKAGE_VERSION_ID
#error "the MySQL driver needs MariaDB Connector/C (libmariadb-dev), not Oracle's libmysqlclient"
#endif

/* The Connector/C functions this driver calls, through `dm_mariadb.NAME(...)`:
 * a table filled when the first mysql:// DSN is opened (lazy.h), so a
 * process that never uses MySQL never loads Connector/C. */
#define DM_MARIADB_FUNCTIONS(X) \
    X(mariadb_get_infov) X(mysql_close) X(mysql_commit) X(mysql_errno) X(mysql_error) \
    X(mysql_fetch_fields) X(mysql_field_count) X(mysql_free_result) X(mysql_get_ssl_cipher) \
    X(mysql_init) X(mysql_next_result) X(mysql_num_fields) X(mysql_optionsv) X(mysql_ping) \
    X(mysql_real_connect) X(mysql_real_escape_string) X(mysql_real_query) X(mysql_rollback) \
    X(mysql_set_server_option) X(mysql_sqlstate) \
    X(mysql_stmt_affected_rows) X(mysql_stmt_attr_set) X(mysql_stmt_bind_param) \
    X(mysql_stmt_bind_result) X(mysql_stmt_close) X(mysql_stmt_errno) X(mysql_stmt_error) \
    X(mysql_stmt_execute) X(mysql_stmt_fetch) X(mysql_stmt_fetch_column) \
    X(mysql_stmt_field_count) X(mysql_stmt_free_result) X(mysql_stmt_init) \
    X(mysql_stmt_param_count) X(mysql_stmt_prepare) X(mysql_stmt_result_metadata) \
    X(mysql_stmt_sqlstate) X(mysql_stmt_store_result) X(mysql_store_result)

typedef struct dm_mariadb_functions {
#define DM_FUNCTION_POINTER(name) __typeof__(name) *name;
    DM_MARIADB_FUNCTIONS(DM_FUNCTION_POINTER)
#undef DM_FUNCTION_POINTER
} dm_mariadb_functions;

/* Filled on the first mysql:// connect (mysql.c). */
extern dm_mariadb_functions dm_mariadb;

#define MY_DEFAULT_CONNECT_TIMEOUT_S 10
#define MY_LOCK_NAME_MAX 64          /* MySQL's limit on GET_LOCK names */
/* Fits any number rendered as text: Connector/C renders a DOUBLE with
 * as many digits as the buffer holds (17 significant digits need ~24
 * bytes) instead of reporting truncation. */
#define MY_COLUMN_MIN_BUFFER 128
#define MY_LOCK_FIRST_SLEEP_MS 5
#define MY_LOCK_MAX_SLEEP_MS 50

/* Server and client error numbers that mean the session is gone. */
#define ER_SERVER_SHUTDOWN_ 1053
#define ER_CONNECTION_KILLED_ 1927
#define ER_CLIENT_INTERACTION_TIMEOUT_ 4031 /* MySQL 8.0.24+ */

#define MY_MAX_HOSTS 16              /* hosts of one multi-host DSN */
#define MY_DEFAULT_LOCK_LEASE_S 30   /* the Galera migration lock's lease */
#define MY_LOCK_TABLE "dbmgmt_migration_lock" /* that lock's table, in the app's database */
#define MY_MIN_LOCK_LEASE_S 3
#define MY_LOCK_MODE_AUTO 0          /* DSN migration_lock: a row on Galera, else GET_LOCK */
#define MY_LOCK_MODE_ROW 1
#define MY_LOCK_MODE_GET_LOCK 2

/* One host of a DSN (name NULL: Connector/C's default socket). */
typedef struct my_host {
    const char *name;
    int port;
    char buf[256];
} my_host;

typedef struct my_lease my_lease;

struct dm_dconn {
    MYSQL *db;
    char where[300];         /* the server it is connected to, for messages */
    int lock_mode;           /* MY_LOCK_MODE_* */
    unsigned int lease_s;    /* the Galera migration lock's lease */
    my_lease *lease;         /* that lock while held, with its renewing thread */
    int multi_statements;    /* turned on by exec_followed, until exec_followed_end */
};

/* A bound parameter's storage, owned by the statement. */
typedef struct param_slot {
    int64_t i;
    double d;
    char *bytes; /* text / blob copy (never NULL for those types) */
    unsigned long len;
    my_bool is_null;
} param_slot;

/* A result column's fetch buffer: the value as bytes plus a NUL. */
typedef struct column_slot {
    char *buf;
    unsigned long cap; /* bytes usable for data; buf holds cap + 1 */
    unsigned long len;
    my_bool is_null;
    my_bool truncated;
} column_slot;

struct dm_dstmt {
    dm_dconn *conn;
    MYSQL_STMT *stmt;
    unsigned long nparams;
    MYSQL_BIND *param_binds;
    param_slot *params;
    unsigned int ncolumns; /* of the current execution's result set */
    MYSQL_RES *meta;       /* its column descriptions, NULL when it has none */
    MYSQL_BIND *column_binds;
    column_slot *columns;
    unsigned int columns_cap; /* allocated length of column_binds / columns */
    int has_result; /* execute left a buffered result set to read */
    int done;       /* next() reached its end */
    int64_t affected;
};


/* mysql.c: the connection's last error (or the statement's), prefixed by
 * context, as a dm_error with MySQL's SQLSTATE and the status it maps to. */
int dm_my_fail(MYSQL *db, dm_error *err, const char *context);
int dm_my_stmt_fail(dm_dstmt *s, dm_error *err, const char *context);
/* Run one statement (or several), discarding every result. */
int dm_my_run_query(dm_dconn *c, const char *sql, size_t len, dm_error *err, const char *context);

/* mysql_stmt.c: the vtable's statement operations. */
void dm_my_finalize(dm_dstmt *s);
int dm_my_prepare(dm_dconn *c, const char *sql, int one_shot, dm_dstmt **out, dm_error *err);
int32_t dm_my_param_count(const dm_dstmt *s);
int dm_my_bind(dm_dstmt *s, int32_t index, const dm_value *v, dm_error *err);
int dm_my_execute(dm_dstmt *s, dm_error *err);
int dm_my_next(dm_dstmt *s, dm_error *err);
int32_t dm_my_column_count(const dm_dstmt *s);
const char *dm_my_column_name(const dm_dstmt *s, int32_t col);
int dm_my_column_is_null(dm_dstmt *s, int32_t col);
const char *dm_my_column_text(dm_dstmt *s, int32_t col);
const void *dm_my_column_blob(dm_dstmt *s, int32_t col, size_t *len);
double dm_my_column_double(dm_dstmt *s, int32_t col);
int64_t dm_my_column_int64(dm_dstmt *s, int32_t col);
dm_value_type dm_my_column_type(dm_dstmt *s, int32_t col);
int64_t dm_my_affected_rows(const dm_dstmt *s);
void dm_my_reset(dm_dstmt *s);

/* mysql_schema.c: the vtable's catalog, session and advice operations. */
int dm_my_table_exists(dm_dconn *c, const char *schema, const char *name, dm_error *err);
int dm_my_session_save(dm_dconn *c, dm_session_state *st, dm_error *err);
int dm_my_session_restore(dm_dconn *c, const dm_session_state *st, dm_error *err);
void dm_my_quote_ident(dm_buf *out, const char *name);
int dm_my_column_distinct(dm_dconn *c, const char *table, const char *column, double *distinct,
                          double *rows, dm_error *err);
int dm_my_workload(dm_dconn *c, void (*fn)(void *userdata, const char *sql, double calls),
                   void *userdata, dm_error *err);
int dm_my_catalog(dm_dconn *c, dm_catalog *cat, dm_error *err);

/* mysql_cluster.c: named locks, and a one-row integer query with one text
 * parameter that they are built on. */
int dm_my_int_query_open(dm_dconn *c, const char *sql, const char *arg, dm_dstmt **out,
                         dm_error *err);
int dm_my_int_query_run(dm_dstmt *s, int64_t *value, int *is_null, dm_error *err);
int dm_my_lock(dm_dconn *c, const char *name, int32_t timeout_ms, dm_error *err);
int dm_my_unlock(dm_dconn *c, const char *name, dm_error *err);

/* mysql_cluster.c: hosts, writability, replication and the Galera lock. */
int dm_my_parse_hosts(const dm_dsn *dsn, my_host hosts[MY_MAX_HOSTS], int *n, dm_error *err);
/* 1 when the server accepts writes (read_only = OFF and, on Galera, a
 * ready node), 0 with why in reason, < 0 on error. */
int dm_my_writable(dm_dconn *c, char *reason, size_t len, dm_error *err);
int dm_my_standby_reason(dm_dconn *c, char *reason, size_t len, dm_error *err);
int dm_my_galera_node(dm_dconn *c, dm_error *err);
int dm_my_repl_state(dm_dconn *c, dm_repl_state *st, dm_error *err);
int dm_my_position_diff(const char *a, const char *b, int64_t *diff, dm_error *err);
int dm_my_wait_position(dm_dconn *c, const char *position, int32_t timeout_ms, dm_error *err);
int dm_my_migration_lock(dm_dconn *c, const char *name, int32_t timeout_ms, dm_error *err);
int dm_my_migration_unlock(dm_dconn *c, const char *name, dm_error *err);
int dm_my_migration_lock_check(dm_dconn *c, const char *name, dm_error *err);
/* Stop the lease's renewing thread and forget the lease (close). */
void dm_my_lease_stop(dm_dconn *c);

/* mysql_health.c: the health op (issue 20). */
struct dbmgmt_health;
int dm_my_health(dm_dconn *c, struct dbmgmt_health *h, dm_error *err);

#endif
