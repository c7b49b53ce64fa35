/* k8s_stats: the backend's counters and the stats op (see k8s_stats.h). */
#include "k8s_stats.h"

#include "k8s_internal.h"
#include "svc.h"

static const char *const k8s_phase_names[3] = {"create", "running", "ready"};

void k8s_stats_launch(k8s_stats *s, int rc, const k8s_launch_phases *phases)
{
    atomic_fetch_add(&s->launches, 1);
    if (rc != FCB_OK) {
        int slot = rc < 0 && -rc < K8S_STATS_CODES ? -rc : -FCB_ERR_INTERNAL;
        atomic_fetch_add(&s->failures[slot], 1);
        return;
    }
    if (phases == NULL)
        return;
    atomic_fetch_add(&s->phase_ms[0], phases->create_ms);
    atomic_fetch_add(&s->phase_ms[1], phases->running_ms);
    atomic_fetch_add(&s->phase_ms[2], phases->ready_ms);
    atomic_fetch_add(&s->phase_count, 1);
}

void k8s_stats_invoked(k8s_stats *s, int rc)
{
    atomic_fetch_add(&s->invocations, 1);
    if (rc != FCB_OK)
        atomic_fetch_add(&s->invocation_failures, 1);
}

void k8s_stats_terminated(k8s_stats *s)
{
    atomic_fetch_add(&s->terminations, 1);
}

static void k8s_emit(void *ctx, void (*emit)(void *, const fcb_metric *), const char *name,
                     fcb_metric_kind kind, const char *key, const char *value, uint64_t v,
                     uint64_t count)
{
    fcb_metric m = {.size = sizeof m,
                    .name = name,
                    .kind = kind,
                    .label_key = key,
                    .label_value = value,
                    .value = (double)v,
                    .count = count};
    emit(ctx, &m);
}

/* The figures of S and the two clients' counters, in a fixed order. */
static void k8s_stats_emit(const fcb_backend *b, void *ctx,
                           void (*emit)(void *, const fcb_metric *))
{
    const k8s_stats *s = &b->stats;
    kube_client_stats work;
    kube_client_stats cleanup;

    kube_client_get_stats(b->client, &work);
    kube_client_get_stats(b->cleanup, &cleanup);
    k8s_emit(ctx, emit, "launches_total", FCB_METRIC_COUNTER, NULL, NULL, atomic_load(&s->launches),
             0);
    for (int i = 1; i < K8S_STATS_CODES; i++) {
        uint64_t n = atomic_load(&s->failures[i]);
        if (n > 0)
            k8s_emit(ctx, emit, "launch_failures_total", FCB_METRIC_COUNTER, "reason",
                     fcb_status_name(-i), n, 0);
    }
    k8s_emit(ctx, emit, "terminations_total", FCB_METRIC_COUNTER, NULL, NULL,
             atomic_load(&s->terminations), 0);
    k8s_emit(ctx, emit, "api_requests_total", FCB_METRIC_COUNTER, NULL, NULL,
             (uint64_t)work.requests + cleanup.requests, 0);
    k8s_emit(ctx, emit, "api_retries_total", FCB_METRIC_COUNTER, NULL, NULL,
             (uint64_t)work.retries + cleanup.retries, 0);
    uint64_t count = atomic_load(&s->phase_count);
    for (int i = 0; i < 3; i++)
        k8s_emit(ctx, emit, "launch_phase_ms", FCB_METRIC_SUM_MS, "phase", k8s_phase_names[i],
                 atomic_load(&s->phase_ms[i]), count);
    k8s_emit(ctx, emit, "invocations_total", FCB_METRIC_COUNTER, NULL, NULL,
             atomic_load(&s->invocations), 0);
    k8s_emit(ctx, emit, "invocation_failures_total", FCB_METRIC_COUNTER, NULL, NULL,
             atomic_load(&s->invocation_failures), 0);
}

int k8s_backend_stats(fcb_backend *b, void *ctx, void (*emit)(void *ctx, const fcb_metric *m),
                      fcb_error *err)
{
    if (b == NULL || emit == NULL)
        return err_set(err, FCB_ERR_INVALID_ARGUMENT, "stats: %s is NULL",
                       b == NULL ? "backend" : "emit");
    int rc = inflight_enter(&b->ops, K8S_WHO, err);
    if (rc != FCB_OK)
        return rc;
    k8s_stats_emit(b, ctx, emit);
    inflight_leave(&b->ops); /* last: close() may free b once no operation is in flight */
    return FCB_OK;
}
