/*
 * kube_client_internal: what kube_watch.c needs from kube_client.c (request
 * setup with authentication, cancellable sleeps, counters). Not for the
 * lifecycle code: use kube_client.h.
 */
#ifndef FCB_KUBE_CLIENT_INTERNAL_H
#define FCB_KUBE_CLIENT_INTERNAL_H

#include "http.h"
#include "kube_client.h"

#include <curl/curl.h>

#include <stdatomic.h>

#define KUBE_USER_AGENT "fakecloud-backend-k8s/0.1.0"
#define KUBE_LOG_NAME   "k8s"

/*
 * A transfer slot: an easy handle and the multi handle whose connection
 * cache (CURLMOPT_MAXCONNECTS 1) keeps its one keep-alive connection. One
 * thread uses a slot at a time. Request slots belong to the client's
 * bounded pool (FAKECLOUD_K8S_MAX_CONNECTIONS): a request waits, in FIFO
 * order, for a free slot. A watch owns a dedicated slot for its stream.
 * (libcurl 7.88's shared connection cache, CURL_LOCK_DATA_CONNECT, is not
 * thread-safe: known bug 11.11; the share handle only shares TLS sessions
 * and DNS, so a slot that reconnects resumes its TLS session.)
 */
typedef struct kube_conn {
    CURLM *multi;
    CURL *easy;
    struct kube_conn *next;
} kube_conn;

/* One prepared request: the transfer slot plus what it points to. */
typedef struct kube_call {
    kube_conn *conn;
    CURL *easy;  /* conn->easy */
    bool pooled; /* conn goes back to the client's pool at kube_call_free */
    struct curl_slist *headers;
    char *url;
    char *bearer; /* wiped at free */
    char errbuf[CURL_ERROR_SIZE];
} kube_call;

/* A dedicated slot outside the pool (a watch stream); NULL without memory. */
kube_conn *kube_conn_new(kube_client *client);
void kube_conn_free(kube_client *client, kube_conn *conn);

/*
 * Prepare METHOD PATH with authentication (FORCE_REFRESH re-reads the token
 * file / re-runs the exec plugin first), TLS, proxy, share handle, headers
 * and CAP attached, on the dedicated slot STREAM, or (STREAM NULL) on a slot
 * of the pool, waiting for one until DEADLINE_MS (monotonic ms, http_now_ms;
 * 0 = none) unless the client is cancelled or *STOP (may be NULL) is raised.
 * The curl total timeout is what is left of DEADLINE_MS once the slot is
 * held. Errors: FCB_ERR_CONFIG (credentials), FCB_ERR_TIMEOUT (no slot
 * before the deadline), FCB_ERR_CANCELLED, FCB_ERR_NO_MEMORY.
 */
int kube_call_prepare(kube_client *client, kube_call *call, kube_conn *stream,
                      const atomic_bool *stop, uint64_t deadline_ms, const char *method,
                      const char *path, const char *content_type, const char *body, size_t body_len,
                      bool force_refresh, const char *accept, http_capture *cap, fcb_error *err);
void kube_call_free(kube_client *client, kube_call *call);

/*
 * Describe a transport failure (curl CODE) of METHOD PATH into ERR: TLS
 * failures name the server and say TLS; returns the fcb code used
 * (FCB_ERR_UNAVAILABLE).
 */
int kube_call_transport_error(kube_client *client, const kube_call *call, CURLcode code,
                              const char *method, const char *path, fcb_error *err);

/* kube_request that also stops (FCB_ERR_CANCELLED) when *STOP is raised. */
int kube_request_stoppable(kube_client *client, const char *method, const char *path,
                           const char *content_type, const char *body, size_t body_len,
                           unsigned flags, unsigned deadline_ms, const atomic_bool *stop,
                           kube_response *resp, fcb_error *err);

/* Sleep MS unless the client is cancelled or *EXTRA is raised; false if interrupted. */
bool kube_client_sleep(kube_client *client, uint64_t ms, const atomic_bool *extra);
/* Wake every kube_client_sleep and slot waiter (after raising an EXTRA flag). */
void kube_client_wake(kube_client *client);
const atomic_bool *kube_client_cancel_flag(kube_client *client);
/* Backoff for retry ATTEMPT (1-based): full jitter in [0, min(cap, base*2^attempt)]. */
uint64_t kube_client_backoff_ms(kube_client *client, unsigned attempt);
const fcb_host_services *kube_client_host(const kube_client *client);

typedef enum kube_stat {
    KUBE_STAT_REQUEST,
    KUBE_STAT_RETRY,
    KUBE_STAT_WATCH_RESTART,
    KUBE_STAT_RELIST
} kube_stat;
void kube_client_count(kube_client *client, kube_stat which);

/* Watch tuning read at kube_client_new. */
unsigned kube_client_watch_timeout_s(const kube_client *client);
size_t kube_client_body_limit(const kube_client *client);
unsigned kube_client_list_page_size(const kube_client *client);

#endif
