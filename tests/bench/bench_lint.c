/*
 * Lint throughput: writes N (default 10,000) migrations in the native
 * layout to a temporary folder (each: a table, columns added and dropped,
 * an index, a backfill, an allow comment, strings and comments holding
 * keywords) and times dbmgmt_lint_dir() per engine, best of 3 rounds. The
 * reference, measured in the same run, is loading the same folder into a
 * migrator (reading and parsing the files, no lint), so the ratio shows
 * what lint adds. The bound: 10,000 migrations in <= 1 s.
 * Run on demand: `meson test -C BUILD --benchmark --suite lint -v` or
 * `BUILD/tests/bench/bench-lint [N]`.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <dbmgmt.h>

#include "bench_util.h"

static void write_migrations(const char *dir, int n)
{
    for (int i = 1; i <= n; i++) {
        char path[512];
        snprintf(path, sizeof path, "%s/%014d_change_%d.sql", dir, i, i);
        FILE *f = fopen(path, "wb");
        if (!f) {
            perror(path);
            exit(1);
        }
        fprintf(f,
                "-- migrate:up\n"
                "-- change %d: a table, a column, an index and a backfill\n"
                "CREATE TABLE IF NOT EXISTS t%d (id INTEGER NOT NULL PRIMARY KEY, name VARCHAR(50), "
                "note TEXT DEFAULT 'DROP TABLE x; -- not a statement');\n"
                "ALTER TABLE users ADD COLUMN c%d INTEGER;\n"
                "CREATE INDEX IF NOT EXISTS i%d ON t%d (name);\n"
                "/* a comment: ALTER TABLE users DROP COLUMN c%d */\n"
                "UPDATE users SET c%d = 0 WHERE id < 1000;\n"
                "-- dbmgmt:allow drop-column old%d was never read\n"
                "ALTER TABLE users DROP COLUMN old%d;\n"
                "INSERT INTO t%d (id, name) VALUES (1, 'it''s; here'), (2, 'UPDATE users');\n"
                "-- migrate:down\n"
                "DROP TABLE IF EXISTS t%d;\n",
                i, i, i, i, i, i, i, i, i, i, i);
        fclose(f);
    }
}

static double best_lint(dbmgmt_engine e, const char *dir, size_t *findings)
{
    double best = 1e9;
    for (int round = 0; round < 3; round++) {
        dbmgmt_lint_report *r = NULL;
        double t0 = now_s();
        if (dbmgmt_lint_dir(&r, e, dir) != DBMGMT_OK) {
            fprintf(stderr, "lint: %s\n", dbmgmt_errmsg());
            exit(1);
        }
        double t = now_s() - t0;
        *findings = dbmgmt_lint_report_count(r);
        dbmgmt_lint_report_free(r);
        if (t < best)
            best = t;
    }
    return best;
}

static double best_load(const char *dir)
{
    double best = 1e9;
    dbmgmt_conn *c = NULL;
    if (dbmgmt_conn_open(&c, "sqlite::memory:") != DBMGMT_OK)
        exit(1);
    for (int round = 0; round < 3; round++) {
        dbmgmt_migrator *m = NULL;
        dbmgmt_migrator_new(&m, c);
        double t0 = now_s();
        if (dbmgmt_migrator_add_dir(m, dir) != DBMGMT_OK) {
            fprintf(stderr, "load: %s\n", dbmgmt_errmsg());
            exit(1);
        }
        double t = now_s() - t0;
        dbmgmt_migrator_free(m);
        if (t < best)
            best = t;
    }
    dbmgmt_conn_close(c);
    return best;
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 10000;
    char dir[] = "/tmp/dbmgmt-bench-lint-XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    bench_remove_on_exit(dir);
    write_migrations(dir, n);
    double load = best_load(dir);
    printf("load only (reference): %d migrations in %.3f s\n", n, load);
    int over = 0;
    const dbmgmt_engine engines[] = {DBMGMT_ENGINE_SQLITE, DBMGMT_ENGINE_POSTGRES,
                                     DBMGMT_ENGINE_MYSQL};
    for (size_t i = 0; i < 3; i++) {
        size_t findings = 0;
        double t = best_lint(engines[i], dir, &findings);
        printf("lint %-8s: %d migrations in %.3f s (%.1f us each, %zu findings), %.2fx the load "
               "alone%s\n", dbmgmt_engine_name(engines[i]), n, t, t * 1e6 / n, findings,
               t / load, t > 1.0 && n <= 10000 ? "  OVER THE 1 s BOUND" : "");
        over |= t > 1.0 && n <= 10000;
    }
    return over;
}
