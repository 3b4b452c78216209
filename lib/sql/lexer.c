/* Dialect-aware SQL lexer: quoting rules shared with the splitter. */
#include "sql/lexer.h"

#include <stdlib.h>
#include <string.h>

/* --- byte classes --------------------------------------------------------- */

static int is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static unsigned char ascii_upper(unsigned char c)
{
    return (c >= 'a' && c <= 'z') ? (unsigned char)(c - 'a' + 'A') : c;
}

int dm_sql_dialect_valid(dbmgmt_engine dialect)
{
    return dialect == DBMGMT_ENGINE_SQLITE || dialect == DBMGMT_ENGINE_POSTGRES ||
           dialect == DBMGMT_ENGINE_MYSQL;
}

/* --- shared quoting rules --------------------------------------------------- */

static const char *find_quote_or_backslash(const char *p, const char *end, char quote)
{
    for (; p < end; p++)
        if (*p == quote || *p == '\\')
            return p;
    return NULL;
}

size_t dm_sql_skip_quoted(const char *s, size_t n, size_t i, char quote, int backslash)
{
    i++;
    for (;;) {
        const char *p = backslash ? find_quote_or_backslash(s + i, s + n, quote)
                                  : memchr(s + i, quote, n - i);
        if (!p)
            return DM_SQL_UNTERMINATED;
        i = (size_t)(p - s);
        if (*p == '\\') {
            if (n - i < 2)
                return DM_SQL_UNTERMINATED;
            i += 2;
            continue;
        }
        if (i + 1 < n && s[i + 1] == quote) {
            i += 2;
            continue;
        }
        return i + 1;
    }
}

size_t dm_sql_skip_bracket(const char *s, size_t n, size_t i)
{
    const char *p = memchr(s + i + 1, ']', n - i - 1);
    return p ? (size_t)(p - s) + 1 : DM_SQL_UNTERMINATED;
}

size_t dm_sql_skip_line_comment(const char *s, size_t n, size_t i)
{
    const char *p = memchr(s + i, '\n', n - i);
    return p ? (size_t)(p - s) : n;
}

static size_t skip_flat_block_comment(const char *s, size_t n, size_t i)
{
    i += 2;
    while (i < n) {
        const char *p = memchr(s + i, '*', n - i);
        if (!p)
            break;
        i = (size_t)(p - s) + 1;
        if (i < n && s[i] == '/')
            return i + 1;
    }
    return DM_SQL_UNTERMINATED;
}

/* PostgreSQL comments nest. Every opener and closer holds a '*', so the
 * scan jumps from '*' to '*' with memchr: a '*' right after a '/' that no
 * pair has taken yet opens a comment, one right before a '/' closes one
 * (the same pairs a left-to-right walk over the bytes takes). */
static size_t skip_nested_block_comment(const char *s, size_t n, size_t i)
{
    size_t depth = 1;
    i += 2;
    while (i < n) {
        const char *p = memchr(s + i, '*', n - i);
        if (!p)
            break;
        size_t star = (size_t)(p - s);
        if (star > i && s[star - 1] == '/') {
            depth++;
            i = star + 1;
        } else if (star + 1 < n && s[star + 1] == '/') {
            i = star + 2;
            if (--depth == 0)
                return i;
        } else {
            i = star + 1;
        }
    }
    return DM_SQL_UNTERMINATED;
}

size_t dm_sql_skip_block_comment(const char *s, size_t n, size_t i, int nested)
{
    return nested ? skip_nested_block_comment(s, n, i) : skip_flat_block_comment(s, n, i);
}

size_t dm_sql_dollar_tag_len(const char *s, size_t n, size_t i)
{
    size_t j = i + 1;
    if (j < n && s[j] == '$')
        return 2;
    if (j >= n || !dm_sql_is_ident_start((unsigned char)s[j]))
        return 0;
    while (j < n && s[j] != '$' && dm_sql_is_ident_char((unsigned char)s[j]))
        j++;
    return (j < n && s[j] == '$') ? j + 1 - i : 0;
}

size_t dm_sql_skip_dollar(const char *s, size_t n, size_t i, size_t tag_len)
{
    size_t body = i + tag_len;
    const char *p = memmem(s + body, n - body, s + i, tag_len);
    return p ? (size_t)(p - s) + tag_len : DM_SQL_UNTERMINATED;
}

int dm_sql_is_dash_comment(dbmgmt_engine dialect, const char *s, size_t n, size_t i)
{
    if (i + 1 >= n || s[i + 1] != '-')
        return 0;
    if (dialect != DBMGMT_ENGINE_MYSQL)
        return 1;
    /* MySQL: "--" must be followed by whitespace or a control character
     * (so 1--1 is arithmetic); at the very end it is not a comment. */
    return i + 2 < n && (unsigned char)s[i + 2] <= 0x20;
}

size_t dm_sql_exec_comment_len(const char *s, size_t n, size_t i)
{
    size_t j = i + 2;
    if (n - i < 3 || s[i] != '/' || s[i + 1] != '*')
        return 0;
    if (s[j] == 'M' && j + 1 < n && s[j + 1] == '!')
        j++;
    if (s[j] != '!')
        return 0;
    j++;
    while (j < n && is_digit((unsigned char)s[j]))
        j++;
    return j - i;
}

/* --- positions and errors --------------------------------------------------- */

void dm_sql_position(const char *src, size_t len, size_t offset, int32_t *line, int32_t *column)
{
    const unsigned char *s = (const unsigned char *)src;
    size_t line_start = 0;
    int32_t l = 1, c = 1;
    if (offset > len)
        offset = len;
    if (len >= 3 && s[0] == 0xEF && s[1] == 0xBB && s[2] == 0xBF && offset >= 3)
        line_start = 3;
    for (size_t i = line_start; i < offset; i++) {
        if (s[i] == '\n') {
            l++;
            line_start = i + 1;
        }
    }
    for (size_t i = line_start; i < offset; i++)
        if ((s[i] & 0xC0) != 0x80)
            c++;
    *line = l;
    *column = c;
}

int dm_sql_error_set(dm_error *err, const char *src, size_t len, const dm_sql_lex_error *e)
{
    int32_t line, col;
    dm_sql_position(src, len, e->offset, &line, &col);
    switch (e->kind) {
    case DM_SQL_LEX_UNTERMINATED_STRING:
        return dm_error_set(err, DBMGMT_ERR_PARSE, "%d:%d: unterminated string literal",
                            (int)line, (int)col);
    case DM_SQL_LEX_UNTERMINATED_IDENT:
        return dm_error_set(err, DBMGMT_ERR_PARSE, "%d:%d: unterminated quoted identifier",
                            (int)line, (int)col);
    case DM_SQL_LEX_UNTERMINATED_COMMENT:
        return dm_error_set(err, DBMGMT_ERR_PARSE, "%d:%d: unterminated block comment",
                            (int)line, (int)col);
    case DM_SQL_LEX_UNTERMINATED_DOLLAR:
        return dm_error_set(err, DBMGMT_ERR_PARSE, "%d:%d: unterminated dollar-quoted string %.*s",
                            (int)line, (int)col, (int)e->detail_len, src + e->offset);
    case DM_SQL_LEX_UNTERMINATED_COPY:
        return dm_error_set(err, DBMGMT_ERR_PARSE,
                            "%d:%d: COPY FROM stdin data is not terminated by a line \\.",
                            (int)line, (int)col);
    case DM_SQL_LEX_UNTERMINATED_BLOCK:
        return dm_error_set(err, DBMGMT_ERR_PARSE, "%d:%d: %s without matching END", (int)line,
                            (int)col, e->detail ? e->detail : "BEGIN");
    case DM_SQL_LEX_BAD_DELIMITER:
        return dm_error_set(err, DBMGMT_ERR_PARSE, "%d:%d: %s", (int)line, (int)col,
                            e->detail ? e->detail : "bad DELIMITER");
    case DM_SQL_LEX_OK:
        break;
    }
    return dm_error_set(err, DBMGMT_ERR_INTERNAL, "%d:%d: lexer error", (int)line, (int)col);
}

/* --- keywords --------------------------------------------------------------- */

/* Reserved or structural words common to the three dialects; sorted. A bare
 * word not listed here is an identifier. */
static const char *const keywords[] = {
    "ADD", "AFTER", "ALL", "ALTER", "ALWAYS", "AND", "ANY", "AS", "ASC", "ATOMIC",
    "AUTOINCREMENT", "AUTO_INCREMENT", "BEFORE", "BEGIN", "BETWEEN", "BY", "CALL", "CASCADE",
    "CASE", "CAST", "CHECK", "COLLATE", "COLUMN", "COMMIT", "CONCURRENTLY", "CONFLICT",
    "CONSTRAINT", "COPY", "CREATE", "CROSS", "CURRENT_DATE", "CURRENT_TIME",
    "CURRENT_TIMESTAMP", "DATABASE", "DECLARE", "DEFAULT", "DEFERRABLE", "DEFINER", "DELETE",
    "DELIMITER", "DESC", "DISTINCT", "DO", "DROP", "EACH", "ELSE", "ELSEIF", "END", "ESCAPE",
    "EVENT", "EXCEPT", "EXISTS", "EXPLAIN", "FALSE", "FETCH", "FOR", "FOREIGN", "FROM",
    "FULL", "FUNCTION", "GENERATED", "GRANT", "GROUP", "HAVING", "IF", "IGNORE", "IN",
    "INDEX", "INNER", "INSERT", "INSTEAD", "INTERSECT", "INTO", "IS", "ISNULL", "JOIN", "KEY",
    "LANGUAGE", "LEAVE", "LEFT", "LIKE", "LIMIT", "LOCK", "LOOP", "MODIFY", "NATURAL", "NOT",
    "NOTNULL", "NULL", "OF", "OFFSET", "ON", "OR", "ORDER", "OUTER", "OVER", "PARTITION",
    "PRIMARY", "PROCEDURE", "REFERENCES", "RENAME", "REPEAT", "REPLACE", "RESTRICT", "RETURN",
    "RETURNING", "RETURNS", "REVOKE", "RIGHT", "ROLLBACK", "ROW", "SAVEPOINT", "SCHEMA",
    "SELECT", "SEQUENCE", "SET", "SIGNAL", "START", "TABLE", "TEMP", "TEMPORARY", "THEN", "TO",
    "TRANSACTION", "TRIGGER", "TRUE", "TRUNCATE", "TYPE", "UNION", "UNIQUE", "UNTIL", "UPDATE",
    "USING", "VACUUM", "VALID", "VALUES", "VIEW", "WHEN", "WHERE", "WHILE", "WINDOW", "WITH",
    "WITHOUT",
};

static int keyword_compare(const void *key, const void *elem)
{
    return strcmp((const char *)key, *(const char *const *)elem);
}

static int is_keyword(const char *word, size_t len)
{
    char upper[32];
    if (len >= sizeof upper)
        return 0;
    for (size_t i = 0; i < len; i++)
        upper[i] = (char)ascii_upper((unsigned char)word[i]);
    upper[len] = '\0';
    return bsearch(upper, keywords, sizeof keywords / sizeof keywords[0], sizeof keywords[0],
                   keyword_compare) != NULL;
}

int dm_sql_token_is_word(const char *src, const dm_sql_token *tok, const char *word)
{
    if ((tok->kind != DM_SQL_TOK_KEYWORD && tok->kind != DM_SQL_TOK_IDENT) ||
        (tok->flags & DM_SQL_TOKF_QUOTED))
        return 0;
    size_t wl = strlen(word);
    if (wl != tok->len)
        return 0;
    for (size_t i = 0; i < wl; i++)
        if (ascii_upper((unsigned char)src[tok->offset + i]) != (unsigned char)word[i])
            return 0;
    return 1;
}

/* --- the lexer -------------------------------------------------------------- */

void dm_sql_lexer_init(dm_sql_lexer *lx, dbmgmt_engine dialect, const char *src, size_t len,
                       size_t pos)
{
    memset(lx, 0, sizeof *lx);
    lx->dialect = dialect;
    lx->src = src;
    lx->len = len;
    lx->pos = pos;
    lx->content_end = pos;
}

static int lex_fail(dm_sql_lexer *lx, dm_sql_lex_error_kind kind, size_t offset, size_t detail_len)
{
    lx->error.kind = kind;
    lx->error.offset = offset;
    lx->error.detail_len = detail_len;
    return DBMGMT_ERR_PARSE;
}

static void tok_set(dm_sql_token *tok, dm_sql_token_kind kind, size_t off, size_t end,
                    size_t voff, size_t vend)
{
    tok->kind = kind;
    tok->offset = off;
    tok->len = end - off;
    tok->value_offset = voff;
    tok->value_len = vend - voff;
}

/* Skips whitespace and comments; enters and leaves MySQL executable
 * comments. Returns DBMGMT_OK or DBMGMT_ERR_PARSE. */
static int lex_skip_trivia(dm_sql_lexer *lx)
{
    const char *s = lx->src;
    size_t n = lx->len, i = lx->pos;
    int mysql = lx->dialect == DBMGMT_ENGINE_MYSQL;
    while (i < n) {
        unsigned char c = (unsigned char)s[i];
        if (dm_sql_is_space(c)) {
            i++;
        } else if (c == '-' && dm_sql_is_dash_comment(lx->dialect, s, n, i)) {
            i = dm_sql_skip_line_comment(s, n, i);
        } else if (c == '#' && mysql) {
            i = dm_sql_skip_line_comment(s, n, i);
        } else if (c == '/' && i + 1 < n && s[i + 1] == '*') {
            size_t exec = mysql && !lx->in_exec_comment ? dm_sql_exec_comment_len(s, n, i) : 0;
            if (exec) {
                lx->in_exec_comment = 1;
                lx->exec_comment_offset = i;
                i += exec;
                lx->content_end = i;
                continue;
            }
            size_t end = dm_sql_skip_block_comment(s, n, i, lx->dialect == DBMGMT_ENGINE_POSTGRES);
            if (end == DM_SQL_UNTERMINATED)
                return lex_fail(lx, DM_SQL_LEX_UNTERMINATED_COMMENT, i, 0);
            i = end;
        } else if (c == '*' && lx->in_exec_comment && i + 1 < n && s[i + 1] == '/') {
            lx->in_exec_comment = 0;
            i += 2;
            lx->content_end = i;
        } else {
            break;
        }
    }
    lx->pos = i;
    if (i >= n && lx->in_exec_comment)
        return lex_fail(lx, DM_SQL_LEX_UNTERMINATED_COMMENT, lx->exec_comment_offset, 0);
    return DBMGMT_OK;
}

/* A quoted string or identifier whose opening quote is at q (prefix from off). */
static int lex_quoted(dm_sql_lexer *lx, dm_sql_token *tok, size_t off, size_t q,
                      dm_sql_token_kind kind, int backslash)
{
    const char *s = lx->src;
    char quote = s[q];
    size_t end = dm_sql_skip_quoted(s, lx->len, q, quote, backslash);
    if (end == DM_SQL_UNTERMINATED)
        return lex_fail(lx,
                        quote == '`' || (quote == '"' && lx->dialect != DBMGMT_ENGINE_MYSQL)
                            ? DM_SQL_LEX_UNTERMINATED_IDENT
                            : DM_SQL_LEX_UNTERMINATED_STRING,
                        q, 0);
    tok_set(tok, kind, off, end, q + 1, end - 1);
    tok->flags |= DM_SQL_TOKF_QUOTED;
    if (backslash)
        tok->flags |= DM_SQL_TOKF_BACKSLASH;
    for (size_t i = q + 1; i + 1 < end; i++) {
        if (s[i] == quote || (backslash && s[i] == '\\')) {
            tok->flags |= DM_SQL_TOKF_ESCAPES;
            break;
        }
    }
    lx->pos = end;
    return 1;
}

/* 1 if a comment starts (or a MySQL executable comment ends) at one of the
 * bytes s[i+1 .. i+len): an operator never swallows those ("#--x" is '#'
 * then a comment). */
static int comment_inside(dbmgmt_engine d, const char *s, size_t n, size_t i, size_t len)
{
    for (size_t k = i + 1; k < i + len; k++) {
        if ((s[k] == '-' && dm_sql_is_dash_comment(d, s, n, k)) ||
            (s[k] == '/' && k + 1 < n && s[k + 1] == '*') ||
            (d == DBMGMT_ENGINE_MYSQL &&
             (s[k] == '#' || (s[k] == '*' && k + 1 < n && s[k + 1] == '/'))))
            return 1;
    }
    return 0;
}

/* Longest operator at i from a list common to the dialects; else one byte. */
static size_t operator_len(dbmgmt_engine d, const char *s, size_t n, size_t i)
{
    static const struct {
        char text[4];
        size_t len;
    } ops[] = {
        {"->>", 3}, {"#>>", 3}, {"<=>", 3}, {"<->", 3}, {"!~*", 3}, {"~~*", 3}, {"<<=", 3},
        {">>=", 3}, {"<=", 2},  {">=", 2},  {"<>", 2},  {"!=", 2},  {"==", 2},  {"||", 2},
        {"::", 2},  {":=", 2},  {"->", 2},  {"<<", 2},  {">>", 2},  {"&&", 2},  {"#>", 2},
        {"@>", 2},  {"<@", 2},  {"@@", 2},  {"!~", 2},  {"~*", 2},  {"~~", 2},  {"#-", 2},
        {"&<", 2},  {"&>", 2},  {"|/", 2},  {"!!", 2},
    };
    for (size_t k = 0; k < sizeof ops / sizeof ops[0]; k++) {
        size_t l = ops[k].len;
        if (n - i >= l && s[i] == ops[k].text[0] && memcmp(s + i, ops[k].text, l) == 0 &&
            !comment_inside(d, s, n, i, l))
            return l;
    }
    return 1;
}

/* Number: digits, '.', exponent sign, and trailing identifier bytes (a '$'
 * only right after an identifier byte, the same rule the splitter uses). */
static size_t number_end(const char *s, size_t n, size_t i)
{
    while (i < n) {
        unsigned char c = (unsigned char)s[i];
        if (dm_sql_is_ident_start(c) || is_digit(c) || c == '.') {
            i++;
            if ((c == 'e' || c == 'E') && i + 1 < n && (s[i] == '+' || s[i] == '-') &&
                is_digit((unsigned char)s[i + 1]))
                i++;
        } else if (c == '$' && dm_sql_is_ident_char((unsigned char)s[i - 1]) && s[i - 1] != '.') {
            i++;
        } else {
            break;
        }
    }
    return i;
}

static size_t word_end(const char *s, size_t n, size_t i)
{
    while (i < n && dm_sql_is_ident_char((unsigned char)s[i]))
        i++;
    return i;
}

static int lex_word(dm_sql_lexer *lx, dm_sql_token *tok, size_t i)
{
    size_t end = word_end(lx->src, lx->len, i + 1);
    int keyword = !lx->plain_words && is_keyword(lx->src + i, end - i);
    tok_set(tok, keyword ? DM_SQL_TOK_KEYWORD : DM_SQL_TOK_IDENT, i, end, i, end);
    lx->pos = end;
    return 1;
}

/* A letter that may prefix a quote: E'..', N'..', X'..', B'..', U&'..'. */
static int lex_prefixed_quote(dm_sql_lexer *lx, dm_sql_token *tok, size_t i, int *matched)
{
    const char *s = lx->src;
    size_t n = lx->len;
    unsigned char c = ascii_upper((unsigned char)s[i]);
    int pg = lx->dialect == DBMGMT_ENGINE_POSTGRES, mysql = lx->dialect == DBMGMT_ENGINE_MYSQL;
    *matched = 1;
    if (i + 1 < n && s[i + 1] == '\'') {
        if (c == 'X' || c == 'B') {
            if (c == 'B' && lx->dialect == DBMGMT_ENGINE_SQLITE)
                goto plain;
            int r = lex_quoted(lx, tok, i, i + 1, DM_SQL_TOK_BLOB, mysql);
            return r;
        }
        if (c == 'E' && pg)
            return lex_quoted(lx, tok, i, i + 1, DM_SQL_TOK_STRING, 1);
        if (c == 'N' && !(lx->dialect == DBMGMT_ENGINE_SQLITE))
            return lex_quoted(lx, tok, i, i + 1, DM_SQL_TOK_STRING, mysql);
    }
    if (c == 'U' && pg && n - i >= 3 && s[i + 1] == '&' && (s[i + 2] == '\'' || s[i + 2] == '"'))
        return lex_quoted(lx, tok, i, i + 2,
                          s[i + 2] == '"' ? DM_SQL_TOK_IDENT : DM_SQL_TOK_STRING, 0);
plain:
    *matched = 0;
    return 0;
}

static int lex_dollar(dm_sql_lexer *lx, dm_sql_token *tok, size_t i)
{
    const char *s = lx->src;
    size_t n = lx->len;
    if (lx->dialect == DBMGMT_ENGINE_POSTGRES) {
        size_t tag = dm_sql_dollar_tag_len(s, n, i);
        if (tag) {
            size_t end = dm_sql_skip_dollar(s, n, i, tag);
            if (end == DM_SQL_UNTERMINATED)
                return lex_fail(lx, DM_SQL_LEX_UNTERMINATED_DOLLAR, i, tag);
            tok_set(tok, DM_SQL_TOK_STRING, i, end, i + tag, end - tag);
            tok->flags |= DM_SQL_TOKF_QUOTED | DM_SQL_TOKF_DOLLAR;
            lx->pos = end;
            return 1;
        }
        size_t j = i + 1;
        while (j < n && is_digit((unsigned char)s[j]))
            j++;
        if (j > i + 1) {
            tok_set(tok, DM_SQL_TOK_PLACEHOLDER, i, j, i + 1, j);
            lx->pos = j;
            return 1;
        }
    } else {
        size_t j = word_end(s, n, i + 1);
        if (j > i + 1) {
            int sqlite = lx->dialect == DBMGMT_ENGINE_SQLITE;
            tok_set(tok, sqlite ? DM_SQL_TOK_PLACEHOLDER : DM_SQL_TOK_IDENT, i, j,
                    sqlite ? i + 1 : i, j);
            lx->pos = j;
            return 1;
        }
    }
    tok_set(tok, DM_SQL_TOK_OPERATOR, i, i + 1, i, i + 1);
    lx->pos = i + 1;
    return 1;
}

static int lex_question(dm_sql_lexer *lx, dm_sql_token *tok, size_t i)
{
    const char *s = lx->src;
    size_t n = lx->len, j = i + 1;
    if (lx->dialect == DBMGMT_ENGINE_POSTGRES && j < n &&
        (s[j] == '|' || s[j] == '&' || s[j] == '?')) {
        /* jsonb ?| ?& stay operators; ?? is the escape for the jsonb ? operator */
        tok_set(tok, DM_SQL_TOK_OPERATOR, i, j + 1, i, j + 1);
        lx->pos = j + 1;
        return 1;
    }
    if (lx->dialect == DBMGMT_ENGINE_SQLITE)
        while (j < n && is_digit((unsigned char)s[j]))
            j++;
    tok_set(tok, DM_SQL_TOK_PLACEHOLDER, i, j, i + 1, j);
    lx->pos = j;
    return 1;
}

/* SQLite :name @name; MySQL @name @@name @'name'. Returns 0 when the byte is
 * just an operator here. */
static int lex_sigil_name(dm_sql_lexer *lx, dm_sql_token *tok, size_t i)
{
    const char *s = lx->src;
    size_t n = lx->len, j = i + 1;
    if (lx->dialect == DBMGMT_ENGINE_SQLITE) {
        size_t end = word_end(s, n, j);
        if (end == j)
            return 0;
        tok_set(tok, DM_SQL_TOK_PLACEHOLDER, i, end, j, end);
        lx->pos = end;
        return 1;
    }
    if (lx->dialect != DBMGMT_ENGINE_MYSQL || s[i] != '@')
        return 0;
    if (j < n && s[j] == '@')
        j++;
    if (j < n && (s[j] == '\'' || s[j] == '"' || s[j] == '`')) {
        int r = lex_quoted(lx, tok, i, j, DM_SQL_TOK_VARIABLE, s[j] != '`');
        tok->flags &= ~DM_SQL_TOKF_QUOTED;
        return r;
    }
    size_t end = j;
    while (end < n && (dm_sql_is_ident_char((unsigned char)s[end]) || s[end] == '.'))
        end++;
    tok_set(tok, DM_SQL_TOK_VARIABLE, i, end, j, end);
    lx->pos = end;
    return 1;
}

static int lex_token(dm_sql_lexer *lx, dm_sql_token *tok, size_t i)
{
    const char *s = lx->src;
    size_t n = lx->len;
    unsigned char c = (unsigned char)s[i];
    dbmgmt_engine d = lx->dialect;
    int matched;
    switch (c) {
    case ';':
        tok_set(tok, DM_SQL_TOK_SEMICOLON, i, i + 1, i, i + 1);
        lx->pos = i + 1;
        return 1;
    case '\'':
        return lex_quoted(lx, tok, i, i, DM_SQL_TOK_STRING, d == DBMGMT_ENGINE_MYSQL);
    case '"':
        if (d == DBMGMT_ENGINE_MYSQL)
            return lex_quoted(lx, tok, i, i, DM_SQL_TOK_STRING, 1);
        return lex_quoted(lx, tok, i, i, DM_SQL_TOK_IDENT, 0);
    case '`':
        if (d != DBMGMT_ENGINE_POSTGRES)
            return lex_quoted(lx, tok, i, i, DM_SQL_TOK_IDENT, 0);
        break;
    case '[':
        if (d == DBMGMT_ENGINE_SQLITE) {
            size_t end = dm_sql_skip_bracket(s, n, i);
            if (end == DM_SQL_UNTERMINATED)
                return lex_fail(lx, DM_SQL_LEX_UNTERMINATED_IDENT, i, 0);
            tok_set(tok, DM_SQL_TOK_IDENT, i, end, i + 1, end - 1);
            tok->flags |= DM_SQL_TOKF_QUOTED;
            lx->pos = end;
            return 1;
        }
        break;
    case '$':
        return lex_dollar(lx, tok, i);
    case '?':
        return lex_question(lx, tok, i);
    case ':':
    case '@': {
        int r = lex_sigil_name(lx, tok, i);
        if (r != 0)
            return r;
        break;
    }
    case '.':
        if (i + 1 < n && is_digit((unsigned char)s[i + 1]))
            goto number;
        break;
    default:
        if (is_digit(c))
            goto number;
        if (dm_sql_is_ident_start(c)) {
            int r = lex_prefixed_quote(lx, tok, i, &matched);
            return matched ? r : lex_word(lx, tok, i);
        }
        break;
    }
    size_t ol = operator_len(d, s, n, i);
    tok_set(tok, DM_SQL_TOK_OPERATOR, i, i + ol, i, i + ol);
    lx->pos = i + ol;
    return 1;
number : {
    size_t end = number_end(s, n, i);
    tok_set(tok, DM_SQL_TOK_NUMBER, i, end, i, end);
    lx->pos = end;
    return 1;
}
}

int dm_sql_lexer_next(dm_sql_lexer *lx, dm_sql_token *tok)
{
    memset(tok, 0, sizeof *tok);
    int rc = lex_skip_trivia(lx);
    if (rc != DBMGMT_OK)
        return rc;
    if (lx->pos >= lx->len) {
        tok->kind = DM_SQL_TOK_EOF;
        tok->offset = lx->len;
        return 0;
    }
    lx->content_end_before = lx->content_end;
    rc = lex_token(lx, tok, lx->pos);
    if (rc == 1) {
        if (lx->in_exec_comment)
            tok->flags |= DM_SQL_TOKF_EXEC_COMMENT;
        lx->content_end = lx->pos;
    }
    return rc;
}

/* --- token values ----------------------------------------------------------- */

static char backslash_escape(char c)
{
    switch (c) {
    case '0': return '\0';
    case 'b': return '\b';
    case 'f': return '\f';
    case 'n': return '\n';
    case 'r': return '\r';
    case 't': return '\t';
    case 'Z': return '\032';
    default: return c;
    }
}

int dm_sql_token_value(const char *src, const dm_sql_token *tok, dm_buf *out)
{
    const char *v = src + tok->value_offset;
    size_t n = tok->value_len;
    if (!(tok->flags & DM_SQL_TOKF_ESCAPES)) {
        dm_buf_append(out, v, n);
        return dm_buf_failed(out) ? DBMGMT_ERR_NOMEM : DBMGMT_OK;
    }
    char quote = src[tok->value_offset - 1];
    int backslash = (tok->flags & DM_SQL_TOKF_BACKSLASH) != 0;
    for (size_t i = 0; i < n; i++) {
        if (backslash && v[i] == '\\' && i + 1 < n) {
            i++;
            /* MySQL keeps the backslash of \% and \_ (they matter to LIKE) */
            if (v[i] == '%' || v[i] == '_')
                dm_buf_putc(out, '\\');
            dm_buf_putc(out, backslash_escape(v[i]));
        } else if (v[i] == quote && i + 1 < n && v[i + 1] == quote) {
            dm_buf_putc(out, quote);
            i++;
        } else {
            dm_buf_putc(out, v[i]);
        }
    }
    return dm_buf_failed(out) ? DBMGMT_ERR_NOMEM : DBMGMT_OK;
}
