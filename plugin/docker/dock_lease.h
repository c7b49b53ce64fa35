/*
 * dock_lease: this docker backend instance's own lease (docs/leases.md,
 * "Docker"): one labelled local volume per renewal,
 * fakecloud-lease-<instance id>-<seq>, whose engine-stamped creation proves
 * the instance alive to other hosts' reap_stale.
 *
 * Lifecycle: dock_lease_ensure (first launch) creates seq 1 and starts the
 * renewal thread; every later call only checks that the lease is still
 * held. The thread renews once per period P = D/3 with jitter (create
 * seq+1, then delete the older ones; lease_schedule_*), tolerating engine
 * faults: a failed renewal is retried at the next slot and the lease is
 * lost only after D without a success. The thread waits on the backend's
 * in-flight lock (inflight_wait), so close() wakes it at once through
 * dock_lease_wake; dock_lease_release then joins it and deletes every lease
 * volume of this instance (after the backend's operations have ended).
 *
 * Thread safety: the mutable state is under the in-flight tracker's lock;
 * creation of the first volume is serialised by the lease's own mutex.
 */
#ifndef FCB_DOCK_LEASE_H
#define FCB_DOCK_LEASE_H

#include "dock_engine.h"
#include "dock_spec.h"
#include "inflight.h"
#include "lease.h"

#include <pthread.h>
#include <stdbool.h>

#define DOCK_LEASE_PREFIX    "fakecloud-lease-"
#define DOCK_LEASE_LABEL     "fakecloud-lease"
#define DOCK_LEASE_SECONDS   "fakecloud-lease-seconds"
#define DOCK_LEASE_SEQ_LABEL "fakecloud-lease-seq"
#define DOCK_LEASE_STALE_MAX 8

typedef struct dock_lease {
    const fcb_host_services *host;
    dock_engine *engine; /* borrowed from the backend */
    inflight *ops;       /* borrowed: its lock guards the fields below */
    const char *instance_id;
    int32_t seconds;
    pthread_mutex_t acquire_mu; /* serialises the first create */
    pthread_cond_t cv;          /* the renewal thread's sleep (clockx, ops' lock) */
    bool mutexes_ok;
    bool acquired;  /* seq 1 (or later) was created; thread running */
    bool attempted; /* a create was sent: release must look for volumes */
    pthread_t thread;
    /* under ops' lock */
    lease_schedule sched;
    unsigned long long seq; /* last sequence number used */
    char current[DOCK_NAME_MAX];
    char stale[DOCK_LEASE_STALE_MAX][DOCK_NAME_MAX]; /* ours, still to delete */
    unsigned n_stale;
    char last_error[256];
    bool lost_logged;
    unsigned long renewals, failures; /* counters, for logs and tests */
} dock_lease;

/* Prepare L (nothing is created yet). FCB_OK or FCB_ERR_INTERNAL. */
int dock_lease_init(dock_lease *l, const fcb_host_services *host, dock_engine *engine,
                    inflight *ops, const char *instance_id, int32_t seconds, fcb_error *err);

/*
 * Called by every launch, inside its in-flight operation, before anything
 * is created: creates the lease on the first call (and starts renewing),
 * then checks it is held. FCB_ERR_UNAVAILABLE ("lease ... lost: no renewal
 * succeeded for D s (last error: ...)") when it is not, or the engine's
 * error when the first create fails (a later launch tries again).
 */
int dock_lease_ensure(dock_lease *l, fcb_error *err);

/* inflight_close's wake function (ops' lock held): the renewal thread stops waiting. */
void dock_lease_wake(void *lease);

/*
 * After inflight_close: join the renewal thread, then delete every lease
 * volume of this instance (best effort, not cancellable, bounded).
 */
void dock_lease_release(dock_lease *l);

/* Free L's mutex and condition (after dock_lease_release). */
void dock_lease_destroy(dock_lease *l);

#endif
