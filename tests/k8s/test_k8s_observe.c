/*
 * Integration tests of the 1.1 observation operations on kubesim: status
 * (one GET: RUNNING / STARTING / EXITED with the container's exit code and
 * reason / GONE for a deleted Pod, another namespace or a Pod without our
 * managed-by label, which is never read further) and logs (pods/log of the
 * runtime container: tail, since, max_bytes, on_data stopping, follow
 * streaming chunk by chunk until the host's cancel or close()) and stats
 * (launches, failures by reason, terminations, API requests and retries,
 * launch phases).
 */
#include "k8s_itest.h"

#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static itest t;

static void stop(void)
{
    itest_stop(&t);
}

#define OURS "{\"fakecloud-managed-by\":\"fakecloud\",\"fakecloud-instance\":\"0000000000000001\"}"

/* A Pod shaped like ours (runtime container name) with IMAGE and LABELS. */
static void create_runtime_pod(const char *name, const char *image, const char *labels)
{
    char body[1024];
    snprintf(body, sizeof body,
             "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"%s\","
             "\"labels\":%s},\"spec\":{\"restartPolicy\":\"Never\",\"containers\":[{\"name\":"
             "\"fakecloud-lambda\",\"image\":\"%s\"}]}}",
             name, labels, image);
    int status = kubesim_post_json(t.sim, "/api/v1/namespaces/default/pods", body, NULL);
    cr_assert_eq(status, 201, "create pod %s: %d", name, status);
}

static fcb_instance_status status_of(const char *handle)
{
    fcb_instance_status st = {.size = sizeof st};
    fcb_error err = FCB_ERROR_INIT;
    int rc = t.ops->status(t.backend, handle, &st, &err);
    cr_assert_eq(rc, FCB_OK, "status %s: %s (%s)", handle, fcb_status_name(rc), err.message);
    return st;
}

/* Poll HANDLE's status until it is WANT (bounded: 10 s). */
static fcb_instance_status wait_state(const char *handle, int want)
{
    fcb_instance_status st = {0};
    for (int i = 0; i < 200; i++) {
        st = status_of(handle);
        if (st.state == want)
            break;
        usleep(50 * 1000);
    }
    cr_assert_eq(st.state, want, "%s: state %d, wanted %d", handle, st.state, want);
    return st;
}

Test(k8s_observe, status_running_then_gone_after_terminate, .fini = stop, .timeout = 60)
{
    itest_start(&t, "observe_status", NULL);
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(itest_open(&t, ITEST_TOKEN, &err), FCB_OK, "open: %s", err.message);
    cr_assert_not_null(t.ops->status);
    uint64_t caps = t.plugin->descriptor->capabilities;
    cr_assert(caps & FCB_CAP_STATUS);

    fcb_function fn = itest_zip_function("status-fn");
    fcb_launch_request req = itest_request(&fn, "d1");
    fcb_instance inst = {.size = sizeof inst};
    cr_assert_eq(t.ops->launch(t.backend, &req, &inst, &err), FCB_OK, "launch: %s", err.message);
    fcb_instance_status st = status_of(inst.handle);
    cr_assert_eq(st.state, FCB_INSTANCE_RUNNING, "state %d", st.state);
    cr_assert_eq(st.exit_code, 0);

    cr_assert_eq(t.ops->terminate(t.backend, inst.handle, &err), FCB_OK, "%s", err.message);
    wait_state(inst.handle, FCB_INSTANCE_GONE);
    itest_close(&t);
}

Test(k8s_observe, status_exited_with_exit_code_and_reason, .fini = stop, .timeout = 60)
{
    itest_start(&t, "observe_exited", NULL);
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(itest_open(&t, ITEST_TOKEN, &err), FCB_OK, "open: %s", err.message);
    create_runtime_pod("fakecloud-lambda-crash", "crash:latest", OURS);
    fcb_instance_status st = wait_state("pod/default/fakecloud-lambda-crash", FCB_INSTANCE_EXITED);
    cr_assert_eq(st.exit_code, 3);
    cr_assert_str_eq(st.reason, "Error");
    create_runtime_pod("fakecloud-lambda-ok", "succeed:latest", OURS);
    st = wait_state("pod/default/fakecloud-lambda-ok", FCB_INSTANCE_EXITED);
    cr_assert_eq(st.exit_code, 0);
    cr_assert_str_eq(st.reason, "Completed");
    itest_close(&t);
}

Test(k8s_observe, status_gone_for_missing_foreign_or_other_namespace, .fini = stop, .timeout = 60)
{
    itest_start(&t, "observe_gone", NULL);
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(itest_open(&t, ITEST_TOKEN, &err), FCB_OK, "open: %s", err.message);
    create_runtime_pod("foreign-crash", "crash:latest", "{}");
    itest_create_pod(&t, "other-ns", "fakecloud-lambda-elsewhere", OURS);
    cr_assert_eq(kubesim_reset_stats(t.sim), 0);
    /* Even once it has exited, a Pod without our label is GONE, never EXITED. */
    usleep(300 * 1000);
    static const char *const gone[] = {"pod/default/never-existed", "pod/default/foreign-crash",
                                       "pod/other-ns/fakecloud-lambda-elsewhere"};
    for (size_t i = 0; i < sizeof gone / sizeof gone[0]; i++) {
        fcb_instance_status st = status_of(gone[i]);
        cr_expect_eq(st.state, FCB_INSTANCE_GONE, "%s: state %d", gone[i], st.state);
        cr_expect_eq(st.exit_code, 0, "%s", gone[i]);
        cr_expect_str_eq(st.reason, "", "%s", gone[i]);
    }

    fcb_instance_status st = {.size = sizeof st};
    cr_assert_eq(t.ops->status(t.backend, "container/abc", &st, &err), FCB_ERR_INVALID_ARGUMENT);
    cr_assert(strstr(err.message, "container/abc") != NULL, "%s", err.message);
    itest_close(&t);
}

/* ------------------------------------------------------------ logs */

/* What on_data received. */
typedef struct log_capture {
    pthread_mutex_t lock;
    char text[16384];
    size_t len;
    unsigned chunks;
    unsigned stop_after; /* return 1 after this many chunks; 0 = never */
    int bad_stream;      /* a chunk not FCB_LOG_COMBINED */
} log_capture;

static int on_data(void *ctx, fcb_log_stream stream, const char *data, size_t len)
{
    log_capture *c = ctx;
    pthread_mutex_lock(&c->lock);
    if (stream != FCB_LOG_COMBINED)
        c->bad_stream++;
    size_t n = len < sizeof c->text - 1 - c->len ? len : sizeof c->text - 1 - c->len;
    memcpy(c->text + c->len, data, n);
    c->len += n;
    c->text[c->len] = '\0';
    c->chunks++;
    int stop = c->stop_after != 0 && c->chunks >= c->stop_after;
    pthread_mutex_unlock(&c->lock);
    return stop;
}

static bool capture_has(log_capture *c, const char *needle)
{
    pthread_mutex_lock(&c->lock);
    bool has = strstr(c->text, needle) != NULL;
    pthread_mutex_unlock(&c->lock);
    return has;
}

static void capture_init(log_capture *c)
{
    memset(c, 0, sizeof *c);
    pthread_mutex_init(&c->lock, NULL);
}

static fcb_logs_request logs_request(log_capture *c)
{
    return (fcb_logs_request){.size = sizeof(fcb_logs_request), .sink_ctx = c, .on_data = on_data};
}

static int read_logs(const char *handle, fcb_logs_request *req, fcb_error *err)
{
    capture_init(req->sink_ctx);
    return t.ops->logs(t.backend, handle, req, err);
}

static int plugin_requests(const char *verb)
{
    return itest_plugin_requests(&t, verb);
}

/* Launch one function and invoke it once (START/END/REPORT in its log). */
static void launch_invoked(fcb_instance *inst)
{
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(itest_open(&t, ITEST_TOKEN, &err), FCB_OK, "open: %s", err.message);
    fcb_function fn = itest_zip_function("logs-fn");
    fcb_launch_request req = itest_request(&fn, "d1");
    inst->size = sizeof *inst;
    cr_assert_eq(t.ops->launch(t.backend, &req, inst, &err), FCB_OK, "launch: %s", err.message);
    json_object *echo = NULL;
    cr_assert_eq(itest_invoke(inst->endpoint, "{\"a\":1}", &echo), 200);
    json_object_put(echo);
}

Test(k8s_observe, logs_tail_since_max_bytes_and_stop, .fini = stop, .timeout = 60)
{
    itest_start(&t, "observe_logs", NULL);
    fcb_instance inst;
    launch_invoked(&inst);
    cr_assert_not_null(t.ops->logs);
    cr_assert(t.plugin->descriptor->capabilities & FCB_CAP_LOGS);
    cr_assert(t.plugin->descriptor->capabilities & FCB_CAP_LOGS_FOLLOW);
    log_capture cap;
    fcb_error err = FCB_ERROR_INIT;

    fcb_logs_request req = logs_request(&cap);
    cr_assert_eq(read_logs(inst.handle, &req, &err), FCB_OK, "%s", err.message);
    cr_assert(strstr(cap.text, "START RIE") != NULL, "%s", cap.text);
    cr_assert(strstr(cap.text, "END RequestId") != NULL, "%s", cap.text);
    cr_assert_eq(cap.bad_stream, 0);
    size_t all = cap.len;

    req = logs_request(&cap);
    req.tail_lines = 1;
    cr_assert_eq(read_logs(inst.handle, &req, &err), FCB_OK, "%s", err.message);
    cr_assert(strncmp(cap.text, "REPORT RequestId", 16) == 0, "%s", cap.text);
    cr_assert_eq(strchr(cap.text, '\n'), cap.text + cap.len - 1, "one line: %s", cap.text);

    req = logs_request(&cap);
    req.max_bytes = 10;
    cr_assert_eq(read_logs(inst.handle, &req, &err), FCB_OK, "%s", err.message);
    cr_assert_eq(cap.len, 10, "%zu of %zu bytes", cap.len, all);

    req = logs_request(&cap);
    req.since_unix_ms = ((int64_t)time(NULL) + 3600) * 1000; /* an hour ahead: nothing yet */
    cr_assert_eq(read_logs(inst.handle, &req, &err), FCB_OK, "%s", err.message);
    cr_assert_eq(cap.len, 0, "%s", cap.text);
    req.since_unix_ms = ((int64_t)time(NULL) - 3600) * 1000;
    cr_assert_eq(read_logs(inst.handle, &req, &err), FCB_OK, "%s", err.message);
    cr_assert_eq(cap.len, all);

    req = logs_request(&cap);
    req.since_unix_ms = -1;
    cr_assert_eq(read_logs(inst.handle, &req, &err), FCB_ERR_INVALID_ARGUMENT);
    cr_assert(strstr(err.message, "since_unix_ms") != NULL, "%s", err.message);
    req = logs_request(&cap);
    req.on_data = NULL;
    cr_assert_eq(read_logs(inst.handle, &req, &err), FCB_ERR_INVALID_ARGUMENT);
    cr_assert(strstr(err.message, "on_data") != NULL, "%s", err.message);
    itest_close(&t);
}

Test(k8s_observe, logs_refuse_foreign_and_gone_pods_without_reading_them, .fini = stop,
     .timeout = 60)
{
    itest_start(&t, "observe_logs_foreign", NULL);
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(itest_open(&t, ITEST_TOKEN, &err), FCB_OK, "open: %s", err.message);
    create_runtime_pod("foreign", "crash:latest", "{}");
    itest_create_pod(&t, "other-ns", "fakecloud-lambda-elsewhere", OURS);
    static const char *const refused[] = {"pod/default/foreign", "pod/default/never-existed",
                                          "pod/other-ns/fakecloud-lambda-elsewhere"};
    log_capture cap;
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        fcb_logs_request req = logs_request(&cap);
        int rc = read_logs(refused[i], &req, &err);
        cr_expect_eq(rc, FCB_ERR_NOT_FOUND, "%s: %s (%s)", refused[i], fcb_status_name(rc),
                     err.message);
        cr_expect_eq(cap.chunks, 0, "%s", refused[i]);
    }
    cr_assert_eq(plugin_requests("get pods/log"), 0, "a foreign Pod's log was read");
    itest_close(&t);
}

/* A follow running in its own thread. */
typedef struct follower {
    pthread_t thread;
    log_capture cap;
    fcb_logs_request req;
    atomic_int cancel;
    int rc;
    fcb_error err;
    char handle[256];
    atomic_bool done;
} follower;

static int follow_cancelled(void *ctx)
{
    return atomic_load((atomic_int *)ctx);
}

static void *follow_main(void *arg)
{
    follower *f = arg;
    f->rc = t.ops->logs(t.backend, f->handle, &f->req, &f->err);
    atomic_store(&f->done, true);
    return NULL;
}

static void follow_start(follower *f, const char *handle)
{
    memset(f, 0, sizeof *f);
    capture_init(&f->cap);
    f->req = logs_request(&f->cap);
    f->req.follow = 1;
    f->req.cancel = (fcb_cancel){.ctx = &f->cancel, .cancelled = follow_cancelled};
    f->err = (fcb_error)FCB_ERROR_INIT;
    snprintf(f->handle, sizeof f->handle, "%s", handle);
    cr_assert_eq(pthread_create(&f->thread, NULL, follow_main, f), 0);
}

/* Wait (bounded: 10 s) until the follower's text contains NEEDLE. */
static void follow_wait_for(follower *f, const char *needle)
{
    for (int i = 0; i < 200 && !capture_has(&f->cap, needle) && !atomic_load(&f->done); i++)
        usleep(50 * 1000);
    cr_assert(capture_has(&f->cap, needle), "no %s in: %s (rc %d %s)", needle, f->cap.text, f->rc,
              f->err.message);
}

Test(k8s_observe, logs_follow_streams_new_lines_until_cancel, .fini = stop, .timeout = 60)
{
    itest_start(&t, "observe_follow", NULL);
    fcb_instance inst;
    launch_invoked(&inst);
    follower f;
    follow_start(&f, inst.handle);
    follow_wait_for(&f, "END RequestId");
    unsigned before = f.cap.chunks;

    json_object *echo = NULL;
    cr_assert_eq(itest_invoke(inst.endpoint, "{\"second\":2}", &echo), 200);
    json_object_put(echo);
    /* The second invocation's REPORT arrives while the follow is open. */
    for (int i = 0; i < 200; i++) {
        pthread_mutex_lock(&f.cap.lock);
        char *first = strstr(f.cap.text, "REPORT RequestId");
        bool two = first != NULL && strstr(first + 1, "REPORT RequestId") != NULL;
        pthread_mutex_unlock(&f.cap.lock);
        if (two)
            break;
        usleep(50 * 1000);
    }
    cr_assert(f.cap.chunks > before, "no new chunk");
    cr_assert(!atomic_load(&f.done), "the follow ended on its own: %s", f.err.message);

    double t0 = itest_now_ms();
    atomic_store(&f.cancel, 1);
    pthread_join(f.thread, NULL);
    double took = itest_now_ms() - t0;
    cr_assert_eq(f.rc, FCB_ERR_CANCELLED, "%s (%s)", fcb_status_name(f.rc), f.err.message);
    printf("logs follow: cancel to return %.0f ms, %u chunks\n", took, f.cap.chunks);
    cr_assert(took < 1000, "cancel took %.0f ms", took);
    itest_close(&t);
}

Test(k8s_observe, logs_follow_stops_when_on_data_says_so_and_on_close, .fini = stop, .timeout = 60)
{
    itest_start(&t, "observe_follow_close", NULL);
    fcb_instance inst;
    launch_invoked(&inst);

    log_capture cap;
    fcb_error err = FCB_ERROR_INIT;
    fcb_logs_request req = logs_request(&cap);
    req.follow = 1;
    capture_init(&cap);
    cap.stop_after = 1;
    cr_assert_eq(t.ops->logs(t.backend, inst.handle, &req, &err), FCB_OK, "%s", err.message);
    cr_assert_eq(cap.chunks, 1);

    follower f;
    follow_start(&f, inst.handle);
    follow_wait_for(&f, "START RIE");
    double t0 = itest_now_ms();
    itest_close(&t); /* close cancels the follow, waits for it, then 0 bytes outstanding */
    double took = itest_now_ms() - t0;
    pthread_join(f.thread, NULL);
    cr_assert_eq(f.rc, FCB_ERR_CANCELLED, "%s (%s)", fcb_status_name(f.rc), f.err.message);
    printf("logs follow: close with a follow open %.0f ms\n", took);
    cr_assert(took < 5000, "close took %.0f ms", took);
}

/* ------------------------------------------------------------ stats */

typedef struct metric_row {
    char name[64];
    char label[64];
    int kind;
    double value;
    uint64_t count;
} metric_row;

typedef struct metric_set {
    metric_row rows[64];
    size_t n;
} metric_set;

static void on_metric(void *ctx, const fcb_metric *m)
{
    metric_set *set = ctx;
    cr_assert_lt(set->n, 64);
    metric_row *r = &set->rows[set->n++];
    snprintf(r->name, sizeof r->name, "%s", m->name);
    snprintf(r->label, sizeof r->label, "%s%s%s", m->label_key != NULL ? m->label_key : "",
             m->label_key != NULL ? "=" : "", m->label_value != NULL ? m->label_value : "");
    r->kind = m->kind;
    r->value = m->value;
    r->count = m->count;
}

static metric_set stats_now(void)
{
    metric_set set = {0};
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(t.ops->stats(t.backend, &set, on_metric, &err), FCB_OK, "%s", err.message);
    return set;
}

/* The row NAME{LABEL} (LABEL "" = none), or NULL. */
static const metric_row *metric(const metric_set *set, const char *name, const char *label)
{
    for (size_t i = 0; i < set->n; i++)
        if (strcmp(set->rows[i].name, name) == 0 && strcmp(set->rows[i].label, label) == 0)
            return &set->rows[i];
    return NULL;
}

static double metric_value(const metric_set *set, const char *name, const char *label)
{
    const metric_row *r = metric(set, name, label);
    cr_assert_not_null(r, "no metric %s{%s}", name, label);
    return r->value;
}

Test(k8s_observe, stats_count_launches_failures_terminations_requests_and_phases, .fini = stop,
     .timeout = 60)
{
    itest_start(&t, "observe_stats", NULL);
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(itest_open(&t, ITEST_TOKEN, &err), FCB_OK, "open: %s", err.message);
    cr_assert_not_null(t.ops->stats);
    cr_assert(t.plugin->descriptor->capabilities & FCB_CAP_STATS);
    metric_set s0 = stats_now();
    cr_assert_eq(metric_value(&s0, "launches_total", ""), 0);
    cr_assert_null(metric(&s0, "launch_failures_total", "reason=FCB_ERR_START_FAILED"));

    fcb_function fn = itest_zip_function("stats-fn");
    fcb_launch_request req = itest_request(&fn, "d1");
    fcb_instance inst = {.size = sizeof inst};
    double t0 = itest_now_ms();
    cr_assert_eq(t.ops->launch(t.backend, &req, &inst, &err), FCB_OK, "launch: %s", err.message);
    double launch_ms = itest_now_ms() - t0;

    fcb_function bad = itest_zip_function("stats-bad");
    bad.runtime = "cobol1";
    fcb_launch_request bad_req = itest_request(&bad, "d1");
    fcb_instance bad_inst = {.size = sizeof bad_inst};
    int bad_rc = t.ops->launch(t.backend, &bad_req, &bad_inst, &err);
    cr_assert_eq(bad_rc, FCB_ERR_UNSUPPORTED, "%s: %s", fcb_status_name(bad_rc), err.message);

    static const char *const cmd[] = {"app.handler"};
    fcb_function crash = {.size = sizeof crash,
                          .function_name = "crash",
                          .package_type = FCB_PACKAGE_IMAGE,
                          .image_uri = "crash:latest",
                          .image_command = cmd,
                          .n_image_command = 1};
    fcb_launch_request crash_req = itest_request(&crash, "c1");
    fcb_instance crash_inst = {.size = sizeof crash_inst};
    cr_assert_eq(t.ops->launch(t.backend, &crash_req, &crash_inst, &err), FCB_ERR_START_FAILED,
                 "%s", err.message);
    cr_assert_eq(t.ops->terminate(t.backend, inst.handle, &err), FCB_OK, "%s", err.message);

    metric_set s1 = stats_now();
    cr_assert_eq(metric_value(&s1, "launches_total", ""), 3);
    cr_assert_eq(metric_value(&s1, "launch_failures_total", "reason=FCB_ERR_UNSUPPORTED"), 1);
    cr_assert_eq(metric_value(&s1, "launch_failures_total", "reason=FCB_ERR_START_FAILED"), 1);
    cr_assert_eq(metric_value(&s1, "terminations_total", ""), 1);
    double phases = 0;
    static const char *const names[] = {"phase=create", "phase=running", "phase=ready"};
    for (size_t i = 0; i < 3; i++) {
        const metric_row *r = metric(&s1, "launch_phase_ms", names[i]);
        cr_assert_not_null(r, "%s", names[i]);
        cr_assert_eq(r->kind, FCB_METRIC_SUM_MS);
        cr_assert_eq(r->count, 1, "only the successful launch: %s", names[i]);
        phases += r->value;
    }
    cr_assert(phases <= launch_ms + 1, "phases %.0f ms > the launch's %.0f ms", phases, launch_ms);
    cr_assert(phases > 0, "the launch took no time at all");

    /* status is one GET: one more request; a 429 answer is one retry more. */
    double requests = metric_value(&s1, "api_requests_total", "");
    double retries = metric_value(&s1, "api_retries_total", "");
    cr_assert(requests > 0);
    fcb_instance_status st = {.size = sizeof st};
    cr_assert_eq(t.ops->status(t.backend, "pod/default/never-existed", &st, &err), FCB_OK);
    metric_set s2 = stats_now();
    cr_assert_eq(metric_value(&s2, "api_requests_total", ""), requests + 1);
    cr_assert_eq(kubesim_set_faults(t.sim, "{\"throttle_next\":1,\"throttle_retry_after\":0}"), 0);
    cr_assert_eq(t.ops->status(t.backend, "pod/default/never-existed", &st, &err), FCB_OK, "%s",
                 err.message);
    metric_set s3 = stats_now();
    cr_assert_eq(metric_value(&s3, "api_requests_total", ""), requests + 3);
    cr_assert_eq(metric_value(&s3, "api_retries_total", ""), retries + 1);
    itest_close(&t);
}
