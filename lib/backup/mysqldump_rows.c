/*
 * The rows of a mysqldump (mariadb-dump) file, counted from its text as it
 * is written (issue 23; docs/backup.md): exactly the rows the dump holds,
 * per table, without a second pass over the tables on the server.
 *
 * What is counted, for the options the library gives the tool
 * (--extended-insert by default, --quote-names, --hex-blob, no
 * --complete-insert): every line that starts with "INSERT INTO `name`
 * VALUES" outside a DELIMITER block, one row per top-level parenthesis
 * after it up to the statement's ';' (MariaDB 10.11's tool puts each row on
 * a line of its own, older ones all of them on the INSERT's line). Strings ('...' and "...", with
 * backslash escapes, as the tool writes them) are skipped, so a value that
 * holds "),(" or a quote counts for nothing. Lines between "DELIMITER ;;"
 * and "DELIMITER ;" are the bodies of triggers, routines and events, whose
 * INSERTs are not data. An INSERT line of another shape (a column list, say)
 * is an error naming its line, not a count that might be wrong.
 */
#include "backup_impl.h"

#include <stdio.h>
#include <string.h>

static const char insert_head[] = "INSERT INTO `";
static const char values_head[] = " VALUES"; /* then a space or a newline */
#define INSERT_HEAD_LEN (sizeof insert_head - 1)
#define VALUES_HEAD_LEN (sizeof values_head - 1)
#define DELIMITER_HEAD "DELIMITER ;"
#define DELIMITER_HEAD_LEN (sizeof DELIMITER_HEAD - 1)

enum {
    S_HEAD,      /* a line's first bytes, into head[] */
    S_SKIP,      /* the rest of a line that is not counted */
    S_NAME,      /* the table name, inside backticks */
    S_NAME_TICK, /* a backtick in the name: doubled, or its end */
    S_VALUES,    /* " VALUES " after the name */
    S_ROWS,      /* the row list, outside strings */
    S_STR,       /* in a string; quote is its quote */
    S_STR_ESC    /* after a backslash in a string */
};

/* The bytes S_ROWS stops at; everything else (digits, commas, hex) is
 * skipped in a tight loop. */
static const unsigned char rows_stop[256] = {
    ['('] = 1, [')'] = 1, ['\''] = 1, ['"'] = 1, [';'] = 1, ['\n'] = 1,
};

void dm_mdr_init(dm_mdr *s, dm_bk_counts *counts)
{
    memset(s, 0, sizeof *s);
    s->counts = counts;
    s->state = S_HEAD;
    s->line = 1;
    s->last = (size_t)-1;
}

void dm_mdr_clear(dm_mdr *s)
{
    dm_buf_free(&s->name);
}

/* The statement just ended: its rows to its table's count. */
static int add_rows(dm_mdr *s)
{
    const char *name = s->name.data ? s->name.data : "";
    dm_bk_counts *c = s->counts;
    if (s->last >= c->n || strcmp(c->tables[s->last], name) != 0) {
        s->last = c->n;
        for (size_t i = 0; i < c->n; i++)
            if (strcmp(c->tables[i], name) == 0) {
                s->last = i;
                break;
            }
        if (s->last == c->n && dm_bk_counts_add(c, name, 0) != DBMGMT_OK)
            return DBMGMT_ERR_NOMEM;
    }
    c->rows[s->last] += s->rows;
    s->rows = 0;
    return DBMGMT_OK;
}

static int fail(dm_mdr *s, const char *what)
{
    s->failed = 1;
    snprintf(s->error, sizeof s->error, "%s at line %lld", what, (long long)s->line);
    return DBMGMT_ERR_PARSE;
}

/* A whole head (or a line shorter than one): what the line is; insert:
 * the head is "INSERT INTO `". */
static void classify(dm_mdr *s, int insert)
{
    if (insert) {
        if (!s->in_delimiter_block) {
            dm_buf_clear(&s->name);
            s->state = S_NAME;
            return;
        }
    } else if (s->head_len >= DELIMITER_HEAD_LEN &&
               memcmp(s->head, DELIMITER_HEAD, DELIMITER_HEAD_LEN) == 0) {
        /* "DELIMITER ;" alone ends a block, "DELIMITER ;;" starts one */
        int plain = s->head_len == DELIMITER_HEAD_LEN || s->head[DELIMITER_HEAD_LEN] == '\n' ||
                    s->head[DELIMITER_HEAD_LEN] == '\r';
        s->in_delimiter_block = !plain;
    } else if (s->head_len > 10 && memcmp(s->head, "DELIMITER ", 10) == 0) {
        s->in_delimiter_block = 1; /* another delimiter: a block too */
    }
    s->state = S_SKIP;
}

/* A new line begins: its head is collected. */
static void next_line(dm_mdr *s)
{
    s->line++;
    s->head_len = 0;
    s->state = S_HEAD;
}

/* In a string from p: past its closing quote (state S_ROWS), or to end
 * (S_STR, or S_STR_ESC after a backslash that ends the piece). The bulk of
 * a dump: the next quote, then the backslashes before it (memchr,
 * vectorised); each byte is looked at a bounded number of times, however
 * many escapes a value holds. The tool escapes the newlines of values, so
 * lines are not counted here. */
static const char *skip_string(dm_mdr *s, const char *p, const char *end)
{
    const char *q = memchr(p, s->quote, (size_t)(end - p));
    const char *lim = q ? q : end;
    const char *esc;
    while ((esc = memchr(p, '\\', (size_t)(lim - p))) != NULL) {
        if (esc + 1 == end) {
            s->state = S_STR_ESC;
            return end;
        }
        p = esc + 2; /* the escaped byte is skipped */
        if (esc + 1 == q) { /* an escaped quote: the string goes on */
            q = memchr(p, s->quote, (size_t)(end - p));
            lim = q ? q : end;
        }
    }
    if (!q)
        return end;
    s->state = S_ROWS; /* a doubled quote re-enters the string at once */
    return q + 1;
}

int dm_mdr_feed(dm_mdr *s, const char *p, size_t n)
{
    if (s->failed)
        return DBMGMT_ERR_PARSE;
    const char *end = p + n;
    while (p < end) {
        switch (s->state) {
        case S_HEAD: {
            char ch = *p++;
            s->head[s->head_len++] = ch;
            int insert = s->head_len == INSERT_HEAD_LEN &&
                         memcmp(s->head, insert_head, INSERT_HEAD_LEN) == 0;
            if (insert || ch == '\n' || s->head_len == sizeof s->head) {
                classify(s, insert);
                if (ch == '\n')
                    next_line(s);
            }
            break;
        }
        case S_SKIP: {
            const char *nl = memchr(p, '\n', (size_t)(end - p));
            if (!nl)
                return DBMGMT_OK;
            p = nl + 1;
            next_line(s);
            break;
        }
        case S_NAME: {
            const char *tick = memchr(p, '`', (size_t)(end - p));
            const char *stop = tick ? tick : end;
            dm_buf_append(&s->name, p, (size_t)(stop - p));
            p = tick ? tick + 1 : end;
            if (tick)
                s->state = S_NAME_TICK;
            break;
        }
        case S_NAME_TICK:
            if (*p == '`') { /* a doubled backtick: one in the name */
                dm_buf_putc(&s->name, '`');
                p++;
                s->state = S_NAME;
            } else {
                if (dm_buf_failed(&s->name))
                    return DBMGMT_ERR_NOMEM;
                s->matched = 0;
                s->state = S_VALUES;
            }
            break;
        case S_VALUES:
            if (*p++ != values_head[s->matched])
                return fail(s, "an INSERT of an unexpected shape (not "
                               "\"INSERT INTO `t` VALUES\")");
            if (++s->matched == VALUES_HEAD_LEN) {
                s->depth = 0;
                s->rows = 0;
                s->state = S_ROWS;
            }
            break;
        case S_ROWS: {
            while (p < end && !rows_stop[(unsigned char)*p])
                p++;
            if (p == end)
                break;
            char ch = *p++;
            if (ch == '(') {
                if (s->depth++ == 0)
                    s->rows++;
            } else if (ch == ')') {
                if (s->depth-- == 0)
                    return fail(s, "an unbalanced ')' in an INSERT");
            } else if (ch == '\'' || ch == '"') {
                s->quote = ch;
                s->state = S_STR;
            } else if (ch == ';' && s->depth == 0) {
                int rc = add_rows(s);
                if (rc != DBMGMT_OK)
                    return rc;
                s->state = S_SKIP;
            } else if (ch == '\n') {
                s->line++;
            }
            break;
        }
        case S_STR:
            p = skip_string(s, p, end);
            break;
        case S_STR_ESC:
            p++;
            s->state = S_STR;
            break;
        default:
            return fail(s, "an internal state");
        }
    }
    return DBMGMT_OK;
}

int dm_mdr_finish(dm_mdr *s)
{
    if (s->failed)
        return DBMGMT_ERR_PARSE;
    if (s->state != S_HEAD && s->state != S_SKIP)
        return fail(s, "a dump that ends inside an INSERT");
    return DBMGMT_OK;
}
