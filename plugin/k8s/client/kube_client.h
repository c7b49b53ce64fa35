/*
 * kube_client: a small Kubernetes REST client inside the k8s plugin.
 *
 * Connects the way kubectl and kube-rs' Client::try_default do (KUBECONFIG
 * list merged by kubectl's rules, else ~/.kube/config, else in-cluster), all
 * configuration read through the host's config getter. One client is shared
 * by every thread of a backend instance: requests share a bounded pool of
 * keep-alive connections (FIFO wait for a free one), retry 429/5xx/connection failures with
 * capped exponential backoff and jitter, and parse Status bodies into
 * fcb_error messages. Thread-safe unless stated otherwise.
 *
 * Configuration keys (host config getter; see docs/k8s-client.md):
 *   KUBECONFIG, HOME, KUBERNETES_SERVICE_HOST/_PORT   discovery, as kubectl
 *   FAKECLOUD_K8S_CONTEXT             context other than current-context
 *   FAKECLOUD_K8S_SA_DIR              ServiceAccount dir (test hook)
 *   FAKECLOUD_K8S_REQUEST_TIMEOUT_MS  default deadline of a request (30000)
 *   FAKECLOUD_K8S_MAX_ATTEMPTS        attempts per request (6)
 *   FAKECLOUD_K8S_MAX_CONNECTIONS     connections for requests (3; each watch
 *                                     stream has one more of its own)
 *   FAKECLOUD_K8S_RETRY_BASE_MS / _CAP_MS  backoff (100 / 2000)
 *   FAKECLOUD_K8S_TOKEN_REREAD_MS     token file re-read period (60000)
 *   FAKECLOUD_K8S_EXEC_TIMEOUT_MS     exec credential plugin bound (30000)
 *   FAKECLOUD_K8S_WATCH_TIMEOUT_S     server-side watch timeout (290)
 *   FAKECLOUD_K8S_MAX_RESPONSE_BYTES  response body limit (64 MiB)
 *   FAKECLOUD_K8S_LIST_PAGE_SIZE      items per list page of a watch (500)
 * A malformed value fails kube_client_new with FCB_ERR_CONFIG naming the key.
 *
 * Internal API of the plugin (not exported).
 */
#ifndef FCB_KUBE_CLIENT_H
#define FCB_KUBE_CLIENT_H

#include <fakecloud/backend_plugin.h>
#include <json-c/json.h>

#include <stdbool.h>
#include <stddef.h>

typedef struct kube_client kube_client;

/*
 * Discover the configuration and create a client. Does not contact the
 * server. Errors are FCB_ERR_CONFIG with a message naming the file, context
 * and field ("kubeconfig /root/.kube/config: context 'x' refers to missing
 * cluster 'y'"). `host` must outlive the client.
 */
int kube_client_new(const fcb_host_services *host, kube_client **out, fcb_error *err);
/*
 * kube_client_new with flags: KUBE_CLIENT_QUIET logs the configuration at
 * debug instead of info and skips the insecure-TLS warning, for a second
 * client on the same configuration (whose first client already said so).
 */
enum { KUBE_CLIENT_QUIET = 1u << 0 };
int kube_client_new_ex(const fcb_host_services *host, unsigned flags, kube_client **out,
                       fcb_error *err);

/* Stop background work (token refresh), free everything. NULL is a no-op. */
void kube_client_free(kube_client *client);

/* Namespace of the current context, or "default" (in-cluster: the SA's). */
const char *kube_client_namespace(const kube_client *client);
/*
 * API server base URL for messages and logs, e.g. "https://127.0.0.1:6443":
 * userinfo shown as "***", cut as kube_url_shown cuts. Owned by the client.
 */
const char *kube_client_server(const kube_client *client);

/*
 * Make every request in flight and every later one fail promptly with
 * FCB_ERR_CANCELLED (used by close()). Irreversible.
 */
void kube_client_cancel(kube_client *client);

/* Request flags. */
enum {
    KUBE_REQ_CREATE = 1u << 0,         /* POST create: a 409 after our own retry of
                                          an unknown outcome sets resp->retried */
    KUBE_REQ_NO_RETRY = 1u << 1,       /* one attempt only */
    KUBE_REQ_RAW = 1u << 2,            /* keep a 2xx body as text in resp->raw, do
                                          not parse it (pods/log, or a large list
                                          only counted); error answers are still
                                          parsed as Status */
    KUBE_REQ_METADATA = 1u << 3,       /* a list answer as PartialObjectMetadataList
                                          (metadata only, as client-go's metadata
                                          client asks; a server without it answers
                                          the full list) */
    KUBE_REQ_UNTIL_DEADLINE = 1u << 4, /* retry what is retryable until the
                                          deadline, not FAKECLOUD_K8S_MAX_ATTEMPTS
                                          times (a Retry-After is a minimum wait
                                          then); for work that must get done,
                                          e.g. terminate */
};

/* Result of one request. Fields are owned by the response. */
typedef struct kube_response {
    long status;       /* HTTP status, 0 when no response was received */
    json_object *body; /* parsed JSON body (NULL for RAW or empty) */
    char *raw;         /* body text for KUBE_REQ_RAW, from the host allocator */
    size_t raw_len;
    bool retried;    /* the request was sent more than once */
    char reason[64]; /* Status.reason for non-2xx ("AlreadyExists") */
} kube_response;

/* Release what a response holds (json_object_put + svc_free); keeps it reusable. */
void kube_response_clear(const kube_client *client, kube_response *resp);

/*
 * Send METHOD PATH (path plus query, already escaped, e.g.
 * "/api/v1/namespaces/ns/pods?labelSelector=a%3Db") with an optional body
 * (content_type NULL = "application/json"). `deadline_ms` bounds the whole
 * call including retries (0 = the client's default, 30 s).
 * Returns FCB_OK for 2xx. Otherwise:
 *   FCB_ERR_NOT_FOUND   404,
 *   FCB_ERR_BACKEND     other HTTP errors (err: "k8s POST /api/..: 409
 *                       AlreadyExists: pods \"x\" already exists"),
 *   FCB_ERR_UNAVAILABLE connection / TLS failures after the retries,
 *   FCB_ERR_TIMEOUT     the deadline passed (also while waiting for a free
 *                       connection of the pool),
 *   FCB_ERR_CANCELLED   kube_client_cancel was called,
 *   FCB_ERR_CONFIG      the credentials could not be obtained (exec plugin
 *                       failed, token file unreadable),
 *   FCB_ERR_NO_MEMORY.
 * Retried (capped exponential backoff, full jitter, within the deadline and
 * FAKECLOUD_K8S_MAX_ATTEMPTS): 429 always (Retry-After honoured); 5xx and
 * connection failures for GET/HEAD/PUT/DELETE and KUBE_REQ_CREATE; failures
 * before anything was sent for every method. TLS failures never. A 401 with
 * a token file or exec plugin refreshes the credential and retries once.
 * In every case *resp holds what was received (status, body, reason); the
 * caller always calls kube_response_clear.
 */
int kube_request(kube_client *client, const char *method, const char *path,
                 const char *content_type, const char *body, size_t body_len, unsigned flags,
                 unsigned deadline_ms, kube_response *resp, fcb_error *err);

/*
 * A shared watch over one collection (e.g. "/api/v1/namespaces/ns/pods")
 * restricted by a label selector. Lists first, then watches from the list's
 * resourceVersion on one streaming connection; resumes from the last seen
 * resourceVersion when the stream drops, relists on 410 Gone. Every object
 * of the initial list and of a relist is delivered as ADDED, so a consumer
 * keeps its state by replaying. The callback runs on the watch's own thread,
 * must not block for long and must not call kube_watch_stop.
 * type is "ADDED", "MODIFIED" or "DELETED"; `object` is borrowed for the
 * call (json_object_get to keep it). After every (re)list completes the
 * callback is called once with type "SYNCED" and object NULL.
 * Before that SYNCED, a relist also reports objects that were known but are
 * no longer listed as "DELETED" (with the last version seen), so waiters
 * learn about objects that vanished while the stream was down.
 * kube_watch_start returns only after the first list completed: its failure
 * (e.g. 403 Forbidden, 404) is returned and no thread is left running.
 */
typedef void (*kube_watch_fn)(void *ctx, const char *type, json_object *object);
typedef struct kube_watch kube_watch;

int kube_watch_start(kube_client *client, const char *collection_path, const char *label_selector,
                     kube_watch_fn fn, void *ctx, kube_watch **out, fcb_error *err);
/* Stop the stream, join the thread, free. NULL is a no-op. */
void kube_watch_stop(kube_watch *watch);

/* Counters for tests and benchmarks. */
typedef struct kube_client_stats {
    unsigned long requests; /* requests sent, retries included */
    unsigned long retries;
    unsigned long watch_restarts; /* stream resumes */
    unsigned long relists;        /* 410 Gone relists */
    unsigned long slot_waits;     /* requests that queued for a free connection */
    unsigned long connections;    /* request connections (slots) made, <= the cap */
} kube_client_stats;
void kube_client_get_stats(const kube_client *client, kube_client_stats *out);

#endif
