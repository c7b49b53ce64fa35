/*
 * kube_client: transport (libcurl + share handle), authentication state,
 * retries with capped exponential backoff and full jitter, cancellation.
 */
#include "kube_client.h"

#include "http.h"
#include "jsonx.h"
#include "kube_client_internal.h"
#include "kube_config.h"
#include "kube_exec.h"
#include "kube_status.h"
#include "svc.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_DEADLINE_MS     30000u
#define DEFAULT_TOKEN_REREAD_MS 60000u
#define DEFAULT_EXEC_TIMEOUT_MS 30000u
#define DEFAULT_MAX_ATTEMPTS    6u
/* Metadata only when the server can, the full list otherwise (content negotiation). */
#define KUBE_ACCEPT_METADATA_LIST \
    "Accept: application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json"
#define DEFAULT_BACKOFF_BASE_MS 100u
#define DEFAULT_BACKOFF_CAP_MS  2000u
#define DEFAULT_WATCH_TIMEOUT_S 290u
#define DEFAULT_BODY_LIMIT      (64u << 20)
#define DEFAULT_LIST_PAGE_SIZE  500u
/* Bound on attempts of a KUBE_REQ_UNTIL_DEADLINE request (the deadline ends it first). */
#define KUBE_UNTIL_DEADLINE_ATTEMPTS 100000u
#define CONNECT_TIMEOUT_MS      10000u
#define TOKEN_MAX_BYTES         (1u << 20)
/* Old exec-provided client cert files stay open this long (in-flight handshakes). */
#define RETIRED_FILES 8
/* Request slots (= connections) of the pool by default; the watch has its own. */
#define DEFAULT_MAX_CONNECTIONS 3u
#define MAX_CONNECTIONS_LIMIT   64u
/* A slot waiter re-checks cancel / stop flags at least this often. */
#define POOL_POLL_MS 50u

/* A thread waiting for a pool slot: FIFO queue node on its stack. */
typedef struct pool_waiter {
    pthread_cond_t cond;
    kube_conn *granted; /* set by conn_release when handing a slot over */
    bool wake;          /* re-check flags / capacity */
    struct pool_waiter *next;
} pool_waiter;

/* Key material in an anonymous memory file, reachable as /proc/self/fd/N. */
typedef struct mem_file {
    int fd;
    char path[40];
} mem_file;

struct kube_client {
    const fcb_host_services *host;
    kube_config *cfg;
    char *base_url;                /* server URL, host replaced by tls-server-name */
    char server_shown[KUBE_LONG_SHOWN_SIZE]; /* server for messages and logs (no userinfo) */
    struct curl_slist *connect_to; /* tls-server-name:port -> real host:port */
    CURLSH *share;
    pthread_mutex_t share_locks[CURL_LOCK_DATA_LAST];
    pthread_mutex_t pool_lock;
    kube_conn *idle;                    /* idle request slots */
    unsigned n_slots;                   /* request slots created (<= max_connections) */
    pool_waiter *wait_head, *wait_tail; /* FIFO of threads waiting for a slot */
    mem_file ca, cert, key;

    pthread_mutex_t auth_lock;
    char *token;            /* current bearer token or NULL */
    uint64_t token_read_ms; /* when the token file was last read */
    kube_exec_cache *exec_cache;   /* shared with the other clients of this plugin run */
    unsigned long exec_generation; /* of the credential installed; 0 = none */
    bool exec_has_expiry;
    time_t exec_expiry;
    mem_file exec_cert, exec_key;
    mem_file retired[RETIRED_FILES];
    size_t n_retired;

    atomic_bool cancelled;
    pthread_mutex_t sleep_lock;
    pthread_cond_t sleep_cond;

    unsigned deadline_ms, token_reread_ms, exec_timeout_ms, max_attempts, max_connections;
    unsigned backoff_base_ms, backoff_cap_ms, watch_timeout_s, list_page_size;
    size_t body_limit;

    atomic_ulong requests, retries, watch_restarts, relists, slot_waits;
};

/* ---------------------------------------------------------------------- */
/* small helpers                                                            */

static void mem_file_init(mem_file *f)
{
    f->fd = -1;
    f->path[0] = '\0';
}

static void mem_file_close(mem_file *f)
{
    if (f->fd >= 0)
        close(f->fd);
    mem_file_init(f);
}

/* Private in-memory file (never on disk, mode irrelevant: only this process can open it). */
static int mem_file_write(mem_file *f, const char *name, const char *data, size_t len,
                          fcb_error *err)
{
    int fd = memfd_create(name, MFD_CLOEXEC);
    if (fd < 0)
        return err_set(err, FCB_ERR_CONFIG, "memfd_create for %s: %s", name, strerror(errno));
    size_t done = 0;
    while (done < len) {
        ssize_t n = write(fd, data + done, len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            int e = errno;
            close(fd);
            return err_set(err, FCB_ERR_CONFIG, "writing %s to memory file: %s", name, strerror(e));
        }
        done += (size_t)n;
    }
    f->fd = fd;
    snprintf(f->path, sizeof f->path, "/proc/self/fd/%d", fd);
    return FCB_OK;
}

static unsigned config_uint(const fcb_host_services *host, const char *key, unsigned dflt,
                            unsigned min, unsigned max, int *rc, fcb_error *err)
{
    const char *v = svc_config_nonempty(host, key);
    if (v == NULL || *rc != FCB_OK)
        return dflt;
    char *end = NULL;
    errno = 0;
    unsigned long n = strtoul(v, &end, 10);
    if (errno != 0 || end == v || *end != '\0' || v[0] == '-' || n < min || n > max) {
        *rc = err_set(err, FCB_ERR_CONFIG, "%s: '%s' is not a whole number between %u and %u", key,
                      v, min, max);
        return dflt;
    }
    return (unsigned)n;
}

static uint64_t xorshift_next(void)
{
    static _Thread_local uint64_t state;
    if (state == 0) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        state = ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)ts.tv_sec ^ (uint64_t)(uintptr_t)&state;
        if (state == 0)
            state = 0x9e3779b97f4a7c15ull;
    }
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return state;
}

static void share_lock(CURL *handle, curl_lock_data data, curl_lock_access access, void *ctx)
{
    kube_client *c = ctx;
    if ((int)data >= 0 && data < CURL_LOCK_DATA_LAST)
        pthread_mutex_lock(&c->share_locks[data]);
}

static void share_unlock(CURL *handle, curl_lock_data data, void *ctx)
{
    kube_client *c = ctx;
    if ((int)data >= 0 && data < CURL_LOCK_DATA_LAST)
        pthread_mutex_unlock(&c->share_locks[data]);
}

/* Trimmed copy of a token file's contents. */
static int read_token_file(kube_client *c, char **out, fcb_error *err)
{
    char shown[KUBE_LONG_SHOWN_SIZE];
    char *data = NULL;
    size_t len = 0;
    int rc = kube_file_read(c->host, c->cfg->token_file, TOKEN_MAX_BYTES, &data, &len, err);
    if (rc != FCB_OK)
        return err_prefix(err, "%s: tokenFile", c->cfg->origin);
    while (len > 0 && (data[len - 1] == '\n' || data[len - 1] == '\r' || data[len - 1] == ' '))
        data[--len] = '\0';
    if (len == 0) {
        svc_free(c->host, data);
        return err_set(err, FCB_ERR_CONFIG, "%s: tokenFile %s is empty", c->cfg->origin,
                       kube_path_shown(shown, c->cfg->token_file));
    }
    *out = data;
    return FCB_OK;
}

/* Build base_url / connect_to for tls-server-name (curl 7.88 has no SNI override). */
static int setup_url(kube_client *c, fcb_error *err)
{
    int rc = FCB_OK;
    CURLU *u = curl_url();
    char *scheme = NULL, *hostname = NULL, *port = NULL;
    if (u == NULL)
        return err_set(err, FCB_ERR_NO_MEMORY, "out of memory");
    if (curl_url_set(u, CURLUPART_URL, c->cfg->server, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &hostname, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK) {
        rc = err_set(err, FCB_ERR_CONFIG, "%s: server: '%s' is not a valid URL", c->cfg->origin,
                     c->server_shown);
        goto out;
    }
    if (c->cfg->tls_server_name == NULL || strcmp(scheme, "https") != 0) {
        c->base_url = svc_strdup(c->host, c->cfg->server);
        if (c->base_url == NULL)
            rc = err_set(err, FCB_ERR_NO_MEMORY, "out of memory");
        goto out;
    }
    /*
     * Connect to the real host but speak TLS (SNI + verification) for
     * tls-server-name: rewrite the URL's host and add a CONNECT_TO entry.
     */
    char *url = NULL;
    if (curl_url_set(u, CURLUPART_HOST, c->cfg->tls_server_name, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_URL, &url, 0) != CURLUE_OK) {
        char shown[KUBE_SHOWN_SIZE];
        rc = err_set(err, FCB_ERR_CONFIG, "%s: tls-server-name: '%s' is not a valid host name",
                     c->cfg->origin, kube_shown(shown, c->cfg->tls_server_name));
        goto out;
    }
    size_t ulen = strlen(url);
    while (ulen > 0 && url[ulen - 1] == '/')
        ulen--;
    c->base_url = svc_strndup(c->host, url, ulen);
    curl_free(url);
    char *entry =
        svc_sprintf(c->host, "%s:%s:%s:%s", c->cfg->tls_server_name, port, hostname, port);
    if (c->base_url == NULL || entry == NULL) {
        svc_free(c->host, entry);
        rc = err_set(err, FCB_ERR_NO_MEMORY, "out of memory");
        goto out;
    }
    c->connect_to = curl_slist_append(NULL, entry);
    svc_free(c->host, entry);
    if (c->connect_to == NULL)
        rc = err_set(err, FCB_ERR_NO_MEMORY, "out of memory");
out:
    curl_free(scheme);
    curl_free(hostname);
    curl_free(port);
    curl_url_cleanup(u);
    return rc;
}

/* ---------------------------------------------------------------------- */
/* lifecycle                                                                */

int kube_client_new(const fcb_host_services *host, kube_client **out, fcb_error *err)
{
    return kube_client_new_ex(host, 0, out, err);
}

int kube_client_new_ex(const fcb_host_services *host, unsigned flags, kube_client **out,
                       fcb_error *err)
{
    int rc = FCB_OK;
    *out = NULL;
    if (!http_global_init())
        return err_set(err, FCB_ERR_INTERNAL, "curl_global_init failed");
    kube_client *c = svc_calloc(host, 1, sizeof *c);
    if (c == NULL)
        return err_set(err, FCB_ERR_NO_MEMORY, "out of memory");
    c->host = host;
    mem_file_init(&c->ca);
    mem_file_init(&c->cert);
    mem_file_init(&c->key);
    mem_file_init(&c->exec_cert);
    mem_file_init(&c->exec_key);
    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
        pthread_mutex_init(&c->share_locks[i], NULL);
    pthread_mutex_init(&c->auth_lock, NULL);
    pthread_mutex_init(&c->pool_lock, NULL);
    pthread_mutex_init(&c->sleep_lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&c->sleep_cond, &attr);
    pthread_condattr_destroy(&attr);
    atomic_init(&c->cancelled, false);

    c->deadline_ms = config_uint(host, "FAKECLOUD_K8S_REQUEST_TIMEOUT_MS", DEFAULT_DEADLINE_MS, 100,
                                 3600000, &rc, err);
    c->token_reread_ms = config_uint(host, "FAKECLOUD_K8S_TOKEN_REREAD_MS", DEFAULT_TOKEN_REREAD_MS,
                                     0, 86400000, &rc, err);
    c->exec_timeout_ms = config_uint(host, "FAKECLOUD_K8S_EXEC_TIMEOUT_MS", DEFAULT_EXEC_TIMEOUT_MS,
                                     100, 600000, &rc, err);
    c->max_attempts =
        config_uint(host, "FAKECLOUD_K8S_MAX_ATTEMPTS", DEFAULT_MAX_ATTEMPTS, 1, 100, &rc, err);
    c->backoff_base_ms = config_uint(host, "FAKECLOUD_K8S_RETRY_BASE_MS", DEFAULT_BACKOFF_BASE_MS,
                                     1, 60000, &rc, err);
    c->backoff_cap_ms = config_uint(host, "FAKECLOUD_K8S_RETRY_CAP_MS", DEFAULT_BACKOFF_CAP_MS, 1,
                                    600000, &rc, err);
    c->watch_timeout_s = config_uint(host, "FAKECLOUD_K8S_WATCH_TIMEOUT_S", DEFAULT_WATCH_TIMEOUT_S,
                                     1, 3600, &rc, err);
    c->max_connections = config_uint(host, "FAKECLOUD_K8S_MAX_CONNECTIONS", DEFAULT_MAX_CONNECTIONS,
                                     1, MAX_CONNECTIONS_LIMIT, &rc, err);
    c->list_page_size = config_uint(host, "FAKECLOUD_K8S_LIST_PAGE_SIZE", DEFAULT_LIST_PAGE_SIZE, 1,
                                    100000, &rc, err);
    c->body_limit = config_uint(host, "FAKECLOUD_K8S_MAX_RESPONSE_BYTES", DEFAULT_BODY_LIMIT, 1024,
                                1u << 30, &rc, err);
    if (rc != FCB_OK)
        goto fail;

    rc = kube_config_load(host, &c->cfg, err);
    if (rc != FCB_OK)
        goto fail;
    kube_url_shown(c->server_shown, c->cfg->server);
    rc = setup_url(c, err);
    if (rc != FCB_OK)
        goto fail;
    if (c->cfg->ca_pem != NULL &&
        (rc = mem_file_write(&c->ca, "kube-ca", c->cfg->ca_pem, c->cfg->ca_len, err)) != FCB_OK)
        goto fail;
    if (c->cfg->cert_pem != NULL &&
        ((rc = mem_file_write(&c->cert, "kube-cert", c->cfg->cert_pem, c->cfg->cert_len, err)) !=
             FCB_OK ||
         (rc = mem_file_write(&c->key, "kube-key", c->cfg->key_pem, c->cfg->key_len, err)) !=
             FCB_OK))
        goto fail;
    if (c->cfg->exec != NULL &&
        (rc = kube_exec_cache_acquire(host, c->cfg, &c->exec_cache, err)) != FCB_OK)
        goto fail;
    if (c->cfg->token_file != NULL) {
        rc = read_token_file(c, &c->token, err);
        if (rc != FCB_OK)
            goto fail;
        c->token_read_ms = http_now_ms();
    } else if (c->cfg->token != NULL) {
        c->token = svc_strdup(host, c->cfg->token);
        if (c->token == NULL) {
            rc = err_set(err, FCB_ERR_NO_MEMORY, "out of memory");
            goto fail;
        }
    }
    c->share = curl_share_init();
    if (c->share == NULL) {
        rc = err_set(err, FCB_ERR_NO_MEMORY, "out of memory");
        goto fail;
    }
    curl_share_setopt(c->share, CURLSHOPT_LOCKFUNC, share_lock);
    curl_share_setopt(c->share, CURLSHOPT_UNLOCKFUNC, share_unlock);
    curl_share_setopt(c->share, CURLSHOPT_USERDATA, c);
    curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
    curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);

    if (c->cfg->insecure && !(flags & KUBE_CLIENT_QUIET))
        svc_log(host, FCB_LOG_WARN, KUBE_LOG_NAME,
                "TLS verification of the API server is disabled (insecure-skip-tls-verify)",
                "server", c->server_shown, "config", c->cfg->origin, NULL);
    char shown_context[KUBE_SHOWN_SIZE];
    const char *auth = c->cfg->exec != NULL         ? "exec"
                       : c->cfg->token_file != NULL ? "token-file"
                       : c->cfg->token != NULL      ? "token"
                       : c->cfg->cert_pem != NULL   ? "client-certificate"
                       : c->cfg->username != NULL   ? "basic"
                                                    : "none";
    svc_log(host, (flags & KUBE_CLIENT_QUIET) ? FCB_LOG_DEBUG : FCB_LOG_INFO, KUBE_LOG_NAME,
            "Kubernetes client configured", "server", c->server_shown, "config", c->cfg->origin,
            "context", kube_shown(shown_context, c->cfg->context), "namespace", c->cfg->namespace,
            "auth", auth, NULL);
    *out = c;
    return FCB_OK;
fail:
    kube_client_free(c);
    return rc;
}

void kube_client_free(kube_client *client)
{
    if (client == NULL)
        return;
    const fcb_host_services *host = client->host;
    /* Every request has ended (callers' contract): all slots are idle. */
    for (kube_conn *k = client->idle, *next; k != NULL; k = next) {
        next = k->next;
        kube_conn_free(client, k);
    }
    if (client->share != NULL)
        curl_share_cleanup(client->share);
    curl_slist_free_all(client->connect_to);
    mem_file_close(&client->ca);
    mem_file_close(&client->cert);
    mem_file_close(&client->key);
    mem_file_close(&client->exec_cert);
    mem_file_close(&client->exec_key);
    for (size_t i = 0; i < client->n_retired; i++)
        mem_file_close(&client->retired[i]);
    kube_secret_free(host, client->token);
    kube_exec_cache_release(client->exec_cache);
    svc_free(host, client->base_url);
    kube_config_free(host, client->cfg);
    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
        pthread_mutex_destroy(&client->share_locks[i]);
    pthread_mutex_destroy(&client->auth_lock);
    pthread_mutex_destroy(&client->pool_lock);
    pthread_mutex_destroy(&client->sleep_lock);
    pthread_cond_destroy(&client->sleep_cond);
    svc_free(host, client);
}

const char *kube_client_namespace(const kube_client *client)
{
    return client->cfg->namespace;
}

const char *kube_client_server(const kube_client *client)
{
    return client->server_shown;
}

void kube_client_cancel(kube_client *client)
{
    atomic_store(&client->cancelled, true);
    kube_client_wake(client);
}

void kube_client_wake(kube_client *client)
{
    pthread_mutex_lock(&client->sleep_lock);
    pthread_cond_broadcast(&client->sleep_cond);
    pthread_mutex_unlock(&client->sleep_lock);
    pthread_mutex_lock(&client->pool_lock);
    for (pool_waiter *w = client->wait_head; w != NULL; w = w->next) {
        w->wake = true;
        pthread_cond_signal(&w->cond);
    }
    pthread_mutex_unlock(&client->pool_lock);
}

const atomic_bool *kube_client_cancel_flag(kube_client *client)
{
    return &client->cancelled;
}

const fcb_host_services *kube_client_host(const kube_client *client)
{
    return client->host;
}

unsigned kube_client_watch_timeout_s(const kube_client *client)
{
    return client->watch_timeout_s;
}

unsigned kube_client_list_page_size(const kube_client *client)
{
    return client->list_page_size;
}

size_t kube_client_body_limit(const kube_client *client)
{
    return client->body_limit;
}

void kube_client_count(kube_client *client, kube_stat which)
{
    switch (which) {
    case KUBE_STAT_REQUEST: atomic_fetch_add(&client->requests, 1); break;
    case KUBE_STAT_RETRY: atomic_fetch_add(&client->retries, 1); break;
    case KUBE_STAT_WATCH_RESTART: atomic_fetch_add(&client->watch_restarts, 1); break;
    case KUBE_STAT_RELIST: atomic_fetch_add(&client->relists, 1); break;
    }
}

void kube_client_get_stats(const kube_client *client, kube_client_stats *out)
{
    kube_client *c = (kube_client *)client; /* atomics are read-only here */
    out->requests = atomic_load(&c->requests);
    out->retries = atomic_load(&c->retries);
    out->watch_restarts = atomic_load(&c->watch_restarts);
    out->relists = atomic_load(&c->relists);
    out->slot_waits = atomic_load(&c->slot_waits);
    pthread_mutex_lock(&c->pool_lock);
    out->connections = c->n_slots;
    pthread_mutex_unlock(&c->pool_lock);
}

bool kube_client_sleep(kube_client *client, uint64_t ms, const atomic_bool *extra)
{
    uint64_t until = http_now_ms() + ms;
    bool completed = true;
    pthread_mutex_lock(&client->sleep_lock);
    /* Bounded by UNTIL; wakes early on cancel/stop. */
    for (;;) {
        if (atomic_load(&client->cancelled) || (extra != NULL && atomic_load(extra))) {
            completed = false;
            break;
        }
        uint64_t now = http_now_ms();
        if (now >= until)
            break;
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        uint64_t wait = until - now;
        ts.tv_sec += (time_t)(wait / 1000);
        ts.tv_nsec += (long)(wait % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&client->sleep_cond, &client->sleep_lock, &ts);
    }
    pthread_mutex_unlock(&client->sleep_lock);
    return completed;
}

uint64_t kube_client_backoff_ms(kube_client *client, unsigned attempt)
{
    uint64_t ceiling = client->backoff_base_ms;
    for (unsigned i = 1; i < attempt && ceiling < client->backoff_cap_ms; i++)
        ceiling *= 2;
    if (ceiling > client->backoff_cap_ms)
        ceiling = client->backoff_cap_ms;
    return xorshift_next() % (ceiling + 1);
}

/* ---------------------------------------------------------------------- */
/* authentication                                                           */

static void retire_file(kube_client *c, mem_file *f)
{
    if (f->fd < 0)
        return;
    if (c->n_retired == RETIRED_FILES) {
        mem_file_close(&c->retired[0]);
        memmove(&c->retired[0], &c->retired[1], (RETIRED_FILES - 1) * sizeof c->retired[0]);
        c->n_retired--;
    }
    c->retired[c->n_retired++] = *f;
    mem_file_init(f);
}

/*
 * Under auth_lock: the exec credential from the shared cache (which runs the
 * plugin when needed; REFUSED: the server answered 401 to ours), installed
 * when it is newer than ours.
 */
static int exec_refresh_locked(kube_client *c, bool refused, fcb_error *err)
{
    kube_exec_result res;
    unsigned long generation = 0;
    int rc = kube_exec_cache_get(c->exec_cache, c->cfg, c->exec_timeout_ms, &c->cancelled,
                                 refused ? c->exec_generation : 0, &res, &generation, err);
    if (rc != FCB_OK) {
        c->exec_generation = 0;
        return rc;
    }
    if (generation == c->exec_generation) {
        kube_exec_result_clear(c->host, &res);
        return FCB_OK;
    }
    if (res.cert_pem != NULL) {
        mem_file cert, key;
        mem_file_init(&cert);
        mem_file_init(&key);
        rc = mem_file_write(&cert, "kube-exec-cert", res.cert_pem, res.cert_len, err);
        if (rc == FCB_OK)
            rc = mem_file_write(&key, "kube-exec-key", res.key_pem, res.key_len, err);
        if (rc != FCB_OK) {
            mem_file_close(&cert);
            kube_exec_result_clear(c->host, &res);
            return rc;
        }
        retire_file(c, &c->exec_cert);
        retire_file(c, &c->exec_key);
        c->exec_cert = cert;
        c->exec_key = key;
    }
    kube_secret_free(c->host, c->token);
    c->token = res.token;
    res.token = NULL;
    c->exec_generation = generation;
    c->exec_has_expiry = res.has_expiry;
    c->exec_expiry = res.expiry;
    kube_exec_result_clear(c->host, &res);
    return FCB_OK;
}

/*
 * Current credentials for one request: a copy of the bearer token (or NULL)
 * and the client cert/key paths (empty when none).
 */
static int auth_snapshot(kube_client *c, bool force, char **bearer, char cert[40], char key[40],
                         fcb_error *err)
{
    int rc = FCB_OK;
    *bearer = NULL;
    pthread_mutex_lock(&c->auth_lock);
    if (c->cfg->exec != NULL) {
        bool expired =
            c->exec_has_expiry && time(NULL) + KUBE_EXEC_EXPIRY_MARGIN_S >= c->exec_expiry;
        if (force || c->exec_generation == 0 || expired)
            rc = exec_refresh_locked(c, force, err);
    } else if (c->cfg->token_file != NULL &&
               (force || http_now_ms() - c->token_read_ms >= c->token_reread_ms)) {
        char *fresh = NULL;
        fcb_error read_err = FCB_ERROR_INIT;
        if (read_token_file(c, &fresh, &read_err) == FCB_OK) {
            kube_secret_free(c->host, c->token);
            c->token = fresh;
        } else {
            /* Keep the last good token; the server decides whether it still works. */
            svc_log(c->host, FCB_LOG_WARN, KUBE_LOG_NAME, "cannot re-read the token file", "error",
                    read_err.message, NULL);
        }
        c->token_read_ms = http_now_ms();
    }
    if (rc == FCB_OK && c->token != NULL && (*bearer = svc_strdup(c->host, c->token)) == NULL)
        rc = err_set(err, FCB_ERR_NO_MEMORY, "out of memory");
    const mem_file *cf = c->exec_cert.fd >= 0 ? &c->exec_cert : &c->cert;
    const mem_file *kf = c->exec_key.fd >= 0 ? &c->exec_key : &c->key;
    snprintf(cert, 40, "%s", cf->path);
    snprintf(key, 40, "%s", kf->path);
    pthread_mutex_unlock(&c->auth_lock);
    return rc;
}

/* ---------------------------------------------------------------------- */
/* requests                                                                 */

kube_conn *kube_conn_new(kube_client *client)
{
    kube_conn *k = svc_calloc(client->host, 1, sizeof *k);
    if (k == NULL)
        return NULL;
    k->multi = curl_multi_init();
    k->easy = curl_easy_init();
    if (k->multi == NULL || k->easy == NULL) {
        kube_conn_free(client, k);
        return NULL;
    }
    /* One keep-alive connection per slot: the pool's size is the connection cap. */
    curl_multi_setopt(k->multi, CURLMOPT_MAXCONNECTS, 1L);
    return k;
}

void kube_conn_free(kube_client *client, kube_conn *conn)
{
    if (conn == NULL)
        return;
    curl_easy_cleanup(conn->easy);
    curl_multi_cleanup(conn->multi);
    svc_free(client->host, conn);
}

/* Under pool_lock: unlink W from the waiter queue (if queued). */
static void waiter_unlink(kube_client *c, pool_waiter *w)
{
    pool_waiter *prev = NULL;
    for (pool_waiter *p = c->wait_head; p != NULL; prev = p, p = p->next) {
        if (p != w)
            continue;
        if (prev != NULL)
            prev->next = p->next;
        else
            c->wait_head = p->next;
        if (c->wait_tail == p)
            c->wait_tail = prev;
        p->next = NULL;
        return;
    }
}

/* Under pool_lock: hand K to the longest waiter, else put it on the idle list. */
static void conn_release_locked(kube_client *c, kube_conn *k)
{
    pool_waiter *w = c->wait_head;
    if (w != NULL) {
        c->wait_head = w->next;
        if (c->wait_tail == w)
            c->wait_tail = NULL;
        w->next = NULL;
        w->granted = k;
        pthread_cond_signal(&w->cond);
        return;
    }
    k->next = c->idle;
    c->idle = k;
}

/* Under pool_lock: the first waiter re-checks (a slot may be creatable again). */
static void wake_head_locked(kube_client *c)
{
    if (c->wait_head != NULL) {
        c->wait_head->wake = true;
        pthread_cond_signal(&c->wait_head->cond);
    }
}

static void conn_release(kube_client *c, kube_conn *k)
{
    pthread_mutex_lock(&c->pool_lock);
    conn_release_locked(c, k);
    pthread_mutex_unlock(&c->pool_lock);
}

/* Under pool_lock: an idle slot, or the right to create one (*create). */
static kube_conn *conn_take_locked(kube_client *c, bool *create)
{
    *create = false;
    kube_conn *k = c->idle;
    if (k != NULL) {
        c->idle = k->next;
        k->next = NULL;
        return k;
    }
    if (c->n_slots < c->max_connections) {
        c->n_slots++;
        *create = true;
    }
    return NULL;
}

static void timespec_at(struct timespec *ts, uint64_t wait_ms)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += (time_t)(wait_ms / 1000);
    ts->tv_nsec += (long)(wait_ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

/*
 * A request slot of the pool, reset for a new transfer: an idle one, a new
 * one while fewer than max_connections exist, else the next one released
 * (FIFO among waiters). Waits until DEADLINE (0 = none) unless cancelled or
 * *STOP is raised. Returns FCB_OK, FCB_ERR_TIMEOUT, FCB_ERR_CANCELLED or
 * FCB_ERR_NO_MEMORY (a new slot could not be made).
 */
static int conn_acquire(kube_client *c, const atomic_bool *stop, uint64_t deadline, kube_conn **out)
{
    bool create = false;
    int rc = FCB_OK;
    *out = NULL;
    pthread_mutex_lock(&c->pool_lock);
    kube_conn *k = c->wait_head == NULL ? conn_take_locked(c, &create) : NULL;
    if (k == NULL && !create) {
        pool_waiter w = {.granted = NULL, .wake = false, .next = NULL};
        pthread_condattr_t attr;
        pthread_condattr_init(&attr);
        pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
        pthread_cond_init(&w.cond, &attr);
        pthread_condattr_destroy(&attr);
        /* W lives on this stack frame only while queued: every way out of
         * the loop below unlinks it (or the releaser did) before returning. */
        if (c->wait_tail != NULL)
            c->wait_tail->next = &w;
        else
            c->wait_head = &w; // cppcheck-suppress autoVariables
        c->wait_tail = &w;     // cppcheck-suppress autoVariables
        atomic_fetch_add(&c->slot_waits, 1);
        /* Bounded by DEADLINE; every wait is at most POOL_POLL_MS. */
        for (;;) {
            if (w.granted != NULL) {
                k = w.granted;
                break;
            }
            if (atomic_load(&c->cancelled) || (stop != NULL && atomic_load(stop))) {
                rc = FCB_ERR_CANCELLED;
                break;
            }
            uint64_t now = http_now_ms();
            if (deadline != 0 && now >= deadline) {
                rc = FCB_ERR_TIMEOUT;
                break;
            }
            if (c->wait_head == &w && (k = conn_take_locked(c, &create)) != NULL)
                break;
            if (create)
                break;
            uint64_t wait = POOL_POLL_MS;
            if (deadline != 0 && deadline - now < wait)
                wait = deadline - now;
            struct timespec ts;
            timespec_at(&ts, wait);
            w.wake = false;
            /* Spurious wakeups and timeouts only re-run the checks above. */
            while (w.granted == NULL && !w.wake &&
                   pthread_cond_timedwait(&w.cond, &c->pool_lock, &ts) == 0)
                ;
        }
        if (w.granted == NULL)
            waiter_unlink(c, &w);
        /* Whoever queues behind us may now be first and able to take a slot. */
        if (rc != FCB_OK || k != NULL || create)
            wake_head_locked(c);
        pthread_cond_destroy(&w.cond);
    }
    pthread_mutex_unlock(&c->pool_lock);
    if (rc != FCB_OK)
        return rc;
    if (create) {
        k = kube_conn_new(c);
        if (k == NULL) {
            pthread_mutex_lock(&c->pool_lock);
            c->n_slots--;
            wake_head_locked(c);
            pthread_mutex_unlock(&c->pool_lock);
            return FCB_ERR_NO_MEMORY;
        }
        *out = k;
        return FCB_OK;
    }
    curl_easy_reset(k->easy);
    *out = k;
    return FCB_OK;
}

void kube_call_free(kube_client *client, kube_call *call)
{
    if (call->conn != NULL) {
        /* Options point into this call's memory: drop them before pooling. */
        curl_easy_setopt(call->easy, CURLOPT_HTTPHEADER, NULL);
        curl_easy_setopt(call->easy, CURLOPT_ERRORBUFFER, NULL);
        if (call->pooled)
            conn_release(client, call->conn);
    }
    /* The Authorization header lives in libcurl's memory: wipe it too. */
    for (struct curl_slist *h = call->headers; h != NULL; h = h->next)
        explicit_bzero(h->data, strlen(h->data));
    curl_slist_free_all(call->headers);
    svc_free(client->host, call->url);
    kube_secret_free(client->host, call->bearer);
    memset(call, 0, sizeof *call);
}

int kube_call_prepare(kube_client *client, kube_call *call, kube_conn *stream,
                      const atomic_bool *stop, uint64_t deadline_ms, const char *method,
                      const char *path, const char *content_type, const char *body, size_t body_len,
                      bool force_refresh, const char *accept, http_capture *cap, fcb_error *err)
{
    kube_client *c = client;
    char cert[40], key[40];
    bool failed = false;
    int path_len = (int)strcspn(path, "?");
    memset(call, 0, sizeof *call);
    int rc = auth_snapshot(c, force_refresh, &call->bearer, cert, key, err);
    if (rc != FCB_OK)
        return rc;
    call->url = svc_sprintf(c->host, "%s%s", c->base_url, path);
    if (call->url == NULL)
        goto nomem;
    if (stream != NULL) {
        curl_easy_reset(stream->easy);
        call->conn = stream;
    } else {
        rc = conn_acquire(c, stop, deadline_ms, &call->conn);
        if (rc == FCB_ERR_NO_MEMORY)
            goto nomem;
        if (rc != FCB_OK) {
            kube_call_free(c, call);
            if (rc == FCB_ERR_CANCELLED)
                return err_set(err, rc, "k8s %s %.*s: cancelled", method, path_len, path);
            return err_set(err, rc,
                           "k8s %s %.*s: no free connection to %s within the deadline (all %u "
                           "in use; FAKECLOUD_K8S_MAX_CONNECTIONS)",
                           method, path_len, path, c->server_shown, c->max_connections);
        }
        call->pooled = true;
    }
    call->easy = call->conn->easy;
    unsigned long timeout_ms = 0;
    if (deadline_ms != 0) {
        uint64_t now = http_now_ms();
        if (now >= deadline_ms) {
            kube_call_free(c, call);
            return err_set(err, FCB_ERR_TIMEOUT, "k8s %s %.*s: deadline passed before sending",
                           method, path_len, path);
        }
        timeout_ms = (unsigned long)(deadline_ms - now);
    }
    CURL *e = call->easy;
    http_easy_defaults(e, KUBE_USER_AGENT, CONNECT_TIMEOUT_MS, 0);
    curl_easy_setopt(e, CURLOPT_URL, call->url);
    curl_easy_setopt(e, CURLOPT_SHARE, c->share);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, call->errbuf);
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
    curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
    if (timeout_ms > 0)
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS,
                         (long)(timeout_ms > LONG_MAX ? LONG_MAX : timeout_ms));
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, c->cfg->insecure ? 0L : 1L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, c->cfg->insecure ? 0L : 2L);
    if (c->ca.fd >= 0) {
        curl_easy_setopt(e, CURLOPT_CAINFO, c->ca.path);
        curl_easy_setopt(e, CURLOPT_CAPATH, NULL); /* only the kubeconfig's CA */
    }
    if (cert[0] != '\0') {
        curl_easy_setopt(e, CURLOPT_SSLCERT, cert);
        curl_easy_setopt(e, CURLOPT_SSLCERTTYPE, "PEM");
        curl_easy_setopt(e, CURLOPT_SSLKEY, key);
        curl_easy_setopt(e, CURLOPT_SSLKEYTYPE, "PEM");
    }
    if (c->connect_to != NULL)
        curl_easy_setopt(e, CURLOPT_CONNECT_TO, c->connect_to);
    if (c->cfg->proxy_url != NULL)
        curl_easy_setopt(e, CURLOPT_PROXY, c->cfg->proxy_url);
    else
        curl_easy_setopt(e, CURLOPT_PROXY, ""); /* never pick up *_proxy from the env */
    if (c->cfg->username != NULL && call->bearer == NULL) {
        curl_easy_setopt(e, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        curl_easy_setopt(e, CURLOPT_USERNAME, c->cfg->username);
        curl_easy_setopt(e, CURLOPT_PASSWORD, c->cfg->password);
    }
    http_headers_add(&call->headers, accept != NULL ? accept : "Accept: application/json", &failed);
    http_headers_add(&call->headers, "Expect:", &failed);
    if (call->bearer != NULL) {
        char *h = svc_sprintf(c->host, "Authorization: Bearer %s", call->bearer);
        if (h == NULL)
            goto nomem;
        http_headers_add(&call->headers, h, &failed);
        kube_secret_free(c->host, h);
    }
    if (body != NULL) {
        char *h = svc_sprintf(c->host, "Content-Type: %s",
                              content_type != NULL ? content_type : "application/json");
        if (h == NULL)
            goto nomem;
        http_headers_add(&call->headers, h, &failed);
        svc_free(c->host, h);
    }
    if (failed)
        goto nomem;
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, call->headers);
    if (strcmp(method, "GET") == 0) {
        curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    } else if (strcmp(method, "HEAD") == 0) {
        curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
    } else {
        if (strcmp(method, "POST") != 0)
            curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
        else
            curl_easy_setopt(e, CURLOPT_POST, 1L);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(body != NULL ? body_len : 0));
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, body != NULL ? body : "");
    }
    http_capture_attach(cap, e);
    return FCB_OK;
nomem:
    kube_call_free(c, call);
    return err_set(err, FCB_ERR_NO_MEMORY, "out of memory");
}

int kube_call_transport_error(kube_client *client, const kube_call *call, CURLcode code,
                              const char *method, const char *path, fcb_error *err)
{
    const char *detail = call->errbuf[0] != '\0' ? call->errbuf : curl_easy_strerror(code);
    size_t path_len = strcspn(path, "?");
    if (http_error_is_tls(code))
        return err_set(err, FCB_ERR_UNAVAILABLE,
                       "k8s %s %.*s: TLS connection to %s failed: %s (check "
                       "certificate-authority / client certificate in %s)",
                       method, (int)path_len, path, client->server_shown, detail,
                       client->cfg->origin);
    return err_set(err, FCB_ERR_UNAVAILABLE, "k8s %s %.*s: cannot reach %s: %s", method,
                   (int)path_len, path, client->server_shown, detail);
}

void kube_response_clear(const kube_client *client, kube_response *resp)
{
    json_object_put(resp->body);
    svc_free(client->host, resp->raw);
    memset(resp, 0, sizeof *resp);
}

static bool method_idempotent(const char *method)
{
    return strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0 ||
           strcmp(method, "PUT") == 0 || strcmp(method, "DELETE") == 0 ||
           strcmp(method, "OPTIONS") == 0;
}

static bool status_retryable(long status)
{
    return status == 500 || status == 502 || status == 503 || status == 504;
}

/* Parse CAP's body into RESP (JSON unless RAW). */
static int take_body(kube_client *c, http_capture *cap, unsigned flags, kube_response *resp,
                     const char *method, const char *path, fcb_error *err)
{
    /* Error answers are Status objects whatever the caller wanted: parse them. */
    if ((flags & KUBE_REQ_RAW) && resp->status >= 200 && resp->status < 300) {
        resp->raw = sbuf_steal(&cap->body, &resp->raw_len);
        if (resp->raw == NULL)
            return err_set(err, FCB_ERR_NO_MEMORY, "out of memory");
        return FCB_OK;
    }
    if (cap->body.len == 0)
        return FCB_OK;
    json_tokener *tok = json_tokener_new_ex(128);
    if (tok == NULL)
        return err_set(err, FCB_ERR_NO_MEMORY, "out of memory");
    if (cap->body.len <= INT_MAX)
        resp->body = json_tokener_parse_ex(tok, cap->body.data, (int)cap->body.len);
    json_tokener_free(tok);
    if (resp->body == NULL && resp->status >= 200 && resp->status < 300)
        return err_set(err, FCB_ERR_BACKEND, "k8s %s %.*s: %ld response is not valid JSON", method,
                       (int)strcspn(path, "?"), path, resp->status);
    (void)c;
    return FCB_OK;
}

static void err_suffix(fcb_error *err, const char *fmt, unsigned n)
{
    if (err == NULL)
        return;
    size_t len = strlen(err->message);
    if (len + 1 < sizeof err->message)
        snprintf(err->message + len, sizeof err->message - len, fmt, n);
}

int kube_request(kube_client *client, const char *method, const char *path,
                 const char *content_type, const char *body, size_t body_len, unsigned flags,
                 unsigned deadline_ms, kube_response *resp, fcb_error *err)
{
    return kube_request_stoppable(client, method, path, content_type, body, body_len, flags,
                                  deadline_ms, NULL, resp, err);
}

int kube_request_stoppable(kube_client *client, const char *method, const char *path,
                           const char *content_type, const char *body, size_t body_len,
                           unsigned flags, unsigned deadline_ms, const atomic_bool *stop,
                           kube_response *resp, fcb_error *err)
{
    kube_client *c = client;
    http_capture cap;
    int rc = FCB_OK;
    bool auth_retried = false;
    bool idempotent = method_idempotent(method) || (flags & KUBE_REQ_CREATE) != 0;
    unsigned max_attempts = (flags & KUBE_REQ_NO_RETRY)         ? 1
                            : (flags & KUBE_REQ_UNTIL_DEADLINE) ? KUBE_UNTIL_DEADLINE_ATTEMPTS
                                                                : c->max_attempts;
    uint64_t deadline = http_now_ms() + (deadline_ms != 0 ? deadline_ms : c->deadline_ms);
    unsigned attempt = 0;
    memset(resp, 0, sizeof *resp);
    http_capture_init(&cap, c->host, c->body_limit);

    /* Bounded by max_attempts (+1 for one credential refresh) and the deadline. */
    for (;;) {
        kube_call call;
        CURLcode code = CURLE_OK;
        bool force = false;
        attempt++;
        if (attempt > 1) {
            resp->retried = true;
        }
        if (atomic_load(&c->cancelled) || (stop != NULL && atomic_load(stop))) {
            rc = err_set(err, FCB_ERR_CANCELLED, "k8s %s %.*s: cancelled", method,
                         (int)strcspn(path, "?"), path);
            goto out;
        }
        uint64_t now = http_now_ms();
        if (now >= deadline) {
            rc = err_set(err, FCB_ERR_TIMEOUT, "k8s %s %.*s: deadline passed after %u attempts",
                         method, (int)strcspn(path, "?"), path, attempt - 1);
            goto out;
        }
        force = auth_retried && resp->status == 401;
        http_capture_reset(&cap);
        json_object_put(resp->body);
        resp->body = NULL;
        resp->status = 0;
        resp->reason[0] = '\0';
        rc = kube_call_prepare(
            c, &call, NULL, stop, deadline, method, path, content_type, body, body_len, force,
            (flags & KUBE_REQ_METADATA) ? KUBE_ACCEPT_METADATA_LIST : NULL, &cap, err);
        if (rc != FCB_OK)
            goto out;
        kube_client_count(c, KUBE_STAT_REQUEST);
        http_run_result run =
            http_run(call.conn->multi, call.easy, &c->cancelled, stop, deadline, &code);
        if (run == HTTP_RUN_DONE && code == CURLE_OK)
            curl_easy_getinfo(call.easy, CURLINFO_RESPONSE_CODE, &resp->status);
        bool retry = false;
        if (run == HTTP_RUN_STOPPED) {
            rc = err_set(err, FCB_ERR_CANCELLED, "k8s %s %.*s: cancelled", method,
                         (int)strcspn(path, "?"), path);
        } else if (run == HTTP_RUN_DEADLINE ||
                   (run == HTTP_RUN_DONE && code == CURLE_OPERATION_TIMEDOUT &&
                    http_now_ms() + 5 >= deadline)) {
            rc = err_set(err, FCB_ERR_TIMEOUT,
                         "k8s %s %.*s: no response from %s within the deadline", method,
                         (int)strcspn(path, "?"), path, c->server_shown);
        } else if (run == HTTP_RUN_FAILED) {
            rc = err_set(err, FCB_ERR_NO_MEMORY, "k8s %s %.*s: curl multi failure", method,
                         (int)strcspn(path, "?"), path);
        } else if (cap.too_large || code == CURLE_FILESIZE_EXCEEDED) {
            rc = err_set(err, FCB_ERR_BACKEND,
                         "k8s %s %.*s: response body larger than the %zu byte limit", method,
                         (int)strcspn(path, "?"), path, c->body_limit);
        } else if (code != CURLE_OK) {
            rc = kube_call_transport_error(c, &call, code, method, path, err);
            /* Garbage instead of HTTP will not improve by asking again. */
            bool garbage = code == CURLE_WEIRD_SERVER_REPLY || code == CURLE_UNSUPPORTED_PROTOCOL;
            retry = !http_error_is_tls(code) && !garbage &&
                    (idempotent || http_error_before_send(code));
        } else if (resp->status == 401 && !auth_retried &&
                   (c->cfg->exec != NULL || c->cfg->token_file != NULL)) {
            /* Rotated token or expired exec credential: refresh once. */
            auth_retried = true;
            kube_call_free(c, &call);
            attempt--; /* the refresh does not count as a failure retry */
            continue;
        } else {
            rc = take_body(c, &cap, flags, resp, method, path, err);
            if (rc == FCB_OK && (resp->status < 200 || resp->status >= 300)) {
                kube_status_reason(resp->status, resp->body, resp->reason, sizeof resp->reason);
                rc = kube_status_error(err, kube_status_code(resp->status), method, path,
                                       resp->status, resp->body, cap.body.data, cap.body.len);
                retry = resp->status == 429 || (status_retryable(resp->status) && idempotent);
            }
        }
        kube_call_free(c, &call);
        if (!retry || attempt >= max_attempts)
            break;
        uint64_t delay = kube_client_backoff_ms(c, attempt);
        if (resp->status == 429 && cap.retry_after_s >= 0) {
            uint64_t asked = (uint64_t)cap.retry_after_s * 1000u;
            /* Until the deadline, "Retry-After: 0" must not become a busy loop. */
            if (!(flags & KUBE_REQ_UNTIL_DEADLINE) || asked > delay)
                delay = asked;
        }
        now = http_now_ms();
        if (now + delay >= deadline) {
            /* Waiting would pass the deadline: report the last failure now. */
            break;
        }
        svc_log(c->host, FCB_LOG_DEBUG, KUBE_LOG_NAME, "retrying Kubernetes request", "method",
                method, "path", path, "error", err != NULL ? err->message : "", NULL);
        kube_client_count(c, KUBE_STAT_RETRY);
        if (!kube_client_sleep(c, delay, stop)) {
            rc = err_set(err, FCB_ERR_CANCELLED, "k8s %s %.*s: cancelled", method,
                         (int)strcspn(path, "?"), path);
            goto out;
        }
        if (flags & KUBE_REQ_RAW) {
            svc_free(c->host, resp->raw);
            resp->raw = NULL;
            resp->raw_len = 0;
        }
    }
    if (rc != FCB_OK && attempt > 1 && rc != FCB_ERR_CANCELLED)
        err_suffix(err, " (after %u attempts)", attempt);
out:
    http_capture_free(&cap);
    return rc;
}
