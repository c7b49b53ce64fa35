/*
 * dock_config: the key table and the docker-specific parsers (engine
 * address, TLS switch, ECR URL, registry auth, names). Cross-key rules
 * (TLS needs a tcp:// host and a certificate directory) run after the table.
 */
#include "dock_config.h"

#include "base64.h"
#include "dock_hotreload.h"
#include "lease.h"
#include "ziptar.h"

#include <json-c/json.h>
#include <stddef.h>
#include <string.h>

#define DOCK_DEFAULT_HOST "unix:///var/run/docker.sock"

/* DOCKER_TLS_VERIFY: any non-empty value but 0/false switches TLS on. */
static int dock_key_tls(const fcb_host_services *host, const cfg_key *key, const char *value,
                        void *cfg, fcb_error *err)
{
    (void)host, (void)key, (void)err;
    ((dock_config *)cfg)->tls = strcmp(value, "0") != 0 && strcmp(value, "false") != 0;
    return FCB_OK;
}

/* DOCKER_HOST (after DOCKER_TLS_VERIFY: the default tcp port depends on TLS). */
static int dock_key_docker_host(const fcb_host_services *host, const cfg_key *key,
                                const char *value, void *cfg, fcb_error *err)
{
    dock_config *c = cfg;
    int rc = dock_spec_parse_host(value, c->tls, &c->address, err);
    if (rc != FCB_OK)
        return rc;
    return cfg_key_string(host, key, value, cfg, err);
}

/* FAKECLOUD_DOCKER_ECR_URL: "host[:port]" or "http(s)://host[:port][/]". */
static int dock_key_ecr(const fcb_host_services *host, const cfg_key *key, const char *value,
                        void *cfg, fcb_error *err)
{
    static const char what[] = "host:port or http(s)://host:port";
    dock_config *c = cfg;
    cfg_url url;
    int rc = cfg_parse_url(key->name, value, CFG_URL_HOST_PORT, &url, err);
    if (rc != FCB_OK)
        return rc;
    if (url.has_path || url.has_query)
        return cfg_error(err, key->name, value, what, "a path or query is not allowed");
    size_t n = strlen(url.host);
    if (n > 200 || strspn(url.host, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                    "0123456789.-") != n)
        return cfg_error(err, key->name, value, what, "invalid host");
    c->ecr_host = svc_strdup(host, url.host);
    c->ecr_port = url.port_explicit ? url.port : 0;
    return c->ecr_host != NULL ? FCB_OK
                               : err_set(err, FCB_ERR_NO_MEMORY, "%s: out of memory", key->name);
}

/* FAKECLOUD_DOCKER_REGISTRY_AUTH: JSON auth config (encoded here) or its base64url form. */
static int dock_key_auth(const fcb_host_services *host, const cfg_key *key, const char *value,
                         void *cfg, fcb_error *err)
{
    static const char what[] = "a JSON auth config or its base64url form";
    dock_config *c = cfg;
    if (value[0] == '{') {
        json_object *obj = json_tokener_parse(value);
        bool ok = obj != NULL && json_object_is_type(obj, json_type_object);
        json_object_put(obj);
        if (!ok) /* a secret: the value is never printed */
            return cfg_error(err, key->name, NULL, what, "not a valid JSON object");
        c->registry_auth = base64_encode_url(host, value, strlen(value));
    } else {
        size_t n = strlen(value);
        if (strspn(value, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_=+/") !=
            n)
            return cfg_error(err, key->name, NULL, what, "neither JSON nor base64");
        c->registry_auth = svc_strdup(host, value);
    }
    return c->registry_auth != NULL
               ? FCB_OK
               : err_set(err, FCB_ERR_NO_MEMORY, "%s: out of memory", key->name);
}

/* A name the engine gets verbatim: at most MAX bytes, none of the characters of REJECT. */
static int dock_key_name(const fcb_host_services *host, const cfg_key *key, const char *value,
                         void *cfg, fcb_error *err, size_t max, const char *reject)
{
    if (strlen(value) > max || strpbrk(value, reject) != NULL)
        return cfg_error(err, key->name, value, "a valid name",
                         "at most %zu bytes, no whitespace, quotes or \"%s\"", max,
                         strchr(reject, ':') != NULL ? ":/\\" : "\\");
    return cfg_key_string(host, key, value, cfg, err);
}

static int dock_key_network(const fcb_host_services *host, const cfg_key *key, const char *value,
                            void *cfg, fcb_error *err)
{
    return dock_key_name(host, key, value, cfg, err, 200, " \t\r\n\"\\");
}

static int dock_key_alias(const fcb_host_services *host, const cfg_key *key, const char *value,
                          void *cfg, fcb_error *err)
{
    return dock_key_name(host, key, value, cfg, err, 255, " \t\r\n\":/\\");
}

/* FAKECLOUD_DOCKER_LEASE_SECONDS: the lease duration D (docs/leases.md), whole seconds. */
static int dock_key_lease(const fcb_host_services *host, const cfg_key *key, const char *value,
                          void *cfg, fcb_error *err)
{
    (void)host;
    return lease_seconds_parse(key->name, value, &((dock_config *)cfg)->lease_seconds, err);
}

/* FAKECLOUD_DOCKER_HOT_RELOAD_ROOTS: colon-separated absolute directories. */
static int dock_key_roots(const fcb_host_services *host, const cfg_key *key, const char *value,
                          void *cfg, fcb_error *err)
{
    int rc = dock_hotreload_roots_check(value, err);
    return rc == FCB_OK ? cfg_key_string(host, key, value, cfg, err) : rc;
}

#define FIELD(f) offsetof(dock_config, f)

const cfg_key dock_config_keys[] = {
    {"DOCKER_TLS_VERIFY", NULL, "non-empty and not 0/false: HTTPS to a tcp:// DOCKER_HOST",
     dock_key_tls, 0, 0, 0, NULL},
    {"DOCKER_HOST", DOCK_DEFAULT_HOST, "engine address: unix:///path or tcp://host[:port]",
     dock_key_docker_host, FIELD(docker_host), 0, 0, cfg_release_string},
    {"DOCKER_CERT_PATH", NULL, "directory with ca.pem, cert.pem, key.pem for TLS", cfg_key_string,
     FIELD(cert_path), 0, 0, cfg_release_string},
    {"HOME", NULL, "only to find $HOME/.docker for TLS", cfg_key_string, FIELD(home), 0, 0,
     cfg_release_string},
    {"FAKECLOUD_DOCKER_NETWORK", NULL, "HostConfig.NetworkMode of every container",
     dock_key_network, FIELD(network), 0, 0, cfg_release_string},
    {"FAKECLOUD_DOCKER_READY_TIMEOUT_MS", "10000",
     "readiness deadline of a launch without deadline_ms", cfg_key_ms, FIELD(ready_timeout_ms), 1,
     3600000, NULL},
    {"FAKECLOUD_DOCKER_PULL_TIMEOUT_MS", "600000", "upper bound of one image pull", cfg_key_ms,
     FIELD(pull_timeout_ms), 1000, 86400000, NULL},
    {"FAKECLOUD_DOCKER_MAX_CODE_BYTES", "536870912",
     "total uncompressed size of code and layers per launch", cfg_key_uint64, FIELD(max_code_bytes),
     1024, 16ull * 1024 * 1024 * 1024, NULL},
    {"FAKECLOUD_DOCKER_ECR_URL", NULL, "host:port of the local ECR image URIs are mapped to",
     dock_key_ecr, FIELD(ecr_host), 0, 0, cfg_release_string},
    {"FAKECLOUD_DOCKER_REGISTRY_AUTH", NULL, "X-Registry-Auth of every pull (JSON or base64url)",
     dock_key_auth, FIELD(registry_auth), 0, 0, cfg_release_string},
    {"FAKECLOUD_DOCKER_HOST_ALIAS", NULL, "host name localhost in environment values becomes",
     dock_key_alias, FIELD(host_alias), 0, 0, cfg_release_string},
    {"FAKECLOUD_DOCKER_LEASE_SECONDS", "30",
     "lease duration: other hosts reap this one's containers D after it stops renewing",
     dock_key_lease, FIELD(lease_seconds), 0, 0, NULL},
    {DOCK_HOTRELOAD_KEY, NULL,
     "colon-separated host directories a hot-reload function (code_dir) may mount; empty = off",
     dock_key_roots, FIELD(hot_reload_roots), 0, 0, cfg_release_string},
};
const size_t dock_config_n_keys = sizeof dock_config_keys / sizeof dock_config_keys[0];

_Static_assert(LEASE_SECONDS_DEFAULT == 30, "FAKECLOUD_DOCKER_LEASE_SECONDS default is lease.h's");
_Static_assert(ZIPTAR_DEFAULT_MAX_TOTAL_BYTES == 536870912ull,
               "FAKECLOUD_DOCKER_MAX_CODE_BYTES default is ziptar's default");

/* TLS: a tcp:// engine and a directory with the three files. */
static int dock_config_tls(const fcb_host_services *host, dock_config *cfg, fcb_error *err)
{
    if (!cfg->tls)
        return FCB_OK;
    if (cfg->address.transport == DOCK_UNIX)
        return err_set(err, FCB_ERR_CONFIG,
                       "DOCKER_TLS_VERIFY: TLS needs a tcp:// DOCKER_HOST, not a unix socket");
    if (cfg->cert_path != NULL) {
        cfg->cert_dir = svc_strdup(host, cfg->cert_path);
    } else {
        if (cfg->home == NULL)
            return err_set(err, FCB_ERR_CONFIG,
                           "DOCKER_CERT_PATH: not set and HOME is unknown (TLS needs ca.pem, "
                           "cert.pem, key.pem)");
        cfg->cert_dir = svc_sprintf(host, "%s/.docker", cfg->home);
        cfg->cert_dir_from_home = true;
    }
    return cfg->cert_dir != NULL ? FCB_OK
                                 : err_set(err, FCB_ERR_NO_MEMORY, "docker: out of memory");
}

int dock_config_read(const fcb_host_services *host, dock_config *cfg, fcb_error *err)
{
    memset(cfg, 0, sizeof *cfg);
    int rc = cfg_table_read(host, dock_config_keys, dock_config_n_keys, cfg, err);
    if (rc == FCB_OK)
        rc = dock_config_tls(host, cfg, err);
    if (rc != FCB_OK)
        dock_config_free(host, cfg);
    return rc;
}

void dock_config_free(const fcb_host_services *host, dock_config *cfg)
{
    cfg_table_free(host, dock_config_keys, dock_config_n_keys, cfg);
    svc_free(host, cfg->cert_dir);
    cfg->cert_dir = NULL;
}
