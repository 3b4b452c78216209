/*
 * Private to lib/backup: the scheduler object, its catalog (catalog.db in
 * the backup folder) and the engines (engine_sqlite.c, engine_dump.c).
 *
 * The object's files: backup.c (new, free, configuration, prune, tick, the
 * background thread, list and metrics), backup_run.c (taking a backup:
 * engine or BACKUP hook, catalog row, verify, upload), backup_drill.c
 * (restore drills, the RTO), backup_hooks.c (hook registration and calls,
 * alerts).
 */
#ifndef DM_BACKUP_BACKUP_IMPL_H
#define DM_BACKUP_BACKUP_IMPL_H

#include <pthread.h>
#include <sqlite3.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/buf.h"
#include "core/dsn.h"
#include "core/error.h"
#include "core/thread.h"
#include "dbmgmt/backup.h"

/* Suffix of a file being written; the pid that writes it follows, so a
 * later scheduler removes only the leftovers of processes that are gone. */
#define DM_BACKUP_PARTIAL ".partial-"

/* The buffer a file is read through (hashed, copied, counted). Reading 1 GB
 * of page cache took 0.1 s of system time into 16-128 KiB on the test VM,
 * 0.4 s into 160 KiB and 0.6 s into 192 KiB or 1 MiB: a 968 MB dump hashed
 * in 0.76 s instead of 1.05 s, copied in 0.34 s instead of 0.58 s
 * (docs/performance.md). */
#define DM_BK_IO_CHUNK ((size_t)128 << 10)

/* The engine a scheduler uses (dbmgmt_backup_set_engine). */
typedef enum dm_bk_engine_id {
    DM_BK_ENGINE_AUTO = 0, /* SQLite copy, pg_dump, mysqldump by the DSN */
    DM_BK_ENGINE_PGBACKREST = 1,
    DM_BK_ENGINE_MARIADB_BACKUP = 2
} dm_bk_engine_id;

typedef struct dm_pgbr dm_pgbr; /* engine_pgbackrest.c */
typedef struct dm_mdb dm_mdb;   /* engine_mariadb.c */

typedef struct dm_bk_schedule {
    char *name;
    char *kind;
    dbmgmt_schedule *cron;
} dm_bk_schedule;

/* The backup key (backup_crypt.c): sodium_malloc-ed, wiped when freed. */
typedef struct dm_bk_key dm_bk_key;

typedef struct dm_bk_hook {
    dbmgmt_backup_hook_fn fn;
    void *userdata;
} dm_bk_hook;

/* Row counts per table. */
typedef struct dm_bk_counts {
    char **tables;
    int64_t *rows;
    size_t n;
    size_t cap;
} dm_bk_counts;

/* The rows of a mysqldump file per table, counted from its text as it is
 * fed in pieces (mysqldump_rows.c): each table's rows are added to its entry
 * of counts (one is added for a table counts lacks). feed and finish return
 * DBMGMT_ERR_PARSE with error set ("... at line N") for text of a shape the
 * counter does not know, DBMGMT_ERR_NOMEM when out of memory. */
typedef struct dm_mdr {
    dm_bk_counts *counts;
    int state;
    char quote;
    int in_delimiter_block;
    char head[16];
    size_t head_len;
    dm_buf name;
    size_t matched;
    int64_t depth, rows, line;
    size_t last; /* the entry of counts the last statement went to */
    int failed;
    char error[160];
} dm_mdr;
void dm_mdr_init(dm_mdr *s, dm_bk_counts *counts);
int dm_mdr_feed(dm_mdr *s, const char *p, size_t n);
int dm_mdr_finish(dm_mdr *s);
void dm_mdr_clear(dm_mdr *s);

/* Engine-specific facts of a backup, as text pairs (catalog table
 * backup_attrs): an engine's label, WAL or binlog range, the encryption, ...
 * Keys are unique per backup; dm_bk_attrs_set replaces a key's value. */
typedef struct dm_bk_attrs {
    char **keys;
    char **values;
    size_t n;
    size_t cap;
} dm_bk_attrs;

/* One catalog row. */
typedef struct dm_bk_entry {
    char *id;
    char *schedule; /* NULL for manual backups */
    char *kind;
    char *engine;
    char *file;     /* name inside the backup folder */
    int64_t time;   /* logical time: the tick's now (scheduled) or the wall clock */
    int64_t started_ms, finished_ms; /* wall clock, Unix ms */
    int64_t size;
    char sha256[65];
    int64_t verified_at; /* -1: never */
    int verify_ok;       /* 1 ok, 0 failed, -1 never verified */
    char *verify_result;
    int64_t restored_at; /* -1: never */
    int64_t restore_ms;
    char *restore_result;
    dm_bk_attrs attrs; /* written with the row by dm_bkcat_insert; read by get and all */
} dm_bk_entry;

/* One off-site copy of a backup (catalog table backup_copies). */
typedef struct dm_bk_copy {
    char *location; /* the off-site folder, as resolved by dbmgmt_backup_set_offsite */
    char *file;     /* name inside it (the backup's own file name) */
    int64_t size;
    char sha256[65];
    int64_t copied_at; /* Unix seconds */
} dm_bk_copy;

typedef struct dm_bk_copies {
    dm_bk_copy *v;
    size_t n;
    size_t cap;
} dm_bk_copies;

struct dbmgmt_backup {
    pthread_mutex_t mu; /* recursive: hooks may call back into the object */
    dm_error err;
    dm_dsn *dsn;
    char *dir;
    sqlite3 *cat;
    dm_bk_schedule *schedules;
    size_t nschedules;
    dbmgmt_retention *retention; /* owned copy, or NULL */
    dm_bk_hook hooks[6];        /* indexed by dbmgmt_hook */
    int64_t rpo_bound_s;
    int rpo_alerted;            /* the bound was passed and alerted; reset when back under */
    int32_t utc_offset_s;
    int64_t last_tick_now;      /* the newest now given to tick (simulated clocks) */
    int64_t first_tick_now;     /* the first (RPO with no verified backup yet) */
    int tick_housekeeping_done; /* verify + prune ran once in this process */
    /* metrics, kept in step with the catalog */
    int64_t failures;
    int64_t last_restore_ms;
    /* off-site copy (backup_offsite.c) */
    char *offsite_dir;   /* resolved folder, or NULL: off */
    int offsite_alerted; /* the tick's retries failed and were alerted; reset on success */
    /* engine (dbmgmt_backup_set_engine) and point-in-time restores */
    dm_bk_engine_id engine_id;
    dm_pgbr *pgbr;         /* set up by dbmgmt_backup_set_engine("pgbackrest") */
    dm_mdb *mdb;           /* set up by dbmgmt_backup_set_engine("mariadb-backup") */
    char *last_pitr_json;  /* what the last restore_to_time restored */
    /* background thread */
    pthread_t thread;
    dm_thread_start thread_start;
    pthread_cond_t wake;
    int thread_running;
    int stop_requested;
    /* encryption at rest (backup_crypt.c) */
    dm_bk_key *key; /* NULL: new backups are not encrypted */
};

/* ---- backup.c ---- */
/* The object's recursive mutex; every entry point holds it. */
void dm_bk_lock(const dbmgmt_backup *b);
void dm_bk_unlock(const dbmgmt_backup *b);
/* The wall clock, or the newest now given to tick when that is later. */
int64_t dm_bk_logical_now(const dbmgmt_backup *b);
/* t as RFC 3339, or compact as in backup ids. */
void dm_bk_format_utc(int64_t t, int compact, char *out, size_t cap);

/* ---- backup_run.c ---- */
typedef struct dm_bk_job {
    const char *schedule; /* NULL: manual */
    const char *kind;
    int64_t time;
} dm_bk_job;
/* Take, record, verify and hand to the upload hook; id receives the
 * backup's id (empty when none was made). Failures are alerted and counted. */
int dm_bk_backup_and_verify(dbmgmt_backup *b, const dm_bk_job *job, char *id, size_t idcap);
/* Verify the backup id (size and SHA-256, the engine's check, the VERIFY
 * hook) and record the outcome; a failure is alerted and counted. */
int dm_bk_verify_locked(dbmgmt_backup *b, const char *id);
/* DBMGMT_ERR_CHECKSUM when the file at path is not what the catalog
 * recorded for e (size, SHA-256). */
int dm_bk_check_file(dbmgmt_backup *b, const dm_bk_entry *e, const char *path);

/* ---- backup_hooks.c ---- */
/* Call the host's hook, if set (0 when not), with the host's signal mask. */
int dm_bk_call_hook(dbmgmt_backup *b, dbmgmt_hook which, const char *id, const char *path,
                    const char *detail);
/* Log at error level and call the ALERT hook, the password masked. */
void dm_bk_alert(dbmgmt_backup *b, const char *id, const char *path, const char *fmt, ...)
    DM_PRINTF(4, 5);
/* Count a failure (DBMGMT_BACKUP_FAILURES); returns code. */
int dm_bk_failed(dbmgmt_backup *b, int code);

/* ---- counts ---- */
int dm_bk_counts_add(dm_bk_counts *c, const char *table, int64_t rows);
void dm_bk_counts_clear(dm_bk_counts *c);
/* The row count of table, or -1 when it is not listed. */
int64_t dm_bk_counts_get(const dm_bk_counts *c, const char *table);
/* Compare expected (recorded at backup time) with actual (restored); on a
 * difference fill err with the first table that differs. */
int dm_bk_counts_compare(const dm_bk_counts *expected, const dm_bk_counts *actual, dm_error *err);

/* ---- attrs (catalog.c) ---- */
int dm_bk_attrs_set(dm_bk_attrs *a, const char *key, const char *value);
/* The value of key, or NULL. */
const char *dm_bk_attrs_get(const dm_bk_attrs *a, const char *key);
void dm_bk_attrs_clear(dm_bk_attrs *a);

/* ---- catalog.c ---- */
int dm_bkcat_open(sqlite3 **out, const char *dir, dm_error *err);
void dm_bkcat_close(sqlite3 *db);
/* Insert a finished backup and, when schedule is set, its schedule's last
 * run, in one transaction. */
int dm_bkcat_insert(sqlite3 *db, const dm_bk_entry *e, const dm_bk_counts *counts,
                      dm_error *err);
int dm_bkcat_set_last_run(sqlite3 *db, const char *schedule, int64_t when, dm_error *err);
/* 1 and *when when the schedule ran before, 0 when never. */
int dm_bkcat_last_run(sqlite3 *db, const char *schedule, int64_t *when, dm_error *err);
int dm_bkcat_get(sqlite3 *db, const char *id, dm_bk_entry *e, dm_bk_counts *counts,
                   dm_error *err);
/* All entries ordered by time, then id. */
int dm_bkcat_all(sqlite3 *db, dm_bk_entry **out, size_t *n, dm_error *err);
int dm_bkcat_id_exists(sqlite3 *db, const char *id, dm_error *err);
int dm_bkcat_record_verify(sqlite3 *db, const char *id, int64_t at, int ok,
                             const char *result, dm_error *err);
int dm_bkcat_record_restore(sqlite3 *db, const char *id, int64_t at, int64_t ms,
                              const char *result, dm_error *err);
int dm_bkcat_delete(sqlite3 *db, const char *id, dm_error *err);
/* Set (insert or replace) one attribute of a recorded backup. */
int dm_bkcat_set_attr(sqlite3 *db, const char *id, const char *key, const char *value,
                      dm_error *err);
/* The restore duration of the newest drill, or -1. */
int64_t dm_bkcat_last_restore_ms(sqlite3 *db);
void dm_bk_entry_clear(dm_bk_entry *e);
void dm_bk_entries_free(dm_bk_entry *v, size_t n);

/* ---- files ---- */
/* Write all of data to fd (EINTR retried); 0, or -1 with errno. */
int dm_bk_write_all(int fd, const void *data, size_t len);
/* fsync a file by path, and a folder (so a rename is durable). */
/* open(path) for writing (0600), emptied; -1 and errno on failure. */
int dm_bk_open_output(const char *path);
/* Start writing [from, to) of fd to disk, not waiting (backup_util.c). */
void dm_bk_start_writeback(int fd, int64_t from, int64_t to);
int dm_bk_fsync_path(const char *path, dm_error *err);
int dm_bk_fsync_dir(const char *dir, dm_error *err);
/* Size and SHA-256 hex of a file. */
int dm_bk_hash_file(const char *path, int64_t *size, char hex[65], dm_error *err);
/* A pass of a backup's work on a library thread (backup_bghash.c): start
 * it, do another pass on the calling thread, then dm_bk_task_join, which
 * returns the task's status (its message in err). When no thread can be
 * started the task runs at the join, on the caller's thread: the result is
 * the same. Each kind below embeds the task first; what it is given is
 * borrowed until the join. */
typedef struct dm_bk_task {
    pthread_t thread;
    dm_thread_start start;
    int (*fn)(struct dm_bk_task *t);
    int started;
    int rc;
    dm_error err;
} dm_bk_task;
int dm_bk_task_join(dm_bk_task *t);
/* dm_bk_hash_file: size and hex. */
typedef struct dm_bk_bg_hash {
    dm_bk_task task;
    const char *path;
    int64_t size;
    char hex[65];
} dm_bk_bg_hash;
void dm_bk_bg_hash_start(dm_bk_bg_hash *h, const char *path);
/* dm_bk_authenticate. */
typedef struct dm_bk_bg_auth {
    dm_bk_task task;
    const dm_bk_key *key;
    const dm_bk_entry *e;
    const char *path, *plain;
} dm_bk_bg_auth;
void dm_bk_bg_auth_start(dm_bk_bg_auth *a, const dm_bk_key *key, const dm_bk_entry *e,
                         const char *path, const char *plain);
/* A file's size and SHA-256. */
typedef struct dm_bk_sum {
    int64_t size;
    char hex[65];
} dm_bk_sum;
/* The sums of an encryption (dm_bk_encrypt_file_with): the plaintext's,
 * from its file, then the ciphertext's, from its file as the encryption
 * writes it, following what dm_bk_bg_sums_wrote publishes. */
typedef struct dm_bk_bg_sums {
    dm_bk_task task;
    const char *plain, *cipher;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int64_t written; /* under mu: bytes of cipher written so far */
    int finished;    /* under mu: the writer is done (or failed) */
    dm_bk_sum plain_sum, cipher_sum;
} dm_bk_bg_sums;
void dm_bk_bg_sums_start(dm_bk_bg_sums *s, const char *plain, const char *cipher);
/* The writer: total bytes of cipher written so far; finished once, last. */
void dm_bk_bg_sums_wrote(dm_bk_bg_sums *s, int64_t total, int finished);
/* Join, then release what start set up. */
int dm_bk_bg_sums_join(dm_bk_bg_sums *s);
/* A SQLite copy's rows counted into counts (the task's result and err),
 * then PRAGMA integrity_check on it (check_rc, check_err). */
typedef struct dm_bk_bg_sqlite_check {
    dm_bk_task task;
    const char *path;
    dm_bk_counts *counts;
    int check_rc;
    dm_error check_err;
} dm_bk_bg_sqlite_check;
void dm_bk_bg_sqlite_check_start(dm_bk_bg_sqlite_check *c, const char *path,
                                 dm_bk_counts *counts);
/* size and hex (of the file at path) against e's recorded size and SHA-256:
 * DBMGMT_ERR_CHECKSUM "changed since it was written" naming the backup. */
int dm_bk_check_sum(dbmgmt_backup *b, const dm_bk_entry *e, const char *path, int64_t size,
                    const char *hex);
/* Copy in, from offset 0 to its end, to out (at out's position): with
 * copy_file_range (in the kernel; reflinks where the file system has
 * them), else pread/write where the file systems refuse it. in is read by
 * offset, its position left alone, so a descriptor SQLite owns can be
 * read. 0, or -1 with errno. */
int dm_bk_copy_fd(int in, int out);
/* Copy a file to dst_path (created 0600 or truncated), fsync-ed. */
int dm_bk_copy_file(const char *src_path, const char *dst_path, dm_error *err);
/* "dir/name", caller frees. */
char *dm_bk_path(const char *dir, const char *name);
/* Create dir (mode) unless it exists, and refuse it unless empty:
 * DBMGMT_ERR_POLICY "restore target 'dir' is not empty: a <what> goes into
 * an empty or new data directory". */
int dm_bk_empty_dir(const char *dir, unsigned mode, const char *what, dm_error *err);

/* ---- backup_offsite.c (off-site copies, docs/backup-offsite.md) ---- */
/* Copy the verified backup id to the off-site folder and record it; a
 * failure is alerted and counted (the backup itself stays valid). */
int dm_bk_offsite_copy(dbmgmt_backup *b, const char *id);
/* The tick's part: clean the off-site folder, then copy every verified
 * backup with no copy there yet (newest first). */
int dm_bk_offsite_tick(dbmgmt_backup *b);
/* Remove the backup's copies, each row before its file (prune). */
int dm_bk_offsite_remove(dbmgmt_backup *b, const char *id);
/* Check the size and SHA-256 of the backup's copies; a damaged or missing
 * copy (in a folder that is there) loses its row and file, so the next tick
 * copies it again. DBMGMT_ERR_CHECKSUM naming the folder. */
int dm_bk_offsite_verify(dbmgmt_backup *b, const dm_bk_entry *e);
/* The file a restore reads: *path (the main file) when it checks, else the
 * first copy that does (*path replaced); else the main file's error. */
int dm_bk_restore_source(dbmgmt_backup *b, const dm_bk_entry *e, char **path);
/* Remove leftovers in the off-site folder: partial copies of dead
 * processes, and copies of catalogued backups that have no row there. */
void dm_bk_offsite_cleanup(dbmgmt_backup *b);
/* The copies array of a backup in list JSON. */
struct dm_json;
void dm_bk_copies_to_json(struct dm_json *j, const dm_bk_copies *c);

/* ---- catalog_copies.c ---- */
/* BEGIN IMMEDIATE; end with commit (1) or rollback (0). */
int dm_bkcat_write_begin(sqlite3 *db, dm_error *err);
int dm_bkcat_write_end(sqlite3 *db, int commit, dm_error *err);
/* Insert or replace the copy of backup id at c->location. */
int dm_bkcat_copy_insert(sqlite3 *db, const char *id, const dm_bk_copy *c, dm_error *err);
int dm_bkcat_copy_delete(sqlite3 *db, const char *id, const char *location, dm_error *err);
/* The copies of backup id, by location. */
int dm_bkcat_copies(sqlite3 *db, const char *id, dm_bk_copies *out, dm_error *err);
/* Ids of verified backups with no copy at location, newest first. */
int dm_bkcat_missing_copies(sqlite3 *db, const char *location, char ***ids, size_t *n,
                            dm_error *err);
/* 1 when a backup's file is named file / a copy at location is; 0 when not. */
int dm_bkcat_file_is_backup(sqlite3 *db, const char *file, dm_error *err);
int dm_bkcat_copy_exists(sqlite3 *db, const char *location, const char *file, dm_error *err);
void dm_bk_copies_clear(dm_bk_copies *c);
void dm_bk_strings_free(char **v, size_t n);

/* ---- engine_sqlite.c ---- */
/* Online backup of the database at src_path into dst_path (a new file). */
int dm_sqlite_backup(const char *src_path, const char *dst_path, dm_error *err);
/* PRAGMA integrity_check on the file (opened read-only). */
int dm_sqlite_check(const char *path, dm_error *err);
/* Row counts of every table of the file. */
int dm_sqlite_count(const char *path, dm_bk_counts *counts, dm_error *err);
/* Copy the file to dst_path (replacing it), fsync-ed. */
int dm_sqlite_copy_file(const char *src_path, const char *dst_path, dm_error *err);

/* ---- engine_dump.c (PostgreSQL and MySQL/MariaDB through their tools) ---- */
/* Dump the database of dsn into dst_path; counts the tables' rows in the
 * dump's snapshot (PostgreSQL) or in a snapshot taken just before it (MySQL). */
int dm_dump_backup(const dm_dsn *dsn, const char *dst_path, dm_bk_counts *counts,
                   dm_error *err);
/* The engine's own check of a dump file (pg_restore --list; the MySQL dump's
 * completion trailer). */
int dm_dump_check(dbmgmt_engine engine, const char *path, dm_error *err);
/* Restore a dump file into the database of target. */
int dm_dump_restore(const dm_dsn *target, const char *path, dm_error *err);
/* Row counts of the tables of the database at dsn (one snapshot). */
int dm_dump_count(const char *dsn, dm_bk_counts *counts, dm_error *err);

/* ---- backup_crypt.c (encryption at rest, docs/backup-encryption.md) ---- */
/* The scheme's name, the catalog attribute "encryption". */
#define DM_BK_ENCRYPTION "secretstream-xchacha20poly1305"
/* Wipe and free a key; accepts NULL. */
void dm_bk_key_free(dm_bk_key *k);
/* A passphrase for another tool's cipher (pgBackRest's repo1-cipher-pass):
 * 64 hex characters of a BLAKE2b hash of the key under context, so the key
 * itself is never written anywhere. out is 65 bytes; wipe it after use. */
int dm_bk_key_passphrase(const dm_bk_key *k, const char *context, char out[65]);
/* 1 when the catalog says e's file is encrypted. */
int dm_bk_is_encrypted(const dm_bk_entry *e);
/* "dir/.NAME.plain.partial-PID": where plaintext lives while it must (caller frees). */
char *dm_bk_plain_temp(const dbmgmt_backup *b, const char *name);
/* Create path anew, 0600, for writing: a descriptor, or a negative status. */
int dm_bk_create_private(const char *path, dm_error *err);
/* Encrypt plain_path into cipher_path (0600) with b's key; attrs receives
 * encryption, plain_size, plain_sha256 and key_id; *cipher_sum the size and
 * SHA-256 of the ciphertext, read back on a library thread as it was
 * written. */
int dm_bk_encrypt_file(dbmgmt_backup *b, const char *plain_path, const char *cipher_path,
                       dm_bk_attrs *attrs, dm_bk_sum *cipher_sum);
/* The same with key, errors into err (for a library thread). */
int dm_bk_encrypt_file_with(const dm_bk_key *key, const char *plain_path,
                            const char *cipher_path, dm_bk_attrs *attrs,
                            dm_bk_sum *cipher_sum, dm_error *err);
/* Decrypt e's file at path into a new 0600 temporary file (*plain_path,
 * the caller unlinks and frees it), authenticating every chunk and checking
 * the plaintext's size and SHA-256 against the catalog's; nothing is left
 * behind on failure. */
int dm_bk_decrypt_to_temp(dbmgmt_backup *b, const dm_bk_entry *e, const char *path,
                          char **plain_path);
/* The same without the plaintext's checksum (its size into *plain_size): the
 * caller checks it with dm_bk_check_plain_sum before trusting the file, as
 * verify does while the engine's check reads it. Not for restores. */
int dm_bk_decrypt_to_temp_unchecked(dbmgmt_backup *b, const dm_bk_entry *e, const char *path,
                                    char **plain_path, int64_t *plain_size);
/* Authenticate every chunk of e's file at path with key and check that its
 * plaintext is exactly the file at plain (the plaintext the backup was
 * encrypted from, whose SHA-256 the caller checks against the catalog's),
 * writing no plaintext anywhere; err is the caller's (it may run on a
 * thread of its own). */
int dm_bk_authenticate(const dm_bk_key *key, const dm_bk_entry *e, const char *path,
                       const char *plain, dm_error *err);
/* A plaintext's size and SHA-256 against e's plain_size and plain_sha256. */
int dm_bk_check_plain_sum(dbmgmt_backup *b, const dm_bk_entry *e, int64_t size, const char *hex);
/* The same into err. */
int dm_bk_plain_sum_ok(const dm_bk_entry *e, int64_t size, const char *hex, dm_error *err);
/* ---- backup_child.c (running the engines' tools) ---- */
#define DM_BK_ENV_MAX 24
typedef struct dm_bk_env {
    char *vars[DM_BK_ENV_MAX + 1];
    size_t n;
    int failed;
} dm_bk_env;
/* Add KEY=value (nothing when value is NULL); failed is set on no memory. */
void dm_bk_env_add(dm_bk_env *e, const char *key, const char *value);
/* PATH, HOME, TMPDIR and LC_ALL=C. */
void dm_bk_env_base(dm_bk_env *e);
/* Wipe (a password may be in it) and free. */
void dm_bk_env_clear(dm_bk_env *e);
/* The first executable named name on PATH; caller frees, NULL when none. */
char *dm_bk_find_exe(const char *name);
typedef struct dm_bk_child {
    const char *what;   /* the tool in errors: "pgbackrest backup", "mariadb-backup" */
    const char *exe;    /* full path */
    char *const *argv;  /* never a password */
    char *const *envp;
    int in_fd, out_fd;  /* the child's stdin and stdout; -1: /dev/null */
    int as_user;        /* run as uid/gid (this process is root) */
    uid_t uid;
    gid_t gid;
    const char *secret; /* masked in the error message (the password), or NULL */
} dm_bk_child;
typedef struct dm_bk_proc {
    pid_t pid;
    int err_fd; /* the child's stderr, an unlinked temporary file */
} dm_bk_proc;
/* Start the child; dm_bk_child_wait must follow. */
int dm_bk_child_spawn(const dm_bk_child *c, dm_bk_proc *p, dm_error *err);
/* Wait for it: DBMGMT_OK on exit status 0, else DBMGMT_ERR_IO naming
 * c->what with the start of its stderr (the secret masked). */
int dm_bk_child_wait(const dm_bk_child *c, dm_bk_proc *p, dm_error *err);
/* Spawn and wait. */
int dm_bk_child_run(const dm_bk_child *c, dm_error *err);

/* ---- engine_dump.c, shared with engine_mariadb.c ---- */
/* A 0600 options file ([client]: user, password, host and port, or socket
 * when socket is set) for --defaults-extra-file, created in dir (NULL:
 * TMPDIR) and given to uid/gid when as_user; *path is the caller's to
 * unlink and free. */
int dm_mysql_options_file(const dm_dsn *dsn, const char *dir, const char *socket, int as_user,
                          uid_t uid, gid_t gid, char **path, dm_error *err);

/* ---- engine_pgbackrest.c (docs/backup-pgbackrest.md) ---- */
/* 1 when kind is a pgBackRest backup type (full, diff, incr). */
int dm_pgbr_valid_kind(const char *kind);
/* Connect, write <dir>/pgbackrest.conf, make the repository, set or name
 * the archiving settings, stanza-create and check. */
int dm_pgbr_setup(dbmgmt_backup *b);
void dm_pgbr_free(dm_pgbr *p);
/* A backup of the schedule's kind (manual: incr) whose info JSON goes to
 * dst_path and whose facts (label, type, prior, WAL and LSN range, sizes,
 * times) go to attrs. */
int dm_pgbr_backup(dbmgmt_backup *b, const char *kind, const char *dst_path, dm_bk_attrs *attrs);
/* pgbackrest verify, and the backup's set still in the repository. */
int dm_pgbr_check(dbmgmt_backup *b, const dm_bk_entry *e);
/* pgbackrest expire --set (its dependents go with it). */
int dm_pgbr_expire(dbmgmt_backup *b, const dm_bk_entry *e);
/* pgbackrest restore of set label into the data directory target (empty or
 * new): --type=time to *t, or --type=immediate (the backup's end) when t is
 * NULL; recovery promotes when the server is started on it. */
int dm_pgbr_restore(dbmgmt_backup *b, const char *label, const char *target, const int64_t *t);
/* pgbr_json.c: a minimal reader for pgbackrest info's JSON. */
const char *dm_pgbr_json_skip(const char *p);
const char *dm_pgbr_json_get(const char *obj, const char *key);
const char *dm_pgbr_json_at(const char *arr, size_t i, size_t *n);
char *dm_pgbr_json_text(const char *v);

/* ---- engine_mariadb.c, mariadb_restore.c (docs/backup-mariadb-backup.md) ---- */
/* 1 when kind is a mariadb-backup backup type (full, incr). */
int dm_mdb_valid_kind(const char *kind);
/* Connect, check log_bin and the data directory, make the folders. */
int dm_mdb_setup(dbmgmt_backup *b);
void dm_mdb_free(dm_mdb *m);
/* A full or incr backup into <dir>/mariadb-backup/<id>; its manifest goes to
 * dst_path and its facts (type, base, LSNs, binlog position) to attrs. */
int dm_mdb_backup(dbmgmt_backup *b, const char *id, const char *kind, const char *dst_path,
                  dm_bk_attrs *attrs);
/* Remove the directory of backup id (a failed backup, a pruned one). */
void dm_mdb_discard(dbmgmt_backup *b, const char *id);
/* Every file against the manifest, and --prepare of a scratch copy of the chain. */
int dm_mdb_check(dbmgmt_backup *b, const dm_bk_entry *e, const char *manifest);
/* FLUSH BINARY LOGS and fetch the closed binlogs not yet in <dir>/binlog. */
int dm_mdb_archive_binlogs(dbmgmt_backup *b);
/* Remove archived binlogs before the binlog file of the oldest kept backup. */
void dm_mdb_prune_binlogs(dbmgmt_backup *b);
/* Restore backup id (its chain prepared) into the empty or new data
 * directory target; with t, replay the archived binlogs up to t (UTC,
 * whole seconds). json receives the binlog range replayed ("" without t). */
int dm_mdb_restore(dbmgmt_backup *b, const dm_bk_entry *e, const char *target,
                   const int64_t *t, char **binlog_range);
/* The chain of e (full first, e last) from the catalog; caller frees with
 * dm_bk_entries_free. */
int dm_mdb_chain(dbmgmt_backup *b, const dm_bk_entry *e, dm_bk_entry **chain, size_t *n);
/* mariadb_files.c: recursive copy, chown and removal of a directory. */
int dm_mdb_copy_tree(const char *src, const char *dst, dm_error *err);
int dm_mdb_chown_tree(const char *dir, uid_t uid, gid_t gid, dm_error *err);
void dm_mdb_remove_tree(const char *dir);
/* Append "file <sha256> <size> <path relative to dir>\n" for every regular file. */
struct dm_buf;
int dm_mdb_hash_tree(const char *dir, struct dm_buf *out, dm_error *err);
/* Append "<path relative to dir>\n" for every regular file. */
int dm_mdb_list_tree(const char *dir, struct dm_buf *out, dm_error *err);

#endif
