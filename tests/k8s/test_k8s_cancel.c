/*
 * Per-launch cancel (ABI 1.1, FCB_CAP_CANCEL) on kubesim: the launch
 * request's fcb_cancel, fired by another thread while the launch waits for
 * the container to be created or for the runtime to accept,
 * ends that launch with FCB_ERR_CANCELLED promptly (generous bound: under
 * 1 s after firing; the plugin polls at least every 100 ms) and leaves no Pod
 * behind; the backend stays open and launches again; close() then leaves no
 * Secret or Lease. A token fired before the call creates nothing at all.
 */
#include "k8s_itest.h"

#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

static itest t;

static void stop(void)
{
    itest_stop(&t);
}

#define MANAGED "fakecloud-managed-by=fakecloud"

/* Pods of ours, waiting up to 5 s for a deletion to land. */
static int pods_left(void)
{
    int n = itest_count(&t, "pods", "default", MANAGED);
    for (int i = 0; n > 0 && i < 100; i++) {
        itest_sleep_ms(50);
        n = itest_count(&t, "pods", "default", MANAGED);
    }
    return n;
}

/* Launch with a token fired after 300 ms; assert a prompt, clean cancel. */
static void expect_cancelled_launch(const char *phase)
{
    fcb_function fn = itest_zip_function("cancel-fn");
    fcb_launch_request req = itest_request(&fn, "d1");
    itest_cancel c = {0};
    req.cancel = itest_cancel_token(&c);
    fcb_instance inst = {.size = sizeof inst};
    fcb_error err = FCB_ERROR_INIT;
    itest_cancel_start(&c, 300);
    int rc = t.ops->launch(t.backend, &req, &inst, &err);
    double returned = itest_now_ms();
    itest_cancel_join(&c);
    cr_assert_eq(rc, FCB_ERR_CANCELLED, "%s: %s (%s)", phase, fcb_status_name(rc), err.message);
    cr_expect(strstr(err.message, "cancelled by the host") != NULL, "%s: %s", phase, err.message);
    double late = returned - c.fired_at_ms;
    printf("cancel while %s: launch returned %.0f ms after the token fired\n", phase, late);
    cr_expect_lt(late, 1000.0, "%s: returned %.0f ms after the token fired", phase, late);
    cr_expect_gt(atomic_load(&c.polls), 1, "%s: the token was polled", phase);
    cr_expect_eq(pods_left(), 0, "%s: the cancelled launch left a Pod", phase);
}

Test(k8s_cancel, declares_the_capability, .fini = stop, .timeout = 60)
{
    itest_start(&t, "cancel_caps", NULL);
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(itest_open(&t, ITEST_TOKEN, &err), FCB_OK, "open: %s", err.message);
    cr_expect(t.plugin->descriptor->capabilities & FCB_CAP_CANCEL);
    itest_close(&t);
}

Test(k8s_cancel, cancels_while_scheduling_creating_or_waiting_for_the_runtime, .fini = stop,
     .timeout = 120)
{
    itest_start(&t, "cancel_phases", NULL);
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(itest_open(&t, ITEST_TOKEN, &err), FCB_OK, "open: %s", err.message);
    /* The container is not started for longer than the test. */
    itest_set_faults(&t, "{\"latency_ms\": 0, \"boot_ms\": 20000}");
    expect_cancelled_launch("the container is created (ContainerCreating)");
    itest_set_faults(&t, "{\"boot_ms\": 20, \"rie_delay_ms\": 20000}");
    expect_cancelled_launch("the runtime is not listening yet (Running)");
    itest_set_faults(&t, "{\"rie_delay_ms\": 0}");

    /* The backend is still usable: a launch whose token never fires succeeds. */
    fcb_function fn = itest_zip_function("cancel-fn");
    fcb_launch_request req = itest_request(&fn, "d2");
    itest_cancel never = {0};
    req.cancel = itest_cancel_token(&never);
    fcb_instance inst = {.size = sizeof inst};
    cr_assert_eq(t.ops->launch(t.backend, &req, &inst, &err), FCB_OK, "%s", err.message);
    cr_assert_eq(t.ops->terminate(t.backend, inst.handle, &err), FCB_OK, "%s", err.message);
    itest_close(&t);
    cr_expect_eq(itest_count(&t, "pods", "default", MANAGED), 0);
    cr_expect_eq(itest_count(&t, "secrets", "default", MANAGED), 0);
    cr_expect_eq(itest_count(&t, "leases", "default", NULL), 0);
}

Test(k8s_cancel, a_token_fired_before_the_call_creates_nothing, .fini = stop, .timeout = 60)
{
    itest_start(&t, "cancel_before", NULL);
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(itest_open(&t, ITEST_TOKEN, &err), FCB_OK, "open: %s", err.message);
    cr_assert_eq(kubesim_reset_stats(t.sim), 0);
    fcb_function fn = itest_zip_function("cancel-fn");
    fcb_launch_request req = itest_request(&fn, "d1");
    itest_cancel c = {0};
    atomic_store(&c.fired, 1);
    req.cancel = itest_cancel_token(&c);
    fcb_instance inst = {.size = sizeof inst};
    int rc = t.ops->launch(t.backend, &req, &inst, &err);
    cr_assert_eq(rc, FCB_ERR_CANCELLED, "%s (%s)", fcb_status_name(rc), err.message);
    cr_expect_eq(itest_plugin_requests(&t, "create pods"), 0);
    cr_expect_eq(itest_plugin_requests(&t, NULL), 0, "nothing sent at all");
    itest_close(&t);
}
