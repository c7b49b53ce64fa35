/*
 * k8s_waiters: the registry of launches waiting on the shared Pod watch,
 * and the two waits of a launch (Running, then the RIE accepting).
 */
#include "k8s_waiters.h"

#include "k8s_objects.h"
#include "svc.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define K8S_PROBE_FIRST_MS 5u
#define K8S_PROBE_MAX_MS   100u

static k8s_waiter *k8s_waiter_find_locked(fcb_backend *b, const char *name)
{
    for (k8s_waiter *w = b->waiters; w != NULL; w = w->next) {
        if (strcmp(w->name, name) == 0)
            return w;
    }
    return NULL;
}

/* A list or relist ended: every Pod that exists was just reported. */
static void k8s_on_synced(fcb_backend *b)
{
    pthread_mutex_lock(&b->lock);
    uint64_t ending = b->syncs++;
    for (k8s_waiter *w = b->waiters; w != NULL; w = w->next) {
        if (w->created && !w->deleted && w->seen_syncs != ending) {
            w->verify = true;
            pthread_cond_broadcast(&w->cond);
        }
    }
    pthread_mutex_unlock(&b->lock);
}

void k8s_waiters_on_event(void *ctx, const char *type, json_object *object)
{
    fcb_backend *b = ctx;
    json_object *meta = NULL;
    json_object *name = NULL;

    if (type != NULL && strcmp(type, "SYNCED") == 0) {
        k8s_on_synced(b);
        return;
    }
    if (object == NULL)
        return;
    if (!json_object_object_get_ex(object, "metadata", &meta) ||
        !json_object_object_get_ex(meta, "name", &name))
        return;
    const char *pod_name = json_object_get_string(name);
    bool deleted = strcmp(type, "DELETED") == 0;
    k8s_pod_state state;
    memset(&state, 0, sizeof state);
    if (!deleted)
        k8s_pod_state_read(object, &state);

    pthread_mutex_lock(&b->lock);
    k8s_waiter *w = k8s_waiter_find_locked(b, pod_name);
    if (w != NULL) {
        if (deleted)
            w->deleted = true;
        else
            w->state = state;
        w->seen = true;
        w->seen_syncs = b->syncs;
        pthread_cond_broadcast(&w->cond);
    }
    pthread_mutex_unlock(&b->lock);
}

/* Non-blocking TCP connect to ip:port within timeout_ms; true when accepted. */
static bool k8s_tcp_probe(const char *ip, unsigned port, unsigned timeout_ms)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV};
    struct addrinfo *ai = NULL;
    char service[16];
    bool ok = false;
    int fd = -1;

    snprintf(service, sizeof service, "%u", port);
    if (getaddrinfo(ip, service, &hints, &ai) != 0 || ai == NULL)
        return false;
    fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        goto out;
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
        ok = true;
        goto out;
    }
    if (errno != EINPROGRESS)
        goto out;
    struct pollfd pfd = {.fd = fd, .events = POLLOUT};
    int n = poll(&pfd, 1, (int)timeout_ms);
    if (n == 1) {
        int so_error = 0;
        socklen_t len = sizeof so_error;
        ok = getsockopt(fd, SOL_SOCKET, SO_ERROR, &so_error, &len) == 0 && so_error == 0;
    }
out:
    if (fd >= 0)
        close(fd);
    freeaddrinfo(ai);
    return ok;
}

void k8s_waiter_register(fcb_backend *b, k8s_waiter *w)
{
    pthread_mutex_lock(&b->lock);
    w->seen = false;
    w->deleted = false;
    w->created = false;
    w->verify = false;
    w->reg_syncs = b->syncs;
    w->seen_syncs = UINT64_MAX;
    w->next = b->waiters;
    b->waiters = w;
    pthread_mutex_unlock(&b->lock);
}

/* Our create of W's Pod succeeded; a relist since registering may have missed it. */
void k8s_waiter_created(fcb_backend *b, k8s_waiter *w)
{
    pthread_mutex_lock(&b->lock);
    w->created = true;
    /* A relist ended since we registered, and the watch has not shown the Pod since. */
    bool seen_since = w->seen_syncs != UINT64_MAX && w->seen_syncs + 1 >= b->syncs;
    if (b->syncs != w->reg_syncs && !w->deleted && !seen_since)
        w->verify = true;
    pthread_mutex_unlock(&b->lock);
}

/*
 * GET W's Pod after a relist that did not show it (called with b->lock held,
 * released during the request): 404 marks it deleted; found and not yet seen
 * by the watch, its state is taken. Other failures leave the deadline to decide.
 */
static void k8s_waiter_verify_locked(fcb_backend *b, k8s_waiter *w)
{
    char path[K8S_PATH_MAX];
    kube_response resp = {0};
    fcb_error gerr = FCB_ERROR_INIT;
    k8s_pod_state state;

    w->verify = false;
    if (k8s_pod_path(b->ns, w->name, NULL, path) != FCB_OK)
        return;
    pthread_mutex_unlock(&b->lock);
    int rc =
        kube_request(b->client, "GET", path, NULL, NULL, 0, 0, K8S_LOG_DEADLINE_MS, &resp, &gerr);
    memset(&state, 0, sizeof state);
    if (rc == FCB_OK)
        k8s_pod_state_read(resp.body, &state);
    kube_response_clear(b->client, &resp);
    pthread_mutex_lock(&b->lock);
    if (rc == FCB_ERR_NOT_FOUND && !w->seen) {
        w->deleted = true;
        svc_log(b->host, FCB_LOG_WARN, K8S_PLUGIN_NAME,
                "pod deleted while the watch was away (found by a lookup after the relist)", "pod",
                w->name, "namespace", b->ns, NULL);
    } else if (rc == FCB_OK && !w->seen) {
        w->state = state;
        w->seen = true;
    } else if (rc != FCB_OK && rc != FCB_ERR_NOT_FOUND) {
        svc_log(b->host, FCB_LOG_DEBUG, K8S_PLUGIN_NAME, "pod lookup after a relist failed", "pod",
                w->name, "error", gerr.message, NULL);
    }
}

void k8s_waiter_unregister(fcb_backend *b, k8s_waiter *w)
{
    pthread_mutex_lock(&b->lock);
    for (k8s_waiter **p = &b->waiters; *p != NULL; p = &(*p)->next) {
        if (*p == w) {
            *p = w->next;
            break;
        }
    }
    pthread_mutex_unlock(&b->lock);
}

/*
 * Wait on W until the Pod is Running with an IP (FCB_OK, ip copied), fails
 * (FCB_ERR_START_FAILED with reason), is deleted, close() is called
 * (FCB_ERR_CANCELLED) or DEADLINE passes (FCB_ERR_TIMEOUT).
 */
int k8s_wait_running(fcb_backend *b, k8s_waiter *w, uint64_t deadline, k8s_pod_state *state,
                     fcb_error *err)
{
    int rc = FCB_ERR_TIMEOUT;
    struct timespec until = k8s_abs_ms(deadline);

    pthread_mutex_lock(&b->lock);
    for (;;) {
        if (b->closing) {
            rc = err_set(err, FCB_ERR_CANCELLED, "pod %s: backend closed during launch", w->name);
            break;
        }
        if (w->verify && !w->deleted) {
            k8s_waiter_verify_locked(b, w);
            continue;
        }
        if (w->deleted) {
            rc = err_set(err, FCB_ERR_START_FAILED, "pod %s was deleted while starting", w->name);
            break;
        }
        if (w->seen && w->state.progress == K8S_POD_FAILED) {
            *state = w->state;
            rc = FCB_ERR_START_FAILED;
            break;
        }
        if (w->seen && w->state.progress == K8S_POD_RUNNING) {
            *state = w->state;
            rc = FCB_OK;
            break;
        }
        int wrc = pthread_cond_timedwait(&w->cond, &b->lock, &until);
        if (wrc == ETIMEDOUT && k8s_now_ms() >= deadline) {
            *state = w->state;
            rc = err_set(err, FCB_ERR_TIMEOUT,
                         "pod %s did not become Running with a podIP within the deadline "
                         "(phase %s%s%s)",
                         w->name, w->state.phase[0] != '\0' ? w->state.phase : "unknown",
                         w->state.reason[0] != '\0' ? ", " : "", w->state.reason);
            break;
        }
    }
    pthread_mutex_unlock(&b->lock);
    return rc;
}

/* Probe the RIE until it accepts, the Pod fails, close() or the deadline. */
int k8s_wait_rie(fcb_backend *b, k8s_waiter *w, const char *ip, uint64_t deadline,
                 k8s_pod_state *state, fcb_error *err)
{
    unsigned backoff = K8S_PROBE_FIRST_MS;

    for (unsigned attempt = 0; attempt < 1000000u; attempt++) {
        unsigned remaining = k8s_remaining(deadline);
        if (k8s_tcp_probe(ip, K8S_RIE_PORT,
                          remaining < K8S_PROBE_MAX_MS ? remaining : K8S_PROBE_MAX_MS))
            return FCB_OK;
        pthread_mutex_lock(&b->lock);
        int rc = FCB_OK;
        if (b->closing) {
            rc = err_set(err, FCB_ERR_CANCELLED, "pod %s: backend closed during launch", w->name);
        } else if (w->deleted) {
            rc = err_set(err, FCB_ERR_START_FAILED, "pod %s was deleted while starting", w->name);
        } else if (w->state.progress == K8S_POD_FAILED) {
            *state = w->state;
            rc = FCB_ERR_START_FAILED;
        } else if (k8s_now_ms() >= deadline) {
            rc = err_set(err, FCB_ERR_TIMEOUT,
                         "pod %s: the Runtime Interface Emulator on %s:%d did not accept "
                         "connections within %u ms",
                         w->name, ip, K8S_RIE_PORT, b->cfg->rie_timeout_ms);
        } else {
            uint64_t wake = k8s_now_ms() + backoff;
            struct timespec until = k8s_abs_ms(wake < deadline ? wake : deadline);
            pthread_cond_timedwait(&w->cond, &b->lock, &until);
        }
        pthread_mutex_unlock(&b->lock);
        if (rc != FCB_OK)
            return rc;
        backoff = backoff * 2 > K8S_PROBE_MAX_MS ? K8S_PROBE_MAX_MS : backoff * 2;
    }
    return err_set(err, FCB_ERR_TIMEOUT, "pod %s: RIE probe attempts exhausted", w->name);
}

void k8s_waiters_wake_locked(fcb_backend *b)
{
    for (k8s_waiter *w = b->waiters; w != NULL; w = w->next)
        pthread_cond_broadcast(&w->cond);
}
