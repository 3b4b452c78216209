/*
 * The mariadb-backup engine and point-in-time restore on a scratch MariaDB
 * this test starts itself (tests/pitr/mariadb_scratch.sh: mariadb-install-db
 * as mysql, the binary log on, a free port on 127.0.0.1):
 *
 * - full then incr backups by schedule through dbmgmt_backup_tick with an
 *   injected clock; the catalog's attrs (type, base, LSNs, binlog position);
 *   a schedule of another kind is refused; no child (mariadb-backup,
 *   mariadb-binlog, mariadb) has the password on its argv, no log line or
 *   error holds it, and no options file is left behind (nor, at the next
 *   open, one or a scratch folder of a crashed process);
 * - rows inserted after the incr at distinct seconds; restore_to_time a
 *   moment between two inserts into a new data directory, a server started
 *   on it: exactly the rows committed before the time;
 * - the same restore through `dbmgmt backup --engine mariadb-backup restore
 *   --to-time` (when the CLI is built);
 * - an incr with no full before it fails, leaving no entry and no folder;
 * - a server without the binary log is refused at set_engine, naming the
 *   settings it needs;
 * - a flipped byte in a backup file, or a file added to its folder, fails
 *   verify naming the file;
 * - retention keeps the full a kept incr needs; once a newer full is kept
 *   alone, the older chain's folders and binlogs go.
 *
 * Needs root (the server runs as mysql), mariadbd and mariadb-backup:
 * without them it is skipped (exit 77), or fails under CI=true.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
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

static char top[64], mydir[128], bkdir[128], dsn[256], script[512], cli[512];
static char password[40];
static int port;
static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static int log_lines, log_leaks;

/* ---- the scratch server ------------------------------------------------------------- */

static int64_t q(const char *sql)
{
    return support_query_int_on(dsn, sql);
}

/* Wait until the server's clock is past second t. */
static void wait_server_past(int64_t t)
{
    for (int i = 0; i < 100 && q("SELECT UNIX_TIMESTAMP()") <= t; i++)
        usleep(50000);
    assert_true(q("SELECT UNIX_TIMESTAMP()") > t);
}

/* ---- the library's log ---------------------------------------------------------------- */

static void log_watch(void *userdata, dbmgmt_log_level level, const char *message)
{
    (void)userdata;
    (void)level;
    pthread_mutex_lock(&log_mu);
    log_lines++;
    if (strstr(message, password))
        log_leaks++;
    pthread_mutex_unlock(&log_mu);
}

/* ---- catalog ------------------------------------------------------------------------ */

/* The id of the n-th backup of kind ("...-full"). */
static void id_of(dbmgmt_backup *b, const char *kind, int nth, char *out, size_t cap)
{
    char dir[256];
    support_backup_attr(b, kind, nth, "dir", dir, sizeof dir);
    const char *slash = strrchr(dir, '/');
    assert_non_null(slash);
    snprintf(out, cap, "%s", slash + 1);
}

static int exists_in(const char *dir, const char *name)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    struct stat st;
    return lstat(path, &st) == 0;
}

/* Files in dir whose name starts with prefix (or sorts before `before`). */
static int count_files(const char *dir, const char *prefix, const char *before)
{
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *ent;
    while (d && (ent = readdir(d)) != NULL) {
        if (!strcmp(ent->d_name, ".") || !strcmp(ent->d_name, ".."))
            continue;
        if ((prefix && !strncmp(ent->d_name, prefix, strlen(prefix))) ||
            (before && strcmp(ent->d_name, before) < 0))
            n++;
    }
    if (d)
        closedir(d);
    return n;
}

/* Start a server on a restored data directory, the rows of pitr.t, stop it. */
static int64_t count_restored(const char *data, int p2, int keep_running)
{
    char sock[160];
    snprintf(sock, sizeof sock, "%s/sock", top);
    if (support_sh("%s start %s %d %s", script, data, p2, sock) != 0)
        fail_msg("the restored server in %s did not start", data);
    char dsn2[256];
    snprintf(dsn2, sizeof dsn2, "mysql://root:%s@127.0.0.1:%d/pitr", password, p2);
    int64_t n = support_query_int_on(dsn2, "SELECT COUNT(*) FROM t");
    if (!keep_running)
        support_sh("%s stop %s %s", script, data, sock);
    return n;
}

/* ---- the test ------------------------------------------------------------------------ */

static void flip_byte(const char *path, off_t at)
{
    int fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    unsigned char c;
    assert_int_equal(pread(fd, &c, 1, at), 1);
    c ^= 0x5a;
    assert_int_equal(pwrite(fd, &c, 1, at), 1);
    close(fd);
}

static void test_full_incr_by_schedule_restore_to_time_verify_prune(void **state)
{
    (void)state;
    assert_int_equal(dbmgmt_set_logger(log_watch, NULL, DBMGMT_LOG_DEBUG), DBMGMT_OK);
    support_exec_on(dsn, "CREATE TABLE t(id INT AUTO_INCREMENT PRIMARY KEY, note TEXT NOT NULL)"
                         " ENGINE=InnoDB");
    support_exec_on(dsn, "INSERT INTO t(note) SELECT 'base' FROM seq_1_to_100");
    dbmgmt_backup *b = NULL;
    assert_int_equal(dbmgmt_backup_new(&b, dsn, bkdir), DBMGMT_OK);
    assert_int_equal(dbmgmt_backup_add_schedule(b, "nightly-full", "0 1 * * *", "full"),
                     DBMGMT_OK);
    assert_int_equal(dbmgmt_backup_add_schedule(b, "daily", "0 4 * * *", "daily"), DBMGMT_OK);
    /* a schedule of another kind: refused, naming it */
    assert_int_equal(dbmgmt_backup_set_engine(b, "mariadb-backup"), DBMGMT_ERR_INVALID);
    assert_non_null(strstr(dbmgmt_backup_errmsg(b), "'daily'"));
    dbmgmt_backup_free(b);
    b = NULL;
    /* a crashed process's scratch folder and options file go at the next open */
    assert_int_equal(support_sh("mkdir -p %s/.mariadb-verify.partial-2147483646/0 && "
                                "touch %s/.mariadb-verify.partial-2147483646/0/ibdata1 "
                                "%s/.dbmgmt-mysql.partial-2147483646-aBcDeF", bkdir, bkdir,
                                bkdir), 0);
    assert_int_equal(dbmgmt_backup_new(&b, dsn, bkdir), DBMGMT_OK);
    assert_int_equal(count_files(bkdir, ".mariadb-", NULL), 0);
    assert_int_equal(count_files(bkdir, ".dbmgmt-mysql", NULL), 0);

    /* the tools' command lines hold no password */
    static const char *const tools[] = {"mariadb-backup", "mariadb-binlog", "mariadb", NULL};
    const support_secret secrets[] = {{password, strlen(password)}};
    support_child_watch *w = support_child_watch_start(tools, 0, 0, secrets, 1);
    int rc = dbmgmt_backup_set_engine(b, "mariadb-backup");
    if (rc != DBMGMT_OK)
        fail_msg("set_engine: %s", dbmgmt_backup_errmsg(b));
    assert_int_equal(dbmgmt_backup_add_schedule(b, "nightly-full", "0 1 * * *", "full"),
                     DBMGMT_OK);
    assert_int_equal(dbmgmt_backup_add_schedule(b, "incr", "0 3 * * *", "incr"), DBMGMT_OK);
    assert_int_equal(dbmgmt_backup_add_schedule(b, "bad", "0 4 * * *", "diff"),
                     DBMGMT_ERR_INVALID);
    assert_non_null(strstr(dbmgmt_backup_errmsg(b), "'bad'"));

    /* full, then incr by schedule (the injected clock) */
    assert_int_equal(support_tick_ok(b, T0), 0);
    assert_int_equal(support_tick_ok(b, T0 + 1 * HOUR), 1);
    support_exec_on(dsn, "INSERT INTO t(note) SELECT 'after full' FROM seq_1_to_10");
    assert_int_equal(support_tick_ok(b, T0 + 3 * HOUR), 1);
    support_watch_result seen;
    support_child_watch_stop(w, &seen);
    assert_true(seen.seen > 0);
    if (seen.leaks)
        fail_msg("the password was in %s", seen.leaked);
    assert_int_equal(count_files(bkdir, ".dbmgmt-mysql", NULL), 0); /* options files gone */

    char full_id[160], incr_id[160], v[256];
    id_of(b, "full", 0, full_id, sizeof full_id);
    id_of(b, "incr", 0, incr_id, sizeof incr_id);
    support_backup_attr(b, "full", 0, "type", v, sizeof v);
    assert_string_equal(v, "full");
    support_backup_attr(b, "incr", 0, "type", v, sizeof v);
    assert_string_equal(v, "incr");
    support_backup_attr(b, "incr", 0, "base", v, sizeof v);
    assert_string_equal(v, full_id);
    support_backup_attr(b, "incr", 0, "binlog_file", v, sizeof v);
    assert_non_null(strstr(v, "mysql-bin."));
    assert_true(support_backup_attr_int(b, "incr", 0, "binlog_pos") > 0);
    support_backup_attr(b, "incr", 0, "gtid", v, sizeof v);
    assert_non_null(strstr(v, "0-1-"));
    assert_true(support_backup_attr_int(b, "incr", 0, "from_lsn") ==
                support_backup_attr_int(b, "full", 0, "to_lsn"));
    assert_true(support_backup_attr_int(b, "incr", 0, "last_lsn") >
                support_backup_attr_int(b, "full", 0, "last_lsn"));
    char *json = dbmgmt_backup_list_json(b);
    assert_null(strstr(json, "\"verified\":false"));
    assert_non_null(strstr(json, "\"engine\":\"mariadb-backup\""));
    dbmgmt_free(json);

    /* rows after the incr, at distinct seconds; a moment between them */
    wait_server_past(support_backup_attr_int(b, "incr", 0, "stop_time"));
    support_exec_on(dsn, "INSERT INTO t(note) SELECT 'batch a' FROM seq_1_to_7");
    int64_t target = q("SELECT UNIX_TIMESTAMP()") + 1;
    wait_server_past(target);
    support_exec_on(dsn, "INSERT INTO t(note) SELECT 'batch b' FROM seq_1_to_5");
    assert_int_equal(q("SELECT COUNT(*) FROM t"), 122);

    char r1[192];
    snprintf(r1, sizeof r1, "%s/r1", top);
    rc = dbmgmt_backup_restore_to_time(b, r1, target);
    if (rc != DBMGMT_OK)
        fail_msg("restore to time: %s", dbmgmt_backup_errmsg(b));
    const char *info = dbmgmt_backup_restore_info(b);
    assert_non_null(strstr(info, incr_id));
    assert_non_null(strstr(info, "\"engine\":\"mariadb-backup\""));
    assert_non_null(strstr(info, "\"binlog_range\":\"mysql-bin."));
    assert_int_equal(count_files(bkdir, ".mariadb-", NULL), 0); /* scratch folders gone */
    int p2 = support_free_port();
    assert_int_equal(count_restored(r1, p2, 1), 100 + 10 + 7);

    /* a server without the binary log (the restored one): the settings, named */
    char dsn2[256], bk2[160];
    snprintf(dsn2, sizeof dsn2, "mysql://root:%s@127.0.0.1:%d/pitr", password, p2);
    snprintf(bk2, sizeof bk2, "%s/backups-nobinlog", top);
    dbmgmt_backup *b2 = NULL;
    assert_int_equal(dbmgmt_backup_new(&b2, dsn2, bk2), DBMGMT_OK);
    assert_int_equal(dbmgmt_backup_set_engine(b2, "mariadb-backup"), DBMGMT_ERR_POLICY);
    const char *msg = dbmgmt_backup_errmsg(b2);
    assert_non_null(strstr(msg, "log_bin"));
    assert_non_null(strstr(msg, "binlog_format"));
    assert_non_null(strstr(msg, "server_id"));
    assert_null(strstr(msg, password));
    dbmgmt_backup_free(b2);
    char sock[160];
    snprintf(sock, sizeof sock, "%s/sock", top);
    support_sh("%s stop %s %s", script, r1, sock);

    /* an incr with no full before it: refused, and nothing left behind */
    char bk3[160], mb3[192];
    snprintf(bk3, sizeof bk3, "%s/backups-incr-only", top);
    snprintf(mb3, sizeof mb3, "%s/mariadb-backup", bk3);
    dbmgmt_backup *b3 = NULL;
    assert_int_equal(dbmgmt_backup_new(&b3, dsn, bk3), DBMGMT_OK);
    assert_int_equal(dbmgmt_backup_set_engine(b3, "mariadb-backup"), DBMGMT_OK);
    assert_int_equal(dbmgmt_backup_add_schedule(b3, "incr", "0 3 * * *", "incr"), DBMGMT_OK);
    dbmgmt_backup_tick(b3, T0);
    dbmgmt_backup_tick(b3, T0 + 3 * HOUR);
    assert_int_equal(dbmgmt_backup_metric(b3, DBMGMT_BACKUP_FAILURES), 1);
    assert_int_equal(dbmgmt_backup_metric(b3, DBMGMT_BACKUP_COUNT), 0);
    assert_non_null(strstr(dbmgmt_backup_errmsg(b3), "take a full backup first"));
    assert_int_equal(count_files(mb3, "", NULL), 0);
    assert_int_equal(count_files(bk3, "2030", NULL), 0);
    dbmgmt_backup_free(b3);

    /* the same through the CLI (the DSN in DATABASE_URL, not on its argv) */
    if (*cli) {
        char r3[192], when[32], out[192];
        snprintf(r3, sizeof r3, "%s/r3", top);
        snprintf(out, sizeof out, "%s/cli.out", top);
        time_t tt = (time_t)target;
        struct tm tm;
        gmtime_r(&tt, &tm);
        strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
        setenv("DATABASE_URL", dsn, 1);
        rc = support_sh("%s backup --backup-dir %s --engine mariadb-backup restore --to-time %s %s "
                ">%s 2>&1", cli, bkdir, when, r3, out);
        unsetenv("DATABASE_URL");
        if (rc != 0) {
            support_sh("cat %s", out);
            fail_msg("dbmgmt backup restore --to-time failed");
        }
        assert_int_equal(support_sh("grep -q 'binlog_range' %s", out), 0);
        assert_int_equal(count_restored(r3, support_free_port(), 0), 100 + 10 + 7);
    }

    /* the restore drill of the incr: the rows at its end */
    char r2[192];
    snprintf(r2, sizeof r2, "%s/r2", top);
    rc = dbmgmt_backup_restore(b, incr_id, r2);
    if (rc != DBMGMT_OK)
        fail_msg("restore of %s: %s", incr_id, dbmgmt_backup_errmsg(b));
    assert_int_equal(count_restored(r2, support_free_port(), 0), 100 + 10);

    /* a flipped byte in a backup file fails verify, naming the file */
    char path[512];
    snprintf(path, sizeof path, "%s/mariadb-backup/%s/ibdata1", bkdir, full_id);
    flip_byte(path, 4096 + 17);
    assert_int_equal(dbmgmt_backup_verify(b, full_id), DBMGMT_ERR_CHECKSUM);
    assert_non_null(strstr(dbmgmt_backup_errmsg(b), "ibdata1"));
    assert_null(strstr(dbmgmt_backup_errmsg(b), password));
    assert_int_equal(dbmgmt_backup_verify(b, incr_id), DBMGMT_ERR_CHECKSUM); /* its chain */
    flip_byte(path, 4096 + 17);
    assert_int_equal(dbmgmt_backup_verify(b, full_id), DBMGMT_OK);
    /* a file added to the folder fails too, naming it */
    assert_int_equal(support_sh("touch %s/mariadb-backup/%s/pitr/intruder.ibd", bkdir, incr_id),
                     0);
    assert_int_equal(dbmgmt_backup_verify(b, incr_id), DBMGMT_ERR_CHECKSUM);
    assert_non_null(strstr(dbmgmt_backup_errmsg(b), "intruder.ibd"));
    assert_int_equal(support_sh("rm %s/mariadb-backup/%s/pitr/intruder.ibd", bkdir, incr_id), 0);
    assert_int_equal(dbmgmt_backup_verify(b, incr_id), DBMGMT_OK);
    int64_t failures = dbmgmt_backup_metric(b, DBMGMT_BACKUP_FAILURES);

    /* keep-last 1 keeps the incr, and so the full it needs */
    dbmgmt_retention *ret = NULL;
    assert_int_equal(dbmgmt_retention_new(&ret), DBMGMT_OK);
    assert_int_equal(dbmgmt_retention_set_keep(ret, DBMGMT_KEEP_LAST, 1), DBMGMT_OK);
    assert_int_equal(dbmgmt_backup_set_retention(b, ret), DBMGMT_OK);
    dbmgmt_retention_free(ret);
    assert_int_equal(dbmgmt_backup_prune(b, 0), 0);
    assert_int_equal(dbmgmt_backup_metric(b, DBMGMT_BACKUP_COUNT), 2);
    char mbdir[192], bldir[192];
    snprintf(mbdir, sizeof mbdir, "%s/mariadb-backup", bkdir);
    snprintf(bldir, sizeof bldir, "%s/binlog", bkdir);
    assert_true(exists_in(mbdir, full_id));
    /* day 2: a new full, kept alone; the old chain and its binlogs go */
    int32_t n = dbmgmt_backup_tick(b, T0 + DAY + 1 * HOUR);
    if (n != 1 || dbmgmt_backup_metric(b, DBMGMT_BACKUP_FAILURES) != failures)
        fail_msg("tick of day 2: %d: %s", n, dbmgmt_backup_errmsg(b));
    assert_int_equal(dbmgmt_backup_metric(b, DBMGMT_BACKUP_COUNT), 1);
    assert_false(exists_in(mbdir, full_id));
    assert_false(exists_in(mbdir, incr_id));
    char full2_binlog[64];
    support_backup_attr(b, "full", 0, "binlog_file", full2_binlog, sizeof full2_binlog);
    assert_true(*full2_binlog);
    assert_int_equal(count_files(bldir, NULL, full2_binlog), 0);
    assert_true(exists_in(bldir, full2_binlog) || count_files(bldir, "mysql-bin.", NULL) > 0);
    dbmgmt_backup_free(b);

    assert_int_equal(dbmgmt_set_logger(NULL, NULL, DBMGMT_LOG_INFO), DBMGMT_OK);
    assert_true(log_lines > 0);
    assert_int_equal(log_leaks, 0);
}

static int setup(void **state)
{
    (void)state;
    const char *missing = geteuid() != 0 ? "root (the scratch server runs as mysql)"
                          : system("command -v mariadbd >/dev/null || "
                                   "test -x /usr/sbin/mariadbd") != 0
                              ? "mariadbd (mariadb-server)"
                          : system("command -v mariadb-backup >/dev/null") != 0
                              ? "mariadb-backup (the Debian package)"
                          : system("command -v mariadb-binlog >/dev/null") != 0
                              ? "mariadb-binlog (mariadb-client)"
                              : NULL;
    support_require(missing);
    if (support_scratch_top(top, sizeof top, "dbmgmt-pitr-my-") != 0)
        return -1;
    snprintf(mydir, sizeof mydir, "%s/my", top);
    snprintf(bkdir, sizeof bkdir, "%s/backups", top);
    support_random_password(password, 24);
    port = support_free_port();
    snprintf(dsn, sizeof dsn, "mysql://root:%s@127.0.0.1:%d/pitr", password, port);
    setenv("MDBSCRATCH_PW", password, 1);
    int rc = support_sh("%s init %s %d", script, mydir, port);
    unsetenv("MDBSCRATCH_PW");
    if (rc != 0) {
        support_sh("cat %s/install.log %s/data.err >&2", mydir, mydir);
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    support_sh("%s stop %s/data %s; for r in r1 r2 r3; do %s stop %s/$r %s/sock; done", script,
               mydir, mydir, script, top, top);
    if (!getenv("DBMGMT_TEST_KEEP") && strncmp(top, "/tmp/dbmgmt-pitr-my-", 20) == 0)
        support_sh("rm -rf %s", top);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s PATH/mariadb_scratch.sh [PATH/dbmgmt]\n", argv[0]);
        return 2;
    }
    snprintf(script, sizeof script, "%s", argv[1]);
    if (argc > 2) /* the CLI's restore --to-time too */
        snprintf(cli, sizeof cli, "%s", argv[2]);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_incr_by_schedule_restore_to_time_verify_prune),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
