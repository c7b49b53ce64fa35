/*
 * Every Pod the builder produces is accepted by kubesim's API validation
 * with fieldValidation=Strict (dry run), including hostile function names,
 * env values, deploy ids and every supported runtime, with and without the
 * optional keys and a template overlay.
 */
#include "k8s_pod.h"

#include "kubesim_ctl.h"
#include "mock_host.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

static kubesim *sim;
static mock_host *mh;

static void setup(void)
{
    cr_assert_eq(kubesim_start(NULL, &sim), 0, "%s", kubesim_last_error());
    mh = mock_host_new();
    mock_host_set_config(mh, "FAKECLOUD_K8S_SELF_URL", "http://fakecloud.fc.svc:4566");
}

static void teardown(void)
{
    kubesim_stop(sim);
    cr_assert_eq(mock_host_outstanding_bytes(mh), 0);
    mock_host_free(mh);
}

static k8s_config *config(void)
{
    k8s_config *cfg = NULL;
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(k8s_config_parse(mock_host_services(mh), &cfg, &err), FCB_OK, "%s", err.message);
    return cfg;
}

static int checked;

/* POST OBJ to kubesim's PATH as a dry run with strict field validation; 201 expected. */
static void assert_dry_run(const char *path, json_object *obj, const char *what)
{
    char url[256];
    snprintf(url, sizeof url, "%s?dryRun=All&fieldValidation=Strict", path);
    json_object *resp = NULL;
    int status = kubesim_request(
        sim, "POST", url, json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PLAIN), NULL, &resp);
    cr_assert_eq(status, 201, "%s: kubesim said %d: %s", what, status,
                 resp != NULL ? json_object_to_json_string(resp) : kubesim_last_error());
    json_object_put(resp);
}

static void assert_accepted(const k8s_config *cfg, const fcb_launch_request *req, const char *what)
{
    char name[K8S_POD_NAME_MAX];
    char creds[K8S_SECRET_NAME_MAX];
    k8s_pod_name(req->function->function_name, req->deploy_id, "0123abcd", name);
    k8s_credentials_secret_name(name, creds);
    k8s_pod_input in = {.config = cfg,
                        .namespace_name = "default",
                        .instance_id = "0123456789abcdef",
                        .token_secret = "fakecloud-lambda-token-0123456789abcdef",
                        .pod_name = name,
                        .nonce = "0123abcd000000000000000000000001",
                        .request = req,
                        .now_unix_s = 1796313600,
                        .credentials_secret = creds};
    json_object *pod = NULL, *secret = NULL;
    fcb_error err = FCB_ERROR_INIT;
    int rc = k8s_pod_build_objects(mock_host_services(mh), &in, &pod, &secret, &err);
    cr_assert_eq(rc, FCB_OK, "%s: build: %s", what, err.message);
    assert_dry_run("/api/v1/namespaces/default/pods", pod, what);
    if (secret != NULL)
        assert_dry_run("/api/v1/namespaces/default/secrets", secret, what);
    json_object_put(pod);
    json_object_put(secret);
    checked++;
}

Test(k8s_pod_schema, every_generated_pod_is_valid_for_the_api_server, .init = setup,
     .fini = teardown, .timeout = 60)
{
    static const char *const runtimes[] = {
        "python3.8",  "python3.9",  "python3.10", "python3.11",   "python3.12",     "python3.13",
        "python3.14", "nodejs16.x", "nodejs18.x", "nodejs20.x",   "nodejs22.x",     "nodejs24.x",
        "ruby3.3",    "ruby3.4",    "java11",     "java17",       "java21",         "java25",
        "dotnet8",    "dotnet10",   "go1.x",      "provided.al2", "provided.al2023"};
    static const char *const names[] = {"f",
                                        "My_Func",
                                        "$(reboot); rm -rf /",
                                        "名前-関数",
                                        "----",
                                        "a.b.c",
                                        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
                                        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
                                        "quote\"and\\backslash"};
    static const char *const deploys[] = {"d", "0123456789abcdef0123456789abcdef0123456789abcdef",
                                          "-._-", "v1.2.3_rc-1"};
    fcb_env_var env[] = {{"PLAIN", "v"},
                         {"URL", "http://localhost:4566/?a=$(b)&c=`d`"},
                         {"UNICODE", "\xc3\xa9t\xc3\xa9 \xf0\x9f\x98\x80"},
                         {"my.dotted-name", "line1\nline2\t\"q\""},
                         {"EMPTY", ""},
                         {"DOLLAR", "$(HOME) ${HOME} $$"}};
    fcb_blob layer = {"x", 1};
    k8s_config *cfg = config();
    for (size_t r = 0; r < sizeof runtimes / sizeof runtimes[0]; r++) {
        size_t n_names = sizeof names / sizeof names[0];
        /* Every name once with the first runtime, then one name per runtime. */
        for (size_t k = 0; k < (r == 0 ? n_names : 1); k++) {
            size_t n = r == 0 ? k : r % n_names;
            fcb_function fn = {.size = sizeof fn,
                               .function_name = names[n],
                               .function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:x",
                               .runtime = runtimes[r],
                               .handler = "index.handler $x",
                               .memory_mb = (uint32_t)(64 * (r + 1)),
                               .ephemeral_storage_mb = (uint32_t)(r * 400),
                               .timeout_seconds = (uint32_t)r,
                               .package_type = FCB_PACKAGE_ZIP,
                               .environment = env,
                               .n_environment = sizeof env / sizeof env[0]};
            fcb_launch_request req = {.size = sizeof req,
                                      .function = &fn,
                                      .deploy_id = deploys[(r + n) % 4],
                                      .layers = &layer,
                                      .n_layers = n % 2};
            char what[128];
            snprintf(what, sizeof what, "runtime %s name #%zu", runtimes[r], n);
            assert_accepted(cfg, &req, what);
        }
    }
    static const char *const entry[] = {"/bin/sh", "-c"};
    static const char *const cmd[] = {"echo $HOME"};
    fcb_function img = {.size = sizeof img,
                        .function_name = "img",
                        .package_type = FCB_PACKAGE_IMAGE,
                        .image_uri =
                            "123456789012.dkr.ecr.us-east-1.amazonaws.com/app@sha256:"
                            "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
                        .image_entry_point = entry,
                        .n_image_entry_point = 2,
                        .image_command = cmd,
                        .n_image_command = 1,
                        .image_working_directory = "/srv/app"};
    fcb_launch_request img_req = {.size = sizeof img_req, .function = &img, .deploy_id = "d"};
    assert_accepted(cfg, &img_req, "image function");
    img_req.layers = &layer;
    img_req.n_layers = 1;
    assert_accepted(cfg, &img_req, "image function with a layer");
    k8s_config_free(mock_host_services(mh), cfg);

    /* Every optional key plus a template with a sidecar and scheduling fields. */
    mock_host_set_config(mh, "FAKECLOUD_K8S_PULL_SECRET", "regcred");
    mock_host_set_config(mh, "FAKECLOUD_K8S_SERVICE_ACCOUNT", "lambda-sa");
    mock_host_set_config(mh, "FAKECLOUD_K8S_NODE_SELECTOR", "kubernetes.io/os=linux");
    mock_host_set_config(mh, "FAKECLOUD_K8S_TOLERATIONS",
                         "[{\"key\":\"k\",\"operator\":\"Equal\",\"value\":\"v\","
                         "\"effect\":\"NoExecute\",\"tolerationSeconds\":30}]");
    mock_host_set_config(mh, "FAKECLOUD_K8S_LABELS", "team=a,example.com/tier=fn");
    mock_host_set_config(mh, "FAKECLOUD_K8S_ANNOTATIONS", "note=anything goes: $(x)");
    mock_host_set_config(mh, "FAKECLOUD_K8S_RUN_AS_USER", "1000");
    mock_host_set_config(mh, "FAKECLOUD_K8S_RUN_AS_GROUP", "1000");
    mock_host_set_config(mh, "FAKECLOUD_K8S_FS_GROUP", "2000");
    mock_host_set_config(mh, "FAKECLOUD_K8S_RUN_AS_NON_ROOT", "true");
    mock_host_set_config(mh, "FAKECLOUD_K8S_PRIORITY_CLASS", "low");
    mock_host_set_config(mh, "FAKECLOUD_K8S_CPU_REQUEST", "0.25");
    mock_host_set_config(mh, "FAKECLOUD_K8S_CPU_LIMIT", "proportional");
    mock_host_set_config(mh, "FAKECLOUD_K8S_IMAGE_PULL_POLICY", "IfNotPresent");
    mock_host_set_config(mh, "FAKECLOUD_K8S_RUNTIME_IMAGE_PREFIX", "mirror.local:5000/lambda/");
    mock_host_set_config(
        mh, "FAKECLOUD_K8S_POD_TEMPLATE",
        "spec:\n"
        "  affinity:\n"
        "    nodeAffinity:\n"
        "      requiredDuringSchedulingIgnoredDuringExecution:\n"
        "        nodeSelectorTerms:\n"
        "          - matchExpressions:\n"
        "              - {key: pool, operator: In, values: [lambda]}\n"
        "  topologySpreadConstraints:\n"
        "    - {maxSkew: 1, topologyKey: zone, whenUnsatisfiable: ScheduleAnyway}\n"
        "  volumes: [{name: cache, emptyDir: {}}]\n"
        "  containers:\n"
        "    - name: sidecar\n"
        "      image: envoy:1\n"
        "    - name: fakecloud-lambda\n"
        "      env: [{name: EXTRA, value: '1'}]\n");
    /* The service level, and a function with every 1.1 input: credentials, endpoint, tags. */
    mock_host_set_config(mh, "FAKECLOUD_LAMBDA_K8S_NODE_SELECTOR", "pool=lambda");
    mock_host_set_config(mh, "FAKECLOUD_LAMBDA_K8S_TOLERATIONS",
                         "[{\"operator\":\"Exists\",\"effect\":\"NoSchedule\"}]");
    mock_host_set_config(mh, "FAKECLOUD_LAMBDA_K8S_ANNOTATIONS", "example.com/owner=lambda team");
    cfg = config();
    static const fcb_tag tags[] = {
        {"fakecloud-k8s/node-selector", "example.com/gpu=a100,bad key=x"},
        {"fakecloud-k8s/tolerations",
         "[{\"key\":\"gpu\",\"operator\":\"Exists\",\"value\":\"x\"},"
         "{\"key\":\"gpu\",\"effect\":\"NoExecute\",\"tolerationSeconds\":5},"
         "{\"key\":\"spot\",\"tolerationSeconds\":5}]"},
        {"fakecloud-k8s/annotations", "{\"example.com/cost-center\":\"42 / lambda\"}"}};
    fcb_credentials creds = {sizeof creds, "ASIAEXAMPLE", "s3cr3t/+=", "token/+=", 0};
    fcb_function fn = {.size = sizeof fn,
                       .function_name = "full",
                       .runtime = "nodejs20.x",
                       .handler = "index.handler",
                       .package_type = FCB_PACKAGE_ZIP,
                       .architecture = "arm64",
                       .tags = tags,
                       .n_tags = 3};
    fcb_launch_request req = {.size = sizeof req,
                              .function = &fn,
                              .deploy_id = "d",
                              .layers = &layer,
                              .n_layers = 1,
                              .credentials = &creds,
                              .aws_endpoint_url = "http://localhost:4566"};
    assert_accepted(cfg, &req, "every optional key + template + credentials + tags");
    k8s_config_free(mock_host_services(mh), cfg);
    cr_log_info("%d pods validated", checked);
    cr_assert_gt(checked, 30);
}
