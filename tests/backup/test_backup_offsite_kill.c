/*
 * SIGKILL during off-site copies (issue 21): a child takes backups of a
 * 6 MiB SQLite database in a loop, each copied off-site, pruning as it
 * goes, and is killed 24 times: half at a random moment, half a random
 * 0-3 ms after a copy's partial file appeared in the off-site folder. After each kill, before
 * any cleanup, every catalog row has its file in the backup folder and every
 * copy row its file in the off-site folder with the recorded size and
 * SHA-256 (sha256sum, not the library); then a new scheduler (which cleans
 * up) leaves no partial file in either folder and no copy without its row,
 * and a tick copies every verified backup that has no copy yet. The kills
 * that hit a copy in flight (a partial file in the off-site folder) are
 * counted; at least a quarter must, or the test proved nothing.
 */
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include <dbmgmt.h>

#include "offsite_support.h"
#include "support/files.h"

#define RUNS 24

static char dir[64], dsn[160], backups[160], off[160], off_real[PATH_MAX];

/* Every backups row has its file (size); every copy row its file at its
 * location with the recorded size and SHA-256. Returns the number of copy
 * rows at the off-site folder. */
static int check_catalog(int *verified_without_copy)
{
    char cat[200];
    snprintf(cat, sizeof cat, "%s/catalog.db", backups);
    sqlite3 *db = NULL;
    /* Read-write: a kill inside a write transaction leaves a hot journal,
     * which a reader must roll back (as SQLite does on first read). */
    assert_int_equal(sqlite3_open_v2(cat, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT file, size FROM backups", -1, &st, NULL),
                     SQLITE_OK);
    while (sqlite3_step(st) == SQLITE_ROW) {
        char path[400];
        snprintf(path, sizeof path, "%s/%s", backups, (const char *)sqlite3_column_text(st, 0));
        if (offsite_size(path) != sqlite3_column_int64(st, 1))
            fail_msg("catalog row without its file: %s", path);
    }
    sqlite3_finalize(st);
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "SELECT location, file, size, sha256 FROM backup_copies",
                                        -1, &st, NULL),
                     SQLITE_OK);
    int copies = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *location = (const char *)sqlite3_column_text(st, 0);
        assert_string_equal(location, off_real);
        char path[400], sha[65];
        snprintf(path, sizeof path, "%s/%s", location, (const char *)sqlite3_column_text(st, 1));
        if (offsite_size(path) != sqlite3_column_int64(st, 2))
            fail_msg("copy row without its file: %s", path);
        assert_int_equal(offsite_sha256(path, sha), 0);
        assert_string_equal(sha, (const char *)sqlite3_column_text(st, 3));
        copies++;
    }
    sqlite3_finalize(st);
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "SELECT COUNT(*) FROM backups WHERE verify_ok = 1 AND "
                                        "id NOT IN (SELECT backup_id FROM backup_copies)",
                                        -1, &st, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    *verified_without_copy = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return copies;
}

static void child_loop(void)
{
    dbmgmt_backup *b = NULL;
    dbmgmt_retention *r = NULL;
    if (dbmgmt_backup_new(&b, dsn, backups) != DBMGMT_OK ||
        dbmgmt_backup_set_offsite(b, off) != DBMGMT_OK || dbmgmt_retention_new(&r) != DBMGMT_OK ||
        dbmgmt_retention_set_keep(r, DBMGMT_KEEP_LAST, 2) != DBMGMT_OK ||
        dbmgmt_backup_set_retention(b, r) != DBMGMT_OK)
        _exit(2);
    for (;;) {
        dbmgmt_backup_run_now(b, NULL);
        dbmgmt_backup_prune(b, 0);
    }
}

static void test_kill_during_offsite_copies(void **state)
{
    (void)state;
    assert_int_equal(support_scratch_dir(dir, sizeof dir, "dbmgmt-bkoffkill"), 0);
    snprintf(dsn, sizeof dsn, "sqlite://%s/app.db", dir);
    snprintf(backups, sizeof backups, "%s/backups", dir);
    snprintf(off, sizeof off, "%s/offsite", dir);
    assert_int_equal(mkdir(off, 0700), 0);
    assert_non_null(realpath(off, off_real));
    dbmgmt_conn *c = NULL;
    assert_int_equal(dbmgmt_conn_open(&c, dsn), DBMGMT_OK);
    assert_int_equal(dbmgmt_conn_exec(c, "CREATE TABLE blobs(id INTEGER PRIMARY KEY, b BLOB);"
                                         "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 "
                                         "FROM n WHERE i < 96) INSERT INTO blobs(b) "
                                         "SELECT randomblob(65536) FROM n;"),
                     DBMGMT_OK);
    dbmgmt_conn_close(c);
    dbmgmt_backup *b = NULL;
    assert_int_equal(dbmgmt_backup_new(&b, dsn, backups), DBMGMT_OK);
    dbmgmt_backup_free(b);

    unsigned seed = (unsigned)time(NULL) ^ (unsigned)getpid();
    printf("seed %u\n", seed);
    srand(seed);
    int caught_in_copy = 0, copies_seen = 0;
    for (int run = 0; run < RUNS; run++) {
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0)
            child_loop();
        if (run % 2 == 0) {
            /* anywhere: setup, backup, verify, copy, prune */
            usleep((useconds_t)(20000 + rand() % 400000));
        } else {
            /* aimed: once a copy is in flight, a little later (on a loaded
             * machine random moments alone may all miss the copies) */
            for (int i = 0; i < 50000 && offsite_count(off, ".partial-") == 0; i++)
                usleep(100);
            usleep((useconds_t)(rand() % 3000));
        }
        kill(pid, SIGKILL);
        int status = 0;
        waitpid(pid, &status, 0);
        if (!WIFSIGNALED(status))
            fail_msg("run %d: the child exited with %d before the kill", run,
                     WEXITSTATUS(status));
        if (offsite_count(off, ".partial-") > 0)
            caught_in_copy++;
        int missing = 0;
        check_catalog(&missing); /* as the kill left it */

        /* A new scheduler cleans up; a tick completes the missing copies. */
        assert_int_equal(dbmgmt_backup_new(&b, dsn, backups), DBMGMT_OK);
        assert_int_equal(dbmgmt_backup_set_offsite(b, off), DBMGMT_OK);
        assert_int_equal(offsite_count(off, ".partial-"), 0);
        assert_int_equal(offsite_count(backups, ".partial-"), 0);
        int copies = check_catalog(&missing);
        assert_int_equal(offsite_count(off, NULL), copies); /* no copy without its row */
        if (dbmgmt_backup_tick(b, (int64_t)time(NULL)) < 0)
            fail_msg("tick: %s", dbmgmt_backup_errmsg(b));
        copies = check_catalog(&missing);
        assert_int_equal(missing, 0);
        assert_int_equal(offsite_count(off, NULL), copies);
        copies_seen += copies;
        dbmgmt_backup_free(b);
    }
    printf("%d of %d kills hit a copy in flight; %d copies checked\n", caught_in_copy, RUNS,
           copies_seen);
    assert_true(caught_in_copy >= RUNS / 4);
    assert_true(copies_seen >= RUNS);
    assert_int_equal(support_remove_tree(dir), 0);
}

int main(void)
{
    if (system("sha256sum /dev/null >/dev/null 2>&1") != 0) {
        printf("sha256sum (coreutils) is missing\n");
        return getenv("CI") && !strcmp(getenv("CI"), "true") ? 1 : 77;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kill_during_offsite_copies),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
