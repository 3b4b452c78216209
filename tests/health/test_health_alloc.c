/*
 * Health under failing allocations (the pattern of tests/unit/test_alloc.c):
 * a sampler's two samples of a SQLite file and their JSON are run once to
 * count the library's allocations, then once per n with the n-th failing.
 * Each such run must end in DBMGMT_ERR_NOMEM (on the thread too), leak
 * nothing, and leave the connection usable.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <dbmgmt.h>

#include "support/engine.h"

static atomic_long allocations; /* calls to malloc/realloc so far */
static atomic_long outstanding; /* live blocks */
static atomic_long fail_at;     /* fail this allocation (1-based); 0 = never */

static int should_fail(void)
{
    long n = atomic_fetch_add(&allocations, 1) + 1;
    long at = atomic_load(&fail_at);
    return at && n == at;
}

static void *counting_malloc(size_t size)
{
    if (should_fail())
        return NULL;
    void *p = malloc(size);
    if (p)
        atomic_fetch_add(&outstanding, 1);
    return p;
}

static void *counting_realloc(void *ptr, size_t size)
{
    if (should_fail())
        return NULL;
    void *p = realloc(ptr, size);
    if (p && !ptr)
        atomic_fetch_add(&outstanding, 1);
    return p;
}

static void counting_free(void *ptr)
{
    if (ptr)
        atomic_fetch_sub(&outstanding, 1);
    free(ptr);
}

static dbmgmt_conn *conn;

/* Two samples and the JSON of the second. */
static int scenario(void)
{
    dbmgmt_health_sampler *s = NULL;
    dbmgmt_health *a = NULL, *b = NULL;
    int rc = dbmgmt_health_sampler_new(&s);
    if (rc == DBMGMT_OK)
        rc = dbmgmt_health_sample_at(s, conn, NULL, 1000, &a);
    if (rc == DBMGMT_OK)
        rc = dbmgmt_health_sample_at(s, conn, NULL, 2000, &b);
    if (rc == DBMGMT_OK) {
        char *json = dbmgmt_health_to_json(b);
        rc = json ? DBMGMT_OK : DBMGMT_ERR_NOMEM;
        dbmgmt_free(json);
    }
    dbmgmt_health_free(a);
    dbmgmt_health_free(b);
    dbmgmt_health_sampler_free(s);
    return rc;
}

/* The thread's last error lives until the next failure: record one that is
 * not NOMEM, so a NOMEM seen after a run is that run's. */
static void forget_nomem(void)
{
    assert_int_equal(dbmgmt_health_collect(NULL, NULL), DBMGMT_ERR_INVALID);
}

static void test_each_allocation_fails(void **state)
{
    (void)state;
    atomic_store(&allocations, 0);
    long before = atomic_load(&outstanding);
    assert_int_equal(scenario(), DBMGMT_OK);
    long total = atomic_load(&allocations);
    assert_true(total >= 5); /* snapshots, sampler, table names, JSON */
    assert_int_equal(atomic_load(&outstanding), before);
    for (long n = 1; n <= total; n++) {
        forget_nomem();
        atomic_store(&allocations, 0);
        atomic_store(&fail_at, n);
        int rc = scenario();
        atomic_store(&fail_at, 0);
        if (rc != DBMGMT_ERR_NOMEM || dbmgmt_errcode() != DBMGMT_ERR_NOMEM)
            fail_msg("failing allocation %ld of %ld gave %s, thread %s (%s)", n, total,
                     dbmgmt_status_name(rc), dbmgmt_status_name(dbmgmt_errcode()),
                     dbmgmt_errmsg());
        if (atomic_load(&outstanding) != before)
            fail_msg("failing allocation %ld of %ld leaked %ld blocks", n, total,
                     atomic_load(&outstanding) - before);
        assert_int_equal(support_query_int(conn, "SELECT COUNT(*) FROM t"), 3);
    }
    printf("health: %ld allocations, each failed once\n", total);
}

int main(void)
{
    const char *dsn = getenv("DBMGMT_TEST_DSN");
    if (!dsn || strncmp(dsn, "sqlite://", 9) != 0) {
        fprintf(stderr, "DBMGMT_TEST_DSN must be a sqlite:// file\n");
        return 1;
    }
    if (dbmgmt_set_allocator(counting_malloc, counting_realloc, counting_free) != DBMGMT_OK) {
        fprintf(stderr, "dbmgmt_set_allocator failed\n");
        return 1;
    }
    unlink(dsn + 9);
    if (dbmgmt_conn_open(&conn, dsn) != DBMGMT_OK) {
        fprintf(stderr, "open: %s\n", dbmgmt_errmsg());
        return 1;
    }
    if (dbmgmt_conn_exec(conn, "CREATE TABLE t(x INT PRIMARY KEY); "
                               "CREATE TABLE u(y); INSERT INTO t VALUES (1), (2), (3)") !=
        DBMGMT_OK) {
        fprintf(stderr, "setup: %s\n", dbmgmt_errmsg());
        return 1;
    }
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_each_allocation_fails)};
    int failed = cmocka_run_group_tests_name("health-alloc", tests, NULL, NULL);
    dbmgmt_conn_close(conn);
    unlink(dsn + 9);
    return failed ? 1 : 0;
}
