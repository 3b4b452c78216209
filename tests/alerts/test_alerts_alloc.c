/*
 * Alert rules under failing allocations (the pattern of tests/unit/
 * test_alloc.c): a rule set with the defaults and two rules of its own
 * (enough to grow the rule array), a rule firing, and the JSON, run once to
 * count the library's allocations, then once per n with the n-th failing.
 * Each such run must end in DBMGMT_ERR_NOMEM (on the thread too) and leak
 * nothing. No server: the allocator is process-wide, so this is a program
 * of its own.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <dbmgmt.h>

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

static int fired;

static void count_firing(void *userdata, const char *rule, int32_t state, int32_t severity,
                         double value, const char *message)
{
    (void)userdata, (void)rule, (void)severity, (void)value, (void)message;
    fired += state == DBMGMT_ALERT_FIRING;
}

/* Nine rules, one firing, the JSON; the rule set is intact after a failure. */
static int scenario(void)
{
    dbmgmt_alerts *a = NULL;
    int rc = dbmgmt_alerts_new(&a);
    if (rc == DBMGMT_OK)
        rc = dbmgmt_alerts_set_callback(a, count_firing, NULL);
    if (rc == DBMGMT_OK)
        rc = dbmgmt_alerts_set_rule(a, "waits", DBMGMT_HEALTH_LOCK_WAITS, 5,
                                    DBMGMT_ALERT_WARNING, 0, 0.1);
    if (rc == DBMGMT_OK)
        rc = dbmgmt_alerts_set_rule(a, "cache_misses", DBMGMT_HEALTH_CACHE_READS_TOTAL, 1e6,
                                    DBMGMT_ALERT_CRITICAL, 1000, 0.5);
    if (rc == DBMGMT_OK && dbmgmt_alerts_observe(a, DBMGMT_HEALTH_LOCK_WAITS, 6, 1) != 1)
        fail_msg("the rule added did not fire");
    if (rc == DBMGMT_OK) {
        char *json = dbmgmt_alerts_to_json(a);
        if (json && !strstr(json, "\"name\":\"cache_misses\""))
            fail_msg("the JSON lacks a rule: %s", json);
        rc = json ? DBMGMT_OK : DBMGMT_ERR_NOMEM;
        dbmgmt_free(json);
    }
    dbmgmt_alerts_free(a);
    return rc;
}

/* The thread's last error lives until the next failure: record one that is
 * not NOMEM, so a NOMEM seen after a run is that run's. */
static void forget_nomem(void)
{
    assert_int_equal(dbmgmt_alerts_new(NULL), DBMGMT_ERR_INVALID);
}

static void test_each_allocation_fails_cleanly(void **state)
{
    (void)state;
    atomic_store(&allocations, 0);
    long before = atomic_load(&outstanding);
    fired = 0;
    assert_int_equal(scenario(), DBMGMT_OK);
    assert_int_equal(fired, 1);
    long total = atomic_load(&allocations);
    assert_true(total >= 12); /* the set, its rules, 9 names, the JSON */
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
    }
    printf("alerts: %ld allocations, each failed once\n", total);
}

int main(void)
{
    if (dbmgmt_set_allocator(counting_malloc, counting_realloc, counting_free) != DBMGMT_OK) {
        fprintf(stderr, "dbmgmt_set_allocator failed\n");
        return 1;
    }
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_each_allocation_fails_cleanly)};
    return cmocka_run_group_tests_name("alerts-alloc", tests, NULL, NULL);
}
