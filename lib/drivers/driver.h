/*
 * The internal driver vtable (DESIGN §3). One static dm_driver per engine;
 * engine-specific SQL lives behind it and nowhere else. Every function that
 * can fail takes the dm_error to fill and returns a dbmgmt status.
 *
 * Statement life cycle: prepare -> (bind*) -> execute -> next* -> reset ->
 * (bind*) -> execute ... -> finalize. After execute, the first next() returns
 * the first row (1) or the end (0); affected_rows() is valid once execute
 * returns for statements without rows.
 */
#ifndef DM_DRIVERS_DRIVER_H
#define DM_DRIVERS_DRIVER_H

#include <stddef.h>
#include <stdint.h>

#include "core/dsn.h"
#include "core/error.h"

typedef struct dm_dconn dm_dconn; /* a driver's connection */
typedef struct dm_dstmt dm_dstmt; /* a driver's prepared statement */

typedef enum dm_value_type {
    DM_VALUE_NULL,
    DM_VALUE_INT64,
    DM_VALUE_DOUBLE,
    DM_VALUE_TEXT,
    DM_VALUE_BLOB
} dm_value_type;

/* A bind value; text/blob bytes are borrowed for the call (drivers copy). */
typedef struct dm_value {
    dm_value_type type;
    int64_t i;
    double d;
    const void *bytes;
    size_t len;
} dm_value;

typedef struct dm_driver {
    dbmgmt_engine engine;
    const char *name;
    /* Whether DDL statements take part in transactions (PostgreSQL, SQLite). */
    int ddl_transactional;

    int (*connect)(const dm_dsn *dsn, dm_dconn **out, dm_error *err);
    void (*close)(dm_dconn *c);
    /* Run SQL discarding rows; SQLite accepts a script here, the network
     * engines one statement (the connection layer splits scripts for them). */
    int (*exec)(dm_dconn *c, const char *sql, dm_error *err);

    int (*prepare)(dm_dconn *c, const char *sql, dm_dstmt **out, dm_error *err);
    int32_t (*param_count)(const dm_dstmt *s);
    int (*bind)(dm_dstmt *s, int32_t index, const dm_value *v, dm_error *err);
    int (*execute)(dm_dstmt *s, dm_error *err);
    int (*next)(dm_dstmt *s, dm_error *err); /* 1 row, 0 end, <0 status */
    int32_t (*column_count)(const dm_dstmt *s);
    const char *(*column_name)(const dm_dstmt *s, int32_t col);
    int (*column_is_null)(dm_dstmt *s, int32_t col);
    const char *(*column_text)(dm_dstmt *s, int32_t col);
    const void *(*column_blob)(dm_dstmt *s, int32_t col, size_t *len);
    int64_t (*column_int64)(dm_dstmt *s, int32_t col);
    double (*column_double)(dm_dstmt *s, int32_t col);
    int64_t (*affected_rows)(const dm_dstmt *s);
    void (*reset)(dm_dstmt *s); /* end the current execution, keep binds */
    void (*finalize)(dm_dstmt *s);

    int (*begin)(dm_dconn *c, dm_error *err);
    int (*commit)(dm_dconn *c, dm_error *err);
    int (*rollback)(dm_dconn *c, dm_error *err);
    int (*in_transaction)(const dm_dconn *c); /* no round trip */
    int (*ping)(dm_dconn *c, dm_error *err);
    void *(*native)(dm_dconn *c);
} dm_driver;

/* The driver for an engine, or NULL (with err set to DBMGMT_ERR_UNSUPPORTED
 * naming the build option) when this build has none. */
const dm_driver *dm_driver_for(dbmgmt_engine engine, dm_error *err);

extern const dm_driver dm_sqlite_driver;
extern const dm_driver dm_postgres_driver; /* when DM_HAVE_POSTGRES */
extern const dm_driver dm_mysql_driver;    /* when DM_HAVE_MYSQL */

#endif
