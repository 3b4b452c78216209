/*
 * Migration lint: the rules (docs/lint.md). Each statement of a section is
 * lexed into a reusable token array and dispatched on its first words; the
 * rules look at tokens only. What the current migration creates (tables,
 * columns, indexes) is tracked so statements on new objects are not
 * findings. Suppressions are read from the comments between the section's
 * tokens.
 */
#include "lint/lint.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/alloc.h"
#include "core/buf.h"

/* ---- the rules ----------------------------------------------------------------- */

typedef struct rule_info {
    const char *id;
    int32_t severity;
    int whole_migration; /* allowed by a comment anywhere in the section */
    const char *advice;
} rule_info;

static const rule_info rule_table[DM_LINT_RULE_COUNT] = {
    [DM_LINT_DROP_COLUMN] =
        {"drop-column", DBMGMT_LINT_ERROR, 0,
         "expand-contract: release code that no longer reads or writes the column, then drop it "
         "in a later migration"},
    [DM_LINT_DROP_TABLE] =
        {"drop-table", DBMGMT_LINT_ERROR, 0,
         "release code that no longer uses the table first (rename it aside if unsure), take a "
         "backup, then drop it in a later migration"},
    [DM_LINT_RENAME_COLUMN] =
        {"rename-column", DBMGMT_LINT_ERROR, 0,
         "expand-contract: add the new column, write both, backfill, switch reads, then drop the "
         "old column in a later release"},
    [DM_LINT_RENAME_TABLE] =
        {"rename-table", DBMGMT_LINT_ERROR, 0,
         "create the new table (or a view with the new name), write both, switch reads, then drop "
         "the old one in a later release"},
    [DM_LINT_CHANGE_COLUMN_TYPE] =
        {"change-column-type", DBMGMT_LINT_ERROR, 0,
         "add a column of the new type, backfill it in batches, switch the code to it, then drop "
         "the old column in a later release"},
    [DM_LINT_ADD_NOT_NULL_COLUMN] =
        {"add-not-null-column", DBMGMT_LINT_ERROR, 0,
         "add the column nullable (or with a constant DEFAULT), backfill, then add NOT NULL in a "
         "later migration"},
    [DM_LINT_SET_NOT_NULL] =
        {"set-not-null", DBMGMT_LINT_ERROR, 0,
         "backfill first; on PostgreSQL add CHECK (col IS NOT NULL) NOT VALID, VALIDATE it in a "
         "later migration, then SET NOT NULL (which then needs no scan)"},
    [DM_LINT_UNBOUNDED_UPDATE] =
        {"unbounded-update", DBMGMT_LINT_ERROR, 0,
         "backfill in batches (WHERE id BETWEEN ...) outside the schema migration, or bound the "
         "statement with a WHERE clause"},
    [DM_LINT_INDEX_NOT_CONCURRENT] =
        {"index-not-concurrent", DBMGMT_LINT_ERROR, 0,
         "CREATE INDEX CONCURRENTLY in a migration marked transaction:false (for a constraint: "
         "build the index concurrently, then ADD CONSTRAINT ... USING INDEX)"},
    [DM_LINT_DROP_INDEX_NOT_CONCURRENT] =
        {"drop-index-not-concurrent", DBMGMT_LINT_WARNING, 0,
         "DROP INDEX CONCURRENTLY in a migration marked transaction:false"},
    [DM_LINT_CONCURRENT_IN_TRANSACTION] =
        {"concurrent-in-transaction", DBMGMT_LINT_ERROR, 0,
         "put the CONCURRENTLY statement alone in a migration marked transaction:false "
         "(`-- migrate:up transaction:false`, goose `NO TRANSACTION`)"},
    [DM_LINT_CONSTRAINT_NOT_VALID] =
        {"constraint-not-valid", DBMGMT_LINT_WARNING, 0,
         "ADD CONSTRAINT ... NOT VALID, then ALTER TABLE ... VALIDATE CONSTRAINT in a later "
         "migration (validation does not block writes)"},
    [DM_LINT_VOLATILE_DEFAULT] =
        {"volatile-default", DBMGMT_LINT_WARNING, 0,
         "add the column without the default (or with a constant one), set the default for new "
         "rows, and backfill existing rows in batches"},
    [DM_LINT_MYSQL_TABLE_COPY] =
        {"mysql-table-copy", DBMGMT_LINT_ERROR, 0,
         "ask for ALGORITHM=INPLACE or INSTANT (the server then refuses instead of copying), or "
         "use an online schema change tool (gh-ost, pt-online-schema-change)"},
    [DM_LINT_TRUNCATE_CASCADE] =
        {"truncate-cascade", DBMGMT_LINT_ERROR, 0,
         "truncate or delete from each table by name, so what is emptied is visible in review"},
    [DM_LINT_LOCK_TIMEOUT_MISSING] =
        {"lock-timeout-missing", DBMGMT_LINT_WARNING, 1,
         "start the migration with SET lock_timeout = '5s' (SET LOCAL inside a transaction) so a "
         "blocked lock fails fast and can be retried"},
    [DM_LINT_UNCOMMITTED_TRANSACTION] =
        {"uncommitted-transaction", DBMGMT_LINT_ERROR, 0,
         "end every BEGIN with COMMIT in the same migration, or drop it and let the migrator run "
         "the migration in its own transaction"},
    [DM_LINT_TRANSACTION_NESTING] =
        {"transaction-nesting", DBMGMT_LINT_ERROR, 0,
         "remove the BEGIN/COMMIT: the migrator already runs this migration in a transaction; "
         "mark it transaction:false if it must manage its own"},
    [DM_LINT_MIXED_SCHEMA_AND_DATA] =
        {"mixed-schema-and-data", DBMGMT_LINT_WARNING, 1,
         "put the data change (backfill) in a migration of its own, after the schema change"},
    [DM_LINT_MISSING_DOWN] =
        {"missing-down", DBMGMT_LINT_WARNING, 1,
         "add a `-- migrate:down` section (or the companion down file) that undoes the change"},
    [DM_LINT_NON_IDEMPOTENT_DDL] =
        {"non-idempotent-ddl", DBMGMT_LINT_INFO, 0,
         "write CREATE ... IF NOT EXISTS / DROP ... IF EXISTS so a half-applied migration can be "
         "resumed"},
    [DM_LINT_ALLOW_WITHOUT_REASON] =
        {"allow-without-reason", DBMGMT_LINT_WARNING, 0,
         "write why the finding is safe here: `-- dbmgmt:allow RULE reason`"},
    [DM_LINT_UNUSED_ALLOW] =
        {"unused-allow", DBMGMT_LINT_WARNING, 0,
         "remove the comment, or put it on (or just above) the statement it is meant for"},
};

const char *dm_lint_rule_id(dm_lint_rule rule)
{
    return (unsigned)rule < DM_LINT_RULE_COUNT ? rule_table[rule].id : "unknown";
}

const char *dm_lint_rule_advice(dm_lint_rule rule)
{
    return (unsigned)rule < DM_LINT_RULE_COUNT ? rule_table[rule].advice : "";
}

const char *dm_lint_severity_name(int32_t severity)
{
    switch (severity) {
    case DBMGMT_LINT_ERROR: return "error";
    case DBMGMT_LINT_WARNING: return "warning";
    default: return "info";
    }
}

static int rule_by_id(const char *s, size_t len)
{
    for (int r = 0; r < DM_LINT_RULE_COUNT; r++)
        if (strlen(rule_table[r].id) == len && memcmp(rule_table[r].id, s, len) == 0)
            return r;
    return -1;
}

/* ---- findings -------------------------------------------------------------------- */

void dm_lint_findings_clear(dm_lint_findings *f)
{
    for (size_t i = 0; i < f->count; i++)
        dm_free(f->items[i].message);
    dm_free(f->items);
    memset(f, 0, sizeof *f);
}

static int compare_findings(const void *pa, const void *pb)
{
    const dm_lint_finding *a = pa, *b = pb;
    if (a->step != b->step)
        return a->step < b->step ? -1 : 1;
    if (a->line != b->line)
        return a->line < b->line ? -1 : 1;
    return a->seq < b->seq ? -1 : a->seq > b->seq;
}

void dm_lint_findings_sort(dm_lint_findings *f)
{
    if (f->count > 1)
        qsort(f->items, f->count, sizeof *f->items, compare_findings);
}

/* ---- names ------------------------------------------------------------------------ */

static int names_push(dm_lint_names *n, const char *s, size_t len, const char *table,
                      size_t table_len)
{
    if (n->count == n->cap) {
        size_t cap = n->cap ? n->cap * 2 : 8;
        dm_lint_name *grown = dm_realloc(n->items, cap * sizeof *grown);
        if (!grown)
            return DBMGMT_ERR_NOMEM;
        n->items = grown;
        n->cap = cap;
    }
    n->items[n->count++] = (dm_lint_name){s, len, table, table_len};
    return DBMGMT_OK;
}

static int same_name(const char *a, size_t alen, const char *b, size_t blen)
{
    return alen == blen && strncasecmp(a, b, alen) == 0;
}

static int names_has(const dm_lint_names *n, const char *s, size_t len, const char *table,
                     size_t table_len)
{
    for (size_t i = 0; i < n->count; i++)
        if (same_name(n->items[i].s, n->items[i].len, s, len) &&
            (!table || same_name(n->items[i].table, n->items[i].table_len, table, table_len)))
            return 1;
    return 0;
}

/* ---- the linter ------------------------------------------------------------------- */

typedef struct lint_allow {
    int32_t line; /* file line of the comment */
    int trailing; /* written after a statement's tokens on the same line */
    int rule;     /* -1: unknown rule */
    const char *rule_text;
    size_t rule_len;
    int has_reason;
    long target; /* statement it applies to; -1: none */
    int used;
} lint_allow;

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
    memset(lt, 0, sizeof *lt);
}

/* A name as written: the value of one token (quotes removed). */
typedef struct lname {
    const char *s;
    size_t len;
} lname;

/* The state of one section being linted. */
typedef struct section_ctx {
    dm_linter *lt;
    const dm_migration *mig;
    const dm_section *sec;
    int transactional;
    int quiet; /* collecting what the up section creates: no findings */
    size_t step;
    dm_lint_findings *out;
    int rc; /* DBMGMT_ERR_NOMEM once an allocation failed */
    /* the current statement */
    const char *text;
    int32_t line;
    long stmt;
    /* across the section */
    int tx_open;
    int32_t tx_line;
    long tx_stmt;
    int lock_timeout_set, lock_reported;
    int saw_schema, saw_data;
    int32_t data_line;
} section_ctx;

#define TOK(c, i) (&(c)->lt->toks[i])
#define NT(c) ((c)->lt->ntoks)
#define PG(c) ((c)->lt->dialect == DBMGMT_ENGINE_POSTGRES)
#define MY(c) ((c)->lt->dialect == DBMGMT_ENGINE_MYSQL)
#define LITE(c) ((c)->lt->dialect == DBMGMT_ENGINE_SQLITE)

static int W(const section_ctx *c, size_t i, const char *word)
{
    return i < NT(c) && dm_sql_token_is_word(c->text, TOK(c, i), word);
}

static int is_op(const section_ctx *c, size_t i, char ch)
{
    return i < NT(c) && TOK(c, i)->kind == DM_SQL_TOK_OPERATOR && TOK(c, i)->len == 1 &&
           c->text[TOK(c, i)->offset] == ch;
}

static int is_name_tok(const section_ctx *c, size_t i)
{
    return i < NT(c) &&
           (TOK(c, i)->kind == DM_SQL_TOK_IDENT || TOK(c, i)->kind == DM_SQL_TOK_KEYWORD);
}

/* A possibly qualified name at i (schema.table): its last part; *next is
 * the index after it. An empty name when there is none. */
static lname name_at(const section_ctx *c, size_t i, size_t *next)
{
    lname n = {"", 0};
    while (is_name_tok(c, i)) {
        n.s = c->text + TOK(c, i)->value_offset;
        n.len = TOK(c, i)->value_len;
        i++;
        if (!is_op(c, i, '.') || !is_name_tok(c, i + 1))
            break;
        i++;
    }
    if (next)
        *next = i;
    return n;
}

static int32_t line_of_tok(const section_ctx *c, size_t i)
{
    size_t end = i < NT(c) ? TOK(c, i)->offset : 0;
    int32_t line = c->line;
    for (size_t k = 0; k < end; k++)
        line += c->text[k] == '\n';
    return line;
}

static void report_v(section_ctx *c, dm_lint_rule rule, long stmt, int32_t line, const char *fmt,
                     va_list ap)
{
    if (c->quiet || c->rc != DBMGMT_OK)
        return;
    dm_lint_findings *f = c->out;
    if (f->count == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 16;
        dm_lint_finding *grown = dm_realloc(f->items, cap * sizeof *grown);
        if (!grown) {
            c->rc = DBMGMT_ERR_NOMEM;
            return;
        }
        f->items = grown;
        f->cap = cap;
    }
    dm_buf b = DM_BUF_INIT;
    dm_buf_vprintf(&b, fmt, ap);
    char *msg = dm_buf_detach(&b);
    if (!msg) {
        c->rc = DBMGMT_ERR_NOMEM;
        return;
    }
    dm_lint_finding *x = &f->items[f->count++];
    memset(x, 0, sizeof *x);
    x->rule = rule;
    x->severity = rule_table[rule].severity;
    x->step = c->step;
    x->version = c->mig->version;
    x->file = c->sec->file;
    x->line = line;
    x->message = msg;
    x->seq = c->lt->seq++;
    x->stmt = rule_table[rule].whole_migration ? -1 : stmt;
}

static void report(section_ctx *c, dm_lint_rule rule, long stmt, int32_t line, const char *fmt, ...)
    DM_PRINTF(5, 6);

static void report(section_ctx *c, dm_lint_rule rule, long stmt, int32_t line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    report_v(c, rule, stmt, line, fmt, ap);
    va_end(ap);
}

static void report_at(section_ctx *c, dm_lint_rule rule, size_t tok, const char *fmt, ...)
    DM_PRINTF(4, 5);

static void report_at(section_ctx *c, dm_lint_rule rule, size_t tok, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    report_v(c, rule, c->stmt, line_of_tok(c, tok), fmt, ap);
    va_end(ap);
}

static void track(section_ctx *c, dm_lint_names *n, lname name, lname table)
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
        if (same_name(lt->plan_tables[i], strlen(lt->plan_tables[i]), t.s, t.len))
            return 1;
    return 0;
}

static int table_is_new(const section_ctx *c, lname t)
{
    return t.len && (names_has(&c->lt->tables, t.s, t.len, NULL, 0) ||
                     table_new_in_plan(c->lt, t));
}

static int in_transaction(const section_ctx *c)
{
    return c->transactional || c->tx_open;
}

static void note_schema(section_ctx *c)
{
    c->saw_schema = 1;
}

static void note_data(section_ctx *c, int on_new_table)
{
    if (!on_new_table && !c->saw_data) {
        c->saw_data = 1;
        c->data_line = c->line;
    }
}

/* PostgreSQL: the statement takes ACCESS EXCLUSIVE on an existing table. */
static void access_exclusive(section_ctx *c, size_t tok, lname table)
{
    if (!PG(c) || c->lock_timeout_set || c->lock_reported)
        return;
    c->lock_reported = 1;
    report_at(c, DM_LINT_LOCK_TIMEOUT_MISSING, tok,
              "this statement takes an ACCESS EXCLUSIVE lock on %.*s with no SET "
              "lock_timeout before it: while it waits behind a long query every read and "
              "write of the table queues behind it",
              (int)table.len, table.s);
}

/* Index of the first token at parenthesis depth 0 in [from, to) that is
 * the word, or `to`. */
static size_t find_word_depth0(const section_ctx *c, size_t from, size_t to, const char *word)
{
    int depth = 0;
    for (size_t i = from; i < to; i++) {
        if (is_op(c, i, '('))
            depth++;
        else if (is_op(c, i, ')'))
            depth--;
        else if (depth == 0 && W(c, i, word))
            return i;
    }
    return to;
}

static int has_words_depth0(const section_ctx *c, size_t from, size_t to, const char *w1,
                            const char *w2)
{
    for (size_t i = find_word_depth0(c, from, to, w1); i < to;
         i = find_word_depth0(c, i + 1, to, w1))
        if (!w2 || W(c, i + 1, w2))
            return 1;
    return 0;
}

/* ---- CREATE ------------------------------------------------------------------------ */

static size_t skip_if_exists(const section_ctx *c, size_t i, int not, int *found)
{
    *found = 0;
    if (W(c, i, "IF") &&
        (not ? W(c, i + 1, "NOT") && W(c, i + 2, "EXISTS") : W(c, i + 1, "EXISTS"))) {
        *found = 1;
        return i + (not ? 3u : 2u);
    }
    return i;
}

static void lint_create_index(section_ctx *c, size_t i)
{
    size_t kw = i - 1;
    int concurrently = W(c, i, "CONCURRENTLY"), ifne;
    size_t conc_tok = i;
    i += (size_t)concurrently;
    i = skip_if_exists(c, i, 1, &ifne);
    lname index = {"", 0}, table;
    if (!W(c, i, "ON") && !W(c, i, "USING"))
        index = name_at(c, i, &i);
    size_t on = find_word_depth0(c, i, NT(c), "ON");
    size_t t = on + 1 + (size_t)W(c, on + 1, "ONLY");
    table = name_at(c, t, NULL);
    track(c, &c->lt->indexes, index, table);
    if (PG(c)) {
        if (concurrently && in_transaction(c))
            report_at(c, DM_LINT_CONCURRENT_IN_TRANSACTION, conc_tok,
                      "CREATE INDEX CONCURRENTLY on %.*s inside a transaction: PostgreSQL "
                      "refuses it (it cannot run in a transaction block), so the migration fails",
                      (int)table.len, table.s);
        else if (!concurrently && !table_is_new(c, table))
            report_at(c, DM_LINT_INDEX_NOT_CONCURRENT, kw,
                      "CREATE INDEX on the existing table %.*s without CONCURRENTLY: it "
                      "blocks every write to the table until the whole index is built",
                      (int)table.len, table.s);
    }
    if (!ifne && !MY(c))
        report_at(c, DM_LINT_NON_IDEMPOTENT_DDL, kw,
                  "CREATE INDEX %.*s without IF NOT EXISTS fails when run again", (int)index.len,
                  index.s);
}

static void lint_create(section_ctx *c)
{
    size_t i = 1;
    if (W(c, i, "OR") && W(c, i + 1, "REPLACE"))
        i += 2;
    while (W(c, i, "TEMP") || W(c, i, "TEMPORARY") || W(c, i, "UNLOGGED") || W(c, i, "GLOBAL") ||
           W(c, i, "LOCAL"))
        i++;
    note_schema(c);
    if (W(c, i, "TABLE")) {
        int ifne;
        size_t kw = i;
        i = skip_if_exists(c, i + 1, 1, &ifne);
        lname t = name_at(c, i, NULL);
        track(c, &c->lt->tables, t, (lname){"", 0});
        if (!ifne)
            report_at(c, DM_LINT_NON_IDEMPOTENT_DDL, kw,
                      "CREATE TABLE %.*s without IF NOT EXISTS fails when run again", (int)t.len,
                      t.s);
        return;
    }
    while (W(c, i, "UNIQUE") || W(c, i, "FULLTEXT") || W(c, i, "SPATIAL"))
        i++;
    if (W(c, i, "INDEX"))
        lint_create_index(c, i + 1);
}

/* ---- ALTER TABLE --------------------------------------------------------------------- */

typedef struct alter_ctx {
    lname table;
    int is_new;
    int algorithm_online; /* MySQL ALGORITHM=INPLACE/INSTANT */
    int only_validate;
} alter_ctx;

static int column_is_new(const section_ctx *c, const alter_ctx *a, lname col)
{
    return names_has(&c->lt->columns, col.s, col.len, a->table.s, a->table.len);
}

static int default_is_volatile(const section_ctx *c, size_t from, size_t to)
{
    static const char *const pg[] = {"RANDOM",
                                     "GEN_RANDOM_UUID",
                                     "UUID_GENERATE_V1",
                                     "UUID_GENERATE_V1MC",
                                     "UUID_GENERATE_V4",
                                     "CLOCK_TIMESTAMP",
                                     "TIMEOFDAY",
                                     "NEXTVAL",
                                     NULL};
    static const char *const my[] = {"UUID", "UUID_SHORT", "RAND", "SYSDATE", "RANDOM_BYTES", NULL};
    if (LITE(c)) /* SQLite refuses any non-constant default in ADD COLUMN */
        return is_op(c, from, '(') || W(c, from, "CURRENT_TIMESTAMP") ||
               W(c, from, "CURRENT_DATE") || W(c, from, "CURRENT_TIME");
    const char *const *list = PG(c) ? pg : my;
    for (size_t i = from; i < to; i++)
        for (size_t k = 0; list[k]; k++)
            if (W(c, i, list[k]) && is_op(c, i + 1, '('))
                return 1;
    return 0;
}

/* The end of a DEFAULT expression: the next column constraint at depth 0. */
static size_t default_end(const section_ctx *c, size_t from, size_t to)
{
    static const char *const stops[] = {
        "NOT",     "NULL",   "CONSTRAINT", "CHECK",          "REFERENCES",
        "PRIMARY", "UNIQUE", "GENERATED",  "COLLATE",        "ON",
        "COMMENT", "AFTER",  "FIRST",      "AUTO_INCREMENT", NULL};
    int depth = 0;
    for (size_t i = from; i < to; i++) {
        if (is_op(c, i, '('))
            depth++;
        else if (is_op(c, i, ')'))
            depth--;
        else if (depth == 0 && i > from)
            for (size_t k = 0; stops[k]; k++)
                if (W(c, i, stops[k]))
                    return i;
    }
    return to;
}

static void lint_column_definition(section_ctx *c, const alter_ctx *a, lname col, size_t kw,
                                   size_t from, size_t to)
{
    int serial = W(c, from, "SERIAL") || W(c, from, "BIGSERIAL") || W(c, from, "SMALLSERIAL") ||
                 W(c, from, "SERIAL4") || W(c, from, "SERIAL8") || W(c, from, "SERIAL2");
    int not_null = has_words_depth0(c, from, to, "NOT", "NULL");
    size_t def = find_word_depth0(c, from, to, "DEFAULT");
    int generated = has_words_depth0(c, from, to, "GENERATED", NULL) ||
                    has_words_depth0(c, from, to, "AUTO_INCREMENT", NULL) ||
                    has_words_depth0(c, from, to, "AUTOINCREMENT", NULL) ||
                    has_words_depth0(c, from, to, "PRIMARY", NULL) ||
                    has_words_depth0(c, from, to, "AS", NULL) || serial;
    if (not_null && def == to && !generated)
        report_at(c, DM_LINT_ADD_NOT_NULL_COLUMN, kw,
                  "ADD COLUMN %.*s NOT NULL without a DEFAULT on the existing table %.*s: it "
                  "fails on a table with rows (or fills them with an implicit value), and code of "
                  "the previous release that inserts without the column breaks",
                  (int)col.len, col.s, (int)a->table.len, a->table.s);
    int volatile_default =
        (PG(c) && serial) ||
        (def < to && default_is_volatile(c, def + 1, default_end(c, def + 1, to)));
    if (volatile_default)
        report_at(c, DM_LINT_VOLATILE_DEFAULT, kw,
                  "ADD COLUMN %.*s on the existing table %.*s with a default evaluated per row: "
                  "the whole table is rewritten under an exclusive lock (SQLite refuses it)",
                  (int)col.len, col.s, (int)a->table.len, a->table.s);
}

static void lint_alter_add(section_ctx *c, alter_ctx *a, size_t from, size_t to)
{
    size_t i = from + 1;
    int named = W(c, i, "CONSTRAINT");
    if (named)
        name_at(c, i + 1, &i);
    if (W(c, i, "FOREIGN") || W(c, i, "CHECK")) {
        if (PG(c) && !a->is_new && !has_words_depth0(c, i, to, "NOT", "VALID"))
            report_at(c, DM_LINT_CONSTRAINT_NOT_VALID, from,
                      "ADD %.*s constraint on the existing table %.*s without NOT VALID: every "
                      "row is checked while writes to the table are blocked",
                      (int)TOK(c, i)->len, c->text + TOK(c, i)->offset, (int)a->table.len,
                      a->table.s);
        return;
    }
    if (W(c, i, "UNIQUE") || W(c, i, "PRIMARY")) {
        if (PG(c) && !a->is_new && !has_words_depth0(c, i, to, "USING", "INDEX"))
            report_at(c, DM_LINT_INDEX_NOT_CONCURRENT, from,
                      "ADD %.*s on the existing table %.*s builds an index while every write "
                      "to the table is blocked",
                      (int)TOK(c, i)->len, c->text + TOK(c, i)->offset, (int)a->table.len,
                      a->table.s);
        return;
    }
    if (named || W(c, i, "INDEX") || W(c, i, "KEY") || W(c, i, "FULLTEXT") || W(c, i, "SPATIAL") ||
        W(c, i, "PARTITION") || W(c, i, "PERIOD") || W(c, i, "EXCLUDE"))
        return;
    i += (size_t)W(c, i, "COLUMN");
    int ifne;
    i = skip_if_exists(c, i, 1, &ifne);
    lname col = name_at(c, i, &i);
    track(c, &c->lt->columns, col, a->table);
    if (!a->is_new && col.len)
        lint_column_definition(c, a, col, from, i, to);
}

static const char *const not_a_column[] = {
    "CONSTRAINT", "INDEX",  "KEY",    "PRIMARY",    "FOREIGN",  "CHECK", "PARTITION",
    "DEFAULT",    "PERIOD", "SYSTEM", "EXPRESSION", "IDENTITY", NULL};

static int starts_non_column(const section_ctx *c, size_t i)
{
    for (size_t k = 0; not_a_column[k]; k++)
        if (W(c, i, not_a_column[k]))
            return 1;
    return 0;
}

static void lint_alter_drop(section_ctx *c, alter_ctx *a, size_t from)
{
    size_t i = from + 1;
    if (!W(c, i, "COLUMN") && starts_non_column(c, i))
        return;
    i += (size_t)W(c, i, "COLUMN");
    int ife;
    i = skip_if_exists(c, i, 0, &ife);
    lname col = name_at(c, i, NULL);
    if (!a->is_new && col.len && !column_is_new(c, a, col))
        report_at(c, DM_LINT_DROP_COLUMN, from,
                  "DROP COLUMN %.*s of %.*s: code of the previous release, still running during "
                  "the deploy, reads or writes the column and fails as soon as it is gone",
                  (int)col.len, col.s, (int)a->table.len, a->table.s);
}

static void lint_alter_rename(section_ctx *c, alter_ctx *a, size_t from)
{
    size_t i = from + 1;
    if (W(c, i, "INDEX") || W(c, i, "KEY") || W(c, i, "CONSTRAINT"))
        return;
    int to_table = W(c, i, "TO") || W(c, i, "AS") || (MY(c) && !W(c, i, "COLUMN"));
    if (to_table) {
        lname to = name_at(c, i + (size_t)(W(c, i, "TO") || W(c, i, "AS")), NULL);
        if (a->is_new)
            track(c, &c->lt->tables, to, (lname){"", 0});
        else
            report_at(c, DM_LINT_RENAME_TABLE, from,
                      "RENAME of the table %.*s to %.*s: code of the previous release, still "
                      "running during the deploy, uses the old name and fails",
                      (int)a->table.len, a->table.s, (int)to.len, to.s);
        return;
    }
    i += (size_t)W(c, i, "COLUMN");
    lname col = name_at(c, i, &i);
    if (!a->is_new && col.len && W(c, i, "TO") && !column_is_new(c, a, col))
        report_at(c, DM_LINT_RENAME_COLUMN, from,
                  "RENAME COLUMN %.*s of %.*s: code of the previous release, still running "
                  "during the deploy, uses the old name and fails",
                  (int)col.len, col.s, (int)a->table.len, a->table.s);
}

static void report_type_change(section_ctx *c, const alter_ctx *a, lname col, size_t kw)
{
    report_at(c, DM_LINT_CHANGE_COLUMN_TYPE, kw,
              "changing the type of %.*s of %.*s rewrites the table under an exclusive lock, "
              "and code of the previous release may read or write values the new type rejects",
              (int)col.len, col.s, (int)a->table.len, a->table.s);
}

static void report_table_copy(section_ctx *c, const alter_ctx *a, size_t kw, const char *what)
{
    report_at(c, DM_LINT_MYSQL_TABLE_COPY, kw,
              "%.*s copies the whole table %.*s; writes are blocked until the copy is done",
              (int)strlen(what), what, (int)a->table.len, a->table.s);
}

static void report_set_not_null(section_ctx *c, const alter_ctx *a, lname col, size_t kw)
{
    report_at(c, DM_LINT_SET_NOT_NULL, kw,
              "NOT NULL on the existing column %.*s of %.*s: the whole table is scanned under an "
              "exclusive lock, and it fails (or rewrites values) if a row holds NULL",
              (int)col.len, col.s, (int)a->table.len, a->table.s);
}

static void lint_alter_column(section_ctx *c, alter_ctx *a, size_t from)
{
    size_t i = from + 1;
    if (W(c, i, "CONSTRAINT") || W(c, i, "INDEX"))
        return;
    i += (size_t)W(c, i, "COLUMN");
    lname col = name_at(c, i, &i);
    if (a->is_new || !col.len || column_is_new(c, a, col))
        return;
    if (W(c, i, "TYPE") || (W(c, i, "SET") && W(c, i + 1, "DATA") && W(c, i + 2, "TYPE")))
        report_type_change(c, a, col, from);
    else if (W(c, i, "SET") && W(c, i + 1, "NOT") && W(c, i + 2, "NULL"))
        report_set_not_null(c, a, col, from);
}

/* MySQL MODIFY col def / CHANGE old new def: a redefinition. */
static void lint_alter_redefine(section_ctx *c, alter_ctx *a, size_t from, size_t to)
{
    int change = W(c, from, "CHANGE");
    size_t i = from + 1 + (size_t)W(c, from + 1, "COLUMN");
    lname old = name_at(c, i, &i), now = old;
    if (change)
        now = name_at(c, i, &i);
    if (a->is_new || !old.len || column_is_new(c, a, old))
        return;
    if (!same_name(old.s, old.len, now.s, now.len)) {
        report_at(c, DM_LINT_RENAME_COLUMN, from,
                  "CHANGE renames the column %.*s of %.*s: code of the previous release, still "
                  "running during the deploy, uses the old name and fails",
                  (int)old.len, old.s, (int)a->table.len, a->table.s);
        return;
    }
    report_type_change(c, a, old, from);
    if (!a->algorithm_online)
        report_table_copy(c, a, from, change ? "CHANGE COLUMN" : "MODIFY COLUMN");
    if (has_words_depth0(c, i, to, "NOT", "NULL"))
        report_set_not_null(c, a, old, from);
}

static void lint_alter_action(section_ctx *c, alter_ctx *a, size_t from, size_t to)
{
    if (!W(c, from, "VALIDATE"))
        a->only_validate = 0;
    if (W(c, from, "ADD"))
        lint_alter_add(c, a, from, to);
    else if (W(c, from, "DROP"))
        lint_alter_drop(c, a, from);
    else if (W(c, from, "RENAME"))
        lint_alter_rename(c, a, from);
    else if (W(c, from, "ALTER"))
        lint_alter_column(c, a, from);
    else if (MY(c) && (W(c, from, "MODIFY") || W(c, from, "CHANGE")))
        lint_alter_redefine(c, a, from, to);
    else if (MY(c) && W(c, from, "CONVERT") && !a->is_new)
        report_table_copy(c, a, from, "CONVERT TO CHARACTER SET");
}

/* MySQL ALGORITHM [=] COPY|INPLACE|INSTANT anywhere in the statement. */
static void scan_algorithm(section_ctx *c, alter_ctx *a, size_t from)
{
    if (!MY(c))
        return;
    for (size_t i = find_word_depth0(c, from, NT(c), "ALGORITHM"); i < NT(c);
         i = find_word_depth0(c, i + 1, NT(c), "ALGORITHM")) {
        size_t v = i + 1 + (size_t)is_op(c, i + 1, '=');
        if (W(c, v, "INPLACE") || W(c, v, "INSTANT"))
            a->algorithm_online = 1;
        else if (W(c, v, "COPY") && !a->is_new)
            report_table_copy(c, a, i, "ALGORITHM=COPY");
    }
}

static void lint_alter_table(section_ctx *c)
{
    int ife;
    size_t i = skip_if_exists(c, 2, 0, &ife);
    i += (size_t)W(c, i, "ONLY");
    alter_ctx a;
    memset(&a, 0, sizeof a);
    a.table = name_at(c, i, &i);
    a.is_new = table_is_new(c, a.table);
    a.only_validate = 1;
    note_schema(c);
    scan_algorithm(c, &a, i);
    int depth = 0;
    size_t start = i;
    for (size_t k = i; k <= NT(c); k++) {
        if (k < NT(c) && is_op(c, k, '('))
            depth++;
        else if (k < NT(c) && is_op(c, k, ')'))
            depth--;
        else if (k == NT(c) || (depth == 0 && is_op(c, k, ',')) ||
                 TOK(c, k)->kind == DM_SQL_TOK_SEMICOLON) {
            if (k > start)
                lint_alter_action(c, &a, start, k);
            start = k + 1;
        }
    }
    if (!a.is_new && !a.only_validate)
        access_exclusive(c, 0, a.table);
}

/* ---- DROP, RENAME -------------------------------------------------------------------- */

static void lint_drop_table(section_ctx *c)
{
    int ife;
    size_t i = skip_if_exists(c, 2, 0, &ife);
    int any_existing = 0;
    lname first = {"", 0};
    while (is_name_tok(c, i) && !W(c, i, "CASCADE") && !W(c, i, "RESTRICT")) {
        lname t = name_at(c, i, &i);
        if (!first.len)
            first = t;
        if (!table_is_new(c, t)) {
            any_existing = 1;
            report_at(c, DM_LINT_DROP_TABLE, 0,
                      "DROP TABLE %.*s: its data is gone for good, and code of the previous "
                      "release, still running during the deploy, fails on every query of it",
                      (int)t.len, t.s);
        }
        if (!is_op(c, i, ','))
            break;
        i++;
    }
    if (any_existing)
        access_exclusive(c, 0, first);
    if (!ife)
        report_at(c, DM_LINT_NON_IDEMPOTENT_DDL, 0,
                  "DROP TABLE %.*s without IF EXISTS fails when run again", (int)first.len,
                  first.s);
}

static void lint_drop_index(section_ctx *c)
{
    size_t i = 2;
    int concurrently = W(c, i, "CONCURRENTLY"), ife;
    size_t conc_tok = i;
    i = skip_if_exists(c, i + (size_t)concurrently, 0, &ife);
    lname index = name_at(c, i, NULL);
    int is_new = names_has(&c->lt->indexes, index.s, index.len, NULL, 0);
    if (PG(c)) {
        if (concurrently && in_transaction(c))
            report_at(c, DM_LINT_CONCURRENT_IN_TRANSACTION, conc_tok,
                      "DROP INDEX CONCURRENTLY %.*s inside a transaction: PostgreSQL refuses "
                      "it (it cannot run in a transaction block), so the migration fails",
                      (int)index.len, index.s);
        else if (!concurrently && !is_new) {
            report_at(c, DM_LINT_DROP_INDEX_NOT_CONCURRENT, 0,
                      "DROP INDEX %.*s without CONCURRENTLY takes an ACCESS EXCLUSIVE lock on "
                      "its table: reads and writes wait behind it",
                      (int)index.len, index.s);
            access_exclusive(c, 0, index);
        }
    }
    if (!ife && !MY(c))
        report_at(c, DM_LINT_NON_IDEMPOTENT_DDL, 0,
                  "DROP INDEX %.*s without IF EXISTS fails when run again", (int)index.len,
                  index.s);
}

static void lint_drop(section_ctx *c)
{
    note_schema(c);
    if (W(c, 1, "TABLE"))
        lint_drop_table(c);
    else if (W(c, 1, "INDEX"))
        lint_drop_index(c);
}

/* MySQL RENAME TABLE a TO b [, c TO d]. */
static void lint_rename_table(section_ctx *c)
{
    note_schema(c);
    if (!W(c, 1, "TABLE"))
        return;
    size_t i = 2;
    while (i < NT(c)) {
        lname from = name_at(c, i, &i);
        if (!from.len || !W(c, i, "TO"))
            break;
        lname to = name_at(c, i + 1, &i);
        if (table_is_new(c, from))
            track(c, &c->lt->tables, to, (lname){"", 0});
        else
            report_at(c, DM_LINT_RENAME_TABLE, 0,
                      "RENAME TABLE %.*s TO %.*s: code of the previous release, still running "
                      "during the deploy, uses the old name and fails",
                      (int)from.len, from.s, (int)to.len, to.s);
        if (!is_op(c, i, ','))
            break;
        i++;
    }
}

/* ---- data statements ------------------------------------------------------------------ */

static size_t skip_words(const section_ctx *c, size_t i, const char *const *words)
{
    for (int again = 1; again;) {
        again = 0;
        for (size_t k = 0; words[k]; k++)
            if (W(c, i, words[k])) {
                i++;
                again = 1;
            }
    }
    return i;
}

static void lint_bounded(section_ctx *c, size_t table_at, const char *verb)
{
    lname t = name_at(c, table_at, NULL);
    int is_new = table_is_new(c, t);
    note_data(c, is_new);
    if (is_new || find_word_depth0(c, table_at, NT(c), "WHERE") < NT(c) ||
        find_word_depth0(c, table_at, NT(c), "LIMIT") < NT(c))
        return;
    report_at(c, DM_LINT_UNBOUNDED_UPDATE, 0,
              "%.*s without WHERE on the existing table %.*s touches every row in one "
              "transaction: it holds row locks on the whole table and can run for hours",
              (int)strlen(verb), verb, (int)t.len, t.s);
}

static void lint_update(section_ctx *c)
{
    static const char *const mods[] = {"ONLY", "LOW_PRIORITY", "IGNORE", NULL};
    size_t i = 1;
    if (W(c, i, "OR")) /* SQLite UPDATE OR REPLACE */
        i += 2;
    lint_bounded(c, skip_words(c, i, mods), "UPDATE");
}

static void lint_delete(section_ctx *c)
{
    static const char *const mods[] = {"LOW_PRIORITY", "QUICK", "IGNORE", NULL};
    size_t i = skip_words(c, 1, mods);
    if (!W(c, i, "FROM")) {
        note_data(c, 0);
        return;
    }
    i++;
    lint_bounded(c, i + (size_t)W(c, i + 1, "ONLY"), "DELETE");
}

static void lint_insert(section_ctx *c)
{
    size_t into = find_word_depth0(c, 1, NT(c), "INTO");
    size_t at = into < NT(c) ? into + 1 : 1; /* COPY table ... */
    note_data(c, table_is_new(c, name_at(c, at, NULL)));
}

static void lint_truncate(section_ctx *c)
{
    static const char *const mods[] = {"TABLE", "ONLY", NULL};
    size_t i = skip_words(c, 1, mods);
    lname t = name_at(c, i, NULL);
    note_data(c, table_is_new(c, t));
    if (PG(c) && find_word_depth0(c, i, NT(c), "CASCADE") < NT(c))
        report_at(c, DM_LINT_TRUNCATE_CASCADE, 0,
                  "TRUNCATE %.*s CASCADE also empties every table that references it, "
                  "recursively, which the statement does not name",
                  (int)t.len, t.s);
    if (!table_is_new(c, t))
        access_exclusive(c, 0, t);
}

/* ---- session and transactions ----------------------------------------------------------- */

static void lint_set(section_ctx *c)
{
    size_t i = 1 + (size_t)(W(c, 1, "SESSION") || W(c, 1, "LOCAL"));
    if (!W(c, i, "LOCK_TIMEOUT"))
        return;
    i++;
    i += (size_t)(W(c, i, "TO") || is_op(c, i, '='));
    if (i >= NT(c))
        return;
    /* 0 (in any unit) means no timeout */
    const dm_sql_token *v = TOK(c, i);
    const char *s = c->text + v->value_offset;
    size_t k = 0;
    while (k < v->value_len && (s[k] == '0' || s[k] == '.'))
        k++;
    int zero = k > 0 && (k == v->value_len || !(s[k] >= '1' && s[k] <= '9'));
    c->lock_timeout_set = !zero && !W(c, i, "DEFAULT");
}

static void lint_transaction_control(section_ctx *c, int begins)
{
    if (c->transactional)
        report_at(c, DM_LINT_TRANSACTION_NESTING, 0,
                  "%.*s inside a migration the migrator already runs in a transaction: it "
                  "ends or nests the migrator's own, so the history row and the change no longer "
                  "commit together",
                  (int)TOK(c, 0)->len, c->text + TOK(c, 0)->offset);
    if (begins) {
        c->tx_open = 1;
        c->tx_line = c->line;
        c->tx_stmt = c->stmt;
    } else {
        c->tx_open = 0;
    }
}

static void lint_statement(section_ctx *c)
{
    if (NT(c) == 0)
        return;
    if (W(c, 0, "CREATE"))
        lint_create(c);
    else if (W(c, 0, "ALTER") && W(c, 1, "TABLE"))
        lint_alter_table(c);
    else if (W(c, 0, "ALTER") || W(c, 0, "COMMENT"))
        note_schema(c);
    else if (W(c, 0, "DROP"))
        lint_drop(c);
    else if (W(c, 0, "RENAME"))
        lint_rename_table(c);
    else if (W(c, 0, "UPDATE"))
        lint_update(c);
    else if (W(c, 0, "DELETE"))
        lint_delete(c);
    else if (W(c, 0, "INSERT") || W(c, 0, "REPLACE") || W(c, 0, "MERGE") || W(c, 0, "COPY"))
        lint_insert(c);
    else if (W(c, 0, "TRUNCATE"))
        lint_truncate(c);
    else if (W(c, 0, "SET"))
        lint_set(c);
    else if ((W(c, 0, "BEGIN") && !W(c, 1, "NOT")) || (W(c, 0, "START") && W(c, 1, "TRANSACTION")))
        lint_transaction_control(c, 1);
    else if (W(c, 0, "COMMIT") || W(c, 0, "END") ||
             (W(c, 0, "ROLLBACK") && !has_words_depth0(c, 1, NT(c), "TO", NULL)))
        lint_transaction_control(c, 0);
}

/* Lex one statement into the reusable token array. */
static int load_tokens(section_ctx *c, const char *sql)
{
    dm_linter *lt = c->lt;
    size_t len = strlen(sql);
    dm_sql_lexer lx;
    dm_sql_lexer_init(&lx, lt->dialect, sql, len, 0);
    lx.plain_words = 1;
    lt->ntoks = 0;
    dm_sql_token tok;
    while (dm_sql_lexer_next(&lx, &tok) == 1) {
        if (lt->ntoks == lt->toks_cap) {
            size_t cap = lt->toks_cap ? lt->toks_cap * 2 : 256;
            dm_sql_token *grown = dm_realloc(lt->toks, cap * sizeof *grown);
            if (!grown)
                return DBMGMT_ERR_NOMEM;
            lt->toks = grown;
            lt->toks_cap = cap;
        }
        lt->toks[lt->ntoks++] = tok;
    }
    return DBMGMT_OK;
}

/* ---- allow comments ------------------------------------------------------------------- */

static lint_allow *allow_push(dm_linter *lt)
{
    if (lt->nallows == lt->allows_cap) {
        size_t cap = lt->allows_cap ? lt->allows_cap * 2 : 8;
        lint_allow *grown = dm_realloc(lt->allows, cap * sizeof *grown);
        if (!grown)
            return NULL;
        lt->allows = grown;
        lt->allows_cap = cap;
    }
    lint_allow *a = &((lint_allow *)lt->allows)[lt->nallows++];
    memset(a, 0, sizeof *a);
    return a;
}

static const char ALLOW_MARK[] = "dbmgmt:allow";
#define ALLOW_MARK_LEN (sizeof ALLOW_MARK - 1)

static const char *find_allow_mark(const char *p, size_t n)
{
    while (n >= ALLOW_MARK_LEN) {
        const char *d = memchr(p, 'd', n - ALLOW_MARK_LEN + 1);
        if (!d)
            return NULL;
        if (memcmp(d, ALLOW_MARK, ALLOW_MARK_LEN) == 0)
            return d;
        n -= (size_t)(d - p) + 1;
        p = d + 1;
    }
    return NULL;
}

/* One `dbmgmt:allow RULE reason` at p (inside a comment ending at or before end). */
static int parse_allow(dm_linter *lt, const char *p, const char *end, int32_t line, int trailing)
{
    lint_allow *a = allow_push(lt);
    if (!a)
        return DBMGMT_ERR_NOMEM;
    a->line = line;
    a->trailing = trailing;
    a->target = -1;
    const char *q = p + ALLOW_MARK_LEN;
    while (q < end && (*q == ' ' || *q == '\t'))
        q++;
    a->rule_text = q;
    while (q < end && ((*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') ||
                       (*q >= '0' && *q <= '9') || *q == '-' || *q == '_'))
        q++;
    a->rule_len = (size_t)(q - a->rule_text);
    a->rule = rule_by_id(a->rule_text, a->rule_len);
    const char *r = q;
    while (r < end && *r != '\n' && !(r + 1 < end && r[0] == '*' && r[1] == '/')) {
        if (!(*r == ' ' || *r == '\t' || *r == '\r'))
            a->has_reason = 1;
        r++;
    }
    return DBMGMT_OK;
}

/* Find every allow comment: they live in the gaps between the section's
 * tokens, which hold only blanks and comments. */
static int collect_allows(dm_linter *lt, const dm_section *s)
{
    lt->nallows = 0;
    if (!s->sql || !find_allow_mark(s->sql, s->len))
        return DBMGMT_OK;
    dm_sql_lexer lx;
    dm_sql_lexer_init(&lx, lt->dialect, s->sql, s->len, 0);
    lx.plain_words = 1;
    dm_sql_token tok;
    size_t prev_end = 0, lpos = 0;
    int have_prev = 0, more = 1;
    int32_t line = s->line;
    while (more) {
        more = dm_sql_lexer_next(&lx, &tok) == 1;
        size_t gap_end = more ? tok.offset : s->len;
        const char *g = s->sql + prev_end, *gend = s->sql + gap_end;
        while (g < gend) {
            const char *hit = find_allow_mark(g, (size_t)(gend - g));
            if (!hit)
                break;
            size_t at = (size_t)(hit - s->sql);
            for (; lpos < at; lpos++)
                line += s->sql[lpos] == '\n';
            int trailing = have_prev && !memchr(s->sql + prev_end, '\n', at - prev_end);
            if (parse_allow(lt, hit, gend, line, trailing) != DBMGMT_OK)
                return DBMGMT_ERR_NOMEM;
            g = hit + 1;
        }
        if (more) {
            prev_end = tok.offset + tok.len;
            have_prev = 1;
        }
    }
    return DBMGMT_OK;
}

typedef struct stmt_span {
    int32_t first, last;
} stmt_span;

/* Which statement each allow applies to: a trailing comment to the
 * statement it ends; a comment on its own line inside a statement to that
 * statement; otherwise to the next statement. */
static void target_allows(dm_linter *lt, const stmt_span *spans, size_t n)
{
    lint_allow *allows = lt->allows;
    for (size_t k = 0; k < lt->nallows; k++) {
        lint_allow *a = &allows[k];
        for (size_t i = 0; i < n; i++) {
            if (a->trailing ? spans[i].first <= a->line
                            : (spans[i].first < a->line && a->line <= spans[i].last) ||
                                  spans[i].first > a->line)
                a->target = (long)i;
            if (!a->trailing && a->target >= 0)
                break;
        }
    }
}

/* Drop the findings of this section that an allow silences; report allows
 * that silence nothing or give no reason. */
static void apply_allows(section_ctx *c, size_t first)
{
    dm_linter *lt = c->lt;
    lint_allow *allows = lt->allows;
    dm_lint_findings *f = c->out;
    for (size_t i = first; i < f->count; i++)
        for (size_t k = 0; k < lt->nallows; k++) {
            lint_allow *a = &allows[k];
            if (a->has_reason && a->rule == (int)f->items[i].rule &&
                (f->items[i].stmt < 0 || a->target == f->items[i].stmt)) {
                a->used = 1;
                f->items[i].suppressed = 1;
            }
        }
    size_t keep = first;
    for (size_t i = first; i < f->count; i++) {
        if (f->items[i].suppressed)
            dm_free(f->items[i].message);
        else
            f->items[keep++] = f->items[i];
    }
    f->count = keep;
    for (size_t k = 0; k < lt->nallows; k++) {
        const lint_allow *a = &allows[k];
        if (a->rule < 0)
            report(c, DM_LINT_UNUSED_ALLOW, -1, a->line,
                   "`dbmgmt:allow %.*s` names no known rule: it silences nothing", (int)a->rule_len,
                   a->rule_text);
        else if (!a->has_reason)
            report(c, DM_LINT_ALLOW_WITHOUT_REASON, -1, a->line,
                   "`dbmgmt:allow %.*s` gives no reason, so it silences nothing", (int)a->rule_len,
                   a->rule_text);
        else if (!a->used)
            report(c, DM_LINT_UNUSED_ALLOW, -1, a->line,
                   "`dbmgmt:allow %.*s` silences nothing: no such finding on the statement it "
                   "applies to",
                   (int)a->rule_len, a->rule_text);
    }
}

/* ---- a section ------------------------------------------------------------------------ */

static void lint_statements(section_ctx *c, const dm_mig_statements *list, stmt_span *spans)
{
    for (size_t i = 0; i < list->count && c->rc == DBMGMT_OK; i++) {
        c->text = list->items[i].sql;
        c->line = list->items[i].line;
        c->stmt = (long)i;
        if (load_tokens(c, c->text) != DBMGMT_OK) {
            c->rc = DBMGMT_ERR_NOMEM;
            break;
        }
        if (spans) {
            spans[i].first = c->line;
            spans[i].last = c->line;
            for (const char *p = c->text; *p; p++)
                spans[i].last += *p == '\n';
        }
        lint_statement(c);
    }
}

static void finish_section(section_ctx *c, int32_t direction)
{
    int32_t start = c->sec->line > 0 ? c->sec->line : 1;
    if (c->tx_open)
        report(c, DM_LINT_UNCOMMITTED_TRANSACTION, c->tx_stmt, c->tx_line,
               "a transaction is opened here and never committed: what follows runs inside it, "
               "and the migrator's own COMMIT (or the session's end) decides its fate");
    if (c->saw_schema && c->saw_data)
        report(c, DM_LINT_MIXED_SCHEMA_AND_DATA, -1, c->data_line,
               "schema and data changes in one migration: the data change holds the locks of "
               "the schema change for its whole run, and where DDL is not transactional a "
               "failure leaves half of it applied");
    if (direction == DBMGMT_UP && !c->mig->down.sql)
        report(c, DM_LINT_MISSING_DOWN, -1, start,
               "migration %s has no down section: it cannot be reverted by the migrator",
               c->mig->version);
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
    memset(&c, 0, sizeof c);
    c.lt = lt;
    c.mig = mig;
    c.sec = &mig->up;
    c.quiet = 1;
    c.out = &none;
    lint_statements(&c, up, NULL);
    return c.rc;
}

/* After an up step of a followed plan: the tables it created that the live
 * database does not have are new for the steps after it. */
static int remember_plan_tables(dm_linter *lt)
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
        if (lt->nplan_tables == lt->plan_tables_cap) {
            size_t cap = lt->plan_tables_cap ? lt->plan_tables_cap * 2 : 16;
            char **grown = dm_realloc(lt->plan_tables, cap * sizeof *grown);
            if (!grown) {
                dm_free(name);
                return DBMGMT_ERR_NOMEM;
            }
            lt->plan_tables = grown;
            lt->plan_tables_cap = cap;
        }
        lt->plan_tables[lt->nplan_tables++] = name;
    }
    return DBMGMT_OK;
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
    stmt_span *spans = rc == DBMGMT_OK && list.count ? dm_calloc(list.count, sizeof *spans) : NULL;
    if (rc == DBMGMT_OK && list.count && !spans)
        rc = DBMGMT_ERR_NOMEM;
    if (rc == DBMGMT_OK)
        rc = collect_allows(lt, sec);
    if (rc == DBMGMT_OK) {
        section_ctx c;
        memset(&c, 0, sizeof c);
        c.lt = lt;
        c.mig = mig;
        c.sec = sec;
        c.transactional = transactional;
        c.step = step;
        c.out = out;
        size_t first = out->count;
        lint_statements(&c, &list, spans);
        finish_section(&c, direction);
        target_allows(lt, spans, list.count);
        if (c.rc == DBMGMT_OK)
            apply_allows(&c, first);
        rc = c.rc;
    }
    if (rc == DBMGMT_OK && direction == DBMGMT_UP && lt->live_table_exists)
        rc = remember_plan_tables(lt);
    if (rc == DBMGMT_ERR_NOMEM)
        dm_error_set(err, rc, "out of memory linting %s", sec->file ? sec->file : mig->version);
    dm_free(spans);
    dm_mig_statements_free(&list);
    if (up.owner || up.items)
        dm_mig_statements_free(&up);
    lt->tables.count = lt->columns.count = lt->indexes.count = 0;
    return rc;
}
