/*
 * runtime: what both backends derive from a Lambda function description.
 *
 * - the runtime image for a Zip function's runtime id
 *   (public.ecr.aws/lambda/<lang>:<tag>);
 * - translation of AWS private-ECR image URIs to the local ECR host:port;
 * - rewriting of http(s)://localhost: / 127.0.0.1: URLs in environment values
 *   to the host name the runtime can reach the emulator at.
 * Pure functions, thread-safe.
 */
#ifndef FCB_RUNTIME_H
#define FCB_RUNTIME_H

#include <fakecloud/backend_plugin.h>

#include <stdbool.h>
#include <stddef.h>

#define RUNTIME_IMAGE_MAX 512

/*
 * Image for RUNTIME (e.g. "python3.12" -> "public.ecr.aws/lambda/python:3.12",
 * "nodejs20.x" -> "public.ecr.aws/lambda/nodejs:20", "java21" ->
 * ".../java:21", "dotnet8" -> ".../dotnet:8", "ruby3.3" -> ".../ruby:3.3",
 * "go1.x" -> ".../go:1", "provided.al2023" -> ".../provided:al2023").
 * Returns FCB_OK, or FCB_ERR_UNSUPPORTED with err "unsupported runtime: X".
 */
int runtime_image(const char *runtime, char out[RUNTIME_IMAGE_MAX], fcb_error *err);

/* True for provided.al2 / provided.al2023 (code goes to /var/runtime too). */
bool runtime_is_provided(const char *runtime);

/*
 * If IMAGE is "<acct>.dkr.ecr.<region>.amazonaws.com/<repo>[:tag|@digest]",
 * write "<ecr_host>:<ecr_port>/<repo>[:tag|@digest]" to out and return true;
 * otherwise copy IMAGE unchanged and return false. Output is cut to
 * RUNTIME_IMAGE_MAX - 1 bytes (callers validate length first).
 */
bool runtime_translate_ecr(const char *image, const char *ecr_host, unsigned ecr_port,
                           char out[RUNTIME_IMAGE_MAX]);

/*
 * Rewrite the host of every "http://" or "https://" URL in VALUE whose host
 * is "localhost" or "127.0.0.1" followed by a port ("http://localhost:4566/x")
 * to NEW_HOST, like the reference backend. A URL counts only where one can
 * start: at the start of VALUE or after whitespace, ',', ';', a quote or an
 * opening bracket. Bare names ("localhost", NO_PROXY lists, "localhost:6379"),
 * prose, URLs without a port, and URLs inside another URL's path or query
 * stay as written. Returns a new string from the host allocator (caller
 * frees with svc_free), or NULL on allocation failure. Values without such
 * a URL are copied unchanged; an empty NEW_HOST copies VALUE.
 */
char *runtime_rewrite_localhost(const fcb_host_services *host, const char *value,
                                const char *new_host);

/* Image for a function: runtime map for Zip, translated ImageUri for Image. */
int runtime_function_image(const fcb_function *fn, const char *ecr_host, unsigned ecr_port,
                           char out[RUNTIME_IMAGE_MAX], fcb_error *err);

/* ------------------------------------------------ the function's environment */

#define RUNTIME_DEFAULT_REGION   "us-east-1"
#define RUNTIME_REGION_MAX       32
#define RUNTIME_PLATFORM_ENV_MAX 6

/*
 * Region of a function ARN ("arn:<partition>:lambda:<region>:..."), a
 * [a-z0-9-]{1,31} field, into out; false (and out "") when there is none.
 */
bool runtime_region_from_arn(const char *arn, char out[RUNTIME_REGION_MAX]);

/*
 * AWS_LAMBDA_FUNCTION_VERSION for FN: the qualifier of a qualified
 * function_arn ("arn:aws:lambda:<region>:<acct>:function:<name>:<qualifier>")
 * when it is a published version (digits only, at most 20); otherwise
 * (unqualified ARN, alias, "$LATEST", no ARN) "$LATEST". The result points
 * into fn->function_arn or to a static string: valid as long as FN is.
 */
const char *runtime_function_version(const fcb_function *fn);

/* One variable the platform sets in every function's environment. */
typedef struct runtime_env_entry {
    const char *name;
    const char *value; /* borrowed: from the function or the struct's own buffers */
    bool reserved;     /* the function's own value for NAME is ignored */
} runtime_env_entry;

/*
 * The platform's variables for one launch, the same in every backend:
 *   AWS_LAMBDA_FUNCTION_NAME, _MEMORY_SIZE, _TIMEOUT, _VERSION: reserved
 *   (a function's value never overrides them);
 *   AWS_REGION, AWS_DEFAULT_REGION: reserved when the region comes from
 *   function_arn; without one the function's value is used, else
 *   RUNTIME_DEFAULT_REGION.
 * Filled by runtime_platform_env_init; the entries point into it and into
 * FN, so it must stay in place (no copies) and FN must outlive it.
 */
typedef struct runtime_platform_env {
    runtime_env_entry vars[RUNTIME_PLATFORM_ENV_MAX];
    size_t n;
    char memory[24];
    char timeout[24];
    char region[RUNTIME_REGION_MAX];
} runtime_platform_env;

/* MEMORY_MB and TIMEOUT_SECONDS are the values the backend applies. */
void runtime_platform_env_init(runtime_platform_env *env, const fcb_function *fn,
                               unsigned memory_mb, unsigned timeout_seconds);

/*
 * True when the function's variable NAME must be dropped because the
 * platform reserves it; then logs a warning naming the variable (through
 * HOST's logger, as PLUGIN). False for every other name.
 */
bool runtime_env_drop_reserved(const fcb_host_services *host, const char *plugin,
                               const runtime_platform_env *env, const char *name);

/*
 * True when the backend adds entry I of ENV: reserved entries always, the
 * others only when FN does not set the variable itself.
 */
bool runtime_platform_env_applies(const runtime_platform_env *env, size_t i,
                                  const fcb_function *fn);

#endif
