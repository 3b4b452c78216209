/*
 * What the benchmarks that print best and median share: the monotonic
 * clock in seconds, and best / median of a set of runs. Header-only
 * (static inline): each benchmark is one program.
 */
#ifndef DBMGMT_TESTS_BENCH_UTIL_H
#define DBMGMT_TESTS_BENCH_UTIL_H

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

#endif
