/*
 * Issue 16: hosts that share a namespace never kill each other's live
 * instances. Each backend instance holds a coordination.k8s.io/v1 Lease
 * (docs/leases.md); reap_stale removes only objects of instances whose Lease
 * is expired or absent and that are older than one lease duration D.
 * Short durations (FAKECLOUD_K8S_LEASE_SECONDS 2 or 3) keep these fast.
 */
#include "k8s_itest.h"

#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static itest t;

static void stop(void)
{
    itest_stop(&t);
}

static int pods_of(const char *instance)
{
    char selector[128];
    snprintf(selector, sizeof selector, "fakecloud-instance=%s", instance);
    return itest_count(&t, "pods", "default", selector);
}

static fcb_backend *open_backend(void)
{
    fcb_error err = FCB_ERROR_INIT;
    fcb_backend *b = NULL;
    fcb_open_params params = {.size = sizeof params, .internal_token = ITEST_TOKEN};
    cr_assert_eq(t.ops->open(mock_host_services(t.mh), &params, &b, &err), FCB_OK, "open: %s",
                 err.message);
    return b;
}

/* ------------------------------------------------------------ two hosts */

typedef struct host_run {
    fcb_backend *b;
    const char *name;
    atomic_bool *done; /* set by the launcher when its launches are over */
    int launches_failed;
    char first_error[512];
    size_t reaped;
    int reaps;
} host_run;

static void *launcher(void *arg)
{
    host_run *h = arg;
    for (int i = 0; i < 3; i++) {
        fcb_error err = FCB_ERROR_INIT;
        char fname[64];
        snprintf(fname, sizeof fname, "%s-%d", h->name, i);
        fcb_function fn = itest_zip_function(fname);
        fcb_launch_request req = itest_request(&fn, "d");
        fcb_instance inst = {.size = sizeof inst};
        if (t.ops->launch(h->b, &req, &inst, &err) != FCB_OK) {
            if (h->launches_failed++ == 0)
                snprintf(h->first_error, sizeof h->first_error, "%s", err.message);
            continue;
        }
        itest_sleep_ms(200); /* running while the other host reaps */
        json_object *echo = NULL;
        if (itest_invoke(inst.endpoint, "{}", &echo) != 200 && h->launches_failed++ == 0)
            snprintf(h->first_error, sizeof h->first_error, "invoke %s failed", inst.handle);
        json_object_put(echo);
        (void)t.ops->terminate(h->b, inst.handle, &err);
    }
    atomic_store(h->done, true);
    return NULL;
}

/* Reap with H's backend every 50 ms until both launchers are done. */
static void *reaper(void *arg)
{
    host_run *h = arg;
    while (!atomic_load(&h->done[0]) || !atomic_load(&h->done[1])) {
        fcb_error err = FCB_ERROR_INIT;
        size_t n = 0;
        if (t.ops->reap_stale(h->b, &n, &err) == FCB_OK)
            h->reaped += n;
        h->reaps++;
        itest_sleep_ms(50);
    }
    return NULL;
}

Test(k8s_lease, two_hosts_launch_concurrently_while_each_reaps, .fini = stop, .timeout = 120)
{
    itest_start(&t, "lease_two_hosts", NULL);
    mock_host_set_config(t.mh, "FAKECLOUD_K8S_LEASE_SECONDS", "2");
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(itest_open(&t, ITEST_TOKEN, &err), FCB_OK, "open: %s", err.message);
    atomic_bool done[2] = {false, false};
    host_run hosts[2] = {{.b = t.backend, .name = "host-a", .done = &done[0]},
                         {.b = open_backend(), .name = "host-b", .done = &done[1]}};
    host_run reapers[2] = {{.b = hosts[0].b, .done = done}, {.b = hosts[1].b, .done = done}};
    pthread_t th[4];
    for (int i = 0; i < 2; i++) {
        pthread_create(&th[i], NULL, launcher, &hosts[i]);
        pthread_create(&th[2 + i], NULL, reaper, &reapers[i]);
    }
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    printf("two hosts: launches failed %d + %d, reaps %d + %d, reaped %zu + %zu\n",
           hosts[0].launches_failed, hosts[1].launches_failed, reapers[0].reaps, reapers[1].reaps,
           reapers[0].reaped, reapers[1].reaped);
    for (int i = 0; i < 2; i++)
        cr_assert_eq(hosts[i].launches_failed, 0, "%s: %d launches failed, first: %s",
                     hosts[i].name, hosts[i].launches_failed, hosts[i].first_error);
    cr_assert_eq(reapers[0].reaped + reapers[1].reaped, 0, "a live host's Pods were reaped");
    cr_assert_gt(reapers[0].reaps, 5);
    t.ops->close(hosts[1].b);
    cr_assert_eq(itest_count(&t, "leases", "default", NULL), 1, "B's Lease is deleted at close");
    itest_close(&t);
    cr_assert_eq(itest_count(&t, "leases", "default", NULL), 0, "A's Lease is deleted at close");
}

/* ------------------------------------------------------------ killed host */

Test(k8s_lease, a_killed_host_is_reaped_within_two_durations_and_not_before_one, .fini = stop,
     .timeout = 60)
{
    itest_start(&t, "lease_killed", NULL);
    mock_host_set_config(t.mh, "FAKECLOUD_K8S_LEASE_SECONDS", "2");
    char handle[256];
    pid_t child = itest_fork_host(&t, "killed", handle);
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(itest_open(&t, ITEST_TOKEN, &err), FCB_OK, "open: %s", err.message);

    /* Alive (renewing) for 2.5 s, more than D: never reaped. */
    size_t reaped = 0;
    double start = itest_now_ms();
    while (itest_now_ms() - start < 2500) {
        cr_assert_eq(t.ops->reap_stale(t.backend, &reaped, &err), FCB_OK, "%s", err.message);
        cr_assert_eq(reaped, 0, "a live host's Pod was reaped");
        itest_sleep_ms(100);
    }
    itest_kill_host(child); /* kill -9: no close, the Lease stays and stops changing */
    double killed = itest_now_ms();
    while (reaped == 0 && itest_now_ms() - killed < 6000) {
        cr_assert_eq(t.ops->reap_stale(t.backend, &reaped, &err), FCB_OK, "%s", err.message);
        if (reaped == 0)
            itest_sleep_ms(100);
    }
    double after = itest_now_ms() - killed;
    printf("killed host (D = 2 s): its Pod reaped %.0f ms after the kill\n", after);
    cr_assert_eq(reaped, 1, "the killed host's Pod was not reaped within 6 s");
    /* Its last renewal was at most P = D/3 before the kill: expired D after it. */
    cr_assert_geq(after, 2000 - 667 - 50,
                  "reaped %.0f ms after the kill: before one duration since its last renewal",
                  after);
    cr_assert_leq(after, 4000, "reaped %.0f ms after the kill: not within two durations", after);
    cr_assert_eq(itest_count(&t, "pods", "default", NULL), 0);
    cr_assert_eq(itest_count(&t, "secrets", "default", NULL), 0);
    cr_assert_eq(itest_count(&t, "leases", "default", NULL), 0, "its Lease is reaped first");
    itest_close(&t);
}

/* ------------------------------------------------------------ clock skew */

static const char *micro(int64_t wall_s, char out[32])
{
    time_t s = (time_t)wall_s;
    struct tm tm;
    gmtime_r(&s, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%S.000000Z", &tm);
    return out;
}

/* PUT (unconditionally: no resourceVersion) or POST the Lease of INSTANCE with both times at AT. */
static void write_lease(const char *instance, int64_t at, bool create)
{
    char body[1024], path[256], when[32];
    snprintf(body, sizeof body,
             "{\"apiVersion\":\"coordination.k8s.io/v1\",\"kind\":\"Lease\",\"metadata\":{"
             "\"name\":\"fakecloud-lease-%s\",\"labels\":{\"fakecloud-managed-by\":\"fakecloud\","
             "\"fakecloud-instance\":\"%s\"}},\"spec\":{\"holderIdentity\":\"%s\","
             "\"leaseDurationSeconds\":2,\"acquireTime\":\"%s\",\"renewTime\":\"%s\"}}",
             instance, instance, instance, micro(at, when), when);
    snprintf(path, sizeof path, "/apis/coordination.k8s.io/v1/namespaces/default/leases%s%s",
             create ? "" : "/fakecloud-lease-", create ? "" : instance);
    int status = kubesim_request(t.sim, create ? "POST" : "PUT", path, body, NULL, NULL);
    cr_assert_eq(status, create ? 201 : 200, "%s lease %s: %d %s", create ? "POST" : "PUT",
                 instance, status, kubesim_last_error());
}

Test(k8s_lease, a_clock_skewed_renew_time_is_not_trusted_blindly, .fini = stop, .timeout = 60)
{
    itest_start(&t, "lease_skew", NULL);
    mock_host_set_config(t.mh, "FAKECLOUD_K8S_LEASE_SECONDS", "2");
    const char *labels = "{\"fakecloud-managed-by\":\"fakecloud\",\"fakecloud-instance\":\"%s\"}";
    char l[160];
    int64_t now = (int64_t)time(NULL);
    /* A holder whose clock is 100 years ahead, then silent (dead). */
    write_lease("future0", now + 100LL * 365 * 86400, true);
    snprintf(l, sizeof l, labels, "future0");
    itest_create_pod(&t, "default", "pod-future", l);
    /* A live holder whose clock is an hour behind: it renews, with old times. */
    write_lease("past0", now - 3600, true);
    snprintf(l, sizeof l, labels, "past0");
    itest_create_pod(&t, "default", "pod-past", l);
    itest_sleep_ms(2200); /* both Pods older than D */

    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(itest_open(&t, ITEST_TOKEN, &err), FCB_OK, "open: %s", err.message);
    double start = itest_now_ms(), future_gone = -1;
    size_t reaped = 0;
    while (itest_now_ms() - start < 5000) {
        write_lease("past0", (int64_t)time(NULL) - 3600, false); /* renewed, skewed */
        cr_assert_eq(t.ops->reap_stale(t.backend, &reaped, &err), FCB_OK, "%s", err.message);
        if (future_gone < 0 && pods_of("future0") == 0)
            future_gone = itest_now_ms() - start;
        cr_assert_eq(pods_of("past0"), 1, "a renewing holder with a slow clock was reaped");
        itest_sleep_ms(200);
    }
    printf("skew: the silent lease with a renewTime 100 years ahead expired after %.0f ms\n",
           future_gone);
    cr_assert_geq(future_gone, 2000 - 50,
                  "a future renewTime was reaped at once (%.0f ms): first sighting counts",
                  future_gone);
    cr_assert_leq(future_gone, 4000, "a future renewTime kept a silent holder alive");
    itest_close(&t);
}

/* ------------------------------------------------------------ renewal faults */

Test(k8s_lease, api_faults_during_renewal_do_not_expire_a_live_lease, .fini = stop, .timeout = 60)
{
    itest_start(&t, "lease_faults", NULL);
    mock_host_set_config(t.mh, "FAKECLOUD_K8S_LEASE_SECONDS", "3");
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(itest_open(&t, ITEST_TOKEN, &err), FCB_OK, "open: %s", err.message);
    fcb_function fn = itest_zip_function("faulty");
    fcb_launch_request req = itest_request(&fn, "d1");
    fcb_instance inst = {.size = sizeof inst};
    cr_assert_eq(t.ops->launch(t.backend, &req, &inst, &err), FCB_OK, "launch: %s", err.message);
    fcb_backend *observer = open_backend();

    /* Right after a renewal, every renewal fails (500) for 1.6 s (< D = 3 s, P = 1 s). */
    long before = kubesim_stat_count(t.sim, "update leases");
    double start = itest_now_ms();
    while (kubesim_stat_count(t.sim, "update leases") == before && itest_now_ms() - start < 3000)
        itest_sleep_ms(20);
    itest_set_faults(&t, "{\"error_rate\":1.0,\"fail_paths\":\"update leases\"}");
    long faulted = kubesim_stat_count(t.sim, "update leases");
    itest_sleep_ms(1600);
    faulted = kubesim_stat_count(t.sim, "update leases") - faulted;
    itest_set_faults(&t, "{\"error_rate\":null,\"fail_paths\":null}");

    /* Someone edits our Lease (its resourceVersion changes): the next renewal gets a 409,
     * re-reads it (still ours) and renews with the new version. */
    json_object *lease = NULL;
    char path[256];
    const char *id = strrchr(inst.handle, '/');
    cr_assert_not_null(id);
    json_object *pod = NULL;
    cr_assert_eq(kubesim_get_json(t.sim, "/api/v1/namespaces/default/pods", &pod), 200);
    const char *instance = json_object_get_string(json_object_object_get(
        json_object_object_get(
            json_object_object_get(
                json_object_array_get_idx(json_object_object_get(pod, "items"), 0), "metadata"),
            "labels"),
        "fakecloud-instance"));
    snprintf(path, sizeof path,
             "/apis/coordination.k8s.io/v1/namespaces/default/leases/fakecloud-lease-%s", instance);
    json_object_put(pod);
    cr_assert_eq(kubesim_request(t.sim, "PATCH", path,
                                 "{\"metadata\":{\"annotations\":{\"x\":\"y\"}}}",
                                 "application/merge-patch+json", NULL),
                 200);

    /* For two durations: the observer never reaps, launches keep working. */
    start = itest_now_ms();
    while (itest_now_ms() - start < 6500) {
        size_t reaped = 0;
        cr_assert_eq(t.ops->reap_stale(observer, &reaped, &err), FCB_OK, "%s", err.message);
        cr_assert_eq(reaped, 0, "a live lease expired early under renewal faults");
        itest_sleep_ms(200);
    }
    cr_assert_gt(faulted, 0, "no renewal was sent while the faults were on");
    cr_assert_eq(kubesim_get_json(t.sim, path, &lease), 200);
    json_object_put(lease);
    cr_assert_geq(kubesim_stat_count(t.sim, "get leases"), 1, "the 409 was resolved by a GET");
    fcb_function fn2 = itest_zip_function("after-faults");
    fcb_launch_request req2 = itest_request(&fn2, "d2");
    fcb_instance inst2 = {.size = sizeof inst2};
    cr_assert_eq(t.ops->launch(t.backend, &req2, &inst2, &err), FCB_OK, "launch: %s", err.message);
    cr_assert(!mock_host_log_contains(t.mh, "Lease lost"), "the lease was reported lost");
    printf("renewal faults: %ld renewals answered 500 within 1.6 s (D = 3 s); lease held\n",
           faulted);
    t.ops->close(observer);
    itest_close(&t);
}

/* ------------------------------------------------------------ lost lease */

Test(k8s_lease, a_lease_not_renewed_for_a_duration_is_lost_until_a_renewal_succeeds, .fini = stop,
     .timeout = 60)
{
    itest_start(&t, "lease_lost", NULL);
    mock_host_set_config(t.mh, "FAKECLOUD_K8S_LEASE_SECONDS", "2");
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(itest_open(&t, ITEST_TOKEN, &err), FCB_OK, "open: %s", err.message);
    fcb_function fn = itest_zip_function("lost");
    fcb_launch_request req = itest_request(&fn, "d1");
    fcb_instance inst = {.size = sizeof inst};
    cr_assert_eq(t.ops->launch(t.backend, &req, &inst, &err), FCB_OK, "launch: %s", err.message);

    /* Every renewal fails for longer than D: the lease is lost, launches refuse at once. */
    itest_set_faults(&t, "{\"error_rate\":1.0,\"fail_paths\":\"update leases\"}");
    itest_sleep_ms(2600);
    double t0 = itest_now_ms();
    int rc = t.ops->launch(t.backend, &req, &inst, &err);
    double took = itest_now_ms() - t0;
    printf("lost lease: launch -> %s in %.0f ms: %s\n", fcb_status_name(rc), took, err.message);
    cr_assert_eq(rc, FCB_ERR_UNAVAILABLE, "launch with a lost lease: %s (%s)",
                 fcb_status_name(rc), err.message);
    cr_assert(strstr(err.message, "lease fakecloud-lease-") != NULL &&
                  strstr(err.message, "lost: no renewal succeeded for 2 s") != NULL &&
                  strstr(err.message, "500") != NULL,
              "%s", err.message);
    cr_assert_lt(took, 1000, "a lost lease fails the launch at once");
    cr_assert(mock_host_log_contains(t.mh, "Lease lost"));

    /* Renewals succeed again: launches work again within a period or two. */
    itest_set_faults(&t, "{\"error_rate\":null,\"fail_paths\":null}");
    double start = itest_now_ms();
    do {
        itest_sleep_ms(100);
        err = (fcb_error)FCB_ERROR_INIT;
        rc = t.ops->launch(t.backend, &req, &inst, &err);
    } while (rc == FCB_ERR_UNAVAILABLE && itest_now_ms() - start < 3000);
    cr_assert_eq(rc, FCB_OK, "launch after the faults ended: %s", err.message);
    cr_assert(mock_host_log_contains(t.mh, "Lease renewed again"));
    itest_close(&t);
}
