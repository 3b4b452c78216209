/* Pool configuration: defaults (DESIGN §6) and validating setters. */
#include "pool_impl.h"

#include <string.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/error.h"

/* HikariCP's sizing rule of thumb, as the seeds ask: 2 x cores + 1. */
static int32_t default_max_size(void)
{
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    if (cores < 1)
        cores = 1;
    if (cores > 64)
        cores = 64;
    return (int32_t)(2 * cores + 1);
}

void dm_pool_config_defaults(dbmgmt_pool_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->min_idle = 2;
    cfg->max_size = default_max_size();
    cfg->acquire_timeout_ms = 5000;
    cfg->idle_timeout_ms = 30000;
    cfg->max_lifetime_ms = 30 * 60 * 1000;
    cfg->validation_interval_ms = 500;
    cfg->leak_threshold_ms = 0;
    cfg->background_thread = 1;
    cfg->max_replica_lag_ms = -1;
    cfg->replica_fallback = DBMGMT_REPLICA_FALLBACK_PRIMARY;
    cfg->replica_check_interval_ms = 250;
}

void dm_pool_config_clear(dbmgmt_pool_config *cfg)
{
    dm_free(cfg->init_sql);
    cfg->init_sql = NULL;
    for (int32_t i = 0; i < cfg->nreplicas; i++) {
        dm_free(cfg->replicas[i]);
        cfg->replicas[i] = NULL;
    }
    cfg->nreplicas = 0;
}

int dm_pool_config_copy(dbmgmt_pool_config *dst, const dbmgmt_pool_config *src)
{
    *dst = *src;
    dst->init_sql = NULL;
    dst->nreplicas = 0;
    memset(dst->replicas, 0, sizeof dst->replicas);
    if (src->init_sql && !(dst->init_sql = dm_strdup(src->init_sql)))
        goto nomem;
    for (int32_t i = 0; i < src->nreplicas; i++) {
        if (!(dst->replicas[i] = dm_strdup(src->replicas[i])))
            goto nomem;
        dst->nreplicas = i + 1;
    }
    return DBMGMT_OK;
nomem:
    dm_pool_config_clear(dst);
    return dm_error_set(NULL, DBMGMT_ERR_NOMEM, "out of memory copying a pool configuration");
}

DBMGMT_API int dbmgmt_pool_config_new(dbmgmt_pool_config **out)
{
    if (!out)
        return dm_error_invalid("dbmgmt_pool_config_new", "out is NULL");
    *out = dm_malloc(sizeof **out);
    if (!*out)
        return dm_error_set(NULL, DBMGMT_ERR_NOMEM, "out of memory creating a pool configuration");
    dm_pool_config_defaults(*out);
    return DBMGMT_OK;
}

DBMGMT_API void dbmgmt_pool_config_free(dbmgmt_pool_config *cfg)
{
    if (!cfg)
        return;
    dm_pool_config_clear(cfg);
    dm_free(cfg);
}

/* Check cfg and that value lies in [lo, hi]; store it on success. */
static int set_ranged(dbmgmt_pool_config *cfg, int32_t *field, int32_t value, int32_t lo,
                      int32_t hi, const char *fn)
{
    if (!cfg)
        return dm_error_invalid(fn, "cfg is NULL");
    if (value < lo || value > hi)
        return dm_error_set(NULL, DBMGMT_ERR_INVALID, "%s: %d is out of range (%d..%d)", fn,
                            (int)value, (int)lo, (int)hi);
    *field = value;
    return DBMGMT_OK;
}

#define FIELD(cfg, name) ((cfg) ? &(cfg)->name : NULL)

DBMGMT_API int dbmgmt_pool_config_set_min_idle(dbmgmt_pool_config *cfg, int32_t min_idle)
{
    return set_ranged(cfg, FIELD(cfg, min_idle), min_idle, 0, DM_POOL_MAX_SIZE,
                      "dbmgmt_pool_config_set_min_idle");
}

DBMGMT_API int dbmgmt_pool_config_set_max_size(dbmgmt_pool_config *cfg, int32_t max_size)
{
    return set_ranged(cfg, FIELD(cfg, max_size), max_size, 1, DM_POOL_MAX_SIZE,
                      "dbmgmt_pool_config_set_max_size");
}

DBMGMT_API int dbmgmt_pool_config_set_acquire_timeout_ms(dbmgmt_pool_config *cfg,
                                                         int32_t timeout_ms)
{
    return set_ranged(cfg, FIELD(cfg, acquire_timeout_ms), timeout_ms, 0, 3600000,
                      "dbmgmt_pool_config_set_acquire_timeout_ms");
}

DBMGMT_API int dbmgmt_pool_config_set_idle_timeout_ms(dbmgmt_pool_config *cfg,
                                                      int32_t timeout_ms)
{
    return set_ranged(cfg, FIELD(cfg, idle_timeout_ms), timeout_ms, 0, INT32_MAX,
                      "dbmgmt_pool_config_set_idle_timeout_ms");
}

DBMGMT_API int dbmgmt_pool_config_set_max_lifetime_ms(dbmgmt_pool_config *cfg,
                                                      int32_t lifetime_ms)
{
    if (cfg && lifetime_ms > 0 && lifetime_ms < 1000)
        return dm_error_set(NULL, DBMGMT_ERR_INVALID,
                            "dbmgmt_pool_config_set_max_lifetime_ms: %d is out of range (0 = "
                            "never, or 1000..%d)", (int)lifetime_ms, (int)INT32_MAX);
    return set_ranged(cfg, FIELD(cfg, max_lifetime_ms), lifetime_ms, 0, INT32_MAX,
                      "dbmgmt_pool_config_set_max_lifetime_ms");
}

DBMGMT_API int dbmgmt_pool_config_set_validation_interval_ms(dbmgmt_pool_config *cfg,
                                                             int32_t interval_ms)
{
    return set_ranged(cfg, FIELD(cfg, validation_interval_ms), interval_ms, 0, INT32_MAX,
                      "dbmgmt_pool_config_set_validation_interval_ms");
}

DBMGMT_API int dbmgmt_pool_config_set_leak_threshold_ms(dbmgmt_pool_config *cfg,
                                                        int32_t threshold_ms)
{
    return set_ranged(cfg, FIELD(cfg, leak_threshold_ms), threshold_ms, 0, INT32_MAX,
                      "dbmgmt_pool_config_set_leak_threshold_ms");
}

DBMGMT_API int dbmgmt_pool_config_set_background_thread(dbmgmt_pool_config *cfg, int32_t on)
{
    return set_ranged(cfg, FIELD(cfg, background_thread), on, 0, 1,
                      "dbmgmt_pool_config_set_background_thread");
}

DBMGMT_API int dbmgmt_pool_config_set_init_sql(dbmgmt_pool_config *cfg, const char *sql)
{
    if (!cfg)
        return dm_error_invalid("dbmgmt_pool_config_set_init_sql", "cfg is NULL");
    char *copy = NULL;
    if (sql && *sql && !(copy = dm_strdup(sql)))
        return dm_error_set(NULL, DBMGMT_ERR_NOMEM, "out of memory copying the init SQL");
    dm_free(cfg->init_sql);
    cfg->init_sql = copy;
    return DBMGMT_OK;
}

DBMGMT_API int dbmgmt_pool_config_add_replica(dbmgmt_pool_config *cfg, const char *dsn)
{
    if (!cfg)
        return dm_error_invalid("dbmgmt_pool_config_add_replica", "cfg is NULL");
    if (!dsn || !*dsn)
        return dm_error_invalid("dbmgmt_pool_config_add_replica", "dsn is NULL or empty");
    if (cfg->nreplicas >= DM_POOL_MAX_REPLICAS)
        return dm_error_set(NULL, DBMGMT_ERR_INVALID,
                            "dbmgmt_pool_config_add_replica: a pool has at most %d replicas",
                            DM_POOL_MAX_REPLICAS);
    char *copy = dm_strdup(dsn);
    if (!copy)
        return dm_error_set(NULL, DBMGMT_ERR_NOMEM, "out of memory copying a replica DSN");
    cfg->replicas[cfg->nreplicas++] = copy;
    return DBMGMT_OK;
}

DBMGMT_API int dbmgmt_pool_config_set_max_replica_lag_ms(dbmgmt_pool_config *cfg, int32_t ms)
{
    return set_ranged(cfg, FIELD(cfg, max_replica_lag_ms), ms, -1, INT32_MAX,
                      "dbmgmt_pool_config_set_max_replica_lag_ms");
}

DBMGMT_API int dbmgmt_pool_config_set_replica_fallback(dbmgmt_pool_config *cfg,
                                                       int32_t fallback)
{
    return set_ranged(cfg, FIELD(cfg, replica_fallback), fallback,
                      DBMGMT_REPLICA_FALLBACK_PRIMARY, DBMGMT_REPLICA_FALLBACK_FAIL,
                      "dbmgmt_pool_config_set_replica_fallback");
}

DBMGMT_API int dbmgmt_pool_config_set_replica_check_interval_ms(dbmgmt_pool_config *cfg,
                                                                int32_t ms)
{
    return set_ranged(cfg, FIELD(cfg, replica_check_interval_ms), ms, 10, 3600000,
                      "dbmgmt_pool_config_set_replica_check_interval_ms");
}

DBMGMT_API int dbmgmt_pool_config_set_event_callback(dbmgmt_pool_config *cfg,
                                                     dbmgmt_pool_event_fn fn, void *userdata)
{
    if (!cfg)
        return dm_error_invalid("dbmgmt_pool_config_set_event_callback", "cfg is NULL");
    cfg->event_fn = fn;
    cfg->event_userdata = fn ? userdata : NULL;
    return DBMGMT_OK;
}
