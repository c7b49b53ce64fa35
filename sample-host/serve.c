/*
 * serve: the daemon (a thread per connection, so a long Invoke blocks only
 * its own connection), request bodies, routing to the store, the lifecycle.
 */
#include "serve.h"

#include "commands.h"
#include "lambda_api.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SERVE_DEFAULT_LISTEN "127.0.0.1:9001"
#define SERVE_ACCOUNT        "000000000000"
#define SERVE_CONNECTIONS    2048
#define SERVE_THREAD_STACK   ((size_t)512 * 1024)
#define SERVE_GRACE_MS       30000L
#define SERVE_DRAIN_MS       5000L

/* A request being received: its body, bounded. */
typedef struct serve_request {
    char *body;
    size_t len, cap;
    bool too_big;
} serve_request;

void serve_answer_error(serve_answer *a, unsigned status, const char *type, const char *message,
                        const char *reason)
{
    free(a->body);
    a->status = status;
    a->error_type = type;
    a->body = lapi_error_body(type, message, reason);
    a->body_len = a->body != NULL ? strlen(a->body) : 0;
    a->content_type = "application/json";
}

static void answer_store_error(serve_answer *a, const store_error *err)
{
    serve_answer_error(a, (unsigned)err->http_status, err->type, err->message, NULL);
}

/* A JSON document (taken) as the answer, with STATUS. */
static void answer_json(serve_answer *a, unsigned status, json_object *doc)
{
    a->status = status;
    a->content_type = "application/json";
    const char *text = json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PLAIN |
                                                               JSON_C_TO_STRING_NOSLASHESCAPE);
    a->body = text != NULL ? strdup(text) : NULL;
    a->body_len = a->body != NULL ? strlen(a->body) : 0;
    json_object_put(doc);
}

/* The region of the request's SigV4 credential scope (never checked), else us-east-1. */
static void request_region(struct MHD_Connection *conn, char region[32])
{
    snprintf(region, 32, "us-east-1");
    const char *auth = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization");
    const char *cred = auth != NULL ? strstr(auth, "Credential=") : NULL;
    const char *p = cred != NULL ? strchr(cred, '/') : NULL; /* after the key id */
    p = p != NULL ? strchr(p + 1, '/') : NULL;               /* after the date */
    if (p == NULL)
        return;
    p++;
    size_t n = 0;
    while (n < 31 && ((p[n] >= 'a' && p[n] <= 'z') || (p[n] >= '0' && p[n] <= '9') || p[n] == '-'))
        n++;
    if (n > 0 && p[n] == '/') {
        memcpy(region, p, n);
        region[n] = '\0';
    }
}

/* The body as a JSON object (NULL for an empty body); -1 answers the error. */
static int body_json(const serve_call *c, json_object **out, serve_answer *a)
{
    *out = NULL;
    if (c->body_len == 0)
        return 0;
    json_tokener *tok = json_tokener_new();
    json_object *o = tok != NULL ? json_tokener_parse_ex(tok, c->body, (int)c->body_len) : NULL;
    bool ok = o != NULL && json_object_is_type(o, json_type_object);
    if (tok != NULL)
        json_tokener_free(tok);
    if (!ok) {
        json_object_put(o);
        serve_answer_error(a, 400, "InvalidRequestContentException",
                           "Could not parse request body into json: the body is not a JSON object",
                           NULL);
        return -1;
    }
    *out = o;
    return 0;
}

/* PutFunctionConcurrency's ReservedConcurrentExecutions: 0..100000. */
static int reserved_of(json_object *req, int *out, serve_answer *a)
{
    json_object *v = NULL;
    if (req == NULL || !json_object_object_get_ex(req, "ReservedConcurrentExecutions", &v) ||
        !json_object_is_type(v, json_type_int) || json_object_get_int64(v) < 0 ||
        json_object_get_int64(v) > 100000) {
        serve_answer_error(a, 400, "InvalidParameterValueException",
                           "ReservedConcurrentExecutions: required, a whole number 0 to 100000",
                           NULL);
        return -1;
    }
    *out = (int)json_object_get_int64(v);
    return 0;
}

#define SERVE_TAG_KEYS_MAX 50

typedef struct tag_keys {
    const char *keys[SERVE_TAG_KEYS_MAX];
    size_t n;
    bool too_many;
} tag_keys;

static enum MHD_Result collect_tag_key(void *cls, enum MHD_ValueKind kind, const char *key,
                                       const char *value)
{
    (void)kind;
    tag_keys *t = cls;
    if (strcmp(key, "tagKeys") == 0 && value != NULL) {
        if (t->n == SERVE_TAG_KEYS_MAX)
            t->too_many = true;
        else
            t->keys[t->n++] = value;
    }
    return MHD_YES;
}

/* UntagResource: every ?tagKeys= of the query. */
static int untag(serve *sv, const serve_call *c, store_error *err)
{
    tag_keys t = {.n = 0};
    MHD_get_connection_values(c->conn, MHD_GET_ARGUMENT_KIND, collect_tag_key, &t);
    if (t.too_many) {
        err->http_status = 400;
        err->type = "InvalidParameterValueException";
        snprintf(err->message, sizeof err->message, "tagKeys: at most %d", SERVE_TAG_KEYS_MAX);
        return -1;
    }
    return store_untag(sv->store, c->target, t.keys, t.n, err);
}

/* GetFunction's Code.Location: where the deploy's zip can be downloaded (from serve). */
static void add_code_location(serve *sv, json_object *doc)
{
    json_object *code = json_object_object_get(doc, "Code");
    json_object *config = json_object_object_get(doc, "Configuration");
    const char *type = json_object_get_string(json_object_object_get(code, "RepositoryType"));
    if (code == NULL || type == NULL || strcmp(type, "S3") != 0)
        return;
    if (json_object_object_get_ex(code, "Location", NULL))
        return; /* hot reload: the store's file://<directory>; there is no zip to serve */
    char location[512];
    snprintf(location, sizeof location, "%s" LAPI_CODE_PREFIX "%s/%s.zip", sv->url,
             json_object_get_string(json_object_object_get(config, "FunctionName")),
             json_object_get_string(json_object_object_get(config, "Version")));
    json_object_object_add(code, "Location", json_object_new_string(location));
}

/* Tags and layers (the rest of dispatch_store's switch). */
static int dispatch_more(serve *sv, lapi_op op, const serve_call *c, json_object *req,
                         json_object **doc, unsigned *ok, store_error *err)
{
    char region[32];
    switch (op) {
    case LAPI_LIST_TAGS: return store_list_tags(sv->store, c->target, doc, err);
    case LAPI_TAG_RESOURCE: *ok = 204; return store_tag(sv->store, c->target, req, err);
    case LAPI_UNTAG_RESOURCE: *ok = 204; return untag(sv, c, err);
    case LAPI_PUBLISH_LAYER_VERSION:
        request_region(c->conn, region);
        *ok = 201;
        return store_publish_layer(sv->store, c->target, req, region, doc, err);
    case LAPI_GET_LAYER_VERSION:
        return store_get_layer_version(sv->store, c->target, c->version, doc, err);
    case LAPI_CREATE_ALIAS:
        *ok = 201;
        return store_alias_op(sv->store, c->target, NULL, STORE_ALIAS_CREATE, req, doc, err);
    case LAPI_LIST_ALIASES:
        return store_alias_op(sv->store, c->target, NULL, STORE_ALIAS_LIST, req, doc, err);
    case LAPI_GET_ALIAS:
        return store_alias_op(sv->store, c->target, c->qualifier, STORE_ALIAS_GET, req, doc, err);
    case LAPI_UPDATE_ALIAS:
        return store_alias_op(sv->store, c->target, c->qualifier, STORE_ALIAS_UPDATE, req, doc,
                              err);
    case LAPI_DELETE_ALIAS:
        *ok = 204;
        return store_alias_op(sv->store, c->target, c->qualifier, STORE_ALIAS_DELETE, req, doc,
                              err);
    default:
        err->http_status = 400;
        err->type = "InvalidParameterValueException";
        snprintf(err->message, sizeof err->message,
                 "this operation is not supported by fakecloud-lambda-host serve");
        return -1;
    }
}

/* The store operations: one store call each, answered as AWS does. */
static void dispatch_store(serve *sv, lapi_op op, const serve_call *c, serve_answer *a)
{
    store_error err = {0};
    json_object *req = NULL, *doc = NULL;
    const char *qualifier =
        MHD_lookup_connection_value(c->conn, MHD_GET_ARGUMENT_KIND, "Qualifier");
    if (body_json(c, &req, a) != 0)
        return;
    int rc = -1, reserved = 0;
    unsigned ok = 200;
    char region[32];
    switch (op) {
    case LAPI_CREATE_FUNCTION:
        request_region(c->conn, region);
        rc = store_create(sv->store, req, region, &doc, &err);
        ok = 201;
        break;
    case LAPI_LIST_FUNCTIONS: rc = store_list(sv->store, &doc, &err); break;
    case LAPI_GET_FUNCTION:
    case LAPI_GET_FUNCTION_CONFIGURATION:
        rc = store_get_function(sv->store, c->target, qualifier,
                                op == LAPI_GET_FUNCTION_CONFIGURATION, &doc, &err);
        break;
    case LAPI_DELETE_FUNCTION:
        rc = store_delete(sv->store, c->target, qualifier, &err);
        ok = 204;
        break;
    case LAPI_UPDATE_FUNCTION_CODE:
        rc = store_update_code(sv->store, c->target, req, &doc, &err);
        break;
    case LAPI_UPDATE_FUNCTION_CONFIGURATION:
        rc = store_update_configuration(sv->store, c->target, req, &doc, &err);
        break;
    case LAPI_PUBLISH_VERSION:
        rc = store_publish(sv->store, c->target, req, &doc, &err);
        ok = 201;
        break;
    case LAPI_LIST_VERSIONS: rc = store_list_versions(sv->store, c->target, &doc, &err); break;
    case LAPI_PUT_CONCURRENCY:
        if (reserved_of(req, &reserved, a) != 0)
            goto out;
        rc = store_concurrency(sv->store, c->target, reserved, &doc, &err);
        break;
    case LAPI_DELETE_CONCURRENCY:
        rc = store_concurrency(sv->store, c->target, -1, &doc, &err);
        ok = 204;
        break;
    case LAPI_GET_CONCURRENCY: rc = store_concurrency(sv->store, c->target, -2, &doc, &err); break;
    default: rc = dispatch_more(sv, op, c, req, &doc, &ok, &err); break;
    }
    if (rc == 0 && op == LAPI_GET_FUNCTION)
        add_code_location(sv, doc);
    if (rc != 0)
        answer_store_error(a, &err);
    else if (doc != NULL)
        answer_json(a, ok, doc);
    else
        a->status = ok;
out:
    json_object_put(req);
}

/* GET of a Code.Location: the zip of that function's deploy. */
static void answer_code(serve *sv, const serve_call *c, serve_answer *a)
{
    store_deploy *d = NULL;
    int reserved;
    store_error err = {0};
    if (store_get(sv->store, c->target, c->qualifier, &d, &reserved, &err) != 0) {
        answer_store_error(a, &err);
        return;
    }
    a->body = d->code_len > 0 ? malloc(d->code_len) : NULL;
    if (d->code_len > 0 && a->body == NULL) {
        serve_answer_error(a, 500, "ServiceException", "out of memory", NULL);
    } else {
        if (d->code_len > 0)
            memcpy(a->body, d->code, d->code_len);
        a->body_len = d->code_len;
        a->status = 200;
        a->content_type = "application/zip";
    }
    store_deploy_put(d);
}

static void dispatch(serve *sv, const char *method, const char *url, const serve_call *c,
                     serve_answer *a)
{
    lapi_route route;
    if (lapi_route_parse(method, url, &route) != 0) {
        serve_answer_error(a, route.method_not_allowed ? 405 : 404,
                           route.method_not_allowed ? "MethodNotAllowedException"
                                                    : "UnknownOperationException",
                           route.method_not_allowed ? "method not allowed on this path"
                                                    : "unknown operation (path not in the API)",
                           NULL);
        return;
    }
    serve_call call = *c;
    call.target = route.target;
    call.version = route.version;
    call.qualifier = route.qualifier;
    if (route.op == LAPI_INVOKE)
        serve_invoke(sv, &call, a);
    else if (route.op == LAPI_GET_CODE)
        answer_code(sv, &call, a);
    else if (route.op == LAPI_METRICS)
        serve_metrics_text(sv, a);
    else
        dispatch_store(sv, route.op, &call, a);
}

static void add_header(struct MHD_Response *resp, const char *name, const char *value)
{
    if (value != NULL && value[0] != '\0')
        MHD_add_response_header(resp, name, value);
}

static enum MHD_Result send_answer(struct MHD_Connection *conn, serve_answer *a)
{
    struct MHD_Response *resp =
        a->body != NULL
            ? MHD_create_response_from_buffer(a->body_len, a->body, MHD_RESPMEM_MUST_FREE)
            : MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    if (resp == NULL)
        return MHD_NO;
    a->body = NULL; /* owned by the response now */
    char rid[40];
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    snprintf(rid, sizeof rid, "%08lx-%04lx-4000-8000-%012lx", (unsigned long)t.tv_sec & 0xffffffff,
             (unsigned long)(t.tv_nsec >> 16) & 0xffff, (unsigned long)random());
    add_header(resp, "Content-Type",
               a->content_type != NULL ? a->content_type : "application/json");
    add_header(resp, "x-amzn-RequestId", rid);
    add_header(resp, "X-Amzn-ErrorType", a->error_type);
    add_header(resp, "X-Amz-Function-Error", a->function_error);
    add_header(resp, "X-Amz-Executed-Version", a->executed_version);
    add_header(resp, "X-Amz-Log-Result", a->log_result);
    enum MHD_Result ret = MHD_queue_response(conn, a->status, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* Append a chunk of the body; beyond SERVE_BODY_MAX it is only counted as too big. */
static void request_append(serve_request *rq, const char *data, size_t len)
{
    if (rq->too_big || rq->len + len > SERVE_BODY_MAX) {
        rq->too_big = true;
        return;
    }
    if (rq->len + len + 1 > rq->cap) {
        size_t cap = rq->cap != 0 ? rq->cap : 4096;
        while (cap < rq->len + len + 1)
            cap *= 2;
        char *p = realloc(rq->body, cap);
        if (p == NULL) {
            rq->too_big = true;
            return;
        }
        rq->body = p;
        rq->cap = cap;
    }
    memcpy(rq->body + rq->len, data, len);
    rq->len += len;
    rq->body[rq->len] = '\0';
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *version, const char *upload_data,
                              size_t *upload_data_size, void **req_cls)
{
    (void)version;
    serve *sv = cls;
    serve_request *rq = *req_cls;
    if (rq == NULL) {
        rq = calloc(1, sizeof *rq);
        *req_cls = rq;
        if (rq == NULL)
            return MHD_NO;
        pthread_mutex_lock(&sv->lock);
        sv->requests++;
        pthread_mutex_unlock(&sv->lock);
        return MHD_YES;
    }
    if (*upload_data_size != 0) {
        request_append(rq, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return MHD_YES;
    }
    serve_answer a = {0};
    if (rq->too_big) {
        serve_answer_error(&a, 413, "RequestEntityTooLargeException",
                           "Request must be smaller than 70 MB", NULL);
    } else {
        serve_call c = {
            .conn = conn, .body = rq->body != NULL ? rq->body : "", .body_len = rq->len};
        dispatch(sv, method, url, &c, &a);
    }
    enum MHD_Result ret = send_answer(conn, &a);
    free(a.body);
    free(a.log_result);
    return ret;
}

/* The answer is sent (or the connection gone): the request is over. */
static void request_done(void *cls, struct MHD_Connection *conn, void **req_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)conn, (void)toe;
    serve *sv = cls;
    serve_request *rq = *req_cls;
    if (rq == NULL)
        return;
    free(rq->body);
    free(rq);
    *req_cls = NULL;
    pthread_mutex_lock(&sv->lock);
    sv->requests--;
    pthread_cond_broadcast(&sv->events_done);
    pthread_mutex_unlock(&sv->lock);
}

/* Let the requests in flight send their answers (bounded: SERVE_DRAIN_MS). */
static void requests_drain(serve *sv)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += SERVE_DRAIN_MS / 1000;
    pthread_mutex_lock(&sv->lock);
    for (unsigned i = 0; sv->requests > 0 && i < 100000; i++)
        if (pthread_cond_timedwait(&sv->events_done, &sv->lock, &until) != 0)
            break;
    pthread_mutex_unlock(&sv->lock);
}

/* ---- lifecycle ------------------------------------------------------------------- */

static void on_deploy_new(void *ctx, store_deploy *d)
{
    serve *sv = ctx;
    if (pool_hold(sv->pool, d->group, d->desc->fn.function_name) != 0)
        host_log(sv->r->hs, FCB_LOG_WARN, "out of memory: the deploy's pool group is not held",
                 "group", d->group, NULL);
    if (d->code == NULL || sv->r->artifacts == NULL)
        return;
    if (artifact_server_add(sv->r->artifacts, d->desc->account, d->desc->fn.function_name,
                            d->deploy_id, d->code, d->code_len, d->layers_tar,
                            d->layers_tar_len) != 0)
        host_log(sv->r->hs, FCB_LOG_WARN, "artifact server full: the code is not served",
                 "function", d->desc->fn.function_name, NULL);
}

/* The deploy's last reference went: nothing will call it again. */
static void on_deploy_free(void *ctx, store_deploy *d)
{
    serve *sv = ctx;
    pool_retire(sv->pool, d->group);
    if (d->code != NULL && sv->r->artifacts != NULL)
        artifact_server_remove(sv->r->artifacts, d->code);
}

/* A whole number from the environment (KEY) within MIN..MAX, else DEFAULT with a warning. */
static long env_number(run *r, const char *key, long min, long max, long fallback, bool *bad)
{
    const char *v = host_services_config(r->hs, key);
    if (v == NULL || v[0] == '\0')
        return fallback;
    char *end = NULL;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (errno != 0 || *end != '\0' || n < min || n > max) {
        run_fail(r, HOST_EXIT_USAGE, FCB_ERR_CONFIG,
                 "%s: \"%.40s\" is not a whole number %ld to %ld", key, v, min, max);
        *bad = true;
    }
    return n;
}

static int start_daemon(serve *sv, const char *listen)
{
    char why[HOST_WHY_MAX];
    struct sockaddr_in addr;
    if (artifact_listen_parse("--listen", listen, &addr, why, sizeof why) != 0)
        return run_fail(sv->r, HOST_EXIT_USAGE, FCB_ERR_INVALID_ARGUMENT, "%s", why);
    /* poll(), not MHD's default select(): select drops every connection whose
     * descriptor is >= FD_SETSIZE (1024), which 1000 waiting callers reach. */
    sv->daemon = MHD_start_daemon(
        MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ITC |
            MHD_USE_POLL,
        0, NULL,
        NULL, handle, sv, MHD_OPTION_SOCK_ADDR, (const struct sockaddr *)&addr,
        MHD_OPTION_NOTIFY_COMPLETED, request_done, sv, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned)SERVE_CONNECTIONS, MHD_OPTION_THREAD_STACK_SIZE, SERVE_THREAD_STACK,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)960, MHD_OPTION_LISTEN_BACKLOG_SIZE,
        (unsigned)1024, MHD_OPTION_END);
    if (sv->daemon == NULL)
        return run_fail(sv->r, HOST_EXIT_USAGE, FCB_ERR_INVALID_ARGUMENT,
                        "--listen: cannot listen on %s (address in use or not local?)", listen);
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(sv->daemon, MHD_DAEMON_INFO_BIND_PORT);
    char *url = sv->url;
    snprintf(sv->url, sizeof sv->url, "http://%.64s:%u", inet_ntoa(addr.sin_addr),
             info != NULL ? (unsigned)info->port : 0);
    /* One line on stdout, so a script (and the tests) learn the port of --listen ...:0. */
    printf("serving %s\n", url);
    fflush(stdout);
    host_log(sv->r->hs, FCB_LOG_INFO, "serving the Lambda API", "url", url, "backend",
             sv->r->plugin->ops->name, NULL);
    return HOST_EXIT_OK;
}

/* Settings, backend, artifact server, pool, store. */
static int serve_open(serve *sv)
{
    run *r = sv->r;
    bool bad = false;
    pool_config cfg = {(unsigned)env_number(r, "FAKECLOUD_LAMBDA_MAX_CONCURRENCY", 1, 100000,
                                            POOL_DEFAULT_MAX_INSTANCES, &bad),
                       env_number(r, "FAKECLOUD_LAMBDA_KEEPALIVE_MS", 0, 86400000L,
                                  POOL_DEFAULT_KEEPALIVE_MS, &bad),
                       POOL_DEFAULT_STATUS_CHECK_MS};
    sv->wait_ms = env_number(r, "FAKECLOUD_LAMBDA_WAIT_MS", 0, 900000L, 60000L, &bad);
    sv->event_retry_ms = env_number(r, "FAKECLOUD_LAMBDA_EVENT_RETRY_MS", 0, 600000L, 1000L, &bad);
    if (bad)
        return HOST_EXIT_USAGE;
    int rc = run_read_credentials(r);
    if (rc == HOST_EXIT_OK)
        rc = run_backend_load(r);
    if (rc == HOST_EXIT_OK && r->creds.access_key_id != NULL &&
        (run_capabilities(r) & FCB_CAP_CREDENTIALS) == 0)
        rc = run_fail(r, HOST_EXIT_USAGE, FCB_ERR_UNSUPPORTED,
                      "--role-credentials: backend %s does not declare the credentials "
                      "capability (the runtimes would not get them)",
                      r->plugin->ops->name);
    if (rc == HOST_EXIT_OK)
        rc = run_start_artifacts(r);
    if (rc == HOST_EXIT_OK)
        rc = run_backend_open(r);
    if (rc != HOST_EXIT_OK)
        return rc;
    pool_backend be = {r->plugin->ops, r->plugin->ops_size, r->backend, r->hs};
    if (pool_new(&be, &cfg, &sv->pool) != 0 || serve_metrics_new(&sv->metrics) != 0 ||
        store_new(SERVE_ACCOUNT, on_deploy_new, on_deploy_free, sv, &sv->store) != 0)
        return run_fail(r, HOST_EXIT_FAILED, FCB_ERR_NO_MEMORY, "out of memory");
    store_allow_hot_reload(sv->store, (run_capabilities(r) & FCB_CAP_HOT_RELOAD) != 0);
    return HOST_EXIT_OK;
}

/*
 * Stop in the order that leaves nothing: no new connection, calls in flight
 * cancelled (they answer 503), Event invocations drained, the daemon's
 * threads joined, then every function dropped (their groups retired) and
 * the pool freed (every instance terminated).
 */
static void serve_close(serve *sv)
{
    if (sv->daemon != NULL)
        MHD_quiesce_daemon(sv->daemon);
    if (sv->pool != NULL)
        pool_shutdown(sv->pool);
    serve_events_drain(sv);
    requests_drain(sv);
    if (sv->daemon != NULL)
        MHD_stop_daemon(sv->daemon);
    sv->daemon = NULL;
    store_free(sv->store);
    sv->store = NULL;
    pool_counts c = {0};
    if (sv->pool != NULL)
        pool_get_counts(sv->pool, NULL, &c);
    pool_free(sv->pool);
    sv->pool = NULL;
    serve_metrics_free(sv->metrics);
    char n[24];
    snprintf(n, sizeof n, "%llu", (unsigned long long)c.terminations);
    host_log(sv->r->hs, FCB_LOG_INFO, "serve stopped: every instance terminated", "terminated", n,
             NULL);
}

int cmd_serve(run *r)
{
    serve sv;
    memset(&sv, 0, sizeof sv);
    sv.r = r;
    pthread_mutex_init(&sv.lock, NULL);
    pthread_cond_init(&sv.events_done, NULL);
    r->sig.grace_ms = SERVE_GRACE_MS; /* a graceful stop terminates every instance */
    int rc = serve_open(&sv);
    if (rc == HOST_EXIT_OK)
        rc = start_daemon(&sv, r->opt.listen != NULL ? r->opt.listen : SERVE_DEFAULT_LISTEN);
    /* The signal thread sets the flag; 50-ms polls keep the stop prompt. */
    for (unsigned long i = 0; rc == HOST_EXIT_OK && !run_interrupted(r) && i < (1ul << 40); i++)
        nanosleep(&(struct timespec){0, 50 * 1000000L}, NULL);
    if (rc == HOST_EXIT_OK)
        host_log(r->hs, FCB_LOG_INFO, "stopping: terminating every instance", NULL);
    serve_close(&sv);
    pthread_cond_destroy(&sv.events_done);
    pthread_mutex_destroy(&sv.lock);
    return rc;
}
