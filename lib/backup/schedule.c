/*
 * Cron schedules (DESIGN §7, docs/backup-schedules.md): Vixie cron / cronie's
 * five-field dialect and its @macros, and the next fire time in UTC or a
 * fixed offset. Also the calendar helpers of schedule.h.
 */
#include "backup/schedule.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/error.h"
#include "dbmgmt/backup.h"

/* ---- Calendar ---------------------------------------------------------------- */

int64_t dm_floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && a < 0) ? q - 1 : q;
}

/* Howard Hinnant's days_from_civil algorithm (public domain description). */
int64_t dm_days_from_civil(int64_t y, int64_t m, int64_t d)
{
    int64_t months = y * 12 + (m - 1);
    y = dm_floor_div(months, 12);
    m = months - y * 12 + 1;
    int64_t yy = m <= 2 ? y - 1 : y;
    int64_t era = dm_floor_div(yy, 400);
    int64_t yoe = yy - era * 400;
    int64_t mp = m > 2 ? m - 3 : m + 9;
    int64_t doy = (153 * mp + 2) / 5; /* day of year of the month's first day, March-based */
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468 + (d - 1);
}

void dm_civil_from_days(int64_t days, int64_t *y, int *m, int *d)
{
    int64_t z = days + 719468;
    int64_t era = dm_floor_div(z, 146097);
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int64_t day = doy - (153 * mp + 2) / 5 + 1;
    int64_t month = mp < 10 ? mp + 3 : mp - 9;
    *y = yoe + era * 400 + (month <= 2 ? 1 : 0);
    *m = (int)month;
    *d = (int)day;
}

int dm_weekday_from_days(int64_t days)
{
    /* 1970-01-01 was a Thursday (4). */
    return (int)(days - dm_floor_div(days + 4, 7) * 7 + 4);
}

static int is_leap_year(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

int dm_days_in_month(int64_t y, int m)
{
    static const int lengths[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m == 2 && is_leap_year(y))
        return 29;
    return lengths[m - 1];
}

void dm_iso_week(int64_t days, int64_t *iso_year, int *week)
{
    /* The ISO week belongs to the year that holds its Thursday. */
    int wday = dm_weekday_from_days(days);
    int iso_wday = wday == 0 ? 7 : wday;
    int64_t thursday = days + (4 - iso_wday);
    int64_t y;
    int m, d;
    dm_civil_from_days(thursday, &y, &m, &d);
    *iso_year = y;
    *week = (int)((thursday - dm_days_from_civil(y, 1, 1)) / 7 + 1);
}

/* ---- The parsed schedule -------------------------------------------------------- */

struct dbmgmt_schedule {
    uint64_t minutes; /* bit n: minute n */
    uint32_t hours;
    uint32_t doms;    /* bits 1..31 */
    uint32_t months;  /* bits 1..12 */
    uint32_t dows;    /* bits 0..6, 0 = Sunday (7 is folded into 0) */
    int dom_star;     /* the field began with '*': cron then ANDs the day fields */
    int dow_star;
};

enum { FIELD_COUNT = 5, FIELD_DOW = 4, FIELD_MONTH = 3, FIELD_DOM = 2 };

typedef struct field_spec {
    const char *name;
    int min, max;
} field_spec;

static const field_spec fields[FIELD_COUNT] = {
    {"minute", 0, 59}, {"hour", 0, 23}, {"day-of-month", 1, 31}, {"month", 1, 12},
    {"day-of-week", 0, 7},
};

static const char *const month_names[12] = {"jan", "feb", "mar", "apr", "may", "jun",
                                            "jul", "aug", "sep", "oct", "nov", "dec"};
static const char *const day_names[7] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};

/* One parse: the expression and where the current field is. */
typedef struct cron_parser {
    const char *expr;
    size_t len;
    int field; /* 0-based */
} cron_parser;

#define EXPR_SHOWN_MAX 200

/* Records `cron expression "EXPR": field N (NAME) at character C: DETAIL`. */
static int cron_fail(const cron_parser *p, size_t pos, const char *detail)
{
    int shown = p->len > EXPR_SHOWN_MAX ? EXPR_SHOWN_MAX : (int)p->len;
    const char *more = p->len > EXPR_SHOWN_MAX ? "..." : "";
    if (p->field < 0)
        return dm_error_set(NULL, DBMGMT_ERR_PARSE, "cron expression \"%.*s%s\": at character %zu: %s",
                            shown, p->expr, more, pos + 1, detail);
    if (p->field >= FIELD_COUNT)
        return dm_error_set(NULL, DBMGMT_ERR_PARSE,
                            "cron expression \"%.*s%s\": field %d at character %zu: %s", shown,
                            p->expr, more, p->field + 1, pos + 1, detail);
    return dm_error_set(NULL, DBMGMT_ERR_PARSE,
                        "cron expression \"%.*s%s\": field %d (%s) at character %zu: %s", shown,
                        p->expr, more, p->field + 1, fields[p->field].name, pos + 1, detail);
}

static int is_blank(char c)
{
    return c == ' ' || c == '\t';
}

/* 'x', or '\xNN' for a byte that is not printable ASCII. */
static void describe_char(char c, char out[8])
{
    unsigned char u = (unsigned char)c;
    if (u >= 0x20 && u < 0x7f)
        snprintf(out, 8, "'%c'", c);
    else
        snprintf(out, 8, "'\\x%02X'", u);
}

static int fail_unexpected(const cron_parser *p, size_t pos)
{
    char c[8], detail[64];
    describe_char(p->expr[pos], c);
    snprintf(detail, sizeof detail, "unexpected character %s", c);
    return cron_fail(p, pos, detail);
}

static int name_value(int field, const char *s, size_t n)
{
    const char *const *names = field == FIELD_MONTH ? month_names : day_names;
    int count = field == FIELD_MONTH ? 12 : 7;
    if (n != 3)
        return -1;
    for (int i = 0; i < count; i++) {
        if (tolower((unsigned char)s[0]) == names[i][0] &&
            tolower((unsigned char)s[1]) == names[i][1] &&
            tolower((unsigned char)s[2]) == names[i][2])
            return field == FIELD_MONTH ? i + 1 : i;
    }
    return -1;
}

/* A number or (month, day-of-week) a name at *pos, before end; after names
 * what came before it ("'-'") for messages, NULL for an item's first value. */
static int parse_value(const cron_parser *p, size_t *pos, size_t end, const char *after,
                       int *value)
{
    const field_spec *f = &fields[p->field];
    size_t start = *pos;
    char detail[160];
    if (start >= end) {
        snprintf(detail, sizeof detail, "expected a value after %s",
                 after ? after : "the start of the item");
        return cron_fail(p, start, detail);
    }
    if (isdigit((unsigned char)p->expr[start])) {
        long v = 0;
        size_t i = start;
        for (; i < end && isdigit((unsigned char)p->expr[i]); i++)
            v = v > 100000 ? v : v * 10 + (p->expr[i] - '0');
        if (v < f->min || v > f->max) {
            snprintf(detail, sizeof detail, "%.*s is out of range %d-%d", (int)(i - start),
                     p->expr + start, f->min, f->max);
            return cron_fail(p, start, detail);
        }
        *pos = i;
        *value = (int)v;
        return DBMGMT_OK;
    }
    if (isalpha((unsigned char)p->expr[start]) &&
        (p->field == FIELD_MONTH || p->field == FIELD_DOW)) {
        size_t i = start;
        while (i < end && isalpha((unsigned char)p->expr[i]))
            i++;
        int v = name_value(p->field, p->expr + start, i - start);
        if (v < 0) {
            snprintf(detail, sizeof detail, "unknown %s name \"%.*s\"",
                     p->field == FIELD_MONTH ? "month" : "day", (int)(i - start > 20 ? 20 : i - start),
                     p->expr + start);
            return cron_fail(p, start, detail);
        }
        *pos = i;
        *value = v;
        return DBMGMT_OK;
    }
    if (after && (p->expr[start] == ',' || p->expr[start] == '/' || p->expr[start] == '-')) {
        char c[8];
        describe_char(p->expr[start], c);
        snprintf(detail, sizeof detail, "expected a value after %s, found %s", after, c);
        return cron_fail(p, start, detail);
    }
    return fail_unexpected(p, start);
}

/* "/N" at *pos (just past the '/'). */
static int parse_step(const cron_parser *p, size_t *pos, size_t end, int *step)
{
    const field_spec *f = &fields[p->field];
    int span = f->max - f->min + 1;
    size_t start = *pos, i = start;
    char detail[96];
    long v = 0;
    if (i >= end || !isdigit((unsigned char)p->expr[i])) {
        if (i < end && p->expr[i] != ',')
            return fail_unexpected(p, i);
        return cron_fail(p, i, "missing step after '/'");
    }
    for (; i < end && isdigit((unsigned char)p->expr[i]); i++)
        v = v > 100000 ? v : v * 10 + (p->expr[i] - '0');
    if (v < 1 || v > span) {
        snprintf(detail, sizeof detail, "step %.*s is out of range 1-%d", (int)(i - start),
                 p->expr + start, span);
        return cron_fail(p, start, detail);
    }
    *pos = i;
    *step = (int)v;
    return DBMGMT_OK;
}

/* One list item: `*`, `V`, `V-V`, each optionally `/STEP`. */
static int parse_item(const cron_parser *p, size_t *pos, size_t end, uint64_t *bits)
{
    const field_spec *f = &fields[p->field];
    size_t start = *pos, i = start;
    int lo, hi, step = 1, single = 0, status;
    if (i >= end || p->expr[i] == ',')
        return cron_fail(p, i, "empty list item");
    if (p->expr[i] == '*') {
        lo = f->min;
        hi = f->max;
        i++;
    } else {
        if ((status = parse_value(p, &i, end, NULL, &lo)) != DBMGMT_OK)
            return status;
        hi = lo;
        single = 1;
        if (i < end && p->expr[i] == '-') {
            i++;
            if ((status = parse_value(p, &i, end, "'-'", &hi)) != DBMGMT_OK)
                return status;
            single = 0;
            if (hi < lo) {
                char detail[96];
                snprintf(detail, sizeof detail, "range %.*s is reversed (%d is after %d)",
                         (int)(i - start), p->expr + start, lo, hi);
                return cron_fail(p, start, detail);
            }
        }
    }
    if (i < end && p->expr[i] == '/') {
        i++;
        if ((status = parse_step(p, &i, end, &step)) != DBMGMT_OK)
            return status;
        if (single)
            hi = f->max; /* "a/n" is "a-max/n" (cronie) */
    }
    if (i < end && p->expr[i] != ',')
        return fail_unexpected(p, i);
    for (int v = lo; v <= hi; v += step)
        *bits |= (uint64_t)1 << v;
    *pos = i;
    return DBMGMT_OK;
}

static int parse_field(cron_parser *p, size_t start, size_t end, uint64_t *bits, int *star)
{
    size_t i = start;
    int status;
    *bits = 0;
    *star = p->expr[start] == '*';
    for (;;) {
        if ((status = parse_item(p, &i, end, bits)) != DBMGMT_OK)
            return status;
        if (i >= end)
            return DBMGMT_OK;
        i++; /* the ',' */
    }
}

typedef struct macro {
    const char *name;
    const char *fields;
} macro;

static const macro macros[] = {
    {"@yearly", "0 0 1 1 *"}, {"@annually", "0 0 1 1 *"}, {"@monthly", "0 0 1 * *"},
    {"@weekly", "0 0 * * 0"}, {"@daily", "0 0 * * *"},    {"@midnight", "0 0 * * *"},
    {"@hourly", "0 * * * *"},
};

static int name_equals(const char *s, size_t n, const char *name)
{
    if (strlen(name) != n)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (tolower((unsigned char)s[i]) != name[i])
            return 0;
    return 1;
}

/* "@daily" and friends: the five fields they stand for, or an error. */
static int expand_macro(cron_parser *p, size_t at, const char **fields_out)
{
    size_t end = at;
    char detail[160];
    while (end < p->len && !is_blank(p->expr[end]))
        end++;
    size_t n = end - at;
    for (size_t k = 0; k < sizeof macros / sizeof macros[0]; k++) {
        if (name_equals(p->expr + at, n, macros[k].name)) {
            size_t rest = end;
            while (rest < p->len && is_blank(p->expr[rest]))
                rest++;
            if (rest < p->len) {
                snprintf(detail, sizeof detail, "unexpected text after %s", macros[k].name);
                return cron_fail(p, rest, detail);
            }
            *fields_out = macros[k].fields;
            return DBMGMT_OK;
        }
    }
    if (name_equals(p->expr + at, n, "@reboot"))
        return cron_fail(p, at, "@reboot is not a schedule (it runs once at start-up)");
    snprintf(detail, sizeof detail,
             "unknown macro \"%.*s\" (@yearly @annually @monthly @weekly @daily @midnight @hourly)",
             (int)(n > 20 ? 20 : n), p->expr + at);
    return cron_fail(p, at, detail);
}

static int parse_fields(cron_parser *p, dbmgmt_schedule *s)
{
    size_t starts[FIELD_COUNT], ends[FIELD_COUNT];
    size_t i = 0;
    int count = 0, status;
    for (;;) {
        while (i < p->len && is_blank(p->expr[i]))
            i++;
        if (i >= p->len)
            break;
        if (count == FIELD_COUNT) {
            p->field = FIELD_COUNT;
            return cron_fail(p, i, "too many fields (expected 5: minute hour day-of-month "
                                   "month day-of-week)");
        }
        starts[count] = i;
        while (i < p->len && !is_blank(p->expr[i]))
            i++;
        ends[count++] = i;
    }
    if (count < FIELD_COUNT) {
        p->field = count;
        return cron_fail(p, p->len, "missing (expected 5 fields: minute hour day-of-month "
                                    "month day-of-week)");
    }
    uint64_t bits[FIELD_COUNT];
    int star[FIELD_COUNT];
    for (int f = 0; f < FIELD_COUNT; f++) {
        p->field = f;
        if ((status = parse_field(p, starts[f], ends[f], &bits[f], &star[f])) != DBMGMT_OK)
            return status;
    }
    s->minutes = bits[0];
    s->hours = (uint32_t)bits[1];
    s->doms = (uint32_t)bits[2];
    s->months = (uint32_t)bits[3];
    s->dows = (uint32_t)(bits[4] & 0x7f);
    if (bits[4] & 0x80)
        s->dows |= 1u; /* 7 is Sunday too */
    s->dom_star = star[FIELD_DOM];
    s->dow_star = star[FIELD_DOW];
    return DBMGMT_OK;
}

DBMGMT_API int dbmgmt_schedule_parse(dbmgmt_schedule **out, const char *expr)
{
    if (!out)
        return dm_error_invalid("dbmgmt_schedule_parse", "out is NULL");
    *out = NULL;
    if (!expr)
        return dm_error_invalid("dbmgmt_schedule_parse", "expr is NULL");
    cron_parser p = {expr, strlen(expr), -1};
    dbmgmt_schedule parsed;
    memset(&parsed, 0, sizeof parsed);
    size_t at = 0;
    while (at < p.len && is_blank(expr[at]))
        at++;
    int status;
    if (at < p.len && expr[at] == '@') {
        const char *fields_text = NULL;
        if ((status = expand_macro(&p, at, &fields_text)) != DBMGMT_OK)
            return status;
        cron_parser inner = {fields_text, strlen(fields_text), -1};
        if ((status = parse_fields(&inner, &parsed)) != DBMGMT_OK)
            return dm_error_set(NULL, DBMGMT_ERR_INTERNAL, "cron macro %s does not parse", expr);
    } else if ((status = parse_fields(&p, &parsed)) != DBMGMT_OK) {
        return status;
    }
    dbmgmt_schedule *s = dm_malloc(sizeof *s);
    if (!s)
        return dm_error_set(NULL, DBMGMT_ERR_NOMEM, "out of memory parsing a cron expression");
    *s = parsed;
    *out = s;
    return DBMGMT_OK;
}

DBMGMT_API void dbmgmt_schedule_free(dbmgmt_schedule *s)
{
    dm_free(s);
}

/* ---- Next fire time ------------------------------------------------------------------ */

/* Years searched before giving up. A possible expression fires within 28
 * years (a weekday-and-date coincidence is the slowest); impossible ones are
 * recognised up front (schedule_can_fire), so this is a safety net. */
#define SEARCH_YEARS 40
#define MIN_UNIX_S (-62135596800LL) /* 0001-01-01T00:00:00Z */
#define MAX_UNIX_S 253402300799LL   /* 9999-12-31T23:59:59Z */

static int day_matches(const dbmgmt_schedule *s, int dom, int wday)
{
    int dom_ok = (s->doms >> dom) & 1u;
    int dow_ok = (s->dows >> wday) & 1u;
    if (s->dom_star || s->dow_star)
        return dom_ok && dow_ok;
    return dom_ok || dow_ok;
}

/* 0 when no day can ever match: only a restricted day of month with `*`
 * day of week can do that (30 February, 31 April, ...). */
static int schedule_can_fire(const dbmgmt_schedule *s)
{
    if (s->dom_star || !s->dow_star)
        return 1;
    for (int m = 1; m <= 12; m++) {
        if (!((s->months >> m) & 1u))
            continue;
        int longest = m == 2 ? 29 : dm_days_in_month(2001, m);
        for (int d = 1; d <= longest; d++)
            if ((s->doms >> d) & 1u)
                return 1;
    }
    return 0;
}

static int first_bit_from(uint64_t bits, int from, int max)
{
    for (int v = from; v <= max; v++)
        if ((bits >> v) & 1u)
            return v;
    return -1;
}

/* The first matching (hour, minute) at or after (h0, m0) on a matching day,
 * as seconds into the day, or -1. */
static int64_t time_in_day(const dbmgmt_schedule *s, int h0, int m0)
{
    for (int h = first_bit_from(s->hours, h0, 23); h >= 0; h = first_bit_from(s->hours, h + 1, 23)) {
        int m = first_bit_from(s->minutes, h == h0 ? m0 : 0, 59);
        if (m >= 0)
            return (int64_t)h * 3600 + m * 60;
    }
    return -1;
}

int dm_schedule_matches(const dbmgmt_schedule *s, int64_t unix_s, int32_t utc_offset_s)
{
    int64_t local = unix_s + utc_offset_s;
    int64_t day = dm_floor_div(local, 86400);
    int64_t sod = local - day * 86400;
    int64_t y;
    int m, d;
    dm_civil_from_days(day, &y, &m, &d);
    return ((s->months >> m) & 1u) && day_matches(s, d, dm_weekday_from_days(day)) &&
           ((s->hours >> (sod / 3600)) & 1u) && ((s->minutes >> (sod % 3600 / 60)) & 1u);
}

DBMGMT_API int64_t dbmgmt_schedule_next(const dbmgmt_schedule *s, int64_t after_unix_s,
                                        int32_t utc_offset_s)
{
    if (!s) {
        dm_error_invalid("dbmgmt_schedule_next", "schedule is NULL");
        return -1;
    }
    if (utc_offset_s < -86400 || utc_offset_s > 86400) {
        dm_error_invalid("dbmgmt_schedule_next", "utc_offset_s is outside -86400..86400");
        return -1;
    }
    if (after_unix_s < MIN_UNIX_S || after_unix_s > MAX_UNIX_S) {
        dm_error_invalid("dbmgmt_schedule_next", "after_unix_s is outside years 1..9999");
        return -1;
    }
    if (!schedule_can_fire(s))
        return -1;
    /* Work in local wall-clock seconds; the first candidate is the next whole minute. */
    int64_t start = dm_floor_div(after_unix_s + utc_offset_s, 60) * 60 + 60;
    int64_t day = dm_floor_div(start, 86400);
    int64_t sod = start - day * 86400;
    int h0 = (int)(sod / 3600), m0 = (int)(sod % 3600 / 60);
    int64_t y;
    int m, d;
    dm_civil_from_days(day, &y, &m, &d);
    int64_t last_year = y + SEARCH_YEARS;
    while (y <= last_year) {
        if (!((s->months >> m) & 1u)) {
            day = dm_days_from_civil(y, m + 1, 1); /* the first of the next month */
        } else {
            if (day_matches(s, d, dm_weekday_from_days(day))) {
                int64_t t = time_in_day(s, h0, m0);
                if (t >= 0)
                    return day * 86400 + t - utc_offset_s;
            }
            day++;
        }
        h0 = m0 = 0;
        dm_civil_from_days(day, &y, &m, &d);
    }
    return -1;
}
