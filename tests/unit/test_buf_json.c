/* The growable buffer and the JSON writer (RFC 8259 escaping). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <cmocka.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/json.h"

static void test_buf_grows_and_stays_nul_terminated(void **state)
{
    (void)state;
    dm_buf b = DM_BUF_INIT;
    for (int i = 0; i < 10000; i++)
        dm_buf_printf(&b, "%d,", i % 10);
    assert_false(dm_buf_failed(&b));
    assert_int_equal(b.len, 20000);
    assert_int_equal(b.data[b.len], '\0');
    assert_memory_equal(b.data, "0,1,2,3,", 8);
    dm_buf_clear(&b);
    assert_int_equal(b.len, 0);
    dm_buf_puts(&b, "x");
    char *s = dm_buf_detach(&b);
    assert_string_equal(s, "x");
    assert_null(b.data);
    dm_free(s);
}

static void test_buf_detach_empty_gives_empty_string(void **state)
{
    (void)state;
    dm_buf b = DM_BUF_INIT;
    char *s = dm_buf_detach(&b);
    assert_non_null(s);
    assert_string_equal(s, "");
    dm_free(s);
}

static void test_buf_keeps_embedded_nul_bytes(void **state)
{
    (void)state;
    dm_buf b = DM_BUF_INIT;
    dm_buf_append(&b, "a\0b", 3);
    assert_int_equal(b.len, 3);
    assert_memory_equal(b.data, "a\0b", 3);
    dm_buf_free(&b);
}

static char *render(void (*write)(dm_json *))
{
    dm_buf b = DM_BUF_INIT;
    dm_json j;
    dm_json_init(&j, &b);
    write(&j);
    assert_false(dm_json_failed(&j));
    return dm_buf_detach(&b);
}

static void write_nested(dm_json *j)
{
    dm_json_object_begin(j);
    dm_json_key(j, "name");
    dm_json_string(j, "v1");
    dm_json_key(j, "list");
    dm_json_array_begin(j);
    dm_json_int(j, -42);
    dm_json_double(j, 0.5);
    dm_json_bool(j, 1);
    dm_json_null(j);
    dm_json_string(j, NULL);
    dm_json_double(j, NAN);
    dm_json_array_end(j);
    dm_json_key(j, "empty");
    dm_json_object_begin(j);
    dm_json_object_end(j);
    dm_json_object_end(j);
}

static void test_json_places_commas_and_colons(void **state)
{
    (void)state;
    char *s = render(write_nested);
    assert_string_equal(s, "{\"name\":\"v1\",\"list\":[-42,0.5,true,null,null,null],\"empty\":{}}");
    dm_free(s);
}

static void test_json_escapes_per_rfc8259(void **state)
{
    (void)state;
    static const struct { const char *in; size_t len; const char *out; } cases[] = {
        {"plain", 5, "\"plain\""},
        {"q\"b\\s/", 6, "\"q\\\"b\\\\s/\""},
        {"\n\r\t\b\f", 5, "\"\\n\\r\\t\\b\\f\""},
        {"\x01\x1f", 2, "\"\\u0001\\u001f\""},
        {"nul\0x", 5, "\"nul\\u0000x\""},
        {"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", 14, "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\""},
        {"bad\xff", 4, "\"bad\\ufffd\""},
        {"trunc\xe2\x82", 7, "\"trunc\\ufffd\\ufffd\""},
        {"overlong\xc0\xaf", 10, "\"overlong\\ufffd\\ufffd\""},
        {"surrogate\xed\xa0\x80", 12, "\"surrogate\\ufffd\\ufffd\\ufffd\""},
        {"\x7f", 1, "\"\x7f\""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        dm_buf b = DM_BUF_INIT;
        dm_json_escape(&b, cases[i].in, cases[i].len);
        if (strcmp(b.data, cases[i].out) != 0)
            fail_msg("case %zu: got %s expected %s", i, b.data, cases[i].out);
        dm_buf_free(&b);
    }
}

static void write_unbalanced(dm_json *j)
{
    dm_json_array_end(j);
}

static void test_json_reports_misuse(void **state)
{
    (void)state;
    dm_buf b = DM_BUF_INIT;
    dm_json j;
    dm_json_init(&j, &b);
    write_unbalanced(&j);
    assert_true(dm_json_failed(&j));
    dm_buf_free(&b);
    dm_json_init(&j, &b);
    for (int i = 0; i < DM_JSON_MAX_DEPTH + 1; i++)
        dm_json_array_begin(&j);
    assert_true(dm_json_failed(&j));
    dm_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buf_grows_and_stays_nul_terminated),
        cmocka_unit_test(test_buf_detach_empty_gives_empty_string),
        cmocka_unit_test(test_buf_keeps_embedded_nul_bytes),
        cmocka_unit_test(test_json_places_commas_and_colons),
        cmocka_unit_test(test_json_escapes_per_rfc8259),
        cmocka_unit_test(test_json_reports_misuse),
    };
    return cmocka_run_group_tests_name("core/buf+json", tests, NULL, NULL);
}
