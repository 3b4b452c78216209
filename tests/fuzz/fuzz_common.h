/*
 * Shared by the fuzz targets (not by fuzz_split.c, which predates it):
 * CHECK() aborts with the file, line and condition, so libFuzzer records the
 * input as a crash and `meson test` (replay.c) fails on it.
 */
#ifndef DM_FUZZ_COMMON_H
#define DM_FUZZ_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define CHECK(cond)                                                                          \
    do {                                                                                     \
        if (!(cond))                                                                         \
            fuzz_check_failed(__FILE__, #cond, __LINE__);                                    \
    } while (0)

static inline void fuzz_check_failed(const char *file, const char *what, int line)
{
    fprintf(stderr, "%s:%d: invariant failed: %s\n", file, line, what);
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
