/*
 * k8s_launch: launch and prepull, the two operations that create a Pod and
 * wait for it.
 *
 * launch = read the caller's request -> vet code and layers -> build the
 * Pod -> ensure the watch (and token Secret) -> create -> wait Running on
 * the shared watch (or fail fast with the Kubernetes reason and the failing
 * container's last log lines) -> probe the RIE -> the instance. Anything a
 * failed launch created is deleted (gracePeriodSeconds=0), also when the
 * host's cancel token fired (polled by the waits); a launch interrupted by
 * close() leaves its Pod's name for close() to delete.
 */
#include "k8s_internal.h"
#include "k8s_invoke.h"
#include "k8s_objects.h"
#include "k8s_waiters.h"

#include "abi_struct.h"
#include "clockx.h"
#include "svc.h"
#include "ziptar.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

/* One Pod a launch or prepull creates and waits for. */
typedef struct k8s_attempt {
    k8s_waiter w;       /* w.name is the Pod's name */
    k8s_orphan *orphan; /* reserved at the start, for close() */
    char nonce[33];
    bool registered;
    k8s_create_result created;
    k8s_pod_state state;
    k8s_create_result creds; /* the launch's credentials Secret creds_name */
    char creds_name[K8S_SECRET_NAME_MAX];
} k8s_attempt;

/* A launch: the caller's structs read by size, and the deadlines. */
typedef struct k8s_launch {
    fcb_launch_request req; /* req.function points at fn */
    fcb_function fn;
    const char *fn_name;
    uint64_t start;
    uint64_t deadline;         /* the whole launch: deadline_ms or both timeouts */
    uint64_t running_deadline; /* Running with an IP */
    uint64_t created_at;
    uint64_t running_at;
    char ip[sizeof(((k8s_pod_state *)0)->pod_ip)];
} k8s_launch;

/* ------------------------------------------------------------ one Pod */

/*
 * Enter the operation (close() waits for it; FCB_ERR_CANCELLED once closing)
 * and reserve what the attempt needs before anything is created, so handing
 * an interrupted attempt's Pod to close() cannot fail later. On FCB_OK the
 * caller ends with k8s_attempt_finish, then inflight_leave.
 */
static int k8s_attempt_start(fcb_backend *b, k8s_attempt *a, const char *what, fcb_error *err)
{
    memset(a, 0, sizeof *a);
    a->created = K8S_NOT_CREATED;
    a->creds = K8S_NOT_CREATED;
    int rc = inflight_enter(&b->ops, K8S_WHO, err);
    if (rc != FCB_OK)
        return rc;
    a->orphan = svc_calloc(b->host, 1, sizeof *a->orphan);
    if (a->orphan != NULL && clockx_cond_init(&a->w.cond) == 0)
        return FCB_OK;
    rc = a->orphan == NULL
             ? err_set(err, FCB_ERR_NO_MEMORY, "out of memory starting a %s", what)
             : err_set(err, FCB_ERR_INTERNAL, "cannot initialise a condition variable");
    svc_free(b->host, a->orphan);
    inflight_leave(&b->ops);
    return rc;
}

/* Unregister, delete the Pod when DELETE_POD and it may exist, free. */
static void k8s_attempt_finish(fcb_backend *b, k8s_attempt *a, bool delete_pod)
{
    if (a->registered)
        k8s_waiter_unregister(b, &a->w);
    if (delete_pod && a->created != K8S_NOT_CREATED)
        k8s_launch_cleanup(b, a->w.name, &a->orphan);
    k8s_credentials_delete(b, a->creds_name, &a->creds); /* read at container start: done */
    svc_free(b->host, a->orphan);
    pthread_cond_destroy(&a->w.cond);
}

/*
 * Start the watch (and the Secret when SECRET), create the credentials
 * Secret CREDS (JSON text, may be NULL), register the waiter and create the
 * Pod BODY before DEADLINE. *collision: the name is taken by someone else's
 * object (the waiter is unregistered again).
 */
static int k8s_attempt_create(fcb_backend *b, k8s_attempt *a, const char *body, bool secret,
                              const char *creds, uint64_t deadline, bool *collision, fcb_error *err)
{
    *collision = false;
    int rc = k8s_ensure_started(b, secret, deadline, err);
    if (rc == FCB_OK && creds != NULL)
        rc = k8s_credentials_create(b, a->creds_name, creds, deadline, collision, &a->creds, err);
    if (rc != FCB_OK)
        return rc;
    k8s_waiter_register(b, &a->w);
    a->registered = true;
    rc = k8s_create_pod(b, a->w.name, a->nonce, body, deadline, collision, &a->created, err);
    if (rc == FCB_OK) {
        k8s_waiter_created(b, &a->w);
    } else if (*collision) {
        k8s_waiter_unregister(b, &a->w);
        a->registered = false;
        k8s_credentials_delete(b, a->creds_name, &a->creds);
    }
    return rc;
}

/* ------------------------------------------------------------ launch steps */

/*
 * Read the caller's structs only up to the size it declared (fields beyond
 * it read as zero), and check the instance has room for what we write.
 */
static int k8s_launch_read(const fcb_launch_request *request, const fcb_instance *out,
                           k8s_launch *l, fcb_error *err)
{
    memset(l, 0, sizeof *l);
    int rc = ABI_STRUCT_READ(&l->req, request, deploy_id, "launch: request", err);
    if (rc == FCB_OK)
        rc =
            ABI_STRUCT_READ(&l->fn, l->req.function, package_type, "launch: request.function", err);
    if (rc == FCB_OK)
        rc = ABI_STRUCT_CHECK_OUT(out, handle, "launch: fcb_instance", err);
    /* A Pod cannot mount a directory of the host running this plugin (no FCB_CAP_HOT_RELOAD). */
    if (rc == FCB_OK && l->req.code_dir != NULL)
        rc = err_set(err, FCB_ERR_UNSUPPORTED,
                     "code_dir: hot reload (code from a host directory) is not supported by the "
                     "k8s backend: a Pod cannot mount a directory of this host; deploy a zip");
    l->req.function = &l->fn;
    l->fn_name = l->fn.function_name;
    return rc;
}

/* deadline_ms, when set, bounds the whole launch; else the two timeouts add up. */
static void k8s_launch_deadlines(const fcb_backend *b, k8s_launch *l)
{
    l->start = clockx_now_ms();
    uint64_t budget = l->req.deadline_ms != 0
                          ? l->req.deadline_ms
                          : (uint64_t)b->cfg->running_timeout_ms + b->cfg->rie_timeout_ms;
    l->deadline = l->start + budget;
    l->running_deadline = l->start + b->cfg->running_timeout_ms;
    if (l->running_deadline > l->deadline)
        l->running_deadline = l->deadline;
}

/* Name, build and create the Pod; a name someone else's Pod took gets a new nonce. */
static int k8s_launch_create(fcb_backend *b, k8s_launch *l, k8s_attempt *a, fcb_error *err)
{
    int rc = FCB_ERR_INTERNAL;

    for (int naming = 0; naming < 3; naming++) {
        json_object *pod = NULL, *creds = NULL;
        bool collision = false;
        rc = k8s_nonce_new(b, a->nonce, err);
        if (rc != FCB_OK)
            break;
        k8s_pod_name(l->fn_name, l->req.deploy_id, a->nonce, a->w.name);
        k8s_credentials_secret_name(a->w.name, a->creds_name);
        k8s_pod_input in = {.config = b->cfg,
                            .namespace_name = b->ns,
                            .instance_id = b->instance_id,
                            .token_secret = b->token != NULL ? b->secret_name : NULL,
                            .pod_name = a->w.name,
                            .nonce = a->nonce,
                            .request = &l->req,
                            .now_unix_s = (int64_t)time(NULL),
                            .credentials_secret = a->creds_name};
        rc = k8s_pod_build_objects(b->host, &in, &pod, &creds, err);
        if (rc != FCB_OK)
            return rc; /* a refused input makes no API request */
        const char *body = json_object_to_json_string_ext(pod, JSON_C_TO_STRING_PLAIN);
        const char *creds_body =
            creds != NULL ? json_object_to_json_string_ext(creds, JSON_C_TO_STRING_PLAIN) : NULL;
        if (body == NULL || (creds != NULL && creds_body == NULL))
            rc = err_set(err, FCB_ERR_NO_MEMORY, "out of memory serialising the Pod");
        else
            rc = k8s_attempt_create(b, a, body, true, creds_body, l->deadline, &collision, err);
        if (creds_body != NULL)
            explicit_bzero((char *)creds_body, strlen(creds_body)); /* json-c's own buffer */
        json_object_put(pod);
        json_object_put(creds);
        if (body == NULL || (creds != NULL && creds_body == NULL))
            return rc;
        if (rc == FCB_OK || !collision)
            break;
    }
    if (rc != FCB_OK)
        err_prefix(err, "launch %s", l->fn_name);
    return rc;
}

static void k8s_start_failure(fcb_backend *b, const char *pod, const k8s_pod_state *state,
                              fcb_error *err)
{
    err_set(err, FCB_ERR_START_FAILED, "pod %s failed to start: %s%s%s", pod, state->reason,
            state->message[0] != '\0' ? ": " : "", state->message);
    if (state->container[0] != '\0')
        k8s_append_logs(b, pod, state->container, err);
}

/* Wait until Running with an IP, then until the RIE accepts connections. */
static int k8s_launch_wait(fcb_backend *b, k8s_launch *l, k8s_attempt *a, fcb_error *err)
{
    int rc = k8s_wait_running(b, &a->w, l->running_deadline, &a->state, err);
    if (rc == FCB_OK) {
        l->running_at = clockx_now_ms();
        uint64_t rie_deadline = l->running_at + b->cfg->rie_timeout_ms;
        if (rie_deadline > l->deadline)
            rie_deadline = l->deadline;
        memcpy(l->ip, a->state.pod_ip, sizeof l->ip);
        rc = k8s_wait_rie(b, &a->w, l->ip, rie_deadline, &a->state, err);
    }
    if (rc == FCB_ERR_START_FAILED && a->state.progress == K8S_POD_FAILED)
        k8s_start_failure(b, a->w.name, &a->state, err);
    return rc;
}

static void k8s_launch_instance(fcb_backend *b, const k8s_launch *l, const k8s_attempt *a,
                                fcb_instance *out)
{
    k8s_endpoint_format(b, a->w.name, l->ip, out->endpoint); /* by FAKECLOUD_K8S_ENDPOINT */
    snprintf(out->handle, sizeof out->handle, "pod/%s/%s", b->ns, a->w.name);
    if (svc_log_enabled(b->host, FCB_LOG_INFO)) {
        char ms_running[32];
        char ms_total[32];
        uint64_t done = clockx_now_ms();
        snprintf(ms_running, sizeof ms_running, "%llu",
                 (unsigned long long)(l->running_at - l->start));
        snprintf(ms_total, sizeof ms_total, "%llu", (unsigned long long)(done - l->start));
        svc_log(b->host, FCB_LOG_INFO, K8S_PLUGIN_NAME, "Lambda pod started", "function",
                l->fn_name, "pod", a->w.name, "namespace", b->ns, "endpoint", out->endpoint,
                "running_ms", ms_running, "ready_ms", ms_total, NULL);
    }
}

/* ------------------------------------------------------------ launch */

int k8s_backend_launch(fcb_backend *b, const fcb_launch_request *request, fcb_instance *out,
                       fcb_error *err)
{
    k8s_launch l;
    k8s_attempt a;

    if (b == NULL || request == NULL || out == NULL)
        return err_set(err, FCB_ERR_INVALID_ARGUMENT,
                       "launch needs a backend, a request and an instance");
    int rc = k8s_launch_read(request, out, &l, err);
    if (rc == FCB_OK)
        k8s_launch_deadlines(b, &l); /* deadline_ms counts from here */
    /* Vet code and every layer (the Pod's unzip trusts them) before creating anything. */
    if (rc == FCB_OK)
        rc = ziptar_check_launch(NULL, &l.fn, &l.req.code, l.req.layers, l.req.n_layers, err);
    if (rc == FCB_OK)
        rc = k8s_attempt_start(b, &a, "launch", err);
    if (rc != FCB_OK) {
        k8s_stats_launch(&b->stats, rc, NULL);
        return rc;
    }

    /* The host's token (since 1.1; zero from a 1.0 host): polled by the waits. */
    a.w.cancel = l.req.cancel.cancelled != NULL ? &l.req.cancel : NULL;
    rc = k8s_waiter_cancelled(&a.w, err);
    if (rc == FCB_OK)
        rc = k8s_launch_create(b, &l, &a, err);
    l.created_at = clockx_now_ms();
    if (rc == FCB_OK)
        rc = k8s_launch_wait(b, &l, &a, err);
    if (rc == FCB_OK)
        k8s_launch_instance(b, &l, &a, out);
    k8s_launch_phases phases = {.create_ms = l.created_at - l.start,
                                .running_ms = l.running_at - l.created_at,
                                .ready_ms = clockx_now_ms() - l.running_at};
    k8s_stats_launch(&b->stats, rc, &phases);

    k8s_attempt_finish(b, &a, rc != FCB_OK);
    if (rc != FCB_OK && rc != FCB_ERR_CANCELLED)
        svc_log(b->host, FCB_LOG_WARN, K8S_PLUGIN_NAME, "launch failed", "function", l.fn_name,
                "pod", a.w.name, "code", fcb_status_name(rc), "error",
                err != NULL ? err->message : "", NULL);
    inflight_leave(&b->ops); /* last: close() may free b once no operation is in flight */
    return rc;
}

/* ------------------------------------------------------------ prepull */

/* Reasons that mean the image is not on the node (or cannot get there). */
static bool k8s_reason_blocks_image(const char *reason)
{
    static const char *const blocking[] = {"ErrImagePull",
                                           "ImagePullBackOff",
                                           "InvalidImageName",
                                           "ErrImageNeverPull",
                                           "Unschedulable",
                                           "CreateContainerConfigError",
                                           NULL};
    for (size_t i = 0; blocking[i] != NULL; i++)
        if (strcmp(reason, blocking[i]) == 0)
            return true;
    return false;
}

/* Create the prepull Pod and wait until the image is on the node (or cannot get there). */
static int k8s_prepull_run(fcb_backend *b, k8s_attempt *a, const char *image, fcb_error *err)
{
    json_object *pod = NULL;
    bool collision = false;
    uint64_t deadline = clockx_now_ms() + b->cfg->running_timeout_ms;

    int rc = k8s_prepull_pod_build(b->host, b->cfg, b->ns, b->instance_id, a->w.name, a->nonce,
                                   image, &pod, err);
    const char *body = NULL;
    if (rc == FCB_OK &&
        (body = json_object_to_json_string_ext(pod, JSON_C_TO_STRING_PLAIN)) == NULL)
        rc = err_set(err, FCB_ERR_NO_MEMORY, "out of memory serialising the prepull Pod");
    if (rc == FCB_OK)
        rc = k8s_attempt_create(b, a, body, false, NULL, deadline, &collision, err);
    json_object_put(pod);
    if (rc != FCB_OK)
        return rc;
    rc = k8s_wait_running(b, &a->w, deadline, &a->state, err);
    if (rc == FCB_ERR_START_FAILED && a->state.reason[0] != '\0') {
        if (k8s_reason_blocks_image(a->state.reason))
            rc = err_set(err, FCB_ERR_START_FAILED, "%s%s%s", a->state.reason,
                         a->state.message[0] != '\0' ? ": " : "", a->state.message);
        else
            rc = FCB_OK; /* pulled; only the no-op command could not run */
    }
    return rc;
}

int k8s_backend_prepull(fcb_backend *b, const char *image, fcb_error *err)
{
    k8s_attempt a;

    if (b == NULL)
        return err_set(err, FCB_ERR_INVALID_ARGUMENT, "backend is NULL");
    int rc = k8s_attempt_start(b, &a, "prepull", err);
    if (rc != FCB_OK)
        return rc;
    rc = k8s_nonce_new(b, a.nonce, err);
    snprintf(a.w.name, sizeof a.w.name, "fakecloud-prepull-%s", a.nonce);
    if (rc == FCB_OK)
        rc = k8s_prepull_run(b, &a, image, err);

    if (rc != FCB_OK)
        err_prefix(err, "prepull %s", image != NULL ? image : "(null)");
    k8s_attempt_finish(b, &a, true); /* the prepull Pod goes either way */
    if (rc == FCB_OK)
        svc_log(b->host, FCB_LOG_INFO, K8S_PLUGIN_NAME, "image prepulled", "image", image,
                "namespace", b->ns, NULL);
    inflight_leave(&b->ops); /* last: close() may free b once no operation is in flight */
    return rc;
}
