/* Status names, per-thread error mirror, logger levels and redaction. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/error.h"
#include "core/log.h"

static void test_status_names_are_distinct_and_stable(void **state)
{
    (void)state;
    assert_string_equal(dbmgmt_status_name(DBMGMT_OK), "DBMGMT_OK");
    assert_string_equal(dbmgmt_status_name(DBMGMT_ERR_SQL), "DBMGMT_ERR_SQL");
    assert_string_equal(dbmgmt_status_name(DBMGMT_ERR_PARSE), "DBMGMT_ERR_PARSE");
    assert_string_equal(dbmgmt_status_name(DBMGMT_ERR_READ_ONLY), "DBMGMT_ERR_READ_ONLY");
    assert_string_equal(dbmgmt_status_name(-999), "DBMGMT_UNKNOWN");
    assert_string_equal(dbmgmt_status_name(1), "DBMGMT_UNKNOWN");
    for (int a = -16; a <= 0; a++)
        for (int b = a + 1; b <= 0; b++)
            assert_string_not_equal(dbmgmt_status_name(a), dbmgmt_status_name(b));
    /* the numbers are part of the ABI */
    assert_int_equal(DBMGMT_ERR_INVALID, -1);
    assert_int_equal(DBMGMT_ERR_INTERNAL, -14);
    assert_int_equal(DBMGMT_ERR_PARSE, -15);
    assert_int_equal(DBMGMT_ERR_READ_ONLY, -16);
}

static void *fail_on_other_thread(void *arg)
{
    (void)arg;
    dm_error_set(NULL, DBMGMT_ERR_TIMEOUT, "other thread");
    return NULL;
}

static void test_errmsg_is_per_thread(void **state)
{
    (void)state;
    dbmgmt_error_clear();
    assert_int_equal(dbmgmt_errcode(), DBMGMT_OK);
    assert_string_equal(dbmgmt_errmsg(), "");
    dm_error obj;
    assert_int_equal(dm_error_set_sql(&obj, DBMGMT_ERR_SQL, "23505", "dup %d", 7), DBMGMT_ERR_SQL);
    assert_string_equal(obj.msg, "dup 7");
    assert_string_equal(obj.sqlstate, "23505");
    pthread_t t;
    pthread_create(&t, NULL, fail_on_other_thread, NULL);
    pthread_join(t, NULL);
    assert_int_equal(dbmgmt_errcode(), DBMGMT_ERR_SQL);
    assert_string_equal(dbmgmt_errmsg(), "dup 7");
}

static void test_error_messages_are_redacted(void **state)
{
    (void)state;
    dm_error e;
    dm_error_set(&e, DBMGMT_ERR_CONNECT, "cannot reach postgres://app:hunter2@db/x");
    assert_string_equal(e.msg, "cannot reach postgres://app:***@db/x");
    assert_string_equal(dbmgmt_errmsg(), "cannot reach postgres://app:***@db/x");
}

typedef struct captured {
    int calls;
    dbmgmt_log_level level;
    char last[2048];
} captured;

static void capture_log(void *userdata, dbmgmt_log_level level, const char *message)
{
    captured *c = userdata;
    c->calls++;
    c->level = level;
    strncpy(c->last, message, sizeof c->last - 1);
}

static void test_logger_filters_by_level_and_redacts(void **state)
{
    (void)state;
    captured c = {0};
    assert_int_equal(dbmgmt_set_logger(capture_log, &c, DBMGMT_LOG_WARN), DBMGMT_OK);
    dm_log(DBMGMT_LOG_INFO, "not shown");
    assert_int_equal(c.calls, 0);
    dm_log(DBMGMT_LOG_ERROR, "connect to %s failed", "mysql://root:pw123@h/db?password=zz");
    assert_int_equal(c.calls, 1);
    assert_int_equal(c.level, DBMGMT_LOG_ERROR);
    assert_string_equal(c.last, "connect to mysql://root:***@h/db?password=*** failed");
    assert_int_equal(dbmgmt_set_logger(capture_log, &c, (dbmgmt_log_level)9), DBMGMT_ERR_INVALID);
    assert_int_equal(dbmgmt_set_logger(NULL, NULL, DBMGMT_LOG_DEBUG), DBMGMT_OK);
    dm_log(DBMGMT_LOG_ERROR, "nobody listens");
    assert_int_equal(c.calls, 1);
}

static void test_redact_table(void **state)
{
    (void)state;
    static const struct { const char *in, *out; } cases[] = {
        {"postgres://u:p@h/db", "postgres://u:***@h/db"},
        {"postgres://u@h/db", "postgres://u@h/db"},
        {"postgres://u:@h/db", "postgres://u:@h/db"},
        {"a mysql://x:y@h and postgres://q:r@s", "a mysql://x:***@h and postgres://q:***@s"},
        {"host=h password=secret dbname=d", "host=h password=*** dbname=d"},
        {"host=h password='se cret' dbname=d", "host=h password=*** dbname=d"},
        {"PASSWORD = x1", "PASSWORD = ***"},
        {"?user=a&pwd=b&x=1", "?user=a&pwd=***&x=1"},
        {"bypass=1 passes=2", "bypass=1 passes=2"},
        {"http://example.com/path", "http://example.com/path"},
        {"u:a@b@h:1 scheme://u:a@b@h:1/", "u:a@b@h:1 scheme://u:***@h:1/"},
        {"password=", "password="},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char buf[256];
        strcpy(buf, cases[i].in);
        dm_redact(buf, sizeof buf);
        if (strcmp(buf, cases[i].out) != 0)
            fail_msg("case %zu: '%s' -> '%s', expected '%s'", i, cases[i].in, buf, cases[i].out);
    }
}

static void test_redact_never_overflows_small_buffers(void **state)
{
    (void)state;
    for (size_t cap = 1; cap < 24; cap++) {
        char buf[64];
        memset(buf, 'Z', sizeof buf);
        size_t n = cap - 1 < strlen("pwd=a x://u:b@h") ? cap - 1 : strlen("pwd=a x://u:b@h");
        memcpy(buf, "pwd=a x://u:b@h", n);
        buf[n] = '\0';
        dm_redact(buf, cap);
        assert_true(strlen(buf) < cap);
        for (size_t k = cap; k < sizeof buf; k++)
            assert_int_equal(buf[k], 'Z');
    }
    char buf[64] = "the secret is s3cr3t, s3cr3t!";
    dm_redact_secret(buf, sizeof buf, "s3cr3t");
    assert_string_equal(buf, "the secret is ***, ***!");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status_names_are_distinct_and_stable),
        cmocka_unit_test(test_errmsg_is_per_thread),
        cmocka_unit_test(test_error_messages_are_redacted),
        cmocka_unit_test(test_logger_filters_by_level_and_redacts),
        cmocka_unit_test(test_redact_table),
        cmocka_unit_test(test_redact_never_overflows_small_buffers),
    };
    return cmocka_run_group_tests_name("core/log+error", tests, NULL, NULL);
}
