/*
 * A snapshot's scratch database and its publication as the target, per
 * engine (docs/snapshots.md, "What a run does"). The target is checked
 * before the restore and again just before it is replaced: a database (or
 * file) that exists and holds tables is refused by name.
 */
#include "snapshot_impl.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backup/backup_impl.h"
#include "conn/conn.h"
#include "core/alloc.h"
#include "core/dsn.h"
#include "core/log.h"

static int random_hex(char *out, size_t nbytes)
{
    unsigned char r[16];
    if (nbytes > sizeof r || getrandom(r, nbytes, 0) != (ssize_t)nbytes)
        return -1;
    for (size_t i = 0; i < nbytes; i++)
        snprintf(out + 2 * i, 3, "%02x", r[i]);
    return 0;
}

/* A server URI with its database replaced by name ("" for none). */
static char *dsn_with_database(const char *raw, const char *name)
{
    const char *auth = strstr(raw, "://");
    if (!auth)
        return NULL;
    auth += 3;
    const char *slash = strchr(auth, '/'), *query = strchr(auth, '?');
    if (slash && query && query < slash)
        slash = NULL;
    size_t head = slash ? (size_t)(slash - raw) : query ? (size_t)(query - raw) : strlen(raw);
    dm_buf b = {0};
    dm_buf_printf(&b, "%.*s/%s%s", (int)head, raw, name, query ? query : "");
    return dm_buf_detach(&b);
}

static int64_t query_count(dbmgmt_conn *c, const char *sql, const char *param)
{
    dbmgmt_result *r = NULL;
    const char *params[1] = {param};
    int64_t v = -1;
    if (dbmgmt_conn_query(c, &r, sql, param ? 1 : 0, params) == DBMGMT_OK &&
        dbmgmt_result_next(r) == 1)
        v = dbmgmt_result_int64(r, 0);
    dbmgmt_result_free(r);
    return v;
}

static int exec_on(dbmgmt_snapshot *s, dbmgmt_conn *c, const char *sql, const char *what)
{
    int rc = dm_conn_exec_statement(c, sql);
    if (rc != DBMGMT_OK)
        return dm_error_set(&s->err, rc, "%s: %s", what, dbmgmt_conn_errmsg(c));
    return DBMGMT_OK;
}

static int restore_into(dbmgmt_snapshot *s, dbmgmt_backup *b, const char *id, const char *dsn)
{
    int rc = dbmgmt_backup_restore(b, id, dsn);
    if (rc != DBMGMT_OK)
        return dm_error_set(&s->err, rc, "restoring backup %s into the scratch database: %s", id,
                            dbmgmt_backup_errmsg(b));
    return DBMGMT_OK;
}

static void append_quoted(dbmgmt_conn *c, dm_buf *b, const char *name)
{
    c->drv->quote_ident(b, name);
}

/* ---- SQLite: a 0600 file beside the target, renamed over it ---- */

static int sqlite_target_free(dbmgmt_snapshot *s, const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return errno == ENOENT ? DBMGMT_OK
                               : dm_error_set(&s->err, DBMGMT_ERR_IO, "snapshot target %s: %s",
                                              path, strerror(errno));
    if (!S_ISREG(st.st_mode))
        return dm_error_set(&s->err, DBMGMT_ERR_POLICY, "snapshot target %s is not a file",
                            path);
    if (st.st_size == 0)
        return DBMGMT_OK;
    sqlite3 *db = NULL;
    int n = -1;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK) {
        sqlite3_stmt *q = NULL;
        if (sqlite3_prepare_v2(db, "SELECT count(*) FROM sqlite_master", -1, &q, NULL) ==
                SQLITE_OK && sqlite3_step(q) == SQLITE_ROW)
            n = sqlite3_column_int(q, 0);
        sqlite3_finalize(q);
    }
    sqlite3_close(db);
    if (n != 0)
        return dm_error_set(&s->err, DBMGMT_ERR_POLICY,
                            "snapshot target %s already exists and is not empty: refused", path);
    return DBMGMT_OK;
}

static void sqlite_remove(const char *path)
{
    static const char *const suffixes[] = {"", "-journal", "-wal", "-shm"};
    char name[4096];
    for (size_t i = 0; i < sizeof suffixes / sizeof *suffixes; i++) {
        snprintf(name, sizeof name, "%s%s", path, suffixes[i]);
        unlink(name);
    }
}

int snap_sqlite(dbmgmt_snapshot *s, dbmgmt_backup *b, const char *id, const dm_dsn *target)
{
    const char *path = target->database;
    int rc = sqlite_target_free(s, path);
    if (rc != DBMGMT_OK)
        return rc;
    const char *slash = strrchr(path, '/');
    size_t dirlen = slash ? (size_t)(slash - path) + 1 : 0;
    dm_buf scratch = {0}, dsn = {0};
    dm_buf_printf(&scratch, "%.*s.dbmgmt-snapshot-XXXXXX", (int)dirlen, path);
    if (dm_buf_failed(&scratch))
        return dm_error_set(&s->err, DBMGMT_ERR_NOMEM, "out of memory");
    int fd = mkstemp(scratch.data); /* 0600: nobody else reads the scratch copy */
    if (fd < 0) {
        rc = dm_error_set(&s->err, DBMGMT_ERR_IO, "cannot create a scratch file beside %s: %s",
                          path, strerror(errno));
        dm_buf_free(&scratch);
        return rc;
    }
    close(fd);
    dm_buf_printf(&dsn, "sqlite:%s%s", scratch.data[0] == '/' ? "//" : "", scratch.data);
    if (dm_buf_failed(&dsn))
        rc = dm_error_set(&s->err, DBMGMT_ERR_NOMEM, "out of memory");
    if (rc == DBMGMT_OK)
        rc = restore_into(s, b, id, dsn.data);
    if (rc == DBMGMT_OK)
        rc = dm_snap_mask_database(s, dsn.data);
    if (rc == DBMGMT_OK)
        rc = dm_snap_prepare_result(s);
    if (rc == DBMGMT_OK)
        rc = dm_bk_fsync_path(scratch.data, &s->err);
    if (rc == DBMGMT_OK)
        rc = sqlite_target_free(s, path);
    if (rc == DBMGMT_OK && rename(scratch.data, path) != 0)
        rc = dm_error_set(&s->err, DBMGMT_ERR_IO, "cannot rename the snapshot onto %s: %s", path,
                          strerror(errno));
    if (rc == DBMGMT_OK) {
        char dir[4096];
        snprintf(dir, sizeof dir, "%.*s", dirlen ? (int)dirlen : 1, dirlen ? path : ".");
        rc = dm_bk_fsync_dir(dir, &s->err);
    }
    if (rc != DBMGMT_OK)
        sqlite_remove(scratch.data);
    dm_buf_free(&scratch);
    dm_buf_free(&dsn);
    return rc;
}

/* ---- PostgreSQL: a fresh database, renamed to the target ---- */

static int pg_target_state(dbmgmt_snapshot *s, dbmgmt_conn *admin, const dm_dsn *target,
                           int *exists)
{
    const char *name = target->database;
    int64_t n = query_count(admin, "SELECT count(*) FROM pg_database WHERE datname = ?", name);
    if (n < 0)
        return dm_error_set(&s->err, DBMGMT_ERR_SQL, "checking snapshot target %s: %s", name,
                            dbmgmt_conn_errmsg(admin));
    *exists = n > 0;
    if (!*exists)
        return DBMGMT_OK;
    dbmgmt_conn *c = NULL;
    int rc = dbmgmt_conn_open(&c, target->raw);
    if (rc != DBMGMT_OK)
        return dm_error_set(&s->err, rc, "checking snapshot target %s: %s", name,
                            dbmgmt_errmsg());
    n = query_count(c,
                    "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = "
                    "c.relnamespace WHERE n.nspname NOT IN ('pg_catalog', "
                    "'information_schema') AND n.nspname NOT LIKE 'pg_toast%' AND "
                    "c.relkind IN ('r', 'v', 'm', 'S', 'f', 'p')",
                    NULL);
    dbmgmt_conn_close(c);
    if (n != 0)
        return dm_error_set(&s->err, DBMGMT_ERR_POLICY,
                            "snapshot target database %s already exists and is not empty: "
                            "refused", name);
    return DBMGMT_OK;
}

static int pg_publish(dbmgmt_snapshot *s, dbmgmt_conn *admin, const dm_dsn *target,
                      const char *scratch)
{
    int exists = 0;
    int rc = pg_target_state(s, admin, target, &exists);
    dm_buf sql = {0};
    if (rc == DBMGMT_OK && exists) { /* empty: replaced */
        dm_buf_puts(&sql, "DROP DATABASE ");
        append_quoted(admin, &sql, target->database);
        rc = exec_on(s, admin, sql.data, "dropping the empty snapshot target");
        dm_buf_clear(&sql);
    }
    if (rc == DBMGMT_OK) {
        dm_buf_puts(&sql, "ALTER DATABASE ");
        append_quoted(admin, &sql, scratch);
        dm_buf_puts(&sql, " RENAME TO ");
        append_quoted(admin, &sql, target->database);
        rc = exec_on(s, admin, sql.data, "renaming the scratch database to the target");
        dm_buf_clear(&sql);
    }
    if (rc == DBMGMT_OK) {
        dm_buf_puts(&sql, "GRANT CONNECT, TEMPORARY ON DATABASE ");
        append_quoted(admin, &sql, target->database);
        dm_buf_puts(&sql, " TO PUBLIC");
        rc = exec_on(s, admin, sql.data, "granting CONNECT on the snapshot");
    }
    dm_buf_free(&sql);
    return rc;
}

int snap_postgres(dbmgmt_snapshot *s, dbmgmt_backup *b, const char *id, const dm_dsn *target)
{
    char scratch[64] = "dbmgmt_snap_";
    if (random_hex(scratch + strlen(scratch), 8) != 0)
        return dm_error_set(&s->err, DBMGMT_ERR_IO, "no random bytes for a scratch name");
    char *admin_dsn = dsn_with_database(target->raw, "postgres");
    char *scratch_dsn = dsn_with_database(target->raw, scratch);
    dbmgmt_conn *admin = NULL;
    int rc = DBMGMT_OK, created = 0, exists = 0;
    if (!admin_dsn || !scratch_dsn)
        rc = dm_error_set(&s->err, DBMGMT_ERR_NOMEM, "out of memory");
    if (rc == DBMGMT_OK && (rc = dbmgmt_conn_open(&admin, admin_dsn)) != DBMGMT_OK)
        rc = dm_error_set(&s->err, rc, "connecting to the server of snapshot target %s: %s",
                          target->database, dbmgmt_errmsg());
    if (rc == DBMGMT_OK)
        rc = pg_target_state(s, admin, target, &exists);
    dm_buf sql = {0};
    if (rc == DBMGMT_OK) {
        dm_buf_printf(&sql, "CREATE DATABASE %s", scratch);
        rc = exec_on(s, admin, sql.data, "creating the scratch database");
        created = rc == DBMGMT_OK;
        dm_buf_clear(&sql);
    }
    if (rc == DBMGMT_OK) { /* nobody but its owner connects until it is masked */
        dm_buf_printf(&sql, "REVOKE ALL ON DATABASE %s FROM PUBLIC", scratch);
        rc = exec_on(s, admin, sql.data, "closing the scratch database to others");
        dm_buf_clear(&sql);
    }
    if (rc == DBMGMT_OK)
        rc = restore_into(s, b, id, scratch_dsn);
    if (rc == DBMGMT_OK)
        rc = dm_snap_mask_database(s, scratch_dsn);
    if (rc == DBMGMT_OK)
        rc = dm_snap_prepare_result(s);
    if (rc == DBMGMT_OK)
        rc = pg_publish(s, admin, target, scratch);
    if (rc != DBMGMT_OK && created && admin) {
        dm_buf_printf(&sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)", scratch);
        if (dm_conn_exec_statement(admin, sql.data) != DBMGMT_OK)
            dm_log(DBMGMT_LOG_WARN, "snapshot: could not drop scratch database %s: %s",
                   scratch, dbmgmt_conn_errmsg(admin));
    }
    dm_buf_free(&sql);
    dbmgmt_conn_close(admin);
    dm_free(admin_dsn);
    dm_free(scratch_dsn);
    return rc;
}

/* ---- MariaDB/MySQL: a scratch schema whose tables move by RENAME TABLE ---- */

static int my_target_state(dbmgmt_snapshot *s, dbmgmt_conn *admin, const char *name, int *exists)
{
    int64_t n = query_count(
        admin, "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?", name);
    int64_t t = query_count(
        admin, "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ?", name);
    if (n < 0 || t < 0)
        return dm_error_set(&s->err, DBMGMT_ERR_SQL, "checking snapshot target %s: %s", name,
                            dbmgmt_conn_errmsg(admin));
    *exists = n > 0;
    if (t > 0)
        return dm_error_set(&s->err, DBMGMT_ERR_POLICY,
                            "snapshot target database %s already exists and is not empty: "
                            "refused", name);
    return DBMGMT_OK;
}

/* Views and routines stay in the scratch schema and go with it: said in
 * the log (docs/snapshots.md). */
static void my_warn_not_carried(dbmgmt_conn *admin, const char *scratch, const char *target)
{
    int64_t views = query_count(
        admin, "SELECT COUNT(*) FROM information_schema.VIEWS WHERE TABLE_SCHEMA = ?", scratch);
    int64_t routines = query_count(
        admin, "SELECT COUNT(*) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ?",
        scratch);
    if (views > 0 || routines > 0)
        dm_log(DBMGMT_LOG_WARN,
               "snapshot %s: %lld view(s) and %lld routine(s) of the backup are not carried "
               "over (only tables move on MariaDB/MySQL)",
               target, (long long)(views > 0 ? views : 0),
               (long long)(routines > 0 ? routines : 0));
}

/* RENAME TABLE scratch.t TO target.t, ... in one statement (atomic). */
static int my_move_tables(dbmgmt_snapshot *s, dbmgmt_conn *admin, const char *scratch,
                          const char *target)
{
    dbmgmt_result *r = NULL;
    const char *params[1] = {scratch};
    int rc = dbmgmt_conn_query(admin, &r,
                               "SELECT TABLE_NAME FROM information_schema.TABLES WHERE "
                               "TABLE_SCHEMA = ? AND TABLE_TYPE = 'BASE TABLE' ORDER BY 1",
                               1, params);
    dm_buf sql = {0};
    int n = 0;
    dm_buf_puts(&sql, "RENAME TABLE ");
    while (rc == DBMGMT_OK && dbmgmt_result_next(r) == 1) {
        const char *t = dbmgmt_result_text(r, 0);
        dm_buf_puts(&sql, n++ ? ", " : "");
        append_quoted(admin, &sql, scratch);
        dm_buf_putc(&sql, '.');
        append_quoted(admin, &sql, t);
        dm_buf_puts(&sql, " TO ");
        append_quoted(admin, &sql, target);
        dm_buf_putc(&sql, '.');
        append_quoted(admin, &sql, t);
    }
    dbmgmt_result_free(r);
    if (rc != DBMGMT_OK)
        rc = dm_error_set(&s->err, rc, "listing the scratch tables: %s",
                          dbmgmt_conn_errmsg(admin));
    else if (dm_buf_failed(&sql))
        rc = dm_error_set(&s->err, DBMGMT_ERR_NOMEM, "out of memory");
    else if (n > 0)
        rc = exec_on(s, admin, sql.data, "moving the snapshot's tables into the target");
    dm_buf_free(&sql);
    return rc;
}

int snap_mysql(dbmgmt_snapshot *s, dbmgmt_backup *b, const char *id, const dm_dsn *target)
{
    char scratch[64] = "dbmgmt_snap_";
    if (random_hex(scratch + strlen(scratch), 8) != 0)
        return dm_error_set(&s->err, DBMGMT_ERR_IO, "no random bytes for a scratch name");
    char *admin_dsn = dsn_with_database(target->raw, "");
    char *scratch_dsn = dsn_with_database(target->raw, scratch);
    dbmgmt_conn *admin = NULL;
    int rc = DBMGMT_OK, created = 0, exists = 0, made_target = 0, moved = 0;
    if (!admin_dsn || !scratch_dsn)
        rc = dm_error_set(&s->err, DBMGMT_ERR_NOMEM, "out of memory");
    if (rc == DBMGMT_OK && (rc = dbmgmt_conn_open(&admin, admin_dsn)) != DBMGMT_OK)
        rc = dm_error_set(&s->err, rc, "connecting to the server of snapshot target %s: %s",
                          target->database, dbmgmt_errmsg());
    if (rc == DBMGMT_OK)
        rc = my_target_state(s, admin, target->database, &exists);
    dm_buf sql = {0};
    if (rc == DBMGMT_OK) {
        dm_buf_printf(&sql, "CREATE DATABASE %s", scratch);
        rc = exec_on(s, admin, sql.data, "creating the scratch database");
        created = rc == DBMGMT_OK;
        dm_buf_clear(&sql);
    }
    if (rc == DBMGMT_OK)
        rc = restore_into(s, b, id, scratch_dsn);
    if (rc == DBMGMT_OK)
        rc = dm_snap_mask_database(s, scratch_dsn);
    if (rc == DBMGMT_OK)
        rc = dm_snap_prepare_result(s);
    if (rc == DBMGMT_OK)
        rc = my_target_state(s, admin, target->database, &exists);
    if (rc == DBMGMT_OK && !exists) {
        dm_buf_puts(&sql, "CREATE DATABASE ");
        append_quoted(admin, &sql, target->database);
        rc = exec_on(s, admin, sql.data, "creating the snapshot target");
        made_target = rc == DBMGMT_OK;
        dm_buf_clear(&sql);
    }
    if (rc == DBMGMT_OK) {
        my_warn_not_carried(admin, scratch, target->database);
        rc = my_move_tables(s, admin, scratch, target->database);
        moved = rc == DBMGMT_OK;
    }
    if (rc != DBMGMT_OK && made_target && !moved) {
        dm_buf_puts(&sql, "DROP DATABASE ");
        append_quoted(admin, &sql, target->database);
        dm_conn_exec_statement(admin, sql.data);
        dm_buf_clear(&sql);
    }
    if (created && admin) {
        dm_buf_printf(&sql, "DROP DATABASE IF EXISTS %s", scratch);
        if (dm_conn_exec_statement(admin, sql.data) != DBMGMT_OK)
            dm_log(DBMGMT_LOG_WARN, "snapshot: could not drop scratch database %s: %s",
                   scratch, dbmgmt_conn_errmsg(admin));
    }
    dm_buf_free(&sql);
    dbmgmt_conn_close(admin);
    dm_free(admin_dsn);
    dm_free(scratch_dsn);
    return rc;
}
