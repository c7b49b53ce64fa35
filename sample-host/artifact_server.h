/*
 * artifact_server: serves each deploy's code zip and layers tar to Pods'
 * init containers (k8s backend), over HTTP on an internal libmicrohttpd
 * thread:
 *   GET /_fakecloud/lambda/_internal/code/<account>/<function>/<deploy_id>.zip
 *   GET /_fakecloud/lambda/_internal/layers/<account>/<function>/<deploy_id>.tar
 * Every request needs "Authorization: Bearer <token>" (compared in constant
 * time): wrong or missing -> 401; unknown path -> 404; other methods -> 405.
 * The token is never logged.
 *
 * Thread-safe: artifacts may be added while the server runs.
 */
#ifndef FCB_ARTIFACT_SERVER_H
#define FCB_ARTIFACT_SERVER_H

#include "host_services.h"

#include <netinet/in.h>
#include <stddef.h>

#define ARTIFACT_PREFIX "/_fakecloud/lambda/_internal/"

typedef struct artifact_server artifact_server;

/*
 * Listen on LISTEN ("IPV4:PORT", port 0 = any free port) and require TOKEN
 * (copied). LOG (may be NULL) gets one debug line per request. Returns 0 and
 * *out, or -1 with `why` naming the problem ("--artifact-listen: ...").
 */
int artifact_server_start(const char *listen, const char *token, host_services *log,
                          artifact_server **out, char *why, size_t why_size);

/*
 * Connection limits. Zero fields take the defaults: an idle connection
 * (nothing received or sent for idle_timeout_s) is closed after
 * ARTIFACT_IDLE_TIMEOUT_S; at most max_connections are open at once
 * (default: the file-descriptor limit, raised from soft to hard, minus a
 * reserve, capped at ARTIFACT_CONNECTIONS_MAX).
 */
#define ARTIFACT_IDLE_TIMEOUT_S  10
#define ARTIFACT_CONNECTIONS_MAX 16384
typedef struct artifact_server_limits {
    unsigned idle_timeout_s;
    unsigned max_connections;
} artifact_server_limits;

/* artifact_server_start with LIMITS (NULL = defaults). */
int artifact_server_start_limits(const char *listen, const char *token, host_services *log,
                                 const artifact_server_limits *limits, artifact_server **out,
                                 char *why, size_t why_size);

/*
 * Serve CODE (may be empty) and LAYERS_TAR (may be empty) for ACCOUNT /
 * FUNCTION / DEPLOY_ID. The bytes are borrowed: they must stay valid until
 * artifact_server_stop or artifact_server_remove. Returns 0 or -1 (no
 * memory, or more than 4096 sets).
 */
int artifact_server_add(artifact_server *srv, const char *account, const char *function,
                        const char *deploy_id, const void *code, size_t code_len,
                        const void *layers_tar, size_t layers_len);

/*
 * Stop serving the set added with CODE (the pointer given to
 * artifact_server_add; NULL matches nothing), e.g. when a deploy is freed.
 * Returns 0, or -1 when no set has it.
 */
int artifact_server_remove(artifact_server *srv, const void *code);

/*
 * Parse LISTEN, "IPV4:PORT" (port 0 = any free port), into ADDR; OPTION
 * (e.g. "--listen") names it in `why`. Returns 0 or -1. Pure.
 */
int artifact_listen_parse(const char *option, const char *listen, struct sockaddr_in *addr,
                          char *why, size_t why_size);

/* "http://ADDR:PORT" with the actual port; valid until stop. */
const char *artifact_server_url(const artifact_server *srv);
unsigned artifact_server_port(const artifact_server *srv);

/* Stop the daemon (joins its threads) and free everything. NULL ok. */
void artifact_server_stop(artifact_server *srv);

#endif
