/*
 * Seed data (issue 22, docs/seeds.md) on every engine (DBMGMT_TEST_DSN):
 * applied twice the seeded tables are identical (a checksum of their
 * ordered rows); a changed seed is applied again; lint refuses a
 * non-idempotent seed and a schema change with nothing applied; production
 * (the migrator's or the database's stamp), pending migrations and a dirty
 * database refuse; a failing seed is rolled back with its row. Each test
 * has a scratch database and folder of its own: DIR/migrations, DIR/seeds.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "dbmgmt.h"
#include "support/engine.h"
#include "support/files.h"

static const char *base_dsn;
static dbmgmt_engine engine;

typedef struct scratch {
    char root[256];
    char migrations[300];
    char seeds[300];
    support_scratch_db db;
    dbmgmt_conn *conn;
    dbmgmt_migrator *m;
    /* what the progress callback saw, "V:outcome " each */
    char seen[512];
} scratch;

static int scratch_setup(void **state)
{
    scratch *s = calloc(1, sizeof *s);
    if (!s || support_scratch_dir(s->root, sizeof s->root, "dbmgmt-seed") != 0)
        return -1;
    support_scratch_db_create(&s->db, base_dsn, "dbmgmt_seed", s->root);
    snprintf(s->migrations, sizeof s->migrations, "%s/migrations", s->root);
    snprintf(s->seeds, sizeof s->seeds, "%s/seeds", s->root);
    mkdir(s->migrations, 0700);
    mkdir(s->seeds, 0700);
    if (dbmgmt_conn_open(&s->conn, s->db.dsn) != DBMGMT_OK)
        return -1;
    *state = s;
    return 0;
}

static int scratch_teardown(void **state)
{
    scratch *s = *state;
    dbmgmt_migrator_free(s->m);
    dbmgmt_conn_close(s->conn);
    support_scratch_db_drop(&s->db, base_dsn);
    int rc = support_remove_tree(s->root);
    free(s);
    return rc == 0 ? 0 : -1;
}

static int on_seed(void *userdata, const char *version, const char *name, const char *file,
                   int32_t outcome, int64_t elapsed_ms)
{
    scratch *s = userdata;
    (void)name;
    assert_non_null(strstr(file, ".sql"));
    assert_true(elapsed_ms >= 0);
    size_t len = strlen(s->seen);
    snprintf(s->seen + len, sizeof s->seen - len, "%s:%d ", version, (int)outcome);
    return 0;
}

/* A fresh migrator over the migrations folder, for environment env (or none). */
static dbmgmt_migrator *reload(scratch *s, const char *env)
{
    dbmgmt_migrator_free(s->m);
    assert_int_equal(dbmgmt_migrator_new(&s->m, s->conn), DBMGMT_OK);
    if (env)
        assert_int_equal(dbmgmt_migrator_set_environment(s->m, env), DBMGMT_OK);
    if (dbmgmt_migrator_add_dir(s->m, s->migrations) != DBMGMT_OK)
        fail_msg("add_dir: %s", dbmgmt_migrator_errmsg(s->m));
    assert_int_equal(dbmgmt_migrator_set_seed_progress(s->m, on_seed, s), DBMGMT_OK);
    s->seen[0] = '\0';
    return s->m;
}

static void ok(scratch *s, int rc, const char *what)
{
    if (rc != DBMGMT_OK)
        fail_msg("%s: %s: %s", what, dbmgmt_status_name(rc), dbmgmt_migrator_errmsg(s->m));
}

/* An upsert of (id, name) in the engine's own words. */
static void upsert(char *out, size_t cap, const char *table, const char *rows)
{
    if (engine == DBMGMT_ENGINE_MYSQL)
        snprintf(out, cap, "INSERT INTO %s (id, name) VALUES %s\n"
                           "  ON DUPLICATE KEY UPDATE name = VALUES(name);\n", table, rows);
    else
        snprintf(out, cap, "INSERT INTO %s (id, name) VALUES %s\n"
                           "  ON CONFLICT (id) DO UPDATE SET name = excluded.name;\n", table, rows);
}

static void write_schema(scratch *s)
{
    support_write_file(s->migrations, "001_roles.sql",
                       "-- migrate:up\nCREATE TABLE sd_roles (id INTEGER NOT NULL PRIMARY KEY,"
                       " name VARCHAR(50) NOT NULL);\n");
    support_write_file(s->migrations, "002_users.sql",
                       "-- migrate:up\nCREATE TABLE sd_users (id INTEGER NOT NULL PRIMARY KEY,"
                       " name VARCHAR(50) NOT NULL);\n");
}

static void write_seeds(scratch *s, const char *roles)
{
    char sql[1024];
    upsert(sql, sizeof sql, "sd_roles", roles);
    support_write_file(s->seeds, "001_roles.sql", sql);
    upsert(sql, sizeof sql, "sd_users", "(1, 'alice'), (2, 'bob')");
    /* the second seed also updates: idempotent, and no finding */
    strcat(sql, "UPDATE sd_users SET name = 'bob' WHERE id = 2;\n");
    support_write_file(s->seeds, "002_users.sql", sql);
}

/* FNV-1a 64 of every row of SELECT id, name FROM table ORDER BY id, and
 * the row count, so two readings compare as one number each. */
static uint64_t table_checksum(scratch *s, const char *table)
{
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT id, name FROM %s ORDER BY id", table);
    dbmgmt_result *r = NULL;
    assert_int_equal(dbmgmt_conn_query(s->conn, &r, sql, 0, NULL), DBMGMT_OK);
    uint64_t h = 1469598103934665603ull;
    int rows = 0;
    while (dbmgmt_result_next(r) == 1) {
        char line[160];
        snprintf(line, sizeof line, "%s\x1f%s\x1e", dbmgmt_result_text(r, 0),
                 dbmgmt_result_text(r, 1));
        for (const char *p = line; *p; p++)
            h = (h ^ (unsigned char)*p) * 1099511628211ull;
        rows++;
    }
    dbmgmt_result_free(r);
    return h ^ (uint64_t)rows;
}

static uint64_t seeded_checksum(scratch *s)
{
    return table_checksum(s, "sd_roles") * 31u + table_checksum(s, "sd_users");
}

static int seed_table_exists(scratch *s)
{
    char *json = NULL;
    assert_int_equal(dbmgmt_conn_schema_json(s->conn, &json), DBMGMT_OK);
    int found = strstr(json, "{\"name\":\"dbmgmt_seed_history\",") != NULL;
    dbmgmt_free(json);
    return found;
}

static void test_seed_twice_gives_identical_data(void **state)
{
    scratch *s = *state;
    write_schema(s);
    write_seeds(s, "(1, 'admin'), (2, 'member')");
    ok(s, dbmgmt_migrator_up(reload(s, "development")), "up");
    ok(s, dbmgmt_migrator_seed(s->m, NULL), "seed"); /* NULL: DIR/seeds, beside migrations */
    assert_string_equal(s->seen, "001:1 002:1 ");
    uint64_t first = seeded_checksum(s);
    assert_int_equal(support_query_int(s->conn, "SELECT COUNT(*) FROM sd_roles"), 2);
    ok(s, dbmgmt_migrator_seed(reload(s, "development"), s->seeds), "seed again");
    assert_string_equal(s->seen, "001:0 002:0 ");
    assert_true(seeded_checksum(s) == first);
    /* the rows were applied once each, and say where */
    assert_int_equal(support_query_int(s->conn, "SELECT SUM(applied_count) FROM "
                                                "dbmgmt_seed_history"), 2);
    assert_int_equal(support_query_int(s->conn, "SELECT COUNT(*) FROM dbmgmt_seed_history WHERE "
                                                "environment = 'development' AND "
                                                "LENGTH(checksum) = 64"), 2);
    /* even with the history forgotten, running the seeds again changes nothing */
    support_exec_ok(s->conn, "DELETE FROM dbmgmt_seed_history");
    ok(s, dbmgmt_migrator_seed(reload(s, NULL), NULL), "seed with no history");
    assert_string_equal(s->seen, "001:1 002:1 ");
    assert_true(seeded_checksum(s) == first);
}

static void test_seed_changed_is_reapplied(void **state)
{
    scratch *s = *state;
    write_schema(s);
    write_seeds(s, "(1, 'admin'), (2, 'member')");
    ok(s, dbmgmt_migrator_up(reload(s, NULL)), "up");
    ok(s, dbmgmt_migrator_seed(s->m, NULL), "seed");
    uint64_t before = seeded_checksum(s);
    write_seeds(s, "(1, 'admin'), (2, 'editor'), (3, 'viewer')");
    ok(s, dbmgmt_migrator_seed(reload(s, NULL), NULL), "seed changed");
    assert_string_equal(s->seen, "001:2 002:0 ");
    assert_true(seeded_checksum(s) != before);
    assert_int_equal(support_query_int(s->conn, "SELECT COUNT(*) FROM sd_roles WHERE "
                                                "id = 2 AND name = 'editor'"), 1);
    assert_int_equal(support_query_int(s->conn, "SELECT COUNT(*) FROM sd_roles"), 3);
    assert_int_equal(support_query_int(s->conn, "SELECT applied_count FROM dbmgmt_seed_history "
                                                "WHERE version = '001'"), 2);
    uint64_t after = seeded_checksum(s);
    ok(s, dbmgmt_migrator_seed(reload(s, NULL), NULL), "seed once more");
    assert_string_equal(s->seen, "001:0 002:0 ");
    assert_true(seeded_checksum(s) == after);
}

static void test_seed_lint_refuses_with_nothing_applied(void **state)
{
    scratch *s = *state;
    write_schema(s);
    write_seeds(s, "(1, 'admin')");
    support_write_file(s->seeds, "003_more.sql",
                       "-- roles added by hand\n"
                       "INSERT INTO sd_roles (id, name) VALUES (9, 'guest');\n");
    ok(s, dbmgmt_migrator_up(reload(s, NULL)), "up");
    assert_int_equal(dbmgmt_migrator_seed(s->m, NULL), DBMGMT_ERR_POLICY);
    const char *msg = dbmgmt_migrator_errmsg(s->m);
    assert_non_null(strstr(msg, "seed-non-idempotent-insert"));
    assert_non_null(strstr(msg, "003_more.sql:2"));
    assert_string_equal(s->seen, "");
    assert_int_equal(support_query_int(s->conn, "SELECT COUNT(*) FROM sd_roles"), 0);
    assert_false(seed_table_exists(s));
    /* a schema change is refused too */
    support_write_file(s->seeds, "003_more.sql", "ALTER TABLE sd_roles ADD COLUMN x INTEGER;\n");
    assert_int_equal(dbmgmt_migrator_seed(reload(s, NULL), NULL), DBMGMT_ERR_POLICY);
    assert_non_null(strstr(dbmgmt_migrator_errmsg(s->m), "seed-ddl"));
    assert_non_null(strstr(dbmgmt_migrator_errmsg(s->m), "003_more.sql:1"));
    assert_int_equal(support_query_int(s->conn, "SELECT COUNT(*) FROM sd_roles"), 0);
    /* allowed in the file, with a reason, it runs */
    support_write_file(s->seeds, "003_more.sql",
                       "DELETE FROM sd_users WHERE id > 100;\n"
                       "-- dbmgmt:allow seed-non-idempotent-insert its rows are deleted first\n"
                       "INSERT INTO sd_users (id, name) VALUES (101, 'temp');\n");
    ok(s, dbmgmt_migrator_seed(reload(s, NULL), NULL), "seed with allow");
    assert_string_equal(s->seen, "001:1 002:1 003:1 ");
}

static void test_seed_production_refuses(void **state)
{
    scratch *s = *state;
    write_schema(s);
    write_seeds(s, "(1, 'admin')");
    ok(s, dbmgmt_migrator_up(reload(s, "production")), "up");
    assert_int_equal(dbmgmt_migrator_seed(s->m, NULL), DBMGMT_ERR_POLICY);
    const char *msg = dbmgmt_migrator_errmsg(s->m);
    assert_non_null(strstr(msg, "'production'"));
    assert_non_null(strstr(msg, s->seeds));
    /* a migrator with no environment, on a database stamped production */
    assert_int_equal(dbmgmt_migrator_seed(reload(s, NULL), NULL), DBMGMT_ERR_POLICY);
    assert_non_null(strstr(dbmgmt_migrator_errmsg(s->m), "stamped"));
    assert_string_equal(s->seen, "");
    assert_int_equal(support_query_int(s->conn, "SELECT COUNT(*) FROM sd_roles"), 0);
    assert_false(seed_table_exists(s));
}

static void test_seed_refuses_pending_and_dirty(void **state)
{
    scratch *s = *state;
    write_schema(s);
    write_seeds(s, "(1, 'admin')");
    ok(s, dbmgmt_migrator_up(reload(s, NULL)), "up");
    support_write_file(s->migrations, "003_more.sql",
                       "-- migrate:up\nCREATE TABLE sd_more (id INTEGER NOT NULL PRIMARY KEY);\n");
    assert_int_equal(dbmgmt_migrator_seed(reload(s, NULL), NULL), DBMGMT_ERR_POLICY);
    const char *msg = dbmgmt_migrator_errmsg(s->m);
    assert_non_null(strstr(msg, "pending"));
    assert_non_null(strstr(msg, "003"));
    assert_int_equal(support_query_int(s->conn, "SELECT COUNT(*) FROM sd_roles"), 0);
    /* a migration that fails outside a transaction leaves the database dirty */
    support_write_file(s->migrations, "003_more.sql",
                       "-- migrate:up transaction:false\n"
                       "CREATE TABLE sd_more (id INTEGER NOT NULL PRIMARY KEY);\n"
                       "INSERT INTO sd_no_such_table (id) VALUES (1);\n");
    assert_int_not_equal(dbmgmt_migrator_up(reload(s, NULL)), DBMGMT_OK);
    assert_int_equal(dbmgmt_migrator_seed(reload(s, NULL), NULL), DBMGMT_ERR_DIRTY);
    assert_non_null(strstr(dbmgmt_migrator_errmsg(s->m), "dirty"));
    assert_string_equal(s->seen, "");
    assert_int_equal(support_query_int(s->conn, "SELECT COUNT(*) FROM sd_roles"), 0);
}

static void test_seed_failure_rolls_back_that_seed(void **state)
{
    scratch *s = *state;
    write_schema(s);
    write_seeds(s, "(1, 'admin')");
    support_write_file(s->seeds, "002_users.sql",
                       "UPDATE sd_users SET name = 'x' WHERE id = 1;\n"
                       "DELETE FROM sd_roles WHERE id = 1;\n"
                       "UPDATE sd_users SET no_such_column = 1 WHERE id = 1;\n");
    ok(s, dbmgmt_migrator_up(reload(s, NULL)), "up");
    assert_int_not_equal(dbmgmt_migrator_seed(s->m, NULL), DBMGMT_OK);
    const char *msg = dbmgmt_migrator_errmsg(s->m);
    assert_non_null(strstr(msg, "002_users.sql:3"));
    assert_non_null(strstr(msg, "rolled back"));
    assert_string_equal(s->seen, "001:1 ");
    /* the first seed stays; the second's DELETE was rolled back, and it has no row */
    assert_int_equal(support_query_int(s->conn, "SELECT COUNT(*) FROM sd_roles"), 1);
    assert_int_equal(support_query_int(s->conn, "SELECT COUNT(*) FROM dbmgmt_seed_history"), 1);
    /* a down section is not a seed */
    support_write_file(s->seeds, "002_users.sql", "UPDATE sd_users SET name = 'x' WHERE id = 1;\n");
    support_write_file(s->seeds, "002_users_rollback.sql",
                       "UPDATE sd_users SET name = 'y' WHERE id = 1;\n");
    assert_int_equal(dbmgmt_migrator_seed(reload(s, NULL), NULL), DBMGMT_ERR_PARSE);
    assert_non_null(strstr(dbmgmt_migrator_errmsg(s->m), "down section"));
    assert_int_equal(support_query_int(s->conn, "SELECT COUNT(*) FROM dbmgmt_seed_history"), 1);
}

static int stop_after_first(void *userdata, const char *version, const char *name,
                            const char *file, int32_t outcome, int64_t elapsed_ms)
{
    on_seed(userdata, version, name, file, outcome, elapsed_ms);
    return 1;
}

static void test_seed_folder_and_progress_stop(void **state)
{
    scratch *s = *state;
    write_schema(s);
    ok(s, dbmgmt_migrator_up(reload(s, NULL)), "up");
    /* an empty folder: nothing to do; a missing one: IO, naming it */
    ok(s, dbmgmt_migrator_seed(s->m, NULL), "seed an empty folder");
    assert_string_equal(s->seen, "");
    char missing[400];
    snprintf(missing, sizeof missing, "%s/no_such_seeds", s->root);
    assert_int_equal(dbmgmt_migrator_seed(s->m, missing), DBMGMT_ERR_IO);
    assert_non_null(strstr(dbmgmt_migrator_errmsg(s->m), "no_such_seeds"));
    assert_non_null(strstr(dbmgmt_migrator_errmsg(s->m), "seeds"));
    /* a non-zero return from the progress callback stops after that seed */
    write_seeds(s, "(1, 'admin')");
    assert_int_equal(dbmgmt_migrator_set_seed_progress(s->m, stop_after_first, s), DBMGMT_OK);
    assert_int_equal(dbmgmt_migrator_seed(s->m, NULL), DBMGMT_ERR_POLICY);
    assert_string_equal(s->seen, "001:1 ");
    assert_int_equal(support_query_int(s->conn, "SELECT COUNT(*) FROM dbmgmt_seed_history"), 1);
    ok(s, dbmgmt_migrator_seed(reload(s, NULL), NULL), "seed the rest");
    assert_string_equal(s->seen, "001:0 002:1 ");
}

int main(void)
{
    base_dsn = getenv("DBMGMT_TEST_DSN");
    if (!base_dsn || !*base_dsn) {
        fprintf(stderr, "DBMGMT_TEST_DSN is not set\n");
        return 1;
    }
    engine = support_engine_of_dsn(base_dsn);
    FILE *evidence = support_evidence_open();
    dbmgmt_set_logger(support_log_to_evidence, evidence, DBMGMT_LOG_DEBUG);
#define T(name) cmocka_unit_test_setup_teardown(name, scratch_setup, scratch_teardown)
    const struct CMUnitTest tests[] = {
        T(test_seed_twice_gives_identical_data),
        T(test_seed_changed_is_reapplied),
        T(test_seed_lint_refuses_with_nothing_applied),
        T(test_seed_production_refuses),
        T(test_seed_refuses_pending_and_dirty),
        T(test_seed_failure_rolls_back_that_seed),
        T(test_seed_folder_and_progress_stop),
    };
    int rc = cmocka_run_group_tests_name("conformance/seed", tests, NULL, NULL);
    if (evidence)
        fclose(evidence);
    return rc;
}
