/*
 * k8s_test_util: helpers shared by the k8s backend's tests (header-only).
 *
 * jpath(obj, "spec.containers[name=fakecloud-lambda].env[name=X].value")
 * walks a json_object by dotted keys, [index] and [name=value] selectors;
 * returns NULL when any step is missing.
 */
#ifndef K8S_TEST_UTIL_H
#define K8S_TEST_UTIL_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static inline json_object *jpath(json_object *obj, const char *path)
{
    char buf[512];
    size_t n = strlen(path);
    if (n >= sizeof buf)
        return NULL;
    memcpy(buf, path, n + 1);
    char *p = buf;
    while (obj != NULL && *p != '\0') {
        if (*p == '.') {
            p++;
            continue;
        }
        if (*p == '[') {
            char *end = strchr(p, ']');
            if (end == NULL || !json_object_is_type(obj, json_type_array))
                return NULL;
            *end = '\0';
            char *eq = strchr(p + 1, '=');
            if (eq == NULL) {
                size_t idx = (size_t)strtoul(p + 1, NULL, 10);
                obj = idx < json_object_array_length(obj) ? json_object_array_get_idx(obj, idx)
                                                          : NULL;
            } else {
                *eq = '\0';
                const char *key = p + 1;
                const char *want = eq + 1;
                json_object *found = NULL;
                for (size_t i = 0; i < json_object_array_length(obj) && found == NULL; i++) {
                    json_object *item = json_object_array_get_idx(obj, i);
                    json_object *v = NULL;
                    if (json_object_object_get_ex(item, key, &v) &&
                        strcmp(json_object_get_string(v), want) == 0)
                        found = item;
                }
                obj = found;
            }
            p = end + 1;
            continue;
        }
        size_t k = strcspn(p, ".[");
        char saved = p[k];
        p[k] = '\0';
        json_object *next = NULL;
        if (!json_object_is_type(obj, json_type_object) ||
            !json_object_object_get_ex(obj, p, &next))
            next = NULL;
        obj = next;
        p[k] = saved;
        p += k;
    }
    return obj;
}

static inline const char *jstr(json_object *obj, const char *path)
{
    json_object *v = jpath(obj, path);
    return v != NULL && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

#endif
