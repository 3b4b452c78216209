/*
 * Off-site copies on SQLite (issue 21, docs/backup-offsite.md): a copy
 * appears after a backup with the backup's SHA-256 and shows in list JSON;
 * prune removes both files; verify finds a flipped byte in the copy and
 * names the off-site folder, and the next tick copies it again; restore
 * reads the copy when the main file is gone; a copy to a folder that went
 * away is alerted and counted, the backup stays, and a tick copies it once
 * the folder is back; set_offsite refuses bad folders naming them.
 */
#include <errno.h>
#include <limits.h>
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

#include <dbmgmt.h>

#include "offsite_support.h"
#include "support/files.h"

typedef struct fixture {
    char dir[64], dsn[160], backups[160], off[160], off_real[PATH_MAX];
} fixture;

typedef struct alerts {
    int n;
    char last[1200];
} alerts;

static int alert_hook(void *userdata, dbmgmt_hook hook, const char *id, const char *path,
                      const char *detail)
{
    alerts *a = userdata;
    (void)id, (void)path;
    if (hook == DBMGMT_HOOK_ALERT) {
        a->n++;
        snprintf(a->last, sizeof a->last, "%s", detail ? detail : "");
    }
    return 0;
}

static void fixture_make(fixture *f)
{
    assert_int_equal(support_scratch_dir(f->dir, sizeof f->dir, "dbmgmt-bkoff"), 0);
    snprintf(f->dsn, sizeof f->dsn, "sqlite://%s/app.db", f->dir);
    snprintf(f->backups, sizeof f->backups, "%s/backups", f->dir);
    snprintf(f->off, sizeof f->off, "%s/offsite", f->dir);
    assert_int_equal(mkdir(f->off, 0700), 0);
    assert_non_null(realpath(f->off, f->off_real));
    dbmgmt_conn *c = NULL;
    assert_int_equal(dbmgmt_conn_open(&c, f->dsn), DBMGMT_OK);
    assert_int_equal(dbmgmt_conn_exec(c, "CREATE TABLE t(id INTEGER PRIMARY KEY, v BLOB);"
                                         "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT "
                                         "i + 1 FROM n WHERE i < 200) INSERT INTO t(v) "
                                         "SELECT randomblob(1000) FROM n;"),
                     DBMGMT_OK);
    dbmgmt_conn_close(c);
}

static void path_of(char *out, size_t cap, const char *dir, const char *id)
{
    snprintf(out, cap, "%s/%s.sqlite", dir, id);
}

/* The copy of id in the off-site folder has the main file's SHA-256, the
 * catalog's, and list JSON shows it. */
static void assert_copy_matches(const fixture *f, dbmgmt_backup *b, const char *id)
{
    char main_path[400], copy_path[400], main_sha[65], copy_sha[65];
    path_of(main_path, sizeof main_path, f->backups, id);
    path_of(copy_path, sizeof copy_path, f->off, id);
    assert_int_equal(offsite_sha256(main_path, main_sha), 0);
    assert_int_equal(offsite_sha256(copy_path, copy_sha), 0);
    assert_string_equal(copy_sha, main_sha);
    char *json = dbmgmt_backup_list_json(b);
    assert_non_null(json);
    char key[200], sha[80], location[PATH_MAX], file[200];
    snprintf(key, sizeof key, "\"id\":\"%s\"", id);
    const char *entry = strstr(json, key);
    assert_non_null(entry);
    assert_string_equal(offsite_json_text(entry, NULL, "sha256", sha, sizeof sha), main_sha);
    const char *copies = strstr(entry, "\"copies\":[{");
    assert_non_null(copies);
    assert_string_equal(offsite_json_text(copies, NULL, "location", location, sizeof location),
                        f->off_real);
    snprintf(key, sizeof key, "%s.sqlite", id);
    assert_string_equal(offsite_json_text(copies, NULL, "file", file, sizeof file), key);
    assert_string_equal(offsite_json_text(copies, NULL, "sha256", sha, sizeof sha), main_sha);
    char size[64];
    snprintf(size, sizeof size, "\"size\":%lld", offsite_size(copy_path));
    assert_non_null(strstr(copies, size));
    assert_non_null(strstr(copies, "\"copied_at\":\""));
    dbmgmt_free(json);
}

/* list JSON's copies of id are []. */
static void assert_no_copy_listed(dbmgmt_backup *b, const char *id)
{
    char *json = dbmgmt_backup_list_json(b);
    assert_non_null(json);
    char key[200];
    snprintf(key, sizeof key, "\"id\":\"%s\"", id);
    const char *entry = strstr(json, key);
    assert_non_null(entry);
    const char *copies = strstr(entry, "\"copies\":");
    assert_non_null(copies);
    assert_memory_equal(copies, "\"copies\":[]", 11);
    dbmgmt_free(json);
}

static void test_copy_list_prune_verify_restore(void **state)
{
    (void)state;
    fixture f;
    fixture_make(&f);
    dbmgmt_backup *b = NULL;
    alerts a = {0};
    assert_int_equal(dbmgmt_backup_new(&b, f.dsn, f.backups), DBMGMT_OK);
    dbmgmt_backup_set_hook(b, DBMGMT_HOOK_ALERT, alert_hook, &a);
    if (dbmgmt_backup_set_offsite(b, f.off) != DBMGMT_OK)
        fail_msg("set_offsite: %s", dbmgmt_backup_errmsg(b));
    char *id1 = NULL, *id2 = NULL;
    if (dbmgmt_backup_run_now(b, &id1) != DBMGMT_OK)
        fail_msg("backup: %s", dbmgmt_backup_errmsg(b));
    assert_copy_matches(&f, b, id1);
    sleep(1); /* a later time: retention keeps the newer one */
    assert_int_equal(dbmgmt_backup_run_now(b, &id2), DBMGMT_OK);
    assert_copy_matches(&f, b, id2);
    assert_int_equal(offsite_count(f.off, NULL), 2);
    assert_int_equal(offsite_count(f.off, ".partial-"), 0);

    /* Prune: the older backup's file and copy both go. */
    dbmgmt_retention *r = NULL;
    assert_int_equal(dbmgmt_retention_new(&r), DBMGMT_OK);
    assert_int_equal(dbmgmt_retention_set_keep(r, DBMGMT_KEEP_LAST, 1), DBMGMT_OK);
    assert_int_equal(dbmgmt_backup_set_retention(b, r), DBMGMT_OK);
    dbmgmt_retention_free(r);
    assert_int_equal(dbmgmt_backup_prune(b, 0), 1);
    char p1[400], c1[400], p2[400], c2[400];
    path_of(p1, sizeof p1, f.backups, id1);
    path_of(c1, sizeof c1, f.off, id1);
    path_of(p2, sizeof p2, f.backups, id2);
    path_of(c2, sizeof c2, f.off, id2);
    assert_int_equal(offsite_size(p1), -1);
    assert_int_equal(offsite_size(c1), -1);
    assert_copy_matches(&f, b, id2);

    /* A flipped byte in the copy: verify fails naming the off-site folder,
     * the backup itself stays verified, the next tick copies it again. */
    assert_int_equal(offsite_flip_byte(c2, 1000), 0);
    int alerts_before = a.n;
    assert_int_equal(dbmgmt_backup_verify(b, id2), DBMGMT_ERR_CHECKSUM);
    assert_non_null(strstr(dbmgmt_backup_errmsg(b), f.off_real));
    assert_non_null(strstr(dbmgmt_backup_errmsg(b), "off-site"));
    assert_int_equal(a.n, alerts_before + 1);
    assert_non_null(strstr(a.last, f.off_real));
    assert_int_equal(dbmgmt_backup_metric(b, DBMGMT_BACKUP_FAILURES), 1);
    assert_no_copy_listed(b, id2);
    char *json = dbmgmt_backup_list_json(b);
    assert_non_null(strstr(json, "\"verified\":true"));
    dbmgmt_free(json);
    assert_true(dbmgmt_backup_tick(b, (int64_t)time(NULL)) >= 0);
    assert_copy_matches(&f, b, id2);
    assert_int_equal(dbmgmt_backup_verify(b, id2), DBMGMT_OK);

    /* The main file gone: restore reads the copy. */
    assert_int_equal(unlink(p2), 0);
    if (dbmgmt_backup_restore(b, id2, NULL) != DBMGMT_OK)
        fail_msg("restore from the copy: %s", dbmgmt_backup_errmsg(b));
    /* ... and refuses when the copy is damaged as well. */
    assert_int_equal(offsite_flip_byte(c2, 1000), 0);
    assert_int_not_equal(dbmgmt_backup_restore(b, id2, NULL), DBMGMT_OK);

    dbmgmt_free(id1);
    dbmgmt_free(id2);
    dbmgmt_backup_free(b);
    assert_int_equal(support_remove_tree(f.dir), 0);
}

static void test_set_offsite_refuses_bad_folders(void **state)
{
    (void)state;
    fixture f;
    fixture_make(&f);
    dbmgmt_backup *b = NULL;
    assert_int_equal(dbmgmt_backup_new(&b, f.dsn, f.backups), DBMGMT_OK);
    char missing[200], same[200], file[200];
    snprintf(missing, sizeof missing, "%s/no-such-folder", f.dir);
    assert_int_not_equal(dbmgmt_backup_set_offsite(b, missing), DBMGMT_OK);
    assert_non_null(strstr(dbmgmt_backup_errmsg(b), missing));
    snprintf(same, sizeof same, "%s/./", f.backups);
    assert_int_equal(dbmgmt_backup_set_offsite(b, same), DBMGMT_ERR_INVALID);
    assert_non_null(strstr(dbmgmt_backup_errmsg(b), "backup folder itself"));
    support_write_file(f.dir, "plain", "x");
    snprintf(file, sizeof file, "%s/plain", f.dir);
    assert_int_equal(dbmgmt_backup_set_offsite(b, file), DBMGMT_ERR_INVALID);
    assert_non_null(strstr(dbmgmt_backup_errmsg(b), file));
    assert_int_equal(dbmgmt_backup_set_offsite(b, ""), DBMGMT_ERR_INVALID);
    if (geteuid() != 0) { /* root writes anyway */
        assert_int_equal(chmod(f.off, 0500), 0);
        assert_int_equal(dbmgmt_backup_set_offsite(b, f.off), DBMGMT_ERR_IO);
        assert_non_null(strstr(dbmgmt_backup_errmsg(b), "not writable"));
        assert_int_equal(chmod(f.off, 0700), 0);
    }
    /* Set, then off again: no copy is made. */
    assert_int_equal(dbmgmt_backup_set_offsite(b, f.off), DBMGMT_OK);
    assert_int_equal(dbmgmt_backup_set_offsite(b, NULL), DBMGMT_OK);
    char *id = NULL;
    assert_int_equal(dbmgmt_backup_run_now(b, &id), DBMGMT_OK);
    assert_int_equal(offsite_count(f.off, NULL), 0);
    assert_no_copy_listed(b, id);
    dbmgmt_free(id);
    dbmgmt_backup_free(b);
    assert_int_equal(support_remove_tree(f.dir), 0);
}

static void test_failed_copy_alerted_counted_and_retried(void **state)
{
    (void)state;
    fixture f;
    fixture_make(&f);
    dbmgmt_backup *b = NULL;
    alerts a = {0};
    assert_int_equal(dbmgmt_backup_new(&b, f.dsn, f.backups), DBMGMT_OK);
    dbmgmt_backup_set_hook(b, DBMGMT_HOOK_ALERT, alert_hook, &a);
    assert_int_equal(dbmgmt_backup_set_offsite(b, f.off), DBMGMT_OK);
    assert_int_equal(rmdir(f.off), 0); /* the remote mount went away */
    char *id = NULL;
    assert_int_equal(dbmgmt_backup_run_now(b, &id), DBMGMT_ERR_IO);
    assert_non_null(id); /* the backup was taken and stays */
    assert_non_null(strstr(dbmgmt_backup_errmsg(b), f.off_real));
    assert_int_equal(a.n, 1);
    assert_non_null(strstr(a.last, f.off_real));
    assert_int_equal(dbmgmt_backup_metric(b, DBMGMT_BACKUP_FAILURES), 1);
    assert_int_equal(dbmgmt_backup_metric(b, DBMGMT_BACKUP_COUNT), 1);
    assert_int_equal(dbmgmt_backup_verify(b, id), DBMGMT_OK);
    assert_no_copy_listed(b, id);
    /* Still away: the tick's retry is alerted once, not on every tick. */
    int64_t now = (int64_t)time(NULL);
    assert_true(dbmgmt_backup_tick(b, now) >= 0);
    assert_true(dbmgmt_backup_tick(b, now + 60) >= 0);
    assert_int_equal(a.n, 2);
    assert_int_equal(dbmgmt_backup_metric(b, DBMGMT_BACKUP_FAILURES), 2);
    /* Back: the next tick copies it. */
    assert_int_equal(mkdir(f.off, 0700), 0);
    assert_true(dbmgmt_backup_tick(b, now + 120) >= 0);
    assert_copy_matches(&f, b, id);
    assert_int_equal(a.n, 2);
    dbmgmt_free(id);
    dbmgmt_backup_free(b);
    assert_int_equal(support_remove_tree(f.dir), 0);
}

int main(void)
{
    if (system("sha256sum /dev/null >/dev/null 2>&1") != 0) {
        printf("sha256sum (coreutils) is missing\n");
        return getenv("CI") && !strcmp(getenv("CI"), "true") ? 1 : 77;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_copy_list_prune_verify_restore),
        cmocka_unit_test(test_set_offsite_refuses_bad_folders),
        cmocka_unit_test(test_failed_copy_alerted_counted_and_retried),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
