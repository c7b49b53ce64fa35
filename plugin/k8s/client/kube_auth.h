/*
 * kube_auth: a kube_client's credentials: the kubeconfig's CA and client
 * certificate in private memory files, a bearer token (static, re-read from
 * a token file every token_reread_ms, or from an exec plugin through the
 * shared kube_exec cache, refreshed before it expires or after a 401).
 *
 * One lock (the state's own); thread-safe after kube_auth_init.
 */
#ifndef FCB_KUBE_AUTH_H
#define FCB_KUBE_AUTH_H

#include "kube_config.h"
#include "kube_exec.h"

#include <fakecloud/backend_plugin.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

/* Old exec-provided client cert files stay open this long (in-flight handshakes). */
#define KUBE_AUTH_RETIRED_FILES 8

/* Key material in an anonymous memory file, reachable as /proc/self/fd/N. */
typedef struct kube_mem_file {
    int fd;
    char path[40];
} kube_mem_file;

typedef struct kube_auth {
    const fcb_host_services *host;
    const kube_config *cfg;       /* borrowed: the client's */
    const atomic_bool *cancelled; /* the client's: ends an exec plugin run */
    unsigned token_reread_ms;
    unsigned exec_timeout_ms;
    kube_mem_file ca, cert, key;

    pthread_mutex_t lock;          /* guards everything below */
    char *token;                   /* current bearer token or NULL */
    uint64_t token_read_ms;        /* when the token file was last read */
    kube_exec_cache *exec_cache;   /* shared with the other clients of this plugin run */
    unsigned long exec_generation; /* of the credential installed; 0 = none */
    bool exec_has_expiry;
    time_t exec_expiry;
    kube_mem_file exec_cert, exec_key;
    kube_mem_file retired[KUBE_AUTH_RETIRED_FILES];
    size_t n_retired;
} kube_auth;

/* Credentials for one request. */
typedef struct kube_credentials {
    char *bearer;  /* token copy or NULL; kube_secret_free it (kube_credentials_clear) */
    char cert[40]; /* client certificate file, "" when none */
    char key[40];  /* its key file */
} kube_credentials;

/*
 * Load CFG's credentials (CFG, CANCELLED must outlive AUTH). Errors:
 * FCB_ERR_CONFIG naming the file ("kubeconfig ...: tokenFile ... is empty"),
 * FCB_ERR_NO_MEMORY. On failure too, release with kube_auth_destroy.
 */
int kube_auth_init(kube_auth *auth, const fcb_host_services *host, const kube_config *cfg,
                   unsigned token_reread_ms, unsigned exec_timeout_ms, const atomic_bool *cancelled,
                   fcb_error *err);
void kube_auth_destroy(kube_auth *auth);

/*
 * The credentials to send now. FORCE_REFRESH re-reads the token file or
 * re-runs the exec plugin first (the server refused ours). Errors:
 * FCB_ERR_CONFIG (exec plugin failed), FCB_ERR_CANCELLED, FCB_ERR_NO_MEMORY.
 */
int kube_auth_get(kube_auth *auth, bool force_refresh, kube_credentials *out, fcb_error *err);
void kube_credentials_clear(const fcb_host_services *host, kube_credentials *creds);

/* True when a refused credential can be refreshed (token file or exec plugin). */
bool kube_auth_refreshable(const kube_auth *auth);
/* The CA file for TLS verification, or NULL for the system's. */
const char *kube_auth_ca_file(const kube_auth *auth);

#endif
