/*
 * What a statement does: dispatch on its first words, then read CREATE,
 * DROP, RENAME TABLE and the data statements into the facts the rules take
 * (which table, whether this migration created it, IF [NOT] EXISTS,
 * CONCURRENTLY). ALTER TABLE has its own file. The rules are called in the
 * order the statement's findings are reported.
 */
#include "lint/lint_impl.h"

static const lname no_name = {"", 0};

/* ---- CREATE -------------------------------------------------------------------- */

/* CREATE [UNIQUE] INDEX, i after INDEX. */
static void lint_create_index(section_ctx *c, size_t i)
{
    size_t kw = i - 1;
    int concurrently = is_word(c, i, "CONCURRENTLY"), ifne;
    size_t conc_tok = i;
    i = lint_skip_if_exists(c, i + (size_t)concurrently, 1, &ifne);
    lname index = no_name;
    if (!is_word(c, i, "ON") && !is_word(c, i, "USING"))
        index = lint_name_at(c, i, &i);
    size_t on = lint_find_word_depth0(c, i, NT(c), "ON");
    lname table = lint_name_at(c, skip_word(c, on + 1, "ONLY"), NULL);
    lint_track(c, &c->lt->indexes, index, table);
    lint_galera_index(c, kw, "CREATE INDEX", table);
    if (concurrently)
        lint_rule_concurrent_in_transaction(c, conc_tok, "CREATE INDEX CONCURRENTLY on", table);
    else
        lint_rule_index_not_concurrent(c, kw, table);
    lint_rule_non_idempotent_ddl(c, LINT_CREATE_INDEX, kw, index, ifne);
}

static void lint_create(section_ctx *c)
{
    static const char *const table_kinds[] = {"TEMP", "TEMPORARY", "UNLOGGED", "GLOBAL", "LOCAL",
                                              NULL};
    static const char *const index_kinds[] = {"UNIQUE", "FULLTEXT", "SPATIAL", NULL};
    static const char *const temporary[] = {"TEMP", "TEMPORARY", NULL};
    size_t i = 1;
    if (is_word(c, i, "OR") && is_word(c, i + 1, "REPLACE"))
        i += 2;
    size_t kinds = i;
    i = lint_skip_words(c, i, table_kinds);
    lint_note_schema(c);
    if (is_word(c, i, "TABLE")) {
        int ifne;
        size_t kw = i;
        i = lint_skip_if_exists(c, i + 1, 1, &ifne);
        lname t = lint_name_at(c, i, &i);
        lint_track(c, &c->lt->tables, t, no_name);
        lint_galera_create_table(c, kw, t, i, lint_find_depth0(c, kinds, kw, temporary) < kw);
        lint_rule_non_idempotent_ddl(c, LINT_CREATE_TABLE, kw, t, ifne);
        return;
    }
    i = lint_skip_words(c, i, index_kinds);
    if (is_word(c, i, "INDEX"))
        lint_create_index(c, i + 1);
}

/* ---- DROP, RENAME -------------------------------------------------------------- */

/* DROP TABLE [IF EXISTS] a [, b ...] */
static void lint_drop_table(section_ctx *c)
{
    int ife;
    size_t i = lint_skip_if_exists(c, 2, 0, &ife);
    int any_existing = 0;
    lname first = no_name;
    while (is_name_tok(c, i) && !is_word(c, i, "CASCADE") && !is_word(c, i, "RESTRICT")) {
        lname t = lint_name_at(c, i, &i);
        if (!first.len)
            first = t;
        if (!lint_table_is_new(c, t)) {
            any_existing = 1;
            lint_rule_drop_table(c, t);
        }
        lint_galera_table_dropped(c, t);
        if (!is_op(c, i, ','))
            break;
        i++;
    }
    if (any_existing)
        lint_access_exclusive(c, 0, first);
    lint_rule_non_idempotent_ddl(c, LINT_DROP_TABLE, 0, first, ife);
}

static void lint_drop_index(section_ctx *c)
{
    size_t i = 2;
    int concurrently = is_word(c, i, "CONCURRENTLY"), ife;
    size_t conc_tok = i;
    i = lint_skip_if_exists(c, i + (size_t)concurrently, 0, &ife);
    lname index = lint_name_at(c, i, &i);
    int is_new = lint_index_is_new(c, index);
    /* MySQL: DROP INDEX name ON table */
    lint_galera_index(c, 0, "DROP INDEX",
                      lint_name_at(c, lint_find_word_depth0(c, i, NT(c), "ON") + 1, NULL));
    if (concurrently)
        lint_rule_concurrent_in_transaction(c, conc_tok, "DROP INDEX CONCURRENTLY", index);
    else
        lint_rule_drop_index_not_concurrent(c, index, is_new);
    lint_rule_non_idempotent_ddl(c, LINT_DROP_INDEX, 0, index, ife);
}

static void lint_drop(section_ctx *c)
{
    lint_note_schema(c);
    if (is_word(c, 1, "TABLE"))
        lint_drop_table(c);
    else if (is_word(c, 1, "INDEX"))
        lint_drop_index(c);
}

/* MySQL RENAME TABLE a TO b [, c TO d]. */
static void lint_rename_table(section_ctx *c)
{
    lint_note_schema(c);
    if (!is_word(c, 1, "TABLE"))
        return;
    size_t i = 2;
    while (i < NT(c)) {
        lname from = lint_name_at(c, i, &i);
        if (!from.len || !is_word(c, i, "TO"))
            break;
        lname to = lint_name_at(c, i + 1, &i);
        if (lint_table_is_new(c, from)) {
            lint_track(c, &c->lt->tables, to, no_name);
            lint_galera_table_renamed(c, from, to);
        } else {
            lint_rule_rename_table(c, from, to);
        }
        if (!is_op(c, i, ','))
            break;
        i++;
    }
}

/* ---- data statements ----------------------------------------------------------- */

/* UPDATE or DELETE of the table at table_at. */
static void lint_bounded(section_ctx *c, size_t table_at, const char *verb)
{
    lname t = lint_name_at(c, table_at, NULL);
    int is_new = lint_table_is_new(c, t);
    lint_note_data(c, is_new);
    if (!is_new)
        lint_rule_unbounded_update(c, table_at, t, verb);
}

static void lint_update(section_ctx *c)
{
    static const char *const mods[] = {"ONLY", "LOW_PRIORITY", "IGNORE", NULL};
    size_t i = 1;
    if (is_word(c, i, "OR")) /* SQLite UPDATE OR REPLACE */
        i += 2;
    lint_bounded(c, lint_skip_words(c, i, mods), "UPDATE");
}

static void lint_delete(section_ctx *c)
{
    static const char *const mods[] = {"LOW_PRIORITY", "QUICK", "IGNORE", NULL};
    size_t i = lint_skip_words(c, 1, mods);
    if (!is_word(c, i, "FROM")) {
        lint_note_data(c, 0);
        return;
    }
    i++;
    lint_bounded(c, i + (size_t)is_word(c, i + 1, "ONLY"), "DELETE");
}

static void lint_insert(section_ctx *c)
{
    size_t into = lint_find_word_depth0(c, 1, NT(c), "INTO");
    size_t at = into < NT(c) ? into + 1 : 1; /* COPY table ... */
    lint_note_data(c, lint_table_is_new(c, lint_name_at(c, at, NULL)));
}

static void lint_truncate(section_ctx *c)
{
    static const char *const mods[] = {"TABLE", "ONLY", NULL};
    size_t i = lint_skip_words(c, 1, mods);
    lname t = lint_name_at(c, i, NULL);
    lint_note_data(c, lint_table_is_new(c, t));
    lint_rule_truncate_cascade(c, t, i);
    if (!lint_table_is_new(c, t))
        lint_access_exclusive(c, 0, t);
}

/* ---- dispatch ------------------------------------------------------------------ */

static int is_transaction_begin(const section_ctx *c)
{
    return (is_word(c, 0, "BEGIN") && !is_word(c, 1, "NOT")) ||
           (is_word(c, 0, "START") && is_word(c, 1, "TRANSACTION"));
}

static int is_transaction_end(const section_ctx *c)
{
    return is_word(c, 0, "COMMIT") || is_word(c, 0, "END") ||
           (is_word(c, 0, "ROLLBACK") && !lint_has_words_depth0(c, 1, NT(c), "TO", NULL));
}

void lint_statement(section_ctx *c)
{
    static const char *const inserts[] = {"INSERT", "REPLACE", "MERGE", "COPY", NULL};
    if (NT(c) == 0)
        return;
    lint_galera_statement(c);
    if (is_word(c, 0, "CREATE"))
        lint_create(c);
    else if (is_word(c, 0, "ALTER") && is_word(c, 1, "TABLE"))
        lint_alter_table(c);
    else if (is_word(c, 0, "ALTER") || is_word(c, 0, "COMMENT"))
        lint_note_schema(c);
    else if (is_word(c, 0, "DROP"))
        lint_drop(c);
    else if (is_word(c, 0, "RENAME"))
        lint_rename_table(c);
    else if (is_word(c, 0, "UPDATE"))
        lint_update(c);
    else if (is_word(c, 0, "DELETE"))
        lint_delete(c);
    else if (lint_word_in(c, 0, inserts))
        lint_insert(c);
    else if (is_word(c, 0, "TRUNCATE"))
        lint_truncate(c);
    else if (is_word(c, 0, "SET"))
        lint_set_statement(c);
    else if (is_transaction_begin(c))
        lint_transaction_statement(c, 1);
    else if (is_transaction_end(c))
        lint_transaction_statement(c, 0);
}
