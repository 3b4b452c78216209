/*
 * The fast path works on 64-byte blocks (lib/sql/bytescan.h): strings,
 * comments and delimiters that straddle a block boundary, or start or end
 * right at one, must split exactly as anywhere else. Every row is split
 * after 0 .. 140 padding blanks (so each byte of it lands on every position
 * of a block) and two LFs, and must give the same texts, lines and columns,
 * or the same error at the shifted column, every time. The block
 * classifiers themselves are also compared with each other.
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

#include "sql/bytescan.h"

#define MAX_PAD 140
#define X10 "xxxxxxxxxx"
#define X100 X10 X10 X10 X10 X10 X10 X10 X10 X10 X10

typedef struct shifted_case {
    dbmgmt_engine engine;
    const char *sql;      /* after the padding and "\n\n" */
    size_t count;         /* statements, or 0 for an error */
    const char *texts[3]; /* their texts */
    int32_t lines[3];     /* their lines (the body starts on line 3) */
    int32_t columns[3];   /* their columns */
    const char *error;    /* for count 0: the message after "LINE:COLUMN: " */
    int32_t error_line, error_column;
} shifted_case;

static const shifted_case cases[] = {
    {DBMGMT_ENGINE_SQLITE, "SELECT 'a;b''c', 'it''s -- /* ;' ; SELECT 'x'\n  ;SELECT 3",
     3, {"SELECT 'a;b''c', 'it''s -- /* ;'", "SELECT 'x'", "SELECT 3"}, {3, 3, 4},
     {1, 36, 4}, NULL, 0, 0},
    {DBMGMT_ENGINE_SQLITE, "SELECT '" X100 "''" X100 ";'; SELECT \"a'b\", [c'd], `e'f`", 2,
     {"SELECT '" X100 "''" X100 ";'", "SELECT \"a'b\", [c'd], `e'f`"}, {3, 3}, {1, 215},
     NULL, 0, 0},
    {DBMGMT_ENGINE_POSTGRES,
     "SELECT E'a\\';b', 'c\\'; SELECT e'" X100 "\\'" X100 "'; SELECT $$';$$", 3,
     {"SELECT E'a\\';b', 'c\\'", "SELECT e'" X100 "\\'" X100 "'", "SELECT $$';$$"},
     {3, 3, 3}, {1, 24, 238}, NULL, 0, 0},
    {DBMGMT_ENGINE_POSTGRES, "SELECT 'a' -- it's;\n, 'b''' /* ' */; SELECT 2", 2,
     {"SELECT 'a' -- it's;\n, 'b'''", "SELECT 2"}, {3, 4}, {1, 18}, NULL, 0, 0},
    {DBMGMT_ENGINE_MYSQL,
     "SELECT 'a\\';b', \"c\\\";'d\"; SELECT '" X100 "\\\\\\'" X100 "\\\\'; SELECT \\'e;f'",
     3,
     {"SELECT 'a\\';b', \"c\\\";'d\"", "SELECT '" X100 "\\\\\\'" X100 "\\\\'",
      "SELECT \\'e;f'"},
     {3, 3, 3}, {1, 27, 244}, NULL, 0, 0},
    {DBMGMT_ENGINE_MYSQL, "SELECT 'a''b' # it's ;\n; SELECT 1 -- x'\n", 2,
     {"SELECT 'a''b'", "SELECT 1"}, {3, 4}, {1, 3}, NULL, 0, 0},
    {DBMGMT_ENGINE_SQLITE, "SELECT 'ab''" X100 X100, 0, {NULL}, {0}, {0},
     "unterminated string literal", 3, 8},
    {DBMGMT_ENGINE_POSTGRES, "SELECT 1; SELECT 'ab''''" X100 X100, 0, {NULL}, {0}, {0},
     "unterminated string literal", 3, 18},
    {DBMGMT_ENGINE_MYSQL, "SELECT 'ab\\'" X100 X100, 0, {NULL}, {0}, {0},
     "unterminated string literal", 3, 8},
};

static char *padded(const char *sql, size_t pad, size_t *len)
{
    size_t n = strlen(sql);
    char *s = malloc(pad + 2 + n);
    assert_non_null(s);
    memset(s, ' ', pad);
    memcpy(s + pad, "\n\n", 2);
    memcpy(s + pad + 2, sql, n);
    *len = pad + 2 + n;
    return s;
}

static void check_shifted(const shifted_case *c, size_t row, size_t pad)
{
    size_t len;
    char *input = padded(c->sql, pad, &len);
    dbmgmt_statements *list = NULL;
    int rc = dbmgmt_split(c->engine, input, len, &list);
    if (c->count == 0) {
        char want[128];
        snprintf(want, sizeof want, "%d:%d: %s", (int)c->error_line, (int)c->error_column,
                 c->error);
        if (rc != DBMGMT_ERR_PARSE || strcmp(dbmgmt_errmsg(), want) != 0)
            fail_msg("row %zu pad %zu: status %d [%s], expected [%s]", row, pad, rc,
                     dbmgmt_errmsg(), want);
        free(input);
        return;
    }
    if (rc != DBMGMT_OK)
        fail_msg("row %zu pad %zu: %s", row, pad, dbmgmt_errmsg());
    if (dbmgmt_statements_count(list) != c->count)
        fail_msg("row %zu pad %zu: %zu statements, expected %zu", row, pad,
                 dbmgmt_statements_count(list), c->count);
    for (size_t i = 0; i < c->count; i++) {
        size_t n = 0;
        const char *text = dbmgmt_statements_sql(list, i, &n);
        if (n != strlen(c->texts[i]) || memcmp(text, c->texts[i], n) != 0 || text[n] != '\0')
            fail_msg("row %zu pad %zu: statement %zu is [%.*s]", row, pad, i, (int)n, text);
        if (dbmgmt_statements_line(list, i) != c->lines[i] ||
            dbmgmt_statements_column(list, i) != c->columns[i])
            fail_msg("row %zu pad %zu: statement %zu at %d:%d, expected %d:%d", row, pad, i,
                     (int)dbmgmt_statements_line(list, i),
                     (int)dbmgmt_statements_column(list, i), (int)c->lines[i],
                     (int)c->columns[i]);
    }
    dbmgmt_statements_free(list);
    free(input);
}

static void test_split_same_at_every_block_offset(void **state)
{
    (void)state;
    for (size_t row = 0; row < sizeof cases / sizeof cases[0]; row++)
        for (size_t pad = 0; pad <= MAX_PAD; pad++)
            check_shifted(&cases[row], row, pad);
}

static void test_block_scanners_agree_with_portable(void **state)
{
    (void)state;
    dm_sql_block_scan_fn fns[4];
    const char *names[4];
    size_t count = dm_sql_block_scanners(fns, names, 4);
    assert_true(count >= 1 && count <= 4);
    assert_string_equal(names[0], "portable");
    /* the MySQL set (5 high nibbles: table look-ups), then one with 10 (compares) */
    static const char *const members[] = {"'\"-/`#*\\;\xC3", "\x01\x12\x23\x34\x45\x56\x67\x78\x89\x9a"};
    static const char bytes[] = "'\"-/`#*\\;\n\xC3\xFF ax\x80\x01\x12\x23\x34\x45\x56\x67\x78\x89\x9a";
    for (size_t s = 0; s < 2; s++) {
        dm_sql_byteset set;
        dm_sql_byteset_init(&set, members[s]);
        assert_int_equal(set.count, 10);
        set.quote = '\'';
        set.aux[0] = '\\';
        set.aux[1] = 0xFF;
        unsigned char block[64];
        for (unsigned seed = 0; seed < 2000; seed++) {
            for (unsigned k = 0; k < 64; k++) /* members, LF, 0xFF and others */
                block[k] = (unsigned char)bytes[(seed * 31 + k * k * 7 + seed * k) %
                                                (sizeof bytes - 1)];
            dm_sql_block_masks want, got;
            fns[0](block, &set, &want);
            for (size_t f = 1; f < count; f++) {
                fns[f](block, &set, &got);
                if (got.stops != want.stops || got.newlines != want.newlines ||
                    got.quotes != want.quotes || got.aux != want.aux)
                    fail_msg("%s differs from portable for set %zu seed %u", names[f], s, seed);
            }
        }
    }
}

int main(void)
{
    static const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_split_same_at_every_block_offset),
        cmocka_unit_test(test_block_scanners_agree_with_portable),
    };
    return cmocka_run_group_tests_name("split-blocks", tests, NULL, NULL);
}
