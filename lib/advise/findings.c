/* Schema findings: duplicate, redundant, unused, fk_unindexed,
 * low_cardinality_lead and over_indexed (DESIGN §8). */
#include <string.h>

#include "advise_impl.h"
#include "core/alloc.h"

#define LOW_CARDINALITY_DISTINCT 10
#define LOW_CARDINALITY_MIN_ROWS 1000

/* Comparable key: neither partial nor on an expression. */
static int plain_index(const dm_cat_index *ix)
{
    return !ix->partial && !ix->expression;
}

static int same_table(const dm_cat_index *x, const dm_cat_index *y)
{
    return strcmp(x->table, y->table) == 0;
}

/* x's key is a left prefix of y's (n <= y's length), same order. */
static int is_left_prefix(const dm_cat_index *x, const dm_cat_index *y)
{
    if (x->ncolumns > y->ncolumns)
        return 0;
    for (size_t i = 0; i < x->ncolumns; i++)
        if (strcmp(x->columns[i], y->columns[i]) != 0)
            return 0;
    return 1;
}

/* The first n columns of ix are cols (in any order): ix serves lookups on them. */
static int starts_with_set(const dm_cat_index *ix, char *const *cols, size_t n)
{
    if (ix->partial || ix->ncolumns < n)
        return 0;
    for (size_t i = 0; i < n; i++) {
        int found = 0;
        for (size_t k = 0; k < n && !found; k++)
            found = strcmp(ix->columns[i], cols[k]) == 0;
        if (!found)
            return 0;
    }
    return 1;
}

/* ix starts with the columns of a foreign key of its table. */
static int backs_fk(const dm_catalog *cat, const dm_cat_index *ix)
{
    for (size_t f = 0; f < cat->nfks; f++)
        if (strcmp(cat->fks[f].table, ix->table) == 0 &&
            starts_with_set(ix, cat->fks[f].columns, cat->fks[f].ncolumns))
            return 1;
    return 0;
}

/* Some foreign key is served by ix and by no other index still kept. */
static int fk_needs(const dm_catalog *cat, size_t ixi, const int *dropped)
{
    const dm_cat_index *ix = &cat->indexes[ixi];
    for (size_t f = 0; f < cat->nfks; f++) {
        const dm_cat_fk *fk = &cat->fks[f];
        if (strcmp(fk->table, ix->table) != 0 || !starts_with_set(ix, fk->columns, fk->ncolumns))
            continue;
        int other = 0;
        for (size_t k = 0; k < cat->nindexes && !other; k++)
            other = k != ixi && !dropped[k] && strcmp(cat->indexes[k].table, ix->table) == 0 &&
                    starts_with_set(&cat->indexes[k], fk->columns, fk->ncolumns);
        if (!other)
            return 1;
    }
    return 0;
}

static void drop_ddl(const dm_driver *drv, dm_buf *ddl, const dm_cat_index *ix)
{
    dm_buf_puts(ddl, "DROP INDEX ");
    adv_put_ident(drv, ddl, ix->name);
    if (drv->drop_index_on_table) {
        dm_buf_puts(ddl, " ON ");
        adv_put_ident(drv, ddl, ix->table);
    }
}

static adv_finding *index_finding(const dm_driver *drv, dbmgmt_advice *adv, int32_t kind,
                                  const dm_cat_index *ix, int with_drop, const char *reason)
{
    dm_buf cols = DM_BUF_INIT, ddl = DM_BUF_INIT;
    adv_join_columns(&cols, ix->columns, ix->ncolumns);
    if (with_drop)
        drop_ddl(drv, &ddl, ix);
    if (dm_buf_failed(&cols) || dm_buf_failed(&ddl))
        adv->failed = 1;
    adv_finding *f = adv_add_finding(adv, kind, ix->table, cols.data, ix->name, ddl.data, reason);
    dm_buf_free(&cols);
    dm_buf_free(&ddl);
    return f;
}

/* Which of two indexes with the same key to drop: never the primary key;
 * a non-unique one before a unique one; otherwise the later name. */
static size_t duplicate_victim(const dm_catalog *cat, size_t i, size_t k)
{
    const dm_cat_index *x = &cat->indexes[i], *y = &cat->indexes[k];
    if (x->primary != y->primary)
        return x->primary ? k : i;
    if (x->unique != y->unique)
        return x->unique ? k : i;
    return strcmp(x->name, y->name) > 0 ? i : k;
}

static void find_duplicates(const dm_driver *drv, const dm_catalog *cat, int *dropped, int *used,
                            dbmgmt_advice *adv)
{
    for (size_t i = 0; i < cat->nindexes; i++) {
        for (size_t k = i + 1; k < cat->nindexes; k++) {
            const dm_cat_index *x = &cat->indexes[i], *y = &cat->indexes[k];
            if (dropped[i] || dropped[k] || !same_table(x, y) || !plain_index(x) ||
                !plain_index(y) || x->ncolumns != y->ncolumns || !is_left_prefix(x, y))
                continue;
            size_t v = duplicate_victim(cat, i, k);
            size_t keep = v == i ? k : i;
            if (cat->indexes[v].primary)
                continue;
            dm_buf reason = DM_BUF_INIT;
            dm_buf_printf(&reason, "Same key columns as %s%s: one of them is enough.",
                          cat->indexes[keep].name,
                          cat->indexes[keep].primary ? " (the primary key)"
                          : cat->indexes[keep].unique ? " (unique)" : "");
            index_finding(drv, adv, DBMGMT_ADVICE_DUPLICATE, &cat->indexes[v], 1,
                          reason.data ? reason.data : "");
            dm_buf_free(&reason);
            dropped[v] = 1;
            if (used && used[v]) /* plans using the dropped one will use the kept one */
                used[keep] = 1;
        }
    }
}

static void find_redundant(const dm_driver *drv, const dm_catalog *cat, int *dropped, int *used,
                           dbmgmt_advice *adv)
{
    for (size_t i = 0; i < cat->nindexes; i++) {
        const dm_cat_index *x = &cat->indexes[i];
        if (dropped[i] || x->primary || x->unique || !plain_index(x))
            continue;
        for (size_t k = 0; k < cat->nindexes; k++) {
            const dm_cat_index *y = &cat->indexes[k];
            if (k == i || dropped[k] || !same_table(x, y) || y->partial ||
                y->ncolumns <= x->ncolumns || !is_left_prefix(x, y) || fk_needs(cat, i, dropped))
                continue;
            dm_buf reason = DM_BUF_INIT;
            dm_buf_printf(&reason, "A left prefix of %s%s: every lookup it serves, that "
                                   "index serves too.",
                          y->name, y->primary ? " (the primary key)" : y->unique ? " (unique)" : "");
            index_finding(drv, adv, DBMGMT_ADVICE_REDUNDANT, x, 1, reason.data ? reason.data : "");
            dm_buf_free(&reason);
            dropped[i] = 1;
            if (used && used[i])
                used[k] = 1;
            break;
        }
    }
}

static void find_unused(const dm_driver *drv, const dm_catalog *cat, const int *used,
                        const int *dropped, dbmgmt_advice *adv)
{
    for (size_t i = 0; i < cat->nindexes; i++) {
        const dm_cat_index *ix = &cat->indexes[i];
        if (dropped[i] || ix->primary || ix->unique || backs_fk(cat, ix))
            continue;
        if (ix->scans == 0)
            index_finding(drv, adv, DBMGMT_ADVICE_UNUSED, ix, 1,
                          "The engine's usage counters show no scan since they were last "
                          "reset. Check replicas and rare jobs before dropping it.");
        else if (ix->scans < 0 && used && !used[i])
            index_finding(drv, adv, DBMGMT_ADVICE_UNUSED, ix, 1,
                          "No plan of the workload uses it (the engine keeps no usage "
                          "counters, so only the given statements were checked).");
    }
}

static void find_unindexed_fks(const dm_driver *drv, const dm_catalog *cat, dbmgmt_advice *adv)
{
    for (size_t f = 0; f < cat->nfks; f++) {
        const dm_cat_fk *fk = &cat->fks[f];
        int served = 0;
        for (size_t i = 0; i < cat->nindexes && !served; i++)
            served = strcmp(cat->indexes[i].table, fk->table) == 0 &&
                     starts_with_set(&cat->indexes[i], fk->columns, fk->ncolumns);
        if (served)
            continue;
        dm_buf cols = DM_BUF_INIT, name = DM_BUF_INIT, ddl = DM_BUF_INIT, reason = DM_BUF_INIT;
        adv_join_columns(&cols, fk->columns, fk->ncolumns);
        dm_buf_printf(&name, "idx_%s", fk->table);
        for (size_t c = 0; c < fk->ncolumns; c++)
            dm_buf_printf(&name, "_%s", fk->columns[c]);
        if (name.data)
            for (char *p = name.data; *p; p++)
                if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                      (*p >= '0' && *p <= '9')))
                    *p = '_';
        dm_buf_puts(&ddl, "CREATE INDEX ");
        dm_buf_puts(&ddl, name.data ? name.data : "");
        dm_buf_puts(&ddl, " ON ");
        adv_put_ident(drv, &ddl, fk->table);
        dm_buf_puts(&ddl, " (");
        for (size_t c = 0; c < fk->ncolumns; c++) {
            if (c)
                dm_buf_puts(&ddl, ", ");
            adv_put_ident(drv, &ddl, fk->columns[c]);
        }
        dm_buf_puts(&ddl, ")");
        dm_buf_printf(&reason, "Foreign key %s references %s, but no index starts with its "
                               "columns: deleting or updating a %s row scans %s, and joins on "
                               "it cannot seek.",
                      fk->name && fk->name[0] ? fk->name : "(unnamed)", fk->ref_table,
                      fk->ref_table, fk->table);
        if (dm_buf_failed(&cols) || dm_buf_failed(&name) || dm_buf_failed(&ddl) ||
            dm_buf_failed(&reason))
            adv->failed = 1;
        else
            adv_add_finding(adv, DBMGMT_ADVICE_FK_UNINDEXED, fk->table, cols.data, name.data,
                            ddl.data, reason.data);
        dm_buf_free(&cols);
        dm_buf_free(&name);
        dm_buf_free(&ddl);
        dm_buf_free(&reason);
    }
}

static void find_low_cardinality(dbmgmt_advisor *a, const dm_catalog *cat, const int *dropped,
                                 dbmgmt_advice *adv)
{
    const dm_driver *drv = a->conn->drv;
    if (!drv->column_distinct)
        return;
    for (size_t i = 0; i < cat->nindexes; i++) {
        const dm_cat_index *ix = &cat->indexes[i];
        if (dropped[i] || ix->primary || ix->unique || ix->expression || ix->ncolumns == 0)
            continue;
        double distinct = -1, rows = -1;
        dm_error err = {0};
        if (drv->column_distinct(a->conn->dc, ix->table, ix->columns[0], &distinct, &rows, &err) !=
                DBMGMT_OK ||
            distinct < 0 || rows < LOW_CARDINALITY_MIN_ROWS || distinct > LOW_CARDINALITY_DISTINCT)
            continue;
        dm_buf reason = DM_BUF_INIT;
        dm_buf_printf(&reason, "Its leading column %s has about %.0f distinct values in %.0f rows "
                               "(engine statistics): a lookup on it alone reads a large share of "
                               "the table. Lead with a more selective column, or make it partial.",
                      ix->columns[0], distinct, rows);
        index_finding(drv, adv, DBMGMT_ADVICE_LOW_CARDINALITY_LEAD, ix, 0,
                      reason.data ? reason.data : "");
        dm_buf_free(&reason);
    }
}

static void find_over_indexed(dbmgmt_advisor *a, const dm_catalog *cat,
                              const adv_table_load *load, dbmgmt_advice *adv)
{
    for (size_t t = 0; t < cat->ntables; t++) {
        const adv_table_load *l = &load[t];
        if (l->writes <= 0 || l->writes <= l->reads)
            continue;
        int32_t n = 0;
        for (size_t i = 0; i < cat->nindexes; i++)
            n += !cat->indexes[i].primary && strcmp(cat->indexes[i].table, cat->tables[t].name) == 0;
        if (n <= a->max_indexes)
            continue;
        dm_buf reason = DM_BUF_INIT;
        dm_buf_printf(&reason, "Write-heavy in the workload (%g writes, %g reads) with %d "
                               "secondary indexes (bound %d): each write updates every one. "
                               "Drop those the reads do not need.",
                      l->writes, l->reads, (int)n, (int)a->max_indexes);
        adv_add_finding(adv, DBMGMT_ADVICE_OVER_INDEXED, cat->tables[t].name, "", "", "",
                        reason.data ? reason.data : "");
        dm_buf_free(&reason);
    }
}

void adv_schema_findings(dbmgmt_advisor *a, const dm_catalog *cat, const int *used,
                         const adv_table_load *load, dbmgmt_advice *adv)
{
    const dm_driver *drv = a->conn->drv;
    int *dropped = dm_calloc(cat->nindexes + 1, sizeof *dropped);
    if (!dropped) {
        adv->failed = 1;
        return;
    }
    int *used_after = NULL; /* usage moved from dropped indexes to the ones kept */
    if (used) {
        used_after = dm_calloc(cat->nindexes + 1, sizeof *used_after);
        if (!used_after) {
            dm_free(dropped);
            adv->failed = 1;
            return;
        }
        memcpy(used_after, used, cat->nindexes * sizeof *used_after);
    }
    find_duplicates(drv, cat, dropped, used_after, adv);
    find_redundant(drv, cat, dropped, used_after, adv);
    find_unused(drv, cat, used_after, dropped, adv);
    dm_free(used_after);
    find_unindexed_fks(drv, cat, adv);
    find_low_cardinality(a, cat, dropped, adv);
    find_over_indexed(a, cat, load, adv);
    dm_free(dropped);
}
