/*
 * ABI 1.1 ops of the in-process test plugin through the mock host: logs
 * (tail, since, follow ended by terminate and by cancel), status, invoke
 * (streamed answer, echo of credentials/endpoint/tags without the secret),
 * stats, launch cancel; test2 has none of them; an allocation-failure sweep
 * of logs, invoke and stats leaks nothing.
 */
#include "loader.h"
#include "mock_host.h"

#include <criterion/criterion.h>
#include <curl/curl.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifndef TEST_PLUGINS_DIR
#error "TEST_PLUGINS_DIR must be defined by meson"
#endif

static mock_host *mh;
static loader_plugin *plugin;
static fcb_backend *backend;

static void setup(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    mh = mock_host_new();
}

static void teardown(void)
{
    if (backend != NULL)
        plugin->ops->close(backend);
    backend = NULL;
    if (plugin != NULL)
        loader_unload(plugin);
    plugin = NULL;
    mock_host_free(mh);
    curl_global_cleanup();
}

TestSuite(abi11_ops, .init = setup, .fini = teardown, .timeout = 60);

static void open_backend(const char *name)
{
    char path[512], why[LOADER_WHY_MAX] = "";
    snprintf(path, sizeof path, "%s/fakecloud-backend-%s.so", TEST_PLUGINS_DIR, name);
    cr_assert_eq(loader_load(path, mock_host_services(mh), &plugin, why), FCB_OK, "%s", why);
    fcb_error err = FCB_ERROR_INIT;
    fcb_open_params params = {sizeof params, NULL};
    cr_assert_eq(plugin->ops->open(mock_host_services(mh), &params, &backend, &err), FCB_OK, "%s",
                 err.message);
}

static const char code_zip[] = "PK\005\006"
                               "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0";
static const fcb_tag tags[] = {{"team", "blue"}, {"fakecloud-k8s/node-selector", "{\"a\":\"b\"}"}};

static fcb_function function(void)
{
    fcb_function fn = {0};
    fn.size = sizeof fn;
    fn.function_name = "my-fn";
    fn.runtime = "python3.12";
    fn.handler = "app.handler";
    fn.package_type = FCB_PACKAGE_ZIP;
    fn.tags = tags;
    fn.n_tags = 2;
    return fn;
}

static int launch(const fcb_function *fn, const fcb_credentials *creds, fcb_cancel cancel,
                  fcb_instance *inst, fcb_error *err)
{
    fcb_launch_request req = {0};
    req.size = sizeof req;
    req.function = fn;
    req.code.data = code_zip;
    req.code.size = sizeof code_zip - 1;
    req.deploy_id = "0123456789abcdef";
    req.credentials = creds;
    req.aws_endpoint_url = "http://127.0.0.1:4566";
    req.cancel = cancel;
    memset(inst, 0, sizeof *inst);
    inst->size = sizeof *inst;
    return plugin->ops->launch(backend, &req, inst, err);
}

static void launch_ok(fcb_instance *inst)
{
    fcb_function fn = function();
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(launch(&fn, NULL, (fcb_cancel){0}, inst, &err), FCB_OK, "%s", err.message);
}

typedef struct sink {
    char data[64 * 1024];
    size_t len;
    int chunks;
    int stop_after; /* 0 = never */
} sink;

static int sink_data(void *ctx, const void *data, size_t len)
{
    sink *s = ctx;
    size_t n = len < sizeof s->data - 1 - s->len ? len : sizeof s->data - 1 - s->len;
    memcpy(s->data + s->len, data, n);
    s->len += n;
    s->data[s->len] = '\0';
    s->chunks++;
    return s->stop_after != 0 && s->chunks >= s->stop_after;
}

static int sink_log(void *ctx, fcb_log_stream stream, const char *data, size_t len)
{
    (void)stream;
    return sink_data(ctx, data, len);
}

static int invoke(const char *handle, const char *event, sink *s, fcb_cancel cancel,
                  fcb_invoke_result *out, fcb_error *err)
{
    fcb_invoke_request req = {0};
    req.size = sizeof req;
    req.payload = (fcb_blob){event, strlen(event)};
    req.sink_ctx = s;
    req.on_body = sink_data;
    req.cancel = cancel;
    memset(out, 0, sizeof *out);
    out->size = sizeof *out;
    return plugin->ops->invoke(backend, handle, &req, out, err);
}

static int logs(const char *handle, uint32_t tail, int64_t since, int follow, sink *s,
                fcb_cancel cancel, fcb_error *err)
{
    fcb_logs_request req = {0};
    req.size = sizeof req;
    req.tail_lines = tail;
    req.since_unix_ms = since;
    req.follow = follow;
    req.sink_ctx = s;
    req.on_data = sink_log;
    req.cancel = cancel;
    return plugin->ops->logs(backend, handle, &req, err);
}

static int count_lines(const char *text)
{
    int n = 0;
    for (const char *p = text; (p = strchr(p, '\n')) != NULL; p++)
        n++;
    return n;
}

Test(abi11_ops, invoke_streams_the_answer_and_echoes_what_the_launch_carried)
{
    open_backend("test");
    fcb_function fn = function();
    fcb_credentials creds = {sizeof creds, "AKIAEXAMPLEKEY", "s3cr3t-never-shown", "tok", 99};
    fcb_instance inst;
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(launch(&fn, &creds, (fcb_cancel){0}, &inst, &err), FCB_OK, "%s", err.message);
    sink s = {0};
    fcb_invoke_result res;
    cr_assert_eq(invoke(inst.handle, "{\"n\":1}", &s, (fcb_cancel){0}, &res, &err), FCB_OK, "%s",
                 err.message);
    cr_expect_eq(res.http_status, 200);
    cr_expect_eq(res.body_bytes, s.len);
    cr_expect_str_eq(res.function_error, "");
    cr_expect(strstr(s.data, "\"event\":{\"n\":1}") != NULL, "%s", s.data);
    cr_expect(strstr(s.data, "\"credentials\":\"AKIA...(set)\"") != NULL, "%s", s.data);
    cr_expect(strstr(s.data, "\"session_token\":\"(set)\"") != NULL, "%s", s.data);
    cr_expect(strstr(s.data, "s3cr3t") == NULL, "the secret never shows: %s", s.data);
    cr_expect(strstr(s.data, "\"aws_endpoint_url\":\"http://127.0.0.1:4566\"") != NULL, "%s",
              s.data);
    cr_expect(strstr(s.data, "\"tags\":{\"team\":\"blue\",\"fakecloud-k8s/node-selector\":"
                             "\"{\\\"a\\\":\\\"b\\\"}\"}") != NULL,
              "%s", s.data);
    cr_expect_eq(invoke("test/999", "{}", &s, (fcb_cancel){0}, &res, &err), FCB_ERR_NOT_FOUND);
    cr_expect(strstr(err.message, "test/999") != NULL, "%s", err.message);
}

Test(abi11_ops, credentials_without_a_secret_are_refused_naming_the_field)
{
    open_backend("test");
    fcb_function fn = function();
    fcb_credentials creds = {sizeof creds, "AKIAEXAMPLEKEY", "", NULL, 0};
    fcb_instance inst;
    fcb_error err = FCB_ERROR_INIT;
    cr_expect_eq(launch(&fn, &creds, (fcb_cancel){0}, &inst, &err), FCB_ERR_INVALID_ARGUMENT);
    cr_expect(strstr(err.message, "secret_access_key") != NULL, "%s", err.message);
}

Test(abi11_ops, logs_tail_since_and_follow_until_terminate)
{
    open_backend("test");
    fcb_instance inst;
    launch_ok(&inst);
    fcb_error err = FCB_ERROR_INIT;
    fcb_invoke_result res;
    for (int i = 0; i < 3; i++) {
        sink s = {0};
        cr_assert_eq(invoke(inst.handle, "{}", &s, (fcb_cancel){0}, &res, &err), FCB_OK, "%s",
                     err.message);
    }
    sink all = {0};
    cr_assert_eq(logs(inst.handle, 0, 0, 0, &all, (fcb_cancel){0}, &err), FCB_OK, "%s",
                 err.message);
    cr_expect_eq(count_lines(all.data), 1 + 3 * 4, "%s", all.data);
    cr_expect(strncmp(all.data, "INIT_START", 10) == 0, "%s", all.data);
    sink tail = {0};
    cr_assert_eq(logs(inst.handle, 2, 0, 0, &tail, (fcb_cancel){0}, &err), FCB_OK);
    cr_expect_eq(count_lines(tail.data), 2, "%s", tail.data);
    cr_expect(strncmp(tail.data, "END RequestId: ", 15) == 0, "%s", tail.data);
    cr_expect(strstr(tail.data, "REPORT RequestId: ") != NULL, "%s", tail.data);
    cr_expect(strstr(tail.data, "\tDuration: 1.00 ms\t") != NULL, "%s", tail.data);
    sink future = {0};
    cr_assert_eq(logs(inst.handle, 0, INT64_C(32503680000000), 0, &future, (fcb_cancel){0}, &err),
                 FCB_OK);
    cr_expect_eq(future.len, 0, "nothing is newer than the year 3000: %s", future.data);
    sink none = {0};
    cr_expect_eq(logs("test/999", 0, 0, 0, &none, (fcb_cancel){0}, &err), FCB_ERR_NOT_FOUND);
}

typedef struct follower {
    const char *handle;
    sink s;
    int rc;
    fcb_cancel cancel;
    fcb_error err;
} follower;

static void *follow_main(void *arg)
{
    follower *f = arg;
    f->rc = logs(f->handle, 0, 0, 1, &f->s, f->cancel, &f->err);
    return NULL;
}

static void wait_for_text(const sink *s, const char *needle)
{
    for (int i = 0; i < 200 && strstr(s->data, needle) == NULL; i++)
        nanosleep(&(struct timespec){0, 10000000L}, NULL);
}

Test(abi11_ops, follow_delivers_new_lines_and_ends_at_terminate_or_cancel)
{
    open_backend("test");
    fcb_instance inst;
    launch_ok(&inst);
    follower f = {.handle = inst.handle, .err = FCB_ERROR_INIT};
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, follow_main, &f), 0);
    wait_for_text(&f.s, "INIT_START");
    fcb_error err = FCB_ERROR_INIT;
    fcb_invoke_result res;
    sink s = {0};
    cr_assert_eq(invoke(inst.handle, "{}", &s, (fcb_cancel){0}, &res, &err), FCB_OK);
    wait_for_text(&f.s, "REPORT");
    cr_expect(strstr(f.s.data, "REPORT RequestId:") != NULL, "follow saw the invocation");
    cr_expect_eq(plugin->ops->terminate(backend, inst.handle, &err), FCB_OK);
    pthread_join(t, NULL);
    cr_expect_eq(f.rc, FCB_OK, "a follow ends with its instance: %s", f.err.message);

    launch_ok(&inst);
    follower g = {.handle = inst.handle, .err = FCB_ERROR_INIT, .cancel = mock_host_cancel(mh)};
    cr_assert_eq(pthread_create(&t, NULL, follow_main, &g), 0);
    wait_for_text(&g.s, "INIT_START");
    mock_host_cancel_fire(mh);
    pthread_join(t, NULL);
    cr_expect_eq(g.rc, FCB_ERR_CANCELLED, "%s", g.err.message);
    cr_expect_gt(mock_host_cancel_polls(mh), 0);
}

Test(abi11_ops, status_says_running_then_gone)
{
    open_backend("test");
    fcb_instance inst;
    launch_ok(&inst);
    fcb_instance_status st = {.size = sizeof st};
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(plugin->ops->status(backend, inst.handle, &st, &err), FCB_OK);
    cr_expect_eq(st.state, FCB_INSTANCE_RUNNING);
    cr_expect_eq(plugin->ops->terminate(backend, inst.handle, &err), FCB_OK);
    cr_assert_eq(plugin->ops->status(backend, inst.handle, &st, &err), FCB_OK);
    cr_expect_eq(st.state, FCB_INSTANCE_GONE);
    fcb_instance_status small = {.size = 4};
    cr_expect_eq(plugin->ops->status(backend, inst.handle, &small, &err), FCB_ERR_INVALID_ARGUMENT);
}

typedef struct metrics {
    char text[4096];
    size_t len;
} metrics;

static void collect(void *ctx, const fcb_metric *m)
{
    metrics *ms = ctx;
    ms->len += (size_t)snprintf(ms->text + ms->len, sizeof ms->text - ms->len,
                                "%s{%s=%s} %g %llu\n", m->name, m->label_key ? m->label_key : "",
                                m->label_value ? m->label_value : "", m->value,
                                (unsigned long long)m->count);
}

Test(abi11_ops, stats_count_launches_failures_and_invocations)
{
    mock_host_set_config(mh, "FAKECLOUD_TEST_LAUNCH_DELAY_MS", "5000");
    open_backend("test");
    fcb_function fn = function();
    fcb_instance inst;
    fcb_error err = FCB_ERROR_INIT;
    mock_host_cancel_after(mh, 2);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    cr_expect_eq(launch(&fn, NULL, mock_host_cancel(mh), &inst, &err), FCB_ERR_CANCELLED, "%s",
                 err.message);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    cr_expect_lt(t1.tv_sec - t0.tv_sec, 2, "the cancel stops the 5-s wait promptly");
    mock_host_cancel_reset(mh);
    metrics m = {0};
    cr_assert_eq(plugin->ops->stats(backend, &m, collect, &err), FCB_OK);
    cr_expect(strstr(m.text, "launches_total{=} 1 0\n") != NULL, "%s", m.text);
    cr_expect(strstr(m.text, "launch_failures_total{reason=FCB_ERR_CANCELLED} 1 0\n") != NULL, "%s",
              m.text);
    cr_expect(strstr(m.text, "invocations_total{=} 0 0\n") != NULL, "%s", m.text);
    cr_expect(strstr(m.text, "instances{=} 0 0\n") != NULL, "%s", m.text);
}

Test(abi11_ops, invoke_honours_its_cancel_token)
{
    mock_host_set_config(mh, "FAKECLOUD_TEST_OP_DELAY_MS", "5000");
    open_backend("test");
    fcb_instance inst;
    launch_ok(&inst);
    mock_host_cancel_after(mh, 3);
    sink s = {0};
    fcb_invoke_result res;
    fcb_error err = FCB_ERROR_INIT;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    cr_expect_eq(invoke(inst.handle, "{}", &s, mock_host_cancel(mh), &res, &err),
                 FCB_ERR_CANCELLED, "%s", err.message);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    cr_expect_lt(t1.tv_sec - t0.tv_sec, 2, "the 5-s wait stops at the cancel");
    cr_expect_eq(s.len, 0, "no answer was delivered");
    cr_expect(strstr(err.message, "cancelled by the host") != NULL, "%s", err.message);
}

Test(abi11_ops, test2_has_none_of_the_1_1_ops)
{
    open_backend("test2");
    cr_expect(plugin->ops_size >= sizeof(fcb_backend_ops));
    cr_expect_null(plugin->ops->logs);
    cr_expect_null(plugin->ops->status);
    cr_expect_null(plugin->ops->invoke);
    cr_expect_null(plugin->ops->stats);
}

/* Fail each allocation of OP in turn until it succeeds; nothing may leak. */
static void sweep(const char *what, int (*op)(const char *handle, fcb_error *err),
                  const char *handle)
{
    size_t base = mock_host_outstanding_bytes(mh);
    bool done = false;
    for (size_t n = 1; n < 500 && !done; n++) {
        fcb_error err = FCB_ERROR_INIT;
        size_t failed = mock_host_failed_allocs(mh);
        mock_host_fail_alloc(mh, n);
        int rc = op(handle, &err);
        mock_host_fail_alloc(mh, 0);
        done = rc == FCB_OK && mock_host_failed_allocs(mh) == failed;
        if (rc != FCB_OK)
            cr_expect_eq(rc, FCB_ERR_NO_MEMORY, "%s, allocation %zu: %s", what, n, err.message);
        cr_expect_eq(mock_host_outstanding_bytes(mh), base, "%s leaked at allocation %zu", what, n);
    }
    cr_expect(done, "%s succeeded once no allocation failed", what);
}

static int sweep_logs(const char *handle, fcb_error *err)
{
    sink s = {0};
    return logs(handle, 0, 0, 0, &s, (fcb_cancel){0}, err);
}

static int sweep_stats(const char *handle, fcb_error *err)
{
    (void)handle;
    metrics m = {0};
    return plugin->ops->stats(backend, &m, collect, err);
}

static int sweep_status(const char *handle, fcb_error *err)
{
    fcb_instance_status st = {.size = sizeof st};
    return plugin->ops->status(backend, handle, &st, err);
}

Test(abi11_ops, allocation_failures_in_logs_stats_and_status_leak_nothing)
{
    open_backend("test");
    fcb_instance inst;
    launch_ok(&inst);
    fcb_error err = FCB_ERROR_INIT;
    fcb_invoke_result res;
    sink s = {0};
    cr_assert_eq(invoke(inst.handle, "{}", &s, (fcb_cancel){0}, &res, &err), FCB_OK);
    sweep("logs", sweep_logs, inst.handle);
    sweep("stats", sweep_stats, inst.handle);
    sweep("status", sweep_status, inst.handle);
    cr_expect_eq(plugin->ops->terminate(backend, inst.handle, &err), FCB_OK);
    plugin->ops->close(backend);
    backend = NULL;
    cr_expect_eq(mock_host_outstanding_bytes(mh), 0);
}
