/* Findings: building, sorting, accessors and JSON. */
#include <stdlib.h>
#include <string.h>

#include "advise_impl.h"
#include "core/alloc.h"
#include "core/json.h"

static char *copy_or_empty(dbmgmt_advice *adv, const char *s)
{
    char *c = dm_strdup(s ? s : "");
    if (!c)
        adv->failed = 1;
    return c;
}

adv_finding *adv_add_finding(dbmgmt_advice *adv, int32_t kind, const char *table,
                             const char *columns, const char *index, const char *ddl,
                             const char *reason)
{
    if (adv->failed)
        return NULL;
    if (adv->n == adv->cap) {
        size_t cap = adv->cap ? adv->cap * 2 : 16;
        adv_finding *grown = dm_realloc(adv->v, cap * sizeof *grown);
        if (!grown) {
            adv->failed = 1;
            return NULL;
        }
        adv->v = grown;
        adv->cap = cap;
    }
    adv_finding *f = &adv->v[adv->n++];
    memset(f, 0, sizeof *f);
    f->kind = kind;
    f->confirmed = 1;
    f->cost_before = f->cost_after = -1;
    f->table = copy_or_empty(adv, table);
    f->columns = copy_or_empty(adv, columns);
    f->index = copy_or_empty(adv, index);
    f->ddl = copy_or_empty(adv, ddl);
    f->reason = copy_or_empty(adv, reason);
    return adv->failed ? NULL : f;
}

int adv_finding_add_query(dbmgmt_advice *adv, adv_finding *f, const char *sql)
{
    char **grown = dm_realloc(f->queries, (f->nqueries + 1) * sizeof *grown);
    if (!grown) {
        adv->failed = 1;
        return DBMGMT_ERR_NOMEM;
    }
    f->queries = grown;
    f->queries[f->nqueries] = copy_or_empty(adv, sql);
    if (!f->queries[f->nqueries])
        return DBMGMT_ERR_NOMEM;
    f->nqueries++;
    return DBMGMT_OK;
}

static int compare_findings(const void *x, const void *y)
{
    const adv_finding *a = x, *b = y;
    int c = strcmp(a->table, b->table);
    if (!c)
        c = (a->kind > b->kind) - (a->kind < b->kind);
    if (!c)
        c = strcmp(a->columns, b->columns);
    return c ? c : strcmp(a->index, b->index);
}

void adv_sort_findings(dbmgmt_advice *adv)
{
    if (adv->n > 1)
        qsort(adv->v, adv->n, sizeof *adv->v, compare_findings);
}

void adv_join_columns(dm_buf *out, char *const *names, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (i)
            dm_buf_putc(out, ',');
        dm_buf_puts(out, names[i]);
    }
}

void adv_put_ident(const dm_driver *drv, dm_buf *out, const char *name)
{
    int plain = (name[0] >= 'a' && name[0] <= 'z') || name[0] == '_';
    for (const char *p = name; *p && plain; p++)
        plain = (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_';
    if (plain)
        dm_buf_puts(out, name);
    else
        drv->quote_ident(out, name);
}

DBMGMT_API void dbmgmt_advice_free(dbmgmt_advice *adv)
{
    if (!adv)
        return;
    for (size_t i = 0; i < adv->n; i++) {
        adv_finding *f = &adv->v[i];
        dm_free(f->table);
        dm_free(f->columns);
        dm_free(f->index);
        dm_free(f->ddl);
        dm_free(f->reason);
        for (size_t q = 0; q < f->nqueries; q++)
            dm_free(f->queries[q]);
        dm_free(f->queries);
    }
    dm_free(adv->v);
    dm_free(adv->note);
    dm_free(adv);
}

static const adv_finding *at(const dbmgmt_advice *adv, size_t i)
{
    return adv && i < adv->n ? &adv->v[i] : NULL;
}

DBMGMT_API size_t dbmgmt_advice_count(const dbmgmt_advice *adv)
{
    return adv ? adv->n : 0;
}

DBMGMT_API int32_t dbmgmt_advice_kind(const dbmgmt_advice *adv, size_t i)
{
    const adv_finding *f = at(adv, i);
    return f ? f->kind : 0;
}

DBMGMT_API const char *dbmgmt_advice_kind_name(int32_t kind)
{
    static const char *const names[] = {NULL,     "missing",      "duplicate",
                                        "redundant", "unused",   "fk_unindexed",
                                        "low_cardinality_lead", "over_indexed"};
    return kind >= 1 && kind <= 7 ? names[kind] : NULL;
}

DBMGMT_API const char *dbmgmt_advice_table(const dbmgmt_advice *adv, size_t i)
{
    const adv_finding *f = at(adv, i);
    return f ? f->table : NULL;
}

DBMGMT_API const char *dbmgmt_advice_columns(const dbmgmt_advice *adv, size_t i)
{
    const adv_finding *f = at(adv, i);
    return f ? f->columns : NULL;
}

DBMGMT_API const char *dbmgmt_advice_index(const dbmgmt_advice *adv, size_t i)
{
    const adv_finding *f = at(adv, i);
    return f ? f->index : NULL;
}

DBMGMT_API const char *dbmgmt_advice_ddl(const dbmgmt_advice *adv, size_t i)
{
    const adv_finding *f = at(adv, i);
    return f ? f->ddl : NULL;
}

DBMGMT_API const char *dbmgmt_advice_reason(const dbmgmt_advice *adv, size_t i)
{
    const adv_finding *f = at(adv, i);
    return f ? f->reason : NULL;
}

DBMGMT_API int32_t dbmgmt_advice_confirmed(const dbmgmt_advice *adv, size_t i)
{
    const adv_finding *f = at(adv, i);
    return f ? f->confirmed : 0;
}

DBMGMT_API double dbmgmt_advice_cost_before(const dbmgmt_advice *adv, size_t i)
{
    const adv_finding *f = at(adv, i);
    return f ? f->cost_before : -1;
}

DBMGMT_API double dbmgmt_advice_cost_after(const dbmgmt_advice *adv, size_t i)
{
    const adv_finding *f = at(adv, i);
    return f ? f->cost_after : -1;
}

DBMGMT_API size_t dbmgmt_advice_queries(const dbmgmt_advice *adv, size_t i)
{
    const adv_finding *f = at(adv, i);
    return f ? f->nqueries : 0;
}

DBMGMT_API const char *dbmgmt_advice_query_at(const dbmgmt_advice *adv, size_t i, size_t q)
{
    const adv_finding *f = at(adv, i);
    return f && q < f->nqueries ? f->queries[q] : NULL;
}

DBMGMT_API const char *dbmgmt_advice_note(const dbmgmt_advice *adv)
{
    return adv && adv->note ? adv->note : "";
}

DBMGMT_API size_t dbmgmt_advice_skipped(const dbmgmt_advice *adv)
{
    return adv ? adv->skipped : 0;
}

static void json_finding(dm_json *j, const adv_finding *f)
{
    dm_json_object_begin(j);
    dm_json_key(j, "kind");
    dm_json_string(j, dbmgmt_advice_kind_name(f->kind));
    dm_json_key(j, "table");
    dm_json_string(j, f->table);
    dm_json_key(j, "columns");
    dm_json_array_begin(j);
    for (const char *p = f->columns; *p;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        dm_json_string_len(j, p, len);
        p += len + (comma != NULL);
    }
    dm_json_array_end(j);
    dm_json_key(j, "index");
    dm_json_string(j, f->index);
    dm_json_key(j, "ddl");
    dm_json_string(j, f->ddl);
    dm_json_key(j, "reason");
    dm_json_string(j, f->reason);
    dm_json_key(j, "confirmed");
    dm_json_bool(j, f->confirmed);
    dm_json_key(j, "cost_before");
    if (f->cost_before < 0)
        dm_json_null(j);
    else
        dm_json_double(j, f->cost_before);
    dm_json_key(j, "cost_after");
    if (f->cost_after < 0)
        dm_json_null(j);
    else
        dm_json_double(j, f->cost_after);
    dm_json_key(j, "queries");
    dm_json_array_begin(j);
    for (size_t q = 0; q < f->nqueries; q++)
        dm_json_string(j, f->queries[q]);
    dm_json_array_end(j);
    dm_json_object_end(j);
}

DBMGMT_API char *dbmgmt_advice_to_json(const dbmgmt_advice *adv)
{
    if (!adv) {
        dm_error_invalid("dbmgmt_advice_to_json", "adv is NULL");
        return NULL;
    }
    dm_buf b = DM_BUF_INIT;
    dm_json j;
    dm_json_init(&j, &b);
    dm_json_object_begin(&j);
    dm_json_key(&j, "engine");
    dm_json_string(&j, adv->engine);
    dm_json_key(&j, "confirmation");
    dm_json_bool(&j, adv->confirmation);
    dm_json_key(&j, "note");
    dm_json_string(&j, dbmgmt_advice_note(adv));
    dm_json_key(&j, "statements");
    dm_json_int(&j, (int64_t)adv->statements);
    dm_json_key(&j, "skipped");
    dm_json_int(&j, (int64_t)adv->skipped);
    dm_json_key(&j, "findings");
    dm_json_array_begin(&j);
    for (size_t i = 0; i < adv->n; i++)
        json_finding(&j, &adv->v[i]);
    dm_json_array_end(&j);
    dm_json_object_end(&j);
    int failed = dm_json_failed(&j);
    char *out = dm_buf_detach(&b);
    if (!out || failed) {
        dm_free(out);
        dm_error_set(NULL, DBMGMT_ERR_NOMEM, "out of memory rendering index advice");
        return NULL;
    }
    return out;
}
