/*
 * Test support: engines, DSNs and the statements the suites run on them
 * (issue 17).
 *
 * Offers support_engine_of_dsn(); support_exec_ok() and support_query_int()
 * on an open connection; support_exec_on() and support_query_int_on() on a
 * DSN (open, run, close); support_dsn_with_database() and scratch
 * databases (support_scratch_db_create / _drop); and the evidence
 * log that tests/engines/run_engine.sh searches for the servers' passwords
 * (support_evidence_open, support_log_to_evidence). Each failure fails the
 * running cmocka test with the engine's message.
 *
 * Link it with the library the test uses (dbmgmt_dep or
 * dbmgmt_internal_dep): it brings none of its own.
 */
#ifndef DBMGMT_TESTS_SUPPORT_ENGINE_H
#define DBMGMT_TESTS_SUPPORT_ENGINE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "dbmgmt.h"

/* The engine a DSN names by its scheme: postgres..., mysql..., else SQLite. */
dbmgmt_engine support_engine_of_dsn(const char *dsn);

/* Runs sql (a script) on c; fails the test with the status and message. */
void support_exec_ok(dbmgmt_conn *c, const char *sql);

/* The first column of the first row of sql on c, which must have a row. */
int64_t support_query_int(dbmgmt_conn *c, const char *sql);

/* support_exec_ok() on a connection of its own to dsn. */
void support_exec_on(const char *dsn, const char *sql);

/* support_query_int() on a connection of its own to dsn. */
int64_t support_query_int_on(const char *dsn, const char *sql);

/* base_dsn (a server URI) with its database replaced by name. */
void support_dsn_with_database(char *out, size_t cap, const char *base_dsn, const char *name);

/* A database of one test's own, on the engine of the suite's DSN. */
typedef struct support_scratch_db {
    char name[64];  /* PREFIX_PID_N, N counting up in the process */
    char dsn[1024]; /* its own DSN */
    char file[512]; /* SQLite: its file; a server database: empty */
} support_scratch_db;

/* A new, empty scratch database: on SQLite the file NAME.sqlite in
 * sqlite_dir (removed first if it is there), on a server CREATE DATABASE
 * NAME through base_dsn. A server-only suite may pass NULL for sqlite_dir. */
void support_scratch_db_create(support_scratch_db *db, const char *base_dsn, const char *prefix,
                               const char *sqlite_dir);

/* Removes it: the SQLite file, or DROP DATABASE (which must succeed). */
void support_scratch_db_drop(const support_scratch_db *db, const char *base_dsn);

/* The file DBMGMT_TEST_LOG names, opened for appending; NULL without one. */
FILE *support_evidence_open(void);

/* A dbmgmt_log_fn writing each line to userdata, a FILE * (or NULL). */
void support_log_to_evidence(void *userdata, dbmgmt_log_level level, const char *message);

#endif
