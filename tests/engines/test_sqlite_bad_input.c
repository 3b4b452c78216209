/*
 * Bad input on SQLite: a malformed DSN, a missing file opened read-only,
 * invalid SQL and NULL handles each get their own status and a message
 * naming the problem; no call aborts, exits or prints.
 */
#include <fcntl.h>
#include <setjmp.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "dbmgmt.h"
#include "support/files.h"

static char scratch_dir[256];

static int make_scratch(void **state)
{
    (void)state;
    return support_scratch_dir(scratch_dir, sizeof scratch_dir, "dbmgmt-badinput");
}

static int remove_scratch(void **state)
{
    (void)state;
    return support_remove_tree(scratch_dir);
}

/* Runs fn with stdout and stderr sent to a file; returns how many bytes were written. */
static long bytes_printed_by(void (*fn)(void))
{
    char path[300];
    snprintf(path, sizeof path, "%s/printed.txt", scratch_dir);
    fflush(stdout);
    fflush(stderr);
    int saved_out = dup(1), saved_err = dup(2);
    int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0600);
    dup2(fd, 1);
    dup2(fd, 2);
    fn();
    fflush(stdout);
    fflush(stderr);
    dup2(saved_out, 1);
    dup2(saved_err, 2);
    close(saved_out);
    close(saved_err);
    struct stat st;
    fstat(fd, &st);
    close(fd);
    return (long)st.st_size;
}

static int status_malformed, status_missing, status_sql, status_null;
static char msg_malformed[1024], msg_missing[1024], msg_sql[1024], msg_null[1024];

static void run_bad_inputs(void)
{
    dbmgmt_conn *c = (dbmgmt_conn *)0x1;
    status_malformed = dbmgmt_conn_open(&c, "sqlite://host/x.db");
    strcpy(msg_malformed, dbmgmt_errmsg());

    char dsn[400];
    snprintf(dsn, sizeof dsn, "sqlite://%s/missing.db?mode=ro", scratch_dir);
    status_missing = dbmgmt_conn_open(&c, dsn);
    strcpy(msg_missing, dbmgmt_errmsg());

    dbmgmt_conn_open(&c, "sqlite::memory:");
    status_sql = dbmgmt_conn_exec(c, "CREATE TABLE (");
    strcpy(msg_sql, dbmgmt_errmsg());
    dbmgmt_conn_close(c);

    status_null = dbmgmt_conn_exec(NULL, "SELECT 1");
    strcpy(msg_null, dbmgmt_errmsg());
}

static void test_bad_inputs_get_distinct_statuses_and_print_nothing(void **state)
{
    (void)state;
    assert_int_equal(bytes_printed_by(run_bad_inputs), 0);
    assert_int_equal(status_malformed, DBMGMT_ERR_PARSE);
    assert_non_null(strstr(msg_malformed, "sqlite DSN 'sqlite://host/x.db' names a host ('host')"));
    assert_int_equal(status_missing, DBMGMT_ERR_CONNECT);
    assert_non_null(strstr(msg_missing, "cannot open SQLite database '"));
    assert_non_null(strstr(msg_missing, "/missing.db' (mode=ro): unable to open database file"));
    assert_int_equal(status_sql, DBMGMT_ERR_SQL);
    assert_non_null(strstr(msg_sql, "near \"(\": syntax error"));
    assert_int_equal(status_null, DBMGMT_ERR_INVALID);
    assert_string_equal(msg_null, "dbmgmt_conn_exec: conn is NULL");
    /* four distinct statuses */
    int s[] = {status_malformed, status_missing, status_sql, status_null};
    for (int i = 0; i < 4; i++)
        for (int j = i + 1; j < 4; j++)
            assert_int_not_equal(s[i], s[j]);
    /* the missing file was not created by the failed open */
    char path[300];
    snprintf(path, sizeof path, "%s/missing.db", scratch_dir);
    assert_int_equal(access(path, F_OK), -1);
}

static void test_null_handles_are_refused_everywhere(void **state)
{
    (void)state;
    dbmgmt_result *r = NULL;
    dbmgmt_stmt *s = NULL;
    assert_int_equal(dbmgmt_conn_open(NULL, "sqlite::memory:"), DBMGMT_ERR_INVALID);
    assert_int_equal(dbmgmt_conn_query(NULL, &r, "SELECT 1", 0, NULL), DBMGMT_ERR_INVALID);
    assert_int_equal(dbmgmt_conn_query(NULL, NULL, "SELECT 1", 0, NULL), DBMGMT_ERR_INVALID);
    assert_int_equal(dbmgmt_conn_prepare(NULL, &s, "SELECT 1"), DBMGMT_ERR_INVALID);
    assert_int_equal(dbmgmt_stmt_bind_int64(NULL, 1, 1), DBMGMT_ERR_INVALID);
    assert_int_equal(dbmgmt_stmt_bind_blob(NULL, 1, NULL, 1), DBMGMT_ERR_INVALID);
    assert_int_equal(dbmgmt_stmt_execute(NULL, &r), DBMGMT_ERR_INVALID);
    assert_int_equal(dbmgmt_result_next(NULL), DBMGMT_ERR_INVALID);
    assert_int_equal(dbmgmt_conn_begin(NULL), DBMGMT_ERR_INVALID);
    assert_int_equal(dbmgmt_conn_commit(NULL), DBMGMT_ERR_INVALID);
    assert_int_equal(dbmgmt_conn_rollback(NULL), DBMGMT_ERR_INVALID);
    assert_int_equal(dbmgmt_conn_in_transaction(NULL), DBMGMT_ERR_INVALID);
    assert_int_equal(dbmgmt_conn_ping(NULL), DBMGMT_ERR_INVALID);
    assert_null(dbmgmt_conn_native(NULL));
    assert_int_equal(dbmgmt_conn_engine(NULL), DBMGMT_ENGINE_NONE);
    assert_null(dbmgmt_result_text(NULL, 0));
    assert_int_equal(dbmgmt_result_column_count(NULL), 0);
    dbmgmt_conn_close(NULL);
    dbmgmt_stmt_free(NULL);
    dbmgmt_result_free(NULL);
    dbmgmt_free(NULL);
    dbmgmt_conn *c = NULL;
    assert_int_equal(dbmgmt_conn_open(&c, "sqlite::memory:"), DBMGMT_OK);
    assert_int_equal(dbmgmt_conn_exec(c, NULL), DBMGMT_ERR_INVALID);
    assert_int_equal(dbmgmt_conn_query(c, &r, "SELECT ?", 1, NULL), DBMGMT_ERR_INVALID);
    assert_int_equal(dbmgmt_conn_prepare(c, &s, "   "), DBMGMT_ERR_INVALID);
    assert_int_equal(dbmgmt_conn_prepare(c, &s, "SELECT 1; SELECT 2"), DBMGMT_ERR_INVALID);
    assert_non_null(strstr(dbmgmt_errmsg(), "use dbmgmt_conn_exec for scripts"));
    dbmgmt_conn_close(c);
}

static void test_unbuilt_engine_names_the_meson_option(void **state)
{
    (void)state;
    dbmgmt_conn *c = NULL;
    if (!dbmgmt_engine_available(DBMGMT_ENGINE_POSTGRES)) {
        assert_int_equal(dbmgmt_conn_open(&c, "postgres://u:pw@127.0.0.1:1/db"), DBMGMT_ERR_UNSUPPORTED);
        assert_non_null(strstr(dbmgmt_errmsg(), "-Dpostgres=enabled"));
        assert_null(strstr(dbmgmt_errmsg(), "pw"));
    }
    if (!dbmgmt_engine_available(DBMGMT_ENGINE_MYSQL)) {
        assert_int_equal(dbmgmt_conn_open(&c, "mysql://u@127.0.0.1:1/db"), DBMGMT_ERR_UNSUPPORTED);
        assert_non_null(strstr(dbmgmt_errmsg(), "-Dmysql=enabled"));
    }
    assert_true(dbmgmt_engine_available(DBMGMT_ENGINE_SQLITE));
    assert_false(dbmgmt_engine_available((dbmgmt_engine)42));
}

static void test_sqlite_options_and_native_handle(void **state)
{
    (void)state;
    char dsn[400];
    snprintf(dsn, sizeof dsn, "sqlite://%s/native.db?busy_timeout=1234", scratch_dir);
    dbmgmt_conn *c = NULL;
    assert_int_equal(dbmgmt_conn_open(&c, dsn), DBMGMT_OK);
    sqlite3 *db = dbmgmt_conn_native(c);
    assert_non_null(db);
    /* foreign keys are on */
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA foreign_keys", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(st, 0), 1);
    sqlite3_finalize(st);
    /* the busy timeout came from the DSN */
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA busy_timeout", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(st, 0), 1234);
    sqlite3_finalize(st);
    /* a foreign key violation maps to 23503 */
    assert_int_equal(dbmgmt_conn_exec(c, "CREATE TABLE p(id INTEGER PRIMARY KEY);"
                                         "CREATE TABLE ch(pid INTEGER REFERENCES p(id));"), DBMGMT_OK);
    assert_int_equal(dbmgmt_conn_exec(c, "INSERT INTO ch VALUES (7)"), DBMGMT_ERR_SQL);
    assert_string_equal(dbmgmt_conn_sqlstate(c), "23503");
    assert_non_null(strstr(dbmgmt_conn_errmsg(c), "SQLITE_CONSTRAINT_FOREIGNKEY"));
    dbmgmt_conn_close(c);
    /* read-only mode refuses writes with 25006 */
    snprintf(dsn, sizeof dsn, "sqlite://%s/native.db?mode=ro", scratch_dir);
    assert_int_equal(dbmgmt_conn_open(&c, dsn), DBMGMT_OK);
    assert_int_equal(dbmgmt_conn_exec(c, "INSERT INTO p VALUES (1)"), DBMGMT_ERR_SQL);
    assert_string_equal(dbmgmt_conn_sqlstate(c), "25006");
    dbmgmt_conn_close(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_inputs_get_distinct_statuses_and_print_nothing),
        cmocka_unit_test(test_null_handles_are_refused_everywhere),
        cmocka_unit_test(test_unbuilt_engine_names_the_meson_option),
        cmocka_unit_test(test_sqlite_options_and_native_handle),
    };
    return cmocka_run_group_tests_name("sqlite/bad-input", tests, make_scratch, remove_scratch);
}
