/*
 * baseline_k8s: the reference k8s backend's algorithm (fakecloud
 * runtime/k8s/mod.rs), reproduced request for request so that our plugin can
 * be measured against it on the same simulator, the same boot time and the
 * same machine. Nothing here is "improved": the point is fidelity.
 *
 *   launch:    DELETE pods/<name> (best effort; the name is deterministic per
 *              function + deploy id); POST pods (on 409: sleep 500 ms, DELETE,
 *              retry; up to 6 tries); GET pods/<name> every 1 s until phase
 *              Running with a podIP (deadline 60 s; Failed/Succeeded = error);
 *              then up to 20 times: sleep 500 ms, TCP connect podIP:8080.
 *              On failure after create: DELETE.
 *   terminate: DELETE pods/<name> (404 = success).
 *   reap:      one unpaged LIST ?labelSelector=fakecloud-managed-by=fakecloud,
 *              then one DELETE per Pod whose fakecloud-instance label is not ours.
 *
 * Pod body as the reference's builder makes it: labels managed-by, instance
 * ("fakecloud-<pid>"), lambda, service; init container with the internal
 * token as a plain env value (Zip functions); restartPolicy Never.
 * Thread-safe: launch/terminate from many threads on one basek8s.
 */
#ifndef BASELINE_K8S_H
#define BASELINE_K8S_H

#include "bench_http.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BASEK8S_ERR_MAX 1024

typedef struct basek8s_config {
    const char *namespace_name; /* "default" */
    const char *instance_id;    /* the reference: "fakecloud-<pid>" */
    const char *self_url;       /* in-cluster URL of the host (init downloads) */
    const char *internal_token; /* plain env value, as the reference does */
    /* The reference's constants; tests may shrink them, the bench never does. */
    unsigned poll_ms;             /* 1000 */
    unsigned running_deadline_ms; /* 60000 */
    unsigned probe_sleep_ms;      /* 500 */
    unsigned probe_tries;         /* 20 */
    unsigned conflict_sleep_ms;   /* 500 */
} basek8s_config;

/* The reference's constants. */
#define BASEK8S_CONFIG_DEFAULTS(ns, inst, url, tok)           \
    {                                                         \
        (ns), (inst), (url), (tok), 1000, 60000, 500, 20, 500 \
    }

typedef struct basek8s_function {
    const char *name;    /* FunctionName */
    const char *arn;     /* FunctionArn or NULL */
    const char *runtime; /* e.g. "python3.12" (Zip) */
    const char *handler; /* e.g. "app.handler" (Zip) */
    const char *image;   /* container image to run */
    bool zip;            /* Zip package: init container downloads code + layers */
    const char *deploy_id;
    uint32_t memory_mb; /* 0 = 128 */
    uint32_t timeout_s; /* 0 = 3 */
} basek8s_function;

typedef struct basek8s basek8s;

/* Config strings are copied. `api` is borrowed and must outlive the result. */
basek8s *basek8s_new(bhttp_client *api, const basek8s_config *cfg);
void basek8s_free(basek8s *b);

/* Per-call counters the caller can read (requests sent, polls, probes). */
typedef struct basek8s_counts {
    unsigned requests;
    unsigned get_polls;
    unsigned probes;
} basek8s_counts;

/*
 * Launch as the reference does. On success fills endpoint "podIP:8080" and
 * pod_name. Returns 0 or -1 with err. counts may be NULL.
 */
int basek8s_launch(basek8s *b, const basek8s_function *fn, char endpoint[64], char pod_name[64],
                   basek8s_counts *counts, char err[BASEK8S_ERR_MAX]);
/* DELETE the Pod; 404 is success. Returns 0 or -1 with err. */
int basek8s_terminate(basek8s *b, const char *pod_name, char err[BASEK8S_ERR_MAX]);
/* LIST + one DELETE per foreign Pod. *reaped = deleted; counts may be NULL. */
int basek8s_reap(basek8s *b, size_t *reaped, basek8s_counts *counts, char err[BASEK8S_ERR_MAX]);

/* Pure parts (unit-tested). Results malloc'd, caller frees; NULL on OOM. */
char *basek8s_pod_name(const char *function_name, const char *deploy_id);
char *basek8s_pod_json(const basek8s_config *cfg, const basek8s_function *fn);

#endif
