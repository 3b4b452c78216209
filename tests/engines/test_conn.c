/*
 * The connection conformance suite: one program, run once per engine DSN
 * (DBMGMT_TEST_DSN). The same calls must behave the same on every engine.
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

static const char *test_dsn;

/* Column types that mean the same thing on every engine. */
typedef enum logical_type { T_TEXT, T_BLOB, T_DOUBLE } logical_type;

static const char *type_name(dbmgmt_conn *c, logical_type t)
{
    dbmgmt_engine e = dbmgmt_conn_engine(c);
    switch (t) {
    case T_TEXT: return e == DBMGMT_ENGINE_MYSQL ? "LONGTEXT" : "TEXT";
    case T_BLOB:
        return e == DBMGMT_ENGINE_POSTGRES ? "BYTEA" : e == DBMGMT_ENGINE_MYSQL ? "LONGBLOB" : "BLOB";
    default: return e == DBMGMT_ENGINE_MYSQL ? "DOUBLE" : "DOUBLE PRECISION";
    }
}

static dbmgmt_conn *open_conn(void)
{
    dbmgmt_conn *c = NULL;
    int rc = dbmgmt_conn_open(&c, test_dsn);
    if (rc != DBMGMT_OK)
        fail_msg("dbmgmt_conn_open: %s: %s", dbmgmt_status_name(rc), dbmgmt_errmsg());
    return c;
}

static void exec_ok(dbmgmt_conn *c, const char *sql)
{
    int rc = dbmgmt_conn_exec(c, sql);
    if (rc != DBMGMT_OK)
        fail_msg("exec '%s': %s: %s", sql, dbmgmt_status_name(rc), dbmgmt_conn_errmsg(c));
}

static int64_t query_int(dbmgmt_conn *c, const char *sql)
{
    dbmgmt_result *r = NULL;
    if (dbmgmt_conn_query(c, &r, sql, 0, NULL) != DBMGMT_OK)
        fail_msg("query '%s': %s", sql, dbmgmt_conn_errmsg(c));
    assert_int_equal(dbmgmt_result_next(r), 1);
    int64_t v = dbmgmt_result_int64(r, 0);
    dbmgmt_result_free(r);
    return v;
}

static void test_conn_reports_its_engine_and_pings(void **state)
{
    (void)state;
    dbmgmt_conn *c = open_conn();
    assert_int_not_equal(dbmgmt_conn_engine(c), DBMGMT_ENGINE_NONE);
    assert_non_null(dbmgmt_conn_native(c));
    assert_int_equal(dbmgmt_conn_ping(c), DBMGMT_OK);
    assert_int_equal(dbmgmt_conn_in_transaction(c), 0);
    dbmgmt_conn_close(c);
}

static void test_conn_ddl_dml_round_trip_with_affected_rows(void **state)
{
    (void)state;
    dbmgmt_conn *c = open_conn();
    exec_ok(c, "DROP TABLE IF EXISTS ct_items");
    exec_ok(c, "CREATE TABLE ct_items (id INTEGER PRIMARY KEY, name VARCHAR(50) NOT NULL, qty INTEGER)");
    for (int i = 1; i <= 5; i++) {
        char id[8], qty[8];
        snprintf(id, sizeof id, "%d", i);
        snprintf(qty, sizeof qty, "%d", i * 10);
        const char *params[] = {id, "item", qty};
        dbmgmt_result *r = NULL;
        assert_int_equal(dbmgmt_conn_query(c, &r, "INSERT INTO ct_items (id, name, qty) VALUES (?, ?, ?)", 3, params), DBMGMT_OK);
        assert_int_equal(dbmgmt_result_affected_rows(r), 1);
        assert_int_equal(dbmgmt_result_next(r), 0);
        dbmgmt_result_free(r);
    }
    dbmgmt_result *r = NULL;
    const char *limit[] = {"25"};
    assert_int_equal(dbmgmt_conn_query(c, &r, "UPDATE ct_items SET qty = qty + 1 WHERE qty > ?", 1, limit), DBMGMT_OK);
    assert_int_equal(dbmgmt_result_affected_rows(r), 3);
    dbmgmt_result_free(r);
    assert_int_equal(dbmgmt_conn_query(c, &r, "SELECT id, name, qty FROM ct_items WHERE qty > ? ORDER BY id", 1, limit), DBMGMT_OK);
    assert_int_equal(dbmgmt_result_column_count(r), 3);
    assert_string_equal(dbmgmt_result_column_name(r, 0), "id");
    assert_string_equal(dbmgmt_result_column_name(r, 2), "qty");
    assert_null(dbmgmt_result_column_name(r, 3));
    int64_t expect_id = 3;
    int rows = 0;
    while (dbmgmt_result_next(r) == 1) {
        assert_int_equal(dbmgmt_result_int64(r, 0), expect_id);
        assert_string_equal(dbmgmt_result_text(r, 1), "item");
        assert_int_equal(dbmgmt_result_int64(r, 2), expect_id * 10 + 1);
        expect_id++;
        rows++;
    }
    assert_int_equal(rows, 3);
    assert_int_equal(dbmgmt_result_affected_rows(r), 0);
    dbmgmt_result_free(r);
    assert_int_equal(dbmgmt_conn_query(c, &r, "DELETE FROM ct_items WHERE id <= 2", 0, NULL), DBMGMT_OK);
    assert_int_equal(dbmgmt_result_affected_rows(r), 2);
    dbmgmt_result_free(r);
    assert_int_equal(query_int(c, "SELECT COUNT(*) FROM ct_items"), 3);
    exec_ok(c, "DROP TABLE ct_items");
    dbmgmt_conn_close(c);
}

static void test_conn_every_bind_type_round_trips(void **state)
{
    (void)state;
    dbmgmt_conn *c = open_conn();
    char ddl[256];
    exec_ok(c, "DROP TABLE IF EXISTS ct_types");
    snprintf(ddl, sizeof ddl, "CREATE TABLE ct_types (id INTEGER PRIMARY KEY, i BIGINT, d %s, t %s, b %s)",
             type_name(c, T_DOUBLE), type_name(c, T_TEXT), type_name(c, T_BLOB));
    exec_ok(c, ddl);

    size_t big_len = 1024 * 1024;
    char *big = malloc(big_len + 1);
    for (size_t i = 0; i < big_len; i++)
        big[i] = (char)('a' + (char)(i % 26));
    big[big_len] = '\0';
    static const unsigned char blob[] = {0x00, 0x01, 0xff, 0x00, 'x', 0x00};
    const char *utf8 = "Grüße, 世界, emoji \xf0\x9f\x98\x80";

    dbmgmt_stmt *s = NULL;
    assert_int_equal(dbmgmt_conn_prepare(c, &s, "INSERT INTO ct_types (id, i, d, t, b) VALUES (?, ?, ?, ?, ?)"), DBMGMT_OK);
    assert_int_equal(dbmgmt_stmt_param_count(s), 5);
    /* row 1: every type */
    assert_int_equal(dbmgmt_stmt_bind_int64(s, 1, 1), DBMGMT_OK);
    assert_int_equal(dbmgmt_stmt_bind_int64(s, 2, INT64_MIN), DBMGMT_OK);
    assert_int_equal(dbmgmt_stmt_bind_double(s, 3, -1.5e-300), DBMGMT_OK);
    assert_int_equal(dbmgmt_stmt_bind_text(s, 4, utf8), DBMGMT_OK);
    assert_int_equal(dbmgmt_stmt_bind_blob(s, 5, blob, sizeof blob), DBMGMT_OK);
    assert_int_equal(dbmgmt_stmt_execute(s, NULL), DBMGMT_OK);
    /* row 2: NULLs (both ways) and the 1 MB text; the statement is reused */
    assert_int_equal(dbmgmt_stmt_bind_int64(s, 1, 2), DBMGMT_OK);
    assert_int_equal(dbmgmt_stmt_bind_null(s, 2), DBMGMT_OK);
    assert_int_equal(dbmgmt_stmt_bind_null(s, 3), DBMGMT_OK);
    assert_int_equal(dbmgmt_stmt_bind_text(s, 4, big), DBMGMT_OK);
    assert_int_equal(dbmgmt_stmt_bind_text(s, 5, NULL), DBMGMT_OK);
    assert_int_equal(dbmgmt_stmt_execute(s, NULL), DBMGMT_OK);
    /* row 3: extremes and an empty blob */
    assert_int_equal(dbmgmt_stmt_bind_int64(s, 1, 3), DBMGMT_OK);
    assert_int_equal(dbmgmt_stmt_bind_int64(s, 2, INT64_MAX), DBMGMT_OK);
    assert_int_equal(dbmgmt_stmt_bind_double(s, 3, 0.1), DBMGMT_OK);
    assert_int_equal(dbmgmt_stmt_bind_text(s, 4, ""), DBMGMT_OK);
    assert_int_equal(dbmgmt_stmt_bind_blob(s, 5, NULL, 0), DBMGMT_OK);
    assert_int_equal(dbmgmt_stmt_execute(s, NULL), DBMGMT_OK);
    /* a bad index is refused with the count in the message */
    assert_int_equal(dbmgmt_stmt_bind_int64(s, 6, 0), DBMGMT_ERR_INVALID);
    assert_non_null(strstr(dbmgmt_errmsg(), "parameter index 6 is out of range (the statement has 5 placeholders"));
    assert_int_equal(dbmgmt_stmt_bind_int64(s, 0, 0), DBMGMT_ERR_INVALID);
    dbmgmt_stmt_free(s);

    dbmgmt_result *r = NULL;
    assert_int_equal(dbmgmt_conn_query(c, &r, "SELECT i, d, t, b FROM ct_types ORDER BY id", 0, NULL), DBMGMT_OK);
    size_t len = 99;
    assert_int_equal(dbmgmt_result_next(r), 1);
    assert_int_equal(dbmgmt_result_int64(r, 0), INT64_MIN);
    assert_true(dbmgmt_result_double(r, 1) == -1.5e-300);
    assert_string_equal(dbmgmt_result_text(r, 2), utf8);
    const void *got = dbmgmt_result_blob(r, 3, &len);
    assert_int_equal(len, sizeof blob);
    assert_memory_equal(got, blob, sizeof blob);
    assert_false(dbmgmt_result_is_null(r, 3));

    assert_int_equal(dbmgmt_result_next(r), 1);
    assert_true(dbmgmt_result_is_null(r, 0));
    assert_true(dbmgmt_result_is_null(r, 1));
    assert_null(dbmgmt_result_text(r, 0));
    assert_int_equal(dbmgmt_result_int64(r, 0), 0);
    assert_string_equal(dbmgmt_result_text(r, 2), big);
    assert_null(dbmgmt_result_blob(r, 3, &len));
    assert_int_equal(len, 0);
    assert_true(dbmgmt_result_is_null(r, 3));

    assert_int_equal(dbmgmt_result_next(r), 1);
    assert_int_equal(dbmgmt_result_int64(r, 0), INT64_MAX);
    assert_true(dbmgmt_result_double(r, 1) == 0.1);
    assert_string_equal(dbmgmt_result_text(r, 2), "");
    assert_false(dbmgmt_result_is_null(r, 2));
    got = dbmgmt_result_blob(r, 3, &len);
    assert_non_null(got);
    assert_int_equal(len, 0);
    assert_false(dbmgmt_result_is_null(r, 3));

    assert_int_equal(dbmgmt_result_next(r), 0);
    assert_int_equal(dbmgmt_result_next(r), 0); /* stays at the end */
    assert_null(dbmgmt_result_text(r, 0));     /* no current row */
    dbmgmt_result_free(r);
    free(big);
    exec_ok(c, "DROP TABLE ct_types");
    dbmgmt_conn_close(c);
}

static void test_conn_transactions_commit_rollback_and_detection(void **state)
{
    (void)state;
    dbmgmt_conn *c = open_conn();
    exec_ok(c, "DROP TABLE IF EXISTS ct_tx");
    exec_ok(c, "CREATE TABLE ct_tx (id INTEGER PRIMARY KEY)");
    assert_int_equal(dbmgmt_conn_in_transaction(c), 0);
    assert_int_equal(dbmgmt_conn_begin(c), DBMGMT_OK);
    assert_int_equal(dbmgmt_conn_in_transaction(c), 1);
    assert_int_equal(dbmgmt_conn_begin(c), DBMGMT_ERR_BUSY);
    assert_non_null(strstr(dbmgmt_conn_errmsg(c), "a transaction is already open"));
    exec_ok(c, "INSERT INTO ct_tx (id) VALUES (1)");
    assert_int_equal(dbmgmt_conn_rollback(c), DBMGMT_OK);
    assert_int_equal(dbmgmt_conn_in_transaction(c), 0);
    assert_int_equal(query_int(c, "SELECT COUNT(*) FROM ct_tx"), 0);

    assert_int_equal(dbmgmt_conn_begin(c), DBMGMT_OK);
    exec_ok(c, "INSERT INTO ct_tx (id) VALUES (2)");
    assert_int_equal(dbmgmt_conn_commit(c), DBMGMT_OK);
    assert_int_equal(dbmgmt_conn_in_transaction(c), 0);

    /* another connection sees the committed row */
    dbmgmt_conn *other = open_conn();
    assert_int_equal(query_int(other, "SELECT COUNT(*) FROM ct_tx"), 1);
    dbmgmt_conn_close(other);

    /* closing with a transaction open rolls it back */
    assert_int_equal(dbmgmt_conn_begin(c), DBMGMT_OK);
    exec_ok(c, "INSERT INTO ct_tx (id) VALUES (3)");
    dbmgmt_conn_close(c);
    c = open_conn();
    assert_int_equal(query_int(c, "SELECT COUNT(*) FROM ct_tx"), 1);
    exec_ok(c, "DROP TABLE ct_tx");
    dbmgmt_conn_close(c);
}

static void test_conn_errors_carry_engine_message_and_sqlstate(void **state)
{
    (void)state;
    dbmgmt_conn *c = open_conn();
    exec_ok(c, "DROP TABLE IF EXISTS ct_err");
    exec_ok(c, "CREATE TABLE ct_err (id INTEGER PRIMARY KEY, v INTEGER NOT NULL)");
    exec_ok(c, "INSERT INTO ct_err (id, v) VALUES (1, 1)");
    dbmgmt_result *r = NULL;
    const char *dup[] = {"1", "2"};
    assert_int_equal(dbmgmt_conn_query(c, &r, "INSERT INTO ct_err (id, v) VALUES (?, ?)", 2, dup), DBMGMT_ERR_SQL);
    assert_null(r);
    assert_memory_equal(dbmgmt_conn_sqlstate(c), "23", 2); /* integrity constraint class */
    assert_int_equal(strlen(dbmgmt_conn_sqlstate(c)), 5);
    assert_true(strlen(dbmgmt_conn_errmsg(c)) > 10);
    assert_string_equal(dbmgmt_errmsg(), dbmgmt_conn_errmsg(c));
    assert_int_equal(dbmgmt_errcode(), DBMGMT_ERR_SQL);

    assert_int_equal(dbmgmt_conn_exec(c, "SELEC nonsense"), DBMGMT_ERR_SQL);
    assert_memory_equal(dbmgmt_conn_sqlstate(c), "42", 2); /* syntax error or access rule class */
    assert_non_null(strstr(dbmgmt_conn_errmsg(c), "syntax"));

    assert_int_equal(dbmgmt_conn_query(c, &r, "SELECT * FROM ct_no_such_table", 0, NULL), DBMGMT_ERR_SQL);
    assert_non_null(strstr(dbmgmt_conn_errmsg(c), "ct_no_such_table"));

    /* the connection stays usable after errors */
    assert_int_equal(query_int(c, "SELECT COUNT(*) FROM ct_err"), 1);
    /* a success clears the connection's error */
    assert_string_equal(dbmgmt_conn_errmsg(c), "");
    exec_ok(c, "DROP TABLE ct_err");
    dbmgmt_conn_close(c);
}

static void test_conn_exec_script_names_failing_statement_and_line(void **state)
{
    (void)state;
    dbmgmt_conn *c = open_conn();
    exec_ok(c, "DROP TABLE IF EXISTS ct_script");
    int rc = dbmgmt_conn_exec(c, "CREATE TABLE ct_script (id INTEGER PRIMARY KEY);\n"
                                 "INSERT INTO ct_script (id) VALUES (1);\n"
                                 "\n"
                                 "INSERT INTO ct_script (id) VALUES (1);\n"
                                 "INSERT INTO ct_script (id) VALUES (3);\n");
    assert_int_equal(rc, DBMGMT_ERR_SQL);
    assert_non_null(strstr(dbmgmt_conn_errmsg(c), "statement 3 (line 4)"));
    assert_int_equal(query_int(c, "SELECT COUNT(*) FROM ct_script"), 1);
    exec_ok(c, "DROP TABLE ct_script");
    dbmgmt_conn_close(c);
}

static void test_conn_query_checks_parameter_count(void **state)
{
    (void)state;
    dbmgmt_conn *c = open_conn();
    dbmgmt_result *r = (dbmgmt_result *)0x1;
    const char *p[] = {"1", "2"};
    assert_int_equal(dbmgmt_conn_query(c, &r, "SELECT ?", 2, p), DBMGMT_ERR_INVALID);
    assert_null(r);
    assert_string_equal(dbmgmt_conn_errmsg(c),
                        "dbmgmt_conn_query: the statement has 1 placeholder but 2 parameters were given");
    assert_int_equal(dbmgmt_conn_query(c, &r, "SELECT ?", 1, p), DBMGMT_OK);
    assert_int_equal(dbmgmt_result_next(r), 1);
    assert_string_equal(dbmgmt_result_text(r, 0), "1");
    dbmgmt_result_free(r);
    dbmgmt_conn_close(c);
}

int main(void)
{
    test_dsn = getenv("DBMGMT_TEST_DSN");
    if (!test_dsn || !*test_dsn) {
        fprintf(stderr, "DBMGMT_TEST_DSN is not set\n");
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conn_reports_its_engine_and_pings),
        cmocka_unit_test(test_conn_ddl_dml_round_trip_with_affected_rows),
        cmocka_unit_test(test_conn_every_bind_type_round_trips),
        cmocka_unit_test(test_conn_transactions_commit_rollback_and_detection),
        cmocka_unit_test(test_conn_errors_carry_engine_message_and_sqlstate),
        cmocka_unit_test(test_conn_exec_script_names_failing_statement_and_line),
        cmocka_unit_test(test_conn_query_checks_parameter_count),
    };
    return cmocka_run_group_tests_name("conformance/conn", tests, NULL, NULL);
}
