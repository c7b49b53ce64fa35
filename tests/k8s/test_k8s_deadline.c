/*
 * A launch request's deadline_ms bounds the whole launch (backend_plugin.h),
 * including the lazy start the first launch does (the token Secret), and a
 * Secret create that timed out but landed later does not break later launches.
 */
#include "k8s_itest.h"

#include <criterion/criterion.h>
#include <string.h>
#include <unistd.h>

static itest t;

static void stop(void)
{
    itest_stop(&t);
}

Test(k8s_deadline, bounds_the_first_launch_s_token_secret_create, .fini = stop, .timeout = 60)
{
    itest_start(&t, "deadline_secret", NULL);
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(itest_open(&t, ITEST_TOKEN, &err), FCB_OK, "open: %s", err.message);
    /* The Secret's create answers after 3 s (and is stored then); the launch has 500 ms. */
    itest_set_faults(
        &t, "{\"latency_ms\":3000,\"fail_paths\":\"^POST /api/v1/namespaces/[^/]+/secrets\"}");
    fcb_function fn = itest_zip_function("deadline");
    fcb_launch_request req = itest_request(&fn, "d1");
    req.deadline_ms = 500;
    fcb_instance inst = {.size = sizeof inst};
    double t0 = itest_now_ms();
    int rc = t.ops->launch(t.backend, &req, &inst, &err);
    double took = itest_now_ms() - t0;
    printf("launch with deadline_ms=500 and a 3 s Secret create: %s in %.0f ms: %s\n",
           fcb_status_name(rc), took, err.message);
    cr_assert_eq(rc, FCB_ERR_TIMEOUT, "%s: %s", fcb_status_name(rc), err.message);
    cr_assert_lt(took, 2000.0, "a launch with deadline_ms=500 took %.0f ms", took);
    cr_assert_eq(itest_count(&t, "pods", "default", "fakecloud-managed-by=fakecloud"), 0);

    /* The slow create lands after the launch gave up; the next launch must not trip on it. */
    usleep(3500 * 1000);
    itest_set_faults(&t, "{\"latency_ms\":0,\"fail_paths\":\"\"}");
    req.deadline_ms = 0;
    rc = t.ops->launch(t.backend, &req, &inst, &err);
    cr_assert_eq(rc, FCB_OK, "launch after the Secret landed: %s", err.message);
    cr_assert_eq(t.ops->terminate(t.backend, inst.handle, &err), FCB_OK, "%s", err.message);
    itest_close(&t);
    cr_assert_eq(itest_count(&t, "secrets", "default", "fakecloud-managed-by=fakecloud"), 0,
                 "close deletes the Secret");
}
