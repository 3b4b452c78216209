/*
 * The catalogue of lint rules: id, severity, scope and the safe
 * alternative, in the order of docs/lint.md. What each rule matches is in
 * the rules_*.c file of its family (lint_impl.h has the map).
 */
#include <string.h>

#include "lint/lint_impl.h"

typedef struct rule_info {
    const char *id;
    int32_t severity;
    int whole_migration; /* allowed by a comment anywhere in the section */
    const char *advice;
    int galera; /* runs only when the target is a Galera node (MySQL dialect) */
    int seed;   /* runs only on seed files, where nothing else runs */
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
    [DM_LINT_GALERA_NO_PRIMARY_KEY] =
        {"galera-no-primary-key", DBMGMT_LINT_ERROR, 0,
         "declare a PRIMARY KEY in the CREATE TABLE (an id BIGINT AUTO_INCREMENT PRIMARY KEY "
         "column when the table has no natural key), or add one with ALTER TABLE ... ADD "
         "PRIMARY KEY later in the same migration; a UNIQUE NOT NULL key is not enough",
         1},
    [DM_LINT_GALERA_NON_TRANSACTIONAL_ENGINE] =
        {"galera-non-transactional-engine", DBMGMT_LINT_ERROR, 0,
         "use ENGINE=InnoDB (the default): Galera replicates InnoDB tables only; convert an "
         "existing MyISAM, Aria or MEMORY table with ALTER TABLE ... ENGINE=InnoDB",
         1},
    [DM_LINT_GALERA_EXPLICIT_LOCK] =
        {"galera-explicit-lock", DBMGMT_LINT_WARNING, 0,
         "drop the lock: the migrator already holds a cluster-wide lock for the whole run; lock "
         "rows inside a transaction (SELECT ... FOR UPDATE) where a migration must",
         1},
    [DM_LINT_GALERA_TOI_ALTER] =
        {"galera-toi-alter", DBMGMT_LINT_WARNING, 0,
         "for a large table, make the change outside the migration with an online schema change "
         "tool that supports Galera (pt-online-schema-change), or node by node with SET SESSION "
         "wsrep_OSU_method='RSU' (backward-compatible changes only); ALGORITHM=INSTANT changes "
         "are not flagged; for a small table, allow it with a reason",
         1},
    [DM_LINT_SEED_NON_IDEMPOTENT_INSERT] =
        {"seed-non-idempotent-insert", DBMGMT_LINT_ERROR, 0,
         "make the insert an upsert on a primary or unique key: PostgreSQL, SQLite: INSERT ... "
         "ON CONFLICT (key) DO NOTHING, or DO UPDATE SET col = excluded.col; SQLite also INSERT "
         "OR IGNORE / INSERT OR REPLACE; MySQL/MariaDB: INSERT IGNORE, INSERT ... ON DUPLICATE "
         "KEY UPDATE col = VALUES(col), or REPLACE; or MERGE",
         0, 1},
    [DM_LINT_SEED_DDL] =
        {"seed-ddl", DBMGMT_LINT_ERROR, 0,
         "move the schema change into a migration (migrations/) and keep only data in seeds/; "
         "to empty a table in a seed, DELETE FROM it (in the seed's transaction) instead of "
         "TRUNCATE",
         0, 1},
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

int32_t lint_rule_severity(dm_lint_rule rule)
{
    return rule_table[rule].severity;
}

int lint_rule_whole_migration(dm_lint_rule rule)
{
    return rule_table[rule].whole_migration;
}

int lint_rule_active(const dm_linter *lt, dm_lint_rule rule)
{
    if (rule_table[rule].seed || lt->seeds)
        return rule_table[rule].seed && lt->seeds;
    return !rule_table[rule].galera || (lt->galera && lt->dialect == DBMGMT_ENGINE_MYSQL);
}

int lint_rule_by_id(const char *s, size_t len)
{
    for (int r = 0; r < DM_LINT_RULE_COUNT; r++)
        if (strlen(rule_table[r].id) == len && memcmp(rule_table[r].id, s, len) == 0)
            return r;
    return -1;
}
