/*
 * Taking a backup (DESIGN §7, docs/backup.md): the engine or the host's
 * BACKUP hook writes the file, it is made durable under its final name and
 * recorded in the catalog, verified, and handed to the UPLOAD hook. Used by
 * dbmgmt_backup_run_now and by the scheduler's tick (backup.c).
 *
 * Files: <id>.<ext> in the backup folder, where id is the backup's UTC time
 * and kind ("20260121T020000Z-daily", "-2", "-3" ... when taken in the same
 * second) and ext is sqlite, pgdump or sql. A file is written under
 * <name>.partial-<pid>, fsync-ed, renamed and the folder fsync-ed before its
 * catalog row is committed: a crash leaves neither entry nor final file.
 */
#include "backup_impl.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/log.h"

#define KIND_MANUAL "manual"

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const char *file_ext(const char *engine)
{
    if (strcmp(engine, "sqlite") == 0)
        return "sqlite";
    if (strcmp(engine, "postgres") == 0)
        return "pgdump";
    if (strcmp(engine, "mysql") == 0)
        return "sql";
    if (strcmp(engine, "pgbackrest") == 0)
        return "pgbackrest.json"; /* the set's object of `pgbackrest info` */
    if (strcmp(engine, "mariadb-backup") == 0)
        return "mariadb-backup.manifest"; /* the backup folder's checksums and facts */
    return "bak";
}

/* ---- taking a backup ---------------------------------------------------------------- */

/* A free id for a backup at time t of kind. */
static int make_id(dbmgmt_backup *b, int64_t t, const char *kind, char *out, size_t cap)
{
    char stamp[32];
    dm_bk_format_utc(t, 1, stamp, sizeof stamp);
    for (int n = 1; n < 10000; n++) {
        if (n == 1)
            snprintf(out, cap, "%s-%s", stamp, kind);
        else
            snprintf(out, cap, "%s-%s-%d", stamp, kind, n);
        int exists = dm_bkcat_id_exists(b->cat, out, &b->err);
        if (exists < 0)
            return exists;
        if (!exists)
            return DBMGMT_OK;
    }
    return dm_error_set(&b->err, DBMGMT_ERR_INTERNAL, "no free backup id at %s", stamp);
}

/* The engine that takes this scheduler's backups: the one place that maps
 * the configured engine to its name (a later engine joins here and in
 * produce_file and engine_check). */
static const char *engine_name(const dbmgmt_backup *b)
{
    if (b->hooks[DBMGMT_HOOK_BACKUP].fn)
        return "hook";
    if (b->engine_id == DM_BK_ENGINE_PGBACKREST)
        return "pgbackrest";
    if (b->engine_id == DM_BK_ENGINE_MARIADB_BACKUP)
        return "mariadb-backup";
    return dbmgmt_engine_name(b->dsn->engine);
}

/* Produce the file at partial: the BACKUP hook, or the engine. */
static int produce_file(dbmgmt_backup *b, const dm_bk_job *job, const char *id,
                        const char *partial, dm_bk_counts *counts, dm_bk_attrs *attrs)
{
    if (b->hooks[DBMGMT_HOOK_BACKUP].fn) {
        if (dm_bk_call_hook(b, DBMGMT_HOOK_BACKUP, id, partial, NULL) != 0)
            return dm_error_set(&b->err, DBMGMT_ERR_IO, "the backup hook failed for %s", id);
        if (access(partial, F_OK) != 0)
            return dm_error_set(&b->err, DBMGMT_ERR_IO,
                                "the backup hook did not write '%s' for %s", partial, id);
        return DBMGMT_OK;
    }
    if (b->engine_id == DM_BK_ENGINE_PGBACKREST)
        return dm_pgbr_backup(b, job->kind, partial, attrs);
    if (b->engine_id == DM_BK_ENGINE_MARIADB_BACKUP)
        return dm_mdb_backup(b, id, job->kind, partial, attrs);
    if (b->dsn->engine == DBMGMT_ENGINE_SQLITE) {
        int rc = dm_sqlite_backup(b->dsn->database, partial, &b->err);
        /* Counted on the copy itself: exactly the backup's snapshot. */
        return rc == DBMGMT_OK ? dm_sqlite_count(partial, counts, &b->err) : rc;
    }
    return dm_dump_backup(b->dsn, partial, counts, &b->err);
}

/* The plaintext of the encrypted backup just taken, kept for the verify
 * that follows (plain: its 0600 temporary file, NULL for an unencrypted
 * backup); checked: the engine's check already ran on it, with this result
 * (check_rc, check_err). */
typedef struct fresh_plain {
    char *plain;
    int checked;
    int check_rc;
    dm_error check_err;
} fresh_plain;

/* With a key (and not a hook's backup): the engine writes plaintext into a
 * 0600 temporary file, encrypted into partial right after (*cipher_sum: the
 * ciphertext's size and SHA-256, hashed while it was written). On success the
 * temporary file is the caller's (fresh->plain: the verify that follows checks
 * it instead of decrypting a second copy, then removes it); on failure it is
 * removed. A SQLite copy is encrypted while a library thread counts its
 * rows and then runs the engine's check on it (fresh->checked),
 * which the verify would otherwise run after the encryption: the file is
 * private and nothing writes it, so the bytes checked are the bytes
 * encrypted, which the verify establishes. */
static int produce_encrypted(dbmgmt_backup *b, const dm_bk_job *job, const char *id,
                             const char *name, const char *partial, dm_bk_counts *counts,
                             dm_bk_attrs *attrs, dm_bk_sum *cipher_sum, fresh_plain *fresh)
{
    char *plain = dm_bk_plain_temp(b, name);
    if (!plain)
        return dm_error_set(&b->err, DBMGMT_ERR_NOMEM, "out of memory");
    int fd = dm_bk_create_private(plain, &b->err);
    int rc = fd < 0 ? fd : DBMGMT_OK;
    if (fd >= 0)
        close(fd);
    if (rc == DBMGMT_OK && b->dsn->engine == DBMGMT_ENGINE_SQLITE) {
        /* The copy, then its encryption on this thread while a library
         * thread counts the copy's rows and checks it: all only read it. */
        rc = dm_sqlite_backup(b->dsn->database, plain, &b->err);
        if (rc == DBMGMT_OK) {
            dm_bk_bg_sqlite_check c;
            dm_bk_bg_sqlite_check_start(&c, plain, counts);
            rc = dm_bk_encrypt_file(b, plain, partial, attrs, cipher_sum);
            int count_rc = dm_bk_task_join(&c.task);
            if (rc == DBMGMT_OK && count_rc != DBMGMT_OK)
                rc = dm_error_set(&b->err, count_rc, "%s", c.task.err.msg);
            fresh->check_rc = c.check_rc;
            fresh->check_err = c.check_err;
            fresh->checked = count_rc == DBMGMT_OK;
        }
    } else if (rc == DBMGMT_OK) {
        rc = produce_file(b, job, id, plain, counts, attrs);
        if (rc == DBMGMT_OK)
            rc = dm_bk_encrypt_file(b, plain, partial, attrs, cipher_sum);
    }
    if (rc == DBMGMT_OK) {
        fresh->plain = plain;
        return rc;
    }
    fresh->checked = 0;
    unlink(plain);
    dm_free(plain);
    return rc;
}

static void drop_plain(fresh_plain *fresh)
{
    if (fresh->plain) {
        unlink(fresh->plain);
        dm_free(fresh->plain);
        fresh->plain = NULL;
    }
    fresh->checked = 0;
}

/* Make the finished file durable under its final name; its size and
 * SHA-256 are written's when the file was hashed while it was written (an
 * encryption's, on a library thread: the verify that follows checks them
 * again), else read here. */
static int finish_file(dbmgmt_backup *b, const char *partial, const char *final,
                       const dm_bk_sum *written, dm_bk_entry *e)
{
    int rc = dm_bk_fsync_path(partial, &b->err);
    struct stat st;
    if (rc == DBMGMT_OK && written && stat(partial, &st) == 0 && st.st_size == written->size) {
        e->size = written->size;
        memcpy(e->sha256, written->hex, sizeof written->hex);
    } else if (rc == DBMGMT_OK) {
        rc = dm_bk_hash_file(partial, &e->size, e->sha256, &b->err);
    }
    if (rc == DBMGMT_OK && rename(partial, final) != 0)
        rc = dm_error_set(&b->err, DBMGMT_ERR_IO, "cannot rename '%s' to '%s': %s", partial,
                          final, strerror(errno));
    if (rc == DBMGMT_OK)
        rc = dm_bk_fsync_dir(b->dir, &b->err);
    return rc;
}

/* fresh: see produce_encrypted (left empty for an unencrypted backup). */
static int take_backup(dbmgmt_backup *b, const dm_bk_job *job, char *id, size_t idcap,
                       fresh_plain *fresh)
{
    int rc = make_id(b, job->time, job->kind, id, idcap);
    if (rc != DBMGMT_OK)
        return rc;
    const char *engine = engine_name(b);
    /* Hook-made backups are the host's to encrypt (docs/decisions.md);
     * pgBackRest encrypts its repository with its own cipher; a
     * mariadb-backup folder is not encrypted (docs/backup-mariadb-backup.md). */
    int encrypt = b->key && !b->hooks[DBMGMT_HOOK_BACKUP].fn && b->engine_id == DM_BK_ENGINE_AUTO;
    char name[256], partial_name[300];
    snprintf(name, sizeof name, "%s.%s%s", id, file_ext(engine), encrypt ? ".enc" : "");
    snprintf(partial_name, sizeof partial_name, "%s%s%ld", name, DM_BACKUP_PARTIAL,
             (long)getpid());
    char *final = dm_bk_path(b->dir, name), *partial = dm_bk_path(b->dir, partial_name);
    dm_bk_entry e = {0};
    e.id = id;
    e.schedule = (char *)job->schedule;
    e.kind = (char *)job->kind;
    e.engine = (char *)engine;
    e.file = name;
    e.time = job->time;
    e.started_ms = wall_ms();
    dm_bk_counts counts = {0};
    dm_bk_sum cipher_sum = {-1, ""};
    if (!final || !partial)
        rc = dm_error_set(&b->err, DBMGMT_ERR_NOMEM, "out of memory");
    if (rc == DBMGMT_OK)
        rc = encrypt ? produce_encrypted(b, job, id, name, partial, &counts, &e.attrs,
                                         &cipher_sum, fresh)
                     : produce_file(b, job, id, partial, &counts, &e.attrs);
    if (rc == DBMGMT_OK)
        rc = finish_file(b, partial, final, encrypt ? &cipher_sum : NULL, &e);
    e.finished_ms = wall_ms();
    if (rc == DBMGMT_OK) {
        rc = dm_bkcat_insert(b->cat, &e, &counts, &b->err);
        if (rc != DBMGMT_OK)
            unlink(final); /* no file without its entry */
    }
    if (rc != DBMGMT_OK && partial)
        unlink(partial);
    if (rc != DBMGMT_OK)
        drop_plain(fresh);
    if (rc != DBMGMT_OK && !strcmp(engine, "mariadb-backup"))
        dm_mdb_discard(b, id); /* no folder without its entry */
    if (rc == DBMGMT_OK)
        dm_log(DBMGMT_LOG_INFO, "backup %s: %lld bytes in %lld ms", id, (long long)e.size,
               (long long)(e.finished_ms - e.started_ms));
    dm_bk_counts_clear(&counts);
    dm_bk_attrs_clear(&e.attrs);
    dm_free(final);
    dm_free(partial);
    return rc;
}

static int verify_locked(dbmgmt_backup *b, const char *id, const fresh_plain *fresh);

/* Take, record, verify, copy off-site and hand to the upload hook. */
int dm_bk_backup_and_verify(dbmgmt_backup *b, const dm_bk_job *job, char *id, size_t idcap)
{
    id[0] = '\0';
    fresh_plain fresh = {NULL, 0, DBMGMT_OK, {0}};
    int rc = take_backup(b, job, id, idcap, &fresh);
    if (rc != DBMGMT_OK) {
        char msg[DM_ERRMSG_MAX];
        snprintf(msg, sizeof msg, "%s", b->err.msg);
        if (job->schedule)
            dm_bkcat_set_last_run(b->cat, job->schedule, job->time, NULL);
        dm_bk_alert(b, id[0] ? id : NULL, NULL, "backup (%s) failed: %s", job->kind, msg);
        dm_error_set(&b->err, rc, "%s", msg);
        return dm_bk_failed(b, rc);
    }
    rc = verify_locked(b, id, &fresh);
    drop_plain(&fresh);
    if (rc != DBMGMT_OK)
        return rc;
    /* The built-in off-site copy, then the upload hook (which runs even
     * when the copy failed); a failed copy leaves the backup valid. */
    rc = dm_bk_offsite_copy(b, id);
    if (b->hooks[DBMGMT_HOOK_UPLOAD].fn) {
        dm_bk_entry e = {0};
        if (dm_bkcat_get(b->cat, id, &e, NULL, &b->err) == DBMGMT_OK) {
            char *path = dm_bk_path(b->dir, e.file);
            int hook_rc = path ? dm_bk_call_hook(b, DBMGMT_HOOK_UPLOAD, id, path, NULL) : -1;
            if (hook_rc != 0) {
                dm_bk_alert(b, id, path, "upload of backup %s failed", id);
                rc = dm_bk_failed(b, dm_error_set(&b->err, DBMGMT_ERR_IO,
                                                  "the upload hook failed for backup %s", id));
            }
            dm_free(path);
        }
        dm_bk_entry_clear(&e);
    }
    return rc;
}

DBMGMT_API int dbmgmt_backup_run_now(dbmgmt_backup *b, char **out_id)
{
    if (out_id)
        *out_id = NULL;
    if (!b)
        return dm_error_invalid("dbmgmt_backup_run_now", "b is NULL");
    dm_bk_lock(b);
    dm_error_reset(&b->err);
    char id[160];
    dm_bk_job job = {NULL, KIND_MANUAL, (int64_t)time(NULL)};
    int rc = dm_bk_backup_and_verify(b, &job, id, sizeof id);
    if (out_id && id[0] && rc != DBMGMT_ERR_NOMEM) {
        *out_id = dm_strdup(id);
        if (!*out_id && rc == DBMGMT_OK)
            rc = dm_error_set(&b->err, DBMGMT_ERR_NOMEM, "out of memory");
    }
    dm_bk_unlock(b);
    return rc;
}

/* ---- verify -------------------------------------------------------------------- */

static int engine_check(dbmgmt_backup *b, const dm_bk_entry *e, const char *path)
{
    if (strcmp(e->engine, "sqlite") == 0)
        return dm_sqlite_check(path, &b->err);
    if (strcmp(e->engine, "postgres") == 0)
        return dm_dump_check(DBMGMT_ENGINE_POSTGRES, path, &b->err);
    if (strcmp(e->engine, "mysql") == 0)
        return dm_dump_check(DBMGMT_ENGINE_MYSQL, path, &b->err);
    if (strcmp(e->engine, "pgbackrest") == 0)
        return dm_pgbr_check(b, e);
    if (strcmp(e->engine, "mariadb-backup") == 0)
        return dm_mdb_check(b, e, path);
    return DBMGMT_OK; /* made by the host's hook: the checksum is all we know */
}

int dm_bk_check_sum(dbmgmt_backup *b, const dm_bk_entry *e, const char *path, int64_t size,
                    const char *hex)
{
    if (size != e->size || strcmp(hex, e->sha256) != 0)
        return dm_error_set(&b->err, DBMGMT_ERR_CHECKSUM,
                            "backup %s: '%s' changed since it was written (SHA-256 %s, %lld "
                            "bytes; recorded %s, %lld bytes)",
                            e->id, path, hex, (long long)size, e->sha256, (long long)e->size);
    return DBMGMT_OK;
}

/* The file's size and SHA-256 against the catalog's. */
int dm_bk_check_file(dbmgmt_backup *b, const dm_bk_entry *e, const char *path)
{
    int64_t size = 0;
    char hex[65];
    int rc = dm_bk_hash_file(path, &size, hex, &b->err);
    return rc != DBMGMT_OK ? rc : dm_bk_check_sum(b, e, path, size, hex);
}

/* An encrypted file: its checksum (on a thread) and its decryption into a
 * temporary file (*plain), in one pass over the data; the plaintext's
 * checksum is the caller's (plain_checked). A changed file is reported as
 * such even where decryption failed first. */
static int check_and_decrypt(dbmgmt_backup *b, const dm_bk_entry *e, const char *path,
                             char **plain, int64_t *plain_size)
{
    dm_bk_bg_hash h;
    dm_bk_bg_hash_start(&h, path);
    int rc = dm_bk_decrypt_to_temp_unchecked(b, e, path, plain, plain_size);
    int hash_rc = dm_bk_task_join(&h.task);
    int sum_rc = hash_rc != DBMGMT_OK ? dm_error_set(&b->err, hash_rc, "%s", h.task.err.msg)
                                      : dm_bk_check_sum(b, e, path, h.size, h.hex);
    if (sum_rc != DBMGMT_OK && *plain) {
        unlink(*plain);
        dm_free(*plain);
        *plain = NULL;
    }
    return sum_rc != DBMGMT_OK ? sum_rc : rc;
}

/* The engine's check of the decrypted plaintext while a thread checks its
 * size and SHA-256 against the catalog's; a checksum that differs is the
 * error reported, before anything the engine's check found. */
static int plain_checked(dbmgmt_backup *b, const dm_bk_entry *e, const char *plain,
                         int64_t plain_size)
{
    dm_bk_bg_hash h;
    dm_bk_bg_hash_start(&h, plain);
    dm_error engine_err = {0};
    int rc = engine_check(b, e, plain);
    if (rc != DBMGMT_OK)
        engine_err = b->err;
    int hash_rc = dm_bk_task_join(&h.task);
    if (hash_rc != DBMGMT_OK)
        return dm_error_set(&b->err, hash_rc, "%s", h.task.err.msg);
    int sum_rc = h.size == plain_size ? dm_bk_check_plain_sum(b, e, h.size, h.hex)
                                      : dm_error_set(&b->err, DBMGMT_ERR_CHECKSUM,
                                                     "backup %s: the decrypted copy '%s' "
                                                     "changed while it was checked", e->id,
                                                     plain);
    if (sum_rc != DBMGMT_OK)
        return sum_rc;
    if (rc != DBMGMT_OK)
        b->err = engine_err;
    return rc;
}

/* The verify right after an encrypted backup, while the plaintext it
 * encrypted is still in its 0600 temporary file (plain): no second
 * plaintext copy is written (issue 21's benchmark). Three passes, two on
 * library threads: the ciphertext's SHA-256 against the catalog's; every
 * chunk authenticated and its plaintext compared with the temporary file's
 * bytes, nothing written; and, on this thread, the engine's check of the
 * temporary file. Together they check what the standalone verify does:
 * the file is the ciphertext written, and it decrypts to exactly the bytes
 * the engine checked, which are the bytes whose SHA-256 the catalog holds
 * (hashed from that private file, which nothing writes, while it was
 * encrypted; a comparison costs a fifth of hashing them again). Errors are
 * reported in the order: the ciphertext's checksum, the authentication, the
 * engine's check (a changed file as such, even where a later check
 * failed). When the engine's check already ran on the temporary file
 * (fresh->checked, a SQLite copy: while it was encrypted), its result is
 * taken instead of running it again. */
static int fresh_encrypted_checked(dbmgmt_backup *b, const dm_bk_entry *e, const char *path,
                                   const fresh_plain *fresh)
{
    dm_bk_bg_hash cipher_sum;
    dm_bk_bg_auth auth;
    dm_bk_bg_hash_start(&cipher_sum, path);
    dm_bk_bg_auth_start(&auth, b->key, e, path, fresh->plain);
    dm_error engine_err = {0};
    int engine_rc = fresh->checked ? fresh->check_rc : engine_check(b, e, fresh->plain);
    if (fresh->checked)
        engine_err = fresh->check_err;
    else if (engine_rc != DBMGMT_OK)
        engine_err = b->err;
    int cipher_rc = dm_bk_task_join(&cipher_sum.task);
    int auth_rc = dm_bk_task_join(&auth.task);
    if (cipher_rc != DBMGMT_OK)
        return dm_error_set(&b->err, cipher_rc, "%s", cipher_sum.task.err.msg);
    int rc = dm_bk_check_sum(b, e, path, cipher_sum.size, cipher_sum.hex);
    if (rc != DBMGMT_OK)
        return rc;
    if (auth_rc != DBMGMT_OK)
        return dm_error_set(&b->err, auth_rc, "%s", auth.task.err.msg);
    if (engine_rc != DBMGMT_OK)
        b->err = engine_err;
    return engine_rc;
}

int dm_bk_verify_locked(dbmgmt_backup *b, const char *id)
{
    return verify_locked(b, id, NULL);
}

/* fresh: the plaintext of the backup just taken (encrypted), or NULL. */
static int verify_locked(dbmgmt_backup *b, const char *id, const fresh_plain *fresh_copy)
{
    dm_bk_entry e = {0};
    int rc = dm_bkcat_get(b->cat, id, &e, NULL, &b->err);
    if (rc != DBMGMT_OK)
        return rc;
    char *path = dm_bk_path(b->dir, e.file);
    if (!path)
        rc = dm_error_set(&b->err, DBMGMT_ERR_NOMEM, "out of memory");
    char *plain = NULL; /* encrypted: the authenticated plaintext, in a 0600 temporary file */
    int64_t plain_size = 0;
    int fresh = fresh_copy && fresh_copy->plain && dm_bk_is_encrypted(&e);
    if (rc == DBMGMT_OK && fresh)
        rc = fresh_encrypted_checked(b, &e, path, fresh_copy);
    else if (rc == DBMGMT_OK)
        rc = dm_bk_is_encrypted(&e) ? check_and_decrypt(b, &e, path, &plain, &plain_size)
                                    : dm_bk_check_file(b, &e, path);
    if (rc == DBMGMT_OK && !fresh)
        rc = plain ? plain_checked(b, &e, plain, plain_size) : engine_check(b, &e, path);
    if (plain) {
        unlink(plain);
        dm_free(plain);
    }
    if (rc == DBMGMT_OK && dm_bk_call_hook(b, DBMGMT_HOOK_VERIFY, id, path, NULL) != 0)
        rc = dm_error_set(&b->err, DBMGMT_ERR_CHECKSUM, "the verify hook rejected backup %s", id);
    char msg[DM_ERRMSG_MAX];
    snprintf(msg, sizeof msg, "%s", rc == DBMGMT_OK ? "ok" : b->err.msg);
    if (rc != DBMGMT_ERR_NOMEM) {
        int rec = dm_bkcat_record_verify(b->cat, id, dm_bk_logical_now(b), rc == DBMGMT_OK, msg,
                                         rc == DBMGMT_OK ? &b->err : NULL);
        if (rc == DBMGMT_OK)
            rc = rec;
    }
    if (rc != DBMGMT_OK) {
        dm_bk_alert(b, id, path, "verify of backup %s failed: %s", id, msg);
        dm_error_set(&b->err, rc, "%s", msg);
        dm_bk_failed(b, rc);
    }
    /* The off-site copies: the backup's own record stays about its main
     * file; a damaged copy is alerted, counted and copied again. */
    if (rc == DBMGMT_OK)
        rc = dm_bk_offsite_verify(b, &e);
    dm_free(path);
    dm_bk_entry_clear(&e);
    return rc;
}

DBMGMT_API int dbmgmt_backup_verify(dbmgmt_backup *b, const char *id)
{
    if (!b || !id)
        return dm_error_invalid("dbmgmt_backup_verify", "b or id is NULL");
    dm_bk_lock(b);
    dm_error_reset(&b->err);
    int rc = dm_bk_verify_locked(b, id);
    dm_bk_unlock(b);
    return rc;
}
