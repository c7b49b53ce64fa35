/*
 * Self-tests of the benchmark harness's pure parts: the percentile maths the
 * tables report and the reference's Pod body and name as the baseline builds
 * them. A wrong baseline would make every ratio a lie, so it is pinned here.
 */
#include "baseline_k8s.h"
#include "bench_stats.h"

#include <criterion/criterion.h>
#include <json-c/json.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static json_object *get(json_object *o, const char *path)
{
    char buf[256];
    snprintf(buf, sizeof(buf), "%s", path);
    for (char *save = NULL, *k = strtok_r(buf, ".", &save); k && o;
         k = strtok_r(NULL, ".", &save)) {
        json_object *next = NULL;
        if (json_object_is_type(o, json_type_array))
            next = json_object_array_get_idx(o, (size_t)atoi(k));
        else if (!json_object_object_get_ex(o, k, &next))
            next = NULL;
        o = next;
    }
    return o;
}

Test(bench_series, nearest_rank_percentiles_of_one_to_hundred)
{
    bench_series s = BENCH_SERIES_INIT;
    for (int i = 100; i >= 1; i--)
        cr_assert_eq(bench_series_add(&s, i), 0);
    cr_expect_float_eq(bench_series_percentile(&s, 50), 50.0, 1e-9);
    cr_expect_float_eq(bench_series_percentile(&s, 99), 99.0, 1e-9);
    cr_expect_float_eq(bench_series_percentile(&s, 0), 1.0, 1e-9);
    cr_expect_float_eq(bench_series_percentile(&s, 100), 100.0, 1e-9);
    cr_expect_float_eq(bench_series_mean(&s), 50.5, 1e-9);
    bench_series_free(&s);
}

Test(bench_series, p99_of_few_samples_is_the_maximum)
{
    bench_series s = BENCH_SERIES_INIT;
    bench_series_add(&s, 3);
    bench_series_add(&s, 1);
    bench_series_add(&s, 2);
    cr_expect_float_eq(bench_series_percentile(&s, 99), 3.0, 1e-9);
    cr_expect_float_eq(bench_series_percentile(&s, 50), 2.0, 1e-9);
    bench_series_free(&s);
}

Test(bench_series, empty_series_has_no_percentile)
{
    bench_series s = BENCH_SERIES_INIT;
    cr_expect(isnan(bench_series_percentile(&s, 50)));
    cr_expect(isnan(bench_series_mean(&s)));
}

Test(bench_rfc3339, reads_dockerd_started_at_with_nanoseconds)
{
    cr_expect_eq(bench_rfc3339_ns("1970-01-01T00:00:01.5Z"), 1500000000LL);
    cr_expect_eq(bench_rfc3339_ns("2026-11-30T14:40:01.123456789Z"),
                 1796049601LL * 1000000000LL + 123456789LL);
    cr_expect_eq(bench_rfc3339_ns("2026-11-30T14:40:01Z"), 1796049601LL * 1000000000LL);
}

Test(bench_rfc3339, refuses_non_utc_and_garbage)
{
    cr_expect_eq(bench_rfc3339_ns("2026-11-30T14:40:01+01:00"), -1);
    cr_expect_eq(bench_rfc3339_ns("0001-01-01T00:00:00Zjunk"), -1);
    cr_expect_eq(bench_rfc3339_ns("not a time"), -1);
    cr_expect_eq(bench_rfc3339_ns(NULL), -1);
}

Test(baseline_pod_name, is_deterministic_per_function_and_deploy_like_the_reference)
{
    char *a = basek8s_pod_name("My_Fn", "0123456789abcdef");
    char *b = basek8s_pod_name("My_Fn", "0123456789abcdef");
    cr_assert_not_null(a);
    cr_expect_str_eq(a, "fakecloud-lambda-my-fn-01234567");
    cr_expect_str_eq(a, b);
    free(a);
    free(b);
}

Test(baseline_pod_name, stays_a_dns_label_for_long_names)
{
    char *a = basek8s_pod_name("a-very-long-function-name-that-goes-on-and-on-and-on-forever",
                               "0123456789abcdef");
    cr_assert_not_null(a);
    cr_expect_leq(strlen(a), 63u);
    cr_expect_neq(a[strlen(a) - 1], '-');
    free(a);
}

Test(baseline_pod_body, carries_the_reference_labels_and_restart_policy)
{
    basek8s_config cfg = BASEK8S_CONFIG_DEFAULTS("ns1", "fakecloud-42", "http://h:4566", "tok");
    basek8s_function fn = {"fn", NULL, NULL, NULL, "img:1", false, "0123456789abcdef", 0, 0};
    char *text = basek8s_pod_json(&cfg, &fn);
    cr_assert_not_null(text);
    json_object *pod = json_tokener_parse(text);
    cr_assert_not_null(pod);
    cr_expect_str_eq(json_object_get_string(get(pod, "metadata.namespace")), "ns1");
    cr_expect_str_eq(json_object_get_string(get(pod, "metadata.labels.fakecloud-managed-by")),
                     "fakecloud");
    cr_expect_str_eq(json_object_get_string(get(pod, "metadata.labels.fakecloud-instance")),
                     "fakecloud-42");
    cr_expect_str_eq(json_object_get_string(get(pod, "spec.restartPolicy")), "Never");
    cr_expect_str_eq(json_object_get_string(get(pod, "spec.containers.0.image")), "img:1");
    cr_expect_eq(json_object_get_int(get(pod, "spec.containers.0.ports.0.containerPort")), 8080);
    cr_expect_str_eq(json_object_get_string(get(pod, "spec.containers.0.resources.limits.memory")),
                     "128Mi");
    cr_expect_null(get(pod, "spec.initContainers"), "image functions download nothing");
    json_object_put(pod);
    free(text);
}

Test(baseline_pod_body, zip_function_passes_the_token_as_a_plain_env_value_like_the_reference)
{
    basek8s_config cfg =
        BASEK8S_CONFIG_DEFAULTS("default", "fakecloud-1", "http://h:4566", "s3cret");
    basek8s_function fn = {"fn",
                           "arn:aws:lambda:us-east-1:123456789012:function:fn",
                           "python3.12",
                           "app.handler",
                           "img:1",
                           true,
                           "0123456789abcdef",
                           256,
                           9};
    char *text = basek8s_pod_json(&cfg, &fn);
    cr_assert_not_null(text);
    json_object *pod = json_tokener_parse(text);
    cr_assert_not_null(pod);
    cr_expect_str_eq(json_object_get_string(get(pod, "spec.initContainers.0.env.1.name")),
                     "FAKECLOUD_INTERNAL_TOKEN");
    cr_expect_str_eq(json_object_get_string(get(pod, "spec.initContainers.0.env.1.value")),
                     "s3cret");
    const char *script = json_object_get_string(get(pod, "spec.initContainers.0.command.2"));
    cr_assert_not_null(script);
    cr_expect(strstr(script, "/code/123456789012/fn/0123456789abcdef.zip") != NULL, "%s", script);
    cr_expect_str_eq(json_object_get_string(get(pod, "spec.containers.0.args.0")), "app.handler");
    cr_expect_str_eq(
        json_object_get_string(get(pod, "spec.containers.0.resources.requests.memory")), "256Mi");
    json_object_put(pod);
    free(text);
}

Test(bench_tcp_probe, refuses_a_closed_port_quickly)
{
    /* Port 1 on loopback is closed on any sane test machine. */
    cr_expect_eq(bhttp_tcp_probe("127.0.0.1", 1, 1000), -1);
    cr_expect_eq(bhttp_tcp_probe("not-an-ip", 8080, 1000), -1);
}
