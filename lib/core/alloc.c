/* The process-wide allocator hook and the library's allocation helpers. */
#include "alloc.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

typedef struct allocator {
    dbmgmt_malloc_fn malloc_fn;
    dbmgmt_realloc_fn realloc_fn;
    dbmgmt_free_fn free_fn;
} allocator;

static allocator current = {malloc, realloc, free};
/* Set at the first allocation: from then on the allocator may not change,
 * or memory would be freed by a different allocator than made it. */
static atomic_int allocator_in_use;

DBMGMT_API int dbmgmt_set_allocator(dbmgmt_malloc_fn malloc_fn, dbmgmt_realloc_fn realloc_fn,
                                    dbmgmt_free_fn free_fn)
{
    int all_null = !malloc_fn && !realloc_fn && !free_fn;
    if (!all_null && (!malloc_fn || !realloc_fn || !free_fn))
        return dm_error_invalid("dbmgmt_set_allocator",
                                "give all three functions, or all three NULL for the default");
    if (atomic_load(&allocator_in_use))
        return dm_error_set(NULL, DBMGMT_ERR_BUSY,
                            "dbmgmt_set_allocator: the library has already allocated memory; "
                            "set the allocator before any other libdbmgmt call");
    if (all_null) {
        current.malloc_fn = malloc;
        current.realloc_fn = realloc;
        current.free_fn = free;
    } else {
        current.malloc_fn = malloc_fn;
        current.realloc_fn = realloc_fn;
        current.free_fn = free_fn;
    }
    return DBMGMT_OK;
}

void *dm_malloc(size_t size)
{
    atomic_store_explicit(&allocator_in_use, 1, memory_order_relaxed);
    return current.malloc_fn(size ? size : 1);
}

void *dm_calloc(size_t count, size_t size)
{
    if (size && count > SIZE_MAX / size)
        return NULL;
    void *p = dm_malloc(count * size);
    if (p)
        memset(p, 0, count * size);
    return p;
}

void *dm_realloc(void *ptr, size_t size)
{
    atomic_store_explicit(&allocator_in_use, 1, memory_order_relaxed);
    return current.realloc_fn(ptr, size ? size : 1);
}

void dm_free(void *ptr)
{
    if (ptr)
        current.free_fn(ptr);
}

char *dm_strndup(const char *s, size_t len)
{
    if (!s)
        return NULL;
    char *copy = dm_malloc(len + 1);
    if (!copy)
        return NULL;
    memcpy(copy, s, len);
    copy[len] = '\0';
    return copy;
}

char *dm_strdup(const char *s)
{
    return s ? dm_strndup(s, strlen(s)) : NULL;
}

DBMGMT_API void dbmgmt_free(void *ptr)
{
    dm_free(ptr);
}
