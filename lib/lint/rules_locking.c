/*
 * Locking and blocking (docs/lint.md): statements that block reads or
 * writes of an existing table for as long as they run.
 *   index-not-concurrent, drop-index-not-concurrent, constraint-not-valid,
 *   set-not-null, volatile-default, mysql-table-copy, unbounded-update,
 *   lock-timeout-missing
 */
#include <string.h>

#include "lint/lint_impl.h"

/* ---- lock-timeout-missing ------------------------------------------------ */

void lint_access_exclusive(section_ctx *c, size_t tok, lname table)
{
    if (!PG(c) || c->lock_timeout_set || c->lock_reported)
        return;
    c->lock_reported = 1;
    lint_report_at(c, DM_LINT_LOCK_TIMEOUT_MISSING, tok,
                   "this statement takes an ACCESS EXCLUSIVE lock on %.*s with no SET "
                   "lock_timeout before it: while it waits behind a long query every read and "
                   "write of the table queues behind it",
                   (int)table.len, table.s);
}

/* Whether a lock_timeout value is 0 (in any unit): no timeout. */
static int is_zero_timeout(const section_ctx *c, const dm_sql_token *v)
{
    const char *s = c->text + v->value_offset;
    size_t k = 0;
    while (k < v->value_len && (s[k] == '0' || s[k] == '.'))
        k++;
    return k > 0 && (k == v->value_len || !(s[k] >= '1' && s[k] <= '9'));
}

void lint_set_statement(section_ctx *c)
{
    size_t i = 1 + (size_t)(is_word(c, 1, "SESSION") || is_word(c, 1, "LOCAL"));
    if (!is_word(c, i, "LOCK_TIMEOUT"))
        return;
    i++;
    i += (size_t)(is_word(c, i, "TO") || is_op(c, i, '='));
    if (i >= NT(c))
        return;
    c->lock_timeout_set = !is_zero_timeout(c, TOK(c, i)) && !is_word(c, i, "DEFAULT");
}

/* ---- indexes and constraints (PostgreSQL) ---------------------------------- */

/* CREATE INDEX without CONCURRENTLY. */
void lint_rule_index_not_concurrent(section_ctx *c, size_t kw, lname table)
{
    if (PG(c) && !lint_table_is_new(c, table))
        lint_report_at(c, DM_LINT_INDEX_NOT_CONCURRENT, kw,
                       "CREATE INDEX on the existing table %.*s without CONCURRENTLY: it "
                       "blocks every write to the table until the whole index is built",
                       (int)table.len, table.s);
}

/* PostgreSQL: ADD <kind> (the token i) on an existing table without `w1 w2`
 * in its action [i, to): "ADD <kind><between><table><after>". */
static void report_constraint_lacking(section_ctx *c, const alter_ctx *a, dm_lint_rule rule,
                                      size_t from, size_t i, size_t to, const char *w1,
                                      const char *w2, const char *between, const char *after)
{
    if (PG(c) && !a->is_new && !lint_has_words_depth0(c, i, to, w1, w2))
        lint_report_names(c, rule, from, "ADD ", token_text(c, i), between, a->table, after);
}

void lint_rule_constraint_index(section_ctx *c, const alter_ctx *a, size_t from, size_t i,
                                size_t to)
{
    report_constraint_lacking(c, a, DM_LINT_INDEX_NOT_CONCURRENT, from, i, to, "USING", "INDEX",
                              " on the existing table ",
                              " builds an index while every write to the table is blocked");
}

void lint_rule_constraint_not_valid(section_ctx *c, const alter_ctx *a, size_t from, size_t i,
                                    size_t to)
{
    report_constraint_lacking(
        c, a, DM_LINT_CONSTRAINT_NOT_VALID, from, i, to, "NOT", "VALID",
        " constraint on the existing table ",
        " without NOT VALID: every row is checked while writes to the table are blocked");
}

/* DROP INDEX without CONCURRENTLY. */
void lint_rule_drop_index_not_concurrent(section_ctx *c, lname index, int is_new)
{
    if (!PG(c) || is_new)
        return;
    lint_report_at(c, DM_LINT_DROP_INDEX_NOT_CONCURRENT, 0,
                   "DROP INDEX %.*s without CONCURRENTLY takes an ACCESS EXCLUSIVE lock on "
                   "its table: reads and writes wait behind it",
                   (int)index.len, index.s);
    lint_access_exclusive(c, 0, index);
}

/* ---- columns ------------------------------------------------------------------- */

/* An existing column of an existing table. */
void lint_rule_set_not_null(section_ctx *c, const alter_ctx *a, lname col, size_t kw)
{
    lint_report_names(c, DM_LINT_SET_NOT_NULL, kw, "NOT NULL on the existing column ", col, " of ",
                      a->table,
                      ": the whole table is scanned under an exclusive lock, and it fails (or "
                      "rewrites values) if a row holds NULL");
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
    static const char *const lite_now[] = {"CURRENT_TIMESTAMP", "CURRENT_DATE", "CURRENT_TIME",
                                           NULL};
    if (LITE(c)) /* SQLite refuses any non-constant default in ADD COLUMN */
        return is_op(c, from, '(') || lint_word_in(c, from, lite_now);
    const char *const *list = PG(c) ? pg : my;
    for (size_t i = from; i < to; i++)
        if (lint_word_in(c, i, list) && is_op(c, i + 1, '('))
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
    for (size_t i = from; i < to; i++)
        if (!is_paren(c, i, &depth) && depth == 0 && i > from && lint_word_in(c, i, stops))
            return i;
    return to;
}

void lint_rule_volatile_default(section_ctx *c, const alter_ctx *a, const column_def *col)
{
    int volatile_default = (PG(c) && col->serial) ||
                           (col->def < col->to &&
                            default_is_volatile(c, col->def + 1,
                                                default_end(c, col->def + 1, col->to)));
    if (volatile_default)
        lint_report_names(c, DM_LINT_VOLATILE_DEFAULT, col->kw, "ADD COLUMN ", col->name,
                          " on the existing table ", a->table,
                          " with a default evaluated per row: the whole table is rewritten under "
                          "an exclusive lock (SQLite refuses it)");
}

/* ---- whole tables -------------------------------------------------------------- */

void lint_rule_mysql_table_copy(section_ctx *c, const alter_ctx *a, size_t kw, const char *what)
{
    lint_report_at(c, DM_LINT_MYSQL_TABLE_COPY, kw,
                   "%.*s copies the whole table %.*s; writes are blocked until the copy is done",
                   (int)strlen(what), what, (int)a->table.len, a->table.s);
}

void lint_rule_unbounded_update(section_ctx *c, size_t table_at, lname table, const char *verb)
{
    static const char *const bounds[] = {"WHERE", "LIMIT", NULL};
    if (lint_find_depth0(c, table_at, NT(c), bounds) < NT(c))
        return;
    lint_report_at(c, DM_LINT_UNBOUNDED_UPDATE, 0,
                   "%.*s without WHERE on the existing table %.*s touches every row in one "
                   "transaction: it holds row locks on the whole table and can run for hours",
                   (int)strlen(verb), verb, (int)table.len, table.s);
}
