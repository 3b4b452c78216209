/*
 * Internal: what the drivers' health ops (lib/drivers/postgres_health.c, ...) use to
 * fill a snapshot besides dm_health_set() (health_impl.h): the largest
 * tables, replicas, the cache figures and the data's file system. Defined
 * in collect.c.
 */
#ifndef DM_HEALTH_COLLECT_H
#define DM_HEALTH_COLLECT_H

#include <stdint.h>

#include "health_impl.h"

/* Append a table (the caller gives them largest first; past
 * DM_HEALTH_MAX_TABLES they are ignored). DBMGMT_OK or DBMGMT_ERR_NOMEM. */
int dm_health_add_table(dbmgmt_health *h, const char *name, int64_t bytes);
/* Append a replica (lag -1: unknown). DBMGMT_OK or DBMGMT_ERR_NOMEM. */
int dm_health_add_replica(dbmgmt_health *h, const char *name, double lag_seconds);
/* Hits and reads (cache misses) as the engine counts them; the ratio too
 * when there was at least one of either. */
void dm_health_set_cache(dbmgmt_health *h, double hits, double reads);
/* DBMGMT_HEALTH_DISK_USED_RATIO of the file system holding path (used /
 * size, statvfs); left absent when path cannot be looked at here. */
void dm_health_set_disk(dbmgmt_health *h, const char *path);
/* 1 when an address as a server shows its clients ("127.0.0.1", "::1",
 * "localhost", with or without ":port"; NULL or "" for a unix socket)
 * means the client is on the server's own machine. */
int dm_health_address_is_local(const char *address);

/* A snapshot stamped at_ms: of conn, or (conn NULL) of the pool's primary
 * plus the pool's figures. What dbmgmt_health_collect[_pool] and the
 * sampler (sampler.c) share. */
int dm_health_collect_at(dbmgmt_conn *conn, dbmgmt_pool *pool, int64_t at_ms,
                         dbmgmt_health **out);
/* Milliseconds since the Unix epoch (CLOCK_REALTIME). */
int64_t dm_health_wall_ms(void);

#endif /* DM_HEALTH_COLLECT_H */
