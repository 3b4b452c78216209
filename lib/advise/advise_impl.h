/* Internal view of the advisor and its advice (lib/advise). */
#ifndef DM_ADVISE_IMPL_H
#define DM_ADVISE_IMPL_H

#include "analyse.h"
#include "conn/conn.h"
#include "dbmgmt/advise.h"
#include "findings/findings.h"

typedef struct adv_query {
    char *sql;
    double weight;
    adv_analysis an;
    int skipped;        /* could not be analysed or explained */
    double cost_before; /* -1 unknown */
    double cost_after;
} adv_query;

struct dbmgmt_advisor {
    dbmgmt_conn *conn;
    adv_query *queries;
    size_t nqueries, cap;
    size_t *slots; /* open-addressing hash of query texts: index + 1, 0 = empty */
    size_t nslots;
    double min_saving;
    int32_t max_indexes;
    dm_error err;
};

typedef struct adv_finding {
    int32_t kind;
    char *table;
    char *columns;
    char *index;
    char *ddl;
    char *reason;
    int32_t confirmed;
    double cost_before, cost_after;
    char **queries;
    size_t nqueries;
} adv_finding;

struct dbmgmt_advice {
    dm_findings findings; /* of adv_finding */
    const char *engine;
    int confirmation; /* the planner was asked */
    char *note;
    size_t statements, skipped;
    int failed; /* out of memory while building */
};

/* Per-table workload weights, for over-indexed and write-heavy notes. */
typedef struct adv_table_load {
    double reads, writes;
} adv_table_load;

/* A new finding at the end of adv (strings copied; NULL -> ""); NULL and
 * adv->failed when memory runs out. */
adv_finding *adv_add_finding(dbmgmt_advice *adv, int32_t kind, const char *table,
                             const char *columns, const char *index, const char *ddl,
                             const char *reason);
int adv_finding_add_query(dbmgmt_advice *adv, adv_finding *f, const char *sql);
void adv_sort_findings(dbmgmt_advice *adv);

/* "a,b,c" of n names into out. */
void adv_join_columns(dm_buf *out, char *const *names, size_t n);
/* Append name as an identifier, quoted only when it has to be. */
void adv_put_ident(const dm_driver *drv, dm_buf *out, const char *name);

/* The schema findings (duplicate, redundant, unused, fk_unindexed,
 * low_cardinality_lead, over_indexed). used[i] is 1 when a plan of the
 * workload used catalog index i, or NULL when not known. */
void adv_schema_findings(dbmgmt_advisor *a, const dm_catalog *cat, const int *used,
                         const adv_table_load *load, dbmgmt_advice *adv);

#endif
