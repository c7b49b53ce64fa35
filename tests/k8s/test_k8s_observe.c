/*
 * Integration tests of the 1.1 observation operations on kubesim: status
 * (one GET: RUNNING / STARTING / EXITED with the container's exit code and
 * reason / GONE for a deleted Pod, another namespace or a Pod without our
 * managed-by label, which is never read further).
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

#define OURS "{\"fakecloud-managed-by\":\"fakecloud\",\"fakecloud-instance\":\"0000000000000001\"}"

/* A Pod shaped like ours (runtime container name) with IMAGE and LABELS. */
static void create_runtime_pod(const char *name, const char *image, const char *labels)
{
    char body[1024];
    snprintf(body, sizeof body,
             "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"%s\","
             "\"labels\":%s},\"spec\":{\"restartPolicy\":\"Never\",\"containers\":[{\"name\":"
             "\"fakecloud-lambda\",\"image\":\"%s\"}]}}",
             name, labels, image);
    int status = kubesim_post_json(t.sim, "/api/v1/namespaces/default/pods", body, NULL);
    cr_assert_eq(status, 201, "create pod %s: %d", name, status);
}

static fcb_instance_status status_of(const char *handle)
{
    fcb_instance_status st = {.size = sizeof st};
    fcb_error err = FCB_ERROR_INIT;
    int rc = t.ops->status(t.backend, handle, &st, &err);
    cr_assert_eq(rc, FCB_OK, "status %s: %s (%s)", handle, fcb_status_name(rc), err.message);
    return st;
}

/* Poll HANDLE's status until it is WANT (bounded: 10 s). */
static fcb_instance_status wait_state(const char *handle, int want)
{
    fcb_instance_status st = {0};
    for (int i = 0; i < 200; i++) {
        st = status_of(handle);
        if (st.state == want)
            break;
        usleep(50 * 1000);
    }
    cr_assert_eq(st.state, want, "%s: state %d, wanted %d", handle, st.state, want);
    return st;
}

Test(k8s_observe, status_running_then_gone_after_terminate, .fini = stop, .timeout = 60)
{
    itest_start(&t, "observe_status", NULL);
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(itest_open(&t, ITEST_TOKEN, &err), FCB_OK, "open: %s", err.message);
    cr_assert_not_null(t.ops->status);
    uint64_t caps = t.plugin->descriptor->capabilities;
    cr_assert(caps & FCB_CAP_STATUS);

    fcb_function fn = itest_zip_function("status-fn");
    fcb_launch_request req = itest_request(&fn, "d1");
    fcb_instance inst = {.size = sizeof inst};
    cr_assert_eq(t.ops->launch(t.backend, &req, &inst, &err), FCB_OK, "launch: %s", err.message);
    fcb_instance_status st = status_of(inst.handle);
    cr_assert_eq(st.state, FCB_INSTANCE_RUNNING, "state %d", st.state);
    cr_assert_eq(st.exit_code, 0);

    cr_assert_eq(t.ops->terminate(t.backend, inst.handle, &err), FCB_OK, "%s", err.message);
    wait_state(inst.handle, FCB_INSTANCE_GONE);
    itest_close(&t);
}

Test(k8s_observe, status_exited_with_exit_code_and_reason, .fini = stop, .timeout = 60)
{
    itest_start(&t, "observe_exited", NULL);
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(itest_open(&t, ITEST_TOKEN, &err), FCB_OK, "open: %s", err.message);
    create_runtime_pod("fakecloud-lambda-crash", "crash:latest", OURS);
    fcb_instance_status st = wait_state("pod/default/fakecloud-lambda-crash", FCB_INSTANCE_EXITED);
    cr_assert_eq(st.exit_code, 3);
    cr_assert_str_eq(st.reason, "Error");
    create_runtime_pod("fakecloud-lambda-ok", "succeed:latest", OURS);
    st = wait_state("pod/default/fakecloud-lambda-ok", FCB_INSTANCE_EXITED);
    cr_assert_eq(st.exit_code, 0);
    cr_assert_str_eq(st.reason, "Completed");
    itest_close(&t);
}

Test(k8s_observe, status_gone_for_missing_foreign_or_other_namespace, .fini = stop, .timeout = 60)
{
    itest_start(&t, "observe_gone", NULL);
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(itest_open(&t, ITEST_TOKEN, &err), FCB_OK, "open: %s", err.message);
    create_runtime_pod("foreign-crash", "crash:latest", "{}");
    itest_create_pod(&t, "other-ns", "fakecloud-lambda-elsewhere", OURS);
    cr_assert_eq(kubesim_reset_stats(t.sim), 0);
    /* Even once it has exited, a Pod without our label is GONE, never EXITED. */
    usleep(300 * 1000);
    static const char *const gone[] = {"pod/default/never-existed", "pod/default/foreign-crash",
                                       "pod/other-ns/fakecloud-lambda-elsewhere"};
    for (size_t i = 0; i < sizeof gone / sizeof gone[0]; i++) {
        fcb_instance_status st = status_of(gone[i]);
        cr_expect_eq(st.state, FCB_INSTANCE_GONE, "%s: state %d", gone[i], st.state);
        cr_expect_eq(st.exit_code, 0, "%s", gone[i]);
        cr_expect_str_eq(st.reason, "", "%s", gone[i]);
    }

    fcb_instance_status st = {.size = sizeof st};
    cr_assert_eq(t.ops->status(t.backend, "container/abc", &st, &err), FCB_ERR_INVALID_ARGUMENT);
    cr_assert(strstr(err.message, "container/abc") != NULL, "%s", err.message);
    itest_close(&t);
}
