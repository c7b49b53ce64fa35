/*
 * The k8s baseline against kubesim: it must make exactly the reference's
 * requests (DELETE, POST, GET polls, DELETE) and really reach the RIE, and
 * its reaper must delete foreign Pods one by one and spare ours and
 * unmanaged ones. Shortened poll/probe intervals keep the test fast; the
 * request pattern does not depend on them. No timing assertions.
 * Each test starts its own simulator in a fresh temporary directory (kubesim_ctl), so
 * the tests may run in parallel.
 */
#include "baseline_k8s.h"
#include "kubesim_ctl.h"

#include <criterion/criterion.h>
#include <json-c/json.h>

#include <stdlib.h>
#include <string.h>

static kubesim *sim;
static bhttp_client *api;

static void start(void)
{
    /* As bench-k8s starts it: the bench's own requests keep one connection. */
    const char *args[] = {"--boot-ms", "50", NULL};
    kubesim_options ko = {.extra_args = args, .keep_connection = 1};
    cr_assert_eq(kubesim_start_opts(&ko, &sim), 0, "%s", kubesim_last_error());
    bhttp_tls tls = {kubesim_ca_file(sim), kubesim_client_cert_file(sim),
                     kubesim_client_key_file(sim), NULL};
    api = bhttp_client_new(kubesim_url(sim), &tls);
    cr_assert_not_null(api);
}

static void stop(void)
{
    bhttp_client_free(api);
    api = NULL;
    kubesim_stop(sim);
    sim = NULL;
}

/* GET PATH: the JSON answer of a 200 (caller puts it); fails the test otherwise. */
static json_object *get_json(const char *path)
{
    json_object *doc = NULL;
    int st = kubesim_get_json(sim, path, &doc);
    cr_assert_eq(st, 200, "GET %s: %d %s", path, st, kubesim_last_error());
    cr_assert_not_null(doc, "GET %s: answer is not JSON", path);
    return doc;
}

static long verb(json_object *stats, const char *name)
{
    json_object *req = NULL, *v = NULL;
    if (json_object_object_get_ex(stats, "requests", &req) &&
        json_object_object_get_ex(req, name, &v))
        return (long)json_object_get_int64(v);
    return 0;
}

TestSuite(baseline_k8s, .init = start, .fini = stop, .timeout = 90);

Test(baseline_k8s, launch_makes_the_reference_requests_and_reaches_the_rie)
{
    char err[BASEK8S_ERR_MAX];
    basek8s_config cfg =
        BASEK8S_CONFIG_DEFAULTS("default", "fakecloud-7", "http://127.0.0.1:9", "t");
    cfg.poll_ms = 200;
    cfg.probe_sleep_ms = 50;
    basek8s *b = basek8s_new(api, &cfg);
    cr_assert_not_null(b);
    cr_assert_eq(kubesim_reset_stats(sim), 0, "%s", kubesim_last_error());

    basek8s_function fn = {
        "fn-a", NULL, NULL, NULL, "public.ecr.aws/lambda/python:3.12", false, "0123456789abcdef",
        128,    3};
    char endpoint[64], pod[64];
    basek8s_counts counts = {0};
    cr_assert_eq(basek8s_launch(b, &fn, endpoint, pod, &counts, err), 0, "%s", err);
    cr_expect_str_eq(pod, "fakecloud-lambda-fn-a-01234567");
    cr_expect(strncmp(endpoint, "127.", 4) == 0 && strstr(endpoint, ":8080"), "%s", endpoint);
    cr_expect_eq(bhttp_tcp_probe(strtok(endpoint, ":"), 8080, 1000), 0, "RIE reachable");
    cr_assert_eq(basek8s_terminate(b, pod, err), 0, "%s", err);
    cr_expect_eq(basek8s_terminate(b, pod, err), 0, "terminate is idempotent: %s", err);

    json_object *stats = get_json("/_sim/stats");
    cr_expect_eq(verb(stats, "delete pods"), 3, "best-effort delete + 2 terminates");
    cr_expect_eq(verb(stats, "create pods"), 1);
    cr_expect_eq(verb(stats, "get pods"), (long)counts.get_polls);
    cr_expect_geq(counts.get_polls, 1u);
    cr_expect_geq(counts.probes, 1u, "the reference sleeps before its first probe");
    json_object_put(stats);
    basek8s_free(b);
}

Test(baseline_k8s, reap_deletes_foreign_pods_one_by_one_and_spares_ours)
{
    char err[BASEK8S_ERR_MAX];
    basek8s_config cfg =
        BASEK8S_CONFIG_DEFAULTS("default", "fakecloud-7", "http://127.0.0.1:9", "t");
    basek8s *b = basek8s_new(api, &cfg);
    cr_assert_not_null(b);
    const char *bodies[] = {
        "{\"count\":30,\"name_prefix\":\"stale\",\"labels\":{\"fakecloud-managed-by\":"
        "\"fakecloud\","
        "\"fakecloud-instance\":\"fakecloud-1\"}}",
        "{\"count\":5,\"name_prefix\":\"mine\",\"labels\":{\"fakecloud-managed-by\":\"fakecloud\","
        "\"fakecloud-instance\":\"fakecloud-7\"}}",
        "{\"count\":4,\"name_prefix\":\"other\",\"labels\":{\"app\":\"x\"}}"};
    for (size_t i = 0; i < 3; i++) {
        int st = kubesim_post_json(sim, "/_sim/bulk", bodies[i], NULL);
        cr_assert_eq(st, 200, "bulk %zu: %d %s", i, st, kubesim_last_error());
    }
    cr_assert_eq(kubesim_reset_stats(sim), 0, "%s", kubesim_last_error());
    size_t reaped = 0;
    basek8s_counts counts = {0};
    cr_assert_eq(basek8s_reap(b, &reaped, &counts, err), 0, "%s", err);
    cr_expect_eq(reaped, 30u);
    cr_expect_eq(counts.requests, 31u, "one LIST + one DELETE per foreign Pod");
    json_object *all = get_json("/api/v1/namespaces/default/pods");
    json_object *items = NULL;
    cr_assert(json_object_object_get_ex(all, "items", &items), "a Pod list has items");
    cr_expect_eq(json_object_array_length(items), 9u, "5 ours + 4 unmanaged remain");
    json_object_put(all);
    basek8s_free(b);
}

/* Figure 3 subtracts the bench's own connections: with keep_connection they are at most
 * the one opened before the reset, so the count is the backend's alone. */
Test(baseline_k8s, bench_requests_keep_one_connection_and_add_none_after_a_reset)
{
    cr_assert_eq(kubesim_reset_stats(sim), 0, "%s", kubesim_last_error());
    for (int i = 0; i < 5; i++)
        json_object_put(get_json("/_sim/stats"));
    json_object *stats = get_json("/_sim/stats");
    json_object *conns = NULL, *tls = NULL;
    cr_assert(json_object_object_get_ex(stats, "connections_total", &conns));
    cr_assert(json_object_object_get_ex(stats, "tls_handshakes_total", &tls));
    cr_expect_eq(json_object_get_int64(conns), 0, "6 GETs after the reset opened no connection");
    cr_expect_eq(json_object_get_int64(tls), 0, "and made no TLS handshake");
    json_object_put(stats);

    /* The baseline's client does open its own: the counter sees it. */
    bhttp_response resp;
    char err[BHTTP_ERR_MAX];
    cr_assert_eq(bhttp_request(api, "GET", "/api/v1/namespaces/default/pods", NULL, 0, &resp, err),
                 0, "%s", err);
    cr_expect_eq(resp.status, 200);
    bhttp_response_free(&resp);
    stats = get_json("/_sim/stats");
    cr_assert(json_object_object_get_ex(stats, "connections_total", &conns));
    cr_expect_eq(json_object_get_int64(conns), 1, "the baseline client's connection counted");
    json_object_put(stats);
}
