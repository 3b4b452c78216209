/*
 * dbmgmt_backup_restore_to_time on SQLite: the nearest backup at or before
 * the time, restored into a target file, with the result saying which
 * backup (dbmgmt_backup_restore_info); a time before the first backup is
 * DBMGMT_ERR_NOTFOUND naming the earliest time; the pgbackrest engine is
 * refused for a SQLite DSN and unknown engines are refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <dbmgmt.h>

#include "support/engine.h"
#include "support/files.h"

#define T0 1893456000LL /* 2030-01-01T00:00:00Z */
#define HOUR 3600

static void test_nearest_backup_at_or_before_the_time(void **state)
{
    (void)state;
    char dir[64], dsn[160], bk[128], target[128], target_dsn[160];
    assert_int_equal(support_scratch_dir(dir, sizeof dir, "dbmgmt-pitr-sqlite"), 0);
    snprintf(dsn, sizeof dsn, "sqlite:%s/app.db", dir);
    snprintf(bk, sizeof bk, "%s/backups", dir);
    snprintf(target, sizeof target, "%s/restored.db", dir);
    snprintf(target_dsn, sizeof target_dsn, "sqlite:%s", target);
    support_exec_on(dsn, "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)");

    dbmgmt_backup *b = NULL;
    assert_int_equal(dbmgmt_backup_new(&b, dsn, bk), DBMGMT_OK);
    assert_int_equal(dbmgmt_backup_set_engine(b, "pgbackrest"), DBMGMT_ERR_UNSUPPORTED);
    assert_non_null(strstr(dbmgmt_backup_errmsg(b), "PostgreSQL"));
    assert_int_equal(dbmgmt_backup_set_engine(b, "tape"), DBMGMT_ERR_INVALID);
    assert_non_null(strstr(dbmgmt_backup_errmsg(b), "'tape'"));
    assert_int_equal(dbmgmt_backup_set_engine(b, "auto"), DBMGMT_OK);
    assert_int_equal(dbmgmt_backup_add_schedule(b, "hourly", "0 * * * *", "hourly"), DBMGMT_OK);

    /* no backup yet */
    assert_int_equal(dbmgmt_backup_restore_to_time(b, target, T0), DBMGMT_ERR_NOTFOUND);
    assert_string_equal(dbmgmt_backup_restore_info(b), "");

    assert_int_equal(dbmgmt_backup_tick(b, T0), 0);
    for (int h = 1; h <= 3; h++) { /* backups at 01:00 (1 row), 02:00 (2), 03:00 (3) */
        support_exec_on(dsn, "INSERT INTO t(v) VALUES ('x')");
        assert_int_equal(dbmgmt_backup_tick(b, T0 + h * HOUR), 1);
    }
    support_exec_on(dsn, "INSERT INTO t(v) VALUES ('after the last backup')");

    /* 02:30 -> the 02:00 backup, with 2 rows; said so in the result */
    assert_int_equal(dbmgmt_backup_restore_to_time(b, target, T0 + 2 * HOUR + 1800), DBMGMT_OK);
    assert_int_equal(support_query_int_on(target_dsn, "SELECT COUNT(*) FROM t"), 2);
    const char *info = dbmgmt_backup_restore_info(b);
    assert_non_null(strstr(info, "\"backup_id\":\"20300101T020000Z-hourly\""));
    assert_non_null(strstr(info, "\"backup_time\":\"2030-01-01T02:00:00Z\""));
    assert_non_null(strstr(info, "\"target_time\":\"2030-01-01T02:30:00Z\""));
    assert_non_null(strstr(info, "nearest backup at or before the time"));

    /* exactly at a backup's time -> that backup; a DSN target works too */
    assert_int_equal(dbmgmt_backup_restore_to_time(b, target_dsn, T0 + 1 * HOUR), DBMGMT_OK);
    assert_int_equal(support_query_int_on(target_dsn, "SELECT COUNT(*) FROM t"), 1);
    /* long after -> the newest */
    assert_int_equal(dbmgmt_backup_restore_to_time(b, target, T0 + 48 * HOUR), DBMGMT_OK);
    assert_int_equal(support_query_int_on(target_dsn, "SELECT COUNT(*) FROM t"), 3);

    /* before the first backup: the earliest time available is named */
    assert_int_equal(dbmgmt_backup_restore_to_time(b, target, T0 + 1 * HOUR - 1),
                     DBMGMT_ERR_NOTFOUND);
    assert_non_null(strstr(dbmgmt_backup_errmsg(b),
                           "earliest time available is 2030-01-01T01:00:00Z"));
    /* the source itself is refused, as by dbmgmt_backup_restore */
    char src[128];
    snprintf(src, sizeof src, "%s/app.db", dir);
    assert_int_equal(dbmgmt_backup_restore_to_time(b, src, T0 + 2 * HOUR), DBMGMT_ERR_POLICY);
    assert_int_equal(dbmgmt_backup_restore_to_time(b, NULL, T0), DBMGMT_ERR_INVALID);
    dbmgmt_backup_free(b);
    support_remove_tree(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nearest_backup_at_or_before_the_time),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
