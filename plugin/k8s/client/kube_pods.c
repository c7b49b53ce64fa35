/* kube_pods: the Pod table over kube_resource, plus pods/log and the watch. */
#include "kube_pods.h"

#include "svc.h"

#include <stdio.h>
#include <string.h>

static const kube_kind kube_pod_kind = {.plural = "pods", .singular = "pod", .has_grace = true};

int kube_pods_create(kube_client *client, const char *ns, const char *body, size_t body_len,
                     unsigned deadline_ms, kube_create_result *out, fcb_error *err)
{
    return kube_resource_create(client, &kube_pod_kind, ns, body, body_len, deadline_ms, out, err);
}

int kube_pods_get(kube_client *client, const char *ns, const char *name, unsigned deadline_ms,
                  json_object **out, fcb_error *err)
{
    if (name == NULL) {
        *out = NULL;
        return err_set(err, FCB_ERR_INVALID_ARGUMENT, "get pod: name is NULL");
    }
    return kube_resource_get(client, &kube_pod_kind, ns, name, deadline_ms, out, err);
}

int kube_pods_delete_owned(kube_client *client, const char *ns, const char *name,
                           const kube_delete_opts *opts, kube_delete_result *out, fcb_error *err)
{
    return kube_resource_delete_owned(client, &kube_pod_kind, ns, name, opts, out, err);
}

int kube_pods_delete_collection(kube_client *client, const char *ns, const kube_delete_opts *opts,
                                kube_delete_result *out, fcb_error *err)
{
    return kube_resource_delete_collection(client, &kube_pod_kind, ns, NULL, opts, out, err);
}

int kube_pods_list(kube_client *client, const char *ns, const kube_list_opts *opts,
                   kube_list_result *out, fcb_error *err)
{
    return kube_resource_list(client, &kube_pod_kind, ns, opts, out, err);
}

/* PATH = pods/NAME/log with the query of O (sink and stop unused); checks ns and name. */
static int pod_log_path(kube_path *path, const char *ns, const char *name,
                        const kube_pod_log_stream_opts *o, fcb_error *err)
{
    int rc = kube_names_check(&kube_pod_kind, ns, name, err);
    if (rc != FCB_OK)
        return rc;
    kube_path_object(path, &kube_pod_kind, ns, name);
    kube_path_add(path, "/log");
    kube_path_query(path, "container", o->container);
    if (o->tail_lines != 0)
        kube_path_query_uint(path, "tailLines", o->tail_lines);
    if (o->since_time != NULL)
        kube_path_query(path, "sinceTime", o->since_time);
    if (o->limit_bytes != 0)
        kube_path_query_uint(path, "limitBytes", o->limit_bytes);
    if (o->follow)
        kube_path_query(path, "follow", "true");
    return kube_path_done(path, "pod log", err);
}

int kube_pods_log(kube_client *client, const char *ns, const char *name,
                  const kube_pod_log_opts *opts, char **text, size_t *len, fcb_error *err)
{
    kube_path path;
    kube_response resp = {0};

    *text = NULL;
    *len = 0;
    if (name == NULL || opts == NULL || opts->container == NULL)
        return err_set(err, FCB_ERR_INVALID_ARGUMENT, "pod log: %s is NULL",
                       name == NULL ? "name" : "container");
    kube_pod_log_stream_opts query = {.container = opts->container, .tail_lines = opts->tail_lines};
    int rc = pod_log_path(&path, ns, name, &query, err);
    if (rc != FCB_OK)
        return rc;
    kube_request_spec req = {
        .method = "GET", .path = path.buf, .flags = KUBE_REQ_RAW, .deadline_ms = opts->deadline_ms};
    rc = kube_request_send(client, &req, &resp, err);
    if (rc == FCB_OK) {
        *text = resp.raw;
        *len = resp.raw_len;
        resp.raw = NULL;
    }
    kube_response_clear(client, &resp);
    return rc;
}

int kube_pods_log_stream(kube_client *client, const char *ns, const char *name,
                         const kube_pod_log_stream_opts *opts, fcb_error *err)
{
    kube_path path;
    kube_response resp = {0};

    if (name == NULL || opts == NULL || opts->container == NULL || opts->sink == NULL)
        return err_set(err, FCB_ERR_INVALID_ARGUMENT, "pod log: %s is NULL",
                       name == NULL              ? "name"
                       : opts == NULL            ? "opts"
                       : opts->container == NULL ? "container"
                                                 : "sink");
    int rc = pod_log_path(&path, ns, name, opts, err);
    if (rc != FCB_OK)
        return rc;
    kube_request_spec req = {.method = "GET",
                             .path = path.buf,
                             .deadline_ms = opts->deadline_ms,
                             .stop = opts->stop,
                             .sink = opts->sink,
                             .sink_ctx = opts->sink_ctx};
    rc = kube_request_send(client, &req, &resp, err);
    kube_response_clear(client, &resp);
    return rc;
}

int kube_pods_proxy(kube_client *client, const char *ns, const char *name,
                    const kube_pod_proxy_opts *opts, kube_pod_proxy_result *out, fcb_error *err)
{
    kube_path path;
    kube_response resp = {0};
    char port[24];

    out->status = 0;
    out->header_value[0] = '\0';
    if (opts == NULL || opts->method == NULL || opts->path == NULL || opts->path[0] != '/' ||
        opts->sink == NULL || opts->port == 0 || opts->port > 65535)
        return err_set(err, FCB_ERR_INVALID_ARGUMENT,
                       "pod proxy: method, port, a path starting with '/' and a sink are required");
    int rc = kube_names_check(&kube_pod_kind, ns, name, err);
    if (rc != FCB_OK)
        return rc;
    kube_path_object(&path, &kube_pod_kind, ns, name);
    snprintf(port, sizeof port, ":%u/proxy", opts->port);
    kube_path_add(&path, port);
    kube_path_add(&path, opts->path);
    rc = kube_path_done(&path, "pod proxy", err);
    if (rc != FCB_OK)
        return rc;
    kube_request_spec req = {.method = opts->method,
                             .path = path.buf,
                             .body = opts->body,
                             .body_len = opts->body_len,
                             .content_type = opts->content_type,
                             .accept = "Accept: */*",
                             .flags = opts->flags | KUBE_REQ_PROXY,
                             .deadline_ms = opts->deadline_ms,
                             .stop = opts->stop,
                             .sink = opts->sink,
                             .sink_ctx = opts->sink_ctx,
                             .keep_header = opts->keep_header};
    rc = kube_request_send(client, &req, &resp, err);
    out->status = resp.status;
    memcpy(out->header_value, resp.header_value, sizeof out->header_value);
    kube_response_clear(client, &resp);
    return rc;
}

int kube_pods_watch(kube_client *client, const char *ns, const char *label_selector,
                    kube_watch_fn fn, void *ctx, kube_watch **out, fcb_error *err)
{
    kube_path path;

    *out = NULL;
    int rc = kube_names_check(&kube_pod_kind, ns, NULL, err);
    if (rc != FCB_OK)
        return rc;
    kube_path_object(&path, &kube_pod_kind, ns, NULL);
    rc = kube_path_done(&path, "pod watch", err);
    if (rc != FCB_OK)
        return rc;
    return kube_watch_start(client, path.buf, label_selector, fn, ctx, out, err);
}
