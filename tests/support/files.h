/*
 * Test support: scratch folders and the files in them (issue 17).
 *
 * Offers support_scratch_dir() and support_scratch_dir_on_tmpfs() (a new
 * folder of the test's own), support_remove_tree() (rm -rf, without a
 * shell), support_write_file() and support_remove_in() (a file or folder
 * named inside a folder). Plain C and cmocka: no libdbmgmt, so unit tests
 * linking the internal archive can use it too.
 */
#ifndef DBMGMT_TESTS_SUPPORT_FILES_H
#define DBMGMT_TESTS_SUPPORT_FILES_H

#include <stddef.h>

/* Creates /tmp/PREFIX-XXXXXX (mkdtemp) and writes its path into dir.
 * Returns 0, or -1 when it does not fit or cannot be made. */
int support_scratch_dir(char *dir, size_t cap, const char *prefix);

/* The same under /dev/shm when that is writable (no fsync reaches a disk),
 * else under /tmp. */
int support_scratch_dir_on_tmpfs(char *dir, size_t cap, const char *prefix);

/* Removes path and everything below it, links not followed. Returns 0 when
 * nothing is left (also when there was nothing), -1 when something stays. */
int support_remove_tree(const char *path);

/* support_remove_tree() of dir/name. */
int support_remove_in(const char *dir, const char *name);

/* Writes text to dir/name, replacing it; fails the test when the file
 * cannot be opened. */
void support_write_file(const char *dir, const char *name, const char *text);

#endif
