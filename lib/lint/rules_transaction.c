/*
 * Transaction rules (docs/lint.md):
 *   concurrent-in-transaction  PostgreSQL CONCURRENTLY where a transaction is open
 *   transaction-nesting        BEGIN/COMMIT in a migration the migrator runs in a transaction
 *   uncommitted-transaction    a BEGIN with no COMMIT, ROLLBACK or END after it
 */
#include "lint/lint_impl.h"

/* The migrator's own transaction, or one the section opened. */
static int in_transaction(const section_ctx *c)
{
    return c->transactional || c->tx_open;
}

void lint_rule_concurrent_in_transaction(section_ctx *c, size_t tok, const char *what,
                                         lname name)
{
    if (PG(c) && in_transaction(c))
        lint_report_at(c, DM_LINT_CONCURRENT_IN_TRANSACTION, tok,
                       "%s %.*s inside a transaction: PostgreSQL refuses it (it cannot run in a "
                       "transaction block), so the migration fails",
                       what, (int)name.len, name.s);
}

void lint_transaction_statement(section_ctx *c, int begins)
{
    lname verb = token_text(c, 0);
    if (c->transactional)
        lint_report_at(c, DM_LINT_TRANSACTION_NESTING, 0,
                       "%.*s inside a migration the migrator already runs in a transaction: it "
                       "ends or nests the migrator's own, so the history row and the change no "
                       "longer commit together",
                       (int)verb.len, verb.s);
    if (begins) {
        c->tx_open = 1;
        c->tx_line = c->line;
        c->tx_stmt = c->stmt;
    } else {
        c->tx_open = 0;
    }
}

void lint_rule_uncommitted_transaction(section_ctx *c)
{
    if (c->tx_open)
        lint_report(c, DM_LINT_UNCOMMITTED_TRANSACTION, c->tx_stmt, c->tx_line,
                    "a transaction is opened here and never committed: what follows runs inside "
                    "it, and the migrator's own COMMIT (or the session's end) decides its fate");
}
