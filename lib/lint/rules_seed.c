/*
 * Seed files (docs/seeds.md, docs/lint.md): only with the linter's seeds
 * flag, in place of every migration rule. A seed runs after each migration
 * run that changes it and must give the same data when run again:
 *   seed-non-idempotent-insert  an INSERT (or COPY) that adds its rows again,
 *                               or fails on a duplicate key, when run again
 *   seed-ddl                    a schema change: it belongs to a migration
 */
#include "lint/lint_impl.h"

/* The first words of statements that change the schema (or its grants). */
static const char *const ddl_words[] = {"CREATE", "ALTER", "DROP", "RENAME", "TRUNCATE",
                                        "COMMENT", "GRANT", "REVOKE", NULL};

/* What makes an INSERT an upsert in each dialect, for the message. */
static const char *guards_of(const section_ctx *c)
{
    if (MY(c))
        return "INSERT IGNORE, ON DUPLICATE KEY UPDATE or REPLACE";
    if (LITE(c))
        return "ON CONFLICT, INSERT OR IGNORE or INSERT OR REPLACE";
    return "ON CONFLICT";
}

/* Whether the INSERT at token i is written as an upsert for the dialect. */
static int insert_is_guarded(const section_ctx *c, size_t i)
{
    static const char *const mysql_mods[] = {"LOW_PRIORITY", "DELAYED", "HIGH_PRIORITY", NULL};
    if (LITE(c) && is_word(c, i + 1, "OR") &&
        (is_word(c, i + 2, "IGNORE") || is_word(c, i + 2, "REPLACE")))
        return 1;
    if (MY(c))
        return is_word(c, lint_skip_words(c, i + 1, mysql_mods), "IGNORE") ||
               lint_has_words_depth0(c, i + 1, NT(c), "DUPLICATE", "KEY");
    return lint_has_words_depth0(c, i + 1, NT(c), "ON", "CONFLICT");
}

/* The table an INSERT at token i writes (MySQL allows INSERT t VALUES). */
static lname insert_table(const section_ctx *c, size_t i)
{
    static const char *const mods[] = {"LOW_PRIORITY", "DELAYED", "HIGH_PRIORITY", "IGNORE",
                                       "OR", "ABORT", "FAIL", "ROLLBACK", NULL};
    size_t into = lint_find_word_depth0(c, i + 1, NT(c), "INTO");
    size_t at = into < NT(c) ? into + 1 : lint_skip_words(c, i + 1, mods);
    return lint_name_at(c, at, NULL);
}

static void seed_insert(section_ctx *c, size_t i)
{
    if (insert_is_guarded(c, i))
        return;
    lname t = insert_table(c, i);
    lint_report_at(c, DM_LINT_SEED_NON_IDEMPOTENT_INSERT, i,
                   "INSERT INTO %.*s without %s adds its rows again (or fails on a duplicate "
                   "key) each time the seed runs",
                   (int)t.len, t.s, guards_of(c));
}

void lint_seed_statement(section_ctx *c)
{
    if (NT(c) == 0)
        return;
    if (lint_word_in(c, 0, ddl_words)) {
        lname what = token_text(c, 0);
        lint_report_at(c, DM_LINT_SEED_DDL, 0,
                       "%.*s in a seed: seeds hold data only; schema changes belong to "
                       "migrations, which are versioned and run once",
                       (int)what.len, what.s);
        return;
    }
    size_t i = 0;
    if (is_word(c, 0, "WITH")) /* WITH ... INSERT: the data-modifying statement after the CTEs */
        i = lint_find_word_depth0(c, 1, NT(c), "INSERT");
    if (is_word(c, i, "INSERT"))
        seed_insert(c, i);
    else if (is_word(c, 0, "COPY") && !lint_has_words_depth0(c, 1, NT(c), "TO", NULL))
        lint_report_at(c, DM_LINT_SEED_NON_IDEMPOTENT_INSERT, 0,
                       "COPY ... FROM adds its rows again (or fails on a duplicate key) each "
                       "time the seed runs; write INSERT ... ON CONFLICT instead");
    /* UPDATE, DELETE, REPLACE (MySQL, SQLite), MERGE: the same rows each time */
}
