/*
 * libdbmgmt — anonymised snapshots (issue 22, docs/snapshots.md).
 *
 * A snapshot restores a backup that dbmgmt_backup wrote into a scratch
 * database nobody else can read yet, masks it column by column by a rules
 * file (hash, email, phone, null, keep), rewrites the masked tables so old
 * row versions are gone, and only then makes it the target database.
 * A column whose name looks personal and has no rule refuses the snapshot.
 */
#ifndef DBMGMT_SNAPSHOT_H
#define DBMGMT_SNAPSHOT_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct dbmgmt_snapshot dbmgmt_snapshot;

/*
 * Progress: table (as the engine names it), rows masked so far in it, and
 * its rows in all. Called after each batch; non-zero cancels the snapshot
 * (DBMGMT_ERR_POLICY "cancelled", the scratch database dropped).
 */
typedef int (*dbmgmt_snapshot_progress_fn)(void *userdata, const char *table,
                                           int64_t rows_masked, int64_t rows_total);

/* A snapshot of the backups in backup_dir (a dbmgmt_backup folder). */
DBMGMT_API int dbmgmt_snapshot_new(dbmgmt_snapshot **out, const char *backup_dir);
DBMGMT_API void dbmgmt_snapshot_free(dbmgmt_snapshot *s);
/* The backup to take (its catalog id); NULL: the newest verified one. */
DBMGMT_API int dbmgmt_snapshot_set_backup_id(dbmgmt_snapshot *s, const char *id);
/* The masking rules, read and checked for syntax now (errors name
 * file:line); tables and columns are checked against the restored schema. */
DBMGMT_API int dbmgmt_snapshot_set_rules_file(dbmgmt_snapshot *s, const char *path);
/* The HMAC-SHA256 key of the hash, email and phone rules (1..1024 bytes,
 * copied, wiped when replaced or freed, never logged). */
DBMGMT_API int dbmgmt_snapshot_set_key(dbmgmt_snapshot *s, const unsigned char *key,
                                       size_t len);
/* The same, read from a file (its bytes, a trailing newline dropped) that
 * group and others cannot access (else DBMGMT_ERR_POLICY naming it). */
DBMGMT_API int dbmgmt_snapshot_set_key_file(dbmgmt_snapshot *s, const char *path);
/* The backup key file (as dbmgmt_backup_set_key_file takes it) that
 * decrypts an encrypted backup (docs/backup-encryption.md); NULL: none.
 * Read when the snapshot runs. */
DBMGMT_API int dbmgmt_snapshot_set_backup_key_file(dbmgmt_snapshot *s, const char *path);
DBMGMT_API int dbmgmt_snapshot_set_progress(dbmgmt_snapshot *s, dbmgmt_snapshot_progress_fn fn,
                                            void *userdata);
/*
 * Restore, mask and publish as target_dsn (a database that does not exist
 * or is empty; SQLite: a file path). On failure nothing is left: the target
 * is not created and the scratch database is dropped.
 */
DBMGMT_API int dbmgmt_snapshot_run(dbmgmt_snapshot *s, const char *target_dsn);
/* The last successful run as JSON: backup_id, target, engine, tables
 * [{table, rows, masked_rows, columns}], totals; "" before any. */
DBMGMT_API const char *dbmgmt_snapshot_result_json(const dbmgmt_snapshot *s);
/* The last failure on s; "" if none. */
DBMGMT_API const char *dbmgmt_snapshot_errmsg(const dbmgmt_snapshot *s);

#ifdef __cplusplus
}
#endif
#endif /* DBMGMT_SNAPSHOT_H */
