/* Unit tests of plugin/docker/dock_spec.c: create body, limits, parsers. */
#include "dock_spec.h"
#include "mock_fixture.h"

#include <criterion/criterion.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

MOCK_HOST_SUITE(dock_spec);

#define STREAM_ID "0123456789abcdef0123456789abcdef"
#define SECRET    "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY"

static fcb_function zip_fn(void)
{
    fcb_function fn = {.size = sizeof(fcb_function),
                       .function_name = "My_Fn.v2",
                       .function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:My_Fn.v2",
                       .runtime = "python3.12",
                       .handler = "app.handler",
                       .package_type = FCB_PACKAGE_ZIP};
    return fn;
}

static json_object *build(const fcb_function *fn, bool gateway, const char *network)
{
    dock_spec_input in = {.function = fn,
                          .image = "public.ecr.aws/lambda/python:3.12",
                          .instance_id = "abc123",
                          .host_alias = "host.docker.internal",
                          .host_gateway = gateway,
                          .network = network,
                          .publish_ip = "127.0.0.1",
                          .log_stream_id = STREAM_ID};
    char *json = NULL;
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(dock_spec_create_body(host, &in, &json, &err), FCB_OK, "%s", err.message);
    json_object *root = json_tokener_parse(json);
    cr_assert_not_null(root, "not JSON: %s", json);
    svc_free(host, json);
    return root;
}

static const char *path_str(json_object *root, const char *a, const char *b, const char *c)
{
    json_object *o = root;
    const char *keys[] = {a, b, c};
    for (int i = 0; i < 3 && keys[i] != NULL; i++)
        if (!json_object_object_get_ex(o, keys[i], &o))
            return NULL;
    return json_object_get_string(o);
}

static bool env_has(json_object *root, const char *kv)
{
    json_object *env;
    if (!json_object_object_get_ex(root, "Env", &env))
        return false;
    for (size_t i = 0; i < json_object_array_length(env); i++)
        if (strcmp(json_object_get_string(json_object_array_get_idx(env, i)), kv) == 0)
            return true;
    return false;
}

static size_t env_count(json_object *root, const char *prefix)
{
    json_object *env;
    size_t n = 0;
    json_object_object_get_ex(root, "Env", &env);
    for (size_t i = 0; i < json_object_array_length(env); i++)
        if (strncmp(json_object_get_string(json_object_array_get_idx(env, i)), prefix,
                    strlen(prefix)) == 0)
            n++;
    return n;
}

Test(dock_spec, zip_function_runs_the_runtime_image_with_the_handler_as_command)
{
    fcb_function fn = zip_fn();
    json_object *root = build(&fn, true, NULL);
    cr_expect_str_eq(path_str(root, "Image", NULL, NULL), "public.ecr.aws/lambda/python:3.12");
    json_object *cmd;
    cr_assert(json_object_object_get_ex(root, "Cmd", &cmd));
    cr_expect_eq(json_object_array_length(cmd), 1);
    cr_expect_str_eq(json_object_get_string(json_object_array_get_idx(cmd, 0)), "app.handler");
    json_object *ep;
    cr_expect_not(json_object_object_get_ex(root, "Entrypoint", &ep));
    json_object_put(root);
}

Test(dock_spec, labels_mark_the_container_as_managed_by_this_instance)
{
    fcb_function fn = zip_fn();
    json_object *root = build(&fn, true, NULL);
    cr_expect_str_eq(path_str(root, "Labels", "fakecloud-managed-by", NULL), "fakecloud");
    cr_expect_str_eq(path_str(root, "Labels", "fakecloud-instance", NULL), "abc123");
    cr_expect_str_eq(path_str(root, "Labels", "fakecloud-lambda", NULL), "my-fn-v2");
    cr_expect_str_eq(path_str(root, "Labels", "fakecloud-service", NULL), "lambda");
    json_object_put(root);
}

Test(dock_spec, host_config_limits_memory_sizes_tmp_and_publishes_8080_on_loopback)
{
    fcb_function fn = zip_fn();
    fn.memory_mb = 256;
    fn.ephemeral_storage_mb = 1024;
    json_object *root = build(&fn, true, "lambda-net");
    cr_expect_str_eq(path_str(root, "HostConfig", "Memory", NULL), "268435456");
    cr_expect_str_eq(path_str(root, "HostConfig", "Tmpfs", "/tmp"), "rw,exec,size=1073741824");
    cr_expect_str_eq(path_str(root, "HostConfig", "NetworkMode", NULL), "lambda-net");
    json_object *hc, *pb, *list, *eh, *exposed, *p;
    json_object_object_get_ex(root, "HostConfig", &hc);
    cr_assert(json_object_object_get_ex(hc, "PortBindings", &pb));
    cr_assert(json_object_object_get_ex(pb, "8080/tcp", &list));
    cr_expect_str_eq(path_str(json_object_array_get_idx(list, 0), "HostIp", NULL, NULL),
                     "127.0.0.1");
    cr_expect_str_eq(path_str(json_object_array_get_idx(list, 0), "HostPort", NULL, NULL), "");
    cr_assert(json_object_object_get_ex(hc, "ExtraHosts", &eh));
    cr_expect_str_eq(json_object_get_string(json_object_array_get_idx(eh, 0)),
                     "host.docker.internal:host-gateway");
    cr_assert(json_object_object_get_ex(root, "ExposedPorts", &exposed));
    cr_expect(json_object_object_get_ex(exposed, "8080/tcp", &p));
    json_object_put(root);
}

Test(dock_spec, defaults_are_aws_defaults)
{
    fcb_function fn = zip_fn();
    json_object *root = build(&fn, false, NULL);
    cr_expect_str_eq(path_str(root, "HostConfig", "Memory", NULL), "134217728");
    cr_expect_str_eq(path_str(root, "HostConfig", "Tmpfs", "/tmp"), "rw,exec,size=536870912");
    json_object *hc, *eh;
    json_object_object_get_ex(root, "HostConfig", &hc);
    cr_expect_not(json_object_object_get_ex(hc, "ExtraHosts", &eh), "no host-gateway on Podman");
    cr_expect_not(json_object_object_get_ex(hc, "NetworkMode", &eh));
    cr_expect(env_has(root, "AWS_LAMBDA_FUNCTION_TIMEOUT=3"));
    cr_expect(env_has(root, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE=128"));
    json_object_put(root);
}

Test(dock_spec, environment_rewrites_localhost_and_adds_lambda_variables)
{
    fcb_function fn = zip_fn();
    fcb_env_var env[] = {{"ENDPOINT", "http://localhost:4566/path"},
                         {"DB", "127.0.0.1:5432"},
                         {"NO_PROXY", "localhost,127.0.0.1"},
                         {"PLAIN", "value"}};
    fn.environment = env;
    fn.n_environment = 4;
    fn.timeout_seconds = 30;
    json_object *root = build(&fn, true, NULL);
    cr_expect(env_has(root, "ENDPOINT=http://host.docker.internal:4566/path"));
    cr_expect(env_has(root, "DB=127.0.0.1:5432"), "not a URL: as written");
    cr_expect(env_has(root, "NO_PROXY=localhost,127.0.0.1"), "not a URL: as written");
    cr_expect(env_has(root, "PLAIN=value"));
    cr_expect(env_has(root, "AWS_LAMBDA_FUNCTION_NAME=My_Fn.v2"));
    cr_expect(env_has(root, "AWS_LAMBDA_FUNCTION_TIMEOUT=30"));
    cr_expect(env_has(root, "AWS_REGION=eu-west-1"));
    cr_expect(env_has(root, "AWS_LAMBDA_FUNCTION_VERSION=$LATEST"));
    json_object_put(root);
}

Test(dock_spec, platform_variables_win_over_the_function_values_with_a_warning)
{
    fcb_function fn = zip_fn();
    fcb_env_var env[] = {{"AWS_LAMBDA_FUNCTION_VERSION", "7"},
                         {"AWS_LAMBDA_FUNCTION_NAME", "spoofed"},
                         {"AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "9999"},
                         {"AWS_REGION", "mars-1"}};
    fn.environment = env;
    fn.n_environment = 4;
    json_object *root = build(&fn, true, NULL);
    cr_expect(env_has(root, "AWS_LAMBDA_FUNCTION_VERSION=$LATEST"), "the platform's value wins");
    cr_expect(env_has(root, "AWS_LAMBDA_FUNCTION_NAME=My_Fn.v2"));
    cr_expect(env_has(root, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE=128"));
    cr_expect(env_has(root, "AWS_REGION=eu-west-1"), "the ARN's region wins");
    const char *names[] = {"AWS_LAMBDA_FUNCTION_VERSION=", "AWS_LAMBDA_FUNCTION_NAME=",
                           "AWS_LAMBDA_FUNCTION_MEMORY_SIZE=", "AWS_REGION="};
    for (size_t i = 0; i < 4; i++) {
        cr_expect_eq(env_count(root, names[i]), 1, "%s never twice", names[i]);
        char var[64];
        snprintf(var, sizeof var, "%.*s", (int)strlen(names[i]) - 1, names[i]);
        cr_expect(mock_host_log_contains(mh, var), "a warning names %s", var);
    }
    cr_expect(mock_host_log_contains(mh, "reserved"));
    json_object_put(root);
}

/* The create body of FN with credentials, endpoint URL and hot-reload directory as given. */
static json_object *build_full(const fcb_function *fn, const fcb_credentials *creds,
                               const char *endpoint, const char *code_dir)
{
    dock_spec_input in = {.function = fn,
                          .image = "i",
                          .instance_id = "x",
                          .host_alias = "host.docker.internal",
                          .log_stream_id = STREAM_ID,
                          .now_unix_s = 1767225600, /* 2026-01-01 */
                          .aws_endpoint_url = endpoint,
                          .credentials = creds,
                          .code_dir = code_dir};
    char *json = NULL;
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(dock_spec_create_body(host, &in, &json, &err), FCB_OK, "%s", err.message);
    json_object *root = json_tokener_parse(json);
    svc_free(host, json);
    return root;
}

static json_object *build_with(const fcb_function *fn, const fcb_credentials *creds,
                               const char *endpoint)
{
    return build_full(fn, creds, endpoint, NULL);
}

Test(dock_spec, environment_is_the_full_lambda_environment_with_the_credentials)
{
    fcb_function fn = zip_fn();
    fcb_credentials creds = {.size = sizeof creds,
                             .access_key_id = "AKID",
                             .secret_access_key = SECRET,
                             .session_token = "token"};
    json_object *root = build_with(&fn, &creds, "http://localhost:4566");
    const char *want[] = {"_HANDLER=app.handler",
                          "LAMBDA_TASK_ROOT=/var/task",
                          "LAMBDA_RUNTIME_DIR=/var/runtime",
                          "AWS_LAMBDA_LOG_GROUP_NAME=/aws/lambda/My_Fn.v2",
                          "AWS_LAMBDA_LOG_STREAM_NAME=2026/01/01/[$LATEST]" STREAM_ID,
                          "AWS_LAMBDA_INITIALIZATION_TYPE=on-demand",
                          "AWS_EXECUTION_ENV=AWS_Lambda_python3.12",
                          "TZ=:UTC",
                          "AWS_XRAY_CONTEXT_MISSING=LOG_ERROR",
                          "AWS_ENDPOINT_URL=http://host.docker.internal:4566",
                          "AWS_ACCESS_KEY_ID=AKID",
                          "AWS_SECRET_ACCESS_KEY=" SECRET,
                          "AWS_SESSION_TOKEN=token"};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        cr_expect(env_has(root, want[i]), "missing %s", want[i]);
    json_object_put(root);
    /* An image function has no handler or runtime of its own to name; no credentials given. */
    fn.package_type = FCB_PACKAGE_IMAGE;
    root = build_with(&fn, NULL, NULL);
    const char *absent[] = {
        "_HANDLER=", "AWS_EXECUTION_ENV=", "AWS_ACCESS_KEY_ID=", "AWS_ENDPOINT_URL="};
    for (size_t i = 0; i < sizeof absent / sizeof absent[0]; i++)
        cr_expect_eq(env_count(root, absent[i]), 0, "%s is set", absent[i]);
    json_object_put(root);
}

Test(dock_spec, a_function_value_for_a_credential_is_dropped_and_the_warning_hides_the_secret)
{
    fcb_function fn = zip_fn();
    fcb_env_var env[] = {{"AWS_SECRET_ACCESS_KEY", "mine"}, {"TZ", "Europe/Paris"}};
    fn.environment = env;
    fn.n_environment = 2;
    fcb_credentials creds = {
        .size = sizeof creds, .access_key_id = "AKID", .secret_access_key = SECRET};
    json_object *root = build_with(&fn, &creds, NULL);
    cr_expect(env_has(root, "AWS_SECRET_ACCESS_KEY=" SECRET));
    cr_expect_eq(env_count(root, "AWS_SECRET_ACCESS_KEY="), 1);
    /* TZ is on AWS's unreserved list: the function's own value wins, silently. */
    cr_expect(env_has(root, "TZ=Europe/Paris"));
    cr_expect_eq(env_count(root, "TZ="), 1);
    cr_expect(mock_host_log_contains(mh, "variable=AWS_SECRET_ACCESS_KEY"));
    cr_expect(!mock_host_log_contains(mh, "variable=TZ"));
    cr_expect(!mock_host_log_contains(mh, SECRET), "the secret is in the log");
    json_object_put(root);
}

Test(dock_spec, a_value_the_lambda_environment_refuses_is_named_without_its_content)
{
    fcb_function fn = zip_fn();
    fcb_credentials creds = {
        .size = sizeof creds, .access_key_id = "AKID", .secret_access_key = "bad\n" SECRET};
    dock_spec_input in = {.function = &fn,
                          .image = "i",
                          .instance_id = "x",
                          .host_alias = "h",
                          .log_stream_id = STREAM_ID,
                          .credentials = &creds};
    char *json = NULL;
    fcb_error err = FCB_ERROR_INIT;
    cr_expect_eq(dock_spec_create_body(host, &in, &json, &err), FCB_ERR_INVALID_ARGUMENT);
    cr_expect(strstr(err.message, "secret_access_key") != NULL, "%s", err.message);
    cr_expect(strstr(err.message, SECRET) == NULL, "%s", err.message);
    cr_expect_null(json);
}

Test(dock_spec, api_versions_compare_by_major_and_minor)
{
    cr_expect(dock_spec_api_at_least("1.41", 1, 41));
    cr_expect(dock_spec_api_at_least("1.43", 1, 41));
    cr_expect(dock_spec_api_at_least("2.0", 1, 41));
    cr_expect(!dock_spec_api_at_least("1.40", 1, 41));
    cr_expect(!dock_spec_api_at_least("", 1, 41));
    cr_expect(!dock_spec_api_at_least("1.x", 1, 41));
}

Test(dock_spec, version_is_the_qualifier_of_a_published_version_arn)
{
    fcb_function fn = zip_fn();
    fn.function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:My_Fn.v2:12";
    json_object *root = build(&fn, true, NULL);
    cr_expect(env_has(root, "AWS_LAMBDA_FUNCTION_VERSION=12"));
    json_object_put(root);
    fn.function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:My_Fn.v2:live";
    root = build(&fn, true, NULL);
    cr_expect(env_has(root, "AWS_LAMBDA_FUNCTION_VERSION=$LATEST"), "an alias is not a version");
    json_object_put(root);
}

Test(dock_spec, without_an_arn_the_region_is_the_function_value_or_us_east_1)
{
    fcb_function fn = zip_fn();
    fn.function_arn = NULL;
    json_object *root = build(&fn, true, NULL);
    cr_expect(env_has(root, "AWS_REGION=us-east-1"));
    cr_expect(env_has(root, "AWS_DEFAULT_REGION=us-east-1"));
    json_object_put(root);
    fcb_env_var env[] = {{"AWS_REGION", "ap-south-1"}};
    fn.environment = env;
    fn.n_environment = 1;
    root = build(&fn, true, NULL);
    cr_expect(env_has(root, "AWS_REGION=ap-south-1"));
    cr_expect_eq(env_count(root, "AWS_REGION="), 1);
    json_object_put(root);
}

Test(dock_spec, image_function_uses_image_config_overrides)
{
    fcb_function fn = zip_fn();
    fn.package_type = FCB_PACKAGE_IMAGE;
    fn.runtime = NULL;
    fn.handler = NULL;
    const char *ep[] = {"/entry", "-x"};
    const char *cmd[] = {"my.handler"};
    fn.image_entry_point = ep;
    fn.n_image_entry_point = 2;
    fn.image_command = cmd;
    fn.n_image_command = 1;
    fn.image_working_directory = "/work";
    json_object *root = build(&fn, true, NULL);
    json_object *e, *c;
    cr_assert(json_object_object_get_ex(root, "Entrypoint", &e));
    cr_expect_eq(json_object_array_length(e), 2);
    cr_expect_str_eq(json_object_get_string(json_object_array_get_idx(e, 1)), "-x");
    cr_assert(json_object_object_get_ex(root, "Cmd", &c));
    cr_expect_str_eq(json_object_get_string(json_object_array_get_idx(c, 0)), "my.handler");
    cr_expect_str_eq(path_str(root, "WorkingDir", NULL, NULL), "/work");
    json_object_put(root);
}

Test(dock_spec, refuses_bad_input_naming_the_field)
{
    fcb_function fn = zip_fn();
    dock_spec_input in = {.function = &fn,
                          .image = "i",
                          .instance_id = "x",
                          .host_alias = "h",
                          .log_stream_id = STREAM_ID};
    char *json = NULL;
    fcb_error err = FCB_ERROR_INIT;
    fcb_env_var bad[] = {{"1BAD=", "v"}};
    fn.environment = bad;
    fn.n_environment = 1;
    cr_expect_eq(dock_spec_create_body(host, &in, &json, &err), FCB_ERR_INVALID_ARGUMENT);
    cr_expect(strstr(err.message, "Environment.Variables") != NULL, "%s", err.message);
    fn.n_environment = 0;
    fn.memory_mb = 64;
    cr_expect_eq(dock_spec_create_body(host, &in, &json, &err), FCB_ERR_INVALID_ARGUMENT);
    cr_expect(strstr(err.message, "MemorySize") != NULL, "%s", err.message);
    fn.memory_mb = 0;
    fn.ephemeral_storage_mb = 20000;
    cr_expect_eq(dock_spec_create_body(host, &in, &json, &err), FCB_ERR_INVALID_ARGUMENT);
    cr_expect(strstr(err.message, "EphemeralStorage") != NULL, "%s", err.message);
    fn.ephemeral_storage_mb = 0;
    fn.timeout_seconds = 901;
    cr_expect_eq(dock_spec_create_body(host, &in, &json, &err), FCB_ERR_INVALID_ARGUMENT);
    cr_expect(strstr(err.message, "Timeout") != NULL, "%s", err.message);
    fn.timeout_seconds = 0;
    fn.handler = NULL;
    cr_expect_eq(dock_spec_create_body(host, &in, &json, &err), FCB_ERR_INVALID_ARGUMENT);
    cr_expect(strstr(err.message, "Handler") != NULL, "%s", err.message);
    cr_expect_null(json);
}

Test(dock_spec, create_body_survives_every_allocation_failure)
{
    fcb_function fn = zip_fn();
    fcb_env_var env[] = {{"A", "http://localhost:1"}, {"B", "b"}};
    fn.environment = env;
    fn.n_environment = 2;
    fcb_credentials creds = {.size = sizeof creds,
                             .access_key_id = "AKID",
                             .secret_access_key = SECRET,
                             .session_token = "token"};
    dock_spec_input in = {.function = &fn,
                          .image = "i",
                          .instance_id = "x",
                          .host_alias = "h",
                          .host_gateway = true,
                          .log_stream_id = STREAM_ID,
                          .aws_endpoint_url = "http://localhost:4566",
                          .credentials = &creds};
    for (size_t n = 1; n < 200; n++) {
        mock_host_fail_alloc(mh, n);
        char *json = NULL;
        fcb_error err = FCB_ERROR_INIT;
        int rc = dock_spec_create_body(host, &in, &json, &err);
        svc_free(host, json);
        cr_assert(rc == FCB_OK || rc == FCB_ERR_NO_MEMORY, "n=%zu rc=%d", n, rc);
        cr_assert_eq(mock_host_outstanding_bytes(mh), 0, "leak at n=%zu", n);
        if (rc == FCB_OK && mock_host_failed_allocs(mh) == 0)
            break;
    }
    mock_host_fail_alloc(mh, 0);
}

Test(dock_spec, container_names_are_docker_safe_and_carry_the_suffix)
{
    char name[DOCK_NAME_MAX];
    dock_spec_container_name("My_Fn.v2", "a1b2c3", name);
    cr_expect_str_eq(name, "fakecloud-lambda-my-fn-v2-a1b2c3");
    dock_spec_container_name("x-very-long-function-name-that-goes-on-and-on-and-on-forever", "s",
                             name);
    cr_expect_leq(strlen(name), 17 + 40 + 2);
}

Test(dock_spec, docker_host_parsing)
{
    dock_address a;
    fcb_error err = FCB_ERROR_INIT;
    cr_expect_eq(dock_spec_parse_host(NULL, false, &a, &err), FCB_OK);
    cr_expect_str_eq(a.path, "/var/run/docker.sock");
    cr_expect_eq(dock_spec_parse_host("unix:///run/user/1000/podman/podman.sock", false, &a, &err),
                 FCB_OK);
    cr_expect_str_eq(a.path, "/run/user/1000/podman/podman.sock");
    cr_expect_eq(dock_spec_parse_host("tcp://127.0.0.1:2375", false, &a, &err), FCB_OK);
    cr_expect_eq(a.transport, DOCK_TCP);
    cr_expect_str_eq(a.host, "127.0.0.1");
    cr_expect_eq(a.port, 2375);
    cr_expect_eq(dock_spec_parse_host("tcp://docker.example", true, &a, &err), FCB_OK);
    cr_expect_eq(a.port, 2376);
    cr_expect_eq(dock_spec_parse_host("ssh://me@host", false, &a, &err), FCB_ERR_CONFIG);
    cr_expect(strstr(err.message, "DOCKER_HOST") != NULL);
    cr_expect_eq(dock_spec_parse_host("tcp://h:99999", false, &a, &err), FCB_ERR_CONFIG);
    cr_expect_eq(dock_spec_parse_host("unix://relative", false, &a, &err), FCB_ERR_CONFIG);
}

Test(dock_spec, api_version_is_the_lower_of_ours_and_the_servers)
{
    char v[16];
    fcb_error err = FCB_ERROR_INIT;
    cr_expect_eq(dock_spec_negotiate_version("1.41", v, &err), FCB_OK);
    cr_expect_str_eq(v, "1.41");
    cr_expect_eq(dock_spec_negotiate_version("1.47", v, &err), FCB_OK);
    cr_expect_str_eq(v, "1.43");
    cr_expect_eq(dock_spec_negotiate_version("1.40", v, &err), FCB_OK);
    cr_expect_eq(dock_spec_negotiate_version("1.39", v, &err), FCB_ERR_UNSUPPORTED);
    cr_expect(strstr(err.message, "1.39 is too old") != NULL, "%s", err.message);
    cr_expect_eq(dock_spec_negotiate_version("banana", v, &err), FCB_ERR_BACKEND);
    cr_expect_eq(dock_spec_negotiate_version(NULL, v, &err), FCB_ERR_BACKEND);
}

Test(dock_spec, image_references_split_into_repository_and_tag)
{
    char repo[512], tag[512];
    fcb_error err = FCB_ERROR_INIT;
    cr_expect_eq(dock_spec_split_image("public.ecr.aws/lambda/python:3.12", "f", repo, tag,
                                       sizeof repo, &err),
                 FCB_OK);
    cr_expect_str_eq(repo, "public.ecr.aws/lambda/python");
    cr_expect_str_eq(tag, "3.12");
    cr_expect_eq(dock_spec_split_image("localhost:5000/fn", "f", repo, tag, sizeof repo, &err),
                 FCB_OK);
    cr_expect_str_eq(repo, "localhost:5000/fn");
    cr_expect_str_eq(tag, "latest");
    cr_expect_eq(dock_spec_split_image("r/fn@sha256:abcd", "f", repo, tag, sizeof repo, &err),
                 FCB_OK);
    cr_expect_str_eq(repo, "r/fn");
    cr_expect_str_eq(tag, "sha256:abcd");
    cr_expect_eq(dock_spec_split_image("r/fn?x=1", "ImageUri", repo, tag, sizeof repo, &err),
                 FCB_ERR_INVALID_ARGUMENT);
    cr_expect(strstr(err.message, "ImageUri") != NULL);
}

Test(dock_spec, log_stream_headers_are_removed)
{
    const char raw[] = "\x01\0\0\0\0\0\0\x06hello\n\x02\0\0\0\0\0\0\x05oops\n";
    sbuf out;
    sbuf_init(&out, host, 0);
    cr_assert(dock_spec_demux_logs(raw, sizeof raw - 1, &out));
    cr_expect_str_eq(out.data, "hello\noops\n");
    sbuf_free(&out);
    sbuf_init(&out, host, 0);
    cr_assert(dock_spec_demux_logs("plain tty text", 14, &out));
    cr_expect_str_eq(out.data, "plain tty text");
    sbuf_free(&out);
    /* A header announcing more than there is stops at the end. */
    const char cut[] = "\x01\0\0\0\0\0\x10\0abc";
    sbuf_init(&out, host, 0);
    cr_assert(dock_spec_demux_logs(cut, sizeof cut - 1, &out));
    cr_expect_str_eq(out.data, "abc");
    sbuf_free(&out);
}

Test(dock_spec, pull_progress_errors_are_detected)
{
    char msg[128] = "";
    const char ok[] = "{\"status\":\"Pulling fs layer\",\"id\":\"abc\"}";
    const char bad[] =
        "{\"errorDetail\":{\"message\":\"manifest unknown\"},\"error\":\"manifest unknown\"}";
    const char detail_only[] = "{\"errorDetail\":{\"message\":\"denied\"}}";
    cr_expect_not(dock_spec_pull_line_error(ok, sizeof ok - 1, msg, sizeof msg));
    cr_expect(dock_spec_pull_line_error(bad, sizeof bad - 1, msg, sizeof msg));
    cr_expect_str_eq(msg, "manifest unknown");
    cr_expect(dock_spec_pull_line_error(detail_only, sizeof detail_only - 1, msg, sizeof msg));
    cr_expect_str_eq(msg, "denied");
    cr_expect_not(dock_spec_pull_line_error("not json", 8, msg, sizeof msg));
}

/* The create body of FN with code_dir DIR (hot reload). */
static json_object *build_code_dir(const fcb_function *fn, const char *dir)
{
    return build_full(fn, NULL, NULL, dir);
}

/* HostConfig.Mounts of ROOT, asserting it has N entries. */
static json_object *mounts_of(json_object *root, size_t n)
{
    json_object *hostcfg, *mounts;
    cr_assert(json_object_object_get_ex(root, "HostConfig", &hostcfg));
    cr_assert(json_object_object_get_ex(hostcfg, "Mounts", &mounts), "no HostConfig.Mounts");
    cr_assert_eq(json_object_array_length(mounts), n);
    return mounts;
}

static void expect_ro_bind(json_object *mount, const char *source, const char *target)
{
    cr_expect_str_eq(path_str(mount, "Type", NULL, NULL), "bind");
    cr_expect_str_eq(path_str(mount, "Source", NULL, NULL), source);
    cr_expect_str_eq(path_str(mount, "Target", NULL, NULL), target);
    json_object *ro;
    cr_assert(json_object_object_get_ex(mount, "ReadOnly", &ro));
    cr_expect(json_object_get_boolean(ro), "mount of %s is not read-only", target);
}

Test(dock_spec, code_dir_is_bound_read_only_at_var_task)
{
    fcb_function fn = zip_fn();
    json_object *root = build_code_dir(&fn, "/srv/code/app");
    expect_ro_bind(json_object_array_get_idx(mounts_of(root, 1), 0), "/srv/code/app", "/var/task");
    json_object_put(root);
}

Test(dock_spec, code_dir_of_a_provided_runtime_is_also_var_runtime)
{
    fcb_function fn = zip_fn();
    fn.runtime = "provided.al2023";
    fn.handler = "bootstrap";
    json_object *root = build_code_dir(&fn, "/srv/code/app");
    json_object *mounts = mounts_of(root, 2);
    expect_ro_bind(json_object_array_get_idx(mounts, 0), "/srv/code/app", "/var/task");
    expect_ro_bind(json_object_array_get_idx(mounts, 1), "/srv/code/app", "/var/runtime");
    json_object_put(root);
}

Test(dock_spec, without_code_dir_there_are_no_mounts)
{
    fcb_function fn = zip_fn();
    json_object *root = build_code_dir(&fn, NULL);
    json_object *hostcfg, *mounts;
    cr_assert(json_object_object_get_ex(root, "HostConfig", &hostcfg));
    cr_expect_not(json_object_object_get_ex(hostcfg, "Mounts", &mounts));
    json_object_put(root);
}
