/*
 * The backup catalog: catalog.db, a SQLite database in the backup folder.
 * A backup's row is written only once its file is complete, fsync-ed and
 * renamed, so a crash leaves no entry; the last run of each schedule lives
 * beside it, so a job due while the host was down runs once, not twice.
 * Rollback journal with synchronous=FULL: every commit is durable.
 */
#include "backup_impl.h"

#include <stdio.h>
#include <string.h>

#include "core/alloc.h"

#define CATALOG_FILE "catalog.db"
#define CATALOG_FORMAT 1

static const char catalog_schema[] =
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "INSERT OR IGNORE INTO meta VALUES('format', '1');"
    "CREATE TABLE IF NOT EXISTS backups("
    " id TEXT PRIMARY KEY, schedule TEXT, kind TEXT NOT NULL, engine TEXT NOT NULL,"
    " file TEXT NOT NULL, time INTEGER NOT NULL, started_ms INTEGER NOT NULL,"
    " finished_ms INTEGER NOT NULL, size INTEGER NOT NULL, sha256 TEXT NOT NULL,"
    " verified_at INTEGER, verify_ok INTEGER, verify_result TEXT,"
    " restored_at INTEGER, restore_ms INTEGER, restore_result TEXT);"
    "CREATE TABLE IF NOT EXISTS backup_rows("
    " backup_id TEXT NOT NULL REFERENCES backups(id) ON DELETE CASCADE,"
    " table_name TEXT NOT NULL, row_count INTEGER NOT NULL,"
    " PRIMARY KEY(backup_id, table_name));"
    "CREATE TABLE IF NOT EXISTS schedule_runs(name TEXT PRIMARY KEY, last_run INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS backup_attrs("
    " backup_id TEXT NOT NULL REFERENCES backups(id) ON DELETE CASCADE,"
    " key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY(backup_id, key));"
    "CREATE TABLE IF NOT EXISTS backup_copies("
    " backup_id TEXT NOT NULL REFERENCES backups(id) ON DELETE CASCADE,"
    " location TEXT NOT NULL, file TEXT NOT NULL, size INTEGER NOT NULL,"
    " sha256 TEXT NOT NULL, copied_at INTEGER NOT NULL, PRIMARY KEY(backup_id, location));";

static int cat_fail(sqlite3 *db, dm_error *err, const char *what)
{
    return dm_error_set(err, DBMGMT_ERR_IO, "backup catalog: %s: %s", what, sqlite3_errmsg(db));
}

int dm_bkcat_open(sqlite3 **out, const char *dir, dm_error *err)
{
    *out = NULL;
    char *path = dm_bk_path(dir, CATALOG_FILE);
    if (!path)
        return dm_error_set(err, DBMGMT_ERR_NOMEM, "out of memory opening the backup catalog");
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2(path, &db,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                             NULL);
    if (rc != SQLITE_OK) {
        dm_error_set(err, DBMGMT_ERR_IO, "cannot open the backup catalog '%s': %s", path,
                     db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
        goto fail;
    }
    sqlite3_busy_timeout(db, 10000);
    rc = sqlite3_exec(db,
                      "PRAGMA journal_mode=DELETE; PRAGMA synchronous=FULL;"
                      "PRAGMA foreign_keys=ON;",
                      NULL, NULL, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(db, catalog_schema, NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        dm_error_set(err, DBMGMT_ERR_IO, "cannot set up the backup catalog '%s': %s", path,
                     sqlite3_errmsg(db));
        goto fail;
    }
    dm_free(path);
    *out = db;
    return DBMGMT_OK;
fail:
    sqlite3_close_v2(db);
    dm_free(path);
    return err->code;
}

void dm_bkcat_close(sqlite3 *db)
{
    sqlite3_close_v2(db);
}

static int bind_text_or_null(sqlite3_stmt *st, int i, const char *s)
{
    return s ? sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT) : sqlite3_bind_null(st, i);
}

static int insert_counts(sqlite3 *db, const char *id, const dm_bk_counts *counts)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, "INSERT INTO backup_rows VALUES(?, ?, ?)", -1, &st, NULL);
    for (size_t i = 0; rc == SQLITE_OK && counts && i < counts->n; i++) {
        sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 2, counts->tables[i], -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 3, counts->rows[i]);
        rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    return rc;
}

static int upsert_attr(sqlite3 *db, const char *id, const char *key, const char *value)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db,
                                "INSERT INTO backup_attrs VALUES(?, ?, ?) ON CONFLICT"
                                "(backup_id, key) DO UPDATE SET value = excluded.value",
                                -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 2, key, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 3, value, -1, SQLITE_TRANSIENT);
        rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
    }
    sqlite3_finalize(st);
    return rc;
}

static int upsert_last_run(sqlite3 *db, const char *schedule, int64_t when)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db,
                                "INSERT INTO schedule_runs VALUES(?, ?) ON CONFLICT(name) "
                                "DO UPDATE SET last_run = excluded.last_run",
                                -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(st, 1, schedule, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 2, when);
        rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
    }
    sqlite3_finalize(st);
    return rc;
}

int dm_bkcat_insert(sqlite3 *db, const dm_bk_entry *e, const dm_bk_counts *counts,
                    dm_error *err)
{
    if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        return cat_fail(db, err, "begin");
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db,
                                "INSERT INTO backups(id, schedule, kind, engine, file, time, "
                                "started_ms, finished_ms, size, sha256) "
                                "VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                                -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(st, 1, e->id, -1, SQLITE_TRANSIENT);
        bind_text_or_null(st, 2, e->schedule);
        sqlite3_bind_text(st, 3, e->kind, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 4, e->engine, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 5, e->file, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 6, e->time);
        sqlite3_bind_int64(st, 7, e->started_ms);
        sqlite3_bind_int64(st, 8, e->finished_ms);
        sqlite3_bind_int64(st, 9, e->size);
        sqlite3_bind_text(st, 10, e->sha256, -1, SQLITE_TRANSIENT);
        rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
    }
    sqlite3_finalize(st);
    if (rc == SQLITE_OK)
        rc = insert_counts(db, e->id, counts);
    for (size_t i = 0; rc == SQLITE_OK && i < e->attrs.n; i++)
        rc = upsert_attr(db, e->id, e->attrs.keys[i], e->attrs.values[i]);
    if (rc == SQLITE_OK && e->schedule)
        rc = upsert_last_run(db, e->schedule, e->time);
    if (rc == SQLITE_OK && sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK)
        return DBMGMT_OK;
    cat_fail(db, err, "recording a backup");
    sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    return err->code;
}

int dm_bkcat_set_last_run(sqlite3 *db, const char *schedule, int64_t when, dm_error *err)
{
    if (upsert_last_run(db, schedule, when) != SQLITE_OK)
        return cat_fail(db, err, "recording a schedule's run");
    return DBMGMT_OK;
}

int dm_bkcat_last_run(sqlite3 *db, const char *schedule, int64_t *when, dm_error *err)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, "SELECT last_run FROM schedule_runs WHERE name = ?", -1, &st,
                           NULL) != SQLITE_OK)
        return cat_fail(db, err, "reading a schedule's last run");
    sqlite3_bind_text(st, 1, schedule, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(st);
    int found = rc == SQLITE_ROW;
    if (found)
        *when = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return cat_fail(db, err, "reading a schedule's last run");
    return found;
}

/* A copy of a text column; NULL for SQL NULL. *failed is set when there
 * was a value and no memory to copy it. */
static char *column_dup(sqlite3_stmt *st, int col, int *failed)
{
    const unsigned char *t = sqlite3_column_text(st, col);
    char *copy = t ? dm_strdup((const char *)t) : NULL;
    if (t && !copy)
        *failed = 1;
    return copy;
}

static const char entry_columns[] =
    "SELECT id, schedule, kind, engine, file, time, started_ms, finished_ms, size, sha256, "
    "verified_at, verify_ok, verify_result, restored_at, restore_ms, restore_result "
    "FROM backups ";

static int entry_from_row(sqlite3_stmt *st, dm_bk_entry *e)
{
    memset(e, 0, sizeof *e);
    int failed = 0;
    e->id = column_dup(st, 0, &failed);
    e->schedule = column_dup(st, 1, &failed);
    e->kind = column_dup(st, 2, &failed);
    e->engine = column_dup(st, 3, &failed);
    e->file = column_dup(st, 4, &failed);
    e->time = sqlite3_column_int64(st, 5);
    e->started_ms = sqlite3_column_int64(st, 6);
    e->finished_ms = sqlite3_column_int64(st, 7);
    e->size = sqlite3_column_int64(st, 8);
    const unsigned char *sha = sqlite3_column_text(st, 9);
    snprintf(e->sha256, sizeof e->sha256, "%s", sha ? (const char *)sha : "");
    int null_verified = sqlite3_column_type(st, 10) == SQLITE_NULL;
    e->verified_at = null_verified ? -1 : sqlite3_column_int64(st, 10);
    e->verify_ok = null_verified ? -1 : sqlite3_column_int(st, 11);
    e->verify_result = column_dup(st, 12, &failed);
    int null_restored = sqlite3_column_type(st, 13) == SQLITE_NULL;
    e->restored_at = null_restored ? -1 : sqlite3_column_int64(st, 13);
    e->restore_ms = null_restored ? -1 : sqlite3_column_int64(st, 14);
    e->restore_result = column_dup(st, 15, &failed);
    if (failed || !e->id || !e->kind || !e->engine || !e->file) {
        dm_bk_entry_clear(e);
        return DBMGMT_ERR_NOMEM;
    }
    return DBMGMT_OK;
}

static int read_counts(sqlite3 *db, const char *id, dm_bk_counts *counts, dm_error *err)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db,
                           "SELECT table_name, row_count FROM backup_rows WHERE backup_id = ? "
                           "ORDER BY table_name",
                           -1, &st, NULL) != SQLITE_OK)
        return cat_fail(db, err, "reading row counts");
    sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        if (dm_bk_counts_add(counts, (const char *)sqlite3_column_text(st, 0),
                             sqlite3_column_int64(st, 1)) != DBMGMT_OK) {
            sqlite3_finalize(st);
            return dm_error_set(err, DBMGMT_ERR_NOMEM, "out of memory reading row counts");
        }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? DBMGMT_OK : cat_fail(db, err, "reading row counts");
}

static int read_attrs(sqlite3 *db, dm_bk_entry *e, dm_error *err)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db,
                           "SELECT key, value FROM backup_attrs WHERE backup_id = ? "
                           "ORDER BY key",
                           -1, &st, NULL) != SQLITE_OK)
        return cat_fail(db, err, "reading a backup's attributes");
    sqlite3_bind_text(st, 1, e->id, -1, SQLITE_TRANSIENT);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        if (dm_bk_attrs_set(&e->attrs, (const char *)sqlite3_column_text(st, 0),
                            (const char *)sqlite3_column_text(st, 1)) != DBMGMT_OK) {
            sqlite3_finalize(st);
            return dm_error_set(err, DBMGMT_ERR_NOMEM, "out of memory reading attributes");
        }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? DBMGMT_OK : cat_fail(db, err, "reading a backup's attributes");
}

int dm_bkcat_set_attr(sqlite3 *db, const char *id, const char *key, const char *value,
                      dm_error *err)
{
    return upsert_attr(db, id, key, value) == SQLITE_OK
               ? DBMGMT_OK
               : cat_fail(db, err, "recording a backup's attribute");
}

int dm_bkcat_get(sqlite3 *db, const char *id, dm_bk_entry *e, dm_bk_counts *counts,
                 dm_error *err)
{
    char sql[512];
    snprintf(sql, sizeof sql, "%sWHERE id = ?", entry_columns);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return cat_fail(db, err, "reading a backup");
    sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(st);
    int status;
    if (rc == SQLITE_ROW)
        status = entry_from_row(st, e) == DBMGMT_OK
                     ? DBMGMT_OK
                     : dm_error_set(err, DBMGMT_ERR_NOMEM, "out of memory reading a backup");
    else if (rc == SQLITE_DONE)
        status = dm_error_set(err, DBMGMT_ERR_NOTFOUND, "no backup '%s' in the catalog", id);
    else
        status = cat_fail(db, err, "reading a backup");
    sqlite3_finalize(st);
    if (status == DBMGMT_OK) {
        status = read_attrs(db, e, err);
        if (status != DBMGMT_OK)
            dm_bk_entry_clear(e);
    }
    if (status == DBMGMT_OK && counts) {
        status = read_counts(db, id, counts, err);
        if (status != DBMGMT_OK)
            dm_bk_entry_clear(e);
    }
    return status;
}

int dm_bkcat_all(sqlite3 *db, dm_bk_entry **out, size_t *n, dm_error *err)
{
    *out = NULL;
    *n = 0;
    char sql[512];
    snprintf(sql, sizeof sql, "%sORDER BY time, id", entry_columns);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return cat_fail(db, err, "listing backups");
    dm_bk_entry *v = NULL;
    size_t count = 0, cap = 0;
    int rc, status = DBMGMT_OK;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (count == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            dm_bk_entry *nv = dm_realloc(v, ncap * sizeof *nv);
            if (!nv) {
                status = DBMGMT_ERR_NOMEM;
                break;
            }
            v = nv, cap = ncap;
        }
        if (entry_from_row(st, &v[count]) != DBMGMT_OK) {
            status = DBMGMT_ERR_NOMEM;
            break;
        }
        count++;
    }
    sqlite3_finalize(st);
    if (status == DBMGMT_OK && rc != SQLITE_DONE)
        status = cat_fail(db, err, "listing backups");
    else if (status == DBMGMT_ERR_NOMEM)
        dm_error_set(err, status, "out of memory listing backups");
    for (size_t i = 0; status == DBMGMT_OK && i < count; i++)
        status = read_attrs(db, &v[i], err);
    if (status != DBMGMT_OK) {
        dm_bk_entries_free(v, count);
        return status;
    }
    *out = v;
    *n = count;
    return DBMGMT_OK;
}

int dm_bkcat_id_exists(sqlite3 *db, const char *id, dm_error *err)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, "SELECT 1 FROM backups WHERE id = ?", -1, &st, NULL) !=
        SQLITE_OK)
        return cat_fail(db, err, "reading the catalog");
    sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return cat_fail(db, err, "reading the catalog");
    return rc == SQLITE_ROW;
}

static int update_row(sqlite3 *db, const char *sql, const char *id, int64_t a, int64_t b,
                      const char *text, dm_error *err, const char *what)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, a);
        sqlite3_bind_int64(st, 2, b);
        bind_text_or_null(st, 3, text);
        sqlite3_bind_text(st, 4, id, -1, SQLITE_TRANSIENT);
        rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
    }
    sqlite3_finalize(st);
    return rc == SQLITE_OK ? DBMGMT_OK : cat_fail(db, err, what);
}

int dm_bkcat_record_verify(sqlite3 *db, const char *id, int64_t at, int ok, const char *result,
                           dm_error *err)
{
    return update_row(db,
                      "UPDATE backups SET verified_at = ?1, verify_ok = ?2, verify_result = ?3 "
                      "WHERE id = ?4",
                      id, at, ok, result, err, "recording a verify");
}

int dm_bkcat_record_restore(sqlite3 *db, const char *id, int64_t at, int64_t ms,
                            const char *result, dm_error *err)
{
    return update_row(db,
                      "UPDATE backups SET restored_at = ?1, restore_ms = ?2, restore_result = ?3 "
                      "WHERE id = ?4",
                      id, at, ms, result, err, "recording a restore");
}

int dm_bkcat_delete(sqlite3 *db, const char *id, dm_error *err)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, "DELETE FROM backups WHERE id = ?", -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
        rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
    }
    sqlite3_finalize(st);
    return rc == SQLITE_OK ? DBMGMT_OK : cat_fail(db, err, "removing a backup");
}

int64_t dm_bkcat_last_restore_ms(sqlite3 *db)
{
    sqlite3_stmt *st = NULL;
    int64_t ms = -1;
    if (sqlite3_prepare_v2(db,
                           "SELECT restore_ms FROM backups WHERE restored_at IS NOT NULL "
                           "ORDER BY restored_at DESC LIMIT 1",
                           -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        ms = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return ms;
}

void dm_bk_entry_clear(dm_bk_entry *e)
{
    if (!e)
        return;
    dm_free(e->id);
    dm_free(e->schedule);
    dm_free(e->kind);
    dm_free(e->engine);
    dm_free(e->file);
    dm_free(e->verify_result);
    dm_free(e->restore_result);
    dm_bk_attrs_clear(&e->attrs);
    memset(e, 0, sizeof *e);
}

int dm_bk_attrs_set(dm_bk_attrs *a, const char *key, const char *value)
{
    char *v = dm_strdup(value);
    if (!v)
        return DBMGMT_ERR_NOMEM;
    for (size_t i = 0; i < a->n; i++)
        if (strcmp(a->keys[i], key) == 0) {
            dm_free(a->values[i]);
            a->values[i] = v;
            return DBMGMT_OK;
        }
    if (a->n == a->cap) {
        size_t ncap = a->cap ? a->cap * 2 : 8;
        char **nk = dm_realloc(a->keys, ncap * sizeof *nk);
        if (nk)
            a->keys = nk;
        char **nv = nk ? dm_realloc(a->values, ncap * sizeof *nv) : NULL;
        if (nv)
            a->values = nv;
        if (!nk || !nv) {
            dm_free(v);
            return DBMGMT_ERR_NOMEM;
        }
        a->cap = ncap;
    }
    char *k = dm_strdup(key);
    if (!k) {
        dm_free(v);
        return DBMGMT_ERR_NOMEM;
    }
    a->keys[a->n] = k;
    a->values[a->n++] = v;
    return DBMGMT_OK;
}

const char *dm_bk_attrs_get(const dm_bk_attrs *a, const char *key)
{
    for (size_t i = 0; i < a->n; i++)
        if (strcmp(a->keys[i], key) == 0)
            return a->values[i];
    return NULL;
}

void dm_bk_attrs_clear(dm_bk_attrs *a)
{
    for (size_t i = 0; i < a->n; i++) {
        dm_free(a->keys[i]);
        dm_free(a->values[i]);
    }
    dm_free(a->keys);
    dm_free(a->values);
    memset(a, 0, sizeof *a);
}

void dm_bk_entries_free(dm_bk_entry *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dm_bk_entry_clear(&v[i]);
    dm_free(v);
}
