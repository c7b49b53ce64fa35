/*
 * rel_sweep: how the allocation-failure sweep drives a plugin.
 *
 * init and open are swept on fresh state per failure point (a new load, a
 * new backend instance); launch, terminate and reap reuse one open backend,
 * since each run restores the state it found (the test terminates what a
 * successful launch created, re-terminates after a failed terminate, re-reaps
 * after a failed reap). close is swept on a fresh backend per point.
 * Background threads of the plugin may take the injected failure instead of
 * the operation: that is fine, the plugin must cope with it anywhere.
 */
#include "rel_sweep.h"

#include <loader.h>

#include <criterion/criterion.h>

#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define REL_SETTLE_MS \
    10000 /* waits only while not settled; watch events free state late under load */

const char *rel_op_name(rel_op op)
{
    static const char *const names[REL_OP_COUNT] = {
        "init",          "open",           "launch", "terminate", "reap",  "close", "prepull",
        "failed-launch", "failed-prepull", "status", "logs",      "stats", "invoke"};
    return op < REL_OP_COUNT ? names[op] : "?";
}

typedef struct sweep_env {
    const rel_target *t;
    mock_host *mh;
    loader_plugin *plugin;
    fcb_backend *backend;
    size_t base_threads; /* before the plugin was loaded */
    long base_objects;
} sweep_env;

static long count_objects(const rel_target *t)
{
    return t->count_objects != NULL ? t->count_objects(t->ctx) : 0;
}

static mock_host *env_host_new(const rel_target *t)
{
    mock_host *mh = mock_host_new();
    if (t->configure != NULL)
        t->configure(t->ctx, mh);
    return mh;
}

static void env_load(sweep_env *e)
{
    char why[LOADER_WHY_MAX] = "";
    int rc = loader_load(e->t->plugin_path, mock_host_services(e->mh), &e->plugin, why);
    cr_assert_eq(rc, 0, "%s: loading %s failed: %s", e->t->name, e->t->plugin_path, why);
}

static void env_open(sweep_env *e)
{
    fcb_open_params params = {sizeof params, e->t->internal_token};
    fcb_error err = FCB_ERROR_INIT;
    int rc = e->plugin->ops->open(mock_host_services(e->mh), &params, &e->backend, &err);
    cr_assert_eq(rc, FCB_OK, "%s: open failed without injected failures: %s", e->t->name,
                 err.message);
}

/* Everything back to the baseline: bytes (given), threads, objects. */
static void env_assert_clean(const sweep_env *e, size_t want_bytes, size_t want_threads, rel_op op,
                             size_t n)
{
    size_t threads = rel_wait_threads(want_threads, REL_SETTLE_MS);
    cr_assert_leq(threads, want_threads, "%s %s, failure point %zu: %zu threads, expected %zu",
                  e->t->name, rel_op_name(op), n, threads, want_threads);
    /* A long-lived backend may shrink (caches); it must never grow. Exact 0 after close. */
    size_t bytes = mock_host_outstanding_bytes(e->mh);
    double until = rel_now_ms() + REL_SETTLE_MS; /* watch events free state asynchronously */
    while (bytes > want_bytes && rel_now_ms() < until) {
        usleep(5000);
        bytes = mock_host_outstanding_bytes(e->mh);
    }
    if (bytes > want_bytes)
        mock_host_dump_since_mark(e->mh, stderr);
    cr_assert_leq(bytes, want_bytes,
                  "%s %s, failure point %zu: %zu bytes outstanding, expected %zu", e->t->name,
                  rel_op_name(op), n, bytes, want_bytes);
    long objects = count_objects(e->t);
    double end = rel_now_ms() + REL_SETTLE_MS;
    while (objects > e->base_objects && rel_now_ms() < end) {
        usleep(20000);
        objects = count_objects(e->t);
    }
    cr_assert_eq(objects, e->base_objects,
                 "%s %s, failure point %zu: %ld objects in the orchestrator, expected %ld",
                 e->t->name, rel_op_name(op), n, objects, e->base_objects);
}

/* Inject failure N, run `op` once; returns rc and whether a failure was injected. */
static bool injected_since(mock_host *mh, size_t before)
{
    return mock_host_failed_allocs(mh) > before;
}

static void sweep_init(const rel_target *t, size_t cap, rel_sweep_result *r)
{
    for (size_t n = 1; n <= cap + 1; n++) {
        if (n > cap) {
            r->capped = true;
            break;
        }
        sweep_env e = {.t = t, .base_threads = rel_thread_count()};
        e.mh = env_host_new(t);
        e.base_objects = count_objects(t);
        size_t before = mock_host_failed_allocs(e.mh);
        mock_host_mark(e.mh);
        mock_host_fail_alloc(e.mh, n);
        char why[LOADER_WHY_MAX] = "";
        int rc = loader_load(t->plugin_path, mock_host_services(e.mh), &e.plugin, why);
        bool hit = injected_since(e.mh, before);
        mock_host_fail_alloc(e.mh, 0);
        if (rc != 0) {
            cr_assert(hit, "%s: init failed without an injected failure: %s", t->name, why);
            cr_assert(why[0] != '\0', "%s: init failed with an empty reason", t->name);
            r->errors++;
        } else {
            loader_unload(e.plugin);
        }
        env_assert_clean(&e, 0, e.base_threads, REL_OP_INIT, n);
        mock_host_free(e.mh);
        if (!hit)
            break;
        r->points++;
    }
}

static void sweep_open_close(const rel_target *t, rel_op op, size_t cap, rel_sweep_result *r)
{
    sweep_env e = {.t = t, .base_threads = rel_thread_count()};
    e.mh = env_host_new(t);
    e.base_objects = count_objects(t);
    env_load(&e);
    size_t base_bytes = mock_host_outstanding_bytes(e.mh);
    for (size_t n = 1;; n++) {
        if (n > cap) {
            r->capped = true;
            break;
        }
        bool hit;
        if (op == REL_OP_OPEN) {
            fcb_open_params params = {sizeof params, t->internal_token};
            fcb_error err = FCB_ERROR_INIT;
            fcb_backend *b = NULL;
            size_t before = mock_host_failed_allocs(e.mh);
            mock_host_mark(e.mh);
            mock_host_fail_alloc(e.mh, n);
            int rc = e.plugin->ops->open(mock_host_services(e.mh), &params, &b, &err);
            hit = injected_since(e.mh, before);
            mock_host_fail_alloc(e.mh, 0);
            if (rc != FCB_OK) {
                cr_assert(hit, "%s: open failed without an injected failure: %s", t->name,
                          err.message);
                rel_assert_clean_error(rc, &err, "open");
                cr_assert_null(b, "%s: failed open left *out set", t->name);
                r->errors++;
            } else {
                e.plugin->ops->close(b);
            }
        } else {
            env_open(&e);
            size_t before = mock_host_failed_allocs(e.mh);
            mock_host_mark(e.mh);
            mock_host_fail_alloc(e.mh, n);
            e.plugin->ops->close(e.backend);
            hit = injected_since(e.mh, before);
            mock_host_fail_alloc(e.mh, 0);
            e.backend = NULL;
        }
        env_assert_clean(&e, base_bytes, e.base_threads, op, n);
        if (!hit)
            break;
        r->points++;
    }
    loader_unload(e.plugin);
    cr_assert_eq(mock_host_outstanding_bytes(e.mh), 0, "%s: bytes left after unload", t->name);
    mock_host_free(e.mh);
}

static void do_terminate(sweep_env *e, const char *handle)
{
    fcb_error err = FCB_ERROR_INIT;
    int rc = e->plugin->ops->terminate(e->backend, handle, &err);
    cr_assert_eq(rc, FCB_OK, "%s: terminate %s failed without injection: %s", e->t->name, handle,
                 err.message);
}

/* One open backend whose state every run of launch/terminate/reap/... restores. */
typedef struct instance_sweep {
    sweep_env e;
    sweep_env probe; /* e with the objects the open backend owns as baseline */
    size_t base_bytes;
    size_t base_threads;
    long objects_open;
    rel_sweep_result *r;
    fcb_instance kept; /* status, logs: the instance they look at */
    bool have_kept;
} instance_sweep;

static void inject_begin(instance_sweep *s, size_t n, size_t *before)
{
    *before = mock_host_failed_allocs(s->e.mh);
    mock_host_mark(s->e.mh);
    mock_host_fail_alloc(s->e.mh, n);
}

/* Stops injecting; whether a failure was injected since inject_begin. */
static bool inject_end(instance_sweep *s, size_t before)
{
    bool hit = injected_since(s->e.mh, before);
    mock_host_fail_alloc(s->e.mh, 0);
    return hit;
}

/* A failed launch (or prepull) deletes what it created: checked before the test cleans anything. */
static void assert_failure_left_nothing(instance_sweep *s, const char *what, size_t n,
                                        const fcb_error *err)
{
    long left = count_objects(s->e.t);
    double end = rel_now_ms() + REL_SETTLE_MS;
    while (left > s->objects_open && rel_now_ms() < end) {
        usleep(20000);
        left = count_objects(s->e.t);
    }
    cr_assert_eq(left, s->objects_open,
                 "%s %s, failure point %zu: failed with \"%s\" but left %ld object(s) behind",
                 s->e.t->name, what, n, err->message, left - s->objects_open);
}

static bool run_launch(instance_sweep *s, size_t n)
{
    fcb_instance out = {.size = sizeof out};
    fcb_error err = FCB_ERROR_INIT;
    size_t before;
    inject_begin(s, n, &before);
    int rc = s->e.plugin->ops->launch(s->e.backend, s->e.t->request, &out, &err);
    bool hit = inject_end(s, before);
    if (rc == FCB_OK) {
        do_terminate(&s->e, out.handle);
        return hit;
    }
    rel_assert_clean_error(rc, &err, "launch");
    s->r->errors++;
    assert_failure_left_nothing(s, "launch", n, &err);
    return hit;
}

/* The launch must fail whatever allocation fails, cleanly and leaving nothing. */
static bool run_failed_launch(instance_sweep *s, size_t n)
{
    fcb_instance out = {.size = sizeof out};
    fcb_error err = FCB_ERROR_INIT;
    size_t before;
    inject_begin(s, n, &before);
    int rc = s->e.plugin->ops->launch(s->e.backend, s->e.t->failing_request, &out, &err);
    bool hit = inject_end(s, before);
    if (rc == FCB_OK)
        do_terminate(&s->e, out.handle);
    cr_assert_neq(rc, FCB_OK,
                  "%s failed-launch, failure point %zu: the launch that must fail "
                  "succeeded (%s)",
                  s->e.t->name, n, out.handle);
    rel_assert_clean_error(rc, &err, "failed launch");
    if (hit)
        s->r->errors++; /* the run without injection fails too, by design: not counted */
    assert_failure_left_nothing(s, "failed-launch", n, &err);
    return hit;
}

static bool run_terminate(instance_sweep *s, size_t n)
{
    fcb_instance out = {.size = sizeof out};
    fcb_error err = FCB_ERROR_INIT;
    int rc = s->e.plugin->ops->launch(s->e.backend, s->e.t->request, &out, &err);
    cr_assert_eq(rc, FCB_OK, "%s: launch failed without injection: %s", s->e.t->name, err.message);
    size_t before;
    inject_begin(s, n, &before);
    rc = s->e.plugin->ops->terminate(s->e.backend, out.handle, &err);
    bool hit = inject_end(s, before);
    if (rc != FCB_OK) {
        rel_assert_clean_error(rc, &err, "terminate");
        s->r->errors++;
    }
    do_terminate(&s->e, out.handle); /* idempotent: must succeed either way */
    return hit;
}

static bool run_reap(instance_sweep *s, size_t n)
{
    if (s->e.t->plant_stale != NULL)
        s->e.t->plant_stale(s->e.t->ctx);
    size_t reaped = 0;
    fcb_error err = FCB_ERROR_INIT;
    size_t before;
    inject_begin(s, n, &before);
    int rc = s->e.plugin->ops->reap_stale(s->e.backend, &reaped, &err);
    bool hit = inject_end(s, before);
    if (rc != FCB_OK) {
        rel_assert_clean_error(rc, &err, "reap_stale");
        s->r->errors++;
        rc = s->e.plugin->ops->reap_stale(s->e.backend, &reaped, &err);
        cr_assert_eq(rc, FCB_OK, "%s: reap failed without injection: %s", s->e.t->name,
                     err.message);
    }
    return hit;
}

/* The prepull must fail whatever allocation fails, cleanly and leaving nothing. */
static bool run_failed_prepull(instance_sweep *s, size_t n)
{
    fcb_error err = FCB_ERROR_INIT;
    size_t before;
    inject_begin(s, n, &before);
    int rc = s->e.plugin->ops->prepull(s->e.backend, s->e.t->failing_prepull_image, &err);
    bool hit = inject_end(s, before);
    cr_assert_neq(rc, FCB_OK, "%s failed-prepull, failure point %zu: prepull %s succeeded",
                  s->e.t->name, n, s->e.t->failing_prepull_image);
    rel_assert_clean_error(rc, &err, "failed prepull");
    if (hit)
        s->r->errors++;
    assert_failure_left_nothing(s, "failed-prepull", n, &err);
    return hit;
}

static bool run_prepull(instance_sweep *s, size_t n)
{
    fcb_error err = FCB_ERROR_INIT;
    size_t before;
    inject_begin(s, n, &before);
    int rc = s->e.plugin->ops->prepull(s->e.backend, s->e.t->prepull_image, &err);
    bool hit = inject_end(s, before);
    if (rc != FCB_OK) {
        cr_assert(hit, "%s: prepull %s failed without an injected failure: %s", s->e.t->name,
                  s->e.t->prepull_image, err.message);
        rel_assert_clean_error(rc, &err, "prepull");
        s->r->errors++;
    }
    return hit;
}

static bool run_status(instance_sweep *s, size_t n)
{
    fcb_instance_status st = {.size = sizeof st};
    fcb_error err = FCB_ERROR_INIT;
    size_t before;
    inject_begin(s, n, &before);
    int rc = s->e.plugin->ops->status(s->e.backend, s->kept.handle, &st, &err);
    bool hit = inject_end(s, before);
    if (rc != FCB_OK) {
        rel_assert_clean_error(rc, &err, "status");
        s->r->errors++;
    } else {
        cr_assert_eq(st.state, FCB_INSTANCE_RUNNING, "%s status, failure point %zu: state %d",
                     s->e.t->name, n, st.state);
    }
    return hit;
}

static int logs_sink(void *ctx, fcb_log_stream stream, const char *data, size_t len)
{
    (void)stream;
    (void)data;
    *(size_t *)ctx += len;
    return 0;
}

static int never_cancelled(void *ctx)
{
    (void)ctx;
    return 0;
}

static bool run_logs(instance_sweep *s, size_t n)
{
    size_t got = 0;
    fcb_logs_request req = {.size = sizeof req,
                            .tail_lines = 10,
                            .sink_ctx = &got,
                            .on_data = logs_sink,
                            .cancel = {.cancelled = never_cancelled}};
    fcb_error err = FCB_ERROR_INIT;
    size_t before;
    inject_begin(s, n, &before);
    int rc = s->e.plugin->ops->logs(s->e.backend, s->kept.handle, &req, &err);
    bool hit = inject_end(s, before);
    if (rc != FCB_OK) {
        rel_assert_clean_error(rc, &err, "logs");
        s->r->errors++;
    }
    return hit;
}

static void stats_sink(void *ctx, const fcb_metric *m)
{
    (void)m;
    (*(size_t *)ctx)++;
}

static bool run_stats(instance_sweep *s, size_t n)
{
    size_t metrics = 0;
    fcb_error err = FCB_ERROR_INIT;
    size_t before;
    inject_begin(s, n, &before);
    int rc = s->e.plugin->ops->stats(s->e.backend, &metrics, stats_sink, &err);
    bool hit = inject_end(s, before);
    if (rc != FCB_OK) {
        rel_assert_clean_error(rc, &err, "stats");
        s->r->errors++;
    }
    return hit;
}

static int invoke_sink(void *ctx, const void *data, size_t len)
{
    (void)data;
    *(size_t *)ctx += len;
    return 0;
}

/*
 * Invoke a fresh instance (launched and terminated without injection, so
 * what the instance keeps of its invocations, e.g. a log, goes with it).
 */
static bool run_invoke(instance_sweep *s, size_t n)
{
    fcb_instance inst = {.size = sizeof inst};
    fcb_error err = FCB_ERROR_INIT;
    int rc = s->e.plugin->ops->launch(s->e.backend, s->e.t->request, &inst, &err);
    cr_assert_eq(rc, FCB_OK, "%s: launch failed without injection: %s", s->e.t->name, err.message);
    size_t got = 0;
    fcb_invoke_request req = {.size = sizeof req,
                              .payload = {"{\"sweep\":1}", 11},
                              .timeout_ms = 10000,
                              .sink_ctx = &got,
                              .on_body = invoke_sink,
                              .cancel = {.cancelled = never_cancelled}};
    fcb_invoke_result out = {.size = sizeof out};
    size_t before;
    inject_begin(s, n, &before);
    rc = s->e.plugin->ops->invoke(s->e.backend, inst.handle, &req, &out, &err);
    bool hit = inject_end(s, before);
    if (rc != FCB_OK) {
        rel_assert_clean_error(rc, &err, "invoke");
        s->r->errors++;
    } else {
        /* The runtime's own answer (an in-process stand-in may say 500 when it ran out). */
        cr_assert(out.http_status >= 100 && out.http_status < 600,
                  "%s invoke, failure point %zu: HTTP %d", s->e.t->name, n, out.http_status);
        cr_assert_eq(out.body_bytes, got);
    }
    do_terminate(&s->e, inst.handle);
    return hit;
}

static bool run_op(instance_sweep *s, rel_op op, size_t n)
{
    switch (op) {
    case REL_OP_INVOKE: return run_invoke(s, n);
    case REL_OP_STATUS: return run_status(s, n);
    case REL_OP_LOGS: return run_logs(s, n);
    case REL_OP_STATS: return run_stats(s, n);
    case REL_OP_LAUNCH: return run_launch(s, n);
    case REL_OP_TERMINATE: return run_terminate(s, n);
    case REL_OP_REAP: return run_reap(s, n);
    case REL_OP_PREPULL: return run_prepull(s, n);
    case REL_OP_FAILED_PREPULL: return run_failed_prepull(s, n);
    default: return run_failed_launch(s, n);
    }
}

/* Open a backend and warm it up (lazy connections, caches) so the baseline is steady. */
static void instance_sweep_begin(instance_sweep *s, const rel_target *t, rel_op op)
{
    s->e = (sweep_env){.t = t, .base_threads = rel_thread_count()};
    s->e.mh = env_host_new(t);
    s->e.base_objects = count_objects(t);
    env_load(&s->e);
    env_open(&s->e);
    size_t threads_open = rel_thread_count();
    fcb_instance inst = {.size = sizeof inst};
    fcb_error err = FCB_ERROR_INIT;
    int rc = s->e.plugin->ops->launch(s->e.backend, t->request, &inst, &err);
    cr_assert_eq(rc, FCB_OK, "%s: warm-up launch failed: %s", t->name, err.message);
    do_terminate(&s->e, inst.handle);
    if (op == REL_OP_PREPULL) {
        rc = s->e.plugin->ops->prepull(s->e.backend, t->prepull_image, &err);
        cr_assert_eq(rc, FCB_OK, "%s: warm-up prepull %s failed: %s", t->name, t->prepull_image,
                     err.message);
    } else if (op == REL_OP_FAILED_PREPULL) {
        rc = s->e.plugin->ops->prepull(s->e.backend, t->failing_prepull_image, &err);
        cr_assert_neq(rc, FCB_OK, "%s: prepull %s, which must fail, succeeded", t->name,
                      t->failing_prepull_image);
    } else if (op == REL_OP_FAILED_LAUNCH) {
        rc = s->e.plugin->ops->launch(s->e.backend, t->failing_request, &inst, &err);
        if (rc == FCB_OK)
            do_terminate(&s->e, inst.handle);
        cr_assert_neq(rc, FCB_OK, "%s: the launch that must fail succeeded", t->name);
    }
    if (op == REL_OP_STATUS || op == REL_OP_LOGS) {
        s->kept.size = sizeof s->kept;
        rc = s->e.plugin->ops->launch(s->e.backend, t->request, &s->kept, &err);
        cr_assert_eq(rc, FCB_OK, "%s: launch for %s failed: %s", t->name, rel_op_name(op),
                     err.message);
        s->have_kept = true;
    }
    /* The threads the warm-up leaves for good (e.g. a lease renewal thread) and
     * the kept instance's own: waiting for fewer would only time out. */
    size_t steady = threads_open + t->launch_threads + (s->have_kept ? t->instance_threads : 0);
    s->base_threads = rel_wait_threads(steady, REL_SETTLE_MS);
    if (s->base_threads > steady)
        printf("alloc-failure sweep: plugin %s, %s: %zu threads after the warm-up, %zu expected "
               "(%zu at open; rel_target launch_threads/instance_threads out of date?)\n",
               t->name, rel_op_name(op), s->base_threads, steady, threads_open);
    s->base_bytes = mock_host_outstanding_bytes(s->e.mh);
    s->objects_open = count_objects(t); /* e.g. the backend's own Secret */
    s->probe = s->e;
    s->probe.base_objects = s->objects_open;
}

static void sweep_instance_ops(const rel_target *t, rel_op op, size_t cap, rel_sweep_result *r)
{
    instance_sweep s = {.r = r};
    instance_sweep_begin(&s, t, op);
    for (size_t n = 1;; n++) {
        if (n > cap) {
            r->capped = true;
            break;
        }
        bool hit = run_op(&s, op, n);
        env_assert_clean(&s.probe, s.base_bytes, s.base_threads, op, n);
        if (!hit)
            break;
        r->points++;
    }
    if (s.have_kept)
        do_terminate(&s.e, s.kept.handle);
    s.e.plugin->ops->close(s.e.backend);
    loader_unload(s.e.plugin);
    env_assert_clean(&s.e, 0, s.e.base_threads, op, 0);
    mock_host_free(s.e.mh);
}

/* Whether the plugin has the optional operation OP (prepull or a 1.1 op). */
static bool plugin_has_op(const rel_target *t, rel_op op)
{
    mock_host *mh = env_host_new(t);
    loader_plugin *p = NULL;
    char why[LOADER_WHY_MAX] = "";
    cr_assert_eq(loader_load(t->plugin_path, mock_host_services(mh), &p, why), 0,
                 "%s: loading %s failed: %s", t->name, t->plugin_path, why);
#define REL_HAS(member)                                                           \
    (p->ops_size >= offsetof(fcb_backend_ops, member) + sizeof(p->ops->member) && \
     p->ops->member != NULL)
    bool has = op == REL_OP_STATUS   ? REL_HAS(status)
               : op == REL_OP_LOGS   ? REL_HAS(logs)
               : op == REL_OP_STATS  ? REL_HAS(stats)
               : op == REL_OP_INVOKE ? REL_HAS(invoke)
                                     : REL_HAS(prepull);
#undef REL_HAS
    loader_unload(p);
    mock_host_free(mh);
    return has;
}

/* Whether the target and its plugin have what OP needs. */
static bool op_applies(const rel_target *t, rel_op op)
{
    if (op == REL_OP_FAILED_LAUNCH)
        return t->failing_request != NULL;
    if (op == REL_OP_STATUS || op == REL_OP_LOGS || op == REL_OP_STATS || op == REL_OP_INVOKE)
        return plugin_has_op(t, op);
    if (op != REL_OP_PREPULL && op != REL_OP_FAILED_PREPULL)
        return true;
    if ((op == REL_OP_PREPULL ? t->prepull_image : t->failing_prepull_image) == NULL)
        return false;
    return plugin_has_op(t, op);
}

void rel_sweep(const rel_target *target, rel_op op, size_t cap, rel_sweep_result *out)
{
    memset(out, 0, sizeof *out);
    if (!op_applies(target, op)) {
        out->skipped = true;
        printf("alloc-failure sweep: plugin %s, %-14s not applicable (no %s)\n", target->name,
               rel_op_name(op),
               op == REL_OP_FAILED_LAUNCH                            ? "launch that must fail"
               : op == REL_OP_PREPULL || op == REL_OP_FAILED_PREPULL ? "prepull image or op"
                                                                     : "such op");
        fflush(stdout);
        return;
    }
    double start = rel_now_ms();
    switch (op) {
    case REL_OP_INIT: sweep_init(target, cap, out); break;
    case REL_OP_OPEN:
    case REL_OP_CLOSE: sweep_open_close(target, op, cap, out); break;
    default: sweep_instance_ops(target, op, cap, out); break;
    }
    printf("alloc-failure sweep: plugin %s, %-14s %4zu failure points exercised (%zu clean "
           "errors, the rest recovered)%s; 0 bytes outstanding, threads and objects back to "
           "baseline after each (%.0f ms)\n",
           target->name, rel_op_name(op), out->points, out->errors,
           out->capped ? " [CAPPED: more points exist]" : "", rel_now_ms() - start);
    fflush(stdout);
}
