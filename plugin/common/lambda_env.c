/*
 * lambda_env: validate the input once, then append each variable in a fixed
 * order (the order tests and Pod specs see).
 */
#include "lambda_env.h"

#include "svc.h"

#include <stdio.h>
#include <string.h>

static bool present(const char *s)
{
    return s != NULL && s[0] != '\0';
}

/* Values must be printable text: no control characters (a newline would break env files). */
static int check_value(const char *field, const char *v, fcb_error *err)
{
    if (!present(v))
        return FCB_OK;
    size_t n = strnlen(v, LAMBDA_ENV_VALUE_MAX + 1);
    if (n > LAMBDA_ENV_VALUE_MAX)
        return err_set(err, FCB_ERR_INVALID_ARGUMENT,
                       "lambda environment: %s is longer than %d bytes", field,
                       LAMBDA_ENV_VALUE_MAX);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)v[i] < 0x20 || v[i] == 0x7f)
            return err_set(err, FCB_ERR_INVALID_ARGUMENT,
                           "lambda environment: %s has a control character at byte %zu", field, i);
    return FCB_OK;
}

static int check_required(const lambda_env_input *in, fcb_error *err)
{
    if (!present(in->function_name))
        return err_set(err, FCB_ERR_INVALID_ARGUMENT,
                       "lambda environment: function_name is missing");
    if (!present(in->region))
        return err_set(err, FCB_ERR_INVALID_ARGUMENT, "lambda environment: region is missing");
    if (in->memory_mb < 128 || in->memory_mb > 10240)
        return err_set(err, FCB_ERR_INVALID_ARGUMENT,
                       "lambda environment: memory_mb %u is outside 128..10240", in->memory_mb);
    if (in->now_unix_s < 0)
        return err_set(err, FCB_ERR_INVALID_ARGUMENT,
                       "lambda environment: now_unix_s %lld is before 1970",
                       (long long)in->now_unix_s);
    const char *id = in->instance_id;
    size_t n = id != NULL ? strspn(id, "0123456789abcdefABCDEF") : 0;
    if (id == NULL || n != LAMBDA_ENV_INSTANCE_HEX || id[n] != '\0')
        return err_set(err, FCB_ERR_INVALID_ARGUMENT,
                       "lambda environment: instance_id must be %d hex digits",
                       LAMBDA_ENV_INSTANCE_HEX);
    if (present(in->access_key_id) != present(in->secret_access_key))
        return err_set(err, FCB_ERR_INVALID_ARGUMENT,
                       "lambda environment: credentials need both access_key_id and "
                       "secret_access_key (got only %s)",
                       present(in->access_key_id) ? "access_key_id" : "secret_access_key");
    if (present(in->session_token) && !present(in->access_key_id))
        return err_set(err, FCB_ERR_INVALID_ARGUMENT,
                       "lambda environment: session_token given without access_key_id and "
                       "secret_access_key");
    return FCB_OK;
}

static int check_input(const lambda_env_input *in, fcb_error *err)
{
    int rc = check_required(in, err);
    const struct {
        const char *field, *value;
    } texts[] = {
        {"function_name", in->function_name},
        {"version", in->version},
        {"runtime", in->runtime},
        {"handler", in->handler},
        {"region", in->region},
        {"endpoint_url", in->endpoint_url},
        {"trace_header", in->trace_header},
        {"xray_daemon_address", in->xray_daemon_address},
        {"access_key_id", in->access_key_id},
        {"secret_access_key", in->secret_access_key},
        {"session_token", in->session_token},
    };
    for (size_t i = 0; rc == FCB_OK && i < sizeof texts / sizeof texts[0]; i++)
        rc = check_value(texts[i].field, texts[i].value, err);
    return rc;
}

/* Proleptic Gregorian date of a day count since 1970-01-01 (H. Hinnant's civil_from_days). */
static void civil_from_days(int64_t z, int *y, unsigned *m, unsigned *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int)(yoe + era * 400 + (*m <= 2));
}

typedef struct builder {
    const fcb_host_services *host;
    lambda_env *env;
    bool failed;
} builder;

static void add(builder *b, const char *name, bool secret, bool reserved, const char *fmt, ...)
    SVC_PRINTF(5, 6);

static void add(builder *b, const char *name, bool secret, bool reserved, const char *fmt, ...)
{
    if (b->failed || b->env->n == LAMBDA_ENV_MAX) {
        b->failed = true;
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    char *value = svc_vsprintf(b->host, fmt, ap);
    va_end(ap);
    if (value == NULL) {
        b->failed = true;
        return;
    }
    b->env->vars[b->env->n++] = (lambda_env_var){name, value, secret, reserved};
}

static bool is_os_only(const char *runtime)
{
    return present(runtime) && strncmp(runtime, "provided", 8) == 0;
}

static void add_identity(builder *b, const lambda_env_input *in, const char *version)
{
    int y;
    unsigned m, d;
    civil_from_days(in->now_unix_s / 86400, &y, &m, &d);
    char id[LAMBDA_ENV_INSTANCE_HEX + 1];
    for (size_t i = 0; i < LAMBDA_ENV_INSTANCE_HEX; i++) {
        char c = in->instance_id[i];
        id[i] = (char)(c >= 'A' && c <= 'F' ? c - 'A' + 'a' : c);
    }
    id[LAMBDA_ENV_INSTANCE_HEX] = '\0';
    if (present(in->handler))
        add(b, "_HANDLER", false, true, "%s", in->handler);
    add(b, "AWS_REGION", false, !in->region_overridable, "%s", in->region);
    add(b, "AWS_DEFAULT_REGION", false, !in->region_overridable, "%s", in->region);
    if (present(in->runtime) && !is_os_only(in->runtime))
        add(b, "AWS_EXECUTION_ENV", false, true, "AWS_Lambda_%s", in->runtime);
    add(b, "AWS_LAMBDA_FUNCTION_NAME", false, true, "%s", in->function_name);
    add(b, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", false, true, "%u", in->memory_mb);
    add(b, "AWS_LAMBDA_FUNCTION_VERSION", false, true, "%s", version);
    if (in->timeout_s > 0)
        add(b, "AWS_LAMBDA_FUNCTION_TIMEOUT", false, true, "%u", in->timeout_s);
    add(b, "AWS_LAMBDA_INITIALIZATION_TYPE", false, true, "on-demand");
    add(b, "AWS_LAMBDA_LOG_GROUP_NAME", false, true, "/aws/lambda/%s", in->function_name);
    add(b, "AWS_LAMBDA_LOG_STREAM_NAME", false, true, "%04d/%02u/%02u/[%s]%s", y, m, d, version,
        id);
}

static void add_platform(builder *b, const lambda_env_input *in)
{
    add(b, "LAMBDA_TASK_ROOT", false, true, "/var/task");
    add(b, "LAMBDA_RUNTIME_DIR", false, true, "/var/runtime");
    /* TZ and the X-Ray variables are on AWS's unreserved list: defaults a function may set. */
    add(b, "TZ", false, false, ":UTC");
    add(b, "AWS_XRAY_CONTEXT_MISSING", false, false, "LOG_ERROR");
    if (present(in->xray_daemon_address))
        add(b, "AWS_XRAY_DAEMON_ADDRESS", false, false, "%s", in->xray_daemon_address);
    if (present(in->trace_header) && !is_os_only(in->runtime))
        add(b, "_X_AMZN_TRACE_ID", false, true, "%s", in->trace_header);
    if (present(in->endpoint_url))
        add(b, "AWS_ENDPOINT_URL", false, true, "%s", in->endpoint_url);
    if (present(in->access_key_id)) {
        add(b, "AWS_ACCESS_KEY_ID", true, true, "%s", in->access_key_id);
        add(b, "AWS_SECRET_ACCESS_KEY", true, true, "%s", in->secret_access_key);
        if (present(in->session_token))
            add(b, "AWS_SESSION_TOKEN", true, true, "%s", in->session_token);
    }
}

int lambda_env_build(const fcb_host_services *host, const lambda_env_input *in, lambda_env *out,
                     fcb_error *err)
{
    memset(out, 0, sizeof *out);
    if (in == NULL)
        return err_set(err, FCB_ERR_INVALID_ARGUMENT, "lambda environment: no input");
    int rc = check_input(in, err);
    if (rc != FCB_OK)
        return rc;
    builder b = {host, out, false};
    add_identity(&b, in, present(in->version) ? in->version : "$LATEST");
    add_platform(&b, in);
    if (b.failed) {
        lambda_env_free(host, out);
        return err_set(err, FCB_ERR_NO_MEMORY, "lambda environment: out of memory");
    }
    return FCB_OK;
}

const char *lambda_env_get(const lambda_env *env, const char *name)
{
    for (size_t i = 0; env != NULL && name != NULL && i < env->n; i++)
        if (strcmp(env->vars[i].name, name) == 0)
            return env->vars[i].value;
    return NULL;
}

void lambda_env_free(const fcb_host_services *host, lambda_env *env)
{
    if (env == NULL)
        return;
    for (size_t i = 0; i < env->n; i++)
        svc_free(host, env->vars[i].value);
    memset(env, 0, sizeof *env);
}
