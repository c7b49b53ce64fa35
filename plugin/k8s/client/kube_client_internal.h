/*
 * kube_client_internal: the client object and what kube_request.c and
 * kube_watch.c share (prepared calls with authentication, cancellable
 * sleeps, backoff, counters). Not for the lifecycle code: use kube_client.h
 * and the typed layers.
 */
#ifndef FCB_KUBE_CLIENT_INTERNAL_H
#define FCB_KUBE_CLIENT_INTERNAL_H

#include "http.h"
#include "kube_auth.h"
#include "kube_client.h"
#include "kube_config.h"
#include "kube_pool.h"

#include <curl/curl.h>

#include <pthread.h>
#include <stdatomic.h>

#define KUBE_LOG_NAME "k8s"

struct kube_client {
    const fcb_host_services *host;
    kube_client_options opts; /* user_agent points to user_agent_copy */
    char *user_agent_copy;
    kube_config *cfg;
    char *base_url;                          /* server URL, host replaced by tls-server-name */
    char server_shown[KUBE_LONG_SHOWN_SIZE]; /* server for messages and logs (no userinfo) */
    struct curl_slist *connect_to;           /* tls-server-name:port -> real host:port */
    CURLSH *share;                           /* TLS sessions and DNS */
    pthread_mutex_t share_locks[CURL_LOCK_DATA_LAST];

    kube_pool pool; /* request connections; its own lock */
    kube_auth auth; /* credentials; its own lock */
    bool auth_ready;

    atomic_bool cancelled;
    pthread_mutex_t sleep_lock; /* retry sleeps wait on sleep_cond */
    pthread_cond_t sleep_cond;

    atomic_ulong requests, retries, watch_restarts, relists;
};

/* One prepared transfer: the slot plus what its options point to. */
typedef struct kube_call {
    kube_conn *conn;
    CURL *easy;  /* conn->easy */
    bool pooled; /* conn goes back to the client's pool at kube_call_free */
    struct curl_slist *headers;
    char *url;
    char *bearer; /* wiped at free */
    char errbuf[CURL_ERROR_SIZE];
} kube_call;

/* How to prepare a call. */
typedef struct kube_call_spec {
    const kube_request_spec *req; /* method, path, query, body, accept, stop */
    kube_conn *stream;            /* a dedicated slot (a watch), or NULL: one of the pool */
    uint64_t deadline_at;         /* monotonic ms (http_now_ms); 0 = none */
    bool force_refresh;           /* re-read the token file / re-run the exec plugin */
    http_capture *cap;            /* receives the answer */
} kube_call_spec;

/*
 * Prepare SPEC's request with authentication, TLS, proxy, share handle,
 * headers and capture attached, on SPEC->stream or on a slot of the pool,
 * waiting for one until deadline_at unless the client is cancelled or
 * *req->stop is raised. The curl total timeout is what is left of
 * deadline_at once the slot is held. Errors: FCB_ERR_CONFIG (credentials),
 * FCB_ERR_TIMEOUT (no slot before the deadline), FCB_ERR_CANCELLED,
 * FCB_ERR_NO_MEMORY. Free with kube_call_free (also after a failure).
 */
int kube_call_prepare(kube_client *client, kube_call *call, const kube_call_spec *spec,
                      fcb_error *err);
void kube_call_free(kube_client *client, kube_call *call);

/*
 * Describe a transport failure (curl CODE) of METHOD PATH into ERR: TLS
 * failures name the server and say TLS; returns the fcb code used
 * (FCB_ERR_UNAVAILABLE).
 */
int kube_call_transport_error(kube_client *client, const kube_call *call, CURLcode code,
                              const char *method, const char *path, fcb_error *err);

/* Sleep MS unless the client is cancelled or *EXTRA is raised; false if interrupted. */
bool kube_client_sleep(kube_client *client, uint64_t ms, const atomic_bool *extra);
/* Wake every kube_client_sleep and slot waiter (after raising an EXTRA flag). */
void kube_client_wake(kube_client *client);
/* Backoff for retry ATTEMPT (1-based): full jitter in [0, min(cap, base*2^attempt)]. */
uint64_t kube_client_backoff_ms(kube_client *client, unsigned attempt);

typedef enum kube_stat {
    KUBE_STAT_REQUEST,
    KUBE_STAT_RETRY,
    KUBE_STAT_WATCH_RESTART,
    KUBE_STAT_RELIST
} kube_stat;
void kube_client_count(kube_client *client, kube_stat which);

#endif
