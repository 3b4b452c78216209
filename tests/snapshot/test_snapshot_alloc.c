/*
 * Snapshots when allocations fail (issue 22): the core-alloc scenario of
 * snapshots, in a file of its own (tests/unit/test_alloc.c is full). The
 * allocator hook fails the n-th allocation of a SQLite snapshot run, for
 * every n: each run ends in DBMGMT_ERR_NOMEM (or succeeds when the failure
 * hit nothing that matters), with nothing leaked, no target file and no
 * scratch file left; a run without failures then succeeds.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "dbmgmt.h"
#include "support/counting_alloc.h"
#include "support/files.h"

static char dir[128], backup_dir[256], target[400], target_path[300];

static int scratch_files(void)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        n += strstr(e->d_name, ".dbmgmt-snapshot-") != NULL;
    closedir(d);
    return n;
}

static int run_once(void)
{
    char path[400];
    dbmgmt_snapshot *s = NULL;
    int rc = dbmgmt_snapshot_new(&s, backup_dir);
    snprintf(path, sizeof path, "%s/rules", dir);
    if (rc == DBMGMT_OK)
        rc = dbmgmt_snapshot_set_rules_file(s, path);
    snprintf(path, sizeof path, "%s/key", dir);
    if (rc == DBMGMT_OK)
        rc = dbmgmt_snapshot_set_key_file(s, path);
    if (rc == DBMGMT_OK)
        rc = dbmgmt_snapshot_run(s, target);
    if (rc == DBMGMT_OK && !*dbmgmt_snapshot_result_json(s))
        rc = DBMGMT_ERR_INTERNAL;
    dbmgmt_snapshot_free(s);
    return rc;
}

static void test_snapshot_survives_every_failing_allocation(void **state)
{
    (void)state;
    atomic_store(&support_alloc_fail_at, 0);
    atomic_store(&support_alloc_calls, 0);
    long before = atomic_load(&support_alloc_live);
    assert_int_equal(run_once(), DBMGMT_OK);
    long total = atomic_load(&support_alloc_calls);
    assert_true(total >= 20);
    assert_int_equal(atomic_load(&support_alloc_live), before);
    unlink(target_path);
    int failed = 0;
    for (long n = 1; n <= total; n++) {
        atomic_store(&support_alloc_calls, 0);
        atomic_store(&support_alloc_fail_at, n);
        int rc = run_once();
        atomic_store(&support_alloc_fail_at, 0);
        if (rc != DBMGMT_OK && rc != DBMGMT_ERR_NOMEM)
            fail_msg("allocation %ld of %ld failed: %s (%s)", n, total, dbmgmt_status_name(rc),
                     dbmgmt_errmsg());
        if (atomic_load(&support_alloc_live) != before)
            fail_msg("allocation %ld of %ld failed: %ld blocks leaked", n, total,
                     atomic_load(&support_alloc_live) - before);
        assert_int_equal(scratch_files(), 0);
        struct stat st;
        if (rc != DBMGMT_OK && stat(target_path, &st) == 0)
            fail_msg("allocation %ld of %ld failed: the target was left behind", n, total);
        failed += rc != DBMGMT_OK;
        unlink(target_path);
    }
    assert_true(failed > 0);
    assert_int_equal(run_once(), DBMGMT_OK); /* nothing left in the way */
}

static int setup(void **state)
{
    (void)state;
    assert_int_equal(dbmgmt_set_allocator(support_counting_malloc, support_counting_realloc, support_counting_free),
                     DBMGMT_OK);
    assert_int_equal(support_scratch_dir(dir, sizeof dir, "dbmgmt-snapalloc"), 0);
    snprintf(backup_dir, sizeof backup_dir, "%s/backups", dir);
    snprintf(target_path, sizeof target_path, "%s/target.sqlite", dir);
    snprintf(target, sizeof target, "sqlite://%s", target_path);
    char src[300];
    snprintf(src, sizeof src, "sqlite://%s/src.sqlite", dir);
    dbmgmt_conn *c = NULL;
    assert_int_equal(dbmgmt_conn_open(&c, src), DBMGMT_OK);
    assert_int_equal(dbmgmt_conn_exec(c, "CREATE TABLE people (id INTEGER PRIMARY KEY, "
                                         "full_name TEXT, email VARCHAR(80), phone TEXT, "
                                         "birth_date DATE, score INTEGER);"
                                         "INSERT INTO people VALUES (1, 'A B', 'a@b.test', "
                                         "'+4411', '1990-01-02', 5), (2, 'C D', 'c@d.test', "
                                         "NULL, '1980-03-04', 6);"),
                     DBMGMT_OK);
    dbmgmt_conn_close(c);
    dbmgmt_backup *b = NULL;
    assert_int_equal(dbmgmt_backup_new(&b, src, backup_dir), DBMGMT_OK);
    assert_int_equal(dbmgmt_backup_run_now(b, NULL), DBMGMT_OK);
    dbmgmt_backup_free(b);
    support_write_file(dir, "rules", "people.full_name = hash\npeople.email = email\n"
                                     "people.phone = phone\npeople.birth_date = null\n"
                                     "people.score = keep\n");
    support_write_file(dir, "key", "alloc-test-key");
    char key[400];
    snprintf(key, sizeof key, "%s/key", dir);
    assert_int_equal(chmod(key, 0600), 0);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    assert_int_equal(support_remove_tree(dir), 0);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_snapshot_survives_every_failing_allocation),
    };
    return cmocka_run_group_tests_name("snapshot/alloc", tests, setup, teardown);
}
