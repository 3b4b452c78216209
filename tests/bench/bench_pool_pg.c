/*
 * The pool over PostgreSQL (issue 23): SELECT 1 from 8 threads
 *   pool       each request acquires a connection from a dbmgmt pool of 8,
 *              runs SELECT 1 through it (dbmgmt_conn_query) and releases it;
 *   dedicated  the floor, no pool at all: each thread holds its own libpq
 *              connection for the whole run and runs SELECT 1 with PQexec;
 *   per-request each request opens a new connection (dbmgmt_conn_open, TLS
 *              as the DSN says), runs SELECT 1 and closes it.
 * Rounds alternate the modes, each round starting with the next one, and
 * the mode after per-request waits for its sessions' backends to be gone;
 * 5 rounds; prints the median throughput of each and the ratios: targets
 * pool >= 0.9x dedicated, >= 10x per-request.
 *
 *   bench-pool-pg [DSN]        ($DBMGMT_TEST_PG_DSN by default)
 * Prints figures; not a pass/fail test.
 */
#include <dbmgmt.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"

#define THREADS 8
#define ROUNDS 5
#define REQUESTS 4000     /* per thread and round: pool and dedicated */
#define FRESH_REQUESTS 40 /* per thread and round: a new connection each */

typedef enum mode { POOL, DEDICATED, PER_REQUEST, OWN_CONN } mode;

typedef struct worker {
    pthread_t thread;
    mode how;
    const char *dsn;
    dbmgmt_pool *pool;
    PGconn *pg;
    dbmgmt_conn *own; /* OWN_CONN: a libdbmgmt connection of the thread's, no pool */
    int failed;
} worker;

static int select_one(dbmgmt_conn *c)
{
    dbmgmt_result *r = NULL;
    int rc = dbmgmt_conn_query(c, &r, "SELECT 1", 0, NULL);
    if (rc == DBMGMT_OK && dbmgmt_result_next(r) != 1)
        rc = DBMGMT_ERR_SQL;
    dbmgmt_result_free(r);
    return rc;
}

static void *work(void *arg)
{
    worker *w = arg;
    int n = w->how == PER_REQUEST ? FRESH_REQUESTS : REQUESTS;
    for (int i = 0; i < n && !w->failed; i++) {
        dbmgmt_conn *c = NULL;
        if (w->how == POOL) {
            w->failed = dbmgmt_pool_acquire(w->pool, &c, -1) != DBMGMT_OK || select_one(c) != 0;
            dbmgmt_pool_release(w->pool, c);
        } else if (w->how == PER_REQUEST) {
            w->failed = dbmgmt_conn_open(&c, w->dsn) != DBMGMT_OK || select_one(c) != 0;
            dbmgmt_conn_close(c);
        } else if (w->how == OWN_CONN) {
            w->failed = select_one(w->own) != 0;
        } else {
            PGresult *r = PQexec(w->pg, "SELECT 1");
            w->failed = PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1;
            PQclear(r);
        }
    }
    return NULL;
}

/* One round of a mode: requests per second over all threads. */
static double round_of(mode how, const char *dsn, dbmgmt_pool *pool, PGconn **dedicated,
                       dbmgmt_conn **own)
{
    worker w[THREADS];
    memset(w, 0, sizeof w);
    double t0 = now_s();
    for (int i = 0; i < THREADS; i++) {
        w[i] = (worker){.how = how, .dsn = dsn, .pool = pool, .pg = dedicated[i], .own = own[i]};
        if (pthread_create(&w[i].thread, NULL, work, &w[i]) != 0) {
            fprintf(stderr, "bench-pool-pg: pthread_create failed\n");
            exit(1);
        }
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(w[i].thread, NULL);
    double elapsed = now_s() - t0;
    for (int i = 0; i < THREADS; i++)
        if (w[i].failed) {
            fprintf(stderr, "bench-pool-pg: a request failed: %s\n", dbmgmt_errmsg());
            exit(1);
        }
    int n = how == PER_REQUEST ? FRESH_REQUESTS : REQUESTS;
    return (double)THREADS * n / elapsed;
}

/* Client sessions the server has, this one included. */
static int client_backends(PGconn *pg)
{
    PGresult *res = PQexec(pg, "SELECT count(*) FROM pg_stat_activity"
                               " WHERE backend_type = 'client backend'");
    int n = PQresultStatus(res) == PGRES_TUPLES_OK ? atoi(PQgetvalue(res, 0, 0)) : -1;
    PQclear(res);
    if (n < 0) {
        fprintf(stderr, "bench-pool-pg: pg_stat_activity: %s", PQerrorMessage(pg));
        exit(1);
    }
    return n;
}

/* Waits (up to 5 s) until the server is back to baseline client sessions, then
 * 50 ms more for the exited backends' processes to be reaped. */
static void settle(PGconn *pg, int baseline)
{
    for (int i = 0; i < 500 && client_backends(pg) > baseline; i++)
        nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
    nanosleep(&(struct timespec){0, 50 * 1000 * 1000}, NULL);
}

int main(int argc, char **argv)
{
    const char *dsn = argc > 1 ? argv[1] : getenv("DBMGMT_TEST_PG_DSN");
    if (!dsn || !*dsn) {
        fprintf(stderr, "bench-pool-pg: pass a DSN or set DBMGMT_TEST_PG_DSN\n");
        return 1;
    }
    dbmgmt_pool_config *cfg = NULL;
    dbmgmt_pool *pool = NULL;
    if (dbmgmt_pool_config_new(&cfg) != DBMGMT_OK ||
        dbmgmt_pool_config_set_max_size(cfg, THREADS) != DBMGMT_OK ||
        dbmgmt_pool_open(&pool, dsn, cfg) != DBMGMT_OK) {
        fprintf(stderr, "bench-pool-pg: pool: %s\n", dbmgmt_errmsg());
        return 1;
    }
    PGconn *dedicated[THREADS];
    dbmgmt_conn *own[THREADS];
    for (int i = 0; i < THREADS; i++) {
        dedicated[i] = PQconnectdb(dsn);
        if (PQstatus(dedicated[i]) != CONNECTION_OK) {
            fprintf(stderr, "bench-pool-pg: libpq: %s", PQerrorMessage(dedicated[i]));
            return 1;
        }
        if (dbmgmt_conn_open(&own[i], dsn) != DBMGMT_OK) {
            fprintf(stderr, "bench-pool-pg: open: %s\n", dbmgmt_errmsg());
            return 1;
        }
    }
    (void)round_of(POOL, dsn, pool, dedicated, own); /* the pool fills; caches warm */
    (void)round_of(DEDICATED, dsn, pool, dedicated, own);
    int baseline = client_backends(dedicated[0]);
    double p[ROUNDS], d[ROUNDS], f[ROUNDS], o[ROUNDS];
    for (int r = 0; r < ROUNDS; r++) {
        /* Each round starts with another mode, so none always follows the
         * per-request mode, whose 320 closed sessions' backends are still
         * exiting when it ends; and the next mode waits until they are gone. */
        for (int k = 0; k < 4; k++) {
            mode how = (mode)((k + r) % 4);
            double rate = round_of(how, dsn, pool, dedicated, own);
            switch (how) {
            case POOL: p[r] = rate; break;
            case DEDICATED: d[r] = rate; break;
            case OWN_CONN: o[r] = rate; break;
            case PER_REQUEST:
                f[r] = rate;
                settle(dedicated[0], baseline);
                break;
            }
        }
        printf("round %d: pool %.0f req/s, dedicated libpq %.0f req/s, dedicated libdbmgmt"
               " connections %.0f req/s, a connection per request %.0f req/s\n",
               r + 1, p[r], d[r], o[r], f[r]);
    }
    double pm = median(p, ROUNDS), dm = median(d, ROUNDS), fm = median(f, ROUNDS);
    double om = median(o, ROUNDS);
    printf("SELECT 1 on PostgreSQL from %d threads, medians of %d: pool %.0f req/s, dedicated"
           " libpq connections %.0f req/s, a new connection per request %.0f req/s; pool /"
           " dedicated %.2fx (target >= 0.9x), pool / per-request %.1fx (target >= 10x);"
           " dedicated libdbmgmt connections, no pool: %.0f req/s (%.2fx libpq's)\n",
           THREADS, ROUNDS, pm, dm, fm, pm / dm, pm / fm, om, om / dm);
    for (int i = 0; i < THREADS; i++)
        dbmgmt_conn_close(own[i]);
    for (int i = 0; i < THREADS; i++)
        PQfinish(dedicated[i]);
    dbmgmt_pool_close(pool, 5000);
    dbmgmt_pool_config_free(cfg);
    return 0;
}
