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

#include "core/buf.h"
#include "core/dsn.h"
#include "core/error.h"

typedef struct dm_dconn dm_dconn; /* a driver's connection */
typedef struct dm_dstmt dm_dstmt; /* a driver's prepared statement */
typedef struct dm_whatif dm_whatif; /* a driver's what-if (hypothetical index) session */
struct dbmgmt_health;               /* a health snapshot (lib/health/health_impl.h) */

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

/*
 * The catalog: a logical description of the schema that every engine fills
 * the same way (DESIGN §3), for the advisor, the linter and the conformance
 * suite. Names are as the engine stores them (unquoted). Built with the
 * dm_catalog_* functions in catalog.c, which own all the memory.
 */
typedef struct dm_cat_column {
    char *name;
    char *type;      /* the engine's own type name, lower case */
    int nullable;
    int pk_position; /* 0: not in the primary key; else 1-based position */
} dm_cat_column;

typedef struct dm_cat_table {
    char *name;
    dm_cat_column *columns; /* in ordinal order */
    size_t ncolumns;
    int64_t row_estimate;   /* -1 when the engine has no estimate */
} dm_cat_table;

typedef struct dm_cat_index {
    char *name;
    char *table;
    char **columns; /* key columns in order; "(expression)" for an expression */
    size_t ncolumns;
    int unique;
    int primary;
    int partial;
    int expression;
    int64_t scans;  /* usage counter; -1 when the engine keeps none */
} dm_cat_index;

typedef struct dm_cat_fk {
    char *name;
    char *table;
    char *ref_table;
    char **columns;
    char **ref_columns;
    size_t ncolumns;
} dm_cat_fk;

typedef struct dm_catalog {
    dm_cat_table *tables;
    size_t ntables;
    dm_cat_index *indexes;
    size_t nindexes;
    dm_cat_fk *fks;
    size_t nfks;
    int failed; /* an allocation failed while building */
} dm_catalog;

/* Builders: each returns the new element, or NULL (and sets failed) when
 * memory runs out; later calls on a failed catalog do nothing. */
dm_cat_table *dm_catalog_add_table(dm_catalog *cat, const char *name, int64_t row_estimate);
dm_cat_table *dm_catalog_find_table(dm_catalog *cat, const char *name);
void dm_catalog_add_column(dm_catalog *cat, dm_cat_table *t, const char *name, const char *type,
                           int nullable, int pk_position);
dm_cat_index *dm_catalog_add_index(dm_catalog *cat, const char *name, const char *table,
                                   int unique, int primary, int partial, int64_t scans);
/* column NULL marks an expression key part. */
void dm_catalog_index_add_column(dm_catalog *cat, dm_cat_index *ix, const char *column);
dm_cat_fk *dm_catalog_add_fk(dm_catalog *cat, const char *name, const char *table,
                             const char *ref_table);
void dm_catalog_fk_add_column(dm_catalog *cat, dm_cat_fk *fk, const char *column,
                              const char *ref_column);
/* Sort into the canonical order (tables by name; indexes and foreign keys
 * by table, then columns) so equal schemas render equally. */
void dm_catalog_sort(dm_catalog *cat);
/* Render as JSON (docs/schema-json.md) into out. */
void dm_catalog_to_json(const dm_catalog *cat, dm_buf *out);
/* Free the contents (not cat itself). */
void dm_catalog_clear(dm_catalog *cat);

/* The session a migrator works in (issue 17): where its own tables live,
 * resolved once (PostgreSQL's current schema, MySQL's current database,
 * SQLite's "main"), and what puts the session back after a migration
 * changed it (search_path, USE, sql_mode, time zone, SET variables,
 * foreign_keys), so that nothing a migration sets reaches the migrator's
 * bookkeeping or the next migration. */
#define DM_SCHEMA_MAX 128
typedef struct dm_session_state {
    char schema[DM_SCHEMA_MAX];
    char *restore; /* engine SQL that session_restore runs, or NULL */
    int flags;     /* the engine's own (SQLite: foreign keys were on) */
} dm_session_state;
void dm_session_state_clear(dm_session_state *st);

/* A server's replication state (repl_state). */
typedef struct dm_repl_state {
    int standby;            /* 1: a standby replaying a primary's changes; 0: a primary */
    char position[64];      /* primary: its write position; standby: the last replayed */
    int64_t replay_age_ms;  /* standby: age of the last replayed commit; -1 unknown */
    int multi_primary;      /* a Galera node: writable, and a replica of the others too */
} dm_repl_state;

typedef struct dm_driver {
    dbmgmt_engine engine;
    const char *name;
    /* Whether DDL statements take part in transactions (PostgreSQL, SQLite). */
    int ddl_transactional;
    /* Whether exec() runs whole scripts itself (SQLite); otherwise the
     * connection layer splits scripts with the SQL lexer. */
    int exec_takes_scripts;
    /* Whether lock() is a transaction on the same connection (SQLite's
     * write lock) rather than a session lock that can be held on a
     * connection of its own (PostgreSQL, MySQL). */
    int lock_is_transaction;
    /* DROP INDEX needs "ON table" (MySQL). */
    int drop_index_on_table;

    int (*connect)(const dm_dsn *dsn, dm_dconn **out, dm_error *err);
    void (*close)(dm_dconn *c);
    /* Run SQL discarding rows; SQLite accepts a script here, the network
     * engines one statement (the connection layer splits scripts for them). */
    int (*exec)(dm_dconn *c, const char *sql, dm_error *err);
    /* PostgreSQL: run a COPY ... FROM STDIN command (NUL-terminated) and send
     * data[0 .. len) as its rows (text format, without the "\." line).
     * NULL where the dialect has no such data blocks. */
    int (*exec_copy)(dm_dconn *c, const char *command, const char *data, size_t len,
                     dm_error *err);
    /* Run one statement, then - only when it succeeded - `follow` (one
     * statement of ours that returns no rows), in one round trip: MySQL
     * sends both as one multi-statement query. Either failure is returned
     * (the caller treats both alike). The first call turns multi-statement
     * queries on for the session; exec_followed_end turns them off again
     * (a no-op when they were never turned on). NULL: run the two with
     * exec, one round trip each. */
    int (*exec_followed)(dm_dconn *c, const char *sql, const char *follow, dm_error *err);
    int (*exec_followed_end)(dm_dconn *c, dm_error *err);

    /* one_shot: the statement will run once (dbmgmt_conn_query); a driver
     * may then skip a server-side prepare round trip. */
    int (*prepare)(dm_dconn *c, const char *sql, int one_shot, dm_dstmt **out, dm_error *err);
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
    /* The type of a non-NULL value of the current row (never DM_VALUE_NULL). */
    dm_value_type (*column_type)(dm_dstmt *s, int32_t col);
    int64_t (*affected_rows)(const dm_dstmt *s);
    void (*reset)(dm_dstmt *s); /* end the current execution, keep binds */
    void (*finalize)(dm_dstmt *s);

    int (*begin)(dm_dconn *c, dm_error *err);
    int (*commit)(dm_dconn *c, dm_error *err);
    int (*rollback)(dm_dconn *c, dm_error *err);
    int (*in_transaction)(const dm_dconn *c); /* no round trip */
    int (*ping)(dm_dconn *c, dm_error *err);
    void *(*native)(dm_dconn *c);

    /* A named lock between sessions, held until unlock or disconnect:
     * PostgreSQL advisory lock, MySQL GET_LOCK, SQLite the database write
     * lock (BEGIN IMMEDIATE; the name is not used). DBMGMT_ERR_TIMEOUT when
     * it is not free within timeout_ms. */
    int (*lock)(dm_dconn *c, const char *name, int32_t timeout_ms, dm_error *err);
    int (*unlock)(dm_dconn *c, const char *name, dm_error *err);

    /* --- Migrations on a cluster (issue 18, docs/postgres-cluster.md) ----
     * The lock a migrator holds for a whole run, on a connection of its own
     * that may go through a transaction-mode pooler: it must hold there and
     * must exclude lock() of the same name (older migrators). PostgreSQL: a
     * transaction-level advisory lock in a transaction kept open until
     * migration_unlock. NULL: use lock/unlock. */
    int (*migration_lock)(dm_dconn *c, const char *name, int32_t timeout_ms, dm_error *err);
    int (*migration_unlock)(dm_dconn *c, const char *name, dm_error *err);
    /* DBMGMT_OK while the migration lock is still this session's; an error
     * saying why when it was lost (a Galera lock row whose lease could not
     * be renewed). Asked before each migration; no round trip. NULL: a
     * lock that cannot be lost while the session lives. */
    int (*migration_lock_check)(dm_dconn *c, const char *name, dm_error *err);
    /* 1 when the server accepts no writes (a standby in recovery, or
     * read-only), with why in reason ("127.0.0.1:5433 is a standby in
     * recovery"); 0 when it is writable. NULL: the engine cannot tell. */
    int (*standby_reason)(dm_dconn *c, char *reason, size_t len, dm_error *err);
    /* Whether SET inside a transaction is undone by ROLLBACK and committed
     * with it (PostgreSQL): the migrator then puts the session back inside a
     * migration's own transaction, so nothing it set outlives the
     * transaction on a pooler's server connection. */
    int settings_transactional;
    /* Fill cat with the tables, indexes and foreign keys of the current
     * schema / database, leaving out the engine's own tables. */
    int (*catalog)(dm_dconn *c, dm_catalog *cat, dm_error *err);
    /* 1 if a table of that name exists in schema (NULL: the current
     * schema / database), 0 if not. */
    int (*table_exists)(dm_dconn *c, const char *schema, const char *name, dm_error *err);
    /* Record the session as it is now (outside a transaction).
     * DBMGMT_ERR_NOTFOUND, with a message naming the setting, when the
     * session has no current schema or database (st is complete but for
     * st->schema, which is empty). */
    int (*session_save)(dm_dconn *c, dm_session_state *st, dm_error *err);
    /* The current schema alone, in st->schema (st->restore NULL), with
     * session_save's DBMGMT_ERR_NOTFOUND, and in the same round trip
     * whether the table exists in schema (NULL: the current one): for a
     * run that reads the history and may change nothing, where what
     * session_save also reads costs more (PostgreSQL: pg_settings,
     * milliseconds on a new session). NULL: the migrator calls
     * session_save and table_exists. */
    int (*session_schema)(dm_dconn *c, const char *schema, const char *table,
                          dm_session_state *st, int *table_exists, dm_error *err);
    /* Put the session back as session_save found it (outside a transaction). */
    int (*session_restore)(dm_dconn *c, const dm_session_state *st, dm_error *err);
    /* Append name quoted as an identifier ("x" or `x`). */
    void (*quote_ident)(dm_buf *out, const char *name);
    /* Append value as a string literal for this session ('it''s', or on
     * MySQL what mysql_real_escape_string makes of it for the session's
     * character set and sql_mode), so a one-shot statement of ours can go
     * as text in one round trip where a parameterised one costs a prepare
     * (MySQL). DBMGMT_ERR_NOMEM, DBMGMT_ERR_INVALID (not text of the
     * session's character set: bind it), or DBMGMT_OK. NULL: bind. */
    int (*quote_literal)(dm_dconn *c, dm_buf *out, const char *value);

    /* --- Index advice (issue 9, lib/advise) ------------------------------
     * A what-if session: hypothetical indexes the engine's planner sees.
     * SQLite: a scratch in-memory copy of the schema with sqlite_stat1
     * taken from the real database; PostgreSQL: HypoPG. NULL when the
     * engine has none (MySQL/MariaDB). whatif_open fails with
     * DBMGMT_ERR_UNSUPPORTED and a message saying why when the session
     * cannot be had (HypoPG not installed). */
    int (*whatif_open)(dm_dconn *c, dm_whatif **out, dm_error *err);
    /* Create a hypothetical index from ddl (CREATE INDEX name ON ...);
     * plan_name receives the name it has in plans. */
    int (*whatif_index)(dm_whatif *w, const char *ddl, const char *name, dm_buf *plan_name,
                        dm_error *err);
    /* The plan of sql as text (one line per node) and its estimated total
     * cost (-1 when the engine gives none). */
    int (*whatif_explain)(dm_whatif *w, const char *sql, dm_buf *plan, double *cost,
                          dm_error *err);
    void (*whatif_close)(dm_whatif *w);
    /* Distinct values of a column from the engine's statistics (no table
     * scan): *distinct and *rows, -1 when unknown. NULL when unsupported. */
    int (*column_distinct)(dm_dconn *c, const char *table, const char *column, double *distinct,
                           double *rows, dm_error *err);
    /* The workload the engine recorded (pg_stat_statements, MySQL
     * performance_schema digests): fn(userdata, sql, calls) per statement.
     * NULL when the engine records none. */
    int (*workload)(dm_dconn *c, void (*fn)(void *userdata, const char *sql, double calls),
                    void *userdata, dm_error *err);

    /* --- Replication (issue 18, lib/pool/replicas.c) ---------------------
     * NULL when the engine has no replicas to follow (SQLite). */
    /* Where the server stands: a primary's current write position, or a
     * standby's last replayed one (and when that replayed commit was made). */
    int (*repl_state)(dm_dconn *c, dm_repl_state *st, dm_error *err);
    /* How far position a is past b: *diff > 0 a is newer, 0 the same,
     * < 0 older (bytes for PostgreSQL's WAL). DBMGMT_ERR_PARSE with a
     * message naming the position when either is not one of this engine. */
    int (*position_diff)(const char *a, const char *b, int64_t *diff, dm_error *err);
    /* Wait on a standby until it has replayed position (1), or timeout_ms
     * passed (0), or an error (< 0). */
    int (*wait_position)(dm_dconn *c, const char *position, int32_t timeout_ms, dm_error *err);

    /* --- Galera (issue 19, docs/mariadb-cluster.md) -----------------------
     * 1 when the server is a node of a Galera cluster (wsrep_on = ON), 0
     * when not, < 0 on error. NULL: the engine has no Galera (never one). */
    int (*galera_node)(dm_dconn *c, dm_error *err);

    /* --- Health (issue 20, docs/health.md) -------------------------------
     * Fill h from the engine's own statistics (lib/health/health_impl.h's
     * dm_health_set, health_collect.h's helpers); a figure the engine
     * cannot give is left absent, never 0, and so is one whose statistic
     * the session may not read (a refusal is not an error). The session
     * stays usable and no transaction is begun or ended: inside the
     * caller's transaction the reads run in it (PostgreSQL: a refused read
     * under a savepoint, so the transaction survives). NULL: no figures. */
    int (*health)(dm_dconn *c, struct dbmgmt_health *h, dm_error *err);
} dm_driver;

/* "name" with embedded quotes doubled (SQL standard; SQLite, PostgreSQL). */
void dm_quote_ident_standard(dm_buf *out, const char *name);

/* The driver for an engine, or NULL (with err set to DBMGMT_ERR_UNSUPPORTED
 * naming the build option) when this build has none. */
const dm_driver *dm_driver_for(dbmgmt_engine engine, dm_error *err);

extern const dm_driver dm_sqlite_driver;
extern const dm_driver dm_postgres_driver; /* when DM_HAVE_POSTGRES */
extern const dm_driver dm_mysql_driver;    /* when DM_HAVE_MYSQL */

#endif
