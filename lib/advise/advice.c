/* Index advice: its findings (a lib/findings list of adv_finding) built,
 * sorted, read and rendered as JSON. */
#include <string.h>

#include "advise_impl.h"
#include "core/alloc.h"
#include "sql/lexer.h"

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
    adv_finding *f = dm_findings_add(&adv->findings, sizeof *f);
    if (!f) {
        adv->failed = 1;
        return NULL;
    }
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

int adv_finding_set_keys(dbmgmt_advice *adv, adv_finding *f, const adv_key *keys, size_t n)
{
    f->keys = dm_calloc(n ? n : 1, sizeof *f->keys);
    if (!f->keys) {
        adv->failed = 1;
        return DBMGMT_ERR_NOMEM;
    }
    f->nkeys = n; /* zeroed: what is not copied yet is released as NULL */
    for (size_t i = 0; i < n && !adv->failed; i++) {
        f->keys[i].desc = keys[i].desc;
        f->keys[i].column = copy_or_empty(adv, keys[i].column);
        if (keys[i].collation)
            f->keys[i].collation = copy_or_empty(adv, keys[i].collation);
    }
    return adv->failed ? DBMGMT_ERR_NOMEM : DBMGMT_OK;
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
    dm_findings_sort(&adv->findings, sizeof(adv_finding), compare_findings);
}

void adv_join_columns(dm_buf *out, char *const *names, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (i)
            dm_buf_putc(out, ',');
        dm_buf_puts(out, names[i]);
    }
}

void adv_join_keys(dm_buf *out, const adv_key *keys, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (i)
            dm_buf_putc(out, ',');
        dm_buf_puts(out, keys[i].column);
    }
}

/* A bare word the SQL lexer takes for a keyword (t1(index) does not parse). */
static int is_keyword(const char *name)
{
    dm_sql_lexer lx;
    dm_sql_token tok;
    dm_sql_lexer_init(&lx, DBMGMT_ENGINE_SQLITE, name, strlen(name), 0);
    return dm_sql_lexer_next(&lx, &tok) == 1 && tok.kind == DM_SQL_TOK_KEYWORD;
}

static int is_plain_word(const char *name, int upper_ok)
{
    int plain = (name[0] >= 'a' && name[0] <= 'z') || name[0] == '_' ||
                (upper_ok && name[0] >= 'A' && name[0] <= 'Z');
    for (const char *p = name; *p && plain; p++)
        plain = (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_' ||
                (upper_ok && *p >= 'A' && *p <= 'Z');
    return plain;
}

void adv_put_ident(const dm_driver *drv, dm_buf *out, const char *name)
{
    if (is_plain_word(name, 0) && !is_keyword(name))
        dm_buf_puts(out, name);
    else
        drv->quote_ident(out, name);
}

void adv_put_key(const dm_driver *drv, dm_buf *out, const adv_key *key)
{
    adv_put_ident(drv, out, key->column);
    if (key->collation) {
        dm_buf_puts(out, " COLLATE ");
        /* SQLite's NOCASE as it is written; "en_US" and "C" quoted, as PostgreSQL wants */
        if (is_plain_word(key->collation, drv->engine == DBMGMT_ENGINE_SQLITE))
            dm_buf_puts(out, key->collation);
        else
            drv->quote_ident(out, key->collation);
    }
    if (key->desc)
        dm_buf_puts(out, " DESC");
}

static void finding_release(void *record)
{
    adv_finding *f = record;
    dm_free(f->table);
    dm_free(f->columns);
    dm_free(f->index);
    dm_free(f->ddl);
    dm_free(f->reason);
    for (size_t q = 0; q < f->nqueries; q++)
        dm_free(f->queries[q]);
    dm_free(f->queries);
    for (size_t k = 0; k < f->nkeys; k++) {
        dm_free(f->keys[k].column);
        dm_free(f->keys[k].collation);
    }
    dm_free(f->keys);
}

DBMGMT_API void dbmgmt_advice_free(dbmgmt_advice *adv)
{
    if (!adv)
        return;
    dm_findings_clear(&adv->findings, sizeof(adv_finding), finding_release);
    dm_free(adv->note);
    dm_free(adv);
}

static const dm_findings *advice_findings(const dbmgmt_advice *adv)
{
    return adv ? &adv->findings : NULL;
}

DBMGMT_API size_t dbmgmt_advice_count(const dbmgmt_advice *adv)
{
    return dm_findings_count(advice_findings(adv));
}

DBMGMT_API int32_t dbmgmt_advice_kind(const dbmgmt_advice *adv, size_t i)
{
    return DM_FINDING_INT32(advice_findings(adv), adv_finding, i, kind, 0);
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
    return DM_FINDING_TEXT(advice_findings(adv), adv_finding, i, table);
}

DBMGMT_API const char *dbmgmt_advice_columns(const dbmgmt_advice *adv, size_t i)
{
    return DM_FINDING_TEXT(advice_findings(adv), adv_finding, i, columns);
}

DBMGMT_API const char *dbmgmt_advice_index(const dbmgmt_advice *adv, size_t i)
{
    return DM_FINDING_TEXT(advice_findings(adv), adv_finding, i, index);
}

DBMGMT_API const char *dbmgmt_advice_ddl(const dbmgmt_advice *adv, size_t i)
{
    return DM_FINDING_TEXT(advice_findings(adv), adv_finding, i, ddl);
}

DBMGMT_API const char *dbmgmt_advice_reason(const dbmgmt_advice *adv, size_t i)
{
    return DM_FINDING_TEXT(advice_findings(adv), adv_finding, i, reason);
}

DBMGMT_API int32_t dbmgmt_advice_confirmed(const dbmgmt_advice *adv, size_t i)
{
    return DM_FINDING_INT32(advice_findings(adv), adv_finding, i, confirmed, 0);
}

DBMGMT_API double dbmgmt_advice_cost_before(const dbmgmt_advice *adv, size_t i)
{
    return DM_FINDING_DOUBLE(advice_findings(adv), adv_finding, i, cost_before, -1);
}

DBMGMT_API double dbmgmt_advice_cost_after(const dbmgmt_advice *adv, size_t i)
{
    return DM_FINDING_DOUBLE(advice_findings(adv), adv_finding, i, cost_after, -1);
}

DBMGMT_API size_t dbmgmt_advice_queries(const dbmgmt_advice *adv, size_t i)
{
    return DM_FINDING_SIZE(advice_findings(adv), adv_finding, i, nqueries, 0);
}

DBMGMT_API const char *dbmgmt_advice_query_at(const dbmgmt_advice *adv, size_t i, size_t q)
{
    const adv_finding *f = dm_findings_get(advice_findings(adv), sizeof *f, i);
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

/* A cost member: null when unknown (negative). */
static void json_cost(dm_json *j, const char *key, double cost)
{
    dm_json_key(j, key);
    if (cost < 0)
        dm_json_null(j);
    else
        dm_json_double(j, cost);
}

/* "a,b" as ["a","b"]. */
static void json_column_list(dm_json *j, const char *key, const char *columns)
{
    dm_json_key(j, key);
    dm_json_array_begin(j);
    for (const char *p = columns; *p;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        dm_json_string_len(j, p, len);
        p += len + (comma != NULL);
    }
    dm_json_array_end(j);
}

/* The proposed key, one object per column: {"column", "collation", "desc"}. */
static void json_keys(dm_json *j, const adv_finding *f)
{
    dm_json_key(j, "keys");
    dm_json_array_begin(j);
    for (size_t k = 0; k < f->nkeys; k++) {
        dm_json_object_begin(j);
        dm_findings_json_text(j, "column", f->keys[k].column);
        dm_json_key(j, "collation");
        if (f->keys[k].collation)
            dm_json_string(j, f->keys[k].collation);
        else
            dm_json_null(j);
        dm_findings_json_bool(j, "desc", f->keys[k].desc);
        dm_json_object_end(j);
    }
    dm_json_array_end(j);
}

static void json_finding(dm_json *j, const void *record, const void *ctx)
{
    const adv_finding *f = record;
    (void)ctx;
    dm_json_object_begin(j);
    dm_findings_json_text(j, "kind", dbmgmt_advice_kind_name(f->kind));
    dm_findings_json_text(j, "table", f->table);
    json_column_list(j, "columns", f->columns);
    if (f->kind == DBMGMT_ADVICE_MISSING)
        json_keys(j, f);
    dm_findings_json_text(j, "index", f->index);
    dm_findings_json_text(j, "ddl", f->ddl);
    dm_findings_json_text(j, "reason", f->reason);
    dm_findings_json_bool(j, "confirmed", f->confirmed);
    json_cost(j, "cost_before", f->cost_before);
    json_cost(j, "cost_after", f->cost_after);
    dm_json_key(j, "queries");
    dm_json_array_begin(j);
    for (size_t q = 0; q < f->nqueries; q++)
        dm_json_string(j, f->queries[q]);
    dm_json_array_end(j);
    dm_json_object_end(j);
}

static void advice_json_members(dm_json *j, const void *owner)
{
    const dbmgmt_advice *adv = owner;
    dm_findings_json_text(j, "engine", adv->engine);
    dm_findings_json_bool(j, "confirmation", adv->confirmation);
    dm_findings_json_text(j, "note", dbmgmt_advice_note(adv));
    dm_findings_json_int(j, "statements", (int64_t)adv->statements);
    dm_findings_json_int(j, "skipped", (int64_t)adv->skipped);
    dm_findings_json_array(j, "findings", &adv->findings, sizeof(adv_finding), json_finding, NULL);
}

DBMGMT_API char *dbmgmt_advice_to_json(const dbmgmt_advice *adv)
{
    return dm_findings_document(adv, "dbmgmt_advice_to_json", "adv is NULL", "index advice",
                                advice_json_members);
}
