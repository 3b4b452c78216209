/*
 * ALTER TABLE: the statement is cut into its actions (at commas of depth
 * 0) and each action is read into the facts its rules take: the column,
 * whether the table and the column exist, the new definition. MySQL's
 * ALGORITHM clause is read for the whole statement first.
 */
#include <string.h>

#include "lint/lint_impl.h"

/* [COLUMN] name at i; *next is the index after it. */
static lname column_at(const section_ctx *c, size_t i, size_t *next)
{
    return lint_name_at(c, skip_word(c, i, "COLUMN"), next);
}

/* ---- ADD ----------------------------------------------------------------------- */

/* The definition of an added column, tokens [from, to). */
static column_def read_column_def(const section_ctx *c, lname name, size_t kw, size_t from,
                                  size_t to)
{
    static const char *const serials[] = {"SERIAL",  "BIGSERIAL", "SMALLSERIAL",
                                          "SERIAL4", "SERIAL8",   "SERIAL2",
                                          NULL};
    static const char *const filled[] = {"GENERATED", "AUTO_INCREMENT", "AUTOINCREMENT",
                                         "PRIMARY",   "AS",             NULL};
    column_def d = {name, kw, from, to, 0, 0, to, 0};
    d.serial = lint_word_in(c, from, serials);
    d.not_null = lint_has_words_depth0(c, from, to, "NOT", "NULL");
    d.def = lint_find_word_depth0(c, from, to, "DEFAULT");
    d.generated = lint_find_depth0(c, from, to, filled) < to || d.serial;
    return d;
}

static void lint_alter_add(section_ctx *c, alter_ctx *a, size_t from, size_t to)
{
    static const char *const other_additions[] = {"INDEX",     "KEY",    "FULLTEXT", "SPATIAL",
                                                  "PARTITION", "PERIOD", "EXCLUDE",  NULL};
    size_t i = from + 1;
    int named = is_word(c, i, "CONSTRAINT");
    if (named)
        lint_name_at(c, i + 1, &i);
    if (is_word(c, i, "FOREIGN") || is_word(c, i, "CHECK")) {
        lint_rule_constraint_not_valid(c, a, from, i, to);
        return;
    }
    if (is_word(c, i, "UNIQUE") || is_word(c, i, "PRIMARY")) {
        lint_rule_constraint_index(c, a, from, i, to);
        return;
    }
    if (named || lint_word_in(c, i, other_additions))
        return;
    int ifne;
    i = lint_skip_if_exists(c, skip_word(c, i, "COLUMN"), 1, &ifne);
    lname col = lint_name_at(c, i, &i);
    lint_track(c, &c->lt->columns, col, a->table);
    if (a->is_new || !col.len)
        return;
    column_def def = read_column_def(c, col, from, i, to);
    lint_rule_add_not_null_column(c, a, &def);
    lint_rule_volatile_default(c, a, &def);
}

/* ---- DROP, RENAME, ALTER COLUMN --------------------------------------------------- */

static void lint_alter_drop(section_ctx *c, alter_ctx *a, size_t from)
{
    static const char *const other_drops[] = {
        "CONSTRAINT", "INDEX",  "KEY",    "PRIMARY",    "FOREIGN",  "CHECK", "PARTITION",
        "DEFAULT",    "PERIOD", "SYSTEM", "EXPRESSION", "IDENTITY", NULL};
    size_t i = from + 1;
    if (!is_word(c, i, "COLUMN") && lint_word_in(c, i, other_drops))
        return;
    int ife;
    i = lint_skip_if_exists(c, skip_word(c, i, "COLUMN"), 0, &ife);
    lname col = lint_name_at(c, i, NULL);
    if (lint_column_is_existing(c, a, col))
        lint_rule_drop_column(c, a, col, from);
}

static void lint_alter_rename(section_ctx *c, alter_ctx *a, size_t from)
{
    size_t i = from + 1;
    if (is_word(c, i, "INDEX") || is_word(c, i, "KEY") || is_word(c, i, "CONSTRAINT"))
        return;
    int to_word = is_word(c, i, "TO") || is_word(c, i, "AS");
    if (to_word || (MY(c) && !is_word(c, i, "COLUMN"))) { /* the table */
        lname to = lint_name_at(c, i + (size_t)to_word, NULL);
        if (a->is_new) {
            lint_track(c, &c->lt->tables, to, (lname){"", 0});
            lint_galera_table_renamed(c, a->table, to);
        } else {
            lint_rule_alter_rename_table(c, a, to, from);
        }
        return;
    }
    lname col = column_at(c, i, &i);
    if (is_word(c, i, "TO") && lint_column_is_existing(c, a, col))
        lint_rule_rename_column(c, a, col, from);
}

/* ALTER [COLUMN] col TYPE ... | SET DATA TYPE ... | SET NOT NULL */
static void lint_alter_column(section_ctx *c, alter_ctx *a, size_t from)
{
    size_t i = from + 1;
    if (is_word(c, i, "CONSTRAINT") || is_word(c, i, "INDEX"))
        return;
    lname col = column_at(c, i, &i);
    if (!lint_column_is_existing(c, a, col))
        return;
    if (is_word(c, i, "TYPE") ||
        (is_word(c, i, "SET") && is_word(c, i + 1, "DATA") && is_word(c, i + 2, "TYPE")))
        lint_rule_change_column_type(c, a, col, from);
    else if (is_word(c, i, "SET") && is_word(c, i + 1, "NOT") && is_word(c, i + 2, "NULL"))
        lint_rule_set_not_null(c, a, col, from);
}

/* MySQL MODIFY col def / CHANGE old new def: a redefinition. */
static void lint_alter_redefine(section_ctx *c, alter_ctx *a, size_t from, size_t to)
{
    int change = is_word(c, from, "CHANGE");
    size_t i;
    lname old = column_at(c, from + 1, &i), now = old;
    if (change)
        now = lint_name_at(c, i, &i);
    if (!lint_column_is_existing(c, a, old))
        return;
    if (!lint_same_name(old.s, old.len, now.s, now.len)) {
        lint_rule_change_renames_column(c, a, old, from);
        return;
    }
    lint_rule_change_column_type(c, a, old, from);
    if (!a->algorithm_online)
        lint_rule_mysql_table_copy(c, a, from, change ? "CHANGE COLUMN" : "MODIFY COLUMN");
    if (lint_has_words_depth0(c, i, to, "NOT", "NULL"))
        lint_rule_set_not_null(c, a, old, from);
}

/* ---- the statement ------------------------------------------------------------- */

/* One action, tokens [from, to). */
static void lint_alter_action(section_ctx *c, alter_ctx *a, size_t from, size_t to)
{
    if (!is_word(c, from, "VALIDATE"))
        a->only_validate = 0;
    if (is_word(c, from, "ADD"))
        lint_alter_add(c, a, from, to);
    else if (is_word(c, from, "DROP"))
        lint_alter_drop(c, a, from);
    else if (is_word(c, from, "RENAME"))
        lint_alter_rename(c, a, from);
    else if (is_word(c, from, "ALTER"))
        lint_alter_column(c, a, from);
    else if (MY(c) && (is_word(c, from, "MODIFY") || is_word(c, from, "CHANGE")))
        lint_alter_redefine(c, a, from, to);
    else if (MY(c) && is_word(c, from, "CONVERT") && !a->is_new)
        lint_rule_mysql_table_copy(c, a, from, "CONVERT TO CHARACTER SET");
}

/* MySQL ALGORITHM [=] COPY|INPLACE|INSTANT anywhere in the statement. */
static void scan_algorithm(section_ctx *c, alter_ctx *a, size_t from)
{
    if (!MY(c))
        return;
    for (size_t i = lint_find_word_depth0(c, from, NT(c), "ALGORITHM"); i < NT(c);
         i = lint_find_word_depth0(c, i + 1, NT(c), "ALGORITHM")) {
        size_t v = i + 1 + (size_t)is_op(c, i + 1, '=');
        if (is_word(c, v, "INPLACE") || is_word(c, v, "INSTANT"))
            a->algorithm_online = 1;
        else if (is_word(c, v, "COPY") && !a->is_new)
            lint_rule_mysql_table_copy(c, a, i, "ALGORITHM=COPY");
    }
}

void lint_alter_table(section_ctx *c)
{
    int ife;
    size_t i = skip_word(c, lint_skip_if_exists(c, 2, 0, &ife), "ONLY");
    alter_ctx a;
    memset(&a, 0, sizeof a);
    a.table = lint_name_at(c, i, &i);
    a.is_new = lint_table_is_new(c, a.table);
    a.only_validate = 1;
    lint_note_schema(c);
    scan_algorithm(c, &a, i);
    int depth = 0;
    size_t start = i;
    for (size_t k = i; k <= NT(c); k++) {
        if (is_paren(c, k, &depth))
            continue;
        if (k == NT(c) || (depth == 0 && is_op(c, k, ',')) ||
            TOK(c, k)->kind == DM_SQL_TOK_SEMICOLON) {
            if (k > start)
                lint_alter_action(c, &a, start, k);
            start = k + 1;
        }
    }
    if (!a.is_new && !a.only_validate)
        lint_access_exclusive(c, 0, a.table);
    lint_galera_alter_table(c, &a, i);
}
