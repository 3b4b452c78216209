/* dbmgmt archive: retention and archival jobs (docs/archive.md). The policy
 * is given by options, one table per call; a scheduler (cron) runs the
 * command, or a host calls dbmgmt_archive_tick. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

typedef struct archive_args {
    const char *table, *key, *time_column, *soft_column, *window, *action, *to, *dsn_to;
    int32_t format, compression; /* 0: the library's default */
    int32_t key_type, time_kind, batch, pause_ms, batch_time_ms;
    int64_t now;
    int json, prometheus;
    const char *textfile;
    const char *files[64];
    int nfiles;
} archive_args;

static int parse_int(const char *s, int64_t *out)
{
    char *end = NULL;
    long long v = strtoll(s, &end, 10);
    if (!*s || *end)
        return -1;
    *out = v;
    return 0;
}

static int archive_parse(int argc, char **argv, archive_args *a)
{
    for (int i = 2; i < argc; i++) {
        const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int64_t n = 0;
        if (strcmp(o, "--json") == 0) {
            a->json = 1;
            continue;
        }
        if (strcmp(o, "--prometheus") == 0) {
            a->prometheus = 1;
            continue;
        }
        if (strcmp(o, "--timestamp") == 0) {
            a->time_kind = DBMGMT_ARCHIVE_TIME_TIMESTAMP;
            continue;
        }
        if (o[0] != '-') {
            if (a->nfiles == 64)
                return cli_usage_error("archive: more than 64 files");
            a->files[a->nfiles++] = o;
            continue;
        }
        if (!v)
            return cli_usage_error("archive: %s needs a value", o);
        i++;
        if (strcmp(o, "--table") == 0) a->table = v;
        else if (strcmp(o, "--key") == 0) a->key = v;
        else if (strcmp(o, "--key-type") == 0 && strcmp(v, "integer") == 0)
            a->key_type = DBMGMT_ARCHIVE_KEY_INTEGER;
        else if (strcmp(o, "--key-type") == 0 && strcmp(v, "text") == 0)
            a->key_type = DBMGMT_ARCHIVE_KEY_TEXT;
        else if (strcmp(o, "--format") == 0 && strcmp(v, "jsonl") == 0)
            a->format = DBMGMT_ARCHIVE_JSONL;
        else if (strcmp(o, "--format") == 0 && strcmp(v, "csv") == 0)
            a->format = DBMGMT_ARCHIVE_CSV;
        else if (strcmp(o, "--compress") == 0 && strcmp(v, "gzip") == 0)
            a->compression = DBMGMT_ARCHIVE_GZIP;
        else if (strcmp(o, "--compress") == 0 && strcmp(v, "zstd") == 0)
            a->compression = DBMGMT_ARCHIVE_ZSTD;
        else if (strcmp(o, "--time-column") == 0) a->time_column = v;
        else if (strcmp(o, "--soft-delete-column") == 0) a->soft_column = v;
        else if (strcmp(o, "--window") == 0) a->window = v;
        else if (strcmp(o, "--action") == 0) a->action = v;
        else if (strcmp(o, "--to") == 0) a->to = v;
        else if (strcmp(o, "--batch") == 0 && parse_int(v, &n) == 0) a->batch = (int32_t)n;
        else if (strcmp(o, "--batch-time") == 0 && parse_int(v, &n) == 0)
            a->batch_time_ms = (int32_t)n;
        else if (strcmp(o, "--pause-ms") == 0 && parse_int(v, &n) == 0) a->pause_ms = (int32_t)n;
        else if (strcmp(o, "--now") == 0 && parse_int(v, &n) == 0) a->now = n;
        else if (strcmp(o, "--url") == 0) cli_globals.url = v;
        else if (strcmp(o, "--textfile") == 0) a->textfile = v;
        else return cli_usage_error("archive: unexpected argument '%s %s'", o, v);
    }
    if (!a->table)
        return cli_usage_error("archive: --table is required");
    if (a->json && a->prometheus)
        return cli_usage_error("archive: --json and --prometheus exclude each other");
    return CLI_EXIT_OK;
}

static int32_t action_of(const char *name)
{
    return !name || strcmp(name, "delete") == 0 ? DBMGMT_ARCHIVE_DELETE
           : strcmp(name, "move") == 0          ? DBMGMT_ARCHIVE_MOVE
           : strcmp(name, "export") == 0        ? DBMGMT_ARCHIVE_EXPORT
                                                : 0;
}

static int print_progress(void *userdata, const dbmgmt_archive *job)
{
    time_t *last = userdata, now = time(NULL);
    if (now == *last)
        return 0;
    *last = now;
    fprintf(stderr, "archive: %lld rows examined, %lld deleted, %lld batches, last key %s\n",
            (long long)dbmgmt_archive_metric(job, DBMGMT_ARCHIVE_ROWS_EXAMINED),
            (long long)dbmgmt_archive_metric(job, DBMGMT_ARCHIVE_ROWS_DELETED),
            (long long)dbmgmt_archive_metric(job, DBMGMT_ARCHIVE_BATCHES),
            dbmgmt_archive_last_key(job));
    return 0;
}

/* The job the options describe; NULL after printing why not. */
static dbmgmt_archive *archive_job(const archive_args *a, int need_policy, int *exit_status)
{
    *exit_status = CLI_EXIT_USAGE;
    dbmgmt_archive *job = NULL;
    int32_t action = action_of(a->action);
    if (!action) {
        cli_usage_error("archive: --action must be delete, move or export");
        return NULL;
    }
    int rc = dbmgmt_archive_new(&job, cli_globals.url, a->table);
    if (rc == DBMGMT_OK && a->key)
        rc = dbmgmt_archive_set_key(job, a->key, a->key_type);
    if (rc == DBMGMT_OK && a->time_column)
        rc = dbmgmt_archive_set_time_column(job, a->time_column, a->time_kind);
    if (rc == DBMGMT_OK && a->soft_column)
        rc = dbmgmt_archive_set_soft_delete_column(job, a->soft_column, a->time_kind);
    if (rc == DBMGMT_OK && a->window)
        rc = dbmgmt_archive_set_window(job, a->window);
    if (rc == DBMGMT_OK)
        rc = dbmgmt_archive_set_action(job, action, action == DBMGMT_ARCHIVE_DELETE ? NULL : a->to);
    if (rc == DBMGMT_OK && (a->format || a->compression) && action != DBMGMT_ARCHIVE_EXPORT) {
        cli_usage_error("archive: --format and --compress go with --action export");
        dbmgmt_archive_free(job);
        return NULL;
    }
    if (rc == DBMGMT_OK && (a->format || a->compression))
        rc = dbmgmt_archive_set_export_format(job, a->format ? a->format : DBMGMT_ARCHIVE_JSONL,
                                              a->compression ? a->compression
                                                             : DBMGMT_ARCHIVE_GZIP);
    if (rc == DBMGMT_OK && a->batch)
        rc = dbmgmt_archive_set_batch_size(job, a->batch);
    if (rc == DBMGMT_OK && a->batch_time_ms >= 0) /* 0: fixed batches of --batch */
        rc = dbmgmt_archive_set_batch_time(job, a->batch_time_ms, 10, 10000);
    if (rc == DBMGMT_OK && a->pause_ms)
        rc = dbmgmt_archive_set_pause_ms(job, a->pause_ms);
    if (rc == DBMGMT_OK && need_policy && (!a->window || (!a->time_column && !a->soft_column))) {
        cli_usage_error("archive run: --window and --time-column or --soft-delete-column "
                        "are required");
        dbmgmt_archive_free(job);
        return NULL;
    }
    if (rc != DBMGMT_OK) {
        *exit_status = CLI_EXIT_FAILURE;
        fprintf(stderr, "dbmgmt archive: %s\n", job ? dbmgmt_archive_errmsg(job) : dbmgmt_errmsg());
        dbmgmt_archive_free(job);
        return NULL;
    }
    return job;
}

static int archive_report(dbmgmt_archive *job, const char *table, int json, int rc)
{
    char *status = dbmgmt_archive_status_json(job);
    if (json && status)
        printf("%s\n", status);
    else if (status)
        printf("table %s: %lld rows examined, %lld moved, %lld exported, %lld deleted in %lld "
               "batches (longest %lld ms)\n",
               table,
               (long long)dbmgmt_archive_metric(job, DBMGMT_ARCHIVE_ROWS_EXAMINED),
               (long long)dbmgmt_archive_metric(job, DBMGMT_ARCHIVE_ROWS_MOVED),
               (long long)dbmgmt_archive_metric(job, DBMGMT_ARCHIVE_ROWS_EXPORTED),
               (long long)dbmgmt_archive_metric(job, DBMGMT_ARCHIVE_ROWS_DELETED),
               (long long)dbmgmt_archive_metric(job, DBMGMT_ARCHIVE_BATCHES),
               (long long)dbmgmt_archive_metric(job, DBMGMT_ARCHIVE_LOCK_MS_MAX));
    dbmgmt_free(status);
    if (rc != DBMGMT_OK)
        fprintf(stderr, "dbmgmt archive: %s\n", dbmgmt_archive_errmsg(job));
    return rc == DBMGMT_OK && status ? CLI_EXIT_OK : CLI_EXIT_FAILURE;
}

/* The job's metrics (after the run, a failed one too) in the Prometheus
 * exposition: on stdout for --prometheus, into --textfile's file. */
static int archive_prometheus(dbmgmt_archive *job, const archive_args *a, int rc)
{
    if (!a->prometheus && !a->textfile)
        return rc == DBMGMT_OK ? CLI_EXIT_OK : CLI_EXIT_FAILURE;
    char *text = NULL;
    if (dbmgmt_archive_to_prometheus(&job, 1, &text) != DBMGMT_OK) {
        fprintf(stderr, "dbmgmt archive: %s\n", dbmgmt_errmsg());
        return CLI_EXIT_FAILURE;
    }
    int ok = !a->textfile || cli_write_textfile("archive", a->textfile, text) == 0;
    if (a->prometheus)
        ok = fputs(text, stdout) != EOF && ok;
    dbmgmt_free(text);
    if (a->prometheus && rc != DBMGMT_OK)
        fprintf(stderr, "dbmgmt archive: %s\n", dbmgmt_archive_errmsg(job));
    return ok && rc == DBMGMT_OK ? CLI_EXIT_OK : CLI_EXIT_FAILURE;
}

static int archive_restore(const archive_args *a)
{
    if (a->nfiles == 0 || !a->to)
        return cli_usage_error("archive restore: FILE... --to DSN --table T");
    int64_t total = 0;
    for (int i = 0; i < a->nfiles; i++) {
        int64_t rows = 0;
        if (dbmgmt_archive_restore(a->files[i], a->to, a->table, &rows) != DBMGMT_OK) {
            fprintf(stderr, "dbmgmt archive restore: %s\n", dbmgmt_errmsg());
            return CLI_EXIT_FAILURE;
        }
        fprintf(stderr, "archive: %s: %lld rows\n", a->files[i], (long long)rows);
        total += rows;
    }
    if (a->json)
        printf("{\"table\":%s,\"files\":%d,\"rows\":%lld}\n", cli_json_quote(a->table),
               a->nfiles, (long long)total);
    else
        printf("%lld rows restored into %s from %d file%s\n", (long long)total, a->table,
               a->nfiles, a->nfiles == 1 ? "" : "s");
    return CLI_EXIT_OK;
}

int cmd_archive(int argc, char **argv)
{
    if (argc < 2)
        return cli_usage_error("archive: run, status or restore expected");
    archive_args a = {0};
    a.key_type = DBMGMT_ARCHIVE_KEY_INTEGER;
    a.time_kind = DBMGMT_ARCHIVE_TIME_EPOCH;
    a.batch_time_ms = -1; /* the library's default */
    a.now = (int64_t)time(NULL);
    a.json = cli_globals.json;
    int rc = archive_parse(argc, argv, &a);
    if (rc != CLI_EXIT_OK)
        return rc;
    const char *sub = argv[1];
    if (strcmp(sub, "restore") == 0)
        return archive_restore(&a);
    if (a.nfiles)
        return cli_usage_error("archive %s: unexpected argument '%s'", sub, a.files[0]);
    if (strcmp(sub, "run") != 0 && strcmp(sub, "status") != 0)
        return cli_usage_error("archive: run, status or restore expected, not '%s'", sub);
    dbmgmt_archive *job = archive_job(&a, strcmp(sub, "run") == 0, &rc);
    if (!job)
        return rc;
    time_t last = 0;
    dbmgmt_archive_set_progress(job, print_progress, &last);
    rc = strcmp(sub, "run") == 0 ? dbmgmt_archive_run(job, a.now) : DBMGMT_OK;
    int status = archive_prometheus(job, &a, rc);
    if (!a.prometheus)
        status = archive_report(job, a.table, a.json, rc) != CLI_EXIT_OK ? CLI_EXIT_FAILURE
                                                                         : status;
    dbmgmt_archive_free(job);
    return status;
}
