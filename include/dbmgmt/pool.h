/*
 * libdbmgmt — the connection pool (DESIGN §6, docs/pool.md).
 *
 * A service opens one pool at start-up and borrows connections from it at
 * run time. A pooled connection is an ordinary dbmgmt_conn: the whole
 * connection API and dbmgmt_conn_native() work on it. Semantics follow
 * HikariCP: idle connections are reused LIFO, checked with a ping only when
 * they have been idle longer than the validation interval, reset on release
 * (an open transaction is rolled back), retired at their (jittered) maximum
 * lifetime, and closed after the idle timeout above min_idle. Waiters are
 * served first come, first served. While the server is down the pool backs
 * off, waiters fail at their timeout with the pool's counts and the last
 * connect error in the message, and the pool refills by itself when the
 * server returns.
 *
 * Threads: every function may be called from any thread at the same time,
 * except the configuration setters (a config belongs to one thread until it
 * is passed to dbmgmt_pool_open, which copies it). A borrowed connection
 * belongs to the thread that holds it until it is released.
 *
 * Errors: a pool is shared between threads, so its failures are read on the
 * calling thread with dbmgmt_errmsg() / dbmgmt_errcode(); a failure on a
 * borrowed connection is also on the connection (dbmgmt_conn_errmsg).
 * Messages never contain a password.
 *
 * fork(): a pool belongs to the process that opened it. In a child process
 * every call on it refuses with DBMGMT_ERR_INVALID (the child would share
 * the parent's sockets); the child opens its own pool.
 */
#ifndef DBMGMT_POOL_H
#define DBMGMT_POOL_H

#include "common.h"
#include "conn.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct dbmgmt_pool dbmgmt_pool;
typedef struct dbmgmt_pool_config dbmgmt_pool_config;

/* Metrics, read with dbmgmt_pool_metric(). Counts cover the primary and its
 * replicas together; dbmgmt_pool_stats_json() has them per server. New
 * metrics get new values; a value is never reused. */
typedef enum dbmgmt_pool_metric_id {
    DBMGMT_POOL_TOTAL = 0,               /* open connections (idle + active) */
    DBMGMT_POOL_IDLE = 1,                /* open connections in the idle list */
    DBMGMT_POOL_ACTIVE = 2,              /* connections borrowed right now */
    DBMGMT_POOL_WAITING = 3,             /* threads waiting in acquire right now */
    DBMGMT_POOL_MAX = 4,                 /* the configured max_size (per server) */
    DBMGMT_POOL_ACQUIRES = 5,            /* successful acquires since open */
    DBMGMT_POOL_TIMEOUTS = 6,            /* acquires that failed at their timeout */
    DBMGMT_POOL_CREATED = 7,             /* connections opened since open */
    DBMGMT_POOL_DESTROYED = 8,           /* connections closed since open */
    DBMGMT_POOL_VALIDATION_FAILURES = 9, /* idle connections found dead by a ping */
    DBMGMT_POOL_LEAKS = 10,              /* leak reports (held past the threshold) */
    DBMGMT_POOL_WAIT_P50_US = 11,        /* median acquire wait since open, µs */
    DBMGMT_POOL_WAIT_P99_US = 12,        /* 99th percentile acquire wait, µs */
    DBMGMT_POOL_UTILISATION_PCT = 13,    /* borrowed connection-time / (max × elapsed) since open, % */
    DBMGMT_POOL_REPLICA_LAG_MS = 14      /* the worst replica's lag at the last check; -1 unknown */
} dbmgmt_pool_metric_id;

/* Events reported through dbmgmt_pool_config_set_event_callback(). */
typedef enum dbmgmt_pool_event {
    DBMGMT_POOL_EVENT_EXHAUSTED = 1,      /* an acquire found no connection and had to wait */
    DBMGMT_POOL_EVENT_LEAK = 2,           /* a connection is held past the leak threshold */
    DBMGMT_POOL_EVENT_LEAK_RETURNED = 3,  /* a connection reported as leaked came back */
    DBMGMT_POOL_EVENT_BROKEN = 4,         /* a broken connection was discarded */
    DBMGMT_POOL_EVENT_RECOVERED = 5,      /* a connect succeeded after failures */
    DBMGMT_POOL_EVENT_CONNECT_FAILED = 6, /* opening a connection failed; the pool backs off */
    DBMGMT_POOL_EVENT_RETIRED = 7,        /* a connection reached its maximum lifetime */
    DBMGMT_POOL_EVENT_IDLE_CLOSED = 8,    /* an idle connection above min_idle timed out */
    DBMGMT_POOL_EVENT_REPLICA_LAGGING = 9,   /* a replica passed max_replica_lag_ms: no reads */
    DBMGMT_POOL_EVENT_REPLICA_CAUGHT_UP = 10,/* it is back within the bound: reads again */
    DBMGMT_POOL_EVENT_REPLICA_PROMOTED = 11, /* a replica is no longer a standby: no reads */
    DBMGMT_POOL_EVENT_PRIMARY_CHANGED = 12   /* the primary went away or turned standby: its
                                                connections are dropped, new ones find the
                                                read-write host */
} dbmgmt_pool_event;

/* What dbmgmt_pool_acquire_read() does when no replica is within
 * max_replica_lag_ms (dbmgmt_pool_config_set_replica_fallback). */
typedef enum dbmgmt_replica_fallback {
    DBMGMT_REPLICA_FALLBACK_PRIMARY = 0, /* read from the primary (default) */
    DBMGMT_REPLICA_FALLBACK_FAIL = 1     /* fail with DBMGMT_ERR_POLICY, naming each lag */
} dbmgmt_replica_fallback;

/*
 * The event callback. event is a dbmgmt_pool_event; message is a UTF-8
 * sentence for people (which connection, how long, the server redacted),
 * valid only during the call. Called from whichever thread noticed the
 * event (a borrower, the background thread, or dbmgmt_pool_maintain's
 * caller), never with the pool's lock held: it may read metrics, but should
 * return quickly and must not close the pool.
 */
typedef void (*dbmgmt_pool_event_fn)(void *userdata, int32_t event, const char *message);

/* ---- configuration ------------------------------------------------------ */

/*
 * A new configuration with the defaults (DESIGN §6): min_idle 2, max_size
 * 2 × online CPUs + 1, acquire timeout 5000 ms, idle timeout 30000 ms, max
 * lifetime 1800000 ms (each connection's own lifetime is up to 2.5 % shorter,
 * at random), validation when idle longer than 500 ms, no leak detection,
 * no init SQL, a background maintenance thread, no replicas, no callback.
 * *out is freed with dbmgmt_pool_config_free(). DBMGMT_ERR_INVALID (out
 * NULL) or DBMGMT_ERR_NOMEM.
 */
DBMGMT_API int dbmgmt_pool_config_new(dbmgmt_pool_config **out);
/* Free a configuration; accepts NULL. A pool opened with it keeps a copy. */
DBMGMT_API void dbmgmt_pool_config_free(dbmgmt_pool_config *cfg);

/*
 * Setters. Each validates its value and returns DBMGMT_OK, or
 * DBMGMT_ERR_INVALID (cfg NULL, value out of range; the message says the
 * range) and changes nothing. Sizes are per server (primary, each replica).
 */
/* Idle connections kept open, 0..max_size (checked again at open). */
DBMGMT_API int dbmgmt_pool_config_set_min_idle(dbmgmt_pool_config *cfg, int32_t min_idle);
/* The most connections open at once, 1..10000. */
DBMGMT_API int dbmgmt_pool_config_set_max_size(dbmgmt_pool_config *cfg, int32_t max_size);
/* How long acquire waits by default, 0 (try once) .. 3600000 ms. */
DBMGMT_API int dbmgmt_pool_config_set_acquire_timeout_ms(dbmgmt_pool_config *cfg,
                                                         int32_t timeout_ms);
/* Idle connections beyond min_idle are closed after this long unused;
 * 0 = never. 0..INT32_MAX ms. */
DBMGMT_API int dbmgmt_pool_config_set_idle_timeout_ms(dbmgmt_pool_config *cfg,
                                                      int32_t timeout_ms);
/* A connection is retired this long after it was opened, minus a random
 * jitter of up to 2.5 % (and a little more when needed to keep two
 * retirements at least 1 % of the lifetime apart; see docs/pool.md);
 * 0 = never. 0 or 1000..INT32_MAX ms. */
DBMGMT_API int dbmgmt_pool_config_set_max_lifetime_ms(dbmgmt_pool_config *cfg,
                                                      int32_t lifetime_ms);
/* A borrowed connection that has been idle longer than this is pinged
 * first; a dead one is discarded and another is handed out. 0 = ping on
 * every borrow. 0..INT32_MAX ms. */
DBMGMT_API int dbmgmt_pool_config_set_validation_interval_ms(dbmgmt_pool_config *cfg,
                                                             int32_t interval_ms);
/* Report a connection borrowed for longer than this through the event
 * callback (DBMGMT_POOL_EVENT_LEAK) and the log; 0 = off. 0..INT32_MAX ms. */
DBMGMT_API int dbmgmt_pool_config_set_leak_threshold_ms(dbmgmt_pool_config *cfg,
                                                        int32_t threshold_ms);
/* A script run once on every new connection before its first borrow (e.g.
 * "SET TIME ZONE 'UTC'"); NULL or "" = none. Copied. A failing init script
 * counts as a failed connect. */
DBMGMT_API int dbmgmt_pool_config_set_init_sql(dbmgmt_pool_config *cfg, const char *sql);
/* 1 (default): one background thread retires, reaps, refills and reports
 * leaks. 0: no thread; the host calls dbmgmt_pool_maintain() regularly. */
DBMGMT_API int dbmgmt_pool_config_set_background_thread(dbmgmt_pool_config *cfg, int32_t on);
/* Add a read replica (copied DSN); dbmgmt_pool_acquire_read() spreads over
 * the replicas. Up to 16. The DSN is parsed at open, not here. */
DBMGMT_API int dbmgmt_pool_config_add_replica(dbmgmt_pool_config *cfg, const char *dsn);
/*
 * Lag-aware reads (issue 18, docs/postgres-cluster.md). The pool measures
 * each replica's lag (how old the newest change is that it has not yet
 * replayed: an upper bound, from the primary's write position sampled
 * every check interval and the replica's replay position and last replayed
 * commit) in its maintenance work, never in acquire. With a bound, acquire_read
 * never hands out a replica whose last measured lag is above it, nor one
 * whose lag is unknown (not yet measured, or the check failed), nor a
 * replica that is no longer a standby (promoted). -1 (default): no bound.
 * 0..INT32_MAX ms. The engine must report replication state (PostgreSQL):
 * dbmgmt_pool_open fails with DBMGMT_ERR_UNSUPPORTED otherwise.
 */
DBMGMT_API int dbmgmt_pool_config_set_max_replica_lag_ms(dbmgmt_pool_config *cfg, int32_t ms);
/* dbmgmt_replica_fallback: DBMGMT_REPLICA_FALLBACK_PRIMARY (default) or
 * DBMGMT_REPLICA_FALLBACK_FAIL. */
DBMGMT_API int dbmgmt_pool_config_set_replica_fallback(dbmgmt_pool_config *cfg,
                                                       int32_t fallback);
/* How often the replicas' state and lag are checked: 10..3600000 ms,
 * default 250. A replica past the bound stops getting reads within two
 * intervals. */
DBMGMT_API int dbmgmt_pool_config_set_replica_check_interval_ms(dbmgmt_pool_config *cfg,
                                                                int32_t ms);
/* Set (or with fn NULL remove) the event callback and its userdata. */
DBMGMT_API int dbmgmt_pool_config_set_event_callback(dbmgmt_pool_config *cfg,
                                                     dbmgmt_pool_event_fn fn, void *userdata);

/* ---- the pool ----------------------------------------------------------- */

/*
 * Open a pool on dsn (NULL: $DATABASE_URL) with cfg (NULL: the defaults;
 * copied, so cfg may be freed afterwards). Opens one connection to the
 * primary at once, so a wrong DSN or an unreachable server fails here,
 * then fills min_idle. Replicas that cannot be reached at open are not an
 * error: they are retried with backoff. On failure *out is NULL and the
 * status is DBMGMT_ERR_INVALID (out NULL, min_idle > max_size),
 * DBMGMT_ERR_PARSE, DBMGMT_ERR_UNSUPPORTED, DBMGMT_ERR_CONNECT (with the
 * engine's message), DBMGMT_ERR_NOMEM, or the init SQL's own status when
 * it fails on that first connection.
 */
DBMGMT_API int dbmgmt_pool_open(dbmgmt_pool **out, const char *dsn,
                                const dbmgmt_pool_config *cfg_or_null);

/*
 * Borrow a connection of the primary. timeout_ms < 0 means the configured
 * acquire timeout; 0 means do not wait. On success *out is the connection,
 * for this thread alone until dbmgmt_pool_release(). Errors (*out NULL):
 * DBMGMT_ERR_TIMEOUT (every connection stayed busy; the message has total,
 * active, idle, waiting and max), DBMGMT_ERR_CONNECT (no connection could be
 * opened before the timeout: the server is down; the message adds the last
 * connect error), DBMGMT_ERR_CLOSED (the pool is closing), DBMGMT_ERR_INVALID
 * (NULL arguments, or a child process after fork()).
 */
DBMGMT_API int dbmgmt_pool_acquire(dbmgmt_pool *pool, dbmgmt_conn **out, int32_t timeout_ms);

/*
 * Borrow a connection of a read replica (round robin over those that are
 * up, standbys, and within max_replica_lag_ms when one is set); like
 * dbmgmt_pool_acquire() on the primary when the pool has no replica or
 * none qualifies (or DBMGMT_ERR_POLICY with DBMGMT_REPLICA_FALLBACK_FAIL).
 */
DBMGMT_API int dbmgmt_pool_acquire_read(dbmgmt_pool *pool, dbmgmt_conn **out,
                                        int32_t timeout_ms);

/*
 * Read your writes (issue 18): a replica connection that has replayed at
 * least position (from dbmgmt_conn_write_position(), in this process or
 * another), else the primary. A replica already known to be past it is
 * handed out at once; otherwise one replica (within the lag bound) is
 * borrowed and waited on, up to timeout_ms in all, and given back for the
 * primary if it did not get there. position NULL or "" is
 * dbmgmt_pool_acquire_read(). Errors: those of dbmgmt_pool_acquire(), and
 * DBMGMT_ERR_PARSE for a position that is not one of this engine's.
 */
DBMGMT_API int dbmgmt_pool_acquire_read_after(dbmgmt_pool *pool, dbmgmt_conn **out,
                                              const char *position, int32_t timeout_ms);

/*
 * Give a borrowed connection back. Free its statements and results first.
 * An open transaction is rolled back (no round trip when none is open); a
 * broken connection (any call returned DBMGMT_ERR_CLOSED), one whose
 * rollback fails, or one past its lifetime is closed instead of reused.
 * dbmgmt_conn_close() on a pooled connection does the same as this call.
 * Returns DBMGMT_OK, or DBMGMT_ERR_INVALID when conn is not a connection
 * borrowed from this pool (the connection is left alone). conn NULL is OK.
 */
DBMGMT_API int dbmgmt_pool_release(dbmgmt_pool *pool, dbmgmt_conn *conn);

/* A metric (dbmgmt_pool_metric_id); -1 for a NULL pool or an unknown metric.
 * A consistent snapshot taken under the pool's lock. */
DBMGMT_API int64_t dbmgmt_pool_metric(const dbmgmt_pool *pool, int32_t which);

/*
 * Every metric, the configuration, and per server (primary, replicas) the
 * counts, whether it is up, and the last connect error, as a JSON object.
 * The caller frees the string with dbmgmt_free(). NULL on NULL pool or out
 * of memory.
 */
DBMGMT_API char *dbmgmt_pool_stats_json(const dbmgmt_pool *pool);

/*
 * One round of maintenance: retire connections past their lifetime, close
 * idle ones beyond min_idle past the idle timeout, report leaks, reopen
 * connections up to min_idle (with backoff while the server is down).
 * Connections are opened and closed without holding the pool's lock. For
 * pools without the background thread, call it every few hundred ms (its
 * return value says when it next has work). With the thread it is harmless.
 * Returns the milliseconds until the next thing is due (>= 0), or a negative
 * status (DBMGMT_ERR_INVALID, DBMGMT_ERR_CLOSED).
 */
DBMGMT_API int32_t dbmgmt_pool_maintain(dbmgmt_pool *pool);

/*
 * Close the pool. New acquires fail with DBMGMT_ERR_CLOSED at once, waiters
 * are woken with it, idle connections are closed, and the call waits up to
 * drain_timeout_ms (0: not at all) for borrowed connections to come back,
 * closing each as it does. Returns DBMGMT_OK when all came back, or
 * DBMGMT_ERR_TIMEOUT when some are still borrowed: those stay valid, are
 * closed when released, and the pool's memory is freed with the last one.
 * After this call the pool may only be passed to dbmgmt_pool_release().
 * NULL is OK. In a child after fork() it frees nothing and touches no
 * connection (they belong to the parent).
 */
DBMGMT_API int dbmgmt_pool_close(dbmgmt_pool *pool, int32_t drain_timeout_ms);

#ifdef __cplusplus
}
#endif
#endif /* DBMGMT_POOL_H */
