/*
 * Migrations over the network (issue 23): 500 small migrations on an empty
 * PostgreSQL or MariaDB database through dbmgmt_migrate_on_boot, against
 * the floor of the engine's own client (psql, mariadb) applying the same SQL
 * with the same history inserts, one transaction per migration, in one
 * session. Alternated, 5 rounds of each, each on a new database; prints
 * best and median and the ratio of the medians (target <= 1.15x). Then the
 * requests each side sends per migration, counted by strace (calls of
 * sendto/sendmsg/write on one more run of each, not timed): every request
 * is a round trip unless pipelined.
 *
 *   bench_migrate_net postgres|mysql      (DBMGMT_TEST_PG_ADMIN_DSN or
 *                                          DBMGMT_TEST_MYSQL_ADMIN_DSN)
 *   bench_migrate_net --apply DSN DIR     (one migrate_on_boot, for strace)
 *
 * On PostgreSQL also the no-op boot with the 500 applied (issue 23, target
 * <= 1.2x): dbmgmt_migrate_on_boot against a bare PQconnectdb plus one query
 * reading the history, in-process, alternated, medians of 41.
 *
 * The passwords go to the clients in PGPASSWORD / MYSQL_PWD, never in argv.
 * The databases made are dropped. Prints figures; not a pass/fail test.
 */
#include <dbmgmt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench_util.h"
#ifdef BENCH_HAVE_LIBPQ
#include <libpq-fe.h>
#endif

#define MIGRATIONS 500
#define ROUNDS 5

static int is_pg;
static char base_dsn[1024];
static char user[128], password[256], host[256], port[16];
static char work[] = "/tmp/dbmgmt-bench-mnet-XXXXXX";

static _Noreturn void die(const char *what)
{
    fprintf(stderr, "bench_migrate_net: %s: %s\n", what, dbmgmt_errmsg());
    exit(1);
}

/* scheme://user:password@host:port/db into the parts above. */
static void parse_dsn(const char *dsn)
{
    const char *p = strstr(dsn, "://");
    if (!p || sscanf(p + 3, "%127[^:]:%255[^@]@%255[^:]:%15[0-9]", user, password, host, port) != 4)
        die("a DSN of the form scheme://user:password@host:port/db was expected");
    snprintf(base_dsn, sizeof base_dsn, "%s", dsn);
}

/* The DSN of database db on the same server. */
static void dsn_of(char *out, size_t cap, const char *db)
{
    const char *slash = strrchr(base_dsn, '/');
    const char *query = strchr(slash, '?');
    snprintf(out, cap, "%.*s/%s%s", (int)(slash - base_dsn), base_dsn, db, query ? query : "");
}

static void admin_exec(const char *sql)
{
    dbmgmt_conn *c = NULL;
    if (dbmgmt_conn_open(&c, base_dsn) != DBMGMT_OK || dbmgmt_conn_exec(c, sql) != DBMGMT_OK)
        die(sql);
    dbmgmt_conn_close(c);
}

static void fresh_db(const char *db)
{
    char sql[256];
    snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s", db);
    admin_exec(sql);
    snprintf(sql, sizeof sql, "CREATE DATABASE %s", db);
    admin_exec(sql);
}

static void migration_sql(char *out, size_t cap, int i)
{
    snprintf(out, cap,
             "CREATE TABLE bench_%05d (id INTEGER NOT NULL PRIMARY KEY, name VARCHAR(64) NOT NULL,"
             " created_at BIGINT);\n"
             "CREATE INDEX bench_%05d_name ON bench_%05d (name);\n"
             "INSERT INTO bench_%05d (id, name, created_at) VALUES (1, 'first', 0), (2, 'second',"
             " 1);\n",
             i, i, i, i);
}

/* The migrations as files, and the client's script: the history table as
 * the library makes it, then per migration BEGIN, its SQL, its history row,
 * COMMIT. */
static void write_sources(const char *dir, const char *script)
{
    mkdir(dir, 0700);
    FILE *s = fopen(script, "w");
    if (!s)
        die(script);
    fprintf(s, "CREATE TABLE dbmgmt_schema_history (installed_rank INTEGER NOT NULL PRIMARY KEY,"
               " version VARCHAR(64) NOT NULL UNIQUE, description VARCHAR(255) NOT NULL,"
               " script VARCHAR(1000) NOT NULL, checksum VARCHAR(64) NOT NULL,"
               " installed_by VARCHAR(100) NOT NULL, installed_on VARCHAR(32) NOT NULL,"
               " execution_ms BIGINT NOT NULL, success SMALLINT NOT NULL,"
               " statements_applied INTEGER NOT NULL, error_message TEXT);\n");
    char path[600], sql[1024];
    for (int i = 0; i < MIGRATIONS; i++) {
        migration_sql(sql, sizeof sql, i);
        snprintf(path, sizeof path, "%s/%05d_create_bench_%05d.sql", dir, i + 1, i);
        FILE *f = fopen(path, "w");
        if (!f)
            die(path);
        fprintf(f, "-- migrate:up\n%s-- migrate:down\nDROP TABLE bench_%05d;\n", sql, i);
        fclose(f);
        fprintf(s, "BEGIN;\n%sINSERT INTO dbmgmt_schema_history (installed_rank, version,"
                   " description, script, checksum, installed_by, installed_on, execution_ms,"
                   " success, statements_applied) VALUES (%d, '%05d', 'create bench %05d',"
                   " '%05d_create_bench_%05d.sql', '%064d', 'bench', '2026-12-06T00:00:00Z', 1,"
                   " 1, 3);\nCOMMIT;\n",
                   sql, i + 1, i + 1, i, i + 1, i, i);
    }
    fclose(s);
}

/* The client's command line (no password: it is in the environment). */
static void client_cmd(char *out, size_t cap, const char *db, const char *script,
                       const char *prefix)
{
    if (is_pg)
        snprintf(out, cap, "%s psql -X -q -v ON_ERROR_STOP=1 -h %s -p %s -U %s -d %s -f %s"
                 " > /dev/null", prefix, host, port, user, db, script);
    else
        snprintf(out, cap, "%s mariadb --no-defaults -h %s -P %s -u %s %s < %s > /dev/null",
                 prefix, host, port, user, db, script);
}

static void run(const char *cmd)
{
    if (system(cmd) != 0) {
        fprintf(stderr, "bench_migrate_net: failed: %s\n", cmd);
        exit(1);
    }
}

/* Calls of sendto, sendmsg and write in strace -c's summary at path. */
static long strace_sends(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    char line[512];
    long total = 0;
    while (fgets(line, sizeof line, f)) {
        double pct, secs;
        long usecs, calls;
        char name[64];
        if (sscanf(line, "%lf %lf %ld %ld %*s %63s", &pct, &secs, &usecs, &calls, name) == 5 ||
            sscanf(line, "%lf %lf %ld %ld %63s", &pct, &secs, &usecs, &calls, name) == 5)
            if (!strcmp(name, "sendto") || !strcmp(name, "sendmsg") || !strcmp(name, "write"))
                total += calls;
    }
    fclose(f);
    return total;
}

#ifdef BENCH_HAVE_LIBPQ
/* The no-op boot on the database the last round migrated, against libpq alone. */
static void bench_noop_boot(const char *dir)
{
    enum { RUNS = 41 };
    char dsn[1200];
    dsn_of(dsn, sizeof dsn, "bench_mnet_ours");
    double ours[RUNS], bare[RUNS];
    for (int i = 0; i < RUNS; i++) {
        double t0 = now_s();
        if (dbmgmt_migrate_on_boot(dsn, dir, NULL, NULL) != DBMGMT_OK)
            die("no-op boot");
        ours[i] = now_s() - t0;
        t0 = now_s();
        PGconn *c = PQconnectdb(dsn);
        PGresult *r = PQstatus(c) == CONNECTION_OK
                          ? PQexec(c, "SELECT version, checksum FROM dbmgmt_schema_history")
                          : NULL;
        int ok = r && PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) >= MIGRATIONS;
        PQclear(r);
        PQfinish(c);
        bare[i] = now_s() - t0;
        if (!ok)
            die("libpq: the history");
    }
    timing o = summarise_runs(ours, RUNS), b = summarise_runs(bare, RUNS);
    printf("no-op boot with %d applied on PostgreSQL: libdbmgmt best %.2f ms median %.2f ms;"
           " PQconnectdb + the history best %.2f ms median %.2f ms; ratio of medians %.2fx"
           " (target <= 1.2x)\n",
           MIGRATIONS, o.best * 1e3, o.median * 1e3, b.best * 1e3, b.median * 1e3,
           o.median / b.median);
}
#endif

static void count_requests(const char *self, const char *dir, const char *script)
{
    if (system("command -v strace > /dev/null 2>&1") != 0) {
        printf("requests per migration: strace missing, not counted\n");
        return;
    }
    char db[64], dsn[1200], cmd[3000], out[256], prefix[400];
    snprintf(db, sizeof db, "bench_mnet_count");
    fresh_db(db);
    dsn_of(dsn, sizeof dsn, db);
    snprintf(out, sizeof out, "%s/ours.strace", work);
    /* the DSN (with its password) goes through the environment, not argv */
    setenv("BENCH_MNET_DSN", dsn, 1);
    snprintf(cmd, sizeof cmd, "strace -f -qq -c -o %s -e trace=sendto,sendmsg,write %s --apply"
             " %s", out, self, dir);
    run(cmd);
    long ours = strace_sends(out);
    fresh_db(db);
    snprintf(out, sizeof out, "%s/client.strace", work);
    snprintf(prefix, sizeof prefix, "strace -f -qq -c -o %s -e trace=sendto,sendmsg,write", out);
    client_cmd(cmd, sizeof cmd, db, script, prefix);
    run(cmd);
    long floor = strace_sends(out);
    printf("requests per migration (sendto/sendmsg/write calls / %d): libdbmgmt %.2f, %s %.2f\n",
           MIGRATIONS, (double)ours / MIGRATIONS, is_pg ? "psql" : "mariadb",
           (double)floor / MIGRATIONS);
    char sql[128];
    snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s", db);
    admin_exec(sql);
}

int main(int argc, char **argv)
{
    if (argc == 3 && !strcmp(argv[1], "--apply")) {
        const char *dsn = getenv("BENCH_MNET_DSN");
        if (!dsn || dbmgmt_migrate_on_boot(dsn, argv[2], NULL, NULL) != DBMGMT_OK)
            die("--apply");
        return 0;
    }
    if (argc != 2 || (strcmp(argv[1], "postgres") && strcmp(argv[1], "mysql"))) {
        fprintf(stderr, "usage: bench_migrate_net postgres|mysql\n");
        return 2;
    }
    is_pg = !strcmp(argv[1], "postgres");
    const char *admin = getenv(is_pg ? "DBMGMT_TEST_PG_ADMIN_DSN" : "DBMGMT_TEST_MYSQL_ADMIN_DSN");
    if (!admin || !*admin) {
        printf("no %s server (tests/servers.sh sets DBMGMT_TEST_*_ADMIN_DSN): skipped\n",
               argv[1]);
        return 77;
    }
    parse_dsn(admin);
    setenv(is_pg ? "PGPASSWORD" : "MYSQL_PWD", password, 1);
    if (!mkdtemp(work))
        die("mkdtemp");
    bench_remove_on_exit(work);
    char dir[256], script[256], cmd[2000], dsn[1200];
    snprintf(dir, sizeof dir, "%s/migrations", work);
    snprintf(script, sizeof script, "%s/client.sql", work);
    write_sources(dir, script);

    double ours[ROUNDS], floor[ROUNDS];
    for (int r = 0; r < ROUNDS; r++) {
        fresh_db("bench_mnet_ours");
        dsn_of(dsn, sizeof dsn, "bench_mnet_ours");
        double t0 = now_s();
        if (dbmgmt_migrate_on_boot(dsn, dir, NULL, NULL) != DBMGMT_OK)
            die("migrate 500");
        ours[r] = now_s() - t0;
        fresh_db("bench_mnet_client");
        client_cmd(cmd, sizeof cmd, "bench_mnet_client", script, "");
        t0 = now_s();
        run(cmd);
        floor[r] = now_s() - t0;
        printf("round %d: libdbmgmt %.3f s, %s %.3f s\n", r + 1, ours[r],
               is_pg ? "psql" : "mariadb", floor[r]);
        fflush(stdout);
    }
    timing o = summarise_runs(ours, ROUNDS), f = summarise_runs(floor, ROUNDS);
    printf("%d migrations on %s: libdbmgmt best %.3f s median %.3f s; %s best %.3f s median"
           " %.3f s; ratio of medians %.2fx (target <= 1.15x), of bests %.2fx\n",
           MIGRATIONS, is_pg ? "PostgreSQL" : "MariaDB", o.best, o.median,
           is_pg ? "psql" : "mariadb", f.best, f.median, o.median / f.median, o.best / f.best);
#ifdef BENCH_HAVE_LIBPQ
    if (is_pg)
        bench_noop_boot(dir);
#endif
    count_requests(argv[0], dir, script);
    admin_exec("DROP DATABASE IF EXISTS bench_mnet_ours");
    admin_exec("DROP DATABASE IF EXISTS bench_mnet_client");
    return 0;
}
