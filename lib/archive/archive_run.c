/*
 * The batch loop of a retention job: keyset pagination on the key column,
 * one transaction per batch. The batch's keys are selected and locked first
 * (FOR UPDATE on the servers, the write lock taken by BEGIN IMMEDIATE on
 * SQLite), then every later statement names exactly those keys, so rows
 * that writers change meanwhile cannot slip between the archive's INSERT
 * and the DELETE. A DELETE batch on a server locks nothing first: one
 * statement deletes the old rows of the keys' range (arch_delete_old_keys).
 */
#include "archive_impl.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "conn/conn.h"
#include "core/alloc.h"
#include "core/clock.h"
#include "core/log.h"

void dm_arch_keys_clear(dm_arch_keys *k)
{
    for (int32_t i = 0; i < k->count; i++)
        dm_free(k->keys[i]);
    k->count = 0;
}

int dm_arch_keys_push(dm_arch_keys *k, const char *key)
{
    if (k->count == k->cap) {
        int32_t cap = k->cap ? k->cap * 2 : 64;
        char **keys = dm_realloc(k->keys, (size_t)cap * sizeof *keys);
        if (!keys)
            return DBMGMT_ERR_NOMEM;
        k->keys = keys;
        k->cap = cap;
    }
    char *copy = dm_strdup(key);
    if (!copy)
        return DBMGMT_ERR_NOMEM;
    k->keys[k->count++] = copy;
    return DBMGMT_OK;
}

static void arch_keys_free(dm_arch_keys *k)
{
    dm_arch_keys_clear(k);
    dm_free(k->keys);
    k->keys = NULL;
    k->cap = 0;
}

/* An integer key goes into the SQL as a literal only after this check. */
static int arch_key_is_integer(const char *s)
{
    if (*s == '-')
        s++;
    if (!*s || strlen(s) > 19)
        return 0;
    for (; *s; s++)
        if (*s < '0' || *s > '9')
            return 0;
    return 1;
}

static void arch_put_key(const dbmgmt_archive *a, dm_buf *sql, const char *key,
                         const char **params, int32_t *nparams)
{
    if (a->key_type == DBMGMT_ARCHIVE_KEY_INTEGER && arch_key_is_integer(key)) {
        dm_buf_puts(sql, key);
    } else {
        dm_buf_putc(sql, '?');
        params[(*nparams)++] = key;
    }
}

void dm_arch_where_keys(const dbmgmt_archive *a, const dbmgmt_conn *conn, dm_buf *sql,
                        const dm_arch_keys *keys, const char **params, int32_t *nparams)
{
    dm_buf_puts(sql, " WHERE ");
    /* The batch's key range first (its keys are in the key order of the
     * job's connection): the planner then reads the range on the key's
     * index whatever the list's length. Without it PostgreSQL switched to a
     * sequential scan of the whole table past ~2500 keys (a batch held 300
     * ms instead of 30). Not on the archive database, whose collation may
     * order text keys another way. */
    if (conn == a->conn && keys->count > 1) {
        conn->drv->quote_ident(sql, a->key_column);
        dm_buf_puts(sql, " >= ");
        arch_put_key(a, sql, keys->keys[0], params, nparams);
        dm_buf_puts(sql, " AND ");
        conn->drv->quote_ident(sql, a->key_column);
        dm_buf_puts(sql, " <= ");
        arch_put_key(a, sql, keys->keys[keys->count - 1], params, nparams);
        dm_buf_puts(sql, " AND ");
    }
    conn->drv->quote_ident(sql, a->key_column);
    dm_buf_puts(sql, " IN (");
    for (int32_t i = 0; i < keys->count; i++) {
        if (i)
            dm_buf_putc(sql, ',');
        arch_put_key(a, sql, keys->keys[i], params, nparams);
    }
    dm_buf_putc(sql, ')');
}

int dm_arch_exec(dbmgmt_archive *a, const char *sql, int32_t nparams, const char *const *params,
                 int64_t *affected)
{
    dbmgmt_result *res = NULL;
    int rc = dbmgmt_conn_query(a->conn, &res, sql, (size_t)nparams, params);
    if (rc != DBMGMT_OK)
        return dm_arch_conn_fail(a, rc, "statement failed");
    if (affected)
        *affected = dbmgmt_result_affected_rows(res);
    dbmgmt_result_free(res);
    return DBMGMT_OK;
}

int dm_arch_begin(dbmgmt_archive *a)
{
    int rc = dbmgmt_conn_engine(a->conn) == DBMGMT_ENGINE_SQLITE
                 ? dbmgmt_conn_exec(a->conn, "BEGIN IMMEDIATE")
                 : dbmgmt_conn_begin(a->conn);
    return rc == DBMGMT_OK ? rc : dm_arch_conn_fail(a, rc, "BEGIN");
}

int dm_arch_commit(dbmgmt_archive *a)
{
    int rc = dbmgmt_conn_commit(a->conn);
    return rc == DBMGMT_OK ? rc : dm_arch_conn_fail(a, rc, "COMMIT");
}

void dm_arch_rollback(dbmgmt_archive *a)
{
    if (dbmgmt_conn_in_transaction(a->conn) == 1)
        dbmgmt_conn_rollback(a->conn);
}

int dm_arch_exec_keys_on(dbmgmt_archive *a, dbmgmt_conn *conn, dm_buf *sql,
                         const dm_arch_keys *keys, int64_t *affected)
{
    const char **params = dm_calloc((size_t)keys->count + 3, sizeof *params);
    if (!params) {
        dm_buf_free(sql);
        return dm_error_set(&a->err, DBMGMT_ERR_NOMEM, "out of memory building a batch");
    }
    int32_t nparams = 0;
    dm_arch_where_keys(a, conn, sql, keys, params, &nparams);
    dbmgmt_result *res = NULL;
    int rc = dm_buf_failed(sql)
                 ? dm_error_set(&a->err, DBMGMT_ERR_NOMEM, "out of memory building a batch")
                 : dbmgmt_conn_query(conn, &res, sql->data, (size_t)nparams, params);
    if (rc == DBMGMT_OK && affected)
        *affected = dbmgmt_result_affected_rows(res);
    if (rc != DBMGMT_OK && a->err.code == DBMGMT_OK)
        rc = dm_error_set_sql(&a->err, rc, dbmgmt_conn_sqlstate(conn),
                              "archive of table '%s': statement failed: %s", a->table,
                              dbmgmt_conn_errmsg(conn));
    dbmgmt_result_free(res);
    dm_free(params);
    dm_buf_free(sql);
    return rc;
}

static int arch_exec_keys(dbmgmt_archive *a, dm_buf *sql, const dm_arch_keys *keys,
                          int64_t *affected)
{
    return dm_arch_exec_keys_on(a, a->conn, sql, keys, affected);
}

static void arch_column_list(const dbmgmt_archive *a, dm_buf *sql)
{
    for (int32_t i = 0; i < a->ncolumns; i++) {
        if (i)
            dm_buf_putc(sql, ',');
        dm_arch_quote(a, sql, a->columns[i]);
    }
}

int dm_arch_select_rows(dbmgmt_archive *a, const dm_arch_keys *keys, dbmgmt_result **out)
{
    *out = NULL;
    dm_buf sql = DM_BUF_INIT;
    const char **params = dm_calloc((size_t)keys->count + 3, sizeof *params);
    int32_t nparams = 0;
    dm_buf_puts(&sql, "SELECT ");
    arch_column_list(a, &sql);
    dm_buf_puts(&sql, " FROM ");
    dm_arch_quote(a, &sql, a->table);
    if (params)
        dm_arch_where_keys(a, a->conn, &sql, keys, params, &nparams);
    dm_buf_puts(&sql, " ORDER BY ");
    dm_arch_quote(a, &sql, a->key_column);
    int rc = !params || dm_buf_failed(&sql)
                 ? dm_error_set(&a->err, DBMGMT_ERR_NOMEM, "out of memory reading a batch")
                 : dbmgmt_conn_query(a->conn, out, sql.data, (size_t)nparams, params);
    if (rc != DBMGMT_OK && a->err.code == DBMGMT_OK)
        rc = dm_arch_conn_fail(a, rc, "reading the batch's rows");
    dm_free(params);
    dm_buf_free(&sql);
    return rc;
}

int dm_arch_delete_keys(dbmgmt_archive *a, const dm_arch_keys *keys, int64_t expected,
                        int64_t *deleted)
{
    dm_buf sql = DM_BUF_INIT;
    dm_buf_puts(&sql, "DELETE FROM ");
    dm_arch_quote(a, &sql, a->table);
    int64_t n = 0;
    int rc = arch_exec_keys(a, &sql, keys, &n);
    if (rc != DBMGMT_OK)
        return rc;
    if (expected >= 0 && n != expected)
        return dm_error_set(&a->err, DBMGMT_ERR_INTERNAL,
                            "archive of table '%s': the DELETE removed %" PRId64
                            " rows, %" PRId64 " were locked: nothing of the batch was kept",
                            a->table, n, expected);
    a->metrics[DBMGMT_ARCHIVE_ROWS_DELETED] += n;
    if (deleted)
        *deleted = n;
    return DBMGMT_OK;
}

/* MOVE: INSERT ... SELECT the locked rows into the archive table, then
 * delete them, both in the batch's transaction. */
static int arch_move_batch(dbmgmt_archive *a, const dm_arch_keys *keys, int64_t now)
{
    dm_buf sql = DM_BUF_INIT;
    dm_buf_puts(&sql, "INSERT INTO ");
    dm_arch_quote(a, &sql, a->target);
    dm_buf_puts(&sql, " (");
    arch_column_list(a, &sql);
    dm_buf_putc(&sql, ',');
    dm_arch_quote(a, &sql, "archived_at");
    dm_buf_puts(&sql, ") SELECT ");
    arch_column_list(a, &sql);
    dm_buf_printf(&sql, ",%" PRId64 " FROM ", now);
    dm_arch_quote(a, &sql, a->table);
    int64_t moved = 0;
    int rc = arch_exec_keys(a, &sql, keys, &moved);
    if (rc != DBMGMT_OK)
        return rc;
    if (moved != keys->count)
        return dm_error_set(&a->err, DBMGMT_ERR_INTERNAL,
                            "archive of table '%s': %" PRId64 " rows went into '%s', %d were "
                            "locked: nothing of the batch was kept",
                            a->table, moved, a->target, (int)keys->count);
    rc = dm_arch_delete_keys(a, keys, moved, NULL);
    if (rc == DBMGMT_OK)
        a->metrics[DBMGMT_ARCHIVE_ROWS_MOVED] += moved;
    return rc;
}

/* The condition that makes a row old, cutoff as a literal or a parameter. */
static void arch_put_condition(const dbmgmt_archive *a, dm_buf *sql, int64_t cutoff,
                               char *stamp, const char **params, int32_t *nparams)
{
    if (a->soft_delete) {
        dm_arch_quote(a, sql, a->time_column);
        dm_buf_puts(sql, " IS NOT NULL AND ");
    }
    dm_arch_quote(a, sql, a->time_column);
    if (a->time_kind == DBMGMT_ARCHIVE_TIME_EPOCH) {
        dm_buf_printf(sql, " < %" PRId64, cutoff);
        return;
    }
    time_t t = (time_t)cutoff;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(stamp, 32, "%Y-%m-%d %H:%M:%S", &tm);
    dm_buf_puts(sql, " < ?");
    params[(*nparams)++] = stamp;
}

/* Select the next batch's keys after a->last_key, locking them when lock
 * is set (on SQLite the transaction's write lock does). */
static int arch_select_keys(dbmgmt_archive *a, int64_t cutoff, dm_arch_keys *keys, int lock)
{
    char stamp[32];
    const char *params[2];
    int32_t nparams = 0;
    dm_buf sql = DM_BUF_INIT;
    dm_buf_puts(&sql, "SELECT ");
    dm_arch_quote(a, &sql, a->key_column);
    dm_buf_puts(&sql, " FROM ");
    dm_arch_quote(a, &sql, a->table);
    dm_buf_puts(&sql, " WHERE ");
    if (a->last_key[0]) {
        dm_arch_quote(a, &sql, a->key_column);
        dm_buf_puts(&sql, " > ");
        arch_put_key(a, &sql, a->last_key, params, &nparams);
        dm_buf_puts(&sql, " AND ");
    }
    arch_put_condition(a, &sql, cutoff, stamp, params, &nparams);
    dm_buf_puts(&sql, " ORDER BY ");
    dm_arch_quote(a, &sql, a->key_column);
    dm_buf_printf(&sql, " LIMIT %d", (int)a->next_batch);
    if (lock && dbmgmt_conn_engine(a->conn) != DBMGMT_ENGINE_SQLITE)
        dm_buf_puts(&sql, " FOR UPDATE");
    if (dm_buf_failed(&sql)) {
        dm_buf_free(&sql);
        return dm_error_set(&a->err, DBMGMT_ERR_NOMEM, "out of memory building a batch");
    }
    dbmgmt_result *res = NULL;
    int rc = dbmgmt_conn_query(a->conn, &res, sql.data, (size_t)nparams, params);
    dm_buf_free(&sql);
    if (rc != DBMGMT_OK)
        return dm_arch_conn_fail(a, rc, "selecting the next batch");
    while ((rc = dbmgmt_result_next(res)) == 1) {
        const char *key = dbmgmt_result_text(res, 0);
        if (!key || strlen(key) >= DM_ARCHIVE_KEY_MAX) {
            rc = dm_error_set(&a->err, DBMGMT_ERR_UNSUPPORTED,
                              "archive of table '%s': key column '%s' holds a NULL or a key "
                              "longer than %d bytes",
                              a->table, a->key_column, DM_ARCHIVE_KEY_MAX - 1);
            break;
        }
        if (dm_arch_keys_push(keys, key) != DBMGMT_OK) {
            rc = dm_error_set(&a->err, DBMGMT_ERR_NOMEM, "out of memory reading a batch");
            break;
        }
    }
    if (rc < 0 && a->err.code == DBMGMT_OK)
        rc = dm_arch_conn_fail(a, rc, "reading the next batch");
    dbmgmt_result_free(res);
    return rc < 0 ? rc : DBMGMT_OK;
}

/* DELETE on a server: the batch's keys were read without locks, and one
 * statement in autocommit deletes the old rows of their range (first to
 * last key, in this connection's order), holding row locks only while it
 * runs, as pt-archiver's --bulk-delete does: a row a writer made young
 * meanwhile stays, as the condition is checked again on the locked row; an
 * old row written into the range meanwhile goes too. Nothing is copied
 * anywhere, so nothing needs the keys locked between two statements. */
static int arch_delete_old_keys(dbmgmt_archive *a, const dm_arch_keys *keys, int64_t cutoff)
{
    const char *params[3];
    int32_t nparams = 0;
    char stamp[32];
    dm_buf sql = DM_BUF_INIT;
    dm_buf_puts(&sql, "DELETE FROM ");
    dm_arch_quote(a, &sql, a->table);
    dm_buf_puts(&sql, " WHERE ");
    dm_arch_quote(a, &sql, a->key_column);
    dm_buf_puts(&sql, " >= ");
    arch_put_key(a, &sql, keys->keys[0], params, &nparams);
    dm_buf_puts(&sql, " AND ");
    dm_arch_quote(a, &sql, a->key_column);
    dm_buf_puts(&sql, " <= ");
    arch_put_key(a, &sql, keys->keys[keys->count - 1], params, &nparams);
    dm_buf_puts(&sql, " AND ");
    arch_put_condition(a, &sql, cutoff, stamp, params, &nparams);
    int64_t n = 0;
    int rc = dm_buf_failed(&sql)
                 ? dm_error_set(&a->err, DBMGMT_ERR_NOMEM, "out of memory building a batch")
                 : dm_arch_exec(a, sql.data, nparams, params, &n);
    if (rc == DBMGMT_OK)
        a->metrics[DBMGMT_ARCHIVE_ROWS_DELETED] += n;
    dm_buf_free(&sql);
    return rc;
}

/* Wait while the pool's replicas lag past the bound; 1 when cancelled. */
static int arch_wait_for_lag(dbmgmt_archive *a)
{
    if (!a->lag_pool)
        return 0;
    for (;;) {
        int64_t lag = dbmgmt_pool_metric(a->lag_pool, DBMGMT_POOL_REPLICA_LAG_MS);
        if (lag < 0 || lag <= a->max_lag_ms)
            return 0;
        a->metrics[DBMGMT_ARCHIVE_LAG_WAITS]++;
        if (a->progress && a->progress(a->progress_userdata, a))
            return 1;
        dm_sleep_ms(a->lag_check_ms);
    }
}

/* The first batch's size: batch_size, within min..max when sized by time. */
static int32_t arch_first_batch(const dbmgmt_archive *a)
{
    if (a->batch_time_ms <= 0)
        return a->batch_size;
    return a->batch_size < a->batch_min   ? a->batch_min
           : a->batch_size > a->batch_max ? a->batch_max
                                          : a->batch_size;
}

/* Sized by time (pt-online-schema-change's chunk-time, with its weighted
 * average rate). The sizes aim at 70% of the target: a batch's rate jumps
 * on a loaded machine (2-3 times between neighbours in measurements), and
 * the target is a ceiling, not an average. A batch that held its locks
 * longer than the target sizes the next one from its own rate at once; a
 * faster one only grows the next batch from the weighted average rate (3/4
 * the average so far, 1/4 this batch's), by at most a quarter per batch, so
 * a single fast batch does not make the next one hold the writers for
 * several targets. Within min..max. A batch that found fewer rows than it
 * asked for (the end of the old rows) says nothing. */
static void arch_size_next_batch(dbmgmt_archive *a, int32_t rows, int64_t held_ms)
{
    if (a->batch_time_ms <= 0 || rows < a->next_batch / 2)
        return;
    double rate = (double)rows / (double)(held_ms > 0 ? held_ms : 1); /* rows per ms */
    double aim = 0.7 * (double)a->batch_time_ms;
    double want;
    if (held_ms > a->batch_time_ms) {
        a->rate_avg = rate;
        want = rate * aim;
    } else {
        a->rate_avg = a->rate_avg > 0 ? 0.75 * a->rate_avg + 0.25 * rate : rate;
        want = a->rate_avg * aim;
        if (want > 1.25 * (double)a->next_batch)
            want = 1.25 * (double)a->next_batch;
    }
    int32_t asked = a->next_batch;
    a->next_batch = want < (double)a->batch_min   ? a->batch_min
                    : want > (double)a->batch_max ? a->batch_max
                                                  : (int32_t)want;
    if (dm_log_enabled(DBMGMT_LOG_DEBUG))
        dm_log(DBMGMT_LOG_DEBUG, "archive of table '%s': %d of %d rows held the locks %" PRId64
               " ms (target %d ms): next batch %d rows", a->table, (int)rows, (int)asked,
               held_ms, (int)a->batch_time_ms, (int)a->next_batch);
}

/* One batch: 1 done, 0 there was nothing left, < 0 failure. */
static int arch_run_batch(dbmgmt_archive *a, int64_t cutoff, int64_t now, dm_arch_keys *keys)
{
    dm_arch_keys_clear(keys);
    a->pending_file[0] = '\0';
    /* DELETE on a server: no transaction around the batch (arch_delete_old_keys) */
    int light = a->action == DBMGMT_ARCHIVE_DELETE &&
                dbmgmt_conn_engine(a->conn) != DBMGMT_ENGINE_SQLITE;
    int rc = light ? DBMGMT_OK : dm_arch_begin(a);
    int64_t started = dm_monotonic_ms(); /* the locks are held from here to the commit */
    if (rc == DBMGMT_OK)
        rc = arch_select_keys(a, cutoff, keys, !light);
    if (rc == DBMGMT_OK && keys->count > 0) {
        a->metrics[DBMGMT_ARCHIVE_ROWS_EXAMINED] += keys->count;
        if (light) {
            started = dm_monotonic_ms(); /* its locks: the DELETE's own run */
            rc = arch_delete_old_keys(a, keys, cutoff);
        } else if (a->action == DBMGMT_ARCHIVE_MOVE && a->archive_dsn)
            rc = dm_arch_remote_move_batch(a, keys, now);
        else if (a->action == DBMGMT_ARCHIVE_MOVE)
            rc = arch_move_batch(a, keys, now);
        else if (a->action == DBMGMT_ARCHIVE_EXPORT)
            rc = dm_arch_export_batch(a, keys, now);
        else
            rc = dm_arch_delete_keys(a, keys, keys->count, NULL);
    }
    if (rc == DBMGMT_OK && !light)
        rc = dm_arch_commit(a);
    if (rc != DBMGMT_OK) {
        dm_arch_rollback(a);
        return rc;
    }
    int64_t held = dm_monotonic_ms() - started;
    /* SQLite in WAL mode: the job copies its own pages back into the
     * database now, outside the write lock (PASSIVE: writers go on), rather
     * than leaving the writer whose commit crosses wal_autocheckpoint to do
     * it, holding the write lock for every other writer meanwhile. A no-op
     * in the other journal modes. */
    if (dbmgmt_conn_engine(a->conn) == DBMGMT_ENGINE_SQLITE && keys->count > 0)
        sqlite3_wal_checkpoint_v2(dbmgmt_conn_native(a->conn), NULL, SQLITE_CHECKPOINT_PASSIVE,
                                  NULL, NULL);
    if (a->pending_file[0] && (rc = dm_arch_export_committed(a)) != DBMGMT_OK)
        return rc;
    if (keys->count == 0)
        return 0;
    if (held > a->metrics[DBMGMT_ARCHIVE_LOCK_MS_MAX])
        a->metrics[DBMGMT_ARCHIVE_LOCK_MS_MAX] = held;
    a->metrics[DBMGMT_ARCHIVE_BATCHES]++;
    a->metrics[DBMGMT_ARCHIVE_BATCH_ROWS] = a->next_batch;
    arch_size_next_batch(a, keys->count, held);
    snprintf(a->last_key, sizeof a->last_key, "%s", keys->keys[keys->count - 1]);
    return 1;
}

/* The table's columns, and a clear error when the key or time column is
 * not one of them. */
static int arch_read_columns(dbmgmt_archive *a)
{
    dm_buf sql = DM_BUF_INIT;
    dm_buf_puts(&sql, "SELECT * FROM ");
    dm_arch_quote(a, &sql, a->table);
    dm_buf_puts(&sql, " WHERE 1=0");
    if (dm_buf_failed(&sql))
        return dm_error_set(&a->err, DBMGMT_ERR_NOMEM, "out of memory reading columns");
    dbmgmt_result *res = NULL;
    int rc = dbmgmt_conn_query(a->conn, &res, sql.data, 0, NULL);
    dm_buf_free(&sql);
    if (rc != DBMGMT_OK)
        return dm_arch_conn_fail(a, rc, "reading its columns");
    int32_t n = dbmgmt_result_column_count(res);
    int have_key = 0, have_time = 0;
    a->columns = dm_calloc((size_t)(n > 0 ? n : 1), sizeof *a->columns);
    for (int32_t i = 0; a->columns && i < n; i++) {
        const char *name = dbmgmt_result_column_name(res, i);
        a->columns[i] = dm_strdup(name ? name : "");
        if (!a->columns[i])
            break;
        a->ncolumns = i + 1;
        have_key |= strcmp(a->columns[i], a->key_column) == 0;
        have_time |= strcmp(a->columns[i], a->time_column) == 0;
    }
    dbmgmt_result_free(res);
    if (a->ncolumns != n)
        return dm_error_set(&a->err, DBMGMT_ERR_NOMEM, "out of memory reading columns");
    if (!have_key || !have_time)
        return dm_error_set(&a->err, DBMGMT_ERR_NOTFOUND,
                            "archive of table '%s': no column '%s' (the %s column)", a->table,
                            have_key ? a->time_column : a->key_column,
                            have_key ? (a->soft_delete ? "soft-delete" : "time") : "key");
    return DBMGMT_OK;
}

/* MOVE: the archive table, created when missing with the table's columns
 * and archived_at, in one statement (a kill between a CREATE and an ALTER
 * would leave a table without archived_at on MySQL, whose DDL is not
 * transactional). Keys and indexes are not copied: see docs/archive.md. */
static int arch_ensure_archive_table(dbmgmt_archive *a)
{
    int exists = a->conn->drv->table_exists(a->conn->dc, NULL, a->target, &a->err);
    if (exists < 0)
        return dm_arch_conn_fail(a, exists, "looking for the archive table");
    if (exists)
        return DBMGMT_OK;
    dbmgmt_engine engine = dbmgmt_conn_engine(a->conn);
    dm_buf sql = DM_BUF_INIT;
    dm_buf_puts(&sql, "CREATE TABLE ");
    dm_arch_quote(a, &sql, a->target);
    dm_buf_puts(&sql, engine == DBMGMT_ENGINE_MYSQL ? " AS SELECT *, CAST(0 AS SIGNED) AS "
                                                    : " AS SELECT *, CAST(0 AS BIGINT) AS ");
    dm_arch_quote(a, &sql, "archived_at");
    dm_buf_puts(&sql, " FROM ");
    dm_arch_quote(a, &sql, a->table);
    dm_buf_puts(&sql, " WHERE 1=0");
    int rc = dm_buf_failed(&sql)
                 ? dm_error_set(&a->err, DBMGMT_ERR_NOMEM, "out of memory creating the archive")
                 : dm_arch_exec(a, sql.data, 0, NULL, NULL);
    dm_buf_free(&sql);
    return rc;
}

/* SQLite's own busy handler sleeps up to 100 ms between tries, so a job
 * waiting for the write lock loses it to writers that wait in shorter
 * steps; the job waits in 1 ms steps for the connection's busy timeout. */
static int arch_sqlite_busy(void *userdata, int count)
{
    const dbmgmt_archive *a = userdata;
    if ((int64_t)count >= a->busy_timeout_ms)
        return 0;
    dm_sleep_ms(1);
    return 1;
}

static int arch_read_busy_timeout(void *userdata, int ncols, char **values, char **names)
{
    (void)names;
    if (ncols > 0 && values[0])
        *(int64_t *)userdata = atoll(values[0]);
    return 0;
}

static void arch_sqlite_fair_wait(dbmgmt_archive *a)
{
    sqlite3 *db = dbmgmt_conn_native(a->conn);
    a->busy_timeout_ms = 5000;
    sqlite3_exec(db, "PRAGMA busy_timeout", arch_read_busy_timeout, &a->busy_timeout_ms, NULL);
    sqlite3_busy_handler(db, arch_sqlite_busy, a);
}

static int arch_prepare(dbmgmt_archive *a)
{
    if (!a->time_column || a->window_s < 0)
        return dm_error_set(&a->err, DBMGMT_ERR_INVALID,
                            "archive of table '%s': no %s set", a->table,
                            a->time_column ? "window" : "time or soft-delete column");
    if (a->conn && dbmgmt_conn_ping(a->conn) != DBMGMT_OK) {
        dbmgmt_conn_close(a->conn);
        a->conn = NULL;
    }
    if (!a->conn) {
        int rc = dbmgmt_conn_open(&a->conn, a->dsn);
        if (rc != DBMGMT_OK)
            return dm_error_set(&a->err, rc, "archive of table '%s': %s", a->table,
                                dbmgmt_errmsg());
        if (dbmgmt_conn_engine(a->conn) == DBMGMT_ENGINE_SQLITE)
            arch_sqlite_fair_wait(a);
        /* Row locks only on the rows a batch takes: no gap locks holding
         * writers' inserts (MySQL's default is REPEATABLE READ). */
        if (dbmgmt_conn_engine(a->conn) == DBMGMT_ENGINE_MYSQL) {
            rc = dbmgmt_conn_exec(a->conn,
                                  "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED");
            if (rc != DBMGMT_OK)
                return dm_arch_conn_fail(a, rc, "setting READ COMMITTED");
        }
    }
    dm_arch_columns_free(a);
    int rc = arch_read_columns(a);
    if (rc == DBMGMT_OK && a->action == DBMGMT_ARCHIVE_MOVE)
        rc = a->archive_dsn ? dm_arch_remote_open(a) : arch_ensure_archive_table(a);
    if (rc == DBMGMT_OK && a->action == DBMGMT_ARCHIVE_EXPORT) {
        rc = dm_arch_catalog_open(a);
        if (rc == DBMGMT_OK)
            rc = dm_arch_export_resume(a);
    }
    return rc;
}

int dbmgmt_archive_run(dbmgmt_archive *a, int64_t now)
{
    if (!a)
        return dm_error_invalid("dbmgmt_archive_run", "a is NULL");
    dm_error_reset(&a->err);
    int rc = arch_prepare(a);
    if (rc != DBMGMT_OK) {
        a->metrics[DBMGMT_ARCHIVE_RUNS_FAILED]++;
        a->last_run_failed = 1;
        return rc;
    }
    int64_t cutoff = now - a->window_s;
    a->last_key[0] = '\0';
    a->next_batch = arch_first_batch(a);
    a->rate_avg = 0;
    dm_arch_keys keys = {NULL, 0, 0};
    for (;;) {
        if (arch_wait_for_lag(a)) {
            rc = dm_error_set(&a->err, DBMGMT_ERR_BUSY,
                              "archive of table '%s': cancelled by the progress callback",
                              a->table);
            break;
        }
        rc = arch_run_batch(a, cutoff, now, &keys);
        if (rc <= 0)
            break;
        if (a->progress && a->progress(a->progress_userdata, a)) {
            rc = dm_error_set(&a->err, DBMGMT_ERR_BUSY,
                              "archive of table '%s': cancelled by the progress callback",
                              a->table);
            break;
        }
        dm_sleep_ms(a->pause_ms);
    }
    arch_keys_free(&keys);
    if (rc == DBMGMT_OK) {
        a->metrics[DBMGMT_ARCHIVE_RUNS]++;
        a->metrics[DBMGMT_ARCHIVE_LAST_SUCCESS] = now;
    } else {
        a->metrics[DBMGMT_ARCHIVE_RUNS_FAILED]++;
    }
    a->last_run_failed = rc != DBMGMT_OK;
    return rc;
}
