/*
 * Retention and archival jobs (issue 22): the job object, its settings,
 * metrics, status and the cron tick. The batch loop is archive_run.c.
 */
#include "archive_impl.h"

#include <stdio.h>
#include <string.h>

#include "conn/conn.h"
#include "dm_config.h"
#include "core/alloc.h"
#include "core/json.h"

static int arch_invalid(dbmgmt_archive *a, const char *fn, const char *what)
{
    int rc = dm_error_invalid(fn, what);
    if (a)
        dm_error_set(&a->err, rc, "%s: %s", fn, what);
    return rc;
}

int dbmgmt_archive_new(dbmgmt_archive **out, const char *dsn, const char *table)
{
    if (!out)
        return dm_error_invalid("dbmgmt_archive_new", "out is NULL");
    *out = NULL;
    if (!table || !*table)
        return dm_error_invalid("dbmgmt_archive_new", "table is NULL or empty");
    dbmgmt_archive *a = dm_calloc(1, sizeof *a);
    if (!a)
        return dm_error_set(NULL, DBMGMT_ERR_NOMEM, "out of memory creating the archive job");
    a->dsn = dm_strdup(dsn);
    a->table = dm_strdup(table);
    a->key_column = dm_strdup("id");
    if ((dsn && !a->dsn) || !a->table || !a->key_column) {
        dbmgmt_archive_free(a);
        return dm_error_set(NULL, DBMGMT_ERR_NOMEM, "out of memory creating the archive job");
    }
    a->key_type = DBMGMT_ARCHIVE_KEY_INTEGER;
    a->time_kind = DBMGMT_ARCHIVE_TIME_EPOCH;
    a->window_s = -1;
    a->action = DBMGMT_ARCHIVE_DELETE;
    a->format = DBMGMT_ARCHIVE_JSONL;
    a->compression = DBMGMT_ARCHIVE_GZIP;
    a->batch_size = 1000;
    a->batch_time_ms = 50;
    a->batch_min = 10;
    a->batch_max = 10000;
    a->lag_check_ms = 100;
    a->last_tick = -1;
    *out = a;
    return DBMGMT_OK;
}

void dm_arch_columns_free(dbmgmt_archive *a)
{
    for (int32_t i = 0; i < a->ncolumns; i++)
        dm_free(a->columns[i]);
    dm_free(a->columns);
    a->columns = NULL;
    a->ncolumns = 0;
}

void dbmgmt_archive_free(dbmgmt_archive *a)
{
    if (!a)
        return;
    dbmgmt_conn_close(a->conn);
    dbmgmt_conn_close(a->archive_conn);
    dm_free(a->archive_dsn);
    if (a->catalog)
        sqlite3_close_v2(a->catalog);
    dm_arch_columns_free(a);
    dbmgmt_schedule_free(a->schedule);
    dm_free(a->dsn);
    dm_free(a->table);
    dm_free(a->key_column);
    dm_free(a->time_column);
    dm_free(a->target);
    dm_free(a);
}

/* Replace *slot with a copy of value (NULL allowed). */
static int arch_set_string(dbmgmt_archive *a, char **slot, const char *value)
{
    char *copy = dm_strdup(value);
    if (value && !copy)
        return dm_error_set(&a->err, DBMGMT_ERR_NOMEM, "out of memory setting '%s'", value);
    dm_free(*slot);
    *slot = copy;
    return DBMGMT_OK;
}

int dbmgmt_archive_set_key(dbmgmt_archive *a, const char *column, int32_t key_type)
{
    if (!a || !column || !*column)
        return arch_invalid(a, "dbmgmt_archive_set_key", "NULL job or empty column");
    if (key_type != DBMGMT_ARCHIVE_KEY_INTEGER && key_type != DBMGMT_ARCHIVE_KEY_TEXT)
        return arch_invalid(a, "dbmgmt_archive_set_key",
                            "key_type is not a dbmgmt_archive_key_type");
    int rc = arch_set_string(a, &a->key_column, column);
    if (rc == DBMGMT_OK)
        a->key_type = key_type;
    return rc;
}

static int arch_set_time(dbmgmt_archive *a, const char *fn, const char *column, int32_t kind,
                         int soft)
{
    if (!a || !column || !*column)
        return arch_invalid(a, fn, "NULL job or empty column");
    if (kind != DBMGMT_ARCHIVE_TIME_EPOCH && kind != DBMGMT_ARCHIVE_TIME_TIMESTAMP)
        return arch_invalid(a, fn, "time_kind is not a dbmgmt_archive_time_kind");
    int rc = arch_set_string(a, &a->time_column, column);
    if (rc == DBMGMT_OK) {
        a->time_kind = kind;
        a->soft_delete = soft;
    }
    return rc;
}

int dbmgmt_archive_set_time_column(dbmgmt_archive *a, const char *column, int32_t time_kind)
{
    return arch_set_time(a, "dbmgmt_archive_set_time_column", column, time_kind, 0);
}

int dbmgmt_archive_set_soft_delete_column(dbmgmt_archive *a, const char *column,
                                          int32_t time_kind)
{
    return arch_set_time(a, "dbmgmt_archive_set_soft_delete_column", column, time_kind, 1);
}

/* "90d", "1d12h", "2w": the sum of <n><unit> parts. */
static int arch_parse_window(dbmgmt_archive *a, const char *s, int64_t *out)
{
    int64_t total = 0;
    const char *p = s;
    if (!*p)
        return dm_error_set(&a->err, DBMGMT_ERR_PARSE, "archive window: empty (want e.g. 90d)");
    while (*p) {
        if (*p < '0' || *p > '9')
            return dm_error_set(&a->err, DBMGMT_ERR_PARSE,
                                "archive window '%s': a number expected at character %d", s,
                                (int)(p - s) + 1);
        int64_t n = 0;
        while (*p >= '0' && *p <= '9') {
            if (n > INT64_C(100000000))
                return dm_error_set(&a->err, DBMGMT_ERR_PARSE, "archive window '%s': too large",
                                    s);
            n = n * 10 + (*p++ - '0');
        }
        int64_t unit = *p == 'w' ? 604800 : *p == 'd' ? 86400 : *p == 'h' ? 3600
                     : *p == 'm' ? 60 : *p == 's' ? 1 : 0;
        if (!unit)
            return dm_error_set(&a->err, DBMGMT_ERR_PARSE,
                                "archive window '%s': unit w, d, h, m or s expected at "
                                "character %d",
                                s, (int)(p - s) + 1);
        p++;
        total += n * unit;
        if (total > INT64_C(100) * 366 * 86400)
            return dm_error_set(&a->err, DBMGMT_ERR_PARSE,
                                "archive window '%s': longer than 100 years", s);
    }
    *out = total;
    return DBMGMT_OK;
}

int dbmgmt_archive_set_window(dbmgmt_archive *a, const char *duration)
{
    if (!a || !duration)
        return arch_invalid(a, "dbmgmt_archive_set_window", "NULL job or duration");
    int64_t s = 0;
    int rc = arch_parse_window(a, duration, &s);
    if (rc == DBMGMT_OK)
        a->window_s = s;
    return rc;
}

int dbmgmt_archive_set_action(dbmgmt_archive *a, int32_t action, const char *target)
{
    if (!a)
        return dm_error_invalid("dbmgmt_archive_set_action", "a is NULL");
    if (action == DBMGMT_ARCHIVE_DELETE) {
        if (target)
            return arch_invalid(a, "dbmgmt_archive_set_action", "DELETE takes no target");
    } else if (action == DBMGMT_ARCHIVE_MOVE || action == DBMGMT_ARCHIVE_EXPORT) {
        if (!target || !*target)
            return arch_invalid(a, "dbmgmt_archive_set_action",
                                action == DBMGMT_ARCHIVE_MOVE ? "MOVE needs an archive table"
                                                              : "EXPORT needs a folder");
    } else {
        return arch_invalid(a, "dbmgmt_archive_set_action", "not a dbmgmt_archive_action");
    }
    int rc = arch_set_string(a, &a->target, target);
    if (rc == DBMGMT_OK)
        a->action = action;
    return rc;
}

int dbmgmt_archive_set_batch_size(dbmgmt_archive *a, int32_t rows)
{
    if (!a || rows < 1 || rows > 100000)
        return arch_invalid(a, "dbmgmt_archive_set_batch_size", "rows must be 1..100000");
    a->batch_size = rows;
    return DBMGMT_OK;
}

int dbmgmt_archive_set_export_format(dbmgmt_archive *a, int32_t format, int32_t compression)
{
    if (!a || (format != DBMGMT_ARCHIVE_JSONL && format != DBMGMT_ARCHIVE_CSV) ||
        (compression != DBMGMT_ARCHIVE_GZIP && compression != DBMGMT_ARCHIVE_ZSTD))
        return arch_invalid(a, "dbmgmt_archive_set_export_format",
                            "format must be JSONL or CSV, compression GZIP or ZSTD");
#if !DM_HAVE_ZSTD
    if (compression == DBMGMT_ARCHIVE_ZSTD)
        return dm_error_set(&a->err, DBMGMT_ERR_UNSUPPORTED,
                            "dbmgmt_archive_set_export_format: zstd is not built in (-Dzstd)");
#endif
    a->format = format;
    a->compression = compression;
    return DBMGMT_OK;
}

int dbmgmt_archive_set_batch_time(dbmgmt_archive *a, int32_t target_ms, int32_t min_rows,
                                  int32_t max_rows)
{
    if (!a || target_ms < 0 || target_ms > 60000)
        return arch_invalid(a, "dbmgmt_archive_set_batch_time", "target_ms must be 0..60000");
    if (target_ms > 0 && (min_rows < 1 || max_rows > 100000 || min_rows > max_rows))
        return arch_invalid(a, "dbmgmt_archive_set_batch_time",
                            "min_rows..max_rows must be within 1..100000");
    a->batch_time_ms = target_ms;
    if (target_ms > 0) {
        a->batch_min = min_rows;
        a->batch_max = max_rows;
    }
    return DBMGMT_OK;
}

int dbmgmt_archive_set_pause_ms(dbmgmt_archive *a, int32_t ms)
{
    if (!a || ms < 0 || ms > 3600000)
        return arch_invalid(a, "dbmgmt_archive_set_pause_ms", "ms must be 0..3600000");
    a->pause_ms = ms;
    return DBMGMT_OK;
}

int dbmgmt_archive_set_replica_lag(dbmgmt_archive *a, const dbmgmt_pool *pool, int32_t max_lag_ms,
                                   int32_t check_ms)
{
    if (!a)
        return dm_error_invalid("dbmgmt_archive_set_replica_lag", "a is NULL");
    if (pool && (max_lag_ms < 0 || check_ms < 10 || check_ms > 60000))
        return arch_invalid(a, "dbmgmt_archive_set_replica_lag",
                            "max_lag_ms must be >= 0 and check_ms 10..60000");
    a->lag_pool = pool;
    a->max_lag_ms = max_lag_ms;
    a->lag_check_ms = pool ? check_ms : 100;
    return DBMGMT_OK;
}

int dbmgmt_archive_set_progress(dbmgmt_archive *a, dbmgmt_archive_progress_fn fn, void *userdata)
{
    if (!a)
        return dm_error_invalid("dbmgmt_archive_set_progress", "a is NULL");
    a->progress = fn;
    a->progress_userdata = userdata;
    return DBMGMT_OK;
}

int dbmgmt_archive_set_schedule(dbmgmt_archive *a, const char *cron, int32_t utc_offset_s)
{
    if (!a || !cron)
        return arch_invalid(a, "dbmgmt_archive_set_schedule", "NULL job or expression");
    if (utc_offset_s < -86400 || utc_offset_s > 86400)
        return arch_invalid(a, "dbmgmt_archive_set_schedule", "utc_offset_s out of range");
    dbmgmt_schedule *s = NULL;
    int rc = dbmgmt_schedule_parse(&s, cron);
    if (rc != DBMGMT_OK)
        return dm_error_set(&a->err, rc, "archive schedule: %s", dbmgmt_errmsg());
    dbmgmt_schedule_free(a->schedule);
    a->schedule = s;
    a->utc_offset_s = utc_offset_s;
    a->last_tick = -1;
    return DBMGMT_OK;
}

int32_t dbmgmt_archive_tick(dbmgmt_archive *a, int64_t now)
{
    if (!a || !a->schedule)
        return arch_invalid(a, "dbmgmt_archive_tick", "NULL job or no schedule set");
    if (a->last_tick < 0 || now < a->last_tick) {
        a->last_tick = now;
        return 0;
    }
    int64_t due = dbmgmt_schedule_next(a->schedule, a->last_tick, a->utc_offset_s);
    if (due < 0 || due > now)
        return 0;
    a->last_tick = now;
    int rc = dbmgmt_archive_run(a, now);
    return rc == DBMGMT_OK ? 1 : rc;
}

int64_t dbmgmt_archive_metric(const dbmgmt_archive *a, int32_t which)
{
    if (!a || which < 0 || which >= DM_ARCHIVE_METRICS)
        return -1;
    return a->metrics[which];
}

const char *dbmgmt_archive_last_key(const dbmgmt_archive *a)
{
    return a ? a->last_key : "";
}

const char *dbmgmt_archive_errmsg(const dbmgmt_archive *a)
{
    return a ? a->err.msg : "";
}

static const char *const metric_names[DM_ARCHIVE_METRICS] = {
    "rows_examined", "rows_moved", "rows_deleted", "rows_exported", "batches",
    "lock_ms_max",   "lag_waits",  "files_recorded", "runs",        "resumed",
    "batch_rows",    "runs_failed", "last_success"};

const char *dm_arch_action_name(int32_t action)
{
    return action == DBMGMT_ARCHIVE_MOVE     ? "move"
           : action == DBMGMT_ARCHIVE_EXPORT ? "export"
                                             : "delete";
}

char *dbmgmt_archive_status_json(dbmgmt_archive *a)
{
    if (!a) {
        dm_error_invalid("dbmgmt_archive_status_json", "a is NULL");
        return NULL;
    }
    dm_buf out = DM_BUF_INIT;
    dm_json j;
    dm_json_init(&j, &out);
    dm_json_object_begin(&j);
    dm_json_key(&j, "table");
    dm_json_string(&j, a->table);
    dm_json_key(&j, "action");
    dm_json_string(&j, dm_arch_action_name(a->action));
    dm_json_key(&j, "target");
    dm_json_string(&j, a->target);
    dm_json_key(&j, "last_key");
    dm_json_string(&j, a->last_key);
    for (int i = 0; i < DM_ARCHIVE_METRICS; i++) {
        dm_json_key(&j, metric_names[i]);
        dm_json_int(&j, a->metrics[i]);
    }
    if (a->action == DBMGMT_ARCHIVE_EXPORT) {
        dm_json_key(&j, "files");
        dm_buf files = DM_BUF_INIT;
        int rc = dm_arch_catalog_open(a);
        if (rc == DBMGMT_OK)
            rc = dm_arch_catalog_json(a, &files);
        if (rc != DBMGMT_OK) {
            dm_buf_free(&files);
            dm_buf_free(&out);
            return NULL;
        }
        /* already valid JSON: spliced in as the member's value */
        dm_buf_append(&out, files.data ? files.data : "[]", files.data ? files.len : 2);
        j.has_items[j.depth - 1] = 1;
        j.after_key = 0;
        dm_buf_free(&files);
    }
    dm_json_object_end(&j);
    if (dm_json_failed(&j) || dm_buf_failed(&out)) {
        dm_buf_free(&out);
        dm_error_set(&a->err, DBMGMT_ERR_NOMEM, "out of memory writing the archive status");
        return NULL;
    }
    return dm_buf_detach(&out);
}

void dm_arch_quote(const dbmgmt_archive *a, dm_buf *sql, const char *name)
{
    a->conn->drv->quote_ident(sql, name);
}

int dm_arch_conn_fail(dbmgmt_archive *a, int rc, const char *what)
{
    const char *msg = a->conn ? dbmgmt_conn_errmsg(a->conn) : dbmgmt_errmsg();
    return dm_error_set_sql(&a->err, rc, a->conn ? dbmgmt_conn_sqlstate(a->conn) : NULL,
                            "archive of table '%s': %s: %s", a->table, what, msg);
}
