/*
 * k8s_config: parsing and validation of the FAKECLOUD_K8S_* keys.
 *
 * URLs go through libcurl's URL API (the same parser the client uses), maps
 * accept "k=v,k2=v2" or a JSON object, and every value is checked against
 * the rule the API server would apply, so a typo fails open() with the key
 * named instead of failing every launch later.
 */
#include "k8s_config.h"

#include "k8s_overlay.h"
#include "labels.h"
#include "names.h"
#include "svc.h"

#include <curl/curl.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define K8S_KEY_SELF_URL "FAKECLOUD_K8S_SELF_URL"
#define K8S_KEY_ECR_URL  "FAKECLOUD_K8S_ECR_URL"

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

static bool config_has_space(const char *s)
{
    for (; *s != '\0'; s++) {
        if ((unsigned char)*s <= ' ' || (unsigned char)*s == 0x7f)
            return true;
    }
    return false;
}

/* Host and port of URL (host-less or unparsable: error naming KEY). */
static int config_parse_url(const char *key, const char *value, unsigned flags, char **host_out,
                            unsigned *port_out, char **scheme_out, char **query_out, fcb_error *err)
{
    CURLU *u = curl_url();
    char *host = NULL;
    char *port = NULL;
    char *scheme = NULL;
    char *query = NULL;
    int rc = FCB_OK;

    *host_out = NULL;
    if (u == NULL)
        return err_set(err, FCB_ERR_NO_MEMORY, "%s: out of memory parsing the URL", key);
    CURLUcode uc = curl_url_set(u, CURLUPART_URL, value, flags);
    if (uc != CURLUE_OK) {
        rc = err_set(err, FCB_ERR_CONFIG, "%s is not a valid URL: %s (%s)", key,
                     curl_url_strerror(uc), value);
        goto out;
    }
    uc = curl_url_get(u, CURLUPART_HOST, &host, 0);
    if (uc != CURLUE_OK || host == NULL || host[0] == '\0') {
        rc = err_set(err, FCB_ERR_CONFIG, "%s is not a valid URL: missing host (%s)", key, value);
        goto out;
    }
    uc = curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT);
    if (uc != CURLUE_OK || port == NULL) {
        rc = err_set(err, FCB_ERR_CONFIG, "%s is not a valid URL: no port for its scheme (%s)", key,
                     value);
        goto out;
    }
    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0);
    if (curl_url_get(u, CURLUPART_QUERY, &query, 0) != CURLUE_OK)
        query = NULL;
    *port_out = (unsigned)strtoul(port, NULL, 10);
    *host_out = host;
    host = NULL;
    if (scheme_out != NULL) {
        *scheme_out = scheme;
        scheme = NULL;
    }
    if (query_out != NULL) {
        *query_out = query;
        query = NULL;
    }
out:
    curl_free(host);
    curl_free(port);
    curl_free(scheme);
    curl_free(query);
    curl_url_cleanup(u);
    return rc;
}

static int config_self_url(const fcb_host_services *host, k8s_config *cfg, fcb_error *err)
{
    const char *value = svc_config_nonempty(host, K8S_KEY_SELF_URL);
    char *h = NULL;
    char *scheme = NULL;
    char *query = NULL;
    int rc;

    if (value == NULL)
        return err_set(err, FCB_ERR_CONFIG,
                       K8S_KEY_SELF_URL " must be set when FAKECLOUD_LAMBDA_BACKEND=k8s");
    if (strlen(value) > 1024)
        return err_set(err, FCB_ERR_CONFIG,
                       K8S_KEY_SELF_URL " is not a valid URL: longer than "
                                        "1024 bytes");
    if (config_has_space(value))
        return err_set(err, FCB_ERR_CONFIG,
                       K8S_KEY_SELF_URL " is not a valid URL: contains whitespace (%.200s)", value);
    rc = config_parse_url(K8S_KEY_SELF_URL, value, 0, &h, &cfg->self_port, &scheme, &query, err);
    if (rc != FCB_OK)
        goto out;
    if (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0) {
        rc = err_set(err, FCB_ERR_CONFIG,
                     K8S_KEY_SELF_URL " is not a valid URL: scheme must be http or https, not %s",
                     scheme);
        goto out;
    }
    if (query != NULL || strchr(value, '#') != NULL) {
        rc = err_set(err, FCB_ERR_CONFIG,
                     K8S_KEY_SELF_URL " is not a valid URL: must not have a query or fragment");
        goto out;
    }
    size_t len = strlen(value);
    while (len > 0 && value[len - 1] == '/')
        len--;
    cfg->self_url = svc_strndup(host, value, len);
    cfg->self_host = svc_strdup(host, h);
    if (cfg->self_url == NULL || cfg->self_host == NULL)
        rc = err_set(err, FCB_ERR_NO_MEMORY, "out of memory reading " K8S_KEY_SELF_URL);
out:
    curl_free(h);
    curl_free(scheme);
    curl_free(query);
    return rc;
}

static int config_ecr_url(const fcb_host_services *host, k8s_config *cfg, fcb_error *err)
{
    const char *value = svc_config_nonempty(host, K8S_KEY_ECR_URL);
    char *h = NULL;

    if (value == NULL) {
        cfg->ecr_host = svc_strdup(host, cfg->self_host);
        cfg->ecr_port = cfg->self_port;
        return cfg->ecr_host != NULL ? FCB_OK : err_set(err, FCB_ERR_NO_MEMORY, "out of memory");
    }
    if (config_has_space(value) || strlen(value) > 300)
        return err_set(err, FCB_ERR_CONFIG,
                       K8S_KEY_ECR_URL " is not a valid URL: whitespace or longer than 300 "
                                       "bytes (%.300s)",
                       value);
    /* "host:port" alone is accepted (scheme defaults to https, port 443). */
    int rc = config_parse_url(K8S_KEY_ECR_URL, value, CURLU_DEFAULT_SCHEME, &h, &cfg->ecr_port,
                              NULL, NULL, err);
    if (rc != FCB_OK)
        return rc;
    cfg->ecr_host = svc_strdup(host, h);
    curl_free(h);
    return cfg->ecr_host != NULL ? FCB_OK : err_set(err, FCB_ERR_NO_MEMORY, "out of memory");
}

/* Unsigned integer in [min, max]; default when unset. */
static int config_uint(const fcb_host_services *host, const char *key, unsigned def, unsigned min,
                       unsigned max, unsigned *out, fcb_error *err)
{
    const char *value = svc_config_nonempty(host, key);
    *out = def;
    if (value == NULL)
        return FCB_OK;
    char *end = NULL;
    errno = 0;
    unsigned long v = strtoul(value, &end, 10);
    if (value[0] < '0' || value[0] > '9' || errno != 0 || end == NULL || *end != '\0' || v < min ||
        v > max)
        return err_set(err, FCB_ERR_CONFIG, "%s: must be an integer from %u to %u, got \"%.100s\"",
                       key, min, max, value);
    *out = (unsigned)v;
    return FCB_OK;
}

static int config_string(const fcb_host_services *host, const char *key, const char *def,
                         bool (*valid)(const char *), const char *rule, char **out, fcb_error *err)
{
    const char *value = svc_config_nonempty(host, key);
    *out = NULL;
    if (value == NULL)
        value = def;
    if (value == NULL)
        return FCB_OK;
    if (valid != NULL && !valid(value))
        return err_set(err, FCB_ERR_CONFIG, "%s: \"%.200s\" is not valid: %s", key, value, rule);
    *out = svc_strdup(host, value);
    return *out != NULL ? FCB_OK : err_set(err, FCB_ERR_NO_MEMORY, "out of memory reading %s", key);
}

static bool config_is_image(const char *s)
{
    return s[0] != '\0' && strlen(s) < 256 && !config_has_space(s);
}

static bool config_is_image_prefix(const char *s)
{
    return config_is_image(s) && s[strlen(s) - 1] == '/';
}

static bool config_is_pull_policy(const char *s)
{
    return strcmp(s, "Always") == 0 || strcmp(s, "IfNotPresent") == 0 || strcmp(s, "Never") == 0;
}

static bool config_is_namespace(const char *s)
{
    return names_is_dns_label(s);
}

/*
 * Parse a map key: "k=v,k2=v2" or a JSON object of strings. LABELS selects
 * the label rules (values label-safe, keys not fakecloud-*) over annotation
 * rules (any value).
 */
static int config_map(const fcb_host_services *host, const char *key, bool labels,
                      json_object **out, fcb_error *err)
{
    const char *value = svc_config_nonempty(host, key);
    json_object *map = NULL;
    int rc = FCB_OK;

    *out = NULL;
    if (value == NULL)
        return FCB_OK;
    size_t skip = strspn(value, " \t\r\n");
    if (value[skip] == '{') {
        map = json_tokener_parse(value);
        if (map == NULL || !json_object_is_type(map, json_type_object)) {
            rc = err_set(err, FCB_ERR_CONFIG, "%s: not a JSON object of strings", key);
            goto out;
        }
    } else {
        map = json_object_new_object();
        if (map == NULL) {
            rc = err_set(err, FCB_ERR_NO_MEMORY, "out of memory reading %s", key);
            goto out;
        }
        const char *p = value;
        for (size_t items = 0; *p != '\0' && items < 256; items++) {
            const char *comma = strchr(p, ',');
            size_t n = comma != NULL ? (size_t)(comma - p) : strlen(p);
            char *item = svc_strndup(host, p, n);
            if (item == NULL) {
                rc = err_set(err, FCB_ERR_NO_MEMORY, "out of memory reading %s", key);
                goto out;
            }
            char *eq = strchr(item, '=');
            if (eq == NULL || eq == item) {
                rc = err_set(err, FCB_ERR_CONFIG,
                             "%s: \"%.100s\" is not key=value (use k=v,k2=v2 or a JSON object)",
                             key, item);
                svc_free(host, item);
                goto out;
            }
            *eq = '\0';
            json_object_object_add(map, item, json_object_new_string(eq + 1));
            svc_free(host, item);
            p += n;
            if (*p == ',')
                p++;
        }
        if (*p != '\0') {
            rc = err_set(err, FCB_ERR_CONFIG, "%s: more than 256 entries", key);
            goto out;
        }
    }
    json_object_object_foreach(map, k, v)
    {
        if (!json_object_is_type(v, json_type_string)) {
            rc = err_set(err, FCB_ERR_CONFIG, "%s: value of %s must be a string", key, k);
            goto out;
        }
        if (!config_is_qualified_key(k)) {
            rc = err_set(err, FCB_ERR_CONFIG,
                         "%s: key \"%.100s\" is not a valid label/annotation key ([prefix/]name, "
                         "name of at most 63 of [A-Za-z0-9._-], alphanumeric at both ends)",
                         key, k);
            goto out;
        }
        if (labels && strncmp(k, LABEL_RESERVED_PREFIX, strlen(LABEL_RESERVED_PREFIX)) == 0) {
            rc = err_set(err, FCB_ERR_CONFIG, "%s: key %s is reserved for the backend", key, k);
            goto out;
        }
        if (labels && !names_is_label_value(json_object_get_string(v))) {
            rc = err_set(err, FCB_ERR_CONFIG,
                         "%s: value \"%.100s\" of %s is not a valid label value (at most 63 of "
                         "[A-Za-z0-9._-], alphanumeric at both ends)",
                         key, json_object_get_string(v), k);
            goto out;
        }
    }
    if (json_object_object_length(map) > 0) {
        *out = map;
        map = NULL;
    }
out:
    json_object_put(map);
    return rc;
}

static int config_tolerations(const fcb_host_services *host, const char *key, json_object **out,
                              fcb_error *err)
{
    static const char *const allowed[] = {"key",    "operator",          "value",
                                          "effect", "tolerationSeconds", NULL};
    const char *value = svc_config_nonempty(host, key);
    json_object *list = NULL;
    int rc = FCB_OK;

    *out = NULL;
    if (value == NULL)
        return FCB_OK;
    list = json_tokener_parse(value);
    if (list == NULL || !json_object_is_type(list, json_type_array)) {
        rc = err_set(err, FCB_ERR_CONFIG,
                     "%s: must be a JSON list of tolerations, e.g. "
                     "[{\"key\":\"k\",\"operator\":\"Exists\",\"effect\":\"NoSchedule\"}]",
                     key);
        goto out;
    }
    for (size_t i = 0; i < json_object_array_length(list); i++) {
        json_object *t = json_object_array_get_idx(list, i);
        if (!json_object_is_type(t, json_type_object)) {
            rc = err_set(err, FCB_ERR_CONFIG, "%s[%zu]: must be an object", key, i);
            goto out;
        }
        json_object_object_foreach(t, k, v)
        {
            bool ok = false;
            for (size_t a = 0; allowed[a] != NULL; a++)
                ok = ok || strcmp(k, allowed[a]) == 0;
            if (!ok) {
                rc = err_set(err, FCB_ERR_CONFIG, "%s[%zu]: unknown field %s", key, i, k);
                goto out;
            }
            bool want_int = strcmp(k, "tolerationSeconds") == 0;
            if (want_int ? !json_object_is_type(v, json_type_int)
                         : !json_object_is_type(v, json_type_string)) {
                rc = err_set(err, FCB_ERR_CONFIG, "%s[%zu].%s: must be %s", key, i, k,
                             want_int ? "an integer" : "a string");
                goto out;
            }
        }
        const char *op = json_object_get_string(json_object_object_get(t, "operator"));
        if (op != NULL && strcmp(op, "Exists") != 0 && strcmp(op, "Equal") != 0) {
            rc = err_set(err, FCB_ERR_CONFIG, "%s[%zu].operator: must be Exists or Equal, not %s",
                         key, i, op);
            goto out;
        }
        const char *effect = json_object_get_string(json_object_object_get(t, "effect"));
        if (effect != NULL && effect[0] != '\0' && strcmp(effect, "NoSchedule") != 0 &&
            strcmp(effect, "PreferNoSchedule") != 0 && strcmp(effect, "NoExecute") != 0) {
            rc = err_set(err, FCB_ERR_CONFIG,
                         "%s[%zu].effect: must be NoSchedule, PreferNoSchedule or NoExecute, "
                         "not %s",
                         key, i, effect);
            goto out;
        }
    }
    *out = list;
    list = NULL;
out:
    json_object_put(list);
    return rc;
}

/* "proportional", "none", "<n>m" or "<n>[.<d>]" cores. */
static int config_cpu(const fcb_host_services *host, const char *key, k8s_cpu def, k8s_cpu *out,
                      fcb_error *err)
{
    const char *value = svc_config_nonempty(host, key);
    *out = def;
    if (value == NULL)
        return FCB_OK;
    if (strcmp(value, "proportional") == 0) {
        out->mode = K8S_CPU_PROPORTIONAL;
        return FCB_OK;
    }
    if (strcmp(value, "none") == 0) {
        out->mode = K8S_CPU_NONE;
        return FCB_OK;
    }
    unsigned long whole = 0;
    unsigned long milli = 0;
    const char *p = value;
    size_t digits = 0;
    for (; *p >= '0' && *p <= '9' && digits < 7; p++, digits++)
        whole = whole * 10 + (unsigned long)(*p - '0');
    bool ok = digits > 0;
    if (ok && *p == 'm' && p[1] == '\0') {
        milli = whole;
    } else if (ok && (*p == '\0' || *p == '.')) {
        milli = whole * 1000;
        if (*p == '.') {
            unsigned long scale = 100;
            p++;
            ok = *p != '\0';
            for (; ok && *p != '\0'; p++, scale /= 10) {
                if (*p < '0' || *p > '9' || scale == 0)
                    ok = false;
                else
                    milli += (unsigned long)(*p - '0') * scale;
            }
        }
    } else {
        ok = false;
    }
    if (!ok || milli == 0 || milli > 1000000)
        return err_set(err, FCB_ERR_CONFIG,
                       "%s: \"%.100s\" is not a CPU quantity (e.g. 250m or 0.5 or 2, at most "
                       "1000 cores), \"proportional\" or \"none\"",
                       key, value);
    out->mode = K8S_CPU_FIXED;
    out->millicores = (unsigned)milli;
    return FCB_OK;
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

static int config_bool(const fcb_host_services *host, const char *key, int *out, fcb_error *err)
{
    const char *value = svc_config_nonempty(host, key);
    *out = -1;
    if (value == NULL)
        return FCB_OK;
    if (strcmp(value, "true") == 0 || strcmp(value, "1") == 0)
        *out = 1;
    else if (strcmp(value, "false") == 0 || strcmp(value, "0") == 0)
        *out = 0;
    else
        return err_set(err, FCB_ERR_CONFIG, "%s: must be true or false, got \"%.100s\"", key,
                       value);
    return FCB_OK;
}

static int config_security_context(const fcb_host_services *host, k8s_config *cfg, fcb_error *err)
{
    static const struct {
        const char *key;
        const char *field;
    } ids[] = {{"FAKECLOUD_K8S_RUN_AS_USER", "runAsUser"},
               {"FAKECLOUD_K8S_RUN_AS_GROUP", "runAsGroup"},
               {"FAKECLOUD_K8S_FS_GROUP", "fsGroup"}};
    json_object *sc = NULL;
    int rc = FCB_OK;
    int non_root = -1;

    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        if (svc_config_nonempty(host, ids[i].key) == NULL)
            continue;
        unsigned v = 0;
        rc = config_uint(host, ids[i].key, 0, 0, INT_MAX, &v, err);
        if (rc != FCB_OK)
            goto out;
        if (sc == NULL && (sc = json_object_new_object()) == NULL) {
            rc = err_set(err, FCB_ERR_NO_MEMORY, "out of memory");
            goto out;
        }
        json_object_object_add(sc, ids[i].field, json_object_new_int64(v));
    }
    rc = config_bool(host, "FAKECLOUD_K8S_RUN_AS_NON_ROOT", &non_root, err);
    if (rc != FCB_OK)
        goto out;
    if (non_root >= 0) {
        if (sc == NULL && (sc = json_object_new_object()) == NULL) {
            rc = err_set(err, FCB_ERR_NO_MEMORY, "out of memory");
            goto out;
        }
        json_object_object_add(sc, "runAsNonRoot", json_object_new_boolean(non_root));
    }
    cfg->security_context = sc;
    sc = NULL;
out:
    json_object_put(sc);
    return rc;
}

static bool config_is_name(const char *s)
{
    return config_is_dns_subdomain(s);
}

int k8s_config_parse(const fcb_host_services *host, k8s_config **out, fcb_error *err)
{
    k8s_config *cfg = svc_calloc(host, 1, sizeof *cfg);
    int rc;
    const char *tmpl;

    *out = NULL;
    if (cfg == NULL)
        return err_set(err, FCB_ERR_NO_MEMORY, "out of memory allocating the k8s configuration");
    if ((rc = config_self_url(host, cfg, err)) != FCB_OK)
        goto fail;
    if ((rc = config_ecr_url(host, cfg, err)) != FCB_OK)
        goto fail;
    if ((rc = config_string(host, "FAKECLOUD_K8S_NAMESPACE", NULL, config_is_namespace,
                            "must be a DNS-1123 label (lower case alphanumerics and '-', at "
                            "most 63)",
                            &cfg->namespace_name, err)) != FCB_OK)
        goto fail;
    if ((rc = config_string(host, "FAKECLOUD_K8S_PULL_SECRET", NULL, config_is_name,
                            "must be a Secret name (DNS-1123 subdomain)", &cfg->pull_secret,
                            err)) != FCB_OK)
        goto fail;
    if ((rc = config_string(host, "FAKECLOUD_K8S_SERVICE_ACCOUNT", NULL, config_is_name,
                            "must be a ServiceAccount name (DNS-1123 subdomain)",
                            &cfg->service_account, err)) != FCB_OK)
        goto fail;
    if ((rc = config_string(host, "FAKECLOUD_K8S_PRIORITY_CLASS", NULL, config_is_name,
                            "must be a PriorityClass name (DNS-1123 subdomain)",
                            &cfg->priority_class, err)) != FCB_OK)
        goto fail;
    if ((rc = config_string(host, "FAKECLOUD_K8S_INIT_IMAGE", K8S_DEFAULT_INIT_IMAGE,
                            config_is_image, "must be an image reference without whitespace",
                            &cfg->init_image, err)) != FCB_OK)
        goto fail;
    if ((rc =
             config_string(host, "FAKECLOUD_K8S_RUNTIME_IMAGE_PREFIX", NULL, config_is_image_prefix,
                           "must be a registry path ending in '/', e.g. mirror.local:5000/lambda/",
                           &cfg->image_prefix, err)) != FCB_OK)
        goto fail;
    if ((rc = config_string(host, "FAKECLOUD_K8S_IMAGE_PULL_POLICY", NULL, config_is_pull_policy,
                            "must be Always, IfNotPresent or Never", &cfg->pull_policy, err)) !=
        FCB_OK)
        goto fail;
    if ((rc = config_map(host, "FAKECLOUD_K8S_NODE_SELECTOR", true, &cfg->node_selector, err)) !=
        FCB_OK)
        goto fail;
    if ((rc = config_map(host, "FAKECLOUD_K8S_LABELS", true, &cfg->labels, err)) != FCB_OK)
        goto fail;
    if ((rc = config_map(host, "FAKECLOUD_K8S_ANNOTATIONS", false, &cfg->annotations, err)) !=
        FCB_OK)
        goto fail;
    if ((rc = config_tolerations(host, "FAKECLOUD_K8S_TOLERATIONS", &cfg->tolerations, err)) !=
        FCB_OK)
        goto fail;
    if ((rc = config_security_context(host, cfg, err)) != FCB_OK)
        goto fail;
    if ((rc = config_cpu(host, "FAKECLOUD_K8S_CPU_REQUEST", (k8s_cpu){K8S_CPU_NONE, 0},
                         &cfg->cpu_request, err)) != FCB_OK)
        goto fail;
    if ((rc = config_cpu(host, "FAKECLOUD_K8S_CPU_LIMIT", (k8s_cpu){K8S_CPU_NONE, 0},
                         &cfg->cpu_limit, err)) != FCB_OK)
        goto fail;
    if ((rc = config_uint(host, "FAKECLOUD_K8S_RUNNING_TIMEOUT_MS", K8S_DEFAULT_RUNNING_TIMEOUT_MS,
                          100, 3600000, &cfg->running_timeout_ms, err)) != FCB_OK)
        goto fail;
    if ((rc = config_uint(host, "FAKECLOUD_K8S_RIE_TIMEOUT_MS", K8S_DEFAULT_RIE_TIMEOUT_MS, 10,
                          600000, &cfg->rie_timeout_ms, err)) != FCB_OK)
        goto fail;
    if ((rc = config_uint(host, "FAKECLOUD_K8S_TERMINATE_GRACE_SECONDS", 5, 0, 3600,
                          &cfg->terminate_grace_seconds, err)) != FCB_OK)
        goto fail;
    if ((rc = config_uint(host, "FAKECLOUD_K8S_TERMINATE_TIMEOUT_MS",
                          K8S_DEFAULT_TERMINATE_TIMEOUT_MS, 100, 3600000,
                          &cfg->terminate_timeout_ms, err)) != FCB_OK)
        goto fail;
    tmpl = svc_config_nonempty(host, "FAKECLOUD_K8S_POD_TEMPLATE");
    if (tmpl != NULL && (rc = k8s_overlay_load(host, "FAKECLOUD_K8S_POD_TEMPLATE", tmpl,
                                               &cfg->pod_template, err)) != FCB_OK)
        goto fail;
    *out = cfg;
    return FCB_OK;
fail:
    k8s_config_free(host, cfg);
    return rc;
}

void k8s_config_free(const fcb_host_services *host, k8s_config *cfg)
{
    if (cfg == NULL)
        return;
    svc_free(host, cfg->self_url);
    svc_free(host, cfg->self_host);
    svc_free(host, cfg->ecr_host);
    svc_free(host, cfg->namespace_name);
    svc_free(host, cfg->pull_secret);
    svc_free(host, cfg->service_account);
    svc_free(host, cfg->init_image);
    svc_free(host, cfg->image_prefix);
    svc_free(host, cfg->pull_policy);
    svc_free(host, cfg->priority_class);
    json_object_put(cfg->node_selector);
    json_object_put(cfg->tolerations);
    json_object_put(cfg->labels);
    json_object_put(cfg->annotations);
    json_object_put(cfg->security_context);
    json_object_put(cfg->pod_template);
    svc_free(host, cfg);
}
