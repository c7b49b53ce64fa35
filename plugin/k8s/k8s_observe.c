/*
 * k8s_observe: the read-only 1.1 operations on one instance, status (one
 * GET of the handle's Pod) and logs (pods/log of the runtime container).
 * Both follow terminate's ownership rule: a Pod without our managed-by
 * label is not ours, and nothing of it is read further.
 */
#include "k8s_internal.h"
#include "k8s_observe.h"

#include "kube_pods.h"
#include "labels.h"
#include "svc.h"

#include <stdio.h>
#include <string.h>

/* ------------------------------------------------------------ helpers */

static json_object *obs_get(json_object *obj, const char *key)
{
    json_object *v = NULL;
    if (obj == NULL || !json_object_object_get_ex(obj, key, &v))
        return NULL;
    return v;
}

static const char *obs_str(json_object *obj, const char *key)
{
    json_object *v = obs_get(obj, key);
    return v != NULL && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

static bool obs_ours(json_object *pod)
{
    const char *manager = kube_object_label(pod, LABEL_MANAGED_BY);
    return manager != NULL && strcmp(manager, LABEL_MANAGED_BY_VALUE) == 0;
}

/* status.containerStatuses[] entry of the runtime container, or NULL. */
static json_object *obs_main_container(json_object *pod)
{
    json_object *list = obs_get(obs_get(pod, "status"), "containerStatuses");
    if (list == NULL || !json_object_is_type(list, json_type_array))
        return NULL;
    for (size_t i = 0; i < json_object_array_length(list); i++) {
        json_object *c = json_object_array_get_idx(list, i);
        const char *name = obs_str(c, "name");
        if (name != NULL && strcmp(name, K8S_CONTAINER_MAIN) == 0)
            return c;
    }
    return NULL;
}

/* ------------------------------------------------------------ status */

void k8s_instance_status_read(json_object *pod, fcb_instance_status *out)
{
    out->state = FCB_INSTANCE_STARTING;
    out->exit_code = 0;
    out->reason[0] = '\0';
    json_object *state = obs_get(obs_main_container(pod), "state");
    json_object *term = obs_get(state, "terminated");
    if (term != NULL) {
        json_object *code = obs_get(term, "exitCode");
        const char *reason = obs_str(term, "reason");
        out->state = FCB_INSTANCE_EXITED;
        out->exit_code = code != NULL ? json_object_get_int(code) : 0;
        snprintf(out->reason, sizeof out->reason, "%s", reason != NULL ? reason : "");
        return;
    }
    const char *phase = obs_str(obs_get(pod, "status"), "phase");
    if (phase != NULL && (strcmp(phase, "Failed") == 0 || strcmp(phase, "Succeeded") == 0)) {
        /* Ended without the runtime container terminating (an init container failed,
         * eviction): the Pod's reason, or the phase. */
        const char *reason = obs_str(obs_get(pod, "status"), "reason");
        out->state = FCB_INSTANCE_EXITED;
        snprintf(out->reason, sizeof out->reason, "%s", reason != NULL ? reason : phase);
        return;
    }
    if (obs_get(state, "running") != NULL && phase != NULL && strcmp(phase, "Running") == 0)
        out->state = FCB_INSTANCE_RUNNING;
}

/* GET the handle's Pod; *pod is NULL (and FCB_OK) when it is gone or not ours. */
static int obs_get_ours(fcb_backend *b, const char *name, json_object **pod, fcb_error *err)
{
    int rc = kube_pods_get(b->client, b->ns, name, K8S_REQUEST_DEADLINE_MS, pod, err);
    if (rc == FCB_ERR_NOT_FOUND) {
        if (err != NULL)
            *err = (fcb_error)FCB_ERROR_INIT;
        return FCB_OK;
    }
    if (rc != FCB_OK)
        return rc;
    if (!obs_ours(*pod)) {
        json_object_put(*pod);
        *pod = NULL;
    }
    return FCB_OK;
}

/*
 * Parse HANDLE and enter the in-flight set. *name is "" (and FCB_OK) when
 * the handle is in another namespace: not ours.
 */
static int obs_enter(fcb_backend *b, const char *handle, const char *op, char name[254],
                     fcb_error *err)
{
    char ns[64];
    if (b == NULL)
        return err_set(err, FCB_ERR_INVALID_ARGUMENT, "backend is NULL");
    int rc = k8s_handle_parse(handle, ns, name, err);
    if (rc != FCB_OK) {
        err_prefix(err, "%s", op);
        return rc;
    }
    if (strcmp(ns, b->ns) != 0)
        name[0] = '\0';
    return inflight_enter(&b->ops, K8S_WHO, err);
}

int k8s_backend_status(fcb_backend *b, const char *handle, fcb_instance_status *out, fcb_error *err)
{
    char name[254];
    json_object *pod = NULL;

    if (out == NULL)
        return err_set(err, FCB_ERR_INVALID_ARGUMENT, "status: out is NULL");
    int rc = obs_enter(b, handle, "status", name, err);
    if (rc != FCB_OK)
        return rc;
    if (name[0] != '\0')
        rc = obs_get_ours(b, name, &pod, err);
    if (rc == FCB_OK && pod == NULL) {
        out->state = FCB_INSTANCE_GONE;
        out->exit_code = 0;
        out->reason[0] = '\0';
    } else if (rc == FCB_OK) {
        k8s_instance_status_read(pod, out);
    } else {
        err_prefix(err, "status %s", handle);
    }
    json_object_put(pod);
    inflight_leave(&b->ops); /* last: close() may free b once no operation is in flight */
    return rc;
}
