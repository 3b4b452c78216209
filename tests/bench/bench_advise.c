/*
 * Index advice (issues 9, 23): a 10,000-statement workload over a 50-table
 * SQLite schema, confirmation by EXPLAIN QUERY PLAN included; 5 runs, each
 * on a new schema. Target: median <= 1 s.
 * Run on demand:  meson test -C build --benchmark --suite advise -v
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "bench_util.h"
#include "dbmgmt.h"

#define TABLES 50
#define STATEMENTS 10000
#define BOUND_S 1.0
#define RUNS 5

/* One run: seconds, or -1 on failure (said on stderr). */
static double run_once(void)
{
    dbmgmt_conn *c = NULL;
    if (dbmgmt_conn_open(&c, "sqlite::memory:") != DBMGMT_OK) {
        fprintf(stderr, "open: %s\n", dbmgmt_errmsg());
        return -1;
    }
    char sql[512];
    for (int t = 0; t < TABLES; t++) {
        snprintf(sql, sizeof sql,
                 "CREATE TABLE t%d (id INTEGER PRIMARY KEY, a INT, b INT, c TEXT, d TEXT, "
                 "parent_id INT REFERENCES t%d(id)); CREATE INDEX t%d_c ON t%d (c);",
                 t, t > 0 ? t - 1 : 0, t, t);
        if (dbmgmt_conn_exec(c, sql) != DBMGMT_OK) {
            fprintf(stderr, "%s\n", dbmgmt_conn_errmsg(c));
            return -1;
        }
    }
    double start = now_s();
    dbmgmt_advisor *a = NULL;
    dbmgmt_advisor_new(&a, c);
    for (int i = 0; i < STATEMENTS; i++) {
        int t = i % TABLES;
        switch (i % 5) {
        case 0: snprintf(sql, sizeof sql, "SELECT * FROM t%d WHERE a = %d AND b > %d", t, i, i); break;
        case 1: snprintf(sql, sizeof sql, "SELECT * FROM t%d WHERE d = 'x%d' ORDER BY b", t, i); break;
        case 2: snprintf(sql, sizeof sql, "SELECT x.id FROM t%d x JOIN t%d y ON y.parent_id = x.id WHERE x.a IN (%d, %d)", t, (t + 1) % TABLES, i, i + 1); break;
        case 3: snprintf(sql, sizeof sql, "UPDATE t%d SET d = 'z' WHERE b BETWEEN %d AND %d", t, i, i + 10); break;
        default: snprintf(sql, sizeof sql, "SELECT b, count(*) FROM t%d WHERE a = %d OR c = 'q' GROUP BY b", t, i); break;
        }
        dbmgmt_advisor_add_query(a, sql, 1);
    }
    dbmgmt_advice *adv = NULL;
    if (dbmgmt_advisor_run(a, &adv) != DBMGMT_OK) {
        fprintf(stderr, "run: %s\n", dbmgmt_advisor_errmsg(a));
        return -1;
    }
    double elapsed = now_s() - start;
    size_t missing = 0;
    for (size_t i = 0; i < dbmgmt_advice_count(adv); i++)
        missing += dbmgmt_advice_kind(adv, i) == DBMGMT_ADVICE_MISSING && dbmgmt_advice_confirmed(adv, i);
    printf("advise: %d statements, %d tables: %.3f s, %zu findings, %zu confirmed missing,"
           " %zu skipped\n",
           STATEMENTS, TABLES, elapsed, dbmgmt_advice_count(adv), missing,
           dbmgmt_advice_skipped(adv));
    dbmgmt_advice_free(adv);
    dbmgmt_advisor_free(a);
    dbmgmt_conn_close(c);
    return missing > 0 ? elapsed : -1;
}

int main(void)
{
    double runs[RUNS];
    for (int r = 0; r < RUNS; r++)
        if ((runs[r] = run_once()) < 0)
            return 1;
    timing t = summarise_runs(runs, RUNS);
    printf("advise, %d runs: best %.3f s, median %.3f s (target <= %.1f s)\n", RUNS, t.best,
           t.median, BOUND_S);
    return t.median <= BOUND_S ? 0 : 1;
}
