/*
 * 400 days of the seeds' tiers on a simulated clock, ticked every hour:
 * daily 02:00, weekly Sunday 03:00, monthly on the 1st 04:00, keeping
 * 7 daily / 4 weekly / 12 monthly. Each job must run exactly once per due
 * time, and after the run the catalog must hold exactly the backups restic's
 * forget keeps for that policy (computed here independently), with their
 * files and nothing else. The BACKUP hook stands in for the engine so the
 * run takes seconds.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <dbmgmt.h>

#include "support/files.h"

#define HOUR 3600
#define DAY 86400
#define T0 1767225600 /* 2026-01-01T00:00:00Z */
#define DAYS 400
#define MAX_BACKUPS 1024

typedef struct taken {
    int64_t time;
    char kind[16];
    char id[64];
    int pruned;
} taken;

typedef struct run_log {
    taken v[MAX_BACKUPS];
    size_t n;
    int unknown_prunes;
} run_log;

static int64_t parse_id_time(const char *id)
{
    struct tm tm = {0};
    if (sscanf(id, "%4d%2d%2dT%2d%2d%2dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
               &tm.tm_min, &tm.tm_sec) != 6)
        return -1;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (int64_t)timegm(&tm);
}

static int hook(void *userdata, dbmgmt_hook which, const char *id, const char *path,
                const char *detail)
{
    run_log *log = userdata;
    (void)detail;
    if (which == DBMGMT_HOOK_BACKUP) {
        if (log->n == MAX_BACKUPS)
            return 1;
        taken *t = &log->v[log->n++];
        snprintf(t->id, sizeof t->id, "%s", id);
        t->time = parse_id_time(id);
        const char *kind = strchr(id, '-');
        snprintf(t->kind, sizeof t->kind, "%s", kind ? kind + 1 : "?");
        FILE *fp = fopen(path, "wb");
        if (!fp)
            return 1;
        fprintf(fp, "%s\n", id);
        return fclose(fp) == 0 ? 0 : 1;
    }
    if (which == DBMGMT_HOOK_PRUNE) {
        for (size_t i = 0; i < log->n; i++)
            if (strcmp(log->v[i].id, id) == 0) {
                log->v[i].pruned++;
                return 0;
            }
        log->unknown_prunes++;
    }
    return 0;
}

/* The due times of each tier, independently of the cron code. */
static int expected_due(const char *kind, int64_t t)
{
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    if (tm.tm_min != 0 || tm.tm_sec != 0)
        return 0;
    if (!strcmp(kind, "daily"))
        return tm.tm_hour == 2;
    if (!strcmp(kind, "weekly"))
        return tm.tm_hour == 3 && tm.tm_wday == 0;
    if (!strcmp(kind, "monthly"))
        return tm.tm_hour == 4 && tm.tm_mday == 1;
    return 0;
}

/* restic's bucket of a time for a period: day, ISO week or month. */
static long bucket(int64_t t, int period)
{
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    char s[16];
    if (period == 0)
        strftime(s, sizeof s, "%Y%m%d", &tm);
    else if (period == 1)
        strftime(s, sizeof s, "%G%V", &tm);
    else
        strftime(s, sizeof s, "%Y%m", &tm);
    return atol(s);
}

static int by_time_desc(const void *a, const void *b)
{
    int64_t x = ((const taken *)a)->time, y = ((const taken *)b)->time;
    return x < y ? 1 : x > y ? -1 : 0;
}

static void test_400_days_each_job_once_and_exact_tiers_kept(void **state)
{
    (void)state;
    char dir[64], db[128], dsn[160], backups[160];
    /* On tmpfs when there is one: this is about scheduling and retention,
     * and some 2,000 fsyncs on a disk would take most of the run. */
    assert_int_equal(support_scratch_dir_on_tmpfs(dir, sizeof dir, "dbmgmt-bksim"), 0);
    snprintf(db, sizeof db, "%s/app.db", dir);
    snprintf(dsn, sizeof dsn, "sqlite://%s", db);
    snprintf(backups, sizeof backups, "%s/backups", dir);
    static run_log log;
    memset(&log, 0, sizeof log);

    dbmgmt_backup *b = NULL;
    assert_int_equal(dbmgmt_backup_new(&b, dsn, backups), DBMGMT_OK);
    assert_int_equal(dbmgmt_backup_add_schedule(b, "daily", "0 2 * * *", "daily"), DBMGMT_OK);
    assert_int_equal(dbmgmt_backup_add_schedule(b, "weekly", "0 3 * * sun", "weekly"),
                     DBMGMT_OK);
    assert_int_equal(dbmgmt_backup_add_schedule(b, "monthly", "0 4 1 * *", "monthly"),
                     DBMGMT_OK);
    dbmgmt_retention *r = NULL;
    assert_int_equal(dbmgmt_retention_new(&r), DBMGMT_OK);
    dbmgmt_retention_set_keep(r, DBMGMT_KEEP_DAILY, 7);
    dbmgmt_retention_set_keep(r, DBMGMT_KEEP_WEEKLY, 4);
    dbmgmt_retention_set_keep(r, DBMGMT_KEEP_MONTHLY, 12);
    assert_int_equal(dbmgmt_backup_set_retention(b, r), DBMGMT_OK);
    dbmgmt_retention_free(r);
    dbmgmt_backup_set_hook(b, DBMGMT_HOOK_BACKUP, hook, &log);
    dbmgmt_backup_set_hook(b, DBMGMT_HOOK_PRUNE, hook, &log);

    int64_t end = T0 + (int64_t)DAYS * DAY;
    int32_t total = 0;
    for (int64_t now = T0; now < end; now += HOUR) {
        int32_t n = dbmgmt_backup_tick(b, now);
        if (n < 0)
            fail_msg("tick at %lld: %s", (long long)now, dbmgmt_backup_errmsg(b));
        total += n;
    }
    assert_int_equal((size_t)total, log.n);

    /* Every due time exactly once, nothing else. */
    size_t per_kind[3] = {0, 0, 0};
    static const char *const kinds[3] = {"daily", "weekly", "monthly"};
    for (size_t i = 0; i < log.n; i++) {
        int k = -1;
        for (int j = 0; j < 3; j++)
            if (!strcmp(log.v[i].kind, kinds[j]))
                k = j;
        if (k < 0 || !expected_due(kinds[k], log.v[i].time))
            fail_msg("unexpected backup %s", log.v[i].id);
        per_kind[k]++;
    }
    size_t due[3] = {0, 0, 0};
    for (int64_t t = T0; t < end; t += HOUR)
        for (int j = 0; j < 3; j++)
            due[j] += (size_t)expected_due(kinds[j], t);
    for (int j = 0; j < 3; j++)
        assert_int_equal(per_kind[j], due[j]);
    assert_int_equal(due[0], DAYS);
    assert_int_equal(log.unknown_prunes, 0);

    /* restic's forget, computed here: the newest backup of each of the newest
     * 7 days, 4 ISO weeks and 12 months that have backups. */
    static taken sorted[MAX_BACKUPS];
    memcpy(sorted, log.v, log.n * sizeof *sorted);
    qsort(sorted, log.n, sizeof *sorted, by_time_desc);
    static const int keep_n[3] = {7, 4, 12};
    int expect_keep[MAX_BACKUPS] = {0};
    for (int p = 0; p < 3; p++) {
        long last = -1;
        int kept = 0;
        for (size_t i = 0; i < log.n && kept < keep_n[p]; i++) {
            long bk = bucket(sorted[i].time, p);
            if (bk != last) {
                expect_keep[i] = 1;
                kept++;
                last = bk;
            }
        }
    }
    size_t expected_count = 0;
    for (size_t i = 0; i < log.n; i++) {
        expected_count += (size_t)expect_keep[i];
        const taken *t = NULL;
        for (size_t j = 0; j < log.n; j++)
            if (!strcmp(log.v[j].id, sorted[i].id))
                t = &log.v[j];
        assert_non_null(t);
        assert_true(t->pruned <= 1);
        if (expect_keep[i] != !t->pruned)
            fail_msg("%s: expected %s", t->id, expect_keep[i] ? "kept" : "pruned");
    }
    assert_int_equal(dbmgmt_backup_metric(b, DBMGMT_BACKUP_COUNT), (int64_t)expected_count);
    assert_true(expected_count >= 12 && expected_count <= 23);

    /* The folder holds exactly the kept files and the catalog. */
    size_t files = 0;
    DIR *d = opendir(backups);
    struct dirent *ent;
    while ((ent = readdir(d)) != NULL)
        if (ent->d_name[0] != '.' && strcmp(ent->d_name, "catalog.db") != 0)
            files++;
    closedir(d);
    assert_int_equal(files, expected_count);
    dbmgmt_backup_free(b);
    assert_int_equal(support_remove_tree(dir), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_400_days_each_job_once_and_exact_tiers_kept),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
