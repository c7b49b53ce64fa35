/*
 * clockx: the one monotonic clock every backend measures deadlines with.
 *
 * Milliseconds since an arbitrary start (CLOCK_MONOTONIC), the absolute
 * timespec pthread_cond_timedwait needs for such a deadline, the time left
 * until one, and a condition variable that waits on the same clock (so a
 * wall-clock step never stretches or cuts a wait). Thread-safe, no state.
 */
#ifndef FCB_PLUGIN_CLOCKX_H
#define FCB_PLUGIN_CLOCKX_H

#include <pthread.h>
#include <stdint.h>
#include <time.h>

/* Now, in ms of CLOCK_MONOTONIC. */
uint64_t clockx_now_ms(void);

/* Deadline MS from now (saturating). */
uint64_t clockx_after_ms(uint64_t ms);

/* Milliseconds left until DEADLINE_MS (0 once passed; at most UINT32_MAX). */
uint32_t clockx_remaining_ms(uint64_t deadline_ms);

/* DEADLINE_MS as an absolute CLOCK_MONOTONIC timespec for clockx_cond waits. */
struct timespec clockx_timespec(uint64_t deadline_ms);

/* Initialise COND to time its waits on CLOCK_MONOTONIC; 0 or an errno value. */
int clockx_cond_init(pthread_cond_t *cond);

#endif
