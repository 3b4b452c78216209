/*
 * Point-in-time restores (docs/backup-pgbackrest.md, "Restore to a time"):
 * dbmgmt_backup_restore_to_time. With the pgbackrest engine, pgBackRest's
 * restore --type=time from the newest set that ended at or before the time
 * into an empty data directory; with mariadb-backup, that backup's chain
 * prepared into an empty data directory and the archived binlogs replayed
 * to the second (docs/backup-mariadb-backup.md); with the other engines (SQLite copy,
 * pg_dump, mysqldump) the nearest backup at or before the time, restored as
 * dbmgmt_backup_restore does. What was restored is logged at info level and
 * kept as JSON for dbmgmt_backup_restore_info.
 */
#include "backup_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/json.h"
#include "core/log.h"

/* The engine whose backups roll forward to a time (pgbackrest,
 * mariadb-backup), or NULL: the nearest backup. */
static const char *pitr_engine(const dbmgmt_backup *b)
{
    return b->engine_id == DM_BK_ENGINE_PGBACKREST         ? "pgbackrest"
           : b->engine_id == DM_BK_ENGINE_MARIADB_BACKUP ? "mariadb-backup"
                                                          : NULL;
}

/* The time a backup can be restored to or after: the engine's stop time
 * (the backup is consistent from there), else the catalog time. pgBackRest
 * records its stop in whole seconds, truncated: the backup is consistent
 * somewhere in that second, and PostgreSQL refuses a recovery target before
 * that point ("requested recovery stop point is before consistent recovery
 * point"), so such a backup is usable from the next second. */
static int64_t usable_from(const dm_bk_entry *e, const char *pitr)
{
    if (!pitr)
        return e->time;
    const char *stop = dm_bk_attrs_get(&e->attrs, "stop_time");
    if (!stop || !*stop)
        return -1;
    return strtoll(stop, NULL, 10) + (strcmp(pitr, "pgbackrest") == 0);
}

static int candidate(const dm_bk_entry *e, const char *pitr)
{
    if (pitr)
        return !strcmp(e->engine, pitr);
    return strcmp(e->engine, "pgbackrest") != 0 && strcmp(e->engine, "mariadb-backup") != 0 &&
           strcmp(e->engine, "hook") != 0;
}

/* The newest usable backup at or before t: its index, or n with the error
 * naming the earliest time available. */
static size_t pick(dbmgmt_backup *b, const dm_bk_entry *v, size_t n, int64_t t,
                   const char *pgbr)
{
    size_t best = n, first = n;
    for (size_t i = 0; i < n; i++) {
        int64_t at = usable_from(&v[i], pgbr);
        if (!candidate(&v[i], pgbr) || at < 0)
            continue;
        if (first == n || at < usable_from(&v[first], pgbr))
            first = i;
        if (at <= t && (best == n || at >= usable_from(&v[best], pgbr)))
            best = i;
    }
    if (best == n) {
        char want[40], earliest[40];
        dm_bk_format_utc(t, 0, want, sizeof want);
        if (first == n) {
            dm_error_set(&b->err, DBMGMT_ERR_NOTFOUND,
                         "restore to %s: the catalog has no %s backup", want,
                         pgbr ? pgbr : "restorable");
        } else {
            dm_bk_format_utc(usable_from(&v[first], pgbr), 0, earliest, sizeof earliest);
            dm_error_set(&b->err, DBMGMT_ERR_NOTFOUND,
                         "restore to %s: no backup at or before that time; the earliest time "
                         "available is %s (backup %s)", want, earliest, v[first].id);
        }
    }
    return best;
}

static const char *method_of(const char *pitr)
{
    if (!pitr)
        return "nearest backup at or before the time (no log replay)";
    if (!strcmp(pitr, "pgbackrest"))
        return "pgbackrest restore --type=time (WAL replayed to the time)";
    return "mariadb-backup --prepare and --move-back, then mariadb-binlog --stop-datetime "
           "replayed into a temporary mariadbd (one-second precision)";
}

static int record_result(dbmgmt_backup *b, const dm_bk_entry *e, int64_t t, const char *pitr,
                         const char *target, const char *binlogs)
{
    char when[40], from[40];
    dm_bk_format_utc(t, 0, when, sizeof when);
    dm_bk_format_utc(usable_from(e, pitr), 0, from, sizeof from);
    dm_buf out = DM_BUF_INIT;
    dm_json j;
    dm_json_init(&j, &out);
    dm_json_object_begin(&j);
    dm_json_key(&j, "engine");
    dm_json_string(&j, e->engine);
    dm_json_key(&j, "backup_id");
    dm_json_string(&j, e->id);
    dm_json_key(&j, "backup_time");
    dm_json_string(&j, from);
    dm_json_key(&j, "target_time");
    dm_json_string(&j, when);
    dm_json_key(&j, "target");
    dm_json_string(&j, target);
    dm_json_key(&j, "method");
    dm_json_string(&j, method_of(pitr));
    if (pitr && !strcmp(pitr, "pgbackrest")) {
        dm_json_key(&j, "label");
        dm_json_string(&j, dm_bk_attrs_get(&e->attrs, "label"));
    }
    if (binlogs) {
        dm_json_key(&j, "binlog_range");
        dm_json_string(&j, binlogs);
    }
    dm_json_object_end(&j);
    char *s = dm_buf_detach(&out);
    if (!s)
        return dm_error_set(&b->err, DBMGMT_ERR_NOMEM, "out of memory");
    dm_free(b->last_pitr_json);
    b->last_pitr_json = s;
    dm_log(DBMGMT_LOG_INFO, "restore to %s into %s: %s", when, target, s);
    return DBMGMT_OK;
}

/* A restore to a time is a drill like dbmgmt_backup_restore's: its result
 * and duration (RTO) recorded on the backup it started from, a failure
 * alerted and counted. (The other engines go through
 * dbmgmt_backup_restore, which records itself.) */
static int record_drill(dbmgmt_backup *b, const dm_bk_entry *e, int64_t t, int64_t ms, int rc)
{
    char when[40], msg[DM_ERRMSG_MAX + 48];
    dm_bk_format_utc(t, 0, when, sizeof when);
    if (rc == DBMGMT_OK)
        snprintf(msg, sizeof msg, "ok (to %s)", when);
    else
        snprintf(msg, sizeof msg, "to %s: %s", when, b->err.msg);
    if (rc != DBMGMT_ERR_NOMEM)
        dm_bkcat_record_restore(b->cat, e->id, dm_bk_logical_now(b), ms, msg, NULL);
    if (rc == DBMGMT_OK) {
        b->last_restore_ms = ms;
        return DBMGMT_OK;
    }
    dm_bk_alert(b, e->id, NULL, "restore of backup %s %s", e->id, msg);
    dm_error_set(&b->err, rc, "%s", msg);
    dm_bk_failed(b, rc);
    return rc;
}

/* A SQLite target may be a plain path. */
static char *target_dsn(const char *target, dbmgmt_engine engine)
{
    if (engine != DBMGMT_ENGINE_SQLITE || strchr(target, ':'))
        return dm_strdup(target);
    dm_buf d = DM_BUF_INIT;
    dm_buf_printf(&d, "sqlite:%s", target);
    return dm_buf_detach(&d);
}

static int restore_to_time_locked(dbmgmt_backup *b, const char *target, int64_t t)
{
    dm_bk_entry *v = NULL;
    size_t n = 0;
    int rc = dm_bkcat_all(b->cat, &v, &n, &b->err);
    if (rc != DBMGMT_OK)
        return rc;
    const char *pitr = pitr_engine(b);
    size_t i = pick(b, v, n, t, pitr);
    char *binlogs = NULL;
    if (i == n)
        rc = b->err.code != DBMGMT_OK ? b->err.code : DBMGMT_ERR_NOTFOUND;
    if (rc == DBMGMT_OK && pitr) {
        int64_t start = dm_monotonic_ms();
        if (b->engine_id == DM_BK_ENGINE_PGBACKREST)
            rc = dm_pgbr_restore(b, dm_bk_attrs_get(&v[i].attrs, "label"), target, &t);
        else
            rc = dm_mdb_restore(b, &v[i], target, &t, &binlogs);
        rc = record_drill(b, &v[i], t, dm_monotonic_ms() - start, rc);
    } else if (rc == DBMGMT_OK) {
        char *dsn = target_dsn(target, b->dsn->engine);
        rc = dsn ? dbmgmt_backup_restore(b, v[i].id, dsn)
                 : dm_error_set(&b->err, DBMGMT_ERR_NOMEM, "out of memory");
        dm_free(dsn);
    }
    if (rc == DBMGMT_OK)
        rc = record_result(b, &v[i], t, pitr, target, binlogs);
    dm_free(binlogs);
    dm_bk_entries_free(v, n);
    return rc;
}

DBMGMT_API int dbmgmt_backup_restore_to_time(dbmgmt_backup *b, const char *target,
                                             int64_t utc_time)
{
    if (!b || !target || !*target)
        return dm_error_invalid("dbmgmt_backup_restore_to_time", "b or target is NULL or empty");
    dm_bk_lock(b);
    dm_error_reset(&b->err);
    int rc = restore_to_time_locked(b, target, utc_time);
    dm_bk_unlock(b);
    return rc;
}

DBMGMT_API const char *dbmgmt_backup_restore_info(const dbmgmt_backup *b)
{
    return b && b->last_pitr_json ? b->last_pitr_json : "";
}
