/*
 * libdbmgmt — schema migrations: migrate on boot, plan, apply, revert.
 *
 * A migrator reads versions from a folder (every layout of docs/migrations.md:
 * dbmate-style native files, _rollback.sql companions, golang-migrate
 * .up/.down pairs, Flyway V/U files, goose annotations) or from a table
 * compiled into the program (dbmgmt_migration_def), never both silently
 * mixed. It keeps a history table (dbmgmt_schema_history by default), holds
 * the engine's lock for the whole run so many processes can start at once,
 * and refuses — without changing anything — when the database and the
 * source disagree (an edited or missing migration, out-of-order versions, a
 * dirty database, a non-empty database without history, another
 * environment, a down migration in production).
 *
 * Threads: a migrator belongs to one thread at a time, like its connection.
 */
#ifndef DBMGMT_MIGRATE_H
#define DBMGMT_MIGRATE_H

#include "backup.h"
#include "common.h"
#include "conn.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Embedded migrations (firmware) ------------------------------------ */

/* The layout version of dbmgmt_migration_def; a table made by another
 * layout is refused, not misread. */
#define DBMGMT_MIGRATION_DEF_VERSION 1

/* The migration runs outside a transaction (CREATE INDEX CONCURRENTLY ...). */
#define DBMGMT_MIGRATION_NO_TRANSACTION 0x1u

/*
 * One compiled-in migration. A table of these ends with an entry whose
 * struct_version is 0. `dbmgmt embed DIR -o FILE.c` writes such a table with
 * the checksum computed at build time; the library recomputes and compares
 * it, so a table edited by hand is caught.
 */
typedef struct dbmgmt_migration_def {
    uint32_t struct_version; /* DBMGMT_MIGRATION_DEF_VERSION; 0 ends the table */
    uint32_t flags;          /* DBMGMT_MIGRATION_NO_TRANSACTION */
    const char *version;     /* "20260130191544", "003", "1.2.3" */
    const char *name;        /* description, "add_user_roles" */
    const char *up_sql;      /* the up section; required */
    const char *down_sql;    /* the down section, or NULL */
    const char *checksum;    /* SHA-256 hex of the normalised up section, or NULL */
    const char *source;      /* the file it came from, for messages, or NULL */
} dbmgmt_migration_def;

/* ---- The migrator -------------------------------------------------------- */

typedef struct dbmgmt_migrator dbmgmt_migrator;
typedef struct dbmgmt_plan dbmgmt_plan;

/* Make a migrator over an open connection (which it borrows: close the
 * migrator first). The lock session, where the engine needs one, is opened
 * from the same DSN when a plan is applied. */
DBMGMT_API int dbmgmt_migrator_new(dbmgmt_migrator **out, dbmgmt_conn *conn);
/* Free the migrator; accepts NULL. */
DBMGMT_API void dbmgmt_migrator_free(dbmgmt_migrator *m);

/* Load every migration file of a folder (NULL: "migrations"). Errors name
 * the file: DBMGMT_ERR_PARSE for a bad name, a duplicate version, a missing
 * up section, mixed layouts, a non-.sql file that looks like a migration;
 * DBMGMT_ERR_IO when the folder cannot be read. Nothing is loaded on error. */
DBMGMT_API int dbmgmt_migrator_add_dir(dbmgmt_migrator *m, const char *dir);
/* The same, with the folder read on a second thread of the call's own
 * (joined before it returns) while the connection gets ready to read the
 * history - SQLite parses the whole schema of the file at the first
 * statement that names a table - as dbmgmt_migrate_on_boot does. For a
 * host that may have a thread of ours for the call (the dbmgmt CLI); errors
 * as dbmgmt_migrator_add_dir's, on the calling thread. Where no thread can
 * be started, or the migrator already has migrations, the folder is read
 * on the caller's thread. */
DBMGMT_API int dbmgmt_migrator_add_dir_threaded(dbmgmt_migrator *m, const char *dir);
/* Register a compiled-in table (not copied: it must outlive the migrator).
 * Adding a folder and a table to one migrator is DBMGMT_ERR_INVALID. */
DBMGMT_API int dbmgmt_migrator_add_table(dbmgmt_migrator *m, const dbmgmt_migration_def *defs);

/* Name of the history table (default "dbmgmt_schema_history"): TABLE, or
 * SCHEMA.TABLE to keep it in a schema (PostgreSQL) or database (MySQL) of
 * its own; each part letters, digits and _, at most 63 bytes, always quoted
 * as an identifier. Without a schema the table lives in the session's
 * current schema / database as it is at the migrator's first statement,
 * and every statement of the migrator names it in full, so a migration
 * that changes the search_path or runs USE does not move it. Set it before
 * planning or applying (DBMGMT_ERR_INVALID afterwards). */
DBMGMT_API int dbmgmt_migrator_set_table_name(dbmgmt_migrator *m, const char *name);
/* The environment this migrator runs for ("development", "production", ...).
 * The first run stamps it on the database; a database stamped with another
 * environment refuses. "production" is forward-only. NULL: not checked. */
DBMGMT_API int dbmgmt_migrator_set_environment(dbmgmt_migrator *m, const char *environment);
/* How long apply waits for another process's lock (default 60000 ms). */
DBMGMT_API int dbmgmt_migrator_set_lock_timeout_ms(dbmgmt_migrator *m, int32_t timeout_ms);

/* Progress: called before (done = 0) and after (done = 1) each step, with
 * the time it took in ms after. A non-zero return before a step stops the
 * run there (DBMGMT_ERR_POLICY, nothing of that step done). */
typedef int (*dbmgmt_progress_fn)(void *userdata, const char *version, const char *name,
                                  int32_t direction, int32_t done, int64_t elapsed_ms);
DBMGMT_API int dbmgmt_migrator_set_progress(dbmgmt_migrator *m, dbmgmt_progress_fn fn,
                                            void *userdata);

/*
 * Require a backup before a run changes a production database (DESIGN
 * §5.4): when the environment (the migrator's, else the one stamped on the
 * database) is "production", the process that holds the lock and has steps
 * to run first takes dbmgmt_backup_run_now(b) — with its hooks, and
 * verified. If that fails the run is refused with DBMGMT_ERR_POLICY naming
 * the backup's error, and nothing is applied. A run with nothing to do, and
 * the replicas that find the work done after waiting for the lock, take no
 * backup. b (NULL: no requirement) is borrowed: it must outlive the
 * migrator and not be used by another thread during a run.
 */
DBMGMT_API int dbmgmt_migrator_require_backup(dbmgmt_migrator *m, dbmgmt_backup *b);

/* What a plan may do that it otherwise refuses (OR-ed). */
#define DBMGMT_ALLOW_OUT_OF_ORDER 0x1u      /* pending versions older than the newest applied */
#define DBMGMT_ALLOW_MISSING_APPLIED 0x2u   /* applied versions absent from the source */
#define DBMGMT_ALLOW_DOWN_IN_PRODUCTION 0x4u
#define DBMGMT_ALLOW_LINT_ERRORS 0x8u       /* error-severity lint findings in production */
DBMGMT_API int dbmgmt_migrator_allow(dbmgmt_migrator *m, uint32_t allow_flags);

/* Whether the plans of this migrator are linted with the Galera rules
 * (galera-no-primary-key, galera-non-transactional-engine,
 * galera-explicit-lock, galera-toi-alter: docs/lint.md). */
#define DBMGMT_GALERA_AUTO 0 /* the default: when the server is a Galera node (wsrep_on) */
#define DBMGMT_GALERA_ON 1   /* always: e.g. planning on a plain server for a Galera cluster */
#define DBMGMT_GALERA_OFF 2  /* never */
/*
 * Set how the Galera lint rules are chosen. AUTO asks the server, with one
 * query, each time a plan with steps is computed (a failure to ask fails the
 * plan). Their error findings refuse a plan in production like any other
 * (DBMGMT_ALLOW_LINT_ERRORS). DBMGMT_ERR_INVALID for another mode, or ON for
 * a migrator whose connection is not MySQL/MariaDB.
 */
DBMGMT_API int dbmgmt_migrator_set_galera(dbmgmt_migrator *m, int mode);

/* ---- Plans ---------------------------------------------------------------- */

#define DBMGMT_UP 1
#define DBMGMT_DOWN (-1)

/*
 * Compute, without changing anything, what bringing the database to target
 * would do: target NULL means the newest version (up); an older version
 * than the current one plans a down to it. *out is a plan even when it is
 * refused: dbmgmt_plan_status() says whether it may be applied and
 * dbmgmt_plan_problem_*() list every reason. The call itself fails only when
 * the plan could not be computed (connection, history unreadable).
 */
DBMGMT_API int dbmgmt_migrator_plan(dbmgmt_migrator *m, const char *target_or_null,
                                    dbmgmt_plan **out);
/* Plan to revert applied versions newer than target (down). */
DBMGMT_API int dbmgmt_migrator_plan_down(dbmgmt_migrator *m, const char *target,
                                         dbmgmt_plan **out);
DBMGMT_API void dbmgmt_plan_free(dbmgmt_plan *plan);

/* DBMGMT_OK when the plan may be applied, else the status of its first
 * problem (DBMGMT_ERR_CHECKSUM, _DIRTY, _POLICY, _NOTFOUND). */
DBMGMT_API int dbmgmt_plan_status(const dbmgmt_plan *plan);
DBMGMT_API size_t dbmgmt_plan_problem_count(const dbmgmt_plan *plan);
/* The i-th reason the plan refuses, as a sentence naming the version and
 * file; NULL when i is out of range. Owned by the plan. */
DBMGMT_API const char *dbmgmt_plan_problem_at(const dbmgmt_plan *plan, size_t i);
DBMGMT_API int dbmgmt_plan_problem_status(const dbmgmt_plan *plan, size_t i);

/* The steps, in the order they would run. Strings are owned by the plan. */
DBMGMT_API size_t dbmgmt_plan_count(const dbmgmt_plan *plan);
DBMGMT_API const char *dbmgmt_plan_step_version(const dbmgmt_plan *plan, size_t i);
DBMGMT_API const char *dbmgmt_plan_step_name(const dbmgmt_plan *plan, size_t i);
DBMGMT_API const char *dbmgmt_plan_step_source(const dbmgmt_plan *plan, size_t i);
/* DBMGMT_UP or DBMGMT_DOWN; 0 for a bad index. */
DBMGMT_API int32_t dbmgmt_plan_step_direction(const dbmgmt_plan *plan, size_t i);
/* 1 if the step runs in one transaction with its history row. */
DBMGMT_API int32_t dbmgmt_plan_step_transactional(const dbmgmt_plan *plan, size_t i);
DBMGMT_API int32_t dbmgmt_plan_step_statement_count(const dbmgmt_plan *plan, size_t i);
/* The whole plan as JSON (docs/migrations.md): steps, problems, status. The
 * caller frees it with dbmgmt_free(). */
DBMGMT_API char *dbmgmt_plan_to_json(const dbmgmt_plan *plan);

/* ---- Lint findings of a plan (docs/lint.md) ------------------------------ */

/* Severity of a lint finding. Error-severity findings refuse a plan in the
 * environment "production" (DBMGMT_ERR_POLICY, one problem per finding,
 * naming the rule and FILE:LINE) unless silenced in the file with
 * `-- dbmgmt:allow RULE reason` or allowed with DBMGMT_ALLOW_LINT_ERRORS;
 * elsewhere they are logged as warnings when the plan runs. */
#define DBMGMT_LINT_INFO 0
#define DBMGMT_LINT_WARNING 1
#define DBMGMT_LINT_ERROR 2

/* Every plan carries the lint findings of its steps (each step's up or down
 * section, linted for the connection's engine), ordered by step and line.
 * The accessors below read the k-th finding; strings are owned by the plan
 * and live until it is freed. Out of range (or a NULL plan): NULL, -1, or
 * SIZE_MAX for the step. Any thread may read a plan no one is freeing. */
DBMGMT_API size_t dbmgmt_plan_finding_count(const dbmgmt_plan *plan);
/* The rule's stable id ("drop-column", ...). */
DBMGMT_API const char *dbmgmt_plan_finding_rule(const dbmgmt_plan *plan, size_t k);
/* DBMGMT_LINT_INFO, _WARNING or _ERROR. */
DBMGMT_API int32_t dbmgmt_plan_finding_severity(const dbmgmt_plan *plan, size_t k);
/* Index of the step (dbmgmt_plan_step_*) the finding belongs to. */
DBMGMT_API size_t dbmgmt_plan_finding_step(const dbmgmt_plan *plan, size_t k);
/* The file and 1-based line of the statement (NULL file: a compiled-in table). */
DBMGMT_API const char *dbmgmt_plan_finding_file(const dbmgmt_plan *plan, size_t k);
DBMGMT_API int32_t dbmgmt_plan_finding_line(const dbmgmt_plan *plan, size_t k);
/* Why it is dangerous, naming the table or column. */
DBMGMT_API const char *dbmgmt_plan_finding_message(const dbmgmt_plan *plan, size_t k);
/* The safe alternative (expand-contract, CONCURRENTLY, NOT VALID, ...). */
DBMGMT_API const char *dbmgmt_plan_finding_advice(const dbmgmt_plan *plan, size_t k);

/*
 * Run exactly this plan. Under the engine's lock it is computed again and
 * must still match (another process may have done the work meanwhile: then
 * only what is left is run; a plan that has become refused is refused).
 * Returns DBMGMT_OK, the plan's refusal status, or the status of the failed
 * step (the message names FILE:LINE and the server's message).
 */
DBMGMT_API int dbmgmt_migrator_apply(dbmgmt_migrator *m, const dbmgmt_plan *plan);
/* plan(NULL) + apply. */
DBMGMT_API int dbmgmt_migrator_up(dbmgmt_migrator *m);
/* Revert applied versions newer than target. */
DBMGMT_API int dbmgmt_migrator_down(dbmgmt_migrator *m, const char *target);

/* Adopt an existing database: record versions up to and including version
 * as applied without running them (the database must have no history). */
DBMGMT_API int dbmgmt_migrator_baseline(dbmgmt_migrator *m, const char *version);
/* After an operator has undone a failed migration's partial work by hand:
 * forget the failed (dirty) history row, so the migration is pending again. */
DBMGMT_API int dbmgmt_migrator_repair(dbmgmt_migrator *m);
/* After an operator has fixed the cause: continue the failed (dirty)
 * migration from the statement that failed, and mark it applied. */
DBMGMT_API int dbmgmt_migrator_resume(dbmgmt_migrator *m);
/* Check the source against the history (checksums, missing, order, dirty)
 * without planning a change: DBMGMT_OK or the first problem's status. */
DBMGMT_API int dbmgmt_migrator_validate(dbmgmt_migrator *m);

/* Every known version with its state (applied, pending, dirty, missing from
 * the source) as JSON; *out is freed with dbmgmt_free(). */
DBMGMT_API int dbmgmt_migrator_status_json(dbmgmt_migrator *m, char **out);

/* The last failure on this migrator; "" if none. Owned by the migrator. */
DBMGMT_API const char *dbmgmt_migrator_errmsg(const dbmgmt_migrator *m);

/*
 * The one call a service makes at start-up: connect to dsn (NULL:
 * DATABASE_URL), take the migrations from dir (NULL and defs NULL:
 * "migrations") or from the compiled-in defs, check the environment, and
 * apply what is pending under the lock. Returns DBMGMT_OK when the schema is
 * current; on a refusal or failure nothing half-applied is left and
 * dbmgmt_errmsg() says why. A folder is read on a second thread of the
 * call's own, joined before it returns, while the connection opens; with
 * defs no thread is started (docs/migrations.md).
 */
DBMGMT_API int dbmgmt_migrate_on_boot(const char *dsn, const char *dir_or_null,
                                      const dbmgmt_migration_def *defs_or_null,
                                      const char *environment);

/* ---- Seed data (docs/seeds.md) -------------------------------------------- */

/* What a seed run did with one seed file (dbmgmt_seed_progress_fn). */
#define DBMGMT_SEED_UNCHANGED 0  /* applied before with the same checksum: skipped */
#define DBMGMT_SEED_APPLIED 1    /* applied for the first time */
#define DBMGMT_SEED_REAPPLIED 2  /* changed since it was applied: applied again */

/* Called after each seed file of a run, in order, with what was done and
 * the time it took (0 when unchanged). A non-zero return stops the run
 * there (DBMGMT_ERR_POLICY); the seeds done so far stay done. */
typedef int (*dbmgmt_seed_progress_fn)(void *userdata, const char *version, const char *name,
                                       const char *file, int32_t outcome, int64_t elapsed_ms);
DBMGMT_API int dbmgmt_migrator_set_seed_progress(dbmgmt_migrator *m, dbmgmt_seed_progress_fn fn,
                                                 void *userdata);

/*
 * Apply the seed data of a folder after migrating (Rails' db:seed, Flyway's
 * repeatable migrations). seeds_dir NULL: the folder "seeds" beside the
 * migrator's migrations folder (db/migrations -> db/seeds), else "./seeds".
 * Seed files are named and ordered as migrations (any layout), one file one
 * seed, with an up section only.
 *
 * Nothing is applied, and the status says why, when:
 * - the environment (the migrator's, else the one stamped on the database)
 *   is "production": DBMGMT_ERR_POLICY naming it and the folder;
 * - a seed has an error-severity lint finding (seed-non-idempotent-insert,
 *   seed-ddl; docs/lint.md): DBMGMT_ERR_POLICY naming FILE:LINE and the rule,
 *   before the database is read;
 * - a seed has a down section or transaction:false: DBMGMT_ERR_PARSE;
 * - migrations are pending: DBMGMT_ERR_POLICY naming the first; the database
 *   is dirty: DBMGMT_ERR_DIRTY; the history refuses a plan for another reason
 *   (an edited migration, another environment): that plan's status.
 *
 * Under the migration lock, each seed runs in a transaction of its own with
 * its row of the seed history table (dbmgmt_seed_history, beside the
 * migration history: version, name, script, SHA-256 checksum, environment,
 * applied_on): a seed whose checksum is recorded is skipped, a changed one
 * is applied again (lint has made sure it is idempotent) and its row
 * updated. A failing seed is rolled back with its row; the seeds before it
 * stay applied, and the message names FILE:LINE and the server's message.
 * A folder without seed files is DBMGMT_OK (nothing to do); a missing one is
 * DBMGMT_ERR_IO naming it.
 */
DBMGMT_API int dbmgmt_migrator_seed(dbmgmt_migrator *m, const char *seeds_dir);

/* ---- Standalone lint (no database) ------------------------------------------ */

typedef struct dbmgmt_lint_report dbmgmt_lint_report;

/*
 * Lint the up section of every migration of a folder (any layout), for the
 * SQL dialect of engine (what the migrator would run on it: transactional
 * on SQLite and PostgreSQL unless transaction:false). No database is
 * opened. *out is a new report (free it with dbmgmt_lint_report_free) even
 * when it holds error findings; the call fails only when the folder cannot
 * be loaded or a section cannot be split: DBMGMT_ERR_IO, DBMGMT_ERR_PARSE
 * (dbmgmt_errmsg() names FILE:LINE), DBMGMT_ERR_NOMEM, or DBMGMT_ERR_INVALID
 * for a NULL argument or an unknown engine. Reentrant: reports made on
 * different threads share nothing.
 */
DBMGMT_API int dbmgmt_lint_dir(dbmgmt_lint_report **out, dbmgmt_engine engine, const char *dir);
/* The same for some files of migration folders: each file is loaded with
 * the folder it is in (so companions and down files are found) and only
 * the migrations those files belong to are linted. A file that is not a
 * migration of its folder is DBMGMT_ERR_NOTFOUND. */
DBMGMT_API int dbmgmt_lint_files(dbmgmt_lint_report **out, dbmgmt_engine engine,
                                 const char *const *files, size_t nfiles);
/* Flags of the _with variants (OR-ed). */
#define DBMGMT_LINT_GALERA 0x1u /* the target is a Galera cluster: add the galera-* rules */
/* The folder (or files) holds seeds (docs/seeds.md): lint with the seed-*
 * rules only (seed-non-idempotent-insert, seed-ddl), in place of the
 * migration rules. */
#define DBMGMT_LINT_SEEDS 0x2u
/*
 * dbmgmt_lint_dir and dbmgmt_lint_files with flags (0: the same as those).
 * DBMGMT_ERR_INVALID, naming them, for unknown flag bits, and for
 * DBMGMT_LINT_GALERA with an engine other than DBMGMT_ENGINE_MYSQL.
 */
DBMGMT_API int dbmgmt_lint_dir_with(dbmgmt_lint_report **out, dbmgmt_engine engine,
                                    const char *dir, uint32_t flags);
DBMGMT_API int dbmgmt_lint_files_with(dbmgmt_lint_report **out, dbmgmt_engine engine,
                                      const char *const *files, size_t nfiles, uint32_t flags);
DBMGMT_API void dbmgmt_lint_report_free(dbmgmt_lint_report *report);

/* How many migrations were linted, and how many findings there are (all,
 * or of one severity: DBMGMT_LINT_ERROR, ...). */
DBMGMT_API size_t dbmgmt_lint_report_migration_count(const dbmgmt_lint_report *report);
DBMGMT_API size_t dbmgmt_lint_report_count(const dbmgmt_lint_report *report);
DBMGMT_API size_t dbmgmt_lint_report_count_severity(const dbmgmt_lint_report *report,
                                                     int32_t severity);
/* The k-th finding, ordered by migration version and line; strings are
 * owned by the report. Out of range: NULL or -1. */
DBMGMT_API const char *dbmgmt_lint_report_rule(const dbmgmt_lint_report *report, size_t k);
DBMGMT_API int32_t dbmgmt_lint_report_severity(const dbmgmt_lint_report *report, size_t k);
DBMGMT_API const char *dbmgmt_lint_report_version(const dbmgmt_lint_report *report, size_t k);
DBMGMT_API const char *dbmgmt_lint_report_file(const dbmgmt_lint_report *report, size_t k);
DBMGMT_API int32_t dbmgmt_lint_report_line(const dbmgmt_lint_report *report, size_t k);
DBMGMT_API const char *dbmgmt_lint_report_message(const dbmgmt_lint_report *report, size_t k);
DBMGMT_API const char *dbmgmt_lint_report_advice(const dbmgmt_lint_report *report, size_t k);
/* The report as JSON (docs/lint.md: keys in a fixed order); the caller
 * frees it with dbmgmt_free(). NULL on a NULL report or out of memory. */
DBMGMT_API char *dbmgmt_lint_report_to_json(const dbmgmt_lint_report *report);

/*
 * Render the migrations of a folder as C source defining
 * `const dbmgmt_migration_def <symbol>[]` (checksums computed now), for
 * firmware that carries its schema in the binary. *out is freed with
 * dbmgmt_free().
 */
DBMGMT_API int dbmgmt_migrations_embed_c(const char *dir, const char *symbol, char **out);

#ifdef __cplusplus
}
#endif
#endif /* DBMGMT_MIGRATE_H */
