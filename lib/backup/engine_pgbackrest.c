/*
 * The pgBackRest engine for PostgreSQL (docs/backup-pgbackrest.md): the
 * backup folder holds pgBackRest's repository (<dir>/pgbackrest) and the
 * configuration the library writes for it (<dir>/pgbackrest.conf, 0600,
 * stanza "dbmgmt"); schedules of kind full, diff and incr become pgBackRest
 * backups of that type; the catalog file of a backup is that backup's
 * object of `pgbackrest info --output=json` and its facts are attrs.
 *
 * pgBackRest runs as the owner of the server's data directory: when this
 * process is root, the child drops to that uid/gid (the server's own
 * archive-push writes the same repository as that user). The password goes
 * to pgBackRest's libpq through PGPASSWORD in the child's environment; the
 * child's argv holds only paths and options.
 */
#include "backup_impl.h"

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

#define STANZA "dbmgmt"
#define MAX_ARGS 16
/* The context of the repository passphrase derived from the backup key. */
#define PGBR_CIPHER_CONTEXT "dbmgmt pgbackrest repo1-cipher-pass"

struct dm_pgbr {
    char *conf;    /* <dir>/pgbackrest.conf */
    char *repo;    /* <dir>/pgbackrest */
    char *pg_path; /* the server's data directory */
    uid_t uid;     /* its owner: pgBackRest runs as it when we are root */
    gid_t gid;
    int as_owner;
};

void dm_pgbr_free(dm_pgbr *p)
{
    if (!p)
        return;
    dm_free(p->conf);
    dm_free(p->repo);
    dm_free(p->pg_path);
    dm_free(p);
}

int dm_pgbr_valid_kind(const char *kind)
{
    return !strcmp(kind, "full") || !strcmp(kind, "diff") || !strcmp(kind, "incr");
}

/* ---- running pgbackrest ------------------------------------------------------ */

/* Run `pgbackrest --config=C --stanza=dbmgmt ARGS... CMD`, its stdout to
 * out_fd (-1: /dev/null), as the data directory's owner (backup_child.c). */
static int pgbr_run(dbmgmt_backup *b, const char *cmd, const char *const *args, int out_fd)
{
    const dm_pgbr *p = b->pgbr;
    char *exe = dm_bk_find_exe("pgbackrest");
    if (!exe)
        return dm_error_set(&b->err, DBMGMT_ERR_UNSUPPORTED,
                            "pgbackrest not found on PATH (install the Debian package "
                            "pgbackrest)");
    dm_buf config = DM_BUF_INIT, what = DM_BUF_INIT;
    dm_buf_printf(&config, "--config=%s", p->conf);
    dm_buf_printf(&what, "pgbackrest %s", cmd);
    char *argv[MAX_ARGS + 1];
    size_t n = 0;
    argv[n++] = "pgbackrest";
    argv[n++] = config.data;
    argv[n++] = "--stanza=" STANZA;
    for (size_t i = 0; args && args[i] && n < MAX_ARGS - 1; i++)
        argv[n++] = (char *)args[i];
    argv[n++] = (char *)cmd;
    argv[n] = NULL;
    dm_bk_env env = {0};
    const char *path = getenv("PATH");
    dm_bk_env_add(&env, "PATH", path && *path ? path : "/usr/local/bin:/usr/bin:/bin");
    dm_bk_env_add(&env, "LC_ALL", "C");
    dm_bk_env_add(&env, "PGPASSWORD", b->dsn->password);
    int rc = DBMGMT_OK;
    if (dm_buf_failed(&config) || dm_buf_failed(&what) || env.failed) {
        rc = dm_error_set(&b->err, DBMGMT_ERR_NOMEM, "out of memory starting pgbackrest");
    } else {
        dm_bk_child c = {what.data, exe, argv, env.vars, -1, out_fd, p->as_owner, p->uid,
                         p->gid, b->dsn->password};
        rc = dm_bk_child_run(&c, &b->err);
    }
    dm_bk_env_clear(&env);
    dm_buf_free(&config);
    dm_buf_free(&what);
    dm_free(exe);
    return rc;
}

/* Run a command and return its stdout (caller frees). */
static int pgbr_output(dbmgmt_backup *b, const char *cmd, const char *const *args, char **out)
{
    *out = NULL;
    int fd = open(b->dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd < 0)
        return dm_error_set(&b->err, DBMGMT_ERR_IO, "cannot create a temporary file in '%s': %s",
                            b->dir, strerror(errno));
    int rc = pgbr_run(b, cmd, args, fd);
    off_t len = rc == DBMGMT_OK ? lseek(fd, 0, SEEK_END) : 0;
    char *text = rc == DBMGMT_OK ? dm_malloc((size_t)len + 1) : NULL;
    if (rc == DBMGMT_OK && !text)
        rc = dm_error_set(&b->err, DBMGMT_ERR_NOMEM, "out of memory reading pgbackrest %s", cmd);
    if (rc == DBMGMT_OK && pread(fd, text, (size_t)len, 0) != (ssize_t)len)
        rc = dm_error_set(&b->err, DBMGMT_ERR_IO, "cannot read the output of pgbackrest %s",
                          cmd);
    close(fd);
    if (rc != DBMGMT_OK) {
        dm_free(text);
        return rc;
    }
    text[len] = '\0';
    *out = text;
    return DBMGMT_OK;
}

/* ---- set-up ------------------------------------------------------------------------ */

typedef struct server_facts {
    char *data_dir, *socket_dir, *archive_mode, *archive_command, *wal_level;
    int superuser;
} server_facts;

static void facts_clear(server_facts *f)
{
    dm_free(f->data_dir);
    dm_free(f->socket_dir);
    dm_free(f->archive_mode);
    dm_free(f->archive_command);
    dm_free(f->wal_level);
    memset(f, 0, sizeof *f);
}

static int conn_fail(dbmgmt_backup *b, dbmgmt_conn *conn, const char *what)
{
    return dm_error_set(&b->err, DBMGMT_ERR_SQL, "pgbackrest set-up: %s: %s", what,
                        dbmgmt_conn_errmsg(conn));
}

static int read_facts(dbmgmt_backup *b, dbmgmt_conn *conn, server_facts *f)
{
    dbmgmt_result *r = NULL;
    static const char sql[] =
        "SELECT current_setting('data_directory'), "
        "split_part(current_setting('unix_socket_directories'), ',', 1), "
        "current_setting('archive_mode'), current_setting('archive_command'), "
        "current_setting('wal_level'), "
        "(SELECT rolsuper FROM pg_roles WHERE rolname = current_user)::int";
    if (dbmgmt_conn_query(conn, &r, sql, 0, NULL) != DBMGMT_OK)
        return dm_error_set(&b->err, DBMGMT_ERR_POLICY,
                            "pgbackrest set-up: cannot read data_directory (the role needs "
                            "superuser or pg_read_all_settings): %s", dbmgmt_conn_errmsg(conn));
    int rc = DBMGMT_OK;
    if (dbmgmt_result_next(r) != 1) {
        rc = conn_fail(b, conn, "reading the server's settings");
    } else {
        f->data_dir = dm_strdup(dbmgmt_result_text(r, 0));
        f->socket_dir = dm_strdup(dbmgmt_result_text(r, 1));
        f->archive_mode = dm_strdup(dbmgmt_result_text(r, 2));
        f->archive_command = dm_strdup(dbmgmt_result_text(r, 3));
        f->wal_level = dm_strdup(dbmgmt_result_text(r, 4));
        f->superuser = dbmgmt_result_text(r, 5) && !strcmp(dbmgmt_result_text(r, 5), "1");
        if (!f->data_dir || !f->socket_dir || !f->archive_mode || !f->archive_command ||
            !f->wal_level)
            rc = dm_error_set(&b->err, DBMGMT_ERR_NOMEM, "out of memory");
    }
    dbmgmt_result_free(r);
    return rc;
}

/* The archive_command the server needs: pgBackRest with our config. */
static char *archive_command(const dm_pgbr *p)
{
    dm_buf c = DM_BUF_INIT;
    dm_buf_printf(&c, "pgbackrest --config=%s --stanza=" STANZA " archive-push %%p", p->conf);
    return dm_buf_detach(&c);
}

/* A buffer that held the cipher passphrase: zeroed before it is freed. */
static void wipe_free(dm_buf *t)
{
    if (t->data)
        memset(t->data, 0, t->len);
    dm_buf_free(t);
}

static int write_config(dbmgmt_backup *b, const server_facts *f)
{
    const dm_pgbr *p = b->pgbr;
    dm_buf t = DM_BUF_INIT;
    dm_buf_printf(&t,
                  "# Written by libdbmgmt (docs/backup-pgbackrest.md); rewritten at each "
                  "set-up.\n[global]\nrepo1-path=%s\n"
                  "repo1-retention-full-type=count\nrepo1-retention-full=9999999\n"
                  "start-fast=y\narchive-timeout=60\ncompress-type=gz\ncompress-level=1\n"
                  "log-level-console=off\nlog-level-stderr=warn\nlog-level-file=off\n"
                  "lock-path=%s/lock\nspool-path=%s/spool\n\n[" STANZA "]\npg1-path=%s\n"
                  "pg1-port=%d\npg1-socket-path=%s\n",
                  p->repo, p->repo, p->repo, p->pg_path, b->dsn->port > 0 ? b->dsn->port : 5432,
                  f->socket_dir);
    if (b->dsn->user)
        dm_buf_printf(&t, "pg1-user=%s\n", b->dsn->user);
    if (b->dsn->database)
        dm_buf_printf(&t, "pg1-database=%s\n", b->dsn->database);
    /* pgBackRest's own cipher, the passphrase derived from the key; room is
     * reserved first so no reallocation leaves a copy of it behind. */
    if (b->key && dm_buf_reserve(&t, 128) == 0) {
        char pass[65];
        dm_bk_key_passphrase(b->key, PGBR_CIPHER_CONTEXT, pass);
        dm_buf_printf(&t, "repo1-cipher-type=aes-256-cbc\nrepo1-cipher-pass=%s\n", pass);
        memset(pass, 0, sizeof pass);
    } else if (b->key) {
        dm_buf_free(&t);
        return dm_error_set(&b->err, DBMGMT_ERR_NOMEM, "out of memory");
    }
    if (dm_buf_failed(&t)) {
        wipe_free(&t);
        return dm_error_set(&b->err, DBMGMT_ERR_NOMEM, "out of memory");
    }
    dm_buf tmp = DM_BUF_INIT;
    dm_buf_printf(&tmp, "%s" DM_BACKUP_PARTIAL "%ld", p->conf, (long)getpid());
    int rc = DBMGMT_OK;
    int fd = dm_buf_failed(&tmp) ? -1
                                 : open(tmp.data, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        rc = dm_error_set(&b->err, DBMGMT_ERR_IO, "cannot write '%s': %s", p->conf,
                          strerror(errno));
    else if (write(fd, t.data, t.len) != (ssize_t)t.len || fsync(fd) != 0 ||
             (p->as_owner && fchown(fd, p->uid, p->gid) != 0))
        rc = dm_error_set(&b->err, DBMGMT_ERR_IO, "cannot write '%s': %s", p->conf,
                          strerror(errno));
    if (fd >= 0)
        close(fd);
    if (rc == DBMGMT_OK && rename(tmp.data, p->conf) != 0)
        rc = dm_error_set(&b->err, DBMGMT_ERR_IO, "cannot rename '%s': %s", tmp.data,
                          strerror(errno));
    if (rc != DBMGMT_OK && tmp.data)
        unlink(tmp.data);
    dm_buf_free(&tmp);
    wipe_free(&t);
    return rc;
}

/* The repository folder, owned by the data directory's owner; the backup
 * folder must let that user through (0711) when it is not its owner. */
static int make_repo(dbmgmt_backup *b)
{
    const dm_pgbr *p = b->pgbr;
    if (mkdir(p->repo, 0750) != 0 && errno != EEXIST)
        return dm_error_set(&b->err, DBMGMT_ERR_IO, "cannot create '%s': %s", p->repo,
                            strerror(errno));
    if (p->as_owner) {
        struct stat st;
        if (chown(p->repo, p->uid, p->gid) != 0)
            return dm_error_set(&b->err, DBMGMT_ERR_IO, "cannot give '%s' to uid %ld: %s",
                                p->repo, (long)p->uid, strerror(errno));
        if (stat(b->dir, &st) == 0 && (st.st_mode & 0111) != 0111 &&
            chmod(b->dir, (st.st_mode & 07777) | 0111) != 0)
            return dm_error_set(&b->err, DBMGMT_ERR_IO, "cannot chmod '%s' to let uid %ld in: %s",
                                b->dir, (long)p->uid, strerror(errno));
    }
    return DBMGMT_OK;
}

/* A repository made before keeps its cipher (pgBackRest cannot change it):
 * its backup.info starts with OpenSSL's "Salted__" when encrypted. */
static int check_repo_cipher(dbmgmt_backup *b)
{
    dm_buf info = DM_BUF_INIT;
    dm_buf_printf(&info, "%s/backup/" STANZA "/backup.info", b->pgbr->repo);
    if (dm_buf_failed(&info))
        return dm_error_set(&b->err, DBMGMT_ERR_NOMEM, "out of memory");
    char head[8] = {0};
    int fd = open(info.data, O_RDONLY | O_CLOEXEC);
    ssize_t n = fd >= 0 ? read(fd, head, sizeof head) : -1;
    if (fd >= 0)
        close(fd);
    int rc = DBMGMT_OK;
    if (n == (ssize_t)sizeof head) {
        int encrypted = memcmp(head, "Salted__", sizeof head) == 0;
        if (encrypted && !b->key)
            rc = dm_error_set(&b->err, DBMGMT_ERR_POLICY,
                              "pgbackrest: the repository '%s' is encrypted: set the backup key "
                              "(dbmgmt_backup_set_key, --key-file) before the engine",
                              b->pgbr->repo);
        else if (!encrypted && b->key)
            rc = dm_error_set(&b->err, DBMGMT_ERR_POLICY,
                              "pgbackrest: the repository '%s' was made without encryption and "
                              "pgBackRest cannot encrypt it later: use a new backup folder for "
                              "encrypted backups", b->pgbr->repo);
    }
    dm_buf_free(&info);
    return rc;
}

static void sql_literal(dm_buf *sql, const char *s)
{
    dm_buf_putc(sql, '\'');
    for (; *s; s++) {
        if (*s == '\'')
            dm_buf_putc(sql, '\'');
        dm_buf_putc(sql, *s);
    }
    dm_buf_putc(sql, '\'');
}

/* archive_mode = on and our archive_command: set them when the role may
 * (ALTER SYSTEM), else name them. archive_mode needs a restart. */
static int ensure_archiving(dbmgmt_backup *b, dbmgmt_conn *conn, const server_facts *f)
{
    char *want = archive_command(b->pgbr);
    if (!want)
        return dm_error_set(&b->err, DBMGMT_ERR_NOMEM, "out of memory");
    int mode_ok = strcmp(f->archive_mode, "off") != 0;
    int wal_ok = strcmp(f->wal_level, "minimal") != 0;
    int cmd_ok = strcmp(f->archive_command, want) == 0;
    int rc = DBMGMT_OK;
    if (mode_ok && wal_ok && cmd_ok) {
        dm_free(want);
        return DBMGMT_OK;
    }
    if (!f->superuser) {
        rc = dm_error_set(&b->err, DBMGMT_ERR_POLICY,
                          "pgbackrest: the server needs archive_mode = on, wal_level = replica "
                          "and archive_command = '%s' (now %s, %s, '%s'); the role is not "
                          "superuser, so set them in postgresql.conf and restart",
                          want, f->archive_mode, f->wal_level, f->archive_command);
        dm_free(want);
        return rc;
    }
    dm_buf sql = DM_BUF_INIT;
    dm_buf_puts(&sql, "ALTER SYSTEM SET archive_command = ");
    sql_literal(&sql, want);
    if (!mode_ok)
        dm_buf_puts(&sql, ";ALTER SYSTEM SET archive_mode = 'on'");
    if (!wal_ok)
        dm_buf_puts(&sql, ";ALTER SYSTEM SET wal_level = 'replica'");
    dm_buf_puts(&sql, ";SELECT pg_reload_conf()");
    if (dm_buf_failed(&sql))
        rc = dm_error_set(&b->err, DBMGMT_ERR_NOMEM, "out of memory");
    else if (dbmgmt_conn_exec(conn, sql.data) != DBMGMT_OK)
        rc = conn_fail(b, conn, "ALTER SYSTEM for archiving");
    else if (!mode_ok || !wal_ok)
        rc = dm_error_set(&b->err, DBMGMT_ERR_POLICY,
                          "pgbackrest: set archive_mode = on, wal_level = replica and "
                          "archive_command = '%s' with ALTER SYSTEM; restart the server, then "
                          "set the engine again", want);
    else
        dm_log(DBMGMT_LOG_INFO, "pgbackrest: archive_command set to '%s'", want);
    dm_buf_free(&sql);
    dm_free(want);
    return rc;
}

static int init_paths(dbmgmt_backup *b, const char *data_dir)
{
    dm_pgbr *p = b->pgbr;
    struct stat st;
    if (stat(data_dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return dm_error_set(&b->err, DBMGMT_ERR_UNSUPPORTED,
                            "pgbackrest needs the server's data directory '%s' on this machine: "
                            "%s", data_dir, strerror(errno ? errno : ENOTDIR));
    dm_free(p->pg_path);
    if (!(p->pg_path = dm_strdup(data_dir)))
        return dm_error_set(&b->err, DBMGMT_ERR_NOMEM, "out of memory");
    p->uid = st.st_uid;
    p->gid = st.st_gid;
    p->as_owner = geteuid() == 0 && st.st_uid != 0;
    return DBMGMT_OK;
}

int dm_pgbr_setup(dbmgmt_backup *b)
{
    if (b->dsn->engine != DBMGMT_ENGINE_POSTGRES)
        return dm_error_set(&b->err, DBMGMT_ERR_UNSUPPORTED,
                            "the pgbackrest engine is for PostgreSQL; this scheduler's DSN is %s",
                            dbmgmt_engine_name(b->dsn->engine));
    if (b->dsn->keyword_form || !b->dsn->database)
        return dm_error_set(&b->err, DBMGMT_ERR_UNSUPPORTED,
                            "the pgbackrest engine needs a URL DSN naming the database");
    if (!b->pgbr) {
        if (!(b->pgbr = dm_calloc(1, sizeof *b->pgbr)))
            return dm_error_set(&b->err, DBMGMT_ERR_NOMEM, "out of memory");
        b->pgbr->conf = dm_bk_path(b->dir, "pgbackrest.conf");
        b->pgbr->repo = dm_bk_path(b->dir, "pgbackrest");
        if (!b->pgbr->conf || !b->pgbr->repo) {
            dm_pgbr_free(b->pgbr);
            b->pgbr = NULL;
            return dm_error_set(&b->err, DBMGMT_ERR_NOMEM, "out of memory");
        }
    }
    if (strchr(b->dir, '\'') || strchr(b->dir, ' ') || strchr(b->dir, '\n'))
        return dm_error_set(&b->err, DBMGMT_ERR_INVALID,
                            "pgbackrest: the backup folder '%s' must not contain spaces or quotes "
                            "(it goes into archive_command)", b->dir);
    dbmgmt_conn *conn = NULL;
    if (dbmgmt_conn_open(&conn, b->dsn->raw) != DBMGMT_OK)
        return dm_error_set(&b->err, DBMGMT_ERR_CONNECT, "pgbackrest set-up: %s",
                            dbmgmt_errmsg());
    server_facts f = {0};
    int rc = read_facts(b, conn, &f);
    if (rc == DBMGMT_OK)
        rc = init_paths(b, f.data_dir);
    if (rc == DBMGMT_OK)
        rc = make_repo(b);
    if (rc == DBMGMT_OK)
        rc = check_repo_cipher(b);
    if (rc == DBMGMT_OK)
        rc = write_config(b, &f);
    if (rc == DBMGMT_OK)
        rc = ensure_archiving(b, conn, &f);
    dbmgmt_conn_close(conn);
    facts_clear(&f);
    if (rc == DBMGMT_OK)
        rc = pgbr_run(b, "stanza-create", NULL, -1);
    if (rc == DBMGMT_OK)
        rc = pgbr_run(b, "check", NULL, -1);
    if (rc == DBMGMT_OK)
        dm_log(DBMGMT_LOG_INFO, "pgbackrest: stanza " STANZA " ready, repository '%s'",
               b->pgbr->repo);
    return rc;
}

/* ---- info ------------------------------------------------------------------------------ */

/* The backup array of our stanza in `info --output=json` text, or NULL. */
static const char *stanza_backups(const char *info)
{
    size_t n = 0;
    dm_pgbr_json_at(info, 0, &n);
    for (size_t i = 0; i < n; i++) {
        const char *st = dm_pgbr_json_at(info, i, NULL);
        char *name = dm_pgbr_json_text(dm_pgbr_json_get(st, "name"));
        int ours = name && !strcmp(name, STANZA);
        dm_free(name);
        if (ours)
            return dm_pgbr_json_get(st, "backup");
    }
    return NULL;
}

static int put_attr(dm_bk_attrs *a, const char *key, const char *obj, const char *k1,
                    const char *k2)
{
    const char *v = dm_pgbr_json_get(obj, k1);
    if (v && k2)
        v = dm_pgbr_json_get(v, k2);
    char *s = dm_pgbr_json_text(v);
    const char *t = v;
    while (t && (*t == ' ' || *t == '\n'))
        t++;
    if (!s && t && strncmp(t, "null", 4) != 0)
        return DBMGMT_ERR_NOMEM; /* a value was there: only memory can lose it */
    int rc = dm_bk_attrs_set(a, key, s ? s : "");
    dm_free(s);
    return rc;
}

static int backup_attrs(const char *obj, const char *requested, dm_bk_attrs *a)
{
    static const char *const map[][3] = {
        {"label", "label", NULL},         {"type", "type", NULL},
        {"prior", "prior", NULL},         {"wal_start", "archive", "start"},
        {"wal_stop", "archive", "stop"},  {"lsn_start", "lsn", "start"},
        {"lsn_stop", "lsn", "stop"},      {"backup_size", "info", "size"},
        {"start_time", "timestamp", "start"}, {"stop_time", "timestamp", "stop"},
    };
    int rc = DBMGMT_OK;
    for (size_t i = 0; rc == DBMGMT_OK && i < sizeof map / sizeof map[0]; i++)
        rc = put_attr(a, map[i][0], obj, map[i][1], map[i][2]);
    const char *repo = dm_pgbr_json_get(obj, "info");
    if (rc == DBMGMT_OK)
        rc = put_attr(a, "repo_size", dm_pgbr_json_get(repo, "repository"), "size", NULL);
    if (rc == DBMGMT_OK)
        rc = dm_bk_attrs_set(a, "requested_type", requested);
    return rc;
}

static int write_all(dbmgmt_backup *b, const char *path, const char *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    int rc = DBMGMT_OK;
    if (fd < 0 || write(fd, data, len) != (ssize_t)len || write(fd, "\n", 1) != 1)
        rc = dm_error_set(&b->err, DBMGMT_ERR_IO, "cannot write '%s': %s", path,
                          strerror(errno));
    if (fd >= 0)
        close(fd);
    return rc;
}

/* ---- backup, verify, expire, restore --------------------------------------------------- */

int dm_pgbr_backup(dbmgmt_backup *b, const char *kind, const char *dst_path, dm_bk_attrs *attrs)
{
    if (!b->pgbr)
        return dm_error_set(&b->err, DBMGMT_ERR_INTERNAL, "pgbackrest engine not set up");
    /* A manual backup is pgBackRest's default type, incr (a full when
     * there is none yet). */
    const char *type = dm_pgbr_valid_kind(kind) ? kind : "incr";
    char type_arg[32];
    snprintf(type_arg, sizeof type_arg, "--type=%s", type);
    const char *args[] = {type_arg, NULL};
    char *before = NULL, *info = NULL;
    int rc = pgbr_output(b, "info", (const char *[]){"--output=json", NULL}, &before);
    size_t nbefore = 0;
    if (rc == DBMGMT_OK)
        dm_pgbr_json_at(stanza_backups(before), 0, &nbefore);
    dm_free(before);
    if (rc == DBMGMT_OK)
        rc = pgbr_run(b, "backup", args, -1);
    if (rc == DBMGMT_OK)
        rc = pgbr_output(b, "info", (const char *[]){"--output=json", NULL}, &info);
    size_t n = 0;
    const char *set = NULL;
    if (rc == DBMGMT_OK) {
        const char *arr = stanza_backups(info);
        dm_pgbr_json_at(arr, 0, &n);
        set = n > nbefore ? dm_pgbr_json_at(arr, n - 1, NULL) : NULL;
        if (!set)
            rc = dm_error_set(&b->err, DBMGMT_ERR_IO,
                              "pgbackrest backup --type=%s succeeded but `pgbackrest info` "
                              "shows no new backup in '%s'", type, b->pgbr->repo);
    }
    if (rc == DBMGMT_OK)
        rc = backup_attrs(set, type, attrs) == DBMGMT_OK &&
                     dm_bk_attrs_set(attrs, "repo_cipher",
                                     b->key ? "aes-256-cbc" : "none") == DBMGMT_OK
                 ? DBMGMT_OK
                 : dm_error_set(&b->err, DBMGMT_ERR_NOMEM, "out of memory");
    if (rc == DBMGMT_OK)
        rc = write_all(b, dst_path, set, (size_t)(dm_pgbr_json_skip(set) - set));
    if (rc == DBMGMT_OK)
        dm_log(DBMGMT_LOG_INFO, "pgbackrest: %s backup %s (requested %s)",
               dm_bk_attrs_get(attrs, "type"), dm_bk_attrs_get(attrs, "label"), type);
    dm_free(info);
    return rc;
}

/* pgBackRest's verify of the repository, and the label still in info. */
int dm_pgbr_check(dbmgmt_backup *b, const dm_bk_entry *e)
{
    const char *label = dm_bk_attrs_get(&e->attrs, "label");
    if (!label || !*label)
        return dm_error_set(&b->err, DBMGMT_ERR_CHECKSUM, "backup %s has no pgBackRest label",
                            e->id);
    int rc = b->pgbr ? DBMGMT_OK
                     : dm_error_set(&b->err, DBMGMT_ERR_INVALID,
                                    "backup %s is a pgbackrest backup: set the engine "
                                    "(dbmgmt_backup_set_engine) to check it", e->id);
    char *info = NULL;
    if (rc == DBMGMT_OK)
        rc = pgbr_run(b, "verify", NULL, -1);
    if (rc != DBMGMT_OK && rc != DBMGMT_ERR_NOMEM && rc != DBMGMT_ERR_INVALID)
        rc = dm_error_set(&b->err, DBMGMT_ERR_CHECKSUM, "backup %s (%s): %s", e->id, label,
                          b->err.msg);
    if (rc == DBMGMT_OK)
        rc = pgbr_output(b, "info", (const char *[]){"--output=json", NULL}, &info);
    int found = 0;
    if (rc == DBMGMT_OK) {
        const char *arr = stanza_backups(info);
        size_t n = 0;
        dm_pgbr_json_at(arr, 0, &n);
        for (size_t i = 0; i < n && !found; i++) {
            char *l = dm_pgbr_json_text(
                dm_pgbr_json_get(dm_pgbr_json_at(arr, i, NULL), "label"));
            found = l && !strcmp(l, label);
            dm_free(l);
        }
        if (!found)
            rc = dm_error_set(&b->err, DBMGMT_ERR_CHECKSUM,
                              "backup %s: pgBackRest set %s is not in the repository '%s'", e->id,
                              label, b->pgbr->repo);
    }
    dm_free(info);
    return rc;
}

int dm_pgbr_expire(dbmgmt_backup *b, const dm_bk_entry *e)
{
    const char *label = dm_bk_attrs_get(&e->attrs, "label");
    if (!b->pgbr)
        return dm_error_set(&b->err, DBMGMT_ERR_INVALID,
                            "backup %s is a pgbackrest backup: set the engine to prune it", e->id);
    if (!label || !*label)
        return DBMGMT_OK; /* nothing in the repository to expire */
    /* pgBackRest expires WAL only when its archive retention (in full
     * backups) is at most the number of fulls left: give it exactly that,
     * so the WAL from the oldest remaining full on stays (every kept
     * backup's, and PITR from each) and the WAL before it goes. */
    char *info = NULL;
    int rc = pgbr_output(b, "info", (const char *[]){"--output=json", NULL}, &info);
    long fulls = 0;
    const char *arr = rc == DBMGMT_OK ? stanza_backups(info) : NULL;
    size_t n = 0;
    dm_pgbr_json_at(arr, 0, &n);
    for (size_t i = 0; i < n; i++) {
        const char *set = dm_pgbr_json_at(arr, i, NULL);
        char *type = dm_pgbr_json_text(dm_pgbr_json_get(set, "type"));
        char *l = dm_pgbr_json_text(dm_pgbr_json_get(set, "label"));
        if (type && !strcmp(type, "full") && !(l && !strcmp(l, label)))
            fulls++;
        dm_free(type);
        dm_free(l);
    }
    dm_free(info);
    if (rc != DBMGMT_OK)
        return rc;
    char set_arg[160], keep_arg[64];
    snprintf(set_arg, sizeof set_arg, "--set=%s", label);
    snprintf(keep_arg, sizeof keep_arg, "--repo1-retention-archive=%ld", fulls > 0 ? fulls : 1);
    rc = pgbr_run(b, "expire",
                  (const char *[]){set_arg, "--repo1-retention-archive-type=full", keep_arg,
                                   NULL}, -1);
    if (rc == DBMGMT_OK)
        dm_log(DBMGMT_LOG_INFO, "pgbackrest: expired set %s (backup %s)", label, e->id);
    return rc;
}

/* An empty (or new) folder for the restore, owned as the data directory. */
static int restore_dir(dbmgmt_backup *b, const char *target)
{
    int rc = dm_bk_empty_dir(target, 0700, "point-in-time restore", &b->err);
    if (rc != DBMGMT_OK)
        return rc;
    if (b->pgbr->as_owner && (chown(target, b->pgbr->uid, b->pgbr->gid) != 0 ||
                              chmod(target, 0700) != 0))
        return dm_error_set(&b->err, DBMGMT_ERR_IO, "cannot give '%s' to uid %ld: %s", target,
                            (long)b->pgbr->uid, strerror(errno));
    return DBMGMT_OK;
}

int dm_pgbr_restore(dbmgmt_backup *b, const char *label, const char *target, const int64_t *t)
{
    if (!b->pgbr)
        return dm_error_set(&b->err, DBMGMT_ERR_INVALID,
                            "pgbackrest backups: set the engine (dbmgmt_backup_set_engine) "
                            "before restoring them");
    if (b->pgbr->pg_path && !strcmp(target, b->pgbr->pg_path))
        return dm_error_set(&b->err, DBMGMT_ERR_POLICY,
                            "restore target '%s' is the server's own data directory", target);
    int rc = restore_dir(b, target);
    time_t tt = t ? (time_t)*t : 0;
    struct tm tm;
    char when[64] = "", target_arg[96], set_arg[160];
    gmtime_r(&tt, &tm);
    strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S+00", &tm);
    snprintf(target_arg, sizeof target_arg, "--target=%s", when);
    snprintf(set_arg, sizeof set_arg, "--set=%s", label);
    dm_buf path_arg = DM_BUF_INIT;
    dm_buf_printf(&path_arg, "--pg1-path=%s", target);
    if (rc == DBMGMT_OK && dm_buf_failed(&path_arg))
        rc = dm_error_set(&b->err, DBMGMT_ERR_NOMEM, "out of memory");
    if (rc == DBMGMT_OK) {
        /* without a time: consistent at the backup's end, then promoted */
        const char *timed[] = {"--type=time", target_arg, "--target-action=promote", set_arg,
                               path_arg.data, NULL};
        const char *immediate[] = {"--type=immediate", "--target-action=promote", set_arg,
                                   path_arg.data, NULL};
        rc = pgbr_run(b, "restore", t ? timed : immediate, -1);
    }
    dm_buf_free(&path_arg);
    /* what a server needs to start on it */
    static const char *const need[] = {"PG_VERSION", "global/pg_control", "backup_label"};
    for (size_t i = 0; rc == DBMGMT_OK && i < sizeof need / sizeof need[0]; i++) {
        char *path = dm_bk_path(target, need[i]);
        if (!path)
            rc = dm_error_set(&b->err, DBMGMT_ERR_NOMEM, "out of memory");
        else if (access(path, F_OK) != 0)
            rc = dm_error_set(&b->err, DBMGMT_ERR_CHECKSUM,
                              "pgbackrest restore of set %s left no '%s'", label, path);
        dm_free(path);
    }
    return rc;
}
