/*
 * Unit tests of the main container's environment in k8s_pod: the shared
 * localhost rewrite, the platform-reserved variables and the version.
 */
#include "k8s_pod.h"

#include "k8s_test_util.h"
#include "mock_host.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#define MAIN "spec.containers[0]"

static mock_host *mh;
static k8s_config *cfg;
static fcb_function fn;
static fcb_launch_request req;
static char pod_name[K8S_POD_NAME_MAX];

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
}

static void teardown(void)
{
    k8s_config_free(mock_host_services(mh), cfg);
    cr_assert_eq(mock_host_outstanding_bytes(mh), 0, "leaked %zu bytes",
                 mock_host_outstanding_bytes(mh));
    mock_host_free(mh);
}

TestSuite(k8s_pod_env, .init = setup, .fini = teardown);

static json_object *build(void)
{
    k8s_pod_input in = {.config = cfg,
                        .namespace_name = "lambdas",
                        .instance_id = "0123456789abcdef",
                        .token_secret = "fakecloud-lambda-token-0123456789abcdef",
                        .pod_name = pod_name,
                        .nonce = "feedf00d",
                        .request = &req};
    json_object *pod = NULL;
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(k8s_pod_build(mock_host_services(mh), &in, &pod, &err), FCB_OK, "%s", err.message);
    return pod;
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
