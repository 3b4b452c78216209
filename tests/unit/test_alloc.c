/*
 * The allocator hook: every allocation of the library goes through it, it
 * can only be set before first use, and failing the n-th allocation for
 * every n along open -> query -> read -> free gives DBMGMT_ERR_NOMEM with
 * nothing leaked and nothing crashed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "dbmgmt.h"

static long allocations;      /* calls to malloc/realloc(NULL) so far */
static long outstanding;      /* live blocks */
static long fail_at;          /* fail this allocation (1-based); 0 = never */

static int should_fail(void)
{
    allocations++;
    return fail_at && allocations == fail_at;
}

static void *counting_malloc(size_t size)
{
    if (should_fail())
        return NULL;
    void *p = malloc(size);
    if (p)
        outstanding++;
    return p;
}

static void *counting_realloc(void *ptr, size_t size)
{
    if (should_fail())
        return NULL;
    void *p = realloc(ptr, size);
    if (p && !ptr)
        outstanding++;
    return p;
}

static void counting_free(void *ptr)
{
    if (ptr)
        outstanding--;
    free(ptr);
}

static void test_allocator_is_set_before_first_use(void **state)
{
    (void)state;
    assert_int_equal(dbmgmt_set_allocator(counting_malloc, NULL, counting_free),
                     DBMGMT_ERR_INVALID);
    assert_int_equal(dbmgmt_set_allocator(counting_malloc, counting_realloc, counting_free),
                     DBMGMT_OK);
    char *s = dbmgmt_dsn_redact("sqlite::memory:");
    assert_non_null(s);
    assert_int_equal(outstanding, 1); /* the library's allocation went through the hook */
    dbmgmt_free(s);
    assert_int_equal(outstanding, 0);
    assert_int_equal(dbmgmt_set_allocator(NULL, NULL, NULL), DBMGMT_ERR_BUSY);
    assert_int_equal(dbmgmt_errcode(), DBMGMT_ERR_BUSY);
}

/* open -> exec -> prepared insert -> parameterised query -> read -> free.
 * Returns the first failing status (after cleaning up) or DBMGMT_OK. */
static int open_query_read_free(void)
{
    dbmgmt_conn *conn = NULL;
    dbmgmt_stmt *stmt = NULL;
    dbmgmt_result *res = NULL;
    int rc = dbmgmt_conn_open(&conn, "sqlite::memory:");
    if (rc != DBMGMT_OK)
        goto out;
    rc = dbmgmt_conn_exec(conn, "CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT, data BLOB)");
    if (rc != DBMGMT_OK)
        goto out;
    rc = dbmgmt_conn_prepare(conn, &stmt, "INSERT INTO t(name, data) VALUES (?, ?)");
    if (rc == DBMGMT_OK)
        rc = dbmgmt_stmt_bind_text(stmt, 1, "alpha");
    if (rc == DBMGMT_OK)
        rc = dbmgmt_stmt_bind_blob(stmt, 2, "\0\1\2", 3);
    if (rc == DBMGMT_OK)
        rc = dbmgmt_stmt_execute(stmt, NULL);
    if (rc != DBMGMT_OK)
        goto out;
    const char *params[] = {"alpha"};
    rc = dbmgmt_conn_query(conn, &res, "SELECT id, name, data FROM t WHERE name = ?", 1, params);
    if (rc != DBMGMT_OK)
        goto out;
    int rows = 0;
    while ((rc = dbmgmt_result_next(res)) == 1) {
        rows++;
        if (strcmp(dbmgmt_result_text(res, 1), "alpha") != 0)
            fail_msg("wrong row");
    }
    if (rc == 0 && rows != 1)
        fail_msg("expected one row, got %d", rows);
out:
    dbmgmt_result_free(res);
    dbmgmt_stmt_free(stmt);
    dbmgmt_conn_close(conn);
    return rc < 0 ? rc : DBMGMT_OK;
}

static void test_failing_nth_allocation_gives_nomem_and_no_leak(void **state)
{
    (void)state;
    fail_at = 0;
    allocations = 0;
    assert_int_equal(open_query_read_free(), DBMGMT_OK);
    long total = allocations;
    assert_true(total >= 5); /* conn, dsn strings, stmt, result, ... */
    assert_int_equal(outstanding, 0);
    for (long n = 1; n <= total; n++) {
        fail_at = n;
        allocations = 0;
        int rc = open_query_read_free();
        if (rc != DBMGMT_ERR_NOMEM)
            fail_msg("failing allocation %ld of %ld gave %s (%s), expected DBMGMT_ERR_NOMEM", n,
                     total, dbmgmt_status_name(rc), dbmgmt_errmsg());
        if (outstanding != 0)
            fail_msg("failing allocation %ld of %ld leaked %ld blocks", n, total, outstanding);
        assert_int_equal(dbmgmt_errcode(), DBMGMT_ERR_NOMEM);
    }
    fail_at = 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_allocator_is_set_before_first_use),
        cmocka_unit_test(test_failing_nth_allocation_gives_nomem_and_no_leak),
    };
    return cmocka_run_group_tests_name("core/alloc", tests, NULL, NULL);
}
