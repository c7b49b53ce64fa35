/*
 * kube_exec: run a client-go exec credential plugin (aws eks get-token,
 * gke-gcloud-auth-plugin, kubelogin, ...) and read its ExecCredential.
 *
 * The plugin runs via posix_spawn with the process environment plus the
 * kubeconfig's env entries plus KUBERNETES_EXEC_INFO (the ExecCredential
 * request: interactive false, and the cluster when provideClusterInfo).
 * stdin is /dev/null; stdout is read up to KUBE_EXEC_MAX_OUTPUT bytes;
 * stderr (bounded) goes to the host log at debug; the whole run is bounded
 * by a timeout after which the plugin is killed. Thread-safe (the caller
 * serialises runs of one plugin to avoid stampedes).
 */
#ifndef FCB_KUBE_EXEC_H
#define FCB_KUBE_EXEC_H

#include "kube_config.h"

#include <fakecloud/backend_plugin.h>

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#define KUBE_EXEC_MAX_OUTPUT (1u << 20)
#define KUBE_EXEC_MAX_STDERR (16u << 10)

/* Credentials a plugin returned. Owned (host allocator); clear to free. */
typedef struct kube_exec_result {
    char *token;    /* status.token, or NULL */
    char *cert_pem; /* status.clientCertificateData, or NULL */
    size_t cert_len;
    char *key_pem; /* status.clientKeyData, or NULL */
    size_t key_len;
    bool has_expiry; /* status.expirationTimestamp was given */
    time_t expiry;   /* its value, seconds since the epoch */
} kube_exec_result;

/*
 * Run CFG->exec (CFG provides the cluster info and names for messages)
 * within TIMEOUT_MS. Errors: FCB_ERR_CONFIG naming the user and the command
 * ("exec plugin 'aws' (user 'u'): exited with status 1: <first stderr line>",
 * "...: timed out after 30000 ms", "...: not found"), FCB_ERR_NO_MEMORY.
 * CANCEL (may be NULL) is checked at least every 100 ms: once set, the plugin
 * is killed and reaped and FCB_ERR_CANCELLED returned.
 */
int kube_exec_run(const fcb_host_services *host, const kube_config *cfg, unsigned timeout_ms,
                  const atomic_bool *cancel, kube_exec_result *out, fcb_error *err);

/*
 * Parse an ExecCredential (JSON) that a plugin configured with API_VERSION
 * printed. WHERE prefixes messages. Pure.
 */
int kube_exec_parse(const fcb_host_services *host, const char *api_version, const char *where,
                    const char *text, size_t len, kube_exec_result *out, fcb_error *err);

/* The KUBERNETES_EXEC_INFO JSON for CFG; host-allocated, NULL without memory. Pure. */
char *kube_exec_info(const fcb_host_services *host, const kube_config *cfg);

/* Parse an RFC 3339 timestamp ("2026-01-02T03:04:05Z", offsets, fractions). */
bool kube_time_parse(const char *text, time_t *out);

/* Free what RESULT holds (secrets wiped); leaves it zeroed. */
void kube_exec_result_clear(const fcb_host_services *host, kube_exec_result *result);

#endif
