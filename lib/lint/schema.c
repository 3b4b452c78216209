/*
 * The schema the linter follows: the tables, columns and indexes the
 * current migration creates (so statements on them are not findings), and,
 * when a plan is followed, the tables earlier up steps created that the
 * live database does not have yet (docs/lint.md, "How it works").
 */
#include <string.h>

#include "core/alloc.h"
#include "lint/lint_impl.h"

static int names_push(dm_lint_names *n, const char *s, size_t len, const char *table,
                      size_t table_len)
{
    dm_lint_name *grown = lint_grow(n->items, n->count, &n->cap, sizeof *grown, 8);
    if (!grown)
        return DBMGMT_ERR_NOMEM;
    n->items = grown;
    n->items[n->count++] = (dm_lint_name){s, len, table, table_len};
    return DBMGMT_OK;
}

static int names_has(const dm_lint_names *n, const char *s, size_t len, const char *table,
                     size_t table_len)
{
    for (size_t i = 0; i < n->count; i++)
        if (lint_same_name(n->items[i].s, n->items[i].len, s, len) &&
            (!table ||
             lint_same_name(n->items[i].table, n->items[i].table_len, table, table_len)))
            return 1;
    return 0;
}

void lint_track(section_ctx *c, dm_lint_names *n, lname name, lname table)
{
    if (c->rc == DBMGMT_OK && name.len &&
        names_push(n, name.s, name.len, table.len ? table.s : NULL, table.len) != DBMGMT_OK)
        c->rc = DBMGMT_ERR_NOMEM;
}

/* Created by an earlier step of the plan being followed (and not in the
 * live database). */
static int table_new_in_plan(const dm_linter *lt, lname t)
{
    for (size_t i = 0; i < lt->nplan_tables; i++)
        if (lint_same_name(lt->plan_tables[i], strlen(lt->plan_tables[i]), t.s, t.len))
            return 1;
    return 0;
}

int lint_table_is_new(const section_ctx *c, lname t)
{
    return t.len && (names_has(&c->lt->tables, t.s, t.len, NULL, 0) ||
                     table_new_in_plan(c->lt, t));
}

int lint_index_is_new(const section_ctx *c, lname index)
{
    return names_has(&c->lt->indexes, index.s, index.len, NULL, 0);
}

int lint_column_is_existing(const section_ctx *c, const alter_ctx *a, lname col)
{
    return !a->is_new && col.len &&
           !names_has(&c->lt->columns, col.s, col.len, a->table.s, a->table.len);
}

/* After an up step of a followed plan: the tables it created that the live
 * database does not have are new for the steps after it. */
int lint_remember_plan_tables(dm_linter *lt)
{
    for (size_t i = 0; i < lt->tables.count; i++) {
        const dm_lint_name *t = &lt->tables.items[i];
        char *name = dm_strndup(t->s, t->len);
        if (!name)
            return DBMGMT_ERR_NOMEM;
        if (lt->live_table_exists(lt->live_ctx, name) != 0) { /* exists, or unknown */
            dm_free(name);
            continue;
        }
        char **grown = lint_grow(lt->plan_tables, lt->nplan_tables, &lt->plan_tables_cap,
                                 sizeof *grown, 16);
        if (!grown) {
            dm_free(name);
            return DBMGMT_ERR_NOMEM;
        }
        lt->plan_tables = grown;
        lt->plan_tables[lt->nplan_tables++] = name;
    }
    return DBMGMT_OK;
}
