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
#include <errmsg.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "dm_config.h"
#include "lazy.h"
#include "mysql_impl.h"

/* The Connector/C functions, through `dm_mariadb.NAME(...)`: a table filled
 * when the first mysql:// DSN is opened (lazy.h), so a process that never
 * uses MySQL never loads Connector/C. */
dm_mariadb_functions dm_mariadb;

static const dm_lazy_symbol mariadb_symbols[] = {
#define DM_FUNCTION_SYMBOL(name) {#name, offsetof(dm_mariadb_functions, name)},
    DM_MARIADB_FUNCTIONS(DM_FUNCTION_SYMBOL)
#undef DM_FUNCTION_SYMBOL
};

static dm_lazy_library mariadb_library =
    DM_LAZY_LIBRARY_INIT(DM_MARIADB_SONAME, DM_MYSQL_CLIENT_NAME, "mysql://", "-Dmysql",
                         mariadb_symbols, &dm_mariadb);

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
    if (code == 1047) /* a Galera node that is not ready (wsrep_ready = OFF): use another */
        return DBMGMT_ERR_CLOSED;
    if (code == CR_OUT_OF_MEMORY || code == 1037 || code == 1038) /* ER_OUT[OF_SORT]MEMORY */
        return DBMGMT_ERR_NOMEM;
    if (code >= CR_MIN_ERROR && code <= CR_MAX_ERROR && !is_api_errno(code) &&
        dm_mariadb.mysql_ping(db) != 0)
        return DBMGMT_ERR_CLOSED;
    return DBMGMT_ERR_SQL;
}

static int record_mysql_error(MYSQL *db, unsigned int code, const char *msg, const char *sqlstate,
                              dm_error *err, const char *context)
{
    if (!sqlstate || strlen(sqlstate) != 5 || strcmp(sqlstate, "00000") == 0)
        sqlstate = "HY000";
    /* ER_OPTION_PREVENTS_STATEMENT for read_only (HY000 on the wire): the
     * SQL standard's 25006, as PostgreSQL says it, so that a pool drops
     * the connections of a primary that was made read-only (failover). */
    if (code == 1290 && msg && strstr(msg, "read-only"))
        sqlstate = "25006";
    char state[6];
    char text[512];
    memcpy(state, sqlstate, sizeof state); /* mysql_ping below overwrites both */
    snprintf(text, sizeof text, "%s", msg && *msg ? msg : "unknown error");
    int status = status_for_mysql(db, code);
    return dm_error_set_sql(err, status, state, "%s%sMySQL: %s (%u, SQLSTATE %s)",
                            context ? context : "", context ? ": " : "", text, code, state);
}

/* Record the connection's last error, prefixed by context. */
int dm_my_fail(MYSQL *db, dm_error *err, const char *context)
{
    return record_mysql_error(db, dm_mariadb.mysql_errno(db), dm_mariadb.mysql_error(db),
                              dm_mariadb.mysql_sqlstate(db), err, context);
}

int dm_my_stmt_fail(dm_dstmt *s, dm_error *err, const char *context)
{
    return record_mysql_error(s->conn->db, dm_mariadb.mysql_stmt_errno(s->stmt),
                              dm_mariadb.mysql_stmt_error(s->stmt),
                              dm_mariadb.mysql_stmt_sqlstate(s->stmt), err, context);
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
    int read_write;      /* target_session_attrs=read-write: only a writable host */
    int lock_mode;       /* migration_lock: MY_LOCK_MODE_* */
    unsigned int lease_s; /* migration_lock_lease */
} connect_options;

#define MY_KNOWN_PARAMS                                                                           \
    "connect_timeout, read_timeout, write_timeout, ssl-mode, ssl-ca, ssl-cert, ssl-key, socket, " \
    "target_session_attrs, migration_lock, migration_lock_lease"

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

/* target_session_attrs as libpq spells it: read-write (only a host that
 * accepts writes) or any. */
static int parse_target(const char *value, int *read_write, dm_error *err)
{
    if (strcasecmp(value, "read-write") == 0)
        *read_write = 1;
    else if (strcasecmp(value, "any") == 0)
        *read_write = 0;
    else
        return dm_error_set(err, DBMGMT_ERR_PARSE,
                            "mysql DSN: target_session_attrs='%s' is not one of read-write, any",
                            value);
    return DBMGMT_OK;
}

/* migration_lock: auto (a lock row on a Galera node, GET_LOCK elsewhere),
 * row, or get_lock (node-local on Galera: for servers without Galera, and
 * for the test that shows why it is not enough). */
static int parse_lock_mode(const char *value, int *mode, dm_error *err)
{
    if (strcasecmp(value, "auto") == 0)
        *mode = MY_LOCK_MODE_AUTO;
    else if (strcasecmp(value, "row") == 0)
        *mode = MY_LOCK_MODE_ROW;
    else if (strcasecmp(value, "get_lock") == 0)
        *mode = MY_LOCK_MODE_GET_LOCK;
    else
        return dm_error_set(err, DBMGMT_ERR_PARSE,
                            "mysql DSN: migration_lock='%s' is not one of auto, row, get_lock",
                            value);
    return DBMGMT_OK;
}

static int parse_connect_options(const dm_dsn *dsn, connect_options *o, dm_error *err)
{
    memset(o, 0, sizeof *o);
    o->connect_timeout = MY_DEFAULT_CONNECT_TIMEOUT_S;
    o->read_write = -1;
    o->lease_s = MY_DEFAULT_LOCK_LEASE_S;
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
        else if (strcmp(key, "target_session_attrs") == 0)
            rc = parse_target(value, &o->read_write, err);
        else if (strcmp(key, "migration_lock") == 0)
            rc = parse_lock_mode(value, &o->lock_mode, err);
        else if (strcmp(key, "migration_lock_lease") == 0)
            rc = parse_seconds(key, value, &o->lease_s, err);
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
    if (o->lease_s < MY_MIN_LOCK_LEASE_S)
        return dm_error_set(err, DBMGMT_ERR_PARSE,
                            "mysql DSN: migration_lock_lease=%u is too short (at least %d "
                            "seconds: the holder renews it every third of it)",
                            o->lease_s, MY_MIN_LOCK_LEASE_S);
    if (o->ssl == SSL_MODE_UNSET) /* as MySQL's own clients: TLS when the server offers it */
        o->ssl = o->ssl_ca || o->ssl_cert || o->ssl_key ? SSL_MODE_REQUIRED : SSL_MODE_PREFERRED;
    return DBMGMT_OK;
}

/* Set every option before mysql_real_connect; nonzero when one is refused. */
static int apply_connect_options(MYSQL *db, const connect_options *o)
{
    my_bool off = 0, on = 1;
    int bad = 0;
    bad |= dm_mariadb.mysql_optionsv(db, MYSQL_OPT_RECONNECT, &off);
    bad |= dm_mariadb.mysql_optionsv(db, MYSQL_SET_CHARSET_NAME, "utf8mb4");
    bad |= dm_mariadb.mysql_optionsv(db, MYSQL_OPT_CONNECT_TIMEOUT, &o->connect_timeout);
    if (o->read_timeout)
        bad |= dm_mariadb.mysql_optionsv(db, MYSQL_OPT_READ_TIMEOUT, &o->read_timeout);
    if (o->write_timeout)
        bad |= dm_mariadb.mysql_optionsv(db, MYSQL_OPT_WRITE_TIMEOUT, &o->write_timeout);
    if (o->socket) {
        unsigned int protocol = MYSQL_PROTOCOL_SOCKET;
        bad |= dm_mariadb.mysql_optionsv(db, MYSQL_OPT_PROTOCOL, &protocol);
    }
    if (o->ssl == SSL_MODE_DISABLED)
        return bad;
    if (o->ssl_ca)
        bad |= dm_mariadb.mysql_optionsv(db, MYSQL_OPT_SSL_CA, o->ssl_ca);
    if (o->ssl_cert)
        bad |= dm_mariadb.mysql_optionsv(db, MYSQL_OPT_SSL_CERT, o->ssl_cert);
    if (o->ssl_key)
        bad |= dm_mariadb.mysql_optionsv(db, MYSQL_OPT_SSL_KEY, o->ssl_key);
    /* Connector/C asks for TLS once this is set; it fails the handshake
     * when the server has none only if the certificate is to be verified,
     * so REQUIRED is checked again after connecting. */
    bad |= dm_mariadb.mysql_optionsv(db, MYSQL_OPT_SSL_ENFORCE, &on);
    /* Connector/C 3.x verifies the chain and the host name together:
     * VERIFY_CA therefore also checks the name (stricter, never weaker). */
    if (o->ssl == SSL_MODE_VERIFY_CA || o->ssl == SSL_MODE_VERIFY_IDENTITY)
        bad |= dm_mariadb.mysql_optionsv(db, MYSQL_OPT_SSL_VERIFY_SERVER_CERT, &on);
    return bad;
}

/* "127.0.0.1:3306", "socket /run/mysqld/mysqld.sock" or "localhost". */
static void describe_target(const my_host *h, const connect_options *o, char *out, size_t cap)
{
    if (o->socket)
        snprintf(out, cap, "socket %s", o->socket);
    else if (h->name && strchr(h->name, ':'))
        snprintf(out, cap, "[%s]:%d", h->name, h->port ? h->port : MYSQL_PORT);
    else if (h->name)
        snprintf(out, cap, "%s:%d", h->name, h->port ? h->port : MYSQL_PORT);
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

static int connect_failed(MYSQL *db, const dm_dsn *dsn, const my_host *h,
                          const connect_options *o, dm_error *err)
{
    char target[300], tls[1024] = "";
    describe_target(h, o, target, sizeof target);
    unsigned int code = db ? dm_mariadb.mysql_errno(db) : CR_OUT_OF_MEMORY;
    const char *state = db ? dm_mariadb.mysql_sqlstate(db) : "HY000";
    if (!state || strlen(state) != 5 || strcmp(state, "00000") == 0)
        state = "08001";
    if (code == CR_SSL_CONNECTION_ERROR)
        describe_tls(o, tls, sizeof tls);
    return dm_error_set_sql(err, code == CR_OUT_OF_MEMORY ? DBMGMT_ERR_NOMEM : DBMGMT_ERR_CONNECT,
                            state, "cannot connect to MySQL at %s as %s: %s (%u, SQLSTATE %s)%s",
                            target, dsn->user ? dsn->user : "(default user)",
                            db ? dm_mariadb.mysql_error(db) : "out of memory", code, state, tls);
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

/* One server of the DSN: connect, and check TLS where the DSN requires it. */
static int connect_host(const dm_dsn *dsn, const my_host *h, const connect_options *o,
                        MYSQL **out, dm_error *err)
{
    *out = NULL;
    MYSQL *db = dm_mariadb.mysql_init(NULL);
    if (!db)
        return connect_failed(NULL, dsn, h, o, err);
    int rc = DBMGMT_OK;
    if (apply_connect_options(db, o) != 0) {
        rc = dm_error_set(err, DBMGMT_ERR_CONNECT,
                          "cannot connect to MySQL: MariaDB Connector/C refused an option");
    } else if (!dm_mariadb.mysql_real_connect(db, h->name, dsn->user, dsn->password,
                                              dsn->database, (unsigned int)h->port, o->socket,
                                              CLIENT_FOUND_ROWS)) {
        /* A NULL host (none in the DSN) lets Connector/C use "localhost",
         * i.e. its default unix socket, as the mysql tool does. */
        rc = connect_failed(db, dsn, h, o, err);
    } else if (o->ssl >= SSL_MODE_REQUIRED && !dm_mariadb.mysql_get_ssl_cipher(db)) {
        char target[300];
        describe_target(h, o, target, sizeof target);
        rc = dm_error_set_sql(err, DBMGMT_ERR_CONNECT, "08001",
                              "cannot connect to MySQL at %s as %s: the DSN requires TLS "
                              "(ssl-mode) but the server does not offer it", target,
                              dsn->user ? dsn->user : "(default user)");
    }
    if (rc != DBMGMT_OK) {
        dm_mariadb.mysql_close(db);
        return rc;
    }
    *out = db;
    return DBMGMT_OK;
}

/* Append "; " and a host's reason to the list of why no host would do. */
static void note_refusal(char *list, size_t cap, const char *reason)
{
    size_t used = strlen(list);
    if (used + 3 < cap)
        snprintf(list + used, cap - used, "%s%s", used ? "; " : "", reason);
}

/* Several hosts (mysql://u:p@h1:p1,h2:p2/db): the first that answers and,
 * for read-write (the default with several hosts), accepts writes
 * (docs/mariadb-cluster.md). A host that does not is closed at once. */
static int connect_any_host(const dm_dsn *dsn, const connect_options *o, const my_host *hosts,
                            int nhosts, dm_dconn *c, dm_error *err)
{
    char why[1500] = "";
    int last = DBMGMT_ERR_CONNECT;
    for (int i = 0; i < nhosts; i++) {
        char target[300];
        describe_target(&hosts[i], o, target, sizeof target);
        dm_error one;
        dm_error_reset(&one);
        MYSQL *db = NULL;
        int rc = connect_host(dsn, &hosts[i], o, &db, &one);
        if (rc == DBMGMT_ERR_NOMEM)
            return dm_error_copy(err, &one);
        if (rc != DBMGMT_OK) {
            last = rc;
            note_refusal(why, sizeof why, one.msg);
            continue;
        }
        c->db = db;
        snprintf(c->where, sizeof c->where, "%s", target);
        if (o->read_write == 0)
            return DBMGMT_OK;
        char reason[400] = "";
        rc = dm_my_writable(c, reason, sizeof reason, &one);
        if (rc == 1)
            return DBMGMT_OK;
        dm_mariadb.mysql_close(db);
        c->db = NULL;
        if (rc == DBMGMT_ERR_NOMEM)
            return dm_error_copy(err, &one);
        note_refusal(why, sizeof why, rc == 0 ? reason : one.msg);
        last = DBMGMT_ERR_CONNECT;
    }
    return dm_error_set_sql(err, last, "08001",
                            "no host of the DSN %s: %s",
                            o->read_write ? "accepts writes" : "answers", why);
}

static int my_connect(const dm_dsn *dsn, dm_dconn **out, dm_error *err)
{
    connect_options o;
    my_host hosts[MY_MAX_HOSTS];
    int nhosts = 0;
    int rc = parse_connect_options(dsn, &o, err);
    if (rc == DBMGMT_OK)
        rc = dm_my_parse_hosts(dsn, hosts, &nhosts, err);
    if (rc == DBMGMT_OK)
        rc = check_tls_files(&o, err);
    if (rc == DBMGMT_OK)
        rc = dm_lazy_load(&mariadb_library, err);
    if (rc != DBMGMT_OK)
        return rc;
    if (o.read_write < 0) /* as libpq's multi-host DSNs for a pool's writes */
        o.read_write = nhosts > 1;
    dm_dconn *c = dm_calloc(1, sizeof *c);
    if (!c)
        return dm_error_set(err, DBMGMT_ERR_NOMEM, "out of memory opening a MySQL connection");
    c->lock_mode = o.lock_mode;
    c->lease_s = o.lease_s;
    if (nhosts == 1 && !o.read_write) {
        rc = connect_host(dsn, &hosts[0], &o, &c->db, err);
        describe_target(&hosts[0], &o, c->where, sizeof c->where);
    } else {
        rc = connect_any_host(dsn, &o, hosts, nhosts, c, err);
    }
    if (rc != DBMGMT_OK) {
        dm_free(c);
        return rc;
    }
    *out = c;
    return DBMGMT_OK;
}

static unsigned int server_status(const dm_dconn *c)
{
    unsigned int status = 0;
    if (dm_mariadb.mariadb_get_infov(c->db, MARIADB_CONNECTION_SERVER_STATUS, &status) != 0)
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
     * socket, and close must never wait on an unreachable server. A
     * Galera lock row left behind expires with its lease. */
    dm_my_lease_stop(c);
    dm_mariadb.mysql_close(c->db);
    dm_free(c);
}

/* -------------------------------------------------------------------- exec */

/* Read and free the current result of the last query (rows, or none). */
static int free_result(dm_dconn *c, dm_error *err, const char *context)
{
    MYSQL_RES *res = dm_mariadb.mysql_store_result(c->db);
    if (res)
        dm_mariadb.mysql_free_result(res);
    else if (dm_mariadb.mysql_field_count(c->db) != 0)
        return dm_my_fail(c->db, err, context);
    return DBMGMT_OK;
}

/* Read and free every result the last query produced. */
static int drain_results(dm_dconn *c, dm_error *err, const char *context)
{
    for (;;) {
        int rc = free_result(c, err, context);
        if (rc != DBMGMT_OK)
            return rc;
        int more = dm_mariadb.mysql_next_result(c->db);
        if (more < 0)
            return DBMGMT_OK;
        if (more > 0)
            return dm_my_fail(c->db, err, context);
    }
}

int dm_my_run_query(dm_dconn *c, const char *sql, size_t len, dm_error *err, const char *context)
{
    if (dm_mariadb.mysql_real_query(c->db, sql, (unsigned long)len) != 0)
        return dm_my_fail(c->db, err, context);
    return drain_results(c, err, context);
}

static int my_exec(dm_dconn *c, const char *sql, dm_error *err)
{
    return dm_my_run_query(c, sql, strlen(sql), err, NULL);
}

/* A statement and a follow-up of ours in one round trip (driver.h): the
 * server runs the follow only when the statement succeeded. "\n;\n" ends a
 * trailing line comment of the statement before the separator. */
static int my_exec_followed(dm_dconn *c, const char *sql, const char *follow, dm_error *err)
{
    if (!c->multi_statements) {
        if (dm_mariadb.mysql_set_server_option(c->db, MYSQL_OPTION_MULTI_STATEMENTS_ON) != 0)
            return dm_my_fail(c->db, err, "turning multi-statement queries on");
        c->multi_statements = 1;
    }
    dm_buf q = DM_BUF_INIT;
    dm_buf_puts(&q, sql);
    dm_buf_puts(&q, "\n;\n");
    dm_buf_puts(&q, follow);
    if (dm_buf_failed(&q)) {
        dm_buf_free(&q);
        return dm_error_set(err, DBMGMT_ERR_NOMEM, "out of memory running a statement");
    }
    int sent = dm_mariadb.mysql_real_query(c->db, q.data, (unsigned long)q.len);
    dm_buf_free(&q);
    if (sent != 0) /* the statement failed: the server ran nothing after it */
        return dm_my_fail(c->db, err, NULL);
    int rc = free_result(c, err, NULL);
    if (rc != DBMGMT_OK)
        return rc;
    int more = dm_mariadb.mysql_next_result(c->db);
    if (more < 0)
        return dm_error_set(err, DBMGMT_ERR_INTERNAL, "the server did not run the statement's "
                            "follow-up (%s)", follow);
    if (more > 0) /* the follow failed */
        return dm_my_fail(c->db, err, NULL);
    return drain_results(c, err, NULL);
}

static int my_exec_followed_end(dm_dconn *c, dm_error *err)
{
    if (!c->multi_statements)
        return DBMGMT_OK;
    c->multi_statements = 0;
    if (dm_mariadb.mysql_set_server_option(c->db, MYSQL_OPTION_MULTI_STATEMENTS_OFF) != 0)
        return dm_my_fail(c->db, err, "turning multi-statement queries off");
    return DBMGMT_OK;
}

/* The escaping is the client library's: it follows the session's
 * character set and NO_BACKSLASH_ESCAPES (the server reports the mode in
 * every reply). */
static int my_quote_literal(dm_dconn *c, dm_buf *out, const char *value)
{
    size_t len = strlen(value);
    if (len > (size_t)(ULONG_MAX - 1) / 2 || dm_buf_reserve(out, 2 * len + 3) != 0)
        return DBMGMT_ERR_NOMEM;
    unsigned long n = dm_mariadb.mysql_real_escape_string(c->db, out->data + out->len + 1,
                                                          value, (unsigned long)len);
    if (n == (unsigned long)-1) /* not text of the session's character set */
        return DBMGMT_ERR_INVALID;
    out->data[out->len] = '\'';
    out->len += n + 1;
    out->data[out->len++] = '\'';
    out->data[out->len] = '\0';
    return DBMGMT_OK;
}

/* -------------------------------------------------------------- statements */

static int my_begin(dm_dconn *c, dm_error *err)
{
    static const char sql[] = "START TRANSACTION";
    return dm_my_run_query(c, sql, sizeof sql - 1, err, sql);
}

static int my_commit(dm_dconn *c, dm_error *err)
{
    return dm_mariadb.mysql_commit(c->db) == 0 ? DBMGMT_OK : dm_my_fail(c->db, err, "COMMIT");
}

static int my_rollback(dm_dconn *c, dm_error *err)
{
    return dm_mariadb.mysql_rollback(c->db) == 0 ? DBMGMT_OK : dm_my_fail(c->db, err, "ROLLBACK");
}

static int my_ping(dm_dconn *c, dm_error *err)
{
    if (dm_mariadb.mysql_ping(c->db) == 0)
        return DBMGMT_OK;
    dm_my_fail(c->db, err, "ping");
    err->code = DBMGMT_ERR_CLOSED;
    return DBMGMT_ERR_CLOSED;
}

static void *my_native(dm_dconn *c)
{
    return c->db;
}

/* ------------------------------------------------------------------- locks */


const dm_driver dm_mysql_driver = {
    .drop_index_on_table = 1,
    .engine = DBMGMT_ENGINE_MYSQL,
    .name = "mysql",
    .ddl_transactional = 0,
    .connect = my_connect,
    .close = my_close,
    .exec = my_exec,
    .exec_followed = my_exec_followed,
    .exec_followed_end = my_exec_followed_end,
    .prepare = dm_my_prepare,
    .param_count = dm_my_param_count,
    .bind = dm_my_bind,
    .execute = dm_my_execute,
    .next = dm_my_next,
    .column_count = dm_my_column_count,
    .column_name = dm_my_column_name,
    .column_is_null = dm_my_column_is_null,
    .column_text = dm_my_column_text,
    .column_blob = dm_my_column_blob,
    .column_int64 = dm_my_column_int64,
    .column_double = dm_my_column_double,
    .column_type = dm_my_column_type,
    .affected_rows = dm_my_affected_rows,
    .reset = dm_my_reset,
    .finalize = dm_my_finalize,
    .begin = my_begin,
    .commit = my_commit,
    .rollback = my_rollback,
    .in_transaction = my_in_transaction,
    .ping = my_ping,
    .native = my_native,
    .lock = dm_my_lock,
    .unlock = dm_my_unlock,
    .migration_lock = dm_my_migration_lock,
    .migration_unlock = dm_my_migration_unlock,
    .migration_lock_check = dm_my_migration_lock_check,
    .standby_reason = dm_my_standby_reason,
    .catalog = dm_my_catalog,
    .table_exists = dm_my_table_exists,
    .session_save = dm_my_session_save,
    .session_restore = dm_my_session_restore,
    .column_distinct = dm_my_column_distinct,
    .workload = dm_my_workload,
    .quote_ident = dm_my_quote_ident,
    .quote_literal = my_quote_literal,
    .repl_state = dm_my_repl_state,
    .position_diff = dm_my_position_diff,
    .wait_position = dm_my_wait_position,
    .galera_node = dm_my_galera_node,
#if DM_HAVE_HEALTH /* -Dhealth=false leaves lib/health and its callers out */
    .health = dm_my_health,
#endif
};
