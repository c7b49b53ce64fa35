/* Unit tests: kubeconfig parsing, merging, discovery and in-cluster config. */
#include "kube_config.h"
#include "yamlx.h"
#include "mock_fixture.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

#define FX FIXTURE_DIR

MOCK_HOST_SUITE(kube_config);

static kube_config *load_ok(const char *kubeconfig)
{
    kube_config *cfg = NULL;
    fcb_error err = FCB_ERROR_INIT;
    mock_host_set_config(mh, "KUBECONFIG", kubeconfig);
    int rc = kube_config_load(host, &cfg, &err);
    cr_assert_eq(rc, FCB_OK, "load %s: %s", kubeconfig, err.message);
    return cfg;
}

static int load_fail(const char *kubeconfig, fcb_error *err)
{
    kube_config *cfg = NULL;
    mock_host_set_config(mh, "KUBECONFIG", kubeconfig);
    int rc = kube_config_load(host, &cfg, err);
    cr_assert_null(cfg);
    return rc;
}

Test(kube_config, reads_kind_style_inline_client_certificate_data)
{
    kube_config *cfg = load_ok(FX "/kind.yaml");
    cr_expect_str_eq(cfg->server, "https://127.0.0.1:40123");
    cr_expect_str_eq(cfg->context, "kind-kind");
    cr_expect_str_eq(cfg->user, "kind-kind");
    cr_expect_str_eq(cfg->namespace, "default");
    cr_assert_not_null(cfg->ca_pem);
    cr_expect(strstr(cfg->ca_pem, "kind-ca") != NULL);
    cr_assert_not_null(cfg->cert_pem);
    cr_expect(strstr(cfg->cert_pem, "kind-client") != NULL);
    cr_assert_not_null(cfg->key_pem);
    cr_expect(strstr(cfg->key_pem, "BEGIN EC PRIVATE KEY") != NULL);
    cr_expect_eq(cfg->key_len, strlen(cfg->key_pem));
    cr_expect_null(cfg->token);
    cr_expect_null(cfg->exec);
    cr_expect_not(cfg->insecure);
    kube_config_free(host, cfg);
}

Test(kube_config, reads_the_same_config_written_as_json)
{
    kube_config *cfg = load_ok(FX "/kind.json");
    cr_expect_str_eq(cfg->server, "https://127.0.0.1:40123", "trailing slash is dropped");
    cr_expect_str_eq(cfg->namespace, "from-json");
    cr_expect(strstr(cfg->key_pem, "kind-key") != NULL);
    kube_config_free(host, cfg);
}

Test(kube_config, reads_eks_style_exec_plugin_with_aws_arguments_and_env)
{
    kube_config *cfg = load_ok(FX "/eks.yaml");
    cr_expect_str_eq(cfg->server, "https://ABCDEF0123456789.gr7.eu-west-1.eks.amazonaws.com");
    cr_expect_str_eq(cfg->namespace, "lambdas");
    cr_assert_not_null(cfg->exec);
    cr_expect_str_eq(cfg->exec->api_version, "client.authentication.k8s.io/v1beta1");
    cr_expect_str_eq(cfg->exec->command, "aws", "a bare command stays a PATH lookup");
    cr_assert_eq(cfg->exec->n_args, 8);
    cr_expect_str_eq(cfg->exec->args[0], "--region");
    cr_expect_str_eq(cfg->exec->args[3], "get-token");
    cr_expect_str_eq(cfg->exec->args[5], "demo");
    cr_assert_eq(cfg->exec->n_env, 1);
    cr_expect_str_eq(cfg->exec->env[0], "AWS_PROFILE=dev");
    cr_expect_not(cfg->exec->provide_cluster_info);
    kube_config_free(host, cfg);
}

Test(kube_config, reads_gke_style_exec_plugin_with_cluster_info)
{
    kube_config *cfg = load_ok(FX "/gke.yaml");
    cr_assert_not_null(cfg->exec);
    cr_expect_str_eq(cfg->exec->api_version, "client.authentication.k8s.io/v1");
    cr_expect_str_eq(cfg->exec->command, "gke-gcloud-auth-plugin");
    cr_expect_eq(cfg->exec->n_args, 0);
    cr_expect(cfg->exec->provide_cluster_info);
    cr_assert_not_null(cfg->exec->install_hint);
    cr_expect(strncmp(cfg->exec->install_hint,
                      "Install gke-gcloud-auth-plugin for use with kubectl", 51) == 0);
    kube_config_free(host, cfg);
}

Test(kube_config, reads_inline_token_and_cluster_tls_options)
{
    kube_config *cfg = load_ok(FX "/token.yaml");
    cr_expect_str_eq(cfg->token, "inline-secret-token");
    cr_expect_null(cfg->token_file);
    cr_expect(cfg->insecure);
    cr_expect_str_eq(cfg->tls_server_name, "api.dev.internal");
    cr_expect_str_eq(cfg->proxy_url, "http://proxy.example.com:3128");
    cr_expect_str_eq(cfg->namespace, "team-a");
    kube_config_free(host, cfg);
}

Test(kube_config, resolves_token_file_relative_to_the_kubeconfig_directory)
{
    mock_host_set_config(mh, "FAKECLOUD_K8S_CONTEXT", "from-file");
    kube_config *cfg = load_ok(FX "/token.yaml");
    cr_expect_null(cfg->token);
    cr_expect_str_eq(cfg->token_file, FX "/tokens/dev-token");
    cr_expect_str_eq(cfg->context, "from-file");
    kube_config_free(host, cfg);
}

Test(kube_config, resolves_certificate_files_relative_to_the_kubeconfig_directory)
{
    kube_config *cfg = load_ok(FX "/relative.yaml");
    cr_expect(strstr(cfg->ca_pem, "relative-ca") != NULL);
    cr_expect(strstr(cfg->cert_pem, "relative-client") != NULL);
    cr_expect(strstr(cfg->key_pem, "relative-key") != NULL);
    cr_expect_str_eq(cfg->namespace, "relative-ns");
    kube_config_free(host, cfg);
}

Test(kube_config, merges_files_with_the_first_definition_winning)
{
    kube_config *cfg = load_ok(FX "/merge-a.yaml:" FX "/missing-file.yaml:" FX "/merge-b.yaml");
    cr_expect_str_eq(cfg->context, "ctx-a", "current-context of the first file that sets it");
    cr_expect_str_eq(cfg->server, "https://first.example.com", "first file wins for 'shared'");
    cr_expect_str_eq(cfg->namespace, "ns-a");
    cr_expect_str_eq(cfg->username, "admin", "user-b comes from the second file");
    cr_expect_str_eq(cfg->password, "hunter2");
    kube_config_free(host, cfg);
}

Test(kube_config, merged_duplicate_context_comes_from_the_first_file)
{
    mock_host_set_config(mh, "FAKECLOUD_K8S_CONTEXT", "ctx-dup");
    kube_config *cfg = load_ok(FX "/merge-a.yaml:" FX "/merge-b.yaml");
    cr_expect_str_eq(cfg->namespace, "from-a");
    cr_expect_str_eq(cfg->server, "https://first.example.com");
    kube_config_free(host, cfg);
}

Test(kube_config, context_override_reaches_entries_of_later_files)
{
    mock_host_set_config(mh, "FAKECLOUD_K8S_CONTEXT", "ctx-b");
    kube_config *cfg = load_ok(FX "/merge-a.yaml:" FX "/merge-b.yaml");
    cr_expect_str_eq(cfg->server, "https://only-b.example.com:8443");
    cr_expect_str_eq(cfg->namespace, "default");
    kube_config_free(host, cfg);
}

Test(kube_config, names_file_context_and_missing_cluster)
{
    fcb_error err = FCB_ERROR_INIT;
    cr_expect_eq(load_fail(FX "/missing-cluster.yaml", &err), FCB_ERR_CONFIG);
    cr_expect_str_eq(err.message,
                     "kubeconfig " FX
                     "/missing-cluster.yaml: context 'x' refers to missing cluster 'y'");
}

Test(kube_config, names_user_and_field_of_invalid_base64)
{
    fcb_error err = FCB_ERROR_INIT;
    cr_expect_eq(load_fail(FX "/bad-base64.yaml", &err), FCB_ERR_CONFIG);
    cr_expect_str_eq(err.message, "kubeconfig " FX
                                  "/bad-base64.yaml: user 'u': client-key-data: invalid base64");
}

Test(kube_config, reports_yaml_syntax_errors_with_file_and_line)
{
    fcb_error err = FCB_ERROR_INIT;
    cr_expect_eq(load_fail(FX "/invalid.yaml", &err), FCB_ERR_CONFIG);
    cr_expect(strstr(err.message, "kubeconfig " FX "/invalid.yaml: invalid YAML at line") != NULL,
              "%s", err.message);
}

Test(kube_config, refuses_a_config_without_current_context)
{
    fcb_error err = FCB_ERROR_INIT;
    cr_expect_eq(load_fail(FX "/no-current.yaml", &err), FCB_ERR_CONFIG);
    cr_expect(strstr(err.message, "current-context is not set") != NULL, "%s", err.message);
    cr_expect(strstr(err.message, FX "/no-current.yaml") != NULL, "%s", err.message);
}

Test(kube_config, refuses_an_unknown_context_override)
{
    fcb_error err = FCB_ERROR_INIT;
    mock_host_set_config(mh, "FAKECLOUD_K8S_CONTEXT", "nope");
    cr_expect_eq(load_fail(FX "/kind.yaml", &err), FCB_ERR_CONFIG);
    cr_expect(strstr(err.message, "context 'nope' (from FAKECLOUD_K8S_CONTEXT) not found") != NULL,
              "%s", err.message);
}

Test(kube_config, names_a_missing_certificate_file)
{
    char dir[] = "/tmp/kcfg-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof path, "%s/config", dir);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs("current-context: c\nclusters:\n- name: c\n  cluster:\n    server: https://h:1\n"
          "    certificate-authority: nope/ca.crt\ncontexts:\n- name: c\n  context: {cluster: c}\n",
          f);
    fclose(f);
    fcb_error err = FCB_ERROR_INIT;
    int rc = load_fail(path, &err);
    unlink(path);
    rmdir(dir);
    cr_expect_eq(rc, FCB_ERR_CONFIG);
    cr_expect(strstr(err.message, "cluster 'c': certificate-authority: cannot read ") != NULL, "%s",
              err.message);
    cr_expect(strstr(err.message, "/nope/ca.crt: No such file or directory") != NULL, "%s",
              err.message);
}

Test(kube_config, falls_back_to_home_kube_config)
{
    char dir[] = "/tmp/kcfg-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char kdir[256], path[300], cmd[600];
    snprintf(kdir, sizeof kdir, "%s/.kube", dir);
    mkdir(kdir, 0700);
    snprintf(path, sizeof path, "%s/config", kdir);
    snprintf(cmd, sizeof cmd, "cp " FX "/kind.yaml %s", path);
    cr_assert_eq(system(cmd), 0);
    mock_host_set_config(mh, "HOME", dir);
    kube_config *cfg = NULL;
    fcb_error err = FCB_ERROR_INIT;
    int rc = kube_config_load(host, &cfg, &err);
    unlink(path);
    rmdir(kdir);
    rmdir(dir);
    cr_assert_eq(rc, FCB_OK, "%s", err.message);
    cr_expect(strstr(cfg->origin, "/.kube/config") != NULL);
    kube_config_free(host, cfg);
}

Test(kube_config, explains_every_place_it_looked_when_nothing_is_configured)
{
    mock_host_set_config(mh, "HOME", "/nonexistent-home");
    kube_config *cfg = NULL;
    fcb_error err = FCB_ERROR_INIT;
    cr_expect_eq(kube_config_load(host, &cfg, &err), FCB_ERR_CONFIG);
    cr_expect_str_eq(
        err.message,
        "no Kubernetes configuration: KUBECONFIG unset, /nonexistent-home/.kube/config "
        "not found, not in a cluster (KUBERNETES_SERVICE_HOST unset)");
}

Test(kube_config, lists_missing_kubeconfig_files)
{
    fcb_error err = FCB_ERROR_INIT;
    cr_expect_eq(load_fail("/nope/a:/nope/b", &err), FCB_ERR_CONFIG);
    cr_expect(strstr(err.message, "KUBECONFIG files not found (/nope/a, /nope/b)") != NULL, "%s",
              err.message);
}

Test(kube_config, reads_in_cluster_service_account)
{
    mock_host_set_config(mh, "KUBERNETES_SERVICE_HOST", "10.96.0.1");
    mock_host_set_config(mh, "KUBERNETES_SERVICE_PORT", "443");
    mock_host_set_config(mh, "FAKECLOUD_K8S_SA_DIR", FX "/sa");
    kube_config *cfg = NULL;
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(kube_config_load(host, &cfg, &err), FCB_OK, "%s", err.message);
    cr_expect_str_eq(cfg->server, "https://10.96.0.1:443");
    cr_expect_str_eq(cfg->namespace, "fakecloud-system");
    cr_expect_str_eq(cfg->token_file, FX "/sa/token");
    cr_expect(strstr(cfg->ca_pem, "sa-ca") != NULL);
    kube_config_free(host, cfg);
}

Test(kube_config, brackets_an_ipv6_service_host)
{
    mock_host_set_config(mh, "KUBERNETES_SERVICE_HOST", "fd00::1");
    mock_host_set_config(mh, "KUBERNETES_SERVICE_PORT", "6443");
    kube_config *cfg = NULL;
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(kube_config_in_cluster(host, FX "/sa", &cfg, &err), FCB_OK, "%s", err.message);
    cr_expect_str_eq(cfg->server, "https://[fd00::1]:6443");
    kube_config_free(host, cfg);
}

Test(kube_config, in_cluster_without_token_names_the_file)
{
    mock_host_set_config(mh, "KUBERNETES_SERVICE_HOST", "10.96.0.1");
    mock_host_set_config(mh, "KUBERNETES_SERVICE_PORT", "443");
    mock_host_set_config(mh, "FAKECLOUD_K8S_SA_DIR", "/nonexistent-sa");
    kube_config *cfg = NULL;
    fcb_error err = FCB_ERROR_INIT;
    cr_expect_eq(kube_config_load(host, &cfg, &err), FCB_ERR_CONFIG);
    cr_expect(strstr(err.message, "/nonexistent-sa/token") != NULL, "%s", err.message);
}

Test(kube_config, kubeconfig_takes_precedence_over_in_cluster)
{
    mock_host_set_config(mh, "KUBERNETES_SERVICE_HOST", "10.96.0.1");
    mock_host_set_config(mh, "KUBERNETES_SERVICE_PORT", "443");
    kube_config *cfg = load_ok(FX "/kind.yaml");
    cr_expect_str_eq(cfg->server, "https://127.0.0.1:40123");
    kube_config_free(host, cfg);
}

Test(kube_config, leaks_nothing_when_any_allocation_fails)
{
    mock_host_set_config(mh, "KUBECONFIG", FX "/merge-a.yaml:" FX "/merge-b.yaml:" FX "/eks.yaml");
    for (size_t n = 1; n < 400; n++) {
        kube_config *cfg = NULL;
        fcb_error err = FCB_ERROR_INIT;
        mock_host_fail_alloc(mh, n);
        int rc = kube_config_load(host, &cfg, &err);
        mock_host_fail_alloc(mh, 0);
        if (rc == FCB_OK) {
            kube_config_free(host, cfg);
            break;
        }
        cr_expect_eq(rc, FCB_ERR_NO_MEMORY, "allocation %zu: %s", n, err.message);
        cr_expect_eq(mock_host_outstanding_bytes(mh), 0, "allocation %zu leaked", n);
    }
}

Test(yamlx, types_plain_scalars_and_keeps_quoted_ones_as_strings)
{
    json_object *root = NULL;
    fcb_error err = FCB_ERROR_INIT;
    const char *text = "a: true\nb: 'true'\nc: 42\nd: ~\ne: hello\nf: [1, x]\ng: \"07\"\n";
    cr_assert_eq(yamlx_parse(text, strlen(text), "t", &root, &err), FCB_OK, "%s", err.message);
    cr_expect_str_eq(
        json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN),
        "{\"a\":true,\"b\":\"true\",\"c\":42,\"d\":null,\"e\":\"hello\",\"f\":[1,\"x\"],"
        "\"g\":\"07\"}");
    json_object_put(root);
}

Test(yamlx, refuses_aliases_and_excessive_nesting)
{
    json_object *root = NULL;
    fcb_error err = FCB_ERROR_INIT;
    const char *alias = "a: &x {b: 1}\nc: *x\n";
    cr_expect_eq(yamlx_parse(alias, strlen(alias), "t", &root, &err), FCB_ERR_CONFIG);
    cr_expect(strstr(err.message, "aliases") != NULL, "%s", err.message);
    char deep[400];
    memset(deep, '[', 200);
    deep[200] = '\0';
    cr_expect_eq(yamlx_parse(deep, strlen(deep), "t", &root, &err), FCB_ERR_CONFIG);
    cr_expect(strstr(err.message, "nesting") != NULL, "%s", err.message);
}
