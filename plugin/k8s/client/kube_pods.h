/*
 * kube_pods: typed verbs on core/v1 Pods (kube-rs' Api<Pod>). The lifecycle
 * calls these and never formats a path nor reads an HTTP answer. Codes,
 * deadlines (relative ms, 0 = the client's default) and thread safety as
 * in kube_resource.h; NS and names are checked (FCB_ERR_INVALID_ARGUMENT
 * naming the field, nothing sent).
 */
#ifndef FCB_KUBE_PODS_H
#define FCB_KUBE_PODS_H

#include "kube_client.h"
#include "kube_resource.h"

/* Create the Pod BODY (JSON text of BODY_LEN bytes) in NS; *out always filled. */
int kube_pods_create(kube_client *client, const char *ns, const char *body, size_t body_len,
                     unsigned deadline_ms, kube_create_result *out, fcb_error *err);

/* GET Pod NAME in NS; *out (FCB_OK only) is the caller's to json_object_put. */
int kube_pods_get(kube_client *client, const char *ns, const char *name, unsigned deadline_ms,
                  json_object **out, fcb_error *err);

/*
 * Owned delete of Pod NAME: one deletecollection restricted to the name
 * (fieldSelector=metadata.name) and OPTS->label_selector, with
 * gracePeriodSeconds=OPTS->grace_seconds. Gone or not ours is FCB_OK with
 * out->deleted == 0 (the caller tells which with kube_pods_get).
 */
int kube_pods_delete_owned(kube_client *client, const char *ns, const char *name,
                           const kube_delete_opts *opts, kube_delete_result *out, fcb_error *err);

/* Delete every Pod of NS matching OPTS->label_selector; out->deleted counts them. */
int kube_pods_delete_collection(kube_client *client, const char *ns, const kube_delete_opts *opts,
                                kube_delete_result *out, fcb_error *err);

/* List Pods of NS (limit, selectors); out->count = items of the answer. */
int kube_pods_list(kube_client *client, const char *ns, const kube_list_opts *opts,
                   kube_list_result *out, fcb_error *err);

typedef struct kube_pod_log_opts {
    const char *container; /* required */
    unsigned tail_lines;   /* 0: the whole log */
    unsigned deadline_ms;
} kube_pod_log_opts;

/*
 * The log of OPTS->container in Pod NAME. *text (FCB_OK only, NUL-terminated,
 * *len bytes) is from the host allocator: svc_free(host, *text).
 */
int kube_pods_log(kube_client *client, const char *ns, const char *name,
                  const kube_pod_log_opts *opts, char **text, size_t *len, fcb_error *err);

typedef struct kube_pod_log_stream_opts {
    const char *container;   /* required */
    unsigned tail_lines;     /* 0: the whole log */
    const char *since_time;  /* RFC 3339 (sinceTime), NULL: from the start */
    unsigned limit_bytes;    /* limitBytes, 0: none */
    bool follow;             /* follow=true: the answer goes on while the container runs */
    unsigned deadline_ms;    /* the whole call; 0: the client's default */
    const atomic_bool *stop; /* raised: FCB_ERR_CANCELLED promptly; NULL: none */
    /* Each chunk of the log as it arrives; false stops (FCB_OK). Required. */
    bool (*sink)(void *ctx, const char *data, size_t len);
    void *sink_ctx;
} kube_pod_log_stream_opts;

/*
 * The log of OPTS->container in Pod NAME, streamed to OPTS->sink chunk by
 * chunk (pods/log with tailLines, sinceTime, limitBytes, follow). Never
 * retried once a chunk was delivered. FCB_ERR_NOT_FOUND for a gone Pod.
 */
int kube_pods_log_stream(kube_client *client, const char *ns, const char *name,
                         const kube_pod_log_stream_opts *opts, fcb_error *err);

/* One request to a port of a Pod through the API server (pods/proxy). */
typedef struct kube_pod_proxy_opts {
    const char *method; /* "GET" (verb get pods/proxy) or "POST" (create) */
    unsigned port;      /* the Pod's port, 1..65535 */
    const char *path;   /* on the Pod, "/..." (no escaping: plain ASCII only) */
    const char *body;   /* NULL: none */
    size_t body_len;
    const char *content_type; /* of the body; NULL: application/json */
    unsigned flags;           /* KUBE_REQ_NO_RETRY */
    unsigned deadline_ms;     /* the whole call; 0: the client's default */
    const atomic_bool *stop;  /* raised: FCB_ERR_CANCELLED promptly; NULL: none */
    const char *keep_header;  /* a header of the Pod's answer to keep; NULL: none */
    /* The Pod's answer body, chunk by chunk, whatever its status; false stops. Required. */
    bool (*sink)(void *ctx, const char *data, size_t len);
    void *sink_ctx;
} kube_pod_proxy_opts;

/* What the Pod answered. */
typedef struct kube_pod_proxy_result {
    long status;            /* the Pod's HTTP status */
    char header_value[128]; /* opts->keep_header's value, "" when absent */
} kube_pod_proxy_result;

/*
 * OPTS->method /api/v1/namespaces/NS/pods/NAME:PORT/proxy/PATH: the Pod's
 * answer (any HTTP status) is FCB_OK with *out filled and the body streamed
 * to OPTS->sink. The API server's own refusals (a Status object) are errors
 * as for any request: FCB_ERR_NOT_FOUND (no such Pod), FCB_ERR_BACKEND
 * (403, 400 "address not allowed" before it has an IP, 503 "error trying to
 * reach service" while nothing listens), FCB_ERR_TIMEOUT, FCB_ERR_CANCELLED,
 * FCB_ERR_UNAVAILABLE. A POST is retried only where nothing was sent or on
 * the API server's 429.
 */
int kube_pods_proxy(kube_client *client, const char *ns, const char *name,
                    const kube_pod_proxy_opts *opts, kube_pod_proxy_result *out, fcb_error *err);

/*
 * The shared watch (kube_watch_start) over the Pods of NS matching
 * LABEL_SELECTOR. Stop it with kube_watch_stop.
 */
int kube_pods_watch(kube_client *client, const char *ns, const char *label_selector,
                    kube_watch_fn fn, void *ctx, kube_watch **out, fcb_error *err);

#endif
