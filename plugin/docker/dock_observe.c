/*
 * dock_observe: status, logs and stats of the docker backend (dock_observe.h).
 */
#include "dock_observe.h"

#include "abi_struct.h"
#include "dock_containers.h"
#include "logstream.h"
#include "svc.h"

#include <stdio.h>
#include <string.h>

#define DOCK_WHO               "docker backend"
#define DOCK_LOGS_MAX_DEFAULT  (1u << 20)
#define DOCK_LOGS_TIMEOUT_MS   30000u
#define DOCK_FOLLOW_TIMEOUT_MS (24u * 3600u * 1000u)

static int dock_bad_handle(const char *op, const char *handle, fcb_error *err)
{
    return err_set(err, FCB_ERR_INVALID_ARGUMENT,
                   "%s: handle '%.200s' is not a docker handle (container/<id>)", op,
                   handle != NULL ? handle : "(null)");
}

/* ------------------------------------------------------------------------ */
/* status                                                                    */
/* ------------------------------------------------------------------------ */

static void dock_status_fill(const dock_container_life *life, fcb_instance_status *st)
{
    if (life->gone || strcmp(life->status, "removing") == 0) {
        st->state = FCB_INSTANCE_GONE;
    } else if (strcmp(life->status, "created") == 0) {
        st->state = FCB_INSTANCE_STARTING;
    } else if (strcmp(life->status, "exited") == 0 || strcmp(life->status, "dead") == 0) {
        st->state = FCB_INSTANCE_EXITED;
        st->exit_code = (int)life->exit_code;
        snprintf(st->reason, sizeof st->reason, "%s", life->oom_killed ? "OOMKilled" : life->error);
    } else {
        st->state = FCB_INSTANCE_RUNNING; /* running, paused, restarting */
        snprintf(st->reason, sizeof st->reason, "%s",
                 strcmp(life->status, "running") == 0 ? "" : life->status);
    }
}

int dock_backend_status(fcb_backend *b, const char *handle, fcb_instance_status *out,
                        fcb_error *err)
{
    const char *id = NULL;
    if (b == NULL || !dock_backend_handle_id(handle, &id))
        return dock_bad_handle("status", handle, err);
    int rc = ABI_STRUCT_CHECK_OUT(out, reason, "status: out", err);
    if (rc != FCB_OK)
        return rc;
    rc = inflight_enter(dock_backend_inflight(b), DOCK_WHO, err);
    if (rc != FCB_OK)
        return rc;
    dock_container_life life;
    rc = dock_container_life_get(dock_backend_engine(b), id, &life, err);
    if (rc == FCB_OK) {
        uint32_t size = out->size;
        memset(out, 0, size);
        out->size = size;
        dock_status_fill(&life, out);
    } else {
        err_prefix(err, "status of %.200s", handle);
    }
    inflight_leave(dock_backend_inflight(b));
    return rc;
}

/* ------------------------------------------------------------------------ */
/* logs                                                                      */
/* ------------------------------------------------------------------------ */

typedef struct dock_logs_run {
    const fcb_logs_request *req;
    logstream_decoder dec;
    uint64_t delivered;
    uint64_t max_bytes;
    bool sink_stopped; /* on_data or max_bytes ended it: not an error */
    int decode_rc;
    fcb_error decode_err;
} dock_logs_run;

/* One decoded piece to the host, cut at max_bytes. */
static int dock_logs_sink(void *ctx, logstream_kind kind, const char *data, size_t len)
{
    dock_logs_run *r = ctx;
    if (kind == LOGSTREAM_STDIN)
        return 0;
    uint64_t room = r->max_bytes - r->delivered;
    size_t n = len < room ? len : (size_t)room;
    if (n > 0) {
        r->delivered += n;
        if (r->req->on_data(r->req->sink_ctx,
                            kind == LOGSTREAM_STDERR ? FCB_LOG_STDERR : FCB_LOG_STDOUT, data,
                            n) != 0) {
            r->sink_stopped = true;
            return 1;
        }
    }
    if (r->delivered >= r->max_bytes) {
        r->sink_stopped = true;
        return 1;
    }
    return 0;
}

static bool dock_logs_data(void *ctx, const void *data, size_t len)
{
    dock_logs_run *r = ctx;
    r->decode_rc = logstream_decoder_feed(&r->dec, data, len, dock_logs_sink, r, &r->decode_err);
    return r->decode_rc == FCB_OK;
}

static int dock_logs_stop(void *ctx)
{
    const dock_logs_run *r = ctx;
    const fcb_cancel *c = &r->req->cancel;
    return c->cancelled != NULL && c->cancelled(c->ctx) != 0;
}

/* Stream and decode the logs of the container FULL_ID (ours, checked by the caller). */
static int dock_logs_run_stream(fcb_backend *b, const char *full_id, const fcb_logs_request *req,
                                fcb_error *err)
{
    dock_logs_run r = {.req = req,
                       .max_bytes = req->max_bytes != 0 ? req->max_bytes : DOCK_LOGS_MAX_DEFAULT,
                       .decode_err = FCB_ERROR_INIT};
    logstream_decoder_init(&r.dec, 0);
    dock_logs_query q = {.tail_lines = req->tail_lines,
                         .since_unix_ms = req->since_unix_ms,
                         .follow = req->follow != 0,
                         .timeout_ms = req->follow ? DOCK_FOLLOW_TIMEOUT_MS : DOCK_LOGS_TIMEOUT_MS,
                         .on_data = dock_logs_data,
                         .data_ctx = &r,
                         .stop = dock_logs_stop,
                         .stop_ctx = &r};
    int rc = dock_container_logs_stream(dock_backend_engine(b), full_id, &q, err);
    if (r.sink_stopped)
        return FCB_OK; /* the host or max_bytes ended it */
    if (r.decode_rc != FCB_OK) {
        *err = r.decode_err;
        return r.decode_rc;
    }
    if (rc == FCB_OK)
        rc = logstream_decoder_finish(&r.dec, err);
    return rc;
}

int dock_backend_logs(fcb_backend *b, const char *handle, const fcb_logs_request *request,
                      fcb_error *err)
{
    const char *id = NULL;
    if (b == NULL || !dock_backend_handle_id(handle, &id))
        return dock_bad_handle("logs", handle, err);
    fcb_logs_request req;
    int rc = ABI_STRUCT_READ(&req, request, on_data, "logs: request", err);
    if (rc == FCB_OK && req.on_data == NULL)
        rc = err_set(err, FCB_ERR_INVALID_ARGUMENT, "logs: request.on_data is required");
    if (rc == FCB_OK)
        rc = inflight_enter(dock_backend_inflight(b), DOCK_WHO, err);
    if (rc != FCB_OK)
        return rc;
    bool gone = false;
    char full_id[DOCK_ID_MAX];
    rc = dock_container_owned(dock_backend_engine(b), id, &gone, full_id, err);
    if (rc == FCB_OK && gone)
        rc = err_set(err, FCB_ERR_NOT_FOUND, "logs: no container %.200s", handle);
    else if (rc == FCB_ERR_NOT_FOUND)
        err_set(err, FCB_ERR_NOT_FOUND,
                "logs: container %.200s is not managed by fakecloud (no managed-by label)", handle);
    if (rc == FCB_OK)
        rc = dock_logs_run_stream(b, full_id, &req, err);
    if (rc == FCB_ERR_CANCELLED && inflight_closing(dock_backend_inflight(b)))
        err_set(err, FCB_ERR_CANCELLED, "logs of %.200s: backend closed", handle);
    inflight_leave(dock_backend_inflight(b));
    return rc;
}

/* ------------------------------------------------------------------------ */
/* stats                                                                     */
/* ------------------------------------------------------------------------ */

void dock_stats_phase(dock_stats *s, dock_phase phase, uint64_t ms)
{
    atomic_fetch_add(&s->phase_ms[phase], ms);
    atomic_fetch_add(&s->phase_n[phase], 1);
}

static void dock_emit_one(void *ctx, void (*emit)(void *ctx, const fcb_metric *m), const char *name,
                          fcb_metric_kind kind, const char *key, const char *value, double v,
                          uint64_t count)
{
    fcb_metric m = {.size = sizeof m,
                    .name = name,
                    .kind = kind,
                    .label_key = key,
                    .label_value = value,
                    .value = v,
                    .count = count};
    emit(ctx, &m);
}

int dock_backend_stats_emit(fcb_backend *b, void *ctx, void (*emit)(void *ctx, const fcb_metric *m),
                            fcb_error *err)
{
    static const char *const reasons[DOCK_FAIL_N] = {"invalid", "image", "create",   "copy",
                                                     "start",   "ready", "cancelled"};
    static const char *const phases[DOCK_PHASE_N] = {"pull", "create", "copy", "start", "ready"};
    if (b == NULL || emit == NULL)
        return err_set(err, FCB_ERR_INVALID_ARGUMENT, "stats: backend and emit are required");
    dock_stats *s = dock_backend_stats(b);
    dock_emit_one(ctx, emit, "launches_total", FCB_METRIC_COUNTER, NULL, NULL,
                  (double)atomic_load(&s->launches), 0);
    for (int i = 0; i < DOCK_FAIL_N; i++)
        dock_emit_one(ctx, emit, "launch_failures_total", FCB_METRIC_COUNTER, "reason", reasons[i],
                      (double)atomic_load(&s->failures[i]), 0);
    dock_emit_one(ctx, emit, "terminations_total", FCB_METRIC_COUNTER, NULL, NULL,
                  (double)atomic_load(&s->terminations), 0);
    dock_emit_one(ctx, emit, "code_uploads_total", FCB_METRIC_COUNTER, NULL, NULL,
                  (double)atomic_load(&s->code_uploads), 0);
    dock_emit_one(ctx, emit, "code_volume_fills_total", FCB_METRIC_COUNTER, NULL, NULL,
                  (double)atomic_load(&s->code_volume_fills), 0);
    dock_emit_one(ctx, emit, "engine_requests_total", FCB_METRIC_COUNTER, NULL, NULL,
                  (double)atomic_load(&dock_backend_engine(b)->requests), 0);
    for (int i = 0; i < DOCK_PHASE_N; i++)
        dock_emit_one(ctx, emit, "launch_phase_ms", FCB_METRIC_SUM_MS, "phase", phases[i],
                      (double)atomic_load(&s->phase_ms[i]), atomic_load(&s->phase_n[i]));
    return FCB_OK;
}
