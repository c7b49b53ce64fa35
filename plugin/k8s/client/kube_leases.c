/* kube_leases: the Lease table over kube_resource, and metadata-only lists. */
#include "kube_leases.h"

#include "labels.h"

#include <stdio.h>
#include <string.h>

static const kube_kind kube_lease_kind = {
    .plural = "leases", .singular = "lease", .group_version = "/apis/coordination.k8s.io/v1"};
static const kube_kind kube_pod_meta_kind = {.plural = "pods", .singular = "pod"};
static const kube_kind kube_secret_meta_kind = {.plural = "secrets", .singular = "secret"};

static void copy_cut(char *out, size_t size, const char *value)
{
    snprintf(out, size, "%s", value != NULL ? value : "");
}

/* TEXT as MicroTime (or, with TIMESTAMP, any RFC 3339 time); NONE when absent or bad. */
static int64_t time_or_none(const char *field, const char *text, bool timestamp)
{
    fcb_error err = FCB_ERROR_INIT;
    int64_t us = LEASE_TIME_NONE;
    if (text == NULL)
        return LEASE_TIME_NONE;
    int rc = timestamp ? lease_timestamp_parse(field, text, &us, &err)
                       : lease_microtime_parse(field, text, &us, &err);
    return rc == FCB_OK ? us : LEASE_TIME_NONE;
}

void kube_lease_read(json_object *object, kube_lease *out)
{
    json_object *meta = kube_object_member(object, "metadata");
    json_object *spec = kube_object_member(object, "spec");
    json_object *d = kube_object_member(spec, "leaseDurationSeconds");

    memset(out, 0, sizeof *out);
    copy_cut(out->name, sizeof out->name, kube_object_member_string(meta, "name"));
    copy_cut(out->instance, sizeof out->instance,
             kube_object_member_string(kube_object_member(meta, "labels"), LABEL_INSTANCE));
    copy_cut(out->holder, sizeof out->holder, kube_object_member_string(spec, "holderIdentity"));
    copy_cut(out->rv, sizeof out->rv, kube_object_member_string(meta, "resourceVersion"));
    out->acquire_us = time_or_none("acquireTime", kube_object_member_string(spec, "acquireTime"), false);
    out->renew_us = time_or_none("renewTime", kube_object_member_string(spec, "renewTime"), false);
    if (out->renew_us == LEASE_TIME_NONE)
        out->renew_us = out->acquire_us;
    out->created_us =
        time_or_none("creationTimestamp", kube_object_member_string(meta, "creationTimestamp"), true);
    if (d != NULL && json_object_is_type(d, json_type_int)) {
        int64_t v = json_object_get_int64(d);
        out->duration_s = v > 0 && v <= INT32_MAX ? (int32_t)v : 0;
    }
}

lease_record kube_lease_record(const kube_lease *lease)
{
    lease_record r = {.instance = lease->instance,
                      .holder = lease->holder,
                      .version = lease->rv[0] != '\0' ? lease->rv : NULL,
                      .renew_us = lease->renew_us,
                      .acquire_us = lease->acquire_us,
                      .created_us = lease->created_us,
                      .duration_s = lease->duration_s};
    return r;
}

int kube_leases_create(kube_client *client, const char *ns, const char *body, size_t body_len,
                       unsigned deadline_ms, kube_create_result *out, fcb_error *err)
{
    return kube_resource_create(client, &kube_lease_kind, ns, body, body_len, deadline_ms, out,
                                err);
}

int kube_leases_get(kube_client *client, const char *ns, const char *name, unsigned deadline_ms,
                    kube_lease *out, fcb_error *err)
{
    json_object *obj = NULL;
    int rc = kube_resource_get(client, &kube_lease_kind, ns, name, deadline_ms, &obj, err);
    if (rc == FCB_OK)
        kube_lease_read(obj, out);
    json_object_put(obj);
    return rc;
}

int kube_leases_update(kube_client *client, const char *ns, const char *name, const char *body,
                       size_t body_len, unsigned deadline_ms, kube_lease *out, bool *conflict,
                       fcb_error *err)
{
    json_object *obj = NULL;
    int rc = kube_resource_update(client, &kube_lease_kind, ns, name, body, body_len, deadline_ms,
                                  &obj, conflict, err);
    if (rc == FCB_OK)
        kube_lease_read(obj, out);
    json_object_put(obj);
    return rc;
}

int kube_leases_delete(kube_client *client, const char *ns, const char *name, const char *rv,
                       unsigned deadline_ms, bool *conflict, fcb_error *err)
{
    return kube_resource_delete(client, &kube_lease_kind, ns, name, rv, deadline_ms, conflict, err);
}

typedef struct lease_list_ctx {
    kube_lease_fn fn;
    void *ctx;
    kube_lease lease;
} lease_list_ctx;

static int lease_item(void *ctx, json_object *item, fcb_error *err)
{
    lease_list_ctx *c = ctx;
    kube_lease_read(item, &c->lease);
    return c->fn(c->ctx, &c->lease, err);
}

int kube_leases_list(kube_client *client, const char *ns, const char *selector,
                     unsigned deadline_ms, kube_lease_fn fn, void *ctx, fcb_error *err)
{
    lease_list_ctx c = {.fn = fn, .ctx = ctx};
    kube_list_opts opts = {.label_selector = selector, .deadline_ms = deadline_ms};
    return kube_resource_list_items(client, &kube_lease_kind, ns, &opts, false, lease_item, &c,
                                    err);
}

typedef struct meta_list_ctx {
    kube_meta_fn fn;
    void *ctx;
    const char *label_key;
} meta_list_ctx;

static int meta_item(void *ctx, json_object *item, fcb_error *err)
{
    meta_list_ctx *c = ctx;
    json_object *meta = kube_object_member(item, "metadata");
    const char *label = kube_object_member_string(kube_object_member(meta, "labels"), c->label_key);
    int64_t created =
        time_or_none("creationTimestamp", kube_object_member_string(meta, "creationTimestamp"), true);
    return c->fn(c->ctx, label, created, err);
}

static int list_meta(kube_client *client, const kube_kind *kind, const char *ns,
                     const char *selector, const char *label_key, unsigned deadline_ms,
                     kube_meta_fn fn, void *ctx, fcb_error *err)
{
    meta_list_ctx c = {.fn = fn, .ctx = ctx, .label_key = label_key};
    kube_list_opts opts = {.label_selector = selector, .deadline_ms = deadline_ms};
    return kube_resource_list_items(client, kind, ns, &opts, true, meta_item, &c, err);
}

int kube_pods_list_meta(kube_client *client, const char *ns, const char *selector,
                        const char *label_key, unsigned deadline_ms, kube_meta_fn fn, void *ctx,
                        fcb_error *err)
{
    return list_meta(client, &kube_pod_meta_kind, ns, selector, label_key, deadline_ms, fn, ctx,
                     err);
}

int kube_secrets_list_meta(kube_client *client, const char *ns, const char *selector,
                           const char *label_key, unsigned deadline_ms, kube_meta_fn fn, void *ctx,
                           fcb_error *err)
{
    return list_meta(client, &kube_secret_meta_kind, ns, selector, label_key, deadline_ms, fn, ctx,
                     err);
}
