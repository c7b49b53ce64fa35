/*
 * kube_client: the client object. Owns the kubeconfig, the base URL (with
 * the tls-server-name rewrite), the curl share handle, and the three parts
 * it is made of, each behind its own lock: the pool (kube_pool.c), the
 * credentials (kube_auth.c) and the cancellable sleep of retries; requests
 * are kube_request.c's.
 */
#include "kube_client.h"

#include "http.h"
#include "kube_client_internal.h"
#include "kube_config.h"
#include "svc.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#define DEFAULT_USER_AGENT "fakecloud-backend-k8s/0.1.0"

void kube_client_options_init(kube_client_options *out)
{
    memset(out, 0, sizeof *out);
    out->request_timeout_ms = 30000u;
    out->max_attempts = 6u;
    out->max_connections = 3u;
    out->retry_base_ms = 100u;
    out->retry_cap_ms = 2000u;
    out->token_reread_ms = 60000u;
    out->exec_timeout_ms = 30000u;
    out->watch_timeout_s = 290u;
    out->list_page_size = 500u;
    out->max_response_bytes = 64u << 20;
    out->connect_timeout_ms = 10000u;
    out->user_agent = DEFAULT_USER_AGENT;
}

/* FCB_OK, or FCB_ERR_INVALID_ARGUMENT naming the first option out of its range. */
static int options_check(const kube_client_options *o, fcb_error *err)
{
    const struct {
        const char *name;
        size_t value, min, max;
    } range[] = {
        {"request_timeout_ms", o->request_timeout_ms, 1, 3600000},
        {"max_attempts", o->max_attempts, 1, 100},
        {"max_connections", o->max_connections, 1, 64},
        {"retry_base_ms", o->retry_base_ms, 1, 600000},
        {"retry_cap_ms", o->retry_cap_ms, 1, 600000},
        {"token_reread_ms", o->token_reread_ms, 0, 86400000},
        {"exec_timeout_ms", o->exec_timeout_ms, 1, 600000},
        {"watch_timeout_s", o->watch_timeout_s, 1, 3600},
        {"list_page_size", o->list_page_size, 1, 100000},
        {"max_response_bytes", o->max_response_bytes, 1024, (size_t)1 << 30},
        {"connect_timeout_ms", o->connect_timeout_ms, 1, 600000},
    };
    for (size_t i = 0; i < sizeof range / sizeof range[0]; i++)
        if (range[i].value < range[i].min || range[i].value > range[i].max)
            return err_set(err, FCB_ERR_INVALID_ARGUMENT,
                           "kube client options: %s %zu is not between %zu and %zu", range[i].name,
                           range[i].value, range[i].min, range[i].max);
    if (o->user_agent == NULL || o->user_agent[0] == '\0')
        return err_set(err, FCB_ERR_INVALID_ARGUMENT, "kube client options: user_agent is empty");
    return FCB_OK;
}

static void share_lock(CURL *handle, curl_lock_data data, curl_lock_access access, void *ctx)
{
    kube_client *c = ctx;
    (void)handle;
    (void)access;
    if ((int)data >= 0 && data < CURL_LOCK_DATA_LAST)
        pthread_mutex_lock(&c->share_locks[data]);
}

static void share_unlock(CURL *handle, curl_lock_data data, void *ctx)
{
    kube_client *c = ctx;
    (void)handle;
    if ((int)data >= 0 && data < CURL_LOCK_DATA_LAST)
        pthread_mutex_unlock(&c->share_locks[data]);
}

/*
 * Connect to the real host but speak TLS (SNI + verification) for
 * tls-server-name: rewrite the URL's host and add a CONNECT_TO entry (curl
 * 7.88 has no SNI override). U holds the server URL.
 */
static int setup_server_name(kube_client *c, CURLU *u, const char *hostname, const char *port,
                             fcb_error *err)
{
    char *url = NULL;
    if (curl_url_set(u, CURLUPART_HOST, c->cfg->tls_server_name, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_URL, &url, 0) != CURLUE_OK) {
        char shown[KUBE_SHOWN_SIZE];
        return err_set(err, FCB_ERR_CONFIG, "%s: tls-server-name: '%s' is not a valid host name",
                       c->cfg->origin, kube_shown(shown, c->cfg->tls_server_name));
    }
    size_t ulen = strlen(url);
    while (ulen > 0 && url[ulen - 1] == '/')
        ulen--;
    c->base_url = svc_strndup(c->host, url, ulen);
    curl_free(url);
    char *entry =
        svc_sprintf(c->host, "%s:%s:%s:%s", c->cfg->tls_server_name, port, hostname, port);
    if (c->base_url != NULL && entry != NULL)
        c->connect_to = curl_slist_append(NULL, entry);
    svc_free(c->host, entry);
    if (c->connect_to == NULL)
        return err_set(err, FCB_ERR_NO_MEMORY, "out of memory");
    return FCB_OK;
}

/* Build base_url / connect_to from the kubeconfig's server. */
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
    } else if (c->cfg->tls_server_name == NULL || strcmp(scheme, "https") != 0) {
        c->base_url = svc_strdup(c->host, c->cfg->server);
        if (c->base_url == NULL)
            rc = err_set(err, FCB_ERR_NO_MEMORY, "out of memory");
    } else {
        rc = setup_server_name(c, u, hostname, port, err);
    }
    curl_free(scheme);
    curl_free(hostname);
    curl_free(port);
    curl_url_cleanup(u);
    return rc;
}

static int setup_share(kube_client *c, fcb_error *err)
{
    c->share = curl_share_init();
    if (c->share == NULL)
        return err_set(err, FCB_ERR_NO_MEMORY, "out of memory");
    curl_share_setopt(c->share, CURLSHOPT_LOCKFUNC, share_lock);
    curl_share_setopt(c->share, CURLSHOPT_UNLOCKFUNC, share_unlock);
    curl_share_setopt(c->share, CURLSHOPT_USERDATA, c);
    curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
    curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
    return FCB_OK;
}

/* The client's memory, locks and pool, before anything can fail. */
static kube_client *client_alloc(const fcb_host_services *host, const kube_client_options *opts)
{
    kube_client *c = svc_calloc(host, 1, sizeof *c);
    if (c == NULL)
        return NULL;
    c->host = host;
    c->opts = *opts;
    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
        pthread_mutex_init(&c->share_locks[i], NULL);
    pthread_mutex_init(&c->sleep_lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&c->sleep_cond, &attr);
    pthread_condattr_destroy(&attr);
    atomic_init(&c->cancelled, false);
    kube_pool_init(&c->pool, host, opts->max_connections, &c->cancelled);
    return c;
}

static void log_configured(const kube_client *c)
{
    unsigned flags = c->opts.flags;
    if (c->cfg->insecure && !(flags & KUBE_CLIENT_QUIET))
        svc_log(c->host, FCB_LOG_WARN, KUBE_LOG_NAME,
                "TLS verification of the API server is disabled (insecure-skip-tls-verify)",
                "server", c->server_shown, "config", c->cfg->origin, NULL);
    char shown_context[KUBE_SHOWN_SIZE];
    const char *auth = c->cfg->exec != NULL         ? "exec"
                       : c->cfg->token_file != NULL ? "token-file"
                       : c->cfg->token != NULL      ? "token"
                       : c->cfg->cert_pem != NULL   ? "client-certificate"
                       : c->cfg->username != NULL   ? "basic"
                                                    : "none";
    svc_log(c->host, (flags & KUBE_CLIENT_QUIET) ? FCB_LOG_DEBUG : FCB_LOG_INFO, KUBE_LOG_NAME,
            "Kubernetes client configured", "server", c->server_shown, "config", c->cfg->origin,
            "context", kube_shown(shown_context, c->cfg->context), "namespace", c->cfg->namespace,
            "auth", auth, NULL);
}

int kube_client_open(const fcb_host_services *host, const kube_client_options *opts,
                     kube_client **out, fcb_error *err)
{
    kube_client_options defaults;
    *out = NULL;
    if (opts == NULL) {
        kube_client_options_init(&defaults);
        opts = &defaults;
    }
    int rc = options_check(opts, err);
    if (rc != FCB_OK)
        return rc;
    if (!http_global_init())
        return err_set(err, FCB_ERR_INTERNAL, "curl_global_init failed");
    kube_client *c = client_alloc(host, opts);
    if (c == NULL)
        return err_set(err, FCB_ERR_NO_MEMORY, "out of memory");
    c->user_agent_copy = svc_strdup(host, opts->user_agent);
    if (c->user_agent_copy == NULL) {
        rc = err_set(err, FCB_ERR_NO_MEMORY, "out of memory");
        goto fail;
    }
    c->opts.user_agent = c->user_agent_copy;
    rc = kube_config_load(host, &c->cfg, err);
    if (rc != FCB_OK)
        goto fail;
    kube_url_shown(c->server_shown, c->cfg->server);
    rc = setup_url(c, err);
    if (rc != FCB_OK)
        goto fail;
    c->auth_ready = true;
    rc = kube_auth_init(&c->auth, host, c->cfg, opts->token_reread_ms, opts->exec_timeout_ms,
                        &c->cancelled, err);
    if (rc == FCB_OK)
        rc = setup_share(c, err);
    if (rc != FCB_OK)
        goto fail;
    log_configured(c);
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
    kube_pool_destroy(&client->pool);
    if (client->share != NULL)
        curl_share_cleanup(client->share);
    curl_slist_free_all(client->connect_to);
    if (client->auth_ready)
        kube_auth_destroy(&client->auth);
    svc_free(host, client->base_url);
    svc_free(host, client->user_agent_copy);
    kube_config_free(host, client->cfg);
    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
        pthread_mutex_destroy(&client->share_locks[i]);
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
    kube_pool_wake(&client->pool);
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
    kube_client *c = (kube_client *)client; /* atomics and the pool lock only */
    out->requests = atomic_load(&c->requests);
    out->retries = atomic_load(&c->retries);
    out->watch_restarts = atomic_load(&c->watch_restarts);
    out->relists = atomic_load(&c->relists);
    kube_pool_stats(&c->pool, &out->connections, &out->slot_waits);
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

uint64_t kube_client_backoff_ms(kube_client *client, unsigned attempt)
{
    uint64_t cap = client->opts.retry_cap_ms;
    uint64_t ceiling = client->opts.retry_base_ms;
    for (unsigned i = 1; i < attempt && ceiling < cap; i++)
        ceiling *= 2;
    if (ceiling > cap)
        ceiling = cap;
    return xorshift_next() % (ceiling + 1);
}
