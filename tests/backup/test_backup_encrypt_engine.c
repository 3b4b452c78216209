/*
 * Encrypted dumps of a server database (issue 21), run once per engine by
 * tests/engines/run_engine.sh with DBMGMT_TEST_DSN: pg_dump -Fc or
 * mysqldump output encrypted with the key from a key file, verified
 * (pg_restore --list / the dump's trailer on the decrypted content) and
 * restored into a new database with equal rows; a flipped byte (with the
 * catalog altered to match) fails verify and the restore target stays
 * empty; the key is never on a child's command line or in its environment
 * (a watcher reads /proc/PID/cmdline and environ of every child), in the
 * captured log, the error messages or the list JSON.
 */
#include <fcntl.h>
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

#include <dbmgmt.h>

#include "encrypt_common.h"
#include "support/child_watch.h"
#include "support/engine.h"
#include "support/files.h"

static const char *base_dsn;
static dbmgmt_engine engine;

/* The dump and restore tools, whose command lines (and environments) are
 * watched for secrets while they run (tests/support/child_watch.h). */
static const char *const dump_tools[] = {"pg_dump", "pg_restore", "mysqldump", "mariadb-dump",
                                         "mysql", "mariadb", NULL};


/* ---- tests --------------------------------------------------------------------------- */

static void assert_no_secret_in(const char *what, const char *text)
{
    if (enc_has_secret(text, strlen(text)))
        fail_msg("the key appears in %s", what);
}

static void fill_source(const char *dsn)
{
    support_exec_on(dsn, engine == DBMGMT_ENGINE_POSTGRES
                     ? "CREATE TABLE items(id SERIAL PRIMARY KEY, pad TEXT NOT NULL)"
                     : "CREATE TABLE items(id INT AUTO_INCREMENT PRIMARY KEY, pad TEXT NOT NULL)");
    support_exec_on(dsn, "CREATE TABLE digits(d INT NOT NULL);"
                 "INSERT INTO digits VALUES (0),(1),(2),(3),(4),(5),(6),(7),(8),(9);"
                 "CREATE TABLE notes(id INT PRIMARY KEY, body TEXT);"
                 "INSERT INTO notes VALUES (1, 'heron-confidential'), (2, NULL), (3, 'x');"
                 "INSERT INTO items(pad) SELECT REPEAT('y', 100) FROM digits a, digits b, "
                 "digits c, digits d");
}

static int64_t table_count(const char *dsn)
{
    return support_query_int_on(dsn, engine == DBMGMT_ENGINE_POSTGRES
                                    ? "SELECT COUNT(*) FROM pg_tables WHERE schemaname = 'public'"
                                    : "SELECT COUNT(*) FROM information_schema.TABLES "
                                      "WHERE TABLE_SCHEMA = DATABASE()");
}

static void test_encrypted_dump_round_trip_and_tamper(void **state)
{
    (void)state;
    support_scratch_db src, dst;
    support_scratch_db_create(&src, base_dsn, "dbmgmt_bkenc_src", NULL);
    fill_source(src.dsn);
    support_scratch_db_create(&dst, base_dsn, "dbmgmt_bkenc_dst", NULL);
    char dir[64], kf[128];
    assert_int_equal(support_scratch_dir(dir, sizeof dir, "dbmgmt-bkenceng"), 0);
    snprintf(kf, sizeof kf, "%s/backup.key", dir);
    int fd = open(kf, O_WRONLY | O_CREAT | O_EXCL, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, enc_key_hex, 64), 64);
    close(fd);
    char backups[128];
    snprintf(backups, sizeof backups, "%s/backups", dir);
    dbmgmt_backup *b = NULL;
    assert_int_equal(dbmgmt_backup_new(&b, src.dsn, backups), DBMGMT_OK);
    assert_int_equal(dbmgmt_backup_set_key_file(b, kf), DBMGMT_OK);

    const support_secret secrets[] = {
        {enc_key, sizeof enc_key}, {enc_key_hex, 64}, {enc_key_HEX, 64}};
    support_child_watch *w = support_child_watch_start(dump_tools, 1, 1, secrets, 3);
    char *id = NULL;
    int rc = dbmgmt_backup_run_now(b, &id); /* verify included: the tool checks the plaintext */
    support_watch_result seen;
    support_child_watch_peek(w, &seen);
    if (rc == DBMGMT_OK)
        rc = dbmgmt_backup_verify(b, id);
    if (rc == DBMGMT_OK)
        rc = dbmgmt_backup_restore(b, id, dst.dsn);
    support_watch_result all;
    support_child_watch_stop(w, &all);
    if (rc != DBMGMT_OK)
        fail_msg("backup, verify or restore: %s", dbmgmt_backup_errmsg(b));
    assert_true(seen.seen > 0);
    assert_true(all.seen > seen.seen);
    if (all.leaks)
        fail_msg("the key was in %s", all.leaked);
    assert_int_equal(support_query_int_on(dst.dsn, "SELECT COUNT(*) FROM items"), 10000);
    assert_int_equal(support_query_int_on(dst.dsn, "SELECT COUNT(*) FROM notes WHERE body = "
                                                   "'heron-confidential'"), 1);

    char path[300];
    enc_backup_path(b, backups, id, path, sizeof path);
    assert_non_null(strstr(path, engine == DBMGMT_ENGINE_POSTGRES ? ".pgdump.enc" : ".sql.enc"));
    size_t n = 0;
    unsigned char *orig = enc_read_file(path, &n);
    assert_memory_equal(orig, "DBMGMTEN", 8);
    assert_null(memmem(orig, n, "heron-confidential", 18));
    assert_null(memmem(orig, n, "CREATE TABLE", 12));
    assert_false(enc_has_secret(orig, n));
    enc_assert_no_leftovers(backups);

    /* A flipped byte, the catalog altered to match: refused, the target untouched. */
    support_scratch_db empty;
    support_scratch_db_create(&empty, base_dsn, "dbmgmt_bkenc_empty", NULL);
    size_t positions[] = {20, 60, n / 2, n - 1};
    for (size_t i = 0; i < sizeof positions / sizeof positions[0]; i++) {
        orig[positions[i]] ^= 0x04;
        enc_write_file(path, orig, n);
        enc_catalog_follow_file(backups, id, path);
        assert_int_equal(dbmgmt_backup_verify(b, id), DBMGMT_ERR_CHECKSUM);
        assert_non_null(strstr(dbmgmt_backup_errmsg(b), id));
        assert_no_secret_in("an error message", dbmgmt_backup_errmsg(b));
        assert_int_equal(dbmgmt_backup_restore(b, id, empty.dsn), DBMGMT_ERR_CHECKSUM);
        assert_int_equal(table_count(empty.dsn), 0);
        orig[positions[i]] ^= 0x04;
    }
    enc_write_file(path, orig, n);
    enc_catalog_follow_file(backups, id, path);
    assert_int_equal(dbmgmt_backup_verify(b, id), DBMGMT_OK);
    free(orig);
    enc_assert_no_leftovers(backups);

    char *json = dbmgmt_backup_list_json(b);
    assert_non_null(strstr(json, "\"encryption\":\"secretstream-xchacha20poly1305\""));
    assert_no_secret_in("the list JSON", json);
    dbmgmt_free(json);
    dbmgmt_free(id);
    dbmgmt_backup_free(b);
    char cat[300];
    snprintf(cat, sizeof cat, "%s/catalog.db", backups);
    assert_false(enc_file_has_secret(cat));
    assert_no_secret_in("the log", enc_log());
    assert_int_equal(support_remove_tree(dir), 0);
    support_scratch_db_drop(&src, base_dsn);
    support_scratch_db_drop(&dst, base_dsn);
    support_scratch_db_drop(&empty, base_dsn);
}

int main(void)
{
    base_dsn = getenv("DBMGMT_TEST_DSN");
    if (!base_dsn || !strstr(base_dsn, "://")) {
        printf("DBMGMT_TEST_DSN is not a server DSN: skipped\n");
        return 77;
    }
    engine = strncmp(base_dsn, "postgres", 8) == 0 ? DBMGMT_ENGINE_POSTGRES : DBMGMT_ENGINE_MYSQL;
    int status = enc_init();
    if (status != 0)
        return status;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_encrypted_dump_round_trip_and_tamper),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
