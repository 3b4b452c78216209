/* Helpers of the point-in-time tests: see pitr.h. */
#include "pitr.h"

#include <dirent.h>
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
