/*
 * pool: warm instances of functions, shared by every caller of `serve`.
 *
 * Instances are grouped by a key the caller builds from the qualified ARN
 * and a fingerprint of what was deployed (code, configuration, layers,
 * tags), so `f:1` is never served by an instance of `$LATEST` and a redeploy
 * never reaches an old instance. The rules (each one a bug a peer's pool
 * had):
 *   - one event in flight per instance; a caller takes an idle instance of
 *     its group (the most recently used one), else launches a new one while
 *     the account limit (pool_config.max_instances: instances launching,
 *     busy or idle, all functions together) allows, else terminates the
 *     least recently used idle instance of another group to make room, else
 *     waits for the first instance anywhere to free up (bounded by
 *     pool_target.wait_ms, then POOL_THROTTLED);
 *   - reserved concurrency (pool_target.reserved >= 0) bounds the busy and
 *     launching instances of one function: beyond it the call is refused at
 *     once (POOL_THROTTLED_RESERVED), as AWS answers 429;
 *   - an idle instance is terminated after keepalive_ms (0: after every
 *     call, i.e. always cold);
 *   - an instance is evicted (terminated, never reused) when the backend's
 *     status op says it is not running (checked before reusing one idle for
 *     at least status_check_idle_ms), when the call timed out or broke, or
 *     when its connection was refused; the call is retried on another
 *     instance only in that last case (the event never reached a handler, so
 *     a handler never runs twice);
 *   - pool_retire ends a group: idle instances are terminated now, busy ones
 *     when their call ends;
 *   - pool_free terminates every instance.
 * The event goes through the backend's invoke op when it has one, else an
 * HTTP POST to the instance's endpoint (invoker).
 *
 * Thread-safe: any number of threads call pool_invoke at once. Backend calls
 * (launch, invoke, terminate, status) are made without the pool's lock.
 */
#ifndef FCB_HOST_POOL_H
#define FCB_HOST_POOL_H

#include "host_services.h"

#include <fakecloud/backend_plugin.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct pool pool;

#define POOL_DEFAULT_MAX_INSTANCES   10
#define POOL_DEFAULT_KEEPALIVE_MS    300000L
#define POOL_DEFAULT_STATUS_CHECK_MS 1000L

typedef struct pool_config {
    unsigned max_instances;    /* account limit; 0 = POOL_DEFAULT_MAX_INSTANCES */
    long keepalive_ms;         /* idle lifetime; 0 = terminate after each call */
    long status_check_idle_ms; /* status op before reusing an instance idle this long; <0 never */
} pool_config;

/* The loaded backend the pool drives; borrowed, must outlive the pool. */
typedef struct pool_backend {
    const fcb_backend_ops *ops;
    size_t ops_size; /* bytes of ops the host may read (loader_plugin.ops_size) */
    fcb_backend *backend;
    host_services *log; /* may be NULL */
} pool_backend;

/* What one call needs; everything borrowed for the call. */
typedef struct pool_target {
    const char *group;    /* qualified ARN + fingerprint: the instances that may serve it */
    const char *function; /* function name: reserved concurrency counts per function */
    int reserved;         /* reserved concurrency; < 0 = none */
    const fcb_launch_request *launch; /* how to start an instance of the group */
    long wait_ms;                     /* longest wait for a free instance at the account limit */
    long timeout_ms;          /* the function's timeout; the call is bounded a little above it */
    const fcb_cancel *cancel; /* may be NULL */
    /*
     * The instance's log tail (backend logs op), read after the call and
     * before the instance serves anyone else, so it ends with this call's
     * lines: POOL_TAIL_ALWAYS, POOL_TAIL_COLD (only when the call launched
     * the instance) or POOL_TAIL_NONE; at most log_tail_bytes (the last ones).
     */
    int log_tail;
    size_t log_tail_bytes;
} pool_target;

enum { POOL_TAIL_NONE = 0, POOL_TAIL_ALWAYS = 1, POOL_TAIL_COLD = 2 };

typedef enum pool_status {
    POOL_OK = 0,                 /* the runtime answered (any HTTP status) */
    POOL_THROTTLED = 1,          /* account limit reached and no instance freed in wait_ms */
    POOL_THROTTLED_RESERVED = 2, /* the function's reserved concurrency is in use */
    POOL_LAUNCH_FAILED = 3,      /* backend_status and why say why */
    POOL_TIMED_OUT = 4,     /* the handler did not answer within timeout_ms (instance evicted) */
    POOL_INVOKE_FAILED = 5, /* the answer broke off or never came (instance evicted) */
    POOL_CLOSING = 6,       /* pool_free has started */
} pool_status;

/* The answer of pool_invoke; free with pool_result_free. */
typedef struct pool_result {
    long http_status;
    char *body; /* NUL-terminated, malloc'd */
    size_t body_len;
    char function_error[64];     /* X-Amz-Function-Error from the runtime, else "" */
    char handle[FCB_HANDLE_MAX]; /* the instance that served (or failed) the call */
    bool cold;                   /* the instance was launched for this call */
    double launch_ms;            /* cold: the launch's duration */
    double invoke_ms;            /* the event's round trip */
    int backend_status;          /* POOL_LAUNCH_FAILED: the plugin's fcb_status */
    unsigned attempts;           /* instances tried (> 1 only after a refused connection) */
    bool not_delivered;          /* failed with the event sent to no handler (refused every time) */
    char *log_tail; /* pool_target.log_tail: NUL-terminated, malloc'd; NULL when not read */
    size_t log_tail_len;
} pool_result;

/*
 * Start a pool (and its idle reaper thread). Returns 0 and *out, or -1
 * (no memory, no thread).
 */
int pool_new(const pool_backend *backend, const pool_config *config, pool **out);

/*
 * Deliver PAYLOAD to an instance of T->group (see the rules above). Returns
 * a pool_status; `why` is filled for everything but POOL_OK.
 */
int pool_invoke(pool *p, const pool_target *t, const char *payload, size_t payload_len,
                pool_result *res, char *why, size_t why_size);

/*
 * A deploy of GROUP exists (serve: one call per deploy created). Two deploys
 * may share a group (the same fingerprint, e.g. a configuration changed and
 * changed back): the group then ends only when both are retired. Returns 0 or
 * -1 (no memory).
 */
int pool_hold(pool *p, const char *group, const char *function);

/*
 * A deploy of GROUP is gone (matches one pool_hold; a group never held ends
 * at once): when no hold is left, terminate GROUP's idle instances now and
 * its busy ones when their call ends.
 */
void pool_retire(pool *p, const char *group);

/* Counts, for metrics and tests (a consistent snapshot). */
typedef struct pool_counts {
    unsigned instances; /* launching + busy + idle */
    unsigned busy;
    unsigned idle;
    unsigned launching;
    unsigned waiting; /* callers waiting for an instance to free up (all groups) */
    uint64_t launches, terminations, evictions, throttles, retries;
} pool_counts;
void pool_get_counts(pool *p, const char *group, pool_counts *out); /* group NULL = all */

/*
 * Call FN(CTX, group, instances, busy) for every group (under the pool's
 * lock: FN must not call the pool).
 */
void pool_foreach_group(pool *p,
                        void (*fn)(void *ctx, const char *group, unsigned instances, unsigned busy),
                        void *ctx);

/*
 * Shutdown, first step: refuse new calls (POOL_CLOSING), wake the callers
 * waiting for an instance and cancel the launches and calls in flight
 * (through their cancel tokens); returns at once. Idempotent.
 */
void pool_shutdown(pool *p);

/*
 * pool_shutdown, wait for every call to return, terminate every instance,
 * stop the reaper, free. NULL ok.
 */
void pool_free(pool *p);

void pool_result_free(pool_result *res);

#endif
