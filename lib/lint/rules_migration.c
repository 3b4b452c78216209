/*
 * Rules on the migration as a whole (docs/lint.md):
 *   mixed-schema-and-data  DDL and a data change of an existing table in one migration
 *   missing-down           an up section with no down section to revert it
 * Both are whole-migration rules: an allow comment anywhere in the section
 * silences them.
 */
#include "lint/lint_impl.h"

void lint_note_schema(section_ctx *c)
{
    c->saw_schema = 1;
}

/* A data statement (INSERT, UPDATE, DELETE, TRUNCATE, COPY, ...); on a
 * table this migration created it is seeding, not a data change. */
void lint_note_data(section_ctx *c, int on_new_table)
{
    if (!on_new_table && !c->saw_data) {
        c->saw_data = 1;
        c->data_line = c->line;
    }
}

void lint_rule_mixed_schema_and_data(section_ctx *c)
{
    if (c->saw_schema && c->saw_data)
        lint_report(c, DM_LINT_MIXED_SCHEMA_AND_DATA, -1, c->data_line,
                    "schema and data changes in one migration: the data change holds the locks "
                    "of the schema change for its whole run, and where DDL is not transactional "
                    "a failure leaves half of it applied");
}

void lint_rule_missing_down(section_ctx *c, int32_t direction)
{
    int32_t start = c->sec->line > 0 ? c->sec->line : 1;
    if (direction == DBMGMT_UP && !c->mig->down.sql)
        lint_report(c, DM_LINT_MISSING_DOWN, -1, start,
                    "migration %s has no down section: it cannot be reverted by the migrator",
                    c->mig->version);
}
