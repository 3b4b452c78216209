/*
 * Retention with restic's forget rules: 63 policies over one fixed set of
 * 105 snapshot times spanning 2023-01-01 .. 2024-12-31, with gaps (April and
 * May 2023, 2024-11-03, most of December 2024), same-second ties (84/85 were
 * taken 0.5 s apart; 87/88 and 102/103 in the same second) and ISO-week
 * edges (2023-01-01 is in 2022-W52, 2024-12-30 in 2025-W01).
 *
 * The expected keep sets were worked out by hand from restic's documented
 * rules (docs/backup-schedules.md states them), using the bucket lists below;
 * they are not output of the implementation. Bucket lists, newest first:
 *   daily:   104 101 100 99 98 97 96 95 93, 83..1             (92 days)
 *   hourly:  104 101 100 99 98 97 96 95 94 93 92 90 89 86, 83..0 (98 hours)
 *   weekly:  104 100 98 97 95 79 72 65 58, 51..1              (60 weeks)
 *   monthly: 104 99 83 52 47 43 38 34 30 25 21 17 12 10 9 8 7 6 5 4 3 2 (22)
 *   yearly:  104 12
 * The oldest snapshot (0) shares its day, week, month and year with 1 (or 2),
 * so it is kept as "oldest ... snapshot" exactly when that rule's count is
 * not used up; it is alone in its hour, so hourly keeps it as an ordinary
 * hourly snapshot. Among equal times the higher index is the newer.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "backup/schedule.h"
#include "dbmgmt/backup.h"

#define SNAPSHOTS 105

static const char *const snapshot_times[SNAPSHOTS] = {
    "2023-01-01T00:00:00Z", /* 0 */
    "2023-01-01T09:30:00Z", /* 1 */
    "2023-01-15T12:00:00Z", /* 2 */
    "2023-02-15T12:00:00Z", /* 3 */
    "2023-03-15T12:00:00Z", /* 4 */
    "2023-06-15T12:00:00Z", /* 5 */
    "2023-07-15T12:00:00Z", /* 6 */
    "2023-08-15T12:00:00Z", /* 7 */
    "2023-09-15T12:00:00Z", /* 8 */
    "2023-10-15T12:00:00Z", /* 9 */
    "2023-11-15T12:00:00Z", /* 10 */
    "2023-12-15T12:00:00Z", /* 11 */
    "2023-12-31T23:59:59Z", /* 12 */
    "2024-01-01T06:00:00Z", /* 13 */
    "2024-01-08T06:00:00Z", /* 14 */
    "2024-01-15T06:00:00Z", /* 15 */
    "2024-01-22T06:00:00Z", /* 16 */
    "2024-01-29T06:00:00Z", /* 17 */
    "2024-02-05T06:00:00Z", /* 18 */
    "2024-02-12T06:00:00Z", /* 19 */
    "2024-02-19T06:00:00Z", /* 20 */
    "2024-02-26T06:00:00Z", /* 21 */
    "2024-03-04T06:00:00Z", /* 22 */
    "2024-03-11T06:00:00Z", /* 23 */
    "2024-03-18T06:00:00Z", /* 24 */
    "2024-03-25T06:00:00Z", /* 25 */
    "2024-04-01T06:00:00Z", /* 26 */
    "2024-04-08T06:00:00Z", /* 27 */
    "2024-04-15T06:00:00Z", /* 28 */
    "2024-04-22T06:00:00Z", /* 29 */
    "2024-04-29T06:00:00Z", /* 30 */
    "2024-05-06T06:00:00Z", /* 31 */
    "2024-05-13T06:00:00Z", /* 32 */
    "2024-05-20T06:00:00Z", /* 33 */
    "2024-05-27T06:00:00Z", /* 34 */
    "2024-06-03T06:00:00Z", /* 35 */
    "2024-06-10T06:00:00Z", /* 36 */
    "2024-06-17T06:00:00Z", /* 37 */
    "2024-06-24T06:00:00Z", /* 38 */
    "2024-07-01T06:00:00Z", /* 39 */
    "2024-07-08T06:00:00Z", /* 40 */
    "2024-07-15T06:00:00Z", /* 41 */
    "2024-07-22T06:00:00Z", /* 42 */
    "2024-07-29T06:00:00Z", /* 43 */
    "2024-08-05T06:00:00Z", /* 44 */
    "2024-08-12T06:00:00Z", /* 45 */
    "2024-08-19T06:00:00Z", /* 46 */
    "2024-08-26T06:00:00Z", /* 47 */
    "2024-09-02T06:00:00Z", /* 48 */
    "2024-09-09T06:00:00Z", /* 49 */
    "2024-09-16T06:00:00Z", /* 50 */
    "2024-09-23T06:00:00Z", /* 51 */
    "2024-09-30T06:00:00Z", /* 52 */
    "2024-10-01T03:00:00Z", /* 53 */
    "2024-10-02T03:00:00Z", /* 54 */
    "2024-10-03T03:00:00Z", /* 55 */
    "2024-10-04T03:00:00Z", /* 56 */
    "2024-10-05T03:00:00Z", /* 57 */
    "2024-10-06T03:00:00Z", /* 58 */
    "2024-10-07T03:00:00Z", /* 59 */
    "2024-10-08T03:00:00Z", /* 60 */
    "2024-10-09T03:00:00Z", /* 61 */
    "2024-10-10T03:00:00Z", /* 62 */
    "2024-10-11T03:00:00Z", /* 63 */
    "2024-10-12T03:00:00Z", /* 64 */
    "2024-10-13T03:00:00Z", /* 65 */
    "2024-10-14T03:00:00Z", /* 66 */
    "2024-10-15T03:00:00Z", /* 67 */
    "2024-10-16T03:00:00Z", /* 68 */
    "2024-10-17T03:00:00Z", /* 69 */
    "2024-10-18T03:00:00Z", /* 70 */
    "2024-10-19T03:00:00Z", /* 71 */
    "2024-10-20T03:00:00Z", /* 72 */
    "2024-10-21T03:00:00Z", /* 73 */
    "2024-10-22T03:00:00Z", /* 74 */
    "2024-10-23T03:00:00Z", /* 75 */
    "2024-10-24T03:00:00Z", /* 76 */
    "2024-10-25T03:00:00Z", /* 77 */
    "2024-10-26T03:00:00Z", /* 78 */
    "2024-10-27T03:00:00Z", /* 79 */
    "2024-10-28T03:00:00Z", /* 80 */
    "2024-10-29T03:00:00Z", /* 81 */
    "2024-10-30T03:00:00Z", /* 82 */
    "2024-10-31T03:00:00Z", /* 83 */
    "2024-11-01T00:00:00.250Z", /* 84 */
    "2024-11-01T00:00:00.750Z", /* 85 */
    "2024-11-01T00:30:00Z", /* 86 */
    "2024-11-01T01:15:00Z", /* 87 */
    "2024-11-01T01:15:00Z", /* 88 */
    "2024-11-01T01:59:59Z", /* 89 */
    "2024-11-01T02:00:00Z", /* 90 */
    "2024-11-01T06:00:00Z", /* 91 */
    "2024-11-01T06:00:01Z", /* 92 */
    "2024-11-01T23:59:59Z", /* 93 */
    "2024-11-02T00:00:00Z", /* 94 */
    "2024-11-02T12:00:00Z", /* 95 */
    "2024-11-04T00:00:00Z", /* 96 */
    "2024-11-10T23:59:59Z", /* 97 */
    "2024-11-11T00:00:00Z", /* 98 */
    "2024-11-30T12:00:00Z", /* 99 */
    "2024-12-01T00:00:00Z", /* 100 */
    "2024-12-30T10:30:00Z", /* 101 */
    "2024-12-31T10:00:00Z", /* 102 */
    "2024-12-31T10:00:00Z", /* 103 */
    "2024-12-31T10:30:00Z", /* 104 */
};

/* Whole seconds of "YYYY-MM-DDTHH:MM:SS[.frac]Z"; the fraction is dropped
 * (84 and 85 become a same-second tie). */
static int64_t parse_utc(const char *s)
{
    int y, mo, d, h, mi, se;
    if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d", &y, &mo, &d, &h, &mi, &se) != 6)
        return -1;
    return dm_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se;
}

typedef struct policy_case {
    const char *name;
    int32_t last, hourly, daily, weekly, monthly, yearly;
    const char *within, *within_hourly, *within_daily, *within_weekly, *within_monthly,
        *within_yearly;
    const char *kept;           /* ascending indexes and ranges: "0,12-14" */
    const char *reasons[8];     /* "INDEX=reasons" */
} policy_case;

static const policy_case policies[] = {
    {.name = "keep-last 1", .last = 1, .kept = "104", .reasons = {"104=last snapshot"}},
    {.name = "keep-last 2 takes the newer of a same-second tie", .last = 2, .kept = "103-104",
     .reasons = {"103=last snapshot"}},
    {.name = "keep-last 5", .last = 5, .kept = "100-104"},
    {.name = "keep-last 20 splits the sub-second pair 84/85", .last = 20, .kept = "85-104"},
    {.name = "keep-last 105 keeps all", .last = 105, .kept = "0-104", .reasons = {"0=last snapshot"}},
    {.name = "keep-last 200 keeps all", .last = 200, .kept = "0-104"},
    {.name = "keep-last unlimited", .last = -1, .kept = "0-104"},
    {.name = "keep-hourly 1", .hourly = 1, .kept = "104", .reasons = {"104=hourly snapshot"}},
    {.name = "keep-hourly 10", .hourly = 10, .kept = "93-101,104",
     .reasons = {"94=hourly snapshot", "95=hourly snapshot"}},
    {.name = "keep-hourly 14 keeps the newest of each hour of 1 November", .hourly = 14,
     .kept = "86,89-90,92-101,104"},
    {.name = "keep-hourly 20", .hourly = 20, .kept = "78-83,86,89-90,92-101,104"},
    {.name = "keep-hourly 98 reaches the oldest as an ordinary hour", .hourly = 98,
     .kept = "0-83,86,89-90,92-101,104", .reasons = {"0=hourly snapshot"}},
    {.name = "keep-hourly unlimited", .hourly = -1, .kept = "0-83,86,89-90,92-101,104",
     .reasons = {"0=hourly snapshot", "1=hourly snapshot"}},
    {.name = "keep-daily 1", .daily = 1, .kept = "104"},
    {.name = "keep-daily 4", .daily = 4, .kept = "99-101,104"},
    {.name = "keep-daily 9 skips the empty 3 November", .daily = 9, .kept = "93,95-101,104",
     .reasons = {"93=daily snapshot", "95=daily snapshot"}},
    {.name = "keep-daily 12", .daily = 12, .kept = "81-83,93,95-101,104"},
    {.name = "keep-daily 92 uses its count up exactly", .daily = 92,
     .kept = "1-83,93,95-101,104", .reasons = {"1=daily snapshot"}},
    {.name = "keep-daily 93 keeps the oldest too", .daily = 93, .kept = "0-83,93,95-101,104",
     .reasons = {"0=oldest daily snapshot", "1=daily snapshot"}},
    {.name = "keep-daily unlimited", .daily = -1, .kept = "0-83,93,95-101,104",
     .reasons = {"0=oldest daily snapshot"}},
    {.name = "keep-weekly 1", .weekly = 1, .kept = "104", .reasons = {"104=weekly snapshot"}},
    {.name = "keep-weekly 5", .weekly = 5, .kept = "95,97-98,100,104"},
    {.name = "keep-weekly 9 (2024-W40 spans September and October)", .weekly = 9,
     .kept = "58,65,72,79,95,97-98,100,104"},
    {.name = "keep-weekly 10", .weekly = 10, .kept = "51,58,65,72,79,95,97-98,100,104"},
    {.name = "keep-weekly 60 uses its count up exactly", .weekly = 60,
     .kept = "1-51,58,65,72,79,95,97-98,100,104", .reasons = {"1=weekly snapshot"}},
    {.name = "keep-weekly 61 keeps the oldest too", .weekly = 61,
     .kept = "0-51,58,65,72,79,95,97-98,100,104", .reasons = {"0=oldest weekly snapshot"}},
    {.name = "keep-weekly unlimited", .weekly = -1, .kept = "0-51,58,65,72,79,95,97-98,100,104",
     .reasons = {"0=oldest weekly snapshot", "12=weekly snapshot"}},
    {.name = "keep-monthly 1", .monthly = 1, .kept = "104"},
    {.name = "keep-monthly 3", .monthly = 3, .kept = "83,99,104",
     .reasons = {"83=monthly snapshot", "99=monthly snapshot"}},
    {.name = "keep-monthly 12", .monthly = 12, .kept = "17,21,25,30,34,38,43,47,52,83,99,104"},
    {.name = "keep-monthly 13", .monthly = 13, .kept = "12,17,21,25,30,34,38,43,47,52,83,99,104"},
    {.name = "keep-monthly 22 skips the empty April and May 2023", .monthly = 22,
     .kept = "2-10,12,17,21,25,30,34,38,43,47,52,83,99,104", .reasons = {"2=monthly snapshot"}},
    {.name = "keep-monthly 24 keeps the oldest too", .monthly = 24,
     .kept = "0,2-10,12,17,21,25,30,34,38,43,47,52,83,99,104",
     .reasons = {"0=oldest monthly snapshot"}},
    {.name = "keep-monthly unlimited", .monthly = -1,
     .kept = "0,2-10,12,17,21,25,30,34,38,43,47,52,83,99,104"},
    {.name = "keep-yearly 1", .yearly = 1, .kept = "104", .reasons = {"104=yearly snapshot"}},
    {.name = "keep-yearly 2", .yearly = 2, .kept = "12,104", .reasons = {"12=yearly snapshot"}},
    {.name = "keep-yearly 3 keeps the oldest too", .yearly = 3, .kept = "0,12,104",
     .reasons = {"0=oldest yearly snapshot"}},
    {.name = "keep-yearly unlimited", .yearly = -1, .kept = "0,12,104"},
    {.name = "keep-within 1d excludes a snapshot exactly 1d older", .within = "1d",
     .kept = "102-104", .reasons = {"104=within 1d", "102=within 1d", "101="}},
    {.name = "keep-within 1d1h", .within = "1d1h", .kept = "101-104",
     .reasons = {"101=within 1d1h"}},
    {.name = "keep-within 12h", .within = "12h", .kept = "102-104"},
    {.name = "keep-within 1m carries 31 November to 1 December", .within = "1m",
     .kept = "101-104"},
    {.name = "keep-within 30d12h", .within = "30d12h", .kept = "100-104",
     .reasons = {"100=within 30d12h"}},
    {.name = "keep-within 2m", .within = "2m", .kept = "84-104"},
    {.name = "keep-within 61d", .within = "61d", .kept = "84-104"},
    {.name = "keep-within 3m carries 31 September to 1 October", .within = "3m",
     .kept = "54-104"},
    {.name = "keep-within 1y", .within = "1y", .kept = "12-104"},
    {.name = "keep-within 1y11m", .within = "1y11m", .kept = "3-104",
     .reasons = {"3=within 1y11m"}},
    {.name = "keep-within 2y", .within = "2y", .kept = "0-104"},
    {.name = "keep-within-hourly 1d1h", .within_hourly = "1d1h", .kept = "101,104",
     .reasons = {"101=hourly within 1d1h", "104=hourly within 1d1h"}},
    {.name = "keep-within-daily 1m", .within_daily = "1m", .kept = "101,104",
     .reasons = {"101=daily within 1m", "100="}},
    {.name = "keep-within-daily 3m", .within_daily = "3m", .kept = "54-83,93,95-101,104"},
    {.name = "keep-within-weekly 2y keeps the oldest too", .within_weekly = "2y",
     .kept = "0-51,58,65,72,79,95,97-98,100,104",
     .reasons = {"0=oldest weekly within 2y", "1=weekly within 2y"}},
    {.name = "keep-within-monthly 1y", .within_monthly = "1y",
     .kept = "12,17,21,25,30,34,38,43,47,52,83,99,104", .reasons = {"12=monthly within 1y"}},
    {.name = "keep-within-yearly 2y keeps the oldest too", .within_yearly = "2y",
     .kept = "0,12,104", .reasons = {"0=oldest yearly within 2y", "12=yearly within 2y"}},
    {.name = "keep-within-yearly 1y does not reach the oldest", .within_yearly = "1y",
     .kept = "12,104"},
    {.name = "daily 7 weekly 5 monthly 12 yearly 75 (restic's example)", .daily = 7,
     .weekly = 5, .monthly = 12, .yearly = 75,
     .kept = "0,12,17,21,25,30,34,38,43,47,52,83,95-101,104",
     .reasons = {"104=daily snapshot, weekly snapshot, monthly snapshot, yearly snapshot",
                 "100=daily snapshot, weekly snapshot", "99=daily snapshot, monthly snapshot",
                 "95=weekly snapshot", "12=yearly snapshot", "0=oldest yearly snapshot",
                 "94="}},
    {.name = "keep-last 3 and keep-daily 3", .last = 3, .daily = 3, .kept = "100-104",
     .reasons = {"104=last snapshot, daily snapshot", "102=last snapshot",
                 "101=daily snapshot"}},
    {.name = "keep-last 2 and keep-within 1d", .last = 2, .within = "1d", .kept = "102-104",
     .reasons = {"104=within 1d, last snapshot", "102=within 1d"}},
    {.name = "keep-hourly 3 and keep-weekly 2", .hourly = 3, .weekly = 2, .kept = "100-101,104",
     .reasons = {"100=hourly snapshot, weekly snapshot", "101=hourly snapshot"}},
    {.name = "within-daily 1m, within-monthly 1y, within-yearly 2y (restic's example)",
     .within_daily = "1m", .within_monthly = "1y", .within_yearly = "2y",
     .kept = "0,12,17,21,25,30,34,38,43,47,52,83,99,101,104",
     .reasons = {"104=daily within 1m, monthly within 1y, yearly within 2y",
                 "12=monthly within 1y, yearly within 2y", "0=oldest yearly within 2y",
                 "101=daily within 1m", "99=monthly within 1y"}},
    {.name = "no rule keeps everything", .kept = "0-104", .reasons = {"5=no policy"}},
    {.name = "counts of 0 are no rule", .daily = 0, .within = "0d", .kept = "0-104",
     .reasons = {"104=no policy"}},
};

#define POLICY_COUNT (sizeof policies / sizeof policies[0])

/* "0,12-14" -> expected[i] = 1. */
static void expand_indexes(const char *list, uint8_t *expected)
{
    memset(expected, 0, SNAPSHOTS);
    const char *p = list;
    while (*p) {
        char *end;
        long lo = strtol(p, &end, 10), hi = lo;
        if (*end == '-')
            hi = strtol(end + 1, &end, 10);
        assert_true(lo >= 0 && hi < SNAPSHOTS && lo <= hi);
        for (long i = lo; i <= hi; i++)
            expected[i] = 1;
        p = *end == ',' ? end + 1 : end;
    }
}

static void set_within(dbmgmt_retention *r, int32_t which, const char *duration)
{
    if (duration)
        assert_int_equal(dbmgmt_retention_set_within(r, which, duration), DBMGMT_OK);
}

static dbmgmt_retention *policy_make(const policy_case *c)
{
    dbmgmt_retention *r = NULL;
    assert_int_equal(dbmgmt_retention_new(&r), DBMGMT_OK);
    assert_int_equal(dbmgmt_retention_set_keep(r, DBMGMT_KEEP_LAST, c->last), DBMGMT_OK);
    assert_int_equal(dbmgmt_retention_set_keep(r, DBMGMT_KEEP_HOURLY, c->hourly), DBMGMT_OK);
    assert_int_equal(dbmgmt_retention_set_keep(r, DBMGMT_KEEP_DAILY, c->daily), DBMGMT_OK);
    assert_int_equal(dbmgmt_retention_set_keep(r, DBMGMT_KEEP_WEEKLY, c->weekly), DBMGMT_OK);
    assert_int_equal(dbmgmt_retention_set_keep(r, DBMGMT_KEEP_MONTHLY, c->monthly), DBMGMT_OK);
    assert_int_equal(dbmgmt_retention_set_keep(r, DBMGMT_KEEP_YEARLY, c->yearly), DBMGMT_OK);
    set_within(r, -1, c->within);
    set_within(r, DBMGMT_KEEP_HOURLY, c->within_hourly);
    set_within(r, DBMGMT_KEEP_DAILY, c->within_daily);
    set_within(r, DBMGMT_KEEP_WEEKLY, c->within_weekly);
    set_within(r, DBMGMT_KEEP_MONTHLY, c->within_monthly);
    set_within(r, DBMGMT_KEEP_YEARLY, c->within_yearly);
    return r;
}

/* Applies c to the snapshots rotated by shift (snapshot j at position
 * j - shift): the decisions must follow the snapshots, not their positions.
 * A rotation by 37 keeps every same-second tie in its order. */
static void check_policy(const policy_case *c, const int64_t *times, size_t shift)
{
    int64_t rotated[SNAPSHOTS];
    uint8_t keep[SNAPSHOTS], expected[SNAPSHOTS];
    for (size_t i = 0; i < SNAPSHOTS; i++)
        rotated[i] = times[(i + shift) % SNAPSHOTS];
    dbmgmt_retention *r = policy_make(c);
    expand_indexes(c->kept, expected);
    assert_int_equal(dbmgmt_retention_apply(r, rotated, SNAPSHOTS, keep), DBMGMT_OK);
    for (size_t i = 0; i < SNAPSHOTS; i++) {
        size_t snap = (i + shift) % SNAPSHOTS;
        const char *why = dbmgmt_retention_reasons(r, i);
        assert_non_null(why);
        if (keep[i] != expected[snap])
            fail_msg("%s: snapshot %zu (%s) %s, expected %s", c->name, snap, snapshot_times[snap],
                     keep[i] ? "kept" : "removed", expected[snap] ? "kept" : "removed");
        /* Every decision carries its reasons: a kept snapshot has some, a
         * removed one none. */
        assert_int_equal(keep[i] != 0, why[0] != '\0');
    }
    for (size_t k = 0; k < 8 && c->reasons[k]; k++) {
        char *end;
        long snap = strtol(c->reasons[k], &end, 10);
        assert_true(*end == '=');
        size_t pos = ((size_t)snap + SNAPSHOTS - shift) % SNAPSHOTS;
        const char *got = dbmgmt_retention_reasons(r, pos);
        if (strcmp(got, end + 1) != 0)
            fail_msg("%s: snapshot %ld reasons \"%s\", expected \"%s\"", c->name, snap, got,
                     end + 1);
    }
    dbmgmt_retention_free(r);
}

static void load_times(int64_t *times)
{
    for (size_t i = 0; i < SNAPSHOTS; i++) {
        times[i] = parse_utc(snapshot_times[i]);
        assert_true(times[i] > 0);
        if (i > 0)
            assert_true(times[i] >= times[i - 1]);
    }
}

static void test_retention_policies_match_hand_derived_keep_sets(void **state)
{
    (void)state;
    int64_t times[SNAPSHOTS];
    load_times(times);
    assert_true(POLICY_COUNT >= 40);
    for (size_t p = 0; p < POLICY_COUNT; p++)
        check_policy(&policies[p], times, 0);
}

static void test_retention_result_does_not_depend_on_input_order(void **state)
{
    (void)state;
    int64_t times[SNAPSHOTS];
    load_times(times);
    for (size_t p = 0; p < POLICY_COUNT; p++)
        check_policy(&policies[p], times, 37);
}

static void test_retention_reversed_input_keeps_same_times(void **state)
{
    (void)state;
    int64_t times[SNAPSHOTS], reversed[SNAPSHOTS];
    uint8_t keep[SNAPSHOTS];
    load_times(times);
    for (size_t i = 0; i < SNAPSHOTS; i++)
        reversed[i] = times[SNAPSHOTS - 1 - i];
    dbmgmt_retention *r = NULL;
    assert_int_equal(dbmgmt_retention_new(&r), DBMGMT_OK);
    assert_int_equal(dbmgmt_retention_set_keep(r, DBMGMT_KEEP_MONTHLY, -1), DBMGMT_OK);
    assert_int_equal(dbmgmt_retention_apply(r, reversed, SNAPSHOTS, keep), DBMGMT_OK);
    /* reversed[104 - i] is snapshot i: the oldest is now the last element. */
    assert_int_equal(keep[104 - 0], 1);
    assert_string_equal(dbmgmt_retention_reasons(r, 104), "oldest monthly snapshot");
    assert_int_equal(keep[104 - 1], 0);
    assert_int_equal(keep[104 - 2], 1);
    assert_int_equal(keep[0], 1);
    assert_string_equal(dbmgmt_retention_reasons(r, 0), "monthly snapshot");
    dbmgmt_retention_free(r);
}

static void test_retention_single_and_empty_inputs(void **state)
{
    (void)state;
    dbmgmt_retention *r = NULL;
    uint8_t keep[1] = {9};
    int64_t t = 1700000000;
    assert_int_equal(dbmgmt_retention_new(&r), DBMGMT_OK);
    assert_int_equal(dbmgmt_retention_set_keep(r, DBMGMT_KEEP_DAILY, 3), DBMGMT_OK);
    assert_int_equal(dbmgmt_retention_apply(r, NULL, 0, NULL), DBMGMT_OK);
    assert_null(dbmgmt_retention_reasons(r, 0));
    assert_int_equal(dbmgmt_retention_apply(r, &t, 1, keep), DBMGMT_OK);
    assert_int_equal(keep[0], 1);
    assert_string_equal(dbmgmt_retention_reasons(r, 0), "daily snapshot");
    dbmgmt_retention_free(r);
}

static void test_retention_rejects_misuse(void **state)
{
    (void)state;
    dbmgmt_retention *r = NULL;
    uint8_t keep[1];
    int64_t t = 0;
    assert_int_equal(dbmgmt_retention_new(NULL), DBMGMT_ERR_INVALID);
    assert_int_equal(dbmgmt_retention_new(&r), DBMGMT_OK);
    assert_int_equal(dbmgmt_retention_set_keep(NULL, DBMGMT_KEEP_LAST, 1), DBMGMT_ERR_INVALID);
    assert_int_equal(dbmgmt_retention_set_keep(r, (dbmgmt_keep)6, 1), DBMGMT_ERR_INVALID);
    assert_int_equal(dbmgmt_retention_set_keep(r, (dbmgmt_keep)-1, 1), DBMGMT_ERR_INVALID);
    assert_int_equal(dbmgmt_retention_set_keep(r, DBMGMT_KEEP_DAILY, -2), DBMGMT_ERR_INVALID);
    assert_int_equal(dbmgmt_retention_set_within(r, DBMGMT_KEEP_LAST, "1d"), DBMGMT_ERR_INVALID);
    assert_int_equal(dbmgmt_retention_set_within(r, 6, "1d"), DBMGMT_ERR_INVALID);
    assert_int_equal(dbmgmt_retention_set_within(NULL, -1, "1d"), DBMGMT_ERR_INVALID);
    assert_int_equal(dbmgmt_retention_apply(NULL, &t, 1, keep), DBMGMT_ERR_INVALID);
    assert_int_equal(dbmgmt_retention_apply(r, NULL, 1, keep), DBMGMT_ERR_INVALID);
    assert_int_equal(dbmgmt_retention_apply(r, &t, 1, NULL), DBMGMT_ERR_INVALID);
    t = INT64_MAX;
    assert_int_equal(dbmgmt_retention_apply(r, &t, 1, keep), DBMGMT_ERR_INVALID);
    assert_null(dbmgmt_retention_reasons(NULL, 0));
    dbmgmt_retention_free(r);
    dbmgmt_retention_free(NULL);
}

typedef struct bad_duration {
    const char *text;
    const char *message;
} bad_duration;

static void test_retention_bad_durations_are_named(void **state)
{
    (void)state;
    static const bad_duration cases[] = {
        {"d", "duration \"d\": at character 1: expected a number (durations look like 1y2m3d4h)"},
        {"5", "duration \"5\": at character 2: missing unit after 5 (y, m, d or h)"},
        {"1w", "duration \"1w\": at character 2: unknown unit 'w' (y, m, d or h)"},
        {"1d2d", "duration \"1d2d\": at character 4: unit 'd' given twice"},
        {"1y 2m", "duration \"1y 2m\": at character 3: expected a number (durations look like 1y2m3d4h)"},
        {"-1d", "duration \"-1d\": at character 1: expected a number (durations look like 1y2m3d4h)"},
        {"1000000d", "duration \"1000000d\": at character 1: number too large (at most 100000)"},
        {"3M", "duration \"3M\": at character 2: unknown unit 'M' (y, m, d or h)"},
    };
    dbmgmt_retention *r = NULL;
    assert_int_equal(dbmgmt_retention_new(&r), DBMGMT_OK);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        assert_int_equal(dbmgmt_retention_set_within(r, -1, cases[i].text), DBMGMT_ERR_PARSE);
        assert_string_equal(dbmgmt_errmsg(), cases[i].message);
    }
    /* A failed setter leaves the rule as it was. */
    assert_int_equal(dbmgmt_retention_set_within(r, DBMGMT_KEEP_DAILY, "4h3d2m1y"), DBMGMT_OK);
    int64_t t[2] = {1700000000, 1700000000 - 3600};
    uint8_t keep[2];
    assert_int_equal(dbmgmt_retention_set_within(r, DBMGMT_KEEP_DAILY, "x"), DBMGMT_ERR_PARSE);
    assert_int_equal(dbmgmt_retention_apply(r, t, 2, keep), DBMGMT_OK);
    assert_string_equal(dbmgmt_retention_reasons(r, 0), "daily within 1y2m3d4h");
    dbmgmt_retention_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_retention_policies_match_hand_derived_keep_sets),
        cmocka_unit_test(test_retention_result_does_not_depend_on_input_order),
        cmocka_unit_test(test_retention_reversed_input_keeps_same_times),
        cmocka_unit_test(test_retention_single_and_empty_inputs),
        cmocka_unit_test(test_retention_rejects_misuse),
        cmocka_unit_test(test_retention_bad_durations_are_named),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
