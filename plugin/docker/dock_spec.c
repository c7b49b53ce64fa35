/*
 * dock_spec: container-create body and Engine API parsers.
 *
 * The create body is built with json-c (its own heap) and copied once into
 * host memory at the end, so the caller only ever frees host memory.
 */
#include "dock_spec.h"

#include "labels.h"
#include "lambda_env.h"
#include "names.h"
#include "runtime.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DOCK_MB (1024ull * 1024)

int dock_spec_limits(const fcb_function *fn, dock_limits *out, fcb_error *err)
{
    uint32_t mem = fn->memory_mb == 0 ? 128 : fn->memory_mb;
    uint32_t tmp = fn->ephemeral_storage_mb == 0 ? 512 : fn->ephemeral_storage_mb;
    uint32_t timeout = fn->timeout_seconds == 0 ? 3 : fn->timeout_seconds;
    if (mem < 128 || mem > 10240)
        return err_set(err, FCB_ERR_INVALID_ARGUMENT, "MemorySize: %u MB is outside 128..10240",
                       (unsigned)mem);
    if (tmp < 64 || tmp > 10240)
        return err_set(err, FCB_ERR_INVALID_ARGUMENT,
                       "EphemeralStorage.Size: %u MB is outside 64..10240", (unsigned)tmp);
    if (timeout > 900)
        return err_set(err, FCB_ERR_INVALID_ARGUMENT, "Timeout: %u s is outside 1..900",
                       (unsigned)timeout);
    out->memory_mb = mem;
    out->memory_bytes = (uint64_t)mem * DOCK_MB;
    out->tmp_bytes = (uint64_t)tmp * DOCK_MB;
    out->timeout_seconds = timeout;
    return FCB_OK;
}

size_t dock_spec_container_name(const char *function_name, const char *suffix,
                                char out[DOCK_NAME_MAX])
{
    char safe[41];
    names_dns_label(function_name, 40, safe);
    int n = snprintf(out, DOCK_NAME_MAX, "fakecloud-lambda-%s-%.24s", safe, suffix);
    return n < 0 ? 0 : (size_t)n < DOCK_NAME_MAX ? (size_t)n : DOCK_NAME_MAX - 1;
}

static bool dock_json_add_string(json_object *obj, const char *key, const char *value)
{
    json_object *s = json_object_new_string(value);
    if (s == NULL)
        return false;
    if (json_object_object_add(obj, key, s) != 0) {
        json_object_put(s);
        return false;
    }
    return true;
}

static bool dock_json_add(json_object *obj, const char *key, json_object *value)
{
    if (value == NULL)
        return false;
    if (json_object_object_add(obj, key, value) != 0) {
        json_object_put(value);
        return false;
    }
    return true;
}

static bool dock_json_push_string(json_object *arr, const char *value)
{
    json_object *s = json_object_new_string(value);
    if (s == NULL)
        return false;
    if (json_object_array_add(arr, s) != 0) {
        json_object_put(s);
        return false;
    }
    return true;
}

static json_object *dock_json_string_array(const char *const *values, size_t n)
{
    json_object *arr = json_object_new_array();
    for (size_t i = 0; arr != NULL && i < n; i++) {
        if (values[i] == NULL || !dock_json_push_string(arr, values[i])) {
            json_object_put(arr);
            return NULL;
        }
    }
    return arr;
}

/* "NAME=value" pushed onto ENV, value owned by the caller. */
static int dock_env_push(const fcb_host_services *host, json_object *env, const char *name,
                         const char *value, fcb_error *err)
{
    char *kv = svc_sprintf(host, "%s=%s", name, value);
    if (kv == NULL)
        return err_set(err, FCB_ERR_NO_MEMORY, "container spec: out of memory for env %s", name);
    bool ok = dock_json_push_string(env, kv);
    svc_free(host, kv);
    return ok ? FCB_OK
              : err_set(err, FCB_ERR_NO_MEMORY, "container spec: out of memory for env %s", name);
}

/* The Lambda environment of this launch (lambda_env.h) into *OUT. */
static int dock_spec_lambda_env(const fcb_host_services *host, const dock_spec_input *in,
                                const dock_limits *limits, lambda_env *out, fcb_error *err)
{
    const fcb_function *fn = in->function;
    const fcb_credentials *c = in->credentials;
    char region[RUNTIME_REGION_MAX];
    bool from_arn = runtime_region_from_arn(fn->function_arn, region);
    char *endpoint = in->aws_endpoint_url != NULL
                         ? runtime_rewrite_localhost(host, in->aws_endpoint_url, in->host_alias)
                         : NULL;
    if (in->aws_endpoint_url != NULL && endpoint == NULL)
        return err_set(err, FCB_ERR_NO_MEMORY, "container spec: out of memory for the environment");
    bool zip = fn->package_type == FCB_PACKAGE_ZIP;
    lambda_env_input li = {.function_name = fn->function_name,
                           .version = runtime_function_version(fn),
                           .runtime = zip ? fn->runtime : NULL,
                           .handler = zip ? fn->handler : NULL,
                           .memory_mb = limits->memory_mb,
                           .timeout_s = limits->timeout_seconds,
                           .region = from_arn ? region : RUNTIME_DEFAULT_REGION,
                           .region_overridable = !from_arn,
                           .instance_id = in->log_stream_id,
                           .now_unix_s = in->now_unix_s,
                           .endpoint_url = endpoint,
                           .access_key_id = c != NULL ? c->access_key_id : NULL,
                           .secret_access_key = c != NULL ? c->secret_access_key : NULL,
                           .session_token = c != NULL ? c->session_token : NULL};
    int rc = lambda_env_build(host, &li, out, err);
    svc_free(host, endpoint);
    return rc;
}

/* The reserved entry of ENV named NAME, or NULL. */
static const lambda_env_var *dock_env_reserved(const lambda_env *env, const char *name)
{
    for (size_t i = 0; i < env->n; i++)
        if (env->vars[i].reserved && strcmp(env->vars[i].name, name) == 0)
            return &env->vars[i];
    return NULL;
}

/* Whether the function sets NAME itself. */
static bool dock_fn_sets(const fcb_function *fn, const char *name)
{
    for (size_t i = 0; i < fn->n_environment; i++)
        if (fn->environment[i].name != NULL && strcmp(fn->environment[i].name, name) == 0)
            return true;
    return false;
}

/*
 * The function's variables, localhost URLs rewritten; one the platform
 * reserves is dropped with a warning that shows the platform's value only
 * when it is not a secret.
 */
static int dock_spec_env_function(const fcb_host_services *host, const dock_spec_input *in,
                                  const lambda_env *platform, json_object *env, fcb_error *err)
{
    const fcb_function *fn = in->function;
    for (size_t i = 0; i < fn->n_environment; i++) {
        const fcb_env_var *v = &fn->environment[i];
        if (v->name == NULL || !names_is_env_name(v->name))
            return err_set(err, FCB_ERR_INVALID_ARGUMENT,
                           "Environment.Variables: invalid variable name '%.100s'",
                           v->name != NULL ? v->name : "(null)");
        const lambda_env_var *reserved = dock_env_reserved(platform, v->name);
        if (reserved != NULL) {
            svc_log(host, FCB_LOG_WARN, "docker",
                    "environment variable is reserved by the platform; the function's value "
                    "is ignored",
                    "variable", v->name, "value",
                    reserved->secret ? "(secret, not shown)" : reserved->value, NULL);
            continue;
        }
        char *value =
            runtime_rewrite_localhost(host, v->value != NULL ? v->value : "", in->host_alias);
        if (value == NULL)
            return err_set(err, FCB_ERR_NO_MEMORY, "container spec: out of memory for env %s",
                           v->name);
        int rc = dock_env_push(host, env, v->name, value, err);
        svc_free(host, value);
        if (rc != FCB_OK)
            return rc;
    }
    return FCB_OK;
}

/*
 * The function's variables (dock_spec_env_function), then the Lambda
 * environment: its reserved entries always, the others (the region when the
 * ARN has none) unless the function sets them.
 */
static int dock_spec_env(const fcb_host_services *host, const dock_spec_input *in,
                         const dock_limits *limits, json_object *env, fcb_error *err)
{
    const fcb_function *fn = in->function;
    if (fn->n_environment > 0 && fn->environment == NULL)
        return err_set(err, FCB_ERR_INVALID_ARGUMENT,
                       "Environment.Variables: %zu variables but no array", fn->n_environment);
    lambda_env platform;
    int rc = dock_spec_lambda_env(host, in, limits, &platform, err);
    if (rc != FCB_OK)
        return rc;
    rc = dock_spec_env_function(host, in, &platform, env, err);
    for (size_t i = 0; rc == FCB_OK && i < platform.n; i++) {
        const lambda_env_var *v = &platform.vars[i];
        if (v->reserved || !dock_fn_sets(fn, v->name))
            rc = dock_env_push(host, env, v->name, v->value, err);
    }
    lambda_env_free(host, &platform);
    return rc;
}

/* The objects of a create body, each attached to root once made. */
typedef struct dock_spec_parts {
    json_object *root, *env, *labels, *exposed, *hostcfg, *tmpfs, *binding;
} dock_spec_parts;

/* Make and attach the body's objects; false without memory (then root only is to be put). */
static bool dock_spec_skeleton(dock_spec_parts *p)
{
    p->root = json_object_new_object();
    p->env = json_object_new_array();
    p->labels = json_object_new_object();
    p->exposed = json_object_new_object();
    p->hostcfg = json_object_new_object();
    p->tmpfs = json_object_new_object();
    json_object *bindings = json_object_new_object();
    json_object *binding_list = json_object_new_array();
    p->binding = json_object_new_object();
    if (p->root == NULL || p->env == NULL || p->labels == NULL || p->exposed == NULL ||
        p->hostcfg == NULL || p->tmpfs == NULL || bindings == NULL || binding_list == NULL ||
        p->binding == NULL) {
        json_object *loose[] = {p->env,   p->labels, p->exposed,     p->hostcfg,
                                p->tmpfs, bindings,  binding_list, p->binding};
        for (size_t i = 0; i < sizeof loose / sizeof loose[0]; i++)
            json_object_put(loose[i]);
        return false;
    }
    /* From here every object is attached to root as soon as it is made. */
    bool ok = dock_json_add(p->hostcfg, "Tmpfs", p->tmpfs);
    ok = json_object_array_add(binding_list, p->binding) == 0 && ok;
    ok = dock_json_add(bindings, DOCK_RIE_PORT, binding_list) && ok;
    ok = dock_json_add(p->hostcfg, "PortBindings", bindings) && ok;
    ok = dock_json_add(p->root, "HostConfig", p->hostcfg) && ok;
    ok = dock_json_add(p->root, "Labels", p->labels) && ok;
    ok = dock_json_add(p->root, "ExposedPorts", p->exposed) && ok;
    ok = dock_json_add(p->root, "Env", p->env) && ok;
    return ok;
}

/* Image, and Cmd ([handler] for Zip) or the ImageConfig overrides for Image functions. */
static bool dock_spec_command(json_object *root, const dock_spec_input *in)
{
    const fcb_function *fn = in->function;
    bool ok = dock_json_add_string(root, "Image", in->image);
    if (fn->package_type == FCB_PACKAGE_ZIP) {
        const char *cmd[] = {fn->handler};
        return dock_json_add(root, "Cmd", dock_json_string_array(cmd, 1)) && ok;
    }
    if (fn->n_image_command > 0)
        ok = dock_json_add(root, "Cmd",
                           dock_json_string_array(fn->image_command, fn->n_image_command)) &&
             ok;
    if (fn->n_image_entry_point > 0)
        ok = dock_json_add(root, "Entrypoint",
                           dock_json_string_array(fn->image_entry_point, fn->n_image_entry_point)) &&
             ok;
    if (fn->image_working_directory != NULL && fn->image_working_directory[0] != '\0')
        ok = dock_json_add_string(root, "WorkingDir", fn->image_working_directory) && ok;
    return ok;
}

static bool dock_spec_labels(json_object *labels, const dock_spec_input *in)
{
    char label[NAMES_LABEL_MAX + 1];
    bool ok = dock_json_add_string(labels, LABEL_MANAGED_BY, LABEL_MANAGED_BY_VALUE);
    ok = dock_json_add_string(labels, LABEL_INSTANCE, in->instance_id) && ok;
    names_label_value(in->function->function_name, NAMES_LABEL_MAX, label);
    ok = dock_json_add_string(labels, LABEL_LAMBDA, label) && ok;
    return dock_json_add_string(labels, LABEL_SERVICE, LABEL_SERVICE_VALUE) && ok;
}

/* HostConfig.Mounts: in->code_dir bound read-only at /var/task (and /var/runtime for provided). */
static bool dock_spec_code_mounts(json_object *hostcfg, const dock_spec_input *in)
{
    static const char *const targets[] = {"/var/task", "/var/runtime"};
    size_t n = runtime_is_provided(in->function->runtime) ? 2 : 1;
    json_object *mounts = json_object_new_array();
    bool ok = dock_json_add(hostcfg, "Mounts", mounts);
    for (size_t i = 0; ok && i < n; i++) {
        json_object *m = json_object_new_object();
        ok = m != NULL && json_object_array_add(mounts, m) == 0;
        if (!ok) {
            json_object_put(m);
            break;
        }
        ok = dock_json_add_string(m, "Type", "bind") && ok;
        ok = dock_json_add_string(m, "Source", in->code_dir) && ok;
        ok = dock_json_add_string(m, "Target", targets[i]) && ok;
        ok = dock_json_add(m, "ReadOnly", json_object_new_boolean(1)) && ok;
    }
    return ok;
}

/* Memory, /tmp tmpfs, the published RIE port, ExtraHosts and NetworkMode. */
static bool dock_spec_host_config(const fcb_host_services *host, const dock_spec_parts *p,
                                  const dock_spec_input *in, const dock_limits *limits)
{
    char tmpfs[96];
    bool ok = dock_json_add(p->exposed, DOCK_RIE_PORT, json_object_new_object());
    ok = dock_json_add(p->hostcfg, "Memory", json_object_new_int64((int64_t)limits->memory_bytes)) &&
         ok;
    snprintf(tmpfs, sizeof tmpfs, "rw,exec,size=%llu", (unsigned long long)limits->tmp_bytes);
    ok = dock_json_add_string(p->tmpfs, "/tmp", tmpfs) && ok;
    ok = dock_json_add_string(p->binding, "HostIp",
                              in->publish_ip != NULL ? in->publish_ip : "127.0.0.1") &&
         ok;
    ok = dock_json_add_string(p->binding, "HostPort", "") && ok;
    if (in->host_gateway) {
        char *gateway = svc_sprintf(host, "%s:host-gateway", in->host_alias);
        const char *hosts[] = {gateway};
        ok = gateway != NULL &&
             dock_json_add(p->hostcfg, "ExtraHosts", dock_json_string_array(hosts, 1)) && ok;
        svc_free(host, gateway);
    }
    if (in->network != NULL && in->network[0] != '\0')
        ok = dock_json_add_string(p->hostcfg, "NetworkMode", in->network) && ok;
    if (in->code_dir != NULL && in->function->package_type == FCB_PACKAGE_ZIP)
        ok = ok && dock_spec_code_mounts(p->hostcfg, in);
    return ok;
}

int dock_spec_create_body(const fcb_host_services *host, const dock_spec_input *in, char **json,
                          fcb_error *err)
{
    const fcb_function *fn = in->function;
    dock_limits limits;
    dock_spec_parts parts;
    memset(&parts, 0, sizeof parts);

    *json = NULL;
    if (fn == NULL || fn->function_name == NULL || fn->function_name[0] == '\0')
        return err_set(err, FCB_ERR_INVALID_ARGUMENT, "FunctionName is required");
    int rc = dock_spec_limits(fn, &limits, err);
    if (rc != FCB_OK)
        return rc;
    if (fn->package_type == FCB_PACKAGE_ZIP && (fn->handler == NULL || fn->handler[0] == '\0'))
        return err_set(err, FCB_ERR_INVALID_ARGUMENT, "Handler is required for Zip functions");
    bool ok = dock_spec_skeleton(&parts);
    ok = ok && dock_spec_command(parts.root, in);
    ok = ok && dock_spec_labels(parts.labels, in);
    ok = ok && dock_spec_host_config(host, &parts, in, &limits);
    if (!ok) {
        rc = err_set(err, FCB_ERR_NO_MEMORY, "container spec: out of memory");
        goto out;
    }
    rc = dock_spec_env(host, in, &limits, parts.env, err);
    if (rc != FCB_OK)
        goto out;
    const char *text = json_object_to_json_string_ext(parts.root, JSON_C_TO_STRING_PLAIN);
    *json = text != NULL ? svc_strdup(host, text) : NULL;
    if (*json == NULL)
        rc = err_set(err, FCB_ERR_NO_MEMORY, "container spec: out of memory");
out:
    json_object_put(parts.root);
    return rc;
}

int dock_spec_parse_host(const char *docker_host, bool tls, dock_address *out, fcb_error *err)
{
    memset(out, 0, sizeof *out);
    if (docker_host == NULL || docker_host[0] == '\0')
        docker_host = "unix:///var/run/docker.sock";
    if (strncmp(docker_host, "unix://", 7) == 0) {
        const char *path = docker_host + 7;
        if (path[0] != '/')
            return err_set(err, FCB_ERR_CONFIG,
                           "DOCKER_HOST: unix socket path must be absolute: %.200s", docker_host);
        if (strlen(path) >= sizeof out->path)
            return err_set(err, FCB_ERR_CONFIG, "DOCKER_HOST: socket path too long");
        out->transport = DOCK_UNIX;
        snprintf(out->path, sizeof out->path, "%s", path);
        return FCB_OK;
    }
    if (strncmp(docker_host, "tcp://", 6) == 0) {
        const char *h = docker_host + 6;
        const char *end = h + strcspn(h, "/");
        const char *colon = NULL;
        if (h[0] == '[') {
            const char *close = memchr(h, ']', (size_t)(end - h));
            if (close == NULL)
                return err_set(err, FCB_ERR_CONFIG, "DOCKER_HOST: unclosed '[' in %.200s",
                               docker_host);
            colon = (close + 1 < end && close[1] == ':') ? close + 1 : NULL;
        } else {
            colon = memchr(h, ':', (size_t)(end - h));
        }
        size_t hlen = colon != NULL ? (size_t)(colon - h) : (size_t)(end - h);
        if (hlen == 0 || hlen >= sizeof out->host)
            return err_set(err, FCB_ERR_CONFIG, "DOCKER_HOST: missing or too long host in %.200s",
                           docker_host);
        memcpy(out->host, h, hlen);
        out->host[hlen] = '\0';
        out->port = tls ? 2376 : 2375;
        if (colon != NULL) {
            char *stop = NULL;
            unsigned long p = strtoul(colon + 1, &stop, 10);
            if (stop != end || p == 0 || p > 65535)
                return err_set(err, FCB_ERR_CONFIG, "DOCKER_HOST: invalid port in %.200s",
                               docker_host);
            out->port = (unsigned)p;
        }
        out->transport = DOCK_TCP;
        return FCB_OK;
    }
    return err_set(err, FCB_ERR_CONFIG,
                   "DOCKER_HOST: unsupported scheme in '%.200s' (use unix:// or tcp://)",
                   docker_host);
}

static bool dock_parse_version(const char *s, unsigned *major, unsigned *minor)
{
    char *end = NULL;
    if (s == NULL || s[0] < '0' || s[0] > '9')
        return false;
    unsigned long ma = strtoul(s, &end, 10);
    if (*end != '.' || end[1] < '0' || end[1] > '9')
        return false;
    unsigned long mi = strtoul(end + 1, &end, 10);
    if (*end != '\0' || ma > 1000 || mi > 1000)
        return false;
    *major = (unsigned)ma;
    *minor = (unsigned)mi;
    return true;
}

bool dock_spec_api_at_least(const char *version, unsigned major, unsigned minor)
{
    unsigned ma, mi;
    return dock_parse_version(version, &ma, &mi) && (ma > major || (ma == major && mi >= minor));
}

int dock_spec_negotiate_version(const char *server, char out[16], fcb_error *err)
{
    unsigned ma, mi;
    out[0] = '\0';
    if (!dock_parse_version(server, &ma, &mi))
        return err_set(err, FCB_ERR_BACKEND, "Docker engine: unreadable API version '%.40s'",
                       server != NULL ? server : "(none)");
    if (ma < DOCK_API_MIN_MAJOR || (ma == DOCK_API_MIN_MAJOR && mi < DOCK_API_MIN_MINOR))
        return err_set(err, FCB_ERR_UNSUPPORTED,
                       "Docker engine API %u.%u is too old: at least %d.%d is required", ma, mi,
                       DOCK_API_MIN_MAJOR, DOCK_API_MIN_MINOR);
    if (ma > DOCK_API_OURS_MAJOR || (ma == DOCK_API_OURS_MAJOR && mi > DOCK_API_OURS_MINOR)) {
        ma = DOCK_API_OURS_MAJOR;
        mi = DOCK_API_OURS_MINOR;
    }
    snprintf(out, 16, "%u.%u", ma, mi);
    return FCB_OK;
}

static bool dock_image_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-' || c == '/' || c == ':' || c == '@';
}

int dock_spec_split_image(const char *image, const char *field, char *repo, char *tag, size_t size,
                          fcb_error *err)
{
    repo[0] = tag[0] = '\0';
    if (image == NULL || image[0] == '\0')
        return err_set(err, FCB_ERR_INVALID_ARGUMENT, "%s: empty image reference", field);
    size_t n = strlen(image);
    if (n >= size)
        return err_set(err, FCB_ERR_INVALID_ARGUMENT, "%s: image reference too long", field);
    for (size_t i = 0; i < n; i++)
        if (!dock_image_char(image[i]))
            return err_set(err, FCB_ERR_INVALID_ARGUMENT,
                           "%s: invalid character '%c' in image reference '%.200s'", field,
                           image[i] > ' ' && image[i] < 0x7f ? image[i] : '?', image);
    if (image[0] == '/' || image[0] == ':' || image[0] == '@')
        return err_set(err, FCB_ERR_INVALID_ARGUMENT, "%s: malformed image reference '%.200s'",
                       field, image);
    const char *at = strchr(image, '@');
    const char *slash = strrchr(image, '/');
    const char *colon = strrchr(image, ':');
    size_t repo_len = n;
    if (at != NULL) {
        repo_len = (size_t)(at - image);
        snprintf(tag, size, "%s", at + 1);
    } else if (colon != NULL && (slash == NULL || colon > slash)) {
        repo_len = (size_t)(colon - image);
        snprintf(tag, size, "%s", colon + 1);
    } else {
        snprintf(tag, size, "latest");
    }
    if (repo_len == 0 || tag[0] == '\0')
        return err_set(err, FCB_ERR_INVALID_ARGUMENT, "%s: malformed image reference '%.200s'",
                       field, image);
    memcpy(repo, image, repo_len);
    repo[repo_len] = '\0';
    return FCB_OK;
}

bool dock_spec_demux_logs(const char *raw, size_t len, sbuf *out)
{
    size_t i = 0;
    /* A valid first header: stream 0..2, three zero bytes. */
    bool framed =
        len >= 8 && (unsigned char)raw[0] <= 2 && raw[1] == 0 && raw[2] == 0 && raw[3] == 0;
    if (!framed)
        return sbuf_append(out, raw, len);
    while (i + 8 <= len) {
        const unsigned char *h = (const unsigned char *)raw + i;
        size_t n = ((size_t)h[4] << 24) | ((size_t)h[5] << 16) | ((size_t)h[6] << 8) | h[7];
        i += 8;
        if (n > len - i)
            n = len - i;
        sbuf_append(out, raw + i, n);
        i += n;
    }
    return !sbuf_failed(out);
}

bool dock_spec_pull_line_error(const char *line, size_t len, char *msg, size_t size)
{
    bool found = false;
    json_tokener *tok = json_tokener_new();
    if (tok == NULL)
        return false;
    json_object *obj = json_tokener_parse_ex(tok, line, (int)(len > 1 << 20 ? 1 << 20 : len));
    json_object *e = NULL;
    if (obj != NULL && json_object_is_type(obj, json_type_object)) {
        json_object *detail = NULL;
        if (json_object_object_get_ex(obj, "error", &e) && json_object_is_type(e, json_type_string))
            found = true;
        else if (json_object_object_get_ex(obj, "errorDetail", &detail) &&
                 json_object_object_get_ex(detail, "message", &e) &&
                 json_object_is_type(e, json_type_string))
            found = true;
        if (found && size > 0)
            snprintf(msg, size, "%s", json_object_get_string(e));
    }
    json_object_put(obj);
    json_tokener_free(tok);
    return found;
}
