/*
 * pool against the in-process test plugin, observed through a shim of its
 * operations table that counts, per instance, the calls in flight, and the
 * launches and terminations: one event per instance, warm reuse, groups kept
 * apart (f:1 never served by $LATEST), retire after the call in flight,
 * dead instances evicted (status op; refused connection retried, the
 * handler never run twice), reserved concurrency, the account limit (wait,
 * then throttle; LRU idle instance of another function makes room),
 * keepalive 0 and expiry, shutdown, nothing left after pool_free.
 * Waits are bounded polls of a condition, never sleeps standing in for one.
 */
#include "loader.h"
#include "mock_host.h"
#include "pool.h"

#include <criterion/criterion.h>
#include <curl/curl.h>

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifndef TEST_PLUGINS_DIR
#error "TEST_PLUGINS_DIR must be defined by meson"
#endif

#define MAX_HANDLES 64

static mock_host *mh;
static loader_plugin *plugin;
static fcb_backend *backend;
static fcb_backend_ops shim;
static pool *pl;

/* What the shim saw. */
static pthread_mutex_t seen_lock = PTHREAD_MUTEX_INITIALIZER;
static char seen_handle[MAX_HANDLES][FCB_HANDLE_MAX];
static int seen_in_flight[MAX_HANDLES];
static int seen_max_in_flight;
static int seen_launches, seen_terminates, seen_live, seen_max_live;

static int seen_slot(const char *handle)
{
    for (int i = 0; i < MAX_HANDLES; i++) {
        if (seen_handle[i][0] == '\0')
            snprintf(seen_handle[i], sizeof seen_handle[i], "%s", handle);
        if (strcmp(seen_handle[i], handle) == 0)
            return i;
    }
    cr_assert_fail("more than %d instances", MAX_HANDLES);
    return 0;
}

static int shim_invoke(fcb_backend *b, const char *handle, const fcb_invoke_request *req,
                       fcb_invoke_result *out, fcb_error *err)
{
    pthread_mutex_lock(&seen_lock);
    int i = seen_slot(handle);
    if (++seen_in_flight[i] > seen_max_in_flight)
        seen_max_in_flight = seen_in_flight[i];
    pthread_mutex_unlock(&seen_lock);
    int rc = plugin->ops->invoke(b, handle, req, out, err);
    pthread_mutex_lock(&seen_lock);
    seen_in_flight[i]--;
    pthread_mutex_unlock(&seen_lock);
    return rc;
}

static int shim_launch(fcb_backend *b, const fcb_launch_request *req, fcb_instance *out,
                       fcb_error *err)
{
    int rc = plugin->ops->launch(b, req, out, err);
    pthread_mutex_lock(&seen_lock);
    if (rc == FCB_OK) {
        seen_launches++;
        if (++seen_live > seen_max_live)
            seen_max_live = seen_live;
    }
    pthread_mutex_unlock(&seen_lock);
    return rc;
}

static int shim_terminate(fcb_backend *b, const char *handle, fcb_error *err)
{
    int rc = plugin->ops->terminate(b, handle, err);
    pthread_mutex_lock(&seen_lock);
    seen_terminates++;
    seen_live--;
    pthread_mutex_unlock(&seen_lock);
    return rc;
}

static void setup(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    mh = mock_host_new();
}

static void teardown(void)
{
    pool_free(pl);
    pl = NULL;
    if (backend != NULL)
        plugin->ops->close(backend);
    backend = NULL;
    if (plugin != NULL)
        loader_unload(plugin);
    plugin = NULL;
    if (mh != NULL)
        cr_expect_eq(mock_host_outstanding_bytes(mh), 0, "the plugin leaked");
    mock_host_free(mh);
    curl_global_cleanup();
}

TestSuite(pool, .init = setup, .fini = teardown, .timeout = 60);

/* Open the test plugin (CONFIG: key, value, ... NULL) and a pool with CFG over the shim. */
static void start(pool_config cfg, bool http_only, ...)
{
    va_list ap;
    va_start(ap, http_only);
    for (const char *k = va_arg(ap, const char *); k != NULL; k = va_arg(ap, const char *))
        mock_host_set_config(mh, k, va_arg(ap, const char *));
    va_end(ap);
    char path[512], why[LOADER_WHY_MAX] = "";
    snprintf(path, sizeof path, "%s/fakecloud-backend-test.so", TEST_PLUGINS_DIR);
    cr_assert_eq(loader_load(path, mock_host_services(mh), &plugin, why), FCB_OK, "%s", why);
    fcb_error err = FCB_ERROR_INIT;
    fcb_open_params params = {sizeof params, NULL};
    cr_assert_eq(plugin->ops->open(mock_host_services(mh), &params, &backend, &err), FCB_OK, "%s",
                 err.message);
    shim = *plugin->ops;
    shim.launch = shim_launch;
    shim.terminate = shim_terminate;
    shim.invoke = http_only ? NULL : shim_invoke;
    if (http_only)
        shim.status = NULL;
    pool_backend be = {&shim, plugin->ops_size, backend, NULL};
    cr_assert_eq(pool_new(&be, &cfg, &pl), 0);
}

static const char code_zip[] = "PK\005\006"
                               "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0";

typedef struct target {
    fcb_function fn;
    fcb_launch_request req;
    pool_target t;
} target;

/* A target of GROUP for FUNCTION whose handler is HANDLER (the echo names it). */
static void target_init(target *x, const char *group, const char *function, const char *handler)
{
    memset(x, 0, sizeof *x);
    x->fn.size = sizeof x->fn;
    x->fn.function_name = function;
    x->fn.runtime = "python3.12";
    x->fn.handler = handler;
    x->req.size = sizeof x->req;
    x->req.function = &x->fn;
    x->req.code.data = code_zip;
    x->req.code.size = sizeof code_zip - 1;
    x->req.deploy_id = "0123456789abcdef";
    x->t.group = group;
    x->t.function = function;
    x->t.reserved = -1;
    x->t.launch = &x->req;
    x->t.wait_ms = 10000;
    x->t.timeout_ms = 3000;
}

static int call(target *x, pool_result *res)
{
    char why[1024] = "";
    int rc = pool_invoke(pl, &x->t, "{\"k\":1}", 7, res, why, sizeof why);
    if (rc == POOL_OK)
        cr_assert_eq(res->http_status, 200, "%s", res->body);
    return rc;
}

static void call_ok(target *x, pool_result *res)
{
    char why[1024] = "";
    int rc = pool_invoke(pl, &x->t, "{\"k\":1}", 7, res, why, sizeof why);
    cr_assert_eq(rc, POOL_OK, "pool_invoke: %d %s", rc, why);
    cr_assert_eq(res->http_status, 200);
    cr_assert(strstr(res->body, "\"event\":{\"k\":1}") != NULL, "%s", res->body);
}

static pool_config config(unsigned max, long keepalive_ms)
{
    return (pool_config){max, keepalive_ms, -1};
}

Test(pool, reuses_a_warm_instance)
{
    start(config(10, 60000), false, NULL);
    target x;
    target_init(&x, "arn:f:$LATEST#a", "f", "app.handler");
    pool_result r1, r2;
    call_ok(&x, &r1);
    call_ok(&x, &r2);
    cr_expect(r1.cold);
    cr_expect(!r2.cold);
    cr_expect_str_eq(r1.handle, r2.handle);
    cr_expect_eq(seen_launches, 1);
    pool_result_free(&r1);
    pool_result_free(&r2);
}

typedef struct caller {
    target *x;
    pool_result res;
    int rc;
    pthread_t thread;
} caller;

static void *caller_main(void *arg)
{
    caller *c = arg;
    char why[1024];
    c->rc = pool_invoke(pl, &c->x->t, "{\"k\":1}", 7, &c->res, why, sizeof why);
    return NULL;
}

/* N callers of X at once; each must be answered. */
static void run_callers_ok(size_t n, target *x)
{
    caller c[16];
    cr_assert(n <= 16);
    memset(c, 0, sizeof c);
    for (size_t i = 0; i < n; i++) {
        c[i].x = x;
        cr_assert_eq(pthread_create(&c[i].thread, NULL, caller_main, &c[i]), 0);
    }
    for (size_t i = 0; i < n; i++)
        pthread_join(c[i].thread, NULL);
    for (size_t i = 0; i < n; i++) {
        cr_expect_eq(c[i].rc, POOL_OK, "caller %zu: %d", i, c[i].rc);
        pool_result_free(&c[i].res);
    }
}

Test(pool, never_sends_two_events_to_one_instance_at_once)
{
    start(config(10, 60000), false, "FAKECLOUD_TEST_OP_DELAY_MS", "150", NULL);
    target x;
    target_init(&x, "arn:f:$LATEST#a", "f", "app.handler");
    run_callers_ok(6, &x);
    cr_expect_eq(seen_max_in_flight, 1, "an instance had %d events at once", seen_max_in_flight);
    cr_expect_eq(seen_launches, 6, "6 concurrent calls, each on its own instance");
}

Test(pool, keeps_a_version_apart_from_latest)
{
    start(config(10, 60000), false, NULL);
    target v1, latest;
    target_init(&v1, "arn:f:1#a", "f", "v1.handler");
    target_init(&latest, "arn:f:$LATEST#b", "f", "latest.handler");
    pool_result r[3];
    call_ok(&v1, &r[0]);
    call_ok(&latest, &r[1]);
    call_ok(&v1, &r[2]);
    cr_expect(strstr(r[0].body, "v1.handler") != NULL, "%s", r[0].body);
    cr_expect(strstr(r[1].body, "latest.handler") != NULL, "%s", r[1].body);
    cr_expect(strstr(r[2].body, "v1.handler") != NULL, "f:1 served by $LATEST: %s", r[2].body);
    cr_expect_str_eq(r[0].handle, r[2].handle);
    cr_expect_str_neq(r[0].handle, r[1].handle);
    for (int i = 0; i < 3; i++)
        pool_result_free(&r[i]);
}

/* Poll COND (bounded: 5 s) */
#define WAIT_FOR(cond)                                             \
    do {                                                           \
        for (int w_ = 0; w_ < 500 && !(cond); w_++)                \
            nanosleep(&(struct timespec){0, 10 * 1000000L}, NULL); \
        cr_assert(cond, "still not true after 5 s: %s", #cond);    \
    } while (0)

/* The pool's counts now (GROUP NULL: all groups). */
static pool_counts counts(const char *group)
{
    pool_counts c;
    pool_get_counts(pl, group, &c);
    return c;
}

Test(pool, retires_an_old_deploy_once_its_call_in_flight_ends)
{
    start(config(10, 60000), false, "FAKECLOUD_TEST_OP_DELAY_MS", "300", NULL);
    target old;
    target_init(&old, "arn:f:$LATEST#old", "f", "old.handler");
    caller c = {.x = &old};
    cr_assert_eq(pthread_create(&c.thread, NULL, caller_main, &c), 0);
    WAIT_FOR(counts(NULL).busy == 1);
    pool_retire(pl, "arn:f:$LATEST#old");
    cr_expect_eq(seen_terminates, 0, "the instance in flight was terminated under its call");
    pthread_join(c.thread, NULL);
    cr_expect_eq(c.rc, POOL_OK);
    pool_result_free(&c.res);
    cr_expect_eq(seen_terminates, 1, "retired instance kept after its call");
    cr_expect_eq(counts(NULL).instances, 0);
}

Test(pool, evicts_a_dead_idle_instance_found_by_status)
{
    pool_config cfg = {10, 60000, 0}; /* status before every reuse */
    start(cfg, false, NULL);
    target x;
    target_init(&x, "arn:f:$LATEST#a", "f", "app.handler");
    pool_result r1, r2;
    call_ok(&x, &r1);
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(plugin->ops->terminate(backend, r1.handle, &err), FCB_OK); /* it dies */
    call_ok(&x, &r2);
    cr_expect_str_neq(r1.handle, r2.handle);
    cr_expect(r2.cold);
    cr_expect_eq(r2.attempts, 1, "status found it dead before sending");
    pool_counts c;
    pool_get_counts(pl, NULL, &c);
    cr_expect_eq(c.evictions, 1);
    cr_expect_eq(c.instances, 1);
    pool_result_free(&r1);
    pool_result_free(&r2);
}

Test(pool, retries_only_a_refused_connection_and_evicts_the_instance)
{
    start(config(10, 60000), true, NULL); /* HTTP to the endpoint, no status op */
    target x;
    target_init(&x, "arn:f:$LATEST#a", "f", "app.handler");
    pool_result r1, r2;
    call_ok(&x, &r1);
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(plugin->ops->terminate(backend, r1.handle, &err), FCB_OK); /* listener closed */
    call_ok(&x, &r2);
    cr_expect_eq(r2.attempts, 2);
    cr_expect_str_neq(r1.handle, r2.handle);
    pool_counts c;
    pool_get_counts(pl, NULL, &c);
    cr_expect_eq(c.retries, 1);
    cr_expect_eq(c.evictions, 1);
    pool_result_free(&r1);
    pool_result_free(&r2);
}

Test(pool, throttles_beyond_reserved_concurrency_at_once)
{
    start(config(10, 60000), false, "FAKECLOUD_TEST_OP_DELAY_MS", "400", NULL);
    target x;
    target_init(&x, "arn:f:$LATEST#a", "f", "app.handler");
    x.t.reserved = 1;
    caller c = {.x = &x};
    cr_assert_eq(pthread_create(&c.thread, NULL, caller_main, &c), 0);
    WAIT_FOR(counts(NULL).busy == 1);
    pool_result r;
    cr_expect_eq(call(&x, &r), POOL_THROTTLED_RESERVED);
    pthread_join(c.thread, NULL);
    cr_expect_eq(c.rc, POOL_OK);
    pool_result_free(&c.res);
    x.t.reserved = 0;
    cr_expect_eq(call(&x, &r), POOL_THROTTLED_RESERVED, "reserved 0 throttles everything");
}

Test(pool, callers_at_the_account_limit_wait_for_a_free_instance)
{
    start(config(2, 60000), false, "FAKECLOUD_TEST_OP_DELAY_MS", "100", NULL);
    target x;
    target_init(&x, "arn:f:$LATEST#a", "f", "app.handler");
    run_callers_ok(8, &x);
    cr_expect_eq(seen_max_live, 2, "the account limit is 2 instances, %d ran", seen_max_live);
    cr_expect_eq(seen_max_in_flight, 1);
}

Test(pool, throttles_when_no_instance_frees_up_in_time)
{
    start(config(1, 60000), false, "FAKECLOUD_TEST_OP_DELAY_MS", "1000", NULL);
    target x;
    target_init(&x, "arn:f:$LATEST#a", "f", "app.handler");
    caller c = {.x = &x};
    cr_assert_eq(pthread_create(&c.thread, NULL, caller_main, &c), 0);
    WAIT_FOR(counts(NULL).busy == 1);
    x.t.wait_ms = 50;
    pool_result r;
    cr_expect_eq(call(&x, &r), POOL_THROTTLED);
    pthread_join(c.thread, NULL);
    cr_expect_eq(c.rc, POOL_OK);
    pool_result_free(&c.res);
}

Test(pool, terminates_the_lru_idle_instance_of_another_function_to_make_room)
{
    start(config(1, 60000), false, NULL);
    target a, b;
    target_init(&a, "arn:a:$LATEST#a", "a", "a.handler");
    target_init(&b, "arn:b:$LATEST#b", "b", "b.handler");
    pool_result r1, r2;
    call_ok(&a, &r1);
    call_ok(&b, &r2);
    cr_expect(strstr(r2.body, "b.handler") != NULL);
    cr_expect_eq(seen_max_live, 1);
    cr_expect_eq(counts("arn:a:$LATEST#a").instances, 0);
    cr_expect_eq(counts("arn:b:$LATEST#b").instances, 1);
    pool_result_free(&r1);
    pool_result_free(&r2);
}

Test(pool, keepalive_zero_is_always_cold)
{
    start(config(10, 0), false, NULL);
    target x;
    target_init(&x, "arn:f:$LATEST#a", "f", "app.handler");
    pool_result r1, r2;
    call_ok(&x, &r1);
    call_ok(&x, &r2);
    cr_expect(r1.cold && r2.cold);
    cr_expect_eq(seen_launches, 2);
    cr_expect_eq(seen_terminates, 2);
    cr_expect_eq(counts(NULL).instances, 0);
    pool_result_free(&r1);
    pool_result_free(&r2);
}

Test(pool, terminates_an_instance_idle_past_keepalive)
{
    start(config(10, 100), false, NULL);
    target x;
    target_init(&x, "arn:f:$LATEST#a", "f", "app.handler");
    pool_result r;
    call_ok(&x, &r);
    pool_result_free(&r);
    WAIT_FOR(counts(NULL).instances == 0);
    cr_expect_eq(seen_terminates, 1);
}

Test(pool, shutdown_wakes_waiting_callers_and_free_leaves_nothing)
{
    start(config(1, 60000), false, "FAKECLOUD_TEST_LAUNCH_DELAY_MS", "3000", NULL);
    target x, y;
    target_init(&x, "arn:f:$LATEST#a", "f", "app.handler");
    target_init(&y, "arn:g:$LATEST#a", "g", "app.handler");
    caller c[2] = {{.x = &x}, {.x = &y}};
    cr_assert_eq(pthread_create(&c[0].thread, NULL, caller_main, &c[0]), 0);
    WAIT_FOR(counts(NULL).launching == 1);
    cr_assert_eq(pthread_create(&c[1].thread, NULL, caller_main, &c[1]), 0);
    WAIT_FOR(counts(NULL).waiting == 1);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pool_free(pl); /* cancels the launch in flight (its token) and the waiting caller */
    pl = NULL;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    pthread_join(c[0].thread, NULL);
    pthread_join(c[1].thread, NULL);
    cr_expect_eq(c[0].rc, POOL_CLOSING);
    cr_expect_eq(c[1].rc, POOL_CLOSING);
    cr_expect(t1.tv_sec - t0.tv_sec < 2, "pool_free took %ld s", (long)(t1.tv_sec - t0.tv_sec));
    cr_expect_eq(seen_live, 0, "%d instances left", seen_live);
    pool_result_free(&c[0].res);
    pool_result_free(&c[1].res);
}

Test(pool, free_terminates_instances_in_parallel)
{
    /* terminate takes 300 ms here: 8 in a row would take 2.4 s */
    start(config(10, 60000), false, "FAKECLOUD_TEST_OP_DELAY_MS", "300", NULL);
    target x;
    target_init(&x, "arn:f:$LATEST#a", "f", "app.handler");
    run_callers_ok(8, &x);
    cr_assert_eq(counts(NULL).instances, 8);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pool_free(pl);
    pl = NULL;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double took = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    cr_expect_eq(seen_live, 0);
    cr_expect(took < 1.5, "8 terminations of 300 ms took %.2f s: not in parallel", took);
}

Test(pool, a_group_held_by_two_deploys_ends_with_the_last)
{
    start(config(10, 60000), false, NULL);
    target x;
    target_init(&x, "arn:f:$LATEST#same", "f", "app.handler");
    cr_assert_eq(pool_hold(pl, x.t.group, "f"), 0); /* a configuration ... */
    cr_assert_eq(pool_hold(pl, x.t.group, "f"), 0); /* ... changed back: the same fingerprint */
    pool_result r1, r2;
    call_ok(&x, &r1);
    pool_retire(pl, x.t.group); /* the first deploy is gone */
    cr_expect_eq(seen_terminates, 0, "the second deploy still uses the group");
    call_ok(&x, &r2);
    cr_expect(!r2.cold);
    cr_expect_str_eq(r1.handle, r2.handle);
    pool_retire(pl, x.t.group);
    cr_expect_eq(seen_terminates, 1);
    cr_expect_eq(counts(NULL).instances, 0);
    pool_result_free(&r1);
    pool_result_free(&r2);
}

Test(pool, gives_up_after_three_refused_connections)
{
    /* every instance's endpoint refuses connections: the event reaches no handler */
    start(config(10, 60000), true, "FAKECLOUD_TEST_ENDPOINT", "127.0.0.1:9", NULL);
    target x;
    target_init(&x, "arn:f:$LATEST#a", "f", "app.handler");
    pool_result r;
    cr_expect_eq(call(&x, &r), POOL_INVOKE_FAILED);
    cr_expect_eq(r.attempts, 3);
    cr_expect(r.not_delivered);
    pool_counts c;
    pool_get_counts(pl, NULL, &c);
    cr_expect_eq(c.retries, 2, "2 retries after the first refusal, got %llu",
                 (unsigned long long)c.retries);
    cr_expect_eq(c.evictions, 3);
    cr_expect_eq(c.instances, 0);
    pool_result_free(&r);
}

static int count_of(const char *text, const char *needle)
{
    int n = 0;
    for (const char *p = text; p != NULL && (p = strstr(p, needle)) != NULL; p++)
        n++;
    return n;
}

Test(pool, reads_the_log_tail_while_the_instance_is_still_held)
{
    start(config(10, 60000), false, NULL);
    target x;
    target_init(&x, "arn:f:$LATEST#a", "f", "app.handler");
    x.t.log_tail = POOL_TAIL_COLD;
    x.t.log_tail_bytes = 4096;
    pool_result r1, r2, r3;
    call_ok(&x, &r1);
    cr_assert_not_null(r1.log_tail, "a cold start reads the tail");
    cr_expect_eq(count_of(r1.log_tail, "START RequestId"), 1, "%s", r1.log_tail);
    call_ok(&x, &r2);
    cr_expect_null(r2.log_tail, "warm, and no tail asked for");
    x.t.log_tail = POOL_TAIL_ALWAYS;
    x.t.log_tail_bytes = 100;
    call_ok(&x, &r3);
    cr_assert_not_null(r3.log_tail);
    cr_expect_leq(r3.log_tail_len, 100, "only the last bytes");
    cr_expect_eq(strlen(r3.log_tail), r3.log_tail_len);
    pool_result_free(&r1);
    pool_result_free(&r2);
    pool_result_free(&r3);
}
