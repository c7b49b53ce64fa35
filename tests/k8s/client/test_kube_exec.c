/* Unit tests: ExecCredential parsing, RFC 3339 times, running plugins with bounds; client
 * construction. */
#include "k8s_client.h" /* kube_client_new */
#include "kube_client.h"
#include "kube_config.h"
#include "kube_exec.h"
#include "mock_fixture.h"

#include <criterion/criterion.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define FX FIXTURE_DIR
#define V1 "client.authentication.k8s.io/v1"

MOCK_HOST_SUITE(kube_exec);
TestSuite(kube_client_new, .init = mock_fixture_setup, .fini = mock_fixture_teardown);

static int parse(const char *text, kube_exec_result *out, fcb_error *err)
{
    return kube_exec_parse(host, V1, "exec plugin 'p'", text, strlen(text), out, err);
}

Test(kube_exec, parses_a_token_with_its_expiry)
{
    kube_exec_result r;
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(parse("{\"apiVersion\":\"" V1 "\",\"kind\":\"ExecCredential\",\"status\":{"
                       "\"token\":\"k8s-aws-v1.abc\",\"expirationTimestamp\":"
                       "\"2026-01-02T03:04:05Z\"}}",
                       &r, &err),
                 FCB_OK, "%s", err.message);
    cr_expect_str_eq(r.token, "k8s-aws-v1.abc");
    cr_expect(r.has_expiry);
    cr_expect_eq(r.expiry, (time_t)1767323045);
    kube_exec_result_clear(host, &r);
}

Test(kube_exec, parses_client_certificate_credentials)
{
    kube_exec_result r;
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(parse("{\"apiVersion\":\"" V1 "\",\"kind\":\"ExecCredential\",\"status\":{"
                       "\"clientCertificateData\":\"CERT\",\"clientKeyData\":\"KEY\"}}",
                       &r, &err),
                 FCB_OK, "%s", err.message);
    cr_expect_null(r.token);
    cr_expect_str_eq(r.cert_pem, "CERT");
    cr_expect_str_eq(r.key_pem, "KEY");
    cr_expect_not(r.has_expiry);
    kube_exec_result_clear(host, &r);
}

Test(kube_exec, refuses_malformed_credentials_naming_the_problem)
{
    kube_exec_result r;
    fcb_error err = FCB_ERROR_INIT;
    cr_expect_eq(parse("not json", &r, &err), FCB_ERR_CONFIG);
    cr_expect_str_eq(err.message, "exec plugin 'p': output is not an ExecCredential JSON object");
    cr_expect_eq(parse("{\"apiVersion\":\"client.authentication.k8s.io/v1beta1\",\"kind\":"
                       "\"ExecCredential\",\"status\":{\"token\":\"t\"}}",
                       &r, &err),
                 FCB_ERR_CONFIG);
    cr_expect(strstr(err.message,
                     "plugin returned apiVersion 'client.authentication.k8s.io/v1beta1'") != NULL,
              "%s", err.message);
    cr_expect_eq(
        parse("{\"apiVersion\":\"" V1 "\",\"kind\":\"ExecCredential\",\"status\":{}}", &r, &err),
        FCB_ERR_CONFIG);
    cr_expect(strstr(err.message, "neither token nor") != NULL, "%s", err.message);
    cr_expect_eq(parse("{\"apiVersion\":\"" V1 "\",\"kind\":\"ExecCredential\",\"status\":{"
                       "\"token\":\"t\",\"expirationTimestamp\":\"tomorrow\"}}",
                       &r, &err),
                 FCB_ERR_CONFIG);
    cr_expect(strstr(err.message, "expirationTimestamp 'tomorrow' is not an RFC 3339 time") != NULL,
              "%s", err.message);
}

Test(kube_exec, parses_rfc3339_offsets_and_fractions)
{
    time_t t = 0;
    cr_expect(kube_time_parse("2026-01-02T03:04:05Z", &t));
    cr_expect_eq(t, (time_t)1767323045);
    cr_expect(kube_time_parse("2026-01-02T04:04:05.123456+01:00", &t));
    cr_expect_eq(t, (time_t)1767323045);
    cr_expect(kube_time_parse("2026-01-01T23:04:05-04:00", &t));
    cr_expect_eq(t, (time_t)1767323045);
    cr_expect_not(kube_time_parse("2026-01-02 03:04", &t));
    cr_expect_not(kube_time_parse("2026-13-02T03:04:05Z", &t));
    cr_expect_not(kube_time_parse("2026-01-02T03:04:05", &t));
}

static kube_config *exec_config(const char *script)
{
    kube_config *cfg = calloc(1, sizeof *cfg);
    kube_exec_config *e = calloc(1, sizeof *e);
    cr_assert(cfg != NULL && e != NULL);
    static char *args[3];
    args[0] = (char *)"-c";
    args[1] = (char *)script;
    args[2] = NULL;
    e->api_version = (char *)V1;
    e->command = (char *)"sh";
    e->args = args;
    e->n_args = 2;
    static char *env[] = {(char *)"EXEC_TEST_VALUE=from-kubeconfig", NULL};
    e->env = env;
    e->n_env = 1;
    e->provide_cluster_info = true;
    cfg->exec = e;
    cfg->origin = (char *)"kubeconfig test";
    cfg->user = (char *)"u";
    cfg->server = (char *)"https://10.0.0.1:6443";
    cfg->ca_pem = (char *)"PEM";
    cfg->ca_len = 3;
    return cfg;
}

static void free_exec_config(kube_config *cfg)
{
    free(cfg->exec);
    free(cfg);
}

Test(kube_exec, runs_a_plugin_with_env_and_cluster_info)
{
    kube_config *cfg =
        exec_config("case \"$KUBERNETES_EXEC_INFO\" in *'\"server\":\"https://10.0.0.1:6443\"'*"
                    "'\"certificate-authority-data\":\"UEVN\"'*) ;; *) exit 9;; esac; "
                    "printf '{\"apiVersion\":\"" V1
                    "\",\"kind\":\"ExecCredential\",\"status\":{\"token\":\"%s\"}}' "
                    "\"$EXEC_TEST_VALUE\"");
    kube_exec_result r;
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(kube_exec_run(host, cfg, 5000, NULL, &r, &err), FCB_OK, "%s", err.message);
    cr_expect_str_eq(r.token, "from-kubeconfig");
    kube_exec_result_clear(host, &r);
    free_exec_config(cfg);
}

Test(kube_exec, kills_a_plugin_that_runs_past_the_timeout)
{
    kube_config *cfg = exec_config("sleep 10");
    kube_exec_result r;
    fcb_error err = FCB_ERROR_INIT;
    time_t t0 = time(NULL);
    cr_expect_eq(kube_exec_run(host, cfg, 300, NULL, &r, &err), FCB_ERR_CONFIG);
    cr_expect_leq(time(NULL) - t0, 2);
    cr_expect(strstr(err.message,
                     "exec plugin 'sh' (user 'u' in kubeconfig test): timed out after 300 ms") !=
                  NULL,
              "%s", err.message);
    free_exec_config(cfg);
}

typedef struct exec_run {
    kube_config *cfg;
    const atomic_bool *cancel;
    kube_exec_result r;
    fcb_error err;
    int rc;
} exec_run;

static void *exec_run_thread(void *arg)
{
    exec_run *x = arg;
    x->rc = kube_exec_run(host, x->cfg, 30000, x->cancel, &x->r, &x->err);
    return NULL;
}

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* close() must not wait for a slow plugin (an SSO login prompt, a hung network call). */
Test(kube_exec, stops_and_reaps_a_running_plugin_when_cancelled)
{
    char pidfile[] = "/tmp/fcb-exec-cancel-XXXXXX";
    int fd = mkstemp(pidfile);
    cr_assert_geq(fd, 0);
    close(fd);
    char script[256];
    snprintf(script, sizeof script, "echo $$ > %s; exec sleep 30", pidfile);
    atomic_bool cancel;
    atomic_init(&cancel, false);
    exec_run x = {.cfg = exec_config(script), .cancel = &cancel, .err = FCB_ERROR_INIT};
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, exec_run_thread, &x), 0);
    long pid = 0;
    for (int i = 0; i < 200 && pid <= 0; i++) { /* the plugin is running (bounded: 10 s) */
        FILE *f = fopen(pidfile, "r");
        if (f != NULL) {
            if (fscanf(f, "%ld", &pid) != 1)
                pid = 0;
            fclose(f);
        }
        if (pid <= 0)
            nanosleep(&(struct timespec){0, 50 * 1000 * 1000}, NULL);
    }
    cr_assert_gt(pid, 0, "the plugin never started");
    double t0 = mono_s();
    atomic_store(&cancel, true);
    pthread_join(th, NULL);
    double took = mono_s() - t0;
    unlink(pidfile);
    cr_expect_eq(x.rc, FCB_ERR_CANCELLED, "rc %s: %s", fcb_status_name(x.rc), x.err.message);
    cr_expect(strstr(x.err.message, "exec plugin 'sh' (user 'u' in kubeconfig test): stopped") !=
                  NULL,
              "%s", x.err.message);
    cr_expect_lt(took, 2.0, "returned %.2f s after the cancel (the plugin sleeps 30 s)", took);
    cr_expect_neq(kill((pid_t)pid, 0), 0, "the plugin process %ld still exists", pid);
    free_exec_config(x.cfg);
}

Test(kube_exec, bounds_the_output_of_a_plugin)
{
    kube_config *cfg = exec_config("yes aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
    kube_exec_result r;
    fcb_error err = FCB_ERROR_INIT;
    cr_expect_eq(kube_exec_run(host, cfg, 5000, NULL, &r, &err), FCB_ERR_CONFIG);
    cr_expect(strstr(err.message, "output larger than 1048576 bytes") != NULL, "%s", err.message);
    free_exec_config(cfg);
}

Test(kube_exec, says_when_the_command_is_not_installed)
{
    kube_config *cfg = exec_config("true");
    cfg->exec->command = (char *)"gke-gcloud-auth-plugin-not-installed";
    cfg->exec->install_hint = (char *)"Install gke-gcloud-auth-plugin with gcloud components.";
    kube_exec_result r;
    fcb_error err = FCB_ERROR_INIT;
    cr_expect_eq(kube_exec_run(host, cfg, 5000, NULL, &r, &err), FCB_ERR_CONFIG);
    cr_expect(strstr(err.message, "not found in PATH; install it or give a path). Install "
                                  "gke-gcloud-auth-plugin with gcloud components.") != NULL,
              "%s", err.message);
    free_exec_config(cfg);
}

Test(kube_client_new, validates_numeric_keys_naming_the_key)
{
    mock_host_set_config(mh, "KUBECONFIG", FX "/kind.yaml");
    mock_host_set_config(mh, "FAKECLOUD_K8S_MAX_ATTEMPTS", "lots");
    kube_client *kc = NULL;
    fcb_error err = FCB_ERROR_INIT;
    cr_expect_eq(kube_client_new(host, &kc, &err), FCB_ERR_CONFIG);
    cr_expect_null(kc);
    cr_expect_str_eq(err.message,
                     "FAKECLOUD_K8S_MAX_ATTEMPTS: 'lots' is not a whole number between 1 and 100");
}

Test(kube_client_new, refuses_a_connection_cap_of_zero_naming_the_key)
{
    mock_host_set_config(mh, "KUBECONFIG", FX "/kind.yaml");
    mock_host_set_config(mh, "FAKECLOUD_K8S_MAX_CONNECTIONS", "0");
    kube_client *kc = NULL;
    fcb_error err = FCB_ERROR_INIT;
    cr_expect_eq(kube_client_new(host, &kc, &err), FCB_ERR_CONFIG);
    cr_expect_null(kc);
    cr_expect_str_eq(err.message,
                     "FAKECLOUD_K8S_MAX_CONNECTIONS: '0' is not a whole number between 1 and 64");
}

Test(kube_client_new, creates_a_client_without_contacting_the_server)
{
    mock_host_set_config(mh, "KUBECONFIG", FX "/kind.yaml");
    kube_client *kc = NULL;
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(kube_client_new(host, &kc, &err), FCB_OK, "%s", err.message);
    cr_expect_str_eq(kube_client_server(kc), "https://127.0.0.1:40123");
    cr_expect_str_eq(kube_client_namespace(kc), "default");
    cr_expect(mock_host_log_contains(mh, "INFO k8s: Kubernetes client configured"));
    cr_expect_not(mock_host_log_contains(mh, "kind-key"));
    kube_client_stats st;
    kube_client_get_stats(kc, &st);
    cr_expect_eq(st.requests, 0);
    kube_client_free(kc);
}

Test(kube_client_new, fails_on_an_unreadable_token_file)
{
    char dir[] = "/tmp/kcnew-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char path[256], cfg_text[512];
    snprintf(path, sizeof path, "%s/config", dir);
    snprintf(cfg_text, sizeof cfg_text,
             "current-context: c\nclusters:\n- {name: c, cluster: {server: \"https://h:1\"}}\n"
             "contexts:\n- {name: c, context: {cluster: c, user: u}}\n"
             "users:\n- {name: u, user: {tokenFile: token}}\n");
    FILE *f = fopen(path, "w");
    fputs(cfg_text, f);
    fclose(f);
    mock_host_set_config(mh, "KUBECONFIG", path);
    kube_client *kc = NULL;
    fcb_error err = FCB_ERROR_INIT;
    int rc = kube_client_new(host, &kc, &err);
    unlink(path);
    rmdir(dir);
    cr_expect_eq(rc, FCB_ERR_CONFIG);
    cr_expect(strstr(err.message, "user 'u': tokenFile: cannot read ") != NULL, "%s", err.message);
    cr_expect(strstr(err.message, "/token: No such file or directory") != NULL, "%s", err.message);
}

Test(kube_client_new, leaks_nothing_when_any_allocation_fails)
{
    mock_host_set_config(mh, "KUBECONFIG", FX "/kind.yaml");
    bool succeeded = false;
    for (size_t n = 1; n < 300 && !succeeded; n++) {
        kube_client *kc = NULL;
        fcb_error err = FCB_ERROR_INIT;
        mock_host_fail_alloc(mh, n);
        int rc = kube_client_new(host, &kc, &err);
        mock_host_fail_alloc(mh, 0);
        if (rc == FCB_OK) {
            kube_client_free(kc);
            succeeded = true;
            break;
        }
        cr_expect_eq(rc, FCB_ERR_NO_MEMORY, "allocation %zu: %s", n, err.message);
        cr_expect_eq(mock_host_outstanding_bytes(mh), 0, "allocation %zu leaked", n);
    }
    cr_expect(succeeded);
}

/* ---- process hygiene: signal mask, dispositions, process group (issue 12 item 8) ---- */

#define CREDENTIAL_PRINTF           \
    "printf '{\"apiVersion\":\"" V1 \
    "\",\"kind\":\"ExecCredential\",\"status\":{\"token\":\"%s\"}}' "

Test(kube_exec, spawns_with_a_clean_signal_mask_default_dispositions_and_its_own_group)
{
    /* The caller blocks SIGTERM/SIGINT and ignores SIGUSR2 (as a host's worker thread may). */
    sigset_t block, saved;
    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGINT);
    cr_assert_eq(pthread_sigmask(SIG_BLOCK, &block, &saved), 0);
    struct sigaction ignore = {.sa_handler = SIG_IGN}, old_usr2;
    cr_assert_eq(sigaction(SIGUSR2, &ignore, &old_usr2), 0);
    kube_config *cfg = exec_config("blk=$(sed -n 's/^SigBlk:[[:space:]]*//p' /proc/$$/status); "
                                   "ign=$(sed -n 's/^SigIgn:[[:space:]]*//p' /proc/$$/status); "
                                   "pg=$(cut -d' ' -f5 /proc/$$/stat); "
                                   "[ \"$pg\" = $$ ] && grp=own || grp=shared; " CREDENTIAL_PRINTF
                                   "\"blk-$blk-ign-$ign-group-$grp\"");
    kube_exec_result r;
    fcb_error err = FCB_ERROR_INIT;
    int rc = kube_exec_run(host, cfg, 5000, NULL, &r, &err);
    pthread_sigmask(SIG_SETMASK, &saved, NULL);
    sigaction(SIGUSR2, &old_usr2, NULL);
    cr_assert_eq(rc, FCB_OK, "%s", err.message);
    unsigned long long blk = 0, ign = 0;
    char group[16] = "";
    cr_assert_eq(sscanf(r.token, "blk-%llx-ign-%llx-group-%15s", &blk, &ign, group), 3, "%s",
                 r.token);
    cr_expect_eq(blk, 0, "blocked signals in the plugin: %s", r.token);
    /* Standard signals 1..31 at their defaults (glibc keeps its internal 32/33 ignored). */
    cr_expect_eq(ign & 0x7fffffffull, 0, "ignored signals in the plugin: %s", r.token);
    cr_expect_str_eq(group, "own", "the plugin leads its own process group");
    kube_exec_result_clear(host, &r);
    free_exec_config(cfg);
}

/* PID written to PATH by the plugin (bounded wait: 5 s); 0 if never. */
static long read_pid(const char *path)
{
    long pid = 0;
    for (int i = 0; i < 100 && pid <= 0; i++) {
        FILE *f = fopen(path, "r");
        if (f != NULL) {
            if (fscanf(f, "%ld", &pid) != 1)
                pid = 0;
            fclose(f);
        }
        if (pid <= 0)
            nanosleep(&(struct timespec){0, 50 * 1000 * 1000}, NULL);
    }
    return pid;
}

/* Gone, or a zombie waiting for init (bounded: 2 s for the kill to land). */
static bool process_gone(long pid)
{
    for (int i = 0; i < 40; i++) {
        char path[64], stat[256] = "";
        snprintf(path, sizeof path, "/proc/%ld/stat", pid);
        FILE *f = fopen(path, "r");
        if (f == NULL)
            return true;
        size_t n = fread(stat, 1, sizeof stat - 1, f);
        stat[n] = '\0';
        fclose(f);
        const char *paren = strrchr(stat, ')');
        if (paren != NULL && paren[1] == ' ' && (paren[2] == 'Z' || paren[2] == 'X'))
            return true;
        nanosleep(&(struct timespec){0, 50 * 1000 * 1000}, NULL);
    }
    return false;
}

static char *grandchild_script(char pidfile[32], const char *then)
{
    strcpy(pidfile, "/tmp/fcb-exec-child-XXXXXX");
    int fd = mkstemp(pidfile);
    cr_assert_geq(fd, 0);
    close(fd);
    static char script[512];
    snprintf(script, sizeof script, "sleep 300 & echo $! > %s; %s", pidfile, then);
    return script;
}

Test(kube_exec, kills_what_the_plugin_started_when_it_times_out)
{
    char pidfile[32];
    kube_config *cfg = exec_config(grandchild_script(pidfile, "sleep 30"));
    kube_exec_result r;
    fcb_error err = FCB_ERROR_INIT;
    double t0 = mono_s();
    cr_expect_eq(kube_exec_run(host, cfg, 500, NULL, &r, &err), FCB_ERR_CONFIG);
    cr_expect_lt(mono_s() - t0, 3.0);
    cr_expect(strstr(err.message, "timed out after 500 ms") != NULL, "%s", err.message);
    long child = read_pid(pidfile);
    unlink(pidfile);
    cr_assert_gt(child, 0, "the plugin never started its child");
    bool gone = process_gone(child);
    if (!gone)
        kill((pid_t)child, SIGKILL);
    cr_expect(gone, "the plugin's child %ld (sleep 300) survived the timeout", child);
    free_exec_config(cfg);
}

Test(kube_exec, kills_what_the_plugin_started_when_cancelled)
{
    char pidfile[32];
    atomic_bool cancel;
    atomic_init(&cancel, false);
    exec_run x = {.cfg = exec_config(grandchild_script(pidfile, "sleep 30")),
                  .cancel = &cancel,
                  .err = FCB_ERROR_INIT};
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, exec_run_thread, &x), 0);
    long child = read_pid(pidfile);
    atomic_store(&cancel, true);
    pthread_join(th, NULL);
    unlink(pidfile);
    cr_expect_eq(x.rc, FCB_ERR_CANCELLED, "%s", x.err.message);
    cr_assert_gt(child, 0, "the plugin never started its child");
    bool gone = process_gone(child);
    if (!gone)
        kill((pid_t)child, SIGKILL);
    cr_expect(gone, "the plugin's child %ld (sleep 300) survived the cancel", child);
    free_exec_config(x.cfg);
}

/* A child left holding stdout must not turn a finished plugin into a timeout. */
Test(kube_exec, returns_when_the_plugin_exits_even_if_its_child_holds_stdout)
{
    char pidfile[32];
    kube_config *cfg =
        exec_config(grandchild_script(pidfile, CREDENTIAL_PRINTF "\"after-exit\"; exit 0"));
    kube_exec_result r;
    fcb_error err = FCB_ERROR_INIT;
    double t0 = mono_s();
    int rc = kube_exec_run(host, cfg, 5000, NULL, &r, &err);
    double took = mono_s() - t0;
    long child = read_pid(pidfile);
    unlink(pidfile);
    if (child > 0)
        kill((pid_t)child, SIGKILL);
    cr_assert_eq(rc, FCB_OK, "%s", err.message);
    cr_expect_str_eq(r.token, "after-exit");
    cr_expect_lt(took, 2.0, "took %.2f s (the child sleeps 300 s)", took);
    kube_exec_result_clear(host, &r);
    free_exec_config(cfg);
}

Test(kube_client_new, leaks_nothing_when_any_allocation_fails_with_an_exec_user)
{
    mock_host_set_config(mh, "KUBECONFIG", FX "/eks.yaml");
    bool succeeded = false;
    for (size_t n = 1; n < 400 && !succeeded; n++) {
        kube_client *kc = NULL;
        fcb_error err = FCB_ERROR_INIT;
        mock_host_fail_alloc(mh, n);
        int rc = kube_client_new(host, &kc, &err);
        mock_host_fail_alloc(mh, 0);
        if (rc == FCB_OK) {
            kube_client_free(kc);
            succeeded = true;
            break;
        }
        cr_expect_eq(rc, FCB_ERR_NO_MEMORY, "allocation %zu: %s", n, err.message);
        cr_expect_eq(mock_host_outstanding_bytes(mh), 0, "allocation %zu leaked", n);
    }
    cr_expect(succeeded);
}
