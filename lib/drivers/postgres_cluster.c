/* The PostgreSQL driver past one server: named locks between sessions
 * (advisory locks) and, for clusters, replication and standby state. */
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/sha256.h"
#include "postgres_impl.h"

/* The advisory-lock key for a name: the first 8 bytes of its SHA-256. */
static long long pg_lock_key(const char *name)
{
    dm_sha256 ctx;
    uint8_t digest[32];
    dm_sha256_init(&ctx);
    dm_sha256_update(&ctx, name, strlen(name));
    dm_sha256_final(&ctx, digest);
    uint64_t key = 0;
    for (int i = 0; i < 8; i++)
        key = key << 8 | digest[i];
    return (long long)key;
}

/* SELECT fn($1::bigint) with the name's key: 1 true, 0 false, <0 error. */
static int pg_lock_call(dm_dconn *c, const char *fn, const char *name, dm_error *err)
{
    char sql[80], key[32];
    snprintf(sql, sizeof sql, "SELECT %s($1::bigint)", fn);
    snprintf(key, sizeof key, "%lld", pg_lock_key(name));
    const char *params[] = {key};
    PGresult *res = dm_libpq.PQexecParams(c->pg, sql, 1, NULL, params, NULL, NULL, 0);
    int rc;
    if (dm_libpq.PQresultStatus(res) != PGRES_TUPLES_OK || dm_libpq.PQntuples(res) != 1)
        rc = dm_pg_fail(c, res, err, fn);
    else
        rc = dm_libpq.PQgetvalue(res, 0, 0)[0] == 't';
    dm_libpq.PQclear(res);
    return rc;
}

/* pg_try_advisory_lock polled on this session (never pg_advisory_lock, which
 * would sit inside the server where a concurrent CREATE INDEX CONCURRENTLY
 * could wait on it). */
int dm_pg_lock(dm_dconn *c, const char *name, int32_t timeout_ms, dm_error *err)
{
    int64_t deadline = dm_monotonic_ms() + (timeout_ms > 0 ? timeout_ms : 0);
    int64_t pause = 5;
    for (;;) {
        int rc = pg_lock_call(c, "pg_try_advisory_lock", name, err);
        if (rc != 0)
            return rc < 0 ? rc : DBMGMT_OK;
        int64_t left = deadline - dm_monotonic_ms();
        if (left <= 0)
            return dm_error_set_sql(err, DBMGMT_ERR_TIMEOUT, "55P03",
                                    "lock '%s' is held by another session; waited %d ms", name,
                                    (int)(timeout_ms > 0 ? timeout_ms : 0));
        dm_sleep_ms(pause < left ? pause : left);
        pause = pause * 2 > 50 ? 50 : pause * 2;
    }
}

int dm_pg_unlock(dm_dconn *c, const char *name, dm_error *err)
{
    int rc = pg_lock_call(c, "pg_advisory_unlock", name, err);
    if (rc < 0)
        return rc;
    if (rc == 0)
        return dm_error_set(err, DBMGMT_ERR_NOTFOUND,
                            "lock '%s' is not held by this session", name);
    return DBMGMT_OK;
}
