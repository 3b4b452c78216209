/*
 * The Galera lint rules in plans, on one real MariaDB server that is not a
 * Galera node (issue 19, docs/lint.md "Galera"):
 *
 * - AUTO (the default) asks the server: wsrep_on is OFF, so a keyless
 *   MyISAM table makes no galera-* finding and migrates, even in production;
 * - ON (planning for a Galera cluster on a plain server) gives the findings,
 *   with their rule names, files and lines; their errors refuse the plan in
 *   production, naming file, line and rule, and nothing is applied;
 *   ALLOW_LINT_ERRORS lets it run;
 * - an ALTER TABLE of a table the database has is a galera-toi-alter
 *   warning with ON, which does not refuse;
 * - OFF gives none; a mode that is not one is DBMGMT_ERR_INVALID.
 *
 * The cluster suite (tests/cluster/test_galera_lint.py) shows AUTO on a
 * real Galera node. Environment (tests/engines/run_engine.sh):
 * DBMGMT_TEST_DSN (the app user), DBMGMT_TEST_ADMIN_DSN (root).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dbmgmt.h"
#include "support/engine.h"
#include "support/files.h"

static const char *app_dsn, *admin_dsn;

typedef struct scratch {
    char dir[512];
    support_scratch_db db;
    dbmgmt_conn *conn;
} scratch;

#define KEYLESS_MIGRATION                                                                      \
    "-- migrate:up\n"                                                                          \
    "CREATE TABLE IF NOT EXISTS gl_notes (note TEXT);\n"                                      \
    "CREATE TABLE IF NOT EXISTS gl_cache (id INT PRIMARY KEY, v TEXT) ENGINE=MyISAM;\n"        \
    "-- migrate:down\n"                                                                        \
    "DROP TABLE IF EXISTS gl_cache;\nDROP TABLE IF EXISTS gl_notes;\n"

static int scratch_setup(void **state)
{
    scratch *s = calloc(1, sizeof *s);
    if (!s || support_scratch_dir(s->dir, sizeof s->dir, "dbmgmt-galera-lint") != 0)
        return -1;
    support_scratch_db_create(&s->db, admin_dsn, "dbmgmt_gl", NULL);
    if (dbmgmt_conn_open(&s->conn, s->db.dsn) != DBMGMT_OK)
        return -1;
    *state = s;
    return 0;
}

static int scratch_teardown(void **state)
{
    scratch *s = *state;
    dbmgmt_conn_close(s->conn);
    support_scratch_db_drop(&s->db, admin_dsn);
    int rc = support_remove_tree(s->dir);
    free(s);
    return rc == 0 ? 0 : -1;
}

/* A migrator over the scratch database, its folder loaded, in production. */
static dbmgmt_migrator *migrator(scratch *s, int galera)
{
    dbmgmt_migrator *m = NULL;
    assert_int_equal(dbmgmt_migrator_new(&m, s->conn), DBMGMT_OK);
    assert_int_equal(dbmgmt_migrator_add_dir(m, s->dir), DBMGMT_OK);
    assert_int_equal(dbmgmt_migrator_set_environment(m, "production"), DBMGMT_OK);
    if (galera >= 0)
        assert_int_equal(dbmgmt_migrator_set_galera(m, galera), DBMGMT_OK);
    return m;
}

static size_t findings_of(const dbmgmt_plan *p, const char *rule)
{
    size_t n = 0;
    for (size_t k = 0; k < dbmgmt_plan_finding_count(p); k++)
        n += strcmp(dbmgmt_plan_finding_rule(p, k), rule) == 0;
    return n;
}

static size_t galera_findings(const dbmgmt_plan *p)
{
    size_t n = 0;
    for (size_t k = 0; k < dbmgmt_plan_finding_count(p); k++)
        n += strncmp(dbmgmt_plan_finding_rule(p, k), "galera-", 7) == 0;
    return n;
}

/* The problem of the plan that names rule, or NULL. */
static const char *problem_naming(const dbmgmt_plan *p, const char *rule)
{
    for (size_t i = 0; i < dbmgmt_plan_problem_count(p); i++)
        if (strstr(dbmgmt_plan_problem_at(p, i), rule))
            return dbmgmt_plan_problem_at(p, i);
    return NULL;
}

static int64_t tables_in(scratch *s)
{
    return support_query_int(s->conn, "SELECT COUNT(*) FROM information_schema.TABLES WHERE "
                                      "TABLE_SCHEMA = DATABASE() AND TABLE_NAME LIKE 'gl\\_%'");
}

static void test_auto_on_a_plain_server_adds_no_galera_rule(void **state)
{
    scratch *s = *state;
    /* the premise: this server is not a Galera node */
    assert_int_equal(support_query_int(s->conn, "SELECT @@global.wsrep_on"), 0);
    support_write_file(s->dir, "001_notes.sql", KEYLESS_MIGRATION);
    dbmgmt_migrator *m = migrator(s, -1); /* the default: AUTO */
    dbmgmt_plan *p = NULL;
    assert_int_equal(dbmgmt_migrator_plan(m, NULL, &p), DBMGMT_OK);
    assert_int_equal(dbmgmt_plan_count(p), 1);
    assert_int_equal(galera_findings(p), 0);
    assert_int_equal(dbmgmt_plan_status(p), DBMGMT_OK);
    assert_int_equal(dbmgmt_migrator_apply(m, p), DBMGMT_OK);
    dbmgmt_plan_free(p);
    assert_int_equal(tables_in(s), 2);
    dbmgmt_migrator_free(m);
}

static void test_on_flags_keyless_and_myisam_and_refuses_in_production(void **state)
{
    scratch *s = *state;
    support_write_file(s->dir, "001_notes.sql", KEYLESS_MIGRATION);
    dbmgmt_migrator *m = migrator(s, DBMGMT_GALERA_ON);
    dbmgmt_plan *p = NULL;
    assert_int_equal(dbmgmt_migrator_plan(m, NULL, &p), DBMGMT_OK);
    assert_int_equal(findings_of(p, "galera-no-primary-key"), 1);
    assert_int_equal(findings_of(p, "galera-non-transactional-engine"), 1);
    for (size_t k = 0; k < dbmgmt_plan_finding_count(p); k++) {
        const char *rule = dbmgmt_plan_finding_rule(p, k);
        if (strncmp(rule, "galera-", 7) != 0)
            continue;
        assert_int_equal(dbmgmt_plan_finding_severity(p, k), DBMGMT_LINT_ERROR);
        assert_non_null(strstr(dbmgmt_plan_finding_file(p, k), "001_notes.sql"));
        int keyless = strcmp(rule, "galera-no-primary-key") == 0;
        assert_int_equal(dbmgmt_plan_finding_line(p, k), keyless ? 2 : 3);
        assert_non_null(strstr(dbmgmt_plan_finding_message(p, k),
                               keyless ? "gl_notes" : "gl_cache"));
        assert_non_null(strstr(dbmgmt_plan_finding_advice(p, k), keyless ? "PRIMARY KEY"
                                                                          : "InnoDB"));
    }
    assert_int_equal(dbmgmt_plan_status(p), DBMGMT_ERR_POLICY);
    const char *why = problem_naming(p, "galera-no-primary-key");
    assert_non_null(why);
    assert_non_null(strstr(why, "001_notes.sql:2"));
    why = problem_naming(p, "galera-non-transactional-engine");
    assert_non_null(why);
    assert_non_null(strstr(why, "001_notes.sql:3"));
    char *json = dbmgmt_plan_to_json(p);
    assert_non_null(strstr(json, "\"rule\":\"galera-no-primary-key\",\"severity\":\"error\""));
    dbmgmt_free(json);
    assert_int_equal(dbmgmt_migrator_apply(m, p), DBMGMT_ERR_POLICY);
    dbmgmt_plan_free(p);
    assert_int_equal(dbmgmt_migrator_up(m), DBMGMT_ERR_POLICY);
    assert_non_null(strstr(dbmgmt_migrator_errmsg(m), "galera-"));
    assert_int_equal(tables_in(s), 0);
    /* allowed explicitly, the same plan runs */
    assert_int_equal(dbmgmt_migrator_allow(m, DBMGMT_ALLOW_LINT_ERRORS), DBMGMT_OK);
    assert_int_equal(dbmgmt_migrator_up(m), DBMGMT_OK);
    assert_int_equal(tables_in(s), 2);
    dbmgmt_migrator_free(m);
}

static void test_on_warns_of_toi_alter_of_an_existing_table(void **state)
{
    scratch *s = *state;
    support_write_file(s->dir, "001_accounts.sql",
                       "-- migrate:up\nCREATE TABLE IF NOT EXISTS gl_accounts "
                       "(id INT PRIMARY KEY);\n-- migrate:down\nDROP TABLE IF EXISTS "
                       "gl_accounts;\n");
    support_write_file(s->dir, "002_tier.sql",
                       "-- migrate:up\nALTER TABLE gl_accounts ADD COLUMN tier INT NULL;\n"
                       "-- migrate:down\nALTER TABLE gl_accounts DROP COLUMN tier;\n");
    /* planned together: 001 creates the table, so 002 alters a new one */
    dbmgmt_migrator *m = migrator(s, DBMGMT_GALERA_ON);
    dbmgmt_plan *p = NULL;
    assert_int_equal(dbmgmt_migrator_plan(m, NULL, &p), DBMGMT_OK);
    assert_int_equal(galera_findings(p), 0);
    dbmgmt_plan_free(p);
    assert_int_equal(dbmgmt_migrator_plan(m, "001", &p), DBMGMT_OK);
    assert_int_equal(dbmgmt_migrator_apply(m, p), DBMGMT_OK);
    dbmgmt_plan_free(p);
    /* the table now exists: TOI on it stops the cluster, a warning */
    assert_int_equal(dbmgmt_migrator_plan(m, NULL, &p), DBMGMT_OK);
    assert_int_equal(findings_of(p, "galera-toi-alter"), 1);
    assert_int_equal(galera_findings(p), 1);
    size_t k = 0;
    while (strcmp(dbmgmt_plan_finding_rule(p, k), "galera-toi-alter") != 0)
        k++;
    assert_int_equal(dbmgmt_plan_finding_severity(p, k), DBMGMT_LINT_WARNING);
    assert_non_null(strstr(dbmgmt_plan_finding_message(p, k), "gl_accounts"));
    assert_non_null(strstr(dbmgmt_plan_finding_advice(p, k), "wsrep_OSU_method='RSU'"));
    assert_int_equal(dbmgmt_plan_status(p), DBMGMT_OK);
    dbmgmt_plan_free(p);
    dbmgmt_migrator_free(m);
    /* OFF: not flagged */
    m = migrator(s, DBMGMT_GALERA_OFF);
    assert_int_equal(dbmgmt_migrator_plan(m, NULL, &p), DBMGMT_OK);
    assert_int_equal(galera_findings(p), 0);
    dbmgmt_plan_free(p);
    dbmgmt_migrator_free(m);
}

static void test_off_and_bad_modes(void **state)
{
    scratch *s = *state;
    support_write_file(s->dir, "001_notes.sql", KEYLESS_MIGRATION);
    dbmgmt_migrator *m = migrator(s, DBMGMT_GALERA_OFF);
    assert_int_equal(dbmgmt_migrator_set_galera(m, 3), DBMGMT_ERR_INVALID);
    assert_non_null(strstr(dbmgmt_migrator_errmsg(m), "unknown mode 3"));
    assert_int_equal(dbmgmt_migrator_set_galera(m, -1), DBMGMT_ERR_INVALID);
    assert_int_equal(dbmgmt_migrator_set_galera(NULL, DBMGMT_GALERA_ON), DBMGMT_ERR_INVALID);
    dbmgmt_plan *p = NULL;
    assert_int_equal(dbmgmt_migrator_plan(m, NULL, &p), DBMGMT_OK); /* still OFF */
    assert_int_equal(galera_findings(p), 0);
    assert_int_equal(dbmgmt_plan_status(p), DBMGMT_OK);
    dbmgmt_plan_free(p);
    dbmgmt_migrator_free(m);
}

int main(void)
{
    app_dsn = getenv("DBMGMT_TEST_DSN");
    admin_dsn = getenv("DBMGMT_TEST_ADMIN_DSN");
    if (!app_dsn || !admin_dsn || strncmp(app_dsn, "mysql://", 8) != 0) {
        printf("DBMGMT_TEST_DSN / DBMGMT_TEST_ADMIN_DSN: no MySQL server\n");
        return 77;
    }
#define T(name) cmocka_unit_test_setup_teardown(name, scratch_setup, scratch_teardown)
    const struct CMUnitTest tests[] = {
        T(test_auto_on_a_plain_server_adds_no_galera_rule),
        T(test_on_flags_keyless_and_myisam_and_refuses_in_production),
        T(test_on_warns_of_toi_alter_of_an_existing_table),
        T(test_off_and_bad_modes),
    };
    return cmocka_run_group_tests_name("engines/mysql-galera-lint", tests, NULL, NULL);
}
