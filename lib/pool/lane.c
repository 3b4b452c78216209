/*
 * The pool's lane: acquire and release without the pool's lock, for the
 * common case of a thread that borrows again the connection it released
 * last (HikariCP's ConcurrentBag has the same idea: a thread-local list of
 * recently used entries, taken by compare-and-swap on the entry's state).
 *
 * A thread that releases a connection through the locked path while
 * nobody waits puts it in the lane (dm_pool_lane_enter): SLOT_PARKED, on the
 * group's lane list, and remembered in a thread-local cache. The thread's
 * next acquire takes it back with one CAS, PARKED -> LANE; the release that
 * follows parks it again with one store, LANE -> PARKED. Neither takes the
 * lock: no two threads write the same cache line unless one steals.
 *
 * Everyone else sees lane slots through the locked lane list. A borrower
 * that finds the idle list empty steals a parked slot (CAS PARKED ->
 * BORROWED); maintenance and close move parked slots back to the idle list
 * the same way. A CAS decides every race over a parked slot: exactly one of
 * the owner and a thief gets it.
 *
 * Waiters stay first come, first served, and are never left sleeping next
 * to a parked connection. A releaser stores PARKED and then reads the
 * group's waiter count; a borrower that is about to wait increments that
 * count (under the lock) and then looks for parked slots. Both are
 * sequentially consistent, so at least one of them sees the other: either
 * the releaser takes its slot back (CAS PARKED -> LANE) and hands it over
 * through the locked release, or the waiter steals it. close() and the
 * `closing` flag work the same way. The lane is not used while anyone
 * waits, nor for a connection that needs anything but a hand-back:
 * validation after the idle threshold, retirement at its lifetime, a leak
 * report, a rollback, a broken connection — those take the locked path.
 *
 * The thread-local cache names a pool by address and serial number, so a
 * cache left by a closed pool never matches a new pool at the same address.
 * Only the primary's connections enter the lane: with replicas, a read goes
 * through the locked path (which picks the replica), and a write must
 * never be handed a replica's connection.
 */
#include "pool_impl.h"

typedef struct lane_cache {
    const dbmgmt_pool *pool;
    uint64_t serial;
    pool_slot *slot;
} lane_cache;

static _Thread_local lane_cache cache;

static void remember(const dbmgmt_pool *pool, pool_slot *s)
{
    cache.pool = pool;
    cache.serial = pool->serial;
    cache.slot = s;
}

static int64_t load_relaxed(_Atomic int64_t *v)
{
    return atomic_load_explicit(v, memory_order_relaxed);
}

/* Only the slot's borrower writes these: a load and a store, no RMW. */
static void add_relaxed(_Atomic int64_t *v, int64_t n)
{
    atomic_store_explicit(v, load_relaxed(v) + n, memory_order_relaxed);
}

/* Add the time since the slot was borrowed to its lane busy time. */
static void count_busy(pool_slot *s, int64_t now)
{
    int64_t borrowed = load_relaxed(&s->borrowed_us);
    add_relaxed(&s->lane_busy_us, now > borrowed ? now - borrowed : 0);
}

static int lane_closed_to(const dbmgmt_pool *pool, pool_group *g, memory_order order)
{
    return atomic_load_explicit(&pool->closing, order) ||
           atomic_load_explicit(&g->waiting, order) > 0;
}

pool_slot *dm_pool_lane_take(dbmgmt_pool *pool, int read, pool_slot **check_needed)
{
    *check_needed = NULL;
    if (cache.pool != pool || cache.serial != pool->serial || (read && pool->ngroups > 1))
        return NULL;
    pool_slot *s = cache.slot;
    pool_group *g = s->group;
    if (g->index != 0) /* only the primary's connections use the lane */
        return NULL;
    if (lane_closed_to(pool, g, memory_order_relaxed))
        return NULL; /* the locked path queues behind the waiters */
    pool_slot_state expected = SLOT_PARKED;
    if (!atomic_compare_exchange_strong_explicit(&s->state, &expected, SLOT_LANE,
                                                 memory_order_acquire, memory_order_relaxed))
        return NULL; /* stolen, or never parked */
    int64_t now = dm_pool_now_coarse_us();
    atomic_store_explicit(&s->borrowed_us, now, memory_order_relaxed);
    atomic_store_explicit(&s->leak_reported, 0, memory_order_relaxed);
    int64_t validate_after = (int64_t)pool->cfg.validation_interval_ms * 1000;
    int64_t last_used = load_relaxed(&s->last_used_us);
    if (now >= s->retire_at_us || now - last_used > validate_after ||
        last_used < atomic_load_explicit(&g->suspect_before_us, memory_order_relaxed) ||
        s->created_us < atomic_load_explicit(&g->stale_before_us, memory_order_relaxed)) {
        *check_needed = s;
        return NULL;
    }
    add_relaxed(&s->lane_acquires, 1);
    return s;
}

int dm_pool_lane_put(dbmgmt_pool *pool, pool_slot *s, int reusable)
{
    if (atomic_load_explicit(&s->state, memory_order_relaxed) != SLOT_LANE)
        return 0;
    int64_t now = dm_pool_now_coarse_us();
    pool_group *g = s->group;
    if (!reusable || now >= s->retire_at_us ||
        s->created_us < atomic_load_explicit(&g->stale_before_us, memory_order_relaxed) ||
        atomic_load_explicit(&s->leak_reported, memory_order_relaxed) ||
        lane_closed_to(pool, g, memory_order_relaxed))
        return 0; /* the locked release (dm_pool_lane_leave) counts its time */
    count_busy(s, now);
    atomic_store_explicit(&s->last_used_us, now, memory_order_relaxed);
    atomic_store_explicit(&s->state, SLOT_PARKED, memory_order_seq_cst);
    if (lane_closed_to(pool, g, memory_order_seq_cst)) {
        /* A waiter or close() came meanwhile: take it back and let the
         * locked release hand it over, unless it was stolen already. Its
         * time so far is counted: the locked release counts from now. */
        pool_slot_state expected = SLOT_PARKED;
        if (atomic_compare_exchange_strong(&s->state, &expected, SLOT_LANE)) {
            atomic_store_explicit(&s->borrowed_us, now, memory_order_relaxed);
            return 0;
        }
    }
    remember(pool, s);
    return 1;
}

void dm_pool_lane_enter(pool_group *g, pool_slot *s)
{
    s->lane_prev = NULL;
    s->lane_next = g->lane_head;
    if (g->lane_head)
        g->lane_head->lane_prev = s;
    g->lane_head = s;
    g->laned++;
    atomic_store(&s->state, SLOT_PARKED);
    remember(g->pool, s);
}

void dm_pool_lane_leave(pool_group *g, pool_slot *s, int64_t now)
{
    count_busy(s, now);
    dm_pool_lane_unlink(g, s);
    s->state = SLOT_BORROWED;
    g->active++;
}

void dm_pool_lane_unlink(pool_group *g, pool_slot *s)
{
    if (s->lane_prev)
        s->lane_prev->lane_next = s->lane_next;
    else
        g->lane_head = s->lane_next;
    if (s->lane_next)
        s->lane_next->lane_prev = s->lane_prev;
    s->lane_next = s->lane_prev = NULL;
    g->laned--;
}

pool_slot *dm_pool_lane_steal(pool_group *g)
{
    for (pool_slot *s = g->lane_head; s; s = s->lane_next) {
        pool_slot_state expected = SLOT_PARKED;
        if (atomic_compare_exchange_strong(&s->state, &expected, SLOT_BORROWED)) {
            dm_pool_lane_unlink(g, s);
            return s;
        }
    }
    return NULL;
}

int dm_pool_lane_has_parked(const pool_group *g)
{
    for (const pool_slot *s = g->lane_head; s; s = s->lane_next)
        if (atomic_load(&s->state) == SLOT_PARKED)
            return 1;
    return 0;
}

void dm_pool_lane_reclaim(pool_group *g)
{
    for (pool_slot *s = g->lane_head, *next; s; s = next) {
        next = s->lane_next;
        pool_slot_state expected = SLOT_PARKED;
        if (atomic_compare_exchange_strong(&s->state, &expected, SLOT_IDLE)) {
            dm_pool_lane_unlink(g, s);
            dm_pool_idle_insert_ordered(g, s);
        }
    }
}

void dm_pool_group_counts(const pool_group *g, int32_t *idle, int32_t *active)
{
    *idle = g->idle;
    *active = g->active;
    for (const pool_slot *s = g->lane_head; s; s = s->lane_next) {
        if (atomic_load(&s->state) == SLOT_PARKED)
            ++*idle;
        else
            ++*active;
    }
}

void dm_pool_lane_stats(const dbmgmt_pool *pool, int64_t now, int64_t *acquires,
                        int64_t *busy_us)
{
    *acquires = *busy_us = 0;
    for (int i = 0; i < pool->ngroups; i++) {
        const pool_group *g = &pool->groups[i];
        for (int32_t k = 0; k < pool->cfg.max_size; k++) {
            pool_slot *s = &g->slots[k];
            *acquires += load_relaxed(&s->lane_acquires);
            *busy_us += load_relaxed(&s->lane_busy_us);
        }
        for (const pool_slot *s = g->lane_head; s; s = s->lane_next) {
            int64_t since = atomic_load_explicit((_Atomic int64_t *)&s->borrowed_us,
                                                 memory_order_relaxed);
            if (atomic_load(&s->state) == SLOT_LANE && now > since)
                *busy_us += now - since;
        }
    }
}
