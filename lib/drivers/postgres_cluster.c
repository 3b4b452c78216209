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

/* Poll try(c, name) with a growing pause (5 ms doubling to 50 ms) until it
 * returns 1 or timeout_ms has passed: DBMGMT_ERR_TIMEOUT then. */
static int pg_lock_poll(dm_dconn *c, const char *name, int32_t timeout_ms,
                        int (*try_once)(dm_dconn *c, const char *name, dm_error *err),
                        dm_error *err)
{
    int64_t deadline = dm_monotonic_ms() + (timeout_ms > 0 ? timeout_ms : 0);
    int64_t pause = 5;
    for (;;) {
        int rc = try_once(c, name, err);
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

static int pg_session_lock_try(dm_dconn *c, const char *name, dm_error *err)
{
    return pg_lock_call(c, "pg_try_advisory_lock", name, err);
}

/* The migration lock (docs/postgres-cluster.md): pg_try_advisory_xact_lock
 * in a transaction left open until dm_pg_migration_unlock. Through PgBouncer
 * in transaction mode an open transaction keeps its server connection, so
 * the lock holds there (a session lock would stay behind on whichever server
 * connection took it), and a client that dies makes PgBouncer close that
 * server connection, which ends the transaction and the lock. The key is
 * dm_pg_lock's: advisory session and transaction locks share one key space,
 * so migrators that take the session lock (older versions) are excluded too.
 * READ COMMITTED: the idle holder keeps no snapshot, which a CREATE INDEX
 * CONCURRENTLY on another connection would wait for; and no
 * idle_in_transaction_session_timeout may end it. A failed try rolls back
 * before the pause, so a waiter pins no server connection. One round trip. */
static int pg_migration_lock_try(dm_dconn *c, const char *name, dm_error *err)
{
    char sql[200];
    snprintf(sql, sizeof sql,
             "BEGIN ISOLATION LEVEL READ COMMITTED; "
             "SET LOCAL idle_in_transaction_session_timeout = 0; "
             "SELECT pg_try_advisory_xact_lock(%lld)",
             pg_lock_key(name));
    PGresult *res = dm_libpq.PQexec(c->pg, sql);
    int rc;
    if (dm_libpq.PQresultStatus(res) != PGRES_TUPLES_OK || dm_libpq.PQntuples(res) != 1)
        rc = dm_pg_fail(c, res, err, "taking the migration lock");
    else
        rc = dm_libpq.PQgetvalue(res, 0, 0)[0] == 't';
    dm_libpq.PQclear(res);
    if (rc != 1 && dm_libpq.PQtransactionStatus(c->pg) != PQTRANS_IDLE)
        dm_libpq.PQclear(dm_libpq.PQexec(c->pg, "ROLLBACK"));
    return rc;
}

int dm_pg_migration_lock(dm_dconn *c, const char *name, int32_t timeout_ms, dm_error *err)
{
    if (dm_libpq.PQtransactionStatus(c->pg) != PQTRANS_IDLE)
        return dm_error_set(err, DBMGMT_ERR_BUSY,
                            "the migration lock needs a connection outside a transaction");
    return pg_lock_poll(c, name, timeout_ms, pg_migration_lock_try, err);
}

/* COMMIT ends the lock's transaction (it wrote nothing). */
int dm_pg_migration_unlock(dm_dconn *c, const char *name, dm_error *err)
{
    if (dm_libpq.PQtransactionStatus(c->pg) != PQTRANS_INTRANS)
        return dm_error_set(err, DBMGMT_ERR_NOTFOUND,
                            "migration lock '%s' is not held by this session", name);
    return dm_pg_simple(c, "COMMIT", err, "releasing the migration lock");
}

/* A standby in recovery, or a server (or session) that is read-only: no
 * migration can write there. The address is the server's own (through a
 * pooler: the server behind it). */
int dm_pg_standby_reason(dm_dconn *c, char *reason, size_t len, dm_error *err)
{
    PGresult *res = dm_libpq.PQexec(
        c->pg, "SELECT pg_is_in_recovery(), current_setting('transaction_read_only'), "
               "coalesce(host(inet_server_addr()) || ':' || inet_server_port(), "
               "'the server (unix socket)')");
    if (dm_libpq.PQresultStatus(res) != PGRES_TUPLES_OK || dm_libpq.PQntuples(res) != 1) {
        int rc = dm_pg_fail(c, res, err, "asking whether the server is a standby");
        dm_libpq.PQclear(res);
        return rc;
    }
    int standby = dm_libpq.PQgetvalue(res, 0, 0)[0] == 't';
    int read_only = strcmp(dm_libpq.PQgetvalue(res, 0, 1), "on") == 0;
    const char *where = dm_libpq.PQgetvalue(res, 0, 2);
    if (standby)
        snprintf(reason, len,
                 "%s is a standby (in recovery) and accepts no writes; give the primary's "
                 "DSN, or list the hosts with target_session_attrs=read-write "
                 "(postgres://USER@HOST1:PORT1,HOST2:PORT2/DB?target_session_attrs=read-write) "
                 "so that libpq picks the primary", where);
    else if (read_only)
        snprintf(reason, len,
                 "%s is read-only for this session (default_transaction_read_only is on); "
                 "give the DSN of a writable primary", where);
    dm_libpq.PQclear(res);
    return standby || read_only;
}

/* pg_try_advisory_lock polled on this session (never pg_advisory_lock, which
 * would sit inside the server where a concurrent CREATE INDEX CONCURRENTLY
 * could wait on it). */
int dm_pg_lock(dm_dconn *c, const char *name, int32_t timeout_ms, dm_error *err)
{
    return pg_lock_poll(c, name, timeout_ms, pg_session_lock_try, err);
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

/* ---- replication state (issue 18) ---------------------------------------------- */

int dm_pg_repl_state(dm_dconn *c, dm_repl_state *st, dm_error *err)
{
    PGresult *res = NULL;
    int rc = dm_pg_params(
        c,
        "SELECT pg_is_in_recovery(), CASE WHEN pg_is_in_recovery() THEN "
        "pg_last_wal_replay_lsn() ELSE pg_current_wal_lsn() END, CASE WHEN "
        "pg_is_in_recovery() THEN (extract(epoch FROM clock_timestamp() - "
        "pg_last_xact_replay_timestamp()) * 1000)::bigint END",
        0, NULL, &res, err, "reading the replication state");
    if (rc != DBMGMT_OK)
        return rc;
    memset(st, 0, sizeof *st);
    st->standby = dm_libpq.PQgetvalue(res, 0, 0)[0] == 't';
    snprintf(st->position, sizeof st->position, "%s", dm_libpq.PQgetvalue(res, 0, 1));
    st->replay_age_ms = dm_libpq.PQgetisnull(res, 0, 2)
                            ? -1
                            : strtoll(dm_libpq.PQgetvalue(res, 0, 2), NULL, 10);
    if (st->replay_age_ms < -1)
        st->replay_age_ms = 0; /* the standby's clock a little behind the primary's */
    dm_libpq.PQclear(res);
    return DBMGMT_OK;
}

/* 1 to 8 hexadecimal digits up to `stop`; the end in *next. -1 if not. */
static int parse_hex32(const char *p, char stop, uint32_t *out, const char **next)
{
    uint32_t v = 0;
    int digits = 0;
    for (; *p && *p != stop; p++, digits++) {
        int d = *p >= '0' && *p <= '9'   ? *p - '0'
                : *p >= 'A' && *p <= 'F' ? *p - 'A' + 10
                : *p >= 'a' && *p <= 'f' ? *p - 'a' + 10
                                         : -1;
        if (d < 0 || digits >= 8)
            return -1;
        v = v << 4 | (uint32_t)d;
    }
    if (digits == 0 || *p != stop)
        return -1;
    *out = v;
    *next = p;
    return 0;
}

/* "X/Y" (two hexadecimal halves of a 64-bit WAL position). */
static int parse_lsn(const char *s, uint64_t *out)
{
    uint32_t hi, lo;
    const char *p;
    if (parse_hex32(s, '/', &hi, &p) != 0 || parse_hex32(p + 1, '\0', &lo, &p) != 0)
        return -1;
    *out = (uint64_t)hi << 32 | lo;
    return 0;
}

int dm_pg_position_diff(const char *a, const char *b, int64_t *diff, dm_error *err)
{
    uint64_t x, y;
    if (parse_lsn(a, &x) != 0)
        return dm_error_set(err, DBMGMT_ERR_PARSE,
                            "'%.64s' is not a PostgreSQL WAL position (like 0/16B3748)", a);
    if (parse_lsn(b, &y) != 0)
        return dm_error_set(err, DBMGMT_ERR_PARSE,
                            "'%.64s' is not a PostgreSQL WAL position (like 0/16B3748)", b);
    *diff = x >= y ? (int64_t)(x - y > INT64_MAX ? INT64_MAX : x - y)
                   : -(int64_t)(y - x > INT64_MAX ? INT64_MAX : y - x);
    return DBMGMT_OK;
}

/* PostgreSQL 15 has no wait-for-LSN function: poll the replay position,
 * 1 ms at first, at most 20 ms apart. */
int dm_pg_wait_position(dm_dconn *c, const char *position, int32_t timeout_ms, dm_error *err)
{
    uint64_t target;
    if (parse_lsn(position, &target) != 0)
        return dm_error_set(err, DBMGMT_ERR_PARSE,
                            "'%.64s' is not a PostgreSQL WAL position (like 0/16B3748)",
                            position);
    int64_t deadline = dm_monotonic_ms() + (timeout_ms > 0 ? timeout_ms : 0);
    int64_t pause = 1;
    const char *params[] = {position};
    for (;;) {
        PGresult *res = NULL;
        int rc = dm_pg_params(c,
                              "SELECT coalesce(pg_last_wal_replay_lsn() >= $1::pg_lsn, "
                              "NOT pg_is_in_recovery())",
                              1, params, &res, err, "waiting for a WAL position");
        if (rc != DBMGMT_OK)
            return rc;
        int reached = dm_libpq.PQgetvalue(res, 0, 0)[0] == 't';
        dm_libpq.PQclear(res);
        if (reached)
            return 1;
        int64_t left = deadline - dm_monotonic_ms();
        if (left <= 0)
            return 0;
        dm_sleep_ms(pause < left ? pause : left);
        pause = pause * 2 > 20 ? 20 : pause * 2;
    }
}
