/* MySQL / MariaDB prepared statements and their buffered results
 * (mysql_impl.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "mysql_impl.h"

static void free_param_values(dm_dstmt *s)
{
    for (unsigned long i = 0; s->params && i < s->nparams; i++) {
        dm_free(s->params[i].bytes);
        s->params[i].bytes = NULL;
    }
}

static void free_columns(dm_dstmt *s)
{
    for (unsigned int i = 0; s->columns && i < s->columns_cap; i++)
        dm_free(s->columns[i].buf);
    dm_free(s->columns);
    dm_free(s->column_binds);
    s->columns = NULL;
    s->column_binds = NULL;
    s->columns_cap = 0;
    s->ncolumns = 0;
}

void dm_my_finalize(dm_dstmt *s)
{
    if (!s)
        return;
    if (s->stmt)
        dm_mariadb.mysql_stmt_close(s->stmt);
    if (s->meta)
        dm_mariadb.mysql_free_result(s->meta);
    free_param_values(s);
    dm_free(s->params);
    dm_free(s->param_binds);
    free_columns(s);
    dm_free(s);
}

/* Every parameter starts as NULL, as an unbound one is on SQLite. */
static int alloc_params(dm_dstmt *s)
{
    s->nparams = dm_mariadb.mysql_stmt_param_count(s->stmt);
    if (s->nparams == 0)
        return DBMGMT_OK;
    s->param_binds = dm_calloc(s->nparams, sizeof *s->param_binds);
    s->params = dm_calloc(s->nparams, sizeof *s->params);
    if (!s->param_binds || !s->params)
        return DBMGMT_ERR_NOMEM;
    for (unsigned long i = 0; i < s->nparams; i++) {
        s->param_binds[i].buffer_type = MYSQL_TYPE_NULL;
        s->param_binds[i].is_null = &s->params[i].is_null;
        s->params[i].is_null = 1;
    }
    return DBMGMT_OK;
}

int dm_my_prepare(dm_dconn *c, const char *sql, int one_shot, dm_dstmt **out,
                  dm_error *err)
{
    (void)one_shot; /* binds need the binary protocol: always a server-side statement */
    dm_dstmt *s = dm_calloc(1, sizeof *s);
    if (!s)
        return dm_error_set(err, DBMGMT_ERR_NOMEM, "out of memory preparing a statement");
    s->conn = c;
    int rc;
    s->stmt = dm_mariadb.mysql_stmt_init(c->db);
    if (!s->stmt) {
        rc = dm_my_fail(c->db, err, "preparing a statement");
        goto fail;
    }
    my_bool on = 1;
    dm_mariadb.mysql_stmt_attr_set(s->stmt, STMT_ATTR_UPDATE_MAX_LENGTH, &on);
    if (dm_mariadb.mysql_stmt_prepare(s->stmt, sql, (unsigned long)strlen(sql)) != 0) {
        rc = dm_my_stmt_fail(s, err, NULL);
        goto fail;
    }
    if (alloc_params(s) != DBMGMT_OK) {
        rc = dm_error_set(err, DBMGMT_ERR_NOMEM, "out of memory preparing a statement");
        goto fail;
    }
    *out = s;
    return DBMGMT_OK;
fail:
    dm_my_finalize(s);
    return rc;
}

int32_t dm_my_param_count(const dm_dstmt *s)
{
    return (int32_t)s->nparams;
}

int dm_my_bind(dm_dstmt *s, int32_t index, const dm_value *v, dm_error *err)
{
    if (index < 1 || (unsigned long)index > s->nparams)
        return dm_error_set(err, DBMGMT_ERR_INVALID, "parameter index %d is out of range",
                            (int)index);
    MYSQL_BIND *b = &s->param_binds[index - 1];
    param_slot *p = &s->params[index - 1];
    char *copy = NULL;
    if (v->type == DM_VALUE_TEXT || v->type == DM_VALUE_BLOB) {
        if (v->len > 0xffffffffUL)
            return dm_error_set(err, DBMGMT_ERR_INVALID, "parameter %d is larger than 4 GiB",
                                (int)index);
        copy = dm_malloc(v->len ? v->len : 1);
        if (!copy)
            return dm_error_set(err, DBMGMT_ERR_NOMEM, "out of memory binding parameter %d",
                                (int)index);
        if (v->len)
            memcpy(copy, v->bytes, v->len);
    }
    dm_free(p->bytes);
    p->bytes = copy;
    memset(b, 0, sizeof *b);
    b->is_null = &p->is_null;
    p->is_null = 0;
    switch (v->type) {
    case DM_VALUE_NULL:
        b->buffer_type = MYSQL_TYPE_NULL;
        p->is_null = 1;
        break;
    case DM_VALUE_INT64:
        p->i = v->i;
        b->buffer_type = MYSQL_TYPE_LONGLONG;
        b->buffer = &p->i;
        break;
    case DM_VALUE_DOUBLE:
        p->d = v->d;
        b->buffer_type = MYSQL_TYPE_DOUBLE;
        b->buffer = &p->d;
        break;
    case DM_VALUE_TEXT:
    case DM_VALUE_BLOB:
        p->len = (unsigned long)v->len;
        b->buffer_type = v->type == DM_VALUE_TEXT ? MYSQL_TYPE_STRING : MYSQL_TYPE_BLOB;
        b->buffer = p->bytes;
        b->buffer_length = p->len;
        b->length = &p->len;
        break;
    }
    return DBMGMT_OK;
}

/* Grow the column arrays to n entries (buffers are sized later). */
static int reserve_columns(dm_dstmt *s, unsigned int n)
{
    if (n <= s->columns_cap)
        return DBMGMT_OK;
    MYSQL_BIND *binds = dm_calloc(n, sizeof *binds);
    column_slot *slots = dm_calloc(n, sizeof *slots);
    if (!binds || !slots) {
        dm_free(binds);
        dm_free(slots);
        return DBMGMT_ERR_NOMEM;
    }
    if (s->columns_cap)
        memcpy(slots, s->columns, s->columns_cap * sizeof *slots);
    dm_free(s->columns);
    dm_free(s->column_binds);
    s->columns = slots;
    s->column_binds = binds;
    s->columns_cap = n;
    return DBMGMT_OK;
}

/* Make slot hold at least need bytes of data (plus the NUL). */
static int grow_column(column_slot *slot, unsigned long need)
{
    if (slot->buf && slot->cap >= need)
        return DBMGMT_OK;
    char *buf = dm_malloc((size_t)need + 1);
    if (!buf)
        return DBMGMT_ERR_NOMEM;
    dm_free(slot->buf);
    slot->buf = buf;
    slot->cap = need;
    return DBMGMT_OK;
}

static void bind_column(dm_dstmt *s, unsigned int i)
{
    MYSQL_BIND *b = &s->column_binds[i];
    column_slot *slot = &s->columns[i];
    memset(b, 0, sizeof *b);
    b->buffer_type = MYSQL_TYPE_STRING; /* bytes: BLOBs and NULs in text come back exactly */
    b->buffer = slot->buf;
    b->buffer_length = slot->cap;
    b->length = &slot->len;
    b->is_null = &slot->is_null;
    b->error = &slot->truncated;
}

/* After store_result: buffers sized from each column's longest value. */
static int bind_result_columns(dm_dstmt *s, dm_error *err)
{
    if (s->meta)
        dm_mariadb.mysql_free_result(s->meta);
    s->meta = dm_mariadb.mysql_stmt_result_metadata(s->stmt);
    if (!s->meta)
        return dm_my_stmt_fail(s, err, "reading the result's columns");
    unsigned int n = dm_mariadb.mysql_num_fields(s->meta);
    MYSQL_FIELD *fields = dm_mariadb.mysql_fetch_fields(s->meta);
    if (reserve_columns(s, n) != DBMGMT_OK)
        return dm_error_set(err, DBMGMT_ERR_NOMEM, "out of memory reading a result");
    s->ncolumns = n;
    for (unsigned int i = 0; i < n; i++) {
        unsigned long need = fields[i].max_length;
        if (need < MY_COLUMN_MIN_BUFFER)
            need = MY_COLUMN_MIN_BUFFER;
        if (grow_column(&s->columns[i], need) != DBMGMT_OK)
            return dm_error_set(err, DBMGMT_ERR_NOMEM, "out of memory reading a result");
        bind_column(s, i);
    }
    if (dm_mariadb.mysql_stmt_bind_result(s->stmt, s->column_binds) != 0)
        return dm_my_stmt_fail(s, err, "binding the result's columns");
    return DBMGMT_OK;
}

int dm_my_execute(dm_dstmt *s, dm_error *err)
{
    dm_mariadb.mysql_stmt_free_result(s->stmt);
    s->has_result = 0;
    s->done = 0;
    s->affected = 0;
    s->ncolumns = 0;
    if (s->nparams && dm_mariadb.mysql_stmt_bind_param(s->stmt, s->param_binds) != 0)
        return dm_my_stmt_fail(s, err, "binding parameters");
    if (dm_mariadb.mysql_stmt_execute(s->stmt) != 0)
        return dm_my_stmt_fail(s, err, NULL);
    if (dm_mariadb.mysql_stmt_field_count(s->stmt) == 0) {
        my_ulonglong n = dm_mariadb.mysql_stmt_affected_rows(s->stmt);
        s->affected = n == (my_ulonglong)-1 ? 0 : (int64_t)n;
        s->done = 1;
        return DBMGMT_OK;
    }
    int rc = DBMGMT_OK;
    if (dm_mariadb.mysql_stmt_store_result(s->stmt) != 0)
        rc = dm_my_stmt_fail(s, err, NULL);
    if (rc == DBMGMT_OK)
        rc = bind_result_columns(s, err);
    if (rc != DBMGMT_OK) {
        dm_mariadb.mysql_stmt_free_result(s->stmt);
        s->ncolumns = 0;
        return rc;
    }
    s->has_result = 1;
    return DBMGMT_OK;
}

/* A value longer than its buffer: grow the buffer and fetch it again.
 * (Only strings, BLOBs and DECIMALs can be truncated: Connector/C renders
 * a float or an integer to fit the buffer, hence MY_COLUMN_MIN_BUFFER.) */
static int refetch_column(dm_dstmt *s, unsigned int i, dm_error *err)
{
    column_slot *slot = &s->columns[i];
    if (!slot->truncated)
        return DBMGMT_OK;
    if (grow_column(slot, slot->len) != DBMGMT_OK)
        return dm_error_set(err, DBMGMT_ERR_NOMEM, "out of memory reading a result");
    bind_column(s, i);
    slot->truncated = 0;
    if (dm_mariadb.mysql_stmt_fetch_column(s->stmt, &s->column_binds[i], i, 0) != 0)
        return dm_my_stmt_fail(s, err, "reading a long value");
    return DBMGMT_OK;
}

static int refetch_truncated(dm_dstmt *s, dm_error *err)
{
    for (unsigned int i = 0; i < s->ncolumns; i++) {
        int rc = refetch_column(s, i, err);
        if (rc != DBMGMT_OK)
            return rc;
    }
    /* the statement keeps a copy of the binds: give it the new buffers */
    if (dm_mariadb.mysql_stmt_bind_result(s->stmt, s->column_binds) != 0)
        return dm_my_stmt_fail(s, err, "binding the result's columns");
    return DBMGMT_OK;
}

int dm_my_next(dm_dstmt *s, dm_error *err)
{
    if (!s->has_result || s->done)
        return 0;
    int rc = dm_mariadb.mysql_stmt_fetch(s->stmt);
    if (rc == MYSQL_NO_DATA) {
        s->done = 1;
        return 0;
    }
    if (rc == 1) {
        s->done = 1;
        return dm_my_stmt_fail(s, err, NULL);
    }
    if (rc == MYSQL_DATA_TRUNCATED) {
        rc = refetch_truncated(s, err);
        if (rc != DBMGMT_OK) {
            s->done = 1;
            return rc;
        }
    }
    for (unsigned int i = 0; i < s->ncolumns; i++) {
        column_slot *slot = &s->columns[i];
        slot->buf[slot->is_null ? 0 : slot->len] = '\0';
    }
    return 1;
}

int32_t dm_my_column_count(const dm_dstmt *s)
{
    if (s->ncolumns)
        return (int32_t)s->ncolumns;
    return (int32_t)dm_mariadb.mysql_stmt_field_count(s->stmt);
}

const char *dm_my_column_name(const dm_dstmt *s, int32_t col)
{
    if (!s->meta || col < 0 || (unsigned int)col >= s->ncolumns)
        return NULL;
    return dm_mariadb.mysql_fetch_fields(s->meta)[col].name;
}

static column_slot *current_column(dm_dstmt *s, int32_t col)
{
    if (!s->has_result || s->done || col < 0 || (unsigned int)col >= s->ncolumns)
        return NULL;
    return &s->columns[col];
}

int dm_my_column_is_null(dm_dstmt *s, int32_t col)
{
    column_slot *slot = current_column(s, col);
    return !slot || slot->is_null;
}

const char *dm_my_column_text(dm_dstmt *s, int32_t col)
{
    column_slot *slot = current_column(s, col);
    return slot && !slot->is_null ? slot->buf : NULL;
}

const void *dm_my_column_blob(dm_dstmt *s, int32_t col, size_t *len)
{
    column_slot *slot = current_column(s, col);
    if (!slot || slot->is_null) {
        *len = 0;
        return NULL;
    }
    *len = slot->len;
    return slot->buf;
}

double dm_my_column_double(dm_dstmt *s, int32_t col)
{
    const char *text = dm_my_column_text(s, col);
    return text ? strtod(text, NULL) : 0.0;
}

/* Integers parse exactly; a decimal or floating value converts as SQLite
 * converts a REAL (truncated, clamped to the int64 range). */
int64_t dm_my_column_int64(dm_dstmt *s, int32_t col)
{
    const char *text = dm_my_column_text(s, col);
    if (!text)
        return 0;
    char *end = NULL;
    long long v = strtoll(text, &end, 10);
    if (end && (*end == '.' || *end == 'e' || *end == 'E')) {
        double d = strtod(text, NULL);
        if (d >= 9223372036854775807.0)
            return INT64_MAX;
        if (d <= -9223372036854775808.0)
            return INT64_MIN;
        return (int64_t)d;
    }
    return (int64_t)v;
}

/* Binary strings and BLOBs carry the binary character set (63). */
#define MY_BINARY_CHARSET 63

dm_value_type dm_my_column_type(dm_dstmt *s, int32_t col)
{
    if (!current_column(s, col) || !s->meta)
        return DM_VALUE_TEXT;
    const MYSQL_FIELD *f = &dm_mariadb.mysql_fetch_fields(s->meta)[col];
    switch (f->type) {
    case MYSQL_TYPE_TINY:
    case MYSQL_TYPE_SHORT:
    case MYSQL_TYPE_LONG:
    case MYSQL_TYPE_INT24:
    case MYSQL_TYPE_YEAR:
        return DM_VALUE_INT64;
    case MYSQL_TYPE_LONGLONG: /* BIGINT UNSIGNED may not fit: its digits */
        return (f->flags & UNSIGNED_FLAG) ? DM_VALUE_TEXT : DM_VALUE_INT64;
    case MYSQL_TYPE_FLOAT:
    case MYSQL_TYPE_DOUBLE:
        return DM_VALUE_DOUBLE;
    case MYSQL_TYPE_TINY_BLOB:
    case MYSQL_TYPE_MEDIUM_BLOB:
    case MYSQL_TYPE_LONG_BLOB:
    case MYSQL_TYPE_BLOB:
    case MYSQL_TYPE_STRING:
    case MYSQL_TYPE_VAR_STRING:
    case MYSQL_TYPE_VARCHAR:
        return f->charsetnr == MY_BINARY_CHARSET ? DM_VALUE_BLOB : DM_VALUE_TEXT;
    default:
        return DM_VALUE_TEXT;
    }
}

int64_t dm_my_affected_rows(const dm_dstmt *s)
{
    return s->affected;
}

void dm_my_reset(dm_dstmt *s)
{
    dm_mariadb.mysql_stmt_free_result(s->stmt);
    s->has_result = 0;
    s->done = 0;
}

/* ------------------------------------------------------------ transactions */

