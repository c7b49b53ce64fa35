/*
 * The docker backend while its dockerd is restarted mid-run (issue:
 * reliability, "dockerd restarted mid-run").
 *
 * Runs under tests/docker/with-dockerd.sh, whose FCBD_RESTART script stops
 * the private dockerd (SIGTERM: without live-restore its containers die
 * with it) and/or starts it again with the same arguments on the same
 * socket. The plugin is loaded with loader_load through the mock host, as a
 * host does; every case prints what it tried, and checks that no byte stays
 * allocated after close() and that no container of ours is left.
 */
#include "rel_docker.h"

#include <loader.h>
#include <zip_fixture.h>

#include <criterion/criterion.h>
#include <curl/curl.h>

#include <errno.h>
#include <pthread.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define RESTART_DEADLINE_MS 15000u

/* One loaded plugin with one open backend instance. */
typedef struct restart_backend {
    mock_host *mh;
    loader_plugin *plugin;
    fcb_backend *backend;
    char instance[40]; /* fakecloud-instance label value, from the open log line */
} restart_backend;

static fcb_function fn;
static fcb_launch_request req;
static void *code_zip;
static size_t code_zip_len;

/* Run "$FCBD_RESTART ACTION" and wait for it (the script bounds its own waits). */
static int restart_run(const char *action, double *ms)
{
    const char *script = getenv("FCBD_RESTART");
    if (script == NULL)
        return -1;
    char *argv[] = {(char *)script, (char *)action, NULL};
    double t0 = rel_now_ms();
    pid_t pid;
    if (posix_spawn(&pid, script, NULL, NULL, argv, environ) != 0)
        return -1;
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        continue;
    if (ms != NULL)
        *ms = rel_now_ms() - t0;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void setup(void)
{
    if (rel_docker_socket() == NULL || getenv("FCBD_RESTART") == NULL)
        cr_skip_test("DOCKER_HOST / FCBD_RESTART unset: run under tests/docker/with-dockerd.sh");
    zip_fixture_entry e[] = {{.name = "app.sh", .data = "echo \"restart ok: $(cat)\"\n"}};
    code_zip = zip_fixture_make(e, 1, &code_zip_len);
    cr_assert_not_null(code_zip, "building the code zip");
    memset(&fn, 0, sizeof fn);
    fn.size = sizeof fn;
    fn.function_name = "restart-fn";
    fn.function_arn = "arn:aws:lambda:us-east-1:123456789012:function:restart-fn";
    fn.runtime = "python3.12";
    fn.handler = "app.handler";
    fn.package_type = FCB_PACKAGE_ZIP;
    memset(&req, 0, sizeof req);
    req.size = sizeof req;
    req.function = &fn;
    req.code.data = code_zip;
    req.code.size = code_zip_len;
    req.deploy_id = "0123456789abcdef";
    req.deadline_ms = RESTART_DEADLINE_MS;
}

/* Even after a failed assertion: dockerd up again, none of our containers left. */
static void teardown(void)
{
    if (getenv("FCBD_RESTART") != NULL)
        restart_run("start", NULL);
    char *body = NULL;
    if (rel_docker_request("GET",
                           "/containers/json?all=1&filters=%7B%22label%22%3A%5B%22fakecloud-"
                           "managed-by%3Dfakecloud%22%5D%7D",
                           NULL, &body) == 200 &&
        body != NULL) {
        for (const char *p = body; (p = strstr(p, "\"Id\":\"")) != NULL; p += 6) {
            char id[65];
            snprintf(id, sizeof id, "%.64s", p + 6);
            rel_docker_remove(id);
        }
    }
    free(body);
    zip_fixture_free(code_zip);
    code_zip = NULL;
}

TestSuite(docker_restart, .init = setup, .fini = teardown, .timeout = 150);

/* A backend whose lease outlives a dockerd restart (stop may take ~11 s), unless LEASE_S. */
static void backend_open_lease(restart_backend *rb, const char *lease_s)
{
    memset(rb, 0, sizeof *rb);
    rb->mh = mock_host_new();
    rel_docker_configure(NULL, rb->mh);
    mock_host_set_config(rb->mh, "FAKECLOUD_DOCKER_LEASE_SECONDS", lease_s);
    const fcb_host_services *svc = mock_host_services(rb->mh);
    char why[LOADER_WHY_MAX] = "";
    cr_assert_eq(loader_load(REL_DOCKER_PLUGIN, svc, &rb->plugin, why), 0, "%s", why);
    fcb_open_params params = {sizeof params, NULL};
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(rb->plugin->ops->open(svc, &params, &rb->backend, &err), FCB_OK, "open: %s",
                 err.message);
    char *log = mock_host_log_text(rb->mh);
    const char *p = strstr(log, "instance=");
    cr_assert_not_null(p, "no instance id in the open log line: %s", log);
    snprintf(rb->instance, sizeof rb->instance, "%.16s", p + 9);
    free(log);
}

static void backend_open(restart_backend *rb)
{
    backend_open_lease(rb, "60");
}

/* close + unload; asserts that the plugin left no byte allocated. */
static void backend_close(restart_backend *rb)
{
    rb->plugin->ops->close(rb->backend);
    rb->backend = NULL;
    loader_unload(rb->plugin);
    rb->plugin = NULL;
    size_t left = mock_host_outstanding_bytes(rb->mh);
    mock_host_free(rb->mh);
    rb->mh = NULL;
    cr_assert_eq(left, 0, "%zu bytes still allocated after close", left);
}

static int backend_launch(restart_backend *rb, fcb_instance *inst, fcb_error *err)
{
    memset(inst, 0, sizeof *inst);
    inst->size = sizeof *inst;
    *err = (fcb_error)FCB_ERROR_INIT;
    return rb->plugin->ops->launch(rb->backend, &req, inst, err);
}

/* Containers (any state) labelled fakecloud-instance=INSTANCE; -1 if dockerd did not answer. */
static long count_instance(const char *instance)
{
    char path[256];
    snprintf(path, sizeof path,
             "/containers/json?all=1&filters=%%7B%%22label%%22%%3A%%5B%%22fakecloud-instance%%3D"
             "%s%%22%%5D%%7D",
             instance);
    char *body = NULL;
    long st = rel_docker_request("GET", path, NULL, &body);
    long n = 0;
    for (const char *p = body; st == 200 && p != NULL && (p = strstr(p, "\"Id\":")) != NULL; p += 5)
        n++;
    free(body);
    return st == 200 ? n : -1;
}

typedef struct body_buf {
    char data[4096];
    size_t len;
} body_buf;

static size_t body_write(char *p, size_t size, size_t n, void *ctx)
{
    body_buf *b = ctx;
    size_t add = size * n;
    size_t room = sizeof b->data - 1 - b->len;
    size_t copy = add < room ? add : room;
    memcpy(b->data + b->len, p, copy);
    b->len += copy;
    b->data[b->len] = '\0';
    return add;
}

/* POST an event to the RIE at ENDPOINT; returns the HTTP status, body in *out. */
static long invoke(const char *endpoint, const char *event, body_buf *out)
{
    char url[512];
    snprintf(url, sizeof url, "http://%s/2015-03-31/functions/function/invocations", endpoint);
    memset(out, 0, sizeof *out);
    CURL *c = curl_easy_init();
    cr_assert_not_null(c);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, event);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, body_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    long status = -1;
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(c);
    return status;
}

/* A launch on the same backend: succeeds, answers an invocation, terminates. */
static void launch_invoke_terminate(restart_backend *rb, const char *when)
{
    fcb_instance inst;
    fcb_error err;
    double t0 = rel_now_ms();
    int rc = backend_launch(rb, &inst, &err);
    double launch_ms = rel_now_ms() - t0;
    cr_assert_eq(rc, FCB_OK, "launch %s: %s: %s", when, fcb_status_name(rc), err.message);
    body_buf out;
    long st = invoke(inst.endpoint, "{\"n\":7}", &out);
    rc = rb->plugin->ops->terminate(rb->backend, inst.handle, &err);
    printf("  launch %s: OK in %.0f ms at %s, invoke -> HTTP %ld \"%.60s\", terminate -> %s\n",
           when, launch_ms, inst.endpoint, st, out.data, fcb_status_name(rc));
    cr_assert_eq(st, 200, "invoke %s: HTTP %ld: %s", when, st, out.data);
    cr_assert(strstr(out.data, "restart ok: {\"n\":7}") != NULL, "invoke %s answered: %s", when,
              out.data);
    cr_assert_eq(rc, FCB_OK, "terminate %s: %s", when, err.message);
}

Test(docker_restart, an_instance_survives_as_a_handle_that_terminates_and_new_launches_work)
{
    restart_backend rb;
    backend_open(&rb);
    fcb_instance old;
    fcb_error err;
    int rc = backend_launch(&rb, &old, &err);
    cr_assert_eq(rc, FCB_OK, "launch before the restart: %s", err.message);
    const char *id = old.handle + strlen("container/");

    double restart_ms = 0;
    cr_assert_eq(restart_run("restart", &restart_ms), 0, "restarting dockerd failed");
    char path[300];
    snprintf(path, sizeof path, "/containers/%s/json", id);
    char *info = NULL;
    long st = rel_docker_request("GET", path, NULL, &info);
    const char *state = info != NULL ? strstr(info, "\"Status\":\"") : NULL;
    char status[32] = "(gone)";
    if (st == 200 && state != NULL)
        sscanf(state + 10, "%31[a-z]", status);
    free(info);

    rc = rb.plugin->ops->terminate(rb.backend, old.handle, &err);
    int rc2 = rb.plugin->ops->terminate(rb.backend, old.handle, &err);
    printf("dockerd restarted (%.0f ms) under a running instance: its container is '%s' "
           "afterwards; terminate of the old handle -> %s, again -> %s\n",
           restart_ms, status, fcb_status_name(rc), fcb_status_name(rc2));
    cr_assert_eq(rc, FCB_OK, "terminate of the pre-restart handle: %s", err.message);
    cr_assert_eq(rc2, FCB_OK, "second terminate of the pre-restart handle: %s", err.message);
    cr_assert_eq(count_instance(rb.instance), 0, "the old container is still there");

    launch_invoke_terminate(&rb, "after the restart");
    long left = count_instance(rb.instance);
    printf("  containers of this instance left: %ld\n", left);
    cr_assert_eq(left, 0);
    backend_close(&rb);
}

typedef struct launch_job {
    restart_backend *rb;
    fcb_instance inst;
    fcb_error err;
    int rc;
    double ms;
} launch_job;

static void *launch_thread(void *arg)
{
    launch_job *job = arg;
    double t0 = rel_now_ms();
    job->rc = backend_launch(job->rb, &job->inst, &job->err);
    job->ms = rel_now_ms() - t0;
    return NULL;
}

/*
 * Restart dockerd DELAY_MS after a launch began on another thread. With
 * RIE_DELAY (seconds, or NULL) the runtime listens only that late, so the
 * launch is surely in its readiness loop when dockerd goes down.
 */
static void restart_during_launch(unsigned delay_ms, const char *rie_delay)
{
    restart_backend rb;
    backend_open(&rb);
    fcb_env_var env[] = {{"RIE_DELAY_S", rie_delay}};
    fn.environment = rie_delay != NULL ? env : NULL;
    fn.n_environment = rie_delay != NULL ? 1 : 0;
    launch_job job = {.rb = &rb};
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, launch_thread, &job), 0);
    usleep(delay_ms * 1000u);
    double restart_ms = 0;
    int restart_rc = restart_run("restart", &restart_ms);
    pthread_join(t, NULL);
    cr_assert_eq(restart_rc, 0, "restarting dockerd failed");

    fn.environment = NULL;
    fn.n_environment = 0;
    printf("dockerd restarted %u ms into a launch (runtime listens after %s s; restart took "
           "%.0f ms): launch returned %s after %.0f ms (deadline %u ms)%s%s\n",
           delay_ms, rie_delay != NULL ? rie_delay : "0", restart_ms, fcb_status_name(job.rc),
           job.ms, RESTART_DEADLINE_MS, job.rc != FCB_OK ? ": " : "",
           job.rc != FCB_OK ? job.err.message : "");
    if (rie_delay != NULL)
        cr_assert_neq(job.rc, FCB_OK,
                      "a launch whose runtime was not listening yet when dockerd "
                      "went down succeeded");
    cr_assert_lt(job.ms, (double)RESTART_DEADLINE_MS, "the launch took %.0f ms", job.ms);
    if (job.rc == FCB_OK) {
        /* It finished before dockerd went down: its handle still terminates. */
        fcb_error err = FCB_ERROR_INIT;
        int rc = rb.plugin->ops->terminate(rb.backend, job.inst.handle, &err);
        cr_assert_eq(rc, FCB_OK, "terminate after the restart: %s", err.message);
    } else {
        rel_assert_clean_error(job.rc, &job.err, "launch during a dockerd restart");
        cr_assert(job.rc == FCB_ERR_UNAVAILABLE || job.rc == FCB_ERR_START_FAILED ||
                      job.rc == FCB_ERR_TIMEOUT,
                  "unexpected %s: %s", fcb_status_name(job.rc), job.err.message);
        cr_assert(strstr(job.err.message, "Docker engine") != NULL,
                  "the error does not name the engine: %s", job.err.message);
    }
    long mine = count_instance(rb.instance);

    /*
     * The same backend launches again; on its way it removes what the
     * interrupted launch could not remove while dockerd was down.
     */
    launch_invoke_terminate(&rb, "on the same backend after the restart");
    long after_own = count_instance(rb.instance);
    bool retried = mock_host_log_contains(rb.mh, "removed container left by a failed launch");

    /* A second backend instance's reap_stale finds nothing of the first either. */
    restart_backend reaper;
    backend_open(&reaper);
    size_t reaped = 0;
    fcb_error err = FCB_ERROR_INIT;
    int rc = reaper.plugin->ops->reap_stale(reaper.backend, &reaped, &err);
    long left = count_instance(rb.instance);
    printf("  containers of the launching instance: %ld after the restart, %ld after its next "
           "launch (left-over removed by the backend itself: %s); reap_stale from a second "
           "instance -> %s, reaped %zu; left: %ld\n",
           mine, after_own, retried ? "yes" : "no", fcb_status_name(rc), reaped, left);
    cr_assert_eq(rc, FCB_OK, "reap_stale: %s", err.message);
    backend_close(&reaper);
    cr_assert_eq(after_own, 0, "the interrupted launch's container outlived the next launch");
    cr_assert_eq(left, 0, "containers of the interrupted launch remain");
    backend_close(&rb);
}

Test(docker_restart, a_launch_in_flight_during_a_restart_returns_in_time_and_leaves_nothing)
{
    /* Launch to ready takes ~0.6-0.9 s: early (image, create, start) and in readiness. */
    restart_during_launch(150, NULL);
    restart_during_launch(1500, "4");
}

Test(docker_restart, a_stopped_engine_fails_launch_fast_and_the_backend_recovers_when_it_returns)
{
    restart_backend rb;
    backend_open(&rb);
    double stop_ms = 0;
    cr_assert_eq(restart_run("stop", &stop_ms), 0, "stopping dockerd failed");
    fcb_instance inst;
    fcb_error err;
    double t0 = rel_now_ms();
    int rc = backend_launch(&rb, &inst, &err);
    double launch_ms = rel_now_ms() - t0;
    const char *sock = rel_docker_socket();
    printf("dockerd stopped (%.0f ms), then launch -> %s in %.1f ms: %s\n", stop_ms,
           fcb_status_name(rc), launch_ms, err.message);
    double start_ms = 0;
    int start_rc = restart_run("start", &start_ms);
    cr_assert_eq(start_rc, 0, "starting dockerd again failed");
    rel_assert_clean_error(rc, &err, "launch with dockerd stopped");
    cr_assert_eq(rc, FCB_ERR_UNAVAILABLE, "%s: %s", fcb_status_name(rc), err.message);
    cr_assert(strstr(err.message, sock) != NULL, "the error does not name the socket %s: %s", sock,
              err.message);
    cr_assert_lt(launch_ms, 1000.0, "a launch against a stopped engine took %.0f ms", launch_ms);

    printf("  dockerd started again (%.0f ms)\n", start_ms);
    launch_invoke_terminate(&rb, "on the same backend once dockerd is back");
    cr_assert_eq(count_instance(rb.instance), 0);
    backend_close(&rb);
}

/* The highest lease sequence number of INSTANCE (0: none; -1: dockerd did not answer). */
static long long lease_seq(const char *instance)
{
    char *body = NULL;
    long st = rel_docker_request(
        "GET", "/volumes?filters=%7B%22label%22%3A%5B%22fakecloud-lease%22%5D%7D", NULL, &body);
    char want[64];
    snprintf(want, sizeof want, "\"Name\":\"fakecloud-lease-%s-", instance);
    long long seq = st == 200 ? 0 : -1;
    for (const char *p = body; st == 200 && p != NULL && (p = strstr(p, want)) != NULL;
         p += strlen(want)) {
        long long v = strtoll(p + strlen(want), NULL, 10);
        seq = v > seq ? v : seq;
    }
    free(body);
    return seq;
}

/*
 * Renewals fail while dockerd is down (shorter than D): the lease is not lost
 * (launches work at once after the restart), a second host reaping
 * throughout never reaps the first one's container, and renewal goes on.
 */
Test(docker_restart, renewals_failing_while_dockerd_restarts_do_not_end_a_live_lease)
{
    restart_backend a, obs;
    backend_open_lease(&a, "24"); /* P = 8 s: at least one renewal meets the stopped engine */
    backend_open_lease(&obs, "24");
    fcb_instance keep;
    fcb_error err;
    cr_assert_eq(backend_launch(&a, &keep, &err), FCB_OK, "launch: %s", err.message);
    const char *id = keep.handle + strlen("container/");
    size_t reaped = 0, r = 0;
    cr_assert_eq(obs.plugin->ops->reap_stale(obs.backend, &r, &err), FCB_OK, "%s", err.message);
    long long seq0 = lease_seq(a.instance);
    double t0 = rel_now_ms(), stop_ms = 0, start_ms = 0;
    cr_assert_eq(restart_run("stop", &stop_ms), 0, "stopping dockerd failed");
    /* Down for 9 s from the moment the stop completed: longer than P = 8 s, so a
     * renewal falls in it whatever the phase of the schedule; shorter than D.
     * (Counting the 9 s from before the stop left ~7.9 s of real downtime: a
     * renewal period of 7.2..8 s could miss it.) */
    usleep(9000 * 1000);
    cr_assert_eq(restart_run("start", &start_ms), 0, "starting dockerd failed");
    double down_ms = rel_now_ms() - t0;
    fcb_instance inst;
    int rc = backend_launch(&a, &inst, &err);
    char first[512];
    snprintf(first, sizeof first, "%s", rc == FCB_OK ? "" : err.message);
    if (rc == FCB_OK)
        a.plugin->ops->terminate(a.backend, inst.handle, &err);
    /* Observe for more than a period after the restart: renewal resumes, nothing reaped. */
    for (double until = rel_now_ms() + 9000; rel_now_ms() < until; usleep(300 * 1000)) {
        cr_assert_eq(obs.plugin->ops->reap_stale(obs.backend, &r, &err), FCB_OK, "%s", err.message);
        reaped += r;
    }
    char path[300];
    snprintf(path, sizeof path, "/containers/%s/json", id);
    bool kept = rel_docker_request("GET", path, NULL, NULL) == 200;
    long long seq1 = lease_seq(a.instance);
    bool failed = mock_host_log_contains(a.mh, "lease renewal failed");
    printf("dockerd down %.0f ms (D = 24 s): a renewal failed: %s; launch right after -> %s%s%s; "
           "lease seq %lld -> %lld; observer reaped %zu; the live host's container %s\n",
           down_ms, failed ? "yes" : "no", fcb_status_name(rc), rc == FCB_OK ? "" : ": ", first,
           seq0, seq1, reaped, kept ? "kept" : "REAPED");
    cr_expect(failed, "no renewal met the stopped engine (down %.0f ms)", down_ms);
    cr_expect_eq(rc, FCB_OK, "launch after the restart: %s", first);
    cr_expect_gt(seq1, seq0, "renewal did not resume after the restart");
    cr_expect_eq(reaped, 0, "the observer reaped a live host");
    cr_expect(kept, "the live host's container was reaped");
    a.plugin->ops->terminate(a.backend, keep.handle, &err);
    backend_close(&obs);
    backend_close(&a);
    cr_expect_eq(rel_docker_count_leases(), 0, "lease volumes left after close");
}
