/* Internal view of migrators, plans and the history table (DESIGN §5.3-5.4). */
#ifndef DM_MIGRATE_MIGRATOR_H
#define DM_MIGRATE_MIGRATOR_H

#include "conn/conn.h"
#include "core/buf.h"
#include "lint/lint.h"
#include "source.h"

/* Append s[0,len) to b as a C string literal for `dbmgmt embed`: split
 * after each newline into adjacent literals for readability, '?' escaped
 * (no trigraphs), other control bytes as 3-digit octal escapes, bytes >= 0x80
 * as they are. The compiler's concatenation of the pieces is exactly s. */
void dm_c_string_literal(dm_buf *b, const char *s, size_t len);

#define DM_HISTORY_DEFAULT "dbmgmt_schema_history"
#define DM_ENV_ROW_VERSION "@environment"     /* metadata row: the environment stamp */
#define DM_BASELINE_CHECKSUM "baseline"       /* a baseline row has this checksum */
/* Metadata row (rank -1): the applied set as a count, the newest version
 * and a digest (SHA-256 of the ordered versions and checksums, history.c),
 * so a boot with nothing to do need not
 * read every row. Written after clean runs, deleted before any change. */
#define DM_APPLIED_ROW_VERSION "@applied"

/* One row of the history table. */
typedef struct dm_history_row {
    int64_t rank;
    char *version;
    char *description;
    char *script;
    char *checksum;
    int success;
    int32_t statements_applied;
    char *error;
} dm_history_row;

typedef struct dm_history {
    int table_exists;
    /* Read through the metadata row: the applied set is exactly the source's
     * versions up to newest (prefix_count of them); rows is empty. */
    int prefix_mode;
    size_t prefix_count;
    int64_t row_count;          /* prefix mode: rows with rank > 0, as counted */
    char *arena;                /* every row's strings, in one allocation */
    dm_history_row *rows;       /* ordered by version (the environment row left out) */
    size_t count;
    char *environment;          /* the stamp, or NULL */
    int64_t max_rank;
    const dm_history_row *dirty;    /* the failed row, if any */
    const char *baseline;           /* the baseline version, if any */
    const char *newest;             /* the newest applied version, if any */
} dm_history;

typedef struct dm_plan_step {
    const dm_migration *mig;
    int32_t direction;
    int transactional;
    int32_t statement_count;
} dm_plan_step;

typedef struct dm_plan_problem {
    int status;
    char *message;
} dm_plan_problem;

struct dbmgmt_plan {
    dm_plan_step *steps;
    size_t count;
    dm_plan_problem *problems;
    size_t nproblems;
    int32_t direction;          /* DBMGMT_UP or DBMGMT_DOWN */
    char *target;               /* as asked (NULL: newest) */
    char *current;              /* the newest applied version when planned */
    dm_lint_findings lint;      /* the steps' lint findings, by step and line */
};

struct dbmgmt_migrator {
    dbmgmt_conn *conn;
    dm_source source;
    char table[64];
    /* The schema (PostgreSQL) or database (MySQL) the table lives in:
     * given with it (schema.table), or the session's current one when the
     * session was saved, before the first migration. */
    char schema[DM_SCHEMA_MAX];
    dm_session_state session;
    int session_saved; /* the schema is resolved (m->schema) */
    int session_full;  /* and the session saved whole, to be put back after a migration */
    /* Whether the history table existed when the schema was resolved
     * (session_schema): 1, 0, or -1 (not asked). Only the question asked in
     * the same breath (history_table_exists) uses it. */
    int table_known;
    char *environment;
    int32_t lock_timeout_ms;
    uint32_t allow;
    int galera; /* DBMGMT_GALERA_AUTO / _ON / _OFF: the lint's Galera rules */
    dbmgmt_progress_fn progress;
    void *progress_userdata;
    dbmgmt_backup *backup_before; /* required before changes in production */
    char *migrations_dir;         /* the folder added (seeds default beside it), or NULL */
    dbmgmt_seed_progress_fn seed_progress;
    void *seed_progress_userdata;
    /* While a plan is computed: the database was just seen to hold no table
     * but the history's, so the lint need not ask the server whether the
     * plan's tables exist (a round trip per table saved on a first boot). */
    int plan_db_empty;
    dm_error err;
};

/* history.c */
/* Resolve the schema the table lives in at the migrator's first statement
 * (later calls do nothing): the session's current schema, read with the
 * driver's cheaper session_schema where it has one. */
int dm_migrator_session(dbmgmt_migrator *m);
/* Save the whole session (settings included) before the first migration
 * or seed changes anything, so dm_migrator_session_restore can put it back;
 * later calls do nothing. */
int dm_migrator_session_full(dbmgmt_migrator *m);
/* After a migration (committed or rolled back, outside a transaction): put
 * the session back as it was saved. Returns rc, or the restore's failure
 * (naming the version) when rc was OK. */
int dm_migrator_session_restore(dbmgmt_migrator *m, const char *version, int rc);
int dm_history_ensure_table(dbmgmt_migrator *m);
int dm_history_read(dbmgmt_migrator *m, dm_history *h);
void dm_history_clear(dm_history *h);
/* Like dm_history_read, through the metadata row when it is present and
 * agrees with the table and the source (else the full read). */
int dm_history_read_fast(dbmgmt_migrator *m, dm_history *h);
/* Whether a version is applied (or recorded as failed) in h. */
int dm_history_has(const dm_history *h, const char *version);
/* Write the metadata row for the applied set that is the source's versions
 * up to newest (count of them); delete it. */
int dm_history_meta_write(dbmgmt_migrator *m, const char *newest, size_t count, int64_t max_rank);
int dm_history_meta_delete(dbmgmt_migrator *m);
const dm_history_row *dm_history_find(const dm_history *h, const char *version);
int dm_history_insert(dbmgmt_migrator *m, int64_t rank, const dm_migration *mig, int success,
                      int32_t statements_applied, int64_t execution_ms);
int dm_history_insert_raw(dbmgmt_migrator *m, int64_t rank, const char *version,
                          const char *description, const char *script, const char *checksum);
int dm_history_mark(dbmgmt_migrator *m, const char *version, int success,
                    int32_t statements_applied, const char *error, int64_t execution_ms,
                    const char *checksum);
/* dm_history_mark's UPDATE without an error message, as text with its
 * values in it (the version and checksum are digits, dots and hex), in
 * *out (dm_free it); DBMGMT_ERR_INVALID when a value is not of that kind. */
int dm_history_mark_sql(dbmgmt_migrator *m, const char *version, int success,
                        int32_t statements_applied, int64_t execution_ms, const char *checksum,
                        char **out);
int dm_history_delete(dbmgmt_migrator *m, const char *version);
/* stmt_kind.c: whether a migration's statement may change the session
 * (then the migrator puts it back after the migration), and whether its
 * progress mark may be sent with it in one round trip. */
int dm_stmt_may_change_session(const dm_mig_statement *st);
int dm_stmt_can_carry_mark(const dm_mig_statement *st);
/* Row count and highest rank: a cheap way to see whether another process
 * changed the history since it was read. */
int dm_history_fingerprint(dbmgmt_migrator *m, int64_t *count, int64_t *max_rank);
/* Append the quoted history table name. */
void dm_history_table_sql(dbmgmt_migrator *m, dm_buf *out);
/* The time now in UTC, 2026-12-05T18:00:00Z, and who runs the migrator
 * ($USER, else "unknown"), as the history rows record them. */
void dm_utc_now(char out[32]);
const char *dm_installed_by(void);

/* plan.c */
/* Whether the environment in force (the migrator's, else the one stamped on
 * the database) is "production". */
int dm_migrator_in_production(const dbmgmt_migrator *m, const dm_history *h);
/* count_statements: split every step to count its statements (plans shown
 * to people); plans made under the lock to be run skip it. */
int dm_plan_compute(dbmgmt_migrator *m, const dm_history *h, int32_t direction,
                    const char *target, int count_statements, dbmgmt_plan **out);
/* Whether the database holds tables other than the history table. */
int dm_database_has_tables(dbmgmt_migrator *m, int *has_tables);

/* apply.c */
int dm_apply(dbmgmt_migrator *m, const dbmgmt_plan *plan);
/* Plan under the lock and run it all (no plan made beforehand). */
int dm_run(dbmgmt_migrator *m, int32_t direction, const char *target);
int dm_resume(dbmgmt_migrator *m);
int dm_repair(dbmgmt_migrator *m);
int dm_baseline(dbmgmt_migrator *m, const char *version);
/* Open the lock session of a run (PostgreSQL, MySQL) and take the
 * migration lock on it, after refusing a read-only server; close it (the
 * lock released first). */
int dm_lock_session_open(dbmgmt_migrator *m, const char *lock_name, dbmgmt_conn **out);
/* The name of the migration lock of m's history table ("dbmgmt:TABLE"). */
#define DM_LOCK_NAME_MAX 96
void dm_lock_name(const dbmgmt_migrator *m, char out[DM_LOCK_NAME_MAX]);
void dm_lock_session_close(dbmgmt_conn *c, const char *lock_name);

/* seed.c: whether dir is a seeds folder (its last part is "seeds"), which
 * `dbmgmt embed` refuses (docs/seeds.md). */
int dm_is_seeds_dir(const char *dir);

/* migrator.c: the versions pending, whether one failed (dirty), and the
 * newest applied version (*applied: dm_free it; NULL when none). */
int dm_migrator_state(dbmgmt_migrator *m, size_t *pending, int *dirty, char **applied);

/* Record a failure on the migrator (and the thread). */
#define dm_migrator_fail(m, ...) dm_error_set(&(m)->err, __VA_ARGS__)

#endif
