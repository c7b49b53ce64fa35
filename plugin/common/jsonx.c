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

bool jsonx_count_member_array(const char *text, size_t len, const char *key, size_t *count)
{
    size_t key_len = strlen(key);
    size_t depth = 0;       /* nesting of {} and [] */
    size_t array_depth = 0; /* depth inside the counted array, 0 = not in it */
    size_t n = 0;
    bool found = false;
    bool expect_key = false;    /* at depth 1, the next string is a member name */
    bool key_matched = false;   /* the last depth-1 member name was KEY */
    bool value_pending = false; /* just after KEY's ':' */
    bool array_empty = true;

    *count = 0;
    for (size_t i = 0; i < len; i++) {
        char c = text[i];
        if (c == '"') {
            size_t start = i + 1;
            for (i = start; i < len && text[i] != '"'; i++)
                if (text[i] == '\\')
                    i++;
            if (i >= len)
                return false; /* unterminated string */
            if (array_depth != 0 && depth == array_depth && array_empty)
                array_empty = false, n++;
            if (depth == 1 && expect_key) {
                key_matched = i - start == key_len && memcmp(text + start, key, key_len) == 0;
                expect_key = false;
            }
            continue;
        }
        switch (c) {
        case ' ':
        case '\t':
        case '\n':
        case '\r': continue;
        case ':':
            if (depth == 1 && key_matched)
                value_pending = true;
            key_matched = false;
            continue;
        case '{':
        case '[':
            if (array_depth != 0 && depth == array_depth && array_empty)
                array_empty = false, n++;
            if (depth == 0 && c != '{')
                return false;
            depth++;
            if (depth == 1)
                expect_key = true;
            if (value_pending && depth == 2) {
                if (c == '[' && !found) {
                    array_depth = depth;
                    array_empty = true;
                    found = true;
                }
            }
            value_pending = false;
            continue;
        case '}':
        case ']':
            if (depth == 0)
                return false;
            if (array_depth != 0 && depth == array_depth)
                array_depth = 0;
            depth--;
            continue;
        case ',':
            if (array_depth != 0 && depth == array_depth)
                n++;
            if (depth == 1)
                expect_key = true;
            value_pending = false;
            continue;
        default:
            /* A scalar (number, true, false, null) starts an element too. */
            if (array_depth != 0 && depth == array_depth && array_empty)
                array_empty = false, n++;
            value_pending = false;
            continue;
        }
    }
    if (depth != 0 || !found)
        return false;
    *count = n;
    return true;
}
