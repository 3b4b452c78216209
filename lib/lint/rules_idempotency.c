/*
 * Idempotency (docs/lint.md):
 *   non-idempotent-ddl  CREATE TABLE/INDEX without IF NOT EXISTS, DROP TABLE/INDEX
 *                       without IF EXISTS: a half-applied migration cannot be run again
 */
#include "lint/lint_impl.h"

static const struct {
    const char *statement;
    const char *guard;
    int mysql_has_guard; /* MySQL has no IF [NOT] EXISTS for indexes */
} ddl_guards[] = {
    [LINT_CREATE_TABLE] = {"CREATE TABLE", "IF NOT EXISTS", 1},
    [LINT_CREATE_INDEX] = {"CREATE INDEX", "IF NOT EXISTS", 0},
    [LINT_DROP_TABLE] = {"DROP TABLE", "IF EXISTS", 1},
    [LINT_DROP_INDEX] = {"DROP INDEX", "IF EXISTS", 0},
};

void lint_rule_non_idempotent_ddl(section_ctx *c, lint_ddl ddl, size_t tok, lname name,
                                  int guarded)
{
    if (guarded || (MY(c) && !ddl_guards[ddl].mysql_has_guard))
        return;
    lint_report_at(c, DM_LINT_NON_IDEMPOTENT_DDL, tok, "%s %.*s without %s fails when run again",
                   ddl_guards[ddl].statement, (int)name.len, name.s, ddl_guards[ddl].guard);
}
