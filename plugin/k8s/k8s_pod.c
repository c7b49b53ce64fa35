/*
 * k8s_pod: Pod and Secret construction.
 *
 * The init container's script is a constant: every value that comes from a
 * user (function name, deploy id, account, URL) reaches it only through the
 * environment, URL-escaped where it lands in a URL, so no function name can
 * inject shell. The token comes from a Secret via secretKeyRef and never
 * appears in the Pod spec or the script.
 */
#include "k8s_pod.h"
#include "lease.h"

#include "abi_struct.h"
#include "k8s_overlay.h"
#include "k8s_tags.h"
#include "lambda_env.h"
#include "names.h"
#include "runtime.h"
#include "svc.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define K8S_INIT_CODE_FILE   "/var/task/.fakecloud-code.zip"
#define K8S_INIT_LAYERS_FILE "/opt/.fakecloud-layers.tar"
#define K8S_INIT_WGET \
    "wget -q -T 30 --header \"Authorization: Bearer ${FAKECLOUD_INTERNAL_TOKEN}\" -O "
/* Static script parts; see docs/k8s.md "The Pod". */
static const char k8s_init_code_lines[] =
    K8S_INIT_WGET K8S_INIT_CODE_FILE " \"${FAKECLOUD_SELF_URL}/_fakecloud/lambda/_internal/code/"
                                     "${FAKECLOUD_ACCOUNT_ID}/${FAKECLOUD_FUNCTION}/"
                                     "${FAKECLOUD_DEPLOY_ID}.zip\"\n"
                                     "unzip -q -o " K8S_INIT_CODE_FILE " -d /var/task\n"
                                     "rm -f " K8S_INIT_CODE_FILE "\n";
static const char k8s_init_layer_lines[] = K8S_INIT_WGET K8S_INIT_LAYERS_FILE
    " \"${FAKECLOUD_SELF_URL}/_fakecloud/lambda/_internal/"
    "layers/${FAKECLOUD_ACCOUNT_ID}/${FAKECLOUD_FUNCTION}/"
    "${FAKECLOUD_DEPLOY_ID}.tar\"\n"
    "if [ -s " K8S_INIT_LAYERS_FILE " ]; then tar -xf " K8S_INIT_LAYERS_FILE " -C /opt; fi\n"
    "rm -f " K8S_INIT_LAYERS_FILE "\n";

static uint64_t pod_fnv1a(uint64_t h, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)(s != NULL ? s : ""); *p != '\0'; p++) {
        h ^= *p;
        h *= 0x100000001b3ull;
    }
    h ^= 0xff; /* separator, so ("ab","c") != ("a","bc") */
    h *= 0x100000001b3ull;
    return h;
}

void k8s_pod_name(const char *function_name, const char *deploy_id, const char *nonce,
                  char out[K8S_POD_NAME_MAX])
{
    /* 17 (prefix) + fn + 1 + 12 (hash) <= 63 */
    char fn[64];
    uint64_t h = 0xcbf29ce484222325ull;
    h = pod_fnv1a(h, function_name);
    h = pod_fnv1a(h, deploy_id);
    h = pod_fnv1a(h, nonce);
    names_dns_label(function_name, 63 - 17 - 1 - 12, fn);
    snprintf(out, K8S_POD_NAME_MAX, K8S_POD_NAME_PREFIX "%s-%012llx", fn,
             (unsigned long long)(h & 0xffffffffffffull));
}

void k8s_token_secret_name(const char *instance_id, char out[K8S_POD_NAME_MAX])
{
    char id[40];
    names_dns_label(instance_id, 39, id);
    snprintf(out, K8S_POD_NAME_MAX, "fakecloud-lambda-token-%s", id);
}

void k8s_selector_ours(const char *instance_id, char *out, size_t size)
{
    snprintf(out, size, LABEL_MANAGED_BY_SELECTOR "," LABEL_INSTANCE "=%s", instance_id);
}

void k8s_selector_foreign(const char *instance_id, char *out, size_t size)
{
    snprintf(out, size, LABEL_MANAGED_BY_SELECTOR "," LABEL_INSTANCE "!=%s", instance_id);
}

/* ------------------------------------------------------------ helpers */

/* Builder state: json-c allocation failures are collected in `failed`. */
typedef struct pod_builder {
    const fcb_host_services *host;
    bool failed;
} pod_builder;

static json_object *pb_track(pod_builder *b, json_object *o)
{
    if (o == NULL)
        b->failed = true;
    return o;
}

static json_object *pb_obj(pod_builder *b)
{
    return pb_track(b, json_object_new_object());
}

static json_object *pb_arr(pod_builder *b)
{
    return pb_track(b, json_object_new_array());
}

static json_object *pb_str(pod_builder *b, const char *s)
{
    return pb_track(b, json_object_new_string(s));
}

/* Add VAL under KEY; a NULL val (failed allocation) marks the builder. */
static void pb_add(pod_builder *b, json_object *obj, const char *key, json_object *val)
{
    if (obj == NULL || val == NULL) {
        b->failed = true;
        json_object_put(val);
        return;
    }
    if (json_object_object_add(obj, key, val) != 0) {
        b->failed = true;
        json_object_put(val);
    }
}

static void pb_push(pod_builder *b, json_object *arr, json_object *val)
{
    if (arr == NULL || val == NULL) {
        b->failed = true;
        json_object_put(val);
        return;
    }
    if (json_object_array_add(arr, val) != 0) {
        b->failed = true;
        json_object_put(val);
    }
}

static void pb_add_str(pod_builder *b, json_object *obj, const char *key, const char *s)
{
    pb_add(b, obj, key, pb_str(b, s));
}

static json_object *pb_copy(pod_builder *b, json_object *src)
{
    json_object *copy = NULL;
    if (json_object_deep_copy(src, &copy, NULL) != 0)
        copy = NULL;
    return pb_track(b, copy);
}

static void pb_env(pod_builder *b, json_object *list, const char *name, const char *value)
{
    json_object *e = pb_obj(b);
    pb_add_str(b, e, "name", name);
    pb_add_str(b, e, "value", value);
    pb_push(b, list, e);
}

static void pb_mount(pod_builder *b, json_object *list, const char *volume, const char *path)
{
    json_object *m = pb_obj(b);
    pb_add_str(b, m, "name", volume);
    pb_add_str(b, m, "mountPath", path);
    pb_push(b, list, m);
}

/* Strict UTF-8 check (no overlongs, no surrogates); JSON and the API need it. */
static bool pod_is_utf8(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p != '\0') {
        size_t n;
        uint32_t cp;
        if (*p < 0x80) {
            p++;
            continue;
        } else if ((*p & 0xe0) == 0xc0) {
            n = 1;
            cp = *p & 0x1f;
        } else if ((*p & 0xf0) == 0xe0) {
            n = 2;
            cp = *p & 0x0f;
        } else if ((*p & 0xf8) == 0xf0) {
            n = 3;
            cp = *p & 0x07;
        } else {
            return false;
        }
        for (size_t i = 1; i <= n; i++) {
            if ((p[i] & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (p[i] & 0x3f);
        }
        if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
            cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        p += n + 1;
    }
    return true;
}

/* Percent-encode everything outside RFC 3986 unreserved characters. */
char *k8s_url_escape(const fcb_host_services *host, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t len = strlen(s);
    char *out = svc_alloc(host, len * 3 + 1);
    size_t o = 0;
    if (out == NULL)
        return NULL;
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
        unsigned char c = *p;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '~') {
            out[o++] = (char)c;
        } else {
            out[o++] = '%';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        }
    }
    out[o] = '\0';
    return out;
}

/* ------------------------------------------------------------ validation */

static int pod_validate(const fcb_launch_request *req, bool *need_token, fcb_error *err)
{
    const fcb_function *fn = req->function;

    if (fn == NULL)
        return err_set(err, FCB_ERR_INVALID_ARGUMENT, "launch request has no function");
    if (fn->function_name == NULL || fn->function_name[0] == '\0')
        return err_set(err, FCB_ERR_INVALID_ARGUMENT, "FunctionName is required");
    if (strlen(fn->function_name) > 256 || !pod_is_utf8(fn->function_name))
        return err_set(err, FCB_ERR_INVALID_ARGUMENT,
                       "FunctionName must be valid UTF-8 of at most 256 bytes");
    for (const char *p = fn->function_name; *p != '\0'; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            return err_set(err, FCB_ERR_INVALID_ARGUMENT,
                           "FunctionName has a control character at byte %zu (it names the "
                           "runtime's log group)",
                           (size_t)(p - fn->function_name));
    if (fn->function_arn != NULL && !pod_is_utf8(fn->function_arn))
        return err_set(err, FCB_ERR_INVALID_ARGUMENT, "FunctionArn is not valid UTF-8");
    if (req->deploy_id == NULL || req->deploy_id[0] == '\0')
        return err_set(err, FCB_ERR_INVALID_ARGUMENT, "deploy_id is required");
    if (strlen(req->deploy_id) > 128 || !pod_is_utf8(req->deploy_id))
        return err_set(err, FCB_ERR_INVALID_ARGUMENT,
                       "deploy_id must be valid UTF-8 of at most 128 bytes");
    if (fn->package_type == FCB_PACKAGE_ZIP) {
        if (fn->handler == NULL || fn->handler[0] == '\0')
            return err_set(err, FCB_ERR_INVALID_ARGUMENT, "Handler is required for Zip functions");
        if (strlen(fn->handler) > 4096 || !pod_is_utf8(fn->handler))
            return err_set(err, FCB_ERR_INVALID_ARGUMENT,
                           "Handler must be valid UTF-8 of at most 4096 bytes");
    }
    if (req->n_layers > 0 && req->layers == NULL)
        return err_set(err, FCB_ERR_INVALID_ARGUMENT, "layers is NULL but n_layers is %zu",
                       req->n_layers);
    if (fn->n_environment > 0 && fn->environment == NULL)
        return err_set(err, FCB_ERR_INVALID_ARGUMENT,
                       "Environment is NULL but n_environment is %zu", fn->n_environment);
    for (size_t i = 0; i < fn->n_environment; i++) {
        const fcb_env_var *v = &fn->environment[i];
        if (!names_is_env_name(v->name))
            return err_set(err, FCB_ERR_INVALID_ARGUMENT,
                           "Environment variable name '%.100s' is invalid: must match "
                           "[-._a-zA-Z][-._a-zA-Z0-9]*",
                           v->name != NULL ? v->name : "(null)");
        if (v->value == NULL || !pod_is_utf8(v->value))
            return err_set(err, FCB_ERR_INVALID_ARGUMENT,
                           "Environment variable %s: value is missing or not valid UTF-8", v->name);
        for (size_t j = 0; j < i; j++) {
            if (strcmp(fn->environment[j].name, v->name) == 0)
                return err_set(err, FCB_ERR_INVALID_ARGUMENT,
                               "Environment variable %s is set twice", v->name);
        }
    }
    for (size_t i = 0; i < fn->n_image_command; i++) {
        if (fn->image_command[i] == NULL || !pod_is_utf8(fn->image_command[i]))
            return err_set(err, FCB_ERR_INVALID_ARGUMENT,
                           "ImageConfig.Command[%zu] is missing or not valid UTF-8", i);
    }
    for (size_t i = 0; i < fn->n_image_entry_point; i++) {
        if (fn->image_entry_point[i] == NULL || !pod_is_utf8(fn->image_entry_point[i]))
            return err_set(err, FCB_ERR_INVALID_ARGUMENT,
                           "ImageConfig.EntryPoint[%zu] is missing or not valid UTF-8", i);
    }
    if (fn->image_working_directory != NULL && fn->image_working_directory[0] != '\0' &&
        (fn->image_working_directory[0] != '/' || !pod_is_utf8(fn->image_working_directory)))
        return err_set(err, FCB_ERR_INVALID_ARGUMENT,
                       "ImageConfig.WorkingDirectory must be an absolute path");
    *need_token = fn->package_type == FCB_PACKAGE_ZIP || req->n_layers > 0;
    return FCB_OK;
}

/* ------------------------------------------------------------ the Pod */

static json_object *pod_init_container(pod_builder *b, const k8s_pod_input *in, const char *account,
                                       const char *fn_escaped, const char *deploy_escaped,
                                       bool code, bool layers)
{
    const k8s_config *cfg = in->config;
    json_object *c = pb_obj(b);
    sbuf script;

    sbuf_init(&script, b->host, 0);
    sbuf_puts(&script, "set -e\n");
    if (code)
        sbuf_puts(&script, k8s_init_code_lines);
    if (layers)
        sbuf_puts(&script, k8s_init_layer_lines);
    char *text = sbuf_steal(&script, NULL);
    if (text == NULL) {
        b->failed = true;
        sbuf_free(&script);
        return c;
    }

    pb_add_str(b, c, "name", K8S_CONTAINER_INIT);
    pb_add_str(b, c, "image", cfg->init_image);
    if (cfg->pull_policy != NULL)
        pb_add_str(b, c, "imagePullPolicy", cfg->pull_policy);
    json_object *cmd = pb_arr(b);
    pb_push(b, cmd, pb_str(b, "sh"));
    pb_push(b, cmd, pb_str(b, "-c"));
    pb_push(b, cmd, pb_str(b, text));
    pb_add(b, c, "command", cmd);
    svc_free(b->host, text);

    json_object *env = pb_arr(b);
    json_object *tok = pb_obj(b);
    json_object *from = pb_obj(b);
    json_object *ref = pb_obj(b);
    pb_add_str(b, ref, "name", in->token_secret);
    pb_add_str(b, ref, "key", K8S_SECRET_TOKEN_KEY);
    pb_add(b, from, "secretKeyRef", ref);
    pb_add_str(b, tok, "name", "FAKECLOUD_INTERNAL_TOKEN");
    pb_add(b, tok, "valueFrom", from);
    pb_push(b, env, tok);
    pb_env(b, env, "FAKECLOUD_SELF_URL", cfg->self_url);
    pb_env(b, env, "FAKECLOUD_ACCOUNT_ID", account);
    pb_env(b, env, "FAKECLOUD_FUNCTION", fn_escaped);
    pb_env(b, env, "FAKECLOUD_DEPLOY_ID", deploy_escaped);
    pb_add(b, c, "env", env);

    /* Only what the script writes: an Image Pod declares no /var/task volume,
     * and the API server refuses a mount of an undeclared volume (422). */
    json_object *mounts = pb_arr(b);
    if (code)
        pb_mount(b, mounts, K8S_VOLUME_TASK, "/var/task");
    if (layers)
        pb_mount(b, mounts, K8S_VOLUME_OPT, "/opt");
    pb_add(b, c, "volumeMounts", mounts);
    return c;
}

static json_object *pod_string_list(pod_builder *b, const char *const *items, size_t n)
{
    json_object *arr = pb_arr(b);
    for (size_t i = 0; i < n; i++)
        pb_push(b, arr, pb_str(b, items[i]));
    return arr;
}

/* True when ENV reserves NAME: the function's value is dropped, with a warning (never a value). */
static bool pod_env_reserved(pod_builder *b, const lambda_env *env, const char *name)
{
    for (size_t i = 0; i < env->n; i++) {
        if (env->vars[i].reserved && strcmp(env->vars[i].name, name) == 0) {
            svc_log(b->host, FCB_LOG_WARN, "k8s",
                    "environment variable is reserved by the platform; the function's value "
                    "is ignored",
                    "variable", name, NULL);
            return true;
        }
    }
    return false;
}

static bool pod_function_sets(const fcb_function *fn, const char *name)
{
    for (size_t j = 0; j < fn->n_environment; j++)
        if (strcmp(fn->environment[j].name, name) == 0)
            return true;
    return false;
}

/* {"name": NAME, "valueFrom": {"secretKeyRef": {"name": SECRET, "key": NAME}}} */
static void pb_env_secret(pod_builder *b, json_object *list, const char *name, const char *secret)
{
    json_object *e = pb_obj(b);
    json_object *from = pb_obj(b);
    json_object *ref = pb_obj(b);
    pb_add_str(b, ref, "name", secret);
    pb_add_str(b, ref, "key", name);
    pb_add(b, from, "secretKeyRef", ref);
    pb_add_str(b, e, "name", name);
    pb_add(b, e, "valueFrom", from);
    pb_push(b, list, e);
}

/*
 * The runtime's environment: the function's variables (localhost URLs
 * rewritten; reserved names dropped), then LAMBDA's: reserved ones always,
 * the others unless the function set them; secret ones by secretKeyRef.
 */
static json_object *pod_main_env(pod_builder *b, const k8s_pod_input *in, const lambda_env *lenv)
{
    const fcb_function *fn = in->request->function;
    json_object *env = pb_arr(b);
    for (size_t i = 0; i < fn->n_environment && !b->failed; i++) {
        const fcb_env_var *v = &fn->environment[i];
        if (pod_env_reserved(b, lenv, v->name))
            continue;
        char *value = runtime_rewrite_localhost(b->host, v->value, in->config->self_host);
        if (value == NULL) {
            b->failed = true;
            break;
        }
        pb_env(b, env, v->name, value);
        svc_free(b->host, value);
    }
    for (size_t i = 0; i < lenv->n; i++) {
        const lambda_env_var *v = &lenv->vars[i];
        if (!v->reserved && pod_function_sets(fn, v->name))
            continue;
        if (v->secret)
            pb_env_secret(b, env, v->name, in->credentials_secret);
        else
            pb_env(b, env, v->name, v->value);
    }
    return env;
}

static json_object *pod_main_container(pod_builder *b, const k8s_pod_input *in, const char *image,
                                       const lambda_env *env)
{
    const k8s_config *cfg = in->config;
    const fcb_function *fn = in->request->function;
    json_object *c = pb_obj(b);
    char buf[64];

    pb_add_str(b, c, "name", K8S_CONTAINER_MAIN);
    pb_add_str(b, c, "image", image);
    if (cfg->pull_policy != NULL)
        pb_add_str(b, c, "imagePullPolicy", cfg->pull_policy);
    if (fn->package_type == FCB_PACKAGE_ZIP) {
        const char *handler[] = {fn->handler};
        pb_add(b, c, "args", pod_string_list(b, handler, 1));
    } else {
        if (fn->n_image_entry_point > 0)
            pb_add(b, c, "command",
                   pod_string_list(b, fn->image_entry_point, fn->n_image_entry_point));
        if (fn->n_image_command > 0)
            pb_add(b, c, "args", pod_string_list(b, fn->image_command, fn->n_image_command));
        if (fn->image_working_directory != NULL && fn->image_working_directory[0] != '\0')
            pb_add_str(b, c, "workingDir", fn->image_working_directory);
    }

    pb_add(b, c, "env", pod_main_env(b, in, env));
    unsigned memory = fn->memory_mb == 0 ? 128 : fn->memory_mb;

    json_object *ports = pb_arr(b);
    json_object *port = pb_obj(b);
    pb_add_str(b, port, "name", "rie");
    pb_add(b, port, "containerPort", pb_track(b, json_object_new_int(K8S_RIE_PORT)));
    pb_add_str(b, port, "protocol", "TCP");
    pb_push(b, ports, port);
    pb_add(b, c, "ports", ports);

    unsigned mem_quantity = memory < 128 ? 128 : memory;
    json_object *resources = pb_obj(b);
    json_object *requests = pb_obj(b);
    json_object *limits = pb_obj(b);
    snprintf(buf, sizeof buf, "%uMi", mem_quantity);
    pb_add_str(b, requests, "memory", buf);
    pb_add_str(b, limits, "memory", buf);
    char cpu[32];
    if (k8s_cpu_quantity(&cfg->cpu_request, mem_quantity, cpu))
        pb_add_str(b, requests, "cpu", cpu);
    if (k8s_cpu_quantity(&cfg->cpu_limit, mem_quantity, cpu))
        pb_add_str(b, limits, "cpu", cpu);
    pb_add(b, resources, "requests", requests);
    pb_add(b, resources, "limits", limits);
    pb_add(b, c, "resources", resources);

    json_object *mounts = pb_arr(b);
    if (fn->package_type == FCB_PACKAGE_ZIP) {
        pb_mount(b, mounts, K8S_VOLUME_TASK, "/var/task");
        pb_mount(b, mounts, K8S_VOLUME_OPT, "/opt");
    } else if (in->request->n_layers > 0) {
        pb_mount(b, mounts, K8S_VOLUME_OPT, "/opt");
    }
    pb_mount(b, mounts, K8S_VOLUME_TMP, "/tmp");
    pb_add(b, c, "volumeMounts", mounts);
    return c;
}

static json_object *pod_volume(pod_builder *b, const char *name, const char *medium,
                               const char *size_limit)
{
    json_object *v = pb_obj(b);
    json_object *empty = pb_obj(b);
    pb_add_str(b, v, "name", name);
    if (medium != NULL)
        pb_add_str(b, empty, "medium", medium);
    if (size_limit != NULL)
        pb_add_str(b, empty, "sizeLimit", size_limit);
    pb_add(b, v, "emptyDir", empty);
    return v;
}

/*
 * A core/v1 object of KIND named NAME in NS, with the three ownership labels
 * (managed-by, instance, service) that reap_stale selects on. *meta_out (may
 * be NULL) gets its metadata, to add more to it.
 */
static json_object *pb_owned_object(pod_builder *b, const char *kind, const char *name,
                                    const char *ns, const char *instance_id, json_object **meta_out)
{
    json_object *obj = pb_obj(b);
    pb_add_str(b, obj, "apiVersion", "v1");
    pb_add_str(b, obj, "kind", kind);
    json_object *meta = pb_obj(b);
    pb_add_str(b, meta, "name", name);
    pb_add_str(b, meta, "namespace", ns);
    json_object *labels = pb_obj(b);
    pb_add_str(b, labels, LABEL_MANAGED_BY, LABEL_MANAGED_BY_VALUE);
    pb_add_str(b, labels, LABEL_INSTANCE, instance_id);
    pb_add_str(b, labels, LABEL_SERVICE, LABEL_SERVICE_VALUE);
    pb_add(b, meta, "labels", labels);
    pb_add(b, obj, "metadata", meta);
    if (meta_out != NULL)
        *meta_out = meta;
    return obj;
}

/* ------------------------------------------------------------ placement */

/* Log the tag and merge warnings of function FN (NULL: the service level) through the host. */
static void pod_extras_warn(const fcb_host_services *host, const char *fn,
                            const k8s_tags_warnings *w)
{
    for (size_t i = 0; i < w->n; i++)
        svc_log(host, FCB_LOG_WARN, "k8s", "Pod placement setting ignored or overridden",
                "function", fn != NULL ? fn : "(prepull)", "problem", w->message[i], NULL);
    if (w->dropped > 0) {
        char n[32];
        snprintf(n, sizeof n, "%zu", w->dropped);
        svc_log(host, FCB_LOG_WARN, "k8s", "more Pod placement warnings not shown", "function",
                fn != NULL ? fn : "(prepull)", "count", n, NULL);
    }
}

/*
 * Node selector, tolerations and annotations of every level into *out,
 * lowest first: the global keys, the service level (FAKECLOUD_LAMBDA_K8S_*),
 * then FN's tags (since ABI 1.1, read by size) and architecture (which wins
 * kubernetes.io/arch). FN NULL (prepull): the first two. Malformed tags are
 * warnings (logged), never errors; FCB_ERR_INVALID_ARGUMENT for an unknown
 * architecture; FCB_ERR_NO_MEMORY. *out owned (k8s_pod_extras_clear).
 */
static int pod_extras(const fcb_host_services *host, const k8s_config *cfg, const fcb_function *fn,
                      k8s_pod_extras *out, fcb_error *err)
{
    const k8s_pod_extras global = {cfg->node_selector, cfg->tolerations, cfg->annotations};
    k8s_pod_extras lower = {0}, own = {0};
    k8s_tags_warnings warn = {0};
    bool tags = fn != NULL && FCB_HAS_MEMBER(fn, fcb_function, n_tags);

    memset(out, 0, sizeof *out);
    int rc = k8s_pod_extras_merge(&global, &cfg->service, &lower, &warn, err);
    if (rc == FCB_OK && fn != NULL)
        rc = k8s_tags_from_function(tags ? fn->tags : NULL, tags ? fn->n_tags : 0, fn->architecture,
                                    &own, &warn, err);
    if (rc == FCB_OK)
        rc = k8s_pod_extras_merge(&lower, &own, out, &warn, err);
    if (rc == FCB_OK)
        pod_extras_warn(host, fn != NULL ? fn->function_name : NULL, &warn);
    k8s_pod_extras_clear(&lower);
    k8s_pod_extras_clear(&own);
    return rc;
}

/* Where a Pod may run and how it pulls: pull secret, EXTRAS' node selector and tolerations. */
static void pod_pull_and_placement(pod_builder *b, json_object *spec, const k8s_config *cfg,
                                   const k8s_pod_extras *extras)
{
    if (cfg->pull_secret != NULL) {
        json_object *secrets = pb_arr(b);
        json_object *ref = pb_obj(b);
        pb_add_str(b, ref, "name", cfg->pull_secret);
        pb_push(b, secrets, ref);
        pb_add(b, spec, "imagePullSecrets", secrets);
    }
    if (extras->node_selector != NULL)
        pb_add(b, spec, "nodeSelector", pb_copy(b, extras->node_selector));
    if (extras->tolerations != NULL)
        pb_add(b, spec, "tolerations", pb_copy(b, extras->tolerations));
}

static json_object *pod_labels(pod_builder *b, const k8s_pod_input *in)
{
    const fcb_function *fn = in->request->function;
    json_object *labels = in->config->labels != NULL ? pb_copy(b, in->config->labels) : pb_obj(b);
    char value[64];

    pb_add_str(b, labels, LABEL_MANAGED_BY, LABEL_MANAGED_BY_VALUE);
    pb_add_str(b, labels, LABEL_INSTANCE, in->instance_id);
    pb_add_str(b, labels, LABEL_SERVICE, LABEL_SERVICE_VALUE);
    names_label_value(fn->function_name, 63, value);
    pb_add_str(b, labels, LABEL_LAMBDA, value);
    names_label_value(in->request->deploy_id, 40, value);
    pb_add_str(b, labels, LABEL_DEPLOY_ID, value);
    return labels;
}

/* Every level's annotations, then ours (which always win). */
static json_object *pod_annotations(pod_builder *b, const k8s_pod_input *in,
                                    const k8s_pod_extras *extras)
{
    json_object *ann = extras->annotations != NULL ? pb_copy(b, extras->annotations) : pb_obj(b);
    pb_add_str(b, ann, K8S_ANNOTATION_NONCE, in->nonce);
    pb_add_str(b, ann, K8S_ANNOTATION_FUNCTION, in->request->function->function_name);
    return ann;
}

static int pod_image(const k8s_pod_input *in, char image[RUNTIME_IMAGE_MAX], fcb_error *err)
{
    const k8s_config *cfg = in->config;
    int rc =
        runtime_function_image(in->request->function, cfg->ecr_host, cfg->ecr_port, image, err);
    if (rc != FCB_OK)
        return rc;
    size_t plen = strlen(K8S_RUNTIME_IMAGE_PREFIX);
    if (in->request->function->package_type == FCB_PACKAGE_ZIP && cfg->image_prefix != NULL &&
        strncmp(image, K8S_RUNTIME_IMAGE_PREFIX, plen) == 0) {
        char mirrored[RUNTIME_IMAGE_MAX];
        int n = snprintf(mirrored, sizeof mirrored, "%s%s", cfg->image_prefix, image + plen);
        if (n < 0 || (size_t)n >= sizeof mirrored)
            return err_set(err, FCB_ERR_INVALID_ARGUMENT,
                           "runtime image with FAKECLOUD_K8S_RUNTIME_IMAGE_PREFIX is too long");
        memcpy(image, mirrored, (size_t)n + 1);
    }
    return FCB_OK;
}

/* The request is launchable here: valid, with the token it needs; IMAGE is the runtime's. */
static int pod_check_request(const k8s_pod_input *in, char image[RUNTIME_IMAGE_MAX], fcb_error *err)
{
    const fcb_launch_request *req = in->request;
    bool need_token = false;

    if (req == NULL)
        return err_set(err, FCB_ERR_INVALID_ARGUMENT, "launch request is NULL");
    int rc = pod_validate(req, &need_token, err);
    if (rc != FCB_OK)
        return rc;
    const fcb_function *fn = req->function;
    if (fn->architecture != NULL && fn->architecture[0] != '\0' &&
        k8s_arch_label(fn->architecture) == NULL)
        return err_set(err, FCB_ERR_INVALID_ARGUMENT,
                       "function %s: Architectures [\"%.64s\"] is not supported (use arm64 or "
                       "x86_64)",
                       fn->function_name, fn->architecture);
    if (need_token && in->token_secret == NULL)
        return err_set(err, FCB_ERR_INVALID_ARGUMENT,
                       "function %s: launching a %s needs the host's internal token "
                       "(fcb_open_params.internal_token was NULL at open) so the init container "
                       "can fetch code from the artifact server",
                       fn->function_name,
                       fn->package_type == FCB_PACKAGE_ZIP ? "Zip function"
                                                           : "function with layers");
    return pod_image(in, image, err);
}

static json_object *pod_metadata(pod_builder *b, const k8s_pod_input *in,
                                 const k8s_pod_extras *extras)
{
    json_object *meta = pb_obj(b);
    pb_add_str(b, meta, "name", in->pod_name);
    pb_add_str(b, meta, "namespace", in->namespace_name);
    pb_add(b, meta, "labels", pod_labels(b, in));
    pb_add(b, meta, "annotations", pod_annotations(b, in, extras));
    return meta;
}

/* The code and layer volumes the init container fills, and /tmp sized like Lambda's. */
static json_object *pod_volumes(pod_builder *b, const k8s_pod_input *in, bool code, bool layers)
{
    const fcb_function *fn = in->request->function;
    unsigned storage = fn->ephemeral_storage_mb == 0 ? 512 : fn->ephemeral_storage_mb;
    if (storage < 64)
        storage = 64;
    char tmp_size[32];
    snprintf(tmp_size, sizeof tmp_size, "%uMi", storage);
    json_object *volumes = pb_arr(b);
    if (code)
        pb_push(b, volumes, pod_volume(b, K8S_VOLUME_TASK, NULL, NULL));
    if (code || layers)
        pb_push(b, volumes, pod_volume(b, K8S_VOLUME_OPT, NULL, NULL));
    pb_push(b, volumes, pod_volume(b, K8S_VOLUME_TMP, "Memory", tmp_size));
    return volumes;
}

/* ------------------------------------------------------------ credentials */

#define POD_KEY_ID_MAX 128 /* AWS's bound of an access key id */

static bool pod_present(const char *s)
{
    return s != NULL && s[0] != '\0';
}

/* One credential: at most MAX bytes of printable ASCII without spaces (never shown). */
static int pod_credential_text(const char *field, const char *v, size_t max, fcb_error *err)
{
    size_t n = strnlen(v, max + 1);
    if (n > max)
        return err_set(err, FCB_ERR_INVALID_ARGUMENT, "credentials.%s: longer than %zu bytes",
                       field, max);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)v[i];
        if (c <= 0x20 || c >= 0x7f)
            return err_set(err, FCB_ERR_INVALID_ARGUMENT,
                           "credentials.%s: byte %zu is not printable ASCII (whitespace, a control "
                           "character or non-ASCII; the value is not shown)",
                           field, i);
    }
    return FCB_OK;
}

static int pod_credentials_expiry(int64_t expiry, int64_t now, fcb_error *err)
{
    if (expiry < 0)
        return err_set(err, FCB_ERR_INVALID_ARGUMENT,
                       "credentials.expiration_unix_s: %lld is negative (0 = no expiry)",
                       (long long)expiry);
    if (expiry == 0 || expiry > now)
        return FCB_OK;
    char when[32] = "?";
    struct tm tm;
    time_t t = (time_t)expiry;
    if (gmtime_r(&t, &tm) != NULL)
        strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return err_set(err, FCB_ERR_INVALID_ARGUMENT,
                   "credentials.expiration_unix_s: expired at %s, %lld s before the launch (the "
                   "runtime would fail every AWS call)",
                   when, (long long)(now - expiry));
}

/*
 * The request's credentials (since ABI 1.1: read by size into *copy), checked;
 * *out = copy, or NULL when the request carries none. An empty session
 * token counts as none.
 */
static int pod_credentials(const k8s_pod_input *in, fcb_credentials *copy,
                           const fcb_credentials **out, fcb_error *err)
{
    const fcb_launch_request *req = in->request;
    const fcb_credentials *c =
        FCB_HAS_MEMBER(req, fcb_launch_request, credentials) ? req->credentials : NULL;
    *out = NULL;
    if (c == NULL)
        return FCB_OK;
    int rc = ABI_STRUCT_READ(copy, c, secret_access_key, "launch: request.credentials", err);
    if (rc != FCB_OK)
        return rc;
    if (!pod_present(copy->access_key_id))
        return err_set(err, FCB_ERR_INVALID_ARGUMENT,
                       "credentials.access_key_id: required (the request carries credentials)");
    if (!pod_present(copy->secret_access_key))
        return err_set(err, FCB_ERR_INVALID_ARGUMENT,
                       "credentials.secret_access_key: required with access_key_id");
    if (!pod_present(copy->session_token))
        copy->session_token = NULL;
    rc = pod_credential_text("access_key_id", copy->access_key_id, POD_KEY_ID_MAX, err);
    if (rc == FCB_OK)
        rc = pod_credential_text("secret_access_key", copy->secret_access_key, LAMBDA_ENV_VALUE_MAX,
                                 err);
    if (rc == FCB_OK && copy->session_token != NULL)
        rc = pod_credential_text("session_token", copy->session_token, LAMBDA_ENV_VALUE_MAX, err);
    if (rc == FCB_OK)
        rc = pod_credentials_expiry(copy->expiration_unix_s, in->now_unix_s, err);
    if (rc == FCB_OK && in->credentials_secret == NULL)
        rc =
            err_set(err, FCB_ERR_INTERNAL,
                    "credentials need the launch's Secret name (k8s_pod_input.credentials_secret)");
    if (rc == FCB_OK)
        *out = copy;
    return rc;
}

/* ------------------------------------------------------------ the Pod */

/* What the Pod is built from besides the input, computed and checked before any JSON. */
typedef struct pod_facts {
    char image[RUNTIME_IMAGE_MAX];
    char account[16];
    char *fn_escaped;      /* host-allocated */
    char *deploy_escaped;  /* host-allocated */
    fcb_credentials creds; /* the request's, read by size */
    bool has_creds;
    lambda_env env;        /* the reserved environment (values host-allocated) */
    k8s_pod_extras extras; /* node selector, tolerations, annotations of every level */
} pod_facts;

static void pod_facts_free(const fcb_host_services *host, pod_facts *f)
{
    svc_free(host, f->fn_escaped);
    svc_free(host, f->deploy_escaped);
    lambda_env_free(host, &f->env);
    k8s_pod_extras_clear(&f->extras);
    memset(f, 0, sizeof *f);
}

/* The reserved Lambda environment of this launch (lambda_env.h) into f->env. */
static int pod_env_build(const fcb_host_services *host, const k8s_pod_input *in, pod_facts *f,
                         fcb_error *err)
{
    const fcb_launch_request *req = in->request;
    const fcb_function *fn = req->function;
    char region[RUNTIME_REGION_MAX];
    bool from_arn = runtime_region_from_arn(fn->function_arn, region);
    if (!from_arn)
        snprintf(region, sizeof region, "%s", RUNTIME_DEFAULT_REGION);
    const char *endpoint =
        FCB_HAS_MEMBER(req, fcb_launch_request, aws_endpoint_url) ? req->aws_endpoint_url : NULL;
    char *rewritten = NULL;
    if (pod_present(endpoint) &&
        (rewritten = runtime_rewrite_localhost(host, endpoint, in->config->self_host)) == NULL)
        return err_set(err, FCB_ERR_NO_MEMORY, "out of memory building the environment");
    unsigned memory = fn->memory_mb < 128 ? 128 : fn->memory_mb; /* what the Pod gets */
    const fcb_credentials *c = f->has_creds ? &f->creds : NULL;
    lambda_env_input li = {.function_name = fn->function_name,
                           .version = runtime_function_version(fn),
                           .runtime = fn->package_type == FCB_PACKAGE_ZIP ? fn->runtime : NULL,
                           .handler = fn->handler,
                           .memory_mb = memory,
                           .timeout_s = fn->timeout_seconds == 0 ? 3 : fn->timeout_seconds,
                           .region = region,
                           .region_overridable = !from_arn,
                           .instance_id = in->nonce,
                           .now_unix_s = in->now_unix_s,
                           .endpoint_url = rewritten,
                           .access_key_id = c != NULL ? c->access_key_id : NULL,
                           .secret_access_key = c != NULL ? c->secret_access_key : NULL,
                           .session_token = c != NULL ? c->session_token : NULL};
    int rc = lambda_env_build(host, &li, &f->env, err);
    svc_free(host, rewritten);
    if (rc != FCB_OK)
        err_prefix(err, "function %s", fn->function_name);
    return rc;
}

/* Everything the Pod needs that can fail, before the Pod: checks, image, env, placement. */
static int pod_facts_make(const fcb_host_services *host, const k8s_pod_input *in, pod_facts *f,
                          fcb_error *err)
{
    const fcb_credentials *c = NULL;
    memset(f, 0, sizeof *f);
    int rc = pod_check_request(in, f->image, err);
    if (rc == FCB_OK)
        rc = pod_credentials(in, &f->creds, &c, err);
    f->has_creds = c != NULL;
    if (rc == FCB_OK)
        rc = pod_env_build(host, in, f, err);
    if (rc == FCB_OK)
        rc = pod_extras(host, in->config, in->request->function, &f->extras, err);
    if (rc != FCB_OK)
        return rc;
    const fcb_function *fn = in->request->function;
    names_account_from_arn(fn->function_arn, f->account, sizeof f->account);
    f->fn_escaped = k8s_url_escape(host, fn->function_name);
    f->deploy_escaped = k8s_url_escape(host, in->request->deploy_id);
    if (f->fn_escaped == NULL || f->deploy_escaped == NULL)
        return err_set(err, FCB_ERR_NO_MEMORY, "out of memory building the Pod");
    return FCB_OK;
}

/* The Pod's spec from the facts F. */
static json_object *pod_spec(pod_builder *b, const k8s_pod_input *in, const pod_facts *f)
{
    const k8s_config *cfg = in->config;
    json_object *spec = pb_obj(b);
    pb_add_str(b, spec, "restartPolicy", "Never");
    pb_add(b, spec, "enableServiceLinks", pb_track(b, json_object_new_boolean(0)));
    if (cfg->service_account != NULL)
        pb_add_str(b, spec, "serviceAccountName", cfg->service_account);
    else
        pb_add(b, spec, "automountServiceAccountToken", pb_track(b, json_object_new_boolean(0)));
    pod_pull_and_placement(b, spec, cfg, &f->extras);
    if (cfg->security_context != NULL)
        pb_add(b, spec, "securityContext", pb_copy(b, cfg->security_context));
    if (cfg->priority_class != NULL)
        pb_add_str(b, spec, "priorityClassName", cfg->priority_class);

    bool code = in->request->function->package_type == FCB_PACKAGE_ZIP;
    bool layers = in->request->n_layers > 0;
    pb_add(b, spec, "volumes", pod_volumes(b, in, code, layers));
    if (code || layers) {
        json_object *inits = pb_arr(b);
        pb_push(
            b, inits,
            pod_init_container(b, in, f->account, f->fn_escaped, f->deploy_escaped, code, layers));
        pb_add(b, spec, "initContainers", inits);
    }
    json_object *containers = pb_arr(b);
    pb_push(b, containers, pod_main_container(b, in, f->image, &f->env));
    pb_add(b, spec, "containers", containers);
    return spec;
}

/* The launch's credentials Secret: the secret variables of F's environment. */
static int pod_credentials_secret(const k8s_pod_input *in, const pod_facts *f, json_object **out,
                                  fcb_error *err)
{
    pod_builder b = {.host = NULL, .failed = false};
    json_object *meta = NULL;
    json_object *secret = pb_owned_object(&b, "Secret", in->credentials_secret, in->namespace_name,
                                          in->instance_id, &meta);
    json_object *ann = pb_obj(&b);
    pb_add_str(&b, ann, K8S_ANNOTATION_POD, in->pod_name);
    pb_add(&b, meta, "annotations", ann);
    pb_add_str(&b, secret, "type", "Opaque");
    json_object *data = pb_obj(&b);
    for (size_t i = 0; i < f->env.n; i++)
        if (f->env.vars[i].secret)
            pb_add_str(&b, data, f->env.vars[i].name, f->env.vars[i].value);
    pb_add(&b, secret, "stringData", data);
    if (b.failed) {
        json_object_put(secret);
        return err_set(err, FCB_ERR_NO_MEMORY, "out of memory building the credentials Secret");
    }
    *out = secret;
    return FCB_OK;
}

int k8s_pod_build_objects(const fcb_host_services *host, const k8s_pod_input *in,
                          json_object **pod_out, json_object **secret, fcb_error *err)
{
    pod_builder b = {.host = host, .failed = false};
    pod_facts f;
    json_object *pod = NULL;

    *pod_out = NULL;
    if (secret != NULL)
        *secret = NULL;
    int rc = pod_facts_make(host, in, &f, err);
    if (rc != FCB_OK)
        goto out;
    pod = pb_obj(&b);
    pb_add_str(&b, pod, "apiVersion", "v1");
    pb_add_str(&b, pod, "kind", "Pod");
    pb_add(&b, pod, "metadata", pod_metadata(&b, in, &f.extras));
    pb_add(&b, pod, "spec", pod_spec(&b, in, &f));
    if (b.failed) {
        rc = err_set(err, FCB_ERR_NO_MEMORY, "out of memory building the Pod");
        goto out;
    }
    if (in->config->pod_template != NULL) {
        rc = k8s_overlay_merge(pod, in->config->pod_template, err);
        if (rc != FCB_OK) {
            err_prefix(err, "FAKECLOUD_K8S_POD_TEMPLATE");
            goto out;
        }
    }
    if (secret != NULL && f.has_creds &&
        (rc = pod_credentials_secret(in, &f, secret, err)) != FCB_OK)
        goto out;
    *pod_out = pod;
    pod = NULL;
out:
    json_object_put(pod);
    pod_facts_free(host, &f);
    return rc;
}

int k8s_pod_build(const fcb_host_services *host, const k8s_pod_input *in, json_object **out,
                  fcb_error *err)
{
    return k8s_pod_build_objects(host, in, out, NULL, err);
}

void k8s_credentials_secret_name(const char *pod_name, char out[K8S_SECRET_NAME_MAX])
{
    snprintf(out, K8S_SECRET_NAME_MAX, "%s" K8S_CREDENTIALS_SUFFIX, pod_name);
}

int k8s_secret_build(const char *namespace_name, const char *name, const char *instance_id,
                     const char *token, json_object **out, fcb_error *err)
{
    pod_builder b = {.host = NULL, .failed = false};

    *out = NULL;
    json_object *secret = pb_owned_object(&b, "Secret", name, namespace_name, instance_id, NULL);
    pb_add_str(&b, secret, "type", "Opaque");
    json_object *data = pb_obj(&b);
    /* stringData: the API server stores it base64-encoded under data. */
    pb_add_str(&b, data, K8S_SECRET_TOKEN_KEY, token);
    pb_add(&b, secret, "stringData", data);
    if (b.failed) {
        json_object_put(secret);
        return err_set(err, FCB_ERR_NO_MEMORY, "out of memory building the token Secret");
    }
    *out = secret;
    return FCB_OK;
}

void k8s_lease_name(const char *instance_id, char out[K8S_POD_NAME_MAX])
{
    snprintf(out, K8S_POD_NAME_MAX, "fakecloud-lease-%s", instance_id);
}

int k8s_lease_build(const char *namespace_name, const char *instance_id, int32_t seconds,
                    int64_t acquire_us, int64_t renew_us, const char *rv, json_object **out,
                    fcb_error *err)
{
    pod_builder b = {.host = NULL, .failed = false};
    char name[K8S_POD_NAME_MAX];
    char acquire[LEASE_MICROTIME_SIZE];
    char renew[LEASE_MICROTIME_SIZE];
    json_object *meta = NULL;

    *out = NULL;
    k8s_lease_name(instance_id, name);
    lease_microtime_format(acquire_us, acquire);
    lease_microtime_format(renew_us, renew);
    json_object *lease = pb_owned_object(&b, "Lease", name, namespace_name, instance_id, &meta);
    pb_add_str(&b, lease, "apiVersion", "coordination.k8s.io/v1");
    if (rv != NULL)
        pb_add_str(&b, meta, "resourceVersion", rv);
    json_object *spec = pb_obj(&b);
    pb_add_str(&b, spec, "holderIdentity", instance_id);
    pb_add(&b, spec, "leaseDurationSeconds", pb_track(&b, json_object_new_int(seconds)));
    pb_add_str(&b, spec, "acquireTime", acquire);
    pb_add_str(&b, spec, "renewTime", renew);
    pb_add(&b, spec, "leaseTransitions", pb_track(&b, json_object_new_int(0)));
    pb_add(&b, lease, "spec", spec);
    if (b.failed) {
        json_object_put(lease);
        return err_set(err, FCB_ERR_NO_MEMORY, "out of memory building the Lease");
    }
    *out = lease;
    return FCB_OK;
}

/* The prepull Pod's one container: IMAGE and a command that does not exist. */
static json_object *prepull_container(pod_builder *b, const k8s_config *cfg, const char *image)
{
    json_object *c = pb_obj(b);
    pb_add_str(b, c, "name", "fakecloud-prepull");
    pb_add_str(b, c, "image", image);
    pb_add_str(b, c, "imagePullPolicy",
               cfg->pull_policy != NULL ? cfg->pull_policy : "IfNotPresent");
    /* Nothing needs to run: the kubelet pulls the image before it starts the
     * container, so whatever happens after the pull says the image is there. */
    json_object *command = pb_arr(b);
    pb_push(b, command, pb_str(b, "/fakecloud-prepull-done"));
    pb_add(b, c, "command", command);
    return c;
}

int k8s_prepull_pod_build(const fcb_host_services *host, const k8s_config *cfg,
                          const char *namespace_name, const char *instance_id, const char *pod_name,
                          const char *nonce, const char *image, json_object **out, fcb_error *err)
{
    pod_builder b = {.host = host, .failed = false};
    char translated[RUNTIME_IMAGE_MAX];
    k8s_pod_extras extras;

    *out = NULL;
    if (image == NULL || image[0] == '\0')
        return err_set(err, FCB_ERR_INVALID_ARGUMENT, "prepull: image: required");
    if (strlen(image) >= RUNTIME_IMAGE_MAX || strpbrk(image, " \t\r\n") != NULL)
        return err_set(err, FCB_ERR_INVALID_ARGUMENT,
                       "prepull: image: not an image reference (whitespace, or %d bytes or more)",
                       RUNTIME_IMAGE_MAX);
    runtime_translate_ecr(image, cfg->ecr_host, cfg->ecr_port, translated);
    /* Where Lambda Pods land: the global and service levels (no function). */
    int rc = pod_extras(host, cfg, NULL, &extras, err);
    if (rc != FCB_OK)
        return rc;

    json_object *meta = NULL;
    json_object *pod = pb_owned_object(&b, "Pod", pod_name, namespace_name, instance_id, &meta);
    json_object *ann = pb_obj(&b);
    pb_add_str(&b, ann, K8S_ANNOTATION_NONCE, nonce);
    pb_add(&b, meta, "annotations", ann);

    json_object *spec = pb_obj(&b);
    pb_add_str(&b, spec, "restartPolicy", "Never");
    pb_add(&b, spec, "automountServiceAccountToken", pb_track(&b, json_object_new_boolean(0)));
    pb_add(&b, spec, "enableServiceLinks", pb_track(&b, json_object_new_boolean(0)));
    pod_pull_and_placement(&b, spec, cfg, &extras);
    k8s_pod_extras_clear(&extras);
    json_object *containers = pb_arr(&b);
    pb_push(&b, containers, prepull_container(&b, cfg, translated));
    pb_add(&b, spec, "containers", containers);
    pb_add(&b, pod, "spec", spec);
    if (b.failed) {
        json_object_put(pod);
        return err_set(err, FCB_ERR_NO_MEMORY, "out of memory building the prepull Pod");
    }
    *out = pod;
    return FCB_OK;
}
