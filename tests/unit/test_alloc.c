/*
 * The allocator hook and what happens when it fails. The hook takes every
 * allocation of the library and can only be set before first use. Then,
 * for every n, the n-th allocation the library makes fails along:
 * open -> query -> read -> free on a connection; a migration run; a lint of
 * a folder; an index-advice run; a backup cycle; a pool's life; health
 * samples; alert rules. Each must end in DBMGMT_ERR_NOMEM (recorded on the
 * thread) with nothing leaked and nothing crashed, and where it matters the
 * next run without failures must succeed on what the failed one left (no
 * half-applied state). SQLite only (its own allocations are not the
 * hook's), so no server is needed.
 * DBMGMT_TEST_ALLOC_BACKTRACE=1 prints the stack of each failed allocation
 * (tests/support/counting_alloc.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "dbmgmt.h"
#include "support/counting_alloc.h"
#include "support/files.h"
#include "test_alloc.h"

char work[128];
static char migrations[256];
static char seeds[256];

void write_file(const char *dir, const char *name, const char *text)
{
    support_write_file(dir, name, text);
}

/* rm -rf each path under work */
void remove_under_work(const char *a, const char *b)
{
    assert_int_equal(support_remove_in(work, a), 0);
    if (b)
        assert_int_equal(support_remove_in(work, b), 0);
}

/* The thread's last error lives until the next failure: record one that is
 * not NOMEM, so a NOMEM seen after a run is that run's. */
void forget_nomem(void)
{
    dbmgmt_statements *list = NULL;
    assert_int_equal(dbmgmt_split((dbmgmt_engine)99, "", 0, &list), DBMGMT_ERR_INVALID);
    assert_int_equal(dbmgmt_errcode(), DBMGMT_ERR_INVALID);
}

/* Run the scenario once to count its allocations, then once per n failing
 * the n-th; after each failure, reset() (may be NULL) prepares the next run
 * and recover() (may be NULL) checks that a run without failures succeeds
 * on what the failed one left. pool_rules: filling min_idle is best effort
 * (a connection the pool could not open for want of memory leaves the run
 * going: DBMGMT_OK is accepted there); a borrower whose new connection
 * failed for want of memory is told DBMGMT_ERR_NOMEM, never that the server
 * is unreachable; no leak and a clean run afterwards are still required. */
void fail_each_allocation(const char *what, scenario_fn scenario, void (*reset)(void),
                                 scenario_fn recover, int pool_rules)
{
    atomic_store(&support_alloc_fail_at, 0);
    if (reset)
        reset();
    atomic_store(&support_alloc_calls, 0);
    int rc = scenario();
    if (rc != DBMGMT_OK)
        fail_msg("%s without failures: %s (%s)", what, dbmgmt_status_name(rc), dbmgmt_errmsg());
    long total = atomic_load(&support_alloc_calls);
    assert_true(total >= 5);
    assert_int_equal(atomic_load(&support_alloc_live), 0);
    for (long n = 1; n <= total; n++) {
        if (reset)
            reset();
        forget_nomem();
        atomic_store(&support_alloc_calls, 0);
        atomic_store(&support_alloc_fail_at, n);
        rc = scenario();
        atomic_store(&support_alloc_fail_at, 0);
        if (rc != DBMGMT_ERR_NOMEM && !(pool_rules && rc == DBMGMT_OK))
            fail_msg("%s: failing allocation %ld of %ld gave %s (%s), expected DBMGMT_ERR_NOMEM",
                     what, n, total, dbmgmt_status_name(rc), dbmgmt_errmsg());
        if (rc == DBMGMT_ERR_NOMEM && dbmgmt_errcode() != DBMGMT_ERR_NOMEM)
            fail_msg("%s: failing allocation %ld of %ld gave NOMEM, but the thread's error is %s "
                     "(%s)", what, n, total, dbmgmt_status_name(dbmgmt_errcode()),
                     dbmgmt_errmsg());
        if (atomic_load(&support_alloc_live) != 0)
            fail_msg("%s: failing allocation %ld of %ld leaked %ld blocks", what, n, total,
                     atomic_load(&support_alloc_live));
        if (recover) {
            rc = recover();
            if (rc != DBMGMT_OK)
                fail_msg("%s: after failing allocation %ld of %ld, a clean run gave %s (%s)",
                         what, n, total, dbmgmt_status_name(rc), dbmgmt_errmsg());
            assert_int_equal(atomic_load(&support_alloc_live), 0);
        }
    }
    printf("%s: %ld allocations, each failed once\n", what, total);
}

/* ---- the hook itself, and connections ------------------------------------------- */

static void test_allocator_is_set_before_first_use(void **state)
{
    (void)state;
    assert_int_equal(dbmgmt_set_allocator(support_counting_malloc, NULL, support_counting_free),
                     DBMGMT_ERR_INVALID);
    assert_int_equal(dbmgmt_set_allocator(support_counting_malloc, support_counting_realloc, support_counting_free),
                     DBMGMT_OK);
    char *s = dbmgmt_dsn_redact("sqlite::memory:");
    assert_non_null(s);
    assert_int_equal(atomic_load(&support_alloc_live), 1); /* the library's allocation went through the hook */
    dbmgmt_free(s);
    assert_int_equal(atomic_load(&support_alloc_live), 0);
    assert_int_equal(dbmgmt_set_allocator(NULL, NULL, NULL), DBMGMT_ERR_BUSY);
    assert_int_equal(dbmgmt_errcode(), DBMGMT_ERR_BUSY);
}

/* open -> exec -> prepared insert -> parameterised query -> read -> free.
 * Returns the first failing status (after cleaning up) or DBMGMT_OK. */
static int open_query_read_free(void)
{
    dbmgmt_conn *conn = NULL;
    dbmgmt_stmt *stmt = NULL;
    dbmgmt_result *res = NULL;
    int rc = dbmgmt_conn_open(&conn, "sqlite::memory:");
    if (rc != DBMGMT_OK)
        goto out;
    rc = dbmgmt_conn_exec(conn, "CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT, data BLOB)");
    if (rc != DBMGMT_OK)
        goto out;
    rc = dbmgmt_conn_prepare(conn, &stmt, "INSERT INTO t(name, data) VALUES (?, ?)");
    if (rc == DBMGMT_OK)
        rc = dbmgmt_stmt_bind_text(stmt, 1, "alpha");
    if (rc == DBMGMT_OK)
        rc = dbmgmt_stmt_bind_blob(stmt, 2, "\0\1\2", 3);
    if (rc == DBMGMT_OK)
        rc = dbmgmt_stmt_execute(stmt, NULL);
    if (rc != DBMGMT_OK)
        goto out;
    const char *params[] = {"alpha"};
    rc = dbmgmt_conn_query(conn, &res, "SELECT id, name, data FROM t WHERE name = ?", 1, params);
    if (rc != DBMGMT_OK)
        goto out;
    int rows = 0;
    while ((rc = dbmgmt_result_next(res)) == 1) {
        rows++;
        if (strcmp(dbmgmt_result_text(res, 1), "alpha") != 0)
            fail_msg("wrong row");
    }
    if (rc == 0 && rows != 1)
        fail_msg("expected one row, got %d", rows);
out:
    dbmgmt_result_free(res);
    dbmgmt_stmt_free(stmt);
    dbmgmt_conn_close(conn);
    return rc < 0 ? rc : DBMGMT_OK;
}

static void test_connections_survive_every_failing_allocation(void **state)
{
    (void)state;
    fail_each_allocation("connections", open_query_read_free, NULL, NULL, 0);
}

/* ---- migrations ------------------------------------------------------------------ */

static char migrate_dsn[160];

static void migrate_reset(void)
{
    remove_under_work("m.db", "m.db-journal");
}

/* boot from the folder, then plan, status, down to 1 and up again */
static int migrate_scenario(void)
{
    int rc = dbmgmt_migrate_on_boot(migrate_dsn, migrations, NULL, "dev");
    if (rc != DBMGMT_OK)
        return rc;
    dbmgmt_conn *conn = NULL;
    dbmgmt_migrator *m = NULL;
    dbmgmt_plan *plan = NULL;
    char *json = NULL;
    rc = dbmgmt_conn_open(&conn, migrate_dsn);
    if (rc == DBMGMT_OK)
        rc = dbmgmt_migrator_new(&m, conn);
    if (rc == DBMGMT_OK)
        rc = dbmgmt_migrator_set_environment(m, "dev");
    if (rc == DBMGMT_OK)
        rc = dbmgmt_migrator_add_dir(m, migrations);
    if (rc == DBMGMT_OK)
        rc = dbmgmt_migrator_plan(m, NULL, &plan);
    if (rc == DBMGMT_OK) {
        json = dbmgmt_plan_to_json(plan);
        if (!json)
            rc = dbmgmt_errcode();
        dbmgmt_free(json);
        json = NULL;
    }
    if (rc == DBMGMT_OK)
        rc = dbmgmt_migrator_status_json(m, &json);
    dbmgmt_free(json);
    if (rc == DBMGMT_OK)
        rc = dbmgmt_migrator_down(m, "1");
    if (rc == DBMGMT_OK)
        rc = dbmgmt_migrator_up(m);
    dbmgmt_plan_free(plan);
    dbmgmt_migrator_free(m);
    dbmgmt_conn_close(conn);
    return rc;
}

static int migrate_recover(void)
{
    int rc = dbmgmt_migrate_on_boot(migrate_dsn, migrations, NULL, "dev");
    if (rc != DBMGMT_OK)
        return rc;
    /* all three applied, each once, and their objects there */
    dbmgmt_conn *conn = NULL;
    dbmgmt_result *r = NULL;
    rc = dbmgmt_conn_open(&conn, migrate_dsn);
    if (rc == DBMGMT_OK)
        rc = dbmgmt_conn_query(conn, &r,
                               "SELECT (SELECT COUNT(*) FROM dbmgmt_schema_history WHERE "
                               "installed_rank > 0 AND success = 1) * 100 + (SELECT COUNT(*) "
                               "FROM sqlite_schema WHERE name IN ('a', 'a_name', 'c'))",
                               0, NULL);
    if (rc == DBMGMT_OK && dbmgmt_result_next(r) == 1 && dbmgmt_result_int64(r, 0) != 303)
        fail_msg("after recovery: history*100 + objects = %lld, expected 303",
                 (long long)dbmgmt_result_int64(r, 0));
    dbmgmt_result_free(r);
    dbmgmt_conn_close(conn);
    return rc;
}

static void test_migrations_survive_every_failing_allocation(void **state)
{
    (void)state;
    snprintf(migrate_dsn, sizeof migrate_dsn, "sqlite://%s/m.db", work);
    fail_each_allocation("migrations", migrate_scenario, migrate_reset, migrate_recover, 0);
}

/* ---- seed data (issue 22) --------------------------------------------------------- */

static void seed_reset(void)
{
    remove_under_work("s.db", "s.db-journal");
}

/* migrate, lint the seeds, seed (work/seeds, beside migrations) twice: the
 * second run finds both seeds unchanged */
static int seed_scenario(void)
{
    dbmgmt_lint_report *report = NULL;
    int rc = dbmgmt_lint_dir_with(&report, DBMGMT_ENGINE_SQLITE, seeds, DBMGMT_LINT_SEEDS);
    dbmgmt_lint_report_free(report);
    dbmgmt_conn *conn = NULL;
    dbmgmt_migrator *m = NULL;
    if (rc == DBMGMT_OK)
        rc = dbmgmt_conn_open(&conn, migrate_dsn);
    if (rc == DBMGMT_OK)
        rc = dbmgmt_migrator_new(&m, conn);
    if (rc == DBMGMT_OK)
        rc = dbmgmt_migrator_add_dir(m, migrations);
    if (rc == DBMGMT_OK)
        rc = dbmgmt_migrator_up(m);
    for (int run = 0; run < 2 && rc == DBMGMT_OK; run++)
        rc = dbmgmt_migrator_seed(m, NULL);
    dbmgmt_migrator_free(m);
    dbmgmt_conn_close(conn);
    return rc;
}

/* a clean run leaves the seeded row once, and each seed recorded once */
static int seed_recover(void)
{
    int rc = seed_scenario();
    dbmgmt_conn *conn = NULL;
    dbmgmt_result *r = NULL;
    if (rc == DBMGMT_OK)
        rc = dbmgmt_conn_open(&conn, migrate_dsn);
    if (rc == DBMGMT_OK)
        rc = dbmgmt_conn_query(conn, &r,
                               "SELECT (SELECT COUNT(*) FROM a WHERE id = 10 AND name = 'z') * 10 "
                               "+ (SELECT SUM(applied_count) FROM dbmgmt_seed_history)", 0, NULL);
    if (rc == DBMGMT_OK && dbmgmt_result_next(r) == 1 && dbmgmt_result_int64(r, 0) != 12)
        fail_msg("after recovery: rows*10 + seed runs = %lld, expected 12",
                 (long long)dbmgmt_result_int64(r, 0));
    dbmgmt_result_free(r);
    dbmgmt_conn_close(conn);
    return rc;
}

static void test_seeds_survive_every_failing_allocation(void **state)
{
    (void)state;
    snprintf(migrate_dsn, sizeof migrate_dsn, "sqlite://%s/s.db", work);
    fail_each_allocation("seeds", seed_scenario, seed_reset, seed_recover, 0);
}

/* ---- lint ------------------------------------------------------------------------ */

static int lint_scenario(void)
{
    dbmgmt_lint_report *report = NULL;
    int rc = dbmgmt_lint_dir(&report, DBMGMT_ENGINE_POSTGRES, migrations);
    if (rc != DBMGMT_OK)
        return rc;
    if (dbmgmt_lint_report_count(report) == 0)
        fail_msg("the lint folder gave no findings");
    char *json = dbmgmt_lint_report_to_json(report);
    if (!json)
        rc = dbmgmt_errcode();
    dbmgmt_free(json);
    dbmgmt_lint_report_free(report);
    return rc;
}

static void test_lint_survives_every_failing_allocation(void **state)
{
    (void)state;
    fail_each_allocation("lint", lint_scenario, NULL, NULL, 0);
}

/* ---- index advice ------------------------------------------------------------------ */

static int advise_scenario(void)
{
    dbmgmt_conn *conn = NULL;
    dbmgmt_advisor *a = NULL;
    dbmgmt_advice *adv = NULL;
    int rc = dbmgmt_conn_open(&conn, "sqlite::memory:");
    if (rc == DBMGMT_OK)
        rc = dbmgmt_conn_exec(conn,
                              "CREATE TABLE orders (id INTEGER PRIMARY KEY, customer INTEGER, "
                              "status TEXT, total REAL);"
                              "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n "
                              "WHERE i < 2000) INSERT INTO orders (customer, status, total) "
                              "SELECT i % 97, CASE i % 3 WHEN 0 THEN 'open' ELSE 'done' END, i "
                              "FROM n;"
                              "ANALYZE;");
    if (rc == DBMGMT_OK)
        rc = dbmgmt_advisor_new(&a, conn);
    if (rc == DBMGMT_OK)
        rc = dbmgmt_advisor_add_query(a, "SELECT total FROM orders WHERE customer = 5", 10);
    if (rc == DBMGMT_OK)
        rc = dbmgmt_advisor_add_query(
            a, "SELECT id FROM orders WHERE customer = 7 AND status = 'open' ORDER BY total", 5);
    if (rc == DBMGMT_OK)
        rc = dbmgmt_advisor_run(a, &adv);
    if (rc == DBMGMT_OK) {
        if (dbmgmt_advice_count(adv) == 0)
            fail_msg("no advice for an unindexed lookup");
        char *json = dbmgmt_advice_to_json(adv);
        if (!json)
            rc = dbmgmt_errcode();
        dbmgmt_free(json);
    }
    dbmgmt_advice_free(adv);
    dbmgmt_advisor_free(a);
    dbmgmt_conn_close(conn);
    return rc;
}

static void test_advice_survives_every_failing_allocation(void **state)
{
    (void)state;
    fail_each_allocation("advice", advise_scenario, NULL, NULL, 0);
}

/* ---- the pool ---------------------------------------------------------------------- */

static char pool_dsn[160];

/* open (fills min_idle), borrow two (the second opens one), use, return,
 * stats, maintain, close; no background thread, so every allocation is
 * this thread's */
static int pool_scenario(void)
{
    dbmgmt_pool_config *cfg = NULL;
    dbmgmt_pool *pool = NULL;
    dbmgmt_conn *a = NULL, *b = NULL;
    int rc = dbmgmt_pool_config_new(&cfg);
    if (rc == DBMGMT_OK)
        rc = dbmgmt_pool_config_set_min_idle(cfg, 1);
    if (rc == DBMGMT_OK)
        rc = dbmgmt_pool_config_set_max_size(cfg, 2);
    if (rc == DBMGMT_OK)
        rc = dbmgmt_pool_config_set_background_thread(cfg, 0);
    if (rc == DBMGMT_OK)
        rc = dbmgmt_pool_config_set_acquire_timeout_ms(cfg, 100);
    if (rc == DBMGMT_OK)
        rc = dbmgmt_pool_open(&pool, pool_dsn, cfg);
    dbmgmt_pool_config_free(cfg);
    if (rc == DBMGMT_OK)
        rc = dbmgmt_pool_acquire(pool, &a, -1);
    if (rc == DBMGMT_OK)
        rc = dbmgmt_conn_exec(a, "INSERT INTO t (v) VALUES ('p')");
    if (rc == DBMGMT_OK)
        rc = dbmgmt_pool_acquire(pool, &b, -1);
    if (rc == DBMGMT_OK) {
        dbmgmt_result *r = NULL;
        rc = dbmgmt_conn_query(b, &r, "SELECT COUNT(*) FROM t", 0, NULL);
        if (rc == DBMGMT_OK && dbmgmt_result_next(r) != 1)
            rc = dbmgmt_errcode();
        dbmgmt_result_free(r);
    }
    if (b)
        dbmgmt_pool_release(pool, b);
    if (a)
        dbmgmt_pool_release(pool, a);
    if (rc == DBMGMT_OK) {
        char *json = dbmgmt_pool_stats_json(pool);
        if (!json)
            rc = dbmgmt_errcode();
        dbmgmt_free(json);
    }
    if (rc == DBMGMT_OK && dbmgmt_pool_maintain(pool) < 0)
        rc = dbmgmt_errcode();
    if (pool)
        dbmgmt_pool_close(pool, 0);
    return rc;
}

static void test_pool_survives_every_failing_allocation(void **state)
{
    (void)state;
    snprintf(pool_dsn, sizeof pool_dsn, "sqlite://%s/p.db", work);
    dbmgmt_conn *conn = NULL;
    assert_int_equal(dbmgmt_conn_open(&conn, pool_dsn), DBMGMT_OK);
    assert_int_equal(dbmgmt_conn_exec(conn, "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)"),
                     DBMGMT_OK);
    dbmgmt_conn_close(conn);
    fail_each_allocation("pool", pool_scenario, NULL, pool_scenario, 1);
}

/* A borrower's new connection that fails for want of memory is reported as
 * that, at once, and is not taken for a server outage: the next borrower
 * opens one without waiting out a backoff, and the stats say the server is up. */
static void test_pool_out_of_memory_is_not_a_server_outage(void **state)
{
    (void)state;
    snprintf(pool_dsn, sizeof pool_dsn, "sqlite://%s/p.db", work);
    int saw_nomem = 0;
    for (long n = 1; n < 200 && !saw_nomem; n++) {
        dbmgmt_pool_config *cfg = NULL;
        assert_int_equal(dbmgmt_pool_config_new(&cfg), DBMGMT_OK);
        assert_int_equal(dbmgmt_pool_config_set_min_idle(cfg, 0), DBMGMT_OK);
        assert_int_equal(dbmgmt_pool_config_set_max_size(cfg, 2), DBMGMT_OK);
        assert_int_equal(dbmgmt_pool_config_set_background_thread(cfg, 0), DBMGMT_OK);
        dbmgmt_pool *pool = NULL;
        assert_int_equal(dbmgmt_pool_open(&pool, pool_dsn, cfg), DBMGMT_OK);
        dbmgmt_pool_config_free(cfg);
        dbmgmt_conn *a = NULL, *b = NULL;
        assert_int_equal(dbmgmt_pool_acquire(pool, &a, 0), DBMGMT_OK); /* the open one */
        atomic_store(&support_alloc_calls, 0);
        atomic_store(&support_alloc_fail_at, n); /* somewhere in opening the second */
        int rc = dbmgmt_pool_acquire(pool, &b, 5000);
        atomic_store(&support_alloc_fail_at, 0);
        if (rc == DBMGMT_ERR_NOMEM) {
            saw_nomem = 1;
            assert_null(b);
            assert_non_null(strstr(dbmgmt_errmsg(), "out of memory"));
            /* no backoff: a borrower that may not wait at all gets one now */
            assert_int_equal(dbmgmt_pool_acquire(pool, &b, 0), DBMGMT_OK);
            char *json = dbmgmt_pool_stats_json(pool);
            assert_non_null(strstr(json, "\"up\":true"));
            dbmgmt_free(json);
        } else {
            assert_int_equal(rc, DBMGMT_OK);
        }
        if (b)
            dbmgmt_pool_release(pool, b);
        dbmgmt_pool_release(pool, a);
        assert_int_equal(dbmgmt_pool_close(pool, 0), DBMGMT_OK);
        assert_int_equal(atomic_load(&support_alloc_live), 0);
    }
    assert_true(saw_nomem);
}

/* ---- the command line ---------------------------------------------------------------- */

#ifdef DBMGMT_TEST_CLI
/* The CLI's commands are linked in (tools/dbmgmt's static library): each
 * run is cli_main in this process, so every allocation its library calls
 * make is the hook's. A run that fails must exit non-zero and say "out of
 * memory" (the tool's own words or the library's), never crash or leak. */
int cli_main(int argc, char **argv);

static char cli_db[256], cli_url[300], cli_backups[256], cli_out[256];
static const char *const *cli_argv; /* the running scenario's commands, NULL-separated */

/* Runs one command line with stdout and stderr going to cli_out. */
static int run_cli(const char *const *args)
{
    char *argv[24];
    int argc = 0;
    argv[argc++] = (char *)"dbmgmt";
    for (; *args && argc < 23; args++)
        argv[argc++] = (char *)*args;
    argv[argc] = NULL;
    fflush(stdout);
    fflush(stderr);
    int saved_out = dup(1), saved_err = dup(2);
    FILE *out = fopen(cli_out, "w");
    assert_non_null(out);
    dup2(fileno(out), 1);
    dup2(fileno(out), 2);
    int status = cli_main(argc, argv);
    fflush(stdout);
    fflush(stderr);
    dup2(saved_out, 1);
    dup2(saved_err, 2);
    close(saved_out);
    close(saved_err);
    fclose(out);
    return status;
}

/* What the tool printed, for the failure message and the NOMEM check. */
static const char *cli_output(void)
{
    static char text[4096];
    text[0] = 0;
    FILE *f = fopen(cli_out, "r");
    if (f) {
        size_t n = fread(text, 1, sizeof text - 1, f);
        text[n] = 0;
        fclose(f);
    }
    return text;
}

/* The scenario: each command line of cli_argv in turn, stopping at the
 * first that fails. DBMGMT_OK when all exit 0; DBMGMT_ERR_NOMEM when one
 * fails saying it ran out of memory; anything else fails the test. */
static int cli_scenario(void)
{
    for (const char *const *cmd = cli_argv; *cmd; cmd++) {
        int status = run_cli(cmd);
        if (status != 0) {
            const char *said = cli_output();
            if (status == 1 && strstr(said, "out of memory"))
                return DBMGMT_ERR_NOMEM;
            char line[512] = "dbmgmt";
            for (const char *const *a = cmd; *a; a++)
                snprintf(line + strlen(line), sizeof line - strlen(line), " %s", *a);
            fail_msg("%s: exited %d without saying it ran out of memory (the library's last "
                     "error: %s):\n%s",
                     line, status, dbmgmt_errmsg(), said);
        }
        while (*cmd)
            cmd++;
    }
    return DBMGMT_OK;
}

static void cli_reset(void)
{
    remove_under_work("cli.db", "cli-backups");
}

static void test_cli_survives_every_failing_allocation(void **state)
{
    (void)state;
    snprintf(cli_db, sizeof cli_db, "%s/cli.db", work);
    snprintf(cli_url, sizeof cli_url, "sqlite://%s", cli_db);
    snprintf(cli_backups, sizeof cli_backups, "%s/cli-backups", work);
    snprintf(cli_out, sizeof cli_out, "%s/cli.out", work);
    char queries[256], embedded[256];
    snprintf(queries, sizeof queries, "%s/queries.sql", work);
    snprintf(embedded, sizeof embedded, "%s/embedded.c", work);
    write_file(work, "queries.sql", "SELECT * FROM a WHERE name = 'x';\n"
                                    "SELECT * FROM c WHERE a_id = 1 ORDER BY id;\n");
    /* migrate from nothing, then look at what was done */
    const char *const migrate[] = {
        "--url", cli_url, "--dir", migrations, "up", NULL,
        "--url", cli_url, "--dir", migrations, "--json", "status", NULL,
        "--url", cli_url, "--dir", migrations, "plan", "--exit-code", NULL,
        "--url", cli_url, "--dir", migrations, "validate", NULL,
        "--url", cli_url, "--dir", migrations, "down", "--to", "2", NULL,
        NULL};
    cli_argv = migrate;
    fail_each_allocation("cli: up, status, plan, validate, down", cli_scenario, cli_reset,
                         cli_scenario, 0);
    /* lint, embed and advice over the migrated database */
    const char *const inspect[] = {
        "lint", "--dir", migrations, "--dialect", "sqlite", "--json", NULL,
        "embed", migrations, "-o", embedded, NULL,
        "--url", cli_url, "--dir", migrations, "up", NULL,
        "advise", "--url", cli_url, "--queries", queries, "--json", NULL,
        NULL};
    cli_argv = inspect;
    fail_each_allocation("cli: lint, embed, advise", cli_scenario, cli_reset, cli_scenario, 0);
    /* backups: take, list, verify-all by listing, prune */
    const char *const backup[] = {
        "--url", cli_url, "--dir", migrations, "up", NULL,
        "--url", cli_url, "backup", "--backup-dir", cli_backups, "run", NULL,
        "--url", cli_url, "backup", "--backup-dir", cli_backups, "run", NULL,
        "--url", cli_url, "backup", "--backup-dir", cli_backups, "list", "--json", NULL,
        "--url", cli_url, "backup", "--backup-dir", cli_backups, "prune", "--keep-last", "1",
        NULL,
        "schedule", "next", "0 3 * * mon", "--count", "3", NULL,
        NULL};
    cli_argv = backup;
    fail_each_allocation("cli: backup run, list, prune; schedule", cli_scenario, cli_reset,
                         cli_scenario, 0);
}
#endif

/* ---- health: a sampler's samples and their JSON; alert rules ------------------ */

static char health_dsn[256];

/* Open, two samples, the JSON of the second, close. */
static int health_scenario(void)
{
    dbmgmt_conn *conn = NULL;
    dbmgmt_health_sampler *s = NULL;
    dbmgmt_health *a = NULL, *b = NULL;
    int rc = dbmgmt_conn_open(&conn, health_dsn);
    if (rc == DBMGMT_OK)
        rc = dbmgmt_health_sampler_new(&s);
    if (rc == DBMGMT_OK)
        rc = dbmgmt_health_sample_at(s, conn, NULL, 1000, &a);
    if (rc == DBMGMT_OK)
        rc = dbmgmt_health_sample_at(s, conn, NULL, 2000, &b);
    if (rc == DBMGMT_OK) {
        char *json = dbmgmt_health_to_json(b);
        rc = json ? DBMGMT_OK : DBMGMT_ERR_NOMEM;
        dbmgmt_free(json);
    }
    dbmgmt_health_free(a);
    dbmgmt_health_free(b);
    dbmgmt_health_sampler_free(s);
    dbmgmt_conn_close(conn);
    return rc;
}

static void test_health_survives_every_failing_allocation(void **state)
{
    (void)state;
    snprintf(health_dsn, sizeof health_dsn, "sqlite://%s/h.db", work);
    dbmgmt_conn *conn = NULL;
    assert_int_equal(dbmgmt_conn_open(&conn, health_dsn), DBMGMT_OK);
    assert_int_equal(dbmgmt_conn_exec(conn, "CREATE TABLE t(x INT PRIMARY KEY); "
                                            "CREATE TABLE u(y); INSERT INTO t VALUES (1), (2)"),
                     DBMGMT_OK);
    dbmgmt_conn_close(conn);
    fail_each_allocation("health: samples and JSON", health_scenario, NULL, NULL, 0);
}

static int alerts_fired;

static void count_firing(void *userdata, const char *rule, int32_t state, int32_t severity,
                         double value, const char *message)
{
    (void)userdata, (void)rule, (void)severity, (void)value, (void)message;
    alerts_fired += state == DBMGMT_ALERT_FIRING;
}

/* The default rules and two more, one firing, the JSON. */
static int alerts_scenario(void)
{
    dbmgmt_alerts *a = NULL;
    alerts_fired = 0;
    int rc = dbmgmt_alerts_new(&a);
    if (rc == DBMGMT_OK)
        rc = dbmgmt_alerts_set_callback(a, count_firing, NULL);
    if (rc == DBMGMT_OK)
        rc = dbmgmt_alerts_set_rule(a, "waits", DBMGMT_HEALTH_LOCK_WAITS, 5,
                                    DBMGMT_ALERT_WARNING, 0, 0.1);
    if (rc == DBMGMT_OK)
        rc = dbmgmt_alerts_set_rule(a, "cache_misses", DBMGMT_HEALTH_CACHE_READS_TOTAL, 1e6,
                                    DBMGMT_ALERT_CRITICAL, 1000, 0.5);
    if (rc == DBMGMT_OK && (dbmgmt_alerts_observe(a, DBMGMT_HEALTH_LOCK_WAITS, 6, 1) != 1 ||
                            alerts_fired != 1))
        fail_msg("the rule added did not fire");
    if (rc == DBMGMT_OK) {
        char *json = dbmgmt_alerts_to_json(a);
        if (json && !strstr(json, "\"name\":\"cache_misses\""))
            fail_msg("the JSON lacks a rule: %s", json);
        rc = json ? DBMGMT_OK : DBMGMT_ERR_NOMEM;
        dbmgmt_free(json);
    }
    dbmgmt_alerts_free(a);
    return rc;
}

static void test_alerts_survive_every_failing_allocation(void **state)
{
    (void)state;
    fail_each_allocation("alerts: rules, a firing, JSON", alerts_scenario, NULL, NULL, 0);
}

static int setup(void **state)
{
    (void)state;
    /* in memory where there is a tmpfs: thousands of runs that each commit
     * (and fsync) a migration or a backup would otherwise wait on the disk */
    if (support_scratch_dir_on_tmpfs(work, sizeof work, "dbmgmt-allocmod") != 0)
        return -1;
    snprintf(migrations, sizeof migrations, "%s/migrations", work);
    if (mkdir(migrations, 0700) != 0)
        return -1;
    snprintf(seeds, sizeof seeds, "%s/seeds", work);
    if (mkdir(seeds, 0700) != 0)
        return -1;
    write_file(seeds, "001_names.sql",
               "INSERT INTO a (id, name) VALUES (10, 'seeded')\n"
               "  ON CONFLICT (id) DO UPDATE SET name = excluded.name;\n");
    write_file(seeds, "002_rename.sql", "UPDATE a SET name = 'z' WHERE id = 10;\n");
    write_file(migrations, "001_create.sql",
               "-- migrate:up\nCREATE TABLE a (id INTEGER PRIMARY KEY, name TEXT);\n"
               "-- migrate:down\nDROP TABLE a;\n");
    write_file(migrations, "002_index.sql",
               "-- migrate:up\nCREATE INDEX a_name ON a (name);\n"
               "INSERT INTO a (name) VALUES ('x; not the end'), ('y');\n"
               "-- migrate:down\nDROP INDEX a_name;\n");
    write_file(migrations, "003_more.sql",
               "-- migrate:up\nCREATE TABLE c (id INTEGER, a_id INTEGER REFERENCES a (id));\n"
               "CREATE TRIGGER c_touch AFTER INSERT ON c BEGIN\n"
               "  UPDATE a SET name = name WHERE id = new.a_id;\nEND;\n"
               "-- migrate:down\nDROP TABLE c;\n");
    return 0; /* the allocator is set by the first test, before any other use */
}

/* Retention jobs (issue 22): an export of 25 old rows in batches of 10
 * (files, catalog, resume of what a failed run left), the status JSON, a
 * restore of the first file, and a MOVE into an archive table. */
static char archive_dsn[256], archive_dir[256], archive_file[300];

static void archive_reset(void)
{
    remove_under_work("archive-export", NULL);
    dbmgmt_conn *conn = NULL;
    if (dbmgmt_conn_open(&conn, archive_dsn) != DBMGMT_OK)
        fail_msg("archive reset: %s", dbmgmt_errmsg());
    if (dbmgmt_conn_exec(conn, "DROP TABLE IF EXISTS ev; DROP TABLE IF EXISTS ev_back;"
                               "DROP TABLE IF EXISTS ev_archive;"
                               "CREATE TABLE ev (id INTEGER PRIMARY KEY, t INTEGER, note TEXT);"
                               "CREATE TABLE ev_back (id INTEGER, t INTEGER, note TEXT);"
                               "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n"
                               " WHERE i < 30) INSERT INTO ev SELECT i, CASE WHEN i > 25 THEN"
                               " 2000000000 ELSE 1000 + i END, 'row \"' || i FROM n") != DBMGMT_OK)
        fail_msg("archive reset: %s", dbmgmt_conn_errmsg(conn));
    dbmgmt_conn_close(conn);
}

static int archive_job(int32_t action, const char *target)
{
    dbmgmt_archive *a = NULL;
    int rc = dbmgmt_archive_new(&a, archive_dsn, "ev");
    if (rc == DBMGMT_OK)
        rc = dbmgmt_archive_set_time_column(a, "t", DBMGMT_ARCHIVE_TIME_EPOCH);
    if (rc == DBMGMT_OK)
        rc = dbmgmt_archive_set_window(a, "1d");
    if (rc == DBMGMT_OK)
        rc = dbmgmt_archive_set_action(a, action, target);
    if (rc == DBMGMT_OK)
        rc = dbmgmt_archive_set_batch_size(a, 10);
    if (rc == DBMGMT_OK)
        rc = dbmgmt_archive_run(a, 1800000000);
    if (rc == DBMGMT_OK) {
        char *json = dbmgmt_archive_status_json(a);
        if (!json)
            rc = dbmgmt_errcode();
        dbmgmt_free(json);
    }
    dbmgmt_archive_free(a);
    return rc;
}

static int archive_scenario(void)
{
    int rc = archive_job(DBMGMT_ARCHIVE_EXPORT, archive_dir);
    if (rc == DBMGMT_OK)
        rc = dbmgmt_archive_restore(archive_file, archive_dsn, "ev_back", NULL);
    if (rc == DBMGMT_OK)
        rc = archive_job(DBMGMT_ARCHIVE_MOVE, "ev_archive");
    return rc;
}

static void test_archive_jobs_survive_every_failing_allocation(void **state)
{
    (void)state;
    snprintf(archive_dsn, sizeof archive_dsn, "sqlite://%s/archive.db", work);
    snprintf(archive_dir, sizeof archive_dir, "%s/archive-export", work);
    snprintf(archive_file, sizeof archive_file, "%s/ev-00000001.jsonl.gz", archive_dir);
    fail_each_allocation("archive jobs", archive_scenario, archive_reset, archive_scenario, 0);
}

static int teardown(void **state)
{
    (void)state;
    return support_remove_tree(work);
}

/* DBMGMT_TEST_ALLOC_PART=library runs every scenario but the command line's,
 * =cli the command line's alone (after the first test, which sets the hook):
 * meson runs the two as core-alloc and core-alloc-cli, side by side, the
 * command line's being the longest (minutes under QEMU). Without it, all. */
int main(void)
{
    struct CMUnitTest tests[] = {
        cmocka_unit_test(test_allocator_is_set_before_first_use), /* first: it sets the hook */
        cmocka_unit_test(test_connections_survive_every_failing_allocation),
        cmocka_unit_test(test_migrations_survive_every_failing_allocation),
        cmocka_unit_test(test_lint_survives_every_failing_allocation),
        cmocka_unit_test(test_seeds_survive_every_failing_allocation),
        cmocka_unit_test(test_advice_survives_every_failing_allocation),
        cmocka_unit_test(test_schedules_and_retention_survive_every_failing_allocation),
        cmocka_unit_test(test_backups_survive_every_failing_allocation),
        cmocka_unit_test(test_offsite_copies_survive_every_failing_allocation),
        cmocka_unit_test(test_encryption_survives_every_failing_allocation),
        cmocka_unit_test(test_pool_survives_every_failing_allocation),
        cmocka_unit_test(test_pool_out_of_memory_is_not_a_server_outage),
        cmocka_unit_test(test_health_survives_every_failing_allocation),
        cmocka_unit_test(test_alerts_survive_every_failing_allocation),
        cmocka_unit_test(test_archive_jobs_survive_every_failing_allocation),
#ifdef DBMGMT_TEST_CLI
        cmocka_unit_test(test_cli_survives_every_failing_allocation),
#endif
    };
    size_t all = sizeof tests / sizeof tests[0], n = all;
    const char *part = getenv("DBMGMT_TEST_ALLOC_PART");
    if (part && strcmp(part, "library") && strcmp(part, "cli")) {
        fprintf(stderr, "DBMGMT_TEST_ALLOC_PART=%s: library or cli\n", part);
        return 2;
    }
    if (part) {
        n = 1;
        for (size_t i = 1; i < all; i++) {
            int is_cli = strcmp(tests[i].name, "test_cli_survives_every_failing_allocation") == 0;
            if (is_cli == !strcmp(part, "cli"))
                tests[n++] = tests[i];
        }
    }
    return _cmocka_run_group_tests("core/alloc", tests, n, setup, teardown);
}
