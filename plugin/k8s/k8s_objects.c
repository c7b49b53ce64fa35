/*
 * k8s_objects: owned create and delete of the Pods and the token Secret.
 *
 * A create whose outcome is unknown (our own retry, no answer, a 5xx, an
 * unreadable 2xx) is treated as "maybe created": we chose the name, so the
 * caller deletes it by name. A 409 is resolved with a GET of the nonce
 * annotation: ours, absent (create again), or someone else's.
 */
#include "k8s_objects.h"

#include "jsonx.h"
#include "clockx.h"
#include "svc.h"

#include <stdio.h>
#include <string.h>

#define K8S_CREATE_ATTEMPTS 4
#define K8S_LOG_TAIL_LINES  20

int k8s_pod_path(const char *ns, const char *name, const char *suffix, char out[K8S_PATH_MAX])
{
    int n = snprintf(out, K8S_PATH_MAX, "/api/v1/namespaces/%s/pods/%s%s", ns, name,
                     suffix != NULL ? suffix : "");
    return n > 0 && n < K8S_PATH_MAX ? FCB_OK : FCB_ERR_INVALID_ARGUMENT;
}

int k8s_delete_collection(fcb_backend *b, kube_client *client, const char *kind, const char *name,
                          const char *selector, unsigned grace, unsigned flags,
                          unsigned deadline_ms, size_t *count, long *status, fcb_error *err)
{
    char path[K8S_PATH_MAX];
    char field[300] = "";
    char grace_q[40] = "";
    kube_response resp = {0};

    *count = 0;
    *status = 0;
    char *escaped = k8s_url_escape(b->host, selector);
    if (escaped == NULL)
        return err_set(err, FCB_ERR_NO_MEMORY, "out of memory");
    /* Names are DNS-1123 ([a-z0-9.-]): nothing to escape in the selector value. */
    if (name != NULL)
        snprintf(field, sizeof field, "fieldSelector=metadata.name%%3D%s&", name);
    if (strcmp(kind, "pods") == 0)
        snprintf(grace_q, sizeof grace_q, "&gracePeriodSeconds=%u", grace);
    int n = snprintf(path, sizeof path, "/api/v1/namespaces/%s/%s?%slabelSelector=%s%s", b->ns,
                     kind, field, escaped, grace_q);
    svc_free(b->host, escaped);
    if (n < 0 || (size_t)n >= sizeof path)
        return err_set(err, FCB_ERR_INVALID_ARGUMENT, "delete %s: path too long", kind);
    int rc = kube_request(client, "DELETE", path, NULL, NULL, 0,
                          KUBE_REQ_RAW | KUBE_REQ_METADATA | flags, deadline_ms, &resp, err);
    *status = resp.status;
    if (rc == FCB_OK && !jsonx_count_member_array(resp.raw, resp.raw_len, "items", count))
        rc = err_set(err, FCB_ERR_BACKEND, "k8s DELETE %s collection: the answer is not a list",
                     kind);
    kube_response_clear(client, &resp);
    return rc;
}

int k8s_delete_ours(fcb_backend *b, kube_client *client, const char *kind, const char *name,
                    fcb_error *err)
{
    char selector[128];
    size_t count = 0;
    long status = 0;
    int rc = FCB_ERR_NO_MEMORY;

    k8s_selector_ours(b->instance_id, selector, sizeof selector);
    for (int attempt = 0; attempt < 3 && rc == FCB_ERR_NO_MEMORY; attempt++)
        rc = k8s_delete_collection(b, client, kind, name, selector, 0, 0, K8S_CLEANUP_DEADLINE_MS,
                                   &count, &status, err);
    return rc;
}

void k8s_append_logs(fcb_backend *b, const char *pod, const char *container, fcb_error *err)
{
    char path[K8S_PATH_MAX];
    char suffix[160];
    kube_response resp = {0};
    fcb_error log_err = FCB_ERROR_INIT;

    snprintf(suffix, sizeof suffix, "/log?container=%s&tailLines=%d", container,
             K8S_LOG_TAIL_LINES);
    if (k8s_pod_path(b->ns, pod, suffix, path) != FCB_OK)
        return;
    int rc = kube_request(b->client, "GET", path, NULL, NULL, 0, KUBE_REQ_RAW, K8S_LOG_DEADLINE_MS,
                          &resp, &log_err);
    size_t used = strlen(err->message);
    size_t room = sizeof err->message - used;
    if (rc != FCB_OK) {
        snprintf(err->message + used, room, "; logs of %s unavailable: %s", container,
                 log_err.message);
    } else {
        const char *text = resp.raw != NULL ? resp.raw : "";
        size_t len = resp.raw != NULL ? resp.raw_len : 0;
        while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r'))
            len--;
        /* Keep the end of the log: that is where the reason is. */
        size_t max_tail = room > 64 ? room - 64 : 0;
        const char *start = text;
        if (len > max_tail) {
            start = text + (len - max_tail);
            len = max_tail;
        }
        int n = snprintf(err->message + used, room, "; last log lines of %s:\n", container);
        if (n > 0 && (size_t)n < room) {
            used += (size_t)n;
            room -= (size_t)n;
            if (len >= room)
                len = room - 1;
            memcpy(err->message + used, start, len);
            err->message[used + len] = '\0';
        }
    }
    kube_response_clear(b->client, &resp);
}

/* True when the Pod object carries our instance label and NONCE. */
static bool k8s_pod_is_ours(fcb_backend *b, json_object *pod, const char *nonce)
{
    json_object *meta = NULL;
    json_object *labels = NULL;
    json_object *ann = NULL;
    json_object *v = NULL;

    if (!json_object_object_get_ex(pod, "metadata", &meta))
        return false;
    if (!json_object_object_get_ex(meta, "labels", &labels) ||
        !json_object_object_get_ex(labels, LABEL_INSTANCE, &v) ||
        strcmp(json_object_get_string(v), b->instance_id) != 0)
        return false;
    return json_object_object_get_ex(meta, "annotations", &ann) &&
           json_object_object_get_ex(ann, K8S_ANNOTATION_NONCE, &v) &&
           strcmp(json_object_get_string(v), nonce) == 0;
}

/*
 * Whether a failed create may nevertheless have created the object: our own
 * retry, no answer, a 5xx, or a 2xx whose body could not be read (not JSON,
 * or over the response limit, which ends the transfer before the status is
 * kept: FCB_ERR_BACKEND with status 0). We chose the name, so the caller
 * deletes it by name to be sure.
 */
static bool k8s_create_outcome_unknown(int rc, long status, bool retried)
{
    if (retried || rc == FCB_ERR_TIMEOUT || rc == FCB_ERR_CANCELLED || rc == FCB_ERR_UNAVAILABLE)
        return true;
    if ((status >= 200 && status < 300) || status >= 500)
        return true;
    return rc == FCB_ERR_BACKEND && status == 0;
}

int k8s_create_pod(fcb_backend *b, const char *name, const char *nonce, const char *body,
                   uint64_t deadline, bool *collision, k8s_create_result *result, fcb_error *err)
{
    int rc = FCB_ERR_INTERNAL;
    char path[K8S_PATH_MAX];

    *collision = false;
    *result = K8S_NOT_CREATED;
    if (k8s_pod_path(b->ns, name, NULL, path) != FCB_OK)
        return err_set(err, FCB_ERR_INVALID_ARGUMENT, "pod path too long");
    for (int attempt = 0; attempt < K8S_CREATE_ATTEMPTS; attempt++) {
        kube_response resp = {0};
        unsigned remaining = clockx_remaining_ms(deadline);
        if (remaining == 0)
            return err_set(err, FCB_ERR_TIMEOUT, "pod %s: launch deadline passed while creating",
                           name);
        rc = kube_request(b->client, "POST", b->pods_path, NULL, body, strlen(body),
                          KUBE_REQ_CREATE, remaining, &resp, err);
        long status = resp.status;
        bool retried = resp.retried;
        kube_response_clear(b->client, &resp);
        if (rc == FCB_OK) {
            *result = K8S_CREATED;
            return FCB_OK;
        }
        if (rc != FCB_ERR_BACKEND || status != 409) {
            if (k8s_create_outcome_unknown(rc, status, retried))
                *result = K8S_MAYBE_CREATED;
            return rc;
        }
        fcb_error get_err = FCB_ERROR_INIT;
        rc = kube_request(b->client, "GET", path, NULL, NULL, 0, 0, clockx_remaining_ms(deadline),
                          &resp, &get_err);
        bool ours = rc == FCB_OK && k8s_pod_is_ours(b, resp.body, nonce);
        kube_response_clear(b->client, &resp);
        svc_log(b->host, FCB_LOG_DEBUG, K8S_PLUGIN_NAME, "pod create returned 409; checked owner",
                "pod", name, "ours", ours ? "true" : "false", "retried", retried ? "true" : "false",
                NULL);
        if (ours) {
            *result = K8S_CREATED;
            return FCB_OK;
        }
        if (rc == FCB_OK) {
            *collision = true;
            return err_set(err, FCB_ERR_BACKEND, "pod %s already exists and is not ours", name);
        }
        if (rc != FCB_ERR_NOT_FOUND) {
            *result = K8S_MAYBE_CREATED;
            if (err != NULL)
                *err = get_err;
            return rc;
        }
        /* Absent: the 409 was spurious; create again. */
    }
    return err_set(err, FCB_ERR_BACKEND,
                   "pod %s: create answered 409 AlreadyExists %d times but the pod does not exist",
                   name, K8S_CREATE_ATTEMPTS);
}

int k8s_secret_create(fcb_backend *b, fcb_error *err)
{
    json_object *secret = NULL;
    kube_response resp = {0};
    char path[K8S_PATH_MAX];

    k8s_token_secret_name(b->instance_id, b->secret_name);
    int rc = k8s_secret_build(b->ns, b->secret_name, b->instance_id, b->token, &secret, err);
    if (rc != FCB_OK) {
        err_prefix(err, "create token Secret %s/%s", b->ns, b->secret_name);
        return rc;
    }
    snprintf(path, sizeof path, "/api/v1/namespaces/%s/secrets", b->ns);
    const char *body = json_object_to_json_string_ext(secret, JSON_C_TO_STRING_PLAIN);
    if (body == NULL) {
        json_object_put(secret);
        return err_set(err, FCB_ERR_NO_MEMORY, "out of memory serialising the token Secret");
    }
    rc = kube_request(b->client, "POST", path, NULL, body, strlen(body), KUBE_REQ_CREATE,
                      K8S_REQUEST_DEADLINE_MS, &resp, err);
    long status = resp.status;
    bool retried = resp.retried;
    kube_response_clear(b->client, &resp);
    json_object_put(secret);
    /* Our own retry, or an earlier attempt, after an unknown outcome: the Secret
     * (named after our random instance id) is ours. */
    if (rc == FCB_ERR_BACKEND && status == 409 && (retried || b->secret_unknown))
        rc = FCB_OK;
    if (rc == FCB_OK) {
        b->have_secret = true;
        b->secret_unknown = false;
        return FCB_OK;
    }
    if (k8s_create_outcome_unknown(rc, status, retried)) {
        fcb_error del_err = FCB_ERROR_INIT;
        b->secret_unknown =
            rc == FCB_ERR_CANCELLED ||
            k8s_delete_ours(b, b->client, "secrets", b->secret_name, &del_err) != FCB_OK;
    }
    err_prefix(err, "create token Secret %s/%s", b->ns, b->secret_name);
    return rc;
}

void k8s_secret_delete(fcb_backend *b, kube_client *client)
{
    fcb_error err = FCB_ERROR_INIT;

    if (!b->have_secret && !b->secret_unknown)
        return;
    int rc = k8s_delete_ours(b, client, "secrets", b->secret_name, &err);
    if (rc != FCB_OK) {
        svc_log(b->host, FCB_LOG_WARN, K8S_PLUGIN_NAME,
                "could not delete the token Secret; reap_stale of a later instance removes it",
                "secret", b->secret_name, "namespace", b->ns, "error", err.message, NULL);
        return;
    }
    b->have_secret = false;
    b->secret_unknown = false;
}
