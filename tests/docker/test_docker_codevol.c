/*
 * Integration tests of the docker backend's code volumes (docs/docker.md,
 * "Code volumes") against the private dockerd (run under with-dockerd.sh):
 * a deploy's code and layers are uploaded once into labelled volumes that
 * every later instance of the deploy mounts read-only; concurrent first
 * launches fill them once; close() and reap_stale remove them.
 */
#include "docker_fixture.h"
#include "engine_http.h"
#include "mock_host.h"
#include "zip_fixture.h"

#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static docker_fixture fx;

static void setup(void)
{
    docker_fixture_open(&fx);
}

static void teardown(void)
{
    docker_fixture_teardown(&fx);
}

TestSuite(docker_codevol, .init = setup, .fini = teardown, .timeout = 90);

/* app.sh answers what the instance sees: its code, whether /var/task and /tmp are writable. */
static const char probe_script[] =
    "read -r ev\n"
    "if touch /var/task/w 2>/dev/null; then t=rw; else t=ro; fi\n"
    "if touch /tmp/w 2>/dev/null; then m=rw; else m=ro; fi\n"
    "l=$(cat /opt/lib.txt 2>/dev/null || echo none)\n"
    "printf '{\"task\":\"%s\",\"tmp\":\"%s\",\"layer\":\"%s\",\"v\":\"%s\"}' "
    "\"$t\" \"$m\" \"$l\" \"$(cat /var/task/version.txt)\"\n";

typedef struct job {
    fcb_function fn;
    fcb_launch_request req;
    fcb_blob layer;
    void *zip, *layer_zip;
    fcb_instance inst;
    fcb_error err;
    int rc;
} job;

/* A python3.12 zip function with app.sh and version.txt = VERSION, deploy DEPLOY, a layer when
 * LAYER. */
static void job_init(job *j, const char *name, const char *deploy, const char *version,
                     const char *layer)
{
    memset(j, 0, sizeof *j);
    j->fn = (fcb_function){.size = sizeof j->fn,
                           .function_name = name,
                           .function_arn = "arn:aws:lambda:eu-west-2:123456789012:function:x",
                           .runtime = "python3.12",
                           .handler = "app.handler",
                           .package_type = FCB_PACKAGE_ZIP};
    size_t len = 0;
    zip_fixture_entry e[] = {{.name = "app.sh", .data = probe_script},
                             {.name = "version.txt", .data = version}};
    j->zip = zip_fixture_make(e, 2, &len);
    cr_assert_not_null(j->zip);
    j->req = (fcb_launch_request){
        .size = sizeof j->req, .function = &j->fn, .code = {j->zip, len}, .deploy_id = deploy};
    if (layer != NULL) {
        size_t ll = 0;
        zip_fixture_entry le[] = {{.name = "lib.txt", .data = layer}};
        j->layer_zip = zip_fixture_make(le, 1, &ll);
        j->layer = (fcb_blob){j->layer_zip, ll};
        j->req.layers = &j->layer;
        j->req.n_layers = 1;
    }
}

static int job_run(job *j)
{
    j->req.function = &j->fn;
    j->inst = (fcb_instance){.size = sizeof j->inst};
    j->err = (fcb_error)FCB_ERROR_INIT;
    j->rc = fx.ops->launch(fx.backend, &j->req, &j->inst, &j->err);
    return j->rc;
}

static void job_free(job *j)
{
    zip_fixture_free(j->zip);
    zip_fixture_free(j->layer_zip);
}

static void terminate_ok(const char *handle)
{
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(fx.ops->terminate(fx.backend, handle, &err), FCB_OK, "%s", err.message);
}

/* The instance's answer to one event (the caller frees). */
static char *ask(const job *j)
{
    char *out = engine_http_invoke(j->inst.endpoint, "{}");
    cr_assert_not_null(out, "no answer from %s", j->inst.endpoint);
    return out;
}

/* Metric NAME of the backend's stats; -1 when it is not emitted. */
typedef struct metric_find {
    const char *name;
    double value;
} metric_find;

static void metric_collect(void *ctx, const fcb_metric *m)
{
    metric_find *f = ctx;
    if (strcmp(m->name, f->name) == 0)
        f->value = m->value;
}

static double metric(const char *name)
{
    metric_find f = {name, -1};
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(fx.ops->stats(fx.backend, &f, metric_collect, &err), FCB_OK, "%s", err.message);
    return f.value;
}

/* Volumes carrying label LABEL ("key" or "key=value"). */
static size_t volumes_with(const char *label)
{
    char path[512], *body = NULL;
    snprintf(path, sizeof path, "/volumes?filters=%%7B%%22label%%22%%3A%%5B%%22%s%%22%%5D%%7D",
             label);
    cr_assert_eq(engine_http_api(docker_fixture_socket(), "GET", path, NULL, &body), 200);
    size_t n = 0;
    for (const char *p = body; (p = strstr(p, "\"Name\":")) != NULL; p++)
        n++;
    free(body);
    return n;
}

static size_t code_volumes(void)
{
    return volumes_with("fakecloud-code-deploy");
}

Test(docker_codevol, second_launch_of_a_deploy_mounts_the_code_read_only_without_upload)
{
    job a, b;
    job_init(&a, "cv-fn", "cv-d1", "v1", "layer-1");
    job_init(&b, "cv-fn", "cv-d1", "v1", "layer-1");
    cr_assert_eq(job_run(&a), FCB_OK, "%s", a.err.message);
    cr_expect_eq(metric("code_uploads_total"), 1);
    cr_assert_eq(job_run(&b), FCB_OK, "%s", b.err.message);
    cr_expect_eq(metric("code_uploads_total"), 1, "the second launch of a deploy uploaded again");
    cr_expect_eq(metric("code_volume_fills_total"), 1);
    const char *want = "{\"task\":\"ro\",\"tmp\":\"rw\",\"layer\":\"layer-1\",\"v\":\"v1\"}";
    for (job *j = &a; j != NULL; j = j == &a ? &b : NULL) {
        char *out = ask(j);
        cr_expect_str_eq(out, want);
        free(out);
    }
    /* var/task and opt: one volume each, shared by both instances. */
    cr_expect_eq(code_volumes(), 2);
    terminate_ok(a.inst.handle);
    terminate_ok(b.inst.handle);
    cr_expect_eq(code_volumes(), 2, "terminate removed a volume the deploy still uses");
    job_free(&a);
    job_free(&b);
}

static void *launch_thread(void *arg)
{
    job_run(arg);
    return NULL;
}

Test(docker_codevol, concurrent_first_launches_fill_one_volume_and_another_deploy_gets_its_own)
{
    job j[3];
    job_init(&j[0], "cv-par", "cv-p1", "p1", NULL);
    job_init(&j[1], "cv-par", "cv-p1", "p1", NULL);
    job_init(&j[2], "cv-par", "cv-p2", "p2", NULL);
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        cr_assert_eq(pthread_create(&t[i], NULL, launch_thread, &j[i]), 0);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < 2; i++) {
        cr_assert_eq(j[i].rc, FCB_OK, "launch %d: %s", i, j[i].err.message);
        char *out = ask(&j[i]);
        cr_expect(strstr(out, "\"v\":\"p1\"") != NULL, "%s", out);
        free(out);
    }
    cr_expect_eq(code_volumes(), 1, "two concurrent first launches made two volumes");
    cr_expect_eq(metric("code_uploads_total"), 1);
    cr_assert_eq(job_run(&j[2]), FCB_OK, "%s", j[2].err.message);
    char *out = ask(&j[2]);
    cr_expect(strstr(out, "\"v\":\"p2\"") != NULL, "another deploy saw other code: %s", out);
    free(out);
    cr_expect_eq(code_volumes(), 2, "a different deploy_id did not get its own volume");
    for (int i = 0; i < 3; i++) {
        terminate_ok(j[i].inst.handle);
        job_free(&j[i]);
    }
    fx.ops->close(fx.backend);
    fx.backend = NULL;
    cr_expect_eq(code_volumes(), 0, "close() left code volumes");
}

Test(docker_codevol, reap_stale_removes_a_dead_instances_code_volumes)
{
    fx.ops->close(fx.backend); /* reopen with a short lease duration */
    fx.backend = NULL;
    mock_host_set_config(fx.mh, "FAKECLOUD_DOCKER_LEASE_SECONDS", "1");
    fcb_error err = FCB_ERROR_INIT;
    fcb_open_params params = {.size = sizeof params};
    cr_assert_eq(fx.ops->open(mock_host_services(fx.mh), &params, &fx.backend, &err), FCB_OK, "%s",
                 err.message);
    const char *dead = "{\"Name\":\"fakecloud-code-old1-test\",\"Labels\":{"
                       "\"fakecloud-managed-by\":\"fakecloud\",\"fakecloud-instance\":\"old1\","
                       "\"fakecloud-code-deploy\":\"d\"}}";
    const char *foreign = "{\"Name\":\"fcb-test-foreign-code\",\"Labels\":{"
                          "\"fakecloud-instance\":\"old1\",\"fakecloud-code-deploy\":\"d\"}}";
    char *out = NULL;
    cr_assert_eq(engine_http_api(docker_fixture_socket(), "POST", "/volumes/create", dead, &out),
                 201, "%s", out);
    free(out);
    cr_assert_eq(engine_http_api(docker_fixture_socket(), "POST", "/volumes/create", foreign, &out),
                 201, "%s", out);
    free(out);
    job a;
    job_init(&a, "cv-mine", "cv-m1", "m1", NULL);
    cr_assert_eq(job_run(&a), FCB_OK, "%s", a.err.message);
    usleep(2100 * 1000); /* D = 1 s; CreatedAt has whole seconds */
    size_t reaped = 0;
    cr_expect_eq(fx.ops->reap_stale(fx.backend, &reaped, &err), FCB_OK, "%s", err.message);
    cr_expect_eq(engine_http_api(docker_fixture_socket(), "GET",
                                 "/volumes/fakecloud-code-old1-test", NULL, NULL),
                 404, "the dead instance's code volume survived reap_stale");
    cr_expect_eq(engine_http_api(docker_fixture_socket(), "GET", "/volumes/fcb-test-foreign-code",
                                 NULL, NULL),
                 200, "a volume without the managed-by label was removed");
    cr_expect_eq(code_volumes(), 2, "our own code volume was reaped");
    engine_http_api(docker_fixture_socket(), "DELETE", "/volumes/fcb-test-foreign-code", NULL,
                    NULL);
    char *ans = ask(&a);
    cr_expect(strstr(ans, "\"v\":\"m1\"") != NULL, "%s", ans);
    free(ans);
    terminate_ok(a.inst.handle);
    job_free(&a);
}
