/*
 * Files a kubeconfig names are read without ever blocking: a FIFO, a
 * directory or a device in place of the kubeconfig, tokenFile,
 * certificate-authority, client-certificate, client-key or the in-cluster
 * token / CA is refused at once with an error naming the field and the path.
 * Each test carries a Criterion timeout: a blocking open() fails it.
 */
#include "k8s_client.h" /* kube_client_new */
#include "kube_client.h"
#include "kube_config.h"
#include "mock_fixture.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

MOCK_HOST_SUITE(kube_config_files);

#define PEM_CERT "-----BEGIN CERTIFICATE-----\nY2VydA==\n-----END CERTIFICATE-----\n"
#define PEM_KEY  "-----BEGIN PRIVATE KEY-----\na2V5\n-----END PRIVATE KEY-----\n"

static char dir[64];

static void put(const char *name, const char *content)
{
    char p[160];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    cr_assert_not_null(f, "%s", p);
    fputs(content, f);
    fclose(f);
}

static void fifo(const char *name)
{
    char p[160];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    cr_assert_eq(mkfifo(p, 0600), 0, "mkfifo %s", p);
}

static void make_dir(void)
{
    snprintf(dir, sizeof dir, "/tmp/kube-files-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
}

static void remove_dir(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_expect_eq(system(cmd), 0);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A kubeconfig whose user has FIELD: VALUE (and whatever else it needs). */
static void kubeconfig_with(const char *cluster_extra, const char *user_body)
{
    char text[1024];
    snprintf(text, sizeof text,
             "current-context: c\n"
             "contexts:\n- name: c\n  context: {cluster: k, user: u}\n"
             "clusters:\n- name: k\n  cluster:\n    server: https://127.0.0.1:6443\n%s"
             "users:\n- name: u\n  user:\n%s",
             cluster_extra, user_body);
    put("config", text);
}

static void use_config(void)
{
    char config[160];
    snprintf(config, sizeof config, "%s/config", dir);
    mock_host_set_config(mh, "KUBECONFIG", config);
}

/* kube_client_new (kubeconfig + token read) fails fast with FCB_ERR_CONFIG naming WANT. */
static void expect_refused(const char *want_field, const char *want_path)
{
    use_config();
    kube_client *client = NULL;
    fcb_error err = FCB_ERROR_INIT;
    double start = now_s();
    int rc = kube_client_new(host, &client, &err);
    double took = now_s() - start;
    kube_client_free(client);
    cr_expect_eq(rc, FCB_ERR_CONFIG, "%s: rc %d: %s", want_field, rc, err.message);
    cr_expect_lt(took, 1.0, "%s: took %.2f s", want_field, took);
    cr_expect(strstr(err.message, want_field) != NULL, "field %s not named: %s", want_field,
              err.message);
    char path[200];
    snprintf(path, sizeof path, "%s/%s: a FIFO, not a regular file", dir, want_path);
    cr_expect(strstr(err.message, path) != NULL, "'%s' not in: %s", path, err.message);
}

Test(kube_config_files, refuses_a_fifo_as_token_file, .timeout = 10)
{
    make_dir();
    fifo("token");
    kubeconfig_with("", "    tokenFile: token\n");
    expect_refused("user 'u': tokenFile", "token");
    remove_dir();
}

Test(kube_config_files, refuses_a_fifo_as_certificate_authority, .timeout = 10)
{
    make_dir();
    fifo("ca.crt");
    kubeconfig_with("    certificate-authority: ca.crt\n", "    token: t\n");
    expect_refused("cluster 'k': certificate-authority", "ca.crt");
    remove_dir();
}

Test(kube_config_files, refuses_a_fifo_as_client_certificate, .timeout = 10)
{
    make_dir();
    fifo("client.crt");
    put("client.key", PEM_KEY);
    kubeconfig_with("", "    client-certificate: client.crt\n    client-key: client.key\n");
    expect_refused("user 'u': client-certificate", "client.crt");
    remove_dir();
}

Test(kube_config_files, refuses_a_fifo_as_client_key, .timeout = 10)
{
    make_dir();
    put("client.crt", PEM_CERT);
    fifo("client.key");
    kubeconfig_with("", "    client-certificate: client.crt\n    client-key: client.key\n");
    expect_refused("user 'u': client-key", "client.key");
    remove_dir();
}

Test(kube_config_files, refuses_a_fifo_as_the_kubeconfig_itself, .timeout = 10)
{
    make_dir();
    fifo("config");
    expect_refused("kubeconfig", "config");
    remove_dir();
}

Test(kube_config_files, refuses_a_fifo_as_a_later_kubeconfig_of_the_list, .timeout = 10)
{
    make_dir();
    kubeconfig_with("", "    token: t\n");
    fifo("second");
    char list[400];
    snprintf(list, sizeof list, "%s/config:%s/second", dir, dir);
    mock_host_set_config(mh, "KUBECONFIG", list);
    kube_config *cfg = NULL;
    fcb_error err = FCB_ERROR_INIT;
    double start = now_s();
    cr_expect_eq(kube_config_load(host, &cfg, &err), FCB_ERR_CONFIG, "%s", err.message);
    cr_expect_lt(now_s() - start, 1.0);
    cr_expect(strstr(err.message, "/second: a FIFO, not a regular file") != NULL, "%s",
              err.message);
    remove_dir();
}

Test(kube_config_files, refuses_a_directory_as_token_file, .timeout = 10)
{
    make_dir();
    char p[160];
    snprintf(p, sizeof p, "%s/tokdir", dir);
    cr_assert_eq(mkdir(p, 0700), 0);
    kubeconfig_with("", "    tokenFile: tokdir\n");
    use_config();
    kube_config *cfg = NULL;
    fcb_error err = FCB_ERROR_INIT;
    cr_expect_eq(kube_config_load(host, &cfg, &err), FCB_ERR_CONFIG);
    cr_expect(strstr(err.message, "tokenFile: cannot read ") != NULL, "%s", err.message);
    cr_expect(strstr(err.message, "/tokdir: a directory, not a regular file") != NULL, "%s",
              err.message);
    remove_dir();
}

Test(kube_config_files, refuses_a_device_as_certificate_authority, .timeout = 10)
{
    make_dir();
    kubeconfig_with("    certificate-authority: /dev/zero\n", "    token: t\n");
    use_config();
    kube_config *cfg = NULL;
    fcb_error err = FCB_ERROR_INIT;
    cr_expect_eq(kube_config_load(host, &cfg, &err), FCB_ERR_CONFIG);
    cr_expect(strstr(err.message, "certificate-authority: cannot read /dev/zero: a character "
                                  "device, not a regular file") != NULL,
              "%s", err.message);
    remove_dir();
}

static void in_cluster_refused(const char *fifo_name, const char *want)
{
    make_dir();
    put("token", "sa-token\n");
    put("ca.crt", PEM_CERT);
    put("namespace", "ns\n");
    char p[160];
    snprintf(p, sizeof p, "%s/%s", dir, fifo_name);
    unlink(p);
    fifo(fifo_name);
    mock_host_set_config(mh, "KUBERNETES_SERVICE_HOST", "10.96.0.1");
    mock_host_set_config(mh, "KUBERNETES_SERVICE_PORT", "443");
    mock_host_set_config(mh, "FAKECLOUD_K8S_SA_DIR", dir);
    kube_config *cfg = NULL;
    fcb_error err = FCB_ERROR_INIT;
    double start = now_s();
    cr_expect_eq(kube_config_load(host, &cfg, &err), FCB_ERR_CONFIG, "%s", err.message);
    cr_expect_lt(now_s() - start, 1.0);
    cr_expect(strstr(err.message, want) != NULL, "'%s' not in: %s", want, err.message);
    snprintf(p, sizeof p, "%s/%s: a FIFO, not a regular file", dir, fifo_name);
    cr_expect(strstr(err.message, p) != NULL, "'%s' not in: %s", p, err.message);
    remove_dir();
}

Test(kube_config_files, refuses_a_fifo_as_in_cluster_token, .timeout = 10)
{
    in_cluster_refused("token", "ServiceAccount token");
}

Test(kube_config_files, refuses_a_fifo_as_in_cluster_ca, .timeout = 10)
{
    in_cluster_refused("ca.crt", "ServiceAccount CA");
}

Test(kube_config_files, refuses_a_fifo_as_in_cluster_namespace, .timeout = 10)
{
    in_cluster_refused("namespace", "ServiceAccount namespace");
}

Test(kube_config_files, refuses_a_token_file_over_the_size_cap_before_reading_it, .timeout = 10)
{
    make_dir();
    char p[160];
    snprintf(p, sizeof p, "%s/token", dir);
    FILE *f = fopen(p, "w");
    cr_assert_not_null(f);
    cr_assert_eq(ftruncate(fileno(f), 64 << 20), 0); /* sparse: 64 MiB of zeros */
    fclose(f);
    kubeconfig_with("", "    tokenFile: token\n");
    use_config();
    kube_client *client = NULL;
    fcb_error err = FCB_ERROR_INIT;
    cr_expect_eq(kube_client_new(host, &client, &err), FCB_ERR_CONFIG);
    cr_expect(strstr(err.message, "tokenFile") != NULL &&
                  strstr(err.message, "is larger than") != NULL,
              "%s", err.message);
    cr_expect_lt(mock_host_peak_bytes(mh), (size_t)(2 << 20), "read %zu bytes of it",
                 mock_host_peak_bytes(mh));
    remove_dir();
}
