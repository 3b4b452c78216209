/* The bump allocator (arena.h). */
#include "arena.h"

#include <stdint.h>
#include <string.h>

#include "alloc.h"

#define ARENA_CHUNK_SIZE 65536

struct dm_arena_chunk {
    dm_arena_chunk *older;
    char data[];
};

char *dm_arena_strndup(dm_arena *a, const char *s, size_t len)
{
    char *p = dm_arena_reserve(a, len + 1, &(size_t){0});
    if (!p)
        return NULL;
    memcpy(p, s, len);
    p[len] = '\0';
    dm_arena_commit(a, len + 1);
    return p;
}

char *dm_arena_strdup(dm_arena *a, const char *s)
{
    return s ? dm_arena_strndup(a, s, strlen(s)) : NULL;
}

char *dm_arena_reserve(dm_arena *a, size_t min, size_t *avail)
{
    if (!a->next || a->left < min) {
        size_t size = min > ARENA_CHUNK_SIZE ? min : ARENA_CHUNK_SIZE;
        dm_arena_chunk *c = size <= SIZE_MAX - sizeof *c ? dm_malloc(sizeof *c + size) : NULL;
        if (!c)
            return NULL;
        c->older = a->chunks;
        a->chunks = c;
        a->next = (char *)c->data;
        a->left = size;
    }
    *avail = a->left;
    return a->next;
}

void dm_arena_commit(dm_arena *a, size_t used)
{
    a->next += used;
    a->left -= used;
}

void dm_arena_adopt(dm_arena *into, dm_arena *from)
{
    if (!from->chunks)
        return;
    dm_arena_chunk *oldest = from->chunks;
    while (oldest->older)
        oldest = oldest->older;
    oldest->older = into->chunks;
    into->chunks = from->chunks;
    into->next = from->next; /* keep filling the newest chunk */
    into->left = from->left;
    memset(from, 0, sizeof *from);
}

void dm_arena_free(dm_arena *a)
{
    dm_arena_chunk *c = a->chunks;
    while (c) {
        dm_arena_chunk *older = c->older;
        dm_free(c);
        c = older;
    }
    memset(a, 0, sizeof *a);
}
