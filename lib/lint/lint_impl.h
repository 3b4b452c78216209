/*
 * What the files of lib/lint share. Private to the module: the migrator and
 * the lint report use lint.h.
 *
 * The engine (linter.c) splits a migration's section into statements and
 * lexes each one; the readers (statements.c, alter_table.c) work out what
 * the statement does and call the rules of each family with those facts, in
 * the statement's order. A rule decides whether that is a finding and says
 * why. Where to look:
 *
 *   linter.c             the engine: a section statement by statement, what
 *                        the up section creates when a down is linted
 *   statements.c         dispatch on a statement's first words; CREATE, DROP,
 *                        RENAME TABLE, UPDATE/DELETE/INSERT/TRUNCATE
 *   alter_table.c        ALTER TABLE, action by action
 *   match.c              token matching the readers and the rules share
 *   schema.c             tables, columns and indexes followed through a
 *                        migration and through a plan
 *   findings.c           the findings list: reporting, order, JSON
 *   allow.c              `dbmgmt:allow` comments; allow-without-reason,
 *                        unused-allow
 *   rule_table.c         every rule's id, severity and advice
 *   rules_destructive.c  drop-column, drop-table, rename-column, rename-table,
 *                        change-column-type, add-not-null-column,
 *                        truncate-cascade
 *   rules_locking.c      index-not-concurrent, drop-index-not-concurrent,
 *                        constraint-not-valid, set-not-null, volatile-default,
 *                        mysql-table-copy, unbounded-update,
 *                        lock-timeout-missing
 *   rules_transaction.c  concurrent-in-transaction, transaction-nesting,
 *                        uncommitted-transaction
 *   rules_idempotency.c  non-idempotent-ddl
 *   rules_migration.c    mixed-schema-and-data, missing-down
 *   rules_galera.c       galera-no-primary-key, galera-non-transactional-engine,
 *                        galera-explicit-lock, galera-toi-alter (only with the
 *                        linter's galera flag, MySQL dialect)
 *   rules_seed.c         seed-non-idempotent-insert, seed-ddl (only with the
 *                        linter's seeds flag, in place of all the others)
 */
#ifndef DM_LINT_IMPL_H
#define DM_LINT_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "lint/lint.h"

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

/* The table an ALTER TABLE statement changes. */
typedef struct alter_ctx {
    lname table;
    int is_new;
    int algorithm_online; /* MySQL ALGORITHM=INPLACE/INSTANT */
    int only_validate;
} alter_ctx;

/* ADD [COLUMN] name definition on an existing table: the definition is the
 * tokens [from, to); kw is the ADD (the finding's line). */
typedef struct column_def {
    lname name;
    size_t kw, from, to;
    int serial;    /* PostgreSQL SERIAL types: a sequence default */
    int not_null;
    size_t def;    /* the DEFAULT at depth 0, or to */
    int generated; /* filled by the server: GENERATED, AUTO_INCREMENT, PRIMARY KEY, AS, serial */
} column_def;

/* First and last file line of a statement (allow comments target them). */
typedef struct stmt_span {
    int32_t first, last;
} stmt_span;

/* The DDL statements that have an IF [NOT] EXISTS guard. */
typedef enum lint_ddl {
    LINT_CREATE_TABLE,
    LINT_CREATE_INDEX,
    LINT_DROP_TABLE,
    LINT_DROP_INDEX
} lint_ddl;

/* ---- tokens of the current statement (match.c has the rest) -------------- */

#define TOK(c, i) (&(c)->lt->toks[i])
#define NT(c) ((c)->lt->ntoks)
#define PG(c) ((c)->lt->dialect == DBMGMT_ENGINE_POSTGRES)
#define MY(c) ((c)->lt->dialect == DBMGMT_ENGINE_MYSQL)
#define LITE(c) ((c)->lt->dialect == DBMGMT_ENGINE_SQLITE)

/* Token i is the bare (unquoted) word, in any case; word is upper case. */
static inline int is_word(const section_ctx *c, size_t i, const char *word)
{
    return i < NT(c) && dm_sql_token_is_word(c->text, TOK(c, i), word);
}

/* Token i is the one-character operator ch. */
static inline int is_op(const section_ctx *c, size_t i, char ch)
{
    return i < NT(c) && TOK(c, i)->kind == DM_SQL_TOK_OPERATOR && TOK(c, i)->len == 1 &&
           c->text[TOK(c, i)->offset] == ch;
}

static inline int is_name_tok(const section_ctx *c, size_t i)
{
    return i < NT(c) &&
           (TOK(c, i)->kind == DM_SQL_TOK_IDENT || TOK(c, i)->kind == DM_SQL_TOK_KEYWORD);
}

/* Token i as written (quotes and all). */
static inline lname token_text(const section_ctx *c, size_t i)
{
    return (lname){c->text + TOK(c, i)->offset, TOK(c, i)->len};
}

/* i, or the index after it when token i is the (optional) word. */
static inline size_t skip_word(const section_ctx *c, size_t i, const char *word)
{
    return i + (size_t)is_word(c, i, word);
}

/* Whether token i is a parenthesis; *depth follows the nesting. */
static inline int is_paren(const section_ctx *c, size_t i, int *depth)
{
    if (is_op(c, i, '(')) {
        (*depth)++;
        return 1;
    }
    if (is_op(c, i, ')')) {
        (*depth)--;
        return 1;
    }
    return 0;
}

/* match.c */
/* A possibly qualified name at i (schema.table): its last part; *next is
 * the index after it. An empty name when there is none. */
lname lint_name_at(const section_ctx *c, size_t i, size_t *next);
/* Names compare without regard to case. */
int lint_same_name(const char *a, size_t alen, const char *b, size_t blen);
/* Token i is one of the words (a NULL-terminated list). */
int lint_word_in(const section_ctx *c, size_t i, const char *const *words);
/* The index after any run of the words from i on. */
size_t lint_skip_words(const section_ctx *c, size_t i, const char *const *words);
/* Past IF NOT EXISTS (not) or IF EXISTS at i; *found says whether it was there. */
size_t lint_skip_if_exists(const section_ctx *c, size_t i, int not, int *found);
/* Index of the first token at parenthesis depth 0 in [from, to) that is one
 * of the words (or the word), or `to`. */
size_t lint_find_depth0(const section_ctx *c, size_t from, size_t to, const char *const *words);
size_t lint_find_word_depth0(const section_ctx *c, size_t from, size_t to, const char *word);
/* w1 (followed by w2 unless NULL) at depth 0 in [from, to). */
int lint_has_words_depth0(const section_ctx *c, size_t from, size_t to, const char *w1,
                          const char *w2);
/* File line of token i of the current statement. */
int32_t lint_line_of_tok(const section_ctx *c, size_t i);
size_t lint_count_newlines(const char *s, size_t n);

/* linter.c */
/* Room for one more item in an array of count items of size bytes: the
 * array, moved if it had to grow (*cap then updated), or NULL when memory
 * runs out (the array is left as it was). */
void *lint_grow(void *items, size_t count, size_t *cap, size_t size, size_t first_cap);

/* statements.c, alter_table.c */
void lint_statement(section_ctx *c);
void lint_alter_table(section_ctx *c);

/* schema.c */
void lint_track(section_ctx *c, dm_lint_names *n, lname name, lname table);
/* Created by this migration, or by an earlier step of the followed plan. */
int lint_table_is_new(const section_ctx *c, lname t);
int lint_index_is_new(const section_ctx *c, lname index);
/* A column of an existing table that this migration did not add. */
int lint_column_is_existing(const section_ctx *c, const alter_ctx *a, lname col);
int lint_remember_plan_tables(dm_linter *lt);

/* rule_table.c */
int32_t lint_rule_severity(dm_lint_rule rule);
/* Whether an allow comment anywhere in the section silences the rule. */
int lint_rule_whole_migration(dm_lint_rule rule);
/* Whether the rule runs for this linter (the galera-* rules need its flag
 * and the MySQL dialect). */
int lint_rule_active(const dm_linter *lt, dm_lint_rule rule);
/* The rule with that id, or -1. */
int lint_rule_by_id(const char *s, size_t len);

/* findings.c: a finding at a statement (-1: the whole migration) and line,
 * or at token tok of the current statement. Nothing while quiet. */
void lint_report(section_ctx *c, dm_lint_rule rule, long stmt, int32_t line, const char *fmt,
                 ...) DM_PRINTF(5, 6);
void lint_report_at(section_ctx *c, dm_lint_rule rule, size_t tok, const char *fmt, ...)
    DM_PRINTF(4, 5);
/* A finding at token tok worded "<before><first><between><second><after>":
 * the message of a rule about two names (a column and its table, a table
 * and its new name). */
void lint_report_names(section_ctx *c, dm_lint_rule rule, size_t tok, const char *before,
                       lname first, const char *between, lname second, const char *after);
/* Frees what a dm_lint_finding owns (for dm_findings_clear / _filter). */
void lint_finding_release(void *record);

/* allow.c */
int lint_collect_allows(dm_linter *lt, const dm_section *s);
void lint_target_allows(dm_linter *lt, const stmt_span *spans, size_t n);
/* Drop the findings from first on that an allow silences; report the
 * allows that silence nothing. */
void lint_apply_allows(section_ctx *c, size_t first);

/* ---- the rules: each decides whether the facts it is given are a finding -- */

/* rules_destructive.c: the tables and columns given exist (this migration
 * or an earlier step of the plan did not create them), except where said. */
void lint_rule_drop_column(section_ctx *c, const alter_ctx *a, lname col, size_t kw);
void lint_rule_drop_table(section_ctx *c, lname table);
void lint_rule_rename_column(section_ctx *c, const alter_ctx *a, lname col, size_t kw);
void lint_rule_change_renames_column(section_ctx *c, const alter_ctx *a, lname old, size_t kw);
void lint_rule_alter_rename_table(section_ctx *c, const alter_ctx *a, lname to, size_t kw);
void lint_rule_rename_table(section_ctx *c, lname from, lname to);
void lint_rule_change_column_type(section_ctx *c, const alter_ctx *a, lname col, size_t kw);
void lint_rule_add_not_null_column(section_ctx *c, const alter_ctx *a, const column_def *col);
/* Any table (CASCADE empties the ones that reference it); i: its name. */
void lint_rule_truncate_cascade(section_ctx *c, lname table, size_t i);

/* rules_locking.c */
/* The statement takes ACCESS EXCLUSIVE on the existing table (PostgreSQL):
 * lock-timeout-missing, once per migration. */
void lint_access_exclusive(section_ctx *c, size_t tok, lname table);
/* SET [SESSION|LOCAL] lock_timeout ... */
void lint_set_statement(section_ctx *c);
/* CREATE INDEX without CONCURRENTLY on table. */
void lint_rule_index_not_concurrent(section_ctx *c, size_t kw, lname table);
/* ADD [CONSTRAINT name] UNIQUE|PRIMARY KEY ... (constraint_index) or
 * FOREIGN KEY|CHECK ... (constraint_not_valid): the action is [from, to),
 * its kind at i. */
void lint_rule_constraint_index(section_ctx *c, const alter_ctx *a, size_t from, size_t i,
                                size_t to);
void lint_rule_constraint_not_valid(section_ctx *c, const alter_ctx *a, size_t from, size_t i,
                                    size_t to);
/* DROP INDEX without CONCURRENTLY; is_new: this migration created it. */
void lint_rule_drop_index_not_concurrent(section_ctx *c, lname index, int is_new);
/* An existing column. */
void lint_rule_set_not_null(section_ctx *c, const alter_ctx *a, lname col, size_t kw);
void lint_rule_volatile_default(section_ctx *c, const alter_ctx *a, const column_def *col);
/* MySQL: `what` copies the whole table (the caller checks it exists). */
void lint_rule_mysql_table_copy(section_ctx *c, const alter_ctx *a, size_t kw, const char *what);
/* UPDATE/DELETE (verb) of the existing table at table_at. */
void lint_rule_unbounded_update(section_ctx *c, size_t table_at, lname table, const char *verb);

/* rules_transaction.c */
/* A statement with CONCURRENTLY: `what` describes it, followed by name. */
void lint_rule_concurrent_in_transaction(section_ctx *c, size_t tok, const char *what,
                                         lname name);
/* BEGIN / START TRANSACTION (begins), COMMIT / END / ROLLBACK. */
void lint_transaction_statement(section_ctx *c, int begins);
void lint_rule_uncommitted_transaction(section_ctx *c);

/* rules_idempotency.c: guarded: the statement has its IF [NOT] EXISTS. */
void lint_rule_non_idempotent_ddl(section_ctx *c, lint_ddl ddl, size_t tok, lname name,
                                  int guarded);

/* rules_migration.c */
void lint_note_schema(section_ctx *c);
void lint_note_data(section_ctx *c, int on_new_table);
void lint_rule_mixed_schema_and_data(section_ctx *c);
void lint_rule_missing_down(section_ctx *c, int32_t direction);

/* rules_galera.c: each returns at once unless the linter's galera flag is
 * set and the dialect is MySQL. */
/* Before a section's statements: no keyless table yet. */
void lint_galera_section_start(dm_linter *lt);
/* Every statement: LOCK TABLES, FLUSH TABLES ... WITH READ LOCK, GET_LOCK(),
 * SET default_storage_engine. */
void lint_galera_statement(section_ctx *c);
/* CREATE [TEMPORARY] TABLE table (kw: TABLE); i: the token after its name. */
void lint_galera_create_table(section_ctx *c, size_t kw, lname table, size_t i, int temporary);
/* ALTER TABLE a->table; its actions start at token from. */
void lint_galera_alter_table(section_ctx *c, const alter_ctx *a, size_t from);
/* CREATE INDEX / DROP INDEX (what) on table, at token kw. */
void lint_galera_index(section_ctx *c, size_t kw, const char *what, lname table);
/* A table of the section renamed (ALTER TABLE ... RENAME, RENAME TABLE) or
 * dropped: a keyless one is followed, or forgotten. */
void lint_galera_table_renamed(section_ctx *c, lname from, lname to);
void lint_galera_table_dropped(section_ctx *c, lname table);
/* At the end of a section: the tables it created that still have no key. */
void lint_rule_galera_keyless_tables(section_ctx *c);

/* rules_seed.c: a statement of a seed file (the linter's seeds flag), in
 * place of lint_statement. */
void lint_seed_statement(section_ctx *c);

#endif
