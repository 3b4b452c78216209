/*
 * A bump allocator for many strings with one owner and one lifetime (a
 * migration folder's names and SQL): memory comes in chunks from the
 * allocator hook and is released all at once by dm_arena_free. Pointers
 * stay valid until then (chunks never move). An arena is plain data that
 * can be copied or moved with its owner; all zeros is an empty arena.
 */
#ifndef DM_CORE_ARENA_H
#define DM_CORE_ARENA_H

#include <stddef.h>

typedef struct dm_arena_chunk dm_arena_chunk;

typedef struct dm_arena {
    dm_arena_chunk *chunks; /* newest first */
    char *next;             /* free space in the newest chunk */
    size_t left;
} dm_arena;

#define DM_ARENA_INIT {NULL, NULL, 0}

/* A NUL-terminated copy of [s, s+len); NULL when memory runs out. */
char *dm_arena_strndup(dm_arena *a, const char *s, size_t len);
char *dm_arena_strdup(dm_arena *a, const char *s); /* NULL in -> NULL out */
/* Free space of at least min bytes at the end of the arena, to fill in
 * place (a read()); *avail is its size. Nothing is allocated for the
 * caller until dm_arena_commit; a later reserve may hand out a new chunk,
 * so bytes not committed yet must be copied over by the caller. */
char *dm_arena_reserve(dm_arena *a, size_t min, size_t *avail);
/* Keep the first used bytes of the last reserve. */
void dm_arena_commit(dm_arena *a, size_t used);
/* Move every chunk of from into into (from is left empty). */
void dm_arena_adopt(dm_arena *into, dm_arena *from);
void dm_arena_free(dm_arena *a);

#endif
