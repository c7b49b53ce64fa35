/* Unit tests of plugin/common/inflight.c: enter/leave, cancellable waits, close. */
#include "clockx.h"
#include "inflight.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

static inflight t;

static void setup(void)
{
    cr_assert_eq(inflight_init(&t, "test backend", NULL), FCB_OK);
}

static void teardown(void)
{
    inflight_destroy(&t);
}

TestSuite(inflight, .init = setup, .fini = teardown);

typedef struct sleeper {
    uint32_t ms;
    bool full;
    uint64_t took;
} sleeper;

/* One operation that sleeps; close() must cut it short and wait for it. */
static void *sleep_op(void *arg)
{
    sleeper *s = arg;
    uint64_t start = clockx_now_ms();
    if (inflight_enter(&t, "test backend", NULL) != FCB_OK)
        return NULL;
    s->full = inflight_sleep_ms(&t, s->ms);
    s->took = clockx_now_ms() - start;
    inflight_leave(&t);
    return NULL;
}

Test(inflight, sleep_runs_its_full_time_when_nobody_closes)
{
    uint64_t start = clockx_now_ms();
    cr_assert(inflight_sleep_ms(&t, 30));
    uint64_t took = clockx_now_ms() - start;
    cr_assert(took >= 29 && took < 5000, "took %llu ms", (unsigned long long)took);
}

Test(inflight, close_wakes_sleepers_at_once_and_waits_for_every_operation)
{
    enum { N = 4 };
    pthread_t th[N];
    sleeper s[N];
    memset(s, 0, sizeof s);
    for (int i = 0; i < N; i++) {
        s[i].ms = 60000;
        cr_assert_eq(pthread_create(&th[i], NULL, sleep_op, &s[i]), 0);
    }
    /* Let them enter (bounded). */
    for (int i = 0; i < 500; i++) {
        inflight_lock(&t);
        unsigned n = t.count;
        inflight_unlock(&t);
        if (n == N)
            break;
        struct timespec nap = {0, 2000000};
        nanosleep(&nap, NULL);
    }
    uint64_t start = clockx_now_ms();
    inflight_close(&t, NULL, NULL);
    uint64_t took = clockx_now_ms() - start;
    cr_assert_lt(took, 2000, "close took %llu ms: it did not wake the sleepers",
                 (unsigned long long)took);
    cr_assert_eq(t.count, 0, "close returned with operations in flight");
    for (int i = 0; i < N; i++) {
        pthread_join(th[i], NULL);
        cr_assert_not(s[i].full, "sleeper %d slept through close", i);
    }
}

Test(inflight, operations_entering_after_close_are_cancelled)
{
    inflight_close(&t, NULL, NULL);
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(inflight_enter(&t, "test backend", &err), FCB_ERR_CANCELLED);
    cr_assert_str_eq(err.message, "test backend is closing");
    cr_assert(inflight_closing(&t));
    cr_assert_not(inflight_sleep_ms(&t, 10000), "a sleep after close returns at once");
}

/* A backend's own condition, woken by the close hook. */
static pthread_cond_t own;
static bool own_woken;

static void wake_own(void *ctx)
{
    (void)ctx;
    own_woken = true;
    pthread_cond_broadcast(&own);
}

static void *own_wait_op(void *arg)
{
    int *result = arg;
    if (inflight_enter(&t, "test backend", NULL) != FCB_OK)
        return NULL;
    uint64_t deadline = clockx_after_ms(60000);
    inflight_lock(&t);
    int rc = 0;
    for (int i = 0; i < 1000 && !inflight_closing(&t) && rc != ETIMEDOUT; i++)
        rc = inflight_wait(&t, &own, deadline);
    *result = inflight_closing(&t) ? 1 : 2;
    inflight_unlock(&t);
    inflight_leave(&t);
    return NULL;
}

Test(inflight, close_hook_wakes_waits_on_the_backends_own_conditions)
{
    cr_assert_eq(clockx_cond_init(&own), 0);
    int result = 0;
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, own_wait_op, &result), 0);
    for (int i = 0; i < 500; i++) {
        inflight_lock(&t);
        unsigned n = t.count;
        inflight_unlock(&t);
        if (n == 1)
            break;
        struct timespec nap = {0, 2000000};
        nanosleep(&nap, NULL);
    }
    uint64_t start = clockx_now_ms();
    inflight_close(&t, wake_own, NULL);
    cr_assert_lt(clockx_now_ms() - start, 2000, "close did not wake the waiter");
    pthread_join(th, NULL);
    cr_assert(own_woken);
    cr_assert_eq(result, 1, "the waiter saw closing");
    pthread_cond_destroy(&own);
}

Test(inflight, wait_reports_a_passed_deadline)
{
    inflight_lock(&t);
    int rc = inflight_wait(&t, &t.cv, clockx_now_ms());
    uint64_t start = clockx_now_ms();
    int rc2 = 0;
    for (int i = 0; i < 100 && rc2 != ETIMEDOUT; i++)
        rc2 = inflight_wait(&t, &t.cv, start + 20);
    inflight_unlock(&t);
    cr_assert_eq(rc, ETIMEDOUT);
    cr_assert_eq(rc2, ETIMEDOUT);
    cr_assert_geq(clockx_now_ms() - start, 19);
}
