/*
 * core-alloc's backup scenarios (test_alloc.c is the harness and the other
 * modules'): schedules and retention, a backup cycle, off-site copies and
 * encryption, each with every allocation failed once in turn.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "dbmgmt.h"
#include "support/counting_alloc.h"
#include "support/files.h"
#include "test_alloc.h"

/* ---- backups ------------------------------------------------------------------------ */

static char backup_dsn[256], backup_dir[256];

static void backup_reset(void)
{
    remove_under_work("backups", NULL);
}

/* The scheduler's parts on their own: a cron expression and its next fire
 * time, a retention policy deciding over six snapshot times. */
static int schedule_and_retention_scenario(void)
{
    dbmgmt_schedule *s = NULL;
    int rc = dbmgmt_schedule_parse(&s, "15 3 * * mon-fri");
    if (rc == DBMGMT_OK && dbmgmt_schedule_next(s, 1700000000, 3600) <= 1700000000)
        rc = DBMGMT_ERR_INTERNAL;
    dbmgmt_schedule_free(s);
    dbmgmt_retention *r = NULL;
    if (rc == DBMGMT_OK)
        rc = dbmgmt_retention_new(&r);
    if (rc == DBMGMT_OK)
        rc = dbmgmt_retention_set_keep(r, DBMGMT_KEEP_LAST, 2);
    if (rc == DBMGMT_OK)
        rc = dbmgmt_retention_set_keep(r, DBMGMT_KEEP_DAILY, 3);
    if (rc == DBMGMT_OK)
        rc = dbmgmt_retention_set_within(r, DBMGMT_KEEP_WEEKLY, "2m");
    const int64_t times[] = {1700000000, 1700003600, 1700086400, 1700172800, 1700259200,
                             1700345600};
    uint8_t keep[6];
    if (rc == DBMGMT_OK)
        rc = dbmgmt_retention_apply(r, times, 6, keep);
    if (rc == DBMGMT_OK && !dbmgmt_retention_reasons(r, 5)[0])
        rc = DBMGMT_ERR_INTERNAL; /* the newest is always kept, with a reason */
    dbmgmt_retention_free(r);
    return rc;
}

void test_schedules_and_retention_survive_every_failing_allocation(void **state)
{
    (void)state;
    fail_each_allocation("schedules and retention", schedule_and_retention_scenario, NULL,
                         NULL, 0);
}

/* The whole scheduler: a schedule and a retention, two ticks a day apart
 * (each takes and verifies a backup, then prunes to the newest), a manual
 * backup, verify, list, prune (dry run). */
static int backup_scenario(void)
{
    dbmgmt_backup *b = NULL;
    dbmgmt_retention *keep = NULL;
    char *id = NULL;
    const int64_t day = 86400, first = 1700000000 / day * day + 4 * 3600;
    int rc = dbmgmt_backup_new(&b, backup_dsn, backup_dir);
    if (rc == DBMGMT_OK)
        rc = dbmgmt_backup_add_schedule(b, "nightly", "0 3 * * *", "daily");
    if (rc == DBMGMT_OK)
        rc = dbmgmt_retention_new(&keep);
    if (rc == DBMGMT_OK)
        rc = dbmgmt_retention_set_keep(keep, DBMGMT_KEEP_LAST, 1);
    if (rc == DBMGMT_OK)
        rc = dbmgmt_backup_set_retention(b, keep);
    dbmgmt_retention_free(keep);
    if (rc == DBMGMT_OK)
        rc = dbmgmt_backup_set_rpo_bound(b, 2 * day);
    for (int64_t now = first; rc == DBMGMT_OK && now <= first + day; now += day) {
        int32_t taken = dbmgmt_backup_tick(b, now);
        if (taken < 0)
            rc = taken;
    }
    if (rc == DBMGMT_OK)
        rc = dbmgmt_backup_run_now(b, &id);
    if (rc == DBMGMT_OK)
        rc = dbmgmt_backup_verify(b, id);
    if (rc == DBMGMT_OK) {
        char *json = dbmgmt_backup_list_json(b);
        if (!json)
            rc = dbmgmt_errcode();
        dbmgmt_free(json);
    }
    if (rc == DBMGMT_OK && dbmgmt_backup_prune(b, 1) < 0)
        rc = dbmgmt_errcode();
    dbmgmt_free(id);
    dbmgmt_backup_free(b);
    return rc;
}

/* a clean backup cycle works in the folder the failed one left */
static int backup_recover(void)
{
    return backup_scenario();
}

void test_backups_survive_every_failing_allocation(void **state)
{
    (void)state;
    snprintf(backup_dsn, sizeof backup_dsn, "sqlite://%s/b.db", work);
    snprintf(backup_dir, sizeof backup_dir, "%s/backups", work);
    dbmgmt_conn *conn = NULL;
    assert_int_equal(dbmgmt_conn_open(&conn, backup_dsn), DBMGMT_OK);
    assert_int_equal(dbmgmt_conn_exec(conn, "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT);"
                                            "INSERT INTO t (v) VALUES ('a'), ('b'), ('c');"),
                     DBMGMT_OK);
    dbmgmt_conn_close(conn);
    fail_each_allocation("backups", backup_scenario, backup_reset, backup_recover, 0);
}

/* Off-site copies (issue 21): set the folder (its cleanup), a backup copied,
 * a tick (the retry pass), verify of the copy, list with copies, prune of a
 * backup and its copy. */
static char offsite_dir[256];

static void offsite_reset(void)
{
    remove_under_work("backups", NULL);
    remove_under_work("offsite", NULL);
    mkdir(offsite_dir, 0700);
}

static int offsite_scenario(void)
{
    dbmgmt_backup *b = NULL;
    dbmgmt_retention *keep = NULL;
    char *id = NULL, *id2 = NULL;
    int rc = dbmgmt_backup_new(&b, backup_dsn, backup_dir);
    if (rc == DBMGMT_OK)
        rc = dbmgmt_backup_set_offsite(b, offsite_dir);
    if (rc == DBMGMT_OK)
        rc = dbmgmt_backup_run_now(b, &id);
    if (rc == DBMGMT_OK) {
        int32_t taken = dbmgmt_backup_tick(b, 1700000000);
        if (taken < 0)
            rc = taken;
    }
    if (rc == DBMGMT_OK)
        rc = dbmgmt_backup_verify(b, id);
    if (rc == DBMGMT_OK) {
        char *json = dbmgmt_backup_list_json(b);
        if (!json)
            rc = dbmgmt_errcode();
        dbmgmt_free(json);
    }
    if (rc == DBMGMT_OK)
        rc = dbmgmt_backup_run_now(b, &id2);
    if (rc == DBMGMT_OK)
        rc = dbmgmt_retention_new(&keep);
    if (rc == DBMGMT_OK)
        rc = dbmgmt_retention_set_keep(keep, DBMGMT_KEEP_LAST, 1);
    if (rc == DBMGMT_OK)
        rc = dbmgmt_backup_set_retention(b, keep);
    dbmgmt_retention_free(keep);
    if (rc == DBMGMT_OK && dbmgmt_backup_prune(b, 0) < 0)
        rc = dbmgmt_errcode();
    dbmgmt_free(id);
    dbmgmt_free(id2);
    dbmgmt_backup_free(b);
    return rc;
}

void test_offsite_copies_survive_every_failing_allocation(void **state)
{
    (void)state;
    snprintf(backup_dsn, sizeof backup_dsn, "sqlite://%s/b.db", work);
    snprintf(backup_dir, sizeof backup_dir, "%s/backups", work);
    snprintf(offsite_dir, sizeof offsite_dir, "%s/offsite", work);
    dbmgmt_conn *conn = NULL;
    assert_int_equal(dbmgmt_conn_open(&conn, backup_dsn), DBMGMT_OK);
    assert_int_equal(dbmgmt_conn_exec(conn, "CREATE TABLE IF NOT EXISTS t (id INTEGER "
                                            "PRIMARY KEY, v TEXT);"),
                     DBMGMT_OK);
    dbmgmt_conn_close(conn);
    fail_each_allocation("off-site copies", offsite_scenario, offsite_reset, offsite_scenario,
                         0);
    remove_under_work("offsite", NULL);
}

/* Encryption at rest (issue 21): a key, an encrypted backup (the plaintext
 * in a temporary file, encrypted into the partial file), verify (decrypted
 * and authenticated), a restore drill from the decrypted file, list. */
static const unsigned char enc_key[32] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
                                         17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30,
                                         31, 32};
static char enc_target[300];

static void encrypt_reset(void)
{
    remove_under_work("backups", NULL);
    remove_under_work("restored.db", NULL);
}

static int encrypt_scenario(void)
{
    dbmgmt_backup *b = NULL;
    char *id = NULL;
    int rc = dbmgmt_backup_new(&b, backup_dsn, backup_dir);
    if (rc == DBMGMT_OK)
        rc = dbmgmt_backup_set_key(b, enc_key, sizeof enc_key);
    if (rc == DBMGMT_OK)
        rc = dbmgmt_backup_run_now(b, &id);
    if (rc == DBMGMT_OK)
        rc = dbmgmt_backup_verify(b, id);
    if (rc == DBMGMT_OK)
        rc = dbmgmt_backup_restore(b, id, enc_target);
    if (rc == DBMGMT_OK) {
        char *json = dbmgmt_backup_list_json(b);
        if (!json)
            rc = dbmgmt_errcode();
        else if (!strstr(json, "\"encryption\""))
            rc = DBMGMT_ERR_INTERNAL; /* not what this scenario is about */
        dbmgmt_free(json);
    }
    dbmgmt_free(id);
    dbmgmt_backup_free(b);
    return rc;
}

void test_encryption_survives_every_failing_allocation(void **state)
{
    (void)state;
    snprintf(backup_dsn, sizeof backup_dsn, "sqlite://%s/b.db", work);
    snprintf(backup_dir, sizeof backup_dir, "%s/backups", work);
    snprintf(enc_target, sizeof enc_target, "sqlite://%s/restored.db", work);
    dbmgmt_backup *probe = NULL;
    assert_int_equal(dbmgmt_backup_new(&probe, backup_dsn, backup_dir), DBMGMT_OK);
    int rc = dbmgmt_backup_set_key(probe, enc_key, sizeof enc_key);
    dbmgmt_backup_free(probe);
    if (rc == DBMGMT_ERR_UNSUPPORTED) {
        printf("encryption: built without libsodium, nothing to fail\n");
        return;
    }
    assert_int_equal(rc, DBMGMT_OK);
    fail_each_allocation("encryption", encrypt_scenario, encrypt_reset, encrypt_scenario, 0);
    encrypt_reset();
}

