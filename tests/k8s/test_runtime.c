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

Test(runtime_rewrite_localhost, rewrites_loopback_hosts_in_urls_and_host_ports, .init = setup,
     .fini = teardown)
{
    assert_rewrite("http://localhost:4566", "http://fakecloud.svc:4566");
    assert_rewrite("http://127.0.0.1:4566/path?q=localhost",
                   "http://fakecloud.svc:4566/path?q=fakecloud.svc");
    assert_rewrite("localhost:6379", "fakecloud.svc:6379");
    assert_rewrite("localhost", "fakecloud.svc");
    assert_rewrite("https://user:pw@localhost/x", "https://user:pw@fakecloud.svc/x");
    assert_rewrite("a,localhost:1,127.0.0.1:2", "a,fakecloud.svc:1,fakecloud.svc:2");
}

Test(runtime_rewrite_localhost, leaves_longer_host_names_alone, .init = setup, .fini = teardown)
{
    assert_rewrite("http://mylocalhost:1", "http://mylocalhost:1");
    assert_rewrite("http://localhost.example.com", "http://localhost.example.com");
    assert_rewrite("127.0.0.10:80", "127.0.0.10:80");
    assert_rewrite("1127.0.0.1", "1127.0.0.1");
    assert_rewrite("", "");
    assert_rewrite("plain value", "plain value");
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
