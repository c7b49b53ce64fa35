/*
 * k8s_config: the FAKECLOUD_K8S_* keys, one table, read once.
 *
 * k8s_config_table below is the only place a key of the k8s backend is
 * named: cfg_table_read (plugin/common/cfgparse.h) walks it in order, the
 * docs' key tables are checked against it (tests/k8s/meson.build, test
 * "k8s-doc-keys"), and every message names the key in cfgparse's one shape
 * ("<KEY> is not <what>: <why> (got "<value>")"). Values are checked against
 * the rule the API server would apply, so a typo fails open() with the key
 * named instead of failing every launch later.
 */
#include "k8s_config.h"
#include "lease.h"

#include "cfgparse.h"
#include "k8s_overlay.h"
#include "labels.h"
#include "names.h"
#include "svc.h"

#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#define K8S_KEY_SELF_URL "FAKECLOUD_K8S_SELF_URL"

/* ------------------------------------------------------------ value rules */

static bool config_is_dns_subdomain(const char *s)
{
    size_t len = strlen(s);
    if (len == 0 || len > 253)
        return false;
    const char *p = s;
    for (int labels = 0; labels < 254; labels++) {
        const char *dot = strchr(p, '.');
        size_t n = dot != NULL ? (size_t)(dot - p) : strlen(p);
        char label[64];
        if (n == 0 || n > 63)
            return false;
        memcpy(label, p, n);
        label[n] = '\0';
        if (!names_is_dns_label(label))
            return false;
        if (dot == NULL)
            return true;
        p = dot + 1;
    }
    return false;
}

/* Label or annotation key: [prefix/]name, prefix a DNS subdomain, name qualified. */
static bool config_is_qualified_key(const char *key)
{
    const char *slash = strchr(key, '/');
    const char *name = key;
    if (slash != NULL) {
        size_t plen = (size_t)(slash - key);
        char prefix[254];
        if (plen == 0 || plen > 253)
            return false;
        memcpy(prefix, key, plen);
        prefix[plen] = '\0';
        if (!config_is_dns_subdomain(prefix))
            return false;
        name = slash + 1;
    }
    return name[0] != '\0' && names_is_label_value(name);
}

static bool config_is_image(const char *s)
{
    if (s[0] == '\0' || strlen(s) >= 256)
        return false;
    for (; *s != '\0'; s++) {
        if ((unsigned char)*s <= ' ' || (unsigned char)*s == 0x7f)
            return false;
    }
    return true;
}

static bool config_is_image_prefix(const char *s)
{
    return config_is_image(s) && s[strlen(s) - 1] == '/';
}

static bool config_is_pull_policy(const char *s)
{
    return strcmp(s, "Always") == 0 || strcmp(s, "IfNotPresent") == 0 || strcmp(s, "Never") == 0;
}

/* ------------------------------------------------------------ parsers */

/* A string checked by RULE (the rule's text is what the message says it must be). */
typedef struct config_rule {
    const char *key;
    bool (*valid)(const char *);
    const char *what;
} config_rule;

static const config_rule config_rules[] = {
    {"FAKECLOUD_K8S_NAMESPACE", names_is_dns_label,
     "a namespace (DNS-1123 label: lower case alphanumerics and '-', at most 63)"},
    {"FAKECLOUD_K8S_PULL_SECRET", config_is_dns_subdomain, "a Secret name (DNS-1123 subdomain)"},
    {"FAKECLOUD_K8S_SERVICE_ACCOUNT", config_is_dns_subdomain,
     "a ServiceAccount name (DNS-1123 subdomain)"},
    {"FAKECLOUD_K8S_PRIORITY_CLASS", config_is_dns_subdomain,
     "a PriorityClass name (DNS-1123 subdomain)"},
    {"FAKECLOUD_K8S_INIT_IMAGE", config_is_image,
     "an image reference (no whitespace, under 256 bytes)"},
    {"FAKECLOUD_K8S_RUNTIME_IMAGE_PREFIX", config_is_image_prefix,
     "a registry path ending in '/' (e.g. mirror.local:5000/lambda/)"},
    {"FAKECLOUD_K8S_IMAGE_PULL_POLICY", config_is_pull_policy, "Always, IfNotPresent or Never"},
};

static int key_checked_string(const fcb_host_services *host, const cfg_key *key, const char *value,
                              void *cfg, fcb_error *err)
{
    for (size_t i = 0; i < sizeof config_rules / sizeof config_rules[0]; i++) {
        if (strcmp(config_rules[i].key, key->name) == 0 && !config_rules[i].valid(value))
            return cfg_error(err, key->name, value, config_rules[i].what, "not valid");
    }
    return cfg_key_string(host, key, value, cfg, err);
}

/* "host:port" of a URL, with brackets around an IPv6 host, into *host_out. */
static int config_host_copy(const fcb_host_services *host, const cfg_key *key, const cfg_url *url,
                            char **host_out, unsigned *port_out, fcb_error *err)
{
    char *copy = svc_sprintf(host, strchr(url->host, ':') != NULL ? "[%s]" : "%s", url->host);
    if (copy == NULL)
        return err_set(err, FCB_ERR_NO_MEMORY, "out of memory reading %s", key->name);
    svc_free(host, *host_out);
    *host_out = copy;
    *port_out = url->port;
    return FCB_OK;
}

/* FAKECLOUD_K8S_SELF_URL: http(s), a host, no query or fragment; kept without trailing '/'. */
static int key_self_url(const fcb_host_services *host, const cfg_key *key, const char *value,
                        void *cfg_ptr, fcb_error *err)
{
    k8s_config *cfg = cfg_ptr;
    cfg_url url;

    int rc = cfg_parse_url(key->name, value, 0, &url, err);
    if (rc != FCB_OK)
        return rc;
    if (url.has_query)
        return cfg_error(err, key->name, value, "a valid URL", "must not have a query or fragment");
    size_t len = strlen(value);
    while (len > 0 && value[len - 1] == '/')
        len--;
    cfg->self_url = svc_strndup(host, value, len);
    if (cfg->self_url == NULL)
        return err_set(err, FCB_ERR_NO_MEMORY, "out of memory reading %s", key->name);
    return config_host_copy(host, key, &url, &cfg->self_host, &cfg->self_port, err);
}

/* FAKECLOUD_K8S_ECR_URL: "host:port" or a URL (unset: the self URL's, see k8s_config_parse). */
static int key_ecr_url(const fcb_host_services *host, const cfg_key *key, const char *value,
                       void *cfg_ptr, fcb_error *err)
{
    k8s_config *cfg = cfg_ptr;
    cfg_url url;

    int rc = cfg_parse_url(key->name, value, CFG_URL_HOST_PORT, &url, err);
    if (rc != FCB_OK)
        return rc;
    return config_host_copy(host, key, &url, &cfg->ecr_host, &cfg->ecr_port, err);
}

/* Keys (and for LABELS values) of a label or annotation map. */
static int config_map_check(const cfg_key *key, const char *value, json_object *map, bool labels,
                            fcb_error *err)
{
    static const char what[] = "a map of labels or annotations";
    json_object_object_foreach(map, k, v)
    {
        if (!config_is_qualified_key(k))
            return cfg_error(err, key->name, value, what,
                             "key \"%.100s\" is not a valid label/annotation key ([prefix/]name, "
                             "name of at most 63 of [A-Za-z0-9._-], alphanumeric at both ends)",
                             k);
        if (labels && strncmp(k, LABEL_RESERVED_PREFIX, strlen(LABEL_RESERVED_PREFIX)) == 0)
            return cfg_error(err, key->name, value, what, "key %s is reserved for the backend", k);
        if (labels && !names_is_label_value(json_object_get_string(v)))
            return cfg_error(err, key->name, value, what,
                             "value \"%.100s\" of %s is not a valid label value (at most 63 of "
                             "[A-Za-z0-9._-], alphanumeric at both ends)",
                             json_object_get_string(v), k);
    }
    return FCB_OK;
}

static int config_map(const fcb_host_services *host, const cfg_key *key, const char *value,
                      bool labels, void *cfg, fcb_error *err)
{
    json_object *map = NULL;
    int rc = cfg_parse_map(host, key->name, value, &map, err);
    if (rc == FCB_OK && map != NULL)
        rc = config_map_check(key, value, map, labels, err);
    if (rc != FCB_OK) {
        json_object_put(map);
        return rc;
    }
    *CFG_FIELD(cfg, key, json_object *) = map;
    return FCB_OK;
}

/* Label rules: keys not fakecloud-*, values label-safe (node selector, labels). */
static int key_label_map(const fcb_host_services *host, const cfg_key *key, const char *value,
                         void *cfg, fcb_error *err)
{
    return config_map(host, key, value, true, cfg, err);
}

/* Annotation rules: any value. */
static int key_annotation_map(const fcb_host_services *host, const cfg_key *key, const char *value,
                              void *cfg, fcb_error *err)
{
    return config_map(host, key, value, false, cfg, err);
}

static void release_json(const fcb_host_services *host, const cfg_key *key, void *cfg)
{
    (void)host;
    json_object **field = CFG_FIELD(cfg, key, json_object *);
    json_object_put(*field);
    *field = NULL;
}

/* One toleration, by the API server's rules (k8s_toleration_check, shared with the tags). */
static int config_toleration(const cfg_key *key, const char *value, size_t i, json_object *t,
                             fcb_error *err)
{
    char why[K8S_TAGS_WARN_SIZE];
    if (k8s_toleration_check(t, why, sizeof why))
        return FCB_OK;
    return cfg_error(err, key->name, value, "a JSON list of tolerations", "[%zu]%s", i, why);
}

static int key_tolerations(const fcb_host_services *host, const cfg_key *key, const char *value,
                           void *cfg, fcb_error *err)
{
    (void)host;
    json_object *list = json_tokener_parse(value);
    int rc = FCB_OK;

    if (list == NULL || !json_object_is_type(list, json_type_array))
        rc = cfg_error(err, key->name, value, "a JSON list of tolerations",
                       "e.g. [{\"key\":\"k\",\"operator\":\"Exists\",\"effect\":\"NoSchedule\"}]");
    for (size_t i = 0; rc == FCB_OK && i < json_object_array_length(list); i++)
        rc = config_toleration(key, value, i, json_object_array_get_idx(list, i), err);
    if (rc != FCB_OK) {
        json_object_put(list);
        return rc;
    }
    *CFG_FIELD(cfg, key, json_object *) = list;
    return FCB_OK;
}

/* Set FIELD of the Pod securityContext to V (created on first use). */
static int config_security_set(k8s_config *cfg, const char *key, const char *field, json_object *v,
                               fcb_error *err)
{
    if (v == NULL || (cfg->security_context == NULL &&
                      (cfg->security_context = json_object_new_object()) == NULL)) {
        json_object_put(v);
        return err_set(err, FCB_ERR_NO_MEMORY, "out of memory reading %s", key);
    }
    json_object_object_add(cfg->security_context, field, v);
    return FCB_OK;
}

/* An id 0..INT_MAX into securityContext.FIELD. */
static int config_security_id(const cfg_key *key, const char *value, k8s_config *cfg,
                              const char *field, fcb_error *err)
{
    uint64_t id = 0;
    int rc = cfg_parse_uint(key->name, value, 0, INT_MAX, &id, err);
    return rc != FCB_OK ? rc
                        : config_security_set(cfg, key->name, field,
                                              json_object_new_int64((int64_t)id), err);
}

static int key_run_as_user(const fcb_host_services *host, const cfg_key *key, const char *value,
                           void *cfg, fcb_error *err)
{
    (void)host;
    return config_security_id(key, value, cfg, "runAsUser", err);
}

static int key_run_as_group(const fcb_host_services *host, const cfg_key *key, const char *value,
                            void *cfg, fcb_error *err)
{
    (void)host;
    return config_security_id(key, value, cfg, "runAsGroup", err);
}

static int key_fs_group(const fcb_host_services *host, const cfg_key *key, const char *value,
                        void *cfg, fcb_error *err)
{
    (void)host;
    return config_security_id(key, value, cfg, "fsGroup", err);
}

static int key_run_as_non_root(const fcb_host_services *host, const cfg_key *key, const char *value,
                               void *cfg, fcb_error *err)
{
    (void)host;
    bool on = false;
    int rc = cfg_parse_bool(key->name, value, &on, err);
    return rc != FCB_OK ? rc
                        : config_security_set(cfg, key->name, "runAsNonRoot",
                                              json_object_new_boolean(on), err);
}

/* "<n>m" or "<n>[.<d>]" cores into millicores; false when not a quantity. */
static bool config_cpu_millicores(const char *value, unsigned long *milli)
{
    unsigned long whole = 0;
    const char *p = value;
    size_t digits = 0;
    for (; *p >= '0' && *p <= '9' && digits < 7; p++, digits++)
        whole = whole * 10 + (unsigned long)(*p - '0');
    if (digits == 0)
        return false;
    if (*p == 'm' && p[1] == '\0') {
        *milli = whole;
        return true;
    }
    if (*p != '\0' && *p != '.')
        return false;
    *milli = whole * 1000;
    if (*p == '\0')
        return true;
    p++;
    if (*p == '\0')
        return false;
    for (unsigned long scale = 100; *p != '\0'; p++, scale /= 10) {
        if (*p < '0' || *p > '9' || scale == 0)
            return false;
        *milli += (unsigned long)(*p - '0') * scale;
    }
    return true;
}

/* "proportional", "none", "<n>m" or "<n>[.<d>]" cores. */
static int key_cpu(const fcb_host_services *host, const cfg_key *key, const char *value, void *cfg,
                   fcb_error *err)
{
    (void)host;
    k8s_cpu *out = CFG_FIELD(cfg, key, k8s_cpu);
    unsigned long milli = 0;

    if (strcmp(value, "proportional") == 0) {
        out->mode = K8S_CPU_PROPORTIONAL;
    } else if (strcmp(value, "none") == 0) {
        out->mode = K8S_CPU_NONE;
    } else if (config_cpu_millicores(value, &milli) && milli > 0 && milli <= 1000000) {
        out->mode = K8S_CPU_FIXED;
        out->millicores = (unsigned)milli;
    } else {
        return cfg_error(err, key->name, value,
                         "a CPU quantity (e.g. 250m or 0.5 or 2, at most 1000 cores), "
                         "\"proportional\" or \"none\"",
                         "not valid");
    }
    return FCB_OK;
}

static int key_pod_template(const fcb_host_services *host, const cfg_key *key, const char *value,
                            void *cfg, fcb_error *err)
{
    return k8s_overlay_load(host, key->name, value, CFG_FIELD(cfg, key, json_object *), err);
}

/*
 * A tuning key of the client: an unsigned within key->min..key->max into an
 * unsigned (or, for FAKECLOUD_K8S_MAX_RESPONSE_BYTES, a size_t) field. These
 * keep the message docs/k8s-client.md documents.
 */
static int key_client_number(const fcb_host_services *host, const cfg_key *key, const char *value,
                             void *cfg, fcb_error *err)
{
    (void)host;
    fcb_error why = FCB_ERROR_INIT;
    uint64_t n = 0;

    if (cfg_parse_uint(key->name, value, key->min, key->max, &n, &why) != FCB_OK)
        return err_set(err, FCB_ERR_CONFIG,
                       "%s: '%.100s' is not a whole number between %llu and %llu", key->name, value,
                       (unsigned long long)key->min, (unsigned long long)key->max);
    if (key->offset == offsetof(k8s_config, client.max_response_bytes))
        *CFG_FIELD(cfg, key, size_t) = (size_t)n;
    else
        *CFG_FIELD(cfg, key, unsigned) = (unsigned)n;
    return FCB_OK;
}

/* The lease duration (plugin/common/lease.h's rule: 1..3600 whole seconds). */
static int key_lease_seconds(const fcb_host_services *host, const cfg_key *key, const char *value,
                             void *cfg, fcb_error *err)
{
    (void)host;
    return lease_seconds_parse(key->name, value, CFG_FIELD(cfg, key, int32_t), err);
}

/* pod-ip, api-proxy or auto (exact, lower case: a typo must not pick a mode). */
static int key_endpoint_mode(const fcb_host_services *host, const cfg_key *key, const char *value,
                             void *cfg, fcb_error *err)
{
    (void)host;
    static const char *const names[] = {"pod-ip", "api-proxy", "auto"};
    static const k8s_endpoint_mode modes[] = {K8S_ENDPOINT_POD_IP, K8S_ENDPOINT_API_PROXY,
                                              K8S_ENDPOINT_AUTO};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (strcmp(value, names[i]) == 0) {
            *CFG_FIELD(cfg, key, k8s_endpoint_mode) = modes[i];
            return FCB_OK;
        }
    }
    return cfg_error(err, key->name, value, "pod-ip, api-proxy or auto",
                     "how the runtime is reached: its Pod IP, or the API server's pods/proxy");
}

/* ------------------------------------------------------------ the table */

#define K8S_FIELD(f) offsetof(k8s_config, f)

/* Every key the k8s backend reads, in the order they are read (docs/k8s.md lists them). */
static const cfg_key k8s_config_table[] = {
    {K8S_KEY_SELF_URL, NULL, "in-cluster URL of the host (required)", key_self_url,
     K8S_FIELD(self_url), 0, 0, NULL},
    {"FAKECLOUD_K8S_ECR_URL", NULL, "host:port of the local ECR (default: the self URL's)",
     key_ecr_url, K8S_FIELD(ecr_host), 0, 0, NULL},
    {"FAKECLOUD_K8S_NAMESPACE", NULL, "namespace of the Pods (default: the context's)",
     key_checked_string, K8S_FIELD(namespace_name), 0, 0, cfg_release_string},
    {"FAKECLOUD_K8S_PULL_SECRET", NULL, "imagePullSecrets name", key_checked_string,
     K8S_FIELD(pull_secret), 0, 0, cfg_release_string},
    {"FAKECLOUD_K8S_SERVICE_ACCOUNT", NULL, "serviceAccountName of the Pods", key_checked_string,
     K8S_FIELD(service_account), 0, 0, cfg_release_string},
    {"FAKECLOUD_K8S_PRIORITY_CLASS", NULL, "priorityClassName of the Pods", key_checked_string,
     K8S_FIELD(priority_class), 0, 0, cfg_release_string},
    {"FAKECLOUD_K8S_INIT_IMAGE", K8S_DEFAULT_INIT_IMAGE, "image of the init container",
     key_checked_string, K8S_FIELD(init_image), 0, 0, cfg_release_string},
    {"FAKECLOUD_K8S_RUNTIME_IMAGE_PREFIX", NULL, "registry mirror of public.ecr.aws/lambda/",
     key_checked_string, K8S_FIELD(image_prefix), 0, 0, cfg_release_string},
    {"FAKECLOUD_K8S_IMAGE_PULL_POLICY", NULL, "imagePullPolicy of both containers",
     key_checked_string, K8S_FIELD(pull_policy), 0, 0, cfg_release_string},
    {"FAKECLOUD_K8S_NODE_SELECTOR", NULL, "nodeSelector (k=v,... or JSON)", key_label_map,
     K8S_FIELD(node_selector), 0, 0, release_json},
    {"FAKECLOUD_K8S_LABELS", NULL, "extra Pod labels", key_label_map, K8S_FIELD(labels), 0, 0,
     release_json},
    {"FAKECLOUD_K8S_ANNOTATIONS", NULL, "extra Pod annotations", key_annotation_map,
     K8S_FIELD(annotations), 0, 0, release_json},
    {"FAKECLOUD_K8S_TOLERATIONS", NULL, "tolerations (JSON list)", key_tolerations,
     K8S_FIELD(tolerations), 0, 0, release_json},
    /* The service level over the three keys above (k8s_tags.h), read after the table. */
    {"FAKECLOUD_LAMBDA_K8S_NODE_SELECTOR", NULL, "nodeSelector of Lambda Pods, over the global key",
     NULL, 0, 0, 0, NULL},
    {"FAKECLOUD_LAMBDA_K8S_TOLERATIONS", NULL, "tolerations of Lambda Pods, added to the global",
     NULL, 0, 0, 0, NULL},
    {"FAKECLOUD_LAMBDA_K8S_ANNOTATIONS", NULL, "annotations of Lambda Pods, over the global key",
     NULL, 0, 0, 0, NULL},
    {"FAKECLOUD_K8S_RUN_AS_USER", NULL, "securityContext.runAsUser", key_run_as_user,
     K8S_FIELD(security_context), 0, 0, release_json},
    {"FAKECLOUD_K8S_RUN_AS_GROUP", NULL, "securityContext.runAsGroup", key_run_as_group,
     K8S_FIELD(security_context), 0, 0, NULL},
    {"FAKECLOUD_K8S_FS_GROUP", NULL, "securityContext.fsGroup", key_fs_group,
     K8S_FIELD(security_context), 0, 0, NULL},
    {"FAKECLOUD_K8S_RUN_AS_NON_ROOT", NULL, "securityContext.runAsNonRoot", key_run_as_non_root,
     K8S_FIELD(security_context), 0, 0, NULL},
    {"FAKECLOUD_K8S_CPU_REQUEST", "none", "CPU request of the runtime container", key_cpu,
     K8S_FIELD(cpu_request), 0, 0, NULL},
    {"FAKECLOUD_K8S_CPU_LIMIT", "none", "CPU limit of the runtime container", key_cpu,
     K8S_FIELD(cpu_limit), 0, 0, NULL},
    {"FAKECLOUD_K8S_RUNNING_TIMEOUT_MS", "60000", "deadline for Running with a podIP", cfg_key_ms,
     K8S_FIELD(running_timeout_ms), 100, 3600000, NULL},
    {"FAKECLOUD_K8S_RIE_TIMEOUT_MS", "10000", "deadline for the RIE to accept once Running",
     cfg_key_ms, K8S_FIELD(rie_timeout_ms), 10, 600000, NULL},
    {"FAKECLOUD_K8S_TERMINATE_GRACE_SECONDS", "5", "gracePeriodSeconds of terminate",
     cfg_key_uint32, K8S_FIELD(terminate_grace_seconds), 0, 3600, NULL},
    {"FAKECLOUD_K8S_TERMINATE_TIMEOUT_MS", "30000", "how long terminate retries", cfg_key_ms,
     K8S_FIELD(terminate_timeout_ms), 100, 3600000, NULL},
    {"FAKECLOUD_K8S_LEASE_SECONDS", "30", "duration of the instance's Lease (reap rule)",
     key_lease_seconds, K8S_FIELD(lease_seconds), 1, 3600, NULL},
    {"FAKECLOUD_K8S_ENDPOINT", "pod-ip", "how runtimes are reached: pod-ip, api-proxy or auto",
     key_endpoint_mode, K8S_FIELD(endpoint_mode), 0, 0, NULL},
    {"FAKECLOUD_K8S_POD_TEMPLATE", NULL, "Pod overlay (JSON or YAML, inline or a file)",
     key_pod_template, K8S_FIELD(pod_template), 0, 0, release_json},
/* The client's keys (docs/k8s-client.md); defaults from kube_client_options_init. */
#define K8S_CLIENT_KEY(name, field, min, max, doc)                                              \
    {                                                                                           \
        "FAKECLOUD_K8S_" name, NULL, doc, key_client_number, K8S_FIELD(client.field), min, max, \
            NULL                                                                                \
    }
    K8S_CLIENT_KEY("REQUEST_TIMEOUT_MS", request_timeout_ms, 100, 3600000,
                   "deadline of one API call, retries included"),
    K8S_CLIENT_KEY("TOKEN_REREAD_MS", token_reread_ms, 0, 86400000,
                   "age at which a token file is read again"),
    K8S_CLIENT_KEY("EXEC_TIMEOUT_MS", exec_timeout_ms, 100, 600000,
                   "bound of an exec credential plugin"),
    K8S_CLIENT_KEY("MAX_ATTEMPTS", max_attempts, 1, 100, "attempts per API call"),
    K8S_CLIENT_KEY("RETRY_BASE_MS", retry_base_ms, 1, 60000, "first backoff ceiling"),
    K8S_CLIENT_KEY("RETRY_CAP_MS", retry_cap_ms, 1, 600000, "largest backoff ceiling"),
    K8S_CLIENT_KEY("WATCH_TIMEOUT_S", watch_timeout_s, 1, 3600, "timeoutSeconds of a watch"),
    K8S_CLIENT_KEY("MAX_CONNECTIONS", max_connections, 1, 64,
                   "keep-alive connections for requests"),
    K8S_CLIENT_KEY("LIST_PAGE_SIZE", list_page_size, 1, 100000, "limit of each list page"),
    K8S_CLIENT_KEY("MAX_RESPONSE_BYTES", max_response_bytes, 1024, 1u << 30,
                   "largest response body"),
#undef K8S_CLIENT_KEY
    /* Read by the kubeconfig loader (kube_config.c), listed for the docs check. */
    {"FAKECLOUD_K8S_CONTEXT", NULL, "kubeconfig context to use", NULL, 0, 0, 0, NULL},
    {"FAKECLOUD_K8S_SA_DIR", NULL, "test hook: directory of the in-cluster ServiceAccount files",
     NULL, 0, 0, 0, NULL},
};

#define K8S_CONFIG_KEYS (sizeof k8s_config_table / sizeof k8s_config_table[0])

const cfg_key *k8s_config_keys(size_t *n)
{
    *n = K8S_CONFIG_KEYS;
    return k8s_config_table;
}

/* Index of the first of the client's keys: they end the table (tuning keys, then the loader's). */
static size_t k8s_config_client_first(void)
{
    size_t i = 0;
    while (i < K8S_CONFIG_KEYS && k8s_config_table[i].parse != key_client_number)
        i++;
    return i;
}

void k8s_config_client_keys(size_t *first, size_t *n)
{
    *first = k8s_config_client_first();
    *n = K8S_CONFIG_KEYS - *first;
}

int k8s_config_client_options(const fcb_host_services *host, kube_client_options *out,
                              fcb_error *err)
{
    k8s_config cfg;

    memset(&cfg, 0, sizeof cfg);
    cfg.client = *out;
    size_t first = 0;
    size_t n = 0;
    k8s_config_client_keys(&first, &n);
    int rc = cfg_table_read(host, k8s_config_table + first, n, &cfg, err);
    if (rc == FCB_OK)
        *out = cfg.client;
    return rc;
}

/* The URL fields are not in the table's release functions (one key fills two or three). */
static void k8s_config_free_urls(const fcb_host_services *host, k8s_config *cfg)
{
    svc_free(host, cfg->self_url);
    svc_free(host, cfg->self_host);
    svc_free(host, cfg->ecr_host);
}

int k8s_config_parse(const fcb_host_services *host, k8s_config **out, fcb_error *err)
{
    *out = NULL;
    /* Named first, before any other key's error: nothing works without it. */
    if (svc_config_nonempty(host, K8S_KEY_SELF_URL) == NULL)
        return err_set(err, FCB_ERR_CONFIG,
                       K8S_KEY_SELF_URL " must be set when FAKECLOUD_LAMBDA_BACKEND=k8s");
    k8s_config *cfg = svc_calloc(host, 1, sizeof *cfg);
    if (cfg == NULL)
        return err_set(err, FCB_ERR_NO_MEMORY, "out of memory allocating the k8s configuration");
    kube_client_options_init(&cfg->client);
    int rc = cfg_table_read(host, k8s_config_table, K8S_CONFIG_KEYS, cfg, err);
    if (rc == FCB_OK)
        rc = k8s_tags_service_read(host, &cfg->service, err);
    if (rc == FCB_OK && cfg->ecr_host == NULL) {
        cfg->ecr_host = svc_strdup(host, cfg->self_host);
        cfg->ecr_port = cfg->self_port;
        if (cfg->ecr_host == NULL)
            rc = err_set(err, FCB_ERR_NO_MEMORY, "out of memory reading the ECR URL");
    }
    if (rc != FCB_OK) {
        k8s_config_free(host, cfg); /* every release is idempotent */
        return rc;
    }
    *out = cfg;
    return FCB_OK;
}

void k8s_config_free(const fcb_host_services *host, k8s_config *cfg)
{
    if (cfg == NULL)
        return;
    cfg_table_free(host, k8s_config_table, K8S_CONFIG_KEYS, cfg);
    k8s_pod_extras_clear(&cfg->service);
    k8s_config_free_urls(host, cfg);
    svc_free(host, cfg);
}

bool k8s_cpu_quantity(const k8s_cpu *c, unsigned memory_mb, char out[32])
{
    unsigned m;
    switch (c->mode) {
    case K8S_CPU_PROPORTIONAL:
        m = (unsigned)(((unsigned long long)memory_mb * 1000u) / K8S_MB_PER_VCPU);
        if (m < 10)
            m = 10;
        break;
    case K8S_CPU_FIXED: m = c->millicores; break;
    default: out[0] = '\0'; return false;
    }
    snprintf(out, 32, "%um", m);
    return true;
}
