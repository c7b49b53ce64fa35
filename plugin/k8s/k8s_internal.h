/*
 * k8s_internal: the backend instance the lifecycle files share.
 *
 * k8s_backend.c (open, close, the lazy start of the watch and Secret),
 * k8s_launch.c (launch, prepull), k8s_terminate.c (terminate, reap_stale),
 * k8s_waiters.c (the shared watch and the launches waiting on it) and
 * k8s_objects.c (owned create and delete of Pods and the token Secret) all
 * work on one `struct fcb_backend`; this header defines it and the few
 * functions one of those files offers the others. Not for tests or hosts.
 */
#ifndef FCB_K8S_INTERNAL_H
#define FCB_K8S_INTERNAL_H

#include "k8s_backend.h"
#include "k8s_config.h"
#include "k8s_pod.h"
#include "k8s_stats.h"
#include "inflight.h"
#include "lease.h"
#include "kube_client.h"

#include <fakecloud/backend_plugin.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#define K8S_REQUEST_DEADLINE_MS 30000u
#define K8S_CLEANUP_DEADLINE_MS 10000u
#define K8S_LOG_DEADLINE_MS     3000u
/* Label selector of terminate's owned delete: any fakecloud instance's Pod. */
#define K8S_SELECTOR_MANAGED LABEL_MANAGED_BY_SELECTOR

typedef struct k8s_waiter k8s_waiter;

/* One Pod invoke may reach without a GET (k8s_invoke.c); name "" = a free slot. */
#define K8S_INVOKE_TARGETS 64
typedef struct k8s_target_entry {
    char name[K8S_POD_NAME_MAX];
    char ip[64];
    unsigned fn_timeout_s;
    uint64_t used;
} k8s_target_entry;

/* A Pod an interrupted launch created, for close() to delete. */
typedef struct k8s_orphan {
    struct k8s_orphan *next;
    char name[K8S_POD_NAME_MAX];
} k8s_orphan;

struct fcb_backend {
    const fcb_host_services *host;
    k8s_config *cfg;
    kube_client *client;  /* cancelled by close */
    kube_client *cleanup; /* used by close after the cancel */
    char *ns;
    char instance_id[17];
    char secret_name[K8S_POD_NAME_MAX];
    char *token; /* the host's internal token (copy) for the lazy Secret, or NULL */

    /* Started by the first launch/prepull (k8s_ensure_started); guarded by setup_lock
     * until then; close() reads them once no operation is in flight. */
    pthread_mutex_t setup_lock;
    kube_watch *watch;
    bool have_secret;    /* the token Secret exists */
    bool secret_unknown; /* a create's outcome was unknown and the Secret may exist */

    /* The instance's Lease (k8s_lease.c): created by the first launch/prepull under
     * setup_lock, before the Secret and any Pod; then renewed by lease_thread, which
     * alone touches lease_rv. lease_mu guards lease_sched, lease_stop, lease_error. */
    pthread_mutex_t lease_mu;
    pthread_cond_t lease_cond; /* CLOCK_MONOTONIC; close wakes the thread with it */
    pthread_t lease_thread;
    bool lease_thread_started;
    bool lease_stop;
    bool lease_created; /* created (our Lease exists) */
    bool lease_maybe;   /* a create was sent: close deletes the Lease by name */
    bool lease_lost;    /* the last state logged was "lost" */
    lease_schedule lease_sched;
    int64_t lease_acquire_us; /* acquireTime we wrote (wall µs) */
    char lease_name[K8S_POD_NAME_MAX];
    char lease_rv[LEASE_VERSION_MAX];
    char lease_error[256]; /* last renewal error, for the "lost" message */

    /* reap_stale: one reaper at a time updates the observer (k8s_reap.c). */
    pthread_mutex_t reap_mu;
    lease_observer reap_obs;

    /* Every operation enters and leaves; close() cancels and waits for them. Its
     * mutex also guards everything below, and the waiters wait under it. */
    inflight ops;
    k8s_waiter *waiters;
    uint64_t syncs;      /* SYNCED events so far (the first list, then each relist) */
    k8s_orphan *orphans; /* Pods to delete at close */
    bool secrets_left;   /* a launch's credentials Secret may remain: close deletes all ours */
    uint64_t launches;

    k8s_stats stats; /* atomics: no lock (k8s_stats.h) */

    /* A k8s_endpoint_mode: the configured one; AUTO until the first launch (or invoke)
     * decided (k8s_invoke.h). */
    atomic_int endpoint_mode;

    /* invoke's targets (k8s_invoke.h): Pods a GET found ours and Running, kept until the
     * shared watch shows anything else of them; guarded by ops' lock. */
    k8s_target_entry targets[K8S_INVOKE_TARGETS];
    uint64_t targets_clock; /* last use stamp */
    uint64_t targets_epoch; /* bumped by every watch event that may end a target */
};

/* ------------------------------------------------------------ k8s_backend.c */

/* Who inflight_enter's "... is closing" names. */
#define K8S_WHO "k8s backend"

/*
 * First launch/prepull: start the shared Pod watch and, when SECRET and the
 * host gave a token, create the token Secret before DEADLINE (clockx ms).
 * Thread-safe: concurrent first calls wait on setup_lock, so one watch and
 * one Secret are made; a failure is returned to this call and the next call
 * tries again.
 */
int k8s_ensure_started(fcb_backend *b, bool secret, uint64_t deadline, fcb_error *err);

/*
 * A fresh nonce: 16 random hex digits then this instance's launch counter
 * (16 hex), so two launches never share one. OUT holds 33 bytes.
 * FCB_ERR_INTERNAL when there is no randomness (ids.h).
 */
int k8s_nonce_new(fcb_backend *b, char out[33], fcb_error *err);

/*
 * Delete the Pod NAME a failed launch or prepull created, or leave it to
 * close() (when closing, or cancelled) through *NODE, which the operation
 * reserved when it started so this cannot fail. *NODE is NULL once taken.
 */
void k8s_launch_cleanup(fcb_backend *b, const char *name, k8s_orphan **node);

/* ------------------------------------------------------------ k8s_lease.c */

/* Initialise the lease fields (at alloc; FCB_ERR_INTERNAL if the condvar fails). */
int k8s_lease_init(fcb_backend *b, fcb_error *err);
/* Destroy what k8s_lease_init made (after k8s_lease_stop). */
void k8s_lease_destroy(fcb_backend *b);

/*
 * Called under setup_lock by the first launch/prepull: create this instance's
 * Lease (a 409 resolved by a GET: ours is fine) before DEADLINE and start the
 * renewal thread. Once created: FCB_ERR_UNAVAILABLE when the lease is lost
 * (no renewal succeeded for a whole duration), naming it and the last error.
 */
int k8s_lease_ensure(fcb_backend *b, uint64_t deadline, fcb_error *err);

/* close(): stop and join the renewal thread (woken at once). */
void k8s_lease_stop(fcb_backend *b);

/* close(), after the Pods and the Secret: delete our Lease with CLIENT. */
void k8s_lease_release(fcb_backend *b, kube_client *client);

/* ------------------------------------------------------------ k8s_reap.c */

/*
 * reap_stale's work (leases.md): objects of instances whose Lease is expired
 * or absent and whose objects are older than one lease duration. *pods and
 * *secrets count what was deleted.
 */
int k8s_reap_dead(fcb_backend *b, size_t *pods, size_t *secrets, fcb_error *err);

#endif
