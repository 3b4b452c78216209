/*
 * libFuzzer target for the backup scheduler's cron parser
 * (lib/backup/schedule.c). The input up to its first NUL byte is the
 * expression; up to 12 bytes after the NUL pick the start time and UTC
 * offset (a few fixed ones are always tried). Checks, for any input:
 *  - no crash; failure is DBMGMT_ERR_PARSE with a "cron expression" message;
 *  - on success, for each start t: next(t) is -1 or n > t, n is a whole
 *    minute in the offset, n matches (dm_schedule_matches), no minute in
 *    (t, n) matches (checked up to a week after t), next(n - 1) == n and
 *    next(n) > n.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "backup/schedule.h"
#include "dbmgmt.h"
#include "fuzz_common.h"

#define MIN_UNIX_S (-62135596800LL)
#define MAX_UNIX_S 253402300799LL
#define BRUTE_MINUTES 10080

static void check_next(const dbmgmt_schedule *s, int64_t t, int32_t off)
{
    int64_t n = dbmgmt_schedule_next(s, t, off);
    if (n == -1)
        return;
    CHECK(n > t);
    CHECK((n + off) % 60 == 0);
    CHECK(dm_schedule_matches(s, n, off));
    int64_t m = (t + off) - ((t + off) % 60 + 60) % 60 + 60 - off; /* first minute after t */
    for (int i = 0; i < BRUTE_MINUTES && m < n; i++, m += 60)
        CHECK(!dm_schedule_matches(s, m, off));
    if (n <= MAX_UNIX_S) {
        CHECK(dbmgmt_schedule_next(s, n - 1, off) == n);
        int64_t after = dbmgmt_schedule_next(s, n, off);
        CHECK(after == -1 || after > n);
    }
}

static int64_t read_le(const uint8_t *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return (int64_t)v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t len = strnlen((const char *)data, size);
    char *expr = malloc(len + 1);
    CHECK(expr != NULL);
    memcpy(expr, data, len);
    expr[len] = '\0';
    dbmgmt_schedule *s = NULL;
    int rc = dbmgmt_schedule_parse(&s, expr);
    if (rc != DBMGMT_OK) {
        CHECK(rc == DBMGMT_ERR_PARSE && s == NULL);
        CHECK(strncmp(dbmgmt_errmsg(), "cron expression \"", 17) == 0);
        free(expr);
        return 0;
    }
    CHECK(s != NULL);
    static const int64_t times[] = {0, 1700000000, 951782400 /* 2000-02-29 */, -1,
                                    MIN_UNIX_S, MAX_UNIX_S - 86400 * 31};
    static const int32_t offsets[] = {0, 19800, -86400, 86400};
    for (size_t i = 0; i < sizeof times / sizeof times[0]; i++)
        check_next(s, times[i], offsets[i % 4]);
    if (size - len > 1) {
        const uint8_t *extra = data + len + 1;
        size_t n = size - len - 1;
        int64_t t = read_le(extra, n < 8 ? n : 8);
        int32_t off = n > 8 ? (int32_t)(read_le(extra + 8, n - 8 < 4 ? n - 8 : 4) % 86401) : 0;
        t = MIN_UNIX_S + (int64_t)((uint64_t)t % (uint64_t)(MAX_UNIX_S - MIN_UNIX_S));
        check_next(s, t, off);
    }
    dbmgmt_schedule_free(s);
    free(expr);
    return 0;
}
