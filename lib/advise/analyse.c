/* The query analyser: tokens -> per-table column usage (analyse.h). */
#include <string.h>
#include <strings.h>

#include "analyse.h"
#include "core/alloc.h"
#include "sql/lexer.h"

#define MAX_SCOPE_TABLES 32
#define MAX_TERMS 48
#define MAX_BRANCHES 16
#define MAX_ON_RANGES 32
#define NONE ((size_t)-1)

typedef struct token {
    dm_sql_token_kind kind;
    int quoted;
    size_t value;   /* offset of the NUL-terminated value in ctx.values */
    size_t match;   /* for ( and ): the index of the other parenthesis */
} token;

typedef struct ctx {
    dbmgmt_engine dialect;
    const dm_catalog *cat;
    token *t;
    size_t n;
    dm_buf values;
    adv_analysis *out;
} ctx;

typedef struct range {
    size_t b, e;
} range;

typedef struct branch {
    range terms[MAX_TERMS];
    size_t n;
} branch;

typedef struct branches {
    branch v[MAX_BRANCHES];
    size_t n;
} branches;

typedef struct scope_table {
    const dm_cat_table *table; /* NULL: a derived table, CTE or unknown name */
    const char *alias;         /* NULL: none */
} scope_table;

typedef struct scope {
    scope_table t[MAX_SCOPE_TABLES];
    size_t n;
} scope;

/* What one branch collects for one scope table. */
typedef struct usage {
    adv_cols eq, join, range;
} usage;

typedef struct colref {
    size_t table; /* index in the scope */
    const char *column;
} colref;

/* ---- tokens ------------------------------------------------------------------ */

static const char *val(const ctx *c, size_t i)
{
    return c->values.data + c->t[i].value;
}

static int is_word(const ctx *c, size_t i, const char *word)
{
    return i < c->n && (c->t[i].kind == DM_SQL_TOK_KEYWORD || c->t[i].kind == DM_SQL_TOK_IDENT) &&
           !c->t[i].quoted && strcasecmp(val(c, i), word) == 0;
}

static int is_op(const ctx *c, size_t i, const char *op)
{
    return i < c->n && c->t[i].kind == DM_SQL_TOK_OPERATOR && strcmp(val(c, i), op) == 0;
}

static int is_name(const ctx *c, size_t i)
{
    return i < c->n && (c->t[i].kind == DM_SQL_TOK_IDENT || c->t[i].kind == DM_SQL_TOK_KEYWORD);
}

/* The index after token i, jumping over a parenthesised group. */
static size_t skip(const ctx *c, size_t i)
{
    if (is_op(c, i, "(") && c->t[i].match != NONE)
        return c->t[i].match + 1;
    return i + 1;
}

static int tokenize(ctx *c, dbmgmt_engine dialect, const char *sql, size_t len)
{
    dm_sql_lexer lx;
    dm_sql_lexer_init(&lx, dialect, sql, len, 0);
    size_t cap = 0, depth = 0;
    size_t stack[64];
    dm_sql_token tok;
    int rc;
    while ((rc = dm_sql_lexer_next(&lx, &tok)) == 1) {
        if (tok.kind == DM_SQL_TOK_SEMICOLON)
            break;
        if (c->n == cap) {
            cap = cap ? cap * 2 : 64;
            token *grown = dm_realloc(c->t, cap * sizeof *grown);
            if (!grown)
                return DBMGMT_ERR_NOMEM;
            c->t = grown;
        }
        token *t = &c->t[c->n];
        t->kind = tok.kind;
        t->quoted = (tok.flags & DM_SQL_TOKF_QUOTED) != 0;
        t->value = c->values.len;
        t->match = NONE;
        if (dm_sql_token_value(sql, &tok, &c->values) != DBMGMT_OK)
            return DBMGMT_ERR_NOMEM;
        dm_buf_putc(&c->values, '\0');
        if (tok.kind == DM_SQL_TOK_OPERATOR && tok.len == 1 && sql[tok.offset] == '(') {
            if (depth < 64)
                stack[depth] = c->n;
            depth++;
        } else if (tok.kind == DM_SQL_TOK_OPERATOR && tok.len == 1 && sql[tok.offset] == ')' &&
                   depth > 0) {
            depth--;
            if (depth < 64) {
                c->t[stack[depth]].match = c->n;
                t->match = stack[depth];
            }
        }
        c->n++;
    }
    if (rc < 0)
        return rc;
    return dm_buf_failed(&c->values) ? DBMGMT_ERR_NOMEM : DBMGMT_OK;
}

/* ---- catalog and scope look-ups -------------------------------------------------- */

static const dm_cat_table *find_table(const dm_catalog *cat, const char *name)
{
    for (size_t i = 0; i < cat->ntables; i++)
        if (strcmp(cat->tables[i].name, name) == 0)
            return &cat->tables[i];
    for (size_t i = 0; i < cat->ntables; i++)
        if (strcasecmp(cat->tables[i].name, name) == 0)
            return &cat->tables[i];
    return NULL;
}

static const char *find_column(const dm_cat_table *t, const char *name)
{
    if (!t)
        return NULL;
    for (size_t i = 0; i < t->ncolumns; i++)
        if (strcasecmp(t->columns[i].name, name) == 0)
            return t->columns[i].name;
    return NULL;
}

/* Resolve a qualifier (alias first, then table name) to a scope index. */
static size_t scope_qualifier(const scope *s, const char *q)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->t[i].alias && strcasecmp(s->t[i].alias, q) == 0)
            return i;
    for (size_t i = 0; i < s->n; i++)
        if (!s->t[i].alias && s->t[i].table && strcasecmp(s->t[i].table->name, q) == 0)
            return i;
    return NONE;
}

/* [b, e) is exactly a column reference: col, q.col or s.q.col. */
static int resolve_colref(const ctx *c, const scope *s, size_t b, size_t e, colref *out)
{
    size_t n = e - b;
    if (!(n == 1 || n == 3 || n == 5) || !is_name(c, e - 1))
        return 0;
    for (size_t i = b + 1; i < e; i += 2)
        if (!is_op(c, i, ".") || !is_name(c, i - 1))
            return 0;
    const char *column = val(c, e - 1);
    if (n > 1) {
        size_t ti = scope_qualifier(s, val(c, e - 3));
        if (ti == NONE || !s->t[ti].table)
            return 0;
        out->table = ti;
        out->column = find_column(s->t[ti].table, column);
        return out->column != NULL;
    }
    size_t found = NONE;
    for (size_t i = 0; i < s->n; i++) {
        if (find_column(s->t[i].table, column)) {
            if (found != NONE)
                return 0; /* ambiguous */
            found = i;
        }
    }
    if (found == NONE)
        return 0;
    out->table = found;
    out->column = find_column(s->t[found].table, column);
    return 1;
}

/* Add a key unless its column is there already (the first mention wins). */
static void cols_add_key(adv_cols *cols, adv_key key)
{
    for (size_t i = 0; i < cols->n; i++)
        if (cols->v[i].column == key.column)
            return;
    if (cols->n < ADV_MAX_COLS)
        cols->v[cols->n++] = key;
}

static void cols_add(adv_cols *cols, const char *name, const char *collation)
{
    cols_add_key(cols, (adv_key){name, collation, 0});
}

/* ---- collations ----------------------------------------------------------------- */

/* The analysis's copy of the collation named by token i (SQLite's built-in
 * names are case-insensitive: upper-cased unless quoted); NULL when memory
 * runs out. */
static const char *intern_collation(const ctx *c, size_t i)
{
    adv_analysis *a = c->out;
    char *name = dm_strdup(val(c, i));
    if (!name) {
        a->failed = 1;
        return NULL;
    }
    if (c->dialect == DBMGMT_ENGINE_SQLITE && !c->t[i].quoted)
        for (char *p = name; *p; p++)
            if (*p >= 'a' && *p <= 'z')
                *p = (char)(*p - 'a' + 'A');
    for (size_t k = 0; k < a->ncollations; k++) {
        if (strcmp(a->collations[k], name) == 0) {
            dm_free(name);
            return a->collations[k];
        }
    }
    char **grown = dm_realloc(a->collations, (a->ncollations + 1) * sizeof *grown);
    if (!grown) {
        dm_free(name);
        a->failed = 1;
        return NULL;
    }
    a->collations = grown;
    a->collations[a->ncollations++] = name;
    return name;
}

/* A trailing "COLLATE name" of [b, *e): 1 with *e moved before it and
 * *collation set (NULL when memory ran out); 0 when there is none. MySQL
 * indexes take no collation, so there an operand with one stays as it is
 * (and names no column an index could serve). */
static int strip_collate(const ctx *c, size_t b, size_t *e, const char **collation)
{
    if (c->dialect == DBMGMT_ENGINE_MYSQL || *e < b + 3 || !is_word(c, *e - 2, "COLLATE") ||
        !is_name(c, *e - 1))
        return 0;
    *collation = intern_collation(c, *e - 1);
    *e -= 2;
    return 1;
}

/* ---- clauses ------------------------------------------------------------------ */

static int is_clause_word(const ctx *c, size_t i)
{
    static const char *const words[] = {"WHERE", "GROUP", "HAVING", "ORDER", "LIMIT", "WINDOW",
                                        "OFFSET", "FOR", "UNION", "EXCEPT", "INTERSECT",
                                        "RETURNING", "FETCH"};
    for (size_t k = 0; k < sizeof words / sizeof words[0]; k++)
        if (is_word(c, i, words[k]))
            return 1;
    return 0;
}

static size_t clause_end(const ctx *c, size_t i, size_t e)
{
    while (i < e && !is_clause_word(c, i))
        i = skip(c, i);
    return i < e ? i : e;
}

static size_t find_word(const ctx *c, size_t b, size_t e, const char *word)
{
    for (size_t i = b; i < e; i = skip(c, i))
        if (is_word(c, i, word))
            return i;
    return NONE;
}

/* "GROUP BY" / "ORDER BY" at depth 0: the index after BY, or NONE. */
static size_t find_by_clause(const ctx *c, size_t b, size_t e, const char *word)
{
    for (size_t i = b; i < e; i = skip(c, i))
        if (is_word(c, i, word) && is_word(c, i + 1, "BY"))
            return i + 2;
    return NONE;
}

/* ---- conditions -> branches ------------------------------------------------------- */

static int is_and(const ctx *c, size_t i, size_t b)
{
    if (!is_word(c, i, "AND"))
        return 0;
    /* the AND of "x BETWEEN a AND b" belongs to BETWEEN */
    for (size_t k = i; k-- > b;) {
        if (is_op(c, k, ")") && c->t[k].match != NONE) {
            k = c->t[k].match;
            continue;
        }
        if (is_word(c, k, "BETWEEN"))
            return 0;
        if (is_word(c, k, "AND") || is_word(c, k, "OR"))
            return 1;
    }
    return 1;
}

static void add_condition(const ctx *c, branches *bs, size_t b, size_t e);

static void add_term_to_all(branches *bs, size_t b, size_t e)
{
    for (size_t k = 0; k < bs->n; k++)
        if (bs->v[k].n < MAX_TERMS)
            bs->v[k].terms[bs->v[k].n++] = (range){b, e};
}

/* One conjunct: a term, a parenthesised condition, or an OR of alternatives
 * (each branch of the result takes one alternative). */
static void add_conjunct(const ctx *c, branches *bs, size_t b, size_t e)
{
    while (b < e && is_op(c, b, "(") && c->t[b].match == e - 1 && !is_word(c, b + 1, "SELECT") &&
           !is_word(c, b + 1, "WITH")) {
        b++;
        e--;
    }
    if (b >= e)
        return;
    range alts[MAX_BRANCHES];
    size_t nalts = 0, start = b;
    for (size_t i = b; i < e; i = skip(c, i)) {
        if (is_word(c, i, "OR")) {
            if (nalts == MAX_BRANCHES)
                return; /* too many alternatives: the conjunct is left out */
            alts[nalts++] = (range){start, i};
            start = i + 1;
        }
    }
    if (nalts == 0) {
        size_t and_at = NONE;
        for (size_t i = b; i < e && and_at == NONE; i = skip(c, i))
            if (is_and(c, i, b))
                and_at = i;
        if (and_at != NONE)
            add_condition(c, bs, b, e);
        else
            add_term_to_all(bs, b, e);
        return;
    }
    alts[nalts++] = (range){start, e};
    if (nalts > MAX_BRANCHES || bs->n * nalts > MAX_BRANCHES)
        return;
    branches *expanded = dm_malloc(sizeof *expanded);
    branches *one = dm_malloc(sizeof *one);
    if (expanded && one) {
        expanded->n = 0;
        for (size_t k = 0; k < bs->n; k++) {
            for (size_t a = 0; a < nalts; a++) {
                one->n = 1;
                one->v[0] = bs->v[k];
                add_condition(c, one, alts[a].b, alts[a].e);
                for (size_t x = 0; x < one->n && expanded->n < MAX_BRANCHES; x++)
                    expanded->v[expanded->n++] = one->v[x];
            }
        }
        *bs = *expanded;
    }
    dm_free(expanded);
    dm_free(one);
}

static void add_condition(const ctx *c, branches *bs, size_t b, size_t e)
{
    size_t start = b;
    for (size_t i = b; i < e; i = skip(c, i)) {
        if (is_and(c, i, b)) {
            add_conjunct(c, bs, start, i);
            start = i + 1;
        }
    }
    add_conjunct(c, bs, start, e);
}

/* ---- terms ---------------------------------------------------------------- */

static int is_comparison(const ctx *c, size_t i)
{
    static const char *const ops[] = {"=", "==", "<", "<=", ">", ">=", "<>", "!="};
    if (i >= c->n || c->t[i].kind != DM_SQL_TOK_OPERATOR)
        return 0;
    for (size_t k = 0; k < sizeof ops / sizeof ops[0]; k++)
        if (strcmp(val(c, i), ops[k]) == 0)
            return 1;
    return 0;
}

static int like_has_prefix(const ctx *c, size_t i, int glob)
{
    if (i >= c->n || c->t[i].kind != DM_SQL_TOK_STRING)
        return 0;
    const char *s = val(c, i);
    if (glob)
        return s[0] && !strchr("*?[", s[0]);
    return s[0] && s[0] != '%' && s[0] != '_';
}

static void classify_term(const ctx *c, const scope *s, usage *u, size_t b, size_t e)
{
    size_t op = NONE;
    for (size_t i = b; i < e && op == NONE; i = skip(c, i)) {
        if (is_word(c, i, "NOT"))
            return; /* NOT IN, NOT LIKE, IS NOT NULL, NOT BETWEEN: no index seek */
        if (is_comparison(c, i) || is_word(c, i, "IN") || is_word(c, i, "BETWEEN") ||
            is_word(c, i, "LIKE") || is_word(c, i, "GLOB") || is_word(c, i, "IS"))
            op = i;
    }
    if (op == NONE || op == b)
        return;
    /* SQLite compares with the left operand's explicit collation, else the
     * right one's, else a column's own */
    const char *lcoll = NULL, *rcoll = NULL;
    size_t lend = op, rend = e;
    strip_collate(c, b, &lend, &lcoll);
    if (!is_word(c, op, "BETWEEN"))
        strip_collate(c, op + 1, &rend, &rcoll);
    const char *coll = lcoll ? lcoll : rcoll;
    colref l, r;
    int lcol = resolve_colref(c, s, b, lend, &l);
    int rcol = resolve_colref(c, s, op + 1, rend, &r);
    const char *o = val(c, op);
    if (strcmp(o, "=") == 0 || strcmp(o, "==") == 0 || is_word(c, op, "IS")) {
        if (is_word(c, op, "IS") && is_word(c, op + 1, "NOT"))
            return;
        if (lcol && rcol) {
            if (l.table != r.table) {
                cols_add(&u[l.table].join, l.column, coll);
                cols_add(&u[r.table].join, r.column, coll);
            }
        } else if (lcol) {
            cols_add(&u[l.table].eq, l.column, coll);
        } else if (rcol) {
            cols_add(&u[r.table].eq, r.column, coll);
        }
    } else if (is_word(c, op, "IN")) {
        if (lcol)
            cols_add(&u[l.table].eq, l.column, coll);
    } else if (is_word(c, op, "BETWEEN")) {
        if (lcol)
            cols_add(&u[l.table].range, l.column, coll);
    } else if (is_word(c, op, "LIKE") || is_word(c, op, "GLOB")) {
        if (lcol && !coll && op + 2 == e && like_has_prefix(c, op + 1, is_word(c, op, "GLOB")))
            cols_add(&u[l.table].range, l.column, coll);
    } else if (strcmp(o, "<>") != 0 && strcmp(o, "!=") != 0) {
        if (lcol && !rcol)
            cols_add(&u[l.table].range, l.column, coll);
        else if (rcol && !lcol)
            cols_add(&u[r.table].range, r.column, coll);
    }
}

/* ---- ORDER BY / GROUP BY ---------------------------------------------------- */

typedef struct sort_spec {
    size_t table; /* NONE: not usable */
    adv_cols cols;
} sort_spec;

static void parse_sort_list(const ctx *c, const scope *s, size_t b, size_t e, int ordered,
                            sort_spec *out)
{
    out->table = NONE;
    out->cols.n = 0;
    size_t start = b;
    for (size_t i = b; i <= e; i = i < e ? skip(c, i) : e + 1) {
        if (i < e && !is_op(c, i, ","))
            continue;
        size_t end = i;
        int desc = 0;
        const char *collation = NULL;
        /* trailing ASC / DESC / NULLS FIRST|LAST / COLLATE x */
        for (;;) {
            if (end > start + 1 && (is_word(c, end - 1, "ASC") || is_word(c, end - 1, "DESC"))) {
                desc = is_word(c, end - 1, "DESC");
                end--;
            } else if (end > start + 2 && is_word(c, end - 2, "NULLS")) {
                end -= 2;
            } else if (!strip_collate(c, start, &end, &collation)) {
                break;
            }
        }
        colref r;
        if (!resolve_colref(c, s, start, end, &r) ||
            (out->table != NONE && out->table != r.table)) {
            out->table = NONE;
            out->cols.n = 0;
            return;
        }
        out->table = r.table;
        cols_add_key(&out->cols, (adv_key){r.column, collation, ordered && desc});
        start = i + 1;
    }
}

/* ---- scopes ----------------------------------------------------------------- */

static void analyse_query(ctx *c, size_t b, size_t e);

/* Analyse every parenthesised SELECT in [b, e) as a scope of its own. */
static void analyse_subqueries(ctx *c, size_t b, size_t e)
{
    for (size_t i = b; i < e; i++) {
        if (!is_op(c, i, "(") || c->t[i].match == NONE)
            continue;
        if (is_word(c, i + 1, "SELECT") || is_word(c, i + 1, "WITH") || is_word(c, i + 1, "VALUES")) {
            analyse_query(c, i + 1, c->t[i].match);
            i = c->t[i].match;
        }
    }
}

static int is_join_word(const ctx *c, size_t i)
{
    static const char *const words[] = {"JOIN",  "INNER",   "LEFT",    "RIGHT",        "FULL",
                                        "OUTER", "CROSS",   "NATURAL", "STRAIGHT_JOIN", "LATERAL"};
    for (size_t k = 0; k < sizeof words / sizeof words[0]; k++)
        if (is_word(c, i, words[k]))
            return 1;
    return 0;
}

static int is_alias_stop(const ctx *c, size_t i)
{
    static const char *const words[] = {"ON", "USING", "SET", "INDEXED", "NOT", "USE", "FORCE",
                                        "IGNORE", "TABLESAMPLE", "AS"};
    if (is_join_word(c, i) || is_clause_word(c, i))
        return 1;
    for (size_t k = 0; k < sizeof words / sizeof words[0]; k++)
        if (is_word(c, i, words[k]))
            return 1;
    return 0;
}

/* A table reference at i: name or (subquery), an optional alias, index
 * hints. Adds it to the scope; returns the index after it. */
static size_t parse_table_ref(const ctx *c, scope *s, size_t i, size_t e)
{
    scope_table st = {NULL, NULL};
    if (is_op(c, i, "(")) {
        i = skip(c, i);
    } else if (is_name(c, i)) {
        size_t last = i;
        while (is_op(c, last + 1, ".") && is_name(c, last + 2))
            last += 2;
        i = last + 1;
        if (is_op(c, i, "(")) /* a table-valued function */
            i = skip(c, i);
        else
            st.table = find_table(c->cat, val(c, last));
    } else {
        return i + 1;
    }
    if (is_word(c, i, "AS") && is_name(c, i + 1)) {
        st.alias = val(c, i + 1);
        i += 2;
    } else if (i < e && is_name(c, i) && !is_alias_stop(c, i)) {
        st.alias = val(c, i);
        i++;
    }
    if (is_op(c, i, "(")) /* column list of a derived table's alias */
        i = skip(c, i);
    if (s->n < MAX_SCOPE_TABLES)
        s->t[s->n++] = st;
    return i;
}

/* USING (a, b): join columns of the table just added and of earlier ones. */
static void using_columns(const ctx *c, const scope *s, usage *u, size_t b, size_t e)
{
    if (s->n == 0)
        return;
    size_t right = s->n - 1;
    for (size_t i = b; i < e; i++) {
        if (!is_name(c, i))
            continue;
        const char *rc = find_column(s->t[right].table, val(c, i));
        if (!rc)
            continue;
        for (size_t k = 0; k < right; k++) {
            const char *lc = find_column(s->t[k].table, val(c, i));
            if (lc) {
                cols_add(&u[right].join, rc, NULL);
                cols_add(&u[k].join, lc, NULL);
                break;
            }
        }
    }
}

/* The FROM list [b, e): tables into s, ON conditions into ons, USING
 * columns into using_u (applied to every branch). */
static void parse_from(const ctx *c, scope *s, size_t b, size_t e, range *ons, size_t *nons,
                       usage *using_u)
{
    size_t i = b;
    while (i < e) {
        if (is_op(c, i, ",") || is_join_word(c, i)) {
            i++;
            continue;
        }
        if (is_word(c, i, "ON")) {
            size_t start = ++i;
            while (i < e && !is_op(c, i, ",") && !is_join_word(c, i))
                i = skip(c, i);
            if (*nons < MAX_ON_RANGES)
                ons[(*nons)++] = (range){start, i};
            continue;
        }
        if (is_word(c, i, "USING") && is_op(c, i + 1, "(")) {
            using_columns(c, s, using_u, i + 2, c->t[i + 1].match == NONE ? e : c->t[i + 1].match);
            i = skip(c, i + 1);
            continue;
        }
        if (is_word(c, i, "USE") || is_word(c, i, "FORCE") || is_word(c, i, "IGNORE")) {
            while (i < e && !is_op(c, i, "("))
                i++;
            i = skip(c, i);
            continue;
        }
        if (is_word(c, i, "INDEXED")) {
            i += 3;
            continue;
        }
        if (is_word(c, i, "NOT") && is_word(c, i + 1, "INDEXED")) {
            i += 2;
            continue;
        }
        i = parse_table_ref(c, s, i, e);
    }
}

static int grow_accesses(adv_analysis *a)
{
    if (a->naccesses < a->cap)
        return 1;
    size_t cap = a->cap ? a->cap * 2 : 8;
    adv_access *grown = dm_realloc(a->accesses, cap * sizeof *grown);
    if (!grown) {
        a->failed = 1;
        return 0;
    }
    a->accesses = grown;
    a->cap = cap;
    return 1;
}

/* Turn one scope's conditions, ORDER BY and GROUP BY into accesses. */
static void emit_scope(ctx *c, const scope *s, const range *conds, size_t nconds,
                       const usage *using_u, const sort_spec *order, const sort_spec *group)
{
    branches *bs = dm_malloc(sizeof *bs);
    usage *u = dm_malloc(MAX_SCOPE_TABLES * sizeof *u);
    if (!bs || !u) {
        c->out->failed = 1;
        goto out;
    }
    bs->n = 1;
    bs->v[0].n = 0;
    for (size_t k = 0; k < nconds; k++)
        if (conds[k].b < conds[k].e)
            add_condition(c, bs, conds[k].b, conds[k].e);
    for (size_t br = 0; br < bs->n; br++) {
        memcpy(u, using_u, s->n * sizeof *u);
        for (size_t k = 0; k < bs->v[br].n; k++)
            classify_term(c, s, u, bs->v[br].terms[k].b, bs->v[br].terms[k].e);
        for (size_t ti = 0; ti < s->n; ti++) {
            if (!s->t[ti].table)
                continue;
            int has_order = order->table == ti, has_group = group->table == ti;
            if (!u[ti].eq.n && !u[ti].join.n && !u[ti].range.n && !has_order && !has_group)
                continue;
            if (!grow_accesses(c->out))
                goto out;
            adv_access *a = &c->out->accesses[c->out->naccesses++];
            memset(a, 0, sizeof *a);
            a->table = s->t[ti].table;
            a->eq = u[ti].eq;
            size_t before = a->eq.n;
            for (size_t k = 0; k < u[ti].join.n; k++)
                cols_add_key(&a->eq, u[ti].join.v[k]);
            a->njoin = a->eq.n - before;
            for (size_t k = 0; k < u[ti].range.n; k++)
                cols_add_key(&a->range, u[ti].range.v[k]);
            if (has_order) {
                a->order = order->cols;
                a->order_ok = 1;
            }
            if (has_group) {
                a->group = group->cols;
                a->group_ok = 1;
            }
        }
    }
out:
    dm_free(bs);
    dm_free(u);
}

/* One SELECT (no compound operator) in [b, e). */
static void analyse_select(ctx *c, size_t b, size_t e)
{
    scope s = {.n = 0};
    usage using_u[MAX_SCOPE_TABLES];
    memset(using_u, 0, sizeof using_u);
    range conds[MAX_ON_RANGES + 1];
    size_t nconds = 0;
    size_t from = find_word(c, b, e, "FROM");
    if (from == NONE)
        return;
    size_t from_end = clause_end(c, from + 1, e);
    parse_from(c, &s, from + 1, from_end, conds, &nconds, using_u);
    size_t where = find_word(c, from_end, e, "WHERE");
    if (where != NONE)
        conds[nconds++] = (range){where + 1, clause_end(c, where + 1, e)};
    sort_spec order = {.table = NONE}, group = {.table = NONE};
    size_t by = find_by_clause(c, from_end, e, "ORDER");
    if (by != NONE)
        parse_sort_list(c, &s, by, clause_end(c, by, e), 1, &order);
    by = find_by_clause(c, from_end, e, "GROUP");
    if (by != NONE)
        parse_sort_list(c, &s, by, clause_end(c, by, e), 0, &group);
    emit_scope(c, &s, conds, nconds, using_u, &order, &group);
}

/* UPDATE t [AS a] SET ... WHERE ... / DELETE FROM t [AS a] WHERE ... */
static void analyse_write(ctx *c, size_t b, size_t e)
{
    scope s = {.n = 0};
    usage using_u[MAX_SCOPE_TABLES];
    memset(using_u, 0, sizeof using_u);
    size_t i = b + 1;
    if (is_word(c, b, "DELETE")) {
        size_t from = find_word(c, b, e, "FROM");
        if (from == NONE)
            return;
        i = from + 1;
    } else if (is_word(c, i, "OR")) {
        i += 2; /* UPDATE OR REPLACE */
    }
    while (is_word(c, i, "LOW_PRIORITY") || is_word(c, i, "IGNORE") || is_word(c, i, "QUICK") ||
           is_word(c, i, "ONLY"))
        i++;
    parse_table_ref(c, &s, i, e);
    if (s.n == 0 || !s.t[0].table)
        return;
    c->out->written = s.t[0].table;
    c->out->write_kind = is_word(c, b, "DELETE") ? ADV_WRITE_DELETE : ADV_WRITE_UPDATE;
    range conds[1];
    size_t nconds = 0;
    size_t where = find_word(c, i, e, "WHERE");
    if (where != NONE)
        conds[nconds++] = (range){where + 1, clause_end(c, where + 1, e)};
    sort_spec order = {.table = NONE}, group = {.table = NONE};
    size_t by = find_by_clause(c, i, e, "ORDER");
    if (by != NONE)
        parse_sort_list(c, &s, by, clause_end(c, by, e), 1, &order);
    emit_scope(c, &s, conds, nconds, using_u, &order, &group);
}

static void analyse_insert(ctx *c, size_t b, size_t e)
{
    size_t i = b + 1;
    while (i < e && !is_word(c, i, "INTO") && !is_name(c, i + 1))
        i++;
    if (is_word(c, i, "INTO"))
        i++;
    size_t last = i;
    while (is_op(c, last + 1, ".") && is_name(c, last + 2))
        last += 2;
    if (is_name(c, last))
        c->out->written = find_table(c->cat, val(c, last));
    if (c->out->written)
        c->out->write_kind = ADV_WRITE_INSERT;
    size_t sel = find_word(c, last + 1, e, "SELECT");
    if (sel != NONE)
        analyse_query(c, sel, e);
}

/* Skip WITH name [(cols)] AS [NOT] [MATERIALIZED] (...), ...: the main
 * statement's first token. */
static size_t skip_with(const ctx *c, size_t i, size_t e)
{
    i++;
    if (is_word(c, i, "RECURSIVE"))
        i++;
    while (i < e) {
        size_t as = find_word(c, i, e, "AS");
        if (as == NONE)
            return e;
        i = as + 1;
        while (is_word(c, i, "NOT") || is_word(c, i, "MATERIALIZED"))
            i++;
        i = skip(c, i);
        if (!is_op(c, i, ","))
            return i;
        i++;
    }
    return e;
}

static void analyse_query(ctx *c, size_t b, size_t e)
{
    analyse_subqueries(c, b, e);
    if (is_word(c, b, "WITH"))
        b = skip_with(c, b, e);
    if (b >= e)
        return;
    if (is_word(c, b, "SELECT")) {
        size_t start = b;
        for (size_t i = b; i < e; i = skip(c, i)) {
            if (is_word(c, i, "UNION") || is_word(c, i, "EXCEPT") || is_word(c, i, "INTERSECT")) {
                analyse_select(c, start, i);
                start = i + 1;
                while (start < e && !is_word(c, start, "SELECT") && !is_op(c, start, "("))
                    start++;
            }
        }
        analyse_select(c, start, e);
    } else if (is_word(c, b, "UPDATE") || is_word(c, b, "DELETE")) {
        analyse_write(c, b, e);
    } else if (is_word(c, b, "INSERT") || is_word(c, b, "REPLACE")) {
        analyse_insert(c, b, e);
    }
}

int adv_analyse(dbmgmt_engine dialect, const dm_catalog *cat, const char *sql, size_t len,
                adv_analysis *out)
{
    memset(out, 0, sizeof *out);
    ctx c = {.dialect = dialect, .cat = cat, .t = NULL, .n = 0, .values = DM_BUF_INIT, .out = out};
    int rc = tokenize(&c, dialect, sql, len);
    if (rc == DBMGMT_OK && c.n > 0) {
        size_t b = 0;
        while (b < c.n && is_op(&c, b, "(")) /* (SELECT ...) UNION ... */
            b++;
        if (b > 0)
            analyse_subqueries(&c, 0, c.n);
        else
            analyse_query(&c, 0, c.n);
    }
    if (rc == DBMGMT_OK && out->failed)
        rc = DBMGMT_ERR_NOMEM;
    dm_free(c.t);
    dm_buf_free(&c.values);
    if (rc != DBMGMT_OK)
        adv_analysis_clear(out);
    return rc;
}

void adv_analysis_clear(adv_analysis *a)
{
    dm_free(a->accesses);
    for (size_t i = 0; i < a->ncollations; i++)
        dm_free(a->collations[i]);
    dm_free(a->collations);
    memset(a, 0, sizeof *a);
}
