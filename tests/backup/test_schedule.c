/*
 * Cron schedules: next fire times worked out by hand with a calendar
 * (2024-01-01 is a Monday, 2024 and 2028 are leap years, 2100 is not), in
 * UTC and in fixed offsets, and malformed expressions with the exact message
 * each gets.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "backup/schedule.h"
#include "dbmgmt/backup.h"

/* "YYYY-MM-DDTHH:MM:SSZ" as Unix seconds; "never" is -1. */
static int64_t parse_utc(const char *s)
{
    int y, mo, d, h, mi, se;
    if (strcmp(s, "never") == 0)
        return -1;
    if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2dZ", &y, &mo, &d, &h, &mi, &se) != 6)
        fail_msg("bad time in the table: %s", s);
    return dm_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se;
}

typedef struct next_case {
    const char *expr;
    const char *after;  /* UTC */
    int32_t offset_s;   /* the schedule's fixed UTC offset */
    const char *next;   /* UTC, or "never" */
} next_case;

#define H 3600
static const next_case next_cases[] = {
    /* Basics: strictly after, minute and hour boundaries. */
    {"* * * * *", "2024-01-01T00:00:00Z", 0, "2024-01-01T00:01:00Z"},
    {"* * * * *", "2024-01-01T00:00:30Z", 0, "2024-01-01T00:01:00Z"},
    {"* * * * *", "2024-12-31T23:59:59Z", 0, "2025-01-01T00:00:00Z"},
    {"0 * * * *", "2024-01-01T00:00:00Z", 0, "2024-01-01T01:00:00Z"},
    {"0 * * * *", "2024-01-01T00:59:59Z", 0, "2024-01-01T01:00:00Z"},
    {"30 * * * *", "2024-01-01T00:30:00Z", 0, "2024-01-01T01:30:00Z"},
    {"30 * * * *", "2024-01-01T00:29:59Z", 0, "2024-01-01T00:30:00Z"},
    {"0 0 * * *", "2024-01-01T00:00:00Z", 0, "2024-01-02T00:00:00Z"},
    {"0 0 * * *", "2024-02-28T12:00:00Z", 0, "2024-02-29T00:00:00Z"},
    {"0 0 * * *", "2023-02-28T12:00:00Z", 0, "2023-03-01T00:00:00Z"},
    {"0 0 * * *", "2024-01-01T23:59:59Z", 0, "2024-01-02T00:00:00Z"},
    {"59 23 * * *", "2024-12-31T23:59:00Z", 0, "2025-01-01T23:59:00Z"},
    {"59 23 31 12 *", "2024-12-31T23:59:00Z", 0, "2025-12-31T23:59:00Z"},
    {"0 12 * * *", "2024-06-15T11:59:59Z", 0, "2024-06-15T12:00:00Z"},
    {"15 14 1 * *", "2024-01-01T14:15:00Z", 0, "2024-02-01T14:15:00Z"},
    {"0 22 * * 1-5", "2024-01-05T22:00:00Z", 0, "2024-01-08T22:00:00Z"},
    {"23 0-20/2 * * *", "2024-01-01T00:23:00Z", 0, "2024-01-01T02:23:00Z"},
    {"23 0-20/2 * * *", "2024-01-01T20:23:00Z", 0, "2024-01-02T00:23:00Z"},
    {"5 4 * * sun", "2024-01-01T00:00:00Z", 0, "2024-01-07T04:05:00Z"},
    {"0 0,12 1 */2 *", "2024-01-01T00:00:00Z", 0, "2024-01-01T12:00:00Z"},
    {"0 0,12 1 */2 *", "2024-01-01T12:00:00Z", 0, "2024-03-01T00:00:00Z"},
    {"0 4 8-14 * *", "2024-01-14T04:00:00Z", 0, "2024-02-08T04:00:00Z"},
    {"0-5 * * * *", "2024-01-01T00:05:00Z", 0, "2024-01-01T01:00:00Z"},
    {"0-5 * * * *", "2024-01-01T00:02:30Z", 0, "2024-01-01T00:03:00Z"},
    {"58-59 23 * * *", "2024-01-01T23:59:00Z", 0, "2024-01-02T23:58:00Z"},
    {"1,2,3 4,5 * * *", "2024-01-01T05:03:00Z", 0, "2024-01-02T04:01:00Z"},
    {"1,2,3 4,5 * * *", "2024-01-01T04:03:00Z", 0, "2024-01-01T05:01:00Z"},
    {"  0   0 *\t* *  ", "2024-01-01T00:00:00Z", 0, "2024-01-02T00:00:00Z"},
    /* Day of month and day of week: OR when both are restricted. */
    {"0 0 1,15 * 3", "2024-01-01T00:00:00Z", 0, "2024-01-03T00:00:00Z"},
    {"0 0 1,15 * 3", "2024-01-03T00:00:00Z", 0, "2024-01-10T00:00:00Z"},
    {"0 0 1,15 * 3", "2024-01-12T00:00:00Z", 0, "2024-01-15T00:00:00Z"},
    {"0 0 13 * fri", "2024-01-01T00:00:00Z", 0, "2024-01-05T00:00:00Z"},
    {"0 0 13 * fri", "2024-01-12T00:00:00Z", 0, "2024-01-13T00:00:00Z"},
    {"0 0 13 * fri", "2024-01-13T00:00:00Z", 0, "2024-01-19T00:00:00Z"},
    {"0 0 1-7 * 1", "2024-01-08T00:00:00Z", 0, "2024-01-15T00:00:00Z"},
    {"0 0 1-7 * 1", "2024-01-31T00:00:00Z", 0, "2024-02-01T00:00:00Z"},
    {"0 0 1-31/2 * 1", "2024-01-07T00:00:00Z", 0, "2024-01-08T00:00:00Z"},
    {"0 0 1 1 3", "2024-01-01T00:00:00Z", 0, "2024-01-03T00:00:00Z"},
    {"0 0 1 1 3", "2024-01-31T00:00:00Z", 0, "2025-01-01T00:00:00Z"},
    {"0 0 29 2 1", "2024-02-26T00:00:00Z", 0, "2024-02-29T00:00:00Z"},
    {"0 0 29 2 1", "2024-02-29T00:00:00Z", 0, "2025-02-03T00:00:00Z"},
    {"0 0 30 2 mon", "2024-01-01T00:00:00Z", 0, "2024-02-05T00:00:00Z"},
    /* ... and AND when either starts with '*' (also "*" with a step). */
    {"0 0 * * 3", "2024-01-01T00:00:00Z", 0, "2024-01-03T00:00:00Z"},
    {"0 0 */2 * 1", "2024-01-01T00:00:00Z", 0, "2024-01-15T00:00:00Z"},
    {"0 0 */2 * 1", "2024-01-15T00:00:00Z", 0, "2024-01-29T00:00:00Z"},
    {"0 0 * 1 1", "2024-01-29T00:00:00Z", 0, "2025-01-06T00:00:00Z"},
    {"0 0 */31 2 1", "2024-01-01T00:00:00Z", 0, "2027-02-01T00:00:00Z"},
    {"0 0 1-31/2 * *", "2024-01-31T00:00:00Z", 0, "2024-02-01T00:00:00Z"},
    /* Month ends. */
    {"0 0 1 * *", "2024-01-01T00:00:00Z", 0, "2024-02-01T00:00:00Z"},
    {"0 0 1 * *", "2024-12-15T00:00:00Z", 0, "2025-01-01T00:00:00Z"},
    {"0 0 31 * *", "2024-01-31T00:00:00Z", 0, "2024-03-31T00:00:00Z"},
    {"0 0 31 * *", "2024-03-31T00:00:00Z", 0, "2024-05-31T00:00:00Z"},
    {"0 0 31 * *", "2024-08-31T00:00:00Z", 0, "2024-10-31T00:00:00Z"},
    {"0 0 31 * *", "2024-10-31T00:00:00Z", 0, "2024-12-31T00:00:00Z"},
    {"0 0 30 * *", "2024-01-30T00:00:00Z", 0, "2024-03-30T00:00:00Z"},
    {"0 0 29 * *", "2023-01-29T00:00:00Z", 0, "2023-03-29T00:00:00Z"},
    {"0 0 29 * *", "2024-01-29T00:00:00Z", 0, "2024-02-29T00:00:00Z"},
    {"59 23 28-31 * *", "2024-02-28T23:59:00Z", 0, "2024-02-29T23:59:00Z"},
    {"59 23 28-31 * *", "2024-02-29T23:59:00Z", 0, "2024-03-28T23:59:00Z"},
    {"59 23 28-31 * *", "2023-02-28T23:59:00Z", 0, "2023-03-28T23:59:00Z"},
    {"0 0 1,15,31 * *", "2024-02-15T00:00:00Z", 0, "2024-03-01T00:00:00Z"},
    {"0 0 1,15,31 * *", "2024-03-15T00:00:00Z", 0, "2024-03-31T00:00:00Z"},
    {"0 0 1 3 *", "2024-02-29T12:00:00Z", 0, "2024-03-01T00:00:00Z"},
    {"0 0 * 2 *", "2023-02-28T00:00:00Z", 0, "2024-02-01T00:00:00Z"},
    {"0 0 * 2 *", "2024-02-28T00:00:00Z", 0, "2024-02-29T00:00:00Z"},
    /* Leap years. */
    {"0 0 29 2 *", "2024-01-01T00:00:00Z", 0, "2024-02-29T00:00:00Z"},
    {"0 0 29 2 *", "2024-02-29T00:00:00Z", 0, "2028-02-29T00:00:00Z"},
    {"0 0 29 2 *", "2096-03-01T00:00:00Z", 0, "2104-02-29T00:00:00Z"},
    {"0 0 29 2 *", "2097-01-01T00:00:00Z", 0, "2104-02-29T00:00:00Z"},
    {"0 0 29 2 *", "2000-01-01T00:00:00Z", 0, "2000-02-29T00:00:00Z"},
    {"0 0 29 2 *", "2400-01-01T00:00:00Z", 0, "2400-02-29T00:00:00Z"},
    {"0 12 29 2 *", "2100-01-01T00:00:00Z", 0, "2104-02-29T12:00:00Z"},
    {"0 0 28 2 *", "2024-02-28T00:00:00Z", 0, "2025-02-28T00:00:00Z"},
    {"0 0 * * *", "1960-02-28T12:00:00Z", 0, "1960-02-29T00:00:00Z"},
    /* Never. */
    {"0 0 30 2 *", "2024-01-01T00:00:00Z", 0, "never"},
    {"0 0 31 2 *", "2024-01-01T00:00:00Z", 0, "never"},
    {"0 0 31 4,6,9,11 *", "2024-01-01T00:00:00Z", 0, "never"},
    {"0 0 31 2,4 *", "2024-01-01T00:00:00Z", 0, "never"},
    {"0 0 30,31 2 *", "2024-01-01T00:00:00Z", 0, "never"},
    {"0 0 30 2 */7", "2024-01-01T00:00:00Z", 0, "never"},
    {"0 0 30-31 feb *", "2024-01-01T00:00:00Z", 3600, "never"},
    /* Macros. */
    {"@yearly", "2024-06-01T00:00:00Z", 0, "2025-01-01T00:00:00Z"},
    {"@annually", "2024-01-01T00:00:00Z", 0, "2025-01-01T00:00:00Z"},
    {"@monthly", "2024-01-31T23:59:59Z", 0, "2024-02-01T00:00:00Z"},
    {"@weekly", "2024-01-01T00:00:00Z", 0, "2024-01-07T00:00:00Z"},
    {"@weekly", "2024-01-07T00:00:00Z", 0, "2024-01-14T00:00:00Z"},
    {"@daily", "2024-02-28T23:59:59Z", 0, "2024-02-29T00:00:00Z"},
    {"@midnight", "2024-02-29T00:00:00Z", 0, "2024-03-01T00:00:00Z"},
    {"@hourly", "2024-01-01T10:00:00Z", 0, "2024-01-01T11:00:00Z"},
    {"@HOURLY", "2024-01-01T10:30:00Z", 0, "2024-01-01T11:00:00Z"},
    {"  @daily  ", "2024-01-01T10:30:00Z", 0, "2024-01-02T00:00:00Z"},
    {"@yearly", "2024-12-31T22:59:59Z", 1 * H, "2024-12-31T23:00:00Z"},
    {"@yearly", "2024-12-31T23:00:00Z", 1 * H, "2025-12-31T23:00:00Z"},
    {"@weekly", "2024-01-05T10:00:00Z", -5 * H, "2024-01-07T05:00:00Z"},
    /* Steps. */
    {"*/15 * * * *", "2024-01-01T00:14:59Z", 0, "2024-01-01T00:15:00Z"},
    {"*/15 * * * *", "2024-01-01T00:45:00Z", 0, "2024-01-01T01:00:00Z"},
    {"*/7 * * * *", "2024-01-01T00:56:00Z", 0, "2024-01-01T01:00:00Z"},
    {"*/7 * * * *", "2024-01-01T00:50:00Z", 0, "2024-01-01T00:56:00Z"},
    {"5/15 * * * *", "2024-01-01T00:50:00Z", 0, "2024-01-01T01:05:00Z"},
    {"5/15 * * * *", "2024-01-01T00:21:00Z", 0, "2024-01-01T00:35:00Z"},
    {"10-20/5 * * * *", "2024-01-01T00:20:00Z", 0, "2024-01-01T01:10:00Z"},
    {"10-20/5 * * * *", "2024-01-01T00:11:00Z", 0, "2024-01-01T00:15:00Z"},
    {"0 */6 * * *", "2024-01-01T18:00:00Z", 0, "2024-01-02T00:00:00Z"},
    {"0 */5 * * *", "2024-01-01T20:00:00Z", 0, "2024-01-02T00:00:00Z"},
    {"0 1/5 * * *", "2024-01-01T21:00:00Z", 0, "2024-01-02T01:00:00Z"},
    {"0 0 */10 * *", "2024-01-21T00:00:00Z", 0, "2024-01-31T00:00:00Z"},
    {"0 0 */10 * *", "2024-02-21T00:00:00Z", 0, "2024-03-01T00:00:00Z"},
    {"0 0 */10 * *", "2024-04-21T00:00:00Z", 0, "2024-05-01T00:00:00Z"},
    {"0 0 1 */3 *", "2024-01-01T00:00:00Z", 0, "2024-04-01T00:00:00Z"},
    {"0 0 1 2/3 *", "2024-11-01T00:00:00Z", 0, "2025-02-01T00:00:00Z"},
    {"0 0 * * */2", "2024-01-01T00:00:00Z", 0, "2024-01-02T00:00:00Z"},
    {"0 0 * * 1-7/2", "2024-01-05T00:00:00Z", 0, "2024-01-07T00:00:00Z"},
    {"*/60 * * * *", "2024-01-01T00:00:00Z", 0, "2024-01-01T01:00:00Z"},
    {"*/59 * * * *", "2024-01-01T00:00:00Z", 0, "2024-01-01T00:59:00Z"},
    {"0 */24 * * *", "2024-01-01T00:00:00Z", 0, "2024-01-02T00:00:00Z"},
    {"0 0 */31 * *", "2024-01-01T00:00:00Z", 0, "2024-02-01T00:00:00Z"},
    {"0 0 * */12 *", "2024-01-01T00:00:00Z", 0, "2024-01-02T00:00:00Z"},
    {"0 0 * * */8", "2024-01-01T00:00:00Z", 0, "2024-01-07T00:00:00Z"},
    /* Day and month names, 7 = Sunday. */
    {"0 0 * * 7", "2024-01-01T00:00:00Z", 0, "2024-01-07T00:00:00Z"},
    {"0 0 * * 0", "2024-01-01T00:00:00Z", 0, "2024-01-07T00:00:00Z"},
    {"0 0 * * 0,7", "2024-01-01T00:00:00Z", 0, "2024-01-07T00:00:00Z"},
    {"0 0 * * 5-7", "2024-01-07T00:00:00Z", 0, "2024-01-12T00:00:00Z"},
    {"0 0 * * sat,sun", "2024-01-01T00:00:00Z", 0, "2024-01-06T00:00:00Z"},
    {"0 0 * * MON-FRI", "2024-01-05T00:00:00Z", 0, "2024-01-08T00:00:00Z"},
    {"0 0 * * Fri", "2024-01-01T00:00:00Z", 0, "2024-01-05T00:00:00Z"},
    {"0 0 * * tue", "2024-01-01T00:00:00Z", 0, "2024-01-02T00:00:00Z"},
    {"0 0 * * wed", "2024-01-01T00:00:00Z", 0, "2024-01-03T00:00:00Z"},
    {"0 0 * * thu", "2024-01-01T00:00:00Z", 0, "2024-01-04T00:00:00Z"},
    {"0 0 * * sat", "2024-01-01T00:00:00Z", 0, "2024-01-06T00:00:00Z"},
    {"0 0 * * mon", "2024-01-01T00:00:00Z", 0, "2024-01-08T00:00:00Z"},
    {"0 0 * * 1,sun", "2024-01-01T00:00:00Z", 0, "2024-01-07T00:00:00Z"},
    {"0 0 * * thu-7", "2024-01-01T00:00:00Z", 0, "2024-01-04T00:00:00Z"},
    {"0 0 1 jan *", "2024-01-01T00:00:00Z", 0, "2025-01-01T00:00:00Z"},
    {"0 0 1 Jan *", "2024-06-01T00:00:00Z", 0, "2025-01-01T00:00:00Z"},
    {"0 0 1 feb *", "2024-01-01T00:00:00Z", 0, "2024-02-01T00:00:00Z"},
    {"0 0 1 mar *", "2024-01-01T00:00:00Z", 0, "2024-03-01T00:00:00Z"},
    {"0 0 1 apr *", "2024-01-01T00:00:00Z", 0, "2024-04-01T00:00:00Z"},
    {"0 0 1 may *", "2024-01-01T00:00:00Z", 0, "2024-05-01T00:00:00Z"},
    {"0 0 1 jun *", "2024-01-01T00:00:00Z", 0, "2024-06-01T00:00:00Z"},
    {"0 0 1 jul *", "2024-01-01T00:00:00Z", 0, "2024-07-01T00:00:00Z"},
    {"0 0 1 aug *", "2024-01-01T00:00:00Z", 0, "2024-08-01T00:00:00Z"},
    {"0 0 1 sep *", "2024-01-01T00:00:00Z", 0, "2024-09-01T00:00:00Z"},
    {"0 0 1 oct *", "2024-01-01T00:00:00Z", 0, "2024-10-01T00:00:00Z"},
    {"0 0 1 nov *", "2024-01-01T00:00:00Z", 0, "2024-11-01T00:00:00Z"},
    {"0 0 1 DEC *", "2024-01-01T00:00:00Z", 0, "2024-12-01T00:00:00Z"},
    {"0 0 1 dec *", "2024-12-01T00:00:01Z", 0, "2025-12-01T00:00:00Z"},
    {"0 0 1 JAN-MAR *", "2024-03-01T00:00:00Z", 0, "2025-01-01T00:00:00Z"},
    {"0 0 1 jun-aug *", "2024-01-01T00:00:00Z", 0, "2024-06-01T00:00:00Z"},
    {"0 0 1 jan,jul *", "2024-01-01T00:00:00Z", 0, "2024-07-01T00:00:00Z"},
    /* Year ends. */
    {"0 0 * * 1", "2024-12-30T00:00:00Z", 0, "2025-01-06T00:00:00Z"},
    {"0 0 * * 3", "2024-12-31T00:00:00Z", 0, "2025-01-01T00:00:00Z"},
    {"0 0 1 1 *", "1969-06-01T00:00:00Z", 0, "1970-01-01T00:00:00Z"},
    {"0 0 1 1 *", "1899-12-31T00:00:00Z", 0, "1900-01-01T00:00:00Z"},
    {"0 0 1 1 *", "9998-06-01T00:00:00Z", 0, "9999-01-01T00:00:00Z"},
    /* Fixed offsets (seconds east of UTC); results are in UTC. */
    {"0 0 * * *", "2024-01-01T00:00:00Z", 1 * H, "2024-01-01T23:00:00Z"},
    {"0 0 * * *", "2024-01-01T00:00:00Z", -5 * H, "2024-01-01T05:00:00Z"},
    {"0 9 * * 1-5", "2024-01-05T03:30:00Z", 19800, "2024-01-08T03:30:00Z"},
    {"0 9 * * 1-5", "2024-01-05T03:29:59Z", 19800, "2024-01-05T03:30:00Z"},
    {"0 9 * * mon-fri", "2024-01-05T10:00:00Z", 1 * H, "2024-01-08T08:00:00Z"},
    {"30 * * * *", "2024-01-01T00:00:00Z", 19800, "2024-01-01T01:00:00Z"},
    {"0 * * * *", "2024-01-01T00:00:00Z", 20700, "2024-01-01T00:15:00Z"},
    {"0 0 1 * *", "2024-01-31T23:30:00Z", -1 * H, "2024-02-01T01:00:00Z"},
    {"0 0 1 * *", "2024-01-31T23:30:00Z", 1 * H, "2024-02-29T23:00:00Z"},
    {"0 0 29 2 *", "2024-01-01T00:00:00Z", 1 * H, "2024-02-28T23:00:00Z"},
    {"0 0 * * 0", "2024-01-06T10:00:00Z", 14 * H, "2024-01-13T10:00:00Z"},
    {"0 0 * * 0", "2024-01-07T11:59:59Z", -12 * H, "2024-01-07T12:00:00Z"},
    {"0 0 * * *", "2024-01-01T00:00:00Z", 86400, "2024-01-02T00:00:00Z"},
    {"0 0 * * *", "2024-01-01T00:00:00Z", -86400, "2024-01-02T00:00:00Z"},
    {"* * * * *", "2024-01-01T00:00:00Z", 30, "2024-01-01T00:00:30Z"},
    {"0 0 31 12 *", "2024-12-31T00:30:00Z", -1 * H, "2024-12-31T01:00:00Z"},
    {"0 0 1 1 *", "2024-12-31T23:30:00Z", 1 * H, "2025-12-31T23:00:00Z"},
    {"0 0 1 1 *", "2024-12-31T23:30:00Z", -1 * H, "2025-01-01T01:00:00Z"},
};

static void test_schedule_next_matches_hand_worked_times(void **state)
{
    (void)state;
    size_t count = sizeof next_cases / sizeof next_cases[0];
    assert_true(count >= 150);
    for (size_t i = 0; i < count; i++) {
        const next_case *c = &next_cases[i];
        dbmgmt_schedule *s = NULL;
        if (dbmgmt_schedule_parse(&s, c->expr) != DBMGMT_OK)
            fail_msg("\"%s\" does not parse: %s", c->expr, dbmgmt_errmsg());
        int64_t got = dbmgmt_schedule_next(s, parse_utc(c->after), c->offset_s);
        int64_t want = parse_utc(c->next);
        if (got != want)
            fail_msg("\"%s\" after %s (offset %d): got %lld, expected %s (%lld)", c->expr,
                     c->after, (int)c->offset_s, (long long)got, c->next, (long long)want);
        dbmgmt_schedule_free(s);
    }
}

typedef struct bad_case {
    const char *expr;
    const char *message;
} bad_case;

#define FIVE "(expected 5 fields: minute hour day-of-month month day-of-week)"
#define MACROS "(@yearly @annually @monthly @weekly @daily @midnight @hourly)"
static const bad_case bad_cases[] = {
    {"", "cron expression \"\": field 1 (minute) at character 1: missing " FIVE},
    {"   ", "cron expression \"   \": field 1 (minute) at character 4: missing " FIVE},
    {"* * *", "cron expression \"* * *\": field 4 (month) at character 6: missing " FIVE},
    {"* * * *", "cron expression \"* * * *\": field 5 (day-of-week) at character 8: missing " FIVE},
    {"* * * * * *", "cron expression \"* * * * * *\": field 6 at character 11: too many fields "
                    "(expected 5: minute hour day-of-month month day-of-week)"},
    {" 0 0 * * * *", "cron expression \" 0 0 * * * *\": field 6 at character 12: too many fields "
                     "(expected 5: minute hour day-of-month month day-of-week)"},
    {"0 25 * * *", "cron expression \"0 25 * * *\": field 2 (hour) at character 3: "
                   "25 is out of range 0-23"},
    {"60 * * * *", "cron expression \"60 * * * *\": field 1 (minute) at character 1: "
                   "60 is out of range 0-59"},
    {"* * 0 * *", "cron expression \"* * 0 * *\": field 3 (day-of-month) at character 5: "
                  "0 is out of range 1-31"},
    {"* * 32 * *", "cron expression \"* * 32 * *\": field 3 (day-of-month) at character 5: "
                   "32 is out of range 1-31"},
    {"* * * 13 *", "cron expression \"* * * 13 *\": field 4 (month) at character 7: "
                   "13 is out of range 1-12"},
    {"* * * 0 *", "cron expression \"* * * 0 *\": field 4 (month) at character 7: "
                  "0 is out of range 1-12"},
    {"* * * * 8", "cron expression \"* * * * 8\": field 5 (day-of-week) at character 9: "
                  "8 is out of range 0-7"},
    {"0 1-24 * * *", "cron expression \"0 1-24 * * *\": field 2 (hour) at character 5: "
                     "24 is out of range 0-23"},
    {"99999999999999999999 * * * *",
     "cron expression \"99999999999999999999 * * * *\": field 1 (minute) at character 1: "
     "99999999999999999999 is out of range 0-59"},
    {"1,,2 * * * *", "cron expression \"1,,2 * * * *\": field 1 (minute) at character 3: "
                     "empty list item"},
    {"1, * * * *", "cron expression \"1, * * * *\": field 1 (minute) at character 3: "
                   "empty list item"},
    {",1 * * * *", "cron expression \",1 * * * *\": field 1 (minute) at character 1: "
                   "empty list item"},
    {"*/0 * * * *", "cron expression \"*/0 * * * *\": field 1 (minute) at character 3: "
                    "step 0 is out of range 1-60"},
    {"1/0 * * * *", "cron expression \"1/0 * * * *\": field 1 (minute) at character 3: "
                    "step 0 is out of range 1-60"},
    {"* */25 * * *", "cron expression \"* */25 * * *\": field 2 (hour) at character 5: "
                     "step 25 is out of range 1-24"},
    {"*/ * * * *", "cron expression \"*/ * * * *\": field 1 (minute) at character 3: "
                   "missing step after '/'"},
    {"5-1 * * * *", "cron expression \"5-1 * * * *\": field 1 (minute) at character 1: "
                    "range 5-1 is reversed (5 is after 1)"},
    {"* * * * fri-mon", "cron expression \"* * * * fri-mon\": field 5 (day-of-week) at "
                        "character 9: range fri-mon is reversed (5 is after 1)"},
    {"* * * foo *", "cron expression \"* * * foo *\": field 4 (month) at character 7: "
                    "unknown month name \"foo\""},
    {"* * * * funday", "cron expression \"* * * * funday\": field 5 (day-of-week) at "
                       "character 9: unknown day name \"funday\""},
    {"mon * * * *", "cron expression \"mon * * * *\": field 1 (minute) at character 1: "
                    "unexpected character 'm'"},
    {"* * jan * *", "cron expression \"* * jan * *\": field 3 (day-of-month) at character 5: "
                    "unexpected character 'j'"},
    {"5x * * * *", "cron expression \"5x * * * *\": field 1 (minute) at character 2: "
                   "unexpected character 'x'"},
    {"*-5 * * * *", "cron expression \"*-5 * * * *\": field 1 (minute) at character 2: "
                    "unexpected character '-'"},
    {"1- * * * *", "cron expression \"1- * * * *\": field 1 (minute) at character 3: "
                   "expected a value after '-'"},
    {"1-/2 * * * *", "cron expression \"1-/2 * * * *\": field 1 (minute) at character 3: "
                     "expected a value after '-', found '/'"},
    {"1-2-3 * * * *", "cron expression \"1-2-3 * * * *\": field 1 (minute) at character 4: "
                      "unexpected character '-'"},
    {"*/5/2 * * * *", "cron expression \"*/5/2 * * * *\": field 1 (minute) at character 4: "
                      "unexpected character '/'"},
    {"* * * * 1/x", "cron expression \"* * * * 1/x\": field 5 (day-of-week) at character 11: "
                    "unexpected character 'x'"},
    {"** * * * *", "cron expression \"** * * * *\": field 1 (minute) at character 2: "
                   "unexpected character '*'"},
    {"1.5 * * * *", "cron expression \"1.5 * * * *\": field 1 (minute) at character 2: "
                    "unexpected character '.'"},
    {"? * * * *", "cron expression \"? * * * *\": field 1 (minute) at character 1: "
                  "unexpected character '?'"},
    {"/5 * * * *", "cron expression \"/5 * * * *\": field 1 (minute) at character 1: "
                   "unexpected character '/'"},
    {"0 0 * * 1#2", "cron expression \"0 0 * * 1#2\": field 5 (day-of-week) at character 10: "
                    "unexpected character '#'"},
    {"0 0 L * *", "cron expression \"0 0 L * *\": field 3 (day-of-month) at character 5: "
                  "unexpected character 'L'"},
    {"* * * * *\x01", "cron expression \"* * * * *\x01\": field 5 (day-of-week) at character "
                      "10: unexpected character '\\x01'"},
    {"@reboot", "cron expression \"@reboot\": at character 1: @reboot is not a schedule "
                "(it runs once at start-up)"},
    {"@daily x", "cron expression \"@daily x\": at character 8: unexpected text after @daily"},
    {"@fortnightly", "cron expression \"@fortnightly\": at character 1: unknown macro "
                     "\"@fortnightly\" " MACROS},
    {"@", "cron expression \"@\": at character 1: unknown macro \"@\" " MACROS},
};

static void test_schedule_parse_errors_name_field_and_character(void **state)
{
    (void)state;
    size_t count = sizeof bad_cases / sizeof bad_cases[0];
    assert_true(count >= 30);
    for (size_t i = 0; i < count; i++) {
        dbmgmt_schedule *s = (dbmgmt_schedule *)&s; /* must be reset to NULL */
        int status = dbmgmt_schedule_parse(&s, bad_cases[i].expr);
        if (status != DBMGMT_ERR_PARSE)
            fail_msg("\"%s\": status %d, expected DBMGMT_ERR_PARSE", bad_cases[i].expr, status);
        assert_null(s);
        assert_int_equal(dbmgmt_errcode(), DBMGMT_ERR_PARSE);
        if (strcmp(dbmgmt_errmsg(), bad_cases[i].message) != 0)
            fail_msg("got      %s\nexpected %s", dbmgmt_errmsg(), bad_cases[i].message);
    }
}

static void test_schedule_rejects_misuse(void **state)
{
    (void)state;
    dbmgmt_schedule *s = NULL;
    assert_int_equal(dbmgmt_schedule_parse(NULL, "* * * * *"), DBMGMT_ERR_INVALID);
    assert_int_equal(dbmgmt_schedule_parse(&s, NULL), DBMGMT_ERR_INVALID);
    assert_null(s);
    assert_int_equal(dbmgmt_schedule_next(NULL, 0, 0), -1);
    assert_int_equal(dbmgmt_errcode(), DBMGMT_ERR_INVALID);
    assert_int_equal(dbmgmt_schedule_parse(&s, "* * * * *"), DBMGMT_OK);
    assert_int_equal(dbmgmt_schedule_next(s, 0, 86401), -1);
    assert_int_equal(dbmgmt_schedule_next(s, 0, -86401), -1);
    assert_int_equal(dbmgmt_schedule_next(s, INT64_MAX, 0), -1);
    assert_int_equal(dbmgmt_schedule_next(s, INT64_MIN, 0), -1);
    assert_int_equal(dbmgmt_schedule_next(s, 0, 0), 60);
    dbmgmt_schedule_free(s);
    dbmgmt_schedule_free(NULL);
}

/* Walking a schedule forward visits each fire time once, in order, and
 * never skips one: every minute of 2024 checked by brute force against
 * every 20 minutes from 9 to 17 on weekdays gives the same sequence. */
static void test_schedule_walk_agrees_with_minute_scan(void **state)
{
    (void)state;
    dbmgmt_schedule *s = NULL;
    assert_int_equal(dbmgmt_schedule_parse(&s, "*/20 9-17 * * mon-fri"), DBMGMT_OK);
    int64_t t = parse_utc("2024-01-01T00:00:00Z"), end = parse_utc("2025-01-01T00:00:00Z");
    int64_t next = dbmgmt_schedule_next(s, t - 1, 0);
    size_t fired = 0;
    for (int64_t m = t; m < end; m += 60) {
        int64_t day = dm_floor_div(m, 86400);
        int wday = dm_weekday_from_days(day);
        int hour = (int)((m - day * 86400) / 3600), minute = (int)((m % 3600) / 60);
        int due = wday >= 1 && wday <= 5 && hour >= 9 && hour <= 17 && minute % 20 == 0;
        if (due) {
            assert_int_equal(next, m);
            next = dbmgmt_schedule_next(s, m, 0);
            fired++;
        }
    }
    assert_int_equal(fired, 262 * 27); /* 262 weekdays in 2024, 27 times a day */
    dbmgmt_schedule_free(s);
}

static void test_schedule_never_returns_quickly(void **state)
{
    (void)state;
    dbmgmt_schedule *s = NULL;
    assert_int_equal(dbmgmt_schedule_parse(&s, "0 0 31 2 *"), DBMGMT_OK);
    for (int i = 0; i < 100000; i++)
        assert_int_equal(dbmgmt_schedule_next(s, 1700000000 + i * 86400LL, 0), -1);
    dbmgmt_schedule_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_schedule_next_matches_hand_worked_times),
        cmocka_unit_test(test_schedule_parse_errors_name_field_and_character),
        cmocka_unit_test(test_schedule_rejects_misuse),
        cmocka_unit_test(test_schedule_walk_agrees_with_minute_scan),
        cmocka_unit_test(test_schedule_never_returns_quickly),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
