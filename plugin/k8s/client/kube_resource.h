/*
 * kube_resource: the verbs every namespaced core/v1 resource shares (create,
 * get, list, deletecollection), over kube_request. The typed layers
 * (kube_pods.h, kube_secrets.h) are thin tables over this one; lifecycle
 * code calls those and never formats an /api/v1 path nor reads an answer.
 *
 * Every call takes a deadline in ms relative to now (0 = the client's
 * default request timeout) and returns kube_request's codes (FCB_OK for
 * 2xx, FCB_ERR_NOT_FOUND for 404, FCB_ERR_BACKEND, _UNAVAILABLE, _TIMEOUT,
 * _CANCELLED, _CONFIG, _NO_MEMORY), plus FCB_ERR_INVALID_ARGUMENT for a
 * namespace or name that is not a valid Kubernetes name (nothing is sent).
 * Thread-safe as kube_request is.
 */
#ifndef FCB_KUBE_RESOURCE_H
#define FCB_KUBE_RESOURCE_H

#include "kube_client.h"

#include <json-c/json.h>

#include <stdbool.h>
#include <stddef.h>

/* Longest request path + query the typed layer builds. */
#define KUBE_PATH_MAX 2048
/* Object names are DNS-1123 subdomains: at most 253 characters. */
#define KUBE_NAME_MAX 254

/* A resource kind: its plural for paths, its singular for messages. */
typedef struct kube_kind {
    const char *plural;   /* "pods" */
    const char *singular; /* "pod" */
    bool has_grace;       /* deletes take gracePeriodSeconds */
    const char *group_version; /* path prefix, "/apis/coordination.k8s.io/v1"; NULL = "/api/v1" */
} kube_kind;

/* Identity of an object from an answer (empty strings when absent). */
typedef struct kube_object_ref {
    char name[KUBE_NAME_MAX];
    char uid[64];
    char resource_version[64];
} kube_object_ref;

/* Outcome of a create, whatever the return code. */
typedef struct kube_create_result {
    kube_object_ref object; /* the created object (FCB_OK only) */
    long status;            /* last HTTP status, 0 when none was received */
    bool retried;           /* the request was sent more than once */
    bool conflict;          /* 409: an object of that name exists (perhaps our own
                               earlier attempt when `retried`) */
    bool maybe_created;     /* failed, yet the object may exist: our own retry, no
                               answer, a 5xx, or an unreadable 2xx; the caller
                               deletes it by name to be sure */
} kube_create_result;

/* What a deletecollection removes: objects matching both selectors. */
typedef struct kube_delete_opts {
    const char *label_selector; /* required: deletes are always restricted by labels */
    unsigned grace_seconds;     /* gracePeriodSeconds, for kinds that have one */
    unsigned flags;             /* extra kube_request flags, e.g. KUBE_REQ_UNTIL_DEADLINE */
    unsigned deadline_ms;       /* relative; 0 = the client's default */
} kube_delete_opts;

typedef struct kube_delete_result {
    size_t deleted; /* objects the answer lists (asked as metadata only) */
    long status;    /* last HTTP status, 0 when none was received */
} kube_delete_result;

typedef struct kube_list_opts {
    const char *label_selector; /* NULL: none */
    const char *field_selector; /* NULL: none */
    unsigned limit;             /* 0: no limit */
    unsigned deadline_ms;       /* relative; 0 = the client's default */
} kube_list_opts;

typedef struct kube_list_result {
    size_t count; /* items in the (first) page */
    long status;
} kube_list_result;

/*
 * A request path under construction, bounded by KUBE_PATH_MAX. Appends
 * after an overflow are ignored and kube_path_done reports it.
 */
typedef struct kube_path {
    char buf[KUBE_PATH_MAX];
    size_t len;
    bool overflow;
    bool has_query;
} kube_path;

/* "/api/v1/namespaces/NS/PLURAL[/NAME]" (the kind's group-version) into PATH. NAME may be NULL. */
void kube_path_object(kube_path *path, const kube_kind *kind, const char *ns, const char *name);
/* Append literal text (no escaping). */
void kube_path_add(kube_path *path, const char *text);
/* Append "?KEY=VALUE" or "&KEY=VALUE", VALUE percent-encoded (RFC 3986). */
void kube_path_query(kube_path *path, const char *key, const char *value);
void kube_path_query_uint(kube_path *path, const char *key, unsigned value);
/* FCB_OK, or FCB_ERR_INVALID_ARGUMENT naming WHAT when the path overflowed. */
int kube_path_done(const kube_path *path, const char *what, fcb_error *err);

/* True for a DNS-1123 subdomain (lower-case alphanumerics, '-', '.'; <= 253). */
bool kube_name_valid(const char *name);
/*
 * FCB_OK when NS is a valid namespace and NAME (unless NULL) a valid object
 * name of KIND; else FCB_ERR_INVALID_ARGUMENT naming the field.
 */
int kube_names_check(const kube_kind *kind, const char *ns, const char *name, fcb_error *err);

/* POST BODY (JSON, BODY_LEN bytes) to KIND's collection in NS, as a create. */
int kube_resource_create(kube_client *client, const kube_kind *kind, const char *ns,
                         const char *body, size_t body_len, unsigned deadline_ms,
                         kube_create_result *out, fcb_error *err);
/* GET KIND/NAME in NS. *out (FCB_OK only) is the caller's: json_object_put. */
int kube_resource_get(kube_client *client, const kube_kind *kind, const char *ns, const char *name,
                      unsigned deadline_ms, json_object **out, fcb_error *err);
/*
 * One deletecollection of KIND in NS restricted to OPTS->label_selector and,
 * when NAME is not NULL, to that name (fieldSelector=metadata.name): an
 * "owned" delete never touches an object without our labels. Asked as
 * PartialObjectMetadataList and counted without building a tree.
 */
int kube_resource_delete_collection(kube_client *client, const kube_kind *kind, const char *ns,
                                    const char *name, const kube_delete_opts *opts,
                                    kube_delete_result *out, fcb_error *err);
/* kube_resource_delete_collection of object NAME, which must not be NULL. */
int kube_resource_delete_owned(kube_client *client, const kube_kind *kind, const char *ns,
                               const char *name, const kube_delete_opts *opts,
                               kube_delete_result *out, fcb_error *err);
/* List KIND in NS; the answer is counted, not kept. */
int kube_resource_list(kube_client *client, const kube_kind *kind, const char *ns,
                       const kube_list_opts *opts, kube_list_result *out, fcb_error *err);

/*
 * One item of a list, borrowed for the call. Returns FCB_OK to go on, or an
 * error code (with err set) that ends the list with it.
 */
typedef int (*kube_item_fn)(void *ctx, json_object *item, fcb_error *err);

/*
 * List KIND in NS (OPTS->label_selector, ->field_selector, ->deadline_ms;
 * ->limit is ignored: one answer) and call FN for each item. METADATA_ONLY
 * asks for a PartialObjectMetadataList (items carry only metadata).
 */
int kube_resource_list_items(kube_client *client, const kube_kind *kind, const char *ns,
                             const kube_list_opts *opts, bool metadata_only, kube_item_fn fn,
                             void *ctx, fcb_error *err);

/*
 * PUT BODY over KIND/NAME in NS (an update with optimistic concurrency:
 * BODY carries metadata.resourceVersion). *out (FCB_OK only) is the stored
 * object, the caller's: json_object_put. *conflict: a 409 (the object
 * changed since that resourceVersion), returned as FCB_ERR_BACKEND.
 */
int kube_resource_update(kube_client *client, const kube_kind *kind, const char *ns,
                         const char *name, const char *body, size_t body_len, unsigned deadline_ms,
                         json_object **out, bool *conflict, fcb_error *err);

/*
 * DELETE KIND/NAME in NS, with preconditions.resourceVersion = RV unless RV
 * is NULL. FCB_ERR_NOT_FOUND when gone; *conflict on a 409 (the precondition
 * failed), returned as FCB_ERR_BACKEND.
 */
int kube_resource_delete(kube_client *client, const kube_kind *kind, const char *ns,
                         const char *name, const char *rv, unsigned deadline_ms, bool *conflict,
                         fcb_error *err);

/*
 * Readers of an object (a get's answer or a watch event). Borrowed strings
 * owned by OBJECT, NULL when absent or not a string.
 */
const char *kube_object_name(json_object *object);
/* Member KEY of OBJECT (NULL when absent or OBJECT is NULL); as a string (NULL unless one). */
json_object *kube_object_member(json_object *object, const char *key);
const char *kube_object_member_string(json_object *object, const char *key);
const char *kube_object_label(json_object *object, const char *key);
const char *kube_object_annotation(json_object *object, const char *key);
/* Name, uid and resourceVersion of OBJECT into OUT (empty when absent, cut to fit). */
void kube_object_ref_read(json_object *object, kube_object_ref *out);

#endif
