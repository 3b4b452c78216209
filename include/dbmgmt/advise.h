/*
 * libdbmgmt — index advice (DESIGN §8, docs/advise.md).
 *
 * An advisor reads a workload (SQL statements with weights: given by the
 * host, read from a file, or taken from the engine's own statistics) and the
 * live schema of a connection, and reports findings:
 *
 *   missing           an index the workload's WHERE / JOIN / ORDER BY /
 *                     GROUP BY columns need, built by the left-prefix rule
 *                     (equality columns, then one range column, or the
 *                     ORDER BY / GROUP BY columns), with its DDL
 *                     (idx_<table>_<columns>) and the queries it helps;
 *   duplicate         an index with the same key columns as another;
 *   redundant         an index that is a left prefix of another (never a
 *                     primary key or unique index, never one a foreign key
 *                     needs);
 *   unused            no scans in the engine's usage counters, or — where the
 *                     engine keeps none (SQLite) — used by no plan of the
 *                     workload (never a primary key, unique or FK index);
 *   fk_unindexed      a foreign key no index starts with;
 *   low_cardinality   an index whose leading column has few distinct values
 *                     (engine statistics);
 *   over_indexed      a table the workload mostly writes, with more indexes
 *                     than the bound (dbmgmt_advisor_set_max_indexes).
 *
 * Missing indexes are confirmed by the engine's planner where it can be
 * asked: SQLite builds the candidates in a scratch in-memory copy of the
 * schema (with the real sqlite_stat1) and keeps those EXPLAIN QUERY PLAN
 * uses; PostgreSQL uses HypoPG hypothetical indexes and compares EXPLAIN
 * costs. Elsewhere (MySQL/MariaDB, PostgreSQL without HypoPG) findings are
 * reported unconfirmed and dbmgmt_advice_note() says why.
 *
 * Threads: an advisor belongs to one thread at a time, like its connection.
 * Advice is immutable and may be read from any thread.
 */
#ifndef DBMGMT_ADVISE_H
#define DBMGMT_ADVISE_H

#include "common.h"
#include "conn.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct dbmgmt_advisor dbmgmt_advisor;
typedef struct dbmgmt_advice dbmgmt_advice;

/* Finding kinds (dbmgmt_advice_kind). Numbers are never reused. */
#define DBMGMT_ADVICE_MISSING 1
#define DBMGMT_ADVICE_DUPLICATE 2
#define DBMGMT_ADVICE_REDUNDANT 3
#define DBMGMT_ADVICE_UNUSED 4
#define DBMGMT_ADVICE_FK_UNINDEXED 5
#define DBMGMT_ADVICE_LOW_CARDINALITY_LEAD 6
#define DBMGMT_ADVICE_OVER_INDEXED 7

/*
 * A new advisor over conn (borrowed: it must outlive the advisor; a pooled
 * connection is fine). The catalog is read when dbmgmt_advisor_run() runs.
 * DBMGMT_ERR_INVALID for NULL arguments, DBMGMT_ERR_NOMEM.
 */
DBMGMT_API int dbmgmt_advisor_new(dbmgmt_advisor **out, dbmgmt_conn *conn);
/* Accepts NULL. */
DBMGMT_API void dbmgmt_advisor_free(dbmgmt_advisor *a);

/*
 * Add one statement to the workload with a weight > 0 (how often it runs;
 * 1 when unknown). Statements with the same text are merged and their
 * weights added. Placeholders (?, $1, :name) are fine. Statements that are
 * not SELECT / UPDATE / DELETE / INSERT count only as writes (INSERT) or
 * are ignored. DBMGMT_ERR_INVALID for a NULL sql or a weight <= 0.
 */
DBMGMT_API int dbmgmt_advisor_add_query(dbmgmt_advisor *a, const char *sql, double weight);
/*
 * Add every statement of an SQL file (split with the connection's dialect),
 * each with weight 1. DBMGMT_ERR_IO when the file cannot be read,
 * DBMGMT_ERR_PARSE ("path:line:column: ...") when it cannot be split.
 */
DBMGMT_API int dbmgmt_advisor_add_file(dbmgmt_advisor *a, const char *path);
/*
 * Add the workload the engine recorded: PostgreSQL's pg_stat_statements
 * (weight = calls) and MySQL/MariaDB's performance_schema statement digests
 * (weight = COUNT_STAR). DBMGMT_ERR_UNSUPPORTED when the engine keeps none
 * (SQLite) or the view cannot be read (the message says why).
 */
DBMGMT_API int dbmgmt_advisor_use_engine_stats(dbmgmt_advisor *a);

/* The smallest relative cost saving (0..1, default 0.3) a PostgreSQL
 * candidate must bring to one of its queries to be confirmed. */
DBMGMT_API int dbmgmt_advisor_set_min_saving(dbmgmt_advisor *a, double fraction);
/* The number of indexes (primary key excluded) above which a write-heavy
 * table is reported over-indexed (default 5, at least 1). */
DBMGMT_API int dbmgmt_advisor_set_max_indexes(dbmgmt_advisor *a, int32_t max_indexes);

/*
 * Analyse the workload and the schema; *out receives the findings (freed
 * with dbmgmt_advice_free), sorted by table, then kind. Nothing in the
 * database changes (SQLite's candidates live in a scratch in-memory
 * database; HypoPG's hypothetical indexes are private to the session and
 * reset afterwards). May be called again after adding statements.
 */
DBMGMT_API int dbmgmt_advisor_run(dbmgmt_advisor *a, dbmgmt_advice **out);
/* The last failure on this advisor; "" when none. Lives until the next call. */
DBMGMT_API const char *dbmgmt_advisor_errmsg(const dbmgmt_advisor *a);

/* ---- Findings (count + index accessors; i out of range gives 0/NULL/-1) ---- */

DBMGMT_API void dbmgmt_advice_free(dbmgmt_advice *adv);
DBMGMT_API size_t dbmgmt_advice_count(const dbmgmt_advice *adv);
/* DBMGMT_ADVICE_*; 0 when i is out of range. */
DBMGMT_API int32_t dbmgmt_advice_kind(const dbmgmt_advice *adv, size_t i);
/* "missing", "duplicate", "redundant", "unused", "fk_unindexed",
 * "low_cardinality_lead", "over_indexed"; static; NULL for other values. */
DBMGMT_API const char *dbmgmt_advice_kind_name(int32_t kind);
DBMGMT_API const char *dbmgmt_advice_table(const dbmgmt_advice *adv, size_t i);
/* Key columns, comma-separated without spaces ("customer_id,created_at"). */
DBMGMT_API const char *dbmgmt_advice_columns(const dbmgmt_advice *adv, size_t i);
/* The index concerned: the proposed name (missing, fk_unindexed) or the
 * existing index (duplicate, redundant, unused, low_cardinality_lead); ""
 * for over_indexed. */
DBMGMT_API const char *dbmgmt_advice_index(const dbmgmt_advice *adv, size_t i);
/* The DDL to run, ready to paste: CREATE INDEX ... or DROP INDEX ...; ""
 * when the finding calls for judgement rather than a statement. */
DBMGMT_API const char *dbmgmt_advice_ddl(const dbmgmt_advice *adv, size_t i);
/* Why, in one or two sentences. */
DBMGMT_API const char *dbmgmt_advice_reason(const dbmgmt_advice *adv, size_t i);
/* 1 when the engine's planner confirmed the finding (missing: a plan uses
 * the candidate), 0 when not asked. Schema findings are 1 (they are facts). */
DBMGMT_API int32_t dbmgmt_advice_confirmed(const dbmgmt_advice *adv, size_t i);
/* The summed estimated cost of the queries helped, without and with the
 * index (PostgreSQL with HypoPG); -1 when unknown. */
DBMGMT_API double dbmgmt_advice_cost_before(const dbmgmt_advice *adv, size_t i);
DBMGMT_API double dbmgmt_advice_cost_after(const dbmgmt_advice *adv, size_t i);
/* The workload statements a finding concerns (missing: those it helps). */
DBMGMT_API size_t dbmgmt_advice_queries(const dbmgmt_advice *adv, size_t i);
DBMGMT_API const char *dbmgmt_advice_query_at(const dbmgmt_advice *adv, size_t i, size_t q);
/* Why missing-index findings are unconfirmed ("" when the planner was
 * asked): e.g. "HypoPG is not installed: ...". */
DBMGMT_API const char *dbmgmt_advice_note(const dbmgmt_advice *adv);
/* Statements of the workload that could not be analysed or explained. */
DBMGMT_API size_t dbmgmt_advice_skipped(const dbmgmt_advice *adv);
/*
 * All findings as JSON: {"engine":..,"confirmation":..,"note":..,
 * "statements":N,"skipped":N,"findings":[{"kind","table","columns":[..],
 * "index","ddl","reason","confirmed","cost_before","cost_after",
 * "queries":[..]}]}. The caller frees it with dbmgmt_free(); NULL on
 * allocation failure or NULL adv.
 */
DBMGMT_API char *dbmgmt_advice_to_json(const dbmgmt_advice *adv);

#ifdef __cplusplus
}
#endif

#endif /* DBMGMT_ADVISE_H */
