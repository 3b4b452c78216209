/* Internal allocation through the process-wide allocator hook. */
#ifndef DM_CORE_ALLOC_H
#define DM_CORE_ALLOC_H

#include <stddef.h>

void *dm_malloc(size_t size);
void *dm_calloc(size_t count, size_t size); /* zeroed; checks count*size overflow */
void *dm_realloc(void *ptr, size_t size);
void dm_free(void *ptr);
char *dm_strdup(const char *s);               /* NULL in -> NULL out */
char *dm_strndup(const char *s, size_t len);  /* copies len bytes and adds a NUL */

#endif
