/*
 * Loading exported files back (dbmgmt_archive_restore, `dbmgmt archive
 * restore`), and the key list of a file for finishing a killed export;
 * the files are read by archive_codec.c.
 */
#include "archive_impl.h"

#include <string.h>

#include "conn/conn.h"
#include "core/alloc.h"

int dm_arch_file_keys(const char *path, const char *key_column, dm_arch_keys *keys,
                      dm_error *err)
{
    dm_arch_reader *r = NULL;
    dm_arch_line line = {0};
    int rc = dm_arch_reader_open(&r, path, err);
    int64_t lineno = 0;
    while (rc == DBMGMT_OK && (rc = dm_arch_reader_row(r, &line, &lineno, err)) == 1) {
        int32_t i = 0;
        while (i < line.count && strcmp(line.names[i], key_column) != 0)
            i++;
        if (i == line.count || !line.values[i])
            rc = dm_error_set(err, DBMGMT_ERR_PARSE, "'%s' line %lld: no key column '%s'",
                              path, (long long)lineno, key_column);
        else if (dm_arch_keys_push(keys, line.values[i]) != DBMGMT_OK)
            rc = dm_error_set(err, DBMGMT_ERR_NOMEM, "out of memory reading '%s'", path);
        else
            rc = DBMGMT_OK;
    }
    dm_arch_line_free(&line);
    dm_arch_reader_close(r);
    return rc < 0 ? rc : DBMGMT_OK;
}

/* The restore's state: one multi-row INSERT per up to ROWS_PER_INSERT rows. */
#define ROWS_PER_INSERT 100
#define ROWS_PER_TRANSACTION 1000

typedef struct restore_state {
    dbmgmt_conn *conn;
    const char *table;
    const char *file;
    char **columns; /* from the first line */
    int32_t ncolumns;
    char **values;  /* ROWS_PER_INSERT * ncolumns, owned */
    int32_t rows;   /* buffered */
    int64_t done;
    dm_error err;
} restore_state;

int dm_arch_insert_rows(dbmgmt_conn *conn, const char *table, char *const *columns,
                        int32_t ncolumns, const char *extra_column, const char *extra_value,
                        const char *const *values, int32_t rows, dm_error *err)
{
    dm_buf sql = DM_BUF_INIT;
    dm_buf_puts(&sql, "INSERT INTO ");
    conn->drv->quote_ident(&sql, table);
    dm_buf_puts(&sql, " (");
    for (int32_t c = 0; c < ncolumns; c++) {
        if (c)
            dm_buf_putc(&sql, ',');
        conn->drv->quote_ident(&sql, columns[c]);
    }
    if (extra_column) {
        dm_buf_putc(&sql, ',');
        conn->drv->quote_ident(&sql, extra_column);
    }
    dm_buf_puts(&sql, ") VALUES ");
    for (int32_t r = 0; r < rows; r++) {
        dm_buf_puts(&sql, r ? ",(" : "(");
        for (int32_t c = 0; c < ncolumns; c++)
            dm_buf_puts(&sql, c ? ",?" : "?");
        if (extra_column)
            dm_buf_printf(&sql, ",%s", extra_value);
        dm_buf_putc(&sql, ')');
    }
    dbmgmt_result *res = NULL;
    int rc = dm_buf_failed(&sql)
                 ? dm_error_set(err, DBMGMT_ERR_NOMEM, "out of memory inserting into '%s'", table)
                 : dbmgmt_conn_query(conn, &res, sql.data, (size_t)(rows * ncolumns), values);
    if (rc != DBMGMT_OK && err->code == DBMGMT_OK)
        rc = dm_error_set_sql(err, rc, dbmgmt_conn_sqlstate(conn), "inserting into table '%s': %s",
                              table, dbmgmt_conn_errmsg(conn));
    dbmgmt_result_free(res);
    dm_buf_free(&sql);
    return rc;
}

static int restore_flush(restore_state *s)
{
    if (s->rows == 0)
        return DBMGMT_OK;
    int rc = dm_arch_insert_rows(s->conn, s->table, s->columns, s->ncolumns, NULL, NULL,
                                 (const char *const *)s->values, s->rows, &s->err);
    for (int32_t i = 0; i < s->rows * s->ncolumns; i++) {
        dm_free(s->values[i]);
        s->values[i] = NULL;
    }
    if (rc == DBMGMT_OK)
        s->done += s->rows;
    s->rows = 0;
    return rc;
}

/* The columns of the first line become the INSERT's; later lines must
 * have the same names in the same order. */
static int restore_take_line(restore_state *s, dm_arch_line *line, int64_t lineno)
{
    if (!s->columns) {
        s->columns = dm_calloc((size_t)line->count + 1, sizeof *s->columns);
        s->values = dm_calloc((size_t)line->count * ROWS_PER_INSERT + 1, sizeof *s->values);
        if (!s->columns || !s->values)
            return dm_error_set(&s->err, DBMGMT_ERR_NOMEM, "out of memory restoring");
        for (int32_t c = 0; c < line->count; c++) {
            if (!(s->columns[c] = dm_strdup(line->names[c])))
                return dm_error_set(&s->err, DBMGMT_ERR_NOMEM, "out of memory restoring");
            s->ncolumns = c + 1;
        }
    }
    if (line->count != s->ncolumns)
        return dm_error_set(&s->err, DBMGMT_ERR_PARSE, "'%s' line %lld: %d columns, line 1 has %d",
                            s->file, (long long)lineno, (int)line->count, (int)s->ncolumns);
    for (int32_t c = 0; c < line->count; c++) {
        if (strcmp(line->names[c], s->columns[c]) != 0)
            return dm_error_set(&s->err, DBMGMT_ERR_PARSE,
                                "'%s' line %lld: column '%s' where line 1 has '%s'", s->file,
                                (long long)lineno, line->names[c], s->columns[c]);
        s->values[s->rows * s->ncolumns + c] = line->values[c];
        line->values[c] = NULL;
    }
    s->rows++;
    return DBMGMT_OK;
}

static int restore_lines(restore_state *s, dm_arch_reader *r)
{
    dm_arch_line line = {0};
    int64_t lineno = 0;
    int rc, pending = 0;
    while ((rc = dm_arch_reader_row(r, &line, &lineno, &s->err)) == 1) {
        rc = restore_take_line(s, &line, lineno);
        if (rc != DBMGMT_OK)
            break;
        if (!pending && (rc = dbmgmt_conn_begin(s->conn)) != DBMGMT_OK)
            break;
        pending = 1;
        if (s->rows == ROWS_PER_INSERT && (rc = restore_flush(s)) != DBMGMT_OK)
            break;
        if (s->done > 0 && s->done % ROWS_PER_TRANSACTION == 0 && s->rows == 0) {
            pending = 0;
            if ((rc = dbmgmt_conn_commit(s->conn)) != DBMGMT_OK)
                break;
        }
    }
    if (rc == 0 && pending)
        rc = restore_flush(s);
    if (rc == 0 && pending)
        rc = dbmgmt_conn_commit(s->conn);
    if (rc != DBMGMT_OK && dbmgmt_conn_in_transaction(s->conn) == 1)
        dbmgmt_conn_rollback(s->conn);
    if (rc != DBMGMT_OK && s->err.code == DBMGMT_OK)
        rc = dm_error_set(&s->err, rc, "restoring '%s': %s", s->file,
                          dbmgmt_conn_errmsg(s->conn));
    dm_arch_line_free(&line);
    return rc;
}

int dbmgmt_archive_restore(const char *file, const char *dsn, const char *table,
                           int64_t *out_rows)
{
    if (out_rows)
        *out_rows = 0;
    if (!file || !table || !*table)
        return dm_error_invalid("dbmgmt_archive_restore", "file or table is NULL or empty");
    restore_state s = {0};
    s.table = table;
    s.file = file;
    dm_arch_reader *r = NULL;
    int rc = dbmgmt_conn_open(&s.conn, dsn);
    if (rc == DBMGMT_OK)
        rc = dm_arch_reader_open(&r, file, &s.err);
    if (rc == DBMGMT_OK)
        rc = restore_lines(&s, r);
    dm_arch_reader_close(r);
    for (int32_t i = 0; s.values && i < s.rows * s.ncolumns; i++)
        dm_free(s.values[i]);
    dm_free(s.values);
    for (int32_t i = 0; i < s.ncolumns; i++)
        dm_free(s.columns[i]);
    dm_free(s.columns);
    dbmgmt_conn_close(s.conn);
    if (rc == DBMGMT_OK && out_rows)
        *out_rows = s.done;
    return rc;
}
