/* Helpers of the point-in-time tests: see pitr.h. */
#include "pitr.h"

#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

int support_free_port(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    int port = -1;
    if (s >= 0 && bind(s, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(s, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    if (s >= 0)
        close(s);
    return port;
}

int support_sh(const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    return system(cmd);
}

void support_require(const char *missing)
{
    if (!missing)
        return;
    const char *ci = getenv("CI");
    int in_ci = ci && !strcmp(ci, "true");
    printf("%s: needs %s\n", in_ci ? "FAIL" : "SKIP", missing);
    exit(in_ci ? 1 : 77);
}

int support_scratch_top(char *top, size_t cap, const char *prefix)
{
    snprintf(top, cap, "/tmp/%sXXXXXX", prefix);
    return mkdtemp(top) && chmod(top, 0711) == 0 ? 0 : -1;
}

void support_random_password(char *out, size_t len)
{
    unsigned seed = (unsigned)time(NULL) ^ (unsigned)getpid();
    for (size_t i = 0; i < len; i++)
        out[i] = "abcdefghjkmnpqrstuvwxyz23456789"[rand_r(&seed) % 31];
    out[len] = '\0';
}

static ssize_t read_small(const char *path, char *buf, size_t cap)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, cap - 1);
    close(fd);
    if (n >= 0)
        buf[n] = '\0';
    return n;
}

static void *watch_main(void *arg)
{
    support_argv_watch *w = arg;
    size_t plen = strlen(w->comm_prefix);
    while (!w->stop) {
        DIR *d = opendir("/proc");
        struct dirent *ent;
        while (d && (ent = readdir(d)) != NULL) {
            if (ent->d_name[0] < '1' || ent->d_name[0] > '9')
                continue;
            char path[300], comm[64], cmdline[8192];
            snprintf(path, sizeof path, "/proc/%s/comm", ent->d_name);
            if (read_small(path, comm, sizeof comm) <= 0 || strncmp(comm, w->comm_prefix, plen))
                continue;
            snprintf(path, sizeof path, "/proc/%s/cmdline", ent->d_name);
            ssize_t n = read_small(path, cmdline, sizeof cmdline);
            if (n <= 0 || (w->marker && !memmem(cmdline, (size_t)n, w->marker,
                                                strlen(w->marker))))
                continue;
            w->seen++;
            if (memmem(cmdline, (size_t)n, w->secret, strlen(w->secret)))
                w->leaks++;
        }
        if (d)
            closedir(d);
        usleep(500);
    }
    return NULL;
}

void support_argv_watch_start(support_argv_watch *w)
{
    w->stop = 0;
    w->seen = w->leaks = 0;
    assert_int_equal(pthread_create(&w->thread, NULL, watch_main, w), 0);
}

void support_argv_watch_stop(support_argv_watch *w)
{
    w->stop = 1;
    pthread_join(w->thread, NULL);
}

void support_backup_attr(dbmgmt_backup *b, const char *kind, int nth, const char *key, char *out,
                         size_t cap)
{
    char *json = dbmgmt_backup_list_json(b);
    assert_non_null(json);
    out[0] = '\0';
    char want[64];
    snprintf(want, sizeof want, "\"kind\":\"%s\"", kind);
    const char *p = json;
    for (int i = 0; i <= nth && p; i++) {
        p = strstr(p, want);
        if (p && i < nth)
            p += strlen(want);
    }
    if (p) {
        const char *attrs = strstr(p, "\"attrs\":{");
        char k[64];
        snprintf(k, sizeof k, "\"%s\":\"", key);
        const char *v = attrs ? strstr(attrs, k) : NULL;
        const char *end = attrs ? strchr(attrs, '}') : NULL;
        if (v && v < end) {
            v += strlen(k);
            size_t len = strcspn(v, "\"");
            snprintf(out, cap, "%.*s", (int)(len < cap ? len : cap - 1), v);
        }
    }
    dbmgmt_free(json);
}

int64_t support_backup_attr_int(dbmgmt_backup *b, const char *kind, int nth, const char *key)
{
    char v[64];
    support_backup_attr(b, kind, nth, key, v, sizeof v);
    return *v ? strtoll(v, NULL, 10) : -1;
}

int32_t support_tick_ok(dbmgmt_backup *b, int64_t now)
{
    int32_t n = dbmgmt_backup_tick(b, now);
    if (n < 0 || dbmgmt_backup_metric(b, DBMGMT_BACKUP_FAILURES) != 0)
        fail_msg("tick at %lld: %d: %s", (long long)now, n, dbmgmt_backup_errmsg(b));
    return n;
}
