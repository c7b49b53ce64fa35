/*
 * dock_engine: a small Docker Engine API client over libcurl.
 *
 * Talks to dockerd (or Podman's Docker-compatible service) on its unix
 * socket (CURLOPT_UNIX_SOCKET_PATH) or over tcp, optionally with TLS
 * (DOCKER_TLS_VERIFY / DOCKER_CERT_PATH). dock_engine_connect negotiates the
 * API version (GET /_ping, then /version); every later call is sent to
 * /v<negotiated><path>. One curl easy handle per call, no shared state, so
 * calls are thread-safe. A call marked cancellable aborts promptly once
 * *cancel becomes non-zero (FCB_ERR_CANCELLED).
 */
#ifndef FCB_DOCK_ENGINE_H
#define FCB_DOCK_ENGINE_H

#include "dock_config.h"
#include "dock_spec.h"
#include "svc.h"

#include <curl/curl.h>

#include <stdatomic.h>
#include <stdbool.h>

typedef struct dock_engine {
    const fcb_host_services *host;
    dock_address address;
    char docker_host[300]; /* DOCKER_HOST as configured, for messages */
    char base_url[300];    /* "http://localhost" or "http(s)://host:port" */
    bool tls;
    char *ca_file; /* host allocator; NULL without TLS */
    char *cert_file;
    char *key_file;
    char *cert_dir;          /* DOCKER_CERT_PATH (or $HOME/.docker), for messages */
    char api_version[16];    /* negotiated "X.Y" */
    char server_version[64]; /* /version Version, for logs */
    bool podman;
    char arch[32];            /* /version Arch ("amd64", "arm64"), "" when the engine did not say */
    const atomic_int *cancel; /* non-zero: abort cancellable calls; may be NULL */
    atomic_uint_fast64_t requests; /* calls sent (stats: engine_requests_total) */
} dock_engine;

/*
 * Configure from CFG's engine address and TLS directory (dock_config read
 * DOCKER_HOST, DOCKER_TLS_VERIFY, DOCKER_CERT_PATH; the engine reads no
 * configuration itself), check the TLS files, then ping and negotiate. FCB_ERR_CONFIG for bad
 * settings (message names the key), FCB_ERR_UNAVAILABLE when the engine
 * cannot be reached, FCB_ERR_UNSUPPORTED for an engine older than API 1.40.
 * On failure everything is released (dock_engine_release is still safe).
 */
int dock_engine_connect(dock_engine *engine, const fcb_host_services *host, const dock_config *cfg,
                        const atomic_int *cancel, fcb_error *err);
void dock_engine_release(dock_engine *engine);

/* Called with each complete line of a streamed body; false stops the call. */
typedef bool (*dock_line_fn)(void *ctx, const char *line, size_t len);
/* Called with each piece of a raw streamed body (2xx only); false stops the call. */
typedef bool (*dock_data_fn)(void *ctx, const void *data, size_t len);

typedef struct dock_request {
    const char *method; /* "GET", "POST", "PUT", "DELETE" */
    const char *path;   /* "/containers/create?name=x" (version prefix added) */
    bool unversioned;   /* send PATH as is (for /_ping) */
    const void *body;
    size_t body_len;
    const char *content_type;  /* default application/json when body is set */
    const char *registry_auth; /* X-Registry-Auth header value or NULL */
    long timeout_ms;           /* whole call; 0 = 30000 */
    bool cancellable;
    size_t max_body;      /* response body kept (bytes); 0 = 4 MiB */
    dock_line_fn on_line; /* stream lines instead of keeping the body */
    void *line_ctx;
    /*
     * Raw streaming: a 2xx body goes to ON_DATA as it arrives (any other
     * status is kept in resp->body for the error).
     */
    dock_data_fn on_data;
    void *data_ctx;
    /*
     * The caller's own cancel check (may be NULL), e.g. a launch's token.
     * A call that streams (ON_DATA) or has STOP runs on curl's multi
     * interface, checking the engine's cancel flag (when cancellable) and
     * STOP(STOP_CTX) at least every 100 ms; STOP returning non-zero ends
     * the call with FCB_ERR_CANCELLED ("cancelled by the caller").
     */
    int (*stop)(void *ctx);
    void *stop_ctx;
} dock_request;

/* Make REQ stop when CANCEL (a host's token; NULL or without a check = never) fires. */
static inline void dock_request_cancel_on(dock_request *req, const fcb_cancel *cancel)
{
    if (cancel != NULL && cancel->cancelled != NULL) {
        req->stop = cancel->cancelled;
        req->stop_ctx = cancel->ctx;
    }
}

typedef struct dock_response {
    long status;          /* HTTP status */
    sbuf body;            /* response body (NUL-terminated), host allocator */
    char api_version[16]; /* Api-Version header, if any */
    char date[40];        /* Date header (the engine's clock), if any */
} dock_response;

/*
 * Send REQ. Returns FCB_OK when an HTTP response arrived (any status; see
 * resp->status), else FCB_ERR_UNAVAILABLE / FCB_ERR_TIMEOUT /
 * FCB_ERR_CANCELLED / FCB_ERR_NO_MEMORY with err naming the call. Free
 * resp with dock_response_free whatever the result.
 */
int dock_engine_call(dock_engine *engine, const dock_request *req, dock_response *resp,
                     fcb_error *err);
void dock_response_free(dock_response *resp);

/*
 * Fill err with CODE and "<what>: HTTP <status>: <engine message>" (the
 * "message" field of the engine's JSON error body). Returns CODE.
 */
int dock_engine_http_error(const dock_response *resp, int code, const char *what, fcb_error *err);

/*
 * Run the easy handle CURL to its end on a private multi handle, calling
 * STOP(CTX) at least every 100 ms while it waits: non-zero ends the transfer
 * with CURLE_ABORTED_BY_CALLBACK. Bounded by CURL's own CURLOPT_TIMEOUT_MS.
 * CURLE_OUT_OF_MEMORY when curl's multi interface fails.
 */
CURLcode dock_curl_run(CURL *curl, int (*stop)(void *ctx), void *ctx);

/* curl_easy_escape on the host allocator; caller frees with svc_free. */
char *dock_engine_escape(const fcb_host_services *host, const char *s);

#endif
