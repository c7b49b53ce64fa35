/* lambda_api: routes, names, error documents, base64, function errors. */
#include "lambda_api.h"

#include <json-c/json.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct lapi_path_rule {
    const char *prefix; /* up to {F} */
    const char *suffix; /* after {F}: "" or "/configuration", ... */
    const char *method;
    lapi_op op;
} lapi_path_rule;

static const lapi_path_rule lapi_rules[] = {
    {"/2015-03-31/functions/", "", "GET", LAPI_GET_FUNCTION},
    {"/2015-03-31/functions/", "", "DELETE", LAPI_DELETE_FUNCTION},
    {"/2015-03-31/functions/", "/configuration", "GET", LAPI_GET_FUNCTION_CONFIGURATION},
    {"/2015-03-31/functions/", "/configuration", "PUT", LAPI_UPDATE_FUNCTION_CONFIGURATION},
    {"/2015-03-31/functions/", "/code", "PUT", LAPI_UPDATE_FUNCTION_CODE},
    {"/2015-03-31/functions/", "/versions", "POST", LAPI_PUBLISH_VERSION},
    {"/2015-03-31/functions/", "/versions", "GET", LAPI_LIST_VERSIONS},
    {"/2015-03-31/functions/", "/invocations", "POST", LAPI_INVOKE},
    {"/2015-03-31/functions/", "/aliases", "POST", LAPI_CREATE_ALIAS},
    {"/2015-03-31/functions/", "/aliases", "GET", LAPI_LIST_ALIASES},
    {"/2017-10-31/functions/", "/concurrency", "PUT", LAPI_PUT_CONCURRENCY},
    {"/2017-10-31/functions/", "/concurrency", "DELETE", LAPI_DELETE_CONCURRENCY},
    {"/2019-09-30/functions/", "/concurrency", "GET", LAPI_GET_CONCURRENCY},
    {"/2017-03-31/tags/", "", "POST", LAPI_TAG_RESOURCE},
    {"/2017-03-31/tags/", "", "DELETE", LAPI_UNTAG_RESOURCE},
    {"/2017-03-31/tags/", "", "GET", LAPI_LIST_TAGS},
};

/* PATH is PREFIX + a non-empty name + SUFFIX (the name may hold '/' only for tags' ARNs). */
static bool lapi_match(const lapi_path_rule *r, const char *path, char target[LAPI_NAME_MAX + 1],
                       bool *too_long)
{
    size_t pl = strlen(r->prefix), sl = strlen(r->suffix), n = strlen(path);
    if (n <= pl + sl || strncmp(path, r->prefix, pl) != 0 || strcmp(path + n - sl, r->suffix) != 0)
        return false;
    size_t name_len = n - pl - sl;
    const char *name = path + pl;
    if (memchr(name, '/', name_len) != NULL)
        return false;
    if (name_len > LAPI_NAME_MAX) {
        *too_long = true;
        return false;
    }
    memcpy(target, name, name_len);
    target[name_len] = '\0';
    return true;
}

/* REST after "/2018-10-31/layers/": "{L}/versions" or "{L}/versions/{N}". */
static int lapi_layer_route(const char *method, const char *rest, lapi_route *route)
{
    const char *slash = strchr(rest, '/');
    size_t n = slash != NULL ? (size_t)(slash - rest) : 0;
    if (n == 0 || n > LAPI_NAME_MAX || strncmp(slash, "/versions", 9) != 0)
        return -1;
    const char *tail = slash + 9;
    lapi_op op = LAPI_UNKNOWN;
    if (tail[0] == '\0') {
        op = LAPI_PUBLISH_LAYER_VERSION;
        route->method_not_allowed = strcmp(method, "POST") != 0;
    } else if (tail[0] == '/' && tail[1] >= '1' && tail[1] <= '9' && strlen(tail + 1) < 10) {
        char *end = NULL;
        route->version = strtoul(tail + 1, &end, 10);
        if (*end != '\0')
            return -1;
        op = LAPI_GET_LAYER_VERSION;
        route->method_not_allowed = strcmp(method, "GET") != 0;
    }
    if (op == LAPI_UNKNOWN || route->method_not_allowed)
        return -1;
    memcpy(route->target, rest, n);
    route->target[n] = '\0';
    route->op = op;
    return 0;
}

/* "{F}/aliases/{Name}" (REST, with ALIASES pointing at "/aliases/"). */
static int lapi_alias_route(const char *method, const char *rest, const char *aliases,
                            lapi_route *route)
{
    size_t n = (size_t)(aliases - rest);
    const char *name = aliases + 9;
    size_t name_len = strlen(name);
    if (n == 0 || n > LAPI_NAME_MAX || memchr(rest, '/', n) != NULL || name_len == 0 ||
        name_len >= sizeof route->qualifier || strchr(name, '/') != NULL)
        return -1;
    lapi_op op = strcmp(method, "GET") == 0      ? LAPI_GET_ALIAS
                 : strcmp(method, "PUT") == 0    ? LAPI_UPDATE_ALIAS
                 : strcmp(method, "DELETE") == 0 ? LAPI_DELETE_ALIAS
                                                 : LAPI_UNKNOWN;
    if (op == LAPI_UNKNOWN) {
        route->method_not_allowed = true;
        return -1;
    }
    memcpy(route->target, rest, n);
    route->target[n] = '\0';
    memcpy(route->qualifier, name, name_len + 1);
    route->op = op;
    return 0;
}

/* REST after LAPI_CODE_PREFIX: "{F}/{Q}.zip". */
static int lapi_code_route(const char *method, const char *rest, lapi_route *route)
{
    const char *slash = strchr(rest, '/');
    size_t n = slash != NULL ? (size_t)(slash - rest) : 0,
           q = slash != NULL ? strlen(slash + 1) : 0;
    if (n == 0 || n > 64 || q <= 4 || q - 4 >= sizeof route->qualifier ||
        strcmp(slash + 1 + q - 4, ".zip") != 0)
        return -1;
    if (strcmp(method, "GET") != 0) {
        route->method_not_allowed = true;
        return -1;
    }
    memcpy(route->target, rest, n);
    route->target[n] = '\0';
    memcpy(route->qualifier, slash + 1, q - 4);
    route->qualifier[q - 4] = '\0';
    route->op = LAPI_GET_CODE;
    return 0;
}

int lapi_route_parse(const char *method, const char *path, lapi_route *route)
{
    memset(route, 0, sizeof *route);
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/')
        n--; /* the CLI never sends one, but curl users do */
    char trimmed[1024];
    if (n >= sizeof trimmed)
        return -1;
    memcpy(trimmed, path, n);
    trimmed[n] = '\0';
    if (strcmp(trimmed, "/2015-03-31/functions") == 0) {
        route->op = strcmp(method, "POST") == 0  ? LAPI_CREATE_FUNCTION
                    : strcmp(method, "GET") == 0 ? LAPI_LIST_FUNCTIONS
                                                 : LAPI_UNKNOWN;
        route->method_not_allowed = route->op == LAPI_UNKNOWN;
        return route->op == LAPI_UNKNOWN ? -1 : 0;
    }
    if (strcmp(trimmed, "/metrics") == 0) {
        route->op = strcmp(method, "GET") == 0 ? LAPI_METRICS : LAPI_UNKNOWN;
        route->method_not_allowed = route->op == LAPI_UNKNOWN;
        return route->op == LAPI_UNKNOWN ? -1 : 0;
    }
    if (strncmp(trimmed, "/2018-10-31/layers/", 19) == 0)
        return lapi_layer_route(method, trimmed + 19, route);
    if (strncmp(trimmed, LAPI_CODE_PREFIX, sizeof LAPI_CODE_PREFIX - 1) == 0)
        return lapi_code_route(method, trimmed + sizeof LAPI_CODE_PREFIX - 1, route);
    bool functions = strncmp(trimmed, "/2015-03-31/functions/", 22) == 0;
    const char *aliases = functions ? strstr(trimmed + 22, "/aliases/") : NULL;
    if (aliases != NULL)
        return lapi_alias_route(method, trimmed + 22, aliases, route);
    bool too_long = false;
    for (size_t i = 0; i < sizeof lapi_rules / sizeof lapi_rules[0]; i++) {
        if (!lapi_match(&lapi_rules[i], trimmed, route->target, &too_long))
            continue;
        if (strcmp(method, lapi_rules[i].method) == 0) {
            route->op = lapi_rules[i].op;
            route->method_not_allowed = false;
            return 0;
        }
        route->method_not_allowed = true;
    }
    route->target[0] = '\0';
    return -1;
}

static bool lapi_name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
}

static bool lapi_token_ok(const char *s, size_t n, size_t max)
{
    if (n == 0 || n > max)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!lapi_name_char(s[i]))
            return false;
    return true;
}

int lapi_function_name_split(const char *text, char name[65], char qualifier[129], char *why,
                             size_t why_size)
{
    name[0] = qualifier[0] = '\0';
    const char *s = text;
    const char *fn = strstr(text, ":function:");
    if (fn != NULL)
        s = fn + strlen(":function:");
    const char *colon = strchr(s, ':');
    size_t name_len = colon != NULL ? (size_t)(colon - s) : strlen(s);
    if (!lapi_token_ok(s, name_len, 64)) {
        snprintf(why, why_size,
                 "FunctionName: \"%.100s\" is not a function name ([A-Za-z0-9_-], 1 to 64 "
                 "characters) or a function ARN",
                 text);
        return -1;
    }
    memcpy(name, s, name_len);
    name[name_len] = '\0';
    if (colon == NULL)
        return 0;
    const char *q = colon + 1;
    size_t ql = strlen(q);
    if (strcmp(q, "$LATEST") != 0 && !lapi_token_ok(q, ql, 128)) {
        snprintf(why, why_size, "Qualifier: \"%.100s\" is not $LATEST, a version or an alias name",
                 q);
        return -1;
    }
    memcpy(qualifier, q, ql + 1);
    return 0;
}

char *lapi_error_body(const char *type, const char *message, const char *reason)
{
    json_object *o = json_object_new_object();
    if (o == NULL)
        return NULL;
    json_object_object_add(o, "Type", json_object_new_string("User"));
    /* TooManyRequestsException's member is "message", the others' "Message" (the model's). */
    bool lower = strcmp(type, "TooManyRequestsException") == 0;
    json_object_object_add(o, lower ? "message" : "Message", json_object_new_string(message));
    if (reason != NULL)
        json_object_object_add(o, "Reason", json_object_new_string(reason));
    const char *text =
        json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
    char *copy = text != NULL ? strdup(text) : NULL;
    json_object_put(o);
    return copy;
}

static const char lapi_b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *lapi_base64_encode(const void *data, size_t len)
{
    char *out = malloc((len + 2) / 3 * 4 + 1), *o = out;
    if (out == NULL)
        return NULL;
    const unsigned char *p = data;
    for (size_t i = 0; i < len; i += 3) {
        unsigned v = (unsigned)p[i] << 16 | (i + 1 < len ? (unsigned)p[i + 1] << 8 : 0) |
                     (i + 2 < len ? p[i + 2] : 0);
        *o++ = lapi_b64[v >> 18 & 63];
        *o++ = lapi_b64[v >> 12 & 63];
        *o++ = i + 1 < len ? lapi_b64[v >> 6 & 63] : '=';
        *o++ = i + 2 < len ? lapi_b64[v & 63] : '=';
    }
    *o = '\0';
    return out;
}

static int lapi_b64_value(char c)
{
    const char *p = c != '\0' ? strchr(lapi_b64, c) : NULL;
    return p != NULL ? (int)(p - lapi_b64) : -1;
}

int lapi_base64_decode(const char *text, size_t len, unsigned char **out, size_t *out_len,
                       char *why, size_t why_size)
{
    *out = NULL;
    *out_len = 0;
    if (len % 4 != 0) {
        snprintf(why, why_size, "not base64: %zu characters, not a multiple of 4", len);
        return -1;
    }
    unsigned char *buf = malloc(len / 4 * 3 + 1), *o = buf;
    if (buf == NULL) {
        snprintf(why, why_size, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < len; i += 4) {
        int v[4];
        size_t pad = 0;
        if (i + 4 == len && text[i + 3] == '=')
            pad = text[i + 2] == '=' ? 2 : 1;
        for (size_t k = 0; k < 4; k++) {
            v[k] = k >= 4 - pad ? 0 : lapi_b64_value(text[i + k]);
            if (v[k] < 0) {
                snprintf(why, why_size, "not base64: byte %zu", i + k);
                free(buf);
                return -1;
            }
        }
        unsigned x =
            (unsigned)v[0] << 18 | (unsigned)v[1] << 12 | (unsigned)v[2] << 6 | (unsigned)v[3];
        *o++ = (unsigned char)(x >> 16);
        if (pad < 2)
            *o++ = (unsigned char)(x >> 8 & 0xff);
        if (pad < 1)
            *o++ = (unsigned char)(x & 0xff);
    }
    *out = buf;
    *out_len = (size_t)(o - buf);
    return 0;
}

const char *lapi_function_error(long http_status, const char *body, size_t len,
                                const char *from_runtime)
{
    if (from_runtime != NULL && from_runtime[0] != '\0')
        return from_runtime;
    if (http_status < 200 || http_status > 299)
        return "Unhandled";
    static const char timed_out[] = "Task timed out after "; /* a runtime's plain-text answer */
    for (size_t i = 0; i < len && i < 64; i++) {
        if (len - i >= sizeof timed_out - 1 &&
            memcmp(body + i, timed_out, sizeof timed_out - 1) == 0)
            return "Unhandled";
    }
    if (len < 2 || len > 1024 * 1024 || body[0] != '{')
        return NULL;
    json_object *o = json_tokener_parse(body);
    bool envelope = o != NULL && json_object_is_type(o, json_type_object) &&
                    json_object_object_get_ex(o, "errorMessage", NULL) &&
                    json_object_object_get_ex(o, "errorType", NULL);
    json_object_put(o);
    return envelope ? "Unhandled" : NULL;
}

double lapi_report_init_ms(const char *log, size_t len)
{
    static const char report[] = "REPORT RequestId:", init[] = "Init Duration: ";
    const char *last = NULL;
    for (const char *p = log; p != NULL && (size_t)(p - log) < len;) {
        p = memmem(p, len - (size_t)(p - log), report, sizeof report - 1);
        if (p != NULL)
            last = p++;
    }
    if (last == NULL)
        return -1;
    const char *eol = memchr(last, '\n', len - (size_t)(last - log));
    size_t line_len = eol != NULL ? (size_t)(eol - last) : len - (size_t)(last - log);
    const char *at = memmem(last, line_len, init, sizeof init - 1);
    if (at == NULL)
        return -1;
    char *end = NULL;
    double ms = strtod(at + sizeof init - 1, &end);
    return end != at + sizeof init - 1 && ms >= 0 && strncmp(end, " ms", 3) == 0 ? ms : -1;
}
