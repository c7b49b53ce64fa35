/*
 * dock_config: the docker backend's configuration, read once by open().
 *
 * One key table (dock_config_keys: name, default, doc line, parser) is the
 * whole list of keys the backend reads; dock_config_read() fills a
 * dock_config from the host's config getter with it, validating every value
 * (FCB_ERR_CONFIG naming the key, cfgparse's message shape). Nothing else
 * in plugin/docker reads configuration. docs/docker.md's key table is
 * checked against this table by the docker-unit-config-docs test. Pure (no
 * I/O besides the config getter); thread-safe.
 */
#ifndef FCB_DOCK_CONFIG_H
#define FCB_DOCK_CONFIG_H

#include "cfgparse.h"
#include "dock_spec.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct dock_config {
    /* Where the engine is (DOCKER_HOST, DOCKER_TLS_VERIFY). */
    char *docker_host;    /* as configured, or the default socket URL */
    dock_address address; /* docker_host parsed */
    bool tls;             /* DOCKER_TLS_VERIFY non-empty and not 0/false */
    /* TLS files' directory: DOCKER_CERT_PATH, else $HOME/.docker; NULL without TLS. */
    char *cert_dir;
    bool cert_dir_from_home; /* cert_dir is the $HOME/.docker default */
    char *cert_path;         /* DOCKER_CERT_PATH or NULL */
    char *home;              /* HOME or NULL */

    char *network;             /* FAKECLOUD_DOCKER_NETWORK or NULL (engine default) */
    uint32_t ready_timeout_ms; /* FAKECLOUD_DOCKER_READY_TIMEOUT_MS */
    uint32_t pull_timeout_ms;  /* FAKECLOUD_DOCKER_PULL_TIMEOUT_MS */
    uint64_t max_code_bytes;   /* FAKECLOUD_DOCKER_MAX_CODE_BYTES */
    char *ecr_host;            /* FAKECLOUD_DOCKER_ECR_URL host or NULL */
    unsigned ecr_port;         /* its port; 0 when the value named none */
    char *registry_auth;       /* X-Registry-Auth value (base64url) or NULL; a secret */
    char *host_alias;          /* FAKECLOUD_DOCKER_HOST_ALIAS or NULL (engine's default) */
    int32_t lease_seconds;     /* FAKECLOUD_DOCKER_LEASE_SECONDS (docs/leases.md) */
    char *hot_reload_roots;    /* FAKECLOUD_DOCKER_HOT_RELOAD_ROOTS or NULL (dock_hotreload.h) */
} dock_config;

/* The key table, in reading order, and its length. */
extern const cfg_key dock_config_keys[];
extern const size_t dock_config_n_keys;

/*
 * Fill *CFG (overwritten) from HOST's configuration. FCB_OK, FCB_ERR_CONFIG
 * naming the key, or FCB_ERR_NO_MEMORY; on failure nothing is left
 * allocated. Release with dock_config_free (host allocator).
 */
int dock_config_read(const fcb_host_services *host, dock_config *cfg, fcb_error *err);
/* Free what dock_config_read allocated; safe on a zeroed or failed CFG. */
void dock_config_free(const fcb_host_services *host, dock_config *cfg);

#endif
