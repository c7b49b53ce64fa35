/*
 * dock_containers: paths, query strings and answer parsing of /containers.
 */
#include "dock_containers.h"

#include "dock_backend.h"
#include "jsonx.h"
#include "labels.h"

#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DOCK_START_ATTEMPTS      5
#define DOCK_REMOVE_TIMEOUT_MS   30000u
#define DOCK_ARCHIVE_TIMEOUT_MS  300000u
#define DOCK_LOGS_TIMEOUT_MS     5000u
#define DOCK_LIST_MAX_BODY_BYTES (64u * 1024 * 1024)

/* String at PATH of OBJ, or DEF. */
static const char *dock_str_or(json_object *obj, const char *path, const char *def)
{
    const char *s = jsonx_get_string(obj, path);
    return s != NULL ? s : def;
}

static int dock_no_memory(fcb_error *err)
{
    return err_set(err, FCB_ERR_NO_MEMORY, "docker: out of memory");
}

/*
 * Send REQ with the path printf(FMT, ...) (built and freed here). RESP is
 * always initialised; the caller frees it with dock_response_free.
 */
static int dock_containers_call(dock_engine *engine, dock_request *req, dock_response *resp,
                                fcb_error *err, const char *fmt, ...) SVC_PRINTF(5, 6);
static int dock_containers_call(dock_engine *engine, dock_request *req, dock_response *resp,
                                fcb_error *err, const char *fmt, ...)
{
    va_list ap;
    memset(resp, 0, sizeof *resp);
    va_start(ap, fmt);
    char *path = svc_vsprintf(engine->host, fmt, ap);
    va_end(ap);
    if (path == NULL)
        return dock_no_memory(err);
    req->path = path;
    int rc = dock_engine_call(engine, req, resp, err);
    req->path = NULL;
    svc_free(engine->host, path);
    return rc;
}

/* An engine id: lower-case hex that fits. */
static bool dock_is_engine_id(const char *s)
{
    return s != NULL && s[0] != '\0' && strlen(s) < DOCK_ID_MAX &&
           strspn(s, "0123456789abcdef") == strlen(s);
}

int dock_container_create(dock_engine *engine, const char *name, const char *platform,
                          const char *body, uint32_t timeout_ms, char id[DOCK_ID_MAX],
                          bool *maybe_created, fcb_error *err)
{
    dock_response resp;
    id[0] = '\0';
    *maybe_created = false;
    dock_request req = {.method = "POST",
                        .body = body,
                        .body_len = strlen(body),
                        .timeout_ms = (long)timeout_ms,
                        .cancellable = false};
    char *eplatform = platform != NULL ? dock_engine_escape(engine->host, platform) : NULL;
    if (platform != NULL && eplatform == NULL)
        return dock_no_memory(err); /* nothing was sent */
    int rc = dock_containers_call(engine, &req, &resp, err, "/containers/create?name=%s%s%s", name,
                                  eplatform != NULL ? "&platform=" : "",
                                  eplatform != NULL ? eplatform : "");
    svc_free(engine->host, eplatform);
    if (rc != FCB_OK) {
        /* E.g. a timeout: the engine may have created it anyway. Names are unique. */
        *maybe_created = true;
    } else if (resp.status != 201) {
        char what[DOCK_NAME_MAX + 32];
        snprintf(what, sizeof what, "create container %s", name);
        rc = dock_engine_http_error(
            &resp, resp.status == 404 ? FCB_ERR_START_FAILED : FCB_ERR_BACKEND, what, err);
    } else {
        json_object *root = json_tokener_parse(resp.body.data != NULL ? resp.body.data : "");
        const char *s = jsonx_get_string(root, "Id");
        if (dock_is_engine_id(s))
            snprintf(id, DOCK_ID_MAX, "%s", s);
        json_object_put(root);
        if (id[0] == '\0') {
            *maybe_created = true;
            rc = err_set(err, FCB_ERR_BACKEND, "create container %s: answer has no Id", name);
        }
    }
    dock_response_free(&resp);
    return rc;
}

int dock_container_archive_put(dock_engine *engine, const char *id, const void *tar, size_t len,
                               uint32_t timeout_ms, const fcb_cancel *cancel, fcb_error *err)
{
    dock_response resp;
    dock_request req = {
        .method = "PUT",
        .body = tar,
        .body_len = len,
        .content_type = "application/x-tar",
        .cancellable = true,
        .timeout_ms = (long)(timeout_ms != 0 ? timeout_ms : DOCK_ARCHIVE_TIMEOUT_MS)};
    dock_request_cancel_on(&req, cancel);
    int rc = dock_containers_call(engine, &req, &resp, err, "/containers/%s/archive?path=/", id);
    if (rc == FCB_OK && resp.status != 200)
        rc = dock_engine_http_error(&resp, FCB_ERR_BACKEND, "copy code into the container", err);
    dock_response_free(&resp);
    return rc;
}

int dock_container_start(dock_engine *engine, const char *id, uint32_t timeout_ms,
                         fcb_error *err)
{
    dock_response resp;
    dock_request req = {.method = "POST", .cancellable = true, .timeout_ms = (long)timeout_ms};
    int rc = FCB_OK;
    for (int attempt = 0; attempt < DOCK_START_ATTEMPTS; attempt++) {
        rc = dock_containers_call(engine, &req, &resp, err, "/containers/%s/start", id);
        bool port_taken = false;
        if (rc == FCB_OK && resp.status != 204 && resp.status != 304) {
            rc = dock_engine_http_error(&resp, FCB_ERR_START_FAILED, "start", err);
            port_taken = resp.body.data != NULL &&
                         strstr(resp.body.data, "address already in use") != NULL;
        }
        dock_response_free(&resp);
        if (!port_taken)
            break;
        svc_log(engine->host, FCB_LOG_DEBUG, DOCK_PLUGIN_NAME, "host port taken, starting again",
                "container", id, NULL);
    }
    return rc;
}

/* NetworkSettings.Ports["8080/tcp"][].HostPort, preferring the IPv4 binding. */
static unsigned dock_state_host_port(json_object *root)
{
    json_object *net = NULL, *ports = NULL, *list = NULL;
    unsigned port = 0;
    if (!json_object_object_get_ex(root, "NetworkSettings", &net) ||
        !json_object_object_get_ex(net, "Ports", &ports) ||
        !json_object_object_get_ex(ports, DOCK_RIE_PORT, &list) ||
        !json_object_is_type(list, json_type_array))
        return 0;
    size_t n = json_object_array_length(list);
    for (size_t i = 0; i < n && i < 16; i++) {
        json_object *binding = json_object_array_get_idx(list, i);
        const char *hp = jsonx_get_string(binding, "HostPort");
        const char *ip = jsonx_get_string(binding, "HostIp");
        char *end = NULL;
        unsigned long v = hp != NULL ? strtoul(hp, &end, 10) : 0;
        if (v == 0 || v > 65535 || end == NULL || *end != '\0')
            continue;
        /* docker may add a binding for "::" next to the IPv4 one. */
        if (port == 0 || strchr(ip != NULL ? ip : "", ':') == NULL)
            port = (unsigned)v;
    }
    return port;
}

int dock_container_inspect(dock_engine *engine, const char *id, dock_container_state *st,
                           fcb_error *err)
{
    dock_response resp;
    json_object *root = NULL, *state = NULL, *v = NULL;
    memset(st, 0, sizeof *st);
    dock_request req = {.method = "GET", .cancellable = true};
    int rc = dock_containers_call(engine, &req, &resp, err, "/containers/%s/json", id);
    if (rc != FCB_OK)
        goto out;
    if (resp.status != 200) {
        rc = dock_engine_http_error(&resp,
                                    resp.status == 404 ? FCB_ERR_START_FAILED : FCB_ERR_BACKEND,
                                    "inspect container", err);
        goto out;
    }
    root = json_tokener_parse(resp.body.data != NULL ? resp.body.data : "");
    if (root == NULL || !json_object_object_get_ex(root, "State", &state)) {
        rc = err_set(err, FCB_ERR_BACKEND, "inspect container: unreadable answer");
        goto out;
    }
    if (json_object_object_get_ex(state, "Running", &v))
        st->running = json_object_get_boolean(v);
    snprintf(st->status, sizeof st->status, "%s", dock_str_or(state, "Status", ""));
    if (json_object_object_get_ex(state, "ExitCode", &v))
        st->exit_code = (long)json_object_get_int64(v);
    snprintf(st->error, sizeof st->error, "%s", dock_str_or(state, "Error", ""));
    st->host_port = dock_state_host_port(root);
out:
    json_object_put(root);
    dock_response_free(&resp);
    return rc;
}

int dock_container_owned(dock_engine *engine, const char *id, bool *gone, char full_id[DOCK_ID_MAX],
                         fcb_error *err)
{
    dock_response resp;
    json_object *root = NULL;
    *gone = false;
    dock_request req = {.method = "GET", .cancellable = true};
    int rc = dock_containers_call(engine, &req, &resp, err, "/containers/%s/json", id);
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
    const char *owner = jsonx_get_string(root, "Config.Labels." LABEL_MANAGED_BY);
    const char *engine_id = jsonx_get_string(root, "Id");
    if (owner == NULL || strcmp(owner, LABEL_MANAGED_BY_VALUE) != 0) {
        rc = err_set(err, FCB_ERR_NOT_FOUND,
                     "container %.64s is not managed by fakecloud (label " LABEL_MANAGED_BY
                     " is %s%.64s%s): not removed",
                     id, owner != NULL ? "'" : "", owner != NULL ? owner : "absent",
                     owner != NULL ? "'" : "");
        goto out;
    }
    if (!dock_is_engine_id(engine_id)) {
        rc = err_set(err, FCB_ERR_BACKEND, "inspect container %.64s: answer has no valid Id", id);
        goto out;
    }
    snprintf(full_id, DOCK_ID_MAX, "%s", engine_id);
out:
    json_object_put(root);
    dock_response_free(&resp);
    return rc;
}

/* The last MAX_BYTES of TEXT (LEN bytes) as one printable line into OUT. */
static void dock_one_line(const char *text, size_t len, size_t max_bytes, char *out, size_t size)
{
    while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r'))
        len--;
    size_t start = len > max_bytes ? len - max_bytes : 0;
    size_t o = 0;
    for (size_t i = start; i < len && o + 4 < size; i++) {
        char c = text[i];
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

void dock_container_logs_tail(dock_engine *engine, const char *id, size_t max_bytes, char *out,
                              size_t size)
{
    dock_response resp;
    sbuf text;
    fcb_error e2 = FCB_ERROR_INIT;
    out[0] = '\0';
    sbuf_init(&text, engine->host, 0);
    dock_request req = {.method = "GET", .timeout_ms = DOCK_LOGS_TIMEOUT_MS, .max_body = 64 * 1024};
    if (dock_containers_call(engine, &req, &resp, &e2,
                             "/containers/%s/logs?stdout=1&stderr=1&tail=20", id) == FCB_OK &&
        resp.status == 200 &&
        resp.body.data != NULL && dock_spec_demux_logs(resp.body.data, resp.body.len, &text) &&
        text.data != NULL)
        dock_one_line(text.data, text.len, max_bytes, out, size);
    dock_response_free(&resp);
    sbuf_free(&text);
}

int dock_container_remove(dock_engine *engine, const char *id, bool cancellable, fcb_error *err)
{
    dock_response resp;
    dock_request req = {
        .method = "DELETE", .cancellable = cancellable, .timeout_ms = DOCK_REMOVE_TIMEOUT_MS};
    int rc = dock_containers_call(engine, &req, &resp, err, "/containers/%s?force=1&v=1", id);
    if (rc == FCB_OK && resp.status != 204 && resp.status != 200 && resp.status != 404 &&
        !(resp.status == 409 && resp.body.data != NULL &&
          strstr(resp.body.data, "in progress") != NULL)) {
        char what[160];
        snprintf(what, sizeof what, "remove container %.64s", id);
        rc = dock_engine_http_error(&resp, FCB_ERR_BACKEND, what, err);
    }
    dock_response_free(&resp);
    return rc;
}

/* Call EACH for every entry of the list answer ROOT that carries our managed-by label. */
static int dock_list_each(json_object *root, size_t max, dock_list_fn each, void *ctx)
{
    size_t n = json_object_array_length(root);
    for (size_t i = 0; i < n && i < max; i++) {
        json_object *c = json_object_array_get_idx(root, i);
        const char *id = jsonx_get_string(c, "Id");
        json_object *labels = NULL;
        if (id == NULL || !json_object_object_get_ex(c, "Labels", &labels))
            continue;
        /* The filter already asked for it; check again, never touch a foreign container. */
        const char *owner = jsonx_get_string(labels, LABEL_MANAGED_BY);
        if (owner == NULL || strcmp(owner, LABEL_MANAGED_BY_VALUE) != 0)
            continue;
        json_object *created = NULL;
        int64_t created_s = json_object_object_get_ex(c, "Created", &created) &&
                                    json_object_is_type(created, json_type_int)
                                ? json_object_get_int64(created)
                                : DOCK_CREATED_UNKNOWN;
        int rc = each(ctx, id, dock_str_or(labels, LABEL_INSTANCE, ""), created_s);
        if (rc != FCB_OK)
            return rc;
    }
    return FCB_OK;
}

int dock_container_list_managed(dock_engine *engine, size_t max, dock_list_fn each, void *ctx,
                                fcb_error *err)
{
    dock_response resp;
    json_object *root = NULL;
    int rc;
    memset(&resp, 0, sizeof resp);
    char *filters =
        dock_engine_escape(engine->host, "{\"label\":[\"" LABEL_MANAGED_BY_SELECTOR "\"]}");
    if (filters == NULL) {
        rc = dock_no_memory(err);
        goto out;
    }
    dock_request req = {.method = "GET", .cancellable = true, .max_body = DOCK_LIST_MAX_BODY_BYTES};
    rc = dock_containers_call(engine, &req, &resp, err, "/containers/json?all=1&filters=%s",
                              filters);
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
    rc = dock_list_each(root, max, each, ctx);
out:
    json_object_put(root);
    dock_response_free(&resp);
    svc_free(engine->host, filters);
    return rc;
}

/* AWS_LAMBDA_FUNCTION_TIMEOUT of Config.Env (what launch gave the runtime), 0 when absent. */
static uint32_t dock_env_timeout(json_object *root)
{
    static const char name[] = "AWS_LAMBDA_FUNCTION_TIMEOUT=";
    json_object *config = NULL, *env = NULL;
    if (!json_object_object_get_ex(root, "Config", &config) ||
        !json_object_object_get_ex(config, "Env", &env) ||
        !json_object_is_type(env, json_type_array))
        return 0;
    size_t n = json_object_array_length(env);
    for (size_t i = 0; i < n && i < 4096; i++) {
        const char *kv = json_object_get_string(json_object_array_get_idx(env, i));
        if (kv == NULL || strncmp(kv, name, sizeof name - 1) != 0)
            continue;
        unsigned long v = strtoul(kv + sizeof name - 1, NULL, 10);
        return v <= 900 ? (uint32_t)v : 0;
    }
    return 0;
}

int dock_container_life_get(dock_engine *engine, const char *id, dock_container_life *life,
                            fcb_error *err)
{
    dock_response resp;
    json_object *root = NULL, *v = NULL;
    memset(life, 0, sizeof *life);
    dock_request req = {.method = "GET", .cancellable = true};
    int rc = dock_containers_call(engine, &req, &resp, err, "/containers/%s/json", id);
    if (rc != FCB_OK)
        goto out;
    if (resp.status == 404) {
        life->gone = true;
        goto out;
    }
    if (resp.status != 200) {
        rc = dock_engine_http_error(&resp, FCB_ERR_BACKEND, "inspect container", err);
        goto out;
    }
    root = json_tokener_parse(resp.body.data != NULL ? resp.body.data : "");
    json_object *state = NULL;
    if (root == NULL || !json_object_object_get_ex(root, "State", &state)) {
        rc = err_set(err, FCB_ERR_BACKEND, "inspect container %.64s: unreadable answer", id);
        goto out;
    }
    const char *owner = jsonx_get_string(root, "Config.Labels." LABEL_MANAGED_BY);
    life->gone = owner == NULL || strcmp(owner, LABEL_MANAGED_BY_VALUE) != 0;
    life->foreign = life->gone;
    snprintf(life->status, sizeof life->status, "%s", dock_str_or(state, "Status", ""));
    snprintf(life->image, sizeof life->image, "%s", dock_str_or(root, "Image", ""));
    life->host_port = dock_state_host_port(root);
    life->timeout_s = dock_env_timeout(root);
    if (json_object_object_get_ex(state, "ExitCode", &v))
        life->exit_code = (long)json_object_get_int64(v);
    if (json_object_object_get_ex(state, "OOMKilled", &v))
        life->oom_killed = json_object_get_boolean(v);
    snprintf(life->error, sizeof life->error, "%s", dock_str_or(state, "Error", ""));
out:
    json_object_put(root);
    dock_response_free(&resp);
    return rc;
}

int dock_container_logs_stream(dock_engine *engine, const char *id, const dock_logs_query *q,
                               fcb_error *err)
{
    dock_response resp;
    char tail[16] = "all", since[48] = "0";
    if (q->tail_lines > 0)
        snprintf(tail, sizeof tail, "%u", (unsigned)q->tail_lines);
    if (q->since_unix_ms > 0)
        snprintf(since, sizeof since, "%lld.%03lld", (long long)(q->since_unix_ms / 1000),
                 (long long)(q->since_unix_ms % 1000));
    dock_request req = {.method = "GET",
                        .cancellable = true,
                        .timeout_ms = (long)q->timeout_ms,
                        .on_data = q->on_data,
                        .data_ctx = q->data_ctx,
                        .stop = q->stop,
                        .stop_ctx = q->stop_ctx};
    int rc =
        dock_containers_call(engine, &req, &resp, err,
                             "/containers/%s/logs?stdout=1&stderr=1&tail=%s&since=%s&follow=%d", id,
                             tail, since, q->follow ? 1 : 0);
    if (rc == FCB_OK && (resp.status < 200 || resp.status > 299)) {
        char what[160];
        snprintf(what, sizeof what, "logs of container %.64s", id);
        rc = dock_engine_http_error(&resp, resp.status == 404 ? FCB_ERR_NOT_FOUND : FCB_ERR_BACKEND,
                                    what, err);
    }
    dock_response_free(&resp);
    return rc;
}
