/*
 * failover_drill: a disaster-recovery drill for a PostgreSQL cluster that a
 * service reaches through a multi-host DSN (Patroni, or any tool that
 * promotes a standby). Seed 003 asks for quarterly DR drills that measure
 * RTO and RPO: this program is such a drill, and the `cluster` test suite
 * runs it against a real etcd + Patroni cluster (docs/failover.md).
 *
 *   failover_drill [DSN] [--writers 8] [--warmup 3] [--seconds 5]
 *                  [--kill-command CMD] [--acquire-timeout-ms 5000]
 *                  [--max-outage 60] [--table failover_drill] [--check ...]
 *
 * DSN defaults to $DATABASE_URL: pass a DSN with a password that way, not
 * on the command line, where every user of the machine can read it. Extra
 * servers to read from (each member, for the pool's per-server view) may
 * be listed, space-separated, in $FAILOVER_DRILL_REPLICA_URLS.
 *
 * What it does: opens a pool, creates the table, starts W writer threads
 * that insert rows one autocommit INSERT at a time and record in memory
 * every id the server acknowledged. After the warm-up it runs the kill
 * command (/bin/sh -c CMD, e.g. `patronictl failover` or, in the tests,
 * `bash tests/cluster.sh kill-leader`; it gets this process's environment,
 * never a DSN on its command line), and measures
 *   RTO: from the moment the kill command returned to the first write that
 *        started after it and was acknowledged;
 *   RPO: acknowledged writes missing on the new primary afterwards, and the
 *        time span they cover.
 * Writes are never retried: a write that failed is reported "in doubt" (it
 * may have committed before the server died) and the writer goes on with a
 * new id. Without --kill-command the drill writes for warm-up + --seconds
 * and measures whatever outage happens meanwhile (kill the server by hand):
 * the outage then starts at the first failed write.
 *
 * Exit status: 0 when the drill ran (whatever it measured), 1 when it could
 * not run or, with --check, when a check failed, 2 for bad usage.
 *
 * --check (for tests) turns the figures into assertions: writes resumed on
 * another server; RTO <= --max-rto-ms (default 15000); at most --max-lost
 * (default 0) acknowledged writes lost; no acquire took longer than its
 * timeout + --slack-ms (default 2000) and no statement longer than
 * --max-statement-ms (default 10000): a borrower never hangs. With
 * $FAILOVER_DRILL_ADMIN_URLS (a superuser DSN per member, space-separated)
 * it also compares, on every member that answers, the sessions the server
 * has for this pool (pg_stat_activity, by application_name) with what the
 * pool holds for that server (dbmgmt_pool_stats_json: its connections plus
 * its check connection), after borrowing every read connection once (see
 * borrow_every_read_connection): nothing leaked.
 */
#define _POSIX_C_SOURCE 200809L
#include <dbmgmt.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_WRITERS 64
#define MAX_REPLICAS 16
#define MAX_MEMBERS 16
#define PAUSE_AFTER_FAILURE_MS 20
#define MAX_EVENT 32

typedef struct options {
    const char *dsn;
    int writers;
    int warmup_s, seconds, max_outage_s;
    int32_t acquire_timeout_ms;
    const char *kill_command;
    const char *table;
    int check;
    int64_t max_rto_ms, max_lost, slack_ms, max_statement_ms;
} options;

/* Which server answered: its port and when its postmaster started (a
 * server restarted in place is another server for the drill). */
typedef struct server_id {
    int32_t port;
    int64_t started;
} server_id;

/* One acknowledged write: its id, when its INSERT was sent and returned, and
 * which server acknowledged it. */
typedef struct ack {
    int64_t id;
    int64_t sent_us, at_us;
    server_id server;
} ack;

typedef enum writer_phase { PHASE_NONE = 0, PHASE_ACQUIRE, PHASE_STATEMENT } writer_phase;

typedef struct drill drill;

typedef struct writer {
    drill *d;
    int index;
    pthread_t thread;
    ack *acks;
    size_t nacks, cap;
    int64_t *doubtful; /* ids whose INSERT failed: committed or not, nobody knows */
    size_t ndoubtful, doubtful_cap;
    int64_t acquire_failures;
    int64_t max_acquire_us, max_statement_us;
    _Atomic int phase;           /* writer_phase */
    _Atomic int64_t phase_since_us;
    atomic_int done;
    char first_error[256];
} writer;

struct drill {
    options opt;
    dbmgmt_pool *pool;
    char *dsn;   /* opt.dsn with application_name added */
    char app_name[64];
    char app_user[64]; /* the DSN's user, as the server names it */
    atomic_int stop;
    _Atomic int64_t start_us;
    _Atomic int64_t kill_started_us, kill_done_us; /* the kill command ran; 0 not yet */
    _Atomic int64_t outage_us;        /* the first failed write (after the kill command
                                         began, with one): 0 until the outage began */
    _Atomic int64_t last_failure_us;  /* the latest failed write, 0 none */
    _Atomic int64_t resumed_us;       /* see note_resumed; 0 not yet */
    atomic_int resumed_port;
    int resumed_same_server;          /* resumed on the server of before, not restarted */
    server_id before;                 /* the primary before the outage (set at start) */
    _Atomic int64_t events[MAX_EVENT]; /* per dbmgmt_pool_event; [0] unknown ones */
    writer writers[MAX_WRITERS];
};

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void sleep_ms(int64_t ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* Milliseconds since the drill started, for the log lines. */
static double since_start_s(drill *d, int64_t t)
{
    return (double)(t - atomic_load(&d->start_us)) / 1e6;
}

/* Every event is counted; each is shown, except "exhausted" after its first
 * (during an outage every writer waits, and it would flood the log). */
static void on_pool_event(void *userdata, int32_t event, const char *message)
{
    drill *d = userdata;
    int index = event > 0 && event < MAX_EVENT ? event : 0;
    int64_t seen = atomic_fetch_add(&d->events[index], 1);
    if (event != DBMGMT_POOL_EVENT_EXHAUSTED || seen == 0)
        fprintf(stderr, "[%8.3f s] pool event %d: %s\n", since_start_s(d, now_us()), (int)event,
                message);
}

/* ---- the writers ------------------------------------------------------------------ */

static int push_ack(writer *w, int64_t id, int64_t sent_us, int64_t at_us, server_id server)
{
    if (w->nacks == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 4096;
        ack *grown = realloc(w->acks, cap * sizeof *grown);
        if (!grown)
            return -1;
        w->acks = grown;
        w->cap = cap;
    }
    w->acks[w->nacks++] = (ack){id, sent_us, at_us, server};
    return 0;
}

static int push_doubtful(writer *w, int64_t id)
{
    if (w->ndoubtful == w->doubtful_cap) {
        size_t cap = w->doubtful_cap ? w->doubtful_cap * 2 : 256;
        int64_t *grown = realloc(w->doubtful, cap * sizeof *grown);
        if (!grown)
            return -1;
        w->doubtful = grown;
        w->doubtful_cap = cap;
    }
    w->doubtful[w->ndoubtful++] = id;
    return 0;
}

static void set_phase(writer *w, writer_phase phase, int64_t at)
{
    atomic_store(&w->phase_since_us, at);
    atomic_store(&w->phase, (int)phase);
}

static void note_failure(writer *w, const char *what, const char *message, int64_t at)
{
    drill *d = w->d;
    /* The outage, as the service sees it, starts with the first failed write:
     * a killed postmaster's backends may go on committing for a moment (seen:
     * 250 ms), so the end of the kill command is not it. Without a kill
     * command (a manual drill) any failure starts it. */
    int64_t expected = 0, kill_started = atomic_load(&d->kill_started_us);
    if (!d->opt.kill_command || (kill_started && at >= kill_started))
        atomic_compare_exchange_strong(&d->outage_us, &expected, at);
    int64_t last = atomic_load(&d->last_failure_us);
    while (at > last && !atomic_compare_exchange_weak(&d->last_failure_us, &last, at))
        ;
    if (!w->first_error[0]) {
        snprintf(w->first_error, sizeof w->first_error, "%s: %s", what, message);
        fprintf(stderr, "[%8.3f s] writer %d: %s\n", since_start_s(d, at), w->index,
                w->first_error);
    }
}

static int same_server(server_id a, server_id b)
{
    return a.port == b.port && a.started == b.started;
}

/* Writes resumed: the first write sent after the outage began and
 * acknowledged by another server than before (a new primary, or the old one
 * restarted). A backend of the dead server that has not noticed yet does not
 * count. (A server that comes back without a restart is found afterwards:
 * resumed_after_last_failure.) */
static void note_resumed(drill *d, int64_t sent, int64_t acked, server_id server)
{
    int64_t outage = atomic_load(&d->outage_us);
    if (!outage || sent < outage || same_server(server, d->before))
        return;
    int64_t expected = 0;
    if (atomic_compare_exchange_strong(&d->resumed_us, &expected, acked))
        atomic_store(&d->resumed_port, server.port);
}

/* One write: a new id, one autocommit INSERT, never retried. */
static void write_one(writer *w, int64_t id)
{
    drill *d = w->d;
    char sql[256], idtext[32], wtext[16];
    snprintf(sql, sizeof sql,
             "INSERT INTO %s (id, writer) VALUES (?, ?) RETURNING inet_server_port(),"
             " (extract(epoch FROM pg_postmaster_start_time()) * 1000000)::bigint",
             d->opt.table);
    snprintf(idtext, sizeof idtext, "%lld", (long long)id);
    snprintf(wtext, sizeof wtext, "%d", w->index);
    const char *params[] = {idtext, wtext};

    int64_t began = now_us();
    set_phase(w, PHASE_ACQUIRE, began);
    dbmgmt_conn *conn = NULL;
    int rc = dbmgmt_pool_acquire(d->pool, &conn, d->opt.acquire_timeout_ms);
    int64_t got = now_us();
    if (got - began > w->max_acquire_us)
        w->max_acquire_us = got - began;
    if (rc != DBMGMT_OK) {
        set_phase(w, PHASE_NONE, got);
        w->acquire_failures++;
        note_failure(w, "acquire", dbmgmt_errmsg(), got);
        sleep_ms(PAUSE_AFTER_FAILURE_MS);
        return;
    }
    set_phase(w, PHASE_STATEMENT, got);
    dbmgmt_result *res = NULL;
    rc = dbmgmt_conn_query(conn, &res, sql, 2, params);
    server_id server = {0, 0};
    if (rc == DBMGMT_OK && dbmgmt_result_next(res) == 1) {
        server.port = (int32_t)dbmgmt_result_int64(res, 0);
        server.started = dbmgmt_result_int64(res, 1);
    }
    int64_t done = now_us();
    set_phase(w, PHASE_NONE, done);
    if (done - got > w->max_statement_us)
        w->max_statement_us = done - got;
    if (rc == DBMGMT_OK) {
        if (push_ack(w, id, got, done, server) != 0)
            note_failure(w, "memory", "out of memory recording an acknowledged write", done);
        note_resumed(d, got, done, server);
    } else {
        note_failure(w, "insert", dbmgmt_conn_errmsg(conn), done);
        if (push_doubtful(w, id) != 0)
            note_failure(w, "memory", "out of memory recording a failed write", done);
    }
    dbmgmt_result_free(res);
    dbmgmt_pool_release(d->pool, conn); /* a broken connection is discarded here */
    if (rc != DBMGMT_OK)
        sleep_ms(PAUSE_AFTER_FAILURE_MS);
}

static void *writer_main(void *arg)
{
    writer *w = arg;
    /* ids: writer in the high bits, a sequence below: unique without a round trip */
    for (int64_t seq = 1; !atomic_load(&w->d->stop); seq++)
        write_one(w, (int64_t)w->index * 1000000000LL + seq);
    atomic_store(&w->done, 1);
    return NULL;
}

/* A writer stuck in an acquire or a statement for longer than the bound:
 * the borrower hangs. Returns the first such writer, or -1. */
static int stuck_writer(drill *d, int64_t now, int64_t *stuck_ms, int *phase)
{
    for (int i = 0; i < d->opt.writers; i++) {
        writer *w = &d->writers[i];
        int p = atomic_load(&w->phase);
        int64_t since = atomic_load(&w->phase_since_us);
        int64_t bound_us = p == PHASE_ACQUIRE
                               ? ((int64_t)d->opt.acquire_timeout_ms + d->opt.slack_ms) * 1000
                               : d->opt.max_statement_ms * 1000;
        if (p != PHASE_NONE && !atomic_load(&w->done) && now - since > bound_us) {
            *stuck_ms = (now - since) / 1000;
            *phase = p;
            return i;
        }
    }
    return -1;
}

/* ---- the kill command ------------------------------------------------------------- */

/* Run /bin/sh -c CMD, its output shown as "kill: LINE". 0 when it exited 0. */
static int run_kill_command(const char *command)
{
    int fds[2];
    if (pipe(fds) != 0) {
        perror("failover_drill: pipe");
        return -1;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        perror("failover_drill: fork");
        close(fds[0]);
        close(fds[1]);
        return -1;
    }
    if (pid == 0) { /* the child: only async-signal-safe calls until exec */
        dup2(fds[1], STDOUT_FILENO);
        close(fds[0]);
        close(fds[1]);
        execl("/bin/sh", "sh", "-c", command, (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    FILE *out = fdopen(fds[0], "r");
    char line[512];
    while (out && fgets(line, sizeof line, out))
        printf("kill: %s%s", line, strchr(line, '\n') ? "" : "\n");
    if (out)
        fclose(out);
    else
        close(fds[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

/* ---- setup and verification ------------------------------------------------------- */

/* The DSN with application_name set (unless it has one), so the server's
 * sessions of this pool can be told from everyone else's. */
static char *dsn_with_app_name(const char *dsn, const char *app_name)
{
    if (strstr(dsn, "application_name="))
        return strdup(dsn);
    size_t len = strlen(dsn) + strlen(app_name) + 32;
    char *out = malloc(len);
    if (out)
        snprintf(out, len, "%s%sapplication_name=%s", dsn, strchr(dsn, '?') ? "&" : "?",
                 app_name);
    return out;
}

static int exec_on_pool(dbmgmt_pool *pool, const char *sql)
{
    dbmgmt_conn *conn = NULL;
    int rc = dbmgmt_pool_acquire(pool, &conn, -1);
    if (rc != DBMGMT_OK) {
        fprintf(stderr, "failover_drill: no connection: %s\n", dbmgmt_errmsg());
        return rc;
    }
    rc = dbmgmt_conn_exec(conn, sql);
    if (rc != DBMGMT_OK)
        fprintf(stderr, "failover_drill: %s\n", dbmgmt_conn_errmsg(conn));
    dbmgmt_pool_release(pool, conn);
    return rc;
}

static int add_replicas_from_env(dbmgmt_pool_config *cfg, const char *app_name)
{
    const char *list = getenv("FAILOVER_DRILL_REPLICA_URLS");
    if (!list || !*list)
        return 0;
    char *copy = strdup(list), *save = NULL;
    int n = 0, rc = copy ? 0 : -1;
    for (char *tok = copy ? strtok_r(copy, " \t\n", &save) : NULL; tok && rc == 0;
         tok = strtok_r(NULL, " \t\n", &save)) {
        char *dsn = dsn_with_app_name(tok, app_name);
        rc = dsn && dbmgmt_pool_config_add_replica(cfg, dsn) == DBMGMT_OK ? 0 : -1;
        free(dsn);
        n++;
    }
    free(copy);
    if (rc == 0)
        printf("replicas: %d (from FAILOVER_DRILL_REPLICA_URLS)\n", n);
    return rc;
}

static int open_pool(drill *d)
{
    snprintf(d->app_name, sizeof d->app_name, "failover_drill_%ld", (long)getpid());
    d->dsn = dsn_with_app_name(d->opt.dsn, d->app_name);
    dbmgmt_pool_config *cfg = NULL;
    int rc = d->dsn ? dbmgmt_pool_config_new(&cfg) : DBMGMT_ERR_NOMEM;
    /* one connection per writer and no more: after the failover every one of
     * them has been used (and replaced), so none to the dead server lingers */
    if (rc == DBMGMT_OK)
        rc = dbmgmt_pool_config_set_max_size(cfg, d->opt.writers);
    if (rc == DBMGMT_OK)
        rc = dbmgmt_pool_config_set_min_idle(cfg, d->opt.writers);
    if (rc == DBMGMT_OK)
        rc = dbmgmt_pool_config_set_acquire_timeout_ms(cfg, d->opt.acquire_timeout_ms);
    if (rc == DBMGMT_OK)
        rc = dbmgmt_pool_config_set_event_callback(cfg, on_pool_event, d);
    if (rc == DBMGMT_OK && add_replicas_from_env(cfg, d->app_name) != 0)
        rc = DBMGMT_ERR_INVALID;
    if (rc == DBMGMT_OK)
        rc = dbmgmt_pool_open(&d->pool, d->dsn, cfg);
    if (rc != DBMGMT_OK)
        fprintf(stderr, "failover_drill: cannot open the pool: %s\n", dbmgmt_errmsg());
    dbmgmt_pool_config_free(cfg);
    return rc;
}

static int create_table(drill *d)
{
    char sql[512];
    snprintf(sql, sizeof sql,
             "DROP TABLE IF EXISTS %s;"
             "CREATE TABLE %s (id bigint PRIMARY KEY, writer integer NOT NULL,"
             " at timestamptz NOT NULL DEFAULT clock_timestamp())",
             d->opt.table, d->opt.table);
    return exec_on_pool(d->pool, sql);
}

static int compare_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static int contains(const int64_t *sorted, size_t n, int64_t id)
{
    return bsearch(&id, sorted, n, sizeof *sorted, compare_i64) != NULL;
}

/* Every id the table holds, sorted (read on the primary, as it is now). */
static int read_stored_ids(drill *d, int64_t **ids, size_t *n)
{
    *ids = NULL;
    *n = 0;
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT id FROM %s ORDER BY id", d->opt.table);
    dbmgmt_conn *conn = NULL;
    dbmgmt_result *res = NULL;
    int rc = dbmgmt_pool_acquire(d->pool, &conn, 30000);
    if (rc == DBMGMT_OK)
        rc = dbmgmt_conn_query(conn, &res, sql, 0, NULL);
    size_t cap = 0;
    int more;
    while (rc == DBMGMT_OK && (more = dbmgmt_result_next(res)) != 0) {
        if (more < 0) {
            rc = more;
            break;
        }
        if (*n == cap) {
            cap = cap ? cap * 2 : 65536;
            int64_t *grown = realloc(*ids, cap * sizeof *grown);
            if (!grown) {
                rc = DBMGMT_ERR_NOMEM;
                break;
            }
            *ids = grown;
        }
        (*ids)[(*n)++] = dbmgmt_result_int64(res, 0);
    }
    if (rc != DBMGMT_OK)
        fprintf(stderr, "failover_drill: cannot read the table back: %s\n",
                conn ? dbmgmt_conn_errmsg(conn) : dbmgmt_errmsg());
    dbmgmt_result_free(res);
    dbmgmt_pool_release(d->pool, conn);
    return rc;
}

/* ---- the report ------------------------------------------------------------------- */

typedef struct figures {
    size_t acked, doubtful, doubtful_committed, lost;
    int64_t lost_first_us, lost_last_us; /* ack times of the lost writes */
    int64_t acquire_failures, max_acquire_us, max_statement_us;
    int64_t rto_ms; /* -1: writes did not resume (or no outage) */
} figures;

static int count_losses(drill *d, figures *f)
{
    int64_t *stored = NULL;
    size_t nstored = 0;
    if (read_stored_ids(d, &stored, &nstored) != DBMGMT_OK)
        return -1;
    f->lost_first_us = INT64_MAX;
    f->lost_last_us = 0;
    for (int i = 0; i < d->opt.writers; i++) {
        writer *w = &d->writers[i];
        for (size_t k = 0; k < w->nacks; k++) {
            f->acked++;
            if (contains(stored, nstored, w->acks[k].id))
                continue;
            f->lost++;
            if (w->acks[k].at_us < f->lost_first_us)
                f->lost_first_us = w->acks[k].at_us;
            if (w->acks[k].at_us > f->lost_last_us)
                f->lost_last_us = w->acks[k].at_us;
        }
        for (size_t k = 0; k < w->ndoubtful; k++) {
            f->doubtful++;
            f->doubtful_committed += contains(stored, nstored, w->doubtful[k]) ? 1 : 0;
        }
        f->acquire_failures += w->acquire_failures;
        if (w->max_acquire_us > f->max_acquire_us)
            f->max_acquire_us = w->max_acquire_us;
        if (w->max_statement_us > f->max_statement_us)
            f->max_statement_us = w->max_statement_us;
    }
    free(stored);
    return 0;
}

/* Acknowledged writes per server port, e.g. "127.0.0.1:5432 1234, ...". */
static void print_writes_per_port(drill *d)
{
    int32_t ports[8] = {0};
    size_t counts[8] = {0};
    int nports = 0;
    for (int i = 0; i < d->opt.writers; i++)
        for (size_t k = 0; k < d->writers[i].nacks; k++) {
            int32_t p = d->writers[i].acks[k].server.port;
            int j = 0;
            while (j < nports && ports[j] != p)
                j++;
            if (j == nports && nports < 8)
                ports[nports++] = p;
            if (j < nports)
                counts[j]++;
        }
    printf("acknowledged writes per server port:");
    for (int j = 0; j < nports; j++)
        printf(" %d: %zu", (int)ports[j], counts[j]);
    printf("\n");
}

static void print_report(drill *d, const figures *f, int64_t ended_us)
{
    int64_t outage = atomic_load(&d->outage_us), resumed = atomic_load(&d->resumed_us);
    int64_t kill_started = atomic_load(&d->kill_started_us);
    printf("writers %d, ran %.1f s: %zu writes acknowledged, %zu failed (in doubt; %zu of "
           "them committed all the same), %lld acquires failed\n",
           d->opt.writers, since_start_s(d, ended_us), f->acked, f->doubtful,
           f->doubtful_committed, (long long)f->acquire_failures);
    print_writes_per_port(d);
    if (kill_started)
        printf("kill command ran from %.3f s to %.3f s\n", since_start_s(d, kill_started),
               since_start_s(d, atomic_load(&d->kill_done_us)));
    if (!outage)
        printf("RTO n/a (no write failed: no outage)\n");
    else if (!resumed)
        printf("RTO n/a: the first write failed at %.3f s and writes did not resume within "
               "%d s\n", since_start_s(d, outage), d->opt.max_outage_s);
    else
        printf("RTO %lld ms (first failed write at %.3f s, writes resumed at %.3f s on port "
               "%d%s; before: port %d)\n",
               (long long)f->rto_ms, since_start_s(d, outage), since_start_s(d, resumed),
               atomic_load(&d->resumed_port),
               d->resumed_same_server ? ", the same server" : "", (int)d->before.port);
    if (f->lost)
        printf("RPO %zu acknowledged writes lost (acknowledged between %.3f s and %.3f s: a "
               "span of %lld ms)\n",
               f->lost, since_start_s(d, f->lost_first_us), since_start_s(d, f->lost_last_us),
               (long long)((f->lost_last_us - f->lost_first_us) / 1000));
    else
        printf("RPO 0 acknowledged writes lost (span 0 ms)\n");
    printf("longest acquire %lld ms (timeout %d ms), longest statement %lld ms\n",
           (long long)(f->max_acquire_us / 1000), (int)d->opt.acquire_timeout_ms,
           (long long)(f->max_statement_us / 1000));
    printf("pool events:");
    for (int i = 0; i < MAX_EVENT; i++)
        if (atomic_load(&d->events[i]))
            printf(" %d x%lld", i, (long long)atomic_load(&d->events[i]));
    printf(" (numbers of enum dbmgmt_pool_event)\n");
}

/* ---- --check: the pool's connections against the servers' sessions -------------- */

/* What the stats say about one server of the pool. */
typedef struct server_view {
    int primary;     /* the multi-host primary group */
    int32_t port;    /* a replica's port, from its (redacted) DSN */
    int32_t held;    /* idle and active connections + the check connection */
} server_view;

static int32_t count_occurrences(const char *from, const char *to, const char *needle)
{
    int32_t n = 0;
    size_t len = strlen(needle);
    for (const char *p = strstr(from, needle); p && (!to || p < to); p = strstr(p + len, needle))
        n++;
    return n;
}

/* The port of a single-host DSN as the stats show it ("...@127.0.0.1:5432/db"). */
static int32_t dsn_port(const char *dsn_start)
{
    const char *at = strchr(dsn_start, '@');
    const char *slash = at ? strchr(at, '/') : NULL;
    const char *colon = NULL;
    for (const char *p = at; p && p < slash; p++)
        if (*p == ':')
            colon = p;
    return colon ? (int32_t)atoi(colon + 1) : 0;
}

/* The servers of dbmgmt_pool_stats_json, read with plain string search (the
 * objects come in order: role, dsn, ..., check_connection, ..., connections). */
static int read_pool_servers(drill *d, server_view *sv, int max)
{
    char *json = dbmgmt_pool_stats_json(d->pool);
    if (!json)
        return -1;
    const char *servers = strstr(json, "\"servers\":[");
    int n = 0;
    const char *p = servers ? strstr(servers, "{\"role\":\"") : NULL;
    while (p && n < max) {
        const char *next = strstr(p + 1, "{\"role\":\"");
        server_view *v = &sv[n++];
        v->primary = strncmp(p, "{\"role\":\"primary\"", 17) == 0;
        const char *dsn = strstr(p, "\"dsn\":\"");
        v->port = dsn && !v->primary ? dsn_port(dsn) : 0;
        v->held = count_occurrences(p, next, "\"state\":\"idle\"") +
                  count_occurrences(p, next, "\"state\":\"active\"") +
                  count_occurrences(p, next, "\"check_connection\":true");
        p = next;
    }
    dbmgmt_free(json);
    return n;
}

/* A member as its superuser sees it: port, standby or not, sessions of this pool. */
typedef struct member_view {
    int live;
    int32_t port;
    int standby;
    int64_t sessions;
} member_view;

static void read_member(drill *d, const char *admin_dsn, member_view *m)
{
    memset(m, 0, sizeof *m);
    dbmgmt_conn *conn = NULL;
    if (dbmgmt_conn_open(&conn, admin_dsn) != DBMGMT_OK)
        return; /* down: not a live member */
    dbmgmt_result *res = NULL;
    const char *params[] = {d->app_name, d->app_user};
    if (dbmgmt_conn_query(conn, &res,
                          "SELECT inet_server_port(), pg_is_in_recovery()::int,"
                          " (SELECT count(*) FROM pg_stat_activity"
                          "  WHERE application_name = ? AND usename = ?)",
                          2, params) == DBMGMT_OK &&
        dbmgmt_result_next(res) == 1) {
        m->live = 1;
        m->port = (int32_t)dbmgmt_result_int64(res, 0);
        m->standby = (int)dbmgmt_result_int64(res, 1);
        m->sessions = dbmgmt_result_int64(res, 2);
    }
    dbmgmt_result_free(res);
    dbmgmt_conn_close(conn);
}

/* The expected sessions of a member: what the pool holds for it. The
 * primary group's connections are on whichever member is not a standby. */
static int32_t held_for(const server_view *sv, int nsv, const member_view *m)
{
    int32_t held = 0;
    for (int i = 0; i < nsv; i++)
        if ((sv[i].primary && !m->standby) || (!sv[i].primary && sv[i].port == m->port))
            held += sv[i].held;
    return held;
}

static int same_servers(const server_view *a, int na, const server_view *b, int nb)
{
    if (na != nb)
        return 0;
    for (int i = 0; i < na; i++)
        if (a[i].held != b[i].held)
            return 0;
    return 1;
}

/* Borrow every read connection once and give them all back. The pool checks
 * a connection when it lends it (a ping after 500 ms idle), not in the
 * background: until then, connections to a member that restarted (Patroni
 * restarts a crashed leader as a standby) are still counted, although the
 * server has forgotten them. A service that reads does the same in its first
 * seconds; here it is one pass before counting. */
static void borrow_every_read_connection(drill *d)
{
    int max_held = (1 + MAX_REPLICAS) * d->opt.writers, n = 0;
    dbmgmt_conn **held = calloc((size_t)max_held, sizeof *held);
    /* timeout 0: a server whose connections are all out fails at once */
    for (int attempt = 0; held && attempt < max_held; attempt++)
        if (dbmgmt_pool_acquire_read(d->pool, &held[n], 0) == DBMGMT_OK)
            n++;
    while (n > 0)
        dbmgmt_pool_release(d->pool, held[--n]);
    free(held);
}

/* Sessions on every live member == connections the pool holds for it. Both
 * sides move for a moment after a failover (a backend that is still exiting,
 * a refill under way): compare until they agree, for up to 15 s. */
static int check_connections(drill *d)
{
    const char *list = getenv("FAILOVER_DRILL_ADMIN_URLS");
    if (!list || !*list) {
        printf("check skipped: connections per server (FAILOVER_DRILL_ADMIN_URLS not set)\n");
        return 0;
    }
    char *copy = strdup(list), *save = NULL;
    const char *admins[MAX_MEMBERS];
    int nadmins = 0;
    for (char *tok = copy ? strtok_r(copy, " \t\n", &save) : NULL; tok && nadmins < MAX_MEMBERS;
         tok = strtok_r(NULL, " \t\n", &save))
        admins[nadmins++] = tok;
    server_view before[1 + MAX_REPLICAS], after[1 + MAX_REPLICAS];
    member_view members[MAX_MEMBERS];
    int agreed = 0;
    int64_t deadline = now_us() + 15000000;
    borrow_every_read_connection(d);
    for (int attempt = 0; !agreed; attempt++) {
        if (attempt)
            sleep_ms(250);
        int nb = read_pool_servers(d, before, 1 + MAX_REPLICAS);
        for (int i = 0; i < nadmins; i++)
            read_member(d, admins[i], &members[i]);
        int na = read_pool_servers(d, after, 1 + MAX_REPLICAS);
        int leaders = 0, equal = nb > 0 && same_servers(before, nb, after, na);
        for (int i = 0; i < nadmins; i++) {
            leaders += members[i].live && !members[i].standby;
            equal = equal && (!members[i].live ||
                              members[i].sessions == held_for(after, na, &members[i]));
        }
        agreed = equal && leaders == 1;
        if (!agreed && now_us() < deadline)
            continue;
        for (int i = 0; i < nadmins; i++) {
            if (!members[i].live)
                printf("member %d: down (not checked)\n", i + 1);
            else
                printf("member %d (port %d, %s): %lld sessions of this pool on the server, "
                       "the pool holds %d\n",
                       i + 1, (int)members[i].port, members[i].standby ? "standby" : "primary",
                       (long long)members[i].sessions, (int)held_for(after, na, &members[i]));
        }
        break;
    }
    free(copy);
    return agreed ? 0 : -1;
}

static int check_figures(drill *d, const figures *f, int hang_seen)
{
    int failed = 0;
#define CHECK(cond, ...)                                                                    \
    do {                                                                                    \
        int ok_ = (cond);                                                                   \
        printf("%s ", ok_ ? "ok  " : "FAIL");                                               \
        printf(__VA_ARGS__);                                                                \
        printf("\n");                                                                       \
        failed += !ok_;                                                                     \
    } while (0)
    int64_t resumed = atomic_load(&d->resumed_us);
    CHECK(atomic_load(&d->outage_us) != 0, "an outage happened");
    CHECK(resumed != 0, "writes resumed after the outage");
    CHECK(resumed && !d->resumed_same_server,
          "writes resumed on another server (port %d, before: port %d)",
          atomic_load(&d->resumed_port), (int)d->before.port);
    CHECK(resumed && f->rto_ms <= d->opt.max_rto_ms, "RTO %lld ms <= %lld ms",
          (long long)f->rto_ms, (long long)d->opt.max_rto_ms);
    CHECK((int64_t)f->lost <= d->opt.max_lost, "%zu acknowledged writes lost (at most %lld)",
          f->lost, (long long)d->opt.max_lost);
    CHECK(f->max_acquire_us / 1000 <= d->opt.acquire_timeout_ms + d->opt.slack_ms,
          "every acquire returned within its timeout + slack (longest %lld ms, bound %lld ms)",
          (long long)(f->max_acquire_us / 1000),
          (long long)(d->opt.acquire_timeout_ms + d->opt.slack_ms));
    CHECK(f->max_statement_us / 1000 <= d->opt.max_statement_ms && !hang_seen,
          "no statement hung (longest %lld ms, bound %lld ms)",
          (long long)(f->max_statement_us / 1000), (long long)d->opt.max_statement_ms);
    CHECK(f->acked > 0 && f->doubtful > 0, "writes failed at the failover and were not retried "
          "(%zu in doubt)", f->doubtful);
    CHECK(check_connections(d) == 0,
          "sessions on every live member == what the pool holds for it (nothing leaked)");
#undef CHECK
    return failed;
}

/* ---- the run ---------------------------------------------------------------------- */

/* Sleep until `until` (or until pred says stop), watching for hung writers;
 * reports each hang once. */
static void watch_until(drill *d, int64_t until, int (*pred)(drill *), int *hang_seen)
{
    while (now_us() < until && !(pred && pred(d))) {
        sleep_ms(50);
        int64_t stuck_ms;
        int phase, i = stuck_writer(d, now_us(), &stuck_ms, &phase);
        if (i >= 0 && !*hang_seen) {
            *hang_seen = 1;
            fprintf(stderr, "[%8.3f s] writer %d hangs: %lld ms in %s\n",
                    since_start_s(d, now_us()), i, (long long)stuck_ms,
                    phase == PHASE_ACQUIRE ? "an acquire" : "a statement");
        }
    }
}

static int writes_resumed(drill *d)
{
    return atomic_load(&d->resumed_us) != 0;
}

/* The primary's port and the user as the server names it. */
static int read_server_identity(drill *d)
{
    dbmgmt_conn *conn = NULL;
    dbmgmt_result *res = NULL;
    int rc = dbmgmt_pool_acquire(d->pool, &conn, -1);
    if (rc == DBMGMT_OK)
        rc = dbmgmt_conn_query(conn, &res,
                               "SELECT inet_server_port(), current_user, (extract(epoch FROM"
                               " pg_postmaster_start_time()) * 1000000)::bigint",
                               0, NULL);
    if (rc == DBMGMT_OK && dbmgmt_result_next(res) == 1) {
        d->before.port = (int32_t)dbmgmt_result_int64(res, 0);
        snprintf(d->app_user, sizeof d->app_user, "%s", dbmgmt_result_text(res, 1));
        d->before.started = dbmgmt_result_int64(res, 2);
    } else if (rc == DBMGMT_OK) {
        rc = DBMGMT_ERR_SQL;
    }
    if (rc != DBMGMT_OK)
        fprintf(stderr, "failover_drill: cannot ask the primary who it is: %s\n",
                conn ? dbmgmt_conn_errmsg(conn) : dbmgmt_errmsg());
    dbmgmt_result_free(res);
    dbmgmt_pool_release(d->pool, conn);
    return rc;
}

/* After the run, when no other server took over: writes resumed with the
 * first write sent after the last failure (the same server came back). */
static void resumed_after_last_failure(drill *d)
{
    int64_t last_failure = atomic_load(&d->last_failure_us), first = 0;
    int32_t port = 0;
    for (int i = 0; i < d->opt.writers; i++)
        for (size_t k = 0; k < d->writers[i].nacks; k++) {
            const ack *a = &d->writers[i].acks[k];
            if (a->sent_us > last_failure && (!first || a->at_us < first)) {
                first = a->at_us;
                port = a->server.port;
            }
        }
    if (!first)
        return;
    atomic_store(&d->resumed_us, first);
    atomic_store(&d->resumed_port, port);
    d->resumed_same_server = 1;
}

/* Stop the writers; 0 when all came back within the bounds. */
static int stop_writers(drill *d, int started)
{
    atomic_store(&d->stop, 1);
    int64_t bound_ms = d->opt.max_statement_ms > d->opt.acquire_timeout_ms + d->opt.slack_ms
                           ? d->opt.max_statement_ms
                           : d->opt.acquire_timeout_ms + d->opt.slack_ms;
    int64_t deadline = now_us() + (bound_ms + 1000) * 1000;
    for (int i = 0; i < started; i++) {
        while (!atomic_load(&d->writers[i].done) && now_us() < deadline)
            sleep_ms(10);
        if (!atomic_load(&d->writers[i].done)) {
            fprintf(stderr, "failover_drill: writer %d did not come back within %lld ms: it "
                    "hangs\n", i, (long long)bound_ms + 1000);
            return -1;
        }
        pthread_join(d->writers[i].thread, NULL);
    }
    return 0;
}

static int run_drill(drill *d)
{
    int started = 0, hang_seen = 0, rc = 1;
    for (; started < d->opt.writers; started++) {
        writer *w = &d->writers[started];
        w->d = d;
        w->index = started;
        if (pthread_create(&w->thread, NULL, writer_main, w) != 0)
            break;
    }
    if (started < d->opt.writers) {
        fprintf(stderr, "failover_drill: cannot start writer %d\n", started);
        stop_writers(d, started);
        return 1;
    }
    watch_until(d, now_us() + (int64_t)d->opt.warmup_s * 1000000, NULL, &hang_seen);
    if (d->opt.kill_command) {
        atomic_store(&d->kill_started_us, now_us());
        printf("[%8.3f s] running the kill command\n", since_start_s(d, now_us()));
        fflush(stdout);
        int killed = run_kill_command(d->opt.kill_command);
        atomic_store(&d->kill_done_us, now_us());
        printf("[%8.3f s] kill command done\n", since_start_s(d, now_us()));
        fflush(stdout);
        if (killed != 0) {
            fprintf(stderr, "failover_drill: the kill command failed\n");
            stop_writers(d, started);
            return 1;
        }
        watch_until(d, now_us() + (int64_t)d->opt.max_outage_s * 1000000, writes_resumed,
                    &hang_seen);
        if (writes_resumed(d))
            watch_until(d, now_us() + (int64_t)d->opt.seconds * 1000000, NULL, &hang_seen);
    } else {
        watch_until(d, now_us() + (int64_t)d->opt.seconds * 1000000, NULL, &hang_seen);
        if (atomic_load(&d->outage_us) && !writes_resumed(d))
            watch_until(d, now_us() + (int64_t)d->opt.max_outage_s * 1000000, writes_resumed,
                        &hang_seen);
    }
    int64_t ended = now_us();
    if (stop_writers(d, started) != 0)
        return 1; /* a hung writer still uses the pool: leave without tearing it down */
    figures f;
    memset(&f, 0, sizeof f);
    if (count_losses(d, &f) != 0)
        return 1;
    if (atomic_load(&d->outage_us) && !atomic_load(&d->resumed_us))
        resumed_after_last_failure(d);
    int64_t outage = atomic_load(&d->outage_us), resumed = atomic_load(&d->resumed_us);
    f.rto_ms = outage && resumed ? (resumed - outage + 999) / 1000 : -1;
    print_report(d, &f, ended);
    rc = 0;
    if (d->opt.check) {
        int failed = check_figures(d, &f, hang_seen);
        printf("%s\n", failed ? "drill checks FAILED" : "drill checks passed");
        rc = failed ? 1 : 0;
    }
    for (int i = 0; i < d->opt.writers; i++) {
        free(d->writers[i].acks);
        free(d->writers[i].doubtful);
    }
    return rc;
}

/* ---- options ---------------------------------------------------------------------- */

static int usage(void)
{
    fprintf(stderr,
            "usage: failover_drill [DSN] [--writers N] [--warmup S] [--seconds S]\n"
            "         [--kill-command CMD] [--acquire-timeout-ms MS] [--max-outage S]\n"
            "         [--table NAME] [--check [--max-rto-ms MS] [--max-lost N]\n"
            "         [--slack-ms MS] [--max-statement-ms MS]]\n"
            "DSN defaults to $DATABASE_URL (keep passwords off the command line).\n");
    return 2;
}

static int parse_number(const char *text, int64_t lo, int64_t hi, int64_t *out)
{
    char *end = NULL;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (errno || !end || *end || end == text || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

/* A table name goes into SQL text: letters, digits and underscores only. */
static int valid_table_name(const char *name)
{
    if (!*name || strlen(name) > 48)
        return 0;
    for (const char *p = name; *p; p++)
        if (!(*p == '_' || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9')))
            return 0;
    return 1;
}

static int parse_options(int argc, char **argv, options *o)
{
    *o = (options){.dsn = getenv("DATABASE_URL"), .writers = 8, .warmup_s = 3, .seconds = 5,
                   .max_outage_s = 60, .acquire_timeout_ms = 5000, .table = "failover_drill",
                   .max_rto_ms = 15000, .max_lost = 0, .slack_ms = 2000,
                   .max_statement_ms = 10000};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int64_t n = 0;
        if (strcmp(a, "--check") == 0) {
            o->check = 1;
            continue;
        }
        if (a[0] != '-') {
            o->dsn = a;
            continue;
        }
        if (!v)
            return -1;
        i++;
        if (strcmp(a, "--kill-command") == 0)
            o->kill_command = v;
        else if (strcmp(a, "--table") == 0 && valid_table_name(v))
            o->table = v;
        else if (strcmp(a, "--writers") == 0 && parse_number(v, 1, MAX_WRITERS, &n) == 0)
            o->writers = (int)n;
        else if (strcmp(a, "--warmup") == 0 && parse_number(v, 0, 3600, &n) == 0)
            o->warmup_s = (int)n;
        else if (strcmp(a, "--seconds") == 0 && parse_number(v, 0, 86400, &n) == 0)
            o->seconds = (int)n;
        else if (strcmp(a, "--max-outage") == 0 && parse_number(v, 1, 3600, &n) == 0)
            o->max_outage_s = (int)n;
        else if (strcmp(a, "--acquire-timeout-ms") == 0 &&
                 parse_number(v, 0, 3600000, &n) == 0)
            o->acquire_timeout_ms = (int32_t)n;
        else if (strcmp(a, "--max-rto-ms") == 0 && parse_number(v, 0, INT32_MAX, &n) == 0)
            o->max_rto_ms = n;
        else if (strcmp(a, "--max-lost") == 0 && parse_number(v, 0, INT32_MAX, &n) == 0)
            o->max_lost = n;
        else if (strcmp(a, "--slack-ms") == 0 && parse_number(v, 0, INT32_MAX, &n) == 0)
            o->slack_ms = n;
        else if (strcmp(a, "--max-statement-ms") == 0 && parse_number(v, 1, INT32_MAX, &n) == 0)
            o->max_statement_ms = n;
        else
            return -1;
    }
    return o->dsn && *o->dsn ? 0 : -1;
}

int main(int argc, char **argv)
{
    static drill d; /* large (per-writer state): not on the stack */
    if (parse_options(argc, argv, &d.opt) != 0)
        return usage();
    signal(SIGPIPE, SIG_IGN);
    atomic_store(&d.start_us, now_us());
    if (open_pool(&d) != DBMGMT_OK || read_server_identity(&d) != DBMGMT_OK ||
        create_table(&d) != DBMGMT_OK) {
        dbmgmt_pool_close(d.pool, 0);
        free(d.dsn);
        return 1;
    }
    printf("drill: %d writers on the primary at port %d, table %s, application_name %s\n",
           d.opt.writers, (int)d.before.port, d.opt.table, d.app_name);
    fflush(stdout);
    int rc = run_drill(&d);
    if (rc == 0) { /* the table was the drill's own: leave nothing behind */
        char sql[128];
        snprintf(sql, sizeof sql, "DROP TABLE IF EXISTS %s", d.opt.table);
        exec_on_pool(d.pool, sql);
        dbmgmt_pool_close(d.pool, 5000);
    }
    free(d.dsn);
    return rc;
}
