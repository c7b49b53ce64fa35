/*
 * k8s_invoke: the endpoint modes (readiness probe, endpoint text, auto's
 * decision) and invoke: find our Pod, then POST the event at its IP with
 * libcurl or through pods/proxy with the kube client, streaming the answer
 * to the host. One canceller thread per invocation turns the host's token
 * and close() into the transfer's stop flag.
 */
#include "k8s_invoke.h"

#include "k8s_cancel.h"
#include "k8s_observe.h"
#include "k8s_status.h"

#include "http.h"
#include "labels.h"
#include "kube_pods.h"
#include "probe.h"
#include "svc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define K8S_INVOKE_PATH      "/2015-03-31/functions/function/invocations"
#define K8S_FUNCTION_ERROR   "X-Amz-Function-Error"
#define K8S_INVOKE_MARGIN_MS 10000u
#define K8S_USER_AGENT       "fakecloud-backend-k8s/0.1.0"

/* ------------------------------------------------------------ endpoint modes */

k8s_endpoint_mode k8s_endpoint_current(fcb_backend *b)
{
    return (k8s_endpoint_mode)atomic_load(&b->endpoint_mode);
}

k8s_endpoint_mode k8s_endpoint_decide(fcb_backend *b, const char *ip)
{
    int mode = probe_once(ip, K8S_RIE_PORT, PROBE_TCP, K8S_AUTO_CONNECT_MS)
                   ? K8S_ENDPOINT_POD_IP
                   : K8S_ENDPOINT_API_PROXY;
    int undecided = K8S_ENDPOINT_AUTO;
    if (!atomic_compare_exchange_strong(&b->endpoint_mode, &undecided, mode))
        return (k8s_endpoint_mode)undecided; /* another launch decided first */
    svc_log(b->host, FCB_LOG_INFO, K8S_PLUGIN_NAME,
            mode == K8S_ENDPOINT_POD_IP
                ? "FAKECLOUD_K8S_ENDPOINT=auto: Pod IPs answer, runtimes are reached directly"
                : "FAKECLOUD_K8S_ENDPOINT=auto: Pod IPs do not answer, runtimes are reached "
                  "through the API server's pods/proxy",
            "pod_ip", ip, NULL);
    return (k8s_endpoint_mode)mode;
}

/* Any chunk of a probe's answer: not needed. */
static bool k8s_discard(void *ctx, const char *data, size_t len)
{
    (void)ctx, (void)data, (void)len;
    return true;
}

void k8s_proxy_refused(fcb_error *err)
{
    err_prefix(err, "the API server refused pods/proxy (FAKECLOUD_K8S_ENDPOINT=api-proxy or auto "
                    "needs the Role fakecloud-lambda-api-proxy of docs/examples/rbac.yaml)");
}

int k8s_runtime_probe(fcb_backend *b, k8s_endpoint_mode mode, const char *name, const char *ip,
                      uint32_t timeout_ms, fcb_error *err)
{
    if (mode == K8S_ENDPOINT_POD_IP)
        return probe_once(ip, K8S_RIE_PORT, PROBE_TCP, timeout_ms) ? FCB_OK : FCB_ERR_UNAVAILABLE;
    if (timeout_ms == 0)
        return FCB_ERR_UNAVAILABLE;
    fcb_error why = FCB_ERROR_INIT;
    kube_pod_proxy_result res;
    kube_pod_proxy_opts opts = {.method = "GET",
                                .port = K8S_RIE_PORT,
                                .path = "/",
                                .flags = KUBE_REQ_NO_RETRY,
                                .deadline_ms = timeout_ms,
                                .sink = k8s_discard};
    /* FCB_OK = the runtime answered (its 404 for "/"); the API server's 503 means not yet. */
    int rc = kube_pods_proxy(b->client, b->ns, name, &opts, &res, &why);
    bool refused = res.status == 401 || res.status == 403;
    if (rc == FCB_OK || (!refused && rc != FCB_ERR_CONFIG && rc != FCB_ERR_CANCELLED &&
                         rc != FCB_ERR_NO_MEMORY && rc != FCB_ERR_INVALID_ARGUMENT))
        return rc == FCB_OK ? FCB_OK : FCB_ERR_UNAVAILABLE;
    if (err != NULL)
        *err = why;
    if (refused)
        k8s_proxy_refused(err);
    return rc;
}

void k8s_endpoint_format(fcb_backend *b, const char *name, const char *ip, char *endpoint)
{
    if (k8s_endpoint_current(b) != K8S_ENDPOINT_API_PROXY) {
        snprintf(endpoint, FCB_ENDPOINT_MAX, strchr(ip, ':') != NULL ? "[%s]:%d" : "%s:%d", ip,
                 K8S_RIE_PORT);
        return;
    }
    int n = snprintf(endpoint, FCB_ENDPOINT_MAX, "%s/api/v1/namespaces/%s/pods/%s:%d/proxy",
                     kube_client_server(b->client), b->ns, name, K8S_RIE_PORT);
    if (n < 0 || n >= FCB_ENDPOINT_MAX)
        snprintf(endpoint, FCB_ENDPOINT_MAX, "/api/v1/namespaces/%s/pods/%s:%d/proxy", b->ns, name,
                 K8S_RIE_PORT);
}

/* ------------------------------------------------------------ invoke */

/* One invocation: the caller's structs and what was found of its Pod. */
typedef struct k8s_invocation {
    fcb_backend *b;
    const char *handle;
    const fcb_invoke_request *req;
    fcb_invoke_result *out;
    char name[254];
    char ip[64];
    uint32_t timeout_ms;
    bool cached;    /* the target came from b->targets, not from a GET */
    bool unreached; /* the direct POST's connection never opened: no handler ran */
    k8s_canceller canceller;
} k8s_invocation;

/* The answer's chunks to the host; false (stop) when on_body asks to. */
static bool k8s_invoke_body(void *ctx, const char *data, size_t len)
{
    k8s_invocation *iv = ctx;
    if (iv->req->on_body(iv->req->sink_ctx, data, len) != 0)
        return false;
    iv->out->body_bytes += len;
    return true;
}

static int k8s_invoke_check(const fcb_invoke_request *req, fcb_invoke_result *out, fcb_error *err)
{
    if (req == NULL || !FCB_HAS_MEMBER(req, fcb_invoke_request, cancel))
        return err_set(err, FCB_ERR_INVALID_ARGUMENT, "invoke: request is NULL or too small");
    if (req->on_body == NULL)
        return err_set(err, FCB_ERR_INVALID_ARGUMENT, "invoke: request.on_body is NULL");
    if (req->payload.data == NULL && req->payload.size > 0)
        return err_set(err, FCB_ERR_INVALID_ARGUMENT, "invoke: request.payload.data is NULL");
    if (out == NULL || !FCB_HAS_MEMBER(out, fcb_invoke_result, body_bytes))
        return err_set(err, FCB_ERR_INVALID_ARGUMENT, "invoke: out is NULL or too small");
    out->http_status = 0;
    out->function_error[0] = '\0';
    out->body_bytes = 0;
    return FCB_OK;
}

/* AWS_LAMBDA_FUNCTION_TIMEOUT of the runtime container's env in POD, in s (0: absent). */
static unsigned k8s_pod_function_timeout(json_object *pod)
{
    json_object *spec = NULL, *list = NULL;
    if (!json_object_object_get_ex(pod, "spec", &spec) ||
        !json_object_object_get_ex(spec, "containers", &list))
        return 0;
    for (size_t i = 0; i < json_object_array_length(list); i++) {
        json_object *c = json_object_array_get_idx(list, i), *v = NULL, *env = NULL;
        if (!json_object_object_get_ex(c, "name", &v) ||
            strcmp(json_object_get_string(v), K8S_CONTAINER_MAIN) != 0 ||
            !json_object_object_get_ex(c, "env", &env))
            continue;
        for (size_t e = 0; e < json_object_array_length(env); e++) {
            json_object *var = json_object_array_get_idx(env, e), *n = NULL, *val = NULL;
            if (json_object_object_get_ex(var, "name", &n) &&
                strcmp(json_object_get_string(n), "AWS_LAMBDA_FUNCTION_TIMEOUT") == 0 &&
                json_object_object_get_ex(var, "value", &val))
                return (unsigned)strtoul(json_object_get_string(val), NULL, 10);
        }
    }
    return 0;
}

/* ------------------------------------------------------------ targets
 *
 * A GET of the Pod per invoke (is it ours? where is it?) cost about half of
 * the backend's warm invoke (0.5 of ~1 ms on kubesim). Its answer is kept
 * per Pod name until the shared watch (which sees every Pod of this
 * instance, and after a reconnect relists and reports the ones that
 * vanished) shows the Pod deleted, terminating, not Running or at another
 * IP, or a relist ends; then the next invoke asks the API server again.
 * Only Pods a GET proved ours are kept, so a foreign, gone or other-namespace
 * handle is still refused by that GET. targets_epoch closes the race of a
 * GET answered before a watch event that ends it: a GET's answer is kept only
 * when no such event came while it was in flight.
 */

static k8s_target_entry *targets_find_locked(fcb_backend *b, const char *name)
{
    for (size_t i = 0; i < K8S_INVOKE_TARGETS; i++)
        if (b->targets[i].name[0] != '\0' && strcmp(b->targets[i].name, name) == 0)
            return &b->targets[i];
    return NULL;
}

void k8s_invoke_targets_on_event_locked(fcb_backend *b, const char *name, bool deleted,
                                        json_object *object)
{
    if (name == NULL) {
        for (size_t i = 0; i < K8S_INVOKE_TARGETS; i++)
            b->targets[i].name[0] = '\0';
        b->targets_epoch++;
        return;
    }
    k8s_pod_state st;
    memset(&st, 0, sizeof st);
    json_object *meta = NULL;
    bool alive = !deleted && object != NULL &&
                 !(json_object_object_get_ex(object, "metadata", &meta) &&
                   json_object_object_get_ex(meta, "deletionTimestamp", NULL));
    const char *manager = alive ? kube_object_label(object, LABEL_MANAGED_BY) : NULL;
    alive = manager != NULL && strcmp(manager, LABEL_MANAGED_BY_VALUE) == 0;
    if (alive) {
        k8s_pod_state_read(object, &st);
        alive = st.progress == K8S_POD_RUNNING && st.pod_ip[0] != '\0';
    }
    k8s_target_entry *t = targets_find_locked(b, name);
    if (alive && (t == NULL || strcmp(t->ip, st.pod_ip) == 0))
        return;
    b->targets_epoch++;
    if (t != NULL)
        t->name[0] = '\0';
}

/* IV's Pod from b->targets: true with iv->ip and *fn_timeout_s; *epoch for a later keep. */
static bool targets_lookup(k8s_invocation *iv, unsigned *fn_timeout_s, uint64_t *epoch)
{
    fcb_backend *b = iv->b;
    inflight_lock(&b->ops);
    k8s_target_entry *t = targets_find_locked(b, iv->name);
    if (t != NULL) {
        memcpy(iv->ip, t->ip, sizeof iv->ip);
        *fn_timeout_s = t->fn_timeout_s;
        t->used = ++b->targets_clock;
    }
    *epoch = b->targets_epoch;
    inflight_unlock(&b->ops);
    return t != NULL;
}

/* Keep what a GET found of IV's Pod, unless the watch is not up yet or spoke since EPOCH. */
static void targets_keep(k8s_invocation *iv, unsigned fn_timeout_s, uint64_t epoch)
{
    fcb_backend *b = iv->b;
    if (strlen(iv->name) >= K8S_POD_NAME_MAX)
        return;
    inflight_lock(&b->ops);
    if (b->syncs > 0 && b->targets_epoch == epoch && targets_find_locked(b, iv->name) == NULL) {
        k8s_target_entry *slot = &b->targets[0];
        for (size_t i = 0; i < K8S_INVOKE_TARGETS && slot->name[0] != '\0'; i++)
            if (b->targets[i].name[0] == '\0' || b->targets[i].used < slot->used)
                slot = &b->targets[i]; /* a free slot, else the least recently used */
        snprintf(slot->name, sizeof slot->name, "%s", iv->name);
        memcpy(slot->ip, iv->ip, sizeof slot->ip);
        slot->fn_timeout_s = fn_timeout_s;
        slot->used = ++b->targets_clock;
    }
    inflight_unlock(&b->ops);
}

static void targets_forget(fcb_backend *b, const char *name)
{
    inflight_lock(&b->ops);
    k8s_target_entry *t = targets_find_locked(b, name);
    if (t != NULL)
        t->name[0] = '\0';
    b->targets_epoch++;
    inflight_unlock(&b->ops);
}

/* GET our Pod of the handle: its IP and function timeout. */
static int k8s_invoke_get(k8s_invocation *iv, unsigned *fn_timeout_s, fcb_error *err)
{
    fcb_backend *b = iv->b;
    json_object *pod = NULL;
    int rc = iv->name[0] != '\0' ? k8s_pod_get_ours(b, iv->name, &pod, err) : FCB_OK;
    if (rc != FCB_OK)
        return rc;
    if (pod == NULL)
        return err_set(err, FCB_ERR_NOT_FOUND,
                       "no pod %s managed by fakecloud in namespace %s (gone, or not ours)",
                       iv->name[0] != '\0' ? iv->name : "(other namespace)", b->ns);
    k8s_pod_state state;
    k8s_pod_state_read(pod, &state);
    *fn_timeout_s = k8s_pod_function_timeout(pod);
    json_object_put(pod);
    if (state.pod_ip[0] == '\0' || state.progress != K8S_POD_RUNNING)
        return err_set(err, FCB_ERR_UNAVAILABLE, "pod %s is not running (phase %s%s%s)", iv->name,
                       state.phase[0] != '\0' ? state.phase : "unknown",
                       state.reason[0] != '\0' ? ", " : "", state.reason);
    memcpy(iv->ip, state.pod_ip, sizeof iv->ip);
    return FCB_OK;
}

/* Our Pod of the handle (kept, else GET): its IP and the invocation's bound. */
static int k8s_invoke_target(k8s_invocation *iv, fcb_error *err)
{
    unsigned fn_timeout_s = 0;
    uint64_t epoch = 0;
    iv->cached = iv->name[0] != '\0' && targets_lookup(iv, &fn_timeout_s, &epoch);
    if (!iv->cached) {
        int rc = k8s_invoke_get(iv, &fn_timeout_s, err);
        if (rc != FCB_OK)
            return rc;
        targets_keep(iv, fn_timeout_s, epoch);
    }
    iv->timeout_ms = iv->req->timeout_ms != 0
                         ? iv->req->timeout_ms
                         : (fn_timeout_s != 0 && fn_timeout_s < 86400 ? fn_timeout_s : 3) * 1000u +
                               K8S_INVOKE_MARGIN_MS;
    return FCB_OK;
}

/* A stopped transfer: by the host's token or by close(). */
static int k8s_invoke_cancelled(k8s_invocation *iv, fcb_error *err)
{
    return err_set(err, FCB_ERR_CANCELLED, "cancelled by %s",
                   atomic_load(&iv->canceller.by_close) ? "close()" : "the host");
}

/* libcurl options of the direct POST to the Pod IP. */
static void k8s_invoke_easy(k8s_invocation *iv, CURL *e, const char *url,
                            struct curl_slist *headers, http_capture *cap)
{
    const fcb_blob *p = &iv->req->payload;
    http_easy_defaults(e, K8S_USER_AGENT, (long)(iv->timeout_ms < 10000 ? iv->timeout_ms : 10000),
                       0);
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_PROXY, ""); /* never *_proxy from the environment */
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, p->data != NULL ? (const char *)p->data : "");
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)p->size);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)iv->timeout_ms + 1000L);
    http_capture_attach(cap, e);
}

/* POST the event at the Pod IP. */
static int k8s_invoke_direct(k8s_invocation *iv, fcb_error *err)
{
    char url[FCB_ENDPOINT_MAX + 64];
    snprintf(url, sizeof url,
             strchr(iv->ip, ':') != NULL ? "http://[%s]:%d" K8S_INVOKE_PATH
                                         : "http://%s:%d" K8S_INVOKE_PATH,
             iv->ip, K8S_RIE_PORT);
    http_capture cap;
    http_capture_init(&cap, iv->b->host, 0);
    cap.sink = k8s_invoke_body;
    cap.sink_ctx = iv;
    cap.keep_header = K8S_FUNCTION_ERROR;
    bool failed = false;
    struct curl_slist *headers = NULL;
    http_headers_add(&headers, "Content-Type: application/json", &failed);
    http_headers_add(&headers, "Expect:", &failed);
    CURL *e = failed ? NULL : curl_easy_init();
    int rc = FCB_OK;
    CURLcode code = CURLE_OK;
    if (e == NULL) {
        rc = err_set(err, FCB_ERR_NO_MEMORY, "out of memory");
        goto out;
    }
    k8s_invoke_easy(iv, e, url, headers, &cap);
    http_run_result run =
        http_run(NULL, e, &iv->canceller.stop, NULL, http_now_ms() + iv->timeout_ms, &code);
    long status = 0;
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    if (run == HTTP_RUN_STOPPED)
        rc = k8s_invoke_cancelled(iv, err);
    else if (run == HTTP_RUN_DEADLINE || (run == HTTP_RUN_DONE && code == CURLE_OPERATION_TIMEDOUT))
        rc = err_set(err, FCB_ERR_TIMEOUT, "no answer from the runtime at %s within %u ms", url,
                     iv->timeout_ms);
    else if (run == HTTP_RUN_FAILED)
        rc = err_set(err, FCB_ERR_NO_MEMORY, "curl multi failure");
    else if (code != CURLE_OK && !(code == CURLE_WRITE_ERROR && cap.sink_stopped))
        rc = err_set(err, FCB_ERR_UNAVAILABLE, "cannot reach the runtime at %s: %s", url,
                     curl_easy_strerror(code));
    iv->unreached = code == CURLE_COULDNT_CONNECT && status == 0 && iv->out->body_bytes == 0;
    iv->out->http_status = (int)status;
    snprintf(iv->out->function_error, sizeof iv->out->function_error, "%s", cap.kept_value);
out:
    if (e != NULL)
        curl_easy_cleanup(e);
    curl_slist_free_all(headers);
    http_capture_free(&cap);
    return rc;
}

/* POST the event through the API server's pods/proxy. */
static int k8s_invoke_proxied(k8s_invocation *iv, fcb_error *err)
{
    const fcb_blob *p = &iv->req->payload;
    kube_pod_proxy_result res;
    kube_pod_proxy_opts opts = {.method = "POST",
                                .port = K8S_RIE_PORT,
                                .path = K8S_INVOKE_PATH,
                                .body = p->data != NULL ? (const char *)p->data : "",
                                .body_len = p->size,
                                .deadline_ms = iv->timeout_ms,
                                .stop = &iv->canceller.stop,
                                .keep_header = K8S_FUNCTION_ERROR,
                                .sink = k8s_invoke_body,
                                .sink_ctx = iv};
    int rc = kube_pods_proxy(iv->b->client, iv->b->ns, iv->name, &opts, &res, err);
    if (rc != FCB_OK && (res.status == 401 || res.status == 403))
        k8s_proxy_refused(err);
    else if (rc == FCB_ERR_CANCELLED && atomic_load(&iv->canceller.stop))
        rc = k8s_invoke_cancelled(iv, err);
    else if (rc == FCB_ERR_TIMEOUT)
        rc = err_set(err, FCB_ERR_TIMEOUT,
                     "no answer from the runtime through the API server's pods/proxy within %u ms",
                     iv->timeout_ms);
    iv->out->http_status = (int)res.status;
    snprintf(iv->out->function_error, sizeof iv->out->function_error, "%s", res.header_value);
    return rc;
}

/* Deliver the event to IV's target by MODE, under the canceller. */
static int k8s_invoke_deliver(k8s_invocation *iv, k8s_endpoint_mode mode, fcb_error *err)
{
    iv->unreached = false;
    int rc = k8s_canceller_start(&iv->canceller, iv->req->cancel, &iv->b->ops, "invoke", err);
    if (rc != FCB_OK)
        return rc;
    rc = mode == K8S_ENDPOINT_POD_IP ? k8s_invoke_direct(iv, err) : k8s_invoke_proxied(iv, err);
    k8s_canceller_stop(&iv->canceller);
    return rc;
}

/* Find the Pod, pick the way to it and deliver the event. A kept target whose
 * runtime refused the connection (no handler ran) is asked of the API server again:
 * gone or not ours is FCB_ERR_NOT_FOUND as without the cache, else one more try. */
static int k8s_invoke_run(k8s_invocation *iv, fcb_error *err)
{
    int rc = k8s_invoke_target(iv, err);
    if (rc != FCB_OK)
        return rc;
    k8s_endpoint_mode mode = k8s_endpoint_current(iv->b);
    if (mode == K8S_ENDPOINT_AUTO)
        mode = k8s_endpoint_decide(iv->b, iv->ip);
    rc = k8s_invoke_deliver(iv, mode, err);
    if (rc == FCB_OK || !iv->cached || !iv->unreached)
        return rc;
    targets_forget(iv->b, iv->name);
    if (err != NULL)
        *err = (fcb_error)FCB_ERROR_INIT;
    rc = k8s_invoke_target(iv, err);
    return rc == FCB_OK ? k8s_invoke_deliver(iv, mode, err) : rc;
}

int k8s_backend_invoke(fcb_backend *b, const char *handle, const fcb_invoke_request *req,
                       fcb_invoke_result *out, fcb_error *err)
{
    k8s_invocation iv = {.b = b, .handle = handle, .req = req, .out = out};
    int rc = k8s_invoke_check(req, out, err);
    if (rc == FCB_OK)
        rc = k8s_instance_enter(b, handle, "invoke", iv.name, err);
    if (rc != FCB_OK)
        return rc;
    rc = k8s_invoke_run(&iv, err);
    k8s_stats_invoked(&b->stats, rc);
    if (rc != FCB_OK)
        err_prefix(err, "invoke %s", handle);
    inflight_leave(&b->ops); /* last: close() may free b once no operation is in flight */
    return rc;
}
