/*
 * Off-site copies (docs/backup-offsite.md): each verified backup is copied
 * to a second folder (a mounted remote file system) with the main folder's
 * crash safety. The copy is written as <file>.partial-<pid>, fsync-ed, its
 * size and SHA-256 checked against the catalog's, then, under the catalog's
 * write lock, renamed, the folder fsync-ed and the row committed: a crash
 * leaves a partial file (removed by the next cleanup) or a final file with
 * no row (removed by the next cleanup, copied again by the next tick),
 * never a row without its file. Prune removes a copy's row, then its file.
 */
#include "backup_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <dirent.h>

#include "core/alloc.h"
#include "core/json.h"
#include "core/log.h"

/* Names the library gives backups: "20260121T020000Z-<kind>...". Cleanup
 * touches nothing else in the off-site folder. */
static int looks_like_backup(const char *name)
{
    static const char shape[] = "ddddddddTddddddZ-";
    for (size_t i = 0; i < sizeof shape - 1; i++) {
        char c = name[i];
        if (shape[i] == 'd' ? (c < '0' || c > '9') : c != shape[i])
            return 0;
    }
    return name[sizeof shape - 1] != '\0';
}

/* ---- configuration ------------------------------------------------------------- */

/* The folder exists, is a folder, is not the backup folder, and a file can
 * be created in it (a read-only mount is refused even for root). */
static int check_offsite_dir(dbmgmt_backup *b, const char *dir)
{
    struct stat st, main_st;
    if (stat(dir, &st) != 0)
        return dm_error_set(&b->err, errno == ENOENT ? DBMGMT_ERR_NOTFOUND : DBMGMT_ERR_IO,
                            "off-site folder '%s': %s", dir, strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return dm_error_set(&b->err, DBMGMT_ERR_INVALID, "off-site folder '%s' is not a folder",
                            dir);
    if (stat(b->dir, &main_st) == 0 && main_st.st_dev == st.st_dev &&
        main_st.st_ino == st.st_ino)
        return dm_error_set(&b->err, DBMGMT_ERR_INVALID,
                            "off-site folder '%s' is the backup folder itself", dir);
    char name[64];
    snprintf(name, sizeof name, ".dbmgmt-offsite-probe%s%ld", DM_BACKUP_PARTIAL, (long)getpid());
    char *probe = dm_bk_path(dir, name);
    if (!probe)
        return dm_error_set(&b->err, DBMGMT_ERR_NOMEM, "out of memory");
    int fd = open(probe, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    int saved = errno;
    if (fd >= 0) {
        close(fd);
        unlink(probe);
    }
    dm_free(probe);
    if (fd < 0)
        return dm_error_set(&b->err, DBMGMT_ERR_IO, "off-site folder '%s' is not writable: %s",
                            dir, strerror(saved));
    return DBMGMT_OK;
}

DBMGMT_API int dbmgmt_backup_set_offsite(dbmgmt_backup *b, const char *dir)
{
    if (!b)
        return dm_error_invalid("dbmgmt_backup_set_offsite", "b is NULL");
    if (dir && !*dir)
        return dm_error_set(&b->err, DBMGMT_ERR_INVALID,
                            "dbmgmt_backup_set_offsite: dir is empty (NULL turns it off)");
    dm_bk_lock(b);
    dm_error_reset(&b->err);
    int rc = DBMGMT_OK;
    char *resolved = NULL;
    if (dir) {
        rc = check_offsite_dir(b, dir);
        char *real = rc == DBMGMT_OK ? realpath(dir, NULL) : NULL;
        if (rc == DBMGMT_OK && !real)
            rc = dm_error_set(&b->err, DBMGMT_ERR_IO, "off-site folder '%s': %s", dir,
                              strerror(errno));
        if (real && !(resolved = dm_strdup(real)))
            rc = dm_error_set(&b->err, DBMGMT_ERR_NOMEM, "out of memory");
        free(real); /* from the C library */
    }
    if (rc == DBMGMT_OK) {
        dm_free(b->offsite_dir);
        b->offsite_dir = resolved;
        b->offsite_alerted = 0;
        if (resolved)
            dm_bk_offsite_cleanup(b);
    }
    dm_bk_unlock(b);
    return rc;
}

/* ---- cleanup -------------------------------------------------------------------------- */

static int writer_is_gone(const char *mark)
{
    long pid = strtol(mark + strlen(DM_BACKUP_PARTIAL), NULL, 10);
    return pid <= 0 || (kill((pid_t)pid, 0) != 0 && errno == ESRCH);
}

static void remove_leftover(const char *dir, const char *name, const char *why)
{
    char *path = dm_bk_path(dir, name);
    if (path && unlink(path) == 0)
        dm_log(DBMGMT_LOG_WARN, "off-site: removed '%s', %s", path, why);
    dm_free(path);
}

/* Under the catalog's write lock, so no copy is between its rename and its
 * row (that happens under the same lock). */
void dm_bk_offsite_cleanup(dbmgmt_backup *b)
{
    const char *dir = b->offsite_dir;
    if (!dir)
        return;
    DIR *d = opendir(dir);
    if (!d)
        return;
    int locked = dm_bkcat_write_begin(b->cat, NULL) == DBMGMT_OK;
    struct dirent *ent;
    while ((ent = readdir(d)) != NULL) {
        const char *name = ent->d_name;
        if (!looks_like_backup(name))
            continue;
        const char *mark = strstr(name, DM_BACKUP_PARTIAL);
        if (mark) {
            if (writer_is_gone(mark))
                remove_leftover(dir, name, "left by a copy that did not finish");
            continue;
        }
        /* A copy renamed but not recorded (a crash), or whose row prune
         * removed: only names of this catalog's backups. */
        if (locked && dm_bkcat_file_is_backup(b->cat, name, NULL) == 1 &&
            dm_bkcat_copy_exists(b->cat, dir, name, NULL) == 0)
            remove_leftover(dir, name, "a copy the catalog does not record");
    }
    closedir(d);
    if (locked)
        dm_bkcat_write_end(b->cat, 1, NULL);
}

/* ---- copying ---------------------------------------------------------------------------- */

/* Rename the checked partial copy and record it, under the write lock. */
static int publish_copy(dbmgmt_backup *b, const dm_bk_entry *e, const char *partial,
                        const char *final)
{
    int rc = dm_bkcat_write_begin(b->cat, &b->err);
    if (rc != DBMGMT_OK)
        return rc;
    int renamed = 0;
    if (rename(partial, final) != 0)
        rc = dm_error_set(&b->err, DBMGMT_ERR_IO, "cannot rename '%s' to '%s': %s", partial,
                          final, strerror(errno));
    else
        renamed = 1;
    if (rc == DBMGMT_OK)
        rc = dm_bk_fsync_dir(b->offsite_dir, &b->err);
    dm_bk_copy c = {b->offsite_dir, e->file, e->size, "", (int64_t)time(NULL)};
    memcpy(c.sha256, e->sha256, sizeof c.sha256);
    if (rc == DBMGMT_OK)
        rc = dm_bkcat_copy_insert(b->cat, e->id, &c, &b->err);
    if (rc == DBMGMT_OK)
        rc = dm_bkcat_write_end(b->cat, 1, &b->err);
    else
        dm_bkcat_write_end(b->cat, 0, NULL);
    if (rc != DBMGMT_OK && renamed)
        unlink(final); /* no file without its row */
    return rc;
}

static int copy_entry(dbmgmt_backup *b, const dm_bk_entry *e)
{
    char partial_name[400];
    snprintf(partial_name, sizeof partial_name, "%s%s%ld", e->file, DM_BACKUP_PARTIAL,
             (long)getpid());
    char *src = dm_bk_path(b->dir, e->file);
    char *partial = dm_bk_path(b->offsite_dir, partial_name);
    char *final = dm_bk_path(b->offsite_dir, e->file);
    int rc = src && partial && final ? DBMGMT_OK
                                     : dm_error_set(&b->err, DBMGMT_ERR_NOMEM, "out of memory");
    if (rc == DBMGMT_OK)
        rc = dm_bk_copy_file(src, partial, &b->err); /* fsync-ed */
    if (rc == DBMGMT_OK) {
        rc = dm_bk_check_file(b, e, partial);
        if (rc == DBMGMT_ERR_CHECKSUM)
            dm_error_set(&b->err, rc,
                         "backup %s: the copy in the off-site folder '%s' is not the recorded "
                         "file (%s)", e->id, b->offsite_dir, b->err.msg);
    }
    if (rc == DBMGMT_OK)
        rc = publish_copy(b, e, partial, final);
    if (rc != DBMGMT_OK && partial)
        unlink(partial);
    if (rc == DBMGMT_OK)
        dm_log(DBMGMT_LOG_INFO, "backup %s copied to '%s'", e->id, b->offsite_dir);
    dm_free(src);
    dm_free(partial);
    dm_free(final);
    return rc;
}

static int copy_id(dbmgmt_backup *b, const char *id)
{
    dm_bk_entry e = {0};
    int rc = dm_bkcat_get(b->cat, id, &e, NULL, &b->err);
    if (rc == DBMGMT_OK)
        rc = copy_entry(b, &e);
    dm_bk_entry_clear(&e);
    return rc;
}

int dm_bk_offsite_copy(dbmgmt_backup *b, const char *id)
{
    if (!b->offsite_dir)
        return DBMGMT_OK;
    int rc = copy_id(b, id);
    if (rc != DBMGMT_OK) {
        char msg[DM_ERRMSG_MAX];
        snprintf(msg, sizeof msg, "%s", b->err.msg);
        dm_bk_alert(b, id, b->offsite_dir, "off-site copy of backup %s to '%s' failed: %s", id,
                    b->offsite_dir, msg);
        dm_error_set(&b->err, rc, "off-site copy of backup %s to '%s' failed: %s", id,
                     b->offsite_dir, msg);
        dm_bk_failed(b, rc);
    }
    return rc;
}

int dm_bk_offsite_tick(dbmgmt_backup *b)
{
    if (!b->offsite_dir)
        return DBMGMT_OK;
    dm_bk_offsite_cleanup(b);
    char **ids = NULL;
    size_t n = 0;
    int rc = dm_bkcat_missing_copies(b->cat, b->offsite_dir, &ids, &n, &b->err);
    if (rc != DBMGMT_OK)
        return rc;
    size_t failed = 0;
    char first[DM_ERRMSG_MAX + 256] = "";
    for (size_t i = 0; i < n; i++) {
        int r = copy_id(b, ids[i]);
        if (r == DBMGMT_ERR_NOMEM)
            rc = r;
        if (r != DBMGMT_OK && failed++ == 0)
            snprintf(first, sizeof first, "backup %s: %s", ids[i], b->err.msg);
    }
    /* A folder that stays unreachable is alerted once, not every minute. */
    if (failed > 0 && !b->offsite_alerted) {
        b->offsite_alerted = 1;
        dm_bk_alert(b, NULL, b->offsite_dir, "%zu off-site cop%s to '%s' failed; first: %s",
                    failed, failed == 1 ? "y" : "ies", b->offsite_dir, first);
        dm_bk_failed(b, DBMGMT_ERR_IO);
    } else if (failed == 0) {
        b->offsite_alerted = 0;
    }
    dm_bk_strings_free(ids, n);
    if (rc == DBMGMT_ERR_NOMEM)
        return dm_error_set(&b->err, rc, "out of memory copying backups off-site");
    return DBMGMT_OK;
}

/* ---- prune, verify, restore ------------------------------------------------------------ */

int dm_bk_offsite_remove(dbmgmt_backup *b, const char *id)
{
    dm_bk_copies c;
    int rc = dm_bkcat_copies(b->cat, id, &c, &b->err);
    for (size_t i = 0; rc == DBMGMT_OK && i < c.n; i++) {
        char *path = dm_bk_path(c.v[i].location, c.v[i].file);
        if (!path) {
            rc = dm_error_set(&b->err, DBMGMT_ERR_NOMEM, "out of memory");
            break;
        }
        /* The row first: a crash in between leaves a file the cleanup
         * removes, never a row without its file. */
        rc = dm_bkcat_copy_delete(b->cat, id, c.v[i].location, &b->err);
        if (rc == DBMGMT_OK && unlink(path) != 0 && errno != ENOENT)
            dm_log(DBMGMT_LOG_WARN, "prune: cannot remove the off-site copy '%s': %s", path,
                   strerror(errno));
        dm_free(path);
    }
    dm_bk_copies_clear(&c);
    return rc;
}

static int folder_is_there(const char *dir)
{
    struct stat st;
    return stat(dir, &st) == 0 && S_ISDIR(st.st_mode);
}

int dm_bk_offsite_verify(dbmgmt_backup *b, const dm_bk_entry *e)
{
    dm_bk_copies c;
    int rc = dm_bkcat_copies(b->cat, e->id, &c, &b->err);
    int status = rc;
    for (size_t i = 0; rc == DBMGMT_OK && i < c.n; i++) {
        char *path = dm_bk_path(c.v[i].location, c.v[i].file);
        if (!path) {
            status = dm_error_set(&b->err, DBMGMT_ERR_NOMEM, "out of memory");
            break;
        }
        int r = dm_bk_check_file(b, e, path);
        if (r != DBMGMT_OK && r != DBMGMT_ERR_NOMEM) {
            char msg[DM_ERRMSG_MAX + 256];
            snprintf(msg, sizeof msg, "backup %s: the off-site copy in '%s' failed its check: %s",
                     e->id, c.v[i].location, b->err.msg);
            int there = folder_is_there(c.v[i].location);
            if (there && dm_bkcat_copy_delete(b->cat, e->id, c.v[i].location, NULL) == DBMGMT_OK)
                unlink(path); /* copied again by the next tick */
            dm_bk_alert(b, e->id, path, "%s", msg);
            dm_bk_failed(b, DBMGMT_ERR_CHECKSUM);
            if (status == DBMGMT_OK)
                status = dm_error_set(&b->err, DBMGMT_ERR_CHECKSUM, "%s", msg);
        } else if (r == DBMGMT_ERR_NOMEM) {
            status = r;
        }
        dm_free(path);
    }
    dm_bk_copies_clear(&c);
    return status;
}

int dm_bk_restore_source(dbmgmt_backup *b, const dm_bk_entry *e, char **path)
{
    int rc = dm_bk_check_file(b, e, *path);
    if (rc == DBMGMT_OK || rc == DBMGMT_ERR_NOMEM)
        return rc;
    dm_error main_err = b->err;
    dm_bk_copies c;
    if (dm_bkcat_copies(b->cat, e->id, &c, NULL) != DBMGMT_OK)
        c = (dm_bk_copies){0};
    for (size_t i = 0; i < c.n; i++) {
        char *alt = dm_bk_path(c.v[i].location, c.v[i].file);
        if (alt && dm_bk_check_file(b, e, alt) == DBMGMT_OK) {
            dm_log(DBMGMT_LOG_WARN, "backup %s: restoring from the off-site copy '%s' (%s)",
                   e->id, alt, main_err.msg);
            dm_free(*path);
            *path = alt;
            dm_bk_copies_clear(&c);
            dm_error_reset(&b->err);
            return DBMGMT_OK;
        }
        dm_free(alt);
    }
    dm_bk_copies_clear(&c);
    b->err = main_err;
    return rc;
}

/* ---- list JSON -------------------------------------------------------------------------- */

void dm_bk_copies_to_json(dm_json *j, const dm_bk_copies *c)
{
    dm_json_array_begin(j);
    for (size_t i = 0; i < c->n; i++) {
        const dm_bk_copy *x = &c->v[i];
        dm_json_object_begin(j);
        dm_json_key(j, "location");
        dm_json_string(j, x->location);
        dm_json_key(j, "file");
        dm_json_string(j, x->file);
        dm_json_key(j, "size");
        dm_json_int(j, x->size);
        dm_json_key(j, "sha256");
        dm_json_string(j, x->sha256);
        char t[40];
        dm_bk_format_utc(x->copied_at, 0, t, sizeof t);
        dm_json_key(j, "copied_at");
        dm_json_string(j, t);
        dm_json_object_end(j);
    }
    dm_json_array_end(j);
}
