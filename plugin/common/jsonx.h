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

#endif
