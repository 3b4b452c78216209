/*
 * Following the cluster (issue 18, docs/postgres-cluster.md): every check
 * interval the maintenance work (never acquire) asks each server of the
 * pool for its replication state through a connection of its own (the
 * probe): the primary's write position, each replica's replay position,
 * whether it is still a standby, and when its last replayed commit was
 * made. From these it keeps per replica:
 *
 *   lag = min(now - T, replay age)  when the replica is behind, else 0,
 *
 * where T is the time of the newest primary sample the replica has
 * replayed past (the samples form a ring, one per check). Both terms are
 * upper bounds of how old the oldest change is that the replica has not
 * replayed: it has everything the primary had at T, and the first change
 * it lacks was made after its last replayed commit. So a bound on lag is a
 * bound on staleness, and a replica whose lag is unknown is treated as
 * past any bound.
 *
 * Also here: a replica that stopped being a standby (promoted) serves no
 * more reads; a primary that turned standby (switchover) or went away has
 * its connections dropped (dm_pool_group_stale) so that new ones find the
 * read-write host through the DSN; and read-your-writes
 * (dbmgmt_pool_acquire_read_after).
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/error.h"
#include "pool_impl.h"

#define MAX_EVENTS (2 * (1 + DM_POOL_MAX_REPLICAS))

typedef struct pending_event {
    int32_t event;
    char message[DM_POOL_ERR_MAX];
} pending_event;

typedef struct check_events {
    pending_event items[MAX_EVENTS];
    int n;
} check_events;

static void queue_event(check_events *ev, int32_t event, const char *fmt, ...) DM_PRINTF(3, 4);

static void queue_event(check_events *ev, int32_t event, const char *fmt, ...)
{
    if (ev->n >= MAX_EVENTS)
        return;
    pending_event *e = &ev->items[ev->n++];
    e->event = event;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
}

void dm_pool_group_stale(pool_group *g, int64_t now)
{
    atomic_store(&g->stale_before_us, now);
    g->suspect_before_us = now;
}

int dm_pool_replica_eligible(const pool_group *g, int64_t now)
{
    if (g->down && now < g->next_connect_us)
        return 0;
    if (g->role == DM_ROLE_PRIMARY && g->was_standby)
        return 0; /* promoted: a replica no more (one that never was a standby, such as
                     the primary's own DSN given as a replica in development, still reads) */
    if (g->pool->cfg.max_replica_lag_ms >= 0 && (g->role != DM_ROLE_STANDBY || g->lagging))
        return 0;
    return 1;
}

/* The server's replication state through the group's probe, opened on
 * first use and closed after a failure (the next check opens a new one, so
 * a multi-host DSN finds the current host). Only the checking thread uses
 * probes; the pointer is written under the lock for the stats. */
static int probe_state(dbmgmt_pool *pool, pool_group *g, dm_repl_state *st, char *err,
                       size_t errcap)
{
    dbmgmt_conn *probe = g->probe;
    if (!probe) {
        int rc = dbmgmt_conn_open(&probe, g->dsn);
        if (rc != DBMGMT_OK) {
            snprintf(err, errcap, "%s", dbmgmt_errmsg());
            return rc;
        }
        pthread_mutex_lock(&pool->lock);
        g->probe = probe;
        pthread_mutex_unlock(&pool->lock);
    }
    dm_error_reset(&probe->err);
    int rc = probe->drv->repl_state(probe->dc, st, &probe->err);
    if (rc != DBMGMT_OK) {
        snprintf(err, errcap, "%.*s", (int)(errcap > 1 ? errcap - 1 : 0), probe->err.msg);
        pthread_mutex_lock(&pool->lock);
        g->probe = NULL;
        pthread_mutex_unlock(&pool->lock);
        dbmgmt_conn_close(probe);
    }
    return rc;
}

/* Drop the probe (its server is not the one the group wants). */
static void probe_drop(dbmgmt_pool *pool, pool_group *g)
{
    pthread_mutex_lock(&pool->lock);
    dbmgmt_conn *probe = g->probe;
    g->probe = NULL;
    pthread_mutex_unlock(&pool->lock);
    dbmgmt_conn_close(probe);
}

/* position a minus b, or 0 with *ok 0 when they cannot be compared. */
static int64_t position_diff(const dm_driver *drv, const char *a, const char *b, int *ok)
{
    int64_t d = 0;
    *ok = *a && *b && drv->position_diff(a, b, &d, NULL) == DBMGMT_OK;
    return *ok ? d : 0;
}

/* Locked: the lag of a replica that replayed up to st (see the top). */
static void replica_lag(dbmgmt_pool *pool, const dm_driver *drv, const dm_repl_state *st,
                        const char *primary_now, int64_t now, int64_t *lag_ms,
                        int64_t *lag_bytes)
{
    int ok;
    *lag_ms = -1;
    *lag_bytes = -1;
    if (*primary_now) {
        int64_t behind = position_diff(drv, primary_now, st->position, &ok);
        if (ok && behind <= 0) {
            *lag_ms = *lag_bytes = 0;
            return;
        }
        if (ok)
            *lag_bytes = behind;
    }
    /* µs since the newest sample the replica has replayed past; none in
     * the ring (just opened, or further behind than the ring reaches):
     * unknown, as "since the oldest sample" would be a lower bound */
    int64_t since = -1;
    for (int k = 1; k <= pool->nsamples; k++) {
        int i = (pool->sample_head - k + DM_POOL_SAMPLES) % DM_POOL_SAMPLES;
        int64_t d = position_diff(drv, pool->samples[i].position, st->position, &ok);
        if (!ok)
            break;
        if (d <= 0) {
            since = now - pool->samples[i].at_us;
            break;
        }
    }
    int64_t a = since >= 0 ? (since + 999) / 1000 : -1, b = st->replay_age_ms;
    *lag_ms = a >= 0 && b >= 0 ? (a < b ? a : b) : a >= 0 ? a : b;
}

/* Locked: what a replica's check found, and the events it makes. */
static void replica_update(dbmgmt_pool *pool, pool_group *g, int rc, const dm_repl_state *st,
                           const char *err, const char *primary_now, int64_t now,
                           check_events *ev)
{
    int32_t bound = pool->cfg.max_replica_lag_ms;
    int was_lagging = g->lagging;
    g->checked_us = now;
    if (rc != DBMGMT_OK) {
        g->lag_ms = g->lag_bytes = -1;
        g->lagging = bound >= 0;
        if (g->lagging && !was_lagging)
            queue_event(ev, DBMGMT_POOL_EVENT_REPLICA_LAGGING,
                        "replica %s: its lag cannot be measured (%s): no reads until it can",
                        g->shown, err);
        return;
    }
    snprintf(g->position, sizeof g->position, "%s", st->position);
    g->multi_primary = st->multi_primary;
    if (!st->standby && !st->multi_primary) { /* a Galera node stays a replica for reads */
        if (g->role != DM_ROLE_PRIMARY && g->was_standby)
            queue_event(ev, DBMGMT_POOL_EVENT_REPLICA_PROMOTED,
                        "replica %s is not a standby any more (promoted): it serves no reads "
                        "as a replica",
                        g->shown);
        g->role = DM_ROLE_PRIMARY;
        g->lag_ms = g->lag_bytes = -1;
        g->lagging = 0;
        return;
    }
    g->role = DM_ROLE_STANDBY;
    g->was_standby = 1;
    replica_lag(pool, pool->drv, st, primary_now, now, &g->lag_ms, &g->lag_bytes);
    g->lagging = bound >= 0 && (g->lag_ms < 0 || g->lag_ms > bound);
    if (g->lagging && !was_lagging)
        queue_event(ev, DBMGMT_POOL_EVENT_REPLICA_LAGGING,
                    "replica %s is %lld ms behind the primary (bound %d ms): no reads until it "
                    "catches up",
                    g->shown, (long long)g->lag_ms, (int)bound);
    else if (!g->lagging && was_lagging)
        queue_event(ev, DBMGMT_POOL_EVENT_REPLICA_CAUGHT_UP,
                    "replica %s caught up (%lld ms behind, bound %d ms): it serves reads again",
                    g->shown, (long long)g->lag_ms, (int)bound);
}

void dm_pool_replicas_check(dbmgmt_pool *pool, int force)
{
    int64_t now = dm_pool_now_us();
    pthread_mutex_lock(&pool->lock);
    if (!pool->repl_next_check_us || pool->repl_checking || pool->closing ||
        (!force && now < pool->repl_next_check_us)) {
        pthread_mutex_unlock(&pool->lock);
        return;
    }
    pool->repl_checking = 1;
    pool->repl_next_check_us = now + (int64_t)pool->cfg.replica_check_interval_ms * 1000;
    int ngroups = pool->ngroups;
    pthread_mutex_unlock(&pool->lock);

    /* The primary first: a replica that has its position now has
     * everything the primary had when the query was sent. */
    pool_group *primary = &pool->groups[0];
    dm_repl_state ps, rs[DM_POOL_MAX_REPLICAS];
    char perr[DM_POOL_ERR_MAX], rerr[DM_POOL_MAX_REPLICAS][DM_POOL_ERR_MAX];
    int rrc[DM_POOL_MAX_REPLICAS];
    int64_t sampled_at = dm_pool_now_us();
    int prc = probe_state(pool, primary, &ps, perr, sizeof perr);
    int demoted = prc == DBMGMT_OK && ps.standby;
    if (demoted)
        probe_drop(pool, primary);
    for (int i = 1; i < ngroups; i++)
        rrc[i - 1] = probe_state(pool, &pool->groups[i], &rs[i - 1], rerr[i - 1], DM_POOL_ERR_MAX);

    check_events ev;
    ev.n = 0;
    pthread_mutex_lock(&pool->lock);
    now = dm_pool_now_us();
    char primary_now[64] = "";
    if (prc == DBMGMT_OK && !ps.standby) {
        snprintf(primary_now, sizeof primary_now, "%s", ps.position);
        snprintf(pool->samples[pool->sample_head].position, sizeof pool->samples[0].position,
                 "%s", ps.position);
        pool->samples[pool->sample_head].at_us = sampled_at;
        pool->sample_head = (pool->sample_head + 1) % DM_POOL_SAMPLES;
        if (pool->nsamples < DM_POOL_SAMPLES)
            pool->nsamples++;
        snprintf(primary->position, sizeof primary->position, "%s", ps.position);
        primary->role = DM_ROLE_PRIMARY;
    }
    primary->checked_us = now;
    if (demoted && primary->role != DM_ROLE_STANDBY) {
        primary->role = DM_ROLE_STANDBY;
        dm_pool_group_stale(primary, now);
        queue_event(&ev, DBMGMT_POOL_EVENT_PRIMARY_CHANGED,
                    "the primary %s is a standby now (a switchover or failover): its "
                    "connections are dropped; new ones look for the read-write host",
                    primary->shown);
    }
    for (int i = 1; i < ngroups; i++)
        replica_update(pool, &pool->groups[i], rrc[i - 1], &rs[i - 1], rerr[i - 1],
                       primary_now, now, &ev);
    pool->repl_checking = 0;
    pthread_mutex_unlock(&pool->lock);
    for (int i = 0; i < ev.n; i++)
        dm_pool_emit(pool, ev.items[i].event, "%s", ev.items[i].message);
}

void dm_pool_replicas_close(dbmgmt_pool *pool)
{
    for (int i = 0; i < pool->ngroups; i++) {
        dbmgmt_conn *probe = pool->groups[i].probe;
        pool->groups[i].probe = NULL;
        dbmgmt_conn_close(probe);
    }
}

/* ---- read your writes --------------------------------------------------------------- */

/* Locked: a replica that may serve reads, preferring one known to have
 * replayed past position (*caught_up 1); -1 when none may. A Galera node
 * is never taken as caught up from its last known seqno: its
 * wsrep_last_committed can count a transaction a moment before reads see
 * it, so each causal read there goes through the wsrep_sync_wait barrier
 * (measured: 1 stale read in 2000 with the shortcut). */
static int choose_after(dbmgmt_pool *pool, const dm_driver *drv, const char *position,
                        int64_t now, int *caught_up)
{
    int replicas = pool->ngroups - 1, any = -1;
    uint32_t start = pool->read_cursor++;
    for (int k = 0; k < replicas; k++) {
        int i = 1 + (int)((start + (uint32_t)k) % (uint32_t)replicas);
        pool_group *g = &pool->groups[i];
        if (!dm_pool_replica_eligible(g, now))
            continue;
        int ok;
        if (!g->multi_primary && position_diff(drv, g->position, position, &ok) >= 0 && ok) {
            *caught_up = 1;
            return i;
        }
        if (any < 0)
            any = i;
    }
    *caught_up = 0;
    return any;
}

DBMGMT_API int dbmgmt_pool_acquire_read_after(dbmgmt_pool *pool, dbmgmt_conn **out,
                                              const char *position, int32_t timeout_ms)
{
    static const char fn[] = "dbmgmt_pool_acquire_read_after";
    if (!out)
        return dm_error_invalid(fn, "out is NULL");
    *out = NULL;
    if (!pool)
        return dm_error_invalid(fn, "pool is NULL");
    if (!position || !*position)
        return dbmgmt_pool_acquire_read(pool, out, timeout_ms);
    int rc = dm_pool_check_fork(pool, fn);
    if (rc != DBMGMT_OK)
        return rc;
    if (timeout_ms < 0)
        timeout_ms = pool->cfg.acquire_timeout_ms;
    const dm_driver *drv = pool->drv;
    if (pool->ngroups == 1 || !drv->position_diff)
        return dm_pool_acquire_group(pool, out, timeout_ms, 0, fn);
    int64_t diff;
    dm_error perr;
    dm_error_reset(&perr);
    if ((rc = drv->position_diff(position, position, &diff, &perr)) != DBMGMT_OK)
        return dm_error_copy(NULL, &perr);
    int64_t deadline = dm_pool_now_us() + (int64_t)timeout_ms * 1000;

    pthread_mutex_lock(&pool->lock);
    int caught_up = 0;
    int group = choose_after(pool, drv, position, dm_pool_now_us(), &caught_up);
    int fail = group < 0 && pool->cfg.replica_fallback == DBMGMT_REPLICA_FALLBACK_FAIL;
    pthread_mutex_unlock(&pool->lock);
    if (fail) /* acquire_read says which replica is why */
        return dbmgmt_pool_acquire_read(pool, out, timeout_ms);
    if (group < 0)
        return dm_pool_acquire_group(pool, out, timeout_ms, 0, fn);
    dbmgmt_conn *conn = NULL;
    rc = dm_pool_acquire_group(pool, &conn, timeout_ms, group, fn);
    if (rc == DBMGMT_OK && caught_up) {
        *out = conn;
        return DBMGMT_OK;
    }
    if (rc == DBMGMT_OK) {
        int64_t left_ms = (deadline - dm_pool_now_us()) / 1000;
        dm_error_reset(&conn->err);
        int reached = drv->wait_position(conn->dc, position,
                                         (int32_t)(left_ms > 0 ? left_ms : 0), &conn->err);
        if (reached == 1) {
            pthread_mutex_lock(&pool->lock);
            pool_group *g = &pool->groups[group];
            int ok;
            if (position_diff(drv, position, g->position, &ok) > 0 || !ok)
                snprintf(g->position, sizeof g->position, "%s", position);
            pthread_mutex_unlock(&pool->lock);
            *out = conn;
            return DBMGMT_OK;
        }
        if (reached < 0 && conn->err.code == DBMGMT_ERR_CLOSED)
            conn->broken = 1;
        dbmgmt_pool_release(pool, conn); /* not there in time: the primary has it */
    }
    int64_t left_ms = (deadline - dm_pool_now_us()) / 1000;
    return dm_pool_acquire_group(pool, out, (int32_t)(left_ms > 0 ? left_ms : 0), 0, fn);
}
