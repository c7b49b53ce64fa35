/*
 * test plugin: a complete in-process backend for the loader and host tests.
 *
 * Exercises the whole ABI through the svc.h wrappers. launch() validates the
 * request and starts a tiny stand-in for the Runtime Interface Emulator: a
 * thread with a loopback HTTP listener on 127.0.0.1:0 that answers
 *   POST /2015-03-31/functions/function/invocations
 * with {"backend":NAME,"event":<body>,"function":..,"handler":..}, so a host
 * can invoke end to end. Built twice: "test" and "test2" (TP_VARIANT 2 adds
 * "variant":2 to every answer) for the swap-without-rebuild test.
 *
 * Configuration (through the host's config getter):
 *   FAKECLOUD_TEST_FAIL_OPEN  non-empty: open() fails with FCB_ERR_CONFIG
 *   FAKECLOUD_TEST_ENDPOINT   launch returns this endpoint, starts no listener
 *   FAKECLOUD_TEST_LEAK       "1": close() leaks one block on purpose
 *   FAKECLOUD_TEST_REQUIRE_TOKEN "1": open() fails without an internal token
 *   FAKECLOUD_TEST_LAUNCH_DELAY_MS  launch() waits this long before starting
 *                             (close() cancels the wait: FCB_ERR_CANCELLED)
 *   FAKECLOUD_TEST_FETCH      "1": launch() downloads the code zip and layers
 *                             tar from FAKECLOUD_K8S_SELF_URL with the bearer
 *                             token (as a k8s init container would), checks
 *                             the code matches, and the echo reports the
 *                             sizes ("code_bytes", "layers_bytes")
 *   FAKECLOUD_TEST_FAIL_LAUNCH, _TERMINATE, _REAP, _PREPULL  a status name
 *                             without its prefix ("UNAVAILABLE", "CONFIG",
 *                             "BACKEND", ...): that operation fails with it.
 *                             FAKECLOUD_TEST_FAIL_OPEN takes a status name
 *                             too (any other value: FCB_ERR_CONFIG).
 *   FAKECLOUD_TEST_OPEN_DELAY_MS  open() sleeps this long (not cancellable:
 *                             ABI 1.0 has no way to cancel an open)
 *   FAKECLOUD_TEST_OP_DELAY_MS    terminate, reap_stale and prepull sleep this
 *                             long first (not cancellable either)
 * Variant 2 ("test2") has no prepull operation.
 */
#include "svc.h"

#include <curl/curl.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#ifndef TP_NAME
#define TP_NAME "test"
#endif
#ifndef TP_VERSION
#define TP_VERSION "1.0.0"
#endif
#ifndef TP_VARIANT
#define TP_VARIANT 1
#endif

/* Variant 2 has no prepull op (tests of the missing optional op). */
FCB_PLUGIN_DESCRIPTOR_EX(TP_NAME, TP_VERSION, "In-process test backend (variant " TP_NAME ")",
                         FCB_ABI_MINOR, TP_VARIANT == 1 ? FCB_CAP_PREPULL : 0);

#define TP_INVOKE_PATH    "/2015-03-31/functions/function/invocations"
#define TP_HEADER_MAX     (64 * 1024)
#define TP_BODY_MAX       (6 * 1024 * 1024)
#define TP_SERVE_ROUNDS   1000000u /* poll rounds of <= 200 ms: a bound, never reached */
#define TP_IO_TIMEOUT_SEC 5

/* True when STRUCT (with a leading `size`) as written by the caller has FIELD. */
#define TP_HAS(ptr, type, field) ((ptr)->size >= offsetof(type, field) + sizeof(((type *)0)->field))

typedef struct tp_instance {
    struct tp_instance *next;
    const fcb_host_services *host;
    char *handle;
    char *function_name;
    char *handler;
    int listen_fd;
    int wake[2];
    pthread_t thread;
    bool running;
    long long code_bytes;   /* -1 = not fetched */
    long long layers_bytes; /* -1 = not fetched */
} tp_instance;

struct fcb_backend {
    const fcb_host_services *host;
    pthread_mutex_t lock;
    pthread_cond_t changed; /* closing set, or an in-flight launch finished */
    unsigned in_flight;     /* launches running; close() waits for 0 */
    long launch_delay_ms;
    tp_instance *instances;
    unsigned long next_id;
    char *endpoint_override;
    char *token;
    bool fetch;
    bool leak;
    bool closing;
    long op_delay_ms;
    int fail_launch, fail_terminate, fail_reap, fail_prepull; /* FCB_OK = do not fail */
};

/* Status named by KEY's value ("UNAVAILABLE" = FCB_ERR_UNAVAILABLE); FCB_OK when unset. */
static int tp_fail_code(const fcb_host_services *host, const char *key, int otherwise)
{
    const char *v = svc_config_nonempty(host, key);
    if (v == NULL)
        return FCB_OK;
    for (int code = FCB_ERR_INVALID_ARGUMENT; code >= FCB_ERR_INTERNAL; code--) {
        if (strcmp(fcb_status_name(code) + strlen("FCB_ERR_"), v) == 0)
            return code;
    }
    return otherwise;
}

/* Sleep MS milliseconds (bounded to 60 s); nothing can cut it short. */
static void tp_sleep_ms(long ms)
{
    if (ms <= 0)
        return;
    if (ms > 60000)
        ms = 60000;
    struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
    for (int i = 0; i < 1000 && nanosleep(&t, &t) != 0; i++) {
    }
}

static const char *tp_str(const char *s)
{
    return s != NULL ? s : "";
}

static bool tp_json_string(sbuf *b, const char *s)
{
    sbuf_puts(b, "\"");
    for (const unsigned char *p = (const unsigned char *)tp_str(s); *p; p++) {
        if (*p == '"' || *p == '\\')
            sbuf_printf(b, "\\%c", *p);
        else if (*p < 0x20)
            sbuf_printf(b, "\\u%04x", *p);
        else
            sbuf_append(b, p, 1);
    }
    return sbuf_puts(b, "\"");
}

static bool tp_send_all(int fd, const char *data, size_t len)
{
    size_t off = 0;
    for (unsigned i = 0; off < len && i < 100000; i++) {
        ssize_t n = send(fd, data + off, len - off, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        off += (size_t)n;
    }
    return off == len;
}

static void tp_respond(int fd, const fcb_host_services *host, int status, const char *reason,
                       const char *body, size_t body_len)
{
    char *head = svc_sprintf(host,
                             "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n"
                             "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                             status, reason, body_len);
    if (head == NULL)
        return;
    if (tp_send_all(fd, head, strlen(head)))
        tp_send_all(fd, body, body_len);
    svc_free(host, head);
}

/* Case-insensitive search for "\r\nName:" in the header block; value or NULL. */
static const char *tp_header(const char *headers, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = strstr(headers, "\r\n"); p != NULL; p = strstr(p + 2, "\r\n")) {
        if (strncasecmp(p + 2, name, n) == 0 && p[2 + n] == ':')
            return p + 3 + n;
    }
    return NULL;
}

/* Serve one request on connection FD (one request per connection). */
static void tp_serve_connection(tp_instance *in, int fd)
{
    const fcb_host_services *host = in->host;
    struct timeval tv = {TP_IO_TIMEOUT_SEC, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    sbuf req;
    sbuf_init(&req, host, TP_HEADER_MAX + TP_BODY_MAX);
    sbuf out;
    sbuf_init(&out, host, 0);
    char chunk[8192];
    char *end = NULL;
    for (unsigned i = 0; end == NULL && i < 10000; i++) {
        ssize_t n = recv(fd, chunk, sizeof chunk, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0 || !sbuf_append(&req, chunk, (size_t)n))
            goto out;
        end = strstr(req.data, "\r\n\r\n");
        if (end == NULL && req.len > TP_HEADER_MAX)
            goto out;
    }
    if (end == NULL)
        goto out;
    size_t header_len = (size_t)(end - req.data) + 4;
    end[2] = '\0'; /* headers now end with a single "\r\n" */
    const char *cl = tp_header(req.data, "Content-Length");
    size_t body_len = cl != NULL ? (size_t)strtoull(cl, NULL, 10) : 0;
    if (body_len > TP_BODY_MAX) {
        tp_respond(fd, host, 413, "Payload Too Large", "{}", 2);
        goto out;
    }
    for (unsigned i = 0; req.len < header_len + body_len && i < 100000; i++) {
        ssize_t n = recv(fd, chunk, sizeof chunk, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0 || !sbuf_append(&req, chunk, (size_t)n))
            goto out;
    }
    if (req.len < header_len + body_len)
        goto out;
    bool is_post = strncmp(req.data, "POST ", 5) == 0;
    bool path_ok =
        strncmp(req.data + (is_post ? 5 : 0), TP_INVOKE_PATH " ", sizeof TP_INVOKE_PATH) == 0;
    if (!is_post || !path_ok) {
        static const char nf[] = "{\"errorMessage\":\"not found\"}";
        tp_respond(fd, host, 404, "Not Found", nf, sizeof nf - 1);
        goto out;
    }
    const char *body = req.data + header_len;
    sbuf_puts(&out, "{\"backend\":\"" TP_NAME "\",\"event\":");
    if (body_len == 0)
        sbuf_puts(&out, "null");
    else
        sbuf_append(&out, body, body_len);
    sbuf_puts(&out, ",\"function\":");
    tp_json_string(&out, in->function_name);
    sbuf_puts(&out, ",\"handler\":");
    tp_json_string(&out, in->handler);
    if (in->code_bytes >= 0)
        sbuf_printf(&out, ",\"code_bytes\":%lld,\"layers_bytes\":%lld", in->code_bytes,
                    in->layers_bytes);
    if (TP_VARIANT == 2)
        sbuf_puts(&out, ",\"variant\":2");
    sbuf_puts(&out, "}");
    if (sbuf_failed(&out)) {
        tp_respond(fd, host, 500, "Internal Server Error", "{}", 2);
        goto out;
    }
    tp_respond(fd, host, 200, "OK", out.data, out.len);
out:
    sbuf_free(&req);
    sbuf_free(&out);
}

static void *tp_serve(void *arg)
{
    tp_instance *in = arg;
    for (unsigned round = 0; round < TP_SERVE_ROUNDS; round++) {
        struct pollfd fds[2] = {{in->listen_fd, POLLIN, 0}, {in->wake[0], POLLIN, 0}};
        int n = poll(fds, 2, 200);
        if (n < 0 && errno != EINTR)
            break;
        if (n <= 0)
            continue;
        if (fds[1].revents != 0)
            break;
        if (fds[0].revents & POLLIN) {
            int fd = accept(in->listen_fd, NULL, NULL);
            if (fd >= 0) {
                tp_serve_connection(in, fd);
                close(fd);
            }
        }
    }
    return NULL;
}

static void tp_instance_free(tp_instance *in)
{
    if (in == NULL)
        return;
    const fcb_host_services *host = in->host;
    if (in->running) {
        ssize_t w;
        do
            w = write(in->wake[1], "x", 1);
        while (w < 0 && errno == EINTR);
        pthread_join(in->thread, NULL);
    }
    if (in->listen_fd >= 0)
        close(in->listen_fd);
    if (in->wake[0] >= 0)
        close(in->wake[0]);
    if (in->wake[1] >= 0)
        close(in->wake[1]);
    svc_free(host, in->handle);
    svc_free(host, in->function_name);
    svc_free(host, in->handler);
    svc_free(host, in);
}

/* Bind 127.0.0.1:0 and start the server thread; fills ENDPOINT. */
static int tp_instance_start(tp_instance *in, char endpoint[FCB_ENDPOINT_MAX], fcb_error *err)
{
    if (pipe(in->wake) != 0) {
        in->wake[0] = in->wake[1] = -1;
        return err_set(err, FCB_ERR_INTERNAL, "pipe: %s", strerror(errno));
    }
    in->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (in->listen_fd < 0)
        return err_set(err, FCB_ERR_START_FAILED, "socket: %s", strerror(errno));
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = 0};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (bind(in->listen_fd, (struct sockaddr *)&addr, sizeof addr) != 0 ||
        listen(in->listen_fd, 64) != 0 ||
        getsockname(in->listen_fd, (struct sockaddr *)&addr, &len) != 0)
        return err_set(err, FCB_ERR_START_FAILED, "listener on 127.0.0.1: %s", strerror(errno));
    int rc = pthread_create(&in->thread, NULL, tp_serve, in);
    if (rc != 0)
        return err_set(err, FCB_ERR_START_FAILED, "server thread: %s", strerror(rc));
    in->running = true;
    snprintf(endpoint, FCB_ENDPOINT_MAX, "127.0.0.1:%u", (unsigned)ntohs(addr.sin_port));
    return FCB_OK;
}

static size_t tp_curl_body(char *ptr, size_t size, size_t nmemb, void *ctx)
{
    sbuf *b = ctx;
    return sbuf_append(b, ptr, size * nmemb) ? size * nmemb : 0;
}

/* GET BASE+PATH with the bearer token; the body lands in *body. */
static int tp_get(fcb_backend *b, const char *url, sbuf *body, fcb_error *err)
{
    int rc = FCB_OK;
    char *auth = svc_sprintf(b->host, "Authorization: Bearer %s", b->token);
    CURL *curl = curl_easy_init();
    struct curl_slist *headers = auth != NULL ? curl_slist_append(NULL, auth) : NULL;
    if (curl == NULL || headers == NULL) {
        rc = err_set(err, FCB_ERR_NO_MEMORY, "fetch: out of memory");
        goto out;
    }
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, tp_curl_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, body);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 10000L);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_NOPROXY, "*");
    CURLcode cc = curl_easy_perform(curl);
    long status = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    if (cc != CURLE_OK)
        rc = err_set(err, FCB_ERR_START_FAILED, "fetch %s: %s", url, curl_easy_strerror(cc));
    else if (status != 200)
        rc = err_set(err, FCB_ERR_START_FAILED, "fetch %s: HTTP %ld", url, status);
out:
    curl_slist_free_all(headers);
    if (curl != NULL)
        curl_easy_cleanup(curl);
    svc_free(b->host, auth);
    return rc;
}

/* Download code and layers as an init container would and check the code. */
static int tp_fetch(fcb_backend *b, const fcb_launch_request *req, tp_instance *in, fcb_error *err)
{
    const fcb_host_services *host = b->host;
    const char *self = svc_config_nonempty(host, "FAKECLOUD_K8S_SELF_URL");
    if (self == NULL)
        return err_set(err, FCB_ERR_CONFIG,
                       "FAKECLOUD_K8S_SELF_URL: required with "
                       "FAKECLOUD_TEST_FETCH=1");
    if (b->token == NULL)
        return err_set(err, FCB_ERR_CONFIG, "internal token: required with FAKECLOUD_TEST_FETCH=1");
    /* Account: 5th field of the ARN, as the k8s backend does. */
    char account[16] = "000000000000";
    const char *arn = req->function->function_arn;
    const char *p = arn;
    for (int i = 0; i < 4 && p != NULL; i++) {
        p = strchr(p, ':');
        if (p != NULL)
            p++;
    }
    if (p != NULL && strchr(p, ':') != NULL && strchr(p, ':') - p == 12)
        snprintf(account, sizeof account, "%.12s", p);
    int rc = FCB_OK;
    sbuf code, layers;
    sbuf_init(&code, host, 0);
    sbuf_init(&layers, host, 0);
    char *code_url = svc_sprintf(host, "%s/_fakecloud/lambda/_internal/code/%s/%s/%s.zip", self,
                                 account, req->function->function_name, req->deploy_id);
    char *layers_url = svc_sprintf(host, "%s/_fakecloud/lambda/_internal/layers/%s/%s/%s.tar", self,
                                   account, req->function->function_name, req->deploy_id);
    if (code_url == NULL || layers_url == NULL) {
        rc = err_set(err, FCB_ERR_NO_MEMORY, "fetch: out of memory");
        goto out;
    }
    rc = tp_get(b, code_url, &code, err);
    if (rc == FCB_OK)
        rc = tp_get(b, layers_url, &layers, err);
    if (rc == FCB_OK && (sbuf_failed(&code) || sbuf_failed(&layers)))
        rc = err_set(err, FCB_ERR_NO_MEMORY, "fetch: out of memory");
    if (rc == FCB_OK && (code.len != req->code.size ||
                         (code.len > 0 && memcmp(code.data, req->code.data, code.len) != 0)))
        rc = err_set(err, FCB_ERR_START_FAILED,
                     "fetch %s: got %zu bytes that differ from the %zu-byte code zip", code_url,
                     code.len, req->code.size);
    if (rc == FCB_OK) {
        in->code_bytes = (long long)code.len;
        in->layers_bytes = (long long)layers.len;
    }
out:
    svc_free(host, code_url);
    svc_free(host, layers_url);
    sbuf_free(&code);
    sbuf_free(&layers);
    return rc;
}

static int tp_validate(const fcb_launch_request *req, fcb_error *err)
{
    if (req == NULL || req->size < offsetof(fcb_launch_request, deadline_ms))
        return err_set(err, FCB_ERR_INVALID_ARGUMENT, "request: missing or too small");
    const fcb_function *fn = req->function;
    if (fn == NULL || fn->size < offsetof(fcb_function, image_uri))
        return err_set(err, FCB_ERR_INVALID_ARGUMENT, "request.function: missing or too small");
    if (fn->function_name == NULL || fn->function_name[0] == '\0')
        return err_set(err, FCB_ERR_INVALID_ARGUMENT, "function.function_name: required");
    if (fn->package_type == FCB_PACKAGE_ZIP) {
        if (fn->runtime == NULL || fn->runtime[0] == '\0')
            return err_set(err, FCB_ERR_INVALID_ARGUMENT,
                           "function.runtime: required for a Zip function");
        if (fn->handler == NULL || fn->handler[0] == '\0')
            return err_set(err, FCB_ERR_INVALID_ARGUMENT,
                           "function.handler: required for a Zip function");
        if (req->code.data == NULL || req->code.size == 0)
            return err_set(err, FCB_ERR_INVALID_ARGUMENT,
                           "request.code: a Zip function needs its code zip");
    } else if (fn->package_type == FCB_PACKAGE_IMAGE) {
        const char *uri = TP_HAS(fn, fcb_function, image_uri) ? fn->image_uri : NULL;
        if (uri == NULL || uri[0] == '\0')
            return err_set(err, FCB_ERR_INVALID_ARGUMENT,
                           "function.image_uri: required for an Image function");
    } else {
        return err_set(err, FCB_ERR_INVALID_ARGUMENT, "function.package_type: unknown value %d",
                       (int)fn->package_type);
    }
    if (req->n_layers > 0 && req->layers == NULL)
        return err_set(err, FCB_ERR_INVALID_ARGUMENT, "request.layers: NULL with n_layers %zu",
                       req->n_layers);
    const char *id = req->deploy_id;
    if (id == NULL || id[0] == '\0')
        return err_set(err, FCB_ERR_INVALID_ARGUMENT, "request.deploy_id: required");
    for (const char *c = id; *c; c++) {
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
              *c == '.' || *c == '_' || *c == '-'))
            return err_set(err, FCB_ERR_INVALID_ARGUMENT,
                           "request.deploy_id: invalid character '%c' (use [A-Za-z0-9._-])", *c);
    }
    return FCB_OK;
}

static int tp_open(const fcb_host_services *host, const fcb_open_params *params, fcb_backend **out,
                   fcb_error *err)
{
    *out = NULL;
    const char *delay_open = svc_config_nonempty(host, "FAKECLOUD_TEST_OPEN_DELAY_MS");
    tp_sleep_ms(delay_open != NULL ? strtol(delay_open, NULL, 10) : 0);
    const char *fail = svc_config_nonempty(host, "FAKECLOUD_TEST_FAIL_OPEN");
    if (fail != NULL)
        return err_set(err, tp_fail_code(host, "FAKECLOUD_TEST_FAIL_OPEN", FCB_ERR_CONFIG),
                       "FAKECLOUD_TEST_FAIL_OPEN: set to \"%s\", refusing to open", fail);
    const char *need_token = svc_config_nonempty(host, "FAKECLOUD_TEST_REQUIRE_TOKEN");
    const char *token = params != NULL && TP_HAS(params, fcb_open_params, internal_token)
                            ? params->internal_token
                            : NULL;
    if (need_token != NULL && strcmp(need_token, "1") == 0 && (token == NULL || token[0] == '\0'))
        return err_set(err, FCB_ERR_CONFIG,
                       "FAKECLOUD_TEST_REQUIRE_TOKEN: set, but the host gave no internal token");
    fcb_backend *b = svc_calloc(host, 1, sizeof *b);
    if (b == NULL)
        return err_set(err, FCB_ERR_NO_MEMORY, "open: out of memory");
    b->host = host;
    pthread_mutex_init(&b->lock, NULL);
    pthread_cond_init(&b->changed, NULL);
    const char *delay = svc_config_nonempty(host, "FAKECLOUD_TEST_LAUNCH_DELAY_MS");
    b->launch_delay_ms = delay != NULL ? strtol(delay, NULL, 10) : 0;
    const char *endpoint = svc_config_nonempty(host, "FAKECLOUD_TEST_ENDPOINT");
    if (endpoint != NULL) {
        if (strlen(endpoint) >= FCB_ENDPOINT_MAX) {
            pthread_cond_destroy(&b->changed);
            pthread_mutex_destroy(&b->lock);
            svc_free(host, b);
            return err_set(err, FCB_ERR_CONFIG, "FAKECLOUD_TEST_ENDPOINT: longer than %d bytes",
                           FCB_ENDPOINT_MAX - 1);
        }
        b->endpoint_override = svc_strdup(host, endpoint);
        if (b->endpoint_override == NULL) {
            pthread_cond_destroy(&b->changed);
            pthread_mutex_destroy(&b->lock);
            svc_free(host, b);
            return err_set(err, FCB_ERR_NO_MEMORY, "open: out of memory");
        }
    }
    const char *op_delay = svc_config_nonempty(host, "FAKECLOUD_TEST_OP_DELAY_MS");
    b->op_delay_ms = op_delay != NULL ? strtol(op_delay, NULL, 10) : 0;
    b->fail_launch = tp_fail_code(host, "FAKECLOUD_TEST_FAIL_LAUNCH", FCB_ERR_BACKEND);
    b->fail_terminate = tp_fail_code(host, "FAKECLOUD_TEST_FAIL_TERMINATE", FCB_ERR_BACKEND);
    b->fail_reap = tp_fail_code(host, "FAKECLOUD_TEST_FAIL_REAP", FCB_ERR_BACKEND);
    b->fail_prepull = tp_fail_code(host, "FAKECLOUD_TEST_FAIL_PREPULL", FCB_ERR_BACKEND);
    const char *leak = svc_config(host, "FAKECLOUD_TEST_LEAK");
    b->leak = leak != NULL && strcmp(leak, "1") == 0;
    const char *fetch = svc_config(host, "FAKECLOUD_TEST_FETCH");
    b->fetch = fetch != NULL && strcmp(fetch, "1") == 0;
    if (token != NULL) {
        b->token = svc_strdup(host, token);
        if (b->token == NULL) {
            svc_free(host, b->endpoint_override);
            pthread_cond_destroy(&b->changed);
            pthread_mutex_destroy(&b->lock);
            svc_free(host, b);
            return err_set(err, FCB_ERR_NO_MEMORY, "open: out of memory");
        }
    }
    svc_log(host, FCB_LOG_INFO, TP_NAME, "backend opened", "endpoint_override",
            endpoint != NULL ? endpoint : "none", "token", token != NULL ? "present" : "absent",
            NULL);
    *out = b;
    return FCB_OK;
}

static void tp_close(fcb_backend *b)
{
    if (b == NULL)
        return;
    const fcb_host_services *host = b->host;
    pthread_mutex_lock(&b->lock);
    b->closing = true;
    pthread_cond_broadcast(&b->changed);
    /* In-flight launches see `closing` and return CANCELLED promptly. */
    for (unsigned i = 0; b->in_flight > 0 && i < 600; i++) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 1;
        pthread_cond_timedwait(&b->changed, &b->lock, &until);
    }
    tp_instance *list = b->instances;
    b->instances = NULL;
    pthread_mutex_unlock(&b->lock);
    for (tp_instance *in = list, *next; in != NULL; in = next) {
        next = in->next;
        tp_instance_free(in);
    }
    if (b->leak)
        (void)svc_alloc(host, 42); /* deliberately lost: the host must notice */
    svc_log(host, FCB_LOG_INFO, TP_NAME, "backend closed", NULL);
    svc_free(host, b->endpoint_override);
    svc_free(host, b->token);
    pthread_cond_destroy(&b->changed);
    pthread_mutex_destroy(&b->lock);
    svc_free(host, b);
}

/* Wait launch_delay_ms, or less when close() starts; CANCELLED then. */
static int tp_launch_delay(fcb_backend *b, fcb_error *err)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += b->launch_delay_ms / 1000;
    until.tv_nsec += (b->launch_delay_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    int rc = FCB_OK;
    pthread_mutex_lock(&b->lock);
    for (unsigned i = 0; !b->closing && i < 100000; i++) {
        if (pthread_cond_timedwait(&b->changed, &b->lock, &until) == ETIMEDOUT)
            break;
    }
    if (b->closing)
        rc = err_set(err, FCB_ERR_CANCELLED, "launch: cancelled by close()");
    pthread_mutex_unlock(&b->lock);
    return rc;
}

static int tp_launch_inner(fcb_backend *b, const fcb_launch_request *req, fcb_instance *out,
                           fcb_error *err);

static int tp_launch(fcb_backend *b, const fcb_launch_request *req, fcb_instance *out,
                     fcb_error *err)
{
    pthread_mutex_lock(&b->lock);
    bool closing = b->closing;
    if (!closing)
        b->in_flight++;
    pthread_mutex_unlock(&b->lock);
    if (closing)
        return err_set(err, FCB_ERR_CANCELLED, "launch: backend is closing");
    int rc = b->launch_delay_ms > 0 ? tp_launch_delay(b, err) : FCB_OK;
    if (rc == FCB_OK && b->fail_launch != FCB_OK)
        rc = err_set(err, b->fail_launch, "FAKECLOUD_TEST_FAIL_LAUNCH: launch fails with %s",
                     fcb_status_name(b->fail_launch));
    if (rc == FCB_OK)
        rc = tp_launch_inner(b, req, out, err);
    pthread_mutex_lock(&b->lock);
    b->in_flight--;
    pthread_cond_broadcast(&b->changed);
    pthread_mutex_unlock(&b->lock);
    return rc;
}

static int tp_launch_inner(fcb_backend *b, const fcb_launch_request *req, fcb_instance *out,
                           fcb_error *err)
{
    const fcb_host_services *host = b->host;
    int rc = tp_validate(req, err);
    if (rc != FCB_OK)
        return rc;
    if (out == NULL || out->size < sizeof *out)
        return err_set(err, FCB_ERR_INVALID_ARGUMENT, "out: missing or too small");
    const fcb_function *fn = req->function;
    tp_instance *in = svc_calloc(host, 1, sizeof *in);
    if (in == NULL)
        return err_set(err, FCB_ERR_NO_MEMORY, "launch: out of memory");
    in->host = host;
    in->listen_fd = in->wake[0] = in->wake[1] = -1;
    in->code_bytes = in->layers_bytes = -1;
    pthread_mutex_lock(&b->lock);
    unsigned long id = ++b->next_id;
    bool closing = b->closing;
    pthread_mutex_unlock(&b->lock);
    if (closing) {
        rc = err_set(err, FCB_ERR_CANCELLED, "launch: backend is closing");
        goto fail;
    }
    in->handle = svc_sprintf(host, "%s/%lu", TP_NAME, id);
    in->function_name = svc_strdup(host, fn->function_name);
    in->handler = svc_strdup(host, fn->handler != NULL ? fn->handler : "");
    if (in->handle == NULL || in->function_name == NULL || in->handler == NULL) {
        rc = err_set(err, FCB_ERR_NO_MEMORY, "launch: out of memory");
        goto fail;
    }
    if (b->fetch) {
        rc = tp_fetch(b, req, in, err);
        if (rc != FCB_OK)
            goto fail;
    }
    char endpoint[FCB_ENDPOINT_MAX];
    if (b->endpoint_override != NULL) {
        snprintf(endpoint, sizeof endpoint, "%s", b->endpoint_override);
    } else {
        rc = tp_instance_start(in, endpoint, err);
        if (rc != FCB_OK) {
            err_prefix(err, "function %s", fn->function_name);
            goto fail;
        }
    }
    pthread_mutex_lock(&b->lock);
    closing = b->closing;
    if (!closing) {
        in->next = b->instances;
        b->instances = in;
    }
    pthread_mutex_unlock(&b->lock);
    if (closing) {
        rc = err_set(err, FCB_ERR_CANCELLED, "launch: backend closed during launch");
        goto fail;
    }
    snprintf(out->endpoint, sizeof out->endpoint, "%s", endpoint);
    snprintf(out->handle, sizeof out->handle, "%s", in->handle);
    svc_log(host, FCB_LOG_INFO, TP_NAME, "instance launched", "function", fn->function_name,
            "function_arn", fn->function_arn != NULL ? fn->function_arn : "none", "deploy_id",
            req->deploy_id, "endpoint", endpoint, "handle", in->handle, NULL);
    return FCB_OK;
fail:
    tp_instance_free(in);
    return rc;
}

static int tp_terminate(fcb_backend *b, const char *handle, fcb_error *err)
{
    if (handle == NULL || handle[0] == '\0')
        return err_set(err, FCB_ERR_INVALID_ARGUMENT, "handle: required");
    tp_sleep_ms(b->op_delay_ms);
    if (b->fail_terminate != FCB_OK)
        return err_set(err, b->fail_terminate,
                       "FAKECLOUD_TEST_FAIL_TERMINATE: terminate %s fails with %s", handle,
                       fcb_status_name(b->fail_terminate));
    pthread_mutex_lock(&b->lock);
    tp_instance **link = &b->instances;
    while (*link != NULL && strcmp((*link)->handle, handle) != 0)
        link = &(*link)->next;
    tp_instance *found = *link;
    if (found != NULL)
        *link = found->next;
    pthread_mutex_unlock(&b->lock);
    svc_log(b->host, FCB_LOG_INFO, TP_NAME,
            found != NULL ? "instance terminated" : "instance already gone", "handle", handle,
            NULL);
    tp_instance_free(found);
    return FCB_OK;
}

static int tp_reap_stale(fcb_backend *b, size_t *reaped, fcb_error *err)
{
    if (reaped != NULL)
        *reaped = 0;
    tp_sleep_ms(b->op_delay_ms);
    if (b->fail_reap != FCB_OK)
        return err_set(err, b->fail_reap, "FAKECLOUD_TEST_FAIL_REAP: reap fails with %s",
                       fcb_status_name(b->fail_reap));
    svc_log(b->host, FCB_LOG_DEBUG, TP_NAME, "nothing stale in-process", NULL);
    return FCB_OK;
}

#if TP_VARIANT != 2
static int tp_prepull(fcb_backend *b, const char *image, fcb_error *err)
{
    if (image == NULL || image[0] == '\0')
        return err_set(err, FCB_ERR_INVALID_ARGUMENT, "image: required");
    tp_sleep_ms(b->op_delay_ms);
    if (b->fail_prepull != FCB_OK)
        return err_set(err, b->fail_prepull,
                       "FAKECLOUD_TEST_FAIL_PREPULL: prepull %s fails with %s", image,
                       fcb_status_name(b->fail_prepull));
    svc_log(b->host, FCB_LOG_INFO, TP_NAME, "image prepulled (a no-op here)", "image", image, NULL);
    return FCB_OK;
}
#endif

static const fcb_backend_ops tp_ops = {
    .size = sizeof(fcb_backend_ops),
    .name = TP_NAME,
    .open = tp_open,
    .close = tp_close,
    .launch = tp_launch,
    .terminate = tp_terminate,
    .reap_stale = tp_reap_stale,
#if TP_VARIANT != 2
    .prepull = tp_prepull,
#endif
};

const fcb_backend_ops *backend_plugin_init(const fcb_host_services *host, fcb_error *err)
{
    if (svc_check_host(host, TP_NAME, err) != FCB_OK)
        return NULL;
    return &tp_ops;
}
