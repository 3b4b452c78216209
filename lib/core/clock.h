/* Monotonic time and sleeping, for timeouts and durations. */
#ifndef DM_CORE_CLOCK_H
#define DM_CORE_CLOCK_H

#include <stdint.h>

/* Milliseconds on CLOCK_MONOTONIC (not wall time: never jumps). */
int64_t dm_monotonic_ms(void);
/* Sleep for ms milliseconds (0 or less: return at once). */
void dm_sleep_ms(int64_t ms);

#endif
