/*
 * MOVE to another database (dbmgmt_archive_set_archive_dsn), possibly of
 * another engine. Two databases cannot share a transaction, so the order
 * is what keeps every row somewhere: with the batch's rows locked here, they
 * are written there (after deleting any copy of those keys a killed run left,
 * so a re-insert is idempotent) and committed; only then are they deleted
 * here. A kill between the two commits leaves the rows in both places until
 * the next run, which moves them again.
 */
#include "archive_impl.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "conn/conn.h"
#include "core/alloc.h"

#define REMOTE_ROWS_PER_INSERT 100

int dbmgmt_archive_set_archive_dsn(dbmgmt_archive *a, const char *dsn)
{
    if (!a)
        return dm_error_invalid("dbmgmt_archive_set_archive_dsn", "a is NULL");
    char *copy = dm_strdup(dsn);
    if (dsn && !copy)
        return dm_error_set(&a->err, DBMGMT_ERR_NOMEM, "out of memory setting the archive DSN");
    dm_free(a->archive_dsn);
    a->archive_dsn = copy;
    dbmgmt_conn_close(a->archive_conn);
    a->archive_conn = NULL;
    return DBMGMT_OK;
}

int dm_arch_remote_open(dbmgmt_archive *a)
{
    if (a->archive_conn && dbmgmt_conn_ping(a->archive_conn) != DBMGMT_OK) {
        dbmgmt_conn_close(a->archive_conn);
        a->archive_conn = NULL;
    }
    if (!a->archive_conn && dbmgmt_conn_open(&a->archive_conn, a->archive_dsn) != DBMGMT_OK)
        return dm_error_set(&a->err, dbmgmt_errcode(),
                            "archive of table '%s': the archive database: %s", a->table,
                            dbmgmt_errmsg());
    int exists = a->archive_conn->drv->table_exists(a->archive_conn->dc, NULL, a->target,
                                                    &a->err);
    if (exists < 0)
        return exists;
    if (!exists)
        return dm_error_set(&a->err, DBMGMT_ERR_NOTFOUND,
                            "archive of table '%s': no table '%s' in the archive database "
                            "(create it there with the table's columns plus archived_at BIGINT)",
                            a->table, a->target);
    return DBMGMT_OK;
}

/* The batch's rows as text (NULL for SQL NULL), rows x columns, key order. */
static int remote_read_rows(dbmgmt_archive *a, const dm_arch_keys *keys, char **values)
{
    dbmgmt_result *res = NULL;
    int rc = dm_arch_select_rows(a, keys, &res);
    int32_t row = 0;
    int next = 0;
    while (rc == DBMGMT_OK && (next = dbmgmt_result_next(res)) == 1) {
        if (row == keys->count) {
            rc = DBMGMT_ERR_INTERNAL;
            break;
        }
        for (int32_t c = 0; c < a->ncolumns && rc == DBMGMT_OK; c++) {
            if (dbmgmt_result_is_null(res, c))
                continue;
            char *v = dm_strdup(dbmgmt_result_text(res, c));
            values[row * a->ncolumns + c] = v;
            if (!v)
                rc = dm_error_set(&a->err, DBMGMT_ERR_NOMEM, "out of memory reading a batch");
        }
        row++;
    }
    if (rc == DBMGMT_OK && next < 0)
        rc = next;
    dbmgmt_result_free(res);
    if (rc == 0 && row != keys->count)
        rc = DBMGMT_ERR_INTERNAL;
    if (rc == DBMGMT_ERR_INTERNAL)
        return dm_error_set(&a->err, rc, "archive of table '%s': %d rows read, %d were locked",
                            a->table, (int)row, (int)keys->count);
    if (rc < 0 && a->err.code == DBMGMT_OK)
        rc = dm_arch_conn_fail(a, rc, "reading the batch's rows");
    return rc < 0 ? rc : DBMGMT_OK;
}

/* In the archive database: drop any copy of the keys, insert the rows, commit. */
static int remote_write_rows(dbmgmt_archive *a, const dm_arch_keys *keys, char **values,
                             int64_t now)
{
    dbmgmt_conn *rc_conn = a->archive_conn;
    int rc = dbmgmt_conn_begin(rc_conn);
    dm_buf sql = DM_BUF_INIT;
    if (rc == DBMGMT_OK) {
        dm_buf_puts(&sql, "DELETE FROM ");
        rc_conn->drv->quote_ident(&sql, a->target);
        rc = dm_arch_exec_keys_on(a, rc_conn, &sql, keys, NULL);
    } else {
        rc = dm_error_set(&a->err, rc, "archive of table '%s': the archive database: %s",
                          a->table, dbmgmt_conn_errmsg(rc_conn));
    }
    char stamp[24];
    snprintf(stamp, sizeof stamp, "%" PRId64, now);
    for (int32_t at = 0; rc == DBMGMT_OK && at < keys->count; at += REMOTE_ROWS_PER_INSERT) {
        int32_t n = keys->count - at < REMOTE_ROWS_PER_INSERT ? keys->count - at
                                                              : REMOTE_ROWS_PER_INSERT;
        rc = dm_arch_insert_rows(rc_conn, a->target, a->columns, a->ncolumns, "archived_at",
                                 stamp, (const char *const *)values + at * a->ncolumns, n,
                                 &a->err);
    }
    if (rc == DBMGMT_OK && (rc = dbmgmt_conn_commit(rc_conn)) != DBMGMT_OK)
        rc = dm_error_set(&a->err, rc, "archive of table '%s': committing in the archive "
                          "database: %s", a->table, dbmgmt_conn_errmsg(rc_conn));
    if (rc != DBMGMT_OK && dbmgmt_conn_in_transaction(rc_conn) == 1)
        dbmgmt_conn_rollback(rc_conn);
    return rc;
}

int dm_arch_remote_move_batch(dbmgmt_archive *a, const dm_arch_keys *keys, int64_t now)
{
    size_t n = (size_t)keys->count * (size_t)a->ncolumns;
    char **values = dm_calloc(n + 1, sizeof *values);
    if (!values)
        return dm_error_set(&a->err, DBMGMT_ERR_NOMEM, "out of memory reading a batch");
    int rc = remote_read_rows(a, keys, values);
    if (rc == DBMGMT_OK)
        rc = remote_write_rows(a, keys, values, now);
    if (rc == DBMGMT_OK)
        rc = dm_arch_delete_keys(a, keys, keys->count, NULL);
    if (rc == DBMGMT_OK)
        a->metrics[DBMGMT_ARCHIVE_ROWS_MOVED] += keys->count;
    for (size_t i = 0; i < n; i++)
        dm_free(values[i]);
    dm_free(values);
    return rc;
}
