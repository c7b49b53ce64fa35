/*
 * commands_instance: `logs HANDLE` and `status HANDLE` (ABI 1.1 ops), the
 * log tail of `invoke --log-tail`, and --stats.
 */
#include "commands.h"

#include "output.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* logs() output kept in memory (--json, --log-tail): the last `limit` bytes. */
typedef struct log_sink {
    char *data;
    size_t len;
    size_t cap;
    size_t limit; /* 0 = keep all (up to the plugin's max_bytes) */
    FILE *stream; /* non-NULL: write there instead */
    bool failed;
} log_sink;

static int log_sink_data(void *ctx, fcb_log_stream stream, const char *data, size_t len)
{
    (void)stream;
    log_sink *s = ctx;
    if (s->stream != NULL) {
        fwrite(data, 1, len, s->stream);
        fflush(s->stream);
        return 0;
    }
    if (s->len + len + 1 > s->cap) {
        size_t cap = s->cap != 0 ? s->cap : 4096;
        while (cap < s->len + len + 1)
            cap *= 2;
        char *p = realloc(s->data, cap);
        if (p == NULL) {
            s->failed = true;
            return 1;
        }
        s->data = p;
        s->cap = cap;
    }
    memcpy(s->data + s->len, data, len);
    s->len += len;
    if (s->limit != 0 && s->len > s->limit) {
        memmove(s->data, s->data + s->len - s->limit, s->limit);
        s->len = s->limit;
    }
    s->data[s->len] = '\0';
    return 0;
}

/* The request for logs(): cancelled by a signal. */
static fcb_logs_request logs_request(run *r, log_sink *sink, uint32_t tail, int64_t since,
                                     bool follow)
{
    fcb_logs_request req = {
        .size = sizeof req,
        .tail_lines = tail,
        .since_unix_ms = since,
        .follow = follow,
        .sink_ctx = sink,
        .on_data = log_sink_data,
        .cancel = {&r->sig, signals_interrupted},
    };
    return req;
}

int run_log_tail(run *r, const char *handle, size_t limit, char **text, size_t *len, char *why,
                 size_t why_size)
{
    *text = NULL;
    *len = 0;
    if (!RUN_HAS_OP(r, logs)) {
        snprintf(why, why_size, "backend %s has no logs operation (ABI 1.1, optional)",
                 r->plugin->ops->name);
        return FCB_ERR_UNSUPPORTED;
    }
    log_sink sink = {.limit = limit};
    fcb_logs_request req = logs_request(r, &sink, 0, 0, false);
    fcb_error err = FCB_ERROR_INIT;
    int rc = r->plugin->ops->logs(r->backend, handle, &req, &err);
    if (rc == FCB_OK && sink.failed) {
        rc = FCB_ERR_NO_MEMORY;
        snprintf(err.message, sizeof err.message, "out of memory");
    }
    if (rc != FCB_OK) {
        snprintf(why, why_size, "logs %s: %s (%s)", handle,
                 err.message[0] ? err.message : "no reason given", fcb_status_name(rc));
        free(sink.data);
        return rc;
    }
    *text = sink.data != NULL ? sink.data : strdup("");
    *len = sink.len;
    return *text != NULL ? FCB_OK : FCB_ERR_NO_MEMORY;
}

static int64_t now_unix_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* Load and open the backend; refuse one without OP_PRESENT (exit 2). */
static int open_with_op(run *r, bool op_present_check(run *), const char *what)
{
    int rc = run_backend_load(r);
    if (rc != HOST_EXIT_OK)
        return rc;
    if (!op_present_check(r))
        return run_fail(r, HOST_EXIT_USAGE, FCB_ERR_UNSUPPORTED,
                        "%s: backend %s has no %s operation (ABI 1.1, optional)", r->opt.command,
                        r->plugin->ops->name, what);
    rc = run_start_artifacts(r);
    if (rc == HOST_EXIT_OK)
        rc = run_backend_open(r);
    return rc;
}

static bool has_logs(run *r)
{
    return RUN_HAS_OP(r, logs);
}

static bool has_status(run *r)
{
    return RUN_HAS_OP(r, status);
}

int cmd_logs(run *r)
{
    char why[HOST_WHY_MAX];
    unsigned tail = 0;
    long long since_ms = 0;
    if (cli_tail_lines(r->opt.tail, &tail, why, sizeof why) != 0 ||
        cli_since_ms(r->opt.since, &since_ms, why, sizeof why) != 0)
        return run_fail(r, HOST_EXIT_USAGE, FCB_ERR_INVALID_ARGUMENT, "%s", why);
    int rc = open_with_op(r, has_logs, "logs");
    if (rc != HOST_EXIT_OK)
        return rc;
    if (r->opt.follow && (run_capabilities(r) & FCB_CAP_LOGS_FOLLOW) == 0)
        return run_fail(r, HOST_EXIT_USAGE, FCB_ERR_UNSUPPORTED,
                        "logs --follow: backend %s does not declare the logs-follow capability",
                        r->plugin->ops->name);
    const char *handle = r->opt.handle;
    log_sink sink = {.stream = r->opt.json ? NULL : stdout};
    fcb_logs_request req =
        logs_request(r, &sink, tail, since_ms > 0 ? now_unix_ms() - since_ms : 0, r->opt.follow);
    fcb_error err = FCB_ERROR_INIT;
    int frc = r->plugin->ops->logs(r->backend, handle, &req, &err);
    if (frc == FCB_OK && sink.failed)
        frc = FCB_ERR_NO_MEMORY;
    if (frc != FCB_OK && run_interrupted(r))
        rc = run_fail(r, HOST_EXIT_INTERRUPTED, FCB_ERR_CANCELLED, "interrupted: logs %s stopped",
                      handle);
    else if (frc != FCB_OK)
        rc =
            run_fail(r, run_exit_for(frc, HOST_EXIT_FAILED), frc, "logs %s failed: %s (%s)", handle,
                     err.message[0] ? err.message : "no reason given", fcb_status_name(frc));
    if (rc == HOST_EXIT_OK) {
        output_json_set_str(r->out, "backend", r->plugin->ops->name);
        output_json_set_str(r->out, "handle", handle);
        output_json_set_str(r->out, "logs", sink.data != NULL ? sink.data : "");
    }
    free(sink.data);
    return rc;
}

static const char *state_name(int state)
{
    switch (state) {
    case FCB_INSTANCE_STARTING: return "starting";
    case FCB_INSTANCE_RUNNING: return "running";
    case FCB_INSTANCE_EXITED: return "exited";
    case FCB_INSTANCE_GONE: return "gone";
    default: return "unknown";
    }
}

int cmd_status(run *r)
{
    int rc = open_with_op(r, has_status, "status");
    if (rc != HOST_EXIT_OK)
        return rc;
    const char *handle = r->opt.handle;
    fcb_instance_status st;
    memset(&st, 0, sizeof st);
    st.size = sizeof st;
    fcb_error err = FCB_ERROR_INIT;
    int frc = r->plugin->ops->status(r->backend, handle, &st, &err);
    if (frc != FCB_OK)
        return run_fail(r, run_exit_for(frc, HOST_EXIT_FAILED), frc, "status %s failed: %s (%s)",
                        handle, err.message[0] ? err.message : "no reason given",
                        fcb_status_name(frc));
    st.reason[sizeof st.reason - 1] = '\0';
    const char *state = state_name(st.state);
    output_json_set_str(r->out, "backend", r->plugin->ops->name);
    output_json_set_str(r->out, "handle", handle);
    output_json_set_str(r->out, "state", state);
    if (st.state == FCB_INSTANCE_EXITED)
        json_object_object_add(r->out, "exit_code", json_object_new_int(st.exit_code));
    output_json_set_str(r->out, "reason", st.reason);
    if (!r->opt.json) {
        if (st.state == FCB_INSTANCE_EXITED)
            printf("%s exited (code %d)%s%s\n", handle, st.exit_code, st.reason[0] ? ": " : "",
                   st.reason);
        else
            printf("%s %s%s%s\n", handle, state, st.reason[0] ? ": " : "", st.reason);
    }
    return HOST_EXIT_OK;
}

/* "name" or "name{key=value}" */
static void metric_key(const fcb_metric *m, char *key, size_t size)
{
    bool labelled = FCB_HAS_MEMBER(m, fcb_metric, label_value) && m->label_key != NULL &&
                    m->label_value != NULL;
    if (labelled)
        snprintf(key, size, "%s{%s=%s}", m->name, m->label_key, m->label_value);
    else
        snprintf(key, size, "%s", m->name);
}

static void collect_metric(void *ctx, const fcb_metric *m)
{
    json_object *o = ctx;
    if (m == NULL || !FCB_HAS_MEMBER(m, fcb_metric, count) || m->name == NULL)
        return; /* a metric this host cannot read */
    char key[512];
    metric_key(m, key, sizeof key);
    json_object *v;
    if (m->kind == FCB_METRIC_SUM_MS) {
        v = json_object_new_object();
        json_object_object_add(v, "sum_ms", json_object_new_double(m->value));
        json_object_object_add(v, "count", json_object_new_int64((int64_t)m->count));
    } else if (m->value == (double)(int64_t)m->value) {
        v = json_object_new_int64((int64_t)m->value);
    } else {
        v = json_object_new_double(m->value);
    }
    json_object_object_add(o, key, v);
}

void run_print_stats(run *r)
{
    if (r->plugin == NULL || r->backend == NULL)
        return;
    if (!RUN_HAS_OP(r, stats)) {
        host_log(r->hs, FCB_LOG_WARN, "--stats: the backend has no stats operation (ABI 1.1)",
                 "backend", r->plugin->ops->name, NULL);
        return;
    }
    json_object *o = json_object_new_object();
    fcb_error err = FCB_ERROR_INIT;
    int rc = r->plugin->ops->stats(r->backend, o, collect_metric, &err);
    if (rc != FCB_OK) {
        host_log(r->hs, FCB_LOG_WARN, "--stats: the backend's stats failed", "error",
                 err.message[0] ? err.message : fcb_status_name(rc), NULL);
        json_object_put(o);
        return;
    }
    if (r->opt.json && r->out != NULL) {
        json_object_object_add(r->out, "stats", o);
        return;
    }
    fprintf(stderr, "%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(o);
}
