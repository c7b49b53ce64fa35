/*
 * The invoke operation (ABI 1.1) and the endpoint modes of the k8s backend
 * on kubesim (FAKECLOUD_K8S_ENDPOINT): pod-ip (readiness and invoke at the
 * Pod IP, nothing through the API server), api-proxy (both through the API
 * server's pods/proxy with the kubeconfig's credentials: kubesim's request
 * log shows them, and it works when kubesim hides the Pod IPs from the host
 * like a remote cluster), and auto (the first launch decides). Each mode:
 * the runtime's status, body and X-Amz-Function-Error come back, the
 * request's timeout and cancel token end a slow invocation promptly, and a
 * handle that is gone, foreign or in another namespace is FCB_ERR_NOT_FOUND
 * without reaching any runtime.
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

static const char *const hidden_args[] = {"--hide-pod-ips", NULL};

/* What one invocation gave back. */
typedef struct answer {
    int rc;
    fcb_error err;
    fcb_invoke_result out;
    char body[8192];
    size_t len;
    double took_ms;
} answer;

static int collect(void *ctx, const void *data, size_t len)
{
    answer *a = ctx;
    cr_assert_lt(a->len + len, sizeof a->body, "answer larger than the test's buffer");
    memcpy(a->body + a->len, data, len);
    a->len += len;
    a->body[a->len] = '\0';
    return 0;
}

static answer invoke(const char *handle, const char *payload, uint32_t timeout_ms,
                     unsigned cancel_after_ms)
{
    answer a;
    memset(&a, 0, sizeof a);
    a.err = (fcb_error)FCB_ERROR_INIT;
    a.out.size = sizeof a.out;
    itest_cancel c = {0};
    fcb_invoke_request req = {.size = sizeof req,
                              .payload = {payload, strlen(payload)},
                              .timeout_ms = timeout_ms,
                              .sink_ctx = &a,
                              .on_body = collect,
                              .cancel = itest_cancel_token(&c)};
    if (cancel_after_ms > 0)
        itest_cancel_start(&c, cancel_after_ms);
    double start = itest_now_ms();
    a.rc = t.ops->invoke(t.backend, handle, &req, &a.out, &a.err);
    double end = itest_now_ms();
    a.took_ms = end - start;
    if (cancel_after_ms > 0) {
        itest_cancel_join(&c);
        a.took_ms = end - c.fired_at_ms; /* for a cancel: the time after firing */
    }
    return a;
}

static fcb_instance launch(const char *fn_name)
{
    fcb_function fn = itest_zip_function(fn_name);
    fcb_launch_request req = itest_request(&fn, "d1");
    fcb_instance inst = {.size = sizeof inst};
    fcb_error err = FCB_ERROR_INIT;
    int rc = t.ops->launch(t.backend, &req, &inst, &err);
    cr_assert_eq(rc, FCB_OK, "launch: %s (%s)", fcb_status_name(rc), err.message);
    return inst;
}

static void open_with(const char *test, const char *mode, bool hidden)
{
    itest_start(&t, test, hidden ? hidden_args : NULL);
    if (mode != NULL)
        mock_host_set_config(t.mh, "FAKECLOUD_K8S_ENDPOINT", mode);
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(itest_open(&t, ITEST_TOKEN, &err), FCB_OK, "open: %s", err.message);
    cr_assert_not_null(t.ops->invoke);
    cr_assert(t.plugin->descriptor->capabilities & FCB_CAP_INVOKE);
}

/* The event comes back (kubesim's RIE echoes it), then a function error. */
static void expect_echo_and_function_error(const fcb_instance *inst)
{
    answer a = invoke(inst->handle, "{\"k\":\"v\"}", 0, 0);
    cr_assert_eq(a.rc, FCB_OK, "invoke: %s (%s)", fcb_status_name(a.rc), a.err.message);
    cr_expect_eq(a.out.http_status, 200);
    cr_expect_str_eq(a.out.function_error, "");
    cr_expect_eq(a.out.body_bytes, a.len);
    json_object *doc = json_tokener_parse(a.body);
    cr_assert_not_null(doc, "body: %s", a.body);
    json_object *event = json_object_object_get(doc, "event");
    cr_expect_str_eq(json_object_get_string(json_object_object_get(event, "k")), "v", "%s", a.body);
    json_object_put(doc);

    a = invoke(inst->handle, "{\"kubesim_error\":\"boom\"}", 0, 0);
    cr_assert_eq(a.rc, FCB_OK, "invoke: %s (%s)", fcb_status_name(a.rc), a.err.message);
    cr_expect_eq(a.out.http_status, 200);
    cr_expect_str_eq(a.out.function_error, "Unhandled");
    cr_expect(strstr(a.body, "\"errorMessage\": \"boom\"") != NULL, "%s", a.body);
}

/* A slow answer: the request's timeout, then the cancel token, end it promptly. */
static void expect_timeout_and_cancel(const fcb_instance *inst)
{
    answer a = invoke(inst->handle, "{\"kubesim_sleep_ms\":5000}", 300, 0);
    cr_expect_eq(a.rc, FCB_ERR_TIMEOUT, "%s (%s)", fcb_status_name(a.rc), a.err.message);
    cr_expect(strstr(a.err.message, "300 ms") != NULL, "%s", a.err.message);
    cr_expect_lt(a.took_ms, 2000.0, "a 300 ms timeout took %.0f ms", a.took_ms);
    answer c = invoke(inst->handle, "{\"kubesim_sleep_ms\":5000}", 0, 200);
    cr_expect_eq(c.rc, FCB_ERR_CANCELLED, "%s (%s)", fcb_status_name(c.rc), c.err.message);
    cr_expect(strstr(c.err.message, "cancelled by the host") != NULL, "%s", c.err.message);
    cr_expect_lt(c.took_ms, 1000.0, "returned %.0f ms after the token fired", c.took_ms);
    printf("invoke %s: a 300 ms timeout returned after %.0f ms; %.0f ms after the cancel\n",
           inst->endpoint, a.took_ms, c.took_ms);
}

typedef struct counts {
    double invocations;
    double failures;
} counts;

static void count_metric(void *ctx, const fcb_metric *m)
{
    counts *c = ctx;
    if (strcmp(m->name, "invocations_total") == 0)
        c->invocations = m->value;
    else if (strcmp(m->name, "invocation_failures_total") == 0)
        c->failures = m->value;
}

/* stats: every invoke call counted, the failed ones (timeout, cancel) apart. */
static void expect_invocations_counted(double total, double failed)
{
    counts c = {-1, -1};
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(t.ops->stats(t.backend, &c, count_metric, &err), FCB_OK, "%s", err.message);
    cr_expect_eq(c.invocations, total, "invocations_total %.0f", c.invocations);
    cr_expect_eq(c.failures, failed, "invocation_failures_total %.0f", c.failures);
}

Test(k8s_invoke, pod_ip_mode_invokes_at_the_pod_ip_without_the_api_server, .fini = stop,
     .timeout = 60)
{
    open_with("invoke_pod_ip", NULL, false);
    fcb_instance inst = launch("inv-ip");
    cr_expect(strchr(inst.endpoint, '/') == NULL && strstr(inst.endpoint, ":8080") != NULL,
              "pod-ip endpoint is host:port: %s", inst.endpoint);
    expect_echo_and_function_error(&inst);
    expect_timeout_and_cancel(&inst);
    cr_expect_eq(itest_plugin_requests(&t, "create pods/proxy"), 0);
    cr_expect_eq(itest_plugin_requests(&t, "get pods/proxy"), 0);
    expect_invocations_counted(4, 2);
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(t.ops->terminate(t.backend, inst.handle, &err), FCB_OK, "%s", err.message);
    itest_close(&t);
}

Test(k8s_invoke, api_proxy_mode_reaches_pods_the_host_cannot, .fini = stop, .timeout = 60)
{
    open_with("invoke_api_proxy", "api-proxy", true);
    cr_assert_eq(kubesim_reset_stats(t.sim), 0);
    fcb_instance inst = launch("inv-px");
    char want[256];
    snprintf(want, sizeof want, "/api/v1/namespaces/default/pods/%s:8080/proxy",
             strrchr(inst.handle, '/') + 1);
    cr_expect(strncmp(inst.endpoint, "https://127.0.0.1:", 18) == 0 &&
                  strstr(inst.endpoint, want) != NULL,
              "the endpoint says the runtime is behind the API server: %s", inst.endpoint);
    cr_expect_gt(itest_plugin_requests(&t, "get pods/proxy"), 0, "readiness through the proxy");
    expect_echo_and_function_error(&inst);
    cr_expect_eq(itest_plugin_requests(&t, "create pods/proxy"), 2, "both invocations proxied");
    expect_timeout_and_cancel(&inst);
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(t.ops->terminate(t.backend, inst.handle, &err), FCB_OK, "%s", err.message);
    itest_close(&t);
}

Test(k8s_invoke, pod_ip_mode_cannot_start_what_it_cannot_reach, .fini = stop, .timeout = 60)
{
    itest_start(&t, "invoke_pod_ip_hidden", hidden_args);
    mock_host_set_config(t.mh, "FAKECLOUD_K8S_RIE_TIMEOUT_MS", "500");
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(itest_open(&t, ITEST_TOKEN, &err), FCB_OK, "open: %s", err.message);
    fcb_function fn = itest_zip_function("inv-hidden");
    fcb_launch_request req = itest_request(&fn, "d1");
    fcb_instance inst = {.size = sizeof inst};
    int rc = t.ops->launch(t.backend, &req, &inst, &err);
    cr_expect_eq(rc, FCB_ERR_TIMEOUT, "%s (%s)", fcb_status_name(rc), err.message);
    cr_expect(strstr(err.message, "did not accept connections") != NULL, "%s", err.message);
    itest_close(&t);
}

/* auto: the first launch decides; the second launch and invoke follow it. */
static void expect_auto(bool hidden, const char *want_prefix)
{
    fcb_instance first = launch("inv-auto");
    fcb_instance second = launch("inv-auto2");
    cr_expect(strncmp(first.endpoint, want_prefix, strlen(want_prefix)) == 0, "%s", first.endpoint);
    cr_expect(strncmp(second.endpoint, want_prefix, strlen(want_prefix)) == 0, "%s",
              second.endpoint);
    int probes = itest_plugin_requests(&t, "get pods/proxy");
    expect_echo_and_function_error(&second);
    cr_expect_eq(itest_plugin_requests(&t, "create pods/proxy"), hidden ? 2 : 0);
    cr_expect_eq(itest_plugin_requests(&t, "get pods/proxy"), probes);
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(t.ops->terminate(t.backend, first.handle, &err), FCB_OK, "%s", err.message);
    cr_assert_eq(t.ops->terminate(t.backend, second.handle, &err), FCB_OK, "%s", err.message);
}

Test(k8s_invoke, auto_mode_uses_the_pod_ip_when_it_answers, .fini = stop, .timeout = 60)
{
    open_with("invoke_auto_reachable", "auto", false);
    expect_auto(false, "127.");
    itest_close(&t);
}

Test(k8s_invoke, auto_mode_uses_the_api_server_when_pod_ips_do_not_answer, .fini = stop,
     .timeout = 60)
{
    open_with("invoke_auto_hidden", "auto", true);
    expect_auto(true, "https://");
    itest_close(&t);
}

#define OURS "{\"fakecloud-managed-by\":\"fakecloud\",\"fakecloud-instance\":\"0000000000000001\"}"

static void expect_not_found_anywhere(void)
{
    itest_create_pod(&t, "default", "foreign-pod", "{}");
    itest_create_pod(&t, "other-ns", "fakecloud-lambda-elsewhere", OURS);
    itest_sleep_ms(300); /* both Running with an RIE: only ownership keeps them out */
    static const char *const gone[] = {"pod/default/never-existed", "pod/default/foreign-pod",
                                       "pod/other-ns/fakecloud-lambda-elsewhere"};
    for (size_t i = 0; i < sizeof gone / sizeof gone[0]; i++) {
        answer a = invoke(gone[i], "{}", 0, 0);
        cr_expect_eq(a.rc, FCB_ERR_NOT_FOUND, "%s: %s (%s)", gone[i], fcb_status_name(a.rc),
                     a.err.message);
        cr_expect_eq(a.len, 0, "%s: %s", gone[i], a.body);
    }
    answer a = invoke("container/x", "{}", 0, 0);
    cr_expect_eq(a.rc, FCB_ERR_INVALID_ARGUMENT, "%s (%s)", fcb_status_name(a.rc), a.err.message);
    cr_expect_eq(itest_plugin_requests(&t, "create pods/proxy"), 0);
}

Test(k8s_invoke, gone_foreign_and_other_namespace_pods_are_not_found, .fini = stop, .timeout = 60)
{
    open_with("invoke_not_found", NULL, false);
    expect_not_found_anywhere();
    itest_close(&t);
}

Test(k8s_invoke, api_proxy_mode_never_proxies_to_a_pod_that_is_not_ours, .fini = stop,
     .timeout = 60)
{
    open_with("invoke_not_found_proxy", "api-proxy", false);
    expect_not_found_anywhere();
    itest_close(&t);
}

/*
 * api-proxy without the second Role: the launch fails at once naming the
 * Role (not after the RIE timeout with the 403 hidden), leaving no Pod; an
 * invoke refused the same way names it too.
 */
Test(k8s_invoke, api_proxy_mode_without_its_role_fails_at_once_naming_it, .fini = stop,
     .timeout = 60)
{
    open_with("invoke_api_proxy_forbidden", "api-proxy", false);
    itest_set_faults(&t, "{\"forbid\": \"get pods/proxy\"}");
    fcb_function fn = itest_zip_function("inv-forbidden");
    fcb_launch_request req = itest_request(&fn, "d1");
    fcb_instance inst = {.size = sizeof inst};
    fcb_error err = FCB_ERROR_INIT;
    double start = itest_now_ms();
    int rc = t.ops->launch(t.backend, &req, &inst, &err);
    double took = itest_now_ms() - start;
    cr_expect_eq(rc, FCB_ERR_BACKEND, "%s (%s)", fcb_status_name(rc), err.message);
    cr_expect(strstr(err.message, "fakecloud-lambda-api-proxy") != NULL &&
                  strstr(err.message, "forbidden") != NULL,
              "%s", err.message);
    cr_expect_lt(took, 5000.0, "failed after %.0f ms (the RIE timeout is 10 s)", took);
    printf("api-proxy without its Role: the launch failed after %.0f ms\n", took);
    cr_expect_eq(itest_count(&t, "pods", "default", "fakecloud-managed-by=fakecloud"), 0);

    itest_set_faults(&t, "{\"forbid\": \"create pods/proxy\"}");
    inst = launch("inv-forbidden");
    answer a = invoke(inst.handle, "{}", 0, 0);
    cr_expect_eq(a.rc, FCB_ERR_BACKEND, "%s (%s)", fcb_status_name(a.rc), a.err.message);
    cr_expect(strstr(a.err.message, "fakecloud-lambda-api-proxy") != NULL, "%s", a.err.message);
    itest_set_faults(&t, "{\"forbid\": \"\"}");
    cr_assert_eq(t.ops->terminate(t.backend, inst.handle, &err), FCB_OK, "%s", err.message);
    itest_close(&t);
}

/*
 * The Pod's GET is kept: a warm Pod is asked of the API server once, not per
 * invoke (it cost about half of a warm invoke). The ownership check still
 * holds: once the Pod is relabelled as not fakecloud's (its runtime still
 * answers) or deleted, the watch forgets it, and the next invoke GETs it and
 * is FCB_ERR_NOT_FOUND, reaching no runtime.
 */
Test(k8s_invoke, a_warm_pod_is_asked_of_the_api_server_once_until_the_watch_ends_it, .fini = stop,
     .timeout = 60)
{
    open_with("invoke_kept_target", NULL, false);
    fcb_instance inst = launch("inv-kept");
    int gets = itest_plugin_requests(&t, "get pods");
    for (int i = 0; i < 5; i++) {
        answer a = invoke(inst.handle, "{\"k\":\"v\"}", 0, 0);
        cr_assert_eq(a.rc, FCB_OK, "invoke %d: %s (%s)", i, fcb_status_name(a.rc), a.err.message);
    }
    cr_expect_eq(itest_plugin_requests(&t, "get pods") - gets, 1,
                 "5 invokes of one warm Pod: %d GETs of it",
                 itest_plugin_requests(&t, "get pods") - gets);

    /* Relabelled as not fakecloud's (its runtime still answers): refused again. */
    char path[512];
    snprintf(path, sizeof path, "/api/v1/namespaces/default/pods/%s",
             strrchr(inst.handle, '/') + 1);
    cr_assert_eq(
        kubesim_request(t.sim, "PATCH", path,
                        "{\"metadata\":{\"labels\":{\"fakecloud-managed-by\":\"someone\"}}}",
                        "application/merge-patch+json", NULL),
        200);
    itest_sleep_ms(200); /* the watch's event */
    answer r = invoke(inst.handle, "{}", 0, 0);
    cr_expect_eq(r.rc, FCB_ERR_NOT_FOUND, "a relabelled Pod: %s (%s)", fcb_status_name(r.rc),
                 r.err.message);
    cr_expect_eq(r.len, 0, "%s", r.body);

    cr_assert_eq(kubesim_request(t.sim, "DELETE", path, NULL, NULL, NULL), 200);
    for (int i = 0; i < 100 && itest_count(&t, "pods", "default", NULL) > 0; i++)
        itest_sleep_ms(20);
    itest_sleep_ms(100); /* the watch's DELETED event */
    answer a = invoke(inst.handle, "{}", 0, 0);
    cr_expect_eq(a.rc, FCB_ERR_NOT_FOUND, "a deleted Pod: %s (%s)", fcb_status_name(a.rc),
                 a.err.message);
    cr_expect_eq(a.len, 0, "%s", a.body);
    expect_not_found_anywhere();
    itest_close(&t);
}
