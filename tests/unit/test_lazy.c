/* Client libraries loaded on first use (lib/drivers/lazy.h): what a missing
 * library or function reports, and that SQLite alone never loads them. */
#include <dlfcn.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <dbmgmt.h>

#include "dm_config.h"
#include "drivers/lazy.h"

typedef struct libc_functions {
    __typeof__(strlen) *strlen;
} libc_functions;

static void test_lazy_load_fills_the_table(void **state)
{
    (void)state;
    libc_functions fns = {NULL};
    static const dm_lazy_symbol symbols[] = {{"strlen", offsetof(libc_functions, strlen)}};
    dm_lazy_library lib = DM_LAZY_LIBRARY_INIT("libc.so.6", "the C library", "test://",
                                               "-Dtest", symbols, &fns);
    dm_error err = {0};
    assert_int_equal(dm_lazy_load(&lib, &err), DBMGMT_OK);
    assert_non_null(fns.strlen);
    assert_int_equal(fns.strlen("four"), 4);
    assert_int_equal(dm_lazy_load(&lib, &err), DBMGMT_OK); /* loaded once, then a no-op */
}

static void test_lazy_load_names_a_missing_library_and_the_option(void **state)
{
    (void)state;
    libc_functions fns = {NULL};
    static const dm_lazy_symbol symbols[] = {{"strlen", offsetof(libc_functions, strlen)}};
    dm_lazy_library lib = DM_LAZY_LIBRARY_INIT("libdbmgmt-no-such-client.so.9",
                                               "the test client library", "test://", "-Dtest",
                                               symbols, &fns);
    dm_error err = {0};
    assert_int_equal(dm_lazy_load(&lib, &err), DBMGMT_ERR_UNSUPPORTED);
    assert_non_null(strstr(err.msg, "test:// DSN"));
    assert_non_null(strstr(err.msg, "the test client library, libdbmgmt-no-such-client.so.9"));
    assert_non_null(strstr(err.msg, "meson option -Dtest"));
    assert_non_null(strstr(err.msg, "No such file")); /* the dynamic loader's reason */
    assert_null(fns.strlen);
    assert_int_equal(dbmgmt_errcode(), DBMGMT_ERR_UNSUPPORTED); /* mirrored on the thread */
}

static void test_lazy_load_names_a_missing_function(void **state)
{
    (void)state;
    struct {
        void (*missing)(void);
    } fns = {NULL};
    static const dm_lazy_symbol symbols[] = {{"dbmgmt_test_no_such_function", 0}};
    dm_lazy_library lib = DM_LAZY_LIBRARY_INIT("libc.so.6", "the C library", "test://",
                                               "-Dtest", symbols, &fns);
    dm_error err = {0};
    assert_int_equal(dm_lazy_load(&lib, &err), DBMGMT_ERR_UNSUPPORTED);
    assert_non_null(strstr(err.msg, "libc.so.6 has no function dbmgmt_test_no_such_function"));
}

/* The point of loading lazily: a SQLite-only process maps neither client. */
static void test_sqlite_use_loads_no_client_library(void **state)
{
    (void)state;
    dbmgmt_conn *c = NULL;
    assert_int_equal(dbmgmt_conn_open(&c, "sqlite::memory:"), DBMGMT_OK);
    assert_int_equal(dbmgmt_conn_exec(c, "CREATE TABLE t (x INTEGER)"), DBMGMT_OK);
    dbmgmt_conn_close(c);
    assert_null(dlopen(DM_LIBPQ_SONAME, RTLD_NOW | RTLD_NOLOAD));
    assert_null(dlopen(DM_MARIADB_SONAME, RTLD_NOW | RTLD_NOLOAD));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lazy_load_fills_the_table),
        cmocka_unit_test(test_lazy_load_names_a_missing_library_and_the_option),
        cmocka_unit_test(test_lazy_load_names_a_missing_function),
        cmocka_unit_test(test_sqlite_use_loads_no_client_library),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
