/*
 * Statement splitter and placeholder rewrite (internal API).
 *
 * dm_sql_split() cuts a script into statements following the dialect's
 * quoting rules (see lexer.h and docs/sql-splitting.md). The result is the
 * public dbmgmt_statements list; internal users (migrator, conn_exec, linter,
 * advisor) read the richer dm_sql_stmt records with dm_sql_statement_at()
 * and walk a statement's tokens with a dm_sql_lexer over
 * [text, text + command_len).
 */
#ifndef DM_SQL_SPLIT_H
#define DM_SQL_SPLIT_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "dbmgmt/sql.h"

#define DM_SQL_DELIMITER_MAX 15

typedef struct dm_sql_stmt {
    const char *text;   /* NUL-terminated copy owned by the list (may contain NULs) */
    size_t len;         /* bytes of text */
    size_t offset;      /* byte offset of the text in the input */
    size_t command_len; /* bytes of text that are SQL: len, except for a COPY
                           FROM stdin, where it stops before the ';' */
    size_t data_offset; /* COPY FROM stdin: its data rows, relative to text, */
    size_t data_len;    /* up to and including the LF before the "\." line; 0/0 otherwise */
    int32_t line;       /* 1-based line of the first byte of the text */
    int32_t column;     /* 1-based column, in UTF-8 code points */
    /* MySQL: the delimiter in force when the statement was read (";" unless a
     * DELIMITER directive changed it), NUL-terminated. */
    char delimiter[DM_SQL_DELIMITER_MAX + 1];
} dm_sql_stmt;

/*
 * Split src[0 .. len) (need not be NUL-terminated). initial_delimiter (MySQL
 * only; NULL means ";") is the delimiter in force at the start. On success
 * *out is a new list; on failure *out is NULL and the status is
 * DBMGMT_ERR_PARSE ("LINE:COLUMN: message" on err and the thread),
 * DBMGMT_ERR_NOMEM or DBMGMT_ERR_INVALID.
 */
int dm_sql_split(dbmgmt_engine dialect, const char *src, size_t len,
                 const char *initial_delimiter, dbmgmt_statements **out, dm_error *err);

/* The i-th statement, or NULL when i is out of range. */
const dm_sql_stmt *dm_sql_statement_at(const dbmgmt_statements *list, size_t i);

/*
 * PostgreSQL placeholder rewrite: every `?` placeholder outside strings,
 * comments, quoted identifiers and dollar quotes becomes $1, $2, ... in
 * order; `?|` and `?&` (jsonb operators) are kept; `??` is written as a
 * single `?` (the jsonb ? operator). SQL without `?` is copied unchanged and
 * *nparams is the highest $N in it. Mixing `?` and $N is DBMGMT_ERR_PARSE.
 * *out is a NUL-terminated dm_malloc'd string the caller dm_free()s.
 */
int dm_sql_rewrite_placeholders(const char *sql, size_t len, char **out, int32_t *nparams,
                                dm_error *err);
/* The same, and *single = 1 when sql holds at most one statement (no token
 * after a top-level ';'): then the simple query protocol, which would run
 * every statement of a string, runs only that one. */
int dm_sql_rewrite_placeholders_single(const char *sql, size_t len, char **out,
                                       int32_t *nparams, int *single, dm_error *err);

#endif
