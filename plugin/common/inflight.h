/*
 * inflight: the operations a backend instance has in progress, and close().
 *
 * Every operation (launch, terminate, reap_stale, prepull, and any later
 * one) enters before it does anything and leaves when done. close() sets
 * `closing`, wakes every sleeper, then waits until no operation is left, so
 * the ABI promise holds for all of them: in-flight calls return
 * FCB_ERR_CANCELLED promptly and close() returns after they did. Waits and
 * sleeps go through the tracker (on CLOCK_MONOTONIC) so close() cuts them
 * short; `closing` is an atomic that I/O layers may poll too (e.g. a curl
 * progress callback).
 *
 * A backend that waits on conditions of its own (e.g. one per Pod waiter)
 * uses the tracker's mutex for them (inflight_lock/inflight_wait) and passes
 * a wake function to inflight_close() that broadcasts them.
 */
#ifndef FCB_PLUGIN_INFLIGHT_H
#define FCB_PLUGIN_INFLIGHT_H

#include <fakecloud/backend_plugin.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct inflight {
    pthread_mutex_t mu;
    pthread_cond_t cv; /* CLOCK_MONOTONIC; broadcast on close and when count drops */
    unsigned count;    /* operations entered and not yet left; under mu */
    atomic_int closing;
} inflight;

/* Initialise T; FCB_OK or FCB_ERR_INTERNAL naming WHO ("docker backend"). */
int inflight_init(inflight *t, const char *who, fcb_error *err);
/* Free T's mutex and condition; no operation may be in flight. */
void inflight_destroy(inflight *t);

/*
 * Register one operation. FCB_ERR_CANCELLED ("<who> is closing") once
 * close started; the caller then returns that error at once. Every FCB_OK
 * is paired with exactly one inflight_leave().
 */
int inflight_enter(inflight *t, const char *who, fcb_error *err);
void inflight_leave(inflight *t);

/* Whether close started (lock-free). */
bool inflight_closing(const inflight *t);

/*
 * Sleep up to MS, waking early when close starts. True after a full sleep,
 * false when closing (the caller returns FCB_ERR_CANCELLED).
 */
bool inflight_sleep_ms(inflight *t, uint32_t ms);

/*
 * With inflight_lock held: wait on COND (made by clockx_cond_init) until
 * signalled, DEADLINE_MS (clockx) passes or close starts. Returns 0,
 * ETIMEDOUT when the deadline passed. Callers re-check their state and
 * inflight_closing() in a loop, as with any condition wait.
 */
int inflight_wait(inflight *t, pthread_cond_t *cond, uint64_t deadline_ms);
void inflight_lock(inflight *t);
void inflight_unlock(inflight *t);

/*
 * Start closing: set `closing`, broadcast the tracker's condition, call
 * WAKE(CTX) (may be NULL) with the lock held so the backend can broadcast
 * its own conditions, then wait until every operation left. Bounded by the
 * operations' own timeouts; they see `closing` promptly. Idempotent.
 */
void inflight_close(inflight *t, void (*wake)(void *ctx), void *ctx);

#endif
