/*
 * A pgBackRest full backup of a 1 GB PostgreSQL database through the library
 * (dbmgmt_backup_set_engine(b, "pgbackrest"), a "full" schedule fired by
 * dbmgmt_backup_tick) against `pgbackrest backup --type=full` run by hand:
 * a child process with the stanza configuration the library wrote (same
 * repository, same options), as the data directory's owner, the password in
 * its environment as the library passes it. Issue 21's target: the library
 * <= 1.05 x by hand, on the medians of RUNS runs of each.
 *
 * The server is a scratch PostgreSQL 15 started by tests/pitr/pg_scratch.sh
 * (as tests/pitr/test_pitr_pgbackrest.c does: root, initdb as postgres,
 * archive_mode = on), so the library can set archive_command. The database
 * (one table from generate_series) is generated once. The two are run
 * alternately, each round in the other order, after one untimed full that
 * warms the page cache; after every run all sets but the newest are expired
 * (untimed), so each run is a full into a repository of one set, and the
 * library's verify (`pgbackrest verify`, the whole repository) reads what
 * a steady retention of one full would give it.
 *
 * The library's call is split by its own log lines into: the backup (two
 * `pgbackrest info`, `pgbackrest backup`, the set's JSON written), the
 * catalog (fsync, SHA-256, rename, row), and the verify after every backup
 * (`pgbackrest verify` of the repository, `pgbackrest info`, the result
 * recorded). The target is judged on the whole call, and the backup part's
 * ratio is printed too.
 *
 *   bench-pgbackrest PATH/pg_scratch.sh [SIZE_MB]   (default 1024; in /var/tmp,
 *                                                    removed afterwards)
 * Needs root, PostgreSQL 15 and pgbackrest: without them it is skipped (exit
 * 77), or fails under CI=true.
 */
#include <arpa/inet.h>
#include <grp.h>
#include <netinet/in.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <dbmgmt.h>

#include "bench_util.h"

#define RUNS 5
#define T0 1893456000LL /* 2030-01-01T00:00:00Z: the injected clock of the schedule */
#define HOUR 3600
#define DAY 86400

static char top[128], pgdir[160], bkdir[160], conf[200], script[1024];
static char password[32], dsn[256];

static timing summarise(const double *runs)
{
    return summarise_runs(runs, RUNS);
}

static int sh(const char *fmt, ...)
{
    char cmd[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    return system(cmd);
}

static int free_port(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof a) != 0 ||
        getsockname(s, (struct sockaddr *)&a, &len) != 0)
        return -1;
    close(s);
    return ntohs(a.sin_port);
}

/* The library's log lines that end its phases, with the time each came. */
static double t_backup_done, t_catalog_done;

static void on_log(void *ud, dbmgmt_log_level level, const char *msg)
{
    (void)ud;
    if (level >= DBMGMT_LOG_WARN)
        fprintf(stderr, "dbmgmt: %s\n", msg);
    if (strncmp(msg, "pgbackrest: full backup ", 24) == 0)
        t_backup_done = now_s();
    else if (strncmp(msg, "backup ", 7) == 0 && strstr(msg, " bytes in "))
        t_catalog_done = now_s();
}

/* pgbackrest ARGS... with the library's configuration, as the data
 * directory's owner, PATH, LC_ALL=C and PGPASSWORD its only environment
 * (what the library gives its children); 0 on success. */
static int pgbackrest(const char *const *args)
{
    struct stat st;
    char data[200];
    snprintf(data, sizeof data, "%s/data", pgdir);
    if (stat(data, &st) != 0)
        return -1;
    char config[256], pw[64];
    snprintf(config, sizeof config, "--config=%s", conf);
    snprintf(pw, sizeof pw, "PGPASSWORD=%s", password);
    const char *argv[16] = {"pgbackrest", config, "--stanza=dbmgmt"};
    size_t n = 3;
    for (size_t i = 0; args[i] && n < 15; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    char *env[] = {"PATH=/usr/local/bin:/usr/bin:/bin", "LC_ALL=C", pw, NULL};
    pid_t pid = fork();
    if (pid == 0) {
        if (chdir("/") != 0 || setgroups(0, NULL) != 0 || setgid(st.st_gid) != 0 ||
            setuid(st.st_uid) != 0)
            _exit(126);
        execve("/usr/bin/pgbackrest", (char *const *)argv, env);
        _exit(127);
    }
    int status = 0;
    if (pid < 0 || waitpid(pid, &status, 0) < 0)
        return -1;
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

static void expire_all_but_newest(void)
{
    const char *args[] = {"--repo1-retention-full=1", "expire", NULL};
    if (pgbackrest(args) != 0) {
        fprintf(stderr, "pgbackrest expire failed\n");
        exit(1);
    }
}

static double by_hand(void)
{
    const char *args[] = {"--type=full", "backup", NULL};
    double t = now_s();
    if (pgbackrest(args) != 0) {
        fprintf(stderr, "pgbackrest backup --type=full (by hand) failed\n");
        exit(1);
    }
    return now_s() - t;
}

static double through_library(dbmgmt_backup *b, int64_t when, double *backup, double *catalog)
{
    t_backup_done = t_catalog_done = 0;
    double t = now_s();
    int32_t n = dbmgmt_backup_tick(b, when);
    double end = now_s();
    if (n != 1 || t_backup_done == 0 || t_catalog_done == 0) {
        fprintf(stderr, "tick at %lld: %d backups: %s\n", (long long)when, n,
                dbmgmt_backup_errmsg(b));
        exit(1);
    }
    *backup = t_backup_done - t;
    *catalog = t_catalog_done - t_backup_done;
    return end - t;
}

static int64_t query_int(const char *sql)
{
    dbmgmt_conn *c = NULL;
    dbmgmt_result *r = NULL;
    int64_t v = -1;
    if (dbmgmt_conn_open(&c, dsn) == DBMGMT_OK &&
        dbmgmt_conn_query(c, &r, sql, 0, NULL) == DBMGMT_OK && dbmgmt_result_next(r) == 1)
        v = dbmgmt_result_int64(r, 0);
    else
        fprintf(stderr, "%s: %s\n", sql, c ? dbmgmt_conn_errmsg(c) : "cannot connect");
    dbmgmt_result_free(r);
    dbmgmt_conn_close(c);
    return v;
}

static int exec_sql(const char *sql)
{
    dbmgmt_conn *c = NULL;
    int rc = dbmgmt_conn_open(&c, dsn);
    if (rc == DBMGMT_OK)
        rc = dbmgmt_conn_exec(c, sql);
    if (rc != DBMGMT_OK)
        fprintf(stderr, "%s: %s\n", sql, c ? dbmgmt_conn_errmsg(c) : "cannot connect");
    dbmgmt_conn_close(c);
    return rc;
}

/* One table of ~SIZE_MB: 7,400 rows of ~140 bytes a MB. Archiving goes to
 * /bin/true meanwhile (the library sets the real archive_command after). */
static int make_database(int size_mb)
{
    char sql[512];
    snprintf(sql, sizeof sql,
             "CREATE TABLE events AS SELECT g AS id, g %% 1000 AS k, md5(g::text) || "
             "md5((g + 1)::text) || md5((g * 7)::text) AS body "
             "FROM generate_series(1, %lld) g",
             (long long)size_mb * 7400);
    if (exec_sql("ALTER SYSTEM SET archive_command = '/bin/true'") != DBMGMT_OK ||
        query_int("SELECT pg_reload_conf()::int") != 1 || exec_sql(sql) != DBMGMT_OK ||
        exec_sql("CHECKPOINT") != DBMGMT_OK)
        return -1;
    return 0;
}

static void stop_and_clean(void)
{
    sh("%s stop %s/data", script, pgdir);
    if (!getenv("DBMGMT_TEST_KEEP") && strncmp(top, "/var/tmp/dbmgmt-bench-pgbr-", 27) == 0)
        sh("rm -rf '%s'", top);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s PATH/pg_scratch.sh [SIZE_MB]\n", argv[0]);
        return 2;
    }
    snprintf(script, sizeof script, "%s", argv[1]);
    int size_mb = argc > 2 ? atoi(argv[2]) : 1024;
    const char *ci = getenv("CI");
    int in_ci = ci && !strcmp(ci, "true");
    const char *missing = geteuid() != 0 ? "root (the scratch server runs as postgres)"
                          : access("/usr/lib/postgresql/15/bin/initdb", X_OK) != 0
                              ? "PostgreSQL 15 (postgresql-15)"
                          : access("/usr/bin/pgbackrest", X_OK) != 0
                              ? "pgbackrest (the Debian package)"
                              : NULL;
    if (missing) {
        printf("%s: needs %s\n", in_ci ? "FAIL" : "SKIP", missing);
        return in_ci ? 1 : 77;
    }
    snprintf(top, sizeof top, "/var/tmp/dbmgmt-bench-pgbr-XXXXXX");
    if (!mkdtemp(top) || chmod(top, 0711) != 0)
        return 1;
    snprintf(pgdir, sizeof pgdir, "%s/pg", top);
    snprintf(bkdir, sizeof bkdir, "%s/backups", top);
    snprintf(conf, sizeof conf, "%s/pgbackrest.conf", bkdir);
    unsigned seed = (unsigned)time(NULL) ^ (unsigned)getpid();
    for (size_t i = 0; i < 24; i++)
        password[i] = "abcdefghjkmnpqrstuvwxyz23456789"[rand_r(&seed) % 31];
    password[24] = '\0';
    int port = free_port();
    snprintf(dsn, sizeof dsn, "postgres://postgres:%s@127.0.0.1:%d/postgres", password, port);
    setenv("PGSCRATCH_PW", password, 1);
    int rc = sh("%s init %s %d", script, pgdir, port);
    unsetenv("PGSCRATCH_PW");
    if (rc != 0) {
        sh("cat %s/initdb.log %s/server.log >&2", pgdir, pgdir);
        stop_and_clean();
        return 1;
    }
    printf("generating a %d MB PostgreSQL database in %s ...\n", size_mb, pgdir);
    fflush(stdout);
    if (make_database(size_mb) != 0) {
        stop_and_clean();
        return 1;
    }
    printf("database: %.1f MB\n", (double)query_int("SELECT pg_database_size('postgres')") / 1e6);

    dbmgmt_set_logger(on_log, NULL, DBMGMT_LOG_INFO);
    dbmgmt_backup *b = NULL;
    if (dbmgmt_backup_new(&b, dsn, bkdir) != DBMGMT_OK ||
        dbmgmt_backup_set_engine(b, "pgbackrest") != DBMGMT_OK ||
        dbmgmt_backup_add_schedule(b, "full", "0 1 * * *", "full") != DBMGMT_OK ||
        dbmgmt_backup_tick(b, T0) != 0) {
        fprintf(stderr, "set-up: %s\n", b ? dbmgmt_backup_errmsg(b) : "out of memory");
        dbmgmt_backup_free(b);
        stop_and_clean();
        return 1;
    }
    by_hand(); /* untimed: warms the page cache and the repository */
    expire_all_but_newest();

    double t_lib[RUNS], t_hand[RUNS], t_bk[RUNS], t_cat[RUNS], t_verify[RUNS];
    for (int r = 0; r < RUNS; r++) {
        int64_t when = T0 + (int64_t)(r + 1) * DAY + HOUR;
        for (int k = 0; k < 2; k++) {
            if ((k == 0) == (r % 2 == 0)) {
                t_lib[r] = through_library(b, when, &t_bk[r], &t_cat[r]);
                t_verify[r] = t_lib[r] - t_bk[r] - t_cat[r];
            } else {
                t_hand[r] = by_hand();
            }
            expire_all_but_newest();
        }
        if (getenv("BENCH_BACKUP_RUNS"))
            printf("    round %d: by hand %.2f s, library %.2f s (backup %.2f, catalog %.2f, "
                   "verify %.2f)\n", r + 1, t_hand[r], t_lib[r], t_bk[r], t_cat[r],
                   t_verify[r]);
        fflush(stdout);
    }
    dbmgmt_backup_free(b);
    dbmgmt_set_logger(NULL, NULL, DBMGMT_LOG_INFO);
    stop_and_clean();

    timing hand = summarise(t_hand), lib = summarise(t_lib), bk = summarise(t_bk),
           cat = summarise(t_cat), ver = summarise(t_verify);
    printf("pgBackRest full backup, %d MB (best / median of %d, alternated):\n", size_mb, RUNS);
    printf("  pgbackrest backup --type=full by hand  %7.2f / %7.2f s\n", hand.best,
           hand.median);
    printf("  through the library (tick, full)       %7.2f / %7.2f s  (%.2f / %.2f x by hand)\n",
           lib.best, lib.median, lib.best / hand.best, lib.median / hand.median);
    printf("    of which the backup (info, backup, info, JSON)  %7.2f / %7.2f s  (%.2f / %.2f "
           "x by hand)\n", bk.best, bk.median, bk.best / hand.best, bk.median / hand.median);
    printf("    the catalog (fsync, SHA-256, rename, row)      %7.2f / %7.2f s\n", cat.best,
           cat.median);
    printf("    the verify (pgbackrest verify, info, record)   %7.2f / %7.2f s\n", ver.best,
           ver.median);
    int ok = lib.median <= 1.05 * hand.median;
    printf("target (the library's full <= 1.05 x by hand, medians): %s (%.2f x; the backup "
           "part alone %.2f x)\n", ok ? "met" : "MISSED", lib.median / hand.median,
           bk.median / hand.median);
    return 0;
}
