/*
 * MOVE to another database (dbmgmt_archive_set_archive_dsn, issue 22), in
 * both directions between two engines: a SQLite file's table into the
 * PostgreSQL server of DBMGMT_TEST_DSN, and a PostgreSQL table into a
 * SQLite file (tests/engines/run_engine.sh postgres runs it).
 *
 * Each direction: a job of fixed batches of 100 runs in a child; the parent
 * stops the child (SIGSTOP) again and again until it finds it between the
 * archive database's commit and the table's (rows in both, as a third
 * connection sees them), then kills it there (SIGKILL). The rows in both are
 * counted again once the child's sessions are gone: a stop can catch the
 * table's commit half done (CI once saw a SQLite WAL commit written but not
 * yet in the shared index), and then that commit lands and the try is
 * made again. A resumed run must leave every old row in the archive exactly
 * once (the copies the killed run left are replaced, not duplicated), none in
 * the table, the new rows in the table, and the archived rows equal to the old
 * ones (SHA-256 of the ordered rows in each database).
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <dbmgmt.h>

#include "support/engine.h"
#include "support/files.h"
#include "support/rows.h"

#define NOW INT64_C(1790000000)
#define ROWS 3000 /* 2700 old (id % 10 != 0): 27 batches of 100 */
#define OLD 2700

static char pg_dsn[1024];
static char sqlite_dsn[1024];
static char scratch[512];

/* items(id, t, v, note) of ROWS rows on dsn, every tenth one new; and the
 * archive table archive_items with the same columns plus archived_at and
 * no key (a duplicate would show). */
static void make_tables(const char *src, const char *dst)
{
    int pg = support_engine_of_dsn(src) == DBMGMT_ENGINE_POSTGRES;
    char sql[1024];
    support_exec_on(src, "DROP TABLE IF EXISTS items");
    support_exec_on(src, "CREATE TABLE items(id BIGINT PRIMARY KEY, t BIGINT NOT NULL,"
                         " v BIGINT NOT NULL, note VARCHAR(64))");
    const char *select = "SELECT i, CASE WHEN i % 10 = 0 THEN 1790000000 ELSE 1772720000 + i"
                         " END, i * 3, CASE WHEN i % 7 = 0 THEN NULL ELSE 'note ' || i END";
    if (pg)
        snprintf(sql, sizeof sql, "INSERT INTO items %s FROM generate_series(1, %d) AS g(i)",
                 select, ROWS);
    else
        snprintf(sql, sizeof sql, "WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1"
                 " FROM g WHERE i < %d) INSERT INTO items %s FROM g", ROWS, select);
    support_exec_on(src, sql);
    support_exec_on(dst, "DROP TABLE IF EXISTS archive_items");
    support_exec_on(dst, "CREATE TABLE archive_items(id BIGINT NOT NULL, t BIGINT NOT NULL,"
                         " v BIGINT NOT NULL, note VARCHAR(64), archived_at BIGINT NOT NULL)");
}

static dbmgmt_archive *new_job(const char *src, const char *dst)
{
    dbmgmt_archive *a = NULL;
    if (dbmgmt_archive_new(&a, src, "items") != DBMGMT_OK ||
        dbmgmt_archive_set_time_column(a, "t", DBMGMT_ARCHIVE_TIME_EPOCH) != DBMGMT_OK ||
        dbmgmt_archive_set_window(a, "90d") != DBMGMT_OK ||
        dbmgmt_archive_set_action(a, DBMGMT_ARCHIVE_MOVE, "archive_items") != DBMGMT_OK ||
        dbmgmt_archive_set_archive_dsn(a, dst) != DBMGMT_OK ||
        dbmgmt_archive_set_batch_size(a, 100) != DBMGMT_OK ||
        dbmgmt_archive_set_batch_time(a, 0, 0, 0) != DBMGMT_OK) {
        dbmgmt_archive_free(a);
        return NULL;
    }
    return a;
}

/* Rows in both databases as a third connection sees them. */
static int64_t rows_in_both(const char *src, const char *dst)
{
    return support_query_int_on(src, "SELECT COUNT(*) FROM items") +
           support_query_int_on(dst, "SELECT COUNT(*) FROM archive_items") - ROWS;
}

/* The first column of sql on dsn, or -1 on any failure: a probe that must
 * not wait for (or fail the test on) a lock the stopped child holds. */
static int64_t probe_int(const char *dsn, const char *sql)
{
    char quick[1100];
    const char *use = dsn;
    if (support_engine_of_dsn(dsn) == DBMGMT_ENGINE_SQLITE) {
        snprintf(quick, sizeof quick, "sqlite://%s/local.db?busy_timeout=20", scratch);
        use = quick;
    }
    dbmgmt_conn *c = NULL;
    dbmgmt_result *r = NULL;
    int64_t v = -1;
    if (dbmgmt_conn_open(&c, use) != DBMGMT_OK)
        return -1;
    if (dbmgmt_conn_query(c, &r, sql, 0, NULL) == DBMGMT_OK && dbmgmt_result_next(r) == 1)
        v = dbmgmt_result_int64(r, 0);
    dbmgmt_result_free(r);
    dbmgmt_conn_close(c);
    return v;
}

/* The child's DSN: the PostgreSQL one names its sessions, so that the
 * parent can wait for the server to end them after the kill. */
#define CHILD_APP "dbmgmt-archive-remote-child"
static void child_dsn(char *out, size_t size, const char *dsn)
{
    if (support_engine_of_dsn(dsn) != DBMGMT_ENGINE_POSTGRES)
        snprintf(out, size, "%s", dsn);
    else
        snprintf(out, size, "%s%capplication_name=" CHILD_APP, dsn,
                 strchr(dsn, '?') ? '&' : '?');
}

/* After the SIGKILL the server may still be finishing a COMMIT the child
 * sent before its stop; a count taken before its session ends could miss
 * it. Wait (up to 60 s) until the server has ended them all. */
static void wait_child_sessions_gone(void)
{
    for (int i = 0; i < 6000; i++) {
        if (support_query_int_on(pg_dsn, "SELECT COUNT(*) FROM pg_stat_activity"
                                         " WHERE application_name = '" CHILD_APP "'") == 0)
            return;
        usleep(10000);
    }
    fail_msg("the killed job's PostgreSQL sessions are still there after 60 s");
}

/* One try: the job runs in a child, which the parent stops at random points
 * (0..2 ms apart) until a third connection sees rows in both databases, then
 * kills there. Returns the rows in both databases once the child and its
 * sessions are gone, as the resume will find them: a commit the stop caught
 * half done (a COMMIT the server was still running; a SQLite WAL commit
 * written but not yet in the shared index, which the next opener recovers)
 * has landed by then and leaves none. */
static int64_t kill_between_commits(const char *src, const char *dst)
{
    char csrc[1100], cdst[1100];
    child_dsn(csrc, sizeof csrc, src);
    child_dsn(cdst, sizeof cdst, dst);
    fflush(stdout);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dbmgmt_archive *a = new_job(csrc, cdst);
        int ok = a && dbmgmt_archive_run(a, NOW) == DBMGMT_OK;
        if (!ok)
            fprintf(stderr, "child: %s\n", a ? dbmgmt_archive_errmsg(a) : dbmgmt_errmsg());
        dbmgmt_archive_free(a);
        _exit(ok ? 0 : 3);
    }
    unsigned seed = (unsigned)getpid();
    int64_t both = 0;
    int stops = 0, status = 0, exited = 0;
    while (!exited) {
        usleep((useconds_t)(rand_r(&seed) % 2000));
        if (kill(pid, SIGSTOP) != 0)
            break;
        int st = 0;
        /* WUNTRACED: the stop has landed (or the child has ended) */
        pid_t got = waitpid(pid, &st, WUNTRACED);
        assert_int_equal(got, pid);
        if (!WIFSTOPPED(st)) {
            status = st;
            exited = 1;
            break;
        }
        stops++;
        int64_t left = probe_int(src, "SELECT COUNT(*) FROM items");
        int64_t archived = left < 0 ? -1 : probe_int(dst, "SELECT COUNT(*) FROM archive_items");
        both = archived < 0 ? 0 : left + archived - ROWS;
        if (both > 0)
            break;
        kill(pid, SIGCONT);
    }
    if (exited)
        fail_msg("the job ended (status %d) before a stop found it between its two commits",
                 status);
    kill(pid, SIGKILL);
    kill(pid, SIGCONT);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    wait_child_sessions_gone();
    int64_t landed = rows_in_both(src, dst);
    printf("# %s -> %s: %d stops, killed with %lld rows in both databases (%lld once the"
           " child's sessions were gone)\n",
           dbmgmt_engine_name(support_engine_of_dsn(src)),
           dbmgmt_engine_name(support_engine_of_dsn(dst)), stops, (long long)both,
           (long long)landed);
    assert_true(both > 0 && both <= 100);
    /* either the stop was between the commits, or the second was under way */
    assert_true(landed == both || landed == 0);
    return landed;
}

static void move_killed_between_commits_then_resumed(const char *src, const char *dst)
{
    char before[65], after[65];
    int64_t n_before = 0, n_after = 0, both = 0;
    for (int try = 0; try < 5 && both == 0; try++) {
        make_tables(src, dst);
        support_rows_sha(src, "SELECT id, t, v, note FROM items WHERE t < 1790000000 - 90 * 86400"
                              " ORDER BY id", before, &n_before);
        assert_int_equal(n_before, OLD);
        both = kill_between_commits(src, dst);
    }
    if (both == 0)
        fail_msg("five kills all caught the second commit under way");
    int64_t archived_at_kill = support_query_int_on(dst, "SELECT COUNT(*) FROM archive_items");

    /* the resume */
    dbmgmt_archive *a = new_job(src, dst);
    assert_non_null(a);
    if (dbmgmt_archive_run(a, NOW) != DBMGMT_OK)
        fail_msg("resume: %s", dbmgmt_archive_errmsg(a));
    assert_int_equal(dbmgmt_archive_metric(a, DBMGMT_ARCHIVE_ROWS_MOVED),
                     OLD - archived_at_kill + both);
    dbmgmt_archive_free(a);
    assert_int_equal(support_query_int_on(src, "SELECT COUNT(*) FROM items"), ROWS - OLD);
    assert_int_equal(support_query_int_on(src, "SELECT COUNT(*) FROM items WHERE id % 10 <> 0"),
                     0);
    assert_int_equal(support_query_int_on(dst, "SELECT COUNT(*) FROM archive_items"), OLD);
    assert_int_equal(support_query_int_on(dst, "SELECT COUNT(DISTINCT id) FROM archive_items"),
                     OLD);
    assert_int_equal(support_query_int_on(dst, "SELECT COUNT(*) FROM archive_items"
                                               " WHERE id % 10 = 0 OR archived_at <> 1790000000"),
                     0);
    assert_int_equal(rows_in_both(src, dst), 0);
    support_rows_sha(dst, "SELECT id, t, v, note FROM archive_items ORDER BY id", after, &n_after);
    assert_int_equal(n_after, OLD);
    assert_string_equal(after, before);
}

static void test_sqlite_to_postgres(void **state)
{
    (void)state;
    move_killed_between_commits_then_resumed(sqlite_dsn, pg_dsn);
}

static void test_postgres_to_sqlite(void **state)
{
    (void)state;
    move_killed_between_commits_then_resumed(pg_dsn, sqlite_dsn);
}

/* A missing archive table is named, with the archive database's DSN kept
 * out of the message (it holds a password). */
static void test_missing_archive_table_is_named(void **state)
{
    (void)state;
    support_exec_on(pg_dsn, "DROP TABLE IF EXISTS archive_items");
    make_tables(sqlite_dsn, sqlite_dsn);
    dbmgmt_archive *a = new_job(sqlite_dsn, pg_dsn);
    assert_non_null(a);
    support_exec_on(pg_dsn, "DROP TABLE IF EXISTS archive_items");
    assert_int_equal(dbmgmt_archive_run(a, NOW), DBMGMT_ERR_NOTFOUND);
    assert_non_null(strstr(dbmgmt_archive_errmsg(a),
                           "no table 'archive_items' in the archive database"));
    assert_int_equal(support_query_int_on(sqlite_dsn, "SELECT COUNT(*) FROM items"), ROWS);
    dbmgmt_archive_free(a);
}

int main(void)
{
    const char *env = getenv("DBMGMT_TEST_DSN");
    if (!env || support_engine_of_dsn(env) != DBMGMT_ENGINE_POSTGRES) {
        printf("DBMGMT_TEST_DSN is not a PostgreSQL DSN (tests/engines/run_engine.sh postgres)\n");
        return getenv("CI") && !strcmp(getenv("CI"), "true") ? 1 : 77;
    }
    snprintf(pg_dsn, sizeof pg_dsn, "%s", env);
    assert_int_equal(support_scratch_dir(scratch, sizeof scratch, "archive-remote"), 0);
    snprintf(sqlite_dsn, sizeof sqlite_dsn, "sqlite://%s/local.db?busy_timeout=30000", scratch);
    support_exec_on(sqlite_dsn, "PRAGMA journal_mode=WAL");
    FILE *evidence = support_evidence_open();
    dbmgmt_set_logger(support_log_to_evidence, evidence, DBMGMT_LOG_DEBUG);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sqlite_to_postgres),
        cmocka_unit_test(test_postgres_to_sqlite),
        cmocka_unit_test(test_missing_archive_table_is_named),
    };
    int failed = cmocka_run_group_tests_name("archive-remote", tests, NULL, NULL);
    support_exec_on(pg_dsn, "DROP TABLE IF EXISTS items; DROP TABLE IF EXISTS archive_items");
    if (!failed)
        support_remove_tree(scratch);
    if (evidence)
        fclose(evidence);
    return failed;
}
