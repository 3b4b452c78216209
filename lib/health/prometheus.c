/*
 * The Prometheus text exposition (format 0.0.4) of a health snapshot, a
 * pool, a backup scheduler, a migrator and an alert set (docs/prometheus.md
 * lists every family). Each family appears once, with HELP and TYPE; a
 * figure that is absent is left out, never written as 0.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/error.h"
#include "health_impl.h"
#include "prom_text.h"
#include "migrate/migrator.h"

/* ---- the text format (prom_text.c) ------------------------------------------ */

/* One sample; label NULL: none, else one label (value escaped). */
static void sample(dm_buf *b, const char *name, const char *label, const char *value, double v)
{
    dm_buf_puts(b, name);
    if (label) {
        dm_buf_printf(b, "{%s=", label);
        dm_prom_label_value(b, value);
        dm_buf_putc(b, '}');
    }
    dm_buf_putc(b, ' ');
    dm_prom_number(b, v);
    dm_buf_putc(b, '\n');
}

/* A family of one unlabelled sample. */
static void single(dm_buf *b, const char *name, const char *type, const char *help, double v)
{
    dm_prom_family(b, name, type, help);
    sample(b, name, NULL, NULL, v);
}

/* ---- the health snapshot --------------------------------------------------- */

typedef struct health_family {
    int32_t metric;
    const char *name;
    const char *type;
    const char *help;
} health_family;

/* The snapshot's unlabelled figures. The connection states and the pool's
 * figures are written as labelled families below. */
static const health_family health_families[] = {
    {DBMGMT_HEALTH_DATABASE_SIZE_BYTES, "dbmgmt_database_size_bytes", "gauge",
     "Size of the database on disk."},
    {DBMGMT_HEALTH_CACHE_HIT_RATIO, "dbmgmt_cache_hit_ratio", "gauge",
     "Buffer or page cache hits / (hits + reads), 0..1."},
    {DBMGMT_HEALTH_CACHE_HITS_TOTAL, "dbmgmt_cache_hits_total", "counter",
     "Buffer or page cache hits since the statistics were reset."},
    {DBMGMT_HEALTH_CACHE_READS_TOTAL, "dbmgmt_cache_reads_total", "counter",
     "Block reads that missed the cache since the statistics were reset."},
    {DBMGMT_HEALTH_CONNECTIONS_TOTAL, "dbmgmt_connections_open", "gauge",
     "All client sessions on the server."},
    {DBMGMT_HEALTH_CONNECTIONS_MAX, "dbmgmt_connections_max", "gauge",
     "The server's max_connections."},
    {DBMGMT_HEALTH_DEADLOCKS_TOTAL, "dbmgmt_deadlocks_total", "counter",
     "Deadlocks detected since the statistics were reset."},
    {DBMGMT_HEALTH_LOCK_WAITS, "dbmgmt_lock_waits", "gauge",
     "Lock requests waiting right now."},
    {DBMGMT_HEALTH_SLOW_QUERIES_TOTAL, "dbmgmt_slow_queries_total", "counter",
     "Statements slower than the slow bound since the statistics were reset."},
    {DBMGMT_HEALTH_QUERIES_TOTAL, "dbmgmt_queries_total", "counter",
     "Statements executed since the statistics were reset."},
    {DBMGMT_HEALTH_TRANSACTIONS_TOTAL, "dbmgmt_transactions_total", "counter",
     "Commits and rollbacks since the statistics were reset."},
    {DBMGMT_HEALTH_REPLICATION_LAG_SECONDS, "dbmgmt_replication_lag_seconds", "gauge",
     "On a replica: how far it is behind its primary."},
    {DBMGMT_HEALTH_MEAN_QUERY_SECONDS, "dbmgmt_mean_query_seconds", "gauge",
     "Mean statement execution time."},
    {DBMGMT_HEALTH_DISK_USED_RATIO, "dbmgmt_disk_used_ratio", "gauge",
     "The data's file system: used / size, 0..1."},
    {DBMGMT_HEALTH_UNUSED_INDEXES, "dbmgmt_unused_indexes", "gauge",
     "Indexes never scanned since the statistics were reset."},
    {DBMGMT_HEALTH_SQLITE_PAGE_SIZE, "dbmgmt_sqlite_page_size_bytes", "gauge",
     "SQLite PRAGMA page_size."},
    {DBMGMT_HEALTH_SQLITE_PAGE_COUNT, "dbmgmt_sqlite_pages", "gauge",
     "SQLite PRAGMA page_count."},
    {DBMGMT_HEALTH_SQLITE_FREELIST_PAGES, "dbmgmt_sqlite_freelist_pages", "gauge",
     "SQLite PRAGMA freelist_count."},
    {DBMGMT_HEALTH_QUERIES_PER_SECOND, "dbmgmt_queries_per_second", "gauge",
     "Statements per second since the sampler's previous snapshot."},
    {DBMGMT_HEALTH_TRANSACTIONS_PER_SECOND, "dbmgmt_transactions_per_second", "gauge",
     "Transactions per second since the sampler's previous snapshot."},
    {DBMGMT_HEALTH_SLOW_QUERIES_PER_MINUTE, "dbmgmt_slow_queries_per_minute", "gauge",
     "Slow statements per minute since the sampler's previous snapshot."},
    {DBMGMT_HEALTH_DEADLOCKS_PER_HOUR, "dbmgmt_deadlocks_per_hour", "gauge",
     "Deadlocks per hour since the sampler's previous snapshot."},
    {DBMGMT_HEALTH_GROWTH_BYTES_PER_DAY, "dbmgmt_growth_bytes_per_day", "gauge",
     "Database growth per day since the sampler's previous snapshot."},
};

static const struct {
    int32_t metric;
    const char *state;
} connection_states[] = {{DBMGMT_HEALTH_CONNECTIONS_ACTIVE, "active"},
                         {DBMGMT_HEALTH_CONNECTIONS_IDLE, "idle"},
                         {DBMGMT_HEALTH_CONNECTIONS_WAITING, "waiting"}};

#define COUNT_OF(a) (sizeof(a) / sizeof((a)[0]))

/* A labelled family from some of the snapshot's figures; nothing when none is
 * present. */
static void health_states(dm_buf *b, const dbmgmt_health *h, const char *name, const char *help,
                          const int32_t *metrics, const char *const *states, size_t n)
{
    int any = 0;
    for (size_t i = 0; i < n; i++)
        any |= h->present[metrics[i]];
    if (!any)
        return;
    dm_prom_family(b, name, "gauge", help);
    for (size_t i = 0; i < n; i++)
        if (h->present[metrics[i]])
            sample(b, name, "state", states[i], h->value[metrics[i]]);
}

static void put_health(dm_buf *b, const dbmgmt_health *h, int pool_given)
{
    for (size_t i = 0; i < COUNT_OF(health_families); i++) {
        const health_family *f = &health_families[i];
        if (h->present[f->metric])
            single(b, f->name, f->type, f->help, h->value[f->metric]);
    }
    int32_t conn_metrics[COUNT_OF(connection_states)];
    const char *conn_names[COUNT_OF(connection_states)];
    for (size_t i = 0; i < COUNT_OF(connection_states); i++) {
        conn_metrics[i] = connection_states[i].metric;
        conn_names[i] = connection_states[i].state;
    }
    health_states(b, h, "dbmgmt_connections", "Server sessions by state.", conn_metrics,
                  conn_names, COUNT_OF(connection_states));
    if (h->ntables) {
        dm_prom_family(b, "dbmgmt_table_size_bytes", "gauge",
               "The largest tables on disk (data, indexes, TOAST), at most 10.");
        for (size_t i = 0; i < h->ntables; i++)
            sample(b, "dbmgmt_table_size_bytes", "table", h->tables[i].name,
                   (double)h->tables[i].bytes);
    }
    size_t known = 0;
    for (size_t i = 0; i < h->nreplicas; i++)
        known += h->replicas[i].lag_seconds >= 0;
    if (known) {
        dm_prom_family(b, "dbmgmt_replica_lag_seconds", "gauge", "Each replica's replication lag.");
        for (size_t i = 0; i < h->nreplicas; i++)
            if (h->replicas[i].lag_seconds >= 0)
                sample(b, "dbmgmt_replica_lag_seconds", "replica", h->replicas[i].name,
                       h->replicas[i].lag_seconds);
    }
    if (pool_given) /* the pool's live figures are written from the pool itself */
        return;
    static const int32_t pool_metrics[] = {DBMGMT_HEALTH_POOL_ACTIVE, DBMGMT_HEALTH_POOL_IDLE,
                                           DBMGMT_HEALTH_POOL_WAITING};
    static const char *const pool_states[] = {"active", "idle", "waiting"};
    health_states(b, h, "dbmgmt_pool_connections",
                  "The pool's connections borrowed (active) and idle, and threads waiting.",
                  pool_metrics, pool_states, COUNT_OF(pool_metrics));
    if (h->present[DBMGMT_HEALTH_POOL_MAX])
        single(b, "dbmgmt_pool_max_connections", "gauge", "The pool's max_size (per server).",
               h->value[DBMGMT_HEALTH_POOL_MAX]);
    if (h->present[DBMGMT_HEALTH_POOL_USAGE_RATIO])
        single(b, "dbmgmt_pool_usage_ratio", "gauge", "Borrowed / max_size right now, 0..1.",
               h->value[DBMGMT_HEALTH_POOL_USAGE_RATIO]);
    if (h->present[DBMGMT_HEALTH_POOL_REPLICA_LAG_SECONDS])
        single(b, "dbmgmt_pool_replica_lag_seconds", "gauge",
               "The worst replica's lag at the pool's last check.",
               h->value[DBMGMT_HEALTH_POOL_REPLICA_LAG_SECONDS]);
}

/* ---- pool, backup, migrations, alerts -------------------------------------- */

static void put_pool(dm_buf *b, const dbmgmt_pool *pool)
{
    int64_t active = dbmgmt_pool_metric(pool, DBMGMT_POOL_ACTIVE);
    int64_t max = dbmgmt_pool_metric(pool, DBMGMT_POOL_MAX);
    dm_prom_family(b, "dbmgmt_pool_connections", "gauge",
           "The pool's connections borrowed (active) and idle, and threads waiting.");
    sample(b, "dbmgmt_pool_connections", "state", "active", (double)active);
    sample(b, "dbmgmt_pool_connections", "state", "idle",
           (double)dbmgmt_pool_metric(pool, DBMGMT_POOL_IDLE));
    sample(b, "dbmgmt_pool_connections", "state", "waiting",
           (double)dbmgmt_pool_metric(pool, DBMGMT_POOL_WAITING));
    single(b, "dbmgmt_pool_open_connections", "gauge", "The pool's open connections.",
           (double)dbmgmt_pool_metric(pool, DBMGMT_POOL_TOTAL));
    single(b, "dbmgmt_pool_max_connections", "gauge", "The pool's max_size (per server).",
           (double)max);
    if (max > 0)
        single(b, "dbmgmt_pool_usage_ratio", "gauge", "Borrowed / max_size right now, 0..1.",
               (double)active / (double)max);
    static const struct {
        int32_t id;
        const char *name, *help;
    } counters[] = {
        {DBMGMT_POOL_ACQUIRES, "dbmgmt_pool_acquires_total", "Successful acquires."},
        {DBMGMT_POOL_TIMEOUTS, "dbmgmt_pool_timeouts_total", "Acquires that timed out."},
        {DBMGMT_POOL_CREATED, "dbmgmt_pool_connections_created_total", "Connections opened."},
        {DBMGMT_POOL_DESTROYED, "dbmgmt_pool_connections_closed_total", "Connections closed."},
        {DBMGMT_POOL_VALIDATION_FAILURES, "dbmgmt_pool_validation_failures_total",
         "Idle connections found dead by a ping."},
        {DBMGMT_POOL_LEAKS, "dbmgmt_pool_leaks_total",
         "Connections held past the leak threshold."},
    };
    for (size_t i = 0; i < COUNT_OF(counters); i++)
        single(b, counters[i].name, "counter", counters[i].help,
               (double)dbmgmt_pool_metric(pool, counters[i].id));
    single(b, "dbmgmt_pool_acquire_wait_p50_seconds", "gauge",
           "Median acquire wait since the pool opened.",
           (double)dbmgmt_pool_metric(pool, DBMGMT_POOL_WAIT_P50_US) / 1e6);
    single(b, "dbmgmt_pool_acquire_wait_p99_seconds", "gauge",
           "99th percentile acquire wait since the pool opened.",
           (double)dbmgmt_pool_metric(pool, DBMGMT_POOL_WAIT_P99_US) / 1e6);
    single(b, "dbmgmt_pool_utilisation_ratio", "gauge",
           "Borrowed connection-time / (max_size x elapsed) since the pool opened, 0..1.",
           (double)dbmgmt_pool_metric(pool, DBMGMT_POOL_UTILISATION_PCT) / 100.0);
    int64_t lag_ms = dbmgmt_pool_metric(pool, DBMGMT_POOL_REPLICA_LAG_MS);
    if (lag_ms >= 0)
        single(b, "dbmgmt_pool_replica_lag_seconds", "gauge",
               "The worst replica's lag at the pool's last check.", (double)lag_ms / 1e3);
}

static void put_backup(dm_buf *b, const dbmgmt_backup *bk)
{
    int64_t rpo = dbmgmt_backup_metric(bk, DBMGMT_BACKUP_RPO_S);
    int64_t size = dbmgmt_backup_metric(bk, DBMGMT_BACKUP_LAST_SIZE);
    int64_t restore_ms = dbmgmt_backup_metric(bk, DBMGMT_BACKUP_LAST_RESTORE_MS);
    if (rpo >= 0)
        single(b, "dbmgmt_backup_rpo_seconds", "gauge",
               "Age of the newest verified backup (the recovery point).", (double)rpo);
    if (size >= 0)
        single(b, "dbmgmt_backup_last_size_bytes", "gauge", "Size of the newest backup.",
               (double)size);
    single(b, "dbmgmt_backup_failures_total", "counter",
           "Failed backups and verifies since the scheduler started.",
           (double)dbmgmt_backup_metric(bk, DBMGMT_BACKUP_FAILURES));
    single(b, "dbmgmt_backups", "gauge", "Backups in the catalog.",
           (double)dbmgmt_backup_metric(bk, DBMGMT_BACKUP_COUNT));
    if (restore_ms >= 0)
        single(b, "dbmgmt_backup_last_restore_seconds", "gauge",
               "Duration of the last restore drill (the recovery time).",
               (double)restore_ms / 1e3);
}

/* A version Prometheus can hold exactly as a number: digits only, at most 15. */
static int numeric_version(const char *v)
{
    size_t n = strlen(v);
    if (n == 0 || n > 15)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (v[i] < '0' || v[i] > '9')
            return 0;
    return 1;
}

static int put_migrations(dm_buf *b, dbmgmt_migrator *m)
{
    size_t pending = 0;
    int dirty = 0;
    char *applied = NULL;
    int rc = dm_migrator_state(m, &pending, &dirty, &applied);
    if (rc != DBMGMT_OK)
        return rc;
    single(b, "dbmgmt_migrations_pending", "gauge", "Migrations not yet applied.",
           (double)pending);
    single(b, "dbmgmt_migration_dirty", "gauge",
           "1 while a migration has failed and waits for resume or repair, else 0.",
           dirty ? 1 : 0);
    if (applied) {
        if (numeric_version(applied))
            single(b, "dbmgmt_migration_applied_version", "gauge",
                   "The newest applied migration version (numeric versions only).",
                   strtod(applied, NULL));
        dm_prom_family(b, "dbmgmt_migration_info", "gauge",
               "Always 1; the label names the newest applied migration version.");
        sample(b, "dbmgmt_migration_info", "applied_version", applied, 1);
        dm_free(applied);
    }
    return DBMGMT_OK;
}

static void put_alerts(dm_buf *b, const dbmgmt_alerts *a)
{
    size_t n = dm_alerts_count(a);
    if (!n)
        return;
    dm_prom_family(b, "dbmgmt_alert_firing", "gauge", "1 while the alert rule fires, else 0.");
    for (size_t i = 0; i < n; i++) {
        dm_buf_puts(b, "dbmgmt_alert_firing{rule=");
        dm_prom_label_value(b, dm_alerts_rule_name(a, i));
        dm_buf_puts(b, ",severity=");
        dm_prom_label_value(b, dm_alerts_rule_severity(a, i) == DBMGMT_ALERT_CRITICAL ? "critical"
                                                                                  : "warning");
        dm_buf_puts(b, dm_alerts_rule_firing(a, i) ? "} 1\n" : "} 0\n");
    }
}

int dbmgmt_metrics_to_prometheus(const dbmgmt_health *h, const dbmgmt_pool *pool,
                                 dbmgmt_backup *backup, dbmgmt_migrator *m,
                                 const dbmgmt_alerts *alerts, char **out)
{
    if (!out)
        return dm_error_invalid("dbmgmt_metrics_to_prometheus", "out is NULL");
    *out = NULL;
    dm_buf b = DM_BUF_INIT;
    if (h)
        put_health(&b, h, pool != NULL);
    if (pool)
        put_pool(&b, pool);
    if (backup)
        put_backup(&b, backup);
    if (m) {
        int rc = put_migrations(&b, m);
        if (rc != DBMGMT_OK) {
            dm_buf_free(&b);
            return rc;
        }
    }
    if (alerts)
        put_alerts(&b, alerts);
    *out = dm_buf_detach(&b); /* "" when nothing was given */
    if (!*out)
        return dm_error_set(NULL, DBMGMT_ERR_NOMEM, "dbmgmt_metrics_to_prometheus: out of memory");
    return DBMGMT_OK;
}
