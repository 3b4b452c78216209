/*
 * The engine of the linter: one migration's section, statement by
 * statement. Each statement is lexed into a reusable token array and handed
 * to the readers (statements.c), which call the rules; the whole-migration
 * rules run at the end of the section, then the allow comments filter what
 * was found.
 */
#include <string.h>

#include "core/alloc.h"
#include "lint/lint_impl.h"

void *lint_grow(void *items, size_t count, size_t *cap, size_t size, size_t first_cap)
{
    if (count < *cap)
        return items;
    size_t grown_cap = *cap ? *cap * 2 : first_cap;
    void *grown = dm_realloc(items, grown_cap * size);
    if (grown)
        *cap = grown_cap;
    return grown;
}

void dm_linter_init(dm_linter *lt, dbmgmt_engine dialect)
{
    memset(lt, 0, sizeof *lt);
    lt->dialect = dialect;
}

void dm_linter_follow_plan(dm_linter *lt, int (*live_table_exists)(void *ctx, const char *name),
                           void *ctx)
{
    lt->live_table_exists = live_table_exists;
    lt->live_ctx = ctx;
}

void dm_linter_clear(dm_linter *lt)
{
    for (size_t i = 0; i < lt->nplan_tables; i++)
        dm_free(lt->plan_tables[i]);
    dm_free(lt->plan_tables);
    dm_free(lt->toks);
    dm_free(lt->tables.items);
    dm_free(lt->columns.items);
    dm_free(lt->indexes.items);
    dm_free(lt->allows);
    dm_free(lt->keyless);
    memset(lt, 0, sizeof *lt);
}

/* Lex one statement into the reusable token array. */
static int load_tokens(dm_linter *lt, const char *sql)
{
    size_t len = strlen(sql);
    dm_sql_lexer lx;
    dm_sql_lexer_init(&lx, lt->dialect, sql, len, 0);
    lx.plain_words = 1;
    lt->ntoks = 0;
    dm_sql_token tok;
    while (dm_sql_lexer_next(&lx, &tok) == 1) {
        dm_sql_token *grown = lint_grow(lt->toks, lt->ntoks, &lt->toks_cap, sizeof *grown, 256);
        if (!grown)
            return DBMGMT_ERR_NOMEM;
        lt->toks = grown;
        lt->toks[lt->ntoks++] = tok;
    }
    return DBMGMT_OK;
}

static void lint_statements(section_ctx *c, const dm_mig_statements *list, stmt_span *spans)
{
    for (size_t i = 0; i < list->count && c->rc == DBMGMT_OK; i++) {
        c->text = list->items[i].sql;
        c->line = list->items[i].line;
        c->stmt = (long)i;
        if (load_tokens(c->lt, c->text) != DBMGMT_OK) {
            c->rc = DBMGMT_ERR_NOMEM;
            break;
        }
        if (spans) {
            spans[i].first = c->line;
            spans[i].last = c->line + (int32_t)lint_count_newlines(c->text, strlen(c->text));
        }
        if (c->lt->seeds)
            lint_seed_statement(c);
        else
            lint_statement(c);
    }
}

/* The rules that look at the section as a whole, once it has been read. */
static void finish_section(section_ctx *c, int32_t direction)
{
    if (c->lt->seeds)
        return; /* a seed is data: the migration rules do not apply */
    lint_rule_uncommitted_transaction(c);
    lint_rule_mixed_schema_and_data(c);
    lint_rule_missing_down(c, direction);
    lint_rule_galera_keyless_tables(c);
}

static void section_ctx_init(section_ctx *c, dm_linter *lt, const dm_migration *mig,
                             const dm_section *sec, dm_lint_findings *out)
{
    memset(c, 0, sizeof *c);
    c->lt = lt;
    c->mig = mig;
    c->sec = sec;
    c->out = out;
}

/* Down: what the up section creates counts as new, so reverting it is fine. */
static int collect_created_by_up(dm_linter *lt, const dm_migration *mig, dm_mig_statements *up,
                                 dm_error *err)
{
    memset(up, 0, sizeof *up);
    if (!mig->up.sql)
        return DBMGMT_OK;
    int rc = dm_section_statements(&mig->up, lt->dialect, up, err);
    if (rc != DBMGMT_OK) {
        memset(up, 0, sizeof *up);
        return rc == DBMGMT_ERR_NOMEM ? rc : DBMGMT_OK;
    }
    dm_lint_findings none = {0};
    section_ctx c;
    section_ctx_init(&c, lt, mig, &mig->up, &none);
    c.quiet = 1;
    lint_statements(&c, up, NULL);
    return c.rc;
}

/* Lint the statements of sec, then keep what its allow comments let through. */
static int lint_section(dm_linter *lt, const dm_migration *mig, const dm_section *sec,
                        const dm_mig_statements *list, int32_t direction, int transactional,
                        size_t step, dm_lint_findings *out)
{
    stmt_span *spans = list->count ? dm_calloc(list->count, sizeof *spans) : NULL;
    if (list->count && !spans)
        return DBMGMT_ERR_NOMEM;
    int rc = lint_collect_allows(lt, sec);
    if (rc == DBMGMT_OK) {
        section_ctx c;
        section_ctx_init(&c, lt, mig, sec, out);
        c.transactional = transactional;
        c.step = step;
        size_t first = out->count;
        lint_galera_section_start(lt);
        lint_statements(&c, list, spans);
        finish_section(&c, direction);
        lint_target_allows(lt, spans, list->count);
        if (c.rc == DBMGMT_OK)
            lint_apply_allows(&c, first);
        rc = c.rc;
    }
    dm_free(spans);
    return rc;
}

int dm_lint_migration(dm_linter *lt, const dm_migration *mig, int32_t direction, int transactional,
                      size_t step, dm_lint_findings *out, dm_error *err)
{
    const dm_section *sec = direction == DBMGMT_DOWN ? &mig->down : &mig->up;
    if (!sec->sql)
        return DBMGMT_OK;
    lt->tables.count = lt->columns.count = lt->indexes.count = 0;
    dm_mig_statements list, up = {0};
    int rc = dm_section_statements(sec, lt->dialect, &list, err);
    if (rc != DBMGMT_OK)
        return rc;
    if (direction == DBMGMT_DOWN)
        rc = collect_created_by_up(lt, mig, &up, err);
    if (rc == DBMGMT_OK)
        rc = lint_section(lt, mig, sec, &list, direction, transactional, step, out);
    if (rc == DBMGMT_OK && direction == DBMGMT_UP && lt->live_table_exists)
        rc = lint_remember_plan_tables(lt);
    if (rc == DBMGMT_ERR_NOMEM)
        dm_error_set(err, rc, "out of memory linting %s", sec->file ? sec->file : mig->version);
    dm_mig_statements_free(&list);
    if (up.owner || up.items)
        dm_mig_statements_free(&up);
    lt->tables.count = lt->columns.count = lt->indexes.count = 0;
    return rc;
}
