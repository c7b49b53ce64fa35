/*
 * The docker backend against a TLS engine: DOCKER_HOST=tcp://127.0.0.1:PORT,
 * DOCKER_TLS_VERIFY=1, DOCKER_CERT_PATH with ca.pem, cert.pem, key.pem, as a
 * user with a remote or TLS-protected engine sets them. Run under
 * tests/docker/with-dockerd.sh, whose private dockerd also listens there with
 * --tlsverify on throw-away certificates (FCBD_TLS_* variables); the whole
 * binary skips (77) without them. The plugin is loaded with loader_load
 * through the mock host; every test checks that no byte is left allocated
 * after close(), and what the backend created is checked on the engine's
 * unix socket (DOCKER_HOST), not through the connection under test.
 */
#include "docker_fixture.h"
#include "engine_http.h"
#include "loader.h"
#include "mock_host.h"
#include "zip_fixture.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <curl/curl.h>
#include <json-c/json.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static docker_fixture fx;

static uint64_t now_ms(void)
{
    return docker_fixture_now_ms();
}

static const char *need_env(const char *key)
{
    const char *v = getenv(key);
    cr_assert(v != NULL && v[0] != '\0', "%s unset: run under tests/docker/with-dockerd.sh", key);
    return v;
}

/* DOCKER_HOST / DOCKER_TLS_VERIFY / DOCKER_CERT_PATH of the mock host; NULL unsets. */
static void set_engine(const char *docker_host, const char *verify, const char *cert_path)
{
    mock_host_set_config(fx.mh, "DOCKER_HOST", docker_host);
    mock_host_set_config(fx.mh, "DOCKER_TLS_VERIFY", verify);
    mock_host_set_config(fx.mh, "DOCKER_CERT_PATH", cert_path);
}

static void setup(void)
{
    memset(&fx, 0, sizeof fx);
    fx.mh = mock_host_new();
    set_engine(need_env("FCBD_TLS_HOST"), "1", need_env("FCBD_TLS_CERT_PATH"));
    docker_fixture_load(&fx);
}

static void teardown(void)
{
    docker_fixture_teardown(&fx);
}

TestSuite(docker_tls, .init = setup, .fini = teardown, .timeout = 60);

/* open() with the mock host's current settings; FCB_OK or the error code. */
static int open_backend(fcb_error *err)
{
    fcb_open_params params = {.size = sizeof params};
    return fx.ops->open(mock_host_services(fx.mh), &params, &fx.backend, err);
}

static void open_ok(void)
{
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(open_backend(&err), FCB_OK, "open: %s", err.message);
}

/* ---- the engine on its unix socket, and the functions' endpoints -------- */

/* The Engine API on the unix socket with-dockerd.sh exports as DOCKER_HOST. */
static const char *engine_socket(void)
{
    const char *h = need_env("DOCKER_HOST");
    cr_assert(strncmp(h, "unix://", 7) == 0, "DOCKER_HOST=%s is not the unix socket", h);
    return h + 7;
}

/* Containers (any state) carrying label KEY=VALUE, asked on the unix socket. */
static size_t count_containers(const char *label)
{
    return engine_http_count_containers(engine_socket(), label);
}

/* A port on 127.0.0.1 with a plain-http server on it (libmicrohttpd). */
typedef struct plain_server {
    struct MHD_Daemon *daemon;
    unsigned port;
} plain_server;

static enum MHD_Result plain_answer(void *cls, struct MHD_Connection *conn, const char *url,
                                    const char *method, const char *version,
                                    const char *upload_data, size_t *upload_data_size,
                                    void **con_cls)
{
    (void)cls, (void)url, (void)method, (void)version, (void)upload_data, (void)upload_data_size,
        (void)con_cls;
    static char ok[] = "OK";
    struct MHD_Response *r =
        MHD_create_response_from_buffer(sizeof ok - 1, ok, MHD_RESPMEM_PERSISTENT);
    MHD_add_response_header(r, "Api-Version", "1.41");
    enum MHD_Result ret = MHD_queue_response(conn, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    return ret;
}

static plain_server plain_server_start(void)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = 0};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    plain_server s = {0};
    s.daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL, plain_answer, NULL,
                                MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
                                MHD_OPTION_CONNECTION_TIMEOUT, 30u, MHD_OPTION_END);
    cr_assert_not_null(s.daemon, "cannot start the plain-http server");
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(s.daemon, MHD_DAEMON_INFO_BIND_PORT);
    cr_assert(info != NULL && info->port != 0);
    s.port = info->port;
    return s;
}

static fcb_function zip_function(const char *name)
{
    fcb_function fn = {.size = sizeof(fcb_function),
                       .function_name = name,
                       .function_arn = "arn:aws:lambda:us-east-1:123456789012:function:x",
                       .runtime = "python3.12",
                       .handler = "app.handler",
                       .package_type = FCB_PACKAGE_ZIP};
    return fn;
}

/* Asserts an open() that fails with CODE in bounded time, creating nothing; returns the message. */
static void expect_open_fails(int code, uint64_t max_ms, char message[FCB_ERROR_MESSAGE_MAX])
{
    fcb_error err = FCB_ERROR_INIT;
    uint64_t t0 = now_ms();
    int rc = open_backend(&err);
    uint64_t ms = now_ms() - t0;
    cr_log_info("open failed in %llu ms: %s", (unsigned long long)ms, err.message);
    cr_assert_eq(rc, code, "open: %d (%s), wanted %d", rc, err.message, code);
    cr_expect_null(fx.backend);
    cr_expect_lt(ms, max_ms, "open took %llu ms", (unsigned long long)ms);
    cr_expect_eq(mock_host_outstanding_bytes(fx.mh), 0, "failed open leaked");
    snprintf(message, FCB_ERROR_MESSAGE_MAX, "%s", err.message);
}

#define expect_in(message, needle) \
    cr_expect(strstr(message, needle) != NULL, "'%s' not in: %s", needle, message)

/* ---- tests ------------------------------------------------------------- */

Test(docker_tls, zip_function_launches_answers_an_invocation_and_terminates)
{
    open_ok();
    char engine_url[128];
    snprintf(engine_url, sizeof engine_url, "engine=https://%s", need_env("FCBD_TLS_HOST") + 6);
    cr_expect(mock_host_log_contains(fx.mh, engine_url), "the backend did not say %s", engine_url);

    zip_fixture_entry e[] = {{.name = "app.sh", .data = "echo \"tls event was $(cat)\"\n"}};
    size_t len;
    void *zip = zip_fixture_make(e, 1, &len);
    cr_assert_not_null(zip);
    fcb_function fn = zip_function("tls-fn");
    fcb_launch_request req = {
        .size = sizeof req, .function = &fn, .code = {zip, len}, .deploy_id = "d1"};
    fcb_instance inst = {.size = sizeof inst};
    fcb_error err = FCB_ERROR_INIT;
    uint64_t t0 = now_ms();
    cr_assert_eq(fx.ops->launch(fx.backend, &req, &inst, &err), FCB_OK, "launch: %s", err.message);
    cr_log_info("launch through TLS: %llu ms", (unsigned long long)(now_ms() - t0));
    zip_fixture_free(zip);
    cr_expect_eq(count_containers("fakecloud-lambda=tls-fn"), 1, "container not on the engine");
    cr_expect(strncmp(inst.endpoint, "127.0.0.1:", 10) == 0, "endpoint %s", inst.endpoint);

    char *out = engine_http_invoke(inst.endpoint, "{\"n\":7}");
    cr_expect(out != NULL && strstr(out, "tls event was {\"n\":7}") != NULL, "response: %s",
              out ? out : "");
    free(out);

    cr_assert_eq(fx.ops->terminate(fx.backend, inst.handle, &err), FCB_OK, "terminate: %s",
                 err.message);
    cr_expect_eq(count_containers("fakecloud-lambda=tls-fn"), 0, "container left after terminate");
    fx.ops->close(fx.backend);
    fx.backend = NULL;
    cr_expect_eq(count_containers("fakecloud-lambda=tls-fn"), 0, "container left after close");
}

Test(docker_tls, reap_stale_removes_another_instances_container_through_the_tls_engine)
{
    const char *stale = "{\"Image\":\"fakecloud-test/crash:1\",\"Labels\":{"
                        "\"fakecloud-managed-by\":\"fakecloud\",\"fakecloud-instance\":\"tlsold0\","
                        "\"fakecloud-service\":\"lambda\"}}";
    char *out = NULL;
    long status = engine_http_api(engine_socket(), "POST", "/containers/create?name=fcb-tls-stale",
                                  stale, &out);
    cr_assert_eq(status, 201, "create the stale container: HTTP %ld: %s", status, out ? out : "");
    free(out);
    /* No lease names "tlsold0": reaped once older than D (1 s; Created is rounded up). */
    mock_host_set_config(fx.mh, "FAKECLOUD_DOCKER_LEASE_SECONDS", "1");
    usleep(2100 * 1000);
    open_ok();
    size_t reaped = 99;
    fcb_error err = FCB_ERROR_INIT;
    cr_expect_eq(fx.ops->reap_stale(fx.backend, &reaped, &err), FCB_OK, "reap_stale: %s",
                 err.message);
    cr_expect_eq(reaped, 1);
    status = engine_http_api(engine_socket(), "GET", "/containers/fcb-tls-stale/json", NULL, NULL);
    cr_expect_eq(status, 404, "stale container still there (HTTP %ld)", status);
    engine_http_api(engine_socket(), "DELETE", "/containers/fcb-tls-stale?force=1", NULL, NULL);
}

Test(docker_tls, localhost_is_accepted_as_the_certificate_names_it_too)
{
    char host[128];
    snprintf(host, sizeof host, "tcp://localhost:%s", strrchr(need_env("FCBD_TLS_HOST"), ':') + 1);
    mock_host_set_config(fx.mh, "DOCKER_HOST", host);
    open_ok();
}

Test(docker_tls, wrong_ca_fails_naming_the_certificate_problem_and_the_settings)
{
    mock_host_set_config(fx.mh, "DOCKER_CERT_PATH", need_env("FCBD_TLS_WRONG_CA_CERT_PATH"));
    char message[FCB_ERROR_MESSAGE_MAX];
    expect_open_fails(FCB_ERR_UNAVAILABLE, 5000, message);
    expect_in(message, "TLS");
    expect_in(message, "certificate");
    expect_in(message, "ca.pem");
    expect_in(message, "DOCKER_HOST=");
    expect_in(message, need_env("FCBD_TLS_HOST"));
    expect_in(message, "DOCKER_CERT_PATH=");
    expect_in(message, need_env("FCBD_TLS_WRONG_CA_CERT_PATH"));
}

Test(docker_tls, client_certificate_the_engine_does_not_trust_fails_clearly)
{
    mock_host_set_config(fx.mh, "DOCKER_CERT_PATH",
                         need_env("FCBD_TLS_UNTRUSTED_CLIENT_CERT_PATH"));
    char message[FCB_ERROR_MESSAGE_MAX];
    expect_open_fails(FCB_ERR_UNAVAILABLE, 5000, message);
    expect_in(message, "TLS");
    expect_in(message, "client certificate cert.pem");
    expect_in(message, "DOCKER_HOST=");
    expect_in(message, "DOCKER_CERT_PATH=");
    expect_in(message, need_env("FCBD_TLS_UNTRUSTED_CLIENT_CERT_PATH"));
}

Test(docker_tls, tls_verify_against_a_plain_http_port_fails_in_bounded_time, .timeout = 40)
{
    plain_server s = plain_server_start();
    char host[64];
    snprintf(host, sizeof host, "tcp://127.0.0.1:%u", s.port);
    /* The server answers any request: in plain http this engine would "work". */
    char url[96], *out = NULL;
    snprintf(url, sizeof url, "http://127.0.0.1:%u/_ping", s.port);
    cr_expect_eq(engine_http("GET", url, NULL, NULL, &out), 200, "plain server: %s",
                 out ? out : "");
    free(out);
    mock_host_set_config(fx.mh, "DOCKER_HOST", host);
    char message[FCB_ERROR_MESSAGE_MAX];
    expect_open_fails(FCB_ERR_UNAVAILABLE, 5000, message);
    MHD_stop_daemon(s.daemon);
    expect_in(message, "TLS");
    expect_in(message, host);
    expect_in(message, "DOCKER_TLS_VERIFY");
}

Test(docker_tls, tls_verify_against_a_port_that_never_answers_fails_in_bounded_time, .timeout = 40)
{
    /* Listening, never accepting: the kernel completes the TCP handshake and
     * the TLS hello goes unanswered, as with a plain server that waits for a
     * request line the hello never ends. curl's connect timeout (10 s) bounds it. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert_geq(fd, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = 0};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t sa_len = sizeof sa;
    cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    cr_assert_eq(listen(fd, 4), 0);
    cr_assert_eq(getsockname(fd, (struct sockaddr *)&sa, &sa_len), 0);
    char host[64];
    snprintf(host, sizeof host, "tcp://127.0.0.1:%u", (unsigned)ntohs(sa.sin_port));
    mock_host_set_config(fx.mh, "DOCKER_HOST", host);
    char message[FCB_ERROR_MESSAGE_MAX];
    expect_open_fails(FCB_ERR_UNAVAILABLE, 15000, message);
    close(fd);
    expect_in(message, "TLS handshake");
    expect_in(message, "did not finish");
    expect_in(message, host);
    expect_in(message, "DOCKER_TLS_VERIFY");
}

Test(docker_tls, plain_http_against_the_tls_port_fails_fast_naming_docker_tls_verify)
{
    mock_host_set_config(fx.mh, "DOCKER_TLS_VERIFY", NULL);
    char message[FCB_ERROR_MESSAGE_MAX];
    expect_open_fails(FCB_ERR_UNAVAILABLE, 5000, message);
    expect_in(message, "DOCKER_TLS_VERIFY");
    expect_in(message, "DOCKER_CERT_PATH");
    expect_in(message, need_env("FCBD_TLS_HOST"));
    expect_in(message, "TLS port");
}

Test(docker_tls, missing_file_in_docker_cert_path_is_a_config_error_naming_it)
{
    const char *src = need_env("FCBD_TLS_CERT_PATH");
    const char *names[] = {"ca.pem", "cert.pem", "key.pem"};
    for (size_t missing = 0; missing < 3; missing++) {
        char dir[] = "/tmp/fcb-tls-certs-XXXXXX";
        cr_assert_not_null(mkdtemp(dir));
        for (size_t i = 0; i < 3; i++) {
            if (i == missing)
                continue;
            char from[512], to[512];
            snprintf(from, sizeof from, "%s/%s", src, names[i]);
            snprintf(to, sizeof to, "%s/%s", dir, names[i]);
            cr_assert_eq(symlink(from, to), 0, "symlink %s", to);
        }
        mock_host_set_config(fx.mh, "DOCKER_CERT_PATH", dir);
        char message[FCB_ERROR_MESSAGE_MAX];
        expect_open_fails(FCB_ERR_CONFIG, 1000, message);
        char path[512];
        snprintf(path, sizeof path, "%s/%s", dir, names[missing]);
        expect_in(message, "DOCKER_CERT_PATH");
        expect_in(message, path);
        expect_in(message, "No such file");
        for (size_t i = 0; i < 3; i++) {
            snprintf(path, sizeof path, "%s/%s", dir, names[i]);
            unlink(path);
        }
        cr_expect_eq(rmdir(dir), 0, "rmdir %s", dir);
    }
}

/* open() only; every operation over TLS (open, launch, terminate, reap_stale,
 * close, prepull), with the orchestrator checked after each failure point, is
 * swept by tests/reliability/test_docker_reliability.c
 * (over_tls_every_failed_allocation_of_every_operation_ends_cleanly). */
Test(docker_tls, open_survives_allocation_failures_over_tls)
{
    size_t calls = docker_fixture_open_sweep(&fx, 80, true);
    cr_log_info("open() over TLS makes %zu allocations; each failure tried", calls);
}

/* Skip (77) the whole binary when with-dockerd.sh made no TLS listener (Podman, no certtool). */
int main(int argc, char *argv[])
{
    if (getenv("FCBD_TLS_HOST") == NULL || getenv("FCBD_TLS_HOST")[0] == '\0') {
        fprintf(stderr, "test_docker_tls: SKIP: FCBD_TLS_HOST unset (run under "
                        "tests/docker/with-dockerd.sh, with certtool installed)\n");
        return 77;
    }
    struct criterion_test_set *tests = criterion_initialize();
    int result = 0;
    if (criterion_handle_args(argc, argv, true))
        result = !criterion_run_all_tests(tests);
    criterion_finalize(tests);
    return result;
}
