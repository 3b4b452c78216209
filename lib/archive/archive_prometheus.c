/*
 * The archive jobs' metrics in the Prometheus text exposition (format
 * 0.0.4), beside the health exposition's (lib/health/prometheus.c, whose
 * text format this shares). docs/archive.md lists the families.
 */
#include <string.h>

#include "archive_impl.h"
#include "core/alloc.h"
#include "core/dsn.h"
#include "health/prom_text.h"

#define NOMEM dm_error_set(NULL, DBMGMT_ERR_NOMEM, "dbmgmt_archive_to_prometheus: out of memory")

typedef struct arch_family {
    int32_t metric; /* -1: not a metric of the enum */
    const char *name;
    const char *type;
    const char *help;
    double divisor; /* the sample is the metric over it */
} arch_family;

static const arch_family arch_families[] = {
    {DBMGMT_ARCHIVE_ROWS_EXAMINED, "dbmgmt_archive_rows_examined_total", "counter",
     "Rows found old enough by the job's batches.", 1},
    {DBMGMT_ARCHIVE_ROWS_MOVED, "dbmgmt_archive_rows_moved_total", "counter",
     "Rows inserted into the archive table.", 1},
    {DBMGMT_ARCHIVE_ROWS_EXPORTED, "dbmgmt_archive_rows_exported_total", "counter",
     "Rows written to recorded export files.", 1},
    {DBMGMT_ARCHIVE_ROWS_DELETED, "dbmgmt_archive_rows_deleted_total", "counter",
     "Rows deleted from the table.", 1},
    {DBMGMT_ARCHIVE_BATCHES, "dbmgmt_archive_batches_total", "counter", "Batches committed.", 1},
    {DBMGMT_ARCHIVE_FILES, "dbmgmt_archive_files_total", "counter", "Export files recorded.", 1},
    {DBMGMT_ARCHIVE_RESUMED, "dbmgmt_archive_resumed_files_total", "counter",
     "Export files a run finished for a run that was killed.", 1},
    {DBMGMT_ARCHIVE_LAG_WAITS, "dbmgmt_archive_replica_lag_waits_total", "counter",
     "Times the job waited for a replica's lag to fall under its bound.", 1},
    {DBMGMT_ARCHIVE_RUNS, "dbmgmt_archive_runs_total", "counter", "Runs that finished.", 1},
    {DBMGMT_ARCHIVE_RUNS_FAILED, "dbmgmt_archive_runs_failed_total", "counter",
     "Runs that failed or were cancelled.", 1},
    {DBMGMT_ARCHIVE_LOCK_MS_MAX, "dbmgmt_archive_batch_max_seconds", "gauge",
     "The longest batch transaction, begin to commit.", 1000},
    {DBMGMT_ARCHIVE_BATCH_ROWS, "dbmgmt_archive_batch_rows", "gauge",
     "Rows asked for by the last batch (its size).", 1},
    {-1, "dbmgmt_archive_last_run_failed", "gauge", "1 while the job's last run failed, else 0.",
     1},
    {DBMGMT_ARCHIVE_LAST_SUCCESS, "dbmgmt_archive_last_success_timestamp_seconds", "gauge",
     "When the last run that finished ran (its now, Unix seconds); absent before one.", 1},
    {-2, "dbmgmt_archive_next_run_timestamp_seconds", "gauge",
     "When the job's schedule fires next (Unix seconds); absent without a schedule.", 1},
};

typedef struct arch_labels {
    const char *table, *action;
    char *database;
} arch_labels;

static void put_labels(dm_buf *b, const arch_labels *l)
{
    dm_buf_puts(b, "{table=");
    dm_prom_label_value(b, l->table);
    dm_buf_puts(b, ",action=");
    dm_prom_label_value(b, l->action);
    dm_buf_puts(b, ",database=");
    dm_prom_label_value(b, l->database);
    dm_buf_putc(b, '}');
}

/* The job's sample of family f into v; 0 when it has none. */
static int family_value(const dbmgmt_archive *a, const arch_family *f, double *v)
{
    if (f->metric == -1) {
        *v = a->last_run_failed;
        return 1;
    }
    if (f->metric == -2) {
        if (!a->schedule || a->last_tick < 0)
            return 0;
        int64_t next = dbmgmt_schedule_next(a->schedule, a->last_tick, a->utc_offset_s);
        *v = (double)next;
        return next >= 0;
    }
    if (f->metric == DBMGMT_ARCHIVE_LAST_SUCCESS && a->metrics[f->metric] == 0)
        return 0;
    *v = (double)a->metrics[f->metric] / f->divisor;
    return 1;
}

/* Each job's labels; DBMGMT_ERR_INVALID when two are the same. */
static int job_labels(dbmgmt_archive *const *jobs, int32_t n, arch_labels *labels)
{
    for (int32_t i = 0; i < n; i++) {
        if (!jobs[i])
            return dm_error_set(NULL, DBMGMT_ERR_INVALID,
                                "dbmgmt_archive_to_prometheus: jobs[%d] is NULL", (int)i);
        dm_dsn *d = NULL;
        int rc = dm_dsn_parse(jobs[i]->dsn, &d, NULL);
        if (rc != DBMGMT_OK)
            return rc;
        labels[i].table = jobs[i]->table;
        labels[i].action = dm_arch_action_name(jobs[i]->action);
        labels[i].database = dm_strdup(d->database ? d->database : "");
        dm_dsn_free(d);
        if (!labels[i].database)
            return NOMEM;
        for (int32_t k = 0; k < i; k++)
            if (!strcmp(labels[k].table, labels[i].table) &&
                !strcmp(labels[k].action, labels[i].action) &&
                !strcmp(labels[k].database, labels[i].database))
                return dm_error_set(NULL, DBMGMT_ERR_INVALID,
                                    "dbmgmt_archive_to_prometheus: jobs %d and %d have the "
                                    "same labels (table '%s', action %s, database '%s')",
                                    (int)k, (int)i, labels[i].table, labels[i].action,
                                    labels[i].database);
    }
    return DBMGMT_OK;
}

int dbmgmt_archive_to_prometheus(dbmgmt_archive *const *jobs, int32_t n, char **out)
{
    if (out)
        *out = NULL;
    if (!out || n < 0 || (n > 0 && !jobs))
        return dm_error_invalid("dbmgmt_archive_to_prometheus", "jobs, n or out invalid");
    arch_labels *labels = dm_calloc((size_t)n + 1, sizeof *labels);
    if (!labels)
        return NOMEM;
    int rc = job_labels(jobs, n, labels);
    dm_buf b = DM_BUF_INIT;
    for (size_t f = 0; rc == DBMGMT_OK && f < sizeof arch_families / sizeof *arch_families;
         f++) {
        const arch_family *fam = &arch_families[f];
        int header = 0;
        for (int32_t i = 0; i < n; i++) {
            double v = 0;
            if (!family_value(jobs[i], fam, &v))
                continue;
            if (!header++)
                dm_prom_family(&b, fam->name, fam->type, fam->help);
            dm_buf_puts(&b, fam->name);
            put_labels(&b, &labels[i]);
            dm_buf_putc(&b, ' ');
            dm_prom_number(&b, v);
            dm_buf_putc(&b, '\n');
        }
    }
    for (int32_t i = 0; i < n; i++)
        dm_free(labels[i].database);
    dm_free(labels);
    if (rc != DBMGMT_OK) {
        dm_buf_free(&b);
        return rc;
    }
    *out = dm_buf_detach(&b); /* "" for no job */
    return *out ? DBMGMT_OK : NOMEM;
}
