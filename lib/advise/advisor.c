/* The advisor: workload, candidates by the left-prefix rule, confirmation
 * by the engine's planner (DESIGN §8). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "advise_impl.h"
#include "core/alloc.h"
#include "sql/lexer.h"
#include "sql/split.h"

#define DEFAULT_MIN_SAVING 0.3
#define DEFAULT_MAX_INDEXES 5
#define MAX_RANGE_CANDIDATES 3
#define MAX_NAME 60

#define CHECK_ARG(cond, fn, what)                                                                 \
    do {                                                                                          \
        if (!(cond))                                                                              \
            return dm_error_invalid(fn, what);                                                    \
    } while (0)

typedef struct candidate {
    const dm_cat_table *table;
    adv_key cols[ADV_MAX_COLS];
    size_t n, neq;
    int primary;      /* the first candidate of some access (kept when unconfirmed) */
    const char *why;  /* static: how the columns were chosen */
    size_t *queries;  /* queries that asked for it */
    size_t nqueries, capq;
    size_t *used_by;  /* queries whose plan uses it */
    size_t nused, capu;
    char *name, *ddl, *plan_name;
} candidate;

typedef struct candidates {
    candidate *v;
    size_t n, cap;
    int failed;
} candidates;

/* ---- the advisor object ---------------------------------------------------------- */

DBMGMT_API int dbmgmt_advisor_new(dbmgmt_advisor **out, dbmgmt_conn *conn)
{
    CHECK_ARG(out, "dbmgmt_advisor_new", "out is NULL");
    *out = NULL;
    CHECK_ARG(conn, "dbmgmt_advisor_new", "conn is NULL");
    dbmgmt_advisor *a = dm_calloc(1, sizeof *a);
    if (!a)
        return dm_error_set(NULL, DBMGMT_ERR_NOMEM, "out of memory creating an advisor");
    a->conn = conn;
    a->min_saving = DEFAULT_MIN_SAVING;
    a->max_indexes = DEFAULT_MAX_INDEXES;
    *out = a;
    return DBMGMT_OK;
}

DBMGMT_API void dbmgmt_advisor_free(dbmgmt_advisor *a)
{
    if (!a)
        return;
    for (size_t i = 0; i < a->nqueries; i++) {
        dm_free(a->queries[i].sql);
        adv_analysis_clear(&a->queries[i].an);
    }
    dm_free(a->queries);
    dm_free(a->slots);
    dm_free(a);
}

DBMGMT_API const char *dbmgmt_advisor_errmsg(const dbmgmt_advisor *a)
{
    return a ? a->err.msg : "";
}

DBMGMT_API int dbmgmt_advisor_set_min_saving(dbmgmt_advisor *a, double fraction)
{
    CHECK_ARG(a, "dbmgmt_advisor_set_min_saving", "a is NULL");
    CHECK_ARG(fraction >= 0 && fraction <= 1, "dbmgmt_advisor_set_min_saving",
              "fraction must be within 0..1");
    a->min_saving = fraction;
    return DBMGMT_OK;
}

DBMGMT_API int dbmgmt_advisor_set_max_indexes(dbmgmt_advisor *a, int32_t max_indexes)
{
    CHECK_ARG(a, "dbmgmt_advisor_set_max_indexes", "a is NULL");
    CHECK_ARG(max_indexes >= 1, "dbmgmt_advisor_set_max_indexes", "max_indexes must be >= 1");
    a->max_indexes = max_indexes;
    return DBMGMT_OK;
}

/* 64-bit FNV-1a in uint64_t: size_t is 32 bits on armhf, where the constants do not fit. */
static size_t hash_text(const char *s)
{
    uint64_t h = UINT64_C(1469598103934665603);
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * UINT64_C(1099511628211);
    return (size_t)h; /* the same value as before on 64-bit targets */
}

static int rehash(dbmgmt_advisor *a)
{
    size_t n = a->nslots ? a->nslots * 2 : 256;
    size_t *slots = dm_calloc(n, sizeof *slots);
    if (!slots)
        return DBMGMT_ERR_NOMEM;
    for (size_t i = 0; i < a->nqueries; i++) {
        size_t h = hash_text(a->queries[i].sql) & (n - 1);
        while (slots[h])
            h = (h + 1) & (n - 1);
        slots[h] = i + 1;
    }
    dm_free(a->slots);
    a->slots = slots;
    a->nslots = n;
    return DBMGMT_OK;
}

/* Append a query owning text (freed here when memory runs out). */
static int push_query(dbmgmt_advisor *a, char *text, double weight)
{
    if (a->nqueries == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 64;
        adv_query *grown = dm_realloc(a->queries, cap * sizeof *grown);
        if (!grown)
            return DBMGMT_ERR_NOMEM; /* the caller frees text */
        a->queries = grown;
        a->cap = cap;
    }
    memset(&a->queries[a->nqueries], 0, sizeof a->queries[0]);
    a->queries[a->nqueries].sql = text;
    a->queries[a->nqueries].weight = weight;
    a->nqueries++;
    return DBMGMT_OK;
}

/* Add sql[0..len) (trimmed) with weight, merging equal texts. */
static int add_statement(dbmgmt_advisor *a, const char *sql, size_t len, double weight)
{
    while (len && (sql[len - 1] == ';' || sql[len - 1] == ' ' || sql[len - 1] == '\n' ||
                   sql[len - 1] == '\t' || sql[len - 1] == '\r'))
        len--;
    while (len && (*sql == ' ' || *sql == '\n' || *sql == '\t' || *sql == '\r'))
        sql++, len--;
    if (len == 0)
        return DBMGMT_OK;
    char *text = dm_strndup(sql, len);
    if (!text)
        return dm_error_set(&a->err, DBMGMT_ERR_NOMEM, "out of memory");
    if ((a->nqueries + 1) * 2 > a->nslots && rehash(a) != DBMGMT_OK)
        goto nomem;
    size_t h = hash_text(text) & (a->nslots - 1);
    for (; a->slots[h]; h = (h + 1) & (a->nslots - 1)) {
        adv_query *q = &a->queries[a->slots[h] - 1];
        if (strcmp(q->sql, text) == 0) {
            q->weight += weight;
            dm_free(text);
            return DBMGMT_OK;
        }
    }
    if (push_query(a, text, weight) != DBMGMT_OK)
        goto nomem;
    a->slots[h] = a->nqueries;
    return DBMGMT_OK;
nomem:
    dm_free(text);
    return dm_error_set(&a->err, DBMGMT_ERR_NOMEM, "out of memory");
}

DBMGMT_API int dbmgmt_advisor_add_query(dbmgmt_advisor *a, const char *sql, double weight)
{
    CHECK_ARG(a, "dbmgmt_advisor_add_query", "a is NULL");
    CHECK_ARG(sql, "dbmgmt_advisor_add_query", "sql is NULL");
    CHECK_ARG(weight > 0, "dbmgmt_advisor_add_query", "weight must be > 0");
    dm_error_reset(&a->err);
    return add_statement(a, sql, strlen(sql), weight);
}

DBMGMT_API int dbmgmt_advisor_add_file(dbmgmt_advisor *a, const char *path)
{
    CHECK_ARG(a, "dbmgmt_advisor_add_file", "a is NULL");
    CHECK_ARG(path, "dbmgmt_advisor_add_file", "path is NULL");
    dm_error_reset(&a->err);
    FILE *f = fopen(path, "rb");
    if (!f)
        return dm_error_set(&a->err, DBMGMT_ERR_IO, "%s: cannot open the file", path);
    dm_buf text = DM_BUF_INIT;
    char chunk[8192];
    size_t got;
    while ((got = fread(chunk, 1, sizeof chunk, f)) > 0)
        dm_buf_append(&text, chunk, got);
    int read_error = ferror(f);
    fclose(f);
    if (read_error) {
        dm_buf_free(&text);
        return dm_error_set(&a->err, DBMGMT_ERR_IO, "%s: read error", path);
    }
    if (dm_buf_failed(&text)) {
        dm_buf_free(&text);
        return dm_error_set(&a->err, DBMGMT_ERR_NOMEM, "out of memory reading %s", path);
    }
    dbmgmt_statements *list = NULL;
    int rc = dm_sql_split(dbmgmt_conn_engine(a->conn), text.data ? text.data : "", text.len, NULL,
                          &list, &a->err);
    if (rc != DBMGMT_OK) {
        dm_error_set(&a->err, rc, "%s:%s", path, a->err.msg);
        goto out;
    }
    for (size_t i = 0; rc == DBMGMT_OK; i++) {
        const dm_sql_stmt *st = dm_sql_statement_at(list, i);
        if (!st)
            break;
        rc = add_statement(a, st->text, st->command_len, 1.0);
    }
out:
    dbmgmt_statements_free(list);
    dm_buf_free(&text);
    return rc;
}

static void collect_engine_statement(void *userdata, const char *sql, double calls)
{
    dbmgmt_advisor *a = userdata;
    if (sql && calls > 0)
        (void)add_statement(a, sql, strlen(sql), calls);
}

DBMGMT_API int dbmgmt_advisor_use_engine_stats(dbmgmt_advisor *a)
{
    CHECK_ARG(a, "dbmgmt_advisor_use_engine_stats", "a is NULL");
    dm_error_reset(&a->err);
    const dm_driver *drv = a->conn->drv;
    if (!drv->workload)
        return dm_error_set(&a->err, DBMGMT_ERR_UNSUPPORTED,
                            "%s records no statement statistics: give the workload with "
                            "dbmgmt_advisor_add_query or dbmgmt_advisor_add_file",
                            drv->name);
    return drv->workload(a->conn->dc, collect_engine_statement, a, &a->err);
}

/* ---- candidates --------------------------------------------------------------- */

static int names_contain(char *const *names, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (names[i] == name || strcmp(names[i], name) == 0)
            return 1;
    return 0;
}

static int keys_contain(const adv_key *keys, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (keys[i].column == name || strcmp(keys[i].column, name) == 0)
            return 1;
    return 0;
}

/* The catalog gives an index's columns, not their collations or
 * directions: a candidate that names a collation, or orders its columns in
 * mixed directions, is left to the planner (which sees the real index)
 * rather than taken as served. All-descending is served backwards. */
static int catalog_can_judge(const candidate *c)
{
    for (size_t i = 0; i < c->n; i++)
        if (c->cols[i].collation || (i > c->neq && c->cols[i].desc != c->cols[c->neq].desc))
            return 0;
    return 1;
}

/* An existing index serves the candidate when its first neq columns are the
 * candidate's equality columns (any order) and the next ones follow the
 * candidate's remaining columns in order. */
static int index_serves(const dm_cat_index *ix, const candidate *c)
{
    if (ix->partial || ix->ncolumns < c->n || strcmp(ix->table, c->table->name) != 0)
        return 0;
    for (size_t i = 0; i < c->neq; i++)
        if (!names_contain(ix->columns, c->neq, c->cols[i].column))
            return 0;
    for (size_t i = c->neq; i < c->n; i++)
        if (strcmp(ix->columns[i], c->cols[i].column) != 0)
            return 0;
    return 1;
}

static int already_served(const dm_catalog *cat, const candidate *c)
{
    if (!catalog_can_judge(c))
        return 0;
    for (size_t i = 0; i < cat->nindexes; i++)
        if (index_serves(&cat->indexes[i], c))
            return 1;
    return 0;
}

static int push_index(size_t **v, size_t *n, size_t *cap, size_t value)
{
    if (*n && (*v)[*n - 1] == value)
        return 1;
    if (*n == *cap) {
        size_t c = *cap ? *cap * 2 : 4;
        size_t *grown = dm_realloc(*v, c * sizeof *grown);
        if (!grown)
            return 0;
        *v = grown;
        *cap = c;
    }
    (*v)[(*n)++] = value;
    return 1;
}

static int same_collation(const char *x, const char *y)
{
    return x == y || (x && y && strcmp(x, y) == 0);
}

static int same_candidate(const candidate *x, const candidate *y)
{
    if (x->table != y->table || x->n != y->n || x->neq != y->neq)
        return 0;
    for (size_t i = 0; i < x->n; i++)
        if (x->cols[i].column != y->cols[i].column || x->cols[i].desc != y->cols[i].desc ||
            !same_collation(x->cols[i].collation, y->cols[i].collation))
            return 0;
    return 1;
}

static void propose(candidates *cs, const dm_catalog *cat, const candidate *c, size_t query)
{
    if (c->n == 0 || cs->failed || already_served(cat, c))
        return;
    candidate *found = NULL;
    for (size_t i = 0; i < cs->n && !found; i++)
        if (same_candidate(&cs->v[i], c))
            found = &cs->v[i];
    if (!found) {
        if (cs->n == cs->cap) {
            size_t cap = cs->cap ? cs->cap * 2 : 32;
            candidate *grown = dm_realloc(cs->v, cap * sizeof *grown);
            if (!grown) {
                cs->failed = 1;
                return;
            }
            cs->v = grown;
            cs->cap = cap;
        }
        found = &cs->v[cs->n++];
        *found = *c;
        found->queries = found->used_by = NULL;
        found->nqueries = found->capq = found->nused = found->capu = 0;
        found->name = found->ddl = found->plan_name = NULL;
    }
    found->primary |= c->primary;
    if (!push_index(&found->queries, &found->nqueries, &found->capq, query))
        cs->failed = 1;
}

static void cand_init(candidate *c, const dm_cat_table *t, const adv_cols *eq, size_t neq,
                      const char *why)
{
    memset(c, 0, sizeof *c);
    c->table = t;
    c->why = why;
    for (size_t i = 0; i < neq && i < ADV_MAX_COLS; i++)
        c->cols[c->n++] = eq->v[i];
    c->neq = c->n;
}

static void cand_append(candidate *c, const adv_cols *more)
{
    for (size_t i = 0; i < more->n && c->n < ADV_MAX_COLS; i++)
        if (!keys_contain(c->cols, c->n, more->v[i].column))
            c->cols[c->n++] = more->v[i];
}

/* The left-prefix rule: equality (and join) columns, then one range column;
 * or equality columns then the ORDER BY / GROUP BY columns. */
static void candidates_for_access(candidates *cs, const dm_catalog *cat, const adv_access *acc,
                                  size_t query)
{
    candidate c;
    int first = 1;
    size_t nranges = acc->range.n < MAX_RANGE_CANDIDATES ? acc->range.n : MAX_RANGE_CANDIDATES;
    size_t eq_only = acc->eq.n - acc->njoin;
    for (size_t r = 0; r < (nranges ? nranges : 1); r++) {
        cand_init(&c, acc->table, &acc->eq, acc->eq.n,
                  nranges ? "equality columns, then a range column" : "equality columns");
        if (nranges && !keys_contain(c.cols, c.n, acc->range.v[r].column) && c.n < ADV_MAX_COLS)
            c.cols[c.n++] = acc->range.v[r];
        c.primary = first;
        first = first && c.n == 0;
        propose(cs, cat, &c, query);
    }
    if (acc->njoin && eq_only) { /* the table as the outer side of the join */
        cand_init(&c, acc->table, &acc->eq, eq_only,
                  nranges ? "equality columns, then a range column" : "equality columns");
        if (nranges && c.n < ADV_MAX_COLS)
            c.cols[c.n++] = acc->range.v[0];
        propose(cs, cat, &c, query);
    }
    if (acc->order_ok) {
        cand_init(&c, acc->table, &acc->eq, acc->eq.n, "equality columns, then the ORDER BY columns");
        cand_append(&c, &acc->order);
        c.primary = first;
        first = 0;
        if (c.n > c.neq)
            propose(cs, cat, &c, query);
    }
    if (acc->group_ok) {
        cand_init(&c, acc->table, &acc->eq, acc->eq.n, "equality columns, then the GROUP BY columns");
        cand_append(&c, &acc->group);
        c.primary = first;
        if (c.n > c.neq)
            propose(cs, cat, &c, query);
    }
}

static void candidates_free(candidates *cs)
{
    for (size_t i = 0; i < cs->n; i++) {
        dm_free(cs->v[i].queries);
        dm_free(cs->v[i].used_by);
        dm_free(cs->v[i].name);
        dm_free(cs->v[i].ddl);
        dm_free(cs->v[i].plan_name);
    }
    dm_free(cs->v);
}

static int name_taken(const dm_catalog *cat, const candidates *cs, size_t upto, const char *name)
{
    for (size_t i = 0; i < cat->nindexes; i++)
        if (strcmp(cat->indexes[i].name, name) == 0)
            return 1;
    for (size_t i = 0; i < upto; i++)
        if (cs->v[i].name && strcmp(cs->v[i].name, name) == 0)
            return 1;
    return 0;
}

/* idx_<table>_<columns>, each column followed by _<collation> and _desc
 * when it has them, made an identifier, unique, and its DDL. */
static int name_candidate(const dm_driver *drv, const dm_catalog *cat, candidates *cs, size_t k)
{
    candidate *c = &cs->v[k];
    dm_buf name = DM_BUF_INIT, ddl = DM_BUF_INIT;
    dm_buf_puts(&name, "idx_");
    dm_buf_puts(&name, c->table->name);
    for (size_t i = 0; i < c->n; i++) {
        dm_buf_putc(&name, '_');
        dm_buf_puts(&name, c->cols[i].column);
        if (c->cols[i].collation)
            dm_buf_printf(&name, "_%s", c->cols[i].collation);
        if (c->cols[i].desc)
            dm_buf_puts(&name, "_desc");
    }
    if (!dm_buf_failed(&name)) {
        for (char *p = name.data; *p; p++)
            if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9')))
                *p = '_';
        if (name.len > MAX_NAME)
            name.data[name.len = MAX_NAME] = '\0';
        size_t base = name.len;
        for (int n = 2; !dm_buf_failed(&name) && name_taken(cat, cs, k, name.data); n++) {
            name.len = base;
            dm_buf_printf(&name, "_%d", n);
        }
    }
    dm_buf_puts(&ddl, "CREATE INDEX ");
    dm_buf_puts(&ddl, name.data ? name.data : "");
    dm_buf_puts(&ddl, " ON ");
    adv_put_ident(drv, &ddl, c->table->name);
    dm_buf_puts(&ddl, " (");
    for (size_t i = 0; i < c->n; i++) {
        if (i)
            dm_buf_puts(&ddl, ", ");
        adv_put_key(drv, &ddl, &c->cols[i]);
    }
    dm_buf_puts(&ddl, ")");
    if (dm_buf_failed(&name) || dm_buf_failed(&ddl)) {
        dm_buf_free(&name);
        dm_buf_free(&ddl);
        return DBMGMT_ERR_NOMEM;
    }
    c->name = dm_buf_detach(&name);
    c->ddl = dm_buf_detach(&ddl);
    return DBMGMT_OK;
}

/* ---- confirmation -------------------------------------------------------------- */

/* name appears in the plan as a whole word. */
static int plan_mentions(const char *plan, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = strstr(plan, name); p; p = strstr(p + 1, name)) {
        int before_ok = p == plan || !dm_sql_is_ident_char((unsigned char)p[-1]);
        if (before_ok && !dm_sql_is_ident_char((unsigned char)p[n]))
            return 1;
    }
    return 0;
}

static int query_explainable(const adv_query *q)
{
    return !q->skipped && (q->an.naccesses > 0);
}

/* Plans without candidates: costs before, and which existing indexes the
 * workload uses (used[] per catalog index). */
static int explain_before(dbmgmt_advisor *a, dm_whatif *w, const dm_catalog *cat, int *used,
                          dm_buf *plan)
{
    const dm_driver *drv = a->conn->drv;
    for (size_t qi = 0; qi < a->nqueries; qi++) {
        adv_query *q = &a->queries[qi];
        if (!query_explainable(q))
            continue;
        dm_buf_clear(plan);
        dm_error err = {0};
        if (drv->whatif_explain(w, q->sql, plan, &q->cost_before, &err) != DBMGMT_OK) {
            if (err.code == DBMGMT_ERR_NOMEM)
                return DBMGMT_ERR_NOMEM; /* not a query the planner refused */
            q->skipped = 1;
            continue;
        }
        for (size_t i = 0; i < cat->nindexes; i++)
            if (!used[i] && plan->data && plan_mentions(plan->data, cat->indexes[i].name))
                used[i] = 1;
    }
    return DBMGMT_OK;
}

static int explain_after(dbmgmt_advisor *a, dm_whatif *w, candidates *cs, dm_buf *plan,
                         const size_t *first_cand_of_query)
{
    const dm_driver *drv = a->conn->drv;
    (void)first_cand_of_query;
    /* queries -> their candidates: walk candidates per query through an index */
    size_t *order = NULL, *start = NULL;
    size_t total = 0;
    for (size_t k = 0; k < cs->n; k++)
        total += cs->v[k].nqueries;
    order = dm_malloc((total ? total : 1) * sizeof *order);
    start = dm_calloc(a->nqueries + 1, sizeof *start);
    if (!order || !start) {
        dm_free(order);
        dm_free(start);
        return DBMGMT_ERR_NOMEM;
    }
    for (size_t k = 0; k < cs->n; k++)
        for (size_t j = 0; j < cs->v[k].nqueries; j++)
            start[cs->v[k].queries[j] + 1]++;
    for (size_t qi = 0; qi < a->nqueries; qi++)
        start[qi + 1] += start[qi];
    size_t *fill = dm_calloc(a->nqueries + 1, sizeof *fill);
    if (!fill) {
        dm_free(order);
        dm_free(start);
        return DBMGMT_ERR_NOMEM;
    }
    for (size_t k = 0; k < cs->n; k++)
        for (size_t j = 0; j < cs->v[k].nqueries; j++) {
            size_t qi = cs->v[k].queries[j];
            order[start[qi] + fill[qi]++] = k;
        }
    dm_free(fill);
    int rc = DBMGMT_OK;
    for (size_t qi = 0; qi < a->nqueries && rc == DBMGMT_OK; qi++) {
        adv_query *q = &a->queries[qi];
        if (start[qi] == start[qi + 1] || q->skipped)
            continue;
        dm_buf_clear(plan);
        dm_error err = {0};
        if (drv->whatif_explain(w, q->sql, plan, &q->cost_after, &err) != DBMGMT_OK) {
            if (err.code == DBMGMT_ERR_NOMEM) {
                rc = DBMGMT_ERR_NOMEM;
                break;
            }
            q->skipped = 1;
            continue;
        }
        for (size_t j = start[qi]; j < start[qi + 1]; j++) {
            candidate *c = &cs->v[order[j]];
            if (c->plan_name && plan->data && plan_mentions(plan->data, c->plan_name) &&
                !push_index(&c->used_by, &c->nused, &c->capu, qi))
                rc = DBMGMT_ERR_NOMEM;
        }
    }
    dm_free(order);
    dm_free(start);
    return rc;
}

/* ---- findings for candidates ----------------------------------------------------- */

static int table_index(const dm_catalog *cat, const dm_cat_table *t)
{
    return (int)(t - cat->tables);
}

static void describe_candidate(dm_buf *r, const candidate *c, size_t nhelped, double weight,
                               const adv_table_load *load, const dm_catalog *cat)
{
    dm_buf_printf(r, "Left-prefix rule: %s. ", c->why);
    dm_buf_printf(r, "Helps %zu statement%s of the workload (weight %g).", nhelped,
                  nhelped == 1 ? "" : "s", weight);
    const adv_table_load *l = &load[table_index(cat, c->table)];
    if (l->writes > l->reads)
        dm_buf_printf(r, " The table is write-heavy in this workload (%g writes, %g reads): "
                         "every index slows its writes.", l->writes, l->reads);
}

/* A statement a finding helps, as the workload gave it: a trigger's
 * statement is reported as the one that fires it, once. */
static void report_query(const dbmgmt_advisor *a, dbmgmt_advice *adv, adv_finding *f, size_t qi)
{
    const adv_query *q = &a->queries[qi];
    if (q->parent)
        q = &a->queries[q->parent - 1];
    for (size_t k = 0; k < f->nqueries; k++)
        if (strcmp(f->queries[k], q->sql) == 0)
            return;
    adv_finding_add_query(adv, f, q->sql);
}

static int report_candidates(dbmgmt_advisor *a, const dm_catalog *cat, candidates *cs,
                             int confirmed_by_planner, const adv_table_load *load,
                             dbmgmt_advice *adv)
{
    for (size_t k = 0; k < cs->n && !adv->failed; k++) {
        candidate *c = &cs->v[k];
        const size_t *helped = confirmed_by_planner ? c->used_by : c->queries;
        size_t nhelped = confirmed_by_planner ? c->nused : c->nqueries;
        if (nhelped == 0 || (!confirmed_by_planner && !c->primary))
            continue;
        double before = 0, after = 0, weight = 0;
        int costs = confirmed_by_planner, saving_ok = 0;
        for (size_t j = 0; j < nhelped; j++) {
            const adv_query *q = &a->queries[helped[j]];
            weight += q->weight;
            if (q->cost_before < 0 || q->cost_after < 0) {
                costs = 0;
                continue;
            }
            before += q->cost_before;
            after += q->cost_after;
            if (q->cost_before > 0 && (q->cost_before - q->cost_after) / q->cost_before >= a->min_saving)
                saving_ok = 1;
        }
        if (costs && !saving_ok)
            continue; /* the planner uses it, but it saves too little */
        dm_buf cols = DM_BUF_INIT, reason = DM_BUF_INIT;
        adv_join_keys(&cols, c->cols, c->n);
        describe_candidate(&reason, c, nhelped, weight, load, cat);
        if (confirmed_by_planner)
            dm_buf_puts(&reason, costs ? " The planner uses it and its estimated cost drops."
                                       : " The planner uses it.");
        else
            dm_buf_printf(&reason, " Not confirmed: %s", adv->note ? adv->note : "");
        adv_finding *f = adv_add_finding(adv, DBMGMT_ADVICE_MISSING, c->table->name,
                                         cols.data ? cols.data : "", c->name, c->ddl,
                                         reason.data ? reason.data : "");
        if (dm_buf_failed(&cols) || dm_buf_failed(&reason))
            adv->failed = 1;
        dm_buf_free(&cols);
        dm_buf_free(&reason);
        if (!f)
            break;
        f->confirmed = confirmed_by_planner;
        if (adv_finding_set_keys(adv, f, c->cols, c->n) != DBMGMT_OK)
            break;
        if (costs) {
            f->cost_before = before;
            f->cost_after = after;
        }
        for (size_t j = 0; j < nhelped; j++)
            report_query(a, adv, f, helped[j]);
    }
    return adv->failed ? DBMGMT_ERR_NOMEM : DBMGMT_OK;
}

/* ---- run --------------------------------------------------------------------- */

/* A query that cannot be analysed is skipped (and counted); running out
 * of memory fails the run instead of passing for a skip. */
static int analyse_query(dbmgmt_advisor *a, const dm_catalog *cat, adv_table_load *load,
                         size_t qi)
{
    adv_query *q = &a->queries[qi];
    adv_analysis_clear(&q->an);
    q->skipped = 0;
    q->cost_before = q->cost_after = -1;
    int rc = adv_analyse(dbmgmt_conn_engine(a->conn), cat, q->sql, strlen(q->sql), &q->an);
    if (rc == DBMGMT_ERR_NOMEM)
        return rc;
    if (rc != DBMGMT_OK) {
        q->skipped = 1;
        return DBMGMT_OK;
    }
    if (q->an.written)
        load[table_index(cat, q->an.written)].writes += q->weight;
    for (size_t k = 0; k < q->an.naccesses; k++)
        if (q->an.accesses[k].table != q->an.written)
            load[table_index(cat, q->an.accesses[k].table)].reads += q->weight;
    return DBMGMT_OK;
}

static int analyse_workload(dbmgmt_advisor *a, const dm_catalog *cat, adv_table_load *load)
{
    for (size_t qi = 0; qi < a->nqueries; qi++)
        if (analyse_query(a, cat, load, qi) != DBMGMT_OK)
            return DBMGMT_ERR_NOMEM;
    return DBMGMT_OK;
}

typedef struct trigger_ctx {
    dbmgmt_advisor *a;
    size_t parent;
} trigger_ctx;

static int add_trigger_query(void *userdata, const char *sql)
{
    trigger_ctx *t = userdata;
    char *text = dm_strdup(sql);
    if (!text || push_query(t->a, text, t->a->queries[t->parent].weight) != DBMGMT_OK) {
        dm_free(text);
        return DBMGMT_ERR_NOMEM;
    }
    t->a->queries[t->a->nqueries - 1].parent = t->parent + 1;
    return DBMGMT_OK;
}

/* SQLite: the statements of the triggers the workload's writes fire join
 * the workload for this run (after the nuser given ones), analysed as
 * queries of their own; their plans are not part of the firing statement's. */
static int add_trigger_queries(dbmgmt_advisor *a, const dm_catalog *cat, adv_table_load *load,
                               size_t nuser)
{
    if (dbmgmt_conn_engine(a->conn) != DBMGMT_ENGINE_SQLITE)
        return DBMGMT_OK;
    for (size_t qi = 0; qi < nuser; qi++) {
        const adv_analysis *an = &a->queries[qi].an;
        if (a->queries[qi].skipped || !an->written || an->write_kind == ADV_WRITE_NONE)
            continue;
        size_t first = a->nqueries;
        trigger_ctx t = {a, qi};
        if (adv_sqlite_trigger_statements(a->conn, an->written->name, an->write_kind,
                                          add_trigger_query, &t) != DBMGMT_OK)
            return DBMGMT_ERR_NOMEM;
        for (size_t k = first; k < a->nqueries; k++)
            if (analyse_query(a, cat, load, k) != DBMGMT_OK)
                return DBMGMT_ERR_NOMEM;
    }
    return DBMGMT_OK;
}

/* Back to the nuser statements the caller gave. */
static void drop_trigger_queries(dbmgmt_advisor *a, size_t nuser)
{
    for (size_t qi = nuser; qi < a->nqueries; qi++) {
        dm_free(a->queries[qi].sql);
        adv_analysis_clear(&a->queries[qi].an);
    }
    a->nqueries = nuser;
}

static int confirm(dbmgmt_advisor *a, const dm_catalog *cat, candidates *cs, int *used,
                   dbmgmt_advice *adv, int *confirmed)
{
    const dm_driver *drv = a->conn->drv;
    *confirmed = 0;
    dm_whatif *w = NULL;
    dm_error err = {0};
    if (!drv->whatif_open) {
        dm_buf note = DM_BUF_INIT;
        dm_buf_printf(&note, "%s has no hypothetical indexes, so the planner was not asked; "
                             "check the plans after creating the index.", drv->name);
        adv->note = dm_buf_detach(&note);
        return adv->note ? DBMGMT_OK : DBMGMT_ERR_NOMEM;
    }
    if (drv->whatif_open(a->conn->dc, &w, &err) != DBMGMT_OK) {
        if (err.code == DBMGMT_ERR_NOMEM)
            return DBMGMT_ERR_NOMEM;
        adv->note = dm_strdup(err.msg);
        return adv->note ? DBMGMT_OK : DBMGMT_ERR_NOMEM;
    }
    int rc = DBMGMT_OK;
    dm_buf plan = DM_BUF_INIT;
    rc = explain_before(a, w, cat, used, &plan);
    for (size_t k = 0; k < cs->n && rc == DBMGMT_OK; k++) {
        candidate *c = &cs->v[k];
        dm_buf plan_name = DM_BUF_INIT;
        if (drv->whatif_index(w, c->ddl, c->name, &plan_name, &err) == DBMGMT_OK) {
            c->plan_name = dm_buf_detach(&plan_name);
            if (!c->plan_name)
                rc = DBMGMT_ERR_NOMEM;
        } else if (err.code == DBMGMT_ERR_NOMEM) {
            rc = DBMGMT_ERR_NOMEM;
        }
        dm_buf_free(&plan_name);
    }
    if (rc == DBMGMT_OK)
        rc = explain_after(a, w, cs, &plan, NULL);
    dm_buf_free(&plan);
    drv->whatif_close(w);
    *confirmed = rc == DBMGMT_OK;
    return rc;
}

DBMGMT_API int dbmgmt_advisor_run(dbmgmt_advisor *a, dbmgmt_advice **out)
{
    CHECK_ARG(out, "dbmgmt_advisor_run", "out is NULL");
    *out = NULL;
    CHECK_ARG(a, "dbmgmt_advisor_run", "a is NULL");
    dm_error_reset(&a->err);
    const dm_driver *drv = a->conn->drv;
    dm_catalog cat = {0};
    candidates cs = {0};
    adv_table_load *load = NULL;
    int *used = NULL;
    dbmgmt_advice *adv = dm_calloc(1, sizeof *adv);
    size_t nuser = a->nqueries;
    int rc = adv ? drv->catalog(a->conn->dc, &cat, &a->err) : DBMGMT_ERR_NOMEM;
    if (rc != DBMGMT_OK)
        goto out;
    if (cat.failed)
        goto nomem;
    if (drv->engine == DBMGMT_ENGINE_SQLITE &&
        adv_sqlite_generated_columns(a->conn, &cat) != DBMGMT_OK)
        goto nomem;
    adv->engine = drv->name;
    adv->statements = a->nqueries;
    load = dm_calloc(cat.ntables + 1, sizeof *load);
    used = dm_calloc(cat.nindexes + 1, sizeof *used);
    if (!load || !used)
        goto nomem;
    if (analyse_workload(a, &cat, load) != DBMGMT_OK ||
        add_trigger_queries(a, &cat, load, nuser) != DBMGMT_OK)
        goto nomem;
    for (size_t qi = 0; qi < a->nqueries; qi++)
        for (size_t k = 0; k < a->queries[qi].an.naccesses; k++)
            candidates_for_access(&cs, &cat, &a->queries[qi].an.accesses[k], qi);
    if (cs.failed)
        goto nomem;
    for (size_t k = 0; k < cs.n; k++)
        if (name_candidate(drv, &cat, &cs, k) != DBMGMT_OK)
            goto nomem;
    int confirmed = 0;
    rc = confirm(a, &cat, &cs, used, adv, &confirmed);
    if (rc != DBMGMT_OK)
        goto out;
    adv->confirmation = confirmed;
    for (size_t qi = 0; qi < nuser; qi++)
        adv->skipped += a->queries[qi].skipped != 0;
    rc = report_candidates(a, &cat, &cs, confirmed, load, adv);
    if (rc != DBMGMT_OK)
        goto out;
    adv_schema_findings(a, &cat, confirmed && a->nqueries ? used : NULL, load, adv);
    if (adv->failed)
        goto nomem;
    adv_sort_findings(adv);
    *out = adv;
    adv = NULL;
    goto out;
nomem:
    rc = dm_error_set(&a->err, DBMGMT_ERR_NOMEM, "out of memory advising");
out:
    if (rc != DBMGMT_OK && a->err.code == DBMGMT_OK)
        dm_error_set(&a->err, rc, "%s",
                     rc == DBMGMT_ERR_NOMEM ? "out of memory advising" : "advising failed");
    drop_trigger_queries(a, nuser);
    candidates_free(&cs);
    dm_catalog_clear(&cat);
    dm_free(load);
    dm_free(used);
    dbmgmt_advice_free(adv);
    return rc;
}
