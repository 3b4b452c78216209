/*
 * What the PostgreSQL driver's files share (lib/drivers/postgres*.c):
 * postgres.c (the libpq table, connections, statements, transactions, the
 * vtable), postgres_schema.c (catalog, table lookup, session state),
 * postgres_advise.c (HypoPG what-if sessions, statistics, workload) and
 * postgres_cluster.c (named locks; replication and standby state) and
 * postgres_health.c (the health op: statistics views, issue 20).
 */
#ifndef DM_DRIVERS_POSTGRES_IMPL_H
#define DM_DRIVERS_POSTGRES_IMPL_H

#include <libpq-fe.h>

#include "driver.h"

/* The libpq functions this driver calls, through `dm_libpq.NAME(...)`: a table
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

struct dm_dconn {
    PGconn *pg;
    unsigned next_statement_id;
};

/* Filled on the first postgres:// connect (postgres.c). */
extern dm_libpq_functions dm_libpq;

/* 1 when the connection is gone: libpq says so, or the server ended the
 * session (class 08, admin shutdown / terminate 57P01..57P03). */
int dm_pg_is_broken(PGconn *pg, const char *sqlstate);
/* Record res's error (or the connection's) in err, with context first;
 * DBMGMT_ERR_CLOSED when the connection is broken, else DBMGMT_ERR_SQL. */
int dm_pg_fail(dm_dconn *c, PGresult *res, dm_error *err, const char *context);
/* A statement without parameters; OK for commands and row results. */
int dm_pg_simple(dm_dconn *c, const char *sql, dm_error *err, const char *context);
/* A query with n text parameters; *out (PQclear) or an error. */
int dm_pg_params(dm_dconn *c, const char *sql, int n, const char *const *values, PGresult **out,
                 dm_error *err, const char *context);

/* postgres_schema.c */
int dm_pg_table_exists(dm_dconn *c, const char *schema, const char *name, dm_error *err);
int dm_pg_session_save(dm_dconn *c, dm_session_state *st, dm_error *err);
int dm_pg_session_schema(dm_dconn *c, const char *schema, const char *table,
                         dm_session_state *st, int *table_exists, dm_error *err);
int dm_pg_session_restore(dm_dconn *c, const dm_session_state *st, dm_error *err);
int dm_pg_catalog(dm_dconn *c, dm_catalog *cat, dm_error *err);

/* postgres_advise.c */
int dm_pg_whatif_open(dm_dconn *c, dm_whatif **out, dm_error *err);
int dm_pg_whatif_index(dm_whatif *w, const char *ddl, const char *name, dm_buf *plan_name,
                       dm_error *err);
int dm_pg_whatif_explain(dm_whatif *w, const char *sql, dm_buf *plan, double *cost,
                         dm_error *err);
void dm_pg_whatif_close(dm_whatif *w);
int dm_pg_column_distinct(dm_dconn *c, const char *table, const char *column, double *distinct,
                          double *rows, dm_error *err);
int dm_pg_workload(dm_dconn *c, void (*fn)(void *userdata, const char *sql, double calls),
                   void *userdata, dm_error *err);

/* postgres_cluster.c */
int dm_pg_lock(dm_dconn *c, const char *name, int32_t timeout_ms, dm_error *err);
int dm_pg_unlock(dm_dconn *c, const char *name, dm_error *err);
int dm_pg_repl_state(dm_dconn *c, dm_repl_state *st, dm_error *err);
int dm_pg_position_diff(const char *a, const char *b, int64_t *diff, dm_error *err);
int dm_pg_wait_position(dm_dconn *c, const char *position, int32_t timeout_ms, dm_error *err);
int dm_pg_migration_lock(dm_dconn *c, const char *name, int32_t timeout_ms, dm_error *err);
int dm_pg_migration_unlock(dm_dconn *c, const char *name, dm_error *err);
int dm_pg_standby_reason(dm_dconn *c, char *reason, size_t len, dm_error *err);

/* postgres_health.c */
struct dbmgmt_health;
int dm_pg_health(dm_dconn *c, struct dbmgmt_health *h, dm_error *err);

#endif
