/*
 * The archive jobs' Prometheus exposition (issue 22, docs/archive.md): each
 * family once with HELP and TYPE, one sample per job labelled table, action
 * and database, values equal to dbmgmt_archive_metric's; a failed run shows
 * as dbmgmt_archive_last_run_failed 1 and counts in runs_failed; a schedule
 * gives the next run's time; two jobs with the same labels are refused; and
 * promtool accepts the text (a missing promtool fails under CI=true).
 * SQLite files made by the test.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "dbmgmt/archive.h"
#include "dbmgmt/common.h"
#include "support/files.h"

static char dir[256], db_path[300], url[320];

static void make_db(void)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(db_path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db,
                                  "CREATE TABLE ev(id INTEGER PRIMARY KEY, t INTEGER NOT NULL);"
                                  "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n"
                                  " WHERE i < 300) INSERT INTO ev SELECT i, CASE WHEN i <= 250"
                                  " THEN 1000 + i ELSE 1800000000 END FROM n;"
                                  "CREATE TABLE logs(id INTEGER PRIMARY KEY, t INTEGER NOT NULL);"
                                  "INSERT INTO logs VALUES (1, 5), (2, 6);",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
}

static int setup(void **state)
{
    (void)state;
    if (support_scratch_dir(dir, sizeof dir, "dbmgmt-archprom") != 0)
        return -1;
    snprintf(db_path, sizeof db_path, "%s/app.db", dir);
    snprintf(url, sizeof url, "sqlite://%s", db_path);
    make_db();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return support_remove_tree(dir);
}

static dbmgmt_archive *job(const char *table, const char *time_column, int32_t action,
                           const char *target)
{
    dbmgmt_archive *a = NULL;
    assert_int_equal(dbmgmt_archive_new(&a, url, table), DBMGMT_OK);
    assert_int_equal(dbmgmt_archive_set_time_column(a, time_column, DBMGMT_ARCHIVE_TIME_EPOCH),
                     DBMGMT_OK);
    assert_int_equal(dbmgmt_archive_set_window(a, "1d"), DBMGMT_OK);
    assert_int_equal(dbmgmt_archive_set_action(a, action, target), DBMGMT_OK);
    assert_int_equal(dbmgmt_archive_set_batch_size(a, 40), DBMGMT_OK);
    assert_int_equal(dbmgmt_archive_set_batch_time(a, 0, 10, 10000), DBMGMT_OK);
    return a;
}

/* The sample of family name for the job's labels, or -1 when absent; fails
 * the test when the family has no HELP/TYPE or the sample is there twice. */
static double sample_of(const char *text, const char *name, const char *table,
                        const char *action)
{
    char head[256], series[768];
    snprintf(head, sizeof head, "# TYPE %s ", name);
    snprintf(series, sizeof series, "\n%s{table=\"%s\",action=\"%s\",database=\"%s\"} ", name,
             table, action, db_path);
    const char *at = strstr(text, series);
    if (!at)
        return -1;
    assert_non_null(strstr(text, head));
    assert_null(strstr(at + 1, series));
    return strtod(at + strlen(series), NULL);
}

static void check_with_promtool(const char *text)
{
    if (system("command -v promtool >/dev/null 2>&1") != 0) {
        const char *ci = getenv("CI");
        if (ci && strcmp(ci, "true") == 0)
            fail_msg("promtool is missing (CI=true)");
        printf("# promtool missing: the text's format is not checked by it\n");
        return;
    }
    char path[320], cmd[700];
    snprintf(path, sizeof path, "%s/archive.prom", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_true(fputs(text, f) >= 0);
    assert_int_equal(fclose(f), 0);
    snprintf(cmd, sizeof cmd, "promtool check metrics < '%s'", path);
    assert_int_equal(system(cmd), 0);
}

static void test_exposition_of_jobs(void **state)
{
    (void)state;
    char folder[300];
    snprintf(folder, sizeof folder, "%s/export", dir);
    dbmgmt_archive *jobs[3] = {job("ev", "t", DBMGMT_ARCHIVE_EXPORT, folder),
                               job("logs", "t", DBMGMT_ARCHIVE_MOVE, "logs_archive"),
                               job("logs", "created", DBMGMT_ARCHIVE_DELETE, NULL)};
    assert_int_equal(dbmgmt_archive_set_schedule(jobs[1], "0 3 * * *", 0), DBMGMT_OK);
    assert_int_equal(dbmgmt_archive_run(jobs[0], 1800000000), DBMGMT_OK);
    assert_int_equal(dbmgmt_archive_tick(jobs[1], 1799990000), 0); /* records now only */
    assert_int_equal(dbmgmt_archive_run(jobs[1], 1800000000), DBMGMT_OK);
    assert_int_not_equal(dbmgmt_archive_run(jobs[2], 1800000000), DBMGMT_OK); /* no column */

    char *text = NULL;
    assert_int_equal(dbmgmt_archive_to_prometheus(jobs, 3, &text), DBMGMT_OK);
    assert_non_null(text);
    /* the export job: its figures as dbmgmt_archive_metric has them */
    assert_true(sample_of(text, "dbmgmt_archive_rows_exported_total", "ev", "export") == 250);
    assert_true(sample_of(text, "dbmgmt_archive_rows_deleted_total", "ev", "export") == 250);
    assert_true(sample_of(text, "dbmgmt_archive_batches_total", "ev", "export") ==
                (double)dbmgmt_archive_metric(jobs[0], DBMGMT_ARCHIVE_BATCHES));
    assert_true(sample_of(text, "dbmgmt_archive_files_total", "ev", "export") ==
                (double)dbmgmt_archive_metric(jobs[0], DBMGMT_ARCHIVE_FILES));
    assert_true(sample_of(text, "dbmgmt_archive_files_total", "ev", "export") >= 7);
    assert_true(sample_of(text, "dbmgmt_archive_batch_max_seconds", "ev", "export") ==
                (double)dbmgmt_archive_metric(jobs[0], DBMGMT_ARCHIVE_LOCK_MS_MAX) / 1000);
    assert_true(sample_of(text, "dbmgmt_archive_runs_total", "ev", "export") == 1);
    assert_true(sample_of(text, "dbmgmt_archive_last_run_failed", "ev", "export") == 0);
    assert_true(sample_of(text, "dbmgmt_archive_last_success_timestamp_seconds", "ev",
                          "export") == 1800000000);
    assert_true(sample_of(text, "dbmgmt_archive_next_run_timestamp_seconds", "ev", "export") <
                0); /* no schedule */
    /* the move job: its schedule's next run, 03:00 UTC after its last tick */
    assert_true(sample_of(text, "dbmgmt_archive_rows_moved_total", "logs", "move") == 2);
    assert_true(sample_of(text, "dbmgmt_archive_next_run_timestamp_seconds", "logs", "move") ==
                1800068400.0);
    /* the failed job: failed, counted, no success time */
    assert_true(sample_of(text, "dbmgmt_archive_last_run_failed", "logs", "delete") == 1);
    assert_true(sample_of(text, "dbmgmt_archive_runs_failed_total", "logs", "delete") == 1);
    assert_true(sample_of(text, "dbmgmt_archive_runs_total", "logs", "delete") == 0);
    assert_true(sample_of(text, "dbmgmt_archive_last_success_timestamp_seconds", "logs",
                          "delete") < 0);
    assert_int_equal(dbmgmt_archive_metric(jobs[2], DBMGMT_ARCHIVE_RUNS_FAILED), 1);
    /* the database label is the file's path: never the DSN */
    assert_null(strstr(text, "sqlite://"));
    check_with_promtool(text);
    dbmgmt_free(text);

    /* a second run that succeeds clears the failure */
    dbmgmt_archive *fixed = job("logs", "t", DBMGMT_ARCHIVE_DELETE, NULL);
    dbmgmt_archive_free(jobs[2]);
    jobs[2] = fixed;
    assert_int_equal(dbmgmt_archive_run(jobs[2], 1800000000), DBMGMT_OK);
    assert_int_equal(dbmgmt_archive_to_prometheus(&jobs[2], 1, &text), DBMGMT_OK);
    assert_true(sample_of(text, "dbmgmt_archive_last_run_failed", "logs", "delete") == 0);
    dbmgmt_free(text);
    for (int i = 0; i < 3; i++)
        dbmgmt_archive_free(jobs[i]);
}

static void test_same_labels_refused(void **state)
{
    (void)state;
    dbmgmt_archive *jobs[2] = {job("ev", "t", DBMGMT_ARCHIVE_DELETE, NULL),
                               job("ev", "t", DBMGMT_ARCHIVE_DELETE, NULL)};
    char *text = (char *)"untouched";
    assert_int_equal(dbmgmt_archive_to_prometheus(jobs, 2, &text), DBMGMT_ERR_INVALID);
    assert_null(text);
    assert_non_null(strstr(dbmgmt_errmsg(), "jobs 0 and 1 have the same labels (table 'ev'"));
    /* no job: an empty text; NULL out or jobs: refused */
    assert_int_equal(dbmgmt_archive_to_prometheus(NULL, 0, &text), DBMGMT_OK);
    assert_string_equal(text, "");
    dbmgmt_free(text);
    assert_int_equal(dbmgmt_archive_to_prometheus(jobs, 2, NULL), DBMGMT_ERR_INVALID);
    assert_int_equal(dbmgmt_archive_to_prometheus(NULL, 1, &text), DBMGMT_ERR_INVALID);
    dbmgmt_archive_free(jobs[0]);
    dbmgmt_archive_free(jobs[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exposition_of_jobs),
        cmocka_unit_test(test_same_labels_refused),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
