/* The history table: one row per applied version, plus the environment row. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/alloc.h"
#include "core/sha256.h"
#include "migrator.h"

/* Copy the connection's error to the migrator; returns its code. */
static int from_conn(dbmgmt_migrator *m, int rc)
{
    if (rc < 0)
        dm_error_copy(&m->err, &m->conn->err);
    return rc;
}

/* Keep a saved session state, and the schema it resolves unless the table
 * named its own. rc: the driver's. */
static int session_keep(dbmgmt_migrator *m, dm_session_state *st, int rc)
{
    if (rc == DBMGMT_ERR_NOTFOUND && m->schema[0])
        rc = DBMGMT_OK; /* no current schema, and none needed: the table names its own */
    if (rc != DBMGMT_OK) {
        dm_session_state_clear(st);
        return from_conn(m, rc);
    }
    if (!m->schema[0])
        snprintf(m->schema, sizeof m->schema, "%s", st->schema);
    dm_session_state_clear(&m->session);
    m->session = *st;
    m->session_saved = 1;
    return DBMGMT_OK;
}

int dm_migrator_session(dbmgmt_migrator *m)
{
    if (m->session_saved)
        return DBMGMT_OK;
    const dm_driver *drv = m->conn->drv;
    dm_session_state st;
    memset(&st, 0, sizeof st);
    if (!drv->session_schema) {
        int rc = session_keep(m, &st, drv->session_save(m->conn->dc, &st, &m->conn->err));
        m->session_full = rc == DBMGMT_OK;
        return rc;
    }
    int exists = 0;
    int rc = drv->session_schema(m->conn->dc, m->schema[0] ? m->schema : NULL, m->table, &st,
                                 &exists, &m->conn->err);
    rc = session_keep(m, &st, rc);
    m->table_known = rc == DBMGMT_OK ? (exists ? 1 : 0) : -1;
    return rc;
}

int dm_migrator_session_full(dbmgmt_migrator *m)
{
    if (m->session_full)
        return DBMGMT_OK;
    dm_session_state st;
    memset(&st, 0, sizeof st);
    int rc = session_keep(m, &st, m->conn->drv->session_save(m->conn->dc, &st, &m->conn->err));
    m->session_full = rc == DBMGMT_OK;
    return rc;
}

int dm_migrator_session_restore(dbmgmt_migrator *m, const char *version, int rc)
{
    if (!m->session_full)
        return rc;
    int restored = m->conn->drv->session_restore(m->conn->dc, &m->session, &m->conn->err);
    if (restored != DBMGMT_OK && rc == DBMGMT_OK)
        return dm_error_set(&m->err, restored, "after migration %s: %s", version,
                            dbmgmt_conn_errmsg(m->conn));
    return rc;
}

void dm_history_table_sql(dbmgmt_migrator *m, dm_buf *out)
{
    if (m->schema[0]) {
        m->conn->drv->quote_ident(out, m->schema);
        dm_buf_putc(out, '.');
    }
    m->conn->drv->quote_ident(out, m->table);
}

/* "PREFIX <schema>.<table> SUFFIX" in *out; the session is saved first, so
 * the name is qualified by the schema it was resolved to. */
static int history_sql(dbmgmt_migrator *m, const char *prefix, const char *suffix, char **out)
{
    *out = NULL;
    int rc = dm_migrator_session(m);
    if (rc != DBMGMT_OK)
        return rc;
    dm_buf b = DM_BUF_INIT;
    dm_buf_puts(&b, prefix);
    dm_history_table_sql(m, &b);
    dm_buf_puts(&b, suffix);
    *out = dm_buf_detach(&b);
    return *out ? DBMGMT_OK : dm_migrator_fail(m, DBMGMT_ERR_NOMEM, "out of memory");
}

/* Whether the history table exists, in the schema the session was saved with. */
static int history_table_exists(dbmgmt_migrator *m)
{
    int first = !m->session_saved;
    int rc = dm_migrator_session(m);
    if (rc != DBMGMT_OK)
        return rc;
    if (first && m->table_known >= 0) /* answered with the schema, just now */
        return m->table_known;
    int exists = m->conn->drv->table_exists(m->conn->dc, m->schema, m->table, &m->conn->err);
    return exists < 0 ? from_conn(m, exists) : exists;
}

static int history_exec(dbmgmt_migrator *m, const char *prefix, const char *suffix,
                        size_t nparams, const char *const *params)
{
    char *sql = NULL;
    int rc = history_sql(m, prefix, suffix, &sql);
    if (rc != DBMGMT_OK)
        return rc;
    dbmgmt_result *r = NULL;
    rc = dbmgmt_conn_query(m->conn, &r, sql, nparams, params);
    dbmgmt_result_free(r);
    dm_free(sql);
    return from_conn(m, rc);
}

int dm_history_ensure_table(dbmgmt_migrator *m)
{
    int exists = history_table_exists(m);
    if (exists < 0)
        return exists;
    if (exists)
        return DBMGMT_OK;
    /* Types that mean the same on every engine; the driver quotes the name. */
    char *sql = NULL;
    int rc = history_sql(m, "CREATE TABLE IF NOT EXISTS ",
                            " (installed_rank INTEGER NOT NULL PRIMARY KEY,"
                            " version VARCHAR(64) NOT NULL UNIQUE,"
                            " description VARCHAR(255) NOT NULL,"
                            " script VARCHAR(1000) NOT NULL,"
                            " checksum VARCHAR(64) NOT NULL,"
                            " installed_by VARCHAR(100) NOT NULL,"
                            " installed_on VARCHAR(32) NOT NULL,"
                            " execution_ms BIGINT NOT NULL,"
                            " success SMALLINT NOT NULL,"
                            " statements_applied INTEGER NOT NULL,"
                            " error_message TEXT)", &sql);
    if (rc != DBMGMT_OK)
        return rc;
    rc = dbmgmt_conn_exec(m->conn, sql);
    dm_free(sql);
    return from_conn(m, rc);
}

void dm_history_clear(dm_history *h)
{
    dm_free(h->rows);
    dm_free(h->arena);
    dm_free(h->environment);
    memset(h, 0, sizeof *h);
}

static int compare_rows(const void *a, const void *b)
{
    return dm_version_compare(((const dm_history_row *)a)->version,
                              ((const dm_history_row *)b)->version);
}

/* Point at the dirty row, the baseline and the newest applied version. */
static void history_index(dm_history *h)
{
    for (size_t i = 0; i < h->count; i++) {
        const dm_history_row *row = &h->rows[i];
        if (!row->success && !h->dirty)
            h->dirty = row;
        if (row->checksum && strcmp(row->checksum, DM_BASELINE_CHECKSUM) == 0)
            h->baseline = row->version;
        if (row->success)
            h->newest = row->version;
    }
}

/* The text columns of a row, as offsets into the arena being built (the
 * arena moves while it grows: pointers are set once it is complete). */
enum { COL_VERSION, COL_DESCRIPTION, COL_SCRIPT, COL_CHECKSUM, COL_ERROR, TEXT_COLUMNS };
static const int32_t text_column_index[TEXT_COLUMNS] = {1, 2, 3, 4, 7};
#define NO_TEXT SIZE_MAX

typedef struct row_texts {
    size_t offset[TEXT_COLUMNS];
} row_texts;

/* Take one result row into h (the environment row becomes h->environment). */
static int history_take_row(dm_history *h, dbmgmt_result *r, size_t *cap, dm_buf *arena,
                            row_texts **texts)
{
    const char *version = dbmgmt_result_text(r, 1);
    int64_t rank = dbmgmt_result_int64(r, 0);
    if (rank > h->max_rank)
        h->max_rank = rank;
    if (!version)
        return DBMGMT_ERR_INTERNAL;
    if (strcmp(version, DM_APPLIED_ROW_VERSION) == 0)
        return DBMGMT_OK; /* the digest row: only the fast read uses it */
    if (strcmp(version, DM_ENV_ROW_VERSION) == 0) {
        dm_free(h->environment);
        h->environment = dm_strdup(dbmgmt_result_text(r, 2) ? dbmgmt_result_text(r, 2) : "");
        return h->environment ? DBMGMT_OK : DBMGMT_ERR_NOMEM;
    }
    if (h->count == *cap) {
        *cap = *cap ? *cap * 2 : 64;
        dm_history_row *grown = dm_realloc(h->rows, *cap * sizeof *grown);
        row_texts *grown_texts = grown ? dm_realloc(*texts, *cap * sizeof *grown_texts) : NULL;
        if (grown)
            h->rows = grown;
        if (!grown || !grown_texts)
            return DBMGMT_ERR_NOMEM;
        *texts = grown_texts;
    }
    dm_history_row *row = &h->rows[h->count];
    row_texts *t = &(*texts)[h->count];
    memset(row, 0, sizeof *row);
    row->rank = rank;
    row->success = dbmgmt_result_int64(r, 5) != 0;
    row->statements_applied = (int32_t)dbmgmt_result_int64(r, 6);
    for (int k = 0; k < TEXT_COLUMNS; k++) {
        const char *v = dbmgmt_result_text(r, text_column_index[k]);
        t->offset[k] = v ? arena->len : NO_TEXT;
        if (v)
            dm_buf_append(arena, v, strlen(v) + 1);
    }
    h->count++;
    return dm_buf_failed(arena) ? DBMGMT_ERR_NOMEM : DBMGMT_OK;
}

/* The arena is complete: turn offsets into pointers. */
static void history_fix_pointers(dm_history *h, const row_texts *texts)
{
    for (size_t i = 0; i < h->count; i++) {
        char **field[TEXT_COLUMNS] = {&h->rows[i].version, &h->rows[i].description,
                                      &h->rows[i].script, &h->rows[i].checksum,
                                      &h->rows[i].error};
        for (int k = 0; k < TEXT_COLUMNS; k++)
            *field[k] = texts[i].offset[k] == NO_TEXT ? NULL : h->arena + texts[i].offset[k];
    }
}

int dm_history_read(dbmgmt_migrator *m, dm_history *h)
{
    memset(h, 0, sizeof *h);
    int exists = history_table_exists(m);
    if (exists <= 0)
        return exists;
    h->table_exists = 1;
    char *sql = NULL;
    int rc = history_sql(m, "SELECT installed_rank, version, description, script, checksum, "
                            "success, statements_applied, error_message FROM ",
                         " ORDER BY installed_rank", &sql);
    if (rc != DBMGMT_OK)
        return rc;
    dbmgmt_result *r = NULL;
    rc = from_conn(m, dbmgmt_conn_query(m->conn, &r, sql, 0, NULL));
    dm_free(sql);
    size_t cap = 0;
    dm_buf arena = DM_BUF_INIT;
    row_texts *texts = NULL;
    while (rc == DBMGMT_OK && (rc = dbmgmt_result_next(r)) == 1)
        rc = history_take_row(h, r, &cap, &arena, &texts);
    dbmgmt_result_free(r);
    if (rc == DBMGMT_ERR_NOMEM || rc == DBMGMT_ERR_INTERNAL)
        dm_migrator_fail(m, rc, "%s reading the history table",
                         rc == DBMGMT_ERR_NOMEM ? "out of memory" : "a row without a version");
    else if (rc < 0)
        from_conn(m, rc);
    if (rc >= 0) {
        h->arena = dm_buf_detach(&arena);
        if (!h->arena)
            rc = dm_migrator_fail(m, DBMGMT_ERR_NOMEM, "out of memory reading the history table");
    }
    if (rc >= 0)
        history_fix_pointers(h, texts);
    dm_buf_free(&arena);
    dm_free(texts);
    if (rc < 0) {
        dm_history_clear(h);
        return rc;
    }
    /* rows come in rank order, which is version order unless migrations
     * ran out of order: sort only then */
    int sorted = 1;
    for (size_t i = 1; i < h->count && sorted; i++)
        sorted = dm_version_compare(h->rows[i - 1].version, h->rows[i].version) < 0;
    if (!sorted)
        qsort(h->rows, h->count, sizeof *h->rows, compare_rows);
    history_index(h);
    return DBMGMT_OK;
}

const dm_history_row *dm_history_find(const dm_history *h, const char *version)
{
    size_t lo = 0, hi = h->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = dm_version_compare(h->rows[mid].version, version);
        if (c == 0)
            return &h->rows[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

void dm_utc_now(char out[32])
{
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

const char *dm_installed_by(void)
{
    const char *user = getenv("USER");
    return user && *user ? user : "unknown";
}

/* A history row's INSERT as text, its values quoted by the driver (MySQL:
 * one round trip, where a parameterised statement costs a prepare, an
 * execute and a close). DBMGMT_ERR_INVALID when the driver has no quoting
 * or a value cannot be quoted: then the caller binds them. */
static int history_insert_text(dbmgmt_migrator *m, const char *const *values, size_t n)
{
    if (!m->conn->drv->quote_literal)
        return DBMGMT_ERR_INVALID;
    int rc = dm_migrator_session(m);
    if (rc != DBMGMT_OK)
        return rc;
    dm_buf b = DM_BUF_INIT;
    dm_buf_puts(&b, "INSERT INTO ");
    dm_history_table_sql(m, &b);
    dm_buf_puts(&b, " (installed_rank, version, description, script, checksum, installed_by,"
                    " installed_on, execution_ms, success, statements_applied) VALUES (");
    for (size_t i = 0; i < n && rc == DBMGMT_OK; i++) {
        if (i)
            dm_buf_puts(&b, ", ");
        rc = m->conn->drv->quote_literal(m->conn->dc, &b, values[i]);
    }
    dm_buf_putc(&b, ')');
    if (rc == DBMGMT_OK && dm_buf_failed(&b))
        rc = DBMGMT_ERR_NOMEM;
    if (rc == DBMGMT_OK)
        rc = from_conn(m, dm_conn_exec_statement(m->conn, b.data));
    else if (rc == DBMGMT_ERR_NOMEM)
        rc = dm_migrator_fail(m, rc, "out of memory writing a history row");
    dm_buf_free(&b);
    return rc;
}

int dm_history_insert_raw(dbmgmt_migrator *m, int64_t rank, const char *version,
                          const char *description, const char *script, const char *checksum)
{
    char rank_s[24], now[32];
    snprintf(rank_s, sizeof rank_s, "%lld", (long long)rank);
    dm_utc_now(now);
    const char *params[] = {rank_s,   version,           description, script,
                            checksum, dm_installed_by(), now};
    return history_exec(m, "INSERT INTO ",
                        " (installed_rank, version, description, script, checksum, installed_by,"
                        " installed_on, execution_ms, success, statements_applied)"
                        " VALUES (?, ?, ?, ?, ?, ?, ?, 0, 1, 0)", 7, params);
}

int dm_history_insert(dbmgmt_migrator *m, int64_t rank, const dm_migration *mig, int success,
                      int32_t statements_applied, int64_t execution_ms)
{
    char rank_s[24], ms[24], ok[4], applied[16], now[32];
    snprintf(rank_s, sizeof rank_s, "%lld", (long long)rank);
    snprintf(ms, sizeof ms, "%lld", (long long)execution_ms);
    snprintf(ok, sizeof ok, "%d", success ? 1 : 0);
    snprintf(applied, sizeof applied, "%d", (int)statements_applied);
    dm_utc_now(now);
    const char *params[] = {rank_s, mig->version, mig->name, mig->up.file ? mig->up.file : "",
                            mig->checksum, dm_installed_by(), now, ms, ok, applied};
    int rc = history_insert_text(m, params, 10);
    if (rc != DBMGMT_ERR_INVALID)
        return rc;
    return history_exec(m, "INSERT INTO ",
                        " (installed_rank, version, description, script, checksum, installed_by,"
                        " installed_on, execution_ms, success, statements_applied)"
                        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", 10, params);
}

/* Only digits, dots and lower-case hex: safe as a literal between quotes. */
static int literal_safe(const char *s)
{
    if (!s || !*s)
        return 0;
    for (; *s; s++)
        if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f') || *s == '.'))
            return 0;
    return 1;
}

int dm_history_mark_sql(dbmgmt_migrator *m, const char *version, int success,
                        int32_t statements_applied, int64_t execution_ms, const char *checksum,
                        char **out)
{
    *out = NULL;
    if (!dm_version_valid(version) || !literal_safe(version) ||
        (checksum && !literal_safe(checksum)))
        return DBMGMT_ERR_INVALID;
    char set[200];
    snprintf(set, sizeof set,
             " SET success = %d, statements_applied = %d, error_message = NULL,"
             " execution_ms = %lld%s%s%s WHERE version = '%s'",
             success ? 1 : 0, (int)statements_applied, (long long)execution_ms,
             checksum ? ", checksum = '" : "", checksum ? checksum : "", checksum ? "'" : "",
             version);
    return history_sql(m, "UPDATE ", set, out);
}

int dm_history_mark(dbmgmt_migrator *m, const char *version, int success,
                    int32_t statements_applied, const char *error, int64_t execution_ms,
                    const char *checksum)
{
    if (!error) { /* nothing to bind: one round trip as text, not prepare + execute */
        char *sql = NULL;
        int rc = dm_history_mark_sql(m, version, success, statements_applied, execution_ms,
                                     checksum, &sql);
        if (rc == DBMGMT_OK) {
            rc = from_conn(m, dm_conn_exec_statement(m->conn, sql));
            dm_free(sql);
            return rc;
        }
        if (rc != DBMGMT_ERR_INVALID)
            return rc;
    }
    char ms[24], ok[4], applied[16];
    snprintf(ms, sizeof ms, "%lld", (long long)execution_ms);
    snprintf(ok, sizeof ok, "%d", success ? 1 : 0);
    snprintf(applied, sizeof applied, "%d", (int)statements_applied);
    if (checksum) {
        const char *params[] = {ok, applied, error, ms, checksum, version};
        return history_exec(m, "UPDATE ",
                            " SET success = ?, statements_applied = ?, error_message = ?,"
                            " execution_ms = ?, checksum = ? WHERE version = ?", 6, params);
    }
    const char *params[] = {ok, applied, error, ms, version};
    return history_exec(m, "UPDATE ",
                        " SET success = ?, statements_applied = ?, error_message = ?,"
                        " execution_ms = ? WHERE version = ?", 5, params);
}

int dm_history_delete(dbmgmt_migrator *m, const char *version)
{
    const char *params[] = {version};
    return history_exec(m, "DELETE FROM ", " WHERE version = ?", 1, params);
}

int dm_history_fingerprint(dbmgmt_migrator *m, int64_t *count, int64_t *max_rank)
{
    char *sql = NULL;
    int rc = history_sql(m, "SELECT COUNT(*), COALESCE(MAX(installed_rank), 0) FROM ",
                         " WHERE installed_rank > 0", &sql);
    if (rc != DBMGMT_OK)
        return rc;
    dbmgmt_result *r = NULL;
    rc = from_conn(m, dbmgmt_conn_query(m->conn, &r, sql, 0, NULL));
    dm_free(sql);
    if (rc == DBMGMT_OK) {
        int row = dbmgmt_result_next(r);
        if (row == 1) {
            *count = dbmgmt_result_int64(r, 0);
            *max_rank = dbmgmt_result_int64(r, 1);
        } else if (row == 0) { /* ours: the connection's error would say nothing */
            rc = dm_migrator_fail(m, DBMGMT_ERR_INTERNAL, "the history fingerprint returned no row");
        } else {
            rc = from_conn(m, row);
        }
    }
    dbmgmt_result_free(r);
    return rc;
}

int dm_history_has(const dm_history *h, const char *version)
{
    if (h->prefix_mode)
        return h->newest && dm_version_compare(version, h->newest) <= 0;
    return dm_history_find(h, version) != NULL;
}

/* The metadata rows (rank <= 0): the environment and the applied digest. */
typedef struct history_meta {
    int found;
    size_t count;
    char newest[64];
    char digest[65];
    int64_t max_rank;
    /* The fingerprint (dm_history_fingerprint) read in the same query. */
    int64_t rows, rows_max_rank;
} history_meta;

/* The applied set's digest: SHA-256 over the first count source versions in
 * order, each "version NUL checksum NUL", as lowercase hex. A boot trusts
 * the metadata row only while this agrees, so a migration edited on purpose
 * to match cannot be made to (it could against the FNV sum used before). */
static void applied_digest(const dbmgmt_migrator *m, size_t count, char hex[65])
{
    dm_sha256 ctx;
    dm_sha256_init(&ctx);
    for (size_t i = 0; i < count && i < m->source.count; i++) {
        const dm_migration *mig = &m->source.items[i];
        dm_sha256_update(&ctx, mig->version, strlen(mig->version) + 1);
        dm_sha256_update(&ctx, mig->checksum, strlen(mig->checksum) + 1);
    }
    dm_sha256_final_hex(&ctx, hex);
}

static int read_meta_rows(dbmgmt_migrator *m, dm_history *h, history_meta *meta)
{
    /* the fingerprint rides along, so a boot with nothing to do reads the
     * history in one query (one round trip saved, and one snapshot) */
    dm_buf b = DM_BUF_INIT;
    int rc = dm_migrator_session(m);
    if (rc != DBMGMT_OK)
        return rc;
    dm_buf_puts(&b, "SELECT version, description, script, checksum, execution_ms,"
                    " (SELECT COUNT(*) FROM ");
    dm_history_table_sql(m, &b);
    dm_buf_puts(&b, " WHERE installed_rank > 0), (SELECT COALESCE(MAX(installed_rank), 0) FROM ");
    dm_history_table_sql(m, &b);
    dm_buf_puts(&b, " WHERE installed_rank > 0) FROM ");
    dm_history_table_sql(m, &b);
    dm_buf_puts(&b, " WHERE installed_rank <= 0");
    char *sql = dm_buf_detach(&b);
    if (!sql)
        return dm_migrator_fail(m, DBMGMT_ERR_NOMEM, "out of memory");
    dbmgmt_result *r = NULL;
    rc = from_conn(m, dbmgmt_conn_query(m->conn, &r, sql, 0, NULL));
    int own = DBMGMT_OK; /* a failure of ours, not the connection's */
    dm_free(sql);
    while (rc == DBMGMT_OK && (rc = dbmgmt_result_next(r)) == 1) {
        const char *version = dbmgmt_result_text(r, 0);
        rc = DBMGMT_OK;
        if (version && strcmp(version, DM_ENV_ROW_VERSION) == 0) {
            const char *env = dbmgmt_result_text(r, 1);
            dm_free(h->environment);
            h->environment = dm_strdup(env ? env : "");
            if (!h->environment) {
                own = dm_migrator_fail(m, DBMGMT_ERR_NOMEM, "out of memory");
                break;
            }
        } else if (version && strcmp(version, DM_APPLIED_ROW_VERSION) == 0) {
            const char *count = dbmgmt_result_text(r, 1), *newest = dbmgmt_result_text(r, 2);
            const char *digest = dbmgmt_result_text(r, 3);
            meta->found = count && newest && digest && strlen(newest) < sizeof meta->newest &&
                          strlen(digest) == 64; /* not the 16-digit sum of 1.0 */
            if (meta->found) {
                meta->count = (size_t)strtoull(count, NULL, 10);
                snprintf(meta->newest, sizeof meta->newest, "%s", newest);
                memcpy(meta->digest, digest, 65);
                meta->max_rank = dbmgmt_result_int64(r, 4);
                meta->rows = dbmgmt_result_int64(r, 5);
                meta->rows_max_rank = dbmgmt_result_int64(r, 6);
            }
        }
    }
    dbmgmt_result_free(r);
    if (own != DBMGMT_OK)
        return own;
    return rc < 0 ? from_conn(m, rc) : DBMGMT_OK;
}

/* The metadata row agrees with the table (the fingerprint read with it)
 * and with the source: then the applied set is exactly the source's
 * versions up to meta->newest (1), or it does not (0). */
static int meta_matches(dbmgmt_migrator *m, const history_meta *meta, size_t *prefix,
                        int64_t *row_count)
{
    int64_t rows = meta->rows, max_rank = meta->rows_max_rank;
    *row_count = rows;
    if ((size_t)rows != meta->count || max_rank != meta->max_rank)
        return 0;
    if (meta->count == 0) {
        *prefix = 0;
        return meta->newest[0] == '\0';
    }
    const dm_migration *newest = dm_source_find(&m->source, meta->newest);
    if (!newest || (size_t)(newest - m->source.items) + 1 != meta->count)
        return 0;
    char digest[65];
    applied_digest(m, meta->count, digest);
    *prefix = meta->count;
    return strcmp(digest, meta->digest) == 0;
}

int dm_history_read_fast(dbmgmt_migrator *m, dm_history *h)
{
    memset(h, 0, sizeof *h);
    int exists = history_table_exists(m);
    if (exists <= 0)
        return exists;
    history_meta meta;
    memset(&meta, 0, sizeof meta);
    int rc = read_meta_rows(m, h, &meta);
    size_t prefix = 0;
    int64_t row_count = 0;
    int matches = rc == DBMGMT_OK && meta.found ? meta_matches(m, &meta, &prefix, &row_count) : 0;
    if (matches < 0)
        rc = matches;
    if (rc == DBMGMT_OK && matches == 1) {
        h->table_exists = 1;
        h->row_count = row_count;
        h->prefix_mode = 1;
        h->prefix_count = prefix;
        h->newest = prefix ? m->source.items[prefix - 1].version : NULL;
        h->max_rank = meta.max_rank;
        return DBMGMT_OK;
    }
    dm_history_clear(h);
    return rc != DBMGMT_OK ? rc : dm_history_read(m, h);
}

int dm_history_meta_delete(dbmgmt_migrator *m)
{
    const char *params[] = {DM_APPLIED_ROW_VERSION};
    return history_exec(m, "DELETE FROM ", " WHERE version = ?", 1, params);
}

int dm_history_meta_write(dbmgmt_migrator *m, const char *newest, size_t count, int64_t max_rank)
{
    char count_s[24], digest_s[65], rank_s[24], now[32];
    snprintf(count_s, sizeof count_s, "%zu", count);
    applied_digest(m, count, digest_s);
    snprintf(rank_s, sizeof rank_s, "%lld", (long long)max_rank);
    dm_utc_now(now);
    int rc = dm_history_meta_delete(m);
    const char *params[] = {DM_APPLIED_ROW_VERSION, count_s, newest ? newest : "", digest_s,
                            dm_installed_by(), now, rank_s};
    if (rc == DBMGMT_OK)
        rc = history_exec(m, "INSERT INTO ",
                          " (installed_rank, version, description, script, checksum, installed_by,"
                          " installed_on, execution_ms, success, statements_applied)"
                          " VALUES (-1, ?, ?, ?, ?, ?, ?, ?, 1, 0)", 7, params);
    return rc;
}
