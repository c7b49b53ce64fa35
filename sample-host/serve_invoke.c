/*
 * serve_invoke: Invoke (RequestResponse, Event, DryRun) through the pool,
 * the answer as Lambda gives it (X-Amz-Function-Error, X-Amz-Executed-Version,
 * X-Amz-Log-Result), and the figures of GET /metrics.
 */
#include "serve.h"

#include "lambda_api.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Lambda's LogType=Tail: the last 4 KB of the log. */
#define SERVE_LOG_TAIL_BYTES 4096
/* Event invocations: the first attempt and two retries, like AWS. */
#define SERVE_EVENT_ATTEMPTS 3

static const double duration_bounds_s[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                           0.5,   1,    2.5,   5,    10,  30};
#define SERVE_BUCKETS (sizeof duration_bounds_s / sizeof duration_bounds_s[0])

typedef struct function_metrics {
    struct function_metrics *next;
    char name[65];
    uint64_t invocations, errors, throttles, cold_starts;
    uint64_t buckets[SERVE_BUCKETS];
    double duration_sum_s;
    double launch_sum_s;
    double init_sum_s; /* the RIE's Init Duration, cold starts whose log has it */
    uint64_t init_count;
} function_metrics;

struct serve_metrics {
    function_metrics *functions;
};

int serve_metrics_new(serve_metrics **out)
{
    *out = calloc(1, sizeof **out);
    return *out != NULL ? 0 : -1;
}

void serve_metrics_free(serve_metrics *m)
{
    if (m == NULL)
        return;
    for (function_metrics *f = m->functions, *next; f != NULL; f = next) {
        next = f->next;
        free(f);
    }
    free(m);
}

/* The entry of NAME (sv->lock held); NULL without memory. */
static function_metrics *metrics_of(serve *sv, const char *name)
{
    for (function_metrics *f = sv->metrics->functions; f != NULL; f = f->next)
        if (strcmp(f->name, name) == 0)
            return f;
    function_metrics *f = calloc(1, sizeof *f);
    if (f == NULL)
        return NULL;
    snprintf(f->name, sizeof f->name, "%s", name);
    f->next = sv->metrics->functions;
    sv->metrics->functions = f;
    return f;
}

static void record(serve *sv, const char *name, int rc, const pool_result *res, bool error)
{
    pthread_mutex_lock(&sv->lock);
    function_metrics *f = metrics_of(sv, name);
    if (f != NULL && (rc == POOL_THROTTLED || rc == POOL_THROTTLED_RESERVED)) {
        f->throttles++;
    } else if (f != NULL) {
        f->invocations++;
        f->errors += error || rc != POOL_OK;
        f->cold_starts += res->cold;
        if (res->cold)
            f->launch_sum_s += res->launch_ms / 1e3;
        double s = res->invoke_ms / 1e3;
        f->duration_sum_s += s;
        for (size_t i = 0; i < SERVE_BUCKETS; i++)
            f->buckets[i] += s <= duration_bounds_s[i];
    }
    pthread_mutex_unlock(&sv->lock);
}

typedef struct serve_target {
    fcb_launch_request req;
    pool_target t;
} serve_target;

static void target_of(serve *sv, store_deploy *d, int reserved, bool tail, serve_target *x)
{
    memset(x, 0, sizeof *x);
    x->req.size = sizeof x->req;
    x->req.function = &d->desc->fn;
    x->req.code = (fcb_blob){d->code, d->code_len};
    x->req.code_dir = d->code_dir; /* hot reload: the store admits it only with the capability */
    x->req.layers = d->n_layers > 0 ? d->layers : NULL;
    x->req.n_layers = d->n_layers;
    x->req.deploy_id = d->deploy_id;
    x->req.aws_endpoint_url = sv->r->opt.aws_endpoint_url;
    x->req.credentials = sv->r->creds.access_key_id != NULL ? &sv->r->creds.fcb : NULL;
    x->t.group = d->group;
    x->t.function = d->desc->fn.function_name;
    x->t.reserved = reserved;
    x->t.launch = &x->req;
    x->t.wait_ms = sv->wait_ms;
    uint32_t timeout_s = d->desc->fn.timeout_seconds ? d->desc->fn.timeout_seconds : 3;
    x->t.timeout_ms = (long)timeout_s * 1000;
    /* the tail for LogType=Tail, and on a cold start for the RIE's Init Duration */
    x->t.log_tail = tail ? POOL_TAIL_ALWAYS : POOL_TAIL_COLD;
    x->t.log_tail_bytes = SERVE_LOG_TAIL_BYTES;
}

/* An error envelope as the runtime would write it, answered 200 + Unhandled. */
static void answer_envelope(serve_answer *a, const char *type, const char *message)
{
    json_object *o = json_object_new_object();
    json_object_object_add(o, "errorMessage", json_object_new_string(message));
    json_object_object_add(o, "errorType", json_object_new_string(type));
    const char *text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
    a->body = text != NULL ? strdup(text) : NULL;
    a->body_len = a->body != NULL ? strlen(a->body) : 0;
    json_object_put(o);
    a->status = 200;
    a->content_type = "application/json";
    snprintf(a->function_error, sizeof a->function_error, "Unhandled");
}

/* The Init Duration of a cold start (from the log's REPORT line) into the metrics. */
static void record_init(serve *sv, const char *function, const char *log, size_t len)
{
    double ms = log != NULL ? lapi_report_init_ms(log, len) : -1;
    if (ms < 0)
        return;
    pthread_mutex_lock(&sv->lock);
    function_metrics *f = metrics_of(sv, function);
    if (f != NULL) {
        f->init_sum_s += ms / 1e3;
        f->init_count++;
    }
    pthread_mutex_unlock(&sv->lock);
}

static void answer_result(serve *sv, const store_deploy *d, const pool_target *t, int rc,
                          pool_result *res, const char *why, bool tail, serve_answer *a)
{
    snprintf(a->executed_version, sizeof a->executed_version, "%s", d->version);
    char msg[HOST_WHY_MAX + 64];
    switch (rc) {
    case POOL_OK: {
        const char *fe =
            lapi_function_error(res->http_status, res->body, res->body_len, res->function_error);
        snprintf(a->function_error, sizeof a->function_error, "%s", fe != NULL ? fe : "");
        a->status = 200;
        a->content_type = "application/json";
        a->body = res->body;
        a->body_len = res->body_len;
        res->body = NULL;
        break;
    }
    case POOL_TIMED_OUT:
        snprintf(msg, sizeof msg, "Task timed out after %.2f seconds", t->timeout_ms / 1e3);
        answer_envelope(a, "Sandbox.Timedout", msg);
        break;
    case POOL_INVOKE_FAILED:
        if (res->not_delivered) { /* no handler ran: a service failure, not the function's */
            serve_answer_error(a, 502, "ServiceException", why, NULL);
            return;
        }
        snprintf(msg, sizeof msg, "Runtime exited without providing a reason (%s)", why);
        answer_envelope(a, "Runtime.ExitError", msg);
        break;
    case POOL_THROTTLED_RESERVED:
        serve_answer_error(a, 429, "TooManyRequestsException", why,
                           "ReservedFunctionConcurrentInvocationLimitExceeded");
        return;
    case POOL_THROTTLED:
        serve_answer_error(a, 429, "TooManyRequestsException", why,
                           "ConcurrentInvocationLimitExceeded");
        return;
    case POOL_LAUNCH_FAILED:
        if (res->backend_status == FCB_ERR_INVALID_ARGUMENT ||
            res->backend_status == FCB_ERR_UNSUPPORTED)
            serve_answer_error(a, 400, "InvalidParameterValueException", why, NULL);
        else
            serve_answer_error(a, 502, "ServiceException", why, NULL);
        return;
    default: serve_answer_error(a, 503, "ServiceException", why, NULL); return;
    }
    /* LogType=Tail, and a cold start's Init Duration: the pool read the tail for both. */
    if (res->cold && res->log_tail != NULL)
        record_init(sv, t->function, res->log_tail, res->log_tail_len);
    if (tail && res->log_tail != NULL)
        a->log_result = lapi_base64_encode(res->log_tail, res->log_tail_len);
}

static void invoke_sync(serve *sv, store_deploy *d, int reserved, const char *payload, size_t len,
                        bool tail, serve_answer *a)
{
    serve_target x;
    target_of(sv, d, reserved, tail, &x);
    pool_result res;
    char why[HOST_WHY_MAX] = "";
    int rc = pool_invoke(sv->pool, &x.t, payload, len, &res, why, sizeof why);
    answer_result(sv, d, &x.t, rc, &res, why, tail, a);
    record(sv, x.t.function, rc, &res, a->function_error[0] != '\0');
    pool_result_free(&res);
}

/* ---- Event invocations ------------------------------------------------------------ */

typedef struct serve_event {
    serve *sv;
    store_deploy *d;
    int reserved;
    char *payload;
    size_t len;
} serve_event;

/* Wait MS between attempts, or less once serve stops (sv->lock held). */
static void event_pause(serve *sv, long ms)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += ms / 1000;
    until.tv_nsec += ms % 1000 * 1000000L;
    until.tv_sec += until.tv_nsec / 1000000000L;
    until.tv_nsec %= 1000000000L;
    for (unsigned i = 0; !sv->stopping && i < 1000; i++)
        if (pthread_cond_timedwait(&sv->events_done, &sv->lock, &until) != 0)
            break;
}

/* One event: attempts until the handler succeeds, at most 3 (AWS: 2 retries). */
static void *event_main(void *arg)
{
    serve_event *ev = arg;
    serve *sv = ev->sv;
    serve_target x;
    target_of(sv, ev->d, ev->reserved, false, &x);
    for (unsigned attempt = 0; attempt < SERVE_EVENT_ATTEMPTS; attempt++) {
        pool_result res;
        char why[HOST_WHY_MAX] = "";
        int rc = pool_invoke(sv->pool, &x.t, ev->payload, ev->len, &res, why, sizeof why);
        bool error = rc == POOL_OK && lapi_function_error(res.http_status, res.body, res.body_len,
                                                          res.function_error) != NULL;
        record(sv, x.t.function, rc, &res, error);
        pool_result_free(&res);
        if ((rc == POOL_OK && !error) || rc == POOL_CLOSING)
            break;
        host_log(sv->r->hs, FCB_LOG_WARN, "Event invocation failed", "function", x.t.function,
                 "attempt",
                 attempt == 0   ? "1"
                 : attempt == 1 ? "2"
                                : "3",
                 "reason", rc == POOL_OK ? "function error" : why, NULL);
        pthread_mutex_lock(&sv->lock);
        if (attempt + 1 < SERVE_EVENT_ATTEMPTS)
            event_pause(sv, sv->event_retry_ms);
        bool stop = sv->stopping;
        pthread_mutex_unlock(&sv->lock);
        if (stop)
            break;
    }
    store_deploy_put(ev->d);
    free(ev->payload);
    free(ev);
    pthread_mutex_lock(&sv->lock);
    sv->events--;
    pthread_cond_broadcast(&sv->events_done);
    pthread_mutex_unlock(&sv->lock);
    return NULL;
}

/* Queue an Event invocation (takes the reference on D). 202, or 429 when too many run. */
static void invoke_event(serve *sv, store_deploy *d, int reserved, const char *payload, size_t len,
                         serve_answer *a)
{
    serve_event *ev = calloc(1, sizeof *ev);
    char *copy = malloc(len + 1);
    pthread_mutex_lock(&sv->lock);
    bool room = !sv->stopping && sv->events < SERVE_EVENTS_MAX && ev != NULL && copy != NULL;
    if (room)
        sv->events++;
    pthread_mutex_unlock(&sv->lock);
    pthread_t thread;
    pthread_attr_t attr;
    if (room) {
        memcpy(copy, payload, len);
        copy[len] = '\0';
        *ev = (serve_event){sv, d, reserved, copy, len};
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        pthread_attr_setstacksize(&attr, (size_t)512 * 1024);
        room = pthread_create(&thread, &attr, event_main, ev) == 0;
        pthread_attr_destroy(&attr);
        if (!room) {
            pthread_mutex_lock(&sv->lock);
            sv->events--;
            pthread_mutex_unlock(&sv->lock);
        }
    }
    if (!room) {
        free(ev);
        free(copy);
        store_deploy_put(d);
        serve_answer_error(a, 429, "TooManyRequestsException", "too many Event invocations queued",
                           "ConcurrentInvocationLimitExceeded");
        return;
    }
    a->status = 202;
}

void serve_events_drain(serve *sv)
{
    pthread_mutex_lock(&sv->lock);
    sv->stopping = true;
    pthread_cond_broadcast(&sv->events_done);
    for (unsigned i = 0; sv->events > 0 && i < 100000; i++)
        pthread_cond_wait(&sv->events_done, &sv->lock);
    pthread_mutex_unlock(&sv->lock);
}

/* ---- Invoke ------------------------------------------------------------------------ */

static bool payload_is_json(const char *payload, size_t len)
{
    json_tokener *tok = json_tokener_new();
    json_object *o = tok != NULL ? json_tokener_parse_ex(tok, payload, (int)len) : NULL;
    bool ok = o != NULL;
    for (size_t i = ok ? json_tokener_get_parse_end(tok) : len; i < len; i++)
        ok = ok &&
             (payload[i] == ' ' || payload[i] == '\n' || payload[i] == '\r' || payload[i] == '\t');
    json_object_put(o);
    if (tok != NULL)
        json_tokener_free(tok);
    return ok;
}

void serve_invoke(serve *sv, const serve_call *c, serve_answer *a)
{
    const char *type =
        MHD_lookup_connection_value(c->conn, MHD_HEADER_KIND, "X-Amz-Invocation-Type");
    const char *log_type = MHD_lookup_connection_value(c->conn, MHD_HEADER_KIND, "X-Amz-Log-Type");
    const char *qualifier =
        MHD_lookup_connection_value(c->conn, MHD_GET_ARGUMENT_KIND, "Qualifier");
    if (type == NULL)
        type = "RequestResponse";
    if (strcmp(type, "RequestResponse") != 0 && strcmp(type, "Event") != 0 &&
        strcmp(type, "DryRun") != 0) {
        serve_answer_error(a, 400, "InvalidParameterValueException",
                           "InvocationType: expected RequestResponse, Event or DryRun", NULL);
        return;
    }
    if (log_type != NULL && strcmp(log_type, "Tail") != 0 && strcmp(log_type, "None") != 0) {
        serve_answer_error(a, 400, "InvalidParameterValueException",
                           "LogType: expected None or Tail", NULL);
        return;
    }
    if (c->body_len > SERVE_PAYLOAD_MAX) {
        serve_answer_error(a, 413, "RequestTooLargeException",
                           "Request must be smaller than 6291456 bytes for the "
                           "InvokeFunction operation",
                           NULL);
        return;
    }
    const char *payload = c->body_len > 0 ? c->body : "{}";
    size_t len = c->body_len > 0 ? c->body_len : 2;
    if (!payload_is_json(payload, len)) {
        serve_answer_error(a, 400, "InvalidRequestContentException",
                           "Could not parse request body into json", NULL);
        return;
    }
    store_deploy *d = NULL;
    int reserved = -1;
    store_error err = {0};
    if (store_get(sv->store, c->target, qualifier, &d, &reserved, &err) != 0) {
        serve_answer_error(a, (unsigned)err.http_status, err.type, err.message, NULL);
        return;
    }
    if (d->n_layers > 0 && (run_capabilities(sv->r) & FCB_CAP_LAYERS) == 0) {
        store_deploy_put(d);
        serve_answer_error(a, 400, "InvalidParameterValueException",
                           "Layers: the backend does not declare the layers capability", NULL);
        return;
    }
    if (strcmp(type, "DryRun") == 0) {
        a->status = 204;
        store_deploy_put(d);
    } else if (strcmp(type, "Event") == 0) {
        invoke_event(sv, d, reserved, payload, len, a); /* takes d */
    } else {
        invoke_sync(sv, d, reserved, payload, len,
                    log_type != NULL && strcmp(log_type, "Tail") == 0, a);
        store_deploy_put(d);
    }
}

/* ---- GET /metrics -------------------------------------------------------------------- */

typedef struct text_buf {
    char *data;
    size_t len, cap;
    bool failed;
} text_buf;

static void text_add(text_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void text_add(text_buf *b, const char *fmt, ...)
{
    for (int round = 0; round < 2 && !b->failed; round++) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->data != NULL ? b->data + b->len : NULL,
                          b->data != NULL ? b->cap - b->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->failed = true;
        } else if (b->data != NULL && b->len + (size_t)n < b->cap) {
            b->len += (size_t)n;
            return;
        } else {
            size_t cap = (b->cap != 0 ? b->cap : 4096) * 2 + (size_t)n;
            char *p = realloc(b->data, cap);
            if (p == NULL)
                b->failed = true;
            b->data = p != NULL ? p : b->data;
            b->cap = p != NULL ? cap : b->cap;
        }
    }
}

static void function_lines(text_buf *b, const function_metrics *f)
{
    static const char *const names[] = {"invocations", "errors", "throttles", "cold_starts"};
    const uint64_t values[] = {f->invocations, f->errors, f->throttles, f->cold_starts};
    for (size_t i = 0; i < 4; i++)
        text_add(b, "fakecloud_lambda_%s_total{function=\"%s\"} %llu\n", names[i], f->name,
                 (unsigned long long)values[i]);
    for (size_t i = 0; i < SERVE_BUCKETS; i++)
        text_add(b, "fakecloud_lambda_duration_seconds_bucket{function=\"%s\",le=\"%g\"} %llu\n",
                 f->name, duration_bounds_s[i], (unsigned long long)f->buckets[i]);
    text_add(b, "fakecloud_lambda_duration_seconds_bucket{function=\"%s\",le=\"+Inf\"} %llu\n",
             f->name, (unsigned long long)(f->invocations));
    text_add(b, "fakecloud_lambda_duration_seconds_sum{function=\"%s\"} %.6f\n", f->name,
             f->duration_sum_s);
    text_add(b, "fakecloud_lambda_duration_seconds_count{function=\"%s\"} %llu\n", f->name,
             (unsigned long long)f->invocations);
    text_add(b, "fakecloud_lambda_cold_start_seconds_sum{function=\"%s\"} %.6f\n", f->name,
             f->launch_sum_s);
    text_add(b, "fakecloud_lambda_init_duration_seconds_sum{function=\"%s\"} %.6f\n", f->name,
             f->init_sum_s);
    text_add(b, "fakecloud_lambda_init_duration_seconds_count{function=\"%s\"} %llu\n", f->name,
             (unsigned long long)f->init_count);
}

static void group_line(void *ctx, const char *group, unsigned instances, unsigned busy)
{
    text_add(ctx, "fakecloud_lambda_pool_instances{group=\"%s\"} %u\n", group, instances);
    text_add(ctx, "fakecloud_lambda_pool_busy{group=\"%s\"} %u\n", group, busy);
}

/* The plugin's own figures (its stats op), prefixed fakecloud_backend_. */
static void plugin_metric(void *ctx, const fcb_metric *m)
{
    text_buf *b = ctx;
    if (m->name == NULL)
        return;
    const char *suffix = m->kind == FCB_METRIC_SUM_MS ? "_sum" : "";
    if (m->label_key != NULL && m->label_value != NULL)
        text_add(b, "fakecloud_backend_%s%s{%s=\"%s\"} %g\n", m->name, suffix, m->label_key,
                 m->label_value, m->value);
    else
        text_add(b, "fakecloud_backend_%s%s %g\n", m->name, suffix, m->value);
}

void serve_metrics_text(serve *sv, serve_answer *a)
{
    text_buf b = {0};
    text_add(&b, "# TYPE fakecloud_lambda_invocations_total counter\n"
                 "# TYPE fakecloud_lambda_duration_seconds histogram\n");
    pthread_mutex_lock(&sv->lock);
    for (const function_metrics *f = sv->metrics->functions; f != NULL; f = f->next)
        function_lines(&b, f);
    text_add(&b, "fakecloud_lambda_events_in_flight %u\n", sv->events);
    pthread_mutex_unlock(&sv->lock);
    pool_counts c;
    pool_get_counts(sv->pool, NULL, &c);
    text_add(&b,
             "fakecloud_lambda_pool_instances_total %u\nfakecloud_lambda_pool_waiting %u\n"
             "fakecloud_lambda_pool_launches_total %llu\nfakecloud_lambda_pool_evictions_total "
             "%llu\nfakecloud_lambda_pool_retries_total %llu\n",
             c.instances, c.waiting, (unsigned long long)c.launches,
             (unsigned long long)c.evictions, (unsigned long long)c.retries);
    pool_foreach_group(sv->pool, group_line, &b);
    if (RUN_HAS_OP(sv->r, stats)) {
        fcb_error err = FCB_ERROR_INIT;
        sv->r->plugin->ops->stats(sv->r->backend, &b, plugin_metric, &err);
    }
    if (b.failed) {
        free(b.data);
        {
            serve_answer_error(a, 500, "ServiceException", "out of memory", NULL);
            return;
        }
    }
    a->status = 200;
    a->content_type = "text/plain; version=0.0.4";
    a->body = b.data;
    a->body_len = b.len;
}
