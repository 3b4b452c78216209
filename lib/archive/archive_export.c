/*
 * EXPORT batches: the locked rows go to `<table>-<n>.jsonl.gz.partial` (or
 * .csv, .zst: dbmgmt_archive_set_export_format),
 * which is fsync-ed and hashed; the catalog records it; it is renamed and
 * the folder fsync-ed; only then are the rows deleted, in the batch's
 * transaction. A killed run leaves at worst a recorded file whose rows may
 * or may not be gone: the next run deletes them (by the keys in the file)
 * and marks it, or a .partial nobody recorded, which it removes.
 */
#include "archive_impl.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "backup/backup_impl.h"
#include "core/alloc.h"
#include "core/json.h"
#include "core/sha256.h"

int dm_arch_file_sha256(const char *path, char hex[65], dm_error *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return dm_error_set(err, DBMGMT_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
    dm_sha256 ctx;
    dm_sha256_init(&ctx);
    unsigned char chunk[65536];
    ssize_t got;
    while ((got = read(fd, chunk, sizeof chunk)) > 0)
        dm_sha256_update(&ctx, chunk, (size_t)got);
    int saved = errno;
    close(fd);
    if (got < 0)
        return dm_error_set(err, DBMGMT_ERR_IO, "cannot read '%s': %s", path, strerror(saved));
    dm_sha256_final_hex(&ctx, hex);
    return DBMGMT_OK;
}

/* The file name's stem: the table name with anything but [A-Za-z0-9_] as _. */
static void arch_stem(const dbmgmt_archive *a, char *out, size_t cap)
{
    size_t i = 0;
    for (const char *p = a->table; *p && i + 1 < cap; p++, i++) {
        char c = *p;
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        out[i] = ok ? c : '_';
    }
    out[i] = '\0';
}

/* One row as a JSON object line (every value as the engine's text, NULL as
 * null) or a CSV record. */
static void arch_row(const dbmgmt_archive *a, dbmgmt_result *res, dm_buf *line)
{
    dm_buf_clear(line);
    if (a->format == DBMGMT_ARCHIVE_CSV) {
        for (int32_t i = 0; i < a->ncolumns; i++) {
            if (i > 0)
                dm_buf_putc(line, ',');
            dm_arch_csv_field(line, dbmgmt_result_is_null(res, i) ? NULL
                                                                  : dbmgmt_result_text(res, i));
        }
        dm_buf_putc(line, '\n');
        return;
    }
    dm_json j;
    dm_json_init(&j, line);
    dm_json_object_begin(&j);
    for (int32_t i = 0; i < a->ncolumns; i++) {
        dm_json_key(&j, a->columns[i]);
        dm_json_string(&j, dbmgmt_result_is_null(res, i) ? NULL : dbmgmt_result_text(res, i));
    }
    dm_json_object_end(&j);
    dm_buf_putc(line, '\n');
}

/* The locked rows in key order into the stream (after CSV's header); *rows. */
static int arch_write_rows(dbmgmt_archive *a, const dm_arch_keys *keys, dm_arch_out *out,
                           int64_t *rows)
{
    dm_buf line = DM_BUF_INIT;
    dbmgmt_result *res = NULL;
    int rc = DBMGMT_OK;
    if (a->format == DBMGMT_ARCHIVE_CSV) {
        for (int32_t i = 0; i < a->ncolumns; i++) {
            if (i > 0)
                dm_buf_putc(&line, ',');
            dm_arch_csv_field(&line, a->columns[i]);
        }
        dm_buf_putc(&line, '\n');
        rc = dm_buf_failed(&line)
                 ? dm_error_set(&a->err, DBMGMT_ERR_NOMEM, "out of memory writing an export")
                 : dm_arch_out_write(out, line.data, line.len, &a->err);
    }
    if (rc == DBMGMT_OK)
        rc = dm_arch_select_rows(a, keys, &res);
    while (rc == DBMGMT_OK && (rc = dbmgmt_result_next(res)) == 1) {
        arch_row(a, res, &line);
        if (dm_buf_failed(&line))
            rc = dm_error_set(&a->err, DBMGMT_ERR_NOMEM, "out of memory writing an export");
        else if ((rc = dm_arch_out_write(out, line.data, line.len, &a->err)) == DBMGMT_OK)
            (*rows)++;
    }
    if (rc < 0 && a->err.code == DBMGMT_OK)
        rc = dm_arch_conn_fail(a, rc, "reading the rows to export");
    dbmgmt_result_free(res);
    dm_buf_free(&line);
    return rc < 0 ? rc : DBMGMT_OK;
}

/* Write and fsync path (a .partial) with the rows of keys. */
static int arch_write_file(dbmgmt_archive *a, const dm_arch_keys *keys, const char *path,
                           int64_t *rows)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return dm_error_set(&a->err, DBMGMT_ERR_IO, "cannot create '%s': %s", path,
                            strerror(errno));
    dm_arch_out *out = NULL;
    int rc = dm_arch_out_open(&out, fd, a->compression, path, &a->err);
    if (rc == DBMGMT_OK) {
        rc = arch_write_rows(a, keys, out, rows);
        int closed = dm_arch_out_close(out, rc == DBMGMT_OK ? &a->err : NULL);
        rc = rc == DBMGMT_OK ? closed : rc;
    }
    if (rc == DBMGMT_OK && fsync(fd) != 0)
        rc = dm_error_set(&a->err, DBMGMT_ERR_IO, "cannot fsync '%s': %s", path,
                          strerror(errno));
    close(fd);
    return rc;
}

int dm_arch_export_batch(dbmgmt_archive *a, const dm_arch_keys *keys, int64_t now)
{
    char stem[128], name[192], hex[65];
    arch_stem(a, stem, sizeof stem);
    int64_t number = dm_arch_catalog_next_number(a);
    if (number < 0)
        return a->err.code;
    snprintf(name, sizeof name, "%s-%08lld%s", stem, (long long)number,
             dm_arch_file_suffix(a->format, a->compression));
    char *final = dm_bk_path(a->target, name);
    size_t flen = final ? strlen(final) : 0;
    char *partial = final ? dm_malloc(flen + sizeof ".partial") : NULL;
    if (!partial) {
        dm_free(final);
        return dm_error_set(&a->err, DBMGMT_ERR_NOMEM, "out of memory naming an export");
    }
    memcpy(partial, final, flen);
    memcpy(partial + flen, ".partial", sizeof ".partial");
    int64_t rows = 0;
    int rc = arch_write_file(a, keys, partial, &rows);
    if (rc == DBMGMT_OK && rows != keys->count)
        rc = dm_error_set(&a->err, DBMGMT_ERR_INTERNAL,
                          "archive of table '%s': %lld rows exported, %d were locked",
                          a->table, (long long)rows, (int)keys->count);
    if (rc == DBMGMT_OK)
        rc = dm_arch_file_sha256(partial, hex, &a->err);
    if (rc == DBMGMT_OK)
        rc = dm_arch_catalog_add(a, name, keys->keys[0], keys->keys[keys->count - 1], rows,
                                 hex, now);
    if (rc == DBMGMT_OK && rename(partial, final) != 0)
        rc = dm_error_set(&a->err, DBMGMT_ERR_IO, "cannot rename '%s': %s", partial,
                          strerror(errno));
    if (rc == DBMGMT_OK)
        rc = dm_bk_fsync_dir(a->target, &a->err);
    if (rc == DBMGMT_OK)
        rc = dm_arch_delete_keys(a, keys, rows, NULL);
    if (rc == DBMGMT_OK) {
        snprintf(a->pending_file, sizeof a->pending_file, "%s", name);
        a->pending_rows = rows;
    }
    dm_free(partial);
    dm_free(final);
    return rc;
}

int dm_arch_export_committed(dbmgmt_archive *a)
{
    int rc = dm_arch_catalog_mark_deleted(a, a->pending_file);
    if (rc == DBMGMT_OK) {
        a->metrics[DBMGMT_ARCHIVE_FILES]++;
        a->metrics[DBMGMT_ARCHIVE_ROWS_EXPORTED] += a->pending_rows;
    }
    a->pending_file[0] = '\0';
    return rc;
}

/* A recorded file whose rows may still be in the table: put it in place,
 * check it, delete its keys, mark it. */
static int arch_finish_file(dbmgmt_archive *a, const char *file, const char *sha256)
{
    char hex[65];
    dm_arch_keys keys = {NULL, 0, 0};
    char *final = dm_bk_path(a->target, file);
    dm_buf partial = DM_BUF_INIT;
    dm_buf_printf(&partial, "%s.partial", final ? final : "");
    int rc = !final || dm_buf_failed(&partial)
                 ? dm_error_set(&a->err, DBMGMT_ERR_NOMEM, "out of memory resuming an export")
                 : DBMGMT_OK;
    if (rc == DBMGMT_OK && access(final, F_OK) != 0 && access(partial.data, F_OK) == 0) {
        if (rename(partial.data, final) != 0)
            rc = dm_error_set(&a->err, DBMGMT_ERR_IO, "cannot rename '%s': %s", partial.data,
                              strerror(errno));
        else
            rc = dm_bk_fsync_dir(a->target, &a->err);
    }
    if (rc == DBMGMT_OK)
        rc = dm_arch_file_sha256(final, hex, &a->err);
    if (rc == DBMGMT_OK && strcmp(hex, sha256) != 0)
        rc = dm_error_set(&a->err, DBMGMT_ERR_CHECKSUM,
                          "archive of table '%s': '%s' does not match its recorded SHA-256; "
                          "its rows were left in the table",
                          a->table, final);
    if (rc == DBMGMT_OK)
        rc = dm_arch_file_keys(final, a->key_column, &keys, &a->err);
    if (rc == DBMGMT_OK)
        rc = dm_arch_begin(a);
    for (int32_t at = 0; rc == DBMGMT_OK && at < keys.count; at += a->batch_size) {
        dm_arch_keys part = {keys.keys + at, keys.count - at, 0};
        if (part.count > a->batch_size)
            part.count = a->batch_size;
        rc = dm_arch_delete_keys(a, &part, -1, NULL);
    }
    if (rc == DBMGMT_OK)
        rc = dm_arch_commit(a);
    else
        dm_arch_rollback(a);
    if (rc == DBMGMT_OK)
        rc = dm_arch_catalog_mark_deleted(a, file);
    if (rc == DBMGMT_OK)
        a->metrics[DBMGMT_ARCHIVE_RESUMED]++;
    dm_arch_keys_clear(&keys);
    dm_free(keys.keys);
    dm_buf_free(&partial);
    dm_free(final);
    return rc;
}

/* .partial files of this table that no catalog row names: a run killed
 * before recording them; their rows were never deleted. */
static int arch_remove_stray_partials(dbmgmt_archive *a)
{
    char stem[128];
    arch_stem(a, stem, sizeof stem);
    size_t slen = strlen(stem);
    DIR *d = opendir(a->target);
    if (!d)
        return dm_error_set(&a->err, DBMGMT_ERR_IO, "cannot read the export folder '%s': %s",
                            a->target, strerror(errno));
    int rc = DBMGMT_OK;
    struct dirent *e;
    while (rc == DBMGMT_OK && (e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name);
        if (n <= slen + 9 || strncmp(e->d_name, stem, slen) != 0 || e->d_name[slen] != '-' ||
            strcmp(e->d_name + n - 8, ".partial") != 0)
            continue;
        char recorded[256];
        snprintf(recorded, sizeof recorded, "%.*s", (int)(n - 8), e->d_name);
        int has = dm_arch_catalog_has(a, recorded);
        if (has < 0) {
            rc = has;
        } else if (!has) {
            char *path = dm_bk_path(a->target, e->d_name);
            if (!path)
                rc = dm_error_set(&a->err, DBMGMT_ERR_NOMEM, "out of memory");
            else if (unlink(path) != 0 && errno != ENOENT)
                rc = dm_error_set(&a->err, DBMGMT_ERR_IO, "cannot remove '%s': %s", path,
                                  strerror(errno));
            dm_free(path);
        }
    }
    closedir(d);
    return rc;
}

int dm_arch_export_resume(dbmgmt_archive *a)
{
    int found = 1, rc = DBMGMT_OK;
    while (rc == DBMGMT_OK && found)
        rc = dm_arch_catalog_pending(a, arch_finish_file, &found);
    if (rc == DBMGMT_OK)
        rc = arch_remove_stray_partials(a);
    return rc;
}
