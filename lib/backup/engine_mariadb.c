/*
 * The mariadb-backup engine for MariaDB (docs/backup-mariadb-backup.md):
 * physical backups of a server on this machine into
 * <dir>/mariadb-backup/<id>, full or incremental (the base is the newest
 * earlier backup of the chain), and the binlogs archived into <dir>/binlog
 * at every backup and tick so a restore can replay them to a time
 * (mariadb_restore.c).
 *
 * The catalog file of a backup is a manifest the library writes: the type,
 * the base, the LSNs, the binlog position and the SHA-256 of every file of
 * the backup's folder; verify checks every file against it and prepares a
 * scratch copy of the chain.
 *
 * mariadb-backup runs as the owner of the server's data directory when this
 * process is root. The password reaches the tools only through a 0600
 * --defaults-extra-file in the backup folder, removed on every path.
 */
#include "backup_impl.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "conn/conn.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/log.h"
#include "engine_mariadb.h"

#define MANIFEST_HEAD "# libdbmgmt mariadb-backup manifest 1\n"

void dm_mdb_free(dm_mdb *m)
{
    if (!m)
        return;
    dm_free(m->root);
    dm_free(m->binlogs);
    dm_free(m->datadir);
    dm_free(m);
}

int dm_mdb_valid_kind(const char *kind)
{
    return !strcmp(kind, "full") || !strcmp(kind, "incr");
}

/* ---- running the tools ---------------------------------------------------------------- */

int dm_mdb_tool(dbmgmt_backup *b, const char *name, const char *const *args, const char *socket,
                int as_owner, int in_fd, int out_fd, dm_mdb_proc *spawned)
{
    const dm_mdb *m = b->mdb;
    char *exe = dm_bk_find_exe(name);
    if (!exe)
        return dm_error_set(&b->err, DBMGMT_ERR_UNSUPPORTED,
                            "%s not found on PATH (install the Debian package %s)", name,
                            !strcmp(name, "mariadb-backup") ? "mariadb-backup"
                                                            : "mariadb-client");
    as_owner = as_owner && m->as_owner;
    char *options = NULL;
    int rc = dm_mysql_options_file(b->dsn, b->dir, socket, as_owner, m->uid, m->gid, &options,
                                   &b->err);
    dm_buf defaults = DM_BUF_INIT;
    if (rc == DBMGMT_OK)
        dm_buf_printf(&defaults, "--defaults-extra-file=%s", options);
    char *argv[DM_MDB_MAX_ARGS + 1];
    size_t n = 0;
    argv[n++] = (char *)name;
    argv[n++] = defaults.data; /* must come first */
    for (size_t i = 0; args[i] && n < DM_MDB_MAX_ARGS; i++)
        argv[n++] = (char *)args[i];
    argv[n] = NULL;
    dm_bk_env env = {0};
    dm_bk_env_base(&env);
    dm_bk_env_add(&env, "TZ", "UTC"); /* mariadb-binlog's --stop-datetime is UTC */
    if (rc == DBMGMT_OK && (env.failed || dm_buf_failed(&defaults)))
        rc = dm_error_set(&b->err, DBMGMT_ERR_NOMEM, "out of memory starting %s", name);
    dm_bk_child c = {name, exe, argv, env.vars, in_fd, out_fd, as_owner, m->uid, m->gid,
                     b->dsn->password};
    if (rc == DBMGMT_OK && spawned) {
        rc = dm_bk_child_spawn(&c, &spawned->proc, &b->err);
        spawned->child = (dm_bk_child){name, NULL, NULL, NULL, -1, -1, as_owner, m->uid, m->gid,
                                       b->dsn->password};
        if (rc == DBMGMT_OK) { /* read by the child at start-up: removed by dm_mdb_wait */
            spawned->options = options;
            options = NULL;
        }
    } else if (rc == DBMGMT_OK) {
        rc = dm_bk_child_run(&c, &b->err);
    }
    dm_bk_env_clear(&env);
    if (options)
        unlink(options);
    dm_free(options);
    dm_buf_free(&defaults);
    dm_free(exe);
    return rc;
}

int dm_mdb_wait(dbmgmt_backup *b, dm_mdb_proc *p)
{
    int rc = dm_bk_child_wait(&p->child, &p->proc, &b->err);
    if (p->options) {
        unlink(p->options);
        dm_free(p->options);
        p->options = NULL;
    }
    return rc;
}

/* ---- set-up --------------------------------------------------------------------------- */

static int read_server(dbmgmt_backup *b, dbmgmt_conn *conn, char **datadir)
{
    dbmgmt_result *r = NULL;
    if (dbmgmt_conn_query(conn, &r, "SELECT @@log_bin, @@binlog_format, @@server_id, @@datadir",
                          0, NULL) != DBMGMT_OK || dbmgmt_result_next(r) != 1) {
        dbmgmt_result_free(r);
        return dm_error_set(&b->err, DBMGMT_ERR_SQL, "mariadb-backup set-up: %s",
                            dbmgmt_conn_errmsg(conn));
    }
    const char *log_bin = dbmgmt_result_text(r, 0), *format = dbmgmt_result_text(r, 1);
    const char *server_id = dbmgmt_result_text(r, 2);
    int rc = DBMGMT_OK;
    if (!log_bin || strcmp(log_bin, "1") != 0 || !server_id || !strcmp(server_id, "0"))
        rc = dm_error_set(&b->err, DBMGMT_ERR_POLICY,
                          "mariadb-backup: point-in-time restores need the binary log; set "
                          "log_bin = mysql-bin, binlog_format = ROW and server_id = 1 (any "
                          "non-zero id) in the server's [mysqld] settings and restart it "
                          "(now log_bin = %s, binlog_format = %s, server_id = %s)",
                          log_bin && !strcmp(log_bin, "1") ? "ON" : "OFF",
                          format ? format : "?", server_id ? server_id : "?");
    else if (!(*datadir = dm_strdup(dbmgmt_result_text(r, 3))))
        rc = dm_error_set(&b->err, DBMGMT_ERR_NOMEM, "out of memory");
    dbmgmt_result_free(r);
    return rc;
}

static int make_folder(dbmgmt_backup *b, const char *path)
{
    const dm_mdb *m = b->mdb;
    if (mkdir(path, 0750) != 0 && errno != EEXIST)
        return dm_error_set(&b->err, DBMGMT_ERR_IO, "cannot create '%s': %s", path,
                            strerror(errno));
    if (m->as_owner && chown(path, m->uid, m->gid) != 0)
        return dm_error_set(&b->err, DBMGMT_ERR_IO, "cannot give '%s' to uid %ld: %s", path,
                            (long)m->uid, strerror(errno));
    return DBMGMT_OK;
}

static int init_paths(dbmgmt_backup *b, char *datadir)
{
    dm_mdb *m = b->mdb;
    size_t len = strlen(datadir);
    while (len > 1 && datadir[len - 1] == '/')
        datadir[--len] = '\0';
    struct stat st;
    if (stat(datadir, &st) != 0 || !S_ISDIR(st.st_mode))
        return dm_error_set(&b->err, DBMGMT_ERR_UNSUPPORTED,
                            "mariadb-backup needs the server's data directory '%s' on this "
                            "machine: %s", datadir, strerror(errno ? errno : ENOTDIR));
    dm_free(m->datadir);
    m->datadir = datadir;
    m->uid = st.st_uid;
    m->gid = st.st_gid;
    m->as_owner = geteuid() == 0 && st.st_uid != 0;
    if (m->as_owner) { /* the owner walks through the backup folder to its own */
        struct stat dst;
        if (stat(b->dir, &dst) == 0 && (dst.st_mode & 0111) != 0111 &&
            chmod(b->dir, (dst.st_mode & 07777) | 0111) != 0)
            return dm_error_set(&b->err, DBMGMT_ERR_IO,
                                "cannot chmod '%s' to let uid %ld in: %s", b->dir,
                                (long)m->uid, strerror(errno));
    }
    int rc = make_folder(b, m->root);
    return rc == DBMGMT_OK ? make_folder(b, m->binlogs) : rc;
}

int dm_mdb_setup(dbmgmt_backup *b)
{
    if (b->dsn->engine != DBMGMT_ENGINE_MYSQL)
        return dm_error_set(&b->err, DBMGMT_ERR_UNSUPPORTED,
                            "the mariadb-backup engine is for MariaDB; this scheduler's DSN is %s",
                            dbmgmt_engine_name(b->dsn->engine));
    char *exe = dm_bk_find_exe("mariadb-backup");
    if (!exe)
        return dm_error_set(&b->err, DBMGMT_ERR_UNSUPPORTED,
                            "mariadb-backup not found on PATH (install the Debian package "
                            "mariadb-backup)");
    dm_free(exe);
    if (!b->mdb) {
        if (!(b->mdb = dm_calloc(1, sizeof *b->mdb)))
            return dm_error_set(&b->err, DBMGMT_ERR_NOMEM, "out of memory");
        b->mdb->root = dm_bk_path(b->dir, "mariadb-backup");
        b->mdb->binlogs = dm_bk_path(b->dir, "binlog");
        if (!b->mdb->root || !b->mdb->binlogs) {
            dm_mdb_free(b->mdb);
            b->mdb = NULL;
            return dm_error_set(&b->err, DBMGMT_ERR_NOMEM, "out of memory");
        }
    }
    dbmgmt_conn *conn = NULL;
    if (dbmgmt_conn_open(&conn, b->dsn->raw) != DBMGMT_OK)
        return dm_error_set(&b->err, DBMGMT_ERR_CONNECT, "mariadb-backup set-up: %s",
                            dbmgmt_errmsg());
    char *datadir = NULL;
    int rc = read_server(b, conn, &datadir);
    dbmgmt_conn_close(conn);
    if (rc == DBMGMT_OK)
        rc = init_paths(b, datadir);
    else
        dm_free(datadir);
    if (rc == DBMGMT_OK)
        dm_log(DBMGMT_LOG_INFO, "mariadb-backup: data directory '%s', backups in '%s'",
               b->mdb->datadir, b->mdb->root);
    return rc;
}

/* ---- the manifest --------------------------------------------------------------------- */

/* The first line of dir/name (either of two names), or NULL. */
static char *read_small_file(const char *dir, const char *name, const char *old_name)
{
    char *text = NULL;
    for (int i = 0; i < 2 && !text; i++) {
        char *path = dm_bk_path(dir, i ? old_name : name);
        FILE *f = path ? fopen(path, "re") : NULL;
        dm_free(path);
        if (!f)
            continue;
        char buf[1024];
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[n] = '\0';
        text = dm_strdup(buf);
    }
    return text;
}

/* "key = value" lines of xtrabackup_checkpoints. */
static void checkpoint_value(const char *text, const char *key, char *out, size_t cap)
{
    out[0] = '\0';
    size_t klen = strlen(key);
    for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
        if (strncmp(p, key, klen) != 0 || (p[klen] != ' ' && p[klen] != '='))
            continue;
        const char *v = strchr(p, '=');
        v = v ? v + 1 : p + klen;
        while (*v == ' ')
            v++;
        size_t len = strcspn(v, "\r\n");
        snprintf(out, cap, "%.*s", (int)(len < cap ? len : cap - 1), v);
        return;
    }
}

/* The backup's facts: checkpoints and binlog position, into attrs. */
static int backup_facts(const char *dir, dm_bk_attrs *a)
{
    char *cp = read_small_file(dir, "mariadb_backup_checkpoints", "xtrabackup_checkpoints");
    char *bl = read_small_file(dir, "mariadb_backup_binlog_info", "xtrabackup_binlog_info");
    char from[64], to[64], last[64], file[256] = "", pos[32] = "", gtid[512] = "";
    checkpoint_value(cp, "from_lsn", from, sizeof from);
    checkpoint_value(cp, "to_lsn", to, sizeof to);
    checkpoint_value(cp, "last_lsn", last, sizeof last);
    if (bl) { /* "FILE\tPOS\tGTID" */
        const char *p = bl;
        size_t len = strcspn(p, "\t\n");
        snprintf(file, sizeof file, "%.*s", (int)len, p);
        p += len;
        if (*p == '\t') {
            len = strcspn(++p, "\t\n");
            snprintf(pos, sizeof pos, "%.*s", (int)len, p);
            p += len;
        }
        if (*p == '\t') {
            len = strcspn(++p, "\r\n");
            snprintf(gtid, sizeof gtid, "%.*s", (int)(len < sizeof gtid ? len : 0), p);
        }
    }
    dm_free(cp);
    dm_free(bl);
    if (!*to || !*file || !*pos)
        return DBMGMT_ERR_NOTFOUND;
    int rc = dm_bk_attrs_set(a, "from_lsn", from);
    if (rc == DBMGMT_OK)
        rc = dm_bk_attrs_set(a, "to_lsn", to);
    if (rc == DBMGMT_OK)
        rc = dm_bk_attrs_set(a, "last_lsn", last);
    if (rc == DBMGMT_OK)
        rc = dm_bk_attrs_set(a, "binlog_file", file);
    if (rc == DBMGMT_OK)
        rc = dm_bk_attrs_set(a, "binlog_pos", pos);
    if (rc == DBMGMT_OK)
        rc = dm_bk_attrs_set(a, "gtid", gtid);
    return rc;
}

static const char *const manifest_keys[] = {"type", "base", "dir", "from_lsn", "to_lsn", "last_lsn",
                                            "binlog_file", "binlog_pos", "gtid", "stop_time"};

static int write_manifest(dbmgmt_backup *b, const char *dir, const char *dst_path,
                          const dm_bk_attrs *a)
{
    dm_buf t = DM_BUF_INIT;
    dm_buf_puts(&t, MANIFEST_HEAD);
    for (size_t i = 0; i < sizeof manifest_keys / sizeof manifest_keys[0]; i++) {
        const char *v = dm_bk_attrs_get(a, manifest_keys[i]);
        dm_buf_printf(&t, "%s %s\n", manifest_keys[i], v ? v : "");
    }
    int rc = dm_mdb_hash_tree(dir, &t, &b->err);
    if (rc == DBMGMT_OK && dm_buf_failed(&t))
        rc = dm_error_set(&b->err, DBMGMT_ERR_NOMEM, "out of memory");
    int fd = rc == DBMGMT_OK ? dm_bk_create_private(dst_path, &b->err) : -1;
    if (rc == DBMGMT_OK && fd < 0)
        rc = fd;
    if (fd >= 0 && write(fd, t.data, t.len) != (ssize_t)t.len)
        rc = dm_error_set(&b->err, DBMGMT_ERR_IO, "cannot write '%s': %s", dst_path,
                          strerror(errno));
    if (fd >= 0)
        close(fd);
    dm_buf_free(&t);
    return rc;
}

/* ---- backup --------------------------------------------------------------------------- */

/* From the backup folder, not b->mdb: a prune in a process that did not
 * set the engine still removes the folder. */
char *dm_mdb_dir(const dbmgmt_backup *b, const char *id)
{
    dm_buf p = DM_BUF_INIT;
    dm_buf_printf(&p, "%s/mariadb-backup/%s", b->dir, id);
    return dm_buf_detach(&p);
}

void dm_mdb_discard(dbmgmt_backup *b, const char *id)
{
    char *dir = dm_mdb_dir(b, id);
    if (dir)
        dm_mdb_remove_tree(dir);
    dm_free(dir);
}

/* The newest mariadb-backup backup in the catalog: the base of an incr. */
static int newest_backup(dbmgmt_backup *b, char **id)
{
    dm_bk_entry *v = NULL;
    size_t n = 0;
    *id = NULL;
    int rc = dm_bkcat_all(b->cat, &v, &n, &b->err);
    for (size_t i = n; rc == DBMGMT_OK && i-- > 0;)
        if (!strcmp(v[i].engine, "mariadb-backup")) {
            if (!(*id = dm_strdup(v[i].id)))
                rc = dm_error_set(&b->err, DBMGMT_ERR_NOMEM, "out of memory");
            break;
        }
    dm_bk_entries_free(v, n);
    return rc;
}

static int run_backup(dbmgmt_backup *b, const char *dir, const char *base_dir)
{
    dm_buf target = DM_BUF_INIT, datadir = DM_BUF_INIT, base = DM_BUF_INIT;
    dm_buf_printf(&target, "--target-dir=%s", dir);
    dm_buf_printf(&datadir, "--datadir=%s", b->mdb->datadir);
    if (base_dir)
        dm_buf_printf(&base, "--incremental-basedir=%s", base_dir);
    int rc = DBMGMT_OK;
    if (dm_buf_failed(&target) || dm_buf_failed(&datadir) || dm_buf_failed(&base))
        rc = dm_error_set(&b->err, DBMGMT_ERR_NOMEM, "out of memory");
    const char *args[] = {"--backup", target.data, datadir.data, base_dir ? base.data : NULL,
                          NULL};
    if (rc == DBMGMT_OK)
        rc = dm_mdb_tool(b, "mariadb-backup", args, NULL, 1, -1, -1, NULL);
    dm_buf_free(&target);
    dm_buf_free(&datadir);
    dm_buf_free(&base);
    return rc;
}

int dm_mdb_backup(dbmgmt_backup *b, const char *id, const char *kind, const char *dst_path,
                  dm_bk_attrs *attrs)
{
    if (!b->mdb)
        return dm_error_set(&b->err, DBMGMT_ERR_INTERNAL, "mariadb-backup engine not set up");
    /* A manual backup is a full one (docs/decisions.md). */
    const char *type = !strcmp(kind, "incr") ? "incr" : "full";
    char *base = NULL, *base_dir = NULL, *dir = dm_mdb_dir(b, id);
    int rc = dir ? DBMGMT_OK : dm_error_set(&b->err, DBMGMT_ERR_NOMEM, "out of memory");
    if (rc == DBMGMT_OK && !strcmp(type, "incr")) {
        rc = newest_backup(b, &base);
        if (rc == DBMGMT_OK && !base)
            rc = dm_error_set(&b->err, DBMGMT_ERR_POLICY,
                              "mariadb-backup: an incr backup needs a full backup before it "
                              "and the catalog has none; take a full backup first");
        if (rc == DBMGMT_OK && !(base_dir = dm_mdb_dir(b, base)))
            rc = dm_error_set(&b->err, DBMGMT_ERR_NOMEM, "out of memory");
    }
    if (rc == DBMGMT_OK) {
        dm_mdb_remove_tree(dir); /* a crashed attempt's leftovers */
        rc = run_backup(b, dir, base_dir);
    }
    char stop[32];
    snprintf(stop, sizeof stop, "%lld", (long long)time(NULL));
    if (rc == DBMGMT_OK) {
        int frc = backup_facts(dir, attrs);
        if (frc == DBMGMT_ERR_NOTFOUND)
            rc = dm_error_set(&b->err, DBMGMT_ERR_IO,
                              "mariadb-backup left no checkpoints or binlog position in '%s' "
                              "(is the server's binary log on?)", dir);
        else if (frc != DBMGMT_OK)
            rc = dm_error_set(&b->err, DBMGMT_ERR_NOMEM, "out of memory");
    }
    dm_buf rel = DM_BUF_INIT;
    dm_buf_printf(&rel, "mariadb-backup/%s", id);
    if (rc == DBMGMT_OK &&
        (dm_buf_failed(&rel) || dm_bk_attrs_set(attrs, "type", type) != DBMGMT_OK ||
         dm_bk_attrs_set(attrs, "base", base ? base : "") != DBMGMT_OK ||
         dm_bk_attrs_set(attrs, "dir", rel.data) != DBMGMT_OK ||
         dm_bk_attrs_set(attrs, "stop_time", stop) != DBMGMT_OK))
        rc = dm_error_set(&b->err, DBMGMT_ERR_NOMEM, "out of memory");
    /* The binlogs up to this backup and past it: PITR from it needs them. */
    if (rc == DBMGMT_OK)
        rc = dm_mdb_archive_binlogs(b);
    if (rc == DBMGMT_OK)
        rc = write_manifest(b, dir, dst_path, attrs);
    if (rc == DBMGMT_OK)
        dm_log(DBMGMT_LOG_INFO, "mariadb-backup: %s backup %s%s%s at binlog %s:%s", type, id,
               base ? " on " : "", base ? base : "", dm_bk_attrs_get(attrs, "binlog_file"),
               dm_bk_attrs_get(attrs, "binlog_pos"));
    if (rc != DBMGMT_OK && dir)
        dm_mdb_remove_tree(dir); /* nothing half-applied */
    dm_buf_free(&rel);
    dm_free(base);
    dm_free(base_dir);
    dm_free(dir);
    return rc;
}
