/*
 * k8s_observe: the read-only 1.1 operations on one instance, status (one
 * GET of the handle's Pod) and logs (pods/log of the runtime container).
 * Both follow terminate's ownership rule: a Pod without our managed-by
 * label is not ours, and nothing of it is read further.
 */
#include "k8s_cancel.h"
#include "k8s_internal.h"
#include "k8s_observe.h"

#include "clockx.h"
#include "kube_pods.h"
#include "labels.h"
#include "svc.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* A follow's bound: a day (a loop bounded in time; hosts re-follow). */
#define K8S_LOG_FOLLOW_MAX_MS (24u * 3600u * 1000u)
/* max_bytes 0: 1 MiB. */
#define K8S_LOG_DEFAULT_MAX_BYTES (1u << 20)

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

int k8s_pod_get_ours(fcb_backend *b, const char *name, json_object **pod, fcb_error *err)
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

int k8s_instance_enter(fcb_backend *b, const char *handle, const char *op, char name[254],
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
    int rc = k8s_instance_enter(b, handle, "status", name, err);
    if (rc != FCB_OK)
        return rc;
    if (name[0] != '\0')
        rc = k8s_pod_get_ours(b, name, &pod, err);
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

/* ------------------------------------------------------------ logs */

/* Delivers chunks to the host, at most `left` bytes in total. */
typedef struct obs_log_sink {
    const fcb_logs_request *req;
    size_t left;
} obs_log_sink;

static bool obs_log_chunk(void *ctx, const char *data, size_t len)
{
    obs_log_sink *s = ctx;
    size_t n = len < s->left ? len : s->left;
    if (n > 0 && s->req->on_data(s->req->sink_ctx, FCB_LOG_COMBINED, data, n) != 0)
        return false;
    s->left -= n;
    return s->left > 0;
}

/* Check REQ; fill the stream options (since_time is the caller's 32 bytes). */
static int obs_log_opts(const fcb_logs_request *req, char since_time[32],
                        kube_pod_log_stream_opts *opts, fcb_error *err)
{
    if (req == NULL || req->size < offsetof(fcb_logs_request, cancel))
        return err_set(err, FCB_ERR_INVALID_ARGUMENT,
                       req == NULL ? "logs: request is NULL" : "logs: request.size is too small");
    if (req->on_data == NULL)
        return err_set(err, FCB_ERR_INVALID_ARGUMENT, "logs: request.on_data is NULL");
    if (req->since_unix_ms < 0)
        return err_set(err, FCB_ERR_INVALID_ARGUMENT,
                       "logs: request.since_unix_ms %lld is negative",
                       (long long)req->since_unix_ms);
    *opts = (kube_pod_log_stream_opts){
        .container = K8S_CONTAINER_MAIN,
        .tail_lines = req->tail_lines,
        .limit_bytes = req->max_bytes != 0 ? req->max_bytes : K8S_LOG_DEFAULT_MAX_BYTES,
        .follow = req->follow != 0,
        .deadline_ms = req->follow != 0 ? K8S_LOG_FOLLOW_MAX_MS : K8S_REQUEST_DEADLINE_MS,
        .sink = obs_log_chunk};
    if (req->since_unix_ms > 0) {
        /* sinceTime has second precision: round down, never losing a line. */
        time_t secs = (time_t)(req->since_unix_ms / 1000);
        struct tm tm;
        if (gmtime_r(&secs, &tm) == NULL ||
            strftime(since_time, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
            return err_set(err, FCB_ERR_INVALID_ARGUMENT,
                           "logs: request.since_unix_ms %lld is out of range",
                           (long long)req->since_unix_ms);
        opts->since_time = since_time;
    }
    return FCB_OK;
}

/* Stream the runtime container's log of our Pod NAME to REQ->on_data. */
static int obs_logs(fcb_backend *b, const char *name, const fcb_logs_request *req,
                    kube_pod_log_stream_opts *opts, fcb_error *err)
{
    json_object *pod = NULL;
    k8s_canceller canceller;
    fcb_cancel none = {0};

    int rc = name[0] != '\0' ? k8s_pod_get_ours(b, name, &pod, err) : FCB_OK;
    if (rc != FCB_OK)
        return rc;
    if (pod == NULL)
        return err_set(err, FCB_ERR_NOT_FOUND,
                       "no pod %s managed by fakecloud in namespace %s (gone, or not ours)",
                       name[0] != '\0' ? name : "(other namespace)", b->ns);
    json_object_put(pod);
    rc = k8s_canceller_start(&canceller,
                             FCB_HAS_MEMBER(req, fcb_logs_request, cancel) ? req->cancel : none,
                             NULL, "logs", err);
    if (rc != FCB_OK)
        return rc;
    obs_log_sink sink = {.req = req, .left = opts->limit_bytes};
    opts->sink_ctx = &sink;
    opts->stop = &canceller.stop;
    if (atomic_load(&canceller.stop))
        rc = err_set(err, FCB_ERR_CANCELLED, "cancelled");
    else
        rc = kube_pods_log_stream(b->client, b->ns, name, opts, err);
    k8s_canceller_stop(&canceller);
    return rc;
}

int k8s_backend_logs(fcb_backend *b, const char *handle, const fcb_logs_request *req,
                     fcb_error *err)
{
    char name[254];
    char since_time[32];
    kube_pod_log_stream_opts opts;

    int rc = obs_log_opts(req, since_time, &opts, err);
    if (rc != FCB_OK)
        return rc;
    rc = k8s_instance_enter(b, handle, "logs", name, err);
    if (rc != FCB_OK)
        return rc;
    rc = obs_logs(b, name, req, &opts, err);
    if (rc != FCB_OK)
        err_prefix(err, "logs %s", handle);
    inflight_leave(&b->ops); /* last: close() may free b once no operation is in flight */
    return rc;
}
