/*
 * The docker backend on the private dockerd (tests/docker/with-dockerd.sh):
 * allocation-failure sweep, unload safety, hostile inputs, reaping safety
 * and a container killed behind the backend's back.
 */
#include "rel_docker.h"
#include "rel_inputs.h"
#include "rel_sweep.h"
#include "rel_unload.h"

#include <loader.h>

#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static fcb_function fn;
static fcb_launch_request req;
/* An Image function whose runtime exits at once (with-dockerd.sh imports the image). */
static fcb_function crash_fn;
static fcb_launch_request crash_req;
static rel_target target;

static void setup(void)
{
    if (rel_docker_socket() == NULL)
        cr_skip_test("DOCKER_HOST is not a unix socket: run under tests/docker/with-dockerd.sh");
    rel_default_request(&fn, &req);
    crash_fn = (fcb_function){.size = sizeof crash_fn,
                              .function_name = "rel-crash",
                              .package_type = FCB_PACKAGE_IMAGE,
                              .image_uri = "fakecloud-test/crash:1"};
    crash_req = (fcb_launch_request){.size = sizeof crash_req,
                                     .function = &crash_fn,
                                     .deploy_id = "0123456789abcdef",
                                     .deadline_ms = 15000};
    target = (rel_target){.name = "docker",
                          .plugin_path = REL_DOCKER_PLUGIN,
                          .request = &req,
                          .configure = rel_docker_configure,
                          .count_objects = rel_docker_count_managed,
                          .plant_stale = rel_docker_plant_stale,
                          .prepull_image = "public.ecr.aws/lambda/python:3.12",
                          .failing_request = &crash_req,
                          /* nothing listens on port 1: the pull fails at once */
                          .failing_prepull_image = "127.0.0.1:1/fcb-missing:1",
                          .launch_threads = 1 /* the lease renewal thread */};
}

TestSuite(docker_reliability, .init = setup, .timeout = 600);

Test(docker_reliability, every_failed_allocation_of_every_operation_ends_cleanly)
{
    size_t total = 0;
    for (int op = 0; op < REL_OP_COUNT; op++) {
        rel_sweep_result r;
        rel_sweep(&target, (rel_op)op, 2000, &r);
        total += r.points;
    }
    printf("alloc-failure sweep: plugin docker, %zu failure points in total, nothing lost\n",
           total);
}

/* The engine's TLS listener (tcp://127.0.0.1, --tlsverify) with-dockerd.sh
 * sets up: DOCKER_HOST, DOCKER_TLS_VERIFY and DOCKER_CERT_PATH as a user of a
 * remote engine sets them. Objects are still counted on the unix socket. */
static void configure_tls(void *ctx, mock_host *mh)
{
    (void)ctx;
    mock_host_set_config(mh, "DOCKER_HOST", getenv("FCBD_TLS_HOST"));
    mock_host_set_config(mh, "DOCKER_TLS_VERIFY", "1");
    mock_host_set_config(mh, "DOCKER_CERT_PATH", getenv("FCBD_TLS_CERT_PATH"));
    mock_host_set_config(mh, "FAKECLOUD_DOCKER_LEASE_SECONDS", REL_DOCKER_LEASE_SECONDS);
}

Test(docker_reliability, over_tls_every_failed_allocation_of_every_operation_ends_cleanly)
{
    const char *tls = getenv("FCBD_TLS_HOST");
    if (tls == NULL || tls[0] == '\0' || getenv("FCBD_TLS_CERT_PATH") == NULL)
        cr_skip_test("FCBD_TLS_HOST unset: with-dockerd.sh made no TLS listener (certtool)");
    rel_target t = target;
    t.name = "docker (TLS)";
    t.configure = configure_tls;
    t.failing_request = NULL; /* the failure paths do not depend on the transport */
    t.failing_prepull_image = NULL;
    /* The removal paths do not depend on the transport either, and each planted
     * container costs a wait of D + 1.1 s per point (~70 s in all): over TLS the
     * reap sweep covers listing, lease observation and decision on an empty field. */
    t.plant_stale = NULL;
    /* What the transport changes: the TLS handshake and streamed answers of every
     * kind of Engine call. status/stats/invoke are one inspect each (launch and
     * terminate make the same call) and init/close make none: swept in plain only. */
    static const rel_op tls_ops[] = {REL_OP_OPEN,  REL_OP_LAUNCH,  REL_OP_TERMINATE,
                                     REL_OP_REAP,  REL_OP_PREPULL, REL_OP_LOGS};
    size_t total = 0;
    for (size_t i = 0; i < sizeof tls_ops / sizeof tls_ops[0]; i++) {
        rel_sweep_result r;
        rel_sweep(&t, tls_ops[i], 2000, &r);
        total += r.points;
    }
    printf("alloc-failure sweep: plugin docker (TLS), %zu failure points in total, nothing lost\n",
           total);
}

Test(docker_reliability, hostile_function_inputs_launch_or_fail_cleanly_leaving_nothing)
{
    rel_inputs_run(&target);
    cr_assert_eq(rel_docker_count_managed(NULL), 0);
}

Test(docker_reliability, reap_never_touches_containers_without_our_label)
{
    /* lookalike names, a foreign managed-by value, our label key on another service */
    rel_docker_create("fakecloud-lambda-lookalike", NULL);
    rel_docker_create("fakecloud-lambda-other-manager",
                      "{\"fakecloud-managed-by\":\"someone-else\",\"fakecloud-instance\":\"x\"}");
    rel_docker_create("rel-unlabelled-instance-only", "{\"fakecloud-instance\":\"dead\"}");
    rel_docker_plant_stale(NULL);
    mock_host *mh = mock_host_new();
    rel_docker_configure(NULL, mh);
    size_t reaped = rel_reap_once(mock_host_services(mh), REL_DOCKER_PLUGIN, NULL);
    bool a = rel_docker_exists("fakecloud-lambda-lookalike");
    bool c = rel_docker_exists("fakecloud-lambda-other-manager");
    bool d = rel_docker_exists("rel-unlabelled-instance-only");
    printf("reaping safety (docker): reaped %zu (the planted stale one); unlabelled lookalike "
           "%s, foreign manager %s, instance-label-only %s\n",
           reaped, a ? "kept" : "DELETED", c ? "kept" : "DELETED", d ? "kept" : "DELETED");
    rel_docker_remove("fakecloud-lambda-lookalike");
    rel_docker_remove("fakecloud-lambda-other-manager");
    rel_docker_remove("rel-unlabelled-instance-only");
    cr_assert(a && c && d, "reap_stale deleted a container that is not ours");
    cr_assert_geq(reaped, 1, "the stale container of a dead instance was not reaped");
    cr_assert_eq(rel_docker_count_managed(NULL), 0);
    cr_assert_eq(mock_host_outstanding_bytes(mh), 0);
    mock_host_free(mh);
}

Test(docker_reliability, a_container_killed_behind_our_back_terminates_cleanly)
{
    mock_host *mh = mock_host_new();
    rel_docker_configure(NULL, mh);
    const fcb_host_services *svc = mock_host_services(mh);
    rel_session session;
    rel_session_open(&session, svc, REL_DOCKER_PLUGIN, NULL);
    loader_plugin *p = session.plugin;
    fcb_backend *b = session.backend;
    fcb_error err = FCB_ERROR_INIT;
    fcb_instance inst = {.size = sizeof inst};
    cr_assert_eq(p->ops->launch(b, &req, &inst, &err), FCB_OK, "%s", err.message);
    const char *id = strchr(inst.handle, '/');
    cr_assert_not_null(id, "handle %s", inst.handle);
    char path[600];
    snprintf(path, sizeof path, "/containers/%s/kill", id + 1);
    long st = rel_docker_request("POST", path, NULL, NULL);
    int rc1 = p->ops->terminate(b, inst.handle, &err);
    snprintf(path, sizeof path, "/containers/%s?force=1", id + 1);
    rel_docker_request("DELETE", path, NULL, NULL); /* now removed entirely */
    int rc2 = p->ops->terminate(b, inst.handle, &err);
    printf("container killed (HTTP %ld) then terminate -> %s; removed then terminate -> %s\n", st,
           fcb_status_name(rc1), fcb_status_name(rc2));
    rel_session_close(&session);
    cr_assert_eq(rc1, FCB_OK, "terminate of a killed container: %s", err.message);
    cr_assert_eq(rc2, FCB_OK, "terminate of a removed container: %s", err.message);
    cr_assert_eq(rel_docker_count_managed(NULL), 0);
    cr_assert_eq(mock_host_outstanding_bytes(mh), 0);
    mock_host_free(mh);
}

Test(docker_reliability, plugin_reloads_100_times_without_leaking_threads_memory_or_containers)
{
    rel_unload_cycle(&target);
}
