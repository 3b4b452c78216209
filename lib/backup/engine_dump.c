/*
 * PostgreSQL and MySQL/MariaDB backups through the engines' own tools:
 * pg_dump -Fc / pg_restore, and mysqldump --single-transaction / mysql.
 *
 * Passwords never reach a child's argv: PostgreSQL tools get the whole
 * connection (PGHOST, PGPORT, PGUSER, PGPASSWORD, PGSSLMODE, ...) through an
 * explicit environment, MySQL tools through a 0600 --defaults-extra-file
 * that is removed when the child exits. Children get only that environment
 * (nothing of the host's PG* or MYSQL_* can redirect them), die with the
 * thread that started them (PR_SET_PDEATHSIG), and their stderr becomes the
 * error message, with the password masked.
 *
 * Row counts: PostgreSQL counts in a REPEATABLE READ transaction whose
 * snapshot pg_dump then uses (--snapshot), so they are exactly the dump's.
 * mysqldump takes its own snapshot, which no other session can share: MySQL
 * counts are read from the dump's text as mysqldump writes it
 * (mysqldump_rows.c), so they are exactly the dump's too.
 */
#include "backup_impl.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "conn/conn.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/log.h"

#define MAX_ARGS 24
#define PG_LIB_DIR "/usr/lib/postgresql"

/* ---- child processes (backup_child.c) ----------------------------------------- */

typedef struct child_io {
    int in_fd;  /* -1: /dev/null */
    int out_fd; /* -1: /dev/null */
} child_io;

/* Run exe with argv and envp; 0 when it exits with status 0. On failure
 * err names the tool and carries its stderr (password masked). */
static int run_tool(const char *exe, char *const argv[], char *const envp[], child_io io,
                    const char *password, dm_error *err)
{
    dm_bk_child c = {argv[0], exe, argv, envp, io.in_fd, io.out_fd, 0, 0, 0, password};
    return dm_bk_child_run(&c, err);
}

/* Work done while a tool runs (the dump's row counts), given the child's
 * pid (not to be reaped); non-zero stops it. */
typedef struct tool_during {
    int (*fn)(void *ctx, pid_t child);
    void *ctx;
} tool_during;

/* run_tool, with during->fn run between the start and the wait. */
static int run_tool_during(const char *exe, char *const argv[], char *const envp[], child_io io,
                           const char *password, const tool_during *during, dm_error *err)
{
    if (!during)
        return run_tool(exe, argv, envp, io, password, err);
    dm_bk_child c = {argv[0], exe, argv, envp, io.in_fd, io.out_fd, 0, 0, 0, password};
    dm_bk_proc p;
    int rc = dm_bk_child_spawn(&c, &p, err);
    if (rc != DBMGMT_OK)
        return rc;
    int done = during->fn(during->ctx, p.pid);
    if (done != DBMGMT_OK)
        kill(p.pid, SIGTERM);
    rc = dm_bk_child_wait(&c, &p, err);
    return done != DBMGMT_OK ? done : rc;
}

/* ---- PostgreSQL ------------------------------------------------------------- */

static void pg_env(dm_bk_env *e, const dm_dsn *dsn)
{
    static const char *const params[][2] = {
        {"sslmode", "PGSSLMODE"},         {"sslrootcert", "PGSSLROOTCERT"},
        {"sslcert", "PGSSLCERT"},         {"sslkey", "PGSSLKEY"},
        {"sslcrl", "PGSSLCRL"},           {"connect_timeout", "PGCONNECT_TIMEOUT"},
        {"application_name", "PGAPPNAME"}, {"target_session_attrs", "PGTARGETSESSIONATTRS"},
        {"options", "PGOPTIONS"},
    };
    dm_bk_env_base(e);
    dm_bk_env_add(e, "PGHOST", dsn->host);
    if (dsn->port > 0) {
        char port[16];
        snprintf(port, sizeof port, "%d", dsn->port);
        dm_bk_env_add(e, "PGPORT", port);
    }
    dm_bk_env_add(e, "PGUSER", dsn->user);
    dm_bk_env_add(e, "PGDATABASE", dsn->database);
    dm_bk_env_add(e, "PGPASSWORD", dsn->password);
    for (size_t i = 0; i < sizeof params / sizeof params[0]; i++)
        dm_bk_env_add(e, params[i][1], dm_dsn_param_get(dsn, params[i][0]));
    if (!dm_dsn_param_get(dsn, "connect_timeout"))
        dm_bk_env_add(e, "PGCONNECT_TIMEOUT", "30");
}

/* The newest /usr/lib/postgresql/N/bin/tool with N >= major (Debian keeps
 * one folder per version; pg_dump refuses servers newer than itself), else
 * the tool on PATH. */
static char *pg_tool(const char *tool, int major)
{
    char *best = NULL;
    int best_version = 0;
    DIR *d = opendir(PG_LIB_DIR);
    struct dirent *ent;
    while (d && (ent = readdir(d)) != NULL) {
        int v = atoi(ent->d_name);
        if (v <= 0 || v < major || (best && v <= best_version))
            continue;
        char path[512];
        snprintf(path, sizeof path, "%s/%s/bin/%s", PG_LIB_DIR, ent->d_name, tool);
        if (access(path, X_OK) == 0) {
            dm_free(best);
            best = dm_strdup(path);
            best_version = v;
        }
    }
    if (d)
        closedir(d);
    return best ? best : dm_bk_find_exe(tool);
}

static int pg_server_major(dbmgmt_conn *conn)
{
    dbmgmt_result *r = NULL;
    int major = 0;
    if (dbmgmt_conn_query(conn, &r, "SHOW server_version_num", 0, NULL) == DBMGMT_OK &&
        dbmgmt_result_next(r) == 1)
        major = (int)(dbmgmt_result_int64(r, 0) / 10000);
    dbmgmt_result_free(r);
    return major;
}

/* ---- counting ----------------------------------------------------------------- */

/* COUNT(*) of table into *rows. */
static int count_table(dbmgmt_conn *conn, const char *table, int64_t *rows, dm_error *err)
{
    dm_buf sql = DM_BUF_INIT;
    dm_buf_puts(&sql, "SELECT COUNT(*) FROM ");
    conn->drv->quote_ident(&sql, table);
    dbmgmt_result *r = NULL;
    int rc = DBMGMT_OK;
    if (dm_buf_failed(&sql))
        rc = dm_error_set(err, DBMGMT_ERR_NOMEM, "out of memory counting rows");
    else if ((rc = dbmgmt_conn_query(conn, &r, sql.data, 0, NULL)) != DBMGMT_OK)
        dm_error_copy(err, &conn->err);
    else if (dbmgmt_result_next(r) != 1)
        rc = dm_error_copy(err, &conn->err);
    else
        *rows = dbmgmt_result_int64(r, 0);
    dbmgmt_result_free(r);
    dm_buf_free(&sql);
    return rc;
}

/* Every table of the database with COUNT(*) of its rows; with count_rows 0,
 * every table at 0 rows (a MySQL dump's rows are then added to them from
 * its text, and a table dumped without a row keeps its 0). */
static int count_tables(dbmgmt_conn *conn, dm_bk_counts *counts, int count_rows,
                        dm_error *err)
{
    dm_catalog cat = {0};
    int rc = conn->drv->catalog(conn->dc, &cat, err);
    if (rc == DBMGMT_OK && cat.failed)
        rc = dm_error_set(err, DBMGMT_ERR_NOMEM, "out of memory reading the catalog");
    for (size_t i = 0; rc == DBMGMT_OK && i < cat.ntables; i++) {
        int64_t rows = 0;
        if (count_rows)
            rc = count_table(conn, cat.tables[i].name, &rows, err);
        if (rc == DBMGMT_OK && dm_bk_counts_add(counts, cat.tables[i].name, rows) != DBMGMT_OK)
            rc = dm_error_set(err, DBMGMT_ERR_NOMEM, "out of memory counting rows");
    }
    dm_catalog_clear(&cat);
    return rc;
}

/* MySQL: the events of the database this user can see (information_schema
 * lists only those in schemas where it holds the EVENT privilege). */
static int count_events(dbmgmt_conn *conn, int64_t *events, dm_error *err)
{
    dbmgmt_result *r = NULL;
    int rc = dbmgmt_conn_query(conn, &r,
                               "SELECT COUNT(*) FROM information_schema.EVENTS "
                               "WHERE EVENT_SCHEMA = DATABASE()", 0, NULL);
    if (rc != DBMGMT_OK)
        return dm_error_copy(err, &conn->err);
    if (dbmgmt_result_next(r) == 1)
        *events = dbmgmt_result_int64(r, 0);
    else
        rc = dm_error_copy(err, &conn->err);
    dbmgmt_result_free(r);
    return rc;
}

static int conn_step(dbmgmt_conn *conn, const char *sql, dm_error *err)
{
    int rc = dbmgmt_conn_exec(conn, sql);
    return rc == DBMGMT_OK ? rc : dm_error_copy(err, &conn->err);
}

static const char *snapshot_begin_sql(dbmgmt_engine engine)
{
    return engine == DBMGMT_ENGINE_POSTGRES
               ? "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"
               : "START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY";
}

static int open_conn(const char *dsn, dbmgmt_conn **out, dm_error *err)
{
    int rc = dbmgmt_conn_open(out, dsn);
    if (rc != DBMGMT_OK)
        return dm_error_set(err, rc, "%s", dbmgmt_errmsg());
    return DBMGMT_OK;
}

int dm_dump_count(const char *dsn, dm_bk_counts *counts, dm_error *err)
{
    dbmgmt_conn *conn = NULL;
    int rc = open_conn(dsn, &conn, err);
    if (rc != DBMGMT_OK)
        return rc;
    if (dbmgmt_conn_engine(conn) == DBMGMT_ENGINE_MYSQL)
        rc = conn_step(conn, "SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ", err);
    if (rc == DBMGMT_OK)
        rc = conn_step(conn, snapshot_begin_sql(dbmgmt_conn_engine(conn)), err);
    if (rc == DBMGMT_OK)
        rc = count_tables(conn, counts, 1, err);
    dbmgmt_conn_close(conn); /* rolls the read-only transaction back */
    return rc;
}

/* ---- PostgreSQL dump ---------------------------------------------------------- */

static int pg_export_snapshot(dbmgmt_conn *conn, char *snap, size_t cap, dm_error *err)
{
    dbmgmt_result *r = NULL;
    int rc = conn_step(conn, snapshot_begin_sql(DBMGMT_ENGINE_POSTGRES), err);
    if (rc == DBMGMT_OK && dbmgmt_conn_query(conn, &r, "SELECT pg_export_snapshot()", 0, NULL) !=
                               DBMGMT_OK)
        rc = dm_error_copy(err, &conn->err);
    if (rc == DBMGMT_OK && dbmgmt_result_next(r) != 1)
        rc = dm_error_set(err, DBMGMT_ERR_SQL, "pg_export_snapshot() returned no row");
    if (rc == DBMGMT_OK)
        snprintf(snap, cap, "%s", dbmgmt_result_text(r, 0) ? dbmgmt_result_text(r, 0) : "");
    dbmgmt_result_free(r);
    return rc;
}

static int pg_dump_file(const dm_dsn *dsn, int major, const char *snap, const char *dst_path,
                        const tool_during *during, dm_error *err)
{
    char *exe = pg_tool("pg_dump", major);
    if (!exe)
        return dm_error_set(err, DBMGMT_ERR_UNSUPPORTED,
                            "pg_dump not found (install postgresql-client)");
    dm_bk_env env = {0};
    pg_env(&env, dsn);
    dm_buf snap_arg = DM_BUF_INIT, file_arg = DM_BUF_INIT;
    dm_buf_printf(&snap_arg, "--snapshot=%s", snap);
    dm_buf_printf(&file_arg, "--file=%s", dst_path);
    int rc;
    if (env.failed || dm_buf_failed(&snap_arg) || dm_buf_failed(&file_arg)) {
        rc = dm_error_set(err, DBMGMT_ERR_NOMEM, "out of memory starting pg_dump");
    } else {
        char *argv[] = {"pg_dump", "--format=custom", "--no-password", snap_arg.data,
                        file_arg.data, NULL};
        rc = run_tool_during(exe, argv, env.vars, (child_io){-1, -1}, dsn->password, during,
                             err);
    }
    dm_buf_free(&snap_arg);
    dm_buf_free(&file_arg);
    dm_bk_env_clear(&env);
    dm_free(exe);
    return rc;
}

/* The row counts, in the snapshot the dump is of (PostgreSQL: the one
 * pg_dump imports; MySQL: one taken just before mysqldump takes its own). */
typedef struct counting {
    dbmgmt_conn *conn;
    dm_bk_counts *counts;
    dm_error err;
} counting;

static int count_during(void *ctx, pid_t child)
{
    counting *c = ctx;
    (void)child;
    return count_tables(c->conn, c->counts, 1, &c->err);
}

/* The counts are taken in the exporting transaction while pg_dump dumps
 * the same snapshot: on a 1 GB database counting every table costs about a
 * second that pg_dump's own time now hides (issue 23: the engine within
 * 1.05x of pg_dump alone). The transaction stays open until pg_dump is
 * done, so the snapshot it imports stays valid. */
static int pg_backup(dbmgmt_conn *conn, const dm_dsn *dsn, const char *dst_path,
                     dm_bk_counts *counts, dm_error *err)
{
    char snap[128];
    int major = pg_server_major(conn);
    int rc = pg_export_snapshot(conn, snap, sizeof snap, err);
    counting c = {conn, counts, {0}};
    dm_error_reset(&c.err);
    tool_during during = {count_during, &c};
    if (rc == DBMGMT_OK)
        rc = pg_dump_file(dsn, major, snap, dst_path, &during, err);
    if (c.err.code != DBMGMT_OK)
        rc = dm_error_copy(err, &c.err);
    dbmgmt_conn_rollback(conn); /* the snapshot's transaction: read only */
    return rc;
}

/* ---- MySQL ------------------------------------------------------------------- */

static void option_value(dm_buf *b, const char *key, const char *value)
{
    if (!value)
        return;
    dm_buf_printf(b, "%s=\"", key);
    for (const char *p = value; *p; p++) {
        if (*p == '"' || *p == '\\')
            dm_buf_putc(b, '\\');
        if (*p == '\n')
            dm_buf_puts(b, "\\n");
        else
            dm_buf_putc(b, *p);
    }
    dm_buf_puts(b, "\"\n");
}

static void mysql_ssl_options(dm_buf *b, const dm_dsn *dsn)
{
    const char *mode = dm_dsn_param_get(dsn, "ssl-mode");
    if (!mode)
        mode = dm_dsn_param_get(dsn, "ssl_mode");
    option_value(b, "ssl-ca", dm_dsn_param_get(dsn, "ssl-ca"));
    option_value(b, "ssl-cert", dm_dsn_param_get(dsn, "ssl-cert"));
    option_value(b, "ssl-key", dm_dsn_param_get(dsn, "ssl-key"));
    if (!mode)
        return;
    if (!strcasecmp(mode, "DISABLED"))
        dm_buf_puts(b, "skip-ssl\n");
    else if (!strcasecmp(mode, "VERIFY_CA") || !strcasecmp(mode, "VERIFY_IDENTITY"))
        dm_buf_puts(b, "ssl\nssl-verify-server-cert\n");
    else if (!strcasecmp(mode, "REQUIRED"))
        dm_buf_puts(b, "ssl\n");
}

/* The 0600 options file (backup_impl.h): the connection, password included. */
int dm_mysql_options_file(const dm_dsn *dsn, const char *dir, const char *socket, int as_user,
                          uid_t uid, gid_t gid, char **path, dm_error *err)
{
    const char *tmp = dir ? dir : getenv("TMPDIR");
    if (!tmp || !*tmp)
        tmp = "/tmp";
    dm_buf name = DM_BUF_INIT, text = DM_BUF_INIT;
    /* a partial-file name: a crash's leftover goes at the next dbmgmt_backup_new */
    dm_buf_printf(&name, "%s/.dbmgmt-mysql" DM_BACKUP_PARTIAL "%ld-XXXXXX", tmp, (long)getpid());
    dm_buf_puts(&text, "[client]\n");
    option_value(&text, "user", dsn->user);
    option_value(&text, "password", dsn->password);
    if (socket) {
        option_value(&text, "socket", socket);
    } else {
        option_value(&text, "host", dsn->host);
        if (dsn->port > 0)
            dm_buf_printf(&text, "port=%d\n", dsn->port);
        mysql_ssl_options(&text, dsn);
    }
    int rc = DBMGMT_OK;
    int fd = -1;
    if (dm_buf_failed(&name) || dm_buf_failed(&text))
        rc = dm_error_set(err, DBMGMT_ERR_NOMEM, "out of memory writing a MySQL options file");
    else if ((fd = mkostemp(name.data, O_CLOEXEC)) < 0) /* mode 0600 */
        rc = dm_error_set(err, DBMGMT_ERR_IO, "cannot create a MySQL options file in %s: %s",
                          tmp, strerror(errno));
    else if (write(fd, text.data, text.len) != (ssize_t)text.len ||
             (as_user && fchown(fd, uid, gid) != 0))
        rc = dm_error_set(err, DBMGMT_ERR_IO, "cannot write a MySQL options file: %s",
                          strerror(errno));
    if (fd >= 0)
        close(fd);
    if (text.data)
        memset(text.data, 0, text.len);
    dm_buf_free(&text);
    if (rc != DBMGMT_OK) {
        if (fd >= 0)
            unlink(name.data);
        dm_buf_free(&name);
        return rc;
    }
    *path = dm_buf_detach(&name);
    return DBMGMT_OK;
}

static char *mysql_tool(const char *mysql_name, const char *mariadb_name)
{
    char *exe = dm_bk_find_exe(mysql_name);
    return exe ? exe : dm_bk_find_exe(mariadb_name);
}

/* Run a MySQL client tool with the connection in an options file. */
static int mysql_run(const dm_dsn *dsn, const char *exe, const char *const *args, child_io io,
                     const tool_during *during, dm_error *err)
{
    char *options = NULL;
    int rc = dm_mysql_options_file(dsn, NULL, NULL, 0, 0, 0, &options, err);
    if (rc != DBMGMT_OK)
        return rc;
    dm_buf defaults = DM_BUF_INIT;
    dm_buf_printf(&defaults, "--defaults-extra-file=%s", options);
    char *argv[MAX_ARGS + 1];
    size_t n = 0;
    const char *base = strrchr(exe, '/');
    argv[n++] = (char *)(base ? base + 1 : exe);
    argv[n++] = defaults.data; /* must come first */
    for (size_t i = 0; args[i] && n < MAX_ARGS; i++)
        argv[n++] = (char *)args[i];
    argv[n] = NULL;
    dm_bk_env env = {0};
    dm_bk_env_base(&env);
    if (env.failed || dm_buf_failed(&defaults))
        rc = dm_error_set(err, DBMGMT_ERR_NOMEM, "out of memory starting %s", argv[0]);
    else
        rc = run_tool_during(exe, argv, env.vars, io, dsn->password, during, err);
    dm_bk_env_clear(&env);
    unlink(options);
    dm_free(options);
    dm_buf_free(&defaults);
    return rc;
}

/* ---- MySQL dump ------------------------------------------------------------------ */

#define FOLLOW_IDLE_NS 5000000L /* between looks, when the reader has caught up */

/* The rows of the dump mysqldump writes at path, counted behind it. */
typedef struct dump_follow {
    const char *path;
    dm_bk_counts *counts;
    dm_error err;
} dump_follow;

/* 1 when the child has exited with status 0, -1 when it has ended otherwise
 * (its error is the one to report), 0 while it runs. It is not reaped: its
 * wait is run_tool_during's. ECHILD says it has ended and was reaped already
 * (a host that ignores SIGCHLD): 1, so that the whole file is still read
 * and counted. */
static int child_ended(pid_t pid)
{
    siginfo_t info;
    memset(&info, 0, sizeof info);
    if (waitid(P_PID, (id_t)pid, &info, WEXITED | WNOHANG | WNOWAIT) != 0)
        return errno == EINTR ? 0 : 1;
    if (info.si_pid != pid)
        return 0;
    return info.si_code == CLD_EXITED && info.si_status == 0 ? 1 : -1;
}

/* Read the file behind the writer until the child has exited and all it
 * wrote is read: a read that finds nothing new waits a little, unless the
 * child has ended, when one more read takes what it wrote last. */
static int follow_dump(void *ctx, pid_t child)
{
    dump_follow *f = ctx;
    int fd = open(f->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return dm_error_set(&f->err, DBMGMT_ERR_IO, "cannot open '%s': %s", f->path,
                            strerror(errno));
    char *buf = dm_malloc(DM_BK_IO_CHUNK);
    dm_mdr rows;
    dm_mdr_init(&rows, f->counts);
    int rc = buf ? DBMGMT_OK : DBMGMT_ERR_NOMEM, ended = 0;
    while (rc == DBMGMT_OK) {
        ssize_t got = read(fd, buf, DM_BK_IO_CHUNK);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            rc = dm_error_set(&f->err, DBMGMT_ERR_IO, "cannot read '%s': %s", f->path,
                              strerror(errno));
            break;
        }
        if (got > 0) {
            rc = dm_mdr_feed(&rows, buf, (size_t)got);
            continue;
        }
        if (ended)
            break;
        ended = child_ended(child);
        if (ended < 0) /* a failed dump: the tool's error, not a count's */
            break;
        if (!ended) {
            struct timespec idle = {0, FOLLOW_IDLE_NS};
            nanosleep(&idle, NULL);
        }
    }
    if (rc == DBMGMT_OK && ended > 0)
        rc = dm_mdr_finish(&rows);
    if (rc == DBMGMT_ERR_NOMEM)
        dm_error_set(&f->err, rc, "out of memory counting the rows of '%s'", f->path);
    else if (rc == DBMGMT_ERR_PARSE)
        dm_error_set(&f->err, DBMGMT_ERR_PARSE, "cannot count the rows of the dump '%s': %s",
                     f->path, rows.error);
    dm_mdr_clear(&rows);
    dm_free(buf);
    close(fd);
    return rc;
}

/* The counts are read from the dump's own text while mysqldump writes it
 * (follow_dump): the rows it holds, whatever commits meanwhile, and no
 * second scan of every table on the server (issue 23: with COUNT(*) of
 * every table, the engine took 1.09-1.15x mariadb-dump alone). */
static int mysql_backup(dbmgmt_conn *conn, const dm_dsn *dsn, const char *dst_path,
                        dm_bk_counts *counts, dm_error *err)
{
    char *exe = mysql_tool("mysqldump", "mariadb-dump");
    if (!exe)
        return dm_error_set(err, DBMGMT_ERR_UNSUPPORTED,
                            "mysqldump not found (install mariadb-client or mysql-client)");
    int64_t events = 0;
    int rc = count_events(conn, &events, err);
    if (rc == DBMGMT_OK)
        rc = count_tables(conn, counts, 0, err);
    int out = -1;
    if (rc == DBMGMT_OK && (out = dm_bk_open_output(dst_path)) < 0)
        rc = dm_error_set(err, DBMGMT_ERR_IO, "cannot create '%s': %s", dst_path,
                          strerror(errno));
    dump_follow follow = {dst_path, counts, {0}};
    dm_error_reset(&follow.err);
    if (rc == DBMGMT_OK) {
        /* --events only when there are events this user can see: it needs
         * the EVENT privilege, which a backup user without events lacks */
        const char *args[] = {"--single-transaction", "--routines", "--triggers",
                              "--hex-blob", "--no-tablespaces",
                              "--default-character-set=utf8mb4",
                              events > 0 ? "--events" : "--skip-events", dsn->database, NULL};
        tool_during during = {follow_dump, &follow};
        rc = mysql_run(dsn, exe, args, (child_io){-1, out}, &during, err);
        if (follow.err.code != DBMGMT_OK)
            rc = dm_error_copy(err, &follow.err);
    }
    if (out >= 0 && close(out) != 0 && rc == DBMGMT_OK)
        rc = dm_error_set(err, DBMGMT_ERR_IO, "cannot write '%s': %s", dst_path,
                          strerror(errno));
    dm_free(exe);
    return rc;
}

/* ---- entry points ---------------------------------------------------------------- */

int dm_dump_backup(const dm_dsn *dsn, const char *dst_path, dm_bk_counts *counts,
                   dm_error *err)
{
    if (dsn->keyword_form || !dsn->database)
        return dm_error_set(err, DBMGMT_ERR_UNSUPPORTED,
                            "backups need a URL DSN naming the database "
                            "(postgres://user@host/db, mysql://user@host/db)");
    dbmgmt_conn *conn = NULL;
    int rc = open_conn(dsn->raw, &conn, err);
    if (rc != DBMGMT_OK)
        return rc;
    if (dsn->engine == DBMGMT_ENGINE_POSTGRES)
        rc = pg_backup(conn, dsn, dst_path, counts, err);
    else
        rc = mysql_backup(conn, dsn, dst_path, counts, err);
    dbmgmt_conn_close(conn);
    return rc;
}

static int mysql_check(const char *path, dm_error *err)
{
    static const char trailer[] = "-- Dump completed";
    char tail[256];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return dm_error_set(err, DBMGMT_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
    off_t end = lseek(fd, 0, SEEK_END);
    off_t from = end > (off_t)sizeof tail - 1 ? end - (off_t)sizeof tail + 1 : 0;
    ssize_t n = pread(fd, tail, sizeof tail - 1, from);
    close(fd);
    tail[n > 0 ? n : 0] = '\0';
    if (n <= 0 || !strstr(tail, trailer))
        return dm_error_set(err, DBMGMT_ERR_CHECKSUM,
                            "'%s' is not a complete mysqldump file (no '%s' trailer)", path,
                            trailer);
    return DBMGMT_OK;
}

int dm_dump_check(dbmgmt_engine engine, const char *path, dm_error *err)
{
    if (engine == DBMGMT_ENGINE_MYSQL)
        return mysql_check(path, err);
    char *exe = pg_tool("pg_restore", 0);
    if (!exe)
        return dm_error_set(err, DBMGMT_ERR_UNSUPPORTED,
                            "pg_restore not found (install postgresql-client)");
    dm_bk_env env = {0};
    dm_bk_env_base(&env);
    char *argv[] = {"pg_restore", "--list", (char *)path, NULL};
    int rc = env.failed ? dm_error_set(err, DBMGMT_ERR_NOMEM, "out of memory")
                        : run_tool(exe, argv, env.vars, (child_io){-1, -1}, NULL, err);
    if (rc != DBMGMT_OK)
        rc = dm_error_set(err, DBMGMT_ERR_CHECKSUM, "'%s' is not a readable pg_dump archive: %s",
                          path, err->msg);
    dm_bk_env_clear(&env);
    dm_free(exe);
    return rc;
}

static int pg_restore_file(const dm_dsn *target, int major, const char *path, dm_error *err)
{
    char *exe = pg_tool("pg_restore", major);
    if (!exe)
        return dm_error_set(err, DBMGMT_ERR_UNSUPPORTED,
                            "pg_restore not found (install postgresql-client)");
    dm_bk_env env = {0};
    pg_env(&env, target);
    dm_buf dbname = DM_BUF_INIT;
    dm_buf_puts(&dbname, "--dbname=dbname='");
    for (const char *p = target->database; *p; p++) {
        if (*p == '\'' || *p == '\\')
            dm_buf_putc(&dbname, '\\');
        dm_buf_putc(&dbname, *p);
    }
    dm_buf_putc(&dbname, '\'');
    int rc;
    if (env.failed || dm_buf_failed(&dbname)) {
        rc = dm_error_set(err, DBMGMT_ERR_NOMEM, "out of memory starting pg_restore");
    } else {
        char *argv[] = {"pg_restore", "--no-owner", "--no-privileges", "--exit-on-error",
                        "--single-transaction", "--no-password", dbname.data, (char *)path,
                        NULL};
        rc = run_tool(exe, argv, env.vars, (child_io){-1, -1}, target->password, err);
    }
    dm_buf_free(&dbname);
    dm_bk_env_clear(&env);
    dm_free(exe);
    return rc;
}

int dm_dump_restore(const dm_dsn *target, const char *path, dm_error *err)
{
    if (target->keyword_form || !target->database)
        return dm_error_set(err, DBMGMT_ERR_UNSUPPORTED,
                            "restores need a URL DSN naming the target database");
    if (target->engine == DBMGMT_ENGINE_POSTGRES) {
        dbmgmt_conn *conn = NULL;
        int rc = open_conn(target->raw, &conn, err);
        if (rc != DBMGMT_OK)
            return rc;
        int major = pg_server_major(conn);
        dbmgmt_conn_close(conn);
        return pg_restore_file(target, major, path, err);
    }
    char *exe = mysql_tool("mysql", "mariadb");
    if (!exe)
        return dm_error_set(err, DBMGMT_ERR_UNSUPPORTED,
                            "the mysql client was not found (install mariadb-client)");
    int in = open(path, O_RDONLY | O_CLOEXEC);
    int rc;
    if (in < 0) {
        rc = dm_error_set(err, DBMGMT_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
    } else {
        const char *args[] = {"--batch", "--default-character-set=utf8mb4", target->database,
                              NULL};
        rc = mysql_run(target, exe, args, (child_io){in, -1}, NULL, err);
        close(in);
    }
    dm_free(exe);
    return rc;
}
