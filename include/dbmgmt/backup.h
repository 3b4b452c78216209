/*
 * libdbmgmt — backup scheduling: cron schedules, restic-style retention,
 * a crash-safe catalog, engine backups, verification and restore drills.
 *
 * The library owns *when* and *what to keep*; hooks own *how* where the
 * host wants (encryption, upload, alerts). Built-in engines: SQLite (online
 * backup API), PostgreSQL (pg_dump -Fc), MySQL/MariaDB (mysqldump
 * --single-transaction). Times are Unix seconds (UTC).
 */
#ifndef DBMGMT_BACKUP_H
#define DBMGMT_BACKUP_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Schedules ------------------------------------------------------------ */

typedef struct dbmgmt_schedule dbmgmt_schedule;

/*
 * Parse a 5-field cron expression (minute hour day-of-month month
 * day-of-week: lists, ranges, steps, month and day names, 7 = Sunday, and
 * cron's rule that day-of-month and day-of-week are OR-ed when both are
 * restricted) or a macro (@hourly @daily @midnight @weekly @monthly @yearly
 * @annually). On failure *out is NULL and the status is DBMGMT_ERR_PARSE
 * with a message naming the field and the character.
 */
DBMGMT_API int dbmgmt_schedule_parse(dbmgmt_schedule **out, const char *expr);
DBMGMT_API void dbmgmt_schedule_free(dbmgmt_schedule *s);
/* The first fire time strictly after after_unix_s, evaluated in the fixed
 * UTC offset utc_offset_s (seconds east of UTC, -86400..86400); -1 when the
 * expression can never fire (e.g. 30 February). */
DBMGMT_API int64_t dbmgmt_schedule_next(const dbmgmt_schedule *s, int64_t after_unix_s,
                                        int32_t utc_offset_s);

/* ---- Retention (restic's forget) ---------------------------------------------- */

typedef struct dbmgmt_retention dbmgmt_retention;

typedef enum dbmgmt_keep {
    DBMGMT_KEEP_LAST = 0,
    DBMGMT_KEEP_HOURLY = 1,
    DBMGMT_KEEP_DAILY = 2,
    DBMGMT_KEEP_WEEKLY = 3,   /* ISO weeks */
    DBMGMT_KEEP_MONTHLY = 4,
    DBMGMT_KEEP_YEARLY = 5
} dbmgmt_keep;

DBMGMT_API int dbmgmt_retention_new(dbmgmt_retention **out);
DBMGMT_API void dbmgmt_retention_free(dbmgmt_retention *r);
/* Keep the newest count snapshots (LAST) or the newest of each of the
 * newest count periods; -1 = unlimited, 0 = rule off. */
DBMGMT_API int dbmgmt_retention_set_keep(dbmgmt_retention *r, dbmgmt_keep which, int32_t count);
/* Keep everything within a duration of the newest snapshot ("1y2m3d4h").
 * which = -1 is restic's --keep-within; DBMGMT_KEEP_HOURLY..YEARLY are its
 * --keep-within-hourly .. -yearly. NULL or "" turns the rule off. */
DBMGMT_API int dbmgmt_retention_set_within(dbmgmt_retention *r, int32_t which,
                                           const char *duration);
/*
 * Decide for n snapshot times (any order; Unix seconds) which to keep:
 * keep[i] = 1 or 0. The reasons are read afterwards with
 * dbmgmt_retention_reasons(r, i) ("daily snapshot", "last snapshot", ...,
 * comma-separated, "" when removed), valid until the next apply.
 */
DBMGMT_API int dbmgmt_retention_apply(dbmgmt_retention *r, const int64_t *times, size_t n,
                                      uint8_t *keep);
DBMGMT_API const char *dbmgmt_retention_reasons(const dbmgmt_retention *r, size_t i);

/* ---- The scheduler, catalog and engines ------------------------------------------ */

typedef struct dbmgmt_backup dbmgmt_backup;

typedef enum dbmgmt_hook {
    DBMGMT_HOOK_BACKUP = 1, /* replaces the built-in engine backup */
    DBMGMT_HOOK_VERIFY = 2, /* extra verification after the built-in check */
    DBMGMT_HOOK_PRUNE = 3,  /* called for each backup retention removes */
    DBMGMT_HOOK_UPLOAD = 4, /* the finished file, for off-site copy or encryption */
    DBMGMT_HOOK_ALERT = 5   /* a failed backup or verify, RPO past its bound */
} dbmgmt_hook;

/*
 * A hook: id is the backup's catalog id, path its file, detail a message
 * (alerts) or NULL. Returning non-zero marks the operation failed (for
 * BACKUP/VERIFY/UPLOAD) or keeps the file (PRUNE).
 */
typedef int (*dbmgmt_backup_hook_fn)(void *userdata, dbmgmt_hook hook, const char *id,
                                     const char *path, const char *detail);

typedef enum dbmgmt_backup_metric_id {
    DBMGMT_BACKUP_RPO_S = 0,          /* seconds since the newest verified backup; -1 none */
    DBMGMT_BACKUP_LAST_RESTORE_MS = 1,/* duration of the last restore drill (RTO); -1 none */
    DBMGMT_BACKUP_LAST_SIZE = 2,      /* bytes of the newest backup; -1 none */
    DBMGMT_BACKUP_FAILURES = 3,       /* failed backups and verifies since new */
    DBMGMT_BACKUP_COUNT = 4           /* backups in the catalog */
} dbmgmt_backup_metric_id;

/* A scheduler for the database at dsn writing to backup_dir (created if
 * missing; its catalog survives restarts). */
DBMGMT_API int dbmgmt_backup_new(dbmgmt_backup **out, const char *dsn, const char *backup_dir);
/* Stops the background thread if running; accepts NULL. */
DBMGMT_API void dbmgmt_backup_free(dbmgmt_backup *b);
/* A named schedule (cron expression) producing backups of kind (a label:
 * "daily", "weekly", ...). */
DBMGMT_API int dbmgmt_backup_add_schedule(dbmgmt_backup *b, const char *name, const char *expr,
                                          const char *kind);
/* The retention applied by prune (copied). */
DBMGMT_API int dbmgmt_backup_set_retention(dbmgmt_backup *b, const dbmgmt_retention *r);
DBMGMT_API int dbmgmt_backup_set_hook(dbmgmt_backup *b, dbmgmt_hook hook,
                                      dbmgmt_backup_hook_fn fn, void *userdata);
/* Alert when the newest verified backup is older than max_age_s (0: off). */
DBMGMT_API int dbmgmt_backup_set_rpo_bound(dbmgmt_backup *b, int64_t max_age_s);
/* The UTC offset the schedules are evaluated in (default 0). */
DBMGMT_API int dbmgmt_backup_set_utc_offset(dbmgmt_backup *b, int32_t utc_offset_s);
/*
 * Copy each verified backup to a second folder, dir (a mounted remote file
 * system), with the backup folder's crash safety; NULL turns it off (one
 * location at a time; copies recorded at earlier locations stay in the
 * catalog, are verified and pruned). dir must exist, be writable and not be
 * the backup folder: checked now, with an error naming it. The copy follows
 * the verify and precedes the UPLOAD hook; a failed copy is alerted and
 * counted, the backup stays valid, and each tick copies what is missing.
 * Prune removes copies with their backups; verify checks them; restore
 * reads a copy when the main file is missing or damaged. docs/backup-offsite.md.
 */
DBMGMT_API int dbmgmt_backup_set_offsite(dbmgmt_backup *b, const char *dir);

/* Run what is due at now (Unix seconds): each schedule due since its last
 * run fires once (a job missed while the host was down runs once, not once
 * per missed time), then verify, prune and the RPO check. Returns the number
 * of backups taken, or a negative status. A backup that fails is recorded,
 * alerted and counted (DBMGMT_BACKUP_FAILURES) and the other schedules still
 * run; one that failed for want of memory also makes the tick return
 * DBMGMT_ERR_NOMEM. */
DBMGMT_API int32_t dbmgmt_backup_tick(dbmgmt_backup *b, int64_t now);
/* One background thread calling tick every minute; stop joins it. */
DBMGMT_API int dbmgmt_backup_start(dbmgmt_backup *b);
DBMGMT_API int dbmgmt_backup_stop(dbmgmt_backup *b);

/* Take a backup now (kind "manual"); *out_id (may be NULL) gets its id,
 * freed with dbmgmt_free(). */
DBMGMT_API int dbmgmt_backup_run_now(dbmgmt_backup *b, char **out_id);
/* Check a backup's file against its SHA-256 and the engine's own check;
 * DBMGMT_ERR_CHECKSUM when the file changed. Records the result. */
DBMGMT_API int dbmgmt_backup_verify(dbmgmt_backup *b, const char *id);
/* Restore a backup into target_dsn (a scratch database), check its
 * integrity and row counts against those recorded at backup time, and
 * record the duration (RTO). A pgbackrest backup goes into the empty or new
 * data directory target_dsn instead, consistent at the backup's end (the
 * caller starts a server on it to count rows). */
DBMGMT_API int dbmgmt_backup_restore(dbmgmt_backup *b, const char *id, const char *target_dsn);
/* Apply the retention: remove what it does not keep (never the newest
 * verified backup). With dry_run nothing is removed. Returns the number of
 * backups removed (or that would be), or a negative status. */
DBMGMT_API int32_t dbmgmt_backup_prune(dbmgmt_backup *b, int32_t dry_run);
/* The catalog as a JSON array of objects with at least id, schedule, kind,
 * time (RFC 3339), size, sha256, verified (bool), verified_at, rows. */
DBMGMT_API char *dbmgmt_backup_list_json(dbmgmt_backup *b);
/* A metric (dbmgmt_backup_metric_id, as dbmgmt_pool_metric takes its id); -1
 * for a NULL handle or an unknown metric. */
DBMGMT_API int64_t dbmgmt_backup_metric(const dbmgmt_backup *b, int32_t which);
/*
 * Encryption at rest (docs/backup-encryption.md): from now on every backup
 * the library writes itself (SQLite copies, PostgreSQL and MySQL dumps) is
 * encrypted with libsodium's crypto_secretstream_xchacha20poly1305 under
 * key (len must be 32); verify and restore decrypt with it and refuse a
 * file that fails authentication. The key is copied into locked memory,
 * wiped when replaced or freed, and never logged. key NULL and len 0 turns
 * encryption off for new backups. DBMGMT_ERR_UNSUPPORTED when libdbmgmt was
 * built without libsodium.
 */
DBMGMT_API int dbmgmt_backup_set_key(dbmgmt_backup *b, const unsigned char *key, size_t len);
/* The same with the key read from a file of exactly 32 raw bytes or 64 hex
 * characters (and an optional newline); a file that group or others may
 * access is refused (DBMGMT_ERR_POLICY), as ssh refuses private keys. */
DBMGMT_API int dbmgmt_backup_set_key_file(dbmgmt_backup *b, const char *path);
/*
 * The engine taking this scheduler's backups: "auto" (the default: SQLite's
 * online backup, pg_dump -Fc, mysqldump by the DSN) or "pgbackrest"
 * (PostgreSQL only, the server's data directory on this machine): the
 * repository goes to <backup_dir>/pgbackrest, the library writes
 * <backup_dir>/pgbackrest.conf, creates the stanza, sets archive_command
 * (and archive_mode, which then needs a restart: DBMGMT_ERR_POLICY naming
 * the settings) when the role is superuser, and runs pgbackrest check.
 * Schedules' kinds are then full, diff or incr. See docs/backup-pgbackrest.md.
 */
DBMGMT_API int dbmgmt_backup_set_engine(dbmgmt_backup *b, const char *engine);
/*
 * Restore the database as it was at utc_time (Unix seconds). pgbackrest:
 * target is an empty or new data directory, restored by pgBackRest from
 * the newest backup that ended at or before the time, WAL replayed to it
 * (recovery promotes; the caller starts a server on it). Other engines: the
 * nearest backup at or before the time, restored into target (a DSN, or a
 * path for SQLite) as dbmgmt_backup_restore does. A time before every
 * backup is DBMGMT_ERR_NOTFOUND naming the earliest time available.
 */
DBMGMT_API int dbmgmt_backup_restore_to_time(dbmgmt_backup *b, const char *target,
                                             int64_t utc_time);
/* What the last successful dbmgmt_backup_restore_to_time restored, as a
 * JSON object (engine, backup_id, backup_time, target_time, target,
 * method, label); "" before any. Valid until the next call on b. */
DBMGMT_API const char *dbmgmt_backup_restore_info(const dbmgmt_backup *b);
/* The last failure on this scheduler; "" if none. */
DBMGMT_API const char *dbmgmt_backup_errmsg(const dbmgmt_backup *b);

#ifdef __cplusplus
}
#endif
#endif /* DBMGMT_BACKUP_H */
