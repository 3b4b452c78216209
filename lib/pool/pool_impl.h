/*
 * Internal view of the pool (DESIGN §6, docs/pool.md), shared by its files:
 * pool.c (open, groups and slots, connecting, close, free), pool_acquire.c
 * (the idle list, the waiter queue, borrow checks, acquire, release),
 * lane.c (the lock-free path), maintain.c (retire, reap, refill, leaks, the
 * background thread), config.c, stats.c.
 *
 * Locking: one mutex per pool guards every field below that is not marked
 * otherwise. It is never held while connecting, closing, pinging, rolling
 * back or calling the host's event callback.
 *
 * The lane (lane.c) is the exception: a thread that releases a connection
 * with nobody waiting parks it (SLOT_PARKED) and remembers it; its next
 * acquire takes it back with one compare-and-swap (SLOT_LANE), and that
 * release parks it again, both without the lock. The fields the lane
 * touches are atomics; the rest of the pool sees lane slots through the
 * locked `lane` list and takes parked ones back (steals) by CAS.
 */
#ifndef DM_POOL_POOL_IMPL_H
#define DM_POOL_POOL_IMPL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "conn/conn.h"
#include "core/thread.h"
#include "dbmgmt/pool.h"

#define DM_POOL_MAX_REPLICAS 16
#define DM_POOL_MAX_SIZE 10000
#define DM_POOL_WAIT_BUCKETS 160
#define DM_POOL_ERR_MAX 512

struct dbmgmt_pool_config {
    int32_t min_idle;
    int32_t max_size;
    int32_t acquire_timeout_ms;
    int32_t idle_timeout_ms;
    int32_t max_lifetime_ms;
    int32_t validation_interval_ms;
    int32_t leak_threshold_ms;
    int32_t background_thread;
    char *init_sql;
    char *replicas[DM_POOL_MAX_REPLICAS];
    int32_t nreplicas;
    int32_t max_replica_lag_ms; /* -1: no bound */
    int32_t replica_fallback;
    int32_t replica_check_interval_ms;
    dbmgmt_pool_event_fn event_fn;
    void *event_userdata;
};

/* Copy src into dst (strings duplicated); DBMGMT_ERR_NOMEM on failure, with
 * dst left empty. dm_pool_config_clear frees the strings. */
int dm_pool_config_copy(dbmgmt_pool_config *dst, const dbmgmt_pool_config *src);
void dm_pool_config_clear(dbmgmt_pool_config *cfg);
void dm_pool_config_defaults(dbmgmt_pool_config *cfg);

typedef enum pool_slot_state {
    SLOT_FREE = 0, /* no connection */
    SLOT_OPENING,  /* a thread is connecting for it, outside the lock */
    SLOT_IDLE,     /* in the idle list */
    SLOT_BORROWED, /* with a borrower (or being validated for one) */
    SLOT_CLOSING,  /* taken out to be closed, outside the lock */
    SLOT_PARKED,   /* idle in the lane: on the lane list, not the idle list */
    SLOT_LANE      /* borrowed through the lane (counted in laned, not active) */
} pool_slot_state;

typedef struct pool_group pool_group;

typedef struct pool_slot {
    dbmgmt_conn *conn;
    pool_group *group;
    struct pool_slot *idle_newer, *idle_older; /* idle list links */
    struct pool_slot *lane_next, *lane_prev;   /* lane list links (PARKED, LANE) */
    _Atomic(pool_slot_state) state;
    uint32_t id;            /* "connection N" in messages, unique per pool */
    atomic_int leak_reported;
    int64_t created_us;
    int64_t retire_at_us;   /* INT64_MAX: no lifetime */
    _Atomic int64_t last_used_us; /* when it last became idle */
    _Atomic int64_t borrowed_us;
    /* Lane statistics, written only by the slot's borrower, read by stats. */
    _Atomic int64_t lane_acquires;
    _Atomic int64_t lane_busy_us;
} pool_slot;

/* A thread waiting in acquire: queued FIFO on its group, woken on its own
 * condition variable, handed a connection directly by release. */
typedef struct pool_waiter {
    pthread_cond_t cond;
    struct pool_waiter *next, *prev;
    pool_slot *handed;
    int closed; /* the pool is closing */
} pool_waiter;

/* One server: the primary (index 0) or a read replica. */
struct pool_group {
    struct dbmgmt_pool *pool;
    int index;
    char *dsn;   /* as given (holds the password: never shown) */
    char *shown; /* redacted, for messages */
    pool_slot *slots; /* max_size of them */
    pool_slot *idle_newest, *idle_oldest;
    pool_waiter *wait_head, *wait_tail;
    pool_slot *lane_head; /* slots PARKED or LANE */
    int32_t idle, active, opening, closing;
    int32_t laned;        /* slots on the lane list */
    atomic_int waiting;   /* read by the lane without the lock */
    /* backoff while the server is down */
    int down;
    int32_t failures;
    int64_t next_connect_us;
    _Atomic int64_t suspect_before_us; /* idle connections older than this are pinged */
    char last_error[DM_POOL_ERR_MAX];
    int last_status; /* of the last failed connect (DBMGMT_ERR_CONNECT, _NOMEM, ...) */
    int64_t created, destroyed;
    int64_t connect_avg_us; /* moving average of a successful connect */
    /* Connections opened before this are not handed out again (read without
     * the lock by the lane): the server they reach stopped being what the
     * group wants (the primary turned standby or went away). */
    _Atomic int64_t stale_before_us;
    /* Replication state (replicas.c), from the last check. */
    dbmgmt_conn *probe;    /* the check's own connection; NULL until opened */
    int role;              /* DM_ROLE_*: what the last check found */
    int was_standby;       /* replica: some check found it a standby */
    int multi_primary;     /* a Galera node: causal reads always take its barrier */
    int lagging;           /* replica: above the lag bound (or unknown with a bound) */
    int64_t lag_ms;        /* replica: lag at the last check; -1 unknown */
    int64_t lag_bytes;     /* replica: bytes behind the primary; -1 unknown */
    char position[64];     /* the last position seen (replica: replayed; primary: written) */
    int64_t checked_us;    /* when; 0 never */
};

#define DM_ROLE_UNKNOWN 0
#define DM_ROLE_PRIMARY 1
#define DM_ROLE_STANDBY 2
#define DM_POOL_SAMPLES 64

struct dbmgmt_pool {
    pthread_mutex_t lock;
    pthread_condattr_t condattr; /* CLOCK_MONOTONIC */
    pthread_cond_t drain_cond;   /* close waits here for borrowers */
    pthread_cond_t bg_cond;      /* the background thread sleeps here */
    pthread_t bg_thread;
    dm_thread_start bg_start;
    int bg_running;
    unsigned fork_generation;    /* read without the lock: set once at open */
    uint64_t serial;             /* read without the lock: unique per pool, set at open */
    dbmgmt_pool_config cfg;
    pool_group groups[1 + DM_POOL_MAX_REPLICAS];
    int ngroups;
    const dm_driver *drv; /* the engine's (set at open from the first connection) */
    uint32_t next_id;
    uint32_t read_cursor;
    uint64_t rng;
    atomic_int closing;          /* read by the lane without the lock */
    int abandoned; /* close returned with borrowers out: the last one frees */
    int32_t inside; /* threads inside acquire / maintain */
    /* metrics */
    int64_t opened_us;
    int64_t acquires, timeouts, validation_failures, leaks;
    int64_t wait_hist[DM_POOL_WAIT_BUCKETS];
    int64_t busy_area_us; /* sum of active x time */
    int64_t busy_changed_us;
    /* replicas.c: the primary's write position sampled at each check (a
     * ring, newest at sample_head - 1), when the next check is due, and
     * whether one is running (one at a time). */
    struct {
        int64_t at_us;
        char position[64];
    } samples[DM_POOL_SAMPLES];
    int nsamples, sample_head;
    int64_t repl_next_check_us; /* 0: no checks (no replicas, or the engine has none) */
    int repl_checking;
};

/* CLOCK_MONOTONIC in µs; the coarse one (same clock, jiffy resolution, no
 * TSC read) serves the acquire/release hot path. */
int64_t dm_pool_now_us(void);
int64_t dm_pool_now_coarse_us(void);
/* The process's fork generation; differs from pool->fork_generation in a
 * child process. */
unsigned dm_pool_fork_generation(void);
/* DBMGMT_ERR_INVALID (recorded) when called in a child after fork(). */
int dm_pool_check_fork(const dbmgmt_pool *pool, const char *fn);
uint64_t dm_pool_random(dbmgmt_pool *pool);

/* pthread_cond_timedwait until at_us on CLOCK_MONOTONIC (pool->condattr). */
void dm_pool_cond_wait_until(pthread_cond_t *cond, pthread_mutex_t *lock, int64_t at_us);

/* Locked helpers (pool_acquire.c). */
/* Give a connection that just became available to the first waiter, or put
 * it on the idle list. */
void dm_pool_slot_available(pool_group *g, pool_slot *s, int64_t now);
/* Unlink an idle slot from the idle list. */
void dm_pool_idle_unlink(pool_group *g, pool_slot *s);
/* Put an idle slot on the idle list in last-used order (newest first). */
void dm_pool_idle_insert_ordered(pool_group *g, pool_slot *s);
/* Wake the first waiter of the group so it can open a connection. */
void dm_pool_wake_head(pool_group *g);
/* Empty every group's queue, telling each waiter the pool is closing. */
void dm_pool_wake_waiters_closed(dbmgmt_pool *pool);

/* Locked helpers (pool.c). */
int32_t dm_pool_group_total(const pool_group *g);
void dm_pool_busy_update(dbmgmt_pool *pool, int64_t now);
/* 1 if a new connection may be opened for the group now. */
int dm_pool_can_open(const pool_group *g, int64_t now);
/* Reserve a free slot for opening (SLOT_OPENING), or NULL. */
pool_slot *dm_pool_slot_reserve(pool_group *g);
/* After a slot's connection was closed outside the lock: free the slot. */
void dm_pool_slot_released(pool_group *g, pool_slot *s);

/* Locked on entry, unlocked on return: for a thread leaving the pool once
 * it has given up its share (pool->inside, or its slot). Wakes close() if
 * it is draining, and frees the pool when close() gave up waiting and
 * nothing refers to it any more; the caller must not touch it afterwards. */
void dm_pool_unlock_after_use(dbmgmt_pool *pool);
void dm_pool_free(dbmgmt_pool *pool);

/* Unlocked: open a connection for a reserved slot (connect + init SQL).
 * On failure err holds the message. */
int dm_pool_slot_connect(pool_group *g, pool_slot *s, char *err, size_t errcap);
/* Locked: the outcome of dm_pool_slot_connect. On success the slot is
 * ready and still counted in g->opening (its state and that count are left
 * to the caller); on failure it is freed and the group backs off (not for
 * DBMGMT_ERR_NOMEM: the server is not at fault). *was_down tells whether this success is a recovery. */
void dm_pool_connect_done(pool_group *g, pool_slot *s, int rc, const char *err, int64_t now,
                          int *was_down);
/* Open one connection for g with the lock held on entry and exit (released
 * while connecting; events reported then). On success the slot is returned
 * for the caller to borrow or make available; NULL when it failed (*status
 * is the connect's: DBMGMT_ERR_NOMEM is ours, not the server's, and starts
 * no backoff), no slot was free, or the pool began closing meanwhile
 * (*status DBMGMT_OK). */
pool_slot *dm_pool_group_open_locked(dbmgmt_pool *pool, pool_group *g, int *status);
/* Unlocked: close a slot's connection (not through the pool hook). */
void dm_pool_conn_destroy(dbmgmt_conn *conn);

/* Call the host's callback, if any (never with the lock held). */
void dm_pool_emit(const dbmgmt_pool *pool, int32_t event, const char *fmt, ...) DM_PRINTF(3, 4);

/* maintain.c */
int32_t dm_pool_maintain_round(dbmgmt_pool *pool);
int dm_pool_start_background(dbmgmt_pool *pool);
void dm_pool_stop_background(dbmgmt_pool *pool);
/* Open connections until the group has min_idle idle ones (or cannot).
 * With punctual set, open at most one, and none when a retirement is due
 * before a connect would finish: retirements keep their schedule even when
 * connecting is slower than their spacing. */
void dm_pool_refill(dbmgmt_pool *pool, pool_group *g, int punctual);

/* lane.c */
/* Unlocked: take back the calling thread's parked connection of this pool
 * (SLOT_LANE), or NULL when there is none or the locked path must decide
 * (waiters, closing). When the slot taken needs a check (validation,
 * lifetime) it is left in *check_needed, still LANE, for the locked path. */
pool_slot *dm_pool_lane_take(dbmgmt_pool *pool, int read, pool_slot **check_needed);
/* Unlocked: release a LANE slot by parking it again; 1 if done, 0 when the
 * locked release must run (the slot is then still LANE and the caller's). */
int dm_pool_lane_put(dbmgmt_pool *pool, pool_slot *s, int reusable);
/* Locked: a slot released through the locked path with nobody waiting
 * enters the lane, parked and remembered by the calling thread. */
void dm_pool_lane_enter(pool_group *g, pool_slot *s);
/* Locked, at a release through the locked path of a slot borrowed through
 * the lane: its lane time is counted up to now, and from now on it is an
 * ordinary BORROWED slot (counted active; dm_pool_busy_update first). */
void dm_pool_lane_leave(pool_group *g, pool_slot *s, int64_t now);
/* Locked: take a slot off the lane list (its state is the caller's). */
void dm_pool_lane_unlink(pool_group *g, pool_slot *s);
/* Locked: steal one parked slot (CAS to SLOT_BORROWED, off the lane list,
 * not yet counted active), or NULL. */
pool_slot *dm_pool_lane_steal(pool_group *g);
/* Locked: 1 if some slot of g is parked. */
int dm_pool_lane_has_parked(const pool_group *g);
/* Locked: move every parked slot of g to the idle list (maintenance, close). */
void dm_pool_lane_reclaim(pool_group *g);
/* Locked: the group's idle connections (idle list and parked in the lane)
 * and borrowed ones (through the locked path and through the lane). */
void dm_pool_group_counts(const pool_group *g, int32_t *idle, int32_t *active);
/* Locked: the lane's share of the acquire count and of the busy time. */
void dm_pool_lane_stats(const dbmgmt_pool *pool, int64_t now, int64_t *acquires,
                        int64_t *busy_us);

/* replicas.c */
/* Unlocked: check every server's replication state and lag if due (one
 * thread at a time); reports events. */
void dm_pool_replicas_check(dbmgmt_pool *pool, int force);
/* Locked: whether replica group g may serve reads now. */
int dm_pool_replica_eligible(const pool_group *g, int64_t now);
/* Unlocked: close the checks' connections (pool close). */
void dm_pool_replicas_close(dbmgmt_pool *pool);
/* Borrow from one group (index), as dbmgmt_pool_acquire does for the
 * primary (pool_acquire.c). */
int dm_pool_acquire_group(dbmgmt_pool *pool, dbmgmt_conn **out, int32_t timeout_ms, int group,
                          const char *fn);
/* Locked: a group's server is no longer what it was (the primary turned
 * standby or went away): connections opened before now are not reused. */
void dm_pool_group_stale(pool_group *g, int64_t now);

/* stats.c */
int64_t dm_pool_wait_percentile(const dbmgmt_pool *pool, int permille, int64_t extra_zero);
void dm_pool_wait_record(dbmgmt_pool *pool, int64_t wait_us);

#endif
