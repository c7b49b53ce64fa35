/*
 * k8s_waiters: launches waiting on the one shared Pod watch.
 *
 * A launch (or prepull) registers a waiter for its Pod's name before it
 * creates the Pod; the watch's events update the waiter and wake it, so no
 * launch polls. Every wait is a condition-variable wait under the in-flight
 * tracker's lock (inflight_wait on b->ops), so close() (which broadcasts
 * every waiter through inflight_close's wake hook) and watch events wake
 * launches at once. A watch that relisted after 410 Gone reports Pods it
 * knew that vanished, but not one created and deleted while it was away: a
 * created Pod the relist did not show is looked up once with a GET.
 */
#ifndef FCB_K8S_WAITERS_H
#define FCB_K8S_WAITERS_H

#include "k8s_internal.h"
#include "k8s_status.h"

#include <json-c/json.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

/* One launch's view of its Pod. Fields are guarded by the in-flight lock (b->ops). */
struct k8s_waiter {
    struct k8s_waiter *next;
    char name[K8S_POD_NAME_MAX];
    pthread_cond_t cond;
    k8s_pod_state state;
    bool seen;
    bool deleted;
    bool created;        /* our create succeeded */
    bool verify;         /* GET it: a relist happened and did not show it */
    uint64_t reg_syncs;  /* b->syncs when registered */
    uint64_t seen_syncs; /* b->syncs at the last event for it (UINT64_MAX: none) */
    /* The host's token for this launch (since 1.1), or NULL: polled by both waits at
     * least every K8S_CANCEL_POLL_MS; set before registering, never reset by it. */
    const fcb_cancel *cancel;
};

/* How often a launch's waits poll the host's cancel token (the ABI asks <= 100 ms). */
#define K8S_CANCEL_POLL_MS 50u

/*
 * FCB_ERR_CANCELLED ("pod NAME: launch cancelled by the host") when W's
 * token has fired, else FCB_OK. Calls the host's callback; any lock may be held.
 */
int k8s_waiter_cancelled(const k8s_waiter *w, fcb_error *err);

/* The shared watch's callback (kube_watch_fn); CTX is the backend. */
void k8s_waiters_on_event(void *ctx, const char *type, json_object *object);

/* Add W (name set, seen/deleted cleared) before creating its Pod. */
void k8s_waiter_register(fcb_backend *b, k8s_waiter *w);
/* Our create of W's Pod succeeded; a relist since registering may have missed it. */
void k8s_waiter_created(fcb_backend *b, k8s_waiter *w);
void k8s_waiter_unregister(fcb_backend *b, k8s_waiter *w);
/* Wake every waiter (close); called with the in-flight lock (b->ops) held. */
void k8s_waiters_wake_locked(fcb_backend *b);

/*
 * Wait on W until the Pod is Running with an IP (FCB_OK, *state filled),
 * fails (FCB_ERR_START_FAILED, *state says why), is deleted, close() is
 * called or W's token fires (FCB_ERR_CANCELLED) or DEADLINE passes
 * (FCB_ERR_TIMEOUT).
 */
int k8s_wait_running(fcb_backend *b, k8s_waiter *w, uint64_t deadline, k8s_pod_state *state,
                     fcb_error *err);

/*
 * Probe the RIE at IP with short capped backoff until it accepts (FCB_OK),
 * the Pod fails (FCB_ERR_START_FAILED, *state), close() or W's token
 * (FCB_ERR_CANCELLED) or DEADLINE.
 */
int k8s_wait_rie(fcb_backend *b, k8s_waiter *w, const char *ip, uint64_t deadline,
                 k8s_pod_state *state, fcb_error *err);

#endif
