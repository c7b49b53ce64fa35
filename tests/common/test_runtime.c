/* Unit tests of plugin/common/runtime.c: image map, ECR, localhost rewrite. */
#include "runtime.h"

#include "mock_host.h"
#include "svc.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

typedef struct runtime_case {
    const char *runtime;
    const char *image;
} runtime_case;

static const runtime_case every_runtime[] = {
    {"python3.8", "public.ecr.aws/lambda/python:3.8"},
    {"python3.9", "public.ecr.aws/lambda/python:3.9"},
    {"python3.10", "public.ecr.aws/lambda/python:3.10"},
    {"python3.11", "public.ecr.aws/lambda/python:3.11"},
    {"python3.12", "public.ecr.aws/lambda/python:3.12"},
    {"python3.13", "public.ecr.aws/lambda/python:3.13"},
    {"python3.14", "public.ecr.aws/lambda/python:3.14"},
    {"nodejs16.x", "public.ecr.aws/lambda/nodejs:16"},
    {"nodejs18.x", "public.ecr.aws/lambda/nodejs:18"},
    {"nodejs20.x", "public.ecr.aws/lambda/nodejs:20"},
    {"nodejs22.x", "public.ecr.aws/lambda/nodejs:22"},
    {"nodejs24.x", "public.ecr.aws/lambda/nodejs:24"},
    {"ruby3.3", "public.ecr.aws/lambda/ruby:3.3"},
    {"ruby3.4", "public.ecr.aws/lambda/ruby:3.4"},
    {"java11", "public.ecr.aws/lambda/java:11"},
    {"java17", "public.ecr.aws/lambda/java:17"},
    {"java21", "public.ecr.aws/lambda/java:21"},
    {"java25", "public.ecr.aws/lambda/java:25"},
    {"dotnet8", "public.ecr.aws/lambda/dotnet:8"},
    {"dotnet10", "public.ecr.aws/lambda/dotnet:10"},
    {"go1.x", "public.ecr.aws/lambda/go:1"},
    {"provided.al2", "public.ecr.aws/lambda/provided:al2"},
    {"provided.al2023", "public.ecr.aws/lambda/provided:al2023"},
};

Test(runtime_image, maps_every_supported_runtime)
{
    char out[RUNTIME_IMAGE_MAX];
    for (size_t i = 0; i < sizeof every_runtime / sizeof every_runtime[0]; i++) {
        fcb_error err = FCB_ERROR_INIT;
        cr_assert_eq(runtime_image(every_runtime[i].runtime, out, &err), FCB_OK, "%s",
                     every_runtime[i].runtime);
        cr_assert_str_eq(out, every_runtime[i].image);
    }
}

Test(runtime_image, refuses_unknown_runtimes_by_name)
{
    const char *unknown[] = {"cobol1", "python2.7", "python3.7", "nodejs14.x", "nodejs19.x",
                             "java8",  "dotnet6",   "ruby3.2",   "PYTHON3.12", "python3.12 "};
    char out[RUNTIME_IMAGE_MAX];
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        fcb_error err = FCB_ERROR_INIT;
        cr_assert_eq(runtime_image(unknown[i], out, &err), FCB_ERR_UNSUPPORTED);
        char want[128];
        snprintf(want, sizeof want, "unsupported runtime: %s", unknown[i]);
        cr_assert_str_eq(err.message, want);
    }
}

Test(runtime_image, requires_a_runtime)
{
    char out[RUNTIME_IMAGE_MAX];
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(runtime_image(NULL, out, &err), FCB_ERR_INVALID_ARGUMENT);
    cr_assert(strstr(err.message, "Runtime") != NULL);
}

Test(runtime_is_provided, is_true_only_for_provided_runtimes)
{
    cr_assert(runtime_is_provided("provided.al2"));
    cr_assert(runtime_is_provided("provided.al2023"));
    cr_assert_not(runtime_is_provided("python3.12"));
    cr_assert_not(runtime_is_provided(NULL));
}

Test(runtime_translate_ecr, rewrites_private_ecr_uris_to_the_local_registry)
{
    char out[RUNTIME_IMAGE_MAX];
    cr_assert(runtime_translate_ecr("123456789012.dkr.ecr.us-east-1.amazonaws.com/my/repo:v1",
                                    "fakecloud.ns.svc", 4566, out));
    cr_assert_str_eq(out, "fakecloud.ns.svc:4566/my/repo:v1");
    cr_assert(runtime_translate_ecr("123456789012.dkr.ecr.eu-west-3.amazonaws.com/repo@sha256:abcd",
                                    "h", 5000, out));
    cr_assert_str_eq(out, "h:5000/repo@sha256:abcd");
    cr_assert(
        runtime_translate_ecr("123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn/r:t", "h", 0, out));
    cr_assert_str_eq(out, "h/r:t");
}

Test(runtime_translate_ecr, leaves_other_images_alone)
{
    const char *others[] = {"public.ecr.aws/lambda/python:3.12",
                            "busybox:1.36",
                            "12345678901.dkr.ecr.us-east-1.amazonaws.com/r:t",
                            "123456789012.dkr.ecr..amazonaws.com/r:t",
                            "123456789012.dkr.ecr.us-east-1.amazonaws.com.evil.io/r:t",
                            "123456789012.dkr.ecr.us-east-1.amazonaws.com/",
                            "registry.local:5000/a:b"};
    char out[RUNTIME_IMAGE_MAX];
    for (size_t i = 0; i < sizeof others / sizeof others[0]; i++) {
        cr_assert_not(runtime_translate_ecr(others[i], "h", 1, out), "%s", others[i]);
        cr_assert_str_eq(out, others[i]);
    }
}

static mock_host *mh;

static void setup(void)
{
    mh = mock_host_new();
}

static void teardown(void)
{
    cr_assert_eq(mock_host_outstanding_bytes(mh), 0);
    mock_host_free(mh);
}

static void assert_rewrite(const char *in, const char *want)
{
    const fcb_host_services *host = mock_host_services(mh);
    char *got = runtime_rewrite_localhost(host, in, "fakecloud.svc");
    cr_assert_not_null(got);
    cr_assert_str_eq(got, want, "input '%s'", in);
    svc_free(host, got);
}

/* Like the reference: only http(s) URLs whose host is a loopback name with a port. */
static const char *const rewritten[][2] = {
    {"http://localhost:4566", "http://fakecloud.svc:4566"},
    {"https://localhost:4566/", "https://fakecloud.svc:4566/"},
    {"http://127.0.0.1:4566/path?q=localhost", "http://fakecloud.svc:4566/path?q=localhost"},
    {"https://127.0.0.1:443", "https://fakecloud.svc:443"},
    {"HTTP://LocalHost:8", "HTTP://fakecloud.svc:8"},
    {"http://localhost:1,http://127.0.0.1:2", "http://fakecloud.svc:1,http://fakecloud.svc:2"},
    {"http://localhost:1 http://localhost:2", "http://fakecloud.svc:1 http://fakecloud.svc:2"},
    {"[\"http://localhost:1\"]", "[\"http://fakecloud.svc:1\"]"},
    {"http://localhost:4566/http://localhost:1", "http://fakecloud.svc:4566/http://localhost:1"},
};

static const char *const kept[] = {
    "localhost",
    "localhost:6379",
    "127.0.0.1:6379",
    "localhost,127.0.0.1,.svc",
    "connect to localhost for the admin UI",
    "http://localhost",
    "http://localhost/x",
    "https://user:pw@localhost:1/x",
    "ftp://localhost:21",
    "http://example.com/localhost:1/http://localhost:2",
    "http://example.com/?next=http://localhost:4566/x",
    "http://example.com/?next=http%3A%2F%2Flocalhost%3A4566",
    "xhttp://localhost:1",
    "http://mylocalhost:1",
    "http://localhost.example.com:1",
    "http://127.0.0.10:80",
    "http://1127.0.0.1:80",
    "",
    "plain value",
};

Test(runtime_rewrite_localhost, rewrites_only_http_urls_with_a_loopback_host_and_port,
     .init = setup, .fini = teardown)
{
    for (size_t i = 0; i < sizeof rewritten / sizeof rewritten[0]; i++)
        assert_rewrite(rewritten[i][0], rewritten[i][1]);
}

Test(runtime_rewrite_localhost, leaves_bare_names_prose_paths_and_query_values_as_written,
     .init = setup, .fini = teardown)
{
    for (size_t i = 0; i < sizeof kept / sizeof kept[0]; i++)
        assert_rewrite(kept[i], kept[i]);
}

Test(runtime_rewrite_localhost, copies_the_value_when_there_is_no_new_host, .init = setup,
     .fini = teardown)
{
    const fcb_host_services *host = mock_host_services(mh);
    char *got = runtime_rewrite_localhost(host, "http://localhost:1", "");
    cr_assert_str_eq(got, "http://localhost:1");
    svc_free(host, got);
}

Test(runtime_rewrite_localhost, returns_null_and_leaks_nothing_when_allocation_fails, .init = setup,
     .fini = teardown)
{
    const fcb_host_services *host = mock_host_services(mh);
    for (size_t n = 1; n <= 4; n++) {
        mock_host_fail_alloc(mh, n);
        char *got = runtime_rewrite_localhost(host, "http://localhost:1/a/localhost", "h");
        if (got != NULL)
            svc_free(host, got);
        else
            cr_assert_geq(mock_host_failed_allocs(mh), 1);
    }
    mock_host_fail_alloc(mh, 0);
}

Test(runtime_function_image, uses_the_runtime_map_for_zip_functions)
{
    fcb_function fn = {.size = sizeof fn,
                       .function_name = "f",
                       .runtime = "nodejs20.x",
                       .package_type = FCB_PACKAGE_ZIP};
    char out[RUNTIME_IMAGE_MAX];
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(runtime_function_image(&fn, "h", 1, out, &err), FCB_OK);
    cr_assert_str_eq(out, "public.ecr.aws/lambda/nodejs:20");
}

Test(runtime_function_image, translates_the_image_uri_of_image_functions)
{
    fcb_function fn = {.size = sizeof fn,
                       .function_name = "f",
                       .package_type = FCB_PACKAGE_IMAGE,
                       .image_uri = "000000000000.dkr.ecr.us-east-1.amazonaws.com/app:latest"};
    char out[RUNTIME_IMAGE_MAX];
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(runtime_function_image(&fn, "ecr.local", 4566, out, &err), FCB_OK);
    cr_assert_str_eq(out, "ecr.local:4566/app:latest");
}

Test(runtime_function_image, refuses_an_image_function_without_image_uri)
{
    fcb_function fn = {.size = sizeof fn, .function_name = "f", .package_type = FCB_PACKAGE_IMAGE};
    char out[RUNTIME_IMAGE_MAX];
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(runtime_function_image(&fn, "h", 1, out, &err), FCB_ERR_INVALID_ARGUMENT);
    cr_assert(strstr(err.message, "ImageUri") != NULL, "%s", err.message);
}

Test(runtime_function_image, refuses_image_uris_with_whitespace_or_excess_length)
{
    char long_uri[RUNTIME_IMAGE_MAX + 10];
    memset(long_uri, 'a', sizeof long_uri - 1);
    long_uri[sizeof long_uri - 1] = '\0';
    const char *bad[] = {"repo:tag\n", "re po", long_uri};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        fcb_function fn = {.size = sizeof fn,
                           .function_name = "f",
                           .package_type = FCB_PACKAGE_IMAGE,
                           .image_uri = bad[i]};
        char out[RUNTIME_IMAGE_MAX];
        fcb_error err = FCB_ERROR_INIT;
        cr_assert_eq(runtime_function_image(&fn, "h", 1, out, &err), FCB_ERR_INVALID_ARGUMENT);
        cr_assert(strstr(err.message, "ImageUri") != NULL, "%s", err.message);
    }
}

/* ---------------------------------------------- version, region, reserved env */

Test(runtime_function_version, is_the_published_version_of_a_qualified_arn)
{
    static const char *const cases[][2] = {
        {"arn:aws:lambda:eu-west-1:123456789012:function:f:7", "7"},
        {"arn:aws:lambda:eu-west-1:123456789012:function:f:12345678901234567890",
         "12345678901234567890"},
        {"arn:aws:lambda:eu-west-1:123456789012:function:f", "$LATEST"},
        {"arn:aws:lambda:eu-west-1:123456789012:function:f:$LATEST", "$LATEST"},
        {"arn:aws:lambda:eu-west-1:123456789012:function:f:prod", "$LATEST"},
        {"arn:aws:lambda:eu-west-1:123456789012:function:f:7a", "$LATEST"},
        {"arn:aws:lambda:eu-west-1:123456789012:function:f:", "$LATEST"},
        {"arn:aws:lambda:eu-west-1:123456789012:function:f:123456789012345678901", "$LATEST"},
        {"arn:aws:lambda:eu-west-1:123456789012:function:f:7:8", "$LATEST"},
        {"arn:aws:lambda:eu-west-1:123456789012:layer:f:7", "$LATEST"},
        {"arn:aws:s3:eu-west-1:123456789012:function:f:7", "$LATEST"},
        {"f:7", "$LATEST"},
        {"", "$LATEST"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fcb_function fn = {.size = sizeof fn, .function_name = "f", .function_arn = cases[i][0]};
        cr_assert_str_eq(runtime_function_version(&fn), cases[i][1], "arn '%s'", cases[i][0]);
    }
    fcb_function none = {.size = sizeof none, .function_name = "f"};
    cr_assert_str_eq(runtime_function_version(&none), "$LATEST");
    cr_assert_str_eq(runtime_function_version(NULL), "$LATEST");
}

Test(runtime_region_from_arn, reads_a_well_formed_region_only)
{
    char region[RUNTIME_REGION_MAX];
    cr_assert(runtime_region_from_arn("arn:aws:lambda:eu-west-3:1:function:f", region));
    cr_assert_str_eq(region, "eu-west-3");
    const char *bad[] = {NULL,
                         "",
                         "aws:lambda:x:1",
                         "arn:aws:lambda::1:function:f",
                         "arn:aws:lambda:EU:1:function:f",
                         "arn:aws:lambda:eu-west-1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_assert_not(runtime_region_from_arn(bad[i], region), "%s", bad[i] ? bad[i] : "NULL");
        cr_assert_str_eq(region, "");
    }
}

static const char *platform_value(const runtime_platform_env *env, const char *name)
{
    for (size_t i = 0; i < env->n; i++)
        if (strcmp(env->vars[i].name, name) == 0)
            return env->vars[i].value;
    return NULL;
}

Test(runtime_platform_env, sets_the_lambda_variables_and_the_region_of_the_arn, .init = setup,
     .fini = teardown)
{
    fcb_function fn = {.size = sizeof fn,
                       .function_name = "f",
                       .function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:f:3"};
    runtime_platform_env env;
    runtime_platform_env_init(&env, &fn, 256, 30);
    cr_assert_str_eq(platform_value(&env, "AWS_LAMBDA_FUNCTION_NAME"), "f");
    cr_assert_str_eq(platform_value(&env, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE"), "256");
    cr_assert_str_eq(platform_value(&env, "AWS_LAMBDA_FUNCTION_TIMEOUT"), "30");
    cr_assert_str_eq(platform_value(&env, "AWS_LAMBDA_FUNCTION_VERSION"), "3");
    cr_assert_str_eq(platform_value(&env, "AWS_REGION"), "eu-west-1");
    cr_assert_str_eq(platform_value(&env, "AWS_DEFAULT_REGION"), "eu-west-1");
    for (size_t i = 0; i < env.n; i++)
        cr_assert(runtime_platform_env_applies(&env, i, &fn), "%s", env.vars[i].name);
}

Test(runtime_platform_env, drops_user_values_of_reserved_names_with_a_warning, .init = setup,
     .fini = teardown)
{
    const fcb_host_services *host = mock_host_services(mh);
    fcb_env_var vars[] = {{"AWS_LAMBDA_FUNCTION_VERSION", "99"}, {"AWS_REGION", "mars-1"}};
    fcb_function fn = {.size = sizeof fn,
                       .function_name = "f",
                       .function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:f",
                       .environment = vars,
                       .n_environment = 2};
    runtime_platform_env env;
    runtime_platform_env_init(&env, &fn, 128, 3);
    const char *reserved[] = {"AWS_LAMBDA_FUNCTION_NAME",
                              "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
                              "AWS_LAMBDA_FUNCTION_TIMEOUT",
                              "AWS_LAMBDA_FUNCTION_VERSION",
                              "AWS_REGION",
                              "AWS_DEFAULT_REGION"};
    for (size_t i = 0; i < sizeof reserved / sizeof reserved[0]; i++) {
        mock_host_log_clear(mh);
        cr_assert(runtime_env_drop_reserved(host, "test", &env, reserved[i]), "%s", reserved[i]);
        cr_assert(mock_host_log_contains(mh, reserved[i]), "the warning names %s", reserved[i]);
        cr_assert(mock_host_log_contains(mh, "WARN"));
    }
    mock_host_log_clear(mh);
    cr_assert_not(runtime_env_drop_reserved(host, "test", &env, "TABLE"));
    cr_assert_not(runtime_env_drop_reserved(host, "test", &env, "AWS_LAMBDA_FUNCTION_NAMEX"));
    cr_assert_eq(mock_host_log_lines(mh), 0);
    cr_assert_str_eq(platform_value(&env, "AWS_LAMBDA_FUNCTION_VERSION"), "$LATEST");
}

Test(runtime_platform_env, without_an_arn_the_region_is_the_function_value_or_the_default,
     .init = setup, .fini = teardown)
{
    const fcb_host_services *host = mock_host_services(mh);
    fcb_env_var vars[] = {{"AWS_REGION", "ap-south-1"}};
    fcb_function fn = {.size = sizeof fn, .function_name = "f"};
    runtime_platform_env env;
    runtime_platform_env_init(&env, &fn, 128, 3);
    cr_assert_str_eq(platform_value(&env, "AWS_REGION"), RUNTIME_DEFAULT_REGION);
    for (size_t i = 0; i < env.n; i++)
        cr_assert(runtime_platform_env_applies(&env, i, &fn));
    fn.environment = vars;
    fn.n_environment = 1;
    runtime_platform_env_init(&env, &fn, 128, 3);
    cr_assert_not(runtime_env_drop_reserved(host, "test", &env, "AWS_REGION"));
    for (size_t i = 0; i < env.n; i++)
        cr_assert_eq(runtime_platform_env_applies(&env, i, &fn),
                     strcmp(env.vars[i].name, "AWS_REGION") != 0, "%s", env.vars[i].name);
}
