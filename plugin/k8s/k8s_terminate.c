/*
 * k8s_terminate: terminate (one owned delete of the handle's Pod, retried to
 * a deadline) and reap_stale (the objects of dead instances, k8s_reap.c).
 */
#include "k8s_internal.h"
#include "k8s_objects.h"

#include "kube_pods.h"
#include "kube_secrets.h"
#include "names.h"
#include "clockx.h"
#include "svc.h"

#include <stdio.h>
#include <string.h>

/* ------------------------------------------------------------ terminate */

int k8s_handle_parse(const char *handle, char ns[64], char name[254], fcb_error *err)
{
    if (handle == NULL)
        return err_set(err, FCB_ERR_INVALID_ARGUMENT, "handle is NULL");
    if (strncmp(handle, "pod/", 4) != 0)
        goto bad;
    const char *p = handle + 4;
    const char *slash = strchr(p, '/');
    if (slash == NULL || slash == p || (size_t)(slash - p) > 63)
        goto bad;
    memcpy(ns, p, (size_t)(slash - p));
    ns[slash - p] = '\0';
    if (!names_is_dns_label(ns) || !kube_name_valid(slash + 1))
        goto bad;
    memcpy(name, slash + 1, strlen(slash + 1) + 1);
    return FCB_OK;
bad:
    return err_set(err, FCB_ERR_INVALID_ARGUMENT,
                   "handle \"%.200s\" is not a k8s backend handle (pod/<namespace>/<name>)",
                   handle);
}

/*
 * The owned delete of NAME deleted nothing: already gone (success, terminate
 * is idempotent) or not ours (FCB_ERR_NOT_FOUND, nothing deleted). One GET
 * tells which; it runs only when nothing was deleted.
 */
static int k8s_terminate_nothing_deleted(fcb_backend *b, const char *name, uint64_t deadline,
                                         fcb_error *err)
{
    json_object *pod = NULL;
    unsigned remaining = clockx_remaining_ms(deadline);

    int rc =
        kube_pods_get(b->client, b->ns, name,
                      remaining > K8S_LOG_DEADLINE_MS ? remaining : K8S_LOG_DEADLINE_MS, &pod, err);
    const char *manager = rc == FCB_OK ? kube_object_label(pod, LABEL_MANAGED_BY) : NULL;
    bool managed = manager != NULL && strcmp(manager, LABEL_MANAGED_BY_VALUE) == 0;
    json_object_put(pod);
    if (rc == FCB_ERR_NOT_FOUND || managed) {
        /* Gone, or (a race) ours and going. */
        svc_log(b->host, FCB_LOG_DEBUG, K8S_PLUGIN_NAME, "pod already gone", "pod", name,
                "namespace", b->ns, NULL);
        return FCB_OK;
    }
    if (rc != FCB_OK)
        return rc;
    return err_set(err, FCB_ERR_NOT_FOUND,
                   "pod %s/%s is not managed by fakecloud (it has no label " K8S_SELECTOR_MANAGED
                   "); nothing deleted",
                   b->ns, name);
}

/*
 * Delete Pod NAME if any fakecloud instance made it, retrying throttling and
 * outages until FAKECLOUD_K8S_TERMINATE_TIMEOUT_MS: they must not leave the
 * Pod running. Errors are prefixed with HANDLE.
 */
static int k8s_terminate_pod(fcb_backend *b, const char *handle, const char *name, fcb_error *err)
{
    kube_delete_result result;
    unsigned timeout = b->cfg->terminate_timeout_ms;
    uint64_t deadline = clockx_after_ms(timeout);
    kube_delete_opts opts = {.label_selector = K8S_SELECTOR_MANAGED,
                             .grace_seconds = b->cfg->terminate_grace_seconds,
                             .flags = KUBE_REQ_UNTIL_DEADLINE,
                             .deadline_ms = timeout};

    int rc = kube_pods_delete_owned(b->client, b->ns, name, &opts, &result, err);
    if (rc == FCB_OK && result.deleted == 0)
        rc = k8s_terminate_nothing_deleted(b, name, deadline, err);
    if (rc == FCB_OK) {
        svc_log(b->host, FCB_LOG_DEBUG, K8S_PLUGIN_NAME, "pod deleted", "pod", name, "namespace",
                b->ns, "deleted", result.deleted > 0 ? "true" : "false", NULL);
        return FCB_OK;
    }
    bool gave_up = rc == FCB_ERR_TIMEOUT || rc == FCB_ERR_UNAVAILABLE ||
                   (rc == FCB_ERR_BACKEND && (result.status == 429 || result.status >= 500));
    svc_log(b->host, FCB_LOG_WARN, K8S_PLUGIN_NAME, "k8s delete pod failed", "pod", name,
            "namespace", b->ns, "code", fcb_status_name(rc), "error",
            err != NULL ? err->message : "", NULL);
    if (gave_up)
        err_prefix(err, "terminate %s: not deleted within FAKECLOUD_K8S_TERMINATE_TIMEOUT_MS=%u ms",
                   handle, timeout);
    else
        err_prefix(err, "terminate %s", handle);
    return rc;
}

int k8s_backend_terminate(fcb_backend *b, const char *handle, fcb_error *err)
{
    char ns[64];
    char name[254];

    if (b == NULL)
        return err_set(err, FCB_ERR_INVALID_ARGUMENT, "backend is NULL");
    int rc = k8s_handle_parse(handle, ns, name, err);
    if (rc != FCB_OK)
        return rc;
    if (strcmp(ns, b->ns) != 0)
        return err_set(err, FCB_ERR_NOT_FOUND,
                       "terminate %s: pod %s is in namespace %s, not in this backend's namespace "
                       "%s; nothing deleted",
                       handle, name, ns, b->ns);
    rc = inflight_enter(&b->ops, K8S_WHO, err);
    if (rc != FCB_OK)
        return rc;
    rc = k8s_terminate_pod(b, handle, name, err);
    if (rc == FCB_OK)
        k8s_stats_terminated(&b->stats);
    inflight_leave(&b->ops); /* last: close() may free b once no operation is in flight */
    return rc;
}

/* ------------------------------------------------------------ reap */

int k8s_backend_reap_stale(fcb_backend *b, size_t *reaped, fcb_error *err)
{
    size_t pods = 0;
    size_t secrets = 0;

    if (reaped != NULL)
        *reaped = 0;
    if (b == NULL)
        return err_set(err, FCB_ERR_INVALID_ARGUMENT, "backend is NULL");
    int rc = inflight_enter(&b->ops, K8S_WHO, err);
    if (rc != FCB_OK)
        return rc;
    rc = k8s_reap_dead(b, &pods, &secrets, err);
    if (rc != FCB_OK) {
        svc_log(b->host, FCB_LOG_WARN, K8S_PLUGIN_NAME, "k8s reap_stale failed", "namespace", b->ns,
                "error", err != NULL ? err->message : "", NULL);
        err_prefix(err, "reap_stale in namespace %s", b->ns);
    } else if (pods > 0 || secrets > 0) {
        char np[32];
        char ns_count[32];
        snprintf(np, sizeof np, "%zu", pods);
        snprintf(ns_count, sizeof ns_count, "%zu", secrets);
        svc_log(b->host, FCB_LOG_INFO, K8S_PLUGIN_NAME,
                "reap_stale removed objects of dead fakecloud instances", "namespace", b->ns,
                "pods", np, "secrets", ns_count, NULL);
    }
    if (rc == FCB_OK && reaped != NULL)
        *reaped = pods;
    inflight_leave(&b->ops); /* last: close() may free b once no operation is in flight */
    return rc;
}
