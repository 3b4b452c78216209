/*
 * The MySQL / MariaDB driver over MariaDB Connector/C (DESIGN §3).
 *
 * Connections: utf8mb4, no automatic reconnect (a dropped connection is
 * reported as DBMGMT_ERR_CLOSED, never silently replaced, because a new
 * session would have lost the transaction, the locks and the session
 * state), CLIENT_FOUND_ROWS so affected rows count matched rows as on
 * PostgreSQL and SQLite. Statements are server-side prepared statements
 * whose result sets are buffered on the client and read as bytes.
 *
 * DSN parameters (anything else is DBMGMT_ERR_PARSE):
 *   connect_timeout  seconds, default 10.
 *   read_timeout, write_timeout  seconds, default none: a migration's
 *       ALTER TABLE or a big SELECT may legitimately run for a long time,
 *       and a client-side timeout would drop the session while the server
 *       keeps working. Set them where a hung network is the bigger risk.
 *   ssl-mode  DISABLED | PREFERRED | REQUIRED | VERIFY_CA | VERIFY_IDENTITY
 *       (any case). Default as MySQL's own clients: PREFERRED (TLS when the
 *       server offers it), or REQUIRED when ssl-ca/cert/key are given.
 *       REQUIRED is checked after the handshake (Connector/C 3.3 only
 *       refuses a server without TLS when verifying its certificate).
 *       VERIFY_CA also checks the host name: Connector/C 3.3 verifies the
 *       chain and the name together, and stricter beats weaker.
 *   ssl-ca, ssl-cert, ssl-key  file paths (checked readable first, so a
 *       typo is named in the error).
 *   socket  a unix socket path (the host is then not used).
 * No host in the DSN is passed on as NULL: Connector/C then means
 * "localhost", i.e. its default unix socket, as the mysql tool does.
 *
 * Statuses: DBMGMT_ERR_CLOSED for a lost session (2006, 2013, 2055, 1053,
 * 1927, 4031, or any other client-side error after which mysql_ping
 * fails), DBMGMT_ERR_TIMEOUT for a lock wait timeout (1205), DBMGMT_ERR_BUSY
 * for a deadlock (1213: the server rolled the transaction back; retry it),
 * DBMGMT_ERR_SQL otherwise, with MySQL's own SQLSTATE (23000 for every
 * integrity violation).
 *
 * Connector/C initialises itself once (pthread_once) from mysql_init, so
 * connecting from several threads at once is safe. Note that its library
 * initialisation sets SIGPIPE to SIG_IGN for the whole process.
 */
#include <mysql.h>
#include <errmsg.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/sha256.h"
#include "dm_config.h"
#include "driver.h"
#include "lazy.h"

#ifndef MARIADB_PACKAGE_VERSION_ID
#error "the MySQL driver needs MariaDB Connector/C (libmariadb-dev), not Oracle's libmysqlclient"
#endif

/* The Connector/C functions this driver calls, through `mariadb.NAME(...)`:
 * a table filled when the first mysql:// DSN is opened (lazy.h), so a
 * process that never uses MySQL never loads Connector/C. */
#define DM_MARIADB_FUNCTIONS(X) \
    X(mariadb_get_infov) X(mysql_close) X(mysql_commit) X(mysql_errno) X(mysql_error) \
    X(mysql_fetch_fields) X(mysql_field_count) X(mysql_free_result) X(mysql_get_ssl_cipher) \
    X(mysql_init) X(mysql_next_result) X(mysql_num_fields) X(mysql_optionsv) X(mysql_ping) \
    X(mysql_real_connect) X(mysql_real_query) X(mysql_rollback) X(mysql_sqlstate) \
    X(mysql_stmt_affected_rows) X(mysql_stmt_attr_set) X(mysql_stmt_bind_param) \
    X(mysql_stmt_bind_result) X(mysql_stmt_close) X(mysql_stmt_errno) X(mysql_stmt_error) \
    X(mysql_stmt_execute) X(mysql_stmt_fetch) X(mysql_stmt_fetch_column) \
    X(mysql_stmt_field_count) X(mysql_stmt_free_result) X(mysql_stmt_init) \
    X(mysql_stmt_param_count) X(mysql_stmt_prepare) X(mysql_stmt_result_metadata) \
    X(mysql_stmt_sqlstate) X(mysql_stmt_store_result) X(mysql_store_result)

typedef struct dm_mariadb_functions {
#define DM_FUNCTION_POINTER(name) __typeof__(name) *name;
    DM_MARIADB_FUNCTIONS(DM_FUNCTION_POINTER)
#undef DM_FUNCTION_POINTER
} dm_mariadb_functions;

static dm_mariadb_functions mariadb;

static const dm_lazy_symbol mariadb_symbols[] = {
#define DM_FUNCTION_SYMBOL(name) {#name, offsetof(dm_mariadb_functions, name)},
    DM_MARIADB_FUNCTIONS(DM_FUNCTION_SYMBOL)
#undef DM_FUNCTION_SYMBOL
};

static dm_lazy_library mariadb_library =
    DM_LAZY_LIBRARY_INIT(DM_MARIADB_SONAME, DM_MYSQL_CLIENT_NAME, "mysql://", "-Dmysql",
                         mariadb_symbols, &mariadb);

#define MY_DEFAULT_CONNECT_TIMEOUT_S 10
#define MY_LOCK_NAME_MAX 64          /* MySQL's limit on GET_LOCK names */
/* Fits any number rendered as text: Connector/C renders a DOUBLE with
 * as many digits as the buffer holds (17 significant digits need ~24
 * bytes) instead of reporting truncation. */
#define MY_COLUMN_MIN_BUFFER 128
#define MY_LOCK_FIRST_SLEEP_MS 5
#define MY_LOCK_MAX_SLEEP_MS 50

/* Server and client error numbers that mean the session is gone. */
#define ER_SERVER_SHUTDOWN_ 1053
#define ER_CONNECTION_KILLED_ 1927
#define ER_CLIENT_INTERACTION_TIMEOUT_ 4031 /* MySQL 8.0.24+ */

struct dm_dconn {
    MYSQL *db;
};

/* A bound parameter's storage, owned by the statement. */
typedef struct param_slot {
    int64_t i;
    double d;
    char *bytes; /* text / blob copy (never NULL for those types) */
    unsigned long len;
    my_bool is_null;
} param_slot;

/* A result column's fetch buffer: the value as bytes plus a NUL. */
typedef struct column_slot {
    char *buf;
    unsigned long cap; /* bytes usable for data; buf holds cap + 1 */
    unsigned long len;
    my_bool is_null;
    my_bool truncated;
} column_slot;

struct dm_dstmt {
    dm_dconn *conn;
    MYSQL_STMT *stmt;
    unsigned long nparams;
    MYSQL_BIND *param_binds;
    param_slot *params;
    unsigned int ncolumns; /* of the current execution's result set */
    MYSQL_RES *meta;       /* its column descriptions, NULL when it has none */
    MYSQL_BIND *column_binds;
    column_slot *columns;
    unsigned int columns_cap; /* allocated length of column_binds / columns */
    int has_result; /* execute left a buffered result set to read */
    int done;       /* next() reached its end */
    int64_t affected;
};

/* ------------------------------------------------------------------ errors */

static int is_broken_errno(unsigned int code)
{
    return code == CR_SERVER_GONE_ERROR || code == CR_SERVER_LOST ||
           code == CR_SERVER_LOST_EXTENDED || code == ER_CONNECTION_KILLED_ ||
           code == ER_CLIENT_INTERACTION_TIMEOUT_ || code == ER_SERVER_SHUTDOWN_;
}

/* Client-side errors that describe misuse of the API, not the network. */
static int is_api_errno(unsigned int code)
{
    return code == CR_COMMANDS_OUT_OF_SYNC || (code >= 2030 && code <= 2059);
}

/* DBMGMT_ERR_CLOSED when the session is gone: a known "gone" error, or any
 * other client-side error after which the server no longer answers. */
static int status_for_mysql(MYSQL *db, unsigned int code)
{
    if (is_broken_errno(code))
        return DBMGMT_ERR_CLOSED;
    if (code == 1205) /* ER_LOCK_WAIT_TIMEOUT */
        return DBMGMT_ERR_TIMEOUT;
    if (code == 1213) /* ER_LOCK_DEADLOCK: the transaction was rolled back */
        return DBMGMT_ERR_BUSY;
    if (code == CR_OUT_OF_MEMORY || code == 1037 || code == 1038) /* ER_OUT[OF_SORT]MEMORY */
        return DBMGMT_ERR_NOMEM;
    if (code >= CR_MIN_ERROR && code <= CR_MAX_ERROR && !is_api_errno(code) && mariadb.mysql_ping(db) != 0)
        return DBMGMT_ERR_CLOSED;
    return DBMGMT_ERR_SQL;
}

static int record_mysql_error(MYSQL *db, unsigned int code, const char *msg, const char *sqlstate,
                              dm_error *err, const char *context)
{
    if (!sqlstate || strlen(sqlstate) != 5 || strcmp(sqlstate, "00000") == 0)
        sqlstate = "HY000";
    char state[6];
    char text[512];
    memcpy(state, sqlstate, sizeof state); /* mysql_ping below overwrites both */
    snprintf(text, sizeof text, "%s", msg && *msg ? msg : "unknown error");
    int status = status_for_mysql(db, code);
    return dm_error_set_sql(err, status, state, "%s%sMySQL: %s (%u, SQLSTATE %s)",
                            context ? context : "", context ? ": " : "", text, code, state);
}

/* Record the connection's last error, prefixed by context. */
static int my_fail(MYSQL *db, dm_error *err, const char *context)
{
    return record_mysql_error(db, mariadb.mysql_errno(db), mariadb.mysql_error(db), mariadb.mysql_sqlstate(db), err,
                              context);
}

static int stmt_fail(dm_dstmt *s, dm_error *err, const char *context)
{
    return record_mysql_error(s->conn->db, mariadb.mysql_stmt_errno(s->stmt), mariadb.mysql_stmt_error(s->stmt),
                              mariadb.mysql_stmt_sqlstate(s->stmt), err, context);
}

/* ----------------------------------------------------------------- connect */

typedef enum ssl_mode {
    SSL_MODE_UNSET,
    SSL_MODE_DISABLED,
    SSL_MODE_PREFERRED,
    SSL_MODE_REQUIRED,
    SSL_MODE_VERIFY_CA,
    SSL_MODE_VERIFY_IDENTITY
} ssl_mode;

typedef struct connect_options {
    unsigned int connect_timeout;
    unsigned int read_timeout;  /* 0: none */
    unsigned int write_timeout; /* 0: none */
    ssl_mode ssl;
    const char *ssl_ca, *ssl_cert, *ssl_key;
    const char *socket;
} connect_options;

#define MY_KNOWN_PARAMS                                                                           \
    "connect_timeout, read_timeout, write_timeout, ssl-mode, ssl-ca, ssl-cert, ssl-key, socket"

static int parse_seconds(const char *key, const char *value, unsigned int *out, dm_error *err)
{
    char *end = NULL;
    long v = value && *value ? strtol(value, &end, 10) : -1;
    if (!end || *end || v < 0 || v > 31536000L) {
        return dm_error_set(err, DBMGMT_ERR_PARSE,
                            "mysql DSN: %s='%s' is not a number of seconds from 0 to 31536000",
                            key, value ? value : "");
    }
    *out = (unsigned int)v;
    return DBMGMT_OK;
}

static int parse_ssl_mode(const char *value, ssl_mode *out, dm_error *err)
{
    static const struct {
        const char *name;
        ssl_mode mode;
    } modes[] = {{"DISABLED", SSL_MODE_DISABLED},   {"PREFERRED", SSL_MODE_PREFERRED},
                 {"REQUIRED", SSL_MODE_REQUIRED},   {"VERIFY_CA", SSL_MODE_VERIFY_CA},
                 {"VERIFY_IDENTITY", SSL_MODE_VERIFY_IDENTITY}};
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++)
        if (strcasecmp(value, modes[i].name) == 0) {
            *out = modes[i].mode;
            return DBMGMT_OK;
        }
    return dm_error_set(err, DBMGMT_ERR_PARSE,
                        "mysql DSN: ssl-mode='%s' is not one of DISABLED, PREFERRED, REQUIRED, "
                        "VERIFY_CA, VERIFY_IDENTITY", value);
}

static int parse_connect_options(const dm_dsn *dsn, connect_options *o, dm_error *err)
{
    memset(o, 0, sizeof *o);
    o->connect_timeout = MY_DEFAULT_CONNECT_TIMEOUT_S;
    for (size_t i = 0; i < dsn->nparams; i++) {
        const char *key = dsn->params[i].key, *value = dsn->params[i].value;
        int rc = DBMGMT_OK;
        if (strcmp(key, "connect_timeout") == 0)
            rc = parse_seconds(key, value, &o->connect_timeout, err);
        else if (strcmp(key, "read_timeout") == 0)
            rc = parse_seconds(key, value, &o->read_timeout, err);
        else if (strcmp(key, "write_timeout") == 0)
            rc = parse_seconds(key, value, &o->write_timeout, err);
        else if (strcmp(key, "ssl-mode") == 0)
            rc = parse_ssl_mode(value, &o->ssl, err);
        else if (strcmp(key, "ssl-ca") == 0)
            o->ssl_ca = value;
        else if (strcmp(key, "ssl-cert") == 0)
            o->ssl_cert = value;
        else if (strcmp(key, "ssl-key") == 0)
            o->ssl_key = value;
        else if (strcmp(key, "socket") == 0)
            o->socket = value;
        else
            rc = dm_error_set(err, DBMGMT_ERR_PARSE,
                              "mysql DSN: unknown parameter '%s' (known: " MY_KNOWN_PARAMS ")",
                              key);
        if (rc != DBMGMT_OK)
            return rc;
    }
    if (o->ssl == SSL_MODE_DISABLED && (o->ssl_ca || o->ssl_cert || o->ssl_key))
        return dm_error_set(err, DBMGMT_ERR_PARSE,
                            "mysql DSN: ssl-ca, ssl-cert and ssl-key contradict ssl-mode=DISABLED");
    if (o->ssl == SSL_MODE_UNSET) /* as MySQL's own clients: TLS when the server offers it */
        o->ssl = o->ssl_ca || o->ssl_cert || o->ssl_key ? SSL_MODE_REQUIRED : SSL_MODE_PREFERRED;
    return DBMGMT_OK;
}

/* Set every option before mysql_real_connect; nonzero when one is refused. */
static int apply_connect_options(MYSQL *db, const connect_options *o)
{
    my_bool off = 0, on = 1;
    int bad = 0;
    bad |= mariadb.mysql_optionsv(db, MYSQL_OPT_RECONNECT, &off);
    bad |= mariadb.mysql_optionsv(db, MYSQL_SET_CHARSET_NAME, "utf8mb4");
    bad |= mariadb.mysql_optionsv(db, MYSQL_OPT_CONNECT_TIMEOUT, &o->connect_timeout);
    if (o->read_timeout)
        bad |= mariadb.mysql_optionsv(db, MYSQL_OPT_READ_TIMEOUT, &o->read_timeout);
    if (o->write_timeout)
        bad |= mariadb.mysql_optionsv(db, MYSQL_OPT_WRITE_TIMEOUT, &o->write_timeout);
    if (o->socket) {
        unsigned int protocol = MYSQL_PROTOCOL_SOCKET;
        bad |= mariadb.mysql_optionsv(db, MYSQL_OPT_PROTOCOL, &protocol);
    }
    if (o->ssl == SSL_MODE_DISABLED)
        return bad;
    if (o->ssl_ca)
        bad |= mariadb.mysql_optionsv(db, MYSQL_OPT_SSL_CA, o->ssl_ca);
    if (o->ssl_cert)
        bad |= mariadb.mysql_optionsv(db, MYSQL_OPT_SSL_CERT, o->ssl_cert);
    if (o->ssl_key)
        bad |= mariadb.mysql_optionsv(db, MYSQL_OPT_SSL_KEY, o->ssl_key);
    /* Connector/C asks for TLS once this is set; it fails the handshake
     * when the server has none only if the certificate is to be verified,
     * so REQUIRED is checked again after connecting. */
    bad |= mariadb.mysql_optionsv(db, MYSQL_OPT_SSL_ENFORCE, &on);
    /* Connector/C 3.x verifies the chain and the host name together:
     * VERIFY_CA therefore also checks the name (stricter, never weaker). */
    if (o->ssl == SSL_MODE_VERIFY_CA || o->ssl == SSL_MODE_VERIFY_IDENTITY)
        bad |= mariadb.mysql_optionsv(db, MYSQL_OPT_SSL_VERIFY_SERVER_CERT, &on);
    return bad;
}

/* "127.0.0.1:3306", "socket /run/mysqld/mysqld.sock" or "localhost". */
static void describe_target(const dm_dsn *dsn, const connect_options *o, char *out, size_t cap)
{
    if (o->socket)
        snprintf(out, cap, "socket %s", o->socket);
    else if (dsn->host && strchr(dsn->host, ':'))
        snprintf(out, cap, "[%s]:%d", dsn->host, dsn->port ? dsn->port : MYSQL_PORT);
    else if (dsn->host)
        snprintf(out, cap, "%s:%d", dsn->host, dsn->port ? dsn->port : MYSQL_PORT);
    else
        snprintf(out, cap, "localhost (default socket)");
}

static const char *ssl_mode_name(ssl_mode mode)
{
    static const char *const names[] = {"", "DISABLED", "PREFERRED", "REQUIRED", "VERIFY_CA",
                                        "VERIFY_IDENTITY"};
    return names[mode];
}

/* For a TLS failure: the settings that led to it. */
static void describe_tls(const connect_options *o, char *out, size_t cap)
{
    snprintf(out, cap, " [ssl-mode=%s%s%s%s%s%s%s]", ssl_mode_name(o->ssl),
             o->ssl_ca ? ", ssl-ca=" : "", o->ssl_ca ? o->ssl_ca : "",
             o->ssl_cert ? ", ssl-cert=" : "", o->ssl_cert ? o->ssl_cert : "",
             o->ssl_key ? ", ssl-key=" : "", o->ssl_key ? o->ssl_key : "");
}

static int connect_failed(MYSQL *db, const dm_dsn *dsn, const connect_options *o, dm_error *err)
{
    char target[300], tls[1024] = "";
    describe_target(dsn, o, target, sizeof target);
    unsigned int code = db ? mariadb.mysql_errno(db) : CR_OUT_OF_MEMORY;
    const char *state = db ? mariadb.mysql_sqlstate(db) : "HY000";
    if (!state || strlen(state) != 5 || strcmp(state, "00000") == 0)
        state = "08001";
    if (code == CR_SSL_CONNECTION_ERROR)
        describe_tls(o, tls, sizeof tls);
    return dm_error_set_sql(err, code == CR_OUT_OF_MEMORY ? DBMGMT_ERR_NOMEM : DBMGMT_ERR_CONNECT,
                            state, "cannot connect to MySQL at %s as %s: %s (%u, SQLSTATE %s)%s",
                            target, dsn->user ? dsn->user : "(default user)",
                            db ? mariadb.mysql_error(db) : "out of memory", code, state, tls);
}

/* Connector/C reports a missing certificate file as a bare "No such file
 * or directory": name the file instead. */
static int check_tls_file(const char *key, const char *path, dm_error *err)
{
    if (!path || access(path, R_OK) == 0)
        return DBMGMT_OK;
    return dm_error_set_sql(err, DBMGMT_ERR_CONNECT, "08001",
                            "cannot connect to MySQL: cannot read the %s certificate file '%s': %s",
                            key, path, strerror(errno));
}

static int check_tls_files(const connect_options *o, dm_error *err)
{
    int rc = check_tls_file("ssl-ca", o->ssl_ca, err);
    if (rc == DBMGMT_OK)
        rc = check_tls_file("ssl-cert", o->ssl_cert, err);
    if (rc == DBMGMT_OK)
        rc = check_tls_file("ssl-key", o->ssl_key, err);
    return rc;
}

static int my_connect(const dm_dsn *dsn, dm_dconn **out, dm_error *err)
{
    connect_options o;
    int rc = parse_connect_options(dsn, &o, err);
    if (rc == DBMGMT_OK)
        rc = check_tls_files(&o, err);
    if (rc == DBMGMT_OK)
        rc = dm_lazy_load(&mariadb_library, err);
    if (rc != DBMGMT_OK)
        return rc;
    dm_dconn *c = dm_calloc(1, sizeof *c);
    if (!c)
        return dm_error_set(err, DBMGMT_ERR_NOMEM, "out of memory opening a MySQL connection");
    c->db = mariadb.mysql_init(NULL);
    if (!c->db) {
        rc = connect_failed(NULL, dsn, &o, err);
        goto fail;
    }
    if (apply_connect_options(c->db, &o) != 0) {
        rc = dm_error_set(err, DBMGMT_ERR_CONNECT,
                          "cannot connect to MySQL: MariaDB Connector/C refused an option");
        goto fail;
    }
    /* The host goes as given: NULL (no host in the DSN) lets Connector/C
     * use "localhost", i.e. its default unix socket, as the mysql tool does. */
    if (!mariadb.mysql_real_connect(c->db, dsn->host, dsn->user, dsn->password, dsn->database,
                            (unsigned int)dsn->port, o.socket, CLIENT_FOUND_ROWS)) {
        rc = connect_failed(c->db, dsn, &o, err);
        goto fail;
    }
    if (o.ssl >= SSL_MODE_REQUIRED && !mariadb.mysql_get_ssl_cipher(c->db)) {
        char target[300];
        describe_target(dsn, &o, target, sizeof target);
        rc = dm_error_set_sql(err, DBMGMT_ERR_CONNECT, "08001",
                              "cannot connect to MySQL at %s as %s: the DSN requires TLS "
                              "(ssl-mode) but the server does not offer it", target,
                              dsn->user ? dsn->user : "(default user)");
        goto fail;
    }
    *out = c;
    return DBMGMT_OK;
fail:
    if (c->db)
        mariadb.mysql_close(c->db);
    dm_free(c);
    return rc;
}

static unsigned int server_status(const dm_dconn *c)
{
    unsigned int status = 0;
    if (mariadb.mariadb_get_infov(c->db, MARIADB_CONNECTION_SERVER_STATUS, &status) != 0)
        return 0;
    return status;
}

static int my_in_transaction(const dm_dconn *c)
{
    return (server_status(c) & SERVER_STATUS_IN_TRANS) != 0;
}

static void my_close(dm_dconn *c)
{
    if (!c)
        return;
    /* No ROLLBACK round trip: the server rolls an open transaction back
     * (and releases GET_LOCK locks) when it reads COM_QUIT or loses the
     * socket, and close must never wait on an unreachable server. */
    mariadb.mysql_close(c->db);
    dm_free(c);
}

/* -------------------------------------------------------------------- exec */

/* Read and free every result the last query produced. */
static int drain_results(dm_dconn *c, dm_error *err, const char *context)
{
    for (;;) {
        MYSQL_RES *res = mariadb.mysql_store_result(c->db);
        if (res)
            mariadb.mysql_free_result(res);
        else if (mariadb.mysql_field_count(c->db) != 0)
            return my_fail(c->db, err, context);
        int more = mariadb.mysql_next_result(c->db);
        if (more < 0)
            return DBMGMT_OK;
        if (more > 0)
            return my_fail(c->db, err, context);
    }
}

static int run_query(dm_dconn *c, const char *sql, size_t len, dm_error *err, const char *context)
{
    if (mariadb.mysql_real_query(c->db, sql, (unsigned long)len) != 0)
        return my_fail(c->db, err, context);
    return drain_results(c, err, context);
}

static int my_exec(dm_dconn *c, const char *sql, dm_error *err)
{
    return run_query(c, sql, strlen(sql), err, NULL);
}

/* -------------------------------------------------------------- statements */

static void free_param_values(dm_dstmt *s)
{
    for (unsigned long i = 0; s->params && i < s->nparams; i++) {
        dm_free(s->params[i].bytes);
        s->params[i].bytes = NULL;
    }
}

static void free_columns(dm_dstmt *s)
{
    for (unsigned int i = 0; s->columns && i < s->columns_cap; i++)
        dm_free(s->columns[i].buf);
    dm_free(s->columns);
    dm_free(s->column_binds);
    s->columns = NULL;
    s->column_binds = NULL;
    s->columns_cap = 0;
    s->ncolumns = 0;
}

static void my_finalize(dm_dstmt *s)
{
    if (!s)
        return;
    if (s->stmt)
        mariadb.mysql_stmt_close(s->stmt);
    if (s->meta)
        mariadb.mysql_free_result(s->meta);
    free_param_values(s);
    dm_free(s->params);
    dm_free(s->param_binds);
    free_columns(s);
    dm_free(s);
}

/* Every parameter starts as NULL, as an unbound one is on SQLite. */
static int alloc_params(dm_dstmt *s)
{
    s->nparams = mariadb.mysql_stmt_param_count(s->stmt);
    if (s->nparams == 0)
        return DBMGMT_OK;
    s->param_binds = dm_calloc(s->nparams, sizeof *s->param_binds);
    s->params = dm_calloc(s->nparams, sizeof *s->params);
    if (!s->param_binds || !s->params)
        return DBMGMT_ERR_NOMEM;
    for (unsigned long i = 0; i < s->nparams; i++) {
        s->param_binds[i].buffer_type = MYSQL_TYPE_NULL;
        s->param_binds[i].is_null = &s->params[i].is_null;
        s->params[i].is_null = 1;
    }
    return DBMGMT_OK;
}

static int my_prepare(dm_dconn *c, const char *sql, int one_shot, dm_dstmt **out,
                         dm_error *err)
{
    (void)one_shot; /* binds need the binary protocol: always a server-side statement */
    dm_dstmt *s = dm_calloc(1, sizeof *s);
    if (!s)
        return dm_error_set(err, DBMGMT_ERR_NOMEM, "out of memory preparing a statement");
    s->conn = c;
    int rc;
    s->stmt = mariadb.mysql_stmt_init(c->db);
    if (!s->stmt) {
        rc = my_fail(c->db, err, "preparing a statement");
        goto fail;
    }
    my_bool on = 1;
    mariadb.mysql_stmt_attr_set(s->stmt, STMT_ATTR_UPDATE_MAX_LENGTH, &on);
    if (mariadb.mysql_stmt_prepare(s->stmt, sql, (unsigned long)strlen(sql)) != 0) {
        rc = stmt_fail(s, err, NULL);
        goto fail;
    }
    if (alloc_params(s) != DBMGMT_OK) {
        rc = dm_error_set(err, DBMGMT_ERR_NOMEM, "out of memory preparing a statement");
        goto fail;
    }
    *out = s;
    return DBMGMT_OK;
fail:
    my_finalize(s);
    return rc;
}

static int32_t my_param_count(const dm_dstmt *s)
{
    return (int32_t)s->nparams;
}

static int my_bind(dm_dstmt *s, int32_t index, const dm_value *v, dm_error *err)
{
    if (index < 1 || (unsigned long)index > s->nparams)
        return dm_error_set(err, DBMGMT_ERR_INVALID, "parameter index %d is out of range",
                            (int)index);
    MYSQL_BIND *b = &s->param_binds[index - 1];
    param_slot *p = &s->params[index - 1];
    char *copy = NULL;
    if (v->type == DM_VALUE_TEXT || v->type == DM_VALUE_BLOB) {
        if (v->len > 0xffffffffUL)
            return dm_error_set(err, DBMGMT_ERR_INVALID, "parameter %d is larger than 4 GiB",
                                (int)index);
        copy = dm_malloc(v->len ? v->len : 1);
        if (!copy)
            return dm_error_set(err, DBMGMT_ERR_NOMEM, "out of memory binding parameter %d",
                                (int)index);
        if (v->len)
            memcpy(copy, v->bytes, v->len);
    }
    dm_free(p->bytes);
    p->bytes = copy;
    memset(b, 0, sizeof *b);
    b->is_null = &p->is_null;
    p->is_null = 0;
    switch (v->type) {
    case DM_VALUE_NULL:
        b->buffer_type = MYSQL_TYPE_NULL;
        p->is_null = 1;
        break;
    case DM_VALUE_INT64:
        p->i = v->i;
        b->buffer_type = MYSQL_TYPE_LONGLONG;
        b->buffer = &p->i;
        break;
    case DM_VALUE_DOUBLE:
        p->d = v->d;
        b->buffer_type = MYSQL_TYPE_DOUBLE;
        b->buffer = &p->d;
        break;
    case DM_VALUE_TEXT:
    case DM_VALUE_BLOB:
        p->len = (unsigned long)v->len;
        b->buffer_type = v->type == DM_VALUE_TEXT ? MYSQL_TYPE_STRING : MYSQL_TYPE_BLOB;
        b->buffer = p->bytes;
        b->buffer_length = p->len;
        b->length = &p->len;
        break;
    }
    return DBMGMT_OK;
}

/* Grow the column arrays to n entries (buffers are sized later). */
static int reserve_columns(dm_dstmt *s, unsigned int n)
{
    if (n <= s->columns_cap)
        return DBMGMT_OK;
    MYSQL_BIND *binds = dm_calloc(n, sizeof *binds);
    column_slot *slots = dm_calloc(n, sizeof *slots);
    if (!binds || !slots) {
        dm_free(binds);
        dm_free(slots);
        return DBMGMT_ERR_NOMEM;
    }
    if (s->columns_cap)
        memcpy(slots, s->columns, s->columns_cap * sizeof *slots);
    dm_free(s->columns);
    dm_free(s->column_binds);
    s->columns = slots;
    s->column_binds = binds;
    s->columns_cap = n;
    return DBMGMT_OK;
}

/* Make slot hold at least need bytes of data (plus the NUL). */
static int grow_column(column_slot *slot, unsigned long need)
{
    if (slot->buf && slot->cap >= need)
        return DBMGMT_OK;
    char *buf = dm_malloc((size_t)need + 1);
    if (!buf)
        return DBMGMT_ERR_NOMEM;
    dm_free(slot->buf);
    slot->buf = buf;
    slot->cap = need;
    return DBMGMT_OK;
}

static void bind_column(dm_dstmt *s, unsigned int i)
{
    MYSQL_BIND *b = &s->column_binds[i];
    column_slot *slot = &s->columns[i];
    memset(b, 0, sizeof *b);
    b->buffer_type = MYSQL_TYPE_STRING; /* bytes: BLOBs and NULs in text come back exactly */
    b->buffer = slot->buf;
    b->buffer_length = slot->cap;
    b->length = &slot->len;
    b->is_null = &slot->is_null;
    b->error = &slot->truncated;
}

/* After store_result: buffers sized from each column's longest value. */
static int bind_result_columns(dm_dstmt *s, dm_error *err)
{
    if (s->meta)
        mariadb.mysql_free_result(s->meta);
    s->meta = mariadb.mysql_stmt_result_metadata(s->stmt);
    if (!s->meta)
        return stmt_fail(s, err, "reading the result's columns");
    unsigned int n = mariadb.mysql_num_fields(s->meta);
    MYSQL_FIELD *fields = mariadb.mysql_fetch_fields(s->meta);
    if (reserve_columns(s, n) != DBMGMT_OK)
        return dm_error_set(err, DBMGMT_ERR_NOMEM, "out of memory reading a result");
    s->ncolumns = n;
    for (unsigned int i = 0; i < n; i++) {
        unsigned long need = fields[i].max_length;
        if (need < MY_COLUMN_MIN_BUFFER)
            need = MY_COLUMN_MIN_BUFFER;
        if (grow_column(&s->columns[i], need) != DBMGMT_OK)
            return dm_error_set(err, DBMGMT_ERR_NOMEM, "out of memory reading a result");
        bind_column(s, i);
    }
    if (mariadb.mysql_stmt_bind_result(s->stmt, s->column_binds) != 0)
        return stmt_fail(s, err, "binding the result's columns");
    return DBMGMT_OK;
}

static int my_execute(dm_dstmt *s, dm_error *err)
{
    mariadb.mysql_stmt_free_result(s->stmt);
    s->has_result = 0;
    s->done = 0;
    s->affected = 0;
    s->ncolumns = 0;
    if (s->nparams && mariadb.mysql_stmt_bind_param(s->stmt, s->param_binds) != 0)
        return stmt_fail(s, err, "binding parameters");
    if (mariadb.mysql_stmt_execute(s->stmt) != 0)
        return stmt_fail(s, err, NULL);
    if (mariadb.mysql_stmt_field_count(s->stmt) == 0) {
        my_ulonglong n = mariadb.mysql_stmt_affected_rows(s->stmt);
        s->affected = n == (my_ulonglong)-1 ? 0 : (int64_t)n;
        s->done = 1;
        return DBMGMT_OK;
    }
    int rc = DBMGMT_OK;
    if (mariadb.mysql_stmt_store_result(s->stmt) != 0)
        rc = stmt_fail(s, err, NULL);
    if (rc == DBMGMT_OK)
        rc = bind_result_columns(s, err);
    if (rc != DBMGMT_OK) {
        mariadb.mysql_stmt_free_result(s->stmt);
        s->ncolumns = 0;
        return rc;
    }
    s->has_result = 1;
    return DBMGMT_OK;
}

/* A value longer than its buffer: grow the buffer and fetch it again.
 * (Only strings, BLOBs and DECIMALs can be truncated: Connector/C renders
 * a float or an integer to fit the buffer, hence MY_COLUMN_MIN_BUFFER.) */
static int refetch_column(dm_dstmt *s, unsigned int i, dm_error *err)
{
    column_slot *slot = &s->columns[i];
    if (!slot->truncated)
        return DBMGMT_OK;
    if (grow_column(slot, slot->len) != DBMGMT_OK)
        return dm_error_set(err, DBMGMT_ERR_NOMEM, "out of memory reading a result");
    bind_column(s, i);
    slot->truncated = 0;
    if (mariadb.mysql_stmt_fetch_column(s->stmt, &s->column_binds[i], i, 0) != 0)
        return stmt_fail(s, err, "reading a long value");
    return DBMGMT_OK;
}

static int refetch_truncated(dm_dstmt *s, dm_error *err)
{
    for (unsigned int i = 0; i < s->ncolumns; i++) {
        int rc = refetch_column(s, i, err);
        if (rc != DBMGMT_OK)
            return rc;
    }
    /* the statement keeps a copy of the binds: give it the new buffers */
    if (mariadb.mysql_stmt_bind_result(s->stmt, s->column_binds) != 0)
        return stmt_fail(s, err, "binding the result's columns");
    return DBMGMT_OK;
}

static int my_next(dm_dstmt *s, dm_error *err)
{
    if (!s->has_result || s->done)
        return 0;
    int rc = mariadb.mysql_stmt_fetch(s->stmt);
    if (rc == MYSQL_NO_DATA) {
        s->done = 1;
        return 0;
    }
    if (rc == 1) {
        s->done = 1;
        return stmt_fail(s, err, NULL);
    }
    if (rc == MYSQL_DATA_TRUNCATED) {
        rc = refetch_truncated(s, err);
        if (rc != DBMGMT_OK) {
            s->done = 1;
            return rc;
        }
    }
    for (unsigned int i = 0; i < s->ncolumns; i++) {
        column_slot *slot = &s->columns[i];
        slot->buf[slot->is_null ? 0 : slot->len] = '\0';
    }
    return 1;
}

static int32_t my_column_count(const dm_dstmt *s)
{
    if (s->ncolumns)
        return (int32_t)s->ncolumns;
    return (int32_t)mariadb.mysql_stmt_field_count(s->stmt);
}

static const char *my_column_name(const dm_dstmt *s, int32_t col)
{
    if (!s->meta || col < 0 || (unsigned int)col >= s->ncolumns)
        return NULL;
    return mariadb.mysql_fetch_fields(s->meta)[col].name;
}

static column_slot *current_column(dm_dstmt *s, int32_t col)
{
    if (!s->has_result || s->done || col < 0 || (unsigned int)col >= s->ncolumns)
        return NULL;
    return &s->columns[col];
}

static int my_column_is_null(dm_dstmt *s, int32_t col)
{
    column_slot *slot = current_column(s, col);
    return !slot || slot->is_null;
}

static const char *my_column_text(dm_dstmt *s, int32_t col)
{
    column_slot *slot = current_column(s, col);
    return slot && !slot->is_null ? slot->buf : NULL;
}

static const void *my_column_blob(dm_dstmt *s, int32_t col, size_t *len)
{
    column_slot *slot = current_column(s, col);
    if (!slot || slot->is_null) {
        *len = 0;
        return NULL;
    }
    *len = slot->len;
    return slot->buf;
}

static double my_column_double(dm_dstmt *s, int32_t col)
{
    const char *text = my_column_text(s, col);
    return text ? strtod(text, NULL) : 0.0;
}

/* Integers parse exactly; a decimal or floating value converts as SQLite
 * converts a REAL (truncated, clamped to the int64 range). */
static int64_t my_column_int64(dm_dstmt *s, int32_t col)
{
    const char *text = my_column_text(s, col);
    if (!text)
        return 0;
    char *end = NULL;
    long long v = strtoll(text, &end, 10);
    if (end && (*end == '.' || *end == 'e' || *end == 'E')) {
        double d = strtod(text, NULL);
        if (d >= 9223372036854775807.0)
            return INT64_MAX;
        if (d <= -9223372036854775808.0)
            return INT64_MIN;
        return (int64_t)d;
    }
    return (int64_t)v;
}

/* Binary strings and BLOBs carry the binary character set (63). */
#define MY_BINARY_CHARSET 63

static dm_value_type my_column_type(dm_dstmt *s, int32_t col)
{
    if (!current_column(s, col) || !s->meta)
        return DM_VALUE_TEXT;
    const MYSQL_FIELD *f = &mariadb.mysql_fetch_fields(s->meta)[col];
    switch (f->type) {
    case MYSQL_TYPE_TINY:
    case MYSQL_TYPE_SHORT:
    case MYSQL_TYPE_LONG:
    case MYSQL_TYPE_INT24:
    case MYSQL_TYPE_YEAR:
        return DM_VALUE_INT64;
    case MYSQL_TYPE_LONGLONG: /* BIGINT UNSIGNED may not fit: its digits */
        return (f->flags & UNSIGNED_FLAG) ? DM_VALUE_TEXT : DM_VALUE_INT64;
    case MYSQL_TYPE_FLOAT:
    case MYSQL_TYPE_DOUBLE:
        return DM_VALUE_DOUBLE;
    case MYSQL_TYPE_TINY_BLOB:
    case MYSQL_TYPE_MEDIUM_BLOB:
    case MYSQL_TYPE_LONG_BLOB:
    case MYSQL_TYPE_BLOB:
    case MYSQL_TYPE_STRING:
    case MYSQL_TYPE_VAR_STRING:
    case MYSQL_TYPE_VARCHAR:
        return f->charsetnr == MY_BINARY_CHARSET ? DM_VALUE_BLOB : DM_VALUE_TEXT;
    default:
        return DM_VALUE_TEXT;
    }
}

static int64_t my_affected_rows(const dm_dstmt *s)
{
    return s->affected;
}

static void my_reset(dm_dstmt *s)
{
    mariadb.mysql_stmt_free_result(s->stmt);
    s->has_result = 0;
    s->done = 0;
}

/* ------------------------------------------------------------ transactions */

static int my_begin(dm_dconn *c, dm_error *err)
{
    static const char sql[] = "START TRANSACTION";
    return run_query(c, sql, sizeof sql - 1, err, sql);
}

static int my_commit(dm_dconn *c, dm_error *err)
{
    return mariadb.mysql_commit(c->db) == 0 ? DBMGMT_OK : my_fail(c->db, err, "COMMIT");
}

static int my_rollback(dm_dconn *c, dm_error *err)
{
    return mariadb.mysql_rollback(c->db) == 0 ? DBMGMT_OK : my_fail(c->db, err, "ROLLBACK");
}

static int my_ping(dm_dconn *c, dm_error *err)
{
    if (mariadb.mysql_ping(c->db) == 0)
        return DBMGMT_OK;
    my_fail(c->db, err, "ping");
    err->code = DBMGMT_ERR_CLOSED;
    return DBMGMT_ERR_CLOSED;
}

static void *my_native(dm_dconn *c)
{
    return c->db;
}

/* ------------------------------------------------------------------- locks */

/* A one-row, one-column query with one text parameter, prepared once. */
static int int_query_open(dm_dconn *c, const char *sql, const char *arg, dm_dstmt **out,
                          dm_error *err)
{
    int rc = my_prepare(c, sql, 0, out, err);
    if (rc != DBMGMT_OK)
        return rc;
    dm_value v = {.type = DM_VALUE_TEXT, .bytes = arg, .len = strlen(arg)};
    rc = my_bind(*out, 1, &v, err);
    if (rc != DBMGMT_OK) {
        my_finalize(*out);
        *out = NULL;
    }
    return rc;
}

/* Execute it: *value gets the integer, *is_null whether it was NULL. */
static int int_query_run(dm_dstmt *s, int64_t *value, int *is_null, dm_error *err)
{
    int rc = my_execute(s, err);
    if (rc == DBMGMT_OK)
        rc = my_next(s, err);
    if (rc == 1) {
        *is_null = my_column_is_null(s, 0);
        *value = my_column_int64(s, 0);
        rc = DBMGMT_OK;
    } else if (rc == 0) {
        rc = dm_error_set(err, DBMGMT_ERR_INTERNAL, "a lock query returned no row");
    }
    my_reset(s);
    return rc;
}

/* MySQL limits lock names to 64 characters: longer ones are hashed. */
static void lock_key(const char *name, char out[MY_LOCK_NAME_MAX + 1])
{
    size_t len = strlen(name);
    if (len <= MY_LOCK_NAME_MAX) {
        memcpy(out, name, len + 1);
        return;
    }
    char hex[65];
    dm_sha256_hex(name, len, hex);
    snprintf(out, MY_LOCK_NAME_MAX + 1, "dbmgmt_%.40s", hex);
}

/* GET_LOCK(name, 0) polled, so the wait has millisecond resolution and the
 * session never sits blocked inside the server. */
static int my_lock(dm_dconn *c, const char *name, int32_t timeout_ms, dm_error *err)
{
    char key[MY_LOCK_NAME_MAX + 1];
    lock_key(name, key);
    dm_dstmt *s = NULL;
    int rc = int_query_open(c, "SELECT GET_LOCK(?, 0)", key, &s, err);
    int64_t start = dm_monotonic_ms(), pause = MY_LOCK_FIRST_SLEEP_MS;
    int64_t limit = timeout_ms < 0 ? 0 : timeout_ms;
    while (rc == DBMGMT_OK) {
        int64_t got = 0;
        int is_null = 0;
        rc = int_query_run(s, &got, &is_null, err);
        if (rc != DBMGMT_OK)
            break;
        if (is_null) {
            rc = dm_error_set(err, DBMGMT_ERR_SQL, "GET_LOCK for lock '%s' returned NULL", name);
            break;
        }
        if (got == 1)
            break;
        int64_t waited = dm_monotonic_ms() - start;
        if (waited >= limit) {
            rc = dm_error_set_sql(err, DBMGMT_ERR_TIMEOUT, "55P03",
                                  "lock '%s' is held by another session; waited %lld ms", name,
                                  (long long)waited);
            break;
        }
        dm_sleep_ms(pause < limit - waited ? pause : limit - waited);
        pause = pause * 2 > MY_LOCK_MAX_SLEEP_MS ? MY_LOCK_MAX_SLEEP_MS : pause * 2;
    }
    my_finalize(s);
    return rc;
}

static int my_unlock(dm_dconn *c, const char *name, dm_error *err)
{
    char key[MY_LOCK_NAME_MAX + 1];
    lock_key(name, key);
    dm_dstmt *s = NULL;
    int64_t released = 0;
    int is_null = 0;
    int rc = int_query_open(c, "SELECT RELEASE_LOCK(?)", key, &s, err);
    if (rc == DBMGMT_OK)
        rc = int_query_run(s, &released, &is_null, err);
    my_finalize(s);
    if (rc == DBMGMT_OK && (is_null || released != 1))
        rc = dm_error_set(err, DBMGMT_ERR_NOTFOUND, "lock '%s' is not held by this session",
                          name);
    return rc;
}

/* ----------------------------------------------------------------- catalog */

typedef int (*catalog_row_fn)(dm_dstmt *s, dm_catalog *cat, void *state);

/* Run a catalog query and hand each row to fn. */
static int catalog_query(dm_dconn *c, const char *sql, dm_catalog *cat, catalog_row_fn fn,
                         void *state, dm_error *err, const char *context)
{
    dm_dstmt *s = NULL;
    int rc = my_prepare(c, sql, 1, &s, err);
    if (rc == DBMGMT_OK)
        rc = my_execute(s, err);
    while (rc == DBMGMT_OK && !cat->failed) {
        rc = my_next(s, err);
        if (rc == 1)
            rc = fn(s, cat, state);
        else if (rc == 0)
            break;
    }
    my_finalize(s);
    if (rc < 0 && err && context) {
        char msg[DM_ERRMSG_MAX], sqlstate[sizeof err->sqlstate];
        memcpy(sqlstate, err->sqlstate, sizeof sqlstate);
        snprintf(msg, sizeof msg, "%s", err->msg);
        return dm_error_set_sql(err, rc, sqlstate, "%s: %s", context, msg);
    }
    return rc < 0 ? rc : DBMGMT_OK;
}

static const char *text_or_empty(dm_dstmt *s, int32_t col)
{
    const char *t = my_column_text(s, col);
    return t ? t : "";
}

static int table_row(dm_dstmt *s, dm_catalog *cat, void *state)
{
    (void)state;
    int64_t rows = my_column_is_null(s, 1) ? -1 : my_column_int64(s, 1);
    dm_catalog_add_table(cat, text_or_empty(s, 0), rows);
    return DBMGMT_OK;
}

/* Rows arrive grouped by table: remember the last table looked up. */
static dm_cat_table *table_named(dm_catalog *cat, dm_cat_table **last, const char *name)
{
    if (!*last || strcmp((*last)->name, name) != 0)
        *last = dm_catalog_find_table(cat, name);
    return *last;
}

static int column_row(dm_dstmt *s, dm_catalog *cat, void *state)
{
    dm_cat_table *t = table_named(cat, state, text_or_empty(s, 0));
    if (t) /* views have columns too; they are not in the catalog */
        dm_catalog_add_column(cat, t, text_or_empty(s, 1), text_or_empty(s, 2),
                              strcmp(text_or_empty(s, 3), "YES") == 0,
                              (int)my_column_int64(s, 4));
    return DBMGMT_OK;
}

/* Index usage counters from performance_schema, when it is on. */
typedef struct index_usage {
    char *table;
    char *index;
    int64_t count;
} index_usage;

typedef struct usage_list {
    index_usage *items;
    size_t n;
    int available; /* performance_schema answered */
    int failed;
} usage_list;

static int usage_row(dm_dstmt *s, dm_catalog *cat, void *state)
{
    (void)cat;
    usage_list *u = state;
    index_usage *grown = dm_realloc(u->items, (u->n + 1) * sizeof *grown);
    if (!grown) {
        u->failed = 1;
        return DBMGMT_ERR_NOMEM;
    }
    u->items = grown;
    index_usage *it = &grown[u->n];
    it->table = dm_strdup(text_or_empty(s, 0));
    it->index = dm_strdup(text_or_empty(s, 1));
    it->count = my_column_int64(s, 2);
    u->n++;
    if (!it->table || !it->index) {
        u->failed = 1;
        return DBMGMT_ERR_NOMEM;
    }
    return DBMGMT_OK;
}

static void usage_free(usage_list *u)
{
    for (size_t i = 0; i < u->n; i++) {
        dm_free(u->items[i].table);
        dm_free(u->items[i].index);
    }
    dm_free(u->items);
}

static int64_t usage_of(const usage_list *u, const char *table, const char *index)
{
    if (!u->available)
        return -1;
    for (size_t i = 0; i < u->n; i++)
        if (strcmp(u->items[i].table, table) == 0 && strcmp(u->items[i].index, index) == 0)
            return u->items[i].count;
    return 0; /* instrumented, never used since the server started */
}

static int performance_schema_on(dm_dstmt *s, dm_catalog *cat, void *state)
{
    (void)cat;
    *(int *)state = my_column_int64(s, 0) == 1;
    return DBMGMT_OK;
}

/* Missing privileges or an old server only cost the counters (-1). */
static int load_index_usage(dm_dconn *c, usage_list *u, dm_catalog *cat, dm_error *err)
{
    int on = 0;
    dm_error ignored;
    memset(u, 0, sizeof *u);
    if (catalog_query(c, "SELECT @@performance_schema", cat, performance_schema_on, &on,
                      &ignored, NULL) != DBMGMT_OK || !on)
        return DBMGMT_OK;
    int rc = catalog_query(c,
                           "SELECT OBJECT_NAME, INDEX_NAME, COUNT_STAR FROM "
                           "performance_schema.table_io_waits_summary_by_index_usage WHERE "
                           "OBJECT_SCHEMA = DATABASE() AND INDEX_NAME IS NOT NULL",
                           cat, usage_row, u, &ignored, NULL);
    if (u->failed)
        return dm_error_set(err, DBMGMT_ERR_NOMEM, "out of memory reading index usage");
    u->available = rc == DBMGMT_OK;
    return DBMGMT_OK;
}

typedef struct index_state {
    dm_cat_table *last_table;
    dm_cat_index *current;
    const usage_list *usage;
} index_state;

static int index_row(dm_dstmt *s, dm_catalog *cat, void *state)
{
    index_state *st = state;
    const char *table = text_or_empty(s, 0), *name = text_or_empty(s, 1);
    if (!table_named(cat, &st->last_table, table))
        return DBMGMT_OK;
    if (my_column_int64(s, 3) == 1) { /* SEQ_IN_INDEX: a new index starts */
        int primary = strcmp(name, "PRIMARY") == 0;
        st->current = dm_catalog_add_index(cat, name, table, my_column_int64(s, 2) == 0,
                                           primary, 0, usage_of(st->usage, table, name));
    }
    /* a functional key part (MySQL 8) has no column name */
    dm_catalog_index_add_column(cat, st->current, my_column_text(s, 4));
    return DBMGMT_OK;
}

typedef struct fk_state {
    dm_cat_fk *current;
    char table[256];
    char name[256];
} fk_state;

static int fk_row(dm_dstmt *s, dm_catalog *cat, void *state)
{
    fk_state *st = state;
    const char *table = text_or_empty(s, 0), *name = text_or_empty(s, 1);
    if (!st->current || strcmp(st->table, table) != 0 || strcmp(st->name, name) != 0) {
        st->current = dm_catalog_add_fk(cat, name, table, text_or_empty(s, 2));
        snprintf(st->table, sizeof st->table, "%s", table);
        snprintf(st->name, sizeof st->name, "%s", name);
    }
    dm_catalog_fk_add_column(cat, st->current, text_or_empty(s, 3), text_or_empty(s, 4));
    return DBMGMT_OK;
}

static int catalog_tables_and_columns(dm_dconn *c, dm_catalog *cat, dm_error *err)
{
    int rc = catalog_query(c,
                           "SELECT TABLE_NAME, TABLE_ROWS FROM information_schema.TABLES "
                           "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE IN ('BASE TABLE', "
                           "'SYSTEM VERSIONED') ORDER BY TABLE_NAME",
                           cat, table_row, NULL, err, "listing tables");
    if (rc != DBMGMT_OK)
        return rc;
    dm_cat_table *last = NULL;
    return catalog_query(c,
                         "SELECT c.TABLE_NAME, c.COLUMN_NAME, c.COLUMN_TYPE, c.IS_NULLABLE, "
                         "COALESCE(s.SEQ_IN_INDEX, 0) FROM information_schema.COLUMNS c "
                         "LEFT JOIN information_schema.STATISTICS s ON s.TABLE_SCHEMA = "
                         "c.TABLE_SCHEMA AND s.TABLE_NAME = c.TABLE_NAME AND s.COLUMN_NAME = "
                         "c.COLUMN_NAME AND s.INDEX_NAME = 'PRIMARY' WHERE c.TABLE_SCHEMA = "
                         "DATABASE() ORDER BY c.TABLE_NAME, c.ORDINAL_POSITION",
                         cat, column_row, &last, err, "reading columns");
}

static int catalog_indexes_and_fks(dm_dconn *c, dm_catalog *cat, dm_error *err)
{
    usage_list usage;
    int rc = load_index_usage(c, &usage, cat, err);
    index_state ist = {NULL, NULL, &usage};
    if (rc == DBMGMT_OK)
        rc = catalog_query(c,
                           "SELECT TABLE_NAME, INDEX_NAME, NON_UNIQUE, SEQ_IN_INDEX, COLUMN_NAME "
                           "FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() "
                           "ORDER BY TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX",
                           cat, index_row, &ist, err, "reading indexes");
    usage_free(&usage);
    if (rc != DBMGMT_OK)
        return rc;
    fk_state fst;
    memset(&fst, 0, sizeof fst);
    return catalog_query(c,
                         "SELECT TABLE_NAME, CONSTRAINT_NAME, REFERENCED_TABLE_NAME, COLUMN_NAME, "
                         "REFERENCED_COLUMN_NAME FROM information_schema.KEY_COLUMN_USAGE WHERE "
                         "TABLE_SCHEMA = DATABASE() AND REFERENCED_TABLE_NAME IS NOT NULL "
                         "ORDER BY TABLE_NAME, CONSTRAINT_NAME, ORDINAL_POSITION",
                         cat, fk_row, &fst, err, "reading foreign keys");
}

static int my_table_exists(dm_dconn *c, const char *schema, const char *name, dm_error *err)
{
    dm_dstmt *s = NULL;
    int rc = int_query_open(c,
                            schema ? "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_NAME = "
                                     "? AND TABLE_SCHEMA = ? AND TABLE_TYPE = 'BASE TABLE'"
                                   : "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_NAME = "
                                     "? AND TABLE_SCHEMA = DATABASE() AND TABLE_TYPE = 'BASE TABLE'",
                            name, &s, err);
    if (rc == DBMGMT_OK && schema) {
        dm_value v = {.type = DM_VALUE_TEXT, .bytes = schema, .len = strlen(schema)};
        rc = my_bind(s, 2, &v, err);
    }
    int64_t count = 0;
    int is_null = 0;
    if (rc == DBMGMT_OK)
        rc = int_query_run(s, &count, &is_null, err);
    my_finalize(s);
    return rc == DBMGMT_OK ? count > 0 : rc;
}

/* The session variables a migration may SET that change how later SQL
 * runs (mysqldump's header sets most of them); session_restore sets them
 * back, and USE returns to the database. */
static const char *const saved_variables[] = {
    "sql_mode", "time_zone", "foreign_key_checks", "unique_checks", "sql_notes",
    "character_set_client", "character_set_results", "collation_connection", "autocommit",
};
#define NSAVED (sizeof saved_variables / sizeof saved_variables[0])

/* Append v as a literal (a number bare, anything else quoted); 0 when it
 * holds a quote or backslash (no variable above has one: the caller
 * refuses such a value). */
static int put_literal(dm_buf *b, const char *v)
{
    if (strpbrk(v, "'\\"))
        return 0;
    if (*v && strspn(v, "0123456789") == strlen(v)) { /* a number, as a number */
        dm_buf_puts(b, v);
        return 1;
    }
    dm_buf_putc(b, '\'');
    dm_buf_puts(b, v);
    dm_buf_putc(b, '\'');
    return 1;
}

static int my_session_save(dm_dconn *c, dm_session_state *st, dm_error *err)
{
    memset(st, 0, sizeof *st);
    dm_buf q = DM_BUF_INIT;
    dm_buf_puts(&q, "SELECT DATABASE()");
    for (size_t i = 0; i < NSAVED; i++) {
        dm_buf_puts(&q, ", @@SESSION.");
        dm_buf_puts(&q, saved_variables[i]);
    }
    char *sql = dm_buf_detach(&q);
    if (!sql)
        return dm_error_set(err, DBMGMT_ERR_NOMEM, "out of memory reading the session");
    dm_dstmt *s = NULL;
    int rc = my_prepare(c, sql, 1, &s, err);
    dm_free(sql);
    if (rc == DBMGMT_OK)
        rc = my_execute(s, err);
    if (rc == DBMGMT_OK) {
        rc = my_next(s, err);
        if (rc == 0)
            rc = dm_error_set(err, DBMGMT_ERR_INTERNAL, "reading the session returned no row");
        else if (rc == 1)
            rc = DBMGMT_OK;
    }
    dm_buf set = DM_BUF_INIT;
    dm_buf_puts(&set, "SET SESSION ");
    for (size_t i = 0; rc == DBMGMT_OK && i < NSAVED; i++) {
        if (i)
            dm_buf_puts(&set, ", ");
        dm_buf_puts(&set, saved_variables[i]);
        dm_buf_puts(&set, " = ");
        if (my_column_is_null(s, (int32_t)i + 1)) {
            dm_buf_puts(&set, "NULL");
            continue;
        }
        const char *v = my_column_text(s, (int32_t)i + 1);
        if (!v || !put_literal(&set, v))
            rc = dm_error_set(err, DBMGMT_ERR_UNSUPPORTED,
                              "MySQL: the session's %s cannot be saved and put back after "
                              "migrations", saved_variables[i]);
    }
    if (rc == DBMGMT_OK) {
        st->restore = dm_buf_detach(&set);
        if (!st->restore)
            rc = dm_error_set(err, DBMGMT_ERR_NOMEM, "out of memory reading the session");
    } else {
        dm_buf_free(&set);
    }
    if (rc == DBMGMT_OK) {
        const char *db = my_column_is_null(s, 0) ? NULL : my_column_text(s, 0);
        if (!db)
            rc = dm_error_set(err, DBMGMT_ERR_NOTFOUND,
                              "MySQL: no database to keep the migration history in: the "
                              "connection has no current database (name one in the DSN: "
                              "mysql://user@host/DATABASE)");
        else if (strlen(db) >= sizeof st->schema)
            rc = dm_error_set(err, DBMGMT_ERR_INVALID,
                              "MySQL: the current database's name is longer than %d bytes",
                              (int)sizeof st->schema - 1);
        else
            snprintf(st->schema, sizeof st->schema, "%s", db);
    }
    my_finalize(s);
    if (rc != DBMGMT_OK && rc != DBMGMT_ERR_NOTFOUND)
        dm_session_state_clear(st);
    return rc;
}

static void my_quote_ident(dm_buf *out, const char *name);

static int my_session_restore(dm_dconn *c, const dm_session_state *st, dm_error *err)
{
    int rc = DBMGMT_OK;
    if (st->schema[0]) {
        dm_buf use = DM_BUF_INIT;
        dm_buf_puts(&use, "USE ");
        my_quote_ident(&use, st->schema);
        char *sql = dm_buf_detach(&use);
        rc = sql ? run_query(c, sql, strlen(sql), err, "returning to the database")
                 : dm_error_set(err, DBMGMT_ERR_NOMEM, "out of memory");
        dm_free(sql);
    }
    if (rc == DBMGMT_OK && st->restore)
        rc = run_query(c, st->restore, strlen(st->restore), err,
                       "putting the session's variables back");
    return rc;
}

/* `name` with embedded backticks doubled. */
static void my_quote_ident(dm_buf *out, const char *name)
{
    dm_buf_putc(out, '`');
    for (const char *p = name; *p; p++) {
        if (*p == '`')
            dm_buf_putc(out, '`');
        dm_buf_putc(out, *p);
    }
    dm_buf_putc(out, '`');
}

/* ---- Index advice (issue 9): statistics and the recorded workload -------- */

/* InnoDB's distinct-value estimate for a leading index column
 * (information_schema.STATISTICS.CARDINALITY, refreshed by ANALYZE TABLE)
 * and the table's row estimate; -1 when the engine has none. */
static int my_column_distinct(dm_dconn *c, const char *table, const char *column,
                              double *distinct, double *rows, dm_error *err)
{
    *distinct = *rows = -1;
    dm_dstmt *s = NULL;
    int rc = my_prepare(c,
                        "SELECT s.CARDINALITY, t.TABLE_ROWS FROM information_schema.STATISTICS s "
                        "JOIN information_schema.TABLES t ON t.TABLE_SCHEMA = s.TABLE_SCHEMA AND "
                        "t.TABLE_NAME = s.TABLE_NAME WHERE s.TABLE_SCHEMA = DATABASE() AND "
                        "s.TABLE_NAME = ? AND s.COLUMN_NAME = ? AND s.SEQ_IN_INDEX = 1 LIMIT 1",
                        1, &s, err);
    dm_value t = {.type = DM_VALUE_TEXT, .bytes = table, .len = strlen(table)};
    dm_value col = {.type = DM_VALUE_TEXT, .bytes = column, .len = strlen(column)};
    if (rc == DBMGMT_OK)
        rc = my_bind(s, 1, &t, err);
    if (rc == DBMGMT_OK)
        rc = my_bind(s, 2, &col, err);
    if (rc == DBMGMT_OK)
        rc = my_execute(s, err);
    if (rc == DBMGMT_OK && (rc = my_next(s, err)) == 1) {
        if (!my_column_is_null(s, 0))
            *distinct = my_column_double(s, 0);
        if (!my_column_is_null(s, 1))
            *rows = my_column_double(s, 1);
        rc = DBMGMT_OK;
    }
    my_finalize(s);
    return rc < 0 ? rc : DBMGMT_OK;
}

/* performance_schema's statement digests for this database (normalised
 * text, literals as ?), weighted by how often they ran. */
static int my_workload(dm_dconn *c, void (*fn)(void *userdata, const char *sql, double calls),
                       void *userdata, dm_error *err)
{
    dm_dstmt *on = NULL;
    int64_t enabled = 0;
    int is_null = 0;
    int rc = my_prepare(c, "SELECT @@performance_schema", 1, &on, err);
    if (rc == DBMGMT_OK)
        rc = int_query_run(on, &enabled, &is_null, err);
    my_finalize(on);
    if (rc != DBMGMT_OK)
        return rc;
    if (!enabled)
        return dm_error_set(err, DBMGMT_ERR_UNSUPPORTED,
                            "performance_schema is off on this server, so it records no "
                            "statement digests: start it with performance_schema=ON, or give the "
                            "workload with dbmgmt_advisor_add_query / add_file");
    dm_dstmt *s = NULL;
    rc = my_prepare(c,
                    "SELECT DIGEST_TEXT, COUNT_STAR FROM "
                    "performance_schema.events_statements_summary_by_digest WHERE SCHEMA_NAME = "
                    "DATABASE() AND DIGEST_TEXT IS NOT NULL AND COUNT_STAR > 0 "
                    "ORDER BY COUNT_STAR DESC LIMIT 10000",
                    1, &s, err);
    if (rc == DBMGMT_OK)
        rc = my_execute(s, err);
    while (rc == DBMGMT_OK && (rc = my_next(s, err)) == 1) {
        rc = DBMGMT_OK;
        if (!my_column_is_null(s, 0))
            fn(userdata, my_column_text(s, 0), my_column_double(s, 1));
    }
    my_finalize(s);
    if (rc < 0 && err->code == DBMGMT_ERR_SQL)
        return dm_error_set_sql(err, DBMGMT_ERR_UNSUPPORTED, err->sqlstate,
                                "cannot read performance_schema statement digests: %s", err->msg);
    return rc < 0 ? rc : DBMGMT_OK;
}

static int my_catalog(dm_dconn *c, dm_catalog *cat, dm_error *err)
{
    int rc = catalog_tables_and_columns(c, cat, err);
    if (rc == DBMGMT_OK)
        rc = catalog_indexes_and_fks(c, cat, err);
    if (rc == DBMGMT_OK && cat->failed)
        return dm_error_set(err, DBMGMT_ERR_NOMEM, "out of memory reading the catalog");
    return rc;
}

const dm_driver dm_mysql_driver = {
    .drop_index_on_table = 1,
    .engine = DBMGMT_ENGINE_MYSQL,
    .name = "mysql",
    .ddl_transactional = 0,
    .connect = my_connect,
    .close = my_close,
    .exec = my_exec,
    .prepare = my_prepare,
    .param_count = my_param_count,
    .bind = my_bind,
    .execute = my_execute,
    .next = my_next,
    .column_count = my_column_count,
    .column_name = my_column_name,
    .column_is_null = my_column_is_null,
    .column_text = my_column_text,
    .column_blob = my_column_blob,
    .column_int64 = my_column_int64,
    .column_double = my_column_double,
    .column_type = my_column_type,
    .affected_rows = my_affected_rows,
    .reset = my_reset,
    .finalize = my_finalize,
    .begin = my_begin,
    .commit = my_commit,
    .rollback = my_rollback,
    .in_transaction = my_in_transaction,
    .ping = my_ping,
    .native = my_native,
    .lock = my_lock,
    .unlock = my_unlock,
    .catalog = my_catalog,
    .table_exists = my_table_exists,
    .session_save = my_session_save,
    .session_restore = my_session_restore,
    .column_distinct = my_column_distinct,
    .workload = my_workload,
    .quote_ident = my_quote_ident,
};
