/* dbmgmt schedule next EXPR [--from RFC3339] [--count N] [--utc-offset ±HH:MM]
 * (issue 8), and the RFC 3339 helpers the backup commands share. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

/* Day number (since 1970-01-01) of a proleptic Gregorian date. */
static int64_t days_from_civil(int64_t y, int64_t m, int64_t d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

static int read_digits(const char **p, int count, int *value)
{
    int v = 0;
    for (int i = 0; i < count; i++) {
        if ((*p)[i] < '0' || (*p)[i] > '9')
            return -1;
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += count;
    *value = v;
    return 0;
}

int cli_parse_utc_offset(const char *s, int32_t *offset_s)
{
    int h, m;
    if (strcmp(s, "Z") == 0 || strcmp(s, "z") == 0) {
        *offset_s = 0;
        return 0;
    }
    if ((s[0] != '+' && s[0] != '-') || strlen(s) != 6 || s[3] != ':')
        return -1;
    const char *p = s + 1;
    if (read_digits(&p, 2, &h) != 0 || h > 23)
        return -1;
    p++;
    if (read_digits(&p, 2, &m) != 0 || m > 59)
        return -1;
    *offset_s = (int32_t)((s[0] == '-' ? -1 : 1) * (h * 3600 + m * 60));
    return 0;
}

int cli_parse_rfc3339(const char *s, int64_t *unix_s, int32_t *nanos)
{
    int y, mo, d, h, mi, se;
    int32_t offset = 0, frac = 0;
    const char *p = s;
    if (read_digits(&p, 4, &y) || *p++ != '-' || read_digits(&p, 2, &mo) || *p++ != '-' ||
        read_digits(&p, 2, &d))
        return -1;
    if (*p != 'T' && *p != 't' && *p != ' ')
        return -1;
    p++;
    if (read_digits(&p, 2, &h) || *p++ != ':' || read_digits(&p, 2, &mi) || *p++ != ':' ||
        read_digits(&p, 2, &se))
        return -1;
    if (*p == '.') {
        int digits = 0;
        for (p++; *p >= '0' && *p <= '9'; p++, digits++)
            if (digits < 9)
                frac = frac * 10 + (*p - '0');
        if (digits == 0)
            return -1;
        for (; digits < 9; digits++)
            frac *= 10;
    }
    if (cli_parse_utc_offset(p, &offset) != 0)
        return -1;
    if (mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || se > 60)
        return -1;
    int64_t yy;
    int m2, d2;
    int64_t days = days_from_civil(y, mo, d);
    civil_from_days(days, &yy, &m2, &d2);
    if (m2 != mo || d2 != d) /* 31 April, 29 February 2023 */
        return -1;
    if (se == 60) /* a leap second is the last second of its minute */
        se = 59;
    *unix_s = days * 86400 + h * 3600 + mi * 60 + se - offset;
    *nanos = frac;
    return 0;
}

void cli_format_rfc3339(int64_t unix_s, int32_t offset_s, char out[CLI_RFC3339_MAX])
{
    int64_t local = unix_s + offset_s;
    int64_t days = (local >= 0 ? local : local - 86399) / 86400;
    int64_t sod = local - days * 86400, y;
    int m, d;
    civil_from_days(days, &y, &m, &d);
    int n = snprintf(out, CLI_RFC3339_MAX, "%04lld-%02d-%02dT%02d:%02d:%02d", (long long)y, m, d,
                     (int)(sod / 3600), (int)(sod % 3600 / 60), (int)(sod % 60));
    if (offset_s == 0) {
        snprintf(out + n, CLI_RFC3339_MAX - (size_t)n, "Z");
    } else {
        int32_t a = offset_s < 0 ? -offset_s : offset_s;
        snprintf(out + n, CLI_RFC3339_MAX - (size_t)n, "%c%02d:%02d", offset_s < 0 ? '-' : '+',
                 (int)(a / 3600), (int)(a % 3600 / 60));
    }
}

typedef struct next_args {
    const char *expr;
    int64_t from;
    int32_t offset_s;
    long count;
} next_args;

static int next_parse_args(int argc, char **argv, next_args *a)
{
    int32_t nanos;
    a->expr = NULL;
    a->from = (int64_t)time(NULL);
    a->offset_s = 0;
    a->count = 1;
    if (argc < 2 || strcmp(argv[1], "next") != 0)
        return cli_usage_error("schedule: expected 'next EXPR'");
    for (int i = 2; i < argc; i++) {
        const char *arg = argv[i];
        const char *value = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(arg, "--from") == 0 || strcmp(arg, "--count") == 0 ||
            strcmp(arg, "--utc-offset") == 0) {
            if (!value)
                return cli_usage_error("schedule next: %s needs a value", arg);
            i++;
            if (strcmp(arg, "--from") == 0) {
                if (cli_parse_rfc3339(value, &a->from, &nanos) != 0)
                    return cli_usage_error("schedule next: --from takes an RFC 3339 time "
                                           "(2024-01-02T03:04:05Z), not '%s'", value);
            } else if (strcmp(arg, "--count") == 0) {
                char *end;
                a->count = strtol(value, &end, 10);
                if (*end || a->count < 1 || a->count > 100000)
                    return cli_usage_error("schedule next: --count takes 1..100000, not '%s'",
                                           value);
            } else if (cli_parse_utc_offset(value, &a->offset_s) != 0) {
                return cli_usage_error("schedule next: --utc-offset takes ±HH:MM, not '%s'",
                                       value);
            }
        } else if (arg[0] == '-' && arg[1] == '-') {
            return cli_usage_error("schedule next: unknown option '%s'", arg);
        } else if (a->expr) {
            return cli_usage_error("schedule next: more than one EXPR (quote the expression)");
        } else {
            a->expr = arg;
        }
    }
    if (!a->expr)
        return cli_usage_error("schedule next: EXPR is required");
    return CLI_EXIT_OK;
}

int cmd_schedule(int argc, char **argv)
{
    next_args a;
    dbmgmt_schedule *s = NULL;
    char text[CLI_RFC3339_MAX];
    int status = next_parse_args(argc, argv, &a);
    if (status != CLI_EXIT_OK)
        return status;
    if (dbmgmt_schedule_parse(&s, a.expr) != DBMGMT_OK) {
        fprintf(stderr, "dbmgmt: %s\n", dbmgmt_errmsg());
        return CLI_EXIT_FAILURE;
    }
    int64_t t = a.from;
    for (long i = 0; i < a.count; i++) {
        t = dbmgmt_schedule_next(s, t, a.offset_s);
        if (t < 0) {
            if (i == 0)
                fprintf(stderr, "dbmgmt: schedule \"%s\" never fires\n", a.expr);
            status = i == 0 ? CLI_EXIT_FAILURE : CLI_EXIT_OK;
            break;
        }
        cli_format_rfc3339(t, a.offset_s, text);
        puts(text);
    }
    dbmgmt_schedule_free(s);
    if (fflush(stdout) != 0)
        return CLI_EXIT_FAILURE;
    return status;
}
