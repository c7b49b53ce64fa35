/*
 * k8s_tags: one parser per syntax with a strict (configuration) and a
 * lenient (tag) mode; the merge copies references into a new set.
 */
#include "k8s_tags.h"

#include "names.h"
#include "svc.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define SERVICE_PREFIX     "FAKECLOUD_LAMBDA_K8S_"
#define ANNOTATION_PRIVATE "fakecloud-"

static void warn_add(k8s_tags_warnings *w, const char *fmt, ...) SVC_PRINTF(2, 3);

static void warn_add(k8s_tags_warnings *w, const char *fmt, ...)
{
    if (w == NULL)
        return;
    if (w->n == K8S_TAGS_WARN_MAX) {
        w->dropped++;
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->message[w->n++], K8S_TAGS_WARN_SIZE, fmt, ap);
    va_end(ap);
}

/*
 * One problem: an error in strict mode (returned), else a warning (FCB_OK is
 * returned so the caller skips the entry and goes on).
 */
static int problem(bool strict, fcb_error *err, k8s_tags_warnings *w, const char *fmt, ...)
    SVC_PRINTF(4, 5);

static int problem(bool strict, fcb_error *err, k8s_tags_warnings *w, const char *fmt, ...)
{
    char text[K8S_TAGS_WARN_SIZE];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    if (strict)
        return err_set(err, FCB_ERR_CONFIG, "%s", text);
    warn_add(w, "%s (ignored)", text);
    return FCB_OK;
}

static bool is_dns_subdomain(const char *s, size_t n)
{
    if (n == 0 || n > 253)
        return false;
    for (size_t i = 0, label = 0; i <= n; i++) {
        if (i == n || s[i] == '.') {
            if (label == 0 || s[i - 1] == '-')
                return false;
            label = 0;
            continue;
        }
        char c = s[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
        if (!alnum && !(c == '-' && label > 0))
            return false;
        if (++label > 63)
            return false;
    }
    return true;
}

/* [prefix/]name: prefix a DNS subdomain, name a non-empty label value. */
static bool is_qualified_key(const char *key)
{
    const char *slash = strchr(key, '/');
    if (slash != NULL && !is_dns_subdomain(key, (size_t)(slash - key)))
        return false;
    const char *name = slash != NULL ? slash + 1 : key;
    return name[0] != '\0' && names_is_label_value(name);
}

/* Check one entry; FCB_OK + *keep when it may go into the map. */
static int map_entry_check(const char *what, const char *k, json_object *v, k8s_tags_map_kind kind,
                           bool strict, bool *keep, k8s_tags_warnings *w, fcb_error *err)
{
    *keep = false;
    if (!json_object_is_type(v, json_type_string))
        return problem(strict, err, w, "%s: value of %.64s must be a string", what, k);
    if (!is_qualified_key(k))
        return problem(strict, err, w,
                       "%s: key \"%.64s\" is not a valid label/annotation key ([prefix/]name, "
                       "name of at most 63 of [A-Za-z0-9._-], alphanumeric at both ends)",
                       what, k);
    const char *val = json_object_get_string(v);
    bool private_key = strncmp(k, ANNOTATION_PRIVATE, strlen(ANNOTATION_PRIVATE)) == 0;
    if (kind != K8S_TAGS_ANNOTATIONS && !names_is_label_value(val))
        return problem(strict, err, w,
                       "%s: value \"%.64s\" of %.64s is not a valid label value (at most 63 of "
                       "[A-Za-z0-9._-], alphanumeric at both ends)",
                       what, val, k);
    if (private_key && (kind == K8S_TAGS_LABELS || (kind == K8S_TAGS_ANNOTATIONS && !strict)))
        return problem(strict, err, w, "%s: key %.64s is reserved for the backend", what, k);
    *keep = true;
    return FCB_OK;
}

/* "k=v,k2=v2" into a JSON object of strings (entries trimmed, empty ones skipped). */
static int kv_to_object(const char *what, const char *value, bool strict, json_object *map,
                        k8s_tags_warnings *w, fcb_error *err)
{
    const char *p = value;
    for (size_t items = 0; *p != '\0'; items++) {
        if (items == K8S_TAGS_MAP_MAX)
            return problem(strict, err, w, "%s: more than %d entries", what, K8S_TAGS_MAP_MAX);
        const char *comma = strchr(p, ',');
        size_t n = comma != NULL ? (size_t)(comma - p) : strlen(p);
        char item[512];
        size_t lead = strspn(p, " \t");
        const char *entry = p + (lead < n ? lead : n);
        size_t len = n > lead ? n - lead : 0;
        while (len > 0 && (entry[len - 1] == ' ' || entry[len - 1] == '\t'))
            len--;
        p += comma != NULL ? n + 1 : n;
        if (len == 0)
            continue;
        if (len >= sizeof item) {
            int rc = problem(strict, err, w, "%s: an entry is longer than %zu bytes", what,
                             sizeof item - 1);
            if (rc != FCB_OK)
                return rc;
            continue;
        }
        memcpy(item, entry, len);
        item[len] = '\0';
        char *eq = strchr(item, '=');
        if (eq == NULL || eq == item) {
            int rc = problem(strict, err, w,
                             "%s: \"%.64s\" is not key=value (use k=v,k2=v2 or a JSON object)",
                             what, item);
            if (rc != FCB_OK)
                return rc;
            continue;
        }
        *eq = '\0';
        for (size_t kl = strlen(item); kl > 0 && (item[kl - 1] == ' ' || item[kl - 1] == '\t');)
            item[--kl] = '\0';
        const char *val = eq + 1 + strspn(eq + 1, " \t");
        json_object *s = json_object_new_string(val);
        if (s == NULL || json_object_object_add(map, item, s) != 0) {
            json_object_put(s);
            return err_set(err, FCB_ERR_NO_MEMORY, "%s: out of memory", what);
        }
    }
    return FCB_OK;
}

int k8s_tags_parse_map(const char *what, const char *value, k8s_tags_map_kind kind, bool strict,
                       json_object **out, k8s_tags_warnings *warn, fcb_error *err)
{
    json_object *raw = NULL, *map = NULL;
    int rc = FCB_OK;
    *out = NULL;
    if (value == NULL || value[strspn(value, " \t\r\n")] == '\0')
        return FCB_OK;
    if (value[strspn(value, " \t\r\n")] == '{') {
        raw = json_tokener_parse(value);
        if (raw == NULL || !json_object_is_type(raw, json_type_object)) {
            rc = problem(strict, err, warn, "%s: not a JSON object of strings", what);
            goto out;
        }
    } else {
        raw = json_object_new_object();
        if (raw == NULL) {
            rc = err_set(err, FCB_ERR_NO_MEMORY, "%s: out of memory", what);
            goto out;
        }
        if ((rc = kv_to_object(what, value, strict, raw, warn, err)) != FCB_OK)
            goto out;
    }
    map = json_object_new_object();
    if (map == NULL) {
        rc = err_set(err, FCB_ERR_NO_MEMORY, "%s: out of memory", what);
        goto out;
    }
    json_object_object_foreach(raw, k, v)
    {
        bool keep = false;
        if ((rc = map_entry_check(what, k, v, kind, strict, &keep, warn, err)) != FCB_OK)
            goto out;
        if (keep && json_object_object_add(map, k, json_object_get(v)) != 0) {
            rc = err_set(err, FCB_ERR_NO_MEMORY, "%s: out of memory", what);
            goto out;
        }
    }
    if (json_object_object_length(map) > 0) {
        *out = map;
        map = NULL;
    }
out:
    json_object_put(raw);
    json_object_put(map);
    return rc;
}

/* Whether T's string member NAME is set and not "". */
static const char *toleration_string(json_object *t, const char *name)
{
    const char *v = json_object_get_string(json_object_object_get(t, name));
    return v != NULL && v[0] != '\0' ? v : NULL;
}

/* Known fields of the right types; WHY gets ".field: problem" or ": problem". */
static bool toleration_fields_ok(json_object *t, char *why, size_t size)
{
    static const char *const fields[] = {"key", "operator", "value", "effect", "tolerationSeconds"};
    if (!json_object_is_type(t, json_type_object)) {
        snprintf(why, size, ": must be an object");
        return false;
    }
    json_object_object_foreach(t, k, v)
    {
        size_t f = 0;
        while (f < 5 && strcmp(k, fields[f]) != 0)
            f++;
        if (f == 5) {
            snprintf(why, size, ": unknown field %.64s", k);
            return false;
        }
        bool want_int = f == 4;
        if (want_int ? !json_object_is_type(v, json_type_int)
                     : !json_object_is_type(v, json_type_string)) {
            snprintf(why, size, ".%s: must be %s", k, want_int ? "an integer" : "a string");
            return false;
        }
    }
    return true;
}

bool k8s_toleration_check(json_object *t, char *why, size_t size)
{
    if (!toleration_fields_ok(t, why, size))
        return false;
    const char *key = toleration_string(t, "key");
    const char *op = toleration_string(t, "operator");
    const char *value = toleration_string(t, "value");
    const char *effect = toleration_string(t, "effect");
    bool exists = op != NULL && strcmp(op, "Exists") == 0;
    if (op != NULL && !exists && strcmp(op, "Equal") != 0)
        snprintf(why, size, ".operator: must be Exists or Equal, not %.64s", op);
    else if (effect != NULL && strcmp(effect, "NoSchedule") != 0 &&
             strcmp(effect, "PreferNoSchedule") != 0 && strcmp(effect, "NoExecute") != 0)
        snprintf(why, size, ".effect: must be NoSchedule, PreferNoSchedule or NoExecute, not %.64s",
                 effect);
    else if (key != NULL && !is_qualified_key(key))
        snprintf(why, size, ".key: \"%.64s\" is not a valid label key ([prefix/]name)", key);
    else if (key == NULL && !exists)
        snprintf(why, size, ".operator: must be Exists when key is empty (matches every taint)");
    else if (exists && value != NULL)
        snprintf(why, size, ".value: must be empty when operator is Exists");
    else if (value != NULL && !names_is_label_value(value))
        snprintf(why, size,
                 ".value: \"%.64s\" is not a valid label value (at most 63 of [A-Za-z0-9._-], "
                 "alphanumeric at both ends)",
                 value);
    else if (json_object_object_get(t, "tolerationSeconds") != NULL &&
             (effect == NULL || strcmp(effect, "NoExecute") != 0))
        snprintf(why, size, ".effect: must be NoExecute when tolerationSeconds is set");
    else
        return true;
    return false;
}

/* Append t to list unless an equal toleration is there; false on allocation failure. */
static bool toleration_add(json_object *list, json_object *t)
{
    for (size_t j = 0; j < json_object_array_length(list); j++)
        if (json_object_equal(json_object_array_get_idx(list, j), t))
            return true;
    return json_object_array_add(list, json_object_get(t)) == 0;
}

int k8s_tags_parse_tolerations(const char *what, const char *value, bool strict, json_object **out,
                               k8s_tags_warnings *warn, fcb_error *err)
{
    json_object *raw = NULL, *list = NULL;
    int rc = FCB_OK;
    *out = NULL;
    if (value == NULL || value[strspn(value, " \t\r\n")] == '\0')
        return FCB_OK;
    raw = json_tokener_parse(value);
    if (raw == NULL || !json_object_is_type(raw, json_type_array)) {
        rc = problem(strict, err, warn,
                     "%s: must be a JSON list of tolerations, e.g. "
                     "[{\"key\":\"k\",\"operator\":\"Exists\",\"effect\":\"NoSchedule\"}]",
                     what);
        goto out;
    }
    if ((list = json_object_new_array()) == NULL) {
        rc = err_set(err, FCB_ERR_NO_MEMORY, "%s: out of memory", what);
        goto out;
    }
    for (size_t i = 0; i < json_object_array_length(raw); i++) {
        json_object *t = json_object_array_get_idx(raw, i);
        char why[K8S_TAGS_WARN_SIZE];
        if (!k8s_toleration_check(t, why, sizeof why)) {
            if ((rc = problem(strict, err, warn, "%s[%zu]%s", what, i, why)) != FCB_OK)
                goto out;
            continue;
        }
        if (!toleration_add(list, t)) {
            rc = err_set(err, FCB_ERR_NO_MEMORY, "%s: out of memory", what);
            goto out;
        }
    }
    if (json_object_array_length(list) > 0) {
        *out = list;
        list = NULL;
    }
out:
    json_object_put(raw);
    json_object_put(list);
    return rc;
}

void k8s_pod_extras_clear(k8s_pod_extras *e)
{
    if (e == NULL)
        return;
    json_object_put(e->node_selector);
    json_object_put(e->tolerations);
    json_object_put(e->annotations);
    memset(e, 0, sizeof *e);
}

int k8s_tags_service_read(const fcb_host_services *host, k8s_pod_extras *out, fcb_error *err)
{
    memset(out, 0, sizeof *out);
    int rc = k8s_tags_parse_map(SERVICE_PREFIX "NODE_SELECTOR",
                                svc_config_nonempty(host, SERVICE_PREFIX "NODE_SELECTOR"),
                                K8S_TAGS_NODE_SELECTOR, true, &out->node_selector, NULL, err);
    if (rc == FCB_OK)
        rc = k8s_tags_parse_map(SERVICE_PREFIX "ANNOTATIONS",
                                svc_config_nonempty(host, SERVICE_PREFIX "ANNOTATIONS"),
                                K8S_TAGS_ANNOTATIONS, true, &out->annotations, NULL, err);
    if (rc == FCB_OK)
        rc = k8s_tags_parse_tolerations(SERVICE_PREFIX "TOLERATIONS",
                                        svc_config_nonempty(host, SERVICE_PREFIX "TOLERATIONS"),
                                        true, &out->tolerations, NULL, err);
    if (rc != FCB_OK)
        k8s_pod_extras_clear(out);
    return rc;
}

const char *k8s_arch_label(const char *architecture)
{
    if (strcmp(architecture, "arm64") == 0)
        return "arm64";
    if (strcmp(architecture, "x86_64") == 0)
        return "amd64";
    return NULL;
}

/* Set kubernetes.io/arch in e->node_selector, warning when a tag said otherwise. */
static int arch_apply(k8s_pod_extras *e, const char *label, k8s_tags_warnings *warn, fcb_error *err)
{
    if (e->node_selector == NULL && (e->node_selector = json_object_new_object()) == NULL)
        return err_set(err, FCB_ERR_NO_MEMORY, "architecture: out of memory");
    json_object *old = json_object_object_get(e->node_selector, K8S_ARCH_LABEL);
    if (old != NULL && strcmp(json_object_get_string(old), label) != 0)
        warn_add(warn, "%s: %s=%.64s overridden by the function's architecture (%s=%s)",
                 K8S_TAG_NODE_SELECTOR, K8S_ARCH_LABEL, json_object_get_string(old), K8S_ARCH_LABEL,
                 label);
    json_object *s = json_object_new_string(label);
    if (s == NULL || json_object_object_add(e->node_selector, K8S_ARCH_LABEL, s) != 0) {
        json_object_put(s);
        return err_set(err, FCB_ERR_NO_MEMORY, "architecture: out of memory");
    }
    return FCB_OK;
}

int k8s_tags_from_function(const k8s_tag *tags, size_t n_tags, const char *architecture,
                           k8s_pod_extras *out, k8s_tags_warnings *warn, fcb_error *err)
{
    const char *selector = NULL, *tolerations = NULL, *annotations = NULL;
    const char *label = NULL;
    memset(out, 0, sizeof *out);
    if (architecture != NULL && architecture[0] != '\0' &&
        (label = k8s_arch_label(architecture)) == NULL)
        return err_set(err, FCB_ERR_INVALID_ARGUMENT,
                       "architecture \"%.64s\" is not supported (use arm64 or x86_64)",
                       architecture);
    for (size_t i = 0; tags != NULL && i < n_tags; i++) {
        const char *k = tags[i].key;
        if (k == NULL)
            continue;
        if (strcmp(k, K8S_TAG_NODE_SELECTOR) == 0)
            selector = tags[i].value;
        else if (strcmp(k, K8S_TAG_TOLERATIONS) == 0)
            tolerations = tags[i].value;
        else if (strcmp(k, K8S_TAG_ANNOTATIONS) == 0)
            annotations = tags[i].value;
    }
    int rc = k8s_tags_parse_map(K8S_TAG_NODE_SELECTOR, selector, K8S_TAGS_NODE_SELECTOR, false,
                                &out->node_selector, warn, err);
    if (rc == FCB_OK)
        rc = k8s_tags_parse_map(K8S_TAG_ANNOTATIONS, annotations, K8S_TAGS_ANNOTATIONS, false,
                                &out->annotations, warn, err);
    if (rc == FCB_OK)
        rc = k8s_tags_parse_tolerations(K8S_TAG_TOLERATIONS, tolerations, false, &out->tolerations,
                                        warn, err);
    if (rc == FCB_OK && label != NULL)
        rc = arch_apply(out, label, warn, err);
    if (rc != FCB_OK)
        k8s_pod_extras_clear(out);
    return rc;
}

/* New object: base's entries, then higher's over them (NULL when both are empty). */
static int map_merge(json_object *base, json_object *higher, json_object **out,
                     k8s_tags_warnings *warn, fcb_error *err)
{
    *out = NULL;
    if (base == NULL && higher == NULL)
        return FCB_OK;
    json_object *m = json_object_new_object();
    if (m == NULL)
        return err_set(err, FCB_ERR_NO_MEMORY, "merging Pod settings: out of memory");
    json_object *parts[2] = {base, higher};
    for (int p = 0; p < 2; p++) {
        if (parts[p] == NULL)
            continue;
        json_object_object_foreach(parts[p], k, v)
        {
            json_object *old = p == 1 ? json_object_object_get(m, k) : NULL;
            if (old != NULL && strcmp(k, K8S_ARCH_LABEL) == 0 &&
                strcmp(json_object_get_string(old), json_object_get_string(v)) != 0)
                warn_add(warn, "node selector %s=%.64s replaced by %s=%.64s", k,
                         json_object_get_string(old), k, json_object_get_string(v));
            if (json_object_object_add(m, k, json_object_get(v)) != 0) {
                json_object_put(m);
                return err_set(err, FCB_ERR_NO_MEMORY, "merging Pod settings: out of memory");
            }
        }
    }
    *out = m;
    return FCB_OK;
}

int k8s_pod_extras_merge(const k8s_pod_extras *base, const k8s_pod_extras *higher,
                         k8s_pod_extras *out, k8s_tags_warnings *warn, fcb_error *err)
{
    memset(out, 0, sizeof *out);
    int rc = map_merge(base->node_selector, higher->node_selector, &out->node_selector, warn, err);
    if (rc == FCB_OK)
        rc = map_merge(base->annotations, higher->annotations, &out->annotations, warn, err);
    if (rc == FCB_OK && (base->tolerations != NULL || higher->tolerations != NULL)) {
        out->tolerations = json_object_new_array();
        json_object *parts[2] = {base->tolerations, higher->tolerations};
        for (int p = 0; p < 2 && rc == FCB_OK; p++)
            for (size_t i = 0; parts[p] != NULL && out->tolerations != NULL &&
                               i < json_object_array_length(parts[p]);
                 i++)
                if (!toleration_add(out->tolerations, json_object_array_get_idx(parts[p], i)))
                    rc = err_set(err, FCB_ERR_NO_MEMORY, "merging Pod settings: out of memory");
        if (out->tolerations == NULL)
            rc = err_set(err, FCB_ERR_NO_MEMORY, "merging Pod settings: out of memory");
    }
    if (rc != FCB_OK)
        k8s_pod_extras_clear(out);
    return rc;
}
