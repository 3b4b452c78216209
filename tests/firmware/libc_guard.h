/*
 * The libc guard of the heap-and-threads test (issue 24). The test program
 * is linked with -Wl,--wrap=malloc,... (tests/firmware/meson.build): every
 * reference the library's objects make to one of the functions below lands
 * in libc_guard.c's __wrap_ function, which counts it while the guard is
 * armed and then calls the real function. Three groups:
 * - the C library's allocator (malloc, free, strdup, ...): the library must
 *   never call these; its memory comes from dbmgmt_set_allocator's hook;
 * - functions that allocate inside the C library (opendir, fopen, qsort,
 *   strerror, ...): listed per path in docs/embedded.md; the firmware path
 *   (embedded migrations on SQLite) calls none of them;
 * - pthread_create: the firmware path starts no thread.
 */
#ifndef DBMGMT_TESTS_FIRMWARE_LIBC_GUARD_H
#define DBMGMT_TESTS_FIRMWARE_LIBC_GUARD_H

#include <stddef.h>

typedef enum guard_group {
    GUARD_LIBC_ALLOCATOR = 0,
    GUARD_ALLOCATES_INSIDE = 1,
    GUARD_THREAD = 2
} guard_group;

/* Zero the counts and start counting calls. */
void guard_arm(void);
/* Stop counting (the counts stay readable). */
void guard_disarm(void);
/* Calls counted in a group since guard_arm(). */
long guard_calls(guard_group group);
/* The names of the functions called in a group, "a,b" (or ""), into out. */
void guard_names(guard_group group, char *out, size_t cap);

/* The C library's allocator, never counted: for the test's own use. */
void *guard_real_malloc(size_t size);
void *guard_real_realloc(void *ptr, size_t size);
void guard_real_free(void *ptr);

/* Entries of /proc/self/task: the threads of this process. -1 when it
 * cannot be read. */
int guard_thread_count(void);

#endif
