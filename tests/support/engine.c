/*
 * Test support: engines, DSNs and the statements the suites run on them
 * (engine.h).
 */
#include "engine.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

dbmgmt_engine support_engine_of_dsn(const char *dsn)
{
    if (!strncmp(dsn, "postgres", 8))
        return DBMGMT_ENGINE_POSTGRES;
    if (!strncmp(dsn, "mysql", 5))
        return DBMGMT_ENGINE_MYSQL;
    return DBMGMT_ENGINE_SQLITE;
}

void support_exec_ok(dbmgmt_conn *c, const char *sql)
{
    int rc = dbmgmt_conn_exec(c, sql);
    if (rc != DBMGMT_OK)
        fail_msg("exec '%s': %s: %s", sql, dbmgmt_status_name(rc), dbmgmt_conn_errmsg(c));
}

int64_t support_query_int(dbmgmt_conn *c, const char *sql)
{
    dbmgmt_result *r = NULL;
    if (dbmgmt_conn_query(c, &r, sql, 0, NULL) != DBMGMT_OK)
        fail_msg("query '%s': %s", sql, dbmgmt_conn_errmsg(c));
    assert_int_equal(dbmgmt_result_next(r), 1);
    int64_t v = dbmgmt_result_int64(r, 0);
    dbmgmt_result_free(r);
    return v;
}

/* Not the DSN in the message: it holds the password, which the engine
 * runner looks for in the output. */
static dbmgmt_conn *open_ok(const char *dsn)
{
    dbmgmt_conn *c = NULL;
    int rc = dbmgmt_conn_open(&c, dsn);
    if (rc != DBMGMT_OK)
        fail_msg("open: %s: %s", dbmgmt_status_name(rc), dbmgmt_errmsg());
    return c;
}

void support_exec_on(const char *dsn, const char *sql)
{
    dbmgmt_conn *c = open_ok(dsn);
    support_exec_ok(c, sql);
    dbmgmt_conn_close(c);
}

int64_t support_query_int_on(const char *dsn, const char *sql)
{
    dbmgmt_conn *c = open_ok(dsn);
    int64_t v = support_query_int(c, sql);
    dbmgmt_conn_close(c);
    return v;
}

void support_dsn_with_database(char *out, size_t cap, const char *base_dsn, const char *name)
{
    const char *scheme_end = strstr(base_dsn, "://");
    if (!scheme_end)
        fail_msg("not a server URI: a DSN with :// was expected");
    const char *auth = scheme_end + 3;
    const char *slash = strchr(auth, '/');
    const char *query = strchr(auth, '?');
    size_t head = slash   ? (size_t)(slash - base_dsn)
                  : query ? (size_t)(query - base_dsn)
                          : strlen(base_dsn);
    snprintf(out, cap, "%.*s/%s%s", (int)head, base_dsn, name, query ? query : "");
}

void support_scratch_db_create(support_scratch_db *db, const char *base_dsn, const char *prefix,
                               const char *sqlite_dir)
{
    static int counter; /* the tests of one process run one at a time */
    snprintf(db->name, sizeof db->name, "%s_%d_%d", prefix, (int)getpid(), ++counter);
    if (support_engine_of_dsn(base_dsn) == DBMGMT_ENGINE_SQLITE) {
        if (!sqlite_dir)
            fail_msg("a scratch database on SQLite needs a folder for its file");
        snprintf(db->file, sizeof db->file, "%s/%s.sqlite", sqlite_dir, db->name);
        unlink(db->file);
        snprintf(db->dsn, sizeof db->dsn, "sqlite://%s", db->file);
        return;
    }
    char sql[160];
    snprintf(sql, sizeof sql, "CREATE DATABASE %s", db->name);
    support_exec_on(base_dsn, sql);
    db->file[0] = '\0';
    support_dsn_with_database(db->dsn, sizeof db->dsn, base_dsn, db->name);
}

void support_scratch_db_drop(const support_scratch_db *db, const char *base_dsn)
{
    if (db->file[0]) {
        unlink(db->file);
        return;
    }
    char sql[160];
    snprintf(sql, sizeof sql, "DROP DATABASE %s", db->name);
    support_exec_on(base_dsn, sql);
}

FILE *support_evidence_open(void)
{
    const char *path = getenv("DBMGMT_TEST_LOG");
    return path && *path ? fopen(path, "a") : NULL;
}

void support_log_to_evidence(void *userdata, dbmgmt_log_level level, const char *message)
{
    FILE *evidence = userdata;
    if (evidence)
        fprintf(evidence, "log %d: %s\n", (int)level, message);
}
