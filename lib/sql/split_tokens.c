/*
 * Statement splitter: the statements the fast path (split.c) cannot take.
 *
 * A statement starting with CREATE, ALTER, COPY or BEGIN is classified from
 * its first words; routine and trigger bodies (which hold ';' inside BEGIN
 * ... END) and PostgreSQL COPY ... FROM stdin (whose data rows follow the
 * ';') are scanned token by token with the lexer, whose quoting rules the
 * fast path shares.
 */
#include <string.h>

#include "sql/split_impl.h"

/* --- words the token-by-token path cares about -------------------------------- */

typedef enum word_id {
    W_NONE, W_BEGIN, W_END, W_CASE, W_IF, W_LOOP, W_WHILE, W_REPEAT, W_THEN, W_ELSE, W_DO,
    W_ROW, W_ATOMIC, W_FROM, W_STDIN, W_CREATE, W_ALTER, W_COPY, W_TRIGGER, W_PROCEDURE,
    W_FUNCTION, W_EVENT, W_TABLE, W_VIEW, W_INDEX, W_AS, W_NOT
} word_id;

static const struct {
    const char *name;
    size_t len;
} words[] = {
    {"", 0}, {"BEGIN", 5}, {"END", 3}, {"CASE", 4}, {"IF", 2}, {"LOOP", 4}, {"WHILE", 5},
    {"REPEAT", 6}, {"THEN", 4}, {"ELSE", 4}, {"DO", 2}, {"ROW", 3}, {"ATOMIC", 6},
    {"FROM", 4}, {"STDIN", 5}, {"CREATE", 6}, {"ALTER", 5}, {"COPY", 4}, {"TRIGGER", 7},
    {"PROCEDURE", 9}, {"FUNCTION", 8}, {"EVENT", 5}, {"TABLE", 5}, {"VIEW", 4},
    {"INDEX", 5}, {"AS", 2}, {"NOT", 3},
};

/* The words above by first letter (W_NONE ends a list). */
static const unsigned char words_by_letter[26][4] = {
    ['A' - 'A'] = {W_ALTER, W_ATOMIC, W_AS}, ['B' - 'A'] = {W_BEGIN},
    ['C' - 'A'] = {W_CASE, W_CREATE, W_COPY}, ['D' - 'A'] = {W_DO},
    ['E' - 'A'] = {W_END, W_ELSE, W_EVENT}, ['F' - 'A'] = {W_FROM, W_FUNCTION},
    ['I' - 'A'] = {W_IF, W_INDEX}, ['L' - 'A'] = {W_LOOP}, ['N' - 'A'] = {W_NOT},
    ['P' - 'A'] = {W_PROCEDURE}, ['R' - 'A'] = {W_REPEAT, W_ROW}, ['S' - 'A'] = {W_STDIN},
    ['T' - 'A'] = {W_THEN, W_TRIGGER, W_TABLE}, ['V' - 'A'] = {W_VIEW},
    ['W' - 'A'] = {W_WHILE},
};

/* The upper-case word name equals p[0 .. n) in any case: clearing bit 5
 * upper-cases an ASCII letter and maps no other byte onto one. */
static int same_letters(const char *name, const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((p[i] & 0xDFu) != (unsigned char)name[i])
            return 0;
    return 1;
}

/* Which of the words above the token is (token_word() runs once for every
 * token of a routine body, so it looks only at the words that start with
 * the token's first letter and have its length). */
static word_id token_word(const char *s, const dm_sql_token *tok)
{
    if ((tok->kind != DM_SQL_TOK_KEYWORD && tok->kind != DM_SQL_TOK_IDENT) || tok->len > 9 ||
        tok->len < 2 || (tok->flags & DM_SQL_TOKF_QUOTED))
        return W_NONE;
    const unsigned char *p = (const unsigned char *)s + tok->offset;
    unsigned letter = (p[0] & 0xDFu) - 'A';
    if (letter >= 26)
        return W_NONE;
    for (const unsigned char *w = words_by_letter[letter]; *w != W_NONE; w++)
        if (words[*w].len == tok->len && same_letters(words[*w].name, p, tok->len))
            return (word_id)*w;
    return W_NONE;
}

int dm_split_holds_block_word(const dm_splitter *sp, size_t start, size_t end)
{
    const unsigned char *p = (const unsigned char *)sp->s;
    for (size_t i = start; i < end; i++) {
        unsigned c = p[i] & 0xDFu;
        if ((c == 'C' && end - i >= 4 && same_letters(words[W_CASE].name, p + i, 4)) ||
            (c == 'A' && end - i >= 6 && same_letters(words[W_ATOMIC].name, p + i, 6)))
            return 1;
    }
    return 0;
}

static int token_is_op(const char *s, const dm_sql_token *tok, char c)
{
    return tok->kind == DM_SQL_TOK_OPERATOR && tok->len == 1 && s[tok->offset] == c;
}

/* --- classifying a statement by its first words ------------------------------- */

static int is_routine_word(dbmgmt_engine d, word_id w)
{
    switch (d) {
    case DBMGMT_ENGINE_SQLITE: return w == W_TRIGGER;
    case DBMGMT_ENGINE_POSTGRES: return w == W_FUNCTION || w == W_PROCEDURE;
    default: return w == W_TRIGGER || w == W_PROCEDURE || w == W_FUNCTION || w == W_EVENT;
    }
}

/* CREATE [OR REPLACE] [TEMP] [DEFINER=...] TRIGGER|FUNCTION|... : body mode. */
static dm_scan_mode classify_create(const dm_splitter *sp, dm_sql_lexer *lx)
{
    dm_sql_token tok;
    for (int k = 0; k < 24 && dm_sql_lexer_next(lx, &tok) == 1; k++) {
        word_id w = token_word(sp->s, &tok);
        if (is_routine_word(sp->dialect, w))
            return DM_SCAN_BODY;
        if (w == W_TABLE || w == W_VIEW || w == W_INDEX || w == W_AS || w == W_TRIGGER ||
            tok.kind == DM_SQL_TOK_SEMICOLON || token_is_op(sp->s, &tok, '('))
            break;
    }
    return DM_SCAN_FAST;
}

/* Only statements starting with CREATE, COPY, ALTER or BEGIN (or, in MySQL,
 * an executable comment) can need more than the fast path. */
static int may_need_tokens(const dm_splitter *sp, unsigned char first)
{
    switch (first | 0x20) { /* ASCII lower case */
    case 'c':
        return 1;
    case 'a': case 'b':
        return sp->dialect == DBMGMT_ENGINE_MYSQL;
    default:
        return first == '/' && sp->dialect == DBMGMT_ENGINE_MYSQL;
    }
}

dm_scan_mode dm_split_classify(const dm_splitter *sp, size_t start)
{
    dm_sql_lexer lx;
    dm_sql_token tok;
    if (!may_need_tokens(sp, (unsigned char)sp->s[start]))
        return DM_SCAN_FAST;
    dm_sql_lexer_init(&lx, sp->dialect, sp->s, sp->n, start);
    lx.plain_words = 1;
    if (dm_sql_lexer_next(&lx, &tok) != 1)
        return DM_SCAN_FAST;
    word_id first = token_word(sp->s, &tok);
    if (first == W_CREATE || (first == W_ALTER && sp->dialect == DBMGMT_ENGINE_MYSQL))
        return classify_create(sp, &lx);
    if (first == W_COPY && sp->dialect == DBMGMT_ENGINE_POSTGRES)
        return DM_SCAN_COPY;
    if (first == W_BEGIN && sp->dialect == DBMGMT_ENGINE_MYSQL) {
        /* MariaDB anonymous block: BEGIN NOT ATOMIC ... END */
        if (dm_sql_lexer_next(&lx, &tok) == 1 && token_word(sp->s, &tok) == W_NOT &&
            dm_sql_lexer_next(&lx, &tok) == 1 && token_word(sp->s, &tok) == W_ATOMIC)
            return DM_SCAN_BODY;
    }
    return DM_SCAN_FAST;
}

/* --- BEGIN ... END tracking ------------------------------------------------------ */

#define BLOCK_STACK 64

typedef struct block_tracker {
    dbmgmt_engine dialect;
    size_t depth;
    unsigned char stack[BLOCK_STACK]; /* word_id of each open block */
    size_t outer_offset;              /* where the outermost open block opened */
    word_id outer_word;
    word_id prev_word;
    size_t prev_offset;
    int prev_semicolon, prev_colon, prev_dot;
    int pending_end; /* MySQL: END seen, waiting to know if END IF/LOOP/... */
} block_tracker;

static void block_push(block_tracker *bt, word_id w, size_t offset)
{
    if (bt->depth == 0) {
        bt->outer_offset = offset;
        bt->outer_word = w;
    }
    if (bt->depth < BLOCK_STACK)
        bt->stack[bt->depth] = (unsigned char)w;
    bt->depth++;
}

static word_id block_top(const block_tracker *bt)
{
    if (bt->depth == 0)
        return W_NONE;
    return bt->depth <= BLOCK_STACK ? (word_id)bt->stack[bt->depth - 1] : W_BEGIN;
}

static void block_pop(block_tracker *bt)
{
    if (bt->depth > 0)
        bt->depth--;
}

/* MySQL: IF/LOOP/WHILE/REPEAT open a block only where a statement starts
 * (after ';', BEGIN, THEN, ELSE, DO, FOR EACH ROW, LOOP, REPEAT or a label),
 * so the IF() function and IF [NOT] EXISTS are not mistaken for blocks. */
static int mysql_at_statement_start(const block_tracker *bt)
{
    switch (bt->prev_word) {
    case W_BEGIN: case W_THEN: case W_ELSE: case W_DO: case W_ROW: case W_LOOP: case W_REPEAT:
        return 1;
    default:
        return bt->prev_semicolon || bt->prev_colon;
    }
}

/* Returns 1 when the token was consumed as the second word of END IF etc. */
static int mysql_resolve_end(block_tracker *bt, word_id w)
{
    bt->pending_end = 0;
    if (w == W_IF || w == W_LOOP || w == W_WHILE || w == W_REPEAT || w == W_CASE) {
        if (block_top(bt) == w)
            block_pop(bt);
        return 1;
    }
    block_pop(bt);
    return 0;
}

static void mysql_track(block_tracker *bt, word_id w, size_t offset)
{
    switch (w) {
    case W_BEGIN: case W_CASE:
        block_push(bt, w, offset);
        break;
    case W_IF: case W_LOOP: case W_WHILE: case W_REPEAT:
        if (mysql_at_statement_start(bt))
            block_push(bt, w, offset);
        break;
    case W_END:
        bt->pending_end = 1;
        break;
    default:
        break;
    }
}

/* w: token_word() of tok */
static void block_feed(block_tracker *bt, const char *s, const dm_sql_token *tok, word_id w)
{
    if (bt->prev_dot) /* t.end, a column named end */
        w = W_NONE;
    int consumed = 0;
    if (bt->pending_end)
        consumed = mysql_resolve_end(bt, w);
    if (!consumed) {
        if (bt->dialect == DBMGMT_ENGINE_MYSQL) {
            mysql_track(bt, w, tok->offset);
        } else if (w == W_CASE || (bt->dialect == DBMGMT_ENGINE_SQLITE && w == W_BEGIN)) {
            block_push(bt, w, tok->offset);
        } else if (w == W_ATOMIC && bt->prev_word == W_BEGIN) { /* PostgreSQL BEGIN ATOMIC */
            block_push(bt, W_BEGIN, bt->prev_offset);
        } else if (w == W_END) {
            block_pop(bt);
        }
    }
    bt->prev_word = consumed ? W_END : w;
    bt->prev_offset = tok->offset;
    bt->prev_semicolon = tok->kind == DM_SQL_TOK_SEMICOLON;
    bt->prev_colon = token_is_op(s, tok, ':');
    bt->prev_dot = token_is_op(s, tok, '.');
}

static const char *block_word_name(word_id w)
{
    switch (w) {
    case W_CASE: return "CASE";
    case W_IF: return "IF";
    case W_LOOP: return "LOOP";
    case W_WHILE: return "WHILE";
    case W_REPEAT: return "REPEAT";
    default: return "BEGIN";
    }
}

/* --- COPY ... FROM stdin data ---------------------------------------------------- */

/* 1 if a line starting at i is exactly "\." (with LF, CRLF or the end after it). */
static int is_copy_end_line(const char *s, size_t n, size_t i)
{
    if (n - i < 2 || s[i] != '\\' || s[i + 1] != '.')
        return 0;
    i += 2;
    if (i < n && s[i] == '\r')
        i++;
    return i == n || s[i] == '\n';
}

/* The data follows the line of the COPY's ';' and ends with a line "\.". */
static int scan_copy_data(dm_splitter *sp, size_t start, size_t semicolon, dm_stmt_bounds *b)
{
    const char *s = sp->s;
    size_t n = sp->n;
    const char *nl = memchr(s + semicolon, '\n', n - semicolon);
    size_t line = nl ? (size_t)(nl - s) + 1 : n;
    b->data_start = line;
    while (line < n) {
        if (is_copy_end_line(s, n, line)) {
            b->data_end = line;
            b->text_end = line + 2;
            b->next = line + 2;
            return DBMGMT_OK;
        }
        nl = memchr(s + line, '\n', n - line);
        if (!nl)
            break;
        line = (size_t)(nl - s) + 1;
    }
    return dm_split_fail(sp, DM_SQL_LEX_UNTERMINATED_COPY, start);
}

/* --- the token-by-token path ---------------------------------------------------- */

int dm_split_scan_tokens(dm_splitter *sp, size_t start, dm_scan_mode mode, dm_stmt_bounds *b)
{
    dm_sql_lexer lx;
    dm_sql_token tok;
    block_tracker bt;
    int rc, copy_stdin = 0;
    word_id prev = W_NONE;
    memset(&bt, 0, sizeof bt);
    bt.dialect = sp->dialect;
    dm_sql_lexer_init(&lx, sp->dialect, sp->s, sp->n, start);
    lx.plain_words = 1;
    while ((rc = dm_sql_lexer_next(&lx, &tok)) == 1) {
        word_id w = token_word(sp->s, &tok);
        if (mode == DM_SCAN_BODY)
            block_feed(&bt, sp->s, &tok, w);
        if (tok.kind == DM_SQL_TOK_SEMICOLON && !(tok.flags & DM_SQL_TOKF_EXEC_COMMENT) &&
            bt.depth == 0) {
            b->text_end = lx.content_end_before;
            b->next = tok.offset + 1;
            if (!copy_stdin)
                return DBMGMT_OK;
            b->command_end = b->text_end;
            return scan_copy_data(sp, start, tok.offset, b);
        }
        if (mode == DM_SCAN_COPY && prev == W_FROM && w == W_STDIN)
            copy_stdin = 1;
        prev = w;
    }
    if (rc < 0) {
        sp->error = lx.error;
        return rc;
    }
    if (bt.pending_end)
        mysql_resolve_end(&bt, W_NONE);
    if (bt.depth > 0) {
        dm_split_fail(sp, DM_SQL_LEX_UNTERMINATED_BLOCK, bt.outer_offset);
        sp->error.detail = block_word_name(bt.outer_word);
        return DBMGMT_ERR_PARSE;
    }
    b->text_end = lx.content_end;
    b->next = sp->n;
    return DBMGMT_OK;
}
