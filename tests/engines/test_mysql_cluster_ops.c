/*
 * The MySQL driver's cluster operations on one real MariaDB server (issue 19,
 * docs/mariadb-cluster.md): what can be proven without a cluster, so that the
 * cluster suite only has to prove what needs one.
 *
 * - GTID positions compare as documented (no server needed);
 * - a multi-host DSN skips a host that does not answer, and one that is
 *   read-only, and when none will do the error names every host and why;
 * - a read-only server is refused by the migrator with a message saying so;
 * - the Galera lock row (forced with migration_lock=row, which works on any
 *   MariaDB) excludes a second holder, is taken over after the lease of a
 *   holder that vanished without releasing it, and a holder whose row was
 *   taken from it learns so before its next migration; with it, an empty
 *   database migrates (its table does not make the database "not empty");
 * - a write's position is a GTID the server's own state has reached.
 *
 * Environment (tests/engines/run_engine.sh): DBMGMT_TEST_DSN (the app
 * user), DBMGMT_TEST_ADMIN_DSN (root). The read_only test switches the
 * server's global read_only on and back off: meson runs this test alone
 * (is_parallel false).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/dsn.h"
#include "dbmgmt/conn.h"
#include "dbmgmt/migrate.h"
#include "drivers/driver.h"
#include "support/engine.h"
#include "support/files.h"

static const char *app_dsn, *admin_dsn;

/* dsn with its "@host:port/" replaced by "@hosts/" (the same database and
 * parameters). */
static void with_hosts(char *out, size_t cap, const char *dsn, const char *hosts)
{
    const char *at = strrchr(dsn, '@');
    assert_non_null(at);
    const char *slash = strchr(at, '/');
    assert_non_null(slash);
    snprintf(out, cap, "%.*s@%s%s", (int)(at - dsn), dsn, hosts, slash);
}

/* "127.0.0.1:PORT" of the DSN. */
static void host_port(char *out, size_t cap, const char *dsn)
{
    const char *at = strrchr(dsn, '@');
    const char *slash = strchr(at, '/');
    snprintf(out, cap, "%.*s", (int)(slash - at - 1), at + 1);
}

/* ---- positions -------------------------------------------------------------------- */

static int64_t diff_of(const char *a, const char *b)
{
    int64_t d = 12345;
    dm_error err;
    dm_error_reset(&err);
    assert_int_equal(dm_mysql_driver.position_diff(a, b, &d, &err), DBMGMT_OK);
    return d;
}

static void test_positions_compare_by_domain(void **state)
{
    (void)state;
    assert_int_equal(diff_of("0-1-57", "0-1-57"), 0);
    assert_int_equal(diff_of("0-1-60", "0-1-57"), 3);
    assert_int_equal(diff_of("0-1-57", "0-1-60"), -3);
    /* the server id does not matter within a domain (a promoted replica) */
    assert_int_equal(diff_of("0-2-61", "0-1-60"), 1);
    /* a domain missing is at 0 */
    assert_int_equal(diff_of("0-1-5,1-1-7", "0-1-5"), 7);
    assert_int_equal(diff_of("0-1-5", "0-1-5,1-1-7"), -7);
    /* behind in one domain is behind, whatever the other says */
    assert_true(diff_of("0-1-9,1-1-1", "0-1-5,1-1-7") < 0);
    assert_int_equal(diff_of("0-0-0", "0-0-0"), 0);
    assert_int_equal(diff_of("wsrep:12", "wsrep:10"), 2);
    assert_int_equal(diff_of("wsrep:10", "wsrep:12"), -2);

    const char *bad[] = {"", "0-1", "0-1-x", "0/16B3748", "wsrep:", "0-1-5,", "wsrep:5x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t d;
        dm_error err;
        dm_error_reset(&err);
        assert_int_equal(dm_mysql_driver.position_diff(bad[i], "0-1-1", &d, &err),
                         DBMGMT_ERR_PARSE);
        assert_non_null(strstr(err.msg, "not a MariaDB position"));
    }
    int64_t d;
    dm_error err;
    dm_error_reset(&err); /* a GTID and a Galera seqno do not compare */
    assert_int_equal(dm_mysql_driver.position_diff("wsrep:5", "0-1-5", &d, &err),
                     DBMGMT_ERR_PARSE);
}

/* ---- hosts ------------------------------------------------------------------------ */

static void test_hosts_skip_one_that_does_not_answer(void **state)
{
    (void)state;
    char hp[128], hosts[300], dsn[1200];
    host_port(hp, sizeof hp, app_dsn);
    /* port 1 (tcpmux) is served on no test machine: refused at once */
    snprintf(hosts, sizeof hosts, "127.0.0.1:1,%s", hp);
    with_hosts(dsn, sizeof dsn, app_dsn, hosts);
    dbmgmt_conn *c = NULL;
    assert_int_equal(dbmgmt_conn_open(&c, dsn), DBMGMT_OK);
    assert_int_equal(support_query_int(c, "SELECT 1"), 1);
    dbmgmt_conn_close(c);
}

static void test_hosts_none_answers_names_each(void **state)
{
    (void)state;
    char dsn[1200];
    with_hosts(dsn, sizeof dsn, app_dsn, "127.0.0.1:1,127.0.0.1:2");
    dbmgmt_conn *c = NULL;
    assert_int_equal(dbmgmt_conn_open(&c, dsn), DBMGMT_ERR_CONNECT);
    const char *msg = dbmgmt_errmsg();
    assert_non_null(strstr(msg, "no host of the DSN accepts writes"));
    assert_non_null(strstr(msg, "127.0.0.1:1"));
    assert_non_null(strstr(msg, "127.0.0.1:2"));
}

static void test_hosts_bad_list_is_a_parse_error(void **state)
{
    (void)state;
    const char *lists[] = {"127.0.0.1:3306,", "127.0.0.1:x,127.0.0.1:3306",
                           "[::1:3306,127.0.0.1:3306"};
    for (size_t i = 0; i < sizeof lists / sizeof lists[0]; i++) {
        char dsn[1200];
        with_hosts(dsn, sizeof dsn, app_dsn, lists[i]);
        dbmgmt_conn *c = NULL;
        int rc = dbmgmt_conn_open(&c, dsn);
        if (rc != DBMGMT_ERR_PARSE)
            fail_msg("%s: %d %s", lists[i], rc, dbmgmt_errmsg());
        assert_null(c);
    }
}

/* read_only = ON: a multi-host DSN finds no writable host, saying which is
 * read-only; the migrator refuses the server before writing anything. */
static void test_read_only_server_is_skipped_and_refused(void **state)
{
    (void)state;
    char dir[512];
    assert_int_equal(support_scratch_dir(dir, sizeof dir, "mycluster-ro"), 0);
    support_write_file(dir, "001_t.sql",
                       "-- migrate:up\nCREATE TABLE ro_probe (id INT PRIMARY KEY);\n"
                       "-- migrate:down\nDROP TABLE ro_probe;\n");
    char hp[128], hosts[300], dsn[1200];
    host_port(hp, sizeof hp, app_dsn);
    snprintf(hosts, sizeof hosts, "%s,%s", hp, hp);
    with_hosts(dsn, sizeof dsn, app_dsn, hosts);

    support_exec_on(admin_dsn, "SET GLOBAL read_only = 1");
    dbmgmt_conn *c = NULL;
    int rc = dbmgmt_conn_open(&c, dsn);
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", dbmgmt_errmsg());
    dbmgmt_conn *single = NULL;
    int rc_single = dbmgmt_conn_open(&single, app_dsn);
    int rc_up = DBMGMT_OK;
    char up_msg[1024] = "";
    if (rc_single == DBMGMT_OK) {
        dbmgmt_migrator *m = NULL;
        assert_int_equal(dbmgmt_migrator_new(&m, single), DBMGMT_OK);
        assert_int_equal(dbmgmt_migrator_add_dir(m, dir), DBMGMT_OK);
        rc_up = dbmgmt_migrator_up(m);
        snprintf(up_msg, sizeof up_msg, "%s", dbmgmt_errmsg());
        dbmgmt_migrator_free(m);
    }
    support_exec_on(admin_dsn, "SET GLOBAL read_only = 0"); /* before any assertion */
    dbmgmt_conn_close(single);

    assert_int_equal(rc, DBMGMT_ERR_CONNECT);
    assert_null(c);
    assert_non_null(strstr(msg, "is read-only (read_only = ON)"));
    assert_int_equal(rc_single, DBMGMT_OK);
    assert_int_equal(rc_up, DBMGMT_ERR_READ_ONLY);
    assert_non_null(strstr(up_msg, "read-only"));
    assert_non_null(strstr(up_msg, "nothing was applied"));
    assert_int_equal(support_query_int_on(app_dsn,
                                          "SELECT COUNT(*) FROM information_schema.TABLES "
                                          "WHERE TABLE_SCHEMA = DATABASE() AND "
                                          "TABLE_NAME = 'ro_probe'"),
                     0);
    support_remove_tree(dir);
}

/* ---- the lock row ----------------------------------------------------------------- */

static dm_dconn *driver_open(const char *dsn)
{
    dm_dsn *parsed = NULL;
    assert_int_equal(dm_dsn_parse(dsn, &parsed, NULL), DBMGMT_OK);
    dm_dconn *dc = NULL;
    dm_error err;
    dm_error_reset(&err);
    int rc = dm_mysql_driver.connect(parsed, &dc, &err);
    if (rc != DBMGMT_OK)
        fail_msg("connect: %s", err.msg);
    dm_dsn_free(parsed);
    return dc;
}

/* The scratch database's DSN with the lock forced to a row, lease seconds. */
static void row_lock_dsn(char *out, size_t cap, const support_scratch_db *db, int lease)
{
    snprintf(out, cap, "%s%smigration_lock=row&migration_lock_lease=%d", db->dsn,
             strchr(db->dsn, '?') ? "&" : "?", lease);
}

static void test_lock_row_excludes_and_is_taken_over_after_the_lease(void **state)
{
    (void)state;
    support_scratch_db db;
    support_scratch_db_create(&db, admin_dsn, "mylock", NULL);
    char dsn[1200];
    row_lock_dsn(dsn, sizeof dsn, &db, 3);
    dm_error err;
    dm_error_reset(&err);

    dm_dconn *a = driver_open(dsn), *b = driver_open(dsn);
    assert_int_equal(dm_mysql_driver.migration_lock(a, "dbmgmt:t", 1000, &err), DBMGMT_OK);
    assert_int_equal(dm_mysql_driver.migration_lock_check(a, "dbmgmt:t", &err), DBMGMT_OK);
    /* held: b waits and gives up, naming the holder's node */
    assert_int_equal(dm_mysql_driver.migration_lock(b, "dbmgmt:t", 200, &err), DBMGMT_ERR_TIMEOUT);
    assert_non_null(strstr(err.msg, "is held by another migrator"));
    assert_non_null(strstr(err.msg, "lease until"));
    /* a lock of another name is free */
    dm_error_reset(&err);
    assert_int_equal(dm_mysql_driver.migration_lock(b, "dbmgmt:other", 1000, &err), DBMGMT_OK);
    assert_int_equal(dm_mysql_driver.migration_unlock(b, "dbmgmt:other", &err), DBMGMT_OK);

    /* a renews its lease: after more than a lease, b still cannot take it */
    sleep(4);
    dm_error_reset(&err);
    assert_int_equal(dm_mysql_driver.migration_lock(b, "dbmgmt:t", 100, &err), DBMGMT_ERR_TIMEOUT);

    /* a vanishes without releasing (its session closed, as a killed
     * process's would be): the row stays until its lease runs out, then b
     * takes it over (a hang guard of 30 s, far above the 3 s lease) */
    dm_mysql_driver.close(a);
    dm_error_reset(&err);
    assert_int_equal(dm_mysql_driver.migration_lock(b, "dbmgmt:t", 30000, &err), DBMGMT_OK);
    assert_int_equal(support_query_int_on(db.dsn, "SELECT COUNT(*) FROM dbmgmt_migration_lock"),
                     1);
    assert_int_equal(dm_mysql_driver.migration_unlock(b, "dbmgmt:t", &err), DBMGMT_OK);
    assert_int_equal(support_query_int_on(db.dsn, "SELECT COUNT(*) FROM dbmgmt_migration_lock"),
                     0);
    dm_mysql_driver.close(b);
    support_scratch_db_drop(&db, admin_dsn);
}

static void test_lock_row_taken_from_its_holder_is_reported(void **state)
{
    (void)state;
    support_scratch_db db;
    support_scratch_db_create(&db, admin_dsn, "mylock", NULL);
    char dsn[1200];
    row_lock_dsn(dsn, sizeof dsn, &db, 3);
    dm_error err;
    dm_error_reset(&err);
    dm_dconn *a = driver_open(dsn);
    assert_int_equal(dm_mysql_driver.migration_lock(a, "dbmgmt:t", 1000, &err), DBMGMT_OK);
    support_exec_on(db.dsn, "UPDATE dbmgmt_migration_lock SET owner = 'someone else'");
    /* the renewal (every second) finds the row another's; hang guard 30 s */
    int rc = DBMGMT_OK;
    for (int i = 0; i < 300 && rc == DBMGMT_OK; i++) {
        usleep(100 * 1000);
        dm_error_reset(&err);
        rc = dm_mysql_driver.migration_lock_check(a, "dbmgmt:t", &err);
    }
    assert_int_equal(rc, DBMGMT_ERR_BUSY);
    assert_non_null(strstr(err.msg, "was lost"));
    dm_error_reset(&err);
    assert_int_equal(dm_mysql_driver.migration_unlock(a, "dbmgmt:t", &err), DBMGMT_ERR_NOTFOUND);
    dm_mysql_driver.close(a);
    support_scratch_db_drop(&db, admin_dsn);
}

/* The lock row's table is created in the application's database before the
 * first migrator plans: an empty database must still count as empty (the
 * first boot on Galera was refused as "not empty but has no migration
 * history"), and the table stays out of the catalog. */
static void test_row_lock_migrates_an_empty_database(void **state)
{
    (void)state;
    support_scratch_db db;
    support_scratch_db_create(&db, admin_dsn, "mylockup", NULL);
    char dir[512], dsn[1200];
    assert_int_equal(support_scratch_dir(dir, sizeof dir, "mylock-up"), 0);
    support_write_file(dir, "001_t.sql",
                       "-- migrate:up\nCREATE TABLE lock_probe (id INT PRIMARY KEY);\n"
                       "-- migrate:down\nDROP TABLE lock_probe;\n");
    row_lock_dsn(dsn, sizeof dsn, &db, 3);
    dbmgmt_conn *c = NULL;
    assert_int_equal(dbmgmt_conn_open(&c, dsn), DBMGMT_OK);
    dbmgmt_migrator *m = NULL;
    assert_int_equal(dbmgmt_migrator_new(&m, c), DBMGMT_OK);
    assert_int_equal(dbmgmt_migrator_add_dir(m, dir), DBMGMT_OK);
    int rc = dbmgmt_migrator_up(m);
    if (rc != DBMGMT_OK)
        fail_msg("up with migration_lock=row: %s", dbmgmt_migrator_errmsg(m));
    dbmgmt_migrator_free(m);
    dbmgmt_conn_close(c);
    assert_int_equal(support_query_int_on(db.dsn, "SELECT COUNT(*) FROM lock_probe"), 0);
    assert_int_equal(support_query_int_on(db.dsn, "SELECT COUNT(*) FROM dbmgmt_migration_lock"),
                     0);
    support_remove_tree(dir);
    support_scratch_db_drop(&db, admin_dsn);
}

/* ---- positions of a real server --------------------------------------------------- */

static void test_write_position_is_a_gtid_the_server_reached(void **state)
{
    (void)state;
    support_scratch_db db;
    support_scratch_db_create(&db, admin_dsn, "mypos", NULL);
    dbmgmt_conn *c = NULL;
    assert_int_equal(dbmgmt_conn_open(&c, db.dsn), DBMGMT_OK);
    support_exec_ok(c, "CREATE TABLE t (id INT PRIMARY KEY)");
    support_exec_ok(c, "INSERT INTO t VALUES (1)");
    char pos[64];
    assert_int_equal(dbmgmt_conn_write_position(c, pos, sizeof pos), DBMGMT_OK);
    int64_t d = 0;
    dm_error err;
    dm_error_reset(&err);
    assert_int_equal(dm_mysql_driver.position_diff(pos, pos, &d, &err), DBMGMT_OK);
    support_exec_ok(c, "INSERT INTO t VALUES (2)");
    char later[64];
    assert_int_equal(dbmgmt_conn_write_position(c, later, sizeof later), DBMGMT_OK);
    /* without a binary log a server has no GTIDs: "0-0-0" both times */
    if (support_query_int(c, "SELECT @@global.log_bin") == 1)
        assert_true(diff_of(later, pos) > 0);
    else
        assert_string_equal(later, "0-0-0");
    /* a primary is at or past it at once: MASTER_GTID_WAIT returns at once */
    dm_dconn *dc = driver_open(db.dsn);
    dm_error_reset(&err);
    assert_int_equal(dm_mysql_driver.wait_position(dc, later, 5000, &err), 1);
    assert_int_equal(dm_mysql_driver.galera_node(dc, &err), 0);
    dm_mysql_driver.close(dc);
    dbmgmt_conn_close(c);
    support_scratch_db_drop(&db, admin_dsn);
}

int main(void)
{
    app_dsn = getenv("DBMGMT_TEST_DSN");
    admin_dsn = getenv("DBMGMT_TEST_ADMIN_DSN");
    if (!app_dsn || !admin_dsn || strncmp(app_dsn, "mysql://", 8) != 0) {
        printf("DBMGMT_TEST_DSN / DBMGMT_TEST_ADMIN_DSN: no MySQL server\n");
        return 77;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_positions_compare_by_domain),
        cmocka_unit_test(test_hosts_skip_one_that_does_not_answer),
        cmocka_unit_test(test_hosts_none_answers_names_each),
        cmocka_unit_test(test_hosts_bad_list_is_a_parse_error),
        cmocka_unit_test(test_read_only_server_is_skipped_and_refused),
        cmocka_unit_test(test_lock_row_excludes_and_is_taken_over_after_the_lease),
        cmocka_unit_test(test_lock_row_taken_from_its_holder_is_reported),
        cmocka_unit_test(test_row_lock_migrates_an_empty_database),
        cmocka_unit_test(test_write_position_is_a_gtid_the_server_reached),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
