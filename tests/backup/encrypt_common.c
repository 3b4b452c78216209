/* Helpers of the encryption tests: see encrypt_common.h. */
#include "encrypt_common.h"

#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "core/sha256.h"

unsigned char enc_key[32];
char enc_key_hex[65], enc_key_HEX[65];

static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static char *log_text;
static size_t log_len, log_cap;

static void (*log_hook)(const char *message, void *arg);
static void *log_hook_arg;

void enc_on_log(void (*fn)(const char *message, void *arg), void *arg)
{
    log_hook = fn;
    log_hook_arg = arg;
}

static void capture_log(void *userdata, dbmgmt_log_level level, const char *message)
{
    (void)userdata, (void)level;
    if (log_hook)
        log_hook(message, log_hook_arg);
    size_t n = strlen(message);
    pthread_mutex_lock(&log_mu);
    if (log_len + n + 2 > log_cap) {
        size_t cap = (log_cap + n + 2) * 2;
        char *p = realloc(log_text, cap);
        if (p) {
            log_text = p;
            log_cap = cap;
        }
    }
    if (log_len + n + 2 <= log_cap) {
        memcpy(log_text + log_len, message, n);
        log_len += n;
        log_text[log_len++] = '\n';
        log_text[log_len] = '\0';
    }
    pthread_mutex_unlock(&log_mu);
}

const char *enc_log(void)
{
    return log_text ? log_text : "";
}

int enc_init(void)
{
    int fd = open("/dev/urandom", O_RDONLY);
    if (fd < 0 || read(fd, enc_key, sizeof enc_key) != (ssize_t)sizeof enc_key) {
        printf("cannot read /dev/urandom\n");
        return 1;
    }
    close(fd);
    for (size_t i = 0; i < sizeof enc_key; i++) {
        snprintf(enc_key_hex + 2 * i, 3, "%02x", enc_key[i]);
        snprintf(enc_key_HEX + 2 * i, 3, "%02X", enc_key[i]);
    }
    dbmgmt_set_logger(capture_log, NULL, DBMGMT_LOG_DEBUG);
    /* Does this build encrypt at all? */
    dbmgmt_backup *b = NULL;
    char dir[] = "/tmp/dbmgmt-bkenc-probe-XXXXXX";
    if (!mkdtemp(dir))
        return 1;
    char dsn[128];
    snprintf(dsn, sizeof dsn, "sqlite://%s/probe.db", dir);
    int status = 0;
    if (dbmgmt_backup_new(&b, dsn, dir) != DBMGMT_OK) {
        printf("dbmgmt_backup_new: %s\n", dbmgmt_errmsg());
        status = 1;
    } else if (dbmgmt_backup_set_key(b, enc_key, sizeof enc_key) == DBMGMT_ERR_UNSUPPORTED) {
        const char *msg = dbmgmt_backup_errmsg(b);
        printf("%s\n", msg);
        const char *ci = getenv("CI");
        status = !strstr(msg, "without libsodium") || (ci && !strcmp(ci, "true")) ? 1 : 77;
    }
    dbmgmt_backup_free(b);
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        status = 1;
    return status;
}

int enc_has_secret(const void *data, size_t n)
{
    return memmem(data, n, enc_key, sizeof enc_key) || memmem(data, n, enc_key_hex, 64) ||
           memmem(data, n, enc_key_HEX, 64);
}

unsigned char *enc_read_file(const char *path, size_t *n)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        fail_msg("cannot open '%s'", path);
    fseek(fp, 0, SEEK_END);
    long size = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    unsigned char *data = malloc((size_t)size + 1);
    assert_non_null(data);
    assert_int_equal(fread(data, 1, (size_t)size, fp), (size_t)size);
    fclose(fp);
    *n = (size_t)size;
    return data;
}

int enc_file_has_secret(const char *path)
{
    if (access(path, F_OK) != 0)
        return 0;
    size_t n = 0;
    unsigned char *data = enc_read_file(path, &n);
    int found = enc_has_secret(data, n);
    free(data);
    return found;
}

void enc_write_file(const char *path, const unsigned char *data, size_t n)
{
    FILE *fp = fopen(path, "wb");
    if (!fp)
        fail_msg("cannot write '%s'", path);
    assert_int_equal(fwrite(data, 1, n, fp), n);
    assert_int_equal(fclose(fp), 0);
}

void enc_sha256_file(const char *path, char hex[65])
{
    size_t n = 0;
    unsigned char *data = enc_read_file(path, &n);
    dm_sha256_hex(data, n, hex);
    free(data);
}

void enc_catalog_follow_file(const char *dir, const char *id, const char *path)
{
    size_t n = 0;
    unsigned char *data = enc_read_file(path, &n);
    char hex[65];
    dm_sha256_hex(data, n, hex);
    free(data);
    char cat[512];
    snprintf(cat, sizeof cat, "%s/catalog.db", dir);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(cat, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, "UPDATE backups SET size = ?, sha256 = ? WHERE id = ?",
                                        -1, &st, NULL), SQLITE_OK);
    sqlite3_bind_int64(st, 1, (sqlite3_int64)n);
    sqlite3_bind_text(st, 2, hex, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, id, -1, SQLITE_TRANSIENT);
    assert_int_equal(sqlite3_step(st), SQLITE_DONE);
    assert_int_equal(sqlite3_changes(db), 1);
    sqlite3_finalize(st);
    sqlite3_close(db);
}

void enc_assert_no_leftovers(const char *dir)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *ent;
    while ((ent = readdir(d)) != NULL)
        if (strstr(ent->d_name, ".plain") || strstr(ent->d_name, ".partial-"))
            fail_msg("'%s' was left in %s", ent->d_name, dir);
    closedir(d);
}

void enc_backup_path(dbmgmt_backup *b, const char *dir, const char *id, char *out, size_t cap)
{
    char *json = dbmgmt_backup_list_json(b);
    assert_non_null(json);
    char needle[300];
    snprintf(needle, sizeof needle, "\"id\":\"%s\"", id);
    const char *at = strstr(json, needle);
    assert_non_null(at);
    const char *file = strstr(at, "\"file\":\"");
    assert_non_null(file);
    file += 8;
    const char *end = strchr(file, '"');
    assert_non_null(end);
    snprintf(out, cap, "%s/%.*s", dir, (int)(end - file), file);
    dbmgmt_free(json);
}
