/*
 * The export catalog: archive-catalog.db, a SQLite file in the export
 * folder (the backup catalog's model: rollback journal, synchronous=FULL,
 * every commit durable). A file's row is written after the file is fsync-ed
 * and before any of its rows are deleted; "written" becomes "deleted" once
 * the delete committed, so a killed run's successor knows what to finish.
 */
#include "archive_impl.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "backup/backup_impl.h"
#include "core/alloc.h"
#include "core/json.h"

static const char catalog_schema[] =
    "PRAGMA journal_mode=DELETE; PRAGMA synchronous=FULL;"
    "CREATE TABLE IF NOT EXISTS exports(file TEXT PRIMARY KEY, source TEXT NOT NULL,"
    " first_key TEXT NOT NULL, last_key TEXT NOT NULL, rows INTEGER NOT NULL,"
    " sha256 TEXT NOT NULL, state TEXT NOT NULL, created_at INTEGER NOT NULL);";

static int cat_fail(dbmgmt_archive *a, const char *what)
{
    return dm_error_set(&a->err, DBMGMT_ERR_IO, "archive catalog in '%s': %s: %s", a->target,
                        what, sqlite3_errmsg(a->catalog));
}

int dm_arch_catalog_open(dbmgmt_archive *a)
{
    if (a->catalog)
        return DBMGMT_OK;
    if (mkdir(a->target, 0700) != 0 && errno != EEXIST)
        return dm_error_set(&a->err, DBMGMT_ERR_IO, "cannot create the export folder '%s': %s",
                            a->target, strerror(errno));
    char *path = dm_bk_path(a->target, "archive-catalog.db");
    if (!path)
        return dm_error_set(&a->err, DBMGMT_ERR_NOMEM, "out of memory opening the catalog");
    int rc = sqlite3_open_v2(path, &a->catalog, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                             NULL);
    dm_free(path);
    if (rc == SQLITE_OK) {
        sqlite3_busy_timeout(a->catalog, 10000);
        rc = sqlite3_exec(a->catalog, catalog_schema, NULL, NULL, NULL);
    }
    if (rc != SQLITE_OK) {
        rc = a->catalog ? cat_fail(a, "cannot open it")
                        : dm_error_set(&a->err, DBMGMT_ERR_NOMEM, "out of memory (catalog)");
        sqlite3_close_v2(a->catalog);
        a->catalog = NULL;
    }
    return rc;
}

/* Prepare sql, bind the texts (NULL ends the list early), step once. */
static int cat_run(dbmgmt_archive *a, const char *sql, const char *const *texts, int ntexts,
                   int64_t number, const char *what)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(a->catalog, sql, -1, &st, NULL);
    for (int i = 0; rc == SQLITE_OK && i < ntexts; i++)
        rc = sqlite3_bind_text(st, i + 1, texts[i], -1, SQLITE_TRANSIENT);
    if (rc == SQLITE_OK && sqlite3_bind_parameter_count(st) > ntexts)
        rc = sqlite3_bind_int64(st, ntexts + 1, number);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? DBMGMT_OK : cat_fail(a, what);
}

int dm_arch_catalog_add(dbmgmt_archive *a, const char *file, const char *first_key,
                        const char *last_key, int64_t rows, const char *sha256, int64_t now)
{
    char rows_text[24];
    snprintf(rows_text, sizeof rows_text, "%lld", (long long)rows);
    const char *texts[] = {file, a->table, first_key, last_key, rows_text, sha256};
    return cat_run(a,
                   "INSERT INTO exports(file, source, first_key, last_key, rows, sha256, state,"
                   " created_at) VALUES(?, ?, ?, ?, CAST(? AS INTEGER), ?, 'written', ?)",
                   texts, 6, now, "recording a file");
}

int dm_arch_catalog_mark_deleted(dbmgmt_archive *a, const char *file)
{
    const char *texts[] = {file};
    return cat_run(a, "UPDATE exports SET state = 'deleted' WHERE file = ?", texts, 1, 0,
                   "marking a file's rows deleted");
}

int dm_arch_catalog_has(dbmgmt_archive *a, const char *file)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(a->catalog, "SELECT 1 FROM exports WHERE file = ?", -1, &st,
                                NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(st, 1, file, -1, SQLITE_TRANSIENT);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc == SQLITE_ROW)
        return 1;
    return rc == SQLITE_DONE ? 0 : cat_fail(a, "looking up a file");
}

/* sql with the job's table bound to its one parameter; NULL after
 * recording the failure as what. */
static sqlite3_stmt *cat_prepare_for_table(dbmgmt_archive *a, const char *sql, const char *what)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(a->catalog, sql, -1, &st, NULL) != SQLITE_OK ||
        sqlite3_bind_text(st, 1, a->table, -1, SQLITE_TRANSIENT) != SQLITE_OK) {
        sqlite3_finalize(st);
        cat_fail(a, what);
        return NULL;
    }
    return st;
}

int dm_arch_catalog_pending(dbmgmt_archive *a,
                            int (*fn)(dbmgmt_archive *a, const char *file, const char *sha256),
                            int *found_any)
{
    *found_any = 0;
    sqlite3_stmt *st = cat_prepare_for_table(a,
                                             "SELECT file, sha256 FROM exports WHERE state ="
                                             " 'written' AND source = ? ORDER BY file LIMIT 1",
                                             "reading unfinished files");
    if (!st)
        return a->err.code;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_DONE) {
        sqlite3_finalize(st);
        return DBMGMT_OK;
    }
    if (rc != SQLITE_ROW) {
        sqlite3_finalize(st);
        return cat_fail(a, "reading unfinished files");
    }
    *found_any = 1;
    char *file = dm_strdup((const char *)sqlite3_column_text(st, 0));
    char *sha = dm_strdup((const char *)sqlite3_column_text(st, 1));
    sqlite3_finalize(st);
    rc = file && sha ? fn(a, file, sha)
                     : dm_error_set(&a->err, DBMGMT_ERR_NOMEM, "out of memory (catalog)");
    dm_free(file);
    dm_free(sha);
    return rc;
}

/* The next file number of this table: one past the files recorded. */
int64_t dm_arch_catalog_next_number(dbmgmt_archive *a)
{
    int64_t n = -1;
    sqlite3_stmt *st = cat_prepare_for_table(a, "SELECT count(*) FROM exports WHERE source = ?",
                                             "counting files");
    if (!st)
        return -1;
    if (sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int64(st, 0) + 1;
    sqlite3_finalize(st);
    if (n < 0)
        cat_fail(a, "counting files");
    return n;
}

int dm_arch_catalog_json(dbmgmt_archive *a, dm_buf *out)
{
    sqlite3_stmt *st = cat_prepare_for_table(a,
                                             "SELECT file, first_key, last_key, rows, sha256,"
                                             " state, created_at FROM exports WHERE source = ?"
                                             " ORDER BY file",
                                             "listing files");
    if (!st)
        return a->err.code;
    dm_json j;
    dm_json_init(&j, out);
    dm_json_array_begin(&j);
    static const char *const names[] = {"file", "first_key", "last_key", "rows",
                                        "sha256", "state", "created_at"};
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        dm_json_object_begin(&j);
        for (int i = 0; i < 7; i++) {
            dm_json_key(&j, names[i]);
            if (i == 3 || i == 6)
                dm_json_int(&j, sqlite3_column_int64(st, i));
            else
                dm_json_string(&j, (const char *)sqlite3_column_text(st, i));
        }
        dm_json_object_end(&j);
    }
    dm_json_array_end(&j);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return cat_fail(a, "listing files");
    return dm_buf_failed(out) ? dm_error_set(&a->err, DBMGMT_ERR_NOMEM, "out of memory") : 0;
}
