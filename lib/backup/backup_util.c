/* Files and row counts for lib/backup. */
#include "backup_impl.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/sha256.h"

int dm_bk_counts_add(dm_bk_counts *c, const char *table, int64_t rows)
{
    if (c->n == c->cap) {
        size_t ncap = c->cap ? c->cap * 2 : 8;
        char **t = dm_realloc(c->tables, ncap * sizeof *t);
        if (!t)
            return DBMGMT_ERR_NOMEM;
        c->tables = t;
        int64_t *r = dm_realloc(c->rows, ncap * sizeof *r);
        if (!r)
            return DBMGMT_ERR_NOMEM;
        c->rows = r;
        c->cap = ncap;
    }
    char *name = dm_strdup(table ? table : "");
    if (!name)
        return DBMGMT_ERR_NOMEM;
    c->tables[c->n] = name;
    c->rows[c->n] = rows;
    c->n++;
    return DBMGMT_OK;
}

void dm_bk_counts_clear(dm_bk_counts *c)
{
    for (size_t i = 0; i < c->n; i++)
        dm_free(c->tables[i]);
    dm_free(c->tables);
    dm_free(c->rows);
    memset(c, 0, sizeof *c);
}

int64_t dm_bk_counts_get(const dm_bk_counts *c, const char *table)
{
    for (size_t i = 0; i < c->n; i++)
        if (strcmp(c->tables[i], table) == 0)
            return c->rows[i];
    return -1;
}

int dm_bk_counts_compare(const dm_bk_counts *expected, const dm_bk_counts *actual, dm_error *err)
{
    for (size_t i = 0; i < expected->n; i++) {
        int64_t got = dm_bk_counts_get(actual, expected->tables[i]);
        if (got < 0)
            return dm_error_set(err, DBMGMT_ERR_CHECKSUM,
                                "table '%s' is missing after the restore", expected->tables[i]);
        if (got != expected->rows[i])
            return dm_error_set(err, DBMGMT_ERR_CHECKSUM,
                                "table '%s' has %" PRId64 " rows after the restore, %" PRId64
                                " at backup time",
                                expected->tables[i], got, expected->rows[i]);
    }
    return DBMGMT_OK;
}

char *dm_bk_path(const char *dir, const char *name)
{
    size_t a = strlen(dir), b = strlen(name);
    char *p = dm_malloc(a + b + 2);
    if (!p)
        return NULL;
    memcpy(p, dir, a);
    p[a] = '/';
    memcpy(p + a + 1, name, b + 1);
    return p;
}

int dm_bk_write_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

/* Not O_TRUNC: ext4 (auto_da_alloc) starts writing back, when it is closed,
 * every file a truncate left empty, even one that already was. A private
 * plaintext file the library creates empty and then fills would be written
 * to disk at its close for nothing (it is removed unwritten otherwise): 0.4 s
 * a GB and the disk's bandwidth. A file with content is emptied, as
 * O_TRUNC would. */
int dm_bk_open_output(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    struct stat st;
    if (fd >= 0 && fstat(fd, &st) == 0 && st.st_size > 0 && ftruncate(fd, 0) != 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}

/* Start writing bytes [from, to) of fd to disk without waiting (Linux's
 * sync_file_range), so that a file written in a stream reaches the disk
 * while the rest is produced and its fsync waits for the tail only. A
 * hint: a failure is the fsync's to report. */
void dm_bk_start_writeback(int fd, int64_t from, int64_t to)
{
#ifdef SYNC_FILE_RANGE_WRITE
    if (to > from)
        (void)sync_file_range(fd, from, to - from, SYNC_FILE_RANGE_WRITE);
#else
    (void)fd, (void)from, (void)to;
#endif
}

int dm_bk_fsync_path(const char *path, dm_error *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return dm_error_set(err, DBMGMT_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
    int rc = fsync(fd);
    int saved = errno;
    close(fd);
    if (rc != 0)
        return dm_error_set(err, DBMGMT_ERR_IO, "cannot fsync '%s': %s", path, strerror(saved));
    return DBMGMT_OK;
}

int dm_bk_fsync_dir(const char *dir, dm_error *err)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return dm_error_set(err, DBMGMT_ERR_IO, "cannot open '%s': %s", dir, strerror(errno));
    int rc = fsync(fd);
    int saved = errno;
    close(fd);
    /* Some file systems refuse fsync on a folder; the rename is then as
     * durable as they make it. */
    if (rc != 0 && saved != EINVAL && saved != EBADF)
        return dm_error_set(err, DBMGMT_ERR_IO, "cannot fsync '%s': %s", dir, strerror(saved));
    return DBMGMT_OK;
}

int dm_bk_hash_file(const char *path, int64_t *size, char hex[65], dm_error *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return dm_error_set(err, errno == ENOENT ? DBMGMT_ERR_NOTFOUND : DBMGMT_ERR_IO,
                            "cannot open '%s': %s", path, strerror(errno));
    unsigned char *chunk = dm_malloc(DM_BK_IO_CHUNK);
    if (!chunk) {
        close(fd);
        return dm_error_set(err, DBMGMT_ERR_NOMEM, "out of memory hashing '%s'", path);
    }
    dm_sha256 ctx;
    dm_sha256_init(&ctx);
    int64_t total = 0;
    int status = DBMGMT_OK;
    for (;;) {
        ssize_t n = read(fd, chunk, DM_BK_IO_CHUNK);
        if (n == 0)
            break;
        if (n < 0) {
            if (errno == EINTR)
                continue;
            status = dm_error_set(err, DBMGMT_ERR_IO, "cannot read '%s': %s", path,
                                  strerror(errno));
            break;
        }
        dm_sha256_update(&ctx, chunk, (size_t)n);
        total += n;
    }
    close(fd);
    dm_free(chunk);
    if (status != DBMGMT_OK)
        return status;
    dm_sha256_final_hex(&ctx, hex);
    *size = total;
    return DBMGMT_OK;
}

/* pread/write from offset *off to the end of in. */
static int copy_with_pread_write(int in, off_t off, int out)
{
    char *chunk = dm_malloc(DM_BK_IO_CHUNK);
    if (!chunk) {
        errno = ENOMEM;
        return -1;
    }
    int rc = 0;
    for (;;) {
        ssize_t n = pread(in, chunk, DM_BK_IO_CHUNK, off);
        if (n == 0)
            break;
        if (n < 0) {
            if (errno == EINTR)
                continue;
            rc = -1;
            break;
        }
        for (ssize_t done = 0; done < n;) {
            ssize_t w = write(out, chunk + done, (size_t)(n - done));
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0) {
                rc = -1;
                break;
            }
            done += w;
        }
        if (rc)
            break;
        off += n;
    }
    dm_free(chunk);
    return rc;
}

int dm_bk_copy_fd(int in, int out)
{
    off_t off = 0;
    for (;;) {
        ssize_t n = copy_file_range(in, &off, out, NULL, (size_t)1 << 30, 0);
        if (n == 0)
            return 0;
        if (n > 0)
            continue;
        if (errno == EINTR)
            continue;
        if (errno == EXDEV || errno == EINVAL || errno == ENOSYS || errno == EOPNOTSUPP)
            return copy_with_pread_write(in, off, out);
        return -1;
    }
}

int dm_bk_copy_file(const char *src_path, const char *dst_path, dm_error *err)
{
    int in = open(src_path, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return dm_error_set(err, DBMGMT_ERR_IO, "cannot open '%s': %s", src_path,
                            strerror(errno));
    int out = open(dst_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (out < 0) {
        close(in);
        return dm_error_set(err, DBMGMT_ERR_IO, "cannot create '%s': %s", dst_path,
                            strerror(errno));
    }
    int status = DBMGMT_OK;
    if (dm_bk_copy_fd(in, out) != 0)
        status = dm_error_set(err, DBMGMT_ERR_IO, "cannot copy '%s' to '%s': %s", src_path,
                              dst_path, strerror(errno));
    if (status == DBMGMT_OK && fsync(out) != 0)
        status = dm_error_set(err, DBMGMT_ERR_IO, "cannot fsync '%s': %s", dst_path,
                              strerror(errno));
    close(in);
    if (close(out) != 0 && status == DBMGMT_OK)
        status = dm_error_set(err, DBMGMT_ERR_IO, "cannot write '%s': %s", dst_path,
                              strerror(errno));
    return status;
}

int dm_bk_empty_dir(const char *dir, unsigned mode, const char *what, dm_error *err)
{
    if (mkdir(dir, (mode_t)mode) != 0 && errno != EEXIST)
        return dm_error_set(err, DBMGMT_ERR_IO, "cannot create '%s': %s", dir, strerror(errno));
    DIR *d = opendir(dir);
    if (!d)
        return dm_error_set(err, DBMGMT_ERR_IO, "cannot open '%s': %s", dir, strerror(errno));
    struct dirent *ent;
    int empty = 1;
    while (empty && (ent = readdir(d)) != NULL)
        empty = !strcmp(ent->d_name, ".") || !strcmp(ent->d_name, "..");
    closedir(d);
    if (!empty)
        return dm_error_set(err, DBMGMT_ERR_POLICY,
                            "restore target '%s' is not empty: a %s goes into an empty or new "
                            "data directory", dir, what);
    return DBMGMT_OK;
}
