/*
 * The SQLite driver's health op (issue 20, docs/health.md): the file's
 * pages (PRAGMA page_size, page_count, freelist_count), the connection's
 * page cache (sqlite3_db_status), the largest tables (the dbstat virtual
 * table, when compiled in) and the file system of the database's folder.
 * SQLite has no server: connections, locks, deadlocks, statement counts
 * and replication are absent. An in-memory database has no disk figures.
 */
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/log.h"
#include "health/health_collect.h"
#include "sqlite_impl.h"

static const char pages_sql[] =
    "SELECT (SELECT page_size FROM pragma_page_size()), "
    "(SELECT page_count FROM pragma_page_count()), "
    "(SELECT freelist_count FROM pragma_freelist_count())";

/* Each table with its indexes, from one row per b-tree (aggregate mode). */
static const char tables_sql[] =
    "SELECT m.tbl_name, SUM(d.pgsize) AS bytes FROM dbstat('main', 1) d "
    "JOIN sqlite_master m ON m.name = d.name WHERE m.type IN ('table', 'index') "
    "AND m.tbl_name NOT LIKE 'sqlite\\_%' ESCAPE '\\' "
    "GROUP BY m.tbl_name ORDER BY bytes DESC, 1 LIMIT 10";

static int sqlite_pages(sqlite3 *db, dbmgmt_health *h, int on_disk, dm_error *err)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, pages_sql, -1, &st, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        int status = dm_sqlite_fail(db, rc, err, "reading PRAGMA page_size and page_count");
        sqlite3_finalize(st);
        return status;
    }
    double size = (double)sqlite3_column_int64(st, 0);
    double count = (double)sqlite3_column_int64(st, 1);
    dm_health_set(h, DBMGMT_HEALTH_SQLITE_PAGE_SIZE, size);
    dm_health_set(h, DBMGMT_HEALTH_SQLITE_PAGE_COUNT, count);
    dm_health_set(h, DBMGMT_HEALTH_SQLITE_FREELIST_PAGES, (double)sqlite3_column_int64(st, 2));
    if (on_disk)
        dm_health_set(h, DBMGMT_HEALTH_DATABASE_SIZE_BYTES, size * count);
    sqlite3_finalize(st);
    return DBMGMT_OK;
}

static int sqlite_tables(sqlite3 *db, dbmgmt_health *h, dm_error *err)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, tables_sql, -1, &st, NULL) != SQLITE_OK) {
        /* a build without SQLITE_ENABLE_DBSTAT_VTAB: no tables */
        dm_log(DBMGMT_LOG_DEBUG, "health: no table sizes (dbstat): %s", sqlite3_errmsg(db));
        sqlite3_finalize(st);
        return DBMGMT_OK;
    }
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(st, 0);
        if (dm_health_add_table(h, name ? name : "", sqlite3_column_int64(st, 1)) != DBMGMT_OK) {
            sqlite3_finalize(st);
            return dm_error_set(err, DBMGMT_ERR_NOMEM, "out of memory reading table sizes");
        }
    }
    int status = rc == SQLITE_DONE ? DBMGMT_OK
                                   : dm_sqlite_fail(db, rc, err, "reading table sizes (dbstat)");
    sqlite3_finalize(st);
    return status;
}

/* The file system of the database file's folder. */
static int sqlite_disk(dbmgmt_health *h, const char *file, dm_error *err)
{
    char *dir = dm_strdup(file);
    if (!dir)
        return dm_error_set(err, DBMGMT_ERR_NOMEM, "out of memory reading the disk's usage");
    char *slash = strrchr(dir, '/');
    if (slash == dir)
        dir[1] = '\0';
    else if (slash)
        *slash = '\0';
    else
        strcpy(dir, ".");
    dm_health_set_disk(h, dir);
    dm_free(dir);
    return DBMGMT_OK;
}

int dm_sqlite_health(dm_dconn *c, dbmgmt_health *h, dm_error *err)
{
    sqlite3 *db = dm_sqlite_driver.native(c);
    const char *file = sqlite3_db_filename(db, "main");
    int on_disk = file && *file; /* "" for ":memory:" and temporary databases */
    int rc = sqlite_pages(db, h, on_disk, err);
    if (rc != DBMGMT_OK)
        return rc;
    int hits = 0, misses = 0, high = 0;
    if (sqlite3_db_status(db, SQLITE_DBSTATUS_CACHE_HIT, &hits, &high, 0) == SQLITE_OK &&
        sqlite3_db_status(db, SQLITE_DBSTATUS_CACHE_MISS, &misses, &high, 0) == SQLITE_OK)
        dm_health_set_cache(h, hits, misses);
    rc = sqlite_tables(db, h, err);
    if (rc == DBMGMT_OK && on_disk)
        rc = sqlite_disk(h, file, err);
    return rc;
}
