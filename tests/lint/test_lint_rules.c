/*
 * The lint rules, table-driven (cases.h), run per dialect without a
 * database: each case is one up section; the test counts the findings of
 * the case's rule. Every rule that applies to an engine must have at least
 * three positive and three negative cases there (checked below), among them
 * the keyword in a string, a comment or a quoted identifier, and the table
 * created in the same migration.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/alloc.h"
#include "lint/lint.h"

#include "cases.h"

/* Which rules apply where (docs/lint.md). */
static unsigned rule_engines(const char *rule)
{
    static const struct { const char *rule; unsigned engines; } t[] = {
        {"change-column-type", P | M}, {"set-not-null", P | M},
        {"index-not-concurrent", P}, {"drop-index-not-concurrent", P},
        {"concurrent-in-transaction", P}, {"constraint-not-valid", P},
        {"mysql-table-copy", M}, {"truncate-cascade", P}, {"lock-timeout-missing", P},
        {"transaction-nesting", L | P},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        if (strcmp(t[i].rule, rule) == 0)
            return t[i].engines;
    return ALL;
}

static unsigned engine_bit(dbmgmt_engine e)
{
    return e == DBMGMT_ENGINE_SQLITE ? L : e == DBMGMT_ENGINE_POSTGRES ? P : M;
}

static void make_migration(dm_migration *mig, const char *up, const char *down, int no_tx)
{
    memset(mig, 0, sizeof *mig);
    mig->version = (char *)"001";
    mig->name = (char *)"case";
    mig->no_transaction = no_tx;
    mig->up.sql = (char *)up;
    mig->up.len = strlen(up);
    mig->up.file = (char *)"001_case.sql";
    mig->up.line = 2; /* after a "-- migrate:up" line */
    if (down) {
        mig->down.sql = (char *)down;
        mig->down.len = strlen(down);
        mig->down.file = (char *)"001_case.sql";
        mig->down.line = 10;
    }
}

/* Lint up (or down) and return the findings (caller clears them). */
static dm_lint_findings lint_section(dbmgmt_engine e, const char *up, const char *down,
                                     int no_tx, int32_t direction)
{
    dm_migration mig;
    make_migration(&mig, up, down, no_tx);
    dm_linter lt;
    dm_linter_init(&lt, e);
    dm_lint_findings f = {0};
    dm_error err;
    int transactional = e != DBMGMT_ENGINE_MYSQL && !no_tx;
    int rc = dm_lint_migration(&lt, &mig, direction, transactional, 0, &f, &err);
    if (rc != DBMGMT_OK)
        fail_msg("lint failed: %s", err.msg);
    dm_linter_clear(&lt);
    return f;
}

static int count_rule(const dm_lint_findings *f, const char *rule)
{
    int n = 0;
    for (size_t i = 0; i < f->count; i++)
        n += strcmp(dm_lint_finding_rule(f, i), rule) == 0;
    return n;
}

static void run_cases(dbmgmt_engine e)
{
    unsigned bit = engine_bit(e);
    int failures = 0;
    int pos[DM_LINT_RULE_COUNT] = {0}, neg[DM_LINT_RULE_COUNT] = {0};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const lint_case *k = &cases[i];
        if (!(k->engines & bit))
            continue;
        dm_lint_findings f = lint_section(e, k->sql, (k->flags & NO_DOWN) ? NULL : "SELECT 1;",
                                          k->flags & NO_TX, DBMGMT_UP);
        int got = count_rule(&f, k->rule);
        if (got != k->expect) {
            failures++;
            printf("FAIL [%s] %s: expected %d, got %d for:\n%s\n", dbmgmt_engine_name(e), k->rule,
                   k->expect, got, k->sql);
            for (size_t j = 0; j < f.count; j++) {
                const dm_lint_finding *x = dm_lint_finding_at(&f, j);
                printf("   %d: %s: %s\n", (int)x->line, dm_lint_rule_id(x->rule), x->message);
            }
        }
        for (int r = 0; r < DM_LINT_RULE_COUNT; r++)
            if (strcmp(dm_lint_rule_id((dm_lint_rule)r), k->rule) == 0 &&
                (rule_engines(k->rule) & bit)) {
                pos[r] += k->expect > 0;
                neg[r] += k->expect == 0;
            }
        dm_lint_findings_clear(&f);
    }
    printf("%-28s %8s %8s  (%s)\n", "rule", "positive", "negative", dbmgmt_engine_name(e));
    for (int r = 0; r < DM_LINT_RULE_COUNT; r++) {
        const char *id = dm_lint_rule_id((dm_lint_rule)r);
        if (!(rule_engines(id) & bit))
            continue;
        printf("%-28s %8d %8d\n", id, pos[r], neg[r]);
        if (pos[r] < 3 || neg[r] < 3) {
            failures++;
            printf("FAIL [%s] %s has fewer than 3 positive or negative cases\n",
                   dbmgmt_engine_name(e), id);
        }
    }
    assert_int_equal(failures, 0);
}

static void test_lint_rules_sqlite(void **state)
{
    (void)state;
    run_cases(DBMGMT_ENGINE_SQLITE);
}

static void test_lint_rules_postgres(void **state)
{
    (void)state;
    run_cases(DBMGMT_ENGINE_POSTGRES);
}

static void test_lint_rules_mysql(void **state)
{
    (void)state;
    run_cases(DBMGMT_ENGINE_MYSQL);
}

static void test_lint_finding_names_file_line_and_advice(void **state)
{
    (void)state;
    dm_lint_findings f = lint_section(DBMGMT_ENGINE_POSTGRES,
                                      "SET lock_timeout = '5s';\n\nALTER TABLE users\n"
                                      "  ADD COLUMN a INT,\n  DROP COLUMN email;\n",
                                      "SELECT 1;", 0, DBMGMT_UP);
    assert_int_equal(f.count, 1);
    const dm_lint_finding *x = dm_lint_finding_at(&f, 0);
    assert_string_equal(dm_lint_rule_id(x->rule), "drop-column");
    assert_int_equal(x->severity, DBMGMT_LINT_ERROR);
    assert_string_equal(x->file, "001_case.sql");
    assert_int_equal(x->line, 6); /* section starts on line 2; DROP is its 5th line */
    assert_non_null(strstr(x->message, "email"));
    assert_non_null(strstr(x->message, "users"));
    assert_non_null(strstr(dm_lint_rule_advice(x->rule), "expand-contract"));
    dm_lint_findings_clear(&f);
}

static void test_lint_down_section_reverting_its_up_is_clean(void **state)
{
    (void)state;
    dm_migration mig;
    make_migration(&mig,
                   "CREATE TABLE IF NOT EXISTS t (a INT);\nALTER TABLE users ADD COLUMN b INT;\n",
                   "ALTER TABLE users DROP COLUMN b;\nDROP TABLE IF EXISTS t;\n", 0);
    dm_linter lt;
    dm_linter_init(&lt, DBMGMT_ENGINE_SQLITE);
    dm_lint_findings f = {0};
    dm_error err;
    assert_int_equal(dm_lint_migration(&lt, &mig, DBMGMT_DOWN, 1, 0, &f, &err), DBMGMT_OK);
    assert_int_equal(f.count, 0);
    /* a down that drops something else is a finding */
    make_migration(&mig, "CREATE TABLE IF NOT EXISTS t (a INT);\n",
                   "DROP TABLE IF EXISTS users;\n", 0);
    assert_int_equal(dm_lint_migration(&lt, &mig, DBMGMT_DOWN, 1, 0, &f, &err), DBMGMT_OK);
    assert_int_equal(count_rule(&f, "drop-table"), 1);
    dm_lint_findings_clear(&f);
    dm_linter_clear(&lt);
}

static void test_lint_unsplittable_section_is_a_parse_error(void **state)
{
    (void)state;
    dm_migration mig;
    make_migration(&mig, "SELECT 'unterminated;\n", NULL, 0);
    dm_linter lt;
    dm_linter_init(&lt, DBMGMT_ENGINE_POSTGRES);
    dm_lint_findings f = {0};
    dm_error err;
    assert_int_equal(dm_lint_migration(&lt, &mig, DBMGMT_UP, 1, 0, &f, &err), DBMGMT_ERR_PARSE);
    assert_non_null(strstr(err.msg, "001_case.sql:2"));
    assert_int_equal(f.count, 0);
    dm_linter_clear(&lt);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lint_rules_sqlite),
        cmocka_unit_test(test_lint_rules_postgres),
        cmocka_unit_test(test_lint_rules_mysql),
        cmocka_unit_test(test_lint_finding_names_file_line_and_advice),
        cmocka_unit_test(test_lint_down_section_reverting_its_up_is_clean),
        cmocka_unit_test(test_lint_unsplittable_section_is_a_parse_error),
    };
    return cmocka_run_group_tests_name("lint/rules", tests, NULL, NULL);
}
