/*
 * Directory trees for the mariadb-backup engine (engine_mariadb.c): a
 * backup is a folder, so its scratch copies, the ownership of a restored
 * data directory and the removal of a pruned or failed backup walk trees.
 * nftw with FTW_PHYS: symbolic links are copied as links, never followed.
 */
#include "backup_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/buf.h"

#define OPEN_FDS 32

/* Copy src into dst (created), files 0600/0700 as they were, fsync-ed
 * where dm_bk_copy_file does. */
static int copy_entry(const char *src, const char *dst, const struct stat *st, dm_error *err)
{
    if (S_ISDIR(st->st_mode)) {
        if (mkdir(dst, st->st_mode & 07777) != 0 && errno != EEXIST)
            return dm_error_set(err, DBMGMT_ERR_IO, "cannot create '%s': %s", dst,
                                strerror(errno));
        return DBMGMT_OK;
    }
    if (S_ISLNK(st->st_mode)) {
        char link[PATH_MAX];
        ssize_t n = readlink(src, link, sizeof link - 1);
        if (n < 0)
            return dm_error_set(err, DBMGMT_ERR_IO, "cannot read link '%s': %s", src,
                                strerror(errno));
        link[n] = '\0';
        if (symlink(link, dst) != 0)
            return dm_error_set(err, DBMGMT_ERR_IO, "cannot create link '%s': %s", dst,
                                strerror(errno));
        return DBMGMT_OK;
    }
    if (!S_ISREG(st->st_mode))
        return DBMGMT_OK;
    int in = open(src, O_RDONLY | O_CLOEXEC);
    int out = in < 0 ? -1 : open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, st->st_mode & 0777);
    int rc = DBMGMT_OK;
    if (in < 0 || out < 0 || dm_bk_copy_fd(in, out) != 0)
        rc = dm_error_set(err, DBMGMT_ERR_IO, "cannot copy '%s' to '%s': %s", src, dst,
                          strerror(errno));
    if (in >= 0)
        close(in);
    if (out >= 0)
        close(out);
    return rc;
}

/* nftw has no user pointer: the walk's state lives in a thread-local. */
typedef struct tree_walk {
    const char *src;
    size_t src_len;
    const char *dst;
    uid_t uid;
    gid_t gid;
    dm_error *err;
    int rc;
    dm_buf *out; /* hash_one: the manifest's lines */
} tree_walk;

static _Thread_local tree_walk *walk;

static int copy_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)flag;
    (void)ftw;
    dm_buf dst = DM_BUF_INIT;
    dm_buf_printf(&dst, "%s%s", walk->dst, path + walk->src_len);
    walk->rc = dm_buf_failed(&dst) ? dm_error_set(walk->err, DBMGMT_ERR_NOMEM, "out of memory")
                                   : copy_entry(path, dst.data, st, walk->err);
    dm_buf_free(&dst);
    return walk->rc != DBMGMT_OK;
}

static int chown_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    if (lchown(path, walk->uid, walk->gid) != 0)
        walk->rc = dm_error_set(walk->err, DBMGMT_ERR_IO, "cannot give '%s' to uid %ld: %s",
                                path, (long)walk->uid, strerror(errno));
    return walk->rc != DBMGMT_OK;
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    if (flag == FTW_DP)
        rmdir(path);
    else
        unlink(path);
    return 0;
}

static int run_walk(tree_walk *w, const char *dir, int flags,
                    int (*fn)(const char *, const struct stat *, int, struct FTW *))
{
    tree_walk *saved = walk;
    walk = w;
    int r = nftw(dir, fn, OPEN_FDS, flags);
    walk = saved;
    if (r != 0 && w->rc == DBMGMT_OK && w->err)
        w->rc = dm_error_set(w->err, DBMGMT_ERR_IO, "cannot walk '%s': %s", dir, strerror(errno));
    return w->rc;
}

int dm_mdb_copy_tree(const char *src, const char *dst, dm_error *err)
{
    tree_walk w = {src, strlen(src), dst, 0, 0, err, DBMGMT_OK, NULL};
    return run_walk(&w, src, FTW_PHYS, copy_one);
}

int dm_mdb_chown_tree(const char *dir, uid_t uid, gid_t gid, dm_error *err)
{
    tree_walk w = {dir, strlen(dir), NULL, uid, gid, err, DBMGMT_OK, NULL};
    return run_walk(&w, dir, FTW_PHYS, chown_one);
}

void dm_mdb_remove_tree(const char *dir)
{
    struct stat st;
    if (lstat(dir, &st) != 0)
        return;
    tree_walk w = {dir, strlen(dir), NULL, 0, 0, NULL, DBMGMT_OK, NULL};
    run_walk(&w, dir, FTW_PHYS | FTW_DEPTH, remove_one);
}

static int hash_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)flag;
    (void)ftw;
    if (!S_ISREG(st->st_mode))
        return 0;
    int64_t size = 0;
    char hex[65];
    walk->rc = dm_bk_hash_file(path, &size, hex, walk->err);
    if (walk->rc == DBMGMT_OK)
        dm_buf_printf(walk->out, "file %s %lld %s\n", hex, (long long)size,
                      path + walk->src_len + 1);
    return walk->rc != DBMGMT_OK;
}

int dm_mdb_hash_tree(const char *dir, dm_buf *out, dm_error *err)
{
    tree_walk w = {dir, strlen(dir), NULL, 0, 0, err, DBMGMT_OK, out};
    return run_walk(&w, dir, FTW_PHYS, hash_one);
}

static int list_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)flag;
    (void)ftw;
    if (S_ISREG(st->st_mode))
        dm_buf_printf(walk->out, "%s\n", path + walk->src_len + 1);
    return 0;
}

int dm_mdb_list_tree(const char *dir, dm_buf *out, dm_error *err)
{
    tree_walk w = {dir, strlen(dir), NULL, 0, 0, err, DBMGMT_OK, out};
    int rc = run_walk(&w, dir, FTW_PHYS, list_one);
    return rc == DBMGMT_OK && dm_buf_failed(out)
               ? dm_error_set(err, DBMGMT_ERR_NOMEM, "out of memory")
               : rc;
}
