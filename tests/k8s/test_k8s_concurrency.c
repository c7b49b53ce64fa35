/*
 * Integration tests: concurrent launches from many host threads, create
 * conflicts, close during launch.
 */
#include "k8s_itest.h"

#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifndef K8S_CONCURRENT_LAUNCHES
#define K8S_CONCURRENT_LAUNCHES 50
#endif

static itest t;

static void stop(void)
{
    itest_stop(&t);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

typedef struct launch_job {
    pthread_t thread;
    int index;
    int rc;
    fcb_error err;
    fcb_instance inst;
    double took;
} launch_job;

static void *launch_one(void *arg)
{
    launch_job *job = arg;
    char name[32];
    snprintf(name, sizeof name, "fn-%d", job->index % 7); /* several instances per function */
    fcb_function fn = itest_zip_function(name);
    fcb_launch_request req = itest_request(&fn, "deploy-c");
    job->inst.size = sizeof job->inst;
    job->err = (fcb_error)FCB_ERROR_INIT;
    double start = now_s();
    job->rc = t.ops->launch(t.backend, &req, &job->inst, &job->err);
    job->took = now_s() - start;
    return NULL;
}

static void run_concurrent(const char *test_name, int n)
{
    const char *args[] = {"--kubelet-workers", "16", NULL};
    itest_start(&t, test_name, args);
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(itest_open(&t, ITEST_TOKEN, &err), FCB_OK, "open: %s", err.message);
    launch_job *jobs = calloc((size_t)n, sizeof *jobs);
    cr_assert_not_null(jobs);
    double start = now_s();
    for (int i = 0; i < n; i++) {
        jobs[i].index = i;
        cr_assert_eq(pthread_create(&jobs[i].thread, NULL, launch_one, &jobs[i]), 0);
    }
    for (int i = 0; i < n; i++)
        pthread_join(jobs[i].thread, NULL);
    double wall = now_s() - start;
    double worst = 0;
    for (int i = 0; i < n; i++) {
        cr_assert_eq(jobs[i].rc, FCB_OK, "launch %d: %s", i, jobs[i].err.message);
        worst = jobs[i].took > worst ? jobs[i].took : worst;
        for (int j = 0; j < i; j++)
            cr_assert_str_neq(jobs[i].inst.handle, jobs[j].inst.handle);
    }
    cr_log_info("%d concurrent launches: wall %.2f s, slowest %.2f s", n, wall, worst);
    cr_assert_eq(itest_count(&t, "pods", "default", NULL), n);
    json_object *echo = NULL;
    cr_assert_eq(itest_invoke(jobs[n - 1].inst.endpoint, "{}", &echo), 200);
    json_object_put(echo);
    for (int i = 0; i < n; i++)
        cr_assert_eq(t.ops->terminate(t.backend, jobs[i].inst.handle, &err), FCB_OK, "%s",
                     err.message);
    cr_assert_eq(itest_count(&t, "pods", "default", NULL), 0);
    free(jobs);
    itest_close(&t);
}

Test(k8s_concurrency, launches_many_instances_from_many_threads, .fini = stop, .timeout = 170)
{
    run_concurrent(K8S_CONCURRENT_LAUNCHES > 50 ? "concurrent_slow" : "concurrent",
                   K8S_CONCURRENT_LAUNCHES);
}

Test(k8s_concurrency, survives_create_conflicts, .fini = stop, .timeout = 60)
{
    itest_start(&t, "conflict", NULL);
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(itest_open(&t, ITEST_TOKEN, &err), FCB_OK, "open: %s", err.message);
    /* Pods only: the token Secret the first launch creates has no GET to resolve a 409. */
    cr_assert_eq(
        kubesim_set_faults(t.sim, "{\"conflict_on_create\": 2, \"fail_paths\": \"create pods\"}"),
        0, "%s", kubesim_last_error());
    fcb_function fn = itest_zip_function("conflicted");
    fcb_launch_request req = itest_request(&fn, "d1");
    fcb_instance inst = {.size = sizeof inst};
    cr_assert_eq(t.ops->launch(t.backend, &req, &inst, &err), FCB_OK, "launch: %s", err.message);
    cr_assert_eq(itest_count(&t, "pods", "default", NULL), 1);
    cr_assert_eq(t.ops->terminate(t.backend, inst.handle, &err), FCB_OK, "%s", err.message);

    /* More conflicts than attempts: a bounded, clear failure, nothing left. */
    cr_assert_eq(kubesim_set_faults(t.sim, "{\"conflict_on_create\": 50}"), 0);
    int rc = t.ops->launch(t.backend, &req, &inst, &err);
    cr_assert_eq(rc, FCB_ERR_BACKEND, "%s", err.message);
    cr_assert(strstr(err.message, "409") != NULL, "%s", err.message);
    cr_assert_eq(kubesim_set_faults(t.sim, "{\"conflict_on_create\": 0}"), 0);
    cr_assert_eq(itest_count(&t, "pods", "default", NULL), 0);
    itest_close(&t);
}

typedef struct close_job {
    pthread_t thread;
    int rc;
    fcb_error err;
    double returned_at;
} close_job;

static void *launch_slow(void *arg)
{
    close_job *job = arg;
    fcb_function fn = itest_zip_function("slow");
    fcb_launch_request req = itest_request(&fn, "d1");
    fcb_instance inst = {.size = sizeof inst};
    job->err = (fcb_error)FCB_ERROR_INIT;
    job->rc = t.ops->launch(t.backend, &req, &inst, &job->err);
    job->returned_at = now_s();
    return NULL;
}

Test(k8s_concurrency, close_cancels_launches_in_flight_promptly, .fini = stop, .timeout = 60)
{
    const char *args[] = {"--boot-ms", "20000", NULL};
    itest_start(&t, "close_during_launch", args);
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(itest_open(&t, ITEST_TOKEN, &err), FCB_OK, "open: %s", err.message);
    close_job jobs[4];
    for (int i = 0; i < 4; i++)
        cr_assert_eq(pthread_create(&jobs[i].thread, NULL, launch_slow, &jobs[i]), 0);
    /* Wait (bounded) until every Pod exists, so close has something to clean. */
    for (int i = 0; i < 100 && itest_count(&t, "pods", "default", NULL) < 4; i++)
        usleep(20 * 1000);
    cr_assert_eq(itest_count(&t, "pods", "default", NULL), 4);
    double close_start = now_s();
    t.ops->close(t.backend);
    t.backend = NULL;
    double close_took = now_s() - close_start;
    for (int i = 0; i < 4; i++) {
        pthread_join(jobs[i].thread, NULL);
        cr_assert_eq(jobs[i].rc, FCB_ERR_CANCELLED, "%s: %s", fcb_status_name(jobs[i].rc),
                     jobs[i].err.message);
        cr_assert_lt(jobs[i].returned_at - close_start, 2.0);
    }
    cr_assert_lt(close_took, 5.0, "close took %.2f s", close_took);
    cr_assert_eq(itest_count(&t, "pods", "default", NULL), 0, "close left pods behind");
    cr_assert_eq(itest_count(&t, "secrets", "default", NULL), 0, "close left the Secret");
    itest_close(&t);
}
