/*
 * The checksum of a query's rows (the archive tests, issue 22): SHA-256 of
 * "c1|c2|...|cn\n" over every row, NULL as \N, in the order the query
 * gives (the caller orders it). Linked by tests that link the internal
 * library (it uses lib/core's SHA-256).
 */
#ifndef DBMGMT_TESTS_SUPPORT_ROWS_H
#define DBMGMT_TESTS_SUPPORT_ROWS_H

#include <stdint.h>

/* hex receives the digest, *count the number of rows; fails the test when
 * the query fails. */
void support_rows_sha(const char *dsn, const char *sql, char hex[65], int64_t *count);

#endif
