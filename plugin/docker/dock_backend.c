/*
 * dock_backend: launch / terminate / reap over the Engine API.
 *
 * Cancellation: every operation registers itself (inflight count under
 * `mu`); close() sets `closing`, wakes sleepers on `cv` and waits for the
 * count to reach zero. Cancellable Engine calls abort through curl's
 * progress callback; the readiness loop sleeps on `cv` so close() wakes it
 * at once. Clean-up calls after a failure (force-remove of a container we
 * created) are not cancellable: a cancelled launch still leaves nothing.
 *
 * Readiness: docker-proxy accepts TCP connections on the published port
 * before anything listens in the container, so a bare connect proves
 * nothing. The probe sends "GET / HTTP/1.0" and waits for a status line:
 * only a server inside the container produces one. Between probes the
 * container is inspected, so one that exits during start-up fails the
 * launch at once with its exit code and last log lines.
 */
#include "dock_backend.h"

#include "ziptar.h"
#include "dock_engine.h"
#include "dock_spec.h"
#include "jsonx.h"
#include "runtime.h"
#include "svc.h"

#include <errno.h>
#include <json-c/json.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define DOCK_DEFAULT_READY_TIMEOUT_MS 10000u
#define DOCK_DEFAULT_PULL_TIMEOUT_MS  600000u
#define DOCK_PROBE_FIRST_DELAY_MS     5
#define DOCK_PROBE_MAX_DELAY_MS       100
#define DOCK_PROBE_MAX_ATTEMPT_MS     1000
#define DOCK_REMOVE_TIMEOUT_MS        30000L
#define DOCK_LOG_TAIL_BYTES           480
#define DOCK_REAP_MAX                 10000
#define DOCK_HANDLE_PREFIX            "container/"
#define DOCK_START_ATTEMPTS           5
#define DOCK_ORPHANS_MAX              32

struct fcb_backend {
    const fcb_host_services *host;
    dock_engine engine;
    atomic_int closing;
    pthread_mutex_t mu;
    pthread_cond_t cv; /* CLOCK_MONOTONIC; signalled by close() and when inflight drops */
    unsigned inflight;
    /*
     * Containers a failed launch could not remove because the engine was
     * unreachable (e.g. dockerd restarting); later operations retry them
     * (reap_stale skips this instance's own label). Under `mu`.
     */
    char orphans[DOCK_ORPHANS_MAX][DOCK_NAME_MAX];
    unsigned n_orphans;

    char instance_id[40];
    char *network;       /* FAKECLOUD_DOCKER_NETWORK or NULL */
    char *registry_auth; /* X-Registry-Auth value or NULL */
    char *ecr_host;      /* FAKECLOUD_DOCKER_ECR_URL host or NULL */
    unsigned ecr_port;
    uint64_t max_code_bytes;
    uint32_t ready_timeout_ms;
    uint32_t pull_timeout_ms;
    char host_alias[256];
    bool host_gateway;
    char publish_ip[64];
    char endpoint_host[256];
};

/* ------------------------------------------------------------------------ */
/* Small helpers                                                             */
/* ------------------------------------------------------------------------ */

static uint64_t dock_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static bool dock_random_hex(char *out, size_t bytes)
{
    unsigned char raw[32];
    if (bytes > sizeof raw)
        return false;
    size_t got = 0;
    for (int i = 0; i < 16 && got < bytes; i++) {
        ssize_t n = getrandom(raw + got, bytes - got, 0);
        if (n > 0)
            got += (size_t)n;
        else if (n < 0 && errno != EINTR)
            return false;
    }
    if (got < bytes)
        return false;
    for (size_t i = 0; i < bytes; i++)
        snprintf(out + 2 * i, 3, "%02x", raw[i]);
    return true;
}

/* Register an operation; FCB_ERR_CANCELLED once close() started. */
static int dock_enter(fcb_backend *b, fcb_error *err)
{
    int rc = FCB_OK;
    pthread_mutex_lock(&b->mu);
    if (atomic_load(&b->closing))
        rc = err_set(err, FCB_ERR_CANCELLED, "docker backend is closing");
    else
        b->inflight++;
    pthread_mutex_unlock(&b->mu);
    return rc;
}

static void dock_leave(fcb_backend *b)
{
    pthread_mutex_lock(&b->mu);
    b->inflight--;
    pthread_cond_broadcast(&b->cv);
    pthread_mutex_unlock(&b->mu);
}

/* Sleep up to MS, waking early when close() starts. False when closing. */
static bool dock_sleep(fcb_backend *b, unsigned ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&b->mu);
    int r = 0;
    while (!atomic_load(&b->closing) && r == 0)
        r = pthread_cond_timedwait(&b->cv, &b->mu, &ts);
    pthread_mutex_unlock(&b->mu);
    return !atomic_load(&b->closing);
}

static int dock_config_u64(const fcb_host_services *host, const char *key, uint64_t def,
                           uint64_t min, uint64_t max, uint64_t *out, fcb_error *err)
{
    const char *v = svc_config_nonempty(host, key);
    *out = def;
    if (v == NULL)
        return FCB_OK;
    char *end = NULL;
    errno = 0;
    unsigned long long n = strtoull(v, &end, 10);
    if (errno != 0 || end == v || *end != '\0' || v[0] == '-' || n < min || n > max)
        return err_set(err, FCB_ERR_CONFIG, "%s: '%.100s' is not an integer in %llu..%llu", key, v,
                       (unsigned long long)min, (unsigned long long)max);
    *out = n;
    return FCB_OK;
}

/* FAKECLOUD_DOCKER_ECR_URL: "host:port" or "http(s)://host:port[/]". */
static int dock_config_ecr(fcb_backend *b, fcb_error *err)
{
    const char *v = svc_config_nonempty(b->host, "FAKECLOUD_DOCKER_ECR_URL");
    if (v == NULL)
        return FCB_OK;
    const char *h = v;
    if (strncmp(h, "http://", 7) == 0)
        h += 7;
    else if (strncmp(h, "https://", 8) == 0)
        h += 8;
    size_t len = strcspn(h, "/");
    const char *colon = memchr(h, ':', len);
    size_t host_len = colon != NULL ? (size_t)(colon - h) : len;
    if (host_len == 0 || host_len > 200 || (h[len] != '\0' && strcmp(h + len, "/") != 0))
        return err_set(err, FCB_ERR_CONFIG,
                       "FAKECLOUD_DOCKER_ECR_URL: expected host:port, got '%.200s'", v);
    for (size_t i = 0; i < host_len; i++) {
        char c = h[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '-'))
            return err_set(err, FCB_ERR_CONFIG,
                           "FAKECLOUD_DOCKER_ECR_URL: invalid host in '%.200s'", v);
    }
    if (colon != NULL) {
        char *end = NULL;
        unsigned long port = strtoul(colon + 1, &end, 10);
        if (end != h + len || port == 0 || port > 65535)
            return err_set(err, FCB_ERR_CONFIG,
                           "FAKECLOUD_DOCKER_ECR_URL: invalid port in '%.200s'", v);
        b->ecr_port = (unsigned)port;
    }
    b->ecr_host = svc_strndup(b->host, h, host_len);
    if (b->ecr_host == NULL)
        return err_set(err, FCB_ERR_NO_MEMORY, "docker: out of memory");
    return FCB_OK;
}

/* FAKECLOUD_DOCKER_REGISTRY_AUTH: JSON auth config (encoded here) or its base64url form. */
static int dock_config_auth(fcb_backend *b, fcb_error *err)
{
    const char *v = svc_config_nonempty(b->host, "FAKECLOUD_DOCKER_REGISTRY_AUTH");
    if (v == NULL)
        return FCB_OK;
    if (v[0] == '{') {
        json_object *obj = json_tokener_parse(v);
        bool ok = obj != NULL && json_object_is_type(obj, json_type_object);
        json_object_put(obj);
        if (!ok)
            return err_set(err, FCB_ERR_CONFIG,
                           "FAKECLOUD_DOCKER_REGISTRY_AUTH: not a valid JSON object");
        b->registry_auth = dock_spec_base64url(b->host, v, strlen(v));
    } else {
        for (const char *p = v; *p != '\0'; p++) {
            char c = *p;
            if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '_' || c == '=' || c == '+' || c == '/'))
                return err_set(err, FCB_ERR_CONFIG,
                               "FAKECLOUD_DOCKER_REGISTRY_AUTH: neither JSON nor base64");
        }
        b->registry_auth = svc_strdup(b->host, v);
    }
    if (b->registry_auth == NULL)
        return err_set(err, FCB_ERR_NO_MEMORY, "docker: out of memory");
    return FCB_OK;
}

static bool dock_is_loopback(const char *host)
{
    return strcmp(host, "localhost") == 0 || strncmp(host, "127.", 4) == 0 ||
           strcmp(host, "::1") == 0;
}

/* ------------------------------------------------------------------------ */
/* open / close                                                              */
/* ------------------------------------------------------------------------ */

int dock_backend_open(const fcb_host_services *host, const fcb_open_params *params,
                      fcb_backend **out, fcb_error *err)
{
    int rc = FCB_OK;
    uint64_t v = 0;
    bool sync_ready = false;
    *out = NULL;
    fcb_backend *b = svc_calloc(host, 1, sizeof *b);
    if (b == NULL)
        return err_set(err, FCB_ERR_NO_MEMORY, "docker: out of memory");
    b->host = host;
    atomic_init(&b->closing, 0);

    pthread_condattr_t attr;
    if (pthread_condattr_init(&attr) != 0) {
        svc_free(host, b);
        return err_set(err, FCB_ERR_INTERNAL, "docker: pthread_condattr_init failed");
    }
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    if (pthread_mutex_init(&b->mu, NULL) != 0) {
        pthread_condattr_destroy(&attr);
        svc_free(host, b);
        return err_set(err, FCB_ERR_INTERNAL, "docker: pthread_mutex_init failed");
    }
    if (pthread_cond_init(&b->cv, &attr) != 0) {
        pthread_condattr_destroy(&attr);
        pthread_mutex_destroy(&b->mu);
        svc_free(host, b);
        return err_set(err, FCB_ERR_INTERNAL, "docker: pthread_cond_init failed");
    }
    pthread_condattr_destroy(&attr);
    sync_ready = true;

    if (!dock_random_hex(b->instance_id, 8)) {
        rc = err_set(err, FCB_ERR_INTERNAL, "docker: no randomness for the instance id");
        goto fail;
    }
    rc = dock_config_u64(host, "FAKECLOUD_DOCKER_READY_TIMEOUT_MS", DOCK_DEFAULT_READY_TIMEOUT_MS,
                         1, 3600000, &v, err);
    if (rc != FCB_OK)
        goto fail;
    b->ready_timeout_ms = (uint32_t)v;
    rc = dock_config_u64(host, "FAKECLOUD_DOCKER_PULL_TIMEOUT_MS", DOCK_DEFAULT_PULL_TIMEOUT_MS,
                         1000, 86400000, &v, err);
    if (rc != FCB_OK)
        goto fail;
    b->pull_timeout_ms = (uint32_t)v;
    rc = dock_config_u64(host, "FAKECLOUD_DOCKER_MAX_CODE_BYTES", ZIPTAR_DEFAULT_MAX_TOTAL_BYTES,
                         1024, 16ull * 1024 * 1024 * 1024, &b->max_code_bytes, err);
    if (rc != FCB_OK)
        goto fail;
    rc = dock_config_ecr(b, err);
    if (rc != FCB_OK)
        goto fail;
    rc = dock_config_auth(b, err);
    if (rc != FCB_OK)
        goto fail;
    const char *network = svc_config_nonempty(host, "FAKECLOUD_DOCKER_NETWORK");
    if (network != NULL) {
        if (strlen(network) > 200 || strpbrk(network, " \t\r\n\"\\") != NULL) {
            rc = err_set(err, FCB_ERR_CONFIG, "FAKECLOUD_DOCKER_NETWORK: invalid network name");
            goto fail;
        }
        b->network = svc_strdup(host, network);
        if (b->network == NULL) {
            rc = err_set(err, FCB_ERR_NO_MEMORY, "docker: out of memory");
            goto fail;
        }
    }

    rc = dock_engine_connect(&b->engine, host, &b->closing, err);
    if (rc != FCB_OK) {
        err_prefix(err, "docker backend");
        goto fail;
    }

    const char *alias = svc_config_nonempty(host, "FAKECLOUD_DOCKER_HOST_ALIAS");
    if (alias != NULL &&
        (strlen(alias) >= sizeof b->host_alias || strpbrk(alias, " \t\r\n\":/\\") != NULL)) {
        rc = err_set(err, FCB_ERR_CONFIG, "FAKECLOUD_DOCKER_HOST_ALIAS: invalid host name");
        goto fail;
    }
    snprintf(b->host_alias, sizeof b->host_alias, "%s",
             alias != NULL ? alias
                           : (b->engine.podman ? DOCK_HOST_ALIAS_PODMAN : DOCK_HOST_ALIAS_DOCKER));
    /* Podman resolves host.containers.internal itself; Docker needs host-gateway. */
    b->host_gateway = !b->engine.podman;
    if (b->engine.address.transport == DOCK_TCP && !dock_is_loopback(b->engine.address.host)) {
        snprintf(b->publish_ip, sizeof b->publish_ip, "0.0.0.0");
        snprintf(b->endpoint_host, sizeof b->endpoint_host, "%s", b->engine.address.host);
    } else {
        snprintf(b->publish_ip, sizeof b->publish_ip, "127.0.0.1");
        snprintf(b->endpoint_host, sizeof b->endpoint_host, "127.0.0.1");
    }
    svc_log(host, FCB_LOG_INFO, DOCK_PLUGIN_NAME, "docker backend opened", "engine",
            b->engine.address.transport == DOCK_UNIX ? b->engine.address.path : b->engine.base_url,
            "api_version", b->engine.api_version, "server_version", b->engine.server_version,
            "podman", b->engine.podman ? "true" : "false", "instance", b->instance_id, NULL);
    *out = b;
    return FCB_OK;
fail:
    dock_engine_release(&b->engine);
    svc_free(host, b->network);
    svc_free(host, b->registry_auth);
    svc_free(host, b->ecr_host);
    if (sync_ready) {
        pthread_cond_destroy(&b->cv);
        pthread_mutex_destroy(&b->mu);
    }
    svc_free(host, b);
    return rc;
}

void dock_backend_close(fcb_backend *b)
{
    if (b == NULL)
        return;
    pthread_mutex_lock(&b->mu);
    atomic_store(&b->closing, 1);
    pthread_cond_broadcast(&b->cv);
    /* Bounded by the in-flight calls' own timeouts; they see `closing` promptly. */
    while (b->inflight > 0)
        pthread_cond_wait(&b->cv, &b->mu);
    pthread_mutex_unlock(&b->mu);
    const fcb_host_services *host = b->host;
    dock_engine_release(&b->engine);
    svc_free(host, b->network);
    svc_free(host, b->registry_auth);
    svc_free(host, b->ecr_host);
    pthread_cond_destroy(&b->cv);
    pthread_mutex_destroy(&b->mu);
    svc_free(host, b);
}

const char *dock_backend_instance_id(const fcb_backend *b)
{
    return b->instance_id;
}

/* ------------------------------------------------------------------------ */
/* Images                                                                    */
/* ------------------------------------------------------------------------ */

typedef struct dock_pull_state {
    char error[512];
    bool failed;
} dock_pull_state;

static bool dock_pull_line(void *ctx, const char *line, size_t len)
{
    dock_pull_state *st = ctx;
    if (!st->failed && dock_spec_pull_line_error(line, len, st->error, sizeof st->error))
        st->failed = true;
    return true;
}

/* Make IMAGE present locally, pulling it when absent. FIELD names it in errors. */
static int dock_image_ensure(fcb_backend *b, const char *image, const char *field, fcb_error *err)
{
    int rc;
    char repo[RUNTIME_IMAGE_MAX], tag[RUNTIME_IMAGE_MAX];
    char *path = NULL, *erepo = NULL, *etag = NULL;
    dock_response resp;
    memset(&resp, 0, sizeof resp);

    rc = dock_spec_split_image(image, field, repo, tag, sizeof repo, err);
    if (rc != FCB_OK)
        return rc;
    path = svc_sprintf(b->host, "/images/%s/json", image);
    if (path == NULL)
        return err_set(err, FCB_ERR_NO_MEMORY, "docker: out of memory");
    dock_request inspect = {.method = "GET", .path = path, .cancellable = true};
    rc = dock_engine_call(&b->engine, &inspect, &resp, err);
    if (rc != FCB_OK)
        goto out;
    if (resp.status == 200)
        goto out;
    if (resp.status != 404) {
        rc = dock_engine_http_error(&resp, FCB_ERR_BACKEND, "inspect image", err);
        err_prefix(err, "%s '%s'", field, image);
        goto out;
    }
    dock_response_free(&resp);
    svc_free(b->host, path);
    erepo = dock_engine_escape(b->host, repo);
    etag = dock_engine_escape(b->host, tag);
    path = (erepo != NULL && etag != NULL)
               ? svc_sprintf(b->host, "/images/create?fromImage=%s&tag=%s", erepo, etag)
               : NULL;
    if (path == NULL) {
        rc = err_set(err, FCB_ERR_NO_MEMORY, "docker: out of memory");
        goto out;
    }
    svc_log(b->host, FCB_LOG_INFO, DOCK_PLUGIN_NAME, "pulling image", "image", image, NULL);
    uint64_t t0 = dock_now_ms();
    dock_pull_state st = {.failed = false};
    dock_request pull = {.method = "POST",
                         .path = path,
                         .cancellable = true,
                         .registry_auth = b->registry_auth,
                         .timeout_ms = (long)b->pull_timeout_ms,
                         .on_line = dock_pull_line,
                         .line_ctx = &st};
    rc = dock_engine_call(&b->engine, &pull, &resp, err);
    if (rc != FCB_OK) {
        err_prefix(err, "pull %s '%s'", field, image);
        goto out;
    }
    if (resp.status != 200) {
        char what[RUNTIME_IMAGE_MAX + 64];
        snprintf(what, sizeof what, "pull %s '%s'", field, image);
        rc = dock_engine_http_error(&resp, FCB_ERR_START_FAILED, what, err);
        goto out;
    }
    if (st.failed) {
        rc = err_set(err, FCB_ERR_START_FAILED, "pull %s '%s' failed: %s", field, image, st.error);
        goto out;
    }
    char ms[32];
    snprintf(ms, sizeof ms, "%llu", (unsigned long long)(dock_now_ms() - t0));
    svc_log(b->host, FCB_LOG_INFO, DOCK_PLUGIN_NAME, "pulled image", "image", image, "ms", ms,
            NULL);
out:
    dock_response_free(&resp);
    svc_free(b->host, path);
    svc_free(b->host, erepo);
    svc_free(b->host, etag);
    return rc;
}

int dock_backend_prepull(fcb_backend *b, const char *image, fcb_error *err)
{
    if (b == NULL || image == NULL)
        return err_set(err, FCB_ERR_INVALID_ARGUMENT, "prepull: image is required");
    int rc = dock_enter(b, err);
    if (rc != FCB_OK)
        return rc;
    char translated[RUNTIME_IMAGE_MAX];
    if (strlen(image) >= RUNTIME_IMAGE_MAX - 16) {
        rc = err_set(err, FCB_ERR_INVALID_ARGUMENT, "prepull: image reference too long");
    } else {
        runtime_translate_ecr(image, b->ecr_host, b->ecr_port, translated);
        rc = dock_image_ensure(b, translated, "image", err);
    }
    dock_leave(b);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Containers                                                                */
/* ------------------------------------------------------------------------ */

/* Force-remove ID; 404 and "already in progress" count as success. */
static int dock_container_remove(fcb_backend *b, const char *id, bool cancellable, fcb_error *err)
{
    dock_response resp;
    char *path = svc_sprintf(b->host, "/containers/%s?force=1&v=1", id);
    if (path == NULL)
        return err_set(err, FCB_ERR_NO_MEMORY, "docker: out of memory");
    dock_request req = {.method = "DELETE",
                        .path = path,
                        .cancellable = cancellable,
                        .timeout_ms = DOCK_REMOVE_TIMEOUT_MS};
    int rc = dock_engine_call(&b->engine, &req, &resp, err);
    if (rc == FCB_OK && resp.status != 204 && resp.status != 200 && resp.status != 404 &&
        !(resp.status == 409 && resp.body.data != NULL &&
          strstr(resp.body.data, "in progress") != NULL)) {
        char what[160];
        snprintf(what, sizeof what, "remove container %.64s", id);
        rc = dock_engine_http_error(&resp, FCB_ERR_BACKEND, what, err);
    }
    dock_response_free(&resp);
    svc_free(b->host, path);
    return rc;
}

/* Remember ID for dock_orphans_retry; false when the list is full or ID too long. */
static bool dock_orphan_add(fcb_backend *b, const char *id)
{
    bool added = false;
    pthread_mutex_lock(&b->mu);
    if (b->n_orphans < DOCK_ORPHANS_MAX && strlen(id) < DOCK_NAME_MAX) {
        snprintf(b->orphans[b->n_orphans++], DOCK_NAME_MAX, "%s", id);
        added = true;
    }
    pthread_mutex_unlock(&b->mu);
    return added;
}

/*
 * Best-effort removal after a failed launch; keeps the launch's error. When
 * the engine cannot be reached (or memory runs out twice), the container is
 * remembered and removed by a later operation of this backend.
 */
static void dock_container_discard(fcb_backend *b, const char *id, const char *name)
{
    fcb_error e2 = FCB_ERROR_INIT;
    int rc = dock_container_remove(b, id, false, &e2);
    if (rc == FCB_ERR_NO_MEMORY) /* often transient: try once more before leaving it behind */
        rc = dock_container_remove(b, id, false, &e2);
    if (rc == FCB_OK)
        return;
    bool later = (rc == FCB_ERR_UNAVAILABLE || rc == FCB_ERR_TIMEOUT || rc == FCB_ERR_NO_MEMORY) &&
                 dock_orphan_add(b, id);
    svc_log(b->host, FCB_LOG_WARN, DOCK_PLUGIN_NAME,
            later ? "could not remove container after a failed launch; will retry"
                  : "could not remove container after a failed launch",
            "container", name, "error", e2.message, NULL);
}

/* Remove the containers failed launches left (dock_container_discard); keep what still fails. */
static void dock_orphans_retry(fcb_backend *b)
{
    char ids[DOCK_ORPHANS_MAX][DOCK_NAME_MAX];
    pthread_mutex_lock(&b->mu);
    unsigned n = b->n_orphans;
    memcpy(ids, b->orphans, sizeof ids[0] * n);
    b->n_orphans = 0;
    pthread_mutex_unlock(&b->mu);
    for (unsigned i = 0; i < n; i++) {
        fcb_error e2 = FCB_ERROR_INIT;
        int rc = dock_container_remove(b, ids[i], true, &e2);
        if (rc == FCB_OK)
            svc_log(b->host, FCB_LOG_INFO, DOCK_PLUGIN_NAME,
                    "removed container left by a failed launch", "container", ids[i], NULL);
        else if (rc != FCB_ERR_UNAVAILABLE && rc != FCB_ERR_TIMEOUT && rc != FCB_ERR_CANCELLED &&
                 rc != FCB_ERR_NO_MEMORY)
            svc_log(b->host, FCB_LOG_WARN, DOCK_PLUGIN_NAME,
                    "could not remove container left by a failed launch", "container", ids[i],
                    "error", e2.message, NULL);
        else if (!dock_orphan_add(b, ids[i]))
            svc_log(b->host, FCB_LOG_WARN, DOCK_PLUGIN_NAME,
                    "giving up on a container left by a failed launch", "container", ids[i], NULL);
    }
}

typedef struct dock_state {
    bool running;
    char status[32];
    long exit_code;
    char error[256];
    char host_port[16];
} dock_state;

static int dock_container_inspect(fcb_backend *b, const char *id, dock_state *st, fcb_error *err)
{
    dock_response resp;
    json_object *root = NULL;
    memset(st, 0, sizeof *st);
    char *path = svc_sprintf(b->host, "/containers/%s/json", id);
    if (path == NULL)
        return err_set(err, FCB_ERR_NO_MEMORY, "docker: out of memory");
    dock_request req = {.method = "GET", .path = path, .cancellable = true};
    int rc = dock_engine_call(&b->engine, &req, &resp, err);
    if (rc != FCB_OK)
        goto out;
    if (resp.status != 200) {
        rc = dock_engine_http_error(&resp,
                                    resp.status == 404 ? FCB_ERR_START_FAILED : FCB_ERR_BACKEND,
                                    "inspect container", err);
        goto out;
    }
    root = json_tokener_parse(resp.body.data != NULL ? resp.body.data : "");
    json_object *state = NULL, *v = NULL, *net = NULL, *ports = NULL, *list = NULL;
    if (root == NULL || !json_object_object_get_ex(root, "State", &state)) {
        rc = err_set(err, FCB_ERR_BACKEND, "inspect container: unreadable answer");
        goto out;
    }
    if (json_object_object_get_ex(state, "Running", &v))
        st->running = json_object_get_boolean(v);
    if (json_object_object_get_ex(state, "Status", &v))
        snprintf(st->status, sizeof st->status, "%s", json_object_get_string(v));
    if (json_object_object_get_ex(state, "ExitCode", &v))
        st->exit_code = (long)json_object_get_int64(v);
    if (json_object_object_get_ex(state, "Error", &v))
        snprintf(st->error, sizeof st->error, "%s", json_object_get_string(v));
    if (json_object_object_get_ex(root, "NetworkSettings", &net) &&
        json_object_object_get_ex(net, "Ports", &ports) &&
        json_object_object_get_ex(ports, DOCK_RIE_PORT, &list) &&
        json_object_is_type(list, json_type_array)) {
        size_t n = json_object_array_length(list);
        for (size_t i = 0; i < n && i < 16; i++) {
            json_object *binding = json_object_array_get_idx(list, i);
            json_object *hp = NULL, *hip = NULL;
            if (!json_object_object_get_ex(binding, "HostPort", &hp))
                continue;
            /* Prefer the IPv4 binding (docker may add one for "::"). */
            const char *ip = json_object_object_get_ex(binding, "HostIp", &hip)
                                 ? json_object_get_string(hip)
                                 : "";
            if (st->host_port[0] == '\0' || strchr(ip != NULL ? ip : "", ':') == NULL)
                snprintf(st->host_port, sizeof st->host_port, "%s", json_object_get_string(hp));
        }
    }
out:
    json_object_put(root);
    dock_response_free(&resp);
    svc_free(b->host, path);
    return rc;
}

/* Last log lines of ID as one line ("a | b | c"), into out. */
static void dock_container_logs(fcb_backend *b, const char *id, char *out, size_t size)
{
    dock_response resp;
    sbuf text;
    fcb_error e2 = FCB_ERROR_INIT;
    out[0] = '\0';
    sbuf_init(&text, b->host, 0);
    char *path = svc_sprintf(b->host, "/containers/%s/logs?stdout=1&stderr=1&tail=20", id);
    if (path == NULL)
        return;
    dock_request req = {.method = "GET", .path = path, .timeout_ms = 5000, .max_body = 64 * 1024};
    if (dock_engine_call(&b->engine, &req, &resp, &e2) == FCB_OK && resp.status == 200 &&
        resp.body.data != NULL && dock_spec_demux_logs(resp.body.data, resp.body.len, &text) &&
        text.data != NULL) {
        size_t n = text.len;
        while (n > 0 && (text.data[n - 1] == '\n' || text.data[n - 1] == '\r'))
            n--;
        size_t start = n > DOCK_LOG_TAIL_BYTES ? n - DOCK_LOG_TAIL_BYTES : 0;
        size_t o = 0;
        for (size_t i = start; i < n && o + 4 < size; i++) {
            char c = text.data[i];
            if (c == '\n') {
                out[o++] = ' ';
                out[o++] = '|';
                out[o++] = ' ';
            } else if (c != '\r') {
                out[o++] = (c >= ' ' || c == '\t') ? c : '?';
            }
        }
        out[o] = '\0';
    }
    dock_response_free(&resp);
    sbuf_free(&text);
    svc_free(b->host, path);
}

/* TCP connect + "GET / HTTP/1.0"; true when an HTTP status line comes back. */
static bool dock_probe_http(const char *host, const char *port, unsigned timeout_ms)
{
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    if (getaddrinfo(host, port, &hints, &res) != 0 || res == NULL)
        return false;
    bool ready = false;
    int fd = socket(res->ai_family, res->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        goto out;
    uint64_t deadline = dock_now_ms() + timeout_ms;
    if (connect(fd, res->ai_addr, res->ai_addrlen) != 0 && errno != EINPROGRESS)
        goto out;
    struct pollfd p = {.fd = fd, .events = POLLOUT};
    if (poll(&p, 1, (int)timeout_ms) != 1 || (p.revents & (POLLERR | POLLHUP)) != 0)
        goto out;
    int soerr = 0;
    socklen_t sl = sizeof soerr;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0 || soerr != 0)
        goto out;
    static const char request[] = "GET / HTTP/1.0\r\nHost: localhost\r\n\r\n";
    if (send(fd, request, sizeof request - 1, MSG_NOSIGNAL) != (ssize_t)(sizeof request - 1))
        goto out;
    char buf[8];
    size_t got = 0;
    for (int i = 0; i < 16 && got < 5; i++) {
        uint64_t now = dock_now_ms();
        if (now >= deadline)
            break;
        p.events = POLLIN;
        p.revents = 0;
        if (poll(&p, 1, (int)(deadline - now)) != 1)
            break;
        ssize_t n = recv(fd, buf + got, 5 - got, 0);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    ready = got == 5 && memcmp(buf, "HTTP/", 5) == 0;
out:
    if (fd >= 0)
        close(fd);
    freeaddrinfo(res);
    return ready;
}

static bool dock_handle_id(const char *handle, const char **id)
{
    size_t plen = sizeof DOCK_HANDLE_PREFIX - 1;
    if (handle == NULL || strncmp(handle, DOCK_HANDLE_PREFIX, plen) != 0)
        return false;
    const char *p = handle + plen;
    size_t n = strlen(p);
    if (n == 0 || n > 128)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-'))
            return false;
    }
    *id = p;
    return true;
}

/*
 * Whether container ID (an id or a name) carries our managed-by label, by
 * one inspect. FCB_OK with *gone true when it does not exist (nothing to
 * remove), FCB_OK with the engine's full id in full_id when it is ours,
 * FCB_ERR_NOT_FOUND when it exists but is not ours (another manager's or
 * no label), or the engine error.
 */
static int dock_container_owned(fcb_backend *b, const char *id, bool *gone,
                                char full_id[DOCK_NAME_MAX], fcb_error *err)
{
    dock_response resp;
    json_object *root = NULL;
    *gone = false;
    char *path = svc_sprintf(b->host, "/containers/%s/json", id);
    if (path == NULL)
        return err_set(err, FCB_ERR_NO_MEMORY, "docker: out of memory");
    dock_request req = {.method = "GET", .path = path, .cancellable = true};
    int rc = dock_engine_call(&b->engine, &req, &resp, err);
    if (rc != FCB_OK)
        goto out;
    if (resp.status == 404) {
        *gone = true;
        goto out;
    }
    if (resp.status != 200) {
        char what[160];
        snprintf(what, sizeof what, "inspect container %.64s", id);
        rc = dock_engine_http_error(&resp, FCB_ERR_BACKEND, what, err);
        goto out;
    }
    root = json_tokener_parse(resp.body.data != NULL ? resp.body.data : "");
    const char *owner = jsonx_get_string(root, "Config.Labels." DOCK_LABEL_MANAGED_BY);
    const char *engine_id = jsonx_get_string(root, "Id");
    if (owner == NULL || strcmp(owner, DOCK_LABEL_MANAGED_BY_VALUE) != 0) {
        rc = err_set(err, FCB_ERR_NOT_FOUND,
                     "container %.64s is not managed by fakecloud (label " DOCK_LABEL_MANAGED_BY
                     " is %s%.64s%s): not removed",
                     id, owner != NULL ? "'" : "", owner != NULL ? owner : "absent",
                     owner != NULL ? "'" : "");
        goto out;
    }
    if (engine_id == NULL || strlen(engine_id) >= DOCK_NAME_MAX ||
        strspn(engine_id, "0123456789abcdef") != strlen(engine_id)) {
        rc = err_set(err, FCB_ERR_BACKEND, "inspect container %.64s: answer has no valid Id", id);
        goto out;
    }
    snprintf(full_id, DOCK_NAME_MAX, "%s", engine_id);
out:
    json_object_put(root);
    dock_response_free(&resp);
    svc_free(b->host, path);
    return rc;
}

int dock_backend_terminate(fcb_backend *b, const char *handle, fcb_error *err)
{
    const char *id = NULL;
    if (b == NULL || !dock_handle_id(handle, &id))
        return err_set(err, FCB_ERR_INVALID_ARGUMENT,
                       "handle: '%.200s' is not a docker handle (container/<id>)",
                       handle != NULL ? handle : "(null)");
    int rc = dock_enter(b, err);
    if (rc != FCB_OK)
        return rc;
    dock_orphans_retry(b);
    /* Only containers carrying our managed-by label; removed by the id inspect answered. */
    bool gone = false;
    char full_id[DOCK_NAME_MAX];
    rc = dock_container_owned(b, id, &gone, full_id, err);
    if (rc == FCB_OK && !gone) {
        rc = dock_container_remove(b, full_id, true, err);
        if (rc == FCB_OK)
            svc_log(b->host, FCB_LOG_INFO, DOCK_PLUGIN_NAME, "container removed", "handle", handle,
                    NULL);
    }
    dock_leave(b);
    return rc;
}

int dock_backend_reap_stale(fcb_backend *b, size_t *reaped, fcb_error *err)
{
    int rc;
    dock_response resp;
    json_object *root = NULL;
    char *filters = NULL, *path = NULL;
    size_t count = 0;
    if (reaped != NULL)
        *reaped = 0;
    if (b == NULL)
        return err_set(err, FCB_ERR_INVALID_ARGUMENT, "reap_stale: backend is NULL");
    rc = dock_enter(b, err);
    if (rc != FCB_OK)
        return rc;
    dock_orphans_retry(b);
    memset(&resp, 0, sizeof resp);
    filters = dock_engine_escape(b->host, "{\"label\":[\"" DOCK_LABEL_MANAGED_BY
                                          "=" DOCK_LABEL_MANAGED_BY_VALUE "\"]}");
    path =
        filters != NULL ? svc_sprintf(b->host, "/containers/json?all=1&filters=%s", filters) : NULL;
    if (path == NULL) {
        rc = err_set(err, FCB_ERR_NO_MEMORY, "docker: out of memory");
        goto out;
    }
    dock_request req = {
        .method = "GET", .path = path, .cancellable = true, .max_body = 64u * 1024 * 1024};
    rc = dock_engine_call(&b->engine, &req, &resp, err);
    if (rc != FCB_OK)
        goto out;
    if (resp.status != 200) {
        rc = dock_engine_http_error(&resp, FCB_ERR_BACKEND, "list containers", err);
        goto out;
    }
    root = json_tokener_parse(resp.body.data != NULL ? resp.body.data : "");
    if (root == NULL || !json_object_is_type(root, json_type_array)) {
        rc = err_set(err, FCB_ERR_BACKEND, "list containers: unreadable answer");
        goto out;
    }
    size_t n = json_object_array_length(root);
    for (size_t i = 0; i < n && i < DOCK_REAP_MAX; i++) {
        json_object *c = json_object_array_get_idx(root, i);
        json_object *labels = NULL, *idv = NULL, *mv = NULL, *iv = NULL;
        if (!json_object_object_get_ex(c, "Id", &idv) ||
            !json_object_object_get_ex(c, "Labels", &labels))
            continue;
        /* The filter already asked for it; check again, never remove a foreign container. */
        if (!json_object_object_get_ex(labels, DOCK_LABEL_MANAGED_BY, &mv) ||
            strcmp(json_object_get_string(mv), DOCK_LABEL_MANAGED_BY_VALUE) != 0)
            continue;
        if (json_object_object_get_ex(labels, DOCK_LABEL_INSTANCE, &iv) &&
            strcmp(json_object_get_string(iv), b->instance_id) == 0)
            continue;
        const char *id = json_object_get_string(idv);
        rc = dock_container_remove(b, id, true, err);
        if (rc != FCB_OK)
            goto out;
        count++;
    }
out:
    if (count > 0) {
        char num[32];
        snprintf(num, sizeof num, "%zu", count);
        svc_log(b->host, FCB_LOG_INFO, DOCK_PLUGIN_NAME, "reaped stale containers", "count", num,
                NULL);
    }
    if (reaped != NULL)
        *reaped = count;
    json_object_put(root);
    dock_response_free(&resp);
    svc_free(b->host, filters);
    svc_free(b->host, path);
    dock_leave(b);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* launch                                                                    */
/* ------------------------------------------------------------------------ */

/* Tar of code (and layers) for a Zip function; *tar NULL when nothing to copy. */
static int dock_build_tar(fcb_backend *b, const fcb_launch_request *req, const fcb_function *fn,
                          char **tar, size_t *tar_len, fcb_error *err)
{
    ziptar *t = NULL;
    ziptar_limits limits = ziptar_limits_default();
    limits.max_total_bytes = b->max_code_bytes;
    *tar = NULL;
    *tar_len = 0;
    if (fn->package_type != FCB_PACKAGE_ZIP && req->n_layers == 0)
        return FCB_OK;
    if (req->n_layers > 0 && req->layers == NULL)
        return err_set(err, FCB_ERR_INVALID_ARGUMENT, "Layers: %zu layers but no array",
                       req->n_layers);
    int rc = ziptar_new(b->host, &limits, &t, err);
    if (rc != FCB_OK)
        return rc;
    if (fn->package_type == FCB_PACKAGE_ZIP) {
        rc = ziptar_add_zip(t, req->code.data, req->code.size, "var/task", "code", err);
        if (rc == FCB_OK && runtime_is_provided(fn->runtime))
            rc = ziptar_add_zip(t, req->code.data, req->code.size, "var/runtime", "code", err);
    }
    for (size_t i = 0; rc == FCB_OK && i < req->n_layers; i++) {
        char what[32];
        snprintf(what, sizeof what, "layer %zu", i + 1);
        rc = ziptar_add_zip(t, req->layers[i].data, req->layers[i].size, "opt", what, err);
    }
    if (rc == FCB_OK)
        rc = ziptar_finish(t, tar, tar_len, err);
    ziptar_free(t);
    return rc;
}

/* Copy what the caller declared of a size-prefixed struct; the rest reads as zero. */
static void dock_copy_sized(void *dst, size_t dst_size, const void *src, uint32_t src_size)
{
    memset(dst, 0, dst_size);
    memcpy(dst, src, src_size < dst_size ? src_size : dst_size);
}

static int dock_wait_ready(fcb_backend *b, const char *id, const char *name, uint32_t timeout_ms,
                           char *port, size_t port_size, fcb_error *err)
{
    uint64_t start = dock_now_ms();
    uint64_t deadline = start + timeout_ms;
    unsigned delay = DOCK_PROBE_FIRST_DELAY_MS;
    dock_state st;
    /* Bounded by the deadline; the count is a second, independent bound. */
    for (unsigned attempt = 0; attempt < 100000; attempt++) {
        if (atomic_load(&b->closing))
            return err_set(err, FCB_ERR_CANCELLED, "container %s: backend closed during start-up",
                           name);
        int rc = dock_container_inspect(b, id, &st, err);
        if (rc != FCB_OK)
            return err_prefix(err, "container %s", name);
        if (!st.running && strcmp(st.status, "created") != 0) {
            char logs[DOCK_LOG_TAIL_BYTES + 64];
            dock_container_logs(b, id, logs, sizeof logs);
            return err_set(err, FCB_ERR_START_FAILED,
                           "container %s %s with exit code %ld during start-up%s%s; "
                           "last log lines: %s",
                           name, st.status[0] != '\0' ? st.status : "stopped", st.exit_code,
                           st.error[0] != '\0' ? ": " : "", st.error,
                           logs[0] != '\0' ? logs : "(none)");
        }
        uint64_t now = dock_now_ms();
        if (st.running && st.host_port[0] != '\0') {
            unsigned left = now < deadline ? (unsigned)(deadline - now) : 1;
            if (dock_probe_http(b->endpoint_host, st.host_port,
                                left < DOCK_PROBE_MAX_ATTEMPT_MS ? left
                                                                 : DOCK_PROBE_MAX_ATTEMPT_MS)) {
                snprintf(port, port_size, "%s", st.host_port);
                return FCB_OK;
            }
            now = dock_now_ms();
        }
        if (now >= deadline) {
            char logs[DOCK_LOG_TAIL_BYTES + 64];
            dock_container_logs(b, id, logs, sizeof logs);
            return err_set(err, FCB_ERR_TIMEOUT,
                           "container %s: runtime did not answer HTTP on port %s within %u ms "
                           "(FAKECLOUD_DOCKER_READY_TIMEOUT_MS); last log lines: %s",
                           name, st.host_port[0] != '\0' ? st.host_port : "(unpublished)",
                           (unsigned)timeout_ms, logs[0] != '\0' ? logs : "(none)");
        }
        unsigned left = (unsigned)(deadline - now);
        if (!dock_sleep(b, delay < left ? delay : left))
            return err_set(err, FCB_ERR_CANCELLED, "container %s: backend closed during start-up",
                           name);
        delay = delay * 2 > DOCK_PROBE_MAX_DELAY_MS ? DOCK_PROBE_MAX_DELAY_MS : delay * 2;
    }
    return err_set(err, FCB_ERR_TIMEOUT, "container %s: readiness probe gave up", name);
}

static int dock_launch_locked(fcb_backend *b, const fcb_launch_request *req, const fcb_function *fn,
                              fcb_instance *out, fcb_error *err)
{
    int rc;
    char image[RUNTIME_IMAGE_MAX];
    char suffix[16];
    char name[DOCK_NAME_MAX];
    char *tar = NULL, *body = NULL, *path = NULL;
    size_t tar_len = 0;
    char id[80] = {0};
    char port[16];
    dock_response resp;
    memset(&resp, 0, sizeof resp);
    uint64_t t0 = dock_now_ms();

    if (fn->function_name == NULL || fn->function_name[0] == '\0')
        return err_set(err, FCB_ERR_INVALID_ARGUMENT, "FunctionName is required");
    if (req->deploy_id == NULL || req->deploy_id[0] == '\0')
        return err_set(err, FCB_ERR_INVALID_ARGUMENT, "deploy_id is required");
    rc = runtime_function_image(fn, b->ecr_host, b->ecr_port, image, err);
    if (rc != FCB_OK)
        return rc;
    dock_limits limits;
    rc = dock_spec_limits(fn, &limits, err);
    if (rc != FCB_OK)
        return rc;
    /* Everything that can be refused without the engine is checked before anything is created. */
    rc = dock_build_tar(b, req, fn, &tar, &tar_len, err);
    if (rc != FCB_OK)
        goto out;
    dock_spec_input in = {.function = fn,
                          .image = image,
                          .instance_id = b->instance_id,
                          .host_alias = b->host_alias,
                          .host_gateway = b->host_gateway,
                          .network = b->network,
                          .publish_ip = b->publish_ip};
    rc = dock_spec_create_body(b->host, &in, &body, err);
    if (rc != FCB_OK)
        goto out;
    rc = dock_image_ensure(b, image,
                           fn->package_type == FCB_PACKAGE_ZIP ? "runtime image" : "ImageUri", err);
    if (rc != FCB_OK)
        goto out;

    if (!dock_random_hex(suffix, 6)) {
        rc = err_set(err, FCB_ERR_INTERNAL, "docker: no randomness for the container name");
        goto out;
    }
    dock_spec_container_name(fn->function_name, suffix, name);
    path = svc_sprintf(b->host, "/containers/create?name=%s", name);
    if (path == NULL) {
        rc = err_set(err, FCB_ERR_NO_MEMORY, "docker: out of memory");
        goto out;
    }
    /*
     * Not cancellable: an aborted create may still have created the container,
     * and then we would not know its id. close() waits for it (bounded by the
     * call's timeout); the launch notices `closing` right after.
     */
    dock_request create = {.method = "POST",
                           .path = path,
                           .body = body,
                           .body_len = strlen(body),
                           .cancellable = false};
    rc = dock_engine_call(&b->engine, &create, &resp, err);
    if (rc != FCB_OK) {
        /* E.g. a timeout: the engine may have created it anyway. Names are unique. */
        dock_container_discard(b, name, name);
        goto out;
    }
    if (resp.status != 201) {
        char what[DOCK_NAME_MAX + 32];
        snprintf(what, sizeof what, "create container %s", name);
        rc = dock_engine_http_error(
            &resp, resp.status == 404 ? FCB_ERR_START_FAILED : FCB_ERR_BACKEND, what, err);
        goto out;
    }
    {
        json_object *root = json_tokener_parse(resp.body.data != NULL ? resp.body.data : "");
        json_object *v = NULL;
        const char *s = NULL;
        if (root != NULL && json_object_object_get_ex(root, "Id", &v))
            s = json_object_get_string(v);
        if (s != NULL && strlen(s) < sizeof id && strspn(s, "0123456789abcdef") == strlen(s))
            snprintf(id, sizeof id, "%s", s);
        json_object_put(root);
    }
    dock_response_free(&resp);
    if (id[0] == '\0') {
        /* Created but unreadable answer: remove by name so nothing is left. */
        dock_container_discard(b, name, name);
        rc = err_set(err, FCB_ERR_BACKEND, "create container %s: answer has no Id", name);
        goto out;
    }

    if (tar != NULL) {
        svc_free(b->host, path);
        path = svc_sprintf(b->host, "/containers/%s/archive?path=/", id);
        if (path == NULL) {
            rc = err_set(err, FCB_ERR_NO_MEMORY, "docker: out of memory");
            goto fail_created;
        }
        dock_request put = {.method = "PUT",
                            .path = path,
                            .body = tar,
                            .body_len = tar_len,
                            .content_type = "application/x-tar",
                            .cancellable = true,
                            .timeout_ms = 300000};
        rc = dock_engine_call(&b->engine, &put, &resp, err);
        if (rc == FCB_OK && resp.status != 200)
            rc =
                dock_engine_http_error(&resp, FCB_ERR_BACKEND, "copy code into the container", err);
        dock_response_free(&resp);
        if (rc != FCB_OK) {
            err_prefix(err, "container %s", name);
            goto fail_created;
        }
        svc_free(b->host, tar);
        tar = NULL;
    }

    svc_free(b->host, path);
    path = svc_sprintf(b->host, "/containers/%s/start", id);
    if (path == NULL) {
        rc = err_set(err, FCB_ERR_NO_MEMORY, "docker: out of memory");
        goto fail_created;
    }
    dock_request start = {.method = "POST", .path = path, .cancellable = true};
    /*
     * dockerd picks the ephemeral host port from its own bookkeeping; when
     * another process (or another dockerd) holds it, docker-proxy fails to
     * bind and the start fails. Starting again picks the next port.
     */
    for (int attempt = 0; attempt < DOCK_START_ATTEMPTS; attempt++) {
        dock_response_free(&resp);
        rc = dock_engine_call(&b->engine, &start, &resp, err);
        if (rc != FCB_OK || resp.status == 204 || resp.status == 304)
            break;
        rc = dock_engine_http_error(&resp, FCB_ERR_START_FAILED, "start", err);
        if (resp.body.data == NULL || strstr(resp.body.data, "address already in use") == NULL)
            break;
        svc_log(b->host, FCB_LOG_DEBUG, DOCK_PLUGIN_NAME, "host port taken, starting again",
                "container", name, NULL);
    }
    dock_response_free(&resp);
    if (rc != FCB_OK) {
        err_prefix(err, "container %s", name);
        goto fail_created;
    }

    uint64_t t_started = dock_now_ms();
    uint32_t timeout = req->deadline_ms != 0 ? req->deadline_ms : b->ready_timeout_ms;
    rc = dock_wait_ready(b, id, name, timeout, port, sizeof port, err);
    if (rc != FCB_OK)
        goto fail_created;

    snprintf(out->endpoint, sizeof out->endpoint, "%s:%s", b->endpoint_host, port);
    snprintf(out->handle, sizeof out->handle, DOCK_HANDLE_PREFIX "%s", id);
    char ms[32], start_ms[32];
    uint64_t t_ready = dock_now_ms();
    snprintf(ms, sizeof ms, "%llu", (unsigned long long)(t_ready - t0));
    snprintf(start_ms, sizeof start_ms, "%llu", (unsigned long long)(t_started - t0));
    svc_log(b->host, FCB_LOG_INFO, DOCK_PLUGIN_NAME, "container ready", "function",
            fn->function_name, "container", name, "endpoint", out->endpoint, "ms", ms,
            "until_started_ms", start_ms, NULL);
    goto out;

fail_created:
    dock_container_discard(b, id, name);
out:
    dock_response_free(&resp);
    svc_free(b->host, tar);
    svc_free(b->host, body);
    svc_free(b->host, path);
    return rc;
}

int dock_backend_launch(fcb_backend *b, const fcb_launch_request *request, fcb_instance *out,
                        fcb_error *err)
{
    if (b == NULL || request == NULL || out == NULL)
        return err_set(err, FCB_ERR_INVALID_ARGUMENT,
                       "launch: backend, request and out are required");
    if (request->size < offsetof(fcb_launch_request, deploy_id) + sizeof(const char *))
        return err_set(err, FCB_ERR_INVALID_ARGUMENT, "launch: request.size %u is too small",
                       (unsigned)request->size);
    fcb_launch_request req;
    fcb_function fn;
    dock_copy_sized(&req, sizeof req, request, request->size);
    if (req.function == NULL)
        return err_set(err, FCB_ERR_INVALID_ARGUMENT, "launch: request.function is required");
    if (req.function->size < offsetof(fcb_function, package_type) + sizeof(fcb_package_type))
        return err_set(err, FCB_ERR_INVALID_ARGUMENT, "launch: function.size %u is too small",
                       (unsigned)req.function->size);
    dock_copy_sized(&fn, sizeof fn, req.function, req.function->size);
    int rc = dock_enter(b, err);
    if (rc != FCB_OK)
        return rc;
    dock_orphans_retry(b);
    rc = dock_launch_locked(b, &req, &fn, out, err);
    if (rc != FCB_OK && atomic_load(&b->closing) && rc != FCB_ERR_INVALID_ARGUMENT)
        err->code = FCB_ERR_CANCELLED, rc = FCB_ERR_CANCELLED;
    dock_leave(b);
    return rc;
}
