/*
 * What the benchmarks share: the monotonic clock in seconds, best / median
 * of a set of runs, and a work folder removed on exit. Header-only (static
 * inline): each benchmark is one program.
 */
#ifndef DBMGMT_TESTS_BENCH_UTIL_H
#define DBMGMT_TESTS_BENCH_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static inline double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static inline int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The median of v[0..n) (sorts v). */
static inline double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

typedef struct timing {
    double best, median;
} timing;

#define BENCH_MAX_RUNS 64

/* Best and median (the upper one of an even count) of n <= BENCH_MAX_RUNS
 * runs, runs left as they are. */
static inline timing summarise_runs(const double *runs, int n)
{
    double v[BENCH_MAX_RUNS];
    memcpy(v, runs, (size_t)n * sizeof *v);
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return (timing){v[0], v[n / 2]};
}

/* The folder bench_remove_on_exit() was given. */
static inline char *bench_work_dir(void)
{
    static char dir[4096];
    return dir;
}

static inline void bench_remove_work_dir(void)
{
    const char *dir = bench_work_dir();
    if (!dir[0])
        return;
    if (getenv("BENCH_KEEP")) { /* to look at afterwards */
        printf("kept %s\n", dir);
        return;
    }
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "bench: could not remove %s\n", dir);
}

/* Removes dir (made by mkdtemp, with no quote in its name) when the
 * program exits, through a return from main or exit() (a failed step's
 * die() too); with BENCH_KEEP set, prints its path instead. Once per
 * program. */
static inline void bench_remove_on_exit(const char *dir)
{
    snprintf(bench_work_dir(), 4096, "%s", dir);
    atexit(bench_remove_work_dir);
}

#endif
