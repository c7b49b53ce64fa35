/*
 * Integration tests: every start failure a user can hit returns promptly
 * with the Kubernetes reason (and the failing container's log lines), long
 * before the 60 s Running deadline, and leaves no Pod behind.
 */
#include "k8s_itest.h"

#include <criterion/criterion.h>
#include <pthread.h>
#include <string.h>
#include <time.h>

static itest t;

static void stop(void)
{
    itest_stop(&t);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Launch FN, expect CODE with every NEEDLE in the message, within MAX_S seconds. */
static void expect_failure(const fcb_function *fn, int code, const char *const *needles,
                           double max_s)
{
    fcb_launch_request req = itest_request(fn, "deploy-ff");
    fcb_instance inst = {.size = sizeof inst};
    fcb_error err = FCB_ERROR_INIT;
    double start = now_s();
    int rc = t.ops->launch(t.backend, &req, &inst, &err);
    double took = now_s() - start;
    cr_assert_eq(rc, code, "rc %s, message: %s", fcb_status_name(rc), err.message);
    for (size_t i = 0; needles[i] != NULL; i++)
        cr_assert(strstr(err.message, needles[i]) != NULL, "'%s' lacks '%s'", err.message,
                  needles[i]);
    cr_assert_lt(took, max_s, "took %.2f s: %s", took, err.message);
    cr_assert_eq(itest_count(&t, "pods", "default", NULL), 0, "pod left behind");
}

static fcb_function image_function(const char *image)
{
    fcb_function fn = {.size = sizeof fn,
                       .function_name = "img",
                       .package_type = FCB_PACKAGE_IMAGE,
                       .image_uri = image,
                       .memory_mb = 128};
    return fn;
}

static void open_backend(const char *name)
{
    itest_start(&t, name, NULL);
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(itest_open(&t, ITEST_TOKEN, &err), FCB_OK, "open: %s", err.message);
}

Test(k8s_failfast, reports_err_image_pull, .fini = stop, .timeout = 60)
{
    open_backend("failfast_errimagepull");
    fcb_function fn = image_function("registry.local/errimagepull:1");
    const char *needles[] = {"ErrImagePull", "not found", NULL};
    expect_failure(&fn, FCB_ERR_START_FAILED, needles, 5.0);
    itest_close(&t);
}

Test(k8s_failfast, reports_invalid_image_name, .fini = stop, .timeout = 60)
{
    open_backend("failfast_invalidimagename");
    fcb_function fn = image_function("registry.local/invalidimagename:1");
    const char *needles[] = {"InvalidImageName", NULL};
    expect_failure(&fn, FCB_ERR_START_FAILED, needles, 5.0);
    itest_close(&t);
}

Test(k8s_failfast, reports_unschedulable, .fini = stop, .timeout = 60)
{
    open_backend("failfast_unschedulable");
    fcb_function fn = image_function("registry.local/unschedulable:1");
    const char *needles[] = {"Unschedulable", "Insufficient memory", NULL};
    expect_failure(&fn, FCB_ERR_START_FAILED, needles, 5.0);
    itest_close(&t);
}

Test(k8s_failfast, reports_a_crashing_runtime_with_its_logs, .fini = stop, .timeout = 60)
{
    open_backend("failfast_crash");
    fcb_function fn = image_function("registry.local/crash:1");
    const char *needles[] = {"exited with code 3", "last log lines of fakecloud-lambda",
                             "simulated crash", NULL};
    expect_failure(&fn, FCB_ERR_START_FAILED, needles, 5.0);
    itest_close(&t);
}

Test(k8s_failfast, reports_a_failing_init_container_with_its_logs, .fini = stop, .timeout = 60)
{
    itest_start(&t, "failfast_initcrash", NULL);
    mock_host_set_config(t.mh, "FAKECLOUD_K8S_INIT_IMAGE", "busybox-crash:1.36");
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(itest_open(&t, ITEST_TOKEN, &err), FCB_OK, "open: %s", err.message);
    fcb_function fn = itest_zip_function("f");
    const char *needles[] = {"Init:Error", "last log lines of fakecloud-init", "simulated crash",
                             NULL};
    expect_failure(&fn, FCB_ERR_START_FAILED, needles, 5.0);
    itest_close(&t);
}

Test(k8s_failfast, shows_why_the_code_download_failed, .fini = stop, .timeout = 60)
{
    itest_start(&t, "failfast_download", NULL);
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(itest_open(&t, "wrong-token", &err), FCB_OK, "open: %s", err.message);
    fcb_function fn = itest_zip_function("f");
    const char *needles[] = {"Init:Error", "fakecloud-init", "401", NULL};
    expect_failure(&fn, FCB_ERR_START_FAILED, needles, 5.0);
    cr_assert_geq(atomic_load(&t.auth_failures), 1);
    itest_close(&t);
}

Test(k8s_failfast, reports_a_missing_token_secret, .fini = stop, .timeout = 60)
{
    open_backend("failfast_missing_secret");
    /* The first launch creates the token Secret; delete it behind the backend's back. */
    fcb_function first = itest_zip_function("first");
    fcb_launch_request req = itest_request(&first, "d0");
    fcb_instance inst = {.size = sizeof inst};
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(t.ops->launch(t.backend, &req, &inst, &err), FCB_OK, "%s", err.message);
    cr_assert_eq(t.ops->terminate(t.backend, inst.handle, &err), FCB_OK, "%s", err.message);
    int status = kubesim_request(t.sim, "DELETE",
                                 "/api/v1/namespaces/default/secrets?"
                                 "labelSelector=fakecloud-managed-by%3Dfakecloud",
                                 NULL, NULL, NULL);
    cr_assert_eq(status, 200);
    fcb_function fn = itest_zip_function("f");
    const char *needles[] = {"CreateContainerConfigError", "fakecloud-lambda-token-", NULL};
    expect_failure(&fn, FCB_ERR_START_FAILED, needles, 5.0);
    itest_close(&t);
}

Test(k8s_failfast, times_out_when_the_rie_never_listens, .fini = stop, .timeout = 60)
{
    itest_start(&t, "failfast_norie", NULL);
    mock_host_set_config(t.mh, "FAKECLOUD_K8S_RIE_TIMEOUT_MS", "600");
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(itest_open(&t, ITEST_TOKEN, &err), FCB_OK, "open: %s", err.message);
    fcb_function fn = image_function("registry.local/norie:1");
    const char *needles[] = {"Runtime Interface Emulator", "8080", "600 ms", NULL};
    expect_failure(&fn, FCB_ERR_TIMEOUT, needles, 5.0);
    itest_close(&t);
}

Test(k8s_failfast, times_out_when_the_pod_never_runs, .fini = stop, .timeout = 60)
{
    const char *args[] = {"--boot-ms", "5000", NULL};
    itest_start(&t, "failfast_running_timeout", args);
    mock_host_set_config(t.mh, "FAKECLOUD_K8S_RUNNING_TIMEOUT_MS", "500");
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(itest_open(&t, ITEST_TOKEN, &err), FCB_OK, "open: %s", err.message);
    fcb_function fn = itest_zip_function("slow");
    const char *needles[] = {"did not become Running", NULL};
    expect_failure(&fn, FCB_ERR_TIMEOUT, needles, 4.0);
    itest_close(&t);
}

typedef struct bg_launch {
    fcb_function fn;
    fcb_launch_request req;
    fcb_instance inst;
    fcb_error err;
    int rc;
    double took;
} bg_launch;

static void *bg_launch_run(void *arg)
{
    bg_launch *l = arg;
    double start = now_s();
    l->rc = t.ops->launch(t.backend, &l->req, &l->inst, &l->err);
    l->took = now_s() - start;
    return NULL;
}

/* The name of the one Pod in "default", or "" (bounded wait of ~5 s for it). */
static void wait_for_the_pod(char name[256])
{
    name[0] = '\0';
    for (int i = 0; i < 100 && name[0] == '\0'; i++) {
        json_object *list = NULL, *items = NULL, *meta = NULL, *n = NULL;
        if (kubesim_get_json(t.sim, "/api/v1/namespaces/default/pods", &list) == 200 &&
            json_object_object_get_ex(list, "items", &items) &&
            json_object_array_length(items) == 1 &&
            json_object_object_get_ex(json_object_array_get_idx(items, 0), "metadata", &meta) &&
            json_object_object_get_ex(meta, "name", &n))
            snprintf(name, 256, "%s", json_object_get_string(n));
        json_object_put(list);
        if (name[0] == '\0')
            nanosleep(&(struct timespec){0, 50 * 1000 * 1000}, NULL);
    }
}

/*
 * The watch is away (stream cut, reconnects refused) while the launch creates its
 * Pod and someone deletes it; the history is compacted, so the watch comes back
 * with 410 and relists: the Pod is simply absent. The launch must say so at once,
 * not sit out the 40 s Running deadline.
 */
Test(k8s_failfast, notices_a_pod_deleted_while_the_watch_was_away, .fini = stop, .timeout = 60)
{
    const char *args[] = {"--boot-ms", "5000", NULL};
    itest_start(&t, "failfast_relist", args);
    mock_host_set_config(t.mh, "FAKECLOUD_K8S_RUNNING_TIMEOUT_MS", "40000");
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(itest_open(&t, ITEST_TOKEN, &err), FCB_OK, "open: %s", err.message);

    cr_assert_eq(
        kubesim_set_faults(t.sim, "{\"error_rate\": 1.0, \"fail_paths\": \"^watch pods$\"}"), 0,
        "%s", kubesim_last_error());
    json_object *out = NULL;
    cr_assert_eq(kubesim_request(t.sim, "POST", "/_sim/cut-watches", "{}", NULL, &out), 200);
    json_object_put(out);

    bg_launch l = {.fn = itest_zip_function("relisted"), .inst = {.size = sizeof l.inst}};
    l.req = itest_request(&l.fn, "deploy-rl");
    l.err = (fcb_error)FCB_ERROR_INIT;
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, bg_launch_run, &l), 0);
    char name[256];
    wait_for_the_pod(name);
    cr_assert(name[0] != '\0', "the launch created no Pod");
    char path[512];
    snprintf(path, sizeof path, "/api/v1/namespaces/default/pods/%s?gracePeriodSeconds=0", name);
    cr_assert_eq(kubesim_request(t.sim, "DELETE", path, NULL, NULL, NULL), 200);
    cr_assert_eq(kubesim_request(t.sim, "POST", "/_sim/compact", "{}", NULL, NULL), 200);
    cr_assert_eq(kubesim_set_faults(t.sim, "{\"error_rate\": 0, \"fail_paths\": \"\"}"), 0);
    double back = now_s();
    pthread_join(th, NULL);
    double after_back = now_s() - back;

    cr_assert_eq(l.rc, FCB_ERR_START_FAILED, "rc %s: %s", fcb_status_name(l.rc), l.err.message);
    cr_assert(strstr(l.err.message, "was deleted while starting") != NULL, "%s", l.err.message);
    cr_assert_lt(after_back, 15.0, "took %.1f s after the watch could come back (deadline 40 s)",
                 after_back);
    cr_assert(mock_host_log_contains(t.mh, "watch expired (410 Gone): relisting"),
              "the watch relisted");
    cr_assert(mock_host_log_contains(t.mh, "pod deleted while the watch was away"));
    cr_assert_eq(itest_count(&t, "pods", "default", NULL), 0, "pod left behind");
    itest_close(&t);
}

/* k8s has no FCB_CAP_HOT_RELOAD: a launch with code_dir is refused at once, nothing created. */
Test(k8s_failfast, refuses_hot_reload_code_dir_naming_it, .fini = stop, .timeout = 60)
{
    open_backend("k8s-hot-reload");
    cr_expect_eq(t.plugin->descriptor->capabilities & FCB_CAP_HOT_RELOAD, 0);
    fcb_function fn = itest_zip_function("f");
    fcb_launch_request req = itest_request(&fn, "deploy-hr");
    req.code_dir = "/tmp";
    fcb_instance inst = {.size = sizeof inst};
    fcb_error err = FCB_ERROR_INIT;
    int rc = t.ops->launch(t.backend, &req, &inst, &err);
    cr_expect_eq(rc, FCB_ERR_UNSUPPORTED, "rc %s: %s", fcb_status_name(rc), err.message);
    cr_expect(strstr(err.message, "code_dir") != NULL && strstr(err.message, "hot reload") != NULL,
              "%s", err.message);
    cr_expect_eq(itest_count(&t, "pods", "default", NULL), 0, "pod created");
    cr_expect_eq(itest_count(&t, "secrets", "default", NULL), 0, "secret created");
}
