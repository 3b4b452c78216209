#include "counting_alloc.h"

#include <execinfo.h>
#include <stdlib.h>

atomic_long support_alloc_calls;
atomic_long support_alloc_live;
atomic_long support_alloc_fail_at;

static int should_fail(void)
{
    long n = atomic_fetch_add(&support_alloc_calls, 1) + 1;
    long at = atomic_load(&support_alloc_fail_at);
    if (at && n == at && getenv("DBMGMT_TEST_ALLOC_BACKTRACE")) {
        /* to find the call that swallowed the failure */
        void *frames[24];
        backtrace_symbols_fd(frames, backtrace(frames, 24), 2);
    }
    return at && n == at;
}

void *support_counting_malloc(size_t size)
{
    if (should_fail())
        return NULL;
    void *p = malloc(size);
    if (p)
        atomic_fetch_add(&support_alloc_live, 1);
    return p;
}

void *support_counting_realloc(void *ptr, size_t size)
{
    if (should_fail())
        return NULL;
    void *p = realloc(ptr, size);
    if (p && !ptr)
        atomic_fetch_add(&support_alloc_live, 1);
    return p;
}

void support_counting_free(void *ptr)
{
    if (ptr)
        atomic_fetch_sub(&support_alloc_live, 1);
    free(ptr);
}
