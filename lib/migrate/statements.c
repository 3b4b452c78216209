/* A migration section's statements: split by the dialect's splitter, goose's
 * StatementBegin/End blocks kept whole. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "source.h"
#include "source_impl.h"
#include "sql/split.h"

/* ---- statements ---------------------------------------------------------------- */

typedef struct statement_store {
    dbmgmt_statements *split; /* from the lexer */
    char **blocks;            /* goose StatementBegin/End blocks */
    size_t nblocks;
} statement_store;

static void store_free(statement_store *st)
{
    if (!st)
        return;
    dbmgmt_statements_free(st->split);
    for (size_t i = 0; i < st->nblocks; i++)
        dm_free(st->blocks[i]);
    dm_free(st->blocks);
    dm_free(st);
}

void dm_mig_statements_free(dm_mig_statements *list)
{
    store_free(list->owner);
    dm_free(list->items);
    memset(list, 0, sizeof *list);
}

static int statements_push(dm_mig_statements *out, size_t *cap, const char *sql, int32_t line,
                           const dm_sql_stmt *split)
{
    if (out->count == *cap) {
        *cap = *cap ? *cap * 2 : 16;
        dm_mig_statement *grown = dm_realloc(out->items, *cap * sizeof *grown);
        if (!grown)
            return DBMGMT_ERR_NOMEM;
        out->items = grown;
    }
    out->items[out->count].sql = sql;
    out->items[out->count].line = line;
    out->items[out->count].split = split;
    out->count++;
    return DBMGMT_OK;
}

/* Split with the dialect's lexer; lines are made relative to the file. */
static int split_section(const dm_section *s, dbmgmt_engine dialect, dm_mig_statements *out,
                         statement_store *store, size_t *cap, dm_error *err)
{
    int rc = dm_sql_split(dialect, s->sql, s->len, NULL, &store->split, err);
    if (rc == DBMGMT_ERR_PARSE) { /* "LINE:COLUMN: message" -> "FILE:LINE:COLUMN: message" */
        /* err may be NULL (dm_error_set's contract): the thread has the message too */
        char inner[DM_ERRMSG_MAX];
        snprintf(inner, sizeof inner, "%s", err ? err->msg : dbmgmt_errmsg());
        long line = strtol(inner, NULL, 10);
        const char *rest = strchr(inner, ':');
        return dm_error_set(err, DBMGMT_ERR_PARSE, "%s:%ld%s", s->file, line + s->line - 1,
                            rest ? rest : inner);
    }
    if (rc != DBMGMT_OK)
        return rc;
    size_t n = dbmgmt_statements_count(store->split);
    for (size_t i = 0; i < n; i++) {
        const dm_sql_stmt *st = dm_sql_statement_at(store->split, i);
        if (statements_push(out, cap, st->text, st->line + s->line - 1, st) != DBMGMT_OK)
            return dm_error_set(err, DBMGMT_ERR_NOMEM, "out of memory splitting %s", s->file);
    }
    return DBMGMT_OK;
}

/* goose: text between StatementBegin and StatementEnd is one statement;
 * the rest is split as usual (here: each piece outside blocks is split by
 * the lexer too, by running the section through it piece by piece). */
static int goose_blocks(const dm_section *s, dbmgmt_engine dialect, dm_mig_statements *out,
                        statement_store *store, size_t *cap, dm_error *err)
{
    dm_file_text f = {s->file, s->sql, s->len, NULL};
    size_t pos = 0;
    dm_marker begin, end;
    dm_buf outside = DM_BUF_INIT; /* non-block text, with blanked blocks to keep lines */
    while (dm_find_marker(&f, pos, "-- +goose StatementBegin", &begin)) {
        if (!dm_find_marker(&f, begin.next_line, "-- +goose StatementEnd", &end)) {
            dm_buf_free(&outside);
            return dm_error_set(err, DBMGMT_ERR_PARSE,
                                "%s:%d: '-- +goose StatementBegin' without StatementEnd", s->file,
                                (int)(begin.line + s->line - 1));
        }
        dm_buf_append(&outside, s->sql + pos, begin.line_start - pos);
        for (size_t i = begin.line_start; i < end.next_line; i++) /* keep line numbers */
            if (s->sql[i] == '\n')
                dm_buf_putc(&outside, '\n');
        char **grown = dm_realloc(store->blocks, (store->nblocks + 1) * sizeof *grown);
        char *block = grown ? dm_strndup(s->sql + begin.next_line, end.line_start - begin.next_line)
                            : NULL;
        if (grown)
            store->blocks = grown;
        int32_t block_line = begin.line + 1 + s->line - 1;
        if (!block || statements_push(out, cap, block, block_line, NULL) != DBMGMT_OK) {
            dm_free(block);
            dm_buf_free(&outside);
            return dm_error_set(err, DBMGMT_ERR_NOMEM, "out of memory splitting %s", s->file);
        }
        store->blocks[store->nblocks++] = block;
        pos = end.next_line;
    }
    dm_buf_append(&outside, s->sql + pos, s->len - pos);
    if (dm_buf_failed(&outside)) {
        dm_buf_free(&outside);
        return dm_error_set(err, DBMGMT_ERR_NOMEM, "out of memory splitting %s", s->file);
    }
    dm_section rest = *s;
    rest.sql = outside.data ? outside.data : (char *)"";
    rest.len = outside.len;
    int rc = split_section(&rest, dialect, out, store, cap, err);
    /* split statements reference the lexer's own copies, so outside can go */
    dm_buf_free(&outside);
    if (rc != DBMGMT_OK)
        return rc;
    /* order by line: blocks and split statements interleave as in the file */
    for (size_t i = 1; i < out->count; i++) {
        dm_mig_statement key = out->items[i];
        size_t j = i;
        while (j > 0 && out->items[j - 1].line > key.line) {
            out->items[j] = out->items[j - 1];
            j--;
        }
        out->items[j] = key;
    }
    return DBMGMT_OK;
}

int dm_section_statements(const dm_section *s, dbmgmt_engine dialect, dm_mig_statements *out,
                          dm_error *err)
{
    memset(out, 0, sizeof *out);
    statement_store *store = dm_calloc(1, sizeof *store);
    if (!store)
        return dm_error_set(err, DBMGMT_ERR_NOMEM, "out of memory splitting %s", s->file);
    out->owner = store;
    size_t cap = 0;
    int rc = s->explicit_statements ? goose_blocks(s, dialect, out, store, &cap, err)
                                    : split_section(s, dialect, out, store, &cap, err);
    if (rc != DBMGMT_OK)
        dm_mig_statements_free(out);
    return rc;
}
