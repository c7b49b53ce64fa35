/*
 * jsonx: small read helpers over json-c objects shared by the backends.
 *
 * Lookups never allocate and never fail loudly: a missing key or a value of
 * another type reads as NULL / false, and the caller decides whether that is
 * an error (and names the field in its message). Returned pointers are
 * borrowed from the object passed in. Thread-safe on distinct objects.
 */
#ifndef FCB_JSONX_H
#define FCB_JSONX_H

#include <json-c/json.h>

#include <stdbool.h>
#include <stdint.h>

/* Member KEY of OBJ when OBJ is an object, else NULL. */
json_object *jsonx_get(json_object *obj, const char *key);
/*
 * Member at a dotted PATH ("metadata.resourceVersion"), NULL when any step is
 * missing or not an object. Path segments are at most 127 bytes.
 */
json_object *jsonx_get_path(json_object *obj, const char *path);
/* String value at PATH, or NULL when absent or not a string. */
const char *jsonx_get_string(json_object *obj, const char *path);
/* Integer at PATH into *out; false when absent or not an int. */
bool jsonx_get_int(json_object *obj, const char *path, int64_t *out);
/*
 * Boolean at PATH: JSON true/false, or the strings "true"/"false" (YAML
 * configs quote them sometimes). *out untouched and false returned when the
 * value is absent or not boolean-like.
 */
bool jsonx_get_bool(json_object *obj, const char *path, bool *out);
/* Array at PATH, or NULL. */
json_object *jsonx_get_array(json_object *obj, const char *path);

/*
 * Number of elements of the array that is member KEY of the top-level object
 * in TEXT (LEN bytes), without building a tree: a single pass that tracks
 * strings and nesting. For answers too large to parse just to count them
 * (a deletecollection of 10 000 Pods is 12 MB; json-c needs ~0.5 s for it).
 * Returns true and *count when TEXT is an object whose KEY is an array and
 * every bracket and string in TEXT is balanced; false otherwise (*count 0).
 * It checks structure, not full JSON validity. Pure, thread-safe.
 */
bool jsonx_count_member_array(const char *text, size_t len, const char *key, size_t *count);

#endif
