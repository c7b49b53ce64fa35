/*
 * kube_request: prepared calls (credentials from kube_auth, a slot from
 * kube_pool, curl options) and the retry loop: one attempt is classified
 * into done / retry / refresh the credential, and the loop waits a capped,
 * jittered backoff between attempts within the deadline.
 */
#include "kube_request.h"

#include "http.h"
#include "kube_client_internal.h"
#include "kube_status.h"
#include "svc.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

/* Metadata only when the server can, the full list otherwise (content negotiation). */
#define KUBE_ACCEPT_METADATA_LIST \
    "Accept: application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json"
#define KUBE_ACCEPT_JSON "Accept: application/json"
/* Bound on attempts of a KUBE_REQ_UNTIL_DEADLINE request (the deadline ends it first). */
#define KUBE_UNTIL_DEADLINE_ATTEMPTS 100000u

/* ---------------------------------------------------------------- calls */

void kube_call_free(kube_client *client, kube_call *call)
{
    if (call->conn != NULL) {
        /* Options point into this call's memory: drop them before pooling. */
        curl_easy_setopt(call->easy, CURLOPT_HTTPHEADER, NULL);
        curl_easy_setopt(call->easy, CURLOPT_ERRORBUFFER, NULL);
        if (call->pooled)
            kube_pool_release(&client->pool, call->conn);
    }
    /* The Authorization header lives in libcurl's memory: wipe it too. */
    for (struct curl_slist *h = call->headers; h != NULL; h = h->next)
        explicit_bzero(h->data, strlen(h->data));
    curl_slist_free_all(call->headers);
    svc_free(client->host, call->url);
    kube_secret_free(client->host, call->bearer);
    memset(call, 0, sizeof *call);
}

/* "k8s METHOD PATH" prefix length of PATH without its query. */
static int path_shown_len(const char *path)
{
    return (int)strcspn(path, "?");
}

/* The slot for SPEC: its stream, or one of the pool (waiting until the deadline). */
static int call_take_slot(kube_client *c, kube_call *call, const kube_call_spec *spec,
                          fcb_error *err)
{
    const kube_request_spec *req = spec->req;
    if (spec->stream != NULL) {
        curl_easy_reset(spec->stream->easy);
        call->conn = spec->stream;
        return FCB_OK;
    }
    int rc = kube_pool_acquire(&c->pool, req->stop, spec->deadline_at, &call->conn);
    if (rc == FCB_ERR_NO_MEMORY)
        return err_set(err, rc, "out of memory");
    if (rc == FCB_ERR_CANCELLED)
        return err_set(err, rc, "k8s %s %.*s: cancelled", req->method, path_shown_len(req->path),
                       req->path);
    if (rc != FCB_OK)
        return err_set(err, rc,
                       "k8s %s %.*s: no free connection to %s within the deadline (all %u "
                       "in use; FAKECLOUD_K8S_MAX_CONNECTIONS)",
                       req->method, path_shown_len(req->path), req->path, c->server_shown,
                       c->opts.max_connections);
    call->pooled = true;
    return FCB_OK;
}

/* Server, TLS, proxy and basic-auth options of the transfer. */
static void call_set_transport(kube_client *c, kube_call *call, const kube_credentials *creds,
                               unsigned long timeout_ms)
{
    CURL *e = call->easy;
    http_easy_defaults(e, c->opts.user_agent, c->opts.connect_timeout_ms, 0);
    curl_easy_setopt(e, CURLOPT_URL, call->url);
    curl_easy_setopt(e, CURLOPT_SHARE, c->share);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, call->errbuf);
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
    curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
    if (timeout_ms > 0)
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS,
                         (long)(timeout_ms > LONG_MAX ? LONG_MAX : timeout_ms));
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, c->cfg->insecure ? 0L : 1L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, c->cfg->insecure ? 0L : 2L);
    const char *ca = kube_auth_ca_file(&c->auth);
    if (ca != NULL) {
        curl_easy_setopt(e, CURLOPT_CAINFO, ca);
        curl_easy_setopt(e, CURLOPT_CAPATH, NULL); /* only the kubeconfig's CA */
    }
    if (creds->cert[0] != '\0') {
        curl_easy_setopt(e, CURLOPT_SSLCERT, creds->cert);
        curl_easy_setopt(e, CURLOPT_SSLCERTTYPE, "PEM");
        curl_easy_setopt(e, CURLOPT_SSLKEY, creds->key);
        curl_easy_setopt(e, CURLOPT_SSLKEYTYPE, "PEM");
    }
    if (c->connect_to != NULL)
        curl_easy_setopt(e, CURLOPT_CONNECT_TO, c->connect_to);
    /* Never pick up *_proxy from the environment. */
    curl_easy_setopt(e, CURLOPT_PROXY, c->cfg->proxy_url != NULL ? c->cfg->proxy_url : "");
    if (c->cfg->username != NULL && call->bearer == NULL) {
        curl_easy_setopt(e, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        curl_easy_setopt(e, CURLOPT_USERNAME, c->cfg->username);
        curl_easy_setopt(e, CURLOPT_PASSWORD, c->cfg->password);
    }
}

/* Accept, Expect, Authorization and Content-Type headers; false without memory. */
static bool call_set_headers(kube_client *c, kube_call *call, const kube_request_spec *req)
{
    bool failed = false;
    const char *accept = req->accept != NULL                ? req->accept
                         : (req->flags & KUBE_REQ_METADATA) ? KUBE_ACCEPT_METADATA_LIST
                                                            : KUBE_ACCEPT_JSON;
    http_headers_add(&call->headers, accept, &failed);
    http_headers_add(&call->headers, "Expect:", &failed);
    if (call->bearer != NULL) {
        char *h = svc_sprintf(c->host, "Authorization: Bearer %s", call->bearer);
        if (h == NULL)
            return false;
        http_headers_add(&call->headers, h, &failed);
        kube_secret_free(c->host, h);
    }
    if (req->body != NULL) {
        char *h = svc_sprintf(c->host, "Content-Type: %s",
                              req->content_type != NULL ? req->content_type : "application/json");
        if (h == NULL)
            return false;
        http_headers_add(&call->headers, h, &failed);
        svc_free(c->host, h);
    }
    if (failed)
        return false;
    curl_easy_setopt(call->easy, CURLOPT_HTTPHEADER, call->headers);
    return true;
}

static void call_set_method(CURL *e, const kube_request_spec *req)
{
    if (strcmp(req->method, "GET") == 0) {
        curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    } else if (strcmp(req->method, "HEAD") == 0) {
        curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
    } else {
        if (strcmp(req->method, "POST") != 0)
            curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, req->method);
        else
            curl_easy_setopt(e, CURLOPT_POST, 1L);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
                         (curl_off_t)(req->body != NULL ? req->body_len : 0));
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, req->body != NULL ? req->body : "");
    }
}

static char *call_url(kube_client *c, const kube_request_spec *req)
{
    if (req->query == NULL || req->query[0] == '\0')
        return svc_sprintf(c->host, "%s%s", c->base_url, req->path);
    return svc_sprintf(c->host, "%s%s%c%s", c->base_url, req->path,
                       strchr(req->path, '?') != NULL ? '&' : '?', req->query);
}

int kube_call_prepare(kube_client *client, kube_call *call, const kube_call_spec *spec,
                      fcb_error *err)
{
    kube_client *c = client;
    const kube_request_spec *req = spec->req;
    kube_credentials creds;
    memset(call, 0, sizeof *call);
    int rc = kube_auth_get(&c->auth, spec->force_refresh, &creds, err);
    if (rc != FCB_OK)
        return rc;
    call->bearer = creds.bearer;
    creds.bearer = NULL;
    call->url = call_url(c, req);
    if (call->url == NULL) {
        kube_call_free(c, call);
        return err_set(err, FCB_ERR_NO_MEMORY, "out of memory");
    }
    rc = call_take_slot(c, call, spec, err);
    if (rc != FCB_OK) {
        kube_call_free(c, call);
        return rc;
    }
    call->easy = call->conn->easy;
    unsigned long timeout_ms = 0;
    if (spec->deadline_at != 0) {
        uint64_t now = http_now_ms();
        if (now >= spec->deadline_at) {
            kube_call_free(c, call);
            return err_set(err, FCB_ERR_TIMEOUT, "k8s %s %.*s: deadline passed before sending",
                           req->method, path_shown_len(req->path), req->path);
        }
        timeout_ms = (unsigned long)(spec->deadline_at - now);
    }
    call_set_transport(c, call, &creds, timeout_ms);
    if (!call_set_headers(c, call, req)) {
        kube_call_free(c, call);
        return err_set(err, FCB_ERR_NO_MEMORY, "out of memory");
    }
    call_set_method(call->easy, req);
    http_capture_attach(spec->cap, call->easy);
    return FCB_OK;
}

int kube_call_transport_error(kube_client *client, const kube_call *call, CURLcode code,
                              const char *method, const char *path, fcb_error *err)
{
    const char *detail = call->errbuf[0] != '\0' ? call->errbuf : curl_easy_strerror(code);
    if (http_error_is_tls(code))
        return err_set(err, FCB_ERR_UNAVAILABLE,
                       "k8s %s %.*s: TLS connection to %s failed: %s (check "
                       "certificate-authority / client certificate in %s)",
                       method, path_shown_len(path), path, client->server_shown, detail,
                       client->cfg->origin);
    return err_set(err, FCB_ERR_UNAVAILABLE, "k8s %s %.*s: cannot reach %s: %s", method,
                   path_shown_len(path), path, client->server_shown, detail);
}

void kube_response_clear(const kube_client *client, kube_response *resp)
{
    json_object_put(resp->body);
    svc_free(client->host, resp->raw);
    memset(resp, 0, sizeof *resp);
}

/* ---------------------------------------------------------------- requests */

static bool method_idempotent(const char *method)
{
    return strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0 ||
           strcmp(method, "PUT") == 0 || strcmp(method, "DELETE") == 0 ||
           strcmp(method, "OPTIONS") == 0;
}

static bool status_retryable(long status)
{
    return status == 500 || status == 502 || status == 503 || status == 504;
}

/* Parse CAP's body into RESP (JSON unless RAW). */
static int take_body(http_capture *cap, const kube_request_spec *req, kube_response *resp,
                     fcb_error *err)
{
    /* Error answers are Status objects whatever the caller wanted: parse them. */
    if ((req->flags & KUBE_REQ_RAW) && resp->status >= 200 && resp->status < 300) {
        resp->raw = sbuf_steal(&cap->body, &resp->raw_len);
        if (resp->raw == NULL)
            return err_set(err, FCB_ERR_NO_MEMORY, "out of memory");
        return FCB_OK;
    }
    if (cap->body.len == 0)
        return FCB_OK;
    json_tokener *tok = json_tokener_new_ex(128);
    if (tok == NULL)
        return err_set(err, FCB_ERR_NO_MEMORY, "out of memory");
    if (cap->body.len <= INT_MAX)
        resp->body = json_tokener_parse_ex(tok, cap->body.data, (int)cap->body.len);
    json_tokener_free(tok);
    if (resp->body == NULL && resp->status >= 200 && resp->status < 300)
        return err_set(err, FCB_ERR_BACKEND, "k8s %s %.*s: %ld response is not valid JSON",
                       req->method, path_shown_len(req->path), req->path, resp->status);
    return FCB_OK;
}

static void err_suffix(fcb_error *err, const char *fmt, unsigned n)
{
    if (err == NULL)
        return;
    size_t len = strlen(err->message);
    if (len + 1 < sizeof err->message)
        snprintf(err->message + len, sizeof err->message - len, fmt, n);
}

/* State of one request across its attempts. */
typedef struct request_run {
    const kube_request_spec *req;
    http_capture cap;
    uint64_t deadline;
    size_t body_limit;
    bool idempotent;
    bool auth_retried; /* a 401 refreshed the credential once */
    CURL *easy;        /* the attempt's transfer, for the sink's status check */
    bool delivered;    /* the sink received a chunk: never retry */
    bool caller_stopped; /* the sink asked to stop: success */
} request_run;

/* The capture's sink for REQ->sink: 2xx chunks to the caller, error answers kept. */
static bool request_sink(void *ctx, const char *data, size_t len)
{
    request_run *r = ctx;
    long status = 0;
    curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
    if (status < 200 || status >= 300) {
        if (r->cap.body.limit > 0 && r->cap.body.len + len > r->cap.body.limit) {
            r->cap.too_large = true;
            return false;
        }
        return sbuf_append(&r->cap.body, data, len);
    }
    r->delivered = true;
    if (!r->req->sink(r->req->sink_ctx, data, len)) {
        r->caller_stopped = true;
        return false;
    }
    return true;
}

/* Whether BODY (LEN bytes) is a Kubernetes Status object: the API server's own answer. */
static bool body_is_status(const char *body, size_t len)
{
    if (body == NULL || len == 0 || len > INT_MAX)
        return false;
    json_tokener *tok = json_tokener_new_ex(64);
    if (tok == NULL)
        return false;
    json_object *doc = json_tokener_parse_ex(tok, body, (int)len);
    json_tokener_free(tok);
    json_object *kind = NULL;
    bool status = json_object_is_type(doc, json_type_object) &&
                  json_object_object_get_ex(doc, "kind", &kind) &&
                  json_object_is_type(kind, json_type_string) &&
                  strcmp(json_object_get_string(kind), "Status") == 0;
    json_object_put(doc);
    return status;
}

/*
 * KUBE_REQ_PROXY: a non-2xx answer that is not a Status is the proxied
 * server's; hand its kept body to the caller's sink. False otherwise.
 */
static bool proxy_pass_through(request_run *r, const kube_response *resp)
{
    if (!(r->req->flags & KUBE_REQ_PROXY) || r->req->sink == NULL ||
        (resp->status >= 200 && resp->status < 300) ||
        body_is_status(r->cap.body.data, r->cap.body.len))
        return false;
    r->delivered = true;
    if (r->cap.body.len > 0 && !r->req->sink(r->req->sink_ctx, r->cap.body.data, r->cap.body.len))
        r->caller_stopped = true;
    return true;
}

/* After an attempt: stop with its result, retry, refresh the credential and
 * retry, or stop before anything was sent (no "after N attempts"). */
typedef enum attempt_next {
    ATTEMPT_DONE,
    ATTEMPT_RETRY,
    ATTEMPT_REFRESH,
    ATTEMPT_ABORT
} attempt_next;

/* Classify a finished transfer (RUN, CODE) into RESP, ERR and what to do next. */
static attempt_next attempt_result(kube_client *c, request_run *r, const kube_call *call,
                                   http_run_result run, CURLcode code, kube_response *resp, int *rc,
                                   fcb_error *err)
{
    const kube_request_spec *req = r->req;
    const char *m = req->method;
    const char *p = req->path;
    int pl = path_shown_len(p);
    *rc = FCB_OK;
    if (r->caller_stopped && run == HTTP_RUN_DONE && code == CURLE_WRITE_ERROR) {
        resp->status = 200;
        return ATTEMPT_DONE;
    }
    if (run == HTTP_RUN_STOPPED) {
        *rc = err_set(err, FCB_ERR_CANCELLED, "k8s %s %.*s: cancelled", m, pl, p);
    } else if (run == HTTP_RUN_DEADLINE ||
               (run == HTTP_RUN_DONE && code == CURLE_OPERATION_TIMEDOUT &&
                http_now_ms() + 5 >= r->deadline)) {
        *rc = err_set(err, FCB_ERR_TIMEOUT, "k8s %s %.*s: no response from %s within the deadline",
                      m, pl, p, c->server_shown);
    } else if (run == HTTP_RUN_FAILED) {
        *rc = err_set(err, FCB_ERR_NO_MEMORY, "k8s %s %.*s: curl multi failure", m, pl, p);
    } else if (r->cap.too_large || code == CURLE_FILESIZE_EXCEEDED) {
        *rc = err_set(err, FCB_ERR_BACKEND,
                      "k8s %s %.*s: response body larger than the %zu byte limit", m, pl, p,
                      r->body_limit);
    } else if (code != CURLE_OK) {
        *rc = kube_call_transport_error(c, call, code, m, p, err);
        /* Garbage instead of HTTP will not improve by asking again. */
        bool garbage = code == CURLE_WEIRD_SERVER_REPLY || code == CURLE_UNSUPPORTED_PROTOCOL;
        return !http_error_is_tls(code) && !garbage &&
                       (r->idempotent || http_error_before_send(code))
                   ? ATTEMPT_RETRY
                   : ATTEMPT_DONE;
    } else if (proxy_pass_through(r, resp)) {
        return ATTEMPT_DONE; /* the proxied server answered: its status is the caller's */
    } else if (resp->status == 401 && !r->auth_retried && kube_auth_refreshable(&c->auth)) {
        /* Rotated token or expired exec credential: refresh once. */
        r->auth_retried = true;
        return ATTEMPT_REFRESH;
    } else {
        *rc = take_body(&r->cap, req, resp, err);
        if (*rc == FCB_OK && (resp->status < 200 || resp->status >= 300)) {
            kube_status_reason(resp->status, resp->body, resp->reason, sizeof resp->reason);
            *rc = kube_status_error(err, kube_status_code(resp->status), m, p, resp->status,
                                    resp->body, r->cap.body.data, r->cap.body.len);
            if (resp->status == 429 || (status_retryable(resp->status) && r->idempotent))
                return ATTEMPT_RETRY;
        }
    }
    return ATTEMPT_DONE;
}

/* One attempt: prepare, run, classify. */
static attempt_next attempt_once(kube_client *c, request_run *r, kube_response *resp, int *rc,
                                 fcb_error *err)
{
    kube_call call;
    CURLcode code = CURLE_OK;
    http_capture_reset(&r->cap);
    bool force = r->auth_retried && resp->status == 401;
    json_object_put(resp->body);
    resp->body = NULL;
    resp->status = 0;
    resp->reason[0] = '\0';
    kube_call_spec spec = {
        .req = r->req, .deadline_at = r->deadline, .force_refresh = force, .cap = &r->cap};
    *rc = kube_call_prepare(c, &call, &spec, err);
    if (*rc != FCB_OK)
        return ATTEMPT_ABORT;
    /* A slot handed over by a request that a cancel just ended: send nothing. */
    if (atomic_load(&c->cancelled) || (r->req->stop != NULL && atomic_load(r->req->stop))) {
        kube_call_free(c, &call);
        *rc = err_set(err, FCB_ERR_CANCELLED, "k8s %s %.*s: cancelled", r->req->method,
                      path_shown_len(r->req->path), r->req->path);
        return ATTEMPT_ABORT;
    }
    kube_client_count(c, KUBE_STAT_REQUEST);
    r->easy = call.easy;
    http_run_result run =
        http_run(call.conn->multi, call.easy, &c->cancelled, r->req->stop, r->deadline, &code);
    if (run == HTTP_RUN_DONE && code == CURLE_OK)
        curl_easy_getinfo(call.easy, CURLINFO_RESPONSE_CODE, &resp->status);
    memcpy(resp->header_value, r->cap.kept_value, sizeof resp->header_value);
    attempt_next next = attempt_result(c, r, &call, run, code, resp, rc, err);
    kube_call_free(c, &call);
    return next;
}

/* The wait before the next attempt: backoff, or the server's Retry-After. */
static uint64_t retry_delay(kube_client *c, const request_run *r, unsigned attempt,
                            const kube_response *resp)
{
    uint64_t delay = kube_client_backoff_ms(c, attempt);
    if (resp->status == 429 && r->cap.retry_after_s >= 0) {
        uint64_t asked = (uint64_t)r->cap.retry_after_s * 1000u;
        /* Until the deadline, "Retry-After: 0" must not become a busy loop. */
        if (!(r->req->flags & KUBE_REQ_UNTIL_DEADLINE) || asked > delay)
            delay = asked;
    }
    return delay;
}

/* Cancelled or past the deadline before attempt ATTEMPT: the code, else FCB_OK. */
static int attempt_allowed(kube_client *c, const request_run *r, unsigned attempt, fcb_error *err)
{
    const kube_request_spec *req = r->req;
    if (atomic_load(&c->cancelled) || (req->stop != NULL && atomic_load(req->stop)))
        return err_set(err, FCB_ERR_CANCELLED, "k8s %s %.*s: cancelled", req->method,
                       path_shown_len(req->path), req->path);
    if (http_now_ms() >= r->deadline)
        return err_set(err, FCB_ERR_TIMEOUT, "k8s %s %.*s: deadline passed after %u attempts",
                       req->method, path_shown_len(req->path), req->path, attempt - 1);
    return FCB_OK;
}

/* Bounded by max_attempts (+1 for one credential refresh) and the deadline. */
static int request_loop(kube_client *c, request_run *r, unsigned max_attempts, kube_response *resp,
                        fcb_error *err)
{
    const kube_request_spec *req = r->req;
    unsigned attempt = 0;
    int rc = FCB_OK;
    for (;;) {
        attempt++;
        if (attempt > 1)
            resp->retried = true;
        if ((rc = attempt_allowed(c, r, attempt, err)) != FCB_OK)
            return rc;
        attempt_next next = attempt_once(c, r, resp, &rc, err);
        if (next == ATTEMPT_ABORT)
            return rc;
        if (next == ATTEMPT_REFRESH) {
            attempt--; /* the refresh does not count as a failure retry */
            continue;
        }
        if (next == ATTEMPT_DONE || attempt >= max_attempts || r->delivered)
            break;
        uint64_t delay = retry_delay(c, r, attempt, resp);
        if (http_now_ms() + delay >= r->deadline)
            break; /* waiting would pass the deadline: report the last failure now */
        svc_log(c->host, FCB_LOG_DEBUG, KUBE_LOG_NAME, "retrying Kubernetes request", "method",
                req->method, "path", req->path, "error", err != NULL ? err->message : "", NULL);
        kube_client_count(c, KUBE_STAT_RETRY);
        if (!kube_client_sleep(c, delay, req->stop))
            return err_set(err, FCB_ERR_CANCELLED, "k8s %s %.*s: cancelled", req->method,
                           path_shown_len(req->path), req->path);
        if (req->flags & KUBE_REQ_RAW) {
            svc_free(c->host, resp->raw);
            resp->raw = NULL;
            resp->raw_len = 0;
        }
    }
    if (rc != FCB_OK && attempt > 1 && rc != FCB_ERR_CANCELLED)
        err_suffix(err, " (after %u attempts)", attempt);
    return rc;
}

int kube_request_send(kube_client *client, const kube_request_spec *spec, kube_response *resp,
                      fcb_error *err)
{
    kube_client *c = client;
    memset(resp, 0, sizeof *resp);
    if (spec == NULL || spec->method == NULL || spec->path == NULL)
        return err_set(err, FCB_ERR_INVALID_ARGUMENT, "kube request: %s is NULL",
                       spec == NULL           ? "spec"
                       : spec->method == NULL ? "method"
                                              : "path");
    unsigned flags = spec->flags;
    unsigned max_attempts = (flags & KUBE_REQ_NO_RETRY)         ? 1
                            : (flags & KUBE_REQ_UNTIL_DEADLINE) ? KUBE_UNTIL_DEADLINE_ATTEMPTS
                                                                : c->opts.max_attempts;
    request_run r = {
        .req = spec,
        .deadline = http_now_ms() +
                    (spec->deadline_ms != 0 ? spec->deadline_ms : c->opts.request_timeout_ms),
        .body_limit =
            spec->max_response_bytes != 0 ? spec->max_response_bytes : c->opts.max_response_bytes,
        .idempotent = method_idempotent(spec->method) || (flags & KUBE_REQ_CREATE) != 0,
    };
    http_capture_init(&r.cap, c->host, r.body_limit);
    if (spec->sink != NULL) {
        r.cap.sink = request_sink;
        r.cap.sink_ctx = &r;
    }
    r.cap.keep_header = spec->keep_header;
    int rc = request_loop(c, &r, max_attempts, resp, err);
    http_capture_free(&r.cap);
    return rc;
}

int kube_request(kube_client *client, const char *method, const char *path,
                 const char *content_type, const char *body, size_t body_len, unsigned flags,
                 unsigned deadline_ms, kube_response *resp, fcb_error *err)
{
    kube_request_spec spec = {.method = method,
                              .path = path,
                              .content_type = content_type,
                              .body = body,
                              .body_len = body_len,
                              .flags = flags,
                              .deadline_ms = deadline_ms};
    return kube_request_send(client, &spec, resp, err);
}
