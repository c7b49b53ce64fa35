/*
 * Integration tests of the docker backend's ABI 1.1 launch-side features
 * against the private dockerd (run under with-dockerd.sh), the plugin loaded
 * through the mock host, no byte left allocated after close():
 *   invoke       the event POSTed to the runtime: status, body, function
 *                error, timeout, cancel, close, bad handles, allocation sweep;
 *   cancel       a launch's own cancel token, fired from another thread while
 *                the pull stalls or the runtime is not ready yet, and at every
 *                point the plugin polls it: nothing is left behind;
 *   environment  every reserved Lambda variable and the role credentials reach
 *                the runtime; the credentials never reach a log line or error;
 *   architecture platform on pull and create: an arm64 function runs on an
 *                image whose config says arm64, a mismatch is refused loudly
 *                (before the pull, and after a create that resolved another
 *                image than the one checked).
 */
#include "docker_fixture.h"
#include "engine_http.h"
#include "loader.h"
#include "mock_host.h"
#include "zip_fixture.h"

#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <curl/curl.h>
#include <json-c/json.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static docker_fixture fx;

static const char *docker_socket(void)
{
    return docker_fixture_socket();
}

static void setup(void)
{
    docker_fixture_open(&fx);
}

static void teardown(void)
{
    docker_fixture_teardown(&fx);
}

TestSuite(docker_invoke, .init = setup, .fini = teardown, .timeout = 60);
TestSuite(docker_cancel, .init = setup, .fini = teardown, .timeout = 90);
TestSuite(docker_env, .init = setup, .fini = teardown, .timeout = 60);
TestSuite(docker_arch, .init = setup, .fini = teardown, .timeout = 90);

/* ---- helpers ----------------------------------------------------------- */

static long engine(const char *method, const char *path, const char *body, char **out)
{
    return engine_http_api(docker_socket(), method, path, body, out);
}

static uint64_t now_ms(void)
{
    return docker_fixture_now_ms();
}

static size_t containers_of(const char *function_label)
{
    char label[160];
    snprintf(label, sizeof label, "fakecloud-lambda=%s", function_label);
    return engine_http_count_containers(docker_socket(), label);
}

/* Whether a container of function label FUNCTION_LABEL is running. */
static bool running(const char *function_label)
{
    char path[512], *body = NULL;
    snprintf(path, sizeof path,
             "/containers/json?filters=%%7B%%22label%%22%%3A%%5B%%22fakecloud-lambda%%3D%s%%22%%5D"
             "%%2C%%22status%%22%%3A%%5B%%22running%%22%%5D%%7D",
             function_label);
    cr_assert_eq(engine("GET", path, NULL, &body), 200, "%s", body != NULL ? body : "");
    bool any = body != NULL && strstr(body, "\"Id\"") != NULL;
    free(body);
    return any;
}

static fcb_function zip_function(const char *name)
{
    return docker_fixture_zip_function(name);
}

/* A launch request for FN with the one-file zip app.sh = SCRIPT (NULL: no code). */
typedef struct launch_job {
    fcb_function fn;
    fcb_launch_request req;
    void *zip;
    size_t zip_len;
    fcb_instance inst;
    fcb_error err;
    int rc;
    uint64_t ended_ms;
} launch_job;

static void job_init(launch_job *j, const fcb_function *fn, const char *script)
{
    memset(j, 0, sizeof *j);
    j->fn = *fn;
    if (script != NULL) {
        zip_fixture_entry e[] = {{.name = "app.sh", .data = script}};
        j->zip = zip_fixture_make(e, 1, &j->zip_len);
        cr_assert_not_null(j->zip);
    }
    j->req = (fcb_launch_request){
        .size = sizeof j->req, .function = &j->fn, .code = {j->zip, j->zip_len}, .deploy_id = "d1"};
    j->inst.size = sizeof j->inst;
    j->err = (fcb_error)FCB_ERROR_INIT;
}

static int job_run(launch_job *j)
{
    j->req.function = &j->fn;
    j->inst.size = sizeof j->inst;
    j->err = (fcb_error)FCB_ERROR_INIT;
    j->rc = fx.ops->launch(fx.backend, &j->req, &j->inst, &j->err);
    j->ended_ms = now_ms();
    return j->rc;
}

static void job_free(launch_job *j)
{
    zip_fixture_free(j->zip);
    j->zip = NULL;
}

static void terminate_ok(const char *handle)
{
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(fx.ops->terminate(fx.backend, handle, &err), FCB_OK, "terminate: %s", err.message);
}

/* A launched zip function whose app.sh is SCRIPT; its handle in HANDLE. */
static void launch_script(const char *name, const char *script, char handle[FCB_HANDLE_MAX])
{
    fcb_function fn = zip_function(name);
    launch_job j;
    job_init(&j, &fn, script);
    cr_assert_eq(job_run(&j), FCB_OK, "launch %s: %s", name, j.err.message);
    snprintf(handle, FCB_HANDLE_MAX, "%s", j.inst.handle);
    job_free(&j);
}

/* ---- invoke ------------------------------------------------------------ */

typedef struct body_seen {
    char data[8192];
    size_t len, calls, accepted;
    int stop_after; /* > 0: refuse (return non-zero) from this call on */
} body_seen;

static int body_collect(void *ctx, const void *data, size_t len)
{
    body_seen *b = ctx;
    b->calls++;
    if (b->stop_after > 0 && b->calls >= (size_t)b->stop_after)
        return 1;
    b->accepted += len;
    size_t k = len < sizeof b->data - 1 - b->len ? len : sizeof b->data - 1 - b->len;
    memcpy(b->data + b->len, data, k);
    b->len += k;
    b->data[b->len] = '\0';
    return 0;
}

/* One invocation of HANDLE with EVENT; the answer in *OUT and *SEEN. */
static int invoke(const char *handle, const char *event, uint32_t timeout_ms, fcb_cancel cancel,
                  body_seen *seen, fcb_invoke_result *out, fcb_error *err)
{
    fcb_invoke_request req = {.size = sizeof req,
                              .payload = {event, strlen(event)},
                              .timeout_ms = timeout_ms,
                              .sink_ctx = seen,
                              .on_body = body_collect,
                              .cancel = cancel};
    memset(out, 0xAB, sizeof *out);
    out->size = sizeof *out;
    *err = (fcb_error)FCB_ERROR_INIT;
    return fx.ops->invoke(fx.backend, handle, &req, out, err);
}

static const fcb_cancel no_cancel = {NULL, NULL};

Test(docker_invoke, the_descriptor_declares_invoke_cancel_credentials_and_both_architectures)
{
    uint64_t caps = fx.plugin->descriptor->capabilities;
    const uint64_t want[] = {FCB_CAP_INVOKE, FCB_CAP_CANCEL, FCB_CAP_CREDENTIALS,
                             FCB_CAP_ARCH_X86_64, FCB_CAP_ARCH_ARM64};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        cr_expect(caps & want[i], "capability %s not declared", fcb_capability_name(want[i]));
    cr_assert(FCB_HAS_MEMBER(fx.ops, fcb_backend_ops, invoke) && fx.ops->invoke != NULL,
              "the docker backend has no invoke op");
}

Test(docker_invoke, delivers_the_event_and_returns_status_and_body)
{
    cr_assert_not_null(fx.ops->invoke, "no invoke op");
    char handle[FCB_HANDLE_MAX];
    launch_script("invoke-fn", "echo \"event was $(cat)\"\n", handle);
    body_seen seen = {0};
    fcb_invoke_result out;
    fcb_error err;
    cr_assert_eq(invoke(handle, "{\"a\":1}", 10000, no_cancel, &seen, &out, &err), FCB_OK, "%s",
                 err.message);
    cr_expect_eq(out.http_status, 200);
    cr_expect_str_eq(out.function_error, "");
    cr_expect_str_eq(seen.data, "event was {\"a\":1}");
    cr_expect_eq(out.body_bytes, seen.accepted);
    /* timeout_ms 0: the function's timeout plus a margin, and a second event on the same runtime */
    body_seen again = {0};
    cr_assert_eq(invoke(handle, "{}", 0, no_cancel, &again, &out, &err), FCB_OK, "%s", err.message);
    cr_expect_str_eq(again.data, "event was {}");
    terminate_ok(handle);
}

Test(docker_invoke, reports_the_function_error_of_a_failing_handler)
{
    cr_assert_not_null(fx.ops->invoke, "no invoke op");
    char handle[FCB_HANDLE_MAX];
    launch_script("invoke-err-fn", "echo '{\"errorMessage\":\"boom\"}'; exit 3\n", handle);
    body_seen seen = {0};
    fcb_invoke_result out;
    fcb_error err;
    cr_assert_eq(invoke(handle, "{}", 10000, no_cancel, &seen, &out, &err), FCB_OK, "%s",
                 err.message);
    cr_expect_eq(out.http_status, 200);
    cr_expect_str_eq(out.function_error, "Unhandled");
    cr_expect_str_eq(seen.data, "{\"errorMessage\":\"boom\"}");
    terminate_ok(handle);
}

Test(docker_invoke, stops_when_on_body_says_so_and_counts_what_it_delivered)
{
    cr_assert_not_null(fx.ops->invoke, "no invoke op");
    char handle[FCB_HANDLE_MAX];
    launch_script("invoke-stop-fn", "head -c 200000 /dev/zero | tr '\\0' x\n", handle);
    body_seen seen = {.stop_after = 2};
    fcb_invoke_result out;
    fcb_error err;
    cr_assert_eq(invoke(handle, "{}", 10000, no_cancel, &seen, &out, &err), FCB_OK, "%s",
                 err.message);
    cr_expect_eq(seen.calls, 2, "on_body called %zu times after asking to stop", seen.calls);
    cr_expect_eq(out.body_bytes, seen.accepted, "body_bytes counts what on_body accepted");
    cr_expect_gt(out.body_bytes, 0);
    cr_expect_lt(out.body_bytes, 200000);
    terminate_ok(handle);
}

Test(docker_invoke, a_slow_handler_times_out_at_timeout_ms)
{
    cr_assert_not_null(fx.ops->invoke, "no invoke op");
    char handle[FCB_HANDLE_MAX];
    launch_script("invoke-slow-fn", "sleep 5; echo late\n", handle);
    body_seen seen = {0};
    fcb_invoke_result out;
    fcb_error err;
    uint64_t t0 = now_ms();
    int rc = invoke(handle, "{}", 400, no_cancel, &seen, &out, &err);
    uint64_t ms = now_ms() - t0;
    cr_log_info("invoke with timeout_ms 400 against a 5 s handler: %s after %llu ms: %s",
                fcb_status_name(rc), (unsigned long long)ms, err.message);
    cr_expect_eq(rc, FCB_ERR_TIMEOUT, "%s: %s", fcb_status_name(rc), err.message);
    cr_expect(strstr(err.message, "400 ms") != NULL, "%s", err.message);
    cr_expect_lt(ms, 2000, "took %llu ms", (unsigned long long)ms);
    terminate_ok(handle);
}

/* A plugin call on another thread; the test fires its cancel or closes the backend. */
typedef struct invoke_run {
    const char *handle;
    fcb_cancel cancel;
    body_seen seen;
    fcb_invoke_result out;
    fcb_error err;
    int rc;
    uint64_t ended_ms;
} invoke_run;

static void *invoke_thread(void *arg)
{
    invoke_run *r = arg;
    r->rc = invoke(r->handle, "{}", 20000, r->cancel, &r->seen, &r->out, &r->err);
    r->ended_ms = now_ms();
    return NULL;
}

Test(docker_invoke, ends_promptly_when_its_cancel_fires)
{
    cr_assert_not_null(fx.ops->invoke, "no invoke op");
    char handle[FCB_HANDLE_MAX];
    launch_script("invoke-cancel-fn", "sleep 10; echo late\n", handle);
    invoke_run r = {.handle = handle, .cancel = mock_host_cancel(fx.mh)};
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, invoke_thread, &r), 0);
    usleep(300 * 1000);
    uint64_t fired = now_ms();
    mock_host_cancel_fire(fx.mh);
    pthread_join(t, NULL);
    uint64_t ms = r.ended_ms - fired;
    cr_log_info("invoke cancelled %llu ms after the token fired", (unsigned long long)ms);
    cr_expect_eq(r.rc, FCB_ERR_CANCELLED, "%s: %s", fcb_status_name(r.rc), r.err.message);
    cr_expect_lt(ms, 500, "cancel took %llu ms", (unsigned long long)ms);
    terminate_ok(handle);
}

Test(docker_invoke, close_cancels_an_invocation_in_flight)
{
    cr_assert_not_null(fx.ops->invoke, "no invoke op");
    char handle[FCB_HANDLE_MAX];
    launch_script("invoke-close-fn", "sleep 10; echo late\n", handle);
    invoke_run r = {.handle = handle, .cancel = no_cancel};
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, invoke_thread, &r), 0);
    usleep(300 * 1000);
    uint64_t t0 = now_ms();
    fx.ops->close(fx.backend);
    uint64_t close_ms = now_ms() - t0;
    fx.backend = NULL;
    pthread_join(t, NULL);
    cr_log_info("close with an invocation in flight: %llu ms", (unsigned long long)close_ms);
    cr_expect_eq(r.rc, FCB_ERR_CANCELLED, "%s: %s", fcb_status_name(r.rc), r.err.message);
    cr_expect_lt(close_ms, 1000, "close took %llu ms", (unsigned long long)close_ms);
    char path[FCB_HANDLE_MAX + 32];
    snprintf(path, sizeof path, "/containers/%s?force=1", handle + 10);
    engine("DELETE", path, NULL, NULL);
}

Test(docker_invoke, refuses_bad_handles_and_requests_and_containers_not_ours)
{
    cr_assert_not_null(fx.ops->invoke, "no invoke op");
    body_seen seen = {0};
    fcb_invoke_result out;
    fcb_error err;
    cr_expect_eq(invoke("pod/ns/x", "{}", 1000, no_cancel, &seen, &out, &err),
                 FCB_ERR_INVALID_ARGUMENT);
    cr_expect(strstr(err.message, "handle") != NULL, "%s", err.message);
    cr_expect_eq(invoke("container/0123456789abcdef", "{}", 1000, no_cancel, &seen, &out, &err),
                 FCB_ERR_NOT_FOUND, "%s", err.message);
    char *foreign = engine_http_create_container(docker_socket(), "fcb-ops-foreign", "{}");
    char handle[FCB_HANDLE_MAX];
    snprintf(handle, sizeof handle, "container/%s", foreign);
    cr_expect_eq(invoke(handle, "{}", 1000, no_cancel, &seen, &out, &err), FCB_ERR_NOT_FOUND);
    cr_expect(strstr(err.message, "not managed by fakecloud") != NULL, "%s", err.message);
    /* ours, but not running */
    char *stopped = engine_http_create_container(
        docker_socket(), "fcb-ops-stopped",
        "{\"fakecloud-managed-by\":\"fakecloud\",\"fakecloud-instance\":\"another0\"}");
    snprintf(handle, sizeof handle, "container/%s", stopped);
    cr_expect_eq(invoke(handle, "{}", 1000, no_cancel, &seen, &out, &err), FCB_ERR_UNAVAILABLE,
                 "%s", err.message);
    cr_expect(strstr(err.message, "not running") != NULL, "%s", err.message);
    fcb_invoke_request req = {.size = sizeof req, .payload = {"{}", 2}};
    cr_expect_eq(fx.ops->invoke(fx.backend, handle, &req, &out, &err), FCB_ERR_INVALID_ARGUMENT);
    cr_expect(strstr(err.message, "on_body") != NULL, "%s", err.message);
    req.on_body = body_collect;
    req.sink_ctx = &seen;
    out.size = 8;
    cr_expect_eq(fx.ops->invoke(fx.backend, handle, &req, &out, &err), FCB_ERR_INVALID_ARGUMENT);
    cr_expect(strstr(err.message, "invoke: out") != NULL, "%s", err.message);
    cr_expect_eq(seen.calls, 0);
    char path[160];
    snprintf(path, sizeof path, "/containers/%s?force=1", foreign);
    engine("DELETE", path, NULL, NULL);
    snprintf(path, sizeof path, "/containers/%s?force=1", stopped);
    engine("DELETE", path, NULL, NULL);
    free(foreign);
    free(stopped);
}

Test(docker_invoke, survives_every_allocation_failure)
{
    cr_assert_not_null(fx.ops->invoke, "no invoke op");
    char handle[FCB_HANDLE_MAX];
    launch_script("invoke-sweep-fn", "cat\n", handle);
    size_t n = 1;
    for (; n < 500; n++) {
        size_t base = mock_host_outstanding_bytes(fx.mh);
        size_t failed = mock_host_failed_allocs(fx.mh);
        body_seen seen = {0};
        fcb_invoke_result out;
        fcb_error err;
        mock_host_fail_alloc(fx.mh, n);
        int rc = invoke(handle, "{\"n\":1}", 10000, no_cancel, &seen, &out, &err);
        mock_host_fail_alloc(fx.mh, 0);
        cr_assert_eq(mock_host_outstanding_bytes(fx.mh), base, "failure point %zu: bytes left", n);
        if (mock_host_failed_allocs(fx.mh) == failed) {
            cr_assert_eq(rc, FCB_OK, "without an injected failure: %s", err.message);
            cr_expect_str_eq(seen.data, "{\"n\":1}");
            break;
        }
        cr_assert(rc == FCB_OK || (rc < 0 && err.code == rc && err.message[0] != '\0'),
                  "failure point %zu: unclean error %d '%s'", n, rc, err.message);
    }
    cr_log_info("invoke: %zu allocation failure points", n - 1);
    cr_expect_gt(n, 1, "invoke made no allocation through the host");
    terminate_ok(handle);
}

/* ---- cancel ------------------------------------------------------------ */

static void *launch_thread(void *arg)
{
    job_run(arg);
    return NULL;
}

Test(docker_cancel, a_token_that_already_fired_cancels_before_anything_is_created)
{
    fcb_function fn = zip_function("cancel-early-fn");
    launch_job j;
    job_init(&j, &fn, "cat\n");
    j.req.cancel = mock_host_cancel(fx.mh);
    mock_host_cancel_fire(fx.mh);
    cr_expect_eq(job_run(&j), FCB_ERR_CANCELLED, "%s: %s", fcb_status_name(j.rc), j.err.message);
    cr_expect(strstr(j.err.message, "cancelled") != NULL, "%s", j.err.message);
    cr_expect_eq(containers_of("cancel-early-fn"), 0);
    job_free(&j);
}

Test(docker_cancel, fired_during_the_readiness_wait_it_returns_promptly_and_leaves_nothing)
{
    fcb_env_var env[] = {{"RIE_DELAY_S", "30"}};
    fcb_function fn = zip_function("cancel-ready-fn");
    fn.environment = env;
    fn.n_environment = 1;
    launch_job j;
    job_init(&j, &fn, "cat\n");
    j.req.cancel = mock_host_cancel(fx.mh);
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, launch_thread, &j), 0);
    for (int i = 0; i < 300 && !running("cancel-ready-fn"); i++)
        usleep(20 * 1000);
    cr_assert(running("cancel-ready-fn"), "the launch never started its container");
    usleep(200 * 1000);
    uint64_t fired = now_ms();
    mock_host_cancel_fire(fx.mh);
    pthread_join(t, NULL);
    uint64_t ms = j.ended_ms - fired;
    cr_log_info("launch cancelled in its readiness wait %llu ms after the token fired: %s",
                (unsigned long long)ms, j.err.message);
    cr_expect_eq(j.rc, FCB_ERR_CANCELLED, "%s: %s", fcb_status_name(j.rc), j.err.message);
    cr_expect_lt(ms, 500, "cancel took %llu ms", (unsigned long long)ms);
    cr_expect(strstr(j.err.message, "readiness wait") != NULL, "%s", j.err.message);
    cr_expect_eq(containers_of("cancel-ready-fn"), 0, "a cancelled launch left its container");
    job_free(&j);
}

Test(docker_cancel, fired_during_a_stalled_image_pull_it_returns_promptly)
{
    unsigned port;
    int fd = engine_http_stalled_registry(&port);
    char image[64];
    snprintf(image, sizeof image, "127.0.0.1:%u/fakecloud/stalled:1", port);
    fcb_function fn = {.size = sizeof fn,
                       .function_name = "cancel-pull-fn",
                       .package_type = FCB_PACKAGE_IMAGE,
                       .image_uri = image};
    launch_job j;
    job_init(&j, &fn, NULL);
    j.req.cancel = mock_host_cancel(fx.mh);
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, launch_thread, &j), 0);
    usleep(600 * 1000);
    uint64_t fired = now_ms();
    mock_host_cancel_fire(fx.mh);
    pthread_join(t, NULL);
    close(fd);
    uint64_t ms = j.ended_ms - fired;
    cr_log_info("launch cancelled in its image pull %llu ms after the token fired: %s",
                (unsigned long long)ms, j.err.message);
    cr_expect_eq(j.rc, FCB_ERR_CANCELLED, "%s: %s", fcb_status_name(j.rc), j.err.message);
    cr_expect_lt(ms, 500, "cancel took %llu ms", (unsigned long long)ms);
    cr_expect(strstr(j.err.message, "image pull") != NULL, "%s", j.err.message);
    cr_expect_eq(containers_of("cancel-pull-fn"), 0);
    job_free(&j);
}

/*
 * The token fires at its 1st, 2nd, ... poll: every launch ends cancelled with
 * nothing left, or (once the polls are past) launched. The steps it was
 * cancelled in are logged and must include the code copy and the readiness
 * wait (several polls each; the create's two or three polls can be stepped
 * over: how often an Engine call polls while it waits varies from run to run).
 */
Test(docker_cancel, fired_at_every_poll_of_a_launch_it_cancels_cleanly)
{
    fcb_function fn = zip_function("cancel-sweep-fn");
    launch_job j;
    job_init(&j, &fn, "cat\n");
    j.req.cancel = mock_host_cancel(fx.mh);
    bool seen_create = false, seen_copy = false, seen_ready = false;
    size_t n = 1;
    for (; n < 400; n++) {
        mock_host_cancel_reset(fx.mh);
        mock_host_cancel_after(fx.mh, n);
        if (job_run(&j) == FCB_OK) {
            terminate_ok(j.inst.handle);
            break;
        }
        cr_assert_eq(j.rc, FCB_ERR_CANCELLED, "poll %zu: %s: %s", n, fcb_status_name(j.rc),
                     j.err.message);
        cr_assert_eq(containers_of("cancel-sweep-fn"), 0, "poll %zu left a container: %s", n,
                     j.err.message);
        seen_create |= strstr(j.err.message, "container create") != NULL;
        seen_copy |= strstr(j.err.message, "code copy") != NULL;
        seen_ready |= strstr(j.err.message, "readiness") != NULL;
    }
    cr_log_info("a launch polls its cancel token %zu times before it is ready; cancelled in the "
                "create %d, the code copy %d, the readiness wait %d",
                n - 1, seen_create, seen_copy, seen_ready);
    cr_assert_lt(n, 400, "the launch never got past its polls");
    /* Which step the n-th poll lands in shifts between runs (Engine calls poll a
     * varying number of times, and a runtime that answers its first 1 ms probes
     * leaves the readiness wait one or two polls): the sweep must reach past the
     * create; the readiness wait has its own test (fired_during_the_readiness_wait_...). */
    cr_expect(seen_copy || seen_ready, "steps hit: create %d, copy %d, ready %d", seen_create,
              seen_copy, seen_ready);
    job_free(&j);
}

/* ---- environment and credentials --------------------------------------- */

#define SECRET "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY"
#define TOKEN  "FwoGZXIvYXdzEXAMPLE-session-token-0123456789"
#define KEY_ID "ASIAEXAMPLEKEYID0001"

static const fcb_credentials creds = {.size = sizeof creds,
                                      .access_key_id = KEY_ID,
                                      .secret_access_key = SECRET,
                                      .session_token = TOKEN,
                                      .expiration_unix_s = 4102444800};

/* The value of NAME in ENV (lines NAME=value), copied into OUT; false when absent. */
static bool env_value(const char *env, const char *name, char *out, size_t size)
{
    size_t n = strlen(name);
    for (const char *p = env; p != NULL && *p != '\0';) {
        const char *nl = strchr(p, '\n');
        size_t len = nl != NULL ? (size_t)(nl - p) : strlen(p);
        if (len > n && strncmp(p, name, n) == 0 && p[n] == '=') {
            snprintf(out, size, "%.*s", (int)(len - n - 1), p + n + 1);
            return true;
        }
        p = nl != NULL ? nl + 1 : NULL;
    }
    return false;
}

static void expect_env(const char *env, const char *name, const char *want)
{
    char got[512];
    cr_expect(env_value(env, name, got, sizeof got), "%s is not set", name);
    if (want != NULL)
        cr_expect_str_eq(got, want, "%s", name);
}

/* Launch FN (app.sh = env) with the credentials and an endpoint URL; the runtime's env. */
static char *runtime_env(launch_job *j)
{
    j->req.credentials = &creds;
    j->req.aws_endpoint_url = "http://localhost:4566";
    cr_assert_eq(job_run(j), FCB_OK, "launch: %s", j->err.message);
    char *env = engine_http_invoke(j->inst.endpoint, "{}");
    terminate_ok(j->inst.handle);
    return env;
}

Test(docker_env, the_runtime_gets_every_reserved_variable_and_the_role_credentials)
{
    fcb_env_var vars[] = {{"MY_VAR", "mine"}, {"TZ", "Europe/Paris"}};
    fcb_function fn = zip_function("env-fn");
    fn.environment = vars;
    fn.n_environment = 2;
    launch_job j;
    job_init(&j, &fn, "env | sort\n");
    char *env = runtime_env(&j);
    const char *want[][2] = {
        {"_HANDLER", "app.handler"},
        {"LAMBDA_TASK_ROOT", "/var/task"},
        {"LAMBDA_RUNTIME_DIR", "/var/runtime"},
        {"AWS_LAMBDA_FUNCTION_NAME", "env-fn"},
        {"AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"},
        {"AWS_LAMBDA_FUNCTION_TIMEOUT", "3"},
        {"AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"},
        {"AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/env-fn"},
        {"AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand"},
        {"AWS_EXECUTION_ENV", "AWS_Lambda_python3.12"},
        {"AWS_REGION", "eu-west-2"},
        {"AWS_DEFAULT_REGION", "eu-west-2"},
        {"TZ", "Europe/Paris"}, /* AWS lets a function set TZ: its value wins */
        {"AWS_XRAY_CONTEXT_MISSING", "LOG_ERROR"},
        {"AWS_ENDPOINT_URL", NULL}, /* checked below: the engine's host alias */
        {"AWS_ACCESS_KEY_ID", KEY_ID},
        {"AWS_SECRET_ACCESS_KEY", SECRET},
        {"AWS_SESSION_TOKEN", TOKEN},
        {"MY_VAR", "mine"},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        expect_env(env, want[i][0], want[i][1]);
    char *version = NULL;
    cr_assert_eq(engine("GET", "/version", NULL, &version), 200);
    expect_env(env, "AWS_ENDPOINT_URL",
               strstr(version, "Podman") != NULL ? "http://host.containers.internal:4566"
                                                 : "http://host.docker.internal:4566");
    free(version);
    char stream[256];
    cr_expect(env_value(env, "AWS_LAMBDA_LOG_STREAM_NAME", stream, sizeof stream));
    int y = 0, m = 0, d = 0, end = 0;
    cr_expect(sscanf(stream, "%4d/%2d/%2d/[$LATEST]%n", &y, &m, &d, &end) == 3 && end > 0 &&
                  strlen(stream + end) == 32 && strspn(stream + end, "0123456789abcdef") == 32,
              "log stream name '%s'", stream);
    cr_log_info("runtime environment:\n%s", env);
    free(env);
    job_free(&j);
}

Test(docker_env, without_credentials_the_function_keeps_its_own_keys_and_a_1_0_request_works)
{
    fcb_env_var vars[] = {{"AWS_ACCESS_KEY_ID", "test"}, {"AWS_SECRET_ACCESS_KEY", "test"}};
    fcb_function fn = zip_function("env-nocreds-fn");
    fn.environment = vars;
    fn.n_environment = 2;
    launch_job j;
    job_init(&j, &fn, "env | sort\n");
    /* A 1.0 host's request ends at deadline_ms: no credentials, no endpoint, no cancel. */
    j.req.size = (uint32_t)(offsetof(fcb_launch_request, deadline_ms) + sizeof(uint32_t));
    j.req.credentials = &creds; /* beyond size: must not be read */
    cr_assert_eq(job_run(&j), FCB_OK, "launch: %s", j.err.message);
    char *env = engine_http_invoke(j.inst.endpoint, "{}");
    terminate_ok(j.inst.handle);
    expect_env(env, "AWS_ACCESS_KEY_ID", "test");
    expect_env(env, "AWS_SECRET_ACCESS_KEY", "test");
    char got[64];
    cr_expect(!env_value(env, "AWS_SESSION_TOKEN", got, sizeof got));
    cr_expect(!env_value(env, "AWS_ENDPOINT_URL", got, sizeof got));
    free(env);
    job_free(&j);
}

static void expect_no_secret(const char *text, const char *where)
{
    cr_expect(strstr(text, SECRET) == NULL, "the secret key is in %s: %s", where, text);
    cr_expect(strstr(text, TOKEN) == NULL, "the session token is in %s: %s", where, text);
    cr_expect(strstr(text, KEY_ID) == NULL, "the access key id is in %s: %s", where, text);
}

Test(docker_env, credentials_never_reach_a_log_line_or_an_error_message)
{
    /* A function that sets the reserved names itself (dropped with a warning)... */
    fcb_env_var vars[] = {{"AWS_SECRET_ACCESS_KEY", "mine"}, {"AWS_SESSION_TOKEN", "mine"}};
    fcb_function fn = zip_function("env-secret-fn");
    fn.environment = vars;
    fn.n_environment = 2;
    launch_job j;
    job_init(&j, &fn, "env | sort\n");
    char *env = runtime_env(&j);
    expect_env(env, "AWS_SECRET_ACCESS_KEY", SECRET);
    free(env);
    job_free(&j);
    cr_expect(mock_host_log_contains(fx.mh, "AWS_SECRET_ACCESS_KEY"),
              "no warning named the dropped variable");
    /* ... a runtime that crashes at start (error with its last log lines) ... */
    fcb_function crash = {.size = sizeof crash,
                          .function_name = "env-secret-crash",
                          .package_type = FCB_PACKAGE_IMAGE,
                          .image_uri = "fakecloud-test/crash:1"};
    job_init(&j, &crash, NULL);
    j.req.credentials = &creds;
    cr_expect_eq(job_run(&j), FCB_ERR_START_FAILED, "%s", j.err.message);
    expect_no_secret(j.err.message, "the start failure");
    /* ... and credentials that are refused. */
    fcb_credentials half = creds;
    half.secret_access_key = NULL;
    job_init(&j, &fn, "cat\n");
    j.req.credentials = &half;
    cr_expect_eq(job_run(&j), FCB_ERR_INVALID_ARGUMENT);
    cr_expect(strstr(j.err.message, "credentials.secret_access_key") != NULL, "%s", j.err.message);
    expect_no_secret(j.err.message, "the refusal");
    fcb_credentials bad = creds;
    bad.session_token = "line\nbreak" TOKEN;
    j.req.credentials = &bad;
    cr_expect_eq(job_run(&j), FCB_ERR_INVALID_ARGUMENT);
    expect_no_secret(j.err.message, "the refusal of a token");
    fcb_credentials small = creds;
    small.size = 8;
    j.req.credentials = &small;
    cr_expect_eq(job_run(&j), FCB_ERR_INVALID_ARGUMENT);
    cr_expect(strstr(j.err.message, "credentials") != NULL, "%s", j.err.message);
    job_free(&j);
    cr_expect_eq(containers_of("env-secret-fn"), 0);
    char *log = mock_host_log_text(fx.mh);
    expect_no_secret(log, "the plugin's log");
    cr_log_info("%zu log lines captured at TRACE, none with a credential",
                mock_host_log_lines(fx.mh));
    free(log);
}

/* ---- architecture ------------------------------------------------------ */

/* The engine's /version Arch ("amd64", "arm64") and the other one, both Go names. */
static void engine_arches(char native[16], char foreign[16])
{
    char *body = NULL;
    cr_assert_eq(engine("GET", "/version", NULL, &body), 200);
    const char *p = strstr(body, "\"Arch\":\"");
    cr_assert_not_null(p, "%s", body);
    p += 8;
    snprintf(native, 16, "%.*s", (int)strcspn(p, "\""), p);
    free(body);
    snprintf(foreign, 16, "%s", strcmp(native, "arm64") == 0 ? "amd64" : "arm64");
}

static const char *lambda_arch(const char *go)
{
    return strcmp(go, "amd64") == 0 ? "x86_64" : "arm64";
}

#define FOREIGN_IMAGE "127.0.0.1:1/fcb-foreign:1"
#define NATIVE_IMAGE  "127.0.0.1:1/fcb-native:1"
#define SWAP_IMAGE    "127.0.0.1:1/fcb-swap:1"

static void tag(const char *source, const char *target)
{
    char repo[128], path[512];
    snprintf(repo, sizeof repo, "%.*s", (int)(strrchr(target, ':') - target), target);
    char *erepo = curl_easy_escape(NULL, repo, 0);
    snprintf(path, sizeof path, "/images/%s/tag?repo=%s&tag=%s", source, erepo,
             strrchr(target, ':') + 1);
    curl_free(erepo);
    cr_assert_eq(engine("POST", path, NULL, NULL), 201, "tag %s %s", source, target);
}

/*
 * FOREIGN_IMAGE: a copy of the test image-function image whose config says
 * linux/FOREIGN (its binaries are the engine's own, so it runs: the config
 * is what a backend selects and checks; make-foreign-image.sh);
 * NATIVE_IMAGE: the same image under a registry that refuses connections
 * (a pull from it fails at once).
 */
static void arch_images(const char *foreign)
{
    char path[160];
    snprintf(path, sizeof path, "/images/%s/json", FOREIGN_IMAGE);
    if (engine("GET", path, NULL, NULL) != 200) {
        char cmd[1024];
        snprintf(cmd, sizeof cmd, "'%s' '%s' fakecloud-test/image-fn:1 '%s' '%s'",
                 FCB_FOREIGN_IMAGE_SH, docker_socket(), FOREIGN_IMAGE, foreign);
        cr_assert_eq(system(cmd), 0, "%s", cmd);
    }
    tag("fakecloud-test/image-fn:1", NATIVE_IMAGE);
}

/* Architecture of the image of container ID, asked from the engine. */
static void container_image_arch(const char *id, char out[16])
{
    char path[256], *body = NULL;
    snprintf(path, sizeof path, "/containers/%s/json", id);
    cr_assert_eq(engine("GET", path, NULL, &body), 200);
    json_object *c = json_tokener_parse(body), *image = NULL, *arch = NULL;
    cr_assert(json_object_object_get_ex(c, "Image", &image));
    snprintf(path, sizeof path, "/images/%s/json", json_object_get_string(image));
    json_object_put(c);
    free(body);
    cr_assert_eq(engine("GET", path, NULL, &body), 200);
    json_object *img = json_tokener_parse(body);
    cr_assert(json_object_object_get_ex(img, "Architecture", &arch));
    snprintf(out, 16, "%s", json_object_get_string(arch));
    json_object_put(img);
    free(body);
}

static const char *const image_handler[] = {"image.handler"};

static fcb_function image_function(const char *name, const char *image, const char *arch)
{
    fcb_function fn = {.size = sizeof fn,
                       .function_name = name,
                       .package_type = FCB_PACKAGE_IMAGE,
                       .image_uri = image,
                       .architecture = arch,
                       .image_command = image_handler,
                       .n_image_command = 1};
    return fn;
}

Test(docker_arch, a_function_of_the_other_architecture_runs_on_an_image_of_its_platform)
{
    char native[16], foreign[16], got[16];
    engine_arches(native, foreign);
    arch_images(foreign);
    fcb_function fn = image_function("arch-foreign-fn", FOREIGN_IMAGE, lambda_arch(foreign));
    launch_job j;
    job_init(&j, &fn, NULL);
    cr_assert_eq(job_run(&j), FCB_OK, "%s", j.err.message);
    container_image_arch(j.inst.handle + 10, got);
    cr_expect_str_eq(got, foreign);
    char *answer = engine_http_invoke(j.inst.endpoint, "x");
    cr_expect(strstr(answer, "image function says hi") != NULL, "%s", answer);
    free(answer);
    terminate_ok(j.inst.handle);
    /* and the engine's own architecture on its own image, as before */
    fn = image_function("arch-native-fn", "fakecloud-test/image-fn:1", lambda_arch(native));
    job_init(&j, &fn, NULL);
    cr_assert_eq(job_run(&j), FCB_OK, "%s", j.err.message);
    container_image_arch(j.inst.handle + 10, got);
    cr_expect_str_eq(got, native);
    terminate_ok(j.inst.handle);
}

Test(docker_arch, an_image_of_another_platform_is_refused_naming_both_and_nothing_runs)
{
    char native[16], foreign[16];
    engine_arches(native, foreign);
    arch_images(foreign);
    const char *cases[][3] = {{"arch-want-foreign", NATIVE_IMAGE, foreign},
                              {"arch-want-native", FOREIGN_IMAGE, native}};
    for (size_t i = 0; i < 2; i++) {
        fcb_function fn = image_function(cases[i][0], cases[i][1], lambda_arch(cases[i][2]));
        launch_job j;
        job_init(&j, &fn, NULL);
        cr_expect_eq(job_run(&j), FCB_ERR_UNSUPPORTED, "%s: %s: %s", cases[i][0],
                     fcb_status_name(j.rc), j.err.message);
        cr_log_info("%s", j.err.message);
        cr_expect(strstr(j.err.message, "Architectures") != NULL, "%s", j.err.message);
        cr_expect(strstr(j.err.message, lambda_arch(cases[i][2])) != NULL, "%s", j.err.message);
        cr_expect(strstr(j.err.message, cases[i][1]) != NULL, "%s", j.err.message);
        cr_expect_eq(containers_of(cases[i][0]), 0);
    }
    fcb_function bogus = image_function("arch-bogus", NATIVE_IMAGE, "sparc");
    launch_job j;
    job_init(&j, &bogus, NULL);
    cr_expect_eq(job_run(&j), FCB_ERR_INVALID_ARGUMENT);
    cr_expect(strstr(j.err.message, "Architectures: 'sparc'") != NULL, "%s", j.err.message);
}

/* A cancel token that never cancels: at its Nth poll it retags SWAP_IMAGE to the foreign image. */
typedef struct swap_token {
    size_t polls, at;
    bool swapped;
} swap_token;

static int swap_poll(void *ctx)
{
    swap_token *s = ctx;
    if (++s->polls == s->at) {
        tag(FOREIGN_IMAGE, SWAP_IMAGE);
        s->swapped = true;
    }
    return 0;
}

/*
 * The image a tag names can change between the plugin's image check and the
 * create (another client retags it): the create's image is checked again
 * before the container starts. Retag at every poll point in turn: each
 * launch either runs the engine's own architecture or is refused with
 * nothing left, and some are refused by the check after the create.
 */
Test(docker_arch, an_image_retagged_to_another_platform_before_the_create_is_refused_before_start)
{
    char native[16], foreign[16];
    engine_arches(native, foreign);
    arch_images(foreign);
    fcb_function fn = image_function("arch-swap-fn", SWAP_IMAGE, lambda_arch(native));
    size_t refused_after_create = 0, refused_before = 0, n = 1;
    for (; n < 200; n++) {
        tag(NATIVE_IMAGE, SWAP_IMAGE);
        swap_token s = {.at = n};
        launch_job j;
        job_init(&j, &fn, NULL);
        j.req.cancel = (fcb_cancel){&s, swap_poll};
        if (job_run(&j) == FCB_OK) {
            char got[16];
            container_image_arch(j.inst.handle + 10, got);
            cr_expect_str_eq(got, native, "poll %zu: a container of %s runs", n, got);
            terminate_ok(j.inst.handle);
            break; /* every later poll is after the create too */
        }
        cr_assert_eq(j.rc, FCB_ERR_UNSUPPORTED, "poll %zu: %s", n, j.err.message);
        cr_assert_eq(containers_of("arch-swap-fn"), 0, "poll %zu left a container", n);
        if (strstr(j.err.message, "before it started") != NULL)
            refused_after_create++;
        else
            refused_before++;
    }
    cr_log_info("retag at each of %zu polls: %zu refused at the image check, %zu after the create",
                n, refused_before, refused_after_create);
    cr_expect_gt(refused_after_create, 0, "no retag fell between the image check and the create");
}
