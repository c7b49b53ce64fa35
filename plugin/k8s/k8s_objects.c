/*
 * k8s_objects: owned create and delete of the Pods and the token Secret.
 *
 * A create whose outcome is unknown (our own retry, no answer, a 5xx, an
 * unreadable 2xx) is treated as "maybe created": we chose the name, so the
 * caller deletes it by name. A 409 is resolved with a GET of the nonce
 * annotation: ours, absent (create again), or someone else's.
 */
#include "k8s_objects.h"

#include "clockx.h"
#include "kube_pods.h"
#include "kube_secrets.h"
#include "svc.h"

#include <stdio.h>
#include <string.h>

#define K8S_CREATE_ATTEMPTS 4
#define K8S_LOG_TAIL_LINES  20

int k8s_delete_ours(fcb_backend *b, kube_client *client, k8s_object kind, const char *name,
                    fcb_error *err)
{
    char selector[128];
    kube_delete_result result;
    int rc = FCB_ERR_NO_MEMORY;

    k8s_selector_ours(b->instance_id, selector, sizeof selector);
    kube_delete_opts opts = {.label_selector = selector, .deadline_ms = K8S_CLEANUP_DEADLINE_MS};
    for (int attempt = 0; attempt < 3 && rc == FCB_ERR_NO_MEMORY; attempt++) {
        if (kind == K8S_OBJECT_POD)
            rc = kube_pods_delete_owned(client, b->ns, name, &opts, &result, err);
        else if (name != NULL)
            rc = kube_secrets_delete_owned(client, b->ns, name, &opts, &result, err);
        else
            rc = kube_secrets_delete_collection(client, b->ns, &opts, &result, err);
    }
    return rc;
}

/* Append the end of TEXT (LEN bytes) to err's message, after a line naming CONTAINER. */
static void k8s_append_tail(fcb_error *err, const char *container, const char *text, size_t len)
{
    size_t used = strlen(err->message);
    size_t room = sizeof err->message - used;

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

void k8s_append_logs(fcb_backend *b, const char *pod, const char *container, fcb_error *err)
{
    fcb_error log_err = FCB_ERROR_INIT;
    char *text = NULL;
    size_t len = 0;

    kube_pod_log_opts opts = {.container = container,
                              .tail_lines = K8S_LOG_TAIL_LINES,
                              .deadline_ms = K8S_LOG_DEADLINE_MS};
    int rc = kube_pods_log(b->client, b->ns, pod, &opts, &text, &len, &log_err);
    if (rc != FCB_OK) {
        size_t used = strlen(err->message);
        snprintf(err->message + used, sizeof err->message - used, "; logs of %s unavailable: %s",
                 container, log_err.message);
    } else {
        k8s_append_tail(err, container, text != NULL ? text : "", text != NULL ? len : 0);
    }
    svc_free(b->host, text);
}

/* True when the Pod object carries our instance label and NONCE. */
static bool k8s_pod_is_ours(const fcb_backend *b, json_object *pod, const char *nonce)
{
    const char *instance = kube_object_label(pod, LABEL_INSTANCE);
    const char *annotation = kube_object_annotation(pod, K8S_ANNOTATION_NONCE);
    return instance != NULL && strcmp(instance, b->instance_id) == 0 && annotation != NULL &&
           strcmp(annotation, nonce) == 0;
}

/*
 * A create of NAME answered 409: GET it. Ours (our own earlier attempt
 * succeeded) -> FCB_OK; someone else's -> *collision; absent ->
 * FCB_ERR_NOT_FOUND (create again); anything else: it may exist.
 */
static int k8s_create_conflict(fcb_backend *b, const char *name, const char *nonce,
                               uint64_t deadline, bool retried, bool *collision,
                               k8s_create_result *result, fcb_error *err)
{
    fcb_error get_err = FCB_ERROR_INIT;
    json_object *pod = NULL;

    int rc = kube_pods_get(b->client, b->ns, name, clockx_remaining_ms(deadline), &pod, &get_err);
    bool ours = rc == FCB_OK && k8s_pod_is_ours(b, pod, nonce);
    json_object_put(pod);
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
    }
    return rc;
}

int k8s_create_pod(fcb_backend *b, const char *name, const char *nonce, const char *body,
                   uint64_t deadline, bool *collision, k8s_create_result *result, fcb_error *err)
{
    int rc = FCB_ERR_INTERNAL;

    *collision = false;
    *result = K8S_NOT_CREATED;
    for (int attempt = 0; attempt < K8S_CREATE_ATTEMPTS; attempt++) {
        kube_create_result created;
        unsigned remaining = clockx_remaining_ms(deadline);
        if (remaining == 0)
            return err_set(err, FCB_ERR_TIMEOUT, "pod %s: launch deadline passed while creating",
                           name);
        rc = kube_pods_create(b->client, b->ns, body, strlen(body), remaining, &created, err);
        if (rc == FCB_OK) {
            *result = K8S_CREATED;
            return FCB_OK;
        }
        if (!created.conflict) {
            if (created.maybe_created)
                *result = K8S_MAYBE_CREATED;
            return rc;
        }
        rc = k8s_create_conflict(b, name, nonce, deadline, created.retried, collision, result, err);
        if (rc != FCB_ERR_NOT_FOUND)
            return rc;
        /* Absent: the 409 was spurious; create again. */
    }
    return err_set(err, FCB_ERR_BACKEND,
                   "pod %s: create answered 409 AlreadyExists %d times but the pod does not exist",
                   name, K8S_CREATE_ATTEMPTS);
}

int k8s_secret_create(fcb_backend *b, uint64_t deadline, fcb_error *err)
{
    json_object *secret = NULL;
    kube_create_result created;
    uint32_t remaining = clockx_remaining_ms(deadline);

    if (remaining == 0)
        return err_set(err, FCB_ERR_TIMEOUT,
                       "launch deadline passed before the token Secret was created");

    k8s_token_secret_name(b->instance_id, b->secret_name);
    int rc = k8s_secret_build(b->ns, b->secret_name, b->instance_id, b->token, &secret, err);
    if (rc != FCB_OK) {
        err_prefix(err, "create token Secret %s/%s", b->ns, b->secret_name);
        return rc;
    }
    const char *body = json_object_to_json_string_ext(secret, JSON_C_TO_STRING_PLAIN);
    if (body == NULL) {
        json_object_put(secret);
        return err_set(err, FCB_ERR_NO_MEMORY, "out of memory serialising the token Secret");
    }
    rc = kube_secrets_create(
        b->client, b->ns, body, strlen(body),
        remaining < K8S_REQUEST_DEADLINE_MS ? remaining : K8S_REQUEST_DEADLINE_MS, &created, err);
    json_object_put(secret);
    /* Our own retry, or an earlier attempt, after an unknown outcome: the Secret
     * (named after our random instance id) is ours. */
    if (created.conflict && (created.retried || b->secret_unknown))
        rc = FCB_OK;
    if (rc == FCB_OK) {
        b->have_secret = true;
        b->secret_unknown = false;
        return FCB_OK;
    }
    if (created.maybe_created) {
        fcb_error del_err = FCB_ERROR_INIT;
        b->secret_unknown = true; /* a create the server is still working on lands later */
        if (rc != FCB_ERR_CANCELLED)
            k8s_delete_ours(b, b->client, K8S_OBJECT_SECRET, b->secret_name, &del_err);
    }
    err_prefix(err, "create token Secret %s/%s", b->ns, b->secret_name);
    return rc;
}

void k8s_secret_delete(fcb_backend *b, kube_client *client)
{
    fcb_error err = FCB_ERROR_INIT;

    if (!b->have_secret && !b->secret_unknown && !b->secrets_left)
        return;
    /* NULL: every Secret of this instance (token and leftover credentials) at once. */
    int rc = k8s_delete_ours(b, client, K8S_OBJECT_SECRET, b->secrets_left ? NULL : b->secret_name,
                             &err);
    if (rc != FCB_OK) {
        svc_log(b->host, FCB_LOG_WARN, K8S_PLUGIN_NAME,
                "could not delete the token Secret; reap_stale of a later instance removes it",
                "secret", b->secret_name, "namespace", b->ns, "error", err.message, NULL);
        return;
    }
    b->have_secret = false;
    b->secret_unknown = false;
    b->secrets_left = false;
}

int k8s_credentials_create(fcb_backend *b, const char *name, const char *body, uint64_t deadline,
                           bool *collision, k8s_create_result *state, fcb_error *err)
{
    kube_create_result created;
    uint32_t remaining = clockx_remaining_ms(deadline);

    *collision = false;
    if (remaining == 0)
        return err_set(err, FCB_ERR_TIMEOUT,
                       "launch deadline passed before the credentials Secret %s was created", name);
    int rc = kube_secrets_create(
        b->client, b->ns, body, strlen(body),
        remaining < K8S_REQUEST_DEADLINE_MS ? remaining : K8S_REQUEST_DEADLINE_MS, &created, err);
    if (created.conflict && created.retried)
        rc = FCB_OK; /* our own earlier attempt landed: the name has our random nonce */
    if (rc == FCB_OK) {
        *state = K8S_CREATED;
        return FCB_OK;
    }
    if (created.conflict) {
        *collision = true;
        return err_set(err, FCB_ERR_BACKEND, "Secret %s/%s already exists and is not ours", b->ns,
                       name);
    }
    if (created.maybe_created)
        *state = K8S_MAYBE_CREATED;
    err_prefix(err, "create credentials Secret %s/%s", b->ns, name);
    return rc;
}

void k8s_credentials_delete(fcb_backend *b, const char *name, k8s_create_result *state)
{
    fcb_error err = FCB_ERROR_INIT;

    if (*state == K8S_NOT_CREATED)
        return;
    *state = K8S_NOT_CREATED;
    int rc = k8s_delete_ours(b, b->client, K8S_OBJECT_SECRET, name, &err);
    if (rc == FCB_OK)
        return;
    inflight_lock(&b->ops);
    b->secrets_left = true;
    inflight_unlock(&b->ops);
    if (rc != FCB_ERR_CANCELLED)
        svc_log(b->host, FCB_LOG_WARN, K8S_PLUGIN_NAME,
                "could not delete a launch's credentials Secret; close (or reap_stale of a later "
                "instance) removes it",
                "secret", name, "namespace", b->ns, "error", err.message, NULL);
}
