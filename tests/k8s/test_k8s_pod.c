/* Unit tests of k8s_pod: every field of the generated Pod and Secret. */
#include "k8s_pod.h"

#include "k8s_pod_test.h"
#include "k8s_test_util.h"
#include "mock_host.h"
#include "names.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#define NONCE K8S_TEST_NONCE

static mock_host *mh;
static k8s_config *cfg;
static fcb_function fn;
static fcb_launch_request req;
static fcb_env_var env[3];
static char pod_name[K8S_POD_NAME_MAX];

static void load_config(void)
{
    fcb_error err = FCB_ERROR_INIT;
    k8s_config_free(mock_host_services(mh), cfg);
    cfg = NULL;
    cr_assert_eq(k8s_config_parse(mock_host_services(mh), &cfg, &err), FCB_OK, "%s", err.message);
}

static void setup(void)
{
    mh = mock_host_new();
    cfg = NULL;
    mock_host_set_config(mh, "FAKECLOUD_K8S_SELF_URL", "http://fakecloud.fc.svc:4566");
    load_config();
    env[0] = (fcb_env_var){"TABLE", "orders"};
    env[1] = (fcb_env_var){"ENDPOINT", "http://localhost:4566/x"};
    env[2] = (fcb_env_var){"AWS_LAMBDA_FUNCTION_NAME", "spoofed"};
    fn = (fcb_function){.size = sizeof fn,
                        .function_name = "My_Func",
                        .function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:My_Func",
                        .runtime = "python3.12",
                        .handler = "app.handler",
                        .timeout_seconds = 30,
                        .memory_mb = 256,
                        .package_type = FCB_PACKAGE_ZIP,
                        .environment = env,
                        .n_environment = 3};
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

TestSuite(k8s_pod, .init = setup, .fini = teardown);

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

static int build_error(fcb_error *err)
{
    k8s_pod_input in = input();
    json_object *pod = NULL;
    int rc = k8s_pod_build(mock_host_services(mh), &in, &pod, err);
    cr_assert_null(pod);
    return rc;
}

#define MAIN "spec.containers[name=fakecloud-lambda]"
#define INIT "spec.initContainers[name=fakecloud-init]"

Test(k8s_pod, names_pods_dns_safe_and_unique_per_nonce)
{
    char a[K8S_POD_NAME_MAX], b[K8S_POD_NAME_MAX], c[K8S_POD_NAME_MAX];
    k8s_pod_name("My_Func", "d-1", "n1", a);
    k8s_pod_name("My_Func", "d-1", "n2", b);
    k8s_pod_name("My_Func", "d-1", "n1", c);
    cr_assert(names_is_dns_label(a), "%s", a);
    cr_assert_str_neq(a, b);
    cr_assert_str_eq(a, c);
    cr_assert(strncmp(a, "fakecloud-lambda-my-func-", 25) == 0, "%s", a);
    cr_assert_eq(strlen(a), strlen("fakecloud-lambda-my-func-") + 12);
    char longname[300];
    memset(longname, 'Z', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    const char *hostile[] = {longname, "$(reboot)", "\xff\xfe", "---", "a b\nc", ""};
    for (size_t i = 0; i < sizeof hostile / sizeof hostile[0]; i++) {
        k8s_pod_name(hostile[i], "d", "n", a);
        cr_assert(names_is_dns_label(a), "'%s'", a);
        cr_assert_leq(strlen(a), 63);
    }
}

Test(k8s_pod, names_the_token_secret_after_the_instance)
{
    char name[K8S_POD_NAME_MAX];
    k8s_token_secret_name("0123456789abcdef", name);
    cr_assert_str_eq(name, "fakecloud-lambda-token-0123456789abcdef");
}

Test(k8s_pod, sets_metadata_labels_and_annotations)
{
    json_object *pod = build();
    cr_assert_str_eq(jstr(pod, "apiVersion"), "v1");
    cr_assert_str_eq(jstr(pod, "kind"), "Pod");
    cr_assert_str_eq(jstr(pod, "metadata.name"), pod_name);
    cr_assert_str_eq(jstr(pod, "metadata.namespace"), "lambdas");
    cr_assert_str_eq(jstr(pod, "metadata.labels.fakecloud-managed-by"), "fakecloud");
    cr_assert_str_eq(jstr(pod, "metadata.labels.fakecloud-instance"), "0123456789abcdef");
    cr_assert_str_eq(jstr(pod, "metadata.labels.fakecloud-service"), "lambda");
    cr_assert_str_eq(jstr(pod, "metadata.labels.fakecloud-lambda"), "my-func");
    cr_assert_str_eq(jstr(pod, "metadata.labels.fakecloud-deploy-id"), "d-0123");
    cr_assert_str_eq(jstr(pod, "metadata.annotations.fakecloud-launch-nonce"), NONCE);
    cr_assert_str_eq(jstr(pod, "metadata.annotations.fakecloud-function-name"), "My_Func");
    json_object_put(pod);
}

Test(k8s_pod, makes_label_values_safe_and_cuts_the_deploy_id_to_40)
{
    fn.function_name = "__weird name!__";
    req.deploy_id = "0123456789012345678901234567890123456789-tail";
    json_object *pod = build();
    cr_assert_str_eq(jstr(pod, "metadata.labels.fakecloud-lambda"), "weird-name");
    cr_assert_str_eq(jstr(pod, "metadata.labels.fakecloud-deploy-id"),
                     "0123456789012345678901234567890123456789");
    json_object_put(pod);
}

Test(k8s_pod, lowercases_label_values_like_the_reference)
{
    fn.function_name = "My_Fn.Test";
    req.deploy_id = "Deploy_V1.2";
    json_object *pod = build();
    cr_assert_str_eq(jstr(pod, "metadata.labels.fakecloud-lambda"), "my-fn-test");
    cr_assert_str_eq(jstr(pod, "metadata.labels.fakecloud-deploy-id"), "deploy-v1-2");
    cr_assert_str_eq(jstr(pod, "metadata.annotations.fakecloud-function-name"), "My_Fn.Test",
                     "the annotation keeps the name as written");
    json_object_put(pod);
}

Test(k8s_pod, uses_restart_never_and_the_three_volumes)
{
    json_object *pod = build();
    cr_assert_str_eq(jstr(pod, "spec.restartPolicy"), "Never");
    cr_assert_not(json_object_get_boolean(jpath(pod, "spec.enableServiceLinks")));
    cr_assert_not(json_object_get_boolean(jpath(pod, "spec.automountServiceAccountToken")));
    cr_assert_eq(json_object_array_length(jpath(pod, "spec.volumes")), 3);
    cr_assert_not_null(jpath(pod, "spec.volumes[name=fakecloud-task].emptyDir"));
    cr_assert_not_null(jpath(pod, "spec.volumes[name=fakecloud-opt].emptyDir"));
    cr_assert_str_eq(jstr(pod, "spec.volumes[name=fakecloud-tmp].emptyDir.medium"), "Memory");
    cr_assert_str_eq(jstr(pod, "spec.volumes[name=fakecloud-tmp].emptyDir.sizeLimit"), "512Mi");
    cr_assert_str_eq(jstr(pod, MAIN ".volumeMounts[name=fakecloud-task].mountPath"), "/var/task");
    cr_assert_str_eq(jstr(pod, MAIN ".volumeMounts[name=fakecloud-opt].mountPath"), "/opt");
    cr_assert_str_eq(jstr(pod, MAIN ".volumeMounts[name=fakecloud-tmp].mountPath"), "/tmp");
    cr_assert_str_eq(jstr(pod, INIT ".volumeMounts[name=fakecloud-task].mountPath"), "/var/task");
    cr_assert_null(jpath(pod, INIT ".volumeMounts[name=fakecloud-opt]"), "no layers to write");
    json_object_put(pod);
}

Test(k8s_pod, sizes_tmp_from_ephemeral_storage_with_a_64_mib_floor)
{
    fn.ephemeral_storage_mb = 2048;
    json_object *pod = build();
    cr_assert_str_eq(jstr(pod, "spec.volumes[name=fakecloud-tmp].emptyDir.sizeLimit"), "2048Mi");
    json_object_put(pod);
    fn.ephemeral_storage_mb = 10;
    pod = build();
    cr_assert_str_eq(jstr(pod, "spec.volumes[name=fakecloud-tmp].emptyDir.sizeLimit"), "64Mi");
    json_object_put(pod);
}

Test(k8s_pod, init_container_downloads_code_with_the_token_from_the_environment)
{
    json_object *pod = build();
    cr_assert_str_eq(jstr(pod, INIT ".image"), "busybox:1.36");
    cr_assert_str_eq(jstr(pod, INIT ".command[0]"), "sh");
    cr_assert_str_eq(jstr(pod, INIT ".command[1]"), "-c");
    const char *script = jstr(pod, INIT ".command[2]");
    cr_assert_not_null(script);
    cr_assert(
        strstr(script,
               "wget -q -T 30 --header \"Authorization: Bearer ${FAKECLOUD_INTERNAL_TOKEN}\" "
               "-O /var/task/.fakecloud-code.zip "
               "\"${FAKECLOUD_SELF_URL}/_fakecloud/lambda/_internal/code/"
               "${FAKECLOUD_ACCOUNT_ID}/${FAKECLOUD_FUNCTION}/${FAKECLOUD_DEPLOY_ID}.zip\"") !=
            NULL,
        "%s", script);
    cr_assert(strstr(script, "unzip -q -o /var/task/.fakecloud-code.zip -d /var/task") != NULL);
    cr_assert(strstr(script, "layers") == NULL, "no layers requested: %s", script);
    /* Nothing user-controlled in the script. */
    cr_assert(strstr(script, "My_Func") == NULL);
    cr_assert(strstr(script, "d-0123") == NULL);
    cr_assert(strstr(script, "fakecloud.fc.svc") == NULL);
    cr_assert_str_eq(
        jstr(pod, INIT ".env[name=FAKECLOUD_INTERNAL_TOKEN].valueFrom.secretKeyRef.name"),
        "fakecloud-lambda-token-0123456789abcdef");
    cr_assert_str_eq(
        jstr(pod, INIT ".env[name=FAKECLOUD_INTERNAL_TOKEN].valueFrom.secretKeyRef.key"), "token");
    cr_assert_null(jpath(pod, INIT ".env[name=FAKECLOUD_INTERNAL_TOKEN].value"));
    cr_assert_str_eq(jstr(pod, INIT ".env[name=FAKECLOUD_SELF_URL].value"),
                     "http://fakecloud.fc.svc:4566");
    cr_assert_str_eq(jstr(pod, INIT ".env[name=FAKECLOUD_ACCOUNT_ID].value"), "123456789012");
    cr_assert_str_eq(jstr(pod, INIT ".env[name=FAKECLOUD_FUNCTION].value"), "My_Func");
    cr_assert_str_eq(jstr(pod, INIT ".env[name=FAKECLOUD_DEPLOY_ID].value"), "d-0123");
    json_object_put(pod);
}

Test(k8s_pod, url_escapes_user_strings_in_init_env)
{
    fn.function_name = "a b/\"$(x)\"";
    fn.function_arn = NULL;
    json_object *pod = build();
    cr_assert_str_eq(jstr(pod, INIT ".env[name=FAKECLOUD_FUNCTION].value"),
                     "a%20b%2F%22%24%28x%29%22");
    cr_assert_str_eq(jstr(pod, INIT ".env[name=FAKECLOUD_ACCOUNT_ID].value"), "000000000000");
    json_object_put(pod);
}

Test(k8s_pod, downloads_layers_only_when_there_are_some)
{
    fcb_blob layer = {"x", 1};
    req.layers = &layer;
    req.n_layers = 1;
    json_object *pod = build();
    const char *script = jstr(pod, INIT ".command[2]");
    cr_assert(strstr(script, "-O /opt/.fakecloud-layers.tar \"${FAKECLOUD_SELF_URL}/_fakecloud/"
                             "lambda/_internal/layers/${FAKECLOUD_ACCOUNT_ID}/"
                             "${FAKECLOUD_FUNCTION}/${FAKECLOUD_DEPLOY_ID}.tar\"") != NULL,
              "%s", script);
    cr_assert(strstr(script, "if [ -s /opt/.fakecloud-layers.tar ]; then tar -xf "
                             "/opt/.fakecloud-layers.tar -C /opt; fi") != NULL,
              "%s", script);
    json_object_put(pod);
}

Test(k8s_pod, main_container_runs_the_runtime_image_with_the_handler)
{
    json_object *pod = build();
    cr_assert_str_eq(jstr(pod, MAIN ".image"), "public.ecr.aws/lambda/python:3.12");
    cr_assert_str_eq(jstr(pod, MAIN ".args[0]"), "app.handler");
    cr_assert_eq(json_object_array_length(jpath(pod, MAIN ".args")), 1);
    cr_assert_null(jpath(pod, MAIN ".command"));
    cr_assert_eq(json_object_get_int(jpath(pod, MAIN ".ports[0].containerPort")), 8080);
    cr_assert_str_eq(jstr(pod, MAIN ".resources.requests.memory"), "256Mi");
    cr_assert_str_eq(jstr(pod, MAIN ".resources.limits.memory"), "256Mi");
    cr_assert_null(jpath(pod, MAIN ".resources.requests.cpu"), "no CPU request by default");
    cr_assert_null(jpath(pod, MAIN ".resources.limits.cpu"));
    json_object_put(pod);
}

Test(k8s_pod, a_10_gb_function_gets_no_cpu_request_by_default)
{
    /* Proportional would be 5788m: Unschedulable on a 2-CPU node. */
    fn.memory_mb = 10240;
    json_object *pod = build();
    cr_assert_str_eq(jstr(pod, MAIN ".resources.requests.memory"), "10240Mi");
    cr_assert_null(jpath(pod, MAIN ".resources.requests.cpu"), "%s",
                   json_object_to_json_string(jpath(pod, MAIN ".resources")));
    cr_assert_null(jpath(pod, MAIN ".resources.limits.cpu"));
    json_object_put(pod);
}

Test(k8s_pod, cpu_request_proportional_to_memory_when_asked)
{
    mock_host_set_config(mh, "FAKECLOUD_K8S_CPU_REQUEST", "proportional");
    load_config();
    json_object *pod = build();
    cr_assert_str_eq(jstr(pod, MAIN ".resources.requests.cpu"), "144m");
    cr_assert_null(jpath(pod, MAIN ".resources.limits.cpu"));
    json_object_put(pod);
    fn.memory_mb = 10240;
    pod = build();
    cr_assert_str_eq(jstr(pod, MAIN ".resources.requests.cpu"), "5788m");
    json_object_put(pod);
}

Test(k8s_pod, memory_is_at_least_128_mib)
{
    fn.memory_mb = 64;
    json_object *pod = build();
    cr_assert_str_eq(jstr(pod, MAIN ".resources.requests.memory"), "128Mi");
    cr_assert_str_eq(jstr(pod, MAIN ".resources.limits.memory"), "128Mi");
    /* The variable tells the runtime what it has (lambda_env takes 128..10240). */
    cr_assert_str_eq(jstr(pod, MAIN ".env[name=AWS_LAMBDA_FUNCTION_MEMORY_SIZE].value"), "128");
    json_object_put(pod);
    fn.memory_mb = 0;
    pod = build();
    cr_assert_str_eq(jstr(pod, MAIN ".resources.limits.memory"), "128Mi");
    json_object_put(pod);
}

Test(k8s_pod, main_env_has_rewritten_user_values_and_lambda_variables)
{
    json_object *pod = build();
    cr_assert_str_eq(jstr(pod, MAIN ".env[name=TABLE].value"), "orders");
    cr_assert_str_eq(jstr(pod, MAIN ".env[name=ENDPOINT].value"), "http://fakecloud.fc.svc:4566/x");
    cr_assert_str_eq(jstr(pod, MAIN ".env[name=AWS_LAMBDA_FUNCTION_NAME].value"), "My_Func");
    cr_assert_str_eq(jstr(pod, MAIN ".env[name=AWS_LAMBDA_FUNCTION_MEMORY_SIZE].value"), "256");
    cr_assert_str_eq(jstr(pod, MAIN ".env[name=AWS_LAMBDA_FUNCTION_TIMEOUT].value"), "30");
    cr_assert_str_eq(jstr(pod, MAIN ".env[name=AWS_REGION].value"), "eu-west-1");
    cr_assert_str_eq(jstr(pod, MAIN ".env[name=AWS_DEFAULT_REGION].value"), "eu-west-1");
    size_t n = json_object_array_length(jpath(pod, MAIN ".env"));
    size_t names = 0;
    for (size_t i = 0; i < n; i++) {
        const char *name = json_object_get_string(
            json_object_object_get(json_object_array_get_idx(jpath(pod, MAIN ".env"), i), "name"));
        names += strcmp(name, "AWS_LAMBDA_FUNCTION_NAME") == 0;
    }
    cr_assert_eq(names, 1, "a user value must not duplicate a reserved variable");
    json_object_put(pod);
}

Test(k8s_pod, default_timeout_is_three_seconds)
{
    fn.timeout_seconds = 0;
    json_object *pod = build();
    cr_assert_str_eq(jstr(pod, MAIN ".env[name=AWS_LAMBDA_FUNCTION_TIMEOUT].value"), "3");
    json_object_put(pod);
}

Test(k8s_pod, refuses_invalid_environment_names_naming_the_variable)
{
    env[0].name = "1BAD";
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(build_error(&err), FCB_ERR_INVALID_ARGUMENT);
    cr_assert(strstr(err.message, "'1BAD'") != NULL, "%s", err.message);
    env[0].name = "OK";
    env[0].value = "\xc3\x28";
    cr_assert_eq(build_error(&err), FCB_ERR_INVALID_ARGUMENT);
    cr_assert(strstr(err.message, "OK") != NULL, "%s", err.message);
}

Test(k8s_pod, refuses_unknown_runtimes_and_missing_handler)
{
    fcb_error err = FCB_ERROR_INIT;
    fn.runtime = "cobol1";
    cr_assert_eq(build_error(&err), FCB_ERR_UNSUPPORTED);
    cr_assert_str_eq(err.message, "unsupported runtime: cobol1");
    fn.runtime = "python3.12";
    fn.handler = NULL;
    cr_assert_eq(build_error(&err), FCB_ERR_INVALID_ARGUMENT);
    cr_assert(strstr(err.message, "Handler") != NULL);
}

Test(k8s_pod, zip_functions_need_the_internal_token)
{
    k8s_pod_input in = input();
    in.token_secret = NULL;
    json_object *pod = NULL;
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(k8s_pod_build(mock_host_services(mh), &in, &pod, &err), FCB_ERR_INVALID_ARGUMENT);
    cr_assert(strstr(err.message, "internal token") != NULL, "%s", err.message);
}

Test(k8s_pod, image_functions_use_the_translated_image_and_image_config)
{
    static const char *const entry[] = {"/bin/app"};
    static const char *const cmd[] = {"serve", "--fast"};
    fn.package_type = FCB_PACKAGE_IMAGE;
    fn.runtime = NULL;
    fn.handler = NULL;
    fn.image_uri = "123456789012.dkr.ecr.us-east-1.amazonaws.com/app:v2";
    fn.image_entry_point = entry;
    fn.n_image_entry_point = 1;
    fn.image_command = cmd;
    fn.n_image_command = 2;
    fn.image_working_directory = "/srv";
    k8s_pod_input in = input();
    in.token_secret = NULL; /* not needed without code or layers */
    json_object *pod = NULL;
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(k8s_pod_build(mock_host_services(mh), &in, &pod, &err), FCB_OK, "%s", err.message);
    cr_assert_str_eq(jstr(pod, MAIN ".image"), "fakecloud.fc.svc:4566/app:v2");
    cr_assert_str_eq(jstr(pod, MAIN ".command[0]"), "/bin/app");
    cr_assert_str_eq(jstr(pod, MAIN ".args[1]"), "--fast");
    cr_assert_str_eq(jstr(pod, MAIN ".workingDir"), "/srv");
    cr_assert_null(jpath(pod, "spec.initContainers"), "no downloads, no init container");
    cr_assert_null(jpath(pod, MAIN ".volumeMounts[name=fakecloud-task]"),
                   "the image's own /var/task must stay visible");
    cr_assert_not_null(jpath(pod, MAIN ".volumeMounts[name=fakecloud-tmp]"));
    json_object_put(pod);
}

/* Whether CONTAINER (may be NULL) mounts VOLUME at PATH. */
static bool mounts(json_object *container, const char *volume, const char *path)
{
    json_object *list =
        container != NULL ? json_object_object_get(container, "volumeMounts") : NULL;
    for (size_t i = 0; list != NULL && i < json_object_array_length(list); i++) {
        json_object *m = json_object_array_get_idx(list, i);
        if (strcmp(json_object_get_string(json_object_object_get(m, "name")), volume) == 0 &&
            strcmp(json_object_get_string(json_object_object_get(m, "mountPath")), path) == 0)
            return true;
    }
    return false;
}

/*
 * The API server's rules for mounts: every volumeMounts[].name of every
 * container and init container names a volume of spec.volumes (else 422 Not
 * found), volume names are unique and no container mounts one path twice.
 * Also ours: no volume is declared that nothing mounts.
 */
static void assert_mounts_name_declared_volumes(json_object *pod, const char *what)
{
    json_object *volumes = jpath(pod, "spec.volumes");
    size_t n_volumes = volumes != NULL ? json_object_array_length(volumes) : 0;
    bool used[8] = {false};
    cr_assert_leq(n_volumes, 8, "%s", what);
    for (size_t v = 0; v < n_volumes; v++) {
        const char *name = json_object_get_string(
            json_object_object_get(json_object_array_get_idx(volumes, v), "name"));
        for (size_t w = 0; w < v; w++)
            cr_assert_str_neq(json_object_get_string(json_object_object_get(
                                  json_object_array_get_idx(volumes, w), "name")),
                              name, "%s: volume %s declared twice", what, name);
    }
    static const char *const lists[] = {"spec.initContainers", "spec.containers"};
    for (size_t l = 0; l < 2; l++) {
        json_object *containers = jpath(pod, lists[l]);
        for (size_t c = 0; containers != NULL && c < json_object_array_length(containers); c++) {
            json_object *ct = json_object_array_get_idx(containers, c);
            json_object *mounts = json_object_object_get(ct, "volumeMounts");
            for (size_t m = 0; mounts != NULL && m < json_object_array_length(mounts); m++) {
                json_object *mount = json_object_array_get_idx(mounts, m);
                const char *name = json_object_get_string(json_object_object_get(mount, "name"));
                const char *path =
                    json_object_get_string(json_object_object_get(mount, "mountPath"));
                bool found = false;
                for (size_t v = 0; v < n_volumes; v++) {
                    if (strcmp(json_object_get_string(json_object_object_get(
                                   json_object_array_get_idx(volumes, v), "name")),
                               name) == 0) {
                        found = used[v] = true;
                    }
                }
                cr_assert(found, "%s: %s[%zu].volumeMounts[%zu].name: Not found: \"%s\"", what,
                          lists[l], c, m, name);
                for (size_t k = 0; k < m; k++) {
                    json_object *other = json_object_array_get_idx(mounts, k);
                    cr_assert_str_neq(
                        json_object_get_string(json_object_object_get(other, "mountPath")), path,
                        "%s: %s[%zu] mounts %s twice", what, lists[l], c, path);
                }
            }
        }
    }
    for (size_t v = 0; v < n_volumes; v++)
        cr_assert(used[v], "%s: volume #%zu is declared but never mounted", what, v);
}

Test(k8s_pod, every_mount_names_a_declared_volume_for_every_package_type_and_layers)
{
    static const char *const entry[] = {"/bin/app"};
    fcb_blob layer = {"x", 1};
    for (int image = 0; image <= 1; image++) {
        for (size_t n_layers = 0; n_layers <= 1; n_layers++) {
            if (image) {
                fn.package_type = FCB_PACKAGE_IMAGE;
                fn.runtime = NULL;
                fn.handler = NULL;
                fn.image_uri = "registry.local:5000/app:v1";
                fn.image_entry_point = entry;
                fn.n_image_entry_point = 1;
            }
            req.layers = n_layers > 0 ? &layer : NULL;
            req.n_layers = n_layers;
            char what[64];
            snprintf(what, sizeof what, "%s function, %zu layer(s)", image ? "Image" : "Zip",
                     n_layers);
            json_object *pod = build();
            assert_mounts_name_declared_volumes(pod, what);
            json_object *init = jpath(pod, INIT);
            json_object *runtime = jpath(pod, MAIN);
            /* Code in /var/task for Zip only; layers in /opt, filled by the init
             * container and read by the runtime; the init container mounts only
             * what it writes. */
            cr_assert_eq(mounts(runtime, K8S_VOLUME_TASK, "/var/task"), !image, "%s", what);
            cr_assert_eq(mounts(init, K8S_VOLUME_TASK, "/var/task"), !image, "%s", what);
            cr_assert_eq(mounts(runtime, K8S_VOLUME_OPT, "/opt"), !image || n_layers > 0, "%s",
                         what);
            cr_assert_eq(mounts(init, K8S_VOLUME_OPT, "/opt"), n_layers > 0, "%s", what);
            cr_assert(mounts(runtime, K8S_VOLUME_TMP, "/tmp"), "%s", what);
            cr_assert_eq(init != NULL, !image || n_layers > 0, "%s", what);
            if (init != NULL) {
                const char *script = json_object_get_string(
                    json_object_array_get_idx(json_object_object_get(init, "command"), 2));
                cr_assert_eq(strstr(script, "/var/task") != NULL, !image, "%s: %s", what, script);
                cr_assert_eq(strstr(script, "-C /opt") != NULL, n_layers > 0, "%s: %s", what,
                             script);
            }
            json_object_put(pod);
        }
    }
}

Test(k8s_pod, refuses_an_image_function_without_image_uri)
{
    fn.package_type = FCB_PACKAGE_IMAGE;
    fn.image_uri = NULL;
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(build_error(&err), FCB_ERR_INVALID_ARGUMENT);
    cr_assert(strstr(err.message, "ImageUri") != NULL, "%s", err.message);
}

Test(k8s_pod, applies_scheduling_and_security_keys)
{
    mock_host_set_config(mh, "FAKECLOUD_K8S_PULL_SECRET", "regcred");
    mock_host_set_config(mh, "FAKECLOUD_K8S_SERVICE_ACCOUNT", "lambda-sa");
    mock_host_set_config(mh, "FAKECLOUD_K8S_NODE_SELECTOR", "pool=lambda");
    mock_host_set_config(mh, "FAKECLOUD_K8S_TOLERATIONS",
                         "[{\"key\":\"k\",\"operator\":\"Exists\"}]");
    mock_host_set_config(mh, "FAKECLOUD_K8S_LABELS", "team=a");
    mock_host_set_config(mh, "FAKECLOUD_K8S_ANNOTATIONS", "note=hello");
    mock_host_set_config(mh, "FAKECLOUD_K8S_RUN_AS_USER", "1000");
    mock_host_set_config(mh, "FAKECLOUD_K8S_PRIORITY_CLASS", "low");
    mock_host_set_config(mh, "FAKECLOUD_K8S_CPU_REQUEST", "none");
    mock_host_set_config(mh, "FAKECLOUD_K8S_CPU_LIMIT", "proportional");
    mock_host_set_config(mh, "FAKECLOUD_K8S_IMAGE_PULL_POLICY", "Never");
    mock_host_set_config(mh, "FAKECLOUD_K8S_INIT_IMAGE", "mirror/busybox:1");
    mock_host_set_config(mh, "FAKECLOUD_K8S_RUNTIME_IMAGE_PREFIX", "mirror.local/lambda/");
    load_config();
    json_object *pod = build();
    cr_assert_str_eq(jstr(pod, "spec.imagePullSecrets[0].name"), "regcred");
    cr_assert_str_eq(jstr(pod, "spec.serviceAccountName"), "lambda-sa");
    cr_assert_null(jpath(pod, "spec.automountServiceAccountToken"));
    cr_assert_str_eq(jstr(pod, "spec.nodeSelector.pool"), "lambda");
    cr_assert_str_eq(jstr(pod, "spec.tolerations[0].key"), "k");
    cr_assert_str_eq(jstr(pod, "metadata.labels.team"), "a");
    cr_assert_str_eq(jstr(pod, "metadata.labels.fakecloud-managed-by"), "fakecloud");
    cr_assert_str_eq(jstr(pod, "metadata.annotations.note"), "hello");
    cr_assert_eq(json_object_get_int(jpath(pod, "spec.securityContext.runAsUser")), 1000);
    cr_assert_str_eq(jstr(pod, "spec.priorityClassName"), "low");
    cr_assert_null(jpath(pod, MAIN ".resources.requests.cpu"));
    cr_assert_str_eq(jstr(pod, MAIN ".resources.limits.cpu"), "144m");
    cr_assert_str_eq(jstr(pod, MAIN ".imagePullPolicy"), "Never");
    cr_assert_str_eq(jstr(pod, INIT ".image"), "mirror/busybox:1");
    cr_assert_str_eq(jstr(pod, MAIN ".image"), "mirror.local/lambda/python:3.12");
    json_object_put(pod);
}

Test(k8s_pod, merges_the_template_by_name_without_touching_ours)
{
    mock_host_set_config(mh, "FAKECLOUD_K8S_POD_TEMPLATE",
                         "spec:\n"
                         "  priorityClassName: high\n"
                         "  affinity: {nodeAffinity: {}}\n"
                         "  volumes: [{name: extra, emptyDir: {}}]\n"
                         "  containers:\n"
                         "    - name: fakecloud-lambda\n"
                         "      env: [{name: EXTRA, value: '1'}]\n"
                         "      resources: {limits: {cpu: '2'}}\n"
                         "    - name: sidecar\n"
                         "      image: envoy:1\n"
                         "metadata:\n"
                         "  labels: {team: b}\n");
    load_config();
    json_object *pod = build();
    cr_assert_str_eq(jstr(pod, "spec.priorityClassName"), "high");
    cr_assert_not_null(jpath(pod, "spec.affinity.nodeAffinity"));
    cr_assert_eq(json_object_array_length(jpath(pod, "spec.volumes")), 4);
    cr_assert_eq(json_object_array_length(jpath(pod, "spec.containers")), 2);
    cr_assert_str_eq(jstr(pod, "spec.containers[0].name"), "fakecloud-lambda");
    cr_assert_str_eq(jstr(pod, MAIN ".image"), "public.ecr.aws/lambda/python:3.12");
    cr_assert_str_eq(jstr(pod, MAIN ".env[name=EXTRA].value"), "1");
    cr_assert_str_eq(jstr(pod, MAIN ".env[name=TABLE].value"), "orders");
    cr_assert_str_eq(jstr(pod, MAIN ".resources.limits.cpu"), "2");
    cr_assert_str_eq(jstr(pod, MAIN ".resources.limits.memory"), "256Mi");
    cr_assert_str_eq(jstr(pod, "spec.containers[name=sidecar].image"), "envoy:1");
    cr_assert_str_eq(jstr(pod, "metadata.labels.team"), "b");
    cr_assert_str_eq(jstr(pod, "metadata.labels.fakecloud-instance"), "0123456789abcdef");
    json_object_put(pod);
}

Test(k8s_pod, builds_the_token_secret)
{
    json_object *s = NULL;
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(k8s_secret_build("ns", "fakecloud-lambda-token-abc", "abc", "s3cret", &s, &err),
                 FCB_OK);
    cr_assert_str_eq(jstr(s, "kind"), "Secret");
    cr_assert_str_eq(jstr(s, "metadata.name"), "fakecloud-lambda-token-abc");
    cr_assert_str_eq(jstr(s, "metadata.namespace"), "ns");
    cr_assert_str_eq(jstr(s, "metadata.labels.fakecloud-managed-by"), "fakecloud");
    cr_assert_str_eq(jstr(s, "metadata.labels.fakecloud-instance"), "abc");
    cr_assert_str_eq(jstr(s, "stringData.token"), "s3cret");
    json_object_put(s);
}

Test(k8s_pod, selectors_match_ours_or_everyone_elses)
{
    char sel[128];
    k8s_selector_ours("abc", sel, sizeof sel);
    cr_assert_str_eq(sel, "fakecloud-managed-by=fakecloud,fakecloud-instance=abc");
    k8s_selector_foreign("abc", sel, sizeof sel);
    cr_assert_str_eq(sel, "fakecloud-managed-by=fakecloud,fakecloud-instance!=abc");
}

Test(k8s_pod, leaks_nothing_when_any_allocation_fails)
{
    fcb_blob layer = {"x", 1};
    req.layers = &layer;
    req.n_layers = 1;
    /* Every 1.1 path: credentials (and their Secret), the endpoint, tags of each kind. */
    fcb_credentials creds = {sizeof creds, "AKIAEXAMPLE", "secret", "token", 0};
    req.credentials = &creds;
    req.aws_endpoint_url = "http://localhost:4566";
    static const fcb_tag tags[] = {{"fakecloud-k8s/node-selector", "pool=lambda,bad"},
                                   {"fakecloud-k8s/tolerations", "[{\"key\":\"gpu\"}]"},
                                   {"fakecloud-k8s/annotations", "team=core"}};
    fn.tags = tags;
    fn.n_tags = 3;
    fn.architecture = "arm64";
    mock_host_set_config(mh, "FAKECLOUD_LAMBDA_K8S_NODE_SELECTOR", "zone=a");
    mock_host_set_config(mh, "FAKECLOUD_LAMBDA_K8S_TOLERATIONS", "[{\"key\":\"l\"}]");
    load_config();
    size_t failures = 0;
    size_t baseline = mock_host_outstanding_bytes(mh); /* the config */
    for (size_t n = 1; n < 200; n++) {
        mock_host_fail_alloc(mh, n);
        k8s_pod_input in = input();
        json_object *pod = NULL, *secret = NULL;
        fcb_error err = FCB_ERROR_INIT;
        int rc = k8s_pod_build_objects(mock_host_services(mh), &in, &pod, &secret, &err);
        bool injected = mock_host_failed_allocs(mh) > failures;
        failures = mock_host_failed_allocs(mh);
        if (rc == FCB_OK) {
            cr_assert_not_null(secret, "n=%zu: the credentials Secret", n);
            cr_assert_not_null(jpath(pod, "metadata.annotations.team"), "n=%zu: the tag", n);
            json_object_put(pod);
            json_object_put(secret);
            if (!injected)
                break;
        } else {
            cr_assert_eq(rc, FCB_ERR_NO_MEMORY, "n=%zu: %s", n, err.message);
        }
        cr_assert_eq(mock_host_outstanding_bytes(mh), baseline, "n=%zu leaked", n);
    }
    mock_host_fail_alloc(mh, 0);
    cr_assert_gt(failures, 2);
}

Test(k8s_pod, prepull_pod_carries_our_labels_the_translated_image_and_a_noop_command)
{
    mock_host *m = mock_host_new();
    const fcb_host_services *h = mock_host_services(m);
    k8s_config pcfg;
    memset(&pcfg, 0, sizeof pcfg);
    pcfg.ecr_host = "ecr.local";
    pcfg.ecr_port = 5000;
    pcfg.pull_secret = "regcred";
    json_object *pod = NULL;
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(k8s_prepull_pod_build(h, &pcfg, "ns1", "abc123", "fakecloud-prepull-x", "n1",
                                       "123456789012.dkr.ecr.us-east-1.amazonaws.com/repo:tag",
                                       &pod, &err),
                 FCB_OK, "%s", err.message);
    const char *text = json_object_to_json_string_ext(pod, JSON_C_TO_STRING_PLAIN);
    cr_expect(strstr(text, "\"image\":\"ecr.local:5000\\/repo:tag\"") != NULL, "%s", text);
    cr_expect(strstr(text, "\"fakecloud-managed-by\":\"fakecloud\"") != NULL, "%s", text);
    cr_expect(strstr(text, "\"fakecloud-instance\":\"abc123\"") != NULL, "%s", text);
    cr_expect(strstr(text, "\"restartPolicy\":\"Never\"") != NULL, "%s", text);
    cr_expect(strstr(text, "\"imagePullSecrets\":[{\"name\":\"regcred\"}]") != NULL, "%s", text);
    cr_expect(strstr(text, "fakecloud-prepull-done") != NULL, "%s", text);
    json_object_put(pod);
    cr_assert_eq(k8s_prepull_pod_build(h, &pcfg, "ns1", "abc123", "p", "n1", "a b", &pod, &err),
                 FCB_ERR_INVALID_ARGUMENT);
    cr_expect(strstr(err.message, "image") != NULL, "%s", err.message);
    cr_assert_eq(mock_host_outstanding_bytes(m), 0);
    mock_host_free(m);
}

/* spec.nodeSelector["kubernetes.io/arch"], or NULL. */
static const char *arch_selector(json_object *pod)
{
    json_object *v = json_object_object_get(jpath(pod, "spec.nodeSelector"), "kubernetes.io/arch");
    return v != NULL ? json_object_get_string(v) : NULL;
}

Test(k8s_pod, architectures_become_the_kubernetes_arch_node_selector)
{
    static const char *const cases[][2] = {{"arm64", "arm64"}, {"x86_64", "amd64"}};
    for (size_t i = 0; i < 2; i++) {
        fn.architecture = cases[i][0];
        json_object *pod = build();
        cr_assert_str_eq(arch_selector(pod), cases[i][1], "%s", cases[i][0]);
        json_object_put(pod);
    }
    /* Not stated (NULL or ""): no selector at all (docs/k8s.md "Architectures"). */
    static const char *const unset[] = {NULL, ""};
    for (size_t i = 0; i < 2; i++) {
        fn.architecture = unset[i];
        json_object *pod = build();
        cr_assert_null(jpath(pod, "spec.nodeSelector"), "%s", unset[i] ? unset[i] : "NULL");
        json_object_put(pod);
    }
}

Test(k8s_pod, the_function_architecture_joins_and_overrides_the_configured_node_selector)
{
    mock_host_set_config(mh, "FAKECLOUD_K8S_NODE_SELECTOR", "pool=lambda,kubernetes.io/arch=amd64");
    load_config();
    fn.architecture = "arm64";
    json_object *pod = build();
    cr_assert_str_eq(jstr(pod, "spec.nodeSelector.pool"), "lambda");
    cr_assert_str_eq(arch_selector(pod), "arm64");
    json_object_put(pod);
    fn.architecture = NULL;
    pod = build();
    cr_assert_str_eq(arch_selector(pod), "amd64", "unset keeps the configured selector");
    json_object_put(pod);
}

Test(k8s_pod, refuses_an_unknown_architecture_naming_architectures)
{
    static const char *const bad[] = {"aarch64", "amd64", "ARM64", "riscv64"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        fn.architecture = bad[i];
        fcb_error err = FCB_ERROR_INIT;
        cr_assert_eq(build_error(&err), FCB_ERR_INVALID_ARGUMENT, "%s", bad[i]);
        cr_assert(strstr(err.message, "Architectures") != NULL, "%s", err.message);
        cr_assert(strstr(err.message, bad[i]) != NULL, "%s", err.message);
    }
}

/* A Pod built from the current config and request, the warning log cleared first. */
Test(k8s_pod, tags_land_over_the_service_level_over_the_global_keys)
{
    mock_host_set_config(mh, "FAKECLOUD_K8S_NODE_SELECTOR", "pool=general,zone=a,disk=hdd");
    mock_host_set_config(mh, "FAKECLOUD_K8S_TOLERATIONS",
                         "[{\"key\":\"global\",\"operator\":\"Exists\"}]");
    mock_host_set_config(mh, "FAKECLOUD_K8S_ANNOTATIONS", "a=global,b=global");
    mock_host_set_config(mh, "FAKECLOUD_LAMBDA_K8S_NODE_SELECTOR",
                         "pool=lambda,kubernetes.io/arch=amd64");
    mock_host_set_config(
        mh, "FAKECLOUD_LAMBDA_K8S_TOLERATIONS",
        "[{\"key\":\"service\",\"operator\":\"Exists\",\"effect\":\"NoSchedule\"}]");
    mock_host_set_config(mh, "FAKECLOUD_LAMBDA_K8S_ANNOTATIONS", "b=service,c=service");
    load_config();
    static const fcb_tag tags[] = {
        {"Team", "payments"}, /* not ours: ignored */
        {"fakecloud-k8s/node-selector", "zone=b"},
        {"fakecloud-k8s/tolerations",
         "[{\"key\":\"gpu\",\"operator\":\"Equal\",\"value\":\"a100\",\"effect\":\"NoExecute\","
         "\"tolerationSeconds\":60}]"},
        {"fakecloud-k8s/annotations", "c=tag,d=tag"},
    };
    fn.tags = tags;
    fn.n_tags = 4;
    fn.architecture = "arm64";
    json_object *pod = build();
    cr_expect_str_eq(
        json_object_to_json_string_ext(jpath(pod, "spec.nodeSelector"),
                                       JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE),
        "{\"pool\":\"lambda\",\"zone\":\"b\",\"disk\":\"hdd\",\"kubernetes.io/arch\":"
        "\"arm64\"}");
    json_object *tol = jpath(pod, "spec.tolerations");
    cr_assert_eq(json_object_array_length(tol), 3, "global, service and tag tolerations add up");
    cr_expect_str_eq(jstr(pod, "spec.tolerations[0].key"), "global");
    cr_expect_str_eq(jstr(pod, "spec.tolerations[1].key"), "service");
    cr_expect_str_eq(jstr(pod, "spec.tolerations[2].key"), "gpu");
    cr_expect_eq(json_object_get_int(jpath(pod, "spec.tolerations[2].tolerationSeconds")), 60);
    cr_expect_str_eq(jstr(pod, "metadata.annotations.a"), "global");
    cr_expect_str_eq(jstr(pod, "metadata.annotations.b"), "service");
    cr_expect_str_eq(jstr(pod, "metadata.annotations.c"), "tag");
    cr_expect_str_eq(jstr(pod, "metadata.annotations.d"), "tag");
    cr_expect_str_eq(jstr(pod, "metadata.annotations.fakecloud-launch-nonce"), NONCE);
    cr_expect_str_eq(jstr(pod, "metadata.annotations.fakecloud-function-name"), "My_Func");
    cr_expect_null(jpath(pod, "metadata.annotations.Team"));
    cr_expect(mock_host_log_contains(mh, "kubernetes.io/arch"), "the arch override is warned");
    json_object_put(pod);
}

Test(k8s_pod, malformed_tags_are_warned_through_the_host_and_the_pod_still_builds)
{
    mock_host_set_config(mh, "FAKECLOUD_K8S_NODE_SELECTOR", "pool=general");
    load_config();
    static const fcb_tag tags[] = {
        {"fakecloud-k8s/node-selector", "zone=b,notakeyvalue"},
        {"fakecloud-k8s/tolerations", "not json"},
        {"fakecloud-k8s/annotations", "fakecloud-launch-nonce=spoofed,ok=1"},
    };
    fn.tags = tags;
    fn.n_tags = 3;
    json_object *pod = build();
    cr_expect_str_eq(jstr(pod, "spec.nodeSelector.pool"), "general");
    cr_expect_str_eq(jstr(pod, "spec.nodeSelector.zone"), "b", "the good entry is kept");
    cr_expect_null(jpath(pod, "spec.tolerations"));
    cr_expect_str_eq(jstr(pod, "metadata.annotations.ok"), "1");
    cr_expect_str_eq(jstr(pod, "metadata.annotations.fakecloud-launch-nonce"), NONCE);
    cr_expect(mock_host_log_contains(mh, "notakeyvalue"), "the bad entry is named");
    cr_expect(mock_host_log_contains(mh, "fakecloud-k8s/tolerations"));
    cr_expect(mock_host_log_contains(mh, "fakecloud-launch-nonce"));
    cr_expect(mock_host_log_contains(mh, "My_Func"), "the warning names the function");
    json_object_put(pod);
}

Test(k8s_pod, tags_reach_the_pod_even_without_global_or_service_keys)
{
    static const fcb_tag tags[] = {{"fakecloud-k8s/node-selector", "{\"pool\":\"gpu\"}"}};
    fn.tags = tags;
    fn.n_tags = 1;
    json_object *pod = build();
    cr_expect_str_eq(jstr(pod, "spec.nodeSelector.pool"), "gpu");
    json_object_put(pod);
}

Test(k8s_pod, prepull_pods_land_where_lambda_pods_land_without_function_tags)
{
    mock_host_set_config(mh, "FAKECLOUD_K8S_NODE_SELECTOR", "pool=general,zone=a");
    mock_host_set_config(mh, "FAKECLOUD_LAMBDA_K8S_NODE_SELECTOR", "pool=lambda");
    mock_host_set_config(mh, "FAKECLOUD_LAMBDA_K8S_TOLERATIONS",
                         "[{\"key\":\"lambda\",\"operator\":\"Exists\"}]");
    load_config();
    json_object *pod = NULL;
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(k8s_prepull_pod_build(mock_host_services(mh), cfg, "ns1", "abc123", "p", "n1",
                                       "public.ecr.aws/lambda/python:3.12", &pod, &err),
                 FCB_OK, "%s", err.message);
    cr_expect_str_eq(jstr(pod, "spec.nodeSelector.pool"), "lambda");
    cr_expect_str_eq(jstr(pod, "spec.nodeSelector.zone"), "a");
    cr_expect_str_eq(jstr(pod, "spec.tolerations[0].key"), "lambda");
    json_object_put(pod);
}
