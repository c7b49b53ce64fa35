/*
 * k8s_waiters: the registry of launches waiting on the shared Pod watch,
 * and the two waits of a launch (Running, then the RIE accepting).
 */
#include "k8s_waiters.h"

#include "k8s_invoke.h"

#include "clockx.h"
#include "kube_pods.h"
#include "probe.h"
#include "svc.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/*
 * One probe attempt at most: a Pod IP accepts or refuses at once, and short
 * attempts keep a Pod failure or close() noticed promptly.
 */
#define K8S_PROBE_ATTEMPT_MS 100u
/* Through the API server: one request per attempt, bounded so close() and a token stay prompt. */
#define K8S_PROXY_PROBE_MS 1000u

static k8s_waiter *k8s_waiter_find_locked(fcb_backend *b, const char *name)
{
    for (k8s_waiter *w = b->waiters; w != NULL; w = w->next) {
        if (strcmp(w->name, name) == 0)
            return w;
    }
    return NULL;
}

/* A list or relist ended: every Pod that exists was just reported. */
static void k8s_on_synced(fcb_backend *b)
{
    inflight_lock(&b->ops);
    uint64_t ending = b->syncs++;
    for (k8s_waiter *w = b->waiters; w != NULL; w = w->next) {
        if (w->created && !w->deleted && w->seen_syncs != ending) {
            w->verify = true;
            pthread_cond_broadcast(&w->cond);
        }
    }
    inflight_unlock(&b->ops);
}

void k8s_waiters_on_event(void *ctx, const char *type, json_object *object)
{
    fcb_backend *b = ctx;

    if (type != NULL && strcmp(type, "SYNCED") == 0) {
        inflight_lock(&b->ops);
        k8s_invoke_targets_on_event_locked(b, NULL, false, NULL);
        inflight_unlock(&b->ops);
        k8s_on_synced(b);
        return;
    }
    const char *pod_name = kube_object_name(object);
    if (pod_name == NULL)
        return;
    bool deleted = strcmp(type, "DELETED") == 0;
    k8s_pod_state state;
    memset(&state, 0, sizeof state);
    if (!deleted)
        k8s_pod_state_read(object, &state);

    inflight_lock(&b->ops);
    k8s_invoke_targets_on_event_locked(b, pod_name, deleted, deleted ? NULL : object);
    k8s_waiter *w = k8s_waiter_find_locked(b, pod_name);
    if (w != NULL) {
        if (deleted)
            w->deleted = true;
        else
            w->state = state;
        w->seen = true;
        w->seen_syncs = b->syncs;
        pthread_cond_broadcast(&w->cond);
    }
    inflight_unlock(&b->ops);
}

void k8s_waiter_register(fcb_backend *b, k8s_waiter *w)
{
    inflight_lock(&b->ops);
    w->seen = false;
    w->deleted = false;
    w->created = false;
    w->verify = false;
    w->reg_syncs = b->syncs;
    w->seen_syncs = UINT64_MAX;
    w->next = b->waiters;
    b->waiters = w;
    inflight_unlock(&b->ops);
}

/* Our create of W's Pod succeeded; a relist since registering may have missed it. */
void k8s_waiter_created(fcb_backend *b, k8s_waiter *w)
{
    inflight_lock(&b->ops);
    w->created = true;
    /* A relist ended since we registered, and the watch has not shown the Pod since. */
    bool seen_since = w->seen_syncs != UINT64_MAX && w->seen_syncs + 1 >= b->syncs;
    if (b->syncs != w->reg_syncs && !w->deleted && !seen_since)
        w->verify = true;
    inflight_unlock(&b->ops);
}

/*
 * GET W's Pod after a relist that did not show it (called with the lock held,
 * released during the request): 404 marks it deleted; found and not yet seen
 * by the watch, its state is taken. Other failures leave the deadline to decide.
 */
static void k8s_waiter_verify_locked(fcb_backend *b, k8s_waiter *w)
{
    fcb_error gerr = FCB_ERROR_INIT;
    json_object *pod = NULL;
    k8s_pod_state state;

    w->verify = false;
    inflight_unlock(&b->ops);
    int rc = kube_pods_get(b->client, b->ns, w->name, K8S_LOG_DEADLINE_MS, &pod, &gerr);
    memset(&state, 0, sizeof state);
    if (rc == FCB_OK)
        k8s_pod_state_read(pod, &state);
    json_object_put(pod);
    inflight_lock(&b->ops);
    if (rc == FCB_ERR_NOT_FOUND && !w->seen) {
        w->deleted = true;
        svc_log(b->host, FCB_LOG_WARN, K8S_PLUGIN_NAME,
                "pod deleted while the watch was away (found by a lookup after the relist)", "pod",
                w->name, "namespace", b->ns, NULL);
    } else if (rc == FCB_OK && !w->seen) {
        w->state = state;
        w->seen = true;
    } else if (rc != FCB_OK && rc != FCB_ERR_NOT_FOUND) {
        svc_log(b->host, FCB_LOG_DEBUG, K8S_PLUGIN_NAME, "pod lookup after a relist failed", "pod",
                w->name, "error", gerr.message, NULL);
    }
}

void k8s_waiter_unregister(fcb_backend *b, k8s_waiter *w)
{
    inflight_lock(&b->ops);
    for (k8s_waiter **p = &b->waiters; *p != NULL; p = &(*p)->next) {
        if (*p == w) {
            *p = w->next;
            break;
        }
    }
    inflight_unlock(&b->ops);
}

int k8s_waiter_cancelled(const k8s_waiter *w, fcb_error *err)
{
    if (w->cancel == NULL || w->cancel->cancelled == NULL ||
        w->cancel->cancelled(w->cancel->ctx) == 0)
        return FCB_OK;
    if (w->name[0] == '\0') /* before the Pod was named: nothing was created */
        return err_set(err, FCB_ERR_CANCELLED, "launch cancelled by the host");
    return err_set(err, FCB_ERR_CANCELLED, "pod %s: launch cancelled by the host", w->name);
}

/*
 * With the lock held: why W's wait is over (close() or the host's token, the
 * Pod deleted or failed; *state filled for a failure), or FCB_OK to keep waiting.
 */
static int k8s_waiter_check_locked(fcb_backend *b, k8s_waiter *w, k8s_pod_state *state,
                                   fcb_error *err)
{
    if (inflight_closing(&b->ops))
        return err_set(err, FCB_ERR_CANCELLED, "pod %s: backend closed during launch", w->name);
    if (k8s_waiter_cancelled(w, err) != FCB_OK)
        return FCB_ERR_CANCELLED;
    if (w->deleted)
        return err_set(err, FCB_ERR_START_FAILED, "pod %s was deleted while starting", w->name);
    if (w->seen && w->state.progress == K8S_POD_FAILED) {
        *state = w->state;
        return FCB_ERR_START_FAILED;
    }
    return FCB_OK;
}

int k8s_wait_running(fcb_backend *b, k8s_waiter *w, uint64_t deadline, k8s_pod_state *state,
                     fcb_error *err)
{
    int rc = FCB_OK;

    inflight_lock(&b->ops);
    for (;;) {
        if (w->verify && !w->deleted && !inflight_closing(&b->ops)) {
            k8s_waiter_verify_locked(b, w);
            continue;
        }
        rc = k8s_waiter_check_locked(b, w, state, err);
        if (rc != FCB_OK)
            break;
        if (w->seen && w->state.progress == K8S_POD_RUNNING) {
            *state = w->state;
            break;
        }
        /* With a token, wake at least every K8S_CANCEL_POLL_MS to poll it. */
        uint64_t wake = w->cancel != NULL ? clockx_after_ms(K8S_CANCEL_POLL_MS) : deadline;
        if (inflight_wait(&b->ops, &w->cond, wake < deadline ? wake : deadline) == ETIMEDOUT &&
            clockx_remaining_ms(deadline) == 0) {
            *state = w->state;
            rc = err_set(err, FCB_ERR_TIMEOUT,
                         "pod %s did not become Running with a podIP within the deadline "
                         "(phase %s%s%s)",
                         w->name, w->state.phase[0] != '\0' ? w->state.phase : "unknown",
                         w->state.reason[0] != '\0' ? ", " : "", w->state.reason);
            break;
        }
    }
    inflight_unlock(&b->ops);
    return rc;
}

/* Why the runtime is not ready by the deadline, in MODE's words. */
static int k8s_rie_timeout(fcb_backend *b, const k8s_waiter *w, k8s_endpoint_mode mode,
                           const char *ip, fcb_error *err)
{
    if (mode == K8S_ENDPOINT_POD_IP)
        return err_set(err, FCB_ERR_TIMEOUT,
                       "pod %s: the Runtime Interface Emulator on %s:%d did not accept "
                       "connections within %u ms",
                       w->name, ip, K8S_RIE_PORT, b->cfg->rie_timeout_ms);
    return err_set(err, FCB_ERR_TIMEOUT,
                   "pod %s: the Runtime Interface Emulator on port %d did not answer through "
                   "the API server's pods/proxy within %u ms",
                   w->name, K8S_RIE_PORT, b->cfg->rie_timeout_ms);
}

int k8s_wait_rie(fcb_backend *b, k8s_waiter *w, const char *ip, uint64_t deadline,
                 k8s_pod_state *state, fcb_error *err)
{
    uint32_t delay = PROBE_FIRST_DELAY_MS;
    /* auto waits through the API server (it reaches every Pod), then decides. */
    k8s_endpoint_mode mode = k8s_endpoint_current(b);
    k8s_endpoint_mode via = mode == K8S_ENDPOINT_POD_IP ? mode : K8S_ENDPOINT_API_PROXY;
    uint32_t cap = via == K8S_ENDPOINT_POD_IP ? K8S_PROBE_ATTEMPT_MS : K8S_PROXY_PROBE_MS;

    for (unsigned attempt = 0; attempt < 1000000u; attempt++) {
        uint32_t remaining = clockx_remaining_ms(deadline);
        int prc = k8s_runtime_probe(b, via, w->name, ip, remaining < cap ? remaining : cap, err);
        if (prc == FCB_OK && mode == K8S_ENDPOINT_AUTO)
            k8s_endpoint_decide(b, ip);
        if (prc != FCB_ERR_UNAVAILABLE) /* ready, or refused for good */
            return prc;
        inflight_lock(&b->ops);
        int rc = k8s_waiter_check_locked(b, w, state, err);
        if (rc == FCB_OK && clockx_remaining_ms(deadline) == 0)
            rc = k8s_rie_timeout(b, w, via, ip, err);
        if (rc == FCB_OK) {
            uint64_t wake = clockx_after_ms(delay);
            inflight_wait(&b->ops, &w->cond, wake < deadline ? wake : deadline);
        }
        inflight_unlock(&b->ops);
        if (rc != FCB_OK)
            return rc;
        delay = probe_next_delay(delay);
    }
    return err_set(err, FCB_ERR_TIMEOUT, "pod %s: RIE probe attempts exhausted", w->name);
}

void k8s_waiters_wake_locked(fcb_backend *b)
{
    for (k8s_waiter *w = b->waiters; w != NULL; w = w->next)
        pthread_cond_broadcast(&w->cond);
}
