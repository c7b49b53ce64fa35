/*
 * lambda_store: the functions `serve` knows, in AWS's terms: each function
 * has its $LATEST and its published versions, each a "deploy" (the
 * GetFunction document, the parsed description a plugin gets, the code zip,
 * a fingerprint of everything an instance depends on), plus its reserved
 * concurrency.
 *
 * Requests are the API's JSON bodies; answers are the API's documents.
 * Every function description is validated by function_json (the same rules
 * as the host's --function files), code zips by code_bundle. Errors carry
 * the AWS exception name and status.
 *
 * Deploys are reference-counted: a caller of store_get holds one until
 * store_deploy_put, so a redeploy or a delete never pulls code from under a
 * call in flight. When the last reference goes, the on_free hook runs
 * (outside the store's lock): `serve` retires the deploy's pool group and
 * stops serving its code there. Thread-safe.
 */
#ifndef FCB_HOST_LAMBDA_STORE_H
#define FCB_HOST_LAMBDA_STORE_H

#include "function_json.h"

#include <json-c/json.h>

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct lambda_store lambda_store;

typedef struct store_deploy {
    atomic_int refs;
    lambda_store *owner;
    json_object *doc;    /* {"Configuration", "Code", "Tags"}: what GetFunction answers */
    function_desc *desc; /* desc->fn is what a launch hands the plugin */
    unsigned char *code; /* the zip; NULL for an Image function */
    size_t code_len;
    char *code_dir;     /* hot reload: the host directory (code is then NULL); else NULL */
    char deploy_id[17]; /* the fingerprint's first 16 hex characters */
    char *group;        /* qualified ARN "#" fingerprint: the pool group */
    char version[16];   /* "$LATEST" or the version number */
    bool announced;     /* on_new ran, so on_free will */
    fcb_blob *layers;   /* the Layers' zips in order (borrowed from the store's layers) */
    size_t n_layers;
    unsigned char *layers_tar; /* the layers merged (code_bundle); NULL without layers */
    size_t layers_tar_len;
} store_deploy;

/* An AWS error: the exception, its HTTP status and message. */
typedef struct store_error {
    int http_status;
    const char *type; /* "ResourceNotFoundException", ... (static) */
    char message[1024];
} store_error;

typedef void (*store_deploy_hook)(void *ctx, store_deploy *d);

/*
 * A store for ACCOUNT (12 digits, copied). ON_NEW runs when a deploy is
 * created (under the store's lock: keep it quick), ON_FREE when its last
 * reference goes; both may be NULL. Returns 0 or -1 (no memory).
 */
int store_new(const char *account, store_deploy_hook on_new, store_deploy_hook on_free, void *ctx,
              lambda_store **out);

/*
 * Whether CreateFunction / UpdateFunctionCode accept hot-reload code
 * (Code.S3Bucket "hot-reload", S3Key an absolute host directory): only when
 * the backend declares FCB_CAP_HOT_RELOAD. Off by default (then such code is
 * InvalidParameterValueException naming hot reload). Such a deploy has
 * code_dir set and no zip; GetFunction shows Code.Location "file://<dir>".
 * The directory is part of the fingerprint, its content is not: an edited
 * file keeps the deploy (and its warm instances).
 */
void store_allow_hot_reload(lambda_store *s, bool allowed);

/* Drop every function (their deploys are freed as their references go). NULL ok. */
void store_free(lambda_store *s);

/* Release a reference from store_get. NULL ok. */
void store_deploy_put(store_deploy *d);

/*
 * The operations. REQ is the request body (may be NULL for operations
 * without one); *ANSWER gets the document to send (a new reference, the
 * caller puts it), or stays NULL for operations that answer nothing.
 * FUNCTION is the {FunctionName} of the path, QUALIFIER the ?Qualifier=
 * (NULL when absent). Each returns 0 or -1 with ERR filled.
 */
int store_create(lambda_store *s, json_object *req, const char *region, json_object **answer,
                 store_error *err);
int store_get_function(lambda_store *s, const char *function, const char *qualifier,
                       bool configuration_only, json_object **answer, store_error *err);
int store_list(lambda_store *s, json_object **answer, store_error *err);
int store_delete(lambda_store *s, const char *function, const char *qualifier, store_error *err);
int store_update_code(lambda_store *s, const char *function, json_object *req, json_object **answer,
                      store_error *err);
int store_update_configuration(lambda_store *s, const char *function, json_object *req,
                               json_object **answer, store_error *err);
int store_publish(lambda_store *s, const char *function, json_object *req, json_object **answer,
                  store_error *err);
int store_list_versions(lambda_store *s, const char *function, json_object **answer,
                        store_error *err);

/* RESERVED >= 0: PutFunctionConcurrency; -1: DeleteFunctionConcurrency; -2: Get. */
int store_concurrency(lambda_store *s, const char *function, int reserved, json_object **answer,
                      store_error *err);

/*
 * The deploy an invocation of FUNCTION (QUALIFIER may be NULL) runs, with a
 * reference, and the function's reserved concurrency (-1 = none).
 */
int store_get(lambda_store *s, const char *function, const char *qualifier, store_deploy **out,
              int *reserved, store_error *err);

/*
 * Tags of a function (RESOURCE: its unqualified ARN or name). TagResource
 * merges TAGS (a JSON object) and UntagResource removes KEYS: both make a new
 * $LATEST deploy (tags are part of what an instance gets); published
 * versions keep the tags they were published with.
 */
int store_list_tags(lambda_store *s, const char *resource, json_object **answer, store_error *err);
int store_tag(lambda_store *s, const char *resource, json_object *req, store_error *err);
int store_untag(lambda_store *s, const char *resource, const char *const *keys, size_t n_keys,
                store_error *err);

/*
 * PublishLayerVersion of layer NAME (REQ: Content.ZipFile, Description,
 * CompatibleRuntimes, CompatibleArchitectures, LicenseInfo) and
 * GetLayerVersion. Layer versions live as long as the store; a function's
 * Layers name them by LayerVersionArn (at most 5).
 */
int store_publish_layer(lambda_store *s, const char *name, json_object *req, const char *region,
                        json_object **answer, store_error *err);
int store_get_layer_version(lambda_store *s, const char *name, unsigned long version,
                            json_object **answer, store_error *err);

/*
 * Aliases (CreateAlias, ListAliases, GetAlias, UpdateAlias, DeleteAlias):
 * NAME -> a version ($LATEST or published), no weighted routing. An alias
 * qualifier (f:live) runs its version's deploy, so it shares that version's
 * instances; a version an alias points to cannot be deleted (409).
 */
enum {
    STORE_ALIAS_CREATE,
    STORE_ALIAS_LIST,
    STORE_ALIAS_GET,
    STORE_ALIAS_UPDATE,
    STORE_ALIAS_DELETE
};
int store_alias_op(lambda_store *s, const char *function, const char *name, int op,
                   json_object *req, json_object **answer, store_error *err);

/* Every function name, for metrics: FN(CTX, name) under the store's lock. */
void store_foreach_function(lambda_store *s, void (*fn)(void *ctx, const char *name), void *ctx);

#endif
