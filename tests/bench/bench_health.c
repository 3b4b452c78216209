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
 * and reads the whole body. Prints each one's median and mean wall time per op and the
 * ratios ours / exporter; the target applies to the like-for-like exporter, medians.
 * It also prints the process's thread count before and after (health opens none).
 *
 *   DBMGMT_TEST_PG_DSN                  the server (tests/servers.sh)
 *   DBMGMT_TEST_PG_HEALTH_EXPORTER_URL  http://127.0.0.1:PORT/metrics (tests/exporters.sh)
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
    for (int i = 0; i < ops; i++) { /* interleaved op by op */
        double t0 = now_s();
        if (collect(conn, &figures) != 0)
            goto out;
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
    double ratio = om / sm;
    printf("cost ratio ours / exporter (same figures), medians: %.2fx (target <= %.1f: %s); "
           "means: %.2fx\n", ratio, TARGET, ratio <= TARGET ? "met" : "NOT met", oa / sa);
    if (have_full)
        printf("cost ratio ours / exporter (defaults), medians: %.2fx; means: %.2fx\n", om / fm,
               oa / fa);
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
