/*
 * Hostile servers: a "Kubernetes API server" (kubeconfig pointing at it) and
 * a "dockerd" (DOCKER_HOST pointing at its unix socket) that answer with a
 * 100 MiB body, a never-ending chunked body, never-ending headers, nothing
 * at all, or bytes that are not HTTP. Each must end in a clean error within
 * a bounded time, without buffering the flood (peak plugin heap printed and
 * bounded) and without leaking a byte.
 */
#include "rel_common.h"
#include "rel_hostile.h"

#include <loader.h>

#include <criterion/criterion.h>

#include <stdbool.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef REL_HAVE_KUBE_CLIENT
#include <k8s_client.h> /* kube_client_new */
#include <kube_client.h>
#endif

static const rel_hostile_mode modes[] = {REL_HOSTILE_HUGE_BODY, REL_HOSTILE_HUGE_CHUNKED,
                                         REL_HOSTILE_ENDLESS_HEADERS, REL_HOSTILE_SILENT,
                                         REL_HOSTILE_GARBAGE};
#define N_MODES (sizeof modes / sizeof modes[0])
/* Peak plugin heap allowed while a flood comes in (the client's body limit is 64 MiB). */
#define REL_PEAK_HEAP_MAX (80u * 1024u * 1024u)

/* Collected failures: every mode runs and prints before the test fails. */
static char failures[4096];

static void soft_check(bool ok, const char *mode, const char *what)
{
    if (ok)
        return;
    size_t used = strlen(failures);
    snprintf(failures + used, sizeof failures - used, "[%s] %s; ", mode, what);
}

static bool clean_error(int rc, const fcb_error *err)
{
    return rc < 0 && rc >= FCB_ERR_INTERNAL && err->code == rc && err->message[0] != '\0';
}

#ifdef REL_HAVE_KUBE_CLIENT
#define REL_KUBE_DEADLINE_MS 4000

Test(hostile_server, kubernetes_client_fails_cleanly_and_in_time_against_every_hostile_server,
     .timeout = 120)
{
    char dir[] = "/tmp/rel-hostile-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof path, "%s/kubeconfig", dir);
    for (size_t m = 0; m < N_MODES; m++) {
        rel_hostile *srv = rel_hostile_start(modes[m], NULL);
        cr_assert_not_null(srv);
        FILE *f = fopen(path, "w");
        cr_assert_not_null(f);
        fprintf(f,
                "apiVersion: v1\nkind: Config\nclusters:\n- name: h\n  cluster:\n"
                "    server: http://127.0.0.1:%d\ncontexts:\n- name: h\n  context: {cluster: h, "
                "user: u, namespace: ns}\ncurrent-context: h\nusers:\n- name: u\n  user: {token: "
                "rel-hostile-token-5f1c}\n",
                rel_hostile_port(srv));
        fclose(f);
        mock_host *mh = mock_host_new();
        mock_host_set_config(mh, "KUBECONFIG", path);
        const fcb_host_services *svc = mock_host_services(mh);
        kube_client *c = NULL;
        fcb_error err = FCB_ERROR_INIT;
        cr_assert_eq(kube_client_new(svc, &c, &err), FCB_OK, "kube_client_new: %s", err.message);
        kube_response resp;
        memset(&resp, 0, sizeof resp);
        double t0 = rel_now_ms();
        int rc = kube_request(c, "GET", "/api/v1/namespaces/ns/pods", NULL, NULL, 0, 0,
                              REL_KUBE_DEADLINE_MS, &resp, &err);
        double took = rel_now_ms() - t0;
        kube_response_clear(c, &resp);
        kube_client_free(c);
        size_t peak = mock_host_peak_bytes(mh);
        printf("hostile API server (%s): kube_request -> %s in %.0f ms (deadline %d); server sent "
               "%zu bytes on %zu connections; peak plugin heap %zu bytes; \"%s\"\n",
               rel_hostile_mode_name(modes[m]), fcb_status_name(rc), took, REL_KUBE_DEADLINE_MS,
               rel_hostile_bytes_sent(srv), rel_hostile_connections(srv), peak, err.message);
        fflush(stdout);
        rel_hostile_stop(srv);
        const char *name = rel_hostile_mode_name(modes[m]);
        soft_check(clean_error(rc, &err), name, "not a clean error");
        soft_check(took < REL_KUBE_DEADLINE_MS + 3000.0, name, "took longer than deadline + 3 s");
        soft_check(peak <= REL_PEAK_HEAP_MAX, name, "peak heap above 80 MiB");
        cr_assert_null(strstr(err.message, "rel-hostile-token-5f1c"), "token in the error");
        cr_assert_eq(mock_host_outstanding_bytes(mh), 0, "%zu bytes leaked",
                     mock_host_outstanding_bytes(mh));
        char *log = mock_host_log_text(mh);
        cr_assert_null(strstr(log, "rel-hostile-token-5f1c"), "token in the log");
        free(log);
        mock_host_free(mh);
    }
    unlink(path);
    rmdir(dir);
    cr_assert_eq(failures[0], '\0', "%s", failures);
}
#endif

#ifdef REL_DOCKER_PLUGIN
#define REL_DOCKER_OPEN_MAX_MS 35000.0

Test(hostile_server, docker_backend_open_fails_cleanly_against_every_hostile_daemon, .timeout = 300)
{
    char dir[] = "/tmp/rel-hostile-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char sock[256], host[300];
    snprintf(sock, sizeof sock, "%s/docker.sock", dir);
    snprintf(host, sizeof host, "unix://%s", sock);
    for (size_t m = 0; m < N_MODES; m++) {
        rel_hostile *srv = rel_hostile_start(modes[m], sock);
        cr_assert_not_null(srv);
        mock_host *mh = mock_host_new();
        mock_host_set_config(mh, "DOCKER_HOST", host);
        const fcb_host_services *svc = mock_host_services(mh);
        loader_plugin *p = NULL;
        char why[LOADER_WHY_MAX] = "";
        cr_assert_eq(loader_load(REL_DOCKER_PLUGIN, svc, &p, why), 0, "%s", why);
        fcb_open_params params = {sizeof params, NULL};
        fcb_backend *b = NULL;
        fcb_error err = FCB_ERROR_INIT;
        double t0 = rel_now_ms();
        int rc = p->ops->open(svc, &params, &b, &err);
        double took = rel_now_ms() - t0;
        if (rc == FCB_OK)
            p->ops->close(b);
        loader_unload(p);
        size_t peak = mock_host_peak_bytes(mh);
        printf("hostile dockerd (%s): open -> %s in %.0f ms; server sent %zu bytes on %zu "
               "connections; peak plugin heap %zu bytes; \"%s\"\n",
               rel_hostile_mode_name(modes[m]), fcb_status_name(rc), took,
               rel_hostile_bytes_sent(srv), rel_hostile_connections(srv), peak, err.message);
        fflush(stdout);
        rel_hostile_stop(srv);
        const char *name = rel_hostile_mode_name(modes[m]);
        soft_check(clean_error(rc, &err), name, "open did not fail with a clean error");
        soft_check(took < REL_DOCKER_OPEN_MAX_MS, name, "took longer than 35 s");
        soft_check(peak <= REL_PEAK_HEAP_MAX, name, "peak heap above 80 MiB");
        cr_assert_eq(mock_host_outstanding_bytes(mh), 0, "%zu bytes leaked",
                     mock_host_outstanding_bytes(mh));
        mock_host_free(mh);
    }
    rmdir(dir);
    cr_assert_eq(failures[0], '\0', "%s", failures);
}
#endif
