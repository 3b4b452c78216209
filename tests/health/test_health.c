/*
 * Health collection (issue 20, docs/health.md) on a real server, run once
 * per engine: SQLite directly, PostgreSQL and MariaDB through
 * tests/engines/run_engine.sh with DBMGMT_TEST_DSN (and the superuser's
 * DBMGMT_TEST_ADMIN_DSN). Each test works in a scratch database of its own.
 *
 * Sizes agree with the engine's own answer (pg_database_size,
 * information_schema.TABLES, PRAGMA page_count × page_size and the sqlite3
 * shell's); real activity moves the counters (statements, a deadlock made by
 * two sessions, a row lock another session waits on); figures an engine
 * cannot give are absent; the sampler's rates use an injected clock; the
 * JSON parses (python3) with null for the absent figures; a pool adds its
 * own figures and names its replica without the password.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <dbmgmt.h>

#include "support/engine.h"

#define WAIT_MS 15000 /* the longest a test waits for the server's statistics to move */

static const char *base_dsn;
static const char *admin_dsn; /* PostgreSQL, MariaDB: the superuser's (may be NULL) */
static dbmgmt_engine engine;
static char sqlite_dir[512];

/* ---- helpers ------------------------------------------------------------------------- */

static dbmgmt_conn *open_conn(const char *dsn)
{
    dbmgmt_conn *c = NULL;
    int rc = dbmgmt_conn_open(&c, dsn);
    if (rc != DBMGMT_OK)
        fail_msg("open: %s (%s)", dbmgmt_status_name(rc), dbmgmt_errmsg());
    return c;
}

static dbmgmt_health *collect(dbmgmt_conn *c)
{
    dbmgmt_health *h = NULL;
    int rc = dbmgmt_health_collect(c, &h);
    if (rc != DBMGMT_OK)
        fail_msg("dbmgmt_health_collect: %s (%s)", dbmgmt_status_name(rc),
                 dbmgmt_conn_errmsg(c));
    assert_int_equal(dbmgmt_health_engine(h), engine);
    return h;
}

static double get(const dbmgmt_health *h, int32_t metric)
{
    double v = -12345;
    int rc = dbmgmt_health_get(h, metric, &v);
    if (rc != DBMGMT_OK)
        fail_msg("%s is absent (%s), expected a value", dbmgmt_health_metric_name(metric),
                 dbmgmt_status_name(rc));
    return v;
}

static int has(const dbmgmt_health *h, int32_t metric)
{
    double v;
    return dbmgmt_health_get(h, metric, &v) == DBMGMT_OK;
}

static void expect_absent(const dbmgmt_health *h, int32_t metric)
{
    double v = 0;
    int rc = dbmgmt_health_get(h, metric, &v);
    if (rc != DBMGMT_ERR_NOTFOUND)
        fail_msg("%s: expected absent, got %s (%g)", dbmgmt_health_metric_name(metric),
                 dbmgmt_status_name(rc), v);
}

static int is_server(void)
{
    return engine != DBMGMT_ENGINE_SQLITE;
}

/* The admin's DSN for a scratch database (PostgreSQL, MariaDB). */
static void admin_dsn_for(char *out, size_t cap, const support_scratch_db *db)
{
    if (!admin_dsn)
        fail_msg("DBMGMT_TEST_ADMIN_DSN is not set");
    support_dsn_with_database(out, cap, admin_dsn, db->name);
}

/* A scratch database; PostgreSQL's gets pg_stat_statements (the superuser's
 * CREATE EXTENSION) unless bare. */
static void scratch(support_scratch_db *db, int bare)
{
    support_scratch_db_create(db, base_dsn, "dbmgmt_health", sqlite_dir);
    if (engine == DBMGMT_ENGINE_POSTGRES && !bare) {
        char admin[1024];
        admin_dsn_for(admin, sizeof admin, db);
        support_exec_on(admin, "CREATE EXTENSION pg_stat_statements");
    }
}

static void fill(dbmgmt_conn *c)
{
    support_exec_ok(c, "CREATE TABLE small(id INT PRIMARY KEY, v INT NOT NULL)");
    support_exec_ok(c, "INSERT INTO small VALUES (1, 0), (2, 0), (3, 0)");
    support_exec_ok(c, "CREATE TABLE big(id INT PRIMARY KEY, grp INT NOT NULL, pad TEXT)");
    support_exec_ok(c, "CREATE INDEX big_grp ON big(grp)");
    support_exec_ok(c, "CREATE TABLE digits(d INT NOT NULL)");
    support_exec_ok(c, "INSERT INTO digits VALUES (0),(1),(2),(3),(4),(5),(6),(7),(8),(9)");
    /* 10000 rows of 300 bytes of padding each */
    char sql[300];
    snprintf(sql, sizeof sql,
             "INSERT INTO big SELECT a.d*1000+b.d*100+c.d*10+e.d, b.d, %s "
             "FROM digits a, digits b, digits c, digits e",
             engine == DBMGMT_ENGINE_SQLITE ? "hex(zeroblob(150))" : "REPEAT('x', 300)");
    support_exec_ok(c, sql);
    if (engine == DBMGMT_ENGINE_MYSQL) /* the sizes information_schema shows are InnoDB's stats */
        support_exec_ok(c, "ANALYZE TABLE big, small, digits");
}

/* A statement run on a connection of its own thread (it may block). */
typedef struct blocked {
    pthread_t thread;
    dbmgmt_conn *conn;
    const char *sql;
    int rc;
    char msg[512];
} blocked;

static void *blocked_main(void *arg)
{
    blocked *b = arg;
    b->rc = dbmgmt_conn_exec(b->conn, b->sql);
    snprintf(b->msg, sizeof b->msg, "%s", b->rc ? dbmgmt_conn_errmsg(b->conn) : "");
    return NULL;
}

static void blocked_start(blocked *b, dbmgmt_conn *conn, const char *sql)
{
    b->conn = conn;
    b->sql = sql;
    b->rc = -1000;
    assert_int_equal(pthread_create(&b->thread, NULL, blocked_main, b), 0);
}

/* Collect until ok(h) or WAIT_MS passed; the last snapshot (caller frees). */
static dbmgmt_health *collect_until(dbmgmt_conn *c, int (*ok)(const dbmgmt_health *h))
{
    for (int waited = 0;; waited += 100) {
        dbmgmt_health *h = collect(c);
        if (ok(h) || waited >= WAIT_MS)
            return h;
        dbmgmt_health_free(h);
        usleep(100 * 1000);
    }
}

/* ---- sizes and what is absent ---------------------------------------------------------- */

static int64_t shell_pragma(const char *file, const char *pragma)
{
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "sqlite3 -batch -readonly '%s' 'PRAGMA %s;'", file, pragma);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    char line[64] = "";
    char *got = fgets(line, sizeof line, p);
    int status = pclose(p);
    if (!got || status != 0)
        fail_msg("the sqlite3 shell failed (%d) on PRAGMA %s", status, pragma);
    return strtoll(line, NULL, 10);
}

static void sizes_sqlite(dbmgmt_conn *c, const dbmgmt_health *h, const char *file)
{
    int64_t count = support_query_int(c, "PRAGMA page_count");
    int64_t size = support_query_int(c, "PRAGMA page_size");
    int64_t freelist = support_query_int(c, "PRAGMA freelist_count");
    assert_true(freelist > 0); /* the DELETE below left free pages */
    assert_int_equal((int64_t)get(h, DBMGMT_HEALTH_SQLITE_PAGE_COUNT), count);
    assert_int_equal((int64_t)get(h, DBMGMT_HEALTH_SQLITE_PAGE_SIZE), size);
    assert_int_equal((int64_t)get(h, DBMGMT_HEALTH_SQLITE_FREELIST_PAGES), freelist);
    assert_int_equal((int64_t)get(h, DBMGMT_HEALTH_DATABASE_SIZE_BYTES), count * size);
    /* and what the sqlite3 shell, another process, reads from the file */
    assert_int_equal(shell_pragma(file, "page_count"), count);
    assert_int_equal(shell_pragma(file, "freelist_count"), freelist);
    assert_int_equal(shell_pragma(file, "page_size"), size);
    /* no server: no sessions, locks, statement counters or replication */
    static const int32_t absent[] = {
        DBMGMT_HEALTH_CONNECTIONS_ACTIVE, DBMGMT_HEALTH_CONNECTIONS_IDLE,
        DBMGMT_HEALTH_CONNECTIONS_WAITING, DBMGMT_HEALTH_CONNECTIONS_TOTAL,
        DBMGMT_HEALTH_CONNECTIONS_MAX, DBMGMT_HEALTH_DEADLOCKS_TOTAL, DBMGMT_HEALTH_LOCK_WAITS,
        DBMGMT_HEALTH_QUERIES_TOTAL, DBMGMT_HEALTH_SLOW_QUERIES_TOTAL,
        DBMGMT_HEALTH_TRANSACTIONS_TOTAL, DBMGMT_HEALTH_MEAN_QUERY_SECONDS,
        DBMGMT_HEALTH_REPLICATION_LAG_SECONDS, DBMGMT_HEALTH_UNUSED_INDEXES};
    for (size_t i = 0; i < sizeof absent / sizeof absent[0]; i++)
        expect_absent(h, absent[i]);
    /* dbstat: big's b-trees (table and index) together */
    assert_true(dbmgmt_health_table_count(h) >= 3);
    assert_string_equal(dbmgmt_health_table_name(h, 0), "big");
    assert_int_equal(dbmgmt_health_table_bytes(h, 0),
                     support_query_int(c, "SELECT SUM(pgsize) FROM dbstat WHERE name IN "
                                          "('big', 'big_grp', 'sqlite_autoindex_big_1')"));
}

static void sizes_postgres(dbmgmt_conn *c, const dbmgmt_health *h, int64_t before)
{
    int64_t after = support_query_int(c, "SELECT pg_database_size(current_database())");
    double size = get(h, DBMGMT_HEALTH_DATABASE_SIZE_BYTES);
    if (size < (double)(before < after ? before : after) ||
        size > (double)(before < after ? after : before))
        fail_msg("database_size_bytes %.0f, pg_database_size %lld then %lld", size,
                 (long long)before, (long long)after);
    assert_true(dbmgmt_health_table_count(h) >= 3);
    assert_string_equal(dbmgmt_health_table_name(h, 0), "public.big");
    assert_int_equal(dbmgmt_health_table_bytes(h, 0),
                     support_query_int(c, "SELECT pg_total_relation_size('big')"));
    assert_int_equal((int64_t)get(h, DBMGMT_HEALTH_CONNECTIONS_MAX),
                     support_query_int(c, "SELECT current_setting('max_connections')::int"));
    /* big_grp has not been scanned; primary keys never count */
    assert_true(get(h, DBMGMT_HEALTH_UNUSED_INDEXES) >= 1);
}

static void sizes_mysql(dbmgmt_conn *c, const dbmgmt_health *h, const char *schema)
{
    int64_t sum = support_query_int(c, "SELECT SUM(DATA_LENGTH + INDEX_LENGTH) FROM "
                                       "information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE()");
    assert_int_equal((int64_t)get(h, DBMGMT_HEALTH_DATABASE_SIZE_BYTES), sum);
    char name[128];
    snprintf(name, sizeof name, "%s.big", schema);
    assert_true(dbmgmt_health_table_count(h) >= 3);
    assert_string_equal(dbmgmt_health_table_name(h, 0), name);
    assert_int_equal(dbmgmt_health_table_bytes(h, 0),
                     support_query_int(c, "SELECT DATA_LENGTH + INDEX_LENGTH FROM "
                                          "information_schema.TABLES WHERE TABLE_SCHEMA = "
                                          "DATABASE() AND TABLE_NAME = 'big'"));
    assert_int_equal((int64_t)get(h, DBMGMT_HEALTH_CONNECTIONS_MAX),
                     support_query_int(c, "SELECT @@max_connections"));
    double v = get(h, DBMGMT_HEALTH_UNUSED_INDEXES); /* performance_schema is on */
    assert_true(v >= 0);
}

static void test_sizes(void **state)
{
    (void)state;
    support_scratch_db db;
    scratch(&db, 0);
    dbmgmt_conn *c = open_conn(db.dsn);
    fill(c);
    if (engine == DBMGMT_ENGINE_SQLITE)
        support_exec_ok(c, "DELETE FROM big WHERE id >= 5000");
    int64_t pg_before = engine == DBMGMT_ENGINE_POSTGRES
                            ? support_query_int(c, "SELECT pg_database_size(current_database())")
                            : 0;
    dbmgmt_health *h = collect(c);
    assert_true(dbmgmt_health_collected_at_ms(h) > 1700000000000LL);
    if (engine == DBMGMT_ENGINE_SQLITE)
        sizes_sqlite(c, h, db.file);
    else if (engine == DBMGMT_ENGINE_POSTGRES)
        sizes_postgres(c, h, pg_before);
    else
        sizes_mysql(c, h, db.name);
    /* the data's file system: a local server, a file */
    double disk = get(h, DBMGMT_HEALTH_DISK_USED_RATIO);
    assert_true(disk > 0 && disk <= 1);
    double ratio = get(h, DBMGMT_HEALTH_CACHE_HIT_RATIO);
    assert_true(ratio >= 0 && ratio <= 1);
    double hits = get(h, DBMGMT_HEALTH_CACHE_HITS_TOTAL);
    double reads = get(h, DBMGMT_HEALTH_CACHE_READS_TOTAL);
    assert_true(hits + reads > 0);
    assert_true(ratio == hits / (hits + reads));
    /* a primary without standbys */
    expect_absent(h, DBMGMT_HEALTH_REPLICATION_LAG_SECONDS);
    assert_int_equal(dbmgmt_health_replica_count(h), 0);
    /* no rates and no pool figures outside a sampler and a pool */
    for (int32_t m = DBMGMT_HEALTH_QUERIES_PER_SECOND; m < DBMGMT_HEALTH_METRIC_COUNT; m++)
        expect_absent(h, m);
    if (is_server()) {
        expect_absent(h, DBMGMT_HEALTH_SQLITE_PAGE_COUNT);
        assert_true(get(h, DBMGMT_HEALTH_CONNECTIONS_TOTAL) >= 1);
        assert_true(get(h, DBMGMT_HEALTH_CONNECTIONS_ACTIVE) >= 1); /* this very session */
    }
    /* the session is usable, and no transaction was left open */
    assert_int_equal(dbmgmt_conn_in_transaction(c), 0);
    assert_int_equal(support_query_int(c, "SELECT COUNT(*) FROM small"), 3);
    dbmgmt_health_free(h);
    dbmgmt_conn_close(c);
    support_scratch_db_drop(&db, base_dsn);
}

/* An in-memory SQLite database: the page figures, but nothing on disk. */
static void test_sqlite_memory(void **state)
{
    (void)state;
    if (engine != DBMGMT_ENGINE_SQLITE)
        skip();
    dbmgmt_conn *c = open_conn("sqlite::memory:");
    support_exec_ok(c, "CREATE TABLE t(x); INSERT INTO t VALUES (1)");
    dbmgmt_health *h = collect(c);
    assert_true(get(h, DBMGMT_HEALTH_SQLITE_PAGE_COUNT) >= 2);
    expect_absent(h, DBMGMT_HEALTH_DATABASE_SIZE_BYTES);
    expect_absent(h, DBMGMT_HEALTH_DISK_USED_RATIO);
    dbmgmt_health_free(h);
    dbmgmt_conn_close(c);
}

/* ---- counters that move ------------------------------------------------------------------ */

static void run_statements(dbmgmt_conn *c, int n)
{
    for (int i = 0; i < n; i++)
        assert_int_equal(support_query_int(c, "SELECT COUNT(*) FROM small"), 3);
}

static void test_counters(void **state)
{
    (void)state;
    support_scratch_db db;
    scratch(&db, engine == DBMGMT_ENGINE_POSTGRES);
    dbmgmt_conn *c = open_conn(db.dsn);
    fill(c);
    dbmgmt_health *h = collect(c);
    if (engine == DBMGMT_ENGINE_POSTGRES) {
        /* without pg_stat_statements in the database: no statement figures */
        expect_absent(h, DBMGMT_HEALTH_QUERIES_TOTAL);
        expect_absent(h, DBMGMT_HEALTH_SLOW_QUERIES_TOTAL);
        expect_absent(h, DBMGMT_HEALTH_MEAN_QUERY_SECONDS);
        char admin[1024];
        admin_dsn_for(admin, sizeof admin, &db);
        support_exec_on(admin, "CREATE EXTENSION pg_stat_statements");
        dbmgmt_health_free(h);
        h = collect(c);
    }
    if (engine == DBMGMT_ENGINE_SQLITE) {
        double hits = get(h, DBMGMT_HEALTH_CACHE_HITS_TOTAL);
        run_statements(c, 20);
        dbmgmt_health *h2 = collect(c);
        assert_true(get(h2, DBMGMT_HEALTH_CACHE_HITS_TOTAL) > hits);
        dbmgmt_health_free(h2);
    } else {
        double queries = get(h, DBMGMT_HEALTH_QUERIES_TOTAL);
        double slow = get(h, DBMGMT_HEALTH_SLOW_QUERIES_TOTAL);
        double xacts = get(h, DBMGMT_HEALTH_TRANSACTIONS_TOTAL);
        run_statements(c, 20);
        for (int i = 0; i < 3; i++) { /* explicit transactions: MariaDB counts COMMITs */
            assert_int_equal(dbmgmt_conn_begin(c), DBMGMT_OK);
            support_exec_ok(c, "UPDATE small SET v = v + 1 WHERE id = 1");
            assert_int_equal(dbmgmt_conn_commit(c), DBMGMT_OK);
        }
        dbmgmt_health *h2 = collect(c);
        double now = get(h2, DBMGMT_HEALTH_QUERIES_TOTAL);
        if (now < queries + 20)
            fail_msg("queries_total went from %.0f to %.0f over 20 statements", queries, now);
        assert_true(get(h2, DBMGMT_HEALTH_SLOW_QUERIES_TOTAL) >= slow);
        double mean = get(h2, DBMGMT_HEALTH_MEAN_QUERY_SECONDS);
        assert_true(mean > 0 && mean < 10);
        dbmgmt_health_free(h2);
        if (engine == DBMGMT_ENGINE_MYSQL) {
            h2 = collect(c);
            assert_true(get(h2, DBMGMT_HEALTH_TRANSACTIONS_TOTAL) >= xacts + 3);
            dbmgmt_health_free(h2);
        }
        /* PostgreSQL reports a session's commits to pg_stat_database once it ends */
        dbmgmt_conn_close(c);
        c = open_conn(db.dsn);
        int moved = 0;
        for (int waited = 0; !moved && waited < WAIT_MS; waited += 100) {
            h2 = collect(c);
            moved = get(h2, DBMGMT_HEALTH_TRANSACTIONS_TOTAL) >= xacts + 3;
            dbmgmt_health_free(h2);
            if (!moved)
                usleep(100 * 1000);
        }
        if (!moved)
            fail_msg("transactions_total did not move by 3 commits");
    }
    dbmgmt_health_free(h);
    dbmgmt_conn_close(c);
    support_scratch_db_drop(&db, base_dsn);
}

/* ---- locks: a deadlock, a row lock waited on -------------------------------------------- */

static double deadlocks_floor;

static int deadlock_counted(const dbmgmt_health *h)
{
    return get(h, DBMGMT_HEALTH_DEADLOCKS_TOTAL) >= deadlocks_floor;
}

static int lock_seen(const dbmgmt_health *h)
{
    return get(h, DBMGMT_HEALTH_LOCK_WAITS) >= 1 && get(h, DBMGMT_HEALTH_CONNECTIONS_WAITING) >= 1;
}

static void test_deadlock(void **state)
{
    (void)state;
    support_scratch_db db;
    scratch(&db, 1);
    dbmgmt_conn *c = open_conn(db.dsn), *a = open_conn(db.dsn), *b = open_conn(db.dsn);
    fill(c);
    dbmgmt_health *h = collect(c);
    deadlocks_floor = get(h, DBMGMT_HEALTH_DEADLOCKS_TOTAL) + 1;
    dbmgmt_health_free(h);

    assert_int_equal(dbmgmt_conn_begin(a), DBMGMT_OK);
    assert_int_equal(dbmgmt_conn_begin(b), DBMGMT_OK);
    support_exec_ok(a, "UPDATE small SET v = v + 1 WHERE id = 1");
    support_exec_ok(b, "UPDATE small SET v = v + 1 WHERE id = 2");
    blocked t;
    blocked_start(&t, a, "UPDATE small SET v = v + 1 WHERE id = 2"); /* waits for b */
    h = collect_until(c, lock_seen);
    assert_true(lock_seen(h)); /* a waits on b's row */
    dbmgmt_health_free(h);
    int rb = dbmgmt_conn_exec(b, "UPDATE small SET v = v + 1 WHERE id = 1"); /* the cycle */
    char bmsg[512];
    snprintf(bmsg, sizeof bmsg, "%s", rb ? dbmgmt_conn_errmsg(b) : "");
    dbmgmt_conn_rollback(b);
    assert_int_equal(pthread_join(t.thread, NULL), 0);
    dbmgmt_conn_rollback(a);
    /* exactly one of the two was chosen as the deadlock's victim */
    if ((rb != DBMGMT_OK) == (t.rc != DBMGMT_OK))
        fail_msg("one deadlock victim expected: a %d (%s), b %d (%s)", t.rc, t.msg, rb, bmsg);
    assert_true(strstr(rb ? bmsg : t.msg, "eadlock") != NULL);
    /* sessions report their statistics when they end (PostgreSQL) */
    dbmgmt_conn_close(a);
    dbmgmt_conn_close(b);
    h = collect_until(c, deadlock_counted);
    if (!deadlock_counted(h))
        fail_msg("deadlocks_total %.0f, expected at least %.0f",
                 get(h, DBMGMT_HEALTH_DEADLOCKS_TOTAL), deadlocks_floor);
    dbmgmt_health_free(h);
    dbmgmt_conn_close(c);
    support_scratch_db_drop(&db, base_dsn);
}

static int no_lock_waits(const dbmgmt_health *h)
{
    return get(h, DBMGMT_HEALTH_LOCK_WAITS) == 0 && get(h, DBMGMT_HEALTH_CONNECTIONS_WAITING) == 0;
}

static void test_lock_wait(void **state)
{
    (void)state;
    support_scratch_db db;
    scratch(&db, 1);
    dbmgmt_conn *c = open_conn(db.dsn), *a = open_conn(db.dsn), *b = open_conn(db.dsn);
    fill(c);
    dbmgmt_health *h = collect_until(c, no_lock_waits);
    assert_true(no_lock_waits(h));
    dbmgmt_health_free(h);
    assert_int_equal(dbmgmt_conn_begin(a), DBMGMT_OK);
    support_exec_ok(a, "UPDATE small SET v = v + 1 WHERE id = 3");
    blocked t;
    blocked_start(&t, b, "UPDATE small SET v = v + 10 WHERE id = 3");
    h = collect_until(c, lock_seen);
    if (!lock_seen(h))
        fail_msg("while a session waits on a row lock: lock_waits %.0f, connections_waiting %.0f",
                 get(h, DBMGMT_HEALTH_LOCK_WAITS), get(h, DBMGMT_HEALTH_CONNECTIONS_WAITING));
    assert_true(get(h, DBMGMT_HEALTH_CONNECTIONS_TOTAL) >= 3);
    dbmgmt_health_free(h);
    assert_int_equal(dbmgmt_conn_rollback(a), DBMGMT_OK);
    assert_int_equal(pthread_join(t.thread, NULL), 0);
    if (t.rc != DBMGMT_OK)
        fail_msg("the waiting UPDATE failed: %s", t.msg);
    h = collect_until(c, no_lock_waits);
    assert_true(no_lock_waits(h));
    dbmgmt_health_free(h);
    dbmgmt_conn_close(a);
    dbmgmt_conn_close(b);
    dbmgmt_conn_close(c);
    support_scratch_db_drop(&db, base_dsn);
}

/* ---- a session without the monitoring privileges ---------------------------------------- */

/* db's DSN with another user and password. */
static void dsn_as(char *out, size_t cap, const char *dsn, const char *user, const char *pw)
{
    const char *auth = strstr(dsn, "://") + 3;
    const char *at = strchr(auth, '@');
    assert_non_null(at);
    snprintf(out, cap, "%.*s%s:%s%s", (int)(auth - dsn), dsn, user, pw, at);
}

/* Runs sql that holds a password: a failure shows the server's message, not the SQL. */
static void exec_secret(const char *dsn, const char *sql)
{
    dbmgmt_conn *c = open_conn(dsn);
    int rc = dbmgmt_conn_exec(c, sql);
    if (rc != DBMGMT_OK)
        fail_msg("creating the unprivileged user: %s (%s)", dbmgmt_status_name(rc),
                 dbmgmt_conn_errmsg(c));
    dbmgmt_conn_close(c);
}

/* A role with none of pg_monitor / PROCESS / SLAVE MONITOR / performance_schema:
 * what it may not read is absent, and the collection still succeeds. */
static void test_unprivileged(void **state)
{
    (void)state;
    support_scratch_db db;
    scratch(&db, 1);
    char admin[1024], sql[600], pw[40], plain[1100], user[64];
    admin_dsn_for(admin, sizeof admin, &db);
    snprintf(user, sizeof user, "dbmgmt_plain_%d", (int)getpid());
    snprintf(pw, sizeof pw, "p%08x%08x", (unsigned)getpid(), (unsigned)rand());
    if (engine == DBMGMT_ENGINE_POSTGRES) /* no statement text (with the password) kept */
        snprintf(sql, sizeof sql,
                 "SET pg_stat_statements.track_utility = off; SET log_statement = 'none'; "
                 "CREATE ROLE %s LOGIN PASSWORD '%s'; GRANT CREATE ON SCHEMA public TO %s",
                 user, pw, user);
    else
        snprintf(sql, sizeof sql,
                 "CREATE USER %s@'127.0.0.1' IDENTIFIED BY '%s'; "
                 "GRANT ALL ON %s.* TO %s@'127.0.0.1'", user, pw, db.name, user);
    exec_secret(admin, sql);
    dsn_as(plain, sizeof plain, db.dsn, user, pw);
    dbmgmt_conn *c = open_conn(plain);
    support_exec_ok(c, "CREATE TABLE t(id INT PRIMARY KEY)");
    dbmgmt_health *h = collect(c);
    assert_true(get(h, DBMGMT_HEALTH_DATABASE_SIZE_BYTES) > 0);
    assert_true(get(h, DBMGMT_HEALTH_CONNECTIONS_TOTAL) >= 1);
    assert_true(has(h, DBMGMT_HEALTH_DEADLOCKS_TOTAL));
    if (engine == DBMGMT_ENGINE_POSTGRES) {
        expect_absent(h, DBMGMT_HEALTH_DISK_USED_RATIO); /* data_directory is hidden */
    } else {
        expect_absent(h, DBMGMT_HEALTH_LOCK_WAITS);          /* INNODB_LOCK_WAITS: PROCESS */
        expect_absent(h, DBMGMT_HEALTH_CONNECTIONS_WAITING); /* INNODB_TRX: PROCESS */
        expect_absent(h, DBMGMT_HEALTH_MEAN_QUERY_SECONDS);  /* performance_schema */
        expect_absent(h, DBMGMT_HEALTH_UNUSED_INDEXES);
        assert_true(has(h, DBMGMT_HEALTH_QUERIES_TOTAL)); /* GLOBAL_STATUS is everyone's */
    }
    expect_absent(h, DBMGMT_HEALTH_REPLICATION_LAG_SECONDS);
    assert_int_equal(support_query_int(c, "SELECT COUNT(*) FROM t"), 0); /* still usable */
    dbmgmt_health_free(h);
    dbmgmt_conn_close(c);
    snprintf(sql, sizeof sql,
             engine == DBMGMT_ENGINE_POSTGRES ? "DROP OWNED BY %s" : "DROP USER %s@'127.0.0.1'",
             user);
    support_exec_on(admin, sql);
    support_scratch_db_drop(&db, base_dsn);
    if (engine == DBMGMT_ENGINE_POSTGRES) {
        snprintf(sql, sizeof sql, "DROP ROLE %s", user);
        support_exec_on(admin_dsn, sql);
    }
}

/* ---- inside the caller's transaction ---------------------------------------------------- */

/* The reads run in the caller's transaction, which survives them, even
 * when one is refused: on PostgreSQL the table sizes wait at most 2 s for a
 * lock another session holds, then are left out (under a savepoint). */
static void test_in_transaction(void **state)
{
    (void)state;
    support_scratch_db db;
    scratch(&db, 1);
    dbmgmt_conn *c = open_conn(db.dsn), *other = NULL;
    fill(c);
    if (engine == DBMGMT_ENGINE_POSTGRES) {
        other = open_conn(db.dsn);
        assert_int_equal(dbmgmt_conn_begin(other), DBMGMT_OK);
        support_exec_ok(other, "LOCK TABLE digits IN ACCESS EXCLUSIVE MODE");
    }
    assert_int_equal(dbmgmt_conn_begin(c), DBMGMT_OK);
    support_exec_ok(c, "INSERT INTO small VALUES (4, 0)");
    if (engine == DBMGMT_ENGINE_POSTGRES) /* the caller's own setting, for this transaction */
        support_exec_ok(c, "SET LOCAL lock_timeout = '7s'");
    dbmgmt_health *h = collect(c);
    assert_int_equal(dbmgmt_conn_in_transaction(c), 1);
    if (engine == DBMGMT_ENGINE_POSTGRES)
        assert_int_equal(support_query_int(c, "SELECT COUNT(*) FROM pg_settings WHERE "
                                              "name = 'lock_timeout' AND setting = '7000'"), 1);
    assert_true(get(h, DBMGMT_HEALTH_DATABASE_SIZE_BYTES) > 0);
    if (engine == DBMGMT_ENGINE_POSTGRES)
        assert_int_equal(dbmgmt_health_table_count(h), 0); /* refused: lock_timeout */
    else
        assert_true(dbmgmt_health_table_count(h) >= 3);
    dbmgmt_health_free(h);
    support_exec_ok(c, "INSERT INTO small VALUES (5, 0)"); /* the transaction still works */
    assert_int_equal(dbmgmt_conn_commit(c), DBMGMT_OK);
    if (other) {
        assert_int_equal(dbmgmt_conn_rollback(other), DBMGMT_OK);
        dbmgmt_conn_close(other);
        /* lock_timeout was put back as it was: the SET LOCAL ended with the transaction */
        assert_int_equal(support_query_int(c, "SELECT COUNT(*) FROM pg_settings WHERE "
                                              "name = 'lock_timeout' AND setting = '0'"), 1);
    }
    assert_int_equal(support_query_int(c, "SELECT COUNT(*) FROM small"), 5);
    dbmgmt_conn_close(c);
    support_scratch_db_drop(&db, base_dsn);
}

/* ---- the sampler ------------------------------------------------------------------------- */

static dbmgmt_health *sample_at(dbmgmt_health_sampler *s, dbmgmt_conn *c, int64_t at)
{
    dbmgmt_health *h = NULL;
    int rc = dbmgmt_health_sample_at(s, c, NULL, at, &h);
    if (rc != DBMGMT_OK)
        fail_msg("dbmgmt_health_sample_at: %s (%s)", dbmgmt_status_name(rc), dbmgmt_errmsg());
    assert_int_equal(dbmgmt_health_collected_at_ms(h), at);
    return h;
}

static void test_sampler(void **state)
{
    (void)state;
    support_scratch_db db;
    scratch(&db, 0);
    dbmgmt_conn *c = open_conn(db.dsn);
    fill(c);
    dbmgmt_health_sampler *s = NULL;
    assert_int_equal(dbmgmt_health_sampler_new(&s), DBMGMT_OK);
    dbmgmt_health *h1 = sample_at(s, c, 1000);
    for (int32_t m = DBMGMT_HEALTH_QUERIES_PER_SECOND; m <= DBMGMT_HEALTH_GROWTH_BYTES_PER_DAY; m++)
        expect_absent(h1, m); /* the first sample has nothing to compare with */
    run_statements(c, 50);
    support_exec_ok(c, "INSERT INTO big SELECT id + 100000, grp, pad FROM big WHERE id < 2000");
    dbmgmt_health *h2 = sample_at(s, c, 2000);
    dbmgmt_health_free(h1); /* the caller's reference; the sampler holds h2 now */
    assert_true(has(h2, DBMGMT_HEALTH_GROWTH_BYTES_PER_DAY));
    if (is_server()) {
        double qps = get(h2, DBMGMT_HEALTH_QUERIES_PER_SECOND);
        if (qps < 50)
            fail_msg("queries_per_second %g after 50 statements in one second", qps);
        assert_true(get(h2, DBMGMT_HEALTH_TRANSACTIONS_PER_SECOND) >= 0);
        assert_true(get(h2, DBMGMT_HEALTH_SLOW_QUERIES_PER_MINUTE) >= 0);
        assert_true(get(h2, DBMGMT_HEALTH_DEADLOCKS_PER_HOUR) >= 0);
    } else {
        expect_absent(h2, DBMGMT_HEALTH_QUERIES_PER_SECOND); /* SQLite counts no statements */
        expect_absent(h2, DBMGMT_HEALTH_TRANSACTIONS_PER_SECOND);
    }
    /* no time passed: no rates */
    dbmgmt_health *h3 = sample_at(s, c, 2000);
    for (int32_t m = DBMGMT_HEALTH_QUERIES_PER_SECOND; m <= DBMGMT_HEALTH_GROWTH_BYTES_PER_DAY; m++)
        expect_absent(h3, m);
    if (engine == DBMGMT_ENGINE_POSTGRES) {
        /* the superuser resets the statistics: the counters go backwards */
        char admin[1024];
        admin_dsn_for(admin, sizeof admin, &db);
        support_exec_on(admin, "SELECT pg_stat_statements_reset()");
        support_exec_on(admin, "SELECT pg_stat_reset()");
        dbmgmt_health *h4 = sample_at(s, c, 3000);
        assert_true(get(h4, DBMGMT_HEALTH_QUERIES_TOTAL) < get(h3, DBMGMT_HEALTH_QUERIES_TOTAL));
        expect_absent(h4, DBMGMT_HEALTH_QUERIES_PER_SECOND);
        if (get(h4, DBMGMT_HEALTH_TRANSACTIONS_TOTAL) < get(h3, DBMGMT_HEALTH_TRANSACTIONS_TOTAL))
            expect_absent(h4, DBMGMT_HEALTH_TRANSACTIONS_PER_SECOND);
        assert_true(has(h4, DBMGMT_HEALTH_GROWTH_BYTES_PER_DAY)); /* not a counter */
        dbmgmt_health_free(h4);
    }
    dbmgmt_health_free(h2);
    dbmgmt_health_free(h3);
    /* a failed sample keeps the previous one as the base */
    assert_int_equal(dbmgmt_health_sample_at(s, NULL, NULL, 4000, &h1), DBMGMT_ERR_INVALID);
    assert_null(h1);
    dbmgmt_health_sampler_free(s);
    dbmgmt_conn_close(c);
    support_scratch_db_drop(&db, base_dsn);
}

/* ---- JSON -------------------------------------------------------------------------------- */

/* python3 reads the JSON on its stdin: every figure by name, null when absent. */
static const char json_check[] =
    "import json, sys\n"
    "engine, absent, present = sys.argv[1], sys.argv[2].split(','), sys.argv[3].split(',')\n"
    "d = json.load(sys.stdin)\n"
    "assert d['engine'] == engine, d['engine']\n"
    "assert isinstance(d['collected_at_ms'], int)\n"
    "assert len(d) == 2 + 32 + 2, sorted(d)\n"
    "for k in absent: assert k in d and d[k] is None, (k, d.get(k))\n"
    "for k in present: assert isinstance(d[k], (int, float)), (k, d.get(k))\n"
    "assert d['tables'] and all(set(t) == {'name', 'bytes'} for t in d['tables'])\n"
    "assert d['tables'][0]['bytes'] >= d['tables'][-1]['bytes']\n"
    "assert d['replicas'] == []\n";

static void test_json(void **state)
{
    (void)state;
    support_scratch_db db;
    scratch(&db, 0);
    dbmgmt_conn *c = open_conn(db.dsn);
    fill(c);
    dbmgmt_health *h = collect(c);
    char *json = dbmgmt_health_to_json(h);
    assert_non_null(json);
    char script[] = "/tmp/dbmgmt-health-json-XXXXXX";
    int fd = mkstemp(script);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, json_check, strlen(json_check)), (ssize_t)strlen(json_check));
    close(fd);
    const char *absent = engine == DBMGMT_ENGINE_SQLITE
                             ? "connections_total,queries_total,deadlocks_total,pool_active,"
                               "replication_lag_seconds,queries_per_second"
                             : "sqlite_page_count,pool_active,pool_usage_ratio,"
                               "replication_lag_seconds,queries_per_second";
    const char *present = engine == DBMGMT_ENGINE_SQLITE
                              ? "database_size_bytes,sqlite_page_count,cache_hit_ratio"
                              : "database_size_bytes,connections_total,queries_total,"
                                "deadlocks_total,cache_hit_ratio";
    char cmd[1400];
    snprintf(cmd, sizeof cmd, "python3 %s %s %s %s", script, dbmgmt_engine_name(engine), absent,
             present);
    FILE *p = popen(cmd, "w");
    assert_non_null(p);
    fputs(json, p);
    int status = pclose(p);
    unlink(script);
    if (status != 0)
        fail_msg("python3 rejected the JSON (%d): %s", status, json);
    dbmgmt_free(json);
    dbmgmt_health_free(h);
    assert_null(dbmgmt_health_to_json(NULL));
    dbmgmt_conn_close(c);
    support_scratch_db_drop(&db, base_dsn);
}

/* ---- a pool ------------------------------------------------------------------------------ */

static void test_pool(void **state)
{
    (void)state;
    support_scratch_db db;
    scratch(&db, 0);
    dbmgmt_pool_config *cfg = NULL;
    assert_int_equal(dbmgmt_pool_config_new(&cfg), DBMGMT_OK);
    assert_int_equal(dbmgmt_pool_config_set_max_size(cfg, 4), DBMGMT_OK);
    assert_int_equal(dbmgmt_pool_config_set_min_idle(cfg, 1), DBMGMT_OK);
    /* the primary as its own "replica": it is named, without the password */
    if (is_server())
        assert_int_equal(dbmgmt_pool_config_add_replica(cfg, db.dsn), DBMGMT_OK);
    dbmgmt_pool *pool = NULL;
    int rc = dbmgmt_pool_open(&pool, db.dsn, cfg);
    if (rc != DBMGMT_OK)
        fail_msg("dbmgmt_pool_open: %s (%s)", dbmgmt_status_name(rc), dbmgmt_errmsg());
    dbmgmt_pool_config_free(cfg);
    dbmgmt_conn *held = NULL;
    assert_int_equal(dbmgmt_pool_acquire(pool, &held, -1), DBMGMT_OK);
    fill(held);
    dbmgmt_health *h = NULL;
    rc = dbmgmt_health_collect_pool(pool, &h);
    if (rc != DBMGMT_OK)
        fail_msg("dbmgmt_health_collect_pool: %s (%s)", dbmgmt_status_name(rc), dbmgmt_errmsg());
    assert_true(get(h, DBMGMT_HEALTH_DATABASE_SIZE_BYTES) > 0);
    assert_int_equal((int)get(h, DBMGMT_HEALTH_POOL_ACTIVE), 1); /* held; not the check's own */
    double servers = is_server() ? 2 : 1; /* the pool's sizes add up its servers' */
    assert_true(get(h, DBMGMT_HEALTH_POOL_MAX) == 4 * servers);
    assert_int_equal((int)get(h, DBMGMT_HEALTH_POOL_WAITING), 0);
    assert_true(get(h, DBMGMT_HEALTH_POOL_IDLE) >= 1); /* the check's connection went back */
    assert_true(get(h, DBMGMT_HEALTH_POOL_USAGE_RATIO) == 1 / (4 * servers));
    if (is_server()) {
        assert_int_equal(dbmgmt_health_replica_count(h), 1);
        const char *name = dbmgmt_health_replica_name(h, 0);
        const char *host = strstr(db.dsn, "@") + 1;
        size_t len = strcspn(host, "/");
        if (strncmp(name, host, len) != 0 || name[len] != '\0')
            fail_msg("the replica is named '%s', expected its host:port", name);
        double lag = dbmgmt_health_replica_lag_seconds(h, 0);
        assert_true(lag == -1 || lag >= 0);
        if (lag < 0) /* not a standby: its lag is unknown, so no worst lag */
            expect_absent(h, DBMGMT_HEALTH_POOL_REPLICA_LAG_SECONDS);
        else
            assert_true(get(h, DBMGMT_HEALTH_POOL_REPLICA_LAG_SECONDS) >= lag);
    } else {
        assert_int_equal(dbmgmt_health_replica_count(h), 0);
        expect_absent(h, DBMGMT_HEALTH_POOL_REPLICA_LAG_SECONDS);
    }
    dbmgmt_health_free(h);
    /* the sampler on a pool */
    dbmgmt_health_sampler *s = NULL;
    assert_int_equal(dbmgmt_health_sampler_new(&s), DBMGMT_OK);
    assert_int_equal(dbmgmt_health_sample(s, NULL, pool, &h), DBMGMT_OK);
    assert_true(has(h, DBMGMT_HEALTH_POOL_MAX));
    dbmgmt_health_free(h);
    dbmgmt_health_sampler_free(s);
    assert_int_equal(dbmgmt_pool_release(pool, held), DBMGMT_OK);
    assert_int_equal(dbmgmt_pool_close(pool, 5000), DBMGMT_OK);
    support_scratch_db_drop(&db, base_dsn);
}

static void test_arguments(void **state)
{
    (void)state;
    dbmgmt_health *h = (dbmgmt_health *)1;
    assert_int_equal(dbmgmt_health_collect(NULL, &h), DBMGMT_ERR_INVALID);
    assert_null(h);
    assert_int_equal(dbmgmt_health_collect_pool(NULL, &h), DBMGMT_ERR_INVALID);
    assert_int_equal(dbmgmt_health_sampler_new(NULL), DBMGMT_ERR_INVALID);
    dbmgmt_health_sampler_free(NULL);
}

int main(void)
{
    base_dsn = getenv("DBMGMT_TEST_DSN");
    if (!base_dsn || !*base_dsn) {
        fprintf(stderr, "DBMGMT_TEST_DSN is not set\n");
        return 1;
    }
    admin_dsn = getenv("DBMGMT_TEST_ADMIN_DSN");
    if (admin_dsn && !*admin_dsn)
        admin_dsn = NULL;
    engine = support_engine_of_dsn(base_dsn);
    if (engine == DBMGMT_ENGINE_SQLITE) { /* scratch files next to the suite's own */
        const char *path = strstr(base_dsn, "://") ? strstr(base_dsn, "://") + 3 : base_dsn + 7;
        snprintf(sqlite_dir, sizeof sqlite_dir, "%s", path);
        char *slash = strrchr(sqlite_dir, '/');
        if (slash)
            *slash = '\0';
        else
            snprintf(sqlite_dir, sizeof sqlite_dir, ".");
    }
    FILE *evidence = support_evidence_open();
    dbmgmt_set_logger(support_log_to_evidence, evidence, DBMGMT_LOG_DEBUG);
    const struct CMUnitTest common[] = {
        cmocka_unit_test(test_arguments), cmocka_unit_test(test_sizes),
        cmocka_unit_test(test_counters), cmocka_unit_test(test_in_transaction),
        cmocka_unit_test(test_sampler), cmocka_unit_test(test_json),
        cmocka_unit_test(test_pool),
    };
    const struct CMUnitTest servers[] = {
        cmocka_unit_test(test_deadlock),
        cmocka_unit_test(test_lock_wait),
        cmocka_unit_test(test_unprivileged),
    };
    const struct CMUnitTest sqlite[] = {
        cmocka_unit_test(test_sqlite_memory),
    };
    int failed = cmocka_run_group_tests_name("health", common, NULL, NULL);
    if (engine == DBMGMT_ENGINE_SQLITE)
        failed += cmocka_run_group_tests_name("health-sqlite", sqlite, NULL, NULL);
    else
        failed += cmocka_run_group_tests_name("health-server", servers, NULL, NULL);
    if (evidence)
        fclose(evidence);
    return failed ? 1 : 0;
}
