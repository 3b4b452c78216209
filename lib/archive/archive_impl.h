/*
 * Private to lib/archive: the job object and the pieces of a run shared by
 * archive.c (configuration, metrics, schedule), archive_run.c (the batch
 * loop), archive_export.c (files), archive_catalog.c (the export catalog)
 * and archive_restore.c (loading a file back).
 */
#ifndef DM_ARCHIVE_IMPL_H
#define DM_ARCHIVE_IMPL_H

#include <sqlite3.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/error.h"
#include "dbmgmt/archive.h"
#include "dbmgmt/backup.h"
#include "dbmgmt/conn.h"

#define DM_ARCHIVE_METRICS 13
#define DM_ARCHIVE_KEY_MAX 512

struct dbmgmt_archive {
    char *dsn;
    char *table;
    char *key_column;
    int32_t key_type;
    char *time_column;
    int32_t time_kind;
    int soft_delete;
    int64_t window_s; /* -1: not set */
    int32_t action;
    char *target; /* MOVE: the archive table; EXPORT: the folder */
    int32_t format;      /* EXPORT: DBMGMT_ARCHIVE_JSONL or _CSV */
    int32_t compression; /* EXPORT: DBMGMT_ARCHIVE_GZIP or _ZSTD */
    char *archive_dsn;          /* MOVE to another database: its DSN, else NULL */
    dbmgmt_conn *archive_conn;  /* opened by the run */
    int32_t batch_size;
    int32_t batch_time_ms; /* 0: fixed batches of batch_size */
    int32_t batch_min;
    int32_t batch_max;
    int32_t next_batch; /* the run's next batch size */
    double rate_avg;    /* sized by time: weighted average rows per ms held */
    int32_t pause_ms;
    const dbmgmt_pool *lag_pool;
    int32_t max_lag_ms;
    int32_t lag_check_ms;
    dbmgmt_archive_progress_fn progress;
    void *progress_userdata;
    dbmgmt_schedule *schedule;
    int32_t utc_offset_s;
    int64_t last_tick; /* -1 before the first tick */

    dbmgmt_conn *conn;
    sqlite3 *catalog;     /* EXPORT only, opened by the run */
    char **columns;       /* the table's columns, read by the run */
    int32_t ncolumns;
    int64_t metrics[DM_ARCHIVE_METRICS];
    int last_run_failed;   /* the last dbmgmt_archive_run failed */
    char pending_file[256]; /* EXPORT: the batch's file, marked deleted after the commit */
    int64_t pending_rows;
    int64_t busy_timeout_ms; /* SQLite: the connection's, kept by the job's busy handler */
    char last_key[DM_ARCHIVE_KEY_MAX];
    dm_error err;
};

/* The keys of one batch, as text, in key order. */
typedef struct dm_arch_keys {
    char **keys;
    int32_t count;
    int32_t cap;
} dm_arch_keys;

void dm_arch_keys_clear(dm_arch_keys *k);
int dm_arch_keys_push(dm_arch_keys *k, const char *key);

/* archive.c: append a quoted identifier in the job connection's dialect. */
void dm_arch_quote(const dbmgmt_archive *a, dm_buf *sql, const char *name);
/* archive.c: the failure of a connection call, copied onto the job. */
int dm_arch_conn_fail(dbmgmt_archive *a, int rc, const char *what);
/* archive_run.c: " WHERE key IN (...)" for the keys (in key order), quoted
 * for conn, preceded on the job's own connection by the range "key >= first
 * AND key <= last"; text keys become parameters appended to params (room for
 * keys->count + 2 entries). */
void dm_arch_where_keys(const dbmgmt_archive *a, const dbmgmt_conn *conn, dm_buf *sql,
                        const dm_arch_keys *keys, const char **params, int32_t *nparams);
/* archive_run.c: run the statement in sql (consumed) with " WHERE key IN
 * (...)" appended, on conn; *affected (may be NULL). */
int dm_arch_exec_keys_on(dbmgmt_archive *a, dbmgmt_conn *conn, dm_buf *sql,
                         const dm_arch_keys *keys, int64_t *affected);
/* archive_run.c: run sql with params in the open transaction; *affected gets
 * its affected rows (may be NULL). */
int dm_arch_exec(dbmgmt_archive *a, const char *sql, int32_t nparams, const char *const *params,
                 int64_t *affected);
/* archive_run.c: SELECT the table's columns of the keys' rows, in key order. */
int dm_arch_select_rows(dbmgmt_archive *a, const dm_arch_keys *keys, dbmgmt_result **out);
/* archive_run.c: BEGIN in the engine's writer mode / COMMIT / ROLLBACK. */
int dm_arch_begin(dbmgmt_archive *a);
int dm_arch_commit(dbmgmt_archive *a);
void dm_arch_rollback(dbmgmt_archive *a);
/* archive_run.c: DELETE the keys in the open transaction; fails unless
 * exactly expected rows went (expected < 0: any number). */
int dm_arch_delete_keys(dbmgmt_archive *a, const dm_arch_keys *keys, int64_t expected,
                        int64_t *deleted);

/* archive_restore.c: one multi-row INSERT of rows x ncolumns text values
 * (NULL = SQL NULL), plus extra_column = extra_value (SQL text) when given. */
int dm_arch_insert_rows(dbmgmt_conn *conn, const char *table, char *const *columns,
                        int32_t ncolumns, const char *extra_column, const char *extra_value,
                        const char *const *values, int32_t rows, dm_error *err);
/* archive_remote.c: MOVE to another database: the locked rows are written
 * there (replacing any copy a killed run left) and committed, then deleted
 * here in the batch's transaction. */
int dm_arch_remote_open(dbmgmt_archive *a);
int dm_arch_remote_move_batch(dbmgmt_archive *a, const dm_arch_keys *keys, int64_t now);

/* archive.c: "delete", "move" or "export" (status JSON, Prometheus labels). */
const char *dm_arch_action_name(int32_t action);

/* archive_export.c: one export batch in the open transaction: write the
 * rows of keys (already selected and locked) to a file, fsync, record it,
 * rename, then delete the rows; a->pending_file names it. */
int dm_arch_export_batch(dbmgmt_archive *a, const dm_arch_keys *keys, int64_t now);
/* archive_export.c: after the batch's commit: the file's rows are gone. */
int dm_arch_export_committed(dbmgmt_archive *a);
/* archive_export.c: finish the files a killed run recorded but did not
 * delete, and remove its unrecorded .partial files. */
int dm_arch_export_resume(dbmgmt_archive *a);
/* archive_export.c: read the key column of every line of a file. */
int dm_arch_file_keys(const char *path, const char *key_column, dm_arch_keys *keys,
                      dm_error *err);

/* archive_catalog.c */
int dm_arch_catalog_open(dbmgmt_archive *a);
int dm_arch_catalog_add(dbmgmt_archive *a, const char *file, const char *first_key,
                        const char *last_key, int64_t rows, const char *sha256, int64_t now);
int dm_arch_catalog_mark_deleted(dbmgmt_archive *a, const char *file);
/* fn(userdata, file, sha256) for each file recorded but not deleted. */
int dm_arch_catalog_pending(dbmgmt_archive *a,
                            int (*fn)(dbmgmt_archive *a, const char *file, const char *sha256),
                            int *found_any);
/* One past the number of files recorded for the table; < 0 on error. */
int64_t dm_arch_catalog_next_number(dbmgmt_archive *a);
/* 1 if file is recorded (any state), 0 if not, < 0 on error. */
int dm_arch_catalog_has(dbmgmt_archive *a, const char *file);
/* The catalog's files as a JSON array into out. */
int dm_arch_catalog_json(dbmgmt_archive *a, dm_buf *out);

/* archive_json.c: a flat JSON object line's members, in order. */
typedef struct dm_arch_line {
    char **names;
    char **values; /* NULL for JSON null */
    int32_t count;
    int32_t cap;
} dm_arch_line;
int dm_arch_line_parse(dm_arch_line *line, const char *text, size_t len, dm_error *err,
                       const char *file, int64_t lineno);
void dm_arch_line_free(dm_arch_line *line);
/* Free the members, keep the arrays. */
void dm_arch_line_reset(dm_arch_line *line);
/* Append a member (name and value owned by the line); DBMGMT_ERR_NOMEM. */
int dm_arch_line_push(dm_arch_line *line, char *name, char *value);

/* archive_csv.c: CSV (RFC 4180; NULL an empty unquoted field, "" an empty
 * string). A field of v (NULL: NULL) into b. */
void dm_arch_csv_field(dm_buf *b, const char *v);
/* One record's text (line ends inside quotes included, none at its end).
 * header NULL: the record is the header, its fields become row's names;
 * else row gets header's names and the record's values, as many. */
int dm_arch_csv_parse(dm_arch_line *row, const dm_arch_line *header, const char *text,
                      size_t len, dm_error *err, const char *file, int64_t lineno);

/* archive_codec.c: export files' bytes. The suffix of a file of format
 * and compression (".jsonl.gz", ".csv.zst", ...). */
const char *dm_arch_file_suffix(int32_t format, int32_t compression);
/* A compressed stream onto fd (not closed by it). */
typedef struct dm_arch_out dm_arch_out;
int dm_arch_out_open(dm_arch_out **out, int fd, int32_t compression, const char *path,
                     dm_error *err);
int dm_arch_out_write(dm_arch_out *o, const void *data, size_t len, dm_error *err);
/* Finish the stream and free o; err NULL: abandon it. */
int dm_arch_out_close(dm_arch_out *o, dm_error *err);
/* Rows of a file, its format and compression taken from its name. */
typedef struct dm_arch_reader dm_arch_reader;
int dm_arch_reader_open(dm_arch_reader **out, const char *path, dm_error *err);
/* 1 with *line and *len (valid until the next call), 0 at the end, < 0 error. */
int dm_arch_reader_next(dm_arch_reader *r, const char **line, size_t *len, dm_error *err);
/* 1 with the next row's names and values in row and its first line in
 * *lineno, 0 at the end, < 0 error (naming the file and line). */
int dm_arch_reader_row(dm_arch_reader *r, dm_arch_line *row, int64_t *lineno, dm_error *err);
void dm_arch_reader_close(dm_arch_reader *r);
/* archive_export.c: the SHA-256 (hex) of a file's bytes. */
int dm_arch_file_sha256(const char *path, char hex[65], dm_error *err);
/* archive.c: forget the columns read by the last run. */
void dm_arch_columns_free(dbmgmt_archive *a);

#endif
