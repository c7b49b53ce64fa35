/*
 * Integration tests of the k8s backend on kubesim, through the loader and
 * the mock host: launch -> invoke -> terminate, open/close, terminate
 * idempotence and bad handles.
 */
#include "k8s_itest.h"

#include <criterion/criterion.h>
#include <string.h>

static itest t;

static void stop(void)
{
    itest_stop(&t);
}

static json_object *array_has(json_object *arr, const char *s)
{
    for (size_t i = 0; i < json_object_array_length(arr); i++) {
        json_object *v = json_object_array_get_idx(arr, i);
        if (strcmp(json_object_get_string(v), s) == 0)
            return v;
    }
    return NULL;
}

Test(k8s_lifecycle, launches_a_zip_function_invokes_it_and_terminates_it, .fini = stop,
     .timeout = 60)
{
    itest_start(&t, "launch_invoke_terminate", NULL);
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(itest_open(&t, ITEST_TOKEN, &err), FCB_OK, "open: %s", err.message);
    cr_assert_eq(itest_count(&t, "secrets", "default", "fakecloud-managed-by=fakecloud"), 0,
                 "the token Secret waits for the first launch");

    fcb_function fn = itest_zip_function("My Fn");
    fn.function_arn = "arn:aws:lambda:us-east-1:123456789012:function:My Fn";
    fcb_launch_request req = itest_request(&fn, "deploy-1");
    fcb_blob layer = {t.zip, t.zip_len}; /* vetted by launch: a real zip */
    req.layers = &layer;
    req.n_layers = 1;
    fcb_instance inst = {.size = sizeof inst};
    cr_assert_eq(t.ops->launch(t.backend, &req, &inst, &err), FCB_OK, "launch: %s", err.message);
    cr_assert_eq(itest_count(&t, "secrets", "default", "fakecloud-managed-by=fakecloud"), 1);
    cr_assert(strncmp(inst.handle, "pod/default/fakecloud-lambda-my-fn-", 35) == 0, "%s",
              inst.handle);
    cr_assert(strstr(inst.endpoint, ":8080") != NULL, "%s", inst.endpoint);
    cr_assert_eq(atomic_load(&t.code_hits), 1);
    cr_assert_eq(atomic_load(&t.layer_hits), 1);
    cr_assert_eq(atomic_load(&t.auth_failures), 0);
    cr_assert(strstr(t.last_path, "/123456789012/My%20Fn/deploy-1.") != NULL ||
                  strstr(t.last_path, "/123456789012/My Fn/deploy-1.") != NULL,
              "%s", t.last_path);

    json_object *echo = NULL;
    cr_assert_eq(itest_invoke(inst.endpoint, "{\"hello\":\"world\"}", &echo), 200);
    cr_assert_not_null(echo);
    json_object *code = json_object_object_get(echo, "code_files");
    cr_assert_not_null(array_has(code, "app.py"), "%s", json_object_to_json_string(echo));
    cr_assert_not_null(array_has(code, "lib/util.py"));
    cr_assert_not_null(array_has(json_object_object_get(echo, "layer_files"), "python/layerlib.py"),
                       "%s", json_object_to_json_string(echo));
    cr_assert_str_eq(json_object_get_string(json_object_object_get(echo, "handler")),
                     "app.handler");
    json_object *env = json_object_object_get(echo, "env");
    cr_assert_str_eq(json_object_get_string(json_object_object_get(env, "ENDPOINT")),
                     "http://127.0.0.1:4566/q");
    cr_assert_str_eq(
        json_object_get_string(json_object_object_get(env, "AWS_LAMBDA_FUNCTION_NAME")), "My Fn");
    cr_assert_str_eq(json_object_get_string(
                         json_object_object_get(json_object_object_get(echo, "event"), "hello")),
                     "world");
    json_object_put(echo);

    cr_assert_eq(itest_count(&t, "pods", "default", NULL), 1);
    cr_assert_eq(t.ops->terminate(t.backend, inst.handle, &err), FCB_OK, "%s", err.message);
    cr_assert_eq(t.ops->terminate(t.backend, inst.handle, &err), FCB_OK, "second: %s", err.message);
    itest_close(&t);
    cr_assert_eq(itest_count(&t, "secrets", "default", NULL), 0, "token Secret left behind");
}

Test(k8s_lifecycle, terminate_refuses_a_handle_that_is_not_ours, .fini = stop, .timeout = 30)
{
    itest_start(&t, "bad_handle", NULL);
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(itest_open(&t, NULL, &err), FCB_OK, "open: %s", err.message);
    const char *bad[] = {"container/abc",
                         "pod/default",
                         "pod//x",
                         "pod/Default/x",
                         "pod/default/../secrets/x",
                         "pod/default/x?y",
                         ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        fcb_error e = FCB_ERROR_INIT;
        cr_assert_eq(t.ops->terminate(t.backend, bad[i], &e), FCB_ERR_INVALID_ARGUMENT, "%s",
                     bad[i]);
        cr_assert(strstr(e.message, "handle") != NULL, "%s", e.message);
    }
    /* Unknown but well-formed: already gone is success (see test_k8s_terminate.c for
     * handles naming objects that are not ours). */
    cr_assert_eq(t.ops->terminate(t.backend, "pod/default/never-existed", &err), FCB_OK, "%s",
                 err.message);
    itest_close(&t);
}

Test(k8s_lifecycle, open_fails_fast_on_bad_configuration, .fini = stop, .timeout = 30)
{
    itest_start(&t, "open_config", NULL);
    fcb_error err = FCB_ERROR_INIT;
    mock_host_set_config(t.mh, "FAKECLOUD_K8S_SELF_URL", NULL);
    cr_assert_eq(itest_open(&t, NULL, &err), FCB_ERR_CONFIG);
    cr_assert_str_eq(err.message,
                     "FAKECLOUD_K8S_SELF_URL must be set when FAKECLOUD_LAMBDA_BACKEND=k8s");
    cr_assert_null(t.backend);
    mock_host_set_config(t.mh, "FAKECLOUD_K8S_SELF_URL", t.self_url);
    mock_host_set_config(t.mh, "FAKECLOUD_K8S_RIE_TIMEOUT_MS", "soon");
    cr_assert_eq(itest_open(&t, NULL, &err), FCB_ERR_CONFIG);
    cr_assert(strstr(err.message, "FAKECLOUD_K8S_RIE_TIMEOUT_MS") != NULL, "%s", err.message);
    mock_host_set_config(t.mh, "FAKECLOUD_K8S_RIE_TIMEOUT_MS", NULL);
    mock_host_set_config(t.mh, "KUBECONFIG", "/nonexistent/kubeconfig");
    mock_host_set_config(t.mh, "HOME", "/nonexistent");
    cr_assert_neq(itest_open(&t, NULL, &err), FCB_OK);
    cr_assert_null(t.backend);
    cr_assert_eq(mock_host_outstanding_bytes(t.mh), 0);
    itest_close(&t);
}

Test(k8s_lifecycle, zip_launch_without_internal_token_is_a_clear_error, .fini = stop, .timeout = 30)
{
    itest_start(&t, "no_token", NULL);
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(itest_open(&t, NULL, &err), FCB_OK, "open: %s", err.message);
    fcb_function fn = itest_zip_function("f");
    fcb_launch_request req = itest_request(&fn, "d1");
    fcb_instance inst = {.size = sizeof inst};
    cr_assert_eq(t.ops->launch(t.backend, &req, &inst, &err), FCB_ERR_INVALID_ARGUMENT);
    cr_assert(strstr(err.message, "internal token") != NULL, "%s", err.message);
    cr_assert_eq(itest_count(&t, "pods", "default", NULL), 0);
    itest_close(&t);
}

Test(k8s_lifecycle, launches_an_image_function_from_the_translated_ecr_uri, .fini = stop,
     .timeout = 30)
{
    itest_start(&t, "image_function", NULL);
    mock_host_set_config(t.mh, "FAKECLOUD_K8S_ECR_URL", "registry.local:5000");
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(itest_open(&t, NULL, &err), FCB_OK, "open: %s", err.message);
    static const char *const cmd[] = {"app.handler"};
    fcb_function fn = {.size = sizeof fn,
                       .function_name = "img",
                       .package_type = FCB_PACKAGE_IMAGE,
                       .image_uri = "123456789012.dkr.ecr.us-east-1.amazonaws.com/app:v1",
                       .image_command = cmd,
                       .n_image_command = 1};
    fcb_launch_request req = itest_request(&fn, "img-1");
    fcb_instance inst = {.size = sizeof inst};
    cr_assert_eq(t.ops->launch(t.backend, &req, &inst, &err), FCB_OK, "launch: %s", err.message);
    json_object *echo = NULL;
    cr_assert_eq(itest_invoke(inst.endpoint, "{}", &echo), 200);
    cr_assert_str_eq(json_object_get_string(json_object_object_get(echo, "image")),
                     "registry.local:5000/app:v1");
    cr_assert_eq(atomic_load(&t.code_hits), 0, "image functions download no code");
    json_object_put(echo);
    cr_assert_eq(t.ops->terminate(t.backend, inst.handle, &err), FCB_OK, "%s", err.message);
    itest_close(&t);
}

/* Name of the volume CONTAINER mounts at PATH, or NULL. */
static const char *mount_volume(json_object *container, const char *path)
{
    json_object *mounts = json_object_object_get(container, "volumeMounts");
    for (size_t i = 0; i < json_object_array_length(mounts); i++) {
        json_object *m = json_object_array_get_idx(mounts, i);
        if (strcmp(json_object_get_string(json_object_object_get(m, "mountPath")), path) == 0)
            return json_object_get_string(json_object_object_get(m, "name"));
    }
    return NULL;
}

Test(k8s_lifecycle, launches_an_image_function_with_a_layer_fetched_into_opt, .fini = stop,
     .timeout = 30)
{
    itest_start(&t, "image_function_layers", NULL);
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(itest_open(&t, ITEST_TOKEN, &err), FCB_OK, "open: %s", err.message);
    static const char *const cmd[] = {"app.handler"};
    fcb_function fn = {.size = sizeof fn,
                       .function_name = "img-layers",
                       .package_type = FCB_PACKAGE_IMAGE,
                       .image_uri = "registry.local:5000/app:v1",
                       .image_command = cmd,
                       .n_image_command = 1};
    fcb_launch_request req = itest_request(&fn, "img-2");
    fcb_blob layer = {t.zip, t.zip_len}; /* vetted by launch: a real zip */
    req.layers = &layer;
    req.n_layers = 1;
    fcb_instance inst = {.size = sizeof inst};
    cr_assert_eq(t.ops->launch(t.backend, &req, &inst, &err), FCB_OK, "launch: %s", err.message);
    cr_assert_eq(atomic_load(&t.code_hits), 0, "image functions download no code");
    cr_assert_eq(atomic_load(&t.layer_hits), 1, "the init container fetched the layers");
    cr_assert_eq(atomic_load(&t.auth_failures), 0);

    json_object *echo = NULL;
    cr_assert_eq(itest_invoke(inst.endpoint, "{}", &echo), 200);
    cr_assert_not_null(array_has(json_object_object_get(echo, "layer_files"), "python/layerlib.py"),
                       "%s", json_object_to_json_string(echo));
    cr_assert_eq(json_object_array_length(json_object_object_get(echo, "code_files")), 0);
    json_object_put(echo);

    /* The layers land in /opt: one volume the init container fills and the
     * runtime container reads, and no /var/task over the image's own code. */
    char path[256];
    json_object *pod = NULL;
    snprintf(path, sizeof path, "/api/v1/namespaces/default/pods/%s", inst.handle + 12);
    cr_assert_eq(kubesim_get_json(t.sim, path, &pod), 200, "GET %s", path);
    json_object *spec = json_object_object_get(pod, "spec");
    json_object *init =
        json_object_array_get_idx(json_object_object_get(spec, "initContainers"), 0);
    json_object *runtime = json_object_array_get_idx(json_object_object_get(spec, "containers"), 0);
    cr_assert_not_null(init);
    cr_assert_str_eq(mount_volume(init, "/opt"), "fakecloud-opt");
    cr_assert_str_eq(mount_volume(runtime, "/opt"), "fakecloud-opt");
    cr_assert_null(mount_volume(init, "/var/task"), "%s", json_object_to_json_string(init));
    cr_assert_null(mount_volume(runtime, "/var/task"));
    json_object_put(pod);

    cr_assert_eq(t.ops->terminate(t.backend, inst.handle, &err), FCB_OK, "%s", err.message);
    itest_close(&t);
}

Test(k8s_lifecycle, refuses_instance_structs_that_are_too_small, .fini = stop, .timeout = 30)
{
    itest_start(&t, "small_instance", NULL);
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(itest_open(&t, ITEST_TOKEN, &err), FCB_OK, "open: %s", err.message);
    fcb_function fn = itest_zip_function("f");
    fcb_launch_request req = itest_request(&fn, "d1");
    fcb_instance inst = {.size = 16};
    cr_assert_eq(t.ops->launch(t.backend, &req, &inst, &err), FCB_ERR_INVALID_ARGUMENT);
    cr_assert(strstr(err.message, "fcb_instance") != NULL, "%s", err.message);
    cr_assert_eq(itest_count(&t, "pods", "default", NULL), 0);
    itest_close(&t);
}

Test(k8s_lifecycle, open_says_once_at_info_which_cluster_it_uses, .fini = stop, .timeout = 30)
{
    itest_start(&t, "open_logs_once", NULL);
    mock_host_set_log_level(t.mh, FCB_LOG_INFO);
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(itest_open(&t, ITEST_TOKEN, &err), FCB_OK, "open: %s", err.message);
    char *log = mock_host_log_text(t.mh);
    int configured = 0;
    for (const char *p = log; (p = strstr(p, "Kubernetes client configured")) != NULL; p++)
        configured++;
    cr_expect_eq(configured, 1, "logged %d times:\n%s", configured, log);
    free(log);
}

Test(k8s_lifecycle, prepull_pulls_with_a_short_lived_pod_and_removes_it, .fini = stop,
     .timeout = 60)
{
    itest_start(&t, "prepull", NULL);
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(itest_open(&t, ITEST_TOKEN, &err), FCB_OK, "open: %s", err.message);
    cr_assert_not_null(t.ops->prepull, "the k8s backend implements prepull");

    cr_assert_eq(t.ops->prepull(t.backend, "public.ecr.aws/lambda/python:3.12", &err), FCB_OK, "%s",
                 err.message);
    cr_expect_eq(itest_count(&t, "pods", "default", "fakecloud-managed-by=fakecloud"), 0,
                 "the prepull Pod is gone");

    fcb_error bad = FCB_ERROR_INIT;
    cr_assert_eq(t.ops->prepull(t.backend, "registry.local/errimagepull:1", &bad),
                 FCB_ERR_START_FAILED);
    cr_expect(strstr(bad.message, "prepull registry.local/errimagepull:1") != NULL &&
                  strstr(bad.message, "ErrImagePull") != NULL,
              "%s", bad.message);
    cr_expect_eq(itest_count(&t, "pods", "default", "fakecloud-managed-by=fakecloud"), 0,
                 "the failed prepull's Pod is gone");

    fcb_error empty = FCB_ERROR_INIT;
    cr_assert_eq(t.ops->prepull(t.backend, "", &empty), FCB_ERR_INVALID_ARGUMENT);
    cr_expect(strstr(empty.message, "image") != NULL, "%s", empty.message);
}
