/*
 * Encryption at rest of SQLite backups (issue 21, docs/backup-encryption.md),
 * through the public API: an encrypted backup is unreadable by the sqlite3
 * shell and restores with the key into identical rows; one flipped bit
 * anywhere (header, key id, secretstream header, first, middle and last
 * chunk, the last byte, every Nth byte of a small backup) fails verify and
 * is never restored, the target untouched, also when the catalog was
 * altered to match the file; wrong key, no key, truncation and trailing
 * bytes fail with a clear message; key files are refused when others may
 * read them; the key never appears in the log, an error, the catalog or
 * the list JSON; no plaintext is left in the backup folder.
 */
#include <dirent.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include <dbmgmt.h>

#include "encrypt_common.h"
#include "support/engine.h"
#include "support/files.h"

#define HEADER 56           /* fixed part 32 + secretstream header 24 */
#define CHUNK_CT (65536 + 17) /* a full chunk's ciphertext */
#define NOTE "pelican-confidential-note"

static const char *sqlite3_shell;

typedef struct fixture {
    char dir[64];
    char db[128];
    char dsn[160];
    char backups[128];
    char target[160];
    char target_dsn[200];
    dbmgmt_backup *b;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    if (support_scratch_dir(f->dir, sizeof f->dir, "dbmgmt-bkenc") != 0)
        return -1;
    snprintf(f->db, sizeof f->db, "%s/app.db", f->dir);
    snprintf(f->dsn, sizeof f->dsn, "sqlite://%s", f->db);
    snprintf(f->backups, sizeof f->backups, "%s/backups", f->dir);
    snprintf(f->target, sizeof f->target, "%s/target.db", f->dir);
    snprintf(f->target_dsn, sizeof f->target_dsn, "sqlite://%s", f->target);
    /* about 2.6 MB: some 40 chunks */
    support_exec_on(f->dsn, "CREATE TABLE items(id INTEGER PRIMARY KEY, pad TEXT NOT NULL);"
                    "CREATE TABLE notes(id INTEGER PRIMARY KEY, body TEXT);"
                    "INSERT INTO notes(body) VALUES ('" NOTE "'), (NULL), ('it''s');"
                    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 5000)"
                    " INSERT INTO items(pad) SELECT printf('%.500c', 'x') || i FROM n;");
    support_exec_on(f->target_dsn, "CREATE TABLE sentinel(v TEXT); INSERT INTO sentinel "
                    "VALUES ('untouched')");
    if (dbmgmt_backup_new(&f->b, f->dsn, f->backups) != DBMGMT_OK)
        return -1;
    if (dbmgmt_backup_set_key(f->b, enc_key, sizeof enc_key) != DBMGMT_OK)
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

/* Run the sqlite3 shell on file with sql; its exit status, out its output. */
static int run_shell(const char *file, const char *sql, char *out, size_t cap)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(fds[1], 1);
        dup2(fds[1], 2);
        close(fds[0]);
        execl(sqlite3_shell, "sqlite3", "-readonly", file, sql, (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    size_t n = 0;
    ssize_t r;
    while (n + 1 < cap && (r = read(fds[0], out + n, cap - 1 - n)) > 0)
        n += (size_t)r;
    out[n] = '\0';
    close(fds[0]);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

/* Every row of items and notes of a equals b's (b attached to a). */
static void assert_same_rows(const char *a, const char *b)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open_v2(a, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    char sql[600];
    snprintf(sql, sizeof sql, "ATTACH '%s' AS other", b);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    static const char *const checks[] = {
        "SELECT (SELECT COUNT(*) FROM main.items) = (SELECT COUNT(*) FROM other.items) AND "
        "NOT EXISTS (SELECT * FROM main.items EXCEPT SELECT * FROM other.items)",
        "SELECT (SELECT COUNT(*) FROM main.notes) = (SELECT COUNT(*) FROM other.notes) AND "
        "NOT EXISTS (SELECT * FROM main.notes EXCEPT SELECT * FROM other.notes)",
    };
    for (size_t i = 0; i < 2; i++) {
        sqlite3_stmt *st = NULL;
        assert_int_equal(sqlite3_prepare_v2(db, checks[i], -1, &st, NULL), SQLITE_OK);
        assert_int_equal(sqlite3_step(st), SQLITE_ROW);
        assert_int_equal(sqlite3_column_int(st, 0), 1);
        sqlite3_finalize(st);
    }
    sqlite3_close(db);
}

static void assert_no_secret_in(const char *what, const char *text)
{
    if (enc_has_secret(text, strlen(text)))
        fail_msg("the key appears in %s", what);
}

static char *take_backup(fixture *f, char *path, size_t cap)
{
    char *id = NULL;
    if (dbmgmt_backup_run_now(f->b, &id) != DBMGMT_OK)
        fail_msg("backup: %s", dbmgmt_backup_errmsg(f->b));
    enc_backup_path(f->b, f->backups, id, path, cap);
    return id;
}

/* ---- round trip ----------------------------------------------------------------------- */

static void test_encrypted_backup_unreadable_without_key_restores_with_it(void **state)
{
    fixture *f = *state;
    char path[300];
    char *id = take_backup(f, path, sizeof path);
    assert_non_null(strstr(path, ".sqlite.enc"));
    enc_assert_no_leftovers(f->backups);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);

    size_t n = 0;
    unsigned char *data = enc_read_file(path, &n);
    assert_true(n > HEADER + 30 * CHUNK_CT);
    assert_memory_equal(data, "DBMGMTEN", 8);
    assert_null(memmem(data, n, "SQLite format 3", 15));
    assert_null(memmem(data, n, NOTE, strlen(NOTE)));
    assert_false(enc_has_secret(data, n));
    free(data);

    /* The sqlite3 shell cannot read it and shows no data. */
    char out[4096];
    int rc = run_shell(path, "SELECT body FROM notes", out, sizeof out);
    assert_int_not_equal(rc, 0);
    if (!strstr(out, "not a database"))
        fail_msg("sqlite3 said: %s", out);
    assert_null(strstr(out, NOTE));
    /* The shell reads the source (so the check above can fail). */
    assert_int_equal(run_shell(f->db, "SELECT body FROM notes WHERE id = 1", out, sizeof out), 0);
    assert_non_null(strstr(out, NOTE));

    /* With the key: verify, a drill, a restore with identical rows. */
    assert_int_equal(dbmgmt_backup_verify(f->b, id), DBMGMT_OK);
    assert_int_equal(dbmgmt_backup_restore(f->b, id, NULL), DBMGMT_OK);
    unlink(f->target);
    assert_int_equal(dbmgmt_backup_restore(f->b, id, f->target_dsn), DBMGMT_OK);
    assert_same_rows(f->target, f->db);
    enc_assert_no_leftovers(f->backups);

    /* The catalog: size and SHA-256 of the ciphertext, the plaintext's in attrs. */
    char hex[65];
    enc_sha256_file(path, hex);
    char *json = dbmgmt_backup_list_json(f->b);
    assert_non_null(strstr(json, hex));
    assert_non_null(strstr(json, "\"encryption\":\"secretstream-xchacha20poly1305\""));
    assert_non_null(strstr(json, "\"plain_sha256\":\""));
    assert_non_null(strstr(json, "\"plain_size\":\""));
    assert_non_null(strstr(json, "\"key_id\":\""));
    assert_no_secret_in("the list JSON", json);
    dbmgmt_free(json);
    dbmgmt_free(id);
}

/* ---- one flipped bit ---------------------------------------------------------------- */

/* Flip bit 0x10 at pos of a copy; verify fails and restore refuses, the
 * target untouched; again with the catalog made to match the file, so that
 * decryption itself must refuse. Then the original is put back. */
static void check_flip(fixture *f, const char *id, const char *path, const unsigned char *orig,
                       size_t n, size_t pos, const char *target_sha)
{
    unsigned char *copy = malloc(n);
    assert_non_null(copy);
    memcpy(copy, orig, n);
    copy[pos] ^= 0x10;
    enc_write_file(path, copy, n);
    free(copy);
    char hex[65];
    for (int follow = 0; follow < 2; follow++) {
        if (follow)
            enc_catalog_follow_file(f->backups, id, path);
        int rc = dbmgmt_backup_verify(f->b, id);
        if (rc == DBMGMT_OK)
            fail_msg("verify passed with bit flipped at byte %zu (catalog %s)", pos,
                     follow ? "altered too" : "intact");
        const char *msg = dbmgmt_backup_errmsg(f->b);
        assert_non_null(strstr(msg, id));
        if (follow && !strstr(msg, "authentication failed") && !strstr(msg, "magic") &&
            !strstr(msg, "key id") && !strstr(msg, "header") && !strstr(msg, "version"))
            fail_msg("byte %zu: verify said: %s", pos, msg);
        assert_int_not_equal(dbmgmt_backup_restore(f->b, id, f->target_dsn), DBMGMT_OK);
        enc_sha256_file(f->target, hex);
        assert_string_equal(hex, target_sha);
    }
    enc_write_file(path, orig, n);
    enc_catalog_follow_file(f->backups, id, path);
}

static void test_flipped_bit_anywhere_fails_verify_and_is_never_restored(void **state)
{
    fixture *f = *state;
    char path[300], target_sha[65];
    char *id = take_backup(f, path, sizeof path);
    size_t n = 0;
    unsigned char *orig = enc_read_file(path, &n);
    enc_sha256_file(f->target, target_sha);
    size_t chunks = (n - HEADER + CHUNK_CT - 1) / CHUNK_CT;
    size_t last = HEADER + (chunks - 1) * CHUNK_CT; /* the last chunk: its tag byte first */
    const size_t positions[] = {
        0, 7,                       /* magic */
        8, 10, 13,                  /* version, reserved, chunk size */
        16, 31,                     /* key id */
        32, 55,                     /* secretstream header */
        56, 56 + 1000, HEADER + CHUNK_CT - 1, /* the first chunk: tag, data, MAC */
        HEADER + (chunks / 2) * CHUNK_CT + 30000, /* a middle chunk */
        last, last + 1, n - 17,     /* the last chunk's tag and data, its MAC */
        n - 1,                      /* the very last byte */
    };
    for (size_t i = 0; i < sizeof positions / sizeof positions[0]; i++)
        check_flip(f, id, path, orig, n, positions[i], target_sha);
    free(orig);
    /* Untouched again: verify and restore work. */
    assert_int_equal(dbmgmt_backup_verify(f->b, id), DBMGMT_OK);
    assert_int_equal(dbmgmt_backup_restore(f->b, id, NULL), DBMGMT_OK);
    enc_assert_no_leftovers(f->backups);
    dbmgmt_free(id);
}

static void test_every_nth_bit_of_a_small_backup(void **state)
{
    fixture *f = *state;
    support_exec_on(f->dsn, "DROP TABLE items; VACUUM");
    char path[300], target_sha[65];
    char *id = take_backup(f, path, sizeof path);
    size_t n = 0;
    unsigned char *orig = enc_read_file(path, &n);
    assert_true(n < 3 * CHUNK_CT);
    enc_sha256_file(f->target, target_sha);
    for (size_t pos = 0; pos < n; pos += 211)
        check_flip(f, id, path, orig, n, pos, target_sha);
    check_flip(f, id, path, orig, n, n - 1, target_sha);
    free(orig);
    assert_int_equal(dbmgmt_backup_verify(f->b, id), DBMGMT_OK);
    enc_assert_no_leftovers(f->backups);
    dbmgmt_free(id);
}

/* ---- truncation, trailing bytes, keys ------------------------------------------------ */

static void expect_refused(fixture *f, const char *id, const char *path, const unsigned char *data,
                           size_t n, const char *why)
{
    enc_write_file(path, data, n);
    enc_catalog_follow_file(f->backups, id, path);
    assert_int_equal(dbmgmt_backup_verify(f->b, id), DBMGMT_ERR_CHECKSUM);
    const char *msg = dbmgmt_backup_errmsg(f->b);
    if (!strstr(msg, why) || !strstr(msg, id))
        fail_msg("expected '%s' for backup %s, got: %s", why, id, msg);
    assert_int_equal(dbmgmt_backup_restore(f->b, id, NULL), DBMGMT_ERR_CHECKSUM);
    enc_assert_no_leftovers(f->backups);
}

static void test_truncated_or_extended_file_fails(void **state)
{
    fixture *f = *state;
    char path[300];
    char *id = take_backup(f, path, sizeof path);
    size_t n = 0;
    unsigned char *orig = enc_read_file(path, &n);
    /* Cut at a chunk boundary: no FINAL chunk. */
    expect_refused(f, id, path, orig, HEADER + 3 * CHUNK_CT, "truncated");
    /* Cut inside a chunk, inside the header, to nothing. */
    expect_refused(f, id, path, orig, HEADER + 3 * CHUNK_CT + 500,
                   "authentication failed at chunk 4");
    expect_refused(f, id, path, orig, 40, "truncated");
    expect_refused(f, id, path, orig, 0, "truncated");
    /* A byte after the FINAL chunk. */
    unsigned char *longer = malloc(n + 1);
    memcpy(longer, orig, n);
    longer[n] = 0;
    /* (after a full last chunk the byte is a chunk of its own; after a
     * shorter one it joins the last chunk, which then fails to authenticate) */
    expect_refused(f, id, path, longer, n + 1,
                   (n - HEADER) % CHUNK_CT == 0 ? "after the final chunk"
                                                : "authentication failed at chunk");
    free(longer);
    /* Without the catalog's help a cut is a checksum failure, as any change. */
    enc_write_file(path, orig, n - 1);
    assert_int_equal(dbmgmt_backup_verify(f->b, id), DBMGMT_ERR_CHECKSUM);
    assert_non_null(strstr(dbmgmt_backup_errmsg(f->b), "changed since it was written"));
    free(orig);
    dbmgmt_free(id);
    /* 64 KiB pages: the plaintext is whole chunks, a byte more is a chunk past FINAL. */
    support_exec_on(f->dsn, "PRAGMA page_size = 65536; VACUUM");
    id = take_backup(f, path, sizeof path);
    orig = enc_read_file(path, &n);
    assert_int_equal((n - HEADER) % CHUNK_CT, 0);
    longer = malloc(n + 1);
    memcpy(longer, orig, n);
    longer[n] = 0;
    expect_refused(f, id, path, longer, n + 1, "data after the final chunk");
    free(longer);
    free(orig);
    dbmgmt_free(id);
}

static void test_wrong_key_and_no_key_fail_clearly(void **state)
{
    fixture *f = *state;
    char path[300];
    char *id = take_backup(f, path, sizeof path);
    dbmgmt_backup *other = NULL;
    assert_int_equal(dbmgmt_backup_new(&other, f->dsn, f->backups), DBMGMT_OK);
    /* No key. */
    assert_int_equal(dbmgmt_backup_verify(other, id), DBMGMT_ERR_INVALID);
    const char *msg = dbmgmt_backup_errmsg(other);
    if (!strstr(msg, id) || !strstr(msg, "no key is set"))
        fail_msg("no key: %s", msg);
    assert_int_equal(dbmgmt_backup_restore(other, id, f->target_dsn), DBMGMT_ERR_INVALID);
    assert_int_equal(support_query_int_on(f->target_dsn, "SELECT COUNT(*) FROM sentinel"), 1);
    /* Another key: said so, never tried. */
    unsigned char wrong[32];
    memcpy(wrong, enc_key, sizeof wrong);
    wrong[5] ^= 1;
    assert_int_equal(dbmgmt_backup_set_key(other, wrong, sizeof wrong), DBMGMT_OK);
    assert_int_equal(dbmgmt_backup_verify(other, id), DBMGMT_ERR_INVALID);
    msg = dbmgmt_backup_errmsg(other);
    if (!strstr(msg, id) || !strstr(msg, "encrypted with another key"))
        fail_msg("wrong key: %s", msg);
    assert_no_secret_in("the wrong-key message", msg);
    assert_int_equal(dbmgmt_backup_restore(other, id, f->target_dsn), DBMGMT_ERR_INVALID);
    assert_int_equal(support_query_int_on(f->target_dsn, "SELECT COUNT(*) FROM sentinel"), 1);
    /* The right key again. */
    assert_int_equal(dbmgmt_backup_set_key(other, enc_key, sizeof enc_key), DBMGMT_OK);
    assert_int_equal(dbmgmt_backup_verify(other, id), DBMGMT_OK);
    /* Misuse: a key of another length; NULL/0 turns encryption off for new backups. */
    assert_int_equal(dbmgmt_backup_set_key(other, enc_key, 16), DBMGMT_ERR_INVALID);
    assert_int_equal(dbmgmt_backup_set_key(NULL, enc_key, 32), DBMGMT_ERR_INVALID);
    assert_int_equal(dbmgmt_backup_set_key(other, NULL, 0), DBMGMT_OK);
    char *plain_id = NULL;
    assert_int_equal(dbmgmt_backup_run_now(other, &plain_id), DBMGMT_OK);
    char plain_path[300];
    enc_backup_path(other, f->backups, plain_id, plain_path, sizeof plain_path);
    size_t n = 0;
    unsigned char *data = enc_read_file(plain_path, &n);
    assert_memory_equal(data, "SQLite format 3", 15);
    free(data);
    assert_no_secret_in("the log", enc_log());
    dbmgmt_free(plain_id);
    dbmgmt_backup_free(other);
    dbmgmt_free(id);
}

static void write_key_file(const char *path, const void *data, size_t n, mode_t mode)
{
    unlink(path);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, n), (ssize_t)n);
    close(fd);
    assert_int_equal(chmod(path, mode), 0);
}

static void test_key_files_raw_or_hex_and_private(void **state)
{
    fixture *f = *state;
    char kf[200];
    snprintf(kf, sizeof kf, "%s/backup.key", f->dir);
    dbmgmt_backup *b = NULL;
    assert_int_equal(dbmgmt_backup_new(&b, f->dsn, f->backups), DBMGMT_OK);
    /* Readable by others: refused, naming the file. */
    write_key_file(kf, enc_key, 32, 0644);
    assert_int_equal(dbmgmt_backup_set_key_file(b, kf), DBMGMT_ERR_POLICY);
    assert_non_null(strstr(dbmgmt_backup_errmsg(b), kf));
    write_key_file(kf, enc_key, 32, 0640);
    assert_int_equal(dbmgmt_backup_set_key_file(b, kf), DBMGMT_ERR_POLICY);
    /* Raw, 0600: the same key as the fixture's (its backups verify). */
    write_key_file(kf, enc_key, 32, 0600);
    assert_int_equal(dbmgmt_backup_set_key_file(b, kf), DBMGMT_OK);
    char *id = NULL;
    assert_int_equal(dbmgmt_backup_run_now(b, &id), DBMGMT_OK);
    assert_int_equal(dbmgmt_backup_verify(f->b, id), DBMGMT_OK);
    /* Hex with a newline, and without. */
    char hex[66];
    snprintf(hex, sizeof hex, "%s\n", enc_key_hex);
    write_key_file(kf, hex, 65, 0400);
    dbmgmt_backup *c = NULL;
    assert_int_equal(dbmgmt_backup_new(&c, f->dsn, f->backups), DBMGMT_OK);
    assert_int_equal(dbmgmt_backup_set_key_file(c, kf), DBMGMT_OK);
    assert_int_equal(dbmgmt_backup_verify(c, id), DBMGMT_OK);
    write_key_file(kf, enc_key_HEX, 64, 0600);
    assert_int_equal(dbmgmt_backup_set_key_file(c, kf), DBMGMT_OK);
    assert_int_equal(dbmgmt_backup_verify(c, id), DBMGMT_OK);
    /* Wrong sizes and contents: refused without echoing them. */
    write_key_file(kf, enc_key, 31, 0600);
    assert_int_equal(dbmgmt_backup_set_key_file(c, kf), DBMGMT_ERR_PARSE);
    assert_non_null(strstr(dbmgmt_backup_errmsg(c), kf));
    unsigned char longer[33];
    memcpy(longer, enc_key, 32);
    longer[32] = '\n';
    write_key_file(kf, longer, sizeof longer, 0600);
    assert_int_equal(dbmgmt_backup_set_key_file(c, kf), DBMGMT_ERR_PARSE);
    hex[10] = 'g';
    write_key_file(kf, hex, 65, 0600);
    assert_int_equal(dbmgmt_backup_set_key_file(c, kf), DBMGMT_ERR_PARSE);
    assert_no_secret_in("the key file message", dbmgmt_backup_errmsg(c));
    assert_int_equal(dbmgmt_backup_set_key_file(c, "/nonexistent/backup.key"),
                     DBMGMT_ERR_NOTFOUND);
    assert_int_equal(dbmgmt_backup_set_key_file(c, f->dir), DBMGMT_ERR_INVALID); /* a folder */
    /* A failed set_key_file kept the previous key: still verifies. */
    assert_int_equal(dbmgmt_backup_verify(c, id), DBMGMT_OK);
    dbmgmt_backup_free(c);
    dbmgmt_backup_free(b);
    dbmgmt_free(id);
}

/* ---- the verify right after the backup ------------------------------------------------ */

/* What to alter between the backup's record and its verify (the library
 * logs "backup ID: N bytes in M ms" in between). */
typedef struct tamper {
    const char *dir;
    int what; /* 0 the ciphertext, 1 the ciphertext and the catalog, 2 the plaintext */
    int done;
} tamper;

static void tamper_on_log(const char *message, void *arg)
{
    tamper *t = arg;
    if (t->done || !strstr(message, " bytes in "))
        return;
    DIR *d = opendir(t->dir);
    assert_non_null(d);
    struct dirent *ent;
    char path[400];
    while ((ent = readdir(d)) != NULL) {
        size_t len = strlen(ent->d_name);
        int plain = strstr(ent->d_name, ".plain") != NULL;
        int cipher = !plain && len > 4 && strcmp(ent->d_name + len - 4, ".enc") == 0;
        if ((t->what == 2 && plain) || (t->what != 2 && cipher)) {
            snprintf(path, sizeof path, "%s/%s", t->dir, ent->d_name);
            size_t n = 0;
            unsigned char *data = enc_read_file(path, &n);
            data[n / 2] ^= 0x10;
            enc_write_file(path, data, n);
            free(data);
            if (t->what == 1) {
                char id[200];
                snprintf(id, sizeof id, "%.*s", (int)strcspn(ent->d_name, "."), ent->d_name);
                enc_catalog_follow_file(t->dir, id, path);
            }
            t->done = 1;
        }
    }
    closedir(d);
}

/* run_now verifies a new encrypted backup without decrypting a second copy
 * (docs/backup.md, "Performance"): a ciphertext changed after it was
 * recorded, one changed with its catalog row to match, and a plaintext
 * changed after the engine checked it (while it was encrypted) each fail
 * that verify with what changed named, and no plaintext is left behind. */
static void test_run_now_verify_catches_what_changed_after_the_backup(void **state)
{
    fixture *f = *state;
    static const char *const expect[] = {
        "changed since it was written",
        "authentication failed at chunk",
        "does not decrypt to the plaintext it was encrypted from",
    };
    for (int what = 0; what < 3; what++) {
        tamper t = {f->backups, what, 0};
        enc_on_log(tamper_on_log, &t);
        char *id = NULL;
        int rc = dbmgmt_backup_run_now(f->b, &id);
        enc_on_log(NULL, NULL);
        assert_true(t.done);
        assert_int_equal(rc, DBMGMT_ERR_CHECKSUM);
        const char *msg = dbmgmt_backup_errmsg(f->b);
        if (!strstr(msg, expect[what]))
            fail_msg("case %d: expected '%s', got: %s", what, expect[what], msg);
        enc_assert_no_leftovers(f->backups);
        /* A changed ciphertext is never restored; where only the checked
         * plaintext changed, the file itself is sound, and the standalone
         * verify (which decrypts it anew) says so. */
        if (what < 2)
            assert_int_equal(dbmgmt_backup_restore(f->b, id, f->target_dsn),
                             DBMGMT_ERR_CHECKSUM);
        else
            assert_int_equal(dbmgmt_backup_verify(f->b, id), DBMGMT_OK);
        dbmgmt_free(id);
    }
    /* Untouched, the same call verifies. */
    char path[300];
    char *id = take_backup(f, path, sizeof path);
    assert_int_equal(dbmgmt_backup_verify(f->b, id), DBMGMT_OK);
    enc_assert_no_leftovers(f->backups);
    dbmgmt_free(id);
}

/* The engine's check of a new encrypted SQLite backup runs while the copy is
 * encrypted, and its verdict is the verify's (backup_run.c): a source whose
 * index lost rows (an index rewritten to another column through
 * writable_schema, which integrity_check reports and the copy and the row
 * counts do not notice) gives a backup that is recorded, fails the verify
 * right after it with integrity_check's finding, as it does without a key,
 * and fails the standalone verify, which decrypts it anew, the same way. */
static void test_engine_check_of_a_damaged_copy_fails_its_verify(void **state)
{
    fixture *f = *state;
    support_exec_on(f->dsn, "CREATE INDEX items_pad ON items(pad)");
    support_exec_on(f->dsn, "PRAGMA writable_schema=ON;"
                    "UPDATE sqlite_schema SET sql = 'CREATE INDEX items_pad ON items(id)'"
                    " WHERE name = 'items_pad'");
    for (int keyed = 1; keyed >= 0; keyed--) {
        if (!keyed)
            assert_int_equal(dbmgmt_backup_set_key(f->b, NULL, 0), DBMGMT_OK);
        char *id = NULL;
        assert_int_equal(dbmgmt_backup_run_now(f->b, &id), DBMGMT_ERR_CHECKSUM);
        assert_non_null(id);
        const char *msg = dbmgmt_backup_errmsg(f->b);
        if (!strstr(msg, "PRAGMA integrity_check failed") || !strstr(msg, "items_pad"))
            fail_msg("keyed %d: expected integrity_check's finding, got: %s", keyed, msg);
        enc_assert_no_leftovers(f->backups);
        char *json = dbmgmt_backup_list_json(f->b);
        assert_non_null(json);
        if (!strstr(json, id) || !strstr(json, "\"verified\":false"))
            fail_msg("keyed %d: %s not listed as failing its verify: %s", keyed, id, json);
        dbmgmt_free(json);
        assert_int_equal(dbmgmt_backup_verify(f->b, id), DBMGMT_ERR_CHECKSUM);
        if (!strstr(dbmgmt_backup_errmsg(f->b), "PRAGMA integrity_check failed"))
            fail_msg("keyed %d: standalone verify: %s", keyed, dbmgmt_backup_errmsg(f->b));
        enc_assert_no_leftovers(f->backups);
        dbmgmt_free(id);
    }
}

/* ---- failures leave no plaintext; secrets stay out of everything --------------------- */

static void test_failed_backup_leaves_no_plaintext(void **state)
{
    fixture *f = *state;
    /* A source that is not a database: the engine fails after the temp was made. */
    unsigned char junk[8192];
    memset(junk, 'J', sizeof junk);
    enc_write_file(f->db, junk, sizeof junk);
    assert_int_not_equal(dbmgmt_backup_run_now(f->b, NULL), DBMGMT_OK);
    enc_assert_no_leftovers(f->backups);
    assert_int_equal(dbmgmt_backup_metric(f->b, DBMGMT_BACKUP_COUNT), 0);
}

static void test_key_never_in_log_errors_catalog_or_json(void **state)
{
    fixture *f = *state;
    char path[300];
    char *id = take_backup(f, path, sizeof path);
    assert_int_equal(dbmgmt_backup_verify(f->b, id), DBMGMT_OK);
    size_t n = 0;
    unsigned char *orig = enc_read_file(path, &n);
    orig[100] ^= 1;
    enc_write_file(path, orig, n);
    enc_catalog_follow_file(f->backups, id, path);
    assert_int_not_equal(dbmgmt_backup_verify(f->b, id), DBMGMT_OK);
    assert_no_secret_in("an error message", dbmgmt_backup_errmsg(f->b));
    assert_no_secret_in("dbmgmt_errmsg", dbmgmt_errmsg());
    free(orig);
    char *json = dbmgmt_backup_list_json(f->b);
    assert_no_secret_in("the list JSON", json);
    dbmgmt_free(json);
    dbmgmt_backup_free(f->b); /* the catalog written out */
    f->b = NULL;
    char cat[300];
    static const char *const files[] = {"catalog.db", "catalog.db-wal", "catalog.db-journal"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(cat, sizeof cat, "%s/%s", f->backups, files[i]);
        if (enc_file_has_secret(cat))
            fail_msg("the key is in %s", cat);
    }
    const char *log = enc_log();
    assert_non_null(strstr(log, id)); /* the log was captured */
    assert_no_secret_in("the log", log);
    dbmgmt_free(id);
}

static char *find_in_path(const char *name)
{
    const char *path = getenv("PATH");
    static char found[512];
    while (path && *path) {
        size_t len = strcspn(path, ":");
        snprintf(found, sizeof found, "%.*s/%s", (int)len, path, name);
        if (access(found, X_OK) == 0)
            return found;
        path += len + (path[len] == ':');
    }
    return NULL;
}

int main(void)
{
    int status = enc_init();
    if (status != 0)
        return status;
    sqlite3_shell = find_in_path("sqlite3");
    if (!sqlite3_shell) {
        const char *ci = getenv("CI");
        printf("the sqlite3 shell is not installed (Debian: sqlite3)\n");
        return ci && !strcmp(ci, "true") ? 1 : 77;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_encrypted_backup_unreadable_without_key_restores_with_it, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_flipped_bit_anywhere_fails_verify_and_is_never_restored, setup, teardown),
        cmocka_unit_test_setup_teardown(test_every_nth_bit_of_a_small_backup, setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncated_or_extended_file_fails, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrong_key_and_no_key_fail_clearly, setup, teardown),
        cmocka_unit_test_setup_teardown(test_key_files_raw_or_hex_and_private, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_run_now_verify_catches_what_changed_after_the_backup, setup, teardown),
        cmocka_unit_test_setup_teardown(test_engine_check_of_a_damaged_copy_fails_its_verify,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_backup_leaves_no_plaintext, setup, teardown),
        cmocka_unit_test_setup_teardown(test_key_never_in_log_errors_catalog_or_json, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
