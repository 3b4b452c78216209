/*
 * The index-advice conformance suite (issue 9): one program, run once per
 * engine DSN (DBMGMT_TEST_DSN). Each test builds its schema in a scratch
 * database of its own (a new SQLite file, or CREATE DATABASE on the server).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "dbmgmt.h"
#include "support/engine.h"

static const char *base_dsn;
static dbmgmt_engine engine;

typedef struct scratch {
    support_scratch_db db;
    dbmgmt_conn *conn;
} scratch;

static int scratch_setup(void **state)
{
    scratch *s = calloc(1, sizeof *s);
    support_scratch_db_create(&s->db, base_dsn, "dbmgmt_adv", "/tmp");
    if (dbmgmt_conn_open(&s->conn, s->db.dsn) != DBMGMT_OK)
        return -1;
    *state = s;
    return 0;
}

static int scratch_teardown(void **state)
{
    scratch *s = *state;
    dbmgmt_conn_close(s->conn);
    support_scratch_db_drop(&s->db, base_dsn);
    free(s);
    return 0;
}

static dbmgmt_advice *advise(dbmgmt_conn *c, const char *const *queries)
{
    dbmgmt_advisor *a = NULL;
    assert_int_equal(dbmgmt_advisor_new(&a, c), DBMGMT_OK);
    for (size_t i = 0; queries && queries[i]; i++)
        assert_int_equal(dbmgmt_advisor_add_query(a, queries[i], 1), DBMGMT_OK);
    dbmgmt_advice *adv = NULL;
    if (dbmgmt_advisor_run(a, &adv) != DBMGMT_OK)
        fail_msg("run: %s", dbmgmt_advisor_errmsg(a));
    dbmgmt_advisor_free(a);
    char *json = dbmgmt_advice_to_json(adv);
    printf("%s\n", json);
    dbmgmt_free(json);
    return adv;
}

/* The finding of kind on index (or on table+columns when index is NULL), or -1. */
static long find(const dbmgmt_advice *adv, int32_t kind, const char *table, const char *columns,
                 const char *index)
{
    for (size_t i = 0; i < dbmgmt_advice_count(adv); i++)
        if (dbmgmt_advice_kind(adv, i) == kind && strcmp(dbmgmt_advice_table(adv, i), table) == 0 &&
            (!columns || strcmp(dbmgmt_advice_columns(adv, i), columns) == 0) &&
            (!index || strcmp(dbmgmt_advice_index(adv, i), index) == 0))
            return (long)i;
    return -1;
}

static int mentions_index(const dbmgmt_advice *adv, const char *index)
{
    for (size_t i = 0; i < dbmgmt_advice_count(adv); i++)
        if (dbmgmt_advice_kind(adv, i) != DBMGMT_ADVICE_MISSING &&
            strcmp(dbmgmt_advice_index(adv, i), index) == 0)
            return 1;
    return 0;
}

static const char *const trap_schema[] = {
    "CREATE TABLE adv_parent (id INT PRIMARY KEY, code VARCHAR(20) NOT NULL)",
    "CREATE TABLE adv_child (id INT PRIMARY KEY, parent_id INT NOT NULL, kind INT, "
    "note VARCHAR(50), other_id INT, "
    "CONSTRAINT fk_child_parent FOREIGN KEY (parent_id) REFERENCES adv_parent (id), "
    "CONSTRAINT fk_child_other FOREIGN KEY (other_id) REFERENCES adv_parent (id))",
    /* redundant: a left prefix of adv_child_kind_note */
    "CREATE INDEX adv_child_kind ON adv_child (kind)",
    "CREATE INDEX adv_child_kind_note ON adv_child (kind, note)",
    /* duplicate of adv_child_kind_note */
    "CREATE INDEX adv_child_kind_note2 ON adv_child (kind, note)",
    /* trap: a unique index that looks redundant (prefix of adv_child_note_kind) */
    "CREATE UNIQUE INDEX adv_child_note_u ON adv_child (note)",
    "CREATE INDEX adv_child_note_kind ON adv_child (note, kind)",
    /* trap: the only index the foreign key fk_child_parent has */
    "CREATE INDEX adv_child_parent ON adv_child (parent_id)",
    "CREATE TABLE adv_line (id INT PRIMARY KEY, parent_id INT NOT NULL, pos INT NOT NULL, "
    "CONSTRAINT fk_line_parent FOREIGN KEY (parent_id) REFERENCES adv_parent (id))",
    /* trap: a composite index whose prefix covers the foreign key */
    "CREATE INDEX adv_line_parent_pos ON adv_line (parent_id, pos)",
    NULL};

static void test_schema_findings_with_traps(void **state)
{
    scratch *s = *state;
    for (size_t i = 0; trap_schema[i]; i++)
        support_exec_ok(s->conn, trap_schema[i]);
    /* SQLite keeps no usage counters: the workload's plans stand in for them. */
    const char *const queries[] = {"SELECT id FROM adv_child WHERE note = 'x' AND kind = 1",
                                   "SELECT id FROM adv_line WHERE parent_id = 3 ORDER BY pos",
                                   NULL};
    dbmgmt_advice *adv = advise(s->conn, queries);

    assert_true(find(adv, DBMGMT_ADVICE_DUPLICATE, "adv_child", "kind,note", "adv_child_kind_note2") >= 0);
    long r = find(adv, DBMGMT_ADVICE_REDUNDANT, "adv_child", "kind", "adv_child_kind");
    assert_true(r >= 0);
    assert_non_null(strstr(dbmgmt_advice_ddl(adv, (size_t)r), "DROP INDEX adv_child_kind"));
    /* the traps */
    assert_false(mentions_index(adv, "adv_child_note_u"));
    assert_false(mentions_index(adv, "adv_child_parent"));
    assert_false(mentions_index(adv, "adv_line_parent_pos"));
    assert_true(find(adv, DBMGMT_ADVICE_FK_UNINDEXED, "adv_line", NULL, NULL) < 0);
    assert_true(find(adv, DBMGMT_ADVICE_FK_UNINDEXED, "adv_child", "parent_id", NULL) < 0);
    /* InnoDB indexes every foreign key itself; the others do not */
    if (engine == DBMGMT_ENGINE_MYSQL) {
        assert_true(find(adv, DBMGMT_ADVICE_FK_UNINDEXED, "adv_child", "other_id", NULL) < 0);
    } else {
        long f = find(adv, DBMGMT_ADVICE_FK_UNINDEXED, "adv_child", "other_id", NULL);
        assert_true(f >= 0);
        assert_string_equal(dbmgmt_advice_ddl(adv, (size_t)f),
                            "CREATE INDEX idx_adv_child_other_id ON adv_child (other_id)");
    }
    /* unused: no scans (server counters) or no plan of the workload (SQLite) */
    assert_true(find(adv, DBMGMT_ADVICE_UNUSED, "adv_child", "kind,note", "adv_child_kind_note") >= 0);
    dbmgmt_advice_free(adv);
}

static void test_missing_index_is_reported(void **state)
{
    scratch *s = *state;
    support_exec_ok(s->conn, "CREATE TABLE adv_orders (id INT PRIMARY KEY, customer_id INT, "
                     "created_at VARCHAR(30), total INT)");
    const char *const queries[] = {
        "SELECT id FROM adv_orders WHERE customer_id = 42 AND created_at > '2024-01-01'", NULL};
    dbmgmt_advice *adv = advise(s->conn, queries);
    long m = find(adv, DBMGMT_ADVICE_MISSING, "adv_orders", "customer_id,created_at", NULL);
    assert_true(m >= 0);
    assert_string_equal(dbmgmt_advice_ddl(adv, (size_t)m),
                        "CREATE INDEX idx_adv_orders_customer_id_created_at ON adv_orders "
                        "(customer_id, created_at)");
    assert_int_equal(dbmgmt_advice_queries(adv, (size_t)m), 1);
    if (engine == DBMGMT_ENGINE_SQLITE) {
        assert_int_equal(dbmgmt_advice_confirmed(adv, (size_t)m), 1);
    } else {
        /* MySQL has no hypothetical indexes; this fresh PostgreSQL database has no HypoPG */
        assert_int_equal(dbmgmt_advice_confirmed(adv, (size_t)m), 0);
        assert_true(strlen(dbmgmt_advice_note(adv)) > 0);
        if (engine == DBMGMT_ENGINE_POSTGRES)
            assert_non_null(strstr(dbmgmt_advice_note(adv), "HypoPG"));
        assert_non_null(strstr(dbmgmt_advice_reason(adv, (size_t)m), "Not confirmed"));
    }
    dbmgmt_advice_free(adv);
}

/* Issue 23: an ORDER BY in mixed directions gets an index in those directions, and a
 * collation the query names gets an index in that collation where indexes take one
 * (SQLite, PostgreSQL); MySQL indexes take none, so there the term gives no index. */
static void test_missing_index_keeps_directions_and_collations(void **state)
{
    scratch *s = *state;
    support_exec_ok(s->conn, "CREATE TABLE adv_keys (id INT PRIMARY KEY, a INT, b VARCHAR(40), "
                     "c INT)");
    const char *const ordered[] = {"SELECT a, b FROM adv_keys ORDER BY a, b DESC", NULL};
    dbmgmt_advice *adv = advise(s->conn, ordered);
    long m = find(adv, DBMGMT_ADVICE_MISSING, "adv_keys", "a,b", NULL);
    assert_true(m >= 0);
    assert_string_equal(dbmgmt_advice_ddl(adv, (size_t)m),
                        "CREATE INDEX idx_adv_keys_a_b_desc ON adv_keys (a, b DESC)");
    char *json = dbmgmt_advice_to_json(adv);
    assert_non_null(strstr(json, "\"keys\":[{\"column\":\"a\",\"collation\":null,"
                                 "\"desc\":false},{\"column\":\"b\",\"collation\":null,"
                                 "\"desc\":true}]"));
    dbmgmt_free(json);
    dbmgmt_advice_free(adv);

    const char *collated = engine == DBMGMT_ENGINE_SQLITE     ? "NOCASE"
                           : engine == DBMGMT_ENGINE_POSTGRES ? "\"C\""
                                                              : "utf8mb4_bin";
    char query[200];
    snprintf(query, sizeof query, "SELECT id FROM adv_keys WHERE b COLLATE %s = 'x'", collated);
    const char *const by_collation[] = {query, NULL};
    adv = advise(s->conn, by_collation);
    m = find(adv, DBMGMT_ADVICE_MISSING, "adv_keys", "b", NULL);
    if (engine == DBMGMT_ENGINE_MYSQL) {
        assert_true(m < 0);
    } else {
        assert_true(m >= 0);
        char ddl[200];
        snprintf(ddl, sizeof ddl, "CREATE INDEX idx_adv_keys_b_%s ON adv_keys (b COLLATE %s)",
                 engine == DBMGMT_ENGINE_SQLITE ? "NOCASE" : "C", collated);
        assert_string_equal(dbmgmt_advice_ddl(adv, (size_t)m), ddl);
    }
    dbmgmt_advice_free(adv);
}

/* PostgreSQL with HypoPG (installed in the suite's own database by tests/servers.sh). */
static void test_hypopg_confirms_with_costs(void **state)
{
    (void)state;
    if (engine != DBMGMT_ENGINE_POSTGRES)
        skip();
    dbmgmt_conn *c = NULL;
    assert_int_equal(dbmgmt_conn_open(&c, base_dsn), DBMGMT_OK);
    char table[64], sql[512];
    snprintf(table, sizeof table, "adv_hypo_%d", (int)getpid());
    snprintf(sql, sizeof sql, "DROP TABLE IF EXISTS %s", table);
    support_exec_ok(c, sql);
    snprintf(sql, sizeof sql, "CREATE TABLE %s (id INT PRIMARY KEY, k INT, v TEXT)", table);
    support_exec_ok(c, sql);
    snprintf(sql, sizeof sql, "INSERT INTO %s SELECT g, g %% 1000, md5(g::text) FROM "
                              "generate_series(1, 20000) g", table);
    support_exec_ok(c, sql);
    snprintf(sql, sizeof sql, "ANALYZE %s", table);
    support_exec_ok(c, sql);
    snprintf(sql, sizeof sql, "SELECT v FROM %s WHERE k = 7", table);
    const char *const queries[] = {sql, NULL};
    dbmgmt_advice *adv = advise(c, queries);
    long m = find(adv, DBMGMT_ADVICE_MISSING, table, "k", NULL);
    assert_true(m >= 0);
    assert_int_equal(dbmgmt_advice_confirmed(adv, (size_t)m), 1);
    double before = dbmgmt_advice_cost_before(adv, (size_t)m), after = dbmgmt_advice_cost_after(adv, (size_t)m);
    printf("cost %.2f -> %.2f\n", before, after);
    assert_true(before > 0 && after >= 0 && after < before);
    assert_string_equal(dbmgmt_advice_note(adv), "");
    dbmgmt_advice_free(adv);
    snprintf(sql, sizeof sql, "DROP TABLE %s", table);
    support_exec_ok(c, sql);
    dbmgmt_conn_close(c);
}

static void test_argument_checks(void **state)
{
    scratch *s = *state;
    dbmgmt_advisor *a = NULL;
    assert_int_equal(dbmgmt_advisor_new(NULL, s->conn), DBMGMT_ERR_INVALID);
    assert_int_equal(dbmgmt_advisor_new(&a, NULL), DBMGMT_ERR_INVALID);
    assert_int_equal(dbmgmt_advisor_new(&a, s->conn), DBMGMT_OK);
    assert_int_equal(dbmgmt_advisor_add_query(a, "SELECT 1", 0), DBMGMT_ERR_INVALID);
    assert_int_equal(dbmgmt_advisor_add_query(a, NULL, 1), DBMGMT_ERR_INVALID);
    assert_int_equal(dbmgmt_advisor_add_file(a, "/nonexistent/q.sql"), DBMGMT_ERR_IO);
    assert_int_equal(dbmgmt_advisor_set_max_indexes(a, 0), DBMGMT_ERR_INVALID);
    assert_int_equal(dbmgmt_advisor_set_min_saving(a, 2), DBMGMT_ERR_INVALID);
    if (engine == DBMGMT_ENGINE_SQLITE)
        assert_int_equal(dbmgmt_advisor_use_engine_stats(a), DBMGMT_ERR_UNSUPPORTED);
    assert_null(dbmgmt_advice_table(NULL, 0));
    assert_int_equal(dbmgmt_advice_count(NULL), 0);
    dbmgmt_advisor_free(a);
    dbmgmt_advisor_free(NULL);
    dbmgmt_advice_free(NULL);
}

static void test_over_indexed_write_heavy_table(void **state)
{
    scratch *s = *state;
    support_exec_ok(s->conn, "CREATE TABLE adv_hot (id INT PRIMARY KEY, a INT, b INT, c INT, d INT)");
    support_exec_ok(s->conn, "CREATE INDEX adv_hot_a ON adv_hot (a)");
    support_exec_ok(s->conn, "CREATE INDEX adv_hot_b ON adv_hot (b)");
    support_exec_ok(s->conn, "CREATE INDEX adv_hot_c ON adv_hot (c)");
    dbmgmt_advisor *a = NULL;
    assert_int_equal(dbmgmt_advisor_new(&a, s->conn), DBMGMT_OK);
    assert_int_equal(dbmgmt_advisor_set_max_indexes(a, 2), DBMGMT_OK);
    assert_int_equal(dbmgmt_advisor_add_query(a, "INSERT INTO adv_hot VALUES (1, 2, 3, 4, 5)", 100), DBMGMT_OK);
    assert_int_equal(dbmgmt_advisor_add_query(a, "SELECT * FROM adv_hot WHERE a = 1", 1), DBMGMT_OK);
    dbmgmt_advice *adv = NULL;
    assert_int_equal(dbmgmt_advisor_run(a, &adv), DBMGMT_OK);
    assert_true(find(adv, DBMGMT_ADVICE_OVER_INDEXED, "adv_hot", NULL, NULL) >= 0);
    dbmgmt_advice_free(adv);
    dbmgmt_advisor_free(a);
}

/* n rows: id, a two-valued flag, a distinct code. */
static void fill_stats_table(dbmgmt_conn *c, const char *table, int n)
{
    char sql[256];
    snprintf(sql, sizeof sql, "CREATE TABLE %s (id INTEGER NOT NULL PRIMARY KEY, flag INTEGER NOT NULL, "
                              "code INTEGER NOT NULL)", table);
    support_exec_ok(c, sql);
    snprintf(sql, sizeof sql, "INSERT INTO %s (id, flag, code) VALUES (?, ?, ?)", table);
    dbmgmt_stmt *st = NULL;
    assert_int_equal(dbmgmt_conn_begin(c), DBMGMT_OK);
    assert_int_equal(dbmgmt_conn_prepare(c, &st, sql), DBMGMT_OK);
    for (int i = 1; i <= n; i++) {
        assert_int_equal(dbmgmt_stmt_bind_int64(st, 1, i), DBMGMT_OK);
        assert_int_equal(dbmgmt_stmt_bind_int64(st, 2, i % 2), DBMGMT_OK);
        assert_int_equal(dbmgmt_stmt_bind_int64(st, 3, i), DBMGMT_OK);
        assert_int_equal(dbmgmt_stmt_execute(st, NULL), DBMGMT_OK);
    }
    dbmgmt_stmt_free(st);
    assert_int_equal(dbmgmt_conn_commit(c), DBMGMT_OK);
}

/* The engine's own statistics command. */
static void analyze(dbmgmt_conn *c, const char *table)
{
    char sql[128];
    snprintf(sql, sizeof sql, engine == DBMGMT_ENGINE_MYSQL ? "ANALYZE TABLE %s"
                              : engine == DBMGMT_ENGINE_POSTGRES ? "ANALYZE %s" : "ANALYZE",
             table);
    dbmgmt_result *r = NULL; /* MySQL's ANALYZE TABLE returns a row */
    assert_int_equal(dbmgmt_conn_query(c, &r, sql, 0, NULL), DBMGMT_OK);
    while (dbmgmt_result_next(r) == 1)
        ;
    dbmgmt_result_free(r);
}

/* SQLite: on a database that was ANALYZEd, the scratch copy takes its
 * statistics and the planner still confirms (the copy used to fail there,
 * leaving every finding unconfirmed with a note). */
static void test_sqlite_confirms_on_an_analysed_database(void **state)
{
    scratch *s = *state;
    if (engine != DBMGMT_ENGINE_SQLITE)
        skip();
    fill_stats_table(s->conn, "adv_analysed", 2000);
    analyze(s->conn, "adv_analysed");
    const char *queries[] = {"SELECT id FROM adv_analysed WHERE code = 7", NULL};
    dbmgmt_advice *adv = advise(s->conn, queries);
    assert_string_equal(dbmgmt_advice_note(adv), "");
    long m = find(adv, DBMGMT_ADVICE_MISSING, "adv_analysed", "code", NULL);
    if (m < 0)
        fail_msg("no missing-index finding: %s", dbmgmt_advice_note(adv));
    assert_int_equal(dbmgmt_advice_confirmed(adv, (size_t)m), 1);
    dbmgmt_advice_free(adv);
}

static void test_low_cardinality_lead_from_engine_statistics(void **state)
{
    scratch *s = *state;
    fill_stats_table(s->conn, "adv_lowcard", 2000);
    support_exec_ok(s->conn, "CREATE INDEX adv_lowcard_flag_code ON adv_lowcard (flag, code)");
    analyze(s->conn, "adv_lowcard");
    const char *queries[] = {"SELECT id FROM adv_lowcard WHERE flag = 1 AND code = 7", NULL};
    dbmgmt_advice *adv = advise(s->conn, queries);
    long k = find(adv, DBMGMT_ADVICE_LOW_CARDINALITY_LEAD, "adv_lowcard", NULL, "adv_lowcard_flag_code");
    if (k < 0)
        fail_msg("no low-cardinality finding for an index led by a two-valued column");
    assert_non_null(strstr(dbmgmt_advice_reason(adv, (size_t)k), "flag"));
    dbmgmt_advice_free(adv);
}

static void test_engine_recorded_workload(void **state)
{
    scratch *s = *state;
    dbmgmt_conn *c = s->conn;
    dbmgmt_advisor *a = NULL;
    if (engine == DBMGMT_ENGINE_SQLITE) {
        assert_int_equal(dbmgmt_advisor_new(&a, c), DBMGMT_OK);
        assert_int_equal(dbmgmt_advisor_use_engine_stats(a), DBMGMT_ERR_UNSUPPORTED);
        dbmgmt_advisor_free(a);
        return;
    }
    if (engine == DBMGMT_ENGINE_POSTGRES) { /* the view exists where the extension is created */
        const char *admin = getenv("DBMGMT_TEST_ADMIN_DSN");
        if (!admin || !*admin)
            skip();
        char admin_scratch[1024];
        support_dsn_with_database(admin_scratch, sizeof admin_scratch, admin, s->db.name);
        support_exec_on(admin_scratch, "CREATE EXTENSION IF NOT EXISTS pg_stat_statements");
    }
    fill_stats_table(c, "adv_stats", 2000);
    analyze(c, "adv_stats");
    char sql[160];
    for (int i = 0; i < 20; i++) {
        /* sent as text, which both engines record and normalise (MariaDB
         * keeps no digest for server-side prepared statements) */
        snprintf(sql, sizeof sql, "SELECT id FROM adv_stats WHERE code = %d", i + 1);
        support_exec_ok(c, sql);
    }
    assert_int_equal(dbmgmt_advisor_new(&a, c), DBMGMT_OK);
    int rc = dbmgmt_advisor_use_engine_stats(a);
    if (rc != DBMGMT_OK)
        fail_msg("use_engine_stats: %s", dbmgmt_advisor_errmsg(a));
    dbmgmt_advice *adv = NULL;
    assert_int_equal(dbmgmt_advisor_run(a, &adv), DBMGMT_OK);
    if (find(adv, DBMGMT_ADVICE_MISSING, "adv_stats", "code", NULL) < 0) {
        char *json = dbmgmt_advice_to_json(adv);
        fail_msg("the recorded workload did not yield an index on code: %s", json);
    }
    dbmgmt_advice_free(adv);
    dbmgmt_advisor_free(a);
}

int main(void)
{
    base_dsn = getenv("DBMGMT_TEST_DSN");
    if (!base_dsn)
        base_dsn = "sqlite::memory:";
    engine = support_engine_of_dsn(base_dsn);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_schema_findings_with_traps, scratch_setup, scratch_teardown),
        cmocka_unit_test_setup_teardown(test_missing_index_is_reported, scratch_setup, scratch_teardown),
        cmocka_unit_test_setup_teardown(test_missing_index_keeps_directions_and_collations,
                                        scratch_setup, scratch_teardown),
        cmocka_unit_test_setup_teardown(test_argument_checks, scratch_setup, scratch_teardown),
        cmocka_unit_test_setup_teardown(test_over_indexed_write_heavy_table, scratch_setup, scratch_teardown),
        cmocka_unit_test(test_hypopg_confirms_with_costs),
        cmocka_unit_test_setup_teardown(test_sqlite_confirms_on_an_analysed_database, scratch_setup,
                                        scratch_teardown),
        cmocka_unit_test_setup_teardown(test_low_cardinality_lead_from_engine_statistics, scratch_setup, scratch_teardown),
        cmocka_unit_test_setup_teardown(test_engine_recorded_workload, scratch_setup, scratch_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
