/*
 * The snapshot's parsers and derivations without a database (issue 22):
 * the rules file (a table of malformed inputs and the exact error each
 * gets), the personal-name words, HMAC-SHA256 against RFC 4231's vectors,
 * and the values each rule gives for each column type.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "snapshot/snapshot_impl.h"
#include "support/files.h"

static char dir[128];

static int load(const char *text, dm_snap_rules *r, dm_error *err)
{
    support_write_file(dir, "rules", text);
    char path[300];
    snprintf(path, sizeof path, "%s/rules", dir);
    memset(err, 0, sizeof *err);
    return dm_snap_rules_load(r, path, err);
}

static void test_rules_file_parses_comments_and_rules(void **state)
{
    (void)state;
    dm_snap_rules r = {0};
    dm_error err;
    assert_int_equal(load("# header\n\n  users.full_name = hash  # trailing\n"
                          "users.email=email\nusers.phone = phone\nusers.dob = null\n"
                          "users.id = keep\n",
                          &r, &err),
                     DBMGMT_OK);
    assert_int_equal(r.n, 5);
    const dm_snap_rule *x = dm_snap_rules_find(&r, "users", "full_name");
    assert_non_null(x);
    assert_int_equal(x->kind, DM_SNAP_HASH);
    assert_int_equal(x->line, 3);
    assert_int_equal(dm_snap_rules_find(&r, "users", "email")->kind, DM_SNAP_EMAIL);
    assert_int_equal(dm_snap_rules_find(&r, "users", "dob")->kind, DM_SNAP_NULL);
    assert_int_equal(dm_snap_rules_find(&r, "users", "id")->kind, DM_SNAP_KEEP);
    assert_null(dm_snap_rules_find(&r, "users", "nope"));
    dm_snap_rules_clear(&r);
}

static void test_rules_file_malformed_lines_name_file_and_line(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        const char *message; /* after "DIR/rules" */
    } cases[] = {
        {"users.name\n", ":1: expected 'table.column = rule'"},
        {"# c\nusers = hash\n", ":2: 'users' is not 'table.column'"},
        {"users.na me = hash\n", ":1: 'users.na me' is not 'table.column'"},
        {".name = hash\n", ":1: '.name' is not 'table.column'"},
        {"a.b = hash\na.c = sha1\n", ":2: unknown rule 'sha1' (hash, email, phone, null or keep)"},
        {"a.b = \n", ":1: unknown rule '' (hash, email, phone, null or keep)"},
        {"a.b = hash\n\na.b = keep\n", ":3: a.b already has a rule (line 1)"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        dm_snap_rules r = {0};
        dm_error err;
        assert_int_equal(load(cases[i].text, &r, &err), DBMGMT_ERR_PARSE);
        char want[600];
        snprintf(want, sizeof want, "%s/rules%s", dir, cases[i].message);
        assert_string_equal(err.msg, want);
        assert_int_equal(r.n, 0);
    }
    dm_snap_rules r = {0};
    dm_error err = {0};
    assert_int_equal(dm_snap_rules_load(&r, "/nonexistent/rules", &err), DBMGMT_ERR_IO);
    assert_string_equal(err.msg, "cannot open the rules file /nonexistent/rules");
}

static void test_personal_words_match_whole_words(void **state)
{
    (void)state;
    static const char *const personal[] = {"name", "full_name", "FIRST_NAME", "e_mail",
                                           "email", "mobile", "ip_address", "birth_date",
                                           "dob", "zip_code", "postcode", "iban", "ssn",
                                           "street", "city", "tel", "product_name"};
    static const char *const other[] = {"id", "score", "amount", "created_at", "hostname",
                                        "emailed", "status", "total", "zipper", "cityhall"};
    for (size_t i = 0; i < sizeof personal / sizeof *personal; i++)
        if (!dm_snap_looks_personal(personal[i]))
            fail_msg("%s should look personal", personal[i]);
    for (size_t i = 0; i < sizeof other / sizeof *other; i++)
        if (dm_snap_looks_personal(other[i]))
            fail_msg("%s should not look personal", other[i]);
}

static void hex(const unsigned char *d, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", d[i]);
}

static void test_hmac_sha256_matches_rfc4231(void **state)
{
    (void)state;
    unsigned char key1[20], out[32], key6[131];
    char h[65];
    memset(key1, 0x0b, sizeof key1);
    dm_snap_hmac(key1, sizeof key1, "Hi There", 8, out);
    hex(out, 32, h);
    assert_string_equal(h, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
    dm_snap_hmac((const unsigned char *)"Jefe", 4, "what do ya want for nothing?", 28, out);
    hex(out, 32, h);
    assert_string_equal(h, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    memset(key6, 0xaa, sizeof key6); /* a key longer than the block is hashed first */
    static const char m6[] = "Test Using Larger Than Block-Size Key - Hash Key First";
    dm_snap_hmac(key6, sizeof key6, m6, strlen(m6), out);
    hex(out, 32, h);
    assert_string_equal(h, "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
}

static void test_values_fit_the_column_type(void **state)
{
    (void)state;
    static const unsigned char key[] = "k";
    char out[128];
    dm_snap_col c = {.name = "x", .kind = DM_SNAP_HASH};
    dm_snap_classify("character varying(10)", &c);
    assert_int_equal(c.type, DM_SNAP_T_TEXT);
    assert_int_equal(c.max_len, 10);
    assert_int_equal(dm_snap_value(&c, key, 1, "Ada", out, sizeof out), 0);
    assert_int_equal(strlen(out), 10);
    dm_snap_classify("smallint", &c);
    assert_int_equal(dm_snap_value(&c, key, 1, "12", out, sizeof out), 0);
    long long v = atoll(out);
    assert_true(v >= 1 && v <= 32767);
    dm_snap_classify("int(11)", &c); /* MySQL's display width is not a length */
    assert_int_equal(c.type, DM_SNAP_T_INT);
    assert_int_equal(c.int_max, 2147483647);
    dm_snap_classify("date", &c);
    assert_int_equal(dm_snap_value(&c, key, 1, "1990-01-02", out, sizeof out), 0);
    assert_int_equal(strlen(out), 10);
    assert_true(strcmp(out, "1940-01-01") >= 0 && strcmp(out, "2010-01-01") < 0);
    dm_snap_classify("timestamp without time zone", &c);
    assert_int_equal(dm_snap_value(&c, key, 1, "1990-01-02 10:00:00", out, sizeof out), 0);
    assert_int_equal(strlen(out), 19);
    dm_snap_classify("numeric(10,2)", &c);
    assert_int_equal(dm_snap_value(&c, key, 1, "1.5", out, sizeof out), -1);
    assert_string_equal(out, "the hash rule has no value for this column's type");
    c.kind = DM_SNAP_EMAIL;
    dm_snap_classify("varchar(20)", &c);
    assert_int_equal(dm_snap_value(&c, key, 1, "a@b.c", out, sizeof out), -1);
    assert_string_equal(out, "the email rule needs a text column of at least 29 characters");
    dm_snap_classify("varchar(29)", &c);
    assert_int_equal(dm_snap_value(&c, key, 1, "a@b.c", out, sizeof out), 0);
    assert_int_equal(strlen(out), 29);
    c.kind = DM_SNAP_PHONE;
    dm_snap_classify("text", &c);
    assert_int_equal(dm_snap_value(&c, key, 1, "+4411", out, sizeof out), 0);
    assert_int_equal(strlen(out), 12);
    assert_int_equal(strncmp(out + 5, "55501", 5), 0);
}

static int setup(void **state)
{
    (void)state;
    return support_scratch_dir(dir, sizeof dir, "dbmgmt-snaprules");
}

static int teardown(void **state)
{
    (void)state;
    return support_remove_tree(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rules_file_parses_comments_and_rules),
        cmocka_unit_test(test_rules_file_malformed_lines_name_file_and_line),
        cmocka_unit_test(test_personal_words_match_whole_words),
        cmocka_unit_test(test_hmac_sha256_matches_rfc4231),
        cmocka_unit_test(test_values_fit_the_column_type),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
