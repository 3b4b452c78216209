/*
 * Private to lib/backup: proleptic Gregorian calendar arithmetic on day
 * numbers (days since 1970-01-01), shared by schedule.c and retention.c.
 * Pure functions; no time zone database is ever consulted.
 */
#ifndef DM_BACKUP_SCHEDULE_H
#define DM_BACKUP_SCHEDULE_H

#include <stdint.h>

/* floor(a / b) for b > 0, also for negative a. */
int64_t dm_floor_div(int64_t a, int64_t b);
/* Day number of y-m-d. Month and day may be out of range and are carried
 * (month 13 is January of y+1, day 0 the last day of the previous month),
 * as Go's time.Date normalises, which restic's durations rely on. */
int64_t dm_days_from_civil(int64_t y, int64_t m, int64_t d);
/* The date of a day number. */
void dm_civil_from_days(int64_t days, int64_t *y, int *m, int *d);
/* 0 = Sunday ... 6 = Saturday. */
int dm_weekday_from_days(int64_t days);
/* Days in month m (1..12) of year y. */
int dm_days_in_month(int64_t y, int m);
/* ISO 8601 week-numbering year and week (1..53) of a day number. */
void dm_iso_week(int64_t days, int64_t *iso_year, int *week);

struct dbmgmt_schedule;
/* 1 if s fires at the minute holding unix_s in the fixed UTC offset
 * utc_offset_s (the predicate dbmgmt_schedule_next searches for); for the
 * fuzz target (tests/fuzz/fuzz_cron.c) and tests. */
int dm_schedule_matches(const struct dbmgmt_schedule *s, int64_t unix_s, int32_t utc_offset_s);

#endif
