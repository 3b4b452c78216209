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

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "dbmgmt.h"
#include "support/engine.h"

static const char *test_dsn;
/* A DSN with admin rights on the same server (PostgreSQL, MySQL), to kill
 * sessions; optional. */
static const char *admin_dsn;
/* Every log line and the last error message of every test go here; the
 * runner searches it for the servers' passwords. */
static FILE *evidence;

static int record_last_error(void **state)
{
    (void)state;
    if (evidence)
        fprintf(evidence, "error: %s\n", dbmgmt_errmsg());
    return 0;
}

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
    support_exec_ok(c, "DROP TABLE IF EXISTS ct_items");
    support_exec_ok(c, "CREATE TABLE ct_items (id INTEGER PRIMARY KEY, name VARCHAR(50) NOT NULL, qty INTEGER)");
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
    assert_int_equal(support_query_int(c, "SELECT COUNT(*) FROM ct_items"), 3);
    support_exec_ok(c, "DROP TABLE ct_items");
    dbmgmt_conn_close(c);
}

static void test_conn_every_bind_type_round_trips(void **state)
{
    (void)state;
    dbmgmt_conn *c = open_conn();
    char ddl[256];
    support_exec_ok(c, "DROP TABLE IF EXISTS ct_types");
    snprintf(ddl, sizeof ddl, "CREATE TABLE ct_types (id INTEGER PRIMARY KEY, i BIGINT, d %s, t %s, b %s)",
             type_name(c, T_DOUBLE), type_name(c, T_TEXT), type_name(c, T_BLOB));
    support_exec_ok(c, ddl);

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
    support_exec_ok(c, "DROP TABLE ct_types");
    dbmgmt_conn_close(c);
}

static void test_conn_transactions_commit_rollback_and_detection(void **state)
{
    (void)state;
    dbmgmt_conn *c = open_conn();
    support_exec_ok(c, "DROP TABLE IF EXISTS ct_tx");
    support_exec_ok(c, "CREATE TABLE ct_tx (id INTEGER PRIMARY KEY)");
    assert_int_equal(dbmgmt_conn_in_transaction(c), 0);
    assert_int_equal(dbmgmt_conn_begin(c), DBMGMT_OK);
    assert_int_equal(dbmgmt_conn_in_transaction(c), 1);
    assert_int_equal(dbmgmt_conn_begin(c), DBMGMT_ERR_BUSY);
    assert_non_null(strstr(dbmgmt_conn_errmsg(c), "a transaction is already open"));
    support_exec_ok(c, "INSERT INTO ct_tx (id) VALUES (1)");
    assert_int_equal(dbmgmt_conn_rollback(c), DBMGMT_OK);
    assert_int_equal(dbmgmt_conn_in_transaction(c), 0);
    assert_int_equal(support_query_int(c, "SELECT COUNT(*) FROM ct_tx"), 0);

    assert_int_equal(dbmgmt_conn_begin(c), DBMGMT_OK);
    support_exec_ok(c, "INSERT INTO ct_tx (id) VALUES (2)");
    assert_int_equal(dbmgmt_conn_commit(c), DBMGMT_OK);
    assert_int_equal(dbmgmt_conn_in_transaction(c), 0);

    /* another connection sees the committed row */
    dbmgmt_conn *other = open_conn();
    assert_int_equal(support_query_int(other, "SELECT COUNT(*) FROM ct_tx"), 1);
    dbmgmt_conn_close(other);

    /* closing with a transaction open rolls it back */
    assert_int_equal(dbmgmt_conn_begin(c), DBMGMT_OK);
    support_exec_ok(c, "INSERT INTO ct_tx (id) VALUES (3)");
    dbmgmt_conn_close(c);
    c = open_conn();
    assert_int_equal(support_query_int(c, "SELECT COUNT(*) FROM ct_tx"), 1);
    support_exec_ok(c, "DROP TABLE ct_tx");
    dbmgmt_conn_close(c);
}

static void test_conn_errors_carry_engine_message_and_sqlstate(void **state)
{
    (void)state;
    dbmgmt_conn *c = open_conn();
    support_exec_ok(c, "DROP TABLE IF EXISTS ct_err");
    support_exec_ok(c, "CREATE TABLE ct_err (id INTEGER PRIMARY KEY, v INTEGER NOT NULL)");
    support_exec_ok(c, "INSERT INTO ct_err (id, v) VALUES (1, 1)");
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
    assert_int_equal(support_query_int(c, "SELECT COUNT(*) FROM ct_err"), 1);
    /* a success clears the connection's error */
    assert_string_equal(dbmgmt_conn_errmsg(c), "");
    support_exec_ok(c, "DROP TABLE ct_err");
    dbmgmt_conn_close(c);
}

static void test_conn_exec_script_names_failing_statement_and_line(void **state)
{
    (void)state;
    dbmgmt_conn *c = open_conn();
    support_exec_ok(c, "DROP TABLE IF EXISTS ct_script");
    int rc = dbmgmt_conn_exec(c, "CREATE TABLE ct_script (id INTEGER PRIMARY KEY);\n"
                                 "INSERT INTO ct_script (id) VALUES (1);\n"
                                 "\n"
                                 "INSERT INTO ct_script (id) VALUES (1);\n"
                                 "INSERT INTO ct_script (id) VALUES (3);\n");
    assert_int_equal(rc, DBMGMT_ERR_SQL);
    assert_non_null(strstr(dbmgmt_conn_errmsg(c), "statement 3 (line 4)"));
    assert_int_equal(support_query_int(c, "SELECT COUNT(*) FROM ct_script"), 1);
    support_exec_ok(c, "DROP TABLE ct_script");
    dbmgmt_conn_close(c);
}

/* PostgreSQL: a script as pg_dump writes it in plain format, COPY ... FROM
 * stdin with its rows, runs whole; a bad row is the server's error with the
 * statement's number and line, and the connection goes on. */
static void test_conn_exec_script_with_copy_data(void **state)
{
    (void)state;
    dbmgmt_conn *c = open_conn();
    if (dbmgmt_conn_engine(c) != DBMGMT_ENGINE_POSTGRES) {
        dbmgmt_conn_close(c);
        return; /* the other dialects have no data blocks */
    }
    support_exec_ok(c, "DROP TABLE IF EXISTS ct_copy");
    support_exec_ok(c, "CREATE TABLE ct_copy (id INTEGER PRIMARY KEY, name TEXT, note TEXT);\n"
               "COPY ct_copy (id, name, note) FROM stdin;\n"
               "1\talice\t\\N\n"
               "2\tbob; not the end\tit's\n"
               "3\tcarol\ttab\\there\n"
               "\\.\n"
               "INSERT INTO ct_copy (id, name) VALUES (4, 'dave');\n"
               "COPY ct_copy (id, name) FROM stdin;\n"
               "\\.\n");
    assert_int_equal(support_query_int(c, "SELECT COUNT(*) FROM ct_copy"), 4);
    assert_int_equal(support_query_int(c, "SELECT COUNT(*) FROM ct_copy WHERE note IS NULL"), 2);
    assert_int_equal(support_query_int(c, "SELECT COUNT(*) FROM ct_copy WHERE name = 'bob; not the end' "
                                  "AND note = 'it''s'"), 1);
    assert_int_equal(support_query_int(c, "SELECT COUNT(*) FROM ct_copy WHERE note = E'tab\\there'"), 1);

    /* a row the table refuses: the statement and line are named, nothing of
     * that COPY is kept, and the connection is usable */
    int rc = dbmgmt_conn_exec(c, "COPY ct_copy (id, name) FROM stdin;\n"
                                 "10\tok\n"
                                 "eleven\tnot a number\n"
                                 "\\.\n");
    assert_int_equal(rc, DBMGMT_ERR_SQL);
    assert_non_null(strstr(dbmgmt_conn_errmsg(c), "statement 1 (line 1)"));
    assert_non_null(strstr(dbmgmt_conn_errmsg(c), "eleven"));
    assert_non_null(strstr(dbmgmt_conn_errmsg(c), "line 2")); /* the row, from the server */
    assert_int_equal(support_query_int(c, "SELECT COUNT(*) FROM ct_copy"), 4);
    support_exec_ok(c, "DROP TABLE ct_copy");
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


/* dbmgmt_conn_query runs one statement, on every engine: a second one in
 * the string is refused and never runs (PostgreSQL's one-shot queries
 * without parameters take the simple protocol, which would run both: only
 * a string of one statement goes that way). A trailing ';' is still one
 * statement. */
static void test_conn_query_runs_one_statement_only(void **state)
{
    (void)state;
    dbmgmt_conn *c = open_conn();
    dbmgmt_result *r = NULL;
    assert_int_equal(dbmgmt_conn_exec(c, "DROP TABLE IF EXISTS ct_one"), DBMGMT_OK);
    assert_int_equal(dbmgmt_conn_exec(c, "CREATE TABLE ct_one (id INTEGER)"), DBMGMT_OK);
    assert_true(dbmgmt_conn_query(c, &r, "SELECT 1; INSERT INTO ct_one (id) VALUES (1)", 0,
                                  NULL) < 0);
    assert_null(r);
    assert_true(dbmgmt_conn_query(c, &r, "INSERT INTO ct_one (id) VALUES (2);\n"
                                         "INSERT INTO ct_one (id) VALUES (3)", 0, NULL) < 0);
    assert_int_equal(dbmgmt_conn_query(c, &r, "SELECT COUNT(*) FROM ct_one;", 0, NULL),
                     DBMGMT_OK);
    assert_int_equal(dbmgmt_result_next(r), 1);
    assert_int_equal(dbmgmt_result_int64(r, 0), 0);
    dbmgmt_result_free(r);
    assert_int_equal(dbmgmt_conn_query(c, &r, "SELECT ';' AS semi, 2 AS two", 0, NULL),
                     DBMGMT_OK);
    assert_int_equal(dbmgmt_result_next(r), 1);
    assert_string_equal(dbmgmt_result_text(r, 0), ";");
    assert_int_equal(dbmgmt_result_int64(r, 1), 2);
    dbmgmt_result_free(r);
    assert_int_equal(dbmgmt_conn_exec(c, "DROP TABLE ct_one"), DBMGMT_OK);
    dbmgmt_conn_close(c);
}

static void test_conn_lock_excludes_other_sessions_and_dies_with_holder(void **state)
{
    (void)state;
    dbmgmt_conn *a = open_conn(), *b = open_conn();
    assert_int_equal(dbmgmt_conn_lock(a, "conformance-lock", 1000), DBMGMT_OK);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(dbmgmt_conn_lock(b, "conformance-lock", 300), DBMGMT_ERR_TIMEOUT);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double waited = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
    assert_true(waited >= 250 && waited < 3000);
    assert_int_equal(dbmgmt_conn_unlock(a, "conformance-lock"), DBMGMT_OK);
    assert_int_equal(dbmgmt_conn_unlock(a, "conformance-lock"), DBMGMT_ERR_NOTFOUND);
    assert_int_equal(dbmgmt_conn_lock(b, "conformance-lock", 1000), DBMGMT_OK);
    /* the holder disconnecting releases the lock */
    dbmgmt_conn_close(b);
    assert_int_equal(dbmgmt_conn_lock(a, "conformance-lock", 2000), DBMGMT_OK);
    assert_int_equal(dbmgmt_conn_unlock(a, "conformance-lock"), DBMGMT_OK);
    dbmgmt_conn_close(a);
}

/* The schema JSON without what legitimately differs between engines:
 * column types, row estimates, usage counters, and the names engines give
 * indexes and foreign keys. */
static char *logical_schema(const char *json)
{
    char *out = malloc(strlen(json) + 1);
    const char *indexes = strstr(json, "\"indexes\":");
    size_t o = 0;
    for (const char *p = json; *p;) {
        static const char *const drop_everywhere[] = {"\"type\":\"", "\"row_estimate\":", "\"scans\":"};
        int dropped = 0;
        for (size_t k = 0; k < 3 && !dropped; k++) {
            size_t kl = strlen(drop_everywhere[k]);
            if (strncmp(p, drop_everywhere[k], kl) == 0) {
                const char *q = p + kl;
                if (k == 0) {
                    while (*q && *q != '"')
                        q += *q == '\\' ? 2 : 1;
                    q++;
                } else {
                    while (*q == '-' || (*q >= '0' && *q <= '9'))
                        q++;
                }
                if (*q == ',')
                    q++;
                p = q;
                dropped = 1;
            }
        }
        if (!dropped && indexes && p >= indexes && strncmp(p, "\"name\":\"", 8) == 0) {
            const char *q = p + 8;
            while (*q && *q != '"')
                q++;
            p = q + 1 + (q[1] == ',');
            dropped = 1;
        }
        if (!dropped)
            out[o++] = *p++;
    }
    out[o] = '\0';
    /* a dropped last member leaves ",}" behind */
    size_t w = 0;
    for (size_t r = 0; r < o; r++)
        if (!(out[r] == ',' && out[r + 1] == '}'))
            out[w++] = out[r];
    out[w] = '\0';
    return out;
}

static void test_conn_introspection_describes_schema_alike_on_every_engine(void **state)
{
    (void)state;
    dbmgmt_conn *c = open_conn();
    support_exec_ok(c, "DROP TABLE IF EXISTS ct_cat_order_lines");
    support_exec_ok(c, "DROP TABLE IF EXISTS ct_cat_orders");
    support_exec_ok(c, "DROP TABLE IF EXISTS ct_cat_customers");
    support_exec_ok(c, "CREATE TABLE ct_cat_customers (id INTEGER PRIMARY KEY, email VARCHAR(100) NOT NULL, "
               "region VARCHAR(20), created_at INTEGER)");
    support_exec_ok(c, "CREATE UNIQUE INDEX ct_cat_customers_email ON ct_cat_customers (email)");
    support_exec_ok(c, "CREATE INDEX ct_cat_customers_region_created ON ct_cat_customers (region, created_at)");
    support_exec_ok(c, "CREATE TABLE ct_cat_orders (id INTEGER NOT NULL, customer_id INTEGER NOT NULL, "
               "total INTEGER, PRIMARY KEY (id), "
               "CONSTRAINT ct_cat_orders_customer FOREIGN KEY (customer_id) REFERENCES ct_cat_customers (id))");
    support_exec_ok(c, "CREATE INDEX ct_cat_orders_customer_idx ON ct_cat_orders (customer_id)");
    support_exec_ok(c, "CREATE TABLE ct_cat_order_lines (order_id INTEGER NOT NULL, line_no INTEGER NOT NULL, "
               "sku VARCHAR(30) NOT NULL, PRIMARY KEY (order_id, line_no), "
               "CONSTRAINT ct_cat_lines_order FOREIGN KEY (order_id) REFERENCES ct_cat_orders (id))");
    char *json = NULL;
    assert_int_equal(dbmgmt_conn_schema_json(c, &json), DBMGMT_OK);
    assert_non_null(json);
    /* only our tables: cut the description down to them */
    char *logical = logical_schema(json);
    const char *expected_tables =
        "{\"name\":\"ct_cat_customers\",\"columns\":["
        "{\"name\":\"id\",\"nullable\":false,\"primary_key\":1},"
        "{\"name\":\"email\",\"nullable\":false,\"primary_key\":0},"
        "{\"name\":\"region\",\"nullable\":true,\"primary_key\":0},"
        "{\"name\":\"created_at\",\"nullable\":true,\"primary_key\":0}]},"
        "{\"name\":\"ct_cat_order_lines\",\"columns\":["
        "{\"name\":\"order_id\",\"nullable\":false,\"primary_key\":1},"
        "{\"name\":\"line_no\",\"nullable\":false,\"primary_key\":2},"
        "{\"name\":\"sku\",\"nullable\":false,\"primary_key\":0}]},"
        "{\"name\":\"ct_cat_orders\",\"columns\":["
        "{\"name\":\"id\",\"nullable\":false,\"primary_key\":1},"
        "{\"name\":\"customer_id\",\"nullable\":false,\"primary_key\":0},"
        "{\"name\":\"total\",\"nullable\":true,\"primary_key\":0}]}";
    const char *expected_indexes =
        "{\"table\":\"ct_cat_customers\",\"columns\":[\"id\"],\"unique\":true,\"primary\":true,\"partial\":false,\"expression\":false},"
        "{\"table\":\"ct_cat_customers\",\"columns\":[\"email\"],\"unique\":true,\"primary\":false,\"partial\":false,\"expression\":false},"
        "{\"table\":\"ct_cat_customers\",\"columns\":[\"region\",\"created_at\"],\"unique\":false,\"primary\":false,\"partial\":false,\"expression\":false},"
        "{\"table\":\"ct_cat_order_lines\",\"columns\":[\"order_id\",\"line_no\"],\"unique\":true,\"primary\":true,\"partial\":false,\"expression\":false},"
        "{\"table\":\"ct_cat_orders\",\"columns\":[\"id\"],\"unique\":true,\"primary\":true,\"partial\":false,\"expression\":false},"
        "{\"table\":\"ct_cat_orders\",\"columns\":[\"customer_id\"],\"unique\":false,\"primary\":false,\"partial\":false,\"expression\":false}";
    const char *expected_fks =
        "{\"table\":\"ct_cat_order_lines\",\"columns\":[\"order_id\"],\"ref_table\":\"ct_cat_orders\",\"ref_columns\":[\"id\"]},"
        "{\"table\":\"ct_cat_orders\",\"columns\":[\"customer_id\"],\"ref_table\":\"ct_cat_customers\",\"ref_columns\":[\"id\"]}";
    if (!strstr(logical, expected_tables) || !strstr(logical, expected_indexes) ||
        !strstr(logical, expected_fks))
        fail_msg("logical schema differs:\n%s\nfrom %s", logical, json);
    free(logical);
    dbmgmt_free(json);
    support_exec_ok(c, "DROP TABLE ct_cat_order_lines");
    support_exec_ok(c, "DROP TABLE ct_cat_orders");
    support_exec_ok(c, "DROP TABLE ct_cat_customers");
    dbmgmt_conn_close(c);
}

/* The session id as the server knows it (PostgreSQL, MySQL). */
static char *session_id(dbmgmt_conn *c)
{
    dbmgmt_result *r = NULL;
    const char *sql = dbmgmt_conn_engine(c) == DBMGMT_ENGINE_POSTGRES ? "SELECT pg_backend_pid()"
                                                                     : "SELECT CONNECTION_ID()";
    assert_int_equal(dbmgmt_conn_query(c, &r, sql, 0, NULL), DBMGMT_OK);
    assert_int_equal(dbmgmt_result_next(r), 1);
    char *id = strdup(dbmgmt_result_text(r, 0));
    dbmgmt_result_free(r);
    return id;
}

static void test_conn_killed_on_server_is_reported_broken(void **state)
{
    (void)state;
    dbmgmt_conn *victim = open_conn();
    dbmgmt_engine e = dbmgmt_conn_engine(victim);
    if (e == DBMGMT_ENGINE_SQLITE || !admin_dsn) {
        dbmgmt_conn_close(victim);
        skip();
    }
    char *id = session_id(victim);
    dbmgmt_conn *admin = NULL;
    assert_int_equal(dbmgmt_conn_open(&admin, admin_dsn), DBMGMT_OK);
    char sql[128];
    if (e == DBMGMT_ENGINE_POSTGRES)
        snprintf(sql, sizeof sql, "SELECT pg_terminate_backend(%s)", id);
    else
        snprintf(sql, sizeof sql, "KILL %s", id);
    support_exec_ok(admin, sql);
    usleep(200 * 1000);
    assert_int_equal(dbmgmt_conn_ping(victim), DBMGMT_ERR_CLOSED);
    dbmgmt_result *r = NULL;
    int rc = dbmgmt_conn_query(victim, &r, "SELECT 1", 0, NULL);
    assert_int_equal(rc, DBMGMT_ERR_CLOSED);
    assert_null(r);
    assert_int_equal(dbmgmt_conn_exec(victim, "SELECT 1"), DBMGMT_ERR_CLOSED);
    free(id);
    dbmgmt_conn_close(victim);
    dbmgmt_conn_close(admin);
}

/* Replace the password in a URL DSN. */
static char *with_password(const char *dsn, const char *password)
{
    const char *scheme_end = strstr(dsn, "://");
    const char *at = scheme_end ? strchr(scheme_end + 3, '@') : NULL;
    const char *colon = scheme_end ? strchr(scheme_end + 3, ':') : NULL;
    if (!at || !colon || colon > at)
        return NULL;
    char *out = malloc(strlen(dsn) + strlen(password) + 1);
    memcpy(out, dsn, (size_t)(colon + 1 - dsn));
    strcpy(out + (colon + 1 - dsn), password);
    strcat(out, at);
    return out;
}

static void test_conn_wrong_password_is_connect_error_without_password(void **state)
{
    (void)state;
    char *bad = with_password(test_dsn, "Wr0ngPassw0rdXyz");
    if (!bad)
        skip(); /* SQLite, or a DSN without a password */
    dbmgmt_conn *c = (dbmgmt_conn *)0x1;
    assert_int_equal(dbmgmt_conn_open(&c, bad), DBMGMT_ERR_CONNECT);
    assert_null(c);
    assert_null(strstr(dbmgmt_errmsg(), "Wr0ngPassw0rdXyz"));
    assert_non_null(strstr(dbmgmt_errmsg(), "***"));
    assert_true(strstr(dbmgmt_errmsg(), "password") || strstr(dbmgmt_errmsg(), "denied"));
    free(bad);
}

/* A listener on loopback that never answers: connecting "succeeds" at the
 * TCP level and then the client waits for a greeting that never comes. */
static int silent_listener(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) || listen(fd, 4) ||
        getsockname(fd, (struct sockaddr *)&a, &len))
        fail_msg("cannot make a silent listener");
    *port = ntohs(a.sin_port);
    return fd;
}

static void test_conn_unresponsive_server_fails_within_connect_timeout(void **state)
{
    (void)state;
    dbmgmt_conn *probe = open_conn();
    dbmgmt_engine e = dbmgmt_conn_engine(probe);
    dbmgmt_conn_close(probe);
    if (e == DBMGMT_ENGINE_SQLITE)
        skip();
    int port;
    int fd = silent_listener(&port);
    char dsn[200];
    snprintf(dsn, sizeof dsn, "%s://u:pw@127.0.0.1:%d/db?connect_timeout=2",
             e == DBMGMT_ENGINE_POSTGRES ? "postgres" : "mysql", port);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    dbmgmt_conn *c = NULL;
    assert_int_equal(dbmgmt_conn_open(&c, dsn), DBMGMT_ERR_CONNECT);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    close(fd);
    /* gave up at its timeout: not before, and (a hang guard, ten times the
     * timeout) not never */
    if (secs < 1.5 || secs > 20.0)
        fail_msg("connect gave up after %.2f s; the timeout was 2 s", secs);
}

/* DSN plus extra query parameters. */
static char *dsn_with(const char *dsn, const char *params)
{
    char *out = malloc(strlen(dsn) + strlen(params) + 2);
    sprintf(out, "%s%c%s", dsn, strchr(dsn, '?') ? '&' : '?', params);
    return out;
}

static int opens(const char *dsn)
{
    dbmgmt_conn *c = NULL;
    int rc = dbmgmt_conn_open(&c, dsn);
    if (rc == DBMGMT_OK) {
        assert_int_equal(dbmgmt_conn_ping(c), DBMGMT_OK);
        dbmgmt_conn_close(c);
    }
    return rc;
}

static void test_conn_tls_required_works_and_unverifiable_fails_clearly(void **state)
{
    (void)state;
    const char *ca = getenv("DBMGMT_TEST_CA");
    dbmgmt_conn *probe = open_conn();
    dbmgmt_engine e = dbmgmt_conn_engine(probe);
    dbmgmt_conn_close(probe);
    if (e == DBMGMT_ENGINE_SQLITE || !ca)
        skip();
    int pg = e == DBMGMT_ENGINE_POSTGRES;
    char with_ca[600];
    snprintf(with_ca, sizeof with_ca, pg ? "sslmode=verify-full&sslrootcert=%s" : "ssl-mode=VERIFY_IDENTITY&ssl-ca=%s", ca);
    char *required = dsn_with(test_dsn, pg ? "sslmode=require" : "ssl-mode=REQUIRED");
    char *verified = dsn_with(test_dsn, with_ca);
    char *unverifiable = dsn_with(test_dsn, pg ? "sslmode=verify-full&sslrootcert=/nonexistent/root.crt"
                                                : "ssl-mode=VERIFY_IDENTITY&ssl-ca=/nonexistent/ca.pem");
    assert_int_equal(opens(required), DBMGMT_OK);
    assert_int_equal(opens(verified), DBMGMT_OK);
    assert_int_equal(opens(unverifiable), DBMGMT_ERR_CONNECT);
    const char *msg = dbmgmt_errmsg();
    if (!strstr(msg, "certificate") && !strstr(msg, "/nonexistent/"))
        fail_msg("unclear TLS error: %s", msg);
    free(required);
    free(verified);
    free(unverifiable);
}

int main(void)
{
    test_dsn = getenv("DBMGMT_TEST_DSN");
    admin_dsn = getenv("DBMGMT_TEST_ADMIN_DSN");
    evidence = support_evidence_open();
    if (evidence)
        dbmgmt_set_logger(support_log_to_evidence, evidence, DBMGMT_LOG_DEBUG);
    if (!test_dsn || !*test_dsn) {
        fprintf(stderr, "DBMGMT_TEST_DSN is not set\n");
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_conn_reports_its_engine_and_pings, record_last_error),
        cmocka_unit_test_teardown(test_conn_ddl_dml_round_trip_with_affected_rows, record_last_error),
        cmocka_unit_test_teardown(test_conn_every_bind_type_round_trips, record_last_error),
        cmocka_unit_test_teardown(test_conn_transactions_commit_rollback_and_detection, record_last_error),
        cmocka_unit_test_teardown(test_conn_errors_carry_engine_message_and_sqlstate, record_last_error),
        cmocka_unit_test_teardown(test_conn_exec_script_names_failing_statement_and_line, record_last_error),
        cmocka_unit_test_teardown(test_conn_exec_script_with_copy_data, record_last_error),
        cmocka_unit_test_teardown(test_conn_query_checks_parameter_count, record_last_error),
        cmocka_unit_test_teardown(test_conn_query_runs_one_statement_only, record_last_error),
        cmocka_unit_test_teardown(test_conn_lock_excludes_other_sessions_and_dies_with_holder, record_last_error),
        cmocka_unit_test_teardown(test_conn_introspection_describes_schema_alike_on_every_engine, record_last_error),
        cmocka_unit_test_teardown(test_conn_killed_on_server_is_reported_broken, record_last_error),
        cmocka_unit_test_teardown(test_conn_wrong_password_is_connect_error_without_password, record_last_error),
        cmocka_unit_test_teardown(test_conn_unresponsive_server_fails_within_connect_timeout, record_last_error),
        cmocka_unit_test_teardown(test_conn_tls_required_works_and_unverifiable_fails_clearly, record_last_error),
    };
    int failed = cmocka_run_group_tests_name("conformance/conn", tests, NULL, NULL);
    if (evidence)
        fclose(evidence);
    return failed;
}
