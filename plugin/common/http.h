/*
 * http: libcurl helpers shared by the backends.
 *
 * Generic pieces only (no Kubernetes or Docker knowledge): one-time global
 * init, a monotonic clock, response capture with a size limit (body on the
 * host allocator, Retry-After header), header lists that remember a failed
 * append, common easy-handle defaults (no signals, connect and low-speed
 * limits, User-Agent), and a transfer runner that stops promptly when a stop
 * flag is raised or a deadline passes (it drives the easy handle through a
 * private multi handle and checks the flags every HTTP_POLL_MS).
 * Thread-safe: every function works on caller-owned handles.
 */
#ifndef FCB_HTTP_H
#define FCB_HTTP_H

#include "svc.h"

#include <curl/curl.h>

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* How often a running transfer checks its stop flags and deadline. */
#define HTTP_POLL_MS 50

/* curl_global_init once per process (thread-safe); false when it failed. */
bool http_global_init(void);

/* Milliseconds of CLOCK_MONOTONIC. */
uint64_t http_now_ms(void);

/*
 * What a transfer received. body: host-allocated, NUL-terminated, at most
 * `limit` bytes (more sets too_large and aborts the transfer). Optionally a
 * per-chunk sink replaces the buffer (streaming): when `sink` is set, body
 * stays empty and the sink's return value false aborts the transfer.
 */
typedef bool (*http_sink_fn)(void *ctx, const char *data, size_t len);

typedef struct http_capture {
    sbuf body;
    bool too_large;     /* the body passed the limit */
    long retry_after_s; /* Retry-After in seconds, -1 when absent */
    http_sink_fn sink;  /* optional streaming consumer */
    void *sink_ctx;
    bool sink_stopped; /* the sink asked to stop */
    /*
     * Optional: one more response header to keep (its name, e.g.
     * "X-Amz-Function-Error", borrowed): its value (trimmed, cut to the
     * buffer) lands in kept_value, "" when the final response has none.
     */
    const char *keep_header;
    char kept_value[128];
} http_capture;

void http_capture_init(http_capture *cap, const fcb_host_services *host, size_t limit);
/* Forget the body and headers (keeps limit and sink) before a retry. */
void http_capture_reset(http_capture *cap);
void http_capture_free(http_capture *cap);
/* Install the capture's write and header callbacks on EASY. */
void http_capture_attach(http_capture *cap, CURL *easy);

/*
 * Append HEADER to *list; on failure frees the whole list, sets *list NULL
 * and *failed true (later appends are no-ops). curl_slist_free_all frees.
 */
void http_headers_add(struct curl_slist **list, const char *header, bool *failed);

/*
 * Defaults every request wants: CURLOPT_NOSIGNAL, the user agent, a connect
 * timeout, a low-speed abort (fewer than 1 byte/s for low_speed_s seconds;
 * 0 disables), a 20-redirect-free policy (no redirects followed) and
 * protocols limited to HTTP and HTTPS.
 */
void http_easy_defaults(CURL *easy, const char *user_agent, long connect_timeout_ms,
                        long low_speed_s);

typedef enum http_run_result {
    HTTP_RUN_DONE = 0, /* the transfer ended; look at *code */
    HTTP_RUN_STOPPED,  /* a stop flag was raised */
    HTTP_RUN_DEADLINE, /* deadline_ms (monotonic, 0 = none) passed */
    HTTP_RUN_FAILED,   /* curl multi failure (out of memory) */
} http_run_result;

/*
 * Run EASY to completion inside MULTI (NULL: a private multi handle created
 * and destroyed for the call; pass a long-lived one to keep its connection
 * cache, i.e. keep-alive connections, between transfers). stop_a / stop_b
 * (either may be NULL) are checked at least every HTTP_POLL_MS. *code
 * receives the transfer's CURLcode when HTTP_RUN_DONE. The easy handle is
 * detached from MULTI again before returning. One thread per MULTI.
 */
http_run_result http_run(CURLM *multi, CURL *easy, const atomic_bool *stop_a,
                         const atomic_bool *stop_b, uint64_t deadline_ms, CURLcode *code);

/* True for curl errors where nothing reached the server (safe to retry). */
bool http_error_before_send(CURLcode code);
/* True for TLS setup / verification errors (never retried). */
bool http_error_is_tls(CURLcode code);

#endif
