/* dbmgmt exporter: GET /metrics serves the Prometheus exposition of a fresh
 * health snapshot per scrape (docs/prometheus.md), over libmicrohttpd. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#ifndef DBMGMT_CLI_HAVE_MICROHTTPD

int cmd_exporter(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "dbmgmt exporter: this dbmgmt was built without libmicrohttpd "
                    "(install libmicrohttpd-dev and rebuild)\n");
    return CLI_EXIT_FAILURE;
}

#else

#include <dlfcn.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>

#include <microhttpd.h>

#if MHD_VERSION < 0x00097002
typedef int dm_mhd_result; /* before 0.9.71 handlers returned int */
#else
typedef enum MHD_Result dm_mhd_result;
#endif

/* libmicrohttpd is loaded when the exporter starts, not linked: linked, it
 * and GnuTLS under it (p11-kit, nettle, gmp, ...) were mapped and
 * initialised by every dbmgmt run, a short `dbmgmt up` included - about
 * half of what a process that does nothing costs (issue 23). The pointers
 * take their types from the header, so each call is checked as before. */
#define MHD_FUNCTIONS(X)                                                                          \
    X(MHD_start_daemon) X(MHD_stop_daemon) X(MHD_create_response_from_buffer)                      \
    X(MHD_add_response_header) X(MHD_queue_response) X(MHD_destroy_response)
static struct {
#define MHD_POINTER(name) __typeof__(name) *name;
    MHD_FUNCTIONS(MHD_POINTER)
#undef MHD_POINTER
} mhd;

/* 0, or -1 with the reason on stderr. */
static int load_microhttpd(void)
{
    static const char *const sonames[] = {DBMGMT_CLI_MICROHTTPD_SONAME, "libmicrohttpd.so"};
    void *lib = NULL;
    for (size_t i = 0; !lib && i < sizeof sonames / sizeof sonames[0]; i++)
        lib = dlopen(sonames[i], RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        fprintf(stderr, "dbmgmt exporter: cannot load libmicrohttpd (%s): %s\n",
                DBMGMT_CLI_MICROHTTPD_SONAME, dlerror());
        return -1;
    }
#define MHD_LOAD(name)                                                                            \
    *(void **)&mhd.name = dlsym(lib, #name);                                                     \
    if (!mhd.name) {                                                                              \
        fprintf(stderr, "dbmgmt exporter: libmicrohttpd has no %s\n", #name);                     \
        return -1;                                                                                \
    }
    MHD_FUNCTIONS(MHD_LOAD)
#undef MHD_LOAD
    return 0; /* never unloaded: its threads may outlive a dlclose */
}

/* What the handler needs; the mutex serialises scrapes (the sampler, the
 * alert rules and the pool's migrator connection are one thread's at a
 * time), whatever threading libmicrohttpd uses. */
typedef struct exporter {
    pthread_mutex_t lock;
    dbmgmt_pool *pool;
    dbmgmt_health_sampler *sampler;
    dbmgmt_alerts *alerts;
} exporter;

/* One scrape: a snapshot through the sampler (rates from the second scrape
 * on), the alert rules evaluated on it, and the exposition. */
static int scrape(exporter *x, char **text)
{
    dbmgmt_health *h = NULL;
    dbmgmt_conn *conn = NULL;
    pthread_mutex_lock(&x->lock);
    int rc = dbmgmt_health_sample(x->sampler, NULL, x->pool, &h);
    if (rc == DBMGMT_OK && dbmgmt_alerts_evaluate(x->alerts, h) < 0)
        rc = DBMGMT_ERR_INVALID;
    if (rc == DBMGMT_OK && cli_globals.dir)
        rc = dbmgmt_pool_acquire(x->pool, &conn, 5000);
    if (rc == DBMGMT_OK)
        rc = cli_health_exposition(conn, x->pool, h, x->alerts, text);
    dbmgmt_pool_release(x->pool, conn);
    pthread_mutex_unlock(&x->lock);
    dbmgmt_health_free(h);
    return rc;
}

static dm_mhd_result respond(struct MHD_Connection *c, unsigned status, const char *type,
                             const char *body)
{
    struct MHD_Response *r =
        mhd.MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!r)
        return MHD_NO;
    mhd.MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    dm_mhd_result ret = mhd.MHD_queue_response(c, status, r);
    mhd.MHD_destroy_response(r);
    return ret;
}

static dm_mhd_result handle(void *cls, struct MHD_Connection *c, const char *url,
                            const char *method, const char *version, const char *upload_data,
                            size_t *upload_data_size, void **req)
{
    (void)version;
    (void)upload_data;
    (void)upload_data_size;
    (void)req;
    if (strcmp(url, "/metrics") != 0)
        return respond(c, MHD_HTTP_NOT_FOUND, "text/plain; charset=utf-8",
                       "not found: the metrics are at /metrics\n");
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
        return respond(c, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain; charset=utf-8",
                       "only GET\n");
    char *text = NULL;
    if (scrape(cls, &text) != DBMGMT_OK) {
        char msg[1200];
        snprintf(msg, sizeof msg, "dbmgmt exporter: %s\n", dbmgmt_errmsg());
        fputs(msg, stderr);
        return respond(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "text/plain; charset=utf-8", msg);
    }
    dm_mhd_result ret = respond(c, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", text);
    dbmgmt_free(text);
    return ret;
}

/* "HOST:PORT" ("[::1]:PORT" for IPv6) into an address; 0 or -1. */
static int parse_listen(const char *listen, struct addrinfo **ai)
{
    char host[256];
    const char *colon = strrchr(listen, ':');
    if (!colon || colon == listen || (size_t)(colon - listen) >= sizeof host || !colon[1])
        return -1;
    const char *h = listen;
    size_t hl = (size_t)(colon - listen);
    if (h[0] == '[' && h[hl - 1] == ']')
        h++, hl -= 2;
    memcpy(host, h, hl);
    host[hl] = '\0';
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end || port < 0 || port > 65535)
        return -1;
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
    return getaddrinfo(host, colon + 1, &hints, ai) == 0 ? 0 : -1;
}

int cmd_exporter(int argc, char **argv)
{
    const char *listen = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--listen") == 0 && i + 1 < argc)
            listen = argv[++i];
        else if (strcmp(argv[i], "--url") == 0 && i + 1 < argc)
            cli_globals.url = argv[++i];
        else
            return cli_usage_error("exporter: unexpected argument '%s'", argv[i]);
    }
    if (!listen)
        return cli_usage_error("exporter: --listen HOST:PORT is required");
    struct addrinfo *ai = NULL;
    if (parse_listen(listen, &ai) != 0)
        return cli_usage_error("exporter: --listen takes HOST:PORT (127.0.0.1:9187), not '%s'",
                               listen);

    if (load_microhttpd() != 0) {
        freeaddrinfo(ai);
        return CLI_EXIT_FAILURE;
    }
    exporter x = {.pool = NULL};
    int status = CLI_EXIT_FAILURE;
    struct MHD_Daemon *d = NULL;
    dbmgmt_pool_config *cfg = NULL;
    pthread_mutex_init(&x.lock, NULL);
    if (dbmgmt_pool_config_new(&cfg) != DBMGMT_OK ||
        dbmgmt_pool_config_set_max_size(cfg, 2) != DBMGMT_OK ||
        dbmgmt_pool_open(&x.pool, cli_globals.url, cfg) != DBMGMT_OK ||
        dbmgmt_health_sampler_new(&x.sampler) != DBMGMT_OK ||
        dbmgmt_alerts_new(&x.alerts) != DBMGMT_OK) {
        fprintf(stderr, "dbmgmt exporter: %s\n", dbmgmt_errmsg());
        goto out;
    }
    /* SIGINT and SIGTERM are taken by sigwait below; blocked before the
     * server's thread starts, so that it inherits the mask. */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
    if (ai->ai_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    d = mhd.MHD_start_daemon(flags, 0, NULL, NULL, handle, &x, MHD_OPTION_SOCK_ADDR, ai->ai_addr,
                         MHD_OPTION_CONNECTION_TIMEOUT, 30u, MHD_OPTION_END);
    if (!d) {
        fprintf(stderr, "dbmgmt exporter: cannot listen on %s (address in use or not ours?)\n",
                listen);
        goto out;
    }
    fprintf(stderr, "dbmgmt exporter: serving http://%s/metrics (stop: SIGINT or SIGTERM)\n",
            listen);
    int sig = 0;
    while (sigwait(&stop, &sig) != 0)
        ;
    fprintf(stderr, "dbmgmt exporter: stopping (signal %d)\n", sig);
    status = CLI_EXIT_OK;
out:
    if (d)
        mhd.MHD_stop_daemon(d);
    freeaddrinfo(ai);
    dbmgmt_alerts_free(x.alerts);
    dbmgmt_health_sampler_free(x.sampler);
    dbmgmt_pool_close(x.pool, 5000);
    dbmgmt_pool_config_free(cfg);
    pthread_mutex_destroy(&x.lock);
    return status;
}

#endif
