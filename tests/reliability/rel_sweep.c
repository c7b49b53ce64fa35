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

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define REL_SETTLE_MS \
    10000 /* waits only while not settled; watch events free state late under load */

const char *rel_op_name(rel_op op)
{
    static const char *const names[REL_OP_COUNT] = {"init",      "open", "launch",
                                                    "terminate", "reap", "close"};
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

static void sweep_instance_ops(const rel_target *t, rel_op op, size_t cap, rel_sweep_result *r)
{
    sweep_env e = {.t = t, .base_threads = rel_thread_count()};
    e.mh = env_host_new(t);
    e.base_objects = count_objects(t);
    env_load(&e);
    env_open(&e);
    size_t threads_open = rel_thread_count();
    /* Warm up once (lazy connections, caches) so the baseline is steady. */
    fcb_instance inst = {.size = sizeof inst};
    fcb_error err = FCB_ERROR_INIT;
    int rc = e.plugin->ops->launch(e.backend, t->request, &inst, &err);
    cr_assert_eq(rc, FCB_OK, "%s: warm-up launch failed: %s", t->name, err.message);
    do_terminate(&e, inst.handle);
    size_t base_threads = rel_wait_threads(threads_open, REL_SETTLE_MS);
    size_t base_bytes = mock_host_outstanding_bytes(e.mh);
    long objects_open = count_objects(t); /* e.g. the backend's own Secret */
    sweep_env probe = e;
    probe.base_objects = objects_open;

    for (size_t n = 1;; n++) {
        if (n > cap) {
            r->capped = true;
            break;
        }
        bool hit = false;
        fcb_error ferr = FCB_ERROR_INIT;
        if (op == REL_OP_LAUNCH) {
            fcb_instance out = {.size = sizeof out};
            size_t before = mock_host_failed_allocs(e.mh);
            mock_host_mark(e.mh);
            mock_host_fail_alloc(e.mh, n);
            rc = e.plugin->ops->launch(e.backend, t->request, &out, &ferr);
            hit = injected_since(e.mh, before);
            mock_host_fail_alloc(e.mh, 0);
            if (rc != FCB_OK) {
                rel_assert_clean_error(rc, &ferr, "launch");
                r->errors++;
                /* a failed launch deletes what it created: check before any cleanup */
                long left = count_objects(t);
                double end = rel_now_ms() + REL_SETTLE_MS;
                while (left > objects_open && rel_now_ms() < end) {
                    usleep(20000);
                    left = count_objects(t);
                }
                cr_assert_eq(left, objects_open,
                             "%s launch, failure point %zu: failed with \"%s\" but left %ld "
                             "object(s) behind",
                             t->name, n, ferr.message, left - objects_open);
                env_assert_clean(&probe, base_bytes, base_threads, op, n);
            } else {
                do_terminate(&e, out.handle);
            }
        } else if (op == REL_OP_TERMINATE) {
            fcb_instance out = {.size = sizeof out};
            rc = e.plugin->ops->launch(e.backend, t->request, &out, &ferr);
            cr_assert_eq(rc, FCB_OK, "%s: launch failed without injection: %s", t->name,
                         ferr.message);
            size_t before = mock_host_failed_allocs(e.mh);
            mock_host_mark(e.mh);
            mock_host_fail_alloc(e.mh, n);
            rc = e.plugin->ops->terminate(e.backend, out.handle, &ferr);
            hit = injected_since(e.mh, before);
            mock_host_fail_alloc(e.mh, 0);
            if (rc != FCB_OK) {
                rel_assert_clean_error(rc, &ferr, "terminate");
                r->errors++;
            }
            do_terminate(&e, out.handle); /* idempotent: must succeed either way */
        } else {
            if (t->plant_stale != NULL)
                t->plant_stale(t->ctx);
            size_t reaped = 0;
            size_t before = mock_host_failed_allocs(e.mh);
            mock_host_mark(e.mh);
            mock_host_fail_alloc(e.mh, n);
            rc = e.plugin->ops->reap_stale(e.backend, &reaped, &ferr);
            hit = injected_since(e.mh, before);
            mock_host_fail_alloc(e.mh, 0);
            if (rc != FCB_OK) {
                rel_assert_clean_error(rc, &ferr, "reap_stale");
                r->errors++;
                rc = e.plugin->ops->reap_stale(e.backend, &reaped, &ferr);
                cr_assert_eq(rc, FCB_OK, "%s: reap failed without injection: %s", t->name,
                             ferr.message);
            }
        }
        env_assert_clean(&probe, base_bytes, base_threads, op, n);
        if (!hit)
            break;
        r->points++;
    }
    e.plugin->ops->close(e.backend);
    loader_unload(e.plugin);
    env_assert_clean(&e, 0, e.base_threads, op, 0);
    mock_host_free(e.mh);
}

void rel_sweep(const rel_target *target, rel_op op, size_t cap, rel_sweep_result *out)
{
    memset(out, 0, sizeof *out);
    double start = rel_now_ms();
    switch (op) {
    case REL_OP_INIT: sweep_init(target, cap, out); break;
    case REL_OP_OPEN:
    case REL_OP_CLOSE: sweep_open_close(target, op, cap, out); break;
    default: sweep_instance_ops(target, op, cap, out); break;
    }
    printf("alloc-failure sweep: plugin %s, %-9s %4zu failure points exercised (%zu clean "
           "errors, the rest recovered)%s; 0 bytes outstanding, threads and objects back to "
           "baseline after each (%.0f ms)\n",
           target->name, rel_op_name(op), out->points, out->errors,
           out->capped ? " [CAPPED: more points exist]" : "", rel_now_ms() - start);
    fflush(stdout);
}
