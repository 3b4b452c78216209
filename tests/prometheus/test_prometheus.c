/*
 * dbmgmt_metrics_to_prometheus (issue 20): the text format of a snapshot
 * made here figure by figure (the internal dm_health_new/dm_health_set), of
 * a pool, a backup catalog and a migrator on SQLite, and of alert rules.
 * Checked: HELP and TYPE once per family and before its samples, label
 * escaping, absent figures left out, number formatting, errors.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "dbmgmt.h"
#include "support/files.h"
#include "core/alloc.h"
#include "health/health_impl.h"

static char *expo(const dbmgmt_health *h, const dbmgmt_pool *pool, dbmgmt_backup *b,
                  dbmgmt_migrator *m, const dbmgmt_alerts *a)
{
    char *out = NULL;
    int rc = dbmgmt_metrics_to_prometheus(h, pool, b, m, a, &out);
    if (rc != DBMGMT_OK)
        fail_msg("dbmgmt_metrics_to_prometheus: %d %s", rc, dbmgmt_errmsg());
    assert_non_null(out);
    return out;
}

static size_t count_lines_starting(const char *text, const char *prefix)
{
    size_t n = 0, len = strlen(prefix);
    for (const char *p = text; p && *p;) {
        if (strncmp(p, prefix, len) == 0)
            n++;
        p = strchr(p, '\n');
        if (p)
            p++;
    }
    return n;
}

/* Every line is a HELP, a TYPE or a sample; each family has exactly one HELP
 * and one TYPE, HELP then TYPE, before its samples, and its samples are
 * contiguous. */
static void check_format(const char *text)
{
    char families[64][96];
    size_t nfam = 0;
    char current[96] = "";
    int seen_type = 0;
    assert_true(*text == '\0' || text[strlen(text) - 1] == '\n');
    for (const char *p = text; *p;) {
        const char *end = strchr(p, '\n');
        assert_non_null(end);
        char line[1024];
        size_t len = (size_t)(end - p);
        assert_true(len < sizeof line);
        memcpy(line, p, len);
        line[len] = '\0';
        char name[96];
        if (strncmp(line, "# HELP ", 7) == 0) {
            assert_int_equal(sscanf(line + 7, "%95s", name), 1);
            for (size_t i = 0; i < nfam; i++)
                if (strcmp(families[i], name) == 0)
                    fail_msg("family %s has a second HELP", name);
            assert_true(nfam < 64);
            strcpy(families[nfam++], name);
            strcpy(current, name);
            seen_type = 0;
        } else if (strncmp(line, "# TYPE ", 7) == 0) {
            char type[32];
            assert_int_equal(sscanf(line + 7, "%95s %31s", name, type), 2);
            assert_string_equal(name, current);
            assert_false(seen_type);
            assert_true(strcmp(type, "gauge") == 0 || strcmp(type, "counter") == 0);
            if (strcmp(type, "counter") == 0)
                assert_non_null(strstr(name, "_total"));
            else
                assert_null(strstr(name, "_total"));
            seen_type = 1;
        } else {
            size_t n = strcspn(line, "{ ");
            assert_true(n > 0 && n < sizeof name);
            memcpy(name, line, n);
            name[n] = '\0';
            if (strcmp(name, current) != 0 || !seen_type)
                fail_msg("sample '%s' outside its family (current %s)", line, current);
            const char *value = strrchr(line, ' ');
            assert_non_null(value);
            char *stop;
            if (strcmp(value + 1, "NaN") && strcmp(value + 1, "+Inf") &&
                strcmp(value + 1, "-Inf")) {
                (void)strtod(value + 1, &stop);
                if (*stop)
                    fail_msg("value of '%s' is not a number", line);
            }
        }
        p = end + 1;
    }
}

static void test_errors(void **state)
{
    (void)state;
    assert_int_equal(dbmgmt_metrics_to_prometheus(NULL, NULL, NULL, NULL, NULL, NULL),
                     DBMGMT_ERR_INVALID);
    char *out = NULL;
    assert_int_equal(dbmgmt_metrics_to_prometheus(NULL, NULL, NULL, NULL, NULL, &out),
                     DBMGMT_OK);
    assert_string_equal(out, ""); /* nothing given, nothing written */
    dbmgmt_free(out);
}

static void test_absent_figures_omitted(void **state)
{
    (void)state;
    dbmgmt_health *h = dm_health_new(DBMGMT_ENGINE_POSTGRES, 1700000000000);
    assert_non_null(h);
    dm_health_set(h, DBMGMT_HEALTH_DATABASE_SIZE_BYTES, 123456789);
    dm_health_set(h, DBMGMT_HEALTH_DEADLOCKS_TOTAL, 0); /* present, 0 */
    dm_health_set(h, DBMGMT_HEALTH_CONNECTIONS_ACTIVE, 3);
    char *t = expo(h, NULL, NULL, NULL, NULL);
    check_format(t);
    assert_non_null(strstr(t, "# TYPE dbmgmt_database_size_bytes gauge\n"
                              "dbmgmt_database_size_bytes 123456789\n"));
    assert_non_null(
        strstr(t, "# TYPE dbmgmt_deadlocks_total counter\ndbmgmt_deadlocks_total 0\n"));
    assert_non_null(strstr(t, "dbmgmt_connections{state=\"active\"} 3\n"));
    /* absent: neither the other states nor any other figure */
    assert_null(strstr(t, "state=\"idle\""));
    assert_null(strstr(t, "cache_hit"));
    assert_null(strstr(t, "replication_lag"));
    assert_null(strstr(t, "per_second"));
    assert_null(strstr(t, "dbmgmt_pool"));
    assert_null(strstr(t, "dbmgmt_table_size_bytes"));
    assert_int_equal(count_lines_starting(t, "# HELP "), 3);
    dbmgmt_free(t);
    dbmgmt_health_free(h);
}

static void test_numbers_and_escaping(void **state)
{
    (void)state;
    dbmgmt_health *h = dm_health_new(DBMGMT_ENGINE_SQLITE, 1);
    assert_non_null(h);
    dm_health_set(h, DBMGMT_HEALTH_CACHE_HIT_RATIO, 0.1);
    dm_health_set(h, DBMGMT_HEALTH_QUERIES_TOTAL, 1e15);       /* integral, no exponent */
    dm_health_set(h, DBMGMT_HEALTH_MEAN_QUERY_SECONDS, 0.0 / 0.0);
    dm_health_set(h, DBMGMT_HEALTH_GROWTH_BYTES_PER_DAY, -1.0 / 0.0);
    dm_health_set(h, DBMGMT_HEALTH_REPLICATION_LAG_SECONDS, 1.0 / 0.0);
    dm_health_set(h, DBMGMT_HEALTH_QUERIES_PER_SECOND, 2.5);
    h->tables[0].name = dm_strdup("main.we\"ird\\na\nme");
    h->tables[0].bytes = 8192;
    h->tables[1].name = dm_strdup("main.plain");
    h->tables[1].bytes = 4096;
    h->tables[2].name = dm_strdup("main.caf\xc3\xa9_\xff\xc3");  /* é, then invalid bytes */
    h->tables[2].bytes = 1024;
    h->ntables = 3;
    h->replicas = dm_calloc(2, sizeof *h->replicas);
    h->replicas[0].name = dm_strdup("10.0.0.2:5432");
    h->replicas[0].lag_seconds = 1.25;
    h->replicas[1].name = dm_strdup("unknown-lag");
    h->replicas[1].lag_seconds = -1;
    h->nreplicas = 2;
    char *t = expo(h, NULL, NULL, NULL, NULL);
    check_format(t);
    assert_non_null(strstr(t, "dbmgmt_cache_hit_ratio 0.1\n"));
    assert_non_null(strstr(t, "dbmgmt_queries_total 1000000000000000\n"));
    assert_non_null(strstr(t, "dbmgmt_mean_query_seconds NaN\n"));
    assert_non_null(strstr(t, "dbmgmt_growth_bytes_per_day -Inf\n"));
    assert_non_null(strstr(t, "dbmgmt_replication_lag_seconds +Inf\n"));
    assert_non_null(strstr(t, "dbmgmt_queries_per_second 2.5\n"));
    assert_non_null(
        strstr(t, "dbmgmt_table_size_bytes{table=\"main.we\\\"ird\\\\na\\nme\"} 8192\n"));
    assert_non_null(strstr(t, "dbmgmt_table_size_bytes{table=\"main.plain\"} 4096\n"));
    assert_non_null(strstr(t, "dbmgmt_table_size_bytes{table=\"main.caf\xc3\xa9_"
                              "\xef\xbf\xbd\xef\xbf\xbd\"} 1024\n"));
    assert_int_equal(count_lines_starting(t, "# TYPE dbmgmt_table_size_bytes "), 1);
    assert_non_null(strstr(t, "dbmgmt_replica_lag_seconds{replica=\"10.0.0.2:5432\"} 1.25\n"));
    assert_null(strstr(t, "unknown-lag")); /* lag unknown: no sample */
    dbmgmt_free(t);
    dbmgmt_health_free(h);
}

/* Pool, backup catalog and migrator on SQLite files in a scratch folder. */
static void test_pool_backup_migrations(void **state)
{
    (void)state;
    char dir[256], dsn[320], bdir[300], mdir[300];
    assert_int_equal(support_scratch_dir(dir, sizeof dir, "dbmgmt-prom"), 0);
    snprintf(dsn, sizeof dsn, "sqlite://%s/db.sqlite", dir);
    snprintf(bdir, sizeof bdir, "%s/backups", dir);
    snprintf(mdir, sizeof mdir, "%s/migrations", dir);
    assert_int_equal(mkdir(mdir, 0700), 0);
    support_write_file(mdir, "001_a.sql", "CREATE TABLE a (id INTEGER PRIMARY KEY);\n");
    support_write_file(mdir, "002_b.sql", "CREATE TABLE b (id INTEGER PRIMARY KEY);\n");

    dbmgmt_pool *pool = NULL;
    assert_int_equal(dbmgmt_pool_open(&pool, dsn, NULL), DBMGMT_OK);
    dbmgmt_conn *conn = NULL;
    assert_int_equal(dbmgmt_pool_acquire(pool, &conn, 5000), DBMGMT_OK);
    dbmgmt_migrator *m = NULL;
    assert_int_equal(dbmgmt_migrator_new(&m, conn), DBMGMT_OK);
    assert_int_equal(dbmgmt_migrator_add_dir(m, mdir), DBMGMT_OK);
    dbmgmt_backup *b = NULL;
    assert_int_equal(dbmgmt_backup_new(&b, dsn, bdir), DBMGMT_OK);

    /* nothing applied, no backup yet */
    char *t = expo(NULL, pool, b, m, NULL);
    check_format(t);
    assert_non_null(strstr(t, "dbmgmt_pool_connections{state=\"active\"} 1\n"));
    assert_non_null(strstr(t, "dbmgmt_pool_connections{state=\"idle\"} "));
    assert_non_null(strstr(t, "dbmgmt_pool_connections{state=\"waiting\"} 0\n"));
    assert_non_null(strstr(t, "# TYPE dbmgmt_pool_acquires_total counter\n"));
    assert_non_null(strstr(t, "# TYPE dbmgmt_pool_timeouts_total counter\n"));
    assert_non_null(strstr(t, "# TYPE dbmgmt_pool_acquire_wait_p99_seconds gauge\n"));
    assert_non_null(strstr(t, "dbmgmt_pool_max_connections "));
    assert_non_null(strstr(t, "dbmgmt_backups 0\n"));
    assert_non_null(strstr(t, "dbmgmt_backup_failures_total 0\n"));
    assert_null(strstr(t, "dbmgmt_backup_rpo_seconds")); /* no verified backup: left out */
    assert_null(strstr(t, "dbmgmt_backup_last_size_bytes"));
    assert_null(strstr(t, "dbmgmt_backup_last_restore_seconds"));
    assert_non_null(strstr(t, "dbmgmt_migrations_pending 2\n"));
    assert_non_null(strstr(t, "dbmgmt_migration_dirty 0\n"));
    assert_null(strstr(t, "dbmgmt_migration_applied_version"));
    dbmgmt_free(t);

    assert_int_equal(dbmgmt_migrator_up(m), DBMGMT_OK);
    char *id = NULL;
    assert_int_equal(dbmgmt_backup_run_now(b, &id), DBMGMT_OK);
    assert_int_equal(dbmgmt_backup_verify(b, id), DBMGMT_OK);
    dbmgmt_free(id);
    t = expo(NULL, NULL, b, m, NULL);
    check_format(t);
    assert_non_null(strstr(t, "dbmgmt_migrations_pending 0\n"));
    assert_non_null(strstr(t, "dbmgmt_migration_applied_version 2\n"));
    assert_non_null(strstr(t, "dbmgmt_migration_info{applied_version=\"002\"} 1\n"));
    assert_non_null(strstr(t, "dbmgmt_backups 1\n"));
    assert_non_null(
        strstr(t, "# TYPE dbmgmt_backup_rpo_seconds gauge\ndbmgmt_backup_rpo_seconds "));
    assert_non_null(strstr(t, "dbmgmt_backup_last_size_bytes "));
    assert_null(strstr(t, "dbmgmt_pool")); /* pool not given */
    dbmgmt_free(t);

    dbmgmt_backup_free(b);
    dbmgmt_migrator_free(m);
    dbmgmt_pool_release(pool, conn);
    dbmgmt_pool_close(pool, 1000);
    assert_int_equal(support_remove_tree(dir), 0);
}

/* The pool's figures come from the pool when it is given, else from the
 * snapshot: never both. */
static void test_pool_from_snapshot(void **state)
{
    (void)state;
    dbmgmt_health *h = dm_health_new(DBMGMT_ENGINE_SQLITE, 1);
    assert_non_null(h);
    dm_health_set(h, DBMGMT_HEALTH_POOL_ACTIVE, 2);
    dm_health_set(h, DBMGMT_HEALTH_POOL_MAX, 10);
    dm_health_set(h, DBMGMT_HEALTH_POOL_USAGE_RATIO, 0.2);
    char *t = expo(h, NULL, NULL, NULL, NULL);
    check_format(t);
    assert_non_null(strstr(t, "dbmgmt_pool_connections{state=\"active\"} 2\n"));
    assert_null(strstr(t, "state=\"idle\""));
    assert_non_null(strstr(t, "dbmgmt_pool_max_connections 10\n"));
    assert_non_null(strstr(t, "dbmgmt_pool_usage_ratio 0.2\n"));
    dbmgmt_free(t);

    char dir[256], dsn[320];
    assert_int_equal(support_scratch_dir(dir, sizeof dir, "dbmgmt-prom"), 0);
    snprintf(dsn, sizeof dsn, "sqlite://%s/db.sqlite", dir);
    dbmgmt_pool *pool = NULL;
    assert_int_equal(dbmgmt_pool_open(&pool, dsn, NULL), DBMGMT_OK);
    t = expo(h, pool, NULL, NULL, NULL);
    check_format(t); /* would fail on a second HELP of dbmgmt_pool_connections */
    assert_int_equal(count_lines_starting(t, "dbmgmt_pool_connections{state=\"active\"}"), 1);
    dbmgmt_free(t);
    dbmgmt_pool_close(pool, 1000);
    dbmgmt_health_free(h);
    assert_int_equal(support_remove_tree(dir), 0);
}

static void test_alerts(void **state)
{
    (void)state;
    dbmgmt_alerts *a = NULL;
    assert_int_equal(dbmgmt_alerts_new(&a), DBMGMT_OK);
    assert_int_equal(dbmgmt_alerts_set_rule(a, "size \"big\"\\\n",
                                            DBMGMT_HEALTH_DATABASE_SIZE_BYTES, 100,
                                            DBMGMT_ALERT_CRITICAL, 0, 0.1),
                     DBMGMT_OK);
    dbmgmt_health *h = dm_health_new(DBMGMT_ENGINE_SQLITE, 1000);
    assert_non_null(h);
    dm_health_set(h, DBMGMT_HEALTH_DATABASE_SIZE_BYTES, 1000);
    assert_true(dbmgmt_alerts_evaluate(a, h) >= 1);
    char *t = expo(h, NULL, NULL, NULL, a);
    check_format(t);
    assert_int_equal(count_lines_starting(t, "# TYPE dbmgmt_alert_firing gauge"), 1);
    assert_non_null(strstr(t, "dbmgmt_alert_firing{rule=\"size \\\"big\\\"\\\\\\n\","
                              "severity=\"critical\"} 1\n"));
    /* the default rules are there too, not firing (their figures are absent) */
    assert_non_null(strstr(t, "dbmgmt_alert_firing{rule=\"pool_usage_high\",severity="));
    assert_null(strstr(t, "rule=\"pool_usage_high\",severity=\"warning\"} 1"));
    dbmgmt_free(t);
    dbmgmt_health_free(h);
    dbmgmt_alerts_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_absent_figures_omitted),
        cmocka_unit_test(test_numbers_and_escaping),
        cmocka_unit_test(test_pool_backup_migrations),
        cmocka_unit_test(test_pool_from_snapshot),
        cmocka_unit_test(test_alerts),
    };
    return cmocka_run_group_tests_name("prometheus", tests, NULL, NULL);
}
