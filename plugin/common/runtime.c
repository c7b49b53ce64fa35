/*
 * runtime: runtime image table, ECR URI translation and localhost rewriting.
 *
 * The runtime table is explicit (no pattern matching on version numbers) so
 * that a runtime AWS does not offer is refused instead of being mapped to an
 * image tag that does not exist.
 */
#include "runtime.h"

#include "svc.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#define RUNTIME_IMAGE_REGISTRY "public.ecr.aws/lambda/"

typedef struct runtime_entry {
    const char *id;   /* Lambda runtime identifier */
    const char *lang; /* repository under public.ecr.aws/lambda/ */
    const char *tag;
} runtime_entry;

static const runtime_entry runtime_table[] = {
    {"python3.8", "python", "3.8"},
    {"python3.9", "python", "3.9"},
    {"python3.10", "python", "3.10"},
    {"python3.11", "python", "3.11"},
    {"python3.12", "python", "3.12"},
    {"python3.13", "python", "3.13"},
    {"python3.14", "python", "3.14"},
    {"nodejs16.x", "nodejs", "16"},
    {"nodejs18.x", "nodejs", "18"},
    {"nodejs20.x", "nodejs", "20"},
    {"nodejs22.x", "nodejs", "22"},
    {"nodejs24.x", "nodejs", "24"},
    {"ruby3.3", "ruby", "3.3"},
    {"ruby3.4", "ruby", "3.4"},
    {"java11", "java", "11"},
    {"java17", "java", "17"},
    {"java21", "java", "21"},
    {"java25", "java", "25"},
    {"dotnet8", "dotnet", "8"},
    {"dotnet10", "dotnet", "10"},
    {"go1.x", "go", "1"},
    {"provided.al2", "provided", "al2"},
    {"provided.al2023", "provided", "al2023"},
};

int runtime_image(const char *runtime, char out[RUNTIME_IMAGE_MAX], fcb_error *err)
{
    out[0] = '\0';
    if (runtime == NULL || runtime[0] == '\0')
        return err_set(err, FCB_ERR_INVALID_ARGUMENT, "Runtime is required for Zip functions");
    for (size_t i = 0; i < sizeof(runtime_table) / sizeof(runtime_table[0]); i++) {
        if (strcmp(runtime_table[i].id, runtime) == 0) {
            snprintf(out, RUNTIME_IMAGE_MAX, RUNTIME_IMAGE_REGISTRY "%s:%s", runtime_table[i].lang,
                     runtime_table[i].tag);
            return FCB_OK;
        }
    }
    return err_set(err, FCB_ERR_UNSUPPORTED, "unsupported runtime: %.200s", runtime);
}

bool runtime_is_provided(const char *runtime)
{
    return runtime != NULL &&
           (strcmp(runtime, "provided.al2") == 0 || strcmp(runtime, "provided.al2023") == 0);
}

static bool runtime_is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool runtime_is_region_char(char c)
{
    return (c >= 'a' && c <= 'z') || runtime_is_digit(c) || c == '-';
}

/*
 * Length of the registry host of an AWS private ECR image
 * ("<12 digits>.dkr.ecr.<region>.amazonaws.com[.cn]"), 0 when IMAGE does not
 * start with one followed by '/'.
 */
static size_t runtime_ecr_host_len(const char *image)
{
    static const char *const suffixes[] = {".amazonaws.com.cn/", ".amazonaws.com/"};
    size_t i = 0;

    for (; i < 12; i++) {
        if (!runtime_is_digit(image[i]))
            return 0;
    }
    if (strncmp(image + i, ".dkr.ecr.", 9) != 0)
        return 0;
    i += 9;
    size_t region_start = i;
    while (runtime_is_region_char(image[i]))
        i++;
    if (i == region_start)
        return 0;
    for (size_t s = 0; s < sizeof(suffixes) / sizeof(suffixes[0]); s++) {
        size_t n = strlen(suffixes[s]);
        if (strncmp(image + i, suffixes[s], n) == 0)
            return i + n - 1;
    }
    return 0;
}

bool runtime_translate_ecr(const char *image, const char *ecr_host, unsigned ecr_port,
                           char out[RUNTIME_IMAGE_MAX])
{
    size_t host_len = image != NULL ? runtime_ecr_host_len(image) : 0;

    if (host_len == 0 || ecr_host == NULL || ecr_host[0] == '\0' || image[host_len + 1] == '\0') {
        snprintf(out, RUNTIME_IMAGE_MAX, "%s", image != NULL ? image : "");
        return false;
    }
    if (ecr_port != 0)
        snprintf(out, RUNTIME_IMAGE_MAX, "%s:%u%s", ecr_host, ecr_port, image + host_len);
    else
        snprintf(out, RUNTIME_IMAGE_MAX, "%s%s", ecr_host, image + host_len);
    return true;
}

/*
 * A byte after which a URL may start in a value: the value's start is
 * handled by the caller; these are list separators, quotes and brackets.
 * Not '=', '/', '?', '&', '%' or letters, so a URL inside another URL's path
 * or query (or glued to a word) is left as written.
 */
static bool runtime_is_url_boundary(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == ',' || c == ';' || c == '"' ||
           c == '\'' || c == '(' || c == '[' || c == '{' || c == '<' || c == '|';
}

/*
 * At value[i], "http://" or "https://" then "localhost" or "127.0.0.1" then
 * ':' (a port): set *host_start and *host_len to where the host lies and
 * return true. ASCII case-insensitive (schemes and host names are).
 */
static bool runtime_loopback_url_at(const char *value, size_t i, size_t *host_start,
                                    size_t *host_len)
{
    static const char *const schemes[] = {"http://", "https://"};
    static const char *const hosts[] = {"localhost", "127.0.0.1"};

    if (i > 0 && !runtime_is_url_boundary(value[i - 1]))
        return false;
    for (size_t s = 0; s < sizeof(schemes) / sizeof(schemes[0]); s++) {
        size_t sn = strlen(schemes[s]);
        if (strncasecmp(value + i, schemes[s], sn) != 0)
            continue;
        for (size_t h = 0; h < sizeof(hosts) / sizeof(hosts[0]); h++) {
            size_t hn = strlen(hosts[h]);
            if (strncasecmp(value + i + sn, hosts[h], hn) == 0 && value[i + sn + hn] == ':') {
                *host_start = i + sn;
                *host_len = hn;
                return true;
            }
        }
    }
    return false;
}

char *runtime_rewrite_localhost(const fcb_host_services *host, const char *value,
                                const char *new_host)
{
    sbuf b;
    size_t i = 0;

    if (value == NULL)
        value = "";
    if (new_host == NULL || new_host[0] == '\0')
        return svc_strdup(host, value);
    sbuf_init(&b, host, 0);
    size_t run = 0; /* start of the bytes not yet copied */
    while (value[i] != '\0') {
        size_t at = 0, n = 0;
        if (runtime_loopback_url_at(value, i, &at, &n)) {
            sbuf_append(&b, value + run, at - run);
            sbuf_puts(&b, new_host);
            i = at + n;
            run = i;
        } else {
            i++;
        }
    }
    sbuf_append(&b, value + run, i - run);
    if (sbuf_failed(&b)) {
        sbuf_free(&b);
        return NULL;
    }
    return sbuf_steal(&b, NULL);
}

int runtime_function_image(const fcb_function *fn, const char *ecr_host, unsigned ecr_port,
                           char out[RUNTIME_IMAGE_MAX], fcb_error *err)
{
    out[0] = '\0';
    if (fn == NULL)
        return err_set(err, FCB_ERR_INVALID_ARGUMENT, "function description is NULL");
    if (fn->package_type == FCB_PACKAGE_ZIP)
        return runtime_image(fn->runtime, out, err);
    if (fn->package_type != FCB_PACKAGE_IMAGE)
        return err_set(err, FCB_ERR_INVALID_ARGUMENT, "PackageType %d is not Zip or Image",
                       (int)fn->package_type);
    if (fn->image_uri == NULL || fn->image_uri[0] == '\0')
        return err_set(err, FCB_ERR_INVALID_ARGUMENT,
                       "ImageUri is required for functions of PackageType Image");
    if (strlen(fn->image_uri) >= RUNTIME_IMAGE_MAX - 16)
        return err_set(err, FCB_ERR_INVALID_ARGUMENT, "ImageUri is too long (%zu bytes, max %d)",
                       strlen(fn->image_uri), RUNTIME_IMAGE_MAX - 17);
    for (const char *p = fn->image_uri; *p != '\0'; p++) {
        unsigned char c = (unsigned char)*p;
        if (c <= ' ' || c >= 0x7f)
            return err_set(err, FCB_ERR_INVALID_ARGUMENT,
                           "ImageUri contains whitespace or a non-ASCII byte: %.200s",
                           fn->image_uri);
    }
    runtime_translate_ecr(fn->image_uri, ecr_host, ecr_port, out);
    if (strlen(out) >= RUNTIME_IMAGE_MAX - 1)
        return err_set(err, FCB_ERR_INVALID_ARGUMENT,
                       "ImageUri is too long after ECR translation: %.200s", fn->image_uri);
    return FCB_OK;
}

bool runtime_region_from_arn(const char *arn, char out[RUNTIME_REGION_MAX])
{
    out[0] = '\0';
    if (arn == NULL || strncmp(arn, "arn:", 4) != 0)
        return false;
    const char *p = arn;
    for (int i = 0; i < 3 && p != NULL; i++) {
        p = strchr(p, ':');
        if (p != NULL)
            p++;
    }
    if (p == NULL)
        return false;
    size_t n = 0;
    while (n < RUNTIME_REGION_MAX && runtime_is_region_char(p[n]))
        n++;
    if (n == 0 || n >= RUNTIME_REGION_MAX || p[n] != ':')
        return false;
    memcpy(out, p, n);
    out[n] = '\0';
    return true;
}

const char *runtime_function_version(const fcb_function *fn)
{
    static const char *const fields[] = {"arn", NULL, "lambda", NULL, NULL, "function", NULL};
    const char *arn = fn != NULL ? fn->function_arn : NULL;
    if (arn == NULL)
        return "$LATEST";
    const char *p = arn;
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        const char *colon = strchr(p, ':');
        if (colon == NULL)
            return "$LATEST";
        if (fields[i] != NULL &&
            ((size_t)(colon - p) != strlen(fields[i]) || strncmp(p, fields[i], colon - p) != 0))
            return "$LATEST";
        p = colon + 1;
    }
    size_t n = strspn(p, "0123456789");
    if (n == 0 || n > 20 || p[n] != '\0')
        return "$LATEST";
    return p;
}

void runtime_platform_env_init(runtime_platform_env *env, const fcb_function *fn,
                               unsigned memory_mb, unsigned timeout_seconds)
{
    memset(env, 0, sizeof *env);
    snprintf(env->memory, sizeof env->memory, "%u", memory_mb);
    snprintf(env->timeout, sizeof env->timeout, "%u", timeout_seconds);
    bool from_arn = runtime_region_from_arn(fn->function_arn, env->region);
    if (!from_arn)
        snprintf(env->region, sizeof env->region, "%s", RUNTIME_DEFAULT_REGION);
    const runtime_env_entry vars[RUNTIME_PLATFORM_ENV_MAX] = {
        {"AWS_LAMBDA_FUNCTION_NAME", fn->function_name, true},
        {"AWS_LAMBDA_FUNCTION_MEMORY_SIZE", env->memory, true},
        {"AWS_LAMBDA_FUNCTION_TIMEOUT", env->timeout, true},
        {"AWS_LAMBDA_FUNCTION_VERSION", runtime_function_version(fn), true},
        {"AWS_REGION", env->region, from_arn},
        {"AWS_DEFAULT_REGION", env->region, from_arn},
    };
    memcpy(env->vars, vars, sizeof vars);
    env->n = RUNTIME_PLATFORM_ENV_MAX;
}

bool runtime_env_drop_reserved(const fcb_host_services *host, const char *plugin,
                               const runtime_platform_env *env, const char *name)
{
    if (name == NULL)
        return false;
    for (size_t i = 0; i < env->n; i++) {
        if (env->vars[i].reserved && strcmp(env->vars[i].name, name) == 0) {
            svc_log(host, FCB_LOG_WARN, plugin,
                    "environment variable is reserved by the platform; the function's value "
                    "is ignored",
                    "variable", name, "value", env->vars[i].value, NULL);
            return true;
        }
    }
    return false;
}

bool runtime_platform_env_applies(const runtime_platform_env *env, size_t i, const fcb_function *fn)
{
    if (i >= env->n)
        return false;
    if (env->vars[i].reserved)
        return true;
    for (size_t j = 0; j < fn->n_environment && fn->environment != NULL; j++) {
        const char *name = fn->environment[j].name;
        if (name != NULL && strcmp(name, env->vars[i].name) == 0)
            return false;
    }
    return true;
}
