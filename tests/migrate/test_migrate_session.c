/*
 * The migration conformance suite, part two (migrate_scratch.h): what a
 * migration may do to the session, and the round trips the migrator spends
 * keeping it (issue 23): the session is put back only after a migration
 * that may have changed it, and on MySQL a statement's progress mark rides
 * with it in one multi-statement query, turned off again when the run ends.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "dbmgmt.h"
#include "migrate_scratch.h"
#include "support/files.h"

static char *query_text(scratch *s, const char *sql)
{
    dbmgmt_result *r = NULL;
    if (dbmgmt_conn_query(s->conn, &r, sql, 0, NULL) != DBMGMT_OK)
        fail_msg("%s: %s", sql, dbmgmt_conn_errmsg(s->conn));
    assert_int_equal(dbmgmt_result_next(r), 1);
    const char *v = dbmgmt_result_text(r, 0);
    char *copy = strdup(v ? v : "(null)");
    dbmgmt_result_free(r);
    return copy;
}

/* pg_dump's header empties the search_path; a migration may SET it, or USE
 * another database, or change sql_mode or foreign keys. None of it may send
 * the history elsewhere, reach the next migration or outlive the run. */
static void test_migrate_session_state_stays_in_its_migration(void **state)
{
    scratch *s = *state;
    char sql[512], *before = NULL, *before2 = NULL;
    if (engine == DBMGMT_ENGINE_POSTGRES) {
        /* the host's own choice of schema, made before the migrator came */
        assert_int_equal(dbmgmt_conn_exec(s->conn, "CREATE SCHEMA mt_host"), DBMGMT_OK);
        assert_int_equal(dbmgmt_conn_exec(s->conn, "SET search_path = mt_host, public"), DBMGMT_OK);
        before = query_text(s, "SELECT current_setting('search_path')");
        support_write_file(s->dir, "001_baseline.sql",
                   "-- migrate:up\n"
                   "SET statement_timeout = 0;\n"
                   "SET client_encoding = 'UTF8';\n"
                   "SET standard_conforming_strings = on;\n"
                   "SELECT pg_catalog.set_config('search_path', '', false);\n"
                   "SET default_tablespace = '';\n"
                   "CREATE TABLE public.mt_dump (id integer NOT NULL);\n"
                   "ALTER TABLE ONLY public.mt_dump ADD CONSTRAINT mt_dump_pkey PRIMARY KEY (id);\n");
        support_write_file(s->dir, "002_elsewhere.sql",
                   "-- migrate:up\nCREATE SCHEMA mt_other;\nSET search_path = mt_other;\n"
                   "CREATE TABLE mt_in_other (id integer PRIMARY KEY);\n");
        support_write_file(s->dir, "003_elsewhere_outside_tx.sql",
                   "-- migrate:up transaction:false\nSET search_path = mt_other;\n"
                   "CREATE TABLE mt_nt (id integer PRIMARY KEY);\n");
        support_write_file(s->dir, "004_plain.sql",
                   "-- migrate:up\nCREATE TABLE mt_after (id integer PRIMARY KEY);\n");
    } else if (engine == DBMGMT_ENGINE_MYSQL) {
        assert_int_equal(dbmgmt_conn_exec(s->conn, "SET SESSION sql_mode = 'TRADITIONAL'"),
                         DBMGMT_OK);
        before = query_text(s, "SELECT @@SESSION.sql_mode");
        before2 = query_text(s, "SELECT @@SESSION.time_zone");
        snprintf(sql, sizeof sql,
                 "-- migrate:up\nCREATE DATABASE IF NOT EXISTS %s_o;\nUSE %s_o;\n"
                 "CREATE TABLE mt_in_other (id INT PRIMARY KEY);\n", s->db.name, s->db.name);
        support_write_file(s->dir, "001_use.sql", sql);
        support_write_file(s->dir, "002_modes.sql",
                   "-- migrate:up\nSET SESSION sql_mode = 'ANSI_QUOTES';\n"
                   "SET time_zone = '+05:00';\nSET foreign_key_checks = 0;\n"
                   "CREATE TABLE mt_q (id INT PRIMARY KEY);\n");
        snprintf(sql, sizeof sql, "-- migrate:up\nUSE %s_o;\nCREATE TABLE mt_o2 (id INT PRIMARY KEY);\n",
                 s->db.name);
        support_write_file(s->dir, "003_use_again.sql", sql);
        support_write_file(s->dir, "004_plain.sql",
                   "-- migrate:up\nCREATE TABLE mt_after (id INT PRIMARY KEY);\n");
    } else {
        support_write_file(s->dir, "001_fk_off.sql",
                   "-- migrate:up transaction:false\nPRAGMA foreign_keys = OFF;\n"
                   "CREATE TABLE mt_p (id INTEGER PRIMARY KEY);\n");
        support_write_file(s->dir, "002_plain.sql",
                   "-- migrate:up\nCREATE TABLE mt_after (id INTEGER PRIMARY KEY);\n");
    }
    reload(s);
    up_ok(s);
    int expected = engine == DBMGMT_ENGINE_SQLITE ? 2 : 4;
    /* the history is where it belongs, and complete */
    if (engine == DBMGMT_ENGINE_POSTGRES) {
        assert_int_equal(count_rows(s, "SELECT COUNT(*) FROM mt_host.dbmgmt_schema_history "
                                       "WHERE success = 1 AND installed_rank > 0"), expected);
        assert_int_equal(count_rows(s, "SELECT COUNT(*) FROM pg_tables WHERE tablename = "
                                       "'dbmgmt_schema_history'"), 1);
        assert_int_equal(count_rows(s, "SELECT COUNT(*) FROM pg_tables WHERE schemaname = "
                                       "'mt_host' AND tablename = 'mt_after'"), 1);
        assert_int_equal(count_rows(s, "SELECT COUNT(*) FROM pg_tables WHERE schemaname = "
                                       "'mt_other' AND tablename IN ('mt_in_other', 'mt_nt')"), 2);
        char *after = query_text(s, "SELECT current_setting('search_path')");
        assert_string_equal(after, before);
        free(after);
    } else if (engine == DBMGMT_ENGINE_MYSQL) {
        assert_int_equal(applied_count(s), expected);
        snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM information_schema.TABLES WHERE "
                 "TABLE_SCHEMA = '%s_o' AND TABLE_NAME = 'dbmgmt_schema_history'", s->db.name);
        assert_int_equal(count_rows(s, sql), 0);
        snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM information_schema.TABLES WHERE "
                 "TABLE_SCHEMA = '%s' AND TABLE_NAME IN ('mt_q', 'mt_after')", s->db.name);
        assert_int_equal(count_rows(s, sql), 2);
        char *db = query_text(s, "SELECT DATABASE()");
        assert_string_equal(db, s->db.name);
        free(db);
        char *after = query_text(s, "SELECT @@SESSION.sql_mode");
        assert_string_equal(after, before);
        free(after);
        after = query_text(s, "SELECT @@SESSION.time_zone");
        assert_string_equal(after, before2);
        free(after);
        assert_int_equal(count_rows(s, "SELECT @@SESSION.foreign_key_checks"), 1);
    } else {
        assert_int_equal(applied_count(s), expected);
        assert_int_equal(count_rows(s, "PRAGMA foreign_keys"), 1);
    }
    /* and the next run finds nothing to do */
    reload(s);
    dbmgmt_plan *plan = NULL;
    assert_int_equal(dbmgmt_migrator_plan(s->m, NULL, &plan), DBMGMT_OK);
    assert_int_equal(dbmgmt_plan_count(plan), 0);
    dbmgmt_plan_free(plan);
    if (engine == DBMGMT_ENGINE_MYSQL) {
        snprintf(sql, sizeof sql, "DROP DATABASE %s_o", s->db.name);
        support_exec_on(base_dsn, sql);
    }
    free(before);
    free(before2);
}

/* The history table may name its schema (PostgreSQL) or database (MySQL). */
static void test_migrate_history_table_may_name_its_schema(void **state)
{
    scratch *s = *state;
    reload(s);
    assert_int_equal(dbmgmt_migrator_set_table_name(s->m, "a.b.c"), DBMGMT_ERR_INVALID);
    assert_non_null(strstr(dbmgmt_migrator_errmsg(s->m), "SCHEMA.TABLE"));
    assert_int_equal(dbmgmt_migrator_set_table_name(s->m, ".t"), DBMGMT_ERR_INVALID);
    assert_int_equal(dbmgmt_migrator_set_table_name(s->m, "s."), DBMGMT_ERR_INVALID);
    if (engine != DBMGMT_ENGINE_POSTGRES)
        return;
    support_exec_on(s->db.dsn, "CREATE SCHEMA mt_hist");
    support_write_file(s->dir, "001_t.sql", "-- migrate:up\nCREATE TABLE mt_t (id integer PRIMARY KEY);\n");
    reload(s);
    assert_int_equal(dbmgmt_migrator_set_table_name(s->m, "mt_hist.history"), DBMGMT_OK);
    up_ok(s);
    assert_int_equal(count_rows(s, "SELECT COUNT(*) FROM mt_hist.history WHERE installed_rank > 0"), 1);
    assert_int_equal(count_rows(s, "SELECT COUNT(*) FROM pg_tables WHERE tablename = "
                                   "'dbmgmt_schema_history'"), 0);
    /* an empty search_path: nothing to resolve, and the named schema needs nothing */
    assert_int_equal(dbmgmt_conn_exec(s->conn, "SET search_path = ''"), DBMGMT_OK);
    reload(s);
    assert_int_equal(dbmgmt_migrator_up(s->m), DBMGMT_ERR_NOTFOUND);
    assert_non_null(strstr(dbmgmt_migrator_errmsg(s->m), "search_path"));
    reload(s);
    assert_int_equal(dbmgmt_migrator_set_table_name(s->m, "mt_hist.history"), DBMGMT_OK);
    up_ok(s);
    assert_int_equal(dbmgmt_conn_exec(s->conn, "RESET search_path"), DBMGMT_OK);
}

/* MySQL's counters of this session (SHOW SESSION STATUS). */
static int64_t session_counter(scratch *s, const char *name)
{
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT VARIABLE_VALUE FROM information_schema.SESSION_STATUS"
             " WHERE VARIABLE_NAME = '%s'", name);
    return count_rows(s, sql);
}

/* Plain migrations leave the session alone, so the migrator does not put
 * it back (no USE, no SET after each); the progress marks ride with their
 * statements; a crash-safe dirty mark still names the failing statement. */
static void test_migrate_plain_migrations_spend_no_session_round_trips(void **state)
{
    scratch *s = *state;
    if (engine != DBMGMT_ENGINE_MYSQL)
        return;
    for (int i = 1; i <= 3; i++) {
        char name[64], sql[512];
        snprintf(name, sizeof name, "00%d_plain.sql", i);
        snprintf(sql, sizeof sql,
                 "-- migrate:up\nCREATE TABLE mt_p%d (id INT PRIMARY KEY, v VARCHAR(20)); -- note\n"
                 "CREATE INDEX mt_p%d_v ON mt_p%d (v);\n"
                 "/* a comment first */ INSERT INTO mt_p%d VALUES (1, 'a;b');\n"
                 "-- migrate:down\nDROP TABLE mt_p%d;\n", i, i, i, i, i);
        support_write_file(s->dir, name, sql);
    }
    int64_t use_before = session_counter(s, "COM_CHANGE_DB");
    int64_t set_before = session_counter(s, "COM_SET_OPTION");
    assert_true(use_before >= 0 && set_before >= 0);
    reload(s);
    up_ok(s);
    assert_int_equal(applied_count(s), 3);
    assert_int_equal(count_rows(s, "SELECT SUM(statements_applied) FROM dbmgmt_schema_history"
                                   " WHERE installed_rank > 0"), 9);
    assert_int_equal(count_rows(s, "SELECT COUNT(*) FROM mt_p3 WHERE v = 'a;b'"), 1);
    assert_int_equal(session_counter(s, "COM_CHANGE_DB"), use_before); /* nothing put back */
    /* no SET statement either: Com_set_option counts SET statements and the
     * COM_SET_OPTION commands, of which the run sends two: multi-statement
     * queries on for the first mark, off at the end */
    assert_int_equal(session_counter(s, "COM_SET_OPTION"), set_before + 2);

    /* a statement that fails mid-way: the marks sent with the statements
     * before it count them, the failure names it */
    support_write_file(s->dir, "004_fails.sql",
                       "-- migrate:up\nCREATE TABLE mt_f1 (id INT);\n"
                       "INSERT INTO mt_f1 VALUES (1);\nINSERT INTO mt_missing VALUES (1);\n"
                       "CREATE TABLE mt_f4 (id INT);\n");
    reload(s);
    assert_int_equal(dbmgmt_migrator_up(s->m), DBMGMT_ERR_SQL);
    assert_non_null(strstr(dbmgmt_migrator_errmsg(s->m), "failed at statement 3 of 4"));
    assert_int_equal(count_rows(s, "SELECT statements_applied FROM dbmgmt_schema_history"
                                   " WHERE version = '004' AND success = 0"), 2);
    assert_int_equal(count_rows(s, "SELECT COUNT(*) FROM mt_f1"), 1);
    assert_false(table_exists(s, "mt_f4"));
}

/* The multi-statement queries the marks ride in are the migrator's alone:
 * a goose StatementBegin/End block after them is sent as one statement, as
 * in a run without them, so two statements in it are refused by MySQL (and
 * nothing of the block runs); after the run the connection is as before. */
static void test_migrate_multi_statements_end_with_the_marks(void **state)
{
    scratch *s = *state;
    if (engine != DBMGMT_ENGINE_MYSQL)
        return;
    support_write_file(s->dir, "001_tables.sql",
                       "-- +goose Up\nCREATE TABLE mt_g (id INT PRIMARY KEY);\n"
                       "CREATE TABLE mt_h (id INT PRIMARY KEY);\n-- +goose Down\nDROP TABLE mt_h;\n");
    support_write_file(s->dir, "002_block.sql",
                       "-- +goose Up\n-- +goose StatementBegin\n"
                       "INSERT INTO mt_g VALUES (1); INSERT INTO mt_g VALUES (2);\n"
                       "-- +goose StatementEnd\n-- +goose Down\nDELETE FROM mt_g;\n");
    reload(s);
    assert_int_equal(dbmgmt_migrator_up(s->m), DBMGMT_ERR_SQL);
    assert_non_null(strstr(dbmgmt_migrator_errmsg(s->m), "002"));
    assert_int_equal(count_rows(s, "SELECT COUNT(*) FROM mt_g"), 0);
    assert_int_equal(applied_count(s), 1);
}

/* The history row's text values go into the INSERT quoted by the driver on
 * MySQL (one round trip, not a prepare): a quote, a backslash and a
 * non-ASCII letter in the file's name come back as they are, on every
 * engine. */
static void test_migrate_history_row_keeps_quotes_and_backslashes(void **state)
{
    scratch *s = *state;
    const char *name = "001_o'brien\\x_\xc3\xa9.sql";
    support_write_file(s->dir, name, "-- migrate:up\nCREATE TABLE mt_qb (id INT);\n");
    reload(s);
    up_ok(s);
    char *desc = query_text(s, "SELECT description FROM dbmgmt_schema_history WHERE"
                               " version = '001'");
    assert_string_equal(desc, "o'brien\\x_\xc3\xa9");
    free(desc);
    char *script = query_text(s, "SELECT script FROM dbmgmt_schema_history WHERE"
                                 " version = '001'");
    char want[400];
    snprintf(want, sizeof want, "%s/%s", s->dir, name);
    assert_string_equal(script, want);
    free(script);
    assert_int_equal(applied_count(s), 1);
    if (engine != DBMGMT_ENGINE_MYSQL)
        return;
    /* the host's session may not take backslash escapes: the quoting follows it */
    assert_int_equal(dbmgmt_conn_exec(s->conn, "SET SESSION sql_mode = 'NO_BACKSLASH_ESCAPES'"),
                     DBMGMT_OK);
    support_write_file(s->dir, "002_back\\slash_'quote'.sql",
                       "-- migrate:up\nCREATE TABLE mt_qb2 (id INT);\n");
    reload(s);
    up_ok(s);
    desc = query_text(s, "SELECT description FROM dbmgmt_schema_history WHERE version = '002'");
    assert_string_equal(desc, "back\\slash_'quote'");
    free(desc);
}

int main(void)
{
    if (scratch_engine_init() != 0)
        return 1;
#define T(name) cmocka_unit_test_setup_teardown(name, scratch_setup, scratch_teardown)
    const struct CMUnitTest tests[] = {
        T(test_migrate_session_state_stays_in_its_migration),
        T(test_migrate_history_table_may_name_its_schema),
        T(test_migrate_plain_migrations_spend_no_session_round_trips),
        T(test_migrate_multi_statements_end_with_the_marks),
        T(test_migrate_history_row_keeps_quotes_and_backslashes),
    };
    return cmocka_run_group_tests_name("conformance/migrate-session", tests, NULL, NULL);
}
