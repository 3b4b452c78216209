/*
 * bench_replica_read: what a lag bound costs dbmgmt_pool_acquire_read (issue 18).
 *
 * Two pools with the same replicas, one without max_replica_lag_ms and one
 * with 500 ms; THREADS threads borrow a read connection and give it back in a
 * tight loop (no statement) for ROUND_SECONDS, alternating the pools for
 * ROUNDS rounds each. Prints the ops/s of each (best round) and the cost ratio
 * (with bound / without); the target is <= 1.10, since the lag is measured by
 * the maintenance work, never in acquire.
 *
 * Servers, in this order:
 *   DBMGMT_TEST_CLUSTER_DSN + DBMGMT_TEST_CLUSTER_MEMBER_DSNS: the cluster of
 *     tests/cluster.sh (the primary through its multi-host DSN, each member
 *     that is a standby now as a replica);
 *   DBMGMT_TEST_PG_DSN: one server, given again as the replica. It is not a
 *     standby, so the pool with a bound falls back to the primary: the figures
 *     then compare the fallback path with a replica read, a rougher measure.
 * Without either it is skipped (exit 77). Run on demand:
 *   bash tests/cluster.sh run -- meson test -C build --benchmark --suite cluster -v
 */
#include <dbmgmt.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define THREADS 4
#define ROUNDS 3
#define ROUND_SECONDS 2
#define LAG_BOUND_MS 500
#define MAX_REPLICAS 16

typedef struct bench_run {
    dbmgmt_pool *pool;
    atomic_int stop;
    atomic_llong ops, errors;
} bench_run;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *reader_main(void *arg)
{
    bench_run *run = arg;
    long long ops = 0, errors = 0;
    while (!atomic_load_explicit(&run->stop, memory_order_relaxed)) {
        dbmgmt_conn *conn = NULL;
        if (dbmgmt_pool_acquire_read(run->pool, &conn, 5000) != DBMGMT_OK) {
            errors++;
            continue;
        }
        dbmgmt_pool_release(run->pool, conn);
        ops++;
    }
    atomic_fetch_add(&run->ops, ops);
    atomic_fetch_add(&run->errors, errors);
    return NULL;
}

/* One round: ops/s over ROUND_SECONDS, or -1. */
static double run_round(dbmgmt_pool *pool)
{
    bench_run run;
    memset(&run, 0, sizeof run);
    run.pool = pool;
    pthread_t threads[THREADS];
    int started = 0;
    double t0 = now_s();
    for (; started < THREADS; started++)
        if (pthread_create(&threads[started], NULL, reader_main, &run) != 0)
            break;
    struct timespec pause = {ROUND_SECONDS, 0};
    nanosleep(&pause, NULL);
    atomic_store(&run.stop, 1);
    for (int i = 0; i < started; i++)
        pthread_join(threads[i], NULL);
    double elapsed = now_s() - t0;
    if (started < THREADS || atomic_load(&run.errors) > 0) {
        fprintf(stderr, "bench_replica_read: %d threads started, %lld acquires failed: %s\n",
                started, (long long)atomic_load(&run.errors), dbmgmt_errmsg());
        return -1;
    }
    return (double)atomic_load(&run.ops) / elapsed;
}

static dbmgmt_pool *open_pool(const char *primary, char **replicas, int nreplicas, int bound)
{
    dbmgmt_pool_config *cfg = NULL;
    dbmgmt_pool *pool = NULL;
    int rc = dbmgmt_pool_config_new(&cfg);
    if (rc == DBMGMT_OK)
        rc = dbmgmt_pool_config_set_max_size(cfg, THREADS + 1);
    if (rc == DBMGMT_OK)
        rc = dbmgmt_pool_config_set_min_idle(cfg, THREADS);
    for (int i = 0; rc == DBMGMT_OK && i < nreplicas; i++)
        rc = dbmgmt_pool_config_add_replica(cfg, replicas[i]);
    if (rc == DBMGMT_OK && bound)
        rc = dbmgmt_pool_config_set_max_replica_lag_ms(cfg, LAG_BOUND_MS);
    if (rc == DBMGMT_OK)
        rc = dbmgmt_pool_open(&pool, primary, cfg);
    if (rc != DBMGMT_OK)
        fprintf(stderr, "bench_replica_read: cannot open a pool: %s\n", dbmgmt_errmsg());
    dbmgmt_pool_config_free(cfg);
    return pool;
}

/* 1 if the server of dsn is a standby now. */
static int is_standby(const char *dsn)
{
    dbmgmt_conn *conn = NULL;
    dbmgmt_result *res = NULL;
    int standby = 0;
    if (dbmgmt_conn_open(&conn, dsn) == DBMGMT_OK &&
        dbmgmt_conn_query(conn, &res, "SELECT pg_is_in_recovery()::int", 0, NULL) == DBMGMT_OK &&
        dbmgmt_result_next(res) == 1)
        standby = (int)dbmgmt_result_int64(res, 0);
    dbmgmt_result_free(res);
    dbmgmt_conn_close(conn);
    return standby;
}

/* Whether a read of this pool lands on a standby (1), the primary (0), or fails (-1). */
static int read_lands_on_standby(dbmgmt_pool *pool)
{
    dbmgmt_conn *conn = NULL;
    dbmgmt_result *res = NULL;
    int standby = -1;
    if (dbmgmt_pool_acquire_read(pool, &conn, 5000) == DBMGMT_OK &&
        dbmgmt_conn_query(conn, &res, "SELECT pg_is_in_recovery()::int", 0, NULL) == DBMGMT_OK &&
        dbmgmt_result_next(res) == 1)
        standby = (int)dbmgmt_result_int64(res, 0);
    dbmgmt_result_free(res);
    dbmgmt_pool_release(pool, conn);
    return standby;
}

int main(void)
{
    const char *primary = getenv("DBMGMT_TEST_CLUSTER_DSN");
    const char *members = getenv("DBMGMT_TEST_CLUSTER_MEMBER_DSNS");
    const char *setup = "the cluster of tests/cluster.sh";
    int cluster = 1;
    if (!primary || !*primary || !members || !*members) {
        primary = members = getenv("DBMGMT_TEST_PG_DSN");
        setup = "one server, also given as the replica";
        cluster = 0;
    }
    if (!primary || !*primary) {
        printf("skipped: neither DBMGMT_TEST_CLUSTER_DSN nor DBMGMT_TEST_PG_DSN is set\n");
        return 77;
    }
    char *list = strdup(members), *save = NULL, *replicas[MAX_REPLICAS];
    int nreplicas = 0;
    for (char *tok = list ? strtok_r(list, " ", &save) : NULL; tok && nreplicas < MAX_REPLICAS;
         tok = strtok_r(NULL, " ", &save))
        if (!cluster || is_standby(tok)) /* the leader is no replica */
            replicas[nreplicas++] = tok;

    dbmgmt_pool *plain = open_pool(primary, replicas, nreplicas, 0);
    dbmgmt_pool *bounded = plain ? open_pool(primary, replicas, nreplicas, 1) : NULL;
    int rc = 1;
    if (!plain || !bounded)
        goto out;
    printf("%s: %d replicas, %d threads, acquire_read + release, %d rounds of %d s each\n",
           setup, nreplicas, THREADS, ROUNDS, ROUND_SECONDS);
    printf("reads land on a standby: without bound %s, with bound %s\n",
           read_lands_on_standby(plain) == 1 ? "yes" : "no",
           read_lands_on_standby(bounded) == 1 ? "yes" : "no");
    double best_plain = 0, best_bounded = 0;
    for (int r = 0; r < ROUNDS; r++) { /* alternated: the machine's load hits both alike */
        double a = run_round(plain), b = run_round(bounded);
        if (a < 0 || b < 0)
            goto out;
        printf("round %d: without bound %.0f ops/s, with max_replica_lag_ms %d: %.0f ops/s\n",
               r + 1, a, LAG_BOUND_MS, b);
        best_plain = a > best_plain ? a : best_plain;
        best_bounded = b > best_bounded ? b : best_bounded;
    }
    double ratio = best_plain / best_bounded; /* cost per op, with / without */
    printf("best: without bound %.0f ops/s, with bound %.0f ops/s\n", best_plain, best_bounded);
    printf("cost ratio (with bound / without): %.2fx (target <= 1.10: %s)\n", ratio,
           ratio <= 1.10 ? "met" : "NOT met");
    rc = 0;
out:
    dbmgmt_pool_close(bounded, 5000);
    dbmgmt_pool_close(plain, 5000);
    free(list);
    return rc;
}
