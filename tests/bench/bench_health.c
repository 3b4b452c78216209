/*
 * bench_health: what dbmgmt_health_collect costs against postgres_exporter's scrape of
 * the same server (issue 20: target <= 1.2x; docs/health-exporters.md).
 *
 * On one PostgreSQL server, interleaved op by op so that the machine's load hits all
 * alike: dbmgmt_health_collect on an open connection, an HTTP GET of /metrics from
 * postgres_exporter restricted to the same figures (tests/exporters.sh's `pg-health`:
 * no settings, no bgwriter, no built-in maps; the database sizes and the queries of
 * tests/exporters/pg_health_queries.yaml), and, for reference, one with its default
 * collectors (`pg`). Each scrape is a new loopback TCP connection (Connection: close)
 * and reads the whole body.
 *
 * Two measures of cost, each as a ratio ours / exporter (same figures), target <= 1.2:
 *   CPU per op (the headline: it does not depend on what else the machine runs): ours
 *     is this process's CPU time in dbmgmt_health_collect plus its server session's
 *     (/proc/PID/stat of pg_backend_pid()); the exporter's is its process's CPU time
 *     plus its server sessions' (application_name dbmgmt-exporter-pg-health), over
 *     the whole run. Needs the server on this machine and /proc access (root);
 *   wall time per op, median (what a caller waits; noisy on a loaded machine).
 * The HTTP client's own work (here, Prometheus's in production) is counted for
 * neither. It also prints the thread count before and after (health opens none).
 *
 *   DBMGMT_TEST_PG_DSN                  the server (tests/servers.sh)
 *   DBMGMT_TEST_PG_HEALTH_EXPORTER_URL  http://127.0.0.1:PORT/metrics (tests/exporters.sh)
 *   DBMGMT_TEST_PG_HEALTH_EXPORTER_PID  its process (tests/exporters.sh)
 *   DBMGMT_TEST_PG_EXPORTER_URL         optional, the default exporter
 *   BENCH_HEALTH_OPS                    ops of each kind (default 300)
 * Without the first two it is skipped (exit 77). Run on demand:
 *   bash tests/servers.sh run -- meson test -C build --benchmark --suite exporters -v
 */
#include <dbmgmt.h>
#include <dirent.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

#define WARMUP 20
#define DEFAULT_OPS 300
#define TARGET 1.2

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int thread_count(void)
{
    DIR *d = opendir("/proc/self/task");
    int n = 0;
    if (!d)
        return -1;
    for (struct dirent *e; (e = readdir(d));)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A process's user + system CPU seconds (all its threads), or -1. */
static double proc_cpu(long pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')'); /* after the command name, which may hold spaces */
    unsigned long long utime, stime;
    if (!p || sscanf(p + 2, "%*c %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %llu %llu", &utime,
                     &stime) != 2)
        return -1;
    return (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
}

#define MAX_PIDS 8

/* The server sessions of sql (one pid a row) into pids; their count, or -1. */
static int session_pids(dbmgmt_conn *conn, const char *sql, long *pids)
{
    dbmgmt_result *r = NULL;
    int n = 0;
    if (dbmgmt_conn_query(conn, &r, sql, 0, NULL) != DBMGMT_OK) {
        fprintf(stderr, "bench_health: %s: %s\n", sql, dbmgmt_conn_errmsg(conn));
        return -1;
    }
    while (n < MAX_PIDS && dbmgmt_result_next(r) == 1)
        pids[n++] = (long)dbmgmt_result_int64(r, 0);
    dbmgmt_result_free(r);
    return n;
}

/* The CPU seconds of the processes, or -1 when one cannot be read. */
static double pids_cpu(const long *pids, int n)
{
    double sum = 0;
    for (int i = 0; i < n; i++) {
        double c = proc_cpu(pids[i]);
        if (c < 0)
            return -1;
        sum += c;
    }
    return sum;
}

/* ---- one exporter: http://127.0.0.1:PORT/PATH ------------------------------------ */
typedef struct exporter {
    const char *name;
    struct sockaddr_in addr;
    char request[256];
    char *body; /* the last response, for sizes */
    size_t len, cap;
    double *times;
} exporter;

static int exporter_init(exporter *x, const char *name, const char *url, int ops)
{
    unsigned port = 0;
    char path[128] = "";
    memset(x, 0, sizeof *x);
    x->name = name;
    if (sscanf(url, "http://127.0.0.1:%u%127s", &port, path) < 1 || port == 0 || port > 65535) {
        fprintf(stderr, "bench_health: %s: not http://127.0.0.1:PORT/PATH: %s\n", name, url);
        return -1;
    }
    x->addr.sin_family = AF_INET;
    x->addr.sin_port = htons((unsigned short)port);
    x->addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    snprintf(x->request, sizeof x->request,
             "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%u\r\nConnection: close\r\n\r\n",
             path[0] ? path : "/metrics", port);
    x->times = calloc((size_t)ops, sizeof *x->times);
    return x->times ? 0 : -1;
}

/* One scrape: connect, GET, read to EOF; 0 when it answered 200 with pg_up 1. */
static int scrape(exporter *x)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&x->addr, sizeof x->addr) != 0)
        goto fail;
    size_t sent = 0, want = strlen(x->request);
    while (sent < want) {
        ssize_t n = write(fd, x->request + sent, want - sent);
        if (n <= 0)
            goto fail;
        sent += (size_t)n;
    }
    x->len = 0;
    for (;;) {
        if (x->cap - x->len < 65536) {
            char *grown = realloc(x->body, x->cap * 2 + 65536);
            if (!grown)
                goto fail;
            x->body = grown;
            x->cap = x->cap * 2 + 65536;
        }
        ssize_t n = read(fd, x->body + x->len, x->cap - x->len - 1);
        if (n < 0)
            goto fail;
        if (n == 0)
            break;
        x->len += (size_t)n;
    }
    close(fd);
    x->body[x->len] = '\0';
    if (strncmp(x->body, "HTTP/1.1 200", 12) != 0 || !strstr(x->body, "\npg_up 1")) {
        fprintf(stderr, "bench_health: %s: the scrape did not answer 200 with pg_up 1\n",
                x->name);
        return -1;
    }
    return 0;
fail:
    if (fd >= 0)
        close(fd);
    fprintf(stderr, "bench_health: %s: cannot scrape 127.0.0.1:%u\n", x->name,
            (unsigned)ntohs(x->addr.sin_port));
    return -1;
}

static int series_count(const exporter *x)
{
    int n = 0;
    const char *body = strstr(x->body, "\r\n\r\n");
    for (const char *p = body ? body + 4 : x->body; p && *p; p = strchr(p, '\n')) {
        if (*p == '\n')
            p++;
        if (*p && *p != '#' && *p != '\n')
            n++;
    }
    return n;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void stats(double *t, int n, double *median, double *mean)
{
    double sum = 0;
    for (int i = 0; i < n; i++)
        sum += t[i];
    *mean = sum / n;
    qsort(t, (size_t)n, sizeof *t, cmp_double);
    *median = n % 2 ? t[n / 2] : (t[n / 2 - 1] + t[n / 2]) / 2;
}

static int collect(dbmgmt_conn *conn, int *figures)
{
    dbmgmt_health *h = NULL;
    if (dbmgmt_health_collect(conn, &h) != DBMGMT_OK) {
        fprintf(stderr, "bench_health: dbmgmt_health_collect: %s\n", dbmgmt_conn_errmsg(conn));
        return -1;
    }
    double v;
    *figures = 0;
    for (int32_t m = 0; m < DBMGMT_HEALTH_METRIC_COUNT; m++)
        *figures += dbmgmt_health_get(h, m, &v) == DBMGMT_OK;
    dbmgmt_health_free(h);
    return 0;
}

int main(void)
{
    const char *dsn = getenv("DBMGMT_TEST_PG_DSN");
    const char *same_url = getenv("DBMGMT_TEST_PG_HEALTH_EXPORTER_URL");
    const char *full_url = getenv("DBMGMT_TEST_PG_EXPORTER_URL");
    const char *ops_env = getenv("BENCH_HEALTH_OPS");
    int ops = ops_env && atoi(ops_env) > 0 ? atoi(ops_env) : DEFAULT_OPS;
    if (!dsn || !*dsn || !same_url || !*same_url) {
        printf("skipped: DBMGMT_TEST_PG_DSN and DBMGMT_TEST_PG_HEALTH_EXPORTER_URL are needed "
               "(tests/servers.sh, tests/exporters.sh run pg-health)\n");
        return 77;
    }
    exporter same, full;
    int have_full = full_url && *full_url;
    double *ours = calloc((size_t)ops, sizeof *ours);
    dbmgmt_conn *conn = NULL;
    int rc = 1, figures = 0;
    if (!ours || exporter_init(&same, "exporter (same figures)", same_url, ops) != 0 ||
        (have_full && exporter_init(&full, "exporter (defaults)", full_url, ops) != 0))
        return 1;
    if (dbmgmt_conn_open(&conn, dsn) != DBMGMT_OK) {
        fprintf(stderr, "bench_health: cannot connect: %s\n", dbmgmt_errmsg());
        goto out;
    }
    int threads_before = thread_count();
    for (int i = 0; i < WARMUP; i++) /* connections, plans, caches on both sides */
        if (collect(conn, &figures) != 0 || scrape(&same) != 0 || (have_full && scrape(&full)))
            goto out;
    /* Whose CPU is whose: our session, the exporter and its sessions. */
    long our_pids[MAX_PIDS], x_pids[MAX_PIDS + 1];
    int n_our = session_pids(conn, "SELECT pg_backend_pid()", our_pids);
    int n_x = session_pids(conn, "SELECT pid FROM pg_stat_activity "
                                 "WHERE application_name = 'dbmgmt-exporter-pg-health' "
                                 "ORDER BY pid", x_pids);
    const char *x_pid_env = getenv("DBMGMT_TEST_PG_HEALTH_EXPORTER_PID");
    if (n_x >= 0 && x_pid_env && atol(x_pid_env) > 0)
        x_pids[n_x++] = atol(x_pid_env);
    double our_server0 = pids_cpu(our_pids, n_our), x0 = pids_cpu(x_pids, n_x);
    int have_cpu = n_our == 1 && n_x >= 2 && our_server0 >= 0 && x0 >= 0 && x_pid_env;
    double our_client = 0;
    for (int i = 0; i < ops; i++) { /* interleaved op by op */
        double t0 = now_s(), c0 = cpu_now();
        if (collect(conn, &figures) != 0)
            goto out;
        our_client += cpu_now() - c0;
        double t1 = now_s();
        if (scrape(&same) != 0)
            goto out;
        double t2 = now_s();
        if (have_full && scrape(&full) != 0)
            goto out;
        double t3 = now_s();
        ours[i] = t1 - t0;
        same.times[i] = t2 - t1;
        if (have_full)
            full.times[i] = t3 - t2;
    }
    double our_server = pids_cpu(our_pids, n_our) - our_server0;
    double x_cpu = pids_cpu(x_pids, n_x) - x0;
    long x_after[MAX_PIDS];
    int n_after = session_pids(conn, "SELECT pid FROM pg_stat_activity "
                                     "WHERE application_name = 'dbmgmt-exporter-pg-health' "
                                     "ORDER BY pid", x_after);
    /* a session that came or went during the run would make the exporter's sum wrong */
    if (n_after != n_x - 1 || memcmp(x_after, x_pids, sizeof *x_after * (size_t)n_after) != 0)
        have_cpu = 0;
    int threads_after = thread_count();
    double om, oa, sm, sa, fm = 0, fa = 0;
    stats(ours, ops, &om, &oa);
    stats(same.times, ops, &sm, &sa);
    printf("PostgreSQL, %d ops of each, interleaved, after %d warm-up ops\n", ops, WARMUP);
    printf("dbmgmt_health_collect:             median %7.3f ms, mean %7.3f ms (%d figures)\n",
           om * 1e3, oa * 1e3, figures);
    printf("postgres_exporter, same figures:   median %7.3f ms, mean %7.3f ms (%d series)\n",
           sm * 1e3, sa * 1e3, series_count(&same));
    if (have_full) {
        stats(full.times, ops, &fm, &fa);
        printf("postgres_exporter, defaults:       median %7.3f ms, mean %7.3f ms (%d series)\n",
               fm * 1e3, fa * 1e3, series_count(&full));
    }
    printf("threads in this process: %d before, %d after (health opens none)\n", threads_before,
           threads_after);
    if (have_cpu) {
        double ours_cpu = (our_client + our_server) / ops, xs = x_cpu / ops;
        printf("CPU per op: ours %.3f ms (client %.3f + server session %.3f), "
               "exporter (same figures) %.3f ms (exporter and its %d server sessions)\n",
               ours_cpu * 1e3, our_client / ops * 1e3, our_server / ops * 1e3, xs * 1e3,
               n_x - 1);
        printf("CPU cost ratio ours / exporter (same figures): %.2fx (target <= %.1f: %s)\n",
               ours_cpu / xs, TARGET, ours_cpu / xs <= TARGET ? "met" : "NOT met");
    } else {
        printf("CPU per op: not measured (the server's or the exporter's processes cannot be "
               "read from /proc here, or the exporter's sessions changed)\n");
    }
    double ratio = om / sm;
    printf("wall time ratio ours / exporter (same figures), medians: %.2fx "
           "(target <= %.1f: %s); means: %.2fx\n",
           ratio, TARGET, ratio <= TARGET ? "met" : "NOT met", oa / sa);
    if (have_full)
        printf("wall time ratio ours / exporter (defaults), medians: %.2fx; means: %.2fx\n",
               om / fm, oa / fa);
    rc = 0;
out:
    dbmgmt_conn_close(conn);
    free(ours);
    free(same.times);
    free(same.body);
    if (have_full) {
        free(full.times);
        free(full.body);
    }
    return rc;
}
