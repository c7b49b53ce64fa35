/*
 * k8s_config: the k8s backend's configuration, read once at open through
 * the host's config getter into one struct, from one key table.
 *
 * Every key is FAKECLOUD_K8S_* and appears in exactly one place, the table
 * in k8s_config.c (k8s_config_keys); docs/k8s.md's key table is checked
 * against it by a test. Parsing is pure apart from reading the Pod template
 * file, so every validation error is unit-tested. Errors are FCB_ERR_CONFIG
 * with a message naming the key and the problem (cfgparse.h's shape). A
 * parsed config is immutable and may be shared by threads.
 */
#ifndef FCB_K8S_CONFIG_H
#define FCB_K8S_CONFIG_H

#include "cfgparse.h"
#include "k8s_tags.h"
#include "kube_client.h"

#include <fakecloud/backend_plugin.h>
#include <json-c/json.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define K8S_DEFAULT_INIT_IMAGE   "busybox:1.36"
#define K8S_RUNTIME_IMAGE_PREFIX "public.ecr.aws/lambda/"
/* Lambda allocates one vCPU per 1769 MB of memory. */
#define K8S_MB_PER_VCPU 1769u

typedef enum k8s_cpu_mode {
    K8S_CPU_NONE = 0,         /* field not set */
    K8S_CPU_PROPORTIONAL = 1, /* memory_mb * 1000 / 1769 millicores (at least 10m) */
    K8S_CPU_FIXED = 2,        /* `millicores` */
} k8s_cpu_mode;

typedef struct k8s_cpu {
    k8s_cpu_mode mode;
    unsigned millicores;
} k8s_cpu;

/*
 * How the host-side code reaches a Pod's runtime (FAKECLOUD_K8S_ENDPOINT):
 * directly at its Pod IP, or through the API server's pods/proxy
 * subresource with the kubeconfig's credentials (a host outside the
 * cluster). AUTO picks one per backend instance at the first launch (docs/k8s.md).
 */
typedef enum k8s_endpoint_mode {
    K8S_ENDPOINT_POD_IP = 0, /* default */
    K8S_ENDPOINT_API_PROXY = 1,
    K8S_ENDPOINT_AUTO = 2,
} k8s_endpoint_mode;

typedef struct k8s_config {
    char *self_url;                   /* FAKECLOUD_K8S_SELF_URL without trailing '/' */
    char *self_host;                  /* its host ("[::1]" for IPv6) */
    unsigned self_port;               /* its port (scheme default when absent) */
    char *ecr_host;                   /* FAKECLOUD_K8S_ECR_URL host, default self_host */
    unsigned ecr_port;                /* default self_port */
    char *namespace_name;             /* FAKECLOUD_K8S_NAMESPACE or NULL (= the client's) */
    char *pull_secret;                /* FAKECLOUD_K8S_PULL_SECRET or NULL */
    char *service_account;            /* FAKECLOUD_K8S_SERVICE_ACCOUNT or NULL */
    char *init_image;                 /* FAKECLOUD_K8S_INIT_IMAGE, default busybox:1.36 */
    char *image_prefix;               /* FAKECLOUD_K8S_RUNTIME_IMAGE_PREFIX or NULL */
    char *pull_policy;                /* FAKECLOUD_K8S_IMAGE_PULL_POLICY or NULL */
    char *priority_class;             /* FAKECLOUD_K8S_PRIORITY_CLASS or NULL */
    json_object *node_selector;       /* FAKECLOUD_K8S_NODE_SELECTOR: object or NULL */
    json_object *tolerations;         /* FAKECLOUD_K8S_TOLERATIONS: array or NULL */
    json_object *labels;              /* FAKECLOUD_K8S_LABELS: object or NULL */
    json_object *annotations;         /* FAKECLOUD_K8S_ANNOTATIONS: object or NULL */
    json_object *security_context;    /* from RUN_AS_USER/GROUP, FS_GROUP, RUN_AS_NON_ROOT */
    json_object *pod_template;        /* FAKECLOUD_K8S_POD_TEMPLATE or NULL */
    k8s_pod_extras service;           /* FAKECLOUD_LAMBDA_K8S_NODE_SELECTOR|TOLERATIONS|ANNOTATIONS:
                                         the service level over the keys above (k8s_tags.h) */
    k8s_cpu cpu_request;              /* FAKECLOUD_K8S_CPU_REQUEST, default none */
    k8s_cpu cpu_limit;                /* FAKECLOUD_K8S_CPU_LIMIT, default none */
    uint32_t running_timeout_ms;      /* FAKECLOUD_K8S_RUNNING_TIMEOUT_MS */
    uint32_t rie_timeout_ms;          /* FAKECLOUD_K8S_RIE_TIMEOUT_MS */
    uint32_t terminate_grace_seconds; /* FAKECLOUD_K8S_TERMINATE_GRACE_SECONDS, default 5 */
    int32_t lease_seconds;            /* FAKECLOUD_K8S_LEASE_SECONDS, default 30 (leases.md) */
    uint32_t terminate_timeout_ms;    /* FAKECLOUD_K8S_TERMINATE_TIMEOUT_MS: how long terminate
                                         keeps retrying (429/5xx/unreachable), default 30000 */
    k8s_endpoint_mode endpoint_mode;  /* FAKECLOUD_K8S_ENDPOINT, default pod-ip */
    kube_client_options client;       /* the client's tuning keys (docs/k8s-client.md) over
                                         kube_client_options_init's defaults; flags 0 */
} k8s_config;

/*
 * Read and validate every key through host->config_get. On success *out is
 * a new config (free with k8s_config_free). On failure *out is NULL, nothing
 * is leaked and err names the key: "FAKECLOUD_K8S_SELF_URL must be set when
 * FAKECLOUD_LAMBDA_BACKEND=k8s", "FAKECLOUD_K8S_SELF_URL is not a valid
 * URL: ...", "FAKECLOUD_K8S_RIE_TIMEOUT_MS: ...".
 */
int k8s_config_parse(const fcb_host_services *host, k8s_config **out, fcb_error *err);
void k8s_config_free(const fcb_host_services *host, k8s_config *cfg);

/* The key table (*n entries, in reading order): names, defaults, one-line docs. */
const cfg_key *k8s_config_keys(size_t *n);
/* Of k8s_config_keys, the client's keys (the rest are the backend's): *n of them from *first. */
void k8s_config_client_keys(size_t *first, size_t *n);

/*
 * Only the client's keys of the table (docs/k8s-client.md) into OUT, which
 * holds defaults (kube_client_options_init): for a client made outside a
 * backend (the client's tests). A malformed value is FCB_ERR_CONFIG naming
 * the key ("FAKECLOUD_K8S_MAX_ATTEMPTS: 'x' is not a whole number between
 * 1 and 100"). Allocates nothing.
 */
int k8s_config_client_options(const fcb_host_services *host, kube_client_options *out,
                              fcb_error *err);

/* CPU quantity for MEMORY_MB under C into out ("250m"); false when none. */
bool k8s_cpu_quantity(const k8s_cpu *c, unsigned memory_mb, char out[32]);

#endif
