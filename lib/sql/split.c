/*
 * Statement dm_splitter.
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
#include "sql/split_impl.h"

struct dbmgmt_statements {
    dm_sql_stmt *items;
    size_t count;
    char *texts; /* one copy of the whole input, with a NUL written after each
                    text (NULL when there is no statement) */
};



static int delimiter_is_default(const dm_splitter *sp)
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

/* Classifies the block at sp->blk_base, the last one may be short, and
 * copies a whole block into the list's texts the first time (a DELIMITER
 * directive classifies its block again). */
static void block_classify(dm_splitter *sp)
{
    const unsigned char *u = (const unsigned char *)sp->s + sp->blk_base;
    size_t avail = sp->n - sp->blk_base;
    if (avail >= 64) {
        sp->scan(u, &sp->stops, &sp->blk);
        if (sp->blk_base == sp->copied) {
            memcpy(sp->texts + sp->blk_base, u, 64);
            sp->copied += 64;
        }
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
static void block_move_forward(dm_splitter *sp, size_t base)
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

static inline void block_move_to(dm_splitter *sp, size_t i)
{
    size_t base = i & ~(size_t)63;
    if (base != sp->blk_base)
        block_move_forward(sp, base);
}

/* The current block's stop (newlines = 0) or LF (newlines = 1) mask. */
static inline uint64_t block_mask(const dm_splitter *sp, int newlines)
{
    return newlines ? sp->blk.newlines : sp->blk.stops;
}

/* The first byte at or after i whose bit is set in that mask, or sp->n. */
static size_t block_next(dm_splitter *sp, size_t i, int newlines)
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
static inline size_t block_next_fast(dm_splitter *sp, size_t i, int newlines)
{
    size_t rel = i - sp->blk_base;
    if (rel < 64) {
        uint64_t m = block_mask(sp, newlines) >> rel;
        if (m)
            return i + (size_t)__builtin_ctzll(m);
    }
    return block_next(sp, i, newlines);
}

static inline size_t next_stop(dm_splitter *sp, size_t i)
{
    return block_next_fast(sp, i, 0);
}

static inline size_t next_newline(dm_splitter *sp, size_t i)
{
    return block_next_fast(sp, i, 1);
}

/* The bytes the fast path stops at: quotes, comment starts, the delimiter's
 * first byte and, in MySQL, backslash (so strings are skipped on the masks
 * too). Called again when a DELIMITER directive changes the delimiter. */
static void stop_set_build(dm_splitter *sp)
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
static uint64_t stops_outside_strings(const dm_splitter *sp, unsigned rel, int *ok)
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
static size_t next_event(dm_splitter *sp, size_t i)
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
static void splitter_locate(dm_splitter *sp, size_t off, int32_t *line, int32_t *col)
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

/* Points the statements whose texts are copied at them and writes the NUL
 * after each, in order (texts end in order, so the first that is not
 * copied yet stops it): straight after the copy, still in the cache. */
static void texts_settle(dm_splitter *sp)
{
    for (; sp->settled < sp->count; sp->settled++) {
        dm_sql_stmt *st = &sp->items[sp->settled];
        size_t at = st->offset + st->len;
        if (at >= sp->copied)
            return;
        sp->texts[at] = '\0';
        st->text = sp->texts + st->offset;
    }
}

static int splitter_push(dm_splitter *sp, size_t start, int32_t line, int32_t column,
                         const dm_stmt_bounds *b, dm_error *err)
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
    texts_settle(sp);
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
static size_t skip_gap(dm_splitter *sp, size_t i)
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

/* The same as dm_sql_skip_quoted() on the block masks: quote (and, with
 * backslash, '\\') must be in the stop set. */
static size_t skip_quoted_on_masks(dm_splitter *sp, size_t i, unsigned char quote, int backslash)
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
static size_t fast_quoted(dm_splitter *sp, size_t i, size_t floor)
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
        return dm_split_fail_at(sp,
                       ident ? DM_SQL_LEX_UNTERMINATED_IDENT : DM_SQL_LEX_UNTERMINATED_STRING,
                       i, 0);
    return end;
}

/* A '$' at i (PostgreSQL): index to continue from; *token says whether it
 * was a token (dollar quote, $N, lone $) rather than part of a word. */
static size_t fast_dollar(dm_splitter *sp, size_t i, size_t floor, int *token)
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
        if (end == DM_SQL_UNTERMINATED)
            return dm_split_fail_at(sp, DM_SQL_LEX_UNTERMINATED_DOLLAR, i, tag);
        return end;
    }
    i++;
    while (i < n && s[i] >= '0' && s[i] <= '9')
        i++;
    return i;
}

/* Scans an ordinary statement starting at start. */
static int scan_fast(dm_splitter *sp, size_t start, dm_stmt_bounds *b)
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
                    return dm_split_fail(sp, DM_SQL_LEX_UNTERMINATED_COMMENT, i);
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
        return dm_split_fail(sp, DM_SQL_LEX_UNTERMINATED_COMMENT, exec_offset);
    b->text_end = trim_text_end(s, &trail, n);
    b->next = n;
    return DBMGMT_OK;
}

/* --- MySQL DELIMITER directive ----------------------------------------------------- */

static int is_delimiter_directive(const dm_splitter *sp, size_t i)
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
static size_t apply_delimiter_directive(dm_splitter *sp, size_t i)
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
        dm_split_fail_at(sp, DM_SQL_LEX_BAD_DELIMITER, i, 0);
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

static int split_statement(dm_splitter *sp, size_t start, size_t *next, dm_error *err)
{
    dm_stmt_bounds b;
    int32_t line, column;
    memset(&b, 0, sizeof b);
    splitter_locate(sp, start, &line, &column);
    dm_scan_mode mode = delimiter_is_default(sp) ? dm_split_classify(sp, start) : DM_SCAN_FAST;
    /* A PostgreSQL CREATE FUNCTION or PROCEDURE can hold its ';' inside the
     * body only in BEGIN ATOMIC ... END (where CASE ... END nests), and the
     * token path finds no other: when the fast path's statement holds
     * neither word, the token path would end it at the same ';'. Else the
     * token path ends it at or after that ';' (the same quoting rules), so
     * the blocks the fast path passed are not needed again. Most bodies are
     * $$ strings, which the fast path steps over a block at a time. */
    int pg_routine = mode == DM_SCAN_BODY && sp->dialect == DBMGMT_ENGINE_POSTGRES;
    int rc = mode == DM_SCAN_FAST || pg_routine ? scan_fast(sp, start, &b)
                                                : dm_split_scan_tokens(sp, start, mode, &b);
    if (pg_routine && (rc != DBMGMT_OK || dm_split_holds_block_word(sp, start, b.next))) {
        memset(&b, 0, sizeof b);
        rc = dm_split_scan_tokens(sp, start, mode, &b);
    }
    if (rc != DBMGMT_OK)
        return dm_sql_error_set(err, sp->s, sp->n, &sp->error);
    *next = b.next;
    if (b.text_end <= start) /* only an empty executable comment, say */
        return DBMGMT_OK;
    return splitter_push(sp, start, line, column, &b, err);
}

static int split_all(dm_splitter *sp, dm_error *err)
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

/* The list's texts are one copy of the input, made as the scan goes: each
 * 64-byte block is copied when it is classified, while it is in the cache
 * (block_classify), and each statement's NUL is written when its text is
 * copied (texts_settle). The byte after a text is its delimiter, a blank or
 * a comment, never part of the next text, and the last text can have the
 * copy's extra byte. Here: the bytes no block covered (the short last block,
 * a tail the token path read) and the NULs still owed. */
static int list_from_splitter(dm_splitter *sp, dbmgmt_statements **out, dm_error *err)
{
    dbmgmt_statements *list = dm_calloc(1, sizeof *list);
    if (!list)
        return dm_error_set(err, DBMGMT_ERR_NOMEM, "out of memory splitting SQL");
    if (sp->copied < sp->n)
        memcpy(sp->texts + sp->copied, sp->s + sp->copied, sp->n - sp->copied);
    sp->copied = sp->n + 1; /* and the byte after the last text */
    texts_settle(sp);
    list->items = sp->items;
    list->count = sp->count;
    if (sp->count) { /* else dm_sql_split frees the copy */
        list->texts = sp->texts;
        sp->texts = NULL;
    }
    sp->items = NULL;
    *out = list;
    return DBMGMT_OK;
}

int dm_sql_split(dbmgmt_engine dialect, const char *src, size_t len,
                 const char *initial_delimiter, dbmgmt_statements **out, dm_error *err)
{
    dm_splitter sp;
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
    sp.texts = dm_malloc(len + 1);
    if (!sp.texts)
        return dm_error_set(err, DBMGMT_ERR_NOMEM, "out of memory splitting SQL");
    advise_huge_pages(sp.texts, len + 1);
    if (is_bom(sp.s, len, 0))
        sp.line_start_before = 3;
    sp.col_line_start = sp.col_pos = sp.line_start_before;
    sp.col_value = 1;
    stop_set_build(&sp);
    rc = split_all(&sp, err);
    if (rc == DBMGMT_OK)
        rc = list_from_splitter(&sp, out, err);
    dm_free(sp.items);
    dm_free(sp.texts);
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
