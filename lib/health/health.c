/* The health snapshot's accessors and the figures' names (docs/health.md). */
#include "health_impl.h"

#include "core/alloc.h"
#include "core/error.h"

static const char *const metric_names[DBMGMT_HEALTH_METRIC_COUNT] = {
    [DBMGMT_HEALTH_DATABASE_SIZE_BYTES] = "database_size_bytes",
    [DBMGMT_HEALTH_CACHE_HIT_RATIO] = "cache_hit_ratio",
    [DBMGMT_HEALTH_CACHE_HITS_TOTAL] = "cache_hits_total",
    [DBMGMT_HEALTH_CACHE_READS_TOTAL] = "cache_reads_total",
    [DBMGMT_HEALTH_CONNECTIONS_ACTIVE] = "connections_active",
    [DBMGMT_HEALTH_CONNECTIONS_IDLE] = "connections_idle",
    [DBMGMT_HEALTH_CONNECTIONS_WAITING] = "connections_waiting",
    [DBMGMT_HEALTH_CONNECTIONS_TOTAL] = "connections_total",
    [DBMGMT_HEALTH_CONNECTIONS_MAX] = "connections_max",
    [DBMGMT_HEALTH_DEADLOCKS_TOTAL] = "deadlocks_total",
    [DBMGMT_HEALTH_LOCK_WAITS] = "lock_waits",
    [DBMGMT_HEALTH_SLOW_QUERIES_TOTAL] = "slow_queries_total",
    [DBMGMT_HEALTH_QUERIES_TOTAL] = "queries_total",
    [DBMGMT_HEALTH_TRANSACTIONS_TOTAL] = "transactions_total",
    [DBMGMT_HEALTH_REPLICATION_LAG_SECONDS] = "replication_lag_seconds",
    [DBMGMT_HEALTH_MEAN_QUERY_SECONDS] = "mean_query_seconds",
    [DBMGMT_HEALTH_DISK_USED_RATIO] = "disk_used_ratio",
    [DBMGMT_HEALTH_UNUSED_INDEXES] = "unused_indexes",
    [DBMGMT_HEALTH_SQLITE_PAGE_SIZE] = "sqlite_page_size_bytes",
    [DBMGMT_HEALTH_SQLITE_PAGE_COUNT] = "sqlite_page_count",
    [DBMGMT_HEALTH_SQLITE_FREELIST_PAGES] = "sqlite_freelist_pages",
    [DBMGMT_HEALTH_QUERIES_PER_SECOND] = "queries_per_second",
    [DBMGMT_HEALTH_TRANSACTIONS_PER_SECOND] = "transactions_per_second",
    [DBMGMT_HEALTH_SLOW_QUERIES_PER_MINUTE] = "slow_queries_per_minute",
    [DBMGMT_HEALTH_DEADLOCKS_PER_HOUR] = "deadlocks_per_hour",
    [DBMGMT_HEALTH_GROWTH_BYTES_PER_DAY] = "growth_bytes_per_day",
    [DBMGMT_HEALTH_POOL_ACTIVE] = "pool_active",
    [DBMGMT_HEALTH_POOL_IDLE] = "pool_idle",
    [DBMGMT_HEALTH_POOL_WAITING] = "pool_waiting",
    [DBMGMT_HEALTH_POOL_MAX] = "pool_max",
    [DBMGMT_HEALTH_POOL_USAGE_RATIO] = "pool_usage_ratio",
    [DBMGMT_HEALTH_POOL_REPLICA_LAG_SECONDS] = "pool_replica_lag_seconds",
};

const char *dbmgmt_health_metric_name(int32_t metric)
{
    if (metric < 0 || metric >= DBMGMT_HEALTH_METRIC_COUNT)
        return NULL;
    return metric_names[metric];
}

void dbmgmt_health_free(dbmgmt_health *h)
{
    /* atomic: the sampler's reference may be dropped on another thread than
     * the caller's */
    if (!h || __atomic_sub_fetch(&h->refs, 1, __ATOMIC_ACQ_REL) > 0)
        return;
    for (size_t i = 0; i < h->ntables; i++)
        dm_free(h->tables[i].name);
    for (size_t i = 0; i < h->nreplicas; i++)
        dm_free(h->replicas[i].name);
    dm_free(h->replicas);
    dm_free(h);
}

dbmgmt_engine dbmgmt_health_engine(const dbmgmt_health *h)
{
    return h ? h->engine : DBMGMT_ENGINE_NONE;
}

int64_t dbmgmt_health_collected_at_ms(const dbmgmt_health *h)
{
    return h ? h->collected_at_ms : 0;
}

int dbmgmt_health_get(const dbmgmt_health *h, int32_t metric, double *value)
{
    if (!h || !value)
        return dm_error_invalid("dbmgmt_health_get", h ? "value is NULL" : "h is NULL");
    if (metric < 0 || metric >= DBMGMT_HEALTH_METRIC_COUNT)
        return dm_error_invalid("dbmgmt_health_get", "metric is not a dbmgmt_health_metric");
    if (!h->present[metric])
        return DBMGMT_ERR_NOTFOUND;
    *value = h->value[metric];
    return DBMGMT_OK;
}

size_t dbmgmt_health_table_count(const dbmgmt_health *h)
{
    return h ? h->ntables : 0;
}

const char *dbmgmt_health_table_name(const dbmgmt_health *h, size_t i)
{
    return h && i < h->ntables ? h->tables[i].name : NULL;
}

int64_t dbmgmt_health_table_bytes(const dbmgmt_health *h, size_t i)
{
    return h && i < h->ntables ? h->tables[i].bytes : -1;
}

size_t dbmgmt_health_replica_count(const dbmgmt_health *h)
{
    return h ? h->nreplicas : 0;
}

const char *dbmgmt_health_replica_name(const dbmgmt_health *h, size_t i)
{
    return h && i < h->nreplicas ? h->replicas[i].name : NULL;
}

double dbmgmt_health_replica_lag_seconds(const dbmgmt_health *h, size_t i)
{
    return h && i < h->nreplicas ? h->replicas[i].lag_seconds : -1;
}

dbmgmt_health *dm_health_new(dbmgmt_engine engine, int64_t collected_at_ms)
{
    dbmgmt_health *h = dm_calloc(1, sizeof *h);
    if (!h)
        return NULL;
    h->engine = engine;
    h->collected_at_ms = collected_at_ms;
    h->refs = 1;
    return h;
}
