/* The token stream (kinds, unquoted values, placeholders), positions, and
 * the public API's argument checks and JSON. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <dbmgmt.h>

#include "core/buf.h"
#include "sql/lexer.h"

typedef struct expect_token {
    dm_sql_token_kind kind;
    const char *value; /* dm_sql_token_value() */
} expect_token;

static void expect_tokens(dbmgmt_engine d, const char *sql, const expect_token *want, size_t n)
{
    size_t len = strlen(sql);
    char *input = malloc(len ? len : 1); /* exact size: no NUL after it */
    dm_sql_lexer lx;
    dm_sql_token tok;
    size_t i = 0;
    int rc;
    assert_non_null(input);
    memcpy(input, sql, len);
    dm_sql_lexer_init(&lx, d, input, len, 0);
    while ((rc = dm_sql_lexer_next(&lx, &tok)) == 1) {
        dm_buf value = DM_BUF_INIT;
        if (i >= n)
            fail_msg("[%s]: extra token at %zu", sql, tok.offset);
        assert_int_equal(dm_sql_token_value(input, &tok, &value), DBMGMT_OK);
        if (tok.kind != want[i].kind || strcmp(value.data ? value.data : "", want[i].value) != 0)
            fail_msg("[%s] token %zu: kind %d value [%s], expected kind %d [%s]", sql, i,
                     (int)tok.kind, value.data ? value.data : "", (int)want[i].kind,
                     want[i].value);
        dm_buf_free(&value);
        i++;
    }
    assert_int_equal(rc, 0);
    assert_int_equal(i, n);
    free(input);
}

#define EXPECT(d, sql, ...)                                                                   \
    do {                                                                                     \
        static const expect_token want_[] = {__VA_ARGS__};                                   \
        expect_tokens(d, sql, want_, sizeof want_ / sizeof want_[0]);                        \
    } while (0)

#define KW(v) {DM_SQL_TOK_KEYWORD, v}
#define ID(v) {DM_SQL_TOK_IDENT, v}
#define STR(v) {DM_SQL_TOK_STRING, v}
#define BLOB(v) {DM_SQL_TOK_BLOB, v}
#define NUM(v) {DM_SQL_TOK_NUMBER, v}
#define PH(v) {DM_SQL_TOK_PLACEHOLDER, v}
#define VAR(v) {DM_SQL_TOK_VARIABLE, v}
#define OP(v) {DM_SQL_TOK_OPERATOR, v}
#define SEMI {DM_SQL_TOK_SEMICOLON, ";"}

static void test_lexer_sqlite_unquotes_identifiers(void **state)
{
    (void)state;
    EXPECT(DBMGMT_ENGINE_SQLITE, "SELECT \"a\"\"b\", [c d], `e``f`, plain FROM t;",
           KW("SELECT"), ID("a\"b"), OP(","), ID("c d"), OP(","), ID("e`f"), OP(","),
           ID("plain"), KW("FROM"), ID("t"), SEMI);
}

static void test_lexer_sqlite_literals_and_placeholders(void **state)
{
    (void)state;
    EXPECT(DBMGMT_ENGINE_SQLITE, "VALUES ('it''s', X'0aFF', 42, 3.5e-2, .5, ?, ?7, :n, @v, $w)",
           KW("VALUES"), OP("("), STR("it's"), OP(","), BLOB("0aFF"), OP(","), NUM("42"),
           OP(","), NUM("3.5e-2"), OP(","), NUM(".5"), OP(","), PH(""), OP(","), PH("7"),
           OP(","), PH("n"), OP(","), PH("v"), OP(","), PH("w"), OP(")"));
}

static void test_lexer_postgres_strings_and_dollar_quotes(void **state)
{
    (void)state;
    EXPECT(DBMGMT_ENGINE_POSTGRES,
           "SELECT E'a\\'b\\n', U&'x', $$ $1 ; $$, $t$q$t$, B'101', U&\"Q\"\"x\" -- c\n",
           KW("SELECT"), STR("a'b\n"), OP(","), STR("x"), OP(","), STR(" $1 ; "), OP(","),
           STR("q"), OP(","), BLOB("101"), OP(","), ID("Q\"x"));
}

static void test_lexer_postgres_placeholders_and_operators(void **state)
{
    (void)state;
    EXPECT(DBMGMT_ENGINE_POSTGRES, "a::int = $12 AND d ?| b AND d ? c AND j->>'k' <> x$y",
           ID("a"), OP("::"), ID("int"), OP("="), PH("12"), KW("AND"), ID("d"), OP("?|"),
           ID("b"), KW("AND"), ID("d"), PH(""), ID("c"), KW("AND"), ID("j"), OP("->>"),
           STR("k"), OP("<>"), ID("x$y"));
}

static void test_lexer_postgres_nested_comment_is_skipped(void **state)
{
    (void)state;
    EXPECT(DBMGMT_ENGINE_POSTGRES, "1 /* a /* b */ c */ 2", NUM("1"), NUM("2"));
}

static void test_lexer_mysql_strings_variables_and_comments(void **state)
{
    (void)state;
    EXPECT(DBMGMT_ENGINE_MYSQL,
           "SELECT 'a\\'b', \"c\\\"d\", `e``f`, @v, @@global.x, 1--1 # gone\n-- gone too\n;",
           KW("SELECT"), STR("a'b"), OP(","), STR("c\"d"), OP(","), ID("e`f"), OP(","),
           VAR("v"), OP(","), VAR("global.x"), OP(","), NUM("1"), OP("-"), OP("-"),
           NUM("1"), SEMI);
}

static void test_lexer_mysql_executable_comment_content_is_sql(void **state)
{
    (void)state;
    static const char sql[] = "/*!40101 SET x = 1 */ SELECT ?";
    dm_sql_lexer lx;
    dm_sql_token tok;
    dm_sql_lexer_init(&lx, DBMGMT_ENGINE_MYSQL, sql, sizeof sql - 1, 0);
    assert_int_equal(dm_sql_lexer_next(&lx, &tok), 1);
    assert_true(dm_sql_token_is_word(sql, &tok, "SET"));
    assert_true(tok.flags & DM_SQL_TOKF_EXEC_COMMENT);
    for (int i = 0; i < 3; i++)
        assert_int_equal(dm_sql_lexer_next(&lx, &tok), 1);
    assert_int_equal(dm_sql_lexer_next(&lx, &tok), 1);
    assert_true(dm_sql_token_is_word(sql, &tok, "SELECT"));
    assert_false(tok.flags & DM_SQL_TOKF_EXEC_COMMENT);
    assert_int_equal(dm_sql_lexer_next(&lx, &tok), 1);
    assert_int_equal(tok.kind, DM_SQL_TOK_PLACEHOLDER);
    assert_int_equal(dm_sql_lexer_next(&lx, &tok), 0);
}

static void test_lexer_reports_unterminated_string_where_it_opened(void **state)
{
    (void)state;
    static const char sql[] = "SELECT 1,\n  'abc";
    dm_sql_lexer lx;
    dm_sql_token tok;
    int rc;
    dm_sql_lexer_init(&lx, DBMGMT_ENGINE_SQLITE, sql, sizeof sql - 1, 0);
    while ((rc = dm_sql_lexer_next(&lx, &tok)) == 1)
        ;
    assert_int_equal(rc, DBMGMT_ERR_PARSE);
    assert_int_equal(lx.error.kind, DM_SQL_LEX_UNTERMINATED_STRING);
    assert_int_equal(dm_sql_error_set(NULL, sql, sizeof sql - 1, &lx.error), DBMGMT_ERR_PARSE);
    assert_string_equal(dbmgmt_errmsg(), "2:3: unterminated string literal");
}

static void test_position_counts_code_points_and_skips_bom(void **state)
{
    (void)state;
    static const char sql[] = "\xEF\xBB\xBFSELECT 'é';\r\n  x";
    int32_t line, col;
    dm_sql_position(sql, sizeof sql - 1, 3, &line, &col);
    assert_int_equal(line, 1);
    assert_int_equal(col, 1);
    dm_sql_position(sql, sizeof sql - 1, 14, &line, &col); /* the ';' after 'é' */
    assert_int_equal(col, 11);
    dm_sql_position(sql, sizeof sql - 1, sizeof sql - 2, &line, &col);
    assert_int_equal(line, 2);
    assert_int_equal(col, 3);
}

static void test_split_rejects_bad_arguments(void **state)
{
    (void)state;
    dbmgmt_statements *list = (dbmgmt_statements *)&list;
    assert_int_equal(dbmgmt_split(DBMGMT_ENGINE_SQLITE, "x", 1, NULL), DBMGMT_ERR_INVALID);
    assert_int_equal(dbmgmt_split(DBMGMT_ENGINE_SQLITE, NULL, 3, &list), DBMGMT_ERR_INVALID);
    assert_null(list);
    assert_int_equal(dbmgmt_split(DBMGMT_ENGINE_NONE, "x", 1, &list), DBMGMT_ERR_INVALID);
    assert_int_equal(dbmgmt_split((dbmgmt_engine)42, "x", 1, &list), DBMGMT_ERR_INVALID);
    assert_non_null(strstr(dbmgmt_errmsg(), "dbmgmt_split"));
    assert_int_equal(dbmgmt_split(DBMGMT_ENGINE_SQLITE, NULL, 0, &list), DBMGMT_OK);
    assert_int_equal(dbmgmt_statements_count(list), 0);
    dbmgmt_statements_free(list);
}

static void test_statement_accessors_handle_null_and_range(void **state)
{
    (void)state;
    dbmgmt_statements *list = NULL;
    size_t len = 99;
    assert_int_equal(dbmgmt_split(DBMGMT_ENGINE_SQLITE, "SELECT 1", 8, &list), DBMGMT_OK);
    assert_null(dbmgmt_statements_sql(list, 1, &len));
    assert_int_equal(len, 0);
    assert_null(dbmgmt_statements_sql(NULL, 0, NULL));
    assert_int_equal(dbmgmt_statements_count(NULL), 0);
    assert_int_equal(dbmgmt_statements_line(list, 5), 0);
    assert_int_equal(dbmgmt_statements_column(NULL, 0), 0);
    assert_int_equal(dbmgmt_statements_offset(list, 5), 0);
    assert_null(dbmgmt_statement_to_json(list, 1));
    assert_int_equal(dbmgmt_errcode(), DBMGMT_ERR_INVALID);
    assert_null(dbmgmt_statements_to_json(NULL));
    dbmgmt_statements_free(list);
    dbmgmt_statements_free(NULL);
}

static void test_statements_render_as_json(void **state)
{
    (void)state;
    static const char sql[] = "SELECT 'a\"b';\n  SELECT '\xC3\xA9\x00'";
    dbmgmt_statements *list = NULL;
    assert_int_equal(dbmgmt_split(DBMGMT_ENGINE_SQLITE, sql, sizeof sql - 1, &list), DBMGMT_OK);
    char *one = dbmgmt_statement_to_json(list, 1);
    assert_string_equal(one,
                        "{\"index\":1,\"line\":2,\"column\":3,\"offset\":16,"
                        "\"sql\":\"SELECT '\xC3\xA9\\u0000'\"}");
    char *all = dbmgmt_statements_to_json(list);
    assert_string_equal(all, "[{\"index\":0,\"line\":1,\"column\":1,\"offset\":0,"
                             "\"sql\":\"SELECT 'a\\\"b'\"},"
                             "{\"index\":1,\"line\":2,\"column\":3,\"offset\":16,"
                             "\"sql\":\"SELECT '\xC3\xA9\\u0000'\"}]");
    dbmgmt_free(one);
    dbmgmt_free(all);
    dbmgmt_statements_free(list);
}

static void test_statement_text_keeps_nul_bytes_and_is_terminated(void **state)
{
    (void)state;
    static const char sql[] = "SELECT '\0;\0';X";
    dbmgmt_statements *list = NULL;
    size_t len = 0;
    assert_int_equal(dbmgmt_split(DBMGMT_ENGINE_POSTGRES, sql, sizeof sql - 1, &list), DBMGMT_OK);
    assert_int_equal(dbmgmt_statements_count(list), 2);
    const char *text = dbmgmt_statements_sql(list, 0, &len);
    assert_int_equal(len, 12);
    assert_memory_equal(text, "SELECT '\0;\0'", 13);
    assert_string_equal(dbmgmt_statements_sql(list, 1, NULL), "X");
    dbmgmt_statements_free(list);
}

int main(void)
{
    static const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lexer_sqlite_unquotes_identifiers),
        cmocka_unit_test(test_lexer_sqlite_literals_and_placeholders),
        cmocka_unit_test(test_lexer_postgres_strings_and_dollar_quotes),
        cmocka_unit_test(test_lexer_postgres_placeholders_and_operators),
        cmocka_unit_test(test_lexer_postgres_nested_comment_is_skipped),
        cmocka_unit_test(test_lexer_mysql_strings_variables_and_comments),
        cmocka_unit_test(test_lexer_mysql_executable_comment_content_is_sql),
        cmocka_unit_test(test_lexer_reports_unterminated_string_where_it_opened),
        cmocka_unit_test(test_position_counts_code_points_and_skips_bom),
        cmocka_unit_test(test_split_rejects_bad_arguments),
        cmocka_unit_test(test_statement_accessors_handle_null_and_range),
        cmocka_unit_test(test_statements_render_as_json),
        cmocka_unit_test(test_statement_text_keeps_nul_bytes_and_is_terminated),
    };
    return cmocka_run_group_tests_name("sql-lexer", tests, NULL, NULL);
}
