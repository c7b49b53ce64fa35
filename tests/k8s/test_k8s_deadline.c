/*
 * A launch request's deadline_ms bounds the whole launch (backend_plugin.h),
 * including the lazy start the first launch does (the token Secret), and a
 * Secret create that timed out but landed later does not break later launches.
 */
#include "k8s_itest.h"

#include <criterion/criterion.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static itest t;

static void stop(void)
{
    itest_stop(&t);
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static void set_faults(const char *json)
{
    int rc = kubesim_set_faults(t.sim, json);
    cr_assert(rc == 0 || rc == 200, "faults %s: %d %s", json, rc, kubesim_last_error());
}

Test(k8s_deadline, bounds_the_first_launch_s_token_secret_create, .fini = stop, .timeout = 60)
{
    itest_start(&t, "deadline_secret", NULL);
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(itest_open(&t, ITEST_TOKEN, &err), FCB_OK, "open: %s", err.message);
    /* The Secret's create answers after 3 s (and is stored then); the launch has 500 ms. */
    set_faults("{\"latency_ms\":3000,\"fail_paths\":\"^POST /api/v1/namespaces/[^/]+/secrets\"}");
    fcb_function fn = itest_zip_function("deadline");
    fcb_launch_request req = itest_request(&fn, "d1");
    req.deadline_ms = 500;
    fcb_instance inst = {.size = sizeof inst};
    double t0 = now_ms();
    int rc = t.ops->launch(t.backend, &req, &inst, &err);
    double took = now_ms() - t0;
    printf("launch with deadline_ms=500 and a 3 s Secret create: %s in %.0f ms: %s\n",
           fcb_status_name(rc), took, err.message);
    cr_assert_eq(rc, FCB_ERR_TIMEOUT, "%s: %s", fcb_status_name(rc), err.message);
    cr_assert_lt(took, 2000.0, "a launch with deadline_ms=500 took %.0f ms", took);
    cr_assert_eq(itest_count(&t, "pods", "default", "fakecloud-managed-by=fakecloud"), 0);

    /* The slow create lands after the launch gave up; the next launch must not trip on it. */
    usleep(3500 * 1000);
    set_faults("{\"latency_ms\":0,\"fail_paths\":\"\"}");
    req.deadline_ms = 0;
    rc = t.ops->launch(t.backend, &req, &inst, &err);
    cr_assert_eq(rc, FCB_OK, "launch after the Secret landed: %s", err.message);
    cr_assert_eq(t.ops->terminate(t.backend, inst.handle, &err), FCB_OK, "%s", err.message);
    itest_close(&t);
    cr_assert_eq(itest_count(&t, "secrets", "default", "fakecloud-managed-by=fakecloud"), 0,
                 "close deletes the Secret");
}
