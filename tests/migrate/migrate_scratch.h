/*
 * The migration conformance suites (test_migrate_engine.c,
 * test_migrate_session.c): one program each, run once per engine DSN
 * (DBMGMT_TEST_DSN). Each test gets a scratch database of its own (a new
 * SQLite file, or CREATE DATABASE on the server) and a migrator over one
 * connection to it.
 */
#ifndef DBMGMT_TESTS_MIGRATE_SCRATCH_H
#define DBMGMT_TESTS_MIGRATE_SCRATCH_H

#include <stdint.h>

#include "dbmgmt.h"
#include "support/engine.h"

extern const char *base_dsn;
extern dbmgmt_engine engine;

typedef struct scratch {
    char dir[256];          /* migrations folder */
    support_scratch_db db;  /* the scratch database (SQLite: in dir's parent) */
    dbmgmt_conn *conn;
    dbmgmt_migrator *m;
} scratch;

/* base_dsn and engine from DBMGMT_TEST_DSN; -1 (said on stderr) when unset
 * or unreachable. */
int scratch_engine_init(void);
int scratch_setup(void **state);
int scratch_teardown(void **state);
/* A fresh migrator over the same connection, reading the folder again. */
dbmgmt_migrator *reload(scratch *s);
/* The first column of the first row as an integer; -1 on failure. */
int64_t count_rows(scratch *s, const char *sql);
int table_exists(scratch *s, const char *table);
int64_t applied_count(scratch *s);
void up_ok(scratch *s);

#endif
