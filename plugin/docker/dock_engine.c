/*
 * dock_engine: Engine API calls with libcurl, one easy handle per call.
 */
#include "dock_engine.h"

#include "http.h"

#include <curl/curl.h>
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define DOCK_DEFAULT_TIMEOUT_MS 30000L
#define DOCK_DEFAULT_MAX_BODY   (4u * 1024 * 1024)
#define DOCK_MAX_LINE           (1u * 1024 * 1024)
#define DOCK_POLL_MS            100

typedef struct dock_call {
    const dock_request *req;
    dock_response *resp;
    const atomic_int *cancel;
    CURL *curl;
    sbuf line;         /* partial line when streaming */
    bool line_stopped; /* on_line or on_data asked to stop */
    bool too_big;      /* body over max_body: transfer aborted */
    bool stopped;      /* req->stop fired */
} dock_call;

/* Whether a streamed answer is an error (not 2xx): its body is then kept for the message. */
static bool dock_write_error_body(dock_call *call, CURL *curl, char *data, size_t n, bool *ok)
{
    long status = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    if (status >= 200 && status <= 299)
        return false;
    /* an error message never needs more than 64 KiB */
    *ok = call->resp->body.len + n > 64 * 1024 || sbuf_append(&call->resp->body, data, n);
    return true;
}

/* Raw streaming: a 2xx body to on_data, anything else kept for the error message. */
static size_t dock_write_data(dock_call *call, CURL *curl, char *data, size_t n)
{
    bool ok = true;
    if (dock_write_error_body(call, curl, data, n, &ok))
        return ok ? n : 0;
    if (!call->req->on_data(call->req->data_ctx, data, n)) {
        call->line_stopped = true;
        return 0;
    }
    return n;
}

static size_t dock_write_cb(char *data, size_t size, size_t nmemb, void *ctx)
{
    dock_call *call = ctx;
    size_t n = size * nmemb;
    if (call->req->on_data != NULL)
        return dock_write_data(call, call->curl, data, n);
    if (call->req->on_line == NULL) {
        size_t max = call->req->max_body != 0 ? call->req->max_body : DOCK_DEFAULT_MAX_BODY;
        if (n > max - call->resp->body.len) {
            /* A sane engine never sends this much: stop reading a flood. */
            call->too_big = true;
            return 0;
        }
        if (!sbuf_append(&call->resp->body, data, n))
            return 0;
        return n;
    }
    bool ok = true;
    if (dock_write_error_body(call, call->curl, data, n, &ok)) /* lines only of a 2xx answer */
        return ok ? n : 0;
    for (size_t i = 0; i < n; i++) {
        if (data[i] != '\n') {
            if (call->line.len < DOCK_MAX_LINE && !sbuf_append(&call->line, data + i, 1))
                return 0;
            continue;
        }
        if (call->line.len > 0 &&
            !call->req->on_line(call->req->line_ctx, call->line.data, call->line.len)) {
            call->line_stopped = true;
            return 0;
        }
        call->line.len = 0;
    }
    return n;
}

/* Copy the value of header line DATA (N bytes) into OUT (SIZE) when it is NAME's. */
static void dock_header_value(const char *data, size_t n, const char *name, char *out, size_t size)
{
    size_t nl = strlen(name);
    if (n <= nl || strncasecmp(data, name, nl) != 0)
        return;
    const char *v = data + nl;
    size_t len = n - nl;
    while (len > 0 && (*v == ' ' || *v == '\t')) {
        v++;
        len--;
    }
    while (len > 0 && (v[len - 1] == '\r' || v[len - 1] == '\n' || v[len - 1] == ' '))
        len--;
    if (len < size) {
        memcpy(out, v, len);
        out[len] = '\0';
    }
}

static size_t dock_header_cb(char *data, size_t size, size_t nmemb, void *ctx)
{
    dock_call *call = ctx;
    size_t n = size * nmemb;
    dock_header_value(data, n, "Api-Version:", call->resp->api_version,
                      sizeof call->resp->api_version);
    dock_header_value(data, n, "Date:", call->resp->date, sizeof call->resp->date);
    return n;
}

static int dock_progress_cb(void *ctx, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                            curl_off_t ulnow)
{
    dock_call *call = ctx;
    if (call->cancel != NULL && atomic_load(call->cancel) != 0)
        return 1;
    if (call->req->stop != NULL && call->req->stop(call->req->stop_ctx) != 0) {
        call->stopped = true;
        return 1;
    }
    return 0;
}

CURLcode dock_curl_run(CURL *curl, int (*stop)(void *ctx), void *ctx)
{
    CURLM *multi = curl_multi_init();
    if (multi == NULL || curl_multi_add_handle(multi, curl) != CURLM_OK) {
        curl_multi_cleanup(multi);
        return CURLE_OUT_OF_MEMORY;
    }
    CURLcode cc = CURLE_OK;
    for (;;) { /* bounded by the handle's CURLOPT_TIMEOUT_MS, which ends the transfer */
        int running = 0;
        if (curl_multi_perform(multi, &running) != CURLM_OK) {
            cc = CURLE_OUT_OF_MEMORY;
            break;
        }
        if (running == 0) {
            int left = 0;
            CURLMsg *msg = curl_multi_info_read(multi, &left);
            cc = (msg != NULL && msg->msg == CURLMSG_DONE) ? msg->data.result : CURLE_OK;
            break;
        }
        if (stop(ctx) != 0) {
            cc = CURLE_ABORTED_BY_CALLBACK;
            break;
        }
        if (curl_multi_poll(multi, NULL, 0, DOCK_POLL_MS, NULL) != CURLM_OK) {
            cc = CURLE_OUT_OF_MEMORY;
            break;
        }
    }
    curl_multi_remove_handle(multi, curl);
    curl_multi_cleanup(multi);
    return cc;
}

static int dock_call_stop(void *ctx)
{
    return dock_progress_cb(ctx, 0, 0, 0, 0);
}

/*
 * curl_easy_perform, or for raw streaming and calls with a caller's stop
 * check dock_curl_run, so a cancel or stop is seen promptly even while
 * nothing arrives (curl calls the progress callback only about once a
 * second when idle).
 */
static CURLcode dock_perform(CURL *curl, dock_call *call)
{
    if (call->req->on_data == NULL && call->req->stop == NULL)
        return curl_easy_perform(curl);
    return dock_curl_run(curl, dock_call_stop, call);
}

char *dock_engine_escape(const fcb_host_services *host, const char *s)
{
    char *e = curl_easy_escape(NULL, s, 0);
    if (e == NULL)
        return NULL;
    char *copy = svc_strdup(host, e);
    curl_free(e);
    return copy;
}

void dock_response_free(dock_response *resp)
{
    sbuf_free(&resp->body);
}

/*
 * A failed call that is the TLS session's fault rather than the network's:
 * curl's TLS codes, a failure after the TCP connect and before the handshake
 * ended, or the connection closed before any answer (with TLS 1.3 an engine
 * that refuses the client certificate says so only after the client's side
 * of the handshake is done: the request's send or the first read fails).
 */
static bool dock_tls_failure(CURL *curl, CURLcode cc)
{
    curl_off_t connect_us = 0, tls_us = 0;
    long status = 0;
    curl_easy_getinfo(curl, CURLINFO_CONNECT_TIME_T, &connect_us);
    curl_easy_getinfo(curl, CURLINFO_APPCONNECT_TIME_T, &tls_us);
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    if ((connect_us > 0 && tls_us == 0) || http_error_is_tls(cc))
        return true;
    switch (cc) {
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_GOT_NOTHING: return status == 0;
    default: return false;
    }
}

/*
 * The TLS handshake never completed. (On a timeout curl reports no connect
 * time even when the TCP connection was made, so a silent TLS peer and an
 * unreachable address look alike here; the message names both.)
 */
static bool dock_handshake_unfinished(CURL *curl)
{
    curl_off_t tls_us = 0;
    curl_easy_getinfo(curl, CURLINFO_APPCONNECT_TIME_T, &tls_us);
    return tls_us == 0;
}

static long dock_elapsed_ms(CURL *curl)
{
    curl_off_t us = 0;
    curl_easy_getinfo(curl, CURLINFO_TOTAL_TIME_T, &us);
    return (long)(us / 1000);
}

/* FCB_ERR_UNAVAILABLE naming what the user can check: DOCKER_HOST, DOCKER_CERT_PATH's files. */
static int dock_tls_error(const dock_engine *engine, const dock_request *req, CURLcode cc,
                          const char *detail, fcb_error *err)
{
    const char *why;
    switch (cc) {
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_ISSUER_ERROR:
        why = "the engine's certificate does not verify against ca.pem (another CA signed it, "
              "or it is not for this DOCKER_HOST's address)";
        break;
    case CURLE_SSL_CACERT_BADFILE: why = "ca.pem cannot be loaded"; break;
    case CURLE_SSL_CERTPROBLEM:
        why = "the client certificate cert.pem or its key key.pem cannot be loaded";
        break;
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_GOT_NOTHING:
        why = "the engine closed the TLS connection before answering (does it trust the client "
              "certificate cert.pem?)";
        break;
    default:
        why = "TLS handshake failed (is DOCKER_HOST the engine's TLS port? a plain-http engine "
              "needs DOCKER_TLS_VERIFY unset; does the engine trust the client certificate "
              "cert.pem?)";
        break;
    }
    /* curl keeps its first message, which may be a harmless one (getpeername). */
    return err_set(err, FCB_ERR_UNAVAILABLE,
                   "%s %s: TLS with the Docker engine failed: %s; DOCKER_HOST=%s "
                   "DOCKER_CERT_PATH=%s: %s%s%s%s",
                   req->method, req->path, why, engine->docker_host,
                   engine->cert_dir != NULL ? engine->cert_dir : "?", curl_easy_strerror(cc),
                   detail[0] != '\0' ? " (" : "", detail, detail[0] != '\0' ? ")" : "");
}

/* Append LINE to *HEADERS; false without memory (the list is kept either way). */
static bool dock_header_add(struct curl_slist **headers, const char *line)
{
    struct curl_slist *h = line != NULL ? curl_slist_append(*headers, line) : NULL;
    if (h == NULL)
        return false;
    *headers = h;
    return true;
}

/* Request headers of REQ; *AUTH holds the X-Registry-Auth line (host allocator). */
static int dock_call_headers(dock_engine *engine, const dock_request *req,
                             struct curl_slist **headers, char **auth, fcb_error *err)
{
    bool ok = true;
    if (req->body != NULL) {
        char line[128];
        snprintf(line, sizeof line, "Content-Type: %s",
                 req->content_type != NULL ? req->content_type : "application/json");
        ok = dock_header_add(headers, line);
    }
    if (ok && req->registry_auth != NULL) {
        *auth = svc_sprintf(engine->host, "X-Registry-Auth: %s", req->registry_auth);
        ok = dock_header_add(headers, *auth);
    }
    /* Docker answers "Expect: 100-continue" fine, but waiting for it costs a round trip. */
    if (ok)
        ok = dock_header_add(headers, "Expect:");
    return ok ? FCB_OK
              : err_set(err, FCB_ERR_NO_MEMORY, "%s %s: out of memory", req->method, req->path);
}

static void dock_call_setopts(CURL *curl, const dock_engine *engine, const dock_request *req,
                              dock_call *call, const char *url, struct curl_slist *headers,
                              char *detail)
{
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, detail);
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, req->method);
    if (strcmp(req->method, "GET") != 0 && req->body == NULL) {
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, "");
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, 0L);
    }
    if (req->body != NULL) {
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, req->body);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
    }
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, dock_write_cb);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, call);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, dock_header_cb);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, call);
    curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, dock_progress_cb);
    curl_easy_setopt(curl, CURLOPT_XFERINFODATA, call);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS,
                     req->timeout_ms > 0 ? req->timeout_ms : DOCK_DEFAULT_TIMEOUT_MS);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
    if (engine->address.transport == DOCK_UNIX) {
        curl_easy_setopt(curl, CURLOPT_UNIX_SOCKET_PATH, engine->address.path);
    } else if (engine->tls) {
        curl_easy_setopt(curl, CURLOPT_CAINFO, engine->ca_file);
        curl_easy_setopt(curl, CURLOPT_SSLCERT, engine->cert_file);
        curl_easy_setopt(curl, CURLOPT_SSLKEY, engine->key_file);
        curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 1L);
        curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 2L);
    }
}

/* The error of a transfer that ended with CC (not CURLE_OK, not stopped on purpose). */
static int dock_call_error(const dock_engine *engine, const dock_request *req, CURL *curl,
                           CURLcode cc, const dock_call *call, const char *detail,
                           fcb_error *err)
{
    if (cc == CURLE_ABORTED_BY_CALLBACK && call->stopped)
        return err_set(err, FCB_ERR_CANCELLED, "%s %s: cancelled by the caller", req->method,
                       req->path);
    if (cc == CURLE_ABORTED_BY_CALLBACK)
        return err_set(err, FCB_ERR_CANCELLED, "%s %s: cancelled (backend is closing)",
                       req->method, req->path);
    if (cc == CURLE_OPERATION_TIMEDOUT && engine->tls && dock_handshake_unfinished(curl))
        return err_set(err, FCB_ERR_UNAVAILABLE,
                       "%s %s: TLS handshake with the Docker engine did not finish in %ld ms: "
                       "DOCKER_HOST=%s is unreachable, not a Docker engine, or a plain-http "
                       "port (then unset DOCKER_TLS_VERIFY); DOCKER_CERT_PATH=%s",
                       req->method, req->path, dock_elapsed_ms(curl), engine->docker_host,
                       engine->cert_dir != NULL ? engine->cert_dir : "?");
    if (cc == CURLE_OPERATION_TIMEDOUT)
        return err_set(err, FCB_ERR_TIMEOUT, "%s %s: Docker engine did not answer in %ld ms",
                       req->method, req->path,
                       req->timeout_ms > 0 ? req->timeout_ms : DOCK_DEFAULT_TIMEOUT_MS);
    if (cc == CURLE_WRITE_ERROR && call->too_big)
        return err_set(err, FCB_ERR_BACKEND,
                       "%s %s: the Docker engine's answer is larger than %zu bytes", req->method,
                       req->path,
                       req->max_body != 0 ? req->max_body : (size_t)DOCK_DEFAULT_MAX_BODY);
    if (cc == CURLE_WRITE_ERROR && sbuf_failed(&call->resp->body))
        return err_set(err, FCB_ERR_NO_MEMORY, "%s %s: out of memory for the response",
                       req->method, req->path);
    if (engine->tls && dock_tls_failure(curl, cc))
        return dock_tls_error(engine, req, cc, detail, err);
    return err_set(
        err, FCB_ERR_UNAVAILABLE, "%s %s: cannot reach the Docker engine at %s: %s%s%s%s",
        req->method, req->path,
        engine->address.transport == DOCK_UNIX ? engine->address.path : engine->base_url,
        curl_easy_strerror(cc), detail[0] != '\0' ? " (" : "", detail,
        detail[0] != '\0' ? ")" : "");
}

int dock_engine_call(dock_engine *engine, const dock_request *req, dock_response *resp,
                     fcb_error *err)
{
    int rc = FCB_OK;
    CURL *curl = NULL;
    struct curl_slist *headers = NULL;
    char *url = NULL;
    char *auth = NULL;
    dock_call call = {.req = req, .resp = resp, .cancel = req->cancellable ? engine->cancel : NULL};
    char detail[CURL_ERROR_SIZE] = "";

    memset(resp, 0, sizeof *resp);
    sbuf_init(&resp->body, engine->host, 0);
    sbuf_init(&call.line, engine->host, 0);
    if (call.cancel != NULL && atomic_load(call.cancel) != 0)
        return err_set(err, FCB_ERR_CANCELLED, "%s %s: backend is closing", req->method, req->path);
    if (req->stop != NULL && req->stop(req->stop_ctx) != 0)
        return err_set(err, FCB_ERR_CANCELLED, "%s %s: cancelled by the caller", req->method,
                       req->path);
    if (req->unversioned)
        url = svc_sprintf(engine->host, "%s%s", engine->base_url, req->path);
    else
        url =
            svc_sprintf(engine->host, "%s/v%s%s", engine->base_url, engine->api_version, req->path);
    curl = curl_easy_init();
    if (url == NULL || curl == NULL) {
        rc = err_set(err, FCB_ERR_NO_MEMORY, "%s %s: out of memory", req->method, req->path);
        goto out;
    }
    rc = dock_call_headers(engine, req, &headers, &auth, err);
    if (rc != FCB_OK)
        goto out;
    call.curl = curl;
    atomic_fetch_add(&engine->requests, 1);
    dock_call_setopts(curl, engine, req, &call, url, headers, detail);
    CURLcode cc = dock_perform(curl, &call);
    if (cc == CURLE_OK && req->on_line != NULL && call.line.len > 0)
        req->on_line(req->line_ctx, call.line.data, call.line.len);
    /* A stream the caller stopped on purpose is not an error. */
    if (cc != CURLE_OK && !call.line_stopped) {
        rc = dock_call_error(engine, req, curl, cc, &call, detail, err);
        goto out;
    }
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &resp->status);
    if (sbuf_failed(&resp->body))
        rc = err_set(err, FCB_ERR_NO_MEMORY, "%s %s: out of memory for the response", req->method,
                     req->path);
out:
    if (curl != NULL)
        curl_easy_cleanup(curl);
    curl_slist_free_all(headers);
    svc_free(engine->host, url);
    svc_free(engine->host, auth);
    sbuf_free(&call.line);
    return rc;
}

int dock_engine_http_error(const dock_response *resp, int code, const char *what, fcb_error *err)
{
    const char *message = NULL;
    json_object *obj = NULL;
    if (resp->body.data != NULL && resp->body.len > 0) {
        obj = json_tokener_parse(resp->body.data);
        json_object *m = NULL;
        if (obj != NULL && json_object_object_get_ex(obj, "message", &m))
            message = json_object_get_string(m);
        if (message == NULL)
            message = resp->body.data;
    }
    err_set(err, code, "%s: HTTP %ld: %.600s", what, resp->status,
            message != NULL ? message : "(no message)");
    json_object_put(obj);
    return code;
}

static char *dock_path_join(const fcb_host_services *host, const char *dir, const char *file)
{
    return svc_sprintf(host, "%s/%s", dir, file);
}

/* Base URL and TLS files from the configuration (read and checked by dock_config). */
static int dock_engine_configure(dock_engine *e, const fcb_host_services *host,
                                 const dock_config *cfg, fcb_error *err)
{
    e->tls = cfg->tls;
    e->address = cfg->address;
    snprintf(e->docker_host, sizeof e->docker_host, "%s", cfg->docker_host);
    if (e->address.transport == DOCK_UNIX) {
        snprintf(e->base_url, sizeof e->base_url, "http://localhost");
        return FCB_OK;
    }
    bool v6 = strchr(e->address.host, ':') != NULL && e->address.host[0] != '[';
    snprintf(e->base_url, sizeof e->base_url, "%s://%s%s%s:%u", e->tls ? "https" : "http",
             v6 ? "[" : "", e->address.host, v6 ? "]" : "", e->address.port);
    if (!e->tls)
        return FCB_OK;
    const char *dir = cfg->cert_dir;
    e->cert_dir = svc_strdup(host, dir);
    e->ca_file = dock_path_join(host, dir, "ca.pem");
    e->cert_file = dock_path_join(host, dir, "cert.pem");
    e->key_file = dock_path_join(host, dir, "key.pem");
    if (e->cert_dir == NULL || e->ca_file == NULL || e->cert_file == NULL || e->key_file == NULL)
        return err_set(err, FCB_ERR_NO_MEMORY, "docker: out of memory");
    /* Said now, naming the file, rather than as a TLS failure on the first call. */
    const char *files[] = {e->ca_file, e->cert_file, e->key_file};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        if (access(files[i], R_OK) != 0)
            return err_set(err, FCB_ERR_CONFIG,
                           "DOCKER_CERT_PATH%s: cannot read %s: %s (DOCKER_TLS_VERIFY needs "
                           "ca.pem, cert.pem and key.pem there)",
                           cfg->cert_dir_from_home ? " (unset: $HOME/.docker)" : "", files[i],
                           strerror(errno));
    }
    return FCB_OK;
}

/* Podman names itself in /version: Components[].Name or Platform.Name. */
static bool dock_version_is_podman(json_object *root)
{
    json_object *components = NULL, *platform = NULL, *name = NULL;
    if (json_object_object_get_ex(root, "Components", &components) &&
        json_object_is_type(components, json_type_array)) {
        size_t n = json_object_array_length(components);
        for (size_t i = 0; i < n && i < 64; i++) {
            json_object *c = json_object_array_get_idx(components, i);
            if (json_object_object_get_ex(c, "Name", &name) &&
                strcasestr(json_object_get_string(name), "podman") != NULL)
                return true;
        }
    }
    if (json_object_object_get_ex(root, "Platform", &platform) &&
        json_object_object_get_ex(platform, "Name", &name) &&
        strcasestr(json_object_get_string(name), "podman") != NULL)
        return true;
    return false;
}

/*
 * /_ping did not answer 200. A TLS engine asked in plain http (Go's server
 * answers 400 "Client sent an HTTP request to an HTTPS server.") is a
 * configuration mistake worth naming.
 */
static int dock_ping_error(const dock_engine *engine, const dock_response *resp, fcb_error *err)
{
    char body[201];
    size_t n = 0;
    for (size_t i = 0; resp->body.data != NULL && i < resp->body.len && n < sizeof body - 1; i++)
        body[n++] =
            (resp->body.data[i] == '\n' || resp->body.data[i] == '\r') ? ' ' : resp->body.data[i];
    while (n > 0 && body[n - 1] == ' ')
        n--;
    body[n] = '\0';
    if (!engine->tls && engine->address.transport == DOCK_TCP &&
        strcasestr(body, "HTTPS server") != NULL)
        return err_set(err, FCB_ERR_UNAVAILABLE,
                       "GET /_ping: DOCKER_HOST=%s is a TLS port but DOCKER_TLS_VERIFY is not set "
                       "(set DOCKER_TLS_VERIFY=1 and DOCKER_CERT_PATH to the directory with "
                       "ca.pem, cert.pem, key.pem): the engine answered HTTP %ld: %s",
                       engine->docker_host, resp->status, body);
    return err_set(err, FCB_ERR_UNAVAILABLE,
                   "GET /_ping: the Docker engine at DOCKER_HOST=%s answered HTTP %ld%s%s",
                   engine->docker_host, resp->status, n > 0 ? ": " : "", body);
}

int dock_engine_connect(dock_engine *engine, const fcb_host_services *host, const dock_config *cfg,
                        const atomic_int *cancel, fcb_error *err)
{
    int rc;
    dock_response resp;
    json_object *root = NULL;

    memset(engine, 0, sizeof *engine);
    engine->host = host;
    engine->cancel = cancel;
    rc = dock_engine_configure(engine, host, cfg, err);
    if (rc != FCB_OK)
        goto fail;

    dock_request ping = {.method = "GET",
                         .path = "/_ping",
                         .unversioned = true,
                         .timeout_ms = 10000,
                         .max_body = 4096};
    rc = dock_engine_call(engine, &ping, &resp, err);
    if (rc != FCB_OK) {
        dock_response_free(&resp);
        goto fail;
    }
    char server_api[16];
    snprintf(server_api, sizeof server_api, "%s", resp.api_version);
    long status = resp.status;
    if (status != 200) {
        rc = dock_ping_error(engine, &resp, err);
        dock_response_free(&resp);
        goto fail;
    }
    dock_response_free(&resp);
    if (server_api[0] == '\0') {
        /* Old engines and some proxies omit the header: ask /version. */
        dock_request ver = {
            .method = "GET", .path = "/version", .unversioned = true, .max_body = 1024 * 1024};
        rc = dock_engine_call(engine, &ver, &resp, err);
        if (rc == FCB_OK && resp.status == 200 && resp.body.data != NULL) {
            root = json_tokener_parse(resp.body.data);
            json_object *v = NULL;
            if (root != NULL && json_object_object_get_ex(root, "ApiVersion", &v))
                snprintf(server_api, sizeof server_api, "%s", json_object_get_string(v));
            json_object_put(root);
            root = NULL;
        }
        dock_response_free(&resp);
        if (rc != FCB_OK)
            goto fail;
    }
    rc = dock_spec_negotiate_version(server_api, engine->api_version, err);
    if (rc != FCB_OK)
        goto fail;

    dock_request ver = {.method = "GET", .path = "/version", .max_body = 1024 * 1024};
    rc = dock_engine_call(engine, &ver, &resp, err);
    if (rc == FCB_OK && resp.status != 200)
        rc = dock_engine_http_error(&resp, FCB_ERR_BACKEND, "GET /version", err);
    if (rc == FCB_OK) {
        root = json_tokener_parse(resp.body.data != NULL ? resp.body.data : "");
        if (root == NULL || !json_object_is_type(root, json_type_object))
            rc = err_set(err, FCB_ERR_BACKEND,
                         "GET /version: the answer is not a JSON object (not a Docker engine?)");
    }
    if (rc == FCB_OK) {
        json_object *v = NULL;
        if (root != NULL && json_object_object_get_ex(root, "Version", &v))
            snprintf(engine->server_version, sizeof engine->server_version, "%s",
                     json_object_get_string(v));
        engine->podman = dock_version_is_podman(root);
        if (root != NULL && json_object_object_get_ex(root, "Arch", &v))
            snprintf(engine->arch, sizeof engine->arch, "%s", json_object_get_string(v));
    }
    json_object_put(root);
    dock_response_free(&resp);
    if (rc != FCB_OK)
        goto fail;
    return FCB_OK;
fail:
    dock_engine_release(engine);
    return rc;
}

void dock_engine_release(dock_engine *engine)
{
    if (engine->host == NULL)
        return;
    svc_free(engine->host, engine->ca_file);
    svc_free(engine->host, engine->cert_file);
    svc_free(engine->host, engine->key_file);
    svc_free(engine->host, engine->cert_dir);
    engine->ca_file = engine->cert_file = engine->key_file = engine->cert_dir = NULL;
}
