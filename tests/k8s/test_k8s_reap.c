/*
 * Integration tests of reap_stale: dead instances' Pods and Secrets go (no
 * Lease, older than one lease duration: FAKECLOUD_K8S_LEASE_SECONDS=1 here),
 * ours, unlabelled ones and other namespaces' stay; a crashed host's are
 * reaped by the next host. The lease rule itself: test_k8s_lease.c.
 */
#include "k8s_itest.h"

#include <criterion/criterion.h>
#include <string.h>

static itest t;

static void stop(void)
{
    itest_stop(&t);
}

Test(k8s_reap, removes_only_other_instances_objects, .fini = stop, .timeout = 60)
{
    itest_start(&t, "reap", NULL);
    const char *foreign = "{\"fakecloud-managed-by\":\"fakecloud\",\"fakecloud-instance\":"
                          "\"fakecloud-1\",\"fakecloud-service\":\"lambda\"}";
    itest_create_pod(&t, "default", "old-a", foreign);
    itest_create_pod(&t, "default", "old-b", foreign);
    itest_create_pod(&t, "default", "old-no-instance", "{\"fakecloud-managed-by\":\"fakecloud\"}");
    itest_create_pod(&t, "default", "unrelated", "{\"app\":\"web\",\"fakecloud-instance\":\"x\"}");
    itest_create_pod(&t, "other", "old-elsewhere", foreign);
    itest_create_secret(&t, "default", "fakecloud-lambda-token-fakecloud-1", foreign);
    itest_create_secret(&t, "default", "unrelated-secret", "{\"app\":\"web\"}");
    /* Dead instances' objects go once older than one lease duration. */
    mock_host_set_config(t.mh, "FAKECLOUD_K8S_LEASE_SECONDS", "1");
    itest_sleep_ms(1200);

    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(itest_open(&t, ITEST_TOKEN, &err), FCB_OK, "open: %s", err.message);
    fcb_function fn = itest_zip_function("mine");
    fcb_launch_request req = itest_request(&fn, "d1");
    fcb_instance inst = {.size = sizeof inst};
    cr_assert_eq(t.ops->launch(t.backend, &req, &inst, &err), FCB_OK, "launch: %s", err.message);

    size_t reaped = 99;
    cr_assert_eq(t.ops->reap_stale(t.backend, &reaped, &err), FCB_OK, "reap: %s", err.message);
    cr_assert_eq(reaped, 3, "reaped %zu", reaped);
    /* Left: our pod and the unrelated one; our Secret and the unrelated one. */
    cr_assert_eq(itest_count(&t, "pods", "default", NULL), 2);
    cr_assert_eq(itest_count(&t, "pods", "default", "app=web"), 1);
    cr_assert_eq(itest_count(&t, "pods", "other", NULL), 1, "other namespaces are untouched");
    cr_assert_eq(itest_count(&t, "secrets", "default", NULL), 2);
    cr_assert_eq(itest_count(&t, "secrets", "default", "app=web"), 1);

    /* The deletecollection answers were asked as metadata only (client-go's
     * metadata client does the same): a reap of 10 000 small Pods moves 3.4 MB, not 11.4. */
    json_object *log = NULL, *reqs = NULL;
    cr_assert_eq(kubesim_get_json(t.sim, "/_sim/requests", &log), 200);
    cr_assert(json_object_object_get_ex(log, "requests", &reqs));
    int collections = 0;
    for (size_t i = 0; i < json_object_array_length(reqs); i++) {
        json_object *e = json_object_array_get_idx(reqs, i), *verb = NULL, *accept = NULL;
        if (!json_object_object_get_ex(e, "verb", &verb) ||
            strncmp(json_object_get_string(verb), "deletecollection ", 17) != 0)
            continue;
        collections++;
        cr_assert(json_object_object_get_ex(e, "accept", &accept) &&
                      strstr(json_object_get_string(accept), "as=PartialObjectMetadataList") !=
                          NULL,
                  "%s asked for %s", json_object_get_string(verb), json_object_get_string(accept));
    }
    json_object_put(log);
    cr_assert_eq(collections, 4,
                 "one deletecollection of Pods and one of Secrets for the dead instance, the "
                 "same for the objects without an instance label");

    /* Our instance keeps working: the launched pod answers, the Secret is usable. */
    json_object *echo = NULL;
    cr_assert_eq(itest_invoke(inst.endpoint, "{}", &echo), 200);
    json_object_put(echo);
    reaped = 99;
    cr_assert_eq(t.ops->reap_stale(t.backend, &reaped, &err), FCB_OK, "%s", err.message);
    cr_assert_eq(reaped, 0);
    cr_assert_eq(t.ops->terminate(t.backend, inst.handle, &err), FCB_OK, "%s", err.message);
    itest_close(&t);
}

Test(k8s_reap, a_restarted_host_reaps_what_the_previous_instance_left, .fini = stop, .timeout = 60)
{
    itest_start(&t, "reap_restart", NULL);
    mock_host_set_config(t.mh, "FAKECLOUD_K8S_LEASE_SECONDS", "1");
    /* The previous host crashes (SIGKILL: no close) with a Pod and its Secret left. */
    char handle[256];
    pid_t crashed = itest_fork_host(&t, "left-behind", handle);
    itest_kill_host(crashed);
    cr_assert_eq(itest_count(&t, "pods", "default", NULL), 1);

    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(itest_open(&t, ITEST_TOKEN, &err), FCB_OK, "second open: %s", err.message);
    /* Its Lease stops changing: the restarted host reaps within two durations. */
    size_t reaped = 0;
    double start = itest_now_ms();
    while (reaped == 0 && itest_now_ms() - start < 4000) {
        cr_assert_eq(t.ops->reap_stale(t.backend, &reaped, &err), FCB_OK, "%s", err.message);
        if (reaped == 0)
            itest_sleep_ms(100);
    }
    cr_assert_eq(reaped, 1, "the crashed host's Pod was not reaped within 4 s (D = 1 s)");
    cr_assert_eq(itest_count(&t, "pods", "default", NULL), 0);
    cr_assert_eq(itest_count(&t, "secrets", "default", NULL), 0,
                 "the old Secret is reaped; the new instance launched nothing, so made none");
    cr_assert_eq(itest_count(&t, "leases", "default", NULL), 0, "the dead host's Lease is reaped");
    itest_close(&t);
}

Test(k8s_reap, many_dead_instances_take_one_deletecollection_per_50, .fini = stop, .timeout = 60)
{
    itest_start(&t, "reap_many", NULL);
    /* 120 dead instances (no Lease), one Pod each, created an hour ago. */
    for (int i = 0; i < 120; i++) {
        char body[512];
        snprintf(body, sizeof body,
                 "{\"namespace\":\"default\",\"count\":1,\"name_prefix\":\"dead-%d\","
                 "\"age_seconds\":3600,\"labels\":{\"fakecloud-managed-by\":\"fakecloud\","
                 "\"fakecloud-instance\":\"%016x\"}}",
                 i, 0xdead0000u + (unsigned)i);
        cr_assert_eq(kubesim_post_json(t.sim, "/_sim/bulk", body, NULL), 200);
    }
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(itest_open(&t, ITEST_TOKEN, &err), FCB_OK, "open: %s", err.message);
    cr_assert_eq(kubesim_reset_stats(t.sim), 0);
    size_t reaped = 0;
    cr_assert_eq(t.ops->reap_stale(t.backend, &reaped, &err), FCB_OK, "%s", err.message);
    cr_assert_eq(reaped, 120, "reaped %zu", reaped);
    long pods = kubesim_stat_count(t.sim, "deletecollection pods");
    long total = pods + kubesim_stat_count(t.sim, "deletecollection secrets") +
                 kubesim_stat_count(t.sim, "list pods") +
                 kubesim_stat_count(t.sim, "list secrets") + kubesim_stat_count(t.sim, "list leases");
    printf("reap of 120 dead instances: %ld requests, %ld deletecollections of Pods\n", total, pods);
    cr_assert_eq(pods, 3, "50 ids per selector: 3 deletecollections of Pods for 120 instances");
    cr_assert_eq(total, 9);
    cr_assert_eq(itest_count(&t, "pods", "default", NULL), 0);
    itest_close(&t);
}
