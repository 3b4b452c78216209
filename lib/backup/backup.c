/*
 * The backup scheduler (DESIGN §7): schedules fire backups into a folder
 * with a catalog, each backup is verified, retention prunes, restore drills
 * measure the RTO, and alerts go to a hook and the logger.
 *
 * This file is the object's life: new and free, the configuration setters,
 * prune, tick and the background thread that calls it, the list and the
 * metrics. Taking a backup (and verifying it) is backup_run.c, restore
 * drills backup_drill.c, the host's hooks and alerts backup_hooks.c.
 *
 * Thread safety: every entry point takes the object's recursive mutex, so
 * the background thread, the host and hooks (which run under it, on the
 * calling thread) may all call in.
 */
#include "backup_impl.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <dirent.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/json.h"
#include "core/log.h"
#include "retention.h"

#define TICK_INTERVAL_S 60

void dm_bk_lock(const dbmgmt_backup *b)
{
    pthread_mutex_lock((pthread_mutex_t *)&b->mu);
}

void dm_bk_unlock(const dbmgmt_backup *b)
{
    pthread_mutex_unlock((pthread_mutex_t *)&b->mu);
}

/* "Now" for metrics and records: the wall clock, or the newest time a host
 * gave tick if its clock runs ahead (simulated clocks in tests). */
int64_t dm_bk_logical_now(const dbmgmt_backup *b)
{
    int64_t now = (int64_t)time(NULL);
    return b->last_tick_now > now ? b->last_tick_now : now;
}

/* RFC 3339 ("2026-01-21T02:00:00Z") or, compact, the id form
 * ("20260121T020000Z"). */
void dm_bk_format_utc(int64_t t, int compact, char *out, size_t cap)
{
    time_t tt = (time_t)t;
    struct tm tm;
    size_t n = 0;
    if (gmtime_r(&tt, &tm))
        n = compact ? strftime(out, cap, "%Y%m%dT%H%M%SZ", &tm)
                    : strftime(out, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
    if (n == 0)
        snprintf(out, cap, "%lld", (long long)t);
}

/* ---- construction ------------------------------------------------------------ */

static int make_dirs(const char *dir, dm_error *err)
{
    char *path = dm_strdup(dir);
    if (!path)
        return dm_error_set(err, DBMGMT_ERR_NOMEM, "out of memory");
    int rc = DBMGMT_OK;
    for (char *p = path + 1;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char saved = *p;
        *p = '\0';
        if (mkdir(path, 0700) != 0 && errno != EEXIST) {
            rc = dm_error_set(err, DBMGMT_ERR_IO, "cannot create the backup folder '%s': %s",
                              path, strerror(errno));
            break;
        }
        *p = saved;
        if (saved == '\0')
            break;
    }
    dm_free(path);
    struct stat st;
    if (rc == DBMGMT_OK && (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)))
        rc = dm_error_set(err, DBMGMT_ERR_IO, "'%s' is not a folder", dir);
    return rc;
}

/* Remove <name>.partial-<pid> files whose writer is gone (killed mid-backup). */
static void remove_stale_partials(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *ent;
    while ((ent = readdir(d)) != NULL) {
        const char *mark = strstr(ent->d_name, DM_BACKUP_PARTIAL);
        if (!mark)
            continue;
        long pid = strtol(mark + strlen(DM_BACKUP_PARTIAL), NULL, 10);
        if (pid <= 0 || (kill((pid_t)pid, 0) != 0 && errno == ESRCH)) {
            char *path = dm_bk_path(dir, ent->d_name);
            struct stat st;
            int is_dir = path && lstat(path, &st) == 0 && S_ISDIR(st.st_mode);
            if (is_dir) /* a scratch folder (mariadb-backup's verify and restore) */
                dm_mdb_remove_tree(path);
            if (path && (is_dir || unlink(path) == 0))
                dm_log(DBMGMT_LOG_WARN, "removed '%s', left by a backup that did not finish",
                       path);
            dm_free(path);
        }
    }
    closedir(d);
}

static int init_sync(dbmgmt_backup *b)
{
    pthread_mutexattr_t ma;
    pthread_mutexattr_init(&ma);
    pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_RECURSIVE);
    int rc = pthread_mutex_init(&b->mu, &ma);
    pthread_mutexattr_destroy(&ma);
    if (rc != 0)
        return -1;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    rc = pthread_cond_init(&b->wake, &ca);
    pthread_condattr_destroy(&ca);
    if (rc != 0) {
        pthread_mutex_destroy(&b->mu);
        return -1;
    }
    return 0;
}

static int check_source(const dm_dsn *dsn, dm_error *err)
{
    if (!dbmgmt_engine_available(dsn->engine))
        return dm_error_set(err, DBMGMT_ERR_UNSUPPORTED,
                            "this build has no %s driver (build with -D%s=enabled)",
                            dbmgmt_engine_name(dsn->engine), dbmgmt_engine_name(dsn->engine));
    if (dsn->engine == DBMGMT_ENGINE_SQLITE &&
        (!dsn->database || strcmp(dsn->database, ":memory:") == 0 ||
         (dm_dsn_param_get(dsn, "mode") && !strcmp(dm_dsn_param_get(dsn, "mode"), "memory"))))
        return dm_error_set(err, DBMGMT_ERR_UNSUPPORTED,
                            "an in-memory SQLite database cannot be backed up by the scheduler");
    return DBMGMT_OK;
}

DBMGMT_API int dbmgmt_backup_new(dbmgmt_backup **out, const char *dsn, const char *backup_dir)
{
    if (!out)
        return dm_error_invalid("dbmgmt_backup_new", "out is NULL");
    *out = NULL;
    if (!backup_dir || !*backup_dir)
        return dm_error_invalid("dbmgmt_backup_new", "backup_dir is NULL or empty");
    dbmgmt_backup *b = dm_calloc(1, sizeof *b);
    if (!b)
        return dm_error_set(NULL, DBMGMT_ERR_NOMEM, "out of memory creating a backup scheduler");
    if (init_sync(b) != 0) {
        dm_free(b);
        return dm_error_set(NULL, DBMGMT_ERR_NOMEM, "cannot create a mutex");
    }
    b->last_restore_ms = -1;
    int rc = dm_dsn_parse(dsn, &b->dsn, &b->err);
    if (rc == DBMGMT_OK)
        rc = check_source(b->dsn, &b->err);
    if (rc == DBMGMT_OK && !(b->dir = dm_strdup(backup_dir)))
        rc = dm_error_set(&b->err, DBMGMT_ERR_NOMEM, "out of memory");
    if (rc == DBMGMT_OK)
        rc = make_dirs(b->dir, &b->err);
    if (rc == DBMGMT_OK)
        rc = dm_bkcat_open(&b->cat, b->dir, &b->err);
    if (rc != DBMGMT_OK) {
        dbmgmt_backup_free(b);
        return rc;
    }
    remove_stale_partials(b->dir);
    b->last_restore_ms = dm_bkcat_last_restore_ms(b->cat);
    *out = b;
    return DBMGMT_OK;
}

DBMGMT_API void dbmgmt_backup_free(dbmgmt_backup *b)
{
    if (!b)
        return;
    dbmgmt_backup_stop(b);
    for (size_t i = 0; i < b->nschedules; i++) {
        dm_free(b->schedules[i].name);
        dm_free(b->schedules[i].kind);
        dbmgmt_schedule_free(b->schedules[i].cron);
    }
    dm_free(b->schedules);
    dbmgmt_retention_free(b->retention);
    dm_bkcat_close(b->cat);
    dm_dsn_free(b->dsn);
    dm_free(b->dir);
    dm_free(b->offsite_dir);
    dm_bk_key_free(b->key);
    dm_pgbr_free(b->pgbr);
    dm_mdb_free(b->mdb);
    dm_free(b->last_pitr_json);
    pthread_cond_destroy(&b->wake);
    pthread_mutex_destroy(&b->mu);
    dm_free(b);
}

/* ---- configuration ------------------------------------------------------------- */

/* Kinds become part of file names. */
static int valid_kind(const char *kind)
{
    if (!*kind || strlen(kind) > 64)
        return 0;
    for (const char *p = kind; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '_' || *p == '-'))
            return 0;
    return 1;
}

static int add_schedule_locked(dbmgmt_backup *b, const char *name, const char *expr,
                               const char *kind)
{
    for (size_t i = 0; i < b->nschedules; i++)
        if (strcmp(b->schedules[i].name, name) == 0)
            return dm_error_set(&b->err, DBMGMT_ERR_INVALID,
                                "dbmgmt_backup_add_schedule: a schedule named '%s' exists", name);
    dbmgmt_schedule *cron = NULL;
    int rc = dbmgmt_schedule_parse(&cron, expr);
    if (rc != DBMGMT_OK)
        return dm_error_set(&b->err, rc, "schedule '%s': %s", name, dbmgmt_errmsg());
    dm_bk_schedule *v = dm_realloc(b->schedules, (b->nschedules + 1) * sizeof *v);
    char *n = dm_strdup(name), *k = dm_strdup(kind);
    if (v)
        b->schedules = v;
    if (!v || !n || !k) {
        dm_free(n);
        dm_free(k);
        dbmgmt_schedule_free(cron);
        return dm_error_set(&b->err, DBMGMT_ERR_NOMEM, "out of memory adding a schedule");
    }
    b->schedules[b->nschedules++] = (dm_bk_schedule){n, k, cron};
    return DBMGMT_OK;
}

DBMGMT_API int dbmgmt_backup_add_schedule(dbmgmt_backup *b, const char *name, const char *expr,
                                          const char *kind)
{
    if (!b || !name || !*name || !expr || !kind)
        return dm_error_invalid("dbmgmt_backup_add_schedule", "NULL or empty argument");
    if (!valid_kind(kind))
        return dm_error_set(&b->err, DBMGMT_ERR_INVALID,
                            "dbmgmt_backup_add_schedule: kind '%s' must be 1-64 letters, digits, "
                            "'_' or '-' (it becomes part of file names)", kind);
    dm_bk_lock(b);
    int rc = DBMGMT_OK;
    if (b->engine_id == DM_BK_ENGINE_PGBACKREST && !dm_pgbr_valid_kind(kind))
        rc = dm_error_set(&b->err, DBMGMT_ERR_INVALID,
                          "schedule '%s': with the pgbackrest engine the kind is full, diff or "
                          "incr, not '%s'", name, kind);
    if (b->engine_id == DM_BK_ENGINE_MARIADB_BACKUP && !dm_mdb_valid_kind(kind))
        rc = dm_error_set(&b->err, DBMGMT_ERR_INVALID,
                          "schedule '%s': with the mariadb-backup engine the kind is full or "
                          "incr, not '%s'", name, kind);
    if (rc == DBMGMT_OK)
        rc = add_schedule_locked(b, name, expr, kind);
    dm_bk_unlock(b);
    return rc;
}

/* Every schedule's kind is one the engine takes (valid), else an error
 * naming the first that is not. */
static int check_kinds(dbmgmt_backup *b, const char *engine, int (*valid)(const char *),
                       const char *kinds)
{
    for (size_t i = 0; i < b->nschedules; i++)
        if (!valid(b->schedules[i].kind))
            return dm_error_set(&b->err, DBMGMT_ERR_INVALID,
                                "schedule '%s': with the %s engine the kind is %s, not '%s'",
                                b->schedules[i].name, engine, kinds, b->schedules[i].kind);
    return DBMGMT_OK;
}

/* The engine: "auto" (SQLite copy, pg_dump, mysqldump by the DSN),
 * "pgbackrest" (PostgreSQL; docs/backup-pgbackrest.md) or "mariadb-backup"
 * (MariaDB; docs/backup-mariadb-backup.md), set up here. */
DBMGMT_API int dbmgmt_backup_set_engine(dbmgmt_backup *b, const char *engine)
{
    if (!b || !engine)
        return dm_error_invalid("dbmgmt_backup_set_engine", "b or engine is NULL");
    dm_bk_lock(b);
    dm_error_reset(&b->err);
    int rc = DBMGMT_OK;
    if (strcmp(engine, "auto") == 0) {
        b->engine_id = DM_BK_ENGINE_AUTO;
    } else if (strcmp(engine, "pgbackrest") == 0) {
        rc = check_kinds(b, engine, dm_pgbr_valid_kind, "full, diff or incr");
        if (rc == DBMGMT_OK)
            rc = dm_pgbr_setup(b);
        if (rc == DBMGMT_OK)
            b->engine_id = DM_BK_ENGINE_PGBACKREST;
    } else if (strcmp(engine, "mariadb-backup") == 0) {
        rc = check_kinds(b, engine, dm_mdb_valid_kind, "full or incr");
        if (rc == DBMGMT_OK)
            rc = dm_mdb_setup(b);
        if (rc == DBMGMT_OK)
            b->engine_id = DM_BK_ENGINE_MARIADB_BACKUP;
    } else {
        rc = dm_error_set(&b->err, DBMGMT_ERR_INVALID,
                          "dbmgmt_backup_set_engine: unknown engine '%s' (auto, pgbackrest, "
                          "mariadb-backup)", engine);
    }
    dm_bk_unlock(b);
    return rc;
}

DBMGMT_API int dbmgmt_backup_set_retention(dbmgmt_backup *b, const dbmgmt_retention *r)
{
    if (!b)
        return dm_error_invalid("dbmgmt_backup_set_retention", "b is NULL");
    dbmgmt_retention *copy = NULL;
    if (r) {
        int rc = dm_retention_copy(&copy, r);
        if (rc != DBMGMT_OK)
            return dm_error_set(&b->err, rc, "%s", dbmgmt_errmsg());
    }
    dm_bk_lock(b);
    dbmgmt_retention_free(b->retention);
    b->retention = copy;
    dm_bk_unlock(b);
    return DBMGMT_OK;
}

DBMGMT_API int dbmgmt_backup_set_rpo_bound(dbmgmt_backup *b, int64_t max_age_s)
{
    if (!b)
        return dm_error_invalid("dbmgmt_backup_set_rpo_bound", "b is NULL");
    if (max_age_s < 0)
        return dm_error_invalid("dbmgmt_backup_set_rpo_bound", "max_age_s is negative");
    dm_bk_lock(b);
    b->rpo_bound_s = max_age_s;
    b->rpo_alerted = 0;
    dm_bk_unlock(b);
    return DBMGMT_OK;
}

DBMGMT_API int dbmgmt_backup_set_utc_offset(dbmgmt_backup *b, int32_t utc_offset_s)
{
    if (!b)
        return dm_error_invalid("dbmgmt_backup_set_utc_offset", "b is NULL");
    if (utc_offset_s < -86400 || utc_offset_s > 86400)
        return dm_error_invalid("dbmgmt_backup_set_utc_offset",
                                "utc_offset_s must be within -86400..86400");
    dm_bk_lock(b);
    b->utc_offset_s = utc_offset_s;
    dm_bk_unlock(b);
    return DBMGMT_OK;
}

/* ---- prune ---------------------------------------------------------------------- */

/* Index of the newest verified backup, or n. */
static size_t newest_verified(const dm_bk_entry *v, size_t n)
{
    size_t best = n;
    for (size_t i = 0; i < n; i++)
        if (v[i].verify_ok == 1 && (best == n || v[i].time >= v[best].time))
            best = i;
    return best;
}

static int remove_backup(dbmgmt_backup *b, const dm_bk_entry *e)
{
    char *path = dm_bk_path(b->dir, e->file);
    if (!path)
        return dm_error_set(&b->err, DBMGMT_ERR_NOMEM, "out of memory");
    if (dm_bk_call_hook(b, DBMGMT_HOOK_PRUNE, e->id, path, NULL) != 0) {
        dm_free(path);
        return 1; /* the host keeps it */
    }
    /* A pgBackRest set leaves the repository first: should expire fail,
     * the catalog still tells the truth. */
    if (strcmp(e->engine, "pgbackrest") == 0) {
        int erc = dm_pgbr_expire(b, e);
        if (erc != DBMGMT_OK) {
            dm_free(path);
            return erc;
        }
    }
    /* The entry goes first: a crash in between leaves a stray file, never
     * an entry without its file. */
    int rc = dm_bk_offsite_remove(b, e->id); /* each copy's row, then its file */
    if (rc == DBMGMT_OK)
        rc = dm_bkcat_delete(b->cat, e->id, &b->err);
    if (rc == DBMGMT_OK && unlink(path) != 0 && errno != ENOENT)
        dm_log(DBMGMT_LOG_WARN, "prune: cannot remove '%s': %s", path, strerror(errno));
    if (rc == DBMGMT_OK && strcmp(e->engine, "mariadb-backup") == 0)
        dm_mdb_discard(b, e->id); /* its folder, after its entry */
    if (rc == DBMGMT_OK)
        dm_log(DBMGMT_LOG_INFO, "pruned backup %s", e->id);
    dm_free(path);
    return rc;
}

/* The backup a chained one depends on: pgBackRest's prior set (by label),
 * mariadb-backup's base (by id). */
static int is_base_of(const dm_bk_entry *e, const dm_bk_entry *cand)
{
    if (strcmp(e->engine, cand->engine) != 0)
        return 0;
    if (!strcmp(e->engine, "pgbackrest")) {
        const char *prior = dm_bk_attrs_get(&e->attrs, "prior");
        const char *label = dm_bk_attrs_get(&cand->attrs, "label");
        return prior && *prior && label && !strcmp(label, prior);
    }
    if (!strcmp(e->engine, "mariadb-backup")) {
        const char *base = dm_bk_attrs_get(&e->attrs, "base");
        return base && *base && !strcmp(base, cand->id);
    }
    return 0;
}

/* A kept diff/incr keeps the backups it depends on (its base, and theirs):
 * pgBackRest expires a full's dependents with it, and a mariadb-backup incr
 * cannot be prepared without its chain. */
static void keep_prior_sets(const dm_bk_entry *v, size_t n, uint8_t *keep)
{
    for (int changed = 1; changed;) {
        changed = 0;
        for (size_t i = 0; i < n; i++)
            for (size_t j = 0; keep[i] && j < n; j++)
                if (!keep[j] && is_base_of(&v[i], &v[j])) {
                    keep[j] = 1;
                    changed = 1;
                }
    }
}

static int32_t prune_locked(dbmgmt_backup *b, int dry_run)
{
    if (!b->retention || !dm_retention_has_policy(b->retention))
        return 0;
    dm_bk_entry *v = NULL;
    size_t n = 0;
    int rc = dm_bkcat_all(b->cat, &v, &n, &b->err);
    if (rc != DBMGMT_OK)
        return rc;
    int64_t *times = dm_calloc(n ? n : 1, sizeof *times);
    uint8_t *keep = dm_calloc(n ? n : 1, 1);
    int32_t removed = 0;
    if (!times || !keep)
        rc = dm_error_set(&b->err, DBMGMT_ERR_NOMEM, "out of memory pruning");
    for (size_t i = 0; rc == DBMGMT_OK && i < n; i++)
        times[i] = v[i].time;
    if (rc == DBMGMT_OK && n > 0 &&
        (rc = dbmgmt_retention_apply(b->retention, times, n, keep)) != DBMGMT_OK)
        dm_error_set(&b->err, rc, "%s", dbmgmt_errmsg());
    size_t pinned = newest_verified(v, n);
    if (rc == DBMGMT_OK && pinned < n)
        keep[pinned] = 1;
    if (rc == DBMGMT_OK)
        keep_prior_sets(v, n, keep);
    /* Chains (pgBackRest, mariadb-backup): newest first, so a diff/incr
     * goes before the backup it depends on; other engines oldest first. */
    int newest_first = b->engine_id != DM_BK_ENGINE_AUTO;
    for (size_t k = 0; rc == DBMGMT_OK && k < n; k++) {
        size_t i = newest_first ? n - 1 - k : k;
        if (keep[i])
            continue;
        if (dry_run) {
            removed++;
            continue;
        }
        int r = remove_backup(b, &v[i]);
        if (r < 0)
            rc = r;
        else if (r == 0)
            removed++;
    }
    if (rc == DBMGMT_OK && !dry_run && removed > 0)
        dm_mdb_prune_binlogs(b); /* those before the oldest kept backup's */
    dm_free(times);
    dm_free(keep);
    dm_bk_entries_free(v, n);
    return rc == DBMGMT_OK ? removed : rc;
}

DBMGMT_API int32_t dbmgmt_backup_prune(dbmgmt_backup *b, int32_t dry_run)
{
    if (!b)
        return dm_error_invalid("dbmgmt_backup_prune", "b is NULL");
    dm_bk_lock(b);
    dm_error_reset(&b->err);
    int32_t rc = prune_locked(b, dry_run != 0);
    dm_bk_unlock(b);
    return rc;
}

/* ---- tick ------------------------------------------------------------------------ */

/* When the schedule last ran; a schedule seen for the first time starts
 * counting from now (it does not fire for times before it existed). */
static int schedule_last_run(dbmgmt_backup *b, const dm_bk_schedule *s, int64_t now,
                             int64_t *last)
{
    int found = dm_bkcat_last_run(b->cat, s->name, last, &b->err);
    if (found < 0)
        return found;
    if (!found) {
        *last = now;
        return dm_bkcat_set_last_run(b->cat, s->name, now, &b->err);
    }
    return DBMGMT_OK;
}

static int verify_pending(dbmgmt_backup *b)
{
    dm_bk_entry *v = NULL;
    size_t n = 0;
    int rc = dm_bkcat_all(b->cat, &v, &n, &b->err);
    for (size_t i = 0; rc == DBMGMT_OK && i < n; i++)
        if (v[i].verify_ok < 0)
            dm_bk_verify_locked(b, v[i].id); /* failures are alerted and counted */
    dm_bk_entries_free(v, n);
    return rc;
}

/* An unreadable catalog is the caller's error: an RPO check that could not
 * run must not look like one that passed. */
static int check_rpo(dbmgmt_backup *b, int64_t now)
{
    if (b->rpo_bound_s <= 0)
        return DBMGMT_OK;
    dm_bk_entry *v = NULL;
    size_t n = 0;
    int rc = dm_bkcat_all(b->cat, &v, &n, &b->err);
    if (rc != DBMGMT_OK)
        return rc;
    size_t i = newest_verified(v, n);
    int64_t age = i < n ? now - v[i].time : -1;
    if (i < n && age <= b->rpo_bound_s) {
        b->rpo_alerted = 0;
    } else if (!b->rpo_alerted && (i < n || now - b->first_tick_now > b->rpo_bound_s)) {
        b->rpo_alerted = 1; /* once per crossing, not once per tick */
        if (i < n)
            dm_bk_alert(b, v[i].id, NULL,
                        "RPO bound passed: the newest verified backup (%s) is %lld s old, "
                        "bound %lld s",
                        v[i].id, (long long)age, (long long)b->rpo_bound_s);
        else
            dm_bk_alert(b, NULL, NULL,
                        "RPO bound passed: there is no verified backup (bound %lld s)",
                        (long long)b->rpo_bound_s);
    }
    dm_bk_entries_free(v, n);
    return DBMGMT_OK;
}

static int32_t tick_locked(dbmgmt_backup *b, int64_t now)
{
    if (now > b->last_tick_now)
        b->last_tick_now = now;
    if (!b->first_tick_now)
        b->first_tick_now = now;
    int32_t taken = 0;
    int nomem = 0; /* a job failed for want of memory: the caller hears of it */
    for (size_t i = 0; i < b->nschedules; i++) {
        const dm_bk_schedule *s = &b->schedules[i];
        int64_t last = 0;
        int rc = schedule_last_run(b, s, now, &last);
        if (rc != DBMGMT_OK)
            return rc;
        int64_t due = dbmgmt_schedule_next(s->cron, last, b->utc_offset_s);
        if (due < 0 || due > now)
            continue;
        /* Everything due since the last run fires once, at now. */
        char id[160];
        dm_bk_job job = {s->name, s->kind, now};
        int job_rc = dm_bk_backup_and_verify(b, &job, id, sizeof id);
        if (job_rc == DBMGMT_OK)
            taken++;
        else if (job_rc == DBMGMT_ERR_NOMEM)
            nomem = 1;
    }
    /* Verify and prune after a backup, and once per process (a backup a
     * crash left unverified); between backups nothing changes. */
    int rc = DBMGMT_OK;
    if (taken > 0 || !b->tick_housekeeping_done)
        rc = verify_pending(b);
    if (rc == DBMGMT_OK && (taken > 0 || !b->tick_housekeeping_done)) {
        b->tick_housekeeping_done = 1;
        int32_t pruned = prune_locked(b, 0);
        if (pruned < 0)
            rc = pruned;
    }
    /* mariadb-backup: the binlogs closed since the last tick, into the
     * archive (a failure is alerted and counted, the tick goes on). */
    if (rc == DBMGMT_OK && b->engine_id == DM_BK_ENGINE_MARIADB_BACKUP &&
        dm_mdb_archive_binlogs(b) != DBMGMT_OK) {
        dm_bk_alert(b, NULL, NULL, "binlog archive failed: %s", b->err.msg);
        dm_bk_failed(b, DBMGMT_ERR_IO);
    }
    /* Off-site copies missing (a failed or interrupted copy): every tick. */
    if (rc == DBMGMT_OK)
        rc = dm_bk_offsite_tick(b);
    int rpo_rc = check_rpo(b, now);
    if (rc == DBMGMT_OK)
        rc = rpo_rc;
    if (rc == DBMGMT_OK && nomem)
        rc = dm_error_set(&b->err, DBMGMT_ERR_NOMEM, "a scheduled backup failed: out of memory");
    return rc == DBMGMT_OK ? taken : rc;
}

DBMGMT_API int32_t dbmgmt_backup_tick(dbmgmt_backup *b, int64_t now)
{
    if (!b)
        return dm_error_invalid("dbmgmt_backup_tick", "b is NULL");
    dm_bk_lock(b);
    dm_error_reset(&b->err);
    int32_t rc = tick_locked(b, now);
    dm_bk_unlock(b);
    return rc;
}

/* ---- background thread ------------------------------------------------------------- */

/* Seconds until the next due time, within 1..TICK_INTERVAL_S. */
static int64_t seconds_to_next_due(dbmgmt_backup *b, int64_t now)
{
    int64_t wait = TICK_INTERVAL_S;
    for (size_t i = 0; i < b->nschedules; i++) {
        int64_t last;
        if (dm_bkcat_last_run(b->cat, b->schedules[i].name, &last, NULL) != 1)
            continue;
        int64_t due = dbmgmt_schedule_next(b->schedules[i].cron, last, b->utc_offset_s);
        if (due >= 0 && due - now < wait)
            wait = due - now;
    }
    return wait < 1 ? 1 : wait;
}

static void *background_main(void *arg)
{
    dbmgmt_backup *b = arg;
    dm_bk_lock(b);
    while (!b->stop_requested) {
        int64_t now = (int64_t)time(NULL);
        int32_t rc = tick_locked(b, now);
        if (rc < 0)
            dm_log(DBMGMT_LOG_ERROR, "backup tick failed: %s", b->err.msg);
        int64_t wait = seconds_to_next_due(b, (int64_t)time(NULL));
        struct timespec deadline;
        clock_gettime(CLOCK_MONOTONIC, &deadline);
        deadline.tv_sec += (time_t)wait;
        while (!b->stop_requested &&
               pthread_cond_timedwait(&b->wake, &b->mu, &deadline) != ETIMEDOUT) {
        }
    }
    dm_bk_unlock(b);
    return NULL;
}

DBMGMT_API int dbmgmt_backup_start(dbmgmt_backup *b)
{
    if (!b)
        return dm_error_invalid("dbmgmt_backup_start", "b is NULL");
    dm_bk_lock(b);
    int rc = DBMGMT_OK;
    if (b->thread_running) {
        rc = dm_error_set(&b->err, DBMGMT_ERR_BUSY, "the backup thread is already running");
    } else {
        b->stop_requested = 0;
        if (dm_thread_create(&b->thread, NULL, &b->thread_start, background_main, b) != 0)
            rc = dm_error_set(&b->err, DBMGMT_ERR_NOMEM, "cannot start the backup thread");
        else
            b->thread_running = 1;
    }
    dm_bk_unlock(b);
    return rc;
}

DBMGMT_API int dbmgmt_backup_stop(dbmgmt_backup *b)
{
    if (!b)
        return dm_error_invalid("dbmgmt_backup_stop", "b is NULL");
    dm_bk_lock(b);
    if (!b->thread_running) {
        dm_bk_unlock(b);
        return DBMGMT_OK;
    }
    if (pthread_equal(pthread_self(), b->thread)) {
        dm_bk_unlock(b);
        return dm_error_set(&b->err, DBMGMT_ERR_BUSY,
                            "dbmgmt_backup_stop called from a hook on the backup thread");
    }
    b->stop_requested = 1;
    pthread_cond_broadcast(&b->wake);
    pthread_t t = b->thread;
    dm_bk_unlock(b);
    pthread_join(t, NULL);
    dm_bk_lock(b);
    b->thread_running = 0;
    dm_bk_unlock(b);
    return DBMGMT_OK;
}

/* ---- list and metrics ---------------------------------------------------------------- */

static void json_time(dm_json *j, const char *key, int64_t t)
{
    dm_json_key(j, key);
    if (t < 0) {
        dm_json_null(j);
        return;
    }
    char s[40];
    dm_bk_format_utc(t, 0, s, sizeof s);
    dm_json_string(j, s);
}

static void entry_to_json(dm_json *j, const dm_bk_entry *e, const dm_bk_counts *counts,
                          const dm_bk_copies *copies)
{
    dm_json_object_begin(j);
    dm_json_key(j, "id");
    dm_json_string(j, e->id);
    dm_json_key(j, "schedule");
    dm_json_string(j, e->schedule);
    dm_json_key(j, "kind");
    dm_json_string(j, e->kind);
    dm_json_key(j, "engine");
    dm_json_string(j, e->engine);
    dm_json_key(j, "file");
    dm_json_string(j, e->file);
    json_time(j, "time", e->time);
    dm_json_key(j, "unix_time");
    dm_json_int(j, e->time);
    dm_json_key(j, "duration_ms");
    dm_json_int(j, e->finished_ms - e->started_ms);
    dm_json_key(j, "size");
    dm_json_int(j, e->size);
    dm_json_key(j, "sha256");
    dm_json_string(j, e->sha256);
    dm_json_key(j, "verified");
    dm_json_bool(j, e->verify_ok == 1);
    json_time(j, "verified_at", e->verified_at);
    dm_json_key(j, "verify_result");
    dm_json_string(j, e->verify_result);
    json_time(j, "restored_at", e->restored_at);
    dm_json_key(j, "restore_ms");
    if (e->restore_ms < 0)
        dm_json_null(j);
    else
        dm_json_int(j, e->restore_ms);
    dm_json_key(j, "restore_result");
    dm_json_string(j, e->restore_result);
    dm_json_key(j, "attrs");
    dm_json_object_begin(j);
    for (size_t i = 0; i < e->attrs.n; i++) {
        dm_json_key(j, e->attrs.keys[i]);
        dm_json_string(j, e->attrs.values[i]);
    }
    dm_json_object_end(j);
    dm_json_key(j, "copies");
    dm_bk_copies_to_json(j, copies);
    dm_json_key(j, "rows");
    dm_json_object_begin(j);
    for (size_t i = 0; i < counts->n; i++) {
        dm_json_key(j, counts->tables[i]);
        dm_json_int(j, counts->rows[i]);
    }
    dm_json_object_end(j);
    dm_json_object_end(j);
}

static char *list_json_locked(dbmgmt_backup *b)
{
    dm_bk_entry *v = NULL;
    size_t n = 0;
    if (dm_bkcat_all(b->cat, &v, &n, &b->err) != DBMGMT_OK)
        return NULL;
    dm_buf out = DM_BUF_INIT;
    dm_json j;
    dm_json_init(&j, &out);
    dm_json_array_begin(&j);
    int rc = DBMGMT_OK;
    for (size_t i = 0; rc == DBMGMT_OK && i < n; i++) {
        dm_bk_entry e = {0};
        dm_bk_counts counts = {0};
        dm_bk_copies copies = {0};
        rc = dm_bkcat_get(b->cat, v[i].id, &e, &counts, &b->err);
        if (rc == DBMGMT_OK)
            rc = dm_bkcat_copies(b->cat, v[i].id, &copies, &b->err);
        if (rc == DBMGMT_OK)
            entry_to_json(&j, &e, &counts, &copies);
        dm_bk_copies_clear(&copies);
        dm_bk_entry_clear(&e);
        dm_bk_counts_clear(&counts);
    }
    dm_json_array_end(&j);
    dm_bk_entries_free(v, n);
    if (rc != DBMGMT_OK) {
        dm_buf_free(&out);
        return NULL;
    }
    char *s = dm_buf_detach(&out);
    if (!s)
        dm_error_set(&b->err, DBMGMT_ERR_NOMEM, "out of memory rendering the catalog");
    return s;
}

DBMGMT_API char *dbmgmt_backup_list_json(dbmgmt_backup *b)
{
    if (!b) {
        dm_error_invalid("dbmgmt_backup_list_json", "b is NULL");
        return NULL;
    }
    dm_bk_lock(b);
    dm_error_reset(&b->err);
    char *s = list_json_locked(b);
    dm_bk_unlock(b);
    return s;
}

static int64_t catalog_scalar(const dbmgmt_backup *b, const char *sql)
{
    sqlite3_stmt *st = NULL;
    int64_t v = -1;
    if (sqlite3_prepare_v2(b->cat, sql, -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

DBMGMT_API int64_t dbmgmt_backup_metric(const dbmgmt_backup *b, int32_t which)
{
    if (!b)
        return dm_error_invalid("dbmgmt_backup_metric", "b is NULL");
    int64_t v;
    dm_bk_lock(b);
    switch (which) {
    case DBMGMT_BACKUP_RPO_S:
        v = catalog_scalar(b, "SELECT MAX(time) FROM backups WHERE verify_ok = 1");
        if (v >= 0) {
            v = dm_bk_logical_now(b) - v;
            v = v < 0 ? 0 : v;
        }
        break;
    case DBMGMT_BACKUP_LAST_RESTORE_MS:
        v = b->last_restore_ms;
        break;
    case DBMGMT_BACKUP_LAST_SIZE:
        v = catalog_scalar(b, "SELECT size FROM backups ORDER BY time DESC, id DESC LIMIT 1");
        break;
    case DBMGMT_BACKUP_FAILURES:
        v = b->failures;
        break;
    case DBMGMT_BACKUP_COUNT:
        v = catalog_scalar(b, "SELECT COUNT(*) FROM backups");
        break;
    default:
        v = dm_error_invalid("dbmgmt_backup_metric", "unknown metric");
    }
    dm_bk_unlock(b);
    return v;
}

DBMGMT_API const char *dbmgmt_backup_errmsg(const dbmgmt_backup *b)
{
    return b ? b->err.msg : "";
}
