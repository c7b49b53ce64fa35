/*
 * dock_invoke: invoke of the docker backend (dock_invoke.h).
 */
#include "dock_invoke.h"

#include "abi_struct.h"
#include "dock_containers.h"
#include "dock_engine.h"
#include "dock_observe.h"
#include "svc.h"

#include <curl/curl.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define DOCK_WHO               "docker backend"
#define DOCK_INVOKE_PATH       "/2015-03-31/functions/function/invocations"
#define DOCK_INVOKE_MARGIN_MS  5000u
#define DOCK_INVOKE_DEFAULT_S  3u
#define DOCK_INVOKE_CONNECT_MS 5000L

/* One invocation in progress. */
typedef struct dock_invocation {
    fcb_backend *b;
    const fcb_invoke_request *req;
    fcb_invoke_result *out;
    bool sink_stopped; /* on_body asked to stop: not an error */
    bool cancelled;    /* the token fired or close() started */
} dock_invocation;

static size_t dock_invoke_body(char *data, size_t size, size_t nmemb, void *ctx)
{
    dock_invocation *iv = ctx;
    size_t n = size * nmemb;
    if (iv->req->on_body(iv->req->sink_ctx, data, n) != 0) {
        iv->sink_stopped = true;
        return 0;
    }
    iv->out->body_bytes += n;
    return n;
}

/* X-Amz-Function-Error: the runtime says the function failed (status stays 200). */
static size_t dock_invoke_header(char *data, size_t size, size_t nmemb, void *ctx)
{
    dock_invocation *iv = ctx;
    size_t n = size * nmemb;
    static const char name[] = "X-Amz-Function-Error:";
    if (n <= sizeof name - 1 || strncasecmp(data, name, sizeof name - 1) != 0)
        return n;
    size_t at = sizeof name - 1, len = 0;
    while (at < n && (data[at] == ' ' || data[at] == '\t'))
        at++;
    while (at + len < n && data[at + len] != '\r' && data[at + len] != '\n')
        len++;
    snprintf(iv->out->function_error, sizeof iv->out->function_error, "%.*s", (int)len, data + at);
    return n;
}

/* dock_curl_run's stop check: the host's token or close(). */
static int dock_invoke_cancelled(void *ctx)
{
    dock_invocation *iv = ctx;
    const fcb_cancel *c = &iv->req->cancel;
    if (inflight_closing(dock_backend_inflight(iv->b)) ||
        (c->cancelled != NULL && c->cancelled(c->ctx) != 0))
        iv->cancelled = true;
    return iv->cancelled;
}

/* The error of a POST to URL that ended with CC, or FCB_OK. */
static int dock_invoke_result(const dock_invocation *iv, const char *url, CURLcode cc,
                              long timeout_ms, fcb_error *err)
{
    if (cc == CURLE_OK || (cc == CURLE_WRITE_ERROR && iv->sink_stopped))
        return FCB_OK;
    if (cc == CURLE_ABORTED_BY_CALLBACK && iv->cancelled)
        return err_set(err, FCB_ERR_CANCELLED, "invoke %s: cancelled (%s)", url,
                       inflight_closing(dock_backend_inflight(iv->b)) ? "backend closing"
                                                                      : "by the host");
    if (cc == CURLE_OPERATION_TIMEDOUT)
        return err_set(err, FCB_ERR_TIMEOUT, "invoke %s: no answer within %ld ms (timeout_ms)", url,
                       timeout_ms);
    if (cc == CURLE_OUT_OF_MEMORY)
        return err_set(err, FCB_ERR_NO_MEMORY, "invoke %s: out of memory", url);
    return err_set(err, FCB_ERR_UNAVAILABLE, "invoke %s: %s", url, curl_easy_strerror(cc));
}

/* POST the event to the RIE at HOST:PORT within TIMEOUT_MS. */
static int dock_invoke_post(dock_invocation *iv, const char *host, unsigned port, long timeout_ms,
                            fcb_error *err)
{
    char url[FCB_ENDPOINT_MAX + 64];
    snprintf(url, sizeof url, "http://%s:%u" DOCK_INVOKE_PATH, host, port);
    CURL *curl = curl_easy_init();
    struct curl_slist *headers = curl_slist_append(NULL, "Content-Type: application/json");
    struct curl_slist *more = headers != NULL ? curl_slist_append(headers, "Expect:") : NULL;
    int rc = FCB_OK;
    if (curl == NULL || more == NULL) {
        rc = err_set(err, FCB_ERR_NO_MEMORY, "invoke: out of memory");
        goto out;
    }
    const fcb_blob *p = &iv->req->payload;
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, p->data != NULL ? (const char *)p->data : "");
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE,
                     (curl_off_t)(p->data != NULL ? p->size : 0));
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, dock_invoke_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, iv);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, dock_invoke_header);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, iv);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS,
                     timeout_ms < DOCK_INVOKE_CONNECT_MS ? timeout_ms : DOCK_INVOKE_CONNECT_MS);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http");
    CURLcode cc = dock_curl_run(curl, dock_invoke_cancelled, iv);
    long status = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    iv->out->http_status = (int)status;
    rc = dock_invoke_result(iv, url, cc, timeout_ms, err);
out:
    curl_slist_free_all(headers);
    if (curl != NULL)
        curl_easy_cleanup(curl);
    return rc;
}

/* The running container of HANDLE that is ours: its RIE port and function timeout. */
static int dock_invoke_target(fcb_backend *b, const char *handle, const char *id,
                              dock_container_life *life, fcb_error *err)
{
    int rc = dock_container_life_get(dock_backend_engine(b), id, life, err);
    if (rc != FCB_OK)
        return err_prefix(err, "invoke %.200s", handle);
    if (life->foreign)
        return err_set(err, FCB_ERR_NOT_FOUND,
                       "invoke: container %.200s is not managed by fakecloud (no managed-by label)",
                       handle);
    if (life->gone)
        return err_set(err, FCB_ERR_NOT_FOUND, "invoke: no container %.200s", handle);
    if (strcmp(life->status, "running") != 0)
        return err_set(err, FCB_ERR_UNAVAILABLE, "invoke: container %.200s is not running (%s)",
                       handle, life->status);
    if (life->host_port == 0)
        return err_set(err, FCB_ERR_UNAVAILABLE,
                       "invoke: container %.200s publishes no port for the runtime", handle);
    return FCB_OK;
}

/* The request and result structs, read and checked by their size. */
static int dock_invoke_args(fcb_backend *b, const char *handle, const char **id,
                            const fcb_invoke_request *request, fcb_invoke_request *req,
                            fcb_invoke_result *out, fcb_error *err)
{
    if (b == NULL || !dock_backend_handle_id(handle, id))
        return err_set(err, FCB_ERR_INVALID_ARGUMENT,
                       "invoke: handle '%.200s' is not a docker handle (container/<id>)",
                       handle != NULL ? handle : "(null)");
    int rc = ABI_STRUCT_READ(req, request, on_body, "invoke: request", err);
    if (rc == FCB_OK && req->on_body == NULL)
        rc = err_set(err, FCB_ERR_INVALID_ARGUMENT, "invoke: request.on_body is required");
    if (rc == FCB_OK && req->payload.size > 0 && req->payload.data == NULL)
        rc = err_set(err, FCB_ERR_INVALID_ARGUMENT,
                     "invoke: request.payload: %zu bytes but no data", req->payload.size);
    if (rc == FCB_OK)
        rc = ABI_STRUCT_CHECK_OUT(out, body_bytes, "invoke: out", err);
    return rc;
}

int dock_backend_invoke(fcb_backend *b, const char *handle, const fcb_invoke_request *request,
                        fcb_invoke_result *out, fcb_error *err)
{
    const char *id = NULL;
    fcb_invoke_request req;
    int rc = dock_invoke_args(b, handle, &id, request, &req, out, err);
    if (rc != FCB_OK)
        return rc;
    out->http_status = 0;
    out->function_error[0] = '\0';
    out->body_bytes = 0;
    rc = inflight_enter(dock_backend_inflight(b), DOCK_WHO, err);
    if (rc != FCB_OK)
        return rc;
    dock_container_life life;
    rc = dock_invoke_target(b, handle, id, &life, err);
    if (rc == FCB_OK) {
        uint32_t fn_s = life.timeout_s != 0 ? life.timeout_s : DOCK_INVOKE_DEFAULT_S;
        long timeout_ms =
            req.timeout_ms != 0 ? (long)req.timeout_ms : (long)fn_s * 1000 + DOCK_INVOKE_MARGIN_MS;
        dock_invocation iv = {.b = b, .req = &req, .out = out};
        rc = dock_invoke_post(&iv, dock_backend_endpoint_host(b), life.host_port, timeout_ms, err);
    }
    inflight_leave(dock_backend_inflight(b));
    return rc;
}
