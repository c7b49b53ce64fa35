/* k8s_itest: kubesim + artifact server + mock host + loaded plugin. */
#include "k8s_itest.h"

#include <archive.h>
#include <archive_entry.h>
#include <criterion/criterion.h>
#include <curl/curl.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef K8S_PLUGIN_PATH
#error "K8S_PLUGIN_PATH must point at fakecloud-backend-k8s.so"
#endif
#ifndef K8S_RBAC_DIR
#error "K8S_RBAC_DIR must name the directory for recorded verbs"
#endif

/* ------------------------------------------------------------ archives */

static char *itest_archive(bool zip, const char *const *names, const char *const *contents,
                           size_t n, size_t *len)
{
    size_t cap = 64 * 1024;
    char *buf = malloc(cap);
    size_t used = 0;
    struct archive *a = archive_write_new();
    cr_assert_not_null(buf);
    cr_assert_not_null(a);
    if (zip)
        archive_write_set_format_zip(a);
    else
        archive_write_set_format_ustar(a);
    cr_assert_eq(archive_write_open_memory(a, buf, cap, &used), ARCHIVE_OK);
    for (size_t i = 0; i < n; i++) {
        struct archive_entry *e = archive_entry_new();
        archive_entry_set_pathname(e, names[i]);
        archive_entry_set_size(e, (la_int64_t)strlen(contents[i]));
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_perm(e, 0644);
        cr_assert_eq(archive_write_header(a, e), ARCHIVE_OK, "%s", archive_error_string(a));
        cr_assert_eq(archive_write_data(a, contents[i], strlen(contents[i])),
                     (la_ssize_t)strlen(contents[i]));
        archive_entry_free(e);
    }
    cr_assert_eq(archive_write_close(a), ARCHIVE_OK);
    archive_write_free(a);
    *len = used;
    return buf;
}

/* ------------------------------------------------------------ artifact server */

static enum MHD_Result itest_serve(void *cls, struct MHD_Connection *conn, const char *url,
                                   const char *method, const char *version, const char *upload_data,
                                   size_t *upload_size, void **state)
{
    itest *t = cls;
    (void)version;
    (void)upload_data;
    (void)upload_size;
    (void)state;
    const char *body = "not found";
    size_t len = strlen(body);
    unsigned status = MHD_HTTP_NOT_FOUND;
    snprintf(t->last_path, sizeof t->last_path, "%s", url);
    const char *auth = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization");
    if (strcmp(method, "GET") != 0) {
        status = MHD_HTTP_METHOD_NOT_ALLOWED;
        body = "method";
        len = strlen(body);
    } else if (auth == NULL || strcmp(auth, "Bearer " ITEST_TOKEN) != 0) {
        atomic_fetch_add(&t->auth_failures, 1);
        status = MHD_HTTP_UNAUTHORIZED;
        body = "bad token";
        len = strlen(body);
    } else if (strncmp(url, "/_fakecloud/lambda/_internal/code/", 34) == 0) {
        atomic_fetch_add(&t->code_hits, 1);
        status = MHD_HTTP_OK;
        body = t->zip;
        len = t->zip_len;
    } else if (strncmp(url, "/_fakecloud/lambda/_internal/layers/", 36) == 0) {
        atomic_fetch_add(&t->layer_hits, 1);
        status = MHD_HTTP_OK;
        body = t->tar;
        len = t->tar_len;
    }
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    enum MHD_Result r = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return r;
}

/* ------------------------------------------------------------ lifecycle */

void itest_start(itest *t, const char *test_name, const char *const *kubesim_args)
{
    memset(t, 0, sizeof *t);
    t->test_name = test_name;
    static const char *const code_names[] = {"app.py", "lib/util.py"};
    static const char *const code_data[] = {"def handler(e, c):\n    return e\n", "X = 1\n"};
    static const char *const layer_names[] = {"python/layerlib.py"};
    static const char *const layer_data[] = {"Y = 2\n"};
    t->zip = itest_archive(true, code_names, code_data, 2, &t->zip_len);
    t->tar = itest_archive(false, layer_names, layer_data, 1, &t->tar_len);

    struct sockaddr_in addr = {
        .sin_family = AF_INET, .sin_port = 0, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    t->artifacts = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION,
                                    0, NULL, NULL, itest_serve, t, MHD_OPTION_SOCK_ADDR, &addr,
                                    MHD_OPTION_CONNECTION_TIMEOUT, 10u, MHD_OPTION_END);
    cr_assert_not_null(t->artifacts, "cannot start the artifact server");
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(t->artifacts, MHD_DAEMON_INFO_BIND_PORT);
    cr_assert_not_null(info);
    t->artifact_port = info->port;
    snprintf(t->self_url, sizeof t->self_url, "http://127.0.0.1:%u", t->artifact_port);

    int rc = kubesim_start(kubesim_args, &t->sim);
    cr_assert_eq(rc, 0, "kubesim_start: %s", kubesim_last_error());
    t->mh = mock_host_new();
    mock_host_set_config(t->mh, "KUBECONFIG", kubesim_kubeconfig_token(t->sim));
    mock_host_set_config(t->mh, "HOME", kubesim_dir(t->sim));
    mock_host_set_config(t->mh, "FAKECLOUD_K8S_SELF_URL", t->self_url);
}

int itest_open(itest *t, const char *token, fcb_error *err)
{
    char why[LOADER_WHY_MAX];
    if (t->plugin == NULL) {
        int rc = loader_load(K8S_PLUGIN_PATH, mock_host_services(t->mh), &t->plugin, why);
        cr_assert_eq(rc, 0, "loader_load: %s", why);
        t->ops = t->plugin->ops;
    }
    fcb_open_params params = {.size = sizeof params, .internal_token = token};
    return t->ops->open(mock_host_services(t->mh), &params, &t->backend, err);
}

/*
 * Record the verbs of the plugin's requests (token auth) into
 * K8S_RBAC_DIR/<test>.verbs, or <test>.proxy.verbs in the api-proxy and
 * auto endpoint modes (test_k8s_rbac.c checks each against its Role).
 */
static void itest_record_verbs(itest *t)
{
    json_object *log = NULL;
    int status = kubesim_get_json(t->sim, "/_sim/requests", &log);
    cr_assert_eq(status, 200, "GET /_sim/requests: %d", status);
    json_object *entries = json_object_object_get(log, "requests");
    char path[512];
    mkdir(K8S_RBAC_DIR, 0755);
    /* api-proxy and auto need the second Role (pods/proxy): recorded apart. */
    const fcb_host_services *hs = mock_host_services(t->mh);
    const char *mode = hs->config_get(hs->config_ctx, "FAKECLOUD_K8S_ENDPOINT");
    bool proxy = mode != NULL && (strcmp(mode, "api-proxy") == 0 || strcmp(mode, "auto") == 0);
    snprintf(path, sizeof path, "%s/%s%s", K8S_RBAC_DIR, t->test_name,
             proxy ? ".proxy.verbs" : ".verbs");
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "cannot write %s: %s", path, strerror(errno));
    for (size_t i = 0; i < json_object_array_length(entries); i++) {
        json_object *e = json_object_array_get_idx(entries, i);
        const char *auth = json_object_get_string(json_object_object_get(e, "auth"));
        const char *verb = json_object_get_string(json_object_object_get(e, "verb"));
        if (auth != NULL && strcmp(auth, "token") == 0 && verb != NULL)
            fprintf(f, "%s\n", verb);
    }
    fclose(f);
    json_object_put(log);
}

void itest_close(itest *t)
{
    if (t->backend != NULL) {
        t->ops->close(t->backend);
        t->backend = NULL;
    }
    if (t->sim != NULL)
        itest_record_verbs(t);
    cr_assert_eq(mock_host_outstanding_bytes(t->mh), 0, "plugin leaked %zu bytes in %zu blocks",
                 mock_host_outstanding_bytes(t->mh), mock_host_outstanding_blocks(t->mh));
}

void itest_stop(itest *t)
{
    if (t->backend != NULL && t->ops != NULL)
        t->ops->close(t->backend);
    t->backend = NULL;
    loader_unload(t->plugin);
    t->plugin = NULL;
    if (t->sim != NULL)
        kubesim_stop(t->sim);
    t->sim = NULL;
    if (t->artifacts != NULL)
        MHD_stop_daemon(t->artifacts);
    t->artifacts = NULL;
    if (t->mh != NULL)
        mock_host_free(t->mh);
    t->mh = NULL;
    free(t->zip);
    free(t->tar);
    t->zip = t->tar = NULL;
}

/* ------------------------------------------------------------ helpers */

fcb_function itest_zip_function(const char *name)
{
    static const fcb_env_var env[] = {{"TABLE", "orders"}, {"ENDPOINT", "http://localhost:4566/q"}};
    fcb_function fn = {.size = sizeof fn,
                       .function_name = name,
                       .function_arn = NULL,
                       .runtime = "python3.12",
                       .handler = "app.handler",
                       .timeout_seconds = 10,
                       .memory_mb = 256,
                       .package_type = FCB_PACKAGE_ZIP,
                       .environment = env,
                       .n_environment = 2};
    return fn;
}

fcb_launch_request itest_request(const fcb_function *fn, const char *deploy_id)
{
    fcb_launch_request req = {.size = sizeof req, .function = fn, .deploy_id = deploy_id};
    return req;
}

static size_t itest_collect(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    char **buf = userdata;
    size_t n = size * nmemb;
    size_t old = *buf != NULL ? strlen(*buf) : 0;
    if (old + n > 1 << 20)
        return 0;
    char *grown = realloc(*buf, old + n + 1);
    if (grown == NULL)
        return 0;
    memcpy(grown + old, ptr, n);
    grown[old + n] = '\0';
    *buf = grown;
    return n;
}

long itest_invoke(const char *endpoint, const char *event, json_object **out)
{
    char url[512];
    char *body = NULL;
    long status = 0;
    snprintf(url, sizeof url, "http://%s/2015-03-31/functions/function/invocations", endpoint);
    CURL *c = curl_easy_init();
    cr_assert_not_null(c);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, event);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, itest_collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(c);
    if (out != NULL)
        *out = body != NULL ? json_tokener_parse(body) : NULL;
    free(body);
    return status;
}

int itest_count(itest *t, const char *kind, const char *ns, const char *selector)
{
    char path[512];
    json_object *list = NULL;
    const char *gv = strcmp(kind, "leases") == 0 ? "/apis/coordination.k8s.io/v1" : "/api/v1";
    if (selector != NULL) {
        char *esc = curl_easy_escape(NULL, selector, 0);
        snprintf(path, sizeof path, "%s/namespaces/%s/%s?labelSelector=%s", gv, ns, kind, esc);
        curl_free(esc);
    } else {
        snprintf(path, sizeof path, "%s/namespaces/%s/%s", gv, ns, kind);
    }
    int status = kubesim_get_json(t->sim, path, &list);
    cr_assert_eq(status, 200, "GET %s: %d %s", path, status, kubesim_last_error());
    int n = (int)json_object_array_length(json_object_object_get(list, "items"));
    json_object_put(list);
    return n;
}

void itest_create_pod(itest *t, const char *ns, const char *name, const char *labels_json)
{
    char body[1024];
    char path[256];
    snprintf(body, sizeof body,
             "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"%s\","
             "\"labels\":%s},\"spec\":{\"restartPolicy\":\"Never\",\"containers\":[{\"name\":"
             "\"c\",\"image\":\"busybox:1.36\"}]}}",
             name, labels_json);
    snprintf(path, sizeof path, "/api/v1/namespaces/%s/pods", ns);
    int status = kubesim_post_json(t->sim, path, body, NULL);
    cr_assert_eq(status, 201, "create pod %s/%s: %d", ns, name, status);
}

int itest_plugin_requests(itest *t, const char *verb)
{
    json_object *log = NULL, *reqs = NULL;
    cr_assert_eq(kubesim_get_json(t->sim, "/_sim/requests", &log), 200);
    cr_assert(json_object_object_get_ex(log, "requests", &reqs));
    int n = 0;
    for (size_t i = 0; i < json_object_array_length(reqs); i++) {
        json_object *e = json_object_array_get_idx(reqs, i), *v = NULL, *auth = NULL;
        if (!json_object_object_get_ex(e, "auth", &auth) ||
            strcmp(json_object_get_string(auth), "token") != 0)
            continue;
        if (verb == NULL || (json_object_object_get_ex(e, "verb", &v) &&
                             strcmp(json_object_get_string(v), verb) == 0))
            n++;
    }
    json_object_put(log);
    return n;
}

void itest_create_secret(itest *t, const char *ns, const char *name, const char *labels_json)
{
    char body[1024];
    char path[256];
    snprintf(body, sizeof body,
             "{\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"metadata\":{\"name\":\"%s\","
             "\"labels\":%s},\"stringData\":{\"token\":\"x\"}}",
             name, labels_json);
    snprintf(path, sizeof path, "/api/v1/namespaces/%s/secrets", ns);
    int status = kubesim_post_json(t->sim, path, body, NULL);
    cr_assert_eq(status, 201, "create secret %s/%s: %d", ns, name, status);
}

void itest_set_faults(itest *t, const char *json)
{
    int rc = kubesim_set_faults(t->sim, json);
    cr_assert(rc == 0 || rc == 200, "faults %s: %d %s", json, rc, kubesim_last_error());
}

double itest_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

/* The forked host: open, launch, report the handle, wait for SIGKILL. Never returns. */
static void itest_host_child(itest *t, const char *fn_name, int fd)
{
    fcb_error err = FCB_ERROR_INIT;
    t->backend = NULL;
    if (itest_open(t, ITEST_TOKEN, &err) != FCB_OK) {
        dprintf(fd, "ERR open: %s\n", err.message);
        _exit(1);
    }
    fcb_function fn = itest_zip_function(fn_name);
    fcb_launch_request req = itest_request(&fn, "forked");
    fcb_instance inst = {.size = sizeof inst};
    if (t->ops->launch(t->backend, &req, &inst, &err) != FCB_OK) {
        dprintf(fd, "ERR launch: %s\n", err.message);
        _exit(1);
    }
    dprintf(fd, "%s\n", inst.handle);
    close(fd);
    for (;;)
        pause();
}

pid_t itest_fork_host(itest *t, const char *fn_name, char *handle)
{
    int fds[2];
    cr_assert_eq(pipe(fds), 0);
    fflush(NULL);
    pid_t pid = fork();
    cr_assert_geq(pid, 0, "fork: %s", strerror(errno));
    if (pid == 0) {
        close(fds[0]);
        itest_host_child(t, fn_name, fds[1]);
    }
    close(fds[1]);
    char line[512];
    size_t len = 0;
    ssize_t n;
    while (len < sizeof line - 1 && (n = read(fds[0], line + len, sizeof line - 1 - len)) > 0) {
        len += (size_t)n;
        if (memchr(line, '\n', len) != NULL)
            break;
    }
    close(fds[0]);
    line[len] = '\0';
    line[strcspn(line, "\n")] = '\0';
    if (len == 0 || strncmp(line, "ERR", 3) == 0) {
        itest_kill_host(pid);
        cr_assert_fail("forked host failed: %s", len == 0 ? "(no output)" : line);
    }
    snprintf(handle, 256, "%s", line);
    return pid;
}

void itest_kill_host(pid_t pid)
{
    int status = 0;
    kill(pid, SIGKILL);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
}

void itest_sleep_ms(unsigned ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static int itest_cancelled(void *ctx)
{
    itest_cancel *c = ctx;
    atomic_fetch_add(&c->polls, 1);
    return atomic_load(&c->fired);
}

static void *itest_cancel_fire(void *arg)
{
    itest_cancel *c = arg;
    itest_sleep_ms(c->fire_after_ms);
    c->fired_at_ms = itest_now_ms();
    atomic_store(&c->fired, 1);
    return NULL;
}

fcb_cancel itest_cancel_token(itest_cancel *c)
{
    return (fcb_cancel){c, itest_cancelled};
}

void itest_cancel_start(itest_cancel *c, unsigned fire_after_ms)
{
    c->fire_after_ms = fire_after_ms;
    cr_assert_eq(pthread_create(&c->thread, NULL, itest_cancel_fire, c), 0);
    c->started = true;
}

void itest_cancel_join(itest_cancel *c)
{
    if (c->started)
        pthread_join(c->thread, NULL);
    c->started = false;
}
