/*
 * Integration tests: an object the backend named and created is deleted when
 * the create's 2xx answer is unreadable (not JSON, or over the response
 * limit): the launch or prepull fails cleanly and nothing is left behind
 * (kubesim faults create_garbage / create_oversize store the object first).
 */
#include "k8s_itest.h"

#include <criterion/criterion.h>
#include <string.h>

static itest t;

static void stop(void)
{
    itest_stop(&t);
}

static void set_faults(const char *json)
{
    int rc = kubesim_set_faults(t.sim, json);
    cr_assert(rc == 0 || rc == 200, "faults %s: %d %s", json, rc, kubesim_last_error());
}

static void expect_launch_fails_and_leaves_nothing(const char *faults)
{
    set_faults(faults);
    fcb_function fn = itest_zip_function("unreadable");
    fcb_launch_request req = itest_request(&fn, "d1");
    fcb_instance inst = {.size = sizeof inst};
    fcb_error err = FCB_ERROR_INIT;
    int rc = t.ops->launch(t.backend, &req, &inst, &err);
    printf("%s: launch -> %s: %s\n", faults, fcb_status_name(rc), err.message);
    cr_assert_neq(rc, FCB_OK, "%s", faults);
    cr_assert_eq(itest_count(&t, "pods", "default", NULL), 0, "%s: pod left behind", faults);
}

Test(k8s_unreadable, a_garbage_create_answer_leaves_no_pod, .fini = stop, .timeout = 60)
{
    itest_start(&t, "unreadable_garbage", NULL);
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(itest_open(&t, ITEST_TOKEN, &err), FCB_OK, "open: %s", err.message);
    expect_launch_fails_and_leaves_nothing("{\"create_garbage\":1,\"fail_paths\":\"create pods\"}");
    itest_close(&t);
    cr_assert_eq(itest_count(&t, "secrets", "default", NULL), 0);
}

Test(k8s_unreadable, an_over_limit_create_answer_leaves_no_pod, .fini = stop, .timeout = 60)
{
    itest_start(&t, "unreadable_oversize", NULL);
    mock_host_set_config(t.mh, "FAKECLOUD_K8S_MAX_RESPONSE_BYTES", "262144");
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(itest_open(&t, ITEST_TOKEN, &err), FCB_OK, "open: %s", err.message);
    expect_launch_fails_and_leaves_nothing(
        "{\"create_oversize\":1,\"fail_paths\":\"create pods\"}");
    itest_close(&t);
}

Test(k8s_unreadable, a_garbage_answer_to_the_prepull_pod_leaves_no_pod, .fini = stop, .timeout = 60)
{
    itest_start(&t, "unreadable_prepull", NULL);
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(itest_open(&t, NULL, &err), FCB_OK, "open: %s", err.message);
    set_faults("{\"create_garbage\":1,\"fail_paths\":\"create pods\"}");
    int rc = t.ops->prepull(t.backend, "public.ecr.aws/lambda/python:3.12", &err);
    cr_assert_neq(rc, FCB_OK);
    cr_assert_eq(itest_count(&t, "pods", "default", NULL), 0, "prepull pod left behind");
    itest_close(&t);
}

Test(k8s_unreadable, a_garbage_answer_to_the_token_secret_leaves_no_secret, .fini = stop,
     .timeout = 60)
{
    itest_start(&t, "unreadable_secret", NULL);
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(itest_open(&t, ITEST_TOKEN, &err), FCB_OK, "open: %s", err.message);
    expect_launch_fails_and_leaves_nothing(
        "{\"create_garbage\":1,\"fail_paths\":\"create secrets\"}");
    cr_assert_eq(itest_count(&t, "secrets", "default", NULL), 0, "token Secret left behind");
    set_faults("{\"fail_paths\":\"\"}");
    /* The next launch creates the Secret afresh and works. */
    fcb_function fn = itest_zip_function("after");
    fcb_launch_request req = itest_request(&fn, "d1");
    fcb_instance inst = {.size = sizeof inst};
    cr_assert_eq(t.ops->launch(t.backend, &req, &inst, &err), FCB_OK, "%s", err.message);
    cr_assert_eq(t.ops->terminate(t.backend, inst.handle, &err), FCB_OK, "%s", err.message);
    itest_close(&t);
    cr_assert_eq(itest_count(&t, "secrets", "default", NULL), 0);
}
