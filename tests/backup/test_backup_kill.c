/*
 * A process killed (SIGKILL) in the middle of a backup leaves no catalog
 * entry and no file under the backup's final name; the next scheduler on the
 * folder removes the partial file and works normally.
 */
#include <dirent.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include <dbmgmt.h>

#include "support/files.h"

/* Counts of files in dir: partial ones and finished backups. */
static void count_files(const char *dir, int *partial, int *finished)
{
    *partial = *finished = 0;
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *ent;
    while ((ent = readdir(d)) != NULL) {
        if (strstr(ent->d_name, ".partial-"))
            (*partial)++;
        else if (strstr(ent->d_name, ".sqlite"))
            (*finished)++;
    }
    closedir(d);
}

static void test_kill_during_backup_leaves_no_entry_and_no_final_file(void **state)
{
    (void)state;
    char dir[64], dsn[160], backups[160];
    assert_int_equal(support_scratch_dir(dir, sizeof dir, "dbmgmt-bkkill"), 0);
    snprintf(dsn, sizeof dsn, "sqlite://%s/app.db", dir);
    snprintf(backups, sizeof backups, "%s/backups", dir);
    dbmgmt_conn *c = NULL;
    assert_int_equal(dbmgmt_conn_open(&c, dsn), DBMGMT_OK);
    /* 128 MiB: a backup takes long enough to be caught in the middle. */
    assert_int_equal(dbmgmt_conn_exec(c, "CREATE TABLE blobs(id INTEGER PRIMARY KEY, b BLOB);"
                                         "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 "
                                         "FROM n WHERE i < 128) INSERT INTO blobs(b) "
                                         "SELECT randomblob(1048576) FROM n;"),
                     DBMGMT_OK);
    dbmgmt_conn_close(c);
    dbmgmt_backup *b = NULL;
    assert_int_equal(dbmgmt_backup_new(&b, dsn, backups), DBMGMT_OK);
    dbmgmt_backup_free(b);

    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dbmgmt_backup *cb = NULL;
        if (dbmgmt_backup_new(&cb, dsn, backups) != DBMGMT_OK)
            _exit(2);
        dbmgmt_backup_run_now(cb, NULL);
        _exit(3); /* finished before the kill: the parent fails the test */
    }
    int partial = 0, finished = 0, seen = 0;
    for (int i = 0; i < 20000 && !seen; i++) {
        count_files(backups, &partial, &finished);
        seen = partial > 0;
        if (!seen)
            usleep(200);
    }
    usleep(20000); /* well inside the copy */
    kill(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
    assert_true(seen);
    assert_true(WIFSIGNALED(status));

    count_files(backups, &partial, &finished);
    assert_int_equal(finished, 0);
    assert_int_equal(partial, 1);
    assert_int_equal(dbmgmt_backup_new(&b, dsn, backups), DBMGMT_OK);
    assert_int_equal(dbmgmt_backup_metric(b, DBMGMT_BACKUP_COUNT), 0);
    char *json = dbmgmt_backup_list_json(b);
    assert_string_equal(json, "[]");
    dbmgmt_free(json);
    count_files(backups, &partial, &finished);
    assert_int_equal(partial, 0); /* the leftover of the dead process is gone */
    assert_int_equal(dbmgmt_backup_run_now(b, NULL), DBMGMT_OK);
    assert_int_equal(dbmgmt_backup_metric(b, DBMGMT_BACKUP_COUNT), 1);
    dbmgmt_backup_free(b);
    assert_int_equal(support_remove_tree(dir), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kill_during_backup_leaves_no_entry_and_no_final_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
