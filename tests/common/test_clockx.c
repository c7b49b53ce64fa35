/* Unit tests of plugin/common/clockx.c: monotonic ms, deadlines, timespecs. */
#include "clockx.h"

#include <criterion/criterion.h>
#include <errno.h>

Test(clockx, now_is_monotonic_and_counts_milliseconds)
{
    uint64_t a = clockx_now_ms();
    struct timespec nap = {0, 20 * 1000 * 1000};
    nanosleep(&nap, NULL);
    uint64_t b = clockx_now_ms();
    cr_assert_geq(b - a, 19, "slept 20 ms, clock moved %llu", (unsigned long long)(b - a));
    cr_assert_lt(b - a, 5000, "does not hang");
}

Test(clockx, remaining_is_zero_once_the_deadline_passed)
{
    cr_assert_eq(clockx_remaining_ms(0), 0);
    cr_assert_eq(clockx_remaining_ms(clockx_now_ms()), 0);
    uint32_t left = clockx_remaining_ms(clockx_after_ms(10000));
    cr_assert(left > 9000 && left <= 10000, "left %u", left);
}

Test(clockx, far_deadlines_saturate_instead_of_wrapping)
{
    cr_assert_eq(clockx_after_ms(UINT64_MAX), UINT64_MAX);
    cr_assert_eq(clockx_remaining_ms(UINT64_MAX), UINT32_MAX);
    struct timespec ts = clockx_timespec(UINT64_MAX);
    cr_assert_gt(ts.tv_sec, 0, "a far deadline stays in the future");
}

Test(clockx, timespec_splits_milliseconds)
{
    struct timespec ts = clockx_timespec(12345);
    cr_assert_eq(ts.tv_sec, 12);
    cr_assert_eq(ts.tv_nsec, 345000000L);
}

Test(clockx, condition_waits_time_out_on_the_monotonic_clock)
{
    pthread_cond_t cond;
    pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    cr_assert_eq(clockx_cond_init(&cond), 0);
    uint64_t start = clockx_now_ms();
    struct timespec until = clockx_timespec(start + 30);
    pthread_mutex_lock(&mu);
    int rc = 0;
    for (int i = 0; i < 100 && rc != ETIMEDOUT; i++)
        rc = pthread_cond_timedwait(&cond, &mu, &until);
    pthread_mutex_unlock(&mu);
    uint64_t waited = clockx_now_ms() - start;
    cr_assert_eq(rc, ETIMEDOUT);
    cr_assert(waited >= 29 && waited < 5000, "waited %llu ms", (unsigned long long)waited);
    pthread_cond_destroy(&cond);
}
