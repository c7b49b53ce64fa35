/*
 * bench-docker: figure 5 of docs/bench.md on a real dockerd (DOCKER_HOST):
 * launch-to-ready of our docker plugin against the reference's CLI sequence
 * (baseline_docker), same image, same code zip, launches interleaved so both
 * sides see the same daemon state. "Ready" means invoke-able: the time from
 * the start of launch to the first invocation that the runtime answers with
 * HTTP 200 (retried at once while it fails, for at most 15 s), because a
 * published port accepts TCP connections (docker-proxy) before the runtime
 * listens. A third side, interleaved too, measures the engine's floor: one create
 * and one start straight on the Engine API, which no backend can beat (docs/bench.md).
 * Ours runs twice per round: the same deploy every time (after the warm-up, the
 * second and later cold starts of a deploy: its code volume is filled) and a new
 * deploy_id every time (the first cold start of a deploy: the code is uploaded).
 * Writes one JSON document (--out).
 */
#include "baseline_docker.h"
#include "bench_plugin.h"
#include "bench_stats.h"
#include "invoker.h"

#include <curl/curl.h>
#include <json-c/json.h>

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct options {
    const char *plugin;
    const char *image;
    const char *runtime;
    const char *handler;
    const char *code;
    const char *docker;
    const char *out;
    unsigned launches;
    bool run_ours;
} options;

static options opt = {.image = "public.ecr.aws/lambda/python:3.12",
                      .runtime = "python3.12",
                      .handler = "app.handler",
                      .docker = "docker",
                      .launches = 10,
                      .run_ours = true};

/*
 * Seconds from t0 to the first 200 answer of ENDPOINT, or NAN after 15 s. The
 * invocation is the host's own (sample-host/invoker.c, 5 s per try): "ready"
 * means what a host would see, for both sides.
 */
static double invoke_ready_s(const char *endpoint, int64_t t0, long *attempts)
{
    double t = NAN;
    *attempts = 0;
    int64_t deadline = bench_now_ns() + 15LL * 1000000000;
    for (int i = 0; i < 100000 && bench_now_ns() < deadline; i++) {
        invoker_result res;
        char why[256];
        (*attempts)++;
        if (invoker_post(endpoint, "{}", 2, 5000, &res, why, sizeof(why)) == 0) {
            long status = res.status;
            invoker_result_free(&res);
            if (status == 200) {
                t = (double)(bench_now_ns() - t0) / 1e9;
                break;
            }
        }
        bench_sleep_ms(1);
    }
    return t;
}

static int64_t realtime_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* State.StartedAt of container ID via the CLI (outside any timed section). */
static int64_t container_started_ns(const char *id)
{
    char out[128], err[BASEDOCK_ERR_MAX];
    const char *argv[] = {opt.docker, "inspect", "-f", "{{.State.StartedAt}}", id, NULL};
    if (basedock_run(argv, out, sizeof(out), 30000, err) != 0)
        return -1;
    return bench_rfc3339_ns(out);
}

static int read_file(const char *path, char **data, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return -1;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    for (size_t r; buf && (r = fread(buf + n, 1, cap - n, f)) > 0;) {
        n += r;
        if (n == cap && cap < ((size_t)256 << 20)) {
            char *nb = realloc(buf, cap * 2);
            if (nb == NULL) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
    }
    fclose(f);
    if (buf == NULL)
        return -1;
    *data = buf;
    *size = n;
    return 0;
}

typedef struct side_result {
    basedock_steps steps_sum; /* baseline only */
    bench_series started_to_ready_ms;
    bench_series launch_s;
    bench_series ready_s;
    unsigned failures;
    long attempts;
    char first_error[1024];
} side_result;

static void fail(side_result *r, const char *msg)
{
    r->failures++;
    if (!r->first_error[0])
        snprintf(r->first_error, sizeof(r->first_error), "%s", msg);
}

static void record(side_result *r, int64_t t0, int64_t t_launched, const char *endpoint,
                   const char *container_id)
{
    long attempts = 0;
    double ready = invoke_ready_s(endpoint, t0, &attempts);
    int64_t ready_real = realtime_ns();
    r->attempts += attempts;
    if (isnan(ready)) {
        char msg[256];
        snprintf(msg, sizeof(msg), "runtime at %s never answered an invocation within 15 s",
                 endpoint);
        fail(r, msg);
        return;
    }
    bench_series_add(&r->launch_s, (double)(t_launched - t0) / 1e9);
    bench_series_add(&r->ready_s, ready);
    /*
     * From the container's own start (dockerd's State.StartedAt, same host
     * clock) to the answered invocation: what a backend adds once dockerd
     * has done its part (both sides include one invocation round trip).
     */
    int64_t started = container_started_ns(container_id);
    if (started > 0)
        bench_series_add(&r->started_to_ready_ms, (double)(ready_real - started) / 1e6);
}

static void baseline_once(side_result *r, const basedock_function *fn, bool measure)
{
    char id[80], endpoint[64], err[BASEDOCK_ERR_MAX];
    int64_t t0 = bench_now_ns();
    basedock_steps st;
    if (basedock_launch(opt.docker, fn, id, endpoint, &st, err) != 0) {
        fail(r, err);
        return;
    }
    int64_t t1 = bench_now_ns();
    if (measure) {
        record(r, t0, t1, endpoint, id);
        r->steps_sum.extract_ms += st.extract_ms;
        r->steps_sum.create_ms += st.create_ms;
        r->steps_sum.cp_ms += st.cp_ms;
        r->steps_sum.start_ms += st.start_ms;
        r->steps_sum.port_ms += st.port_ms;
        r->steps_sum.probe_ms += st.probe_ms;
    }
    basedock_terminate(opt.docker, id, err);
}

static void ours_once(side_result *r, bplug *p, const fcb_launch_request *req, bool measure)
{
    fcb_instance inst;
    memset(&inst, 0, sizeof(inst));
    inst.size = (uint32_t)sizeof(inst);
    fcb_error ferr = FCB_ERROR_INIT;
    int64_t t0 = bench_now_ns();
    int rc = p->plugin->ops->launch(p->backend, req, &inst, &ferr);
    if (rc != FCB_OK) {
        char msg[1200];
        snprintf(msg, sizeof(msg), "launch: %s: %s", fcb_status_name(rc), ferr.message);
        fail(r, msg);
        return;
    }
    int64_t t1 = bench_now_ns();
    if (measure) {
        const char *slash = strrchr(inst.handle, '/');
        record(r, t0, t1, inst.endpoint, slash ? slash + 1 : inst.handle);
    }
    fcb_error terr = FCB_ERROR_INIT;
    p->plugin->ops->terminate(p->backend, inst.handle, &terr);
}

/* ------------------------------------------------------ engine floor */

static size_t floor_sink(char *data, size_t size, size_t nmemb, void *userdata)
{
    char *buf = userdata; /* 4 KiB: the create answer ({"Id":...,"Warnings":[]}) */
    size_t have = strlen(buf), n = size * nmemb;
    if (have + n < 4096) {
        memcpy(buf + have, data, n);
        buf[have + n] = '\0';
    }
    return n;
}

/* METHOD PATH [BODY] on the engine's unix socket: HTTP status, 0 on a transport error. */
static long floor_call(const char *sock, const char *method, const char *path, const char *body,
                       char out[4096])
{
    CURL *c = curl_easy_init();
    if (c == NULL)
        return 0;
    char url[512];
    snprintf(url, sizeof(url), "http://docker%s", path);
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    out[0] = '\0';
    curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, sock);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body ? body : "");
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, floor_sink);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 60000L);
    long status = 0;
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return status;
}

/*
 * The engine's own floor, paid by any launch whatever the backend: one Engine API
 * create (same image, same published port) and one start, straight on the socket,
 * nothing else (no code copied, no readiness wait). No launch can be ready sooner,
 * so baseline / floor is the best ratio any backend could show on this engine.
 */
static void floor_once(bench_series *ms, side_result *r, const char *sock, bool measure)
{
    char out[4096], body[1024], path[256], id[80] = "";
    snprintf(body, sizeof(body),
             "{\"Image\":\"%s\",\"Cmd\":[\"%s\"],\"ExposedPorts\":{\"8080/tcp\":{}},"
             "\"Labels\":{\"fakecloud-bench\":\"engine-floor\"},\"HostConfig\":{"
             "\"PortBindings\":{\"8080/tcp\":[{\"HostIp\":\"127.0.0.1\",\"HostPort\":\"\"}]}}}",
             opt.image, opt.handler);
    int64_t t0 = bench_now_ns();
    long st = floor_call(sock, "POST", "/containers/create", body, out);
    json_object *doc = st == 201 ? json_tokener_parse(out) : NULL;
    json_object *v = NULL;
    if (doc && json_object_object_get_ex(doc, "Id", &v))
        snprintf(id, sizeof(id), "%s", json_object_get_string(v));
    json_object_put(doc);
    if (!id[0]) {
        char msg[600];
        snprintf(msg, sizeof(msg), "engine floor: create answered %ld %.400s", st, out);
        fail(r, msg);
        return;
    }
    snprintf(path, sizeof(path), "/containers/%s/start", id);
    st = floor_call(sock, "POST", path, NULL, out);
    int64_t t1 = bench_now_ns();
    if (st != 204) {
        char msg[600];
        snprintf(msg, sizeof(msg), "engine floor: start answered %ld %.400s", st, out);
        fail(r, msg);
    } else if (measure) {
        bench_series_add(ms, (double)(t1 - t0) / 1e6);
    }
    snprintf(path, sizeof(path), "/containers/%s?force=true&v=true", id);
    floor_call(sock, "DELETE", path, NULL, out);
}

/* The cold-start figure on stderr: each of ours' sides against the floor of the same run. */
static void print_cold_starts(side_result *later, side_result *first, bench_series *floor_ms)
{
    if (floor_ms->n == 0 || later->ready_s.n == 0 || first->ready_s.n == 0)
        return;
    double fl = bench_series_percentile(floor_ms, 50);
    double a = bench_series_percentile(&first->ready_s, 50) * 1e3;
    double b = bench_series_percentile(&later->ready_s, 50) * 1e3;
    fprintf(stderr,
            "bench-docker: cold start p50: engine floor %.1f ms; first of a deploy %.1f ms "
            "(floor + %.1f ms, %.2fx); second and later %.1f ms (floor + %.1f ms, %.2fx)\n",
            fl, a, a - fl, a / fl, b, b - fl, b / fl);
}

static json_object *side_json(side_result *r)
{
    json_object *o = json_object_new_object();
    json_object_object_add(o, "n", json_object_new_int64((int64_t)r->ready_s.n));
    json_object_object_add(o, "failures", json_object_new_int64(r->failures));
    if (r->ready_s.n) {
        json_object_object_add(
            o, "ready_p50_ms",
            json_object_new_double(bench_series_percentile(&r->ready_s, 50) * 1e3));
        json_object_object_add(
            o, "ready_p99_ms",
            json_object_new_double(bench_series_percentile(&r->ready_s, 99) * 1e3));
        json_object_object_add(
            o, "launch_return_p50_ms",
            json_object_new_double(bench_series_percentile(&r->launch_s, 50) * 1e3));
        if (r->started_to_ready_ms.n) {
            json_object_object_add(
                o, "started_to_ready_p50_ms",
                json_object_new_double(bench_series_percentile(&r->started_to_ready_ms, 50)));
            json_object_object_add(
                o, "started_to_ready_p99_ms",
                json_object_new_double(bench_series_percentile(&r->started_to_ready_ms, 99)));
        }
        json_object_object_add(o, "invoke_attempts_per_launch",
                               json_object_new_double((double)r->attempts / (double)r->ready_s.n));
    }
    if (r->first_error[0])
        json_object_object_add(o, "first_error", json_object_new_string(r->first_error));
    return o;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: bench-docker --code ZIP --out FILE [--plugin SO] [options]\n"
            "  --image IMG      runtime image both sides run (%s)\n"
            "  --runtime R      Runtime of the function for our plugin (%s)\n"
            "  --handler H      Handler (%s)\n"
            "  --launches N     measured launches per side (%u), after one warm-up each\n"
            "  --docker CLI     docker CLI of the baseline (docker)\n"
            "DOCKER_HOST selects the daemon for both sides.\n",
            opt.image, opt.runtime, opt.handler, opt.launches);
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"plugin", required_argument, NULL, 'P'},  {"image", required_argument, NULL, 'i'},
        {"runtime", required_argument, NULL, 'r'}, {"handler", required_argument, NULL, 'H'},
        {"code", required_argument, NULL, 'c'},    {"docker", required_argument, NULL, 'd'},
        {"out", required_argument, NULL, 'o'},     {"launches", required_argument, NULL, 'n'},
        {"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'P': opt.plugin = optarg; break;
        case 'i': opt.image = optarg; break;
        case 'r': opt.runtime = optarg; break;
        case 'H': opt.handler = optarg; break;
        case 'c': opt.code = optarg; break;
        case 'd': opt.docker = optarg; break;
        case 'o': opt.out = optarg; break;
        case 'n': opt.launches = (unsigned)strtoul(optarg, NULL, 10); break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (!opt.code || !opt.out || opt.launches == 0 || opt.launches > 10000) {
        usage(stderr);
        return 2;
    }
    char *zip = NULL;
    size_t zip_size = 0;
    if (read_file(opt.code, &zip, &zip_size) != 0) {
        fprintf(stderr, "bench-docker: --code %s: cannot read: %s\n", opt.code, strerror(errno));
        return 2;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    json_object *doc = json_object_new_object();
    side_result base = {0}, ours = {0}, first = {0};
    bplug p;
    bool plug_ok = false;
    char err[BPLUG_ERR_MAX] = "";
    if (opt.plugin == NULL || access(opt.plugin, R_OK) != 0) {
        snprintf(err, sizeof(err), "plugin not built");
    } else {
        const char *dh = getenv("DOCKER_HOST");
        const char *config[] = {"DOCKER_HOST", dh ? dh : "unix:///var/run/docker.sock", NULL};
        plug_ok = bplug_open(&p, opt.plugin, config, NULL, err) == 0;
    }
    basedock_function bfn = {"bench-docker", opt.image,        opt.handler, zip,
                             zip_size,       "fakecloud-bench"};
    fcb_function fn;
    bplug_zip_function(&fn, "bench-docker", opt.runtime, opt.handler);
    fcb_launch_request req = {.size = (uint32_t)sizeof(req),
                              .function = &fn,
                              .code = {zip, zip_size},
                              .deploy_id = "0123456789abcdef"};
    const char *dh = getenv("DOCKER_HOST");
    const char *sock = dh && strncmp(dh, "unix://", 7) == 0 ? dh + 7 : "/var/run/docker.sock";
    side_result eng = {0};
    bench_series floor_ms = {0};
    fprintf(stderr, "bench-docker: figure 5: %u launches per side (+1 warm-up)\n", opt.launches);
    for (unsigned i = 0; i <= opt.launches; i++) {
        bool measure = i > 0;
        baseline_once(&base, &bfn, measure);
        if (plug_ok) {
            ours_once(&ours, &p, &req, measure);
            char deploy[32];
            snprintf(deploy, sizeof deploy, "first-%u", i);
            fcb_launch_request fresh = req;
            fresh.deploy_id = deploy;
            ours_once(&first, &p, &fresh, measure);
        }
        floor_once(&floor_ms, &eng, sock, measure);
    }
    print_cold_starts(&ours, &first, &floor_ms);
    size_t leaked = 0;
    if (plug_ok)
        bplug_close(&p, &leaked);
    json_object *fig = json_object_new_object();
    json_object_object_add(fig, "image", json_object_new_string(opt.image));
    char version[64], verr[BASEDOCK_ERR_MAX];
    const char *vargv[] = {opt.docker, "version", "--format", "{{.Server.Version}}", NULL};
    if (basedock_run(vargv, version, sizeof(version), 30000, verr) == 0)
        json_object_object_add(fig, "dockerd_version", json_object_new_string(version));
    json_object_object_add(fig, "code_zip_bytes", json_object_new_int64((int64_t)zip_size));
    json_object *bj = side_json(&base);
    if (base.ready_s.n) {
        double n = (double)base.ready_s.n;
        json_object *st = json_object_new_object();
        json_object_object_add(st, "extract_ms",
                               json_object_new_double(base.steps_sum.extract_ms / n));
        json_object_object_add(st, "docker_create_ms",
                               json_object_new_double(base.steps_sum.create_ms / n));
        json_object_object_add(st, "docker_cp_ms",
                               json_object_new_double(base.steps_sum.cp_ms / n));
        json_object_object_add(st, "docker_start_ms",
                               json_object_new_double(base.steps_sum.start_ms / n));
        json_object_object_add(st, "docker_port_ms",
                               json_object_new_double(base.steps_sum.port_ms / n));
        json_object_object_add(st, "sleep_and_probe_ms",
                               json_object_new_double(base.steps_sum.probe_ms / n));
        json_object_object_add(bj, "mean_steps", st);
    }
    json_object_object_add(fig, "baseline", bj);
    json_object *o = plug_ok ? side_json(&ours) : json_object_new_object();
    if (!plug_ok)
        json_object_object_add(o, "error", json_object_new_string(err));
    else
        json_object_object_add(o, "leaked_bytes", json_object_new_int64((int64_t)leaked));
    json_object_object_add(fig, "ours", o);
    if (plug_ok)
        json_object_object_add(fig, "ours_first_of_deploy", side_json(&first));
    json_object *fl = json_object_new_object();
    json_object_object_add(fl, "n", json_object_new_int64((int64_t)floor_ms.n));
    json_object_object_add(fl, "failures", json_object_new_int64(eng.failures));
    if (floor_ms.n) {
        json_object_object_add(fl, "create_start_p50_ms",
                               json_object_new_double(bench_series_percentile(&floor_ms, 50)));
        json_object_object_add(fl, "create_start_p99_ms",
                               json_object_new_double(bench_series_percentile(&floor_ms, 99)));
    }
    if (eng.first_error[0])
        json_object_object_add(fl, "first_error", json_object_new_string(eng.first_error));
    json_object_object_add(fig, "engine_floor", fl);
    json_object_object_add(doc, "docker", fig);
    int rc = json_object_to_file_ext(opt.out, doc, JSON_C_TO_STRING_PRETTY) == 0 ? 0 : 1;
    if (rc != 0)
        fprintf(stderr, "bench-docker: cannot write %s\n", opt.out);
    json_object_put(doc);
    bench_series_free(&base.started_to_ready_ms);
    bench_series_free(&ours.started_to_ready_ms);
    bench_series_free(&floor_ms);
    bench_series_free(&base.launch_s);
    bench_series_free(&base.ready_s);
    bench_series_free(&ours.launch_s);
    bench_series_free(&ours.ready_s);
    bench_series_free(&first.started_to_ready_ms);
    bench_series_free(&first.launch_s);
    bench_series_free(&first.ready_s);
    free(zip);
    curl_global_cleanup();
    return rc;
}
