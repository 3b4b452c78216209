/*
 * The catalog's off-site copies (table backup_copies, created with the
 * others in catalog.c): one row per backup and location, written only once
 * the copy is complete, checked, fsync-ed and renamed (backup_offsite.c), in
 * the same write transaction as the rename, so a crash leaves no row
 * without its file and a cleanup holding the write lock sees no copy in
 * flight.
 */
#include "backup_impl.h"

#include <stdio.h>
#include <string.h>

#include "core/alloc.h"

static int copies_fail(sqlite3 *db, dm_error *err, const char *what)
{
    return dm_error_set(err, DBMGMT_ERR_IO, "backup catalog: %s: %s", what, sqlite3_errmsg(db));
}

int dm_bkcat_write_begin(sqlite3 *db, dm_error *err)
{
    return sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK
               ? DBMGMT_OK
               : copies_fail(db, err, "begin");
}

int dm_bkcat_write_end(sqlite3 *db, int commit, dm_error *err)
{
    if (commit && sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK)
        return DBMGMT_OK;
    int rc = commit ? copies_fail(db, err, "commit") : DBMGMT_OK;
    sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

int dm_bkcat_copy_insert(sqlite3 *db, const char *id, const dm_bk_copy *c, dm_error *err)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db,
                                "INSERT INTO backup_copies VALUES(?, ?, ?, ?, ?, ?) "
                                "ON CONFLICT(backup_id, location) DO UPDATE SET "
                                "file = excluded.file, size = excluded.size, "
                                "sha256 = excluded.sha256, copied_at = excluded.copied_at",
                                -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 2, c->location, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 3, c->file, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 4, c->size);
        sqlite3_bind_text(st, 5, c->sha256, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 6, c->copied_at);
        rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
    }
    sqlite3_finalize(st);
    return rc == SQLITE_OK ? DBMGMT_OK : copies_fail(db, err, "recording an off-site copy");
}

int dm_bkcat_copy_delete(sqlite3 *db, const char *id, const char *location, dm_error *err)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, "DELETE FROM backup_copies WHERE backup_id = ? AND "
                                    "location = ?",
                                -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 2, location, -1, SQLITE_TRANSIENT);
        rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
    }
    sqlite3_finalize(st);
    return rc == SQLITE_OK ? DBMGMT_OK : copies_fail(db, err, "removing an off-site copy");
}

static int copies_add(dm_bk_copies *c, sqlite3_stmt *st)
{
    if (c->n == c->cap) {
        size_t ncap = c->cap ? c->cap * 2 : 4;
        dm_bk_copy *nv = dm_realloc(c->v, ncap * sizeof *nv);
        if (!nv)
            return DBMGMT_ERR_NOMEM;
        c->v = nv;
        c->cap = ncap;
    }
    dm_bk_copy *x = &c->v[c->n];
    memset(x, 0, sizeof *x);
    x->location = dm_strdup((const char *)sqlite3_column_text(st, 0));
    x->file = dm_strdup((const char *)sqlite3_column_text(st, 1));
    x->size = sqlite3_column_int64(st, 2);
    const unsigned char *sha = sqlite3_column_text(st, 3);
    snprintf(x->sha256, sizeof x->sha256, "%s", sha ? (const char *)sha : "");
    x->copied_at = sqlite3_column_int64(st, 4);
    if (!x->location || !x->file) {
        dm_free(x->location);
        dm_free(x->file);
        return DBMGMT_ERR_NOMEM;
    }
    c->n++;
    return DBMGMT_OK;
}

int dm_bkcat_copies(sqlite3 *db, const char *id, dm_bk_copies *out, dm_error *err)
{
    memset(out, 0, sizeof *out);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db,
                           "SELECT location, file, size, sha256, copied_at FROM backup_copies "
                           "WHERE backup_id = ? ORDER BY location",
                           -1, &st, NULL) != SQLITE_OK)
        return copies_fail(db, err, "reading off-site copies");
    sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        if (copies_add(out, st) != DBMGMT_OK) {
            sqlite3_finalize(st);
            dm_bk_copies_clear(out);
            return dm_error_set(err, DBMGMT_ERR_NOMEM, "out of memory reading off-site copies");
        }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        dm_bk_copies_clear(out);
        return copies_fail(db, err, "reading off-site copies");
    }
    return DBMGMT_OK;
}

int dm_bkcat_missing_copies(sqlite3 *db, const char *location, char ***ids, size_t *n,
                            dm_error *err)
{
    *ids = NULL;
    *n = 0;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db,
                           "SELECT id FROM backups WHERE verify_ok = 1 AND id NOT IN "
                           "(SELECT backup_id FROM backup_copies WHERE location = ?) "
                           "ORDER BY time DESC, id DESC",
                           -1, &st, NULL) != SQLITE_OK)
        return copies_fail(db, err, "listing backups without an off-site copy");
    sqlite3_bind_text(st, 1, location, -1, SQLITE_TRANSIENT);
    char **v = NULL;
    size_t count = 0, cap = 0;
    int rc, status = DBMGMT_OK;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (count == cap) {
            size_t ncap = cap ? cap * 2 : 8;
            char **nv = dm_realloc(v, ncap * sizeof *nv);
            if (!nv) {
                status = DBMGMT_ERR_NOMEM;
                break;
            }
            v = nv, cap = ncap;
        }
        if (!(v[count] = dm_strdup((const char *)sqlite3_column_text(st, 0)))) {
            status = DBMGMT_ERR_NOMEM;
            break;
        }
        count++;
    }
    sqlite3_finalize(st);
    if (status == DBMGMT_OK && rc != SQLITE_DONE)
        status = copies_fail(db, err, "listing backups without an off-site copy");
    else if (status != DBMGMT_OK)
        dm_error_set(err, status, "out of memory listing backups without an off-site copy");
    if (status != DBMGMT_OK) {
        dm_bk_strings_free(v, count);
        return status;
    }
    *ids = v;
    *n = count;
    return DBMGMT_OK;
}

/* 1 when sql (one text parameter per argument) finds a row, 0 when not, a
 * negative status on error. */
static int exists2(sqlite3 *db, const char *sql, const char *a, const char *b, dm_error *err)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return copies_fail(db, err, "reading the catalog");
    sqlite3_bind_text(st, 1, a, -1, SQLITE_TRANSIENT);
    if (b)
        sqlite3_bind_text(st, 2, b, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return copies_fail(db, err, "reading the catalog");
    return rc == SQLITE_ROW;
}

int dm_bkcat_file_is_backup(sqlite3 *db, const char *file, dm_error *err)
{
    return exists2(db, "SELECT 1 FROM backups WHERE file = ?", file, NULL, err);
}

int dm_bkcat_copy_exists(sqlite3 *db, const char *location, const char *file, dm_error *err)
{
    return exists2(db, "SELECT 1 FROM backup_copies WHERE location = ? AND file = ?", location,
                   file, err);
}

void dm_bk_copies_clear(dm_bk_copies *c)
{
    for (size_t i = 0; i < c->n; i++) {
        dm_free(c->v[i].location);
        dm_free(c->v[i].file);
    }
    dm_free(c->v);
    memset(c, 0, sizeof *c);
}

void dm_bk_strings_free(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dm_free(v[i]);
    dm_free(v);
}
