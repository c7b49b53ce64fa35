/*
 * The k8s backend on kubesim (through the k8s engineer's itest harness:
 * kubesim + a bearer-protected artifact server): allocation-failure sweep,
 * unload safety, secrets, reaping safety and API faults.
 */
#include "rel_inputs.h"
#include "rel_sweep.h"
#include "rel_unload.h"

#include <k8s_itest.h>
#include <loader.h>

#include <criterion/criterion.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static itest it;
static fcb_function fn;
static fcb_launch_request req;
/* An Image function whose image kubesim's kubelet fails to pull (ErrImagePull). */
static fcb_function pull_fail_fn;
static fcb_launch_request pull_fail_req;

static void k8s_configure(void *ctx, mock_host *mh)
{
    itest *t = ctx;
    mock_host_set_config(mh, "KUBECONFIG", kubesim_kubeconfig_token(t->sim));
    mock_host_set_config(mh, "HOME", kubesim_dir(t->sim));
    mock_host_set_config(mh, "FAKECLOUD_K8S_SELF_URL", t->self_url);
}

static long k8s_count(void *ctx)
{
    itest *t = ctx;
    return itest_count(t, "pods", "default", "fakecloud-managed-by=fakecloud") +
           itest_count(t, "secrets", "default", "fakecloud-managed-by=fakecloud") +
           itest_count(t, "leases", "default", "fakecloud-managed-by=fakecloud");
}

/*
 * A Pod of a dead instance (no Lease) created an hour ago: older than one
 * lease duration, so reap_stale removes it (docs/leases.md).
 */
static void k8s_plant_stale(void *ctx)
{
    itest *t = ctx;
    static unsigned n;
    char body[512];
    snprintf(body, sizeof body,
             "{\"namespace\":\"default\",\"count\":1,\"name_prefix\":\"rel-stale-%u\","
             "\"age_seconds\":3600,\"labels\":{\"fakecloud-managed-by\":\"fakecloud\","
             "\"fakecloud-instance\":\"00000000dead0000\",\"fakecloud-service\":\"lambda\"}}",
             ++n);
    cr_assert_eq(kubesim_post_json(t->sim, "/_sim/bulk", body, NULL), 200, "bulk: %s",
                 kubesim_last_error());
}

static rel_target k8s_target(void)
{
    /* Every ABI 1.1 launch input, so the sweep covers their paths: role credentials
     * (the launch's Secret), an endpoint URL, tags of each kind (one malformed). */
    static const fcb_credentials creds = {sizeof creds, "ASIARELSWEEPKEY",
                                          "rel/secret+=", "rel-session", 0};
    static const fcb_tag tags[] = {{"fakecloud-k8s/node-selector", "pool=lambda,malformed"},
                                   {"fakecloud-k8s/tolerations", "[{\"key\":\"gpu\"}]"},
                                   {"fakecloud-k8s/annotations", "team=rel"}};
    fn = itest_zip_function("rel-fn");
    fn.tags = tags;
    fn.n_tags = 3;
    req = itest_request(&fn, "0123456789abcdef");
    req.deadline_ms = 15000;
    req.credentials = &creds;
    req.aws_endpoint_url = "http://localhost:4566";
    pull_fail_fn = (fcb_function){.size = sizeof pull_fail_fn,
                                  .function_name = "rel-pull-fail",
                                  .package_type = FCB_PACKAGE_IMAGE,
                                  .image_uri = "registry.local/errimagepull:1",
                                  .timeout_seconds = 10,
                                  .memory_mb = 256};
    pull_fail_req = itest_request(&pull_fail_fn, "0123456789abcdef");
    pull_fail_req.deadline_ms = 15000;
    return (rel_target){.name = "k8s",
                        .plugin_path = REL_K8S_PLUGIN,
                        .ctx = &it,
                        .configure = k8s_configure,
                        .request = &req,
                        .internal_token = ITEST_TOKEN,
                        .count_objects = k8s_count,
                        .plant_stale = k8s_plant_stale,
                        .prepull_image = "public.ecr.aws/lambda/python:3.12",
                        .failing_request = &pull_fail_req,
                        .failing_prepull_image = "registry.local/errimagepull:1",
                        .launch_threads = 1 /* the lease renewal thread */};
}

static void start(void)
{
    static const char *const args[] = {"--boot-ms", "10", NULL};
    itest_start(&it, "reliability", args);
}

static void stop(void)
{
    itest_stop(&it);
}

TestSuite(k8s_reliability, .init = start, .fini = stop, .timeout = 600);

Test(k8s_reliability, every_failed_allocation_of_every_operation_ends_cleanly)
{
    rel_target t = k8s_target();
    size_t total = 0;
    for (int op = 0; op < REL_OP_COUNT; op++) {
        rel_sweep_result r;
        rel_sweep(&t, (rel_op)op, 2000, &r);
        total += r.points;
    }
    printf("alloc-failure sweep: plugin k8s, %zu failure points in total, nothing lost\n", total);
}

/* The other authentications of the k8s client: the sweep of every operation
 * that talks to the API server (open, launch, terminate, close). */
static void sweep_auth(rel_target *t, const char *auth)
{
    static const rel_op ops[] = {REL_OP_OPEN, REL_OP_LAUNCH, REL_OP_TERMINATE, REL_OP_CLOSE};
    size_t total = 0;
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        rel_sweep_result r;
        rel_sweep(t, ops[i], 2000, &r);
        total += r.points;
    }
    printf("alloc-failure sweep: plugin %s, %zu failure points in total, nothing lost\n", t->name,
           total);
    cr_assert_eq(k8s_count(&it), 0, "%s: objects left", auth);
}

/* kubesim's client-certificate kubeconfig (client-certificate-data and
 * client-key-data, handed to curl through memfds). */
static void k8s_configure_cert(void *ctx, mock_host *mh)
{
    itest *t = ctx;
    k8s_configure(ctx, mh);
    mock_host_set_config(mh, "KUBECONFIG", kubesim_kubeconfig(t->sim));
}

/* FAKECLOUD_K8S_ENDPOINT=api-proxy: readiness and invoke through pods/proxy. */
static void k8s_configure_api_proxy(void *ctx, mock_host *mh)
{
    k8s_configure(ctx, mh);
    mock_host_set_config(mh, "FAKECLOUD_K8S_ENDPOINT", "api-proxy");
}

Test(k8s_reliability, api_proxy_mode_launch_and_invoke_end_cleanly_at_every_failed_allocation)
{
    rel_target t = k8s_target();
    t.name = "k8s (api-proxy)";
    t.configure = k8s_configure_api_proxy;
    static const rel_op ops[] = {REL_OP_LAUNCH, REL_OP_INVOKE};
    size_t total = 0;
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        rel_sweep_result r;
        rel_sweep(&t, ops[i], 2000, &r);
        cr_assert(!r.skipped && r.points > 0, "%s: %s not swept", t.name, rel_op_name(ops[i]));
        total += r.points;
    }
    printf("alloc-failure sweep: plugin %s, %zu failure points in total, nothing lost\n", t.name,
           total);
    cr_assert_eq(k8s_count(&it), 0, "api-proxy: objects left");
}

Test(k8s_reliability, client_certificate_auth_ends_cleanly_at_every_failed_allocation)
{
    rel_target t = k8s_target();
    t.name = "k8s (client certificate)";
    t.configure = k8s_configure_cert;
    sweep_auth(&t, "client certificate");
}

/* An exec credential plugin (tests/k8s/client/exec-credential.sh) that
 * prints kubesim's token; its runs are counted in exec-count. */
static char exec_kubeconfig[512];
static char exec_count[512];

static void k8s_configure_exec(void *ctx, mock_host *mh)
{
    k8s_configure(ctx, mh);
    mock_host_set_config(mh, "KUBECONFIG", exec_kubeconfig);
}

static void write_exec_kubeconfig(void)
{
    snprintf(exec_kubeconfig, sizeof exec_kubeconfig, "%s/exec-kubeconfig", kubesim_dir(it.sim));
    snprintf(exec_count, sizeof exec_count, "%s/exec-count", kubesim_dir(it.sim));
    FILE *f = fopen(exec_kubeconfig, "w");
    cr_assert_not_null(f, "%s", exec_kubeconfig);
    fprintf(f,
            "current-context: k\nclusters:\n- name: k\n  cluster:\n    server: %s\n"
            "    certificate-authority: %s\ncontexts:\n- name: k\n"
            "  context: {cluster: k, user: u, namespace: default}\nusers:\n- name: u\n  user:\n"
            "    exec:\n      apiVersion: client.authentication.k8s.io/v1\n"
            "      command: %s\n      provideClusterInfo: true\n      env:\n"
            "      - {name: KUBESIM_TOKEN_FILE, value: %s}\n"
            "      - {name: EXEC_COUNT_FILE, value: %s}\n"
            "      - {name: EXEC_API_VERSION, value: client.authentication.k8s.io/v1}\n",
            kubesim_url(it.sim), kubesim_ca_file(it.sim), REL_EXEC_CREDENTIAL_SH,
            kubesim_token_file(it.sim), exec_count);
    fclose(f);
}

static size_t exec_runs(void)
{
    size_t n = 0;
    FILE *f = fopen(exec_count, "r");
    for (int c; f != NULL && (c = fgetc(f)) != EOF;)
        n += c == '\n';
    if (f != NULL)
        fclose(f);
    return n;
}

Test(k8s_reliability, exec_plugin_auth_ends_cleanly_at_every_failed_allocation)
{
    write_exec_kubeconfig();
    rel_target t = k8s_target();
    t.name = "k8s (exec plugin)";
    t.configure = k8s_configure_exec;
    sweep_auth(&t, "exec plugin");
    printf("exec credential plugin runs during the sweep: %zu\n", exec_runs());
    cr_assert_gt(exec_runs(), 0, "the exec plugin never ran: the sweep did not use it");
}

Test(k8s_reliability, hostile_function_inputs_launch_or_fail_cleanly_leaving_nothing)
{
    rel_target t = k8s_target();
    rel_inputs_run(&t);
    cr_assert_eq(k8s_count(&it), 0);
}

/* Files under DIR (depth <= 3, < 4 MiB, modified since T0) containing NEEDLE. */
static size_t scan_files(const char *dir, time_t t0, const char *needle, const char *skip,
                         int depth, size_t *scanned)
{
    size_t hits = 0;
    DIR *d = opendir(dir);
    if (d == NULL || depth > 3)
        goto out;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.' && (e->d_name[1] == '\0' || e->d_name[1] == '.'))
            continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (skip != NULL && strncmp(path, skip, strlen(skip)) == 0)
            continue;
        struct stat st;
        if (lstat(path, &st) != 0)
            continue;
        if (S_ISDIR(st.st_mode)) {
            hits += scan_files(path, t0, needle, skip, depth + 1, scanned);
        } else if (S_ISREG(st.st_mode) && st.st_mtime >= t0 && st.st_size < 4 << 20) {
            FILE *f = fopen(path, "rb");
            if (f == NULL)
                continue;
            char *buf = malloc((size_t)st.st_size + 1);
            size_t n = buf != NULL ? fread(buf, 1, (size_t)st.st_size, f) : 0;
            fclose(f);
            (*scanned)++;
            if (buf != NULL) {
                buf[n] = '\0';
                if (memmem(buf, n, needle, strlen(needle)) != NULL) {
                    printf("secret found in %s\n", path);
                    hits++;
                }
            }
            free(buf);
        }
    }
out:
    if (d != NULL)
        closedir(d);
    return hits;
}

Test(k8s_reliability, tokens_never_reach_the_pod_the_log_or_new_files)
{
    time_t t0 = time(NULL) - 1;
    rel_target t = k8s_target();
    char kube_token[256] = "";
    cr_assert_eq(kubesim_read_token(it.sim, kube_token, sizeof kube_token), 0);
    mock_host *mh = mock_host_new();
    mock_host_set_log_level(mh, FCB_LOG_TRACE);
    k8s_configure(&it, mh);
    const fcb_host_services *svc = mock_host_services(mh);
    rel_session session;
    rel_session_open(&session, svc, REL_K8S_PLUGIN, ITEST_TOKEN);
    loader_plugin *p = session.plugin;
    fcb_backend *b = session.backend;
    fcb_error err = FCB_ERROR_INIT;
    fcb_instance inst = {.size = sizeof inst};
    cr_assert_eq(p->ops->launch(b, t.request, &inst, &err), FCB_OK, "%s", err.message);
    /* the Pod as the API server stores it */
    const char *name = strrchr(inst.handle, '/');
    cr_assert_not_null(name);
    char path[512];
    snprintf(path, sizeof path, "/api/v1/namespaces/default/pods/%s", name + 1);
    json_object *pod = NULL;
    cr_assert_eq(kubesim_get_json(it.sim, path, &pod), 200);
    const char *pod_text = json_object_to_json_string(pod);
    bool pod_internal = strstr(pod_text, ITEST_TOKEN) != NULL;
    bool pod_kube = strstr(pod_text, kube_token) != NULL;
    json_object_put(pod);
    /* an error path too: a failing launch writes error messages to the log */
    fcb_function bad = fn;
    bad.runtime = "cobol1";
    fcb_launch_request bad_req = req;
    bad_req.function = &bad;
    fcb_instance bad_inst = {.size = sizeof bad_inst};
    fcb_error berr = FCB_ERROR_INIT;
    (void)p->ops->launch(b, &bad_req, &bad_inst, &berr);
    cr_assert_eq(p->ops->terminate(b, inst.handle, &err), FCB_OK, "%s", err.message);
    rel_session_close(&session);
    char *log = mock_host_log_text(mh);
    size_t lines = mock_host_log_lines(mh);
    bool log_internal = strstr(log, ITEST_TOKEN) != NULL;
    bool log_kube = strstr(log, kube_token) != NULL;
    free(log);
    size_t scanned = 0;
    size_t file_hits = scan_files("/tmp", t0, ITEST_TOKEN, kubesim_dir(it.sim), 0, &scanned);
    file_hits += scan_files("/tmp", t0, kube_token, kubesim_dir(it.sim), 0, &scanned);
    printf("secrets: internal token in Pod object: %s, kubeconfig token in Pod: %s; in %zu TRACE "
           "log lines: %s/%s; in %zu new files under /tmp (kubesim's own dir excluded): %zu\n",
           pod_internal ? "FOUND" : "no", pod_kube ? "FOUND" : "no", lines,
           log_internal ? "FOUND" : "no", log_kube ? "FOUND" : "no", scanned, file_hits);
    cr_assert(!pod_internal && !pod_kube, "a token is in the Pod object");
    cr_assert(!log_internal && !log_kube, "a token is in the log");
    cr_assert_eq(file_hits, 0, "a token is in a file left on disk");
    cr_assert_eq(mock_host_outstanding_bytes(mh), 0);
    mock_host_free(mh);
}

Test(k8s_reliability, insecure_tls_is_only_possible_from_the_kubeconfig_and_is_logged)
{
    /* kubeconfig copy with insecure-skip-tls-verify: true and no CA */
    char src[4096];
    FILE *f = fopen(kubesim_kubeconfig_token(it.sim), "r");
    cr_assert_not_null(f);
    size_t n = fread(src, 1, sizeof src - 1, f);
    fclose(f);
    src[n] = '\0';
    char path[512];
    snprintf(path, sizeof path, "%s/insecure-kubeconfig", kubesim_dir(it.sim));
    f = fopen(path, "w");
    cr_assert_not_null(f);
    for (char *line = strtok(src, "\n"); line != NULL; line = strtok(NULL, "\n")) {
        if (strstr(line, "certificate-authority") != NULL)
            continue;
        fprintf(f, "%s\n", line);
        if (strstr(line, "server:") != NULL)
            fprintf(f, "%.*sinsecure-skip-tls-verify: true\n", (int)strspn(line, " "), line);
    }
    fclose(f);
    mock_host *mh = mock_host_new();
    k8s_configure(&it, mh);
    mock_host_set_config(mh, "KUBECONFIG", path);
    /* environment-style switches other clients honour must not disable TLS checks */
    mock_host_set_config(mh, "CURL_CA_BUNDLE", "");
    mock_host_set_config(mh, "GIT_SSL_NO_VERIFY", "1");
    const fcb_host_services *svc = mock_host_services(mh);
    loader_plugin *p = NULL;
    char why[LOADER_WHY_MAX] = "";
    cr_assert_eq(loader_load(REL_K8S_PLUGIN, svc, &p, why), 0, "%s", why);
    fcb_open_params params = {sizeof params, ITEST_TOKEN};
    fcb_backend *b = NULL;
    fcb_error err = FCB_ERROR_INIT;
    int rc = p->ops->open(svc, &params, &b, &err);
    if (rc == FCB_OK)
        p->ops->close(b);
    loader_unload(p);
    char *log = mock_host_log_text(mh);
    bool warned = strstr(log, "WARN") != NULL && strstr(log, "insecure") != NULL;
    printf("insecure-skip-tls-verify: open -> %s, warning logged: %s\n", fcb_status_name(rc),
           warned ? "yes" : "NO");
    free(log);
    cr_assert(warned, "insecure-skip-tls-verify was not logged as a warning");
    /* and without it, a wrong CA is refused (TLS verification is on by default) */
    mock_host_free(mh);
    mh = mock_host_new();
    k8s_configure(&it, mh);
    snprintf(path, sizeof path, "%s/noca-kubeconfig", kubesim_dir(it.sim));
    f = fopen(kubesim_kubeconfig_token(it.sim), "r");
    n = fread(src, 1, sizeof src - 1, f);
    fclose(f);
    src[n] = '\0';
    f = fopen(path, "w");
    for (char *line = strtok(src, "\n"); line != NULL; line = strtok(NULL, "\n"))
        if (strstr(line, "certificate-authority") == NULL)
            fprintf(f, "%s\n", line);
    fclose(f);
    mock_host_set_config(mh, "KUBECONFIG", path);
    svc = mock_host_services(mh);
    cr_assert_eq(loader_load(REL_K8S_PLUGIN, svc, &p, why), 0, "%s", why);
    b = NULL;
    fcb_error err2 = FCB_ERROR_INIT;
    rc = p->ops->open(svc, &params, &b, &err2);
    if (rc == FCB_OK)
        p->ops->close(b);
    loader_unload(p);
    printf("kubesim's self-signed CA not configured: open -> %s (%s)\n", fcb_status_name(rc),
           err2.message);
    cr_assert_neq(rc, FCB_OK, "an unverifiable server certificate was accepted");
    mock_host_free(mh);
}

Test(k8s_reliability, reap_never_touches_pods_without_our_label_or_in_other_namespaces)
{
    itest_create_pod(&it, "default", "fakecloud-lambda-lookalike", "{}");
    itest_create_pod(&it, "default", "fakecloud-lambda-other-manager",
                     "{\"fakecloud-managed-by\":\"someone-else\",\"fakecloud-instance\":\"x\"}");
    itest_create_pod(&it, "default", "rel-instance-label-only", "{\"fakecloud-instance\":\"x\"}");
    itest_create_pod(&it, "other-ns", "fakecloud-lambda-other-ns",
                     "{\"fakecloud-managed-by\":\"fakecloud\",\"fakecloud-instance\":\"dead\"}");
    itest_create_secret(&it, "default", "fakecloud-lambda-token-lookalike", "{}");
    k8s_plant_stale(&it);
    mock_host *mh = mock_host_new();
    k8s_configure(&it, mh);
    size_t reaped = rel_reap_once(mock_host_services(mh), REL_K8S_PLUGIN, ITEST_TOKEN);
    int all_default = itest_count(&it, "pods", "default", NULL);
    int other_ns = itest_count(&it, "pods", "other-ns", NULL);
    int lookalike_secret = itest_count(&it, "secrets", "default", NULL);
    int stale = itest_count(&it, "pods", "default", "fakecloud-instance=00000000dead0000");
    printf("reaping safety (k8s): reaped %zu; foreign pods kept in default: %d of 3, in other-ns: "
           "%d of 1; unlabelled secrets kept: %d of 1; stale pods of a dead instance left: %d\n",
           reaped, all_default, other_ns, lookalike_secret, stale);
    cr_assert_eq(all_default, 3, "a pod without our managed-by label was deleted");
    cr_assert_eq(other_ns, 1, "a pod in another namespace was deleted");
    cr_assert_geq(lookalike_secret, 1, "a secret without our label was deleted");
    cr_assert_eq(stale, 0, "the stale pod of a dead instance was not reaped");
    cr_assert_eq(mock_host_outstanding_bytes(mh), 0);
    mock_host_free(mh);
}

Test(k8s_reliability, launches_under_api_faults_succeed_or_fail_cleanly_within_the_deadline)
{
    static const char *const faults[][2] = {
        {"10 % HTTP 500", "{\"error_rate\":0.1}"},
        {"30 % HTTP 500", "{\"error_rate\":0.3}"},
        {"30 % HTTP 429 + Retry-After", "{\"throttle_rate\":0.3,\"throttle_retry_after\":1}"},
        {"200 ms latency", "{\"latency_ms\":200}"},
        {"watch cut every 3 events", "{\"watch_cut_after\":3}"},
        {"409 on create", "{\"conflict_on_create\":1}"},
    };
    rel_target t = k8s_target();
    req.deadline_ms = 10000;
    mock_host *mh = mock_host_new();
    k8s_configure(&it, mh);
    const fcb_host_services *svc = mock_host_services(mh);
    rel_session session;
    rel_session_open(&session, svc, REL_K8S_PLUGIN, ITEST_TOKEN);
    loader_plugin *p = session.plugin;
    fcb_backend *b = session.backend;
    for (size_t f = 0; f < sizeof faults / sizeof faults[0]; f++) {
        int frc = kubesim_set_faults(it.sim, faults[f][1]);
        cr_assert(frc == 0 || frc == 200, "faults %s: %d %s", faults[f][1], frc,
                  kubesim_last_error());
        unsigned ok = 0, failed = 0;
        double worst = 0;
        for (int i = 0; i < 8; i++) {
            fcb_instance inst = {.size = sizeof inst};
            fcb_error lerr = FCB_ERROR_INIT;
            double t0 = rel_now_ms();
            int rc = p->ops->launch(b, t.request, &inst, &lerr);
            double took = rel_now_ms() - t0;
            worst = took > worst ? took : worst;
            cr_assert_lt(took, req.deadline_ms + 2000.0, "%s: launch took %.0f ms", faults[f][0],
                         took);
            if (rc == FCB_OK) {
                ok++;
                fcb_error terr = FCB_ERROR_INIT;
                int trc = p->ops->terminate(b, inst.handle, &terr);
                if (trc != FCB_OK) /* faults may hit the delete too: retry once */
                    trc = p->ops->terminate(b, inst.handle, &terr);
                (void)trc;
            } else {
                failed++;
                rel_assert_clean_error(rc, &lerr, faults[f][0]);
            }
        }
        frc = kubesim_set_faults(it.sim, "{\"error_rate\":0,\"throttle_rate\":0,\"latency_ms\":0,"
                                         "\"watch_cut_after\":0,\"conflict_on_create\":0}");
        cr_assert(frc == 0 || frc == 200, "clearing faults: %d", frc);
        long left = -1;
        for (int i = 0; i < 100 && left != 1; i++) { /* the backend's own Secret stays */
            left = itest_count(&it, "pods", "default", "fakecloud-managed-by=fakecloud");
            left += 1;
            if (left != 1)
                usleep(50000);
        }
        printf("API faults (%s): 8 launches, %u succeeded, %u failed cleanly, slowest %.0f ms "
               "(deadline %u); pods left after terminate: %ld\n",
               faults[f][0], ok, failed, worst, req.deadline_ms, left - 1);
        fflush(stdout);
        cr_assert_eq(left - 1, 0, "%s: pods left behind", faults[f][0]);
    }
    rel_session_close(&session);
    size_t reaped = 0;
    cr_assert_eq(mock_host_outstanding_bytes(mh), 0);
    mock_host_free(mh);
    (void)reaped;
    cr_assert_eq(k8s_count(&it), 0, "objects left after close");
}

Test(k8s_reliability, plugin_reloads_100_times_without_leaking_threads_memory_or_pods)
{
    rel_target t = k8s_target();
    t.fd_slack = 2; /* the itest artifact server (libmicrohttpd, in this process) keeps
                       kubesim's keep-alive download connection open */
    rel_unload_cycle(&t);
}
