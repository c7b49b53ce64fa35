/*
 * Unit tests of the client's options and request description: defaults,
 * k8s_config_client_options (the FAKECLOUD_K8S_* keys read outside the
 * client), a client that reads no key itself, options out of range, and
 * kube_request_spec's query, Accept, per-request response limit and stop,
 * against an in-process HTTP server (libmicrohttpd on 127.0.0.1).
 */
#include "k8s_config.h"
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
    char last_url[512];
    char last_agent[128];
    char last_accept[256];
    int requests;
    int fail_next; /* answer the next N requests with 503 + Retry-After: 0 */
} fake_server;

static fake_server srv;
static mock_host *mh;
static const fcb_host_services *host;
static kube_client *kc;
static char dir[64];

static enum MHD_Result add_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                               const char *value)
{
    char *url = cls;
    size_t len = strlen(url);
    (void)kind;
    snprintf(url + len, 512 - len, "%c%s=%s", strchr(url, '?') != NULL ? '&' : '?', key,
             value != NULL ? value : "");
    return MHD_YES;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *conn, const char *url,
                               const char *method, const char *version, const char *upload,
                               size_t *upload_size, void **state)
{
    fake_server *s = cls;
    const char *agent = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "User-Agent");
    const char *accept = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Accept");
    (void)method, (void)version, (void)upload, (void)upload_size, (void)state;
    pthread_mutex_lock(&s->lock);
    s->requests++;
    snprintf(s->last_url, sizeof s->last_url, "%s", url);
    MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, add_arg, s->last_url);
    snprintf(s->last_agent, sizeof s->last_agent, "%s", agent != NULL ? agent : "");
    snprintf(s->last_accept, sizeof s->last_accept, "%s", accept != NULL ? accept : "");
    bool fail = s->fail_next > 0;
    if (fail)
        s->fail_next--;
    pthread_mutex_unlock(&s->lock);
    static char big[4096];
    const char *body = "{\"kind\":\"PodList\",\"items\":[]}";
    if (strstr(url, "/big") != NULL) {
        memset(big, ' ', sizeof big - 1);
        big[0] = '{';
        big[sizeof big - 2] = '}';
        big[sizeof big - 1] = '\0';
        body = big;
    }
    struct MHD_Response *r = MHD_create_response_from_buffer(
        strlen(fail ? "{}" : body), (void *)(fail ? "{}" : body), MHD_RESPMEM_MUST_COPY);
    MHD_add_response_header(r, "Content-Type", "application/json");
    if (fail)
        MHD_add_response_header(r, "Retry-After", "0");
    enum MHD_Result ret = MHD_queue_response(conn, fail ? 503 : 200, r);
    MHD_destroy_response(r);
    return ret;
}

static void setup(void)
{
    memset(&srv, 0, sizeof srv);
    pthread_mutex_init(&srv.lock, NULL);
    srv.daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, 0, NULL,
                                  NULL, handler, &srv, MHD_OPTION_END);
    cr_assert_not_null(srv.daemon);
    srv.port = MHD_get_daemon_info(srv.daemon, MHD_DAEMON_INFO_BIND_PORT)->port;
    mh = mock_host_new();
    host = mock_host_services(mh);
    snprintf(dir, sizeof dir, "/tmp/kcopts-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    char cfg[512], path[128];
    snprintf(cfg, sizeof cfg,
             "current-context: c\nclusters:\n- name: c\n  cluster: {server: "
             "\"http://127.0.0.1:%d\"}\ncontexts:\n- name: c\n  context: {cluster: c, user: u}\n"
             "users:\n- name: u\n  user: {token: t}\n",
             srv.port);
    snprintf(path, sizeof path, "%s/config", dir);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs(cfg, f);
    fclose(f);
    mock_host_set_config(mh, "KUBECONFIG", path);
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

TestSuite(kube_client_options, .init = setup, .fini = teardown, .timeout = 30);

Test(kube_client_options, defaults_are_the_documented_ones)
{
    kube_client_options o;
    kube_client_options_init(&o);
    cr_expect_eq(o.request_timeout_ms, 30000);
    cr_expect_eq(o.max_attempts, 6);
    cr_expect_eq(o.max_connections, 3);
    cr_expect_eq(o.retry_base_ms, 100);
    cr_expect_eq(o.retry_cap_ms, 2000);
    cr_expect_eq(o.token_reread_ms, 60000);
    cr_expect_eq(o.exec_timeout_ms, 30000);
    cr_expect_eq(o.watch_timeout_s, 290);
    cr_expect_eq(o.list_page_size, 500);
    cr_expect_eq(o.max_response_bytes, 64u << 20);
    cr_expect_str_eq(o.user_agent, "fakecloud-backend-k8s/0.1.0");
    cr_expect_eq(o.flags, 0);
}

Test(kube_client_options, config_reads_every_tuning_key_and_allocates_nothing)
{
    const char *keys[][2] = {
        {"FAKECLOUD_K8S_REQUEST_TIMEOUT_MS", "1234"}, {"FAKECLOUD_K8S_TOKEN_REREAD_MS", "0"},
        {"FAKECLOUD_K8S_EXEC_TIMEOUT_MS", "5000"},    {"FAKECLOUD_K8S_MAX_ATTEMPTS", "9"},
        {"FAKECLOUD_K8S_RETRY_BASE_MS", "7"},         {"FAKECLOUD_K8S_RETRY_CAP_MS", "70"},
        {"FAKECLOUD_K8S_WATCH_TIMEOUT_S", "30"},      {"FAKECLOUD_K8S_MAX_CONNECTIONS", "12"},
        {"FAKECLOUD_K8S_LIST_PAGE_SIZE", "50"},       {"FAKECLOUD_K8S_MAX_RESPONSE_BYTES", "4096"},
    };
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        mock_host_set_config(mh, keys[i][0], keys[i][1]);
    kube_client_options o;
    kube_client_options_init(&o);
    fcb_error err = FCB_ERROR_INIT;
    size_t allocs = mock_host_total_allocs(mh);
    cr_assert_eq(k8s_config_client_options(host, &o, &err), FCB_OK, "%s", err.message);
    cr_expect_eq(mock_host_total_allocs(mh), allocs);
    cr_expect_eq(o.request_timeout_ms, 1234);
    cr_expect_eq(o.token_reread_ms, 0);
    cr_expect_eq(o.exec_timeout_ms, 5000);
    cr_expect_eq(o.max_attempts, 9);
    cr_expect_eq(o.retry_base_ms, 7);
    cr_expect_eq(o.retry_cap_ms, 70);
    cr_expect_eq(o.watch_timeout_s, 30);
    cr_expect_eq(o.max_connections, 12);
    cr_expect_eq(o.list_page_size, 50);
    cr_expect_eq(o.max_response_bytes, 4096);
}

Test(kube_client_options, config_names_the_malformed_key)
{
    kube_client_options o;
    kube_client_options_init(&o);
    fcb_error err = FCB_ERROR_INIT;
    mock_host_set_config(mh, "FAKECLOUD_K8S_RETRY_CAP_MS", "-5");
    cr_expect_eq(k8s_config_client_options(host, &o, &err), FCB_ERR_CONFIG);
    cr_expect_str_eq(err.message,
                     "FAKECLOUD_K8S_RETRY_CAP_MS: '-5' is not a whole number between 1 and 600000");
    mock_host_set_config(mh, "FAKECLOUD_K8S_RETRY_CAP_MS", "");
    cr_expect_eq(k8s_config_client_options(host, &o, &err), FCB_OK, "empty is unset");
    cr_expect_eq(o.retry_cap_ms, 2000);
}

Test(kube_client_options, the_client_reads_no_tuning_key_itself)
{
    mock_host_set_config(mh, "FAKECLOUD_K8S_MAX_ATTEMPTS", "lots");
    mock_host_set_config(mh, "FAKECLOUD_K8S_MAX_CONNECTIONS", "0");
    kube_client_options o;
    kube_client_options_init(&o);
    o.user_agent = "options-test/1";
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(kube_client_open(host, &o, &kc, &err), FCB_OK, "%s", err.message);
    kube_response resp;
    kube_request_spec req = {.method = "GET", .path = "/api/v1/pods"};
    cr_expect_eq(kube_request_send(kc, &req, &resp, &err), FCB_OK, "%s", err.message);
    kube_response_clear(kc, &resp);
    cr_expect_str_eq(srv.last_agent, "options-test/1");
}

Test(kube_client_options, open_refuses_an_option_out_of_range_naming_it)
{
    kube_client_options o;
    kube_client_options_init(&o);
    o.max_connections = 0;
    fcb_error err = FCB_ERROR_INIT;
    cr_expect_eq(kube_client_open(host, &o, &kc, &err), FCB_ERR_INVALID_ARGUMENT);
    cr_expect_null(kc);
    cr_expect(strstr(err.message, "max_connections 0") != NULL, "%s", err.message);
    kube_client_options_init(&o);
    o.user_agent = NULL;
    cr_expect_eq(kube_client_open(host, &o, &kc, &err), FCB_ERR_INVALID_ARGUMENT);
    cr_expect(strstr(err.message, "user_agent") != NULL, "%s", err.message);
}

Test(kube_client_options, max_attempts_bounds_the_retries)
{
    kube_client_options o;
    kube_client_options_init(&o);
    o.max_attempts = 2;
    o.retry_base_ms = 1;
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(kube_client_open(host, &o, &kc, &err), FCB_OK, "%s", err.message);
    srv.fail_next = 5;
    kube_response resp;
    kube_request_spec req = {.method = "GET", .path = "/api/v1/pods"};
    cr_expect_eq(kube_request_send(kc, &req, &resp, &err), FCB_ERR_BACKEND);
    cr_expect_eq(resp.status, 503);
    kube_response_clear(kc, &resp);
    cr_expect_eq(srv.requests, 2);
    cr_expect(strstr(err.message, "(after 2 attempts)") != NULL, "%s", err.message);
}

Test(kube_client_options, a_spec_carries_query_accept_and_its_own_response_limit)
{
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(kube_client_open(host, NULL, &kc, &err), FCB_OK, "%s", err.message);
    kube_response resp;
    kube_request_spec req = {.method = "GET", .path = "/api/v1/pods", .query = "limit=1"};
    cr_expect_eq(kube_request_send(kc, &req, &resp, &err), FCB_OK, "%s", err.message);
    kube_response_clear(kc, &resp);
    cr_expect_str_eq(srv.last_url, "/api/v1/pods?limit=1");
    cr_expect_str_eq(srv.last_accept, "application/json");

    req.path = "/api/v1/pods?watch=0";
    req.accept = "Accept: application/yaml";
    cr_expect_eq(kube_request_send(kc, &req, &resp, &err), FCB_OK, "%s", err.message);
    kube_response_clear(kc, &resp);
    cr_expect_str_eq(srv.last_url, "/api/v1/pods?watch=0&limit=1");
    cr_expect_str_eq(srv.last_accept, "application/yaml");

    kube_request_spec big = {.method = "GET", .path = "/big", .max_response_bytes = 1024};
    cr_expect_eq(kube_request_send(kc, &big, &resp, &err), FCB_ERR_BACKEND);
    kube_response_clear(kc, &resp);
    cr_expect(strstr(err.message, "larger than the 1024 byte limit") != NULL, "%s", err.message);
    big.max_response_bytes = 0;
    cr_expect_eq(kube_request_send(kc, &big, &resp, &err), FCB_OK, "the client's 64 MiB: %s",
                 err.message);
    kube_response_clear(kc, &resp);
}

Test(kube_client_options, a_raised_stop_flag_cancels_before_sending)
{
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(kube_client_open(host, NULL, &kc, &err), FCB_OK, "%s", err.message);
    atomic_bool stop;
    atomic_init(&stop, true);
    kube_response resp;
    kube_request_spec req = {.method = "GET", .path = "/api/v1/pods", .stop = &stop};
    cr_expect_eq(kube_request_send(kc, &req, &resp, &err), FCB_ERR_CANCELLED);
    kube_response_clear(kc, &resp);
    cr_expect_eq(srv.requests, 0);
    kube_request_spec none = {.path = "/x"};
    cr_expect_eq(kube_request_send(kc, &none, &resp, &err), FCB_ERR_INVALID_ARGUMENT);
    cr_expect(strstr(err.message, "method") != NULL, "%s", err.message);
    kube_response_clear(kc, &resp);
}
