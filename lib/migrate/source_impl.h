/*
 * Private to lib/migrate's sources: a migration file's text and the marker
 * lines (`-- migrate:up`, `-- +goose StatementBegin`) that source.c (reading
 * migrations) and statements.c (goose's statement blocks) look for.
 */
#ifndef DM_MIGRATE_SOURCE_IMPL_H
#define DM_MIGRATE_SOURCE_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"

typedef struct dm_file_text {
    const char *path;  /* as shown in messages and kept in sections */
    const char *text;
    size_t len;
    dm_arena *arena;   /* where sections are copied to (NULL: read only) */
} dm_file_text;

/* A marker line: `-- migrate:up ...` or `-- +goose Up`. */
typedef struct dm_marker {
    size_t line_start, next_line; /* offsets of the marker line and the line after it */
    int32_t line;                 /* its line number */
    const char *args;             /* text after the keyword, up to the line end */
    size_t args_len;
} dm_marker;

/* The first line at or after offset from that starts with prefix: 1 and *m
 * filled in, or 0. */
int dm_find_marker(const dm_file_text *f, size_t from, const char *prefix, dm_marker *m);

#endif
