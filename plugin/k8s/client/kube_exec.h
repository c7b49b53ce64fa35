/*
 * kube_exec: run a client-go exec credential plugin (aws eks get-token,
 * gke-gcloud-auth-plugin, kubelogin, ...) and read its ExecCredential.
 *
 * The plugin runs via posix_spawn with the process environment plus the
 * kubeconfig's env entries plus KUBERNETES_EXEC_INFO (the ExecCredential
 * request: interactive false, and the cluster when provideClusterInfo), in a
 * process group of its own, with an empty signal mask and default signal
 * dispositions (whatever the calling thread blocks or the host ignores).
 * stdin is /dev/null; stdout is read up to KUBE_EXEC_MAX_OUTPUT bytes;
 * stderr (bounded) goes to the host log at debug; the whole run is bounded
 * by a timeout after which the plugin's whole process group is killed (what
 * it started too). Once the plugin has exited, a child it left holding its
 * stdout does not delay the answer. Thread-safe; the credential cache below
 * serialises runs of one plugin to avoid stampedes.
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

/*
 * The credential cache, as client-go keeps one authenticator per exec
 * configuration: every client of one host whose kubeconfig names the same
 * plugin (command, args, env, apiVersion, cluster info, user, files) shares
 * one credential, so a backend instance (whose open and close use two
 * clients) runs the plugin once, and again only when the credential expires
 * (expirationTimestamp minus KUBE_EXEC_EXPIRY_MARGIN_S) or the server
 * refuses it (401). Entries are reference-counted and freed (secrets wiped)
 * with their last client. Thread-safe; a run holds the entry's lock, so
 * concurrent callers wait for one run instead of stampeding.
 */
#define KUBE_EXEC_EXPIRY_MARGIN_S 10
typedef struct kube_exec_cache kube_exec_cache;

/* Find or create the entry for HOST and CFG (CFG->exec non-NULL). FCB_ERR_NO_MEMORY. */
int kube_exec_cache_acquire(const fcb_host_services *host, const kube_config *cfg,
                            kube_exec_cache **out, fcb_error *err);
/* Drop one reference; the last frees the entry. NULL is a no-op. */
void kube_exec_cache_release(kube_exec_cache *cache);

/*
 * A copy of the cached credential in OUT (clear it with
 * kube_exec_result_clear) and its generation in *GENERATION (> 0). The
 * plugin runs (kube_exec_run with CFG, TIMEOUT_MS, CANCEL) when there is no
 * credential, when it expires within the margin, or when REFUSED equals the
 * current generation (the caller's copy got a 401; a caller holding an
 * older generation just gets the newer one). Errors as kube_exec_run.
 */
int kube_exec_cache_get(kube_exec_cache *cache, const kube_config *cfg, unsigned timeout_ms,
                        const atomic_bool *cancel, unsigned long refused, kube_exec_result *out,
                        unsigned long *generation, fcb_error *err);

/* Free what RESULT holds (secrets wiped); leaves it zeroed. */
void kube_exec_result_clear(const fcb_host_services *host, kube_exec_result *result);

#endif
