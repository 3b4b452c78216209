/*
 * Private to lib/sql's splitter: the state split.c (the fast path, blocks
 * of 64 bytes, the driver) and split_tokens.c (statements scanned token by
 * token: routine bodies, PostgreSQL COPY data) share.
 */
#ifndef DM_SQL_SPLIT_IMPL_H
#define DM_SQL_SPLIT_IMPL_H

#include <stddef.h>

#include "sql/bytescan.h"
#include "sql/lexer.h"
#include "sql/split.h"

typedef enum dm_scan_mode {
    DM_SCAN_FAST,   /* ordinary statement */
    DM_SCAN_BODY,   /* may contain BEGIN ... END (or CASE ... END) holding ';' */
    DM_SCAN_COPY    /* PostgreSQL COPY: may be followed by a data block */
} dm_scan_mode;

typedef struct dm_splitter {
    dbmgmt_engine dialect;
    const char *s;
    size_t n;
    dm_sql_byteset stops;       /* fast path: bytes that need a look */
    dm_sql_block_scan_fn scan;  /* classifies 64 bytes (bytescan.h) */
    int bulk_strings;           /* next_event() may step over '..' runs */
    char delim[DM_SQL_DELIMITER_MAX + 1];
    size_t delim_len;
    dm_sql_lex_error error;
    dm_sql_stmt *items;
    size_t count, cap;
    char *texts;   /* the list's copy of the input, filled as blocks are classified */
    size_t copied; /* bytes of it filled (a multiple of 64 until the end) */
    size_t settled; /* items whose text is copied and NUL-terminated */
    /* The 64-byte block the scan has reached: blocks are classified in
     * order, each once, so lines are counted with popcount as they pass. */
    size_t blk_base;          /* offset of the block, a multiple of 64 */
    dm_sql_block_masks blk;   /* its stop bytes and LFs */
    size_t lines_before;      /* LFs before blk_base */
    size_t line_start_before; /* offset after the last LF before blk_base */
    size_t col_line_start;    /* column cache: on the line starting here, */
    size_t col_pos;           /* the byte at col_pos */
    int32_t col_value;        /* is in this column */
} dm_splitter;

/* Where one statement's text ends and scanning resumes. */
typedef struct dm_stmt_bounds {
    size_t text_end;
    size_t next;
    size_t command_end; /* COPY: end of the command before its data */
    size_t data_start, data_end;
} dm_stmt_bounds;

/* Records what is unterminated and where it opened; returns DM_SQL_UNTERMINATED
 * (for the functions that return an index). */
static inline size_t dm_split_fail_at(dm_splitter *sp, dm_sql_lex_error_kind kind,
                                      size_t offset, size_t detail_len)
{
    sp->error.kind = kind;
    sp->error.offset = offset;
    sp->error.detail_len = detail_len;
    return DM_SQL_UNTERMINATED;
}

/* The same, for the functions that return a status. */
static inline int dm_split_fail(dm_splitter *sp, dm_sql_lex_error_kind kind, size_t offset)
{
    dm_split_fail_at(sp, kind, offset, 0);
    return DBMGMT_ERR_PARSE;
}

/* How the statement at start must be scanned, from its first words
 * (split_tokens.c). */
dm_scan_mode dm_split_classify(const dm_splitter *sp, size_t start);

/* 1 when sp->s[start .. end) holds CASE or ATOMIC in any case, anywhere
 * (inside strings, comments and longer words too): a PostgreSQL routine
 * without either ends at its first ';' (split.c). */
int dm_split_holds_block_word(const dm_splitter *sp, size_t start, size_t end);

/* Scans a statement dm_split_classify() did not leave to the fast path. */
int dm_split_scan_tokens(dm_splitter *sp, size_t start, dm_scan_mode mode, dm_stmt_bounds *b);

#endif
