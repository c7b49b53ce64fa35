/*
 * lambda_store: functions in a list under one lock; each deploy built as
 * the GetFunction document, then parsed by function_json (so it is valid
 * exactly when the host would accept it as a --function file).
 */
#include "lambda_store.h"

#include "code_bundle.h"
#include "lambda_api.h"

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Lambda's limit for a zip uploaded in the request. */
#define STORE_ZIP_MAX       ((size_t)50 * 1024 * 1024)
#define STORE_VERSIONS_MAX  1000
#define STORE_FUNCTIONS_MAX 10000
/* Deploys that lost their last store reference, freed once the lock is released. */
#define STORE_DROPPED_MAX (STORE_VERSIONS_MAX + 1)

typedef struct store_function {
    struct store_function *next;
    char name[65];
    char region[32];
    store_deploy *latest;
    store_deploy **versions; /* versions[i] is version i + 1; NULL once deleted */
    size_t n_versions;
    int reserved; /* -1 = none */
    struct store_alias *aliases;
    size_t n_aliases;
} store_function;

#define STORE_ALIASES_MAX 100

typedef struct store_alias {
    char name[129];
    char version[16]; /* "$LATEST" or a version number */
    char description[257];
    char revision[37];
} store_alias;

typedef struct store_layer_version {
    unsigned char *zip;
    size_t len;
    json_object *doc; /* what PublishLayerVersion answered */
    char *arn;        /* LayerVersionArn */
} store_layer_version;

typedef struct store_layer {
    struct store_layer *next;
    char name[141];
    store_layer_version *versions; /* versions[i] is version i + 1 */
    size_t n_versions;
} store_layer;

/* Code.Location of a hot-reload deploy: this prefix and the directory (deploy_code_dir reads it). */
#define STORE_HOT_LOCATION "file://"

struct lambda_store {
    pthread_mutex_t lock;
    store_layer *layers;
    char account[13];
    store_function *functions;
    size_t n_functions;
    store_deploy_hook on_new, on_free;
    void *ctx;
    bool hot_reload; /* the backend declares hot-reload: S3Bucket "hot-reload" accepted */
};

/* What a mutation dropped; put after the lock is released (on_free may be slow). */
typedef struct store_dropped {
    store_deploy *d[STORE_DROPPED_MAX];
    size_t n;
} store_dropped;

static int store_fail(store_error *err, int status, const char *type, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int store_fail(store_error *err, int status, const char *type, const char *fmt, ...)
{
    err->http_status = status;
    err->type = type;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    return -1;
}

static int invalid(store_error *err, const char *message)
{
    return store_fail(err, 400, "InvalidParameterValueException", "%s", message);
}

static int no_memory(store_error *err)
{
    return store_fail(err, 500, "ServiceException", "out of memory");
}

/* ---- deploys ------------------------------------------------------------------- */

void store_deploy_put(store_deploy *d)
{
    if (d == NULL || atomic_fetch_sub(&d->refs, 1) != 1)
        return;
    if (d->announced && d->owner->on_free != NULL)
        d->owner->on_free(d->owner->ctx, d);
    json_object_put(d->doc);
    function_desc_free(d->desc);
    free(d->code);
    free(d->code_dir);
    free(d->group);
    free(d->layers);
    free(d->layers_tar);
    free(d);
}

static void dropped_add(store_dropped *dr, store_deploy *d)
{
    if (d != NULL && dr->n < STORE_DROPPED_MAX)
        dr->d[dr->n++] = d;
}

static void dropped_put(store_dropped *dr)
{
    for (size_t i = 0; i < dr->n; i++)
        store_deploy_put(dr->d[i]);
    dr->n = 0;
}

static void hex(const unsigned char *raw, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", raw[i]);
}

/* The fingerprint: SHA-256 of the document without what changes nothing for an instance. */
static int deploy_fingerprint(json_object *doc, char out[65])
{
    static const char *const volatile_keys[] = {"FunctionArn",      "Version",     "LastModified",
                                                "RevisionId",       "Description", "State",
                                                "LastUpdateStatus", "MasterArn"};
    json_object *copy = NULL;
    if (json_object_deep_copy(doc, &copy, NULL) != 0)
        return -1;
    json_object *config = json_object_object_get(copy, "Configuration");
    for (size_t i = 0; i < sizeof volatile_keys / sizeof volatile_keys[0]; i++)
        json_object_object_del(config, volatile_keys[i]);
    const char *text = json_object_to_json_string_ext(copy, JSON_C_TO_STRING_PLAIN);
    unsigned char digest[32];
    int rc = text != NULL && gnutls_hash_fast(GNUTLS_DIG_SHA256, text, strlen(text), digest) == 0
                 ? 0
                 : -1;
    json_object_put(copy);
    if (rc == 0)
        hex(digest, sizeof digest, out);
    return rc;
}

/* Parse DOC with function_json; the message without the "Configuration." path prefix. */
static int deploy_parse(json_object *doc, const char *region, function_desc **desc,
                        store_error *err)
{
    const char *text = json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PLAIN);
    char why[FUNCTION_JSON_WHY_MAX];
    if (text == NULL)
        return no_memory(err);
    if (function_json_parse_region(text, strlen(text), region, desc, why, sizeof why) != 0 ||
        function_desc_check(*desc, why, sizeof why) != 0) {
        function_desc_free(*desc);
        *desc = NULL;
        const char *msg = strncmp(why, "Configuration.", 14) == 0 ? why + 14 : why;
        return invalid(err, msg);
    }
    return 0;
}

static store_layer_version *layer_by_arn(lambda_store *s, const char *arn);

/* The zips of D's Layers (store lock held), their CodeSize in the document, the merged tar. */
static int deploy_layers(lambda_store *s, store_deploy *d, store_error *err)
{
    size_t n = d->desc->n_layers;
    if (n == 0)
        return 0;
    d->layers = calloc(n, sizeof *d->layers);
    const void **data = calloc(n, sizeof *data);
    size_t *sizes = calloc(n, sizeof *sizes);
    int rc = -1;
    if (d->layers == NULL || data == NULL || sizes == NULL) {
        no_memory(err);
        goto out;
    }
    json_object *list =
        json_object_object_get(json_object_object_get(d->doc, "Configuration"), "Layers");
    for (size_t i = 0; i < n; i++) {
        store_layer_version *lv = layer_by_arn(s, d->desc->layers[i].arn);
        if (lv == NULL) {
            store_fail(err, 400, "InvalidParameterValueException",
                       "Layers[%zu]: layer version %s does not exist", i, d->desc->layers[i].arn);
            goto out;
        }
        d->layers[i] = (fcb_blob){lv->zip, lv->len};
        data[i] = lv->zip;
        sizes[i] = lv->len;
        json_object_object_add(json_object_array_get_idx(list, i), "CodeSize",
                               json_object_new_int64((int64_t)lv->len));
    }
    d->n_layers = n;
    char why[512];
    if (bundle_layers_tar(data, sizes, n, &d->layers_tar, &d->layers_tar_len, why, sizeof why) != 0)
        store_fail(err, 400, "InvalidParameterValueException", "Layers: %s", why);
    else
        rc = 0;
out:
    free(data);
    free(sizes);
    return rc;
}

/* D's hot-reload directory from its document's Code.Location (copied); 0 or -1 (memory). */
static int deploy_code_dir(store_deploy *d)
{
    json_object *loc = json_object_object_get(json_object_object_get(d->doc, "Code"), "Location");
    const char *where = loc != NULL ? json_object_get_string(loc) : NULL;
    size_t n = strlen(STORE_HOT_LOCATION);
    if (where == NULL || strncmp(where, STORE_HOT_LOCATION, n) != 0)
        return 0;
    d->code_dir = strdup(where + n);
    return d->code_dir != NULL ? 0 : -1;
}

/*
 * A deploy of DOC (taken) with CODE (copied). VERSION "$LATEST" or digits.
 * Returns 0 and *out with one reference, or -1 with ERR (DOC is put).
 */
static int deploy_new(lambda_store *s, json_object *doc, const char *region, const void *code,
                      size_t code_len, const char *version, store_deploy **out, store_error *err)
{
    *out = NULL;
    store_deploy *d = calloc(1, sizeof *d);
    char fp[65];
    if (d == NULL || deploy_fingerprint(doc, fp) != 0) {
        free(d);
        json_object_put(doc);
        return no_memory(err);
    }
    atomic_init(&d->refs, 1);
    d->owner = s;
    d->doc = doc;
    snprintf(d->version, sizeof d->version, "%s", version);
    memcpy(d->deploy_id, fp, 16);
    d->deploy_id[16] = '\0';
    if (deploy_parse(doc, region, &d->desc, err) != 0 || deploy_layers(s, d, err) != 0)
        goto fail;
    const char *arn = d->desc->fn.function_arn;
    if (code_len > 0 && (d->code = malloc(code_len)) == NULL)
        goto oom;
    if (code_len > 0)
        memcpy(d->code, code, code_len);
    d->code_len = code_len;
    if (deploy_code_dir(d) != 0)
        goto oom;
    bool latest = strcmp(version, "$LATEST") == 0;
    if (asprintf(&d->group, "%s%s#%s", arn, latest ? ":$LATEST" : "", fp) < 0) {
        d->group = NULL;
        goto oom;
    }
    if (s->on_new != NULL)
        s->on_new(s->ctx, d);
    d->announced = true;
    *out = d;
    return 0;
oom:
    no_memory(err);
fail:
    store_deploy_put(d); /* never announced: on_free does not run */
    return -1;
}

/* ---- documents ------------------------------------------------------------------ */

static void now_iso(char out[40])
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    struct tm tm;
    gmtime_r(&t.tv_sec, &tm);
    char base[24];
    strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, 40, "%s.%03ld+0000", base, t.tv_nsec / 1000000);
}

static void revision_id(char out[37])
{
    unsigned char r[16] = {0};
    gnutls_rnd(GNUTLS_RND_NONCE, r, sizeof r);
    char h[33];
    hex(r, sizeof r, h);
    snprintf(out, 37, "%.8s-%.4s-%.4s-%.4s-%.12s", h, h + 8, h + 12, h + 16, h + 20);
}

static void set_str(json_object *o, const char *key, const char *value)
{
    json_object_object_add(o, key, json_object_new_string(value));
}

/* LastModified and RevisionId: a new revision of CONFIG. */
static void touch(json_object *config)
{
    char when[40], rev[37];
    now_iso(when);
    revision_id(rev);
    set_str(config, "LastModified", when);
    set_str(config, "RevisionId", rev);
}

/* What a request may set, copied as given (function_json checks the types). */
static const char *const copied_settings[] = {"Runtime",
                                              "Handler",
                                              "Description",
                                              "Role",
                                              "Timeout",
                                              "MemorySize",
                                              "Environment",
                                              "EphemeralStorage",
                                              "TracingConfig",
                                              "LoggingConfig",
                                              "VpcConfig",
                                              "DeadLetterConfig",
                                              "KMSKeyArn",
                                              "SnapStart",
                                              "FileSystemConfigs",
                                              "Architectures",
                                              NULL};

static bool in_list(const char *key, const char *const *list)
{
    for (size_t i = 0; list[i] != NULL; i++)
        if (strcmp(key, list[i]) == 0)
            return true;
    return false;
}

/* Layers: up to 5 LayerVersionArns -> [{"Arn": ...}] (CodeSize added by deploy_new). */
static int layers_setting(json_object *config, json_object *val, store_error *err)
{
    if (!json_object_is_type(val, json_type_array))
        return invalid(err, "Layers: expected a list of layer version ARNs");
    size_t n = json_object_array_length(val);
    if (n > 5)
        return store_fail(err, 400, "InvalidParameterValueException",
                          "Layers: at most 5 layers, got %zu", n);
    json_object *list = json_object_new_array();
    for (size_t i = 0; i < n; i++) {
        json_object *arn = json_object_array_get_idx(val, i);
        if (!json_object_is_type(arn, json_type_string)) {
            json_object_put(list);
            return store_fail(err, 400, "InvalidParameterValueException",
                              "Layers[%zu]: expected a layer version ARN", i);
        }
        json_object *item = json_object_new_object();
        json_object_object_add(item, "Arn", json_object_get(arn));
        json_object_array_add(list, item);
    }
    json_object_object_add(config, "Layers", list);
    return 0;
}

/* The settings of a CreateFunction or UpdateFunctionConfiguration body onto CONFIG. */
static int apply_settings(json_object *config, json_object *req, store_error *err)
{
    json_object_object_foreach(req, key, val)
    {
        if (in_list(key, copied_settings)) {
            json_object_object_add(config, key, json_object_get(val));
        } else if (strcmp(key, "ImageConfig") == 0) {
            json_object *resp = json_object_new_object();
            json_object_object_add(resp, "ImageConfig", json_object_get(val));
            json_object_object_add(config, "ImageConfigResponse", resp);
        } else if (strcmp(key, "Layers") == 0 && layers_setting(config, val, err) != 0) {
            return -1;
        }
    }
    return 0;
}

/* The zip of a ZipFile member (base64), checked. */
static int read_zip(json_object *zipfile, unsigned char **zip, size_t *len, store_error *err)
{
    char why[512];
    if (!json_object_is_type(zipfile, json_type_string))
        return invalid(err, "ZipFile: expected base64 text");
    const char *text = json_object_get_string(zipfile);
    size_t tlen = (size_t)json_object_get_string_len(zipfile);
    if (tlen / 4 * 3 > STORE_ZIP_MAX + 3)
        return store_fail(err, 413, "RequestEntityTooLargeException",
                          "ZipFile: larger than %zu bytes (Lambda's limit for a direct upload)",
                          STORE_ZIP_MAX);
    if (lapi_base64_decode(text, tlen, zip, len, why, sizeof why) != 0)
        return store_fail(err, 400, "InvalidParameterValueException", "ZipFile: %s", why);
    if (bundle_check_zip(*zip, *len, "ZipFile", why, sizeof why) != 0) {
        free(*zip);
        *zip = NULL;
        return store_fail(err, 400, "InvalidParameterValueException",
                          "Could not unzip uploaded file. Please check your file, then try to "
                          "upload again. (%s)",
                          why);
    }
    return 0;
}

typedef struct store_code {
    unsigned char *zip;
    size_t len;
    const char *image_uri; /* borrowed from the request */
    const char *code_dir;  /* hot reload: S3Key of S3Bucket "hot-reload", borrowed */
} store_code;

/* Where hot-reload code may come from: a function of a capable backend, or nowhere. */
typedef enum store_hot { STORE_HOT_NEVER, STORE_HOT_NO_BACKEND, STORE_HOT_OK } store_hot;

/*
 * S3Bucket "hot-reload" with S3Key an absolute host directory (the peers'
 * convention): the code is that directory, mounted by the backend at each
 * launch (ABI 1.1 code_dir). Whether the directory may be mounted is the
 * backend's decision (its allow-list); here only the form is checked.
 */
static int read_hot_reload(json_object *src, const char *package_type, store_hot hot,
                           store_code *code, store_error *err)
{
    json_object *key = NULL;
    if (hot == STORE_HOT_NEVER)
        return invalid(err, "S3Bucket hot-reload: hot reload is for function code, not layers");
    if (hot == STORE_HOT_NO_BACKEND)
        return invalid(err, "S3Bucket hot-reload: hot reload (code from a host directory) needs a "
                            "backend declaring the hot-reload capability (docker); this backend "
                            "does not; send ZipFile");
    if (strcmp(package_type, "Zip") != 0)
        return invalid(err, "S3Bucket hot-reload: hot reload is for PackageType Zip");
    if (json_object_object_get_ex(src, "ZipFile", NULL) ||
        json_object_object_get_ex(src, "ImageUri", NULL))
        return invalid(err, "S3Bucket hot-reload: send S3Key (the directory), not ZipFile or "
                            "ImageUri");
    if (!json_object_object_get_ex(src, "S3Key", &key) ||
        !json_object_is_type(key, json_type_string) || json_object_get_string(key)[0] != '/' ||
        json_object_get_string_len(key) >= 4096)
        return invalid(err, "S3Key: with S3Bucket hot-reload, an absolute host directory");
    code->code_dir = json_object_get_string(key);
    return 0;
}

/* ZipFile or ImageUri (or a hot-reload directory) from SRC (FunctionCode / UpdateFunctionCode). */
static int read_code(json_object *src, const char *package_type, store_hot hot, store_code *code,
                     store_error *err)
{
    memset(code, 0, sizeof *code);
    json_object *zip = NULL, *image = NULL;
    json_object_object_get_ex(src, "ZipFile", &zip);
    json_object_object_get_ex(src, "ImageUri", &image);
    json_object *bucket = NULL;
    if (json_object_object_get_ex(src, "S3Bucket", &bucket) &&
        json_object_is_type(bucket, json_type_string) &&
        strcmp(json_object_get_string(bucket), "hot-reload") == 0)
        return read_hot_reload(src, package_type, hot, code, err);
    if (bucket != NULL)
        return invalid(err, "S3Bucket: code from S3 is not supported by serve; send ZipFile");
    if (strcmp(package_type, "Image") == 0) {
        if (image == NULL || !json_object_is_type(image, json_type_string) ||
            json_object_get_string_len(image) == 0)
            return invalid(err, "ImageUri: required for PackageType Image");
        if (zip != NULL)
            return invalid(err, "ZipFile: not allowed for PackageType Image");
        code->image_uri = json_object_get_string(image);
        return 0;
    }
    if (image != NULL)
        return invalid(err, "ImageUri: not allowed for PackageType Zip (set PackageType Image)");
    if (zip == NULL)
        return invalid(err, "ZipFile: required for PackageType Zip");
    return read_zip(zip, &code->zip, &code->len, err);
}

/* CodeSize, CodeSha256 and the Code location of CODE into DOC. */
static void set_code(json_object *doc, const store_code *code)
{
    json_object *config = json_object_object_get(doc, "Configuration");
    const char *name = code->image_uri != NULL ? code->image_uri : code->code_dir;
    const void *data = name != NULL ? (const void *)name : code->zip;
    size_t len = name != NULL ? strlen(name) : code->len;
    unsigned char digest[32] = {0};
    gnutls_hash_fast(GNUTLS_DIG_SHA256, data, len, digest);
    char *b64 = lapi_base64_encode(digest, sizeof digest);
    set_str(config, "CodeSha256", b64 != NULL ? b64 : "");
    free(b64);
    json_object_object_add(config, "CodeSize", json_object_new_int64((int64_t)code->len));
    json_object *loc = json_object_new_object();
    set_str(loc, "RepositoryType", code->image_uri != NULL ? "ECR" : "S3");
    if (code->image_uri != NULL) {
        set_str(loc, "ImageUri", code->image_uri);
        set_str(loc, "ResolvedImageUri", code->image_uri);
    }
    if (code->code_dir != NULL) {
        char *where = NULL;
        if (asprintf(&where, STORE_HOT_LOCATION "%s", code->code_dir) >= 0)
            set_str(loc, "Location", where);
        free(where);
    }
    json_object_object_add(doc, "Code", loc);
}

/* The Configuration of a new function NAME before the request's settings. */
static json_object *base_config(const lambda_store *s, const char *name, const char *region,
                                const char *package_type)
{
    json_object *c = json_object_new_object();
    char arn[256], role[128], group[128];
    snprintf(arn, sizeof arn, "arn:aws:lambda:%s:%s:function:%s", region, s->account, name);
    snprintf(role, sizeof role, "arn:aws:iam::%s:role/lambda-role", s->account);
    snprintf(group, sizeof group, "/aws/lambda/%s", name);
    set_str(c, "FunctionName", name);
    set_str(c, "FunctionArn", arn);
    set_str(c, "Role", role);
    set_str(c, "Description", "");
    json_object_object_add(c, "Timeout", json_object_new_int(3));
    json_object_object_add(c, "MemorySize", json_object_new_int(128));
    set_str(c, "Version", "$LATEST");
    json_object *tracing = json_object_new_object();
    set_str(tracing, "Mode", "PassThrough");
    json_object_object_add(c, "TracingConfig", tracing);
    set_str(c, "State", "Active");
    set_str(c, "LastUpdateStatus", "Successful");
    set_str(c, "PackageType", package_type);
    json_object *arch = json_object_new_array();
    json_object_array_add(arch, json_object_new_string("x86_64"));
    json_object_object_add(c, "Architectures", arch);
    json_object *eph = json_object_new_object();
    json_object_object_add(eph, "Size", json_object_new_int(512));
    json_object_object_add(c, "EphemeralStorage", eph);
    json_object *logging = json_object_new_object();
    set_str(logging, "LogFormat", "Text");
    set_str(logging, "LogGroup", group);
    json_object_object_add(c, "LoggingConfig", logging);
    touch(c);
    return c;
}

static store_function *find(lambda_store *s, const char *name)
{
    for (store_function *f = s->functions; f != NULL; f = f->next)
        if (strcmp(f->name, name) == 0)
            return f;
    return NULL;
}

static json_object *config_copy(const store_deploy *d)
{
    json_object *copy = NULL;
    json_object_deep_copy(json_object_object_get(d->doc, "Configuration"), &copy, NULL);
    return copy;
}

/* A copy of D->doc with Configuration changed by the caller: the next deploy's start. */
static json_object *doc_copy(const store_deploy *d)
{
    json_object *copy = NULL;
    json_object_deep_copy(d->doc, &copy, NULL);
    return copy;
}

static store_alias *alias_find(store_function *f, const char *name)
{
    for (size_t i = 0; i < f->n_aliases; i++)
        if (strcmp(f->aliases[i].name, name) == 0)
            return &f->aliases[i];
    return NULL;
}

static int not_found(store_error *err, const lambda_store *s, const char *name,
                     const char *qualifier)
{
    return store_fail(err, 404, "ResourceNotFoundException",
                      "Function not found: arn:aws:lambda:us-east-1:%s:function:%s%s%s", s->account,
                      name, qualifier != NULL && qualifier[0] ? ":" : "",
                      qualifier != NULL ? qualifier : "");
}

/*
 * FUNCTION (path) and QUALIFIER (query, may be NULL) to the function and
 * the deploy they name (no reference taken; lock held).
 */
static int resolve(lambda_store *s, const char *function, const char *qualifier, store_function **f,
                   store_deploy **d, store_error *err)
{
    char name[65], q[129], why[512];
    if (lapi_function_name_split(function, name, q, why, sizeof why) != 0)
        return invalid(err, why);
    if (qualifier != NULL && q[0] != '\0' && strcmp(q, qualifier) != 0)
        return invalid(err, "Qualifier: differs from the one in FunctionName");
    if (qualifier != NULL && q[0] == '\0')
        snprintf(q, sizeof q, "%.128s", qualifier);
    *f = find(s, name);
    if (*f == NULL)
        return not_found(err, s, name, q);
    const store_alias *alias = alias_find(*f, q);
    if (alias != NULL)
        snprintf(q, sizeof q, "%s", alias->version); /* an alias runs its version */
    if (q[0] == '\0' || strcmp(q, "$LATEST") == 0) {
        *d = (*f)->latest;
        return 0;
    }
    char *end = NULL;
    unsigned long v = strtoul(q, &end, 10);
    if (*end != '\0' || v == 0 || v > (*f)->n_versions || (*f)->versions[v - 1] == NULL)
        return not_found(err, s, name, q);
    *d = (*f)->versions[v - 1];
    return 0;
}

/* Publish F's $LATEST as the next version (or answer the last one if nothing changed). */
static int publish_locked(lambda_store *s, store_function *f, const char *description,
                          store_deploy **out, store_error *err)
{
    store_deploy *last = f->n_versions > 0 ? f->versions[f->n_versions - 1] : NULL;
    if (last != NULL && strcmp(last->deploy_id, f->latest->deploy_id) == 0) {
        *out = last;
        return 0;
    }
    if (f->n_versions >= STORE_VERSIONS_MAX)
        return store_fail(err, 400, "CodeStorageExceededException", "%s: at most %d versions",
                          f->name, STORE_VERSIONS_MAX);
    store_deploy **grown = realloc(f->versions, (f->n_versions + 1) * sizeof *grown);
    if (grown == NULL)
        return no_memory(err);
    f->versions = grown;
    char version[16], arn[320];
    snprintf(version, sizeof version, "%zu", f->n_versions + 1);
    json_object *doc = doc_copy(f->latest);
    json_object *config = json_object_object_get(doc, "Configuration");
    snprintf(arn, sizeof arn, "%s:%s",
             json_object_get_string(json_object_object_get(config, "FunctionArn")), version);
    set_str(config, "FunctionArn", arn);
    set_str(config, "Version", version);
    if (description != NULL)
        set_str(config, "Description", description);
    store_deploy *d = NULL;
    if (deploy_new(s, doc, f->region, f->latest->code, f->latest->code_len, version, &d, err) != 0)
        return -1;
    f->versions[f->n_versions++] = d;
    *out = d;
    return 0;
}

static bool flag(json_object *req, const char *key)
{
    json_object *v = NULL;
    return req != NULL && json_object_object_get_ex(req, key, &v) && json_object_get_boolean(v);
}

/* ---- operations ------------------------------------------------------------------ */

void store_allow_hot_reload(lambda_store *s, bool allowed)
{
    pthread_mutex_lock(&s->lock);
    s->hot_reload = allowed;
    pthread_mutex_unlock(&s->lock);
}

int store_new(const char *account, store_deploy_hook on_new, store_deploy_hook on_free, void *ctx,
              lambda_store **out)
{
    *out = calloc(1, sizeof **out);
    if (*out == NULL)
        return -1;
    pthread_mutex_init(&(*out)->lock, NULL);
    snprintf((*out)->account, sizeof(*out)->account, "%s", account);
    (*out)->on_new = on_new;
    (*out)->on_free = on_free;
    (*out)->ctx = ctx;
    return 0;
}

/* Unlink F (lock held) and hand its deploys to DR. */
static void function_drop(lambda_store *s, store_function *f, store_dropped *dr)
{
    for (store_function **pp = &s->functions; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == f) {
            *pp = f->next;
            s->n_functions--;
            break;
        }
    }
    dropped_add(dr, f->latest);
    for (size_t i = 0; i < f->n_versions; i++)
        dropped_add(dr, f->versions[i]);
    free(f->versions);
    free(f->aliases);
    free(f);
}

void store_free(lambda_store *s)
{
    if (s == NULL)
        return;
    for (size_t guard = 0; s->functions != NULL && guard < STORE_FUNCTIONS_MAX; guard++) {
        store_dropped dr = {.n = 0};
        function_drop(s, s->functions, &dr);
        dropped_put(&dr);
    }
    for (store_layer *l = s->layers, *next; l != NULL; l = next) {
        next = l->next;
        for (size_t i = 0; i < l->n_versions; i++) {
            free(l->versions[i].zip);
            free(l->versions[i].arn);
            json_object_put(l->versions[i].doc);
        }
        free(l->versions);
        free(l);
    }
    pthread_mutex_destroy(&s->lock);
    free(s);
}

static int string_member(json_object *req, const char *key, const char **out, store_error *err)
{
    json_object *v = NULL;
    *out = NULL;
    if (req == NULL || !json_object_object_get_ex(req, key, &v) || v == NULL)
        return 0;
    if (!json_object_is_type(v, json_type_string))
        return store_fail(err, 400, "InvalidParameterValueException", "%s: expected a string", key);
    *out = json_object_get_string(v);
    return 0;
}

/* The GetFunction document of a CreateFunction body, and its code. */
static int create_doc(lambda_store *s, json_object *req, const char *name, const char *region,
                      json_object **doc, store_code *code, store_error *err)
{
    const char *package_type = NULL;
    json_object *code_obj = NULL, *tags = NULL;
    if (string_member(req, "PackageType", &package_type, err) != 0)
        return -1;
    if (package_type == NULL)
        package_type = "Zip";
    if (strcmp(package_type, "Zip") != 0 && strcmp(package_type, "Image") != 0)
        return invalid(err, "PackageType: expected Zip or Image");
    if (!json_object_object_get_ex(req, "Code", &code_obj) ||
        !json_object_is_type(code_obj, json_type_object))
        return invalid(err, "Code: required (an object with ZipFile or ImageUri)");
    if (read_code(code_obj, package_type, s->hot_reload ? STORE_HOT_OK : STORE_HOT_NO_BACKEND, code,
                  err) != 0)
        return -1;
    json_object *config = base_config(s, name, region, package_type);
    *doc = json_object_new_object();
    json_object_object_add(*doc, "Configuration", config);
    if (json_object_object_get_ex(req, "Tags", &tags))
        json_object_object_add(*doc, "Tags", json_object_get(tags));
    set_code(*doc, code);
    if (apply_settings(config, req, err) != 0) {
        json_object_put(*doc);
        free(code->zip);
        return -1;
    }
    return 0;
}

int store_create(lambda_store *s, json_object *req, const char *region, json_object **answer,
                 store_error *err)
{
    *answer = NULL;
    const char *fname = NULL;
    char name[65], q[129], why[512];
    if (req == NULL || !json_object_is_type(req, json_type_object))
        return invalid(err, "the request body must be a JSON object");
    if (string_member(req, "FunctionName", &fname, err) != 0)
        return -1;
    if (fname == NULL)
        return invalid(err, "FunctionName: required");
    if (lapi_function_name_split(fname, name, q, why, sizeof why) != 0)
        return invalid(err, why);
    json_object *doc = NULL;
    store_code code;
    if (create_doc(s, req, name, region, &doc, &code, err) != 0)
        return -1;
    int rc = -1;
    pthread_mutex_lock(&s->lock);
    store_function *f = NULL;
    if (find(s, name) != NULL) {
        store_fail(err, 409, "ResourceConflictException", "Function already exist: %s", name);
        json_object_put(doc);
        goto out;
    }
    if (s->n_functions >= STORE_FUNCTIONS_MAX || (f = calloc(1, sizeof *f)) == NULL) {
        store_fail(err, 429, "TooManyRequestsException", "at most %d functions",
                   STORE_FUNCTIONS_MAX);
        json_object_put(doc);
        goto out;
    }
    snprintf(f->name, sizeof f->name, "%s", name);
    snprintf(f->region, sizeof f->region, "%s", region);
    f->reserved = -1;
    if (deploy_new(s, doc, region, code.zip, code.len, "$LATEST", &f->latest, err) != 0) {
        free(f);
        goto out;
    }
    f->next = s->functions;
    s->functions = f;
    s->n_functions++;
    store_deploy *shown = f->latest;
    if (flag(req, "Publish") && publish_locked(s, f, NULL, &shown, err) != 0)
        goto out;
    *answer = config_copy(shown);
    rc = 0;
out:
    pthread_mutex_unlock(&s->lock);
    free(code.zip);
    return rc;
}

int store_get_function(lambda_store *s, const char *function, const char *qualifier,
                       bool configuration_only, json_object **answer, store_error *err)
{
    *answer = NULL;
    store_function *f;
    store_deploy *d;
    pthread_mutex_lock(&s->lock);
    int rc = resolve(s, function, qualifier, &f, &d, err);
    if (rc == 0 && configuration_only) {
        *answer = config_copy(d);
    } else if (rc == 0) {
        *answer = doc_copy(d);
        if (json_object_object_get(*answer, "Tags") == NULL)
            json_object_object_add(*answer, "Tags", json_object_new_object());
        if (f->reserved >= 0) {
            json_object *c = json_object_new_object();
            json_object_object_add(c, "ReservedConcurrentExecutions",
                                   json_object_new_int(f->reserved));
            json_object_object_add(*answer, "Concurrency", c);
        }
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}

int store_list(lambda_store *s, json_object **answer, store_error *err)
{
    (void)err;
    *answer = json_object_new_object();
    json_object *list = json_object_new_array();
    pthread_mutex_lock(&s->lock);
    for (store_function *f = s->functions; f != NULL; f = f->next)
        json_object_array_add(list, config_copy(f->latest));
    pthread_mutex_unlock(&s->lock);
    json_object_object_add(*answer, "Functions", list);
    return 0;
}

static const store_alias *alias_of_version(const store_function *f, const char *version)
{
    for (size_t i = 0; i < f->n_aliases; i++)
        if (strcmp(f->aliases[i].version, version) == 0)
            return &f->aliases[i];
    return NULL;
}

int store_delete(lambda_store *s, const char *function, const char *qualifier, store_error *err)
{
    store_function *f;
    store_deploy *d;
    store_dropped dr = {.n = 0};
    pthread_mutex_lock(&s->lock);
    int rc = resolve(s, function, qualifier, &f, &d, err);
    if (rc == 0 && d == f->latest && qualifier != NULL && strcmp(qualifier, "$LATEST") == 0) {
        rc = invalid(err, "$LATEST version cannot be deleted without deleting the function.");
    } else if (rc == 0 && d == f->latest) {
        function_drop(s, f, &dr);
    } else if (rc == 0 && alias_of_version(f, d->version) != NULL) {
        rc = store_fail(err, 409, "ResourceConflictException",
                        "Unable to delete version %s of %s: alias %s points to it", d->version,
                        f->name, alias_of_version(f, d->version)->name);
    } else if (rc == 0) {
        for (size_t i = 0; i < f->n_versions; i++)
            if (f->versions[i] == d)
                f->versions[i] = NULL;
        dropped_add(&dr, d);
    }
    pthread_mutex_unlock(&s->lock);
    dropped_put(&dr);
    return rc;
}

/* A RevisionId in REQ must be $LATEST's (optimistic locking, as AWS). */
static int revision_check(const store_function *f, json_object *req, store_error *err)
{
    json_object *want = NULL;
    if (req == NULL || !json_object_object_get_ex(req, "RevisionId", &want))
        return 0;
    json_object *config = json_object_object_get(f->latest->doc, "Configuration");
    const char *have = json_object_get_string(json_object_object_get(config, "RevisionId"));
    const char *given = json_object_get_string(want);
    if (have != NULL && given != NULL && strcmp(have, given) == 0)
        return 0;
    return store_fail(err, 412, "PreconditionFailedException",
                      "The Revision Id provided does not match the latest Revision Id. Call the "
                      "GetFunction API to retrieve the latest Revision Id");
}

/* Replace F's $LATEST by a deploy of DOC (taken) and CODE; publish when asked. */
static int redeploy(lambda_store *s, store_function *f, json_object *doc, const store_code *code,
                    bool publish, json_object **answer, store_dropped *dr, store_error *err)
{
    touch(json_object_object_get(doc, "Configuration"));
    store_deploy *d = NULL;
    if (deploy_new(s, doc, f->region, code->zip, code->len, "$LATEST", &d, err) != 0)
        return -1;
    dropped_add(dr, f->latest);
    f->latest = d;
    store_deploy *shown = d;
    if (publish && publish_locked(s, f, NULL, &shown, err) != 0)
        return -1;
    *answer = config_copy(shown);
    return 0;
}

int store_update_code(lambda_store *s, const char *function, json_object *req, json_object **answer,
                      store_error *err)
{
    *answer = NULL;
    store_function *f;
    store_deploy *d;
    store_dropped dr = {.n = 0};
    store_code code = {0};
    if (req == NULL || !json_object_is_type(req, json_type_object))
        return invalid(err, "the request body must be a JSON object");
    pthread_mutex_lock(&s->lock);
    int rc = resolve(s, function, NULL, &f, &d, err);
    if (rc == 0)
        rc = revision_check(f, req, err);
    if (rc != 0)
        goto out;
    json_object *config = json_object_object_get(f->latest->doc, "Configuration");
    const char *type = json_object_get_string(json_object_object_get(config, "PackageType"));
    rc = read_code(req, type != NULL ? type : "Zip",
                   s->hot_reload ? STORE_HOT_OK : STORE_HOT_NO_BACKEND, &code, err);
    if (rc != 0)
        goto out;
    json_object *doc = doc_copy(f->latest), *arch = NULL;
    set_code(doc, &code);
    if (json_object_object_get_ex(req, "Architectures", &arch))
        json_object_object_add(json_object_object_get(doc, "Configuration"), "Architectures",
                               json_object_get(arch));
    rc = redeploy(s, f, doc, &code, flag(req, "Publish"), answer, &dr, err);
out:
    pthread_mutex_unlock(&s->lock);
    dropped_put(&dr);
    free(code.zip);
    return rc;
}

int store_update_configuration(lambda_store *s, const char *function, json_object *req,
                               json_object **answer, store_error *err)
{
    *answer = NULL;
    store_function *f;
    store_deploy *d;
    store_dropped dr = {.n = 0};
    if (req == NULL || !json_object_is_type(req, json_type_object))
        return invalid(err, "the request body must be a JSON object");
    pthread_mutex_lock(&s->lock);
    int rc = resolve(s, function, NULL, &f, &d, err);
    if (rc == 0)
        rc = revision_check(f, req, err);
    if (rc == 0) {
        json_object *doc = doc_copy(f->latest);
        store_code code = {.zip = f->latest->code, .len = f->latest->code_len};
        rc = apply_settings(json_object_object_get(doc, "Configuration"), req, err);
        if (rc == 0)
            rc = redeploy(s, f, doc, &code, false, answer, &dr, err);
        else
            json_object_put(doc);
    }
    pthread_mutex_unlock(&s->lock);
    dropped_put(&dr);
    return rc;
}

int store_publish(lambda_store *s, const char *function, json_object *req, json_object **answer,
                  store_error *err)
{
    *answer = NULL;
    store_function *f;
    store_deploy *d, *shown = NULL;
    const char *description = NULL, *sha = NULL;
    if (string_member(req, "Description", &description, err) != 0 ||
        string_member(req, "CodeSha256", &sha, err) != 0)
        return -1;
    pthread_mutex_lock(&s->lock);
    int rc = resolve(s, function, NULL, &f, &d, err);
    if (rc == 0)
        rc = revision_check(f, req, err);
    json_object *config = rc == 0 ? json_object_object_get(f->latest->doc, "Configuration") : NULL;
    const char *current = json_object_get_string(json_object_object_get(config, "CodeSha256"));
    if (rc == 0 && sha != NULL && (current == NULL || strcmp(sha, current) != 0))
        rc = store_fail(err, 412, "PreconditionFailedException",
                        "CodeSha256 %s does not match the function's (%s)", sha,
                        current != NULL ? current : "");
    if (rc == 0)
        rc = publish_locked(s, f, description, &shown, err);
    if (rc == 0)
        *answer = config_copy(shown);
    pthread_mutex_unlock(&s->lock);
    return rc;
}

int store_list_versions(lambda_store *s, const char *function, json_object **answer,
                        store_error *err)
{
    *answer = NULL;
    store_function *f;
    store_deploy *d;
    pthread_mutex_lock(&s->lock);
    int rc = resolve(s, function, NULL, &f, &d, err);
    if (rc == 0) {
        json_object *list = json_object_new_array();
        json_object_array_add(list, config_copy(f->latest));
        for (size_t i = 0; i < f->n_versions; i++)
            if (f->versions[i] != NULL)
                json_object_array_add(list, config_copy(f->versions[i]));
        *answer = json_object_new_object();
        json_object_object_add(*answer, "Versions", list);
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}

int store_concurrency(lambda_store *s, const char *function, int reserved, json_object **answer,
                      store_error *err)
{
    *answer = NULL;
    store_function *f;
    store_deploy *d;
    pthread_mutex_lock(&s->lock);
    int rc = resolve(s, function, NULL, &f, &d, err);
    if (rc == 0 && reserved != -2)
        f->reserved = reserved;
    if (rc == 0 && reserved != -1) {
        *answer = json_object_new_object();
        if (f->reserved >= 0)
            json_object_object_add(*answer, "ReservedConcurrentExecutions",
                                   json_object_new_int(f->reserved));
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}

int store_get(lambda_store *s, const char *function, const char *qualifier, store_deploy **out,
              int *reserved, store_error *err)
{
    store_function *f;
    store_deploy *d;
    *out = NULL;
    pthread_mutex_lock(&s->lock);
    int rc = resolve(s, function, qualifier, &f, &d, err);
    if (rc == 0) {
        atomic_fetch_add(&d->refs, 1);
        *out = d;
        *reserved = f->reserved;
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}

void store_foreach_function(lambda_store *s, void (*fn)(void *ctx, const char *name), void *ctx)
{
    pthread_mutex_lock(&s->lock);
    for (store_function *f = s->functions; f != NULL; f = f->next)
        fn(ctx, f->name);
    pthread_mutex_unlock(&s->lock);
}

/* ---- tags ---------------------------------------------------------------------------- */

/* RESOURCE's function (lock held): its unqualified ARN or name. */
static int tag_target(lambda_store *s, const char *resource, store_function **f, store_error *err)
{
    store_deploy *d;
    char name[65], q[129], why[512];
    if (lapi_function_name_split(resource, name, q, why, sizeof why) != 0)
        return invalid(err, why);
    if (q[0] != '\0')
        return invalid(err, "Resource: tags belong to the function; use its unqualified ARN");
    return resolve(s, resource, NULL, f, &d, err);
}

int store_list_tags(lambda_store *s, const char *resource, json_object **answer, store_error *err)
{
    *answer = NULL;
    store_function *f;
    pthread_mutex_lock(&s->lock);
    int rc = tag_target(s, resource, &f, err);
    if (rc == 0) {
        json_object *tags = NULL;
        json_object_deep_copy(json_object_object_get(f->latest->doc, "Tags"), &tags, NULL);
        *answer = json_object_new_object();
        json_object_object_add(*answer, "Tags", tags != NULL ? tags : json_object_new_object());
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}

/* A new $LATEST with its Tags changed by EDIT (ADD merged, or KEYS removed). */
static int retag(lambda_store *s, const char *resource, json_object *add, const char *const *keys,
                 size_t n_keys, store_error *err)
{
    store_function *f;
    store_dropped dr = {.n = 0};
    pthread_mutex_lock(&s->lock);
    int rc = tag_target(s, resource, &f, err);
    if (rc == 0) {
        json_object *doc = doc_copy(f->latest), *tags = json_object_object_get(doc, "Tags");
        if (tags == NULL) {
            tags = json_object_new_object();
            json_object_object_add(doc, "Tags", tags);
        }
        if (add != NULL) {
            json_object_object_foreach(add, key, val)
                json_object_object_add(tags, key, json_object_get(val));
        }
        for (size_t i = 0; i < n_keys; i++)
            json_object_object_del(tags, keys[i]);
        store_code code = {.zip = f->latest->code, .len = f->latest->code_len};
        json_object *answer = NULL;
        rc = redeploy(s, f, doc, &code, false, &answer, &dr, err);
        json_object_put(answer);
    }
    pthread_mutex_unlock(&s->lock);
    dropped_put(&dr);
    return rc;
}

int store_tag(lambda_store *s, const char *resource, json_object *req, store_error *err)
{
    json_object *tags = NULL;
    if (req == NULL || !json_object_object_get_ex(req, "Tags", &tags) ||
        !json_object_is_type(tags, json_type_object))
        return invalid(err, "Tags: required, an object of tag keys and values");
    return retag(s, resource, tags, NULL, 0, err);
}

int store_untag(lambda_store *s, const char *resource, const char *const *keys, size_t n_keys,
                store_error *err)
{
    if (n_keys == 0)
        return invalid(err, "tagKeys: at least one key required");
    return retag(s, resource, NULL, keys, n_keys, err);
}

/* ---- layers --------------------------------------------------------------------------- */

static store_layer *layer_find(lambda_store *s, const char *name)
{
    for (store_layer *l = s->layers; l != NULL; l = l->next)
        if (strcmp(l->name, name) == 0)
            return l;
    return NULL;
}

/* "arn:aws:lambda:REGION:ACCOUNT:layer:NAME:VERSION" -> the version (lock held). */
static store_layer_version *layer_by_arn(lambda_store *s, const char *arn)
{
    const char *p = arn != NULL ? strstr(arn, ":layer:") : NULL;
    const char *colon = p != NULL ? strrchr(p + 7, ':') : NULL;
    if (colon == NULL || (size_t)(colon - (p + 7)) >= sizeof(((store_layer *)0)->name))
        return NULL;
    char name[141];
    memcpy(name, p + 7, (size_t)(colon - (p + 7)));
    name[colon - (p + 7)] = '\0';
    char *end = NULL;
    unsigned long v = strtoul(colon + 1, &end, 10);
    store_layer *l = layer_find(s, name);
    if (l == NULL || *end != '\0' || v == 0 || v > l->n_versions)
        return NULL;
    return strcmp(l->versions[v - 1].arn, arn) == 0 ? &l->versions[v - 1] : NULL;
}

static bool layer_name_ok(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > 140)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((name[i] >= 'a' && name[i] <= 'z') || (name[i] >= 'A' && name[i] <= 'Z') ||
              (name[i] >= '0' && name[i] <= '9') || name[i] == '-' || name[i] == '_'))
            return false;
    return true;
}

/* The PublishLayerVersion answer for version V of layer L. */
static json_object *layer_doc(const lambda_store *s, const store_layer *l, size_t v,
                              const char *region, json_object *req, const store_code *code,
                              char **arn_out)
{
    json_object *doc = json_object_new_object(), *content = json_object_new_object();
    char arn[256], when[40];
    snprintf(arn, sizeof arn, "arn:aws:lambda:%s:%s:layer:%s", region, s->account, l->name);
    unsigned char digest[32] = {0};
    gnutls_hash_fast(GNUTLS_DIG_SHA256, code->zip, code->len, digest);
    char *b64 = lapi_base64_encode(digest, sizeof digest);
    set_str(content, "CodeSha256", b64 != NULL ? b64 : "");
    free(b64);
    json_object_object_add(content, "CodeSize", json_object_new_int64((int64_t)code->len));
    json_object_object_add(doc, "Content", content);
    set_str(doc, "LayerArn", arn);
    snprintf(arn + strlen(arn), sizeof arn - strlen(arn), ":%zu", v);
    set_str(doc, "LayerVersionArn", arn);
    *arn_out = strdup(arn);
    now_iso(when);
    set_str(doc, "CreatedDate", when);
    json_object_object_add(doc, "Version", json_object_new_int64((int64_t)v));
    static const char *const copied[] = {"Description", "CompatibleRuntimes",
                                         "CompatibleArchitectures", "LicenseInfo", NULL};
    for (size_t i = 0; copied[i] != NULL; i++) {
        json_object *val = NULL;
        if (json_object_object_get_ex(req, copied[i], &val))
            json_object_object_add(doc, copied[i], json_object_get(val));
    }
    return doc;
}

int store_publish_layer(lambda_store *s, const char *name, json_object *req, const char *region,
                        json_object **answer, store_error *err)
{
    *answer = NULL;
    json_object *content = NULL;
    store_code code = {0};
    if (!layer_name_ok(name))
        return invalid(err, "LayerName: [A-Za-z0-9_-], 1 to 140 characters");
    if (req == NULL || !json_object_object_get_ex(req, "Content", &content) ||
        !json_object_is_type(content, json_type_object))
        return invalid(err, "Content: required (an object with ZipFile)");
    if (read_code(content, "Zip", STORE_HOT_NEVER, &code, err) != 0)
        return -1;
    pthread_mutex_lock(&s->lock);
    int rc = -1;
    store_layer *l = layer_find(s, name);
    if (l == NULL && (l = calloc(1, sizeof *l)) != NULL) {
        snprintf(l->name, sizeof l->name, "%s", name);
        l->next = s->layers;
        s->layers = l;
    }
    store_layer_version *grown = l != NULL && l->n_versions < STORE_VERSIONS_MAX
                                     ? realloc(l->versions, (l->n_versions + 1) * sizeof *grown)
                                     : NULL;
    if (grown == NULL) {
        store_fail(err, 400, "CodeStorageExceededException", "layer %s: at most %d versions", name,
                   STORE_VERSIONS_MAX);
        goto out;
    }
    l->versions = grown;
    store_layer_version *lv = &l->versions[l->n_versions];
    lv->doc = layer_doc(s, l, l->n_versions + 1, region, req, &code, &lv->arn);
    lv->zip = code.zip;
    lv->len = code.len;
    code.zip = NULL;
    l->n_versions++;
    json_object_deep_copy(lv->doc, answer, NULL);
    rc = 0;
out:
    pthread_mutex_unlock(&s->lock);
    free(code.zip);
    return rc;
}

int store_get_layer_version(lambda_store *s, const char *name, unsigned long version,
                            json_object **answer, store_error *err)
{
    *answer = NULL;
    pthread_mutex_lock(&s->lock);
    store_layer *l = layer_find(s, name);
    int rc = l != NULL && version >= 1 && version <= l->n_versions
                 ? json_object_deep_copy(l->versions[version - 1].doc, answer, NULL)
                 : store_fail(err, 404, "ResourceNotFoundException",
                              "The resource you requested does not exist. (layer %s version %lu)",
                              name, version);
    pthread_mutex_unlock(&s->lock);
    return rc;
}

/* ---- aliases ---------------------------------------------------------------------------- */

static json_object *alias_doc(const store_function *f, const store_alias *a)
{
    json_object *o = json_object_new_object();
    const char *arn = json_object_get_string(json_object_object_get(
        json_object_object_get(f->latest->doc, "Configuration"), "FunctionArn"));
    char alias_arn[512];
    snprintf(alias_arn, sizeof alias_arn, "%s:%s", arn != NULL ? arn : "", a->name);
    set_str(o, "AliasArn", alias_arn);
    set_str(o, "Name", a->name);
    set_str(o, "FunctionVersion", a->version);
    set_str(o, "Description", a->description);
    set_str(o, "RevisionId", a->revision);
    return o;
}

/* Name: [A-Za-z0-9_-]{1,128}, not all digits (those are versions). */
static bool alias_name_ok(const char *name)
{
    size_t n = strlen(name), digits = 0;
    if (n == 0 || n > 128)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        digits += c >= '0' && c <= '9';
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_'))
            return false;
    }
    return digits < n;
}

/* FunctionVersion, Description and RoutingConfig of REQ onto A (lock held). */
static int alias_settings(store_function *f, json_object *req, store_alias *a, store_error *err)
{
    const char *version = NULL, *description = NULL;
    json_object *routing = NULL, *weights = NULL;
    if (string_member(req, "FunctionVersion", &version, err) != 0 ||
        string_member(req, "Description", &description, err) != 0)
        return -1;
    if (json_object_object_get_ex(req, "RoutingConfig", &routing) &&
        json_object_object_get_ex(routing, "AdditionalVersionWeights", &weights) &&
        json_object_is_type(weights, json_type_object) && json_object_object_length(weights) > 0)
        return invalid(err, "RoutingConfig: weighted aliases are not supported by serve");
    if (version != NULL) {
        char *end = NULL;
        unsigned long v = strtoul(version, &end, 10);
        bool latest = strcmp(version, "$LATEST") == 0;
        if (!latest && (*end != '\0' || end == version || v == 0 || v > f->n_versions ||
                        f->versions[v - 1] == NULL))
            return store_fail(err, 404, "ResourceNotFoundException",
                              "Function not found: %s:%s (FunctionVersion of the alias)", f->name,
                              version);
        snprintf(a->version, sizeof a->version, "%s", version);
    }
    if (description != NULL) {
        if (strlen(description) > 256)
            return invalid(err, "Description: at most 256 characters");
        snprintf(a->description, sizeof a->description, "%s", description);
    }
    revision_id(a->revision);
    return 0;
}

static int alias_create(store_function *f, json_object *req, json_object **answer, store_error *err)
{
    const char *name = NULL;
    if (string_member(req, "Name", &name, err) != 0)
        return -1;
    if (name == NULL || !alias_name_ok(name))
        return invalid(err, "Name: [A-Za-z0-9_-], 1 to 128 characters, not only digits");
    if (!json_object_object_get_ex(req, "FunctionVersion", NULL))
        return invalid(err, "FunctionVersion: required");
    if (alias_find(f, name) != NULL)
        return store_fail(err, 409, "ResourceConflictException", "Alias already exists: %s:%s",
                          f->name, name);
    if (f->n_aliases >= STORE_ALIASES_MAX)
        return store_fail(err, 400, "InvalidParameterValueException", "%s: at most %d aliases",
                          f->name, STORE_ALIASES_MAX);
    store_alias a = {0};
    snprintf(a.name, sizeof a.name, "%s", name);
    if (alias_settings(f, req, &a, err) != 0)
        return -1;
    store_alias *grown = realloc(f->aliases, (f->n_aliases + 1) * sizeof *grown);
    if (grown == NULL)
        return no_memory(err);
    f->aliases = grown;
    f->aliases[f->n_aliases++] = a;
    *answer = alias_doc(f, &a);
    return 0;
}

static int alias_list(store_function *f, json_object **answer)
{
    json_object *list = json_object_new_array();
    for (size_t i = 0; i < f->n_aliases; i++)
        json_object_array_add(list, alias_doc(f, &f->aliases[i]));
    *answer = json_object_new_object();
    json_object_object_add(*answer, "Aliases", list);
    return 0;
}

/* GetAlias, UpdateAlias (RevisionId checked), DeleteAlias of alias NAME. */
static int alias_one(store_function *f, const char *name, int op, json_object *req,
                     json_object **answer, store_error *err)
{
    store_alias *a = alias_find(f, name);
    if (a == NULL)
        return store_fail(err, 404, "ResourceNotFoundException", "Alias not found: %s:%s", f->name,
                          name);
    if (op == STORE_ALIAS_GET) {
        *answer = alias_doc(f, a);
        return 0;
    }
    if (op == STORE_ALIAS_DELETE) {
        *a = f->aliases[--f->n_aliases];
        return 0;
    }
    const char *revision = NULL;
    if (string_member(req, "RevisionId", &revision, err) != 0)
        return -1;
    if (revision != NULL && strcmp(revision, a->revision) != 0)
        return store_fail(err, 412, "PreconditionFailedException",
                          "The Revision Id provided does not match the latest Revision Id.");
    store_alias updated = *a;
    if (alias_settings(f, req, &updated, err) != 0)
        return -1;
    *a = updated;
    *answer = alias_doc(f, a);
    return 0;
}

int store_alias_op(lambda_store *s, const char *function, const char *name, int op,
                   json_object *req, json_object **answer, store_error *err)
{
    *answer = NULL;
    store_function *f;
    store_deploy *d;
    if ((op == STORE_ALIAS_CREATE || op == STORE_ALIAS_UPDATE) &&
        (req == NULL || !json_object_is_type(req, json_type_object)))
        return invalid(err, "the request body must be a JSON object");
    pthread_mutex_lock(&s->lock);
    int rc = resolve(s, function, NULL, &f, &d, err);
    if (rc == 0 && op == STORE_ALIAS_CREATE)
        rc = alias_create(f, req, answer, err);
    else if (rc == 0 && op == STORE_ALIAS_LIST)
        rc = alias_list(f, answer);
    else if (rc == 0)
        rc = alias_one(f, name, op, req, answer, err);
    pthread_mutex_unlock(&s->lock);
    return rc;
}
