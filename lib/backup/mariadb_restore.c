/*
 * Verify and restore for the mariadb-backup engine: the files of a backup
 * against its manifest; the chain (full, then each incr on its base)
 * copied into a scratch folder and prepared there; --copy-back into an
 * empty or new data directory given to the server's user; for a time
 * target, the archived binlogs from the backup's position replayed up to
 * that second (mariadb-binlog --stop-datetime, TZ=UTC) into a temporary
 * mariadbd on the restored directory (no network, a socket in a private
 * folder, no binlog of its own), shut down cleanly afterwards.
 */
#include "engine_mariadb.h"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/log.h"

#define SERVER_START_S 120
#define SERVER_STOP_S 120

/* ---- the chain ------------------------------------------------------------------------ */

int dm_mdb_chain(dbmgmt_backup *b, const dm_bk_entry *e, dm_bk_entry **chain, size_t *n)
{
    *chain = NULL;
    *n = 0;
    dm_bk_entry *v = NULL;
    size_t cap = 0;
    int rc = DBMGMT_OK;
    char *id = dm_strdup(e->id);
    while (rc == DBMGMT_OK && id && *id) {
        if (*n == cap) {
            dm_bk_entry *nv = dm_realloc(v, (cap = cap ? cap * 2 : 4) * sizeof *nv);
            if (!nv) {
                rc = dm_error_set(&b->err, DBMGMT_ERR_NOMEM, "out of memory");
                break;
            }
            v = nv;
        }
        memset(&v[*n], 0, sizeof v[*n]);
        rc = dm_bkcat_get(b->cat, id, &v[*n], NULL, &b->err);
        if (rc != DBMGMT_OK) {
            rc = dm_error_set(&b->err, rc, "backup %s: its base %s is not in the catalog",
                              e->id, id);
            break;
        }
        (*n)++;
        const char *base = dm_bk_attrs_get(&v[*n - 1].attrs, "base");
        dm_free(id);
        id = base && *base ? dm_strdup(base) : NULL;
        if (*n > 10000)
            rc = dm_error_set(&b->err, DBMGMT_ERR_INTERNAL, "backup %s: a cycle of bases", e->id);
    }
    if (rc == DBMGMT_OK && !id && !(*n > 0))
        rc = dm_error_set(&b->err, DBMGMT_ERR_NOMEM, "out of memory");
    dm_free(id);
    for (size_t i = 0; i < *n / 2; i++) { /* full first */
        dm_bk_entry t = v[i];
        v[i] = v[*n - 1 - i];
        v[*n - 1 - i] = t;
    }
    if (rc != DBMGMT_OK) {
        dm_bk_entries_free(v, *n);
        *n = 0;
        return rc;
    }
    *chain = v;
    return DBMGMT_OK;
}

/* ---- verify --------------------------------------------------------------------------- */

static int check_line(dbmgmt_backup *b, const dm_bk_entry *e, const char *dir, char *line)
{
    char hex[65];
    long long size = -1;
    int off = 0;
    if (sscanf(line, "file %64s %lld %n", hex, &size, &off) != 2 || off <= 0)
        return dm_error_set(&b->err, DBMGMT_ERR_CHECKSUM,
                            "backup %s: a malformed line in its manifest", e->id);
    char *path = dm_bk_path(dir, line + off);
    if (!path)
        return dm_error_set(&b->err, DBMGMT_ERR_NOMEM, "out of memory");
    int64_t got = 0;
    char ghex[65];
    int rc = dm_bk_hash_file(path, &got, ghex, &b->err);
    if (rc != DBMGMT_OK)
        rc = dm_error_set(&b->err, DBMGMT_ERR_CHECKSUM, "backup %s: %s", e->id, b->err.msg);
    else if (got != size || strcmp(ghex, hex) != 0)
        rc = dm_error_set(&b->err, DBMGMT_ERR_CHECKSUM,
                          "backup %s: '%s' changed since the backup (SHA-256 %s, %lld bytes; "
                          "recorded %s, %lld bytes)", e->id, path, ghex, (long long)got, hex,
                          size);
    dm_free(path);
    return rc;
}

/* A file in the folder the manifest does not list: added since. */
static int check_no_extra(dbmgmt_backup *b, const dm_bk_entry *e, const char *dir,
                          const dm_buf *listed)
{
    dm_buf found = DM_BUF_INIT, key = DM_BUF_INIT;
    int rc = dm_mdb_list_tree(dir, &found, &b->err);
    for (char *p = found.data; rc == DBMGMT_OK && p && *p;) {
        char *end = strchr(p, '\n');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        dm_buf_clear(&key);
        dm_buf_printf(&key, " %.*s\n", (int)len, p);
        if (dm_buf_failed(&key))
            rc = dm_error_set(&b->err, DBMGMT_ERR_NOMEM, "out of memory");
        else if (!strstr(listed->data ? listed->data : "", key.data))
            rc = dm_error_set(&b->err, DBMGMT_ERR_CHECKSUM,
                              "backup %s: '%s/%.*s' is not in its manifest (added since the "
                              "backup)", e->id, dir, (int)len, p);
        p = end ? end + 1 : p + len;
    }
    dm_buf_free(&found);
    dm_buf_free(&key);
    return rc;
}

int dm_mdb_check_files(dbmgmt_backup *b, const dm_bk_entry *e, const char *manifest)
{
    char *dir = b->mdb ? dm_mdb_dir(b, e->id) : NULL;
    if (!dir)
        return b->mdb ? dm_error_set(&b->err, DBMGMT_ERR_NOMEM, "out of memory")
                      : dm_error_set(&b->err, DBMGMT_ERR_INVALID,
                                     "backup %s is a mariadb-backup backup: set the engine "
                                     "(dbmgmt_backup_set_engine) to check it", e->id);
    FILE *f = fopen(manifest, "re");
    int rc = f ? DBMGMT_OK
               : dm_error_set(&b->err, DBMGMT_ERR_IO, "cannot open '%s': %s", manifest,
                              strerror(errno));
    char line[4096 + 200];
    dm_buf listed = DM_BUF_INIT; /* " <path>\n" per file line */
    while (rc == DBMGMT_OK && f && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = '\0';
        if (strncmp(line, "file ", 5) != 0)
            continue;
        rc = check_line(b, e, dir, line);
        const char *path = strchr(line + 5, ' '); /* "file HEX SIZE PATH": " PATH" */
        path = path ? strchr(path + 1, ' ') : NULL;
        if (path)
            dm_buf_printf(&listed, "%s\n", path);
    }
    if (f)
        fclose(f);
    if (rc == DBMGMT_OK && listed.len == 0)
        rc = dm_error_set(&b->err, DBMGMT_ERR_CHECKSUM, "backup %s: its manifest '%s' lists no "
                          "file", e->id, manifest);
    if (rc == DBMGMT_OK && dm_buf_failed(&listed))
        rc = dm_error_set(&b->err, DBMGMT_ERR_NOMEM, "out of memory");
    if (rc == DBMGMT_OK)
        rc = check_no_extra(b, e, dir, &listed);
    dm_buf_free(&listed);
    dm_free(dir);
    return rc;
}

static int prepare(dbmgmt_backup *b, const char *base, const char *incr)
{
    dm_buf target = DM_BUF_INIT, inc = DM_BUF_INIT;
    dm_buf_printf(&target, "--target-dir=%s", base);
    if (incr)
        dm_buf_printf(&inc, "--incremental-dir=%s", incr);
    if (dm_buf_failed(&target) || dm_buf_failed(&inc)) {
        dm_buf_free(&target);
        dm_buf_free(&inc);
        return dm_error_set(&b->err, DBMGMT_ERR_NOMEM, "out of memory");
    }
    const char *args[] = {"--prepare", target.data, incr ? inc.data : NULL, NULL};
    int rc = dm_mdb_tool(b, "mariadb-backup", args, NULL, 0, -1, -1, NULL);
    dm_buf_free(&target);
    dm_buf_free(&inc);
    return rc;
}

int dm_mdb_prepare_chain(dbmgmt_backup *b, const dm_bk_entry *chain, size_t n,
                         const char *scratch)
{
    if (mkdir(scratch, 0700) != 0)
        return dm_error_set(&b->err, DBMGMT_ERR_IO, "cannot create '%s': %s", scratch,
                            strerror(errno));
    int rc = DBMGMT_OK;
    char *base = NULL;
    for (size_t i = 0; rc == DBMGMT_OK && i < n; i++) {
        char name[32];
        snprintf(name, sizeof name, "%zu", i);
        char *src = dm_mdb_dir(b, chain[i].id), *dst = dm_bk_path(scratch, name);
        if (!src || !dst)
            rc = dm_error_set(&b->err, DBMGMT_ERR_NOMEM, "out of memory");
        if (rc == DBMGMT_OK)
            rc = dm_mdb_copy_tree(src, dst, &b->err);
        if (rc == DBMGMT_OK)
            rc = prepare(b, i == 0 ? dst : base, i == 0 ? NULL : dst);
        if (rc != DBMGMT_OK && rc != DBMGMT_ERR_NOMEM)
            rc = dm_error_set(&b->err, rc, "backup %s: prepare: %s", chain[i].id, b->err.msg);
        if (i == 0) {
            base = dst;
            dst = NULL;
        }
        dm_free(src);
        dm_free(dst);
    }
    dm_free(base);
    return rc;
}

/* A private scratch folder in the backup folder; caller removes and frees. */
static char *scratch_path(dbmgmt_backup *b, const char *what)
{
    dm_buf p = DM_BUF_INIT;
    dm_buf_printf(&p, "%s/.%s" DM_BACKUP_PARTIAL "%ld", b->dir, what, (long)getpid());
    char *s = dm_buf_detach(&p);
    if (s)
        dm_mdb_remove_tree(s);
    return s;
}

/* Every backup of the chain: its manifest against the catalog, its files
 * against its manifest. */
static int check_chain_files(dbmgmt_backup *b, const dm_bk_entry *chain, size_t n)
{
    int rc = DBMGMT_OK;
    for (size_t i = 0; rc == DBMGMT_OK && i < n; i++) {
        char *manifest = dm_bk_path(b->dir, chain[i].file);
        rc = manifest ? dm_bk_check_file(b, &chain[i], manifest)
                      : dm_error_set(&b->err, DBMGMT_ERR_NOMEM, "out of memory");
        if (rc == DBMGMT_OK)
            rc = dm_mdb_check_files(b, &chain[i], manifest);
        dm_free(manifest);
    }
    return rc;
}

int dm_mdb_check(dbmgmt_backup *b, const dm_bk_entry *e, const char *manifest)
{
    (void)manifest; /* checked with the rest of the chain */
    dm_bk_entry *chain = NULL;
    size_t n = 0;
    int rc = b->mdb ? dm_mdb_chain(b, e, &chain, &n)
                    : dm_error_set(&b->err, DBMGMT_ERR_INVALID,
                                   "backup %s is a mariadb-backup backup: set the engine "
                                   "(dbmgmt_backup_set_engine) to check it", e->id);
    if (rc == DBMGMT_OK)
        rc = check_chain_files(b, chain, n);
    char *scratch = rc == DBMGMT_OK ? scratch_path(b, "mariadb-verify") : NULL;
    if (rc == DBMGMT_OK && !scratch)
        rc = dm_error_set(&b->err, DBMGMT_ERR_NOMEM, "out of memory");
    if (rc == DBMGMT_OK)
        rc = dm_mdb_prepare_chain(b, chain, n, scratch);
    if (scratch)
        dm_mdb_remove_tree(scratch);
    dm_free(scratch);
    dm_bk_entries_free(chain, n);
    return rc;
}

/* ---- restore -------------------------------------------------------------------------- */

/* An empty (or new) folder for the restore. */
static int restore_dir(dbmgmt_backup *b, const char *target)
{
    if (strstr(target, "://"))
        return dm_error_set(&b->err, DBMGMT_ERR_INVALID,
                            "restore target '%s': a mariadb-backup backup restores into a data "
                            "directory (a path), not a DSN", target);
    if (b->mdb->datadir && !strcmp(target, b->mdb->datadir))
        return dm_error_set(&b->err, DBMGMT_ERR_POLICY,
                            "restore target '%s' is the server's own data directory", target);
    return dm_bk_empty_dir(target, 0750, "mariadb-backup restore", &b->err);
}

static int copy_back(dbmgmt_backup *b, const char *prepared, const char *target)
{
    dm_buf from = DM_BUF_INIT, to = DM_BUF_INIT;
    dm_buf_printf(&from, "--target-dir=%s", prepared);
    dm_buf_printf(&to, "--datadir=%s", target);
    int rc = dm_buf_failed(&from) || dm_buf_failed(&to)
                 ? dm_error_set(&b->err, DBMGMT_ERR_NOMEM, "out of memory")
                 : DBMGMT_OK;
    const char *args[] = {"--move-back", from.data, to.data, NULL};
    if (rc == DBMGMT_OK)
        rc = dm_mdb_tool(b, "mariadb-backup", args, NULL, 0, -1, -1, NULL);
    if (rc == DBMGMT_OK && b->mdb->as_owner)
        rc = dm_mdb_chown_tree(target, b->mdb->uid, b->mdb->gid, &b->err);
    dm_buf_free(&from);
    dm_buf_free(&to);
    return rc;
}

/* The temporary server on the restored directory. */
typedef struct temp_server {
    char sockdir[64];
    char socket[128];
    pid_t pid;
} temp_server;

static int server_tail(dbmgmt_backup *b, const temp_server *s, const char *what)
{
    char path[160], text[600] = "";
    snprintf(path, sizeof path, "%s/error.log", s->sockdir);
    FILE *f = fopen(path, "re");
    if (f) {
        long size = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : 0;
        fseek(f, size > (long)sizeof text - 1 ? size - (long)sizeof text + 1 : 0, SEEK_SET);
        size_t n = fread(text, 1, sizeof text - 1, f);
        text[n] = '\0';
        fclose(f);
        for (char *q = text; *q; q++)
            if (*q == '\n')
                *q = ' ';
    }
    return dm_error_set(&b->err, DBMGMT_ERR_IO, "the temporary mariadbd %s: %s", what, text);
}

static int server_start(dbmgmt_backup *b, const char *datadir, temp_server *s)
{
    const dm_mdb *m = b->mdb;
    snprintf(s->sockdir, sizeof s->sockdir, "/tmp/dbmgmt-mdb-XXXXXX");
    if (!mkdtemp(s->sockdir))
        return dm_error_set(&b->err, DBMGMT_ERR_IO, "cannot create a socket folder: %s",
                            strerror(errno));
    if (m->as_owner && chown(s->sockdir, m->uid, m->gid) != 0)
        return dm_error_set(&b->err, DBMGMT_ERR_IO, "cannot give '%s' to uid %ld: %s",
                            s->sockdir, (long)m->uid, strerror(errno));
    snprintf(s->socket, sizeof s->socket, "%s/mysqld.sock", s->sockdir);
    char *exe = dm_bk_find_exe("mariadbd");
    if (!exe)
        exe = dm_strdup(access("/usr/sbin/mariadbd", X_OK) == 0 ? "/usr/sbin/mariadbd" : "");
    if (!exe || !*exe) {
        dm_free(exe);
        return dm_error_set(&b->err, DBMGMT_ERR_UNSUPPORTED,
                            "mariadbd not found (install the Debian package mariadb-server)");
    }
    char a_data[4200], a_sock[160], a_pid[160], a_log[160], a_user[300] = "";
    snprintf(a_data, sizeof a_data, "--datadir=%s", datadir);
    snprintf(a_sock, sizeof a_sock, "--socket=%s", s->socket);
    snprintf(a_pid, sizeof a_pid, "--pid-file=%s/mysqld.pid", s->sockdir);
    snprintf(a_log, sizeof a_log, "--log-error=%s/error.log", s->sockdir);
    if (geteuid() == 0) {
        struct passwd pw, *res = NULL;
        char pwbuf[1024];
        if (getpwuid_r(m->as_owner ? m->uid : 0, &pw, pwbuf, sizeof pwbuf, &res) != 0 || !res)
            snprintf(a_user, sizeof a_user, "--user=%ld", (long)(m->as_owner ? m->uid : 0));
        else
            snprintf(a_user, sizeof a_user, "--user=%s", res->pw_name);
    }
    char *argv[] = {"mariadbd", "--no-defaults", a_data, a_sock, a_pid, a_log,
                    "--skip-networking", "--skip-log-bin", "--skip-slave-start",
                    "--innodb-buffer-pool-size=64M", *a_user ? a_user : NULL, NULL};
    dm_bk_env env = {0};
    dm_bk_env_base(&env);
    int rc = env.failed ? dm_error_set(&b->err, DBMGMT_ERR_NOMEM, "out of memory") : DBMGMT_OK;
    dm_bk_child c = {"mariadbd", exe, argv, env.vars, -1, -1, 0, 0, 0, NULL};
    dm_bk_proc p = {-1, -1};
    if (rc == DBMGMT_OK)
        rc = dm_bk_child_spawn(&c, &p, &b->err);
    if (p.err_fd >= 0)
        close(p.err_fd);
    s->pid = p.pid;
    dm_bk_env_clear(&env);
    dm_free(exe);
    struct stat st;
    for (int i = 0; rc == DBMGMT_OK && i < SERVER_START_S * 10; i++) {
        if (stat(s->socket, &st) == 0)
            return DBMGMT_OK;
        int wstatus;
        if (waitpid(s->pid, &wstatus, WNOHANG) == s->pid) {
            s->pid = -1;
            return server_tail(b, s, "exited at start-up");
        }
        usleep(100000);
    }
    return rc == DBMGMT_OK ? server_tail(b, s, "did not open its socket in time") : rc;
}

/* SIGTERM: mariadbd's clean shutdown. */
static int server_stop(dbmgmt_backup *b, temp_server *s, int rc)
{
    if (s->pid > 0) {
        kill(s->pid, SIGTERM);
        int wstatus = 0, done = 0;
        for (int i = 0; i < SERVER_STOP_S * 10 && !done; i++) {
            done = waitpid(s->pid, &wstatus, WNOHANG) == s->pid;
            if (!done)
                usleep(100000);
        }
        if (!done) {
            kill(s->pid, SIGKILL);
            waitpid(s->pid, &wstatus, 0);
        }
        if (rc == DBMGMT_OK && !(done && WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0))
            rc = server_tail(b, s, "did not shut down cleanly");
        s->pid = -1;
    }
    if (s->sockdir[0])
        dm_mdb_remove_tree(s->sockdir);
    return rc;
}

/* mariadb-binlog --start-position=P --stop-datetime=T FILES... | mariadb */
static int replay(dbmgmt_backup *b, const temp_server *s, char **files, size_t nfiles,
                  const char *pos, int64_t t)
{
    char a_start[64], a_stop[64], when[32];
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &tm);
    snprintf(a_start, sizeof a_start, "--start-position=%s", pos);
    snprintf(a_stop, sizeof a_stop, "--stop-datetime=%s", when);
    const char *args[DM_MDB_MAX_ARGS];
    size_t n = 0;
    args[n++] = a_start;
    args[n++] = a_stop;
    char **paths = dm_calloc(nfiles + 1, sizeof *paths);
    int rc = paths ? DBMGMT_OK : dm_error_set(&b->err, DBMGMT_ERR_NOMEM, "out of memory");
    for (size_t i = 0; rc == DBMGMT_OK && i < nfiles; i++)
        if (!(paths[i] = dm_bk_path(b->mdb->binlogs, files[i])))
            rc = dm_error_set(&b->err, DBMGMT_ERR_NOMEM, "out of memory");
    if (rc == DBMGMT_OK && nfiles > DM_MDB_MAX_ARGS - 8)
        rc = dm_error_set(&b->err, DBMGMT_ERR_UNSUPPORTED,
                          "%zu binlogs to replay: at most %d at once", nfiles,
                          DM_MDB_MAX_ARGS - 8);
    for (size_t i = 0; rc == DBMGMT_OK && i < nfiles; i++)
        args[n++] = paths[i];
    args[n] = NULL;
    int pipefd[2] = {-1, -1};
    if (rc == DBMGMT_OK && pipe2(pipefd, O_CLOEXEC) != 0)
        rc = dm_error_set(&b->err, DBMGMT_ERR_IO, "pipe: %s", strerror(errno));
    dm_mdb_proc reader = {0}, writer = {0};
    int reader_rc = DBMGMT_ERR_IO, writer_rc = DBMGMT_ERR_IO;
    if (rc == DBMGMT_OK)
        reader_rc = dm_mdb_tool(b, "mariadb", (const char *[]){"--binary-mode", NULL}, s->socket,
                                0, pipefd[0], -1, &reader);
    if (rc == DBMGMT_OK && reader_rc == DBMGMT_OK)
        writer_rc = dm_mdb_tool(b, "mariadb-binlog", args, NULL, 0, -1, pipefd[1], &writer);
    if (pipefd[0] >= 0)
        close(pipefd[0]);
    if (pipefd[1] >= 0)
        close(pipefd[1]);
    if (writer_rc == DBMGMT_OK)
        rc = dm_mdb_wait(b, &writer);
    else if (rc == DBMGMT_OK && reader_rc == DBMGMT_OK)
        rc = writer_rc;
    if (reader_rc == DBMGMT_OK) {
        int r = dm_mdb_wait(b, &reader);
        if (rc == DBMGMT_OK)
            rc = r;
    } else if (rc == DBMGMT_OK) {
        rc = reader_rc;
    }
    for (size_t i = 0; paths && i < nfiles; i++)
        dm_free(paths[i]);
    dm_free(paths);
    return rc;
}

static int replay_to_time(dbmgmt_backup *b, const dm_bk_entry *e, const char *target,
                          int64_t t, char **range)
{
    const char *file = dm_bk_attrs_get(&e->attrs, "binlog_file");
    const char *pos = dm_bk_attrs_get(&e->attrs, "binlog_pos");
    if (!file || !*file || !pos || !*pos)
        return dm_error_set(&b->err, DBMGMT_ERR_NOTFOUND,
                            "backup %s has no binlog position: it cannot be rolled forward",
                            e->id);
    /* the binlogs written since the last archive (a server that is down:
     * the archive as it is) */
    if (dm_mdb_archive_binlogs(b) != DBMGMT_OK)
        dm_log(DBMGMT_LOG_WARN, "restore to time: the binlogs since the last archive are not "
               "replayed: %s", b->err.msg);
    char **files = NULL;
    size_t n = 0;
    int rc = dm_mdb_binlogs_from(b, file, &files, &n);
    temp_server s = {.pid = -1};
    if (rc == DBMGMT_OK)
        rc = server_start(b, target, &s);
    if (rc == DBMGMT_OK)
        rc = replay(b, &s, files, n, pos, t);
    rc = server_stop(b, &s, rc);
    if (rc == DBMGMT_OK) {
        dm_buf r = DM_BUF_INIT;
        dm_buf_printf(&r, "%s:%s..%s", file, pos, files[n - 1]);
        *range = dm_buf_detach(&r);
        if (!*range)
            rc = dm_error_set(&b->err, DBMGMT_ERR_NOMEM, "out of memory");
    }
    dm_bk_strings_free(files, n);
    return rc;
}

int dm_mdb_restore(dbmgmt_backup *b, const dm_bk_entry *e, const char *target,
                   const int64_t *t, char **range)
{
    *range = NULL;
    if (!b->mdb)
        return dm_error_set(&b->err, DBMGMT_ERR_INVALID,
                            "mariadb-backup backups: set the engine (dbmgmt_backup_set_engine) "
                            "before restoring them");
    dm_bk_entry *chain = NULL;
    size_t n = 0;
    int rc = restore_dir(b, target);
    int target_ours = rc == DBMGMT_OK; /* empty or new: emptied again on failure */
    if (rc == DBMGMT_OK)
        rc = dm_mdb_chain(b, e, &chain, &n);
    if (rc == DBMGMT_OK)
        rc = check_chain_files(b, chain, n); /* never restore a file that changed */
    char *scratch = rc == DBMGMT_OK ? scratch_path(b, "mariadb-restore") : NULL;
    if (rc == DBMGMT_OK && !scratch)
        rc = dm_error_set(&b->err, DBMGMT_ERR_NOMEM, "out of memory");
    if (rc == DBMGMT_OK)
        rc = dm_mdb_prepare_chain(b, chain, n, scratch);
    char *prepared = rc == DBMGMT_OK ? dm_bk_path(scratch, "0") : NULL;
    if (rc == DBMGMT_OK)
        rc = prepared ? copy_back(b, prepared, target)
                      : dm_error_set(&b->err, DBMGMT_ERR_NOMEM, "out of memory");
    if (scratch)
        dm_mdb_remove_tree(scratch);
    if (rc == DBMGMT_OK && t)
        rc = replay_to_time(b, e, target, *t, range);
    if (rc == DBMGMT_OK)
        dm_log(DBMGMT_LOG_INFO, "mariadb-backup: backup %s restored into '%s'%s%s", e->id,
               target, *range ? ", binlogs replayed " : "", *range ? *range : "");
    if (rc != DBMGMT_OK && target_ours) { /* no half-restored data directory */
        dm_mdb_remove_tree(target);
        mkdir(target, 0750);
    }
    dm_free(prepared);
    dm_free(scratch);
    dm_bk_entries_free(chain, n);
    return rc;
}
