/*
 * Restore drills (DESIGN §7; docs/backup.md, "Verify, restore drills,
 * prune"): a backup is restored into scratch (a temporary SQLite file, or a
 * target database), checked by the engine, and its row counts compared with
 * those recorded when it was taken. The drill's duration is the RTO metric;
 * a failed drill is recorded, alerted and counted.
 */
#include "backup_impl.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/log.h"

static int same_file(const char *a, const char *b)
{
    struct stat sa, sb;
    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
           sa.st_ino == sb.st_ino;
}

static int same_server_database(const dm_dsn *a, const dm_dsn *b)
{
    return a->engine == b->engine && a->port == b->port &&
           strcmp(a->host ? a->host : "", b->host ? b->host : "") == 0 &&
           strcmp(a->database ? a->database : "", b->database ? b->database : "") == 0;
}

static dbmgmt_engine engine_of_entry(const dm_bk_entry *e)
{
    return strcmp(e->engine, "sqlite") == 0     ? DBMGMT_ENGINE_SQLITE
           : strcmp(e->engine, "postgres") == 0 ? DBMGMT_ENGINE_POSTGRES
           : strcmp(e->engine, "mysql") == 0    ? DBMGMT_ENGINE_MYSQL
                                                : DBMGMT_ENGINE_NONE;
}

/* Refusals before any work (not drills that failed): a backup the host's
 * hook made, a target of another engine, the source itself. *target is
 * NULL for a SQLite drill into a temporary file. */
static int restore_target(dbmgmt_backup *b, const dm_bk_entry *e, const char *target_dsn,
                          dm_dsn **target)
{
    *target = NULL;
    dbmgmt_engine engine = engine_of_entry(e);
    if (engine == DBMGMT_ENGINE_NONE)
        return dm_error_set(&b->err, DBMGMT_ERR_UNSUPPORTED,
                            "backup %s was made by the host's backup hook: the host restores it",
                            e->id);
    if (!target_dsn)
        return engine == DBMGMT_ENGINE_SQLITE
                   ? DBMGMT_OK
                   : dm_error_set(&b->err, DBMGMT_ERR_INVALID,
                                  "dbmgmt_backup_restore: a %s backup needs a target DSN",
                                  e->engine);
    int rc = dm_dsn_parse(target_dsn, target, &b->err);
    if (rc != DBMGMT_OK)
        return rc;
    const dm_dsn *t = *target;
    if (t->engine != engine)
        rc = dm_error_set(&b->err, DBMGMT_ERR_INVALID,
                          "backup %s is a %s backup: it cannot be restored into %s", e->id,
                          e->engine, dbmgmt_engine_name(t->engine));
    else if (engine == DBMGMT_ENGINE_SQLITE &&
             (!t->database || !strcmp(t->database, ":memory:") ||
              same_file(t->database, b->dsn->database)))
        rc = dm_error_set(&b->err, DBMGMT_ERR_POLICY,
                          "restore target '%s' is the source database or in memory: restore "
                          "drills go into a scratch file", t->database ? t->database : "");
    else if (engine != DBMGMT_ENGINE_SQLITE && same_server_database(t, b->dsn))
        rc = dm_error_set(&b->err, DBMGMT_ERR_POLICY,
                          "restore target is the source database '%s': restore drills go into "
                          "a scratch database", t->database ? t->database : "");
    if (rc != DBMGMT_OK) {
        dm_dsn_free(*target);
        *target = NULL;
    }
    return rc;
}

static int restore_sqlite(dbmgmt_backup *b, const char *path, const dm_dsn *target,
                          const dm_bk_counts *expected)
{
    char *scratch = NULL;
    const char *dst = target ? target->database : NULL;
    if (!dst) { /* a drill into a temporary file, removed afterwards */
        char name[64];
        snprintf(name, sizeof name, ".restore-drill.sqlite%s%ld", DM_BACKUP_PARTIAL,
                 (long)getpid());
        if (!(scratch = dm_bk_path(b->dir, name)))
            return dm_error_set(&b->err, DBMGMT_ERR_NOMEM, "out of memory");
        dst = scratch;
    }
    dm_bk_counts actual = {0};
    int rc = dm_bk_copy_file(path, dst, &b->err);
    if (rc == DBMGMT_OK)
        rc = dm_sqlite_check(dst, &b->err);
    if (rc == DBMGMT_OK)
        rc = dm_sqlite_count(dst, &actual, &b->err);
    if (rc == DBMGMT_OK)
        rc = dm_bk_counts_compare(expected, &actual, &b->err);
    dm_bk_counts_clear(&actual);
    if (scratch) {
        unlink(scratch);
        dm_free(scratch);
    }
    return rc;
}

static int restore_dump(dbmgmt_backup *b, const char *path, const dm_dsn *target,
                        const dm_bk_counts *expected)
{
    int rc = dm_dump_restore(target, path, &b->err);
    dm_bk_counts actual = {0};
    if (rc == DBMGMT_OK)
        rc = dm_dump_count(target->raw, &actual, &b->err);
    if (rc == DBMGMT_OK)
        rc = dm_bk_counts_compare(expected, &actual, &b->err);
    dm_bk_counts_clear(&actual);
    return rc;
}

/* The drill: restore, the engine's check, row counts; recorded, and
 * alerted when it fails. */
static int restore_drill(dbmgmt_backup *b, const dm_bk_entry *e, const dm_bk_counts *expected,
                         const dm_dsn *target, const char *target_dir)
{
    char *path = dm_bk_path(b->dir, e->file);
    if (!path)
        return dm_error_set(&b->err, DBMGMT_ERR_NOMEM, "out of memory");
    int64_t start = dm_monotonic_ms();
    /* Never restore a file that changed; the off-site copy when the main
     * file is missing or damaged (path then names the copy). */
    int rc = dm_bk_restore_source(b, e, &path);
    /* Encrypted: decrypted and authenticated in full before the target is touched. */
    char *plain = NULL;
    if (rc == DBMGMT_OK && dm_bk_is_encrypted(e))
        rc = dm_bk_decrypt_to_temp(b, e, path, &plain);
    const char *src = plain ? plain : path;
    char *binlogs = NULL;
    if (rc == DBMGMT_OK && target_dir && !strcmp(e->engine, "mariadb-backup"))
        rc = dm_mdb_restore(b, e, target_dir, NULL, &binlogs); /* a data directory */
    else if (rc == DBMGMT_OK && target_dir) /* pgbackrest: a data directory, started by the caller */
        rc = dm_pgbr_restore(b, dm_bk_attrs_get(&e->attrs, "label"), target_dir, NULL);
    else if (rc == DBMGMT_OK)
        rc = engine_of_entry(e) == DBMGMT_ENGINE_SQLITE ? restore_sqlite(b, src, target, expected)
                                                        : restore_dump(b, src, target, expected);
    dm_free(binlogs);
    if (plain) {
        unlink(plain);
        dm_free(plain);
    }
    int64_t ms = dm_monotonic_ms() - start;
    char msg[DM_ERRMSG_MAX];
    snprintf(msg, sizeof msg, "%s", rc == DBMGMT_OK ? "ok" : b->err.msg);
    if (rc != DBMGMT_ERR_NOMEM)
        dm_bkcat_record_restore(b->cat, e->id, dm_bk_logical_now(b), ms, msg, NULL);
    if (rc == DBMGMT_OK) {
        b->last_restore_ms = ms;
        dm_log(DBMGMT_LOG_INFO, "restore drill of backup %s: ok in %lld ms", e->id,
               (long long)ms);
    } else {
        dm_bk_alert(b, e->id, path, "restore drill of backup %s failed: %s", e->id, msg);
        dm_error_set(&b->err, rc, "%s", msg);
        dm_bk_failed(b, rc);
    }
    dm_free(path);
    return rc;
}

static int restore_locked(dbmgmt_backup *b, const char *id, const char *target_dsn)
{
    dm_bk_entry e = {0};
    dm_bk_counts expected = {0};
    dm_dsn *target = NULL;
    int rc = dm_bkcat_get(b->cat, id, &e, &expected, &b->err);
    /* physical backups restore into a data directory */
    int pgbr = rc == DBMGMT_OK &&
               (!strcmp(e.engine, "pgbackrest") || !strcmp(e.engine, "mariadb-backup"));
    if (pgbr && !target_dsn)
        rc = dm_error_set(&b->err, DBMGMT_ERR_INVALID,
                          "dbmgmt_backup_restore: %s backup %s needs a target data "
                          "directory", e.engine, e.id);
    else if (rc == DBMGMT_OK && !pgbr)
        rc = restore_target(b, &e, target_dsn, &target);
    if (rc == DBMGMT_OK)
        rc = restore_drill(b, &e, &expected, target, pgbr ? target_dsn : NULL);
    dm_dsn_free(target);
    dm_bk_entry_clear(&e);
    dm_bk_counts_clear(&expected);
    return rc;
}

DBMGMT_API int dbmgmt_backup_restore(dbmgmt_backup *b, const char *id, const char *target_dsn)
{
    if (!b || !id)
        return dm_error_invalid("dbmgmt_backup_restore", "b or id is NULL");
    dm_bk_lock(b);
    dm_error_reset(&b->err);
    int rc = restore_locked(b, id, target_dsn);
    dm_bk_unlock(b);
    return rc;
}
