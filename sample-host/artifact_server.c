/* artifact_server: libmicrohttpd daemon serving code zips and layer tars. */
#include "artifact_server.h"

#include <microhttpd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>

#define ARTIFACT_SETS_MAX  4096
#define ARTIFACT_TOKEN_MAX 256

typedef struct artifact_set {
    char *code_path;
    char *layers_path;
    const void *code;
    size_t code_len;
    const void *layers;
    size_t layers_len;
} artifact_set;

struct artifact_server {
    struct MHD_Daemon *daemon;
    host_services *log;
    char token[ARTIFACT_TOKEN_MAX];
    size_t token_len;
    char url[64];
    unsigned port;
    pthread_mutex_t lock;
    artifact_set *sets; /* ARTIFACT_SETS_MAX */
    size_t n_sets;
};

/* Compares all of EXPECTED whatever GOT is, so timing says nothing about it. */
static bool token_equal(const char *got, const char *expected, size_t expected_len)
{
    size_t got_len = got != NULL ? strlen(got) : 0;
    unsigned char diff = got_len != expected_len;
    for (size_t i = 0; i < expected_len; i++) {
        unsigned char g = i < got_len ? (unsigned char)got[i] : 0;
        diff |= (unsigned char)(g ^ (unsigned char)expected[i]);
    }
    return diff == 0;
}

static enum MHD_Result respond(struct MHD_Connection *conn, unsigned status, const void *data,
                               size_t len, const char *type)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, (void *)data, MHD_RESPMEM_PERSISTENT);
    if (r == NULL)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    if (status == MHD_HTTP_UNAUTHORIZED)
        MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
    enum MHD_Result ret = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ret;
}

static const char msg_unauthorized[] = "missing or wrong bearer token\n";
static const char msg_not_found[] = "no such artifact\n";
static const char msg_method[] = "only GET and HEAD are supported\n";

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *version, const char *upload_data,
                              size_t *upload_data_size, void **req_cls)
{
    (void)version;
    (void)upload_data;
    (void)req_cls;
    artifact_server *srv = cls;
    *upload_data_size = 0;
    unsigned status;
    enum MHD_Result ret;
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
        status = MHD_HTTP_METHOD_NOT_ALLOWED;
        ret = respond(conn, status, msg_method, sizeof msg_method - 1, "text/plain");
        goto out;
    }
    const char *auth =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    const char *presented = NULL;
    if (auth != NULL && strncmp(auth, "Bearer ", 7) == 0)
        presented = auth + 7;
    if (!token_equal(presented, srv->token, srv->token_len)) {
        status = MHD_HTTP_UNAUTHORIZED;
        ret = respond(conn, status, msg_unauthorized, sizeof msg_unauthorized - 1, "text/plain");
        goto out;
    }
    const void *data = NULL;
    size_t len = 0;
    const char *type = NULL;
    pthread_mutex_lock(&srv->lock);
    for (size_t i = 0; i < srv->n_sets && type == NULL; i++) {
        const artifact_set *s = &srv->sets[i];
        if (strcmp(url, s->code_path) == 0) {
            data = s->code;
            len = s->code_len;
            type = "application/zip";
        } else if (strcmp(url, s->layers_path) == 0) {
            data = s->layers;
            len = s->layers_len;
            type = "application/x-tar";
        }
    }
    pthread_mutex_unlock(&srv->lock);
    if (type == NULL) {
        status = MHD_HTTP_NOT_FOUND;
        ret = respond(conn, status, msg_not_found, sizeof msg_not_found - 1, "text/plain");
        goto out;
    }
    status = MHD_HTTP_OK;
    ret = respond(conn, status, len > 0 ? data : "", len, type);
out:
    if (srv->log != NULL) {
        char code[8];
        snprintf(code, sizeof code, "%u", status);
        host_log(srv->log, FCB_LOG_DEBUG, "artifact request", "method", method, "path", url,
                 "status", code, NULL);
    }
    return ret;
}

int artifact_listen_parse(const char *option, const char *listen, struct sockaddr_in *addr,
                          char *why, size_t why_size)
{
    const char *colon = listen != NULL ? strrchr(listen, ':') : NULL;
    char host[64];
    if (colon == NULL || (size_t)(colon - listen) >= sizeof host || colon == listen) {
        snprintf(why, why_size, "%s: expected IPV4:PORT, got \"%.100s\"", option,
                 listen ? listen : "");
        return -1;
    }
    memcpy(host, listen, (size_t)(colon - listen));
    host[colon - listen] = '\0';
    char *end = NULL;
    unsigned long port = strtoul(colon + 1, &end, 10);
    memset(addr, 0, sizeof *addr);
    addr->sin_family = AF_INET;
    if (colon[1] == '\0' || *end != '\0' || port > 65535) {
        snprintf(why, why_size, "%s: port \"%.20s\" is not a number 0-65535", option, colon + 1);
        return -1;
    }
    if (inet_pton(AF_INET, host, &addr->sin_addr) != 1) {
        snprintf(why, why_size, "%s: \"%s\" is not an IPv4 address", option, host);
        return -1;
    }
    addr->sin_port = htons((uint16_t)port);
    return 0;
}

int artifact_server_start(const char *listen, const char *token, host_services *log,
                          artifact_server **out, char *why, size_t why_size)
{
    return artifact_server_start_limits(listen, token, log, NULL, out, why, why_size);
}

/*
 * Default connection limit: raise the soft RLIMIT_NOFILE to the hard one
 * (idle connections must not starve real ones, so the server wants many
 * descriptors), keep a reserve for the rest of the process (plugins, curl,
 * zips), and cap the result.
 */
static unsigned default_max_connections(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return 256;
    if (rl.rlim_cur < rl.rlim_max) {
        struct rlimit raised = {rl.rlim_max, rl.rlim_max};
        if (setrlimit(RLIMIT_NOFILE, &raised) == 0)
            rl.rlim_cur = rl.rlim_max;
    }
    rlim_t fds = rl.rlim_cur == RLIM_INFINITY ? ARTIFACT_CONNECTIONS_MAX + 256 : rl.rlim_cur;
    rlim_t reserve = fds > 1024 ? 256 : fds / 4;
    rlim_t n = fds - reserve;
    if (n > ARTIFACT_CONNECTIONS_MAX)
        n = ARTIFACT_CONNECTIONS_MAX;
    return n < 16 ? 16 : (unsigned)n;
}

static struct MHD_Daemon *start_daemon(artifact_server *srv, const struct sockaddr_in *addr,
                                       const artifact_server_limits *limits)
{
    unsigned timeout = limits != NULL && limits->idle_timeout_s > 0 ? limits->idle_timeout_s
                                                                    : ARTIFACT_IDLE_TIMEOUT_S;
    unsigned max = limits != NULL && limits->max_connections > 0 ? limits->max_connections
                                                                 : default_max_connections();
    /*
     * One internal thread on epoll (MHD_USE_AUTO picks it on Linux): no
     * FD_SETSIZE ceiling. Connections that send nothing for `timeout`
     * seconds are closed; a download in progress is not idle.
     */
    return MHD_start_daemon(MHD_USE_AUTO_INTERNAL_THREAD, 0, NULL, NULL, handle, srv,
                            MHD_OPTION_SOCK_ADDR, (const struct sockaddr *)addr,
                            MHD_OPTION_CONNECTION_TIMEOUT, timeout, MHD_OPTION_CONNECTION_LIMIT,
                            max, MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)16384,
                            MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned)1024, MHD_OPTION_END);
}

int artifact_server_start_limits(const char *listen, const char *token, host_services *log,
                                 const artifact_server_limits *limits, artifact_server **out,
                                 char *why, size_t why_size)
{
    *out = NULL;
    struct sockaddr_in addr;
    if (artifact_listen_parse("--artifact-listen", listen, &addr, why, why_size) != 0)
        return -1;
    size_t token_len = token != NULL ? strlen(token) : 0;
    if (token_len < 16 || token_len >= ARTIFACT_TOKEN_MAX) {
        snprintf(why, why_size, "artifact server: token must be 16..%d characters",
                 ARTIFACT_TOKEN_MAX - 1);
        return -1;
    }
    artifact_server *srv = calloc(1, sizeof *srv);
    if (srv != NULL && (srv->sets = calloc(ARTIFACT_SETS_MAX, sizeof *srv->sets)) == NULL) {
        free(srv);
        srv = NULL;
    }
    if (srv == NULL) {
        snprintf(why, why_size, "artifact server: out of memory");
        return -1;
    }
    pthread_mutex_init(&srv->lock, NULL);
    memcpy(srv->token, token, token_len + 1);
    srv->token_len = token_len;
    srv->log = log;
    srv->daemon = start_daemon(srv, &addr, limits);
    if (srv->daemon == NULL) {
        snprintf(why, why_size,
                 "--artifact-listen: cannot listen on %s (address in use or "
                 "not local?)",
                 listen);
        goto fail;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_LISTEN_FD);
    struct sockaddr_in bound;
    socklen_t len = sizeof bound;
    if (info == NULL || getsockname(info->listen_fd, (struct sockaddr *)&bound, &len) != 0) {
        snprintf(why, why_size, "artifact server: cannot read the bound port");
        goto fail;
    }
    srv->port = ntohs(bound.sin_port);
    char ip[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &bound.sin_addr, ip, sizeof ip);
    snprintf(srv->url, sizeof srv->url, "http://%s:%u", ip, srv->port);
    *out = srv;
    return 0;
fail:
    artifact_server_stop(srv);
    return -1;
}

int artifact_server_add(artifact_server *srv, const char *account, const char *function,
                        const char *deploy_id, const void *code, size_t code_len,
                        const void *layers_tar, size_t layers_len)
{
    int rc = -1;
    char *code_path = NULL, *layers_path = NULL;
    if (asprintf(&code_path, ARTIFACT_PREFIX "code/%s/%s/%s.zip", account, function, deploy_id) < 0)
        code_path = NULL;
    if (asprintf(&layers_path, ARTIFACT_PREFIX "layers/%s/%s/%s.tar", account, function,
                 deploy_id) < 0)
        layers_path = NULL;
    pthread_mutex_lock(&srv->lock);
    if (code_path == NULL || layers_path == NULL || srv->n_sets == ARTIFACT_SETS_MAX)
        goto out;
    artifact_set *s = &srv->sets[srv->n_sets++];
    s->code_path = code_path;
    s->layers_path = layers_path;
    s->code = code;
    s->code_len = code_len;
    s->layers = layers_tar;
    s->layers_len = layers_len;
    code_path = layers_path = NULL;
    rc = 0;
out:
    pthread_mutex_unlock(&srv->lock);
    free(code_path);
    free(layers_path);
    return rc;
}

int artifact_server_remove(artifact_server *srv, const void *code)
{
    int rc = -1;
    pthread_mutex_lock(&srv->lock);
    for (size_t i = 0; code != NULL && i < srv->n_sets; i++) {
        if (srv->sets[i].code != code)
            continue;
        free(srv->sets[i].code_path);
        free(srv->sets[i].layers_path);
        srv->sets[i] = srv->sets[--srv->n_sets];
        rc = 0;
        break;
    }
    pthread_mutex_unlock(&srv->lock);
    return rc;
}

const char *artifact_server_url(const artifact_server *srv)
{
    return srv->url;
}

unsigned artifact_server_port(const artifact_server *srv)
{
    return srv->port;
}

void artifact_server_stop(artifact_server *srv)
{
    if (srv == NULL)
        return;
    if (srv->daemon != NULL)
        MHD_stop_daemon(srv->daemon);
    for (size_t i = 0; i < srv->n_sets; i++) {
        free(srv->sets[i].code_path);
        free(srv->sets[i].layers_path);
    }
    free(srv->sets);
    pthread_mutex_destroy(&srv->lock);
    explicit_bzero(srv->token, sizeof srv->token);
    free(srv);
}
