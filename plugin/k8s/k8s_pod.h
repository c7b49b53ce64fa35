/*
 * k8s_pod: the pure builder of the Pod (and token Secret) the k8s backend
 * creates for one launch.
 *
 * No I/O: the same inputs give the same json_object, so every field is
 * pinned by unit tests and every output is checked against kubesim's schema
 * validation. Thread-safe.
 */
#ifndef FCB_K8S_POD_H
#define FCB_K8S_POD_H

#include "k8s_config.h"
#include "labels.h"

#include <fakecloud/backend_plugin.h>
#include <json-c/json.h>

#define K8S_POD_NAME_MAX    64 /* 63 + NUL */
#define K8S_POD_NAME_PREFIX "fakecloud-lambda-"

#define K8S_CONTAINER_INIT "fakecloud-init"
#define K8S_CONTAINER_MAIN "fakecloud-lambda"
#define K8S_VOLUME_TASK    "fakecloud-task"
#define K8S_VOLUME_OPT     "fakecloud-opt"
#define K8S_VOLUME_TMP     "fakecloud-tmp"
#define K8S_RIE_PORT       8080

/* Label keys: labels.h (shared with every backend). */
#define K8S_ANNOTATION_NONCE    "fakecloud-launch-nonce"
#define K8S_ANNOTATION_FUNCTION "fakecloud-function-name"
#define K8S_SECRET_TOKEN_KEY    "token"
#define K8S_ANNOTATION_POD      "fakecloud-pod"
/* A launch's credentials Secret: "<pod name>-credentials" (<= 75 bytes). */
#define K8S_CREDENTIALS_SUFFIX "-credentials"
#define K8S_SECRET_NAME_MAX    (K8S_POD_NAME_MAX + sizeof K8S_CREDENTIALS_SUFFIX)

/* Everything a Pod depends on besides the configuration. All borrowed. */
typedef struct k8s_pod_input {
    const k8s_config *config;
    const char *namespace_name; /* effective namespace */
    const char *instance_id;    /* this backend instance's id (label value) */
    const char *token_secret;   /* Secret holding the internal token, NULL = none */
    const char *pod_name;       /* from k8s_pod_name */
    const char *nonce;          /* per-launch nonce (annotation): 32 hex digits, also the
                                   log stream's id (AWS_LAMBDA_LOG_STREAM_NAME) */
    const fcb_launch_request *request;
    int64_t now_unix_s; /* launch time: the log stream's date, credential expiry */
    const char
        *credentials_secret; /* the launch's credentials Secret (k8s_credentials_secret_name);
                                required when the request carries credentials */
} k8s_pod_input;

/*
 * "fakecloud-lambda-<dns-safe fn, cut>-<12 hex of a hash of fn, deploy id
 * and nonce>": a DNS-1123 label of at most 63 bytes, unique per nonce.
 */
void k8s_pod_name(const char *function_name, const char *deploy_id, const char *nonce,
                  char out[K8S_POD_NAME_MAX]);

/* "fakecloud-lambda-token-<instance id>" (instance id: 16 hex). */
void k8s_token_secret_name(const char *instance_id, char out[K8S_POD_NAME_MAX]);

/* "<pod name>-credentials": the Secret a launch with credentials creates. */
void k8s_credentials_secret_name(const char *pod_name, char out[K8S_SECRET_NAME_MAX]);

/*
 * Build the Pod. On success *out is a new json_object (json_object_put).
 * Errors (FCB_ERR_INVALID_ARGUMENT unless stated) name the field:
 * "unsupported runtime: X" (FCB_ERR_UNSUPPORTED), "ImageUri is required
 * ...", "Handler is required ...", "Environment variable name 'X' is
 * invalid ...", "... requires the host's internal token ..." (a Zip function
 * or layers without token_secret), FCB_ERR_NO_MEMORY.
 */
int k8s_pod_build(const fcb_host_services *host, const k8s_pod_input *in, json_object **out,
                  fcb_error *err);

/*
 * k8s_pod_build, and when the request carries credentials (read by size,
 * since ABI 1.1) also *secret: the Opaque Secret in->credentials_secret
 * holding AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN
 * (labelled managed-by + instance + service), which the Pod's env reads
 * with secretKeyRef: no credential is ever in the Pod. *secret is NULL
 * without credentials. Both new (json_object_put). Credential errors
 * (FCB_ERR_INVALID_ARGUMENT) name the field and never show a value:
 * "credentials.access_key_id: required ...", "... not printable ASCII ...",
 * "credentials.expiration_unix_s: expired ...". On error both are NULL.
 */
int k8s_pod_build_objects(const fcb_host_services *host, const k8s_pod_input *in, json_object **pod,
                          json_object **secret, fcb_error *err);

/*
 * The short-lived Pod prepull() creates: IMAGE (ECR URIs translated, the pull
 * secret, node selector and tolerations of CFG applied) in a container whose
 * command does not exist, our managed-by/instance labels (so reap_stale
 * removes a leftover) and the nonce annotation. *out is new (json_object_put).
 * Errors: FCB_ERR_INVALID_ARGUMENT naming `image`, FCB_ERR_NO_MEMORY.
 */
int k8s_prepull_pod_build(const fcb_host_services *host, const k8s_config *cfg,
                          const char *namespace_name, const char *instance_id, const char *pod_name,
                          const char *nonce, const char *image, json_object **out, fcb_error *err);

/* The token Secret (type Opaque, labelled managed-by + instance). */
int k8s_secret_build(const char *namespace_name, const char *name, const char *instance_id,
                     const char *token, json_object **out, fcb_error *err);

/* Name of this instance's Lease: "fakecloud-lease-<instance id>". */
void k8s_lease_name(const char *instance_id, char out[K8S_POD_NAME_MAX]);

/*
 * This instance's coordination.k8s.io/v1 Lease (labelled managed-by +
 * instance + service; holderIdentity = INSTANCE_ID, leaseDurationSeconds =
 * SECONDS, acquireTime ACQUIRE_US, renewTime RENEW_US, µs since the epoch).
 * RV, when not NULL, is set as metadata.resourceVersion (an update).
 * *out is new (json_object_put). FCB_ERR_NO_MEMORY.
 */
int k8s_lease_build(const char *namespace_name, const char *instance_id, int32_t seconds,
                    int64_t acquire_us, int64_t renew_us, const char *rv, json_object **out,
                    fcb_error *err);

/* Label selector of this instance's objects / of other instances' objects. */
void k8s_selector_ours(const char *instance_id, char *out, size_t size);
void k8s_selector_foreign(const char *instance_id, char *out, size_t size);

/*
 * Percent-encode everything outside RFC 3986 unreserved characters. Returns
 * a string from the host allocator (svc_free) or NULL.
 */
char *k8s_url_escape(const fcb_host_services *host, const char *s);

#endif
