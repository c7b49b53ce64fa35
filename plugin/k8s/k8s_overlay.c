/*
 * k8s_overlay: loading (JSON or YAML), validation and merging of the Pod
 * template overlay.
 *
 * YAML goes through yamlx (the libyaml converter the kubeconfig reader uses too):
 * nesting is bounded and aliases are refused, so hostile templates (alias
 * bombs, self-referencing anchors) fail cleanly instead of exhausting memory
 * or the stack.
 */
#include "k8s_overlay.h"

#include "k8s_pod.h"
#include "yamlx.h"
#include "svc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define K8S_OVERLAY_MAX_DEPTH 64

int k8s_overlay_parse(const char *text, size_t len, json_object **out, fcb_error *err)
{
    json_tokener *tok = NULL;
    json_object *obj = NULL;
    int rc = FCB_OK;
    size_t i = 0;

    *out = NULL;
    while (i < len && (text[i] == ' ' || text[i] == '\t' || text[i] == '\n' || text[i] == '\r'))
        i++;
    if (i < len && text[i] == '{') {
        tok = json_tokener_new_ex(K8S_OVERLAY_MAX_DEPTH);
        if (tok == NULL)
            return err_set(err, FCB_ERR_NO_MEMORY, "out of memory creating a JSON parser");
        obj = json_tokener_parse_ex(tok, text, (int)len);
        enum json_tokener_error jerr = json_tokener_get_error(tok);
        size_t used = json_tokener_get_parse_end(tok);
        while (used < len && (text[used] == ' ' || text[used] == '\t' || text[used] == '\n' ||
                              text[used] == '\r'))
            used++;
        if (jerr != json_tokener_success || obj == NULL || used != len) {
            rc = err_set(err, FCB_ERR_CONFIG, "invalid JSON at byte %zu: %s",
                         json_tokener_get_parse_end(tok),
                         jerr != json_tokener_success ? json_tokener_error_desc(jerr)
                                                      : "trailing data");
            json_object_put(obj);
            obj = NULL;
        }
        json_tokener_free(tok);
        *out = obj;
        return rc;
    }
    /* Shared with the kubeconfig reader: bounded depth, aliases refused. */
    return yamlx_parse(text, len, "Pod template", out, err);
}

/* Read at most K8S_OVERLAY_MAX_BYTES of PATH into a host-allocated string. */
static int overlay_read_file(const fcb_host_services *host, const char *key, const char *path,
                             char **out, size_t *out_len, fcb_error *err)
{
    sbuf b;
    char chunk[8192];
    int rc = FCB_OK;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    *out = NULL;
    sbuf_init(&b, host, K8S_OVERLAY_MAX_BYTES);
    if (fd < 0)
        return err_set(err, FCB_ERR_CONFIG, "%s: cannot open file %s: %s", key, path,
                       strerror(errno));
    struct stat st;
    if (fstat(fd, &st) == 0 && !S_ISREG(st.st_mode)) {
        rc = err_set(err, FCB_ERR_CONFIG, "%s: %s is not a regular file", key, path);
        goto out;
    }
    for (size_t rounds = 0; rounds <= K8S_OVERLAY_MAX_BYTES / sizeof chunk + 1; rounds++) {
        ssize_t n = read(fd, chunk, sizeof chunk);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = err_set(err, FCB_ERR_CONFIG, "%s: cannot read file %s: %s", key, path,
                         strerror(errno));
            goto out;
        }
        if (n == 0)
            break;
        if (!sbuf_append(&b, chunk, (size_t)n)) {
            rc = b.len + (size_t)n > K8S_OVERLAY_MAX_BYTES
                     ? err_set(err, FCB_ERR_CONFIG, "%s: file %s is larger than %d bytes", key,
                               path, K8S_OVERLAY_MAX_BYTES)
                     : err_set(err, FCB_ERR_NO_MEMORY, "%s: out of memory reading %s", key, path);
            goto out;
        }
    }
    *out = sbuf_steal(&b, out_len);
    if (*out == NULL)
        rc = err_set(err, FCB_ERR_NO_MEMORY, "%s: out of memory reading %s", key, path);
out:
    sbuf_free(&b);
    close(fd);
    return rc;
}

int k8s_overlay_load(const fcb_host_services *host, const char *key, const char *value,
                     json_object **out, fcb_error *err)
{
    char *file_text = NULL;
    size_t len = 0;
    const char *text = value;
    int rc;

    *out = NULL;
    size_t skip = strspn(value, " \t\r\n");
    bool is_inline =
        value[skip] == '{' || strchr(value, '\n') != NULL || strstr(value, ": ") != NULL;
    if (is_inline) {
        len = strlen(value);
        if (len > K8S_OVERLAY_MAX_BYTES)
            return err_set(err, FCB_ERR_CONFIG, "%s: inline template is larger than %d bytes", key,
                           K8S_OVERLAY_MAX_BYTES);
    } else {
        rc = overlay_read_file(host, key, value, &file_text, &len, err);
        if (rc != FCB_OK)
            return rc;
        text = file_text;
    }
    json_object *obj = NULL;
    rc = k8s_overlay_parse(text, len, &obj, err);
    if (rc == FCB_OK)
        rc = k8s_overlay_check(obj, err);
    if (rc != FCB_OK) {
        json_object_put(obj);
        if (is_inline)
            err_prefix(err, "%s (inline)", key);
        else
            err_prefix(err, "%s (file %s)", key, value);
        if (err != NULL)
            err->code = rc == FCB_ERR_NO_MEMORY ? rc : FCB_ERR_CONFIG;
        rc = rc == FCB_ERR_NO_MEMORY ? rc : FCB_ERR_CONFIG;
    } else {
        *out = obj;
    }
    svc_free(host, file_text);
    return rc;
}

/* ---------------------------------------------------------------- checks */

/*
 * Member KEY of OBJ. A present JSON null is reported as *present with a NULL
 * value, which merge-patch would use to delete what the backend generated.
 */
static json_object *overlay_member(json_object *obj, const char *key, bool *present)
{
    json_object *v = NULL;
    *present = json_object_object_get_ex(obj, key, &v);
    return v;
}

static int overlay_check_prefixed_keys(json_object *parent, const char *key, const char *field,
                                       fcb_error *err)
{
    bool present = false;
    json_object *map = overlay_member(parent, key, &present);
    if (!present)
        return FCB_OK;
    if (map == NULL || !json_object_is_type(map, json_type_object))
        return err_set(err, FCB_ERR_CONFIG, "%s must be an object", field);
    json_object_object_foreach((json_object *)map, k, v)
    {
        if (strncmp(k, LABEL_RESERVED_PREFIX, strlen(LABEL_RESERVED_PREFIX)) == 0)
            return err_set(err, FCB_ERR_CONFIG,
                           "%s.%s is reserved for the backend (prefix fakecloud-)", field, k);
        if (!json_object_is_type(v, json_type_string))
            return err_set(err, FCB_ERR_CONFIG, "%s.%s must be a string", field, k);
    }
    return FCB_OK;
}

/*
 * Check one named list (containers, initContainers, volumes): every element
 * an object with a string name; for the element named PROTECTED_NAME, none
 * of FORBIDDEN keys; no element named like an entry of RESERVED_NAMES.
 */
static int overlay_check_named_list(json_object *parent, const char *key, const char *field,
                                    const char *protected_name, const char *const *forbidden,
                                    const char *const *reserved_names, fcb_error *err)
{
    bool present = false;
    json_object *list = overlay_member(parent, key, &present);
    if (!present)
        return FCB_OK;
    if (list == NULL || !json_object_is_type(list, json_type_array))
        return err_set(err, FCB_ERR_CONFIG, "%s must be a list", field);
    size_t n = json_object_array_length(list);
    for (size_t i = 0; i < n; i++) {
        json_object *item = json_object_array_get_idx(list, i);
        json_object *name = NULL;
        if (!json_object_is_type(item, json_type_object) ||
            !json_object_object_get_ex(item, "name", &name) ||
            !json_object_is_type(name, json_type_string))
            return err_set(err, FCB_ERR_CONFIG,
                           "%s[%zu] must be an object with a string \"name\" (lists are merged "
                           "by name)",
                           field, i);
        const char *s = json_object_get_string(name);
        for (size_t r = 0; reserved_names != NULL && reserved_names[r] != NULL; r++) {
            if (strcmp(s, reserved_names[r]) == 0)
                return err_set(err, FCB_ERR_CONFIG, "%s[%s] is reserved for the backend", field, s);
        }
        if (protected_name == NULL || strcmp(s, protected_name) != 0)
            continue;
        for (size_t f = 0; forbidden[f] != NULL; f++) {
            if (json_object_object_get_ex(item, forbidden[f], NULL))
                return err_set(err, FCB_ERR_CONFIG,
                               "%s[%s].%s must not be changed by the template (the backend "
                               "relies on it)",
                               field, s, forbidden[f]);
        }
    }
    return FCB_OK;
}

int k8s_overlay_check(const json_object *overlay, fcb_error *err)
{
    static const char *const main_forbidden[] = {"image", "command", "args", "volumeMounts", NULL};
    static const char *const init_forbidden[] = {"image",        "command", "args", "env",
                                                 "volumeMounts", "envFrom", NULL};
    static const char *const our_volumes[] = {K8S_VOLUME_TASK, K8S_VOLUME_OPT, K8S_VOLUME_TMP,
                                              NULL};
    static const char *const top_allowed[] = {"apiVersion", "kind", "metadata", "spec", NULL};
    json_object *o = (json_object *)overlay;
    json_object *metadata = NULL;
    json_object *spec = NULL;
    json_object *v = NULL;
    int rc;

    if (o == NULL || !json_object_is_type(o, json_type_object))
        return err_set(err, FCB_ERR_CONFIG, "template must be an object (a partial Pod)");
    json_object_object_foreach(o, top_key, top_val)
    {
        (void)top_val;
        bool ok = false;
        for (size_t i = 0; top_allowed[i] != NULL; i++)
            ok = ok || strcmp(top_key, top_allowed[i]) == 0;
        if (!ok)
            return err_set(err, FCB_ERR_CONFIG,
                           "%s is not allowed (only apiVersion, kind, metadata, spec)", top_key);
    }
    if (json_object_object_get_ex(o, "apiVersion", &v) &&
        (!json_object_is_type(v, json_type_string) || strcmp(json_object_get_string(v), "v1") != 0))
        return err_set(err, FCB_ERR_CONFIG, "apiVersion must be \"v1\"");
    if (json_object_object_get_ex(o, "kind", &v) && (!json_object_is_type(v, json_type_string) ||
                                                     strcmp(json_object_get_string(v), "Pod") != 0))
        return err_set(err, FCB_ERR_CONFIG, "kind must be \"Pod\"");
    if (json_object_object_get_ex(o, "metadata", &metadata)) {
        if (metadata == NULL)
            return err_set(err, FCB_ERR_CONFIG, "metadata must be an object");
        static const char *const meta_forbidden[] = {"name", "generateName",    "namespace",
                                                     "uid",  "resourceVersion", NULL};
        if (!json_object_is_type(metadata, json_type_object))
            return err_set(err, FCB_ERR_CONFIG, "metadata must be an object");
        for (size_t i = 0; meta_forbidden[i] != NULL; i++) {
            if (json_object_object_get_ex(metadata, meta_forbidden[i], NULL))
                return err_set(err, FCB_ERR_CONFIG,
                               "metadata.%s must not be set by the template (the backend "
                               "names its Pods)",
                               meta_forbidden[i]);
        }
        rc = overlay_check_prefixed_keys(metadata, "labels", "metadata.labels", err);
        if (rc != FCB_OK)
            return rc;
        rc = overlay_check_prefixed_keys(metadata, "annotations", "metadata.annotations", err);
        if (rc != FCB_OK)
            return rc;
    }
    if (!json_object_object_get_ex(o, "spec", &spec))
        return FCB_OK;
    if (spec == NULL || !json_object_is_type(spec, json_type_object))
        return err_set(err, FCB_ERR_CONFIG, "spec must be an object");
    if (json_object_object_get_ex(spec, "restartPolicy", NULL))
        return err_set(err, FCB_ERR_CONFIG,
                       "spec.restartPolicy must not be set by the template (the backend uses "
                       "Never)");
    rc = overlay_check_named_list(spec, "containers", "spec.containers", K8S_CONTAINER_MAIN,
                                  main_forbidden, NULL, err);
    if (rc != FCB_OK)
        return rc;
    rc = overlay_check_named_list(spec, "initContainers", "spec.initContainers", K8S_CONTAINER_INIT,
                                  init_forbidden, NULL, err);
    if (rc != FCB_OK)
        return rc;
    return overlay_check_named_list(spec, "volumes", "spec.volumes", NULL, NULL, our_volumes, err);
}

/* ---------------------------------------------------------------- merge */

static bool overlay_is_named_list(json_object *list)
{
    if (!json_object_is_type(list, json_type_array))
        return false;
    size_t n = json_object_array_length(list);
    for (size_t i = 0; i < n; i++) {
        json_object *item = json_object_array_get_idx(list, i);
        json_object *name = NULL;
        if (!json_object_is_type(item, json_type_object) ||
            !json_object_object_get_ex(item, "name", &name) ||
            !json_object_is_type(name, json_type_string))
            return false;
    }
    return true;
}

static json_object *overlay_copy(json_object *src)
{
    json_object *copy = NULL;
    if (src == NULL)
        return NULL;
    if (json_object_deep_copy(src, &copy, NULL) != 0)
        return NULL;
    return copy;
}

static int overlay_merge_value(json_object *target, const char *key, json_object *patch, int depth,
                               fcb_error *err);

static int overlay_merge_object(json_object *target, json_object *patch, int depth, fcb_error *err)
{
    if (depth > K8S_OVERLAY_MAX_DEPTH)
        return err_set(err, FCB_ERR_CONFIG, "template nested too deeply");
    json_object_object_foreach(patch, k, v)
    {
        if (v == NULL) {
            json_object_object_del(target, k);
            continue;
        }
        int rc = overlay_merge_value(target, k, v, depth + 1, err);
        if (rc != FCB_OK)
            return rc;
    }
    return FCB_OK;
}

static int overlay_merge_list(json_object *target_list, json_object *patch_list, int depth,
                              fcb_error *err)
{
    size_t n = json_object_array_length(patch_list);
    for (size_t i = 0; i < n; i++) {
        json_object *item = json_object_array_get_idx(patch_list, i);
        const char *name = json_object_get_string(json_object_object_get(item, "name"));
        json_object *existing = NULL;
        size_t m = json_object_array_length(target_list);
        for (size_t j = 0; j < m && existing == NULL; j++) {
            json_object *cand = json_object_array_get_idx(target_list, j);
            if (strcmp(json_object_get_string(json_object_object_get(cand, "name")), name) == 0)
                existing = cand;
        }
        if (existing != NULL) {
            int rc = overlay_merge_object(existing, item, depth + 1, err);
            if (rc != FCB_OK)
                return rc;
            continue;
        }
        json_object *copy = overlay_copy(item);
        if (copy == NULL || json_object_array_add(target_list, copy) != 0) {
            json_object_put(copy);
            return err_set(err, FCB_ERR_NO_MEMORY, "out of memory merging the Pod template");
        }
    }
    return FCB_OK;
}

static int overlay_merge_value(json_object *target, const char *key, json_object *patch, int depth,
                               fcb_error *err)
{
    json_object *current = NULL;
    bool have = json_object_object_get_ex(target, key, &current) && current != NULL;

    if (have && json_object_is_type(patch, json_type_object) &&
        json_object_is_type(current, json_type_object))
        return overlay_merge_object(current, patch, depth, err);
    if (have && overlay_is_named_list(patch) && overlay_is_named_list(current))
        return overlay_merge_list(current, patch, depth, err);
    /* A merge-patch object never carries its nulls into the result. */
    if (json_object_is_type(patch, json_type_object)) {
        json_object *fresh = json_object_new_object();
        if (fresh == NULL || json_object_object_add(target, key, fresh) != 0) {
            json_object_put(fresh);
            return err_set(err, FCB_ERR_NO_MEMORY, "out of memory merging the Pod template");
        }
        return overlay_merge_object(fresh, patch, depth, err);
    }
    json_object *copy = overlay_copy(patch);
    if (copy == NULL || json_object_object_add(target, key, copy) != 0) {
        json_object_put(copy);
        return err_set(err, FCB_ERR_NO_MEMORY, "out of memory merging the Pod template");
    }
    return FCB_OK;
}

int k8s_overlay_merge(json_object *target, const json_object *overlay, fcb_error *err)
{
    if (overlay == NULL)
        return FCB_OK;
    if (!json_object_is_type(target, json_type_object) ||
        !json_object_is_type(overlay, json_type_object))
        return err_set(err, FCB_ERR_INTERNAL, "Pod template merge needs two objects");
    return overlay_merge_object(target, (json_object *)overlay, 0, err);
}
