/*
 * kube_watch: list + watch loop on its own thread (see kube_client.h).
 *
 * State kept between streams: the resume resourceVersion and the set of
 * objects currently known (namespace/name -> last object), so that a relist
 * after 410 Gone can also report objects that vanished while the watch was
 * away (as DELETED, with the last object seen).
 */
#include "http.h"
#include "jsonx.h"
#include "kube_client.h"
#include "kube_client_internal.h"
#include "kube_status.h"
#include "kube_watch_framer.h"
#include "svc.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#define WATCH_MAX_EVENT_BYTES (16u << 20)
#define WATCH_MAX_PAGES       100000
#define WATCH_MAX_TRACKED     200000
#define WATCH_ERROR_BODY_MAX  (64u << 10)
#define WATCH_LIST_RESTARTS   5
#define WATCH_SILENCE_S       150

typedef struct tracked {
    char *key;           /* namespace/name */
    json_object *object; /* last version seen (ref held) */
    bool seen;           /* seen in the current relist */
} tracked;

typedef enum stream_end { STREAM_ENDED, STREAM_GONE, STREAM_ERROR, STREAM_STOPPED } stream_end;

struct kube_watch {
    kube_client *client;
    const fcb_host_services *host;
    char *collection;
    char *selector; /* URL-escaped, or NULL */
    kube_watch_fn fn;
    void *ctx;
    pthread_t thread;
    atomic_bool stop;
    char rv[128];
    kube_watch_framer *framer;
    tracked *items;
    size_t n_items, cap_items;

    /* First list handshake with kube_watch_start. */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool first_done;
    int first_rc;
    fcb_error first_err;

    /* Per stream: the watch's own connection (outside the request pool). */
    kube_conn *conn;
    CURL *easy;
    bool gone;
    bool stream_failed;
    long last_status; /* HTTP status of the last stream (401 -> refresh credentials) */
    sbuf error_body;
    fcb_error stream_err;
};

/* ---------------------------------------------------------------------- */
/* known objects                                                            */

/* "namespace/name" of OBJ into KEY (a stack buffer: finding and forgetting an
 * object must not allocate, or a failed allocation would leave it tracked);
 * false when OBJ has no name or the key does not fit. */
#define TRACK_KEY_MAX 384
static bool object_key(json_object *obj, char key[TRACK_KEY_MAX])
{
    const char *name = jsonx_get_string(obj, "metadata.name");
    const char *ns = jsonx_get_string(obj, "metadata.namespace");
    if (name == NULL)
        return false;
    int n = snprintf(key, TRACK_KEY_MAX, "%s/%s", ns != NULL ? ns : "", name);
    return n > 0 && n < TRACK_KEY_MAX;
}

static tracked *track_find(kube_watch *w, const char *key, size_t *index)
{
    for (size_t i = 0; i < w->n_items; i++) {
        if (strcmp(w->items[i].key, key) == 0) {
            if (index != NULL)
                *index = i;
            return &w->items[i];
        }
    }
    return NULL;
}

static void track_remove_at(kube_watch *w, size_t i)
{
    svc_free(w->host, w->items[i].key);
    json_object_put(w->items[i].object);
    w->items[i] = w->items[--w->n_items];
}

/*
 * Remember (or forget, for DELETED) OBJ. Best effort: tracking is an extra;
 * only remembering a new object allocates.
 */
static void track_update(kube_watch *w, const char *type, json_object *obj)
{
    char key[TRACK_KEY_MAX];
    if (!object_key(obj, key))
        return;
    size_t index = 0;
    tracked *t = track_find(w, key, &index);
    if (strcmp(type, "DELETED") == 0) {
        if (t != NULL)
            track_remove_at(w, index);
        return;
    }
    if (t != NULL) {
        json_object_put(t->object);
        t->object = json_object_get(obj);
        t->seen = true;
        return;
    }
    if (w->n_items == w->cap_items) {
        size_t cap = w->cap_items == 0 ? 16 : w->cap_items * 2;
        tracked *p =
            w->n_items < WATCH_MAX_TRACKED ? svc_realloc(w->host, w->items, cap * sizeof *p) : NULL;
        if (p == NULL)
            return;
        w->items = p;
        w->cap_items = cap;
    }
    char *copy = svc_strdup(w->host, key);
    if (copy == NULL)
        return;
    w->items[w->n_items++] = (tracked){.key = copy, .object = json_object_get(obj), .seen = true};
}

static void track_clear(kube_watch *w)
{
    while (w->n_items > 0)
        track_remove_at(w, w->n_items - 1);
    svc_free(w->host, w->items);
    w->items = NULL;
    w->cap_items = 0;
}

static void deliver(kube_watch *w, const char *type, json_object *obj)
{
    if (obj != NULL)
        track_update(w, type, obj);
    w->fn(w->ctx, type, obj);
}

/* ---------------------------------------------------------------------- */
/* list                                                                     */

static bool stopping(kube_watch *w)
{
    return atomic_load(&w->stop) || atomic_load(&w->client->cancelled);
}

static int list_once(kube_watch *w, bool *expired, fcb_error *err)
{
    int rc = FCB_OK;
    char *cont = NULL;
    char rv[sizeof w->rv] = "";
    *expired = false;
    for (size_t i = 0; i < w->n_items; i++)
        w->items[i].seen = false;
    for (size_t page = 0; page < WATCH_MAX_PAGES; page++) {
        kube_response resp;
        char *path = svc_sprintf(
            w->host, "%s?limit=%u%s%s%s%s", w->collection, w->client->opts.list_page_size,
            w->selector != NULL ? "&labelSelector=" : "", w->selector != NULL ? w->selector : "",
            cont != NULL ? "&continue=" : "", cont != NULL ? cont : "");
        if (path == NULL) {
            rc = err_set(err, FCB_ERR_NO_MEMORY, "out of memory");
            goto out;
        }
        kube_request_spec spec = {.method = "GET", .path = path, .stop = &w->stop};
        rc = kube_request_send(w->client, &spec, &resp, err);
        svc_free(w->host, path);
        if (rc != FCB_OK) {
            *expired = resp.status == 410;
            kube_response_clear(w->client, &resp);
            goto out;
        }
        json_object *items = jsonx_get_array(resp.body, "items");
        const char *list_rv = jsonx_get_string(resp.body, "metadata.resourceVersion");
        const char *next = jsonx_get_string(resp.body, "metadata.continue");
        if (page == 0 && list_rv != NULL)
            snprintf(rv, sizeof rv, "%s", list_rv);
        size_t n = items != NULL ? json_object_array_length(items) : 0;
        for (size_t i = 0; i < n && !stopping(w); i++)
            deliver(w, "ADDED", json_object_array_get_idx(items, i));
        svc_free(w->host, cont);
        cont = NULL;
        if (next != NULL && next[0] != '\0') {
            CURL *esc = curl_easy_init();
            char *e = esc != NULL ? curl_easy_escape(esc, next, 0) : NULL;
            cont = e != NULL ? svc_strdup(w->host, e) : NULL;
            curl_free(e);
            curl_easy_cleanup(esc);
            if (cont == NULL) {
                kube_response_clear(w->client, &resp);
                rc = err_set(err, FCB_ERR_NO_MEMORY, "out of memory");
                goto out;
            }
        }
        kube_response_clear(w->client, &resp);
        if (stopping(w)) {
            rc = err_set(err, FCB_ERR_CANCELLED, "watch %s: stopped", w->collection);
            goto out;
        }
        if (cont == NULL)
            break;
    }
    /* Objects known before but absent now vanished while we were away. */
    for (size_t i = w->n_items; i > 0; i--) {
        tracked *t = &w->items[i - 1];
        if (!t->seen) {
            json_object *obj = json_object_get(t->object);
            track_remove_at(w, i - 1);
            w->fn(w->ctx, "DELETED", obj);
            json_object_put(obj);
        }
    }
    snprintf(w->rv, sizeof w->rv, "%s", rv);
    w->fn(w->ctx, "SYNCED", NULL);
out:
    svc_free(w->host, cont);
    return rc;
}

static int list_all(kube_watch *w, fcb_error *err)
{
    int rc = FCB_OK;
    /* A continue token can expire mid-list (410): start over, a few times. */
    for (int i = 0; i < WATCH_LIST_RESTARTS; i++) {
        bool expired = false;
        rc = list_once(w, &expired, err);
        if (rc == FCB_OK || !expired)
            return rc;
    }
    return rc;
}

/* ---------------------------------------------------------------------- */
/* stream                                                                   */

static int on_event(void *ctx, json_object *event)
{
    kube_watch *w = ctx;
    kube_watch_event ev;
    if (kube_watch_event_decode(event, &ev, &w->stream_err) != FCB_OK) {
        w->stream_failed = true;
        return 1;
    }
    if (strcmp(ev.type, "ERROR") == 0) {
        if (ev.error_code == 410) {
            w->gone = true;
        } else {
            w->stream_failed = true;
            kube_status_error(&w->stream_err, FCB_ERR_BACKEND, "WATCH", w->collection,
                              ev.error_code, ev.object, NULL, 0);
        }
        return 1;
    }
    if (ev.resource_version != NULL)
        snprintf(w->rv, sizeof w->rv, "%s", ev.resource_version);
    if (strcmp(ev.type, "ADDED") == 0 || strcmp(ev.type, "MODIFIED") == 0 ||
        strcmp(ev.type, "DELETED") == 0)
        deliver(w, ev.type, ev.object);
    /* BOOKMARK: only the resourceVersion matters. Unknown types are ignored. */
    return stopping(w) ? 1 : 0;
}

static bool on_bytes(void *ctx, const char *data, size_t len)
{
    kube_watch *w = ctx;
    long status = 0;
    curl_easy_getinfo(w->easy, CURLINFO_RESPONSE_CODE, &status);
    if (status != 200) {
        if (w->error_body.len + len <= WATCH_ERROR_BODY_MAX)
            sbuf_append(&w->error_body, data, len);
        return true;
    }
    int rc = kube_watch_framer_feed(w->framer, data, len, on_event, w, &w->stream_err);
    if (rc < 0)
        w->stream_failed = true;
    return rc == FCB_OK;
}

static stream_end watch_stream(kube_watch *w, bool force_auth)
{
    kube_call call;
    http_capture cap;
    CURLcode code = CURLE_OK;
    stream_end end = STREAM_ERROR;
    unsigned timeout_s = w->client->opts.watch_timeout_s;
    w->gone = false;
    w->stream_failed = false;
    w->last_status = 0;
    memset(&w->stream_err, 0, sizeof w->stream_err);
    sbuf_init(&w->error_body, w->host, WATCH_ERROR_BODY_MAX);
    kube_watch_framer_reset(w->framer);
    http_capture_init(&cap, w->host, 0);
    cap.sink = on_bytes;
    cap.sink_ctx = w;
    char *path =
        svc_sprintf(w->host,
                    "%s?watch=1&allowWatchBookmarks=true&timeoutSeconds=%u"
                    "&resourceVersion=%s%s%s",
                    w->collection, timeout_s, w->rv, w->selector != NULL ? "&labelSelector=" : "",
                    w->selector != NULL ? w->selector : "");
    if (path == NULL) {
        err_set(&w->stream_err, FCB_ERR_NO_MEMORY, "out of memory");
        goto out_nocall;
    }
    kube_request_spec req = {.method = "GET", .path = path, .stop = &w->stop};
    kube_call_spec spec = {.req = &req,
                           .stream = w->conn,
                           .deadline_at = http_now_ms() + (timeout_s + 30ull) * 1000ull,
                           .force_refresh = force_auth,
                           .cap = &cap};
    if (kube_call_prepare(w->client, &call, &spec, &w->stream_err) != FCB_OK)
        goto out_nocall;
    w->easy = call.easy;
    /* A healthy quiet watch still gets bookmarks about every minute. */
    curl_easy_setopt(call.easy, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(call.easy, CURLOPT_LOW_SPEED_TIME, (long)WATCH_SILENCE_S);
    kube_client_count(w->client, KUBE_STAT_REQUEST);
    http_run_result run =
        http_run(call.conn->multi, call.easy, &w->client->cancelled, &w->stop, 0, &code);
    long status = 0;
    curl_easy_getinfo(call.easy, CURLINFO_RESPONSE_CODE, &status);
    if (run == HTTP_RUN_STOPPED || stopping(w)) {
        end = STREAM_STOPPED;
    } else if (w->gone || status == 410) {
        end = STREAM_GONE;
    } else if (status != 0 && status != 200) {
        json_object *body =
            json_tokener_parse(w->error_body.data != NULL ? w->error_body.data : "");
        kube_status_error(&w->stream_err, kube_status_code(status), "GET", path, status, body,
                          w->error_body.data, w->error_body.len);
        json_object_put(body);
        end = STREAM_ERROR;
    } else if (w->stream_failed) {
        end = STREAM_ERROR;
    } else if (run == HTTP_RUN_DONE && (code == CURLE_OK || code == CURLE_PARTIAL_FILE ||
                                        code == CURLE_RECV_ERROR || code == CURLE_GOT_NOTHING)) {
        /* The server ended or cut the stream: resume from the last resourceVersion. */
        end = STREAM_ENDED;
    } else {
        kube_call_transport_error(w->client, &call, code, "GET", path, &w->stream_err);
        end = STREAM_ERROR;
    }
    w->last_status = status;
    w->easy = NULL;
    kube_call_free(w->client, &call);
out_nocall:
    svc_free(w->host, path);
    http_capture_free(&cap);
    sbuf_free(&w->error_body);
    return end;
}

/* ---------------------------------------------------------------------- */
/* thread                                                                   */

static void first_list_report(kube_watch *w, int rc, const fcb_error *err)
{
    pthread_mutex_lock(&w->lock);
    if (!w->first_done) {
        w->first_done = true;
        w->first_rc = rc;
        if (err != NULL)
            w->first_err = *err;
        pthread_cond_broadcast(&w->cond);
    }
    pthread_mutex_unlock(&w->lock);
}

static void *watch_main(void *arg)
{
    kube_watch *w = arg;
    fcb_error err = FCB_ERROR_INIT;
    bool need_list = true, first = true, force_auth = false;
    unsigned failures = 0;
    /* Bounded by stop/cancel; every round either blocks on I/O with a timeout or sleeps. */
    while (!stopping(w)) {
        if (need_list) {
            int rc = list_all(w, &err);
            if (first) {
                first_list_report(w, rc, &err);
                if (rc != FCB_OK)
                    break; /* kube_watch_start reports the failure and joins us */
                first = false;
            } else if (rc != FCB_OK) {
                if (stopping(w))
                    break;
                failures++;
                svc_log(w->host, FCB_LOG_WARN, KUBE_LOG_NAME, "watch relist failed", "collection",
                        w->collection, "error", err.message, NULL);
                kube_client_sleep(w->client, kube_client_backoff_ms(w->client, failures) + 50,
                                  &w->stop);
                continue;
            }
            need_list = false;
            failures = 0;
        }
        uint64_t started = http_now_ms();
        stream_end end = watch_stream(w, force_auth);
        force_auth = false;
        if (end == STREAM_STOPPED)
            break;
        if (end == STREAM_GONE) {
            kube_client_count(w->client, KUBE_STAT_RELIST);
            svc_log(w->host, FCB_LOG_INFO, KUBE_LOG_NAME, "watch expired (410 Gone): relisting",
                    "collection", w->collection, NULL);
            need_list = true;
            continue;
        }
        kube_client_count(w->client, KUBE_STAT_WATCH_RESTART);
        if (end == STREAM_ERROR) {
            failures++;
            force_auth = w->last_status == 401;
            svc_log(w->host, FCB_LOG_WARN, KUBE_LOG_NAME, "watch stream failed; resuming",
                    "collection", w->collection, "resource_version", w->rv, "error",
                    w->stream_err.message, NULL);
            kube_client_sleep(w->client, kube_client_backoff_ms(w->client, failures) + 50,
                              &w->stop);
        } else {
            failures = 0;
            /* A stream that ends at once again and again must not spin. */
            if (http_now_ms() - started < 1000)
                kube_client_sleep(w->client, kube_client_backoff_ms(w->client, 2) + 20, &w->stop);
        }
    }
    fcb_error stopped = FCB_ERROR_INIT;
    err_set(&stopped, FCB_ERR_CANCELLED, "watch %s: stopped before the first list", w->collection);
    first_list_report(w, FCB_ERR_CANCELLED, &stopped);
    return NULL;
}

static void watch_free(kube_watch *w)
{
    track_clear(w);
    kube_watch_framer_free(w->framer);
    kube_conn_free(w->host, w->conn);
    svc_free(w->host, w->collection);
    svc_free(w->host, w->selector);
    pthread_mutex_destroy(&w->lock);
    pthread_cond_destroy(&w->cond);
    svc_free(w->host, w);
}

int kube_watch_start(kube_client *client, const char *collection_path, const char *label_selector,
                     kube_watch_fn fn, void *ctx, kube_watch **out, fcb_error *err)
{
    const fcb_host_services *host = client->host;
    *out = NULL;
    kube_watch *w = svc_calloc(host, 1, sizeof *w);
    if (w == NULL)
        return err_set(err, FCB_ERR_NO_MEMORY, "out of memory");
    w->client = client;
    w->host = host;
    w->fn = fn;
    w->ctx = ctx;
    atomic_init(&w->stop, false);
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->cond, NULL);
    w->collection = svc_strdup(host, collection_path);
    w->framer = kube_watch_framer_new(host, WATCH_MAX_EVENT_BYTES);
    w->conn = kube_conn_new(host);
    if (w->collection == NULL || w->framer == NULL || w->conn == NULL)
        goto nomem;
    if (label_selector != NULL && label_selector[0] != '\0') {
        CURL *esc = curl_easy_init();
        char *e = esc != NULL ? curl_easy_escape(esc, label_selector, 0) : NULL;
        w->selector = e != NULL ? svc_strdup(host, e) : NULL;
        curl_free(e);
        curl_easy_cleanup(esc);
        if (w->selector == NULL)
            goto nomem;
    }
    if (pthread_create(&w->thread, NULL, watch_main, w) != 0) {
        watch_free(w);
        return err_set(err, FCB_ERR_INTERNAL, "watch %s: cannot start a thread", collection_path);
    }
    pthread_mutex_lock(&w->lock);
    /* Bounded: the first list ends by its own deadline, cancel or stop. */
    while (!w->first_done)
        pthread_cond_wait(&w->cond, &w->lock);
    int rc = w->first_rc;
    fcb_error first = w->first_err;
    pthread_mutex_unlock(&w->lock);
    if (rc != FCB_OK) {
        pthread_join(w->thread, NULL);
        watch_free(w);
        if (err != NULL)
            *err = first;
        return rc;
    }
    *out = w;
    return FCB_OK;
nomem:
    watch_free(w);
    return err_set(err, FCB_ERR_NO_MEMORY, "out of memory");
}

void kube_watch_stop(kube_watch *watch)
{
    if (watch == NULL)
        return;
    atomic_store(&watch->stop, true);
    kube_client_wake(watch->client);
    pthread_join(watch->thread, NULL);
    watch_free(watch);
}
