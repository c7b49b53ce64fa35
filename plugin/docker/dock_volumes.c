/*
 * dock_volumes: paths, bodies and answer parsing of /volumes.
 */
#include "dock_volumes.h"

#include "jsonx.h"
#include "lease.h"

#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

#define DOCK_VOLUME_LIST_MAX_BODY (16u * 1024 * 1024)

static int dock_volumes_no_memory(fcb_error *err)
{
    return err_set(err, FCB_ERR_NO_MEMORY, "docker: out of memory");
}

/* Send REQ to PATH (owned by the caller); RESP always initialised. */
static int dock_volumes_call(dock_engine *engine, dock_request *req, const char *path,
                             dock_response *resp, fcb_error *err)
{
    memset(resp, 0, sizeof *resp);
    if (path == NULL)
        return dock_volumes_no_memory(err);
    req->path = path;
    int rc = dock_engine_call(engine, req, resp, err);
    req->path = NULL;
    return rc;
}

/* {"Name":NAME,"Driver":"local","Labels":{...}} on the host allocator, or NULL. */
static char *dock_volume_body(const fcb_host_services *host, const char *name,
                              const dock_label *labels, size_t n)
{
    json_object *root = json_object_new_object(), *lab = json_object_new_object();
    char *out = NULL;
    bool ok = root != NULL && lab != NULL &&
              json_object_object_add(root, "Name", json_object_new_string(name)) == 0 &&
              json_object_object_add(root, "Driver", json_object_new_string("local")) == 0;
    for (size_t i = 0; ok && i < n; i++)
        ok = json_object_object_add(lab, labels[i].key, json_object_new_string(labels[i].value)) ==
             0;
    if (ok) {
        ok = json_object_object_add(root, "Labels", lab) == 0;
        lab = NULL;
    }
    if (ok)
        out = svc_strdup(host, json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN));
    json_object_put(lab);
    json_object_put(root);
    return out;
}

/* Whether the answer's Labels carry every one of LABELS with the same value. */
static bool dock_volume_labels_match(const char *answer, const dock_label *labels, size_t n)
{
    json_object *root = json_tokener_parse(answer != NULL ? answer : "");
    json_object *lab = NULL;
    bool ok = root != NULL && json_object_object_get_ex(root, "Labels", &lab);
    for (size_t i = 0; ok && i < n; i++) {
        const char *v = jsonx_get_string(lab, labels[i].key);
        ok = v != NULL && strcmp(v, labels[i].value) == 0;
    }
    json_object_put(root);
    return ok;
}

int dock_volume_create(dock_engine *engine, const char *name, const dock_label *labels,
                       size_t n_labels, uint32_t timeout_ms, bool cancellable, fcb_error *err)
{
    dock_response resp;
    char *body = dock_volume_body(engine->host, name, labels, n_labels);
    if (body == NULL)
        return dock_volumes_no_memory(err);
    dock_request req = {.method = "POST",
                        .body = body,
                        .body_len = strlen(body),
                        .timeout_ms = (long)timeout_ms,
                        .cancellable = cancellable};
    int rc = dock_volumes_call(engine, &req, "/volumes/create", &resp, err);
    svc_free(engine->host, (char *)req.body);
    if (rc == FCB_OK && resp.status != 201) {
        char what[DOCK_NAME_MAX + 32];
        snprintf(what, sizeof what, "create volume %s", name);
        rc = dock_engine_http_error(&resp, FCB_ERR_BACKEND, what, err);
    } else if (rc == FCB_OK && !dock_volume_labels_match(resp.body.data, labels, n_labels)) {
        rc = err_set(err, FCB_ERR_BACKEND,
                     "create volume %s: the volume already exists with other labels", name);
    }
    dock_response_free(&resp);
    return rc;
}

int dock_volume_delete(dock_engine *engine, const char *name, uint32_t timeout_ms, bool cancellable,
                       fcb_error *err)
{
    dock_response resp;
    char *esc = dock_engine_escape(engine->host, name);
    char *path = esc != NULL ? svc_sprintf(engine->host, "/volumes/%s", esc) : NULL;
    svc_free(engine->host, esc);
    dock_request req = {
        .method = "DELETE", .timeout_ms = (long)timeout_ms, .cancellable = cancellable};
    int rc = dock_volumes_call(engine, &req, path, &resp, err);
    svc_free(engine->host, path);
    if (rc == FCB_OK && resp.status != 204 && resp.status != 404) {
        char what[DOCK_NAME_MAX + 32];
        snprintf(what, sizeof what, "delete volume %s", name);
        rc = dock_engine_http_error(&resp, FCB_ERR_BACKEND, what, err);
    }
    dock_response_free(&resp);
    return rc;
}

const char *dock_volume_label(const dock_volume_info *v, const char *key)
{
    return jsonx_get_string((json_object *)v->labels_, key);
}

static int dock_volume_each(json_object *root, size_t max,
                            int (*each)(void *ctx, const dock_volume_info *v), void *ctx)
{
    json_object *arr = NULL;
    if (!json_object_object_get_ex(root, "Volumes", &arr) ||
        !json_object_is_type(arr, json_type_array))
        return FCB_OK; /* "Volumes": null when there are none */
    size_t n = json_object_array_length(arr);
    for (size_t i = 0; i < n && i < max; i++) {
        json_object *v = json_object_array_get_idx(arr, i), *labels = NULL;
        const char *name = jsonx_get_string(v, "Name");
        if (name == NULL || !json_object_object_get_ex(v, "Labels", &labels))
            continue;
        dock_volume_info info = {
            .name = name, .created_at = jsonx_get_string(v, "CreatedAt"), .labels_ = labels};
        int rc = each(ctx, &info);
        if (rc != FCB_OK)
            return rc;
    }
    return FCB_OK;
}

int dock_volume_list(dock_engine *engine, const char *label_filter, size_t max,
                     int (*each)(void *ctx, const dock_volume_info *v), void *ctx, int64_t *date_us,
                     uint32_t timeout_ms, bool cancellable, fcb_error *err)
{
    dock_response resp;
    json_object *root = NULL;
    if (date_us != NULL)
        *date_us = LEASE_TIME_NONE;
    char *filter = svc_sprintf(engine->host, "{\"label\":[\"%s\"]}", label_filter);
    char *esc = filter != NULL ? dock_engine_escape(engine->host, filter) : NULL;
    char *path = esc != NULL ? svc_sprintf(engine->host, "/volumes?filters=%s", esc) : NULL;
    svc_free(engine->host, filter);
    svc_free(engine->host, esc);
    dock_request req = {.method = "GET",
                        .timeout_ms = (long)timeout_ms,
                        .cancellable = cancellable,
                        .max_body = DOCK_VOLUME_LIST_MAX_BODY};
    int rc = dock_volumes_call(engine, &req, path, &resp, err);
    svc_free(engine->host, path);
    if (rc != FCB_OK)
        goto out;
    if (resp.status != 200) {
        rc = dock_engine_http_error(&resp, FCB_ERR_BACKEND, "list volumes", err);
        goto out;
    }
    root = json_tokener_parse(resp.body.data != NULL ? resp.body.data : "");
    if (root == NULL || !json_object_is_type(root, json_type_object)) {
        rc = err_set(err, FCB_ERR_BACKEND, "list volumes: unreadable answer");
        goto out;
    }
    fcb_error e2 = FCB_ERROR_INIT;
    if (date_us != NULL && resp.date[0] != '\0' &&
        lease_http_date_parse(resp.date, date_us, &e2) != FCB_OK)
        *date_us = LEASE_TIME_NONE;
    rc = dock_volume_each(root, max, each, ctx);
out:
    json_object_put(root);
    dock_response_free(&resp);
    return rc;
}
