/*
 * libdbmgmt — database health: the engine's own statistics as one snapshot,
 * rates from two snapshots, alert rules, and the Prometheus text exposition
 * of health, pool, backup and migration state (docs/health.md).
 *
 * Thread safety: a dbmgmt_health snapshot is immutable once made and may be
 * read from any thread. A sampler or an alert set is used by one thread at a
 * time. Nothing here opens a thread.
 */
#ifndef DBMGMT_HEALTH_H
#define DBMGMT_HEALTH_H

#include "dbmgmt/backup.h"
#include "dbmgmt/common.h"
#include "dbmgmt/conn.h"
#include "dbmgmt/migrate.h"
#include "dbmgmt/pool.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * The figures of a snapshot. A figure the engine cannot give (or that needs
 * something the server does not have loaded, such as pg_stat_statements) is
 * absent: dbmgmt_health_get() returns DBMGMT_ERR_NOTFOUND for it, never 0.
 * Counters (_TOTAL) count since the server's statistics were last reset;
 * rates (_PER_*) are present only in a snapshot made by a sampler that had
 * an earlier snapshot; pool figures only in dbmgmt_health_collect_pool()'s.
 * New figures get new values; a value is never reused.
 */
typedef enum dbmgmt_health_metric {
    DBMGMT_HEALTH_DATABASE_SIZE_BYTES = 0,   /* the database on disk */
    DBMGMT_HEALTH_CACHE_HIT_RATIO = 1,       /* hits / (hits + reads), 0..1 */
    DBMGMT_HEALTH_CACHE_HITS_TOTAL = 2,      /* buffer or page cache hits */
    DBMGMT_HEALTH_CACHE_READS_TOTAL = 3,     /* block reads that missed the cache */
    DBMGMT_HEALTH_CONNECTIONS_ACTIVE = 4,    /* server sessions running a statement */
    DBMGMT_HEALTH_CONNECTIONS_IDLE = 5,      /* server sessions doing nothing */
    DBMGMT_HEALTH_CONNECTIONS_WAITING = 6,   /* server sessions waiting on a lock */
    DBMGMT_HEALTH_CONNECTIONS_TOTAL = 7,     /* client sessions (PostgreSQL: of this database) */
    DBMGMT_HEALTH_CONNECTIONS_MAX = 8,       /* max_connections */
    DBMGMT_HEALTH_DEADLOCKS_TOTAL = 9,       /* deadlocks detected */
    DBMGMT_HEALTH_LOCK_WAITS = 10,           /* lock requests waiting right now */
    DBMGMT_HEALTH_SLOW_QUERIES_TOTAL = 11,   /* statements slower than the slow bound */
    DBMGMT_HEALTH_QUERIES_TOTAL = 12,        /* statements executed */
    DBMGMT_HEALTH_TRANSACTIONS_TOTAL = 13,   /* commits + rollbacks */
    DBMGMT_HEALTH_REPLICATION_LAG_SECONDS = 14, /* on a replica: behind its primary */
    DBMGMT_HEALTH_MEAN_QUERY_SECONDS = 15,   /* mean statement time */
    DBMGMT_HEALTH_DISK_USED_RATIO = 16,      /* the data's file system, used / size, 0..1 */
    DBMGMT_HEALTH_UNUSED_INDEXES = 17,       /* indexes never scanned since reset */
    DBMGMT_HEALTH_SQLITE_PAGE_SIZE = 18,     /* PRAGMA page_size */
    DBMGMT_HEALTH_SQLITE_PAGE_COUNT = 19,    /* PRAGMA page_count */
    DBMGMT_HEALTH_SQLITE_FREELIST_PAGES = 20,/* PRAGMA freelist_count */
    DBMGMT_HEALTH_QUERIES_PER_SECOND = 21,   /* rate, from the sampler */
    DBMGMT_HEALTH_TRANSACTIONS_PER_SECOND = 22,
    DBMGMT_HEALTH_SLOW_QUERIES_PER_MINUTE = 23,
    DBMGMT_HEALTH_DEADLOCKS_PER_HOUR = 24,
    DBMGMT_HEALTH_GROWTH_BYTES_PER_DAY = 25,
    DBMGMT_HEALTH_POOL_ACTIVE = 26,          /* the pool's borrowed connections */
    DBMGMT_HEALTH_POOL_IDLE = 27,
    DBMGMT_HEALTH_POOL_WAITING = 28,         /* threads waiting in acquire */
    DBMGMT_HEALTH_POOL_MAX = 29,
    DBMGMT_HEALTH_POOL_USAGE_RATIO = 30,     /* active / max, 0..1, right now */
    DBMGMT_HEALTH_POOL_REPLICA_LAG_SECONDS = 31 /* the worst replica's lag */
} dbmgmt_health_metric;
#define DBMGMT_HEALTH_METRIC_COUNT 32

typedef struct dbmgmt_health dbmgmt_health;

/*
 * One snapshot of the server (or SQLite file) behind conn, read from the
 * engine's own statistics (docs/health.md names each source). The
 * connection stays usable; no transaction is left open. *out is freed with
 * dbmgmt_health_free(). DBMGMT_ERR_INVALID, _NOMEM, or the failing query's
 * status (its message names the statistic).
 */
DBMGMT_API int dbmgmt_health_collect(dbmgmt_conn *conn, dbmgmt_health **out);
/* The same on a connection borrowed from the pool's primary, plus the
 * pool's own figures (DBMGMT_HEALTH_POOL_*) and each replica's lag. */
DBMGMT_API int dbmgmt_health_collect_pool(dbmgmt_pool *pool, dbmgmt_health **out);
DBMGMT_API void dbmgmt_health_free(dbmgmt_health *h);

DBMGMT_API dbmgmt_engine dbmgmt_health_engine(const dbmgmt_health *h);
/* When it was made: milliseconds since the Unix epoch (or the sampler's
 * injected time). */
DBMGMT_API int64_t dbmgmt_health_collected_at_ms(const dbmgmt_health *h);
/* The figure's value into *value: DBMGMT_OK, DBMGMT_ERR_NOTFOUND when it is
 * absent, DBMGMT_ERR_INVALID for a bad handle or metric. */
DBMGMT_API int dbmgmt_health_get(const dbmgmt_health *h, int32_t metric, double *value);
/* The figure's snake_case name ("database_size_bytes"); NULL for a bad value. */
DBMGMT_API const char *dbmgmt_health_metric_name(int32_t metric);
/* The largest tables, largest first (at most 10): name ("schema.table" where
 * the engine has schemas) and bytes on disk (data + indexes + TOAST). */
DBMGMT_API size_t dbmgmt_health_table_count(const dbmgmt_health *h);
DBMGMT_API const char *dbmgmt_health_table_name(const dbmgmt_health *h, size_t i);
DBMGMT_API int64_t dbmgmt_health_table_bytes(const dbmgmt_health *h, size_t i);
/* Replicas seen (a pool's replicas, or a primary's streaming standbys):
 * name (host:port, or the standby's application_name) and lag in seconds
 * (-1 when unknown). */
DBMGMT_API size_t dbmgmt_health_replica_count(const dbmgmt_health *h);
DBMGMT_API const char *dbmgmt_health_replica_name(const dbmgmt_health *h, size_t i);
DBMGMT_API double dbmgmt_health_replica_lag_seconds(const dbmgmt_health *h, size_t i);
/* The snapshot as JSON: every figure by name, null when absent, plus
 * "tables" and "replicas". Free with dbmgmt_free(). NULL on NOMEM. */
DBMGMT_API char *dbmgmt_health_to_json(const dbmgmt_health *h);

/* ---- the sampler: rates from two snapshots ------------------------------ */

typedef struct dbmgmt_health_sampler dbmgmt_health_sampler;

/* A sampler keeps the previous snapshot so that each new one carries the
 * rates (_PER_SECOND, _PER_MINUTE, ...) since then. It samples when asked,
 * on the caller's schedule, and opens no thread. */
DBMGMT_API int dbmgmt_health_sampler_new(dbmgmt_health_sampler **out);
DBMGMT_API void dbmgmt_health_sampler_free(dbmgmt_health_sampler *s);
/* Collect from conn (or from pool when conn is NULL) into a new snapshot
 * with the rates since the sampler's previous one; the sampler keeps its own
 * reference, the caller frees *out. A counter that went backwards (a
 * statistics reset, a restarted server) gives no rate for that sample. */
DBMGMT_API int dbmgmt_health_sample(dbmgmt_health_sampler *s, dbmgmt_conn *conn,
                                    dbmgmt_pool *pool, dbmgmt_health **out);
/* The same, stamped now_ms (an injected clock) instead of the real time. */
DBMGMT_API int dbmgmt_health_sample_at(dbmgmt_health_sampler *s, dbmgmt_conn *conn,
                                       dbmgmt_pool *pool, int64_t now_ms,
                                       dbmgmt_health **out);

/* ---- alert rules --------------------------------------------------------- */

typedef enum dbmgmt_alert_severity {
    DBMGMT_ALERT_WARNING = 1,
    DBMGMT_ALERT_CRITICAL = 2
} dbmgmt_alert_severity;

typedef enum dbmgmt_alert_state {
    DBMGMT_ALERT_FIRING = 1,
    DBMGMT_ALERT_RESOLVED = 2
} dbmgmt_alert_state;

typedef struct dbmgmt_alerts dbmgmt_alerts;

/*
 * The callback: a rule began firing or resolved. rule is its name, value the
 * figure that decided it, message a sentence for people; both strings valid
 * only during the call.
 */
typedef void (*dbmgmt_alert_fn)(void *userdata, const char *rule, int32_t state,
                                int32_t severity, double value, const char *message);

/* A rule set holding the default rules (seed 003; docs/health.md lists
 * them): pool_usage_high, pool_waiting_high, slow_queries_high,
 * replication_lag_critical, replication_lag_high, disk_usage_high,
 * deadlocks_high. */
DBMGMT_API int dbmgmt_alerts_new(dbmgmt_alerts **out);
DBMGMT_API void dbmgmt_alerts_free(dbmgmt_alerts *a);
/*
 * Add a rule, or replace the one of that name: it fires when metric is
 * above threshold for for_ms (0: at the first such sample), and resolves
 * when it falls to threshold × (1 − hysteresis) or below (hysteresis 0..1;
 * the defaults use 0.1), so a value wavering at the threshold does not flap.
 */
DBMGMT_API int dbmgmt_alerts_set_rule(dbmgmt_alerts *a, const char *name, int32_t metric,
                                      double threshold, int32_t severity, int64_t for_ms,
                                      double hysteresis);
/* Remove a rule (a firing one resolves silently). DBMGMT_ERR_NOTFOUND. */
DBMGMT_API int dbmgmt_alerts_remove_rule(dbmgmt_alerts *a, const char *name);
DBMGMT_API int dbmgmt_alerts_set_callback(dbmgmt_alerts *a, dbmgmt_alert_fn fn, void *userdata);
/* Evaluate every rule on a snapshot, at its collected_at_ms. A rule whose
 * figure is absent keeps its state. Returns the number of rules firing. */
DBMGMT_API int32_t dbmgmt_alerts_evaluate(dbmgmt_alerts *a, const dbmgmt_health *h);
/* Evaluate on one value the host measured itself (the rules on metric). */
DBMGMT_API int32_t dbmgmt_alerts_observe(dbmgmt_alerts *a, int32_t metric, double value,
                                         int64_t now_ms);
/* The rules and their state as JSON (docs/health.md). Free with dbmgmt_free(). */
DBMGMT_API char *dbmgmt_alerts_to_json(const dbmgmt_alerts *a);

/* ---- Prometheus ---------------------------------------------------------- */

/*
 * The Prometheus text exposition (format 0.0.4) of whatever is given, each
 * argument optional (NULL): the snapshot's figures, the pool's metrics, the
 * backups' RPO and last verified age, the migrator's pending count, dirty
 * flag and applied version, and the alerts firing. Names follow Prometheus
 * practice (dbmgmt_ prefix, _bytes, _seconds, _total; HELP and TYPE lines;
 * label values escaped). *out is freed with dbmgmt_free().
 */
DBMGMT_API int dbmgmt_metrics_to_prometheus(const dbmgmt_health *h, const dbmgmt_pool *pool,
                                            dbmgmt_backup *backup, dbmgmt_migrator *m,
                                            const dbmgmt_alerts *alerts, char **out);

#ifdef __cplusplus
}
#endif

#endif /* DBMGMT_HEALTH_H */
