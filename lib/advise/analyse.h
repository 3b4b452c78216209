/*
 * The query analyser of the index advisor (DESIGN §8): reads one SELECT,
 * UPDATE, DELETE or INSERT with the SQL lexer and reports, per table and
 * per OR-ed branch of its conditions, the columns an index could serve:
 * equality (=, IN (...), IS NULL), range (<, >, BETWEEN, LIKE 'prefix%'),
 * join, ORDER BY and GROUP BY columns, with the collation a term names
 * (`b COLLATE NOCASE = ?`; not on MySQL, whose indexes take none) and each
 * ORDER BY term's direction. Column references are resolved
 * against the catalog (aliases, qualified and quoted names); subqueries in
 * FROM, IN (...) and elsewhere are analysed as scopes of their own.
 */
#ifndef DM_ADVISE_ANALYSE_H
#define DM_ADVISE_ANALYSE_H

#include <stddef.h>

#include "drivers/driver.h"

#define ADV_MAX_COLS 16

/* One key column as a statement asks for it. The column name points into
 * the catalog (it lives as long as the catalog); the collation, when the
 * statement names one (`b COLLATE NOCASE`), into the analysis. */
typedef struct adv_key {
    const char *column;
    const char *collation; /* NULL: the column's own */
    int desc;              /* ORDER BY ... DESC */
} adv_key;

typedef struct adv_cols {
    adv_key v[ADV_MAX_COLS];
    size_t n;
} adv_cols;

/* What the statement does to its table (adv_analysis.written). */
enum { ADV_WRITE_NONE = 0, ADV_WRITE_INSERT, ADV_WRITE_UPDATE, ADV_WRITE_DELETE };

/* What one scope and one OR branch asks of one table. */
typedef struct adv_access {
    const dm_cat_table *table;
    adv_cols eq;    /* equality and IN, then join columns */
    size_t njoin;   /* how many of eq (at its end) are join columns */
    adv_cols range; /* each column once, in the order met */
    adv_cols order; /* usable only when order_ok; each term's direction and collation */
    int order_ok;   /* every ORDER BY term is a column of this table */
    adv_cols group; /* usable only when group_ok */
    int group_ok;
} adv_access;

typedef struct adv_analysis {
    adv_access *accesses;
    size_t naccesses;
    size_t cap;
    const dm_cat_table *written; /* the table an INSERT/UPDATE/DELETE changes */
    int write_kind;              /* ADV_WRITE_*: what the statement does to written */
    char **collations;           /* the collation names keys point to (owned) */
    size_t ncollations;
    int failed;                  /* out of memory */
} adv_analysis;

/* Analyse sql (one statement) in dialect against cat. Statements that are
 * not queries give no accesses. Returns DBMGMT_OK, DBMGMT_ERR_NOMEM, or
 * DBMGMT_ERR_PARSE when the lexer rejects the text. */
int adv_analyse(dbmgmt_engine dialect, const dm_catalog *cat, const char *sql, size_t len,
                adv_analysis *out);
void adv_analysis_clear(adv_analysis *a);

#endif
