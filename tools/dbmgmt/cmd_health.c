/* dbmgmt health: the database's health figures as a table, JSON or the
 * Prometheus exposition (docs/prometheus.md); --textfile for node_exporter. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

int cli_health_exposition(dbmgmt_conn *conn, const dbmgmt_pool *pool, const dbmgmt_health *h,
                          const dbmgmt_alerts *alerts, char **out)
{
    dbmgmt_migrator *m = NULL;
    dbmgmt_backup *b = NULL;
    int rc = DBMGMT_OK;
    if (cli_globals.dir && conn) {
        rc = dbmgmt_migrator_new(&m, conn);
        if (rc == DBMGMT_OK && cli_globals.table)
            rc = dbmgmt_migrator_set_table_name(m, cli_globals.table);
        if (rc == DBMGMT_OK)
            rc = dbmgmt_migrator_add_dir(m, cli_globals.dir);
    }
    if (rc == DBMGMT_OK && cli_globals.backup_dir)
        rc = dbmgmt_backup_new(&b, cli_globals.url, cli_globals.backup_dir);
    if (rc == DBMGMT_OK)
        rc = dbmgmt_metrics_to_prometheus(h, pool, b, m, alerts, out);
    dbmgmt_backup_free(b);
    dbmgmt_migrator_free(m);
    return rc;
}

static void print_value(double v)
{
    if (v == floor(v) && fabs(v) < 1e15)
        printf("%.0f\n", v);
    else
        printf("%.6g\n", v);
}

/* A short table: every figure present, the largest tables, the replicas. */
static void print_human(const dbmgmt_health *h)
{
    printf("%-28s %s\n", "engine", dbmgmt_engine_name(dbmgmt_health_engine(h)));
    for (int32_t i = 0; i < DBMGMT_HEALTH_METRIC_COUNT; i++) {
        double v;
        if (dbmgmt_health_get(h, i, &v) != DBMGMT_OK)
            continue;
        printf("%-28s ", dbmgmt_health_metric_name(i));
        print_value(v);
    }
    size_t n = dbmgmt_health_table_count(h);
    if (n)
        printf("\nlargest tables\n");
    for (size_t i = 0; i < n; i++)
        printf("  %-40s %lld bytes\n", dbmgmt_health_table_name(h, i),
               (long long)dbmgmt_health_table_bytes(h, i));
    n = dbmgmt_health_replica_count(h);
    if (n)
        printf("\nreplicas\n");
    for (size_t i = 0; i < n; i++) {
        double lag = dbmgmt_health_replica_lag_seconds(h, i);
        if (lag < 0)
            printf("  %-40s lag unknown\n", dbmgmt_health_replica_name(h, i));
        else
            printf("  %-40s lag %.3f s\n", dbmgmt_health_replica_name(h, i), lag);
    }
}

int cmd_health(int argc, char **argv)
{
    int json = cli_globals.json, prometheus = 0;
    const char *textfile = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0)
            json = 1;
        else if (strcmp(argv[i], "--prometheus") == 0)
            prometheus = 1;
        else if (strcmp(argv[i], "--textfile") == 0 && i + 1 < argc)
            textfile = argv[++i];
        else if (strcmp(argv[i], "--url") == 0 && i + 1 < argc)
            cli_globals.url = argv[++i];
        else
            return cli_usage_error("health: unexpected argument '%s'", argv[i]);
    }
    if (json && (prometheus || textfile))
        return cli_usage_error("health: --json and --prometheus/--textfile exclude each other");
    dbmgmt_conn *conn = NULL;
    dbmgmt_health *h = NULL;
    dbmgmt_alerts *alerts = NULL;
    char *text = NULL;
    int status = CLI_EXIT_FAILURE;
    if (dbmgmt_conn_open(&conn, cli_globals.url) != DBMGMT_OK ||
        dbmgmt_health_collect(conn, &h) != DBMGMT_OK) {
        fprintf(stderr, "dbmgmt health: %s\n", dbmgmt_errmsg());
        goto out;
    }
    if (prometheus || textfile) {
        if (dbmgmt_alerts_new(&alerts) != DBMGMT_OK ||
            dbmgmt_alerts_evaluate(alerts, h) < 0 ||
            cli_health_exposition(conn, NULL, h, alerts, &text) != DBMGMT_OK) {
            fprintf(stderr, "dbmgmt health: %s\n", dbmgmt_errmsg());
            goto out;
        }
        if (textfile ? cli_write_textfile("health", textfile, text) != 0
                     : fputs(text, stdout) == EOF)
            goto out;
    } else if (json) {
        text = dbmgmt_health_to_json(h);
        if (!text) {
            fprintf(stderr, "dbmgmt health: out of memory\n");
            goto out;
        }
        printf("%s\n", text);
    } else {
        print_human(h);
    }
    status = fflush(stdout) == 0 ? CLI_EXIT_OK : CLI_EXIT_FAILURE;
out:
    dbmgmt_free(text);
    dbmgmt_alerts_free(alerts);
    dbmgmt_health_free(h);
    dbmgmt_conn_close(conn);
    return status;
}
