/*
 * Dialect-aware SQL lexer (SQLite, PostgreSQL, MySQL/MariaDB).
 *
 * The lexer walks a buffer given by length (it may contain NUL bytes and is
 * never read past its end) and hands out one token at a time without
 * allocating: a token is a kind plus offsets into the source. Comments and
 * whitespace are skipped. The contents of a MySQL executable comment
 * (slash-star-bang ... star-slash) are lexed as SQL; their tokens carry
 * DM_SQL_TOKF_EXEC_COMMENT.
 *
 * The statement splitter (split.h) and the placeholder rewrite use the same
 * quote/comment rules (the dm_sql_skip_* functions below), so all three
 * agree on where strings and comments end.
 *
 * Reentrant; no global state.
 */
#ifndef DM_SQL_LEXER_H
#define DM_SQL_LEXER_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/error.h"
#include "dbmgmt/common.h"

typedef enum dm_sql_token_kind {
    DM_SQL_TOK_EOF = 0,
    DM_SQL_TOK_KEYWORD,     /* bare word found in the lexer's keyword list (SELECT, BEGIN, ...) */
    DM_SQL_TOK_IDENT,       /* other bare word, or a quoted identifier ("x", `x`, [x], U&"x") */
    DM_SQL_TOK_STRING,      /* 'x', E'x', N'x', U&'x', $tag$x$tag$, MySQL "x" */
    DM_SQL_TOK_BLOB,        /* X'..' / B'..' hex and bit strings (value = the digits) */
    DM_SQL_TOK_NUMBER,      /* 42, 3.14, 1e-3, .5, 0x1F */
    DM_SQL_TOK_PLACEHOLDER, /* ?, ?NNN (SQLite), $N (PostgreSQL), :name @name $name (SQLite) */
    DM_SQL_TOK_VARIABLE,    /* MySQL @name, @@name, @'name' */
    DM_SQL_TOK_OPERATOR,    /* operators and punctuation: ( ) , . = <= :: ->> ?| ... */
    DM_SQL_TOK_SEMICOLON
} dm_sql_token_kind;

/* Token flags. */
#define DM_SQL_TOKF_QUOTED 0x01u       /* the identifier or string was quoted */
#define DM_SQL_TOKF_ESCAPES 0x02u      /* value holds doubled quotes or backslash escapes:
                                          read it with dm_sql_token_value() */
#define DM_SQL_TOKF_BACKSLASH 0x04u    /* backslash escapes apply (MySQL strings, E'..') */
#define DM_SQL_TOKF_DOLLAR 0x08u       /* PostgreSQL dollar-quoted string */
#define DM_SQL_TOKF_EXEC_COMMENT 0x10u /* inside a MySQL executable comment */

typedef struct dm_sql_token {
    dm_sql_token_kind kind;
    uint32_t flags;
    size_t offset;       /* first byte of the whole token in the source */
    size_t len;          /* bytes of the whole token, quotes and prefixes included */
    size_t value_offset; /* the value without quoting / prefix ($ ? : @ for names) */
    size_t value_len;
} dm_sql_token;

/* What went wrong, and where the construct opened. */
typedef enum dm_sql_lex_error_kind {
    DM_SQL_LEX_OK = 0,
    DM_SQL_LEX_UNTERMINATED_STRING,
    DM_SQL_LEX_UNTERMINATED_IDENT,
    DM_SQL_LEX_UNTERMINATED_COMMENT,
    DM_SQL_LEX_UNTERMINATED_DOLLAR,
    DM_SQL_LEX_UNTERMINATED_COPY,
    DM_SQL_LEX_UNTERMINATED_BLOCK,
    DM_SQL_LEX_BAD_DELIMITER
} dm_sql_lex_error_kind;

typedef struct dm_sql_lex_error {
    dm_sql_lex_error_kind kind;
    size_t offset;     /* where the construct opened */
    size_t detail_len; /* dollar tag length / block keyword length, at offset (or detail_offset) */
    size_t detail_offset;
    const char *detail; /* static text for some kinds (block opener, delimiter problem) */
} dm_sql_lex_error;

typedef struct dm_sql_lexer {
    dbmgmt_engine dialect;
    const char *src;
    size_t len;
    size_t pos;
    int plain_words; /* 1: every bare word is DM_SQL_TOK_IDENT (no keyword lookup) */
    int in_exec_comment;
    size_t exec_comment_offset;
    size_t content_end; /* end of the last token or executable-comment marker */
    size_t content_end_before; /* content_end just before the last token */
    dm_sql_lex_error error;
} dm_sql_lexer;

/* Returned by the dm_sql_skip_* functions when the construct has no end. */
#define DM_SQL_UNTERMINATED SIZE_MAX

/* 1 if dialect is one the lexer knows. */
int dm_sql_dialect_valid(dbmgmt_engine dialect);

/* Start lexing src[pos .. len). */
void dm_sql_lexer_init(dm_sql_lexer *lx, dbmgmt_engine dialect, const char *src, size_t len,
                       size_t pos);
/* Next token: 1 and *tok filled, 0 at the end (tok->kind = DM_SQL_TOK_EOF),
 * or DBMGMT_ERR_PARSE with lx->error filled (unterminated construct). */
int dm_sql_lexer_next(dm_sql_lexer *lx, dm_sql_token *tok);

/* Append the token's value to out: identifiers and strings with their quotes
 * removed and doubled quotes / backslash escapes resolved; other tokens as
 * written. Returns DBMGMT_OK or DBMGMT_ERR_NOMEM. */
int dm_sql_token_value(const char *src, const dm_sql_token *tok, dm_buf *out);
/* 1 if the token is a bare word (keyword or unquoted identifier) equal to
 * word, compared ASCII case-insensitively; word is given in upper case. */
int dm_sql_token_is_word(const char *src, const dm_sql_token *tok, const char *word);

/* Line and column (1-based) of offset in src. The column counts UTF-8 code
 * points: every byte that is not a continuation byte (0x80-0xBF). Lines end
 * at LF (so CRLF is one line end). A UTF-8 BOM at offset 0 takes no column. */
void dm_sql_position(const char *src, size_t len, size_t offset, int32_t *line, int32_t *column);

/* Record a lexer error on err (may be NULL) and the thread as
 * "LINE:COLUMN: message"; returns DBMGMT_ERR_PARSE. */
int dm_sql_error_set(dm_error *err, const char *src, size_t len, const dm_sql_lex_error *e);

/* --- Shared quoting rules (index i points at the opening byte) ------------ */

/* 'x' / "x" / `x` with doubled-quote escapes; with backslash also \x escapes. */
size_t dm_sql_skip_quoted(const char *s, size_t n, size_t i, char quote, int backslash);
/* SQLite [x]: ends at the first ']'. */
size_t dm_sql_skip_bracket(const char *s, size_t n, size_t i);
/* -- or # comment: returns the index of the ending LF (or n). */
size_t dm_sql_skip_line_comment(const char *s, size_t n, size_t i);
/* Block comment; nested as in PostgreSQL when nested is 1. */
size_t dm_sql_skip_block_comment(const char *s, size_t n, size_t i, int nested);
/* Length of a PostgreSQL dollar-quote opener ($$ or $tag$) at i, else 0. */
size_t dm_sql_dollar_tag_len(const char *s, size_t n, size_t i);
/* Index after the closing tag of a dollar quote whose opener is at i. */
size_t dm_sql_skip_dollar(const char *s, size_t n, size_t i, size_t tag_len);
/* 1 if a -- at i starts a comment in this dialect (MySQL wants a space or
 * control character after the dashes). */
int dm_sql_is_dash_comment(dbmgmt_engine dialect, const char *s, size_t n, size_t i);
/* Length of a MySQL executable-comment opener at i (slash-star-bang, with an
 * optional M and version digits), else 0. */
size_t dm_sql_exec_comment_len(const char *s, size_t n, size_t i);

/* Byte classes. */
static inline int dm_sql_is_space(unsigned char c)
{
    return c == ' ' || (c >= '\t' && c <= '\r'); /* space \t \n \v \f \r */
}
static inline int dm_sql_is_ident_start(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c >= 0x80;
}
/* letters, digits, _, $, bytes >= 0x80 */
static inline int dm_sql_is_ident_char(unsigned char c)
{
    return dm_sql_is_ident_start(c) || (c >= '0' && c <= '9') || c == '$';
}

#endif
