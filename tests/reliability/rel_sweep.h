/*
 * rel_sweep: the allocation-failure sweep.
 *
 * For one operation of one plugin, fail the 1st, 2nd, ... plugin allocation
 * (mock_host_fail_alloc) in turn until the operation runs without any
 * injected failure. Every run must end in success or a clean error, and
 * afterwards (after the test undid what succeeded) the mock host must hold
 * zero bytes beyond its baseline, the thread count must be back to its
 * baseline and the target's orchestrator must hold no object of ours.
 * Prints one line per operation with the number of failure points.
 *
 * Three operations need more of the target and are skipped (printed as "not
 * applicable") without it: prepull (rel_target.prepull_image and the
 * plugin's optional prepull op); failed-launch, a launch that must fail
 * (rel_target.failing_request, e.g. an image the orchestrator cannot pull)
 * and failed-prepull, a prepull that must fail (failing_prepull_image): every
 * run of those must end in a clean error with nothing of it left behind,
 * checked before any cleanup by the test. The 1.1 operations status, logs
 * (tail, with a cancel that never fires) and stats run against one instance
 * launched at the start; invoke (an event, with a cancel that never fires)
 * against a fresh instance per run (terminated after it, taking what the
 * instance kept of the invocation); each is skipped for a plugin without it.
 */
#ifndef REL_SWEEP_H
#define REL_SWEEP_H

#include "rel_common.h"

typedef enum rel_op {
    REL_OP_INIT,
    REL_OP_OPEN,
    REL_OP_LAUNCH,
    REL_OP_TERMINATE,
    REL_OP_REAP,
    REL_OP_CLOSE,
    REL_OP_PREPULL,
    REL_OP_FAILED_LAUNCH,
    REL_OP_FAILED_PREPULL,
    REL_OP_STATUS, /* 1.1 ops on one running instance; skipped when the plugin lacks them */
    REL_OP_LOGS,
    REL_OP_STATS,
    REL_OP_INVOKE,
    REL_OP_COUNT
} rel_op;

const char *rel_op_name(rel_op op);

typedef struct rel_sweep_result {
    size_t points; /* failure points exercised (runs with an injected failure) */
    size_t errors; /* of those, runs that returned a clean error */
    bool capped;   /* stopped at the cap before a run without injection */
    bool skipped;  /* not applicable to this target (see above) */
} rel_sweep_result;

/* Sweep OP of TARGET, at most CAP failure points. Criterion-asserts every property. */
void rel_sweep(const rel_target *target, rel_op op, size_t cap, rel_sweep_result *out);

#endif
