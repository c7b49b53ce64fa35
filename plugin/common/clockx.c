/* clockx: CLOCK_MONOTONIC in milliseconds. */
#include "clockx.h"

uint64_t clockx_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

uint64_t clockx_after_ms(uint64_t ms)
{
    uint64_t now = clockx_now_ms();
    return ms > UINT64_MAX - now ? UINT64_MAX : now + ms;
}

uint32_t clockx_remaining_ms(uint64_t deadline_ms)
{
    uint64_t now = clockx_now_ms();
    if (now >= deadline_ms)
        return 0;
    uint64_t left = deadline_ms - now;
    return left > UINT32_MAX ? UINT32_MAX : (uint32_t)left;
}

struct timespec clockx_timespec(uint64_t deadline_ms)
{
    /* Far deadlines are capped at ~100 years so tv_sec never overflows. */
    const uint64_t cap = 100ull * 365 * 24 * 3600 * 1000;
    if (deadline_ms > cap)
        deadline_ms = cap;
    struct timespec ts = {.tv_sec = (time_t)(deadline_ms / 1000u),
                          .tv_nsec = (long)((deadline_ms % 1000u) * 1000000u)};
    return ts;
}

int clockx_cond_init(pthread_cond_t *cond)
{
    pthread_condattr_t attr;
    int rc = pthread_condattr_init(&attr);
    if (rc != 0)
        return rc;
    rc = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    if (rc == 0)
        rc = pthread_cond_init(cond, &attr);
    pthread_condattr_destroy(&attr);
    return rc;
}
