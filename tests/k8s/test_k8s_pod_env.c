/*
 * Unit tests of the main container's environment in k8s_pod: the shared
 * localhost rewrite, the reserved Lambda environment (lambda_env), the
 * version, and role credentials (only through the launch's Secret).
 */
#include "k8s_pod.h"

#include "k8s_pod_test.h"
#include "k8s_test_util.h"
#include "mock_host.h"

#include <criterion/criterion.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#define MAIN  "spec.containers[0]"
#define NONCE K8S_TEST_NONCE
#define NOW   K8S_TEST_NOW
#define CREDS K8S_TEST_CREDENTIALS

/* Credential values a test can grep for: none may appear in a Pod or a log. */
#define KEY_ID  "ASIAEXAMPLEKEYID0001"
#define SECRET  "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY"
#define SESSION "IQoJb3JpZ2luX2VjEXAMPLEsessionTOKEN+/="

static mock_host *mh;
static k8s_config *cfg;
static fcb_function fn;
static fcb_launch_request req;
static char pod_name[K8S_POD_NAME_MAX];
static fcb_credentials creds;

static void setup(void)
{
    fcb_error err = FCB_ERROR_INIT;
    mh = mock_host_new();
    cfg = NULL;
    mock_host_set_config(mh, "FAKECLOUD_K8S_SELF_URL", "http://fakecloud.fc.svc:4566");
    cr_assert_eq(k8s_config_parse(mock_host_services(mh), &cfg, &err), FCB_OK, "%s", err.message);
    fn = (fcb_function){.size = sizeof fn,
                        .function_name = "My_Func",
                        .function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:My_Func",
                        .runtime = "python3.12",
                        .handler = "app.handler",
                        .package_type = FCB_PACKAGE_ZIP};
    req = (fcb_launch_request){.size = sizeof req, .function = &fn, .deploy_id = "d-0123"};
    k8s_pod_name(fn.function_name, req.deploy_id, "n1", pod_name);
    creds = (fcb_credentials){.size = sizeof creds,
                              .access_key_id = KEY_ID,
                              .secret_access_key = SECRET,
                              .session_token = SESSION,
                              .expiration_unix_s = NOW + 3600};
}

static void teardown(void)
{
    k8s_config_free(mock_host_services(mh), cfg);
    cr_assert_eq(mock_host_outstanding_bytes(mh), 0, "leaked %zu bytes",
                 mock_host_outstanding_bytes(mh));
    mock_host_free(mh);
}

TestSuite(k8s_pod_env, .init = setup, .fini = teardown);

static k8s_pod_input input(void)
{
    return k8s_test_input(cfg, pod_name, &req);
}

static json_object *build(void)
{
    k8s_pod_input in = input();
    json_object *pod = NULL;
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(k8s_pod_build(mock_host_services(mh), &in, &pod, &err), FCB_OK, "%s", err.message);
    return pod;
}

/* Build with the Secret; the return code, *pod and *secret (NULL on error). */
static int build_objects(json_object **pod, json_object **secret, fcb_error *err)
{
    k8s_pod_input in = input();
    return k8s_pod_build_objects(mock_host_services(mh), &in, pod, secret, err);
}

static const char *env_value(json_object *pod, const char *name)
{
    char path[128];
    snprintf(path, sizeof path, MAIN ".env[name=%s].value", name);
    return jstr(pod, path);
}

static size_t env_count(json_object *pod, const char *name)
{
    json_object *env = jpath(pod, MAIN ".env");
    size_t count = 0;
    for (size_t i = 0; i < json_object_array_length(env); i++) {
        json_object *v = json_object_object_get(json_object_array_get_idx(env, i), "name");
        count += strcmp(json_object_get_string(v), name) == 0;
    }
    return count;
}

Test(k8s_pod_env, rewrites_only_loopback_urls_like_the_reference)
{
    fcb_env_var env[] = {{"ENDPOINT", "http://localhost:4566/x"},
                         {"DB", "127.0.0.1:5432"},
                         {"NO_PROXY", "localhost,127.0.0.1"},
                         {"NOTE", "talk to localhost"},
                         {"CB", "http://example.com/?next=http://localhost:4566/"}};
    fn.environment = env;
    fn.n_environment = 5;
    json_object *pod = build();
    cr_expect_str_eq(env_value(pod, "ENDPOINT"), "http://fakecloud.fc.svc:4566/x");
    cr_expect_str_eq(env_value(pod, "DB"), "127.0.0.1:5432");
    cr_expect_str_eq(env_value(pod, "NO_PROXY"), "localhost,127.0.0.1");
    cr_expect_str_eq(env_value(pod, "NOTE"), "talk to localhost");
    cr_expect_str_eq(env_value(pod, "CB"), "http://example.com/?next=http://localhost:4566/");
    json_object_put(pod);
}

Test(k8s_pod_env, platform_variables_win_over_the_function_values_with_a_warning)
{
    fcb_env_var env[] = {{"AWS_LAMBDA_FUNCTION_VERSION", "7"},
                         {"AWS_LAMBDA_FUNCTION_TIMEOUT", "900"},
                         {"AWS_REGION", "mars-1"},
                         {"TABLE", "orders"}};
    fn.environment = env;
    fn.n_environment = 4;
    json_object *pod = build();
    cr_expect_str_eq(env_value(pod, "AWS_LAMBDA_FUNCTION_VERSION"), "$LATEST");
    cr_expect_str_eq(env_value(pod, "AWS_LAMBDA_FUNCTION_TIMEOUT"), "3");
    cr_expect_str_eq(env_value(pod, "AWS_REGION"), "eu-west-1", "the ARN's region wins");
    cr_expect_str_eq(env_value(pod, "TABLE"), "orders");
    const char *names[] = {"AWS_LAMBDA_FUNCTION_VERSION", "AWS_LAMBDA_FUNCTION_TIMEOUT",
                           "AWS_REGION"};
    for (size_t i = 0; i < 3; i++) {
        cr_expect_eq(env_count(pod, names[i]), 1, "%s never twice", names[i]);
        cr_expect(mock_host_log_contains(mh, names[i]), "a warning names %s", names[i]);
    }
    cr_expect(mock_host_log_contains(mh, "reserved"));
    json_object_put(pod);
}

Test(k8s_pod_env, version_is_the_qualifier_of_a_published_version_arn)
{
    fn.function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:My_Func:12";
    json_object *pod = build();
    cr_expect_str_eq(env_value(pod, "AWS_LAMBDA_FUNCTION_VERSION"), "12");
    json_object_put(pod);
    fn.function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:My_Func:live";
    pod = build();
    cr_expect_str_eq(env_value(pod, "AWS_LAMBDA_FUNCTION_VERSION"), "$LATEST");
    json_object_put(pod);
}

Test(k8s_pod_env, without_an_arn_the_region_is_the_function_value_or_us_east_1)
{
    fn.function_arn = NULL;
    json_object *pod = build();
    cr_expect_str_eq(env_value(pod, "AWS_REGION"), "us-east-1");
    cr_expect_str_eq(env_value(pod, "AWS_DEFAULT_REGION"), "us-east-1");
    json_object_put(pod);
    fcb_env_var env[] = {{"AWS_REGION", "ap-south-1"}};
    fn.environment = env;
    fn.n_environment = 1;
    pod = build();
    cr_expect_str_eq(env_value(pod, "AWS_REGION"), "ap-south-1");
    cr_expect_eq(env_count(pod, "AWS_REGION"), 1);
    json_object_put(pod);
}

Test(k8s_pod_env, sets_every_reserved_lambda_variable_from_the_function)
{
    fn.function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:My_Func:4";
    json_object *pod = build();
    static const char *const want[][2] = {
        {"_HANDLER", "app.handler"},
        {"AWS_REGION", "eu-west-1"},
        {"AWS_DEFAULT_REGION", "eu-west-1"},
        {"AWS_EXECUTION_ENV", "AWS_Lambda_python3.12"},
        {"AWS_LAMBDA_FUNCTION_NAME", "My_Func"},
        {"AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"},
        {"AWS_LAMBDA_FUNCTION_VERSION", "4"},
        {"AWS_LAMBDA_FUNCTION_TIMEOUT", "3"},
        {"AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand"},
        {"AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/My_Func"},
        {"AWS_LAMBDA_LOG_STREAM_NAME", "2026/12/03/[4]" NONCE},
        {"LAMBDA_TASK_ROOT", "/var/task"},
        {"LAMBDA_RUNTIME_DIR", "/var/runtime"},
        {"TZ", ":UTC"},
        {"AWS_XRAY_CONTEXT_MISSING", "LOG_ERROR"},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        cr_expect_str_eq(env_value(pod, want[i][0]), want[i][1], "%s", want[i][0]);
        cr_expect_eq(env_count(pod, want[i][0]), 1, "%s once", want[i][0]);
    }
    cr_expect_null(jpath(pod, MAIN ".env[name=AWS_ENDPOINT_URL]"), "no endpoint unless given");
    cr_expect_null(jpath(pod, MAIN ".env[name=AWS_ACCESS_KEY_ID]"), "no credentials unless given");
    cr_expect_null(jpath(pod, MAIN ".env[name=AWS_LAMBDA_RUNTIME_API]"), "the RIE sets it");
    json_object_put(pod);
}

Test(k8s_pod_env, os_only_and_image_functions_get_no_execution_env)
{
    fn.runtime = "provided.al2023";
    fn.handler = "bootstrap";
    json_object *pod = build();
    cr_expect_null(jpath(pod, MAIN ".env[name=AWS_EXECUTION_ENV]"));
    cr_expect_str_eq(env_value(pod, "_HANDLER"), "bootstrap");
    json_object_put(pod);
    fn.package_type = FCB_PACKAGE_IMAGE;
    fn.runtime = NULL;
    fn.handler = NULL;
    fn.image_uri = "registry.local/fn:1";
    pod = build();
    cr_expect_null(jpath(pod, MAIN ".env[name=AWS_EXECUTION_ENV]"));
    cr_expect_null(jpath(pod, MAIN ".env[name=_HANDLER]"));
    cr_expect_str_eq(env_value(pod, "LAMBDA_TASK_ROOT"), "/var/task");
    json_object_put(pod);
}

Test(k8s_pod_env, the_hosts_endpoint_url_is_set_with_the_localhost_rewrite)
{
    req.aws_endpoint_url = "http://localhost:4566";
    json_object *pod = build();
    cr_expect_str_eq(env_value(pod, "AWS_ENDPOINT_URL"), "http://fakecloud.fc.svc:4566");
    json_object_put(pod);
    req.aws_endpoint_url = "https://aws.internal:443";
    pod = build();
    cr_expect_str_eq(env_value(pod, "AWS_ENDPOINT_URL"), "https://aws.internal:443");
    json_object_put(pod);
}

Test(k8s_pod_env, function_values_of_reserved_variables_are_dropped_with_a_warning)
{
    fcb_env_var env[] = {{"_HANDLER", "evil.handler"},
                         {"LAMBDA_TASK_ROOT", "/tmp"},
                         {"AWS_LAMBDA_LOG_GROUP_NAME", "/mine"},
                         {"AWS_ENDPOINT_URL", "http://mine:1"},
                         {"AWS_SECRET_ACCESS_KEY", "user-secret-value"},
                         {"KEEP", "me"}};
    fn.environment = env;
    fn.n_environment = 6;
    req.aws_endpoint_url = "http://aws.internal:4566";
    req.credentials = &creds;
    json_object *pod = NULL, *secret = NULL;
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(build_objects(&pod, &secret, &err), FCB_OK, "%s", err.message);
    cr_expect_str_eq(env_value(pod, "_HANDLER"), "app.handler");
    cr_expect_str_eq(env_value(pod, "LAMBDA_TASK_ROOT"), "/var/task");
    cr_expect_str_eq(env_value(pod, "AWS_LAMBDA_LOG_GROUP_NAME"), "/aws/lambda/My_Func");
    cr_expect_str_eq(env_value(pod, "AWS_ENDPOINT_URL"), "http://aws.internal:4566");
    cr_expect_str_eq(env_value(pod, "KEEP"), "me");
    for (size_t i = 0; i < 5; i++) {
        cr_expect_eq(env_count(pod, env[i].name), 1, "%s once", env[i].name);
        cr_expect(mock_host_log_contains(mh, env[i].name), "a warning names %s", env[i].name);
    }
    cr_expect_not(mock_host_log_contains(mh, "user-secret-value"), "values are never logged");
    cr_expect_not(mock_host_log_contains(mh, SECRET), "values are never logged");
    json_object_put(pod);
    json_object_put(secret);
}

Test(k8s_pod_env, tz_and_xray_variables_are_defaults_the_function_may_set)
{
    /* AWS's unreserved list: a function sets TZ and the X-Ray variables itself. */
    fcb_env_var env[] = {{"TZ", "Europe/Paris"}, {"AWS_XRAY_CONTEXT_MISSING", "IGNORE_ERROR"}};
    fn.environment = env;
    fn.n_environment = 2;
    json_object *pod = build();
    cr_expect_str_eq(env_value(pod, "TZ"), "Europe/Paris");
    cr_expect_str_eq(env_value(pod, "AWS_XRAY_CONTEXT_MISSING"), "IGNORE_ERROR");
    cr_expect_eq(env_count(pod, "TZ"), 1);
    cr_expect_eq(env_count(pod, "AWS_XRAY_CONTEXT_MISSING"), 1);
    cr_expect_not(mock_host_log_contains(mh, "variable=TZ"), "no warning for TZ");
    json_object_put(pod);
}

Test(k8s_pod_env, credentials_reach_the_environment_only_through_the_launch_secret)
{
    req.credentials = &creds;
    json_object *pod = NULL, *secret = NULL;
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(build_objects(&pod, &secret, &err), FCB_OK, "%s", err.message);
    const char *text = json_object_to_json_string_ext(pod, JSON_C_TO_STRING_PLAIN);
    cr_expect_null(strstr(text, KEY_ID), "the access key id is not in the Pod");
    cr_expect_null(strstr(text, "wJalrXUtnFEMI"), "the secret is not in the Pod");
    cr_expect_null(strstr(text, "IQoJb3JpZ2lu"), "the session token is not in the Pod");
    static const char *const names[] = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
                                        "AWS_SESSION_TOKEN"};
    static const char *const values[] = {KEY_ID, SECRET, SESSION};
    for (size_t i = 0; i < 3; i++) {
        char path[160];
        snprintf(path, sizeof path, MAIN ".env[name=%s]", names[i]);
        json_object *e = jpath(pod, path);
        cr_assert_not_null(e, "%s is in the env", names[i]);
        cr_expect_null(json_object_object_get(e, "value"), "%s has no value", names[i]);
        snprintf(path, sizeof path, MAIN ".env[name=%s].valueFrom.secretKeyRef.name", names[i]);
        cr_expect_str_eq(jstr(pod, path), CREDS);
        snprintf(path, sizeof path, MAIN ".env[name=%s].valueFrom.secretKeyRef.key", names[i]);
        cr_expect_str_eq(jstr(pod, path), names[i]);
        snprintf(path, sizeof path, "stringData.%s", names[i]);
        cr_assert_not_null(secret, "a Secret comes with credentials");
        cr_expect_str_eq(jstr(secret, path), values[i], "the Secret holds %s", names[i]);
    }
    cr_expect_eq(json_object_object_length(json_object_object_get(secret, "stringData")), 3);
    cr_expect_str_eq(jstr(secret, "kind"), "Secret");
    cr_expect_str_eq(jstr(secret, "type"), "Opaque");
    cr_expect_str_eq(jstr(secret, "metadata.name"), CREDS);
    cr_expect_str_eq(jstr(secret, "metadata.namespace"), "lambdas");
    cr_expect_str_eq(jstr(secret, "metadata.labels.fakecloud-managed-by"), "fakecloud");
    cr_expect_str_eq(jstr(secret, "metadata.labels.fakecloud-instance"), "0123456789abcdef");
    cr_expect_str_eq(jstr(secret, "metadata.annotations.fakecloud-pod"), pod_name);
    json_object_put(pod);
    json_object_put(secret);

    creds.session_token = NULL;
    cr_assert_eq(build_objects(&pod, &secret, &err), FCB_OK, "%s", err.message);
    cr_expect_null(jpath(pod, MAIN ".env[name=AWS_SESSION_TOKEN]"));
    cr_expect_null(jpath(secret, "stringData.AWS_SESSION_TOKEN"));
    json_object_put(pod);
    json_object_put(secret);

    req.credentials = NULL;
    cr_assert_eq(build_objects(&pod, &secret, &err), FCB_OK, "%s", err.message);
    cr_expect_null(secret, "no Secret without credentials");
    json_object_put(pod);
}

Test(k8s_pod_env, refuses_bad_credentials_naming_the_field_never_the_value)
{
    static const char long_key[] = "AKIA0123456789012345678901234567890123456789012345678901234567"
                                   "890123456789012345678901234567890123456789012345678901234567"
                                   "890123456789";
    static const struct {
        const char *key, *secret, *token;
        int64_t expiry;
        const char *message;
    } bad[] = {
        {NULL, SECRET, NULL, 0, "credentials.access_key_id: required"},
        {"", SECRET, NULL, 0, "credentials.access_key_id: required"},
        {KEY_ID, NULL, NULL, 0, "credentials.secret_access_key: required"},
        {KEY_ID, "", SESSION, 0, "credentials.secret_access_key: required"},
        {"AKIA EXAMPLE", SECRET, NULL, 0, "credentials.access_key_id: byte 4 is not printable"},
        {KEY_ID, "line\nbreak", NULL, 0, "credentials.secret_access_key: byte 4 is not printable"},
        {KEY_ID, SECRET, "tok\xc3\xa9n", 0, "credentials.session_token: byte 3 is not printable"},
        {long_key, SECRET, NULL, 0, "credentials.access_key_id: longer than 128 bytes"},
        {KEY_ID, SECRET, NULL, NOW - 1,
         "credentials.expiration_unix_s: expired at "
         "2026-12-03T15:59:59Z, 1 s before the launch"},
        {KEY_ID, SECRET, NULL, NOW, "credentials.expiration_unix_s: expired"},
        {KEY_ID, SECRET, NULL, -5, "credentials.expiration_unix_s: -5 is negative"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        creds =
            (fcb_credentials){sizeof creds, bad[i].key, bad[i].secret, bad[i].token, bad[i].expiry};
        req.credentials = &creds;
        json_object *pod = (json_object *)1, *secret = (json_object *)1;
        fcb_error err = FCB_ERROR_INIT;
        cr_expect_eq(build_objects(&pod, &secret, &err), FCB_ERR_INVALID_ARGUMENT, "case %zu", i);
        cr_expect(strstr(err.message, bad[i].message) != NULL, "case %zu: %s", i, err.message);
        cr_expect(pod == NULL && secret == NULL, "case %zu: nothing built", i);
        cr_expect_null(strstr(err.message, "EXAMPLE"), "case %zu shows a value: %s", i,
                       err.message);
    }
    creds =
        (fcb_credentials){offsetof(fcb_credentials, secret_access_key), KEY_ID, SECRET, NULL, 0};
    req.credentials = &creds;
    json_object *pod = NULL, *secret = NULL;
    fcb_error err = FCB_ERROR_INIT;
    cr_expect_eq(build_objects(&pod, &secret, &err), FCB_ERR_INVALID_ARGUMENT);
    cr_expect(strstr(err.message, "credentials") != NULL, "%s", err.message);
}

Test(k8s_pod_env, a_1_0_request_has_no_credentials_and_a_1_0_function_no_tags)
{
    static const fcb_tag tags[] = {{"fakecloud-k8s/annotations", "team=core"}};
    req.credentials = &creds;
    req.aws_endpoint_url = "http://aws.internal:4566";
    req.size = offsetof(fcb_launch_request, credentials);
    fn.tags = tags;
    fn.n_tags = 1;
    fn.size = offsetof(fcb_function, tags);
    json_object *pod = NULL, *secret = NULL;
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(build_objects(&pod, &secret, &err), FCB_OK, "%s", err.message);
    cr_expect_null(secret);
    cr_expect_null(jpath(pod, MAIN ".env[name=AWS_ACCESS_KEY_ID]"));
    cr_expect_null(jpath(pod, MAIN ".env[name=AWS_ENDPOINT_URL]"));
    cr_expect_null(jpath(pod, "metadata.annotations.team"));
    json_object_put(pod);
}

Test(k8s_pod_env, credentials_without_a_secret_name_are_an_internal_error)
{
    req.credentials = &creds;
    k8s_pod_input in = input();
    in.credentials_secret = NULL;
    json_object *pod = NULL, *secret = NULL;
    fcb_error err = FCB_ERROR_INIT;
    cr_expect_eq(k8s_pod_build_objects(mock_host_services(mh), &in, &pod, &secret, &err),
                 FCB_ERR_INTERNAL);
    cr_expect(pod == NULL && secret == NULL);
    /* k8s_pod_build alone never builds the Secret, so it refuses too. */
    cr_expect_eq(k8s_pod_build(mock_host_services(mh), &in, &pod, &err), FCB_ERR_INTERNAL);
}
