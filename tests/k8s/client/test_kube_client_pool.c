/*
 * Integration tests of kube_client's bounded connection pool against kubesim:
 * many threads share at most FAKECLOUD_K8S_MAX_CONNECTIONS connections (plus
 * one per watch stream), counted by the server; a request waiting for a free
 * connection honours its deadline and kube_client_cancel. Every test runs
 * through the mock host and ends with zero outstanding bytes.
 */
#include "k8s_client.h" /* kube_client_new */
#include "kube_client.h"
#include "kubesim_ctl.h"
#include "mock_host.h"

#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define NS_PODS    "/api/v1/namespaces/default/pods"
#define THREADS    32
#define PER_THREAD 10

static kubesim *ks;
static mock_host *mh;
static const fcb_host_services *host;
static kube_client *kc;

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void setup(void)
{
    mh = mock_host_new();
    host = mock_host_services(mh);
}

static void teardown(void)
{
    kube_client_free(kc);
    kc = NULL;
    cr_expect_eq(mock_host_outstanding_bytes(mh), 0, "leaked %zu bytes",
                 mock_host_outstanding_bytes(mh));
    if (ks != NULL)
        kubesim_stop(ks);
    ks = NULL;
    mock_host_free(mh);
}

TestSuite(kube_client_pool, .init = setup, .fini = teardown, .timeout = 60);

static void start(const char *max_connections)
{
    cr_assert_eq(kubesim_start(NULL, &ks), 0, "kubesim: %s", kubesim_last_error());
    mock_host_set_config(mh, "KUBECONFIG", kubesim_kubeconfig(ks));
    if (max_connections != NULL)
        mock_host_set_config(mh, "FAKECLOUD_K8S_MAX_CONNECTIONS", max_connections);
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(kube_client_new(host, &kc, &err), FCB_OK, "kube_client_new: %s", err.message);
    /* Counters from here; the reset's own connection is not counted. */
    cr_assert_eq(kubesim_reset_stats(ks), 0, "%s", kubesim_last_error());
}

/* Connections / TLS handshakes the server accepted from the client since the reset. */
static void server_counts(long *connections, long *handshakes)
{
    json_object *stats = NULL, *v = NULL;
    cr_assert_eq(kubesim_get_json(ks, "/_sim/stats", &stats), 200, "%s", kubesim_last_error());
    /* This stats request is one connection (and handshake) of its own. */
    cr_assert(json_object_object_get_ex(stats, "connections_total", &v));
    *connections = json_object_get_int64(v) - 1;
    cr_assert(json_object_object_get_ex(stats, "tls_handshakes_total", &v));
    *handshakes = json_object_get_int64(v) - 1;
    json_object_put(stats);
}

typedef struct worker {
    pthread_barrier_t *barrier;
    int failures;
    fcb_error err;
} worker;

static void *get_loop(void *arg)
{
    worker *w = arg;
    pthread_barrier_wait(w->barrier);
    for (int i = 0; i < PER_THREAD; i++) {
        kube_response resp;
        fcb_error err = FCB_ERROR_INIT;
        if (kube_request(kc, "GET", NS_PODS, NULL, NULL, 0, 0, 0, &resp, &err) != FCB_OK) {
            w->failures++;
            w->err = err;
        }
        kube_response_clear(kc, &resp);
    }
    return NULL;
}

/* THREADS threads x PER_THREAD GETs, all released at once. */
static void hammer(void)
{
    pthread_barrier_t barrier;
    pthread_barrier_init(&barrier, NULL, THREADS);
    pthread_t t[THREADS];
    worker w[THREADS];
    for (int i = 0; i < THREADS; i++) {
        w[i] = (worker){.barrier = &barrier, .failures = 0, .err = FCB_ERROR_INIT};
        cr_assert_eq(pthread_create(&t[i], NULL, get_loop, &w[i]), 0);
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(t[i], NULL);
        cr_expect_eq(w[i].failures, 0, "thread %d: %d failures, last: %s", i, w[i].failures,
                     w[i].err.message);
    }
    pthread_barrier_destroy(&barrier);
}

Test(kube_client_pool, thirty_two_threads_share_at_most_the_default_three_connections)
{
    start(NULL);
    hammer();
    long conns = 0, handshakes = 0;
    server_counts(&conns, &handshakes);
    cr_expect_leq(conns, 3, "%ld connections for %d requests", conns, THREADS * PER_THREAD);
    cr_expect_leq(handshakes, 3, "%ld TLS handshakes", handshakes);
    cr_expect_geq(conns, 1);
    kube_client_stats st;
    kube_client_get_stats(kc, &st);
    cr_expect_eq(st.requests, THREADS * PER_THREAD);
    cr_expect_leq(st.connections, 3);
    cr_expect_gt(st.slot_waits, 0, "32 threads on 3 connections must have queued");
}

static void on_event(void *ctx, const char *type, json_object *object)
{
    int *seen = ctx;
    json_object *meta = NULL, *name = NULL;
    if (strcmp(type, "ADDED") == 0 && json_object_object_get_ex(object, "metadata", &meta) &&
        json_object_object_get_ex(meta, "name", &name) &&
        strcmp(json_object_get_string(name), "after-load") == 0)
        __atomic_store_n(seen, 1, __ATOMIC_SEQ_CST);
}

Test(kube_client_pool, a_watch_stream_has_its_own_connection_on_top_of_the_configured_cap)
{
    start("2");
    int seen = 0;
    kube_watch *w = NULL;
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(kube_watch_start(kc, NS_PODS, "app=pool", on_event, &seen, &w, &err), FCB_OK, "%s",
                 err.message);
    hammer();
    /* The stream was never starved by the requests: it still delivers at once. */
    const char *pod = "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":"
                      "\"after-load\",\"labels\":{\"app\":\"pool\"}},\"spec\":{\"containers\":"
                      "[{\"name\":\"m\",\"image\":\"x:1\"}]}}";
    kube_response resp;
    cr_expect_eq(
        kube_request(kc, "POST", NS_PODS, NULL, pod, strlen(pod), KUBE_REQ_CREATE, 0, &resp, &err),
        FCB_OK, "%s", err.message);
    kube_response_clear(kc, &resp);
    for (int i = 0; i < 200 && !__atomic_load_n(&seen, __ATOMIC_SEQ_CST); i++)
        usleep(10 * 1000);
    cr_expect(__atomic_load_n(&seen, __ATOMIC_SEQ_CST), "the watch saw the pod within 2 s");
    long conns = 0, handshakes = 0;
    server_counts(&conns, &handshakes);
    cr_expect_leq(conns, 3, "%ld connections: 2 for requests + 1 watch", conns);
    cr_expect_leq(handshakes, 3, "%ld TLS handshakes", handshakes);
    kube_watch_stop(w);
    kube_client_stats st;
    kube_client_get_stats(kc, &st);
    cr_expect_leq(st.connections, 2);
}

typedef struct slow {
    unsigned deadline_ms;
    int rc;
    uint64_t took_ms;
    fcb_error err;
} slow;

static void *slow_get(void *arg)
{
    slow *s = arg;
    kube_response resp;
    s->err = (fcb_error)FCB_ERROR_INIT;
    uint64_t t0 = now_ms();
    s->rc = kube_request(kc, "GET", NS_PODS, NULL, NULL, 0, 0, s->deadline_ms, &resp, &s->err);
    s->took_ms = now_ms() - t0;
    kube_response_clear(kc, &resp);
    return NULL;
}

/* Wait until the client reports N requests sent (the holder is in flight). */
static void wait_requests(unsigned long n)
{
    kube_client_stats st = {0};
    for (int i = 0; i < 300; i++) {
        kube_client_get_stats(kc, &st);
        if (st.requests >= n)
            return;
        usleep(10 * 1000);
    }
    cr_assert_fail("the first request was never sent");
}

Test(kube_client_pool, a_request_waiting_for_a_connection_gives_up_at_its_deadline)
{
    start("1");
    cr_assert_eq(kubesim_set_faults(ks, "{\"latency_ms\":1500}"), 0);
    slow holder = {.deadline_ms = 10000};
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, slow_get, &holder), 0);
    wait_requests(1);
    slow waiter = {.deadline_ms = 300};
    slow_get(&waiter);
    cr_expect_eq(waiter.rc, FCB_ERR_TIMEOUT, "%s", waiter.err.message);
    cr_expect_geq(waiter.took_ms, 280, "gave up after %lu ms", (unsigned long)waiter.took_ms);
    cr_expect_lt(waiter.took_ms, 700, "gave up after %lu ms", (unsigned long)waiter.took_ms);
    char want[256];
    snprintf(want, sizeof want,
             "k8s GET /api/v1/namespaces/default/pods: no free connection to %s within the "
             "deadline (all 1 in use; FAKECLOUD_K8S_MAX_CONNECTIONS)",
             kubesim_url(ks));
    cr_expect_str_eq(waiter.err.message, want);
    pthread_join(t, NULL);
    cr_expect_eq(holder.rc, FCB_OK, "%s", holder.err.message);
    /* The slot came back: the next request gets it. */
    cr_assert_eq(kubesim_set_faults(ks, "{\"latency_ms\":0}"), 0);
    slow after = {.deadline_ms = 5000};
    slow_get(&after);
    cr_expect_eq(after.rc, FCB_OK, "%s", after.err.message);
    kube_client_stats st;
    kube_client_get_stats(kc, &st);
    cr_expect_eq(st.requests, 2, "the waiter never sent anything");
    cr_expect_eq(st.slot_waits, 1);
    cr_expect_eq(st.connections, 1);
}

Test(kube_client_pool, cancel_wakes_a_request_waiting_for_a_connection)
{
    start("1");
    cr_assert_eq(kubesim_set_faults(ks, "{\"latency_ms\":3000}"), 0);
    slow holder = {.deadline_ms = 10000}, waiter = {.deadline_ms = 10000};
    pthread_t th, tw;
    cr_assert_eq(pthread_create(&th, NULL, slow_get, &holder), 0);
    wait_requests(1);
    cr_assert_eq(pthread_create(&tw, NULL, slow_get, &waiter), 0);
    kube_client_stats st = {0};
    for (int i = 0; i < 300 && st.slot_waits == 0; i++) {
        usleep(10 * 1000);
        kube_client_get_stats(kc, &st);
    }
    cr_assert_eq(st.slot_waits, 1, "the second request queued for the connection");
    usleep(100 * 1000);
    uint64_t t0 = now_ms();
    kube_client_cancel(kc);
    pthread_join(tw, NULL);
    uint64_t took = now_ms() - t0;
    pthread_join(th, NULL);
    cr_expect_eq(waiter.rc, FCB_ERR_CANCELLED, "%s", waiter.err.message);
    cr_expect_lt(took, 300, "the waiter returned %lu ms after cancel", (unsigned long)took);
    cr_expect_str_eq(waiter.err.message, "k8s GET /api/v1/namespaces/default/pods: cancelled");
    cr_expect_eq(holder.rc, FCB_ERR_CANCELLED, "%s", holder.err.message);
    kube_client_get_stats(kc, &st);
    cr_expect_eq(st.requests, 1, "the waiter never sent anything");
}

Test(kube_client_pool, serves_waiters_in_arrival_order)
{
    start("1");
    cr_assert_eq(kubesim_set_faults(ks, "{\"latency_ms\":300}"), 0);
    slow holder = {.deadline_ms = 10000};
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, slow_get, &holder), 0);
    wait_requests(1);
    /* Queue three waiters one after the other; each finishes after the one before. */
    enum { WAITERS = 3 };
    slow waiter[WAITERS];
    pthread_t tw[WAITERS];
    for (int i = 0; i < WAITERS; i++) {
        waiter[i] = (slow){.deadline_ms = 10000};
        cr_assert_eq(pthread_create(&tw[i], NULL, slow_get, &waiter[i]), 0);
        kube_client_stats st = {0};
        for (int j = 0; j < 300 && st.slot_waits < (unsigned long)i + 1; j++) {
            usleep(5 * 1000);
            kube_client_get_stats(kc, &st);
        }
        cr_assert_eq(st.slot_waits, (unsigned long)i + 1, "waiter %d queued", i);
    }
    pthread_join(th, NULL);
    for (int i = 0; i < WAITERS; i++)
        pthread_join(tw[i], NULL);
    cr_expect_eq(holder.rc, FCB_OK, "%s", holder.err.message);
    for (int i = 0; i < WAITERS; i++) {
        cr_expect_eq(waiter[i].rc, FCB_OK, "waiter %d: %s", i, waiter[i].err.message);
        if (i > 0)
            /* Queued ~5-15 ms apart, served 300 ms apart: order shows in the durations. */
            cr_expect_gt(waiter[i].took_ms, waiter[i - 1].took_ms + 150,
                         "waiter %d took %lu ms, waiter %d %lu ms", i,
                         (unsigned long)waiter[i].took_ms, i - 1,
                         (unsigned long)waiter[i - 1].took_ms);
    }
}
