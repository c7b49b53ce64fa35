/*
 * Integration tests of ABI 1.1's launch inputs on kubesim (issue 14): role
 * credentials reach the runtime only through the launch's Secret (never
 * the Pod, never the log) and the Secret is gone when the launch ends, on
 * close and on terminate; the full Lambda environment and AWS_ENDPOINT_URL
 * reach the runtime; tags and the service level land in the Pod's
 * nodeSelector, tolerations and annotations, a malformed tag only warns.
 */
#include "k8s_itest.h"

#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#define KEY_ID  "ASIAITESTKEYID000001"
#define SECRET  "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY"
#define SESSION "IQoJb3JpZ2luX2VjITESTsessionTOKEN+/="
/* base64 of the three, as the API server stores them under data. */
#define KEY_ID_B64  "QVNJQUlURVNUS0VZSUQwMDAwMDE="
#define SECRET_B64  "d0phbHJYVXRuRkVNSS9LN01ERU5HL2JQeFJmaUNZekVYQU1QTEVLRVk="
#define SESSION_B64 "SVFvSmIzSnBaMmx1WDJWaklURVNUc2Vzc2lvblRPS0VOKy89"

static itest t;

static void stop(void)
{
    itest_stop(&t);
}

/* A launch running on its own thread, so the test can look at the cluster meanwhile. */
typedef struct bg_launch {
    pthread_t thread;
    fcb_launch_request req;
    fcb_instance inst;
    fcb_error err;
    int rc;
} bg_launch;

static void *bg_launch_run(void *arg)
{
    bg_launch *l = arg;
    l->rc = t.ops->launch(t.backend, &l->req, &l->inst, &l->err);
    return NULL;
}

static void bg_launch_start(bg_launch *l, const fcb_launch_request *req)
{
    memset(l, 0, sizeof *l);
    l->req = *req;
    l->inst.size = sizeof l->inst;
    l->err = (fcb_error)FCB_ERROR_INIT;
    cr_assert_eq(pthread_create(&l->thread, NULL, bg_launch_run, l), 0);
}

/* The first credentials Secret of the test's namespace, waited for up to 5 s; new reference. */
static json_object *wait_credentials_secret(void)
{
    double until = itest_now_ms() + 5000;
    while (itest_now_ms() < until) {
        json_object *list = NULL;
        cr_assert_eq(kubesim_get_json(t.sim, "/api/v1/namespaces/default/secrets", &list), 200);
        json_object *items = json_object_object_get(list, "items");
        for (size_t i = 0; i < json_object_array_length(items); i++) {
            json_object *s = json_object_array_get_idx(items, i);
            json_object *meta = json_object_object_get(s, "metadata");
            const char *name = json_object_get_string(json_object_object_get(meta, "name"));
            if (strstr(name, "-credentials") != NULL) {
                json_object *found = json_object_get(s);
                json_object_put(list);
                return found;
            }
        }
        json_object_put(list);
        itest_sleep_ms(10);
    }
    cr_assert_fail("no credentials Secret appeared within 5 s");
    return NULL;
}

/* Secrets of the namespace whose name ends in -credentials. */
static int count_credentials_secrets(void)
{
    json_object *list = NULL;
    cr_assert_eq(kubesim_get_json(t.sim, "/api/v1/namespaces/default/secrets", &list), 200);
    json_object *items = json_object_object_get(list, "items");
    int n = 0;
    for (size_t i = 0; i < json_object_array_length(items); i++) {
        json_object *meta = json_object_object_get(json_object_array_get_idx(items, i), "metadata");
        n += strstr(json_object_get_string(json_object_object_get(meta, "name")), "-credentials") !=
             NULL;
    }
    json_object_put(list);
    return n;
}

/* The Pod of HANDLE ("pod/default/NAME") as kubesim stores it; new reference. */
static json_object *get_pod(const char *handle)
{
    char path[512];
    snprintf(path, sizeof path, "/api/v1/namespaces/default/pods/%s",
             handle + strlen("pod/default/"));
    json_object *pod = NULL;
    cr_assert_eq(kubesim_get_json(t.sim, path, &pod), 200, "GET %s", path);
    return pod;
}

static const char *member(json_object *o, const char *a, const char *b)
{
    json_object *v = json_object_object_get(json_object_object_get(o, a), b);
    return v != NULL ? json_object_get_string(v) : NULL;
}

static fcb_credentials creds = {sizeof creds, KEY_ID, SECRET, SESSION, 0};

Test(k8s_env, credentials_reach_the_runtime_only_through_a_secret_the_launch_deletes, .fini = stop,
     .timeout = 60)
{
    itest_start(&t, "env_credentials", NULL);
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(itest_open(&t, ITEST_TOKEN, &err), FCB_OK, "open: %s", err.message);
    cr_assert(t.plugin->descriptor->capabilities & FCB_CAP_CREDENTIALS);

    fcb_function fn = itest_zip_function("creds-fn");
    fn.function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:creds-fn";
    /* The annotation tag slows kubesim's boot down so the Secret can be seen meanwhile. */
    static const fcb_tag tags[] = {{"fakecloud-k8s/annotations", "kubesim/boot-ms=300"}};
    fn.tags = tags;
    fn.n_tags = 1;
    fcb_launch_request req = itest_request(&fn, "d1");
    req.credentials = &creds;
    req.aws_endpoint_url = "http://localhost:4566";
    bg_launch l;
    bg_launch_start(&l, &req);

    json_object *secret = wait_credentials_secret();
    cr_expect_str_eq(member(secret, "data", "AWS_ACCESS_KEY_ID"), KEY_ID_B64);
    cr_expect_str_eq(member(secret, "data", "AWS_SECRET_ACCESS_KEY"), SECRET_B64);
    cr_expect_str_eq(member(secret, "data", "AWS_SESSION_TOKEN"), SESSION_B64);
    cr_expect_str_eq(json_object_get_string(json_object_object_get(secret, "type")), "Opaque");
    json_object *labels =
        json_object_object_get(json_object_object_get(secret, "metadata"), "labels");
    cr_expect_str_eq(json_object_get_string(json_object_object_get(labels, "fakecloud-managed-by")),
                     "fakecloud");
    json_object_put(secret);

    pthread_join(l.thread, NULL);
    cr_assert_eq(l.rc, FCB_OK, "launch: %s", l.err.message);
    cr_expect_eq(count_credentials_secrets(), 0, "the launch deleted its Secret once it started");

    json_object *pod = get_pod(l.inst.handle);
    const char *text = json_object_to_json_string_ext(pod, JSON_C_TO_STRING_PLAIN);
    cr_expect_null(strstr(text, SECRET), "the secret key is in the Pod");
    cr_expect_null(strstr(text, KEY_ID), "the key id is in the Pod");
    cr_expect_null(strstr(text, "ITESTsession"), "the session token is in the Pod");
    cr_expect_null(strstr(text, SECRET_B64), "the secret key (base64) is in the Pod");
    cr_expect(strstr(text, "\"secretKeyRef\"") != NULL, "%s", text);
    json_object_put(pod);

    json_object *echo = NULL;
    cr_assert_eq(itest_invoke(l.inst.endpoint, "{}", &echo), 200);
    json_object *env = json_object_object_get(echo, "env");
    static const char *const want[][2] = {
        {"AWS_ACCESS_KEY_ID", KEY_ID},
        {"AWS_SECRET_ACCESS_KEY", SECRET},
        {"AWS_SESSION_TOKEN", SESSION},
        {"AWS_ENDPOINT_URL", "http://127.0.0.1:4566"}, /* localhost -> the self URL's host */
        {"AWS_REGION", "eu-west-1"},
        {"_HANDLER", "app.handler"},
        {"AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/creds-fn"},
        {"AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand"},
        {"AWS_EXECUTION_ENV", "AWS_Lambda_python3.12"},
        {"LAMBDA_TASK_ROOT", "/var/task"},
        {"LAMBDA_RUNTIME_DIR", "/var/runtime"},
        {"TZ", ":UTC"},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        json_object *v = json_object_object_get(env, want[i][0]);
        cr_expect_str_eq(v != NULL ? json_object_get_string(v) : "(unset)", want[i][1], "%s",
                         want[i][0]);
    }
    const char *stream =
        json_object_get_string(json_object_object_get(env, "AWS_LAMBDA_LOG_STREAM_NAME"));
    cr_expect(stream != NULL && strlen(stream) == 10 + 1 + 9 + 32 && strstr(stream, "/[$LATEST]"),
              "log stream %s", stream != NULL ? stream : "(unset)");
    json_object_put(echo);

    cr_assert_eq(t.ops->terminate(t.backend, l.inst.handle, &err), FCB_OK, "%s", err.message);
    cr_expect_eq(count_credentials_secrets(), 0);
    cr_expect_not(mock_host_log_contains(t.mh, SECRET), "the secret key was logged");
    cr_expect_not(mock_host_log_contains(t.mh, SESSION), "the session token was logged");
    itest_close(&t);
    cr_expect_eq(itest_count(&t, "secrets", "default", NULL), 0, "close leaves no Secret");
}

Test(k8s_env, close_during_a_launch_removes_its_credentials_secret, .fini = stop, .timeout = 60)
{
    itest_start(&t, "env_close", NULL);
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(itest_open(&t, ITEST_TOKEN, &err), FCB_OK, "open: %s", err.message);
    fcb_function fn = itest_zip_function("creds-close");
    static const fcb_tag tags[] = {{"fakecloud-k8s/annotations", "kubesim/boot-ms=5000"}};
    fn.tags = tags;
    fn.n_tags = 1;
    fcb_launch_request req = itest_request(&fn, "d1");
    req.credentials = &creds;
    bg_launch l;
    bg_launch_start(&l, &req);
    json_object_put(wait_credentials_secret());
    double start = itest_now_ms();
    itest_close(&t);
    pthread_join(l.thread, NULL);
    cr_expect_eq(l.rc, FCB_ERR_CANCELLED, "launch: %d %s", l.rc, l.err.message);
    cr_expect_lt(itest_now_ms() - start, 4000, "close waited for the boot");
    cr_expect_eq(count_credentials_secrets(), 0, "close removed the credentials Secret");
    cr_expect_eq(itest_count(&t, "secrets", "default", NULL), 0);
}

Test(k8s_env, bad_credentials_are_refused_before_any_request, .fini = stop, .timeout = 60)
{
    itest_start(&t, "env_bad_credentials", NULL);
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(itest_open(&t, ITEST_TOKEN, &err), FCB_OK, "open: %s", err.message);
    int before = itest_plugin_requests(&t, NULL);
    fcb_function fn = itest_zip_function("creds-bad");
    fcb_launch_request req = itest_request(&fn, "d1");
    fcb_credentials expired = {sizeof expired, KEY_ID, SECRET, NULL, 1000000000};
    fcb_credentials no_key = {sizeof no_key, "", SECRET, NULL, 0};
    const fcb_credentials *bad[] = {&expired, &no_key};
    const char *field[] = {"credentials.expiration_unix_s", "credentials.access_key_id"};
    for (size_t i = 0; i < 2; i++) {
        req.credentials = bad[i];
        fcb_instance inst = {.size = sizeof inst};
        err = (fcb_error)FCB_ERROR_INIT;
        cr_expect_eq(t.ops->launch(t.backend, &req, &inst, &err), FCB_ERR_INVALID_ARGUMENT);
        cr_expect(strstr(err.message, field[i]) != NULL, "%s", err.message);
        cr_expect_null(strstr(err.message, SECRET));
    }
    cr_expect_eq(itest_plugin_requests(&t, NULL), before, "a refused launch made requests");
    cr_expect_eq(itest_count(&t, "secrets", "default", NULL), 0);
    cr_expect_eq(itest_count(&t, "pods", "default", NULL), 0);
    itest_close(&t);
}

Test(k8s_env, tags_land_in_the_pod_over_the_service_level_and_a_malformed_tag_only_warns,
     .fini = stop, .timeout = 60)
{
    itest_start(&t, "env_tags", NULL);
    mock_host_set_config(t.mh, "FAKECLOUD_K8S_NODE_SELECTOR", "pool=general,zone=a");
    mock_host_set_config(t.mh, "FAKECLOUD_LAMBDA_K8S_NODE_SELECTOR", "pool=lambda");
    mock_host_set_config(
        t.mh, "FAKECLOUD_LAMBDA_K8S_TOLERATIONS",
        "[{\"key\":\"lambda\",\"operator\":\"Exists\",\"effect\":\"NoSchedule\"}]");
    mock_host_set_config(t.mh, "FAKECLOUD_LAMBDA_K8S_ANNOTATIONS", "example.com/owner=lambda");
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(itest_open(&t, ITEST_TOKEN, &err), FCB_OK, "open: %s", err.message);
    cr_assert(t.plugin->descriptor->capabilities & FCB_CAP_TAGS);

    fcb_function fn = itest_zip_function("tags-fn");
    fn.architecture = "arm64";
    static const fcb_tag tags[] = {
        {"team", "payments"},
        {"fakecloud-k8s/node-selector", "disk=ssd,this-is-not-key-value"},
        {"fakecloud-k8s/tolerations",
         "[{\"key\":\"gpu\",\"operator\":\"Equal\",\"value\":\"a100\",\"effect\":\"NoExecute\","
         "\"tolerationSeconds\":30},{\"key\":\"spot\",\"tolerationSeconds\":5}]"},
        {"fakecloud-k8s/annotations", "example.com/cost-center=42,fakecloud-launch-nonce=x"},
    };
    fn.tags = tags;
    fn.n_tags = 4;
    fcb_launch_request req = itest_request(&fn, "d1");
    fcb_instance inst = {.size = sizeof inst};
    cr_assert_eq(t.ops->launch(t.backend, &req, &inst, &err), FCB_OK, "launch: %s", err.message);

    json_object *pod = get_pod(inst.handle);
    json_object *spec = json_object_object_get(pod, "spec");
    cr_expect_str_eq(member(spec, "nodeSelector", "pool"), "lambda");
    cr_expect_str_eq(member(spec, "nodeSelector", "zone"), "a");
    cr_expect_str_eq(member(spec, "nodeSelector", "disk"), "ssd");
    cr_expect_str_eq(member(spec, "nodeSelector", "kubernetes.io/arch"), "arm64");
    json_object *tol = json_object_object_get(spec, "tolerations");
    cr_assert_eq(json_object_array_length(tol), 2, "%s", json_object_to_json_string(tol));
    cr_expect_str_eq(
        json_object_get_string(json_object_object_get(json_object_array_get_idx(tol, 0), "key")),
        "lambda");
    cr_expect_str_eq(
        json_object_get_string(json_object_object_get(json_object_array_get_idx(tol, 1), "key")),
        "gpu");
    json_object *meta = json_object_object_get(pod, "metadata");
    cr_expect_str_eq(member(meta, "annotations", "example.com/owner"), "lambda");
    cr_expect_str_eq(member(meta, "annotations", "example.com/cost-center"), "42");
    cr_expect_null(member(meta, "annotations", "team"));
    const char *nonce = member(meta, "annotations", "fakecloud-launch-nonce");
    cr_expect(nonce != NULL && strcmp(nonce, "x") != 0, "a tag set our nonce");
    json_object_put(pod);

    cr_expect(mock_host_log_contains(t.mh, "this-is-not-key-value"), "the malformed entry");
    cr_expect(mock_host_log_contains(t.mh, "tolerationSeconds"), "the dropped toleration");
    cr_expect(mock_host_log_contains(t.mh, "fakecloud-launch-nonce"), "the reserved annotation");
    cr_assert_eq(t.ops->terminate(t.backend, inst.handle, &err), FCB_OK, "%s", err.message);
    itest_close(&t);
}
