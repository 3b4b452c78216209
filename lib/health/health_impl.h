/*
 * Internal: the health snapshot's layout, shared by collection (collect.c,
 * the drivers' health ops), the sampler, the alert rules and the Prometheus
 * exposition. Public API in include/dbmgmt/health.h.
 */
#ifndef DM_HEALTH_IMPL_H
#define DM_HEALTH_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "dbmgmt/health.h"

#define DM_HEALTH_MAX_TABLES 10

typedef struct dm_health_table {
    char *name;
    int64_t bytes;
} dm_health_table;

typedef struct dm_health_replica {
    char *name;
    double lag_seconds; /* -1 unknown */
} dm_health_replica;

struct dbmgmt_health {
    dbmgmt_engine engine;
    int64_t collected_at_ms;
    double value[DBMGMT_HEALTH_METRIC_COUNT];
    unsigned char present[DBMGMT_HEALTH_METRIC_COUNT]; /* 1: value[i] is set */
    dm_health_table tables[DM_HEALTH_MAX_TABLES];
    size_t ntables;
    dm_health_replica *replicas;
    size_t nreplicas;
    int refs; /* the sampler keeps a reference to its previous snapshot */
};

/* Set a figure (marks it present). */
static inline void dm_health_set(dbmgmt_health *h, int32_t metric, double v)
{
    h->value[metric] = v;
    h->present[metric] = 1;
}

/* A new, empty snapshot (refs 1); NULL on NOMEM. */
dbmgmt_health *dm_health_new(dbmgmt_engine engine, int64_t collected_at_ms);

/* alerts.c */
/* The rules of an alert set, for the Prometheus exposition: index 0 ..
 * dm_alerts_count() - 1, in the order the rules were added. */
size_t dm_alerts_count(const dbmgmt_alerts *a);
const char *dm_alerts_rule_name(const dbmgmt_alerts *a, size_t i);  /* NULL past the end */
int32_t dm_alerts_rule_metric(const dbmgmt_alerts *a, size_t i);    /* -1 past the end */
int32_t dm_alerts_rule_severity(const dbmgmt_alerts *a, size_t i);  /* dbmgmt_alert_severity */
int dm_alerts_rule_firing(const dbmgmt_alerts *a, size_t i);        /* 1 firing, else 0 */

#endif /* DM_HEALTH_IMPL_H */
