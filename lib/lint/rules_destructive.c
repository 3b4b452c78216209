/*
 * Destructive changes (docs/lint.md): they lose data, or break the code of
 * the previous release that still runs during the deploy. The safe path is
 * expand-contract over two releases.
 *   drop-column, drop-table, rename-column, rename-table,
 *   change-column-type, add-not-null-column, truncate-cascade
 * The readers call these for existing tables and columns only (not created
 * by this migration or by an earlier step of the plan).
 */
#include "lint/lint_impl.h"

/* Why a rename breaks the deploy, the same for columns and tables. */
static const char old_name_fails[] =
    ": code of the previous release, still running during the deploy, uses the old name and fails";

void lint_rule_drop_column(section_ctx *c, const alter_ctx *a, lname col, size_t kw)
{
    lint_report_names(c, DM_LINT_DROP_COLUMN, kw, "DROP COLUMN ", col, " of ", a->table,
                      ": code of the previous release, still running during the deploy, reads or "
                      "writes the column and fails as soon as it is gone");
}

void lint_rule_drop_table(section_ctx *c, lname table)
{
    lint_report_at(c, DM_LINT_DROP_TABLE, 0,
                   "DROP TABLE %.*s: its data is gone for good, and code of the previous "
                   "release, still running during the deploy, fails on every query of it",
                   (int)table.len, table.s);
}

void lint_rule_rename_column(section_ctx *c, const alter_ctx *a, lname col, size_t kw)
{
    lint_report_names(c, DM_LINT_RENAME_COLUMN, kw, "RENAME COLUMN ", col, " of ", a->table,
                      old_name_fails);
}

/* MySQL CHANGE old new ... with another name. */
void lint_rule_change_renames_column(section_ctx *c, const alter_ctx *a, lname old, size_t kw)
{
    lint_report_names(c, DM_LINT_RENAME_COLUMN, kw, "CHANGE renames the column ", old, " of ",
                      a->table, old_name_fails);
}

/* ALTER TABLE a RENAME [TO|AS] b */
void lint_rule_alter_rename_table(section_ctx *c, const alter_ctx *a, lname to, size_t kw)
{
    lint_report_names(c, DM_LINT_RENAME_TABLE, kw, "RENAME of the table ", a->table, " to ", to,
                      old_name_fails);
}

/* MySQL RENAME TABLE a TO b */
void lint_rule_rename_table(section_ctx *c, lname from, lname to)
{
    lint_report_names(c, DM_LINT_RENAME_TABLE, 0, "RENAME TABLE ", from, " TO ", to,
                      old_name_fails);
}

void lint_rule_change_column_type(section_ctx *c, const alter_ctx *a, lname col, size_t kw)
{
    lint_report_names(c, DM_LINT_CHANGE_COLUMN_TYPE, kw, "changing the type of ", col, " of ",
                      a->table,
                      " rewrites the table under an exclusive lock, and code of the previous "
                      "release may read or write values the new type rejects");
}

void lint_rule_add_not_null_column(section_ctx *c, const alter_ctx *a, const column_def *col)
{
    if (col->not_null && col->def == col->to && !col->generated)
        lint_report_names(
            c, DM_LINT_ADD_NOT_NULL_COLUMN, col->kw, "ADD COLUMN ", col->name,
            " NOT NULL without a DEFAULT on the existing table ", a->table,
            ": it fails on a table with rows (or fills them with an implicit value), and code of "
            "the previous release that inserts without the column breaks");
}

/* Reported even for a new table: CASCADE empties the tables that reference it. */
void lint_rule_truncate_cascade(section_ctx *c, lname table, size_t i)
{
    if (PG(c) && lint_find_word_depth0(c, i, NT(c), "CASCADE") < NT(c))
        lint_report_at(c, DM_LINT_TRUNCATE_CASCADE, 0,
                       "TRUNCATE %.*s CASCADE also empties every table that references it, "
                       "recursively, which the statement does not name",
                       (int)table.len, table.s);
}
