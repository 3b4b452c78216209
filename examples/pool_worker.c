/*
 * pool_worker: the service shape libdbmgmt is built for. Migrate on boot,
 * open a pool, then 8 worker threads serve requests by borrowing pooled
 * connections (a write in a transaction, a read from a replica if there is
 * one), and at the end print the pool's metrics.
 *
 *   pool_worker [DSN [MIGRATIONS_DIR [REQUESTS_PER_WORKER]]]
 *   DSN defaults to $DATABASE_URL, then sqlite:app.db; the folder to ./migrations.
 */
#include <dbmgmt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#define WORKERS 8

typedef struct service {
    dbmgmt_pool *pool;
    long long first_id;
    int requests_per_worker;
    pthread_mutex_t lock;
    int served, failed;
} service;

typedef struct worker {
    service *svc;
    int index;
} worker;

/* One request: record an order for the demo account, in a transaction. */
static int place_order(service *svc, long long order_id)
{
    dbmgmt_conn *conn = NULL;
    int rc = dbmgmt_pool_acquire(svc->pool, &conn, -1); /* the configured timeout */
    if (rc != DBMGMT_OK) {
        fprintf(stderr, "no connection: %s\n", dbmgmt_errmsg()); /* says why, with counts */
        return rc;
    }
    char id[32];
    snprintf(id, sizeof id, "%lld", order_id);
    const char *params[] = {id};
    dbmgmt_result *res = NULL;
    rc = dbmgmt_conn_begin(conn);
    if (rc == DBMGMT_OK)
        rc = dbmgmt_conn_query(conn, &res, "INSERT INTO orders (id, account_id, total_cents, status) "
                               "VALUES (?, 1, 1999, 'new')", 1, params);
    dbmgmt_result_free(res);
    if (rc == DBMGMT_OK)
        rc = dbmgmt_conn_commit(conn);
    if (rc != DBMGMT_OK)
        fprintf(stderr, "order %lld failed: %s\n", order_id, dbmgmt_conn_errmsg(conn));
    /* Back to the pool; had we failed mid-transaction, the pool rolls it back. */
    dbmgmt_pool_release(svc->pool, conn);
    return rc;
}

/* Another request: read, from a replica when the pool has one. */
static int count_orders(service *svc, long long *count)
{
    dbmgmt_conn *conn = NULL;
    dbmgmt_result *res = NULL;
    int rc = dbmgmt_pool_acquire_read(svc->pool, &conn, -1);
    if (rc != DBMGMT_OK)
        return rc;
    rc = dbmgmt_conn_query(conn, &res, "SELECT COUNT(*) FROM orders", 0, NULL);
    if (rc == DBMGMT_OK && dbmgmt_result_next(res) == 1)
        *count = dbmgmt_result_int64(res, 0);
    dbmgmt_result_free(res);
    dbmgmt_pool_release(svc->pool, conn);
    return rc;
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    service *svc = w->svc;
    for (int i = 0; i < svc->requests_per_worker; i++) {
        long long id = svc->first_id + (long long)w->index * svc->requests_per_worker + i;
        long long seen = 0;
        int rc = place_order(svc, id);
        if (rc == DBMGMT_OK && i % 4 == 0)
            rc = count_orders(svc, &seen);
        pthread_mutex_lock(&svc->lock);
        if (rc == DBMGMT_OK)
            svc->served++;
        else
            svc->failed++;
        pthread_mutex_unlock(&svc->lock);
    }
    return NULL;
}

static long long query_number(dbmgmt_pool *pool, const char *sql)
{
    dbmgmt_conn *conn = NULL;
    dbmgmt_result *res = NULL;
    long long v = -1;
    if (dbmgmt_pool_acquire(pool, &conn, -1) != DBMGMT_OK)
        return -1;
    if (dbmgmt_conn_query(conn, &res, sql, 0, NULL) == DBMGMT_OK && dbmgmt_result_next(res) == 1)
        v = dbmgmt_result_int64(res, 0);
    dbmgmt_result_free(res);
    dbmgmt_pool_release(pool, conn);
    return v;
}

static void print_metrics(dbmgmt_pool *pool)
{
    static const struct { int32_t id; const char *name; } metrics[] = {
        {DBMGMT_POOL_TOTAL, "total"}, {DBMGMT_POOL_IDLE, "idle"}, {DBMGMT_POOL_ACTIVE, "active"},
        {DBMGMT_POOL_MAX, "max"}, {DBMGMT_POOL_ACQUIRES, "acquires"},
        {DBMGMT_POOL_TIMEOUTS, "timeouts"}, {DBMGMT_POOL_CREATED, "created"},
        {DBMGMT_POOL_DESTROYED, "destroyed"}, {DBMGMT_POOL_LEAKS, "leaks"},
        {DBMGMT_POOL_WAIT_P50_US, "wait_p50_us"}, {DBMGMT_POOL_WAIT_P99_US, "wait_p99_us"},
        {DBMGMT_POOL_UTILISATION_PCT, "utilisation_pct"},
    };
    printf("pool:");
    for (size_t i = 0; i < sizeof metrics / sizeof metrics[0]; i++)
        printf(" %s=%lld", metrics[i].name, (long long)dbmgmt_pool_metric(pool, metrics[i].id));
    printf("\n");
}

static void on_pool_event(void *userdata, int32_t event, const char *message)
{
    (void)userdata;
    fprintf(stderr, "pool event %d: %s\n", (int)event, message); /* leaks, outages, recovery */
}

int main(int argc, char **argv)
{
    const char *dsn = argc > 1 ? argv[1] : getenv("DATABASE_URL") ? getenv("DATABASE_URL") : "sqlite:app.db";
    const char *dir = argc > 2 ? argv[2] : "migrations";
    int per_worker = argc > 3 ? atoi(argv[3]) : 100;

    /* 1. Migrate on boot: the schema is current, or we do not start. */
    int rc = dbmgmt_migrate_on_boot(dsn, dir, NULL, getenv("APP_ENV") ? getenv("APP_ENV") : "development");
    if (rc != DBMGMT_OK) {
        fprintf(stderr, "refusing to start (%s): %s\n", dbmgmt_status_name(rc), dbmgmt_errmsg());
        return 1;
    }

    /* 2. The pool: defaults suit most services; here a leak report after 10 s. */
    dbmgmt_pool_config *cfg = NULL;
    dbmgmt_pool *pool = NULL;
    if (dbmgmt_pool_config_new(&cfg) != DBMGMT_OK ||
        dbmgmt_pool_config_set_leak_threshold_ms(cfg, 10000) != DBMGMT_OK ||
        dbmgmt_pool_config_set_event_callback(cfg, on_pool_event, NULL) != DBMGMT_OK ||
        dbmgmt_pool_open(&pool, dsn, cfg) != DBMGMT_OK) {
        fprintf(stderr, "cannot open the pool: %s\n", dbmgmt_errmsg());
        dbmgmt_pool_config_free(cfg);
        return 1;
    }
    dbmgmt_pool_config_free(cfg); /* the pool keeps its own copy */

    /* 3. Serve. */
    service svc = {.pool = pool, .requests_per_worker = per_worker};
    pthread_mutex_init(&svc.lock, NULL);
    long long before = query_number(pool, "SELECT COUNT(*) FROM orders");
    svc.first_id = query_number(pool, "SELECT COALESCE(MAX(id), 0) FROM orders") + 1;
    pthread_t threads[WORKERS];
    worker workers[WORKERS];
    for (int i = 0; i < WORKERS; i++) {
        workers[i] = (worker){&svc, i};
        pthread_create(&threads[i], NULL, worker_main, &workers[i]);
    }
    for (int i = 0; i < WORKERS; i++)
        pthread_join(threads[i], NULL);
    long long after = query_number(pool, "SELECT COUNT(*) FROM orders");
    printf("served %d requests with %d workers (%d failed); orders %lld -> %lld\n", svc.served,
           WORKERS, svc.failed, before, after);
    print_metrics(pool);

    /* 4. Shut down: wait up to 5 s for borrowed connections. */
    rc = dbmgmt_pool_close(pool, 5000);
    pthread_mutex_destroy(&svc.lock);
    return svc.failed == 0 && after - before == (long long)WORKERS * per_worker && rc == DBMGMT_OK ? 0 : 1;
}
