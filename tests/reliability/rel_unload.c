/* rel_unload: the load/use/unload loop and its process probes. */
#include "rel_unload.h"

#include <loader.h>

#include <criterion/criterion.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef REL_UNLOAD_ITERATIONS
#define REL_UNLOAD_ITERATIONS 100
#endif
/* Allowed RSS growth between iteration 10 and the last one. */
#define REL_UNLOAD_RSS_SLACK_KIB 1024

static unsigned iterations(void)
{
    const char *s = getenv("REL_UNLOAD_ITERATIONS"); /* valgrind runs fewer */
    long n = s != NULL ? strtol(s, NULL, 10) : REL_UNLOAD_ITERATIONS;
    return n >= 11 && n <= 1000 ? (unsigned)n : REL_UNLOAD_ITERATIONS;
}

static unsigned launch_every(void)
{
    const char *s = getenv("REL_UNLOAD_LAUNCH_EVERY");
    long n = s != NULL ? strtol(s, NULL, 10) : 1;
    return n >= 1 && n <= 100 ? (unsigned)n : 1;
}

void rel_unload_use_once(const rel_target *t, unsigned i)
{
    mock_host *mh = mock_host_new();
    if (t->configure != NULL)
        t->configure(t->ctx, mh);
    const fcb_host_services *svc = mock_host_services(mh);
    char why[LOADER_WHY_MAX] = "";
    loader_plugin *p = NULL;
    cr_assert_eq(loader_load(t->plugin_path, svc, &p, why), 0, "iteration %u: load: %s", i, why);
    fcb_open_params params = {sizeof params, t->internal_token};
    fcb_backend *b = NULL;
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(p->ops->open(svc, &params, &b, &err), FCB_OK, "iteration %u: open: %s", i,
                 err.message);
    /* Every cycle loads, opens, uses and unloads; a runtime is launched on
     * the first cycle and every REL_UNLOAD_LAUNCH_EVERY-th (default: every
     * cycle; the docker run uses 10 because a container start costs ~1 s),
     * the other cycles use the backend through reap_stale. */
    if (i == 1 || i % launch_every() == 0) {
        fcb_instance inst = {.size = sizeof inst};
        cr_assert_eq(p->ops->launch(b, t->request, &inst, &err), FCB_OK, "iteration %u: launch: %s",
                     i, err.message);
        cr_assert_eq(p->ops->terminate(b, inst.handle, &err), FCB_OK, "iteration %u: terminate: %s",
                     i, err.message);
    } else {
        size_t reaped = 0;
        cr_assert_eq(p->ops->reap_stale(b, &reaped, &err), FCB_OK, "iteration %u: reap: %s", i,
                     err.message);
    }
    p->ops->close(b);
    loader_unload(p);
    cr_assert_eq(mock_host_outstanding_bytes(mh), 0, "iteration %u: %zu bytes leaked", i,
                 mock_host_outstanding_bytes(mh));
    mock_host_free(mh);
}

void rel_unload_cycle(const rel_target *t)
{
    unsigned n = iterations();
    size_t threads0 = rel_thread_count();
    size_t fds0 = rel_fd_count();
    size_t rss10 = 0;
    double start = rel_now_ms();
    for (unsigned i = 1; i <= n; i++) {
        rel_unload_use_once(t, i);
        if (i == 10)
            rss10 = rel_rss_kib();
    }
    size_t rss_end = rel_rss_kib();
    size_t threads = rel_wait_threads(threads0, 3000);
    size_t fds = rel_fd_count();
    long objects = t->count_objects != NULL ? t->count_objects(t->ctx) : 0;
    printf("unload safety: plugin %s, %u load/open/use/close/unload cycles (a launch + "
           "terminate in cycle 1 and every %u-th, reap_stale otherwise) in %.0f ms; RSS after "
           "cycle 10: %zu KiB, after cycle %u: %zu KiB (growth %ld KiB, "
           "bound %d); threads %zu -> %zu; fds %zu -> %zu; objects left %ld\n",
           t->name, n, launch_every(), rel_now_ms() - start, rss10, n, rss_end,
           (long)rss_end - (long)rss10, REL_UNLOAD_RSS_SLACK_KIB, threads0, threads, fds0, fds,
           objects);
    fflush(stdout);
    cr_assert_leq(threads, threads0, "%zu threads left behind", threads - threads0);
    cr_assert_leq(fds, fds0 + t->fd_slack, "%zu file descriptors left open", fds - fds0);
    /* Under valgrind RSS measures valgrind's shadow memory, not ours; memcheck
     * checks leaks there instead (REL_UNLOAD_SKIP_RSS=1 set by meson). Under
     * ASan freed memory sits in its quarantine, so RSS grows by design; LSan
     * checks leaks there. */
    const char *skip_rss = getenv("REL_UNLOAD_SKIP_RSS");
    bool check_rss = skip_rss == NULL || strcmp(skip_rss, "1") != 0;
#if defined(__SANITIZE_ADDRESS__)
    check_rss = false;
#endif
    if (!check_rss)
        printf("unload safety: RSS bound not checked (valgrind or ASan owns the heap)\n");
    else
        cr_assert_leq(rss_end, rss10 + REL_UNLOAD_RSS_SLACK_KIB, "RSS grew by %zu KiB",
                      rss_end - rss10);
    cr_assert_eq(objects, 0, "%ld objects left in the orchestrator", objects);
}
