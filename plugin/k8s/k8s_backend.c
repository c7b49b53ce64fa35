/*
 * k8s_backend: open and close of a k8s backend instance, in-flight
 * tracking, and the lazy start of the shared watch and the token Secret.
 *
 * The operations live in k8s_launch.c (launch, prepull) and
 * k8s_terminate.c (terminate, reap_stale); the watch's waiters in
 * k8s_waiters.c; owned creates and deletes in k8s_objects.c. close() marks
 * the instance closing, wakes every waiter and cancels the client, waits
 * until no operation is in flight, then deletes with a second, uncancelled
 * client what interrupted launches left (their Pods, the token Secret).
 * The Lease (k8s_lease.c), the watch and the Secret are started by the
 * first launch or prepull, not at open: terminate and reap_stale need none;
 * close deletes the Lease after the Pods and the Secret.
 */
#include "k8s_internal.h"
#include "k8s_objects.h"
#include "k8s_waiters.h"

#include "kube_pods.h"
#include "names.h"
#include "svc.h"

#include "abi_struct.h"
#include "ids.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

/* ------------------------------------------------------------ ids */

int k8s_nonce_new(fcb_backend *b, char out[33], fcb_error *err)
{
    int rc = ids_random_hex(out, 8, "a launch nonce", err);
    if (rc != FCB_OK)
        return rc;
    inflight_lock(&b->ops);
    uint64_t seq = ++b->launches;
    inflight_unlock(&b->ops);
    snprintf(out + 16, 33 - 16, "%016llx", (unsigned long long)seq);
    return FCB_OK;
}

/* ------------------------------------------------------------ interrupted launches */

/*
 * Hand NODE (allocated when the launch started, so this cannot fail) to
 * close() for deletion of NAME. Called with the inflight lock held.
 */
static void k8s_orphan_add_locked(fcb_backend *b, k8s_orphan **node, const char *name)
{
    k8s_orphan *o = *node;
    *node = NULL;
    snprintf(o->name, sizeof o->name, "%s", name);
    o->next = b->orphans;
    b->orphans = o;
}

/* Delete a Pod a failed launch created, or leave it to close(). */
void k8s_launch_cleanup(fcb_backend *b, const char *name, k8s_orphan **node)
{
    fcb_error err = FCB_ERROR_INIT;
    bool closing;

    inflight_lock(&b->ops);
    closing = inflight_closing(&b->ops);
    if (closing)
        k8s_orphan_add_locked(b, node, name);
    inflight_unlock(&b->ops);
    if (closing)
        return;
    int rc = k8s_delete_ours(b, b->client, K8S_OBJECT_POD, name, &err);
    if (rc == FCB_ERR_CANCELLED) {
        inflight_lock(&b->ops);
        k8s_orphan_add_locked(b, node, name);
        inflight_unlock(&b->ops);
    } else if (rc != FCB_OK) {
        svc_log(b->host, FCB_LOG_WARN, K8S_PLUGIN_NAME,
                "could not delete the pod of a failed launch; reap_stale of a later instance "
                "removes it",
                "pod", name, "namespace", b->ns, "error", err.message, NULL);
    }
}

/* ------------------------------------------------------------ lazy start */

int k8s_ensure_started(fcb_backend *b, bool secret, uint64_t deadline, fcb_error *err)
{
    int rc = FCB_OK;
    char selector[128];

    pthread_mutex_lock(&b->setup_lock);
    /* Our Lease exists before our first object (the reap rule, leases.md). */
    rc = k8s_lease_ensure(b, deadline, err);
    if (rc == FCB_OK && b->watch == NULL) {
        k8s_selector_ours(b->instance_id, selector, sizeof selector);
        rc = kube_pods_watch(b->client, b->ns, selector, k8s_waiters_on_event, b, &b->watch, err);
        if (rc != FCB_OK)
            err_prefix(err, "k8s backend: cannot watch pods in namespace %s", b->ns);
        else
            svc_log(b->host, FCB_LOG_DEBUG, K8S_PLUGIN_NAME, "pod watch started", "namespace",
                    b->ns, "instance", b->instance_id, NULL);
    }
    if (rc == FCB_OK && secret && b->token != NULL && !b->have_secret) {
        rc = k8s_secret_create(b, deadline, err);
        if (rc == FCB_OK)
            svc_log(b->host, FCB_LOG_DEBUG, K8S_PLUGIN_NAME, "token Secret created", "secret",
                    b->secret_name, "namespace", b->ns, NULL);
    }
    pthread_mutex_unlock(&b->setup_lock);
    return rc;
}

/* ------------------------------------------------------------ open/close */

static void k8s_backend_free(fcb_backend *b)
{
    const fcb_host_services *host = b->host;
    kube_watch_stop(b->watch);
    kube_client_free(b->client);
    kube_client_free(b->cleanup);
    for (k8s_orphan *o = b->orphans, *next = NULL; o != NULL; o = next) {
        next = o->next;
        svc_free(host, o);
    }
    b->orphans = NULL;
    k8s_config_free(host, b->cfg);
    svc_free(host, b->ns);
    if (b->token != NULL) {
        explicit_bzero(b->token, strlen(b->token));
        svc_free(host, b->token);
    }
    k8s_lease_stop(b);
    k8s_lease_destroy(b);
    inflight_destroy(&b->ops);
    pthread_mutex_destroy(&b->setup_lock);
    svc_free(host, b);
}

/*
 * One cheap request at open (list our own Pods, at most one: a new instance
 * has none), so a wrong server, TLS, credentials or RBAC fail open() rather
 * than the first launch; the watch and the Secret wait for the first launch.
 */
static int k8s_check_access(fcb_backend *b, fcb_error *err)
{
    char selector[128];
    kube_list_result result;

    k8s_selector_ours(b->instance_id, selector, sizeof selector);
    kube_list_opts opts = {
        .label_selector = selector, .limit = 1, .deadline_ms = K8S_REQUEST_DEADLINE_MS};
    int rc = kube_pods_list(b->client, b->ns, &opts, &result, err);
    if (rc != FCB_OK)
        err_prefix(err, "k8s backend: cannot list pods in namespace %s", b->ns);
    return rc;
}

/* *OUT = a new backend with its locks and instance id (free with k8s_backend_free). */
static int k8s_backend_alloc(const fcb_host_services *host, fcb_backend **out, fcb_error *err)
{
    fcb_backend *b = svc_calloc(host, 1, sizeof *b);
    *out = NULL;
    if (b == NULL)
        return err_set(err, FCB_ERR_NO_MEMORY, "out of memory opening the k8s backend");
    b->host = host;
    int rc = inflight_init(&b->ops, K8S_WHO, err);
    if (rc != FCB_OK) {
        svc_free(host, b);
        return rc;
    }
    rc = k8s_lease_init(b, err);
    if (rc != FCB_OK) {
        inflight_destroy(&b->ops);
        svc_free(host, b);
        return rc;
    }
    pthread_mutex_init(&b->setup_lock, NULL);
    rc = ids_random_hex(b->instance_id, 8, "the k8s backend instance id", err);
    if (rc != FCB_OK) {
        k8s_backend_free(b);
        return rc;
    }
    *out = b;
    return FCB_OK;
}

/* The two clients, from the options the configuration read (the second one quiet). */
static int k8s_backend_clients(fcb_backend *b, fcb_error *err)
{
    kube_client_options opts = b->cfg->client;
    int rc = kube_client_open(b->host, &opts, &b->client, err);
    opts.flags = KUBE_CLIENT_QUIET;
    if (rc == FCB_OK)
        rc = kube_client_open(b->host, &opts, &b->cleanup, err);
    return rc;
}

/* The configured namespace, else the client's (kubeconfig context or in-cluster). */
static int k8s_backend_namespace(fcb_backend *b, fcb_error *err)
{
    const char *ns =
        b->cfg->namespace_name != NULL ? b->cfg->namespace_name : kube_client_namespace(b->client);
    if (ns == NULL || !names_is_dns_label(ns))
        return err_set(err, FCB_ERR_CONFIG,
                       "namespace \"%.100s\" (from the kubeconfig context) is not a valid "
                       "namespace; set FAKECLOUD_K8S_NAMESPACE",
                       ns != NULL ? ns : "(null)");
    b->ns = svc_strdup(b->host, ns);
    if (b->ns == NULL)
        return err_set(err, FCB_ERR_NO_MEMORY, "out of memory opening the k8s backend");
    return FCB_OK;
}

/* Keep a copy of the host's internal token (for the lazy Secret), if it gave one. */
static int k8s_backend_token(fcb_backend *b, const fcb_open_params *params, fcb_error *err)
{
    if (params == NULL || !FCB_HAS_FIELD(params, internal_token) ||
        params->internal_token == NULL || params->internal_token[0] == '\0')
        return FCB_OK;
    b->token = svc_strdup(b->host, params->internal_token);
    if (b->token == NULL)
        return err_set(err, FCB_ERR_NO_MEMORY, "out of memory opening the k8s backend");
    k8s_token_secret_name(b->instance_id, b->secret_name);
    return FCB_OK;
}

int k8s_backend_open(const fcb_host_services *host, const fcb_open_params *params,
                     fcb_backend **out, fcb_error *err)
{
    if (out == NULL)
        return err_set(err, FCB_ERR_INVALID_ARGUMENT, "open: out is NULL");
    *out = NULL;
    if (host == NULL)
        return err_set(err, FCB_ERR_INVALID_ARGUMENT, "open: host services are NULL");
    fcb_backend *b = NULL;
    int rc = k8s_backend_alloc(host, &b, err);
    if (rc != FCB_OK)
        return rc;

    rc = k8s_config_parse(host, &b->cfg, err);
    if (rc == FCB_OK)
        atomic_init(&b->endpoint_mode, (int)b->cfg->endpoint_mode);
    if (rc == FCB_OK)
        rc = k8s_backend_clients(b, err);
    if (rc == FCB_OK)
        rc = k8s_backend_namespace(b, err);
    if (rc == FCB_OK)
        rc = k8s_backend_token(b, params, err);
    if (rc == FCB_OK)
        rc = k8s_check_access(b, err);
    if (rc != FCB_OK) {
        k8s_backend_free(b);
        return rc;
    }
    svc_log(host, FCB_LOG_INFO, K8S_PLUGIN_NAME, "K8s Lambda backend initialized", "namespace",
            b->ns, "server", kube_client_server(b->client), "self_url", b->cfg->self_url,
            "instance", b->instance_id, "token_secret",
            b->token != NULL ? b->secret_name : "(none)", NULL);
    *out = b;
    return FCB_OK;
}

static void k8s_backend_wake(void *ctx)
{
    k8s_waiters_wake_locked(ctx);
}

void k8s_backend_close(fcb_backend *b)
{
    if (b == NULL)
        return;
    /* In-flight operations return promptly (cancelled requests, woken waits); wait for them. */
    kube_client_cancel(b->client);
    inflight_close(&b->ops, k8s_backend_wake, b);
    kube_watch_stop(b->watch);
    b->watch = NULL;
    k8s_lease_stop(b);

    for (k8s_orphan *o = b->orphans; o != NULL; o = o->next) {
        fcb_error err = FCB_ERROR_INIT;
        int rc = k8s_delete_ours(b, b->cleanup, K8S_OBJECT_POD, o->name, &err);
        if (rc != FCB_OK)
            svc_log(b->host, FCB_LOG_WARN, K8S_PLUGIN_NAME,
                    "close: could not delete the pod of an interrupted launch", "pod", o->name,
                    "error", err.message, NULL);
    }
    k8s_secret_delete(b, b->cleanup);
    k8s_lease_release(b, b->cleanup); /* after our last object */
    svc_log(b->host, FCB_LOG_INFO, K8S_PLUGIN_NAME, "K8s Lambda backend closed", "instance",
            b->instance_id, NULL);
    k8s_backend_free(b);
}
