/*
 * dock_observe: the docker backend's ABI 1.1 observation ops: status (one
 * inspect), logs (the container's multiplexed log stream decoded by
 * logstream, tail / since / follow, bounded and cancellable) and stats (the
 * counters dock_backend keeps in a dock_stats).
 *
 * Ownership rule of terminate: only containers carrying our managed-by
 * label are ours; any other is GONE for status and FCB_ERR_NOT_FOUND for
 * logs. Every op enters the backend's in-flight tracker, so close() cancels
 * a follow (within ~100 ms) and waits for it. Thread-safe.
 */
#ifndef FCB_DOCK_OBSERVE_H
#define FCB_DOCK_OBSERVE_H

#include "dock_engine.h"
#include "inflight.h"

#include <fakecloud/backend_plugin.h>

#include <stdatomic.h>
#include <stdint.h>

/* Launch failure reasons counted by stats (label "reason"). */
typedef enum dock_fail_reason {
    DOCK_FAIL_INVALID = 0, /* FCB_ERR_INVALID_ARGUMENT / UNSUPPORTED */
    DOCK_FAIL_IMAGE,       /* pull / image inspect */
    DOCK_FAIL_CREATE,
    DOCK_FAIL_COPY,
    DOCK_FAIL_START,
    DOCK_FAIL_READY, /* exited or not ready in time */
    DOCK_FAIL_CANCELLED,
    DOCK_FAIL_N
} dock_fail_reason;

/* Launch phases timed by stats (label "phase"). */
typedef enum dock_phase {
    DOCK_PHASE_PULL = 0,
    DOCK_PHASE_CREATE,
    DOCK_PHASE_COPY,
    DOCK_PHASE_START,
    DOCK_PHASE_READY,
    DOCK_PHASE_N
} dock_phase;

/* Counters since open; lock-free. */
typedef struct dock_stats {
    atomic_uint_fast64_t launches;
    atomic_uint_fast64_t failures[DOCK_FAIL_N];
    atomic_uint_fast64_t terminations;
    atomic_uint_fast64_t code_uploads;      /* code tars PUT (into a container or a code volume) */
    atomic_uint_fast64_t code_volume_fills; /* deploys' code volumes filled (dock_codevol.h) */
    atomic_uint_fast64_t phase_ms[DOCK_PHASE_N];
    atomic_uint_fast64_t phase_n[DOCK_PHASE_N];
} dock_stats;

void dock_stats_phase(dock_stats *s, dock_phase phase, uint64_t ms);

/* The parts of the backend the observation ops use (dock_backend.c). */
dock_engine *dock_backend_engine(fcb_backend *b);
inflight *dock_backend_inflight(fcb_backend *b);
dock_stats *dock_backend_stats(fcb_backend *b);
/* Where the host reaches published ports (an instance's endpoint host). */
const char *dock_backend_endpoint_host(const fcb_backend *b);
/* The container id of a "container/<id>" handle, or false when it is not one. */
bool dock_backend_handle_id(const char *handle, const char **id);

int dock_backend_status(fcb_backend *b, const char *handle, fcb_instance_status *out,
                        fcb_error *err);
int dock_backend_logs(fcb_backend *b, const char *handle, const fcb_logs_request *req,
                      fcb_error *err);
int dock_backend_stats_emit(fcb_backend *b, void *ctx, void (*emit)(void *ctx, const fcb_metric *m),
                            fcb_error *err);

#endif
