/*
 * Test support: a counting allocator for dbmgmt_set_allocator that can fail
 * the n-th allocation (the allocation-failure scenarios of core-alloc and
 * snapshot-alloc). Atomic: the library may allocate on threads of its own.
 * DBMGMT_TEST_ALLOC_BACKTRACE=1 prints the stack of each failed allocation
 * (resolve it with addr2line).
 */
#ifndef DBMGMT_TESTS_SUPPORT_COUNTING_ALLOC_H
#define DBMGMT_TESTS_SUPPORT_COUNTING_ALLOC_H

#include <stdatomic.h>
#include <stddef.h>

extern atomic_long support_alloc_calls;   /* calls to malloc/realloc so far */
extern atomic_long support_alloc_live;    /* live blocks */
extern atomic_long support_alloc_fail_at; /* fail this call (1-based); 0 = never */

void *support_counting_malloc(size_t size);
void *support_counting_realloc(void *ptr, size_t size);
void support_counting_free(void *ptr);

#endif
