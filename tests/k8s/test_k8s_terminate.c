/*
 * Integration tests of terminate on kubesim: only Pods carrying our
 * managed-by label, in the backend's namespace, are deleted (one
 * deletecollection by name and label); terminate keeps retrying through
 * throttling within FAKECLOUD_K8S_TERMINATE_TIMEOUT_MS and close cancels it;
 * open + terminate or reap create no Secret, start no watch and cost at most
 * two requests, while launches create the Secret and the watch once.
 */
#include "k8s_itest.h"

#include <criterion/criterion.h>
#include <pthread.h>
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
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static bool pod_exists(const char *ns, const char *name)
{
    char path[256];
    snprintf(path, sizeof path, "/api/v1/namespaces/%s/pods/%s", ns, name);
    json_object *pod = NULL;
    int status = kubesim_get_json(t.sim, path, &pod);
    json_object_put(pod);
    cr_assert(status == 200 || status == 404, "GET %s: %d", path, status);
    return status == 200;
}

static int plugin_requests(const char *verb)
{
    return itest_plugin_requests(&t, verb);
}

static void set_faults(const char *json)
{
    int rc = kubesim_set_faults(t.sim, json);
    cr_assert(rc == 0 || rc == 200, "faults %s: %d %s", json, rc, kubesim_last_error());
}

#define OURS "{\"fakecloud-managed-by\":\"fakecloud\",\"fakecloud-instance\":\"0000000000000001\"}"

Test(k8s_terminate, deletes_only_pods_carrying_our_managed_by_label_in_our_namespace, .fini = stop,
     .timeout = 60)
{
    itest_start(&t, "terminate_foreign", NULL);
    itest_create_pod(&t, "default", "foreign-unlabelled", "{}");
    itest_create_pod(&t, "default", "foreign-other-manager",
                     "{\"fakecloud-managed-by\":\"someone-else\"}");
    itest_create_pod(&t, "kube-system", "anything", "{}");
    itest_create_pod(&t, "other-ns", "fakecloud-lambda-elsewhere", OURS);
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(itest_open(&t, ITEST_TOKEN, &err), FCB_OK, "open: %s", err.message);

    static const char *const foreign[][2] = {{"default", "foreign-unlabelled"},
                                             {"default", "foreign-other-manager"},
                                             {"kube-system", "anything"},
                                             {"other-ns", "fakecloud-lambda-elsewhere"}};
    for (size_t i = 0; i < sizeof foreign / sizeof foreign[0]; i++) {
        char handle[256];
        snprintf(handle, sizeof handle, "pod/%s/%s", foreign[i][0], foreign[i][1]);
        fcb_error e = FCB_ERROR_INIT;
        int rc = t.ops->terminate(t.backend, handle, &e);
        cr_expect_eq(rc, FCB_ERR_NOT_FOUND, "%s: %s (%s)", handle, fcb_status_name(rc), e.message);
        cr_expect(strstr(e.message, foreign[i][1]) != NULL, "%s: %s", handle, e.message);
        cr_expect(pod_exists(foreign[i][0], foreign[i][1]), "%s was deleted", handle);
    }

    /* Ours (any fakecloud instance's) goes; gone again is still success. */
    itest_create_pod(&t, "default", "fakecloud-lambda-ours", OURS);
    cr_assert_eq(t.ops->terminate(t.backend, "pod/default/fakecloud-lambda-ours", &err), FCB_OK,
                 "%s", err.message);
    cr_assert(!pod_exists("default", "fakecloud-lambda-ours"));
    cr_assert_eq(t.ops->terminate(t.backend, "pod/default/fakecloud-lambda-ours", &err), FCB_OK,
                 "already gone: %s", err.message);
    cr_assert_eq(itest_count(&t, "pods", "default", NULL), 2, "the foreign pods stay");
    itest_close(&t);
}

Test(k8s_terminate, open_and_terminate_cost_two_requests_and_create_no_secret_or_watch,
     .fini = stop, .timeout = 60)
{
    itest_start(&t, "terminate_requests", NULL);
    itest_create_pod(&t, "default", "fakecloud-lambda-old", OURS);
    cr_assert_eq(kubesim_reset_stats(t.sim), 0);
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(itest_open(&t, ITEST_TOKEN, &err), FCB_OK, "open: %s", err.message);
    cr_assert_eq(t.ops->terminate(t.backend, "pod/default/fakecloud-lambda-old", &err), FCB_OK,
                 "%s", err.message);
    int requests = plugin_requests(NULL);
    cr_assert(!pod_exists("default", "fakecloud-lambda-old"));
    cr_assert_eq(itest_count(&t, "secrets", "default", NULL), 0, "terminate created a Secret");
    cr_assert_eq(plugin_requests("watch pods"), 0, "terminate started the watch");
    t.ops->close(t.backend);
    t.backend = NULL;
    printf("open + terminate: %d requests; with close: %d\n", requests, plugin_requests(NULL));
    cr_assert_leq(requests, 2, "open + terminate made %d requests", requests);
    cr_assert_eq(plugin_requests(NULL), requests,
                 "close of a backend that launched nothing "
                 "made requests");

    /* open + reap_stale: no Secret, no watch, no Secret delete at close. */
    cr_assert_eq(kubesim_reset_stats(t.sim), 0);
    cr_assert_eq(itest_open(&t, ITEST_TOKEN, &err), FCB_OK, "open: %s", err.message);
    size_t reaped = 0;
    cr_assert_eq(t.ops->reap_stale(t.backend, &reaped, &err), FCB_OK, "%s", err.message);
    itest_close(&t);
    cr_assert_eq(plugin_requests("create secrets"), 0);
    cr_assert_eq(plugin_requests("watch pods"), 0);
    cr_assert_eq(plugin_requests("delete secrets"), 0);
    cr_assert_eq(itest_count(&t, "secrets", "default", NULL), 0);
}

#define CONCURRENT 6

static void *launch_one(void *arg)
{
    fcb_instance *inst = arg;
    fcb_function fn = itest_zip_function("many");
    fcb_launch_request req = itest_request(&fn, "d1");
    fcb_error err = FCB_ERROR_INIT;
    int rc = t.ops->launch(t.backend, &req, inst, &err);
    if (rc != FCB_OK)
        fprintf(stderr, "launch: %s\n", err.message);
    return (void *)(intptr_t)rc;
}

Test(k8s_terminate, concurrent_first_launches_create_one_secret_and_one_watch, .fini = stop,
     .timeout = 60)
{
    itest_start(&t, "lazy_setup", NULL);
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(itest_open(&t, ITEST_TOKEN, &err), FCB_OK, "open: %s", err.message);
    cr_assert_eq(itest_count(&t, "secrets", "default", NULL), 0, "open created the Secret");
    pthread_t th[CONCURRENT];
    fcb_instance inst[CONCURRENT];
    for (int i = 0; i < CONCURRENT; i++) {
        inst[i] = (fcb_instance){.size = sizeof inst[i]};
        cr_assert_eq(pthread_create(&th[i], NULL, launch_one, &inst[i]), 0);
    }
    for (int i = 0; i < CONCURRENT; i++) {
        void *rc = NULL;
        pthread_join(th[i], &rc);
        cr_expect_eq((intptr_t)rc, FCB_OK, "launch %d failed", i);
    }
    cr_assert_eq(plugin_requests("create secrets"), 1);
    cr_assert_eq(plugin_requests("watch pods"), 1);
    cr_assert_eq(itest_count(&t, "secrets", "default", NULL), 1);
    for (int i = 0; i < CONCURRENT; i++)
        cr_assert_eq(t.ops->terminate(t.backend, inst[i].handle, &err), FCB_OK, "%s", err.message);
    itest_close(&t);
    cr_assert_eq(itest_count(&t, "secrets", "default", NULL), 0, "close deletes the Secret");
}

Test(k8s_terminate, keeps_retrying_through_more_throttling_than_one_request_retries, .fini = stop,
     .timeout = 60)
{
    itest_start(&t, "terminate_throttled", NULL);
    mock_host_set_config(t.mh, "FAKECLOUD_K8S_RETRY_BASE_MS", "5");
    mock_host_set_config(t.mh, "FAKECLOUD_K8S_RETRY_CAP_MS", "20");
    itest_create_pod(&t, "default", "fakecloud-lambda-busy", OURS);
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(itest_open(&t, NULL, &err), FCB_OK, "open: %s", err.message);
    /* 10 > FAKECLOUD_K8S_MAX_ATTEMPTS (6): one request's retries are not enough. */
    set_faults("{\"throttle_next\":10,\"throttle_retry_after\":0,"
               "\"fail_paths\":\"^DELETE \"}");
    double t0 = now_ms();
    int rc = t.ops->terminate(t.backend, "pod/default/fakecloud-lambda-busy", &err);
    double took = now_ms() - t0;
    set_faults("{\"throttle_next\":0,\"fail_paths\":\"\"}");
    printf("terminate through 10 x 429: %s in %.0f ms\n", fcb_status_name(rc), took);
    cr_assert_eq(rc, FCB_OK, "%s", err.message);
    cr_assert(!pod_exists("default", "fakecloud-lambda-busy"), "the pod is still there");
    cr_assert_eq(plugin_requests("deletecollection pods"), 11);
    itest_close(&t);
}

Test(k8s_terminate, gives_up_at_its_deadline_naming_the_key, .fini = stop, .timeout = 60)
{
    itest_start(&t, "terminate_deadline", NULL);
    mock_host_set_config(t.mh, "FAKECLOUD_K8S_RETRY_BASE_MS", "5");
    mock_host_set_config(t.mh, "FAKECLOUD_K8S_RETRY_CAP_MS", "20");
    mock_host_set_config(t.mh, "FAKECLOUD_K8S_TERMINATE_TIMEOUT_MS", "300");
    itest_create_pod(&t, "default", "fakecloud-lambda-busy", OURS);
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(itest_open(&t, NULL, &err), FCB_OK, "open: %s", err.message);
    set_faults("{\"throttle_next\":100000,\"throttle_retry_after\":0,"
               "\"fail_paths\":\"^DELETE \"}");
    double t0 = now_ms();
    int rc = t.ops->terminate(t.backend, "pod/default/fakecloud-lambda-busy", &err);
    double took = now_ms() - t0;
    set_faults("{\"throttle_next\":0,\"fail_paths\":\"\"}");
    printf("terminate under endless 429 with a 300 ms deadline: %s in %.0f ms: %s\n",
           fcb_status_name(rc), took, err.message);
    cr_assert_neq(rc, FCB_OK);
    cr_assert(strstr(err.message, "FAKECLOUD_K8S_TERMINATE_TIMEOUT_MS") != NULL, "%s", err.message);
    cr_assert(strstr(err.message, "fakecloud-lambda-busy") != NULL, "%s", err.message);
    cr_assert_lt(took, 3000.0, "terminate took %.0f ms with a 300 ms deadline", took);
    cr_assert(pod_exists("default", "fakecloud-lambda-busy"));
    itest_close(&t);
}

typedef struct terminate_call {
    int rc;
    double ended;
    fcb_error err;
} terminate_call;

static void *terminate_busy(void *arg)
{
    terminate_call *c = arg;
    c->rc = t.ops->terminate(t.backend, "pod/default/fakecloud-lambda-busy", &c->err);
    c->ended = now_ms();
    return NULL;
}

Test(k8s_terminate, close_cancels_a_terminate_that_waits_out_throttling, .fini = stop,
     .timeout = 60)
{
    itest_start(&t, "terminate_close", NULL);
    itest_create_pod(&t, "default", "fakecloud-lambda-busy", OURS);
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(itest_open(&t, NULL, &err), FCB_OK, "open: %s", err.message);
    set_faults("{\"throttle_next\":100000,\"throttle_retry_after\":2,"
               "\"fail_paths\":\"^DELETE \"}");
    terminate_call call = {.rc = -1, .err = FCB_ERROR_INIT};
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, terminate_busy, &call), 0);
    usleep(300 * 1000);
    double t0 = now_ms();
    t.ops->close(t.backend);
    double closed = now_ms() - t0;
    t.backend = NULL;
    pthread_join(th, NULL);
    set_faults("{\"throttle_next\":0,\"fail_paths\":\"\"}");
    printf("close during a throttled terminate: close %.0f ms, terminate ended %.0f ms after "
           "close began: %s\n",
           closed, call.ended - t0, call.err.message);
    cr_assert_eq(call.rc, FCB_ERR_CANCELLED, "%s: %s", fcb_status_name(call.rc), call.err.message);
    cr_assert_lt(closed, 1500.0, "close took %.0f ms", closed);
    cr_assert_lt(call.ended - t0, 1500.0);
    itest_close(&t);
}

Test(k8s_terminate, a_refused_launch_makes_no_request_and_creates_nothing, .fini = stop,
     .timeout = 30)
{
    itest_start(&t, "refused_launch", NULL);
    cr_assert_eq(kubesim_reset_stats(t.sim), 0);
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(itest_open(&t, ITEST_TOKEN, &err), FCB_OK, "open: %s", err.message);
    int after_open = plugin_requests(NULL);
    fcb_function fn = itest_zip_function("bad-runtime");
    fn.runtime = "cobol85";
    fcb_launch_request req = itest_request(&fn, "d1");
    fcb_instance inst = {.size = sizeof inst};
    int rc = t.ops->launch(t.backend, &req, &inst, &err);
    cr_assert_neq(rc, FCB_OK);
    cr_assert(strstr(err.message, "cobol85") != NULL, "%s", err.message);
    cr_assert_eq(plugin_requests(NULL), after_open, "a refused launch made requests");
    cr_assert_eq(after_open, 1, "open made %d requests", after_open);
    itest_close(&t);
    cr_assert_eq(itest_count(&t, "secrets", "default", NULL), 0);
}
