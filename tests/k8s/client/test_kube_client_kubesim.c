/*
 * Integration tests of kube_client against kubesim: every auth method, TLS
 * failures, retries on injected faults, deadlines, cancellation, size limits,
 * and the watch (resume after a cut stream, relist after 410 Gone). Every
 * test runs through the mock host and ends with zero outstanding bytes.
 */
#include "k8s_client.h" /* kube_client_new */
#include "kube_client.h"
#include "kubesim_ctl.h"
#include "mock_host.h"

#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define FX      FIXTURE_DIR
#define NS_PODS "/api/v1/namespaces/default/pods"

static kubesim *ks;
static mock_host *mh;
static const fcb_host_services *host;
static kube_client *kc;
static char tmpdir[64];

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void start_sim(const char *const *args)
{
    cr_assert_eq(kubesim_start(args, &ks), 0, "kubesim: %s", kubesim_last_error());
}

static void setup(void)
{
    mh = mock_host_new();
    host = mock_host_services(mh);
    snprintf(tmpdir, sizeof tmpdir, "/tmp/kclient-XXXXXX");
    cr_assert_not_null(mkdtemp(tmpdir));
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
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", tmpdir);
    mock_host_free(mh);
}

TestSuite(kube_client_kubesim, .init = setup, .fini = teardown, .timeout = 60);

static char *write_tmp(const char *name, const char *content)
{
    static char path[256];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs(content, f);
    fclose(f);
    chmod(path, 0600);
    return path;
}

static void new_client(void)
{
    fcb_error err = FCB_ERROR_INIT;
    int rc = kube_client_new(host, &kc, &err);
    cr_assert_eq(rc, FCB_OK, "kube_client_new: %s", err.message);
}

static long get(const char *path, int *rc_out, fcb_error *err)
{
    kube_response resp;
    int rc = kube_request(kc, "GET", path, NULL, NULL, 0, 0, 0, &resp, err);
    long status = resp.status;
    kube_response_clear(kc, &resp);
    if (rc_out != NULL)
        *rc_out = rc;
    return status;
}

static void expect_get_ok(const char *what)
{
    fcb_error err = FCB_ERROR_INIT;
    int rc = 0;
    long status = get(NS_PODS, &rc, &err);
    cr_expect_eq(rc, FCB_OK, "%s: %s", what, err.message);
    cr_expect_eq(status, 200, "%s", what);
}

static void create_pod(const char *name, const char *app)
{
    char body[512];
    snprintf(body, sizeof body,
             "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"%s\",\"labels\":"
             "{\"app\":\"%s\"}},\"spec\":{\"containers\":[{\"name\":\"m\",\"image\":\"x:1\"}]}}",
             name, app);
    cr_assert_eq(kubesim_post_json(ks, NS_PODS, body, NULL), 201, "create %s: %s", name,
                 kubesim_last_error());
}

/* ---------------------------------------------------------------- auth */

Test(kube_client_kubesim, authenticates_with_a_client_certificate_and_round_trips_a_pod)
{
    start_sim(NULL);
    mock_host_set_config(mh, "KUBECONFIG", kubesim_kubeconfig(ks));
    new_client();
    cr_expect_str_eq(kube_client_namespace(kc), "default");
    cr_expect_str_eq(kube_client_server(kc), kubesim_url(ks));

    const char *pod = "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"rt\"},"
                      "\"spec\":{\"containers\":[{\"name\":\"m\",\"image\":\"x:1\"}]}}";
    kube_response resp;
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(
        kube_request(kc, "POST", NS_PODS, NULL, pod, strlen(pod), KUBE_REQ_CREATE, 0, &resp, &err),
        FCB_OK, "%s", err.message);
    cr_expect_eq(resp.status, 201);
    cr_expect_not(resp.retried);
    cr_expect_str_eq(json_object_get_string(json_object_object_get(
                         json_object_object_get(resp.body, "metadata"), "name")),
                     "rt");
    kube_response_clear(kc, &resp);

    /* A second create is refused with the server's Status in the message. */
    cr_expect_eq(
        kube_request(kc, "POST", NS_PODS, NULL, pod, strlen(pod), KUBE_REQ_CREATE, 0, &resp, &err),
        FCB_ERR_BACKEND);
    cr_expect_eq(resp.status, 409);
    cr_expect_str_eq(resp.reason, "AlreadyExists");
    cr_expect_not(resp.retried);
    cr_expect(strstr(err.message, "k8s POST " NS_PODS ": 409 AlreadyExists: ") != NULL, "%s",
              err.message);
    kube_response_clear(kc, &resp);

    cr_expect_eq(kube_request(kc, "GET", NS_PODS "/nope", NULL, NULL, 0, 0, 0, &resp, &err),
                 FCB_ERR_NOT_FOUND);
    cr_expect_str_eq(resp.reason, "NotFound");
    kube_response_clear(kc, &resp);

    cr_expect_eq(kube_request(kc, "DELETE", NS_PODS "/rt", NULL, "{\"gracePeriodSeconds\":0}", 24,
                              0, 0, &resp, &err),
                 FCB_OK, "%s", err.message);
    kube_response_clear(kc, &resp);

    kube_client_stats st;
    kube_client_get_stats(kc, &st);
    cr_expect_eq(st.requests, 4);
    cr_expect_eq(st.retries, 0);
}

Test(kube_client_kubesim, reuses_connections_across_requests)
{
    start_sim(NULL);
    mock_host_set_config(mh, "KUBECONFIG", kubesim_kubeconfig(ks));
    new_client();
    for (int i = 0; i < 20; i++)
        expect_get_ok("get");
    json_object *stats = NULL;
    cr_assert_eq(kubesim_get_json(ks, "/_sim/stats", &stats), 200);
    json_object *conns = NULL;
    cr_assert(json_object_object_get_ex(stats, "connections_total", &conns));
    cr_expect_leq(json_object_get_int(conns), 2, "keep-alive: %d connections for 20 requests",
                  json_object_get_int(conns));
    json_object_put(stats);
}

Test(kube_client_kubesim, keeps_working_when_the_token_file_rotates)
{
    start_sim(NULL);
    mock_host_set_config(mh, "KUBECONFIG", kubesim_kubeconfig_token(ks));
    new_client();
    expect_get_ok("first token");
    /* Rotation between periodic re-reads: the 401 makes the client re-read once. */
    cr_assert_eq(kubesim_write_token(ks, "rotated-token-2"), 0);
    expect_get_ok("after rotation (401, re-read)");
    kube_client_stats st;
    kube_client_get_stats(kc, &st);
    cr_expect_eq(st.requests, 3, "one extra request for the 401");
}

Test(kube_client_kubesim, rereads_the_token_file_periodically)
{
    start_sim(NULL);
    mock_host_set_config(mh, "KUBECONFIG", kubesim_kubeconfig_token(ks));
    mock_host_set_config(mh, "FAKECLOUD_K8S_TOKEN_REREAD_MS", "100");
    new_client();
    expect_get_ok("first token");
    cr_assert_eq(kubesim_write_token(ks, "rotated-token-3"), 0);
    usleep(150 * 1000);
    expect_get_ok("after rotation and re-read");
    kube_client_stats st;
    kube_client_get_stats(kc, &st);
    cr_expect_eq(st.requests, 2, "the new token was read before sending: no 401");
}

Test(kube_client_kubesim, fails_with_401_when_the_token_is_wrong)
{
    start_sim(NULL);
    char token_path[300];
    snprintf(token_path, sizeof token_path, "%s", write_tmp("bad-token", "wrong\n"));
    char cfg[2048];
    snprintf(
        cfg, sizeof cfg,
        "current-context: k\nclusters:\n- name: k\n  cluster:\n    server: %s\n"
        "    certificate-authority: %s\ncontexts:\n- name: k\n  context: {cluster: k, user: u}\n"
        "users:\n- name: u\n  user: {token: wrong-inline}\n",
        kubesim_url(ks), kubesim_ca_file(ks));
    mock_host_set_config(mh, "KUBECONFIG", write_tmp("config", cfg));
    new_client();
    fcb_error err = FCB_ERROR_INIT;
    int rc = 0;
    cr_expect_eq(get(NS_PODS, &rc, &err), 401);
    cr_expect_eq(rc, FCB_ERR_BACKEND);
    cr_expect(strstr(err.message, ": 401 Unauthorized") != NULL, "%s", err.message);
    cr_expect(strstr(err.message, "wrong-inline") == NULL, "never the token");
    cr_expect_not(mock_host_log_contains(mh, "wrong-inline"));
}

static int count_lines(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return 0;
    int n = 0, c;
    while ((c = fgetc(f)) != EOF)
        n += c == '\n';
    fclose(f);
    return n;
}

static void write_exec_config(const char *api_version, const char *extra_env)
{
    char cfg[4096];
    char count[300];
    snprintf(count, sizeof count, "%s/exec-count", tmpdir);
    snprintf(
        cfg, sizeof cfg,
        "current-context: k\nclusters:\n- name: k\n  cluster:\n    server: %s\n"
        "    certificate-authority: %s\ncontexts:\n- name: k\n  context: {cluster: k, user: u}\n"
        "users:\n- name: u\n  user:\n    exec:\n      apiVersion: %s\n"
        "      command: %s/exec-credential.sh\n      provideClusterInfo: true\n"
        "      env:\n      - {name: KUBESIM_TOKEN_FILE, value: %s}\n"
        "      - {name: EXEC_COUNT_FILE, value: %s}\n"
        "      - {name: EXEC_API_VERSION, value: %s}\n"
        "      - {name: EXEC_EXPECT_SERVER, value: \"%s\"}\n%s",
        kubesim_url(ks), kubesim_ca_file(ks), api_version, TEST_SCRIPTS_DIR, kubesim_token_file(ks),
        count, api_version, kubesim_url(ks), extra_env != NULL ? extra_env : "");
    mock_host_set_config(mh, "KUBECONFIG", write_tmp("config", cfg));
}

Test(kube_client_kubesim, runs_the_exec_plugin_once_and_caches_its_token)
{
    start_sim(NULL);
    write_exec_config("client.authentication.k8s.io/v1", NULL);
    new_client();
    char count[300];
    snprintf(count, sizeof count, "%s/exec-count", tmpdir);
    cr_expect_eq(count_lines(count), 0, "not run before the first request");
    for (int i = 0; i < 10; i++)
        expect_get_ok("exec token");
    cr_expect_eq(count_lines(count), 1, "cached across requests");
    cr_expect(mock_host_log_contains(mh, "exec-credential.sh: issued a token"),
              "stderr reaches the debug log");
    /* The token rotates server-side: 401 -> the plugin runs again. */
    cr_assert_eq(kubesim_write_token(ks, "exec-rotated"), 0);
    expect_get_ok("after rotation");
    cr_expect_eq(count_lines(count), 2);
    cr_expect_not(mock_host_log_contains(mh, "exec-rotated"), "never the token in the log");
}

Test(kube_client_kubesim, reruns_a_v1beta1_exec_plugin_when_its_credential_expires)
{
    start_sim(NULL);
    /* Expiry inside the refresh slack: every request needs a fresh credential. */
    char env[200];
    time_t soon = time(NULL) + 5;
    struct tm tm;
    gmtime_r(&soon, &tm);
    char stamp[40];
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &tm);
    snprintf(env, sizeof env, "      - {name: EXEC_EXPIRY, value: \"%s\"}\n", stamp);
    write_exec_config("client.authentication.k8s.io/v1beta1", env);
    new_client();
    char count[300];
    snprintf(count, sizeof count, "%s/exec-count", tmpdir);
    for (int i = 0; i < 3; i++)
        expect_get_ok("expiring exec token");
    cr_expect_eq(count_lines(count), 3);
}

Test(kube_client_kubesim, reports_a_failing_exec_plugin_with_its_stderr)
{
    start_sim(NULL);
    write_exec_config("client.authentication.k8s.io/v1",
                      "      - {name: EXEC_FAIL, value: \"1\"}\n");
    new_client();
    fcb_error err = FCB_ERROR_INIT;
    int rc = 0;
    get(NS_PODS, &rc, &err);
    cr_expect_eq(rc, FCB_ERR_CONFIG);
    cr_expect(strstr(err.message, "exec-credential.sh' (user 'u' in kubeconfig ") != NULL, "%s",
              err.message);
    cr_expect(strstr(err.message,
                     "exited with status 2: exec-credential.sh: refusing on purpose") != NULL,
              "%s", err.message);
}

Test(kube_client_kubesim, connects_in_cluster_with_a_service_account_directory)
{
    start_sim(NULL);
    char sa[300], cmd[1200], port[16];
    snprintf(sa, sizeof sa, "%s/sa", tmpdir);
    snprintf(cmd, sizeof cmd,
             "mkdir -p %s && cp %s %s/token && cp %s %s/ca.crt && echo ns1 > %s/namespace", sa,
             kubesim_token_file(ks), sa, kubesim_ca_file(ks), sa, sa);
    cr_assert_eq(system(cmd), 0);
    snprintf(port, sizeof port, "%s", strrchr(kubesim_url(ks), ':') + 1);
    mock_host_set_config(mh, "HOME", "/nonexistent");
    mock_host_set_config(mh, "KUBERNETES_SERVICE_HOST", "127.0.0.1");
    mock_host_set_config(mh, "KUBERNETES_SERVICE_PORT", port);
    mock_host_set_config(mh, "FAKECLOUD_K8S_SA_DIR", sa);
    new_client();
    cr_expect_str_eq(kube_client_namespace(kc), "ns1");
    expect_get_ok("in-cluster");
}

/* ---------------------------------------------------------------- TLS */

Test(kube_client_kubesim, names_the_server_and_tls_when_the_ca_is_wrong)
{
    start_sim(NULL);
    char cfg[2048];
    snprintf(cfg, sizeof cfg,
             "current-context: k\nclusters:\n- name: k\n  cluster:\n    server: %s\n"
             "    certificate-authority: %s/other-ca.crt\ncontexts:\n- name: k\n"
             "  context: {cluster: k, user: u}\nusers:\n- name: u\n  user: {tokenFile: %s}\n",
             kubesim_url(ks), FX, kubesim_token_file(ks));
    mock_host_set_config(mh, "KUBECONFIG", write_tmp("config", cfg));
    new_client();
    fcb_error err = FCB_ERROR_INIT;
    int rc = 0;
    uint64_t t0 = now_ms();
    cr_expect_eq(get(NS_PODS, &rc, &err), 0);
    cr_expect_eq(rc, FCB_ERR_UNAVAILABLE);
    cr_expect(strstr(err.message, "TLS connection to ") != NULL, "%s", err.message);
    cr_expect(strstr(err.message, kubesim_url(ks)) != NULL, "%s", err.message);
    cr_expect_lt(now_ms() - t0, 2000, "TLS failures are not retried");
    kube_client_stats st;
    kube_client_get_stats(kc, &st);
    cr_expect_eq(st.retries, 0);
}

Test(kube_client_kubesim, verifies_against_tls_server_name_while_connecting_to_the_ip)
{
    start_sim(NULL);
    char cfg[2048];
    const char *fmt =
        "current-context: k\nclusters:\n- name: k\n  cluster:\n    server: %s\n"
        "    certificate-authority: %s\n    tls-server-name: %s\ncontexts:\n- name: k\n"
        "  context: {cluster: k, user: u}\nusers:\n- name: u\n  user: {tokenFile: %s}\n";
    snprintf(cfg, sizeof cfg, fmt, kubesim_url(ks), kubesim_ca_file(ks), "localhost",
             kubesim_token_file(ks));
    mock_host_set_config(mh, "KUBECONFIG", write_tmp("config", cfg));
    new_client();
    expect_get_ok("tls-server-name localhost");
    kube_client_free(kc);
    kc = NULL;

    snprintf(cfg, sizeof cfg, fmt, kubesim_url(ks), kubesim_ca_file(ks), "not-the-server.example",
             kubesim_token_file(ks));
    mock_host_set_config(mh, "KUBECONFIG", write_tmp("config2", cfg));
    new_client();
    fcb_error err = FCB_ERROR_INIT;
    int rc = 0;
    get(NS_PODS, &rc, &err);
    cr_expect_eq(rc, FCB_ERR_UNAVAILABLE);
    cr_expect(strstr(err.message, "TLS connection to ") != NULL, "%s", err.message);
}

Test(kube_client_kubesim, skips_verification_only_when_told_and_warns)
{
    start_sim(NULL);
    char cfg[2048];
    snprintf(cfg, sizeof cfg,
             "current-context: k\nclusters:\n- name: k\n  cluster:\n    server: %s\n"
             "    insecure-skip-tls-verify: true\ncontexts:\n- name: k\n"
             "  context: {cluster: k, user: u}\nusers:\n- name: u\n  user: {tokenFile: %s}\n",
             kubesim_url(ks), kubesim_token_file(ks));
    mock_host_set_config(mh, "KUBECONFIG", write_tmp("config", cfg));
    new_client();
    cr_expect(
        mock_host_log_contains(mh, "WARN k8s: TLS verification of the API server is disabled"));
    expect_get_ok("insecure");
}

/* ---------------------------------------------------------------- retries */

Test(kube_client_kubesim, retries_server_errors_until_a_request_succeeds)
{
    start_sim(NULL);
    mock_host_set_config(mh, "KUBECONFIG", kubesim_kubeconfig(ks));
    mock_host_set_config(mh, "FAKECLOUD_K8S_MAX_ATTEMPTS", "10");
    new_client();
    cr_assert_eq(kubesim_set_faults(ks, "{\"error_rate\":0.5}"), 0);
    for (int i = 0; i < 10; i++)
        expect_get_ok("get under 50% errors");
    kube_client_stats st;
    kube_client_get_stats(kc, &st);
    cr_expect_gt(st.retries, 0);
    cr_expect_eq(st.requests, 10 + st.retries);
}

Test(kube_client_kubesim, gives_up_after_the_maximum_attempts_with_the_last_error)
{
    start_sim(NULL);
    mock_host_set_config(mh, "KUBECONFIG", kubesim_kubeconfig(ks));
    mock_host_set_config(mh, "FAKECLOUD_K8S_MAX_ATTEMPTS", "3");
    new_client();
    cr_assert_eq(kubesim_set_faults(ks, "{\"error_rate\":1.0}"), 0);
    fcb_error err = FCB_ERROR_INIT;
    int rc = 0;
    cr_expect_eq(get(NS_PODS, &rc, &err), 500);
    cr_expect_eq(rc, FCB_ERR_BACKEND);
    cr_expect(strstr(err.message, "k8s GET " NS_PODS ": 500 InternalError: ") != NULL, "%s",
              err.message);
    cr_expect(strstr(err.message, "(after 3 attempts)") != NULL, "%s", err.message);
    kube_client_stats st;
    kube_client_get_stats(kc, &st);
    cr_expect_eq(st.requests, 3);
}

Test(kube_client_kubesim, honours_retry_after_on_429_within_the_deadline)
{
    start_sim(NULL);
    mock_host_set_config(mh, "KUBECONFIG", kubesim_kubeconfig(ks));
    new_client();
    cr_assert_eq(kubesim_set_faults(ks, "{\"throttle_rate\":1.0,\"throttle_retry_after\":1}"), 0);
    kube_response resp;
    fcb_error err = FCB_ERROR_INIT;
    uint64_t t0 = now_ms();
    int rc = kube_request(kc, "GET", NS_PODS, NULL, NULL, 0, 0, 1600, &resp, &err);
    uint64_t took = now_ms() - t0;
    cr_expect_eq(rc, FCB_ERR_BACKEND);
    cr_expect_eq(resp.status, 429);
    cr_expect_str_eq(resp.reason, "TooManyRequests");
    cr_expect(resp.retried);
    cr_expect(strstr(err.message, "(after 2 attempts)") != NULL, "%s", err.message);
    cr_expect_geq(took, 1000, "waited Retry-After: %lu ms", (unsigned long)took);
    cr_expect_lt(took, 1600, "gave up instead of sleeping past the deadline");
    kube_response_clear(kc, &resp);

    /* 429 is retried even for a non-idempotent POST: the server did not act. */
    cr_assert_eq(kubesim_set_faults(ks, "{\"throttle_rate\":0.5,\"throttle_retry_after\":0}"), 0);
    const char *pod = "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"t429\"},"
                      "\"spec\":{\"containers\":[{\"name\":\"m\",\"image\":\"x:1\"}]}}";
    mock_host_set_config(mh, "unused", NULL);
    for (int i = 0; i < 3; i++) {
        rc = kube_request(kc, "PATCH", NS_PODS "/none", "application/merge-patch+json", "{}", 2, 0,
                          5000, &resp, &err);
        cr_expect(rc == FCB_ERR_NOT_FOUND, "PATCH: %s", err.message);
        kube_response_clear(kc, &resp);
    }
    rc = kube_request(kc, "POST", NS_PODS, NULL, pod, strlen(pod), 0, 5000, &resp, &err);
    cr_expect_eq(rc, FCB_OK, "%s", err.message);
    kube_response_clear(kc, &resp);
}

Test(kube_client_kubesim, does_not_retry_a_plain_post_after_a_server_error)
{
    start_sim(NULL);
    mock_host_set_config(mh, "KUBECONFIG", kubesim_kubeconfig(ks));
    new_client();
    cr_assert_eq(kubesim_set_faults(ks, "{\"error_rate\":1.0}"), 0);
    const char *pod = "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"p500\"},"
                      "\"spec\":{\"containers\":[{\"name\":\"m\",\"image\":\"x:1\"}]}}";
    kube_response resp;
    fcb_error err = FCB_ERROR_INIT;
    cr_expect_eq(kube_request(kc, "POST", NS_PODS, NULL, pod, strlen(pod), 0, 0, &resp, &err),
                 FCB_ERR_BACKEND);
    cr_expect_not(resp.retried);
    kube_response_clear(kc, &resp);
    /* With KUBE_REQ_CREATE it is retried (the caller checks a 409 after a retry). */
    cr_assert_eq(kubesim_set_faults(ks, "{\"error_rate\":0.6}"), 0);
    mock_host_set_config(mh, "FAKECLOUD_K8S_MAX_ATTEMPTS", "20");
    kube_client_free(kc);
    kc = NULL;
    new_client();
    int rc = kube_request(kc, "POST", NS_PODS, NULL, pod, strlen(pod), KUBE_REQ_CREATE, 20000,
                          &resp, &err);
    cr_expect_eq(rc, FCB_OK, "%s", err.message);
    kube_response_clear(kc, &resp);
    kube_client_stats st;
    kube_client_get_stats(kc, &st);
    cr_expect_eq(st.requests, st.retries + 1);
}

Test(kube_client_kubesim, stops_at_the_deadline)
{
    start_sim(NULL);
    mock_host_set_config(mh, "KUBECONFIG", kubesim_kubeconfig(ks));
    new_client();
    cr_assert_eq(kubesim_set_faults(ks, "{\"latency_ms\":3000}"), 0);
    kube_response resp;
    fcb_error err = FCB_ERROR_INIT;
    uint64_t t0 = now_ms();
    cr_expect_eq(kube_request(kc, "GET", NS_PODS, NULL, NULL, 0, 0, 300, &resp, &err),
                 FCB_ERR_TIMEOUT, "%s", err.message);
    cr_expect_lt(now_ms() - t0, 800);
    cr_expect(strstr(err.message, "within the deadline") != NULL, "%s", err.message);
    kube_response_clear(kc, &resp);
}

static void *slow_get(void *arg)
{
    int *rc = arg;
    kube_response resp;
    fcb_error err = FCB_ERROR_INIT;
    *rc = kube_request(kc, "GET", NS_PODS, NULL, NULL, 0, 0, 10000, &resp, &err);
    kube_response_clear(kc, &resp);
    return NULL;
}

Test(kube_client_kubesim, cancel_stops_requests_in_flight_promptly)
{
    start_sim(NULL);
    mock_host_set_config(mh, "KUBECONFIG", kubesim_kubeconfig(ks));
    new_client();
    cr_assert_eq(kubesim_set_faults(ks, "{\"latency_ms\":5000}"), 0);
    int rc = 1;
    pthread_t t;
    pthread_create(&t, NULL, slow_get, &rc);
    usleep(300 * 1000);
    uint64_t t0 = now_ms();
    kube_client_cancel(kc);
    pthread_join(t, NULL);
    cr_expect_lt(now_ms() - t0, 300, "cancel took %lu ms", (unsigned long)(now_ms() - t0));
    cr_expect_eq(rc, FCB_ERR_CANCELLED);
    /* Later requests fail at once. */
    fcb_error err = FCB_ERROR_INIT;
    int rc2 = 0;
    get(NS_PODS, &rc2, &err);
    cr_expect_eq(rc2, FCB_ERR_CANCELLED);
}

Test(kube_client_kubesim, refuses_a_response_larger_than_the_limit)
{
    start_sim(NULL);
    mock_host_set_config(mh, "KUBECONFIG", kubesim_kubeconfig(ks));
    mock_host_set_config(mh, "FAKECLOUD_K8S_MAX_RESPONSE_BYTES", "2048");
    new_client();
    for (int i = 0; i < 8; i++) {
        char name[32];
        snprintf(name, sizeof name, "big-%d", i);
        create_pod(name, "big");
    }
    fcb_error err = FCB_ERROR_INIT;
    int rc = 0;
    get(NS_PODS, &rc, &err);
    cr_expect_eq(rc, FCB_ERR_BACKEND);
    cr_expect(strstr(err.message, "response body larger than the 2048 byte limit") != NULL, "%s",
              err.message);
}

/* ---------------------------------------------------------------- watch */

#define MAX_SEEN 256

typedef struct watch_view {
    pthread_mutex_t lock;
    char present[MAX_SEEN][64]; /* names currently present (by replay) */
    size_t n_present;
    char ever[MAX_SEEN][64]; /* every name ever reported */
    size_t n_ever;
    int synced;
    int deleted_unknown;
} watch_view;

static int find_name(char names[][64], size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(names[i], name) == 0)
            return (int)i;
    return -1;
}

static void on_watch(void *ctx, const char *type, json_object *obj)
{
    watch_view *v = ctx;
    pthread_mutex_lock(&v->lock);
    if (strcmp(type, "SYNCED") == 0) {
        v->synced++;
    } else {
        json_object *meta = json_object_object_get(obj, "metadata");
        const char *name = json_object_get_string(json_object_object_get(meta, "name"));
        if (name != NULL) {
            int p = find_name(v->present, v->n_present, name);
            if (strcmp(type, "DELETED") == 0) {
                if (p >= 0)
                    memcpy(v->present[p], v->present[--v->n_present], 64);
                else
                    v->deleted_unknown++;
            } else if (p < 0 && v->n_present < MAX_SEEN) {
                snprintf(v->present[v->n_present++], 64, "%s", name);
            }
            if (find_name(v->ever, v->n_ever, name) < 0 && v->n_ever < MAX_SEEN)
                snprintf(v->ever[v->n_ever++], 64, "%s", name);
        }
    }
    pthread_mutex_unlock(&v->lock);
}

static bool view_has_all(watch_view *v, const char *prefix, int n)
{
    bool all = true;
    pthread_mutex_lock(&v->lock);
    for (int i = 0; i < n && all; i++) {
        char name[64];
        snprintf(name, sizeof name, "%s%d", prefix, i);
        all = find_name(v->ever, v->n_ever, name) >= 0;
    }
    pthread_mutex_unlock(&v->lock);
    return all;
}

static bool wait_for_all(watch_view *v, const char *prefix, int n, int timeout_ms)
{
    for (int waited = 0; waited < timeout_ms; waited += 20) {
        if (view_has_all(v, prefix, n))
            return true;
        usleep(20 * 1000);
    }
    return view_has_all(v, prefix, n);
}

Test(kube_client_kubesim, watch_lists_then_streams_only_selected_pods)
{
    start_sim(NULL);
    mock_host_set_config(mh, "KUBECONFIG", kubesim_kubeconfig(ks));
    mock_host_set_config(mh, "FAKECLOUD_K8S_LIST_PAGE_SIZE", "2");
    new_client();
    create_pod("w-0", "w");
    create_pod("other-0", "other");
    create_pod("page-0", "w");
    create_pod("page-1", "w");
    create_pod("page-2", "w");
    cr_assert_eq(kubesim_reset_stats(ks), 0);
    watch_view v = {.lock = PTHREAD_MUTEX_INITIALIZER};
    kube_watch *w = NULL;
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(kube_watch_start(kc, NS_PODS, "app=w", on_watch, &v, &w, &err), FCB_OK, "%s",
                 err.message);
    cr_expect_eq(v.synced, 1, "the first list completed before start returned");
    cr_expect(view_has_all(&v, "w-", 1));
    cr_expect(view_has_all(&v, "page-", 3));
    cr_expect_eq(kubesim_stat_count(ks, "list pods"), 2, "4 pods in pages of 2");
    create_pod("w-1", "w");
    create_pod("w-2", "w");
    cr_expect(wait_for_all(&v, "w-", 3, 5000));
    cr_assert_eq(
        kubesim_request(ks, "DELETE", NS_PODS "/w-1?gracePeriodSeconds=0", NULL, NULL, NULL), 200);
    for (int i = 0; i < 250; i++) {
        pthread_mutex_lock(&v.lock);
        bool gone = find_name(v.present, v.n_present, "w-1") < 0;
        pthread_mutex_unlock(&v.lock);
        if (gone)
            break;
        usleep(20 * 1000);
    }
    pthread_mutex_lock(&v.lock);
    cr_expect_lt(find_name(v.present, v.n_present, "w-1"), 0, "DELETED delivered");
    cr_expect_lt(find_name(v.ever, v.n_ever, "other-0"), 0, "selector applied");
    pthread_mutex_unlock(&v.lock);
    uint64_t t0 = now_ms();
    kube_watch_stop(w);
    cr_expect_lt(now_ms() - t0, 300, "stop took %lu ms", (unsigned long)(now_ms() - t0));
}

Test(kube_client_kubesim, watch_resumes_a_cut_stream_without_missing_events)
{
    start_sim(NULL);
    mock_host_set_config(mh, "KUBECONFIG", kubesim_kubeconfig(ks));
    new_client();
    watch_view v = {.lock = PTHREAD_MUTEX_INITIALIZER};
    kube_watch *w = NULL;
    fcb_error err = FCB_ERROR_INIT;
    /* kubesim reads the fault when a stream opens. */
    cr_assert_eq(kubesim_set_faults(ks, "{\"watch_cut_after\":2}"), 0);
    cr_assert_eq(kube_watch_start(kc, NS_PODS, "app=cut", on_watch, &v, &w, &err), FCB_OK, "%s",
                 err.message);
    for (int i = 0; i < 12; i++) {
        char name[32];
        snprintf(name, sizeof name, "cut-%d", i);
        create_pod(name, "cut");
    }
    cr_expect(wait_for_all(&v, "cut-", 12, 10000), "every pod reached the watcher");
    kube_client_stats st;
    kube_client_get_stats(kc, &st);
    cr_expect_gt(st.watch_restarts, 0);
    cr_expect_eq(st.relists, 0, "resumed from the resourceVersion, no relist");
    cr_expect_eq(v.synced, 1);
    kube_watch_stop(w);
}

Test(kube_client_kubesim, watch_relists_after_410_gone_and_reports_vanished_pods)
{
    const char *args[] = {"--history", "2", NULL};
    start_sim(args);
    mock_host_set_config(mh, "KUBECONFIG", kubesim_kubeconfig(ks));
    new_client();
    create_pod("gone-x", "gone");
    watch_view v = {.lock = PTHREAD_MUTEX_INITIALIZER};
    kube_watch *w = NULL;
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(kubesim_set_faults(ks, "{\"watch_cut_after\":1}"), 0);
    cr_assert_eq(kube_watch_start(kc, NS_PODS, "app=gone", on_watch, &v, &w, &err), FCB_OK, "%s",
                 err.message);
    kube_client_stats st = {0};
    /* With 2 events of history and a stream cut after every event, bursts of
     * changes push the resume point out of the history: 410 -> relist. */
    for (int burst = 0; burst < 5 && st.relists == 0; burst++) {
        for (int i = 0; i < 10; i++) {
            char name[32];
            snprintf(name, sizeof name, "gone-%d", burst * 10 + i);
            create_pod(name, "gone");
        }
        if (burst == 0)
            cr_assert_eq(kubesim_request(ks, "DELETE", NS_PODS "/gone-x?gracePeriodSeconds=0", NULL,
                                         NULL, NULL),
                         200);
        for (int i = 0; i < 100 && st.relists == 0; i++) {
            usleep(20 * 1000);
            kube_client_get_stats(kc, &st);
        }
    }
    cr_expect_gt(st.relists, 0, "a 410 caused a relist");
    cr_assert_eq(kubesim_set_faults(ks, "{\"watch_cut_after\":0}"), 0);
    /* The relisted view converges on the server's view. */
    json_object *list = NULL;
    bool match = false;
    for (int i = 0; i < 250 && !match; i++) {
        cr_assert_eq(kubesim_get_json(ks, NS_PODS "?labelSelector=app%3Dgone", &list), 200);
        json_object *items = json_object_object_get(list, "items");
        size_t n = json_object_array_length(items);
        pthread_mutex_lock(&v.lock);
        match = n == v.n_present;
        for (size_t j = 0; j < n && match; j++) {
            const char *name = json_object_get_string(json_object_object_get(
                json_object_object_get(json_object_array_get_idx(items, j), "metadata"), "name"));
            match = find_name(v.present, v.n_present, name) >= 0;
        }
        pthread_mutex_unlock(&v.lock);
        json_object_put(list);
        if (!match)
            usleep(20 * 1000);
    }
    cr_expect(match, "the watcher's replayed view equals the server's list");
    cr_expect_geq(v.synced, 2, "SYNCED after the first list and after the relist");
    pthread_mutex_lock(&v.lock);
    cr_expect_lt(find_name(v.present, v.n_present, "gone-x"), 0, "deleted pod is gone");
    pthread_mutex_unlock(&v.lock);
    kube_watch_stop(w);
}

Test(kube_client_kubesim, watch_start_fails_with_the_list_error)
{
    start_sim(NULL);
    mock_host_set_config(mh, "KUBECONFIG", kubesim_kubeconfig(ks));
    mock_host_set_config(mh, "FAKECLOUD_K8S_MAX_ATTEMPTS", "1");
    new_client();
    watch_view v = {.lock = PTHREAD_MUTEX_INITIALIZER};
    kube_watch *w = NULL;
    fcb_error err = FCB_ERROR_INIT;
    cr_expect_eq(
        kube_watch_start(kc, "/api/v1/namespaces/default/nothings", NULL, on_watch, &v, &w, &err),
        FCB_ERR_NOT_FOUND);
    cr_expect_null(w);
    cr_expect(strstr(err.message, "k8s GET /api/v1/namespaces/default/nothings: 404") != NULL, "%s",
              err.message);
}

/* ---------------------------------------------------------------- threads */

static void *many_gets(void *arg)
{
    int *failures = arg;
    for (int i = 0; i < 25; i++) {
        kube_response resp;
        fcb_error err = FCB_ERROR_INIT;
        if (kube_request(kc, "GET", NS_PODS, NULL, NULL, 0, 0, 0, &resp, &err) != FCB_OK)
            (*failures)++;
        kube_response_clear(kc, &resp);
    }
    return NULL;
}

Test(kube_client_kubesim, serves_many_threads_at_once_over_pooled_connections)
{
    start_sim(NULL);
    mock_host_set_config(mh, "KUBECONFIG", kubesim_kubeconfig(ks));
    new_client();
    enum { THREADS = 16 };
    pthread_t t[THREADS];
    int failures[THREADS] = {0};
    for (int i = 0; i < THREADS; i++)
        pthread_create(&t[i], NULL, many_gets, &failures[i]);
    for (int i = 0; i < THREADS; i++) {
        pthread_join(t[i], NULL);
        cr_expect_eq(failures[i], 0, "thread %d had %d failures", i, failures[i]);
    }
    json_object *stats = NULL;
    cr_assert_eq(kubesim_get_json(ks, "/_sim/stats", &stats), 200);
    json_object *conns = NULL;
    cr_assert(json_object_object_get_ex(stats, "connections_total", &conns));
    /* The default cap of 3, plus this stats request's own connection. */
    cr_expect_leq(json_object_get_int(conns), 3 + 1, "%d connections for %d requests",
                  json_object_get_int(conns), THREADS * 25);
    json_object_put(stats);
    kube_client_stats st;
    kube_client_get_stats(kc, &st);
    cr_expect_eq(st.requests, THREADS * 25);
}
