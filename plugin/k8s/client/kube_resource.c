/*
 * kube_resource: paths built into a bounded buffer (no allocation), one
 * kube_request per verb, answers read into typed results.
 */
#include "kube_resource.h"

#include "jsonx.h"
#include "svc.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* ---------------------------------------------------------------- paths */

void kube_path_add(kube_path *path, const char *text)
{
    size_t n = strlen(text);
    if (path->overflow || path->len + n >= sizeof path->buf) {
        path->overflow = true;
        return;
    }
    memcpy(path->buf + path->len, text, n + 1);
    path->len += n;
}

static void path_add_escaped(kube_path *path, const char *text)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)text; *p != '\0'; p++) {
        unsigned char c = *p;
        char enc[4] = {(char)c, '\0', '\0', '\0'};
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '.' || c == '_' || c == '~')) {
            enc[0] = '%';
            enc[1] = hex[c >> 4];
            enc[2] = hex[c & 15];
        }
        kube_path_add(path, enc);
    }
}

void kube_path_object(kube_path *path, const kube_kind *kind, const char *ns, const char *name)
{
    memset(path, 0, sizeof *path);
    kube_path_add(path, kind->group_version != NULL ? kind->group_version : "/api/v1");
    kube_path_add(path, "/namespaces/");
    kube_path_add(path, ns);
    kube_path_add(path, "/");
    kube_path_add(path, kind->plural);
    if (name != NULL) {
        kube_path_add(path, "/");
        kube_path_add(path, name);
    }
}

void kube_path_query(kube_path *path, const char *key, const char *value)
{
    kube_path_add(path, path->has_query ? "&" : "?");
    path->has_query = true;
    kube_path_add(path, key);
    kube_path_add(path, "=");
    path_add_escaped(path, value);
}

void kube_path_query_uint(kube_path *path, const char *key, unsigned value)
{
    char text[16];
    snprintf(text, sizeof text, "%u", value);
    kube_path_query(path, key, text);
}

int kube_path_done(const kube_path *path, const char *what, fcb_error *err)
{
    if (path->overflow)
        return err_set(err, FCB_ERR_INVALID_ARGUMENT, "%s: request path longer than %d bytes", what,
                       KUBE_PATH_MAX - 1);
    return FCB_OK;
}

/* ---------------------------------------------------------------- names */

bool kube_name_valid(const char *name)
{
    size_t len = name != NULL ? strlen(name) : 0;
    if (len == 0 || len > KUBE_NAME_MAX - 1)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.'))
            return false;
    }
    return name[0] != '-' && name[0] != '.' && name[len - 1] != '-' && name[len - 1] != '.';
}

int kube_names_check(const kube_kind *kind, const char *ns, const char *name, fcb_error *err)
{
    if (!kube_name_valid(ns) || strlen(ns) > 63 || strchr(ns, '.') != NULL)
        return err_set(err, FCB_ERR_INVALID_ARGUMENT,
                       "%s namespace \"%.100s\" is not a valid namespace name (DNS-1123 label)",
                       kind->singular, ns != NULL ? ns : "(null)");
    if (name != NULL && !kube_name_valid(name))
        return err_set(err, FCB_ERR_INVALID_ARGUMENT,
                       "%s name \"%.100s\" is not a valid object name (DNS-1123 subdomain)",
                       kind->singular, name);
    return FCB_OK;
}

/* ---------------------------------------------------------------- objects */

json_object *kube_object_member(json_object *object, const char *key)
{
    json_object *v = NULL;
    if (object == NULL || !json_object_object_get_ex(object, key, &v))
        return NULL;
    return v;
}

const char *kube_object_member_string(json_object *object, const char *key)
{
    json_object *v = kube_object_member(object, key);
    return v != NULL && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

const char *kube_object_name(json_object *object)
{
    return kube_object_member_string(kube_object_member(object, "metadata"), "name");
}

const char *kube_object_label(json_object *object, const char *key)
{
    return kube_object_member_string(
        kube_object_member(kube_object_member(object, "metadata"), "labels"), key);
}

const char *kube_object_annotation(json_object *object, const char *key)
{
    return kube_object_member_string(
        kube_object_member(kube_object_member(object, "metadata"), "annotations"), key);
}

static void copy_field(char *out, size_t size, const char *value)
{
    snprintf(out, size, "%s", value != NULL ? value : "");
}

void kube_object_ref_read(json_object *object, kube_object_ref *out)
{
    json_object *meta = kube_object_member(object, "metadata");
    copy_field(out->name, sizeof out->name, kube_object_member_string(meta, "name"));
    copy_field(out->uid, sizeof out->uid, kube_object_member_string(meta, "uid"));
    copy_field(out->resource_version, sizeof out->resource_version,
               kube_object_member_string(meta, "resourceVersion"));
}

/* ---------------------------------------------------------------- verbs */

/*
 * Send REQ (a RAW list or deletecollection) and count the answer's items
 * without building a tree; WHAT names the call in the error.
 */
static int send_counted(kube_client *client, const kube_request_spec *req, const char *what,
                        size_t *count, long *status, fcb_error *err)
{
    kube_response resp = {0};
    int rc = kube_request_send(client, req, &resp, err);
    *status = resp.status;
    if (rc == FCB_OK && !jsonx_count_member_array(resp.raw, resp.raw_len, "items", count))
        rc = err_set(err, FCB_ERR_BACKEND, "k8s %s: the answer is not a list", what);
    kube_response_clear(client, &resp);
    return rc;
}

/* Check NS and NAME (may be NULL), then start PATH at KIND's collection or object. */
static int path_start(kube_path *path, const kube_kind *kind, const char *ns, const char *name,
                      fcb_error *err)
{
    int rc = kube_names_check(kind, ns, name, err);
    if (rc == FCB_OK)
        kube_path_object(path, kind, ns, name);
    return rc;
}

/* path_start for one object (or collection when NAME is NULL), checked for overflow. */
static int object_path(kube_path *path, const kube_kind *kind, const char *ns, const char *name,
                       fcb_error *err)
{
    int rc = path_start(path, kind, ns, name, err);
    if (rc == FCB_OK)
        rc = kube_path_done(path, name != NULL ? kind->singular : kind->plural, err);
    return rc;
}

/*
 * Send REQ, whose answer is one object: *out (FCB_OK only) takes it;
 * *conflict (may be NULL) tells a 409.
 */
static int send_for_object(kube_client *client, const kube_request_spec *req, json_object **out,
                           bool *conflict, fcb_error *err)
{
    kube_response resp = {0};
    int rc = kube_request_send(client, req, &resp, err);
    if (rc == FCB_OK && resp.body == NULL)
        rc = err_set(err, FCB_ERR_BACKEND, "k8s %s %s: the answer has no body", req->method,
                     req->path);
    if (rc == FCB_OK) {
        *out = resp.body;
        resp.body = NULL;
    }
    if (conflict != NULL)
        *conflict = rc == FCB_ERR_BACKEND && resp.status == 409;
    kube_response_clear(client, &resp);
    return rc;
}

/*
 * Whether a failed create may nevertheless have created the object: our own
 * retry, no answer, a 5xx, or a 2xx whose body could not be read (not JSON,
 * or over the response limit, which ends the transfer before the status is
 * kept: FCB_ERR_BACKEND with status 0).
 */
static bool create_outcome_unknown(int rc, long status, bool retried)
{
    if (retried || rc == FCB_ERR_TIMEOUT || rc == FCB_ERR_CANCELLED || rc == FCB_ERR_UNAVAILABLE)
        return true;
    if ((status >= 200 && status < 300) || status >= 500)
        return true;
    return rc == FCB_ERR_BACKEND && status == 0;
}

int kube_resource_create(kube_client *client, const kube_kind *kind, const char *ns,
                         const char *body, size_t body_len, unsigned deadline_ms,
                         kube_create_result *out, fcb_error *err)
{
    kube_path path;
    kube_response resp = {0};

    memset(out, 0, sizeof *out);
    int rc = path_start(&path, kind, ns, NULL, err);
    if (rc == FCB_OK)
        rc = kube_path_done(&path, kind->singular, err);
    if (rc != FCB_OK)
        return rc;
    kube_request_spec req = {.method = "POST",
                             .path = path.buf,
                             .body = body,
                             .body_len = body_len,
                             .flags = KUBE_REQ_CREATE,
                             .deadline_ms = deadline_ms};
    rc = kube_request_send(client, &req, &resp, err);
    out->status = resp.status;
    out->retried = resp.retried;
    if (rc == FCB_OK)
        kube_object_ref_read(resp.body, &out->object);
    else {
        out->conflict = rc == FCB_ERR_BACKEND && resp.status == 409;
        out->maybe_created = create_outcome_unknown(rc, resp.status, resp.retried);
    }
    kube_response_clear(client, &resp);
    return rc;
}

int kube_resource_get(kube_client *client, const kube_kind *kind, const char *ns, const char *name,
                      unsigned deadline_ms, json_object **out, fcb_error *err)
{
    kube_path path;

    *out = NULL;
    int rc = object_path(&path, kind, ns, name, err);
    if (rc != FCB_OK)
        return rc;
    kube_request_spec req = {.method = "GET", .path = path.buf, .deadline_ms = deadline_ms};
    return send_for_object(client, &req, out, NULL, err);
}

int kube_resource_delete_collection(kube_client *client, const kube_kind *kind, const char *ns,
                                    const char *name, const kube_delete_opts *opts,
                                    kube_delete_result *out, fcb_error *err)
{
    kube_path path;
    char field[KUBE_NAME_MAX + 16];

    memset(out, 0, sizeof *out);
    if (opts == NULL || opts->label_selector == NULL || opts->label_selector[0] == '\0')
        return err_set(err, FCB_ERR_INVALID_ARGUMENT, "delete %s: a label selector is required",
                       kind->plural);
    int rc = path_start(&path, kind, ns, NULL, err);
    if (rc == FCB_OK && name != NULL)
        rc = kube_names_check(kind, ns, name, err);
    if (rc != FCB_OK)
        return rc;
    if (name != NULL) {
        snprintf(field, sizeof field, "metadata.name=%s", name);
        kube_path_query(&path, "fieldSelector", field);
    }
    kube_path_query(&path, "labelSelector", opts->label_selector);
    if (kind->has_grace)
        kube_path_query_uint(&path, "gracePeriodSeconds", opts->grace_seconds);
    rc = kube_path_done(&path, kind->plural, err);
    if (rc != FCB_OK)
        return rc;
    kube_request_spec req = {.method = "DELETE",
                             .path = path.buf,
                             .flags = KUBE_REQ_RAW | KUBE_REQ_METADATA | opts->flags,
                             .deadline_ms = opts->deadline_ms};
    char what[64];
    snprintf(what, sizeof what, "DELETE %s collection", kind->plural);
    return send_counted(client, &req, what, &out->deleted, &out->status, err);
}

/* The collection path of KIND in NS with OPTS' selectors (and limit when WITH_LIMIT). */
static int list_path(kube_path *path, const kube_kind *kind, const char *ns,
                     const kube_list_opts *opts, bool with_limit, fcb_error *err)
{
    int rc = path_start(path, kind, ns, NULL, err);
    if (rc != FCB_OK)
        return rc;
    if (with_limit && opts != NULL && opts->limit != 0)
        kube_path_query_uint(path, "limit", opts->limit);
    if (opts != NULL && opts->label_selector != NULL)
        kube_path_query(path, "labelSelector", opts->label_selector);
    if (opts != NULL && opts->field_selector != NULL)
        kube_path_query(path, "fieldSelector", opts->field_selector);
    return kube_path_done(path, kind->plural, err);
}

int kube_resource_list(kube_client *client, const kube_kind *kind, const char *ns,
                       const kube_list_opts *opts, kube_list_result *out, fcb_error *err)
{
    kube_path path;

    memset(out, 0, sizeof *out);
    int rc = list_path(&path, kind, ns, opts, true, err);
    if (rc != FCB_OK)
        return rc;
    kube_request_spec req = {.method = "GET",
                             .path = path.buf,
                             .flags = KUBE_REQ_RAW,
                             .deadline_ms = opts != NULL ? opts->deadline_ms : 0};
    char what[64];
    snprintf(what, sizeof what, "GET %s list", kind->plural);
    return send_counted(client, &req, what, &out->count, &out->status, err);
}

int kube_resource_delete_owned(kube_client *client, const kube_kind *kind, const char *ns,
                               const char *name, const kube_delete_opts *opts,
                               kube_delete_result *out, fcb_error *err)
{
    if (name == NULL) {
        memset(out, 0, sizeof *out);
        return err_set(err, FCB_ERR_INVALID_ARGUMENT, "delete %s: name is NULL", kind->singular);
    }
    return kube_resource_delete_collection(client, kind, ns, name, opts, out, err);
}

int kube_resource_list_items(kube_client *client, const kube_kind *kind, const char *ns,
                             const kube_list_opts *opts, bool metadata_only, kube_item_fn fn,
                             void *ctx, fcb_error *err)
{
    kube_path path;
    kube_response resp = {0};

    int rc = list_path(&path, kind, ns, opts, false, err);
    if (rc != FCB_OK)
        return rc;
    kube_request_spec req = {.method = "GET",
                             .path = path.buf,
                             .flags = metadata_only ? KUBE_REQ_METADATA : 0u,
                             .deadline_ms = opts != NULL ? opts->deadline_ms : 0};
    rc = kube_request_send(client, &req, &resp, err);
    json_object *items = rc == FCB_OK ? kube_object_member(resp.body, "items") : NULL;
    if (rc == FCB_OK && (items == NULL || !json_object_is_type(items, json_type_array)))
        rc = err_set(err, FCB_ERR_BACKEND, "k8s GET %s list: the answer is not a list",
                     kind->plural);
    for (size_t i = 0; rc == FCB_OK && i < json_object_array_length(items); i++)
        rc = fn(ctx, json_object_array_get_idx(items, i), err);
    kube_response_clear(client, &resp);
    return rc;
}

int kube_resource_update(kube_client *client, const kube_kind *kind, const char *ns,
                         const char *name, const char *body, size_t body_len, unsigned deadline_ms,
                         json_object **out, bool *conflict, fcb_error *err)
{
    kube_path path;

    *out = NULL;
    *conflict = false;
    int rc = object_path(&path, kind, ns, name, err);
    if (rc != FCB_OK)
        return rc;
    kube_request_spec req = {.method = "PUT",
                             .path = path.buf,
                             .body = body,
                             .body_len = body_len,
                             .flags = KUBE_REQ_NO_RETRY,
                             .deadline_ms = deadline_ms};
    return send_for_object(client, &req, out, conflict, err);
}

int kube_resource_delete(kube_client *client, const kube_kind *kind, const char *ns,
                         const char *name, const char *rv, unsigned deadline_ms, bool *conflict,
                         fcb_error *err)
{
    kube_path path;
    kube_response resp = {0};
    char body[160];
    int len = 0;

    *conflict = false;
    int rc = object_path(&path, kind, ns, name, err);
    if (rc != FCB_OK)
        return rc;
    if (rv != NULL) {
        json_object *s = json_object_new_string(rv);
        if (s == NULL)
            return err_set(err, FCB_ERR_NO_MEMORY, "out of memory deleting %s %s", kind->singular,
                           name);
        len = snprintf(body, sizeof body,
                       "{\"kind\":\"DeleteOptions\",\"apiVersion\":\"v1\","
                       "\"preconditions\":{\"resourceVersion\":%s}}",
                       json_object_to_json_string_ext(s, JSON_C_TO_STRING_PLAIN));
        json_object_put(s);
        if (len < 0 || (size_t)len >= sizeof body)
            return err_set(err, FCB_ERR_INVALID_ARGUMENT, "delete %s %s: resourceVersion too long",
                           kind->singular, name);
    }
    kube_request_spec req = {.method = "DELETE",
                             .path = path.buf,
                             .body = rv != NULL ? body : NULL,
                             .body_len = rv != NULL ? (size_t)len : 0,
                             .deadline_ms = deadline_ms};
    rc = kube_request_send(client, &req, &resp, err);
    *conflict = rc == FCB_ERR_BACKEND && resp.status == 409;
    kube_response_clear(client, &resp);
    return rc;
}
