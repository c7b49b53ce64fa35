/*
 * Integration tests of the docker backend's ABI 1.1 observation ops (status,
 * logs, stats) against the private dockerd (run under with-dockerd.sh), the
 * plugin loaded through the mock host; every test checks that no byte is
 * left allocated after close().
 */
#include "docker_fixture.h"
#include "engine_http.h"
#include "loader.h"
#include "mock_host.h"
#include "zip_fixture.h"

#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static docker_fixture fx;

static const char *docker_socket(void)
{
    return docker_fixture_socket();
}

static void setup(void)
{
    docker_fixture_open(&fx);
    cr_assert(FCB_HAS_MEMBER(fx.ops, fcb_backend_ops, stats) && fx.ops->status != NULL &&
              fx.ops->logs != NULL && fx.ops->stats != NULL);
}

static void teardown(void)
{
    docker_fixture_teardown(&fx);
}

TestSuite(docker_observe, .init = setup, .fini = teardown, .timeout = 60);

/* ---- helpers ----------------------------------------------------------- */

static long engine(const char *method, const char *path, const char *body, char **out)
{
    return engine_http_api(docker_socket(), method, path, body, out);
}

static char *create_container(const char *name, const char *labels)
{
    return engine_http_create_container(docker_socket(), name, labels);
}

static void remove_container(const char *name)
{
    char path[160];
    snprintf(path, sizeof path, "/containers/%s?force=1", name);
    engine("DELETE", path, NULL, NULL);
}

#define OURS "{\"fakecloud-managed-by\":\"fakecloud\",\"fakecloud-instance\":\"another0\"}"

static fcb_instance_status status_of(const char *handle)
{
    fcb_instance_status st;
    memset(&st, 0xAB, sizeof st);
    st.size = sizeof st;
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(fx.ops->status(fx.backend, handle, &st, &err), FCB_OK, "status %s: %s", handle,
                 err.message);
    return st;
}

/* The crash image's container NAME of ours, started and waited until it exited (code 3). */
static char *crashed_container(const char *name, char handle[256])
{
    char *id = create_container(name, OURS);
    char path[160];
    snprintf(path, sizeof path, "/containers/%s/start", id);
    cr_assert_eq(engine("POST", path, NULL, NULL), 204);
    snprintf(path, sizeof path, "/containers/%s/wait", id);
    cr_assert_eq(engine("POST", path, NULL, NULL), 200);
    snprintf(handle, 256, "container/%s", id);
    return id;
}

static int launch_zip(const char *name, fcb_instance *inst)
{
    size_t len;
    zip_fixture_entry e[] = {{.name = "app.sh", .data = "echo \"event was $(cat)\"\n"}};
    void *zip = zip_fixture_make(e, 1, &len);
    cr_assert_not_null(zip);
    fcb_function fn = {.size = sizeof fn,
                       .function_name = name,
                       .function_arn = "arn:aws:lambda:us-east-1:123456789012:function:x",
                       .runtime = "python3.12",
                       .handler = "app.handler",
                       .package_type = FCB_PACKAGE_ZIP};
    fcb_launch_request req = {
        .size = sizeof req, .function = &fn, .code = {zip, len}, .deploy_id = "d1"};
    memset(inst, 0, sizeof *inst);
    inst->size = sizeof *inst;
    fcb_error err = FCB_ERROR_INIT;
    int rc = fx.ops->launch(fx.backend, &req, inst, &err);
    zip_fixture_free(zip);
    return rc;
}

/* What a logs() call delivered. */
typedef struct logs_seen {
    char out[4096], errs[4096];
    size_t out_len, err_len, calls, total;
    int stop_after; /* > 0: return non-zero from this call on */
} logs_seen;

static int logs_collect(void *ctx, fcb_log_stream stream, const char *data, size_t len)
{
    logs_seen *s = ctx;
    s->calls++;
    s->total += len;
    char *buf = stream == FCB_LOG_STDERR ? s->errs : s->out;
    size_t *n = stream == FCB_LOG_STDERR ? &s->err_len : &s->out_len;
    size_t room = sizeof s->out - 1 - *n;
    size_t k = len < room ? len : room;
    memcpy(buf + *n, data, k);
    *n += k;
    buf[*n] = '\0';
    return s->stop_after > 0 && s->calls >= (size_t)s->stop_after;
}

static fcb_logs_request logs_request(logs_seen *seen)
{
    fcb_logs_request req = {.size = sizeof req, .sink_ctx = seen, .on_data = logs_collect};
    return req;
}

static uint64_t now_ms(void)
{
    return docker_fixture_now_ms();
}

/* ---- status ------------------------------------------------------------ */

Test(docker_observe, status_reports_running_exited_with_code_and_gone_after_terminate)
{
    fcb_instance inst;
    cr_assert_eq(launch_zip("status-fn", &inst), FCB_OK);
    fcb_instance_status st = status_of(inst.handle);
    cr_expect_eq(st.state, FCB_INSTANCE_RUNNING, "state %d", st.state);
    cr_expect_eq(st.exit_code, 0);
    cr_expect_str_empty(st.reason);
    char path[160];
    snprintf(path, sizeof path, "/containers/%s/kill?signal=KILL", inst.handle + 10);
    cr_assert_eq(engine("POST", path, NULL, NULL), 204);
    snprintf(path, sizeof path, "/containers/%s/wait", inst.handle + 10);
    cr_assert_eq(engine("POST", path, NULL, NULL), 200);
    st = status_of(inst.handle);
    cr_expect_eq(st.state, FCB_INSTANCE_EXITED, "state %d", st.state);
    cr_expect_eq(st.exit_code, 137);
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(fx.ops->terminate(fx.backend, inst.handle, &err), FCB_OK, "%s", err.message);
    st = status_of(inst.handle);
    cr_expect_eq(st.state, FCB_INSTANCE_GONE, "state %d", st.state);
}

Test(docker_observe, status_of_a_crashed_container_says_exited_with_its_exit_code)
{
    char handle[256];
    char *id = crashed_container("fcb-obs-crashed", handle);
    fcb_instance_status st = status_of(handle);
    cr_expect_eq(st.state, FCB_INSTANCE_EXITED, "state %d", st.state);
    cr_expect_eq(st.exit_code, 3);
    remove_container(id);
    free(id);
}

Test(docker_observe, status_is_starting_when_created_and_gone_for_containers_not_ours)
{
    char *ours = create_container("fcb-obs-created", OURS);
    char *plain = create_container("fcb-obs-unlabelled", "{}");
    char *other = create_container("fcb-obs-other", "{\"fakecloud-managed-by\":\"someone-else\"}");
    char handle[256];
    snprintf(handle, sizeof handle, "container/%s", ours);
    cr_expect_eq(status_of(handle).state, FCB_INSTANCE_STARTING);
    const char *foreign[] = {plain, other, "fcb-obs-unlabelled", "0123456789abcdef"};
    for (size_t i = 0; i < 4; i++) {
        snprintf(handle, sizeof handle, "container/%s", foreign[i]);
        fcb_instance_status st = status_of(handle);
        cr_expect_eq(st.state, FCB_INSTANCE_GONE, "%s: state %d", handle, st.state);
        cr_expect_eq(st.exit_code, 0);
    }
    cr_expect_eq(engine("GET", "/containers/fcb-obs-unlabelled/json", NULL, NULL), 200);
    remove_container(ours);
    remove_container(plain);
    remove_container(other);
    free(ours);
    free(plain);
    free(other);
}

Test(docker_observe, status_refuses_a_bad_handle_and_a_short_out_struct)
{
    fcb_instance_status st = {.size = sizeof st};
    fcb_error err = FCB_ERROR_INIT;
    cr_expect_eq(fx.ops->status(fx.backend, "pod/x", &st, &err), FCB_ERR_INVALID_ARGUMENT);
    cr_expect(strstr(err.message, "handle") != NULL, "%s", err.message);
    st.size = 8;
    cr_expect_eq(fx.ops->status(fx.backend, "container/abc", &st, &err), FCB_ERR_INVALID_ARGUMENT);
    cr_expect(strstr(err.message, "status: out") != NULL, "%s", err.message);
}

/* ---- logs -------------------------------------------------------------- */

Test(docker_observe, logs_decode_stdout_and_stderr_apart)
{
    char handle[256];
    char *id = crashed_container("fcb-obs-logs", handle);
    logs_seen seen = {0};
    fcb_logs_request req = logs_request(&seen);
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(fx.ops->logs(fx.backend, handle, &req, &err), FCB_OK, "%s", err.message);
    cr_expect_str_eq(seen.out, "starting\n");
    cr_expect_str_eq(seen.errs, "fatal: runtime crashed on purpose\n");
    /* tail=1: one line, the last written (which stream is a race inside the container). */
    logs_seen last = {0};
    req = logs_request(&last);
    req.tail_lines = 1;
    cr_assert_eq(fx.ops->logs(fx.backend, handle, &req, &err), FCB_OK, "%s", err.message);
    cr_expect(
        (strcmp(last.out, "starting\n") == 0 && last.err_len == 0) ||
            (strcmp(last.errs, "fatal: runtime crashed on purpose\n") == 0 && last.out_len == 0),
        "tail=1 gave out '%s' err '%s'", last.out, last.errs);
    /* since a time after the output: nothing. */
    logs_seen none = {0};
    req = logs_request(&none);
    req.since_unix_ms = (int64_t)time(NULL) * 1000 + 3600 * 1000;
    cr_assert_eq(fx.ops->logs(fx.backend, handle, &req, &err), FCB_OK, "%s", err.message);
    cr_expect_eq(none.total, 0, "since the future delivered %zu bytes", none.total);
    remove_container(id);
    free(id);
}

Test(docker_observe, logs_stop_at_max_bytes_and_when_the_sink_says_so)
{
    char handle[256];
    char *id = crashed_container("fcb-obs-bounded", handle);
    logs_seen seen = {0};
    fcb_logs_request req = logs_request(&seen);
    req.max_bytes = 5;
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(fx.ops->logs(fx.backend, handle, &req, &err), FCB_OK, "%s", err.message);
    cr_expect_eq(seen.total, 5);
    /* The first 5 bytes of whichever line the container wrote first. */
    cr_expect(strcmp(seen.out, "start") == 0 || strcmp(seen.errs, "fatal") == 0,
              "max_bytes 5 gave out '%s' err '%s'", seen.out, seen.errs);
    logs_seen one = {.stop_after = 1};
    req = logs_request(&one);
    cr_assert_eq(fx.ops->logs(fx.backend, handle, &req, &err), FCB_OK, "%s", err.message);
    cr_expect_eq(one.calls, 1, "on_data called %zu times after asking to stop", one.calls);
    remove_container(id);
    free(id);
}

Test(docker_observe, logs_refuse_containers_not_ours_and_gone_ones)
{
    char *plain = create_container("fcb-obs-logs-foreign", "{}");
    char handle[256];
    snprintf(handle, sizeof handle, "container/%s", plain);
    logs_seen seen = {0};
    fcb_logs_request req = logs_request(&seen);
    fcb_error err = FCB_ERROR_INIT;
    cr_expect_eq(fx.ops->logs(fx.backend, handle, &req, &err), FCB_ERR_NOT_FOUND);
    cr_expect(strstr(err.message, "not managed by fakecloud") != NULL, "%s", err.message);
    cr_expect_eq(fx.ops->logs(fx.backend, "container/0123456789abcdef", &req, &err),
                 FCB_ERR_NOT_FOUND);
    cr_expect_eq(fx.ops->logs(fx.backend, "nope", &req, &err), FCB_ERR_INVALID_ARGUMENT);
    req.on_data = NULL;
    cr_expect_eq(fx.ops->logs(fx.backend, handle, &req, &err), FCB_ERR_INVALID_ARGUMENT);
    cr_expect(strstr(err.message, "on_data") != NULL, "%s", err.message);
    cr_expect_eq(seen.calls, 0);
    remove_container(plain);
    free(plain);
}

/* A follow on another thread; the test fires its cancel or closes the backend. */
typedef struct follow_run {
    const char *handle;
    atomic_int cancel;
    logs_seen seen;
    int rc;
    fcb_error err;
    uint64_t ended_ms;
} follow_run;

static int follow_cancelled(void *ctx)
{
    return atomic_load(&((follow_run *)ctx)->cancel);
}

static void *follow_thread(void *arg)
{
    follow_run *f = arg;
    fcb_logs_request req = logs_request(&f->seen);
    req.follow = 1;
    req.cancel.ctx = f;
    req.cancel.cancelled = follow_cancelled;
    f->err = (fcb_error)FCB_ERROR_INIT;
    f->rc = fx.ops->logs(fx.backend, f->handle, &req, &f->err);
    f->ended_ms = now_ms();
    return NULL;
}

/* Start a follow of a launched runtime and wait until its first line arrived. */
static void follow_start(follow_run *f, pthread_t *t, fcb_instance *inst)
{
    cr_assert_eq(launch_zip("follow-fn", inst), FCB_OK);
    memset(f, 0, sizeof *f);
    f->handle = inst->handle;
    cr_assert_eq(pthread_create(t, NULL, follow_thread, f), 0);
    for (int i = 0; i < 100 && strstr(f->seen.out, "rie: listening") == NULL; i++)
        usleep(50 * 1000);
    cr_assert(strstr(f->seen.out, "rie: listening") != NULL, "follow saw: '%s'", f->seen.out);
    usleep(300 * 1000);
    cr_assert_eq(f->ended_ms, 0, "a follow ended by itself: %s", f->err.message);
}

Test(docker_observe, logs_follow_ends_promptly_when_its_cancel_fires)
{
    follow_run f;
    pthread_t t;
    fcb_instance inst;
    follow_start(&f, &t, &inst);
    uint64_t t0 = now_ms();
    atomic_store(&f.cancel, 1);
    pthread_join(t, NULL);
    uint64_t ms = f.ended_ms - t0;
    cr_log_info("follow cancelled in %llu ms", (unsigned long long)ms);
    cr_expect_lt(ms, 1000, "cancel took %llu ms", (unsigned long long)ms);
    cr_expect_eq(f.rc, FCB_ERR_CANCELLED, "%s", f.err.message);
    fcb_error err = FCB_ERROR_INIT;
    cr_expect_eq(fx.ops->terminate(fx.backend, inst.handle, &err), FCB_OK, "%s", err.message);
}

Test(docker_observe, close_cancels_a_follow_promptly)
{
    follow_run f;
    pthread_t t;
    fcb_instance inst;
    follow_start(&f, &t, &inst);
    char id[128];
    snprintf(id, sizeof id, "%s", inst.handle + 10);
    uint64_t t0 = now_ms();
    fx.ops->close(fx.backend);
    uint64_t close_ms = now_ms() - t0;
    fx.backend = NULL;
    pthread_join(t, NULL);
    cr_log_info("close with a follow in flight: %llu ms", (unsigned long long)close_ms);
    cr_expect_lt(close_ms, 1000, "close took %llu ms", (unsigned long long)close_ms);
    cr_expect_eq(f.rc, FCB_ERR_CANCELLED, "%s", f.err.message);
    remove_container(id);
}

/* ---- stats ------------------------------------------------------------- */

typedef struct stats_seen {
    double launches, terminations, requests, fail_ready, fail_image;
    double pull_ms, ready_ms;
    uint64_t pull_n, ready_n;
    size_t n;
} stats_seen;

static void stats_collect(void *ctx, const fcb_metric *m)
{
    stats_seen *s = ctx;
    s->n++;
    const char *lv = m->label_value != NULL ? m->label_value : "";
    if (strcmp(m->name, "launches_total") == 0)
        s->launches = m->value;
    else if (strcmp(m->name, "terminations_total") == 0)
        s->terminations = m->value;
    else if (strcmp(m->name, "engine_requests_total") == 0)
        s->requests = m->value;
    else if (strcmp(m->name, "launch_failures_total") == 0 && strcmp(lv, "ready") == 0)
        s->fail_ready = m->value;
    else if (strcmp(m->name, "launch_failures_total") == 0 && strcmp(lv, "image") == 0)
        s->fail_image = m->value;
    else if (strcmp(m->name, "launch_phase_ms") == 0 && strcmp(lv, "pull") == 0)
        s->pull_ms = m->value, s->pull_n = m->count;
    else if (strcmp(m->name, "launch_phase_ms") == 0 && strcmp(lv, "ready") == 0)
        s->ready_ms = m->value, s->ready_n = m->count;
}

Test(docker_observe, stats_count_launches_failures_by_reason_terminations_and_phases)
{
    stats_seen before = {0};
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(fx.ops->stats(fx.backend, &before, stats_collect, &err), FCB_OK);
    cr_expect_eq(before.launches, 0);
    fcb_instance inst;
    cr_assert_eq(launch_zip("stats-fn", &inst), FCB_OK);
    cr_assert_eq(fx.ops->terminate(fx.backend, inst.handle, &err), FCB_OK, "%s", err.message);
    fcb_function crash = {.size = sizeof crash,
                          .function_name = "stats-crash",
                          .package_type = FCB_PACKAGE_IMAGE,
                          .image_uri = "fakecloud-test/crash:1"};
    fcb_launch_request req = {.size = sizeof req, .function = &crash, .deploy_id = "d1"};
    cr_assert_eq(fx.ops->launch(fx.backend, &req, &inst, &err), FCB_ERR_START_FAILED);
    stats_seen s = {0};
    cr_assert_eq(fx.ops->stats(fx.backend, &s, stats_collect, &err), FCB_OK);
    cr_log_info("%zu metrics; pull %.0f ms over %llu, ready %.0f ms over %llu, %.0f requests", s.n,
                s.pull_ms, (unsigned long long)s.pull_n, s.ready_ms, (unsigned long long)s.ready_n,
                s.requests);
    cr_expect_eq(s.launches, 1);
    cr_expect_eq(s.terminations, 1);
    cr_expect_eq(s.fail_ready, 1);
    cr_expect_eq(s.fail_image, 0);
    cr_expect_eq(s.pull_n, 2);
    cr_expect_eq(s.ready_n, 2);
    cr_expect_gt(s.ready_ms, 0);
    cr_expect_gt(s.requests, before.requests + 5);
}

/* Architectures: tests/docker/test_docker_ops.c (docker_arch). */

/* ---- allocation failures ----------------------------------------------- */

typedef enum sweep_op { SWEEP_STATUS, SWEEP_LOGS, SWEEP_STATS } sweep_op;

static void count_metric(void *ctx, const fcb_metric *m)
{
    (void)m;
    (*(size_t *)ctx)++;
}

static int sweep_run(sweep_op op, const char *handle, fcb_error *err)
{
    if (op == SWEEP_STATUS) {
        fcb_instance_status st = {.size = sizeof st};
        return fx.ops->status(fx.backend, handle, &st, err);
    }
    if (op == SWEEP_LOGS) {
        logs_seen seen = {0};
        fcb_logs_request req = logs_request(&seen);
        return fx.ops->logs(fx.backend, handle, &req, err);
    }
    size_t n = 0;
    return fx.ops->stats(fx.backend, &n, count_metric, err);
}

/* Fail the 1st, 2nd, ... plugin allocation of OP until it runs without one. */
static size_t sweep(sweep_op op, const char *handle)
{
    for (size_t n = 1; n < 500; n++) {
        size_t base = mock_host_outstanding_bytes(fx.mh);
        size_t failed = mock_host_failed_allocs(fx.mh);
        fcb_error err = FCB_ERROR_INIT;
        mock_host_fail_alloc(fx.mh, n);
        int rc = sweep_run(op, handle, &err);
        mock_host_fail_alloc(fx.mh, 0);
        bool hit = mock_host_failed_allocs(fx.mh) > failed;
        cr_assert_eq(mock_host_outstanding_bytes(fx.mh), base,
                     "op %d, failure point %zu: %zu bytes left", (int)op, n,
                     mock_host_outstanding_bytes(fx.mh) - base);
        if (!hit) {
            cr_assert_eq(rc, FCB_OK, "op %d without an injected failure: %s", (int)op, err.message);
            return n - 1;
        }
        if (rc != FCB_OK) {
            cr_assert(rc < 0 && err.code == rc && err.message[0] != '\0',
                      "op %d, failure point %zu: unclean error %d '%s'", (int)op, n, rc,
                      err.message);
        }
    }
    cr_assert_fail("op %d: still failing after 500 points", (int)op);
    return 0;
}

Test(docker_observe, status_logs_and_stats_survive_every_allocation_failure)
{
    char handle[256];
    char *id = crashed_container("fcb-obs-sweep", handle);
    size_t st = sweep(SWEEP_STATUS, handle);
    size_t lg = sweep(SWEEP_LOGS, handle);
    size_t sa = sweep(SWEEP_STATS, handle);
    cr_log_info("allocation failure points: status %zu, logs %zu, stats %zu", st, lg, sa);
    cr_expect_gt(st, 0);
    cr_expect_gt(lg, 0);
    remove_container(id);
    free(id);
}
