/*
 * The backup scheduler on SQLite, through the public API: online backup
 * under a busy writer, verify, corruption alerts, restore drills, the
 * catalog across restarts, prune's guard, hooks and argument checks.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include <dbmgmt.h>

#include "support/engine.h"
#include "support/files.h"

#define DAY 86400
#define T0 1767225600 /* 2026-01-01T00:00:00Z, a Thursday */

typedef struct fixture {
    char dir[64];
    char db[128];
    char dsn[160];
    char backups[128];
    dbmgmt_backup *b;
} fixture;

typedef struct hook_log {
    int alerts;
    char last_alert[1200];
    int uploads;
    char upload_path[512];
    int upload_file_existed;
    int prune_calls;
} hook_log;

static int record_hook(void *userdata, dbmgmt_hook hook, const char *id, const char *path,
                       const char *detail)
{
    hook_log *log = userdata;
    (void)id;
    if (hook == DBMGMT_HOOK_ALERT) {
        log->alerts++;
        snprintf(log->last_alert, sizeof log->last_alert, "%s", detail ? detail : "");
    } else if (hook == DBMGMT_HOOK_UPLOAD) {
        log->uploads++;
        snprintf(log->upload_path, sizeof log->upload_path, "%s", path);
        log->upload_file_existed = access(path, R_OK) == 0;
    } else if (hook == DBMGMT_HOOK_PRUNE) {
        log->prune_calls++;
    }
    return 0;
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    if (support_scratch_dir(f->dir, sizeof f->dir, "dbmgmt-bk") != 0)
        return -1;
    snprintf(f->db, sizeof f->db, "%s/app.db", f->dir);
    snprintf(f->dsn, sizeof f->dsn, "sqlite://%s", f->db);
    snprintf(f->backups, sizeof f->backups, "%s/backups", f->dir);
    support_exec_on(f->dsn, "CREATE TABLE items(id INTEGER PRIMARY KEY, pad TEXT NOT NULL);"
                    "CREATE TABLE notes(id INTEGER PRIMARY KEY, body TEXT);"
                    "INSERT INTO notes(body) VALUES ('a'), ('b'), ('c');"
                    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 5000)"
                    " INSERT INTO items(pad) SELECT printf('%.500c', 'x') FROM n;");
    if (dbmgmt_backup_new(&f->b, f->dsn, f->backups) != DBMGMT_OK)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    dbmgmt_backup_free(f->b);
    int rc = support_remove_tree(f->dir);
    free(f);
    return rc == 0 ? 0 : -1;
}

static void backup_file(const fixture *f, const char *id, char *out, size_t cap)
{
    snprintf(out, cap, "%s/%s.sqlite", f->backups, id);
}

/* ---- a busy writer ------------------------------------------------------------ */

typedef struct writer {
    const char *dsn;
    int pause_us; /* between inserts; 0: back to back */
    volatile int stop;
    int64_t inserted;
} writer;

static void *writer_main(void *arg)
{
    writer *w = arg;
    dbmgmt_conn *c = NULL;
    if (dbmgmt_conn_open(&c, w->dsn) != DBMGMT_OK)
        return NULL;
    while (!w->stop)
        if (dbmgmt_conn_exec(c, "INSERT INTO items(pad) VALUES (printf('%.500c', 'w'))") ==
            DBMGMT_OK)
            if (++w->inserted, w->pause_us)
                usleep((useconds_t)w->pause_us);
    dbmgmt_conn_close(c);
    return NULL;
}

/* Each write from another connection restarts a stepped backup: the copy
 * must still finish (falling back to one step) and be a snapshot. */
static void backup_under_writer(fixture *f, int pause_us)
{
    writer w = {f->dsn, pause_us, 0, 0};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, writer_main, &w), 0);
    while (w.inserted < 50)
        usleep(1000);
    int64_t before = support_query_int_on(f->dsn, "SELECT COUNT(*) FROM items");
    char *id = NULL;
    time_t start = time(NULL);
    int rc = dbmgmt_backup_run_now(f->b, &id);
    time_t took = time(NULL) - start;
    int64_t after = support_query_int_on(f->dsn, "SELECT COUNT(*) FROM items");
    w.stop = 1;
    pthread_join(t, NULL);
    if (rc != DBMGMT_OK)
        fail_msg("backup failed: %s", dbmgmt_backup_errmsg(f->b));
    assert_true(took < 30);
    assert_true(w.inserted > 50); /* the writer was not stalled */

    char path[256], dsn[300];
    backup_file(f, id, path, sizeof path);
    snprintf(dsn, sizeof dsn, "sqlite://%s?mode=ro", path);
    dbmgmt_conn *c = NULL;
    dbmgmt_result *r = NULL;
    assert_int_equal(dbmgmt_conn_open(&c, dsn), DBMGMT_OK);
    assert_int_equal(dbmgmt_conn_query(c, &r, "PRAGMA integrity_check", 0, NULL), DBMGMT_OK);
    assert_int_equal(dbmgmt_result_next(r), 1);
    assert_string_equal(dbmgmt_result_text(r, 0), "ok");
    dbmgmt_result_free(r);
    dbmgmt_conn_close(c);
    /* Rows are inserted one by one with ids 1, 2, ...: the table had exactly
     * k rows at some instant iff the copy holds ids 1..k for a k between the
     * counts before and after. */
    int64_t k = support_query_int_on(dsn, "SELECT COUNT(*) FROM items");
    assert_int_equal(support_query_int_on(dsn, "SELECT MAX(id) FROM items"), k);
    assert_true(k >= before && k <= after);
    char *json = dbmgmt_backup_list_json(f->b);
    char expect[64];
    snprintf(expect, sizeof expect, "\"items\":%lld", (long long)k);
    assert_non_null(strstr(json, expect));
    assert_non_null(strstr(json, "\"verified\":true"));
    dbmgmt_free(json);
    dbmgmt_free(id);
}

static void test_backup_under_back_to_back_writer_in_wal_mode(void **state)
{
    fixture *f = *state;
    support_exec_on(f->dsn, "PRAGMA journal_mode=WAL");
    backup_under_writer(f, 0);
}

static void test_backup_under_busy_writer_in_rollback_mode(void **state)
{
    fixture *f = *state;
    /* A rollback journal lets readers in only between commits. */
    backup_under_writer(f, 1000);
}

/* ---- the rollback-journal copy, both ways ------------------------------------ */

static int files_equal(const char *a, const char *b)
{
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
    int equal = fa && fb;
    while (equal) {
        int x = getc(fa), y = getc(fb);
        if (x != y)
            equal = 0;
        if (x == EOF || y == EOF)
            break;
    }
    if (fa)
        fclose(fa);
    if (fb)
        fclose(fb);
    return equal;
}

/* A rollback-journal database is copied whole under its read lock: with
 * copy_file_range() from the connection's descriptor when the VFS is
 * SQLite's unix VFS, through the VFS's xRead otherwise. Both must give the
 * file byte for byte and a backup that verifies. */
static void copy_is_exact(fixture *f)
{
    char *id = NULL;
    assert_int_equal(dbmgmt_backup_run_now(f->b, &id), DBMGMT_OK);
    assert_int_equal(dbmgmt_backup_verify(f->b, id), DBMGMT_OK);
    char path[256];
    backup_file(f, id, path, sizeof path);
    assert_true(files_equal(f->db, path));
    dbmgmt_free(id);
}

static void test_rollback_copy_is_exact_from_the_descriptor(void **state)
{
    copy_is_exact(*state);
}

/* Run case(f) with the unix VFS registered as the default under another
 * name: the library cannot tell it is the unix VFS, so it must not use
 * SQLite's descriptor (xRead, or the backup API in WAL mode). */
static void with_renamed_unix_vfs(fixture *f, void (*run)(fixture *))
{
    static sqlite3_vfs renamed;
    sqlite3_vfs *unix_vfs = sqlite3_vfs_find("unix");
    assert_non_null(unix_vfs);
    renamed = *unix_vfs;
    renamed.zName = "dbmgmt-test-renamed";
    renamed.pNext = NULL;
    assert_int_equal(sqlite3_vfs_register(&renamed, 1), SQLITE_OK);
    run(f);
    sqlite3_vfs_unregister(&renamed);
    assert_int_equal(sqlite3_vfs_register(unix_vfs, 1), SQLITE_OK);
}

static void test_rollback_copy_is_exact_through_another_vfs(void **state)
{
    with_renamed_unix_vfs(*state, copy_is_exact);
}

/* A WAL database whose newest rows are only in its -wal (no checkpoint):
 * the copy must hold them, be one file (no -wal or -shm left beside it in
 * the backup folder) and stay in WAL mode, both through the descriptor and,
 * on another VFS, through the backup API. */
static void wal_copy_case(fixture *f)
{
    dbmgmt_conn *keep = NULL; /* open, so closing the writer does not checkpoint */
    assert_int_equal(dbmgmt_conn_open(&keep, f->dsn), DBMGMT_OK);
    assert_int_equal(dbmgmt_conn_exec(keep, "PRAGMA journal_mode=WAL; PRAGMA wal_autocheckpoint=0;"
                                            "INSERT INTO notes(body) VALUES ('only in the wal')"),
                     DBMGMT_OK);
    char wal[200];
    snprintf(wal, sizeof wal, "%s-wal", f->db);
    struct stat st;
    assert_int_equal(stat(wal, &st), 0);
    assert_true(st.st_size > 0);
    char *id = NULL;
    assert_int_equal(dbmgmt_backup_run_now(f->b, &id), DBMGMT_OK);
    char path[256], side[300], dsn[300];
    backup_file(f, id, path, sizeof path);
    snprintf(side, sizeof side, "%s-wal", path);
    assert_int_not_equal(access(side, F_OK), 0);
    snprintf(side, sizeof side, "%s-shm", path);
    assert_int_not_equal(access(side, F_OK), 0);
    assert_int_equal(dbmgmt_backup_verify(f->b, id), DBMGMT_OK);
    snprintf(dsn, sizeof dsn, "sqlite://%s?mode=ro", path);
    assert_int_equal(support_query_int_on(dsn, "SELECT COUNT(*) FROM notes WHERE body = 'only in the wal'"),
                     1);
    assert_int_equal(support_query_int_on(dsn, "SELECT COUNT(*) FROM items"), 5000);
    FILE *fh = fopen(path, "rb");
    unsigned char header[20];
    assert_non_null(fh);
    assert_int_equal(fread(header, 1, sizeof header, fh), sizeof header);
    fclose(fh);
    assert_int_equal(header[18], 2); /* WAL mode, as the source */
    dbmgmt_conn_close(keep);
    dbmgmt_free(id);
}

static void test_wal_copy_holds_what_is_only_in_the_wal(void **state)
{
    wal_copy_case(*state);
}

static void test_wal_copy_through_another_vfs_uses_the_backup_api(void **state)
{
    with_renamed_unix_vfs(*state, wal_copy_case);
}

/* ---- verify ---------------------------------------------------------------- */

static void flip_byte(const char *path, long offset)
{
    FILE *fp = fopen(path, "r+b");
    assert_non_null(fp);
    assert_int_equal(fseek(fp, offset, SEEK_SET), 0);
    int c = fgetc(fp);
    assert_int_equal(fseek(fp, offset, SEEK_SET), 0);
    fputc(c ^ 0x01, fp);
    fclose(fp);
}

static void test_flipped_byte_fails_verify_and_alerts(void **state)
{
    fixture *f = *state;
    hook_log log = {0};
    assert_int_equal(dbmgmt_backup_set_hook(f->b, DBMGMT_HOOK_ALERT, record_hook, &log),
                     DBMGMT_OK);
    char *id = NULL;
    assert_int_equal(dbmgmt_backup_run_now(f->b, &id), DBMGMT_OK);
    assert_int_equal(dbmgmt_backup_verify(f->b, id), DBMGMT_OK);
    assert_int_equal(log.alerts, 0);
    assert_int_equal(dbmgmt_backup_metric(f->b, DBMGMT_BACKUP_FAILURES), 0);
    char path[256];
    backup_file(f, id, path, sizeof path);
    flip_byte(path, 100000);
    assert_int_equal(dbmgmt_backup_verify(f->b, id), DBMGMT_ERR_CHECKSUM);
    assert_non_null(strstr(dbmgmt_backup_errmsg(f->b), "changed"));
    assert_int_equal(log.alerts, 1);
    assert_non_null(strstr(log.last_alert, id));
    assert_int_equal(dbmgmt_backup_metric(f->b, DBMGMT_BACKUP_FAILURES), 1);
    char *json = dbmgmt_backup_list_json(f->b);
    assert_non_null(strstr(json, "\"verified\":false"));
    dbmgmt_free(json);
    /* A corrupt file is never restored. */
    assert_int_equal(dbmgmt_backup_restore(f->b, id, NULL), DBMGMT_ERR_CHECKSUM);
    assert_int_equal(log.alerts, 2);
    dbmgmt_free(id);
}

/* ---- restore drills --------------------------------------------------------------- */

static void test_restore_drill_checks_counts_and_records_rto(void **state)
{
    fixture *f = *state;
    assert_int_equal(dbmgmt_backup_metric(f->b, DBMGMT_BACKUP_LAST_RESTORE_MS), -1);
    char *id = NULL;
    assert_int_equal(dbmgmt_backup_run_now(f->b, &id), DBMGMT_OK);
    char target[200], target_dsn[256];
    snprintf(target, sizeof target, "%s/scratch.db", f->dir);
    snprintf(target_dsn, sizeof target_dsn, "sqlite://%s", target);
    assert_int_equal(dbmgmt_backup_restore(f->b, id, target_dsn), DBMGMT_OK);
    assert_int_equal(support_query_int_on(target_dsn, "SELECT COUNT(*) FROM items"), 5000);
    assert_int_equal(support_query_int_on(target_dsn, "SELECT COUNT(*) FROM notes"), 3);
    assert_true(dbmgmt_backup_metric(f->b, DBMGMT_BACKUP_LAST_RESTORE_MS) >= 0);
    /* NULL: a drill into a temporary file that is removed afterwards. */
    assert_int_equal(dbmgmt_backup_restore(f->b, id, NULL), DBMGMT_OK);
    /* Never over the source. */
    assert_int_equal(dbmgmt_backup_restore(f->b, id, f->dsn), DBMGMT_ERR_POLICY);
    assert_int_equal(support_query_int_on(f->dsn, "SELECT COUNT(*) FROM items"), 5000);
    assert_int_equal(dbmgmt_backup_restore(f->b, "no-such-id", NULL), DBMGMT_ERR_NOTFOUND);
    char *json = dbmgmt_backup_list_json(f->b);
    assert_non_null(strstr(json, "\"restore_result\":\"ok\""));
    dbmgmt_free(json);
    dbmgmt_free(id);
}

/* ---- schedules and the catalog across restarts ------------------------------------- */

static void test_job_missed_while_down_runs_once_after_restart(void **state)
{
    fixture *f = *state;
    assert_int_equal(dbmgmt_backup_add_schedule(f->b, "nightly", "0 2 * * *", "daily"),
                     DBMGMT_OK);
    assert_int_equal(dbmgmt_backup_tick(f->b, T0), 0);           /* 00:00: nothing due */
    assert_int_equal(dbmgmt_backup_tick(f->b, T0 + 2 * 3600), 1); /* 02:00 */
    assert_int_equal(dbmgmt_backup_tick(f->b, T0 + 2 * 3600 + 60), 0);
    dbmgmt_backup_free(f->b); /* the host goes down for three nights */
    f->b = NULL;
    assert_int_equal(dbmgmt_backup_new(&f->b, f->dsn, f->backups), DBMGMT_OK);
    assert_int_equal(dbmgmt_backup_add_schedule(f->b, "nightly", "0 2 * * *", "daily"),
                     DBMGMT_OK);
    assert_int_equal(dbmgmt_backup_metric(f->b, DBMGMT_BACKUP_COUNT), 1);
    assert_int_equal(dbmgmt_backup_tick(f->b, T0 + 4 * DAY + 5 * 3600), 1); /* once */
    assert_int_equal(dbmgmt_backup_tick(f->b, T0 + 4 * DAY + 5 * 3600 + 60), 0);
    assert_int_equal(dbmgmt_backup_tick(f->b, T0 + 5 * DAY + 3600), 0);
    assert_int_equal(dbmgmt_backup_tick(f->b, T0 + 5 * DAY + 2 * 3600), 1);
    assert_int_equal(dbmgmt_backup_metric(f->b, DBMGMT_BACKUP_COUNT), 3);
    char *json = dbmgmt_backup_list_json(f->b);
    assert_non_null(strstr(json, "\"id\":\"20260101T020000Z-daily\""));
    assert_non_null(strstr(json, "\"id\":\"20260105T050000Z-daily\""));
    assert_non_null(strstr(json, "\"schedule\":\"nightly\""));
    dbmgmt_free(json);
}

static void test_rpo_bound_alerts_once_per_crossing(void **state)
{
    fixture *f = *state;
    hook_log log = {0};
    dbmgmt_backup_set_hook(f->b, DBMGMT_HOOK_ALERT, record_hook, &log);
    assert_int_equal(dbmgmt_backup_set_rpo_bound(f->b, 26 * 3600), DBMGMT_OK);
    assert_int_equal(dbmgmt_backup_add_schedule(f->b, "nightly", "0 2 * * *", "daily"),
                     DBMGMT_OK);
    assert_int_equal(dbmgmt_backup_tick(f->b, T0), 0);
    assert_int_equal(dbmgmt_backup_tick(f->b, T0 + 2 * 3600), 1);
    assert_true(dbmgmt_backup_metric(f->b, DBMGMT_BACKUP_RPO_S) >= 0);
    assert_int_equal(log.alerts, 0);
    /* The source vanishes: the next nights fail and the RPO passes its bound. */
    char moved[200];
    snprintf(moved, sizeof moved, "%s/moved.db", f->dir);
    assert_int_equal(rename(f->db, moved), 0);
    assert_int_equal(dbmgmt_backup_tick(f->b, T0 + DAY + 2 * 3600), 0);
    assert_int_equal(log.alerts, 1); /* the failed backup */
    assert_non_null(strstr(log.last_alert, "failed"));
    assert_int_equal(dbmgmt_backup_tick(f->b, T0 + DAY + 5 * 3600), 0);
    assert_int_equal(log.alerts, 2);
    assert_non_null(strstr(log.last_alert, "RPO"));
    assert_int_equal(dbmgmt_backup_tick(f->b, T0 + DAY + 6 * 3600), 0);
    assert_int_equal(log.alerts, 2); /* not again on every tick */
    assert_int_equal(dbmgmt_backup_metric(f->b, DBMGMT_BACKUP_RPO_S) >= 27 * 3600, 1);
    assert_int_equal(dbmgmt_backup_metric(f->b, DBMGMT_BACKUP_FAILURES), 1);
    assert_int_equal(rename(moved, f->db), 0);
}

/* ---- prune ------------------------------------------------------------------------ */

static void test_prune_keeps_newest_verified_backup(void **state)
{
    fixture *f = *state;
    hook_log log = {0};
    dbmgmt_backup_set_hook(f->b, DBMGMT_HOOK_PRUNE, record_hook, &log);
    dbmgmt_retention *r = NULL;
    assert_int_equal(dbmgmt_retention_new(&r), DBMGMT_OK);
    assert_int_equal(dbmgmt_retention_set_keep(r, DBMGMT_KEEP_LAST, 1), DBMGMT_OK);
    assert_int_equal(dbmgmt_backup_set_retention(f->b, r), DBMGMT_OK);
    dbmgmt_retention_free(r); /* the scheduler keeps its own copy */
    char *ids[3];
    for (int i = 0; i < 3; i++) {
        assert_int_equal(dbmgmt_backup_run_now(f->b, &ids[i]), DBMGMT_OK);
        sleep(i < 2 ? 1 : 0); /* distinct times */
    }
    char path[256];
    backup_file(f, ids[2], path, sizeof path);
    flip_byte(path, 5000);
    assert_int_equal(dbmgmt_backup_verify(f->b, ids[2]), DBMGMT_ERR_CHECKSUM);
    assert_int_equal(dbmgmt_backup_prune(f->b, 1), 1); /* dry run */
    assert_int_equal(dbmgmt_backup_metric(f->b, DBMGMT_BACKUP_COUNT), 3);
    assert_int_equal(log.prune_calls, 0);
    assert_int_equal(dbmgmt_backup_prune(f->b, 0), 1);
    assert_int_equal(log.prune_calls, 1);
    assert_int_equal(dbmgmt_backup_metric(f->b, DBMGMT_BACKUP_COUNT), 2);
    char *json = dbmgmt_backup_list_json(f->b);
    assert_null(strstr(json, ids[0]));
    assert_non_null(strstr(json, ids[1])); /* the newest verified one */
    assert_non_null(strstr(json, ids[2])); /* the newest one */
    dbmgmt_free(json);
    backup_file(f, ids[0], path, sizeof path);
    assert_int_not_equal(access(path, F_OK), 0);
    for (int i = 0; i < 3; i++)
        dbmgmt_free(ids[i]);
}

/* ---- hooks ------------------------------------------------------------------------ */

static void test_upload_hook_receives_the_finished_file(void **state)
{
    fixture *f = *state;
    hook_log log = {0};
    dbmgmt_backup_set_hook(f->b, DBMGMT_HOOK_UPLOAD, record_hook, &log);
    char *id = NULL;
    assert_int_equal(dbmgmt_backup_run_now(f->b, &id), DBMGMT_OK);
    assert_int_equal(log.uploads, 1);
    assert_int_equal(log.upload_file_existed, 1);
    char path[256];
    backup_file(f, id, path, sizeof path);
    assert_string_equal(log.upload_path, path);
    dbmgmt_free(id);
}

static int failing_hook(void *userdata, dbmgmt_hook hook, const char *id, const char *path,
                        const char *detail)
{
    (void)userdata, (void)hook, (void)id, (void)path, (void)detail;
    return 1;
}

static int write_hook(void *userdata, dbmgmt_hook hook, const char *id, const char *path,
                      const char *detail)
{
    (void)userdata, (void)detail;
    if (hook != DBMGMT_HOOK_BACKUP)
        return 0;
    FILE *fp = fopen(path, "wb");
    if (!fp)
        return 1;
    fprintf(fp, "host-made backup %s\n", id);
    return fclose(fp) == 0 ? 0 : 1;
}

static void test_backup_hook_replaces_engine_and_failure_alerts(void **state)
{
    fixture *f = *state;
    hook_log log = {0};
    dbmgmt_backup_set_hook(f->b, DBMGMT_HOOK_ALERT, record_hook, &log);
    dbmgmt_backup_set_hook(f->b, DBMGMT_HOOK_BACKUP, write_hook, NULL);
    char *id = NULL;
    assert_int_equal(dbmgmt_backup_run_now(f->b, &id), DBMGMT_OK);
    char *json = dbmgmt_backup_list_json(f->b);
    assert_non_null(strstr(json, "\"engine\":\"hook\""));
    assert_non_null(strstr(json, "\"verified\":true"));
    dbmgmt_free(json);
    assert_int_equal(dbmgmt_backup_restore(f->b, id, NULL), DBMGMT_ERR_UNSUPPORTED);
    dbmgmt_free(id);
    dbmgmt_backup_set_hook(f->b, DBMGMT_HOOK_BACKUP, failing_hook, NULL);
    int alerts = log.alerts;
    assert_int_equal(dbmgmt_backup_run_now(f->b, &id), DBMGMT_ERR_IO);
    assert_int_equal(log.alerts, alerts + 1);
    assert_non_null(strstr(log.last_alert, "backup"));
    dbmgmt_free(id);
    /* No file is left behind by the failed backup. */
    char cmd[256];
    snprintf(cmd, sizeof cmd, "test $(ls '%s' | grep -c partial) -eq 0", f->backups);
    assert_int_equal(system(cmd), 0);
}

/* ---- the background thread ----------------------------------------------------------- */

static void test_background_thread_starts_and_stops_promptly(void **state)
{
    fixture *f = *state;
    assert_int_equal(dbmgmt_backup_add_schedule(f->b, "hourly", "@hourly", "hourly"),
                     DBMGMT_OK);
    assert_int_equal(dbmgmt_backup_start(f->b), DBMGMT_OK);
    assert_int_equal(dbmgmt_backup_start(f->b), DBMGMT_ERR_BUSY);
    usleep(100000);
    time_t t = time(NULL);
    assert_int_equal(dbmgmt_backup_stop(f->b), DBMGMT_OK);
    assert_true(time(NULL) - t <= 2);
    assert_int_equal(dbmgmt_backup_stop(f->b), DBMGMT_OK);
}

/* ---- misuse -------------------------------------------------------------------------- */

static void test_misuse_is_refused_with_a_status(void **state)
{
    fixture *f = *state;
    dbmgmt_backup *b = (dbmgmt_backup *)1;
    assert_int_equal(dbmgmt_backup_new(NULL, f->dsn, f->backups), DBMGMT_ERR_INVALID);
    assert_int_equal(dbmgmt_backup_new(&b, f->dsn, NULL), DBMGMT_ERR_INVALID);
    assert_null(b);
    assert_int_equal(dbmgmt_backup_new(&b, "sqlite::memory:", f->backups),
                     DBMGMT_ERR_UNSUPPORTED);
    assert_int_equal(dbmgmt_backup_new(&b, "nonsense", f->backups), DBMGMT_ERR_PARSE);
    assert_int_equal(dbmgmt_backup_add_schedule(NULL, "a", "@daily", "daily"),
                     DBMGMT_ERR_INVALID);
    assert_int_equal(dbmgmt_backup_add_schedule(f->b, "a", "@daily", "da ily"),
                     DBMGMT_ERR_INVALID);
    assert_int_equal(dbmgmt_backup_add_schedule(f->b, "a", "61 * * * *", "daily"),
                     DBMGMT_ERR_PARSE);
    assert_non_null(strstr(dbmgmt_backup_errmsg(f->b), "schedule 'a'"));
    assert_int_equal(dbmgmt_backup_add_schedule(f->b, "a", "@daily", "daily"), DBMGMT_OK);
    assert_int_equal(dbmgmt_backup_add_schedule(f->b, "a", "@weekly", "weekly"),
                     DBMGMT_ERR_INVALID);
    assert_int_equal(dbmgmt_backup_set_hook(f->b, (dbmgmt_hook)9, record_hook, NULL),
                     DBMGMT_ERR_INVALID);
    assert_int_equal(dbmgmt_backup_set_utc_offset(f->b, 90000), DBMGMT_ERR_INVALID);
    assert_int_equal(dbmgmt_backup_set_rpo_bound(f->b, -1), DBMGMT_ERR_INVALID);
    assert_int_equal(dbmgmt_backup_metric(f->b, 77), DBMGMT_ERR_INVALID);
    assert_int_equal(dbmgmt_backup_metric(NULL, DBMGMT_BACKUP_COUNT), DBMGMT_ERR_INVALID);
    assert_int_equal(dbmgmt_backup_verify(f->b, NULL), DBMGMT_ERR_INVALID);
    assert_int_equal(dbmgmt_backup_verify(f->b, "missing"), DBMGMT_ERR_NOTFOUND);
    assert_int_equal(dbmgmt_backup_tick(NULL, 0), DBMGMT_ERR_INVALID);
    assert_int_equal(dbmgmt_backup_prune(f->b, 0), 0); /* no retention: nothing to do */
    assert_null(dbmgmt_backup_list_json(NULL));
    assert_string_equal(dbmgmt_backup_errmsg(NULL), "");
    dbmgmt_backup_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_backup_under_back_to_back_writer_in_wal_mode, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_backup_under_busy_writer_in_rollback_mode, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_rollback_copy_is_exact_from_the_descriptor, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_rollback_copy_is_exact_through_another_vfs, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_wal_copy_holds_what_is_only_in_the_wal, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_wal_copy_through_another_vfs_uses_the_backup_api,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_flipped_byte_fails_verify_and_alerts, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_restore_drill_checks_counts_and_records_rto, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_job_missed_while_down_runs_once_after_restart,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_rpo_bound_alerts_once_per_crossing, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_prune_keeps_newest_verified_backup, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_upload_hook_receives_the_finished_file, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_backup_hook_replaces_engine_and_failure_alerts,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_background_thread_starts_and_stops_promptly, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_misuse_is_refused_with_a_status, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
