/*
 * The pool: open, acquire, release, close (DESIGN §6, docs/pool.md).
 *
 * The hottest path — a thread borrowing again the connection it released
 * last — takes no lock at all: see lane.c. The next hottest (an idle
 * connection that was used recently) is one mutex lock, a pop from the idle
 * list, a clock read and counters: no allocation, no round trip, no other
 * system call. Everything slow — connecting, pinging, rolling back,
 * closing, the host's callback — runs with the lock released.
 */
#include "pool_impl.h"

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
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

static void cond_wait_until(pthread_cond_t *cond, pthread_mutex_t *lock, int64_t at_us)
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

static void idle_push_newest(pool_group *g, pool_slot *s)
{
    s->state = SLOT_IDLE;
    s->idle_older = g->idle_newest;
    s->idle_newer = NULL;
    if (g->idle_newest)
        g->idle_newest->idle_newer = s;
    else
        g->idle_oldest = s;
    g->idle_newest = s;
    g->idle++;
}

void dm_pool_idle_unlink(pool_group *g, pool_slot *s)
{
    if (s->idle_newer)
        s->idle_newer->idle_older = s->idle_older;
    else
        g->idle_newest = s->idle_older;
    if (s->idle_older)
        s->idle_older->idle_newer = s->idle_newer;
    else
        g->idle_oldest = s->idle_newer;
    s->idle_newer = s->idle_older = NULL;
    g->idle--;
}

void dm_pool_idle_insert_ordered(pool_group *g, pool_slot *s)
{
    pool_slot *newer = NULL, *older = g->idle_newest;
    while (older && older->last_used_us > s->last_used_us) {
        newer = older;
        older = older->idle_older;
    }
    s->state = SLOT_IDLE;
    s->idle_newer = newer;
    s->idle_older = older;
    if (newer)
        newer->idle_older = s;
    else
        g->idle_newest = s;
    if (older)
        older->idle_newer = s;
    else
        g->idle_oldest = s;
    g->idle++;
}

static void waiter_unlink(pool_group *g, pool_waiter *w)
{
    if (w->prev)
        w->prev->next = w->next;
    else
        g->wait_head = w->next;
    if (w->next)
        w->next->prev = w->prev;
    else
        g->wait_tail = w->prev;
    w->next = w->prev = NULL;
    g->waiting--;
}

static void waiter_enqueue(pool_group *g, pool_waiter *w)
{
    w->next = NULL;
    w->prev = g->wait_tail;
    if (g->wait_tail)
        g->wait_tail->next = w;
    else
        g->wait_head = w;
    g->wait_tail = w;
    g->waiting++;
}

void dm_pool_wake_head(pool_group *g)
{
    if (g->wait_head)
        pthread_cond_signal(&g->wait_head->cond);
}

void dm_pool_slot_available(pool_group *g, pool_slot *s, int64_t now)
{
    pool_waiter *w = g->wait_head;
    if (w) { /* direct hand-off, first come first served */
        waiter_unlink(g, w);
        s->state = SLOT_BORROWED;
        s->borrowed_us = now;
        s->leak_reported = 0;
        g->active++;
        w->handed = s;
        pthread_cond_signal(&w->cond);
        return;
    }
    idle_push_newest(g, s);
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
    for (int i = 0; i < pool->ngroups; i++)
        dm_pool_refill(pool, &pool->groups[i], 0);
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

/* ---- acquire ----------------------------------------------------------- */

/* The group a read goes to: the next replica that is up, else the primary. */
static pool_group *choose_read_group(dbmgmt_pool *pool, int64_t now)
{
    int replicas = pool->ngroups - 1;
    for (int i = 0; i < replicas; i++) {
        pool_group *g = &pool->groups[1 + (pool->read_cursor++ % (uint32_t)replicas)];
        if (!g->down || now >= g->next_connect_us)
            return g;
    }
    return &pool->groups[0];
}

/* What a borrowed idle connection needs before it is handed out. */
typedef enum borrow_check { CHECK_NONE, CHECK_RETIRE, CHECK_PING } borrow_check;

static borrow_check borrow_check_for(const pool_group *g, const pool_slot *s, int64_t now)
{
    if (now >= s->retire_at_us)
        return CHECK_RETIRE;
    if (now - s->last_used_us > (int64_t)g->pool->cfg.validation_interval_ms * 1000 ||
        s->last_used_us < g->suspect_before_us)
        return CHECK_PING;
    return CHECK_NONE;
}

/* Take a slot out to be closed (it was BORROWED by us or just unlinked). */
static void slot_to_closing(pool_group *g, pool_slot *s)
{
    if (s->state == SLOT_BORROWED)
        g->active--;
    s->state = SLOT_CLOSING;
    g->closing++;
}

/* Check an idle connection just taken (lock held on entry and exit, released
 * while pinging or closing). Returns 1 if it may be handed out, 0 if it was
 * closed instead. */
static int borrow_checked(dbmgmt_pool *pool, pool_group *g, pool_slot *s, borrow_check check)
{
    dbmgmt_conn *conn = s->conn;
    if (check == CHECK_PING) {
        pthread_mutex_unlock(&pool->lock);
        int rc = dbmgmt_conn_ping(conn);
        pthread_mutex_lock(&pool->lock);
        if (rc == DBMGMT_OK)
            return 1;
        pool->validation_failures++;
        g->suspect_before_us = dm_pool_now_us(); /* its idle siblings may be dead too */
    }
    dm_pool_busy_update(pool, dm_pool_now_us());
    slot_to_closing(g, s);
    uint32_t id = s->id;
    char why[DM_POOL_ERR_MAX];
    snprintf(why, sizeof why, "%s", check == CHECK_PING ? dbmgmt_conn_errmsg(conn) : "");
    pthread_mutex_unlock(&pool->lock);
    dm_pool_conn_destroy(conn);
    if (check == CHECK_PING)
        dm_pool_emit(pool, DBMGMT_POOL_EVENT_BROKEN,
                     "connection %u to %s failed validation and was discarded: %s", id,
                     g->shown, why);
    else
        dm_pool_emit(pool, DBMGMT_POOL_EVENT_RETIRED,
                     "connection %u to %s reached its maximum lifetime", id, g->shown);
    pthread_mutex_lock(&pool->lock);
    dm_pool_slot_released(g, s);
    return 0;
}

static void borrow_mark(dbmgmt_pool *pool, pool_group *g, pool_slot *s, int64_t now)
{
    dm_pool_busy_update(pool, now);
    s->state = SLOT_BORROWED;
    s->borrowed_us = now;
    s->leak_reported = 0;
    g->active++;
}

static void acquire_succeeded(dbmgmt_pool *pool, int64_t waited_us)
{
    pool->acquires++;
    dm_pool_wait_record(pool, waited_us);
}

static int acquire_failed(dbmgmt_pool *pool, pool_group *g, const char *fn, int32_t timeout_ms)
{
    int32_t total = 0, active = 0, idle = 0, waiting = 0;
    for (int i = 0; i < pool->ngroups; i++) {
        int32_t group_idle, group_active;
        dm_pool_group_counts(&pool->groups[i], &group_idle, &group_active);
        total += dm_pool_group_total(&pool->groups[i]);
        active += group_active;
        idle += group_idle;
        waiting += pool->groups[i].waiting;
    }
    pool->timeouts++;
    if (g->down)
        return dm_error_set(NULL, DBMGMT_ERR_CONNECT,
                            "%s: no connection to %s within %d ms: the server is unreachable "
                            "(total %d, active %d, idle %d, waiting %d, max %d; last connect "
                            "error: %s)", fn, g->shown, (int)timeout_ms, (int)total,
                            (int)active, (int)idle, (int)waiting, (int)pool->cfg.max_size,
                            g->last_error);
    return dm_error_set(NULL, DBMGMT_ERR_TIMEOUT,
                        "%s: timed out after %d ms waiting for a connection to %s: all are "
                        "busy (total %d, active %d, idle %d, waiting %d, max %d)%s%s", fn,
                        (int)timeout_ms, g->shown, (int)total, (int)active, (int)idle,
                        (int)waiting, (int)pool->cfg.max_size,
                        g->last_error[0] ? "; last connect error: " : "", g->last_error);
}

typedef enum wait_outcome { WAIT_HANDED, WAIT_TURN, WAIT_TIMEOUT, WAIT_CLOSED } wait_outcome;

/* Wait in the group's FIFO queue (lock held). HANDED: w->handed is ours.
 * TURN: we were first and a connection may be taken or opened now. */
static wait_outcome wait_in_queue(dbmgmt_pool *pool, pool_group *g, pool_waiter *w,
                                  int64_t deadline)
{
    for (;;) {
        if (w->handed)
            return WAIT_HANDED;
        if (w->closed)
            return WAIT_CLOSED;
        int64_t now = dm_pool_now_us();
        if (g->wait_head == w &&
            (g->idle_newest || dm_pool_lane_has_parked(g) || dm_pool_can_open(g, now))) {
            waiter_unlink(g, w);
            return WAIT_TURN;
        }
        if (now >= deadline) {
            waiter_unlink(g, w);
            return WAIT_TIMEOUT;
        }
        int64_t wake = deadline;
        if (g->wait_head == w && g->down && g->opening == 0 && g->next_connect_us < wake)
            wake = g->next_connect_us; /* the first waiter probes after the backoff */
        cond_wait_until(&w->cond, &pool->lock, wake);
    }
}

/* Pass the turn on when something is still available for the next waiter. */
static void pass_turn(pool_group *g, int64_t now)
{
    if (g->wait_head &&
        (g->idle_newest || dm_pool_lane_has_parked(g) || dm_pool_can_open(g, now)))
        dm_pool_wake_head(g);
}

static int pool_acquire(dbmgmt_pool *pool, dbmgmt_conn **out, int32_t timeout_ms, int read,
                        const char *fn)
{
    if (!out)
        return dm_error_invalid(fn, "out is NULL");
    *out = NULL;
    if (!pool)
        return dm_error_invalid(fn, "pool is NULL");
    int rc = dm_pool_check_fork(pool, fn);
    if (rc != DBMGMT_OK)
        return rc;
    if (timeout_ms < 0)
        timeout_ms = pool->cfg.acquire_timeout_ms;
    /* The hot path reads the coarse clock (a few ns, a few ms of
     * resolution: plenty for validation and lifetime decisions); a thread
     * that has to wait switches to the precise one for its deadline. */
    pool_slot *lane_check = NULL;
    pool_slot *fast = dm_pool_lane_take(pool, read, &lane_check);
    if (fast) {
        *out = fast->conn;
        return DBMGMT_OK;
    }
    int64_t now = dm_pool_now_coarse_us();
    int64_t slow_start = 0, deadline = 0;
    int my_turn = 0, waited = 0;
    pool_waiter w;
    int waiter_ready = 0;

    pthread_mutex_lock(&pool->lock);
    pool_group *g = lane_check                       ? lane_check->group
                    : read && pool->ngroups > 1 ? choose_read_group(pool, now)
                                                : &pool->groups[0];
    pool->inside++;
    pool_slot *got = NULL;
    if (lane_check) { /* our parked connection, due for a check first */
        dm_pool_lane_unlink(g, lane_check);
        borrow_mark(pool, g, lane_check, now);
        borrow_check check = borrow_check_for(g, lane_check, now);
        if (check == CHECK_NONE || borrow_checked(pool, g, lane_check, check))
            got = lane_check;
        else
            now = dm_pool_now_us();
    }
    while (!got) {
        if (pool->closing) {
            rc = dm_error_set(NULL, DBMGMT_ERR_CLOSED, "%s: the pool is closing", fn);
            break;
        }
        if (!g->wait_head || my_turn) {
            pool_slot *s = g->idle_newest;
            if (s)
                dm_pool_idle_unlink(g, s);
            else
                s = dm_pool_lane_steal(g); /* another thread's parked one */
            if (s) {
                borrow_mark(pool, g, s, now);
                borrow_check check = borrow_check_for(g, s, now);
                if (check == CHECK_NONE || borrow_checked(pool, g, s, check)) {
                    got = s;
                    break;
                }
                now = dm_pool_now_us();
                continue;
            }
            if (dm_pool_can_open(g, now)) {
                int status;
                s = dm_pool_group_open_locked(pool, g, &status);
                now = dm_pool_now_us();
                if (s) {
                    borrow_mark(pool, g, s, now);
                    got = s;
                    break;
                }
                if (status == DBMGMT_ERR_NOMEM) { /* not the server: say so now */
                    rc = dm_error_set(NULL, DBMGMT_ERR_NOMEM,
                                      "%s: out of memory opening a connection to %s: %s", fn,
                                      g->shown, g->last_error);
                    pass_turn(g, now);
                    break;
                }
                continue; /* failed: back off; wait below until the deadline */
            }
        }
        my_turn = 0;
        if (!slow_start) {
            slow_start = now = dm_pool_now_us();
            deadline = slow_start + (int64_t)timeout_ms * 1000;
            continue; /* look again with the precise time */
        }
        if (now >= deadline) {
            rc = acquire_failed(pool, g, fn, timeout_ms);
            break;
        }
        if (!waiter_ready) {
            memset(&w, 0, sizeof w);
            if (pthread_cond_init(&w.cond, &pool->condattr) != 0) {
                rc = dm_error_set(NULL, DBMGMT_ERR_NOMEM, "%s: cannot create a condition", fn);
                break;
            }
            waiter_ready = 1;
        }
        int first = g->waiting == 0 && !g->down;
        waiter_enqueue(g, &w);
        if (first && !waited && pool->cfg.event_fn) {
            int32_t total = dm_pool_group_total(g), active = g->active;
            pthread_mutex_unlock(&pool->lock);
            dm_pool_emit(pool, DBMGMT_POOL_EVENT_EXHAUSTED,
                         "no idle connection to %s: borrowers wait (total %d, active %d, max %d)",
                         g->shown, (int)total, (int)active, (int)pool->cfg.max_size);
            pthread_mutex_lock(&pool->lock);
        }
        waited = 1;
        wait_outcome outcome = wait_in_queue(pool, g, &w, deadline);
        now = dm_pool_now_us();
        if (outcome == WAIT_HANDED) {
            got = w.handed;
            break;
        }
        if (outcome == WAIT_TURN) {
            my_turn = 1;
            continue;
        }
        if (outcome == WAIT_CLOSED)
            continue; /* reported at the top */
        rc = acquire_failed(pool, g, fn, timeout_ms);
        break;
    }
    if (got) {
        acquire_succeeded(pool, slow_start ? dm_pool_now_us() - slow_start : 0);
        pass_turn(g, now);
        rc = DBMGMT_OK;
    }
    pool->inside--;
    if (waiter_ready) /* out of the queue: nobody signals it any more */
        pthread_cond_destroy(&w.cond);
    dm_pool_unlock_after_use(pool);
    if (got)
        *out = got->conn;
    return rc;
}

DBMGMT_API int dbmgmt_pool_acquire(dbmgmt_pool *pool, dbmgmt_conn **out, int32_t timeout_ms)
{
    return pool_acquire(pool, out, timeout_ms, 0, "dbmgmt_pool_acquire");
}

DBMGMT_API int dbmgmt_pool_acquire_read(dbmgmt_pool *pool, dbmgmt_conn **out,
                                        int32_t timeout_ms)
{
    return pool_acquire(pool, out, timeout_ms, 1, "dbmgmt_pool_acquire_read");
}

/* ---- release ----------------------------------------------------------- */

/* Reset a returned connection without a round trip unless a transaction is
 * open. Returns 1 if it can be reused, 0 if it must be closed. */
static int reset_for_reuse(dbmgmt_conn *conn)
{
    if (conn->broken)
        return 0;
    int in_tx = dbmgmt_conn_in_transaction(conn);
    if (in_tx == 0)
        return 1;
    if (in_tx < 0)
        return 0;
    return dbmgmt_conn_rollback(conn) == DBMGMT_OK && !conn->broken &&
           dbmgmt_conn_in_transaction(conn) == 0;
}

DBMGMT_API int dbmgmt_pool_release(dbmgmt_pool *pool, dbmgmt_conn *conn)
{
    if (!conn)
        return DBMGMT_OK;
    if (!pool)
        return dm_error_invalid("dbmgmt_pool_release", "pool is NULL");
    int rc = dm_pool_check_fork(pool, "dbmgmt_pool_release");
    if (rc != DBMGMT_OK)
        return rc;
    pool_slot *s = conn->pool_slot;
    if (!s || s->group->pool != pool || s->conn != conn)
        return dm_error_invalid("dbmgmt_pool_release", "conn was not borrowed from this pool");
    int reusable = reset_for_reuse(conn);
    if (dm_pool_lane_put(pool, s, reusable))
        return DBMGMT_OK;
    pool_group *g = s->group;

    pthread_mutex_lock(&pool->lock);
    int64_t now = dm_pool_now_coarse_us();
    dm_pool_busy_update(pool, now);
    if (s->state == SLOT_LANE)
        dm_pool_lane_leave(g, s, now); /* from now on counted as any other */
    if (s->state != SLOT_BORROWED) {
        pthread_mutex_unlock(&pool->lock);
        return dm_error_invalid("dbmgmt_pool_release", "conn is not borrowed (released twice?)");
    }
    int leak_returned = s->leak_reported;
    long long held_ms = (long long)((now - s->borrowed_us) / 1000);
    uint32_t id = s->id;
    int retire = now >= s->retire_at_us;
    int closing = pool->closing;
    if (reusable && !retire && !closing) { /* the hot path */
        g->active--;
        s->last_used_us = now;
        if (!g->wait_head && !leak_returned && g->index == 0)
            dm_pool_lane_enter(g, s); /* this thread's next acquire takes no lock */
        else
            dm_pool_slot_available(g, s, now);
        if (!leak_returned) {
            pthread_mutex_unlock(&pool->lock);
            return DBMGMT_OK;
        }
        pool->inside++; /* keeps the pool alive while the host is called */
        pthread_mutex_unlock(&pool->lock);
    } else {
        slot_to_closing(g, s); /* a closing slot keeps the pool alive */
        if (!reusable)
            g->suspect_before_us = now; /* the server may have dropped its siblings too */
        pthread_mutex_unlock(&pool->lock);
        char why[DM_POOL_ERR_MAX];
        snprintf(why, sizeof why, "%s", dbmgmt_conn_errmsg(conn));
        dm_pool_conn_destroy(conn);
        if (!reusable)
            dm_pool_emit(pool, DBMGMT_POOL_EVENT_BROKEN,
                         "connection %u to %s was broken and is discarded: %s", id, g->shown,
                         why);
        else if (retire && !closing)
            dm_pool_emit(pool, DBMGMT_POOL_EVENT_RETIRED,
                         "connection %u to %s reached its maximum lifetime", id, g->shown);
    }
    if (leak_returned)
        dm_pool_emit(pool, DBMGMT_POOL_EVENT_LEAK_RETURNED,
                     "connection %u to %s came back after %lld ms (it was reported as leaked)",
                     id, g->shown, held_ms);
    pthread_mutex_lock(&pool->lock);
    if (s->state == SLOT_CLOSING)
        dm_pool_slot_released(g, s);
    else
        pool->inside--;
    dm_pool_unlock_after_use(pool);
    return DBMGMT_OK;
}

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

/* ---- close ------------------------------------------------------------- */

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

static void wake_all_waiters_closed(dbmgmt_pool *pool)
{
    for (int i = 0; i < pool->ngroups; i++) {
        pool_group *g = &pool->groups[i];
        while (g->wait_head) {
            pool_waiter *w = g->wait_head;
            waiter_unlink(g, w);
            w->closed = 1;
            pthread_cond_signal(&w->cond);
        }
    }
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
    wake_all_waiters_closed(pool);
    pthread_cond_broadcast(&pool->bg_cond);
    pthread_mutex_unlock(&pool->lock);
    dm_pool_stop_background(pool);

    pthread_mutex_lock(&pool->lock);
    close_all_idle_locked(pool);
    while (!pool_drained(pool) && dm_pool_now_us() < deadline)
        cond_wait_until(&pool->drain_cond, &pool->lock, deadline);
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
