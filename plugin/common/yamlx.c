/* yamlx: libyaml event stream -> json_object, recursive with a depth bound. */
#include "yamlx.h"

#include "svc.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

typedef struct yaml_ctx {
    yaml_parser_t parser;
    const char *name;
    fcb_error *err;
} yaml_ctx;

static int fail_parser(yaml_ctx *y)
{
    if (y->parser.error == YAML_MEMORY_ERROR)
        return err_set(y->err, FCB_ERR_NO_MEMORY, "%s: out of memory parsing YAML", y->name);
    return err_set(y->err, FCB_ERR_CONFIG, "%s: invalid YAML at line %zu column %zu: %s", y->name,
                   y->parser.problem_mark.line + 1, y->parser.problem_mark.column + 1,
                   y->parser.problem != NULL ? y->parser.problem : "parse error");
}

static int fail_at(yaml_ctx *y, const yaml_event_t *ev, const char *what)
{
    return err_set(y->err, FCB_ERR_CONFIG, "%s: invalid YAML at line %zu column %zu: %s", y->name,
                   ev->start_mark.line + 1, ev->start_mark.column + 1, what);
}

static bool is_one_of(const char *s, const char *const *words)
{
    for (size_t i = 0; words[i] != NULL; i++)
        if (strcmp(s, words[i]) == 0)
            return true;
    return false;
}

static json_object *scalar_to_json(const yaml_event_t *ev)
{
    const char *s = (const char *)ev->data.scalar.value;
    size_t len = ev->data.scalar.length;
    if (ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE || ev->data.scalar.tag != NULL)
        return json_object_new_string_len(s, (int)len);
    static const char *const nulls[] = {"", "~", "null", "Null", "NULL", NULL};
    static const char *const trues[] = {"true", "True", "TRUE", NULL};
    static const char *const falses[] = {"false", "False", "FALSE", NULL};
    if (is_one_of(s, nulls))
        return NULL; /* json-c's null */
    if (is_one_of(s, trues))
        return json_object_new_boolean(1);
    if (is_one_of(s, falses))
        return json_object_new_boolean(0);
    size_t i = (s[0] == '-' || s[0] == '+') ? 1 : 0;
    bool digits = i < len;
    for (size_t j = i; j < len && digits; j++)
        digits = s[j] >= '0' && s[j] <= '9';
    if (digits && len < 20) {
        errno = 0;
        long long v = strtoll(s, NULL, 10);
        if (errno == 0)
            return json_object_new_int64(v);
    }
    /* Core-schema floats: [-+]?(.[0-9]+|[0-9]+(.[0-9]*)?)([eE][-+]?[0-9]+)? */
    bool numeric_start = i < len && ((s[i] >= '0' && s[i] <= '9') || s[i] == '.');
    if (numeric_start && strspn(s + i, "0123456789.eE+-") == len - i) {
        char *end = NULL;
        errno = 0;
        double d = strtod(s, &end);
        if (errno == 0 && end == s + len)
            return json_object_new_double(d);
    }
    return json_object_new_string_len(s, (int)len);
}

static int parse_node(yaml_ctx *y, yaml_event_t *ev, int depth, json_object **out);

static int next_event(yaml_ctx *y, yaml_event_t *ev)
{
    if (!yaml_parser_parse(&y->parser, ev))
        return fail_parser(y);
    return FCB_OK;
}

static int parse_sequence(yaml_ctx *y, int depth, json_object **out)
{
    json_object *arr = json_object_new_array();
    if (arr == NULL)
        return err_set(y->err, FCB_ERR_NO_MEMORY, "%s: out of memory", y->name);
    int rc;
    /* Bounded by the input: every round consumes at least one event. */
    for (;;) {
        yaml_event_t ev;
        rc = next_event(y, &ev);
        if (rc != FCB_OK)
            goto fail;
        if (ev.type == YAML_SEQUENCE_END_EVENT) {
            yaml_event_delete(&ev);
            break;
        }
        json_object *item = NULL;
        rc = parse_node(y, &ev, depth + 1, &item);
        yaml_event_delete(&ev);
        if (rc != FCB_OK)
            goto fail;
        if (json_object_array_add(arr, item) != 0) {
            json_object_put(item);
            rc = err_set(y->err, FCB_ERR_NO_MEMORY, "%s: out of memory", y->name);
            goto fail;
        }
    }
    *out = arr;
    return FCB_OK;
fail:
    json_object_put(arr);
    return rc;
}

static int parse_mapping(yaml_ctx *y, int depth, json_object **out)
{
    json_object *obj = json_object_new_object();
    if (obj == NULL)
        return err_set(y->err, FCB_ERR_NO_MEMORY, "%s: out of memory", y->name);
    int rc;
    for (;;) {
        yaml_event_t key;
        rc = next_event(y, &key);
        if (rc != FCB_OK)
            goto fail;
        if (key.type == YAML_MAPPING_END_EVENT) {
            yaml_event_delete(&key);
            break;
        }
        if (key.type != YAML_SCALAR_EVENT) {
            rc = fail_at(y, &key, "mapping keys must be scalars");
            yaml_event_delete(&key);
            goto fail;
        }
        yaml_event_t value;
        rc = next_event(y, &value);
        if (rc != FCB_OK) {
            yaml_event_delete(&key);
            goto fail;
        }
        json_object *child = NULL;
        rc = parse_node(y, &value, depth + 1, &child);
        yaml_event_delete(&value);
        if (rc == FCB_OK &&
            json_object_object_add(obj, (const char *)key.data.scalar.value, child) != 0) {
            json_object_put(child);
            rc = err_set(y->err, FCB_ERR_NO_MEMORY, "%s: out of memory", y->name);
        }
        yaml_event_delete(&key);
        if (rc != FCB_OK)
            goto fail;
    }
    *out = obj;
    return FCB_OK;
fail:
    json_object_put(obj);
    return rc;
}

static int parse_node(yaml_ctx *y, yaml_event_t *ev, int depth, json_object **out)
{
    if (depth > YAMLX_MAX_DEPTH)
        return fail_at(y, ev, "nesting deeper than 64 levels");
    switch (ev->type) {
    case YAML_SCALAR_EVENT: *out = scalar_to_json(ev); return FCB_OK;
    case YAML_SEQUENCE_START_EVENT: return parse_sequence(y, depth, out);
    case YAML_MAPPING_START_EVENT: return parse_mapping(y, depth, out);
    case YAML_ALIAS_EVENT: return fail_at(y, ev, "aliases (*name) are not supported");
    default: return fail_at(y, ev, "unexpected YAML event");
    }
}

int yamlx_parse(const char *data, size_t len, const char *name, json_object **out, fcb_error *err)
{
    yaml_ctx y = {.name = name, .err = err};
    json_object *root = NULL;
    int rc = FCB_OK;
    if (!yaml_parser_initialize(&y.parser))
        return err_set(err, FCB_ERR_NO_MEMORY, "%s: out of memory", name);
    yaml_parser_set_input_string(&y.parser, (const unsigned char *)data, len);
    /* STREAM-START, then DOCUMENT-START or STREAM-END (empty input). */
    for (int i = 0; i < 3 && root == NULL; i++) {
        yaml_event_t ev;
        rc = next_event(&y, &ev);
        if (rc != FCB_OK)
            goto out;
        if (ev.type == YAML_STREAM_START_EVENT || ev.type == YAML_DOCUMENT_START_EVENT) {
            yaml_event_delete(&ev);
            continue;
        }
        if (ev.type == YAML_STREAM_END_EVENT) {
            yaml_event_delete(&ev);
            break;
        }
        rc = parse_node(&y, &ev, 0, &root);
        yaml_event_delete(&ev);
        if (rc != FCB_OK)
            goto out;
        if (root == NULL) /* a document that is just "null" */
            break;
    }
    if (root == NULL) {
        root = json_object_new_object();
        if (root == NULL) {
            rc = err_set(err, FCB_ERR_NO_MEMORY, "%s: out of memory", name);
            goto out;
        }
    }
    *out = root;
    root = NULL;
out:
    json_object_put(root);
    yaml_parser_delete(&y.parser);
    return rc;
}
