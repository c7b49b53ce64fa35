/*
 * lambda_env: the reserved environment a Lambda runtime and the runtime
 * interface emulator (RIE) read, computed from the function and the facts of
 * one launch. What AWS documents as "Defined runtime environment variables":
 *
 *   _HANDLER                        the handler (when the function has one)
 *   AWS_REGION, AWS_DEFAULT_REGION  the region
 *   AWS_EXECUTION_ENV               AWS_Lambda_<runtime>; not for OS-only
 *                                   runtimes (provided*) nor image functions
 *   AWS_LAMBDA_FUNCTION_NAME|MEMORY_SIZE|VERSION, AWS_LAMBDA_FUNCTION_TIMEOUT
 *                                   (the RIE reads the timeout)
 *   AWS_LAMBDA_INITIALIZATION_TYPE  on-demand
 *   AWS_LAMBDA_LOG_GROUP_NAME       /aws/lambda/<function>
 *   AWS_LAMBDA_LOG_STREAM_NAME      YYYY/MM/DD/[<version>]<32 hex> (UTC date)
 *   LAMBDA_TASK_ROOT=/var/task, LAMBDA_RUNTIME_DIR=/var/runtime, TZ=:UTC
 *   AWS_XRAY_CONTEXT_MISSING=LOG_ERROR; AWS_XRAY_DAEMON_ADDRESS when given
 *   _X_AMZN_TRACE_ID                only when a trace header is given, and
 *                                   never for provided* runtimes
 *   AWS_ENDPOINT_URL                when the host gives one
 *   AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN
 *                                   when credentials are given (secret)
 *
 * AWS_LAMBDA_RUNTIME_API is not set: the RIE (or Lambda) sets it for the
 * runtime it starts. Output is a list of (name, value, secret, reserved):
 * `secret` values belong in a Secret / never in a Pod spec or a log;
 * `reserved` entries override the function's own variable of the same name
 * (all but the region when the caller says the function may choose it).
 *
 * Pure apart from the host allocator; no clock read (now is an input).
 * Thread safety: none needed (no shared state).
 */
#ifndef FCB_PLUGIN_LAMBDA_ENV_H
#define FCB_PLUGIN_LAMBDA_ENV_H

#include <fakecloud/backend_plugin.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LAMBDA_ENV_MAX          32
#define LAMBDA_ENV_INSTANCE_HEX 32   /* the log stream id: 32 lower-case hex digits */
#define LAMBDA_ENV_VALUE_MAX    8192 /* a session token is ~1-2 KiB; anything larger is refused */

/* Facts of one launch. Strings are borrowed; NULL or "" = absent. */
typedef struct lambda_env_input {
    const char *function_name; /* required */
    const char *version;       /* "$LATEST" when absent */
    const char *runtime;       /* "python3.12", "provided.al2023"; absent for image functions */
    const char *handler;       /* absent: no _HANDLER */
    unsigned memory_mb;        /* required, 128..10240 */
    unsigned timeout_s;        /* 0: AWS_LAMBDA_FUNCTION_TIMEOUT not set */
    const char *region;        /* required */
    bool region_overridable;   /* the function's own AWS_REGION wins (region not from its ARN) */
    const char *instance_id;   /* required: 32 hex digits (upper case is lowered) */
    int64_t now_unix_s;        /* launch time (UTC), for the log stream's date */
    const char *endpoint_url;  /* AWS_ENDPOINT_URL */
    const char *trace_header;  /* _X_AMZN_TRACE_ID */
    const char *xray_daemon_address;
    const char *access_key_id; /* credentials: key id and secret both or neither */
    const char *secret_access_key;
    const char *session_token; /* only with the two above */
} lambda_env_input;

typedef struct lambda_env_var {
    const char *name; /* static string */
    char *value;      /* host-allocated, owned by the lambda_env */
    bool secret;
    bool reserved;
} lambda_env_var;

typedef struct lambda_env {
    lambda_env_var vars[LAMBDA_ENV_MAX];
    size_t n;
} lambda_env;

/*
 * Fill *out (caller-owned struct, values on the host allocator). Returns
 * FCB_OK; FCB_ERR_INVALID_ARGUMENT naming the field (missing function name,
 * region or instance id, memory out of range, a value with a control
 * character or over LAMBDA_ENV_VALUE_MAX, half a credential pair, a session
 * token without keys, an instance id that is not 32 hex digits, a date before
 * 1970); FCB_ERR_NO_MEMORY. On error *out is empty (nothing to free).
 * Free with lambda_env_free.
 */
int lambda_env_build(const fcb_host_services *host, const lambda_env_input *in, lambda_env *out,
                     fcb_error *err);

/* The value of `name`, or NULL. */
const char *lambda_env_get(const lambda_env *env, const char *name);

/* Free every value; *env becomes empty. NULL-safe, idempotent. */
void lambda_env_free(const fcb_host_services *host, lambda_env *env);

#endif
