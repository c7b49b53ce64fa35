/* Unit tests of k8s_config: every FAKECLOUD_K8S_* key, defaults and errors. */
#include "k8s_config.h"

#include "k8s_test_util.h"
#include "mock_host.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static mock_host *mh;

static void setup(void)
{
    mh = mock_host_new();
    mock_host_set_config(mh, "FAKECLOUD_K8S_SELF_URL",
                         "http://fakecloud.fakecloud.svc.cluster.local:4566/");
}

static void teardown(void)
{
    cr_assert_eq(mock_host_outstanding_bytes(mh), 0, "leaked %zu bytes",
                 mock_host_outstanding_bytes(mh));
    mock_host_free(mh);
}

TestSuite(k8s_config, .init = setup, .fini = teardown);

static k8s_config *parse_ok(void)
{
    k8s_config *cfg = NULL;
    fcb_error err = FCB_ERROR_INIT;
    int rc = k8s_config_parse(mock_host_services(mh), &cfg, &err);
    cr_assert_eq(rc, FCB_OK, "parse failed: %s", err.message);
    return cfg;
}

static void expect_error(const char *key, const char *value, const char *needle)
{
    mock_host_set_config(mh, key, value);
    k8s_config *cfg = NULL;
    fcb_error err = FCB_ERROR_INIT;
    int rc = k8s_config_parse(mock_host_services(mh), &cfg, &err);
    cr_assert_eq(rc, FCB_ERR_CONFIG, "%s=%s: rc %d (%s)", key, value, rc, err.message);
    cr_assert_null(cfg);
    cr_assert(strstr(err.message, needle) != NULL, "%s=%s: message '%s' lacks '%s'", key, value,
              err.message, needle);
    mock_host_set_config(mh, key, NULL);
}

Test(k8s_config, requires_the_self_url)
{
    mock_host_set_config(mh, "FAKECLOUD_K8S_SELF_URL", NULL);
    k8s_config *cfg = NULL;
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(k8s_config_parse(mock_host_services(mh), &cfg, &err), FCB_ERR_CONFIG);
    cr_assert_str_eq(err.message,
                     "FAKECLOUD_K8S_SELF_URL must be set when FAKECLOUD_LAMBDA_BACKEND=k8s");
}

Test(k8s_config, refuses_invalid_or_hostless_self_urls)
{
    const char *bad[] = {"not a url",         "fakecloud:4566", "http://",    "ftp://host/x",
                         "http://host:99999", "http://h/x?y=1", "http://h/#f"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        expect_error("FAKECLOUD_K8S_SELF_URL", bad[i],
                     "FAKECLOUD_K8S_SELF_URL is not a valid URL: ");
}

Test(k8s_config, derives_defaults_from_the_self_url)
{
    k8s_config *cfg = parse_ok();
    cr_assert_str_eq(cfg->self_url, "http://fakecloud.fakecloud.svc.cluster.local:4566");
    cr_assert_str_eq(cfg->self_host, "fakecloud.fakecloud.svc.cluster.local");
    cr_assert_eq(cfg->self_port, 4566);
    cr_assert_str_eq(cfg->ecr_host, "fakecloud.fakecloud.svc.cluster.local");
    cr_assert_eq(cfg->ecr_port, 4566);
    cr_assert_null(cfg->namespace_name);
    cr_assert_null(cfg->pull_secret);
    cr_assert_str_eq(cfg->init_image, "busybox:1.36");
    cr_assert_eq(cfg->running_timeout_ms, 60000);
    cr_assert_eq(cfg->rie_timeout_ms, 10000);
    cr_assert_eq(cfg->terminate_grace_seconds, 5);
    cr_assert_eq(cfg->cpu_request.mode, K8S_CPU_NONE,
                 "no CPU request by default, like the reference");
    cr_assert_eq(cfg->cpu_limit.mode, K8S_CPU_NONE);
    cr_assert_null(cfg->pod_template);
    k8s_config_free(mock_host_services(mh), cfg);
}

Test(k8s_config, cpu_request_proportional_is_opt_in)
{
    mock_host_set_config(mh, "FAKECLOUD_K8S_CPU_REQUEST", "proportional");
    k8s_config *cfg = parse_ok();
    cr_assert_eq(cfg->cpu_request.mode, K8S_CPU_PROPORTIONAL);
    cr_assert_eq(cfg->cpu_limit.mode, K8S_CPU_NONE);
    k8s_config_free(mock_host_services(mh), cfg);
    mock_host_set_config(mh, "FAKECLOUD_K8S_CPU_REQUEST", "none");
    cfg = parse_ok();
    cr_assert_eq(cfg->cpu_request.mode, K8S_CPU_NONE);
    k8s_config_free(mock_host_services(mh), cfg);
}

Test(k8s_config, uses_the_scheme_default_port)
{
    mock_host_set_config(mh, "FAKECLOUD_K8S_SELF_URL", "https://fc.example");
    k8s_config *cfg = parse_ok();
    cr_assert_eq(cfg->self_port, 443);
    cr_assert_eq(cfg->ecr_port, 443);
    k8s_config_free(mock_host_services(mh), cfg);
}

Test(k8s_config, reads_the_ecr_url_as_host_port_or_url)
{
    mock_host_set_config(mh, "FAKECLOUD_K8S_ECR_URL", "registry.local:5000");
    k8s_config *cfg = parse_ok();
    cr_assert_str_eq(cfg->ecr_host, "registry.local");
    cr_assert_eq(cfg->ecr_port, 5000);
    k8s_config_free(mock_host_services(mh), cfg);
    mock_host_set_config(mh, "FAKECLOUD_K8S_ECR_URL", "http://10.0.0.5:4566");
    cfg = parse_ok();
    cr_assert_str_eq(cfg->ecr_host, "10.0.0.5");
    cr_assert_eq(cfg->ecr_port, 4566);
    k8s_config_free(mock_host_services(mh), cfg);
    expect_error("FAKECLOUD_K8S_ECR_URL", "http://", "FAKECLOUD_K8S_ECR_URL is not a valid URL");
    expect_error("FAKECLOUD_K8S_ECR_URL", "a b", "FAKECLOUD_K8S_ECR_URL is not a valid URL");
}

Test(k8s_config, reads_every_optional_key)
{
    mock_host_set_config(mh, "FAKECLOUD_K8S_NAMESPACE", "lambdas");
    mock_host_set_config(mh, "FAKECLOUD_K8S_PULL_SECRET", "regcred");
    mock_host_set_config(mh, "FAKECLOUD_K8S_SERVICE_ACCOUNT", "lambda-sa");
    mock_host_set_config(mh, "FAKECLOUD_K8S_PRIORITY_CLASS", "low");
    mock_host_set_config(mh, "FAKECLOUD_K8S_INIT_IMAGE", "mirror.local/busybox:1.36");
    mock_host_set_config(mh, "FAKECLOUD_K8S_RUNTIME_IMAGE_PREFIX", "mirror.local:5000/lambda/");
    mock_host_set_config(mh, "FAKECLOUD_K8S_IMAGE_PULL_POLICY", "IfNotPresent");
    mock_host_set_config(mh, "FAKECLOUD_K8S_NODE_SELECTOR", "kubernetes.io/os=linux,pool=lambda");
    mock_host_set_config(mh, "FAKECLOUD_K8S_LABELS", "{\"team\":\"a\"}");
    mock_host_set_config(mh, "FAKECLOUD_K8S_ANNOTATIONS", "note=any value: here");
    mock_host_set_config(mh, "FAKECLOUD_K8S_TOLERATIONS",
                         "[{\"key\":\"k\",\"operator\":\"Exists\",\"effect\":\"NoSchedule\"}]");
    mock_host_set_config(mh, "FAKECLOUD_K8S_RUN_AS_USER", "1000");
    mock_host_set_config(mh, "FAKECLOUD_K8S_RUN_AS_NON_ROOT", "true");
    mock_host_set_config(mh, "FAKECLOUD_K8S_CPU_REQUEST", "250m");
    mock_host_set_config(mh, "FAKECLOUD_K8S_CPU_LIMIT", "1.5");
    mock_host_set_config(mh, "FAKECLOUD_K8S_RUNNING_TIMEOUT_MS", "5000");
    mock_host_set_config(mh, "FAKECLOUD_K8S_RIE_TIMEOUT_MS", "700");
    mock_host_set_config(mh, "FAKECLOUD_K8S_TERMINATE_GRACE_SECONDS", "0");
    k8s_config *cfg = parse_ok();
    cr_assert_str_eq(cfg->namespace_name, "lambdas");
    cr_assert_str_eq(cfg->pull_secret, "regcred");
    cr_assert_str_eq(cfg->service_account, "lambda-sa");
    cr_assert_str_eq(cfg->priority_class, "low");
    cr_assert_str_eq(cfg->init_image, "mirror.local/busybox:1.36");
    cr_assert_str_eq(cfg->image_prefix, "mirror.local:5000/lambda/");
    cr_assert_str_eq(cfg->pull_policy, "IfNotPresent");
    cr_assert_str_eq(
        json_object_get_string(json_object_object_get(cfg->node_selector, "kubernetes.io/os")),
        "linux");
    cr_assert_str_eq(jstr(cfg->node_selector, "pool"), "lambda");
    cr_assert_str_eq(jstr(cfg->labels, "team"), "a");
    cr_assert_str_eq(jstr(cfg->annotations, "note"), "any value: here");
    cr_assert_str_eq(jstr(cfg->tolerations, "[0].operator"), "Exists");
    cr_assert_eq(json_object_get_int(jpath(cfg->security_context, "runAsUser")), 1000);
    cr_assert(json_object_get_boolean(jpath(cfg->security_context, "runAsNonRoot")));
    cr_assert_eq(cfg->cpu_request.mode, K8S_CPU_FIXED);
    cr_assert_eq(cfg->cpu_request.millicores, 250);
    cr_assert_eq(cfg->cpu_limit.millicores, 1500);
    cr_assert_eq(cfg->running_timeout_ms, 5000);
    cr_assert_eq(cfg->rie_timeout_ms, 700);
    cr_assert_eq(cfg->terminate_grace_seconds, 0);
    k8s_config_free(mock_host_services(mh), cfg);
}

typedef struct bad_value {
    const char *key;
    const char *value;
} bad_value;

Test(k8s_config, names_the_key_of_every_invalid_value)
{
    static const bad_value bad[] = {
        {"FAKECLOUD_K8S_NAMESPACE", "Bad_NS"},
        {"FAKECLOUD_K8S_NAMESPACE", "a.b"},
        {"FAKECLOUD_K8S_PULL_SECRET", "UPPER"},
        {"FAKECLOUD_K8S_SERVICE_ACCOUNT", "-sa"},
        {"FAKECLOUD_K8S_PRIORITY_CLASS", "x y"},
        {"FAKECLOUD_K8S_INIT_IMAGE", "busy box"},
        {"FAKECLOUD_K8S_RUNTIME_IMAGE_PREFIX", "mirror.local/lambda"},
        {"FAKECLOUD_K8S_IMAGE_PULL_POLICY", "Sometimes"},
        {"FAKECLOUD_K8S_NODE_SELECTOR", "novalue"},
        {"FAKECLOUD_K8S_NODE_SELECTOR", "k=bad value"},
        {"FAKECLOUD_K8S_NODE_SELECTOR", "{\"k\":1}"},
        {"FAKECLOUD_K8S_LABELS", "fakecloud-instance=x"},
        {"FAKECLOUD_K8S_LABELS", "-bad=x"},
        {"FAKECLOUD_K8S_ANNOTATIONS", "{not json"},
        {"FAKECLOUD_K8S_TOLERATIONS", "{}"},
        {"FAKECLOUD_K8S_TOLERATIONS", "[{\"operator\":\"Maybe\"}]"},
        {"FAKECLOUD_K8S_TOLERATIONS", "[{\"effect\":\"Never\"}]"},
        {"FAKECLOUD_K8S_TOLERATIONS", "[{\"colour\":\"blue\"}]"},
        {"FAKECLOUD_K8S_TOLERATIONS", "[{\"tolerationSeconds\":\"5\"}]"},
        {"FAKECLOUD_K8S_TOLERATIONS", "[{\"key\":\"a\",\"operator\":\"Exists\",\"value\":\"x\"}]"},
        {"FAKECLOUD_K8S_TOLERATIONS", "[{\"key\":\"a\",\"tolerationSeconds\":5}]"},
        {"FAKECLOUD_LAMBDA_K8S_NODE_SELECTOR", "novalue"},
        {"FAKECLOUD_LAMBDA_K8S_TOLERATIONS", "[{\"value\":\"x\"}]"},
        {"FAKECLOUD_LAMBDA_K8S_ANNOTATIONS", "{\"a\":1}"},
        {"FAKECLOUD_K8S_RUN_AS_USER", "-1"},
        {"FAKECLOUD_K8S_RUN_AS_GROUP", "abc"},
        {"FAKECLOUD_K8S_FS_GROUP", "99999999999"},
        {"FAKECLOUD_K8S_RUN_AS_NON_ROOT", "yes"},
        {"FAKECLOUD_K8S_CPU_REQUEST", "lots"},
        {"FAKECLOUD_K8S_CPU_REQUEST", "0"},
        {"FAKECLOUD_K8S_CPU_LIMIT", "1.2.3"},
        {"FAKECLOUD_K8S_CPU_LIMIT", "5000"},
        {"FAKECLOUD_K8S_RUNNING_TIMEOUT_MS", "0"},
        {"FAKECLOUD_K8S_RUNNING_TIMEOUT_MS", "ten"},
        {"FAKECLOUD_K8S_RUNNING_TIMEOUT_MS", "99999999999999"},
        {"FAKECLOUD_K8S_RIE_TIMEOUT_MS", "5"},
        {"FAKECLOUD_K8S_RIE_TIMEOUT_MS", "-100"},
        {"FAKECLOUD_K8S_TERMINATE_GRACE_SECONDS", "1h"},
        {"FAKECLOUD_K8S_POD_TEMPLATE", "/nonexistent/template.yaml"},
        {"FAKECLOUD_K8S_POD_TEMPLATE", "{\"spec\": {\"restartPolicy\": \"Always\"}}"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        expect_error(bad[i].key, bad[i].value, bad[i].key);
}

Test(k8s_config, computes_proportional_cpu_like_lambda)
{
    k8s_cpu prop = {K8S_CPU_PROPORTIONAL, 0};
    char q[32];
    cr_assert(k8s_cpu_quantity(&prop, 1769, q));
    cr_assert_str_eq(q, "1000m");
    cr_assert(k8s_cpu_quantity(&prop, 128, q));
    cr_assert_str_eq(q, "72m");
    cr_assert(k8s_cpu_quantity(&prop, 10240, q));
    cr_assert_str_eq(q, "5788m");
    cr_assert(k8s_cpu_quantity(&prop, 1, q));
    cr_assert_str_eq(q, "10m");
    k8s_cpu none = {K8S_CPU_NONE, 0};
    cr_assert_not(k8s_cpu_quantity(&none, 128, q));
}

Test(k8s_config, loads_a_yaml_template_from_a_file)
{
    char path[] = "/tmp/k8s-template-XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    const char *yaml = "spec:\n"
                       "  priorityClassName: low\n"
                       "  affinity:\n"
                       "    nodeAffinity: {}\n"
                       "  containers:\n"
                       "    - name: sidecar\n"
                       "      image: envoy:1\n";
    cr_assert_eq(write(fd, yaml, strlen(yaml)), (ssize_t)strlen(yaml));
    close(fd);
    mock_host_set_config(mh, "FAKECLOUD_K8S_POD_TEMPLATE", path);
    k8s_config *cfg = parse_ok();
    unlink(path);
    cr_assert_str_eq(jstr(cfg->pod_template, "spec.priorityClassName"), "low");
    cr_assert_str_eq(jstr(cfg->pod_template, "spec.containers[name=sidecar].image"), "envoy:1");
    k8s_config_free(mock_host_services(mh), cfg);
}

Test(k8s_config, leaks_nothing_when_any_allocation_fails)
{
    mock_host_set_config(mh, "FAKECLOUD_K8S_NAMESPACE", "lambdas");
    mock_host_set_config(mh, "FAKECLOUD_K8S_NODE_SELECTOR", "a=b,c=d");
    mock_host_set_config(mh, "FAKECLOUD_K8S_POD_TEMPLATE",
                         "{\"spec\":{\"priorityClassName\":\"x\"}}");
    size_t failures = 0;
    for (size_t n = 1; n < 200; n++) {
        mock_host_fail_alloc(mh, n);
        k8s_config *cfg = NULL;
        fcb_error err = FCB_ERROR_INIT;
        int rc = k8s_config_parse(mock_host_services(mh), &cfg, &err);
        bool injected = mock_host_failed_allocs(mh) > failures;
        failures = mock_host_failed_allocs(mh);
        if (rc == FCB_OK) {
            k8s_config_free(mock_host_services(mh), cfg);
            if (!injected)
                break;
        } else {
            cr_assert_eq(rc, FCB_ERR_NO_MEMORY, "n=%zu: %s", n, err.message);
            cr_assert_null(cfg);
        }
        cr_assert_eq(mock_host_outstanding_bytes(mh), 0, "n=%zu leaked", n);
    }
    mock_host_fail_alloc(mh, 0);
    cr_assert_gt(failures, 3);
}

Test(k8s_config, reads_the_terminate_timeout_key)
{
    k8s_config *cfg = parse_ok();
    cr_assert_eq(cfg->terminate_timeout_ms, 30000);
    k8s_config_free(mock_host_services(mh), cfg);
    mock_host_set_config(mh, "FAKECLOUD_K8S_TERMINATE_TIMEOUT_MS", "2500");
    cfg = parse_ok();
    cr_assert_eq(cfg->terminate_timeout_ms, 2500);
    k8s_config_free(mock_host_services(mh), cfg);
    mock_host_set_config(mh, "FAKECLOUD_K8S_TERMINATE_TIMEOUT_MS", NULL);
    static const char *const bad[] = {"0", "99", "3600001", "30s", "-1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        expect_error("FAKECLOUD_K8S_TERMINATE_TIMEOUT_MS", bad[i],
                     "FAKECLOUD_K8S_TERMINATE_TIMEOUT_MS");
}

Test(k8s_config, reads_the_service_level_lambda_keys)
{
    mock_host_set_config(mh, "FAKECLOUD_LAMBDA_K8S_NODE_SELECTOR", "pool=lambda");
    mock_host_set_config(mh, "FAKECLOUD_LAMBDA_K8S_TOLERATIONS",
                         "[{\"key\":\"l\",\"operator\":\"Exists\"}]");
    mock_host_set_config(mh, "FAKECLOUD_LAMBDA_K8S_ANNOTATIONS", "team=core");
    k8s_config *cfg = parse_ok();
    cr_assert_str_eq(jstr(cfg->service.node_selector, "pool"), "lambda");
    cr_assert_str_eq(jstr(cfg->service.tolerations, "[0].key"), "l");
    cr_assert_str_eq(jstr(cfg->service.annotations, "team"), "core");
    cr_assert_null(cfg->node_selector, "the global key stays separate");
    k8s_config_free(mock_host_services(mh), cfg);
}

Test(k8s_config, reads_the_endpoint_mode_and_refuses_others_naming_the_key)
{
    k8s_config *cfg = parse_ok();
    cr_assert_eq(cfg->endpoint_mode, K8S_ENDPOINT_POD_IP, "default: today's behaviour");
    k8s_config_free(mock_host_services(mh), cfg);
    static const struct {
        const char *value;
        k8s_endpoint_mode mode;
    } good[] = {{"pod-ip", K8S_ENDPOINT_POD_IP},
                {"api-proxy", K8S_ENDPOINT_API_PROXY},
                {"auto", K8S_ENDPOINT_AUTO}};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        mock_host_set_config(mh, "FAKECLOUD_K8S_ENDPOINT", good[i].value);
        cfg = parse_ok();
        cr_assert_eq(cfg->endpoint_mode, good[i].mode, "%s", good[i].value);
        k8s_config_free(mock_host_services(mh), cfg);
    }
    mock_host_set_config(mh, "FAKECLOUD_K8S_ENDPOINT", NULL);
    static const char *const bad[] = {"podip", "API-PROXY", "proxy", "auto ", "pod-ip,auto"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        expect_error("FAKECLOUD_K8S_ENDPOINT", bad[i],
                     "FAKECLOUD_K8S_ENDPOINT is not pod-ip, api-proxy or auto");
}
