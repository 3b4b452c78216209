/*
 * Dump backups of a 1 GB database (issue 23): the library's engine for
 * PostgreSQL and MySQL/MariaDB (lib/backup/engine_dump.c: on PostgreSQL a
 * snapshot, exact row counts of every table in it, then pg_dump
 * --format=custom on that snapshot; on MariaDB mariadb-dump
 * --single-transaction, its rows counted from its text behind it) against
 * the tool alone with the same options on the same database, alternated,
 * 5 rounds each; prints best and median and the ratio of the medians
 * (target <= 1.05x). Every run writes a new file, with nothing of an
 * earlier run's left to write back, as a scheduled backup does (a new
 * .partial- file): an output truncated and rewritten makes ext4
 * (auto_da_alloc) allocate and start writing the whole file when it is
 * closed, inside the run, and that writeback went on into the next run
 * (docs/performance.md). On MariaDB the engine's counts must equal
 * COUNT(*) of every table (nothing writes meanwhile), and the counter's own
 * cost over the finished file is printed.
 *
 *   bench-backup-dump postgres|mysql [SIZE_MB]   (default 1024; uses
 *       DBMGMT_TEST_PG_ADMIN_DSN / DBMGMT_TEST_MYSQL_ADMIN_DSN; makes the
 *       database bench_bkdump on that server and drops it afterwards)
 *
 * The password goes to the tool in PGPASSWORD / MYSQL_PWD, never in argv.
 * Prints figures; not a pass/fail test.
 */
#include <dbmgmt.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench_util.h"

#include "backup/backup_impl.h"
#include "core/dsn.h"

#define ROUNDS 5
#define TABLES 4
#define ROW_BYTES 220 /* id + a 192-character payload + overhead, roughly */

static int is_pg;
static char base_dsn[1024], user[128], password[256], host[256], port[16];

static _Noreturn void die(const char *what)
{
    fprintf(stderr, "bench-backup-dump: %s: %s\n", what, dbmgmt_errmsg());
    exit(1);
}

/* The DSN of database db on the same server. */
static void dsn_of(char *out, size_t cap, const char *db)
{
    const char *slash = strrchr(base_dsn, '/');
    const char *query = strchr(slash, '?');
    snprintf(out, cap, "%.*s/%s%s", (int)(slash - base_dsn), base_dsn, db, query ? query : "");
}

static void exec_on(const char *dsn, const char *sql)
{
    dbmgmt_conn *c = NULL;
    if (dbmgmt_conn_open(&c, dsn) != DBMGMT_OK || dbmgmt_conn_exec(c, sql) != DBMGMT_OK)
        die(sql);
    dbmgmt_conn_close(c);
}

static double size_mb(const char *dsn)
{
    dbmgmt_conn *c = NULL;
    dbmgmt_result *r = NULL;
    const char *sql = is_pg ? "SELECT pg_database_size(current_database())"
                            : "SELECT SUM(DATA_LENGTH + INDEX_LENGTH) FROM"
                              " information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE()";
    if (dbmgmt_conn_open(&c, dsn) != DBMGMT_OK || dbmgmt_conn_query(c, &r, sql, 0, NULL) !=
                                                      DBMGMT_OK || dbmgmt_result_next(r) != 1)
        die("the database's size");
    double mb = (double)dbmgmt_result_int64(r, 0) / 1e6;
    dbmgmt_result_free(r);
    dbmgmt_conn_close(c);
    return mb;
}

/* TABLES tables of about size_mb together, generated on the server. */
static void generate(const char *dsn, int size_mb_wanted)
{
    long rows = (long)size_mb_wanted * 1000000L / ROW_BYTES / TABLES;
    char sql[1024];
    for (int t = 0; t < TABLES; t++) {
        snprintf(sql, sizeof sql, "CREATE TABLE bench_t%d (id BIGINT PRIMARY KEY,"
                 " kind INT NOT NULL, payload VARCHAR(200) NOT NULL)", t);
        exec_on(dsn, sql);
        if (is_pg)
            snprintf(sql, sizeof sql, "INSERT INTO bench_t%d SELECT g, g %% 97,"
                     " repeat(md5(g::text), 6) FROM generate_series(1, %ld) g", t, rows);
        else
            snprintf(sql, sizeof sql, "INSERT INTO bench_t%d SELECT seq, seq %% 97,"
                     " REPEAT(MD5(seq), 6) FROM seq_1_to_%ld", t, rows);
        exec_on(dsn, sql);
    }
    exec_on(dsn, is_pg ? "VACUUM ANALYZE" : "ANALYZE TABLE bench_t0, bench_t1, bench_t2, bench_t3");
}

/* Before a run: its file is new and the disk is quiet (see the top). */
static void fresh_output(const char *path)
{
    if (unlink(path) != 0 && errno != ENOENT) {
        fprintf(stderr, "bench-backup-dump: cannot remove %s: %s\n", path, strerror(errno));
        exit(1);
    }
    sync();
}

static double run_tool(const char *db, const char *path)
{
    fresh_output(path);
    char cmd[2048];
    if (is_pg)
        snprintf(cmd, sizeof cmd, "pg_dump --format=custom --no-password -h %s -p %s -U %s"
                 " --file=%s %s", host, port, user, path, db);
    else
        snprintf(cmd, sizeof cmd, "mariadb-dump --no-defaults -h %s -P %s -u %s"
                 " --single-transaction --routines --triggers --hex-blob --no-tablespaces"
                 " --default-character-set=utf8mb4 --skip-events %s > %s", host, port, user, db,
                 path);
    double t0 = now_s();
    if (system(cmd) != 0) {
        fprintf(stderr, "bench-backup-dump: failed: %s\n", cmd);
        exit(1);
    }
    return now_s() - t0;
}

static dm_bk_counts last_counts; /* the engine's last run's */

static double run_engine(const dm_dsn *dsn, const char *path)
{
    dm_bk_counts counts;
    memset(&counts, 0, sizeof counts);
    dm_error err;
    dm_error_reset(&err);
    fresh_output(path);
    double t0 = now_s();
    if (dm_dump_backup(dsn, path, &counts, &err) != DBMGMT_OK) {
        fprintf(stderr, "bench-backup-dump: the engine: %s\n", err.msg);
        exit(1);
    }
    double t = now_s() - t0;
    if (counts.n != TABLES) {
        fprintf(stderr, "bench-backup-dump: the engine counted %zu tables\n", counts.n);
        exit(1);
    }
    dm_bk_counts_clear(&last_counts);
    last_counts = counts;
    return t;
}

/* MariaDB: the engine's counts against COUNT(*) of every table. */
static void check_counts(const dm_bk_counts *exact)
{
    for (size_t i = 0; i < exact->n; i++) {
        size_t j = 0;
        while (j < last_counts.n && strcmp(last_counts.tables[j], exact->tables[i]) != 0)
            j++;
        if (j == last_counts.n || last_counts.rows[j] != exact->rows[i]) {
            fprintf(stderr, "bench-backup-dump: %s: the engine counted %lld rows, COUNT(*) "
                    "gives %lld\n", exact->tables[i],
                    j < last_counts.n ? (long long)last_counts.rows[j] : -1LL,
                    (long long)exact->rows[i]);
            exit(1);
        }
    }
}

/* MariaDB: the engine's counter over the finished dump, from the page
 * cache: its CPU cost, which the dump's run mostly hides. */
static double count_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        die(path);
    static char buf[DM_BK_IO_CHUNK];
    dm_bk_counts counts;
    memset(&counts, 0, sizeof counts);
    dm_mdr rows;
    dm_mdr_init(&rows, &counts);
    double t0 = now_s();
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        if (dm_mdr_feed(&rows, buf, n) != DBMGMT_OK)
            die(rows.error);
    if (dm_mdr_finish(&rows) != DBMGMT_OK)
        die(rows.error);
    double t = now_s() - t0;
    fclose(f);
    dm_mdr_clear(&rows);
    dm_bk_counts_clear(&counts);
    return t;
}

static long file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

int main(int argc, char **argv)
{
    if (argc < 2 || (strcmp(argv[1], "postgres") && strcmp(argv[1], "mysql"))) {
        fprintf(stderr, "usage: bench-backup-dump postgres|mysql [SIZE_MB]\n");
        return 2;
    }
    is_pg = strcmp(argv[1], "postgres") == 0;
    int mb = argc > 2 ? atoi(argv[2]) : 1024;
    const char *admin = getenv(is_pg ? "DBMGMT_TEST_PG_ADMIN_DSN" : "DBMGMT_TEST_MYSQL_ADMIN_DSN");
    if (!admin || !*admin) {
        fprintf(stderr, "bench-backup-dump: set %s (tests/servers.sh)\n",
                is_pg ? "DBMGMT_TEST_PG_ADMIN_DSN" : "DBMGMT_TEST_MYSQL_ADMIN_DSN");
        return 1;
    }
    snprintf(base_dsn, sizeof base_dsn, "%s", admin);
    const char *p = strstr(admin, "://");
    if (!p || sscanf(p + 3, "%127[^:]:%255[^@]@%255[^:]:%15[0-9]", user, password, host, port) != 4)
        die("a DSN of the form scheme://user:password@host:port/db was expected");
    setenv(is_pg ? "PGPASSWORD" : "MYSQL_PWD", password, 1);

    const char *db = "bench_bkdump";
    char dsn[1200], sql[128];
    snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s", db);
    exec_on(base_dsn, sql);
    snprintf(sql, sizeof sql, "CREATE DATABASE %s", db);
    exec_on(base_dsn, sql);
    dsn_of(dsn, sizeof dsn, db);
    printf("generating about %d MB in %s ...\n", mb, db);
    fflush(stdout);
    double g0 = now_s();
    generate(dsn, mb);
    printf("database: %.0f MB (generated in %.0f s)\n", size_mb(dsn), now_s() - g0);
    dm_dsn *parsed = NULL;
    dm_error err;
    dm_error_reset(&err);
    if (dm_dsn_parse(dsn, &parsed, &err) != DBMGMT_OK) {
        fprintf(stderr, "bench-backup-dump: %s\n", err.msg);
        return 1;
    }
    char dir[] = "/var/tmp/dbmgmt-bench-bkdump-XXXXXX";
    if (!mkdtemp(dir))
        die("mkdtemp");
    bench_remove_on_exit(dir);
    char tool_path[300], engine_path[300];
    snprintf(tool_path, sizeof tool_path, "%s/tool.dump", dir);
    snprintf(engine_path, sizeof engine_path, "%s/engine.dump", dir);
    (void)run_tool(db, tool_path); /* warm the cache: both read it warm */
    double tool[ROUNDS], engine[ROUNDS];
    for (int r = 0; r < ROUNDS; r++) {
        if (r % 2) {
            engine[r] = run_engine(parsed, engine_path);
            tool[r] = run_tool(db, tool_path);
        } else {
            tool[r] = run_tool(db, tool_path);
            engine[r] = run_engine(parsed, engine_path);
        }
        printf("round %d: %s %.2f s, libdbmgmt's engine %.2f s\n", r + 1,
               is_pg ? "pg_dump -Fc" : "mariadb-dump", tool[r], engine[r]);
        fflush(stdout);
    }
    /* what the exact row counts cost on their own: COUNT(*) of every table in a
     * snapshot (PostgreSQL's engine takes them so, and a restore drill on both);
     * on a machine whose cores the dump already keeps busy, the part of them
     * that cannot hide behind it */
    double count[ROUNDS];
    for (int r = 0; r < ROUNDS; r++) {
        dm_bk_counts counts;
        memset(&counts, 0, sizeof counts);
        double t0 = now_s();
        if (dm_dump_count(dsn, &counts, &err) != DBMGMT_OK) {
            fprintf(stderr, "bench-backup-dump: counting: %s\n", err.msg);
            return 1;
        }
        count[r] = now_s() - t0;
        if (!is_pg)
            check_counts(&counts);
        dm_bk_counts_clear(&counts);
    }
    timing c = summarise_runs(count, ROUNDS);
    printf("COUNT(*) of every table alone: best %.2f s median %.2f s\n", c.best, c.median);
    if (!is_pg) {
        for (int r = 0; r < ROUNDS; r++)
            count[r] = count_file(engine_path);
        c = summarise_runs(count, ROUNDS);
        printf("the engine's counter over its dump alone (page cache): best %.2f s median"
               " %.2f s; its counts equal COUNT(*) of every table\n", c.best, c.median);
    }
    dm_bk_counts_clear(&last_counts);
    timing t = summarise_runs(tool, ROUNDS), e = summarise_runs(engine, ROUNDS);
    printf("%s dump backup of %.0f MB: the engine best %.2f s median %.2f s; %s alone best"
           " %.2f s median %.2f s; ratio of medians %.3fx (target <= 1.05x); files %.0f / %.0f"
           " MB\n", is_pg ? "PostgreSQL" : "MariaDB", size_mb(dsn), e.best, e.median,
           is_pg ? "pg_dump -Fc" : "mariadb-dump", t.best, t.median, e.median / t.median,
           (double)file_size(engine_path) / 1e6, (double)file_size(tool_path) / 1e6);
    dm_dsn_free(parsed);
    snprintf(sql, sizeof sql, "DROP DATABASE %s", db);
    exec_on(base_dsn, sql);
    return 0;
}
