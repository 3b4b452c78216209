/*
 * The binlog archive of the mariadb-backup engine: <dir>/binlog holds every
 * closed binlog of the server since the first backup, fetched by the real
 * tool (mariadb-binlog --read-from-remote-server --raw) after FLUSH BINARY
 * LOGS, so a point-in-time restore has the binlogs after a backup even when
 * the server has purged them. Each file is written under a partial name,
 * fsync-ed and renamed, as every backup file.
 */
#include "engine_mariadb.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conn/conn.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/log.h"

#define PARTIAL_PREFIX ".partial-"

static int names_add(char ***v, size_t *n, const char *name)
{
    char **nv = dm_realloc(*v, (*n + 1) * sizeof *nv);
    if (!nv)
        return DBMGMT_ERR_NOMEM;
    *v = nv;
    if (!(nv[*n] = dm_strdup(name)))
        return DBMGMT_ERR_NOMEM;
    (*n)++;
    return DBMGMT_OK;
}

/* The closed binlogs of the server (all but the newest), after a flush. */
static int closed_binlogs(dbmgmt_backup *b, char ***names, size_t *n)
{
    *names = NULL;
    *n = 0;
    dbmgmt_conn *conn = NULL;
    if (dbmgmt_conn_open(&conn, b->dsn->raw) != DBMGMT_OK)
        return dm_error_set(&b->err, DBMGMT_ERR_CONNECT, "binlog archive: %s", dbmgmt_errmsg());
    dbmgmt_result *r = NULL;
    int rc = DBMGMT_OK;
    if (dbmgmt_conn_exec(conn, "FLUSH BINARY LOGS") != DBMGMT_OK ||
        dbmgmt_conn_query(conn, &r, "SHOW BINARY LOGS", 0, NULL) != DBMGMT_OK)
        rc = dm_error_set(&b->err, DBMGMT_ERR_SQL,
                          "binlog archive: FLUSH BINARY LOGS / SHOW BINARY LOGS: %s (the user "
                          "needs RELOAD and BINLOG MONITOR)", dbmgmt_conn_errmsg(conn));
    while (rc == DBMGMT_OK && dbmgmt_result_next(r) == 1)
        if (names_add(names, n, dbmgmt_result_text(r, 0)) != DBMGMT_OK)
            rc = dm_error_set(&b->err, DBMGMT_ERR_NOMEM, "out of memory");
    dbmgmt_result_free(r);
    dbmgmt_conn_close(conn);
    if (rc == DBMGMT_OK && *n > 0) /* the newest is still being written */
        dm_free((*names)[--*n]);
    if (rc != DBMGMT_OK) {
        dm_bk_strings_free(*names, *n);
        *names = NULL;
        *n = 0;
    }
    return rc;
}

/* Fetch one closed binlog into the archive. */
static int fetch_binlog(dbmgmt_backup *b, const char *name)
{
    const dm_mdb *m = b->mdb;
    dm_buf prefix = DM_BUF_INIT, partial = DM_BUF_INIT, result = DM_BUF_INIT;
    dm_buf_printf(&prefix, "%s/" PARTIAL_PREFIX "%ld-", m->binlogs, (long)getpid());
    dm_buf_printf(&partial, "%s%s", prefix.data ? prefix.data : "", name);
    dm_buf_printf(&result, "--result-file=%s", prefix.data ? prefix.data : "");
    char *final = dm_bk_path(m->binlogs, name);
    int rc = DBMGMT_OK;
    if (!final || dm_buf_failed(&prefix) || dm_buf_failed(&partial) || dm_buf_failed(&result))
        rc = dm_error_set(&b->err, DBMGMT_ERR_NOMEM, "out of memory");
    const char *args[] = {"--read-from-remote-server", "--raw", result.data, name, NULL};
    if (rc == DBMGMT_OK)
        rc = dm_mdb_tool(b, "mariadb-binlog", args, NULL, 0, -1, -1, NULL);
    if (rc == DBMGMT_OK && chmod(partial.data, 0600) != 0)
        rc = dm_error_set(&b->err, DBMGMT_ERR_IO, "mariadb-binlog wrote no '%s': %s",
                          partial.data, strerror(errno));
    if (rc == DBMGMT_OK)
        rc = dm_bk_fsync_path(partial.data, &b->err);
    if (rc == DBMGMT_OK && rename(partial.data, final) != 0)
        rc = dm_error_set(&b->err, DBMGMT_ERR_IO, "cannot rename '%s' to '%s': %s",
                          partial.data, final, strerror(errno));
    if (rc != DBMGMT_OK && partial.data)
        unlink(partial.data);
    dm_buf_free(&prefix);
    dm_buf_free(&partial);
    dm_buf_free(&result);
    dm_free(final);
    return rc;
}

static int archived(dbmgmt_backup *b, char ***names, size_t *n);

/* Every closed binlog not yet archived, from the oldest in the archive on:
 * binlogs before it were pruned (no kept backup needs them) and stay out. */
int dm_mdb_archive_binlogs(dbmgmt_backup *b)
{
    if (!b->mdb)
        return DBMGMT_OK;
    char **names = NULL, **have = NULL;
    size_t n = 0, nhave = 0, fetched = 0;
    int rc = archived(b, &have, &nhave);
    if (rc == DBMGMT_OK)
        rc = closed_binlogs(b, &names, &n);
    for (size_t i = 0; rc == DBMGMT_OK && i < n; i++) {
        if (nhave > 0 && strcmp(names[i], have[0]) < 0)
            continue;
        char *path = dm_bk_path(b->mdb->binlogs, names[i]);
        if (!path) {
            rc = dm_error_set(&b->err, DBMGMT_ERR_NOMEM, "out of memory");
            break;
        }
        if (access(path, F_OK) != 0) {
            rc = fetch_binlog(b, names[i]);
            fetched += rc == DBMGMT_OK;
        }
        dm_free(path);
    }
    if (rc == DBMGMT_OK && fetched > 0)
        rc = dm_bk_fsync_dir(b->mdb->binlogs, &b->err);
    if (rc == DBMGMT_OK && fetched > 0)
        dm_log(DBMGMT_LOG_INFO, "mariadb-backup: archived %zu binlog(s) into '%s'", fetched,
               b->mdb->binlogs);
    dm_bk_strings_free(names, n);
    dm_bk_strings_free(have, nhave);
    return rc;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The archive's binlogs (no partial files), sorted. */
static int archived(dbmgmt_backup *b, char ***names, size_t *n)
{
    *names = NULL;
    *n = 0;
    DIR *d = opendir(b->mdb->binlogs);
    if (!d)
        return dm_error_set(&b->err, DBMGMT_ERR_IO, "cannot open '%s': %s", b->mdb->binlogs,
                            strerror(errno));
    struct dirent *ent;
    int rc = DBMGMT_OK;
    while (rc == DBMGMT_OK && (ent = readdir(d)) != NULL)
        if (ent->d_name[0] != '.' && names_add(names, n, ent->d_name) != DBMGMT_OK)
            rc = dm_error_set(&b->err, DBMGMT_ERR_NOMEM, "out of memory");
    closedir(d);
    if (rc == DBMGMT_OK && *n > 1)
        qsort(*names, *n, sizeof **names, by_name);
    return rc;
}

int dm_mdb_binlogs_from(dbmgmt_backup *b, const char *first, char ***names, size_t *n)
{
    int rc = archived(b, names, n);
    size_t skip = 0;
    while (rc == DBMGMT_OK && skip < *n && strcmp((*names)[skip], first) < 0)
        dm_free((*names)[skip++]);
    if (skip > 0) {
        memmove(*names, *names + skip, (*n - skip) * sizeof **names);
        *n -= skip;
    }
    if (rc == DBMGMT_OK && (*n == 0 || strcmp((*names)[0], first) != 0))
        rc = dm_error_set(&b->err, DBMGMT_ERR_NOTFOUND,
                          "the binlog archive '%s' has no '%s' (the binlog of the backup)",
                          b->mdb->binlogs, first);
    return rc;
}

void dm_mdb_prune_binlogs(dbmgmt_backup *b)
{
    if (!b->mdb)
        return;
    dm_bk_entry *v = NULL;
    size_t n = 0;
    if (dm_bkcat_all(b->cat, &v, &n, NULL) != DBMGMT_OK)
        return;
    const char *oldest = NULL; /* the smallest binlog a kept backup replays from */
    for (size_t i = 0; i < n; i++) {
        const char *f = dm_bk_attrs_get(&v[i].attrs, "binlog_file");
        if (!strcmp(v[i].engine, "mariadb-backup") && f && *f && (!oldest || strcmp(f, oldest) < 0))
            oldest = f;
    }
    char **names = NULL;
    size_t nn = 0;
    if (oldest && archived(b, &names, &nn) == DBMGMT_OK) {
        for (size_t i = 0; i < nn && strcmp(names[i], oldest) < 0; i++) {
            char *path = dm_bk_path(b->mdb->binlogs, names[i]);
            if (path && unlink(path) == 0)
                dm_log(DBMGMT_LOG_INFO, "mariadb-backup: pruned binlog %s", names[i]);
            dm_free(path);
        }
    }
    dm_bk_strings_free(names, nn);
    dm_bk_entries_free(v, n);
}
