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
 *   FAKECLOUD_TEST_RESIDENT   "1": open() launches one instance of a function
 *                             "resident" (handle TP_NAME/1) that lives until
 *                             close(), so a host's logs/status commands have
 *                             a live instance to look at
 * Variant 2 ("test2") has no prepull operation.
 *
 * ABI 1.1 (variant 1 only; variant 2 has none of it and declares no
 * capability, for the hosts' "absent op" paths):
 *   logs    each instance keeps its output like the RIE's: an INIT_START line
 *           at launch, then START / a line from the handler / END / REPORT
 *           ("REPORT RequestId: <id>\tDuration: 1.00 ms\t...") per invocation
 *           served (at most TP_LOG_LINES_MAX lines; older ones are dropped);
 *           tail N lines, since a time, follow until terminate, cancel or close
 *   status  RUNNING for an instance of this backend, GONE otherwise
 *   invoke  POSTs the event to the instance's runtime and streams the answer;
 *           waits FAKECLOUD_TEST_OP_DELAY_MS first, polling the cancel token
 *   stats   launches_total, launch_failures_total{reason}, launch_ms,
 *           invocations_total, invocation_failures_total, instances
 *   launch  polls fcb_launch_request.cancel while it waits
 *           (FAKECLOUD_TEST_LAUNCH_DELAY_MS); the runtime's answer echoes
 *           "credentials": "<first 4 characters of the key id>...(set)" (never
 *           the secret), "session_token": "(set)", "aws_endpoint_url" and
 *           "tags" when the launch request carried them.
 */
#include "svc.h"

#include <curl/curl.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
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

/* Variant 2 has no prepull op and none of the 1.1 ops (tests of missing optional ops). */
#define TP_CAPS_1                                                                             \
    (FCB_CAP_IMAGE_FUNCTIONS | FCB_CAP_LAYERS | FCB_CAP_PREPULL | FCB_CAP_LOGS |              \
     FCB_CAP_LOGS_FOLLOW | FCB_CAP_INVOKE | FCB_CAP_CANCEL | FCB_CAP_STATUS | FCB_CAP_STATS | \
     FCB_CAP_CREDENTIALS | FCB_CAP_TAGS)
#define TP_CAPS_2 (FCB_CAP_IMAGE_FUNCTIONS | FCB_CAP_LAYERS)
FCB_PLUGIN_DESCRIPTOR_EX(TP_NAME, TP_VERSION, "In-process test backend (variant " TP_NAME ")",
                         FCB_ABI_MINOR, TP_VARIANT == 1 ? TP_CAPS_1 : TP_CAPS_2);

#define TP_INVOKE_PATH    "/2015-03-31/functions/function/invocations"
#define TP_HEADER_MAX     (64 * 1024)
#define TP_BODY_MAX       (6 * 1024 * 1024)
#define TP_SERVE_ROUNDS   1000000u /* poll rounds of <= 200 ms: a bound, never reached */
#define TP_IO_TIMEOUT_SEC 5
#define TP_LOG_LINES_MAX  4096                /* lines an instance keeps */
#define TP_LOGS_MAX_BYTES (1024u * 1024u)     /* logs() default max_bytes */
#define TP_FOLLOW_ROUNDS  36000u              /* 100-ms rounds: a follow ends after 1 h */
#define TP_N_CODES        (1 - FCB_ERR_INTERNAL) /* fcb_status 0..-11 */

/* True when STRUCT (with a leading `size`) as written by the caller has FIELD. */
#define TP_HAS(ptr, type, field) ((ptr)->size >= offsetof(type, field) + sizeof(((type *)0)->field))

typedef struct tp_line {
    int64_t unix_ms;
    char *text; /* without the newline */
} tp_line;

typedef struct tp_instance {
    struct tp_instance *next;
    const fcb_host_services *host;
    struct fcb_backend *b; /* its lock guards lines and the counters */
    char endpoint[FCB_ENDPOINT_MAX];
    unsigned long id;
    uint32_t timeout_s;
    char *extra; /* JSON members echoed in every answer ("" or ",\"credentials\":...") */
    tp_line *lines;
    size_t n_lines;
    uint64_t dropped; /* lines dropped from the front; lines[i] is line number dropped + i */
    unsigned long requests;
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
    /* stats (under lock) */
    uint64_t launches, launch_failures[TP_N_CODES], invocations, invocation_failures;
    double launch_ms;
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

static int64_t tp_now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* Append one line to IN's log (dropped when memory runs out, like a full pipe). */
static void tp_log_line(tp_instance *in, const char *fmt, ...) SVC_PRINTF(2, 3);
static void tp_log_line(tp_instance *in, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *text = svc_vsprintf(in->host, fmt, ap);
    va_end(ap);
    if (text == NULL)
        return;
    fcb_backend *b = in->b;
    pthread_mutex_lock(&b->lock);
    if (in->n_lines == TP_LOG_LINES_MAX) {
        svc_free(in->host, in->lines[0].text);
        memmove(in->lines, in->lines + 1, (in->n_lines - 1) * sizeof in->lines[0]);
        in->n_lines--;
        in->dropped++;
    }
    tp_line *grown = svc_realloc(in->host, in->lines, (in->n_lines + 1) * sizeof in->lines[0]);
    if (grown != NULL) {
        in->lines = grown;
        in->lines[in->n_lines++] = (tp_line){tp_now_ms(), text};
        text = NULL;
        pthread_cond_broadcast(&b->changed); /* wakes a follow */
    }
    pthread_mutex_unlock(&b->lock);
    svc_free(in->host, text);
}

static void tp_count_invocation(tp_instance *in, bool failed)
{
    pthread_mutex_lock(&in->b->lock);
    in->b->invocations++;
    if (failed)
        in->b->invocation_failures++;
    in->requests++;
    pthread_mutex_unlock(&in->b->lock);
}

/* The answer to one invocation, with the RIE's log lines around it. */
static void tp_answer(tp_instance *in, int fd, const char *body, size_t body_len)
{
    const fcb_host_services *host = in->host;
    pthread_mutex_lock(&in->b->lock);
    unsigned long seq = in->requests + 1;
    pthread_mutex_unlock(&in->b->lock);
    char rid[64];
    snprintf(rid, sizeof rid, "%08lx-0000-4000-8000-%012lx", in->id, seq);
    tp_log_line(in, "START RequestId: %s Version: $LATEST", rid);
    tp_log_line(in, "%s: handler %s got an event of %zu bytes", in->function_name, in->handler,
                body_len);
    sbuf out;
    sbuf_init(&out, host, 0);
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
    sbuf_puts(&out, in->extra != NULL ? in->extra : "");
    if (TP_VARIANT == 2)
        sbuf_puts(&out, ",\"variant\":2");
    sbuf_puts(&out, "}");
    bool failed = sbuf_failed(&out);
    if (failed)
        tp_respond(fd, host, 500, "Internal Server Error", "{}", 2);
    else
        tp_respond(fd, host, 200, "OK", out.data, out.len);
    tp_log_line(in, "END RequestId: %s", rid);
    tp_log_line(in,
                "REPORT RequestId: %s\tDuration: 1.00 ms\tBilled Duration: 1 ms\tMemory Size: "
                "128 MB\tMax Memory Used: 1 MB\t",
                rid);
    tp_count_invocation(in, failed);
    sbuf_free(&out);
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
        tp_count_invocation(in, true);
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
        tp_count_invocation(in, true);
        goto out;
    }
    tp_answer(in, fd, req.data + header_len, body_len);
out:
    sbuf_free(&req);
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
    svc_free(host, in->extra);
    for (size_t i = 0; i < in->n_lines; i++)
        svc_free(host, in->lines[i].text);
    svc_free(host, in->lines);
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

/*
 * The 1.1 members of the launch request, as JSON members for the runtime's
 * answer (credentials shown as present, never their value). Variant 2 reads
 * none of them (it declares no such capability), like a 1.0 plugin.
 */
static int tp_extra(const fcb_host_services *host, const fcb_launch_request *req, char **extra,
                    fcb_error *err)
{
    sbuf out;
    sbuf_init(&out, host, 0);
    sbuf_puts(&out, "");
    const fcb_function *fn = req->function;
    bool v1 = TP_VARIANT == 1;
    const fcb_credentials *c =
        v1 && FCB_HAS_MEMBER(req, fcb_launch_request, credentials) ? req->credentials : NULL;
    if (c != NULL) {
        if (!FCB_HAS_MEMBER(c, fcb_credentials, expiration_unix_s) || c->access_key_id == NULL ||
            c->access_key_id[0] == '\0' || c->secret_access_key == NULL ||
            c->secret_access_key[0] == '\0') {
            sbuf_free(&out);
            return err_set(err, FCB_ERR_INVALID_ARGUMENT,
                           "request.credentials: access_key_id and secret_access_key required");
        }
        sbuf_printf(&out, ",\"credentials\":\"%.4s...(set)\"", c->access_key_id);
        if (c->session_token != NULL)
            sbuf_puts(&out, ",\"session_token\":\"(set)\"");
        sbuf_printf(&out, ",\"credentials_expiration\":%lld", (long long)c->expiration_unix_s);
    }
    const char *url = v1 && FCB_HAS_MEMBER(req, fcb_launch_request, aws_endpoint_url)
                          ? req->aws_endpoint_url
                          : NULL;
    if (url != NULL) {
        sbuf_puts(&out, ",\"aws_endpoint_url\":");
        tp_json_string(&out, url);
    }
    size_t n_tags = v1 && FCB_HAS_MEMBER(fn, fcb_function, n_tags) ? fn->n_tags : 0;
    if (n_tags > 0 && fn->tags == NULL) {
        sbuf_free(&out);
        return err_set(err, FCB_ERR_INVALID_ARGUMENT, "function.tags: NULL with n_tags %zu",
                       n_tags);
    }
    for (size_t i = 0; i < n_tags; i++) {
        if (fn->tags[i].key == NULL || fn->tags[i].value == NULL) {
            sbuf_free(&out);
            return err_set(err, FCB_ERR_INVALID_ARGUMENT, "function.tags[%zu]: NULL key or value",
                           i);
        }
        sbuf_puts(&out, i == 0 ? ",\"tags\":{" : ",");
        tp_json_string(&out, fn->tags[i].key);
        sbuf_puts(&out, ":");
        tp_json_string(&out, fn->tags[i].value);
    }
    if (n_tags > 0)
        sbuf_puts(&out, "}");
    if (sbuf_failed(&out)) {
        sbuf_free(&out);
        return err_set(err, FCB_ERR_NO_MEMORY, "launch: out of memory");
    }
    *extra = sbuf_steal(&out, NULL);
    return FCB_OK;
}

static void tp_close(fcb_backend *b);
static int tp_launch(fcb_backend *b, const fcb_launch_request *req, fcb_instance *out,
                     fcb_error *err);

/* FAKECLOUD_TEST_RESIDENT: one instance that lives as long as the backend. */
static int tp_launch_resident(fcb_backend *b, fcb_error *err)
{
    static const char zip[] = "PK\005\006\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0";
    fcb_function fn = {.size = sizeof fn,
                       .function_name = "resident",
                       .runtime = "python3.12",
                       .handler = "app.handler",
                       .package_type = FCB_PACKAGE_ZIP};
    fcb_launch_request req = {.size = sizeof req,
                              .function = &fn,
                              .code = {zip, sizeof zip - 1},
                              .deploy_id = "resident"};
    fcb_instance inst = {.size = sizeof inst};
    int rc = tp_launch(b, &req, &inst, err);
    if (rc != FCB_OK)
        err_prefix(err, "FAKECLOUD_TEST_RESIDENT");
    return rc;
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
    const char *resident = svc_config(host, "FAKECLOUD_TEST_RESIDENT");
    if (resident != NULL && strcmp(resident, "1") == 0) {
        int rc = tp_launch_resident(b, err);
        if (rc != FCB_OK) {
            tp_close(b);
            return rc;
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

static bool tp_cancelled(const fcb_cancel *c)
{
    return c != NULL && c->cancelled != NULL && c->cancelled(c->ctx) != 0;
}

/*
 * Wait MS milliseconds in rounds of at most 100 ms, or less when close()
 * starts or CANCEL fires: FCB_ERR_CANCELLED then, naming OP.
 */
static int tp_wait(fcb_backend *b, long ms, const fcb_cancel *cancel, const char *op,
                   fcb_error *err)
{
    int64_t until = tp_now_ms() + ms;
    int rc = FCB_OK;
    pthread_mutex_lock(&b->lock);
    for (unsigned i = 0; !b->closing && i < 100000; i++) {
        int64_t left = until - tp_now_ms();
        if (left <= 0)
            break;
        pthread_mutex_unlock(&b->lock);
        bool cancelled = tp_cancelled(cancel);
        pthread_mutex_lock(&b->lock);
        if (cancelled) {
            rc = err_set(err, FCB_ERR_CANCELLED, "%s: cancelled by the host", op);
            break;
        }
        struct timespec t;
        clock_gettime(CLOCK_REALTIME, &t);
        long step = left < 100 ? (long)left : 100;
        t.tv_nsec += step * 1000000L;
        t.tv_sec += t.tv_nsec / 1000000000L;
        t.tv_nsec %= 1000000000L;
        pthread_cond_timedwait(&b->changed, &b->lock, &t);
    }
    if (rc == FCB_OK && b->closing)
        rc = err_set(err, FCB_ERR_CANCELLED, "%s: cancelled by close()", op);
    pthread_mutex_unlock(&b->lock);
    return rc;
}

/* The launch request's cancel token (since 1.1), or NULL. */
static const fcb_cancel *tp_launch_cancel(const fcb_launch_request *req)
{
    if (TP_VARIANT == 2 || req == NULL || !FCB_HAS_MEMBER(req, fcb_launch_request, cancel))
        return NULL;
    return &req->cancel;
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
    int64_t started = tp_now_ms();
    int rc = b->launch_delay_ms > 0
                 ? tp_wait(b, b->launch_delay_ms, tp_launch_cancel(req), "launch", err)
                 : FCB_OK;
    if (rc == FCB_OK && b->fail_launch != FCB_OK)
        rc = err_set(err, b->fail_launch, "FAKECLOUD_TEST_FAIL_LAUNCH: launch fails with %s",
                     fcb_status_name(b->fail_launch));
    if (rc == FCB_OK)
        rc = tp_launch_inner(b, req, out, err);
    pthread_mutex_lock(&b->lock);
    b->in_flight--;
    b->launches++;
    b->launch_ms += (double)(tp_now_ms() - started);
    if (rc != FCB_OK)
        b->launch_failures[rc < FCB_ERR_INTERNAL || rc > 0 ? -FCB_ERR_INTERNAL : -rc]++;
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
    in->b = b;
    in->listen_fd = in->wake[0] = in->wake[1] = -1;
    in->code_bytes = in->layers_bytes = -1;
    in->timeout_s = fn->timeout_seconds != 0 ? fn->timeout_seconds : 3;
    pthread_mutex_lock(&b->lock);
    unsigned long id = ++b->next_id;
    in->id = id;
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
    rc = tp_extra(host, req, &in->extra, err);
    if (rc != FCB_OK)
        goto fail;
    tp_log_line(in, "INIT_START Runtime Version: " TP_NAME ":%s\tfunction %s", TP_VERSION,
                fn->function_name);
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
    snprintf(in->endpoint, sizeof in->endpoint, "%s", endpoint);
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

#if TP_VARIANT != 2
/* ---- ABI 1.1 ops -------------------------------------------------------- */

/* The instance named HANDLE, or NULL (lock held). */
static tp_instance *tp_find(fcb_backend *b, const char *handle)
{
    tp_instance *in = b->instances;
    while (in != NULL && strcmp(in->handle, handle) != 0)
        in = in->next;
    return in;
}

/* Count a call in flight (close() waits for it); false when closing. */
static bool tp_enter(fcb_backend *b)
{
    pthread_mutex_lock(&b->lock);
    bool ok = !b->closing;
    if (ok)
        b->in_flight++;
    pthread_mutex_unlock(&b->lock);
    return ok;
}

static void tp_leave(fcb_backend *b)
{
    pthread_mutex_lock(&b->lock);
    b->in_flight--;
    pthread_cond_broadcast(&b->changed);
    pthread_mutex_unlock(&b->lock);
}

/*
 * Copy the lines from number *NEXT on (at most LEFT bytes, each with its
 * newline) into OUT (lock held); *NEXT moves past them. False when the
 * instance is gone.
 */
static bool tp_logs_collect(fcb_backend *b, const char *handle, int64_t since, uint64_t *next,
                            size_t left, sbuf *out)
{
    tp_instance *in = tp_find(b, handle);
    if (in == NULL)
        return false;
    uint64_t end = in->dropped + in->n_lines;
    if (*next < in->dropped)
        *next = in->dropped;
    for (; *next < end; (*next)++) {
        const tp_line *l = &in->lines[*next - in->dropped];
        if (l->unix_ms < since)
            continue;
        size_t n = strlen(l->text);
        if (out->len + n + 1 > left) {
            *next = end; /* the budget is spent */
            break;
        }
        sbuf_append(out, l->text, n);
        sbuf_append(out, "\n", 1);
    }
    return true;
}

/* Where logs() starts: the first of the last TAIL lines (0 = all). */
static int tp_logs_start(fcb_backend *b, const char *handle, uint32_t tail, uint64_t *next,
                         fcb_error *err)
{
    pthread_mutex_lock(&b->lock);
    tp_instance *in = tp_find(b, handle);
    if (in != NULL) {
        uint64_t end = in->dropped + in->n_lines;
        *next = tail == 0 || tail >= in->n_lines ? in->dropped : end - tail;
    }
    pthread_mutex_unlock(&b->lock);
    if (in == NULL)
        return err_set(err, FCB_ERR_NOT_FOUND, "logs %s: no such instance", handle);
    return FCB_OK;
}

static int tp_logs_loop(fcb_backend *b, const char *handle, const fcb_logs_request *req,
                        uint64_t next, fcb_error *err)
{
    size_t budget = req->max_bytes != 0 ? req->max_bytes : TP_LOGS_MAX_BYTES, sent = 0;
    sbuf chunk;
    sbuf_init(&chunk, b->host, 0);
    int rc = FCB_OK;
    for (unsigned round = 0; round < TP_FOLLOW_ROUNDS; round++) {
        pthread_mutex_lock(&b->lock);
        bool alive = tp_logs_collect(b, handle, req->since_unix_ms, &next, budget - sent, &chunk);
        pthread_mutex_unlock(&b->lock);
        if (sbuf_failed(&chunk)) {
            rc = err_set(err, FCB_ERR_NO_MEMORY, "logs %s: out of memory", handle);
            break;
        }
        if (chunk.len > 0) {
            sent += chunk.len;
            if (req->on_data(req->sink_ctx, FCB_LOG_STDOUT, chunk.data, chunk.len) != 0)
                break;
        }
        sbuf_free(&chunk);
        if (!req->follow || !alive || sent >= budget)
            break;
        rc = tp_wait(b, 100, &req->cancel, "logs", err);
        if (rc != FCB_OK)
            break;
    }
    sbuf_free(&chunk);
    return rc;
}

static int tp_logs(fcb_backend *b, const char *handle, const fcb_logs_request *req,
                   fcb_error *err)
{
    if (handle == NULL || handle[0] == '\0')
        return err_set(err, FCB_ERR_INVALID_ARGUMENT, "handle: required");
    if (req == NULL || !FCB_HAS_MEMBER(req, fcb_logs_request, cancel) || req->on_data == NULL)
        return err_set(err, FCB_ERR_INVALID_ARGUMENT, "logs request: missing, too small or "
                                                      "without on_data");
    if (!tp_enter(b))
        return err_set(err, FCB_ERR_CANCELLED, "logs: backend is closing");
    uint64_t next = 0;
    int rc = tp_logs_start(b, handle, req->tail_lines, &next, err);
    if (rc == FCB_OK)
        rc = tp_logs_loop(b, handle, req, next, err);
    tp_leave(b);
    return rc;
}

static int tp_status(fcb_backend *b, const char *handle, fcb_instance_status *out,
                     fcb_error *err)
{
    if (handle == NULL || handle[0] == '\0')
        return err_set(err, FCB_ERR_INVALID_ARGUMENT, "handle: required");
    if (out == NULL || !FCB_HAS_MEMBER(out, fcb_instance_status, reason))
        return err_set(err, FCB_ERR_INVALID_ARGUMENT, "out: missing or too small");
    pthread_mutex_lock(&b->lock);
    bool found = tp_find(b, handle) != NULL;
    pthread_mutex_unlock(&b->lock);
    out->state = found ? FCB_INSTANCE_RUNNING : FCB_INSTANCE_GONE;
    out->exit_code = 0;
    snprintf(out->reason, sizeof out->reason, "%s",
             found ? "" : "no such instance in this process");
    return FCB_OK;
}

typedef struct tp_invocation {
    const fcb_invoke_request *req;
    fcb_backend *b;
    fcb_invoke_result *out;
    bool stopped;
} tp_invocation;

static size_t tp_invoke_body(char *ptr, size_t size, size_t nmemb, void *ctx)
{
    tp_invocation *iv = ctx;
    size_t n = size * nmemb;
    if (iv->req->on_body(iv->req->sink_ctx, ptr, n) != 0) {
        iv->stopped = true;
        return 0;
    }
    iv->out->body_bytes += n;
    return n;
}

static size_t tp_invoke_header(char *ptr, size_t size, size_t nmemb, void *ctx)
{
    tp_invocation *iv = ctx;
    size_t n = size * nmemb;
    static const char name[] = "X-Amz-Function-Error:";
    if (n > sizeof name - 1 && strncasecmp(ptr, name, sizeof name - 1) == 0) {
        size_t at = sizeof name - 1, len;
        while (at < n && ptr[at] == ' ')
            at++;
        for (len = 0; at + len < n && ptr[at + len] != '\r' && ptr[at + len] != '\n'; len++) {
        }
        snprintf(iv->out->function_error, sizeof iv->out->function_error, "%.*s", (int)len,
                 ptr + at);
    }
    return n;
}

static bool tp_invoke_cancelled(tp_invocation *iv)
{
    pthread_mutex_lock(&iv->b->lock);
    bool closing = iv->b->closing;
    pthread_mutex_unlock(&iv->b->lock);
    return closing || tp_cancelled(&iv->req->cancel);
}

/*
 * Run CURL to its end, polling the cancel token and close() every 100 ms
 * (at most TIMEOUT_MS plus a round); CURLE_ABORTED_BY_CALLBACK when cancelled.
 */
static CURLcode tp_perform(tp_invocation *iv, CURL *curl, long timeout_ms)
{
    CURLM *multi = curl_multi_init();
    if (multi == NULL || curl_multi_add_handle(multi, curl) != CURLM_OK) {
        if (multi != NULL)
            curl_multi_cleanup(multi);
        return CURLE_OUT_OF_MEMORY;
    }
    CURLcode cc = CURLE_OPERATION_TIMEDOUT;
    int running = 1;
    for (long round = 0; running && round <= timeout_ms / 100 + 1; round++) {
        if (tp_invoke_cancelled(iv)) {
            cc = CURLE_ABORTED_BY_CALLBACK;
            break;
        }
        if (curl_multi_perform(multi, &running) != CURLM_OK)
            break;
        if (running)
            curl_multi_poll(multi, NULL, 0, 100, NULL);
    }
    int left = 0;
    for (CURLMsg *msg; (msg = curl_multi_info_read(multi, &left)) != NULL;) {
        if (msg->msg == CURLMSG_DONE)
            cc = msg->data.result;
    }
    curl_multi_remove_handle(multi, curl);
    curl_multi_cleanup(multi);
    return cc;
}

/* POST the event to ENDPOINT with libcurl, the answer streamed to on_body. */
static int tp_invoke_post(tp_invocation *iv, const char *endpoint, long timeout_ms,
                          fcb_error *err)
{
    char url[FCB_ENDPOINT_MAX + 64];
    snprintf(url, sizeof url, "http://%s" TP_INVOKE_PATH, endpoint);
    CURL *curl = curl_easy_init();
    struct curl_slist *headers = curl_slist_append(NULL, "Content-Type: application/json");
    int rc = FCB_OK;
    if (curl == NULL || headers == NULL) {
        rc = err_set(err, FCB_ERR_NO_MEMORY, "invoke: out of memory");
        goto out;
    }
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, iv->req->payload.data != NULL
                                                    ? (const char *)iv->req->payload.data
                                                    : "");
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)iv->req->payload.size);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, tp_invoke_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, iv);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, tp_invoke_header);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, iv);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_NOPROXY, "*");
    CURLcode cc = tp_perform(iv, curl, timeout_ms);
    long status = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    iv->out->http_status = (int)status;
    if (cc == CURLE_ABORTED_BY_CALLBACK)
        rc = err_set(err, FCB_ERR_CANCELLED, "invoke %s: cancelled", url);
    else if (cc == CURLE_OPERATION_TIMEDOUT)
        rc = err_set(err, FCB_ERR_TIMEOUT, "invoke %s: no answer within %ld ms", url, timeout_ms);
    else if (cc != CURLE_OK && !(cc == CURLE_WRITE_ERROR && iv->stopped))
        rc = err_set(err, FCB_ERR_UNAVAILABLE, "invoke %s: %s", url, curl_easy_strerror(cc));
out:
    curl_slist_free_all(headers);
    if (curl != NULL)
        curl_easy_cleanup(curl);
    return rc;
}

static int tp_invoke(fcb_backend *b, const char *handle, const fcb_invoke_request *req,
                     fcb_invoke_result *out, fcb_error *err)
{
    if (handle == NULL || handle[0] == '\0')
        return err_set(err, FCB_ERR_INVALID_ARGUMENT, "handle: required");
    if (req == NULL || !FCB_HAS_MEMBER(req, fcb_invoke_request, cancel) || req->on_body == NULL)
        return err_set(err, FCB_ERR_INVALID_ARGUMENT,
                       "invoke request: missing, too small or without on_body");
    if (out == NULL || !FCB_HAS_MEMBER(out, fcb_invoke_result, body_bytes))
        return err_set(err, FCB_ERR_INVALID_ARGUMENT, "out: missing or too small");
    out->http_status = 0;
    out->function_error[0] = '\0';
    out->body_bytes = 0;
    if (!tp_enter(b))
        return err_set(err, FCB_ERR_CANCELLED, "invoke: backend is closing");
    char endpoint[FCB_ENDPOINT_MAX] = "";
    uint32_t timeout_s = 3;
    pthread_mutex_lock(&b->lock);
    tp_instance *in = tp_find(b, handle);
    if (in != NULL) {
        memcpy(endpoint, in->endpoint, sizeof endpoint);
        timeout_s = in->timeout_s;
    }
    pthread_mutex_unlock(&b->lock);
    int rc = FCB_OK;
    if (in == NULL)
        rc = err_set(err, FCB_ERR_NOT_FOUND, "invoke %s: no such instance", handle);
    if (rc == FCB_OK && b->op_delay_ms > 0)
        rc = tp_wait(b, b->op_delay_ms, &req->cancel, "invoke", err);
    if (rc == FCB_OK) {
        tp_invocation iv = {req, b, out, false};
        long timeout_ms = req->timeout_ms != 0 ? (long)req->timeout_ms
                                               : (long)timeout_s * 1000 + 10000;
        rc = tp_invoke_post(&iv, endpoint, timeout_ms, err);
    }
    tp_leave(b);
    return rc;
}

static void tp_emit(void *ctx, void (*emit)(void *, const fcb_metric *), const char *name,
                    fcb_metric_kind kind, const char *label, const char *value_label, double value,
                    uint64_t count)
{
    fcb_metric m = {sizeof m, name, kind, label, value_label, value, count};
    emit(ctx, &m);
}

static int tp_stats(fcb_backend *b, void *ctx, void (*emit)(void *ctx, const fcb_metric *m),
                    fcb_error *err)
{
    if (emit == NULL)
        return err_set(err, FCB_ERR_INVALID_ARGUMENT, "emit: required");
    pthread_mutex_lock(&b->lock);
    uint64_t launches = b->launches, invocations = b->invocations,
             inv_failures = b->invocation_failures, failures[TP_N_CODES];
    memcpy(failures, b->launch_failures, sizeof failures);
    double launch_ms = b->launch_ms;
    size_t instances = 0;
    for (tp_instance *in = b->instances; in != NULL; in = in->next)
        instances++;
    pthread_mutex_unlock(&b->lock);
    tp_emit(ctx, emit, "launches_total", FCB_METRIC_COUNTER, NULL, NULL, (double)launches, 0);
    for (int i = 1; i < TP_N_CODES; i++) {
        if (failures[i] > 0)
            tp_emit(ctx, emit, "launch_failures_total", FCB_METRIC_COUNTER, "reason",
                    fcb_status_name(-i), (double)failures[i], 0);
    }
    tp_emit(ctx, emit, "launch_ms", FCB_METRIC_SUM_MS, "phase", "total", launch_ms, launches);
    tp_emit(ctx, emit, "invocations_total", FCB_METRIC_COUNTER, NULL, NULL, (double)invocations,
            0);
    tp_emit(ctx, emit, "invocation_failures_total", FCB_METRIC_COUNTER, NULL, NULL,
            (double)inv_failures, 0);
    tp_emit(ctx, emit, "instances", FCB_METRIC_GAUGE, NULL, NULL, (double)instances, 0);
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
    .logs = tp_logs,
    .status = tp_status,
    .invoke = tp_invoke,
    .stats = tp_stats,
#endif
};

const fcb_backend_ops *backend_plugin_init(const fcb_host_services *host, fcb_error *err)
{
    if (svc_check_host(host, TP_NAME, err) != FCB_OK)
        return NULL;
    return &tp_ops;
}
