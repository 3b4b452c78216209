/*
 * Anonymised snapshots (issue 22, docs/snapshots.md) on one engine: SQLite
 * without DBMGMT_TEST_DSN, else the server it names (tests/engines/
 * run_engine.sh). A source with personal columns, a backup through
 * dbmgmt_backup, then snapshots: every masked column differs on every row,
 * keep columns are equal, hashes are stable for a key and change with it,
 * a personal-looking column without a rule refuses (no target, no
 * scratch left), and the key reaches no tool's argv or environment and no
 * message.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "dbmgmt.h"
#include "support/child_watch.h"
#include "support/engine.h"
#include "support/files.h"

#define NROWS 1100 /* three keyset batches of 500 */
#define NCOLS 6

static const char *base_dsn; /* NULL: SQLite */
static dbmgmt_engine engine;
static char dir[128], backup_dir[256];
static support_scratch_db src;
static const char key1[] = "first-mask-key-Q7v";
static const char key2[] = "second-mask-key-Z3k";
static char targets[16][64];
static int ntargets;

typedef struct table_rows {
    char v[NROWS][NCOLS][100];
    int n;
} table_rows;

static table_rows source_rows, t1_rows, tmp_rows;

static void target_dsn(char *out, size_t cap, const char *name)
{
    char db[64];
    snprintf(db, sizeof db, "dbmgmt_snapt_%d_%s", (int)getpid(), name);
    if (!base_dsn)
        snprintf(out, cap, "sqlite://%s/%s.sqlite", dir, db);
    else
        support_dsn_with_database(out, cap, base_dsn, db);
    if (ntargets < 16)
        snprintf(targets[ntargets++], sizeof targets[0], "%s", db);
}

static void read_people(const char *dsn, table_rows *t)
{
    dbmgmt_conn *c = NULL;
    assert_int_equal(dbmgmt_conn_open(&c, dsn), DBMGMT_OK);
    dbmgmt_result *r = NULL;
    assert_int_equal(dbmgmt_conn_query(c, &r,
                                       "SELECT id, full_name, email, phone, birth_date, score "
                                       "FROM people ORDER BY id",
                                       0, NULL),
                     DBMGMT_OK);
    t->n = 0;
    while (dbmgmt_result_next(r) == 1) {
        assert_true(t->n < NROWS);
        for (int k = 0; k < NCOLS; k++) {
            const char *v = dbmgmt_result_is_null(r, k) ? "(null)" : dbmgmt_result_text(r, k);
            snprintf(t->v[t->n][k], sizeof t->v[0][0], "%s", v);
        }
        t->n++;
    }
    dbmgmt_result_free(r);
    dbmgmt_conn_close(c);
}

static void write_file(const char *name, const char *text, mode_t mode)
{
    support_write_file(dir, name, text);
    char path[400];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    assert_int_equal(chmod(path, mode), 0);
}

static const char rules_all[] = "# every personal column of the test schema\n"
                                "people.full_name = hash\n"
                                "people.email = email   # joins by e-mail still work\n"
                                "people.phone = phone\n"
                                "people.birth_date = hash\n"
                                "people.score = keep\n"
                                "\n"
                                "orders.customer_email = email\n";

static int progress_calls;
static int on_progress(void *userdata, const char *table, int64_t masked, int64_t total)
{
    (void)userdata;
    assert_non_null(table);
    assert_true(masked > 0 && masked <= total);
    progress_calls++;
    return 0;
}

/* Run a snapshot; the status, and the message copied into msg. */
static int snapshot(const char *target, const char *rules, const char *key, char *msg,
                    size_t cap, char *json, size_t jcap)
{
    char path[400];
    dbmgmt_snapshot *s = NULL;
    assert_int_equal(dbmgmt_snapshot_new(&s, backup_dir), DBMGMT_OK);
    snprintf(path, sizeof path, "%s/%s", dir, rules);
    assert_int_equal(dbmgmt_snapshot_set_rules_file(s, path), DBMGMT_OK);
    snprintf(path, sizeof path, "%s/%s", dir, key);
    assert_int_equal(dbmgmt_snapshot_set_key_file(s, path), DBMGMT_OK);
    assert_int_equal(dbmgmt_snapshot_set_progress(s, on_progress, NULL), DBMGMT_OK);
    int rc = dbmgmt_snapshot_run(s, target);
    if (msg)
        snprintf(msg, cap, "%s", dbmgmt_snapshot_errmsg(s));
    if (json)
        snprintf(json, jcap, "%s", dbmgmt_snapshot_result_json(s));
    if (rc != DBMGMT_OK)
        printf("snapshot: %s\n", dbmgmt_snapshot_errmsg(s));
    dbmgmt_snapshot_free(s);
    return rc;
}

static int64_t scratch_left(void)
{
    if (!base_dsn) {
        DIR *d = opendir(dir);
        assert_non_null(d);
        int64_t n = 0;
        struct dirent *e;
        while ((e = readdir(d)))
            n += strstr(e->d_name, ".dbmgmt-snapshot-") != NULL;
        closedir(d);
        return n;
    }
    return support_query_int_on(
        base_dsn, engine == DBMGMT_ENGINE_POSTGRES
                      ? "SELECT count(*) FROM pg_database WHERE left(datname, 12) = 'dbmgmt_snap_'"
                      : "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE "
                        "LEFT(SCHEMA_NAME, 12) = 'dbmgmt_snap_'");
}

static int target_exists(const char *dsn, const char *db)
{
    char sql[300];
    if (!base_dsn) {
        struct stat st;
        return stat(dsn + strlen("sqlite://"), &st) == 0;
    }
    if (engine == DBMGMT_ENGINE_POSTGRES)
        snprintf(sql, sizeof sql, "SELECT count(*) FROM pg_database WHERE datname = '%s'", db);
    else
        snprintf(sql, sizeof sql,
                 "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = '%s'", db);
    return support_query_int_on(base_dsn, sql) > 0;
}

static void test_every_masked_column_differs(void **state)
{
    (void)state;
    char dsn[1024], msg[1024], json[4096];
    target_dsn(dsn, sizeof dsn, "t1");
    progress_calls = 0;
    assert_int_equal(snapshot(dsn, "rules_all", "key1", msg, sizeof msg, json, sizeof json),
                     DBMGMT_OK);
    assert_true(progress_calls >= 6); /* three batches in each of two tables */
    assert_non_null(strstr(json, "\"total_masked_rows\":2200"));
    read_people(dsn, &t1_rows);
    assert_int_equal(t1_rows.n, source_rows.n);
    for (int i = 0; i < t1_rows.n; i++) {
        assert_string_equal(t1_rows.v[i][0], source_rows.v[i][0]); /* the key */
        for (int k = 1; k <= 4; k++)
            if (!strcmp(t1_rows.v[i][k], source_rows.v[i][k]))
                fail_msg("row %d column %d kept its value %s", i, k, source_rows.v[i][k]);
        assert_string_equal(t1_rows.v[i][5], source_rows.v[i][5]); /* keep */
        assert_non_null(strstr(t1_rows.v[i][2], "@example.com"));
        assert_int_equal(strncmp(t1_rows.v[i][3], "+1", 2), 0);
        assert_non_null(strstr(t1_rows.v[i][3], "55501"));
        assert_int_equal(strlen(t1_rows.v[i][4]), 10); /* a date */
    }
    /* joins by e-mail still work: the same input gives the same fake address */
    dbmgmt_conn *c = NULL;
    assert_int_equal(dbmgmt_conn_open(&c, dsn), DBMGMT_OK);
    assert_int_equal(support_query_int(c, "SELECT COUNT(*) FROM orders o JOIN people p ON "
                                          "o.customer_email = p.email AND o.id = p.id"),
                     NROWS);
    assert_int_equal(support_query_int(c, "SELECT COUNT(*) FROM orders"), NROWS);
    dbmgmt_conn_close(c);
    assert_int_equal(scratch_left(), 0);
    if (!base_dsn) { /* the file: private, and no source value left in it */
        const char *path = dsn + strlen("sqlite://");
        struct stat st;
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(st.st_mode & 0777, 0600);
        FILE *f = fopen(path, "rb");
        assert_non_null(f);
        static char buf[4 << 20];
        size_t n = fread(buf, 1, sizeof buf, f);
        fclose(f);
        assert_null(memmem(buf, n, "person17@mail.test", 18));
        assert_null(memmem(buf, n, "Person 17 Example", 17));
    }
    /* a target that exists and is not empty is refused by name */
    assert_int_equal(snapshot(dsn, "rules_all", "key1", msg, sizeof msg, NULL, 0),
                     DBMGMT_ERR_POLICY);
    assert_non_null(strstr(msg, "not empty"));
    assert_non_null(strstr(msg, targets[ntargets - 1]));
    assert_int_equal(scratch_left(), 0);
}

static void test_hashes_stable_and_keyed(void **state)
{
    (void)state;
    char dsn[1024];
    target_dsn(dsn, sizeof dsn, "t2");
    assert_int_equal(snapshot(dsn, "rules_all", "key1", NULL, 0, NULL, 0), DBMGMT_OK);
    read_people(dsn, &tmp_rows);
    assert_int_equal(tmp_rows.n, t1_rows.n);
    assert_memory_equal(&tmp_rows.v, &t1_rows.v, sizeof tmp_rows.v);
    target_dsn(dsn, sizeof dsn, "t3");
    assert_int_equal(snapshot(dsn, "rules_all", "key2", NULL, 0, NULL, 0), DBMGMT_OK);
    read_people(dsn, &tmp_rows);
    assert_int_equal(tmp_rows.n, t1_rows.n);
    for (int i = 0; i < tmp_rows.n; i++)
        for (int k = 1; k <= 2; k++)
            if (!strcmp(tmp_rows.v[i][k], t1_rows.v[i][k]))
                fail_msg("row %d column %d: the same value under two keys", i, k);
}

static void test_personal_without_rule_refused(void **state)
{
    (void)state;
    char dsn[1024], msg[1024];
    target_dsn(dsn, sizeof dsn, "t4");
    assert_int_equal(snapshot(dsn, "rules_missing", "key1", msg, sizeof msg, NULL, 0),
                     DBMGMT_ERR_POLICY);
    assert_non_null(strstr(msg, "people.phone"));
    assert_non_null(strstr(msg, "orders.customer_email"));
    assert_null(strstr(msg, "people.email")); /* it has its rule */
    assert_false(target_exists(dsn, targets[ntargets - 1]));
    assert_int_equal(scratch_left(), 0);
    /* an unknown column names the rules file and line */
    assert_int_equal(snapshot(dsn, "rules_unknown", "key1", msg, sizeof msg, NULL, 0),
                     DBMGMT_ERR_NOTFOUND);
    assert_non_null(strstr(msg, "rules_unknown:3"));
    assert_non_null(strstr(msg, "nickname"));
    assert_false(target_exists(dsn, targets[ntargets - 1]));
    assert_int_equal(scratch_left(), 0);
}

static void test_key_never_in_argv_or_messages(void **state)
{
    (void)state;
    static const char *const tools[] = {"pg_restore", "psql", "mysql", "mariadb", NULL};
    support_secret secrets[] = {{key1, strlen(key1)}};
    support_child_watch *w = support_child_watch_start(tools, 1, 1, secrets, 1);
    char dsn[1024], msg[1024], json[4096];
    target_dsn(dsn, sizeof dsn, "t5");
    assert_int_equal(snapshot(dsn, "rules_all", "key1", msg, sizeof msg, json, sizeof json),
                     DBMGMT_OK);
    support_watch_result res;
    support_child_watch_stop(w, &res);
    assert_int_equal(res.leaks, 0);
    /* the restore's tool was watched: psql or mariadb through PATH, each run
     * logged by its wrapper however short; pg_restore by its full path */
    if (base_dsn)
        assert_true(res.seen > 0);
    if (base_dsn && !strncmp(base_dsn, "mysql", 5))
        assert_true(res.wrapped > 0);
    assert_null(strstr(json, key1));
    /* a failing run (existing target) says nothing of the key either */
    assert_int_equal(snapshot(dsn, "rules_all", "key1", msg, sizeof msg, NULL, 0),
                     DBMGMT_ERR_POLICY);
    assert_null(strstr(msg, key1));
    assert_null(strstr(dbmgmt_errmsg(), key1));
}

/* An encrypted backup (docs/backup-encryption.md) is snapshot with its key,
 * and refused without it. */
static void test_encrypted_backup_needs_its_key(void **state)
{
    (void)state;
    char enc_dir[300], bkey[300], path[400], dsn[1024];
    snprintf(enc_dir, sizeof enc_dir, "%s/backups-enc", dir);
    snprintf(bkey, sizeof bkey, "%s/bkey", dir);
    write_file("bkey", "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n",
               0600);
    dbmgmt_backup *b = NULL;
    assert_int_equal(dbmgmt_backup_new(&b, src.dsn, enc_dir), DBMGMT_OK);
    int rc = dbmgmt_backup_set_key_file(b, bkey);
    if (rc == DBMGMT_ERR_UNSUPPORTED) {
        dbmgmt_backup_free(b);
        if (getenv("CI") && !strcmp(getenv("CI"), "true"))
            fail_msg("CI=true and libdbmgmt was built without libsodium");
        skip();
    }
    assert_int_equal(rc, DBMGMT_OK);
    assert_int_equal(dbmgmt_backup_run_now(b, NULL), DBMGMT_OK);
    dbmgmt_backup_free(b);
    for (int with_key = 0; with_key < 2; with_key++) {
        target_dsn(dsn, sizeof dsn, with_key ? "enc_key" : "enc_nokey");
        dbmgmt_snapshot *s = NULL;
        assert_int_equal(dbmgmt_snapshot_new(&s, enc_dir), DBMGMT_OK);
        snprintf(path, sizeof path, "%s/rules_all", dir);
        assert_int_equal(dbmgmt_snapshot_set_rules_file(s, path), DBMGMT_OK);
        snprintf(path, sizeof path, "%s/key1", dir);
        assert_int_equal(dbmgmt_snapshot_set_key_file(s, path), DBMGMT_OK);
        if (with_key)
            assert_int_equal(dbmgmt_snapshot_set_backup_key_file(s, bkey), DBMGMT_OK);
        rc = dbmgmt_snapshot_run(s, dsn);
        if (with_key && rc != DBMGMT_OK)
            fail_msg("snapshot of an encrypted backup: %s", dbmgmt_snapshot_errmsg(s));
        if (!with_key)
            printf("without the backup key: %s\n", dbmgmt_snapshot_errmsg(s));
        dbmgmt_snapshot_free(s);
        if (!with_key) {
            assert_int_not_equal(rc, DBMGMT_OK);
            assert_false(target_exists(dsn, targets[ntargets - 1]));
        }
    }
    read_people(dsn, &tmp_rows); /* the same masked values as from the plain backup */
    assert_int_equal(tmp_rows.n, t1_rows.n);
    assert_memory_equal(&tmp_rows.v, &t1_rows.v, sizeof tmp_rows.v);
    assert_int_equal(scratch_left(), 0);
}

/* PostgreSQL: a table in a schema the snapshot does not mask refuses it. */
static void test_postgres_table_in_other_schema_refused(void **state)
{
    (void)state;
    if (engine != DBMGMT_ENGINE_POSTGRES)
        skip();
    support_scratch_db db2;
    char bdir[300], dsn[1024], msg[1024];
    support_scratch_db_create(&db2, base_dsn, "dbmgmt_snapo", NULL);
    support_exec_on(db2.dsn, "CREATE TABLE people (id INTEGER PRIMARY KEY, score INTEGER);"
                             "CREATE SCHEMA crm; CREATE TABLE crm.contacts (id INTEGER "
                             "PRIMARY KEY, phone TEXT); INSERT INTO crm.contacts VALUES "
                             "(1, '+4411')");
    snprintf(bdir, sizeof bdir, "%s/backups-other", dir);
    dbmgmt_backup *b = NULL;
    assert_int_equal(dbmgmt_backup_new(&b, db2.dsn, bdir), DBMGMT_OK);
    assert_int_equal(dbmgmt_backup_run_now(b, NULL), DBMGMT_OK);
    dbmgmt_backup_free(b);
    dbmgmt_snapshot *s = NULL;
    char path[400];
    assert_int_equal(dbmgmt_snapshot_new(&s, bdir), DBMGMT_OK);
    write_file("rules_other", "people.score = keep\n", 0644);
    snprintf(path, sizeof path, "%s/rules_other", dir);
    assert_int_equal(dbmgmt_snapshot_set_rules_file(s, path), DBMGMT_OK);
    target_dsn(dsn, sizeof dsn, "other");
    assert_int_equal(dbmgmt_snapshot_run(s, dsn), DBMGMT_ERR_POLICY);
    snprintf(msg, sizeof msg, "%s", dbmgmt_snapshot_errmsg(s));
    dbmgmt_snapshot_free(s);
    assert_non_null(strstr(msg, "crm.contacts"));
    assert_false(target_exists(dsn, targets[ntargets - 1]));
    assert_int_equal(scratch_left(), 0);
    support_scratch_db_drop(&db2, base_dsn);
}

static void populate(void)
{
    dbmgmt_conn *c = NULL;
    assert_int_equal(dbmgmt_conn_open(&c, src.dsn), DBMGMT_OK);
    support_exec_ok(c, "CREATE TABLE people (id INTEGER PRIMARY KEY, full_name VARCHAR(60) "
                       "NOT NULL, email VARCHAR(80) NOT NULL, phone VARCHAR(20), birth_date "
                       "DATE, score INTEGER)");
    support_exec_ok(c, "CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_email "
                       "VARCHAR(80), amount INTEGER)");
    static char sql[NROWS * 160];
    for (int t = 0; t < 2; t++) {
        size_t n = (size_t)snprintf(sql, sizeof sql, "%s",
                                    t ? "INSERT INTO orders VALUES "
                                      : "INSERT INTO people VALUES ");
        for (int i = 1; i <= NROWS; i++) {
            if (t)
                n += (size_t)snprintf(sql + n, sizeof sql - n, "%s(%d, 'person%d@mail.test', %d)",
                                      i > 1 ? "," : "", i, i, i * 3);
            else
                n += (size_t)snprintf(sql + n, sizeof sql - n,
                                      "%s(%d, 'Person %d Example', 'person%d@mail.test', "
                                      "'+4420700%05d', '%04d-%02d-%02d', %d)",
                                      i > 1 ? "," : "", i, i, i, i, 1950 + i % 50, 1 + i % 12,
                                      1 + i % 28, i * 7);
        }
        support_exec_ok(c, sql);
    }
    dbmgmt_conn_close(c);
}

static int setup(void **state)
{
    (void)state;
    assert_int_equal(support_scratch_dir(dir, sizeof dir, "dbmgmt-snap"), 0);
    snprintf(backup_dir, sizeof backup_dir, "%s/backups", dir);
    support_scratch_db_create(&src, base_dsn ? base_dsn : "sqlite::memory:", "dbmgmt_snaps", dir);
    populate();
    read_people(src.dsn, &source_rows);
    assert_int_equal(source_rows.n, NROWS);
    dbmgmt_backup *b = NULL;
    assert_int_equal(dbmgmt_backup_new(&b, src.dsn, backup_dir), DBMGMT_OK);
    assert_int_equal(dbmgmt_backup_run_now(b, NULL), DBMGMT_OK);
    dbmgmt_backup_free(b);
    write_file("rules_all", rules_all, 0644);
    write_file("rules_missing", "people.full_name = hash\npeople.email = email\n"
                                "people.birth_date = null\npeople.score = keep\n", 0644);
    write_file("rules_unknown", "people.full_name = hash\n# comment\npeople.nickname = hash\n",
               0644);
    write_file("key1", key1, 0600);
    write_file("key2", key2, 0600);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    for (int i = 0; base_dsn && i < ntargets; i++) {
        char sql[1200];
        snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s", targets[i]);
        support_exec_on(base_dsn, sql);
    }
    support_scratch_db_drop(&src, base_dsn);
    assert_int_equal(support_remove_tree(dir), 0);
    return 0;
}

int main(void)
{
    base_dsn = getenv("DBMGMT_TEST_DSN");
    if (base_dsn && !strstr(base_dsn, "://"))
        base_dsn = NULL;
    engine = base_dsn ? support_engine_of_dsn(base_dsn) : DBMGMT_ENGINE_SQLITE;
    if (!dbmgmt_engine_available(engine)) {
        printf("libdbmgmt was built without the %s driver: skipped\n",
               dbmgmt_engine_name(engine));
        return getenv("CI") && !strcmp(getenv("CI"), "true") ? 1 : 77;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_masked_column_differs),
        cmocka_unit_test(test_hashes_stable_and_keyed),
        cmocka_unit_test(test_personal_without_rule_refused),
        cmocka_unit_test(test_key_never_in_argv_or_messages),
        cmocka_unit_test(test_encrypted_backup_needs_its_key),
        cmocka_unit_test(test_postgres_table_in_other_schema_refused),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
