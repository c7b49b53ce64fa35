/*
 * k8s_terminate: terminate (one owned delete of the handle's Pod, retried to
 * a deadline) and reap_stale (one owned delete per kind of every other
 * fakecloud instance's objects in the namespace).
 */
#include "k8s_internal.h"
#include "k8s_objects.h"

#include "names.h"
#include "clockx.h"
#include "svc.h"

#include <stdio.h>
#include <string.h>

/* ------------------------------------------------------------ terminate */

int k8s_handle_parse(const char *handle, char ns[64], char name[254], fcb_error *err)
{
    const char *p = handle;
    if (handle == NULL)
        return err_set(err, FCB_ERR_INVALID_ARGUMENT, "handle is NULL");
    if (strncmp(p, "pod/", 4) != 0)
        goto bad;
    p += 4;
    const char *slash = strchr(p, '/');
    if (slash == NULL || slash == p || (size_t)(slash - p) > 63)
        goto bad;
    memcpy(ns, p, (size_t)(slash - p));
    ns[slash - p] = '\0';
    const char *n = slash + 1;
    size_t len = strlen(n);
    if (len == 0 || len > 253 || !names_is_dns_label(ns))
        goto bad;
    for (size_t i = 0; i < len; i++) {
        char c = n[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.'))
            goto bad;
    }
    if (n[0] == '-' || n[0] == '.' || n[len - 1] == '-' || n[len - 1] == '.')
        goto bad;
    memcpy(name, n, len + 1);
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
    char path[K8S_PATH_MAX];
    kube_response resp = {0};
    json_object *labels = NULL;
    json_object *manager = NULL;

    if (k8s_pod_path(b->ns, name, NULL, path) != FCB_OK)
        return err_set(err, FCB_ERR_INVALID_ARGUMENT, "pod name too long: %.100s", name);
    unsigned remaining = clockx_remaining_ms(deadline);
    int rc =
        kube_request(b->client, "GET", path, NULL, NULL, 0, 0,
                     remaining > K8S_LOG_DEADLINE_MS ? remaining : K8S_LOG_DEADLINE_MS, &resp, err);
    bool managed = rc == FCB_OK && json_object_object_get_ex(resp.body, "metadata", &labels) &&
                   json_object_object_get_ex(labels, "labels", &labels) &&
                   json_object_object_get_ex(labels, LABEL_MANAGED_BY, &manager) &&
                   strcmp(json_object_get_string(manager), LABEL_MANAGED_BY_VALUE) == 0;
    kube_response_clear(b->client, &resp);
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

int k8s_backend_terminate(fcb_backend *b, const char *handle, fcb_error *err)
{
    char ns[64];
    char name[254];
    size_t deleted = 0;
    long status = 0;

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
    unsigned timeout = b->cfg->terminate_timeout_ms;
    uint64_t deadline = clockx_now_ms() + timeout;
    /* Throttling or an outage must not leave the Pod running: retry until the deadline. */
    rc = k8s_delete_collection(b, b->client, "pods", name, K8S_SELECTOR_MANAGED,
                               b->cfg->terminate_grace_seconds, KUBE_REQ_UNTIL_DEADLINE, timeout,
                               &deleted, &status, err);
    if (rc == FCB_OK && deleted == 0)
        rc = k8s_terminate_nothing_deleted(b, name, deadline, err);
    if (rc == FCB_OK) {
        svc_log(b->host, FCB_LOG_DEBUG, K8S_PLUGIN_NAME, "pod deleted", "pod", name, "namespace",
                ns, "deleted", deleted > 0 ? "true" : "false", NULL);
        inflight_leave(&b->ops);
        return FCB_OK;
    }
    bool gave_up = rc == FCB_ERR_TIMEOUT || rc == FCB_ERR_UNAVAILABLE ||
                   (rc == FCB_ERR_BACKEND && (status == 429 || status >= 500));
    svc_log(b->host, FCB_LOG_WARN, K8S_PLUGIN_NAME, "k8s delete pod failed", "pod", name,
            "namespace", ns, "code", fcb_status_name(rc), "error", err != NULL ? err->message : "",
            NULL);
    if (gave_up)
        err_prefix(err, "terminate %s: not deleted within FAKECLOUD_K8S_TERMINATE_TIMEOUT_MS=%u ms",
                   handle, timeout);
    else
        err_prefix(err, "terminate %s", handle);
    inflight_leave(&b->ops); /* last: close() may free b once no operation is in flight */
    return rc;
}

/* ------------------------------------------------------------ reap */

int k8s_backend_reap_stale(fcb_backend *b, size_t *reaped, fcb_error *err)
{
    char selector[128];
    size_t pods = 0;
    size_t secrets = 0;

    if (reaped != NULL)
        *reaped = 0;
    if (b == NULL)
        return err_set(err, FCB_ERR_INVALID_ARGUMENT, "backend is NULL");
    k8s_selector_foreign(b->instance_id, selector, sizeof selector);
    int rc = inflight_enter(&b->ops, K8S_WHO, err);
    if (rc != FCB_OK)
        return rc;
    /* The answers list every deleted object: asked as metadata only (3.4 MB
     * instead of 11.4 MB for 10 000 small Pods) and counted in one pass. */
    long status = 0;
    rc = k8s_delete_collection(b, b->client, "pods", NULL, selector, 0, 0, K8S_REQUEST_DEADLINE_MS,
                               &pods, &status, err);
    if (rc == FCB_OK)
        rc = k8s_delete_collection(b, b->client, "secrets", NULL, selector, 0, 0,
                                   K8S_REQUEST_DEADLINE_MS, &secrets, &status, err);
    if (rc != FCB_OK) {
        svc_log(b->host, FCB_LOG_WARN, K8S_PLUGIN_NAME, "k8s reap_stale failed", "namespace", b->ns,
                "error", err != NULL ? err->message : "", NULL);
        err_prefix(err, "reap_stale in namespace %s", b->ns);
        inflight_leave(&b->ops);
        return rc;
    }
    if (reaped != NULL)
        *reaped = pods;
    if (pods > 0 || secrets > 0) {
        char np[32];
        char ns_count[32];
        snprintf(np, sizeof np, "%zu", pods);
        snprintf(ns_count, sizeof ns_count, "%zu", secrets);
        svc_log(b->host, FCB_LOG_INFO, K8S_PLUGIN_NAME,
                "reap_stale removed objects of other fakecloud instances", "namespace", b->ns,
                "pods", np, "secrets", ns_count, NULL);
    }
    inflight_leave(&b->ops); /* last: close() may free b once no operation is in flight */
    return FCB_OK;
}
