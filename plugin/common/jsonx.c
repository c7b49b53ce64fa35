/* jsonx: typed, NULL-safe lookups over json-c trees. */
#include "jsonx.h"

#include <string.h>

json_object *jsonx_get(json_object *obj, const char *key)
{
    json_object *value = NULL;
    if (obj == NULL || key == NULL || !json_object_is_type(obj, json_type_object))
        return NULL;
    if (!json_object_object_get_ex(obj, key, &value))
        return NULL;
    return value;
}

json_object *jsonx_get_path(json_object *obj, const char *path)
{
    char segment[128];
    const char *p = path;
    if (path == NULL)
        return NULL;
    /* Bounded: each step consumes at least one byte of PATH. */
    while (obj != NULL) {
        const char *dot = strchr(p, '.');
        size_t len = dot != NULL ? (size_t)(dot - p) : strlen(p);
        if (len == 0 || len >= sizeof segment)
            return NULL;
        memcpy(segment, p, len);
        segment[len] = '\0';
        obj = jsonx_get(obj, segment);
        if (dot == NULL)
            return obj;
        p = dot + 1;
    }
    return NULL;
}

const char *jsonx_get_string(json_object *obj, const char *path)
{
    json_object *v = jsonx_get_path(obj, path);
    if (v == NULL || !json_object_is_type(v, json_type_string))
        return NULL;
    return json_object_get_string(v);
}

bool jsonx_get_int(json_object *obj, const char *path, int64_t *out)
{
    json_object *v = jsonx_get_path(obj, path);
    if (v == NULL || !json_object_is_type(v, json_type_int))
        return false;
    *out = json_object_get_int64(v);
    return true;
}

bool jsonx_get_bool(json_object *obj, const char *path, bool *out)
{
    json_object *v = jsonx_get_path(obj, path);
    if (v == NULL)
        return false;
    if (json_object_is_type(v, json_type_boolean)) {
        *out = json_object_get_boolean(v) != 0;
        return true;
    }
    if (json_object_is_type(v, json_type_string)) {
        const char *s = json_object_get_string(v);
        if (strcmp(s, "true") == 0 || strcmp(s, "True") == 0 || strcmp(s, "TRUE") == 0) {
            *out = true;
            return true;
        }
        if (strcmp(s, "false") == 0 || strcmp(s, "False") == 0 || strcmp(s, "FALSE") == 0) {
            *out = false;
            return true;
        }
    }
    return false;
}

json_object *jsonx_get_array(json_object *obj, const char *path)
{
    json_object *v = jsonx_get_path(obj, path);
    if (v == NULL || !json_object_is_type(v, json_type_array))
        return NULL;
    return v;
}
