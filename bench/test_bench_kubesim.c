/*
 * The k8s baseline against kubesim: it must make exactly the reference's
 * requests (DELETE, POST, GET polls, DELETE) and really reach the RIE, and
 * its reaper must delete foreign Pods one by one and spare ours and
 * unmanaged ones. Shortened poll/probe intervals keep the test fast; the
 * request pattern does not depend on them. No timing assertions.
 */
#include "baseline_k8s.h"
#include "sim_ctl.h"

#include <criterion/criterion.h>
#include <json-c/json.h>

#include <stdlib.h>
#include <string.h>

static simctl sim;
static bhttp_client *api;

static void start(void)
{
    char err[SIMCTL_ERR_MAX];
    const char *py = getenv("BENCH_PYTHON"), *script = getenv("BENCH_KUBESIM");
    const char *dir = getenv("BENCH_WORKDIR");
    cr_assert(py && script && dir, "BENCH_PYTHON, BENCH_KUBESIM, BENCH_WORKDIR must be set");
    const char *args[] = {"--boot-ms", "50", NULL};
    cr_assert_eq(simctl_start(&sim, py, NULL, script, dir, args, err), 0, "%s", err);
    bhttp_tls tls = {sim.ca, sim.client_cert, sim.client_key, NULL};
    api = bhttp_client_new(sim.url, &tls, true);
    cr_assert_not_null(api);
}

static void stop(void)
{
    bhttp_client_free(api);
    api = NULL;
    simctl_stop(&sim);
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
    char err[BASEK8S_ERR_MAX], serr[SIMCTL_ERR_MAX];
    basek8s_config cfg = BASEK8S_CONFIG_DEFAULTS("default", "fakecloud-7", "http://127.0.0.1:9", "t");
    cfg.poll_ms = 200;
    cfg.probe_sleep_ms = 50;
    basek8s *b = basek8s_new(api, &cfg);
    cr_assert_not_null(b);
    json_object *r = simctl_post(&sim, "POST", "/_sim/reset", "{}", serr);
    cr_assert_not_null(r, "%s", serr);
    json_object_put(r);

    basek8s_function fn = {"fn-a", NULL, NULL, NULL, "public.ecr.aws/lambda/python:3.12", false,
                           "0123456789abcdef", 128, 3};
    char endpoint[64], pod[64];
    basek8s_counts counts = {0};
    cr_assert_eq(basek8s_launch(b, &fn, endpoint, pod, &counts, err), 0, "%s", err);
    cr_expect_str_eq(pod, "fakecloud-lambda-fn-a-01234567");
    cr_expect(strncmp(endpoint, "127.", 4) == 0 && strstr(endpoint, ":8080"), "%s", endpoint);
    cr_expect_eq(bhttp_tcp_probe(strtok(endpoint, ":"), 8080, 1000), 0, "RIE reachable");
    cr_assert_eq(basek8s_terminate(b, pod, err), 0, "%s", err);
    cr_expect_eq(basek8s_terminate(b, pod, err), 0, "terminate is idempotent: %s", err);

    json_object *stats = simctl_get(&sim, "/_sim/stats", serr);
    cr_assert_not_null(stats, "%s", serr);
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
    char err[BASEK8S_ERR_MAX], serr[SIMCTL_ERR_MAX];
    basek8s_config cfg = BASEK8S_CONFIG_DEFAULTS("default", "fakecloud-7", "http://127.0.0.1:9", "t");
    basek8s *b = basek8s_new(api, &cfg);
    cr_assert_not_null(b);
    const char *bodies[] = {
        "{\"count\":30,\"name_prefix\":\"stale\",\"labels\":{\"fakecloud-managed-by\":\"fakecloud\","
        "\"fakecloud-instance\":\"fakecloud-1\"}}",
        "{\"count\":5,\"name_prefix\":\"mine\",\"labels\":{\"fakecloud-managed-by\":\"fakecloud\","
        "\"fakecloud-instance\":\"fakecloud-7\"}}",
        "{\"count\":4,\"name_prefix\":\"other\",\"labels\":{\"app\":\"x\"}}"};
    for (size_t i = 0; i < 3; i++) {
        json_object *r = simctl_post(&sim, "POST", "/_sim/bulk", bodies[i], serr);
        cr_assert_not_null(r, "%s", serr);
        json_object_put(r);
    }
    json_object *r = simctl_post(&sim, "POST", "/_sim/reset", "{}", serr);
    json_object_put(r);
    size_t reaped = 0;
    basek8s_counts counts = {0};
    cr_assert_eq(basek8s_reap(b, &reaped, &counts, err), 0, "%s", err);
    cr_expect_eq(reaped, 30u);
    cr_expect_eq(counts.requests, 31u, "one LIST + one DELETE per foreign Pod");
    json_object *all = simctl_get(&sim, "/api/v1/namespaces/default/pods", serr);
    json_object *items = NULL;
    cr_assert(all && json_object_object_get_ex(all, "items", &items), "%s", serr);
    cr_expect_eq(json_object_array_length(items), 9u, "5 ours + 4 unmanaged remain");
    json_object_put(all);
    basek8s_free(b);
}
