/*
 * The migration conformance suite: one program, run once per engine DSN
 * (DBMGMT_TEST_DSN). Each test gets a scratch database of its own (a new
 * SQLite file, or CREATE DATABASE on the server) so "the database must be
 * empty" means what it says.
 */
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

#include "dbmgmt.h"
#include "support/engine.h"
#include "support/files.h"
#include "migrate_scratch.h"

/* ---- every layout ---------------------------------------------------------- */

#define T1_UP "CREATE TABLE mt_one (id INTEGER NOT NULL PRIMARY KEY, name VARCHAR(50));\n" \
              "INSERT INTO mt_one (id, name) VALUES (1, 'a; b');\n"
#define T1_DOWN "DROP TABLE mt_one;\n"
#define T2_UP "CREATE TABLE mt_two (id INTEGER NOT NULL PRIMARY KEY);\n"
#define T2_DOWN "DROP TABLE mt_two;\n"

static void write_layout(const char *dir, int layout)
{
    switch (layout) {
    case 0: /* native */
        support_write_file(dir, "20260101000000_one.sql", "-- migrate:up\n" T1_UP "\n-- migrate:down\n" T1_DOWN);
        support_write_file(dir, "20260102000000_two.sql", "-- migrate:up\n" T2_UP "-- migrate:down\n" T2_DOWN);
        break;
    case 1: /* companion */
        support_write_file(dir, "20260101000000_one.sql", T1_UP);
        support_write_file(dir, "20260101000000_one_rollback.sql", T1_DOWN);
        support_write_file(dir, "20260102000000_two.sql", T2_UP);
        support_write_file(dir, "20260102000000_two_rollback.sql", T2_DOWN);
        break;
    case 2: /* golang-migrate */
        support_write_file(dir, "000001_one.up.sql", T1_UP);
        support_write_file(dir, "000001_one.down.sql", T1_DOWN);
        support_write_file(dir, "000002_two.up.sql", T2_UP);
        support_write_file(dir, "000002_two.down.sql", T2_DOWN);
        break;
    case 3: /* Flyway */
        support_write_file(dir, "V1__one.sql", T1_UP);
        support_write_file(dir, "U1__one.sql", T1_DOWN);
        support_write_file(dir, "V1_1__two.sql", T2_UP);
        support_write_file(dir, "U1_1__two.sql", T2_DOWN);
        break;
    default: /* goose */
        support_write_file(dir, "20260101000000_one.sql", "-- +goose Up\n" T1_UP "-- +goose Down\n" T1_DOWN);
        support_write_file(dir, "20260102000000_two.sql",
                   "-- +goose Up\n-- +goose StatementBegin\n" T2_UP "-- +goose StatementEnd\n"
                   "-- +goose Down\n" T2_DOWN);
    }
}

static void test_migrate_each_layout_applies_and_reverts(void **state)
{
    static const char *const first[] = {"20260101000000", "20260101000000", "000001", "1", "20260101000000"};
    for (int layout = 0; layout < 5; layout++) {
        scratch *s = *state;
        if (layout > 0) { /* a fresh scratch database per layout */
            scratch_teardown(state);
            assert_int_equal(scratch_setup(state), 0);
            s = *state;
        }
        write_layout(s->dir, layout);
        reload(s);
        up_ok(s);
        assert_true(table_exists(s, "mt_one"));
        assert_true(table_exists(s, "mt_two"));
        assert_int_equal(count_rows(s, "SELECT COUNT(*) FROM mt_one"), 1);
        assert_int_equal(applied_count(s), 2);
        int rc = dbmgmt_migrator_down(s->m, first[layout]);
        if (rc != DBMGMT_OK)
            fail_msg("layout %d down: %s", layout, dbmgmt_migrator_errmsg(s->m));
        assert_false(table_exists(s, "mt_two"));
        assert_true(table_exists(s, "mt_one"));
        assert_int_equal(dbmgmt_migrator_down(s->m, "0"), DBMGMT_OK);
        assert_false(table_exists(s, "mt_one"));
        assert_int_equal(applied_count(s), 0);
    }
}

/* ---- refusals ---------------------------------------------------------------- */

static void test_migrate_refuses_edited_migration_but_not_line_endings_or_bom(void **state)
{
    scratch *s = *state;
    support_write_file(s->dir, "001_one.sql", "CREATE TABLE mt_a (id INTEGER);\n");
    reload(s);
    up_ok(s);
    /* CRLF and a BOM are not edits */
    support_write_file(s->dir, "001_one.sql", "\xEF\xBB\xBF" "CREATE TABLE mt_a (id INTEGER);\r\n");
    reload(s);
    assert_int_equal(dbmgmt_migrator_validate(s->m), DBMGMT_OK);
    /* a real edit is */
    support_write_file(s->dir, "001_one.sql", "CREATE TABLE mt_a (id BIGINT);\n");
    reload(s);
    assert_int_equal(dbmgmt_migrator_up(s->m), DBMGMT_ERR_CHECKSUM);
    const char *msg = dbmgmt_migrator_errmsg(s->m);
    assert_non_null(strstr(msg, "migration 001"));
    assert_non_null(strstr(msg, "001_one.sql"));
    assert_non_null(strstr(msg, "was edited after it was applied"));
    assert_string_equal(dbmgmt_errmsg(), msg);
}

static void test_migrate_refuses_missing_and_out_of_order_unless_allowed(void **state)
{
    scratch *s = *state;
    support_write_file(s->dir, "001_one.sql", "CREATE TABLE mt_a (id INTEGER);\n");
    support_write_file(s->dir, "003_three.sql", "CREATE TABLE mt_c (id INTEGER);\n");
    reload(s);
    up_ok(s);
    support_write_file(s->dir, "002_two.sql", "CREATE TABLE mt_b (id INTEGER);\n");
    reload(s);
    assert_int_equal(dbmgmt_migrator_up(s->m), DBMGMT_ERR_POLICY);
    assert_non_null(strstr(dbmgmt_migrator_errmsg(s->m), "out of order"));
    assert_false(table_exists(s, "mt_b"));
    dbmgmt_migrator_allow(s->m, DBMGMT_ALLOW_OUT_OF_ORDER);
    up_ok(s);
    assert_true(table_exists(s, "mt_b"));

    assert_int_equal(support_remove_in(s->dir, "003_three.sql"), 0);
    reload(s);
    assert_int_equal(dbmgmt_migrator_validate(s->m), DBMGMT_ERR_NOTFOUND);
    assert_non_null(strstr(dbmgmt_migrator_errmsg(s->m), "version 003"));
    assert_non_null(strstr(dbmgmt_migrator_errmsg(s->m), "missing from the source"));
    dbmgmt_migrator_allow(s->m, DBMGMT_ALLOW_MISSING_APPLIED);
    assert_int_equal(dbmgmt_migrator_validate(s->m), DBMGMT_OK);
}

static void test_migrate_refuses_nonempty_database_until_baseline(void **state)
{
    scratch *s = *state;
    assert_int_equal(dbmgmt_conn_exec(s->conn, "CREATE TABLE mt_legacy (id INTEGER)"), DBMGMT_OK);
    support_write_file(s->dir, "001_legacy.sql", "CREATE TABLE mt_legacy (id INTEGER);\n");
    support_write_file(s->dir, "002_next.sql", "CREATE TABLE mt_next (id INTEGER);\n");
    reload(s);
    dbmgmt_plan *p = NULL;
    assert_int_equal(dbmgmt_migrator_plan(s->m, NULL, &p), DBMGMT_OK);
    assert_int_equal(dbmgmt_plan_status(p), DBMGMT_ERR_POLICY);
    assert_non_null(strstr(dbmgmt_plan_problem_at(p, 0), "not empty but has no migration history"));
    assert_int_equal(dbmgmt_migrator_apply(s->m, p), DBMGMT_ERR_POLICY);
    dbmgmt_plan_free(p);
    assert_int_equal(dbmgmt_migrator_up(s->m), DBMGMT_ERR_POLICY);
    assert_false(table_exists(s, "mt_next"));
    assert_false(table_exists(s, "dbmgmt_schema_history")); /* a refusal writes nothing */
    assert_int_equal(dbmgmt_migrator_baseline(s->m, "001"), DBMGMT_OK);
    up_ok(s);
    assert_true(table_exists(s, "mt_next"));
    /* a second baseline is refused */
    assert_int_equal(dbmgmt_migrator_baseline(s->m, "002"), DBMGMT_ERR_POLICY);
}

static void test_migrate_refuses_other_environment_and_down_in_production(void **state)
{
    scratch *s = *state;
    support_write_file(s->dir, "001_one.sql", "-- migrate:up\nCREATE TABLE mt_a (id INTEGER);\n-- migrate:down\nDROP TABLE mt_a;\n");
    support_write_file(s->dir, "002_two.sql", "-- migrate:up\nCREATE TABLE mt_b (id INTEGER);\n-- migrate:down\nDROP TABLE mt_b;\n");
    reload(s);
    dbmgmt_migrator_set_environment(s->m, "production");
    up_ok(s);
    assert_int_equal(dbmgmt_migrator_down(s->m, "001"), DBMGMT_ERR_POLICY);
    assert_non_null(strstr(dbmgmt_migrator_errmsg(s->m), "forward-only"));
    assert_true(table_exists(s, "mt_b"));
    reload(s);
    dbmgmt_migrator_set_environment(s->m, "staging");
    assert_int_equal(dbmgmt_migrator_up(s->m), DBMGMT_ERR_POLICY);
    assert_non_null(strstr(dbmgmt_migrator_errmsg(s->m), "belongs to environment 'production'"));
    reload(s);
    dbmgmt_migrator_set_environment(s->m, "production");
    dbmgmt_migrator_allow(s->m, DBMGMT_ALLOW_DOWN_IN_PRODUCTION);
    assert_int_equal(dbmgmt_migrator_down(s->m, "001"), DBMGMT_OK);
    assert_false(table_exists(s, "mt_b"));
}

/* ---- failures -------------------------------------------------------------------- */

static void test_migrate_failed_transactional_migration_leaves_no_trace(void **state)
{
    scratch *s = *state;
    if (!dbmgmt_conn_ddl_transactional(s->conn))
        skip(); /* MySQL: see the dirty-mark test */
    support_write_file(s->dir, "001_one.sql", "CREATE TABLE mt_a (id INTEGER NOT NULL PRIMARY KEY);\n");
    support_write_file(s->dir, "002_two.sql",
               "CREATE TABLE mt_b (id INTEGER);\n"
               "INSERT INTO mt_a (id) VALUES (1);\n"
               "\n"
               "INSERT INTO mt_a (id) VALUES (1);\n");
    reload(s);
    assert_int_equal(dbmgmt_migrator_up(s->m), DBMGMT_ERR_SQL);
    const char *msg = dbmgmt_migrator_errmsg(s->m);
    if (!strstr(msg, "002_two.sql:4:"))
        fail_msg("the error does not say FILE:LINE: %s", msg);
    assert_true(strstr(msg, "UNIQUE") || strstr(msg, "duplicate key"));
    /* schema and history exactly as before the failed migration */
    assert_true(table_exists(s, "mt_a"));
    assert_false(table_exists(s, "mt_b"));
    assert_int_equal(count_rows(s, "SELECT COUNT(*) FROM mt_a"), 0);
    assert_int_equal(applied_count(s), 1);
    assert_int_equal(count_rows(s, "SELECT COUNT(*) FROM dbmgmt_schema_history WHERE success = 0"), 0);
    /* fixed, it applies */
    support_write_file(s->dir, "002_two.sql", "CREATE TABLE mt_b (id INTEGER);\n");
    reload(s);
    up_ok(s);
    assert_true(table_exists(s, "mt_b"));
}

static void test_migrate_dirty_mark_names_statement_and_resume_continues(void **state)
{
    scratch *s = *state;
    /* On MySQL every migration runs this way; elsewhere transaction:false does. */
    support_write_file(s->dir, "001_five.sql",
               "-- migrate:up transaction:false\n"
               "CREATE TABLE mt_s1 (id INTEGER);\n"
               "CREATE TABLE mt_s2 (id INTEGER);\n"
               "INSERT INTO mt_blocker (id) VALUES (1);\n"
               "CREATE TABLE mt_s4 (id INTEGER);\n"
               "CREATE TABLE mt_s5 (id INTEGER);\n"
               "-- migrate:down\n"
               "DROP TABLE mt_s5;\n");
    reload(s);
    int rc = dbmgmt_migrator_up(s->m);
    assert_int_equal(rc, DBMGMT_ERR_SQL);
    assert_non_null(strstr(dbmgmt_migrator_errmsg(s->m), "failed at statement 3 of 5"));
    assert_non_null(strstr(dbmgmt_migrator_errmsg(s->m), "001_five.sql:4:"));
    assert_non_null(strstr(dbmgmt_migrator_errmsg(s->m), "marked dirty"));
    assert_true(table_exists(s, "mt_s2"));
    assert_false(table_exists(s, "mt_s4"));
    /* up refuses, naming the statement */
    reload(s);
    assert_int_equal(dbmgmt_migrator_up(s->m), DBMGMT_ERR_DIRTY);
    assert_non_null(strstr(dbmgmt_migrator_errmsg(s->m), "failed at statement 3"));
    /* the cause is fixed by an operator; resume runs statements 3-5 only */
    assert_int_equal(dbmgmt_conn_exec(s->conn, "CREATE TABLE mt_blocker (id INTEGER)"), DBMGMT_OK);
    rc = dbmgmt_migrator_resume(s->m);
    if (rc != DBMGMT_OK)
        fail_msg("resume: %s", dbmgmt_migrator_errmsg(s->m));
    assert_int_equal(count_rows(s, "SELECT COUNT(*) FROM mt_blocker"), 1);
    assert_true(table_exists(s, "mt_s5"));
    assert_int_equal(applied_count(s), 1);
    reload(s);
    assert_int_equal(dbmgmt_migrator_validate(s->m), DBMGMT_OK);
    up_ok(s);
}

static void test_migrate_repair_forgets_failed_migration(void **state)
{
    scratch *s = *state;
    support_write_file(s->dir, "001_bad.sql",
               "-- migrate:up transaction:false\nCREATE TABLE mt_r1 (id INTEGER);\nSELEC broken;\n");
    reload(s);
    assert_int_equal(dbmgmt_migrator_up(s->m), DBMGMT_ERR_SQL);
    assert_int_equal(dbmgmt_migrator_up(s->m), DBMGMT_ERR_DIRTY);
    /* the operator undoes the partial work and repairs */
    assert_int_equal(dbmgmt_conn_exec(s->conn, "DROP TABLE mt_r1"), DBMGMT_OK);
    assert_int_equal(dbmgmt_migrator_repair(s->m), DBMGMT_OK);
    support_write_file(s->dir, "001_bad.sql", "-- migrate:up transaction:false\nCREATE TABLE mt_r1 (id INTEGER);\n");
    reload(s);
    up_ok(s);
    assert_true(table_exists(s, "mt_r1"));
}

/* ---- embedded tables, plans, progress ------------------------------------------- */

static const dbmgmt_migration_def embedded[] = {
    {DBMGMT_MIGRATION_DEF_VERSION, 0, "1", "create", "CREATE TABLE mt_e (id INTEGER);", "DROP TABLE mt_e;", NULL, "firmware"},
    {DBMGMT_MIGRATION_DEF_VERSION, 0, "2", "index", "CREATE INDEX mt_e_id ON mt_e (id);", NULL, NULL, "firmware"},
    {0, 0, NULL, NULL, NULL, NULL, NULL, NULL},
};

static void test_migrate_on_boot_with_embedded_table_is_idempotent(void **state)
{
    scratch *s = *state;
    for (int run = 0; run < 2; run++) {
        int rc = dbmgmt_migrate_on_boot(s->db.dsn, NULL, embedded, "device");
        if (rc != DBMGMT_OK)
            fail_msg("boot %d: %s", run, dbmgmt_errmsg());
    }
    assert_true(table_exists(s, "mt_e"));
    assert_int_equal(applied_count(s), 2);
    /* a table whose checksum does not match its SQL is refused */
    static const dbmgmt_migration_def tampered[] = {
        {DBMGMT_MIGRATION_DEF_VERSION, 0, "1", "create", "CREATE TABLE mt_e (id INTEGER);", NULL,
         "0000000000000000000000000000000000000000000000000000000000000000", "firmware"},
        {0, 0, NULL, NULL, NULL, NULL, NULL, NULL},
    };
    assert_int_equal(dbmgmt_migrate_on_boot(s->db.dsn, NULL, tampered, "device"), DBMGMT_ERR_CHECKSUM);
    /* another layout version is refused, not misread */
    static const dbmgmt_migration_def future[] = {
        {99, 0, "1", "x", "SELECT 1;", NULL, NULL, NULL},
        {0, 0, NULL, NULL, NULL, NULL, NULL, NULL},
    };
    assert_int_equal(dbmgmt_migrate_on_boot(s->db.dsn, NULL, future, "device"), DBMGMT_ERR_UNSUPPORTED);
    assert_int_equal(dbmgmt_migrator_add_dir(s->m, s->dir), DBMGMT_OK);
    assert_int_equal(dbmgmt_migrator_add_table(s->m, embedded), DBMGMT_ERR_INVALID);
}

/* The boot call reads the folder on a second thread while it connects:
 * what it applies, refuses and reports must be what the migrator does. */
static void test_migrate_on_boot_from_folder(void **state)
{
    scratch *s = *state;
    static const char first[] = "-- migrate:up\nCREATE TABLE mt_b (id INTEGER);\n"
                                "-- migrate:down\nDROP TABLE mt_b;\n";
    static const char second[] = "-- migrate:up\nCREATE INDEX mt_b_id ON mt_b (id);\n";
    support_write_file(s->dir, "001_create.sql", first);
    support_write_file(s->dir, "002_index.sql", second);
    for (int run = 0; run < 3; run++) {
        int rc = dbmgmt_migrate_on_boot(s->db.dsn, s->dir, NULL, "staging");
        if (rc != DBMGMT_OK)
            fail_msg("boot %d: %s", run, dbmgmt_errmsg());
    }
    assert_true(table_exists(s, "mt_b"));
    assert_int_equal(applied_count(s), 2);

    /* an edited applied migration is refused, naming it */
    support_write_file(s->dir, "002_index.sql", "-- migrate:up\nCREATE INDEX mt_b_id2 ON mt_b (id);\n");
    assert_int_equal(dbmgmt_migrate_on_boot(s->db.dsn, s->dir, NULL, "staging"), DBMGMT_ERR_CHECKSUM);
    assert_non_null(strstr(dbmgmt_errmsg(), "002"));
    support_write_file(s->dir, "002_index.sql", second);

    /* a bad file in the folder: refused with the file named, nothing applied
     * (the pending 003 stays pending) */
    support_write_file(s->dir, "003_more.sql", "-- migrate:up\nCREATE TABLE mt_b3 (id INTEGER);\n");
    support_write_file(s->dir, "004_.sql", "-- migrate:up\nCREATE TABLE mt_b4 (id INTEGER);\n");
    assert_int_equal(dbmgmt_migrate_on_boot(s->db.dsn, s->dir, NULL, "staging"), DBMGMT_ERR_PARSE);
    assert_non_null(strstr(dbmgmt_errmsg(), "004_.sql"));
    assert_false(table_exists(s, "mt_b3"));
    assert_int_equal(applied_count(s), 2);
    assert_int_equal(support_remove_in(s->dir, "004_.sql"), 0);

    /* a folder that is not there is named */
    char missing[300];
    snprintf(missing, sizeof missing, "%s/no-such-folder", s->dir);
    assert_int_not_equal(dbmgmt_migrate_on_boot(s->db.dsn, missing, NULL, "staging"), DBMGMT_OK);
    assert_non_null(strstr(dbmgmt_errmsg(), "no-such-folder"));

    /* a folder and a table at once is a caller's mistake, said before connecting */
    assert_int_equal(dbmgmt_migrate_on_boot(s->db.dsn, s->dir, embedded, "staging"), DBMGMT_ERR_INVALID);

    /* an engine that cannot be reached is what is reported, whatever the folder */
    assert_int_not_equal(dbmgmt_migrate_on_boot("sqlite:///no-such-dir/x/y.db", s->dir, NULL, NULL),
                         DBMGMT_OK);
    assert_null(strstr(dbmgmt_errmsg(), "003_more"));

    /* and the pending one applies on the next good boot */
    assert_int_equal(dbmgmt_migrate_on_boot(s->db.dsn, s->dir, NULL, "staging"), DBMGMT_OK);
    assert_true(table_exists(s, "mt_b3"));
    assert_int_equal(applied_count(s), 3);
}

/* PostgreSQL: a migration holding COPY ... FROM stdin data (seed rows as
 * pg_dump writes them) applies with its rows; a bad row fails the migration
 * with FILE:LINE and leaves nothing behind. */
static void test_migrate_postgres_copy_data(void **state)
{
    scratch *s = *state;
    if (engine != DBMGMT_ENGINE_POSTGRES)
        return;
    support_write_file(s->dir, "001_seed.sql",
               "-- migrate:up\nCREATE TABLE mt_c (id INTEGER PRIMARY KEY, name TEXT);\n"
               "COPY mt_c (id, name) FROM stdin;\n1\talice; not a statement\n2\t\\N\n\\.\n"
               "INSERT INTO mt_c VALUES (3, 'carol');\n"
               "-- migrate:down\nDROP TABLE mt_c;\n");
    reload(s);
    up_ok(s);
    assert_int_equal(count_rows(s, "SELECT COUNT(*) FROM mt_c"), 3);
    assert_int_equal(count_rows(s, "SELECT COUNT(*) FROM mt_c WHERE name IS NULL"), 1);
    support_write_file(s->dir, "002_more.sql",
               "-- migrate:up\nCREATE TABLE mt_c2 (id INTEGER);\n"
               "COPY mt_c2 (id) FROM stdin;\n7\nseven\n\\.\n");
    reload(s);
    assert_int_equal(dbmgmt_migrator_up(s->m), DBMGMT_ERR_SQL);
    const char *msg = dbmgmt_migrator_errmsg(s->m);
    assert_non_null(strstr(msg, "002_more.sql:3"));
    assert_non_null(strstr(msg, "seven"));
    assert_false(table_exists(s, "mt_c2"));
    assert_int_equal(applied_count(s), 1);
}

/* Backups of the scratch database, beside its migrations folder. */
static dbmgmt_backup *scratch_backups(const scratch *s)
{
    char backups[300];
    snprintf(backups, sizeof backups, "%s/../backups", s->dir);
    dbmgmt_backup *b = NULL;
    if (dbmgmt_backup_new(&b, s->db.dsn, backups) != DBMGMT_OK)
        fail_msg("backup_new: %s", dbmgmt_errmsg());
    return b;
}

static int reject_upload(void *userdata, dbmgmt_hook hook, const char *id, const char *path,
                         const char *detail)
{
    (void)userdata, (void)hook, (void)id, (void)path, (void)detail;
    return 1;
}

/* DESIGN §5.4: production takes the required backup before it changes
 * anything, only when it has something to change; a failed backup refuses
 * the run with nothing applied; other environments take none. */
static void test_migrate_production_backs_up_before_changing(void **state)
{
    scratch *s = *state;
    dbmgmt_backup *b = scratch_backups(s);
    support_write_file(s->dir, "001_create.sql", "-- migrate:up\nCREATE TABLE mt_p1 (id INTEGER);\n"
                                         "INSERT INTO mt_p1 VALUES (1), (2);\n");
    reload(s);
    assert_int_equal(dbmgmt_migrator_set_environment(s->m, "production"), DBMGMT_OK);
    assert_int_equal(dbmgmt_migrator_require_backup(s->m, b), DBMGMT_OK);
    up_ok(s);
    assert_int_equal(dbmgmt_backup_metric(b, DBMGMT_BACKUP_COUNT), 1);
    up_ok(s); /* nothing to do: no backup */
    assert_int_equal(dbmgmt_backup_metric(b, DBMGMT_BACKUP_COUNT), 1);

    /* the next change is backed up first: the backup holds mt_p1, not mt_p2 */
    support_write_file(s->dir, "002_more.sql", "-- migrate:up\nCREATE TABLE mt_p2 (id INTEGER);\n");
    reload(s);
    assert_int_equal(dbmgmt_migrator_require_backup(s->m, b), DBMGMT_OK); /* env: stamped */
    up_ok(s);
    assert_int_equal(dbmgmt_backup_metric(b, DBMGMT_BACKUP_COUNT), 2);
    char *list = dbmgmt_backup_list_json(b);
    assert_non_null(list);
    const char *newest = strstr(list, "\"mt_p1\":2"); /* row counts of the backups */
    assert_non_null(newest);
    assert_null(strstr(list, "\"mt_p2\""));
    dbmgmt_free(list);

    /* a backup that fails refuses the run: nothing applied */
    support_write_file(s->dir, "003_fail.sql", "-- migrate:up\nCREATE TABLE mt_p3 (id INTEGER);\n");
    reload(s);
    assert_int_equal(dbmgmt_migrator_require_backup(s->m, b), DBMGMT_OK);
    assert_int_equal(dbmgmt_backup_set_hook(b, DBMGMT_HOOK_UPLOAD, reject_upload, NULL), DBMGMT_OK);
    assert_int_equal(dbmgmt_migrator_up(s->m), DBMGMT_ERR_POLICY);
    assert_non_null(strstr(dbmgmt_migrator_errmsg(s->m), "requires a backup before migrating"));
    assert_false(table_exists(s, "mt_p3"));
    assert_int_equal(applied_count(s), 2);
    assert_int_equal(dbmgmt_backup_set_hook(b, DBMGMT_HOOK_UPLOAD, NULL, NULL), DBMGMT_OK);
    up_ok(s);
    assert_true(table_exists(s, "mt_p3"));
    dbmgmt_backup_free(b);
}

/* outside production the requirement does nothing */
static void test_migrate_backup_requirement_is_production_only(void **state)
{
    scratch *s = *state;
    dbmgmt_backup *b = scratch_backups(s);
    support_write_file(s->dir, "001_create.sql", "-- migrate:up\nCREATE TABLE mt_q (id INTEGER);\n");
    reload(s);
    assert_int_equal(dbmgmt_migrator_set_environment(s->m, "staging"), DBMGMT_OK);
    assert_int_equal(dbmgmt_migrator_require_backup(s->m, b), DBMGMT_OK);
    up_ok(s);
    assert_int_equal(dbmgmt_backup_metric(b, DBMGMT_BACKUP_COUNT), 0);
    dbmgmt_backup_free(b);
}

typedef struct progress_log {
    int before, after;
    int cancel_at;
} progress_log;

static int count_progress(void *userdata, const char *version, const char *name, int32_t direction,
                          int32_t done, int64_t elapsed_ms)
{
    progress_log *log = userdata;
    (void)version, (void)name, (void)direction, (void)elapsed_ms;
    if (done)
        log->after++;
    else if (++log->before == log->cancel_at)
        return 1;
    return 0;
}

static void test_migrate_plan_lists_steps_and_progress_can_stop(void **state)
{
    scratch *s = *state;
    support_write_file(s->dir, "001_a.sql", "CREATE TABLE mt_p1 (id INTEGER);\nCREATE TABLE mt_p2 (id INTEGER);\n");
    support_write_file(s->dir, "002_b.sql", "-- migrate:up transaction:false\nCREATE TABLE mt_p3 (id INTEGER);\n");
    support_write_file(s->dir, "003_c.sql", "CREATE TABLE mt_p4 (id INTEGER);\n");
    assert_int_equal(dbmgmt_migrator_add_dir(s->m, s->dir), DBMGMT_ERR_PARSE); /* mixed layouts */
    support_write_file(s->dir, "001_a.sql", "-- migrate:up\nCREATE TABLE mt_p1 (id INTEGER);\nCREATE TABLE mt_p2 (id INTEGER);\n");
    support_write_file(s->dir, "003_c.sql", "-- migrate:up\nCREATE TABLE mt_p4 (id INTEGER);\n");
    reload(s);
    dbmgmt_plan *p = NULL;
    assert_int_equal(dbmgmt_migrator_plan(s->m, "002", &p), DBMGMT_OK);
    assert_int_equal(dbmgmt_plan_status(p), DBMGMT_OK);
    assert_int_equal(dbmgmt_plan_count(p), 2);
    assert_string_equal(dbmgmt_plan_step_version(p, 0), "001");
    assert_int_equal(dbmgmt_plan_step_statement_count(p, 0), 2);
    assert_int_equal(dbmgmt_plan_step_direction(p, 1), DBMGMT_UP);
    assert_int_equal(dbmgmt_plan_step_transactional(p, 1), 0);
    assert_int_equal(dbmgmt_plan_step_transactional(p, 0), dbmgmt_conn_ddl_transactional(s->conn));
    char *json = dbmgmt_plan_to_json(p);
    assert_non_null(strstr(json, "\"status\":\"DBMGMT_OK\""));
    assert_non_null(strstr(json, "\"version\":\"002\""));
    dbmgmt_free(json);
    progress_log log = {0, 0, 2};
    dbmgmt_migrator_set_progress(s->m, count_progress, &log);
    assert_int_equal(dbmgmt_migrator_apply(s->m, p), DBMGMT_ERR_POLICY); /* stopped before 002 */
    dbmgmt_plan_free(p);
    assert_int_equal(log.after, 1);
    assert_true(table_exists(s, "mt_p2"));
    assert_false(table_exists(s, "mt_p3"));
    log.cancel_at = 0;
    up_ok(s);
    assert_true(table_exists(s, "mt_p4"));
    char *status = NULL;
    assert_int_equal(dbmgmt_migrator_status_json(s->m, &status), DBMGMT_OK);
    assert_non_null(strstr(status, "\"current\":\"003\""));
    dbmgmt_free(status);
    /* a target older than the current version plans a down */
    assert_int_equal(dbmgmt_migrator_plan(s->m, "001", &p), DBMGMT_OK);
    assert_int_equal(dbmgmt_plan_status(p), DBMGMT_ERR_NOTFOUND); /* 003 has no down section */
    dbmgmt_plan_free(p);
}

/* ---- lint (issue 7) ---------------------------------------------------------------- */

#define LINT_ONE "-- migrate:up\nCREATE TABLE mt_l (id INTEGER NOT NULL PRIMARY KEY, note VARCHAR(20));\n" \
                 "-- migrate:down\nDROP TABLE mt_l;\n"
#define LINT_TWO_DOWN "-- migrate:down\nALTER TABLE mt_l ADD COLUMN note VARCHAR(20);\n"

static int column_exists(scratch *s, const char *sql)
{
    dbmgmt_result *r = NULL;
    int rc = dbmgmt_conn_query(s->conn, &r, sql, 0, NULL);
    dbmgmt_result_free(r);
    return rc == DBMGMT_OK;
}

static void test_migrate_production_refuses_lint_error_until_allowed_in_file(void **state)
{
    scratch *s = *state;
    support_write_file(s->dir, "001_one.sql", LINT_ONE);
    reload(s);
    dbmgmt_migrator_set_environment(s->m, "production");
    up_ok(s);
    support_write_file(s->dir, "002_two.sql",
               "-- migrate:up\nALTER TABLE mt_l DROP COLUMN note;\n" LINT_TWO_DOWN);
    reload(s);
    dbmgmt_migrator_set_environment(s->m, "production");
    dbmgmt_plan *p = NULL;
    assert_int_equal(dbmgmt_migrator_plan(s->m, NULL, &p), DBMGMT_OK);
    assert_int_equal(dbmgmt_plan_status(p), DBMGMT_ERR_POLICY);
    assert_non_null(strstr(dbmgmt_plan_problem_at(p, 0), "drop-column"));
    assert_non_null(strstr(dbmgmt_plan_problem_at(p, 0), "002_two.sql:2"));
    size_t k = 0, n = dbmgmt_plan_finding_count(p);
    while (k < n && strcmp(dbmgmt_plan_finding_rule(p, k), "drop-column") != 0)
        k++;
    assert_true(k < n);
    assert_int_equal(dbmgmt_plan_finding_severity(p, k), DBMGMT_LINT_ERROR);
    assert_int_equal(dbmgmt_plan_finding_step(p, k), 0);
    assert_int_equal(dbmgmt_plan_finding_line(p, k), 2);
    assert_non_null(strstr(dbmgmt_plan_finding_file(p, k), "002_two.sql"));
    assert_non_null(strstr(dbmgmt_plan_finding_advice(p, k), "expand-contract"));
    char *json = dbmgmt_plan_to_json(p);
    assert_non_null(strstr(json, "\"findings\":[{\"rule\":"));
    assert_non_null(strstr(json, "\"rule\":\"drop-column\",\"severity\":\"error\",\"step\":0"));
    dbmgmt_free(json);
    assert_int_equal(dbmgmt_migrator_apply(s->m, p), DBMGMT_ERR_POLICY);
    dbmgmt_plan_free(p);
    assert_int_equal(dbmgmt_migrator_up(s->m), DBMGMT_ERR_POLICY);
    assert_non_null(strstr(dbmgmt_migrator_errmsg(s->m), "drop-column"));
    assert_non_null(strstr(dbmgmt_migrator_errmsg(s->m), "002_two.sql:2"));
    assert_true(column_exists(s, "SELECT note FROM mt_l"));
    /* the same migration, with the finding allowed in the file, applies */
    support_write_file(s->dir, "002_two.sql",
               "-- migrate:up\n-- dbmgmt:allow drop-column nothing reads note since release 3\n"
               "ALTER TABLE mt_l DROP COLUMN note;\n" LINT_TWO_DOWN);
    reload(s);
    dbmgmt_migrator_set_environment(s->m, "production");
    up_ok(s);
    assert_false(column_exists(s, "SELECT note FROM mt_l"));
    assert_int_equal(applied_count(s), 2);
}

static void test_migrate_lint_errors_only_warn_outside_production_or_when_allowed(void **state)
{
    scratch *s = *state;
    support_write_file(s->dir, "001_one.sql", LINT_ONE);
    support_write_file(s->dir, "002_two.sql",
               "-- migrate:up\nALTER TABLE mt_l DROP COLUMN note;\n" LINT_TWO_DOWN);
    reload(s);
    dbmgmt_migrator_set_environment(s->m, "production");
    dbmgmt_migrator_allow(s->m, DBMGMT_ALLOW_LINT_ERRORS);
    dbmgmt_plan *p = NULL;
    assert_int_equal(dbmgmt_migrator_plan(s->m, NULL, &p), DBMGMT_OK);
    assert_int_equal(dbmgmt_plan_status(p), DBMGMT_OK);
    assert_true(dbmgmt_plan_finding_count(p) > 0);
    dbmgmt_plan_free(p);
    reload(s);
    dbmgmt_migrator_set_environment(s->m, "development");
    up_ok(s);
    assert_false(column_exists(s, "SELECT note FROM mt_l"));
}

/* Count the plan's findings of one rule. */
static size_t findings_of(const dbmgmt_plan *p, const char *rule)
{
    size_t found = 0;
    for (size_t k = 0; k < dbmgmt_plan_finding_count(p); k++)
        found += strcmp(dbmgmt_plan_finding_rule(p, k), rule) == 0;
    return found;
}

static void test_migrate_lint_follows_the_schema_through_the_plan(void **state)
{
    scratch *s = *state;
    /* 002 adds a NOT NULL column without a default to a table that 001, in
     * the same plan, creates: the table is new and empty when 002 runs. */
    support_write_file(s->dir, "001_create.sql",
               "-- migrate:up\nCREATE TABLE mt_plan (id INTEGER NOT NULL PRIMARY KEY);\n"
               "-- migrate:down\nDROP TABLE mt_plan;\n");
    support_write_file(s->dir, "002_column.sql",
               "-- migrate:up\nALTER TABLE mt_plan ADD COLUMN code INTEGER NOT NULL;\n"
               "-- migrate:down\nALTER TABLE mt_plan DROP COLUMN code;\n");
    reload(s);
    dbmgmt_migrator_set_environment(s->m, "production");
    dbmgmt_plan *p = NULL;
    assert_int_equal(dbmgmt_migrator_plan(s->m, NULL, &p), DBMGMT_OK);
    assert_int_equal(dbmgmt_plan_count(p), 2);
    assert_int_equal(findings_of(p, "add-not-null-column"), 0);
    assert_int_equal(dbmgmt_plan_status(p), DBMGMT_OK);
    dbmgmt_plan_free(p);
    /* once 001 is applied on its own, the table exists: 002 is dangerous */
    assert_int_equal(dbmgmt_migrator_plan(s->m, "001", &p), DBMGMT_OK);
    assert_int_equal(dbmgmt_migrator_apply(s->m, p), DBMGMT_OK);
    dbmgmt_plan_free(p);
    assert_int_equal(dbmgmt_migrator_plan(s->m, NULL, &p), DBMGMT_OK);
    assert_int_equal(findings_of(p, "add-not-null-column"), 1);
    assert_int_equal(dbmgmt_plan_status(p), DBMGMT_ERR_POLICY);
    dbmgmt_plan_free(p);
}

static void test_migrate_boot_trusts_the_digest_only_while_it_agrees(void **state)
{
    scratch *s = *state;
    support_write_file(s->dir, "001_a.sql", "-- migrate:up\nCREATE TABLE mt_d1 (id INTEGER);\n");
    support_write_file(s->dir, "002_b.sql", "-- migrate:up\nCREATE TABLE mt_d2 (id INTEGER);\n");
    support_write_file(s->dir, "003_c.sql", "-- migrate:up\nCREATE TABLE mt_d3 (id INTEGER);\n");
    reload(s);
    up_ok(s);
    /* a clean run leaves the digest row: three applied, newest 003 */
    dbmgmt_result *r = NULL;
    const char *applied[] = {"@applied"};
    assert_int_equal(dbmgmt_conn_query(s->conn, &r, "SELECT description, script FROM "
                                       "dbmgmt_schema_history WHERE version = ?", 1, applied), DBMGMT_OK);
    assert_int_equal(dbmgmt_result_next(r), 1);
    assert_string_equal(dbmgmt_result_text(r, 0), "3");
    assert_string_equal(dbmgmt_result_text(r, 1), "003");
    dbmgmt_result_free(r);
    /* the digest is SHA-256 of "version NUL checksum NUL" for each applied
     * version in order, computed here by sha256sum */
    char expected[65] = "", stored[65] = "";
    char tmp[300];
    snprintf(tmp, sizeof tmp, "%s/../digest-input", s->dir);
    FILE *in = fopen(tmp, "wb");
    assert_non_null(in);
    assert_int_equal(dbmgmt_conn_query(s->conn, &r, "SELECT version, checksum FROM "
                                       "dbmgmt_schema_history WHERE installed_rank > 0 "
                                       "ORDER BY version", 0, NULL), DBMGMT_OK);
    while (dbmgmt_result_next(r) == 1) {
        const char *v = dbmgmt_result_text(r, 0), *c = dbmgmt_result_text(r, 1);
        fwrite(v, 1, strlen(v) + 1, in);
        fwrite(c, 1, strlen(c) + 1, in);
    }
    dbmgmt_result_free(r);
    fclose(in);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "sha256sum < '%s'", tmp);
    FILE *sum = popen(cmd, "r");
    assert_non_null(sum);
    assert_int_equal(fscanf(sum, "%64s", expected), 1);
    pclose(sum);
    unlink(tmp);
    assert_int_equal(dbmgmt_conn_query(s->conn, &r, "SELECT checksum FROM dbmgmt_schema_history "
                                       "WHERE version = ?", 1, applied), DBMGMT_OK);
    assert_int_equal(dbmgmt_result_next(r), 1);
    snprintf(stored, sizeof stored, "%s", dbmgmt_result_text(r, 0));
    dbmgmt_result_free(r);
    assert_string_equal(stored, expected);
    reload(s);
    up_ok(s); /* nothing to do, through the digest */
    assert_int_equal(applied_count(s), 3);
    /* a history row deleted by hand: the digest no longer agrees, the full
     * read sees 002 pending behind 003 */
    assert_int_equal(dbmgmt_conn_exec(s->conn, "DELETE FROM dbmgmt_schema_history WHERE version = '002'"),
                     DBMGMT_OK);
    reload(s);
    assert_int_equal(dbmgmt_migrator_up(s->m), DBMGMT_ERR_POLICY);
    assert_non_null(strstr(dbmgmt_migrator_errmsg(s->m), "out of order"));
    /* a checksum edited by hand: validate reads every row */
    assert_int_equal(dbmgmt_conn_exec(s->conn, "UPDATE dbmgmt_schema_history SET checksum = 'x' WHERE version = '001'"),
                     DBMGMT_OK);
    reload(s);
    assert_int_equal(dbmgmt_migrator_validate(s->m), DBMGMT_ERR_CHECKSUM);
}

/* ---- a migration's session state stays in the migration (issue 17) -------- */

int main(void)
{
    if (scratch_engine_init() != 0)
        return 1;
#define T(name) cmocka_unit_test_setup_teardown(name, scratch_setup, scratch_teardown)
    const struct CMUnitTest tests[] = {
        T(test_migrate_each_layout_applies_and_reverts),
        T(test_migrate_refuses_edited_migration_but_not_line_endings_or_bom),
        T(test_migrate_refuses_missing_and_out_of_order_unless_allowed),
        T(test_migrate_refuses_nonempty_database_until_baseline),
        T(test_migrate_refuses_other_environment_and_down_in_production),
        T(test_migrate_failed_transactional_migration_leaves_no_trace),
        T(test_migrate_dirty_mark_names_statement_and_resume_continues),
        T(test_migrate_repair_forgets_failed_migration),
        T(test_migrate_on_boot_with_embedded_table_is_idempotent),
        T(test_migrate_on_boot_from_folder),
        T(test_migrate_postgres_copy_data),
        T(test_migrate_production_backs_up_before_changing),
        T(test_migrate_backup_requirement_is_production_only),
        T(test_migrate_plan_lists_steps_and_progress_can_stop),
        T(test_migrate_production_refuses_lint_error_until_allowed_in_file),
        T(test_migrate_lint_errors_only_warn_outside_production_or_when_allowed),
        T(test_migrate_lint_follows_the_schema_through_the_plan),
        T(test_migrate_boot_trusts_the_digest_only_while_it_agrees),
    };
    return cmocka_run_group_tests_name("conformance/migrate", tests, NULL, NULL);
}
