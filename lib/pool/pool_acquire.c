/*
 * The pool's acquire and release (DESIGN §6, docs/pool.md): the idle list,
 * the waiters' FIFO queue and the hand-off from a release to the first
 * waiter, the checks of a connection before it is lent (lifetime,
 * validation), acquire, acquire_read and release. Opening, connecting and
 * closing the pool are pool.c.
 *
 * The hottest path — a thread borrowing again the connection it released
 * last — takes no lock at all: see lane.c. The next hottest (an idle
 * connection that was used recently) is one mutex lock, a pop from the idle
 * list, a clock read and counters: no allocation, no round trip, no other
 * system call. Everything slow — connecting, pinging, rolling back,
 * closing, the host's callback — runs with the lock released.
 */
#include "pool_impl.h"

#include <stdio.h>
#include <string.h>

#include "core/error.h"

/* ---- the idle list and the waiter queue (locked) ----------------------- */

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

void dm_pool_wake_waiters_closed(dbmgmt_pool *pool)
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

/* ---- acquire ----------------------------------------------------------- */

/* The group a read goes to: the next replica that may serve reads (up, a
 * standby, within the lag bound), else the primary; NULL (error recorded)
 * when none may and the fallback is to fail. */
static pool_group *choose_read_group(dbmgmt_pool *pool, int64_t now, const char *fn)
{
    int replicas = pool->ngroups - 1;
    for (int i = 0; i < replicas; i++) {
        pool_group *g = &pool->groups[1 + (pool->read_cursor++ % (uint32_t)replicas)];
        if (dm_pool_replica_eligible(g, now))
            return g;
    }
    if (pool->cfg.replica_fallback != DBMGMT_REPLICA_FALLBACK_FAIL)
        return &pool->groups[0];
    char lags[400] = "";
    size_t used = 0;
    for (int i = 1; i < pool->ngroups && used < sizeof lags - 1; i++) {
        const pool_group *g = &pool->groups[i];
        int n = snprintf(lags + used, sizeof lags - used, "%s%s: %s", i > 1 ? "; " : "",
                         g->shown,
                         g->role == DM_ROLE_PRIMARY ? "not a standby"
                         : g->down                  ? "down"
                         : g->lag_ms < 0            ? "lag unknown"
                                                    : "behind");
        if (n > 0 && g->role == DM_ROLE_STANDBY && !g->down && g->lag_ms >= 0 &&
            used + (size_t)n < sizeof lags)
            n += snprintf(lags + used + (size_t)n, sizeof lags - used - (size_t)n, " %lld ms",
                          (long long)g->lag_ms);
        used = n > 0 ? used + (size_t)n : used;
    }
    dm_error_set(NULL, DBMGMT_ERR_POLICY,
                 "%s: no replica may serve reads (max_replica_lag_ms %d, fallback: fail): %s",
                 fn, (int)pool->cfg.max_replica_lag_ms, lags);
    return NULL;
}

/* What a borrowed idle connection needs before it is handed out. */
typedef enum borrow_check { CHECK_NONE, CHECK_RETIRE, CHECK_PING } borrow_check;

static borrow_check borrow_check_for(const pool_group *g, const pool_slot *s, int64_t now)
{
    if (now >= s->retire_at_us || s->created_us < g->stale_before_us)
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
        dm_pool_cond_wait_until(&w->cond, &pool->lock, wake);
    }
}

/* Pass the turn on when something is still available for the next waiter. */
static void pass_turn(pool_group *g, int64_t now)
{
    if (g->wait_head &&
        (g->idle_newest || dm_pool_lane_has_parked(g) || dm_pool_can_open(g, now)))
        dm_pool_wake_head(g);
}

/* group: the index of the group to borrow from, or -1 for the primary
 * (read 0) or the choice of choose_read_group (read 1). */
static int pool_acquire(dbmgmt_pool *pool, dbmgmt_conn **out, int32_t timeout_ms, int read,
                        int group, const char *fn)
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
    pool_slot *fast = group > 0 ? NULL : dm_pool_lane_take(pool, read, &lane_check);
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
    pool_group *g = lane_check                          ? lane_check->group
                    : group >= 0 && group < pool->ngroups ? &pool->groups[group]
                    : read && pool->ngroups > 1         ? choose_read_group(pool, now, fn)
                                                        : &pool->groups[0];
    if (!g) {
        pthread_mutex_unlock(&pool->lock);
        return dbmgmt_errcode();
    }
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
    return pool_acquire(pool, out, timeout_ms, 0, -1, "dbmgmt_pool_acquire");
}

DBMGMT_API int dbmgmt_pool_acquire_read(dbmgmt_pool *pool, dbmgmt_conn **out,
                                        int32_t timeout_ms)
{
    return pool_acquire(pool, out, timeout_ms, 1, -1, "dbmgmt_pool_acquire_read");
}

int dm_pool_acquire_group(dbmgmt_pool *pool, dbmgmt_conn **out, int32_t timeout_ms, int group,
                          const char *fn)
{
    return pool_acquire(pool, out, timeout_ms, group > 0, group, fn);
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
    /* A write refused as read-only on the primary: the server it reaches
     * was demoted (a switchover). Drop every connection to it; new ones
     * find the read-write host (a multi-host DSN with
     * target_session_attrs=read-write). */
    int demoted = conn->read_only_seen && s->group->index == 0;
    if (demoted)
        reusable = 0;
    if (dm_pool_lane_put(pool, s, reusable))
        return DBMGMT_OK;
    pool_group *g = s->group;

    pthread_mutex_lock(&pool->lock);
    int64_t now = dm_pool_now_coarse_us();
    if (demoted && s->created_us >= g->stale_before_us)
        dm_pool_group_stale(g, dm_pool_now_us());
    else
        demoted = 0; /* reported once, by the first to see it */
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
    int retire = now >= s->retire_at_us || s->created_us < g->stale_before_us;
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
        if (demoted)
            dm_pool_emit(pool, DBMGMT_POOL_EVENT_PRIMARY_CHANGED,
                         "connection %u to %s found the server read-only (%s): its "
                         "connections are dropped; new ones look for the read-write host",
                         id, g->shown, why);
        else if (!reusable)
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
