/*
 * The SQLite engine. Every path copies under one read transaction of the
 * source, so the copy is a snapshot.
 *
 * A database in rollback-journal mode (SQLite's default): under the SHARED
 * lock, which no writer can get past to change the file, the file is copied
 * from the connection's own descriptor with dm_bk_copy_fd (copy_file_range,
 * else pread; with another VFS, read through its xRead in 256 KiB chunks)
 * and written out. That
 * is what a single backup step does, without the per-page pager work, so
 * writers wait for less time (the copy runs at cp's speed: docs/backup.md).
 * Never from SQLite's memory map: write() from a fresh mapping takes a page
 * fault per 4 KiB page, which made the copy 1.6-2.5x slower than cp.
 *
 * A database in WAL mode: under a WAL read lock (writers go on) the file
 * and its -wal are copied the same way and the copy's WAL folded in by a
 * checkpoint (backup_wal_raw says why that is consistent). With a VFS whose
 * descriptor cannot be used, the online backup API runs in steps: a step
 * holds the read lock only while it copies STEP_PAGES pages, but a write
 * from another connection restarts the copy, so after MAX_RESTARTS restarts
 * (or STEP_PHASE_MS) the rest is copied in one step, which in WAL mode
 * never blocks writers.
 *
 * The source is read through SQLite's descriptor, not a second one of ours,
 * because closing any descriptor of a file drops every POSIX lock the
 * process holds on it — the host's own connections' included. (SQLite takes
 * no POSIX locks on a -wal file, so that one is opened separately.)
 */
#include "backup_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/clock.h"
#include "drivers/driver.h"

#define STEP_PAGES 4096         /* 16 MiB of 4 KiB pages per step */
#define MAX_RESTARTS 3
#define STEP_PHASE_MS 30000
#define LOCK_WAIT_MS 60000      /* give up when the source stays locked this long */
#define BUSY_SLEEP_MS 5
#define SOURCE_MMAP_BYTES "2147418112" /* SQLite's default mmap ceiling */

static int sqlite_backup_api(const char *src_path, const char *dst_path, dm_error *err);

static int sqlite_err(sqlite3 *db, dm_error *err, int code, const char *what, const char *path)
{
    return dm_error_set(err, code, "SQLite backup: %s '%s': %s", what, path,
                        db ? sqlite3_errmsg(db) : "out of memory");
}

static int open_db(const char *path, int flags, sqlite3 **out, dm_error *err)
{
    *out = NULL;
    int rc = sqlite3_open_v2(path, out, flags | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        sqlite_err(*out, err, DBMGMT_ERR_CONNECT, "cannot open", path);
        sqlite3_close_v2(*out);
        *out = NULL;
        return err->code;
    }
    return DBMGMT_OK;
}

/*
 * Open a file of the backup's own (a copy being made, a backup, a restore
 * drill's scratch copy) to read it: as an immutable database, so SQLite
 * takes no locks and, for a copy in WAL mode, creates no -wal and -shm
 * files beside it (a read-only connection cannot remove them again, and
 * they would be left in the backup folder after the file is pruned).
 */
static int open_own_file(const char *path, sqlite3 **out, dm_error *err)
{
    dm_buf uri = DM_BUF_INIT;
    dm_buf_puts(&uri, "file:");
    for (const unsigned char *p = (const unsigned char *)path; *p; p++) {
        if (*p == '%' || *p == '?' || *p == '#' || *p < 0x21 || *p >= 0x7f)
            dm_buf_printf(&uri, "%%%02X", *p);
        else
            dm_buf_putc(&uri, (char)*p);
    }
    dm_buf_puts(&uri, "?immutable=1");
    char *text = dm_buf_detach(&uri);
    if (!text)
        return dm_error_set(err, DBMGMT_ERR_NOMEM, "out of memory opening '%s'", path);
    *out = NULL;
    int rc = sqlite3_open_v2(text, out, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI |
                                            SQLITE_OPEN_NOMUTEX, NULL);
    dm_free(text);
    if (rc != SQLITE_OK) {
        sqlite_err(*out, err, DBMGMT_ERR_CONNECT, "cannot open", path);
        sqlite3_close_v2(*out);
        *out = NULL;
        return err->code;
    }
    return DBMGMT_OK;
}

static int is_busy(int rc)
{
    rc &= 0xff;
    return rc == SQLITE_BUSY || rc == SQLITE_LOCKED;
}

/* Copy the rest in one step, waiting while a writer holds the lock. */
static int backup_single_step(sqlite3_backup *bk, int64_t deadline_ms)
{
    int rc;
    while (is_busy(rc = sqlite3_backup_step(bk, -1)) && dm_monotonic_ms() < deadline_ms)
        dm_sleep_ms(BUSY_SLEEP_MS);
    return rc;
}

/* The stepped copy, falling back to one step under a busy writer.
 * Returns SQLITE_DONE or the failing code. */
static int backup_copy(sqlite3_backup *bk)
{
    int64_t start = dm_monotonic_ms();
    int64_t lock_deadline = start + LOCK_WAIT_MS;
    int restarts = 0;
    int last_remaining = -1;
    for (;;) {
        int rc = sqlite3_backup_step(bk, STEP_PAGES);
        if (rc == SQLITE_DONE)
            return rc;
        if (is_busy(rc)) {
            if (dm_monotonic_ms() >= lock_deadline)
                return rc;
            dm_sleep_ms(BUSY_SLEEP_MS);
            continue;
        }
        if (rc != SQLITE_OK)
            return rc;
        int remaining = sqlite3_backup_remaining(bk);
        if (last_remaining >= 0 && remaining >= last_remaining)
            restarts++; /* the source changed under us: the copy started over */
        last_remaining = remaining;
        if (restarts >= MAX_RESTARTS || dm_monotonic_ms() - start > STEP_PHASE_MS)
            return backup_single_step(bk, dm_monotonic_ms() + LOCK_WAIT_MS);
    }
}

static int64_t pragma_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st = NULL;
    int64_t v = -1;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

static int is_wal(sqlite3 *db)
{
    sqlite3_stmt *st = NULL;
    int wal = 1; /* when in doubt, the backup API */
    if (sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW) {
        const char *mode = (const char *)sqlite3_column_text(st, 0);
        wal = !mode || strcmp(mode, "wal") == 0;
    }
    sqlite3_finalize(st);
    return wal;
}

static int write_all(int fd, const unsigned char *p, int n)
{
    for (int done = 0; done < n;) {
        ssize_t w = write(fd, p + done, (size_t)(n - done));
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return SQLITE_IOERR_WRITE;
        done += (int)w;
    }
    return SQLITE_OK;
}

/*
 * The descriptor of the connection's own file when its VFS is SQLite's unix
 * VFS, else -1. The unix VFS's file object begins {io methods, vfs, inode,
 * descriptor} (so since SQLite 3.7). That is private layout, so the value is
 * used only when the object names the connection's VFS and fstat() shows a
 * readable descriptor of the very file at src_path. The descriptor is never
 * closed or dup()-ed here (see the top of the file), and it stays open
 * while the connection is: it is the connection's own.
 */
static int vfs_file_fd(sqlite3 *db, sqlite3_file *fp, const char *src_path)
{
    struct unix_file_head {
        const sqlite3_io_methods *methods;
        sqlite3_vfs *vfs;
        void *inode;
        int fd;
    };
    sqlite3_vfs *vfs = NULL;
    if (sqlite3_file_control(db, "main", SQLITE_FCNTL_VFS_POINTER, &vfs) != SQLITE_OK || !vfs ||
        !vfs->zName || strncmp(vfs->zName, "unix", 4) != 0 || vfs->szOsFile < 0 ||
        (size_t)vfs->szOsFile < sizeof(struct unix_file_head))
        return -1;
    const struct unix_file_head *head = (const void *)fp;
    if (head->vfs != vfs || head->methods != fp->pMethods || head->fd < 0)
        return -1;
    struct stat a, b;
    int flags = fcntl(head->fd, F_GETFL);
    if (flags < 0 || (flags & O_ACCMODE) == O_WRONLY || fstat(head->fd, &a) != 0 ||
        stat(src_path, &b) != 0 || a.st_dev != b.st_dev || a.st_ino != b.st_ino)
        return -1;
    return head->fd;
}

/* Write the first size bytes of the source's file to fd through the VFS's
 * xRead (plain pread()s: the connection's memory map is off) into buf,
 * which stays in the CPU's cache: for a VFS whose descriptor is not ours to
 * use (see vfs_file_fd). */
static int vfs_read_copy(sqlite3_file *fp, int fd, unsigned char *buf, int64_t size)
{
    for (int64_t off = 0; off < size;) {
        int64_t left = size - off;
        int n = (int)(left < (int64_t)DM_BK_IO_CHUNK ? left : (int64_t)DM_BK_IO_CHUNK);
        int rc = fp->pMethods->xRead(fp, buf, n, off);
        if (rc == SQLITE_OK)
            rc = write_all(fd, buf, n);
        if (rc != SQLITE_OK)
            return rc;
        off += n;
    }
    return SQLITE_OK;
}

/* The rollback-journal path: one read transaction, the file copied whole. */
static int backup_raw(sqlite3 *src, const char *src_path, const char *dst_path, dm_error *err)
{
    sqlite3_busy_timeout(src, LOCK_WAIT_MS);
    int rc = sqlite3_exec(src, "BEGIN", NULL, NULL, NULL);
    /* The first read takes the SHARED lock (and rolls back a hot journal). */
    int64_t pages = rc == SQLITE_OK ? pragma_int(src, "PRAGMA page_count") : -1;
    int64_t page_size = pragma_int(src, "PRAGMA page_size");
    sqlite3_file *fp = NULL;
    if (pages < 0 || page_size <= 0 ||
        sqlite3_file_control(src, "main", SQLITE_FCNTL_FILE_POINTER, &fp) != SQLITE_OK || !fp ||
        !fp->pMethods) {
        sqlite3_exec(src, "ROLLBACK", NULL, NULL, NULL);
        return sqlite_err(src, err, DBMGMT_ERR_IO, "cannot read", src_path);
    }
    /* From the connection's descriptor, in the kernel, as cp does; else
     * through the VFS. */
    int in = vfs_file_fd(src, fp, src_path);
    int fd = dm_bk_open_output(dst_path);
    unsigned char *buf = fd >= 0 && in < 0 ? dm_malloc(DM_BK_IO_CHUNK) : NULL;
    int status = DBMGMT_OK;
    if (fd < 0)
        status = dm_error_set(err, DBMGMT_ERR_IO, "cannot create '%s': %s", dst_path,
                              strerror(errno));
    else if (in >= 0 && dm_bk_copy_fd(in, fd) != 0)
        status = dm_error_set(err, DBMGMT_ERR_IO, "SQLite backup of '%s' to '%s': %s",
                              src_path, dst_path, strerror(errno));
    else if (in < 0 && !buf)
        status = dm_error_set(err, DBMGMT_ERR_NOMEM, "out of memory copying '%s'", src_path);
    else if (in < 0 && (rc = vfs_read_copy(fp, fd, buf, pages * page_size)) != SQLITE_OK)
        status = dm_error_set(err, DBMGMT_ERR_IO, "SQLite backup of '%s' to '%s': %s",
                              src_path, dst_path, sqlite3_errstr(rc));
    sqlite3_exec(src, "COMMIT", NULL, NULL, NULL);
    dm_free(buf);
    if (fd >= 0 && close(fd) != 0 && status == DBMGMT_OK)
        status = dm_error_set(err, DBMGMT_ERR_IO, "cannot write '%s': %s", dst_path,
                              strerror(errno));
    return status;
}

/* Copy what descriptor in reads to a new file at to (0600); from names the
 * source in messages. */
static int copy_fd_to_new_file(int in, const char *from, const char *to, dm_error *err)
{
    int out = dm_bk_open_output(to);
    if (out < 0)
        return dm_error_set(err, DBMGMT_ERR_IO, "cannot create '%s': %s", to, strerror(errno));
    int status = DBMGMT_OK;
    if (dm_bk_copy_fd(in, out) != 0)
        status = dm_error_set(err, DBMGMT_ERR_IO, "cannot copy '%s' to '%s': %s", from, to,
                              strerror(errno));
    if (close(out) != 0 && status == DBMGMT_OK)
        status = dm_error_set(err, DBMGMT_ERR_IO, "cannot write '%s': %s", to, strerror(errno));
    return status;
}

/* The -wal file of src_path copied to that of dst_path, if there is one:
 * a descriptor of our own, which is safe here because SQLite takes no POSIX
 * locks on a -wal file. */
static int copy_wal_file(const char *src_path, const char *dst_path, dm_error *err)
{
    char from[4096], to[4096];
    if ((size_t)snprintf(from, sizeof from, "%s-wal", src_path) >= sizeof from ||
        (size_t)snprintf(to, sizeof to, "%s-wal", dst_path) >= sizeof to)
        return dm_error_set(err, DBMGMT_ERR_INVALID, "SQLite backup: path too long: '%s'",
                            src_path);
    int in = open(from, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return errno == ENOENT ? DBMGMT_OK
                               : dm_error_set(err, DBMGMT_ERR_IO, "cannot open '%s': %s", from,
                                              strerror(errno));
    int status = copy_fd_to_new_file(in, from, to, err);
    close(in);
    return status;
}

/* Fold the copied -wal into the copied database: SQLite recovers the WAL
 * (every complete transaction in it; a torn tail is ignored) and a TRUNCATE
 * checkpoint writes it into the file. The copy keeps WAL mode in its
 * header, as a backup through the backup API does; -wal and -shm go. */
static int settle_wal_copy(const char *dst_path, dm_error *err)
{
    sqlite3 *db = NULL;
    int status = open_db(dst_path, SQLITE_OPEN_READWRITE, &db, err);
    if (status != DBMGMT_OK)
        return status;
    sqlite3_exec(db, "PRAGMA synchronous=OFF", NULL, NULL, NULL); /* fsync-ed by the caller */
    int log = -1, done = -1;
    int rc = sqlite3_wal_checkpoint_v2(db, "main", SQLITE_CHECKPOINT_TRUNCATE, &log, &done);
    if (rc != SQLITE_OK || log != done)
        status = sqlite_err(db, err, DBMGMT_ERR_IO, "cannot fold the copied WAL into", dst_path);
    if (sqlite3_close(db) != SQLITE_OK && status == DBMGMT_OK)
        status = sqlite_err(db, err, DBMGMT_ERR_IO, "cannot close", dst_path);
    char side[4096];
    const char *const suffixes[] = {"-wal", "-shm"};
    for (size_t i = 0; i < 2; i++)
        if ((size_t)snprintf(side, sizeof side, "%s%s", dst_path, suffixes[i]) < sizeof side)
            unlink(side);
    return status;
}

/*
 * The WAL path, when the connection's descriptor can be used: under one
 * read transaction (a WAL read lock: writers go on, checkpoints cannot
 * write past our snapshot into the file and the WAL cannot restart under
 * us) the database file and then its -wal are copied whole with
 * copy_file_range(); the copy's WAL is then folded into the copy. The file
 * copied may hold pages a checkpoint wrote during the copy, but only from
 * WAL frames the -wal copy holds as well, so recovery sees every page at
 * our snapshot or at a later commit, never older: the copy is the database
 * as of the newest transaction completely in the -wal copy. *used is 0 when
 * the descriptor is not usable (the backup API runs instead).
 */
static int backup_wal_raw(sqlite3 *src, const char *src_path, const char *dst_path, int *used,
                          dm_error *err)
{
    *used = 0;
    sqlite3_busy_timeout(src, LOCK_WAIT_MS);
    int rc = sqlite3_exec(src, "BEGIN", NULL, NULL, NULL);
    int64_t pages = rc == SQLITE_OK ? pragma_int(src, "PRAGMA page_count") : -1;
    sqlite3_file *fp = NULL;
    if (pages < 0 ||
        sqlite3_file_control(src, "main", SQLITE_FCNTL_FILE_POINTER, &fp) != SQLITE_OK || !fp ||
        !fp->pMethods) {
        sqlite3_exec(src, "ROLLBACK", NULL, NULL, NULL);
        return sqlite_err(src, err, DBMGMT_ERR_IO, "cannot read", src_path);
    }
    int in = vfs_file_fd(src, fp, src_path);
    if (in < 0) {
        sqlite3_exec(src, "ROLLBACK", NULL, NULL, NULL);
        return DBMGMT_OK;
    }
    *used = 1;
    int status = copy_fd_to_new_file(in, src_path, dst_path, err);
    if (status == DBMGMT_OK)
        status = copy_wal_file(src_path, dst_path, err);
    sqlite3_exec(src, "COMMIT", NULL, NULL, NULL);
    if (status == DBMGMT_OK)
        status = settle_wal_copy(dst_path, err);
    return status;
}

int dm_sqlite_backup(const char *src_path, const char *dst_path, dm_error *err)
{
    sqlite3 *src = NULL;
    int status = open_db(src_path, SQLITE_OPEN_READONLY, &src, err);
    if (status != DBMGMT_OK)
        return status;
    if (!is_wal(src)) {
        /* No memory map here, whatever SQLite was built with: see above. */
        sqlite3_exec(src, "PRAGMA mmap_size=0", NULL, NULL, NULL);
        status = backup_raw(src, src_path, dst_path, err);
        sqlite3_close_v2(src);
        return status;
    }
    int used = 0;
    status = backup_wal_raw(src, src_path, dst_path, &used, err);
    sqlite3_close_v2(src);
    return used ? status : sqlite_backup_api(src_path, dst_path, err);
}

/* The WAL path for other VFSes: the online backup API in steps. */
static int sqlite_backup_api(const char *src_path, const char *dst_path, dm_error *err)
{
    sqlite3 *src = NULL, *dst = NULL;
    int status = open_db(src_path, SQLITE_OPEN_READONLY, &src, err);
    if (status != DBMGMT_OK)
        return status;
    /* Reads through a memory map skip a system call per page. */
    sqlite3_exec(src, "PRAGMA mmap_size=" SOURCE_MMAP_BYTES, NULL, NULL, NULL);
    status = open_db(dst_path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, &dst, err);
    if (status != DBMGMT_OK)
        goto out;
    /* The destination is a new private file, fsync-ed once at the end by the
     * caller: no journal and no syncs of its own. */
    sqlite3_exec(dst, "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF", NULL, NULL, NULL);
    sqlite3_backup *bk = sqlite3_backup_init(dst, "main", src, "main");
    if (!bk) {
        status = sqlite_err(dst, err, DBMGMT_ERR_IO, "cannot start the backup of", src_path);
        goto out;
    }
    int rc = backup_copy(bk);
    sqlite3_backup_finish(bk);
    if (rc != SQLITE_DONE) {
        status = is_busy(rc) ? dm_error_set(err, DBMGMT_ERR_TIMEOUT,
                                            "SQLite backup of '%s': the database stayed locked "
                                            "for %d s", src_path, LOCK_WAIT_MS / 1000)
                             : dm_error_set(err, DBMGMT_ERR_IO, "SQLite backup of '%s': %s",
                                            src_path, sqlite3_errstr(rc));
        goto out;
    }
    status = DBMGMT_OK;
out:
    if (dst && sqlite3_close(dst) != SQLITE_OK && status == DBMGMT_OK)
        status = sqlite_err(dst, err, DBMGMT_ERR_IO, "cannot close", dst_path);
    sqlite3_close_v2(src);
    return status;
}

int dm_sqlite_check(const char *path, dm_error *err)
{
    sqlite3 *db = NULL;
    int status = open_own_file(path, &db, err);
    if (status != DBMGMT_OK)
        return status;
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, "PRAGMA integrity_check(1)", -1, &st, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const char *result = (const char *)sqlite3_column_text(st, 0);
        if (!result || strcmp(result, "ok") != 0)
            status = dm_error_set(err, DBMGMT_ERR_CHECKSUM,
                                  "PRAGMA integrity_check failed on '%s': %s", path,
                                  result ? result : "(null)");
    } else {
        status = dm_error_set(err, DBMGMT_ERR_CHECKSUM,
                              "PRAGMA integrity_check failed on '%s': %s", path,
                              sqlite3_errmsg(db));
    }
    sqlite3_finalize(st);
    sqlite3_close_v2(db);
    return status;
}

/* SQLITE_NOMEM with *out_of_memory set when the allocation that failed was
 * ours (the query text), not SQLite's. */
static int count_table(sqlite3 *db, const char *table, int64_t *rows, int *out_of_memory)
{
    dm_buf sql = DM_BUF_INIT;
    dm_buf_puts(&sql, "SELECT COUNT(*) FROM ");
    dm_quote_ident_standard(&sql, table);
    if (dm_buf_failed(&sql)) {
        dm_buf_free(&sql);
        *out_of_memory = 1;
        return SQLITE_NOMEM;
    }
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, sql.data, -1, &st, NULL);
    dm_buf_free(&sql);
    if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        *rows = sqlite3_column_int64(st, 0);
        rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    return rc;
}

int dm_sqlite_count(const char *path, dm_bk_counts *counts, dm_error *err)
{
    sqlite3 *db = NULL;
    int status = open_own_file(path, &db, err);
    if (status != DBMGMT_OK)
        return status;
    /* One read transaction: every count sees the same snapshot. */
    sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
    sqlite3_stmt *st = NULL;
    int out_of_memory = 0; /* ours, not SQLite's: sqlite3_errmsg knows nothing of it */
    int rc = sqlite3_prepare_v2(db,
                                "SELECT name FROM sqlite_schema WHERE type = 'table' AND name "
                                "NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND sql NOT LIKE "
                                "'CREATE VIRTUAL%' ORDER BY name",
                                -1, &st, NULL);
    while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *table = (const char *)sqlite3_column_text(st, 0);
        int64_t rows = 0;
        rc = count_table(db, table, &rows, &out_of_memory);
        if (rc == SQLITE_OK && dm_bk_counts_add(counts, table, rows) != DBMGMT_OK)
            rc = SQLITE_NOMEM, out_of_memory = 1;
    }
    sqlite3_finalize(st);
    if (out_of_memory)
        status = dm_error_set(err, DBMGMT_ERR_NOMEM, "out of memory counting the rows of '%s'",
                              path);
    else if (rc != SQLITE_DONE)
        status = sqlite_err(db, err, rc == SQLITE_NOMEM ? DBMGMT_ERR_NOMEM : DBMGMT_ERR_SQL,
                            "cannot count the rows of", path);
    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    sqlite3_close_v2(db);
    return status;
}

int dm_sqlite_copy_file(const char *src_path, const char *dst_path, dm_error *err)
{
    return dm_bk_copy_file(src_path, dst_path, err);
}
