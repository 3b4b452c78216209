/* PostgreSQL splitting: table of cases, malformed inputs, placeholder rewrite. */
#include "split_test.h"

#include "core/alloc.h"
#include "sql/split.h"

#include "cases_postgres.inc"
#include "errors_postgres.inc"

static void expect_rewrite(const char *sql, const char *want, int32_t want_n)
{
    char *out = NULL;
    int32_t n = -1;
    size_t len = strlen(sql);
    char *input = exact_copy(sql, len);
    int rc = dm_sql_rewrite_placeholders(input, len, &out, &n, NULL);
    if (rc != DBMGMT_OK)
        fail_msg("rewrite of [%s] failed: %s", sql, dbmgmt_errmsg());
    assert_string_equal(out, want);
    assert_int_equal(n, want_n);
    dm_free(out);
    free(input);
}

static void test_rewrite_numbers_question_marks_in_order(void **state)
{
    (void)state;
    expect_rewrite("SELECT * FROM t WHERE a = ? AND b IN (?, ?)",
                   "SELECT * FROM t WHERE a = $1 AND b IN ($2, $3)", 3);
    expect_rewrite("INSERT INTO t VALUES(?,?)", "INSERT INTO t VALUES($1,$2)", 2);
    expect_rewrite("SELECT a=?", "SELECT a=$1", 1);
}

static void test_rewrite_skips_strings_comments_identifiers_dollar_quotes(void **state)
{
    (void)state;
    expect_rewrite("SELECT '?', E'\\'?', \"?\", $$?$$, $t$ ? $t$, ? -- ?\n/* ? /* ? */ */",
                   "SELECT '?', E'\\'?', \"?\", $$?$$, $t$ ? $t$, $1 -- ?\n/* ? /* ? */ */", 1);
    expect_rewrite("SELECT U&'?' || ?", "SELECT U&'?' || $1", 1);
}

static void test_rewrite_keeps_jsonb_operators(void **state)
{
    (void)state;
    expect_rewrite("SELECT d ?| array['a'], d ?& array['b'], d ?? 'c' FROM t WHERE id = ?",
                   "SELECT d ?| array['a'], d ?& array['b'], d ? 'c' FROM t WHERE id = $1", 1);
}

static void test_rewrite_without_question_marks_copies_and_counts_dollars(void **state)
{
    (void)state;
    expect_rewrite("SELECT $1, $3", "SELECT $1, $3", 3);
    expect_rewrite("SELECT 1", "SELECT 1", 0);
    expect_rewrite("", "", 0);
}

static void test_rewrite_refuses_mixed_placeholders(void **state)
{
    (void)state;
    char *out = (char *)"x";
    int32_t n = 7;
    assert_int_equal(dm_sql_rewrite_placeholders("SELECT ?, $1", 12, &out, &n, NULL),
                     DBMGMT_ERR_PARSE);
    assert_null(out);
    assert_string_equal(dbmgmt_errmsg(), "SQL mixes ? and $n placeholders");
}

static void test_rewrite_reports_unterminated_string_position(void **state)
{
    (void)state;
    char *out = NULL;
    int32_t n = 0;
    assert_int_equal(dm_sql_rewrite_placeholders("SELECT ?,\n 'abc", 15, &out, &n, NULL),
                     DBMGMT_ERR_PARSE);
    assert_null(out);
    assert_string_equal(dbmgmt_errmsg(), "2:2: unterminated string literal");
}

static void test_split_pg_copy_statement_exposes_its_data_block(void **state)
{
    (void)state;
    static const char sql[] = "COPY t (a) FROM stdin;\n1\n2\n\\.\nSELECT 1";
    dbmgmt_statements *list = NULL;
    assert_int_equal(dm_sql_split(DBMGMT_ENGINE_POSTGRES, sql, sizeof sql - 1, NULL, &list, NULL),
                     DBMGMT_OK);
    const dm_sql_stmt *st = dm_sql_statement_at(list, 0);
    assert_int_equal(st->command_len, strlen("COPY t (a) FROM stdin"));
    assert_int_equal(st->data_len, 4);
    assert_memory_equal(st->text + st->data_offset, "1\n2\n", 4);
    assert_int_equal(dm_sql_statement_at(list, 1)->data_len, 0);
    dbmgmt_statements_free(list);
}

int main(void)
{
    static const struct CMUnitTest extra[] = {
        cmocka_unit_test(test_rewrite_numbers_question_marks_in_order),
        cmocka_unit_test(test_rewrite_skips_strings_comments_identifiers_dollar_quotes),
        cmocka_unit_test(test_rewrite_keeps_jsonb_operators),
        cmocka_unit_test(test_rewrite_without_question_marks_copies_and_counts_dollars),
        cmocka_unit_test(test_rewrite_refuses_mixed_placeholders),
        cmocka_unit_test(test_rewrite_reports_unterminated_string_position),
        cmocka_unit_test(test_split_pg_copy_statement_exposes_its_data_block),
    };
    return run_dialect_tables("split-postgres", DBMGMT_ENGINE_POSTGRES, pg_cases,
                              COUNT_OF(pg_cases), pg_errors, COUNT_OF(pg_errors), extra,
                              COUNT_OF(extra));
}
