/*
 * kube_request: one Kubernetes API request, described by a struct, sent with
 * the client's retries (see kube_client.h for the client). Thread-safe.
 */
#ifndef FCB_KUBE_REQUEST_H
#define FCB_KUBE_REQUEST_H

#include <fakecloud/backend_plugin.h>
#include <json-c/json.h>

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct kube_client kube_client;

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
                                          deadline, not max_attempts times (a
                                          Retry-After is a minimum wait then); for
                                          work that must get done, e.g. terminate */
    KUBE_REQ_PROXY = 1u << 5,          /* a proxy subresource (pods/proxy): an
                                          answer that is not a Kubernetes Status
                                          object is the proxied server's, whatever
                                          its status: FCB_OK, resp->status is its
                                          status and its body goes to the sink
                                          (required). A Status is the API server's
                                          own error, handled as for any request */
};

/* One request. Zero-initialise and set what you need; borrowed for the call. */
typedef struct kube_request_spec {
    const char *method; /* "GET", "POST", "DELETE", ... (required) */
    const char *path;   /* escaped path, may carry a query (required) */
    const char *query;  /* escaped query appended with '?' or '&'; NULL: none */
    const char *body;   /* NULL: none */
    size_t body_len;
    const char *content_type;  /* of the body; NULL: "application/json" */
    const char *accept;        /* NULL: application/json (or the metadata list
                                  for KUBE_REQ_METADATA) */
    unsigned flags;            /* KUBE_REQ_* */
    unsigned deadline_ms;      /* the whole call with retries, relative; 0: the
                                  client's request_timeout_ms */
    size_t max_response_bytes; /* 0: the client's */
    const atomic_bool *stop;   /* raised: FCB_ERR_CANCELLED promptly; NULL: none */
    /*
     * Optional streaming consumer of a 2xx body (pods/log?follow): called
     * with each chunk as it arrives, from the calling thread, instead of
     * keeping the body (resp->raw and resp->body stay NULL). Return false to
     * stop: the request then ends with FCB_OK. Error answers are still kept
     * and parsed as Status. Once a chunk was delivered the request is never
     * retried (the consumer would see it twice).
     */
    bool (*sink)(void *ctx, const char *data, size_t len);
    void *sink_ctx;
    /* One response header to keep in resp->header_value (e.g. a proxied
     * server's "X-Amz-Function-Error"); NULL: none. */
    const char *keep_header;
} kube_request_spec;

/* Result of one request. Fields are owned by the response. */
typedef struct kube_response {
    long status;       /* HTTP status, 0 when no response was received */
    json_object *body; /* parsed JSON body (NULL for RAW or empty) */
    char *raw;         /* body text for KUBE_REQ_RAW, from the host allocator */
    size_t raw_len;
    bool retried;    /* the request was sent more than once */
    char reason[64]; /* Status.reason for non-2xx ("AlreadyExists") */
    char header_value[128]; /* spec.keep_header's value, "" when absent */
} kube_response;

/* Release what a response holds (json_object_put + svc_free); keeps it reusable. */
void kube_response_clear(const kube_client *client, kube_response *resp);

/*
 * Send SPEC. Returns FCB_OK for 2xx. Otherwise:
 *   FCB_ERR_NOT_FOUND   404,
 *   FCB_ERR_BACKEND     other HTTP errors (err: "k8s POST /api/..: 409
 *                       AlreadyExists: pods \"x\" already exists"),
 *   FCB_ERR_UNAVAILABLE connection / TLS failures after the retries,
 *   FCB_ERR_TIMEOUT     the deadline passed (also while waiting for a free
 *                       connection of the pool),
 *   FCB_ERR_CANCELLED   kube_client_cancel was called or *stop raised,
 *   FCB_ERR_CONFIG      the credentials could not be obtained (exec plugin
 *                       failed, token file unreadable),
 *   FCB_ERR_INVALID_ARGUMENT  no method or path,
 *   FCB_ERR_NO_MEMORY.
 * Retried (capped exponential backoff, full jitter, within the deadline and
 * max_attempts): 429 always (Retry-After honoured); 5xx and connection
 * failures for GET/HEAD/PUT/DELETE and KUBE_REQ_CREATE; failures before
 * anything was sent for every method. TLS failures never. A 401 with a
 * token file or exec plugin refreshes the credential and retries once.
 * In every case *resp holds what was received (status, body, reason); the
 * caller always calls kube_response_clear.
 */
int kube_request_send(kube_client *client, const kube_request_spec *spec, kube_response *resp,
                      fcb_error *err);

/*
 * kube_request_send with the common fields as arguments (METHOD PATH with
 * an optional body; content_type NULL = "application/json"; deadline_ms 0 =
 * the client's default). For short calls and the client's tests.
 */
int kube_request(kube_client *client, const char *method, const char *path,
                 const char *content_type, const char *body, size_t body_len, unsigned flags,
                 unsigned deadline_ms, kube_response *resp, fcb_error *err);

#endif
