/*
 * The real backends under valgrind (meson suite 'valgrind', run through
 * tests/host/valgrind_check.py, which fails on any memcheck error or definite
 * leak of any process): load, open, launch one instance, terminate, close and
 * unload the k8s plugin on kubesim and the docker plugin on the private
 * dockerd (tests/docker/with-dockerd.sh), REL_VALGRIND_CYCLES times (default
 * 2: a second load after an unload must find nothing the first left behind;
 * k8s authenticates with the token file in odd cycles and with the client
 * certificate in even ones).
 * Afterwards the mock host holds no byte, no object of ours is left in the
 * orchestrator, and the process has as many threads and file descriptors as
 * before. The same binary runs without valgrind too (a quick check).
 */
#include "rel_docker.h"
#include "rel_unload.h"

#ifdef REL_HAVE_K8S_ITEST
#include <k8s_itest.h>
#endif

#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>

/* Launches under valgrind are ~20-50x slower than native. */
#define REL_VALGRIND_DEADLINE_MS 120000u

static unsigned cycles(void)
{
    const char *s = getenv("REL_VALGRIND_CYCLES");
    long n = s != NULL ? strtol(s, NULL, 10) : 2;
    return n >= 1 && n <= 20 ? (unsigned)n : 2;
}

/* Threads and descriptors of this process before the test started anything. */
typedef struct process_baseline {
    size_t threads;
    size_t fds;
} process_baseline;

static process_baseline baseline_take(void)
{
    return (process_baseline){.threads = rel_thread_count(), .fds = rel_fd_count()};
}

static void baseline_assert(const char *name, const process_baseline *b, unsigned n, double ms)
{
    size_t threads = rel_wait_threads(b->threads, 10000);
    size_t fds = rel_fd_count();
    printf("valgrind cycle: plugin %s, %u load/open/launch/terminate/close/unload cycles in "
           "%.0f ms; threads %zu -> %zu, fds %zu -> %zu\n",
           name, n, ms, b->threads, threads, b->fds, fds);
    fflush(stdout);
    cr_assert_leq(threads, b->threads, "%s: %zu threads left behind", name, threads - b->threads);
    cr_assert_leq(fds, b->fds, "%s: %zu file descriptors left open", name, fds - b->fds);
}

/* Cycle i uses targets[(i - 1) % n_targets] (e.g. alternating authentications). */
static void run_cycles(const rel_target *targets, size_t n_targets, const char *name, unsigned *n,
                       double *ms)
{
    double t0 = rel_now_ms();
    *n = cycles();
    for (unsigned i = 1; i <= *n; i++)
        rel_unload_use_once(&targets[(i - 1) % n_targets], i);
    *ms = rel_now_ms() - t0;
    long objects = targets[0].count_objects(targets[0].ctx);
    cr_assert_eq(objects, 0, "%s: %ld objects left in the orchestrator", name, objects);
}

#if defined(REL_K8S_PLUGIN) && defined(REL_HAVE_K8S_ITEST)
static itest it;

static void k8s_configure(void *ctx, mock_host *mh)
{
    itest *t = ctx;
    mock_host_set_config(mh, "KUBECONFIG", kubesim_kubeconfig_token(t->sim));
    mock_host_set_config(mh, "HOME", kubesim_dir(t->sim));
    mock_host_set_config(mh, "FAKECLOUD_K8S_SELF_URL", t->self_url);
}

/* The client-certificate kubeconfig (key and certificate handed to curl in memfds). */
static void k8s_configure_cert(void *ctx, mock_host *mh)
{
    itest *t = ctx;
    k8s_configure(ctx, mh);
    mock_host_set_config(mh, "KUBECONFIG", kubesim_kubeconfig(t->sim));
}

/* Our objects of KIND, or -1. Up to 3 attempts: this process runs under
 * valgrind, and on a loaded machine the test's own TLS handshake with
 * kubesim can overrun kubesim_ctl's 5 s connect timeout. */
static long k8s_count_kind(itest *t, const char *kind)
{
    char path[256];
    snprintf(path, sizeof path,
             "/api/v1/namespaces/default/%s?labelSelector=fakecloud-managed-by%%3Dfakecloud", kind);
    for (int attempt = 0; attempt < 3; attempt++) {
        json_object *list = NULL;
        int status = kubesim_get_json(t->sim, path, &list);
        long n = status == 200
                     ? (long)json_object_array_length(json_object_object_get(list, "items"))
                     : -1;
        json_object_put(list);
        if (n >= 0)
            return n;
        printf("GET %s: %d %s (attempt %d of 3)\n", path, status, kubesim_last_error(),
               attempt + 1);
    }
    return -1;
}

static long k8s_count(void *ctx)
{
    long pods = k8s_count_kind(ctx, "pods");
    long secrets = k8s_count_kind(ctx, "secrets");
    return pods < 0 || secrets < 0 ? -1 : pods + secrets;
}

Test(valgrind_backends, k8s_plugin_on_kubesim_loads_launches_and_unloads_cleanly, .timeout = 600)
{
    /* The baseline is taken before kubesim and the in-process artifact server
     * start, and checked after both stopped: the artifact server keeps
     * kubesim's keep-alive download connection open while it runs. */
    process_baseline base = baseline_take();
    static const char *const args[] = {"--boot-ms", "10", NULL};
    itest_start(&it, "valgrind", args);
    fcb_function fn = itest_zip_function("rel-vg-fn");
    fcb_launch_request req = itest_request(&fn, "0123456789abcdef");
    req.deadline_ms = REL_VALGRIND_DEADLINE_MS;
    rel_target t[2] = {{.name = "k8s (token)",
                        .plugin_path = REL_K8S_PLUGIN,
                        .ctx = &it,
                        .configure = k8s_configure,
                        .request = &req,
                        .internal_token = ITEST_TOKEN,
                        .count_objects = k8s_count}};
    t[1] = t[0];
    t[1].name = "k8s (client certificate)";
    t[1].configure = k8s_configure_cert;
    unsigned n = 0;
    double ms = 0;
    run_cycles(t, 2, "k8s", &n, &ms); /* odd cycles: token file; even: client certificate */
    itest_stop(&it);
    baseline_assert("k8s", &base, n, ms);
}
#endif

#ifdef REL_DOCKER_PLUGIN
Test(valgrind_backends, docker_plugin_on_dockerd_loads_launches_and_unloads_cleanly, .timeout = 600)
{
    if (rel_docker_socket() == NULL)
        cr_skip_test("DOCKER_HOST is not a unix socket: run under tests/docker/with-dockerd.sh");
    process_baseline base = baseline_take();
    fcb_function fn;
    fcb_launch_request req;
    rel_default_request(&fn, &req);
    req.deadline_ms = REL_VALGRIND_DEADLINE_MS;
    rel_target t = {.name = "docker",
                    .plugin_path = REL_DOCKER_PLUGIN,
                    .configure = rel_docker_configure,
                    .request = &req,
                    .count_objects = rel_docker_count_managed};
    unsigned n = 0;
    double ms = 0;
    run_cycles(&t, 1, "docker", &n, &ms);
    baseline_assert("docker", &base, n, ms);
}
#endif
