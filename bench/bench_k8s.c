/*
 * bench-k8s: figures 1-4 and 6 of docs/bench.md, on kubesim, our k8s plugin
 * against the reference's algorithm (baseline_k8s), same simulator settings,
 * same machine, same run. Writes one JSON document (--out).
 *
 *   1 launch overhead: kubesim's rie_ready_monotonic -> launch returned
 *   2 API requests per launch + terminate (kubesim's counters)
 *   3 N concurrent launches: success, wall time, connections, TLS handshakes
 *   4 reap F foreign Pods (+ O of ours that survive, + unmanaged ones)
 *   6 footprint: load + init + open, heap per warm instance, peak RSS
 * Every side of every figure runs on a fresh simulator (fresh counters).
 */
#include "baseline_k8s.h"
#include "bench_artifacts.h"
#include "bench_http.h"
#include "bench_plugin.h"
#include "bench_stats.h"
#include "kubesim_ctl.h"

#include <curl/curl.h>
#include <json-c/json.h>

#include <errno.h>
#include <stdarg.h>
#include <getopt.h>
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#define IMAGE   "public.ecr.aws/lambda/python:3.12" /* what RUNTIME maps to */
#define RUNTIME "python3.12"
#define HANDLER "app.handler"
#define TOKEN   "bench-internal-token-0123456789abcdef"
#define NS      "default"

typedef struct options {
    const char *python;
    const char *kubesim;
    const char *plugin;
    const char *workdir;
    const char *out;
    unsigned boot_ms;
    unsigned launches;
    unsigned concurrency;
    unsigned reap_foreign;
    unsigned reap_ours;
    unsigned footprint_instances;
    unsigned repeat; /* --repeat: runs per side of figures 3 and 4 (median reported) */
    bool fig[7];
    bool run_baseline;
    bool run_ours;
    bool zip;             /* --package zip: Zip functions, init container downloads */
    const char *code;     /* --code: the zip */
    const char *self_url; /* artifact server URL (zip) or a dummy */
    char *zip_data;
    size_t zip_size;
} options;

static options opt = {
    .python = "python3",
    .boot_ms = 300,
    .launches = 50,
    .concurrency = 200,
    .reap_foreign = 10000,
    .reap_ours = 1000,
    .footprint_instances = 200,
    .repeat = 1,
    .run_baseline = true,
    .run_ours = true,
    .self_url = "http://127.0.0.1:9",
};

static void progress(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void progress(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("bench-k8s: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* ------------------------------------------------------------------ sims */

#define SIM_ERR_MAX 1024

/*
 * A fresh simulator with the figures' settings (its own temporary directory), or NULL
 * with err. The bench's own requests to it (stats, reset, bulk) keep one connection,
 * so they add no connection or TLS handshake to what figure 3 counts; the generous
 * timeouts cover a 10 000-Pod bulk create on a loaded machine. Four kubelet workers:
 * the simulated kubelet's tasks are Python CPU work under one GIL, so more threads only
 * add hand-offs (figure 3, 6 interleaved runs each: median 0.76 s with 4, 0.95 s with 16).
 */
static kubesim *sim_up(char err[SIM_ERR_MAX])
{
    char boot[32];
    snprintf(boot, sizeof(boot), "%u", opt.boot_ms);
    const char *args[] = {"--boot-ms",
                          boot,
                          "--rie-delay-ms",
                          "0",
                          "--request-log",
                          "100",
                          "--max-connections",
                          "1024",
                          "--kubelet-workers",
                          "4",
                          NULL};
    kubesim_options ko = {.extra_args = args,
                          .python = opt.python,
                          .script = opt.kubesim,
                          .ready_timeout_ms = 60000,
                          .request_timeout_ms = 300000,
                          .keep_connection = 1};
    kubesim *sim = NULL;
    if (kubesim_start_opts(&ko, &sim) != 0)
        snprintf(err, SIM_ERR_MAX, "kubesim: %s", kubesim_last_error());
    return sim;
}

/* METHOD PATH [BODY] on the simulator: the JSON answer of a 2xx (caller puts it), or
 * NULL with err naming the request and the status or transport error. */
static json_object *sim_call(kubesim *sim, const char *method, const char *path, const char *body,
                             char err[SIM_ERR_MAX])
{
    json_object *doc = NULL;
    int st = kubesim_request(sim, method, path, body, NULL, &doc);
    if (st < 0) {
        snprintf(err, SIM_ERR_MAX, "kubesim %s", kubesim_last_error());
        return NULL;
    }
    if (st < 200 || st >= 300 || doc == NULL) {
        const char *msg = "";
        json_object *m = NULL;
        if (doc && json_object_object_get_ex(doc, "message", &m))
            msg = json_object_get_string(m);
        snprintf(err, SIM_ERR_MAX, "kubesim %s %s: HTTP %d%s%.300s", method, path, st,
                 doc ? ": " : " (answer is not JSON)", msg);
        json_object_put(doc);
        return NULL;
    }
    return doc;
}

static json_object *sim_get(kubesim *sim, const char *path, char err[SIM_ERR_MAX])
{
    return sim_call(sim, "GET", path, NULL, err);
}

/* A top-level counter of a /_sim/stats document (0 when absent). */
static long stat_long(json_object *stats, const char *key)
{
    json_object *v = NULL;
    if (stats == NULL || !json_object_object_get_ex(stats, key, &v))
        return 0;
    return (long)json_object_get_int64(v);
}

static int sim_reset(kubesim *sim, char err[SIM_ERR_MAX])
{
    json_object *r = sim_call(sim, "POST", "/_sim/reset", "{}", err);
    if (r == NULL)
        return -1;
    json_object_put(r);
    return 0;
}

/* Connections the bench itself opened since the last reset (bias). */
static long sim_admin_conn_bias(kubesim *sim)
{
    char err[SIM_ERR_MAX];
    json_object *s = sim_get(sim, "/_sim/stats", err);
    long n = stat_long(s, "connections_total");
    json_object_put(s);
    return n;
}

static json_object *by_verb_per(json_object *stats, double per)
{
    json_object *out = json_object_new_object();
    json_object *req = NULL;
    if (stats && json_object_object_get_ex(stats, "requests", &req)) {
        json_object_object_foreach(req, k, v)
        {
            json_object_object_add(out, k,
                                   json_object_new_double((double)json_object_get_int64(v) / per));
        }
    }
    return out;
}

/* Seconds the simulator spent handling every API request since the last reset
 * (its `handler_seconds`, summed over verbs; watch streams excluded: they stay open). */
static double sim_handler_seconds(json_object *stats)
{
    json_object *hs = NULL;
    double total = 0;
    if (stats && json_object_object_get_ex(stats, "handler_seconds", &hs)) {
        json_object_object_foreach(hs, k, v)
        {
            if (strncmp(k, "watch ", 6) != 0)
                total += json_object_get_double(v);
        }
    }
    return total;
}

static double verb_count(json_object *stats, const char *verb)
{
    json_object *req = NULL, *v = NULL;
    if (stats && json_object_object_get_ex(stats, "requests", &req) &&
        json_object_object_get_ex(req, verb, &v))
        return (double)json_object_get_int64(v);
    return 0;
}

/* kubesim's rie_ready_monotonic of the Pod whose IP is in ENDPOINT, or NAN. */
static double rie_ready_once(kubesim *sim, const char *ip, bool *has_code)
{
    char err[SIM_ERR_MAX];
    double t = NAN;
    json_object *s = sim_get(sim, "/_sim/stats", err);
    json_object *pods = NULL;
    if (s && json_object_object_get_ex(s, "pods", &pods)) {
        json_object_object_foreach(pods, name, pod)
        {
            (void)name;
            json_object *pip = NULL, *ready = NULL;
            if (json_object_object_get_ex(pod, "pod_ip", &pip) &&
                json_object_is_type(pip, json_type_string) &&
                strcmp(json_object_get_string(pip), ip) == 0 &&
                json_object_object_get_ex(pod, "rie_ready_monotonic", &ready) &&
                !json_object_is_type(ready, json_type_null)) {
                t = json_object_get_double(ready);
                json_object *files = NULL;
                *has_code = false;
                if (json_object_object_get_ex(pod, "code_files", &files) &&
                    json_object_is_type(files, json_type_array))
                    for (size_t i = 0; i < json_object_array_length(files); i++)
                        if (strcmp(json_object_get_string(json_object_array_get_idx(files, i)),
                                   "app.sh") == 0)
                            *has_code = true;
            }
        }
    }
    json_object_put(s);
    return t;
}

/*
 * kubesim stamps rie_ready just after its listener is up, from another
 * thread: a backend that connects at once can return before the stamp
 * exists (and the overhead can come out slightly negative). Ask again for
 * up to 200 ms before calling the launch premature.
 */
static double rie_ready_of(kubesim *sim, const char *endpoint, bool *has_code)
{
    char ip[64];
    snprintf(ip, sizeof(ip), "%s", endpoint);
    char *colon = strrchr(ip, ':');
    if (colon)
        *colon = '\0';
    double t = NAN;
    for (int i = 0; i < 40 && isnan(t); i++) {
        if (i > 0)
            bench_sleep_ms(5);
        t = rie_ready_once(sim, ip, has_code);
    }
    return t;
}

static long count_pods(kubesim *sim, const char *selector_escaped)
{
    char err[SIM_ERR_MAX];
    char path[512];
    snprintf(path, sizeof(path), "/api/v1/namespaces/" NS "/pods?labelSelector=%s",
             selector_escaped);
    json_object *l = sim_get(sim, path, err);
    json_object *items = NULL;
    long n = -1;
    if (l && json_object_object_get_ex(l, "items", &items))
        n = (long)json_object_array_length(items);
    json_object_put(l);
    return n;
}

static int bulk(kubesim *sim, const char *prefix, unsigned count, const char *labels_json,
                char err[SIM_ERR_MAX])
{
    char body[1024];
    snprintf(body, sizeof(body),
             "{\"namespace\":\"" NS "\",\"count\":%u,\"name_prefix\":\"%s\",\"labels\":%s,"
             "\"age_seconds\":3600}",
             count, prefix, labels_json);
    json_object *r = sim_call(sim, "POST", "/_sim/bulk", body, err);
    if (r == NULL)
        return -1;
    json_object *created = NULL;
    long n = json_object_object_get_ex(r, "created", &created) ? json_object_get_int64(created) : 0;
    json_object_put(r);
    if (n != (long)count) {
        snprintf(err, SIM_ERR_MAX, "kubesim bulk %s: created %ld of %u", prefix, n, count);
        return -1;
    }
    return 0;
}

static json_object *series_json(bench_series *s, unsigned failures)
{
    json_object *o = json_object_new_object();
    json_object_object_add(o, "n", json_object_new_int64((int64_t)s->n));
    json_object_object_add(o, "failures", json_object_new_int64(failures));
    if (s->n > 0) {
        json_object_object_add(o, "p50_ms", json_object_new_double(bench_series_percentile(s, 50)));
        json_object_object_add(o, "p99_ms", json_object_new_double(bench_series_percentile(s, 99)));
        json_object_object_add(o, "min_ms", json_object_new_double(bench_series_percentile(s, 0)));
        json_object_object_add(o, "max_ms",
                               json_object_new_double(bench_series_percentile(s, 100)));
        json_object_object_add(o, "mean_ms", json_object_new_double(bench_series_mean(s)));
    }
    return o;
}

static json_object *error_json(const char *msg)
{
    json_object *o = json_object_new_object();
    json_object_object_add(o, "error", json_object_new_string(msg));
    return o;
}

/* ------------------------------------------------------------- the sides */

/* One side's launch/terminate, so every figure runs the same code for both. */
typedef struct side {
    const char *name; /* "baseline" or "ours" */
    kubesim *sim;
    /* baseline */
    bhttp_client *api;
    basek8s *base;
    char instance_id[64];
    /* ours */
    bplug plug;
    bool plug_open;
} side;

static int side_open(side *s, kubesim *sim, bool ours, char err[1024])
{
    memset(s, 0, sizeof(*s));
    s->sim = sim;
    s->name = ours ? "ours" : "baseline";
    if (ours) {
        const char *config[] = {"KUBECONFIG",
                                kubesim_kubeconfig(sim),
                                "FAKECLOUD_K8S_SELF_URL",
                                opt.self_url,
                                "HOME",
                                opt.workdir,
                                NULL};
        if (bplug_open(&s->plug, opt.plugin, config, TOKEN, err) != 0)
            return -1;
        s->plug_open = true;
        return 0;
    }
    bhttp_tls tls = {kubesim_ca_file(sim), kubesim_client_cert_file(sim),
                     kubesim_client_key_file(sim), NULL};
    s->api = bhttp_client_new(kubesim_url(sim), &tls);
    snprintf(s->instance_id, sizeof(s->instance_id), "fakecloud-%d", (int)getpid());
    basek8s_config cfg = BASEK8S_CONFIG_DEFAULTS(NS, s->instance_id, opt.self_url, TOKEN);
    s->base = s->api ? basek8s_new(s->api, &cfg) : NULL;
    if (s->base == NULL) {
        snprintf(err, 1024, "baseline: out of memory");
        return -1;
    }
    return 0;
}

/* Close; returns the plugin's leaked bytes (0 for the baseline). */
static size_t side_close(side *s)
{
    size_t leaked = 0;
    if (s->plug_open)
        bplug_close(&s->plug, &leaked);
    s->plug_open = false;
    basek8s_free(s->base);
    s->base = NULL;
    bhttp_client_free(s->api);
    s->api = NULL;
    return leaked;
}

/* Launch FN_NAME; fills endpoint and handle. 0 or -1 with err. */
static int side_launch(side *s, const char *fn_name, const char *deploy_id, char endpoint[256],
                       char handle[512], char err[1024])
{
    if (s->plug_open) {
        fcb_function fn;
        fcb_blob code = {NULL, 0};
        if (opt.zip) {
            bplug_zip_function(&fn, fn_name, RUNTIME, HANDLER);
            code = (fcb_blob){opt.zip_data, opt.zip_size};
        } else {
            bplug_image_function(&fn, fn_name, IMAGE);
        }
        fcb_launch_request req = {
            .size = (uint32_t)sizeof(req), .function = &fn, .code = code, .deploy_id = deploy_id};
        fcb_instance inst;
        memset(&inst, 0, sizeof(inst));
        inst.size = (uint32_t)sizeof(inst);
        fcb_error ferr = FCB_ERROR_INIT;
        int rc = s->plug.plugin->ops->launch(s->plug.backend, &req, &inst, &ferr);
        if (rc != FCB_OK) {
            snprintf(err, 1024, "launch %s: %s: %s", fn_name, fcb_status_name(rc), ferr.message);
            return -1;
        }
        snprintf(endpoint, 256, "%s", inst.endpoint);
        snprintf(handle, 512, "%s", inst.handle);
        return 0;
    }
    basek8s_function fn = {fn_name,
                           NULL,
                           opt.zip ? RUNTIME : NULL,
                           opt.zip ? HANDLER : NULL,
                           IMAGE,
                           opt.zip,
                           deploy_id,
                           128,
                           3};
    char ep[64], pod[64];
    if (basek8s_launch(s->base, &fn, ep, pod, NULL, err) != 0)
        return -1;
    snprintf(endpoint, 256, "%s", ep);
    snprintf(handle, 512, "%s", pod);
    return 0;
}

static int side_terminate(side *s, const char *handle, char err[1024])
{
    if (s->plug_open) {
        fcb_error ferr = FCB_ERROR_INIT;
        int rc = s->plug.plugin->ops->terminate(s->plug.backend, handle, &ferr);
        if (rc != FCB_OK) {
            snprintf(err, 1024, "terminate %s: %s: %s", handle, fcb_status_name(rc), ferr.message);
            return -1;
        }
        return 0;
    }
    return basek8s_terminate(s->base, handle, err);
}

static int side_reap(side *s, size_t *reaped, char err[1024])
{
    if (s->plug_open) {
        fcb_error ferr = FCB_ERROR_INIT;
        int rc = s->plug.plugin->ops->reap_stale(s->plug.backend, reaped, &ferr);
        if (rc != FCB_OK) {
            snprintf(err, 1024, "reap_stale: %s: %s", fcb_status_name(rc), ferr.message);
            return -1;
        }
        return 0;
    }
    return basek8s_reap(s->base, reaped, NULL, err);
}

/* -------------------------------------------------- figures 1 and 2 */

static json_object *run_sequential(bool ours)
{
    kubesim *sim = NULL;
    side s;
    char err[1024];
    char serr[SIM_ERR_MAX];
    bench_series overhead = BENCH_SERIES_INIT;
    unsigned failures = 0, code_delivered = 0;
    json_object *res = NULL;
    char first_error[1024] = "";
    progress("figures 1+2, %s: %u sequential launches, boot %u ms", ours ? "ours" : "baseline",
             opt.launches, opt.boot_ms);
    if ((sim = sim_up(serr)) == NULL)
        return error_json(serr);
    if (side_open(&s, sim, ours, err) != 0) {
        res = error_json(err);
        goto out_sim;
    }
    if (sim_reset(sim, serr) != 0) {
        res = error_json(serr);
        goto out_side;
    }
    int64_t t_start = bench_now_ns();
    for (unsigned i = 0; i < opt.launches; i++) {
        char endpoint[256], handle[512];
        if (side_launch(&s, "bench-seq", "0123456789abcdef", endpoint, handle, err) != 0) {
            failures++;
            if (!first_error[0])
                snprintf(first_error, sizeof(first_error), "%s", err);
            continue;
        }
        double returned = bench_now_s();
        bool has_code = false;
        double ready = rie_ready_of(sim, endpoint, &has_code);
        if (has_code)
            code_delivered++;
        if (isnan(ready)) {
            failures++;
            if (!first_error[0])
                snprintf(first_error, sizeof(first_error),
                         "launch returned %s before kubesim's RIE was listening", endpoint);
        } else {
            bench_series_add(&overhead, (returned - ready) * 1000.0);
        }
        if (side_terminate(&s, handle, err) != 0 && !first_error[0])
            snprintf(first_error, sizeof(first_error), "%s", err);
    }
    double elapsed = (double)(bench_now_ns() - t_start) / 1e9;
    json_object *stats = sim_get(sim, "/_sim/stats", serr);
    res = json_object_new_object();
    json_object_object_add(res, "launch_overhead", series_json(&overhead, failures));
    double n = opt.launches ? (double)opt.launches : 1;
    json_object *rq = json_object_new_object();
    json_object_object_add(rq, "per_launch_terminate",
                           json_object_new_double((double)stat_long(stats, "requests_total") / n));
    json_object_object_add(rq, "polling_gets_per_launch",
                           json_object_new_double(verb_count(stats, "get pods") / n));
    json_object_object_add(rq, "by_verb", by_verb_per(stats, n));
    json_object_object_add(res, "requests", rq);
    json_object_object_add(res, "elapsed_s", json_object_new_double(elapsed));
    if (opt.zip)
        json_object_object_add(res, "launches_with_code_in_var_task",
                               json_object_new_int64(code_delivered));
    if (first_error[0])
        json_object_object_add(res, "first_error", json_object_new_string(first_error));
    json_object_put(stats);
out_side:;
    size_t leaked = side_close(&s);
    if (res && ours)
        json_object_object_add(res, "leaked_bytes", json_object_new_int64((int64_t)leaked));
out_sim:
    kubesim_stop(sim);
    bench_series_free(&overhead);
    return res;
}

/* -------------------------------------------------------- figure 3 */

typedef struct conc_task {
    side *s;
    unsigned index;
    pthread_mutex_t *lock;
    pthread_cond_t *cond;
    bool *go;
    int64_t done_ns;
    int rc;
    char endpoint[256];
    char handle[512];
    char err[1024];
} conc_task;

static void *conc_worker(void *arg)
{
    conc_task *t = arg;
    char fn[64];
    snprintf(fn, sizeof(fn), "bench-c-%04u", t->index);
    pthread_mutex_lock(t->lock);
    /* Bounded: the main thread sets *go once every thread exists (or gives up). */
    while (!*t->go)
        pthread_cond_wait(t->cond, t->lock);
    pthread_mutex_unlock(t->lock);
    t->rc = side_launch(t->s, fn, "fedcba9876543210", t->endpoint, t->handle, t->err);
    t->done_ns = bench_now_ns();
    return NULL;
}

static json_object *run_concurrent(bool ours)
{
    kubesim *sim = NULL;
    side s;
    char err[1024];
    char serr[SIM_ERR_MAX];
    json_object *res = NULL;
    unsigned n = opt.concurrency;
    conc_task *tasks = calloc(n, sizeof(*tasks));
    pthread_t *threads = calloc(n, sizeof(*threads));
    pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
    bool go = false;
    progress("figure 3, %s: %u concurrent launches", ours ? "ours" : "baseline", n);
    if (tasks == NULL || threads == NULL) {
        free(tasks);
        free(threads);
        return error_json("out of memory");
    }
    if ((sim = sim_up(serr)) == NULL) {
        res = error_json(serr);
        goto out_mem;
    }
    /* Count from before open: our plugin's watch and Secret are part of the cost. */
    if (sim_reset(sim, serr) != 0) {
        res = error_json(serr);
        goto out_sim;
    }
    long bias = sim_admin_conn_bias(sim);
    if (side_open(&s, sim, ours, err) != 0) {
        res = error_json(err);
        goto out_sim;
    }
    unsigned started = 0;
    for (unsigned i = 0; i < n; i++) {
        tasks[i] =
            (conc_task){.s = &s, .index = i, .lock = &lock, .cond = &cond, .go = &go, .rc = -1};
        if (pthread_create(&threads[i], NULL, conc_worker, &tasks[i]) != 0) {
            snprintf(tasks[i].err, sizeof(tasks[i].err), "pthread_create failed");
            break;
        }
        started++;
    }
    int64_t t0 = bench_now_ns();
    pthread_mutex_lock(&lock);
    go = true;
    pthread_cond_broadcast(&cond);
    pthread_mutex_unlock(&lock);
    unsigned ok = 0;
    int64_t last = t0;
    const char *first_error = NULL;
    for (unsigned i = 0; i < started; i++) {
        pthread_join(threads[i], NULL);
        if (tasks[i].rc == 0) {
            ok++;
            if (tasks[i].done_ns > last)
                last = tasks[i].done_ns;
        } else if (first_error == NULL) {
            first_error = tasks[i].err;
        }
    }
    double wall = (double)(last - t0) / 1e9;
    json_object *stats = sim_get(sim, "/_sim/stats", serr);
    res = json_object_new_object();
    json_object_object_add(res, "launches", json_object_new_int64(n));
    json_object_object_add(res, "succeeded", json_object_new_int64(ok));
    json_object_object_add(res, "success_rate", json_object_new_double(n ? (double)ok / n : 0));
    json_object_object_add(res, "wall_s", json_object_new_double(wall));
    json_object_object_add(res, "connections",
                           json_object_new_int64(stat_long(stats, "connections_total") - bias));
    json_object_object_add(res, "tls_handshakes",
                           json_object_new_int64(stat_long(stats, "tls_handshakes_total") - bias));
    json_object_object_add(res, "tls_handshake_failures",
                           json_object_new_int64(stat_long(stats, "tls_handshake_failures")));
    json_object_object_add(res, "requests",
                           json_object_new_int64(stat_long(stats, "requests_total")));
    json_object_object_add(res, "admin_connection_bias", json_object_new_int64(bias));
    if (first_error)
        json_object_object_add(res, "first_error", json_object_new_string(first_error));
    json_object_put(stats);
    /* Clean up (not timed). */
    for (unsigned i = 0; i < started; i++)
        if (tasks[i].rc == 0)
            side_terminate(&s, tasks[i].handle, err);
    size_t leaked = side_close(&s);
    if (ours)
        json_object_object_add(res, "leaked_bytes", json_object_new_int64((int64_t)leaked));
out_sim:
    kubesim_stop(sim);
out_mem:
    free(tasks);
    free(threads);
    return res;
}

/* -------------------------------------------------------- figure 4 */

static json_object *run_reap(bool ours)
{
    kubesim *sim = NULL;
    side s;
    char err[1024];
    char serr[SIM_ERR_MAX];
    json_object *res = NULL;
    char labels[512];
    char sel[256];
    char endpoint[256], handle[512];
    bool launched = false;
    progress("figure 4, %s: reap %u foreign Pods (+%u ours)", ours ? "ours" : "baseline",
             opt.reap_foreign, opt.reap_ours);
    if ((sim = sim_up(serr)) == NULL)
        return error_json(serr);
    if (side_open(&s, sim, ours, err) != 0) {
        res = error_json(err);
        goto out_sim;
    }
    char instance[128];
    if (ours) {
        /* Our instance id is random per open: read it off a Pod we launch. */
        if (side_launch(&s, "bench-reap-self", "0123456789abcdef", endpoint, handle, err) != 0) {
            res = error_json(err);
            goto out_side;
        }
        launched = true;
        const char *name = strrchr(handle, '/');
        char path[512];
        snprintf(path, sizeof(path), "/api/v1/namespaces/" NS "/pods/%s", name ? name + 1 : handle);
        json_object *pod = sim_get(sim, path, serr);
        json_object *meta = NULL, *lab = NULL, *inst = NULL;
        if (pod == NULL || !json_object_object_get_ex(pod, "metadata", &meta) ||
            !json_object_object_get_ex(meta, "labels", &lab) ||
            !json_object_object_get_ex(lab, "fakecloud-instance", &inst)) {
            json_object_put(pod);
            res = error_json("our Pod has no fakecloud-instance label");
            goto out_side;
        }
        snprintf(instance, sizeof(instance), "%s", json_object_get_string(inst));
        json_object_put(pod);
    } else {
        snprintf(instance, sizeof(instance), "%s", s.instance_id);
    }
    snprintf(labels, sizeof(labels),
             "{\"fakecloud-managed-by\":\"fakecloud\",\"fakecloud-instance\":\"fakecloud-stale\","
             "\"fakecloud-service\":\"lambda\",\"fakecloud-lambda\":\"old-fn\"}");
    if (bulk(sim, "stale", opt.reap_foreign, labels, serr) != 0) {
        res = error_json(serr);
        goto out_side;
    }
    snprintf(labels, sizeof(labels),
             "{\"fakecloud-managed-by\":\"fakecloud\",\"fakecloud-instance\":\"%s\","
             "\"fakecloud-service\":\"lambda\",\"fakecloud-lambda\":\"live-fn\"}",
             instance);
    if (bulk(sim, "mine", opt.reap_ours, labels, serr) != 0 ||
        bulk(sim, "unmanaged", 100, "{\"app\":\"unrelated\"}", serr) != 0) {
        res = error_json(serr);
        goto out_side;
    }
    if (sim_reset(sim, serr) != 0) {
        res = error_json(serr);
        goto out_side;
    }
    size_t reaped = 0;
    int64_t t0 = bench_now_ns();
    int rc = side_reap(&s, &reaped, err);
    double secs = (double)(bench_now_ns() - t0) / 1e9;
    json_object *stats = sim_get(sim, "/_sim/stats", serr);
    res = json_object_new_object();
    if (rc != 0)
        json_object_object_add(res, "error", json_object_new_string(err));
    json_object_object_add(res, "seconds", json_object_new_double(secs));
    json_object_object_add(res, "requests",
                           json_object_new_int64(stat_long(stats, "requests_total")));
    json_object_object_add(res, "by_verb", by_verb_per(stats, 1));
    json_object_object_add(res, "simulator_seconds",
                           json_object_new_double(sim_handler_seconds(stats)));
    json_object_object_add(res, "reaped_reported", json_object_new_int64((int64_t)reaped));
    json_object_put(stats);
    /* Correctness of what was measured: foreign gone, ours and unmanaged intact. */
    snprintf(sel, sizeof(sel), "fakecloud-instance%%3Dfakecloud-stale");
    long stale_left = count_pods(sim, sel);
    snprintf(sel, sizeof(sel), "fakecloud-instance%%3D%s", instance);
    long ours_left = count_pods(sim, sel);
    long unmanaged_left = count_pods(sim, "app%3Dunrelated");
    json_object_object_add(res, "foreign_left", json_object_new_int64(stale_left));
    json_object_object_add(res, "ours_left", json_object_new_int64(ours_left));
    json_object_object_add(res, "unmanaged_left", json_object_new_int64(unmanaged_left));
    bool correct = stale_left == 0 && ours_left == (long)opt.reap_ours + (launched ? 1 : 0) &&
                   unmanaged_left == 100;
    json_object_object_add(res, "correct", json_object_new_boolean(correct));
out_side:
    if (launched)
        side_terminate(&s, handle, err);
    {
        size_t leaked = side_close(&s);
        if (res && ours)
            json_object_object_add(res, "leaked_bytes", json_object_new_int64((int64_t)leaked));
    }
out_sim:
    kubesim_stop(sim);
    return res;
}

/* -------------------------------------------------------- figure 6 */

static long rss_kib(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

static json_object *run_footprint(void)
{
    kubesim *sim = NULL;
    char err[1024];
    char serr[SIM_ERR_MAX];
    json_object *res = NULL;
    bench_series load = BENCH_SERIES_INIT, open_t = BENCH_SERIES_INIT;
    unsigned n = opt.footprint_instances;
    progress("figure 6: footprint (load/open x10, %u warm instances)", n);
    if (n == 0)
        return error_json("--instances must be > 0");
    if ((sim = sim_up(serr)) == NULL)
        return error_json(serr);
    long rss_before = rss_kib();
    const char *config[] = {"KUBECONFIG",
                            kubesim_kubeconfig(sim),
                            "FAKECLOUD_K8S_SELF_URL",
                            "http://127.0.0.1:9",
                            "HOME",
                            opt.workdir,
                            NULL};
    for (int i = 0; i < 10; i++) {
        bplug p;
        if (bplug_open(&p, opt.plugin, config, TOKEN, err) != 0) {
            res = error_json(err);
            goto out;
        }
        bench_series_add(&load, p.load_ms);
        bench_series_add(&open_t, p.open_ms);
        bplug_close(&p, NULL);
    }
    side s;
    if (side_open(&s, sim, true, err) != 0) {
        res = error_json(err);
        goto out;
    }
    size_t heap_open = mock_host_outstanding_bytes(s.plug.mh);
    /* Launch the warm instances 50 at a time (the plugin is thread-safe). */
    conc_task *tasks = calloc(n, sizeof(*tasks));
    pthread_t *threads = calloc(n, sizeof(*threads));
    pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
    bool go = true;
    unsigned ok = 0;
    for (unsigned base = 0; tasks && threads && base < n; base += 50) {
        unsigned end = base + 50 < n ? base + 50 : n, started = base;
        for (unsigned i = base; i < end; i++) {
            tasks[i] = (conc_task){
                .s = &s, .index = 1000 + i, .lock = &lock, .cond = &cond, .go = &go, .rc = -1};
            if (pthread_create(&threads[i], NULL, conc_worker, &tasks[i]) != 0)
                break;
            started++;
        }
        for (unsigned i = base; i < started; i++) {
            pthread_join(threads[i], NULL);
            if (tasks[i].rc == 0)
                ok++;
            else
                snprintf(err, sizeof(err), "%s", tasks[i].err);
        }
    }
    size_t heap_warm = mock_host_outstanding_bytes(s.plug.mh);
    long rss_warm = rss_kib();
    for (unsigned i = 0; tasks && i < n; i++)
        if (tasks[i].rc == 0)
            side_terminate(&s, tasks[i].handle, err);
    free(tasks);
    free(threads);
    size_t leaked = side_close(&s);
    res = json_object_new_object();
    json_object_object_add(res, "load_init_ms_p50",
                           json_object_new_double(bench_series_percentile(&load, 50)));
    json_object_object_add(res, "open_ms_p50",
                           json_object_new_double(bench_series_percentile(&open_t, 50)));
    json_object_object_add(res, "heap_after_open_bytes", json_object_new_int64((int64_t)heap_open));
    json_object_object_add(res, "warm_instances", json_object_new_int64(ok));
    json_object_object_add(res, "heap_per_warm_instance_bytes",
                           json_object_new_double(ok ? (double)(heap_warm - heap_open) / ok : 0));
    json_object_object_add(res, "peak_rss_kib_before", json_object_new_int64(rss_before));
    json_object_object_add(res, "peak_rss_kib_warm", json_object_new_int64(rss_warm));
    json_object_object_add(res, "leaked_bytes", json_object_new_int64((int64_t)leaked));
    if (ok < n)
        json_object_object_add(res, "first_error", json_object_new_string(err));
out:
    kubesim_stop(sim);
    bench_series_free(&load);
    bench_series_free(&open_t);
    return res;
}

/* ------------------------------------------------- repeated figures */

#define MAX_REPEAT 20

static json_object *pair(json_object *baseline, json_object *ours);

static int cmp_by_value(const void *a, const void *b)
{
    const double *x = a, *y = b;
    return (x[0] > y[0]) - (x[0] < y[0]);
}

static double num_of(json_object *o, const char *key)
{
    json_object *v = NULL;
    return json_object_object_get_ex(o, key, &v) ? json_object_get_double(v) : 0;
}

/*
 * n runs of one side of a figure as one result: the run whose `key` is the median
 * stands for all (its other figures are that run's), `<key>_runs` lists every run in
 * order; where the worst run matters, the worst counts (most connections, handshakes,
 * requests and leaked bytes; success summed over all launches; correct only if every
 * run was). A run that failed is the result (with `failed_run`). Takes ownership.
 */
static json_object *aggregate_runs(json_object **runs, unsigned n, const char *key)
{
    json_object *res = NULL;
    for (unsigned i = 0; i < n && res == NULL; i++) {
        if (runs[i] == NULL || json_object_object_get_ex(runs[i], "error", NULL)) {
            res = runs[i] ? runs[i] : error_json("out of memory");
            runs[i] = NULL;
            json_object_object_add(res, "failed_run", json_object_new_int64(i + 1));
        }
    }
    if (res == NULL) {
        double order[2 * MAX_REPEAT] = {0};
        for (unsigned i = 0; i < n; i++) {
            order[2 * i] = num_of(runs[i], key);
            order[2 * i + 1] = i;
        }
        qsort(order, n, 2 * sizeof(double), cmp_by_value);
        unsigned m = (unsigned)order[2 * ((n - 1) / 2) + 1];
        res = runs[m];
        runs[m] = NULL;
        json_object *all = json_object_new_array();
        static const char *const worst[] = {"connections", "tls_handshakes",
                                            "tls_handshake_failures", "requests", "leaked_bytes"};
        double launches = 0, succeeded = 0;
        bool correct = true;
        for (unsigned i = 0; i < n; i++) {
            json_object *r = runs[i] ? runs[i] : res;
            json_object_array_add(all, json_object_new_double(num_of(r, key)));
            launches += num_of(r, "launches");
            succeeded += num_of(r, "succeeded");
            json_object *c = NULL;
            if (json_object_object_get_ex(r, "correct", &c) && !json_object_get_boolean(c))
                correct = false;
            for (size_t w = 0; w < sizeof(worst) / sizeof(worst[0]); w++)
                if (json_object_object_get_ex(r, worst[w], NULL) &&
                    num_of(r, worst[w]) > num_of(res, worst[w]))
                    json_object_object_add(res, worst[w],
                                           json_object_new_int64((int64_t)num_of(r, worst[w])));
        }
        char name[64];
        snprintf(name, sizeof(name), "%s_runs", key);
        json_object_object_add(res, name, all);
        json_object_object_add(res, "runs", json_object_new_int64(n));
        if (json_object_object_get_ex(res, "launches", NULL)) {
            json_object_object_add(res, "launches", json_object_new_int64((int64_t)launches));
            json_object_object_add(res, "succeeded", json_object_new_int64((int64_t)succeeded));
            json_object_object_add(res, "success_rate",
                                   json_object_new_double(launches ? succeeded / launches : 0));
        }
        if (json_object_object_get_ex(res, "correct", NULL))
            json_object_object_add(res, "correct", json_object_new_boolean(correct));
    }
    for (unsigned i = 0; i < n; i++)
        json_object_put(runs[i]);
    return res;
}

/* Figure 3 or 4, opt.repeat runs per side, the sides interleaved (baseline, ours,
 * baseline, ...) so that a machine getting busier or quieter affects both alike. */
static json_object *run_repeated(json_object *(*fn)(bool ours), const char *key)
{
    json_object *b[MAX_REPEAT] = {0}, *o[MAX_REPEAT] = {0};
    for (unsigned r = 0; r < opt.repeat; r++) {
        if (opt.repeat > 1)
            progress("run %u of %u", r + 1, opt.repeat);
        if (opt.run_baseline)
            b[r] = fn(false);
        if (opt.run_ours)
            o[r] = fn(true);
    }
    return pair(opt.run_baseline ? aggregate_runs(b, opt.repeat, key) : error_json("not run"),
                opt.run_ours ? aggregate_runs(o, opt.repeat, key) : error_json("plugin not built"));
}

/* ------------------------------------------------------------- main */

static json_object *pair(json_object *baseline, json_object *ours)
{
    json_object *o = json_object_new_object();
    json_object_object_add(o, "baseline", baseline);
    json_object_object_add(o, "ours", ours);
    return o;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: bench-k8s --plugin SO --workdir DIR --out FILE [options]\n"
               "  --kubesim PATH       kubesim.py (default: the one this was built with)\n"
               "  --python P           python interpreter for kubesim (python3)\n"
               "  --figures LIST       comma-separated subset of 1,2,3,4,6 (default 1,2,3,4)\n"
               "  --boot-ms N          kubesim boot time (300)\n"
               "  --launches N         sequential launches per side, figures 1-2 (50)\n"
               "  --concurrency N      concurrent launches, figure 3 (200)\n"
               "  --reap-foreign N     foreign Pods to reap, figure 4 (10000)\n"
               "  --reap-ours N        our Pods that must survive, figure 4 (1000)\n"
               "  --instances N        warm instances, figure 6 (200)\n"
               "  --repeat N           runs per side of figures 3 and 4, interleaved; the\n"
               "                       median run is reported with every run's figure (1)\n"
               "  --only baseline|ours run one side only\n"
               "  --package image|zip  function package (image); zip needs --code ZIP, served\n"
               "                       to the init containers by a local artifact server\n");
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {{"python", required_argument, NULL, 'p'},
                                             {"kubesim", required_argument, NULL, 'k'},
                                             {"plugin", required_argument, NULL, 'P'},
                                             {"workdir", required_argument, NULL, 'w'},
                                             {"out", required_argument, NULL, 'o'},
                                             {"figures", required_argument, NULL, 'f'},
                                             {"boot-ms", required_argument, NULL, 'b'},
                                             {"launches", required_argument, NULL, 'n'},
                                             {"concurrency", required_argument, NULL, 'c'},
                                             {"reap-foreign", required_argument, NULL, 'F'},
                                             {"reap-ours", required_argument, NULL, 'O'},
                                             {"instances", required_argument, NULL, 'i'},
                                             {"only", required_argument, NULL, 'x'},
                                             {"repeat", required_argument, NULL, 'r'},
                                             {"package", required_argument, NULL, 'z'},
                                             {"code", required_argument, NULL, 'C'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    const char *figures = "1,2,3,4";
    int c;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'p': opt.python = optarg; break;
        case 'k': opt.kubesim = optarg; break;
        case 'P': opt.plugin = optarg; break;
        case 'w': opt.workdir = optarg; break;
        case 'o': opt.out = optarg; break;
        case 'f': figures = optarg; break;
        case 'b': opt.boot_ms = (unsigned)strtoul(optarg, NULL, 10); break;
        case 'n': opt.launches = (unsigned)strtoul(optarg, NULL, 10); break;
        case 'c': opt.concurrency = (unsigned)strtoul(optarg, NULL, 10); break;
        case 'F': opt.reap_foreign = (unsigned)strtoul(optarg, NULL, 10); break;
        case 'O': opt.reap_ours = (unsigned)strtoul(optarg, NULL, 10); break;
        case 'i': opt.footprint_instances = (unsigned)strtoul(optarg, NULL, 10); break;
        case 'r': opt.repeat = (unsigned)strtoul(optarg, NULL, 10); break;
        case 'x':
            opt.run_baseline = strcmp(optarg, "baseline") == 0;
            opt.run_ours = strcmp(optarg, "ours") == 0;
            break;
        case 'z':
            if (strcmp(optarg, "zip") != 0 && strcmp(optarg, "image") != 0) {
                fprintf(stderr, "bench-k8s: --package must be zip or image, not %s\n", optarg);
                return 2;
            }
            opt.zip = strcmp(optarg, "zip") == 0;
            break;
        case 'C': opt.code = optarg; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (opt.zip && opt.code == NULL) {
        fprintf(stderr, "bench-k8s: --package zip needs --code ZIP\n");
        return 2;
    }
    if (!opt.workdir || !opt.out || (opt.run_ours && !opt.plugin)) {
        usage(stderr);
        return 2;
    }
    if (opt.concurrency == 0 || opt.concurrency > 2000 || opt.launches > 100000 ||
        opt.footprint_instances > 5000 || opt.repeat == 0 || opt.repeat > MAX_REPEAT) {
        fprintf(stderr,
                "bench-k8s: --concurrency must be 1..2000, --launches <= 100000, "
                "--instances <= 5000, --repeat 1..%d\n",
                MAX_REPEAT);
        return 2;
    }
    for (const char *p = figures; *p; p++)
        if (*p >= '1' && *p <= '6')
            opt.fig[*p - '0'] = true;
    if (opt.run_ours && access(opt.plugin, R_OK) != 0) {
        fprintf(stderr, "bench-k8s: plugin %s: %s (ours is skipped)\n", opt.plugin,
                strerror(errno));
        opt.run_ours = false;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    bench_artifacts *artifacts = NULL;
    if (opt.zip) {
        FILE *f = fopen(opt.code, "rb");
        opt.zip_data = malloc(1 << 20);
        opt.zip_size = f && opt.zip_data ? fread(opt.zip_data, 1, 1 << 20, f) : 0;
        if (f)
            fclose(f);
        if (opt.zip_size == 0 || opt.zip_size == (1 << 20)) {
            fprintf(stderr, "bench-k8s: --code %s: cannot read (or over 1 MiB)\n", opt.code);
            free(opt.zip_data);
            return 2;
        }
        artifacts = bench_artifacts_start(opt.zip_data, opt.zip_size, TOKEN, &opt.self_url);
        if (artifacts == NULL) {
            fprintf(stderr, "bench-k8s: cannot start the artifact server on 127.0.0.1\n");
            free(opt.zip_data);
            return 1;
        }
    }

    json_object *doc = json_object_new_object();
    json_object *cfg = json_object_new_object();
    json_object_object_add(cfg, "boot_ms", json_object_new_int64(opt.boot_ms));
    json_object_object_add(cfg, "launches", json_object_new_int64(opt.launches));
    json_object_object_add(cfg, "concurrency", json_object_new_int64(opt.concurrency));
    json_object_object_add(cfg, "reap_foreign", json_object_new_int64(opt.reap_foreign));
    json_object_object_add(cfg, "reap_ours", json_object_new_int64(opt.reap_ours));
    json_object_object_add(cfg, "instances", json_object_new_int64(opt.footprint_instances));
    json_object_object_add(cfg, "repeat", json_object_new_int64(opt.repeat));
    json_object_object_add(cfg, "image", json_object_new_string(IMAGE));
    json_object_object_add(cfg, "package", json_object_new_string(opt.zip ? "zip" : "image"));
    json_object_object_add(doc, "k8s_config", cfg);
#define SKIPPED(why) error_json(why)
    if (opt.fig[1] || opt.fig[2]) {
        json_object *b = opt.run_baseline ? run_sequential(false) : SKIPPED("not run");
        json_object *o = opt.run_ours ? run_sequential(true) : SKIPPED("plugin not built");
        json_object_object_add(doc, "sequential", pair(b, o));
    }
    if (opt.fig[3])
        json_object_object_add(doc, "concurrency", run_repeated(run_concurrent, "wall_s"));
    if (opt.fig[4])
        json_object_object_add(doc, "reap", run_repeated(run_reap, "seconds"));
    if (opt.fig[6])
        json_object_object_add(doc, "footprint",
                               opt.run_ours ? run_footprint() : SKIPPED("plugin not built"));
    if (artifacts)
        json_object_object_add(cfg, "artifact_downloads_served",
                               json_object_new_int64(bench_artifacts_served(artifacts)));
    int rc = json_object_to_file_ext(opt.out, doc, JSON_C_TO_STRING_PRETTY) == 0 ? 0 : 1;
    if (rc != 0)
        fprintf(stderr, "bench-k8s: cannot write %s\n", opt.out);
    json_object_put(doc);
    bench_artifacts_stop(artifacts);
    free(opt.zip_data);
    curl_global_cleanup();
    return rc;
}
