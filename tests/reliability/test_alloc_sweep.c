/*
 * Allocation-failure sweeps of every plugin (see rel_sweep.h): for each
 * operation, every plugin allocation fails in turn until the operation runs
 * unhindered; each run ends in success or a clean error with nothing leaked
 * (bytes, threads, orchestrator objects).
 */
#include "rel_sweep.h"

#include <criterion/criterion.h>
#include <curl/curl.h>

#include <stdio.h>
#include <stdlib.h>

#ifndef REL_SWEEP_CAP
#define REL_SWEEP_CAP 2000
#endif

static void sweep_all(const rel_target *t)
{
    size_t total = 0;
    for (int op = 0; op < REL_OP_COUNT; op++) {
        rel_sweep_result r;
        rel_sweep(t, (rel_op)op, REL_SWEEP_CAP, &r);
        total += r.points;
    }
    printf("alloc-failure sweep: plugin %s, %zu failure points in total, nothing lost\n", t->name,
           total);
}

#ifdef REL_TEST_PLUGIN
/*
 * The process initialises libcurl once, as a host does (the sample host's
 * invoker uses it too): the test plugin's invoke then neither initialises it
 * implicitly nor leaves its global state behind when it is unloaded.
 */
static void curl_up(void)
{
    cr_assert_eq(curl_global_init(CURL_GLOBAL_DEFAULT), CURLE_OK);
}

static void curl_down(void)
{
    curl_global_cleanup();
}

Test(alloc_sweep, test_plugin_survives_every_failed_allocation_of_every_operation, .timeout = 120,
     .init = curl_up, .fini = curl_down)
{
    fcb_function fn;
    fcb_launch_request req;
    rel_default_request(&fn, &req);
    rel_target t = {.name = "test",
                    .plugin_path = REL_TEST_PLUGIN,
                    .request = &req,
                    .prepull_image = "public.ecr.aws/lambda/python:3.12",
                    .instance_threads = 1 /* each instance's runtime thread */};
    sweep_all(&t);
}
#endif

#ifdef REL_TEST_PLUGIN
static void leak_on_close(void *ctx, mock_host *mh)
{
    (void)ctx;
    mock_host_set_config(mh, "FAKECLOUD_TEST_LEAK", "1");
}

/*
 * Proof that the sweep can fail: the test plugin leaks a block in close()
 * when FAKECLOUD_TEST_LEAK=1. Only runs with REL_SELFCHECK=1, from the
 * meson test that expects it to fail (should_fail: true).
 */
Test(alloc_sweep_selfcheck, sweep_reports_a_plugin_that_leaks_on_close)
{
    if (getenv("REL_SELFCHECK") == NULL)
        cr_skip_test("only run by the 'alloc sweep self-check' meson test");
    fcb_function fn;
    fcb_launch_request req;
    rel_default_request(&fn, &req);
    rel_target t = {.name = "test-leaky",
                    .plugin_path = REL_TEST_PLUGIN,
                    .request = &req,
                    .configure = leak_on_close};
    rel_sweep_result r;
    rel_sweep(&t, REL_OP_CLOSE, 10, &r);
}
#endif
