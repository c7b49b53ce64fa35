/* Unit tests of plugin/docker/dock_config.c: the key table read once into a struct. */
#include "dock_config.h"
#include "mock_fixture.h"

#include <string.h>

MOCK_HOST_SUITE(dock_config);

static void read_ok(dock_config *cfg)
{
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(dock_config_read(host, cfg, &err), FCB_OK, "%s", err.message);
}

static void expect_error(const char *key, const char *value, const char *needle)
{
    mock_host_set_config(mh, key, value);
    dock_config cfg;
    fcb_error err = FCB_ERROR_INIT;
    int rc = dock_config_read(host, &cfg, &err);
    cr_assert_eq(rc, FCB_ERR_CONFIG, "%s=%s: %s (%s)", key, value, fcb_status_name(rc),
                 err.message);
    cr_assert(strstr(err.message, key) != NULL, "%s=%s: '%s' does not name the key", key, value,
              err.message);
    cr_assert(strstr(err.message, needle) != NULL, "%s=%s: '%s' lacks '%s'", key, value,
              err.message, needle);
    cr_assert_eq(mock_host_outstanding_bytes(mh), 0, "%s=%s: a failed read leaked", key, value);
    mock_host_set_config(mh, key, NULL);
}

Test(dock_config, defaults_are_the_documented_ones)
{
    dock_config cfg;
    read_ok(&cfg);
    cr_assert_str_eq(cfg.docker_host, "unix:///var/run/docker.sock");
    cr_assert_eq(cfg.address.transport, DOCK_UNIX);
    cr_assert_str_eq(cfg.address.path, "/var/run/docker.sock");
    cr_assert_not(cfg.tls);
    cr_assert_null(cfg.cert_dir);
    cr_assert_null(cfg.network);
    cr_assert_eq(cfg.ready_timeout_ms, 10000);
    cr_assert_eq(cfg.pull_timeout_ms, 600000);
    cr_assert_eq(cfg.max_code_bytes, 512ull * 1024 * 1024);
    cr_assert_null(cfg.ecr_host);
    cr_assert_null(cfg.registry_auth);
    cr_assert_null(cfg.host_alias);
    cr_assert_null(cfg.hot_reload_roots, "hot reload is off by default");
    dock_config_free(host, &cfg);
}

Test(dock_config, reads_every_key)
{
    mock_host_set_config(mh, "DOCKER_HOST", "tcp://10.1.2.3");
    mock_host_set_config(mh, "DOCKER_TLS_VERIFY", "1");
    mock_host_set_config(mh, "DOCKER_CERT_PATH", "/certs");
    mock_host_set_config(mh, "FAKECLOUD_DOCKER_NETWORK", "lambdas");
    mock_host_set_config(mh, "FAKECLOUD_DOCKER_READY_TIMEOUT_MS", "2500");
    mock_host_set_config(mh, "FAKECLOUD_DOCKER_PULL_TIMEOUT_MS", "5000");
    mock_host_set_config(mh, "FAKECLOUD_DOCKER_MAX_CODE_BYTES", "4096");
    mock_host_set_config(mh, "FAKECLOUD_DOCKER_ECR_URL", "http://localhost:5000/");
    mock_host_set_config(mh, "FAKECLOUD_DOCKER_REGISTRY_AUTH", "{\"username\":\"u?\"}");
    mock_host_set_config(mh, "FAKECLOUD_DOCKER_HOST_ALIAS", "gateway.local");
    mock_host_set_config(mh, "FAKECLOUD_DOCKER_HOT_RELOAD_ROOTS", "/srv/code:/home/me/src");
    dock_config cfg;
    read_ok(&cfg);
    cr_assert_eq(cfg.address.transport, DOCK_TCP);
    cr_assert_str_eq(cfg.address.host, "10.1.2.3");
    cr_assert_eq(cfg.address.port, 2376, "the TLS port by default with DOCKER_TLS_VERIFY");
    cr_assert(cfg.tls);
    cr_assert_str_eq(cfg.cert_dir, "/certs");
    cr_assert_not(cfg.cert_dir_from_home);
    cr_assert_str_eq(cfg.network, "lambdas");
    cr_assert_eq(cfg.ready_timeout_ms, 2500);
    cr_assert_eq(cfg.pull_timeout_ms, 5000);
    cr_assert_eq(cfg.max_code_bytes, 4096);
    cr_assert_str_eq(cfg.ecr_host, "localhost");
    cr_assert_eq(cfg.ecr_port, 5000);
    cr_assert_str_eq(cfg.registry_auth, "eyJ1c2VybmFtZSI6InU_In0=", "JSON is sent base64url");
    cr_assert_str_eq(cfg.host_alias, "gateway.local");
    cr_assert_str_eq(cfg.hot_reload_roots, "/srv/code:/home/me/src");
    dock_config_free(host, &cfg);
}

Test(dock_config, tls_switch_is_off_for_0_and_false)
{
    static const char *const off[] = {"0", "false", ""};
    for (size_t i = 0; i < sizeof off / sizeof off[0]; i++) {
        mock_host_set_config(mh, "DOCKER_TLS_VERIFY", off[i]);
        dock_config cfg;
        read_ok(&cfg);
        cr_assert_not(cfg.tls, "DOCKER_TLS_VERIFY=%s", off[i]);
        dock_config_free(host, &cfg);
    }
}

Test(dock_config, tls_certificates_default_to_home_dot_docker)
{
    mock_host_set_config(mh, "DOCKER_HOST", "tcp://127.0.0.1:2376");
    mock_host_set_config(mh, "DOCKER_TLS_VERIFY", "1");
    mock_host_set_config(mh, "HOME", "/home/me");
    dock_config cfg;
    read_ok(&cfg);
    cr_assert_str_eq(cfg.cert_dir, "/home/me/.docker");
    cr_assert(cfg.cert_dir_from_home);
    dock_config_free(host, &cfg);
    mock_host_set_config(mh, "HOME", NULL);
    expect_error("DOCKER_CERT_PATH", NULL, "HOME is unknown");
}

Test(dock_config, tls_needs_a_tcp_engine)
{
    mock_host_set_config(mh, "DOCKER_TLS_VERIFY", "1");
    expect_error("DOCKER_HOST", "unix:///run/docker.sock", "TLS needs a tcp://");
}

Test(dock_config, ecr_url_without_port_keeps_the_port_unset)
{
    mock_host_set_config(mh, "FAKECLOUD_DOCKER_ECR_URL", "registry.local");
    dock_config cfg;
    read_ok(&cfg);
    cr_assert_str_eq(cfg.ecr_host, "registry.local");
    cr_assert_eq(cfg.ecr_port, 0);
    dock_config_free(host, &cfg);
}

Test(dock_config, refuses_bad_values_naming_the_key)
{
    static const char *const bad[][3] = {
        {"FAKECLOUD_DOCKER_READY_TIMEOUT_MS", "soon", "not a number"},
        {"FAKECLOUD_DOCKER_READY_TIMEOUT_MS", "0", "out of range"},
        {"FAKECLOUD_DOCKER_READY_TIMEOUT_MS", "3600001", "out of range"},
        {"FAKECLOUD_DOCKER_PULL_TIMEOUT_MS", "999", "out of range"},
        {"FAKECLOUD_DOCKER_PULL_TIMEOUT_MS", "10s", "after the number"},
        {"FAKECLOUD_DOCKER_MAX_CODE_BYTES", "-1", "not a number"},
        {"FAKECLOUD_DOCKER_MAX_CODE_BYTES", "1023", "out of range"},
        {"FAKECLOUD_DOCKER_ECR_URL", "a b:99", "whitespace"},
        {"FAKECLOUD_DOCKER_ECR_URL", "http://host:5000/v2", "path or query"},
        {"FAKECLOUD_DOCKER_ECR_URL", "ftp://host:21", "scheme"},
        {"FAKECLOUD_DOCKER_ECR_URL", "host:99999", "valid URL"},
        {"FAKECLOUD_DOCKER_ECR_URL", "ho_st:5000", "invalid host"},
        {"FAKECLOUD_DOCKER_REGISTRY_AUTH", "{not json", "not a valid JSON object"},
        {"FAKECLOUD_DOCKER_REGISTRY_AUTH", "not base64!", "neither JSON nor base64"},
        {"FAKECLOUD_DOCKER_NETWORK", "my net", "a valid name"},
        {"FAKECLOUD_DOCKER_HOST_ALIAS", "http://x", "a valid name"},
        {"DOCKER_HOST", "ssh://me@there", "DOCKER_HOST"},
        {"FAKECLOUD_DOCKER_HOT_RELOAD_ROOTS", "/srv:code", "relative"},
        {"FAKECLOUD_DOCKER_HOT_RELOAD_ROOTS", "/srv::/code", "empty"},
        {"FAKECLOUD_DOCKER_HOT_RELOAD_ROOTS", "/srv:", "empty"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        expect_error(bad[i][0], bad[i][1], bad[i][2]);
}

Test(dock_config, never_prints_the_registry_credentials)
{
    mock_host_set_config(mh, "FAKECLOUD_DOCKER_REGISTRY_AUTH", "{\"password\":\"hunter2\"");
    dock_config cfg;
    fcb_error err = FCB_ERROR_INIT;
    cr_assert_eq(dock_config_read(host, &cfg, &err), FCB_ERR_CONFIG);
    cr_assert_null(strstr(err.message, "hunter2"), "%s", err.message);
    cr_assert(strstr(err.message, "value not shown") != NULL, "%s", err.message);
}

Test(dock_config, leaks_nothing_when_any_allocation_fails)
{
    mock_host_set_config(mh, "DOCKER_HOST", "tcp://127.0.0.1:2376");
    mock_host_set_config(mh, "DOCKER_TLS_VERIFY", "1");
    mock_host_set_config(mh, "HOME", "/home/me");
    mock_host_set_config(mh, "FAKECLOUD_DOCKER_NETWORK", "n");
    mock_host_set_config(mh, "FAKECLOUD_DOCKER_ECR_URL", "localhost:5000");
    mock_host_set_config(mh, "FAKECLOUD_DOCKER_REGISTRY_AUTH", "{\"username\":\"u\"}");
    size_t failures = 0;
    for (size_t n = 1; n < 100; n++) {
        mock_host_fail_alloc(mh, n);
        dock_config cfg;
        fcb_error err = FCB_ERROR_INIT;
        int rc = dock_config_read(host, &cfg, &err);
        bool injected = mock_host_failed_allocs(mh) > failures;
        failures = mock_host_failed_allocs(mh);
        if (rc == FCB_OK) {
            dock_config_free(host, &cfg);
            if (!injected)
                break;
        } else {
            cr_assert_eq(rc, FCB_ERR_NO_MEMORY, "n=%zu: %s", n, err.message);
        }
        cr_assert_eq(mock_host_outstanding_bytes(mh), 0, "n=%zu leaked", n);
    }
    mock_host_fail_alloc(mh, 0);
    cr_assert_gt(failures, 5);
}

Test(dock_config, every_key_has_a_doc_line_and_a_parser)
{
    for (size_t i = 0; i < dock_config_n_keys; i++) {
        cr_assert_not_null(dock_config_keys[i].name);
        cr_assert(dock_config_keys[i].doc != NULL && dock_config_keys[i].doc[0] != '\0', "%s",
                  dock_config_keys[i].name);
        cr_assert_not_null(dock_config_keys[i].parse, "%s", dock_config_keys[i].name);
        for (size_t j = 0; j < i; j++)
            cr_assert_str_neq(dock_config_keys[i].name, dock_config_keys[j].name);
    }
}
