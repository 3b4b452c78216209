/* MySQL / MariaDB past one server (mysql_impl.h): named locks, the hosts
 * of a multi-host DSN and which of them accepts writes, GTID and Galera
 * replication positions, and the Galera-wide migration lock
 * (docs/mariadb-cluster.md). */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/sha256.h"
#include "core/thread.h"
#include "mysql_impl.h"

/* A one-row, one-column query with one text parameter, prepared once. */
int dm_my_int_query_open(dm_dconn *c, const char *sql, const char *arg, dm_dstmt **out,
                         dm_error *err)
{
    int rc = dm_my_prepare(c, sql, 0, out, err);
    if (rc != DBMGMT_OK)
        return rc;
    dm_value v = {.type = DM_VALUE_TEXT, .bytes = arg, .len = strlen(arg)};
    rc = dm_my_bind(*out, 1, &v, err);
    if (rc != DBMGMT_OK) {
        dm_my_finalize(*out);
        *out = NULL;
    }
    return rc;
}

/* Execute it: *value gets the integer, *is_null whether it was NULL. */
int dm_my_int_query_run(dm_dstmt *s, int64_t *value, int *is_null, dm_error *err)
{
    int rc = dm_my_execute(s, err);
    if (rc == DBMGMT_OK)
        rc = dm_my_next(s, err);
    if (rc == 1) {
        *is_null = dm_my_column_is_null(s, 0);
        *value = dm_my_column_int64(s, 0);
        rc = DBMGMT_OK;
    } else if (rc == 0) {
        rc = dm_error_set(err, DBMGMT_ERR_INTERNAL, "a lock query returned no row");
    }
    dm_my_reset(s);
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
int dm_my_lock(dm_dconn *c, const char *name, int32_t timeout_ms, dm_error *err)
{
    char key[MY_LOCK_NAME_MAX + 1];
    lock_key(name, key);
    dm_dstmt *s = NULL;
    int rc = dm_my_int_query_open(c, "SELECT GET_LOCK(?, 0)", key, &s, err);
    int64_t start = dm_monotonic_ms(), pause = MY_LOCK_FIRST_SLEEP_MS;
    int64_t limit = timeout_ms < 0 ? 0 : timeout_ms;
    while (rc == DBMGMT_OK) {
        int64_t got = 0;
        int is_null = 0;
        rc = dm_my_int_query_run(s, &got, &is_null, err);
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
    dm_my_finalize(s);
    return rc;
}

int dm_my_unlock(dm_dconn *c, const char *name, dm_error *err)
{
    char key[MY_LOCK_NAME_MAX + 1];
    lock_key(name, key);
    dm_dstmt *s = NULL;
    int64_t released = 0;
    int is_null = 0;
    int rc = dm_my_int_query_open(c, "SELECT RELEASE_LOCK(?)", key, &s, err);
    if (rc == DBMGMT_OK)
        rc = dm_my_int_query_run(s, &released, &is_null, err);
    dm_my_finalize(s);
    if (rc == DBMGMT_OK && (is_null || released != 1))
        rc = dm_error_set(err, DBMGMT_ERR_NOTFOUND, "lock '%s' is not held by this session",
                          name);
    return rc;
}

/* ----------------------------------------------------------------- catalog */

/* ---- hosts ------------------------------------------------------------------------ */

/* The DSN's host part: one host (or none), or a comma-separated list of
 * host[:port] / [v6]:port, each with the DSN's port (or 3306) when it has
 * none. */
int dm_my_parse_hosts(const dm_dsn *dsn, my_host hosts[MY_MAX_HOSTS], int *n, dm_error *err)
{
    *n = 0;
    if (!dsn->host || !strchr(dsn->host, ',')) {
        hosts[0].name = dsn->host;
        hosts[0].port = dsn->port;
        *n = 1;
        return DBMGMT_OK;
    }
    const char *p = dsn->host;
    while (*p) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (*n == MY_MAX_HOSTS)
            return dm_error_set(err, DBMGMT_ERR_PARSE, "mysql DSN: more than %d hosts",
                                MY_MAX_HOSTS);
        my_host *h = &hosts[*n];
        if (len == 0 || len >= sizeof h->buf)
            return dm_error_set(err, DBMGMT_ERR_PARSE,
                                "mysql DSN: host %d of the list is %s", *n + 1,
                                len ? "too long" : "empty");
        memcpy(h->buf, p, len);
        h->buf[len] = '\0';
        char *name = h->buf, *port = NULL;
        if (name[0] == '[') { /* [v6]:port */
            char *close = strchr(name, ']');
            if (!close || (close[1] && close[1] != ':'))
                return dm_error_set(err, DBMGMT_ERR_PARSE,
                                    "mysql DSN: host '%s' of the list is not [IPv6]:PORT", h->buf);
            *close = '\0';
            port = close[1] ? close + 2 : NULL;
            name++;
        } else if ((port = strchr(name, ':')) != NULL) {
            *port++ = '\0';
        }
        h->name = name;
        h->port = dsn->port;
        if (port) {
            char *stop = NULL;
            long v = strtol(port, &stop, 10);
            if (!*port || *stop || v <= 0 || v > 65535)
                return dm_error_set(err, DBMGMT_ERR_PARSE,
                                    "mysql DSN: host '%s' of the list has no valid port "
                                    "(1-65535)", name);
            h->port = (int)v;
        }
        (*n)++;
        p = end ? end + 1 : p + len;
        if (end && !*p)
            return dm_error_set(err, DBMGMT_ERR_PARSE,
                                "mysql DSN: the host list ends with a comma");
    }
    return DBMGMT_OK;
}

/* ---- one-row queries ---------------------------------------------------------------- */

#define MY_ROW_COLUMNS 8
#define MY_VALUE_MAX 256

/* Run sql and copy the first row's columns as text ("" for NULL, with
 * nulls[k] set) into vals; 0 when there is no row. */
static int query_row(dm_dconn *c, const char *sql, int ncols,
                     char vals[][MY_VALUE_MAX], int *nulls, dm_error *err, const char *context)
{
    dm_dstmt *s = NULL;
    int rc = dm_my_prepare(c, sql, 1, &s, err);
    if (rc == DBMGMT_OK)
        rc = dm_my_execute(s, err);
    if (rc == DBMGMT_OK)
        rc = dm_my_next(s, err);
    if (rc == 1) {
        for (int k = 0; k < ncols && k < MY_ROW_COLUMNS; k++) {
            const char *t = dm_my_column_is_null(s, k) ? NULL : dm_my_column_text(s, k);
            if (nulls)
                nulls[k] = t == NULL;
            snprintf(vals[k], MY_VALUE_MAX, "%s", t ? t : "");
        }
    }
    dm_my_finalize(s);
    if (rc < 0 && context) {
        char msg[DM_ERRMSG_MAX], state[sizeof err->sqlstate];
        memcpy(state, err->sqlstate, sizeof state);
        snprintf(msg, sizeof msg, "%s", err->msg);
        return dm_error_set_sql(err, rc, state, "%s on %s: %s", context, c->where, msg);
    }
    return rc;
}

/* What a server is, in one round trip: read_only, whether Galera is on,
 * and (on Galera) whether the node is ready and its state. */
typedef struct server_role {
    int read_only;
    int galera;
    int ready;
    char state[MY_VALUE_MAX];
} server_role;

static const char role_sql[] =
    "SELECT @@global.read_only, @@global.wsrep_on, "
    "(SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS "
    "WHERE VARIABLE_NAME = 'WSREP_READY'), "
    "(SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS "
    "WHERE VARIABLE_NAME = 'WSREP_LOCAL_STATE_COMMENT')";

static int server_role_of(dm_dconn *c, server_role *r, dm_error *err)
{
    char v[4][MY_VALUE_MAX];
    int rc = query_row(c, role_sql, 4, v, NULL, err, "reading read_only and the Galera state");
    if (rc == 0)
        rc = dm_error_set(err, DBMGMT_ERR_INTERNAL, "%s: no row", role_sql);
    if (rc < 0)
        return rc;
    r->read_only = atoi(v[0]) != 0;
    r->galera = atoi(v[1]) != 0;
    r->ready = strcasecmp(v[2], "ON") == 0;
    snprintf(r->state, sizeof r->state, "%s", v[3]);
    return DBMGMT_OK;
}

int dm_my_writable(dm_dconn *c, char *reason, size_t len, dm_error *err)
{
    server_role r;
    int rc = server_role_of(c, &r, err);
    if (rc != DBMGMT_OK)
        return rc;
    if (r.read_only)
        snprintf(reason, len, "%s is read-only (read_only = ON)", c->where);
    else if (r.galera && !r.ready)
        snprintf(reason, len, "%s is a Galera node that is not ready (wsrep_ready = OFF, "
                 "state '%s')", c->where, r.state);
    else
        return 1;
    return 0;
}

/* A migration writes only to a writable server, and on Galera only through
 * a Synced node: a joining or donor node may lag behind the cluster. */
int dm_my_standby_reason(dm_dconn *c, char *reason, size_t len, dm_error *err)
{
    server_role r;
    int rc = server_role_of(c, &r, err);
    if (rc != DBMGMT_OK)
        return rc;
    if (r.read_only)
        snprintf(reason, len,
                 "%s is read-only (read_only = ON: a replica, or a primary taken out of "
                 "service) and accepts no writes; give the primary's DSN, or list the hosts "
                 "(mysql://USER@HOST1:PORT1,HOST2:PORT2/DB) so that the writable one is "
                 "chosen", c->where);
    else if (r.galera && (!r.ready || strcasecmp(r.state, "Synced") != 0))
        snprintf(reason, len,
                 "%s is a Galera node in state '%s' (wsrep_ready = %s), not Synced: it may "
                 "be behind the cluster or leaving it; migrate through a Synced node",
                 c->where, r.state[0] ? r.state : "unknown", r.ready ? "ON" : "OFF");
    else
        return 0;
    return 1;
}

int dm_my_galera_node(dm_dconn *c, dm_error *err)
{
    char v[1][MY_VALUE_MAX];
    dm_error quiet;
    dm_error_reset(&quiet);
    int rc = query_row(c, "SELECT @@global.wsrep_on", 1, v, NULL, &quiet, NULL);
    if (rc == 1)
        return atoi(v[0]) != 0;
    if (rc < 0 && strcmp(quiet.sqlstate, "HY000") == 0 && strstr(quiet.msg, "(1193,"))
        return 0; /* Unknown system variable: a server built without Galera (MySQL) */
    if (rc < 0)
        return dm_error_copy(err, &quiet);
    return 0;
}

/* ---- replication: GTID positions, Galera seqnos (issue 19) ------------------------- */

/* A position is either a MariaDB GTID list ("0-1-57" or "0-1-57,1-2-9":
 * domain-server-sequence; "0-0-0" for an empty one) or a Galera node's
 * last committed seqno ("wsrep:1234", global to the cluster). */
#define MY_WSREP_PREFIX "wsrep:"
#define MY_MAX_DOMAINS 16

typedef struct gtid_set {
    int n;
    uint32_t domain[MY_MAX_DOMAINS];
    uint64_t seq[MY_MAX_DOMAINS];
} gtid_set;

static int parse_u64(const char **p, uint64_t *out)
{
    if (**p < '0' || **p > '9')
        return -1;
    uint64_t v = 0;
    for (; **p >= '0' && **p <= '9'; (*p)++) {
        if (v > (UINT64_MAX - 9) / 10)
            return -1;
        v = v * 10 + (uint64_t)(**p - '0');
    }
    *out = v;
    return 0;
}

static int parse_gtid_set(const char *s, gtid_set *g)
{
    g->n = 0;
    const char *p = s;
    for (;;) {
        uint64_t d, server, seq;
        if (parse_u64(&p, &d) != 0 || *p++ != '-' || parse_u64(&p, &server) != 0 ||
            *p++ != '-' || parse_u64(&p, &seq) != 0 || d > UINT32_MAX)
            return -1;
        int k = 0;
        while (k < g->n && g->domain[k] != (uint32_t)d)
            k++;
        if (k == g->n) {
            if (g->n == MY_MAX_DOMAINS)
                return -1;
            g->domain[g->n] = (uint32_t)d;
            g->seq[g->n++] = seq;
        } else if (seq > g->seq[k]) {
            g->seq[k] = seq;
        }
        if (*p == '\0')
            return 0;
        if (*p++ != ',')
            return -1;
        while (*p == ' ' || *p == '\n')
            p++;
    }
}

static uint64_t seq_of(const gtid_set *g, uint32_t domain)
{
    for (int k = 0; k < g->n; k++)
        if (g->domain[k] == domain)
            return g->seq[k];
    return 0;
}

static int parse_wsrep(const char *s, uint64_t *seqno)
{
    if (strncmp(s, MY_WSREP_PREFIX, sizeof MY_WSREP_PREFIX - 1) != 0)
        return -1;
    const char *p = s + sizeof MY_WSREP_PREFIX - 1;
    return parse_u64(&p, seqno) == 0 && *p == '\0' ? 0 : -1;
}

static int64_t clamp_diff(uint64_t more, uint64_t less)
{
    uint64_t d = more - less;
    return d > INT64_MAX ? INT64_MAX : (int64_t)d;
}

/* GTID lists: a is newer (> 0, the transactions a has past b) when it has
 * every domain of b at least as far; otherwise older (< 0, the
 * transactions it lacks). */
int dm_my_position_diff(const char *a, const char *b, int64_t *diff, dm_error *err)
{
    uint64_t wa, wb;
    int a_wsrep = parse_wsrep(a, &wa) == 0, b_wsrep = parse_wsrep(b, &wb) == 0;
    if (a_wsrep && b_wsrep) {
        *diff = wa >= wb ? clamp_diff(wa, wb) : -clamp_diff(wb, wa);
        return DBMGMT_OK;
    }
    gtid_set ga, gb;
    const char *bad = a_wsrep || parse_gtid_set(a, &ga) != 0   ? a
                      : b_wsrep || parse_gtid_set(b, &gb) != 0 ? b
                                                               : NULL;
    if (bad)
        return dm_error_set(err, DBMGMT_ERR_PARSE,
                            "'%.64s' is not a MariaDB position of the same kind as the other "
                            "(a GTID list like 0-1-57, or a Galera seqno like wsrep:57)",
                            bad);
    uint64_t ahead = 0, behind = 0;
    for (int k = 0; k < ga.n; k++) {
        uint64_t other = seq_of(&gb, ga.domain[k]);
        if (ga.seq[k] > other)
            ahead += ga.seq[k] - other;
    }
    for (int k = 0; k < gb.n; k++) {
        uint64_t mine = seq_of(&ga, gb.domain[k]);
        if (gb.seq[k] > mine)
            behind += gb.seq[k] - mine;
    }
    *diff = behind ? -clamp_diff(behind, 0) : clamp_diff(ahead, 0);
    return DBMGMT_OK;
}

static const char repl_sql[] =
    "SELECT @@global.read_only, @@global.wsrep_on, @@global.gtid_binlog_pos, "
    "@@global.gtid_slave_pos, @@session.last_gtid, "
    "(SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS "
    "WHERE VARIABLE_NAME = 'WSREP_LAST_COMMITTED')";

/* A primary's position: this session's last commit (@@last_gtid) when it
 * made one, else the server's binlog state; a read-only replica's: what its
 * SQL thread applied (@@gtid_slave_pos); a Galera node's: its last
 * committed seqno. Lag is measured from positions (lib/pool/replicas.c),
 * not from Seconds_Behind_Master and its 1-second steps. */
int dm_my_repl_state(dm_dconn *c, dm_repl_state *st, dm_error *err)
{
    char v[6][MY_VALUE_MAX];
    int rc = query_row(c, repl_sql, 6, v, NULL, err, "reading the replication state");
    if (rc == 0)
        rc = dm_error_set(err, DBMGMT_ERR_INTERNAL, "%s: no row", repl_sql);
    if (rc < 0)
        return rc;
    memset(st, 0, sizeof *st);
    st->replay_age_ms = -1;
    const char *pos;
    if (atoi(v[1]) != 0) {
        st->multi_primary = 1;
        snprintf(st->position, sizeof st->position, MY_WSREP_PREFIX "%.20s", v[5][0] ? v[5] : "0");
        return DBMGMT_OK;
    }
    st->standby = atoi(v[0]) != 0;
    pos = st->standby ? v[3] : v[4][0] ? v[4] : v[2];
    if (!*pos)
        pos = "0-0-0";
    if (strlen(pos) >= sizeof st->position)
        return dm_error_set(err, DBMGMT_ERR_UNSUPPORTED,
                            "%s: the GTID position '%.80s...' has more domains than the "
                            "library follows", c->where, pos);
    snprintf(st->position, sizeof st->position, "%s", pos);
    return DBMGMT_OK;
}

/* On Galera: wsrep_sync_wait makes the next read wait until the node has
 * applied everything the cluster committed before it; one such read is a
 * barrier after which the position is there. */
static int galera_wait(dm_dconn *c, uint64_t seqno, dm_error *err)
{
    char v[1][MY_VALUE_MAX];
    int rc = dm_my_run_query(c, "SET SESSION wsrep_sync_wait = 1", 31, err,
                             "causal read (wsrep_sync_wait)");
    if (rc == DBMGMT_OK)
        rc = query_row(c,
                       "SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS "
                       "WHERE VARIABLE_NAME = 'WSREP_LAST_COMMITTED'",
                       1, v, NULL, err, "causal read (wsrep_sync_wait)");
    if (rc != DBMGMT_ERR_CLOSED) {
        dm_error quiet;
        int back = dm_my_run_query(c, "SET SESSION wsrep_sync_wait = DEFAULT", 37, &quiet, NULL);
        if (back != DBMGMT_OK && rc >= 0)
            rc = dm_error_copy(err, &quiet);
    }
    if (rc == DBMGMT_ERR_TIMEOUT) /* the provider's causal read timeout */
        return 0;
    if (rc < 0)
        return rc;
    return rc == 1 && strtoull(v[0], NULL, 10) >= seqno;
}

int dm_my_wait_position(dm_dconn *c, const char *position, int32_t timeout_ms, dm_error *err)
{
    uint64_t seqno;
    if (parse_wsrep(position, &seqno) == 0)
        return galera_wait(c, seqno, err);
    gtid_set g;
    if (parse_gtid_set(position, &g) != 0)
        return dm_error_set(err, DBMGMT_ERR_PARSE,
                            "'%.64s' is not a MariaDB GTID position (like 0-1-57)", position);
    dm_dstmt *s = NULL;
    int rc = dm_my_prepare(c, "SELECT MASTER_GTID_WAIT(?, ?)", 1, &s, err);
    dm_value pos = {.type = DM_VALUE_TEXT, .bytes = position, .len = strlen(position)};
    dm_value secs = {.type = DM_VALUE_DOUBLE, .d = (timeout_ms > 0 ? timeout_ms : 0) / 1000.0};
    if (rc == DBMGMT_OK)
        rc = dm_my_bind(s, 1, &pos, err);
    if (rc == DBMGMT_OK)
        rc = dm_my_bind(s, 2, &secs, err);
    if (rc == DBMGMT_OK)
        rc = dm_my_execute(s, err);
    if (rc == DBMGMT_OK)
        rc = dm_my_next(s, err);
    if (rc == 1)
        rc = !dm_my_column_is_null(s, 0) && dm_my_column_int64(s, 0) == 0;
    else if (rc == 0)
        rc = dm_error_set(err, DBMGMT_ERR_INTERNAL, "MASTER_GTID_WAIT returned no row");
    dm_my_finalize(s);
    return rc;
}

/* ---- the Galera migration lock (issue 19, docs/mariadb-cluster.md) ------------------ */

/* GET_LOCK is local to one Galera node: two migrators on two nodes would
 * both hold "the" lock. The cluster-wide lock is a row: its INSERT is
 * certified by every node, so of two migrators on two nodes exactly one
 * commits it (the other gets a duplicate key, or a certification conflict,
 * 1213). The row carries a lease that a thread of the holder renews every
 * third of it; a holder that died (SIGKILL, power) leaves a row that the
 * next migrator takes over once the lease has run out, with an UPDATE
 * that is certified the same way. Times are the node's UTC_TIMESTAMP. */
struct my_lease {
    dm_dconn *conn;
    char key[MY_LOCK_NAME_MAX + 1];
    char owner[128];
    pthread_t thread;
    dm_thread_start start;
    pthread_mutex_t mu;
    pthread_cond_t cond;
    int stop;
    int lost;              /* the renewal found the row gone or another's */
    char why[DM_ERRMSG_MAX];
};

static const char lock_table_sql[] =
    "CREATE TABLE IF NOT EXISTS " MY_LOCK_TABLE " ("
    "name VARCHAR(64) NOT NULL PRIMARY KEY, "
    "owner VARCHAR(128) NOT NULL, "
    "node VARCHAR(255) NOT NULL, "
    "acquired_at DATETIME(6) NOT NULL, "
    "lease_until DATETIME(6) NOT NULL"
    ") ENGINE=InnoDB";

/* Run a prepared statement with text parameters; *affected gets its rows. */
static int exec_texts(dm_dconn *c, const char *sql, const char *const *args, int nargs,
                      int64_t *affected, dm_error *err)
{
    dm_dstmt *s = NULL;
    int rc = dm_my_prepare(c, sql, 1, &s, err);
    for (int k = 0; rc == DBMGMT_OK && k < nargs; k++) {
        dm_value v = {.type = DM_VALUE_TEXT, .bytes = args[k], .len = strlen(args[k])};
        rc = dm_my_bind(s, k + 1, &v, err);
    }
    if (rc == DBMGMT_OK)
        rc = dm_my_execute(s, err);
    if (rc == DBMGMT_OK && affected)
        *affected = dm_my_affected_rows(s);
    dm_my_finalize(s);
    return rc;
}

static void make_owner(char *out, size_t len)
{
    char host[64] = "?";
    gethostname(host, sizeof host);
    host[sizeof host - 1] = '\0';
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    snprintf(out, len, "%s/%ld/%lx%lx", host, (long)getpid(), (unsigned long)ts.tv_sec,
             (unsigned long)ts.tv_nsec ^ (unsigned long)(uintptr_t)out);
}

/* One attempt: 1 taken (inserted, or taken over from an expired lease),
 * 0 held by someone else (who in holder), < 0 error. */
static int row_lock_try(dm_dconn *c, my_lease *l, char *holder, size_t hlen, dm_error *err)
{
    char lease[16];
    snprintf(lease, sizeof lease, "%u", c->lease_s);
    const char *ins[] = {l->key, l->owner, c->where, lease};
    dm_error e;
    dm_error_reset(&e);
    int rc = exec_texts(c,
                        "INSERT INTO " MY_LOCK_TABLE " (name, owner, node, acquired_at, "
                        "lease_until) VALUES (?, ?, ?, UTC_TIMESTAMP(6), "
                        "UTC_TIMESTAMP(6) + INTERVAL ? SECOND)",
                        ins, 4, NULL, &e);
    if (rc == DBMGMT_OK)
        return 1;
    if (rc == DBMGMT_ERR_BUSY) /* certification conflict: another node's insert won */
        return 0;
    if (!strstr(e.msg, "(1062,")) /* anything but "duplicate key" */
        return dm_error_copy(err, &e);
    /* Held: take it over only if its lease ran out. */
    int64_t taken = 0;
    const char *upd[] = {l->owner, c->where, lease, l->key};
    rc = exec_texts(c,
                    "UPDATE " MY_LOCK_TABLE " SET owner = ?, node = ?, acquired_at = "
                    "UTC_TIMESTAMP(6), lease_until = UTC_TIMESTAMP(6) + INTERVAL ? SECOND "
                    "WHERE name = ? AND lease_until < UTC_TIMESTAMP(6)",
                    upd, 4, &taken, &e);
    if (rc == DBMGMT_ERR_BUSY)
        return 0;
    if (rc != DBMGMT_OK)
        return dm_error_copy(err, &e);
    if (taken == 1) {
        dm_log(DBMGMT_LOG_WARN,
               "migration lock '%s': took it over on %s from a holder whose lease (%u s) had "
               "run out (a migrator that died while holding it)",
               l->key, c->where, c->lease_s);
        return 1;
    }
    char v[3][MY_VALUE_MAX];
    dm_dstmt *s = NULL;
    holder[0] = '\0';
    if (dm_my_int_query_open(c,
                             "SELECT owner, node, DATE_FORMAT(lease_until, '%Y-%m-%d %H:%i:%s') "
                             "FROM " MY_LOCK_TABLE " WHERE name = ?",
                             l->key, &s, &e) == DBMGMT_OK &&
        dm_my_execute(s, &e) == DBMGMT_OK && dm_my_next(s, &e) == 1) {
        for (int k = 0; k < 3; k++) {
            const char *t = dm_my_column_text(s, k);
            snprintf(v[k], sizeof v[k], "%s", t ? t : "");
        }
        snprintf(holder, hlen, "%.128s on %.255s, lease until %.32s UTC", v[0], v[1], v[2]);
    }
    dm_my_finalize(s);
    return 0;
}

static void *lease_main(void *arg)
{
    my_lease *l = arg;
    dm_dconn *c = l->conn;
    char lease[16];
    snprintf(lease, sizeof lease, "%u", c->lease_s);
    int64_t every_ms = (int64_t)c->lease_s * 1000 / 3;
    pthread_mutex_lock(&l->mu);
    while (!l->stop && !l->lost) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        int64_t ns = ts.tv_nsec + (every_ms % 1000) * 1000000;
        ts.tv_sec += every_ms / 1000 + ns / 1000000000;
        ts.tv_nsec = ns % 1000000000;
        pthread_cond_timedwait(&l->cond, &l->mu, &ts);
        if (l->stop)
            break;
        pthread_mutex_unlock(&l->mu);
        const char *args[] = {lease, l->key, l->owner};
        int64_t renewed = 0;
        dm_error e;
        dm_error_reset(&e);
        int rc = exec_texts(c,
                            "UPDATE " MY_LOCK_TABLE " SET lease_until = UTC_TIMESTAMP(6) + "
                            "INTERVAL ? SECOND WHERE name = ? AND owner = ?",
                            args, 3, &renewed, &e);
        pthread_mutex_lock(&l->mu);
        if (rc == DBMGMT_OK && renewed == 1)
            continue;
        if (rc == DBMGMT_OK) {
            l->lost = 1;
            snprintf(l->why, sizeof l->why,
                     "its row on %s is gone or another migrator's (the lease of %u s ran out "
                     "before it could be renewed)", c->where, c->lease_s);
        } else if (rc == DBMGMT_ERR_CLOSED) {
            l->lost = 1;
            snprintf(l->why, sizeof l->why, "the lock's session was lost: %.900s", e.msg);
        } /* else: a conflict or a hiccup; the next renewal comes within a third */
    }
    pthread_mutex_unlock(&l->mu);
    return NULL;
}

static void lease_free(my_lease *l)
{
    pthread_cond_destroy(&l->cond);
    pthread_mutex_destroy(&l->mu);
    dm_free(l);
}

void dm_my_lease_stop(dm_dconn *c)
{
    my_lease *l = c->lease;
    if (!l)
        return;
    pthread_mutex_lock(&l->mu);
    l->stop = 1;
    pthread_cond_signal(&l->cond);
    pthread_mutex_unlock(&l->mu);
    pthread_join(l->thread, NULL);
    c->lease = NULL;
    lease_free(l);
}

static int lease_start(dm_dconn *c, my_lease *l, dm_error *err)
{
    pthread_condattr_t attr;
    int ok = pthread_condattr_init(&attr) == 0;
    ok = ok && pthread_condattr_setclock(&attr, CLOCK_MONOTONIC) == 0 &&
         pthread_cond_init(&l->cond, &attr) == 0;
    pthread_condattr_destroy(&attr);
    if (!ok || pthread_mutex_init(&l->mu, NULL) != 0)
        return dm_error_set(err, DBMGMT_ERR_NOMEM, "cannot start the migration lock's lease");
    if (dm_thread_create(&l->thread, NULL, &l->start, lease_main, l) != 0) {
        pthread_cond_destroy(&l->cond);
        pthread_mutex_destroy(&l->mu);
        return dm_error_set(err, DBMGMT_ERR_NOMEM,
                            "cannot start the thread that renews the migration lock's lease");
    }
    c->lease = l;
    return DBMGMT_OK;
}

static int row_lock(dm_dconn *c, const char *name, int32_t timeout_ms, dm_error *err)
{
    if (c->lease)
        return dm_error_set(err, DBMGMT_ERR_BUSY, "the migration lock is already held here");
    int rc = dm_my_run_query(c, lock_table_sql, sizeof lock_table_sql - 1, err,
                             "creating the migration lock's table " MY_LOCK_TABLE);
    if (rc != DBMGMT_OK)
        return rc;
    my_lease *l = dm_calloc(1, sizeof *l);
    if (!l)
        return dm_error_set(err, DBMGMT_ERR_NOMEM, "out of memory taking the migration lock");
    l->conn = c;
    lock_key(name, l->key);
    make_owner(l->owner, sizeof l->owner);
    int64_t start = dm_monotonic_ms(), pause = MY_LOCK_FIRST_SLEEP_MS;
    int64_t limit = timeout_ms < 0 ? 0 : timeout_ms;
    char holder[600] = "";
    for (;;) {
        rc = row_lock_try(c, l, holder, sizeof holder, err);
        if (rc != 0)
            break;
        int64_t waited = dm_monotonic_ms() - start;
        if (waited >= limit) {
            rc = dm_error_set_sql(err, DBMGMT_ERR_TIMEOUT, "55P03",
                                  "migration lock '%s' is held by another migrator of the "
                                  "Galera cluster (%s); waited %lld ms",
                                  name, holder[0] ? holder : "it just took it",
                                  (long long)waited);
            break;
        }
        dm_sleep_ms(pause < limit - waited ? pause : limit - waited);
        pause = pause * 2 > MY_LOCK_MAX_SLEEP_MS * 4 ? MY_LOCK_MAX_SLEEP_MS * 4 : pause * 2;
    }
    if (rc == 1)
        rc = lease_start(c, l, err);
    if (rc == DBMGMT_OK)
        return DBMGMT_OK;
    dm_free(l);
    return rc;
}

static int use_row_lock(dm_dconn *c, dm_error *err)
{
    if (c->lock_mode == MY_LOCK_MODE_ROW || c->lock_mode == MY_LOCK_MODE_GET_LOCK)
        return c->lock_mode == MY_LOCK_MODE_ROW;
    return dm_my_galera_node(c, err);
}

int dm_my_migration_lock(dm_dconn *c, const char *name, int32_t timeout_ms, dm_error *err)
{
    int row = use_row_lock(c, err);
    if (row < 0)
        return row;
    return row ? row_lock(c, name, timeout_ms, err) : dm_my_lock(c, name, timeout_ms, err);
}

int dm_my_migration_unlock(dm_dconn *c, const char *name, dm_error *err)
{
    my_lease *l = c->lease;
    if (!l)
        return dm_my_unlock(c, name, err);
    char key[MY_LOCK_NAME_MAX + 1], owner[sizeof l->owner];
    memcpy(key, l->key, sizeof key);
    memcpy(owner, l->owner, sizeof owner);
    dm_my_lease_stop(c);
    const char *args[] = {key, owner};
    int64_t gone = 0;
    int rc = exec_texts(c, "DELETE FROM " MY_LOCK_TABLE " WHERE name = ? AND owner = ?", args, 2,
                        &gone, err);
    if (rc == DBMGMT_OK && gone != 1)
        rc = dm_error_set(err, DBMGMT_ERR_NOTFOUND,
                          "migration lock '%s' was not this migrator's any more when released "
                          "(its lease had run out)", name);
    return rc;
}

int dm_my_migration_lock_check(dm_dconn *c, const char *name, dm_error *err)
{
    my_lease *l = c->lease;
    if (!l)
        return DBMGMT_OK;
    pthread_mutex_lock(&l->mu);
    int lost = l->lost;
    char why[DM_ERRMSG_MAX];
    memcpy(why, l->why, sizeof why);
    pthread_mutex_unlock(&l->mu);
    if (!lost)
        return DBMGMT_OK;
    return dm_error_set(err, DBMGMT_ERR_BUSY,
                        "the migration lock '%s' was lost: %s; stopping before the next "
                        "migration", name, why);
}
