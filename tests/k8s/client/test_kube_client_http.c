/*
 * Unit tests of kube_client's request path against an in-process HTTP server
 * (libmicrohttpd on 127.0.0.1): token file rotation, headers sent, basic
 * auth, Status parsing of real responses, Retry-After. No kubesim needed.
 */
#include "k8s_client.h" /* kube_client_new */
#include "kube_client.h"
#include "mock_host.h"

#include <criterion/criterion.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct fake_server {
    struct MHD_Daemon *daemon;
    int port;
    pthread_mutex_t lock;
    char expected_auth[256]; /* "" = accept anything */
    char last_auth[256];
    char last_agent[128];
    char last_accept[128];
    int requests;
    int unauthorized;
    int fail_next; /* answer the next N requests with 503 + Retry-After: 0 */
} fake_server;

static fake_server srv;
static mock_host *mh;
static const fcb_host_services *host;
static kube_client *kc;
static char dir[64];
static char token_path[128];

static enum MHD_Result respond(struct MHD_Connection *conn, unsigned code, const char *body,
                               const char *retry_after)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
    MHD_add_response_header(r, "Content-Type", "application/json");
    if (retry_after != NULL)
        MHD_add_response_header(r, "Retry-After", retry_after);
    enum MHD_Result ret = MHD_queue_response(conn, code, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *conn, const char *url,
                               const char *method, const char *version, const char *upload,
                               size_t *upload_size, void **state)
{
    fake_server *s = cls;
    const char *auth = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization");
    const char *agent = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "User-Agent");
    const char *accept = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Accept");
    pthread_mutex_lock(&s->lock);
    s->requests++;
    snprintf(s->last_auth, sizeof s->last_auth, "%s", auth != NULL ? auth : "");
    snprintf(s->last_agent, sizeof s->last_agent, "%s", agent != NULL ? agent : "");
    snprintf(s->last_accept, sizeof s->last_accept, "%s", accept != NULL ? accept : "");
    bool denied = s->expected_auth[0] != '\0' && strcmp(s->last_auth, s->expected_auth) != 0;
    bool fail = !denied && s->fail_next > 0;
    if (denied)
        s->unauthorized++;
    if (fail)
        s->fail_next--;
    pthread_mutex_unlock(&s->lock);
    if (denied)
        return respond(conn, 401,
                       "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"status\":\"Failure\","
                       "\"message\":\"Unauthorized\",\"reason\":\"Unauthorized\",\"code\":401}",
                       NULL);
    if (fail)
        return respond(conn, 503, "service unavailable\n", "0");
    if (strstr(url, "/missing") != NULL)
        return respond(
            conn, 404,
            "{\"kind\":\"Status\",\"status\":\"Failure\",\"message\":\"pods \\\"missing\\\" "
            "not found\",\"reason\":\"NotFound\",\"code\":404}",
            NULL);
    return respond(conn, 200, "{\"kind\":\"PodList\",\"apiVersion\":\"v1\",\"items\":[]}", NULL);
}

static void write_file(const char *path, const char *text)
{
    char tmp[200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
    cr_assert_eq(rename(tmp, path), 0);
}

static void set_expected(const char *auth)
{
    pthread_mutex_lock(&srv.lock);
    snprintf(srv.expected_auth, sizeof srv.expected_auth, "%s", auth);
    pthread_mutex_unlock(&srv.lock);
}

static void setup(void)
{
    memset(&srv, 0, sizeof srv);
    pthread_mutex_init(&srv.lock, NULL);
    srv.daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, 0, NULL,
                                  NULL, handler, &srv, MHD_OPTION_END);
    cr_assert_not_null(srv.daemon);
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(srv.daemon, MHD_DAEMON_INFO_BIND_PORT);
    srv.port = info->port;
    mh = mock_host_new();
    host = mock_host_services(mh);
    snprintf(dir, sizeof dir, "/tmp/kchttp-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    snprintf(token_path, sizeof token_path, "%s/token", dir);
}

static void teardown(void)
{
    kube_client_free(kc);
    kc = NULL;
    cr_expect_eq(mock_host_outstanding_bytes(mh), 0, "leaked %zu bytes",
                 mock_host_outstanding_bytes(mh));
    mock_host_free(mh);
    MHD_stop_daemon(srv.daemon);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", dir);
}

TestSuite(kube_client_http, .init = setup, .fini = teardown, .timeout = 30);

static void client_with_user(const char *user_yaml)
{
    char cfg[1024], path[128];
    snprintf(
        cfg, sizeof cfg,
        "current-context: c\nclusters:\n- name: c\n  cluster: {server: \"http://127.0.0.1:%d\"}\n"
        "contexts:\n- name: c\n  context: {cluster: c, user: u}\nusers:\n- name: u\n"
        "  user: %s\n",
        srv.port, user_yaml);
    snprintf(path, sizeof path, "%s/config", dir);
    write_file(path, cfg);
    mock_host_set_config(mh, "KUBECONFIG", path);
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(kube_client_new(host, &kc, &err), FCB_OK, "%s", err.message);
}

static int get(const char *path, long *status, fcb_error *err)
{
    kube_response resp;
    int rc = kube_request(kc, "GET", path, NULL, NULL, 0, 0, 3000, &resp, err);
    if (status != NULL)
        *status = resp.status;
    kube_response_clear(kc, &resp);
    return rc;
}

Test(kube_client_http, sends_bearer_user_agent_and_accept_headers)
{
    client_with_user("{token: static-token}");
    set_expected("Bearer static-token");
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(get("/api/v1/pods", NULL, &err), FCB_OK, "%s", err.message);
    cr_expect_str_eq(srv.last_agent, "fakecloud-backend-k8s/0.1.0");
    cr_expect_str_eq(srv.last_accept, "application/json");
}

Test(kube_client_http, sends_basic_auth)
{
    client_with_user("{username: admin, password: s3cret}");
    set_expected("Basic YWRtaW46czNjcmV0");
    fcb_error err = FCB_ERROR_INIT;
    cr_expect_eq(get("/api/v1/pods", NULL, &err), FCB_OK, "%s", err.message);
}

Test(kube_client_http, rereads_a_rotated_token_file_after_a_401_once)
{
    write_file(token_path, "token-one\n");
    char user[200];
    snprintf(user, sizeof user, "{tokenFile: %s}", token_path);
    client_with_user(user);
    set_expected("Bearer token-one");
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(get("/api/v1/pods", NULL, &err), FCB_OK, "%s", err.message);
    write_file(token_path, "token-two\n");
    set_expected("Bearer token-two");
    cr_expect_eq(get("/api/v1/pods", NULL, &err), FCB_OK, "%s", err.message);
    cr_expect_eq(srv.unauthorized, 1, "one 401, then the re-read token");
    cr_expect_eq(srv.requests, 3);
    /* A token the server never accepts: one refresh, then the 401 is reported. */
    set_expected("Bearer token-three");
    long status = 0;
    cr_expect_eq(get("/api/v1/pods", &status, &err), FCB_ERR_BACKEND);
    cr_expect_eq(status, 401);
    cr_expect_eq(srv.requests, 5);
    cr_expect_str_eq(err.message, "k8s GET /api/v1/pods: 401 Unauthorized: Unauthorized");
}

Test(kube_client_http, rereads_the_token_file_when_it_gets_old)
{
    write_file(token_path, "token-one");
    char user[200];
    snprintf(user, sizeof user, "{tokenFile: %s}", token_path);
    mock_host_set_config(mh, "FAKECLOUD_K8S_TOKEN_REREAD_MS", "50");
    client_with_user(user);
    set_expected("Bearer token-one");
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(get("/api/v1/pods", NULL, &err), FCB_OK, "%s", err.message);
    write_file(token_path, "token-two");
    set_expected("Bearer token-two");
    usleep(80 * 1000);
    cr_expect_eq(get("/api/v1/pods", NULL, &err), FCB_OK, "%s", err.message);
    cr_expect_eq(srv.unauthorized, 0, "re-read before sending");
}

Test(kube_client_http, keeps_the_last_token_when_the_file_disappears)
{
    write_file(token_path, "token-one");
    char user[200];
    snprintf(user, sizeof user, "{tokenFile: %s}", token_path);
    mock_host_set_config(mh, "FAKECLOUD_K8S_TOKEN_REREAD_MS", "0");
    client_with_user(user);
    set_expected("Bearer token-one");
    unlink(token_path);
    fcb_error err = FCB_ERROR_INIT;
    cr_expect_eq(get("/api/v1/pods", NULL, &err), FCB_OK, "%s", err.message);
    cr_expect(mock_host_log_contains(mh, "WARN k8s: cannot re-read the token file"));
}

Test(kube_client_http, retries_503_with_retry_after_and_reports_404_as_not_found)
{
    client_with_user("{token: t}");
    pthread_mutex_lock(&srv.lock);
    srv.fail_next = 2;
    pthread_mutex_unlock(&srv.lock);
    fcb_error err = FCB_ERROR_INIT;
    cr_expect_eq(get("/api/v1/pods", NULL, &err), FCB_OK, "%s", err.message);
    kube_client_stats st;
    kube_client_get_stats(kc, &st);
    cr_expect_eq(st.retries, 2);
    long status = 0;
    cr_expect_eq(get("/api/v1/namespaces/d/pods/missing", &status, &err), FCB_ERR_NOT_FOUND);
    cr_expect_eq(status, 404);
    cr_expect_str_eq(
        err.message,
        "k8s GET /api/v1/namespaces/d/pods/missing: 404 NotFound: pods \"missing\" not found");
}

Test(kube_client_http, reports_a_refused_connection_as_unavailable_after_retries)
{
    client_with_user("{token: t}");
    mock_host_set_config(mh, "unused", NULL);
    kube_client_free(kc);
    kc = NULL;
    MHD_stop_daemon(srv.daemon);
    srv.daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL, handler, &srv,
                                  MHD_OPTION_END);
    char cfg[600], path[128];
    snprintf(
        cfg, sizeof cfg,
        "current-context: c\nclusters:\n- name: c\n  cluster: {server: \"http://127.0.0.1:1\"}\n"
        "contexts:\n- name: c\n  context: {cluster: c}\n");
    snprintf(path, sizeof path, "%s/config2", dir);
    write_file(path, cfg);
    mock_host_set_config(mh, "KUBECONFIG", path);
    mock_host_set_config(mh, "FAKECLOUD_K8S_MAX_ATTEMPTS", "3");
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(kube_client_new(host, &kc, &err), FCB_OK, "%s", err.message);
    cr_expect_eq(get("/api/v1/pods", NULL, &err), FCB_ERR_UNAVAILABLE);
    cr_expect(strstr(err.message, "k8s GET /api/v1/pods: cannot reach http://127.0.0.1:1: ") !=
                  NULL,
              "%s", err.message);
    cr_expect(strstr(err.message, "(after 3 attempts)") != NULL, "%s", err.message);
}

/* ---- exec credentials shared by the clients of one host (issue 12 item 8) ---- */

static int count_runs(void)
{
    char path[160];
    snprintf(path, sizeof path, "%s/exec-count", dir);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return 0;
    int n = 0, c;
    while ((c = fgetc(f)) != EOF)
        n += c == '\n';
    fclose(f);
    return n;
}

/* kc and a second (quiet) client, as a backend's open and close use, on one exec user. */
static kube_client *exec_clients(void)
{
    char user[1024], exec_token[160];
    snprintf(exec_token, sizeof exec_token, "%s/exec-token", dir);
    write_file(exec_token, "exec-one\n");
    snprintf(user, sizeof user,
             "{exec: {apiVersion: client.authentication.k8s.io/v1, command: %s/exec-credential.sh,"
             " env: [{name: KUBESIM_TOKEN_FILE, value: %s}, {name: EXEC_COUNT_FILE, value: "
             "%s/exec-count}, {name: EXEC_API_VERSION, value: client.authentication.k8s.io/v1}]}}",
             TEST_SCRIPTS_DIR, exec_token, dir);
    client_with_user(user);
    kube_client *second = NULL;
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(kube_client_new_ex(host, KUBE_CLIENT_QUIET, &second, &err), FCB_OK, "%s",
                 err.message);
    return second;
}

static int get_with(kube_client *client, fcb_error *err)
{
    kube_response resp;
    int rc = kube_request(client, "GET", "/api/v1/pods", NULL, NULL, 0, 0, 5000, &resp, err);
    kube_response_clear(client, &resp);
    return rc;
}

Test(kube_client_http, runs_the_exec_plugin_once_for_the_clients_of_one_backend)
{
    kube_client *second = exec_clients();
    set_expected("Bearer exec-one");
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(get_with(kc, &err), FCB_OK, "%s", err.message);
    cr_assert_eq(get_with(second, &err), FCB_OK, "%s", err.message);
    cr_assert_eq(get_with(kc, &err), FCB_OK, "%s", err.message);
    cr_expect_eq(count_runs(), 1, "open's and close's clients share one credential");
    kube_client_free(second);
    kube_client_free(kc);
    kc = NULL;
    /* The next backend instance (new clients) runs it again. */
    second = exec_clients();
    cr_assert_eq(get_with(second, &err), FCB_OK, "%s", err.message);
    cr_expect_eq(count_runs(), 2);
    kube_client_free(second);
}

Test(kube_client_http, reruns_the_exec_plugin_once_when_the_server_refuses_its_credential)
{
    kube_client *second = exec_clients();
    set_expected("Bearer exec-one");
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(get_with(kc, &err), FCB_OK, "%s", err.message);
    cr_assert_eq(get_with(second, &err), FCB_OK, "%s", err.message);
    char exec_token[160];
    snprintf(exec_token, sizeof exec_token, "%s/exec-token", dir);
    write_file(exec_token, "exec-two\n");
    set_expected("Bearer exec-two");
    cr_expect_eq(get_with(kc, &err), FCB_OK, "%s", err.message);
    cr_expect_eq(count_runs(), 2, "the 401 ran the plugin again");
    /* The second client's copy is stale too: its 401 picks up the new one, no third run. */
    cr_expect_eq(get_with(second, &err), FCB_OK, "%s", err.message);
    cr_expect_eq(count_runs(), 2);
    cr_expect_eq(srv.unauthorized, 2);
    kube_client_free(second);
}

Test(kube_client_http, does_not_share_exec_credentials_between_hosts)
{
    kube_client *second = exec_clients();
    kube_client_free(second);
    set_expected("Bearer exec-one");
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(get_with(kc, &err), FCB_OK, "%s", err.message);
    mock_host *other_mh = mock_host_new();
    const fcb_host_services *other = mock_host_services(other_mh);
    char path[128];
    snprintf(path, sizeof path, "%s/config", dir);
    mock_host_set_config(other_mh, "KUBECONFIG", path);
    kube_client *elsewhere = NULL;
    cr_assert_eq(kube_client_new(other, &elsewhere, &err), FCB_OK, "%s", err.message);
    cr_expect_eq(get_with(elsewhere, &err), FCB_OK, "%s", err.message);
    cr_expect_eq(count_runs(), 2, "another host (another plugin instance) runs its own");
    kube_client_free(elsewhere);
    cr_expect_eq(mock_host_outstanding_bytes(other_mh), 0);
    mock_host_free(other_mh);
}
