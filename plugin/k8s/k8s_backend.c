/*
 * k8s_backend: open and close of a k8s backend instance, in-flight
 * tracking, and the lazy start of the shared watch and the token Secret.
 *
 * The operations live in k8s_launch.c (launch, prepull) and
 * k8s_terminate.c (terminate, reap_stale); the watch's waiters in
 * k8s_waiters.c; owned creates and deletes in k8s_objects.c. close() marks
 * the instance closing, wakes every waiter and cancels the client, waits
 * until no operation is in flight, then deletes with a second, uncancelled
 * client what interrupted launches left (their Pods, the token Secret).
 * The watch and the Secret are started by the first launch or prepull, not
 * at open: terminate and reap_stale need neither.
 */
#include "k8s_internal.h"
#include "k8s_objects.h"
#include "k8s_waiters.h"

#include "names.h"
#include "svc.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------ time */

uint64_t k8s_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

struct timespec k8s_abs_ms(uint64_t at_ms)
{
    struct timespec ts = {.tv_sec = (time_t)(at_ms / 1000u),
                          .tv_nsec = (long)((at_ms % 1000u) * 1000000u)};
    return ts;
}

unsigned k8s_remaining(uint64_t deadline)
{
    uint64_t now = k8s_now_ms();
    return now >= deadline ? 0 : (unsigned)(deadline - now);
}

int k8s_cond_init(pthread_cond_t *cond)
{
    pthread_condattr_t attr;
    if (pthread_condattr_init(&attr) != 0)
        return -1;
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    int rc = pthread_cond_init(cond, &attr);
    pthread_condattr_destroy(&attr);
    return rc;
}

/* ------------------------------------------------------------ ids */

void k8s_random_hex(char *out, size_t bytes)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char buf[16];
    size_t got = 0;

    if (bytes > sizeof buf)
        bytes = sizeof buf;
    for (int tries = 0; got < bytes && tries < 8; tries++) {
        ssize_t n = getrandom(buf + got, bytes - got, 0);
        if (n > 0)
            got += (size_t)n;
        else if (n < 0 && errno != EINTR)
            break;
    }
    if (got < bytes) {
        /* No getrandom: mix time and addresses (uniqueness, not secrecy). */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        uint64_t x = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20) ^ (uint64_t)(uintptr_t)out ^
                     ((uint64_t)getpid() << 40);
        for (size_t i = got; i < bytes; i++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            buf[i] = (unsigned char)x;
        }
    }
    for (size_t i = 0; i < bytes; i++) {
        out[2 * i] = hex[buf[i] >> 4];
        out[2 * i + 1] = hex[buf[i] & 15];
    }
    out[2 * bytes] = '\0';
}

void k8s_nonce_new(fcb_backend *b, char out[33])
{
    k8s_random_hex(out, 8);
    pthread_mutex_lock(&b->lock);
    uint64_t seq = ++b->launches;
    pthread_mutex_unlock(&b->lock);
    snprintf(out + 16, 33 - 16, "%016llx", (unsigned long long)seq);
}

/* ------------------------------------------------------------ in flight */

/* Count an operation in flight (close() waits for it); FCB_ERR_CANCELLED once closing. */
int k8s_op_begin(fcb_backend *b, fcb_error *err)
{
    int rc = FCB_OK;
    pthread_mutex_lock(&b->lock);
    if (b->closing)
        rc = err_set(err, FCB_ERR_CANCELLED, "backend is closing");
    else
        b->inflight++;
    pthread_mutex_unlock(&b->lock);
    return rc;
}

void k8s_op_end(fcb_backend *b)
{
    pthread_mutex_lock(&b->lock);
    if (--b->inflight == 0)
        pthread_cond_broadcast(&b->idle);
    pthread_mutex_unlock(&b->lock);
}

/*
 * Hand NODE (allocated when the launch started, so this cannot fail) to
 * close() for deletion of NAME. Called with b->lock held.
 */
static void k8s_orphan_add_locked(fcb_backend *b, k8s_orphan **node, const char *name)
{
    k8s_orphan *o = *node;
    *node = NULL;
    snprintf(o->name, sizeof o->name, "%s", name);
    o->next = b->orphans;
    b->orphans = o;
}

/* Delete a Pod a failed launch created, or leave it to close(). */
void k8s_launch_cleanup(fcb_backend *b, const char *name, k8s_orphan **node)
{
    fcb_error err = FCB_ERROR_INIT;
    bool closing;

    pthread_mutex_lock(&b->lock);
    closing = b->closing;
    if (closing)
        k8s_orphan_add_locked(b, node, name);
    pthread_mutex_unlock(&b->lock);
    if (closing)
        return;
    int rc = k8s_delete_ours(b, b->client, "pods", name, &err);
    if (rc == FCB_ERR_CANCELLED) {
        pthread_mutex_lock(&b->lock);
        k8s_orphan_add_locked(b, node, name);
        pthread_mutex_unlock(&b->lock);
    } else if (rc != FCB_OK) {
        svc_log(b->host, FCB_LOG_WARN, K8S_PLUGIN_NAME,
                "could not delete the pod of a failed launch; reap_stale of a later instance "
                "removes it",
                "pod", name, "namespace", b->ns, "error", err.message, NULL);
    }
}

/* ------------------------------------------------------------ lazy start */

int k8s_ensure_started(fcb_backend *b, bool secret, fcb_error *err)
{
    int rc = FCB_OK;
    char selector[128];

    pthread_mutex_lock(&b->setup_lock);
    if (b->watch == NULL) {
        k8s_selector_ours(b->instance_id, selector, sizeof selector);
        rc = kube_watch_start(b->client, b->pods_path, selector, k8s_waiters_on_event, b, &b->watch,
                              err);
        if (rc != FCB_OK)
            err_prefix(err, "k8s backend: cannot watch pods in namespace %s", b->ns);
        else
            svc_log(b->host, FCB_LOG_DEBUG, K8S_PLUGIN_NAME, "pod watch started", "namespace",
                    b->ns, "instance", b->instance_id, NULL);
    }
    if (rc == FCB_OK && secret && b->token != NULL && !b->have_secret) {
        rc = k8s_secret_create(b, err);
        if (rc == FCB_OK)
            svc_log(b->host, FCB_LOG_DEBUG, K8S_PLUGIN_NAME, "token Secret created", "secret",
                    b->secret_name, "namespace", b->ns, NULL);
    }
    pthread_mutex_unlock(&b->setup_lock);
    return rc;
}

/* ------------------------------------------------------------ open/close */

static void k8s_backend_free(fcb_backend *b)
{
    const fcb_host_services *host = b->host;
    kube_watch_stop(b->watch);
    kube_client_free(b->client);
    kube_client_free(b->cleanup);
    for (k8s_orphan *o = b->orphans, *next = NULL; o != NULL; o = next) {
        next = o->next;
        svc_free(host, o);
    }
    b->orphans = NULL;
    k8s_config_free(host, b->cfg);
    svc_free(host, b->ns);
    if (b->token != NULL) {
        explicit_bzero(b->token, strlen(b->token));
        svc_free(host, b->token);
    }
    pthread_cond_destroy(&b->idle);
    pthread_mutex_destroy(&b->setup_lock);
    pthread_mutex_destroy(&b->lock);
    svc_free(host, b);
}

/*
 * One cheap request at open (list our own Pods, at most one: a new instance
 * has none), so a wrong server, TLS, credentials or RBAC fail open() rather
 * than the first launch; the watch and the Secret wait for the first launch.
 */
static int k8s_check_access(fcb_backend *b, fcb_error *err)
{
    char selector[128];
    char path[K8S_PATH_MAX];
    kube_response resp = {0};

    k8s_selector_ours(b->instance_id, selector, sizeof selector);
    char *escaped = k8s_url_escape(b->host, selector);
    if (escaped == NULL)
        return err_set(err, FCB_ERR_NO_MEMORY, "out of memory opening the k8s backend");
    snprintf(path, sizeof path, "%s?limit=1&labelSelector=%s", b->pods_path, escaped);
    svc_free(b->host, escaped);
    int rc = kube_request(b->client, "GET", path, NULL, NULL, 0, KUBE_REQ_RAW,
                          K8S_REQUEST_DEADLINE_MS, &resp, err);
    kube_response_clear(b->client, &resp);
    if (rc != FCB_OK)
        err_prefix(err, "k8s backend: cannot list pods in namespace %s", b->ns);
    return rc;
}

int k8s_backend_open(const fcb_host_services *host, const fcb_open_params *params,
                     fcb_backend **out, fcb_error *err)
{
    fcb_backend *b = NULL;
    int rc;
    const char *token = NULL;

    if (out == NULL)
        return err_set(err, FCB_ERR_INVALID_ARGUMENT, "open: out is NULL");
    *out = NULL;
    if (host == NULL)
        return err_set(err, FCB_ERR_INVALID_ARGUMENT, "open: host services are NULL");
    if (params != NULL &&
        params->size >= offsetof(fcb_open_params, internal_token) + sizeof params->internal_token)
        token = params->internal_token;
    if (token != NULL && token[0] == '\0')
        token = NULL;

    b = svc_calloc(host, 1, sizeof *b);
    if (b == NULL)
        return err_set(err, FCB_ERR_NO_MEMORY, "out of memory opening the k8s backend");
    b->host = host;
    pthread_mutex_init(&b->lock, NULL);
    pthread_mutex_init(&b->setup_lock, NULL);
    k8s_cond_init(&b->idle);
    k8s_random_hex(b->instance_id, 8);

    rc = k8s_config_parse(host, &b->cfg, err);
    if (rc != FCB_OK)
        goto fail;
    rc = kube_client_new(host, &b->client, err);
    if (rc == FCB_OK)
        rc = kube_client_new_ex(host, KUBE_CLIENT_QUIET, &b->cleanup, err);
    if (rc != FCB_OK)
        goto fail;
    const char *ns =
        b->cfg->namespace_name != NULL ? b->cfg->namespace_name : kube_client_namespace(b->client);
    if (ns == NULL || !names_is_dns_label(ns)) {
        rc = err_set(err, FCB_ERR_CONFIG,
                     "namespace \"%.100s\" (from the kubeconfig context) is not a valid "
                     "namespace; set FAKECLOUD_K8S_NAMESPACE",
                     ns != NULL ? ns : "(null)");
        goto fail;
    }
    b->ns = svc_strdup(host, ns);
    if (b->ns == NULL) {
        rc = err_set(err, FCB_ERR_NO_MEMORY, "out of memory opening the k8s backend");
        goto fail;
    }
    snprintf(b->pods_path, sizeof b->pods_path, "/api/v1/namespaces/%s/pods", b->ns);

    if (token != NULL) {
        b->token = svc_strdup(host, token);
        if (b->token == NULL) {
            rc = err_set(err, FCB_ERR_NO_MEMORY, "out of memory opening the k8s backend");
            goto fail;
        }
        k8s_token_secret_name(b->instance_id, b->secret_name);
    }
    rc = k8s_check_access(b, err);
    if (rc != FCB_OK)
        goto fail;
    svc_log(host, FCB_LOG_INFO, K8S_PLUGIN_NAME, "K8s Lambda backend initialized", "namespace",
            b->ns, "server", kube_client_server(b->client), "self_url", b->cfg->self_url,
            "instance", b->instance_id, "token_secret",
            b->token != NULL ? b->secret_name : "(none)", NULL);
    *out = b;
    return FCB_OK;
fail:
    k8s_backend_free(b);
    return rc;
}

void k8s_backend_close(fcb_backend *b)
{
    if (b == NULL)
        return;
    pthread_mutex_lock(&b->lock);
    b->closing = true;
    k8s_waiters_wake_locked(b);
    pthread_mutex_unlock(&b->lock);
    kube_client_cancel(b->client);

    /* In-flight operations return promptly now (cancelled requests, woken waits). */
    pthread_mutex_lock(&b->lock);
    while (b->inflight > 0)
        pthread_cond_wait(&b->idle, &b->lock);
    pthread_mutex_unlock(&b->lock);
    kube_watch_stop(b->watch);
    b->watch = NULL;

    for (k8s_orphan *o = b->orphans; o != NULL; o = o->next) {
        fcb_error err = FCB_ERROR_INIT;
        int rc = k8s_delete_ours(b, b->cleanup, "pods", o->name, &err);
        if (rc != FCB_OK)
            svc_log(b->host, FCB_LOG_WARN, K8S_PLUGIN_NAME,
                    "close: could not delete the pod of an interrupted launch", "pod", o->name,
                    "error", err.message, NULL);
    }
    k8s_secret_delete(b, b->cleanup);
    svc_log(b->host, FCB_LOG_INFO, K8S_PLUGIN_NAME, "K8s Lambda backend closed", "instance",
            b->instance_id, NULL);
    k8s_backend_free(b);
}
