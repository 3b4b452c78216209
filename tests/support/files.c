/*
 * Test support: scratch folders and the files in them (files.h).
 */
#include "files.h"

#include <errno.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

static int scratch_dir_under(char *dir, size_t cap, const char *parent, const char *prefix)
{
    int n = snprintf(dir, cap, "%s/%s-XXXXXX", parent, prefix);
    if (n < 0 || (size_t)n >= cap)
        return -1;
    return mkdtemp(dir) ? 0 : -1;
}

int support_scratch_dir(char *dir, size_t cap, const char *prefix)
{
    return scratch_dir_under(dir, cap, "/tmp", prefix);
}

int support_scratch_dir_on_tmpfs(char *dir, size_t cap, const char *prefix)
{
    const char *parent = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    return scratch_dir_under(dir, cap, parent, prefix);
}

static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st, (void)type, (void)ftw;
    return remove(path) == 0 || errno == ENOENT ? 0 : -1;
}

int support_remove_tree(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return errno == ENOENT ? 0 : -1;
    /* depth first, so that each folder is empty when its turn comes */
    return nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS) == 0 ? 0 : -1;
}

static void join_path(char *out, size_t cap, const char *dir, const char *name)
{
    int n = snprintf(out, cap, "%s/%s", dir, name);
    if (n < 0 || (size_t)n >= cap)
        fail_msg("path too long: %s/%s", dir, name);
}

int support_remove_in(const char *dir, const char *name)
{
    char path[1024];
    join_path(path, sizeof path, dir, name);
    return support_remove_tree(path);
}

void support_write_file(const char *dir, const char *name, const char *text)
{
    char path[1024];
    join_path(path, sizeof path, dir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}
