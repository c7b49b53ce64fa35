/* function_json: GetFunctionConfiguration JSON -> fcb_function (json-c). */
#include "function_json.h"

#include <json-c/json.h>

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define FJ_PATH_MAX  256
#define FJ_DEPTH_MAX 32
#define FJ_ARRAY_MAX 1024 /* environment variables, layers, command words */

typedef struct fj_ctx {
    function_desc *desc;
    char *why;
    size_t why_size;
    const char *region; /* for an ARN built from Version */
} fj_ctx;

/*
 * "PATH: message" into OUT (size OUT_SIZE > 0). Field names and values come
 * from the document, so control characters are escaped (\xNN): one line.
 */
static void fj_format(char *out, size_t out_size, const char *path, const char *fmt, va_list ap)
    __attribute__((format(printf, 4, 0)));

static void fj_format(char *out, size_t out_size, const char *path, const char *fmt, va_list ap)
{
    char raw[FUNCTION_JSON_WHY_MAX];
    int n = 0;
    if (path != NULL && path[0] != '\0')
        n = snprintf(raw, sizeof raw, "%s: ", path);
    if (n < 0 || (size_t)n >= sizeof raw)
        n = 0;
    vsnprintf(raw + n, sizeof raw - (size_t)n, fmt, ap);
    size_t w = 0;
    for (const unsigned char *p = (const unsigned char *)raw; *p != '\0'; p++) {
        bool control = *p < 0x20 || *p == 0x7f;
        size_t need = control ? 4 : 1;
        if (w + need >= out_size)
            break;
        if (control)
            snprintf(out + w, 5, "\\x%02x", *p);
        else
            out[w] = (char)*p;
        w += need;
    }
    out[w] = '\0';
}

static int fj_fail(fj_ctx *c, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Fill `why` with "PATH: message"; returns -1. */
static int fj_fail(fj_ctx *c, const char *path, const char *fmt, ...)
{
    if (c->why_size == 0)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    fj_format(c->why, c->why_size, path, fmt, ap);
    va_end(ap);
    return -1;
}

static int fj_warn(fj_ctx *c, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Record a warning "PATH: message" (the first FUNCTION_JSON_WARNINGS_MAX); -1 = no memory. */
static int fj_warn(fj_ctx *c, const char *path, const char *fmt, ...)
{
    function_desc *d = c->desc;
    if (d->n_warnings == FUNCTION_JSON_WARNINGS_MAX)
        return 0;
    if (d->warnings == NULL) {
        d->warnings = calloc(FUNCTION_JSON_WARNINGS_MAX, sizeof *d->warnings);
        if (d->warnings == NULL)
            return fj_fail(c, path, "out of memory");
    }
    char line[FUNCTION_JSON_WHY_MAX];
    va_list ap;
    va_start(ap, fmt);
    fj_format(line, sizeof line, path, fmt, ap);
    va_end(ap);
    d->warnings[d->n_warnings] = strdup(line);
    if (d->warnings[d->n_warnings] == NULL)
        return fj_fail(c, path, "out of memory");
    d->n_warnings++;
    return 0;
}

static const char *fj_type(json_object *v)
{
    return json_type_to_name(json_object_get_type(v));
}

/* An unknown field is a warning (AWS keeps adding fields); -1 only when out of memory. */
static int fj_unknown(fj_ctx *c, const char *path, const char *key)
{
    return fj_warn(c, path, "unknown field \"%.100s\" ignored", key);
}

static bool fj_in(const char *key, const char *const *list)
{
    for (size_t i = 0; list[i] != NULL; i++) {
        if (strcmp(key, list[i]) == 0)
            return true;
    }
    return false;
}

static void fj_join(char out[FJ_PATH_MAX], const char *base, const char *key)
{
    if (base == NULL || base[0] == '\0')
        snprintf(out, FJ_PATH_MAX, "%s", key);
    else
        snprintf(out, FJ_PATH_MAX, "%s.%s", base, key);
}

static int fj_object(fj_ctx *c, const char *path, json_object *v)
{
    if (!json_object_is_type(v, json_type_object))
        return fj_fail(c, path, "expected an object, got %s", fj_type(v));
    return 0;
}

static int fj_string(fj_ctx *c, const char *path, json_object *v, char **dst)
{
    if (!json_object_is_type(v, json_type_string))
        return fj_fail(c, path, "expected a string, got %s", fj_type(v));
    const char *s = json_object_get_string(v);
    size_t len = (size_t)json_object_get_string_len(v);
    if (memchr(s, '\0', len) != NULL)
        return fj_fail(c, path, "contains a NUL character");
    char *copy = strndup(s, len);
    if (copy == NULL)
        return fj_fail(c, path, "out of memory");
    free(*dst);
    *dst = copy;
    return 0;
}

static int fj_int(fj_ctx *c, const char *path, json_object *v, long long min, long long max,
                  long long *dst)
{
    if (!json_object_is_type(v, json_type_int))
        return fj_fail(c, path, "expected an integer, got %s", fj_type(v));
    long long n = (long long)json_object_get_int64(v);
    if (n < min || n > max)
        return fj_fail(c, path, "must be between %lld and %lld, got %lld", min, max, n);
    *dst = n;
    return 0;
}

static int fj_string_array(fj_ctx *c, const char *path, json_object *v, char ***dst, size_t *n_dst)
{
    if (!json_object_is_type(v, json_type_array))
        return fj_fail(c, path, "expected an array of strings, got %s", fj_type(v));
    size_t n = json_object_array_length(v);
    if (n > FJ_ARRAY_MAX)
        return fj_fail(c, path, "more than %d entries", FJ_ARRAY_MAX);
    char **arr = calloc(n > 0 ? n : 1, sizeof *arr);
    if (arr == NULL)
        return fj_fail(c, path, "out of memory");
    for (size_t i = 0; i < n; i++) {
        char item[FJ_PATH_MAX];
        snprintf(item, sizeof item, "%s[%zu]", path, i);
        if (fj_string(c, item, json_object_array_get_idx(v, i), &arr[i]) != 0) {
            for (size_t j = 0; j <= i; j++)
                free(arr[j]);
            free(arr);
            return -1;
        }
    }
    *dst = arr;
    *n_dst = n;
    return 0;
}

static int fj_environment(fj_ctx *c, const char *path, json_object *v)
{
    if (fj_object(c, path, v) != 0)
        return -1;
    function_desc *d = c->desc;
    json_object_object_foreach(v, key, val)
    {
        char sub[FJ_PATH_MAX];
        fj_join(sub, path, key);
        if (strcmp(key, "Error") == 0)
            continue;
        if (strcmp(key, "Variables") != 0) {
            if (fj_unknown(c, path, key) != 0)
                return -1;
            continue;
        }
        if (fj_object(c, sub, val) != 0 || d->environment != NULL)
            return d->environment != NULL ? fj_fail(c, sub, "given twice") : -1;
        size_t n = (size_t)json_object_object_length(val);
        size_t total = 0;
        if (n > FJ_ARRAY_MAX)
            return fj_fail(c, sub, "more than %d variables", FJ_ARRAY_MAX);
        d->environment = calloc(n > 0 ? n : 1, sizeof *d->environment);
        if (d->environment == NULL)
            return fj_fail(c, sub, "out of memory");
        json_object_object_foreach(val, name, value)
        {
            char var[FJ_PATH_MAX];
            fj_join(var, sub, name);
            if (name[0] == '\0' || strchr(name, '=') != NULL)
                return fj_fail(c, var, "invalid variable name");
            fcb_env_var *e = &d->environment[d->n_environment];
            char *copy = NULL;
            if (fj_string(c, var, value, &copy) != 0)
                return -1;
            e->value = copy;
            e->name = strdup(name);
            d->n_environment++;
            if (e->name == NULL)
                return fj_fail(c, var, "out of memory");
            total += strlen(name) + strlen(copy);
        }
        if (total > FUNCTION_JSON_ENV_MAX)
            return fj_fail(c, sub, "%zu bytes (names and values) exceed AWS's %d", total,
                           FUNCTION_JSON_ENV_MAX);
    }
    return 0;
}

/* Characters (UTF-8 code points) of S; the text was checked as UTF-8. */
static size_t fj_chars(const char *s)
{
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        n += (*p & 0xC0) != 0x80;
    return n;
}

/* Tags (GetFunction's map): validated like TagResource. */
static int fj_tags(fj_ctx *c, const char *path, json_object *v)
{
    function_desc *d = c->desc;
    if (d->tags != NULL)
        return fj_fail(c, path, "given twice");
    if (fj_object(c, path, v) != 0)
        return -1;
    size_t n = (size_t)json_object_object_length(v);
    if (n > FUNCTION_JSON_TAGS_MAX)
        return fj_fail(c, path, "%zu tags exceed AWS's %d", n, FUNCTION_JSON_TAGS_MAX);
    d->tags = calloc(n > 0 ? n : 1, sizeof *d->tags);
    if (d->tags == NULL)
        return fj_fail(c, path, "out of memory");
    json_object_object_foreach(v, key, val)
    {
        char sub[FJ_PATH_MAX];
        fj_join(sub, path, key);
        size_t klen = fj_chars(key);
        if (klen == 0 || klen > 128)
            return fj_fail(c, sub, "tag key of %zu characters (AWS allows 1 to 128)", klen);
        if (strncasecmp(key, "aws:", 4) == 0)
            return fj_fail(c, sub, "tag keys starting with \"aws:\" are reserved by AWS");
        char *value = NULL;
        if (fj_string(c, sub, val, &value) != 0)
            return -1;
        fcb_tag *t = &d->tags[d->n_tags];
        t->value = value;
        t->key = strdup(key);
        d->n_tags++;
        if (t->key == NULL)
            return fj_fail(c, sub, "out of memory");
        if (fj_chars(value) > 256)
            return fj_fail(c, sub, "tag value of %zu characters (AWS allows at most 256)",
                           fj_chars(value));
    }
    d->fn.tags = d->tags;
    d->fn.n_tags = d->n_tags;
    return 0;
}

static int fj_image_config(fj_ctx *c, const char *path, json_object *v)
{
    if (fj_object(c, path, v) != 0)
        return -1;
    function_desc *d = c->desc;
    json_object_object_foreach(v, key, val)
    {
        char sub[FJ_PATH_MAX];
        fj_join(sub, path, key);
        if (strcmp(key, "Error") == 0)
            continue;
        if (strcmp(key, "ImageConfig") != 0) {
            if (fj_unknown(c, path, key) != 0)
                return -1;
            continue;
        }
        if (fj_object(c, sub, val) != 0)
            return -1;
        json_object_object_foreach(val, k2, v2)
        {
            char leaf[FJ_PATH_MAX];
            fj_join(leaf, sub, k2);
            int rc;
            if (strcmp(k2, "EntryPoint") == 0 && d->image_entry_point == NULL)
                rc = fj_string_array(c, leaf, v2, &d->image_entry_point, &d->n_image_entry_point);
            else if (strcmp(k2, "Command") == 0 && d->image_command == NULL)
                rc = fj_string_array(c, leaf, v2, &d->image_command, &d->n_image_command);
            else if (strcmp(k2, "WorkingDirectory") == 0)
                rc = fj_string(c, leaf, v2, &d->image_working_directory);
            else
                rc = fj_unknown(c, sub, k2);
            if (rc != 0)
                return -1;
        }
    }
    return 0;
}

static int fj_layers(fj_ctx *c, const char *path, json_object *v)
{
    if (!json_object_is_type(v, json_type_array))
        return fj_fail(c, path, "expected an array, got %s", fj_type(v));
    size_t n = json_object_array_length(v);
    if (n > 5)
        return fj_fail(c, path, "at most 5 layers, got %zu", n);
    function_desc *d = c->desc;
    d->layers = calloc(n > 0 ? n : 1, sizeof *d->layers);
    if (d->layers == NULL)
        return fj_fail(c, path, "out of memory");
    for (size_t i = 0; i < n; i++) {
        char item[FJ_PATH_MAX];
        snprintf(item, sizeof item, "%s[%zu]", path, i);
        json_object *layer = json_object_array_get_idx(v, i);
        function_layer *l = &d->layers[i];
        l->code_size = -1;
        d->n_layers++;
        if (fj_object(c, item, layer) != 0)
            return -1;
        json_object_object_foreach(layer, key, val)
        {
            char leaf[FJ_PATH_MAX];
            fj_join(leaf, item, key);
            int rc = 0;
            if (strcmp(key, "Arn") == 0)
                rc = fj_string(c, leaf, val, &l->arn);
            else if (strcmp(key, "CodeSize") == 0)
                rc = fj_int(c, leaf, val, 0, (long long)1 << 40, &l->code_size);
            else if (strcmp(key, "SigningProfileVersionArn") != 0 &&
                     strcmp(key, "SigningJobArn") != 0)
                rc = fj_unknown(c, item, key);
            if (rc != 0)
                return -1;
        }
        if (l->arn == NULL)
            return fj_fail(c, item, "missing \"Arn\"");
    }
    return 0;
}

static int fj_code(fj_ctx *c, const char *path, json_object *v)
{
    static const char *const ignored[] = {"RepositoryType", "Location", "ResolvedImageUri",
                                          "SourceKMSKeyArn", NULL};
    if (fj_object(c, path, v) != 0)
        return -1;
    json_object_object_foreach(v, key, val)
    {
        char sub[FJ_PATH_MAX];
        fj_join(sub, path, key);
        if (strcmp(key, "ImageUri") == 0) {
            if (fj_string(c, sub, val, &c->desc->image_uri) != 0)
                return -1;
        } else if (!fj_in(key, ignored) && fj_unknown(c, path, key) != 0) {
            return -1;
        }
    }
    return 0;
}

/* Fields of the GetFunctionConfiguration response that a launch does not use. */
static const char *const fj_ignored_config[] = {"Role",
                                                "CodeSize",
                                                "Description",
                                                "LastModified",
                                                "CodeSha256",
                                                "VpcConfig",
                                                "DeadLetterConfig",
                                                "KMSKeyArn",
                                                "TracingConfig",
                                                "MasterArn",
                                                "RevisionId",
                                                "State",
                                                "StateReason",
                                                "StateReasonCode",
                                                "LastUpdateStatus",
                                                "LastUpdateStatusReason",
                                                "LastUpdateStatusReasonCode",
                                                "FileSystemConfigs",
                                                "SigningProfileVersionArn",
                                                "SigningJobArn",
                                                "SnapStart",
                                                "RuntimeVersionConfig",
                                                "LoggingConfig",
                                                "ResponseMetadata",
                                                NULL};

/* PackageType: "Zip" or "Image". */
static int fj_package_type(fj_ctx *c, const char *path, json_object *v)
{
    char *type = NULL;
    int rc = fj_string(c, path, v, &type);
    if (rc == 0 && strcmp(type, "Zip") == 0)
        c->desc->fn.package_type = FCB_PACKAGE_ZIP;
    else if (rc == 0 && strcmp(type, "Image") == 0)
        c->desc->fn.package_type = FCB_PACKAGE_IMAGE;
    else if (rc == 0)
        rc = fj_fail(c, path, "expected \"Zip\" or \"Image\", got \"%.64s\"", type);
    free(type);
    return rc;
}

/* EphemeralStorage: {"Size": 512..10240}. */
static int fj_ephemeral_storage(fj_ctx *c, const char *path, json_object *v)
{
    if (fj_object(c, path, v) != 0)
        return -1;
    json_object *size = NULL;
    json_object_object_foreach(v, key, val)
    {
        if (strcmp(key, "Size") == 0)
            size = val;
        else if (fj_unknown(c, path, key) != 0)
            return -1;
    }
    if (size == NULL)
        return fj_fail(c, path, "missing \"Size\"");
    char leaf[FJ_PATH_MAX];
    fj_join(leaf, path, "Size");
    long long n = 0;
    int rc = fj_int(c, leaf, size, 512, 10240, &n);
    c->desc->fn.ephemeral_storage_mb = (uint32_t)n;
    return rc;
}

/* Architectures: exactly one of "x86_64", "arm64". */
static int fj_architectures(fj_ctx *c, const char *path, json_object *v)
{
    function_desc *d = c->desc;
    char **arch = NULL;
    size_t n_arch = 0;
    int rc = fj_string_array(c, path, v, &arch, &n_arch);
    if (rc == 0 && n_arch != 1)
        rc = fj_fail(c, path, "expected exactly one architecture, got %zu", n_arch);
    else if (rc == 0 && strcmp(arch[0], "x86_64") != 0 && strcmp(arch[0], "arm64") != 0)
        rc = fj_fail(c, path, "expected \"x86_64\" or \"arm64\", got \"%.64s\"", arch[0]);
    if (rc == 0) {
        free(d->architecture);
        d->architecture = arch[0];
        arch[0] = NULL;
    }
    for (size_t i = 0; i < n_arch; i++)
        free(arch[i]);
    free(arch);
    return rc;
}

static int fj_configuration(fj_ctx *c, const char *path, json_object *v, bool allow_wrapper)
{
    if (fj_object(c, path, v) != 0)
        return -1;
    function_desc *d = c->desc;
    long long n = 0;
    json_object_object_foreach(v, key, val)
    {
        char sub[FJ_PATH_MAX];
        fj_join(sub, path, key);
        int rc = 0;
        if (strcmp(key, "FunctionName") == 0) {
            rc = fj_string(c, sub, val, &d->function_name);
        } else if (strcmp(key, "FunctionArn") == 0) {
            rc = fj_string(c, sub, val, &d->function_arn);
        } else if (strcmp(key, "Runtime") == 0) {
            rc = fj_string(c, sub, val, &d->runtime);
        } else if (strcmp(key, "Handler") == 0) {
            rc = fj_string(c, sub, val, &d->handler);
        } else if (strcmp(key, "Version") == 0) {
            rc = fj_string(c, sub, val, &d->version);
        } else if (strcmp(key, "Timeout") == 0) {
            rc = fj_int(c, sub, val, 1, 900, &n);
            d->fn.timeout_seconds = (uint32_t)n;
        } else if (strcmp(key, "MemorySize") == 0) {
            rc = fj_int(c, sub, val, 128, 10240, &n);
            d->fn.memory_mb = (uint32_t)n;
        } else if (strcmp(key, "Environment") == 0 && d->environment == NULL) {
            rc = fj_environment(c, sub, val);
        } else if (strcmp(key, "PackageType") == 0) {
            rc = fj_package_type(c, sub, val);
        } else if (strcmp(key, "ImageUri") == 0) {
            rc = fj_string(c, sub, val, &d->image_uri);
        } else if (strcmp(key, "ImageConfigResponse") == 0 && d->image_command == NULL &&
                   d->image_entry_point == NULL) {
            rc = fj_image_config(c, sub, val);
        } else if (strcmp(key, "EphemeralStorage") == 0) {
            rc = fj_ephemeral_storage(c, sub, val);
        } else if (strcmp(key, "Architectures") == 0) {
            rc = fj_architectures(c, sub, val);
        } else if (strcmp(key, "Layers") == 0 && d->layers == NULL) {
            rc = fj_layers(c, sub, val);
        } else if (strcmp(key, "Code") == 0) {
            rc = fj_code(c, sub, val);
        } else if (strcmp(key, "Tags") == 0) {
            rc = fj_tags(c, sub, val);
        } else if (allow_wrapper &&
                   (strcmp(key, "TagsError") == 0 || strcmp(key, "Concurrency") == 0)) {
            rc = 0;
        } else if (!fj_in(key, fj_ignored_config)) {
            rc = fj_unknown(c, path, key);
        }
        if (rc != 0)
            return -1;
    }
    return 0;
}

/* 5th ':'-separated field of an ARN when it is 12 digits. */
static int fj_account(fj_ctx *c)
{
    function_desc *d = c->desc;
    snprintf(d->account, sizeof d->account, "000000000000");
    if (d->function_arn == NULL)
        return 0;
    const char *p = d->function_arn;
    if (strncmp(p, "arn:", 4) != 0)
        return fj_fail(c, "FunctionArn",
                       "expected \"arn:aws:lambda:<region>:<account>:function:"
                       "<name>\", got \"%.100s\"",
                       p);
    for (int field = 0; field < 4 && p != NULL; field++) {
        p = strchr(p, ':');
        if (p != NULL)
            p++;
    }
    const char *end = p != NULL ? strchr(p, ':') : NULL;
    if (p == NULL || end == NULL || end - p != 12 || strspn(p, "0123456789") < 12)
        return fj_fail(c, "FunctionArn", "account (5th field) is not 12 digits in \"%.100s\"",
                       d->function_arn);
    memcpy(d->account, p, 12);
    d->account[12] = '\0';
    return 0;
}

/* ---- validation like AWS ------------------------------------------------ */

/*
 * Offset of the first byte of S (LEN bytes) that is not well-formed UTF-8
 * (RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF), or
 * LEN when it all is.
 */
static size_t fj_utf8_bad(const unsigned char *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        unsigned char b = s[i];
        size_t n;
        unsigned char lo = 0x80, hi = 0xBF; /* allowed range of the 2nd byte */
        if (b < 0x80) {
            i++;
            continue;
        } else if (b >= 0xC2 && b <= 0xDF) {
            n = 1;
        } else if (b >= 0xE0 && b <= 0xEF) {
            n = 2;
            lo = b == 0xE0 ? 0xA0 : 0x80;
            hi = b == 0xED ? 0x9F : 0xBF;
        } else if (b >= 0xF0 && b <= 0xF4) {
            n = 3;
            lo = b == 0xF0 ? 0x90 : 0x80;
            hi = b == 0xF4 ? 0x8F : 0xBF;
        } else {
            return i;
        }
        if (i + n >= len) /* truncated sequence */
            return i;
        if (s[i + 1] < lo || s[i + 1] > hi)
            return i;
        for (size_t k = 2; k <= n; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return i;
        }
        i += n + 1;
    }
    return len;
}

/* Every string and field name in V is valid UTF-8; errors name the path. */
static int fj_check_utf8(fj_ctx *c, const char *path, json_object *v, int depth)
{
    if (depth > FJ_DEPTH_MAX)
        return fj_fail(c, path, "nested too deeply");
    if (json_object_is_type(v, json_type_string)) {
        size_t len = (size_t)json_object_get_string_len(v);
        size_t bad = fj_utf8_bad((const unsigned char *)json_object_get_string(v), len);
        return bad == len ? 0 : fj_fail(c, path, "invalid UTF-8 at byte %zu", bad);
    }
    if (json_object_is_type(v, json_type_array)) {
        size_t n = json_object_array_length(v);
        for (size_t i = 0; i < n; i++) {
            char item[FJ_PATH_MAX];
            snprintf(item, sizeof item, "%s[%zu]", path, i);
            if (fj_check_utf8(c, item, json_object_array_get_idx(v, i), depth + 1) != 0)
                return -1;
        }
        return 0;
    }
    if (!json_object_is_type(v, json_type_object))
        return 0;
    json_object_object_foreach(v, key, val)
    {
        size_t len = strlen(key);
        size_t bad = fj_utf8_bad((const unsigned char *)key, len);
        if (bad != len) {
            char where[FJ_PATH_MAX];
            fj_join(where, path, "a field name");
            return fj_fail(c, where, "invalid UTF-8 at byte %zu", bad);
        }
        char sub[FJ_PATH_MAX];
        fj_join(sub, path, key);
        if (fj_check_utf8(c, sub, val, depth + 1) != 0)
            return -1;
    }
    return 0;
}

/* The Runtime enum of the Lambda API (botocore 1.43, lambda 2015-03-31 service-2.json). */
static const char *const fj_runtimes[] = {"nodejs",
                                          "nodejs4.3",
                                          "nodejs6.10",
                                          "nodejs8.10",
                                          "nodejs10.x",
                                          "nodejs12.x",
                                          "nodejs14.x",
                                          "nodejs16.x",
                                          "java8",
                                          "java8.al2",
                                          "java11",
                                          "python2.7",
                                          "python3.6",
                                          "python3.7",
                                          "python3.8",
                                          "python3.9",
                                          "dotnetcore1.0",
                                          "dotnetcore2.0",
                                          "dotnetcore2.1",
                                          "dotnetcore3.1",
                                          "dotnet6",
                                          "dotnet8",
                                          "nodejs4.3-edge",
                                          "go1.x",
                                          "ruby2.5",
                                          "ruby2.7",
                                          "provided",
                                          "provided.al2",
                                          "nodejs18.x",
                                          "python3.10",
                                          "java17",
                                          "ruby3.2",
                                          "ruby3.3",
                                          "ruby3.4",
                                          "python3.11",
                                          "nodejs20.x",
                                          "provided.al2023",
                                          "python3.12",
                                          "java21",
                                          "python3.13",
                                          "nodejs22.x",
                                          "nodejs24.x",
                                          "python3.14",
                                          "java25",
                                          "dotnet10",
                                          "ruby4.0",
                                          NULL};

static bool fj_is_name(const char *s, size_t len)
{
    if (len == 0 || len > 64)
        return false;
    for (size_t i = 0; i < len; i++) {
        char ch = s[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '_' || ch == '-'))
            return false;
    }
    return true;
}

/* "$LATEST" or 1..1024 digits (the API's Version pattern). */
static bool fj_is_version(const char *s)
{
    size_t n = strlen(s);
    return strcmp(s, "$LATEST") == 0 || (n > 0 && n <= 1024 && strspn(s, "0123456789") == n);
}

/*
 * A function ARN: arn:PARTITION:lambda:REGION:ACCOUNT(12 digits):function:
 * NAME[:QUALIFIER]. Returns true and NAME's offset/length (QUALIFIER: the
 * rest after NAME's ':' or NULL).
 */
static bool fj_function_arn(const char *arn, size_t *name_at, size_t *name_len,
                            const char **qualifier)
{
    const char *f[9] = {NULL};
    size_t n = 0;
    f[n++] = arn;
    for (const char *p = strchr(arn, ':'); p != NULL && n < 9; p = strchr(p + 1, ':'))
        f[n++] = p + 1;
    if (n < 7 || n > 8 || strncmp(arn, "arn:aws", 7) != 0 || strncmp(f[2], "lambda:", 7) != 0 ||
        f[3][0] == ':' || f[5] - f[4] != 13 || strspn(f[4], "0123456789") != 12 ||
        strncmp(f[5], "function:", 9) != 0)
        return false;
    size_t len = n == 8 ? (size_t)(f[7] - f[6] - 1) : strlen(f[6]);
    if (!fj_is_name(f[6], len))
        return false;
    if (n == 8 && !fj_is_name(f[7], strlen(f[7])) && strcmp(f[7], "$LATEST") != 0)
        return false;
    *name_at = (size_t)(f[6] - arn);
    *name_len = len;
    *qualifier = n == 8 ? f[7] : NULL;
    return true;
}

/* FunctionName: a name, or a function ARN (then the name is taken from it). */
static int fj_function_name(fj_ctx *c)
{
    function_desc *d = c->desc;
    const char *name = d->function_name;
    if (fj_is_name(name, strlen(name)))
        return 0;
    size_t at = 0, len = 0;
    const char *qualifier = NULL;
    if (!fj_function_arn(name, &at, &len, &qualifier))
        return fj_fail(c, "FunctionName",
                       "expected 1 to 64 of [A-Za-z0-9_-] or a function ARN "
                       "(arn:aws:lambda:REGION:ACCOUNT:function:NAME), got \"%.200s\"",
                       name);
    char *plain = strndup(name + at, len);
    if (plain == NULL)
        return fj_fail(c, "FunctionName", "out of memory");
    if (d->function_arn == NULL)
        d->function_arn = d->function_name; /* the ARN moves */
    else
        free(d->function_name);
    d->function_name = plain;
    return 0;
}

static int fj_runtime(fj_ctx *c)
{
    const char *runtime = c->desc->runtime;
    if (runtime == NULL || fj_in(runtime, fj_runtimes))
        return 0;
    return fj_fail(c, "Runtime",
                   "\"%.64s\" is not an AWS Lambda runtime (e.g. python3.13, nodejs22.x, java21, "
                   "provided.al2023)",
                   runtime);
}

/* The qualifier of FunctionArn: after the 7th ':' (NULL when absent). */
static const char *fj_arn_qualifier(const char *arn)
{
    const char *p = arn;
    for (int i = 0; i < 7 && p != NULL; i++) {
        p = strchr(p, ':');
        if (p != NULL)
            p++;
    }
    return p;
}

/* Honour Version: qualify FunctionArn (or build one) unless it is $LATEST. */
static int fj_qualify(fj_ctx *c)
{
    function_desc *d = c->desc;
    if (d->version == NULL)
        return 0;
    if (!fj_is_version(d->version))
        return fj_fail(c, "Version", "expected \"$LATEST\" or a version number, got \"%.64s\"",
                       d->version);
    const char *q = d->function_arn != NULL ? fj_arn_qualifier(d->function_arn) : NULL;
    if (q != NULL && strcmp(q, d->version) != 0)
        return fj_fail(c, "FunctionArn", "qualifier \"%.64s\" contradicts Version \"%.64s\"", q,
                       d->version);
    if (q != NULL || strcmp(d->version, "$LATEST") == 0)
        return 0;
    char *arn = NULL;
    int n = d->function_arn != NULL ? asprintf(&arn, "%s:%s", d->function_arn, d->version)
                                    : asprintf(&arn, "arn:aws:lambda:%s:%s:function:%s:%s",
                                               c->region != NULL ? c->region : "us-east-1",
                                               d->account, d->function_name, d->version);
    if (n < 0)
        return fj_fail(c, "Version", "out of memory");
    free(d->function_arn);
    d->function_arn = arn;
    return 0;
}

static void fj_view(function_desc *d)
{
    fcb_function *fn = &d->fn;
    fn->size = sizeof *fn;
    fn->function_name = d->function_name;
    fn->function_arn = d->function_arn;
    fn->runtime = d->runtime;
    fn->handler = d->handler;
    fn->image_uri = d->image_uri;
    fn->architecture = d->architecture;
    fn->environment = d->environment;
    fn->n_environment = d->n_environment;
    fn->image_entry_point = (const char *const *)d->image_entry_point;
    fn->n_image_entry_point = d->n_image_entry_point;
    fn->image_command = (const char *const *)d->image_command;
    fn->n_image_command = d->n_image_command;
    fn->image_working_directory = d->image_working_directory;
}

int function_json_parse(const char *text, size_t len, function_desc **out, char *why,
                        size_t why_size)
{
    return function_json_parse_region(text, len, NULL, out, why, why_size);
}

/* After the fields are read: validation like AWS, account, Version. */
static int fj_finish(fj_ctx *c)
{
    function_desc *d = c->desc;
    if (d->function_name == NULL || d->function_name[0] == '\0')
        return fj_fail(c, "FunctionName", "required (a non-empty string)");
    if (fj_function_name(c) != 0 || fj_runtime(c) != 0 || fj_account(c) != 0 || fj_qualify(c) != 0)
        return -1;
    fj_view(d);
    return 0;
}

int function_json_parse_region(const char *text, size_t len, const char *region,
                               function_desc **out, char *why, size_t why_size)
{
    *out = NULL;
    int rc = -1;
    json_object *root = NULL;
    function_desc *d = calloc(1, sizeof *d);
    fj_ctx c = {d, why, why_size, region};
    json_tokener *tok = json_tokener_new_ex(FJ_DEPTH_MAX);
    if (d == NULL || tok == NULL) {
        fj_fail(&c, NULL, "out of memory");
        goto out;
    }
    if (len > (size_t)1 << 30) {
        fj_fail(&c, NULL, "document larger than 1 GiB");
        goto out;
    }
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
    root = json_tokener_parse_ex(tok, text, (int)len);
    enum json_tokener_error jerr = json_tokener_get_error(tok);
    if (root == NULL) {
        if (jerr == json_tokener_continue || jerr == json_tokener_success)
            fj_fail(&c, NULL, "invalid JSON: unexpected end of input");
        else
            fj_fail(&c, NULL, "invalid JSON at byte %zu: %s", json_tokener_get_parse_end(tok),
                    json_tokener_error_desc(jerr));
        goto out;
    }
    for (size_t i = json_tokener_get_parse_end(tok); i < len; i++) {
        if (text[i] != ' ' && text[i] != '\n' && text[i] != '\r' && text[i] != '\t') {
            fj_fail(&c, NULL, "invalid JSON: unexpected data after the document at byte %zu", i);
            goto out;
        }
    }
    if (!json_object_is_type(root, json_type_object)) {
        fj_fail(&c, NULL, "expected a JSON object (GetFunctionConfiguration output), got %s",
                fj_type(root));
        goto out;
    }
    if (fj_check_utf8(&c, "", root, 0) != 0)
        goto out;
    json_object *config = NULL;
    if (json_object_object_get_ex(root, "Configuration", &config)) {
        /* `aws lambda get-function`: {"Configuration": {...}, "Code": {...}, ...} */
        json_object_object_foreach(root, key, val)
        {
            int r = 0;
            if (strcmp(key, "Configuration") == 0)
                r = fj_configuration(&c, "Configuration", val, false);
            else if (strcmp(key, "Code") == 0)
                r = fj_code(&c, "Code", val);
            else if (strcmp(key, "Tags") == 0)
                r = fj_tags(&c, "Tags", val);
            else if (strcmp(key, "TagsError") != 0 && strcmp(key, "Concurrency") != 0 &&
                     strcmp(key, "ResponseMetadata") != 0)
                r = fj_unknown(&c, NULL, key);
            if (r != 0)
                goto out;
        }
    } else if (fj_configuration(&c, NULL, root, false) != 0) {
        goto out;
    }
    if (fj_finish(&c) != 0)
        goto out;
    *out = d;
    d = NULL;
    rc = 0;
out:
    if (tok != NULL)
        json_tokener_free(tok);
    json_object_put(root);
    function_desc_free(d);
    return rc;
}

int function_desc_set_image_uri(function_desc *desc, const char *uri)
{
    char *copy = strdup(uri);
    if (copy == NULL)
        return -1;
    free(desc->image_uri);
    desc->image_uri = copy;
    desc->fn.image_uri = copy;
    return 0;
}

int function_desc_check(const function_desc *desc, char *why, size_t why_size)
{
    const fcb_function *fn = &desc->fn;
    if (fn->package_type == FCB_PACKAGE_ZIP) {
        if (fn->runtime == NULL || fn->runtime[0] == '\0') {
            snprintf(why, why_size, "Runtime: required for PackageType Zip");
            return -1;
        }
        if (fn->handler == NULL || fn->handler[0] == '\0') {
            snprintf(why, why_size, "Handler: required for PackageType Zip");
            return -1;
        }
    } else if (fn->image_uri == NULL || fn->image_uri[0] == '\0') {
        snprintf(why, why_size,
                 "ImageUri: required for PackageType Image (set ImageUri or Code.ImageUri, or "
                 "pass --image)");
        return -1;
    }
    return 0;
}

static void fj_free_strings(char **arr, size_t n)
{
    for (size_t i = 0; arr != NULL && i < n; i++)
        free(arr[i]);
    free(arr);
}

void function_desc_free(function_desc *desc)
{
    if (desc == NULL)
        return;
    free(desc->function_name);
    free(desc->function_arn);
    free(desc->runtime);
    free(desc->handler);
    free(desc->image_uri);
    free(desc->architecture);
    free(desc->image_working_directory);
    for (size_t i = 0; i < desc->n_environment; i++) {
        free((char *)desc->environment[i].name);
        free((char *)desc->environment[i].value);
    }
    free(desc->environment);
    for (size_t i = 0; i < desc->n_tags; i++) {
        free((char *)desc->tags[i].key);
        free((char *)desc->tags[i].value);
    }
    free(desc->tags);
    fj_free_strings(desc->image_entry_point, desc->n_image_entry_point);
    fj_free_strings(desc->image_command, desc->n_image_command);
    for (size_t i = 0; i < desc->n_layers; i++)
        free(desc->layers[i].arn);
    free(desc->layers);
    free(desc->version);
    fj_free_strings(desc->warnings, desc->n_warnings);
    free(desc);
}
