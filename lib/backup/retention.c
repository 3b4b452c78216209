/*
 * Retention with restic's `forget` semantics (DESIGN §7,
 * docs/backup-schedules.md): keep-last, keep-hourly .. keep-yearly (ISO
 * weeks), keep-within and keep-within-hourly .. -yearly, the newest snapshot
 * of each period, the oldest snapshot when a period rule is not used up,
 * and the reasons for every decision. Periods are UTC calendar periods.
 */
#include "backup/retention.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backup/schedule.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/error.h"

#define PERIOD_COUNT 5  /* hourly, daily, weekly, monthly, yearly */
#define WITHIN_PLAIN 0  /* within[0] is --keep-within; within[k] is --keep-within-<period k> */
#define DURATION_NUMBER_MAX 100000
#define MIN_UNIX_S (-62135596800LL) /* 0001-01-01T00:00:00Z */
#define MAX_UNIX_S 253402300799LL   /* 9999-12-31T23:59:59Z */

typedef struct within_rule {
    int set;
    int32_t years, months, days, hours;
    char text[48]; /* canonical "1y2m3d4h", as restic prints a duration */
} within_rule;

struct dbmgmt_retention {
    int32_t counts[PERIOD_COUNT + 1]; /* indexed by dbmgmt_keep */
    within_rule within[PERIOD_COUNT + 1];
    /* Results of the last apply. */
    size_t n;
    size_t *reason_offsets; /* into reasons.data, one per snapshot */
    dm_buf reasons;
};

static const char *const period_names[PERIOD_COUNT + 1] = {"last",    "hourly",  "daily",
                                                           "weekly", "monthly", "yearly"};

/* Reason bits, in the order restic lists reasons: within, last, then each
 * period (or its "oldest" variant), then each within-period. */
enum { R_WITHIN = 0, R_LAST = 1, R_NO_POLICY = 22 };
#define R_PERIOD(k) (2 + 2 * ((k) - 1))               /* "daily snapshot" */
#define R_PERIOD_OLDEST(k) (3 + 2 * ((k) - 1))        /* "oldest daily snapshot" */
#define R_WITHIN_PERIOD(k) (12 + 2 * ((k) - 1))       /* "daily within 7d" */
#define R_WITHIN_OLDEST(k) (13 + 2 * ((k) - 1))       /* "oldest daily within 7d" */

/* ---- Policy ------------------------------------------------------------------ */

DBMGMT_API int dbmgmt_retention_new(dbmgmt_retention **out)
{
    if (!out)
        return dm_error_invalid("dbmgmt_retention_new", "out is NULL");
    *out = dm_calloc(1, sizeof **out);
    if (!*out)
        return dm_error_set(NULL, DBMGMT_ERR_NOMEM, "out of memory creating a retention policy");
    return DBMGMT_OK;
}

static void retention_clear_results(dbmgmt_retention *r)
{
    dm_free(r->reason_offsets);
    r->reason_offsets = NULL;
    dm_buf_free(&r->reasons);
    r->n = 0;
}

DBMGMT_API void dbmgmt_retention_free(dbmgmt_retention *r)
{
    if (!r)
        return;
    retention_clear_results(r);
    dm_free(r);
}

int dm_retention_copy(dbmgmt_retention **out, const dbmgmt_retention *src)
{
    int status = dbmgmt_retention_new(out);
    if (status != DBMGMT_OK)
        return status;
    memcpy((*out)->counts, src->counts, sizeof src->counts);
    memcpy((*out)->within, src->within, sizeof src->within);
    return DBMGMT_OK;
}

int dm_retention_has_policy(const dbmgmt_retention *r)
{
    for (int k = 0; k <= PERIOD_COUNT; k++)
        if (r->counts[k] != 0 || r->within[k].set)
            return 1;
    return 0;
}

DBMGMT_API int dbmgmt_retention_set_keep(dbmgmt_retention *r, dbmgmt_keep which, int32_t count)
{
    if (!r)
        return dm_error_invalid("dbmgmt_retention_set_keep", "retention is NULL");
    if ((int)which < DBMGMT_KEEP_LAST || (int)which > DBMGMT_KEEP_YEARLY)
        return dm_error_invalid("dbmgmt_retention_set_keep", "which is not a dbmgmt_keep");
    if (count < -1)
        return dm_error_invalid("dbmgmt_retention_set_keep",
                                "count must be -1 (unlimited), 0 (off) or positive");
    r->counts[which] = count;
    return DBMGMT_OK;
}

static int duration_fail(const char *text, size_t pos, const char *detail)
{
    return dm_error_set(NULL, DBMGMT_ERR_PARSE, "duration \"%.40s\": at character %zu: %s", text,
                        pos + 1, detail);
}

/* restic's duration: numbers with units y, m (months), d, h, e.g. "1y2m3d4h". */
static int duration_parse(const char *text, within_rule *w)
{
    int32_t *slot[4] = {&w->years, &w->months, &w->days, &w->hours};
    const char units[] = "ymdh";
    int seen[4] = {0, 0, 0, 0};
    char detail[96];
    size_t i = 0;
    memset(w, 0, sizeof *w);
    while (text[i]) {
        size_t start = i;
        int32_t v = 0;
        if (text[i] < '0' || text[i] > '9')
            return duration_fail(text, i, "expected a number (durations look like 1y2m3d4h)");
        for (; text[i] >= '0' && text[i] <= '9'; i++) {
            v = v * 10 + (text[i] - '0');
            if (v > DURATION_NUMBER_MAX)
                return duration_fail(text, start, "number too large (at most 100000)");
        }
        const char *unit = text[i] ? strchr(units, text[i]) : NULL;
        if (!unit) {
            if (!text[i])
                snprintf(detail, sizeof detail, "missing unit after %d (y, m, d or h)", (int)v);
            else if ((unsigned char)text[i] >= 0x20 && (unsigned char)text[i] < 0x7f)
                snprintf(detail, sizeof detail, "unknown unit '%c' (y, m, d or h)", text[i]);
            else
                snprintf(detail, sizeof detail, "unknown unit '\\x%02X' (y, m, d or h)",
                         (unsigned char)text[i]);
            return duration_fail(text, i, detail);
        }
        int u = (int)(unit - units);
        if (seen[u]) {
            snprintf(detail, sizeof detail, "unit '%c' given twice", text[i]);
            return duration_fail(text, i, detail);
        }
        seen[u] = 1;
        *slot[u] = v;
        i++;
    }
    w->set = w->years || w->months || w->days || w->hours;
    if (!w->set)
        return DBMGMT_OK;
    int len = 0;
    for (int u = 0; u < 4; u++)
        if (*slot[u])
            len += snprintf(w->text + len, sizeof w->text - (size_t)len, "%d%c", (int)*slot[u],
                            units[u]);
    return DBMGMT_OK;
}

DBMGMT_API int dbmgmt_retention_set_within(dbmgmt_retention *r, int32_t which,
                                           const char *duration)
{
    if (!r)
        return dm_error_invalid("dbmgmt_retention_set_within", "retention is NULL");
    if (which != -1 && (which < DBMGMT_KEEP_HOURLY || which > DBMGMT_KEEP_YEARLY))
        return dm_error_invalid("dbmgmt_retention_set_within",
                                "which must be -1 or DBMGMT_KEEP_HOURLY..DBMGMT_KEEP_YEARLY");
    within_rule parsed;
    memset(&parsed, 0, sizeof parsed);
    if (duration && *duration) {
        int status = duration_parse(duration, &parsed);
        if (status != DBMGMT_OK)
            return status;
    }
    r->within[which == -1 ? WITHIN_PLAIN : which] = parsed;
    return DBMGMT_OK;
}

/* ---- Apply ---------------------------------------------------------------------- */

/* The calendar period (by dbmgmt_keep) that t falls in, as one number. */
static int64_t period_of(int64_t t, int which)
{
    int64_t day = dm_floor_div(t, 86400);
    int64_t y, iso_year;
    int m, d, week;
    switch (which) {
    case DBMGMT_KEEP_HOURLY:
        return day * 24 + (t - day * 86400) / 3600;
    case DBMGMT_KEEP_DAILY:
        return day;
    case DBMGMT_KEEP_WEEKLY:
        dm_iso_week(day, &iso_year, &week);
        return iso_year * 100 + week;
    case DBMGMT_KEEP_MONTHLY:
        dm_civil_from_days(day, &y, &m, &d);
        return y * 12 + m;
    default:
        dm_civil_from_days(day, &y, &m, &d);
        return y;
    }
}

/* Snapshots at or before this instant are outside the rule: the newest time
 * minus the duration, in calendar arithmetic (Go's AddDate, as restic). */
static int64_t within_bound(int64_t newest, const within_rule *w)
{
    int64_t day = dm_floor_div(newest, 86400);
    int64_t second_of_day = newest - day * 86400;
    int64_t y;
    int m, d;
    dm_civil_from_days(day, &y, &m, &d);
    int64_t bound_day = dm_days_from_civil(y - w->years, m - w->months, d - w->days);
    return bound_day * 86400 + second_of_day - (int64_t)w->hours * 3600;
}

typedef struct snapshot_ref {
    int64_t time;
    size_t index;
} snapshot_ref;

/* Newest first; among equal times the higher index counts as newer (it was
 * presumably recorded later), so the order is total and deterministic. */
static int compare_newest_first(const void *a, const void *b)
{
    const snapshot_ref *x = a, *y = b;
    if (x->time != y->time)
        return x->time > y->time ? -1 : 1;
    if (x->index != y->index)
        return x->index > y->index ? -1 : 1;
    return 0;
}

static void sort_newest_first(const int64_t *times, snapshot_ref *order, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        order[i].time = times[i];
        order[i].index = i;
    }
    qsort(order, n, sizeof *order, compare_newest_first);
}

/* One pass newest to oldest: which rules keep each snapshot (reason bits). */
static void retention_decide(const dbmgmt_retention *r, const snapshot_ref *order, size_t n,
                             uint32_t *reasons)
{
    int32_t left[PERIOD_COUNT + 1];
    int64_t last_period[PERIOD_COUNT + 1], last_within[PERIOD_COUNT + 1];
    int has_period[PERIOD_COUNT + 1] = {0}, has_within[PERIOD_COUNT + 1] = {0};
    int64_t bound[PERIOD_COUNT + 1];
    int64_t newest = order[0].time;
    memcpy(left, r->counts, sizeof left);
    for (int k = 0; k <= PERIOD_COUNT; k++)
        bound[k] = r->within[k].set ? within_bound(newest, &r->within[k]) : 0;
    for (size_t p = 0; p < n; p++) {
        size_t i = order[p].index;
        int64_t t = order[p].time;
        int oldest = p == n - 1;
        uint32_t bits = 0;
        if (left[DBMGMT_KEEP_LAST] != 0) {
            bits |= 1u << R_LAST;
            if (left[DBMGMT_KEEP_LAST] > 0)
                left[DBMGMT_KEEP_LAST]--;
        }
        for (int k = DBMGMT_KEEP_HOURLY; k <= DBMGMT_KEEP_YEARLY; k++) {
            if (left[k] == 0)
                continue;
            int64_t v = period_of(t, k);
            if (!has_period[k] || v != last_period[k]) {
                bits |= 1u << R_PERIOD(k);
                has_period[k] = 1;
                last_period[k] = v;
                if (left[k] > 0)
                    left[k]--;
            } else if (oldest) {
                bits |= 1u << R_PERIOD_OLDEST(k); /* the count is not used up */
            }
        }
        if (r->within[WITHIN_PLAIN].set && t > bound[WITHIN_PLAIN])
            bits |= 1u << R_WITHIN;
        for (int k = DBMGMT_KEEP_HOURLY; k <= DBMGMT_KEEP_YEARLY; k++) {
            if (!r->within[k].set || t <= bound[k])
                continue;
            int64_t v = period_of(t, k);
            if (!has_within[k] || v != last_within[k]) {
                bits |= 1u << R_WITHIN_PERIOD(k);
                has_within[k] = 1;
                last_within[k] = v;
            } else if (oldest) {
                bits |= 1u << R_WITHIN_OLDEST(k);
            }
        }
        reasons[i] = bits;
    }
}

static void reasons_render(const dbmgmt_retention *r, uint32_t bits, dm_buf *out)
{
    const char *sep = "";
    for (int b = 0; b <= R_NO_POLICY; b++) {
        if (!(bits & (1u << b)))
            continue;
        dm_buf_puts(out, sep);
        sep = ", ";
        int k = b >= R_PERIOD(1) ? (b - R_PERIOD(1)) % 10 / 2 + 1 : 0; /* the period */
        const char *oldest = (b - R_PERIOD(1)) % 2 == 1 ? "oldest " : "";
        if (b == R_WITHIN)
            dm_buf_printf(out, "within %s", r->within[WITHIN_PLAIN].text);
        else if (b == R_LAST)
            dm_buf_puts(out, "last snapshot");
        else if (b < R_WITHIN_PERIOD(1))
            dm_buf_printf(out, "%s%s snapshot", oldest, period_names[k]);
        else if (b < R_NO_POLICY)
            dm_buf_printf(out, "%s%s within %s", oldest, period_names[k], r->within[k].text);
        else
            dm_buf_puts(out, "no policy");
    }
}

static int check_times(const int64_t *times, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (times[i] < MIN_UNIX_S || times[i] > MAX_UNIX_S)
            return dm_error_invalid("dbmgmt_retention_apply",
                                    "a time is outside years 1..9999");
    return DBMGMT_OK;
}

DBMGMT_API int dbmgmt_retention_apply(dbmgmt_retention *r, const int64_t *times, size_t n,
                                      uint8_t *keep)
{
    if (!r)
        return dm_error_invalid("dbmgmt_retention_apply", "retention is NULL");
    retention_clear_results(r);
    if (n > 0 && (!times || !keep))
        return dm_error_invalid("dbmgmt_retention_apply", "times or keep is NULL");
    if (n > SIZE_MAX / sizeof(snapshot_ref))
        return dm_error_invalid("dbmgmt_retention_apply", "too many snapshots");
    int status = check_times(times, n);
    if (status != DBMGMT_OK)
        return status;
    if (n == 0)
        return DBMGMT_OK;
    snapshot_ref *order = dm_calloc(n, sizeof *order);
    uint32_t *bits = dm_calloc(n, sizeof *bits);
    r->reason_offsets = dm_calloc(n, sizeof *r->reason_offsets);
    if (!order || !bits || !r->reason_offsets)
        goto nomem;
    if (dm_retention_has_policy(r)) {
        sort_newest_first(times, order, n);
        retention_decide(r, order, n, bits);
    } else {
        for (size_t i = 0; i < n; i++)
            bits[i] = 1u << R_NO_POLICY; /* like restic: no policy removes nothing */
    }
    for (size_t i = 0; i < n; i++) {
        keep[i] = bits[i] != 0;
        r->reason_offsets[i] = r->reasons.len;
        reasons_render(r, bits[i], &r->reasons);
        dm_buf_putc(&r->reasons, '\0');
    }
    if (dm_buf_failed(&r->reasons))
        goto nomem;
    r->n = n;
    dm_free(order);
    dm_free(bits);
    return DBMGMT_OK;
nomem:
    dm_free(order);
    dm_free(bits);
    retention_clear_results(r);
    return dm_error_set(NULL, DBMGMT_ERR_NOMEM, "out of memory applying a retention policy");
}

DBMGMT_API const char *dbmgmt_retention_reasons(const dbmgmt_retention *r, size_t i)
{
    if (!r || i >= r->n) {
        dm_error_invalid("dbmgmt_retention_reasons", "no such snapshot in the last apply");
        return NULL;
    }
    return r->reasons.data + r->reason_offsets[i];
}
