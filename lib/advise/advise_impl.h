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
    size_t parent; /* a trigger's statement: index + 1 of the one firing it; 0 none */
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

/* A key column of a proposed index as its DDL creates it. */
typedef struct adv_finding_key {
    char *column;
    char *collation; /* NULL: the column's own */
    int desc;
} adv_finding_key;

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
    adv_finding_key *keys; /* missing findings: the proposed key, in order */
    size_t nkeys;
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
/* Give f the keys of the index it proposes (copied). */
int adv_finding_set_keys(dbmgmt_advice *adv, adv_finding *f, const adv_key *keys, size_t n);
void adv_sort_findings(dbmgmt_advice *adv);

/* "a,b,c" of n names into out. */
void adv_join_columns(dm_buf *out, char *const *names, size_t n);
/* "a,b,c" of the column names of n keys into out. */
void adv_join_keys(dm_buf *out, const adv_key *keys, size_t n);
/* Append name as an identifier, quoted only when it has to be (not a plain
 * lower-case word, or a keyword). */
void adv_put_ident(const dm_driver *drv, dm_buf *out, const char *name);
/* Append a key as an index column: name [COLLATE x] [DESC]. */
void adv_put_key(const dm_driver *drv, dm_buf *out, const adv_key *key);

/* The schema findings (duplicate, redundant, unused, fk_unindexed,
 * low_cardinality_lead, over_indexed). used[i] is 1 when a plan of the
 * workload used catalog index i, or NULL when not known. */
void adv_schema_findings(dbmgmt_advisor *a, const dm_catalog *cat, const int *used,
                         const adv_table_load *load, dbmgmt_advice *adv);

/* SQLite facts the driver's catalog does not carry (advise_sqlite.c). */
/* Add the generated columns of every table to cat (DBMGMT_ERR_NOMEM or OK:
 * a table that cannot be read keeps the columns it has). */
int adv_sqlite_generated_columns(dbmgmt_conn *conn, dm_catalog *cat);
typedef int (*adv_statement_fn)(void *userdata, const char *sql);
/* fn for each statement of each trigger on table that a write of kind
 * (ADV_WRITE_*) fires, with NEW.x / OLD.x as ? (DBMGMT_ERR_NOMEM or OK). */
int adv_sqlite_trigger_statements(dbmgmt_conn *conn, const char *table, int kind,
                                  adv_statement_fn fn, void *userdata);

#endif
