/*
 * The masking (docs/snapshots.md): values derived from HMAC-SHA256 of the
 * source value under the host's key, the same on every engine, and the
 * masking of one table in keyset batches on its primary key (a SELECT of
 * the next batch by key, then one prepared UPDATE by key per row, one
 * transaction per batch).
 */
#include "snapshot_impl.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conn/conn.h"
#include "core/alloc.h"
#include "core/sha256.h"

#define BATCH_ROWS 500

void dm_snap_hmac(const unsigned char *key, size_t key_len, const void *data, size_t len,
                  unsigned char out[32])
{
    unsigned char k[64] = {0}, pad[64], inner[32];
    if (key_len > 64) {
        dm_sha256 h;
        dm_sha256_init(&h);
        dm_sha256_update(&h, key, key_len);
        dm_sha256_final(&h, k);
    } else if (key_len) {
        memcpy(k, key, key_len);
    }
    dm_sha256 h;
    for (int i = 0; i < 64; i++)
        pad[i] = (unsigned char)(k[i] ^ 0x36);
    dm_sha256_init(&h);
    dm_sha256_update(&h, pad, 64);
    dm_sha256_update(&h, data, len);
    dm_sha256_final(&h, inner);
    for (int i = 0; i < 64; i++)
        pad[i] = (unsigned char)(k[i] ^ 0x5c);
    dm_sha256_init(&h);
    dm_sha256_update(&h, pad, 64);
    dm_sha256_update(&h, inner, 32);
    dm_sha256_final(&h, out);
    volatile unsigned char *wipe = k;
    for (int i = 0; i < 64; i++)
        wipe[i] = 0;
    wipe = pad;
    for (int i = 0; i < 64; i++)
        wipe[i] = 0;
}

static int starts(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

void dm_snap_classify(const char *type, dm_snap_col *col)
{
    char t[128];
    size_t n = 0;
    for (const char *p = type ? type : ""; *p && n < sizeof t - 1; p++)
        t[n++] = (char)tolower((unsigned char)*p);
    t[n] = '\0';
    col->max_len = 0;
    col->int_max = 0;
    if (starts(t, "tinyint")) {
        col->type = DM_SNAP_T_INT;
        col->int_max = 127;
    } else if (starts(t, "smallint") || starts(t, "int2") || starts(t, "smallserial")) {
        col->type = DM_SNAP_T_INT;
        col->int_max = 32767;
    } else if (starts(t, "mediumint")) {
        col->type = DM_SNAP_T_INT;
        col->int_max = 8388607;
    } else if (starts(t, "bigint") || starts(t, "int8") || starts(t, "bigserial")) {
        col->type = DM_SNAP_T_INT;
        col->int_max = INT64_C(4611686018427387903);
    } else if (starts(t, "int") || starts(t, "serial")) {
        col->type = DM_SNAP_T_INT;
        col->int_max = 2147483647;
    } else if (!strcmp(t, "date")) {
        col->type = DM_SNAP_T_DATE;
    } else if (starts(t, "datetime") || starts(t, "timestamp")) {
        col->type = DM_SNAP_T_DATETIME;
    } else if (!*t || strstr(t, "char") || strstr(t, "text") || strstr(t, "clob") ||
               starts(t, "string")) {
        col->type = DM_SNAP_T_TEXT;
        const char *paren = strchr(t, '(');
        if (paren)
            col->max_len = strtoll(paren + 1, NULL, 10);
    } else {
        col->type = DM_SNAP_T_OTHER;
    }
}

static uint64_t u64_at(const unsigned char *d, int at)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | d[at + i];
    return v;
}

/* Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm). */
static void civil_from_days(int64_t z, int *y, int *m, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = (int)(yoe + era * 400 + (*m <= 2));
}

static const char hexdigits[] = "0123456789abcdef";

static void to_hex(const unsigned char *d, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hexdigits[d[i] >> 4];
        out[2 * i + 1] = hexdigits[d[i] & 15];
    }
    out[2 * n] = '\0';
}

int dm_snap_value(const dm_snap_col *col, const unsigned char *key, size_t key_len,
                  const char *input, char *out, size_t cap)
{
    unsigned char d[32];
    char hex[65];
    dm_snap_hmac(key, key_len, input, strlen(input), d);
    to_hex(d, 32, hex);
    int text = col->type == DM_SNAP_T_TEXT;
    int rc = 0;
    if (col->kind == DM_SNAP_EMAIL || col->kind == DM_SNAP_PHONE) {
        if (col->kind == DM_SNAP_EMAIL)
            snprintf(out, cap, "u%.16s@example.com", hex);
        else /* +1, an area code 200-999, then 555-0100..0199 (reserved for fiction) */
            snprintf(out, cap, "+1%03u55501%02u", (unsigned)(200 + u64_at(d, 0) % 800),
                     (unsigned)(u64_at(d, 8) % 100));
        if (!text)
            rc = -1;
        else if (col->max_len > 0 && (int64_t)strlen(out) > col->max_len)
            rc = -1;
        if (rc)
            snprintf(out, cap, "the %s rule needs a text column of at least %d characters",
                     dm_snap_rule_name(col->kind), col->kind == DM_SNAP_EMAIL ? 29 : 12);
    } else if (text) {
        size_t n = col->max_len > 0 && col->max_len < 64 ? (size_t)col->max_len : 64;
        snprintf(out, cap, "%.*s", (int)n, hex);
    } else if (col->type == DM_SNAP_T_INT) {
        snprintf(out, cap, "%lld", (long long)(u64_at(d, 0) % (uint64_t)col->int_max + 1));
    } else if (col->type == DM_SNAP_T_DATE || col->type == DM_SNAP_T_DATETIME) {
        int y, m, dd; /* 1940-01-01 + up to 70 years */
        civil_from_days(-10958 + (int64_t)(u64_at(d, 0) % 25567), &y, &m, &dd);
        snprintf(out, cap, "%04d-%02d-%02d%s", y, m, dd,
                 col->type == DM_SNAP_T_DATETIME ? " 00:00:00" : "");
    } else {
        snprintf(out, cap, "the hash rule has no value for this column's type");
        rc = -1;
    }
    volatile unsigned char *wipe = d;
    for (size_t i = 0; i < sizeof d; i++)
        wipe[i] = 0;
    return rc;
}

/* ---- one table ---- */

typedef struct batch {
    char **cells; /* rows x (npk + ncols), NULL for SQL NULL */
    size_t rows;
} batch;

static void batch_clear(batch *b, size_t width)
{
    for (size_t i = 0; i < b->rows * width; i++)
        dm_free(b->cells[i]);
    b->rows = 0;
}

static void quote(dbmgmt_conn *conn, dm_buf *sql, const char *name)
{
    conn->drv->quote_ident(sql, name);
}

/* The SELECT of the next batch: after the key in last (NULL: the first). */
static void select_sql(dbmgmt_conn *conn, dm_buf *sql, const char *table, const char *const *pk,
                       size_t npk, const dm_snap_col *cols, size_t ncols, int after)
{
    dm_buf_puts(sql, "SELECT ");
    for (size_t i = 0; i < npk; i++) {
        dm_buf_puts(sql, i ? ", " : "");
        quote(conn, sql, pk[i]);
    }
    for (size_t i = 0; i < ncols; i++) {
        dm_buf_puts(sql, ", ");
        quote(conn, sql, cols[i].name);
    }
    dm_buf_puts(sql, " FROM ");
    quote(conn, sql, table);
    if (after) {
        dm_buf_puts(sql, " WHERE (");
        for (size_t i = 0; i < npk; i++) {
            dm_buf_puts(sql, i ? ", " : "");
            quote(conn, sql, pk[i]);
        }
        dm_buf_puts(sql, ") > (");
        for (size_t i = 0; i < npk; i++)
            dm_buf_puts(sql, i ? ", ?" : "?");
        dm_buf_puts(sql, ")");
    }
    dm_buf_puts(sql, " ORDER BY ");
    for (size_t i = 0; i < npk; i++) {
        dm_buf_puts(sql, i ? ", " : "");
        quote(conn, sql, pk[i]);
    }
    dm_buf_printf(sql, " LIMIT %d", BATCH_ROWS);
}

static void update_sql(dbmgmt_conn *conn, dm_buf *sql, const char *table, const char *const *pk,
                       size_t npk, const dm_snap_col *cols, size_t ncols)
{
    dm_buf_puts(sql, "UPDATE ");
    quote(conn, sql, table);
    dm_buf_puts(sql, " SET ");
    for (size_t i = 0; i < ncols; i++) {
        dm_buf_puts(sql, i ? ", " : "");
        quote(conn, sql, cols[i].name);
        dm_buf_puts(sql, " = ?");
    }
    for (size_t i = 0; i < npk; i++) {
        dm_buf_puts(sql, i ? " AND " : " WHERE ");
        quote(conn, sql, pk[i]);
        dm_buf_puts(sql, " = ?");
    }
}

/* Read the next batch after the key of row last of prev (or the first). */
static int read_batch(dbmgmt_snapshot *s, dbmgmt_conn *conn, const char *sql, batch *b,
                      char **last_key, size_t npk, size_t width, const char *table)
{
    dbmgmt_stmt *st = NULL;
    dbmgmt_result *res = NULL;
    int rc = dbmgmt_conn_prepare(conn, &st, sql);
    for (size_t i = 0; rc == DBMGMT_OK && last_key && i < npk; i++)
        rc = dbmgmt_stmt_bind_text(st, (int32_t)i + 1, last_key[i]);
    if (rc == DBMGMT_OK)
        rc = dbmgmt_stmt_execute(st, &res);
    while (rc == DBMGMT_OK) {
        int more = dbmgmt_result_next(res);
        if (more < 0)
            rc = more;
        if (more <= 0)
            break;
        for (size_t c = 0; c < width; c++) {
            char **cell = &b->cells[b->rows * width + c];
            *cell = NULL;
            if (dbmgmt_result_is_null(res, (int32_t)c))
                continue;
            const char *v = dbmgmt_result_text(res, (int32_t)c);
            if (!(*cell = dm_strdup(v ? v : ""))) {
                for (size_t k = 0; k < c; k++)
                    dm_free(b->cells[b->rows * width + k]);
                rc = DBMGMT_ERR_NOMEM;
                break;
            }
        }
        if (rc == DBMGMT_OK)
            b->rows++;
    }
    dbmgmt_result_free(res);
    dbmgmt_stmt_free(st);
    if (rc == DBMGMT_ERR_NOMEM)
        return dm_error_set(&s->err, rc, "out of memory masking table %s", table);
    if (rc != DBMGMT_OK)
        return dm_error_set(&s->err, rc, "reading table %s to mask it: %s", table,
                            dbmgmt_conn_errmsg(conn));
    return DBMGMT_OK;
}

static int update_batch(dbmgmt_snapshot *s, dbmgmt_conn *conn, dbmgmt_stmt *up, const batch *b,
                        size_t npk, const dm_snap_col *cols, size_t ncols, const char *table)
{
    size_t width = npk + ncols;
    char value[128];
    int rc = dbmgmt_conn_begin(conn);
    for (size_t r = 0; rc == DBMGMT_OK && r < b->rows; r++) {
        char *const *row = &b->cells[r * width];
        for (size_t c = 0; rc == DBMGMT_OK && c < ncols; c++) {
            const char *in = row[npk + c];
            int32_t at = (int32_t)c + 1;
            if (!in || cols[c].kind == DM_SNAP_NULL) {
                rc = dbmgmt_stmt_bind_null(up, at);
                continue;
            }
            if (dm_snap_value(&cols[c], s->key, s->key_len, in, value, sizeof value) != 0) {
                dbmgmt_conn_rollback(conn);
                return dm_error_set(&s->err, DBMGMT_ERR_POLICY, "%s.%s: %s", table,
                                    cols[c].name, value);
            }
            rc = cols[c].type == DM_SNAP_T_INT
                     ? dbmgmt_stmt_bind_int64(up, at, strtoll(value, NULL, 10))
                     : dbmgmt_stmt_bind_text(up, at, value);
        }
        for (size_t k = 0; rc == DBMGMT_OK && k < npk; k++)
            rc = dbmgmt_stmt_bind_text(up, (int32_t)(ncols + k) + 1, row[k]);
        if (rc == DBMGMT_OK)
            rc = dbmgmt_stmt_execute(up, NULL);
    }
    memset(value, 0, sizeof value);
    if (rc == DBMGMT_OK)
        rc = dbmgmt_conn_commit(conn);
    if (rc != DBMGMT_OK) {
        int code = rc;
        char msg[DM_ERRMSG_MAX];
        snprintf(msg, sizeof msg, "%s", dbmgmt_conn_errmsg(conn));
        if (dbmgmt_conn_in_transaction(conn))
            dbmgmt_conn_rollback(conn);
        return dm_error_set(&s->err, code, "masking table %s: %s", table, msg);
    }
    return DBMGMT_OK;
}

int dm_snap_mask_table(dbmgmt_snapshot *s, dbmgmt_conn *conn, const char *table,
                       const char *const *pk, size_t npk, const dm_snap_col *cols,
                       size_t ncols, dm_snap_table_result *res)
{
    size_t width = npk + ncols;
    dm_buf first = {0}, next = {0}, upd = {0}, count = {0};
    select_sql(conn, &first, table, pk, npk, cols, ncols, 0);
    select_sql(conn, &next, table, pk, npk, cols, ncols, 1);
    update_sql(conn, &upd, table, pk, npk, cols, ncols);
    dm_buf_puts(&count, "SELECT COUNT(*) FROM ");
    quote(conn, &count, table);
    batch b = {dm_calloc(BATCH_ROWS * width, sizeof(char *)), 0};
    char **last = dm_calloc(npk, sizeof(char *));
    dbmgmt_stmt *up = NULL;
    dbmgmt_result *cr = NULL;
    int rc = DBMGMT_OK;
    if (!b.cells || !last || dm_buf_failed(&first) || dm_buf_failed(&next) ||
        dm_buf_failed(&upd) || dm_buf_failed(&count))
        rc = dm_error_set(&s->err, DBMGMT_ERR_NOMEM, "out of memory masking table %s", table);
    if (rc == DBMGMT_OK && (rc = dbmgmt_conn_query(conn, &cr, count.data, 0, NULL)) == DBMGMT_OK &&
        dbmgmt_result_next(cr) == 1)
        res->rows = dbmgmt_result_int64(cr, 0);
    else if (rc != DBMGMT_OK && rc != DBMGMT_ERR_NOMEM)
        rc = dm_error_set(&s->err, rc, "counting table %s: %s", table, dbmgmt_conn_errmsg(conn));
    dbmgmt_result_free(cr);
    if (rc == DBMGMT_OK && (rc = dbmgmt_conn_prepare(conn, &up, upd.data)) != DBMGMT_OK)
        rc = dm_error_set(&s->err, rc, "masking table %s: %s", table, dbmgmt_conn_errmsg(conn));
    int have_last = 0;
    while (rc == DBMGMT_OK) {
        rc = read_batch(s, conn, have_last ? next.data : first.data, &b,
                        have_last ? last : NULL, npk, width, table);
        if (rc != DBMGMT_OK || b.rows == 0)
            break;
        rc = update_batch(s, conn, up, &b, npk, cols, ncols, table);
        if (rc != DBMGMT_OK)
            break;
        res->masked_rows += (int64_t)b.rows;
        for (size_t k = 0; k < npk; k++) { /* the key of the batch's last row */
            dm_free(last[k]);
            last[k] = b.cells[(b.rows - 1) * width + k];
            b.cells[(b.rows - 1) * width + k] = NULL;
            if (!last[k])
                rc = dm_error_set(&s->err, DBMGMT_ERR_INVALID,
                                  "table %s has a NULL in its primary key", table);
        }
        have_last = 1;
        int full = b.rows == BATCH_ROWS;
        batch_clear(&b, width);
        if (rc == DBMGMT_OK && s->progress &&
            s->progress(s->progress_userdata, table, res->masked_rows, res->rows) != 0)
            rc = dm_error_set(&s->err, DBMGMT_ERR_POLICY,
                              "snapshot cancelled by the progress callback at table %s", table);
        if (!full)
            break;
    }
    batch_clear(&b, width);
    dm_free(b.cells);
    for (size_t k = 0; last && k < npk; k++)
        dm_free(last[k]);
    dm_free(last);
    dbmgmt_stmt_free(up);
    dm_buf_free(&first);
    dm_buf_free(&next);
    dm_buf_free(&upd);
    dm_buf_free(&count);
    return rc;
}
