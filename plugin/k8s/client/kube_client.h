/*
 * kube_client: a small Kubernetes REST client inside the k8s plugin.
 *
 * Finds the cluster the way kubectl and kube-rs' Client::try_default do
 * (kube_config: KUBECONFIG list merged by kubectl's rules, else
 * ~/.kube/config, else in-cluster). Everything else comes in a
 * kube_client_options struct: the client reads no configuration key itself
 * (plugin/k8s/k8s_config.c builds the options from FAKECLOUD_K8S_*). One
 * client is shared by every thread of a backend instance. It is three parts,
 * each behind its own lock: the connection pool (kube_pool.h: a bounded set
 * of keep-alive connections, FIFO wait for a free one), the credentials
 * (kube_auth.h) and requests with their retries (kube_request.h: 429/5xx/
 * connection failures with capped exponential backoff and jitter, Status
 * bodies parsed into fcb_error messages). Typed verbs sit on top
 * (kube_pods.h, kube_secrets.h). Thread-safe unless stated otherwise.
 *
 * Internal API of the plugin (not exported).
 */
#ifndef FCB_KUBE_CLIENT_H
#define FCB_KUBE_CLIENT_H

#include <fakecloud/backend_plugin.h>
#include <json-c/json.h>

#include "kube_request.h" /* kube_request_spec, kube_request_send, kube_response */

#include <stdbool.h>
#include <stddef.h>

typedef struct kube_client kube_client;

/* Option flags. */
enum {
    /* Log the configuration at debug instead of info and skip the insecure-TLS
     * warning: for a second client on the same configuration, whose first
     * client already said so. */
    KUBE_CLIENT_QUIET = 1u << 0,
};

/*
 * How a client behaves. Start from kube_client_options_init (the defaults
 * in parentheses), then set what differs. The configuration keys that set
 * them (plugin/k8s/k8s_config.c) are named for reference.
 */
typedef struct kube_client_options {
    unsigned request_timeout_ms; /* default deadline of a request (30000; 100..3600000)
                                    FAKECLOUD_K8S_REQUEST_TIMEOUT_MS */
    unsigned max_attempts;       /* attempts per request (6; 1..100) _MAX_ATTEMPTS */
    unsigned max_connections;    /* connections for requests (3; 1..64; each watch stream has
                                    one more of its own) _MAX_CONNECTIONS */
    unsigned retry_base_ms;      /* backoff base (100; >= 1) _RETRY_BASE_MS */
    unsigned retry_cap_ms;       /* backoff cap (2000; >= 1) _RETRY_CAP_MS */
    unsigned token_reread_ms;    /* token file re-read period (60000) _TOKEN_REREAD_MS */
    unsigned exec_timeout_ms;    /* exec credential plugin bound (30000; >= 1) _EXEC_TIMEOUT_MS */
    unsigned watch_timeout_s;    /* server-side watch timeout (290; >= 1) _WATCH_TIMEOUT_S */
    unsigned list_page_size;     /* items per list page of a watch (500; >= 1) _LIST_PAGE_SIZE */
    size_t max_response_bytes;   /* response body limit (64 MiB; >= 1024) _MAX_RESPONSE_BYTES */
    unsigned connect_timeout_ms; /* TCP + TLS connect bound (10000; >= 1) */
    const char *user_agent;      /* ("fakecloud-backend-k8s/0.1.0"); copied */
    unsigned flags;              /* KUBE_CLIENT_QUIET */
} kube_client_options;

/* Fill OUT with the defaults. */
void kube_client_options_init(kube_client_options *out);

/*
 * Discover the cluster (kube_config_load through HOST's config getter) and
 * create a client with OPTS (NULL: the defaults). Does not contact the
 * server. Errors: FCB_ERR_CONFIG with a message naming the file, context
 * and field ("kubeconfig /root/.kube/config: context 'x' refers to missing
 * cluster 'y'"); FCB_ERR_INVALID_ARGUMENT naming an option out of range;
 * FCB_ERR_NO_MEMORY. `host` must outlive the client.
 */
int kube_client_open(const fcb_host_services *host, const kube_client_options *opts,
                     kube_client **out, fcb_error *err);

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
