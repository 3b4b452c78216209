/* Pool metrics by enum, and the same as JSON (DESIGN §2, §6). */
#include "pool_impl.h"

#include <stdio.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/error.h"
#include "core/json.h"

/*
 * Acquire waits go into a log-linear histogram of microseconds: values
 * below 8 have a bucket each, then every power of two is split in four, so
 * a percentile is exact to within 25 % with no allocation and O(1) record.
 */
static int wait_bucket(int64_t us)
{
    if (us < 8)
        return us < 0 ? 0 : (int)us;
    int msb = 63 - __builtin_clzll((unsigned long long)us);
    int b = 8 + (msb - 3) * 4 + (int)((us >> (msb - 2)) & 3);
    return b < DM_POOL_WAIT_BUCKETS ? b : DM_POOL_WAIT_BUCKETS - 1;
}

/* The largest value that falls in bucket b. */
static int64_t bucket_upper(int b)
{
    if (b < 8)
        return b;
    int msb = (b - 8) / 4 + 3;
    int64_t quarter = (int64_t)1 << (msb - 2);
    return ((int64_t)1 << msb) + quarter * ((b - 8) % 4 + 1) - 1;
}

void dm_pool_wait_record(dbmgmt_pool *pool, int64_t wait_us)
{
    pool->wait_hist[wait_bucket(wait_us)]++;
}

int64_t dm_pool_wait_percentile(const dbmgmt_pool *pool, int permille, int64_t extra_zero)
{
    int64_t count = extra_zero;
    for (int b = 0; b < DM_POOL_WAIT_BUCKETS; b++)
        count += pool->wait_hist[b];
    if (count == 0)
        return 0;
    int64_t rank = (count * permille + 999) / 1000, seen = extra_zero;
    if (seen >= rank)
        return 0;
    for (int b = 0; b < DM_POOL_WAIT_BUCKETS; b++) {
        seen += pool->wait_hist[b];
        if (seen >= rank)
            return bucket_upper(b);
    }
    return bucket_upper(DM_POOL_WAIT_BUCKETS - 1);
}

#define LAST_METRIC DBMGMT_POOL_REPLICA_LAG_MS

typedef struct pool_snapshot {
    int64_t v[LAST_METRIC + 1];
} pool_snapshot;

/* All metrics at one instant (lock held). */
static void snapshot_locked(dbmgmt_pool *pool, pool_snapshot *snap)
{
    int64_t *v = snap->v;
    int64_t created = 0, destroyed = 0;
    for (int i = 0; i <= LAST_METRIC; i++)
        v[i] = 0;
    v[DBMGMT_POOL_REPLICA_LAG_MS] = -1;
    for (int i = 0; i < pool->ngroups; i++) {
        const pool_group *g = &pool->groups[i];
        int32_t idle, active;
        dm_pool_group_counts(g, &idle, &active);
        v[DBMGMT_POOL_TOTAL] += dm_pool_group_total(g);
        v[DBMGMT_POOL_IDLE] += idle;
        v[DBMGMT_POOL_ACTIVE] += active;
        v[DBMGMT_POOL_WAITING] += g->waiting;
        created += g->created;
        destroyed += g->destroyed;
        if (i > 0 && g->role == DM_ROLE_STANDBY && g->lag_ms > v[DBMGMT_POOL_REPLICA_LAG_MS])
            v[DBMGMT_POOL_REPLICA_LAG_MS] = g->lag_ms;
    }
    v[DBMGMT_POOL_MAX] = (int64_t)pool->cfg.max_size * pool->ngroups;
    int64_t now = dm_pool_now_us();
    int64_t lane_acquires, lane_busy_us;
    dm_pool_lane_stats(pool, now, &lane_acquires, &lane_busy_us);
    v[DBMGMT_POOL_ACQUIRES] = pool->acquires + lane_acquires;
    v[DBMGMT_POOL_TIMEOUTS] = pool->timeouts;
    v[DBMGMT_POOL_CREATED] = created;
    v[DBMGMT_POOL_DESTROYED] = destroyed;
    v[DBMGMT_POOL_VALIDATION_FAILURES] = pool->validation_failures;
    v[DBMGMT_POOL_LEAKS] = pool->leaks;
    /* a lane acquire never waits */
    v[DBMGMT_POOL_WAIT_P50_US] = dm_pool_wait_percentile(pool, 500, lane_acquires);
    v[DBMGMT_POOL_WAIT_P99_US] = dm_pool_wait_percentile(pool, 990, lane_acquires);
    dm_pool_busy_update(pool, now);
    int64_t capacity = v[DBMGMT_POOL_MAX] * (now - pool->opened_us);
    int64_t busy = pool->busy_area_us + lane_busy_us;
    v[DBMGMT_POOL_UTILISATION_PCT] = capacity > 0 ? busy * 100 / capacity : 0;
}

DBMGMT_API int64_t dbmgmt_pool_metric(const dbmgmt_pool *cpool, int32_t which)
{
    if (!cpool || which < 0 || which > LAST_METRIC)
        return -1;
    if (dm_pool_check_fork(cpool, "dbmgmt_pool_metric") != DBMGMT_OK)
        return -1;
    /* The lock and the utilisation clock change; the pool as seen does not. */
    dbmgmt_pool *pool = (dbmgmt_pool *)(uintptr_t)cpool;
    pool_snapshot snap;
    pthread_mutex_lock(&pool->lock);
    snapshot_locked(pool, &snap);
    pthread_mutex_unlock(&pool->lock);
    return snap.v[which];
}

static const char *const metric_names[] = {
    "total", "idle", "active", "waiting", "max", "acquires", "timeouts", "created",
    "destroyed", "validation_failures", "leaks", "wait_p50_us", "wait_p99_us",
    "utilisation_pct", "replica_lag_ms",
};

/* One open connection as the stats show it: the schedule the pool keeps
 * for it (age, when it retires), so a host or a test can see the lifetime
 * stagger itself rather than infer it from when events happened to run. */
typedef struct conn_view {
    uint32_t id;
    pool_slot_state state;
    int64_t age_ms;
    int64_t lifetime_ms;   /* the age it retires at; -1: no lifetime */
    int64_t retires_in_ms; /* negative: overdue, maintenance has not run yet */
} conn_view;

typedef struct group_view {
    char shown[512];
    char last_error[DM_POOL_ERR_MAX];
    int32_t total, idle, active, waiting, down;
    int64_t created, destroyed;
    int server_role, serves_reads, probe;
    int64_t lag_ms, lag_bytes;
    char position[64];
    conn_view *conns; /* max_size of them, nconns used */
    int32_t nconns;
} group_view;

static const char *slot_state_name(pool_slot_state state)
{
    switch (state) {
    case SLOT_IDLE:
    case SLOT_PARKED: return "idle";
    case SLOT_BORROWED:
    case SLOT_LANE: return "active";
    case SLOT_CLOSING: return "closing";
    default: return "opening";
    }
}

/* The group's open connections at `now` (lock held), in slot order. */
static void conns_locked(const pool_group *g, group_view *gv, int64_t now)
{
    gv->nconns = 0;
    for (int32_t i = 0; i < g->pool->cfg.max_size; i++) {
        const pool_slot *s = &g->slots[i];
        pool_slot_state state = s->state;
        if (state == SLOT_FREE || state == SLOT_OPENING)
            continue;
        conn_view *cv = &gv->conns[gv->nconns++];
        cv->id = s->id;
        cv->state = state;
        cv->age_ms = (now - s->created_us) / 1000;
        cv->lifetime_ms = -1;
        cv->retires_in_ms = 0;
        if (s->retire_at_us != INT64_MAX) {
            cv->lifetime_ms = (s->retire_at_us - s->created_us) / 1000;
            cv->retires_in_ms = (s->retire_at_us - now) / 1000;
        }
    }
}

static void write_config(dm_json *j, const dbmgmt_pool_config *cfg)
{
    dm_json_key(j, "config");
    dm_json_object_begin(j);
    dm_json_key(j, "min_idle");
    dm_json_int(j, cfg->min_idle);
    dm_json_key(j, "max_size");
    dm_json_int(j, cfg->max_size);
    dm_json_key(j, "acquire_timeout_ms");
    dm_json_int(j, cfg->acquire_timeout_ms);
    dm_json_key(j, "idle_timeout_ms");
    dm_json_int(j, cfg->idle_timeout_ms);
    dm_json_key(j, "max_lifetime_ms");
    dm_json_int(j, cfg->max_lifetime_ms);
    dm_json_key(j, "validation_interval_ms");
    dm_json_int(j, cfg->validation_interval_ms);
    dm_json_key(j, "leak_threshold_ms");
    dm_json_int(j, cfg->leak_threshold_ms);
    dm_json_key(j, "background_thread");
    dm_json_bool(j, cfg->background_thread);
    dm_json_object_end(j);
}

static void write_group(dm_json *j, const group_view *gv, int index)
{
    dm_json_object_begin(j);
    dm_json_key(j, "role");
    dm_json_string(j, index == 0 ? "primary" : "replica");
    dm_json_key(j, "dsn");
    dm_json_string(j, gv->shown);
    dm_json_key(j, "up");
    dm_json_bool(j, !gv->down);
    dm_json_key(j, "total");
    dm_json_int(j, gv->total);
    dm_json_key(j, "idle");
    dm_json_int(j, gv->idle);
    dm_json_key(j, "active");
    dm_json_int(j, gv->active);
    dm_json_key(j, "waiting");
    dm_json_int(j, gv->waiting);
    dm_json_key(j, "created");
    dm_json_int(j, gv->created);
    dm_json_key(j, "destroyed");
    dm_json_int(j, gv->destroyed);
    dm_json_key(j, "last_connect_error");
    dm_json_string(j, gv->last_error[0] ? gv->last_error : NULL);
    /* what the last replication check found (replicas.c); null: not checked */
    dm_json_key(j, "server_role");
    dm_json_string(j, gv->server_role == DM_ROLE_PRIMARY   ? "primary"
                      : gv->server_role == DM_ROLE_STANDBY ? "standby"
                                                           : NULL);
    dm_json_key(j, "position");
    dm_json_string(j, gv->position[0] ? gv->position : NULL);
    dm_json_key(j, "check_connection");
    dm_json_bool(j, gv->probe);
    if (index > 0) {
        dm_json_key(j, "serves_reads");
        dm_json_bool(j, gv->serves_reads);
        dm_json_key(j, "lag_ms");
        if (gv->lag_ms < 0)
            dm_json_null(j);
        else
            dm_json_int(j, gv->lag_ms);
        dm_json_key(j, "lag_bytes");
        if (gv->lag_bytes < 0)
            dm_json_null(j);
        else
            dm_json_int(j, gv->lag_bytes);
    }
    dm_json_key(j, "connections");
    dm_json_array_begin(j);
    for (int32_t i = 0; i < gv->nconns; i++) {
        const conn_view *cv = &gv->conns[i];
        dm_json_object_begin(j);
        dm_json_key(j, "id");
        dm_json_int(j, cv->id);
        dm_json_key(j, "state");
        dm_json_string(j, slot_state_name(cv->state));
        dm_json_key(j, "age_ms");
        dm_json_int(j, cv->age_ms);
        dm_json_key(j, "lifetime_ms");
        if (cv->lifetime_ms < 0)
            dm_json_null(j);
        else
            dm_json_int(j, cv->lifetime_ms);
        dm_json_key(j, "retires_in_ms");
        if (cv->lifetime_ms < 0)
            dm_json_null(j);
        else
            dm_json_int(j, cv->retires_in_ms);
        dm_json_object_end(j);
    }
    dm_json_array_end(j);
    dm_json_object_end(j);
}

static void free_views(group_view *views, int n)
{
    for (int i = 0; views && i < n; i++)
        dm_free(views[i].conns);
    dm_free(views);
}

DBMGMT_API char *dbmgmt_pool_stats_json(const dbmgmt_pool *cpool)
{
    if (!cpool) {
        dm_error_invalid("dbmgmt_pool_stats_json", "pool is NULL");
        return NULL;
    }
    if (dm_pool_check_fork(cpool, "dbmgmt_pool_stats_json") != DBMGMT_OK)
        return NULL;
    dbmgmt_pool *pool = (dbmgmt_pool *)(uintptr_t)cpool;
    pool_snapshot snap;
    group_view *views = dm_calloc((size_t)pool->ngroups, sizeof *views);
    int ok = views != NULL;
    for (int i = 0; ok && i < pool->ngroups; i++)
        ok = (views[i].conns = dm_calloc((size_t)pool->cfg.max_size, sizeof(conn_view))) != NULL;
    if (!ok) {
        free_views(views, pool->ngroups);
        dm_error_set(NULL, DBMGMT_ERR_NOMEM, "out of memory rendering pool stats");
        return NULL;
    }
    pthread_mutex_lock(&pool->lock);
    snapshot_locked(pool, &snap);
    int64_t now = dm_pool_now_us();
    for (int i = 0; i < pool->ngroups; i++) {
        const pool_group *g = &pool->groups[i];
        group_view *gv = &views[i];
        snprintf(gv->shown, sizeof gv->shown, "%s", g->shown);
        snprintf(gv->last_error, sizeof gv->last_error, "%s", g->last_error);
        gv->total = dm_pool_group_total(g);
        dm_pool_group_counts(g, &gv->idle, &gv->active);
        gv->waiting = g->waiting;
        gv->down = g->down;
        gv->created = g->created;
        gv->destroyed = g->destroyed;
        gv->server_role = g->role;
        gv->serves_reads = i > 0 && dm_pool_replica_eligible(g, now);
        gv->probe = g->probe != NULL;
        gv->lag_ms = g->lag_ms;
        gv->lag_bytes = g->lag_bytes;
        snprintf(gv->position, sizeof gv->position, "%s", g->position);
        conns_locked(g, gv, now);
    }
    pthread_mutex_unlock(&pool->lock);

    dm_buf b = DM_BUF_INIT;
    dm_json j;
    dm_json_init(&j, &b);
    dm_json_object_begin(&j);
    for (int i = 0; i <= LAST_METRIC; i++) {
        dm_json_key(&j, metric_names[i]);
        dm_json_int(&j, snap.v[i]);
    }
    write_config(&j, &pool->cfg);
    dm_json_key(&j, "servers");
    dm_json_array_begin(&j);
    for (int i = 0; i < pool->ngroups; i++)
        write_group(&j, &views[i], i);
    dm_json_array_end(&j);
    dm_json_object_end(&j);
    free_views(views, pool->ngroups);
    char *out = dm_buf_detach(&b);
    if (!out || dm_json_failed(&j)) {
        dm_free(out);
        dm_error_set(NULL, DBMGMT_ERR_NOMEM, "out of memory rendering pool stats");
        return NULL;
    }
    return out;
}
