/*
 * The sampler (docs/health.md): each snapshot it makes carries the rates
 * since its previous one, which it keeps (a reference) until the next.
 * A rate needs both values, a positive interval, and a counter that did not
 * go backwards (a statistics reset or a restarted server): otherwise that
 * rate is absent from the sample. The database's growth is not a counter:
 * it may be negative (a VACUUM FULL, a dropped table).
 */
#include "health_collect.h"

#include "core/alloc.h"
#include "core/error.h"

struct dbmgmt_health_sampler {
    dbmgmt_health *prev;
};

static const struct {
    int32_t counter;
    int32_t rate;
    double per_seconds; /* the rate's unit of time */
    int may_fall;       /* not a counter: a fall is a negative rate */
} rates[] = {
    {DBMGMT_HEALTH_QUERIES_TOTAL, DBMGMT_HEALTH_QUERIES_PER_SECOND, 1, 0},
    {DBMGMT_HEALTH_TRANSACTIONS_TOTAL, DBMGMT_HEALTH_TRANSACTIONS_PER_SECOND, 1, 0},
    {DBMGMT_HEALTH_SLOW_QUERIES_TOTAL, DBMGMT_HEALTH_SLOW_QUERIES_PER_MINUTE, 60, 0},
    {DBMGMT_HEALTH_DEADLOCKS_TOTAL, DBMGMT_HEALTH_DEADLOCKS_PER_HOUR, 3600, 0},
    {DBMGMT_HEALTH_DATABASE_SIZE_BYTES, DBMGMT_HEALTH_GROWTH_BYTES_PER_DAY, 86400, 1},
};

static void add_rates(dbmgmt_health *h, const dbmgmt_health *prev)
{
    double dt = (double)(h->collected_at_ms - prev->collected_at_ms) / 1000.0;
    if (dt <= 0 || h->engine != prev->engine)
        return;
    for (size_t i = 0; i < sizeof rates / sizeof rates[0]; i++) {
        int32_t m = rates[i].counter;
        if (!h->present[m] || !prev->present[m])
            continue;
        double delta = h->value[m] - prev->value[m];
        if (delta < 0 && !rates[i].may_fall)
            continue;
        dm_health_set(h, rates[i].rate, delta / dt * rates[i].per_seconds);
    }
}

DBMGMT_API int dbmgmt_health_sampler_new(dbmgmt_health_sampler **out)
{
    if (!out)
        return dm_error_invalid("dbmgmt_health_sampler_new", "out is NULL");
    *out = dm_calloc(1, sizeof **out);
    return *out ? DBMGMT_OK
                : dm_error_set(NULL, DBMGMT_ERR_NOMEM, "out of memory making a health sampler");
}

DBMGMT_API void dbmgmt_health_sampler_free(dbmgmt_health_sampler *s)
{
    if (!s)
        return;
    dbmgmt_health_free(s->prev);
    dm_free(s);
}

DBMGMT_API int dbmgmt_health_sample_at(dbmgmt_health_sampler *s, dbmgmt_conn *conn,
                                       dbmgmt_pool *pool, int64_t now_ms, dbmgmt_health **out)
{
    const char *fn = "dbmgmt_health_sample";
    if (!out)
        return dm_error_invalid(fn, "out is NULL");
    *out = NULL;
    if (!s)
        return dm_error_invalid(fn, "s is NULL");
    if (!conn && !pool)
        return dm_error_invalid(fn, "conn and pool are both NULL");
    dbmgmt_health *h = NULL;
    int rc = dm_health_collect_at(conn, pool, now_ms, &h);
    if (rc != DBMGMT_OK)
        return rc; /* the previous snapshot stays the base of the next rates */
    if (s->prev)
        add_rates(h, s->prev);
    dbmgmt_health_free(s->prev);
    __atomic_add_fetch(&h->refs, 1, __ATOMIC_RELAXED); /* the sampler's reference */
    s->prev = h;
    *out = h;
    return DBMGMT_OK;
}

DBMGMT_API int dbmgmt_health_sample(dbmgmt_health_sampler *s, dbmgmt_conn *conn,
                                    dbmgmt_pool *pool, dbmgmt_health **out)
{
    return dbmgmt_health_sample_at(s, conn, pool, dm_health_wall_ms(), out);
}
