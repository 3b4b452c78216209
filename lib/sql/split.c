/*
 * Statement splitter.
 *
 * Most statements are scanned by a fast path that only stops at bytes that
 * can open a string, identifier or comment, or end the statement (a
 * 256-entry class table); words are never looked at. Statements that can
 * hold ';' inside BEGIN ... END bodies (triggers, routines) and PostgreSQL
 * COPY statements are recognised from their first words and scanned token by
 * token with the lexer instead. Both paths use the same quoting rules
 * (lexer.c), so they agree on where strings and comments end.
 */
#include "sql/split.h"

#include <string.h>
#if defined(__linux__)
#include <sys/mman.h>
#endif

#include "core/alloc.h"
#include "core/json.h"
#include "sql/bytescan.h"
#include "sql/lexer.h"

struct dbmgmt_statements {
    dm_sql_stmt *items;
    size_t count;
    char *texts; /* one copy of the input from the first statement's text to
                    the last one's, with a NUL written after each text */
};

typedef enum scan_mode {
    MODE_FAST,   /* ordinary statement */
    MODE_BODY,   /* may contain BEGIN ... END (or CASE ... END) holding ';' */
    MODE_COPY    /* PostgreSQL COPY: may be followed by a data block */
} scan_mode;

typedef struct splitter {
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
    /* The 64-byte block the scan has reached: blocks are classified in
     * order, each once, so lines are counted with popcount as they pass. */
    size_t blk_base;          /* offset of the block, a multiple of 64 */
    dm_sql_block_masks blk;   /* its stop bytes and LFs */
    size_t lines_before;      /* LFs before blk_base */
    size_t line_start_before; /* offset after the last LF before blk_base */
    size_t col_line_start;    /* column cache: on the line starting here, */
    size_t col_pos;           /* the byte at col_pos */
    int32_t col_value;        /* is in this column */
} splitter;

/* Where one statement's text ends and scanning resumes. */
typedef struct stmt_bounds {
    size_t text_end;
    size_t next;
    size_t command_end; /* COPY: end of the command before its data */
    size_t data_start, data_end;
} stmt_bounds;

static int delimiter_is_default(const splitter *sp)
{
    return sp->delim_len == 1 && sp->delim[0] == ';';
}

/* --- 64-byte blocks ------------------------------------------------------------ */

/* Set bits in m; without -mpopcnt __builtin_popcountll is a library call. */
static size_t bit_count(uint64_t m)
{
    m -= (m >> 1) & 0x5555555555555555u;
    m = (m & 0x3333333333333333u) + ((m >> 2) & 0x3333333333333333u);
    m = (m + (m >> 4)) & 0x0f0f0f0f0f0f0f0fu;
    return (size_t)((m * 0x0101010101010101u) >> 56);
}

/* Classifies the block at sp->blk_base; the last one may be short. */
static void block_classify(splitter *sp)
{
    const unsigned char *u = (const unsigned char *)sp->s + sp->blk_base;
    size_t avail = sp->n - sp->blk_base;
    if (avail >= 64) {
        sp->scan(u, &sp->stops, &sp->blk);
        return;
    }
    unsigned char tail[64] = {0};
    uint64_t keep = ((uint64_t)1 << avail) - 1;
    memcpy(tail, u, avail);
    sp->scan(tail, &sp->stops, &sp->blk);
    sp->blk.stops &= keep;
    sp->blk.newlines &= keep;
    sp->blk.quotes &= keep;
    sp->blk.aux &= keep;
}

/* Moves to the block holding offset i (never backwards), counting the LFs
 * of the blocks it leaves. */
static void block_move_forward(splitter *sp, size_t base)
{
    while (sp->blk_base < base) {
        uint64_t nl = sp->blk.newlines;
        if (nl) {
            sp->lines_before += bit_count(nl);
            sp->line_start_before = sp->blk_base + 64 - (size_t)__builtin_clzll(nl);
        }
        sp->blk_base += 64;
        block_classify(sp);
    }
}

static inline void block_move_to(splitter *sp, size_t i)
{
    size_t base = i & ~(size_t)63;
    if (base != sp->blk_base)
        block_move_forward(sp, base);
}

/* The current block's stop (newlines = 0) or LF (newlines = 1) mask. */
static inline uint64_t block_mask(const splitter *sp, int newlines)
{
    return newlines ? sp->blk.newlines : sp->blk.stops;
}

/* The first byte at or after i whose bit is set in that mask, or sp->n. */
static size_t block_next(splitter *sp, size_t i, int newlines)
{
    if (i >= sp->n)
        return sp->n;
    block_move_to(sp, i);
    uint64_t m = block_mask(sp, newlines) & (~(uint64_t)0 << (i - sp->blk_base));
    while (!m) {
        if (sp->n - sp->blk_base <= 64)
            return sp->n;
        block_move_to(sp, sp->blk_base + 64);
        m = block_mask(sp, newlines);
    }
    return sp->blk_base + (size_t)__builtin_ctzll(m);
}

/* The same, inline for the common case: a bit further on in the current
 * block. */
static inline size_t block_next_fast(splitter *sp, size_t i, int newlines)
{
    size_t rel = i - sp->blk_base;
    if (rel < 64) {
        uint64_t m = block_mask(sp, newlines) >> rel;
        if (m)
            return i + (size_t)__builtin_ctzll(m);
    }
    return block_next(sp, i, newlines);
}

static inline size_t next_stop(splitter *sp, size_t i)
{
    return block_next_fast(sp, i, 0);
}

static inline size_t next_newline(splitter *sp, size_t i)
{
    return block_next_fast(sp, i, 1);
}

/* The bytes the fast path stops at: quotes, comment starts, the delimiter's
 * first byte and, in MySQL, backslash (so strings are skipped on the masks
 * too). Called again when a DELIMITER directive changes the delimiter. */
static void stop_set_build(splitter *sp)
{
    switch (sp->dialect) {
    case DBMGMT_ENGINE_SQLITE:
        dm_sql_byteset_init(&sp->stops, "'\"-/[`");
        break;
    case DBMGMT_ENGINE_POSTGRES:
        dm_sql_byteset_init(&sp->stops, "'\"-/$");
        break;
    default: /* MySQL; '*' ends an executable comment */
        dm_sql_byteset_init(&sp->stops, "'\"-/`#*\\");
        break;
    }
    dm_sql_byteset_add(&sp->stops, (unsigned char)sp->delim[0]);
    sp->stops.quote = '\'';
    if (sp->dialect == DBMGMT_ENGINE_POSTGRES)
        sp->stops.aux[0] = 'E', sp->stops.aux[1] = 'e';
    else if (sp->dialect == DBMGMT_ENGINE_MYSQL)
        sp->stops.aux[0] = sp->stops.aux[1] = '\\';
    /* a delimiter starting with a quote is looked for before strings */
    sp->bulk_strings = sp->delim[0] != '\'';
    block_classify(sp);
}

/* --- stepping over runs of '..' strings ------------------------------------------ */

/* Bit k set when an odd number of the bits 0 .. k of m are set. */
static uint64_t prefix_xor(uint64_t m)
{
    m ^= m << 1;
    m ^= m << 2;
    m ^= m << 4;
    m ^= m << 8;
    m ^= m << 16;
    m ^= m << 32;
    return m;
}

/* MySQL: the bytes that backslashes escape, taking them from the lowest
 * (each escapes the byte after it, a backslash too). Right only when every
 * backslash is inside a string, which the caller checks. */
static uint64_t escaped_by_backslashes(uint64_t backslashes)
{
    uint64_t escaped = 0;
    while (backslashes) {
        uint64_t lowest = backslashes & (~backslashes + 1);
        escaped |= lowest << 1;
        backslashes &= ~(lowest | lowest << 1);
    }
    return escaped;
}

/* The quote that opens the string that may run into the next block, given
 * the quotes that are not escaped (an odd number of them, or an even number
 * with bit 63 set: its closing quote may be the first half of a ''): the
 * last opening quote, or, when it directly follows the string before it (''
 * inside a string), that string's opening quote. */
static unsigned last_string_start(uint64_t quotes)
{
    if (!(prefix_xor(quotes) >> 63))
        quotes &= ~((uint64_t)1 << 63);
    unsigned open = 63 - (unsigned)__builtin_clzll(quotes);
    while (open > 0 && (quotes >> (open - 1) & 1)) {
        uint64_t before = quotes & ((((uint64_t)1) << (open - 1)) - 1);
        open = 63 - (unsigned)__builtin_clzll(before);
    }
    return open;
}

/* For the block, from bit rel on (outside any string): the bits of the bytes
 * outside '..' strings that need a look, plus the opening quote of a string
 * that runs into the next block; or 0 with *ok = 0 where bit arithmetic
 * could get strings wrong (MySQL: a backslash outside them; PostgreSQL: a
 * quote after E or e, maybe an E'..' string). */
static uint64_t stops_outside_strings(const splitter *sp, unsigned rel, int *ok)
{
    const dm_sql_block_masks *m = &sp->blk;
    uint64_t from = ~(uint64_t)0 << rel;
    uint64_t quotes = m->quotes & from, backslashes = 0;
    *ok = 1;
    if (sp->dialect == DBMGMT_ENGINE_MYSQL) {
        backslashes = m->aux & from;
        quotes &= ~escaped_by_backslashes(backslashes);
    }
    uint64_t inside = prefix_xor(quotes); /* an opening quote up to its closing one */
    if (sp->dialect == DBMGMT_ENGINE_POSTGRES) {
        const unsigned char *u = (const unsigned char *)sp->s;
        uint64_t after_e = m->aux << 1;
        if (sp->blk_base > 0 && (u[sp->blk_base - 1] | 0x20) == 'e')
            after_e |= 1;
        if (quotes & inside & after_e)
            *ok = 0;
    }
    if (backslashes & ~inside)
        *ok = 0;
    if (!*ok)
        return 0;
    uint64_t outside = m->stops & from & ~inside & ~quotes;
    if ((inside | quotes) >> 63) { /* a string may run on: stop at it and before */
        unsigned open = last_string_start(quotes);
        outside = (outside & ((((uint64_t)1) << open) - 1)) | ((uint64_t)1 << open);
    }
    return outside;
}

/* The next byte at or after i (outside any string) that the fast path must
 * look at: next_stop(), except that '..' strings opening and closing inside
 * a block are stepped over with bit arithmetic (prefix XOR of the quote
 * bits) instead of costing two stops and their branches each. */
static size_t next_event(splitter *sp, size_t i)
{
    if (!sp->bulk_strings)
        return next_stop(sp, i);
    while (i < sp->n) {
        block_move_to(sp, i);
        int ok;
        uint64_t m = stops_outside_strings(sp, (unsigned)(i - sp->blk_base), &ok);
        if (!ok)
            return next_stop(sp, i);
        if (m)
            return sp->blk_base + (size_t)__builtin_ctzll(m);
        i = sp->blk_base + 64;
    }
    return sp->n;
}

/* --- line and column --------------------------------------------------------- */

/* Line and column of off; offsets asked for never decrease, and are asked
 * for before the statement at off is scanned. */
static void splitter_locate(splitter *sp, size_t off, int32_t *line, int32_t *col)
{
    const unsigned char *u = (const unsigned char *)sp->s;
    block_move_to(sp, off);
    uint64_t below = sp->blk.newlines & (((uint64_t)1 << (off - sp->blk_base)) - 1);
    size_t line_start = below ? sp->blk_base + 64 - (size_t)__builtin_clzll(below)
                              : sp->line_start_before;
    if (line_start != sp->col_line_start || off < sp->col_pos) {
        sp->col_line_start = line_start;
        sp->col_pos = line_start;
        sp->col_value = 1;
    }
    for (size_t i = sp->col_pos; i < off; i++)
        sp->col_value += (u[i] & 0xC0) != 0x80;
    sp->col_pos = off;
    *line = (int32_t)(1 + sp->lines_before + bit_count(below));
    *col = sp->col_value;
}

/* --- output ------------------------------------------------------------------ */

/* Asks Linux for transparent huge pages for the whole 2 MB pages inside a
 * large block that is about to be filled: writing 50 MB through 4 KB page
 * faults takes longer than scanning it (docs/sql-splitting.md has figures).
 * Only advice: the contents do not change, and a kernel that says no (or
 * another system) just keeps 4 KB pages. */
static void advise_huge_pages(void *p, size_t len)
{
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    const uintptr_t huge = (uintptr_t)2 << 20;
    uintptr_t from = ((uintptr_t)p + huge - 1) & ~(huge - 1);
    uintptr_t to = ((uintptr_t)p + len) & ~(huge - 1);
    if (len >= 4 * huge && to > from)
        (void)madvise((void *)from, to - from, MADV_HUGEPAGE);
#else
    (void)p;
    (void)len;
#endif
}

static int splitter_push(splitter *sp, size_t start, int32_t line, int32_t column,
                         const stmt_bounds *b, dm_error *err)
{
    if (sp->count == sp->cap) {
        size_t cap = sp->cap ? sp->cap * 2 : 16;
        dm_sql_stmt *items =
            cap < SIZE_MAX / sizeof *items ? dm_realloc(sp->items, cap * sizeof *items) : NULL;
        if (!items)
            return dm_error_set(err, DBMGMT_ERR_NOMEM, "out of memory splitting SQL");
        advise_huge_pages(items, cap * sizeof *items);
        sp->items = items;
        sp->cap = cap;
    }
    dm_sql_stmt *st = &sp->items[sp->count++];
    memset(st, 0, sizeof *st);
    st->offset = start;
    st->len = b->text_end - start;
    st->command_len = (b->command_end ? b->command_end : b->text_end) - start;
    if (b->data_end) {
        st->data_offset = b->data_start - start;
        st->data_len = b->data_end - b->data_start;
    }
    memcpy(st->delimiter, sp->delim, sp->delim_len + 1);
    st->line = line;
    st->column = column;
    return DBMGMT_OK;
}

/* --- gaps between statements ------------------------------------------------- */

static int is_bom(const char *s, size_t n, size_t i)
{
    return n - i >= 3 && (unsigned char)s[i] == 0xEF && (unsigned char)s[i + 1] == 0xBB &&
           (unsigned char)s[i + 2] == 0xBF;
}

/* Skips whitespace, comments and byte-order marks; returns the first byte of
 * the next statement (or n), or DM_SQL_UNTERMINATED with sp->error set. */
static size_t skip_gap(splitter *sp, size_t i)
{
    const char *s = sp->s;
    size_t n = sp->n;
    while (i < n) {
        unsigned char c = (unsigned char)s[i];
        if (dm_sql_is_space(c)) {
            i++;
        } else if (c == 0xEF && is_bom(s, n, i)) {
            i += 3;
        } else if ((c == '-' && dm_sql_is_dash_comment(sp->dialect, s, n, i)) ||
                   (c == '#' && sp->dialect == DBMGMT_ENGINE_MYSQL)) {
            i = dm_sql_skip_line_comment(s, n, i);
        } else if (c == '/' && i + 1 < n && s[i + 1] == '*' &&
                   !(sp->dialect == DBMGMT_ENGINE_MYSQL && dm_sql_exec_comment_len(s, n, i))) {
            size_t end =
                dm_sql_skip_block_comment(s, n, i, sp->dialect == DBMGMT_ENGINE_POSTGRES);
            if (end == DM_SQL_UNTERMINATED) {
                sp->error.kind = DM_SQL_LEX_UNTERMINATED_COMMENT;
                sp->error.offset = i;
                return DM_SQL_UNTERMINATED;
            }
            i = end;
        } else {
            break;
        }
    }
    return i;
}

/* --- the fast path ------------------------------------------------------------ */

/* Trailing-comment bookkeeping: the text ends at the last token, not at a
 * comment before the terminator. */
typedef struct comment_trail {
    size_t start;       /* the statement's first byte */
    size_t end;         /* end of the last comment skipped (SIZE_MAX: none) */
    size_t content_end; /* where the text before that comment ended */
} comment_trail;

static size_t trim_text_end(const char *s, const comment_trail *t, size_t end)
{
    /* a line comment's own trailing blanks must not be trimmed past its end */
    while (end > t->start && end != t->end && dm_sql_is_space((unsigned char)s[end - 1]))
        end--;
    return end == t->end ? t->content_end : end;
}

static void trail_comment(const char *s, comment_trail *t, size_t comment_start,
                          size_t comment_end)
{
    t->content_end = trim_text_end(s, t, comment_start);
    t->end = comment_end;
}

/* PostgreSQL E'..': the quote at q follows an E that starts a token (floor
 * is the end of the last token the fast path stepped over). */
static int pg_escape_string_at(const char *s, size_t floor, size_t q)
{
    if (q < floor + 1 || (s[q - 1] != 'E' && s[q - 1] != 'e'))
        return 0;
    return q - 1 == floor || !dm_sql_is_ident_char((unsigned char)s[q - 2]);
}

/* Records what is unterminated and where it opened; returns DM_SQL_UNTERMINATED
 * (for the functions that return an index). */
static size_t fail_at(splitter *sp, dm_sql_lex_error_kind kind, size_t offset, size_t detail_len)
{
    sp->error.kind = kind;
    sp->error.offset = offset;
    sp->error.detail_len = detail_len;
    return DM_SQL_UNTERMINATED;
}

/* The same, for the functions that return a status. */
static int parse_fail(splitter *sp, dm_sql_lex_error_kind kind, size_t offset)
{
    fail_at(sp, kind, offset, 0);
    return DBMGMT_ERR_PARSE;
}

/* The same as dm_sql_skip_quoted() on the block masks: quote (and, with
 * backslash, '\\') must be in the stop set. */
static size_t skip_quoted_on_masks(splitter *sp, size_t i, unsigned char quote, int backslash)
{
    const unsigned char *u = (const unsigned char *)sp->s;
    size_t n = sp->n;
    for (i = next_stop(sp, i + 1); i < n; i = next_stop(sp, i)) {
        if (u[i] == quote) {
            if (i + 1 < n && u[i + 1] == quote) {
                i += 2;
                continue;
            }
            return i + 1;
        }
        if (backslash && u[i] == '\\') {
            if (n - i < 2)
                break;
            i += 2;
            continue;
        }
        i++;
    }
    return DM_SQL_UNTERMINATED;
}

/* A quote, backtick or bracket at i: index after it, or DM_SQL_UNTERMINATED. */
static size_t fast_quoted(splitter *sp, size_t i, size_t floor)
{
    const char *s = sp->s;
    char c = s[i];
    int mysql = sp->dialect == DBMGMT_ENGINE_MYSQL;
    size_t end;
    int ident = 0;
    if (c == '\'') {
        int backslash = mysql || (sp->dialect == DBMGMT_ENGINE_POSTGRES &&
                                  pg_escape_string_at(s, floor, i));
        /* PostgreSQL E'..' (backslash is not in its stop set) is rare */
        end = backslash && !mysql ? dm_sql_skip_quoted(s, sp->n, i, c, 1)
                                  : skip_quoted_on_masks(sp, i, '\'', backslash);
    } else if (c == '"') {
        ident = !mysql;
        end = skip_quoted_on_masks(sp, i, '"', mysql);
    } else if (c == '`') {
        ident = 1;
        end = skip_quoted_on_masks(sp, i, '`', 0);
    } else {
        ident = 1;
        end = dm_sql_skip_bracket(s, sp->n, i);
    }
    if (end == DM_SQL_UNTERMINATED)
        return fail_at(sp,
                       ident ? DM_SQL_LEX_UNTERMINATED_IDENT : DM_SQL_LEX_UNTERMINATED_STRING,
                       i, 0);
    return end;
}

/* A '$' at i (PostgreSQL): index to continue from; *token says whether it
 * was a token (dollar quote, $N, lone $) rather than part of a word. */
static size_t fast_dollar(splitter *sp, size_t i, size_t floor, int *token)
{
    const char *s = sp->s;
    size_t n = sp->n;
    *token = 0;
    if (i > floor && dm_sql_is_ident_char((unsigned char)s[i - 1]))
        return i + 1; /* foo$bar: '$' continues a word */
    *token = 1;
    size_t tag = dm_sql_dollar_tag_len(s, n, i);
    if (tag) {
        size_t end = dm_sql_skip_dollar(s, n, i, tag);
        return end == DM_SQL_UNTERMINATED ? fail_at(sp, DM_SQL_LEX_UNTERMINATED_DOLLAR, i, tag)
                                          : end;
    }
    i++;
    while (i < n && s[i] >= '0' && s[i] <= '9')
        i++;
    return i;
}

/* Scans an ordinary statement starting at start. */
static int scan_fast(splitter *sp, size_t start, stmt_bounds *b)
{
    const char *s = sp->s;
    const unsigned char *u = (const unsigned char *)s;
    size_t n = sp->n, i = start, floor = start, exec_offset = 0;
    int mysql = sp->dialect == DBMGMT_ENGINE_MYSQL, in_exec = 0;
    int default_delim = delimiter_is_default(sp);
    comment_trail trail = {start, SIZE_MAX, start};
    for (;;) {
        i = next_event(sp, i);
        if (i >= n)
            break;
        unsigned char c = u[i];
        if (c == (unsigned char)sp->delim[0] && !in_exec && n - i >= sp->delim_len &&
            (default_delim || memcmp(s + i, sp->delim, sp->delim_len) == 0)) {
            b->text_end = trim_text_end(s, &trail, i);
            b->next = i + sp->delim_len;
            return DBMGMT_OK;
        }
        size_t end = i + 1;
        int token = 1;
        switch (c) {
        case '\'': case '"':
            end = fast_quoted(sp, i, floor);
            break;
        /* a MySQL DELIMITER may start with any byte: check the dialect */
        case '`':
            if (sp->dialect != DBMGMT_ENGINE_POSTGRES)
                end = fast_quoted(sp, i, floor);
            break;
        case '[':
            if (sp->dialect == DBMGMT_ENGINE_SQLITE)
                end = fast_quoted(sp, i, floor);
            break;
        case '$':
            if (sp->dialect == DBMGMT_ENGINE_POSTGRES)
                end = fast_dollar(sp, i, floor, &token);
            break;
        case '-': case '#':
            if (c == '#' || dm_sql_is_dash_comment(sp->dialect, s, n, i)) {
                end = next_newline(sp, i);
                trail_comment(s, &trail, i, end);
            }
            break;
        case '/':
            if (i + 1 < n && s[i + 1] == '*') {
                size_t exec = mysql && !in_exec ? dm_sql_exec_comment_len(s, n, i) : 0;
                if (exec) {
                    in_exec = 1;
                    exec_offset = i;
                    end = i + exec;
                    break;
                }
                end = dm_sql_skip_block_comment(s, n, i, sp->dialect == DBMGMT_ENGINE_POSTGRES);
                if (end == DM_SQL_UNTERMINATED)
                    return parse_fail(sp, DM_SQL_LEX_UNTERMINATED_COMMENT, i);
                trail_comment(s, &trail, i, end);
            }
            break;
        case '*':
            if (in_exec && i + 1 < n && s[i + 1] == '/') {
                in_exec = 0;
                end = i + 2;
            }
            break;
        default:
            break;
        }
        if (end == DM_SQL_UNTERMINATED)
            return DBMGMT_ERR_PARSE;
        i = end;
        if (token)
            floor = i;
    }
    if (in_exec)
        return parse_fail(sp, DM_SQL_LEX_UNTERMINATED_COMMENT, exec_offset);
    b->text_end = trim_text_end(s, &trail, n);
    b->next = n;
    return DBMGMT_OK;
}

/* --- words the token-by-token path cares about -------------------------------- */

typedef enum word_id {
    W_NONE, W_BEGIN, W_END, W_CASE, W_IF, W_LOOP, W_WHILE, W_REPEAT, W_THEN, W_ELSE, W_DO,
    W_ROW, W_ATOMIC, W_FROM, W_STDIN, W_CREATE, W_ALTER, W_COPY, W_TRIGGER, W_PROCEDURE,
    W_FUNCTION, W_EVENT, W_TABLE, W_VIEW, W_INDEX, W_AS, W_NOT
} word_id;

/* memcmp() == 0 for a few bytes, without a library call per candidate word
 * (token_word() runs for every token of a routine body). */
static int same_bytes(const char *a, const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (a[i] != b[i])
            return 0;
    return 1;
}

static word_id token_word(const char *s, const dm_sql_token *tok)
{
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
    char upper[9];
    if ((tok->kind != DM_SQL_TOK_KEYWORD && tok->kind != DM_SQL_TOK_IDENT) || tok->len > 9 ||
        tok->len < 2 || (tok->flags & DM_SQL_TOKF_QUOTED))
        return W_NONE;
    for (size_t i = 0; i < tok->len; i++) {
        char c = s[tok->offset + i];
        upper[i] = c >= 'a' && c <= 'z' ? (char)(c - 'a' + 'A') : c;
    }
    for (size_t k = 1; k < sizeof words / sizeof words[0]; k++)
        if (words[k].len == tok->len && words[k].name[0] == upper[0] &&
            same_bytes(words[k].name, upper, tok->len))
            return (word_id)k;
    return W_NONE;
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
static scan_mode classify_create(const splitter *sp, dm_sql_lexer *lx)
{
    dm_sql_token tok;
    for (int k = 0; k < 24 && dm_sql_lexer_next(lx, &tok) == 1; k++) {
        word_id w = token_word(sp->s, &tok);
        if (is_routine_word(sp->dialect, w))
            return MODE_BODY;
        if (w == W_TABLE || w == W_VIEW || w == W_INDEX || w == W_AS || w == W_TRIGGER ||
            tok.kind == DM_SQL_TOK_SEMICOLON || token_is_op(sp->s, &tok, '('))
            break;
    }
    return MODE_FAST;
}

/* Only statements starting with CREATE, COPY, ALTER or BEGIN (or, in MySQL,
 * an executable comment) can need more than the fast path. */
static int may_need_tokens(const splitter *sp, unsigned char first)
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

static scan_mode classify(const splitter *sp, size_t start)
{
    dm_sql_lexer lx;
    dm_sql_token tok;
    if (!may_need_tokens(sp, (unsigned char)sp->s[start]))
        return MODE_FAST;
    dm_sql_lexer_init(&lx, sp->dialect, sp->s, sp->n, start);
    lx.plain_words = 1;
    if (dm_sql_lexer_next(&lx, &tok) != 1)
        return MODE_FAST;
    word_id first = token_word(sp->s, &tok);
    if (first == W_CREATE || (first == W_ALTER && sp->dialect == DBMGMT_ENGINE_MYSQL))
        return classify_create(sp, &lx);
    if (first == W_COPY && sp->dialect == DBMGMT_ENGINE_POSTGRES)
        return MODE_COPY;
    if (first == W_BEGIN && sp->dialect == DBMGMT_ENGINE_MYSQL) {
        /* MariaDB anonymous block: BEGIN NOT ATOMIC ... END */
        if (dm_sql_lexer_next(&lx, &tok) == 1 && token_word(sp->s, &tok) == W_NOT &&
            dm_sql_lexer_next(&lx, &tok) == 1 && token_word(sp->s, &tok) == W_ATOMIC)
            return MODE_BODY;
    }
    return MODE_FAST;
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

static void block_feed(block_tracker *bt, const char *s, const dm_sql_token *tok)
{
    word_id w = bt->prev_dot ? W_NONE : token_word(s, tok);
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
static int scan_copy_data(splitter *sp, size_t start, size_t semicolon, stmt_bounds *b)
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
    return parse_fail(sp, DM_SQL_LEX_UNTERMINATED_COPY, start);
}

/* --- the token-by-token path ---------------------------------------------------- */

static int scan_tokens(splitter *sp, size_t start, scan_mode mode, stmt_bounds *b)
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
        if (mode == MODE_BODY)
            block_feed(&bt, sp->s, &tok);
        if (tok.kind == DM_SQL_TOK_SEMICOLON && !(tok.flags & DM_SQL_TOKF_EXEC_COMMENT) &&
            bt.depth == 0) {
            b->text_end = lx.content_end_before;
            b->next = tok.offset + 1;
            if (!copy_stdin)
                return DBMGMT_OK;
            b->command_end = b->text_end;
            return scan_copy_data(sp, start, tok.offset, b);
        }
        word_id w = token_word(sp->s, &tok);
        if (mode == MODE_COPY && prev == W_FROM && w == W_STDIN)
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
        parse_fail(sp, DM_SQL_LEX_UNTERMINATED_BLOCK, bt.outer_offset);
        sp->error.detail = block_word_name(bt.outer_word);
        return DBMGMT_ERR_PARSE;
    }
    b->text_end = lx.content_end;
    b->next = sp->n;
    return DBMGMT_OK;
}

/* --- MySQL DELIMITER directive ----------------------------------------------------- */

static int is_delimiter_directive(const splitter *sp, size_t i)
{
    static const char word[] = "DELIMITER";
    if (sp->dialect != DBMGMT_ENGINE_MYSQL || sp->n - i < 9)
        return 0;
    for (size_t k = 0; k < 9; k++) {
        char c = sp->s[i + k];
        if ((c >= 'a' && c <= 'z' ? (char)(c - 'a' + 'A') : c) != word[k])
            return 0;
    }
    /* a blank must follow: "DELIMITER;" or a bare DELIMITER at the very end
     * is an ordinary (if odd) statement */
    return i + 9 < sp->n && dm_sql_is_space((unsigned char)sp->s[i + 9]);
}

/* "DELIMITER xyz" up to the end of the line: sets the delimiter; returns the
 * index after the line, or DM_SQL_UNTERMINATED with sp->error set. */
static size_t apply_delimiter_directive(splitter *sp, size_t i)
{
    const char *s = sp->s;
    size_t n = sp->n, j = i + 9;
    while (j < n && (s[j] == ' ' || s[j] == '\t'))
        j++;
    size_t d = j;
    while (j < n && (unsigned char)s[j] > 0x20 && s[j] != 0x7f) /* no blanks or controls */
        j++;
    const char *problem = NULL;
    if (j == d)
        problem = "DELIMITER must be followed by a delimiter string";
    else if (j - d > DM_SQL_DELIMITER_MAX)
        problem = "DELIMITER string is longer than 15 bytes";
    else if (memchr(s + d, '\\', j - d))
        problem = "DELIMITER string cannot contain a backslash";
    if (problem) {
        fail_at(sp, DM_SQL_LEX_BAD_DELIMITER, i, 0);
        sp->error.detail = problem;
        return DM_SQL_UNTERMINATED;
    }
    memcpy(sp->delim, s + d, j - d);
    sp->delim[j - d] = '\0';
    sp->delim_len = j - d;
    stop_set_build(sp);
    const char *nl = memchr(s + j, '\n', n - j);
    return nl ? (size_t)(nl - s) + 1 : n;
}

/* --- driver ---------------------------------------------------------------------- */

static int split_statement(splitter *sp, size_t start, size_t *next, dm_error *err)
{
    stmt_bounds b;
    int32_t line, column;
    memset(&b, 0, sizeof b);
    splitter_locate(sp, start, &line, &column);
    scan_mode mode = delimiter_is_default(sp) ? classify(sp, start) : MODE_FAST;
    int rc = mode == MODE_FAST ? scan_fast(sp, start, &b) : scan_tokens(sp, start, mode, &b);
    if (rc != DBMGMT_OK)
        return dm_sql_error_set(err, sp->s, sp->n, &sp->error);
    *next = b.next;
    if (b.text_end <= start) /* only an empty executable comment, say */
        return DBMGMT_OK;
    return splitter_push(sp, start, line, column, &b, err);
}

static int split_all(splitter *sp, dm_error *err)
{
    size_t i = 0;
    for (;;) {
        i = skip_gap(sp, i);
        if (i == DM_SQL_UNTERMINATED)
            return dm_sql_error_set(err, sp->s, sp->n, &sp->error);
        if (i >= sp->n)
            return DBMGMT_OK;
        if (is_delimiter_directive(sp, i)) {
            i = apply_delimiter_directive(sp, i);
            if (i == DM_SQL_UNTERMINATED)
                return dm_sql_error_set(err, sp->s, sp->n, &sp->error);
            continue;
        }
        int rc = split_statement(sp, i, &i, err);
        if (rc != DBMGMT_OK)
            return rc;
    }
}

/* Copies the input once, from the first statement's text to the end of the
 * last one, and writes a NUL after each text: the byte after a text is its
 * delimiter, a blank or a comment, never part of the next statement's text
 * (which starts after that), and the last text gets one more byte. */
static int list_from_splitter(splitter *sp, dbmgmt_statements **out, dm_error *err)
{
    size_t first = 0, total = 0;
    if (sp->count) {
        const dm_sql_stmt *last = &sp->items[sp->count - 1];
        first = sp->items[0].offset;
        total = last->offset + last->len + 1 - first;
    }
    dbmgmt_statements *list = dm_calloc(1, sizeof *list);
    char *texts = total ? dm_malloc(total) : NULL;
    if (!list || (total && !texts)) {
        dm_free(list);
        dm_free(texts);
        return dm_error_set(err, DBMGMT_ERR_NOMEM, "out of memory splitting SQL");
    }
    if (total) {
        advise_huge_pages(texts, total);
        memcpy(texts, sp->s + first, total - 1);
    }
    for (size_t k = 0; k < sp->count; k++) {
        dm_sql_stmt *st = &sp->items[k];
        char *text = texts + (st->offset - first);
        text[st->len] = '\0';
        st->text = text;
    }
    list->items = sp->items;
    list->count = sp->count;
    list->texts = texts;
    sp->items = NULL;
    *out = list;
    return DBMGMT_OK;
}

int dm_sql_split(dbmgmt_engine dialect, const char *src, size_t len,
                 const char *initial_delimiter, dbmgmt_statements **out, dm_error *err)
{
    splitter sp;
    int rc;
    if (!out)
        return dm_error_invalid("dm_sql_split", "out is NULL");
    *out = NULL;
    if (!src && len)
        return dm_error_invalid("dm_sql_split", "sql is NULL");
    if (!dm_sql_dialect_valid(dialect))
        return dm_error_invalid("dm_sql_split", "unknown SQL dialect");
    if (initial_delimiter && (!*initial_delimiter ||
                              strlen(initial_delimiter) > DM_SQL_DELIMITER_MAX))
        return dm_error_invalid("dm_sql_split", "bad initial delimiter");
    memset(&sp, 0, sizeof sp);
    sp.dialect = dialect;
    sp.s = src ? src : "";
    sp.n = len;
    strcpy(sp.delim, initial_delimiter && dialect == DBMGMT_ENGINE_MYSQL ? initial_delimiter : ";");
    sp.delim_len = strlen(sp.delim);
    sp.scan = dm_sql_block_scanner();
    if (is_bom(sp.s, len, 0))
        sp.line_start_before = 3;
    sp.col_line_start = sp.col_pos = sp.line_start_before;
    sp.col_value = 1;
    stop_set_build(&sp);
    rc = split_all(&sp, err);
    if (rc == DBMGMT_OK)
        rc = list_from_splitter(&sp, out, err);
    dm_free(sp.items);
    return rc;
}

const dm_sql_stmt *dm_sql_statement_at(const dbmgmt_statements *list, size_t i)
{
    return list && i < list->count ? &list->items[i] : NULL;
}

/* --- public API -------------------------------------------------------------------- */

DBMGMT_API int dbmgmt_split(dbmgmt_engine dialect, const char *sql, size_t len,
                            dbmgmt_statements **out)
{
    if (!out)
        return dm_error_invalid("dbmgmt_split", "out is NULL");
    *out = NULL;
    if (!sql && len)
        return dm_error_invalid("dbmgmt_split", "sql is NULL");
    if (!dm_sql_dialect_valid(dialect))
        return dm_error_invalid("dbmgmt_split", "unknown SQL dialect");
    return dm_sql_split(dialect, sql, len, NULL, out, NULL);
}

DBMGMT_API size_t dbmgmt_statements_count(const dbmgmt_statements *list)
{
    return list ? list->count : 0;
}

DBMGMT_API const char *dbmgmt_statements_sql(const dbmgmt_statements *list, size_t i,
                                             size_t *len)
{
    const dm_sql_stmt *st = dm_sql_statement_at(list, i);
    if (len)
        *len = st ? st->len : 0;
    return st ? st->text : NULL;
}

DBMGMT_API int32_t dbmgmt_statements_line(const dbmgmt_statements *list, size_t i)
{
    const dm_sql_stmt *st = dm_sql_statement_at(list, i);
    return st ? st->line : 0;
}

DBMGMT_API int32_t dbmgmt_statements_column(const dbmgmt_statements *list, size_t i)
{
    const dm_sql_stmt *st = dm_sql_statement_at(list, i);
    return st ? st->column : 0;
}

DBMGMT_API size_t dbmgmt_statements_offset(const dbmgmt_statements *list, size_t i)
{
    const dm_sql_stmt *st = dm_sql_statement_at(list, i);
    return st ? st->offset : 0;
}

static void statement_json(dm_json *j, const dm_sql_stmt *st, size_t i)
{
    dm_json_object_begin(j);
    dm_json_key(j, "index");
    dm_json_int(j, (int64_t)i);
    dm_json_key(j, "line");
    dm_json_int(j, st->line);
    dm_json_key(j, "column");
    dm_json_int(j, st->column);
    dm_json_key(j, "offset");
    dm_json_int(j, (int64_t)st->offset);
    dm_json_key(j, "sql");
    dm_json_string_len(j, st->text, st->len);
    dm_json_object_end(j);
}

static char *json_detach(dm_buf *buf, dm_json *j, const char *fn)
{
    if (dm_json_failed(j) || dm_buf_failed(buf)) {
        dm_buf_free(buf);
        dm_error_set(NULL, DBMGMT_ERR_NOMEM, "%s: out of memory", fn);
        return NULL;
    }
    return dm_buf_detach(buf);
}

DBMGMT_API char *dbmgmt_statement_to_json(const dbmgmt_statements *list, size_t i)
{
    const dm_sql_stmt *st = dm_sql_statement_at(list, i);
    if (!st) {
        dm_error_invalid("dbmgmt_statement_to_json", list ? "index out of range" : "list is NULL");
        return NULL;
    }
    dm_buf buf = DM_BUF_INIT;
    dm_json j;
    dm_json_init(&j, &buf);
    statement_json(&j, st, i);
    return json_detach(&buf, &j, "dbmgmt_statement_to_json");
}

DBMGMT_API char *dbmgmt_statements_to_json(const dbmgmt_statements *list)
{
    if (!list) {
        dm_error_invalid("dbmgmt_statements_to_json", "list is NULL");
        return NULL;
    }
    dm_buf buf = DM_BUF_INIT;
    dm_json j;
    dm_json_init(&j, &buf);
    dm_json_array_begin(&j);
    for (size_t i = 0; i < list->count; i++)
        statement_json(&j, &list->items[i], i);
    dm_json_array_end(&j);
    return json_detach(&buf, &j, "dbmgmt_statements_to_json");
}

DBMGMT_API void dbmgmt_statements_free(dbmgmt_statements *list)
{
    if (!list)
        return;
    dm_free(list->items);
    dm_free(list->texts);
    dm_free(list);
}
