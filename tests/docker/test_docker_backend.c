/*
 * Integration tests of fakecloud-backend-docker.so against a private dockerd
 * (run under tests/docker/with-dockerd.sh, which sets DOCKER_HOST and
 * imports the test runtime images). The plugin is loaded with loader_load
 * exactly as a host does, through the mock host; every test checks that no
 * byte is left allocated after close().
 */
#include "docker_fixture.h"
#include "engine_http.h"
#include "loader.h"
#include "mock_host.h"
#include "zip_fixture.h"

#include <criterion/criterion.h>
#include <curl/curl.h>
#include <json-c/json.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static docker_fixture fx;

static uint64_t now_ms(void)
{
    return docker_fixture_now_ms();
}

static const char *docker_socket(void)
{
    const char *h = getenv("DOCKER_HOST");
    cr_assert(h != NULL && strncmp(h, "unix://", 7) == 0,
              "run under tests/docker/with-dockerd.sh (DOCKER_HOST unset)");
    return h + 7;
}

static void load_plugin(void)
{
    fx.mh = mock_host_new();
    mock_host_set_config(fx.mh, "DOCKER_HOST", getenv("DOCKER_HOST"));
    mock_host_set_config(fx.mh, "FAKECLOUD_DOCKER_ECR_URL", "localhost:5000");
    docker_fixture_load(&fx);
}

static void open_backend(void)
{
    fcb_open_params params = {.size = sizeof params};
    fcb_error err = FCB_ERROR_INIT;
    int rc = fx.ops->open(mock_host_services(fx.mh), &params, &fx.backend, &err);
    cr_assert_eq(rc, FCB_OK, "open: %s", err.message);
}

static void setup(void)
{
    memset(&fx, 0, sizeof fx);
    load_plugin();
    open_backend();
}

static void teardown(void)
{
    docker_fixture_teardown(&fx);
}

TestSuite(docker, .init = setup, .fini = teardown, .timeout = 60);

/* ---- helpers ----------------------------------------------------------- */

static long engine(const char *method, const char *path, const char *body, char **out)
{
    return engine_http_api(docker_socket(), method, path, body, out);
}

static char *invoke(const char *endpoint, const char *event)
{
    return engine_http_invoke(endpoint, event);
}

static size_t count_containers(const char *label)
{
    return engine_http_count_containers(docker_socket(), label);
}

static size_t count_instance_containers(void)
{
    /* The instance id is only visible through labels: read it from the last open's log line. */
    char *log = mock_host_log_text(fx.mh);
    const char *p = NULL;
    for (const char *q = log; (q = strstr(q, "docker backend opened")) != NULL; q++)
        p = q;
    p = p != NULL ? strstr(p, "instance=") : NULL;
    cr_assert_not_null(p, "no instance in log: %s", log);
    char label[128];
    snprintf(label, sizeof label, "fakecloud-instance=%.16s", p + 9);
    free(log);
    return count_containers(label);
}

/* The engine under test is Podman (run under with-podman.sh), asked directly. */
static bool engine_is_podman(void)
{
    char *out = NULL;
    cr_assert_eq(engine("GET", "/version", NULL, &out), 200, "version: %s", out ? out : "");
    bool podman = strstr(out, "Podman") != NULL;
    free(out);
    return podman;
}

static fcb_function zip_function(const char *name, const char *runtime, const char *handler)
{
    fcb_function fn = {.size = sizeof(fcb_function),
                       .function_name = name,
                       .function_arn = "arn:aws:lambda:us-east-1:123456789012:function:x",
                       .runtime = runtime,
                       .handler = handler,
                       .package_type = FCB_PACKAGE_ZIP};
    return fn;
}

static int launch(const fcb_function *fn, const void *zip, size_t zip_len, const fcb_blob *layers,
                  size_t n_layers, uint32_t deadline_ms, fcb_instance *inst, fcb_error *err)
{
    fcb_launch_request req = {.size = sizeof req,
                              .function = fn,
                              .code = {zip, zip_len},
                              .layers = layers,
                              .n_layers = n_layers,
                              .deploy_id = "d1",
                              .deadline_ms = deadline_ms};
    memset(inst, 0, sizeof *inst);
    inst->size = sizeof *inst;
    return fx.ops->launch(fx.backend, &req, inst, err);
}

static void *one_file_zip(const char *name, const char *content, size_t *len)
{
    zip_fixture_entry e[] = {{.name = name, .data = content}};
    void *zip = zip_fixture_make(e, 1, len);
    cr_assert_not_null(zip);
    return zip;
}

static void terminate_ok(const char *handle)
{
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(fx.ops->terminate(fx.backend, handle, &err), FCB_OK, "terminate: %s", err.message);
}

/* ---- tests ------------------------------------------------------------- */

Test(docker, zip_function_launches_answers_an_invocation_and_terminates)
{
    size_t len;
    void *zip = one_file_zip("app.sh", "echo \"event was $(cat)\"\n", &len);
    fcb_function fn = zip_function("hello-fn", "python3.12", "app.handler");
    fcb_instance inst;
    fcb_error err = FCB_ERROR_INIT;
    uint64_t t0 = now_ms();
    cr_assert_eq(launch(&fn, zip, len, NULL, 0, 0, &inst, &err), FCB_OK, "%s", err.message);
    uint64_t ms = now_ms() - t0;
    char *log = mock_host_log_text(fx.mh);
    const char *ready = strstr(log, "container ready");
    cr_log_info("launch to ready: %llu ms (%.200s)", (unsigned long long)ms,
                ready != NULL ? ready : "no log line");
    free(log);
    cr_expect(strncmp(inst.endpoint, "127.0.0.1:", 10) == 0, "endpoint %s", inst.endpoint);
    cr_expect(strncmp(inst.handle, "container/", 10) == 0, "handle %s", inst.handle);
    char *out = invoke(inst.endpoint, "{\"n\":1}");
    cr_expect(strstr(out, "event was {\"n\":1}") != NULL, "response: %s", out);
    free(out);
    char path[256];
    snprintf(path, sizeof path, "/containers/%s/json", inst.handle + 10);
    char *info = NULL;
    cr_expect_eq(engine("GET", path, NULL, &info), 200);
    cr_expect(strstr(info, "\"fakecloud-managed-by\":\"fakecloud\"") != NULL);
    cr_expect(strstr(info, "\"fakecloud-lambda\":\"hello-fn\"") != NULL);
    cr_expect(strstr(info, "\"Name\":\"/fakecloud-lambda-hello-fn-") != NULL);
    free(info);
    terminate_ok(inst.handle);
    cr_expect_eq(engine("GET", path, NULL, NULL), 404, "container still there");
    terminate_ok(inst.handle); /* idempotent */
    zip_fixture_free(zip);
}

Test(docker, layers_are_visible_under_opt_and_code_under_var_task)
{
    size_t len, l1, l2;
    void *zip = one_file_zip("app.sh", "cat /opt/one.txt /opt/lib/two.txt; ls /var/task\n", &len);
    void *z1 = one_file_zip("one.txt", "layer-one ", &l1);
    void *z2 = one_file_zip("lib/two.txt", "layer-two ", &l2);
    fcb_blob layers[] = {{z1, l1}, {z2, l2}};
    fcb_function fn = zip_function("layers-fn", "python3.12", "app.handler");
    fcb_instance inst;
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(launch(&fn, zip, len, layers, 2, 0, &inst, &err), FCB_OK, "%s", err.message);
    char *out = invoke(inst.endpoint, "{}");
    cr_expect(strstr(out, "layer-one layer-two") != NULL, "response: %s", out);
    cr_expect(strstr(out, "app.sh") != NULL, "response: %s", out);
    free(out);
    terminate_ok(inst.handle);
    zip_fixture_free(zip);
    zip_fixture_free(z1);
    zip_fixture_free(z2);
}

Test(docker, environment_is_rewritten_and_the_host_alias_resolves)
{
    size_t len;
    void *zip =
        one_file_zip("env.sh",
                     "echo \"url=$MY_URL timeout=$AWS_LAMBDA_FUNCTION_TIMEOUT "
                     "mem=$AWS_LAMBDA_FUNCTION_MEMORY_SIZE name=$AWS_LAMBDA_FUNCTION_NAME\"; "
                     "grep -c \"$ALIAS\" /etc/hosts\n",
                     &len);
    /* dockerd: host.docker.internal via ExtraHosts host-gateway; Podman adds its own alias. */
    bool podman = engine_is_podman();
    const char *alias = podman ? "host.containers.internal" : "host.docker.internal";
    cr_expect(mock_host_log_contains(fx.mh, podman ? "podman=true" : "podman=false"),
              "the plugin did not detect the engine kind (podman=%d)", podman);
    fcb_env_var env[] = {{"MY_URL", "http://localhost:4566/queue"}, {"ALIAS", alias}};
    fcb_function fn = zip_function("env-fn", "python3.12", "env.handler");
    fn.environment = env;
    fn.n_environment = 2;
    fn.timeout_seconds = 42;
    fn.memory_mb = 256;
    fcb_instance inst;
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(launch(&fn, zip, len, NULL, 0, 0, &inst, &err), FCB_OK, "%s", err.message);
    char *out = invoke(inst.endpoint, "{}");
    char want[128];
    snprintf(want, sizeof want, "url=http://%s:4566/queue", alias);
    cr_expect(strstr(out, want) != NULL, "%s", out);
    cr_expect(strstr(out, "timeout=42 mem=256 name=env-fn") != NULL, "%s", out);
    cr_expect(strstr(out, "\n1") != NULL, "%s not in /etc/hosts: %s", alias, out);
    free(out);
    terminate_ok(inst.handle);
    zip_fixture_free(zip);
}

Test(docker, tmp_is_an_executable_tmpfs_of_the_ephemeral_storage_size)
{
    size_t len;
    void *zip = one_file_zip("tmp.sh",
                             "grep ' /tmp ' /proc/mounts; printf 'echo ran-from-tmp' > /tmp/x.sh; "
                             "chmod +x /tmp/x.sh; /tmp/x.sh\n",
                             &len);
    fcb_function fn = zip_function("tmp-fn", "python3.12", "tmp.handler");
    fn.ephemeral_storage_mb = 100;
    fcb_instance inst;
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(launch(&fn, zip, len, NULL, 0, 0, &inst, &err), FCB_OK, "%s", err.message);
    char *out = invoke(inst.endpoint, "{}");
    cr_expect(strstr(out, "tmpfs /tmp tmpfs") != NULL, "%s", out);
    cr_expect(strstr(out, "size=102400k") != NULL, "%s", out);
    cr_expect(strstr(out, "noexec") == NULL, "%s", out);
    cr_expect(strstr(out, "ran-from-tmp") != NULL, "%s", out);
    free(out);
    terminate_ok(inst.handle);
    zip_fixture_free(zip);
}

Test(docker, provided_runtime_gets_the_code_in_var_runtime_too)
{
    size_t len;
    void *zip = one_file_zip("bootstrap.sh", "ls /var/runtime\n", &len);
    fcb_function fn = zip_function("provided-fn", "provided.al2023", "bootstrap.handler");
    fcb_instance inst;
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(launch(&fn, zip, len, NULL, 0, 0, &inst, &err), FCB_OK, "%s", err.message);
    char *out = invoke(inst.endpoint, "{}");
    cr_expect(strstr(out, "bootstrap.sh") != NULL, "%s", out);
    free(out);
    terminate_ok(inst.handle);
    zip_fixture_free(zip);
}

Test(docker, image_function_runs_its_image_with_the_ecr_uri_translated)
{
    /* with-dockerd.sh tagged the test image localhost:5000/fakecloud-image-fn:1;
     * FAKECLOUD_DOCKER_ECR_URL=localhost:5000 maps the ECR URI onto it. */
    const char *cmd[] = {"image.handler"};
    fcb_function fn = {.size = sizeof fn,
                       .function_name = "image-fn",
                       .package_type = FCB_PACKAGE_IMAGE,
                       .image_uri =
                           "123456789012.dkr.ecr.us-east-1.amazonaws.com/fakecloud-image-fn:1",
                       .image_command = cmd,
                       .n_image_command = 1};
    fcb_instance inst;
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(launch(&fn, NULL, 0, NULL, 0, 0, &inst, &err), FCB_OK, "%s", err.message);
    char *out = invoke(inst.endpoint, "\"Bob\"");
    cr_expect(strstr(out, "image function says hi to \"Bob\"") != NULL, "%s", out);
    free(out);
    terminate_ok(inst.handle);
}

Test(docker, container_that_exits_at_once_fails_fast_with_exit_code_and_logs)
{
    fcb_function fn = {.size = sizeof fn,
                       .function_name = "crash-fn",
                       .package_type = FCB_PACKAGE_IMAGE,
                       .image_uri = "fakecloud-test/crash:1"};
    fcb_instance inst;
    fcb_error err = FCB_ERROR_INIT;
    uint64_t t0 = now_ms();
    cr_assert_eq(launch(&fn, NULL, 0, NULL, 0, 0, &inst, &err), FCB_ERR_START_FAILED, "%s",
                 err.message);
    uint64_t ms = now_ms() - t0;
    cr_log_info("crash detected in %llu ms: %s", (unsigned long long)ms, err.message);
    cr_expect_lt(ms, 3000, "not fast: %llu ms", (unsigned long long)ms);
    cr_expect(strstr(err.message, "exit code 3") != NULL, "%s", err.message);
    cr_expect(strstr(err.message, "fatal: runtime crashed on purpose") != NULL, "%s", err.message);
    cr_expect(strstr(err.message, "fakecloud-lambda-crash-fn-") != NULL, "%s", err.message);
    cr_expect_eq(count_instance_containers(), 0, "failed launch left its container");
}

Test(docker, readiness_deadline_fails_with_timeout_and_removes_the_container)
{
    size_t len;
    void *zip = one_file_zip("app.sh", "cat\n", &len);
    fcb_env_var env[] = {{"RIE_DELAY_S", "30"}};
    fcb_function fn = zip_function("slow-fn", "python3.12", "app.handler");
    fn.environment = env;
    fn.n_environment = 1;
    fcb_instance inst;
    fcb_error err = FCB_ERROR_INIT;
    uint64_t t0 = now_ms();
    cr_assert_eq(launch(&fn, zip, len, NULL, 0, 700, &inst, &err), FCB_ERR_TIMEOUT, "%s",
                 err.message);
    uint64_t ms = now_ms() - t0;
    cr_expect_lt(ms, 5000, "%llu ms", (unsigned long long)ms);
    cr_expect(strstr(err.message, "700 ms") != NULL, "%s", err.message);
    cr_expect_eq(count_instance_containers(), 0);
    zip_fixture_free(zip);
}

Test(docker, launch_deadline_bounds_the_whole_launch_including_the_image_pull)
{
    unsigned port;
    int fd = engine_http_stalled_registry(&port);
    char image[64];
    snprintf(image, sizeof image, "127.0.0.1:%u/fakecloud/stalled:1", port);
    fcb_function fn = {.size = sizeof fn,
                       .function_name = "stalled-fn",
                       .package_type = FCB_PACKAGE_IMAGE,
                       .image_uri = image};
    fcb_instance inst;
    fcb_error err = FCB_ERROR_INIT;
    uint64_t t0 = now_ms();
    int rc = launch(&fn, NULL, 0, NULL, 0, 1500, &inst, &err);
    uint64_t ms = now_ms() - t0;
    close(fd);
    cr_log_info("launch with deadline_ms 1500 and a stalled pull: %s in %llu ms: %s",
                fcb_status_name(rc), (unsigned long long)ms, err.message);
    cr_expect_eq(rc, FCB_ERR_TIMEOUT, "%s: %s", fcb_status_name(rc), err.message);
    cr_expect_lt(ms, 1500 + 2500, "deadline_ms 1500 but the launch took %llu ms",
                 (unsigned long long)ms);
    cr_expect(strstr(err.message, "deadline_ms") != NULL, "%s", err.message);
    cr_expect(strstr(err.message, image) != NULL, "%s", err.message);
    cr_expect_eq(count_instance_containers(), 0, "a timed-out launch left a container");
}

Test(docker, launch_refuses_an_instance_struct_too_small_for_the_handle)
{
    /* The ABI's size rule for outputs: a writer never writes beyond out->size. */
    size_t len;
    void *zip = one_file_zip("app.sh", "cat\n", &len);
    fcb_function fn = zip_function("small-out-fn", "python3.12", "app.handler");
    fcb_launch_request req = {
        .size = sizeof req, .function = &fn, .code = {zip, len}, .deploy_id = "d1"};
    fcb_instance inst;
    memset(&inst, 0x5a, sizeof inst);
    inst.size = (uint32_t)offsetof(fcb_instance, handle);
    fcb_error err = FCB_ERROR_INIT;
    int rc = fx.ops->launch(fx.backend, &req, &inst, &err);
    if (rc == FCB_OK)
        terminate_ok(inst.handle);
    cr_expect_eq(rc, FCB_ERR_INVALID_ARGUMENT, "%s: %s", fcb_status_name(rc), err.message);
    cr_expect(strstr(err.message, "out.size") != NULL, "%s", err.message);
    cr_expect_eq((unsigned char)inst.handle[0], 0x5a, "wrote the handle beyond out->size");
    cr_expect_eq(count_instance_containers(), 0);
    zip_fixture_free(zip);
}

Test(docker, zip_slip_is_refused_and_nothing_is_created)
{
    zip_fixture_entry e[] = {{.name = "app.sh", .data = "cat"},
                             {.name = "../../etc/evil", .data = "x"}};
    size_t len;
    void *zip = zip_fixture_make(e, 2, &len);
    fcb_function fn = zip_function("slip-fn", "python3.12", "app.handler");
    fcb_instance inst;
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(launch(&fn, zip, len, NULL, 0, 0, &inst, &err), FCB_ERR_INVALID_ARGUMENT);
    cr_expect(strstr(err.message, "../../etc/evil") != NULL, "%s", err.message);
    cr_expect_eq(count_instance_containers(), 0);
    zip_fixture_free(zip);
}

Test(docker, zip_bomb_and_corrupted_zip_are_refused)
{
    size_t size = 8u * 1024 * 1024;
    char *zeros = calloc(1, size);
    zip_fixture_entry e[] = {{.name = "app.sh", .data = zeros, .size = size}};
    size_t len;
    void *zip = zip_fixture_make(e, 1, &len);
    fcb_function fn = zip_function("bomb-fn", "python3.12", "app.handler");
    fcb_instance inst;
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(launch(&fn, zip, len, NULL, 0, 0, &inst, &err), FCB_ERR_INVALID_ARGUMENT);
    cr_expect(strstr(err.message, "zip bomb") != NULL, "%s", err.message);
    cr_assert_eq(launch(&fn, "PK\3\4garbage-garbage-garbage", 27, NULL, 0, 0, &inst, &err),
                 FCB_ERR_INVALID_ARGUMENT);
    cr_expect(strstr(err.message, "corrupted") != NULL, "%s", err.message);
    cr_expect_eq(count_instance_containers(), 0);
    zip_fixture_free(zip);
    free(zeros);
}

Test(docker, reap_removes_other_instances_containers_and_leaves_foreign_ones)
{
    fx.ops->close(fx.backend); /* reopen with a short lease duration */
    fx.backend = NULL;
    mock_host_set_config(fx.mh, "FAKECLOUD_DOCKER_LEASE_SECONDS", "1");
    open_backend();
    const char *stale = "{\"Image\":\"fakecloud-test/crash:1\",\"Labels\":{"
                        "\"fakecloud-managed-by\":\"fakecloud\",\"fakecloud-instance\":\"old0\","
                        "\"fakecloud-service\":\"lambda\"}}";
    const char *foreign = "{\"Image\":\"fakecloud-test/crash:1\",\"Labels\":{"
                          "\"fakecloud-instance\":\"old0\",\"owner\":\"someone-else\"}}";
    char *out = NULL;
    cr_assert_eq(engine("POST", "/containers/create?name=fcb-test-stale", stale, &out), 201, "%s",
                 out);
    free(out);
    cr_assert_eq(engine("POST", "/containers/create?name=fcb-test-foreign", foreign, &out), 201,
                 "%s", out);
    free(out);
    /* One of our own, which must survive. */
    size_t len;
    void *zip = one_file_zip("app.sh", "cat\n", &len);
    fcb_function fn = zip_function("mine-fn", "python3.12", "app.handler");
    fcb_instance inst;
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(launch(&fn, zip, len, NULL, 0, 0, &inst, &err), FCB_OK, "%s", err.message);

    /* "old0" has no lease: dead, but its container is reaped only once older than D. */
    size_t reaped = 99;
    cr_expect_eq(fx.ops->reap_stale(fx.backend, &reaped, &err), FCB_OK, "%s", err.message);
    cr_expect_eq(reaped, 0, "a container younger than the lease duration was reaped");
    cr_expect_eq(engine("GET", "/containers/fcb-test-stale/json", NULL, NULL), 200);
    usleep(2100 * 1000); /* D = 1 s; Created has whole seconds and is rounded up */
    reaped = 99;
    cr_expect_eq(fx.ops->reap_stale(fx.backend, &reaped, &err), FCB_OK, "%s", err.message);
    cr_expect_eq(reaped, 1);
    cr_expect_eq(engine("GET", "/containers/fcb-test-stale/json", NULL, NULL), 404);
    cr_expect_eq(engine("GET", "/containers/fcb-test-foreign/json", NULL, NULL), 200,
                 "foreign container removed");
    cr_expect_eq(count_instance_containers(), 1, "our own container was reaped");
    engine("DELETE", "/containers/fcb-test-foreign?force=1", NULL, NULL);
    engine("DELETE", "/containers/fcb-test-stale?force=1", NULL, NULL);
    terminate_ok(inst.handle);
    zip_fixture_free(zip);
}

typedef struct launch_job {
    const void *zip;
    size_t len;
    int index;
    int rc;
    char message[FCB_ERROR_MESSAGE_MAX];
    fcb_instance inst;
} launch_job;

static void *launch_thread(void *arg)
{
    launch_job *j = arg;
    char name[32];
    snprintf(name, sizeof name, "conc-%02d", j->index);
    fcb_function fn = zip_function(name, "python3.12", "app.handler");
    fcb_error err = FCB_ERROR_INIT;
    j->rc = launch(&fn, j->zip, j->len, NULL, 0, 30000, &j->inst, &err);
    snprintf(j->message, sizeof j->message, "%s", err.message);
    return NULL;
}

#define CONCURRENT 20

Test(docker, twenty_concurrent_launches_all_answer, .timeout = 120)
{
    size_t len;
    void *zip = one_file_zip("app.sh", "echo \"$AWS_LAMBDA_FUNCTION_NAME\"\n", &len);
    launch_job jobs[CONCURRENT];
    pthread_t th[CONCURRENT];
    uint64_t t0 = now_ms();
    for (int i = 0; i < CONCURRENT; i++) {
        jobs[i] = (launch_job){.zip = zip, .len = len, .index = i};
        cr_assert_eq(pthread_create(&th[i], NULL, launch_thread, &jobs[i]), 0);
    }
    for (int i = 0; i < CONCURRENT; i++)
        pthread_join(th[i], NULL);
    cr_log_info("%d concurrent launches ready in %llu ms", CONCURRENT,
                (unsigned long long)(now_ms() - t0));
    for (int i = 0; i < CONCURRENT; i++) {
        cr_expect_eq(jobs[i].rc, FCB_OK, "launch %d: %s", i, jobs[i].message);
        if (jobs[i].rc != FCB_OK)
            continue;
        char want[32];
        snprintf(want, sizeof want, "conc-%02d", i);
        char *out = invoke(jobs[i].inst.endpoint, "{}");
        cr_expect(strstr(out, want) != NULL, "launch %d answered %s", i, out);
        free(out);
    }
    for (int i = 0; i < CONCURRENT; i++)
        if (jobs[i].rc == FCB_OK)
            terminate_ok(jobs[i].inst.handle);
    cr_expect_eq(count_instance_containers(), 0);
    zip_fixture_free(zip);
}

typedef struct close_job {
    fcb_backend *backend;
    const fcb_backend_ops *ops;
    const void *zip;
    size_t len;
    int rc;
    char message[FCB_ERROR_MESSAGE_MAX];
} close_job;

static void *slow_launch_thread(void *arg)
{
    close_job *j = arg;
    fcb_env_var env[] = {{"RIE_DELAY_S", "30"}};
    fcb_function fn = zip_function("closing-fn", "python3.12", "app.handler");
    fn.environment = env;
    fn.n_environment = 1;
    fcb_launch_request req = {.size = sizeof req,
                              .function = &fn,
                              .code = {j->zip, j->len},
                              .deploy_id = "d1",
                              .deadline_ms = 30000};
    fcb_instance inst = {.size = sizeof inst};
    fcb_error err = FCB_ERROR_INIT;
    j->rc = j->ops->launch(j->backend, &req, &inst, &err);
    snprintf(j->message, sizeof j->message, "%s", err.message);
    return NULL;
}

Test(docker, close_during_launch_cancels_it_promptly_and_leaves_nothing)
{
    size_t len;
    void *zip = one_file_zip("app.sh", "cat\n", &len);
    char *log = mock_host_log_text(fx.mh);
    const char *p = strstr(log, "instance=");
    cr_assert_not_null(p);
    char label[128];
    snprintf(label, sizeof label, "fakecloud-instance=%.16s", p + 9);
    free(log);
    close_job j = {.backend = fx.backend, .ops = fx.ops, .zip = zip, .len = len};
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, slow_launch_thread, &j), 0);
    /* Wait until the container exists (the launch is in its readiness loop). */
    for (int i = 0; i < 200 && count_containers(label) == 0; i++)
        usleep(20000);
    cr_assert_eq(count_containers(label), 1, "launch never created its container");
    uint64_t t0 = now_ms();
    fx.ops->close(fx.backend);
    fx.backend = NULL;
    uint64_t ms = now_ms() - t0;
    pthread_join(th, NULL);
    cr_log_info("close during launch took %llu ms", (unsigned long long)ms);
    cr_expect_eq(j.rc, FCB_ERR_CANCELLED, "launch returned %d: %s", j.rc, j.message);
    cr_expect_lt(ms, 3000, "close took %llu ms", (unsigned long long)ms);
    cr_expect_eq(count_containers(label), 0, "cancelled launch left its container");
    zip_fixture_free(zip);
}

Test(docker, missing_image_is_reported_with_the_pull_error)
{
    fcb_function fn = {.size = sizeof fn,
                       .function_name = "nopull-fn",
                       .package_type = FCB_PACKAGE_IMAGE,
                       .image_uri = "127.0.0.1:1/fakecloud/absent:1"};
    fcb_instance inst;
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(launch(&fn, NULL, 0, NULL, 0, 0, &inst, &err), FCB_ERR_START_FAILED, "%s",
                 err.message);
    cr_expect(strstr(err.message, "127.0.0.1:1/fakecloud/absent:1") != NULL, "%s", err.message);
    cr_expect(strstr(err.message, "pull") != NULL, "%s", err.message);
    /* the engine's own reason, not "(no message)" */
    cr_expect(strstr(err.message, "connection refused") != NULL, "%s", err.message);
    cr_expect_eq(count_instance_containers(), 0);
}

Test(docker, prepull_accepts_a_present_image_and_refuses_a_malformed_one)
{
    fcb_error err = FCB_ERROR_INIT;
    cr_expect_eq(fx.ops->prepull(fx.backend, "public.ecr.aws/lambda/python:3.12", &err), FCB_OK,
                 "%s", err.message);
    cr_expect_eq(fx.ops->prepull(fx.backend, "bad image?", &err), FCB_ERR_INVALID_ARGUMENT);
    cr_expect(strstr(err.message, "invalid character") != NULL, "%s", err.message);
}

Test(docker, terminate_rejects_a_foreign_handle_and_accepts_a_gone_container)
{
    fcb_error err = FCB_ERROR_INIT;
    cr_expect_eq(fx.ops->terminate(fx.backend, "pod/default/x", &err), FCB_ERR_INVALID_ARGUMENT);
    cr_expect(strstr(err.message, "pod/default/x") != NULL, "%s", err.message);
    cr_expect_eq(fx.ops->terminate(fx.backend, "container/0123456789abcdef", &err), FCB_OK, "%s",
                 err.message);
}

static char *create_foreign(const char *name, const char *labels)
{
    return engine_http_create_container(docker_socket(), name, labels);
}

Test(docker, terminate_leaves_containers_we_did_not_create)
{
    char *plain = create_foreign("fcb-test-unlabelled", "{}");
    char *other =
        create_foreign("fcb-test-other-manager", "{\"fakecloud-managed-by\":\"someone-else\","
                                                 "\"fakecloud-service\":\"lambda\"}");
    const char *handles[] = {plain, other, "fcb-test-unlabelled", "fcb-test-other-manager"};
    for (size_t i = 0; i < 4; i++) {
        char handle[256];
        snprintf(handle, sizeof handle, "container/%s", handles[i]);
        fcb_error err = FCB_ERROR_INIT;
        cr_expect_eq(fx.ops->terminate(fx.backend, handle, &err), FCB_ERR_NOT_FOUND, "%s: %s",
                     handle, err.message);
        cr_expect(strstr(err.message, "not managed by fakecloud") != NULL, "%s", err.message);
    }
    cr_expect_eq(engine("GET", "/containers/fcb-test-unlabelled/json", NULL, NULL), 200,
                 "an unlabelled container was removed");
    cr_expect_eq(engine("GET", "/containers/fcb-test-other-manager/json", NULL, NULL), 200,
                 "another manager's container was removed");
    engine("DELETE", "/containers/fcb-test-unlabelled?force=1", NULL, NULL);
    engine("DELETE", "/containers/fcb-test-other-manager?force=1", NULL, NULL);
    free(plain);
    free(other);
}

Test(docker, terminate_removes_our_container_once_and_stays_ok_after)
{
    char *ours = create_foreign("fcb-test-ours", "{\"fakecloud-managed-by\":\"fakecloud\","
                                                 "\"fakecloud-instance\":\"another0\"}");
    char handle[256];
    snprintf(handle, sizeof handle, "container/%s", ours);
    fcb_error err = FCB_ERROR_INIT;
    cr_expect_eq(fx.ops->terminate(fx.backend, handle, &err), FCB_OK, "%s", err.message);
    cr_expect_eq(engine("GET", "/containers/fcb-test-ours/json", NULL, NULL), 404);
    cr_expect_eq(fx.ops->terminate(fx.backend, handle, &err), FCB_OK, "idempotent: %s",
                 err.message);
    free(ours);
}

Test(docker, unsupported_runtime_and_bad_memory_are_refused_before_anything_is_created)
{
    size_t len;
    void *zip = one_file_zip("app.sh", "cat\n", &len);
    fcb_function fn = zip_function("bad-fn", "cobol1", "app.handler");
    fcb_instance inst;
    fcb_error err = FCB_ERROR_INIT;
    cr_expect_eq(launch(&fn, zip, len, NULL, 0, 0, &inst, &err), FCB_ERR_UNSUPPORTED);
    cr_expect(strstr(err.message, "cobol1") != NULL, "%s", err.message);
    fn = zip_function("bad-fn", "python3.12", "app.handler");
    fn.memory_mb = 100;
    cr_expect_eq(launch(&fn, zip, len, NULL, 0, 0, &inst, &err), FCB_ERR_INVALID_ARGUMENT);
    cr_expect(strstr(err.message, "MemorySize") != NULL, "%s", err.message);
    cr_expect_eq(count_instance_containers(), 0);
    zip_fixture_free(zip);
}

/* Tests that manage their own backend instance. */
static void setup_no_open(void)
{
    memset(&fx, 0, sizeof fx);
    load_plugin();
}

Test(docker_open, fails_clearly_when_the_socket_does_not_exist, .init = setup_no_open,
     .fini = teardown)
{
    mock_host_set_config(fx.mh, "DOCKER_HOST", "unix:///nonexistent/docker.sock");
    fcb_open_params params = {.size = sizeof params};
    fcb_error err = FCB_ERROR_INIT;
    cr_expect_eq(fx.ops->open(mock_host_services(fx.mh), &params, &fx.backend, &err),
                 FCB_ERR_UNAVAILABLE);
    cr_expect_null(fx.backend);
    cr_expect(strstr(err.message, "/nonexistent/docker.sock") != NULL, "%s", err.message);
}

Test(docker_open, refuses_bad_configuration_naming_the_key, .init = setup_no_open, .fini = teardown)
{
    const char *cases[][2] = {{"FAKECLOUD_DOCKER_READY_TIMEOUT_MS", "soon"},
                              {"FAKECLOUD_DOCKER_MAX_CODE_BYTES", "-1"},
                              {"FAKECLOUD_DOCKER_ECR_URL", "a b:99"},
                              {"FAKECLOUD_DOCKER_REGISTRY_AUTH", "{not json"},
                              {"DOCKER_HOST", "ssh://me@there"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        mock_host_set_config(fx.mh, cases[i][0], cases[i][1]);
        fcb_open_params params = {.size = sizeof params};
        fcb_error err = FCB_ERROR_INIT;
        cr_expect_eq(fx.ops->open(mock_host_services(fx.mh), &params, &fx.backend, &err),
                     FCB_ERR_CONFIG, "%s=%s", cases[i][0], cases[i][1]);
        cr_expect(strstr(err.message, cases[i][0]) != NULL, "%s", err.message);
        cr_expect_null(fx.backend);
        mock_host_set_config(fx.mh, cases[i][0], NULL);
    }
    mock_host_set_config(fx.mh, "DOCKER_HOST", getenv("DOCKER_HOST"));
}

Test(docker_open, survives_allocation_failures_during_open, .init = setup_no_open, .fini = teardown)
{
    /* each open costs a /version call, ~0.6 s on Podman: the sweep stops at the last one */
    size_t calls = docker_fixture_open_sweep(&fx, 60, false);
    cr_log_info("open() makes %zu allocations; each failure tried", calls);
}

Test(docker_host, sample_host_invokes_a_zip_function_with_the_docker_backend, .timeout = 60)
{
    const char *exe = getenv("FCB_TEST_HOST_EXE");
    if (exe == NULL || exe[0] == '\0')
        cr_skip_test("sample host not built");
    char dir[] = "/tmp/fcb-docker-host-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char path[512];
    snprintf(path, sizeof path, "%s/fn.json", dir);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs("{\"FunctionName\":\"host-fn\",\"FunctionArn\":\"arn:aws:lambda:us-east-1:"
          "123456789012:function:host-fn\",\"Runtime\":\"python3.12\",\"Handler\":"
          "\"app.handler\",\"PackageType\":\"Zip\",\"MemorySize\":128,\"Timeout\":3}",
          f);
    fclose(f);
    size_t len;
    void *zip = one_file_zip("app.sh", "echo \"host got $(cat)\"\n", &len);
    snprintf(path, sizeof path, "%s/code.zip", dir);
    f = fopen(path, "w");
    cr_assert_not_null(f);
    fwrite(zip, 1, len, f);
    fclose(f);
    zip_fixture_free(zip);
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "FAKECLOUD_LAMBDA_BACKEND=docker FAKECLOUD_BACKEND_PATH=%s '%s' invoke "
             "--function %s/fn.json --code %s/code.zip --payload '{\"k\":7}' 2>%s/err",
             FCB_TEST_PLUGIN_DIR, exe, dir, dir, dir);
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p);
    char out[4096] = "";
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = '\0';
    int status = pclose(p);
    char errtext[4096] = "";
    snprintf(path, sizeof path, "%s/err", dir);
    f = fopen(path, "r");
    if (f != NULL) {
        errtext[fread(errtext, 1, sizeof errtext - 1, f)] = '\0';
        fclose(f);
    }
    cr_expect_eq(WEXITSTATUS(status), 0, "host exit %d: %s", WEXITSTATUS(status), errtext);
    cr_expect(strstr(out, "host got {\"k\":7}") != NULL, "stdout: %s stderr: %s", out, errtext);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_expect_eq(system(cmd), 0);
}
