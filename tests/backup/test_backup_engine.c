/*
 * Backups of a server database (PostgreSQL: pg_dump -Fc; MySQL/MariaDB:
 * mysqldump), run once per engine by tests/engines/run_engine.sh with
 * DBMGMT_TEST_DSN: backup -> verify -> restore into a new database with
 * equal row counts; a flipped byte fails verify and alerts; while the dump
 * and restore tools run, a watcher thread reads /proc/PID/cmdline of every
 * child of this process and finds no password there; a wrong password
 * never shows up in the error message; a dump is copied to the off-site
 * folder with its SHA-256 (issue 21).
 */
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include <dbmgmt.h>

#include "offsite_support.h"
#include "support/child_watch.h"
#include "support/engine.h"
#include "support/files.h"

static const char *base_dsn;
static dbmgmt_engine engine;
static char password[256];

/* The base DSN's password (the test servers' passwords need no decoding). */
static void extract_password(void)
{
    const char *auth = strstr(base_dsn, "://") + 3;
    const char *at = strchr(auth, '@');
    const char *colon = strchr(auth, ':');
    if (at && colon && colon < at)
        snprintf(password, sizeof password, "%.*s", (int)(at - colon - 1), colon + 1);
}

static void fill_source(const char *dsn)
{
    support_exec_on(dsn, engine == DBMGMT_ENGINE_POSTGRES
                     ? "CREATE TABLE items(id SERIAL PRIMARY KEY, pad TEXT NOT NULL)"
                     : "CREATE TABLE items(id INT AUTO_INCREMENT PRIMARY KEY, pad TEXT NOT NULL)");
    support_exec_on(dsn, "CREATE TABLE digits(d INT NOT NULL);"
                 "INSERT INTO digits VALUES (0),(1),(2),(3),(4),(5),(6),(7),(8),(9);"
                 "CREATE TABLE notes(id INT PRIMARY KEY, body TEXT);"
                 "INSERT INTO notes VALUES (1, 'it''s'), (2, NULL), (3, 'x');"
                 "INSERT INTO items(pad) SELECT REPEAT('x', 200) FROM digits a, digits b, "
                 "digits c, digits d, digits e");
    if (engine == DBMGMT_ENGINE_MYSQL) /* a routine, a trigger and an event to carry over */
        support_exec_on(dsn, "CREATE FUNCTION note_count() RETURNS INT READS SQL DATA "
                     "RETURN (SELECT COUNT(*) FROM notes);"
                     "CREATE TRIGGER notes_touch BEFORE UPDATE ON notes FOR EACH ROW "
                     "SET NEW.body = COALESCE(NEW.body, OLD.body);"
                     "CREATE EVENT notes_sweep ON SCHEDULE EVERY 1 DAY DISABLE "
                     "DO DELETE FROM notes WHERE body IS NULL AND id < 0");
    /* The row counts are read from the dump's text (mysqldump_rows.c): a
     * trigger whose body has a line of the very shape of a data INSERT must
     * not count as the audit table's rows. */
    if (engine == DBMGMT_ENGINE_MYSQL)
        support_exec_on(dsn, "CREATE TABLE logins(id INT PRIMARY KEY);"
                     "CREATE TABLE audit(login INT NOT NULL);"
                     "CREATE TRIGGER logins_audit AFTER INSERT ON logins FOR EACH ROW\n"
                     "INSERT INTO `audit` VALUES (NEW.id);"
                     "INSERT INTO logins VALUES (1), (2)");
}

/* The dump and restore tools, whose command lines (and environments) are
 * watched for secrets while they run (tests/support/child_watch.h). */
static const char *const dump_tools[] = {"pg_dump", "pg_restore", "mysqldump", "mariadb-dump",
                                         "mysql", "mariadb", NULL};


/* ---- tests ------------------------------------------------------------------------ */

typedef struct alerts {
    int n;
    char last[1200];
} alerts;

static int alert_hook(void *userdata, dbmgmt_hook hook, const char *id, const char *path,
                      const char *detail)
{
    alerts *a = userdata;
    (void)id, (void)path;
    if (hook == DBMGMT_HOOK_ALERT) {
        a->n++;
        snprintf(a->last, sizeof a->last, "%s", detail ? detail : "");
    }
    return 0;
}

static void test_backup_verify_restore_round_trip_without_password_on_argv(void **state)
{
    (void)state;
    support_scratch_db src, dst;
    support_scratch_db_create(&src, base_dsn, "dbmgmt_bk_src", NULL);
    fill_source(src.dsn);
    support_scratch_db_create(&dst, base_dsn, "dbmgmt_bk_dst", NULL);
    char dir[64];
    assert_int_equal(support_scratch_dir(dir, sizeof dir, "dbmgmt-bkeng"), 0);
    dbmgmt_backup *b = NULL;
    assert_int_equal(dbmgmt_backup_new(&b, src.dsn, dir), DBMGMT_OK);

    const support_secret secret = {password, strlen(password)};
    support_child_watch *w = support_child_watch_start(dump_tools, 1, 0, &secret, 1);
    char *id = NULL;
    int rc = dbmgmt_backup_run_now(b, &id);
    if (rc != DBMGMT_OK)
        fail_msg("backup: %s", dbmgmt_backup_errmsg(b));
    support_watch_result seen;
    support_child_watch_peek(w, &seen);
    assert_int_equal(dbmgmt_backup_verify(b, id), DBMGMT_OK);
    rc = dbmgmt_backup_restore(b, id, dst.dsn);
    support_watch_result all;
    support_child_watch_stop(w, &all);
    if (rc != DBMGMT_OK)
        fail_msg("restore: %s", dbmgmt_backup_errmsg(b));
    assert_true(seen.seen > 0);
    assert_true(all.seen > seen.seen);
    if (all.leaks)
        fail_msg("a password was on a child's command line (%s)", all.leaked);

    assert_int_equal(support_query_int_on(dst.dsn, "SELECT COUNT(*) FROM items"), 100000);
    assert_int_equal(support_query_int_on(dst.dsn, "SELECT COUNT(*) FROM notes"), 3);
    assert_int_equal(support_query_int_on(dst.dsn, "SELECT COUNT(*) FROM notes WHERE body IS NULL"), 1);
    if (engine == DBMGMT_ENGINE_MYSQL) { /* routines, triggers and events come back */
        assert_int_equal(support_query_int_on(dst.dsn, "SELECT COUNT(*) FROM information_schema.ROUTINES "
                                            "WHERE ROUTINE_SCHEMA = DATABASE()"), 1);
        assert_int_equal(support_query_int_on(dst.dsn, "SELECT COUNT(*) FROM information_schema.TRIGGERS "
                                            "WHERE TRIGGER_SCHEMA = DATABASE()"), 2);
        assert_int_equal(support_query_int_on(dst.dsn, "SELECT COUNT(*) FROM information_schema.EVENTS "
                                            "WHERE EVENT_SCHEMA = DATABASE() AND EVENT_NAME = "
                                            "'notes_sweep'"), 1);
    }
    assert_true(dbmgmt_backup_metric(b, DBMGMT_BACKUP_LAST_RESTORE_MS) >= 0);
    assert_true(dbmgmt_backup_metric(b, DBMGMT_BACKUP_LAST_SIZE) > 0);
    char *json = dbmgmt_backup_list_json(b);
    assert_non_null(strstr(json, "\"items\":100000"));
    assert_non_null(strstr(json, "\"digits\":10"));
    if (engine == DBMGMT_ENGINE_MYSQL) {
        assert_non_null(strstr(json, "\"audit\":2"));
        assert_non_null(strstr(json, "\"logins\":2"));
        assert_int_equal(support_query_int_on(dst.dsn, "SELECT COUNT(*) FROM audit"), 2);
    }
    assert_non_null(strstr(json, "\"verified\":true"));
    assert_null(strstr(json, password));
    dbmgmt_free(json);
    /* Never over the source database. */
    assert_int_equal(dbmgmt_backup_restore(b, id, src.dsn), DBMGMT_ERR_POLICY);
    dbmgmt_free(id);
    dbmgmt_backup_free(b);
    assert_int_equal(support_remove_tree(dir), 0);
    support_scratch_db_drop(&src, base_dsn);
    support_scratch_db_drop(&dst, base_dsn);
}

static void test_flipped_byte_in_dump_fails_verify_and_alerts(void **state)
{
    (void)state;
    support_scratch_db src;
    support_scratch_db_create(&src, base_dsn, "dbmgmt_bk_flip", NULL);
    support_exec_on(src.dsn, "CREATE TABLE t(id INT PRIMARY KEY); INSERT INTO t VALUES (1), (2)");
    char dir[64];
    assert_int_equal(support_scratch_dir(dir, sizeof dir, "dbmgmt-bkeng"), 0);
    dbmgmt_backup *b = NULL;
    alerts a = {0};
    assert_int_equal(dbmgmt_backup_new(&b, src.dsn, dir), DBMGMT_OK);
    dbmgmt_backup_set_hook(b, DBMGMT_HOOK_ALERT, alert_hook, &a);
    char *id = NULL;
    if (dbmgmt_backup_run_now(b, &id) != DBMGMT_OK)
        fail_msg("backup: %s", dbmgmt_backup_errmsg(b));
    char path[256];
    snprintf(path, sizeof path, "%s/%s.%s", dir, id,
             engine == DBMGMT_ENGINE_POSTGRES ? "pgdump" : "sql");
    FILE *fp = fopen(path, "r+b");
    assert_non_null(fp);
    fseek(fp, 300, SEEK_SET);
    int c = fgetc(fp);
    fseek(fp, 300, SEEK_SET);
    fputc(c ^ 0x20, fp);
    fclose(fp);
    assert_int_equal(dbmgmt_backup_verify(b, id), DBMGMT_ERR_CHECKSUM);
    assert_int_equal(a.n, 1);
    assert_non_null(strstr(a.last, id));
    assert_int_equal(dbmgmt_backup_metric(b, DBMGMT_BACKUP_FAILURES), 1);
    dbmgmt_free(id);
    dbmgmt_backup_free(b);
    assert_int_equal(support_remove_tree(dir), 0);
    support_scratch_db_drop(&src, base_dsn);
}

static void test_dump_copied_off_site(void **state)
{
    (void)state;
    support_scratch_db src;
    support_scratch_db_create(&src, base_dsn, "dbmgmt_bk_off", NULL);
    support_exec_on(src.dsn, "CREATE TABLE t(id INT PRIMARY KEY); INSERT INTO t VALUES (1), (2)");
    char dir[64], off[128], off_real[PATH_MAX];
    assert_int_equal(support_scratch_dir(dir, sizeof dir, "dbmgmt-bkeng"), 0);
    snprintf(off, sizeof off, "%s.offsite", dir);
    assert_int_equal(mkdir(off, 0700), 0);
    assert_non_null(realpath(off, off_real));
    dbmgmt_backup *b = NULL;
    assert_int_equal(dbmgmt_backup_new(&b, src.dsn, dir), DBMGMT_OK);
    if (dbmgmt_backup_set_offsite(b, off) != DBMGMT_OK)
        fail_msg("set_offsite: %s", dbmgmt_backup_errmsg(b));
    char *id = NULL;
    if (dbmgmt_backup_run_now(b, &id) != DBMGMT_OK)
        fail_msg("backup: %s", dbmgmt_backup_errmsg(b));
    char name[256], main_path[400], copy_path[400], main_sha[65], copy_sha[65];
    snprintf(name, sizeof name, "%s.%s", id, engine == DBMGMT_ENGINE_POSTGRES ? "pgdump" : "sql");
    snprintf(main_path, sizeof main_path, "%s/%s", dir, name);
    snprintf(copy_path, sizeof copy_path, "%s/%s", off, name);
    assert_int_equal(offsite_sha256(main_path, main_sha), 0);
    assert_int_equal(offsite_sha256(copy_path, copy_sha), 0);
    assert_string_equal(copy_sha, main_sha);
    char *json = dbmgmt_backup_list_json(b);
    assert_non_null(json);
    const char *copies = strstr(json, "\"copies\":[{");
    assert_non_null(copies);
    char got[PATH_MAX];
    assert_string_equal(offsite_json_text(copies, NULL, "location", got, sizeof got), off_real);
    assert_string_equal(offsite_json_text(copies, NULL, "sha256", got, sizeof got), main_sha);
    dbmgmt_free(json);
    assert_int_equal(dbmgmt_backup_verify(b, id), DBMGMT_OK);
    dbmgmt_free(id);
    dbmgmt_backup_free(b);
    assert_int_equal(support_remove_tree(dir), 0);
    assert_int_equal(support_remove_tree(off), 0);
    support_scratch_db_drop(&src, base_dsn);
}

static void test_wrong_password_never_in_messages(void **state)
{
    (void)state;
    static const char secret[] = "Wr0ngSecretPw77";
    char dsn[600];
    const char *auth = strstr(base_dsn, "://") + 3;
    const char *colon = strchr(auth, ':');
    const char *at = strchr(auth, '@');
    assert_true(colon && at && colon < at);
    snprintf(dsn, sizeof dsn, "%.*s%s%s", (int)(colon + 1 - base_dsn), base_dsn, secret, at);
    char dir[64];
    assert_int_equal(support_scratch_dir(dir, sizeof dir, "dbmgmt-bkeng"), 0);
    dbmgmt_backup *b = NULL;
    alerts a = {0};
    assert_int_equal(dbmgmt_backup_new(&b, dsn, dir), DBMGMT_OK);
    dbmgmt_backup_set_hook(b, DBMGMT_HOOK_ALERT, alert_hook, &a);
    assert_int_not_equal(dbmgmt_backup_run_now(b, NULL), DBMGMT_OK);
    assert_null(strstr(dbmgmt_backup_errmsg(b), secret));
    assert_null(strstr(dbmgmt_errmsg(), secret));
    assert_int_equal(a.n, 1);
    assert_null(strstr(a.last, secret));
    dbmgmt_backup_free(b);
    assert_int_equal(support_remove_tree(dir), 0);
}

int main(void)
{
    base_dsn = getenv("DBMGMT_TEST_DSN");
    if (!base_dsn || !strstr(base_dsn, "://")) {
        printf("DBMGMT_TEST_DSN is not a server DSN: skipped\n");
        return 77;
    }
    engine = strncmp(base_dsn, "postgres", 8) == 0 ? DBMGMT_ENGINE_POSTGRES : DBMGMT_ENGINE_MYSQL;
    extract_password();
    if (!*password) {
        printf("DBMGMT_TEST_DSN has no password: the command-line check needs one\n");
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_backup_verify_restore_round_trip_without_password_on_argv),
        cmocka_unit_test(test_flipped_byte_in_dump_fails_verify_and_alerts),
        cmocka_unit_test(test_wrong_password_never_in_messages),
        cmocka_unit_test(test_dump_copied_off_site),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
