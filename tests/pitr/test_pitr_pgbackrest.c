/*
 * The pgBackRest engine and point-in-time restore on a scratch PostgreSQL 15
 * this test starts itself (tests/pitr/pg_scratch.sh: initdb as postgres,
 * archive_mode = on, a free port), so the library can set archive_command:
 *
 * - full, diff and incr backups by schedule through dbmgmt_backup_tick with
 *   an injected clock; the catalog's attrs (label, type, prior, WAL range,
 *   sizes, times); verify through pgbackrest verify; a schedule of another
 *   kind is refused; no pgbackrest child has the password on its argv; a
 *   role that is not superuser gets an error naming the settings needed;
 * - a restore drill of the incr into a data directory, a server started on
 *   it: the rows at the incr's end;
 * - rows inserted after the incr; restore --to-time a moment between two
 *   inserts into a scratch data directory, a server started on it: exactly
 *   the rows committed before the time;
 * - retention through pgbackrest expire: the sets before the newest full go
 *   (and their WAL), and the oldest kept backup restores to its end time;
 * - all of it encrypted by pgBackRest's own cipher (repo1-cipher-type =
 *   aes-256-cbc) under a passphrase derived from the backup key: the
 *   repository's files are ciphertext, the key is in no file and no argv, a
 *   key set after the engine and an encrypted repository without a key are
 *   refused.
 *
 * Needs root (the server runs as postgres), pgbackrest and PostgreSQL 15:
 * without them it is skipped (exit 77), or fails under CI=true.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
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

#include "support/child_watch.h"
#include "support/engine.h"
#include "support/pitr.h"

#define T0 1893456000LL /* 2030-01-01T00:00:00Z: the injected clock */
#define HOUR 3600
#define DAY 86400

static char top[64], pgdir[128], bkdir[128], dsn[256], script[512];
static char password[40];
/* The backup key (32 bytes) and its hex form, which must appear nowhere. */
static const unsigned char bkey[32] = "pitr-test-key-0123456789abcdefgh";
static char key_hex[65];
static int port;

/* ---- the scratch server ------------------------------------------------------------- */

static int64_t q(const char *sql)
{
    return support_query_int_on(dsn, sql);
}

/* Wait until the server's clock is past second t. */
static void wait_server_past(int64_t t)
{
    for (int i = 0; i < 100 && q("SELECT floor(extract(epoch from clock_timestamp()))::bigint")
                                    <= t; i++)
        usleep(50000);
}

/* Switch the WAL segment and wait until the archiver has pushed it. */
static void switch_and_archive(void)
{
    char seg[64];
    dbmgmt_conn *c = NULL;
    assert_int_equal(dbmgmt_conn_open(&c, dsn), DBMGMT_OK);
    dbmgmt_result *r = NULL;
    assert_int_equal(dbmgmt_conn_query(c, &r, "SELECT pg_walfile_name(pg_switch_wal())", 0, NULL),
                     DBMGMT_OK);
    assert_int_equal(dbmgmt_result_next(r), 1);
    snprintf(seg, sizeof seg, "%s", dbmgmt_result_text(r, 0));
    dbmgmt_result_free(r);
    int done = 0;
    for (int i = 0; i < 300 && !done; i++) {
        assert_int_equal(dbmgmt_conn_query(c, &r, "SELECT COALESCE(last_archived_wal, '') "
                                                  "FROM pg_stat_archiver", 0, NULL), DBMGMT_OK);
        assert_int_equal(dbmgmt_result_next(r), 1);
        done = strcmp(dbmgmt_result_text(r, 0), seg) >= 0;
        dbmgmt_result_free(r);
        if (!done)
            usleep(100000);
    }
    dbmgmt_conn_close(c);
    if (!done)
        fail_msg("WAL segment %s was not archived within 30 s", seg);
}

/* Start a server on a restored data directory; the rows of t once it has
 * left recovery; stop it. */
static int64_t count_restored(const char *data)
{
    int p2 = support_free_port();
    if (support_sh("%s start %s %d %s", script, data, p2, pgdir) != 0) {
        support_sh("tail -n 30 %s/%s.log >&2", pgdir, strrchr(data, '/') + 1);
        fail_msg("the restored server in %s did not start", data);
    }
    char dsn2[256];
    snprintf(dsn2, sizeof dsn2, "postgres://postgres:%s@127.0.0.1:%d/postgres", password, p2);
    for (int i = 0; i < 300 && support_query_int_on(dsn2, "SELECT pg_is_in_recovery()::int"); i++)
        usleep(100000);
    assert_int_equal(support_query_int_on(dsn2, "SELECT pg_is_in_recovery()::int"), 0);
    int64_t n = support_query_int_on(dsn2, "SELECT COUNT(*) FROM t");
    support_sh("%s stop %s", script, data);
    return n;
}

static ssize_t read_small(const char *path, char *buf, size_t cap)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, cap - 1);
    close(fd);
    if (n >= 0)
        buf[n] = '\0';
    return n;
}

/* ---- catalog ------------------------------------------------------------------------ */

static int count_kind(dbmgmt_backup *b, const char *kind)
{
    char *json = dbmgmt_backup_list_json(b);
    char want[64];
    snprintf(want, sizeof want, "\"kind\":\"%s\"", kind);
    int n = 0;
    for (const char *p = json; (p = strstr(p, want)) != NULL; p += strlen(want))
        n++;
    dbmgmt_free(json);
    return n;
}

/* A pgBackRest set's folder in the repository. */
static int set_exists(const char *label)
{
    char path[512];
    snprintf(path, sizeof path, "%s/pgbackrest/backup/dbmgmt/%s", bkdir, label);
    struct stat st;
    return stat(path, &st) == 0;
}

/* The number of archived WAL segments (of timeline 1) older than seg. */
static int segments_before(const char *seg)
{
    char path[512];
    snprintf(path, sizeof path, "%s/pgbackrest/archive/dbmgmt/15-1/%.16s", bkdir, seg);
    DIR *d = opendir(path);
    int n = 0;
    struct dirent *ent;
    while (d && (ent = readdir(d)) != NULL)
        if (strlen(ent->d_name) > 24 && strncmp(ent->d_name, seg, 24) < 0 &&
            ent->d_name[0] != '.')
            n++;
    if (d)
        closedir(d);
    return n;
}

/* 1 when the file starts as OpenSSL's encrypted output does. */
static int salted(const char *path)
{
    char head[9] = {0};
    return read_small(path, head, sizeof head) == 8 && strcmp(head, "Salted__") == 0;
}

/* Some archived WAL segment of timeline 1 (its path into out), or 0. */
static int some_segment(char *out, size_t cap)
{
    char dir[512];
    snprintf(dir, sizeof dir, "%s/pgbackrest/archive/dbmgmt/15-1/0000000100000000", bkdir);
    DIR *d = opendir(dir);
    struct dirent *ent;
    int found = 0;
    while (d && !found && (ent = readdir(d)) != NULL)
        if (strlen(ent->d_name) > 24 && ent->d_name[0] != '.') {
            snprintf(out, cap, "%s/%s", dir, ent->d_name);
            found = 1;
        }
    if (d)
        closedir(d);
    return found;
}

/* ---- the test ------------------------------------------------------------------------ */

static void test_full_diff_incr_restore_to_time_and_prune(void **state)
{
    (void)state;
    support_exec_on(dsn, "CREATE TABLE t(id serial PRIMARY KEY, note text NOT NULL);"
                         "INSERT INTO t(note) SELECT 'base' FROM generate_series(1, 100)");
    dbmgmt_backup *b = NULL;
    assert_int_equal(dbmgmt_backup_new(&b, dsn, bkdir), DBMGMT_OK);
    assert_int_equal(dbmgmt_backup_add_schedule(b, "nightly-full", "0 1 * * *", "full"),
                     DBMGMT_OK);
    assert_int_equal(dbmgmt_backup_add_schedule(b, "diff", "0 2 * * *", "diff"), DBMGMT_OK);
    assert_int_equal(dbmgmt_backup_add_schedule(b, "daily", "0 4 * * *", "daily"), DBMGMT_OK);
    /* a schedule of another kind: refused, naming it */
    assert_int_equal(dbmgmt_backup_set_engine(b, "pgbackrest"), DBMGMT_ERR_INVALID);
    assert_non_null(strstr(dbmgmt_backup_errmsg(b), "'daily'"));
    dbmgmt_backup_free(b);
    b = NULL;
    assert_int_equal(dbmgmt_backup_new(&b, dsn, bkdir), DBMGMT_OK);

    /* every pgbackrest process (ours and the server's archive-push): no
     * password, key or passphrase on its command line */
    static const char *const tools[] = {"pgbackrest", NULL};
    const support_secret secrets[] = {{password, strlen(password)},
                                      {key_hex, 64},
                                      {bkey, sizeof bkey},
                                      {"cipher-pass", 11}};
    support_child_watch *w = support_child_watch_start(tools, 0, 0, secrets, 4);
    assert_int_equal(dbmgmt_backup_set_key(b, bkey, sizeof bkey), DBMGMT_OK);
    int rc = dbmgmt_backup_set_engine(b, "pgbackrest");
    if (rc != DBMGMT_OK)
        fail_msg("set_engine: %s", dbmgmt_backup_errmsg(b));
    /* pgBackRest fixes the cipher at stanza-create: a later key is refused */
    assert_int_equal(dbmgmt_backup_set_key(b, bkey, sizeof bkey), DBMGMT_ERR_POLICY);
    assert_non_null(strstr(dbmgmt_backup_errmsg(b), "before dbmgmt_backup_set_engine"));
    /* the encrypted repository without the key: refused, naming it */
    dbmgmt_backup *nokey = NULL;
    assert_int_equal(dbmgmt_backup_new(&nokey, dsn, bkdir), DBMGMT_OK);
    assert_int_equal(dbmgmt_backup_set_engine(nokey, "pgbackrest"), DBMGMT_ERR_POLICY);
    assert_non_null(strstr(dbmgmt_backup_errmsg(nokey), "is encrypted"));
    dbmgmt_backup_free(nokey);
    assert_int_equal(dbmgmt_backup_add_schedule(b, "incr", "0 3 * * *", "incr"), DBMGMT_OK);
    assert_int_equal(dbmgmt_backup_add_schedule(b, "bad", "0 4 * * *", "daily"),
                     DBMGMT_ERR_INVALID);
    assert_non_null(strstr(dbmgmt_backup_errmsg(b), "'bad'"));
    assert_int_equal(dbmgmt_backup_add_schedule(b, "nightly-full", "0 1 * * *", "full"),
                     DBMGMT_OK);
    assert_int_equal(dbmgmt_backup_add_schedule(b, "diff", "0 2 * * *", "diff"), DBMGMT_OK);
    /* a role that is not superuser: the settings the server needs, named */
    char sql[256], dsn_reader[256], bk2[160];
    snprintf(sql, sizeof sql, "CREATE ROLE reader LOGIN PASSWORD '%s';"
                              "GRANT pg_read_all_settings TO reader", password);
    support_exec_on(dsn, sql);
    snprintf(dsn_reader, sizeof dsn_reader, "postgres://reader:%s@127.0.0.1:%d/postgres",
             password, port);
    snprintf(bk2, sizeof bk2, "%s/backups-reader", top);
    dbmgmt_backup *b2 = NULL;
    assert_int_equal(dbmgmt_backup_new(&b2, dsn_reader, bk2), DBMGMT_OK);
    assert_int_equal(dbmgmt_backup_set_engine(b2, "pgbackrest"), DBMGMT_ERR_POLICY);
    char want[300];
    snprintf(want, sizeof want, "archive_command = 'pgbackrest --config=%s/pgbackrest.conf "
                                "--stanza=dbmgmt archive-push %%p'", bk2);
    assert_non_null(strstr(dbmgmt_backup_errmsg(b2), want));
    assert_non_null(strstr(dbmgmt_backup_errmsg(b2), "not superuser"));
    assert_null(strstr(dbmgmt_backup_errmsg(b2), password));
    dbmgmt_backup_free(b2);

    struct stat st;
    char conf[256];
    snprintf(conf, sizeof conf, "%s/pgbackrest.conf", bkdir);
    assert_int_equal(stat(conf, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    char text[4096];
    assert_true(read_small(conf, text, sizeof text) > 0);
    assert_non_null(strstr(text, "repo1-cipher-type=aes-256-cbc\n"));
    assert_non_null(strstr(text, "repo1-cipher-pass="));
    assert_null(strstr(text, key_hex));
    assert_null(memmem(text, strlen(text), bkey, sizeof bkey));

    /* full, diff, incr by schedule (the injected clock) */
    assert_int_equal(support_tick_ok(b, T0), 0);
    assert_int_equal(support_tick_ok(b, T0 + 1 * HOUR), 1);
    support_exec_on(dsn, "INSERT INTO t(note) SELECT 'after full' FROM generate_series(1, 10)");
    assert_int_equal(support_tick_ok(b, T0 + 2 * HOUR), 1);
    support_exec_on(dsn, "INSERT INTO t(note) SELECT 'after diff' FROM generate_series(1, 3)");
    assert_int_equal(support_tick_ok(b, T0 + 3 * HOUR), 1);
    support_watch_result seen;
    support_child_watch_stop(w, &seen);
    assert_true(seen.seen > 0);
    if (seen.leaks)
        fail_msg("a secret was in %s", seen.leaked);
    /* the repository is ciphertext: its backup.info and its WAL */
    char path[600];
    snprintf(path, sizeof path, "%s/pgbackrest/backup/dbmgmt/backup.info", bkdir);
    assert_true(salted(path));
    assert_true(some_segment(path, sizeof path));
    assert_true(salted(path));

    char full_label[64], diff_label[64], incr_label[64], v[64];
    support_backup_attr(b, "full", 0, "label", full_label, sizeof full_label);
    support_backup_attr(b, "diff", 0, "label", diff_label, sizeof diff_label);
    support_backup_attr(b, "incr", 0, "label", incr_label, sizeof incr_label);
    assert_non_null(strstr(full_label, "F"));
    assert_non_null(strstr(diff_label, "_"));
    assert_non_null(strstr(diff_label, "D"));
    assert_non_null(strstr(incr_label, "I"));
    support_backup_attr(b, "full", 0, "type", v, sizeof v);
    assert_string_equal(v, "full");
    support_backup_attr(b, "diff", 0, "type", v, sizeof v);
    assert_string_equal(v, "diff");
    support_backup_attr(b, "incr", 0, "type", v, sizeof v);
    assert_string_equal(v, "incr");
    support_backup_attr(b, "diff", 0, "prior", v, sizeof v);
    assert_string_equal(v, full_label);
    support_backup_attr(b, "incr", 0, "prior", v, sizeof v);
    assert_string_equal(v, diff_label);
    support_backup_attr(b, "incr", 0, "wal_start", v, sizeof v);
    assert_int_equal(strlen(v), 24);
    support_backup_attr(b, "incr", 0, "repo_cipher", v, sizeof v);
    assert_string_equal(v, "aes-256-cbc");
    support_backup_attr(b, "incr", 0, "lsn_stop", v, sizeof v);
    assert_non_null(strchr(v, '/'));
    assert_true(support_backup_attr_int(b, "full", 0, "backup_size") > 1000000);
    assert_true(support_backup_attr_int(b, "full", 0, "repo_size") > 0);
    assert_true(support_backup_attr_int(b, "incr", 0, "stop_time") >=
                support_backup_attr_int(b, "incr", 0, "start_time"));
    assert_true(support_backup_attr_int(b, "incr", 0, "start_time") > 1700000000);
    char *json = dbmgmt_backup_list_json(b);
    assert_null(strstr(json, "\"verified\":false"));
    assert_non_null(strstr(json, "\"engine\":\"pgbackrest\""));
    dbmgmt_free(json);
    int64_t incr_stop = support_backup_attr_int(b, "incr", 0, "stop_time");

    /* rows after the incr; a moment between two inserts */
    wait_server_past(incr_stop);
    support_exec_on(dsn, "INSERT INTO t(note) SELECT 'batch a' FROM generate_series(1, 7)");
    int64_t target = q("SELECT floor(extract(epoch from clock_timestamp()))::bigint") + 1;
    wait_server_past(target);
    support_exec_on(dsn, "INSERT INTO t(note) SELECT 'batch b' FROM generate_series(1, 5)");
    switch_and_archive();
    assert_int_equal(q("SELECT COUNT(*) FROM t"), 125);

    /* before the first backup: an error naming the earliest time */
    char r0[192];
    snprintf(r0, sizeof r0, "%s/r0", top);
    assert_int_equal(dbmgmt_backup_restore_to_time(
                         b, r0, support_backup_attr_int(b, "full", 0, "start_time")),
                     DBMGMT_ERR_NOTFOUND);
    assert_non_null(strstr(dbmgmt_backup_errmsg(b), "earliest time available"));

    char r1[192];
    snprintf(r1, sizeof r1, "%s/r1", top);
    rc = dbmgmt_backup_restore_to_time(b, r1, target);
    if (rc != DBMGMT_OK)
        fail_msg("restore to time: %s", dbmgmt_backup_errmsg(b));
    assert_non_null(strstr(dbmgmt_backup_restore_info(b), incr_label));
    /* a drill to a time: recorded on the backup it started from, with its RTO */
    assert_true(dbmgmt_backup_metric(b, DBMGMT_BACKUP_LAST_RESTORE_MS) > 0);
    char *rec = dbmgmt_backup_list_json(b);
    assert_non_null(strstr(rec, "\"restore_result\":\"ok (to "));
    dbmgmt_free(rec);
    assert_int_equal(count_restored(r1), 100 + 10 + 3 + 7);

    /* the restore drill of the incr: a data directory consistent at its end */
    char r3[192], incr_id[160];
    snprintf(r3, sizeof r3, "%s/r3", top);
    char *list = dbmgmt_backup_list_json(b);
    const char *ip = strstr(list, "-incr\"");
    assert_non_null(ip);
    const char *is = ip;
    while (is > list && is[-1] != '"')
        is--;
    snprintf(incr_id, sizeof incr_id, "%.*s", (int)(ip + 5 - is), is);
    dbmgmt_free(list);
    rc = dbmgmt_backup_restore(b, incr_id, r3);
    if (rc != DBMGMT_OK)
        fail_msg("restore drill of %s: %s", incr_id, dbmgmt_backup_errmsg(b));
    assert_true(dbmgmt_backup_metric(b, DBMGMT_BACKUP_LAST_RESTORE_MS) > 0);
    assert_int_equal(count_restored(r3), 100 + 10 + 3);

    /* day 2: a second full, then diff and incr on it; keep the last 2 */
    dbmgmt_retention *ret = NULL;
    assert_int_equal(dbmgmt_retention_new(&ret), DBMGMT_OK);
    assert_int_equal(dbmgmt_retention_set_keep(ret, DBMGMT_KEEP_LAST, 2), DBMGMT_OK);
    assert_int_equal(dbmgmt_backup_set_retention(b, ret), DBMGMT_OK);
    dbmgmt_retention_free(ret);
    assert_int_equal(support_tick_ok(b, T0 + DAY + 1 * HOUR), 1);
    /* keep-last 2 keeps the incr of day 1 and so its diff and full */
    assert_int_equal(dbmgmt_backup_metric(b, DBMGMT_BACKUP_COUNT), 4);
    int64_t full2_stop = support_backup_attr_int(b, "full", 1, "stop_time");
    char full2_wal[64], full2_label[64];
    support_backup_attr(b, "full", 1, "wal_start", full2_wal, sizeof full2_wal);
    support_backup_attr(b, "full", 1, "label", full2_label, sizeof full2_label);
    wait_server_past(full2_stop);
    support_exec_on(dsn, "INSERT INTO t(note) SELECT 'after full 2' FROM generate_series(1, 4)");
    switch_and_archive();
    assert_true(segments_before(full2_wal) > 0);
    assert_int_equal(support_tick_ok(b, T0 + DAY + 3 * HOUR), 2); /* diff and incr */
    assert_int_equal(dbmgmt_backup_metric(b, DBMGMT_BACKUP_COUNT), 3);
    assert_int_equal(count_kind(b, "full"), 1);
    assert_int_equal(count_kind(b, "diff"), 1);
    assert_int_equal(count_kind(b, "incr"), 1);
    support_backup_attr(b, "full", 0, "label", v, sizeof v);
    assert_string_equal(v, full2_label);
    /* the expired sets left the repository, and the WAL before the oldest kept */
    assert_false(set_exists(full_label));
    assert_false(set_exists(incr_label));
    assert_true(set_exists(full2_label));
    assert_int_equal(segments_before(full2_wal), 0);

    /* the oldest kept backup restores to its end time: the second after its
     * stop (pgBackRest's stop is in whole seconds, truncated; backup_pitr.c) */
    char r2[192];
    snprintf(r2, sizeof r2, "%s/r2", top);
    rc = dbmgmt_backup_restore_to_time(b, r2, full2_stop + 1);
    if (rc != DBMGMT_OK)
        fail_msg("restore of the oldest kept backup: %s", dbmgmt_backup_errmsg(b));
    assert_non_null(strstr(dbmgmt_backup_restore_info(b), full2_label));
    assert_int_equal(count_restored(r2), 125);
    assert_int_equal(dbmgmt_backup_metric(b, DBMGMT_BACKUP_FAILURES), 0);
    dbmgmt_backup_free(b);
}

static int setup(void **state)
{
    (void)state;
    const char *missing = geteuid() != 0 ? "root (the scratch server runs as postgres)"
                          : access("/usr/lib/postgresql/15/bin/initdb", X_OK) != 0
                              ? "PostgreSQL 15 (postgresql-15)"
                          : system("command -v pgbackrest >/dev/null") != 0
                              ? "pgbackrest (the Debian package)"
                              : NULL;
    support_require(missing);
    if (support_scratch_top(top, sizeof top, "dbmgmt-pitr-") != 0)
        return -1;
    snprintf(pgdir, sizeof pgdir, "%s/pg", top);
    snprintf(bkdir, sizeof bkdir, "%s/backups", top);
    support_random_password(password, 24);
    port = support_free_port();
    snprintf(dsn, sizeof dsn, "postgres://postgres:%s@127.0.0.1:%d/postgres", password, port);
    setenv("PGSCRATCH_PW", password, 1);
    int rc = support_sh("%s init %s %d", script, pgdir, port);
    unsetenv("PGSCRATCH_PW");
    if (rc != 0) {
        support_sh("cat %s/initdb.log %s/server.log >&2", pgdir, pgdir);
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char data[160];
    snprintf(data, sizeof data, "%s/data", pgdir);
    support_sh("%s stop %s; for r in r1 r2 r3; do %s stop %s/$r; done", script, data, script, top);
    if (!getenv("DBMGMT_TEST_KEEP") && strncmp(top, "/tmp/dbmgmt-pitr-", 17) == 0)
        support_sh("rm -rf %s", top);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s PATH/pg_scratch.sh\n", argv[0]);
        return 2;
    }
    snprintf(script, sizeof script, "%s", argv[1]);
    for (size_t i = 0; i < sizeof bkey; i++)
        snprintf(key_hex + 2 * i, 3, "%02x", bkey[i]);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_diff_incr_restore_to_time_and_prune),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
