/*
 * k8s_stats: the figures the k8s backend keeps for the 1.1 `stats` op
 * (launches, failures by fcb status, terminations, launch phases in ms)
 * and the op itself, which adds the API client's request and retry counts.
 * The counters are atomics: every function is thread-safe and lock-free.
 */
#ifndef FCB_K8S_STATS_H
#define FCB_K8S_STATS_H

#include <fakecloud/backend_plugin.h>

#include <stdatomic.h>
#include <stdint.h>

/* -FCB_ERR_INTERNAL + 1 slots: failures by -code; codes outside count as INTERNAL. */
#define K8S_STATS_CODES 12

/* The phases of a successful launch, in ms: each ends where the next starts. */
typedef struct k8s_launch_phases {
    uint64_t create_ms;  /* launch called -> Pod created (vetting, objects) */
    uint64_t running_ms; /* created -> Running with a Pod IP */
    uint64_t ready_ms;   /* Running -> the RIE accepts connections */
} k8s_launch_phases;

/* All zero (the backend's svc_calloc) is the initial state. */
typedef struct k8s_stats {
    atomic_uint_least64_t launches;
    atomic_uint_least64_t failures[K8S_STATS_CODES];
    atomic_uint_least64_t terminations;
    atomic_uint_least64_t phase_ms[3];
    atomic_uint_least64_t phase_count;
    atomic_uint_least64_t invocations;
    atomic_uint_least64_t invocation_failures;
} k8s_stats;

/* One launch ended with RC; PHASES (FCB_OK only, may be NULL) its timings. */
void k8s_stats_launch(k8s_stats *s, int rc, const k8s_launch_phases *phases);

/* One invoke call ended with RC. */
void k8s_stats_invoked(k8s_stats *s, int rc);

/* One terminate succeeded. */
void k8s_stats_terminated(k8s_stats *s);

/*
 * stats: emit launches_total, launch_failures_total{reason=<fcb status
 * name>} for each reason seen, terminations_total, api_requests_total,
 * api_retries_total (both clients: work and close's cleanup),
 * launch_phase_ms{phase=create|running|ready} (FCB_METRIC_SUM_MS over the
 * successful launches), invocations_total (invoke calls) and
 * invocation_failures_total (those that did not return FCB_OK).
 */
int k8s_backend_stats(fcb_backend *b, void *ctx, void (*emit)(void *ctx, const fcb_metric *m),
                      fcb_error *err);

#endif
