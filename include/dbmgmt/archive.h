/*
 * libdbmgmt — retention and archival jobs (issue 22, docs/archive.md).
 *
 * A job is one policy on one table: its key column, its time column (or a
 * soft-delete column), a window, and an action — delete old rows, move them
 * to an archive table of the same database, or export them to gzip-ed JSON
 * Lines files and then delete them. The job walks the table in key order
 * (keyset pagination, never OFFSET), one transaction per batch, pausing
 * between batches and waiting while a pool's replicas lag past a bound.
 *
 * Crash safety: a row is never both gone from the table and absent from the
 * archive. A move inserts and deletes in one transaction; an export writes
 * `FILE.partial`, fsyncs it, records its SHA-256 and key range in the job's
 * catalog (a SQLite file in the export folder), renames it, and only then
 * deletes its rows; the next run finishes what the catalog says was left.
 *
 * Thread safety: a job belongs to one thread at a time. Times are Unix
 * seconds (UTC).
 */
#ifndef DBMGMT_ARCHIVE_H
#define DBMGMT_ARCHIVE_H

#include "common.h"
#include "pool.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct dbmgmt_archive dbmgmt_archive;

typedef enum dbmgmt_archive_action {
    DBMGMT_ARCHIVE_DELETE = 1, /* delete old rows */
    DBMGMT_ARCHIVE_MOVE = 2,   /* insert into an archive table, delete, one transaction */
    DBMGMT_ARCHIVE_EXPORT = 3  /* write a compressed file, record it, then delete */
} dbmgmt_archive_action;

/* An EXPORT file's format and compression (dbmgmt_archive_set_export_format). */
typedef enum dbmgmt_archive_format {
    DBMGMT_ARCHIVE_JSONL = 1, /* one JSON object per row, every value a string or null */
    DBMGMT_ARCHIVE_CSV = 2    /* RFC 4180 with a header row; NULL an empty unquoted field */
} dbmgmt_archive_format;

typedef enum dbmgmt_archive_compression {
    DBMGMT_ARCHIVE_GZIP = 1, /* zlib: .gz */
    DBMGMT_ARCHIVE_ZSTD = 2  /* libzstd (-Dzstd): .zst */
} dbmgmt_archive_compression;

typedef enum dbmgmt_archive_key_type {
    DBMGMT_ARCHIVE_KEY_INTEGER = 1, /* a single integer column (the default) */
    DBMGMT_ARCHIVE_KEY_TEXT = 2     /* a single text column, in the engine's collation */
} dbmgmt_archive_key_type;

typedef enum dbmgmt_archive_time_kind {
    DBMGMT_ARCHIVE_TIME_EPOCH = 1,    /* an integer column of Unix seconds */
    DBMGMT_ARCHIVE_TIME_TIMESTAMP = 2 /* a timestamp/datetime column, in UTC */
} dbmgmt_archive_time_kind;

/* Metrics, read with dbmgmt_archive_metric(): totals since the job was
 * made. New metrics get new values; a value is never reused. */
typedef enum dbmgmt_archive_metric_id {
    DBMGMT_ARCHIVE_ROWS_EXAMINED = 0, /* rows found old enough by the batches */
    DBMGMT_ARCHIVE_ROWS_MOVED = 1,    /* rows inserted into the archive table */
    DBMGMT_ARCHIVE_ROWS_DELETED = 2,  /* rows deleted from the table */
    DBMGMT_ARCHIVE_ROWS_EXPORTED = 3, /* rows written to recorded export files */
    DBMGMT_ARCHIVE_BATCHES = 4,       /* batches committed */
    DBMGMT_ARCHIVE_LOCK_MS_MAX = 5,   /* longest batch transaction, ms (begin to commit) */
    DBMGMT_ARCHIVE_LAG_WAITS = 6,     /* times the job waited for replica lag */
    DBMGMT_ARCHIVE_FILES = 7,         /* export files recorded */
    DBMGMT_ARCHIVE_RUNS = 8,          /* runs finished */
    DBMGMT_ARCHIVE_RESUMED = 9,       /* export files finished from a previous run */
    DBMGMT_ARCHIVE_BATCH_ROWS = 10,   /* rows asked for by the last batch (its size) */
    DBMGMT_ARCHIVE_RUNS_FAILED = 11,  /* runs that ended in a failure (or were cancelled) */
    DBMGMT_ARCHIVE_LAST_SUCCESS = 12  /* the `now` of the last run that finished, 0: none */
} dbmgmt_archive_metric_id;

/*
 * A job on table (a plain name, quoted by the library) of the database at
 * dsn (NULL: getenv("DATABASE_URL")). The connection is opened by the first
 * run. Defaults: key column "id" (integer), batches sized by time (first
 * batch 1000 rows, then 10..10000 rows held at most ~50 ms), no pause, no
 * window (dbmgmt_archive_run refuses until a time column and a window are
 * set), action DELETE.
 */
DBMGMT_API int dbmgmt_archive_new(dbmgmt_archive **out, const char *dsn, const char *table);
DBMGMT_API void dbmgmt_archive_free(dbmgmt_archive *a);
/* The single-column key the batches walk: dbmgmt_archive_key_type. */
DBMGMT_API int dbmgmt_archive_set_key(dbmgmt_archive *a, const char *column, int32_t key_type);
/* Rows whose column is older than now - window are old. */
DBMGMT_API int dbmgmt_archive_set_time_column(dbmgmt_archive *a, const char *column,
                                              int32_t time_kind);
/* Rows with column IS NOT NULL AND column < now - window are old (soft
 * deletes). Replaces a time column, and the reverse. */
DBMGMT_API int dbmgmt_archive_set_soft_delete_column(dbmgmt_archive *a, const char *column,
                                                     int32_t time_kind);
/* The window: one or more of <n>w <n>d <n>h <n>m <n>s ("90d", "1d12h").
 * DBMGMT_ERR_PARSE naming the character on anything else. */
DBMGMT_API int dbmgmt_archive_set_window(dbmgmt_archive *a, const char *duration);
/*
 * The action. MOVE: target is the archive table (created when missing with
 * the table's columns plus archived_at, a BIGINT of Unix seconds). EXPORT:
 * target is a folder (created when missing) holding the files and the
 * catalog archive-catalog.db. DELETE: target must be NULL.
 */
DBMGMT_API int dbmgmt_archive_set_action(dbmgmt_archive *a, int32_t action, const char *target);
/*
 * MOVE into the table named by the action's target in another database (dsn;
 * any engine), which must have the table's columns plus archived_at. Per
 * batch, with the rows locked here: they are written there (replacing any
 * copy of the same keys) and committed, then deleted here. NULL: the same
 * database (the default).
 */
DBMGMT_API int dbmgmt_archive_set_archive_dsn(dbmgmt_archive *a, const char *dsn);
/* EXPORT files' format and compression: JSONL and GZIP by default
 * (`<table>-<n>.jsonl.gz`); CSV and/or ZSTD give .csv and/or .zst. ZSTD
 * in a build without libzstd: DBMGMT_ERR_UNSUPPORTED. A job's folder may
 * hold files of several formats: each is read back by its name. */
DBMGMT_API int dbmgmt_archive_set_export_format(dbmgmt_archive *a, int32_t format,
                                                int32_t compression);
/* Rows per batch (one transaction): 1..100000, default 1000. With a batch
 * time target (dbmgmt_archive_set_batch_time, on by default) this is the
 * first batch's size, kept within the target's min..max. */
DBMGMT_API int dbmgmt_archive_set_batch_size(dbmgmt_archive *a, int32_t rows);
/*
 * Size batches by time (the chunk-time of pt-online-schema-change and
 * gh-ost): the job measures how long each batch holds its locks (its first
 * locking statement to its commit) and sizes the next one so it holds them
 * about target_ms: rows * target_ms / held, at most twice the last size,
 * within min_rows..max_rows (1..100000). target_ms 1..60000; 0 turns it off
 * (every batch has dbmgmt_archive_set_batch_size's rows). Default: 50 ms,
 * 10..10000 rows.
 */
DBMGMT_API int dbmgmt_archive_set_batch_time(dbmgmt_archive *a, int32_t target_ms,
                                             int32_t min_rows, int32_t max_rows);
/* Pause between batches: 0..3600000 ms, default 0. */
DBMGMT_API int dbmgmt_archive_set_pause_ms(dbmgmt_archive *a, int32_t ms);
/*
 * Before each batch, wait while dbmgmt_pool_metric(pool,
 * DBMGMT_POOL_REPLICA_LAG_MS) is above max_lag_ms, checking every check_ms
 * (10..60000). An unknown lag (-1) does not hold the job. pool is borrowed:
 * it must outlive the job's runs. NULL pool removes the bound.
 */
DBMGMT_API int dbmgmt_archive_set_replica_lag(dbmgmt_archive *a, const dbmgmt_pool *pool,
                                              int32_t max_lag_ms, int32_t check_ms);

/* Called after every batch and every lag wait; a non-zero return stops the
 * run after the committed batch (dbmgmt_archive_run returns
 * DBMGMT_ERR_BUSY with "cancelled by the progress callback"). */
typedef int (*dbmgmt_archive_progress_fn)(void *userdata, const dbmgmt_archive *a);
DBMGMT_API int dbmgmt_archive_set_progress(dbmgmt_archive *a, dbmgmt_archive_progress_fn fn,
                                           void *userdata);

/*
 * Run the job to the end at now (Unix seconds: rows older than now - window
 * go; pass the wall clock, or a fixed time in tests). An export run first
 * finishes the files a killed run recorded but did not delete. Safe to run
 * again after any failure or kill.
 */
DBMGMT_API int dbmgmt_archive_run(dbmgmt_archive *a, int64_t now);

/* A cron schedule (dbmgmt_schedule_parse's syntax, in a fixed UTC offset)
 * for dbmgmt_archive_tick. */
DBMGMT_API int dbmgmt_archive_set_schedule(dbmgmt_archive *a, const char *cron,
                                           int32_t utc_offset_s);
/* Run the job if its schedule fired since the last tick (the first tick
 * only records now). 1 ran, 0 not due, < 0 the run's failure. */
DBMGMT_API int32_t dbmgmt_archive_tick(dbmgmt_archive *a, int64_t now);

DBMGMT_API int64_t dbmgmt_archive_metric(const dbmgmt_archive *a, int32_t which);
/* The last key the job committed, as text ("" before the first batch). */
DBMGMT_API const char *dbmgmt_archive_last_key(const dbmgmt_archive *a);
/* The job and its totals as a JSON object (table, action, target, metrics,
 * last_key, and for EXPORT the catalog's files); caller frees with
 * dbmgmt_free(). NULL on failure. */
DBMGMT_API char *dbmgmt_archive_status_json(dbmgmt_archive *a);
/* The last failure on this job; "" if none. */
DBMGMT_API const char *dbmgmt_archive_errmsg(const dbmgmt_archive *a);

/*
 * The Prometheus text exposition (format 0.0.4) of n jobs' metrics, for a
 * host to serve beside dbmgmt_metrics_to_prometheus's text: one sample per
 * job in each family, labelled table, action (delete, move, export) and
 * database (the DSN's database name, or SQLite's path; never the DSN), plus
 * dbmgmt_archive_last_run_failed (1 while the job's last run failed).
 * docs/archive.md lists the families. DBMGMT_ERR_INVALID when two jobs have
 * the same labels (a scrape with a duplicate series is rejected whole).
 * *out is freed with dbmgmt_free().
 */
DBMGMT_API int dbmgmt_archive_to_prometheus(dbmgmt_archive *const *jobs, int32_t n, char **out);

/*
 * Load an exported file into table of the database at dsn, which must
 * exist with the file's columns; batches of 1000 rows, one transaction
 * each. The name says the format: .jsonl or .csv, then .gz, .zst or
 * nothing. *out_rows (may be NULL) gets the rows inserted.
 * DBMGMT_ERR_PARSE names the file and line of a malformed line.
 */
DBMGMT_API int dbmgmt_archive_restore(const char *file, const char *dsn, const char *table,
                                      int64_t *out_rows);

#ifdef __cplusplus
}
#endif
#endif /* DBMGMT_ARCHIVE_H */
