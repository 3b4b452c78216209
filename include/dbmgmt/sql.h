/*
 * libdbmgmt — splitting SQL scripts into statements.
 *
 * The splitter knows each dialect's quoting: strings, quoted identifiers,
 * comments, PostgreSQL dollar quotes and COPY ... FROM stdin data, MySQL
 * DELIMITER directives and executable comments, and BEGIN ... END bodies of
 * triggers and routines (see docs/sql-splitting.md for the exact rules).
 *
 * Statement text rules: a statement's text starts at its first token
 * (whitespace and comments before it are skipped) and ends at its last token
 * (the terminating ';' or DELIMITER string, and whitespace or comments before
 * it, are not part of it). Empty statements are not returned. Lines and
 * columns are 1-based; columns count UTF-8 code points.
 *
 * Threads: a dbmgmt_statements list is immutable once made; it may be read
 * from several threads at once and freed by one of them afterwards.
 */
#ifndef DBMGMT_SQL_H
#define DBMGMT_SQL_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct dbmgmt_statements dbmgmt_statements;

/*
 * Split len bytes of sql (need not be NUL-terminated; NUL bytes are ordinary
 * bytes) written in dialect's SQL. sql may be NULL when len is 0.
 * On success *out is a new list (possibly empty) the caller frees with
 * dbmgmt_statements_free(). On failure *out is NULL and the status is
 * DBMGMT_ERR_INVALID (out NULL, sql NULL with len > 0, unknown dialect),
 * DBMGMT_ERR_PARSE (an unterminated string, quoted identifier, comment,
 * dollar quote, COPY data block or BEGIN ... END body, or a bad DELIMITER)
 * or DBMGMT_ERR_NOMEM. A parse error's dbmgmt_errmsg() starts with
 * "LINE:COLUMN: " — where the unterminated construct opened — so a caller
 * can prefix "FILE:".
 */
DBMGMT_API int dbmgmt_split(dbmgmt_engine dialect, const char *sql, size_t len,
                            dbmgmt_statements **out);

/* Number of statements; 0 for NULL. */
DBMGMT_API size_t dbmgmt_statements_count(const dbmgmt_statements *list);

/*
 * Text of statement i, NUL-terminated, owned by the list (valid until
 * dbmgmt_statements_free()). Its length in bytes goes to *len when len is
 * not NULL (the text may itself contain NUL bytes). NULL for a NULL list or
 * an index out of range.
 */
DBMGMT_API const char *dbmgmt_statements_sql(const dbmgmt_statements *list, size_t i,
                                             size_t *len);

/* 1-based line of statement i's first byte; 0 for NULL or a bad index. */
DBMGMT_API int32_t dbmgmt_statements_line(const dbmgmt_statements *list, size_t i);

/* 1-based column (in UTF-8 code points) of statement i's first byte; 0 for
 * NULL or a bad index. */
DBMGMT_API int32_t dbmgmt_statements_column(const dbmgmt_statements *list, size_t i);

/* Byte offset of statement i's text in the input; 0 for NULL or a bad index. */
DBMGMT_API size_t dbmgmt_statements_offset(const dbmgmt_statements *list, size_t i);

/* The list as a JSON array of the objects dbmgmt_statement_to_json() makes.
 * The caller frees the string with dbmgmt_free(). NULL (DBMGMT_ERR_INVALID or
 * DBMGMT_ERR_NOMEM in dbmgmt_errcode()) for a NULL list or no memory. */
DBMGMT_API char *dbmgmt_statements_to_json(const dbmgmt_statements *list);

/* Statement i as one JSON object
 * {"index":0,"line":1,"column":1,"offset":0,"sql":"..."} (bytes that are not
 * valid UTF-8 become U+FFFD). Freed with dbmgmt_free(). NULL for a NULL list,
 * a bad index (DBMGMT_ERR_INVALID) or no memory (DBMGMT_ERR_NOMEM). */
DBMGMT_API char *dbmgmt_statement_to_json(const dbmgmt_statements *list, size_t i);

/* Free the list; accepts NULL. */
DBMGMT_API void dbmgmt_statements_free(dbmgmt_statements *list);

#ifdef __cplusplus
}
#endif
#endif /* DBMGMT_SQL_H */
