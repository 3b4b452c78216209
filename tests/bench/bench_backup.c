/*
 * Backup of a 1 GB SQLite database: the library's engine (online backup API
 * in steps) against `cp` of the same file and the sqlite3 shell's `.backup`,
 * measured in the same run on the same warm page cache; then the whole
 * dbmgmt_backup_run_now (copy, row counts, fsync, SHA-256, rename, catalog,
 * verify with PRAGMA integrity_check). Targets: engine <= 1.2 x cp and no
 * slower than the shell.
 *
 *   bench-backup [SIZE_MB]   (default 1024; the files live in /var/tmp and
 *                             are removed afterwards)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <dbmgmt.h>

#include "backup/backup_impl.h"

#define RUNS 5

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v)
{
    qsort(v, RUNS, sizeof *v, cmp_double);
    return v[RUNS / 2];
}

static int make_database(const char *dsn, int size_mb)
{
    dbmgmt_conn *c = NULL;
    if (dbmgmt_conn_open(&c, dsn) != DBMGMT_OK)
        return -1;
    char sql[512];
    /* Rows of ~1 KB with an index: pages of tables and of an index, as a
     * real database has, not a few huge blobs. */
    snprintf(sql, sizeof sql,
             "PRAGMA synchronous=OFF;"
             "CREATE TABLE events(id INTEGER PRIMARY KEY, k INTEGER, body BLOB);"
             "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < %d)"
             " INSERT INTO events(k, body) SELECT abs(random()) %% 100000, randomblob(900) FROM n;"
             "CREATE INDEX events_k ON events(k);",
             size_mb * 1000);
    int rc = dbmgmt_conn_exec(c, sql);
    if (rc != DBMGMT_OK)
        fprintf(stderr, "%s\n", dbmgmt_conn_errmsg(c));
    dbmgmt_conn_close(c);
    return rc == DBMGMT_OK ? 0 : -1;
}

static double time_command(const char *cmd)
{
    double t = now_s();
    if (system(cmd) != 0) {
        fprintf(stderr, "failed: %s\n", cmd);
        exit(1);
    }
    return now_s() - t;
}

static void remove_copy(const char *copy)
{
    unlink(copy);
    sync(); /* no write-back of the previous copy during the next */
}

/* Medians of RUNS copies by cp, the sqlite3 shell and the engine. The order
 * rotates from round to round, so that none of the three always runs right
 * after the same other one (the file system's work on the previous copy's
 * blocks, freed or written back, lands on whoever comes next). */
static void measure(const char *db, const char *copy, double *cp, double *shell, double *ours)
{
    double t_cp[RUNS], t_shell[RUNS], t_ours[RUNS];
    char cmd[512];
    for (int r = 0; r < RUNS; r++) {
        for (int k = 0; k < 3; k++) {
            remove_copy(copy);
            switch ((r + k) % 3) {
            case 0:
                snprintf(cmd, sizeof cmd, "cp '%s' '%s'", db, copy);
                t_cp[r] = time_command(cmd);
                break;
            case 1:
                snprintf(cmd, sizeof cmd, "sqlite3 '%s' \".backup '%s'\"", db, copy);
                t_shell[r] = time_command(cmd);
                break;
            default: {
                dm_error err = {0};
                double t = now_s();
                if (dm_sqlite_backup(db, copy, &err) != DBMGMT_OK) {
                    fprintf(stderr, "backup: %s\n", err.msg);
                    exit(1);
                }
                t_ours[r] = now_s() - t;
            }
            }
        }
    }
    remove_copy(copy);
    if (getenv("BENCH_BACKUP_RUNS")) {
        for (int r = 0; r < RUNS; r++)
            printf("    round %d: cp %.3f s, sqlite3 %.3f s, engine %.3f s\n", r + 1, t_cp[r],
                   t_shell[r], t_ours[r]);
    }
    *cp = median(t_cp);
    *shell = median(t_shell);
    *ours = median(t_ours);
}

int main(int argc, char **argv)
{
    int size_mb = argc > 1 ? atoi(argv[1]) : 1024;
    char dir[] = "/var/tmp/dbmgmt-bench-backup-XXXXXX";
    if (!mkdtemp(dir))
        return 1;
    char db[128], dsn[160], copy[128], cmd[512], backups[128];
    snprintf(db, sizeof db, "%s/source.db", dir);
    snprintf(dsn, sizeof dsn, "sqlite://%s", db);
    snprintf(copy, sizeof copy, "%s/copy.db", dir);
    snprintf(backups, sizeof backups, "%s/backups", dir);
    printf("generating a %d MB SQLite database in %s ...\n", size_mb, dir);
    if (make_database(dsn, size_mb) != 0)
        return 1;
    struct stat st;
    stat(db, &st);
    printf("database: %.1f MB\n", (double)st.st_size / 1e6);
    snprintf(cmd, sizeof cmd, "cat '%s' > /dev/null", db); /* warm the page cache */
    time_command(cmd);

    double cp = 0, shell = 0, ours = 0;
    measure(db, copy, &cp, &shell, &ours);
    printf("copy of the database, rollback journal (median of %d, warm cache, no fsync):\n",
           RUNS);
    printf("  cp                   %7.3f s\n", cp);
    printf("  sqlite3 .backup      %7.3f s  (%.2f x cp)\n", shell, shell / cp);
    printf("  dbmgmt engine        %7.3f s  (%.2f x cp, %.2f x sqlite3 .backup)\n", ours,
           ours / cp, ours / shell);
    int ok = ours <= 1.2 * cp && ours <= shell;

    dbmgmt_backup *b = NULL;
    if (dbmgmt_backup_new(&b, dsn, backups) != DBMGMT_OK)
        return 1;
    double t = now_s();
    int rc = dbmgmt_backup_run_now(b, NULL);
    double full = now_s() - t;
    if (rc != DBMGMT_OK)
        fprintf(stderr, "run_now: %s\n", dbmgmt_backup_errmsg(b));
    printf("  dbmgmt_backup_run_now %6.3f s  (copy + counts + fsync + SHA-256 + catalog + "
           "integrity_check)\n", full);
    dbmgmt_backup_free(b);

    /* The same database in WAL mode: the backup API in steps. */
    snprintf(cmd, sizeof cmd, "sqlite3 '%s' 'PRAGMA journal_mode=WAL' >/dev/null", db);
    time_command(cmd);
    double wcp = 0, wshell = 0, wours = 0;
    measure(db, copy, &wcp, &wshell, &wours);
    printf("same database in WAL mode (backup API in steps):\n");
    printf("  cp                   %7.3f s\n", wcp);
    printf("  sqlite3 .backup      %7.3f s  (%.2f x cp)\n", wshell, wshell / wcp);
    printf("  dbmgmt engine        %7.3f s  (%.2f x cp, %.2f x sqlite3 .backup)\n", wours,
           wours / wcp, wours / wshell);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    time_command(cmd);
    printf("target (engine <= 1.2 x cp and <= sqlite3 .backup): %s\n", ok ? "met" : "MISSED");
    return rc == DBMGMT_OK ? 0 : 1;
}
