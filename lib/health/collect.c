/*
 * Collecting a snapshot (docs/health.md): the connection's driver reads the
 * engine's own statistics (its health op, lib/drivers/ENGINE_health.c); a pool
 * adds its own figures and its replicas' lag. Helpers the drivers share
 * are here too (health_collect.h).
 */
#include "health_collect.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/statvfs.h>
#include <time.h>

#include "conn/conn.h"
#include "core/alloc.h"
#include "core/dsn.h"
#include "core/error.h"
#include "pool/pool_impl.h"

int dm_health_add_table(dbmgmt_health *h, const char *name, int64_t bytes)
{
    if (h->ntables >= DM_HEALTH_MAX_TABLES)
        return DBMGMT_OK;
    char *copy = dm_strdup(name ? name : "");
    if (!copy)
        return DBMGMT_ERR_NOMEM;
    h->tables[h->ntables].name = copy;
    h->tables[h->ntables].bytes = bytes;
    h->ntables++;
    return DBMGMT_OK;
}

int dm_health_add_replica(dbmgmt_health *h, const char *name, double lag_seconds)
{
    char *copy = dm_strdup(name ? name : "");
    if (!copy)
        return DBMGMT_ERR_NOMEM;
    dm_health_replica *grown =
        dm_realloc(h->replicas, (h->nreplicas + 1) * sizeof *h->replicas);
    if (!grown) {
        dm_free(copy);
        return DBMGMT_ERR_NOMEM;
    }
    h->replicas = grown;
    h->replicas[h->nreplicas].name = copy;
    h->replicas[h->nreplicas].lag_seconds = lag_seconds;
    h->nreplicas++;
    return DBMGMT_OK;
}

void dm_health_set_cache(dbmgmt_health *h, double hits, double reads)
{
    dm_health_set(h, DBMGMT_HEALTH_CACHE_HITS_TOTAL, hits);
    dm_health_set(h, DBMGMT_HEALTH_CACHE_READS_TOTAL, reads);
    if (hits + reads > 0)
        dm_health_set(h, DBMGMT_HEALTH_CACHE_HIT_RATIO, hits / (hits + reads));
}

void dm_health_set_disk(dbmgmt_health *h, const char *path)
{
    struct statvfs fs;
    if (!path || !*path || statvfs(path, &fs) != 0 || fs.f_blocks == 0)
        return;
    double size = (double)fs.f_blocks * (double)fs.f_frsize;
    double used = (double)(fs.f_blocks - fs.f_bfree) * (double)fs.f_frsize;
    dm_health_set(h, DBMGMT_HEALTH_DISK_USED_RATIO, used / size);
}

int dm_health_address_is_local(const char *address)
{
    if (!address || !*address)
        return 1; /* a unix socket */
    char host[256];
    snprintf(host, sizeof host, "%s", address);
    /* "[::1]:port", "127.0.0.1:port", "localhost:port": drop the port */
    char *end = host[0] == '[' ? strchr(host, ']') : NULL;
    if (end) {
        *end = '\0';
        memmove(host, host + 1, strlen(host + 1) + 1);
    } else if (strchr(host, ':') == strrchr(host, ':') && strchr(host, ':')) {
        *strchr(host, ':') = '\0';
    }
    return strcasecmp(host, "localhost") == 0 || strncmp(host, "127.", 4) == 0 ||
           strcmp(host, "::1") == 0 || strcmp(host, "::ffff:127.0.0.1") == 0;
}

int64_t dm_health_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int collect_conn(dbmgmt_conn *conn, int64_t at_ms, dbmgmt_health **out)
{
    dm_error_reset(&conn->err);
    if (!conn->drv->health)
        return dm_conn_failed(conn, dm_conn_fail(conn, DBMGMT_ERR_UNSUPPORTED,
                                                 "the %s driver reads no health statistics",
                                                 conn->drv->name));
    dbmgmt_health *h = dm_health_new(conn->drv->engine, at_ms);
    if (!h)
        return dm_conn_fail(conn, DBMGMT_ERR_NOMEM, "out of memory collecting health");
    int rc = conn->drv->health(conn->dc, h, &conn->err);
    if (rc != DBMGMT_OK) {
        dbmgmt_health_free(h);
        return dm_conn_failed(conn, rc);
    }
    *out = h;
    return DBMGMT_OK;
}

/* A replica's name for people: host:port of its DSN (never the password),
 * or the redacted DSN when it has no host. */
static char *replica_name(const pool_group *g)
{
    dm_dsn *d = NULL;
    char *name = NULL;
    if (dm_dsn_parse(g->dsn, &d, NULL) == DBMGMT_OK && d->host) {
        size_t cap = strlen(d->host) + 16;
        name = dm_malloc(cap);
        if (name && strchr(d->host, ':'))
            snprintf(name, cap, "[%s]:%d", d->host, d->port);
        else if (name)
            snprintf(name, cap, "%s:%d", d->host, d->port);
    } else {
        name = dm_strdup(g->shown ? g->shown : "replica");
    }
    dm_dsn_free(d);
    return name;
}

/* The pool's figures, read after the health check gave its connection
 * back (so they are the application's, not the check's), and the lag of
 * each replica at the pool's last check of it. */
static int add_pool_figures(dbmgmt_pool *pool, dbmgmt_health *h)
{
    double active = (double)dbmgmt_pool_metric(pool, DBMGMT_POOL_ACTIVE);
    double max = (double)dbmgmt_pool_metric(pool, DBMGMT_POOL_MAX);
    dm_health_set(h, DBMGMT_HEALTH_POOL_ACTIVE, active);
    dm_health_set(h, DBMGMT_HEALTH_POOL_IDLE, (double)dbmgmt_pool_metric(pool, DBMGMT_POOL_IDLE));
    dm_health_set(h, DBMGMT_HEALTH_POOL_WAITING,
                  (double)dbmgmt_pool_metric(pool, DBMGMT_POOL_WAITING));
    dm_health_set(h, DBMGMT_HEALTH_POOL_MAX, max);

    int64_t lag_ms[DM_POOL_MAX_REPLICAS];
    int nreplicas;
    pthread_mutex_lock(&pool->lock);
    nreplicas = pool->ngroups - 1;
    for (int i = 0; i < nreplicas; i++)
        lag_ms[i] = pool->groups[1 + i].lag_ms;
    pthread_mutex_unlock(&pool->lock);
    /* both count the primary and the replicas together */
    if (max > 0)
        dm_health_set(h, DBMGMT_HEALTH_POOL_USAGE_RATIO, active / max);

    double worst = -1;
    for (int i = 0; i < nreplicas; i++) {
        char *name = replica_name(&pool->groups[1 + i]);
        double lag = lag_ms[i] >= 0 ? (double)lag_ms[i] / 1000.0 : -1;
        int rc = name ? dm_health_add_replica(h, name, lag) : DBMGMT_ERR_NOMEM;
        dm_free(name);
        if (rc != DBMGMT_OK)
            return dm_error_set(NULL, DBMGMT_ERR_NOMEM, "out of memory naming the pool's replicas");
        if (lag > worst)
            worst = lag;
    }
    if (worst >= 0)
        dm_health_set(h, DBMGMT_HEALTH_POOL_REPLICA_LAG_SECONDS, worst);
    return DBMGMT_OK;
}

static int collect_pool(dbmgmt_pool *pool, int64_t at_ms, dbmgmt_health **out)
{
    dbmgmt_conn *conn = NULL;
    int rc = dbmgmt_pool_acquire(pool, &conn, -1);
    if (rc != DBMGMT_OK)
        return rc;
    dbmgmt_health *h = NULL;
    rc = collect_conn(conn, at_ms, &h);
    if (rc != DBMGMT_OK) {
        dm_error failed = conn->err;
        dbmgmt_pool_release(pool, conn);
        return dm_error_copy(NULL, &failed);
    }
    dbmgmt_pool_release(pool, conn);
    rc = add_pool_figures(pool, h);
    if (rc != DBMGMT_OK) {
        dbmgmt_health_free(h);
        return rc;
    }
    *out = h;
    return DBMGMT_OK;
}

int dm_health_collect_at(dbmgmt_conn *conn, dbmgmt_pool *pool, int64_t at_ms,
                         dbmgmt_health **out)
{
    return conn ? collect_conn(conn, at_ms, out) : collect_pool(pool, at_ms, out);
}

DBMGMT_API int dbmgmt_health_collect(dbmgmt_conn *conn, dbmgmt_health **out)
{
    if (!out)
        return dm_error_invalid("dbmgmt_health_collect", "out is NULL");
    *out = NULL;
    if (!conn)
        return dm_error_invalid("dbmgmt_health_collect", "conn is NULL");
    return collect_conn(conn, dm_health_wall_ms(), out);
}

DBMGMT_API int dbmgmt_health_collect_pool(dbmgmt_pool *pool, dbmgmt_health **out)
{
    if (!out)
        return dm_error_invalid("dbmgmt_health_collect_pool", "out is NULL");
    *out = NULL;
    if (!pool)
        return dm_error_invalid("dbmgmt_health_collect_pool", "pool is NULL");
    return collect_pool(pool, dm_health_wall_ms(), out);
}
