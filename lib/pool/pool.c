/*
 * The pool's life (DESIGN §6, docs/pool.md): open, its groups (the primary
 * and the read replicas) and their slots, connecting, close and free.
 * Acquire and release are pool_acquire.c.
 */
#include "pool_impl.h"

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <time.h>

#include "core/alloc.h"
#include "core/dsn.h"
#include "core/error.h"
#include "core/log.h"

/* ---- process-wide: fork detection -------------------------------------- */

/* Bumped in every child process by a pthread_atfork handler, so a pool can
 * tell, with one relaxed load and no system call, that it was inherited. */
static atomic_uint fork_generation;
static pthread_once_t fork_handler_once = PTHREAD_ONCE_INIT;
/* Pool serial numbers, for the lane's thread-local caches (lane.c). */
static atomic_uint_fast64_t pool_serials;

static void count_fork_in_child(void)
{
    atomic_fetch_add_explicit(&fork_generation, 1u, memory_order_relaxed);
}

static void install_fork_handler(void)
{
    pthread_atfork(NULL, NULL, count_fork_in_child);
}

unsigned dm_pool_fork_generation(void)
{
    return atomic_load_explicit(&fork_generation, memory_order_relaxed);
}

int dm_pool_check_fork(const dbmgmt_pool *pool, const char *fn)
{
    if (pool->fork_generation == dm_pool_fork_generation())
        return DBMGMT_OK;
    return dm_error_set(NULL, DBMGMT_ERR_INVALID,
                        "%s: this pool was opened by the parent process; it cannot be used "
                        "after fork() (its connections' sockets belong to the parent): open "
                        "a new pool in the child", fn);
}

/* ---- small helpers ----------------------------------------------------- */

int64_t dm_pool_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t dm_pool_now_coarse_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

uint64_t dm_pool_random(dbmgmt_pool *pool)
{
    /* xorshift64*: per pool, under the lock; quality is ample for jitter. */
    uint64_t x = pool->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    pool->rng = x;
    return x * 2685821657736338717ull;
}

void dm_pool_emit(const dbmgmt_pool *pool, int32_t event, const char *fmt, ...)
{
    if (!pool->cfg.event_fn && !dm_log_enabled(DBMGMT_LOG_INFO))
        return;
    char msg[DM_POOL_ERR_MAX + 256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    dm_redact(msg, sizeof msg);
    int warn = event == DBMGMT_POOL_EVENT_LEAK || event == DBMGMT_POOL_EVENT_BROKEN ||
               event == DBMGMT_POOL_EVENT_CONNECT_FAILED || event == DBMGMT_POOL_EVENT_EXHAUSTED;
    dm_log(warn ? DBMGMT_LOG_WARN : DBMGMT_LOG_INFO, "pool: %s", msg);
    if (pool->cfg.event_fn)
        pool->cfg.event_fn(pool->cfg.event_userdata, event, msg);
}

static void timespec_at(struct timespec *ts, int64_t at_us)
{
    ts->tv_sec = (time_t)(at_us / 1000000);
    ts->tv_nsec = (long)(at_us % 1000000) * 1000;
}

void dm_pool_cond_wait_until(pthread_cond_t *cond, pthread_mutex_t *lock, int64_t at_us)
{
    struct timespec ts;
    timespec_at(&ts, at_us);
    pthread_cond_timedwait(cond, lock, &ts);
}

/* ---- locked helpers ---------------------------------------------------- */

int32_t dm_pool_group_total(const pool_group *g)
{
    return g->idle + g->active + g->closing + g->laned;
}

void dm_pool_busy_update(dbmgmt_pool *pool, int64_t now)
{
    int32_t active = 0;
    for (int i = 0; i < pool->ngroups; i++)
        active += pool->groups[i].active;
    if (now <= pool->busy_changed_us)
        return; /* the coarse clock of the hot path lags the precise one a little */
    pool->busy_area_us += active * (now - pool->busy_changed_us);
    pool->busy_changed_us = now;
}

int dm_pool_can_open(const pool_group *g, int64_t now)
{
    if (g->pool->closing)
        return 0;
    if (dm_pool_group_total(g) + g->opening >= g->pool->cfg.max_size)
        return 0;
    if (g->down) /* back off, and probe with one connection at a time */
        return now >= g->next_connect_us && g->opening == 0;
    return 1;
}

pool_slot *dm_pool_slot_reserve(pool_group *g)
{
    for (int32_t i = 0; i < g->pool->cfg.max_size; i++) {
        pool_slot *s = &g->slots[i];
        if (s->state == SLOT_FREE) {
            s->state = SLOT_OPENING;
            s->id = ++g->pool->next_id;
            g->opening++;
            return s;
        }
    }
    return NULL;
}

void dm_pool_slot_released(pool_group *g, pool_slot *s)
{
    dbmgmt_pool *pool = g->pool;
    s->conn = NULL;
    s->state = SLOT_FREE;
    g->closing--;
    g->destroyed++;
    dm_pool_wake_head(g); /* room for a new connection */
    if (pool->closing)
        pthread_cond_broadcast(&pool->drain_cond);
}

/* ---- connecting -------------------------------------------------------- */

static void pool_conn_return(dbmgmt_conn *conn)
{
    pool_slot *s = conn->pool_slot;
    dbmgmt_pool_release(s->group->pool, conn);
}

void dm_pool_conn_destroy(dbmgmt_conn *conn)
{
    if (!conn)
        return;
    conn->pool_return = NULL;
    conn->pool_slot = NULL;
    dbmgmt_conn_close(conn);
}

int dm_pool_slot_connect(pool_group *g, pool_slot *s, char *err, size_t errcap)
{
    dbmgmt_conn *conn = NULL;
    int rc = dbmgmt_conn_open(&conn, g->dsn);
    if (rc != DBMGMT_OK) {
        snprintf(err, errcap, "%s", dbmgmt_errmsg());
        return rc;
    }
    const char *init_sql = g->pool->cfg.init_sql;
    if (init_sql && (rc = dbmgmt_conn_exec(conn, init_sql)) != DBMGMT_OK) {
        snprintf(err, errcap, "init SQL failed: %s", dbmgmt_conn_errmsg(conn));
        dbmgmt_conn_close(conn);
        return rc;
    }
    conn->pool_slot = s;
    conn->pool_return = pool_conn_return;
    s->conn = conn;
    return DBMGMT_OK;
}

/* Lifetime with jitter: up to 2.5 % shorter at random, then moved earlier
 * when another connection of the group retires within `spacing`, so no two
 * retire together (no reconnect storm) even when all were opened at once.
 * Never later than the configured lifetime; never earlier than half of it. */
static int64_t retirement_time(pool_group *g, const pool_slot *self, int64_t now)
{
    int64_t lifetime = (int64_t)g->pool->cfg.max_lifetime_ms * 1000;
    if (lifetime <= 0)
        return INT64_MAX;
    int64_t spacing = lifetime / 64;
    int64_t by_size = lifetime / (3 * (int64_t)g->pool->cfg.max_size);
    if (by_size < spacing)
        spacing = by_size;
    int64_t t = now + lifetime - (int64_t)(dm_pool_random(g->pool) % (uint64_t)(lifetime / 40 + 1));
    int64_t earliest = now + lifetime / 2;
    for (int32_t round = 0; round <= g->pool->cfg.max_size; round++) {
        const pool_slot *clash = NULL;
        for (int32_t i = 0; i < g->pool->cfg.max_size && !clash; i++) {
            const pool_slot *o = &g->slots[i];
            if (o != self && o->state != SLOT_FREE && o->state != SLOT_OPENING &&
                o->retire_at_us != INT64_MAX && o->retire_at_us > t - spacing &&
                o->retire_at_us < t + spacing)
                clash = o;
        }
        if (!clash)
            return t;
        if (clash->retire_at_us - spacing < earliest)
            return t; /* too crowded to spread further: keep the jittered time */
        t = clash->retire_at_us - spacing;
    }
    return t;
}

void dm_pool_connect_done(pool_group *g, pool_slot *s, int rc, const char *err, int64_t now,
                          int *was_down)
{
    *was_down = g->down;
    if (rc == DBMGMT_OK) {
        g->down = 0;
        g->failures = 0;
        g->created++;
        s->created_us = now;
        s->last_used_us = now;
        s->leak_reported = 0;
        s->retire_at_us = retirement_time(g, s, now);
        return;
    }
    g->opening--;
    s->state = SLOT_FREE;
    s->conn = NULL;
    g->last_status = rc;
    snprintf(g->last_error, sizeof g->last_error, "%s", err);
    if (rc == DBMGMT_ERR_NOMEM) { /* ours, not the server's: no backoff */
        dm_pool_wake_head(g);
        return;
    }
    g->down = 1;
    g->failures++;
    /* 50 ms doubling to 2 s, plus up to 25 % at random so a fleet of
     * services does not probe the returning server in step. */
    int64_t delay = 50000;
    for (int32_t i = 1; i < g->failures && delay < 2000000; i++)
        delay *= 2;
    if (delay > 2000000)
        delay = 2000000;
    delay += (int64_t)(dm_pool_random(g->pool) % (uint64_t)(delay / 4 + 1));
    g->next_connect_us = now + delay;
    dm_pool_wake_head(g); /* the head waiter re-plans around the backoff */
}

pool_slot *dm_pool_group_open_locked(dbmgmt_pool *pool, pool_group *g, int *status)
{
    *status = DBMGMT_OK;
    pool_slot *s = dm_pool_slot_reserve(g);
    if (!s)
        return NULL;
    pthread_mutex_unlock(&pool->lock);
    char err[DM_POOL_ERR_MAX];
    int64_t began = dm_pool_now_us();
    int rc = dm_pool_slot_connect(g, s, err, sizeof err);
    int64_t took = dm_pool_now_us() - began;
    if (rc == DBMGMT_OK)
        dm_log(DBMGMT_LOG_DEBUG, "pool: opened connection %u to %s", s->id, g->shown);
    pthread_mutex_lock(&pool->lock);
    int was_down;
    int64_t now = dm_pool_now_us();
    *status = rc;
    dm_pool_connect_done(g, s, rc, err, now, &was_down);
    if (rc == DBMGMT_OK)
        g->connect_avg_us = g->connect_avg_us ? (g->connect_avg_us * 7 + took) / 8 : took;
    int32_t failures = g->failures;
    if (rc == DBMGMT_OK && pool->closing) { /* opened too late: close it again */
        g->opening--;
        s->state = SLOT_CLOSING;
        g->closing++;
        pthread_mutex_unlock(&pool->lock);
        dm_pool_conn_destroy(s->conn);
        pthread_mutex_lock(&pool->lock);
        dm_pool_slot_released(g, s);
        return NULL;
    }
    pthread_mutex_unlock(&pool->lock);
    if (rc == DBMGMT_OK && was_down)
        dm_pool_emit(pool, DBMGMT_POOL_EVENT_RECOVERED, "connected to %s again", g->shown);
    else if (rc == DBMGMT_ERR_NOMEM)
        dm_pool_emit(pool, DBMGMT_POOL_EVENT_CONNECT_FAILED,
                     "cannot connect to %s: out of memory here, not the server's fault (no "
                     "backoff): %s", g->shown, err);
    else if (rc != DBMGMT_OK)
        dm_pool_emit(pool, DBMGMT_POOL_EVENT_CONNECT_FAILED,
                     "cannot connect to %s (attempt %d; backing off): %s", g->shown,
                     (int)failures, err);
    pthread_mutex_lock(&pool->lock);
    if (rc != DBMGMT_OK)
        return NULL;
    /* Only now, with the caller about to borrow it or make it idle under
     * this same lock, does the slot stop counting as opening: while the lock
     * was dropped above it was in no other count, and a borrower that saw
     * room for one more connection would find no free slot and spin. */
    g->opening--;
    return s;
}

/* ---- open -------------------------------------------------------------- */

static int group_init(dbmgmt_pool *pool, pool_group *g, int index, const char *dsn)
{
    g->pool = pool;
    g->index = index;
    g->lag_ms = g->lag_bytes = -1; /* not measured yet */
    dm_dsn *parsed = NULL;
    int rc = dm_dsn_parse(dsn, &parsed, NULL);
    if (rc != DBMGMT_OK)
        return rc;
    g->dsn = dm_strdup(parsed->raw);
    g->shown = dm_dsn_render_redacted(parsed);
    dm_dsn_free(parsed);
    g->slots = dm_calloc((size_t)pool->cfg.max_size, sizeof *g->slots);
    if (!g->dsn || !g->shown || !g->slots)
        return dm_error_set(NULL, DBMGMT_ERR_NOMEM, "out of memory opening a pool");
    for (int32_t i = 0; i < pool->cfg.max_size; i++)
        g->slots[i].group = g;
    return DBMGMT_OK;
}

void dm_pool_free(dbmgmt_pool *pool)
{
    dm_pool_replicas_close(pool);
    for (int i = 0; i < pool->ngroups; i++) {
        pool_group *g = &pool->groups[i];
        dm_free(g->dsn);
        dm_free(g->shown);
        dm_free(g->slots);
    }
    dm_pool_config_clear(&pool->cfg);
    pthread_cond_destroy(&pool->drain_cond);
    pthread_cond_destroy(&pool->bg_cond);
    pthread_condattr_destroy(&pool->condattr);
    pthread_mutex_destroy(&pool->lock);
    dm_free(pool);
}

/* Close every idle connection of every group (lock held on entry/exit). */
static void close_all_idle_locked(dbmgmt_pool *pool)
{
    for (int i = 0; i < pool->ngroups; i++) {
        pool_group *g = &pool->groups[i];
        dm_pool_lane_reclaim(g);
        while (g->idle_oldest) {
            pool_slot *s = g->idle_oldest;
            dm_pool_idle_unlink(g, s);
            s->state = SLOT_CLOSING;
            g->closing++;
            dbmgmt_conn *conn = s->conn;
            pthread_mutex_unlock(&pool->lock);
            dm_pool_conn_destroy(conn);
            pthread_mutex_lock(&pool->lock);
            dm_pool_slot_released(g, s);
        }
    }
}

static int pool_sync_init(pthread_mutex_t *lock, pthread_condattr_t *attr, pthread_cond_t *c1,
                          pthread_cond_t *c2)
{
    /* Adaptive: a contended lock spins briefly before sleeping in the
     * kernel, which suits a lock held for a few dozen nanoseconds. */
    pthread_mutexattr_t mattr;
    if (pthread_mutexattr_init(&mattr) != 0)
        return -1;
#ifdef PTHREAD_ADAPTIVE_MUTEX_INITIALIZER_NP
    pthread_mutexattr_settype(&mattr, PTHREAD_MUTEX_ADAPTIVE_NP);
#endif
    int failed = pthread_mutex_init(lock, &mattr) != 0;
    pthread_mutexattr_destroy(&mattr);
    if (failed)
        return -1;
    if (pthread_condattr_init(attr) != 0)
        goto fail_lock;
    if (pthread_condattr_setclock(attr, CLOCK_MONOTONIC) != 0 || pthread_cond_init(c1, attr) != 0)
        goto fail_attr;
    if (pthread_cond_init(c2, attr) != 0)
        goto fail_c1;
    return 0;
fail_c1:
    pthread_cond_destroy(c1);
fail_attr:
    pthread_condattr_destroy(attr);
fail_lock:
    pthread_mutex_destroy(lock);
    return -1;
}

DBMGMT_API int dbmgmt_pool_open(dbmgmt_pool **out, const char *dsn,
                                const dbmgmt_pool_config *cfg_or_null)
{
    if (!out)
        return dm_error_invalid("dbmgmt_pool_open", "out is NULL");
    *out = NULL;
    dbmgmt_pool_config defaults;
    dm_pool_config_defaults(&defaults);
    const dbmgmt_pool_config *cfg = cfg_or_null ? cfg_or_null : &defaults;
    if (cfg->min_idle > cfg->max_size)
        return dm_error_set(NULL, DBMGMT_ERR_INVALID,
                            "dbmgmt_pool_open: min_idle (%d) is larger than max_size (%d)",
                            (int)cfg->min_idle, (int)cfg->max_size);
    pthread_once(&fork_handler_once, install_fork_handler);
    dbmgmt_pool *pool = dm_calloc(1, sizeof *pool);
    if (!pool)
        return dm_error_set(NULL, DBMGMT_ERR_NOMEM, "out of memory opening a pool");
    if (pool_sync_init(&pool->lock, &pool->condattr, &pool->drain_cond, &pool->bg_cond) != 0) {
        dm_free(pool);
        return dm_error_set(NULL, DBMGMT_ERR_NOMEM, "cannot create the pool's lock");
    }
    int rc = dm_pool_config_copy(&pool->cfg, cfg);
    if (rc != DBMGMT_OK)
        goto fail;
    pool->fork_generation = dm_pool_fork_generation();
    pool->serial = atomic_fetch_add(&pool_serials, 1) + 1;
    pool->opened_us = pool->busy_changed_us = dm_pool_now_us();
    pool->rng = (uint64_t)pool->opened_us ^ (uint64_t)(uintptr_t)pool ^ 0x9e3779b97f4a7c15ull;
    if (!pool->rng)
        pool->rng = 1;
    pool->ngroups = 1 + pool->cfg.nreplicas;
    for (int i = 0; i < pool->ngroups && rc == DBMGMT_OK; i++)
        rc = group_init(pool, &pool->groups[i], i, i == 0 ? dsn : pool->cfg.replicas[i - 1]);
    if (rc != DBMGMT_OK)
        goto fail;

    /* One connection to the primary now: a wrong DSN or a dead server is
     * the caller's to see at start-up, not at the first request. */
    pool_group *primary = &pool->groups[0];
    pthread_mutex_lock(&pool->lock);
    int first_status;
    pool_slot *first = dm_pool_group_open_locked(pool, primary, &first_status);
    if (first)
        dm_pool_slot_available(primary, first, dm_pool_now_us());
    pthread_mutex_unlock(&pool->lock);
    if (!first) {
        /* the connect's own status where it says more than "unreachable"
         * (no memory, an engine not built, init SQL refused) */
        int status = first_status < 0 ? first_status : DBMGMT_ERR_CONNECT;
        rc = dm_error_set(NULL, status, "dbmgmt_pool_open: %s", primary->last_error);
        goto fail;
    }
    /* Replicas are followed when the engine can tell their state: checked
     * once now, so that the first reads already honour the lag bound. */
    const dm_driver *drv = pool->drv = first->conn->drv;
    if (pool->ngroups > 1 && drv->repl_state) {
        pool->repl_next_check_us = 1;
    } else if (pool->cfg.max_replica_lag_ms >= 0 && pool->ngroups > 1) {
        rc = dm_error_set(NULL, DBMGMT_ERR_UNSUPPORTED,
                          "dbmgmt_pool_open: max_replica_lag_ms needs replication state, which "
                          "%s does not report",
                          drv->name);
        goto fail;
    }
    for (int i = 0; i < pool->ngroups; i++)
        dm_pool_refill(pool, &pool->groups[i], 0);
    if (pool->repl_next_check_us)
        dm_pool_replicas_check(pool, 1);
    if (pool->cfg.background_thread && (rc = dm_pool_start_background(pool)) != DBMGMT_OK)
        goto fail;
    *out = pool;
    return DBMGMT_OK;
fail:
    pthread_mutex_lock(&pool->lock);
    close_all_idle_locked(pool);
    pthread_mutex_unlock(&pool->lock);
    dm_pool_free(pool);
    return rc;
}

/* ---- close ------------------------------------------------------------- */

/* 1 when close() gave up waiting and nothing refers to the pool any more. */
static int unused_after_close(const dbmgmt_pool *pool)
{
    if (!pool->abandoned || pool->inside > 0)
        return 0;
    for (int i = 0; i < pool->ngroups; i++) {
        const pool_group *g = &pool->groups[i];
        if (g->active || g->opening || g->closing || g->laned)
            return 0;
    }
    return 1;
}

void dm_pool_unlock_after_use(dbmgmt_pool *pool)
{
    int free_now = unused_after_close(pool);
    if (pool->closing)
        pthread_cond_broadcast(&pool->drain_cond);
    pthread_mutex_unlock(&pool->lock);
    if (free_now)
        dm_pool_free(pool);
}

static int pool_drained(const dbmgmt_pool *pool)
{
    if (pool->inside > 0)
        return 0;
    for (int i = 0; i < pool->ngroups; i++) {
        const pool_group *g = &pool->groups[i];
        if (g->active || g->opening || g->closing || g->idle || g->laned)
            return 0;
    }
    return 1;
}

DBMGMT_API int dbmgmt_pool_close(dbmgmt_pool *pool, int32_t drain_timeout_ms)
{
    if (!pool)
        return DBMGMT_OK;
    if (pool->fork_generation != dm_pool_fork_generation())
        return DBMGMT_OK; /* the parent's: touch nothing, free nothing */
    if (drain_timeout_ms < 0)
        drain_timeout_ms = 0;
    int64_t deadline = dm_pool_now_us() + (int64_t)drain_timeout_ms * 1000;
    pthread_mutex_lock(&pool->lock);
    if (pool->closing) {
        pthread_mutex_unlock(&pool->lock);
        return dm_error_invalid("dbmgmt_pool_close", "the pool is already closed");
    }
    pool->closing = 1;
    dm_pool_wake_waiters_closed(pool);
    pthread_cond_broadcast(&pool->bg_cond);
    pthread_mutex_unlock(&pool->lock);
    dm_pool_stop_background(pool);

    pthread_mutex_lock(&pool->lock);
    close_all_idle_locked(pool);
    while (!pool_drained(pool) && dm_pool_now_us() < deadline)
        dm_pool_cond_wait_until(&pool->drain_cond, &pool->lock, deadline);
    if (!pool_drained(pool)) {
        int32_t out = 0;
        for (int i = 0; i < pool->ngroups; i++)
            out += pool->groups[i].active;
        pool->abandoned = 1;
        pthread_mutex_unlock(&pool->lock);
        return dm_error_set(NULL, DBMGMT_ERR_TIMEOUT,
                            "dbmgmt_pool_close: %d connection%s still borrowed after %d ms; "
                            "each is closed when released, and the pool with the last",
                            (int)out, out == 1 ? " is" : "s are", (int)drain_timeout_ms);
    }
    pthread_mutex_unlock(&pool->lock);
    dm_pool_free(pool);
    return DBMGMT_OK;
}
