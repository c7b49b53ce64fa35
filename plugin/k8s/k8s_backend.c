/*
 * k8s_backend: Pod lifecycle.
 *
 * launch = build Pod -> register a waiter -> create -> wait on the shared
 * watch until Running with an IP (or fail fast with the Kubernetes reason and
 * the failing container's last log lines) -> probe the RIE port with a short
 * capped backoff. Every wait is a condition-variable wait on the launch's
 * waiter, so close() and watch events wake launches at once. Anything a
 * failed launch created is deleted (gracePeriodSeconds=0); a launch
 * interrupted by close() leaves its Pod name for close() to delete with the
 * second, uncancelled client.
 *
 * Every delete is "owned": one deletecollection restricted to the object's
 * name (fieldSelector=metadata.name) and our labels (labelSelector), so a
 * handle or a name can never delete an object fakecloud did not create
 * (kube-apiserver's DELETE preconditions know only uid and resourceVersion).
 * The shared watch and the token Secret are started on the first launch or
 * prepull, not at open: terminate and reap_stale need neither.
 */
#include "k8s_backend.h"

#include "jsonx.h"
#include "k8s_config.h"
#include "k8s_pod.h"
#include "k8s_status.h"
#include "k8s_client.h"
#include "names.h"
#include "svc.h"
#include "ziptar.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stddef.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define K8S_CREATE_ATTEMPTS     4
#define K8S_REQUEST_DEADLINE_MS 30000u
#define K8S_CLEANUP_DEADLINE_MS 10000u
#define K8S_LOG_DEADLINE_MS     3000u
#define K8S_LOG_TAIL_LINES      20
#define K8S_PROBE_FIRST_MS      5u
#define K8S_PROBE_MAX_MS        100u
#define K8S_PATH_MAX            1024
/* Label selectors of owned deletes: any fakecloud instance's / only ours (see k8s_selector_ours).
 */
#define K8S_SELECTOR_MANAGED K8S_LABEL_MANAGED_BY "=fakecloud"

/* A Pod an interrupted launch created, for close() to delete. */
typedef struct k8s_orphan {
    struct k8s_orphan *next;
    char name[K8S_POD_NAME_MAX];
} k8s_orphan;

typedef struct k8s_waiter {
    struct k8s_waiter *next;
    char name[K8S_POD_NAME_MAX];
    pthread_cond_t cond;
    k8s_pod_state state;
    bool seen;
    bool deleted;
    /*
     * A watch that relisted (410 Gone) reports Pods it knew that vanished, but not
     * one created and deleted while it was away. So a created Pod that the
     * relist did not show is looked up once (`verify`): gone = deleted.
     */
    bool created;        /* our create succeeded */
    bool verify;         /* GET it: a relist happened and did not show it */
    uint64_t reg_syncs;  /* b->syncs when registered */
    uint64_t seen_syncs; /* b->syncs at the last event for it (UINT64_MAX: none) */
} k8s_waiter;

struct fcb_backend {
    const fcb_host_services *host;
    k8s_config *cfg;
    kube_client *client;  /* cancelled by close */
    kube_client *cleanup; /* used by close after the cancel */
    char *ns;
    char pods_path[K8S_PATH_MAX];
    char instance_id[17];
    char secret_name[K8S_POD_NAME_MAX];
    char *token; /* the host's internal token (copy) for the lazy Secret, or NULL */

    /* Started by the first launch/prepull (k8s_ensure_started); guarded by setup_lock
     * until then; close() reads them once no operation is in flight. */
    pthread_mutex_t setup_lock;
    kube_watch *watch;
    bool have_secret;    /* the token Secret exists */
    bool secret_unknown; /* a create's outcome was unknown and the Secret may exist */

    pthread_mutex_t lock; /* guards everything below */
    pthread_cond_t idle;  /* signalled when inflight drops to 0 */
    k8s_waiter *waiters;
    uint64_t syncs; /* SYNCED events so far (the first list, then each relist) */
    unsigned inflight; /* launches, prepulls, terminates and reaps in progress */
    bool closing;
    k8s_orphan *orphans; /* Pods to delete at close */
    uint64_t launches;
};

/* ------------------------------------------------------------ time */

static uint64_t k8s_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static struct timespec k8s_abs_ms(uint64_t at_ms)
{
    struct timespec ts = {.tv_sec = (time_t)(at_ms / 1000u),
                          .tv_nsec = (long)((at_ms % 1000u) * 1000000u)};
    return ts;
}

static unsigned k8s_remaining(uint64_t deadline)
{
    uint64_t now = k8s_now_ms();
    return now >= deadline ? 0 : (unsigned)(deadline - now);
}

static int k8s_cond_init(pthread_cond_t *cond)
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

static void k8s_random_hex(char *out, size_t bytes)
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

/* ------------------------------------------------------------ watch */

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

static void k8s_on_pod_event(void *ctx, const char *type, json_object *object)
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

/* ------------------------------------------------------------ helpers */

static int k8s_pod_path(const fcb_backend *b, const char *ns, const char *name, const char *suffix,
                        char out[K8S_PATH_MAX])
{
    int n = snprintf(out, K8S_PATH_MAX, "/api/v1/namespaces/%s/pods/%s%s", ns, name,
                     suffix != NULL ? suffix : "");
    (void)b;
    return n > 0 && n < K8S_PATH_MAX ? FCB_OK : FCB_ERR_INVALID_ARGUMENT;
}

/*
 * Owned delete: one deletecollection of KIND in NS restricted to NAME (field
 * selector, when not NULL) and the labels of SELECTOR; pods get
 * gracePeriodSeconds=GRACE. *count = the objects the answer lists (asked as
 * metadata only and counted without building a tree). FLAGS are added to the
 * request's (e.g. KUBE_REQ_UNTIL_DEADLINE); *status is the last HTTP status.
 */
static int k8s_delete_collection(fcb_backend *b, kube_client *client, const char *kind,
                                 const char *ns, const char *name, const char *selector,
                                 unsigned grace, unsigned flags, unsigned deadline_ms,
                                 size_t *count, long *status, fcb_error *err)
{
    char path[K8S_PATH_MAX];
    char field[300] = "";
    char grace_q[40] = "";
    kube_response resp = {0};

    *count = 0;
    *status = 0;
    char *escaped = k8s_url_escape(b->host, selector);
    if (escaped == NULL)
        return err_set(err, FCB_ERR_NO_MEMORY, "out of memory");
    /* Names are DNS-1123 ([a-z0-9.-]): nothing to escape in the selector value. */
    if (name != NULL)
        snprintf(field, sizeof field, "fieldSelector=metadata.name%%3D%s&", name);
    if (strcmp(kind, "pods") == 0)
        snprintf(grace_q, sizeof grace_q, "&gracePeriodSeconds=%u", grace);
    int n = snprintf(path, sizeof path, "/api/v1/namespaces/%s/%s?%slabelSelector=%s%s", ns, kind,
                     field, escaped, grace_q);
    svc_free(b->host, escaped);
    if (n < 0 || (size_t)n >= sizeof path)
        return err_set(err, FCB_ERR_INVALID_ARGUMENT, "delete %s: path too long", kind);
    int rc = kube_request(client, "DELETE", path, NULL, NULL, 0,
                          KUBE_REQ_RAW | KUBE_REQ_METADATA | flags, deadline_ms, &resp, err);
    *status = resp.status;
    if (rc == FCB_OK && !jsonx_count_member_array(resp.raw, resp.raw_len, "items", count))
        rc = err_set(err, FCB_ERR_BACKEND, "k8s DELETE %s collection: the answer is not a list",
                     kind);
    kube_response_clear(client, &resp);
    return rc;
}

/*
 * Delete KIND/NAME, which this instance created, from the backend's namespace
 * (owned: only if it still carries our instance's labels); gone is success.
 * A transient allocation failure is retried: deleting is how we avoid leaks.
 */
static int k8s_delete_ours(fcb_backend *b, kube_client *client, const char *kind, const char *name,
                           fcb_error *err)
{
    char selector[128];
    size_t count = 0;
    long status = 0;
    int rc = FCB_ERR_NO_MEMORY;

    k8s_selector_ours(b->instance_id, selector, sizeof selector);
    for (int attempt = 0; attempt < 3 && rc == FCB_ERR_NO_MEMORY; attempt++)
        rc = k8s_delete_collection(b, client, kind, b->ns, name, selector, 0, 0,
                                   K8S_CLEANUP_DEADLINE_MS, &count, &status, err);
    return rc;
}

/*
 * Append "; last log lines of CONTAINER: ..." to err. Best effort: a failed
 * log request adds why logs are missing instead.
 */
static void k8s_append_logs(fcb_backend *b, const char *pod, const char *container, fcb_error *err)
{
    char path[K8S_PATH_MAX];
    char suffix[160];
    kube_response resp = {0};
    fcb_error log_err = FCB_ERROR_INIT;

    snprintf(suffix, sizeof suffix, "/log?container=%s&tailLines=%d", container,
             K8S_LOG_TAIL_LINES);
    if (k8s_pod_path(b, b->ns, pod, suffix, path) != FCB_OK)
        return;
    int rc = kube_request(b->client, "GET", path, NULL, NULL, 0, KUBE_REQ_RAW, K8S_LOG_DEADLINE_MS,
                          &resp, &log_err);
    size_t used = strlen(err->message);
    size_t room = sizeof err->message - used;
    if (rc != FCB_OK) {
        snprintf(err->message + used, room, "; logs of %s unavailable: %s", container,
                 log_err.message);
    } else {
        const char *text = resp.raw != NULL ? resp.raw : "";
        size_t len = resp.raw != NULL ? resp.raw_len : 0;
        while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r'))
            len--;
        /* Keep the end of the log: that is where the reason is. */
        size_t max_tail = room > 64 ? room - 64 : 0;
        const char *start = text;
        if (len > max_tail) {
            start = text + (len - max_tail);
            len = max_tail;
        }
        int n = snprintf(err->message + used, room, "; last log lines of %s:\n", container);
        if (n > 0 && (size_t)n < room) {
            used += (size_t)n;
            room -= (size_t)n;
            if (len >= room)
                len = room - 1;
            memcpy(err->message + used, start, len);
            err->message[used + len] = '\0';
        }
    }
    kube_response_clear(b->client, &resp);
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

static void k8s_waiter_register(fcb_backend *b, k8s_waiter *w)
{
    pthread_mutex_lock(&b->lock);
    w->created = false;
    w->verify = false;
    w->reg_syncs = b->syncs;
    w->seen_syncs = UINT64_MAX;
    w->next = b->waiters;
    b->waiters = w;
    pthread_mutex_unlock(&b->lock);
}

/* Our create of W's Pod succeeded; a relist since registering may have missed it. */
static void k8s_waiter_created(fcb_backend *b, k8s_waiter *w)
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
    if (k8s_pod_path(b, b->ns, w->name, NULL, path) != FCB_OK)
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

static void k8s_waiter_unregister(fcb_backend *b, k8s_waiter *w)
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
static void k8s_launch_cleanup(fcb_backend *b, const char *name, k8s_orphan **node)
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

/* True when the Pod object carries our instance label and NONCE. */
static bool k8s_pod_is_ours(fcb_backend *b, json_object *pod, const char *nonce)
{
    json_object *meta = NULL;
    json_object *labels = NULL;
    json_object *ann = NULL;
    json_object *v = NULL;

    if (!json_object_object_get_ex(pod, "metadata", &meta))
        return false;
    if (!json_object_object_get_ex(meta, "labels", &labels) ||
        !json_object_object_get_ex(labels, K8S_LABEL_INSTANCE, &v) ||
        strcmp(json_object_get_string(v), b->instance_id) != 0)
        return false;
    return json_object_object_get_ex(meta, "annotations", &ann) &&
           json_object_object_get_ex(ann, K8S_ANNOTATION_NONCE, &v) &&
           strcmp(json_object_get_string(v), nonce) == 0;
}

/*
 * Whether a failed create may nevertheless have created the object: our own
 * retry, no answer, a 5xx, or a 2xx whose body could not be read (not JSON,
 * or over the response limit, which ends the transfer before the status is
 * kept: FCB_ERR_BACKEND with status 0). We chose the name, so the caller
 * deletes it by name to be sure.
 */
static bool k8s_create_outcome_unknown(int rc, long status, bool retried)
{
    if (retried || rc == FCB_ERR_TIMEOUT || rc == FCB_ERR_CANCELLED || rc == FCB_ERR_UNAVAILABLE)
        return true;
    if ((status >= 200 && status < 300) || status >= 500)
        return true;
    return rc == FCB_ERR_BACKEND && status == 0;
}

typedef enum k8s_create_result {
    K8S_CREATED,      /* the Pod exists and is ours */
    K8S_NOT_CREATED,  /* it certainly does not exist */
    K8S_MAYBE_CREATED /* unknown outcome: delete it to be sure */
} k8s_create_result;

/*
 * POST the Pod. A 409 (our own retry of an unknown outcome, or a fault) is
 * resolved with a GET: ours -> created; absent -> create again; someone
 * else's -> *collision (the caller picks a new name). Bounded attempts.
 */
static int k8s_create_pod(fcb_backend *b, const char *name, const char *nonce, const char *body,
                          uint64_t deadline, bool *collision, k8s_create_result *result,
                          fcb_error *err)
{
    int rc = FCB_ERR_INTERNAL;
    char path[K8S_PATH_MAX];

    *collision = false;
    *result = K8S_NOT_CREATED;
    if (k8s_pod_path(b, b->ns, name, NULL, path) != FCB_OK)
        return err_set(err, FCB_ERR_INVALID_ARGUMENT, "pod path too long");
    for (int attempt = 0; attempt < K8S_CREATE_ATTEMPTS; attempt++) {
        kube_response resp = {0};
        unsigned remaining = k8s_remaining(deadline);
        if (remaining == 0)
            return err_set(err, FCB_ERR_TIMEOUT, "pod %s: launch deadline passed while creating",
                           name);
        rc = kube_request(b->client, "POST", b->pods_path, NULL, body, strlen(body),
                          KUBE_REQ_CREATE, remaining, &resp, err);
        long status = resp.status;
        bool retried = resp.retried;
        kube_response_clear(b->client, &resp);
        if (rc == FCB_OK) {
            *result = K8S_CREATED;
            return FCB_OK;
        }
        if (rc != FCB_ERR_BACKEND || status != 409) {
            if (k8s_create_outcome_unknown(rc, status, retried))
                *result = K8S_MAYBE_CREATED;
            return rc;
        }
        fcb_error get_err = FCB_ERROR_INIT;
        rc = kube_request(b->client, "GET", path, NULL, NULL, 0, 0, k8s_remaining(deadline), &resp,
                          &get_err);
        bool ours = rc == FCB_OK && k8s_pod_is_ours(b, resp.body, nonce);
        kube_response_clear(b->client, &resp);
        svc_log(b->host, FCB_LOG_DEBUG, K8S_PLUGIN_NAME, "pod create returned 409; checked owner",
                "pod", name, "ours", ours ? "true" : "false", "retried", retried ? "true" : "false",
                NULL);
        if (ours) {
            *result = K8S_CREATED;
            return FCB_OK;
        }
        if (rc == FCB_OK) {
            *collision = true;
            return err_set(err, FCB_ERR_BACKEND, "pod %s already exists and is not ours", name);
        }
        if (rc != FCB_ERR_NOT_FOUND) {
            *result = K8S_MAYBE_CREATED;
            if (err != NULL)
                *err = get_err;
            return rc;
        }
        /* Absent: the 409 was spurious; create again. */
    }
    return err_set(err, FCB_ERR_BACKEND,
                   "pod %s: create answered 409 AlreadyExists %d times but the pod does not exist",
                   name, K8S_CREATE_ATTEMPTS);
}

/*
 * Wait on W until the Pod is Running with an IP (FCB_OK, ip copied), fails
 * (FCB_ERR_START_FAILED with reason), is deleted, close() is called
 * (FCB_ERR_CANCELLED) or DEADLINE passes (FCB_ERR_TIMEOUT).
 */
static int k8s_wait_running(fcb_backend *b, k8s_waiter *w, uint64_t deadline, k8s_pod_state *state,
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
static int k8s_wait_rie(fcb_backend *b, k8s_waiter *w, const char *ip, uint64_t deadline,
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

static void k8s_start_failure(fcb_backend *b, const char *pod, const k8s_pod_state *state,
                              fcb_error *err)
{
    err_set(err, FCB_ERR_START_FAILED, "pod %s failed to start: %s%s%s", pod, state->reason,
            state->message[0] != '\0' ? ": " : "", state->message);
    if (state->container[0] != '\0')
        k8s_append_logs(b, pod, state->container, err);
}

/* Count an operation in flight (close() waits for it); FCB_ERR_CANCELLED once closing. */
static int k8s_op_begin(fcb_backend *b, fcb_error *err)
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

static void k8s_op_end(fcb_backend *b)
{
    pthread_mutex_lock(&b->lock);
    if (--b->inflight == 0)
        pthread_cond_broadcast(&b->idle);
    pthread_mutex_unlock(&b->lock);
}

/* ------------------------------------------------------------ lazy start */

/*
 * Create the token Secret (called with setup_lock held). An unknown outcome
 * (unreadable 2xx, 5xx, no answer) deletes it by name at once; if that fails
 * too, close() deletes it, and a 409 on the next attempt is our own Secret.
 */
static int k8s_secret_create(fcb_backend *b, fcb_error *err)
{
    json_object *secret = NULL;
    kube_response resp = {0};
    char path[K8S_PATH_MAX];

    k8s_token_secret_name(b->instance_id, b->secret_name);
    int rc = k8s_secret_build(b->ns, b->secret_name, b->instance_id, b->token, &secret, err);
    if (rc != FCB_OK) {
        err_prefix(err, "create token Secret %s/%s", b->ns, b->secret_name);
        return rc;
    }
    snprintf(path, sizeof path, "/api/v1/namespaces/%s/secrets", b->ns);
    const char *body = json_object_to_json_string_ext(secret, JSON_C_TO_STRING_PLAIN);
    if (body == NULL) {
        json_object_put(secret);
        return err_set(err, FCB_ERR_NO_MEMORY, "out of memory serialising the token Secret");
    }
    rc = kube_request(b->client, "POST", path, NULL, body, strlen(body), KUBE_REQ_CREATE,
                      K8S_REQUEST_DEADLINE_MS, &resp, err);
    long status = resp.status;
    bool retried = resp.retried;
    kube_response_clear(b->client, &resp);
    json_object_put(secret);
    /* Our own retry, or an earlier attempt, after an unknown outcome: the Secret
     * (named after our random instance id) is ours. */
    if (rc == FCB_ERR_BACKEND && status == 409 && (retried || b->secret_unknown))
        rc = FCB_OK;
    if (rc == FCB_OK) {
        b->have_secret = true;
        b->secret_unknown = false;
        return FCB_OK;
    }
    if (k8s_create_outcome_unknown(rc, status, retried)) {
        fcb_error del_err = FCB_ERROR_INIT;
        b->secret_unknown =
            rc == FCB_ERR_CANCELLED ||
            k8s_delete_ours(b, b->client, "secrets", b->secret_name, &del_err) != FCB_OK;
    }
    err_prefix(err, "create token Secret %s/%s", b->ns, b->secret_name);
    return rc;
}

/* Delete the token Secret if it was created (or may have been) with CLIENT. */
static void k8s_secret_delete(fcb_backend *b, kube_client *client)
{
    fcb_error err = FCB_ERROR_INIT;

    if (!b->have_secret && !b->secret_unknown)
        return;
    int rc = k8s_delete_ours(b, client, "secrets", b->secret_name, &err);
    if (rc != FCB_OK) {
        svc_log(b->host, FCB_LOG_WARN, K8S_PLUGIN_NAME,
                "could not delete the token Secret; reap_stale of a later instance removes it",
                "secret", b->secret_name, "namespace", b->ns, "error", err.message, NULL);
        return;
    }
    b->have_secret = false;
    b->secret_unknown = false;
}

/*
 * First launch/prepull: start the shared Pod watch and, when SECRET and the
 * host gave a token, create the token Secret. Thread-safe: concurrent first
 * calls wait on setup_lock, so one watch and one Secret are made; a failure
 * is returned to this call and the next call tries again.
 */
static int k8s_ensure_started(fcb_backend *b, bool secret, fcb_error *err)
{
    int rc = FCB_OK;
    char selector[128];

    pthread_mutex_lock(&b->setup_lock);
    if (b->watch == NULL) {
        k8s_selector_ours(b->instance_id, selector, sizeof selector);
        rc = kube_watch_start(b->client, b->pods_path, selector, k8s_on_pod_event, b, &b->watch,
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

/* ------------------------------------------------------------ launch */

int k8s_backend_launch(fcb_backend *b, const fcb_launch_request *request, fcb_instance *out,
                       fcb_error *err)
{
    k8s_waiter w;
    json_object *pod = NULL;
    k8s_pod_state state;
    char nonce[33];
    bool registered = false;
    k8s_create_result created = K8S_NOT_CREATED;
    int rc;

    if (b == NULL || request == NULL || out == NULL)
        return err_set(err, FCB_ERR_INVALID_ARGUMENT,
                       "launch needs a backend, a request and an instance");
    /*
     * Read the caller's structs only up to the size it declared (fields
     * beyond it read as zero), and write the instance only if it has room.
     */
    fcb_launch_request req_copy;
    fcb_function fn_copy;
    memset(&req_copy, 0, sizeof req_copy);
    memset(&fn_copy, 0, sizeof fn_copy);
    memcpy(&req_copy, request, request->size < sizeof req_copy ? request->size : sizeof req_copy);
    if (request->size < offsetof(fcb_launch_request, deploy_id) + sizeof request->deploy_id ||
        req_copy.function == NULL)
        return err_set(err, FCB_ERR_INVALID_ARGUMENT,
                       "launch request (size %u) has no function or deploy_id",
                       (unsigned)request->size);
    const fcb_function *caller_fn = req_copy.function;
    memcpy(&fn_copy, caller_fn,
           caller_fn->size < sizeof fn_copy ? caller_fn->size : sizeof fn_copy);
    req_copy.function = &fn_copy;
    request = &req_copy;
    if (out->size < offsetof(fcb_instance, handle) + sizeof out->handle)
        return err_set(err, FCB_ERR_INVALID_ARGUMENT,
                       "fcb_instance size %u is smaller than this plugin's %zu",
                       (unsigned)out->size, sizeof(fcb_instance));
    /* Vet code and every layer (the Pod's unzip trusts them) before creating anything. */
    rc = ziptar_check_launch(NULL, request->function, &request->code, request->layers,
                             request->n_layers, err);
    if (rc != FCB_OK)
        return rc;
    rc = k8s_op_begin(b, err);
    if (rc != FCB_OK)
        return rc;
    /* Reserved now so handing an interrupted launch's Pod to close() cannot fail later. */
    k8s_orphan *orphan = svc_calloc(b->host, 1, sizeof *orphan);
    memset(&w, 0, sizeof w);
    if (orphan == NULL || k8s_cond_init(&w.cond) != 0) {
        svc_free(b->host, orphan);
        k8s_op_end(b);
        return orphan == NULL
                   ? err_set(err, FCB_ERR_NO_MEMORY, "out of memory starting a launch")
                   : err_set(err, FCB_ERR_INTERNAL, "cannot initialise a condition variable");
    }
    uint64_t start = k8s_now_ms();
    uint64_t budget = request->deadline_ms != 0
                          ? request->deadline_ms
                          : (uint64_t)b->cfg->running_timeout_ms + b->cfg->rie_timeout_ms;
    uint64_t deadline = start + budget;
    uint64_t running_deadline = start + b->cfg->running_timeout_ms;
    if (running_deadline > deadline)
        running_deadline = deadline;
    const char *fn_name = request->function->function_name;

    for (int naming = 0; naming < 3; naming++) {
        bool collision = false;
        k8s_random_hex(nonce, 8);
        pthread_mutex_lock(&b->lock);
        uint64_t seq = ++b->launches;
        pthread_mutex_unlock(&b->lock);
        snprintf(nonce + 16, sizeof nonce - 16, "%016llx", (unsigned long long)seq);
        k8s_pod_name(fn_name, request->deploy_id, nonce, w.name);
        k8s_pod_input in = {.config = b->cfg,
                            .namespace_name = b->ns,
                            .instance_id = b->instance_id,
                            .token_secret = b->token != NULL ? b->secret_name : NULL,
                            .pod_name = w.name,
                            .nonce = nonce,
                            .request = request};
        rc = k8s_pod_build(b->host, &in, &pod, err);
        if (rc != FCB_OK)
            goto out;
        const char *body = json_object_to_json_string_ext(pod, JSON_C_TO_STRING_PLAIN);
        if (body == NULL) {
            rc = err_set(err, FCB_ERR_NO_MEMORY, "out of memory serialising the Pod");
            goto out;
        }
        /* After the build, so a refused input makes no API request. */
        rc = k8s_ensure_started(b, true, err);
        if (rc != FCB_OK)
            break;
        w.seen = false;
        w.deleted = false;
        k8s_waiter_register(b, &w);
        registered = true;
        rc = k8s_create_pod(b, w.name, nonce, body, deadline, &collision, &created, err);
        json_object_put(pod);
        pod = NULL;
        if (rc == FCB_OK)
            k8s_waiter_created(b, &w);
        if (rc == FCB_OK || !collision)
            break;
        k8s_waiter_unregister(b, &w);
        registered = false;
    }
    if (rc != FCB_OK) {
        err_prefix(err, "launch %s", fn_name);
        goto out;
    }

    rc = k8s_wait_running(b, &w, running_deadline, &state, err);
    if (rc == FCB_ERR_START_FAILED && state.progress == K8S_POD_FAILED)
        k8s_start_failure(b, w.name, &state, err);
    if (rc != FCB_OK)
        goto out;
    uint64_t running_at = k8s_now_ms();
    uint64_t rie_deadline = running_at + b->cfg->rie_timeout_ms;
    if (rie_deadline > deadline)
        rie_deadline = deadline;
    char ip[sizeof state.pod_ip];
    memcpy(ip, state.pod_ip, sizeof ip);
    rc = k8s_wait_rie(b, &w, ip, rie_deadline, &state, err);
    if (rc == FCB_ERR_START_FAILED && state.progress == K8S_POD_FAILED)
        k8s_start_failure(b, w.name, &state, err);
    if (rc != FCB_OK)
        goto out;

    if (strchr(ip, ':') != NULL)
        snprintf(out->endpoint, sizeof out->endpoint, "[%s]:%d", ip, K8S_RIE_PORT);
    else
        snprintf(out->endpoint, sizeof out->endpoint, "%s:%d", ip, K8S_RIE_PORT);
    snprintf(out->handle, sizeof out->handle, "pod/%s/%s", b->ns, w.name);
    if (svc_log_enabled(b->host, FCB_LOG_INFO)) {
        char ms_running[32];
        char ms_total[32];
        uint64_t done = k8s_now_ms();
        snprintf(ms_running, sizeof ms_running, "%llu", (unsigned long long)(running_at - start));
        snprintf(ms_total, sizeof ms_total, "%llu", (unsigned long long)(done - start));
        svc_log(b->host, FCB_LOG_INFO, K8S_PLUGIN_NAME, "Lambda pod started", "function", fn_name,
                "pod", w.name, "namespace", b->ns, "endpoint", out->endpoint, "running_ms",
                ms_running, "ready_ms", ms_total, NULL);
    }
out:
    json_object_put(pod);
    if (registered)
        k8s_waiter_unregister(b, &w);
    if (rc != FCB_OK && created != K8S_NOT_CREATED)
        k8s_launch_cleanup(b, w.name, &orphan);
    svc_free(b->host, orphan);
    if (rc != FCB_OK && rc != FCB_ERR_CANCELLED)
        svc_log(b->host, FCB_LOG_WARN, K8S_PLUGIN_NAME, "launch failed", "function", fn_name, "pod",
                w.name, "code", fcb_status_name(rc), "error", err != NULL ? err->message : "",
                NULL);
    pthread_cond_destroy(&w.cond);
    k8s_op_end(b);
    return rc;
}

/* ------------------------------------------------------------ terminate */

int k8s_handle_parse(const char *handle, char ns[64], char name[254], fcb_error *err)
{
    const char *p = handle;
    if (handle == NULL)
        return err_set(err, FCB_ERR_INVALID_ARGUMENT, "handle is NULL");
    if (strncmp(p, "pod/", 4) != 0)
        goto bad;
    p += 4;
    const char *slash = strchr(p, '/');
    if (slash == NULL || slash == p || (size_t)(slash - p) > 63)
        goto bad;
    memcpy(ns, p, (size_t)(slash - p));
    ns[slash - p] = '\0';
    const char *n = slash + 1;
    size_t len = strlen(n);
    if (len == 0 || len > 253 || !names_is_dns_label(ns))
        goto bad;
    for (size_t i = 0; i < len; i++) {
        char c = n[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.'))
            goto bad;
    }
    if (n[0] == '-' || n[0] == '.' || n[len - 1] == '-' || n[len - 1] == '.')
        goto bad;
    memcpy(name, n, len + 1);
    return FCB_OK;
bad:
    return err_set(err, FCB_ERR_INVALID_ARGUMENT,
                   "handle \"%.200s\" is not a k8s backend handle (pod/<namespace>/<name>)",
                   handle);
}

/*
 * The owned delete of NAME deleted nothing: already gone (success, terminate
 * is idempotent) or not ours (FCB_ERR_NOT_FOUND, nothing deleted). One GET
 * tells which; it runs only when nothing was deleted.
 */
static int k8s_terminate_nothing_deleted(fcb_backend *b, const char *name, uint64_t deadline,
                                         fcb_error *err)
{
    char path[K8S_PATH_MAX];
    kube_response resp = {0};
    json_object *labels = NULL;
    json_object *manager = NULL;

    if (k8s_pod_path(b, b->ns, name, NULL, path) != FCB_OK)
        return err_set(err, FCB_ERR_INVALID_ARGUMENT, "pod name too long: %.100s", name);
    unsigned remaining = k8s_remaining(deadline);
    int rc =
        kube_request(b->client, "GET", path, NULL, NULL, 0, 0,
                     remaining > K8S_LOG_DEADLINE_MS ? remaining : K8S_LOG_DEADLINE_MS, &resp, err);
    bool managed = rc == FCB_OK && json_object_object_get_ex(resp.body, "metadata", &labels) &&
                   json_object_object_get_ex(labels, "labels", &labels) &&
                   json_object_object_get_ex(labels, K8S_LABEL_MANAGED_BY, &manager) &&
                   strcmp(json_object_get_string(manager), "fakecloud") == 0;
    kube_response_clear(b->client, &resp);
    if (rc == FCB_ERR_NOT_FOUND || managed) {
        /* Gone, or (a race) ours and going. */
        svc_log(b->host, FCB_LOG_DEBUG, K8S_PLUGIN_NAME, "pod already gone", "pod", name,
                "namespace", b->ns, NULL);
        return FCB_OK;
    }
    if (rc != FCB_OK)
        return rc;
    return err_set(err, FCB_ERR_NOT_FOUND,
                   "pod %s/%s is not managed by fakecloud (it has no label " K8S_SELECTOR_MANAGED
                   "); nothing deleted",
                   b->ns, name);
}

int k8s_backend_terminate(fcb_backend *b, const char *handle, fcb_error *err)
{
    char ns[64];
    char name[254];
    size_t deleted = 0;
    long status = 0;

    if (b == NULL)
        return err_set(err, FCB_ERR_INVALID_ARGUMENT, "backend is NULL");
    int rc = k8s_handle_parse(handle, ns, name, err);
    if (rc != FCB_OK)
        return rc;
    if (strcmp(ns, b->ns) != 0)
        return err_set(err, FCB_ERR_NOT_FOUND,
                       "terminate %s: pod %s is in namespace %s, not in this backend's namespace "
                       "%s; nothing deleted",
                       handle, name, ns, b->ns);
    rc = k8s_op_begin(b, err);
    if (rc != FCB_OK)
        return rc;
    unsigned timeout = b->cfg->terminate_timeout_ms;
    uint64_t deadline = k8s_now_ms() + timeout;
    /* Throttling or an outage must not leave the Pod running: retry until the deadline. */
    rc = k8s_delete_collection(b, b->client, "pods", b->ns, name, K8S_SELECTOR_MANAGED,
                               b->cfg->terminate_grace_seconds, KUBE_REQ_UNTIL_DEADLINE, timeout,
                               &deleted, &status, err);
    if (rc == FCB_OK && deleted == 0)
        rc = k8s_terminate_nothing_deleted(b, name, deadline, err);
    if (rc == FCB_OK) {
        svc_log(b->host, FCB_LOG_DEBUG, K8S_PLUGIN_NAME, "pod deleted", "pod", name, "namespace",
                ns, "deleted", deleted > 0 ? "true" : "false", NULL);
        k8s_op_end(b);
        return FCB_OK;
    }
    bool gave_up = rc == FCB_ERR_TIMEOUT || rc == FCB_ERR_UNAVAILABLE ||
                   (rc == FCB_ERR_BACKEND && (status == 429 || status >= 500));
    svc_log(b->host, FCB_LOG_WARN, K8S_PLUGIN_NAME, "k8s delete pod failed", "pod", name,
            "namespace", ns, "code", fcb_status_name(rc), "error", err != NULL ? err->message : "",
            NULL);
    if (gave_up)
        err_prefix(err, "terminate %s: not deleted within FAKECLOUD_K8S_TERMINATE_TIMEOUT_MS=%u ms",
                   handle, timeout);
    else
        err_prefix(err, "terminate %s", handle);
    k8s_op_end(b); /* last: close() may free b once no operation is in flight */
    return rc;
}

/* ------------------------------------------------------------ prepull */

/* Reasons that mean the image is not on the node (or cannot get there). */
static bool k8s_reason_blocks_image(const char *reason)
{
    static const char *const blocking[] = {"ErrImagePull",
                                           "ImagePullBackOff",
                                           "InvalidImageName",
                                           "ErrImageNeverPull",
                                           "Unschedulable",
                                           "CreateContainerConfigError",
                                           NULL};
    for (size_t i = 0; blocking[i] != NULL; i++)
        if (strcmp(reason, blocking[i]) == 0)
            return true;
    return false;
}

int k8s_backend_prepull(fcb_backend *b, const char *image, fcb_error *err)
{
    k8s_waiter w;
    json_object *pod = NULL;
    k8s_pod_state state;
    char nonce[33];
    bool registered = false;
    bool collision = false;
    k8s_create_result created = K8S_NOT_CREATED;

    if (b == NULL)
        return err_set(err, FCB_ERR_INVALID_ARGUMENT, "backend is NULL");
    int rc = k8s_op_begin(b, err);
    if (rc != FCB_OK)
        return rc;
    k8s_orphan *orphan = svc_calloc(b->host, 1, sizeof *orphan);
    memset(&w, 0, sizeof w);
    memset(&state, 0, sizeof state);
    if (orphan == NULL || k8s_cond_init(&w.cond) != 0) {
        svc_free(b->host, orphan);
        k8s_op_end(b);
        return orphan == NULL
                   ? err_set(err, FCB_ERR_NO_MEMORY, "out of memory starting a prepull")
                   : err_set(err, FCB_ERR_INTERNAL, "cannot initialise a condition variable");
    }
    k8s_random_hex(nonce, 8);
    pthread_mutex_lock(&b->lock);
    uint64_t seq = ++b->launches;
    pthread_mutex_unlock(&b->lock);
    snprintf(nonce + 16, sizeof nonce - 16, "%016llx", (unsigned long long)seq);
    snprintf(w.name, sizeof w.name, "fakecloud-prepull-%s", nonce);
    uint64_t deadline = k8s_now_ms() + b->cfg->running_timeout_ms;

    rc = k8s_prepull_pod_build(b->host, b->cfg, b->ns, b->instance_id, w.name, nonce, image, &pod,
                               err);
    if (rc != FCB_OK)
        goto out;
    const char *body = json_object_to_json_string_ext(pod, JSON_C_TO_STRING_PLAIN);
    if (body == NULL) {
        rc = err_set(err, FCB_ERR_NO_MEMORY, "out of memory serialising the prepull Pod");
        goto out;
    }
    rc = k8s_ensure_started(b, false, err);
    if (rc != FCB_OK)
        goto out;
    k8s_waiter_register(b, &w);
    registered = true;
    rc = k8s_create_pod(b, w.name, nonce, body, deadline, &collision, &created, err);
    if (rc != FCB_OK)
        goto out;
    k8s_waiter_created(b, &w);
    rc = k8s_wait_running(b, &w, deadline, &state, err);
    if (rc == FCB_ERR_START_FAILED && state.reason[0] != '\0') {
        if (k8s_reason_blocks_image(state.reason))
            rc = err_set(err, FCB_ERR_START_FAILED, "%s%s%s", state.reason,
                         state.message[0] != '\0' ? ": " : "", state.message);
        else
            rc = FCB_OK; /* pulled; only the no-op command could not run */
    }
out:
    if (rc != FCB_OK)
        err_prefix(err, "prepull %s", image != NULL ? image : "(null)");
    json_object_put(pod);
    if (registered)
        k8s_waiter_unregister(b, &w);
    if (created != K8S_NOT_CREATED)
        k8s_launch_cleanup(b, w.name, &orphan);
    svc_free(b->host, orphan);
    pthread_cond_destroy(&w.cond);
    if (rc == FCB_OK)
        svc_log(b->host, FCB_LOG_INFO, K8S_PLUGIN_NAME, "image prepulled", "image", image,
                "namespace", b->ns, NULL);
    k8s_op_end(b); /* last: close() may free b once no operation is in flight */
    return rc;
}

/* ------------------------------------------------------------ reap */

int k8s_backend_reap_stale(fcb_backend *b, size_t *reaped, fcb_error *err)
{
    char selector[128];
    size_t pods = 0;
    size_t secrets = 0;

    if (reaped != NULL)
        *reaped = 0;
    if (b == NULL)
        return err_set(err, FCB_ERR_INVALID_ARGUMENT, "backend is NULL");
    k8s_selector_foreign(b->instance_id, selector, sizeof selector);
    int rc = k8s_op_begin(b, err);
    if (rc != FCB_OK)
        return rc;
    /* The answers list every deleted object: asked as metadata only (3.4 MB
     * instead of 11.4 MB for 10 000 small Pods) and counted in one pass. */
    long status = 0;
    rc = k8s_delete_collection(b, b->client, "pods", b->ns, NULL, selector, 0, 0,
                               K8S_REQUEST_DEADLINE_MS, &pods, &status, err);
    if (rc == FCB_OK)
        rc = k8s_delete_collection(b, b->client, "secrets", b->ns, NULL, selector, 0, 0,
                                   K8S_REQUEST_DEADLINE_MS, &secrets, &status, err);
    if (rc != FCB_OK) {
        svc_log(b->host, FCB_LOG_WARN, K8S_PLUGIN_NAME, "k8s reap_stale failed", "namespace", b->ns,
                "error", err != NULL ? err->message : "", NULL);
        err_prefix(err, "reap_stale in namespace %s", b->ns);
        k8s_op_end(b);
        return rc;
    }
    if (reaped != NULL)
        *reaped = pods;
    if (pods > 0 || secrets > 0) {
        char np[32];
        char ns_count[32];
        snprintf(np, sizeof np, "%zu", pods);
        snprintf(ns_count, sizeof ns_count, "%zu", secrets);
        svc_log(b->host, FCB_LOG_INFO, K8S_PLUGIN_NAME,
                "reap_stale removed objects of other fakecloud instances", "namespace", b->ns,
                "pods", np, "secrets", ns_count, NULL);
    }
    k8s_op_end(b); /* last: close() may free b once no operation is in flight */
    return FCB_OK;
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
    for (k8s_waiter *w = b->waiters; w != NULL; w = w->next)
        pthread_cond_broadcast(&w->cond);
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
