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
#include "support/files.h"

/* Which rules apply where (docs/lint.md). */
static unsigned rule_engines(const char *rule)
{
    static const struct { const char *rule; unsigned engines; } t[] = {
        {"change-column-type", P | M}, {"set-not-null", P | M},
        {"index-not-concurrent", P}, {"drop-index-not-concurrent", P},
        {"concurrent-in-transaction", P}, {"constraint-not-valid", P},
        {"mysql-table-copy", M}, {"truncate-cascade", P}, {"lock-timeout-missing", P},
        {"transaction-nesting", L | P},
        {"galera-no-primary-key", M}, {"galera-non-transactional-engine", M},
        {"galera-explicit-lock", M}, {"galera-toi-alter", M},
        {"seed-ddl", ALL}, {"seed-non-idempotent-insert", ALL},
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

/* Lint up (or down) and return the findings (caller clears them); galera:
 * the linter's galera flag (non-zero), or SEEDS: its seeds flag. */
static dm_lint_findings lint_section_galera(dbmgmt_engine e, const char *up, const char *down,
                                            int no_tx, int32_t direction, int galera)
{
    dm_migration mig;
    make_migration(&mig, up, down, no_tx);
    dm_linter lt;
    dm_linter_init(&lt, e);
    lt.galera = (galera & ~SEEDS) != 0;
    lt.seeds = (galera & SEEDS) != 0;
    dm_lint_findings f = {0};
    dm_error err;
    int transactional = e != DBMGMT_ENGINE_MYSQL && !no_tx;
    int rc = dm_lint_migration(&lt, &mig, direction, transactional, 0, &f, &err);
    if (rc != DBMGMT_OK)
        fail_msg("lint failed: %s", err.msg);
    dm_linter_clear(&lt);
    return f;
}

static dm_lint_findings lint_section(dbmgmt_engine e, const char *up, const char *down,
                                     int no_tx, int32_t direction)
{
    return lint_section_galera(e, up, down, no_tx, direction, 0);
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
        dm_lint_findings f =
            lint_section_galera(e, k->sql, (k->flags & NO_DOWN) ? NULL : "SELECT 1;",
                                k->flags & NO_TX, DBMGMT_UP, k->flags & (GALERA | SEEDS));
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

static int count_galera(const dm_lint_findings *f)
{
    int n = 0;
    for (size_t i = 0; i < f->count; i++)
        n += strncmp(dm_lint_finding_rule(f, i), "galera-", 7) == 0;
    return n;
}

/* Every case that makes a Galera finding makes none without the flag (any
 * dialect), nor with it outside MySQL. */
static void test_galera_rules_silent_without_the_flag(void **state)
{
    (void)state;
    static const dbmgmt_engine engines[] = {DBMGMT_ENGINE_SQLITE, DBMGMT_ENGINE_POSTGRES,
                                            DBMGMT_ENGINE_MYSQL};
    int checked = 0, failures = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const lint_case *k = &cases[i];
        if (!(k->flags & GALERA) || k->expect == 0 || strncmp(k->rule, "galera-", 7) != 0)
            continue;
        for (size_t e = 0; e < 3; e++)
            for (int galera = 0; galera < 2; galera++) {
                if (galera && engines[e] == DBMGMT_ENGINE_MYSQL)
                    continue;
                dm_lint_findings f = lint_section_galera(engines[e], k->sql, "SELECT 1;", 0,
                                                         DBMGMT_UP, galera);
                if (count_galera(&f)) {
                    failures++;
                    printf("FAIL [%s, galera %d] a galera finding for:\n%s\n",
                           dbmgmt_engine_name(engines[e]), galera, k->sql);
                }
                dm_lint_findings_clear(&f);
                checked++;
            }
    }
    assert_true(checked > 20);
    assert_int_equal(failures, 0);
}

static const dm_lint_finding *only_finding(const dm_lint_findings *f, const char *rule)
{
    const dm_lint_finding *found = NULL;
    for (size_t i = 0; i < f->count; i++)
        if (strcmp(dm_lint_finding_rule(f, i), rule) == 0) {
            assert_null(found);
            found = dm_lint_finding_at(f, i);
        }
    assert_non_null(found);
    return found;
}

/* A keyless table is reported at the end of the section, at its CREATE's
 * line, naming it; the messages name the tables, the advice the safe way. */
static void test_galera_findings_name_table_line_and_safe_way(void **state)
{
    (void)state;
    dm_lint_findings f =
        lint_section_galera(DBMGMT_ENGINE_MYSQL,
                            "SELECT 1;\n\nCREATE TABLE audit (\n  line TEXT\n) ENGINE=Aria;\n"
                            "ALTER TABLE accounts ADD COLUMN tier INT;\n"
                            "SELECT GET_LOCK('seed', 5);\n",
                            "SELECT 1;", 0, DBMGMT_UP, 1);
    const dm_lint_finding *x = only_finding(&f, "galera-no-primary-key");
    assert_int_equal(x->line, 4); /* the section starts on line 2; CREATE is its 3rd line */
    assert_int_equal(x->severity, DBMGMT_LINT_ERROR);
    assert_non_null(strstr(x->message, "audit"));
    assert_non_null(strstr(dm_lint_rule_advice(x->rule), "PRIMARY KEY"));

    x = only_finding(&f, "galera-non-transactional-engine");
    assert_int_equal(x->line, 6);
    assert_int_equal(x->severity, DBMGMT_LINT_ERROR);
    assert_non_null(strstr(x->message, "audit"));
    assert_non_null(strstr(x->message, "Aria"));
    assert_non_null(strstr(dm_lint_rule_advice(x->rule), "InnoDB"));

    x = only_finding(&f, "galera-toi-alter");
    assert_int_equal(x->line, 7);
    assert_int_equal(x->severity, DBMGMT_LINT_WARNING);
    assert_non_null(strstr(x->message, "accounts"));
    assert_non_null(strstr(x->message, "TOI"));
    assert_non_null(strstr(dm_lint_rule_advice(x->rule), "wsrep_OSU_method='RSU'"));
    assert_non_null(strstr(dm_lint_rule_advice(x->rule), "pt-online-schema-change"));

    x = only_finding(&f, "galera-explicit-lock");
    assert_int_equal(x->line, 8);
    assert_int_equal(x->severity, DBMGMT_LINT_WARNING);
    assert_non_null(strstr(x->message, "GET_LOCK('seed')"));
    dm_lint_findings_clear(&f);
}

/* Following a plan: a table an earlier step created (and the database does
 * not have) is new, so altering it is not a TOI finding; one the database
 * has is. */
static int live_has_only_accounts(void *ctx, const char *name)
{
    (void)ctx;
    return strcmp(name, "accounts") == 0;
}

static void test_galera_toi_alter_follows_the_plan(void **state)
{
    (void)state;
    dm_migration first, second;
    make_migration(&first, "CREATE TABLE orders (id INT PRIMARY KEY);\n", "SELECT 1;", 0);
    make_migration(&second,
                   "ALTER TABLE orders ADD COLUMN total INT;\n"
                   "ALTER TABLE accounts ADD COLUMN tier INT;\n",
                   "SELECT 1;", 0);
    dm_linter lt;
    dm_linter_init(&lt, DBMGMT_ENGINE_MYSQL);
    dm_linter_follow_plan(&lt, live_has_only_accounts, NULL);
    lt.galera = 1;
    dm_lint_findings f = {0};
    dm_error err;
    assert_int_equal(dm_lint_migration(&lt, &first, DBMGMT_UP, 0, 0, &f, &err), DBMGMT_OK);
    assert_int_equal(dm_lint_migration(&lt, &second, DBMGMT_UP, 0, 1, &f, &err), DBMGMT_OK);
    const dm_lint_finding *x = only_finding(&f, "galera-toi-alter");
    assert_int_equal(x->step, 1);
    assert_non_null(strstr(x->message, "accounts"));
    dm_lint_findings_clear(&f);
    dm_linter_clear(&lt);
}

static size_t report_count_rule(const dbmgmt_lint_report *r, const char *rule)
{
    size_t n = 0;
    for (size_t k = 0; k < dbmgmt_lint_report_count(r); k++)
        n += strcmp(dbmgmt_lint_report_rule(r, k), rule) == 0;
    return n;
}

/* The public entry points: DBMGMT_LINT_GALERA adds the rules; without it
 * (or with the plain calls) they are silent; unknown bits and a dialect
 * other than MySQL are DBMGMT_ERR_INVALID, naming them. */
static void test_lint_with_galera_flag(void **state)
{
    (void)state;
    char dir[512], file[600];
    assert_int_equal(support_scratch_dir(dir, sizeof dir, "dbmgmt-lint-galera"), 0);
    support_write_file(dir, "001_log.sql",
                       "-- migrate:up\nCREATE TABLE IF NOT EXISTS log (line TEXT) ENGINE=MyISAM;\n"
                       "-- migrate:down\nDROP TABLE IF EXISTS log;\n");
    snprintf(file, sizeof file, "%s/001_log.sql", dir);
    const char *files[] = {file};

    dbmgmt_lint_report *r = NULL;
    assert_int_equal(dbmgmt_lint_dir_with(&r, DBMGMT_ENGINE_MYSQL, dir, DBMGMT_LINT_GALERA),
                     DBMGMT_OK);
    assert_int_equal(report_count_rule(r, "galera-no-primary-key"), 1);
    assert_int_equal(report_count_rule(r, "galera-non-transactional-engine"), 1);
    assert_int_equal(dbmgmt_lint_report_count_severity(r, DBMGMT_LINT_ERROR), 2);
    assert_int_equal(dbmgmt_lint_report_line(r, 0), 2);
    dbmgmt_lint_report_free(r);
    assert_int_equal(dbmgmt_lint_files_with(&r, DBMGMT_ENGINE_MYSQL, files, 1,
                                            DBMGMT_LINT_GALERA), DBMGMT_OK);
    assert_int_equal(dbmgmt_lint_report_count_severity(r, DBMGMT_LINT_ERROR), 2);
    dbmgmt_lint_report_free(r);

    assert_int_equal(dbmgmt_lint_dir_with(&r, DBMGMT_ENGINE_MYSQL, dir, 0), DBMGMT_OK);
    assert_int_equal(dbmgmt_lint_report_count(r), 0);
    dbmgmt_lint_report_free(r);
    assert_int_equal(dbmgmt_lint_files(&r, DBMGMT_ENGINE_MYSQL, files, 1), DBMGMT_OK);
    assert_int_equal(dbmgmt_lint_report_count(r), 0);
    dbmgmt_lint_report_free(r);

    r = (dbmgmt_lint_report *)&r;
    assert_int_equal(dbmgmt_lint_dir_with(&r, DBMGMT_ENGINE_MYSQL, dir, 0x6u),
                     DBMGMT_ERR_INVALID);
    assert_null(r);
    assert_non_null(strstr(dbmgmt_errmsg(), "unknown lint flags 0x4")); /* 0x2: seeds */
    assert_int_equal(dbmgmt_lint_files_with(&r, DBMGMT_ENGINE_MYSQL, files, 1, 0x80000001u),
                     DBMGMT_ERR_INVALID);
    assert_non_null(strstr(dbmgmt_errmsg(), "0x80000000"));
    assert_int_equal(dbmgmt_lint_dir_with(&r, DBMGMT_ENGINE_POSTGRES, dir, DBMGMT_LINT_GALERA),
                     DBMGMT_ERR_INVALID);
    assert_non_null(strstr(dbmgmt_errmsg(), "DBMGMT_LINT_GALERA needs the MySQL/MariaDB"));
    assert_non_null(strstr(dbmgmt_errmsg(), "postgres"));
    assert_int_equal(dbmgmt_lint_files_with(&r, DBMGMT_ENGINE_SQLITE, files, 1,
                                            DBMGMT_LINT_GALERA), DBMGMT_ERR_INVALID);
    assert_non_null(strstr(dbmgmt_errmsg(), "sqlite"));
    assert_null(r);
    assert_int_equal(support_remove_tree(dir), 0);
}

/* The migrator's setting: ON needs a MySQL/MariaDB connection; AUTO and
 * OFF are accepted anywhere (AUTO finds no Galera outside MySQL). */
static void test_migrator_set_galera_on_needs_mysql(void **state)
{
    (void)state;
    dbmgmt_conn *c = NULL;
    assert_int_equal(dbmgmt_conn_open(&c, "sqlite::memory:"), DBMGMT_OK);
    dbmgmt_migrator *m = NULL;
    assert_int_equal(dbmgmt_migrator_new(&m, c), DBMGMT_OK);
    assert_int_equal(dbmgmt_migrator_set_galera(m, DBMGMT_GALERA_ON), DBMGMT_ERR_INVALID);
    assert_non_null(strstr(dbmgmt_migrator_errmsg(m), "needs a MySQL/MariaDB connection"));
    assert_non_null(strstr(dbmgmt_migrator_errmsg(m), "sqlite"));
    assert_int_equal(dbmgmt_migrator_set_galera(m, 9), DBMGMT_ERR_INVALID);
    assert_non_null(strstr(dbmgmt_errmsg(), "unknown mode 9"));
    assert_int_equal(dbmgmt_migrator_set_galera(m, DBMGMT_GALERA_OFF), DBMGMT_OK);
    assert_int_equal(dbmgmt_migrator_set_galera(m, DBMGMT_GALERA_AUTO), DBMGMT_OK);
    assert_int_equal(dbmgmt_migrator_set_galera(NULL, DBMGMT_GALERA_AUTO), DBMGMT_ERR_INVALID);
    dbmgmt_migrator_free(m);
    dbmgmt_conn_close(c);
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
        cmocka_unit_test(test_galera_rules_silent_without_the_flag),
        cmocka_unit_test(test_galera_findings_name_table_line_and_safe_way),
        cmocka_unit_test(test_galera_toi_alter_follows_the_plan),
        cmocka_unit_test(test_lint_with_galera_flag),
        cmocka_unit_test(test_migrator_set_galera_on_needs_mysql),
    };
    return cmocka_run_group_tests_name("lint/rules", tests, NULL, NULL);
}
